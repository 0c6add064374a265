/* Unit tests for profiler/cli/units.c: pprof's scaling and percentages.
 * Expected strings are what `go tool pprof` prints for the same values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static void check_value(int64_t v, const char *unit, const char *to,
                        const char *want)
{
  char buf[64];

  cli_format_value(v, unit, to, buf, sizeof(buf));
  if (strcmp(buf, want) != 0)
    fail_msg("%lld %s -> %s: got \"%s\", want \"%s\"", (long long)v, unit,
             to != NULL ? to : "auto", buf, want);
}

static void test_bytes(void **state)
{
  (void)state;
  check_value(0, "bytes", NULL, "0");
  check_value(500, "bytes", NULL, "500B");
  check_value(1024, "bytes", NULL, "1kB");
  check_value(1536, "bytes", NULL, "1.50kB");
  check_value(8 << 20, "bytes", NULL, "8MB");
  check_value((int64_t)3 << 30, "bytes", NULL, "3GB");
  check_value(-2048, "bytes", NULL, "-2kB");
  /* Forced units, as a report's single unit makes them. */
  check_value(96, "bytes", "kB", "0.09kB");
  check_value(10565213, "bytes", "kB", "10317.59kB");
  check_value(4, "bytes", "kB", "0");
  check_value(8 << 20, "bytes", "kB", "8192kB");
  check_value(1, "kilobytes", NULL, "1kB");
}

static void test_time(void **state)
{
  (void)state;
  check_value(10000000, "nanoseconds", NULL, "10ms");
  check_value(1200000000, "nanoseconds", NULL, "1.20s");
  check_value(10000000, "nanoseconds", "s", "0.01s");
  check_value(999, "ns", NULL, "999ns");
  check_value(1500, "milliseconds", NULL, "1.50s");
  check_value((int64_t)7200 * 1000000000, "nanoseconds", NULL, "2hrs");
}

static void test_unscaled(void **state)
{
  (void)state;
  check_value(2159, "count", NULL, "2159");
  check_value(2159, "count", "kB", "2159");
  check_value(0, "count", NULL, "0");
  check_value(-3, "", NULL, "-3");
  /* The extremes format without overflow. */
  check_value(INT64_MIN, "count", NULL, "-9223372036854775808");
  {
    char buf[8];
    cli_format_value(INT64_MAX, "count", NULL, buf, sizeof(buf));
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
  }
}

static void test_unit_selection(void **state)
{
  (void)state;
  assert_string_equal(cli_unit_auto(96, "bytes"), "B");
  assert_string_equal(cli_unit_auto(2 << 20, "bytes"), "MB");
  assert_null(cli_unit_auto(5, "count"));
  /* Smallest 96 B, total ~10 MB: pprof settles on kB. */
  assert_string_equal(cli_unit_for_range(96, 10565213, "bytes"), "kB");
  /* Within 100x: the smaller value's unit. */
  assert_string_equal(cli_unit_for_range(8 << 20, 10 << 20, "bytes"), "MB");
  assert_string_equal(cli_unit_for_range(500, 40000, "bytes"), "B");
  /* CPU-like: 10ms smallest, 1.2s total -> seconds. */
  assert_string_equal(cli_unit_for_range(10000000, 1200000000, "nanoseconds"),
                      "s");
  /* Zero smallest falls back to the total; signs are ignored. */
  assert_string_equal(cli_unit_for_range(0, -(3 << 20), "bytes"), "MB");
  assert_null(cli_unit_for_range(1, 2159, "count"));
}

static void test_percent(void **state)
{
  char buf[32];

  (void)state;
  cli_format_percent(1, 1, buf, sizeof(buf));
  assert_string_equal(buf, "  100%");
  cli_format_percent(0, 0, buf, sizeof(buf));
  assert_string_equal(buf, "    0%");
  cli_format_percent(2055, 2159, buf, sizeof(buf));
  assert_string_equal(buf, "95.18%");
  cli_format_percent(1, 2159, buf, sizeof(buf));
  assert_string_equal(buf, "0.046%");
  cli_format_percent(96, 10565213, buf, sizeof(buf));
  assert_string_equal(buf, "0.00091%");
  cli_format_percent(-5, 10, buf, sizeof(buf));
  assert_string_equal(buf, "50.00%");
  cli_format_percent(9995, 10000, buf, sizeof(buf));
  assert_string_equal(buf, "  100%");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bytes),    cmocka_unit_test(test_time),
      cmocka_unit_test(test_unscaled), cmocka_unit_test(test_unit_selection),
      cmocka_unit_test(test_percent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
