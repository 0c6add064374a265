/* Unit tests for profiler/cli/diff.c: NEW minus BASE per function, pprof's
 * base total, sample type pairing. The expected tables are what
 * `go tool pprof -diff_base=base -top new` (Go 1.19) printed for the same
 * two profiles: tests/cli/testprof.h as base, and as new with sample 0 at
 * {300, 150} and sample 2 at {3, 0}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"

#include "cli.h"
#include "../cli/testprof.h"

static struct cli_profile *decode(const struct testprof *t)
{
  struct cli_profile *p = NULL;
  char err[CLI_ERRLEN];
  size_t len;
  uint8_t *buf = testprof_pack(t, &len);

  assert_non_null(buf);
  assert_int_equal(cli_profile_decode(buf, len, 0, &p, err, sizeof(err)), 0);
  free(buf);
  return p;
}

struct pair {
  struct cli_profile *base, *newp;
};

static int setup(void **state)
{
  struct pair *pr = calloc(1, sizeof(*pr));
  struct testprof t;

  testprof_init(&t);
  pr->base = decode(&t);
  t.vals[0][0] = 300, t.vals[0][1] = 150;
  t.vals[2][0] = 3, t.vals[2][1] = 0;
  pr->newp = decode(&t);
  *state = pr;
  return 0;
}

static int teardown(void **state)
{
  struct pair *pr = *state;

  cli_profile_free(pr->base);
  cli_profile_free(pr->newp);
  free(pr);
  return 0;
}

static char *print_diff(const struct cli_profile *base,
                        const struct cli_profile *newp, const char *spec)
{
  struct cli_top_options opts = {.nodecount = 0, .nodefraction = 0.005};
  struct cli_diff d;
  char err[CLI_ERRLEN];
  struct capture c;

  assert_int_equal(cli_diff_init(&d, base, newp, spec, err, sizeof(err)), 0);
  assert_int_equal(cli_diff_print(capture_open(&c), &d, &opts), 0);
  cli_diff_close(&d);
  return capture_close(&c);
}

static void test_diff_inuse_matches_pprof(void **state)
{
  struct pair *pr = *state;

  capture_expect(
      print_diff(pr->base, pr->newp, NULL),
      "File: prog\n"
      "Type: inuse_space\n"
      "Showing nodes accounting for 99B, 194.12% of 51B total\n"
      "      flat  flat%   sum%        cum   cum%\n"
      "      100B 196.08% 196.08%       100B 196.08%  leaf (inline)\n"
      "       -1B  1.96% 194.12%        -1B  1.96%  prog+0x234\n"
      "         0     0% 194.12%        99B 194.12%  main\n"
      "         0     0% 194.12%       100B 196.08%  mid\n");
}

static void test_diff_alloc_space_drops_cancelled(void **state)
{
  struct pair *pr = *state;

  /* prog+0x234 (location 12, no function) allocated 3 in both: it
   * cancels and is no node at all. */
  capture_expect(
      print_diff(pr->base, pr->newp, "alloc_space"),
      "File: prog\n"
      "Type: alloc_space\n"
      "Showing nodes accounting for 200B, 181.82% of 110B total\n"
      "      flat  flat%   sum%        cum   cum%\n"
      "      200B 181.82% 181.82%       200B 181.82%  leaf (inline)\n"
      "         0     0% 181.82%       200B 181.82%  main\n"
      "         0     0% 181.82%       200B 181.82%  mid\n");
}

static void test_diff_rows_and_totals(void **state)
{
  struct pair *pr = *state;
  struct cli_top_options opts = {.nodecount = 0, .nodefraction = 0};
  struct cli_top_table tab;
  struct cli_diff d;
  char err[CLI_ERRLEN];

  /* Reversed: NEW is the old profile, so everything shrinks. */
  assert_int_equal(
      cli_diff_init(&d, pr->newp, pr->base, "inuse_space", err, sizeof(err)),
      0);
  assert_int_equal(d.nsamples, 6);
  assert_int_equal(d.nbase, 3);
  assert_int_equal(d.base_total, 150); /* |150| + |0| + |0| */
  assert_int_equal(cli_diff_table(&d, &opts, &tab), 0);
  assert_int_equal(tab.total, 150);
  assert_int_equal(tab.nrows, 4);
  assert_string_equal(tab.rows[0].name, "leaf");
  assert_int_equal(tab.rows[0].flat, -100);
  assert_int_equal(tab.rows[0].cum, -100);
  assert_int_equal(tab.rows[0].inline_mark, CLI_TOP_INLINE);
  assert_string_equal(tab.rows[1].name, "prog+0x234");
  assert_int_equal(tab.rows[1].flat, 1);
  assert_string_equal(tab.rows[2].name, "main");
  assert_int_equal(tab.rows[2].cum, -99);
  assert_int_equal(tab.shown_flat, -99);
  cli_top_table_free(&tab);
  cli_diff_close(&d);
}

static void test_diff_self_is_empty(void **state)
{
  struct pair *pr = *state;
  struct cli_top_options opts = {.nodecount = 0, .nodefraction = 0.005};
  struct cli_top_table tab;
  struct cli_diff d;
  char err[CLI_ERRLEN];

  assert_int_equal(
      cli_diff_init(&d, pr->base, pr->base, NULL, err, sizeof(err)), 0);
  assert_int_equal(cli_diff_table(&d, &opts, &tab), 0);
  assert_int_equal(tab.nrows, 0);
  assert_int_equal(tab.kept, 0);
  assert_int_equal(tab.dropped, 0);
  assert_int_equal(tab.total, 51);
  cli_top_table_free(&tab);
  cli_diff_close(&d);
}

static void test_diff_base_without_type(void **state)
{
  struct pair *pr = *state;
  struct cli_profile *other;
  struct cli_diff d;
  struct testprof t;
  char err[CLI_ERRLEN] = "";

  (void)pr;
  testprof_init(&t);
  t.strings[TP_S_INUSE_SPACE] = (char *)"objects";
  other = decode(&t);
  memset(&d, 0x5a, sizeof(d));
  assert_int_equal(
      cli_diff_init(&d, other, pr->newp, "inuse_space", err, sizeof(err)),
      CLI_ENOTFOUND);
  assert_non_null(strstr(err, "base profile has no sample type inuse_space"));
  /* Untouched on failure. */
  assert_int_equal(((unsigned char *)&d)[0], 0x5a);
  assert_int_equal(
      cli_diff_init(&d, pr->base, pr->newp, "bogus", err, sizeof(err)),
      CLI_ENOTFOUND);
  cli_profile_free(other);
  cli_diff_close(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_diff_inuse_matches_pprof),
      cmocka_unit_test(test_diff_alloc_space_drops_cancelled),
      cmocka_unit_test(test_diff_rows_and_totals),
      cmocka_unit_test(test_diff_self_is_empty),
      cmocka_unit_test(test_diff_base_without_type),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
