#!/bin/bash
# The local infrastructure: the notifier in dev mode (gRPC and libnprof's
# debug endpoints on 127.0.0.1), as native processes or docker containers.
#   scripts/local.sh up       start it unless it already answers; wait healthy
#   scripts/local.sh down     stop whatever `up` started (never touches snapshots)
#   scripts/local.sh status   say what runs; exit 0 when healthy
# LOCAL_MODE=docker|native picks; unset, docker when an engine answers.
# GRPC_PORT (50051) and DEBUG_PORT (8086) move the ports.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${LOCAL_STATE:-.local}
GRPC_PORT=${GRPC_PORT:-50051}
DEBUG_PORT=${DEBUG_PORT:-8086}
GRPC_ADDR=127.0.0.1:$GRPC_PORT
DEBUG_URL=http://127.0.0.1:$DEBUG_PORT
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-30}
mkdir -p "$STATE"

say() { printf 'local: %s\n' "$*"; }
die() { printf 'local: %s\n' "$*" >&2; exit 1; }

engine_answers() {
  command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1
}

mode() {
  case "${LOCAL_MODE:-}" in
    docker|native) echo "$LOCAL_MODE" ;;
    "") if engine_answers; then echo docker; else echo native; fi ;;
    *) die "LOCAL_MODE must be docker or native, not '$LOCAL_MODE'" ;;
  esac
}

# Healthy: the debug server answers and reports the notifier's variables.
healthy() {
  curl -fsS --max-time 2 "$DEBUG_URL/debug/vars" 2>/dev/null |
    grep -q '"notifier\.streams"'
}

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_healthy() {
  local pid=${1:-} deadline=$((SECONDS + HEALTH_TIMEOUT))
  while ((SECONDS < deadline)); do
    if healthy; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$STATE/notifier.log" >&2 || true
      die "the notifier exited during start-up (log: $STATE/notifier.log)"
    fi
    sleep 0.2
  done
  die "the notifier did not become healthy within ${HEALTH_TIMEOUT}s ($DEBUG_URL/debug/vars)"
}

compose() { scripts/compose.sh "$@"; }

native_pid() {
  local pid
  pid=$(cat "$STATE/notifier.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

up_native() {
  if pid=$(native_pid) && healthy; then
    say "notifier already up (pid $pid): gRPC $GRPC_ADDR, debug $DEBUG_URL"
    return 0
  fi
  if healthy; then
    say "a notifier already answers on $DEBUG_URL (not started here); using it"
    return 0
  fi
  for p in "$GRPC_PORT" "$DEBUG_PORT"; do
    port_taken "$p" && die "port $p on 127.0.0.1 is taken by another program; free it or set GRPC_PORT/DEBUG_PORT"
  done
  [ -x build/bin/notifier ] || die "build/bin/notifier is missing (make all)"
  say "starting the notifier (native, dev mode): gRPC $GRPC_ADDR, debug $DEBUG_URL"
  # setsid: the notifier outlives this make invocation, in its own session.
  setsid build/bin/notifier --grpc-addr "$GRPC_ADDR" \
    --debug-addr "127.0.0.1:$DEBUG_PORT" --mode dev --quiet \
    >"$STATE/notifier.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$STATE/notifier.pid.tmp" && mv "$STATE/notifier.pid.tmp" "$STATE/notifier.pid"
  echo native >"$STATE/mode"
  wait_healthy "$pid"
  say "notifier up (pid $pid); log: $STATE/notifier.log"
}

up_docker() {
  if healthy; then
    say "notifier already answers on $DEBUG_URL"
    return 0
  fi
  scripts/docker-base.sh
  echo docker >"$STATE/mode"
  say "starting the notifier (docker compose)"
  BASE_IMAGE=$(scripts/docker-base.sh --name) \
    BUILD_IMAGE=$(scripts/docker-base.sh --build-name) GRPC_PORT=$GRPC_PORT \
    DEBUG_PORT=$DEBUG_PORT compose up -d --build notifier
  wait_healthy
  say "notifier up in docker: gRPC $GRPC_ADDR, debug $DEBUG_URL"
}

down() {
  local stopped=0
  if pid=$(native_pid); then
    say "stopping the native notifier (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "still running after 10s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    stopped=1
  fi
  rm -f "$STATE/notifier.pid"
  if [ "$(cat "$STATE/mode" 2>/dev/null)" = docker ] || { [ "${LOCAL_MODE:-}" = docker ] && engine_answers; }; then
    if engine_answers; then
      say "stopping the docker services"
      compose down --remove-orphans
      stopped=1
    fi
  fi
  rm -f "$STATE/mode"
  [ $stopped = 1 ] || say "nothing was running"
}

case "${1:-}" in
  up) if [ "$(mode)" = docker ]; then up_docker; else up_native; fi ;;
  down) down ;;
  status)
    if healthy; then say "healthy: gRPC $GRPC_ADDR, debug $DEBUG_URL"; exit 0; fi
    say "not running"; exit 1 ;;
  *) die "usage: scripts/local.sh up|down|status" ;;
esac
