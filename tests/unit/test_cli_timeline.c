/* Unit tests for profiler/cli/timeline.c: samples and their figures, the
 * torn last line, bad lines, failed fetches, the cap on kept samples, and
 * that reading a file in pieces gives what parsing it whole gives. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static const char *const good =
    "{\"t\": 100.0, \"phase\": \"baseline\", \"vars\": {\"process\": "
    "{\"rss_bytes\": 1000, \"threads\": 5, \"profiler_threads\": 2, "
    "\"open_fds\": 9, \"rss_anon_bytes\": 600, \"rss_file_bytes\": 400}, "
    "\"nprof\": {\"heap_inuse_bytes\": 300}, \"malloc\": {\"allocator\": "
    "\"glibc\", \"free_bytes\": 50, \"releasable_bytes\": 40}, "
    "\"svc.users\": 0}, \"loadgen\": {\"connected\": 0, "
    "\"established_total\": 0, \"messages\": 0, \"errors\": 0, "
    "\"client_rss_bytes\": 777}}\n"
    "{\"t\": 100.5, \"phase\": \"ramp\", \"vars\": null, \"loadgen\": "
    "{\"connected\": 5}}\n"
    "{\"t\": 101.0, \"phase\": \"plateau\", \"vars\": {\"process\": "
    "{\"rss_bytes\": 5000}, \"svc.users\": 10}, \"loadgen\": {\"connected\": "
    "10}}\n";

static void parse(const char *text, struct cli_timeline *tl)
{
  memset(tl, 0, sizeof(*tl));
  assert_int_equal(cli_timeline_parse(text, strlen(text), "svc.users", tl), 0);
}

static void test_timeline_samples(void **state)
{
  (void)state;
  struct cli_timeline tl;
  parse(good, &tl);
  assert_int_equal(tl.n, 3);
  assert_int_equal(tl.lines, 3);
  assert_int_equal(tl.bad, 0);
  assert_false(tl.torn);
  assert_int_equal(tl.stride, 1);
  const struct cli_tl_sample *s = &tl.samples[0];
  assert_true(s->t == 100.0);
  assert_int_equal(s->phase, CLI_TL_BASELINE);
  assert_true(s->has_vars);
  assert_true(s->v.rss == 1000);
  assert_true(s->v.threads == 3); /* the profiler's own two left out */
  assert_true(s->v.fds == 9);
  assert_true(s->v.rss_anon == 600 && s->v.rss_file == 400);
  assert_true(s->v.heap_inuse == 300);
  assert_true(s->v.malloc_free == 50 && s->v.malloc_releasable == 40);
  assert_null(s->v.allocator); /* borrowed from a line that is gone */
  assert_true(s->v.users == 0);
  assert_true(s->client_rss == 777);
  /* A failed fetch: no vars, the loadgen's counters still there. */
  s = &tl.samples[1];
  assert_int_equal(s->phase, CLI_TL_RAMP);
  assert_false(s->has_vars);
  assert_true(isnan(s->v.rss));
  assert_true(s->connected == 5);
  assert_true(isnan(s->messages));
  s = &tl.samples[2];
  assert_true(s->v.users == 10);
  assert_true(isnan(s->v.malloc_free)); /* older libnprof: no malloc */
  cli_timeline_free(&tl);
  assert_null(tl.samples);
}

/* A last line without its newline that does not parse is a write in
 * progress: torn, not bad. One that parses is a sample. A bad line in the
 * middle is counted and skipped. */
static void test_timeline_torn_and_bad(void **state)
{
  (void)state;
  struct cli_timeline tl;
  char *text = NULL;
  assert_true(asprintf(&text,
                       "%snot json\n{\"phase\": \"hold\"}\n\n"
                       "{\"t\": 102, \"phase\": \"drai",
                       good) > 0);
  parse(text, &tl);
  assert_int_equal(tl.n, 3);
  assert_int_equal(tl.bad, 2); /* not json; no "t" */
  assert_true(tl.torn);
  assert_int_equal(tl.lines, 6); /* the empty line is no line */
  cli_timeline_free(&tl);
  free(text);

  parse("{\"t\": 5, \"phase\": \"mystery\"}", &tl);
  assert_int_equal(tl.n, 1);
  assert_false(tl.torn);
  assert_int_equal(tl.samples[0].phase, CLI_TL_UNKNOWN);
  assert_string_equal(cli_tl_phase_name(tl.samples[0].phase), "?");
  cli_timeline_free(&tl);
}

/* Out-of-order lines come out by time. */
static void test_timeline_sorted(void **state)
{
  (void)state;
  struct cli_timeline tl;
  parse("{\"t\": 3}\n{\"t\": 1}\n{\"t\": 2}\n", &tl);
  assert_int_equal(tl.n, 3);
  for (size_t i = 0; i < 3; i++)
    assert_true(tl.samples[i].t == (double)(i + 1));
  cli_timeline_free(&tl);
}

/* More samples than the cap: every stride-th is kept, spanning the whole
 * run, and memory stays at the cap. */
static void test_timeline_cap(void **state)
{
  (void)state;
  size_t n = CLI_TIMELINE_MAX_SAMPLES * 2 + 1000;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "{\"t\": %zu, \"vars\": {\"process\": {\"rss_bytes\": %zu}}}\n",
            i, i);
  fclose(f);
  struct cli_timeline tl;
  memset(&tl, 0, sizeof(tl));
  assert_int_equal(cli_timeline_parse(text, len, NULL, &tl), 0);
  assert_true(tl.n <= CLI_TIMELINE_MAX_SAMPLES);
  assert_true(tl.alloc <= CLI_TIMELINE_MAX_SAMPLES);
  assert_int_equal(tl.stride, 4);
  assert_int_equal(tl.lines, n);
  assert_true(tl.samples[0].t == 0);
  assert_true(tl.samples[tl.n - 1].t >= (double)(n - tl.stride));
  for (size_t i = 1; i < tl.n; i++)
    assert_true(tl.samples[i].t - tl.samples[i - 1].t == tl.stride);
  cli_timeline_free(&tl);
  free(text);
}

/* The streaming reader: same samples as parsing whole, a line past the
 * line cap skipped as bad (without holding it), a missing file CLI_EIO. */
static void test_timeline_load(void **state)
{
  (void)state;
  char path[] = "/tmp/test_cli_timeline.XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(good, f);
  fputs("{\"t\": 200, \"pad\": \"", f);
  for (size_t i = 0; i < CLI_TIMELINE_LINE_MAX + 1000; i++)
    fputc('x', f);
  fputs("\"}\n{\"t\": 300}\n{\"t\": 301, \"ph", f);
  fclose(f);
  struct cli_timeline tl;
  memset(&tl, 0, sizeof(tl));
  char err[CLI_ERRLEN];
  assert_int_equal(cli_timeline_load(path, "svc.users", &tl, err, sizeof(err)),
                   0);
  assert_int_equal(tl.n, 4);
  assert_int_equal(tl.bad, 1);
  assert_true(tl.torn);
  assert_true(tl.samples[2].v.users == 10);
  assert_true(tl.samples[3].t == 300);
  cli_timeline_free(&tl);
  unlink(path);
  memset(&tl, 0, sizeof(tl));
  assert_int_equal(cli_timeline_load(path, NULL, &tl, err, sizeof(err)),
                   CLI_EIO);
  assert_non_null(strstr(err, path));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timeline_samples),
      cmocka_unit_test(test_timeline_torn_and_bad),
      cmocka_unit_test(test_timeline_sorted),
      cmocka_unit_test(test_timeline_cap),
      cmocka_unit_test(test_timeline_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
