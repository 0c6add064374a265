#!/bin/bash
# loadgen on the wire, against tests/loadgen/raw_h2_server.py, a minimal
# HTTP/2 server that does one precise thing per mode: gRPC messages cut
# across DATA frames and packed together, PING (loadgen must ACK), GOAWAY,
# RST_STREAM, a compressed message that was never negotiated, and an HPACK
# protocol error.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"

start_raw() { # NAME MODE [args]
  local name=$1 mode=$2; shift 2
  set -- "$name" "$mode" "$@"
  $PY tests/loadgen/raw_h2_server.py "$TMP/$1.port" --mode "$2" "${@:3}" \
    --stats-file "$TMP/$1.stats" >"$TMP/$1.log" 2>&1 &
  PIDS+=($!)
  printf -v "PID_$1" '%s' "$!"
  wait_file "$TMP/$1.port" 10 || fail "raw server $1 did not start"
  printf -v "PORT_$1" '%s' "$(cat "$TMP/$1.port")"
}

# against NAME WANT [FLAGS...]: the loadgen against raw server NAME with
# FLAGS, its result in $TMP/NAME.json; fails unless it exits WANT.
against() {
  local name=$1 want=$2 port rc
  shift 2
  port=PORT_$name
  timeout 60 "$LOADGEN" --target "127.0.0.1:${!port}" --settle 0 \
    --json "$TMP/$name.json" --quiet "$@" >/dev/null 2>&1
  rc=$?
  [ $rc -eq "$want" ] || fail "$name: exit $rc, want $want"
}

note "messages split across DATA frames and packed together; PING ACKed"
start_raw split split
against split 0 --streams 6 --streams-per-conn 3 --hold 500ms
check_json "$TMP/split.json" 'j["streams_established"] == 6' \
  'j["notifications_received"] == 18' \
  'j["notifications_per_stream"] == {"min": 3, "max": 3}' \
  'j["delivery_ms"]["count"] == 18' 'sum(j["errors"].values()) == 0'
kill $PID_split
wait_file "$TMP/split.stats" 10 || fail "split: no stats"
check_json "$TMP/split.stats" 'j["connections"] == 2' 'j["streams"] == 6' \
  'j["ping_acks"] == 2'

note "GOAWAY then close: counted as goaway"
start_raw goaway goaway
against goaway 1 --streams 4 --hold 1s
check_json "$TMP/goaway.json" 'j["errors"]["goaway"] == 4' \
  'j["streams_established"] == 0'

note "RST_STREAM from the server: counted as reset"
start_raw rst rst
against rst 1 --streams 5 --streams-per-conn 5 --hold 500ms
check_json "$TMP/rst.json" 'j["errors"]["reset"] == 5'

note "a compressed message: the stream is reset and counted"
start_raw comp compressed
against comp 1 --streams 3 --hold 500ms
check_json "$TMP/comp.json" 'j["errors"]["bad_message"] == 3' \
  '"compressed" in j["last_error"]'
note "a server breaking HPACK (no table size update): protocol error"
start_raw hpack split --no-table-size-update
against hpack 1 --streams 4 --streams-per-conn 2 --hold 500ms
check_json "$TMP/hpack.json" 'j["errors"]["protocol"] == 4' \
  '"COMPRESSION_ERROR" in j["last_error"]'
echo "PASS loadgen_wire"
