/* Unit tests for profiler/cli/top.c. The expected tables are what
 * `go tool pprof -top` (Go 1.19) printed for the same profile
 * (tests/cli/testprof.h, written by tests/cli/mkprofile). */
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

/* Runs top on `t` and returns the text (free()). */
static char *run_top(const struct testprof *t, const char *index,
                     long nodecount)
{
  struct cli_top_options opts = {.nodecount = nodecount, .nodefraction = 0.005};
  struct cli_profile *p = NULL;
  char err[CLI_ERRLEN];
  size_t len;
  uint8_t *buf = testprof_pack(t, &len);
  struct capture c;

  assert_int_equal(cli_profile_decode(buf, len, 0, &p, err, sizeof(err)), 0);
  opts.sample_index = cli_profile_sample_index(p, index, err, sizeof(err));
  assert_true(opts.sample_index >= 0);
  assert_int_equal(cli_top_print(capture_open(&c), p, &opts), 0);
  cli_profile_free(p);
  free(buf);
  return capture_close(&c);
}

static void expect_top(const struct testprof *t, const char *index,
                       long nodecount, const char *want)
{
  capture_expect(run_top(t, index, nodecount), want);
}

static void test_top_default_index(void **state)
{
  struct testprof t;

  (void)state;
  testprof_init(&t);
  expect_top(&t, NULL, 0,
             "File: prog\n"
             "Type: inuse_space\n"
             "Showing nodes accounting for 51B, 100% of 51B total\n"
             "      flat  flat%   sum%        cum   cum%\n"
             "       50B 98.04% 98.04%        50B 98.04%  leaf (inline)\n"
             "        1B  1.96%   100%         1B  1.96%  prog+0x234\n"
             "         0     0%   100%        51B   100%  main\n"
             "         0     0%   100%        50B 98.04%  mid\n");
}

static void test_top_alloc_space(void **state)
{
  struct testprof t;

  (void)state;
  testprof_init(&t);
  expect_top(&t, "alloc_space", 10,
             "File: prog\n"
             "Type: alloc_space\n"
             "Showing nodes accounting for 110B, 100% of 110B total\n"
             "      flat  flat%   sum%        cum   cum%\n"
             "      100B 90.91% 90.91%       100B 90.91%  leaf (inline)\n"
             "        7B  6.36% 97.27%       110B   100%  main\n"
             "        3B  2.73%   100%         3B  2.73%  prog+0x234\n"
             "         0     0%   100%       100B 90.91%  mid\n");
}

/* With mid not shown, leaf has no shown caller: no "(inline)". */
static void test_top_nodecount(void **state)
{
  struct testprof t;

  (void)state;
  testprof_init(&t);
  expect_top(&t, NULL, 2,
             "File: prog\n"
             "Type: inuse_space\n"
             "Showing nodes accounting for 51B, 100% of 51B total\n"
             "Showing top 2 nodes out of 4\n"
             "      flat  flat%   sum%        cum   cum%\n"
             "       50B 98.04% 98.04%        50B 98.04%  leaf\n"
             "        1B  1.96%   100%         1B  1.96%  prog+0x234\n");
}

/* Small nodes are dropped below 0.5% of the total, and the table switches
 * to one unit picked from the smallest shown value and the total. */
static void test_top_drop_and_units(void **state)
{
  struct testprof t;
  char *got;

  (void)state;
  testprof_init(&t);
  t.vals[0][1] = 8 << 20; /* leaf: 8 MiB */
  t.vals[2][1] = 4096;    /* prog+0x234: 4 kB, 0.05%: dropped */
  t.vals[1][1] = 0;
  got = run_top(&t, NULL, 10);
  /* 8 MiB of 8 MiB + 4 kB is 99.95%: pprof rounds that to "100%". */
  assert_non_null(strstr(got, "Showing nodes accounting for 8MB, 100% of "
                              "8MB total\n"
                              "Dropped 1 node (cum <= 0.04MB)\n"));
  assert_non_null(strstr(got, "       8MB   100%   100%        8MB   100%  "
                              "leaf (inline)\n"));
  assert_null(strstr(got, "prog+0x234"));
  free(got);
}

/* Recursion counts once in cum; negative values (diff-like) sort by
 * magnitude; a frame with neither function nor mapping is <unknown>. */
static void test_top_recursion_and_unknown(void **state)
{
  struct testprof t;
  char *got, *a, *b;

  (void)state;
  testprof_init(&t);
  /* Sample 1: main -> main -> main, value 5 (inuse). */
  t.locids[1][0] = 11, t.locids[1][1] = 11, t.locids[1][2] = 11;
  t.s[1].n_location_id = 3;
  t.vals[1][1] = 5;
  t.loc[2].mapping_id = 0;
  t.vals[2][1] = -60;
  got = run_top(&t, NULL, 0);
  /* total = 50 + 5 + 60; main's cum = 50 + 5 - 60. */
  assert_non_null(strstr(got, "of 115B total\n"));
  assert_non_null(strstr(got, "      -60B 52.17% 52.17%       -60B 52.17%  "
                              "<unknown>\n"));
  assert_non_null(strstr(got, "Showing nodes accounting for -5B, 4.35% of "
                              "115B total\n"));
  assert_non_null(strstr(got, "        5B  4.35%  4.35%        -5B  4.35%  "
                              "main\n"));
  a = strstr(got, "<unknown>");
  b = strstr(got, "leaf");
  assert_true(a != NULL && b != NULL && a < b);
  free(got);
}

static void test_top_time_header(void **state)
{
  struct testprof t;
  static char ns[] = "nanoseconds", cpu[] = "cpu";
  char *got;

  (void)state;
  testprof_init(&t);
  t.strings[TP_S_BYTES] = ns;
  t.strings[TP_S_INUSE_SPACE] = cpu;
  t.vals[0][1] = 1200000000;
  t.vals[2][1] = 10000000;
  t.p.duration_nanos = 30000000000;
  got = run_top(&t, "cpu", 10);
  assert_non_null(strstr(got, "Duration: 30s, Total samples = 1.21s "
                              "( 4.03%)\n"));
  assert_non_null(strstr(got, "     1.20s 99.17% 99.17%      1.20s 99.17%  "
                              "leaf (inline)\n"));
  assert_non_null(strstr(got, "     0.01s  0.83%   100%      0.01s  0.83%  "
                              "prog+0x234\n"));
  free(got);
}

/* Comments go between the file lines and Type:, except "#..." ones. */
static void test_top_comments(void **state)
{
  struct testprof t;
  int64_t comments[] = {TP_S_WORKER, TP_S_THREAD};
  static char hidden[] = "# hidden";
  char *got;

  (void)state;
  testprof_init(&t);
  t.strings[TP_S_THREAD] = hidden;
  t.lab[0].key = TP_S_SIZE;
  t.p.comment = comments;
  t.p.n_comment = 2;
  got = run_top(&t, NULL, 1);
  assert_non_null(strstr(got, "File: prog\nworker\nType: inuse_space\n"));
  assert_null(strstr(got, "hidden"));
  free(got);
}

static void test_top_empty_profile(void **state)
{
  struct testprof t;

  (void)state;
  testprof_init(&t);
  t.p.n_sample = 0;
  t.p.n_mapping = 0;
  t.loc[0].mapping_id = t.loc[1].mapping_id = t.loc[2].mapping_id = 0;
  expect_top(&t, NULL, 10,
             "Type: inuse_space\n"
             "Showing nodes accounting for 0, 0% of 0 total\n"
             "      flat  flat%   sum%        cum   cum%\n");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_top_default_index),
      cmocka_unit_test(test_top_alloc_space),
      cmocka_unit_test(test_top_nodecount),
      cmocka_unit_test(test_top_drop_and_units),
      cmocka_unit_test(test_top_recursion_and_unknown),
      cmocka_unit_test(test_top_time_header),
      cmocka_unit_test(test_top_comments),
      cmocka_unit_test(test_top_empty_profile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
