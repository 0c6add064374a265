/* The unary calls' schedule (loadgen/pacer.c), with made-up clocks: calls
 * due at start + g / rate, split over workers without gaps or repeats, no
 * drift over millions of calls, and a late worker owing every call whose
 * time has come (the open model: nothing is skipped because the last call
 * was slow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

#define T0 1000000000000ull /* an arbitrary monotonic start */

static void test_one_worker(void **state)
{
  (void)state;
  lg_pacer p;
  lg_pacer_init(&p, 1000, 10, 0, 1, T0); /* 1000/s: one per ms */
  assert_int_equal(p.count, 10);
  for (uint64_t k = 0; k < 10; k++)
    assert_int_equal(lg_pacer_due_ns(&p, k), T0 + k * 1000000);
  uint64_t due;
  /* the first is due at the start, not one period later */
  assert_true(lg_pacer_ready(&p, T0, &due));
  assert_int_equal(due, T0);
  lg_pacer_advance(&p);
  assert_false(lg_pacer_ready(&p, T0 + 999999, &due));
  assert_int_equal(lg_pacer_wait_ns(&p, T0 + 400000), 600000);
  /* a worker 5.5 ms late owes calls 1..5 at once, each with its own due
   * time: the latency of each starts there */
  uint64_t now = T0 + 5500000;
  for (uint64_t k = 1; k <= 5; k++) {
    assert_true(lg_pacer_ready(&p, now, &due));
    assert_int_equal(due, T0 + k * 1000000);
    lg_pacer_advance(&p);
  }
  assert_false(lg_pacer_ready(&p, now, &due));
  while (lg_pacer_ready(&p, UINT64_MAX - 1, &due))
    lg_pacer_advance(&p);
  assert_int_equal(p.next, 10);
  assert_int_equal(lg_pacer_wait_ns(&p, now), UINT64_MAX); /* all started */
  lg_pacer_advance(&p);
  assert_int_equal(p.next, 10);
}

static void test_split(void **state)
{
  (void)state;
  /* 3 workers share 100 calls at 250/s: together exactly the one schedule
   * (4 ms apart), each call once. */
  const uint64_t total = 100;
  uint8_t seen[100] = {0};
  uint64_t sum = 0;
  for (uint32_t w = 0; w < 3; w++) {
    lg_pacer p;
    lg_pacer_init(&p, 250, total, w, 3, T0);
    sum += p.count;
    for (uint64_t k = 0; k < p.count; k++) {
      uint64_t d = lg_pacer_due_ns(&p, k) - T0;
      assert_int_equal(d % 4000000, 0);
      uint64_t g = d / 4000000;
      assert_true(g < total);
      assert_int_equal(seen[g], 0);
      seen[g] = 1;
      assert_int_equal(g % 3, w);
    }
  }
  assert_int_equal(sum, total);
  /* more workers than calls: some get none */
  lg_pacer p;
  lg_pacer_init(&p, 10, 2, 5, 8, T0);
  assert_int_equal(p.count, 0);
  uint64_t due;
  assert_false(lg_pacer_ready(&p, UINT64_MAX - 1, &due));
}

static void test_no_drift(void **state)
{
  (void)state;
  /* 30,000 calls/s for a day: each due time is computed from its number,
   * within a nanosecond of g * 1e9 / rate (an accumulated period would be
   * milliseconds off by then). A rate whose period is not a whole number
   * of ns: 3 per second. */
  lg_pacer p;
  lg_pacer_init(&p, 30000, LG_PACER_FOREVER, 0, 1, T0);
  uint64_t g = 30000ull * 86400;
  uint64_t want = T0 + g * 1000000000ull / 30000;
  uint64_t got = lg_pacer_due_ns(&p, g);
  assert_true(got >= want - 1 && got <= want + 1);
  lg_pacer_init(&p, 3, LG_PACER_FOREVER, 0, 1, T0);
  for (uint64_t k = 0; k < 3000000; k += 999) {
    uint64_t exact = k * 1000000000ull / 3, d = lg_pacer_due_ns(&p, k) - T0;
    assert_true(d + 1 >= exact && d <= exact + 1);
  }
  assert_int_equal(lg_pacer_due_ns(&p, 3) - T0, 1000000000ull);
  /* half a call per second: two seconds apart */
  lg_pacer_init(&p, 0.5, 4, 0, 1, T0);
  assert_int_equal(lg_pacer_due_ns(&p, 3) - T0, 6000000000ull);
}

/* The worker's sleep between batches: to the tick of the next due call,
 * rounded up, never 0 (a call that fell due while a batch went out joins
 * the next tick's), and UINT64_MAX once every call has started. */
static void test_sleep(void **state)
{
  (void)state;
  lg_pacer p;
  lg_pacer_init(&p, 20000, 3, 0, 1, T0); /* 50 us apart */
  uint64_t due;
  assert_true(lg_pacer_ready(&p, T0, &due));
  lg_pacer_advance(&p);
  /* the next is due 50 us on: one tick */
  assert_int_equal(lg_pacer_sleep_ms(&p, T0), 1);
  /* it fell due while the batch went out: still the next tick, not 0 */
  assert_int_equal(lg_pacer_wait_ns(&p, T0 + 80000), 0);
  assert_int_equal(lg_pacer_sleep_ms(&p, T0 + 80000), 1);
  lg_pacer_advance(&p);
  lg_pacer_advance(&p);
  assert_int_equal(lg_pacer_sleep_ms(&p, T0 + 80000), UINT64_MAX);
  /* a slow rate: rounded up to the tick of the due time */
  lg_pacer_init(&p, 100, 2, 0, 1, T0); /* 10 ms apart */
  lg_pacer_advance(&p);
  assert_int_equal(lg_pacer_sleep_ms(&p, T0 + 700000), 10);
  assert_int_equal(lg_pacer_sleep_ms(&p, T0 + 1000000), 9);
}

static void test_due_before(void **state)
{
  (void)state;
  /* What a stop owes: calls due strictly before it, never more than the
   * worker's share. */
  lg_pacer p;
  lg_pacer_init(&p, 1000, LG_PACER_FOREVER, 0, 1, T0);
  assert_int_equal(lg_pacer_due_before(&p, T0), 0);
  assert_int_equal(lg_pacer_due_before(&p, T0 + 1), 1);
  assert_int_equal(lg_pacer_due_before(&p, T0 + 1000000), 1);
  assert_int_equal(lg_pacer_due_before(&p, T0 + 1000001), 2);
  assert_int_equal(lg_pacer_due_before(&p, T0 + 2500000000ull), 2500);
  lg_pacer_init(&p, 1000, 10, 0, 1, T0);
  assert_int_equal(lg_pacer_due_before(&p, T0 + 60000000000ull), 10);
  /* worker 1 of 4 at 400/s: its calls are due at 2.5, 12.5, 22.5 ms... */
  lg_pacer_init(&p, 400, LG_PACER_FOREVER, 1, 4, T0);
  assert_int_equal(lg_pacer_due_ns(&p, 1) - T0, 12500000);
  assert_int_equal(lg_pacer_due_before(&p, T0 + 12500000), 1);
  assert_int_equal(lg_pacer_due_before(&p, T0 + 12500001), 2);
  /* every worker's owed calls add up to the global count before a stop */
  for (uint64_t stop = 1; stop < 50000000; stop += 777777) {
    uint64_t sum = 0;
    for (uint32_t w = 0; w < 4; w++) {
      lg_pacer_init(&p, 400, LG_PACER_FOREVER, w, 4, T0);
      sum += lg_pacer_due_before(&p, T0 + stop);
    }
    uint64_t want = (stop * 400 + 999999999) / 1000000000; /* ceil */
    assert_int_equal(sum, want);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_worker), cmocka_unit_test(test_split),
      cmocka_unit_test(test_no_drift),   cmocka_unit_test(test_sleep),
      cmocka_unit_test(test_due_before),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
