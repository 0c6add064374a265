#!/bin/bash
# End to end, the SHARDS workflow on the native path, through make as users
# run it: one run over three loadgen shards and their coordinator (one run
# folder, the snapshots taken once per phase, the plateau's with every
# shard's users connected, the merged loadgen.json, one report), the
# Kubernetes manifests rendered for the same knobs carrying the very flags
# the native shards ran, SHARDS=1 as before, bad SHARDS refused before
# anything starts, make load-test SHARDS=2 on a unary method, and a
# HOLD=forever sharded run ended by Ctrl-C, or by SIGTERM to the script.
# Ports are picked free; state and snapshots go to a temporary folder; every
# wait is bounded; the trap stops what was started.
set -uo pipefail
cd "$(dirname "$0")/../.."

. tests/lib/checks.sh
. tests/lib/workflow.sh wfs
export LOCAL_MODE=native GRPC_PORT=$(free_port)
fpid=
workflow_stop() { [ -n "$fpid" ] && kill -KILL -- -"$fpid" 2>/dev/null; }

expect "make notifier-load-test SHARDS=3" \
  make -s notifier-load-test TEST_COUNT=120 HOLD=2s SHARDS=3 STREAMS_PER_CONN=10 PUBLISH=1
grep -q "120 users against .* over 3 loadgen shards" "$TMP/out" && ok "  ...says 3 shards" || bad "  ...says 3 shards"
runs=$(ls -d "$SNAPSHOT_ROOT"/*-120 2>/dev/null | wc -l)
run=$(ls -d "$SNAPSHOT_ROOT"/*-120 2>/dev/null | head -1)
[ "$runs" = 1 ] && ok "one run folder ($run)" || bad "one run folder (found $runs)"
if /usr/bin/python3 - "$run" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(d + "/run.json"))
assert r["shard_count"] == 3 and r["test_count"] == 120 and r["mode"] == "native", r
assert r["run_id"] == d.rsplit("/", 1)[1], r
v = {p: json.load(open("%s/%s.vars.json" % (d, p))) for p in ("baseline", "plateau", "drained")}
# Snapshots once per phase for the run: before any shard connected, with
# every shard's users connected, after every shard drained.
assert v["baseline"]["notifier.users"] == 0, v["baseline"]["notifier.users"]
assert v["plateau"]["notifier.users"] == 120, v["plateau"]["notifier.users"]
assert v["plateau"]["notifier.streams"] == 120
assert v["drained"]["notifier.users"] == 0
for i in range(3):
    s = json.load(open("%s/shard-%d.json" % (d, i)))
    assert s["shard"] == {"index": i, "count": 3, "users": [40 * i, 40 * i + 39]}, s["shard"]
    assert s["ok"] and s["streams_established"] == 40
m = json.load(open(d + "/loadgen.json"))
assert m["shard_count"] == 3 and m["streams_established"] == 120 and m["ok"], m
assert m["notifications_received"] == 120 and m["publish"]["ok"] == 1
assert len(m["shards"]) == 3 and m["broadcast_ms"]["count"] == 120
assert m["snapshots"]["fetched"] >= 12 and m["snapshots"]["failed"] == 0
tl = [json.loads(l) for l in open(d + "/timeline.jsonl")]
assert tl[0]["phase"] == "baseline" and tl[-1]["phase"] == "drained"
assert max(l["loadgen"]["connected"] for l in tl) == 120  # the shards' summed
c = json.load(open(d + "/coordinator.json"))
assert c["ok"] and [s["state"] for s in c["shards"]] == ["done"] * 3
PY
then ok "  ...run.json, the phase snapshots, 3 shard results merged into loadgen.json, the timeline summed"
else bad "  ...the run folder's contents"; fi
[ -s "$run/report.md" ] && [ -s "$run/report.html" ] && ok "  ...one report" || bad "  ...one report"
grep -q "^120 users: " "$TMP/out" && ok "  ...its headline counts 120 users" || bad "  ...headline for 120 users"
grep -q "loadgen shards | 3" "$run/report.md" && ok "  ...and says 3 shards" || bad "  ...report says 3 shards"
grep -q "Streams: 120 established of 120 requested" "$run/report.md" &&
  ok "  ...on the merged figures" || bad "  ...report on the merged figures"
if go tool pprof -symbolize=none -top "$run/plateau.heap.pb.gz" >"$TMP/top" 2>&1; then
  ok "go tool pprof reads the sharded run's plateau heap"
else bad "go tool pprof reads plateau.heap.pb.gz"; tail -3 "$TMP/top"; fi

# The manifests for the same knobs carry the flags the native shards ran:
# all but the service's address and the run folder's path, which are the
# cluster's.
id=$(basename "$run")
expect "make k8s-manifests with the same knobs" \
  make -s k8s-manifests TEST_COUNT=120 HOLD=2s SHARDS=3 STREAMS_PER_CONN=10 PUBLISH=1 K8S_RUN_ID="$id"
if /usr/bin/python3 - "$run" build/k8s <<'PY'
import json, sys, yaml
run, k8s = sys.argv[1], sys.argv[2]
native = json.load(open(run + "/shard-args.json"))
job = yaml.safe_load(open(k8s + "/loadgen.yaml"))
c = job["spec"]["template"]["spec"]["containers"][0]
args = c["args"]
assert args[-1] == "--quiet", args  # the native shards get it too, apart
args = args[:-1]
def values(a, flag):
    return [a[i + 1] for i in range(len(a)) if a[i] == flag]
assert values(args, "--target") == ["notifier:50051"], args
assert values(args, "--run-dir") == ["/snapshots/" + run.rsplit("/", 1)[1]]
def strip(a):
    out, skip = [], False
    for i, w in enumerate(a):
        if skip:
            skip = False
        elif w in ("--target", "--run-dir"):
            out.append(w); skip = True
        else:
            out.append(w)
    return out
assert strip(args) == strip(native), (strip(args), strip(native))
assert job["spec"]["completionMode"] == "Indexed"
assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
co = yaml.safe_load(open(k8s + "/coordinator.yaml"))
cargs = co["spec"]["template"]["spec"]["containers"][0]["args"]
assert cargs[:len(args)] == args and "--coordinate" in cargs, cargs
PY
then ok "  ...the Indexed Job runs the native shards' flags (and the coordinator's Job too)"
else bad "  ...the Job's flags are the native run's"; fi

expect "SHARDS=1: one process, as always" make -s notifier-load-test TEST_COUNT=30 HOLD=0 SHARDS=1
one=$(ls -d "$SNAPSHOT_ROOT"/*-30 | head -1)
[ -s "$one/loadgen.json" ] && ! ls "$one"/shard-* >/dev/null 2>&1 && [ ! -e "$one/coordinator.json" ] &&
  grep -q '"shard_count": 1' "$one/run.json" && ! grep -q '"run_id"' "$one/loadgen.json" &&
  ok "  ...no shard files, shard_count 1" || bad "  ...SHARDS=1 run folder"

runs_before=$(ls "$SNAPSHOT_ROOT" | wc -l)
expect_fail "SHARDS=0 refused" "SHARDS=0: expected 1..1000" make -s notifier-load-test SHARDS=0
expect_fail "SHARDS=two refused" "SHARDS=two" make -s notifier-load-test SHARDS=two
expect_fail "more shards than users refused, in the loadgen's words" "fewer users than --shard-count 5" \
  make -s notifier-load-test TEST_COUNT=3 SHARDS=5
[ "$(ls "$SNAPSHOT_ROOT" | wc -l)" = "$runs_before" ] && ok "  ...no run folder" || bad "  ...no run folder"

expect "make load-test SHARDS=2 on a unary method (the notifier's Publish)" \
  make -s load-test TARGET=127.0.0.1:$GRPC_PORT CALL=notifier.Notifier/Publish \
  DATA='user_id: "nobody-{user}"' RPS=100 DURATION=1s TEST_COUNT=10 SHARDS=2
u=$(ls -td "$SNAPSHOT_ROOT"/*-10 2>/dev/null | head -1)
if [ -n "$u" ] && /usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1] + "/loadgen.json"))
assert m["calls"]["ok"] == 100 and m["call_ms"]["count"] == 100 and m["ok"], m["calls"]
assert m["method_kind"] == "unary" and m["shard_count"] == 2' "$u"; then
  ok "  ...100 calls over 2 shards, merged"
else bad "  ...unary merged calls"; fi

# HOLD=forever over shards: Ctrl-C (SIGINT to the terminal's process group)
# ends the hold; the shards drain, the coordinator takes the drained
# snapshot, the results merge, the report is written; the goal is met.
setsid make -s notifier-load-test TEST_COUNT=20 HOLD=forever SHARDS=2 >"$TMP/forever" 2>&1 &
fpid=$!
for _ in $(seq 300); do grep -q "until Ctrl-C" "$TMP/forever" && break; sleep 0.1; done
grep -q "holding 20 users over 2 shards until Ctrl-C" "$TMP/forever" &&
  ok "HOLD=forever SHARDS=2: holds" || { bad "HOLD=forever SHARDS=2: holds"; tail -5 "$TMP/forever"; }
sleep 1
kill -INT -- -"$fpid" 2>/dev/null
for _ in $(seq 300); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$fpid" 2>/dev/null; then bad "  ...ends after Ctrl-C"; kill -KILL -- -"$fpid"; else ok "  ...ends after Ctrl-C"; fi
wait "$fpid" 2>/dev/null
fpid=
frun=$(ls -td "$SNAPSHOT_ROOT"/*-20 2>/dev/null | head -1)
[ -s "$frun/drained.heap.pb.gz" ] && [ -s "$frun/report.md" ] && grep -q '"ok": true' "$frun/loadgen.json" 2>/dev/null &&
  ok "  ...drained snapshot, merged result (goal met) and report" || { bad "  ...after Ctrl-C"; tail -8 "$TMP/forever"; }

# A SIGTERM to the workflow's script alone (not its process group, as a
# supervisor might send it) ends the run the same way, through the
# coordinator.
setsid make -s notifier-load-test TEST_COUNT=16 HOLD=forever SHARDS=2 >"$TMP/term" 2>&1 &
fpid=$!
for _ in $(seq 300); do grep -q "until Ctrl-C" "$TMP/term" && break; sleep 0.1; done
spid=$(pgrep -f -- "scripts/shards.sh run $SNAPSHOT_ROOT/" | head -1)
if [ -n "$spid" ]; then kill -TERM "$spid"; else bad "  ...no shards.sh to signal"; fi
for _ in $(seq 300); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$fpid" 2>/dev/null; then bad "SIGTERM to the script: the run ends"; kill -KILL -- -"$fpid"
else ok "SIGTERM to the script alone: the run ends"; fi
wait "$fpid" 2>/dev/null
fpid=
trun=$(ls -td "$SNAPSHOT_ROOT"/*-16 2>/dev/null | head -1)
[ -s "$trun/drained.heap.pb.gz" ] && [ -s "$trun/report.md" ] && grep -q '"ok": true' "$trun/loadgen.json" 2>/dev/null &&
  ok "  ...drained, merged and reported, the goal met" || { bad "  ...after SIGTERM"; tail -8 "$TMP/term"; }

expect "clean-local" make -s clean-local
tally workflow_shards
