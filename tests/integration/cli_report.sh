#!/bin/bash
# `nprof report RUN_DIR` on run directories written from a real process with
# libnprof preloaded (tests/cli/mkrundir.py: 300 "users" of 16 KiB each at
# plateau, 30 kept after drain, 3 extra threads). Checks the headline and
# every section of report.md, that report.html is self-contained, escaped
# and has well-formed non-empty SVG charts, that the pprof commands it
# prints work, the thresholds' exit codes, missing and unreadable inputs,
# a run in the older loadgen's format, and the usage contract.
. tests/cli/lib.sh

LIB=$BUILD/lib/libnprof.so
[ -f "$LIB" ] || { echo "FAIL: $LIB is not built"; exit 1; }
PY=/usr/bin/python3
mkrun() { # DIR [mkrundir options]
  local dir=$1
  shift
  timeout 120 $PY tests/cli/mkrundir.py "$LIB" "$dir" "$@" >/dev/null ||
    { echo "FAIL: mkrundir $*"; exit 1; }
}
# Thread names are the OS's (15 bytes): markup in them must come out escaped.
run=$TMP/snapshots/20261125T231000Z-300
mkrun "$run" --users 300 --leak 30 --threads 3 --thread-prefix '<i>&c-'

# ---- the full run ----
check_run 0 '' "$NPROF" report "$run"
cp "$TMP/out" "$TMP/full.out"
grep -qx "report: $run/report.md" "$TMP/out" || fail "no md path: $(cat "$TMP/out")"
grep -qx "report: $run/report.html" "$TMP/out" || fail "no html path"
head=$(tail -1 "$TMP/out")
# 300 x 16 KiB bytearrays: about 16 KiB of sampled heap per user; the
# drained process keeps 30 of them (~480 KiB) and its threads are gone.
echo "$head" | grep -Eq '^300 users: \+[0-9.]+ (KiB|MiB) RSS/user, \+1[4-9]\.[0-9] KiB heap/user; retained after drain [0-9.]+ (KiB|MiB) \(RSS [+-]?[0-9.]+ (B|KiB|MiB)(, [0-9]+% explained)?\); 0 threads leaked$' ||
  fail "headline: $head"
ret=$(echo "$head" | sed -E 's/.*retained after drain ([0-9.]+) (KiB|MiB).*/\1 \2/')
case $ret in
  [3-6][0-9][0-9].*KiB) ;;
  *) fail "retained after drain should be about 480 KiB: $ret" ;;
esac
[ -z "$(find "$run" -name '.*')" ] || fail "temporary files left: $(ls -a "$run")"
[ "$(stat -c %a "$run/report.html")" = 644 ] || fail "report.html mode"

md=$run/report.md
for h in '# Load test report: 20261125T231000Z-300' '## Run' \
    '## Load generator' '## Phases' '## Timeline' \
    '## Cost per connected user' '## Where the RSS went' \
    '## Retained after drain' '## Threads that appeared or changed' \
    '## Flame graph: plateau minus baseline heap' '## Dig further'; do
  grep -qxF "$h" "$md" || fail "report.md lacks '$h'"
done
grep -q 'Missing or unreadable' "$md" && fail "full run reports missing inputs"
# run.json in people's words; the loadgen's results with units; latency
# from its histograms (mkrundir: connect 0.5-5.4 ms, delivery 0.2-2.1 ms,
# percentiles as the loadgen computes them).
grep -Eq '^\| users requested \| 300 \|$' "$md" || fail "run.json parameters"
grep -Eq '^\| ramp rate \| 0 streams/s \(0: as fast as it goes\) \|$' "$md" ||
  fail "run.json rate with its unit"
grep -Eq '^\| users variable \| notifier\.users \|$' "$md" || fail "users_var"
grep -q '^Streams: 300 established of 300 requested in 0\.25 s (1200 streams/s); peak 300, 0 failed\.$' "$md" ||
  fail "loadgen streams: $(grep '^Streams' "$md")"
grep -q "^The load generator's own memory (the client's, not the service's): RSS [0-9.]+ MiB at baseline" "$md" ||
  grep -Eq "^The load generator's own memory \(the client's, not the service's\): RSS [0-9.]+ MiB" "$md" ||
  fail "client memory"
grep -Eq '^\| connect \| 300 \| 2\.9[0-9] ms \| 4\.9[0-9] ms \| 5\.40 ms \| 5\.40 ms \| 5\.40 ms \|$' "$md" ||
  fail "connect latency: $(grep '^| connect' "$md")"
grep -Eq '^\| delivery \| 900 \| ' "$md" || fail "delivery latency"
grep -q 'Errors the load generator saw' "$md" && fail "errors shown when there are none"
grep -Eq '^\| baseline \| 20[0-9-]+ [0-9:]+ \| [0-9.]+ MiB \| [0-9.]+ MiB \| ([0-9.]+ [KM]iB|n/a) \| [0-9]+ \| 0 \| [0-9]+ \|$' "$md" ||
  fail "baseline phase row: $(grep '^| baseline' "$md")"
grep -Eq '^\| plateau \| 20[0-9-]+ [0-9:]+ \| [0-9.]+ MiB \| [0-9.]+ MiB \| ([0-9.]+ [KM]iB|n/a) \| [0-9]+ \| 300 \| [0-9]+ \|$' "$md" ||
  fail "plateau phase row: $(grep '^| plateau' "$md")"
grep -q '| users (notifier.users) |' "$md" || fail "phase table names the users variable"
grep -q '^300 users (notifier.users at plateau)' "$md" || fail "N and its source"
grep -q '^No timeline: this run has only the three phase snapshots' "$md" ||
  fail "a run without timeline.jsonl must say so"
grep -Eq '^\| RSS change \| \+[0-9.]+ MiB \| \+[0-9.]+ MiB \|$' "$md" ||
  fail "RSS accounting table"
grep -Eq '^After drain the RSS is [+-][0-9.]+ (B|KiB|MiB) over baseline' "$md" ||
  fail "RSS accounting sentence"
# The first allocation site carries the 4.7 MiB of bytearrays, ~16 KiB/user.
awk '/^\| flat \| per user/{getline; getline; print; exit}' "$md" |
  grep -Eq '^\| \+4\.[0-9] MiB \| \+1[4-9]\.[0-9] KiB \| \+4\.[0-9] MiB \| ` .+ ` \|$' ||
  fail "first allocation site: $(awk '/^\| flat \| per user/{getline; getline; print; exit}' "$md")"
grep -q 'Leak suspects' "$md" || fail "no leak suspects"
# The three named threads appeared at plateau and went away.
grep -Eq '^\| &lt;i&gt;&amp;c-N \| ` .* ` \| 0 \| 3 \| 0 \|$' "$md" ||
  fail "thread row: $(sed -n '/## Threads/,/## Timeline/p' "$md")"
grep -qF -- "    go tool pprof -top -diff_base $run/baseline.heap.pb.gz $run/plateau.heap.pb.gz" "$md" ||
  fail "pprof diff command"
grep -qF -- "go tool pprof -http=:0 -diff_base" "$md" || fail "pprof -http command"
grep -qF -- "    go tool pprof http://127.0.0.1:8086/debug/pprof/heap" "$md" ||
  fail "live pprof command from run.json's debug_url"

# The printed commands run, and pprof agrees with the report's first site
# (pprof reading copies whose unnamed frames carry nprof's FILE+0xOFFSET
# names, tests/cli/name_frames.py).
cmd=$(grep -m1 -- '    go tool pprof -top -diff_base' "$md" | sed 's/^    //')
# shellcheck disable=SC2086
"${GOENV[@]}" $cmd >/dev/null 2>"$TMP/pprof.err" ||
  fail "the report's command failed: $cmd: $(cat "$TMP/pprof.err")"
for p in baseline plateau; do
  $PY tests/cli/name_frames.py "$run/$p.heap.pb.gz" "$TMP/$p.named.pb.gz" ||
    fail "name_frames.py $p"
done
"${GOENV[@]}" go tool pprof -top -symbolize=none -diff_base \
  "$TMP/baseline.named.pb.gz" "$TMP/plateau.named.pb.gz" >"$TMP/pprof.txt" \
  2>"$TMP/pprof.err" || fail "pprof on the named copies: $(cat "$TMP/pprof.err")"
"$NPROF" diff -n 0 --symbolize none "$run/baseline.heap.pb.gz" \
  "$run/plateau.heap.pb.gz" >"$TMP/nprof.txt" || fail "nprof diff"
diff -q "$TMP/pprof.txt" "$TMP/nprof.txt" >/dev/null ||
  fail "nprof diff differs from pprof: $(diff "$TMP/pprof.txt" "$TMP/nprof.txt" | head -5)"
site=$(awk '/^\| flat \| per user/{getline; getline; print; exit}' "$md" |
  sed -E 's/.*\| ` (.+) ` \|$/\1/')
sed -n '/flat%/{n;p;q}' "$TMP/pprof.txt" | grep -qF "$site" ||
  fail "pprof's first row is not the report's first site ($site)"

# report.html: self-contained, escaped, two well-formed non-empty SVGs.
html=$run/report.html
grep -Eiq '<(script|link|img|iframe)|src=|href="?(http|//)|url\(' "$html" &&
  fail "report.html is not self-contained"
grep -q '<i>&c' "$html" && fail "a thread name went into the HTML unescaped"
grep -qF '&lt;i&gt;&amp;c-N' "$html" || fail "escaped thread name missing"
$PY - "$html" <<'EOF' || fail "report.html structure"
import re, sys, xml.etree.ElementTree as ET
from html.parser import HTMLParser
text = open(sys.argv[1], encoding="utf-8").read()  # strict: valid UTF-8
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.bad = []
    def handle_starttag(self, tag, a):
        if tag not in ("meta", "br"):
            self.stack.append(tag)
    def handle_startendtag(self, tag, a): pass
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.bad.append(tag)
        else:
            self.stack.pop()
p = P(); p.feed(text); p.close()
assert not p.bad and not p.stack, ("unbalanced", p.bad, p.stack)
svgs = re.findall(r"<svg .*?</svg>", text, re.S)
ns = "{http://www.w3.org/2000/svg}"
kinds = {}
for s in svgs:
    root = ET.fromstring(s)  # inline SVG must be well-formed XML
    kinds.setdefault(root.get("class"), []).append(root)
# no timeline.jsonl: no timeline chart (no three points joined by lines)
assert sorted(kinds) == ["flame", "latency"], sorted(kinds)
assert len(kinds["latency"]) == 2, len(kinds["latency"])
for lat in kinds["latency"]:
    bars = [e for e in lat.iter(ns + "rect") if e.get("class") == "bar"]
    pct = [e for e in lat.iter(ns + "line") if e.get("class") == "pct"]
    assert bars and all(float(b.get("height")) > 0 for b in bars), lat.get("data-latency")
    assert len(pct) == 5, len(pct)
kinds = {k: v[0] for k, v in kinds.items()}
f = kinds["flame"]
rects = list(f.iter(ns + "rect"))
assert len(rects) >= 5, len(rects)
assert all(float(r.get("width")) > 0 for r in rects)
assert any(float(r.get("width")) >= 1199 for r in rects)  # the root
titles = [e.text for e in f.iter(ns + "title")]
assert titles[0].startswith("all ("), titles[0]
assert any("MB" in x for x in titles), titles[:3]
EOF

# ---- thresholds ----
check_run 3 'MAX_BYTES_PER_USER=1\.0 KiB EXCEEDED: (RSS|heap) per user is' \
  "$NPROF" report --max-bytes-per-user 1K "$run"
grep -q 'MAX\\_BYTES\\_PER\\_USER=1.0 KiB EXCEEDED' "$md" ||
  fail "report.md does not say which threshold was exceeded"
grep -q 'class="fail">MAX_BYTES_PER_USER' "$html" || fail "html threshold"
check_run 0 'MAX_BYTES_PER_USER=1.0 MiB ok' env MAX_BYTES_PER_USER=1M \
  "$NPROF" report "$run"
check_run 3 'MAX_RETAINED_BYTES=64.0 KiB EXCEEDED: heap retained after drain is \+' \
  env MAX_RETAINED_BYTES=65536 "$NPROF" report "$run"
check_run 0 'MAX_RETAINED_BYTES=64.0 MiB ok' "$NPROF" report \
  --max-retained-bytes 64MiB "$run"
# The option wins over the environment; both checked at once.
check_run 3 'MAX_RETAINED_BYTES=1.0 KiB EXCEEDED' env MAX_RETAINED_BYTES=1G \
  "$NPROF" report --max-retained-bytes 1K --max-bytes-per-user 1G "$run"
check_run 2 'wants a size like 32K, not "lots"' "$NPROF" report \
  --max-bytes-per-user lots "$run"
check_run 2 'wants a size like 1M, not "-5"' env MAX_RETAINED_BYTES=-5 \
  "$NPROF" report "$run"
check_run 0 '' env MAX_BYTES_PER_USER= "$NPROF" report "$run"

# ---- a notifier that died after plateau: no drained files ----
died=$TMP/died
mkrun "$died" --users 100 --skip drained \
  --fail-reason 'snapshot drained: connect to 127.0.0.1:8086 failed <refused>'
check_run 0 'drained.heap.pb.gz is missing' "$NPROF" report "$died"
for f in drained.heap.pb.gz drained.goroutine.pb.gz drained.vars.json; do
  grep -q "^- $(echo "$f" | sed 's/\./\\./g') is missing$" "$died/report.md" ||
    fail "report.md does not list $f as missing"
done
grep -qF 'The load generator did not meet its goal: snapshot drained: connect to 127.0.0.1:8086 failed &lt;refused&gt;' \
  "$died/report.md" || fail "loadgen failure reason not in report.md"
grep -qF 'did not meet its goal: snapshot drained: connect to 127.0.0.1:8086 failed &lt;refused&gt;</p>' \
  "$died/report.html" || fail "loadgen failure reason not in report.html"
grep -q '^Unknown: the baseline or drained heap is missing.$' "$died/report.md" ||
  fail "retained section with drained missing"
grep -Eq '^\| drained \| 20[0-9-]+ [0-9:]+ \|( n/a \|){6}$' "$died/report.md" ||
  fail "drained phase row should be n/a: $(grep '^| drained' "$died/report.md")"
tail -1 "$TMP/out" | grep -q '^100 users: .* retained after drain n/a (RSS n/a); n/a threads leaked$' ||
  fail "headline with drained missing: $(tail -1 "$TMP/out")"
grep -q 'class="flame"' "$died/report.html" || fail "flame graph lost with drained missing"
check_run 1 'MAX_RETAINED_BYTES=1.0 MiB not checked: the baseline or drained heap is missing' \
  "$NPROF" report --max-retained-bytes 1M "$died"
check_run 0 'MAX_BYTES_PER_USER=1.0 MiB ok' "$NPROF" report \
  --max-bytes-per-user 1M "$died"

# Died before plateau, no loadgen result nor run.json: N unknown.
early=$TMP/early
mkrun "$early" --users 10 --skip plateau --skip drained --no-loadgen --no-run-json
check_run 0 'loadgen.json is missing' "$NPROF" report "$early"
grep -q '^Unknown number of connected users' "$early/report.md" || fail "unknown N"
grep -q '^No allocation sites: the baseline or plateau heap profile is missing.$' \
  "$early/report.md" || fail "no sites without plateau"
grep -q 'run.json' "$early/report.md" || fail "run.json absence not said"
check_run 1 'MAX_BYTES_PER_USER=.* not checked' "$NPROF" report \
  --max-bytes-per-user 1M "$early"

# ---- the older loadgen's files: rss_kib, no histograms, no users_var ----
old=$TMP/legacy
mkrun "$old" --users 50 --legacy --error reset=2
check_run 0 '' "$NPROF" report "$old"
grep -q '^50 users (streams the loadgen established)' "$old/report.md" ||
  fail "legacy: N from the loadgen: $(grep users "$old/report.md" | head -3)"
grep -q '| users (no users\\_var) |' "$old/report.md" ||
  fail "legacy: no users variable named"
grep -q "^The load generator's own memory (the client's, not the service's): RSS" "$old/report.md" ||
  fail "legacy: rss_kib is the client's memory"
grep -Eq '^\| connect \| 50 \| ' "$old/report.md" || fail "legacy: latency summary"
grep -q 'data-latency' "$old/report.html" && fail "legacy: a chart without histograms"
grep -q '^Errors the load generator saw:$' "$old/report.md" || fail "legacy: errors"
grep -Eq '^\| reset \| 2 \|$' "$old/report.md" || fail "legacy: the reset count"
grep -Eq '^\| (connect|timeout) \| 0 \|$' "$old/report.md" && fail "legacy: zero errors listed"

# ---- unreadable inputs: named, report still written, exit 1 ----
bad=$TMP/bad
cp -r "$run" "$bad"
rm -f "$bad/report.md" "$bad/report.html"
printf 'not a profile at all' >"$bad/plateau.heap.pb.gz"
printf '{"process": {"rss_bytes": 1,}' >"$bad/drained.vars.json"
check_run 1 'plateau\.heap\.pb\.gz is unreadable' "$NPROF" report "$bad"
grep -q 'drained.vars.json is unreadable: .*invalid JSON at byte' "$TMP/err" ||
  fail "bad vars not named: $(cat "$TMP/err")"
[ -s "$bad/report.md" ] && [ -s "$bad/report.html" ] ||
  fail "report not written despite unreadable inputs"
grep -q 'plateau\\.heap\\.pb\\.gz is unreadable' "$bad/report.md" ||
  grep -q 'plateau.heap.pb.gz is unreadable' "$bad/report.md" ||
  fail "report.md does not name the unreadable profile"

# ---- usage and hopeless input ----
check_run 2 'missing RUN_DIR' "$NPROF" report
check_run 2 'exactly one RUN_DIR' "$NPROF" report "$run" "$run"
check_run 2 'unknown option' "$NPROF" report --bogus "$run"
check_run 2 'needs a value' "$NPROF" report "$run" --max-bytes-per-user
check_run 0 '' "$NPROF" report --help && { grep -q '^usage: nprof report' "$TMP/out" ||
  fail "report --help"; }
check_run 1 'No such file or directory' "$NPROF" report "$TMP/nope"
check_run 1 'not a directory' "$NPROF" report "$run/run.json"
mkdir "$TMP/empty"
check_run 1 'holds no snapshots' "$NPROF" report "$TMP/empty"
[ -z "$(ls "$TMP/empty")" ] || fail "wrote into a directory that is no run"
ro=$TMP/ro
cp -r "$died" "$ro"
chmod 555 "$ro"
if [ "$(id -u)" -ne 0 ]; then
  check_run 1 'cannot create a temporary file' "$NPROF" report "$ro"
fi
chmod 755 "$ro"

finish
