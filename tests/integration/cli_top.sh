#!/bin/bash
# `nprof top` against `go tool pprof -top` on the same files: real Go heap,
# allocs and goroutine profiles (tests/cli/goprof.go) and the known C-built
# profile (tests/cli/mkprofile), across sample indexes and row counts. The
# outputs must be identical: same header, totals, units, rows and order
# (pprof reading a copy whose frames without a function carry the
# FILE+0xOFFSET names nprof gives them, tests/cli/name_frames.py).
# Also the CLI's usage and help contract.
. tests/cli/lib.sh

make_go_profiles || { echo "FAIL: cannot make Go profiles"; exit 1; }
"$BUILD/test/cli/mkprofile" "$TMP/known.pb.gz" &&
  "$BUILD/test/cli/mkprofile" --plain "$TMP/known.pb" ||
  { echo "FAIL: mkprofile"; exit 1; }

# pprof names a frame without a function "[file]", nprof FILE+0xOFFSET:
# pprof reads a copy whose unnamed frames carry nprof's names (named, in
# tests/cli/lib.sh). Go's profiles name every frame.
# compare FILE N [SAMPLE_INDEX]: nprof top -n N vs pprof -nodecount=N
# (N=0: every row, which is pprof's -top default).
compare() {
  local file=$1 n=$2 si=${3:-} popts=() nopts=(--symbolize none) pfile
  [ "$n" -gt 0 ] && popts+=(-nodecount="$n")
  nopts+=(-n "$n")
  if [ -n "$si" ]; then
    popts+=(-sample_index="$si")
    nopts+=(--sample-index "$si")
  fi
  pfile=$(named "$file") || return
  if ! "${GOENV[@]}" go tool pprof -top "${popts[@]}" "$pfile" \
      >"$TMP/want" 2>"$TMP/want.err"; then
    fail "go tool pprof failed on $file: $(cat "$TMP/want.err")"
    return
  fi
  if ! "$NPROF" top "${nopts[@]}" "$file" >"$TMP/got" 2>"$TMP/got.err"; then
    fail "nprof top ${nopts[*]} $file failed: $(cat "$TMP/got.err")"
    return
  fi
  if ! diff -u "$TMP/want" "$TMP/got" >"$TMP/diff"; then
    fail "nprof top ${nopts[*]} $(basename "$file") differs from pprof:"
    cat "$TMP/diff"
    return
  fi
  # Guard against both printing nothing useful.
  grep -q "total$" "$TMP/got" || fail "no totals line for $file"
}
# The known profile's frame without a function, named by its file offset.
"$NPROF" top -n 0 "$TMP/known.pb.gz" | grep -q ' prog+0x234$' ||
  fail "known profile: no prog+0x234 row"

go=$TMP/go
for n in 0 3 10; do
  compare "$go/heap.pb.gz" "$n"
  compare "$go/allocs.pb.gz" "$n"
  compare "$go/goroutine.pb.gz" "$n"
  compare "$go/cpu.pb.gz" "$n"
  compare "$TMP/known.pb.gz" "$n"
done
for si in alloc_objects alloc_space inuse_objects inuse_space 0 2; do
  compare "$go/heap.pb.gz" 10 "$si"
done
compare "$go/allocs.pb.gz" 5 inuse_space
compare "$go/cpu.pb.gz" 10 samples
compare "$TMP/known.pb" 0 alloc_space

# What the Go program did must show, not just agree with pprof.
"$NPROF" top "$go/heap.pb.gz" >"$TMP/heap.txt" || fail "top heap"
grep -q '^Type: inuse_space$' "$TMP/heap.txt" ||
  fail "heap: default sample type is not the last one (inuse_space)"
# retainBig keeps 64 x 128 KiB = 8192 kB live (plus the growing slice
# header array, under 10 kB): the first row.
sed -n '/flat%/{n;p;q}' "$TMP/heap.txt" |
  grep -Eq '^ +(819[2-9]|820[0-1])(\.[0-9]+)?kB .*main\.retainBig$' ||
  fail "heap: first row is not main.retainBig 8192kB: $(cat "$TMP/heap.txt")"
grep -Eq 'main\.retainSmall$' "$TMP/heap.txt" || fail "heap: no main.retainSmall"
"$NPROF" top "$go/allocs.pb.gz" >"$TMP/allocs.txt" || fail "top allocs"
grep -q '^Type: alloc_space$' "$TMP/allocs.txt" ||
  fail "allocs: default_sample_type alloc_space not honoured"
"$NPROF" top -n 20 "$go/goroutine.pb.gz" >"$TMP/gr.txt" || fail "top goroutine"
grep -Eq '^ +0 +0% +[0-9.]+% +5 55\.56%  main\.parkA$' "$TMP/gr.txt" ||
  fail "goroutine: main.parkA should hold 5 of 9 goroutines: $(cat "$TMP/gr.txt")"
grep -Eq '^ +0 +0% +[0-9.]+% +3 33\.33%  main\.parkB$' "$TMP/gr.txt" ||
  fail "goroutine: main.parkB should hold 3 of 9 goroutines"
"$NPROF" top "$go/cpu.pb.gz" >"$TMP/cpu.txt" || fail "top cpu"
grep -Eq '^Duration: .*, Total samples = ' "$TMP/cpu.txt" || fail "cpu: no Duration line"
grep -Eq 'main\.spin$' "$TMP/cpu.txt" || fail "cpu: main.spin not in the top 10: $(cat "$TMP/cpu.txt")"
# Standard input, gzip or plain.
"$NPROF" top - <"$go/heap.pb.gz" | cmp -s - "$TMP/heap.txt" ||
  fail "top - (stdin) differs from top FILE"
"$NPROF" top -n 0 - <"$TMP/known.pb" | grep -q 'leaf (inline)$' ||
  fail "top of a plain protobuf on stdin"

# Usage errors exit 2 with a usage line; help exits 0 on stdout.
check_run 2 '^usage: nprof' "$NPROF"
check_run 2 'unknown verb' "$NPROF" bogus
check_run 2 'needs FILE' "$NPROF" top
check_run 2 'usage: nprof top' "$NPROF" top -n x "$go/heap.pb.gz"
check_run 2 'usage: nprof top' "$NPROF" top -n -1 "$go/heap.pb.gz"
check_run 2 'needs a value' "$NPROF" top "$go/heap.pb.gz" --sample-index
check_run 2 'unknown option' "$NPROF" top --bogus "$go/heap.pb.gz"
check_run 2 'takes only FILE' "$NPROF" top "$go/heap.pb.gz" "$go/heap.pb.gz"
for args in "--help" "help" "-h" "help top" "top --help" "fetch --help" \
    "help fetch"; do
  # shellcheck disable=SC2086
  check_run 0 '' "$NPROF" $args &&
    { grep -q '^usage: nprof' "$TMP/out" || fail "nprof $args: no usage on stdout"; }
done
check_run 2 'unknown verb' "$NPROF" help bogus
check_run 1 'must be one of: alloc_objects alloc_space inuse_objects inuse_space' \
  "$NPROF" top --sample-index bogus "$go/heap.pb.gz"
check_run 1 'outside the range \[0\.\.3\]' "$NPROF" top --sample-index 4 "$go/heap.pb.gz"

finish
