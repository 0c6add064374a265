#!/bin/bash
# The timeline, on runs with known content: the known service
# (tests/cli/alloc_service.c) under the libnprof preload, 40 users of
# 256 KiB each in blocks glibc maps on their own (--mmap-threshold), so
# RSS follows the users up and back down; mkrundir samples /debug/vars on a
# fixed schedule into timeline.jsonl. The report must count the samples
# that were written, chart every one of them (a failed fetch a gap, a torn
# last line left out), shade the phases and mark the snapshots; the RSS the
# samples show must rise and fall with the users.
. tests/cli/lib.sh

LIB=$BUILD/lib/libnprof.so
SVC=$BUILD/test/cli/alloc_service
PY=/usr/bin/python3
[ -f "$LIB" ] && [ -x "$SVC" ] || { echo "FAIL: $LIB or $SVC is not built"; exit 1; }

# Schedule: 3 baseline samples, 4 ramp steps, 1 plateau, 3 holding,
# 4 drain steps, then 3 drained: 18.
want=$((3 + 4 + 1 + 3 + 4 + 3))
mkrun() { # DIR [mkrundir options]; the summary line in DIR.summary
  local dir=$1
  shift
  timeout 120 $PY tests/cli/mkrundir.py "$LIB" "$dir" --users 40 --timeline \
    --ramp-steps 4 --drain-steps 4 --hold-samples 3 "$@" \
    --service "$SVC" --size 262144 --chunk 262144 --mmap-threshold 65536 \
    >"$dir.summary" || { echo "FAIL: mkrundir $*"; exit 1; }
}
run=$TMP/timeline
mkrun "$run"
grep -q "\"timeline_samples\": $want," "$run.summary" ||
  fail "mkrundir wrote $(cat "$run.summary"), want $want samples"
[ "$(wc -l <"$run/timeline.jsonl")" -eq "$want" ] || fail "timeline.jsonl lines"

# What the samples say, read here without nprof: RSS rises and falls with
# the users (each user is 256 KiB of its own mappings).
$PY - "$run/timeline.jsonl" <<'EOF' || fail "RSS does not follow the users"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rss = [r["vars"]["process"]["rss_bytes"] for r in rows]
users = [r["vars"]["svc.users"] for r in rows]
n = len(rows)
mr, mu = sum(rss) / n, sum(users) / n
cov = sum((a - mr) * (b - mu) for a, b in zip(rss, users))
var_r = sum((a - mr) ** 2 for a in rss)
var_u = sum((b - mu) ** 2 for b in users)
corr = cov / (var_r * var_u) ** 0.5
peak = max(range(n), key=lambda i: rss[i])
grow = rss[peak] - rss[0]
print("corr(RSS, users) %.3f; RSS %d -> %d -> %d KiB; users peak %d"
      % (corr, rss[0] >> 10, rss[peak] >> 10, rss[-1] >> 10, max(users)))
assert corr > 0.95, corr
assert users[peak] == 40, users[peak]
assert grow >= 40 * 256 * 1024 * 0.9, grow          # all 40 users resident
assert rss[-1] - rss[0] < grow * 0.2, rss[-1] - rss[0]  # and given back
EOF

check_run 0 '' "$NPROF" report "$run"
md=$run/report.md
grep -Eq "^timeline\.jsonl: $want samples over [0-9.]+ s; RSS peaked at [0-9.]+ MiB, [0-9.]+ s in \((ramp|plateau|hold|drain) phase\)\.$" "$md" ||
  fail "timeline sentence: $(grep '^timeline' "$md")"
grep -q 'cut short' "$md" && fail "a complete file reported torn"
$PY - "$run/report.html" "$want" <<'EOF' || fail "timeline chart"
import re, sys, xml.etree.ElementTree as ET
text, want = open(sys.argv[1]).read(), int(sys.argv[2])
ns = "{http://www.w3.org/2000/svg}"
svg = [ET.fromstring(s) for s in re.findall(r"<svg .*?</svg>", text, re.S)
       if 'class="timeline"' in s]
assert len(svg) == 1, len(svg)
t = svg[0]
panels = {g.get("data-panel"): g for g in t.iter(ns + "g")
          if g.get("class") == "panel"}
assert list(panels) == ["Memory (the service)", "Users", "Threads",
                        "Open files"], list(panels)
def points(panel, series):
    n = 0
    for e in panels[panel].iter():
        if e.get("data-series") != series:
            continue
        n += len(e.get("points").split()) if e.tag == ns + "polyline" else 1
    return n
for panel, series in (("Memory (the service)", "RSS"),
                      ("Memory (the service)", "heap in use (sampled)"),
                      ("Users", "svc.users"), ("Users", "loadgen connected"),
                      ("Threads", "threads"), ("Open files", "open fds")):
    got = points(panel, series)
    assert got == want, (panel, series, got, want)
bands = [r.find(ns + "title").text.split(":")[0] for r in t.iter(ns + "rect")
         if r.get("class") == "band"]
assert bands == ["baseline", "ramp", "hold", "drain", "drained"], bands
marks = [l.find(ns + "title").text for l in t.iter(ns + "line")
         if l.get("class") == "mark"]
assert marks == ["baseline", "plateau", "drained"], marks
EOF

# ---- a fetch that failed and a line cut short ----
gappy=$TMP/gappy
mkrun "$gappy" --vars-gap --torn
grep -q "\"timeline_samples\": $want," "$gappy.summary" || fail "gappy: samples"
check_run 0 '' "$NPROF" report "$gappy"
grep -Eq "^timeline\.jsonl: $want samples over" "$gappy/report.md" ||
  fail "gappy: the torn line counted as a sample: $(grep '^timeline' "$gappy/report.md")"
grep -q '^The last line was cut short' "$gappy/report.md" || fail "gappy: torn line not said"
grep -q '^1 sample without /debug/vars' "$gappy/report.md" || fail "gappy: gap not said"
grep -q 'unreadable\|is no sample' "$gappy/report.md" && fail "gappy: a torn line is no error"
$PY - "$gappy/report.html" "$want" <<'EOF' || fail "gappy: the gap should break the RSS line"
import re, sys, xml.etree.ElementTree as ET
text, want = open(sys.argv[1]).read(), int(sys.argv[2])
ns = "{http://www.w3.org/2000/svg}"
t = [ET.fromstring(s) for s in re.findall(r"<svg .*?</svg>", text, re.S)
     if 'class="timeline"' in s][0]
rss = [e for e in t.iter() if e.get("data-series") == "RSS"]
n = sum(len(e.get("points").split()) if e.tag == ns + "polyline" else 1
        for e in rss)
assert len(rss) == 2 and n == want - 1, (len(rss), n)
# the loadgen's own counter has no gap: one line, every sample
lc = [e for e in t.iter() if e.get("data-series") == "loadgen connected"]
assert len(lc) == 1 and len(lc[0].get("points").split()) == want
EOF

# ---- a timeline with one sample: said, not drawn ----
one=$TMP/one
mkdir -p "$one"
cp "$run/loadgen.json" "$run/run.json" "$one/"
head -1 "$run/timeline.jsonl" >"$one/timeline.jsonl"
check_run 0 '' "$NPROF" report "$one"
grep -q '^timeline.jsonl holds 1 sample: too few to chart.$' "$one/report.md" ||
  fail "one sample: $(sed -n '/## Timeline/,/##/p' "$one/report.md")"
grep -q 'class="timeline"' "$one/report.html" && fail "one sample charted"

finish
