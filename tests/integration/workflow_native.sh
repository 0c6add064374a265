#!/bin/bash
# End to end, the native path of the workflow, through make as users run it:
# clean-local with nothing up, a load test without a prior `make local`,
# `make local` twice, the snapshots read by the real go tool pprof (with
# -diff_base), bad knobs, a taken port, a notifier that dies mid-test, and
# clean-local leaving the snapshots alone.
# Ports are picked free; state and snapshots go to a temporary folder; every
# wait is bounded; the trap stops what was started.
set -uo pipefail
cd "$(dirname "$0")/../.."

TMP=$(mktemp -d /tmp/nprof-wf.XXXXXX)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export LOCAL_MODE=native LOCAL_STATE=$TMP/state SNAPSHOT_ROOT=$TMP/snapshots
export GRPC_PORT=$(free_port) DEBUG_PORT=$(free_port)
export HOME=$TMP GOCACHE=$TMP/gocache PPROF_TMPDIR=$TMP
failures=0
checks=0
cleanup() {
  scripts/local.sh down >/dev/null 2>&1
  [ -n "${blocker:-}" ] && kill "$blocker" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $*"; }
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
  local what=$1; shift
  if "$@" >"$TMP/out" 2>&1; then ok "$what"; else bad "$what"; tail -20 "$TMP/out"; fi
}
expect_fail() { # expect_fail DESCRIPTION PATTERN COMMAND...: fails, says PATTERN
  local what=$1 pattern=$2; shift 2
  if "$@" >"$TMP/out" 2>&1; then bad "$what (succeeded)"; tail -5 "$TMP/out"
  elif grep -q -- "$pattern" "$TMP/out"; then ok "$what"
  else bad "$what (no '$pattern')"; tail -5 "$TMP/out"; fi
}

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
[ -s "$run/report.md" ] && [ -s "$run/report.html" ] && ok "report.md and report.html" || bad "report.md and report.html"
grep -q "^40 users: " "$TMP/out" && ok "  ...headline for 40 users" || bad "  ...headline for 40 users"

expect "make local when it is already up" make -s local
grep -q "already up" "$TMP/out" && ok "  ...says already up" || bad "  ...says already up"
pid=$(cat "$LOCAL_STATE/notifier.pid")
expect "make local a third time" make -s local
[ "$(cat "$LOCAL_STATE/notifier.pid")" = "$pid" ] && ok "  ...same process" || bad "  ...same process"

expect_fail "TEST_COUNT=abc refused" "TEST_COUNT must be a positive integer" \
  make -s notifier-load-test TEST_COUNT=abc
expect_fail "TEST_COUNT=0 refused" "TEST_COUNT must be a positive integer" \
  make -s notifier-load-test TEST_COUNT=0
expect_fail "HOLD=forever refused" "HOLD must be a duration" \
  make -s notifier-load-test TEST_COUNT=5 HOLD=forever

expect "clean-local stops it" make -s clean-local
kill -0 "$pid" 2>/dev/null && bad "  ...process gone" || ok "  ...process gone"
[ -s "$run/plateau.heap.pb.gz" ] && ok "  ...snapshots kept" || bad "  ...snapshots kept"

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

echo "workflow: $((checks - failures)) passed, $failures failed"
[ $failures -eq 0 ]
