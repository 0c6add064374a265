/* Unit tests for profiler/cli/analysis.c: a run's inputs (built in memory,
 * cli_run_fixture.h) turned into figures: N and where it came from, the
 * cost per user, where each RSS change went (the allocator holding what
 * drain freed is allocator-held, not unexplained), what drain left, and
 * the figures a run without some inputs still has. */
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

static bool near(double got, double want, double tol)
{
  return fabs(got - want) <= tol;
}

static void test_users_and_cost(void **state)
{
  (void)state;
  struct cli_run r;
  fixture_run(&r, "/runs/a", 1000, 16384);
  assert_int_equal(cli_run_analyse(&r), 0);
  /* The users variable run.json names wins over the loadgen's count. */
  assert_true(r.users == 1000);
  assert_string_equal(r.users_src, "svc.users at plateau");
  assert_true(r.ph[0].v.users == 0 && r.ph[1].v.users == 1000);
  /* heap: the profile's inuse_space, not the vars' nprof figure */
  assert_true(r.ph[0].heap == 1000);
  assert_true(r.heap_per_user == 16384 + 100 + 4.096);
  /* RSS: (16000 KiB + 10 MiB) over 1000 users */
  assert_true(near(r.rss_per_user, 16384 + 10 * MIB / 1000, 1));
  assert_true(r.retained_heap == 0);
  assert_true(near(r.retained_rss, 1000 * 16384 + 5 * MIB, 1));
  assert_true(r.threads_leaked == 0);
  assert_true(r.ph[1].v.threads == 10);
  assert_true(r.ph[2].t == 30);
  /* The growth's first site is the leaf, at 16 KiB per user. */
  assert_true(r.has_growth && r.has_retained && r.has_flame);
  assert_string_equal(r.growth.rows[0].name, "leaf");
  assert_int_equal(r.growth.rows[0].flat, 1000 * 16384);
  /* The unnamed frame is named by where it is in the file. */
  bool seen = false;
  for (size_t i = 0; i < r.growth.nrows; i++)
    seen |= strcmp(r.growth.rows[i].name, "prog+0x234") == 0;
  assert_true(seen);
  assert_int_equal(r.unnamed_frames, 3); /* one per heap profile */
  cli_run_free(&r);

  /* Without a users variable: the streams the loadgen established. */
  fixture_run(&r, "/runs/a", 1000, 16384);
  cli_json_free(r.params);
  r.params = NULL;
  r.users_var = NULL;
  assert_int_equal(cli_run_analyse(&r), 0);
  assert_true(r.users == 990);
  assert_string_equal(r.users_src, "streams the loadgen established");
  assert_true(isnan(r.ph[1].v.users));
  cli_run_free(&r);
}

/* The drained run freed every user, but glibc kept the memory: the RSS
 * after drain is the allocator's free memory (and malloc_trim would give
 * it back), with only the part no figure covers unexplained. */
static void test_rss_accounting(void **state)
{
  (void)state;
  struct cli_run r;
  fixture_run(&r, "/runs/a", 1000, 16384);
  assert_int_equal(cli_run_analyse(&r), 0);
  double grow = 1000 * 16384.0;
  const struct cli_account *p = &r.acct[0], *d = &r.acct[1];
  assert_true(p->known && d->known);
  assert_true(near(p->rss, grow + 10 * MIB, 1));
  /* plateau: heap, malloc's 2 MiB beyond it, +1 free, +1 stacks, +1 file */
  assert_true(near(p->row[CLI_ACCT_HEAP], grow + 100000 + 4096, 1));
  assert_true(near(p->row[CLI_ACCT_HEAP] + p->row[CLI_ACCT_MALLOC_MORE],
                   grow + 2 * MIB, 1));
  assert_true(near(p->row[CLI_ACCT_MALLOC_FREE], 1 * MIB, 1));
  assert_true(near(p->row[CLI_ACCT_STACKS], 1 * MIB, 1));
  assert_true(near(p->row[CLI_ACCT_FILE], 1 * MIB, 1));
  assert_true(near(p->row[CLI_ACCT_REST], 5 * MIB, 1));
  /* drained: the users' memory is held free by the allocator */
  assert_true(near(d->rss, grow + 5 * MIB, 1));
  assert_true(d->row[CLI_ACCT_HEAP] == 0);
  assert_true(near(d->row[CLI_ACCT_MALLOC_FREE], grow, 1));
  assert_true(near(d->releasable, 1 * MIB + grow, 1));
  assert_true(near(d->row[CLI_ACCT_MALLOC_MORE], 0.5 * MIB, 1));
  assert_true(near(d->row[CLI_ACCT_REST], 3.5 * MIB, 1));
  double sum = 0;
  for (int i = 0; i < CLI_ACCT_NROWS; i++)
    sum += d->row[i];
  assert_true(near(sum, d->rss, 1)); /* the rows add up to the change */
  cli_run_free(&r);
}

/* Older libnprof: no malloc section, no RSS split. Those rows are not
 * measured and the rest takes them. */
static void test_rss_accounting_old_vars(void **state)
{
  (void)state;
  struct cli_run r;
  fixture_run(&r, "/runs/a", 100, 4096);
  for (int i = 0; i < 3; i++) {
    cli_json_free(r.vars[i]);
    char text[128];
    snprintf(text, sizeof(text), "{\"process\": {\"rss_bytes\": %d}}",
             (int)(100 * MIB) + i * 1000000);
    r.vars[i] = fixture_json(text);
  }
  assert_int_equal(cli_run_analyse(&r), 0);
  const struct cli_account *d = &r.acct[1];
  assert_true(d->known && d->rss == 2000000);
  assert_true(isnan(d->row[CLI_ACCT_MALLOC_FREE]));
  assert_true(isnan(d->row[CLI_ACCT_MALLOC_MORE]));
  assert_true(isnan(d->row[CLI_ACCT_STACKS]));
  assert_true(isnan(d->row[CLI_ACCT_FILE]));
  assert_true(isnan(d->releasable));
  assert_true(d->row[CLI_ACCT_REST] == 2000000);
  /* no users variable at plateau: the loadgen's count */
  assert_true(r.users == 990);
  cli_run_free(&r);
}

/* A service that died after plateau: drained figures unknown, not 0. */
static void test_missing_phase(void **state)
{
  (void)state;
  struct cli_run r;
  fixture_run(&r, "/runs/a", 10, 1000);
  cli_json_free(r.vars[2]);
  cli_profile_free(r.heap[2]);
  r.vars[2] = NULL;
  r.heap[2] = NULL;
  assert_int_equal(cli_run_analyse(&r), 0);
  assert_false(r.ph[2].has_vars);
  assert_true(isnan(r.retained_heap) && isnan(r.retained_rss));
  assert_true(isnan(r.threads_leaked));
  assert_false(r.acct[1].known);
  assert_true(r.acct[0].known);
  assert_true(r.has_growth && !r.has_retained);
  assert_true(r.heap_per_user > 0);
  cli_run_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_users_and_cost),
      cmocka_unit_test(test_rss_accounting),
      cmocka_unit_test(test_rss_accounting_old_vars),
      cmocka_unit_test(test_missing_phase),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
