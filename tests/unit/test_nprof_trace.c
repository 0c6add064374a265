/* The trace endpoint's Chrome Trace Event JSON (trace.c): well-formed,
 * threads named, CPU samples and waits placed on their threads. */
#include "internal.h"
#include "npc.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "endpoint_helper.h"

/* A strict JSON syntax check (RFC 8259), enough to know a parser takes it. */
typedef struct json {
  const char *p;
  int depth;
} json;

static void ws(json *j)
{
  while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
    j->p++;
}

static bool value(json *j);

static bool string(json *j)
{
  if (*j->p != '"')
    return false;
  j->p++;
  while (*j->p && *j->p != '"') {
    if ((unsigned char)*j->p < 0x20)
      return false;
    if (*j->p == '\\') {
      j->p++;
      if (*j->p == 'u') {
        for (int i = 1; i <= 4; i++)
          if (!strchr("0123456789abcdefABCDEF", j->p[i]) || !j->p[i])
            return false;
        j->p += 4;
      } else if (!*j->p || !strchr("\"\\/bfnrt", *j->p)) {
        return false;
      }
    }
    j->p++;
  }
  if (*j->p != '"')
    return false;
  j->p++;
  return true;
}

static bool number(json *j)
{
  char *end;
  strtod(j->p, &end);
  if (end == j->p)
    return false;
  j->p = end;
  return true;
}

static bool container(json *j, char open, char close, bool keys)
{
  if (*j->p != open || ++j->depth > 64)
    return false;
  j->p++;
  ws(j);
  if (*j->p == close) {
    j->p++;
    j->depth--;
    return true;
  }
  for (;;) {
    ws(j);
    if (keys) {
      if (!string(j))
        return false;
      ws(j);
      if (*j->p++ != ':')
        return false;
    }
    if (!value(j))
      return false;
    ws(j);
    if (*j->p == ',') {
      j->p++;
      continue;
    }
    if (*j->p != close)
      return false;
    j->p++;
    j->depth--;
    return true;
  }
}

static bool value(json *j)
{
  ws(j);
  switch (*j->p) {
  case '{':
    return container(j, '{', '}', true);
  case '[':
    return container(j, '[', ']', false);
  case '"':
    return string(j);
  case 't':
    return strncmp(j->p, "true", 4) == 0 && (j->p += 4);
  case 'f':
    return strncmp(j->p, "false", 5) == 0 && (j->p += 5);
  case 'n':
    return strncmp(j->p, "null", 4) == 0 && (j->p += 4);
  default:
    return number(j);
  }
}

static bool valid_json(const char *s)
{
  json j = {.p = s};
  if (!value(&j))
    return false;
  ws(&j);
  return *j.p == '\0';
}

__attribute__((noipa)) static void sampled_function(uintptr_t *pcs, int *depth)
{
  *depth = nprof__stack_capture(pcs, NPROF_MAX_DEPTH, 0);
}

static void json_names_threads_and_places_events(void **state)
{
  (void)state;
  assert_true(valid_json("{\"a\":[1,2.5e3,\"x\\n\"],\"b\":{}}"));
  assert_false(valid_json("{\"a\":[1,]}"));

  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  d.keep_events = true;
  d.hz = 100;
  d.start_ns = npc_mono_ns();
  nprof__cpu_sample s;
  memset(&s, 0, sizeof(s));
  s.tid = (pid_t)syscall(SYS_gettid);
  sampled_function(s.pcs, &s.depth);
  for (int i = 0; i < 3; i++) {
    s.time_ns = d.start_ns + (i + 1) * 10000000LL;
    nprof__cpu_data_add(&s, &d);
  }
  d.duration_ns = 40000000LL;
  nprof__wait_event w;
  memset(&w, 0, sizeof(w));
  w.kind = NPROF__WAIT_MUTEX;
  w.tid = s.tid;
  w.start_ns = d.start_ns + 5000000;
  w.delay_ns = 2500000;
  w.depth = s.depth < NPROF_TRACE_DEPTH ? s.depth : NPROF_TRACE_DEPTH;
  memcpy(w.pcs, s.pcs, (size_t)w.depth * sizeof(uintptr_t));

  nprof__symbolize_refresh();
  nprof__buf out;
  nprof__buf_init(&out, 1 << 24);
  assert_int_equal(nprof__trace_write(&d, &w, 1, 0, &out), 0);
  assert_true(valid_json(out.data));
  char want[128];
  snprintf(want, sizeof(want),
           "\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
           "\"args\":{\"name\":\"test_nprof_trac (%d)\"}",
           (int)getpid(), (int)s.tid, (int)s.tid);
  assert_non_null(strstr(out.data, want));
  assert_non_null(strstr(out.data, "\"name\":\"process_name\""));
  assert_non_null(strstr(out.data, "\"name\":\"sampled_function\",\"cat\":"
                                   "\"cpu\",\"ph\":\"X\",\"ts\":0.000,"
                                   "\"dur\":10000.000"));
  assert_non_null(strstr(out.data, "\"name\":\"mutex wait\",\"cat\":"
                                   "\"contention\",\"ph\":\"X\",\"ts\":"
                                   "5000.000,\"dur\":2500.000"));
  assert_non_null(strstr(out.data, "\"stack\":[\"sampled_function\","));
  assert_non_null(strstr(out.data, "\"cpu_samples\":3"));
  nprof__buf_free(&out);
  nprof__cpu_data_free(&d);
}

static void endpoint_serves_json(void **state)
{
  (void)state;
  nprof__response res;
  serve(&res, "trace", NULL, "0.2");
  assert_int_equal(res.status, 200);
  assert_string_equal(res.content_type, "application/json");
  assert_true(valid_json(res.body.data));
  assert_non_null(strstr(res.body.data, "\"traceEvents\":["));
  nprof__buf_free(&res.body);
  /* A trace already running: Go's words. */
  assert_int_equal(nprof__contention_trace_begin(16), 0);
  expect_go_error("trace", NULL, "0.2", 500,
                  "Could not enable tracing: tracing is already enabled\n");
  nprof__wait_event *ev;
  nprof__contention_trace_end(&ev, NULL);
  free(ev);
}

/* A trace past its cap is refused with the reason, not grown inside the
 * host. The cap is lowered for the test (the real one is 256 MiB). */
static void oversized_trace_is_refused(void **state)
{
  (void)state;
  size_t saved = nprof__trace_max_bytes;
  nprof__trace_max_bytes = 200; /* the header alone is longer */
  nprof__response res;
  serve(&res, "trace", NULL, "0.1");
  nprof__trace_max_bytes = saved;
  assert_int_equal(res.status, 500);
  assert_true(res.go_error);
  assert_string_equal(res.body.data,
                      "Could not write the trace: it is larger than 0 MiB, "
                      "the most libnprof builds inside the process; ask for "
                      "fewer seconds\n");
  nprof__buf_free(&res.body);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(json_names_threads_and_places_events),
      cmocka_unit_test(endpoint_serves_json),
      cmocka_unit_test(oversized_trace_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
