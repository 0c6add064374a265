#!/bin/bash
# Names for stripped code, through a real debuginfod. The test builds the
# known service (tests/cli/alloc_service.c) with gcc -g, keeps its debug
# info apart (objcopy --only-keep-debug) and strips the binary, so that
# only a local `debuginfod -F DIR` (Debian's server, on a free port,
# stopped on exit) holds the names. Profiled under the real libnprof
# preload, its frames are unnamed: nprof shows them as
# alloc_service+0xOFFSET, never a runtime address. With DEBUGINFOD_URLS
# pointing at the server, nprof top, diff and report name them
# (user_alloc, user_extra_alloc). A server that does not answer costs one
# bounded wait and one clear line, and the report is still written.
. tests/cli/lib.sh

LIB=$BUILD/lib/libnprof.so
PY=/usr/bin/python3
[ -f "$LIB" ] || { echo "FAIL: $LIB is not built"; exit 1; }
for c in debuginfod objcopy strip gcc; do
  command -v "$c" >/dev/null || { echo "FAIL: $c not found (scripts/deps.sh test)"; exit 1; }
done
# The profiled process and the CLI start without a server to ask.
unset DEBUGINFOD_URLS
export DEBUGINFOD_CACHE_PATH=$TMP/cache

# ---- a stripped binary whose debug info lives only on the server ----
mkdir -p "$TMP/bin" "$TMP/debug"
prog=$TMP/bin/alloc_service
gcc -std=c17 -D_GNU_SOURCE -g -O1 -o "$prog" tests/cli/alloc_service.c -ldl ||
  { echo "FAIL: gcc"; exit 1; }
objcopy --only-keep-debug "$prog" "$TMP/debug/alloc_service.debug" &&
  strip "$prog" || { echo "FAIL: objcopy/strip"; exit 1; }
build_id=$(readelf -n "$prog" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
[ -n "$build_id" ] || { echo "FAIL: no build ID in $prog"; exit 1; }
nm "$prog" 2>&1 | grep -q user_alloc && fail "strip left user_alloc in the symbol table"
[ -e "/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug" ] &&
  { echo "FAIL: the debug file is installed locally: the test would prove nothing"; exit 1; }

run=$TMP/run
timeout 120 $PY tests/cli/mkrundir.py "$LIB" "$run" --users 100 \
  --service "$prog" --size 8192 --extra 4096 >/dev/null ||
  { echo "FAIL: mkrundir"; exit 1; }

# Unnamed in the profile: FILE+0xOFFSET, nothing invented, no address.
# (user_alloc: 8 KiB a user in 256-byte blocks, sampled at NPROF_HEAP_RATE
# 1024: each block with probability 0.22, so 3,200 blocks estimate the
# total within about 3% (one standard deviation); the checks allow 12%.)
check_run 0 '' "$NPROF" top -n 5 --symbolize none "$run/plateau.heap.pb.gz"
grep -Eq '  alloc_service\+0x[0-9a-f]+$' "$TMP/out" ||
  fail "unnamed frames should read alloc_service+0xOFFSET: $(cat "$TMP/out")"
grep -q 'user_alloc' "$TMP/out" && fail "named without debug info?"
grep -Eq '0x[0-9a-f]{9,}' "$TMP/out" && fail "a runtime address in top: $(cat "$TMP/out")"
unnamed_top=$(sed -n '/flat%/{n;p;q}' "$TMP/out" | awk '{print $NF}')

# ---- the server ----
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
debuginfod -d "$TMP/debuginfod.sqlite" -p "$port" -F -t 0 -g 0 "$TMP/debug" \
  >"$TMP/debuginfod.log" 2>&1 &
server=$!
cleanup_hooks+=("kill $server 2>/dev/null; wait $server 2>/dev/null")
url=http://127.0.0.1:$port
serves_debuginfo() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/buildid/$build_id/debuginfo")" = 200 ]
}
wait_until "$server" 150 serves_debuginfo || # its first scan: at most 30 s
  { echo "FAIL: debuginfod did not serve $build_id: $(tail -5 "$TMP/debuginfod.log")"; exit 1; }

export DEBUGINFOD_URLS=$url
check_run 0 '' "$NPROF" top -n 5 "$run/plateau.heap.pb.gz"
sed -n '/flat%/{n;p;q}' "$TMP/out" | grep -Eq '  user_alloc$' ||
  fail "top: the first row should be user_alloc: $(cat "$TMP/out")"
grep -q '  user_extra_alloc$' "$TMP/out" || fail "top: no user_extra_alloc"
grep -q 'alloc_service+0x' "$TMP/out" && fail "top: frames left unnamed"
[ -s "$DEBUGINFOD_CACHE_PATH/$build_id/debuginfo" ] ||
  fail "the fetched debug file is not in the cache ($DEBUGINFOD_CACHE_PATH)"

check_run 0 '' "$NPROF" diff -n 5 "$run/baseline.heap.pb.gz" "$run/plateau.heap.pb.gz"
grep -q '  user_alloc$' "$TMP/out" || fail "diff: user_alloc not named"

check_run 0 '' "$NPROF" report "$run"
md=$run/report.md
awk '/^\| flat \| per user/{getline; getline; print; exit}' "$md" |
  grep -Eq '^\| \+[0-9.]+ KiB \| \+([7-8]\.[0-9]|9\.0) KiB \| \+[0-9.]+ KiB \| ` user_alloc ` \|$' ||
  fail "report: first site: $(awk '/^\| flat \| per user/{getline; getline; print; exit}' "$md")"
grep -q '` user_extra_alloc `' "$md" || fail "report: user_extra_alloc not named"
grep -Eq '^[0-9]+ frames the profiles left unnamed were named offline from debug info by build ID \([0-9]+ from local \.build-id files, [1-9][0-9]* from debuginfod\)\.$' "$md" ||
  fail "report: how the frames were named: $(grep -A1 'Names for' "$md")"

# ---- a slow server is not cut short while the file arrives ----
# The debug file, padded to 800 kB (trailing bytes an ELF reader ignores),
# in 40 kB pieces 0.2 s apart: 4 s in all, four times DEBUGINFOD_TIMEOUT=1,
# but never a second without bytes (and above libdebuginfod's own floor of
# 100 kB per DEBUGINFOD_TIMEOUT).
$PY - "$TMP/debug/alloc_service.debug" "$build_id" >"$TMP/slow.port" <<'EOF' &
import http.server, sys, time
data, want = open(sys.argv[1], "rb").read(), "/buildid/%s/debuginfo" % sys.argv[2]
data += b"\0" * (800000 - len(data))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != want:
            self.send_error(404); return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for i in range(0, len(data), 40000):
            self.wfile.write(data[i:i + 40000]); self.wfile.flush(); time.sleep(0.2)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
slow=$!
cleanup_hooks+=("kill $slow 2>/dev/null; wait $slow 2>/dev/null")
for _ in $(seq 50); do [ -s "$TMP/slow.port" ] && break; sleep 0.1; done
start=$(date +%s)
DEBUGINFOD_URLS=http://127.0.0.1:$(cat "$TMP/slow.port") \
  DEBUGINFOD_CACHE_PATH=$TMP/cache-slow DEBUGINFOD_TIMEOUT=1 \
  check_run 0 '' "$NPROF" top -n 3 "$run/plateau.heap.pb.gz"
grep -q '  user_alloc$' "$TMP/out" ||
  fail "a slow but steady server was cut short: $(cat "$TMP/err")"
[ $(($(date +%s) - start)) -ge 3 ] || fail "the slow server took under 3 s: no test"
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null

# ---- a server that does not answer: one bounded wait, one clear line ----
# A socket that listens and never answers: connections open, no reply.
$PY -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
time.sleep(120)
' >"$TMP/silent.port" &
silent=$!
cleanup_hooks+=("kill $silent 2>/dev/null; wait $silent 2>/dev/null")
for _ in $(seq 50); do [ -s "$TMP/silent.port" ] && break; sleep 0.1; done
export DEBUGINFOD_URLS=http://127.0.0.1:$(cat "$TMP/silent.port")
export DEBUGINFOD_CACHE_PATH=$TMP/cache2 DEBUGINFOD_TIMEOUT=2
start=$(date +%s)
check_run 0 'debuginfod: http://127\.0\.0\.1:[0-9]+ did not answer within 2000 ms; not asking it again' \
  "$NPROF" report "$run"
took=$(($(date +%s) - start))
# Several build IDs (the service, libc, ld.so, libnprof...) but one wait.
[ "$took" -le 8 ] || fail "a silent server cost ${took}s (DEBUGINFOD_TIMEOUT=2)"
[ "$(grep -c 'did not answer' "$TMP/err")" -eq 1 ] ||
  fail "the silent server should be said once: $(cat "$TMP/err")"
grep -q 'alloc_service+0x' "$md" || fail "report without names should show FILE+0xOFFSET"
grep -q 'a debuginfod server did not answer' "$md" || fail "report does not say the server failed"
echo "$unnamed_top" | grep -q '^alloc_service+0x' || fail "unnamed top row: $unnamed_top"

finish
