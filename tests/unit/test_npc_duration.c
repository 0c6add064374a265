/* The one duration syntax (common/duration.c): Go's time.ParseDuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "npc.h"

#define S 1000000000LL

static int64_t parse_ok(const char *s)
{
  int64_t ns = -1;
  int rc = npc_duration_parse(s, &ns);
  if (rc != 0)
    fail_msg("\"%s\" was refused (%d)", s, rc);
  return ns;
}

static void accepts_go_durations(void **state)
{
  (void)state;
  assert_int_equal(parse_ok("0"), 0);
  assert_int_equal(parse_ok("0s"), 0);
  assert_int_equal(parse_ok("500ms"), 500000000LL);
  assert_int_equal(parse_ok("4s"), 4 * S);
  assert_int_equal(parse_ok("1.5s"), 1500000000LL);
  assert_int_equal(parse_ok("1.1s"), 1100000000LL); /* exact, not 1.0999... */
  assert_int_equal(parse_ok(".5s"), 500000000LL);
  assert_int_equal(parse_ok("5.s"), 5 * S);
}

static void accepts_every_unit_and_sums(void **state)
{
  (void)state;
  assert_int_equal(parse_ok("7ns"), 7);
  assert_int_equal(parse_ok("250us"), 250000);
  assert_int_equal(parse_ok("250\xc2\xb5s"), 250000);
  assert_int_equal(parse_ok("2m"), 120 * S);
  assert_int_equal(parse_ok("1h"), 3600 * S);
  assert_int_equal(parse_ok("2h45m"), (2 * 3600 + 45 * 60) * S);
  assert_int_equal(parse_ok("1m30.5s"), 90 * S + 500000000LL);
  assert_int_equal(parse_ok("1h0m0.000000001s"), 3600 * S + 1);
}

static void refuses_bare_numbers_and_junk(void **state)
{
  (void)state;
  const char *bad[] = {"",    "3",      "1500", "s",    "ms",  "5x",  "-1s",
                       "+1s", "1d",     "nan",  "1e3s", " 1s", "1s ", "1 s",
                       ".s",  "1.2.3s", "1sms", "10",   "0.0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t ns = 42;
    if (npc_duration_parse(bad[i], &ns) != -EINVAL)
      fail_msg("\"%s\" was accepted", bad[i]);
    assert_int_equal(ns, 42); /* untouched */
  }
  int64_t ns = 42;
  assert_int_equal(npc_duration_parse(NULL, &ns), -EINVAL);
}

static void refuses_overflow(void **state)
{
  (void)state;
  int64_t ns = 42;
  assert_int_equal(npc_duration_parse("2562047h", &ns), 0); /* ~292 years */
  assert_int_equal(npc_duration_parse("2562047h47m16.854775807s", &ns) == 0 &&
                       ns == INT64_MAX,
                   1);
  assert_int_equal(npc_duration_parse("2562047h47m16.854775808s", &ns),
                   -ERANGE);
  assert_int_equal(npc_duration_parse("9223372036854775808ns", &ns), -ERANGE);
  assert_int_equal(npc_duration_parse("99999999999999999999999s", &ns),
                   -ERANGE);
  assert_int_equal(npc_duration_parse("9223372036854775807ns", &ns), 0);
  assert_int_equal(ns, INT64_MAX);
}

static void formats_as_go_does(void **state)
{
  (void)state;
  char buf[32];
  assert_string_equal(npc_duration_format(0, buf, sizeof buf), "0s");
  assert_string_equal(npc_duration_format(1500000000LL, buf, sizeof buf),
                      "1.5s");
  assert_string_equal(npc_duration_format(150 * S, buf, sizeof buf), "2m30s");
  assert_string_equal(npc_duration_format(3600 * S, buf, sizeof buf), "1h0m0s");
  assert_string_equal(npc_duration_format(250000000LL, buf, sizeof buf),
                      "250ms");
  assert_string_equal(npc_duration_format(1500000LL, buf, sizeof buf), "1.5ms");
  assert_string_equal(npc_duration_format(42, buf, sizeof buf), "42ns");
  assert_string_equal(npc_duration_format(-2 * S, buf, sizeof buf), "-2s");
  /* Whatever it prints parses back to the same value. */
  const int64_t vals[] = {1, 999, 1001, 123456789, 61 * S + 7, 90061 * S + 5};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    int64_t back;
    npc_duration_format(vals[i], buf, sizeof buf);
    assert_int_equal(npc_duration_parse(buf, &back), 0);
    assert_int_equal(back, vals[i]);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accepts_go_durations),
      cmocka_unit_test(accepts_every_unit_and_sums),
      cmocka_unit_test(refuses_bare_numbers_and_junk),
      cmocka_unit_test(refuses_overflow),
      cmocka_unit_test(formats_as_go_does),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
