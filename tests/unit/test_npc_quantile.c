/* npc_quantile_rank (common/quantile.c): the rank rule the loadgen and
 * nprof merge share, checked against the sorted-list definition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "npc.h"

static void ranks_round_up(void **state)
{
  (void)state;
  struct {
    double q;
    uint64_t count, rank;
  } cases[] = {
      {0.5, 2, 1},        {0.5, 3, 2},     {0.9, 10, 9},   {0.99, 1000, 990},
      {0.999, 1000, 999}, {0.999, 10, 10}, {0.001, 10, 1}, {0.0, 10, 1},
      {1.0, 10, 10},      {0.5, 1, 1},     {0.5, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_int_equal(npc_quantile_rank(cases[i].q, cases[i].count),
                     cases[i].rank);
}

/* For every count up to 200 and a spread of q: the rank is the smallest r
 * with r >= q * count, as for a sorted list of the values. */
static void ranks_match_the_definition(void **state)
{
  (void)state;
  const double qs[] = {0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};
  for (uint64_t n = 1; n <= 200; n++)
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
      uint64_t r = npc_quantile_rank(qs[k], n);
      assert_true(r >= 1 && r <= n);
      assert_true((double)r >= qs[k] * (double)n);
      assert_true(r == 1 || (double)(r - 1) < qs[k] * (double)n);
    }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ranks_round_up),
      cmocka_unit_test(ranks_match_the_definition),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
