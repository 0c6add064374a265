#!/bin/bash
# make test-docker: the workflow on the docker path, with a real engine.
# As root with no engine (a fresh CI machine) it installs Debian's docker.io
# and docker-compose, starts dockerd, and builds the base images from
# Debian's packages (scripts/docker-base.sh). Then: make local twice, a load
# test whose loadgen runs as a compose service, the snapshots read by the
# real go tool pprof, the published ports bound to 127.0.0.1 only, and
# make clean-local removing the containers.
set -uo pipefail
cd "$(dirname "$0")/../.."

TMP=$(mktemp -d /tmp/nprof-dk.XXXXXX)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export LOCAL_MODE=docker LOCAL_STATE=$TMP/state
export GRPC_PORT=$(free_port) DEBUG_PORT=$(free_port)
export GOCACHE=$TMP/gocache PPROF_TMPDIR=$TMP
started_dockerd=
failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $*"; }

cleanup() {
  scripts/local.sh down >/dev/null 2>&1
  if [ -n "$started_dockerd" ]; then
    kill "$started_dockerd" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

engine_answers() { timeout 5 docker info >/dev/null 2>&1; }

if ! command -v docker >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-docker: docker and docker-compose are missing; as root this installs them (apt-get install docker.io docker-compose)" >&2
    exit 1
  fi
  echo "test-docker: installing docker.io and docker-compose"
  apt-get update -qq >/dev/null || exit 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null || exit 1
fi
if ! engine_answers; then
  [ "$(id -u)" = 0 ] || { echo "test-docker: no docker engine answers, and starting one needs root" >&2; exit 1; }
  echo "test-docker: starting dockerd"
  dockerd >"$TMP/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 300); do engine_answers && break; sleep 0.1; done
  engine_answers || { tail -20 "$TMP/dockerd.log"; echo "test-docker: dockerd did not start" >&2; exit 1; }
fi
ok "docker engine answers"

if scripts/docker-base.sh; then ok "base images from Debian's packages"; else bad "base images"; exit 1; fi

if make -s local >"$TMP/out" 2>&1; then ok "make local (docker)"; else bad "make local (docker)"; tail -30 "$TMP/out"; exit 1; fi
[ "$(cat "$LOCAL_STATE/mode")" = docker ] && ok "  ...docker mode chosen" || bad "  ...docker mode chosen"
if make -s local >"$TMP/out" 2>&1 && grep -q "already answers" "$TMP/out"; then ok "make local twice"; else bad "make local twice"; tail -5 "$TMP/out"; fi

# Published ports on the host's loopback only.
ports=$(scripts/compose.sh port notifier 8086 2>/dev/null)
case "$ports" in 127.0.0.1:*) ok "debug port published on 127.0.0.1 only ($ports)" ;; *) bad "debug port published as '$ports'" ;; esac

before=$(ls -d snapshots/*-25 2>/dev/null | wc -l)
if make -s notifier-load-test TEST_COUNT=25 HOLD=1s >"$TMP/out" 2>&1; then ok "load test with the loadgen as a compose service"
else bad "load test (docker)"; tail -30 "$TMP/out"; fi
run=$(ls -td snapshots/*-25 2>/dev/null | head -1)
[ "$(ls -d snapshots/*-25 2>/dev/null | wc -l)" -gt "$before" ] && ok "run folder $run" || bad "no new run folder"
for phase in baseline plateau drained; do
  if HOME=$TMP go tool pprof -symbolize=none -top "$run/$phase.heap.pb.gz" >"$TMP/top" 2>&1; then
    ok "go tool pprof reads $phase.heap.pb.gz from the container"
  else bad "go tool pprof reads $phase.heap.pb.gz"; tail -3 "$TMP/top"; fi
done
grep -q '"streams_established": 25' "$run/loadgen.json" && ok "loadgen.json: 25 established" || bad "loadgen.json"

if make -s clean-local >"$TMP/out" 2>&1; then ok "make clean-local"; else bad "make clean-local"; tail -5 "$TMP/out"; fi
[ -z "$(docker ps -q --filter name=notifier)" ] && ok "  ...containers gone" || bad "  ...containers gone"
[ -s "$run/plateau.heap.pb.gz" ] && ok "  ...snapshots kept" || bad "  ...snapshots kept"
rm -rf "$run"

echo "test-docker: $((checks - failures)) passed, $failures failed"
[ $failures -eq 0 ]
