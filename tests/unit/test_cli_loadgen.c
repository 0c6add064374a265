/* Unit tests for profiler/cli/loadgen.c: the histogram layout read back
 * (against the loadgen's forward mapping as contracts.md describes it),
 * percentiles from buckets, layouts this reader refuses, the client's
 * memory under its old and new names, and errors only when nonzero. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_run_fixture.h"

/* loadgen/histogram.c's lg_hist_index, as the layout is specified: exact
 * below 2^b, then 2^(b-1) buckets per power of two. */
static uint64_t forward(unsigned b, uint64_t us)
{
  uint64_t sub = (uint64_t)1 << b, half = sub / 2;
  if (us < sub)
    return us;
  unsigned e = 63u - (unsigned)__builtin_clzll(us) - (b - 1);
  return sub + (e - 1) * half + ((us >> e) - half);
}

static void test_bucket_ranges(void **state)
{
  (void)state;
  const uint64_t values[] = {0,     1,      127,     128,      129,
                             255,   256,    1000,    4095,     4096,
                             65537, 999999, 1 << 30, 123456789};
  for (unsigned b = 3; b <= 8; b++) {
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
      double lo, hi;
      uint64_t v = values[i];
      assert_int_equal(cli_hist_bucket_range(b, forward(b, v), &lo, &hi), 0);
      if (!((double)v >= lo && (double)v < hi))
        fail_msg("b=%u value %" PRIu64 ": bucket [%g, %g)", b, v, lo, hi);
      /* relative width at most 2^-(b-1) above the exact range */
      assert_true(hi - lo <= fmax(1, lo / (double)((uint64_t)1 << (b - 1))));
    }
  }
  double lo, hi;
  assert_int_equal(cli_hist_bucket_range(7, (uint64_t)1 << 40, &lo, &hi),
                   CLI_EINVALID);
  assert_int_equal(cli_hist_bucket_range(0, 1, &lo, &hi), CLI_EINVALID);
}

/* 100 values: 1..100 ms, in microseconds (buckets above 128 us are at most
 * 1/64 of their values wide); the percentiles come from the buckets when the
 * summary has none, and the summary wins when it has them. */
static void test_histogram_percentiles(void **state)
{
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  fputs("{\"histograms\": {\"connect_ms\": {\"layout\": {\"name\": "
        "\"log-linear\", \"sub_bucket_bits\": 7, \"unit\": \"us\"}, "
        "\"count\": 100, \"min\": 1000, \"max\": 100000, \"buckets\": [",
        f);
  for (int i = 1; i <= 100; i++)
    fprintf(f, "%s[%" PRIu64 ", 1]", i > 1 ? ", " : "",
            forward(7, (uint64_t)i * 1000));
  fputs("]}, \"delivery_ms\": {\"layout\": {\"name\": \"log-linear\", "
        "\"sub_bucket_bits\": 7, \"unit\": \"us\"}, \"buckets\": [[1000, 5]]}"
        "}, \"delivery_ms\": {\"count\": 5, \"p50\": 42, \"p90\": 43, \"p99\": "
        "44, \"p999\": 45, \"max\": 46}}",
        f);
  fclose(f);
  struct cli_json *j = fixture_json(text);
  struct cli_loadgen lg;
  assert_int_equal(cli_loadgen_read(j, &lg), 0);
  const struct cli_latency *c = &lg.latency[CLI_LAT_CONNECT];
  assert_string_equal(c->key, "connect_ms");
  assert_true(c->count == 100);
  /* Past 64 ms a bucket is wider than 1 ms: values share buckets. */
  assert_true(c->nbins > 64 && c->nbins < 100);
  double total = 0;
  for (size_t i = 0; i < c->nbins; i++) {
    total += c->bins[i].count;
    assert_true(i == 0 || c->bins[i].lo >= c->bins[i - 1].hi);
  }
  assert_true(total == 100);
  /* the 50th value is 50 ms; its bucket's top is within 1/64 above */
  assert_true(c->p50 >= 50 && c->p50 <= 50 * (1 + 1.0 / 64));
  assert_true(c->p99 >= 99 && c->p99 <= 99 * (1 + 1.0 / 64));
  assert_true(c->max == 100); /* the histogram's max, clipped */
  assert_true(c->p999 <= c->max);
  const struct cli_latency *d = &lg.latency[CLI_LAT_DELIVERY];
  assert_true(d->p50 == 42 && d->max == 46 && d->count == 5);
  assert_int_equal(d->nbins, 1);
  assert_true(isnan(lg.latency[CLI_LAT_BROADCAST].count));
  cli_loadgen_free(&lg);
  cli_json_free(j);
  free(text);
}

/* Layouts and buckets this reader cannot be sure of are not charted, and
 * say why; the summary stands. */
static void test_histogram_refused(void **state)
{
  (void)state;
  static const char *const cases[] = {
      "{\"layout\": {\"name\": \"x\", \"unit\": \"us\"}, \"buckets\": "
      "[[1, 1]]}",
      "{\"layout\": {\"sub_bucket_bits\": 7, \"unit\": \"furlongs\"}, "
      "\"buckets\": [[1, 1]]}",
      "{\"layout\": {\"sub_bucket_bits\": 7, \"unit\": \"us\"}, "
      "\"buckets\": [[1]]}",
      "{\"layout\": {\"sub_bucket_bits\": 7, \"unit\": \"us\"}, "
      "\"buckets\": [[-1, 1]]}",
      "{\"layout\": {\"sub_bucket_bits\": 7, \"unit\": \"us\"}, "
      "\"buckets\": [[1e300, 1]]}",
      "{\"layout\": {\"sub_bucket_bits\": 7, \"unit\": \"us\"}}",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *text = NULL;
    assert_true(asprintf(&text,
                         "{\"connect_ms\": {\"count\": 1, \"p50\": 1}, "
                         "\"histograms\": {\"connect_ms\": %s}}",
                         cases[i]) > 0);
    struct cli_json *j = fixture_json(text);
    struct cli_loadgen lg;
    assert_int_equal(cli_loadgen_read(j, &lg), 0);
    const struct cli_latency *c = &lg.latency[CLI_LAT_CONNECT];
    assert_int_equal(c->nbins, 0);
    assert_non_null(c->problem);
    assert_true(c->p50 == 1);
    cli_loadgen_free(&lg);
    cli_json_free(j);
    free(text);
  }
}

static void test_loadgen_figures(void **state)
{
  (void)state;
  struct cli_json *j = fixture_json(
      "{\"streams_requested\": 10, \"streams_established\": 9, "
      "\"streams_failed\": 1, \"establish_seconds\": 0.5, "
      "\"notifications_received\": 30, \"errors\": {\"connect\": 0, "
      "\"reset\": 2, \"UNAUTHENTICATED\": 3}, \"client_rss_kib\": "
      "{\"baseline\": 100, \"plateau\": 200}, \"client_rss_bytes_per_stream\": "
      "512, \"phases\": {\"baseline\": 1.5, \"drained\": 9}, \"ok\": false, "
      "\"reason\": \"only 9 of 10\", \"calls\": {\"sent\": 4, \"ok\": 3, "
      "\"failed\": 1}}");
  struct cli_loadgen lg;
  assert_int_equal(cli_loadgen_read(j, &lg), 0);
  assert_true(lg.present && lg.ok_known && !lg.ok);
  assert_string_equal(lg.reason, "only 9 of 10");
  assert_true(lg.requested == 10 && lg.established == 9 && lg.failed == 1);
  assert_true(lg.messages == 30); /* notifications_received, the old name */
  assert_int_equal(lg.nerrors, 2);
  assert_string_equal(lg.errors[0].name, "reset");
  assert_true(lg.errors[1].count == 3);
  assert_true(lg.client_rss_baseline == 100 * 1024);
  assert_true(lg.client_rss_plateau == 200 * 1024);
  assert_true(lg.client_bytes_per_stream == 512);
  assert_true(lg.marks[CLI_MARK_BASELINE] == 1.5);
  assert_true(isnan(lg.marks[CLI_MARK_PLATEAU]));
  assert_true(lg.calls_sent == 4 && lg.calls_failed == 1);
  cli_loadgen_free(&lg);
  cli_json_free(j);

  /* Before the rename: rss_kib and rss_bytes_per_stream, the client's. */
  j = fixture_json("{\"rss_kib\": {\"baseline\": 1, \"plateau\": 2}, "
                   "\"rss_bytes_per_stream\": 9, \"messages_received\": 7, "
                   "\"notifications_received\": 3}");
  assert_int_equal(cli_loadgen_read(j, &lg), 0);
  assert_true(lg.client_rss_plateau == 2048);
  assert_true(lg.client_bytes_per_stream == 9);
  assert_true(lg.messages == 7);
  assert_false(lg.ok_known);
  cli_loadgen_free(&lg);
  cli_json_free(j);

  assert_int_equal(cli_loadgen_read(NULL, &lg), 0);
  assert_false(lg.present);
  assert_true(isnan(lg.established));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bucket_ranges),
      cmocka_unit_test(test_histogram_percentiles),
      cmocka_unit_test(test_histogram_refused),
      cmocka_unit_test(test_loadgen_figures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
