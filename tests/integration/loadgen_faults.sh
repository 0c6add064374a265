#!/bin/bash
# loadgen when things go wrong: bad flags (exit 2), a plan that cannot fit
# the open-file limit (exit 2 with advice), refused connections, a server
# that never answers (the phase deadline ends the run), grpc-status errors,
# streams the server ends, oversized messages, and --reconnect across a
# server restart. Each case checks the exit code and the counted cause.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"

note "bad flags: exit 2 with a message"
for args in "--streams 0" "--hold 5parsecs" "--target nohost" "--bogus" \
    "--snapshot-url http://127.0.0.1:1" "--rate -3"; do
  # shellcheck disable=SC2086
  timeout 10 "$LOADGEN" $args >"$TMP/o" 2>&1
  rc=$?
  [ $rc -eq 2 ] || fail "'$args': exit $rc, want 2"
  grep -q "loadgen: " "$TMP/o" || fail "'$args': no message"
done

note "open-file limit too small: exit 2 before connecting, with advice"
(ulimit -n 1000 && timeout 10 "$LOADGEN" --target 127.0.0.1:1 --streams 5000) \
  >"$TMP/o" 2>&1
rc=$?
cat "$TMP/o"
[ $rc -eq 2 ] || fail "fd limit: exit $rc, want 2"
grep -q -- "--streams-per-conn 6" "$TMP/o" || fail "fd limit: no advice"

note "connection refused: counted, exit 1, quickly"
port=$(free_port)
start=$SECONDS
timeout 30 "$LOADGEN" --target 127.0.0.1:$port --streams 20 --hold 5s \
  --settle 0 --json "$TMP/refused.json" --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "refused: exit $rc, want 1"
check_json "$TMP/refused.json" 'j["errors"]["refused"] == 20' \
  'j["streams_established"] == 0' 'j["streams_failed"] == 20' \
  'j["ok"] is False'

note "a server that accepts and never answers: the ramp deadline ends it"
$PY -c '
import socket, sys, os, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(100)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
s.settimeout(1)
end = time.time() + 120
while time.time() < end:
    try: held.append(s.accept()[0])
    except socket.timeout: pass
' "$TMP/silent.port" &
PIDS+=($!)
wait_file "$TMP/silent.port" 10 || fail "silent server did not start"
start=$SECONDS
timeout 60 "$LOADGEN" --target 127.0.0.1:$(cat "$TMP/silent.port") \
  --streams 10 --ramp-timeout 1s --hold 0 --settle 0 --drain-timeout 2s \
  --json "$TMP/silent.json" --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "silent: exit $rc, want 1"
[ $((SECONDS - start)) -le 10 ] || fail "silent: took $((SECONDS - start)) s"
check_json "$TMP/silent.json" 'j["errors"]["timeout"] == 10' \
  'j["streams_established"] == 0'

note "grpc-status UNAVAILABLE on every Connect"
start_py_server unavail --mode unavailable
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_unavail --streams 15 \
  --streams-per-conn 5 --hold 0 --settle 0 --json "$TMP/unavail.json" \
  --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "unavailable: exit $rc, want 1"
check_json "$TMP/unavail.json" 'j["errors"]["grpc_status"] == 15' \
  'j["streams_established"] == 0' '"no users today" in j["last_error"]'

note "the server ends every stream after 0.5 s: not held"
start_py_server ends --mode end-after --after 0.5
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_ends --streams 10 --hold 2s \
  --settle 0 --json "$TMP/ends.json" --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "end-after: exit $rc, want 1"
check_json "$TMP/ends.json" 'j["errors"]["ended"] == 10' \
  'j["streams_established_peak"] == 10' 'j["streams_established"] == 0'

note "a message over --max-message: stream reset, counted"
start_py_server big --mode oversize
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_big --streams 4 --hold 1s \
  --settle 0 --json "$TMP/big.json" --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "oversize: exit $rc, want 1"
check_json "$TMP/big.json" 'j["errors"]["bad_message"] == 4' \
  '"larger than the cap" in j["last_error"]'

note "--reconnect: the server restarts during the hold, every user comes back"
port=$(free_port)
start_py_server r1 --port "$port"
timeout 90 "$LOADGEN" --target 127.0.0.1:$port --streams 40 --streams-per-conn 4 \
  --reconnect --hold 10s --settle 0 --json "$TMP/re.json" \
  >"$TMP/re.out" 2>&1 &
lg=$!
PIDS+=($lg)
# Every stream answered by the first server (the hold has begun), not just
# its TCP connections, before that server goes away.
deadline=$((SECONDS + 30))
until grep -q "^hold .*connected 40/40" "$TMP/re.out"; do
  [ $SECONDS -ge $deadline ] && fail "reconnect: loadgen never connected"
  sleep 0.1
done
stop_py_server r1
start_py_server r2 --port "$port"
wait $lg
rc=$?
cat "$TMP/re.out"
[ $rc -eq 0 ] || fail "reconnect: exit $rc, want 0"
check_json "$TMP/re.json" 'j["streams_established"] == 40' \
  'j["establishments"] >= 80' 'j["failure_events"] >= 40'
echo "PASS loadgen_faults"
