/* Unit tests for profiler/cli/threshold.c: each gate's status as data
 * (ok, exceeded, not checked), the sentence that explains it, and the exit
 * code the statuses call for. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static void figures(struct cli_run *r, double rss, double heap, double kept)
{
  memset(r, 0, sizeof(*r));
  r->rss_per_user = rss;
  r->heap_per_user = heap;
  r->retained_heap = kept;
}

static void test_report_checks(void **state)
{
  (void)state;
  struct cli_run r;
  struct cli_checks v;

  figures(&r, 30 * 1024, 20 * 1024, 1024);
  cli_checks_report(&r, NAN, NAN, &v);
  assert_int_equal(v.n, 0);
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_OK);

  /* The worse of RSS and heap per user is judged, and named. */
  cli_checks_report(&r, 25 * 1024, 2048, &v);
  assert_int_equal(v.n, 2);
  assert_int_equal(v.c[0].status, CLI_CHECK_EXCEEDED);
  assert_string_equal(v.c[0].text,
                      "MAX_BYTES_PER_USER=25.0 KiB EXCEEDED: RSS per user is "
                      "30.0 KiB (RSS 30.0 KiB, heap 20.0 KiB)");
  assert_int_equal(v.c[1].status, CLI_CHECK_OK);
  assert_string_equal(v.c[1].text, "MAX_RETAINED_BYTES=2.0 KiB ok: heap "
                                   "retained after drain is +1.0 KiB");
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_THRESHOLD);

  /* A run without the figure: not checked, which fails (exit 1), but an
   * exceeded gate decides the exit. */
  figures(&r, NAN, NAN, 4096);
  cli_checks_report(&r, 1024, NAN, &v);
  assert_int_equal(v.c[0].status, CLI_CHECK_UNCHECKED);
  assert_non_null(strstr(v.c[0].text, "not checked"));
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_FAIL);
  cli_checks_report(&r, 1024, 1024, &v);
  assert_int_equal(v.c[1].status, CLI_CHECK_EXCEEDED);
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_THRESHOLD);

  /* The text is no part of the verdict: a name that reads "EXCEEDED"
   * does not fail an ok check. */
  figures(&r, 1, 1, 0);
  cli_checks_report(&r, 1024, NAN, &v);
  snprintf(v.c[0].text, sizeof(v.c[0].text), "EXCEEDED not checked");
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_OK);
}

static void test_compare_checks(void **state)
{
  (void)state;
  struct cli_run base, newr;
  struct cli_compare c = {.base = &base, .newr = &newr};
  struct cli_checks v;

  figures(&base, 16384, 16384, 0);
  figures(&newr, 20480, 24576, 0);
  c.rss_pct = 25;
  c.heap_pct = 50;
  cli_checks_compare(&c, NAN, &v);
  assert_int_equal(v.n, 0);
  cli_checks_compare(&c, 30, &v);
  assert_int_equal(v.n, 2);
  assert_int_equal(v.c[0].status, CLI_CHECK_OK);
  assert_int_equal(v.c[1].status, CLI_CHECK_EXCEEDED);
  assert_string_equal(v.c[1].text, "MAX_INCREASE=30.0% EXCEEDED: heap per "
                                   "user +50.0% (16.0 KiB -> 24.0 KiB)");
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_THRESHOLD);
  cli_checks_compare(&c, 50, &v); /* not more than 50%: ok */
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_OK);
  c.rss_pct = NAN;
  cli_checks_compare(&c, 60, &v);
  assert_int_equal(v.c[0].status, CLI_CHECK_UNCHECKED);
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_FAIL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_checks),
      cmocka_unit_test(test_compare_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
