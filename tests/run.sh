#!/bin/bash
# Runs test programs, each as its own process with a time limit (a test that
# interposes malloc or installs signal handlers must not take the others down),
# and prints one closing line: "N passed, N failed".
#   tests/run.sh unit PROG... [-- integration SCRIPT...]
# TEST_TIMEOUT (seconds, default 300) bounds each program.
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
  timeout --kill-after=10 "$timeout_s" "$arg"
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  secs=$((ms / 1000)).$((ms % 1000 / 100))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    printf -- '--- PASS %s (%ss)\n' "$name" "$secs"
  else
    failed=$((failed + 1))
    [ $rc -eq 124 ] && why="timed out after ${timeout_s}s" || why="exit $rc"
    failures+=("$name: $why")
    printf -- '--- FAIL %s (%s, %ss)\n' "$name" "$why" "$secs"
  fi
done
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
