/*
 * Published variables and /debug/vars, after Go's expvar: a JSON object
 * with "cmdline", the process's figures, the profiler's own, and every
 * variable the application created with nprof_var_new_*().
 *
 * Registration takes a lock; updates are single atomic operations, so they
 * are safe anywhere, signal handlers included.
 */
#include "internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct nprof_var {
  struct nprof_var *next;
  bool is_float;
  _Atomic int64_t value; /* a double's bits for float variables */
  char name[NPROF_NAME_MAX + 1];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static nprof_var *vars; /* guarded by lock; newest first */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A child forked while another thread held `lock` would inherit it held
 * forever: it is taken across fork. */
static void fork_init(void)
{
  nprof__fork_guard(&lock);
}

static const char *const reserved[] = {"cmdline", "process", "nprof",
                                       "memstats", "malloc"};

static nprof_var *var_new(const char *name, bool is_float)
{
  if (!nprof__name_valid(name))
    return NULL;
  for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
    if (strcmp(name, reserved[i]) == 0)
      return NULL;
  pthread_once(&fork_once, fork_init);
  nprof__t_internal++;
  nprof_var *v = calloc(1, sizeof(*v));
  nprof__t_internal--;
  if (!v)
    return NULL;
  v->is_float = is_float;
  strcpy(v->name, name);
  pthread_mutex_lock(&lock);
  for (nprof_var *o = vars; o; o = o->next) {
    if (strcmp(o->name, name) == 0) {
      pthread_mutex_unlock(&lock);
      nprof__t_internal++;
      free(v);
      nprof__t_internal--;
      return NULL;
    }
  }
  v->next = vars;
  vars = v;
  pthread_mutex_unlock(&lock);
  return v;
}

NPROF_EXTERN nprof_var *nprof_var_new_int(const char *name)
{
  return var_new(name, false);
}

NPROF_EXTERN nprof_var *nprof_var_new_float(const char *name)
{
  return var_new(name, true);
}

NPROF_EXTERN void nprof_var_add(nprof_var *v, int64_t delta)
{
  if (v && !v->is_float)
    atomic_fetch_add_explicit(&v->value, delta, memory_order_relaxed);
}

NPROF_EXTERN void nprof_var_set(nprof_var *v, int64_t value)
{
  if (v && !v->is_float)
    atomic_store_explicit(&v->value, value, memory_order_relaxed);
}

NPROF_EXTERN int64_t nprof_var_get(const nprof_var *v)
{
  if (!v || v->is_float)
    return 0;
  return atomic_load_explicit(&((nprof_var *)v)->value, memory_order_relaxed);
}

NPROF_EXTERN void nprof_var_set_float(nprof_var *v, double value)
{
  if (!v || !v->is_float)
    return;
  int64_t bits;
  memcpy(&bits, &value, sizeof(bits));
  atomic_store_explicit(&v->value, bits, memory_order_relaxed);
}

NPROF_EXTERN double nprof_var_get_float(const nprof_var *v)
{
  if (!v || !v->is_float)
    return 0;
  int64_t bits =
      atomic_load_explicit(&((nprof_var *)v)->value, memory_order_relaxed);
  double d;
  memcpy(&d, &bits, sizeof(d));
  return d;
}

/* JSON has no NaN or infinity: those are written as null. */
static void json_double(nprof__writer *w, double d)
{
  if (!isfinite(d))
    nprof__w_printf(w, "null");
  else
    nprof__w_printf(w, "%.17g", d);
}

int nprof__vars_write(nprof__buf *out)
{
  nprof__writer w = {.out = out};
  nprof__w_printf(&w, "{\n\"cmdline\": [");
  nprof__buf cmd;
  nprof__buf_init(&cmd, 1 << 20);
  if (nprof__cmdline(&cmd) == 0) {
    size_t start = 0;
    for (size_t i = 0; i <= cmd.len && !w.rc; i++) {
      if (i == cmd.len || cmd.data[i] == '\0') {
        if (start)
          nprof__w_append(&w, ", ", 2);
        if (!w.rc)
          w.rc = nprof__buf_json_string(out, cmd.data + start, i - start);
        start = i + 1;
      }
    }
  }
  nprof__buf_free(&cmd);

  nprof__procstat ps;
  nprof__procstat_read(&ps);
  nprof__w_printf(
      &w,
      "],\n\"process\": {\"pid\": %d, \"rss_bytes\": %lld, "
      "\"peak_rss_bytes\": %lld, \"vm_bytes\": %lld, \"threads\": %ld, "
      "\"profiler_threads\": %ld, \"open_fds\": %ld, \"cpu_user_seconds\": "
      "%.3f, "
      "\"cpu_sys_seconds\": %.3f, \"uptime_seconds\": %.3f, "
      "\"rss_anon_bytes\": %lld, \"rss_file_bytes\": %lld, "
      "\"thread_stacks_rss_bytes\": %lld},\n",
      (int)getpid(), (long long)ps.rss_bytes, (long long)ps.peak_rss_bytes,
      (long long)ps.vm_bytes, ps.threads, ps.profiler_threads, ps.open_fds,
      ps.cpu_user_s, ps.cpu_sys_s, ps.uptime_s, (long long)ps.rss_anon_bytes,
      (long long)ps.rss_file_bytes, (long long)ps.thread_stacks_rss_bytes);

  /* glibc's own accounting, or "unknown" with no numbers rather than
   * figures of an allocator nobody uses. */
  nprof__malloc_stats ms;
  nprof__malloc_stats_read(&ms);
  if (!ms.glibc) {
    nprof__w_printf(&w, "\"malloc\": {\"allocator\": \"unknown\"},\n");
  } else {
    /* malloc_info's figures (arenas, releasable) are null when its XML
     * could not be read. */
    char arenas[24] = "null", releasable[24] = "null";
    if (ms.arenas >= 0)
      snprintf(arenas, sizeof(arenas), "%lld", (long long)ms.arenas);
    if (ms.releasable_bytes >= 0)
      snprintf(releasable, sizeof(releasable), "%lld",
               (long long)ms.releasable_bytes);
    nprof__w_printf(
        &w,
        "\"malloc\": {\"allocator\": \"glibc\", \"in_use_bytes\": %lld, "
        "\"free_bytes\": %lld, \"mmapped_bytes\": %lld, \"arena_bytes\": "
        "%lld, \"arenas\": %s, \"releasable_bytes\": %s, "
        "\"age_seconds\": %.3f},\n",
        (long long)ms.in_use_bytes, (long long)ms.free_bytes,
        (long long)ms.mmapped_bytes, (long long)ms.arena_bytes, arenas,
        releasable, (double)ms.age_ns / 1e9);
  }

  nprof__heap_stats hs;
  nprof__heap_stats_get(&hs);
  nprof__w_printf(
      &w,
      "\"nprof\": {\"heap_rate\": %ld, \"heap_inuse_bytes\": %lld, "
      "\"heap_inuse_objects\": %lld, \"heap_alloc_bytes\": %lld, "
      "\"heap_alloc_objects\": %lld, \"heap_samples\": %lld, "
      "\"heap_live_samples\": %lld, \"heap_buckets\": %lld, "
      "\"self_bytes\": %zu, \"cpu_profiling\": %d, \"cpu_hz\": %ld, "
      "\"mutex_rate\": %ld, \"block_rate\": %ld, "
      "\"contention_dropped\": %lld, \"threadcreate_live\": %ld, "
      "\"heap_overflow_samples\": %lld, \"heap_dropped_samples\": %lld",
      hs.rate, (long long)hs.inuse_bytes, (long long)hs.inuse_objects,
      (long long)hs.alloc_bytes, (long long)hs.alloc_objects,
      (long long)hs.samples, (long long)hs.live_samples, (long long)hs.buckets,
      nprof__pages_in_use(), nprof__cpu_active(), nprof__cpu_hz_default(),
      nprof__contention_rate_get(NPROF__MUTEX),
      nprof__contention_rate_get(NPROF__BLOCK),
      (long long)nprof__contention_dropped(), nprof__threadcreate_count(),
      (long long)hs.overflow_samples, (long long)hs.dropped_samples);
  if (!w.rc)
    w.rc = nprof__dump_vars_write(out);
  nprof__w_printf(&w, "}");

  pthread_once(&fork_once, fork_init);
  pthread_mutex_lock(&lock);
  for (nprof_var *v = vars; v && !w.rc; v = v->next) {
    nprof__w_printf(&w, ",\n\"%s\": ", v->name);
    if (v->is_float)
      json_double(&w, nprof_var_get_float(v));
    else
      nprof__w_printf(&w, "%lld", (long long)nprof_var_get(v));
  }
  pthread_mutex_unlock(&lock);
  nprof__w_printf(&w, "\n}\n");
  return w.rc;
}
