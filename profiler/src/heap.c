/*
 * Heap sampling: which allocations to sample, and the tables that remember
 * them.
 *
 * Sampling follows Go's runtime (mprof.go, malloc.go): each thread keeps a
 * countdown of bytes; an allocation that takes it below zero is sampled and
 * the countdown is redrawn from an exponential distribution with mean
 * `rate` bytes. Sampling points then form a Poisson process over the
 * allocated bytes, so a block of s bytes is sampled with probability
 * 1 - exp(-s/rate), whatever the sizes around it, and dividing by that
 * probability (nprof__heap_unsample) gives unbiased estimates. A realloc
 * that grows a block by d bytes counts d (the bytes it adds), so a block
 * grown to s' bytes was sampled with probability 1 - exp(-s'/rate) too.
 *
 * The draw: with u uniform in (0, 1], -ln(u) * rate is exponential with mean
 * rate. u comes from a per-thread xorshift64* generator seeded from the
 * thread's address and the clock.
 *
 * Buckets: one per (stack, size class), as Go keys its memory profile
 * buckets, holding raw sampled counts. They are never freed, never move,
 * and their counters are atomics, so the sampled path takes no lock: it
 * finds its bucket in a hash table whose chains are only ever prepended
 * to (published with release stores, read with acquire loads) and adds to
 * the counters. Only the creation of a bucket takes `lock`. A profile reads
 * the list of all buckets the same way: every sample recorded before the
 * request is in it, without a flush. Each sampled block records its bucket
 * and size in a header before the user pointer (malloc.c), or for
 * over-aligned blocks in the out-of-band table below, so its free is two
 * atomic additions.
 *
 * Bounds: at most MAX_BUCKETS buckets and MAX_BUCKET_BYTES of bucket memory
 * (plus the fixed hash heads, 512 KiB). Past either, a sample goes to the
 * overflow bucket of its size class, whose stack is the single frame
 * nprof__heap_buckets_full, and is counted in overflow_samples: totals stay
 * exact, only the attribution of the excess is lost.
 *
 * Memory comes from mmap (nprof__pages_alloc), never from malloc, because
 * the hooks run inside malloc.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Thread_local int64_t nprof__t_heap_countdown
    __attribute__((tls_model("initial-exec")));
/* Whether this thread drew its first sampling interval yet. */
static _Thread_local bool t_started __attribute__((tls_model("initial-exec")));

/* While heap sampling is off, a thread still looks at the rate every this
 * many bytes, so turning it on at run time takes effect everywhere. */
#define OFF_RECHECK_BYTES (64 << 20)

#define MAX_BUCKETS 65536
#define MAX_BUCKET_BYTES ((size_t)16 << 20)
#define HASH_HEADS 65536 /* fixed, so lock-free readers never see a resize */

static atomic_long heap_rate = NPROF_DEFAULT_HEAP_RATE;
static atomic_int heap_ready;

struct nprof__heap_bucket {
  nprof__heap_bucket *next;  /* hash chain: set before publication */
  nprof__heap_bucket *older; /* the list of all buckets, newest first */
  uint64_t hash;
  size_t size; /* size class */
  int depth;
  bool overflow;
  _Atomic int64_t allocs, alloc_bytes, frees, free_bytes;
  uintptr_t pcs[];
};

/* Held while a bucket is created or the out-of-band table changes; never
 * while a stack is unwound. Taken across fork (fork_prepare). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Readers hold it (try, never wait) while they unwind; fork's prepare
 * handler takes it for writing, so no thread is inside libunwind's own
 * locks when the child is made. Writer-preferring: a waiting fork makes new
 * samples skip their stack instead of starving the fork. */
static pthread_rwlock_t gate =
    PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

typedef _Atomic(nprof__heap_bucket *) bucket_ref;
static _Atomic(bucket_ref *) heads; /* HASH_HEADS chains, set once */
static _Atomic(nprof__heap_bucket *) newest;
static atomic_bool table_full;
/* Guarded by lock. */
static nprof__arena arena;
static int64_t nbuckets; /* not counting overflow buckets */
static size_t bucket_bytes;

static _Atomic int64_t buckets_published; /* overflow buckets included */
/* Rare events only: a counter every sample touched would be a cache line
 * every sampling thread pulls back and forth (totals come from the
 * buckets). */
static _Atomic int64_t overflow_samples, dropped_samples;

/* Every holder of `lock` runs as profiler code: the interposed
 * pthread_mutex_lock then never records a wait on it as contention, which
 * would take the contention table's lock while holding this one (and
 * deadlock with fork's prepare handlers, which take them the other way). */
static void lock_heap(void)
{
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
}

static void unlock_heap(void)
{
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

static void fork_prepare(void)
{
  nprof__t_internal++; /* the gate is never profiled either */
  pthread_rwlock_wrlock(&gate);
  lock_heap();
}

static void fork_parent(void)
{
  unlock_heap();
  pthread_rwlock_unlock(&gate);
  nprof__t_internal--;
}

/* The child's only thread holds both, but under a new thread id, which
 * glibc's rwlock unlock would not recognise as the writer's: initialize
 * them afresh instead (POSIX's advice for a fork child). */
static void fork_child(void)
{
  pthread_mutex_init(&lock, NULL);
  nprof__t_internal--; /* lock_heap's */
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&gate, &attr);
  pthread_rwlockattr_destroy(&attr);
  nprof__t_internal--;
}

void nprof__heap_init(void)
{
  int expected = 0;
  if (!atomic_compare_exchange_strong(&heap_ready, &expected, 1))
    return;
  nprof__t_internal++;
  /* A child forked while another thread held a lock would inherit it held
   * forever; take them across fork instead. */
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  const char *env = getenv("NPROF_HEAP_RATE");
  if (env) {
    long v;
    if (nprof__parse_long(env, 0, NPROF_MAX_RATE, &v) == 0)
      atomic_store(&heap_rate, v);
    else
      nprof__log("NPROF_HEAP_RATE=%s is not a byte count in 0..2^40; "
                 "using %d",
                 env, NPROF_DEFAULT_HEAP_RATE);
  }
  nprof__t_internal--;
  atomic_store(&heap_ready, 2);
}

int nprof__heap_rate_set(long rate)
{
  if (rate < 0 || rate > NPROF_MAX_RATE)
    return NPROF_EINVAL;
  atomic_store(&heap_rate, rate);
  return 0;
}

long nprof__heap_rate_get(void)
{
  return atomic_load(&heap_rate);
}

static int64_t next_interval(long rate)
{
  if (rate <= 1)
    return 0; /* every allocation */
  /* u in (0, 1]: 53 random bits, never 0, so the log is finite and at most
   * ln(2^53) ~ 36.7 mean intervals. */
  double u = (double)((nprof__rand() >> 11) + 1) * (1.0 / 9007199254740992.0);
  return (int64_t)(-log(u) * (double)rate);
}

/* Keeps errno: only the first call (getenv, pthread_atfork) could touch
 * it; log() of a number in (0, 1] never does. */
bool nprof__heap_should_sample(size_t size)
{
  bool sample = false;
  if (nprof__unlikely(atomic_load_explicit(&heap_ready, memory_order_acquire) !=
                      2) &&
      !nprof__t_internal) {
    int saved = errno;
    nprof__heap_init(); /* reads NPROF_HEAP_RATE before the first decision */
    errno = saved;
  }
  long rate = atomic_load_explicit(&heap_rate, memory_order_relaxed);
  if (rate <= 0) {
    nprof__t_heap_countdown = OFF_RECHECK_BYTES;
  } else if (nprof__t_internal) {
    /* Profiler code, or a thread not yet fully set up: never sampled. */
    nprof__t_heap_countdown = next_interval(rate);
  } else if (!t_started) {
    /* A thread's first visit: draw its first interval instead of
     * sampling the first allocation it happens to make. */
    t_started = true;
    int64_t c = next_interval(rate);
    if ((uint64_t)c > size) {
      nprof__t_heap_countdown = c - (int64_t)size;
    } else {
      nprof__t_heap_countdown = next_interval(rate);
      sample = true;
    }
  } else {
    /* Go redraws rather than carrying the overshoot over: the exponential
     * has no memory, so either is exact. */
    nprof__t_heap_countdown = next_interval(rate);
    sample = true;
  }
  return sample;
}

bool nprof__heap_keep_shrunk(size_t old_size, size_t new_size)
{
  long rate = atomic_load_explicit(&heap_rate, memory_order_relaxed);
  if (rate <= 1 || new_size >= old_size)
    return true;
  /* P(sampled | s') / P(sampled | s), with P(s) = 1 - exp(-s/rate):
   * keeping that fraction leaves the shrunk block sampled with P(s'). */
  double keep = expm1(-(double)new_size / (double)rate) /
                expm1(-(double)old_size / (double)rate);
  double u = (double)(nprof__rand() >> 11) * (1.0 / 9007199254740992.0);
  return u < keep;
}

bool nprof__heap_gate_enter(void)
{
  return pthread_rwlock_tryrdlock(&gate) == 0;
}

void nprof__heap_gate_leave(void)
{
  pthread_rwlock_unlock(&gate);
}

static uint64_t hash_stack(const uintptr_t *pcs, int depth, size_t size)
{
  uint64_t h = 0xcbf29ce484222325ULL ^ size;
  for (int i = 0; i < depth; i++) {
    h ^= pcs[i];
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return h;
}

/* Buckets are keyed by stack and size class, four classes per doubling:
 * keying by exact size (as Go does with its size classes) would make a
 * bucket per sample for variable-sized allocations; within a class sizes
 * differ by at most 25%, so unsampling by the bucket's mean size stays
 * close to exact. */
static size_t size_class(size_t size)
{
  if (size <= 64)
    return (size + 15) & ~(size_t)15;
  int shift = 63 - __builtin_clzll((unsigned long long)size - 1) - 2;
  size_t step = (size_t)1 << shift;
  size_t c = (size + step - 1) & ~(step - 1);
  return c ? c : SIZE_MAX; /* sizes near SIZE_MAX round to 0 */
}

/* Lock-free: a chain only ever gains buckets at its head. */
static nprof__heap_bucket *bucket_find(uint64_t h, const uintptr_t *pcs,
                                       int depth, size_t cls)
{
  bucket_ref *t = atomic_load_explicit(&heads, memory_order_acquire);
  if (!t)
    return NULL;
  nprof__heap_bucket *b =
      atomic_load_explicit(&t[h & (HASH_HEADS - 1)], memory_order_acquire);
  for (; b; b = b->next) {
    if (b->hash != h || b->size != cls || b->depth != depth)
      continue;
    int i = 0; /* a loop, not memcmp: stacks are a few words */
    while (i < depth && b->pcs[i] == pcs[i])
      i++;
    if (i == depth)
      return b;
  }
  return NULL;
}

/* The single frame of the overflow buckets' stack: a profile shows the
 * samples that found the table full under this name. Never called. */
void nprof__heap_buckets_full(void);
__attribute__((noinline, used)) void nprof__heap_buckets_full(void)
{
  nprof__log("nprof__heap_buckets_full is a marker, not to be called");
}

/* Called with lock. Creates and publishes a bucket; NULL when out of
 * memory. Overflow buckets are exempt from the caps (one per size class:
 * a few hundred at most). */
static nprof__heap_bucket *bucket_new(uint64_t h, const uintptr_t *pcs,
                                      int depth, size_t cls, bool overflow)
{
  bucket_ref *t = atomic_load_explicit(&heads, memory_order_relaxed);
  if (!t) {
    t = nprof__pages_alloc(HASH_HEADS * sizeof(*t));
    if (!t)
      return NULL;
    atomic_store_explicit(&heads, t, memory_order_release);
  }
  size_t n = sizeof(nprof__heap_bucket) + (size_t)depth * sizeof(*pcs);
  nprof__heap_bucket *b = nprof__arena_alloc(&arena, n);
  if (!b)
    return NULL;
  memset(b, 0, sizeof(*b));
  b->hash = h;
  b->size = cls;
  b->depth = depth;
  b->overflow = overflow;
  memcpy(b->pcs, pcs, (size_t)depth * sizeof(*pcs));
  bucket_ref *head = &t[h & (HASH_HEADS - 1)];
  b->next = atomic_load_explicit(head, memory_order_relaxed);
  b->older = atomic_load_explicit(&newest, memory_order_relaxed);
  /* Release: a reader that finds b sees it filled in. */
  atomic_store_explicit(head, b, memory_order_release);
  atomic_store_explicit(&newest, b, memory_order_release);
  atomic_fetch_add_explicit(&buckets_published, 1, memory_order_relaxed);
  if (!overflow) {
    nbuckets++;
    bucket_bytes += n;
    if (nbuckets >= MAX_BUCKETS ||
        bucket_bytes + sizeof(*b) + NPROF_MAX_DEPTH * sizeof(*pcs) >
            MAX_BUCKET_BYTES)
      atomic_store(&table_full, true);
  }
  return b;
}

static nprof__heap_bucket *overflow_bucket(size_t cls)
{
  const uintptr_t pc = (uintptr_t)nprof__heap_buckets_full;
  uint64_t h = hash_stack(&pc, 1, cls);
  nprof__heap_bucket *b = bucket_find(h, &pc, 1, cls);
  if (b)
    return b;
  lock_heap();
  b = bucket_find(h, &pc, 1, cls);
  if (!b)
    b = bucket_new(h, &pc, 1, cls, true);
  unlock_heap();
  return b;
}

nprof__heap_bucket *nprof__heap_bucket_get(const uintptr_t *pcs, int depth,
                                           size_t size)
{
  size_t cls = size_class(size);
  uint64_t h = hash_stack(pcs, depth, cls);
  nprof__heap_bucket *b = bucket_find(h, pcs, depth, cls);
  if (nprof__likely(b != NULL))
    return b;
  if (!atomic_load_explicit(&table_full, memory_order_relaxed)) {
    lock_heap();
    b = bucket_find(h, pcs, depth, cls); /* another thread may have won */
    if (!b && !atomic_load(&table_full))
      b = bucket_new(h, pcs, depth, cls, false);
    unlock_heap();
    if (b)
      return b;
  }
  b = overflow_bucket(cls);
  if (!b)
    atomic_fetch_add_explicit(&dropped_samples, 1, memory_order_relaxed);
  return b;
}

void nprof__heap_record_alloc(nprof__heap_bucket *b, size_t size)
{
  atomic_fetch_add_explicit(&b->allocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&b->alloc_bytes, (int64_t)size,
                            memory_order_relaxed);
  if (b->overflow)
    atomic_fetch_add_explicit(&overflow_samples, 1, memory_order_relaxed);
}

/* Release on the free counters, acquire where the snapshot reads them:
 * a snapshot that sees a free also sees the block's allocation. */
void nprof__heap_record_free(nprof__heap_bucket *b, size_t size)
{
  atomic_fetch_add_explicit(&b->frees, 1, memory_order_release);
  atomic_fetch_add_explicit(&b->free_bytes, (int64_t)size,
                            memory_order_release);
}

nprof__heap_bucket *nprof__heap_record_resize(nprof__heap_bucket *b,
                                              size_t old_size, size_t new_size)
{
  nprof__heap_bucket *nb = b;
  size_t cls = size_class(new_size);
  if (cls != b->size) {
    nb = b->overflow ? overflow_bucket(cls)
                     : nprof__heap_bucket_get(b->pcs, b->depth, new_size);
    if (!nb)
      nb = b;
  }
  /* The allocs profile counts a realloc as a new block of the new size
   * (as Go counts every array an append allocates) and the old one freed;
   * the new one first, so that a snapshot never sees the block gone. */
  atomic_fetch_add_explicit(&nb->allocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&nb->alloc_bytes, (int64_t)new_size,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&b->frees, 1, memory_order_release);
  atomic_fetch_add_explicit(&b->free_bytes, (int64_t)old_size,
                            memory_order_release);
  return nb;
}

/* ---- the out-of-band table: sampled blocks with no room for a header ---- */

/* Open addressing on the user pointer, under `lock`. free() asks it only
 * for page-aligned pointers, and first asks the filter: per hash cell, how
 * many live entries there are, read without the lock. An insert happens
 * before the block is handed out, so the free of that block sees it. */
#define OOB_FILTER 4096
#define OOB_TOMB ((uintptr_t)1)

typedef struct oob_entry {
  uintptr_t ptr; /* 0: empty, OOB_TOMB: deleted */
  nprof__heap_bucket *b;
  size_t size;
} oob_entry;

static _Atomic uint32_t oob_filter[OOB_FILTER];
/* Guarded by lock. */
static oob_entry *oob;
static size_t oob_cap;            /* power of two */
static size_t oob_live, oob_used; /* used: live + tombstones */

static size_t oob_hash(uintptr_t p)
{
  return (size_t)((p >> 12) * 0x9e3779b97f4a7c15ULL >> 20);
}

static size_t oob_slot(uintptr_t p)
{
  size_t i = oob_hash(p) & (oob_cap - 1);
  while (oob[i].ptr != 0 && oob[i].ptr != p)
    i = (i + 1) & (oob_cap - 1);
  return i;
}

/* Called with lock. Rehashes into a table of `cap` slots. */
static int oob_rehash(size_t cap)
{
  oob_entry *t = nprof__pages_alloc(cap * sizeof(*t));
  if (!t)
    return NPROF_ENOMEM;
  oob_entry *old = oob;
  size_t old_cap = oob_cap;
  oob = t;
  oob_cap = cap;
  oob_used = oob_live;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].ptr > OOB_TOMB)
      oob[oob_slot(old[i].ptr)] = old[i];
  nprof__pages_free(old, old_cap * sizeof(*old));
  return 0;
}

int nprof__heap_oob_add(void *p, nprof__heap_bucket *b, size_t size)
{
  int result = 0;
  lock_heap();
  if ((oob_used + 1) * 4 > oob_cap * 3) {
    size_t cap = oob_cap ? oob_cap : 256;
    while ((oob_live + 1) * 2 > cap)
      cap *= 2;
    result = oob_rehash(cap);
    if (result != 0)
      goto out;
  }
  uintptr_t key = (uintptr_t)p;
  size_t i = oob_hash(key) & (oob_cap - 1);
  while (oob[i].ptr > OOB_TOMB) /* p is not in: the block is new */
    i = (i + 1) & (oob_cap - 1);
  if (oob[i].ptr == 0)
    oob_used++;
  oob[i] = (oob_entry){.ptr = key, .b = b, .size = size};
  oob_live++;
  atomic_fetch_add_explicit(&oob_filter[oob_hash(key) % OOB_FILTER], 1,
                            memory_order_relaxed);
out:
  unlock_heap();
  return result;
}

/* Called with lock. The entry of p, or NULL. */
static oob_entry *oob_lookup(uintptr_t p)
{
  if (!oob_cap)
    return NULL;
  size_t i = oob_hash(p) & (oob_cap - 1);
  while (oob[i].ptr != 0) {
    if (oob[i].ptr == p)
      return &oob[i];
    i = (i + 1) & (oob_cap - 1);
  }
  return NULL;
}

/* find, and with `take` remove. */
static bool oob_get(const void *p, nprof__heap_bucket **b, size_t *size,
                    bool take)
{
  uintptr_t key = (uintptr_t)p;
  _Atomic uint32_t *cell = &oob_filter[oob_hash(key) % OOB_FILTER];
  if (atomic_load_explicit(cell, memory_order_relaxed) == 0)
    return false;
  lock_heap();
  oob_entry *e = oob_lookup(key);
  if (e) {
    *b = e->b;
    *size = e->size;
    if (take) {
      e->ptr = OOB_TOMB;
      oob_live--;
      atomic_fetch_sub_explicit(cell, 1, memory_order_relaxed);
    }
  }
  unlock_heap();
  return e != NULL;
}

bool nprof__heap_oob_find(const void *p, nprof__heap_bucket **b, size_t *size)
{
  return oob_get(p, b, size, false);
}

bool nprof__heap_oob_take(const void *p, nprof__heap_bucket **b, size_t *size)
{
  return oob_get(p, b, size, true);
}

/* ---- reading ---- */

long nprof__heap_snapshot(nprof__heap_record **out)
{
  nprof__t_internal++;
  long result;
  /* Buckets newer than `first` are left out: the walk is consistent. */
  nprof__heap_bucket *first =
      atomic_load_explicit(&newest, memory_order_acquire);
  size_t n = 0;
  for (nprof__heap_bucket *b = first; b; b = b->older)
    n++;
  /* Never NULL, even when empty. */
  nprof__heap_record *recs = malloc((n ? n : 1) * sizeof(*recs));
  if (!recs) {
    result = NPROF_ENOMEM;
    goto out;
  }
  size_t k = 0;
  for (nprof__heap_bucket *b = first; b; b = b->older, k++) {
    nprof__heap_record *r = &recs[k];
    r->id = b;
    r->pcs = b->pcs;
    r->depth = b->depth;
    r->size = b->size;
    /* frees before allocs: a block freed meanwhile is never counted freed
     * and not allocated (in use going negative). */
    r->frees = atomic_load_explicit(&b->frees, memory_order_acquire);
    r->free_bytes = atomic_load_explicit(&b->free_bytes, memory_order_acquire);
    r->allocs = atomic_load_explicit(&b->allocs, memory_order_relaxed);
    r->alloc_bytes =
        atomic_load_explicit(&b->alloc_bytes, memory_order_relaxed);
  }
  *out = recs;
  result = (long)k;
out:
  nprof__t_internal--;
  return result;
}

void nprof__heap_unsample(int64_t count, int64_t bytes, long rate,
                          int64_t *est_count, int64_t *est_bytes)
{
  if (count <= 0 || bytes <= 0 || rate <= 1) {
    *est_count = count > 0 ? count : 0;
    *est_bytes = bytes > 0 ? bytes : 0;
    return;
  }
  /* A block of s bytes was sampled with probability 1 - exp(-s/rate);
   * every sampled block stands for 1/p blocks. */
  double avg = (double)bytes / (double)count;
  double scale = 1.0 / (1.0 - exp(-avg / (double)rate));
  *est_count = (int64_t)((double)count * scale + 0.5);
  *est_bytes = (int64_t)((double)bytes * scale + 0.5);
}

void nprof__heap_stats_get(nprof__heap_stats *st)
{
  memset(st, 0, sizeof(*st));
  st->rate = nprof__heap_rate_get();
  st->buckets = atomic_load(&buckets_published);
  st->overflow_samples = atomic_load(&overflow_samples);
  st->dropped_samples = atomic_load(&dropped_samples);
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  if (n < 0)
    return;
  for (long i = 0; i < n; i++) {
    st->samples += recs[i].allocs;
    st->live_samples += recs[i].allocs - recs[i].frees;
    int64_t c, b;
    nprof__heap_unsample(recs[i].allocs - recs[i].frees,
                         recs[i].alloc_bytes - recs[i].free_bytes, st->rate, &c,
                         &b);
    st->inuse_objects += c;
    st->inuse_bytes += b;
    nprof__heap_unsample(recs[i].allocs, recs[i].alloc_bytes, st->rate, &c, &b);
    st->alloc_objects += c;
    st->alloc_bytes += b;
  }
  nprof__t_internal++;
  free(recs);
  nprof__t_internal--;
}
