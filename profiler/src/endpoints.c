/*
 * The routes of the debug server and what they share: one table says, for
 * each path, who serves it, whether seconds= makes it a delta profile, and
 * what it answers with; the HTTP layer (http.c) and the tests go through
 * it. Go's net/http/pprof semantics: the same parameters (debug, seconds),
 * the same error texts and statuses, the same text formats for debug=1 and
 * debug=2, and pprof protobuf otherwise.
 *
 * The profile families live in their own files: endpoint_heap.c (heap,
 * allocs), endpoint_counts.c (goroutine, threadcreate, application
 * profiles), endpoint_wait.c (mutex, block), endpoint_cpu.c (profile,
 * trace), endpoint_index.c (the index, symbol, cmdline, vars).
 */
#include "internal.h"
#include "npc.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table. Names are the part after /debug/pprof/, or a whole path when
 * they start with '/'. An unknown name under /debug/pprof/ is an
 * application profile (endpoint_counts.c) or Go's "Unknown profile". */
static const nprof__route routes[] = {
    {"", nprof__serve_index, NPROF__SECONDS_NONE, "text/html; charset=utf-8",
     NULL},
    {"allocs", nprof__serve_heap, NPROF__SECONDS_DELTA,
     "application/octet-stream", NULL},
    {"block", nprof__serve_wait, NPROF__SECONDS_DELTA,
     "application/octet-stream", NULL},
    {"cmdline", nprof__serve_cmdline, NPROF__SECONDS_NONE,
     "text/plain; charset=utf-8", NULL},
    {"goroutine", nprof__serve_goroutine, NPROF__SECONDS_NONE,
     "application/octet-stream", NULL},
    {"heap", nprof__serve_heap, NPROF__SECONDS_DELTA,
     "application/octet-stream", NULL},
    {"mutex", nprof__serve_wait, NPROF__SECONDS_DELTA,
     "application/octet-stream", NULL},
    {"profile", nprof__serve_cpu, NPROF__SECONDS_DURATION,
     "application/octet-stream", "profile"},
    {"symbol", nprof__serve_symbol, NPROF__SECONDS_NONE,
     "text/plain; charset=utf-8", NULL},
    {"threadcreate", nprof__serve_threadcreate, NPROF__SECONDS_NONE,
     "application/octet-stream", NULL},
    {"trace", nprof__serve_trace, NPROF__SECONDS_FRACTIONAL, "application/json",
     "trace.json"},
    {"/debug/vars", nprof__serve_vars, NPROF__SECONDS_NONE,
     "application/json; charset=utf-8", NULL},
};

static const nprof__route custom_route = {NULL, nprof__serve_custom,
                                          NPROF__SECONDS_NONE,
                                          "application/octet-stream", NULL};

const nprof__route *nprof__route_find(const char *path, const char **name)
{
  static const char prefix[] = "/debug/pprof/";
  const char *rest = NULL;
  if (strcmp(path, "/debug/pprof") == 0)
    rest = "";
  else if (strncmp(path, prefix, sizeof(prefix) - 1) == 0)
    rest = path + sizeof(prefix) - 1;
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    const char *n = routes[i].name;
    if (n[0] == '/' ? strcmp(path, n) == 0 : rest && strcmp(rest, n) == 0) {
      *name = rest ? rest : n;
      return &routes[i];
    }
  }
  if (rest && nprof__name_valid(rest)) {
    *name = rest;
    return &custom_route;
  }
  return NULL;
}

/* ---- what every handler uses ---- */

void nprof__res_error(nprof__response *res, int status, const char *text)
{
  res->status = status;
  res->content_type = "text/plain; charset=utf-8";
  res->disposition = NULL;
  res->go_error = true;
  res->body.len = 0;
  if (nprof__buf_printf(&res->body, "%s\n", text) != 0)
    res->body.len = 0;
}

void nprof__res_ok(nprof__response *res, const nprof__route *r,
                   const nprof__args *a, const char *name)
{
  res->status = 200;
  res->go_error = false;
  if (a->debug && r->seconds != NPROF__SECONDS_DURATION &&
      r->seconds != NPROF__SECONDS_FRACTIONAL) {
    res->content_type = "text/plain; charset=utf-8";
    res->disposition = NULL;
    return;
  }
  res->content_type = r->content_type;
  /* Go's attachment names: the profile's, "-delta" for a delta one. */
  bool delta = a->seconds && r->seconds == NPROF__SECONDS_DELTA;
  snprintf(res->name, sizeof(res->name), "%s%s",
           r->disposition ? r->disposition : name, delta ? "-delta" : "");
  res->disposition = res->name;
}

void nprof__res_page(nprof__response *res, const nprof__route *r)
{
  res->status = 200;
  res->go_error = false;
  res->content_type = r->content_type;
  res->disposition = NULL;
}

int nprof__cmp_pcs(const uintptr_t *a, int da, const uintptr_t *b, int db)
{
  if (da != db)
    return da < db ? -1 : 1;
  for (int i = 0; i < da; i++)
    if (a[i] != b[i])
      return a[i] < b[i] ? -1 : 1;
  return 0;
}

static int cmp_id(const void *pa, const void *pb)
{
  const void *a = *(const void *const *)pa, *b = *(const void *const *)pb;
  return a < b ? -1 : a > b;
}

int nprof__delta(const nprof__delta_ops *ops, long seconds, void **after,
                 long *n, int64_t *duration_ns)
{
  void *before;
  long n0 = ops->snapshot(&before);
  if (n0 < 0)
    return (int)n0;
  int64_t t0 = npc_mono_ns();
  if (!nprof__server_sleep_ns(seconds * 1000000000LL)) {
    free(before);
    return NPROF_ECANCELED;
  }
  void *recs;
  long n1 = ops->snapshot(&recs);
  if (n1 < 0) {
    free(before);
    return (int)n1;
  }
  /* Records are never freed and keep their identity (the `id` each
   * record starts with): match by it. */
  qsort(before, (size_t)n0, ops->size, cmp_id);
  for (long i = 0; i < n1; i++) {
    char *r = (char *)recs + (size_t)i * ops->size;
    const void *old = bsearch(r, before, (size_t)n0, ops->size, cmp_id);
    if (old)
      ops->subtract(r, old);
  }
  free(before);
  *after = recs;
  *n = n1;
  *duration_ns = npc_mono_ns() - t0;
  return 0;
}

/* ---- dispatch ---- */

/* Delta profiles hold their connection (and a thread) for their seconds:
 * at most this many at a time, so that the server's 64 connections always
 * leave room for the index, the variables and instant profiles. The CPU
 * profile and the trace are one at a time already (nprof__cpu_start). */
#define MAX_DELTAS 4
static atomic_int deltas;

/* Go reads debug with strconv.Atoi and ignores errors: junk means 0. */
static int parse_debug(const char *s)
{
  long v;
  if (s && nprof__parse_long(s, -1000000, 1000000, &v) == 0)
    return (int)v;
  return 0;
}

/* Go's trace takes fractional seconds. Returns 0 or NPROF_EINVAL. */
static int parse_seconds_float(const char *s, double *out)
{
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !(v > 0) || !isfinite(v))
    return NPROF_EINVAL;
  *out = v;
  return 0;
}

/* Answers `res` with Go's 400 and `text`. Returns false (for parse_args). */
static bool refuse(nprof__response *res, const char *text)
{
  nprof__res_error(res, 400, text);
  return false;
}

/* Checks seconds= as Go does, in Go's order; fills `a`. Returns false
 * when `res` was answered with the error. */
static bool parse_args(const nprof__route *r, const nprof__request *req,
                       nprof__args *a, nprof__response *res)
{
  a->debug = parse_debug(req->debug);
  bool has = req->seconds && *req->seconds;
  if (r->seconds == NPROF__SECONDS_FRACTIONAL) {
    a->fseconds = 1; /* Go's default for the trace */
    if (has && parse_seconds_float(req->seconds, &a->fseconds) != 0)
      return refuse(
          res, "invalid value for \"seconds\" - must be a positive number");
  } else {
    if (has && nprof__parse_long(req->seconds, 1, LONG_MAX, &a->seconds) != 0)
      return refuse(
          res, "invalid value for \"seconds\" - must be a positive integer");
    if (has && r->seconds == NPROF__SECONDS_NONE)
      return refuse(res, "\"seconds\" parameter is not supported for this "
                         "profile type");
  }
  /* One of the two is set, the other 0. */
  if (a->seconds > NPROF_MAX_SECONDS || a->fseconds > NPROF_MAX_SECONDS)
    return refuse(res, "profile duration exceeds server's WriteTimeout");
  if (r->seconds == NPROF__SECONDS_DURATION ||
      r->seconds == NPROF__SECONDS_FRACTIONAL)
    return true; /* Go ignores debug for the CPU profile and the trace */
  if (has && a->debug != 0)
    return refuse(res, "seconds and debug params are incompatible");
  return true;
}

void nprof__route_serve(const nprof__route *r, const nprof__request *req,
                        nprof__response *res)
{
  nprof__args a = {.req = req};
  if (!parse_args(r, req, &a, res))
    return;
  bool delta = a.seconds && r->seconds == NPROF__SECONDS_DELTA;
  if (delta) {
    if (atomic_fetch_add(&deltas, 1) >= MAX_DELTAS) {
      atomic_fetch_sub(&deltas, 1);
      char text[160];
      snprintf(text, sizeof(text),
               "too many concurrent requests: at most %d delta profiles at a "
               "time (requests with seconds=); try again when one ends",
               MAX_DELTAS);
      nprof__res_error(res, 429, text);
      return;
    }
  }
  nprof__symbolize_refresh();
  int rc = r->serve(r, &a, res);
  if (delta)
    atomic_fetch_sub(&deltas, 1);
  if (rc == NPROF_ECANCELED) {
    nprof__res_error(res, 503, "the profiling server is stopping");
  } else if (rc != 0) {
    char text[128];
    snprintf(text, sizeof(text), "could not produce the profile: %s",
             nprof_strerror(rc));
    nprof__res_error(res, 500, text);
  }
}

void nprof__endpoint_profile(const nprof__request *req, nprof__response *res)
{
  char path[NPROF_NAME_MAX + 32];
  snprintf(path, sizeof(path), "/debug/pprof/%s", req->name);
  const char *name;
  const nprof__route *r = nprof__route_find(path, &name);
  if (!r) {
    nprof__res_error(res, 404, "Unknown profile");
    return;
  }
  nprof__route_serve(r, req, res);
}
