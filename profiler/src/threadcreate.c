/*
 * The threadcreate profile: the stack at which each live thread was
 * created. The interposed pthread_create (interpose.c) records the
 * creator's stack and the new thread owns the record through a pthread key;
 * the key's destructor removes it when the thread exits (returning from its
 * start routine or calling pthread_exit). Go's profile counts every thread
 * the runtime ever made, because Go never destroys an M; a C program's
 * threads come and go, so live threads are the useful figure.
 *
 * Not covered: threads created before libnprof was loaded (the main thread,
 * threads from earlier constructors), threads made with clone() directly,
 * and builds with a sanitizer (no interposition there).
 *
 * Records come from malloc (as profiler code, never sampled) and sit on a
 * doubly linked list under `lock`. In a fork child only the forking thread
 * survives: every other record goes.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct nprof__tc_record {
  struct nprof__tc_record *prev, *next;
  uintptr_t stack_lo, stack_hi; /* the thread's stack; 0 until it runs */
  int depth;
  uintptr_t pcs[NPROF_MAX_DEPTH];
};

/* Guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static nprof__tc_record *head;
static long live;
static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool key_ok;
/* The calling thread's own record (for the fork child). */
static _Thread_local nprof__tc_record *t_record
    __attribute__((tls_model("initial-exec")));

static void unlink_record(nprof__tc_record *r)
{
  if (r->prev)
    r->prev->next = r->next;
  else
    head = r->next;
  if (r->next)
    r->next->prev = r->prev;
  live--;
}

static void on_thread_exit(void *p)
{
  nprof__threadcreate_remove(p);
}

static void fork_prepare(void)
{
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
}

static void fork_parent(void)
{
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

static void fork_child(void)
{
  nprof__tc_record *r = head;
  while (r) {
    nprof__tc_record *next = r->next;
    if (r != t_record) {
      unlink_record(r);
      free(r);
    }
    r = next;
  }
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

static void init(void)
{
  key_ok = pthread_key_create(&key, on_thread_exit) == 0;
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

nprof__tc_record *nprof__threadcreate_new(const uintptr_t *pcs, int depth)
{
  nprof__t_internal++;
  pthread_once(&once, init);
  nprof__tc_record *r = malloc(sizeof(*r));
  if (r) {
    r->depth = depth < NPROF_MAX_DEPTH ? depth : NPROF_MAX_DEPTH;
    memcpy(r->pcs, pcs, (size_t)r->depth * sizeof(uintptr_t));
    r->stack_lo = r->stack_hi = 0;
    r->prev = NULL;
    pthread_mutex_lock(&lock);
    r->next = head;
    if (head)
      head->prev = r;
    head = r;
    live++;
    pthread_mutex_unlock(&lock);
  }
  nprof__t_internal--;
  return r;
}

void nprof__threadcreate_adopt(nprof__tc_record *r)
{
  if (!r)
    return;
  /* The new thread's own stack, for /debug/vars' thread_stacks_rss_bytes
   * (glibc computes it from the thread's descriptor: no /proc read). */
  nprof__t_internal++;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void *addr;
    size_t size;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      pthread_mutex_lock(&lock);
      r->stack_lo = (uintptr_t)addr;
      r->stack_hi = (uintptr_t)addr + size;
      pthread_mutex_unlock(&lock);
    }
    pthread_attr_destroy(&attr);
  }
  nprof__t_internal--;
  t_record = r;
  if (!key_ok || pthread_setspecific(key, r) != 0) {
    /* Without a destructor the record would outlive the thread. */
    nprof__threadcreate_remove(r);
    t_record = NULL;
  }
}

void nprof__threadcreate_remove(nprof__tc_record *r)
{
  if (!r)
    return;
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
  unlink_record(r);
  pthread_mutex_unlock(&lock);
  if (t_record == r)
    t_record = NULL;
  free(r);
  nprof__t_internal--;
}

long nprof__threadcreate_count(void)
{
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
  long n = live;
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
  return n;
}

/* Copies something of every live record into an array of `size`-byte
 * elements: fill(v) runs with `lock` held and room for `live` elements in
 * v, and returns how many it wrote. The array is allocated without the
 * lock, for the count seen a moment before (taking the lock again and
 * retrying when threads were created in between), so no allocation ever
 * waits on `lock`. Returns that count (malloc'd array in *out) or
 * NPROF_ENOMEM. */
static long snapshot(size_t size, long (*fill)(void *v), void **out)
{
  nprof__t_internal++;
  void *v = NULL;
  long cap = 0, n;
  int rc = 0;
  for (;;) {
    pthread_mutex_lock(&lock);
    n = live;
    if (v && n <= cap) {
      n = fill(v);
      pthread_mutex_unlock(&lock);
      break;
    }
    pthread_mutex_unlock(&lock);
    free(v);
    cap = n + 16;
    v = malloc((size_t)cap * size);
    if (!v) {
      rc = NPROF_ENOMEM;
      break;
    }
  }
  nprof__t_internal--;
  if (rc)
    return rc;
  *out = v;
  return n;
}

/* Called with lock. */
static long fill_stacks(void *v)
{
  nprof__count_stack *s = v;
  long k = 0;
  for (nprof__tc_record *r = head; r; r = r->next, k++) {
    s[k].depth = r->depth;
    s[k].count = 1;
    memcpy(s[k].pcs, r->pcs, (size_t)r->depth * sizeof(uintptr_t));
  }
  return k;
}

int nprof__threadcreate_stacks(nprof__count_stack **out)
{
  void *v;
  long n = snapshot(sizeof(**out), fill_stacks, &v);
  if (n >= 0)
    *out = v;
  return (int)n;
}

/* Called with lock. */
static long fill_ranges(void *v)
{
  nprof__range *ranges = v;
  long k = 0;
  for (nprof__tc_record *r = head; r; r = r->next)
    if (r->stack_hi > r->stack_lo)
      ranges[k++] = (nprof__range){r->stack_lo, r->stack_hi};
  return k;
}

long nprof__threadcreate_stack_ranges(nprof__range **out)
{
  void *v;
  long n = snapshot(sizeof(**out), fill_ranges, &v);
  if (n >= 0)
    *out = v;
  return n;
}
