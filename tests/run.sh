#!/bin/bash
# Runs test programs, each as its own process with a time limit (a test that
# interposes malloc or installs signal handlers must not take the others down),
# and prints one closing line: "N passed, N failed".
#   tests/run.sh unit PROG... [-- integration SCRIPT...]
# TEST_TIMEOUT (seconds, default 300) bounds each program.
#
# Each program runs in a session of its own (setsid): whatever it started
# and left running when it ended (a server a test forgot to stop, also on a
# failure path) is still in that session, so it is listed, killed, and the
# test fails for it. Tests must stop what they start.
set -u
timeout_s=${TEST_TIMEOUT:-300}
passed=0
failed=0
failures=()
kind=unit
for arg in "$@"; do
  case "$arg" in
    --) continue ;;
    unit|integration|bench) kind=$arg; continue ;;
  esac
  name=$(basename "$arg")
  printf '=== %s %s\n' "$kind" "$name"
  start=$(date +%s%N)
  sidfile=$(mktemp)
  setsid -w bash -c 'echo $$ >"$1"; shift; exec timeout --kill-after=10 "$@"' \
    run "$sidfile" "$timeout_s" "$arg"
  rc=$?
  sid=$(cat "$sidfile")
  rm -f "$sidfile"
  # Give processes a moment to finish exiting after their test ended.
  left=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    left=$(pgrep -s "$sid" 2>/dev/null | paste -sd, -)
    [ -z "$left" ] && break
    sleep 0.2
  done
  if [ -n "$left" ]; then
    echo "$name left processes running:" >&2
    ps -o pid=,args= -p "$left" 2>/dev/null | cut -c1-200 | sed 's/^/    /' >&2
    pkill -KILL -s "$sid" 2>/dev/null
    [ $rc -eq 0 ] && rc=97
  fi
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  secs=$((ms / 1000)).$((ms % 1000 / 100))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    printf -- '--- PASS %s (%ss)\n' "$name" "$secs"
  else
    failed=$((failed + 1))
    case $rc in
      124) why="timed out after ${timeout_s}s" ;;
      97) why="left processes running" ;;
      *) why="exit $rc" ;;
    esac
    failures+=("$name: $why")
    printf -- '--- FAIL %s (%s, %ss)\n' "$name" "$why" "$secs"
  fi
done
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
