#!/bin/bash
# loadgen over TLS against python3-grpcio (chat.Room, its certificate made
# here with Debian's openssl): trusted through --cacert for held streams
# and unary calls; refused without it, at once and with X.509's reason,
# even with --reconnect (no retry loop); a wrong --server-name refused;
# --insecure accepted and said on stderr; and TLS against a plaintext
# server (and the other way round) failing with a message.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"
PROTO=tests/loadgen/proto/chat.proto
JOIN=(--call chat.Room/Join --proto "$PROTO" --latency-field 5
  --data 'room: "tls" user { name: "u{user}" id: {user} } tags: [1, {user}]')
SAY=(--call chat.Room/Say --proto "$PROTO" --data 'from_id: {user}')

make_certs "$TMP/pki"
start_chat tls --tls-cert "$TMP/pki/server.pem" --tls-key "$TMP/pki/server.key"
start_chat plain

note "--cacert: 100 held streams, one connection each, and unary calls"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_tls --cacert "$TMP/pki/ca.pem" \
  "${JOIN[@]}" --streams 100 --hold 500ms --settle 100ms \
  --json "$TMP/a.json" --quiet >"$TMP/a.out" 2>&1
rc=$?
cat "$TMP/a.out"
[ $rc -eq 0 ] || fail "TLS streams: exit $rc, want 0"
check_json "$TMP/a.json" 'j["tls"] is True' 'j["streams_established"] == 100' \
  'j["messages_received"] == 100' 'sum(j["errors"].values()) == 0'
grep -q "over TLS" "$TMP/a.out" || fail "the summary says TLS"
timeout 60 "$LOADGEN" --target localhost:$PORT_tls --tls --cacert \
  "$TMP/pki/ca.pem" "${SAY[@]}" --rps 100 --duration 1s --streams 4 \
  --json "$TMP/b.json" --quiet >/dev/null 2>&1 || fail "TLS unary: want exit 0"
check_json "$TMP/b.json" 'j["calls"]["ok"] == 100'

note "not trusted: the run fails at once, with the reason, without retrying"
start=$SECONDS
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_tls --tls "${JOIN[@]}" \
  --streams 20 --reconnect --hold 30s --ramp-timeout 30s \
  --json "$TMP/c.json" >"$TMP/c.out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "untrusted: exit $rc, want 1"
[ $((SECONDS - start)) -le 10 ] || fail "untrusted: took $((SECONDS - start)) s: a retry loop?"
check_json "$TMP/c.json" '"did not verify" in j["reason"]' \
  '"unable to get local issuer certificate" in j["reason"]' \
  'j["errors"]["tls"] >= 1' 'j["streams_established"] == 0' \
  'j["establishments"] == 0'
grep -q "result: FAILED: TLS: the server's certificate did not verify" "$TMP/c.out" ||
  { cat "$TMP/c.out"; fail "untrusted: the summary says why"; }

note "a --server-name the certificate does not have"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_tls --cacert "$TMP/pki/ca.pem" \
  --server-name wrong.example "${JOIN[@]}" --streams 3 --hold 0 --settle 0 \
  --json "$TMP/d.json" --quiet >/dev/null 2>&1
[ $? -eq 1 ] || fail "wrong name: want exit 1"
check_json "$TMP/d.json" '"hostname mismatch" in j["reason"]'
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_tls --cacert "$TMP/pki/ca.pem" \
  --server-name localhost "${JOIN[@]}" --streams 3 --hold 0 --settle 0 \
  --quiet >/dev/null 2>&1 || fail "--server-name localhost: want exit 0"

note "--insecure: accepted, and said"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_tls --insecure "${JOIN[@]}" \
  --streams 3 --hold 0 --settle 0 --quiet >"$TMP/e.out" 2>&1 ||
  fail "--insecure: want exit 0"
grep -q "NOT verified" "$TMP/e.out" || fail "--insecure is said on stderr"

note "TLS against a plaintext server, plaintext against a TLS one"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_plain --insecure "${JOIN[@]}" \
  --streams 3 --hold 0 --settle 0 --json "$TMP/f.json" --quiet >/dev/null 2>&1
[ $? -eq 1 ] || fail "TLS to plaintext: want exit 1"
check_json "$TMP/f.json" '"TLS handshake" in j["reason"]' 'j["errors"]["tls"] >= 1'
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_tls "${JOIN[@]}" \
  --streams 3 --hold 0 --settle 0 --connect-timeout 2s --json "$TMP/g.json" \
  --quiet >/dev/null 2>&1
[ $? -eq 1 ] || fail "plaintext to TLS: want exit 1"
check_json "$TMP/g.json" 'j["streams_established"] == 0' \
  'sum(j["errors"].values()) >= 3'

note "an unusable --cacert: a usage error before anything connects"
"$LOADGEN" --check --target 127.0.0.1:$PORT_tls --cacert "$TMP/nope.pem" \
  "${JOIN[@]}" >"$TMP/h.out" 2>&1
[ $? -eq 2 ] || fail "missing --cacert: want exit 2"
grep -q "nope.pem: No such file" "$TMP/h.out" || fail "missing --cacert: says so"
echo "PASS loadgen_tls"
