/* Log-linear latency histogram (loadgen/histogram.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "internal.h"

static lg_histogram *new_hist(void)
{
  lg_histogram *h = malloc(sizeof *h);
  assert_non_null(h);
  lg_hist_init(h);
  return h;
}

static void test_empty(void **state)
{
  (void)state;
  lg_histogram *h = new_hist();
  assert_int_equal(lg_hist_quantile(h, 0.5), 0);
  assert_int_equal(h->count, 0);
  free(h);
}

/* Buckets tile the value range: consecutive, no gaps, no overlaps, and
 * each is at most 1/64 of its values wide. */
static void test_buckets_tile(void **state)
{
  (void)state;
  uint64_t prev_high = 0;
  for (unsigned i = 1; i < LG_HIST_BUCKETS; i++) {
    uint64_t high = lg_hist_bucket_high(i);
    uint64_t low = prev_high + 1;
    assert_int_equal(lg_hist_index(low), i);
    assert_int_equal(lg_hist_index(high), i);
    assert_true(high >= low);
    if (low >= 128)
      assert_true((high - low + 1) * 64 <= low);
    prev_high = high;
  }
  assert_int_equal(lg_hist_index(0), 0);
  assert_int_equal(lg_hist_index(UINT64_MAX), LG_HIST_BUCKETS - 1);
}

static void test_exact_small_values(void **state)
{
  (void)state;
  lg_histogram *h = new_hist();
  for (uint64_t v = 1; v <= 100; v++)
    lg_hist_record(h, v);
  assert_int_equal(h->count, 100);
  assert_int_equal(lg_hist_quantile(h, 0.5), 50);
  assert_int_equal(lg_hist_quantile(h, 0.9), 90);
  assert_int_equal(lg_hist_quantile(h, 0.99), 99);
  assert_int_equal(lg_hist_quantile(h, 0.999), 100);
  assert_int_equal(lg_hist_quantile(h, 1.0), 100);
  assert_int_equal(h->max, 100);
  assert_int_equal(h->min, 1);
  free(h);
}

/* Large values: the quantile is within 1/64 above the true value and never
 * above the maximum. */
static void test_relative_error(void **state)
{
  (void)state;
  lg_histogram *h = new_hist();
  for (uint64_t v = 1; v <= 100000; v++)
    lg_hist_record(h, v * 1000);
  double qs[] = {0.5, 0.9, 0.99, 0.999};
  for (size_t i = 0; i < 4; i++) {
    double truth = qs[i] * 100000 * 1000;
    double got = (double)lg_hist_quantile(h, qs[i]);
    assert_true(got >= truth);
    assert_true(got <= truth * (1 + 1.0 / 64));
  }
  assert_int_equal(lg_hist_quantile(h, 1.0), 100000000);
  free(h);
}

static void test_outlier_and_merge(void **state)
{
  (void)state;
  lg_histogram *a = new_hist(), *b = new_hist();
  for (int i = 0; i < 999; i++)
    lg_hist_record(a, 10);
  lg_hist_record(b, 5000000);
  lg_hist_merge(a, b);
  assert_int_equal(a->count, 1000);
  assert_int_equal(lg_hist_quantile(a, 0.99), 10);
  assert_int_equal(lg_hist_quantile(a, 0.999), 10);
  assert_int_equal(a->max, 5000000);
  assert_int_equal(lg_hist_quantile(a, 1.0), 5000000);
  free(a);
  free(b);
}

static void test_huge_values_clamp(void **state)
{
  (void)state;
  lg_histogram *h = new_hist();
  lg_hist_record(h, UINT64_MAX / 2);
  assert_int_equal(h->count, 1);
  assert_int_equal(lg_hist_quantile(h, 0.5), UINT64_MAX / 2);
  free(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_buckets_tile),
      cmocka_unit_test(test_exact_small_values),
      cmocka_unit_test(test_relative_error),
      cmocka_unit_test(test_outlier_and_merge),
      cmocka_unit_test(test_huge_values_clamp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
