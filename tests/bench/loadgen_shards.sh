#!/bin/bash
# Benchmark: 200,000 multiplexed users on the notifier as 4 loadgen shards
# x 50,000 (each from its own 127.0.0.x, a coordinator pacing the
# broadcasts, nprof merge of their results) next to one loadgen process
# holding all 200,000, in alternating pairs on this machine (both share its
# two cores with the notifier). Per case: the merged establishment rate
# (every user over the span from the first shard's start to the last one's
# end), broadcast delivery p99 and p50 (Publish written -> arrival, every
# stream, every broadcast), the loadgen's and the notifier's CPU seconds,
# and the notifier's peak RSS and open files; medians over the pairs and
# sharded/single ratios, written to build/bench/loadgen_shards.json.
#   BENCH_USERS (200000), BENCH_SHARDS (4), BENCH_PER_CONN (100),
#   BENCH_PUBLISH (3), BENCH_PAIRS (3)
# The notifier gets --max-streams 0 (its default refuses past 100,000) and
# is restarted for every case, so no run inherits another's heap.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
N=${BENCH_USERS:-200000}
K=${BENCH_SHARDS:-4}
PER=${BENCH_PER_CONN:-100}
PUB=${BENCH_PUBLISH:-3}
PAIRS=${BENCH_PAIRS:-3}
NOTIFIER=${NOTIFIER:-build/bin/notifier}
NPROF=build/bin/nprof
bench_start loadgen_shards
[ -x "$NPROF" ] || fail "$NPROF not built"
[ -x "$NOTIFIER" ] || { echo "SKIP loadgen_shards bench: $NOTIFIER not built"; exit 0; }

nofile=$(ulimit -Hn)
conns=$(((N + PER - 1) / PER))
note "limits: $nofile open files per process (hard); $N users at $PER per connection = $conns connections"
note "  one process: $conns connections + 64 kept <= $nofile: $( ((conns + 64 <= nofile)) && echo fits || echo 'does not fit')"
note "  at 10 per connection one process would need $((N / 10)) connections:"
"$LOADGEN" --check --streams "$N" --streams-per-conn 10 2>&1 | sed 's/^/    /'
note "  ...and 4 shards $((N / 40)) each:"
"$LOADGEN" --check --streams "$N" --streams-per-conn 10 --shard-count 4 --shard-index 3 \
  --run-id check 2>&1 | sed 's/^/    /'
note "  (the notifier, one process too, holds every connection: $conns here)"

cpu_of() { # PID: utime + stime in seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}

start_server() { start_prod_notifier --max-streams 0; }

# Samples the notifier's open files while a case runs (the most seen).
watch_fds() {
  local max=0 n
  while kill -0 "$SPID" 2>/dev/null; do
    n=$(ls "/proc/$SPID/fd" 2>/dev/null | wc -l)
    ((n > max)) && max=$n && echo $max >"$TMP/fds"
    sleep 0.5
  done
}

stop_server() { # NAME: the notifier's CPU and peak RSS into NAME.server
  awk '/^VmHWM/ {print $2}' "/proc/$SPID/status" >"$TMP/$1.hwm"
  cpu_of "$SPID" >"$TMP/$1.scpu"
  kill "$SPID" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SPID" 2>/dev/null
  wait "$SPID" 2>/dev/null
  wait "$WPID" 2>/dev/null
  cp "$TMP/fds" "$TMP/$1.fds"
}

common=(--streams "$N" --streams-per-conn "$PER" --hold 1s --settle 1s --publish "$PUB"
  --ramp-timeout 120s --publish-timeout 60s --drain-timeout 60s --quiet)

run_single() { # NAME
  start_server
  echo 0 >"$TMP/fds"
  watch_fds & WPID=$!
  PIDS+=($WPID)
  /usr/bin/time -f "%U %S" -o "$TMP/$1.time" timeout 600 "$LOADGEN" \
    --target 127.0.0.1:$PORT "${common[@]}" --json "$TMP/$1.json" >"$TMP/$1.out" 2>&1 ||
    { cat "$TMP/$1.out"; fail "$1: one loadgen process for $N users failed"; }
  stop_server "$1"
}

run_sharded() { # NAME
  start_server
  echo 0 >"$TMP/fds"
  watch_fds & WPID=$!
  PIDS+=($WPID)
  local run=$TMP/$1 i pids=()
  local flags=(--target 127.0.0.1:$PORT "${common[@]}" --shard-count "$K" --run-id "$1"
    --run-dir "$run" --shard-timeout 60s)
  /usr/bin/time -f "%U %S" -o "$TMP/$1.c.time" timeout 600 "$LOADGEN" "${flags[@]}" \
    --coordinate >"$TMP/$1.c.out" 2>&1 &
  local cpid=$!
  PIDS+=($cpid)
  for ((i = 0; i < K; i++)); do
    JOB_COMPLETION_INDEX=$i /usr/bin/time -f "%U %S" -o "$TMP/$1.$i.time" \
      timeout 600 "$LOADGEN" "${flags[@]}" >"$TMP/$1.$i.out" 2>&1 &
    pids+=($!)
    PIDS+=($!)
  done
  wait $cpid || { cat "$TMP/$1.c.out"; fail "$1: the coordinator failed"; }
  for ((i = 0; i < K; i++)); do
    wait "${pids[i]}" || { cat "$TMP/$1.$i.out"; fail "$1: shard $i failed"; }
  done
  "$NPROF" merge -o "$TMP/$1.json" --coordinator "$run/coordinator.json" \
    "$run"/shard-*.json >/dev/null || fail "$1: nprof merge"
  awk '{u += $1; s += $2} END {print u, s}' "$TMP/$1".[0-9]*.time "$TMP/$1.c.time" >"$TMP/$1.time"
  stop_server "$1"
}

cases=()
for ((p = 1; p <= PAIRS; p++)); do
  # Alternating which goes first, so drift on the shared machine falls on
  # both alike.
  if ((p % 2)); then order="single sharded"; else order="sharded single"; fi
  for c in $order; do
    note "pair $p: $c ($N users$([ $c = sharded ] && echo ", $K shards x $((N / K))"))"
    "run_$c" "$c-$p"
    cases+=("$c-$p")
  done
done

$PY - "$TMP" "$OUT" "$N" "$K" "$PER" "$PUB" "$nofile" "${cases[@]}" <<'PYEOF'
import json, statistics, sys
tmp, out, n, k, per, pub, nofile = sys.argv[1:8]
cases = sys.argv[8:]
rows = {}
for c in cases:
    j = json.load(open("%s/%s.json" % (tmp, c)))
    u, s = (float(x) for x in open("%s/%s.time" % (tmp, c)).read().split())
    assert j["streams_established"] == int(n), (c, j["streams_established"])
    assert j["broadcast_ms"]["count"] == int(n) * int(pub), (c, j["broadcast_ms"]["count"])
    rows[c] = {
        "established": j["streams_established"],
        "establish_seconds": j["establish_seconds"],
        "establish_rate_per_s": j["establish_rate_per_s"],
        "broadcast_p50_ms": j["broadcast_ms"]["p50"],
        "broadcast_p99_ms": j["broadcast_ms"]["p99"],
        "broadcast_max_ms": j["broadcast_ms"]["max"],
        "delivery_p99_ms": j["delivery_ms"]["p99"],
        "loadgen_cpu_s": u + s,
        "client_rss_kib": j["client_rss_kib"]["plateau"],
        "notifier_cpu_s": float(open("%s/%s.scpu" % (tmp, c)).read()),
        "notifier_peak_rss_kib": int(open("%s/%s.hwm" % (tmp, c)).read()),
        "notifier_max_fds": int(open("%s/%s.fds" % (tmp, c)).read()),
    }
def med(kind, key):
    return statistics.median(r[key] for c, r in rows.items() if c.startswith(kind))
keys = ["establish_rate_per_s", "broadcast_p50_ms", "broadcast_p99_ms", "delivery_p99_ms",
        "loadgen_cpu_s", "client_rss_kib", "notifier_cpu_s", "notifier_peak_rss_kib",
        "notifier_max_fds"]
res = {"users": int(n), "shards": int(k), "streams_per_conn": int(per), "broadcasts": int(pub),
       "open_file_limit": int(nofile), "cases": rows,
       "median": {kind: {key: med(kind, key) for key in keys} for kind in ("single", "sharded")}}
res["ratio_sharded_over_single"] = {
    key: res["median"]["sharded"][key] / res["median"]["single"][key]
    for key in keys if res["median"]["single"][key]}
json.dump(res, open(out, "w"), indent=1)
print("%-24s %14s %14s %8s" % ("median of %d pairs" % (len(cases) // 2), "1 process",
                                "%d shards" % int(k), "ratio"))
for key in keys:
    a, b = res["median"]["single"][key], res["median"]["sharded"][key]
    print("%-24s %14.1f %14.1f %8.2f" % (key, a, b, b / a if a else float("nan")))
for c in cases:
    r = rows[c]
    print("  %-10s rate %8.0f/s  broadcast p99 %8.1f ms  loadgen CPU %5.1f s  notifier CPU %5.1f s  peak RSS %7.0f MiB  fds %d" %
          (c, r["establish_rate_per_s"], r["broadcast_p99_ms"], r["loadgen_cpu_s"],
           r["notifier_cpu_s"], r["notifier_peak_rss_kib"] / 1024, r["notifier_max_fds"]))
print("written to", out)
PYEOF
[ $? -eq 0 ] || fail "results"
echo "PASS loadgen_shards bench"
