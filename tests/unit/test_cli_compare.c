/* Unit tests for profiler/cli/compare.c: two runs of one service whose
 * cost per user differs by a known amount: the percentages, and the site
 * that changed first, lined up by name (an unnamed frame too). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_run_fixture.h"

static void test_compare_runs(void **state)
{
  (void)state;
  struct cli_run base, newr;
  fixture_run(&base, "/runs/base", 1000, 16384);
  fixture_run(&newr, "/runs/new", 1000, 16384 + 8192);
  assert_int_equal(cli_run_analyse(&base), 0);
  assert_int_equal(cli_run_analyse(&newr), 0);
  struct cli_compare c;
  assert_int_equal(cli_compare_analyse(&base, &newr, &c), 0);
  double hb = 16384 + 100 + 4.096, hn = hb + 8192;
  assert_true(fabs(c.heap_pct - 100 * (hn - hb) / hb) < 1e-9);
  assert_true(c.rss_pct > 0);
  assert_true(c.nsites >= 3);
  /* The leaf grew 8 KiB per user; main and the unnamed frame did not. */
  assert_string_equal(c.sites[0].name, "leaf");
  assert_true(c.sites[0].base == 16384 && c.sites[0].new == 16384 + 8192);
  for (size_t i = 1; i < c.nsites; i++) {
    assert_true(c.sites[i].new == c.sites[i].base);
    if (strcmp(c.sites[i].name, "prog+0x234") == 0)
      assert_true(c.sites[i].base == 4.096);
  }
  struct cli_checks v;
  cli_checks_compare(&c, 10, &v);
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_THRESHOLD);
  cli_compare_free(&c);

  /* Swapped: the cost went down; the same site leads, negative. */
  assert_int_equal(cli_compare_analyse(&newr, &base, &c), 0);
  assert_true(c.heap_pct < 0);
  assert_string_equal(c.sites[0].name, "leaf");
  cli_checks_compare(&c, 10, &v);
  assert_int_equal(cli_checks_exit(&v), CLI_EXIT_OK);
  cli_compare_free(&c);
  cli_run_free(&base);
  cli_run_free(&newr);
}

/* A run without users or heaps: no sites, percentages unknown. */
static void test_compare_incomplete(void **state)
{
  (void)state;
  struct cli_run base, newr;
  fixture_run(&base, "/runs/base", 10, 100);
  fixture_run(&newr, "/runs/new", 10, 100);
  cli_profile_free(newr.heap[1]);
  newr.heap[1] = NULL;
  assert_int_equal(cli_run_analyse(&base), 0);
  assert_int_equal(cli_run_analyse(&newr), 0);
  struct cli_compare c;
  assert_int_equal(cli_compare_analyse(&base, &newr, &c), 0);
  assert_int_equal(c.nsites, 0);
  assert_true(!isnan(c.heap_pct)); /* the vars' heap figure stands in */
  cli_compare_free(&c);
  cli_run_free(&base);
  cli_run_free(&newr);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_compare_runs),
      cmocka_unit_test(test_compare_incomplete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
