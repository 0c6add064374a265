# Shared by tests/integration/cli_*.sh (sourced, from the repository top).
# Sets NPROF, TMP (removed on exit), GOENV; defines fail, check_run,
# wait_until, make_go_profiles and named; cleanup_hooks+=("CMD") runs CMD on
# exit, on every path (stop what the test started there).
set -u
BUILD=${BUILD:-build}
NPROF=$BUILD/bin/nprof
[ -x "$NPROF" ] || { echo "FAIL: $NPROF is not built (make $NPROF)"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nprof-cli-test.XXXXXX")
cleanup_hooks=()
cleanup() {
  for h in "${cleanup_hooks[@]+"${cleanup_hooks[@]}"}"; do eval "$h"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
# Standard library only: no network, no module cache, caches inside build/.
GOENV=(env GOCACHE="$PWD/build/gocache" GOPATH="$PWD/build/gopath"
  GO111MODULE=off GOFLAGS= GOTOOLCHAIN=local)
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# check_run WANT_EXIT STDERR_REGEX CMD...: runs CMD, checks its exit code
# and that stderr matches (extended regex; "" skips). Output in $TMP/out,
# $TMP/err.
check_run() {
  local want=$1 re=$2 rc
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "$* exited $rc, want $want; stderr: $(head -c 300 "$TMP/err")"
    return 1
  fi
  if [ -n "$re" ] && ! grep -Eq -- "$re" "$TMP/err"; then
    fail "$*: stderr does not match /$re/: $(head -c 300 "$TMP/err")"
    return 1
  fi
  return 0
}

# wait_until PID TRIES CMD...: runs CMD every 0.2 s until it succeeds, at
# most TRIES times (a bounded wait for a server the test started), giving
# up at once when process PID has exited. Returns 0 when CMD succeeded.
wait_until() {
  local pid=$1 tries=$2
  shift 2
  for _ in $(seq "$tries"); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# Writes heap.pb.gz, allocs.pb.gz and goroutine.pb.gz from a real Go
# program into $TMP/go.
make_go_profiles() {
  mkdir -p "$TMP/go"
  if [ -x "$BUILD/test/cli/goprof" ]; then
    "$BUILD/test/cli/goprof" "$TMP/go"
  else
    "${GOENV[@]}" go run tests/cli/goprof.go "$TMP/go"
  fi
}

# named FILE: prints the path of a copy of profile FILE whose frames without
# a function carry the FILE+0xOFFSET names nprof gives them, made once by
# tests/cli/name_frames.py (independently of nprof), so go tool pprof on the
# copy can be compared line by line with nprof on FILE.
named() {
  local out
  out=$TMP/named/$(echo "$1" | tr / _)
  if [ ! -s "$out" ]; then
    mkdir -p "$TMP/named"
    /usr/bin/python3 tests/cli/name_frames.py "$1" "$out" ||
      { fail "name_frames.py $1"; return 1; }
  fi
  echo "$out"
}

finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}
