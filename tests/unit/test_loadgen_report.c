/* The --json result and the summary (loadgen/report.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static char *render(const lg_result *r, bool json)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  if (json)
    lg_report_json_write(f, r);
  else
    lg_report_summary(f, r);
  fclose(f);
  return buf;
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
  r->notifications = 8;
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
      cmocka_unit_test(test_summary),
      cmocka_unit_test(test_cause_names),
      cmocka_unit_test(test_clocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
