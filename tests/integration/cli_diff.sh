#!/bin/bash
# `nprof diff BASE NEW` against `go tool pprof -diff_base=BASE -top NEW` on
# the same files: snapshots of a real process with libnprof preloaded
# (tests/cli/mkrundir.py: heap and thread profiles at baseline, plateau and
# drained), real Go profiles (tests/cli/goprof.go) and the known C-built
# profile, across sample indexes and row counts. The outputs must be
# identical: header, totals, units, rows and order. Then what the growth
# must show, and the verb's usage and error contract.
. tests/cli/lib.sh

LIB=$BUILD/lib/libnprof.so
[ -f "$LIB" ] || { echo "FAIL: $LIB is not built"; exit 1; }
run=$TMP/run
timeout 120 /usr/bin/python3 tests/cli/mkrundir.py "$LIB" "$run" --users 300 \
  --leak 30 >/dev/null || { echo "FAIL: mkrundir"; exit 1; }
make_go_profiles || { echo "FAIL: cannot make Go profiles"; exit 1; }
"$BUILD/test/cli/mkprofile" "$TMP/known.pb.gz" || { echo "FAIL: mkprofile"; exit 1; }

# compare BASE NEW N [SAMPLE_INDEX]
# (pprof reads copies whose frames without a function carry the
# FILE+0xOFFSET names nprof gives them: named, in tests/cli/lib.sh)
compare() {
  local base=$1 new=$2 n=$3 si=${4:-} popts=() nopts=(-n "$n" --symbolize none)
  local pbase pnew
  [ "$n" -gt 0 ] && popts+=(-nodecount="$n")
  if [ -n "$si" ]; then
    popts+=(-sample_index="$si")
    nopts+=(--sample-index "$si")
  fi
  pbase=$(named "$base") && pnew=$(named "$new") || return
  if ! "${GOENV[@]}" go tool pprof -diff_base="$pbase" -top "${popts[@]}" \
      "$pnew" >"$TMP/want" 2>"$TMP/want.err"; then
    fail "go tool pprof -diff_base failed on $base $new: $(cat "$TMP/want.err")"
    return
  fi
  if ! "$NPROF" diff "${nopts[@]}" "$base" "$new" >"$TMP/got" 2>"$TMP/got.err"; then
    fail "nprof diff ${nopts[*]} $base $new failed: $(cat "$TMP/got.err")"
    return
  fi
  if ! diff -u "$TMP/want" "$TMP/got" >"$TMP/diff"; then
    fail "nprof diff ${nopts[*]} $(basename "$base") $(basename "$new") differs from pprof:"
    head -40 "$TMP/diff"
    return
  fi
  grep -q "total$" "$TMP/got" || fail "no totals line for $base $new"
}

for n in 0 5 10; do
  compare "$run/baseline.heap.pb.gz" "$run/plateau.heap.pb.gz" "$n"
  compare "$run/baseline.heap.pb.gz" "$run/drained.heap.pb.gz" "$n"
  compare "$run/plateau.heap.pb.gz" "$run/drained.heap.pb.gz" "$n"
  compare "$run/baseline.goroutine.pb.gz" "$run/plateau.goroutine.pb.gz" "$n"
  compare "$run/plateau.goroutine.pb.gz" "$run/drained.goroutine.pb.gz" "$n"
done
for si in alloc_space inuse_objects alloc_objects 1; do
  compare "$run/baseline.heap.pb.gz" "$run/plateau.heap.pb.gz" 10 "$si"
done
go=$TMP/go
compare "$go/allocs.pb.gz" "$go/heap.pb.gz" 0
compare "$go/heap.pb.gz" "$go/allocs.pb.gz" 10 alloc_space
compare "$go/heap.pb.gz" "$go/heap.pb.gz" 0
compare "$TMP/known.pb.gz" "$TMP/known.pb.gz" 0

# The growth itself: 300 users of 16 KiB each is about 4.7 MiB more in use
# at plateau, led by the bytearray allocation path.
"$NPROF" diff "$run/baseline.heap.pb.gz" "$run/plateau.heap.pb.gz" \
  >"$TMP/grow.txt" || fail "diff heap"
flat=$(awk '/flat%/{getline; print $1; exit}' "$TMP/grow.txt")
case $flat in
  [4-5].[0-9]*MB|[4-5]MB) ;;
  *) fail "first row should hold about 4.7MB of growth, got '$flat'" ;;
esac
grep -q 'PyByteArray_Resize' "$TMP/grow.txt" ||
  fail "PyByteArray_Resize missing from the growth: $(cat "$TMP/grow.txt")"
# Same file on both sides: everything cancels.
"$NPROF" diff "$run/plateau.heap.pb.gz" "$run/plateau.heap.pb.gz" >"$TMP/zero.txt"
grep -q '^Showing nodes accounting for 0, 0% of ' "$TMP/zero.txt" ||
  fail "self diff is not empty: $(cat "$TMP/zero.txt")"
# Threads: three user-conn threads parked at plateau, gone when drained.
"$NPROF" diff -n 0 "$run/baseline.goroutine.pb.gz" "$run/plateau.goroutine.pb.gz" \
  >"$TMP/gr.txt" || fail "diff goroutine"
grep -Eq '^ +3 ' "$TMP/gr.txt" || fail "no +3 threads row: $(cat "$TMP/gr.txt")"

# Usage and errors.
check_run 2 'needs BASE and NEW' "$NPROF" diff
check_run 2 'needs BASE and NEW' "$NPROF" diff "$run/baseline.heap.pb.gz"
check_run 2 'takes only BASE and NEW' "$NPROF" diff a b c
check_run 2 'usage: nprof diff' "$NPROF" diff -n x a b
check_run 2 'unknown option' "$NPROF" diff --bogus a b
check_run 2 'only one of BASE and NEW' "$NPROF" diff - -
check_run 0 '' "$NPROF" diff --help && { grep -q '^usage: nprof diff' "$TMP/out" ||
  fail "diff --help: no usage on stdout"; }
check_run 1 '^nprof diff: BASE: .*missing' "$NPROF" diff "$TMP/missing" \
  "$run/plateau.heap.pb.gz"
printf 'not a profile' >"$TMP/junk"
check_run 1 '^nprof diff: NEW: ' "$NPROF" diff "$run/plateau.heap.pb.gz" "$TMP/junk"
check_run 1 'base profile has no sample type inuse_space/bytes' "$NPROF" diff \
  "$run/baseline.goroutine.pb.gz" "$run/plateau.heap.pb.gz"
check_run 1 'must be one of' "$NPROF" diff --sample-index bogus \
  "$run/baseline.heap.pb.gz" "$run/plateau.heap.pb.gz"
# stdin for one side
"$NPROF" diff - "$run/plateau.heap.pb.gz" <"$run/baseline.heap.pb.gz" |
  cmp -s - "$TMP/grow.txt" || fail "diff - NEW (stdin) differs from diff BASE NEW"

finish
