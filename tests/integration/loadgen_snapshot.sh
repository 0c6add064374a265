#!/bin/bash
# Snapshot hooks: loadgen fetches heap and goroutine profiles (protobuf and
# text) and /debug/vars at baseline, plateau and drained, and writes them
# atomically under the snapshot directory. Tested against the tests' one
# fake pprof server (tests/lib/pprof_server.py, canned profiles): names,
# contents, no temporary files left, a missing optional endpoint tolerated,
# a missing required one failing the run, and a hung profiler bounded by
# the timeout.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"

# start_fixture NAME [args]: sets $NAME to the fixture's port. Not called in
# $(...): a subshell's PIDS+= would not reach the cleanup trap, and the
# fixture would outlive the test.
start_fixture() {
  local name=$1; shift
  $PY tests/lib/pprof_server.py "$TMP/$name.port" "$@" \
    >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  wait_file "$TMP/$name.port" 10 || fail "fixture $name did not start"
  printf -v "$name" '%s' "$(cat "$TMP/$name.port")"
}

start_py_server srv
start_fixture fx

note "all phases, all profiles"
dir="$TMP/snaps/run-1"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 20 --hold 0 \
  --settle 100ms --snapshot-url http://127.0.0.1:$fx --snapshot-dir "$dir" \
  --json "$dir/loadgen.json" --quiet >"$TMP/a.out" 2>&1
rc=$?
cat "$TMP/a.out"
[ $rc -eq 0 ] || fail "exit $rc, want 0"
for phase in baseline plateau drained; do
  for f in heap.pb.gz goroutine.pb.gz heap.txt goroutine.txt vars.json; do
    [ -s "$dir/$phase.$f" ] || fail "missing $phase.$f"
  done
  gzip -dc "$dir/$phase.heap.pb.gz" | grep -q "^heap proto, request" ||
    fail "$phase.heap.pb.gz is not the served profile"
  gzip -dc "$dir/$phase.goroutine.pb.gz" | grep -q "^goroutine proto" ||
    fail "$phase.goroutine.pb.gz is not the served profile"
  grep -q "heap?debug=1 text profile" "$dir/$phase.heap.txt" ||
    fail "$phase.heap.txt"
  $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$dir/$phase.vars.json" ||
    fail "$phase.vars.json is not JSON"
done
# phases were fetched in order: the fixture's request counter grows
b=$(gzip -dc "$dir/baseline.heap.pb.gz" | awk '{print $NF}')
p=$(gzip -dc "$dir/plateau.heap.pb.gz" | awk '{print $NF}')
d=$(gzip -dc "$dir/drained.heap.pb.gz" | awk '{print $NF}')
[ "$b" -lt "$p" ] && [ "$p" -lt "$d" ] || fail "phase order $b $p $d"
[ -z "$(find "$dir" -name '.*')" ] || fail "temporary files left: $(ls -a "$dir")"
[ "$(stat -c %a "$dir/plateau.heap.pb.gz")" = 644 ] || fail "mode"
check_json "$dir/loadgen.json" 'j["snapshots"] == {"fetched": 15, "failed": 0}'

note "no /debug/vars: optional, the run still passes"
start_fixture fx2 --missing /debug/vars
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 5 --hold 0 \
  --settle 0 --snapshot-url http://127.0.0.1:$fx2 --snapshot-dir "$TMP/s2" \
  --quiet >/dev/null 2>&1 || fail "missing vars: want exit 0"
[ -s "$TMP/s2/plateau.heap.pb.gz" ] && [ ! -e "$TMP/s2/plateau.vars.json" ] ||
  fail "missing vars: wrong files"

note "no goroutine profile: required, the run fails and says why"
start_fixture fx3 --missing /debug/pprof/goroutine
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 5 --hold 0 \
  --settle 0 --snapshot-url http://127.0.0.1:$fx3 --snapshot-dir "$TMP/s3" \
  --json "$TMP/s3.json" --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "missing goroutine: exit $rc, want 1"
check_json "$TMP/s3.json" '"goroutine" in j["reason"]' \
  '"HTTP 404" in j["reason"]' 'j["snapshots"]["failed"] == 3'

note "nothing listening at the snapshot URL: bounded, fails"
start=$SECONDS
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 5 --hold 0 \
  --settle 0 --snapshot-url http://127.0.0.1:$(free_port) \
  --snapshot-dir "$TMP/s4" --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "no profiler: exit $rc, want 1"
[ $((SECONDS - start)) -le 20 ] || fail "no profiler: took too long"
echo "PASS loadgen_snapshot"
