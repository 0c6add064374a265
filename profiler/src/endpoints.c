/*
 * The profiles behind /debug/pprof/<name>, with Go's net/http/pprof
 * semantics: the same parameters (debug, seconds), the same error texts and
 * statuses, the same text formats for debug=1 and debug=2, and pprof
 * protobuf otherwise.
 */
#include "internal.h"

#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_error(nprof__response *res, int status, const char *text)
{
  res->status = status;
  res->content_type = "text/plain; charset=utf-8";
  res->disposition = NULL;
  res->go_error = true;
  res->body.len = 0;
  if (nprof__buf_printf(&res->body, "%s\n", text) != 0)
    res->body.len = 0;
}

static void set_ok(nprof__response *res, int debug, const char *name)
{
  res->status = 200;
  if (debug) {
    res->content_type = "text/plain; charset=utf-8";
  } else {
    res->content_type = "application/octet-stream";
    res->disposition = name;
  }
}

/* Go reads debug with strconv.Atoi and ignores errors: junk means 0. */
static int parse_debug(const char *s)
{
  long v;
  if (s && nprof__parse_long(s, -1000000, 1000000, &v) == 0)
    return (int)v;
  return 0;
}

static int cmp_pcs(const uintptr_t *a, int da, const uintptr_t *b, int db)
{
  if (da != db)
    return da < db ? -1 : 1;
  for (int i = 0; i < da; i++)
    if (a[i] != b[i])
      return a[i] < b[i] ? -1 : 1;
  return 0;
}

/* ---- heap and allocs ---- */

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

static int memory_stats(nprof__buf *out)
{
  nprof__procstat ps;
  nprof__procstat_read(&ps);
  nprof__heap_stats hs;
  nprof__heap_stats_get(&hs);
  struct mallinfo2 mi = mallinfo2();
  return nprof__buf_printf(
      out,
      "\n# process memory (nprof; Go's runtime.MemStats has no C analogue)\n"
      "# VmRSS = %lld\n# VmHWM = %lld\n# VmSize = %lld\n"
      "# Threads = %ld\n"
      "# malloc arena = %zu\n# malloc mmapped = %zu\n"
      "# malloc in use = %zu\n# malloc free = %zu\n"
      "# sampled heap in use (estimate) = %lld\n"
      "# sampled heap objects (estimate) = %lld\n"
      "# sampled heap allocated (estimate) = %lld\n"
      "# NPROF_HEAP_RATE = %ld\n# heap samples = %lld\n"
      "# profiler own memory = %zu\n",
      (long long)ps.rss_bytes, (long long)ps.peak_rss_bytes,
      (long long)ps.vm_bytes, ps.threads, mi.arena, mi.hblkhd, mi.uordblks,
      mi.fordblks, (long long)hs.inuse_bytes, (long long)hs.inuse_objects,
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
  int rc = nprof__buf_printf(out,
                             "heap profile: %lld: %lld [%lld: %lld] @ "
                             "heap/%ld\n",
                             (long long)t[0], (long long)t[1], (long long)t[2],
                             (long long)t[3], 2 * nprof__heap_rate_get());
  for (long i = 0; i < n && rc == 0; i++) {
    const nprof__heap_record *r = &recs[i];
    int skip = wrapper_frames(r->pcs, r->depth);
    rc = nprof__buf_printf(out, "%lld: %lld [%lld: %lld]",
                           (long long)(r->allocs - r->frees),
                           (long long)(r->alloc_bytes - r->free_bytes),
                           (long long)r->allocs, (long long)r->alloc_bytes);
    if (rc == 0)
      rc = nprof__text_addrs(out, r->pcs + skip, r->depth - skip);
    if (rc == 0)
      rc = nprof__text_stack(out, r->pcs + skip, r->depth - skip);
    if (rc == 0)
      rc = nprof__buf_append(out, "\n", 1);
  }
  if (rc == 0)
    rc = memory_stats(out);
  return rc;
}

static int cmp_record_id(const void *pa, const void *pb)
{
  const nprof__heap_record *a = pa, *b = pb;
  return a->id < b->id ? -1 : a->id > b->id;
}

/* A delta profile: what changed over `seconds` (Go's serveDeltaProfile). */
static int heap_delta(bool allocs, long seconds, nprof__response *res)
{
  nprof__heap_record *before, *after;
  long n0 = nprof__heap_snapshot(&before);
  if (n0 < 0)
    return (int)n0;
  int64_t t0 = nprof__now_ns();
  if (!nprof__server_sleep_ns(seconds * 1000000000LL)) {
    free(before);
    set_error(res, 503, "the profiling server is stopping");
    return 0;
  }
  long n1 = nprof__heap_snapshot(&after);
  if (n1 < 0) {
    free(before);
    return (int)n1;
  }
  /* Buckets are never freed and keep their identity: match by id. */
  qsort(before, (size_t)n0, sizeof(*before), cmp_record_id);
  for (long i = 0; i < n1; i++) {
    nprof__heap_record *r = &after[i];
    nprof__heap_record *old =
        bsearch(r, before, (size_t)n0, sizeof(*before), cmp_record_id);
    if (old) {
      r->allocs -= old->allocs;
      r->alloc_bytes -= old->alloc_bytes;
      r->frees -= old->frees;
      r->free_bytes -= old->free_bytes;
    }
  }
  int rc = heap_pprof(after, n1, allocs, nprof__now_ns() - t0, &res->body);
  free(before);
  free(after);
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

static int serve_heap(bool allocs, int debug, nprof__response *res)
{
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  if (n < 0)
    return (int)n;
  int rc = debug ? heap_text(recs, n, &res->body)
                 : heap_pprof(recs, n, allocs, 0, &res->body);
  free(recs);
  return rc;
}

/* ---- count profiles: goroutine (threads) and application profiles ---- */

static int cmp_thread(const void *pa, const void *pb)
{
  const nprof__thread *a = pa, *b = pb;
  int c = cmp_pcs(a->pcs, a->depth < 0 ? 0 : a->depth, b->pcs,
                  b->depth < 0 ? 0 : b->depth);
  if (c)
    return c;
  return a->tid < b->tid ? -1 : a->tid > b->tid;
}

static const char *state_name(char s)
{
  switch (s) {
  case 'R':
    return "running";
  case 'S':
    return "sleeping";
  case 'D':
    return "disk sleep";
  case 'T':
    return "stopped";
  case 't':
    return "tracing stop";
  case 'Z':
    return "zombie";
  case 'X':
    return "dead";
  case 'I':
    return "idle";
  default:
    return "unknown";
  }
}

/* debug=2: one block per thread, like Go's full goroutine dump. */
static int threads_dump(const nprof__thread *t, long n, nprof__buf *out)
{
  int rc = 0;
  for (long i = 0; i < n && rc == 0; i++) {
    rc = nprof__buf_printf(out, "thread %d \"%s\" [%s]:\n", (int)t[i].tid,
                           t[i].name, state_name(t[i].state));
    if (t[i].depth < 0 && rc == 0)
      rc = nprof__buf_printf(out, "(no stack: the thread blocks the "
                                  "capture signal)\n");
    for (int k = 0; k < t[i].depth && rc == 0; k++) {
      nprof__sym sym;
      nprof__symbolize(t[i].pcs[k], &sym);
      char name[NPROF_SYM_BUF];
      rc = nprof__buf_printf(
          out, "%s(...)\n\t%s:%d +%#" PRIxPTR "\n",
          nprof__sym_name(&sym, t[i].pcs[k], name, sizeof(name)),
          sym.file ? sym.file : "?", sym.line, sym.offset);
    }
    if (rc == 0)
      rc = nprof__buf_append(out, "\n", 1);
  }
  return rc;
}

static int serve_goroutine(int debug, nprof__response *res)
{
  nprof__thread *t;
  long n = nprof__threads_capture(&t);
  if (n == NPROF_ESIGNAL) {
    char text[256];
    snprintf(text, sizeof(text),
             "could not capture the threads: the application installed its "
             "own handler for signal %d, which libnprof uses to capture "
             "stacks (NPROF_SIGNAL names another)",
             nprof__threads_signal());
    set_error(res, 500, text);
    return 0;
  }
  if (n < 0)
    return (int)n;
  nprof__buf *out = &res->body;
  int rc = 0;
  qsort(t, (size_t)n, sizeof(*t), cmp_thread);
  if (debug >= 2) {
    rc = threads_dump(t, n, out);
    free(t);
    return rc;
  }
  nprof__pprof *b = NULL;
  if (debug)
    rc = nprof__buf_printf(out, "goroutine profile: total %ld\n", n);
  else {
    static const char *const types[] = {"goroutine/count"};
    b = nprof__pprof_new(types, 1);
    if (!b)
      rc = NPROF_ENOMEM;
    else {
      nprof__pprof_period(b, "goroutine", "count", 1);
      nprof__pprof_comment(b, "goroutine = OS thread (libnprof)");
    }
  }
  nprof__label *labels = malloc(((size_t)n * 2 + 1) * sizeof(*labels));
  if (!labels)
    rc = NPROF_ENOMEM;
  /* Threads are sorted by stack: aggregate each run of equal stacks into
   * one sample, labelled with every member's name and tid. */
  for (long i = 0; i < n && rc == 0;) {
    int depth = t[i].depth < 0 ? 0 : t[i].depth;
    long j = i;
    int nl = 0;
    while (j < n && cmp_pcs(t[j].pcs, t[j].depth < 0 ? 0 : t[j].depth, t[i].pcs,
                            depth) == 0) {
      bool seen = false;
      for (long k = i; k < j; k++)
        if (strcmp(t[k].name, t[j].name) == 0)
          seen = true;
      if (!seen)
        labels[nl++] = (nprof__label){.key = "thread", .str = t[j].name};
      labels[nl++] = (nprof__label){.key = "tid", .num = t[j].tid};
      j++;
    }
    int64_t count = j - i;
    if (debug) {
      rc = nprof__buf_printf(out, "%lld", (long long)count);
      if (rc == 0)
        rc = nprof__text_addrs(out, t[i].pcs, depth);
      for (long k = i; k < j && rc == 0; k++)
        rc = nprof__buf_printf(out, "# thread %d \"%s\"\n", (int)t[k].tid,
                               t[k].name);
      if (rc == 0)
        rc = nprof__text_stack(out, t[i].pcs, depth);
      if (rc == 0)
        rc = nprof__buf_append(out, "\n", 1);
    } else {
      rc = nprof__pprof_add(b, t[i].pcs, depth, &count, labels, nl);
    }
    i = j;
  }
  if (rc == 0 && b)
    rc = nprof__pprof_write(b, out);
  nprof__pprof_free(b);
  free(labels);
  free(t);
  return rc;
}

static int cmp_count_stack(const void *pa, const void *pb)
{
  const nprof__count_stack *a = pa, *b = pb;
  return cmp_pcs(a->pcs, a->depth, b->pcs, b->depth);
}

/* Go's printCountProfile: identical stacks aggregated, in pprof or text. */
static int count_profile(const char *name, nprof__count_stack *s, long n,
                         int debug, nprof__buf *out)
{
  qsort(s, (size_t)n, sizeof(*s), cmp_count_stack);
  long total = 0;
  for (long i = 0; i < n; i++)
    total += s[i].count;
  nprof__pprof *b = NULL;
  int rc = 0;
  if (debug) {
    rc = nprof__buf_printf(out, "%s profile: total %ld\n", name, total);
  } else {
    char type[NPROF_NAME_MAX + 8];
    snprintf(type, sizeof(type), "%s/count", name);
    const char *types[] = {type};
    b = nprof__pprof_new(types, 1);
    if (!b)
      return NPROF_ENOMEM;
    nprof__pprof_period(b, name, "count", 1);
  }
  for (long i = 0; i < n && rc == 0;) {
    long j = i;
    int64_t count = 0;
    while (j < n && cmp_count_stack(&s[j], &s[i]) == 0)
      count += s[j++].count;
    if (debug) {
      rc = nprof__buf_printf(out, "%lld", (long long)count);
      if (rc == 0)
        rc = nprof__text_addrs(out, s[i].pcs, s[i].depth);
      if (rc == 0)
        rc = nprof__text_stack(out, s[i].pcs, s[i].depth);
      if (rc == 0)
        rc = nprof__buf_append(out, "\n", 1);
    } else {
      rc = nprof__pprof_add(b, s[i].pcs, s[i].depth, &count, NULL, 0);
    }
    i = j;
  }
  if (rc == 0 && b)
    rc = nprof__pprof_write(b, out);
  nprof__pprof_free(b);
  return rc;
}

/* ---- mutex and block: Go's printCountCycleProfile ---- */

static int cmp_wait_delay_desc(const void *pa, const void *pb)
{
  const nprof__wait_record *a = pa, *b = pb;
  if (a->delay_ns != b->delay_ns)
    return a->delay_ns > b->delay_ns ? -1 : 1;
  return cmp_pcs(a->pcs, a->depth, b->pcs, b->depth);
}

static int cmp_wait_id(const void *pa, const void *pb)
{
  const nprof__wait_record *a = pa, *b = pb;
  return a->id < b->id ? -1 : a->id > b->id;
}

static int wait_profile(nprof__wait_profile which, nprof__wait_record *recs,
                        long n, int debug, int64_t duration, nprof__buf *out)
{
  int rc = 0;
  long rate = nprof__contention_rate_get(which);
  qsort(recs, (size_t)n, sizeof(*recs), cmp_wait_delay_desc);
  if (debug) {
    /* Go's legacy text: "--- mutex:" or "--- contention:", then
     * "<delay> <count> @ pcs"; our cycles are nanoseconds. */
    rc = nprof__buf_printf(out, "--- %s:\ncycles/second=1000000000\n",
                           which == NPROF__MUTEX ? "mutex" : "contention");
    if (rc == 0 && which == NPROF__MUTEX)
      rc = nprof__buf_printf(out, "sampling period=%ld\n", rate);
    for (long i = 0; i < n && rc == 0; i++) {
      if (recs[i].count <= 0 && recs[i].delay_ns <= 0)
        continue;
      rc = nprof__buf_printf(out, "%lld %lld", (long long)recs[i].delay_ns,
                             (long long)llround(recs[i].count));
      if (rc == 0)
        rc = nprof__text_addrs(out, recs[i].pcs, recs[i].depth);
      if (rc == 0)
        rc = nprof__text_stack(out, recs[i].pcs, recs[i].depth);
      if (rc == 0)
        rc = nprof__buf_append(out, "\n", 1);
    }
    return rc;
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

static int serve_wait(nprof__wait_profile which, int debug, long seconds,
                      nprof__response *res)
{
  nprof__wait_record *recs, *before = NULL;
  long n0 = 0;
  int64_t t0 = nprof__now_ns();
  if (seconds) {
    n0 = nprof__contention_snapshot(which, &before);
    if (n0 < 0)
      return (int)n0;
    if (!nprof__server_sleep_ns(seconds * 1000000000LL)) {
      free(before);
      set_error(res, 503, "the profiling server is stopping");
      return 0;
    }
  }
  long n = nprof__contention_snapshot(which, &recs);
  if (n < 0) {
    free(before);
    return (int)n;
  }
  if (seconds) {
    /* Buckets are never freed and keep their identity: match by id. */
    qsort(before, (size_t)n0, sizeof(*before), cmp_wait_id);
    for (long i = 0; i < n; i++) {
      nprof__wait_record *old =
          bsearch(&recs[i], before, (size_t)n0, sizeof(*before), cmp_wait_id);
      if (old) {
        recs[i].count -= old->count;
        recs[i].delay_ns -= old->delay_ns;
      }
    }
  }
  int rc = wait_profile(which, recs, n, debug,
                        seconds ? nprof__now_ns() - t0 : 0, &res->body);
  free(before);
  free(recs);
  return rc;
}

/* ---- profile: CPU ---- */

static int serve_cpu(long seconds, nprof__response *res)
{
  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  int rc = nprof__cpu_run(nprof__cpu_hz_default(),
                          (int64_t)seconds * 1000000000LL, &d);
  if (rc == NPROF_EBUSY || rc == NPROF_ESIGNAL || rc == NPROF_ESYSTEM) {
    char text[192];
    snprintf(text, sizeof(text), "Could not enable CPU profiling: %s",
             nprof_strerror(rc));
    set_error(res, 500, text);
    nprof__cpu_data_free(&d);
    return 0;
  }
  if (rc == NPROF_ECANCELED) {
    set_error(res, 503, "the profiling server is stopping");
    nprof__cpu_data_free(&d);
    return 0;
  }
  static const char *const types[] = {"samples/count", "cpu/nanoseconds"};
  nprof__pprof *b = rc == 0 ? nprof__pprof_new(types, 2) : NULL;
  if (rc == 0 && !b)
    rc = NPROF_ENOMEM;
  int64_t period = 1000000000LL / d.hz;
  if (rc == 0) {
    nprof__pprof_period(b, "cpu", "nanoseconds", period);
    nprof__pprof_duration(b, d.duration_ns);
    if (d.lost) {
      char comment[96];
      snprintf(comment, sizeof(comment), "%lld samples lost (signal ring full)",
               (long long)d.lost);
      nprof__pprof_comment(b, comment);
    }
  }
  for (size_t i = 0; i < d.nstacks && rc == 0; i++) {
    const nprof__cpu_stack *st = &d.stacks[i];
    int64_t v[2] = {st->count, st->count * period};
    nprof__label labels[2] = {
        {.key = "thread", .str = nprof__cpu_thread_name(&d, st->tid)},
        {.key = "tid", .num = st->tid},
    };
    rc = nprof__pprof_add(b, st->pcs, st->depth, v, labels, 2);
  }
  if (rc == 0)
    rc = nprof__pprof_write(b, &res->body);
  nprof__pprof_free(b);
  nprof__cpu_data_free(&d);
  return rc;
}

/* ---- trace: Chrome Trace Event JSON ---- */

#define TRACE_MAX_WAITS 65536

static int serve_trace(int64_t duration_ns, nprof__response *res)
{
  int rc = nprof__contention_trace_begin(TRACE_MAX_WAITS);
  if (rc == NPROF_EBUSY) {
    set_error(res, 500, "Could not enable tracing: tracing is already enabled");
    return 0;
  }
  if (rc)
    return rc;
  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  d.keep_events = true;
  rc = nprof__cpu_run(nprof__cpu_hz_default(), duration_ns, &d);
  nprof__wait_event *waits = NULL;
  int64_t wait_dropped = 0;
  long nw = nprof__contention_trace_end(&waits, &wait_dropped);
  if (rc == NPROF_EBUSY || rc == NPROF_ESIGNAL || rc == NPROF_ESYSTEM) {
    char text[192];
    snprintf(text, sizeof(text), "Could not enable tracing: %s",
             nprof_strerror(rc));
    set_error(res, 500, text);
    rc = 0;
  } else if (rc == NPROF_ECANCELED) {
    set_error(res, 503, "the profiling server is stopping");
    rc = 0;
  } else if (rc == 0) {
    res->status = 200;
    res->content_type = "application/json";
    res->disposition = "trace.json";
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
      set_error(res, 500, text);
      rc = 0;
    }
  }
  free(waits);
  nprof__cpu_data_free(&d);
  return rc;
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

/* ---- dispatch ---- */

/* Delta profiles hold their connection (and a thread) for their seconds:
 * at most this many at a time, so that the server's 64 connections always
 * leave room for the index, the variables and instant profiles. The CPU
 * profile and the trace are one at a time already (nprof__cpu_start). */
#define MAX_DELTAS 4
static atomic_int deltas;

static bool delta_begin(nprof__response *res)
{
  if (atomic_fetch_add(&deltas, 1) < MAX_DELTAS)
    return true;
  atomic_fetch_sub(&deltas, 1);
  char text[160];
  snprintf(text, sizeof(text),
           "too many concurrent requests: at most %d delta profiles at a "
           "time (requests with seconds=); try again when one ends",
           MAX_DELTAS);
  set_error(res, 429, text);
  return false;
}

static void delta_end(void)
{
  atomic_fetch_sub(&deltas, 1);
}

void nprof__endpoint_profile(const nprof__request *req, nprof__response *res)
{
  const char *name = req->name;
  bool heap = strcmp(name, "heap") == 0;
  bool allocs = strcmp(name, "allocs") == 0;
  bool goroutine = strcmp(name, "goroutine") == 0;
  bool threadcreate = strcmp(name, "threadcreate") == 0;
  bool mutex = strcmp(name, "mutex") == 0;
  bool block = strcmp(name, "block") == 0;
  bool cpu = strcmp(name, "profile") == 0;
  bool trace = strcmp(name, "trace") == 0;
  bool builtin = heap || allocs || goroutine || threadcreate || mutex ||
                 block || cpu || trace;
  bool delta_ok =
      heap || allocs || mutex || block; /* Go's profileSupportsDelta */
  nprof__count_stack *custom = NULL;
  int ncustom = 0;
  if (!builtin) {
    ncustom = nprof__custom_stacks(name, &custom);
    if (ncustom == NPROF_ENOENT) {
      set_error(res, 404, "Unknown profile");
      return;
    }
  }
  int rc = 0;
  int debug = parse_debug(req->debug);
  nprof__symbolize_refresh();
  bool has_seconds = req->seconds && *req->seconds;
  long sec = 0;
  double fsec = 1; /* trace: Go's default is one second */
  if (trace && has_seconds && parse_seconds_float(req->seconds, &fsec) != 0) {
    set_error(res, 400,
              "invalid value for \"seconds\" - must be a positive number");
  } else if (trace) {
    if (fsec > NPROF_MAX_SECONDS)
      set_error(res, 400, "profile duration exceeds server's WriteTimeout");
    else
      rc = serve_trace((int64_t)(fsec * 1e9), res);
  } else if (has_seconds &&
             nprof__parse_long(req->seconds, 1, LONG_MAX, &sec) != 0) {
    set_error(res, 400,
              "invalid value for \"seconds\" - must be a positive integer");
  } else if (has_seconds && !delta_ok && !cpu) {
    set_error(res, 400,
              "\"seconds\" parameter is not supported for this "
              "profile type");
  } else if (sec > NPROF_MAX_SECONDS) {
    set_error(res, 400, "profile duration exceeds server's WriteTimeout");
  } else if (cpu) {
    /* Go ignores debug here: the CPU profile is protobuf only. */
    set_ok(res, 0, "profile");
    rc = serve_cpu(has_seconds ? sec : 30, res);
  } else if (has_seconds && debug != 0) {
    set_error(res, 400, "seconds and debug params are incompatible");
  } else if (has_seconds && !delta_begin(res)) {
    /* answered 429 */
  } else if (has_seconds && (heap || allocs)) {
    set_ok(res, 0, allocs ? "allocs-delta" : "heap-delta");
    rc = heap_delta(allocs, sec, res);
    delta_end();
  } else if (mutex || block) {
    set_ok(res, debug,
           has_seconds ? (mutex ? "mutex-delta" : "block-delta") : name);
    rc = serve_wait(mutex ? NPROF__MUTEX : NPROF__BLOCK, debug, sec, res);
    if (has_seconds)
      delta_end();
  } else if (heap || allocs) {
    set_ok(res, debug, name);
    rc = serve_heap(allocs, debug, res);
  } else if (goroutine) {
    set_ok(res, debug, name);
    rc = serve_goroutine(debug, res);
  } else if (threadcreate) {
    ncustom = nprof__threadcreate_stacks(&custom);
    set_ok(res, debug, name);
    rc = ncustom < 0 ? ncustom
                     : count_profile(name, custom, ncustom, debug, &res->body);
  } else if (ncustom >= 0) {
    set_ok(res, debug, name);
    rc = count_profile(name, custom, ncustom, debug, &res->body);
  } else {
    rc = ncustom;
  }
  free(custom);
  if (rc != 0) {
    char text[128];
    snprintf(text, sizeof(text), "could not produce the profile: %s",
             nprof_strerror(rc));
    set_error(res, 500, text);
  }
}

/* ---- symbol: Go's pprof.Symbol ---- */

void nprof__endpoint_symbol(const char *query, size_t len, nprof__response *res)
{
  res->status = 200;
  res->content_type = "text/plain; charset=utf-8";
  /* pprof only checks that this is non-zero. */
  int rc = nprof__buf_printf(&res->body, "num_symbols: 1\n");
  nprof__symbolize_refresh();
  size_t i = 0;
  while (i < len && rc == 0) {
    size_t j = i;
    while (j < len && query[j] != '+')
      j++;
    /* One word: an address in Go's strconv.ParseUint base-0 syntax. */
    char word[32];
    size_t n = j - i;
    while (n && (query[i + n - 1] == '\n' || query[i + n - 1] == '\r' ||
                 query[i + n - 1] == ' '))
      n--;
    if (n > 0 && n < sizeof(word)) {
      memcpy(word, query + i, n);
      word[n] = '\0';
      char *end;
      unsigned long long pc = strtoull(word, &end, 0);
      if (*end == '\0' && word[0] != '-' && word[0] != '+' && pc != 0) {
        nprof__sym sym;
        nprof__symbolize((uintptr_t)pc, &sym);
        if (sym.known)
          rc = nprof__buf_printf(&res->body, "%#llx %s\n", pc, sym.function);
      }
    }
    i = j + 1;
  }
  if (rc != 0)
    set_error(res, 500, "could not symbolize: out of memory");
}

/* ---- index ---- */

typedef struct index_ctx {
  nprof__buf *out;
  int rc;
} index_ctx;

static int index_row(nprof__buf *out, long count, const char *name)
{
  if (count < 0)
    return nprof__buf_printf(out,
                             "<tr><td></td><td><a href='%s?debug=1'>%s</a>"
                             "</td></tr>\n",
                             name, name);
  return nprof__buf_printf(out,
                           "<tr><td>%ld</td><td><a href='%s?debug=1'>%s</a>"
                           "</td></tr>\n",
                           count, name, name);
}

/* A row whose link is not "?debug=1" (cmdline-like or interval ones). */
static int index_link(nprof__buf *out, const char *href, const char *name)
{
  return nprof__buf_printf(
      out, "<tr><td></td><td><a href='%s'>%s</a></td></tr>\n", href, name);
}

static long wait_count(nprof__wait_profile which)
{
  nprof__wait_record *r;
  long n = nprof__contention_snapshot(which, &r);
  if (n >= 0)
    free(r);
  return n;
}

static void index_custom(const char *name, long count, void *arg)
{
  index_ctx *c = arg;
  if (c->rc == 0)
    c->rc = index_row(c->out, count, name);
}

void nprof__endpoint_index(nprof__response *res)
{
  nprof__buf *out = &res->body;
  nprof__heap_stats hs;
  nprof__heap_stats_get(&hs);
  long threads = nprof__threads_count();
  res->status = 200;
  res->content_type = "text/html; charset=utf-8";
  int rc = nprof__buf_printf(
      out, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n"
           ".profile-name{display:inline-block; width:6rem;}\n</style>\n"
           "</head>\n<body>\n/debug/pprof/\n<br>\n"
           "<p>Set debug=1 as a query parameter to export in legacy text "
           "format</p>\n<br>\nTypes of profiles available:\n<table>\n"
           "<thead><td>Count</td><td>Profile</td></thead>\n");
  if (rc == 0)
    rc = index_row(out, (long)hs.buckets, "allocs");
  if (rc == 0)
    rc = index_row(out, wait_count(NPROF__BLOCK), "block");
  if (rc == 0)
    rc = index_row(out, -1, "cmdline");
  if (rc == 0)
    rc = index_row(out, threads, "goroutine");
  if (rc == 0)
    rc = index_row(out, (long)hs.buckets, "heap");
  if (rc == 0)
    rc = index_row(out, wait_count(NPROF__MUTEX), "mutex");
  if (rc == 0)
    rc = index_link(out, "profile?seconds=30", "profile");
  if (rc == 0)
    rc = index_row(out, nprof__threadcreate_count(), "threadcreate");
  if (rc == 0)
    rc = index_link(out, "trace?seconds=1", "trace");
  index_ctx ctx = {out, rc};
  if (rc == 0)
    nprof__custom_list(index_custom, &ctx);
  rc = ctx.rc;
  if (rc == 0)
    rc = nprof__buf_printf(
        out,
        "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack "
        "dump</a> (one block per OS thread)\n<br>\n<p>\nProfile "
        "Descriptions:\n<ul>\n"
        "<li><div class=profile-name>allocs: </div> A sampling of all past "
        "memory allocations (malloc family, mean one sample per "
        "NPROF_HEAP_RATE = %ld bytes)</li>\n"
        "<li><div class=profile-name>block: </div> Stack traces that led to "
        "blocking on pthread mutexes, rwlocks and condition variables "
        "(waiters' stacks; NPROF_BLOCK_RATE = %ld ns, 0 = off, or "
        "nprof_block_rate_set())</li>\n"
        "<li><div class=profile-name>cmdline: </div> The command line "
        "invocation of the current program</li>\n"
        "<li><div class=profile-name>goroutine: </div> Stack traces of all "
        "OS threads, captured at the moment of the request (a C program's "
        "goroutines are its threads)</li>\n"
        "<li><div class=profile-name>heap: </div> A sampling of memory "
        "allocations of live objects. You can specify the gc GET parameter "
        "for Go compatibility; it has no effect.</li>\n"
        "<li><div class=profile-name>mutex: </div> Stack traces of threads "
        "that waited for contended pthread mutexes and rwlocks (the "
        "waiters' stacks; NPROF_MUTEX_RATE = %ld, 0 = off, or "
        "nprof_mutex_rate_set())</li>\n"
        "<li><div class=profile-name>profile: </div> CPU profile: every "
        "thread sampled on its own CPU-time clock at NPROF_CPU_HZ = %ld. You "
        "can specify the duration in the seconds GET parameter (default "
        "30). After you get the profile file, use the go tool pprof command "
        "to investigate the profile.</li>\n"
        "<li><div class=profile-name>symbol: </div> Address to function "
        "name lookups (POST or GET 0x..+0x..), as pprof uses them</li>\n"
        "<li><div class=profile-name>threadcreate: </div> Stack traces that "
        "led to the creation of the live OS threads (pthread_create)</li>\n"
        "<li><div class=profile-name>trace: </div> What each thread did over "
        "an interval (seconds GET parameter, default 1): CPU samples per "
        "thread, thread names and lock and condition waits, as Chrome Trace "
        "Event JSON (application/json), not Go's execution-trace format. "
        "Open it in Perfetto (ui.perfetto.dev) or chrome://tracing; go tool "
        "trace cannot read it.</li>\n"
        "<li><div class=profile-name>vars: </div> <a href='../vars'>/debug/"
        "vars</a>: process and profiler figures and the application's "
        "published variables (JSON, like Go's expvar)</li>\n"
        "</ul>\n</p>\n</body>\n</html>\n",
        hs.rate, nprof__contention_rate_get(NPROF__BLOCK),
        nprof__contention_rate_get(NPROF__MUTEX), nprof__cpu_hz_default());
  if (rc != 0)
    set_error(res, 500, "could not write the index: out of memory");
}
