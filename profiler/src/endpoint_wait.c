/*
 * /debug/pprof/mutex and block: Go's printCountCycleProfile, from the
 * waits contention.c recorded; delta profiles over seconds=.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_wait_delay_desc(const void *pa, const void *pb)
{
  const nprof__wait_record *a = pa, *b = pb;
  if (a->delay_ns != b->delay_ns)
    return a->delay_ns > b->delay_ns ? -1 : 1;
  return nprof__cmp_pcs(a->pcs, a->depth, b->pcs, b->depth);
}

static int wait_profile(nprof__wait_profile which, nprof__wait_record *recs,
                        long n, int debug, int64_t duration, nprof__buf *out)
{
  long rate = nprof__contention_rate_get(which);
  qsort(recs, (size_t)n, sizeof(*recs), cmp_wait_delay_desc);
  if (debug) {
    /* Go's legacy text: "--- mutex:" or "--- contention:", then
     * "<delay> <count> @ pcs"; our cycles are nanoseconds. */
    nprof__writer w = {.out = out};
    nprof__w_printf(&w, "--- %s:\ncycles/second=1000000000\n",
                    which == NPROF__MUTEX ? "mutex" : "contention");
    if (which == NPROF__MUTEX)
      nprof__w_printf(&w, "sampling period=%ld\n", rate);
    for (long i = 0; i < n && !w.rc; i++) {
      if (recs[i].count <= 0 && recs[i].delay_ns <= 0)
        continue;
      nprof__w_printf(&w, "%lld %lld", (long long)recs[i].delay_ns,
                      (long long)llround(recs[i].count));
      nprof__text_record(&w, recs[i].pcs, recs[i].depth, NULL);
    }
    return w.rc;
  }
  static const char *const types[] = {"contentions/count", "delay/nanoseconds"};
  nprof__pprof *b = nprof__pprof_new(types, 2);
  if (!b)
    return NPROF_ENOMEM;
  nprof__pprof_period(b, "contentions", "count", 1);
  if (duration)
    nprof__pprof_duration(b, duration);
  char comment[96];
  snprintf(comment, sizeof(comment),
           "%s rate %ld%s (libnprof: waiters' stacks)",
           which == NPROF__MUTEX ? "NPROF_MUTEX_RATE" : "NPROF_BLOCK_RATE",
           rate, rate ? "" : " (off)");
  nprof__pprof_comment(b, comment);
  int rc = 0;
  for (long i = 0; i < n && rc == 0; i++) {
    if (recs[i].count <= 0 && recs[i].delay_ns <= 0)
      continue;
    int64_t v[2] = {llround(recs[i].count), recs[i].delay_ns};
    rc = nprof__pprof_add(b, recs[i].pcs, recs[i].depth, v, NULL, 0);
  }
  if (rc == 0)
    rc = nprof__pprof_write(b, out);
  nprof__pprof_free(b);
  return rc;
}

static long mutex_snapshot(void **out)
{
  return nprof__contention_snapshot(NPROF__MUTEX, (nprof__wait_record **)out);
}

static long block_snapshot(void **out)
{
  return nprof__contention_snapshot(NPROF__BLOCK, (nprof__wait_record **)out);
}

static void wait_subtract(void *after, const void *before)
{
  nprof__wait_record *r = after;
  const nprof__wait_record *old = before;
  r->count -= old->count;
  r->delay_ns -= old->delay_ns;
}

int nprof__serve_wait(const nprof__route *r, const nprof__args *a,
                      nprof__response *res)
{
  nprof__wait_profile which =
      strcmp(r->name, "mutex") == 0 ? NPROF__MUTEX : NPROF__BLOCK;
  nprof__wait_record *recs;
  long n;
  int64_t duration = 0;
  int rc;
  if (a->seconds) {
    nprof__delta_ops ops = {which == NPROF__MUTEX ? mutex_snapshot
                                                  : block_snapshot,
                            sizeof(nprof__wait_record), wait_subtract};
    rc = nprof__delta(&ops, a->seconds, (void **)&recs, &n, &duration);
  } else {
    n = nprof__contention_snapshot(which, &recs);
    rc = n < 0 ? (int)n : 0;
  }
  if (rc)
    return rc;
  nprof__res_ok(res, r, a, r->name);
  rc = wait_profile(which, recs, n, a->debug, duration, &res->body);
  free(recs);
  return rc;
}
