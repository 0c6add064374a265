/* A shard's share of a run (loadgen/shard.c): the users tile the run with
 * no gap and no overlap, the rates split in the same proportion, the
 * index/count pair comes from the flags or a Kubernetes Indexed Job's
 * environment, and every inconsistency is refused with words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loadgen_flags.h"

static void clear_env(void)
{
  unsetenv("JOB_COMPLETION_INDEX");
  unsetenv("NPROF_SHARD_COUNT");
  unsetenv("NPROF_RUN_ID");
}

/* Every user in exactly one shard, shards differing by at most one. */
static void test_users_tile_the_run(void **state)
{
  (void)state;
  const uint32_t totals[] = {1, 7, 10, 999, 1000, 200000, 4294967295u};
  const uint32_t counts[] = {1, 2, 3, 4, 7, 64, 1000};
  for (size_t a = 0; a < sizeof totals / sizeof *totals; a++)
    for (size_t b = 0; b < sizeof counts / sizeof *counts; b++) {
      uint32_t total = totals[a], count = counts[b];
      if (count > total)
        continue;
      uint64_t next = 0;
      uint32_t lo = UINT32_MAX, hi = 0;
      for (uint32_t i = 0; i < count; i++) {
        uint32_t first, n;
        lg_shard_users(total, i, count, &first, &n);
        assert_int_equal(first, next); /* no gap, no overlap */
        next = (uint64_t)first + n;
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
      }
      assert_true(next == total);
      assert_true(hi - lo <= 1);
    }
}

static void test_flags_take_a_share(void **state)
{
  (void)state;
  clear_env();
  lg_options o;
  char err[512];
  const char *args[] = {"--streams",
                        "1000",
                        "--shard-index",
                        "3",
                        "--shard-count",
                        "4",
                        "--run-id",
                        "r-1",
                        "--rate",
                        "400",
                        "--rps",
                        "2000",
                        "--concurrency",
                        "100",
                        "--run-dir",
                        "/tmp/r",
                        "--streams-per-conn",
                        "10",
                        NULL};
  assert_int_equal(loadgen_parse_flags(&o, args, err, sizeof err), 0);
  assert_int_equal(o.shard_index, 3);
  assert_int_equal(o.shard_count, 4);
  assert_int_equal(o.streams_total, 1000);
  assert_int_equal(o.streams, 250);
  assert_int_equal(o.user_first, 750);
  assert_int_equal(o.conns, 25);
  assert_true(o.rate == 100.0);
  assert_true(o.rps == 500.0);
  assert_int_equal(o.concurrency, 25);
  assert_string_equal(o.run_id, "r-1");
  /* Its result beside the others', for nprof merge. */
  assert_string_equal(o.json_path, "/tmp/r/shard-3.json");
  lg_options_free(&o);

  /* One process, unsharded, as always; shard 0 of 1 too. */
  const char *plain[] = {"--streams", "10", NULL};
  assert_int_equal(loadgen_parse_flags(&o, plain, err, sizeof err), 0);
  assert_int_equal(o.shard_count, 1);
  assert_int_equal(o.streams, 10);
  assert_int_equal(o.user_first, 0);
  assert_null(o.run_id);
  lg_options_free(&o);
  const char *one[] = {
      "--streams", "10",        "--shard-index", "0", "--shard-count",
      "1",         "--run-dir", "/tmp/r",        NULL};
  assert_int_equal(loadgen_parse_flags(&o, one, err, sizeof err), 0);
  assert_null(o.run_id);
  assert_string_equal(o.json_path, "/tmp/r/loadgen.json");
  lg_options_free(&o);
  /* ... but with a run id it is the one shard of a coordinated run (a
   * Kubernetes Job of one pod, with its coordinator). */
  const char *coord1[] = {
      "--streams", "10",        "--shard-index", "0",        "--shard-count",
      "1",         "--run-dir", "/tmp/r",        "--run-id", "k",
      NULL};
  assert_int_equal(loadgen_parse_flags(&o, coord1, err, sizeof err), 0);
  assert_string_equal(o.run_id, "k");
  assert_string_equal(o.json_path, "/tmp/r/shard-0.json");
  lg_options_free(&o);
}

/* A Kubernetes Indexed Job gives the index in JOB_COMPLETION_INDEX. */
static void test_indexed_job_environment(void **state)
{
  (void)state;
  clear_env();
  lg_options o;
  char err[512];
  setenv("JOB_COMPLETION_INDEX", "2", 1);
  setenv("NPROF_SHARD_COUNT", "3", 1);
  setenv("NPROF_RUN_ID", "k8s-run", 1);
  const char *args[] = {"--streams", "10", NULL};
  assert_int_equal(loadgen_parse_flags(&o, args, err, sizeof err), 0);
  assert_int_equal(o.shard_index, 2);
  assert_int_equal(o.shard_count, 3);
  assert_int_equal(o.user_first, 6); /* 2*10/3 */
  assert_int_equal(o.streams, 4);    /* 6..9 */
  assert_string_equal(o.run_id, "k8s-run");
  lg_options_free(&o);
  /* The flags may say the same. */
  const char *same[] = {
      "--streams", "10", "--shard-index", "2", "--shard-count", "3", NULL};
  assert_int_equal(loadgen_parse_flags(&o, same, err, sizeof err), 0);
  lg_options_free(&o);
  /* The coordinator ignores the index an Indexed Job would give it. */
  const char *coord[] = {"--streams", "10",     "--coordinate",
                         "--run-dir", "/tmp/r", NULL};
  assert_int_equal(loadgen_parse_flags(&o, coord, err, sizeof err), 0);
  assert_true(o.coordinate);
  assert_int_equal(o.streams, 10); /* the whole run's */
  assert_string_equal(o.json_path, "/tmp/r/coordinator.json");
  lg_options_free(&o);
  clear_env();
}

static void test_inconsistent_pairs_refused(void **state)
{
  (void)state;
  struct {
    const char *env_index, *env_count;
    const char *args[12];
    const char *says;
  } cases[] = {
      {NULL, NULL, {"--shard-index", "1"}, "needs --shard-count"},
      {"1", NULL, {"--streams", "4"}, "JOB_COMPLETION_INDEX) needs"},
      {NULL, NULL, {"--shard-count", "4"}, "needs --shard-index"},
      {NULL, "4", {"--run-id", "x"}, "Indexed Job"},
      {NULL, NULL, {"--shard-index", "4", "--shard-count", "4"}, "0..3"},
      {NULL,
       NULL,
       {"--shard-index", "-1", "--shard-count", "4"},
       "--shard-index -1"},
      {"x", "4", {"--run-id", "r"}, "JOB_COMPLETION_INDEX=x"},
      {"2", "4", {"--shard-index", "1", "--run-id", "r"}, "disagree"},
      {NULL, "3", {"--shard-index", "0", "--shard-count", "4"}, "disagree"},
      {NULL,
       NULL,
       {"--shard-index", "0", "--shard-count", "0"},
       "--shard-count 0"},
      {NULL, NULL, {"--shard-index", "0", "--shard-count", "2"}, "--run-id"},
      {NULL,
       NULL,
       {"--shard-index", "0", "--shard-count", "2", "--run-id", "a/b"},
       "letters, digits"},
      {NULL,
       NULL,
       {"--shard-index", "0", "--shard-count", "9", "--streams", "8",
        "--run-id", "r"},
       "fewer users"},
      {NULL,
       NULL,
       {"--shard-index", "0", "--shard-count", "2", "--run-id", "r",
        "--snapshot-url", "http://127.0.0.1:1", "--run-dir", "/tmp/r"},
       "takes no snapshots"},
      {NULL,
       NULL,
       {"--shard-index", "0", "--shard-count", "2", "--run-id", "r",
        "--publish", "1"},
       "coordinator's"},
      {NULL, NULL, {"--run-id", "r"}, "needs --shard-count"},
      {NULL,
       NULL,
       {"--coordinate", "--run-dir", "/tmp/r", "--run-id", "r"},
       "--coordinate needs --shard-count"},
      {NULL,
       NULL,
       {"--coordinate", "--shard-count", "2", "--run-id", "r"},
       "needs --run-dir"},
      {NULL,
       NULL,
       {"--coordinate", "--shard-count", "2", "--shard-index", "0", "--run-dir",
        "/tmp/r", "--run-id", "r"},
       "no --shard-index"},
      {NULL, NULL, {"--shard-timeout", "0"}, "positive"},
      {NULL, NULL, {"--shard-timeout", "5"}, NPC_DURATION_HELP},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    clear_env();
    if (cases[i].env_index != NULL)
      setenv("JOB_COMPLETION_INDEX", cases[i].env_index, 1);
    if (cases[i].env_count != NULL)
      setenv("NPROF_SHARD_COUNT", cases[i].env_count, 1);
    lg_options o;
    char err[512] = "";
    int rc = loadgen_parse_flags(&o, cases[i].args, err, sizeof err);
    if (rc != LG_EINVAL || strstr(err, cases[i].says) == NULL)
      fail_msg("case %zu: rc %d, '%s', want '%s'", i, rc, err, cases[i].says);
    lg_options_free(&o);
  }
  clear_env();
}

static void test_source_ranges_are_disjoint(void **state)
{
  (void)state;
  clear_env();
  char err[512];
  /* 4 shards x 50,000 users at 100 per connection: 500 connections each,
   * one address each at 28,232 ports: 127.0.0.1, .2, .3, .4. */
  for (uint32_t i = 0; i < 4; i++) {
    lg_options o = {.streams_total = 200000,
                    .streams_per_conn = 100,
                    .shard_index = i,
                    .shard_count = 4};
    assert_int_equal(lg_shard_source_plan(&o, 28232, err, sizeof err), 0);
    assert_int_equal(o.source_addrs, 1);
    assert_int_equal(o.source_first, i);
  }
  /* One connection per user: 50,000 connections need 2 addresses a shard;
   * shard 3 starts at 127.0.0.7. */
  lg_options o = {.streams_total = 200000,
                  .streams_per_conn = 1,
                  .shard_index = 3,
                  .shard_count = 4};
  assert_int_equal(lg_shard_source_plan(&o, 28232, err, sizeof err), 0);
  assert_int_equal(o.source_addrs, 2);
  assert_int_equal(o.source_first, 6);
  /* --source-addrs says each shard's range. */
  lg_options g = {.streams_total = 100,
                  .streams_per_conn = 1,
                  .shard_index = 1,
                  .shard_count = 2,
                  .source_addrs = 10};
  assert_int_equal(lg_shard_source_plan(&g, 28232, err, sizeof err), 0);
  assert_int_equal(g.source_first, 10);
  /* Past 127.0.0.254: refused, with advice. */
  lg_options big = {.streams_total = 10000000,
                    .streams_per_conn = 1,
                    .shard_index = 9,
                    .shard_count = 10};
  assert_int_equal(lg_shard_source_plan(&big, 28232, err, sizeof err),
                   LG_EINVAL);
  assert_non_null(strstr(err, "--streams-per-conn"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_users_tile_the_run),
      cmocka_unit_test(test_flags_take_a_share),
      cmocka_unit_test(test_indexed_job_environment),
      cmocka_unit_test(test_inconsistent_pairs_refused),
      cmocka_unit_test(test_source_ranges_are_disjoint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
