#!/bin/bash
# `nprof top` on broken input: empty, truncated and corrupted gzip, gzip of
# garbage, truncated protobuf, dangling references, text pages, oversized
# (a 300 MiB gzip bomb against the 256 MiB cap), unreadable paths. Each must
# exit 1 with a message naming the file and the problem, print nothing on
# stdout, and never crash (no signal exit, no sanitizer report).
. tests/cli/lib.sh

make_go_profiles || { echo "FAIL: cannot make Go profiles"; exit 1; }
heap=$TMP/go/heap.pb.gz
size=$(stat -c %s "$heap")

# expect_broken FILE STDERR_REGEX
expect_broken() {
  check_run 1 "$2" "$NPROF" top "$1" || return
  [ -s "$TMP/out" ] && fail "top $1 printed on stdout: $(head -c 200 "$TMP/out")"
  grep -q "^nprof top: $1: " "$TMP/err" || fail "message does not name $1: $(cat "$TMP/err")"
  [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$1: want one line of error: $(cat "$TMP/err")"
}

: >"$TMP/empty"
expect_broken "$TMP/empty" 'empty input'

head -c $((size / 2)) "$heap" >"$TMP/half.gz"
expect_broken "$TMP/half.gz" 'truncated gzip data'
head -c 12 "$heap" >"$TMP/header-only.gz"
expect_broken "$TMP/header-only.gz" 'truncated gzip data'

# One byte flipped in the middle of the deflate data (every bit of it: a
# fixed value would leave the file intact when the byte already held it).
cp "$heap" "$TMP/flipped.gz"
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$heap" | tr -d ' ')
printf "\\$(printf '%03o' $((byte ^ 255)))" |
  dd of="$TMP/flipped.gz" bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s "$heap" "$TMP/flipped.gz" && fail "the flip changed nothing"
expect_broken "$TMP/flipped.gz" 'corrupt gzip data'

cat "$heap" >"$TMP/trailing.gz"
echo "garbage" >>"$TMP/trailing.gz"
expect_broken "$TMP/trailing.gz" 'trailing garbage'

printf '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff' | gzip >"$TMP/garbage.gz"
expect_broken "$TMP/garbage.gz" 'not a pprof profile'
printf '\x1f\x8bthis is not deflate data at all' >"$TMP/fake.gz"
expect_broken "$TMP/fake.gz" 'corrupt gzip data'

# Plain protobuf cut inside a field.
gunzip -c "$heap" >"$TMP/heap.pb"
head -c $(($(stat -c %s "$TMP/heap.pb") - 7)) "$TMP/heap.pb" >"$TMP/cut.pb"
expect_broken "$TMP/cut.pb" 'not a pprof profile|inconsistent|out of range|does not exist|string table'

"$BUILD/test/cli/mkprofile" --dangling "$TMP/dangling.pb.gz"
expect_broken "$TMP/dangling.pb.gz" 'sample 2: location id 99 does not exist'

# A debug=1 text page fetched by mistake gets a hint.
printf 'heap profile: 3: 1234 [5: 5678] @ heap/524288\n1: 16 [1: 16] @ 0x1\n' \
  >"$TMP/heap.txt"
expect_broken "$TMP/heap.txt" 'the input looks like text'

# 300 MiB of zeros compress to ~300 KB: refused at the 256 MiB cap while
# inflating, so memory stays bounded.
head -c 300M /dev/zero | gzip -1 >"$TMP/bomb.gz"
expect_broken "$TMP/bomb.gz" 'exceeds the 256 MiB limit'

check_run 1 'No such file or directory' "$NPROF" top "$TMP/nonexistent.pb.gz"
check_run 1 'Is a directory' "$NPROF" top "$TMP"

finish
