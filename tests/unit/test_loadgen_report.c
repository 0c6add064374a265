/* The --json result and the summary (loadgen/report.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"

#include "internal.h"

static char *render(const lg_result *r, bool json)
{
  struct capture c;
  FILE *f = capture_open(&c);
  if (json)
    lg_report_json_write(f, r);
  else
    lg_report_summary(f, r);
  return capture_close(&c);
}

static lg_result *sample(lg_options *o)
{
  memset(o, 0, sizeof *o);
  o->target = "127.0.0.1:50051";
  o->streams = 10;
  o->streams_per_conn = 1;
  o->conns = 10;
  o->threads = 2;
  o->publish = 1;
  lg_result *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->o = o;
  lg_hist_init(&r->connect);
  lg_hist_init(&r->delivery);
  lg_hist_init(&r->broadcast);
  lg_hist_record(&r->broadcast, 2000);
  for (int i = 1; i <= 10; i++)
    lg_hist_record(&r->connect, (uint64_t)i * 1000); /* 1..10 ms */
  /* Quantiles report the highest value of their bucket (within 1/64):
   * 5000 us reads 5.055 ms, 9000 us 9.087 ms; the max is exact. */
  r->established = 8;
  r->established_peak = 9;
  r->messages = 8;
  r->bytes = 800;
  r->grpc_codes[16] = 3; /* UNAUTHENTICATED */
  r->errors[LG_CAUSE_GRPC_STATUS] = 3;
  r->rss_baseline_kib = 1000;
  r->rss_plateau_kib = 1090;
  r->notifications_expected = 9;
  r->errors[LG_CAUSE_RESET] = 2;
  r->phase_unix_ns[LG_PHASE_START] = 1700000000000000000ull;
  snprintf(r->reason, sizeof r->reason, "8 of 10 \"held\"\n");
  return r;
}

static void test_json_fields(void **state)
{
  (void)state;
  lg_options o;
  lg_result *r = sample(&o);
  char *s = render(r, true);
  assert_non_null(strstr(s, "\"target\": \"127.0.0.1:50051\""));
  assert_non_null(strstr(s, "\"streams_requested\": 10,"));
  assert_non_null(strstr(s, "\"streams_established\": 8,"));
  assert_non_null(strstr(s, "\"streams_failed\": 2,"));
  assert_non_null(strstr(s, "\"notifications_received\": 8,"));
  assert_non_null(strstr(s, "\"connect_ms\": {\"count\": 10, \"p50\": 5.055, "
                            "\"p90\": 9.087, \"p99\": 10.000, \"p999\": "
                            "10.000, \"max\": 10.000}"));
  assert_non_null(strstr(s, "\"delivery_ms\": {\"count\": 0,"));
  assert_non_null(strstr(s, "\"broadcast_ms\": {\"count\": 1, \"p50\": 2.000, "
                            "\"p90\": 2.000, \"p99\": 2.000, \"p999\": "
                            "2.000, \"max\": 2.000}"));
  assert_non_null(strstr(s, "\"reset\": 2"));
  assert_non_null(strstr(s, "\"phases\": {\"start\": 1700000000.000}"));
  /* quotes and control characters escaped */
  assert_non_null(strstr(s, "\"reason\": \"8 of 10 \\\"held\\\"\\u000a\""));
  assert_non_null(strstr(s, "\"ok\": false"));
  /* any service's counts, the notifier's name for them kept */
  assert_non_null(strstr(s, "\"messages_received\": 8,"));
  assert_non_null(strstr(s, "\"bytes_received\": 800,"));
  assert_non_null(strstr(s, "\"method_kind\": \"server_streaming\""));
  /* failures by grpc-status name, next to the causes */
  assert_non_null(strstr(s, "\"grpc_status\": 3"));
  assert_non_null(strstr(s, "\"UNAUTHENTICATED\": 3"));
  assert_null(strstr(s, "\"UNAVAILABLE\""));
  /* the loadgen's memory is labelled as the client's: 90 KiB over 9 */
  assert_non_null(strstr(s, "\"client_rss_kib\": {\"baseline\": 1000, "
                            "\"plateau\": 1090}"));
  assert_non_null(strstr(s, "\"client_rss_bytes_per_stream\": 10240.0"));
  assert_null(strstr(s, "\"rss_kib\""));
  /* every histogram in full, its layout named, non-zero buckets only */
  assert_non_null(strstr(s, "\"histograms\": {"));
  assert_non_null(strstr(s, "\"connect_ms\": {\"layout\": {\"name\": "
                            "\"" LG_HIST_LAYOUT "\", \"sub_bucket_bits\": 7"));
  assert_non_null(strstr(s, "\"count\": 10, \"min\": 1000, \"max\": "
                            "10000, \"sum\": 55000, \"buckets\": [["));
  assert_non_null(strstr(s, "\"broadcast_ms\": {\"layout\""));
  assert_non_null(strstr(s, "\"call_ms\": {\"layout\""));
  char one[64];
  snprintf(one, sizeof one, "\"buckets\": [[%u, 1]]}",
           lg_hist_index(2000)); /* broadcast's one sample */
  assert_non_null(strstr(s, one));
  free(s);
  free(r);
}

/* A shard says which run and which users it is, for nprof merge; one
 * process's result is as it always was. */
static void test_shard_fields(void **state)
{
  (void)state;
  lg_options o;
  lg_result *r = sample(&o);
  char *s = render(r, true);
  assert_null(strstr(s, "\"shard\""));
  assert_null(strstr(s, "\"run_id\""));
  free(s);
  o.shard_count = 4;
  o.shard_index = 2;
  o.user_first = 20;
  o.streams_total = 40;
  o.run_id = "20261201T120000Z-40";
  s = render(r, true);
  assert_non_null(strstr(s, "{\n  \"run_id\": \"20261201T120000Z-40\",\n"
                            "  \"shard\": {\"index\": 2, \"count\": 4, "
                            "\"users\": [20, 29]},\n"));
  free(s);
  s = render(r, false);
  assert_non_null(strstr(s, "shard     2 of 4 (run 20261201T120000Z-40): "
                            "users 20..29 of 40"));
  assert_non_null(strstr(s, "the coordinator's"));
  free(s);
  free(r);
}

/* The full histogram adds bucket by bucket: rebuilding one from the JSON's
 * buckets gives the same quantiles as the histogram itself. */
static void test_histogram_buckets_roundtrip(void **state)
{
  (void)state;
  lg_options o;
  lg_result *r = sample(&o);
  for (uint64_t v = 1; v < 5000000; v = v * 3 + 7)
    lg_hist_record(&r->call, v);
  char *s = render(r, true);
  const char *p = strstr(s, "\"call_ms\": {\"layout\"");
  assert_non_null(p);
  p = strstr(p, "\"buckets\": [");
  assert_non_null(p);
  p += strlen("\"buckets\": [");
  lg_histogram h;
  lg_hist_init(&h);
  unsigned idx, cnt;
  int used;
  while (sscanf(p, "[%u, %u]%n", &idx, &cnt, &used) == 2) {
    assert_true(idx < LG_HIST_BUCKETS);
    h.counts[idx] += cnt;
    h.count += cnt;
    p += used;
    if (strncmp(p, ", ", 2) == 0)
      p += 2;
  }
  assert_int_equal(h.count, r->call.count);
  h.min = r->call.min;
  h.max = r->call.max;
  for (double q = 0.05; q < 1; q += 0.1)
    assert_int_equal(lg_hist_quantile(&h, q), lg_hist_quantile(&r->call, q));
  free(s);
  free(r);
}

static void test_summary(void **state)
{
  (void)state;
  lg_options o;
  lg_result *r = sample(&o);
  char *s = render(r, false);
  assert_non_null(strstr(s, "held      8/10 streams"));
  assert_non_null(strstr(s, "errors    reset=2"));
  assert_non_null(strstr(s, "result: FAILED: 8 of 10"));
  assert_non_null(strstr(s, "broadcast n=1  p50 2.000"));
  assert_non_null(strstr(s, "UNAUTHENTICATED=3"));
  assert_null(strstr(s, "grpc_status="));
  assert_non_null(strstr(s, "the client's memory"));
  free(s);
  free(r);
}

static void test_cause_names(void **state)
{
  (void)state;
  for (int i = 0; i < LG_CAUSE_COUNT; i++) {
    const char *n = lg_cause_name((lg_cause)i);
    assert_non_null(n);
    assert_string_not_equal(n, "unknown");
  }
  assert_string_equal(lg_cause_name(LG_CAUSE_COUNT), "unknown");
}

static void test_clocks(void **state)
{
  (void)state;
  uint64_t a = lg_now_ns(), b = lg_now_ns();
  assert_true(b >= a);
  assert_true(lg_unix_ns() > 1600000000ull * 1000000000ull);
  assert_true(lg_rss_kib() > 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_fields),
      cmocka_unit_test(test_shard_fields),
      cmocka_unit_test(test_histogram_buckets_roundtrip),
      cmocka_unit_test(test_summary),
      cmocka_unit_test(test_cause_names),
      cmocka_unit_test(test_clocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
