#!/bin/sh
# Installs the Debian packages the project builds, tests and benchmarks with.
#   scripts/deps.sh          install what is missing (apt-get; sudo when not root)
#   scripts/deps.sh --check  exit 0 when everything is present, 1 otherwise
# Each package and why it is here is listed in README.md ("Dependencies").
set -eu

PACKAGES="build-essential pkg-config clang clang-format libclang-rt-14-dev
libunwind-dev libdw-dev libelf-dev libmicrohttpd-dev zlib1g-dev
libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libcmocka-dev
libgrpc-dev protobuf-compiler libuv1-dev libnghttp2-dev nghttp2-client
golang-go python3 python3-grpcio python3-grpc-tools python3-protobuf
python3-pkg-resources
curl procps iproute2 chromium graphviz"

# pkg-config modules and commands that prove the packages above are usable.
PC_MODULES="libunwind libdw libmicrohttpd zlib libprotobuf-c libcurl cmocka grpc libuv libnghttp2"
COMMANDS="cc clang clang-format protoc-c protoc go h2load curl chromium dot ss"

missing() {
  for m in $PC_MODULES; do
    pkg-config --exists "$m" 2>/dev/null || { echo "pkg-config module $m"; return 0; }
  done
  for c in $COMMANDS; do
    command -v "$c" >/dev/null 2>&1 || { echo "command $c"; return 0; }
  done
  /usr/bin/python3 -c 'import grpc, grpc_tools.protoc' 2>/dev/null || { echo "python3 grpcio"; return 0; }
  [ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] ||
    { echo "libFuzzer runtime"; return 0; }
  return 1
}

if [ "${1:-}" = "--check" ]; then
  if what=$(missing); then echo "missing: $what" >&2; exit 1; fi
  exit 0
fi

if ! what=$(missing); then
  echo "deps: everything is installed"
  exit 0
fi
echo "deps: $what is missing; installing Debian packages:" $PACKAGES

SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: not root and no sudo; install as root: apt-get install $PACKAGES" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $PACKAGES
if what=$(missing); then
  echo "deps: still missing after install: $what" >&2
  exit 1
fi
echo "deps: done"
