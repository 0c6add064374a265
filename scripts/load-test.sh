#!/bin/bash
# A load test and its run folder: N users on a gRPC service, heap and
# thread snapshots at each phase (baseline, plateau, drained) into
# snapshots/<UTC time>-<N>/, the timeline, then the report there.
#   scripts/load-test.sh notifier   make notifier-load-test: the sample
#                                   (started when it is not up)
#   scripts/load-test.sh service    make load-test: any service, TARGET=
#                                   HOST:PORT CALL=PKG.SERVICE/METHOD ...
#                                   (SERVICE='CMD ARGS' starts it first)
#
# Knobs (environment, as make passes them; `make help` lists them) become
# loadgen flags and nothing else: the loadgen judges them (`loadgen
# --check`, before anything starts), so the shell and the loadgen cannot
# disagree about what a knob accepts.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-notifier}
SNAPSHOT_ROOT=${SNAPSHOT_ROOT:-snapshots}
GRPC_PORT=${GRPC_PORT:-50051}
DEBUG_PORT=${DEBUG_PORT:-8086}
STATE=${LOCAL_STATE:-.local}
LOADGEN=build/bin/loadgen

die() { printf 'load-test: %s\n' "$*" >&2; exit 2; }

# A knob given (not empty) becomes its flag.
args=()
flag() { # FLAG VALUE
  if [ -n "$2" ]; then args+=("$1" "$2"); fi
}
switch() { # FLAG VALUE: a switch knob (1, yes, true)
  case "${2,,}" in
    ""|0|no|false) ;;
    1|yes|true) args+=("$1") ;;
    *) die "${1#--}: expected 1 or 0, not '$2'" ;;
  esac
}

flag --streams "${TEST_COUNT:-1000}"
flag --streams-per-conn "${STREAMS_PER_CONN:-}"
flag --rate "${RATE:-}"
flag --hold "${HOLD:-}"
flag --threads "${LOADGEN_THREADS:-}"
flag --publish "${PUBLISH:-}"
case "$what" in
  notifier)
    TARGET=127.0.0.1:$GRPC_PORT
    args+=(--target "$TARGET" --users-var notifier.users)
    ;;
  service)
    [ -n "${TARGET:-}" ] || die "TARGET=HOST:PORT is needed (the gRPC address of your service)"
    [ -n "${CALL:-}" ] || die "CALL=PKG.SERVICE/METHOD is needed (with PROTO=FILE, or PROTOSET=FILE)"
    args+=(--target "$TARGET" --call "$CALL")
    flag --proto "${PROTO:-}"
    flag --protoset "${PROTOSET:-}"
    flag --import-path "${IMPORT_PATH:-}"
    flag --data "${DATA:-}"
    flag --data-file "${DATA_FILE:-}"
    flag --rps "${RPS:-}"
    flag --duration "${DURATION:-}"
    flag --concurrency "${CONCURRENCY:-}"
    flag --max-errors "${MAX_ERRORS:-}"
    flag --latency-field "${LATENCY_FIELD:-}"
    flag --users-var "${USERS_VAR:-}"
    ;;
  *) die "usage: scripts/load-test.sh notifier|service" ;;
esac
flag --headers "${HEADERS:-}"
switch --tls "${TLS:-}"
flag --cacert "${CACERT:-}"
switch --insecure "${INSECURE:-}"
flag --server-name "${SERVER_NAME:-}"
if [ -n "${LOADGEN_ARGS:-}" ]; then
  # shellcheck disable=SC2206
  extra=(${LOADGEN_ARGS})
  args+=("${extra[@]}")
fi

# Bad knobs fail before anything starts, in the loadgen's words.
[ -x "$LOADGEN" ] || die "$LOADGEN is missing (make all)"
"$LOADGEN" --check "${args[@]}" >/dev/null || exit 2

TEST_COUNT=${TEST_COUNT:-1000}
DEBUG_URL=${DEBUG_URL:-http://127.0.0.1:$DEBUG_PORT}
if [ "$what" = notifier ]; then
  scripts/local.sh up
  ran_by_us=$STATE/notifier.cmd
  who="the notifier"
else
  if [ -n "${SERVICE:-}" ]; then
    scripts/local.sh up
  fi
  ran_by_us=$STATE/service.cmd
  who="the service"
fi
snap=()
if [ "$DEBUG_URL" != none ]; then
  curl -fsS --max-time 5 "$DEBUG_URL/debug/vars" >/dev/null 2>&1 ||
    die "nothing answers at $DEBUG_URL/debug/vars: start your service with libnprof (make local SERVICE='CMD ARGS'), set DEBUG_PORT or DEBUG_URL, or DEBUG_URL=none for a run without profiles"
  snap=(--snapshot-url "$DEBUG_URL" --debug-url "$DEBUG_URL")
fi

mode=$(cat "$STATE/mode" 2>/dev/null || echo external)
service=()
if [ -s "$ran_by_us" ]; then
  service=(--run-service "$(cat "$ran_by_us")")
else
  mode=external # answering already, started by someone else
fi
run=$SNAPSHOT_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$TEST_COUNT
mkdir -p "$run"
echo "load-test: $TEST_COUNT users against $TARGET; snapshots in $run"

set +e
if [ "$what" = notifier ] && [ "$mode" = docker ]; then
  # The loadgen as a compose service, next to the notifier on compose's
  # network; the run folder lands in ./snapshots through a volume, written
  # as the invoking user so it is theirs to read and delete.
  [ "$SNAPSHOT_ROOT" = snapshots ] || die "the docker path writes under ./snapshots (SNAPSHOT_ROOT)"
  inside=(--target notifier:50051)
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[i]}" = --target ]; then i=$((i + 1)); continue; fi
    inside+=("${args[i]}")
  done
  # Built (from cache when nothing changed) before each run: an image left
  # from an older tree would take flags this one's loadgen does not.
  BASE_IMAGE=$(scripts/docker-base.sh --name) BUILD_IMAGE=$(scripts/docker-base.sh --build-name) \
    scripts/compose.sh build loadgen >/dev/null ||
    die "building the loadgen's image failed (scripts/compose.sh build loadgen)"
  BASE_IMAGE=$(scripts/docker-base.sh --name) BUILD_IMAGE=$(scripts/docker-base.sh --build-name) \
    scripts/compose.sh run --rm --user "$(id -u):$(id -g)" loadgen "${inside[@]}" \
    --snapshot-url http://notifier:8086 --debug-url "$DEBUG_URL" \
    --run-dir "/snapshots/${run#snapshots/}" --run-mode docker "${service[@]}"
else
  "$LOADGEN" "${args[@]}" "${snap[@]}" --run-dir "$run" --run-mode "$mode" \
    "${service[@]}"
fi
loadgen_rc=$?
set -e
if ((loadgen_rc != 0)); then
  echo "load-test: the loadgen did not meet its goal (exit $loadgen_rc); the report says what is missing" >&2
  if [ "$DEBUG_URL" != none ] && ! curl -fsS --max-time 2 "$DEBUG_URL/debug/vars" >/dev/null 2>&1; then
    log=$STATE/${ran_by_us##*/}
    echo "load-test: $who is not answering any more (see ${log%.cmd}.log)" >&2
  fi
fi

report_args=()
[ -n "${MAX_BYTES_PER_USER:-}" ] && report_args+=(--max-bytes-per-user "$MAX_BYTES_PER_USER")
[ -n "${MAX_RETAINED_BYTES:-}" ] && report_args+=(--max-retained-bytes "$MAX_RETAINED_BYTES")
set +e
build/bin/nprof report "$run" "${report_args[@]}"
report_rc=$?
set -e
echo "load-test: go tool pprof -diff_base $run/baseline.heap.pb.gz $run/plateau.heap.pb.gz"
if [ "$DEBUG_URL" != none ]; then
  echo "load-test: go tool pprof $DEBUG_URL/debug/pprof/heap   ($who is still up: make clean-local)"
fi
if ((loadgen_rc != 0)); then exit 1; fi
exit $report_rc
