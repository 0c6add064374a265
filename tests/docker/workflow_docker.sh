#!/bin/bash
# make test-docker: the workflow on the docker path, with a real engine.
# As root with no engine (a fresh CI machine) it installs Debian's docker.io
# and docker-compose, starts dockerd, and builds the base images from
# Debian's packages (scripts/docker-base.sh). Then: make local twice, a load
# test whose loadgen runs as a compose service, the snapshots read by the
# real go tool pprof, the published ports bound to 127.0.0.1 only, a
# SHARDS=2 load test (two shard services and their coordinator, one run),
# and make clean-local removing the containers. Last, a service of "your own"
# image (python3-grpcio's chat.Room, an image built here without libnprof)
# gets libnprof through docker/nprof-preload.yml, and make load-test
# profiles it in its container.
set -uo pipefail
cd "$(dirname "$0")/../.."

. tests/lib/checks.sh
TMP=$(mktemp -d /tmp/nprof-dk.XXXXXX)
export LOCAL_MODE=docker LOCAL_STATE=$TMP/state
export GRPC_PORT=$(free_port) DEBUG_PORT=$(free_port)
export GOCACHE=$TMP/gocache PPROF_TMPDIR=$TMP
started_dockerd=

APP=
cleanup() {
  scripts/local.sh down >/dev/null 2>&1
  [ -n "$APP" ] && app_compose down -v --remove-orphans >/dev/null 2>&1
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

# SHARDS=2: the shards and their coordinator as compose services, one per
# shard (compose gives replicas no index), next to the notifier; one run.
if make -s notifier-load-test TEST_COUNT=26 HOLD=1s SHARDS=2 >"$TMP/out" 2>&1; then
  ok "SHARDS=2: two loadgen shards and their coordinator as compose services"
else bad "SHARDS=2 on the docker path"; tail -30 "$TMP/out"; fi
srun=$(ls -td snapshots/*-26 2>/dev/null | head -1)
if [ -n "$srun" ] && /usr/bin/python3 - "$srun" <<'PY'
import json, sys, yaml
d = sys.argv[1]
r = json.load(open(d + "/run.json"))
assert r["shard_count"] == 2 and r["mode"] == "docker" and r["test_count"] == 26, r
assert json.load(open(d + "/baseline.vars.json"))["notifier.users"] == 0
assert json.load(open(d + "/plateau.vars.json"))["notifier.users"] == 26
m = json.load(open(d + "/loadgen.json"))
assert m["shard_count"] == 2 and m["streams_established"] == 26 and m["ok"], m
for i in (0, 1):
    s = json.load(open("%s/shard-%d.json" % (d, i)))
    assert s["shard"]["index"] == i and s["streams_established"] == 13
    assert s["target"] == "notifier:50051"
c = yaml.safe_load(open(d + "/compose.shards.yml"))["services"]
assert set(c) == {"loadgen-coordinator", "loadgen-shard-0", "loadgen-shard-1"}, c
assert c["loadgen-shard-1"]["environment"]["JOB_COMPLETION_INDEX"] == "1"
assert "--coordinate" in c["loadgen-coordinator"]["command"]
PY
then ok "  ...one run folder: plateau with all 26 users, the shards' results merged, one service per shard index"
else bad "  ...the sharded run folder ($srun)"; tail -20 "$TMP/out"; fi
[ -s "$srun/report.md" ] && ok "  ...and its report" || bad "  ...and its report"
[ -z "$(docker ps -aq --filter "name=nprof-$(basename "$srun")")" ] &&
  ok "  ...the shards' containers removed" || bad "  ...the shards' containers removed"
[ -n "$srun" ] && rm -rf "$srun"

if make -s clean-local >"$TMP/out" 2>&1; then ok "make clean-local"; else bad "make clean-local"; tail -5 "$TMP/out"; fi
[ -z "$(docker ps -q --filter name=notifier)" ] && ok "  ...containers gone" || bad "  ...containers gone"
[ -s "$run/plateau.heap.pb.gz" ] && ok "  ...snapshots kept" || bad "  ...snapshots kept"
rm -rf "$run"

# Your own image, libnprof from the override: no rebuild of the service.
APP=$TMP/app
mkdir -p "$APP"
cp tests/loadgen/chat_server.py tests/loadgen/grpc_test_server.py "$APP/"
cp -r tests/loadgen/proto "$APP/proto"
cat >"$APP/Dockerfile" <<'EOF'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# The service's own needs, and libnprof's shared libraries (the override's
# comment lists them): nothing of nprof's is built into this image.
RUN apt-get update && apt-get install -y --no-install-recommends python3 \
      python3-grpcio python3-grpc-tools python3-pkg-resources \
      libunwind8 libdw1 libelf1 libmicrohttpd12 libprotobuf-c1 zlib1g && \
    rm -rf /var/lib/apt/lists/*
COPY chat_server.py grpc_test_server.py /app/
COPY proto /app/proto
CMD ["python3", "/app/chat_server.py", "--host", "0.0.0.0", "--port", "50061", "--port-file", "/tmp/port"]
EOF
APP_PORT=$(free_port)
APP_DEBUG=$(free_port)
cat >"$APP/docker-compose.yml" <<EOF
services:
  app:
    build:
      context: .
      args:
        BASE_IMAGE: $(scripts/docker-base.sh --name)
    image: nprof-test/chat:dev
    ports:
      - "127.0.0.1:$APP_PORT:50061"
EOF
app_compose() {
  NPROF_DIR=$PWD NPROF_DEBUG_PORT=$APP_DEBUG BASE_IMAGE=$(scripts/docker-base.sh --name) \
    BUILD_IMAGE=$(scripts/docker-base.sh --build-name) \
    scripts/compose.sh -p nprofapp -f "$APP/docker-compose.yml" -f docker/nprof-preload.yml "$@"
}
if app_compose up -d --build >"$TMP/out" 2>&1; then ok "your image with docker/nprof-preload.yml: up"
else bad "your image with the override"; tail -30 "$TMP/out"; fi
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$APP_DEBUG/debug/vars" 2>/dev/null | grep -q chat_server && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$APP_DEBUG/debug/vars" 2>/dev/null | grep -q chat_server &&
  ok "  ...libnprof answers from inside it on 127.0.0.1:$APP_DEBUG" || bad "  ...libnprof answers from inside it"
if make -s load-test TARGET=127.0.0.1:$APP_PORT CALL=chat.Room/Join \
    PROTO=tests/loadgen/proto/chat.proto DEBUG_PORT=$APP_DEBUG \
    DATA='room: "docker" user { name: "u{user}" id: {user} } tags: [1, {user}]' \
    TEST_COUNT=15 HOLD=1s >"$TMP/out" 2>&1; then ok "make load-test against it"
else bad "make load-test against your image"; tail -20 "$TMP/out"; fi
run=$(ls -td snapshots/*-15 2>/dev/null | head -1)
if [ -n "$run" ] && HOME=$TMP go tool pprof -symbolize=none -top "$run/plateau.heap.pb.gz" >"$TMP/top" 2>&1; then
  ok "  ...go tool pprof reads its plateau heap"
else bad "  ...its plateau heap"; tail -3 "$TMP/top"; fi
grep -q '"streams_established": 15' "$run/loadgen.json" 2>/dev/null && ok "  ...15 users held" || bad "  ...15 users held"
[ -n "$run" ] && rm -rf "$run"
if app_compose down -v --remove-orphans >"$TMP/out" 2>&1; then ok "  ...down, the volume removed"; else bad "  ...down"; fi
APP=

tally test-docker
