#!/bin/bash
# loadgen against a service of the tests' own (chat.Room,
# tests/loadgen/proto/chat.proto) on python3-grpcio, a gRPC server the
# project did not write: held server streams whose per-user requests the
# server sees as distinct users, --protoset, unary calls at a fixed rate
# counted by the server, a bearer token sent with -H and its absence
# counted as UNAUTHENTICATED, and --check refusing bad knobs before
# anything runs. TLS is loadgen_tls.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"
PROTO=tests/loadgen/proto/chat.proto
JOIN=(--call chat.Room/Join --proto "$PROTO" --latency-field 5)
SAY=(--call chat.Room/Say --proto "$PROTO")
DATA='room: "lobby" user { name: "u{user}" id: {user} } tags: [1, {user}]'

start_chat srv --events 2 --filler 10

note "300 users hold Join streams, 3 per connection; per-user requests"
timeout 120 "$LOADGEN" --target 127.0.0.1:$PORT_srv "${JOIN[@]}" \
  --data "$DATA" --streams 300 --streams-per-conn 3 --hold 1s --settle 200ms \
  --json "$TMP/a.json" --quiet >"$TMP/a.out" 2>&1
rc=$?
cat "$TMP/a.out"
[ $rc -eq 0 ] || fail "streams: exit $rc, want 0"
# Each Event: text "e0"/"e1" (4 bytes), at_unix_nanos (10), filler (12).
check_json "$TMP/a.json" 'j["call"] == "chat.Room/Join"' \
  'j["method_kind"] == "server_streaming"' \
  'j["streams_established"] == 300' 'j["connections"] == 100' \
  'j["messages_received"] == 600' 'j["notifications_received"] == 600' \
  'j["bytes_received"] == 600 * 26' \
  'j["messages_per_stream"] == {"min": 2, "max": 2}' \
  'j["delivery_ms"]["count"] == 600' 'j["delivery_ms"]["max"] < 10000' \
  'j["broadcast_ms"]["count"] == 0' 'sum(j["errors"].values()) == 0' \
  'j["ok"] is True'

note "--protoset: the same call from a compiled descriptor set"
protoc --include_imports --descriptor_set_out="$TMP/chat.pb" \
  -Itests/loadgen/proto chat.proto || fail "protoc"
printf '%s\n' 'room: "side"  # a comment with {user} in it' \
  'user { name: "u{user}" id: {user} } tags: [1, {user}]' >"$TMP/data.txt"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --call /chat.Room/Join \
  --protoset "$TMP/chat.pb" --data-file "$TMP/data.txt" --streams 20 \
  --hold 0 --settle 0 --json "$TMP/b.json" --quiet >"$TMP/b.out" 2>&1 ||
  { cat "$TMP/b.out"; fail "protoset run failed"; }
check_json "$TMP/b.json" 'j["streams_established"] == 20' \
  'j["delivery_ms"]["count"] == 0' # no --latency-field: none measured

note "unary Say at 200 calls/s for 3 s, 10 users"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv "${SAY[@]}" \
  --data 'room: "lobby" text: "hi from {user}" from_id: {user}' \
  --rps 200 --duration 3s --streams 10 --json "$TMP/c.json" --quiet \
  >"$TMP/c.out" 2>&1
rc=$?
cat "$TMP/c.out"
[ $rc -eq 0 ] || fail "unary: exit $rc, want 0"
check_json "$TMP/c.json" 'j["method_kind"] == "unary"' \
  'j["calls"]["scheduled"] == 600' 'j["calls"]["sent"] == 600' \
  'j["calls"]["ok"] == 600' 'j["calls"]["failed"] == 0' \
  'j["call_ms"]["count"] == 600' \
  'j["call_ms"]["p50"] <= j["call_ms"]["p99"] <= j["call_ms"]["max"]' \
  'j["histograms"]["call_ms"]["count"] == 600' \
  'j["streams_established"] == 10' 'j["ok"] is True'

note "a bearer token the server requires"
start_chat auth --token s3cret
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_auth "${SAY[@]}" \
  -H 'Authorization: Bearer s3cret' --data 'from_id: {user}' --rps 100 \
  --duration 1s --streams 4 --json "$TMP/d.json" --quiet >/dev/null 2>&1 ||
  fail "with the token: want exit 0"
check_json "$TMP/d.json" 'j["calls"]["ok"] == 100' \
  'j["errors"].get("UNAUTHENTICATED", 0) == 0'
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_auth "${SAY[@]}" \
  --data 'from_id: {user}' --rps 100 --duration 1s --streams 4 \
  --json "$TMP/e.json" --quiet >"$TMP/e.out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "without the token: exit $rc, want 1"
check_json "$TMP/e.json" 'j["calls"]["sent"] == 100' \
  'j["calls"]["ok"] == 0' 'j["calls"]["failed"] == 100' \
  'j["errors"]["UNAUTHENTICATED"] == 100' 'j["errors"]["grpc_status"] == 100' \
  '"missing bearer token" in j["last_error"]' \
  '"100 of 100 calls did not succeed" in j["reason"]'
grep -q "UNAUTHENTICATED=100" "$TMP/e.out" || fail "the summary names UNAUTHENTICATED"
# --max-errors: the goal is a share of failures, not none
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_auth "${SAY[@]}" \
  --rps 50 --duration 1s --streams 2 --max-errors 100 --quiet >/dev/null 2>&1 ||
  fail "--max-errors 100: want exit 0"
# held streams without the token fail the same way
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_auth "${JOIN[@]}" --data "$DATA" \
  --streams 5 --hold 0 --settle 0 --json "$TMP/f.json" --quiet >/dev/null 2>&1
[ $? -eq 1 ] || fail "streams without the token: want exit 1"
check_json "$TMP/f.json" 'j["errors"]["UNAUTHENTICATED"] == 5' \
  'j["streams_established"] == 0'

note "--check: every knob judged before anything runs"
"$LOADGEN" --check --target 127.0.0.1:$PORT_srv "${SAY[@]}" --rps 10 \
  --data 'from_id: {user}' >"$TMP/g.out" 2>&1 || fail "--check of good knobs"
grep -q "OK: chat.Room/Say (unary)" "$TMP/g.out" || fail "--check says what it checked"
for bad in "--data bogus:1" "--data from_id:true" "--latency-field 1" \
    "--rps 10 -H te:x" "--rps 0.0" "--rps 10 --duration 5"; do
  # shellcheck disable=SC2086
  "$LOADGEN" --check "${SAY[@]}" $bad >"$TMP/h.out" 2>&1
  rc=$?
  [ $rc -eq 2 ] || fail "--check $bad: exit $rc, want 2"
  grep -q "^loadgen: " "$TMP/h.out" || fail "--check $bad: no message"
done
"$LOADGEN" --check "${SAY[@]}" --rps 10 --data bogus:1 2>&1 |
  grep -q 'no field named "bogus"' || fail "--check passes protoc's words on"

stop_py_server srv
check_json "$TMP/srv.stats" 'j["joins"] == 320' 'j["max_open"] >= 300' \
  'j["unique_names"] == 300' 'j["unique_ids"] == 300' \
  'j["min_id"] == 0 and j["max_id"] == 299' \
  'j["names_match_ids"] is True' 'j["tags_ok"] is True' \
  'j["rooms"] == ["lobby", "side"]' \
  '582 <= j["says"] <= 618' 'j["say_unique_from"] == 10' \
  '2.7 <= j["say_span_s"] <= 3.3'
stop_py_server auth
check_json "$TMP/auth.stats" 'j["authorized"] == 100' \
  'j["unauthenticated"] == 155'
echo "PASS loadgen_any"
