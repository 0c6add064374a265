#!/bin/bash
# A load test and its run folder: N users on a gRPC service, heap and
# thread snapshots at each phase (baseline, plateau, drained) into
# snapshots/<UTC time>-<N>/, the timeline, then the report there.
#   scripts/load-test.sh notifier   make notifier-load-test: the sample
#                                   (started when it is not up)
#   scripts/load-test.sh service    make load-test: any service, TARGET=
#                                   HOST:PORT CALL=PKG.SERVICE/METHOD ...
#                                   (SERVICE='CMD ARGS' starts it first)
# SHARDS=K runs the users as K loadgen shards and a coordinator, one run:
# natively, or as compose services on the docker path (scripts/shards.sh).
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

. scripts/loadgen-args.sh
loadgen_knob_args "$what"
SHARDS=$(shard_count)

# Bad knobs fail before anything starts, in the loadgen's words. With
# shards: the last shard (its source addresses are the highest) and the
# coordinator.
[ -x "$LOADGEN" ] || die "$LOADGEN is missing (make all)"
if ((SHARDS == 1)); then
  "$LOADGEN" --check "${args[@]}" >/dev/null || exit 2
else
  "$LOADGEN" --check "${args[@]}" --shard-count "$SHARDS" --shard-index $((SHARDS - 1)) \
    --run-id check --run-dir "$SNAPSHOT_ROOT" >/dev/null || exit 2
  "$LOADGEN" --check "${args[@]}" --shard-count "$SHARDS" --coordinate \
    --run-id check --run-dir "$SNAPSHOT_ROOT" >/dev/null || exit 2
fi

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
if ((SHARDS > 1)); then
  echo "load-test: $TEST_COUNT users against $TARGET over $SHARDS loadgen shards; snapshots in $run"
else
  echo "load-test: $TEST_COUNT users against $TARGET; snapshots in $run"
fi

set +e
if ((SHARDS > 1)); then
  # K shards and their coordinator: scripts/shards.sh runs them (natively,
  # or as compose services next to the notifier) and merges their results
  # into the run's loadgen.json.
  docker=
  if [ "$what" = notifier ] && [ "$mode" = docker ]; then
    [ "$SNAPSHOT_ROOT" = snapshots ] || die "the docker path writes under ./snapshots (SNAPSHOT_ROOT)"
    docker=1
  fi
  DOCKER=$docker DEBUG_URL=$DEBUG_URL RUN_MODE=$mode \
    RUN_SERVICE=${service[1]:-} \
    scripts/shards.sh run "$run" "$SHARDS" -- "${args[@]}"
elif [ "$what" = notifier ] && [ "$mode" = docker ]; then
  # The loadgen as a compose service, next to the notifier on compose's
  # network; the run folder lands in ./snapshots through a volume, written
  # as the invoking user so it is theirs to read and delete.
  [ "$SNAPSHOT_ROOT" = snapshots ] || die "the docker path writes under ./snapshots (SNAPSHOT_ROOT)"
  retarget notifier:50051
  # Built (from cache when nothing changed) before each run: an image left
  # from an older tree would take flags this one's loadgen does not.
  BASE_IMAGE=$(scripts/docker-base.sh --name) BUILD_IMAGE=$(scripts/docker-base.sh --build-name) \
    scripts/compose.sh build loadgen >/dev/null ||
    die "building the loadgen's image failed (scripts/compose.sh build loadgen)"
  BASE_IMAGE=$(scripts/docker-base.sh --name) BUILD_IMAGE=$(scripts/docker-base.sh --build-name) \
    scripts/compose.sh run --rm --user "$(id -u):$(id -g)" loadgen "${args[@]}" \
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
