#!/bin/bash
# `nprof compare BASE_RUN NEW_RUN` on two runs of one service whose cost per
# user differs by a known amount: the known service
# (tests/cli/alloc_service.c, under the libnprof preload) with 200 users
# of 16 KiB each, then the same with 8 KiB more per user from another
# allocation site (user_extra_alloc, the "regression"). The comparison
# must find heap per user up by about half, that site first at +8 KiB per
# user, exit 3 over --max-increase and 0 under it, and write compare.md
# and compare.html into NEW_RUN. The same runs of a stripped copy line
# their unnamed frames up by FILE+0xOFFSET across the two processes
# (loaded at different addresses). Also the usage contract.
. tests/cli/lib.sh

LIB=$BUILD/lib/libnprof.so
SVC=$BUILD/test/cli/alloc_service
PY=/usr/bin/python3
[ -f "$LIB" ] && [ -x "$SVC" ] || { echo "FAIL: $LIB or $SVC is not built"; exit 1; }
unset DEBUGINFOD_URLS
mkrun() { # DIR SERVICE [service args]
  local dir=$1
  shift
  timeout 120 $PY tests/cli/mkrundir.py "$LIB" "$dir" --users 200 \
    --service "$@" >/dev/null || { echo "FAIL: mkrundir $dir"; exit 1; }
}
base=$TMP/runs/20261201T100000Z-200
new=$TMP/runs/20261208T100000Z-200
mkrun "$base" "$SVC" --size 16384 --chunk 4096
mkrun "$new" "$SVC" --size 16384 --chunk 4096 --extra 8192

check_run 0 '' "$NPROF" compare "$base" "$new"
grep -qx "compare: $new/compare.md" "$TMP/out" || fail "no md path: $(cat "$TMP/out")"
grep -qx "compare: $new/compare.html" "$TMP/out" || fail "no html path"
[ ! -e "$base/compare.md" ] || fail "wrote into BASE_RUN"
head=$(sed -n 3p "$TMP/out")
# heap per user: ~16.1 KiB -> ~24.1 KiB, +50%. 16 KiB a user in 4 KiB
# blocks, sampled at NPROF_HEAP_RATE 1024 with probability 0.98 each: 800
# blocks estimate the total within about 0.5% (one standard deviation);
# the checks allow 3%.
echo "$head" | grep -Eq '^RSS per user \+[0-9.]+% \([0-9.]+ KiB -> [0-9.]+ KiB\), heap per user \+(4[5-9]|5[0-5])\.[0-9]% \(1[56]\.[0-9] KiB -> 2[34]\.[0-9] KiB\); largest site change user_extra_alloc \+8\.0 KiB/user$' ||
  fail "headline: $head"
sed -n 4p "$TMP/out" | grep -Eq '^ +\+8\.0 KiB/user  user_extra_alloc$' ||
  fail "printed sites: $(sed -n '4,8p' "$TMP/out")"
md=$new/compare.md
grep -qxF '# Load test comparison: 20261201T100000Z-200 vs 20261208T100000Z-200' "$md" ||
  fail "compare.md title: $(head -1 "$md")"
for h in '## Cost per connected user' \
    '## Allocation sites whose cost per user changed most' '## Latency' '## Runs'; do
  grep -qxF "$h" "$md" || fail "compare.md lacks '$h'"
done
awk '/^\| change per user \|/{getline; getline; print; exit}' "$md" |
  grep -Eq '^\| \+8\.0 KiB \| 0 B \| \+8\.0 KiB \| ` user_extra_alloc ` \|$' ||
  fail "first site row: $(awk '/^\| change per user \|/{getline; getline; print; exit}' "$md")"
# user_alloc costs the same in both.
grep -Eq '^\| [+-]?[0-9.]+ (B|KiB) \| \+1[5-7]\.[0-9] KiB \| \+1[5-7]\.[0-9] KiB \| ` user_alloc ` \|$' "$md" ||
  fail "user_alloc row: $(grep 'user_alloc `' "$md")"
grep -Eq '^\| users \| 200 \| 200 \| 0 \(\+0\.0%\) \|$' "$md" || fail "users row"
grep -Eq '^\| connect p99 \| 5\.40 ms \| 5\.40 ms \| \+0\.0% \|$' "$md" || fail "latency row"
grep -q '<svg\|<script' "$new/compare.html" && fail "compare.html holds a chart or script"
grep -q '<td class="r">+8.0 KiB</td>' "$new/compare.html" || fail "compare.html sites"

# The gate: exit 3 over it, 0 under it, the check said either way.
check_run 3 'MAX_INCREASE=10\.0% EXCEEDED: heap per user \+[0-9.]+% ' \
  "$NPROF" compare --max-increase 10 "$base" "$new"
grep -q 'class="fail">MAX_INCREASE=10.0% EXCEEDED' "$new/compare.html" ||
  fail "compare.html does not show the failed gate"
check_run 0 'MAX_INCREASE=200\.0% ok: heap per user' \
  "$NPROF" compare --max-increase 200% "$base" "$new"
# The other way round the cost went down: under any gate.
check_run 0 'MAX_INCREASE=1\.0% ok: heap per user -' \
  "$NPROF" compare --max-increase 1 "$new" "$base"
sed -n 3p "$TMP/out" | grep -q '; largest site change user_extra_alloc -8\.0 KiB/user$' ||
  fail "reversed headline: $(sed -n 3p "$TMP/out")"
# A run compared with itself changes by nothing.
check_run 0 'MAX_INCREASE=0\.0% ok: RSS per user \+0\.0%' \
  "$NPROF" compare --max-increase 0 "$base" "$base"

# ---- stripped: unnamed frames line up across the two processes ----
prog=$TMP/bin/alloc_service
mkdir -p "$TMP/bin"
gcc -std=c17 -D_GNU_SOURCE -g -O1 -o "$prog" tests/cli/alloc_service.c -ldl &&
  strip "$prog" || { echo "FAIL: gcc/strip"; exit 1; }
sbase=$TMP/runs/stripped-base snew=$TMP/runs/stripped-new
mkrun "$sbase" "$prog" --size 16384 --chunk 4096
mkrun "$snew" "$prog" --size 16384 --chunk 4096 --extra 8192
# The two processes loaded the service at different addresses (ASLR)...
start() { # RUN: where the service's code was mapped, as pprof reads it
  "${GOENV[@]}" go tool pprof -raw -symbolize=none "$1/plateau.heap.pb.gz" \
    2>/dev/null | sed -n '/^Mappings/,$p' | grep -m1 ' /.*/alloc_service ' |
    sed -E 's|^ *[0-9]+: (0x[0-9a-f]+)/.*|\1|'
}
a1=$(start "$sbase") a2=$(start "$snew")
[ -n "$a1" ] && [ -n "$a2" ] || fail "no alloc_service mapping in the profiles"
[ "$a1" != "$a2" ] || echo "note: both runs loaded the service at $a1 (no ASLR here?)"
check_run 3 'MAX_INCREASE=10\.0% EXCEEDED: heap per user' "$NPROF" compare \
  --symbolize none --max-increase 10 "$sbase" "$snew"
smd=$snew/compare.md
# ...yet the site that grew is one name in both, and the one that did not
# change lines up with itself (the same FILE+0xOFFSET in both runs).
awk '/^\| change per user \|/{getline; getline; print; exit}' "$smd" |
  grep -Eq '^\| \+8\.0 KiB \| 0 B \| \+8\.0 KiB \| ` alloc_service\+0x[0-9a-f]+ ` \|$' ||
  fail "stripped: first site: $(awk '/^\| change per user \|/{getline; getline; print; exit}' "$smd")"
grep -Eq '^\| [+-]?[0-9.]+ (B|KiB) \| \+1[5-7]\.[0-9] KiB \| \+1[5-7]\.[0-9] KiB \| ` alloc_service\+0x[0-9a-f]+ ` \|$' "$smd" ||
  fail "stripped: the unchanged site does not line up: $(sed -n '/## Allocation/,/## Latency/p' "$smd")"
grep -Eq '0x[0-9a-f]{9,}' "$smd" && fail "stripped: a runtime address in compare.md"

# ---- usage and hopeless input ----
check_run 2 'needs BASE_RUN and NEW_RUN' "$NPROF" compare "$base"
check_run 2 'takes only BASE_RUN and NEW_RUN' "$NPROF" compare "$base" "$new" "$new"
check_run 2 'wants a percentage like 10, not "lots"' "$NPROF" compare \
  --max-increase lots "$base" "$new"
check_run 2 'wants a percentage like 10, not "-5"' "$NPROF" compare \
  --max-increase -5 "$base" "$new"
check_run 2 'unknown option' "$NPROF" compare --bogus "$base" "$new"
check_run 2 '--symbolize wants none, local or debuginfod' "$NPROF" compare \
  --symbolize remote "$base" "$new"
check_run 0 '' "$NPROF" compare --help &&
  { grep -q '^usage: nprof compare' "$TMP/out" || fail "compare --help"; }
check_run 1 'NEW: .*No such file or directory' "$NPROF" compare "$base" "$TMP/nope"
mkdir "$TMP/empty"
check_run 1 'BASE: .*holds no snapshots' "$NPROF" compare "$TMP/empty" "$new"
# A run without what the gate needs: not checked, exit 1.
partial=$TMP/runs/partial
mkdir -p "$partial"
cp "$new"/baseline.* "$new/run.json" "$partial/"
check_run 1 'MAX_INCREASE=10\.0% not checked for heap per user' \
  "$NPROF" compare --max-increase 10 "$base" "$partial"

finish
