#!/bin/sh
# Installs the Debian packages the project needs, by purpose, so that a user
# who only wants the load test does not wait for a browser and a compiler
# toolchain for fuzzing.
#   scripts/deps.sh [--check] [PURPOSE...]
# PURPOSE (default: run):
#   run     build the programs and run the workflow (make, make local,
#           make notifier-load-test, make load-test)
#   pprof   the real `go tool pprof` and graphviz for its png/svg/web views
#   test    everything `make test` runs (includes run and pprof)
#   bench   the baselines `make bench` compares against (includes test)
#   docker  the docker path: an engine, compose, debootstrap for base images
#   all     every purpose above
# --check exits 0 when the purposes' packages are usable, 1 otherwise (what
# is missing on stderr). apt-get is run as root, or through sudo.
# Each package and why it is here is listed in README.md ("Dependencies").
set -eu

# Per purpose: the Debian packages, then the pkg-config modules and the
# commands that prove them usable.
RUN_PACKAGES="build-essential pkg-config libunwind-dev libdw-dev libelf-dev
libdebuginfod-dev libmicrohttpd-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler
libcurl4-openssl-dev libgrpc-dev protobuf-compiler libprotobuf-dev libuv1-dev
libnghttp2-dev libssl-dev libjson-c-dev curl procps"
RUN_MODULES="libunwind libdw libdebuginfod libmicrohttpd zlib libprotobuf-c libcurl grpc libuv libnghttp2 openssl json-c"
RUN_COMMANDS="cc make pkg-config protoc-c protoc curl ps"

PPROF_PACKAGES="golang-go graphviz"
PPROF_MODULES=""
PPROF_COMMANDS="go dot"

TEST_PACKAGES="clang clang-format libclang-rt-14-dev libcmocka-dev
python3 python3-grpcio python3-grpc-tools python3-protobuf
python3-pkg-resources python3-yaml nghttp2-client iproute2 chromium debuginfod"
TEST_MODULES="cmocka"
TEST_COMMANDS="clang clang-format h2load ss chromium python3 debuginfod"

BENCH_PACKAGES="valgrind heaptrack google-perftools"
BENCH_MODULES=""
BENCH_COMMANDS="valgrind"

DOCKER_PACKAGES="docker.io docker-compose debootstrap"
DOCKER_MODULES=""
DOCKER_COMMANDS="docker debootstrap"

check=0
purposes=""
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    run|pprof|test|bench|docker) purposes="$purposes $a" ;;
    all) purposes="$purposes run pprof test bench docker" ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "deps: unknown purpose '$a' (run, pprof, test, bench, docker, all)" >&2; exit 2 ;;
  esac
done
[ -n "$purposes" ] || purposes=run
# test includes run and pprof (the tests build everything and use go tool
# pprof as the reference); bench includes test.
expanded=""
for p in $purposes; do
  case "$p" in
    test) expanded="$expanded run pprof test" ;;
    bench) expanded="$expanded run pprof test bench" ;;
    *) expanded="$expanded $p" ;;
  esac
done
purposes=$(printf '%s\n' $expanded | awk '!seen[$0]++' | tr '\n' ' ')

upper() { printf '%s' "$1" | tr '[:lower:]' '[:upper:]'; }
field() { eval "printf '%s' \"\$$(upper "$1")_$2\""; }

# Prints the first thing missing for purpose $1 and returns 0, or returns 1.
missing() {
  for m in $(field "$1" MODULES); do
    pkg-config --exists "$m" 2>/dev/null || { echo "pkg-config module $m ($1)"; return 0; }
  done
  for c in $(field "$1" COMMANDS); do
    command -v "$c" >/dev/null 2>&1 || { echo "command $c ($1)"; return 0; }
  done
  case "$1" in
    run)
      # The loadgen reads any service's .proto through protoc, whose
      # descriptor.proto and well-known types come with libprotobuf-dev.
      [ -e /usr/include/google/protobuf/descriptor.proto ] ||
        { echo "google/protobuf/descriptor.proto (run)"; return 0; } ;;
    test)
      /usr/bin/python3 -c 'import grpc, grpc_tools.protoc' 2>/dev/null ||
        { echo "python3 grpcio (test)"; return 0; }
      /usr/bin/python3 -c 'import yaml' 2>/dev/null ||
        { echo "python3 yaml (test)"; return 0; }
      [ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] ||
        { echo "libFuzzer runtime (test)"; return 0; } ;;
  esac
  return 1
}

need=""
packages=""
for p in $purposes; do
  if what=$(missing "$p"); then
    need="$need $p"
    packages="$packages $(field "$p" PACKAGES)"
    [ $check = 1 ] && echo "deps: missing $what; run scripts/deps.sh $p" >&2
  fi
done
if [ -z "$need" ]; then
  [ $check = 1 ] || echo "deps: everything for$(printf ' %s' $purposes) is installed"
  exit 0
fi
[ $check = 1 ] && exit 1

packages=$(echo $packages)
echo "deps: installing for$need: $packages"
SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: not root and no sudo; install as root: apt-get install $packages" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
$SUDO apt-get update -qq
# heaptrack and google-perftools are optional baselines: a machine without
# them still benchmarks against plain glibc.
optional=""
case " $need " in *" bench "*) optional="heaptrack google-perftools" ;; esac
required=$(for p in $packages; do case " $optional " in *" $p "*) ;; *) echo "$p" ;; esac; done)
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $required
for p in $optional; do
  $SUDO apt-get install -y -qq --no-install-recommends "$p" ||
    echo "deps: optional package $p not installed; benchmarks skip it" >&2
done
for p in $need; do
  if what=$(missing "$p"); then
    echo "deps: still missing after install: $what" >&2
    exit 1
  fi
done
echo "deps: done in $(( $(date +%s) - start ))s"
