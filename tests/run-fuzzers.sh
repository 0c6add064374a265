#!/bin/bash
# Runs each libFuzzer target for a bounded time on its seed corpus.
#   tests/run-fuzzers.sh SECONDS FUZZER...
# A crash or leak makes the fuzzer exit non-zero and leaves the input in
# $FUZZ_WORK/artifacts/ (FUZZ_WORK: build/fuzz-work unless make says).
set -u
secs=$1; shift
passed=0; failed=0
work=${FUZZ_WORK:-build/fuzz-work}
mkdir -p "$work/artifacts"
for f in "$@"; do
  name=$(basename "$f")
  corpus=$work/corpus/$name
  mkdir -p "$corpus"
  seeds=tests/fuzz/corpus/${name#fuzz_}
  echo "=== fuzz $name (${secs}s)"
  if timeout --kill-after=10 $((secs + 60)) "$f" -max_total_time="$secs" \
      -artifact_prefix="$work"/artifacts/"$name"- -print_final_stats=0 \
      -rss_limit_mb=1024 "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) \
      > "$work"/artifacts/"$name".log 2>&1; then
    passed=$((passed + 1)); echo "--- PASS $name ($(grep -c . "$work"/artifacts/"$name".log) log lines)"
  else
    failed=$((failed + 1)); echo "--- FAIL $name"; tail -30 "$work"/artifacts/"$name".log
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
