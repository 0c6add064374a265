#!/bin/bash
# report.html rendered by a real browser: headless Chromium (Debian's
# `chromium` package) loads the report of a run from a preloaded process
# (the known service, tests/cli/alloc_service.c, with a sampled timeline),
# a copy with a measuring script appended reports the rendered size of
# each SVG and of its drawn elements, the points each timeline line draws
# and any two labels of a chart whose boxes overlap, and a screenshot is
# taken and checked to be a non-trivial PNG. The report itself has no
# script; the measurement runs only in the test's copy.
# Skips (exit 0, says so) when /usr/bin/chromium is absent.
. tests/cli/lib.sh

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: $CHROMIUM not found (Debian package: chromium)"
  exit 0
fi
LIB=$BUILD/lib/libnprof.so
[ -f "$LIB" ] || { echo "FAIL: $LIB is not built"; exit 1; }
SVC=$BUILD/test/cli/alloc_service
[ -x "$SVC" ] || { echo "FAIL: $SVC is not built"; exit 1; }
run=$TMP/run
# 3 + 4 + 1 + 3 + 4 + 3 samples (mkrundir's schedule).
samples=18
timeout 120 /usr/bin/python3 tests/cli/mkrundir.py "$LIB" "$run" --users 40 \
  --timeline --ramp-steps 4 --drain-steps 4 --hold-samples 3 \
  --service "$SVC" --size 262144 --chunk 262144 --mmap-threshold 65536 \
  >/dev/null || { echo "FAIL: mkrundir"; exit 1; }
"$NPROF" report "$run" >/dev/null || { echo "FAIL: nprof report"; exit 1; }

# chromium FILE ARGS...: one bounded headless run with a throwaway profile.
chromium() {
  local udd
  udd=$(mktemp -d "$TMP/chromium.XXXXXX")
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --disable-dev-shm-usage --user-data-dir="$udd" "$@" \
    2>>"$TMP/chromium.log"
}

cp "$run/report.html" "$TMP/measure.html"
cat >>"$TMP/measure.html" <<'EOF'
<script>
// Appended by the test only: rendered boxes of the report's SVGs, the
// points of each timeline line, and labels whose boxes overlap.
var out = [];
document.querySelectorAll("svg").forEach(function (svg) {
  var box = svg.getBoundingClientRect(), drawn = 0, kids = 0;
  svg.querySelectorAll("rect, polyline, circle, text").forEach(function (e) {
    var b = e.getBBox();
    kids++;
    if (b.width > 0 && b.height > 0) drawn++;
  });
  var labels = [], overlaps = 0;
  if (svg.getAttribute("class") != "flame") {
    svg.querySelectorAll("text").forEach(function (t) {
      var b = t.getBoundingClientRect();
      if (b.width > 0) labels.push({t: t.textContent, b: b});
    });
    for (var i = 0; i < labels.length; i++)
      for (var j = i + 1; j < labels.length; j++) {
        var a = labels[i].b, c = labels[j].b;
        if (a.left < c.right - 0.5 && c.left < a.right - 0.5 &&
            a.top < c.bottom - 0.5 && c.top < a.bottom - 0.5) {
          overlaps++;
          out.push("overlap " + labels[i].t + " / " + labels[j].t);
        }
      }
  }
  out.push(svg.getAttribute("class") + " " + Math.round(box.width) + "x" +
           Math.round(box.height) + " elements=" + kids + " drawn=" + drawn +
           " labels=" + labels.length + " overlaps=" + overlaps);
  svg.querySelectorAll("polyline.series").forEach(function (l) {
    out.push("line " + l.getAttribute("data-series").replace(/[^A-Za-z0-9.]/g, "_") +
             " points=" + l.points.numberOfItems +
             " length=" + Math.round(l.getTotalLength()));
  });
});
var pre = document.createElement("pre");
pre.id = "measure";
pre.textContent = out.join("\n");
document.body.appendChild(pre);
</script>
EOF
chromium --virtual-time-budget=5000 --dump-dom "file://$TMP/measure.html" \
  >"$TMP/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$TMP/chromium.log")"
grep -oE '((timeline|flame|latency) [0-9]+x[0-9]+ elements=[0-9]+ drawn=[0-9]+ labels=[0-9]+ overlaps=[0-9]+|line [^ ]+ points=[0-9]+ length=[0-9]+|overlap [^<"]*)' \
  "$TMP/dom.html" | grep -v '^overlap $' >"$TMP/measure.txt"
cat "$TMP/measure.txt"
check_svg() { # CLASS MIN_ELEMENTS COUNT
  local w h n d l o
  [ "$(grep -c -E "^$1 " "$TMP/measure.txt")" -eq "$3" ] ||
    fail "want $3 rendered <svg class=\"$1\">, got $(grep -c -E "^$1 " "$TMP/measure.txt")"
  while read -r _ wh n d l o; do
    w=${wh%x*} h=${wh#*x} n=${n#elements=} d=${d#drawn=} o=${o#overlaps=}
    [ "$w" -ge 300 ] && [ "$h" -ge 50 ] || fail "$1 renders at ${w}x$h"
    [ "$n" -ge "$2" ] || fail "$1 has $n elements, want >= $2"
    # Every element has a box, bar the empty labels of narrow frames.
    [ "$d" -ge $((n * 3 / 4)) ] || fail "$1: only $d of $n elements drawn"
    [ "$o" -eq 0 ] || fail "$1: $o pairs of labels overlap"
  done < <(grep -E "^$1 " "$TMP/measure.txt")
}
check_svg timeline 40 1
check_svg latency 20 2
check_svg flame 5 1
# Every sample is a point of each line, and the lines are drawn.
for series in RSS heap_in_use__sampled_ svc.users loadgen_connected threads open_fds; do
  line=$(grep -E "^line $series points=" "$TMP/measure.txt")
  [ -n "$line" ] || { fail "no rendered line for $series"; continue; }
  points=$(echo "$line" | sed -E 's/.*points=([0-9]+).*/\1/')
  length=$(echo "$line" | sed -E 's/.*length=([0-9]+).*/\1/')
  [ "$points" -eq "$samples" ] || fail "$series draws $points points, want $samples"
  [ "$length" -gt 100 ] || fail "$series is $length px long"
done

chromium --window-size=1300,2600 --screenshot="$TMP/shot.png" \
  "file://$run/report.html" >/dev/null ||
  fail "chromium --screenshot failed: $(tail -5 "$TMP/chromium.log")"
/usr/bin/python3 - "$TMP/shot.png" <<'EOF' || fail "screenshot is not a rendered page"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1300, 2600), (w, h)
# Decompress the image and count distinct byte values per row sample:
# a blank page is one colour; charts and a flame graph are many.
pos, idat = 8, b""
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4]); kind = data[pos + 4:pos + 8]
    if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
assert len(set(raw[::97])) > 20, "page looks blank"
EOF

finish
