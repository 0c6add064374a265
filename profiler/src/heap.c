/*
 * Heap sampling: which allocations to sample, and the tables that remember
 * them.
 *
 * Sampling follows Go's runtime (mprof.go, malloc.go): each thread keeps a
 * countdown of bytes; an allocation that brings it to zero or below is
 * sampled and the countdown is redrawn from an exponential distribution with
 * mean `rate` bytes. Sampling points then form a Poisson process over the
 * allocated bytes, so a block of s bytes is sampled with probability
 * 1 - exp(-s/rate), whatever the sizes around it, and dividing by that
 * probability (nprof__heap_unsample) gives unbiased estimates.
 *
 * The draw: with u uniform in (0, 1], -ln(u) * rate is exponential with mean
 * rate. u comes from a per-thread xorshift64* generator seeded from the
 * thread's address and the clock.
 *
 * Tables (all under `lock`, touched only on the sampled path):
 *  - buckets: one per (stack, block size), as Go keys its memory profile
 *    buckets, holding raw sampled counts. Never freed, so records handed out
 *    by nprof__heap_snapshot() stay valid without the lock.
 *  - live slots: one per sampled block not yet freed, indexed from the
 *    block's header, so a free of a sampled block is O(1).
 * Their memory comes from mmap, never from malloc, because the hooks run
 * inside malloc.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>

_Thread_local int64_t nprof__t_heap_countdown
    __attribute__((tls_model("initial-exec")));
/* Whether this thread drew its first sampling interval yet. */
static _Thread_local bool t_started __attribute__((tls_model("initial-exec")));

uint64_t nprof__heap_secret;

/* While heap sampling is off, a thread still looks at the rate every this
 * many bytes, so turning it on at run time takes effect everywhere. */
#define OFF_RECHECK_BYTES (64 << 20)

static atomic_long heap_rate = NPROF_DEFAULT_HEAP_RATE;
static atomic_int heap_ready;

typedef struct bucket {
  struct bucket *next; /* hash chain */
  uint64_t hash;
  size_t size;
  int depth;
  int64_t allocs, alloc_bytes, frees, free_bytes;
  uintptr_t pcs[];
} bucket;

typedef struct live_slot {
  void *ptr; /* NULL when the slot is free */
  bucket *b; /* owning bucket; when free: next free index in `size` */
  size_t size;
} live_slot;

/* A plain mutex: an adaptive one halved the cost of the pathological
 * sample-everything case (rate 1) but spun away CPU at the default rate
 * when the machine was oversubscribed (1.067 vs 1.034 of plain). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by lock. */
static bucket **buckets_hash;
static size_t buckets_hash_cap; /* power of two */
static int64_t buckets_count;
static nprof__arena arena;
static live_slot *slots;
static size_t slots_cap;
static size_t slots_free_head = SIZE_MAX;
static size_t slots_used; /* high-water index */
static int64_t live_count;
static int64_t samples_total;

static void fork_prepare(void)
{
  pthread_mutex_lock(&lock);
}

static void fork_release(void)
{
  pthread_mutex_unlock(&lock);
}

void nprof__heap_init(void)
{
  int expected = 0;
  if (!atomic_compare_exchange_strong(&heap_ready, &expected, 1))
    return;
  nprof__t_internal++;
  /* AT_RANDOM: 16 random bytes the kernel gives every process; reading
   * them needs no syscall and no allocation. The top byte is forced on so a
   * tag (pointer ^ secret, pointers being below 2^47) can never equal a glibc
   * chunk size field. */
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
  if (r) {
    uint64_t a, b;
    memcpy(&a, r, 8);
    memcpy(&b, r + 8, 8);
    s ^= a * 0xff51afd7ed558ccdULL ^ b;
  }
  nprof__heap_secret = s | 0xff00000000000000ULL;
  /* A child forked while another thread held the lock would inherit it
   * held forever; take it across fork instead. */
  pthread_atfork(fork_prepare, fork_release, fork_release);

  const char *env = getenv("NPROF_HEAP_RATE");
  if (env) {
    long v;
    if (nprof__parse_long(env, 0, 1L << 40, &v) == 0)
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
  if (rate < 0 || rate > (1L << 40))
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

bool nprof__heap_should_sample(size_t size)
{
  int saved = errno;
  bool sample = false;
  if (nprof__unlikely(atomic_load_explicit(&heap_ready, memory_order_acquire) !=
                      2) &&
      !nprof__t_internal)
    nprof__heap_init(); /* reads NPROF_HEAP_RATE before the first decision */
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
    nprof__t_heap_countdown = next_interval(rate);
    sample = true;
  }
  errno = saved;
  return sample;
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

/* Called with lock. */
static int hash_grow(void)
{
  size_t cap = buckets_hash_cap ? buckets_hash_cap * 2 : 4096;
  bucket **t = nprof__pages_alloc(cap * sizeof(*t));
  if (!t)
    return -1;
  for (size_t i = 0; i < buckets_hash_cap; i++) {
    bucket *b = buckets_hash[i];
    while (b) {
      bucket *next = b->next;
      size_t j = b->hash & (cap - 1);
      b->next = t[j];
      t[j] = b;
      b = next;
    }
  }
  nprof__pages_free(buckets_hash, buckets_hash_cap * sizeof(*buckets_hash));
  buckets_hash = t;
  buckets_hash_cap = cap;
  return 0;
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
  return (size + step - 1) & ~(step - 1);
}

/* Called with lock. */
static bucket *bucket_get(const uintptr_t *pcs, int depth, size_t size)
{
  size = size_class(size);
  uint64_t h = hash_stack(pcs, depth, size);
  if (buckets_hash_cap) {
    for (bucket *b = buckets_hash[h & (buckets_hash_cap - 1)]; b; b = b->next)
      if (b->hash == h && b->size == size && b->depth == depth &&
          memcmp(b->pcs, pcs, (size_t)depth * sizeof(*pcs)) == 0)
        return b;
  }
  if ((size_t)buckets_count >= buckets_hash_cap / 2 && hash_grow() != 0)
    return NULL;
  bucket *b =
      nprof__arena_alloc(&arena, sizeof(*b) + (size_t)depth * sizeof(*pcs));
  if (!b)
    return NULL;
  memset(b, 0, sizeof(*b));
  b->hash = h;
  b->size = size;
  b->depth = depth;
  memcpy(b->pcs, pcs, (size_t)depth * sizeof(*pcs));
  size_t j = h & (buckets_hash_cap - 1);
  b->next = buckets_hash[j];
  buckets_hash[j] = b;
  buckets_count++;
  return b;
}

/* Called with lock. Returns a free slot index or SIZE_MAX. */
static size_t slot_take(void)
{
  if (slots_free_head != SIZE_MAX) {
    size_t i = slots_free_head;
    slots_free_head = slots[i].size;
    return i;
  }
  if (slots_used == slots_cap) {
    size_t cap = slots_cap ? slots_cap * 2 : 16384;
    if (cap > UINT32_MAX)
      return SIZE_MAX;
    live_slot *t = nprof__pages_alloc(cap * sizeof(*t));
    if (!t)
      return SIZE_MAX;
    if (slots)
      memcpy(t, slots, slots_cap * sizeof(*t));
    nprof__pages_free(slots, slots_cap * sizeof(*slots));
    slots = t;
    slots_cap = cap;
  }
  return slots_used++;
}

int64_t nprof__heap_record_alloc(void *p, size_t size, const uintptr_t *pcs,
                                 int depth)
{
  int64_t result = -1;
  pthread_mutex_lock(&lock);
  bucket *b = bucket_get(pcs, depth, size);
  if (!b)
    goto out;
  size_t i = slot_take();
  if (i == SIZE_MAX)
    goto out;
  slots[i].ptr = p;
  slots[i].b = b;
  slots[i].size = size;
  b->allocs++;
  b->alloc_bytes += (int64_t)size;
  live_count++;
  samples_total++;
  result = (int64_t)i;
out:
  pthread_mutex_unlock(&lock);
  return result;
}

/* Called with lock. The slot of `p` when `p` is a live sampled block. */
static live_slot *slot_of(const void *p)
{
  uint32_t i = nprof__heap_header_of(p)->slot;
  if (i >= slots_used || slots[i].ptr != p)
    return NULL;
  return &slots[i];
}

bool nprof__heap_record_free(void *p, size_t *size)
{
  pthread_mutex_lock(&lock);
  live_slot *s = slot_of(p);
  if (s) {
    *size = s->size;
    s->b->frees++;
    s->b->free_bytes += (int64_t)s->size;
    s->ptr = NULL;
    s->b = NULL;
    s->size = slots_free_head;
    slots_free_head = (size_t)(s - slots);
    live_count--;
  }
  pthread_mutex_unlock(&lock);
  return s != NULL;
}

bool nprof__heap_sampled_size(const void *p, size_t *size)
{
  pthread_mutex_lock(&lock);
  live_slot *s = slot_of(p);
  if (s)
    *size = s->size;
  pthread_mutex_unlock(&lock);
  return s != NULL;
}

long nprof__heap_snapshot(nprof__heap_record **out)
{
  nprof__t_internal++;
  long result;
  nprof__heap_record *recs = NULL;
  size_t cap = 0;
  /* Allocate outside the lock (malloc may sample and need it); retry if
   * buckets appeared meanwhile. */
  for (;;) {
    pthread_mutex_lock(&lock);
    size_t n = (size_t)buckets_count;
    if (recs && n <= cap) { /* never NULL, even when empty */
      size_t k = 0;
      for (size_t i = 0; i < buckets_hash_cap; i++)
        for (bucket *b = buckets_hash[i]; b; b = b->next) {
          recs[k].id = b;
          recs[k].pcs = b->pcs;
          recs[k].depth = b->depth;
          recs[k].size = b->size;
          recs[k].allocs = b->allocs;
          recs[k].alloc_bytes = b->alloc_bytes;
          recs[k].frees = b->frees;
          recs[k].free_bytes = b->free_bytes;
          k++;
        }
      pthread_mutex_unlock(&lock);
      result = (long)k;
      break;
    }
    pthread_mutex_unlock(&lock);
    free(recs);
    cap = n + 64;
    recs = malloc(cap * sizeof(*recs));
    if (!recs) {
      result = NPROF_ENOMEM;
      break;
    }
  }
  if (result >= 0)
    *out = recs;
  else
    free(recs);
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
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  if (n < 0)
    return;
  for (long i = 0; i < n; i++) {
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
  pthread_mutex_lock(&lock);
  st->samples = samples_total;
  st->live_samples = live_count;
  st->buckets = buckets_count;
  pthread_mutex_unlock(&lock);
}
