/* timeline.jsonl (loadgen/timeline.c): one line per sample in the layout
 * the report reads (contracts: timeline.jsonl), the served /debug/vars
 * compacted to that line or null when it is not a JSON object, and the
 * sampler thread's lines, each whole, with the phase its source gave.
 * Lines are checked with json-c, the parser the report's side does not
 * share. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include <json-c/json.h>

#include "internal.h"

static char *line_of(double t, const lg_tl_sample *s, const char *vars, int *rc)
{
  struct capture c;
  *rc = lg_timeline_line(capture_open(&c), t, s, vars, vars ? strlen(vars) : 0);
  return capture_close(&c);
}

static void test_line(void **state)
{
  (void)state;
  lg_tl_sample s = {.phase = LG_TL_HOLD,
                    .connected = 1000,
                    .established_total = 1003,
                    .messages = 7,
                    .errors = 3,
                    .client_rss_bytes = 123456789};
  int rc;
  /* Go's expvar layout: several lines, a trailing newline */
  const char *vars = "{\n\"cmdline\": [\"notifier\"],\n\"process\": "
                     "{\"rss_bytes\": 31457280, \"threads\": 12},\n"
                     "\"notifier.users\": 1000, \"x\": 0.1\n}\n";
  char *l = line_of(1700000000.25, &s, vars, &rc);
  assert_int_equal(rc, 0);
  assert_null(strchr(l, '\n'));
  json_object *o = json_tokener_parse(l);
  assert_non_null(o);
  json_object *v;
  assert_true(json_object_object_get_ex(o, "t", &v));
  assert_true(json_object_get_double(v) == 1700000000.25);
  assert_true(json_object_object_get_ex(o, "phase", &v));
  assert_string_equal(json_object_get_string(v), "hold");
  assert_true(json_object_object_get_ex(o, "vars", &v));
  json_object *u, *p, *r;
  assert_true(json_object_object_get_ex(v, "notifier.users", &u));
  assert_int_equal(json_object_get_int64(u), 1000);
  assert_true(json_object_object_get_ex(v, "process", &p));
  assert_true(json_object_object_get_ex(p, "rss_bytes", &r));
  assert_int_equal(json_object_get_int64(r), 31457280);
  assert_non_null(strstr(l, "\"x\":0.1")); /* numbers as served */
  json_object *lg;
  assert_true(json_object_object_get_ex(o, "loadgen", &lg));
  const char *keys[] = {"connected", "established_total", "messages", "errors",
                        "client_rss_bytes"};
  const int64_t want[] = {1000, 1003, 7, 3, 123456789};
  for (size_t i = 0; i < 5; i++) {
    assert_true(json_object_object_get_ex(lg, keys[i], &v));
    assert_int_equal(json_object_get_int64(v), want[i]);
  }
  json_object_put(o);
  free(l);

  /* not an object, not JSON, trailing junk, no fetch: vars is null */
  const char *bad[] = {"[1, 2]", "<html>oops</html>", "{\"a\": 1} x",
                       "{",      "\"str\"",           ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    l = line_of(1.0, &s, bad[i], &rc);
    assert_int_equal(rc, LG_EPROTO);
    assert_non_null(strstr(l, "\"vars\": null"));
    o = json_tokener_parse(l);
    assert_non_null(o);
    json_object_put(o);
    free(l);
  }
  l = line_of(1.0, &s, NULL, &rc);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(l, "\"vars\": null"));
  free(l);
  for (int ph = 0; ph < LG_TL_COUNT; ph++)
    assert_string_not_equal(lg_tl_phase_name((lg_tl_phase)ph), "unknown");
  assert_string_equal(lg_tl_phase_name(LG_TL_RAMP), "ramp");
  assert_string_equal(lg_tl_phase_name(LG_TL_DRAINED), "drained");
}

static atomic_int calls;

static void source(void *ud, lg_tl_sample *s)
{
  (void)ud;
  int n = atomic_fetch_add(&calls, 1);
  memset(s, 0, sizeof *s);
  s->phase = n < 3 ? LG_TL_RAMP : LG_TL_HOLD;
  s->connected = (uint64_t)n;
}

static void test_thread(void **state)
{
  (void)state;
  assert_int_equal(npc_http_init(), 0);
  char path[] = "/tmp/lg-timeline-XXXXXX";
  close(mkstemp(path));
  lg_timeline *tl;
  /* a debug server that is not there: every sample still written, with
   * null vars (a refused connection is quick, never a pile-up) */
  assert_int_equal(lg_timeline_start(&tl, path, "http://127.0.0.1:1/debug/vars",
                                     20000000, source, NULL),
                   0);
  struct timespec ts = {0, 200000000};
  nanosleep(&ts, NULL);
  unsigned n = lg_timeline_stop(tl);
  /* 200 ms at 20 ms, plus the last: no more than that, and some */
  assert_true(n >= 2 && n <= 12);
  assert_int_equal(n, (unsigned)atomic_load(&calls));
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[4096];
  unsigned lines = 0;
  double last_t = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    assert_non_null(strchr(line, '\n')); /* whole lines */
    json_object *o = json_tokener_parse(line), *v;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "vars", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "t", &v));
    assert_true(json_object_get_double(v) >= last_t);
    last_t = json_object_get_double(v);
    assert_true(json_object_object_get_ex(o, "phase", &v));
    assert_string_equal(json_object_get_string(v), lines < 3 ? "ramp" : "hold");
    json_object_put(o);
    lines++;
  }
  fclose(f);
  assert_int_equal(lines, n);
  unlink(path);
  assert_int_equal(lg_timeline_stop(NULL), 0);
  /* a folder that is not there: an error, no thread */
  assert_int_equal(lg_timeline_start(&tl, "/nonexistent/t.jsonl", NULL,
                                     20000000, source, NULL),
                   -ENOENT);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line),
      cmocka_unit_test(test_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
