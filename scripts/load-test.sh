#!/bin/bash
# make notifier-load-test TEST_COUNT=N: N streaming users against the local
# notifier (started if it is not up), heap and thread snapshots at each phase
# (baseline, plateau, drained) into snapshots/<UTC time>-<N>/, then the
# comparison report there.
#
# Knobs (environment, as make passes them): TEST_COUNT (1000), HOLD (10s),
# RATE (0: as fast as it goes), PUBLISH (0), STREAMS_PER_CONN (1),
# LOADGEN_THREADS, MAX_BYTES_PER_USER, MAX_RETAINED_BYTES, SNAPSHOT_ROOT.
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_COUNT=${TEST_COUNT:-1000}
HOLD=${HOLD:-10s}
RATE=${RATE:-0}
PUBLISH=${PUBLISH:-0}
STREAMS_PER_CONN=${STREAMS_PER_CONN:-1}
SNAPSHOT_ROOT=${SNAPSHOT_ROOT:-snapshots}
GRPC_PORT=${GRPC_PORT:-50051}
DEBUG_PORT=${DEBUG_PORT:-8086}

die() { printf 'load-test: %s\n' "$*" >&2; exit 2; }

# Bad knobs fail before anything starts.
[[ "$TEST_COUNT" =~ ^[1-9][0-9]*$ ]] || die "TEST_COUNT must be a positive integer, not '$TEST_COUNT'"
((TEST_COUNT <= 1000000)) || die "TEST_COUNT=$TEST_COUNT is over 1,000,000"
[[ "$RATE" =~ ^[0-9]+$ ]] || die "RATE must be a whole number of streams per second, not '$RATE'"
[[ "$PUBLISH" =~ ^[0-9]+$ ]] || die "PUBLISH must be a whole number, not '$PUBLISH'"
[[ "$STREAMS_PER_CONN" =~ ^[1-9][0-9]*$ ]] || die "STREAMS_PER_CONN must be a positive integer, not '$STREAMS_PER_CONN'"
[[ "$HOLD" =~ ^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|ms|s|m|h))+)$ ]] ||
  die "HOLD must be a duration (a number with a unit: ns, us, ms, s, m or h, e.g. 500ms, 10s, 2m30s), not '$HOLD'"

scripts/local.sh up

run=$SNAPSHOT_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$TEST_COUNT
mkdir -p "$run"
mode=$(cat "${LOCAL_STATE:-.local}/mode" 2>/dev/null || echo external)
cat >"$run/run.json.tmp" <<EOF
{"test_count": $TEST_COUNT, "hold": "$HOLD", "rate": $RATE, "publishes": $PUBLISH,
 "streams_per_conn": $STREAMS_PER_CONN, "target": "127.0.0.1:$GRPC_PORT",
 "debug_url": "http://127.0.0.1:$DEBUG_PORT", "mode": "$mode",
 "started": "$(date -u +%FT%TZ)"}
EOF
mv "$run/run.json.tmp" "$run/run.json"
echo "load-test: $TEST_COUNT users against 127.0.0.1:$GRPC_PORT; snapshots in $run"

threads=()
[ -n "${LOADGEN_THREADS:-}" ] && threads=(--threads "$LOADGEN_THREADS")
common=(--streams "$TEST_COUNT" --streams-per-conn "$STREAMS_PER_CONN"
  --rate "$RATE" --hold "$HOLD" --publish "$PUBLISH" "${threads[@]}")
set +e
if [ "$mode" = docker ]; then
  # The loadgen as a compose service, next to the notifier on compose's
  # network; the snapshots land in ./snapshots through a volume, written as
  # the invoking user so they are theirs to read and delete.
  [ "$SNAPSHOT_ROOT" = snapshots ] || die "the docker path writes under ./snapshots (SNAPSHOT_ROOT)"
  BASE_IMAGE=$(scripts/docker-base.sh --name) BUILD_IMAGE=$(scripts/docker-base.sh --build-name) \
    scripts/compose.sh run --rm --user "$(id -u):$(id -g)" loadgen --target notifier:50051 "${common[@]}" \
    --snapshot-url http://notifier:8086 --snapshot-dir "/snapshots/${run#snapshots/}" \
    --json "/snapshots/${run#snapshots/}/loadgen.json"
else
  build/bin/loadgen --target "127.0.0.1:$GRPC_PORT" "${common[@]}" \
    --snapshot-url "http://127.0.0.1:$DEBUG_PORT" --snapshot-dir "$run" \
    --json "$run/loadgen.json"
fi
loadgen_rc=$?
set -e
if ((loadgen_rc != 0)); then
  echo "load-test: the loadgen did not meet its goal (exit $loadgen_rc); the report says what is missing" >&2
  scripts/local.sh status >/dev/null 2>&1 || echo "load-test: the notifier is not answering any more (see ${LOCAL_STATE:-.local}/notifier.log)" >&2
fi

report_args=()
[ -n "${MAX_BYTES_PER_USER:-}" ] && report_args+=(--max-bytes-per-user "$MAX_BYTES_PER_USER")
[ -n "${MAX_RETAINED_BYTES:-}" ] && report_args+=(--max-retained-bytes "$MAX_RETAINED_BYTES")
set +e
build/bin/nprof report "$run" "${report_args[@]}"
report_rc=$?
set -e
echo "load-test: go tool pprof -diff_base $run/baseline.heap.pb.gz $run/plateau.heap.pb.gz"
echo "load-test: go tool pprof http://127.0.0.1:$DEBUG_PORT/debug/pprof/heap   (the notifier is still up: make clean-local)"
if ((loadgen_rc != 0)); then exit 1; fi
exit $report_rc
