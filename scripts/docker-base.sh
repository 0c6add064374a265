#!/bin/bash
# Base images for the docker path, built from Debian's packages with
# debootstrap and `docker import`, for machines that reach Debian's mirror
# but no image registry (as this project's machines do).
#   scripts/docker-base.sh          build both images unless they exist
#   scripts/docker-base.sh --name   print the runtime image's name
#   scripts/docker-base.sh --build-name   print the build image's name
# BASE_IMAGE / BUILD_IMAGE, when set, are used as they are (e.g.
# debian:bookworm-slim where a registry answers) and nothing is built.
set -euo pipefail

# The tag changes whenever a package list below does: an image built from
# an older list is never taken for a current one.
RUNTIME=${BASE_IMAGE:-nprof/bookworm-runtime:2}
BUILD=${BUILD_IMAGE:-nprof/bookworm-build:2}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

case "${1:-}" in
  --name) echo "$RUNTIME"; exit 0 ;;
  --build-name) echo "$BUILD"; exit 0 ;;
esac

# What the notifier and loadgen link against at run time, and curl for the
# healthchecks.
RUNTIME_PKGS=libgrpc29,libprotobuf-c1,libmicrohttpd12,libdw1,libelf1,libunwind8,libcurl4,libuv1,libnghttp2-14,libssl3,libjson-c5,zlib1g,curl,ca-certificates
# What they build with (the -dev packages).
BUILD_PKGS=build-essential,make,pkg-config,protobuf-c-compiler,libprotobuf-c-dev,protobuf-compiler,libprotobuf-dev,libgrpc-dev,libmicrohttpd-dev,libdw-dev,libelf-dev,libunwind-dev,zlib1g-dev,libcurl4-openssl-dev,libuv1-dev,libnghttp2-dev,libssl-dev,libjson-c-dev,ca-certificates

build_image() {
  local name=$1 pkgs=$2
  if docker image inspect "$name" >/dev/null 2>&1; then
    echo "docker-base: $name exists"
    return 0
  fi
  if [ -n "${BASE_IMAGE:-}" ] && [ "$name" = "$RUNTIME" ]; then return 0; fi
  if [ -n "${BUILD_IMAGE:-}" ] && [ "$name" = "$BUILD" ]; then return 0; fi
  [ "$(id -u)" = 0 ] || { echo "docker-base: debootstrap needs root" >&2; exit 1; }
  command -v debootstrap >/dev/null || {
    echo "docker-base: installing debootstrap"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local root
  root=$(mktemp -d /var/tmp/nprof-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  echo "docker-base: debootstrap bookworm ($pkgs) into $root; this takes a few minutes"
  debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$MIRROR" \
    >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
  rm -f "$root.log"
  # Smaller images: no apt lists, docs or caches.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$name" >/dev/null
  echo "docker-base: built $name"
}

build_image "$BUILD" "$BUILD_PKGS"
build_image "$RUNTIME" "$RUNTIME_PKGS"
