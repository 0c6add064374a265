#!/bin/bash
# loadgen shards against the project's notifier, started as a Kubernetes
# Indexed Job starts them: four processes, each with only
# JOB_COMPLETION_INDEX (and NPROF_SHARD_COUNT, NPROF_RUN_ID) in its
# environment, and a coordinator, sharing a run folder. Shown:
# - every user connected exactly once: the notifier's own log names each of
#   user-0..user-N-1 once, its /debug/vars at the coordinator's plateau
#   count N distinct users on N streams, and each shard came from its own
#   source address;
# - nprof merge equals the histogram of all the shards' values: the buckets
#   summed here in Python, and the percentiles recomputed from them with
#   the loadgen's rule, are the merged file's;
# - a shard killed mid-run fails the run within --shard-timeout, and the
#   merge then names the missing shard; shards without a coordinator
#   connect nobody and give up in bounded time;
# - a half-given or contradicted index/count pair: exit 2, said;
# - unary calls split over three shards add up to --rps x --duration.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
NPROF=build/bin/nprof
[ -x "$LOADGEN" ] && [ -x "$NPROF" ] || fail "$LOADGEN or $NPROF not built"
if ! start_notifier --max-streams 10000; then # a log line per stream
  echo "SKIP loadgen_shards: the notifier is not built"
  exit 0
fi
gport=$NOTIFIER_GRPC dport=$NOTIFIER_DEBUG
N=2000
K=4

vars() { curl -fsS --max-time 5 "http://127.0.0.1:$dport/debug/vars"; }

# shards RUN K ENVFLAGS... -- FLAGS...: starts K shards the Indexed Job
# way (the index only in the environment) into $TMP/RUN, their pids in
# SHARD_PIDS.
shards() {
  local run=$1 k=$2 i
  shift 2
  SHARD_PIDS=()
  for ((i = 0; i < k; i++)); do
    JOB_COMPLETION_INDEX=$i NPROF_SHARD_COUNT=$k NPROF_RUN_ID=$run \
      timeout 120 "$LOADGEN" --target 127.0.0.1:$gport --run-dir "$TMP/$run" \
      --quiet "$@" >"$TMP/$run.shard-$i.out" 2>&1 &
    SHARD_PIDS+=($!)
    PIDS+=($!)
  done
}
coordinator() { # RUN K FLAGS...
  local run=$1 k=$2
  shift 2
  timeout 120 "$LOADGEN" --target 127.0.0.1:$gport --run-dir "$TMP/$run" \
    --coordinate --shard-count "$k" --run-id "$run" --quiet \
    --snapshot-url http://127.0.0.1:$dport --users-var notifier.users "$@" \
    >"$TMP/$run.coordinator.out" 2>&1 &
  COORD_PID=$!
  PIDS+=($!)
}
# state RUN FILE STATE SECONDS: until RUN/FILE says STATE.
state() {
  local deadline=$((SECONDS + $4))
  until grep -q "\"state\": \"$3\"" "$TMP/$1/$2" 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

note "$K shards x $((N / K)) users as an Indexed Job starts them, a coordinator, 2 broadcasts"
flags=(--streams $N --streams-per-conn 20 --hold 3s --settle 300ms --shard-timeout 5s)
coordinator r1 $K "${flags[@]}" --publish 2
shards r1 $K "${flags[@]}" --publish 2
# While they hold: each shard's connections come from its own address.
state r1 coordinator.state hold 60 || { cat "$TMP"/r1.*.out; fail "no hold"; }
ss -Htn state established "( dport = :$gport )" | awk '{print $3}' |
  sed 's/:[0-9]*$//' | sort | uniq -c >"$TMP/sources"
cat "$TMP/sources"
[ "$(awk '{print $2}' "$TMP/sources" | tr '\n' ' ')" = "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 " ] ||
  fail "the shards did not connect from 127.0.0.1..4"
# 25 connections each; 127.0.0.1 may also carry the coordinator's
# Publish connection.
awk '$1 != 25 && !($1 == 26 && $2 == "127.0.0.1") {exit 1}' "$TMP/sources" ||
  fail "not 25 connections per shard"
wait $COORD_PID; rc=$?
[ $rc -eq 0 ] || { cat "$TMP/r1.coordinator.out"; fail "coordinator exit $rc"; }
for ((i = 0; i < K; i++)); do
  wait "${SHARD_PIDS[i]}" || { cat "$TMP/r1.shard-$i.out"; fail "shard $i failed"; }
done
# The notifier's own account: every user id once, none twice, none other.
grep -o 'stream open user=[^ ]*' "$TMP/notifier.log" | sed 's/.*user=//' | sort >"$TMP/users"
[ "$(wc -l <"$TMP/users")" -eq $N ] || fail "the notifier saw $(wc -l <"$TMP/users") stream opens, want $N"
seq 0 $((N - 1)) | sed 's/^/user-/' | sort | cmp -s - "$TMP/users" ||
  fail "the notifier's user ids are not user-0..user-$((N - 1)), each once"
echo "notifier: $N stream opens, $N distinct users user-0..user-$((N - 1))"
check_json "$TMP/r1/plateau.vars.json" "j['notifier.users'] == $N" "j['notifier.streams'] == $N"
check_json "$TMP/r1/run.json" "j['shard_count'] == $K" "j['test_count'] == $N" "j['run_id'] == 'r1'"
for ((i = 0; i < K; i++)); do
  check_json "$TMP/r1/shard-$i.json" "j['shard'] == {'index': $i, 'count': $K, 'users': [$((i * N / K)), $(((i + 1) * N / K - 1))]}" \
    "j['run_id'] == 'r1'" "j['streams_established'] == $((N / K))" \
    "j['notifications_received'] == 2 * $((N / K))"
done
check_json "$TMP/r1/coordinator.json" 'j["ok"]' 'j["publish"]["ok"] == 2' \
  'j["snapshots"]["failed"] == 0' 'all(s["state"] == "done" for s in j["shards"])'

"$NPROF" merge -o "$TMP/r1/loadgen.json" --coordinator "$TMP/r1/coordinator.json" \
  "$TMP"/r1/shard-*.json || fail "nprof merge"
$PY - "$TMP/r1" $K <<'PY' || fail "the merge is not the histogram of all the shards' values"
import json, math, sys
d, k = sys.argv[1], int(sys.argv[2])
shards = [json.load(open("%s/shard-%d.json" % (d, i))) for i in range(k)]
m = json.load(open(d + "/loadgen.json"))

def high(i, bits):  # the highest value bucket i holds (loadgen/histogram.c)
    sub, half = 1 << bits, 1 << (bits - 1)
    if i < sub:
        return i
    e = (i - sub) // half + 1
    return (((i - sub) % half + half + 1) << e) - 1

def quantile(buckets, n, lo, hi, q, bits):  # lg_hist_quantile's rule
    rank = max(1, math.ceil(q * n))
    seen = 0
    for i in sorted(buckets):
        seen += buckets[i]
        if seen >= rank:
            return min(max(high(i, bits), lo), hi)
    return hi

assert m["streams_established"] == sum(s["streams_established"] for s in shards) == 2000
assert m["notifications_received"] == 2 * 2000
for key in ("connect_ms", "delivery_ms", "broadcast_ms"):
    hs = [s["histograms"][key] for s in shards]
    bits = hs[0]["layout"]["sub_bucket_bits"]
    union = {}
    for h in hs:
        assert h["layout"] == hs[0]["layout"]
        for i, c in h["buckets"]:
            union[i] = union.get(i, 0) + c
    n = sum(union.values())
    lo = min(h["min"] for h in hs if h["count"])
    hi = max(h["max"] for h in hs)
    mh = m["histograms"][key]
    assert {i: c for i, c in mh["buckets"]} == union, key
    assert mh["count"] == n and mh["min"] == lo and mh["max"] == hi, key
    assert mh["sum"] == sum(h["sum"] for h in hs), key
    summary = m[key]
    for name, q in (("p50", .5), ("p90", .9), ("p99", .99), ("p999", .999)):
        want = round(quantile(union, n, lo, hi, q, bits) / 1000, 3)
        assert abs(summary[name] - want) < 1e-9, (key, name, summary[name], want)
    assert summary["max"] == round(hi / 1000, 3) and summary["count"] == n
    print("%-12s n=%d p50 %.3f p99 %.3f max %.3f ms: the union's" %
          (key, n, summary["p50"], summary["p99"], summary["max"]))
assert m["ok"] and m["shard_count"] == k and len(m["shards"]) == k
assert m["phases"]["plateau"] > m["phases"]["baseline"]
PY

note "a shard killed mid-run: the run fails within --shard-timeout, naming it"
flags=(--streams 400 --streams-per-conn 10 --hold 30s --settle 200ms --shard-timeout 3s)
coordinator r2 $K "${flags[@]}"
shards r2 $K "${flags[@]}"
for i in 0 1 2 3; do
  state r2 shard-$i.state connected 60 || fail "shard $i never connected"
done
t0=$SECONDS
victim=$(pgrep -P "${SHARD_PIDS[2]}") # the loadgen under its timeout
[ -n "$victim" ] || fail "no loadgen under shard 2's timeout"
kill -KILL "$victim"
wait $COORD_PID; rc=$?
took=$((SECONDS - t0))
wait "${SHARD_PIDS[2]}" 2>/dev/null # its timeout, killed with it
cat "$TMP/r2.coordinator.out"
[ $rc -eq 1 ] || fail "coordinator exit $rc with a dead shard, want 1"
((took <= 3 + 12)) || fail "the dead shard took ${took}s to fail the run (timeout 3s)"
grep -q "result: FAILED: shard 2 went silent" "$TMP/r2.coordinator.out" || fail "the reason does not name shard 2"
for i in 0 1 3; do
  wait "${SHARD_PIDS[i]}" && fail "shard $i met its goal in a failed run"
  grep -q "the coordinator ended the run: shard 2 went silent" "$TMP/r2.shard-$i.out" ||
    { cat "$TMP/r2.shard-$i.out"; fail "shard $i does not say why it stopped"; }
done
echo "the dead shard failed the run in ${took}s; the others drained"
"$NPROF" merge -o "$TMP/r2/loadgen.json" "$TMP"/r2/shard-*.json 2>"$TMP/merge.err" &&
  fail "nprof merge took a run with a shard missing"
grep -q "missing 2" "$TMP/merge.err" || { cat "$TMP/merge.err"; fail "merge does not name shard 2"; }

note "shards without a coordinator: nobody connects; they give up in bounded time"
before=$(vars | $PY -c 'import json,sys; print(json.load(sys.stdin)["notifier.streams"])')
t0=$SECONDS
shards r3 2 --streams 10 --shard-timeout 2s
for p in "${SHARD_PIDS[@]}"; do wait "$p" && fail "a shard without its coordinator succeeded"; done
((SECONDS - t0 <= 12)) || fail "shards waited $((SECONDS - t0))s for a coordinator (timeout 2s)"
grep -q "no coordinator (loadgen --coordinate) reported within" "$TMP/r3.shard-0.out" ||
  { cat "$TMP/r3.shard-0.out"; fail "shard 0 does not say why"; }
grep -q '"streams_established": 0' "$TMP/r3/shard-0.json" || fail "shard 0 connected users"
[ "$(grep -c 'stream open' "$TMP/notifier.log")" -eq $((N + 400)) ] ||
  fail "the notifier saw streams from shards without a coordinator"
[ "$before" = 0 ] || fail "streams left on the notifier: $before"

note "index/count pairs: half-given, out of range or contradicted: exit 2"
expect2() { # PATTERN ENV... -- ARGS
  local pat=$1 envs=()
  shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$LOADGEN" --target 127.0.0.1:$gport "$@" >"$TMP/e.out" 2>&1
  local rc=$?
  [ $rc -eq 2 ] || { cat "$TMP/e.out"; fail "exit $rc for $pat, want 2"; }
  grep -q -- "$pat" "$TMP/e.out" || { cat "$TMP/e.out"; fail "no '$pat'"; }
}
expect2 "is not below the shard count 4" JOB_COMPLETION_INDEX=4 NPROF_SHARD_COUNT=4 NPROF_RUN_ID=x -- --streams 8
expect2 "needs --shard-count N" JOB_COMPLETION_INDEX=1 -- --streams 8
expect2 "needs --shard-index I (or JOB_COMPLETION_INDEX" NPROF_SHARD_COUNT=4 -- --streams 8
expect2 "disagree" JOB_COMPLETION_INDEX=2 NPROF_SHARD_COUNT=4 NPROF_RUN_ID=x -- --shard-index 1 --streams 8
expect2 "needs --run-id" JOB_COMPLETION_INDEX=0 NPROF_SHARD_COUNT=2 -- --streams 8

note "unary calls over 3 shards: --rps x --duration in all"
uflags=(--streams 30 --call notifier.Notifier/Publish --data 'user_id: "nobody-{user}"'
  --rps 300 --duration 2s --shard-timeout 5s)
coordinator r4 3 "${uflags[@]}"
shards r4 3 "${uflags[@]}"
wait $COORD_PID || { cat "$TMP/r4.coordinator.out"; fail "unary coordinator failed"; }
for p in "${SHARD_PIDS[@]}"; do wait "$p" || fail "a unary shard failed"; done
"$NPROF" merge -o "$TMP/r4/loadgen.json" --coordinator "$TMP/r4/coordinator.json" \
  "$TMP"/r4/shard-*.json || fail "nprof merge (unary)"
check_json "$TMP/r4/loadgen.json" 'j["calls"]["scheduled"] == 600' 'j["calls"]["ok"] == 600' \
  'j["call_ms"]["count"] == 600' 'j["method_kind"] == "unary"' 'j["ok"]' \
  'j["phases"]["plateau"] > j["phases"]["connect"]'
check_json "$TMP/r4/shard-1.json" 'j["calls"]["scheduled"] == 200' 'j["shard"]["users"] == [10, 19]'
echo "PASS loadgen_shards"
