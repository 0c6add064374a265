/* A run folder's inputs built in memory, for the unit tests of the CLI's
 * readers and of profiler/cli/analysis.c and compare.c: JSON from strings,
 * heap profiles from tests/cli/testprof.h with chosen in-use values, and
 * whole runs. Included by the test files that need them. */
#ifndef NPROF_TESTS_CLI_RUN_FIXTURE_H
#define NPROF_TESTS_CLI_RUN_FIXTURE_H

#include "../cli/testprof.h"
#include "cli.h"

#define MIB (1024.0 * 1024.0)

static inline struct cli_json *fixture_json(const char *text)
{
  struct cli_json *j = NULL;
  char err[CLI_ERRLEN];
  if (cli_json_parse(text, strlen(text), &j, err, sizeof(err)) != 0)
    fail_msg("%s: %s", text, err);
  return j;
}

/* A heap profile whose three samples hold `leaf`, `main` and `prog`
 * bytes in use (leaf, main and the unnamed frame at prog+0x234). */
static inline struct cli_profile *fixture_heap(int64_t leaf, int64_t main_self,
                                               int64_t unnamed)
{
  struct testprof t;
  testprof_init(&t);
  t.vals[0][1] = leaf;
  t.vals[1][1] = main_self;
  t.vals[2][1] = unnamed;
  size_t len;
  uint8_t *buf = testprof_pack(&t, &len);
  struct cli_profile *p = NULL;
  char err[CLI_ERRLEN];
  if (cli_profile_decode(buf, len, 0, &p, err, sizeof(err)) != 0)
    fail_msg("%s", err);
  free(buf);
  return p;
}

/* vars for one phase: RSS and its split, malloc's figures (MiB), users */
static inline struct cli_json *fixture_vars(double rss, double anon,
                                            double file, double stacks,
                                            double in_use, double free_b,
                                            double releasable, int users)
{
  char *text = NULL;
  if (asprintf(&text,
               "{\"process\": {\"rss_bytes\": %.0f, \"rss_anon_bytes\": %.0f, "
               "\"rss_file_bytes\": %.0f, \"thread_stacks_rss_bytes\": %.0f, "
               "\"threads\": 11, \"profiler_threads\": 1, \"open_fds\": 20}, "
               "\"nprof\": {\"heap_inuse_bytes\": 1}, \"malloc\": "
               "{\"allocator\": \"glibc\", \"in_use_bytes\": %.0f, "
               "\"free_bytes\": %.0f, \"releasable_bytes\": %.0f, "
               "\"arenas\": 1}, \"svc.users\": %d}",
               rss * MIB, anon * MIB, file * MIB, stacks * MIB, in_use * MIB,
               free_b * MIB, releasable * MIB, users) < 0)
    fail_msg("asprintf");
  struct cli_json *j = fixture_json(text);
  free(text);
  return j;
}

/* A run of `users` users whose leaf allocation site costs `leaf_per_user`
 * bytes each at plateau, the allocator keeping what drain freed. */
static inline void fixture_run(struct cli_run *r, const char *dir, int users,
                               double leaf_per_user)
{
  memset(r, 0, sizeof(*r));
  r->dir = dir;
  r->params = fixture_json("{\"users_var\": \"svc.users\"}");
  r->users_var = cli_json_string(r->params, "users_var");
  r->loadgen_json = fixture_json(
      "{\"streams_established\": 990, \"phases\": {\"baseline\": 10, "
      "\"plateau\": 20, \"drained\": 30}}");
  double grow = users * leaf_per_user / MIB;
  r->vars[0] = fixture_vars(100, 60, 40, 1, 20, 2, 1, 0);
  r->vars[1] = fixture_vars(100 + grow + 10, 60 + grow + 9, 41, 2,
                            20 + grow + 2, 3, 2, users);
  r->vars[2] = fixture_vars(100 + grow + 5, 60 + grow + 4, 41, 1, 20.5,
                            2 + grow, 1 + grow, 0);
  r->heap[0] = fixture_heap(1000, 0, 0);
  r->heap[1] = fixture_heap(1000 + (int64_t)(users * leaf_per_user),
                            (int64_t)(users * 100.0), 4096);
  r->heap[2] = fixture_heap(1000, 0, 0);
}

#endif /* NPROF_TESTS_CLI_RUN_FIXTURE_H */
