/*
 * /debug/pprof/profile (CPU, pprof protobuf) and trace (Chrome Trace Event
 * JSON): both sample with the CPU profiler for the request's seconds, one
 * session at a time.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CPU profiler's refusals, in Go's words ("Could not enable ..."). */
static bool refused(int rc, const char *what, nprof__response *res)
{
  if (rc != NPROF_EBUSY && rc != NPROF_ESIGNAL && rc != NPROF_ESYSTEM)
    return false;
  char text[192];
  snprintf(text, sizeof(text), "Could not enable %s: %s", what,
           nprof_strerror(rc));
  nprof__res_error(res, 500, text);
  return true;
}

static int cpu_pprof(const nprof__cpu_data *d, nprof__buf *out)
{
  static const char *const types[] = {"samples/count", "cpu/nanoseconds"};
  nprof__pprof *b = nprof__pprof_new(types, 2);
  if (!b)
    return NPROF_ENOMEM;
  int64_t period = 1000000000LL / d->hz;
  nprof__pprof_period(b, "cpu", "nanoseconds", period);
  nprof__pprof_duration(b, d->duration_ns);
  if (d->lost) {
    char comment[96];
    snprintf(comment, sizeof(comment), "%lld samples lost (signal ring full)",
             (long long)d->lost);
    nprof__pprof_comment(b, comment);
  }
  int rc = 0;
  for (size_t i = 0; i < d->nstacks && rc == 0; i++) {
    const nprof__cpu_stack *st = &d->stacks[i];
    int64_t v[2] = {st->count, st->count * period};
    nprof__label labels[2] = {
        {.key = "thread", .str = nprof__cpu_thread_name(d, st->tid)},
        {.key = "tid", .num = st->tid},
    };
    rc = nprof__pprof_add(b, st->pcs, st->depth, v, labels, 2);
  }
  if (rc == 0)
    rc = nprof__pprof_write(b, out);
  nprof__pprof_free(b);
  return rc;
}

int nprof__serve_cpu(const nprof__route *r, const nprof__args *a,
                     nprof__response *res)
{
  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  /* Go's default is 30 s; it ignores debug here (protobuf only). */
  int rc = nprof__cpu_run(
      nprof__cpu_hz_default(),
      (int64_t)(a->seconds ? a->seconds : 30) * 1000000000LL, &d);
  if (refused(rc, "CPU profiling", res)) {
    rc = 0;
  } else if (rc == 0) {
    nprof__res_ok(res, r, a, r->name);
    rc = cpu_pprof(&d, &res->body);
  }
  nprof__cpu_data_free(&d);
  return rc;
}

/* ---- trace ---- */

#define TRACE_MAX_WAITS 65536

int nprof__serve_trace(const nprof__route *r, const nprof__args *a,
                       nprof__response *res)
{
  int rc = nprof__contention_trace_begin(TRACE_MAX_WAITS);
  if (rc == NPROF_EBUSY) {
    nprof__res_error(res, 500,
                     "Could not enable tracing: tracing is already enabled");
    return 0;
  }
  if (rc)
    return rc;
  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  d.keep_events = true;
  rc =
      nprof__cpu_run(nprof__cpu_hz_default(), (int64_t)(a->fseconds * 1e9), &d);
  nprof__wait_event *waits = NULL;
  int64_t wait_dropped = 0;
  long nw = nprof__contention_trace_end(&waits, &wait_dropped);
  if (refused(rc, "tracing", res)) {
    rc = 0;
  } else if (rc == 0) {
    nprof__res_ok(res, r, a, r->name);
    size_t max = res->body.max;
    if (res->body.max > nprof__trace_max_bytes)
      res->body.max = nprof__trace_max_bytes;
    rc = nprof__trace_write(&d, waits, nw, wait_dropped, &res->body);
    res->body.max = max;
    if (rc == NPROF_EINVAL) { /* the cap */
      char text[192];
      snprintf(text, sizeof(text),
               "Could not write the trace: it is larger than %zu MiB, the "
               "most libnprof builds inside the process; ask for fewer "
               "seconds",
               nprof__trace_max_bytes >> 20);
      nprof__res_error(res, 500, text);
      rc = 0;
    }
  }
  free(waits);
  nprof__cpu_data_free(&d);
  return rc;
}
