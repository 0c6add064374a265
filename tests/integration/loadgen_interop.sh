#!/bin/bash
# loadgen against a gRPC server the project did not write (python3-grpcio,
# tests/loadgen/notifier_server.py): streams held, user ids, framing,
# publish fan-out and delivery, per-stream counts, drain, JSON.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"

start_py_server srv --user-prefix user-

note "300 users, one connection each, 3 broadcasts"
timeout 120 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 300 --hold 1s \
  --settle 200ms --publish 3 --payload-size 100 --json "$TMP/a.json" \
  --quiet >"$TMP/a.out" 2>&1
rc=$?
cat "$TMP/a.out"
[ $rc -eq 0 ] || fail "loadgen exit $rc, want 0"
check_json "$TMP/a.json" \
  'j["target"] == "127.0.0.1:'$PORT_srv'"' \
  'j["streams_requested"] == 300' 'j["streams_established"] == 300' \
  'j["streams_failed"] == 0' 'j["connections"] == 300' \
  'j["notifications_received"] == 900' 'j["notifications_expected"] == 900' \
  'j["notifications_per_stream"] == {"min": 3, "max": 3}' \
  'j["publish"]["ok"] == 3 and j["publish"]["delivered_reported"] == 900' \
  'j["connect_ms"]["count"] == 300' 'j["delivery_ms"]["count"] == 900' \
  'all(j[h][k] >= 0 for h in ("connect_ms","delivery_ms") for k in ("p50","p90","p99","p999","max"))' \
  'j["connect_ms"]["p50"] <= j["connect_ms"]["p99"] <= j["connect_ms"]["max"]' \
  'j["delivery_ms"]["max"] < 10000' \
  'j["broadcast_ms"]["count"] == 900' \
  'j["broadcast_ms"]["p50"] <= j["broadcast_ms"]["p99"] <= j["broadcast_ms"]["max"]' \
  'all(j["broadcast_ms"][k] >= j["delivery_ms"][k] for k in ("p50","p99","max"))' \
  'sum(j["errors"].values()) == 0' \
  'all(p in j["phases"] for p in ("baseline","plateau","published","hold_end","drained"))' \
  'j["phases"]["baseline"] <= j["phases"]["plateau"] <= j["phases"]["drained"]' \
  'j["ok"] is True'

note "1000 users multiplexed 100 per connection, 2 broadcasts, 3 threads"
timeout 120 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 1000 \
  --streams-per-conn 100 --threads 3 --hold 1s --settle 200ms --publish 2 \
  --json "$TMP/b.json" --quiet >"$TMP/b.out" 2>&1
rc=$?
cat "$TMP/b.out"
[ $rc -eq 0 ] || fail "multiplexed: exit $rc, want 0"
check_json "$TMP/b.json" 'j["connections"] == 10' \
  'j["streams_established"] == 1000' 'j["notifications_received"] == 2000' \
  'j["notifications_per_stream"] == {"min": 2, "max": 2}'

note "ramp at 400 streams/s takes about 1 s for 400 users"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 400 --rate 400 \
  --hold 0 --settle 0 --json "$TMP/c.json" --quiet >/dev/null 2>&1 ||
  fail "ramp run failed"
check_json "$TMP/c.json" 'j["streams_established"] == 400' \
  '0.8 <= j["establish_seconds"] <= 5.0'

note "--source-addrs 3: connections spread over 127.0.0.1-3"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 30 \
  --source-addrs 3 --hold 20s --settle 0 >"$TMP/sa.out" 2>&1 &
lg=$!
PIDS+=($lg)
# Wait for the hold phase: every stream answered (so the server counted its
# Connect), not merely every TCP connection established.
deadline=$((SECONDS + 20))
until grep -q "^hold .*connected 30/30" "$TMP/sa.out"; do
  [ $SECONDS -ge $deadline ] && fail "source-addrs: not connected: $(tail -3 "$TMP/sa.out")"
  sleep 0.05
done
for a in 127.0.0.1 127.0.0.2 127.0.0.3; do
  n=$(ss -Htn state established "( dport = :$PORT_srv and src $a )" | wc -l)
  [ "$n" -eq 10 ] || fail "source-addrs: $n connections from $a, want 10"
done
kill -INT $lg   # ends the hold early: the run reports "interrupted", exit 1
wait $lg
[ $? -eq 1 ] || fail "interrupted run: want exit 1"

stop_py_server srv
check_json "$TMP/srv.stats" \
  'j["connects"] == 1730' 'j["unique_users"] == 1000' \
  'j["users_match_prefix"]' 'j["bad_requests"] == 0' \
  'j["publishes"] == 5' 'j["max_open"] >= 1000'
echo "PASS loadgen_interop"
