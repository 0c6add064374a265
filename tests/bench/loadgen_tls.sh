#!/bin/bash
# Benchmark: what a held stream costs the loadgen with TLS next to
# plaintext. BENCH_TLS_USERS (3000) users, one connection each, hold a
# Join stream on python3-grpcio's chat.Room (tests/loadgen/chat_server.py),
# one server over TLS (a certificate made here) and one in plaintext;
# the loadgen's RSS per user over its own baseline at the plateau
# (client_rss_bytes_per_stream), alternating pairs, BENCH_ROUNDS (3),
# medians. The goal: TLS within 8 KiB of plaintext. Figures in
# build/bench/loadgen_tls.json. LOADGEN_BASE=PATH (another build, e.g.
# main's) holds the same TLS users in each round, for before/after ratios
# of memory and of connect time (TCP connect to the first response).
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
N=${BENCH_TLS_USERS:-3000}
ROUNDS=${BENCH_ROUNDS:-3}
bench_start loadgen_tls
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
  [ -z "$BASE" ] || timeout 180 "$BASE" --target 127.0.0.1:$PORT_tls \
    --cacert "$TMP/pki/ca.pem" "${ARGS[@]}" --json "$TMP/base_$r.json" \
    >/dev/null 2>&1 || fail "LOADGEN_BASE TLS round $r"
done

$PY - "$TMP" "$ROUNDS" "$N" "$OUT" "$BASE" <<'PYEOF'
import json, statistics, sys
tmp, rounds, n, out, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
kinds = ("plain", "tls") + (("base",) if base else ())
runs = {k: [json.load(open("%s/%s_%d.json" % (tmp, k, r))) for r in range(1, rounds + 1)]
        for k in kinds}
per = {k: [j["client_rss_bytes_per_stream"] for j in v] for k, v in runs.items()}
conn = {k: [j["connect_ms"]["p50"] for j in v] for k, v in runs.items()}
med = {k: statistics.median(v) for k, v in per.items()}
cmed = {k: statistics.median(v) for k, v in conn.items()}
diff = med["tls"] - med["plain"]
res = {"users": n, "rounds": rounds, "bytes_per_user": per, "median": med,
       "connect_p50_ms": conn, "median_connect_p50_ms": cmed,
       "tls_extra_bytes_per_user": diff, "goal_bytes": 8192, "goal_met": diff <= 8192}
if base:
    res["baseline"] = base
    res["ratio_tls_bytes_vs_base"] = med["tls"] / med["base"]
    res["ratio_tls_connect_p50_vs_base"] = cmed["tls"] / cmed["base"]
json.dump(res, open(out, "w"), indent=1)
print("\n%d users, one connection each, medians of %d alternating pairs:" % (n, rounds))
print("  loadgen RSS per held stream, plaintext  %8.0f bytes" % med["plain"])
print("  loadgen RSS per held stream, TLS        %8.0f bytes" % med["tls"])
print("  TLS costs %.0f bytes more per user (%.2fx); goal: within 8192: %s"
      % (diff, med["tls"] / med["plain"], "met" if diff <= 8192 else "NOT met"))
print("  connect p50: plaintext %.1f ms, TLS %.1f ms" % (cmed["plain"], cmed["tls"]))
if base:
    print("against LOADGEN_BASE (%s), TLS:" % base)
    print("  RSS per held stream %8.0f vs %8.0f bytes (%.3fx)" % (med["tls"], med["base"], res["ratio_tls_bytes_vs_base"]))
    print("  connect p50         %8.1f vs %8.1f ms    (%.2fx)" % (cmed["tls"], cmed["base"], res["ratio_tls_connect_p50_vs_base"]))
print("figures in %s" % out)
PYEOF
