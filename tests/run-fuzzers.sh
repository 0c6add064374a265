#!/bin/bash
# Runs each libFuzzer target for a bounded time on its seed corpus.
#   tests/run-fuzzers.sh SECONDS FUZZER...
# A crash or leak makes the fuzzer exit non-zero and leaves the input in
# build/fuzz-artifacts/.
set -u
secs=$1; shift
passed=0; failed=0
mkdir -p build/fuzz-artifacts
for f in "$@"; do
  name=$(basename "$f")
  corpus=build/fuzz-corpus/$name
  mkdir -p "$corpus"
  seeds=tests/fuzz/corpus/${name#fuzz_}
  echo "=== fuzz $name (${secs}s)"
  if timeout --kill-after=10 $((secs + 60)) "$f" -max_total_time="$secs" \
      -artifact_prefix=build/fuzz-artifacts/"$name"- -print_final_stats=0 \
      -rss_limit_mb=1024 "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) \
      > build/fuzz-artifacts/"$name".log 2>&1; then
    passed=$((passed + 1)); echo "--- PASS $name ($(grep -c . build/fuzz-artifacts/"$name".log) log lines)"
  else
    failed=$((failed + 1)); echo "--- FAIL $name"; tail -30 build/fuzz-artifacts/"$name".log
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
