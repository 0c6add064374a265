#!/bin/bash
# The local infrastructure: the notifier in dev mode (gRPC and libnprof's
# debug endpoints on 127.0.0.1), as native processes or docker containers;
# or, with SERVICE='CMD ARGS', your own service, started natively under
# libnprof's preload.
#   scripts/local.sh up       start it unless it already answers; wait healthy
#   scripts/local.sh down     stop whatever `up` started (never touches snapshots)
#   scripts/local.sh status   say what runs; exit 0 when healthy
# LOCAL_MODE=docker|native picks for the notifier; unset, docker when an
# engine answers. GRPC_PORT (50051) and DEBUG_PORT (8086) move the ports.
# SERVICE runs with LD_PRELOAD=build/lib/libnprof.so and
# NPROF_LISTEN=127.0.0.1:$DEBUG_PORT in the caller's environment; `up`
# waits for the debug port (and SERVICE_PORT, when given, to accept).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${LOCAL_STATE:-.local}
GRPC_PORT=${GRPC_PORT:-50051}
DEBUG_PORT=${DEBUG_PORT:-8086}
GRPC_ADDR=127.0.0.1:$GRPC_PORT
DEBUG_URL=http://127.0.0.1:$DEBUG_PORT
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-30}
SERVICE=${SERVICE:-}
SERVICE_PORT=${SERVICE_PORT:-}
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

vars_answer() {
  curl -fsS --max-time 2 "$DEBUG_URL/debug/vars" 2>/dev/null
}

# Healthy: the debug server answers and reports the notifier's variables.
healthy() {
  vars_answer | grep -q '"notifier\.streams"'
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

live_pid() { # FILE: the pid recorded there, if that process is alive
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

native_pid() { live_pid "$STATE/notifier.pid"; }
service_pid() { live_pid "$STATE/service.pid"; }

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
  echo "build/bin/notifier --grpc-addr $GRPC_ADDR --debug-addr 127.0.0.1:$DEBUG_PORT --mode dev" >"$STATE/notifier.cmd"
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
  echo "nprof/notifier:dev" >"$STATE/notifier.cmd"
  say "starting the notifier (docker compose)"
  BASE_IMAGE=$(scripts/docker-base.sh --name) \
    BUILD_IMAGE=$(scripts/docker-base.sh --build-name) GRPC_PORT=$GRPC_PORT \
    DEBUG_PORT=$DEBUG_PORT compose up -d --build notifier
  wait_healthy
  say "notifier up in docker: gRPC $GRPC_ADDR, debug $DEBUG_URL"
}

# Your own service: CMD ARGS run by bash (so quoting works as on a command
# line) in its own session, libnprof preloaded into it alone (bash is not
# preloaded: it execs the service).
up_service() {
  if pid=$(service_pid); then
    local was
    was=$(cat "$STATE/service.cmd" 2>/dev/null || true)
    if [ "$was" = "$SERVICE" ] && vars_answer >/dev/null; then
      say "service already up (pid $pid): $SERVICE; debug $DEBUG_URL"
      return 0
    fi
    die "another service is up (pid $pid: $was); make clean-local first"
  fi
  port_taken "$DEBUG_PORT" && die "port $DEBUG_PORT on 127.0.0.1 (DEBUG_PORT, libnprof's) is taken by another program; free it or set DEBUG_PORT"
  if [ -n "$SERVICE_PORT" ]; then
    [[ "$SERVICE_PORT" =~ ^[0-9]+$ ]] || die "SERVICE_PORT must be a port number, not '$SERVICE_PORT'"
    port_taken "$SERVICE_PORT" && die "port $SERVICE_PORT (SERVICE_PORT) is taken before the service started: is another copy running?"
  fi
  [ -e build/lib/libnprof.so ] || die "build/lib/libnprof.so is missing (make all)"
  local lib
  lib=$(realpath build/lib/libnprof.so)
  say "starting: $SERVICE"
  say "  with LD_PRELOAD=$lib NPROF_LISTEN=127.0.0.1:$DEBUG_PORT"
  LG_LIB=$lib LG_LISTEN=127.0.0.1:$DEBUG_PORT setsid bash -c \
    'export LD_PRELOAD="$LG_LIB${LD_PRELOAD:+ $LD_PRELOAD}" NPROF_LISTEN="$LG_LISTEN"; unset LG_LIB LG_LISTEN; exec '"$SERVICE" \
    >"$STATE/service.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$STATE/service.pid.tmp" && mv "$STATE/service.pid.tmp" "$STATE/service.pid"
  printf '%s\n' "$SERVICE" >"$STATE/service.cmd"
  echo native >"$STATE/mode"
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) debug=0 port=0 settled=0
  [ -n "$SERVICE_PORT" ] || port=1
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" 2>/dev/null || rc=$?
      rm -f "$STATE/service.pid"
      echo "--- the last lines of $STATE/service.log:" >&2
      tail -n 20 "$STATE/service.log" >&2 || true
      die "the service exited at once (status $rc): $SERVICE"
    fi
    ((debug)) || { vars_answer >/dev/null && debug=1; }
    ((port)) || { port_taken "$SERVICE_PORT" && port=1; }
    # libnprof answers as soon as the program is loaded, before it has run
    # a line: a service that exits at once would look up. It must still be
    # alive 0.6 s later.
    ((debug && port)) && settled=$((settled + 1))
    if ((settled > 3)); then
      say "service up (pid $pid): debug $DEBUG_URL${SERVICE_PORT:+, port $SERVICE_PORT}; log: $STATE/service.log"
      say "  go tool pprof $DEBUG_URL/debug/pprof/heap"
      return 0
    fi
    sleep 0.2
  done
  ((debug)) || die "libnprof's debug port $DEBUG_PORT did not answer within ${HEALTH_TIMEOUT}s (log: $STATE/service.log; is the service a dynamically linked program?)"
  die "the service did not accept on port $SERVICE_PORT within ${HEALTH_TIMEOUT}s (log: $STATE/service.log)"
}

stop_pid() { # PID WHAT: SIGTERM to its session's process group, SIGKILL after 10 s
  local pid=$1 what=$2
  say "stopping $what (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 10s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
}

down() {
  local stopped=0
  if pid=$(service_pid); then
    stop_pid "$pid" "the service"
    stopped=1
  fi
  rm -f "$STATE/service.pid" "$STATE/service.cmd"
  if pid=$(native_pid); then
    stop_pid "$pid" "the native notifier"
    stopped=1
  fi
  rm -f "$STATE/notifier.pid" "$STATE/notifier.cmd"
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
  up)
    if [ -n "$SERVICE" ]; then up_service
    elif [ "$(mode)" = docker ]; then up_docker
    else up_native; fi ;;
  down) down ;;
  status)
    if [ -n "$SERVICE" ] || [ -e "$STATE/service.pid" ]; then
      if service_pid >/dev/null && vars_answer >/dev/null; then
        say "service healthy: $(cat "$STATE/service.cmd" 2>/dev/null), debug $DEBUG_URL"; exit 0
      fi
      say "the service is not running"; exit 1
    fi
    if healthy; then say "healthy: gRPC $GRPC_ADDR, debug $DEBUG_URL"; exit 0; fi
    say "not running"; exit 1 ;;
  *) die "usage: scripts/local.sh up|down|status" ;;
esac
