#!/bin/bash
# timeline.jsonl (--run-dir): against the project's notifier with libnprof,
# the expected number of samples, whose loadgen connected count and the
# service's own user count rise and fall with the users and whose service
# RSS rises with them; against a debug server that answers slowly, samples
# late but never piled up and the run unharmed; against none, null vars.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
NOTIFIER=${NOTIFIER:-build/bin/notifier}
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"
[ -x "$NOTIFIER" ] || { echo "SKIP loadgen_timeline: $NOTIFIER not built"; exit 0; }

start_notifier
gport=$NOTIFIER_GRPC dport=$NOTIFIER_DEBUG

note "2000 users held 3 s, sampled every 200 ms"
run=$TMP/run
timeout 120 "$LOADGEN" --target 127.0.0.1:$gport --streams 2000 --hold 3s \
  --settle 500ms --snapshot-url http://127.0.0.1:$dport --run-dir "$run" \
  --vars-interval 200ms --users-var notifier.users --quiet >"$TMP/a.out" 2>&1
rc=$?
cat "$TMP/a.out"
[ $rc -eq 0 ] || fail "exit $rc, want 0"
$PY - "$run" <<'PY' || fail "timeline"
import json, sys
d = sys.argv[1]
lines = [json.loads(l) for l in open(d + "/timeline.jsonl")]
j = json.load(open(d + "/loadgen.json"))
span = j["phases"]["end"] - j["phases"]["start"]
# One sample per 200 ms from the start, and the last word at the end.
want = span / 0.2
assert 0.6 * want <= len(lines) <= want + 3, (len(lines), want)
assert j["timeline_samples"] == len(lines)
ts = [l["t"] for l in lines]
assert ts == sorted(ts) and ts[0] <= j["phases"]["baseline"] + 0.5
phases = [l["phase"] for l in lines]
order = ["baseline", "ramp", "plateau", "hold", "drain", "drained"]
assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == \
    [p for p in order if p in phases], phases
assert {"baseline", "hold", "drained"} <= set(phases), phases
by = lambda p: [l for l in lines if l["phase"] == p]
conn = lambda l: l["loadgen"]["connected"]
users = lambda l: l["vars"]["notifier.users"]
rss = lambda l: l["vars"]["process"]["rss_bytes"]
assert all(l["vars"] is not None for l in lines)
# Rise: nobody at baseline, everybody while holding (loadgen and service).
assert all(conn(l) == 0 and users(l) == 0 for l in by("baseline")), [(conn(l), l["vars"].get("notifier.users"), sorted(l["vars"])) for l in by("baseline")]
assert all(conn(l) == 2000 for l in by("hold")), [conn(l) for l in by("hold")]
assert all(users(l) == 2000 for l in by("hold")), [users(l) for l in by("hold")]
# Fall: nobody once drained: at once for the loadgen, by the end of the
# settle for the service (it learns of each closed stream on its own
# time).
assert all(conn(l) == 0 for l in by("drained")), [conn(l) for l in by("drained")]
assert users(lines[-1]) == 0, users(lines[-1])
# The service's RSS follows the users up: at least 10 KB each (it is
# ~28 KiB here).
base = min(rss(l) for l in by("baseline"))
held = min(rss(l) for l in by("hold"))
assert held - base >= 2000 * 10000, (base, held)
# Our own memory, labelled as ours.
assert max(l["loadgen"]["client_rss_bytes"] for l in lines) > 0
run = json.load(open(d + "/run.json"))
assert run["users_var"] == "notifier.users"
print("timeline: %d samples over %.1f s; service RSS %.1f -> %.1f MiB"
      % (len(lines), span, base / 2**20, held / 2**20))
PY

note "a debug server whose /debug/vars takes 0.6 s: samples late, run unharmed"
$PY tests/lib/pprof_server.py "$TMP/slow.port" --slow 0.6 \
  --slow-path /debug/vars >"$TMP/slow.log" 2>&1 &
PIDS+=($!)
wait_file "$TMP/slow.port" 10 || fail "slow fixture did not start"
start_py_server srv
start=$SECONDS
timeout 120 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 50 --hold 4s \
  --settle 0 --snapshot-url http://127.0.0.1:$(cat "$TMP/slow.port") \
  --run-dir "$TMP/slow" --vars-interval 100ms --quiet >"$TMP/b.out" 2>&1
rc=$?
# The snapshots fetch /debug/vars too (0.6 s each, three phases).
[ $rc -eq 0 ] || { cat "$TMP/b.out"; fail "slow vars: exit $rc, want 0"; }
[ $((SECONDS - start)) -le 20 ] || fail "slow vars: took $((SECONDS - start)) s"
$PY - "$TMP/slow" <<'PY' || fail "slow timeline"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1] + "/timeline.jsonl")]
j = json.load(open(sys.argv[1] + "/loadgen.json"))
span = j["phases"]["end"] - j["phases"]["start"]
# one fetch at a time: at most one sample per 0.6 s (+ the last), not 10/s
# (a fetch slower than its 1 s timeout would make the sample's vars null)
assert 2 <= len(lines) <= span / 0.6 + 2, (len(lines), span)
assert all(l["vars"] is not None for l in lines)
assert j["streams_established"] == 50 and j["ok"] is True
PY

note "no debug server at all: vars null, every sample still written"
timeout 60 "$LOADGEN" --target 127.0.0.1:$PORT_srv --streams 10 --hold 1s \
  --settle 0 --run-dir "$TMP/none" --vars-interval 100ms --quiet \
  >/dev/null 2>&1 || fail "no debug server: want exit 0"
$PY -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1] + "/timeline.jsonl")]
assert len(lines) >= 5 and all(l["vars"] is None for l in lines), lines
assert max(l["loadgen"]["connected"] for l in lines) == 10
' "$TMP/none" || fail "null vars"
echo "PASS loadgen_timeline"
