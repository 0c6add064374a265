#!/bin/bash
# `nprof fetch` against the tests' fake pprof server
# (tests/lib/pprof_server.py on a free port): the body lands in FILE byte for byte and `nprof top` reads it;
# FILE is replaced atomically and left alone on failure (no temporary files
# left over); non-2xx statuses print the body's first line and exit 1;
# redirects are followed; --seconds appends the query; timeouts and refused
# connections fail cleanly; -o - writes to stdout.
. tests/cli/lib.sh

make_go_profiles || { echo "FAIL: cannot make Go profiles"; exit 1; }
heap=$TMP/go/heap.pb.gz

/usr/bin/python3 tests/lib/pprof_server.py --file "$heap" --port-file "$TMP/port" \
  >"$TMP/fixture.log" 2>&1 &
fixture=$!
cleanup_hooks+=("kill $fixture 2>/dev/null; wait $fixture 2>/dev/null")
wait_until "$fixture" 50 test -s "$TMP/port" ||
  { echo "FAIL: fixture did not start: $(cat "$TMP/fixture.log")"; exit 1; }
base=http://127.0.0.1:$(cat "$TMP/port")

mkdir -p "$TMP/out.d"
out=$TMP/out.d/heap.pb.gz

# Success: identical bytes, usual file mode, no temporary left, readable.
umask 022
check_run 0 'saved [0-9]+ bytes' "$NPROF" fetch "$base/debug/pprof/heap" -o "$out"
cmp -s "$heap" "$out" || fail "fetched file differs from the served one"
[ "$(stat -c %a "$out")" = 644 ] || fail "mode $(stat -c %a "$out"), want 644 under umask 022"
[ "$(ls -A "$TMP/out.d" | wc -l)" -eq 1 ] || fail "left over files: $(ls -A "$TMP/out.d")"
check_run 0 '' "$NPROF" top "$out" && grep -q 'main\.retainBig$' "$TMP/out" ||
  fail "top of the fetched profile"

# Failure keeps the old FILE and leaves no temporary behind.
echo old >"$out"
check_run 1 'HTTP 404: Unknown profile: missing$' \
  "$NPROF" fetch "$base/missing" -o "$out"
grep -q "second line" "$TMP/err" && fail "printed more than the first line"
[ "$(cat "$out")" = old ] || fail "a failed fetch replaced FILE"
check_run 1 'HTTP 500: boom$' "$NPROF" fetch "$base/error" -o "$out"
[ "$(cat "$out")" = old ] || fail "a 500 replaced FILE"
[ "$(ls -A "$TMP/out.d" | wc -l)" -eq 1 ] || fail "left over files: $(ls -A "$TMP/out.d")"

# Redirects are followed; -o - writes to stdout only.
check_run 0 '' "$NPROF" fetch "$base/redirect" -o - &&
  { cmp -s "$heap" "$TMP/out" || fail "-o - after a redirect: wrong bytes"; }

# --seconds appends to the query, with & when there is one already.
check_run 0 '' "$NPROF" fetch --seconds 3 "$base/echo-query" -o - &&
  { [ "$(cat "$TMP/out")" = "seconds=3" ] || fail "--seconds: query $(cat "$TMP/out")"; }
check_run 0 '' "$NPROF" fetch "$base/echo-query?debug=1" --seconds 2 -o - &&
  { [ "$(cat "$TMP/out")" = "debug=1&seconds=2" ] || fail "--seconds with a query: $(cat "$TMP/out")"; }

# A server slower than --timeout: a timeout error within bounds.
start=$(date +%s)
check_run 1 'timed out|Timeout' "$NPROF" fetch --timeout 1 "$base/slow" -o "$out"
[ $(($(date +%s) - start)) -le 4 ] || fail "--timeout 1 took $(($(date +%s) - start))s"
[ "$(cat "$out")" = old ] || fail "a timed-out fetch replaced FILE"

# A destination that cannot be written.
check_run 1 'No such file or directory' \
  "$NPROF" fetch "$base/debug/pprof/heap" -o "$TMP/no/such/dir/x.pb.gz"

# Nothing listens on the fixture's port once it is gone.
kill "$fixture"; wait "$fixture" 2>/dev/null
check_run 1 'Connection refused|Could not connect|Failed to connect' \
  "$NPROF" fetch "$base/debug/pprof/heap" -o "$out"

# Bad usage.
check_run 2 '-o FILE is required' "$NPROF" fetch "$base/debug/pprof/heap"
check_run 2 'one URL' "$NPROF" fetch -o "$out"
check_run 2 'whole seconds' "$NPROF" fetch --seconds 0 "$base/x" -o "$out"
check_run 2 'whole seconds' "$NPROF" fetch --timeout abc "$base/x" -o "$out"
check_run 1 'Protocol|protocol|not supported|disabled' \
  "$NPROF" fetch "file:///etc/hostname" -o "$out"

finish
