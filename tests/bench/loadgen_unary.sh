#!/bin/bash
# Benchmark: unary calls from one loadgen core (--threads 1, 4 connections)
# against a trivial gRPC server in C (build/bin/h2_trivial_server: one
# empty message and grpc-status 0 per call), side by side with h2load on
# the same HTTP/2 path and the same request. Client and server share this
# machine's two cores, so besides the calls per second achieved, each
# client's own CPU time per call is measured (user + sys over the calls,
# /usr/bin/time), which the server does not set:
#   - at a fixed rate both keep (BENCH_UNARY_RPS, 20,000/s): CPU per call
#   - saturated (loadgen asked for far more than it can send; h2load
#     unlimited): calls per second achieved, and CPU per call
# Alternating pairs, BENCH_ROUNDS (5) of each, medians; figures in
# build/bench/loadgen_unary.json. LOADGEN_BASE=PATH (another build of the
# loadgen, e.g. main's) runs in the same rounds, next to each loadgen run,
# for before/after ratios.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
SERVER=build/bin/h2_trivial_server
RPS=${BENCH_UNARY_RPS:-20000}
SECS=${BENCH_UNARY_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-5}
bench_start loadgen_unary
[ -x "$SERVER" ] || fail "$SERVER not built (make $SERVER)"
command -v h2load >/dev/null || fail "h2load missing (nghttp2-client)"

"$SERVER" "$TMP/server.port" >"$TMP/server.log" 2>&1 &
PIDS+=($!)
wait_file "$TMP/server.port" 10 || fail "the trivial server did not start"
PORT=$(cat "$TMP/server.port")
URL=http://127.0.0.1:$PORT/notifier.Notifier/Publish
# The same request for both: PublishRequest{user_id: "abcd"}, framed.
$PY -c 'import struct, sys; m = b"\x0a\x04abcd"
sys.stdout.buffer.write(b"\x00" + struct.pack(">I", len(m)) + m)' >"$TMP/body.bin"

# run_loadgen NAME RPS [PROGRAM]: writes NAME.json and NAME.time (user sys
# wall)
run_loadgen() {
  /usr/bin/time -f "%U %S %e" -o "$TMP/$1.time" timeout 120 "${3:-$LOADGEN}" \
    --target 127.0.0.1:$PORT --call notifier.Notifier/Publish \
    --data 'user_id: "abcd"' --rps "$2" --duration ${SECS}s --threads 1 \
    --streams 4 --concurrency 400 --settle 0 --max-errors 100 \
    --json "$TMP/$1.json" --quiet >/dev/null 2>&1 || fail "loadgen $1"
}
# run_h2load NAME [--rps PER_CLIENT]: writes NAME.out and NAME.time
run_h2load() {
  local name=$1; shift
  local n=$((RPS * SECS))
  [ $# -eq 0 ] && n=$((RPS * SECS * 3))
  /usr/bin/time -f "%U %S %e" -o "$TMP/$name.time" timeout 120 h2load -n $n \
    -c 4 -m 100 -t 1 "$@" -d "$TMP/body.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' "$URL" \
    >"$TMP/$name.out" 2>&1 || fail "h2load $name"
}

for r in $(seq "$ROUNDS"); do
  note "round $r of $ROUNDS: $RPS calls/s for ${SECS}s, then saturated"
  run_loadgen "lg_rate_$r" "$RPS"
  [ -z "$BASE" ] || run_loadgen "base_rate_$r" "$RPS" "$BASE"
  run_h2load "h2_rate_$r" --rps $((RPS / 4))
  run_h2load "h2_sat_$r"
  [ -z "$BASE" ] || run_loadgen "base_sat_$r" $((RPS * 20)) "$BASE"
  run_loadgen "lg_sat_$r" $((RPS * 20))
done

$PY - "$TMP" "$ROUNDS" "$RPS" "$OUT" "$BASE" <<'PYEOF'
import json, re, statistics, sys
tmp, rounds, rps, out, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def cpu(name):
    u, s, e = open("%s/%s.time" % (tmp, name)).read().split()
    return float(u) + float(s), float(e)
def lg(name):
    j = json.load(open("%s/%s.json" % (tmp, name)))
    c, _ = cpu(name)
    ok = j["calls"]["ok"]
    return {"ok": ok, "ok_per_s": j["calls"]["ok_per_s"], "cpu_s": c,
            "cpu_us_per_call": c * 1e6 / ok if ok else None,
            "p50_ms": j["call_ms"]["p50"], "p99_ms": j["call_ms"]["p99"],
            "failed": j["calls"]["failed"], "not_sent": j["calls"]["not_sent"]}
def h2(name):
    t = open("%s/%s.out" % (tmp, name)).read()
    rate = float(re.search(r"finished in [0-9.]+s, ([0-9.]+) req/s", t).group(1))
    ok = int(re.search(r"requests: .* (\d+) succeeded", t).group(1))
    c, _ = cpu(name)
    return {"ok": ok, "ok_per_s": rate, "cpu_s": c,
            "cpu_us_per_call": c * 1e6 / ok if ok else None}
res = {"rounds": rounds, "rate": rps, "runs": {}}
kinds = ("lg_rate", "h2_rate", "lg_sat", "h2_sat") + (("base_rate", "base_sat") if base else ())
for kind in kinds:
    f = h2 if kind.startswith("h2") else lg
    res["runs"][kind] = [f("%s_%d" % (kind, r)) for r in range(1, rounds + 1)]
med = lambda kind, k: statistics.median(x[k] for x in res["runs"][kind])
res["median"] = {kind: {k: med(kind, k) for k in ("ok_per_s", "cpu_us_per_call")}
                 for kind in res["runs"]}
m = res["median"]
res["ratio_cpu_per_call_at_rate"] = m["lg_rate"]["cpu_us_per_call"] / m["h2_rate"]["cpu_us_per_call"]
res["ratio_cpu_per_call_saturated"] = m["lg_sat"]["cpu_us_per_call"] / m["h2_sat"]["cpu_us_per_call"]
res["ratio_calls_per_s_saturated"] = m["lg_sat"]["ok_per_s"] / m["h2_sat"]["ok_per_s"]
print("\n%-44s %12s %12s %8s" % ("medians of %d alternating rounds" % rounds, "loadgen", "h2load", "ratio"))
print("%-44s %12.0f %12.0f" % ("calls/s at %d/s asked" % rps, m["lg_rate"]["ok_per_s"], m["h2_rate"]["ok_per_s"]))
print("%-44s %12.1f %12.1f %7.2fx" % ("client CPU us per call at %d/s" % rps, m["lg_rate"]["cpu_us_per_call"],
      m["h2_rate"]["cpu_us_per_call"], res["ratio_cpu_per_call_at_rate"]))
print("%-44s %12.0f %12.0f %7.2fx" % ("calls/s saturated (server shares the cores)", m["lg_sat"]["ok_per_s"],
      m["h2_sat"]["ok_per_s"], res["ratio_calls_per_s_saturated"]))
print("%-44s %12.1f %12.1f %7.2fx" % ("client CPU us per call saturated", m["lg_sat"]["cpu_us_per_call"],
      m["h2_sat"]["cpu_us_per_call"], res["ratio_cpu_per_call_saturated"]))
print("%-44s %12.0f %12.0f" % ("calls per client CPU-second, saturated",
      1e6 / m["lg_sat"]["cpu_us_per_call"], 1e6 / m["h2_sat"]["cpu_us_per_call"]))
if base:
    res["baseline"] = base
    res["ratio_cpu_per_call_at_rate_vs_base"] = m["lg_rate"]["cpu_us_per_call"] / m["base_rate"]["cpu_us_per_call"]
    res["ratio_cpu_per_call_saturated_vs_base"] = m["lg_sat"]["cpu_us_per_call"] / m["base_sat"]["cpu_us_per_call"]
    res["median"]["lg_rate"]["p50_ms"] = med("lg_rate", "p50_ms")
    res["median"]["base_rate"]["p50_ms"] = med("base_rate", "p50_ms")
    print("\n%-44s %12s %12s %8s" % ("against LOADGEN_BASE (%s)" % base[-30:], "loadgen", "base", "ratio"))
    print("%-44s %12.1f %12.1f %7.2fx" % ("client CPU us per call at %d/s" % rps, m["lg_rate"]["cpu_us_per_call"],
          m["base_rate"]["cpu_us_per_call"], res["ratio_cpu_per_call_at_rate_vs_base"]))
    print("%-44s %12.3f %12.3f" % ("call p50 ms at %d/s" % rps, m["lg_rate"]["p50_ms"], m["base_rate"]["p50_ms"]))
    print("%-44s %12.1f %12.1f %7.2fx" % ("client CPU us per call saturated", m["lg_sat"]["cpu_us_per_call"],
          m["base_sat"]["cpu_us_per_call"], res["ratio_cpu_per_call_saturated_vs_base"]))
    print("%-44s %12.0f %12.0f" % ("calls/s saturated", m["lg_sat"]["ok_per_s"], m["base_sat"]["ok_per_s"]))
bad = [x for x in res["runs"]["lg_rate"] if x["failed"] or x["not_sent"]]
print("loadgen at %d/s: %s" % (rps, "every call sent and ok in every round" if not bad
      else "%d round(s) fell behind or failed" % len(bad)))
json.dump(res, open(out, "w"), indent=1)
print("figures in %s" % out)
PYEOF
