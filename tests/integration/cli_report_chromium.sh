#!/bin/bash
# report.html rendered by a real browser: headless Chromium (Debian's
# `chromium` package) loads the report of a run from a preloaded process,
# a copy with a measuring script appended reports the rendered size of
# each SVG and of its drawn elements, and a screenshot is taken and
# checked to be a non-trivial PNG. The report itself has no script; the
# measurement runs only in the test's copy.
# Skips (exit 0, says so) when /usr/bin/chromium is absent.
. tests/cli/lib.sh

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: $CHROMIUM not found (Debian package: chromium)"
  exit 0
fi
LIB=$BUILD/lib/libnprof.so
[ -f "$LIB" ] || { echo "FAIL: $LIB is not built"; exit 1; }
run=$TMP/run
timeout 120 /usr/bin/python3 tests/cli/mkrundir.py "$LIB" "$run" --users 200 \
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
// Appended by the test only: rendered boxes of the report's SVGs.
var out = [];
document.querySelectorAll("svg").forEach(function (svg) {
  var box = svg.getBoundingClientRect(), drawn = 0, kids = 0;
  svg.querySelectorAll("rect, polyline, circle, text").forEach(function (e) {
    var b = e.getBBox();
    kids++;
    if (b.width > 0 && b.height > 0) drawn++;
  });
  out.push(svg.getAttribute("class") + " " + Math.round(box.width) + "x" +
           Math.round(box.height) + " elements=" + kids + " drawn=" + drawn);
});
var pre = document.createElement("pre");
pre.id = "measure";
pre.textContent = out.join("\n");
document.body.appendChild(pre);
</script>
EOF
chromium --virtual-time-budget=5000 --dump-dom "file://$TMP/measure.html" \
  >"$TMP/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$TMP/chromium.log")"
grep -oE '(timeline|flame) [0-9]+x[0-9]+ elements=[0-9]+ drawn=[0-9]+' \
  "$TMP/dom.html" >"$TMP/measure.txt"
cat "$TMP/measure.txt"
check_svg() { # CLASS MIN_ELEMENTS
  local line w h n d
  line=$(grep -E "^$1 " "$TMP/measure.txt")
  [ -n "$line" ] || { fail "no rendered <svg class=\"$1\">"; return; }
  read -r _ wh n d <<<"$line"
  w=${wh%x*} h=${wh#*x} n=${n#elements=} d=${d#drawn=}
  [ "$w" -ge 300 ] && [ "$h" -ge 50 ] || fail "$1 renders at ${w}x$h"
  [ "$n" -ge "$2" ] || fail "$1 has $n elements, want >= $2"
  # Every element has a box, bar the empty labels of narrow frames.
  [ "$d" -ge $((n * 3 / 4)) ] || fail "$1: only $d of $n elements drawn"
}
check_svg timeline 20
check_svg flame 5

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
