#!/bin/bash
# The workflow for a service of your own, through make as users run it,
# with a gRPC server the project did not write (tests/loadgen/chat_server.py,
# python3-grpcio) as "your service": make local SERVICE=... SERVICE_PORT=...
# starts it under libnprof's preload; make load-test holds streams on it
# and, unary, calls it at a fixed rate with a bearer token; each run gets
# snapshots (read by the real go tool pprof), run.json, the timeline and the
# report; bad knobs fail before the service starts; a service that exits
# at once is reported with its log; clean-local stops it.
# Ports are picked free; state and snapshots go to a temporary folder; every
# wait is bounded; the trap stops what was started.
set -uo pipefail
cd "$(dirname "$0")/../.."

. tests/lib/checks.sh
. tests/lib/workflow.sh ws
P=$(free_port)

latest() { ls -td "$SNAPSHOT_ROOT"/*-"$1" 2>/dev/null | head -1; }

SVC="/usr/bin/python3 tests/loadgen/chat_server.py --port $P --port-file $TMP/port --stats-file $TMP/stats --token s3cret"
PROTO=tests/loadgen/proto/chat.proto
JOIN_DATA='room: "lobby" user { name: "u{user}" id: {user} } tags: [1, {user}]'

# Bad knobs: judged before the service is started.
expect_fail "CALL missing" "CALL=PKG.SERVICE/METHOD is needed" \
  make -s load-test TARGET=127.0.0.1:$P SERVICE="$SVC" SERVICE_PORT=$P
expect_fail "a unary method without RPS" "give --rps" \
  make -s load-test TARGET=127.0.0.1:$P CALL=chat.Room/Say PROTO=$PROTO SERVICE="$SVC"
expect_fail "DATA protoc refuses" 'no field named "nick"' \
  make -s load-test TARGET=127.0.0.1:$P CALL=chat.Room/Join PROTO=$PROTO DATA='nick: "x"' SERVICE="$SVC"
expect_fail "a reserved header" "reserved" \
  make -s load-test TARGET=127.0.0.1:$P CALL=chat.Room/Join PROTO=$PROTO HEADERS='te: x' SERVICE="$SVC"
[ ! -e "$LOCAL_STATE/service.pid" ] && ok "  ...the service was never started" || bad "  ...the service was never started"

# A service that exits at once: reported with its log's tail.
expect_fail "a service that exits at once" "exited at once (status 3)" \
  make -s local SERVICE='/usr/bin/python3 -c "import sys; print(\"no config file\"); sys.exit(3)"'
grep -q "no config file" "$TMP/out" && ok "  ...with the tail of its log" || bad "  ...with the tail of its log"

expect "make local SERVICE=... SERVICE_PORT=..." make -s local SERVICE="$SVC" SERVICE_PORT=$P
pid=$(cat "$LOCAL_STATE/service.pid" 2>/dev/null)
grep -q "libnprof.so" "/proc/$pid/maps" 2>/dev/null && ok "  ...libnprof preloaded into it" || bad "  ...libnprof preloaded into it"
curl -fsS "http://127.0.0.1:$DEBUG_PORT/debug/vars" | grep -q 'chat_server.py' &&
  ok "  ...its /debug/vars answer on DEBUG_PORT" || bad "  ...its /debug/vars answer"
expect "make local again: already up" make -s local SERVICE="$SVC" SERVICE_PORT=$P
grep -q "already up" "$TMP/out" && ok "  ...says so" || bad "  ...says so"

expect "make load-test: held streams with a bearer token" \
  make -s load-test TARGET=127.0.0.1:$P CALL=chat.Room/Join PROTO=$PROTO \
  DATA="$JOIN_DATA" LATENCY_FIELD=5 HEADERS='authorization: Bearer s3cret' \
  TEST_COUNT=60 HOLD=2s
run=$(latest 60)
for phase in baseline plateau drained; do
  f=$run/$phase.heap.pb.gz
  if [ -s "$f" ] && go tool pprof -symbolize=none -top "$f" >"$TMP/top" 2>&1; then
    ok "go tool pprof reads the service's $phase.heap.pb.gz"
  else
    bad "go tool pprof reads $phase.heap.pb.gz"; tail -3 "$TMP/top"
  fi
done
[ -s "$run/report.md" ] && [ -s "$run/report.html" ] && ok "report.md and report.html" || bad "report.md and report.html"
grep -q "^60 users: " "$TMP/out" && ok "  ...the report's headline for 60 users" || bad "  ...headline"
if /usr/bin/python3 - "$run" "$SVC" <<'PY'
import json, sys
d, svc = sys.argv[1], sys.argv[2]
r = json.load(open(d + "/run.json"))
assert r["call"] == "chat.Room/Join" and r["proto"].endswith("chat.proto"), r
assert r["service"] == svc and r["mode"] == "native", (r, svc)
assert r["headers"] == ["authorization"], r
assert "Bearer" not in open(d + "/run.json").read()  # names, never values
j = json.load(open(d + "/loadgen.json"))
assert j["streams_established"] == 60 and j["messages_received"] == 60, j
assert j["delivery_ms"]["count"] == 60 and j["ok"] is True, j
lines = [json.loads(l) for l in open(d + "/timeline.jsonl")]
assert len(lines) >= 4 and all(l["vars"] for l in lines), len(lines)
assert max(l["loadgen"]["connected"] for l in lines) == 60
PY
then ok "  ...run.json, loadgen.json, timeline.jsonl"; else bad "  ...run folder contents"; fi

expect "make load-test: unary at RPS=40 for 2s" \
  make -s load-test TARGET=127.0.0.1:$P CALL=chat.Room/Say PROTO=$PROTO \
  DATA='from_id: {user}' RPS=40 DURATION=2s HEADERS='authorization: Bearer s3cret' \
  TEST_COUNT=4
run=$(latest 4)
grep -q '"method_kind": "unary"' "$run/run.json" && grep -q '"ok": 80' "$run/loadgen.json" &&
  ok "  ...80 calls ok" || bad "  ...80 calls ok"
[ -s "$run/plateau.heap.pb.gz" ] && ok "  ...plateau snapshot under the calls" || bad "  ...plateau snapshot"
expect_fail "without the token: the run fails, UNAUTHENTICATED counted" "UNAUTHENTICATED=40" \
  make -s load-test TARGET=127.0.0.1:$P CALL=chat.Room/Say PROTO=$PROTO RPS=40 DURATION=1s TEST_COUNT=3

expect "make clean-local stops the service" make -s clean-local
grep -q "stopping the service" "$TMP/out" && ok "  ...says so" || bad "  ...says so"
kill -0 "$pid" 2>/dev/null && bad "  ...process gone" || ok "  ...process gone"
[ -s "$(latest 60)/plateau.heap.pb.gz" ] && ok "  ...snapshots kept" || bad "  ...snapshots kept"
/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["unique_names"] == 60 and s["names_match_ids"] and s["tags_ok"], s
assert s["says"] == 80 and s["authorized"] == 140, s
assert s["unauthenticated"] == 40, s
' "$TMP/stats" && ok "the service saw 60 distinct users, 80 calls, 40 refused unauthenticated" || { bad "the service's own counts"; cat "$TMP/stats"; }

expect_fail "load-test with nothing on DEBUG_PORT" "nothing answers at" \
  make -s load-test TARGET=127.0.0.1:$P CALL=chat.Room/Join PROTO=$PROTO TEST_COUNT=2

tally workflow_service
