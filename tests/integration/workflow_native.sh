#!/bin/bash
# End to end, the native path of the workflow, through make as users run it:
# clean-local with nothing up, a load test without a prior `make local`,
# `make local` twice, the snapshots read by the real go tool pprof (with
# -diff_base), the run folder the loadgen wrote (run.json, the timeline),
# HOLD=forever ended by Ctrl-C, bad knobs judged by the loadgen before
# anything starts, a taken port, a notifier that dies mid-test, and
# clean-local leaving the snapshots alone.
# Ports are picked free; state and snapshots go to a temporary folder; every
# wait is bounded; the trap stops what was started.
set -uo pipefail
cd "$(dirname "$0")/../.."

. tests/lib/checks.sh
. tests/lib/workflow.sh wf
export LOCAL_MODE=native GRPC_PORT=$(free_port)
workflow_stop() { [ -n "${blocker:-}" ] && kill "$blocker" 2>/dev/null; }


expect "clean-local with nothing running" make -s clean-local
grep -q "nothing was running" "$TMP/out" && ok "  ...says nothing was running" || bad "  ...says nothing was running"

expect "load test without a prior make local" \
  make -s notifier-load-test TEST_COUNT=40 HOLD=1s
run=$(ls -d "$SNAPSHOT_ROOT"/*-40 2>/dev/null | head -1)
[ -n "$run" ] && ok "run folder $run" || bad "no run folder"
for phase in baseline plateau drained; do
  for prof in heap goroutine; do
    f=$run/$phase.$prof.pb.gz
    if [ -s "$f" ] && go tool pprof -symbolize=none -top "$f" >"$TMP/top" 2>&1; then
      ok "go tool pprof reads $phase.$prof.pb.gz"
    else
      bad "go tool pprof reads $phase.$prof.pb.gz"; tail -3 "$TMP/top"
    fi
  done
done
if go tool pprof -symbolize=none -top -diff_base "$run/baseline.heap.pb.gz" \
    "$run/plateau.heap.pb.gz" >"$TMP/diff" 2>&1 && grep -q "Type: inuse_space" "$TMP/diff"; then
  ok "go tool pprof -diff_base baseline plateau"
else
  bad "go tool pprof -diff_base"; tail -3 "$TMP/diff"
fi
grep -q '"streams_established": 40' "$run/loadgen.json" && ok "loadgen.json: 40 established" || bad "loadgen.json: 40 established"
grep -q '"test_count": 40' "$run/run.json" && ok "run.json written" || bad "run.json written"
if /usr/bin/python3 - "$run" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(d + "/run.json"))
assert r["schema"] == 1 and r["call"] == "notifier.Notifier/Connect", r
assert r["users_var"] == "notifier.users" and r["mode"] == "native", r
assert r["service"].startswith("build/bin/notifier"), r
assert r["hold"] == "1s" and r["method_kind"] == "server_streaming", r
lines = [json.loads(l) for l in open(d + "/timeline.jsonl")]
assert len(lines) >= 3, len(lines)
assert lines[0]["phase"] == "baseline" and lines[-1]["phase"] == "drained"
assert max(l["loadgen"]["connected"] for l in lines) == 40
assert any(l["vars"] and l["vars"].get("notifier.users") == 40 for l in lines)
j = json.load(open(d + "/loadgen.json"))
assert "client_rss_kib" in j and "histograms" in j, j.keys()
PY
then ok "  ...run.json, timeline.jsonl, loadgen.json as the contract says"; else bad "  ...run folder contents"; fi
[ -s "$run/report.md" ] && [ -s "$run/report.html" ] && ok "report.md and report.html" || bad "report.md and report.html"
grep -q "^40 users: " "$TMP/out" && ok "  ...headline for 40 users" || bad "  ...headline for 40 users"

expect "make local when it is already up" make -s local
grep -q "already up" "$TMP/out" && ok "  ...says already up" || bad "  ...says already up"
pid=$(cat "$LOCAL_STATE/notifier.pid")
expect "make local a third time" make -s local
[ "$(cat "$LOCAL_STATE/notifier.pid")" = "$pid" ] && ok "  ...same process" || bad "  ...same process"

# HOLD=forever: the users stay until Ctrl-C (SIGINT to the terminal's
# process group, as a terminal sends it); meanwhile the live service is
# profiled with the commands the progress line gives; then drain, drained
# snapshot, report, as for any hold.
setsid make -s notifier-load-test TEST_COUNT=20 HOLD=forever >"$TMP/forever" 2>&1 &
fpid=$!
for _ in $(seq 300); do grep -q "holding until Ctrl-C" "$TMP/forever" && break; sleep 0.1; done
grep -q "holding 20 users until Ctrl-C" "$TMP/forever" && ok "HOLD=forever: says it holds" || { bad "HOLD=forever: says it holds"; tail -5 "$TMP/forever"; }
cmd=$(grep -o "go tool pprof http://[^ ]*/debug/pprof/goroutine" "$TMP/forever" | head -1)
if [ -n "$cmd" ] && $cmd -symbolize=none -top >"$TMP/live" 2>&1 && grep -q "Type: goroutine" "$TMP/live"; then
  ok "  ...the printed go tool pprof command reads the live service"
else
  bad "  ...the printed go tool pprof command ($cmd)"; tail -3 "$TMP/live"
fi
sleep 1
kill -INT -- -"$fpid" 2>/dev/null
for _ in $(seq 300); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fpid" 2>/dev/null && { bad "  ...ends after Ctrl-C"; kill -KILL -- -"$fpid"; } || ok "  ...ends after Ctrl-C"
wait "$fpid" 2>/dev/null
frun=$(ls -td "$SNAPSHOT_ROOT"/*-20 2>/dev/null | head -1)
[ -s "$frun/drained.heap.pb.gz" ] && [ -s "$frun/report.md" ] && ok "  ...drained snapshot and report after Ctrl-C" || { bad "  ...drained snapshot and report"; tail -5 "$TMP/forever"; }
grep -q '"ok": true' "$frun/loadgen.json" 2>/dev/null && grep -q '"hold": "forever"' "$frun/run.json" &&
  ok "  ...the run met its goal (Ctrl-C ends a hold forever, it is not a failure)" || bad "  ...goal met after Ctrl-C"

expect "clean-local stops it" make -s clean-local
kill -0 "$pid" 2>/dev/null && bad "  ...process gone" || ok "  ...process gone"
[ -s "$run/plateau.heap.pb.gz" ] && ok "  ...snapshots kept" || bad "  ...snapshots kept"

# Bad knobs: the loadgen judges them, before anything starts (no notifier,
# no run folder); what it accepts, the workflow accepts (RATE as a float).
runs_before=$(ls "$SNAPSHOT_ROOT" | wc -l)
expect_fail "TEST_COUNT=abc refused" "--streams abc: expected 1..10000000" \
  make -s notifier-load-test TEST_COUNT=abc
expect_fail "TEST_COUNT=0 refused" "--streams 0: expected" \
  make -s notifier-load-test TEST_COUNT=0
expect_fail "TEST_COUNT over the loadgen's limit refused" "--streams 20000000" \
  make -s notifier-load-test TEST_COUNT=20000000
expect_fail "HOLD=5 (no unit) refused" "a duration is a number with a unit" \
  make -s notifier-load-test TEST_COUNT=5 HOLD=5
expect_fail "RATE=fast refused" "--rate fast" make -s notifier-load-test RATE=fast
[ ! -e "$LOCAL_STATE/notifier.pid" ] && [ "$(ls "$SNAPSHOT_ROOT" | wc -l)" = "$runs_before" ] &&
  ok "  ...nothing started, no run folder" || bad "  ...nothing started, no run folder"
expect "RATE=25.5 (a float) accepted" make -s notifier-load-test TEST_COUNT=5 RATE=25.5 HOLD=0
expect "clean-local again" make -s clean-local

# A port taken by another program: a clear error, nothing started.
/usr/bin/python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $DEBUG_PORT)); s.listen(); time.sleep(60)" &
blocker=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$DEBUG_PORT) 2>/dev/null && break; sleep 0.1; done
expect_fail "make local with the debug port taken" "port $DEBUG_PORT on 127.0.0.1 is taken" make -s local
kill "$blocker"; wait "$blocker" 2>/dev/null; blocker=

# The notifier dies mid-test: a clear error, the snapshots so far kept.
make -s notifier-load-test TEST_COUNT=30 HOLD=6s >"$TMP/dies" 2>&1 &
lt=$!
for _ in $(seq 300); do
  ls "$SNAPSHOT_ROOT"/*-30/plateau.heap.pb.gz >/dev/null 2>&1 && break
  sleep 0.1
done
kill -KILL "$(cat "$LOCAL_STATE/notifier.pid")" 2>/dev/null
for _ in $(seq 300); do kill -0 "$lt" 2>/dev/null || break; sleep 0.1; done
kill "$lt" 2>/dev/null
wait "$lt"; rc=$?
[ $rc -ne 0 ] && ok "load test fails when the notifier dies (exit $rc)" || bad "load test fails when the notifier dies"
grep -q "not answering any more\|did not meet its goal" "$TMP/dies" && ok "  ...says why" || { bad "  ...says why"; tail -5 "$TMP/dies"; }
died=$(ls -d "$SNAPSHOT_ROOT"/*-30 | head -1)
[ -s "$died/baseline.heap.pb.gz" ] && ok "  ...baseline snapshot kept" || bad "  ...baseline snapshot kept"
[ -s "$died/report.md" ] && grep -qi "missing" "$died/report.md" && ok "  ...the report says what is missing" || { bad "  ...the report says what is missing"; head -30 "$died/report.md"; }
expect "clean-local after the crash" make -s clean-local

tally workflow
