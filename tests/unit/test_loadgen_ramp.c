/* Token bucket and reconnect backoff (loadgen/ramp.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"

#define MS 1000000ull
#define S 1000000000ull

static void test_unlimited(void **state)
{
  (void)state;
  lg_ramp r;
  lg_ramp_init(&r, 0, 0, 0);
  assert_int_equal(lg_ramp_take(&r, 0, 100000), 100000);
  assert_int_equal(lg_ramp_wait_ns(&r, 0), 0);
}

static void test_rate(void **state)
{
  (void)state;
  lg_ramp r;
  lg_ramp_init(&r, 1000, 10, 0); /* 1000/s, bursts of 10 */
  /* one token to start with */
  assert_int_equal(lg_ramp_take(&r, 0, 100), 1);
  assert_int_equal(lg_ramp_take(&r, 0, 100), 0);
  assert_true(lg_ramp_wait_ns(&r, 0) > 0);
  assert_true(lg_ramp_wait_ns(&r, 0) <= MS + 1);
  /* 5 ms later: 5 tokens */
  assert_int_equal(lg_ramp_take(&r, 5 * MS, 100), 5);
  /* a long pause saves up only the burst */
  assert_int_equal(lg_ramp_take(&r, 10 * S, 100), 10);
  /* over one simulated second in 1 ms steps, the rate holds */
  uint64_t total = 0;
  for (uint64_t t = 10 * S + MS; t <= 11 * S; t += MS)
    total += lg_ramp_take(&r, t, 100);
  assert_true(total >= 999 && total <= 1001);
}

static void test_clock_going_back(void **state)
{
  (void)state;
  lg_ramp r;
  lg_ramp_init(&r, 100, 1, 10 * S);
  assert_int_equal(lg_ramp_take(&r, 10 * S, 1), 1);
  /* an earlier time grants nothing and does not corrupt the bucket */
  assert_int_equal(lg_ramp_take(&r, 5 * S, 1), 0);
  assert_int_equal(lg_ramp_take(&r, 10 * S + 10 * MS, 1), 1);
}

static void test_backoff(void **state)
{
  (void)state;
  uint64_t base = 100 * MS, max = 5 * S;
  /* equal jitter: [d/2, d] */
  for (unsigned a = 0; a < 10; a++) {
    uint64_t d = base << a;
    if (d > max)
      d = max;
    uint64_t lo = lg_backoff_ns(a, base, max, 0);
    uint64_t hi = lg_backoff_ns(a, base, max, UINT32_MAX);
    assert_int_equal(lo, d / 2);
    assert_true(hi <= d);
    assert_true(hi >= lo);
  }
  /* huge attempt counts do not overflow */
  assert_true(lg_backoff_ns(1000, base, max, 12345) <= max);
  assert_true(lg_backoff_ns(1000, base, max, 12345) >= max / 2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unlimited),
      cmocka_unit_test(test_rate),
      cmocka_unit_test(test_clock_going_back),
      cmocka_unit_test(test_backoff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
