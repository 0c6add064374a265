/*
 * /debug/pprof/heap and allocs: the sampled heap, unsampled with Go's
 * formula, as pprof protobuf, Go's legacy text (debug=1) or a delta over
 * seconds= (Go's serveDeltaProfile).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sign-preserving nprof__heap_unsample (delta profiles go negative). */
static void estimate(int64_t count, int64_t bytes, long rate, int64_t *c,
                     int64_t *b)
{
  bool neg = count < 0 || bytes < 0;
  nprof__heap_unsample(neg ? -count : count, neg ? -bytes : bytes, rate, c, b);
  if (neg) {
    *c = -*c;
    *b = -*b;
  }
}

/* Allocation wrappers: a sample whose leaf is operator new or gRPC's
 * gpr_malloc says nothing about who allocated, so heap stacks start at the
 * first frame below them (Go's profiles likewise start at the caller of
 * new). NPROF_HEAP_WRAPPERS adds names, comma-separated. */
static const char *const wrappers[] = {
    "operator new", "operator new[]", "gpr_malloc",
    "gpr_zalloc",   "gpr_realloc",    "gpr_malloc_aligned",
    "g_malloc",     "g_malloc0",      "g_realloc",
    "xmalloc",      "xcalloc",        "xrealloc"};

static bool is_wrapper(const char *fn)
{
  for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++)
    if (strcmp(fn, wrappers[i]) == 0)
      return true;
  return nprof__list_has(nprof__config_get()->heap_wrappers, fn, strlen(fn));
}

/* How many leading frames of a heap stack are allocation wrappers. Keeps
 * at least one frame. */
static int wrapper_frames(const uintptr_t *pcs, int depth)
{
  int k = 0;
  while (k < depth - 1) {
    nprof__sym sym;
    nprof__symbolize(pcs[k], &sym);
    if (!sym.known || !is_wrapper(sym.function))
      break;
    k++;
  }
  return k;
}

static int heap_pprof(const nprof__heap_record *recs, long n, bool allocs,
                      int64_t duration, nprof__buf *out)
{
  static const char *const types[] = {
      "alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
      "inuse_space/bytes"};
  long rate = nprof__heap_rate_get();
  nprof__pprof *b = nprof__pprof_new(types, 4);
  if (!b)
    return NPROF_ENOMEM;
  nprof__pprof_period(b, "space", "bytes", rate);
  if (allocs)
    nprof__pprof_default_type(b, "alloc_space");
  if (duration)
    nprof__pprof_duration(b, duration);
  int rc = 0;
  for (long i = 0; i < n && rc == 0; i++) {
    const nprof__heap_record *r = &recs[i];
    if (r->allocs == 0 && r->frees == 0)
      continue;
    int64_t v[4];
    estimate(r->allocs, r->alloc_bytes, rate, &v[0], &v[1]);
    estimate(r->allocs - r->frees, r->alloc_bytes - r->free_bytes, rate, &v[2],
             &v[3]);
    /* Go labels each sample with its block size: here the mean. */
    int64_t mean = r->allocs ? r->alloc_bytes / r->allocs : (int64_t)r->size;
    nprof__label label = {.key = "bytes", .num = mean, .unit = "bytes"};
    int skip = wrapper_frames(r->pcs, r->depth);
    rc = nprof__pprof_add(b, r->pcs + skip, r->depth - skip, v, &label, 1);
  }
  if (rc == 0)
    rc = nprof__pprof_write(b, out);
  nprof__pprof_free(b);
  return rc;
}

static int cmp_inuse_desc(const void *pa, const void *pb)
{
  const nprof__heap_record *a = pa, *b = pb;
  int64_t ia = a->alloc_bytes - a->free_bytes;
  int64_t ib = b->alloc_bytes - b->free_bytes;
  if (ia != ib)
    return ia > ib ? -1 : 1;
  return a->alloc_bytes > b->alloc_bytes ? -1 : a->alloc_bytes < b->alloc_bytes;
}

static void memory_stats(nprof__writer *w)
{
  nprof__procstat ps;
  nprof__procstat_read(&ps);
  nprof__heap_stats hs;
  nprof__heap_stats_get(&hs);
  nprof__malloc_stats ms;
  nprof__malloc_stats_read(&ms);
  nprof__w_printf(w,
                  "\n# process memory (nprof; Go's runtime.MemStats has no C "
                  "analogue)\n# VmRSS = %lld\n# VmHWM = %lld\n# VmSize = %lld\n"
                  "# Threads = %ld\n",
                  (long long)ps.rss_bytes, (long long)ps.peak_rss_bytes,
                  (long long)ps.vm_bytes, ps.threads);
  if (ms.glibc)
    nprof__w_printf(w,
                    "# malloc arena = %lld\n# malloc mmapped = %lld\n"
                    "# malloc in use = %lld\n# malloc free = %lld\n",
                    (long long)ms.arena_bytes, (long long)ms.mmapped_bytes,
                    (long long)ms.in_use_bytes, (long long)ms.free_bytes);
  else
    nprof__w_printf(w, "# malloc = not glibc's (no figures)\n");
  nprof__w_printf(w,
                  "# sampled heap in use (estimate) = %lld\n"
                  "# sampled heap objects (estimate) = %lld\n"
                  "# sampled heap allocated (estimate) = %lld\n"
                  "# NPROF_HEAP_RATE = %ld\n# heap samples = %lld\n"
                  "# profiler own memory = %zu\n",
                  (long long)hs.inuse_bytes, (long long)hs.inuse_objects,
                  (long long)hs.alloc_bytes, hs.rate, (long long)hs.samples,
                  nprof__pages_in_use());
}

/* Go's legacy heap text: raw sampled counts, "@ heap/<2*rate>" so that
 * pprof's legacy parser can unsample them. */
static int heap_text(nprof__heap_record *recs, long n, nprof__buf *out)
{
  qsort(recs, (size_t)n, sizeof(*recs), cmp_inuse_desc);
  int64_t t[4] = {0, 0, 0, 0};
  for (long i = 0; i < n; i++) {
    t[0] += recs[i].allocs - recs[i].frees;
    t[1] += recs[i].alloc_bytes - recs[i].free_bytes;
    t[2] += recs[i].allocs;
    t[3] += recs[i].alloc_bytes;
  }
  nprof__writer w = {.out = out};
  nprof__w_printf(&w, "heap profile: %lld: %lld [%lld: %lld] @ heap/%ld\n",
                  (long long)t[0], (long long)t[1], (long long)t[2],
                  (long long)t[3], 2 * nprof__heap_rate_get());
  for (long i = 0; i < n && !w.rc; i++) {
    const nprof__heap_record *r = &recs[i];
    int skip = wrapper_frames(r->pcs, r->depth);
    nprof__w_printf(&w, "%lld: %lld [%lld: %lld]",
                    (long long)(r->allocs - r->frees),
                    (long long)(r->alloc_bytes - r->free_bytes),
                    (long long)r->allocs, (long long)r->alloc_bytes);
    nprof__text_record(&w, r->pcs + skip, r->depth - skip, NULL);
  }
  memory_stats(&w);
  return w.rc;
}

static long heap_snapshot(void **out)
{
  return nprof__heap_snapshot((nprof__heap_record **)out);
}

static void heap_subtract(void *after, const void *before)
{
  nprof__heap_record *r = after;
  const nprof__heap_record *old = before;
  r->allocs -= old->allocs;
  r->alloc_bytes -= old->alloc_bytes;
  r->frees -= old->frees;
  r->free_bytes -= old->free_bytes;
}

int nprof__serve_heap(const nprof__route *r, const nprof__args *a,
                      nprof__response *res)
{
  bool allocs = strcmp(r->name, "allocs") == 0;
  nprof__heap_record *recs;
  long n;
  int64_t duration = 0;
  int rc;
  if (a->seconds) {
    static const nprof__delta_ops ops = {
        heap_snapshot, sizeof(nprof__heap_record), heap_subtract};
    rc = nprof__delta(&ops, a->seconds, (void **)&recs, &n, &duration);
  } else {
    n = nprof__heap_snapshot(&recs);
    rc = n < 0 ? (int)n : 0;
  }
  if (rc)
    return rc;
  nprof__res_ok(res, r, a, r->name);
  rc = a->debug ? heap_text(recs, n, &res->body)
                : heap_pprof(recs, n, allocs, duration, &res->body);
  free(recs);
  return rc;
}

int nprof__heap_profile(nprof__buf *out)
{
  nprof__symbolize_refresh();
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  if (n < 0)
    return (int)n;
  int rc = heap_pprof(recs, n, false, 0, out);
  free(recs);
  return rc;
}
