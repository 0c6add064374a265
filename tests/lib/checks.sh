# The workflow tests' checks (sourced): each check prints "ok" or "FAIL"
# and counts, so a script runs every check and ends with a tally. The
# caller sets TMP (a folder of its own).
#   ok WHAT / bad WHAT                      a check's verdict
#   expect WHAT COMMAND...                  the command must succeed
#   expect_fail WHAT PATTERN COMMAND...     it must fail, saying PATTERN
#   tally NAME                              the closing line; the status
failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $*"; }
expect() {
  local what=$1; shift
  if "$@" >"$TMP/out" 2>&1; then ok "$what"; else bad "$what"; tail -20 "$TMP/out"; fi
}
expect_fail() {
  local what=$1 pattern=$2; shift 2
  if "$@" >"$TMP/out" 2>&1; then bad "$what (succeeded)"; tail -5 "$TMP/out"
  elif grep -q -- "$pattern" "$TMP/out"; then ok "$what"
  else bad "$what (no '$pattern')"; tail -5 "$TMP/out"; fi
}
tally() {
  echo "$1: $((checks - failures)) passed, $failures failed"
  [ $failures -eq 0 ]
}
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
