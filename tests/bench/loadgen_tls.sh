#!/bin/bash
# Benchmark: what a held stream costs the loadgen with TLS next to
# plaintext. BENCH_TLS_USERS (3000) users, one connection each, hold a
# Join stream on python3-grpcio's chat.Room (tests/loadgen/chat_server.py),
# one server over TLS (a certificate made here) and one in plaintext;
# the loadgen's RSS per user over its own baseline at the plateau
# (client_rss_bytes_per_stream), alternating pairs, BENCH_ROUNDS (3),
# medians. The goal: TLS within 8 KiB of plaintext. Figures in
# build/bench/loadgen_tls.json.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
N=${BENCH_TLS_USERS:-3000}
ROUNDS=${BENCH_ROUNDS:-3}
OUT=build/bench/loadgen_tls.json
mkdir -p build/bench
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"
ulimit -n 20000 2>/dev/null

make_certs "$TMP/pki"
start_chat tls --tls-cert "$TMP/pki/server.pem" --tls-key "$TMP/pki/server.key"
start_chat plain
ARGS=(--call chat.Room/Join --proto tests/loadgen/proto/chat.proto
  --data 'room: "bench" user { name: "u{user}" id: {user} }'
  --streams "$N" --hold 1s --settle 1s --threads 1 --rate 1500
  --ramp-timeout 60s --quiet)

for r in $(seq "$ROUNDS"); do
  note "round $r of $ROUNDS: $N users, plaintext then TLS"
  timeout 180 "$LOADGEN" --target 127.0.0.1:$PORT_plain "${ARGS[@]}" \
    --json "$TMP/plain_$r.json" >/dev/null 2>&1 || fail "plaintext round $r"
  timeout 180 "$LOADGEN" --target 127.0.0.1:$PORT_tls --cacert "$TMP/pki/ca.pem" \
    "${ARGS[@]}" --json "$TMP/tls_$r.json" >/dev/null 2>&1 || fail "TLS round $r"
done

$PY - "$TMP" "$ROUNDS" "$N" "$OUT" <<'PYEOF'
import json, statistics, sys
tmp, rounds, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per = {k: [json.load(open("%s/%s_%d.json" % (tmp, k, r)))["client_rss_bytes_per_stream"]
           for r in range(1, rounds + 1)] for k in ("plain", "tls")}
med = {k: statistics.median(v) for k, v in per.items()}
diff = med["tls"] - med["plain"]
res = {"users": n, "rounds": rounds, "bytes_per_user": per, "median": med,
       "tls_extra_bytes_per_user": diff, "goal_bytes": 8192, "goal_met": diff <= 8192}
json.dump(res, open(out, "w"), indent=1)
print("\n%d users, one connection each, medians of %d alternating pairs:" % (n, rounds))
print("  loadgen RSS per held stream, plaintext  %8.0f bytes" % med["plain"])
print("  loadgen RSS per held stream, TLS        %8.0f bytes" % med["tls"])
print("  TLS costs %.0f bytes more per user (%.2fx); goal: within 8192: %s"
      % (diff, med["tls"] / med["plain"], "met" if diff <= 8192 else "NOT met"))
print("figures in %s" % out)
PYEOF
