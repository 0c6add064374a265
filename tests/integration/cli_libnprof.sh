#!/bin/bash
# The CLI against the project's own library: an unmodified program (the
# system python3) runs with libnprof preloaded, `nprof fetch` pulls its heap,
# allocs and goroutine profiles over HTTP, and `nprof top` must print
# exactly what `go tool pprof -top -symbolize=none` prints for the same
# files (frames the library could not name carry nprof's FILE+0xOFFSET
# names in pprof's copy, tests/cli/name_frames.py). This is the "encoder
# output decodes with the project's own decoder and with go tool pprof"
# check, end to end.
. tests/cli/lib.sh

LIB=$PWD/$BUILD/lib/libnprof.so
PY=/usr/bin/python3
[ -e "$LIB" ] || { echo "FAIL: $LIB is not built"; exit 1; }
[ -x "$PY" ] || PY=$(command -v python3)

# A free port from the kernel; the short window before the target binds it
# is the usual, accepted race.
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port/debug/pprof

# Known allocations (20,000 live blocks of 1-21 kB), then idle. Every
# allocation is sampled so the heap profile is not empty by chance.
NPROF_LISTEN=127.0.0.1:$port NPROF_HEAP_RATE=1 LD_PRELOAD=$LIB "$PY" -c '
import time
keep = [bytes(1000 + i) for i in range(20000)]
time.sleep(60)
' >"$TMP/target.log" 2>&1 &
target=$!
cleanup_hooks+=("kill $target 2>/dev/null; wait $target 2>/dev/null")

wait_until "$target" 50 "$NPROF" fetch --timeout 2 "$base/" -o "$TMP/index.html" 2>/dev/null ||
  { echo "FAIL: no server on $port: $(cat "$TMP/target.log")"; exit 1; }

for name in heap allocs goroutine; do
  file=$TMP/$name.pb.gz
  check_run 0 'saved' "$NPROF" fetch "$base/$name" -o "$file" || continue
  if ! "${GOENV[@]}" PPROF_TMPDIR="$TMP" HOME="$TMP" go tool pprof -top \
      -symbolize=none "$file" >"$TMP/raw" 2>"$TMP/want.err"; then
    fail "go tool pprof rejects the library's $name profile: $(cat "$TMP/want.err")"
    continue
  fi
  # Frames libnprof could not name: pprof says "[file]" (or, from an older
  # libnprof, the invented "0xADDR@file"), nprof FILE+0xOFFSET. pprof reads
  # a copy carrying nprof's names, computed independently.
  /usr/bin/python3 tests/cli/name_frames.py "$file" "$TMP/named.pb.gz" ||
    { fail "name_frames.py on the $name profile"; continue; }
  "${GOENV[@]}" PPROF_TMPDIR="$TMP" HOME="$TMP" go tool pprof -top \
    -symbolize=none "$TMP/named.pb.gz" >"$TMP/want" 2>>"$TMP/want.err" ||
    { fail "go tool pprof rejects the named copy: $(cat "$TMP/want.err")"; continue; }
  if ! "$NPROF" top -n 0 --symbolize none "$file" >"$TMP/got" 2>"$TMP/got.err"; then
    fail "nprof top rejects the library's $name profile: $(cat "$TMP/got.err")"
    continue
  fi
  diff -u "$TMP/want" "$TMP/got" >"$TMP/diff" ||
    { fail "$name: nprof top differs from pprof:"; cat "$TMP/diff"; }
  grep -Eq '^Showing nodes accounting for .*[1-9].* total$' "$TMP/got" ||
    fail "$name: empty profile: $(head -5 "$TMP/got")"
  # Never a runtime address in nprof's names (pprof's raw output may).
  grep -Eq ' 0x[0-9a-f]{9,}(@|$)' "$TMP/got" &&
    fail "$name: nprof top shows runtime addresses: $(grep -E ' 0x[0-9a-f]{9,}' "$TMP/got" | head -3)"
done

finish
