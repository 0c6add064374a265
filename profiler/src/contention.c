/*
 * Mutex and block profiles: where threads waited for pthread locks and
 * condition variables, and for how long (Go's mutex and block profiles).
 *
 * The interposed lock functions (interpose.c) time a wait only when a
 * try-lock failed, or around a condition wait, and hand it here. Which waits
 * are kept follows Go's runtime (mprof.go):
 *  - mutex profile, rate N (runtime.SetMutexProfileFraction): each
 *    contended mutex or rwlock acquisition is kept with probability 1/N and
 *    then stands for N of them (count and delay multiplied by N at record
 *    time, so a later rate change does not rescale old records).
 *  - block profile, rate R nanoseconds (runtime.SetBlockProfileRate): every
 *    wait (mutex, rwlock or condition variable) of d >= R ns is kept as is;
 *    a shorter one is kept with probability d/R and then stands for R/d
 *    waits of R ns in total, which keeps both sums unbiased.
 * Both are off (0) by default, as in Go; NPROF_MUTEX_RATE and
 * NPROF_BLOCK_RATE or nprof_mutex_rate_set()/nprof_block_rate_set() turn
 * them on.
 *
 * The stack is the waiter's, from the interposed lock function down: in Go's
 * mutex profile the stack is the unlocker's, which a C library cannot see
 * without also interposing unlock; the waiter's stack shows which code
 * paid for the contention.
 *
 * Records live in buckets (one per kind and stack) that are never freed, in
 * memory from mmap, under `lock`, which is taken through the real
 * pthread_mutex_lock with nprof__t_internal set: recording never samples
 * itself and never allocates from a malloc that could be sampling.
 *
 * While a trace runs, every wait of at least TRACE_MIN_NS is also kept,
 * with its time and thread, for the trace's timeline.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_BUCKETS 65536
#define TRACE_MIN_NS 10000

atomic_long nprof__mutex_rate;
atomic_long nprof__block_rate;
atomic_int nprof__contention_on;

typedef struct bucket {
  struct bucket *next;
  uint64_t hash;
  int kind;
  int depth;
  double count;
  int64_t delay;
  uintptr_t pcs[];
} bucket;

/* Guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bucket **hash_table;
static size_t hash_cap;
static size_t nbuckets;
static nprof__arena arena;
static int64_t dropped;
static nprof__wait_event *trace_events;
static size_t trace_len, trace_cap;
static int64_t trace_dropped;
static atomic_int tracing;

/* Every holder of `lock` runs as profiler code: a contended acquisition
 * of `lock` itself must not be recorded (the recording takes `lock`). */
static void table_lock(void)
{
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
}

static void table_unlock(void)
{
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

static void update_on(void)
{
  atomic_store(&nprof__contention_on, atomic_load(&nprof__mutex_rate) > 0 ||
                                          atomic_load(&nprof__block_rate) > 0 ||
                                          atomic_load(&tracing));
}

int nprof__contention_rate_set(nprof__wait_profile which, long rate)
{
  if (rate < 0 || rate > NPROF_MAX_RATE)
    return NPROF_EINVAL;
  atomic_store(which == NPROF__MUTEX ? &nprof__mutex_rate : &nprof__block_rate,
               rate);
  update_on();
  return 0;
}

long nprof__contention_rate_get(nprof__wait_profile which)
{
  return atomic_load(which == NPROF__MUTEX ? &nprof__mutex_rate
                                           : &nprof__block_rate);
}

/* A child forked while another thread held `lock` would inherit it held
 * forever: take it across fork. The trace's requester does not exist in
 * the child: the trace ends there. */
static void fork_prepare(void)
{
  table_lock();
}

static void fork_parent(void)
{
  table_unlock();
}

static void fork_child(void)
{
  free(trace_events);
  trace_events = NULL;
  trace_len = trace_cap = 0;
  atomic_store(&tracing, 0);
  table_unlock();
  update_on();
}

void nprof__contention_init(void)
{
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  static const struct {
    const char *env;
    nprof__wait_profile which;
  } vars[] = {{"NPROF_MUTEX_RATE", NPROF__MUTEX},
              {"NPROF_BLOCK_RATE", NPROF__BLOCK}};
  for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
    const char *env = getenv(vars[i].env);
    long v;
    if (!env)
      continue;
    if (nprof__parse_long(env, 0, NPROF_MAX_RATE, &v) == 0)
      nprof__contention_rate_set(vars[i].which, v);
    else
      nprof__log("%s=%s is not a rate in 0..2^40; leaving it off", vars[i].env,
                 env);
  }
}

/* Called with lock. */
static bucket *bucket_get(int kind, const uintptr_t *pcs, int depth)
{
  uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)kind;
  for (int i = 0; i < depth; i++) {
    h ^= pcs[i];
    h *= 0x100000001b3ULL;
  }
  if (!hash_table) {
    hash_cap = 4096;
    hash_table = nprof__pages_alloc(hash_cap * sizeof(*hash_table));
    if (!hash_table)
      return NULL;
  }
  size_t j = h & (hash_cap - 1);
  for (bucket *b = hash_table[j]; b; b = b->next)
    if (b->hash == h && b->kind == kind && b->depth == depth &&
        memcmp(b->pcs, pcs, (size_t)depth * sizeof(uintptr_t)) == 0)
      return b;
  if (nbuckets >= MAX_BUCKETS)
    return NULL;
  bucket *b = nprof__arena_alloc(&arena, sizeof(*b) +
                                             (size_t)depth * sizeof(uintptr_t));
  if (!b)
    return NULL;
  b->hash = h;
  b->kind = kind;
  b->depth = depth;
  b->count = 0;
  b->delay = 0;
  memcpy(b->pcs, pcs, (size_t)depth * sizeof(uintptr_t));
  b->next = hash_table[j];
  hash_table[j] = b;
  nbuckets++;
  return b;
}

/* Called with lock: a sampled wait, its count and delay already scaled by
 * the rate, added to the bucket of (kind, stack); counted in `dropped`
 * when no bucket can be had. */
static void bucket_add(int kind, const uintptr_t *pcs, int depth, double count,
                       int64_t delay)
{
  bucket *b = bucket_get(kind, pcs, depth);
  if (!b) {
    dropped++;
    return;
  }
  b->count += count;
  b->delay += delay;
}

__attribute__((noinline)) void nprof__contention_record(nprof__wait_kind kind,
                                                        int64_t start_ns,
                                                        int64_t delay_ns,
                                                        int skip)
{
  /* Never while profiler code runs (a signal handler's unwinding, a
   * request): recording unwinds and locks, which could take again the
   * very lock whose wait is being recorded. The interposers check this
   * before they time a wait; this keeps every other caller honest. */
  if (nprof__t_internal)
    return;
  if (delay_ns < 0)
    delay_ns = 0;
  double mutex_count = 0, block_count = 0;
  int64_t mutex_delay = 0, block_delay = 0;
  long mrate = atomic_load_explicit(&nprof__mutex_rate, memory_order_relaxed);
  long brate = atomic_load_explicit(&nprof__block_rate, memory_order_relaxed);
  if (mrate > 0 && kind != NPROF__WAIT_COND &&
      (mrate == 1 || nprof__rand() % (uint64_t)mrate == 0)) {
    mutex_count = (double)mrate;
    mutex_delay = delay_ns * mrate;
  }
  if (brate > 0) {
    if (delay_ns >= brate) {
      block_count = 1;
      block_delay = delay_ns;
    } else if (delay_ns > 0 &&
               nprof__rand() % (uint64_t)brate < (uint64_t)delay_ns) {
      block_count = (double)brate / (double)delay_ns;
      block_delay = brate;
    }
  }
  bool trace = atomic_load_explicit(&tracing, memory_order_relaxed) &&
               delay_ns >= TRACE_MIN_NS;
  if (!mutex_count && !block_count && !trace)
    return;
  int saved = errno;
  nprof__t_internal++;
  uintptr_t pcs[NPROF_MAX_DEPTH];
  int depth = nprof__stack_capture(pcs, NPROF_MAX_DEPTH, skip + 1);
  table_lock();
  if (mutex_count)
    bucket_add(NPROF__MUTEX, pcs, depth, mutex_count, mutex_delay);
  if (block_count)
    bucket_add(NPROF__BLOCK, pcs, depth, block_count, block_delay);
  if (trace && trace_events) {
    if (trace_len < trace_cap) {
      nprof__wait_event *e = &trace_events[trace_len++];
      e->kind = kind;
      e->tid = (pid_t)syscall(SYS_gettid);
      e->start_ns = start_ns;
      e->delay_ns = delay_ns;
      e->depth = depth < NPROF_TRACE_DEPTH ? depth : NPROF_TRACE_DEPTH;
      memcpy(e->pcs, pcs, (size_t)e->depth * sizeof(uintptr_t));
    } else {
      trace_dropped++;
    }
  }
  table_unlock();
  nprof__t_internal--;
  errno = saved;
}

long nprof__contention_snapshot(nprof__wait_profile which,
                                nprof__wait_record **out)
{
  nprof__wait_record *recs = NULL;
  size_t cap = 0;
  for (;;) {
    table_lock();
    size_t n = nbuckets;
    if (n <= cap) {
      size_t k = 0;
      for (size_t j = 0; hash_table && j < hash_cap; j++)
        for (bucket *b = hash_table[j]; b; b = b->next) {
          if (b->kind != (int)which)
            continue;
          recs[k++] = (nprof__wait_record){.id = b,
                                           .pcs = b->pcs,
                                           .depth = b->depth,
                                           .count = b->count,
                                           .delay_ns = b->delay};
        }
      table_unlock();
      *out = recs;
      return (long)k;
    }
    table_unlock();
    /* Allocate outside the lock; retry if buckets appeared meanwhile. */
    free(recs);
    cap = n + 64;
    recs = malloc(cap * sizeof(*recs));
    if (!recs)
      return NPROF_ENOMEM;
  }
}

int64_t nprof__contention_dropped(void)
{
  table_lock();
  int64_t d = dropped;
  table_unlock();
  return d;
}

int nprof__contention_trace_begin(size_t max_events)
{
  nprof__wait_event *ev = calloc(max_events, sizeof(*ev));
  if (!ev)
    return NPROF_ENOMEM;
  table_lock();
  if (trace_events) {
    table_unlock();
    free(ev);
    return NPROF_EBUSY;
  }
  trace_events = ev;
  trace_cap = max_events;
  trace_len = 0;
  trace_dropped = 0;
  table_unlock();
  atomic_store(&tracing, 1);
  update_on();
  return 0;
}

long nprof__contention_trace_end(nprof__wait_event **out, int64_t *ndropped)
{
  atomic_store(&tracing, 0);
  update_on();
  table_lock();
  nprof__wait_event *ev = trace_events;
  size_t n = trace_len;
  if (ndropped)
    *ndropped = trace_dropped;
  trace_events = NULL;
  trace_len = trace_cap = 0;
  table_unlock();
  *out = ev;
  return (long)n;
}
