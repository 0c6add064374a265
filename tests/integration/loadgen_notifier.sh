#!/bin/bash
# loadgen against the project's notifier (build/bin/notifier, dev mode):
# users held one connection each and multiplexed, broadcasts delivered to
# every stream, and profile snapshots from the embedded libnprof at each
# phase. Skipped, with a message, when the notifier is not built.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
NOTIFIER=${NOTIFIER:-build/bin/notifier}
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"
if [ ! -x "$NOTIFIER" ]; then
  echo "SKIP loadgen_notifier: $NOTIFIER not built (make $NOTIFIER)"
  exit 0
fi

start_notifier
gport=$NOTIFIER_GRPC dport=$NOTIFIER_DEBUG

note "1000 users, one connection each, 3 broadcasts, snapshots"
snaps="$TMP/snapshots/run"
timeout 120 "$LOADGEN" --target 127.0.0.1:$gport --streams 1000 --hold 1s \
  --settle 300ms --publish 3 --snapshot-url http://127.0.0.1:$dport \
  --snapshot-dir "$snaps" --json "$snaps/loadgen.json" --quiet \
  >"$TMP/a.out" 2>&1
rc=$?
cat "$TMP/a.out"
[ $rc -eq 0 ] || { tail -20 "$TMP/notifier.log"; fail "exit $rc, want 0"; }
check_json "$snaps/loadgen.json" 'j["streams_established"] == 1000' \
  'j["notifications_received"] == 3000' \
  'j["notifications_per_stream"] == {"min": 3, "max": 3}' \
  'j["publish"]["delivered_reported"] == 3000' \
  'j["delivery_ms"]["count"] == 3000' 'sum(j["errors"].values()) == 0' \
  'j["snapshots"]["failed"] == 0'
# Broadcast latency (Publish written -> arrival, every stream) covers the
# delivery latency (server hand-off -> arrival) of the same notifications,
# so each of its quantiles is at least delivery's.
check_json "$snaps/loadgen.json" 'j["broadcast_ms"]["count"] == 3000' \
  'j["broadcast_ms"]["p50"] <= j["broadcast_ms"]["p99"] <= j["broadcast_ms"]["max"]' \
  'all(j["broadcast_ms"][k] >= j["delivery_ms"][k] for k in ("p50","p90","p99","p999","max"))' \
  'j["broadcast_ms"]["max"] < 10000'
grep -q '^  broadcast n=3000 ' "$TMP/a.out" || fail "no broadcast line in the summary"
for phase in baseline plateau drained; do
  for f in heap.pb.gz goroutine.pb.gz; do
    gzip -t "$snaps/$phase.$f" || fail "$phase.$f is not gzip"
  done
done

note "5000 users multiplexed 500 per connection, 2 broadcasts"
timeout 120 "$LOADGEN" --target 127.0.0.1:$gport --streams 5000 \
  --streams-per-conn 500 --hold 1s --settle 200ms --publish 2 \
  --json "$TMP/b.json" --quiet >"$TMP/b.out" 2>&1
rc=$?
cat "$TMP/b.out"
[ $rc -eq 0 ] || { tail -20 "$TMP/notifier.log"; fail "multiplexed: exit $rc"; }
check_json "$TMP/b.json" 'j["streams_established"] == 5000' \
  'j["notifications_received"] == 10000' \
  'j["notifications_per_stream"] == {"min": 2, "max": 2}'
echo "PASS loadgen_notifier"
