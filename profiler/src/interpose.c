/*
 * Interposed pthread functions: pthread_create for the threadcreate profile
 * (and to arm a new thread's CPU timer as it starts), the lock and wait
 * functions for the mutex and block profiles. Each forwards to the next
 * definition (glibc's), found with dlsym(RTLD_NEXT) once.
 *
 * Cost when contention profiling is off (the default): one relaxed load of
 * a global and a predictable branch before the real call. When it is on, an
 * uncontended lock is a try-lock that succeeds; only a failed try-lock reads
 * the clock, waits in the real lock and reads the clock again. Calls made by
 * profiler code (nprof__t_internal set) always go straight through, so the
 * profiler's own locks, and libunwind's and libdw's inside it, are never
 * sampled and never recurse.
 *
 * Not interposed: pthread_mutex_timedlock/clocklock, pthread_rwlock_timed*,
 * pthread_cond_clockwait, spin locks, and calls glibc makes internally.
 *
 * Left out of sanitizer builds, whose runtimes intercept these functions.
 */
#include "internal.h"
#include "npc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                         void *);
typedef int (*mutex_fn)(pthread_mutex_t *);
typedef int (*rwlock_fn)(pthread_rwlock_t *);
typedef int (*cond_wait_fn)(pthread_cond_t *, pthread_mutex_t *);
typedef int (*cond_timedwait_fn)(pthread_cond_t *, pthread_mutex_t *,
                                 const struct timespec *);

static create_fn real_create;
static mutex_fn real_mutex_lock, real_mutex_trylock;
static rwlock_fn real_rdlock, real_tryrdlock, real_wrlock, real_trywrlock;
static cond_wait_fn real_cond_wait;
static cond_timedwait_fn real_cond_timedwait;

/* Idempotent: several threads may race here before the constructor ran;
 * they store the same values. dlsym does not take pthread locks through
 * the PLT, so this cannot recurse into the interposers. */
static void resolve(void)
{
  nprof__t_internal++;
  real_create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
  real_mutex_lock = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_lock");
  real_mutex_trylock = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_trylock");
  real_rdlock = (rwlock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_rdlock");
  real_tryrdlock = (rwlock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_tryrdlock");
  real_wrlock = (rwlock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_wrlock");
  real_trywrlock = (rwlock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_trywrlock");
  real_cond_wait = (cond_wait_fn)dlsym(RTLD_NEXT, "pthread_cond_wait");
  real_cond_timedwait =
      (cond_timedwait_fn)dlsym(RTLD_NEXT, "pthread_cond_timedwait");
  nprof__t_internal--;
}

__attribute__((constructor(101))) static void interpose_init(void)
{
  if (!real_cond_timedwait)
    resolve();
}

#define REAL(fn) (nprof__likely(fn != NULL) ? fn : (resolve(), fn))

static inline __attribute__((always_inline)) bool sampling(void)
{
  return nprof__unlikely(atomic_load_explicit(&nprof__contention_on,
                                              memory_order_relaxed)) &&
         !nprof__t_internal;
}

/* ---- pthread_create ---- */

typedef struct start_args {
  void *(*fn)(void *);
  void *arg;
  nprof__tc_record *record;
} start_args;

static void *thread_start_trampoline(void *p)
{
  start_args a = *(start_args *)p;
  int saved = errno;
  nprof__t_internal++;
  free(p);
  nprof__t_internal--;
  nprof__threadcreate_adopt(a.record);
  nprof__cpu_thread_started();
  errno = saved;
  return a.fn(a.arg);
}

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg)
{
  create_fn create = REAL(real_create);
  if (!create)
    return EAGAIN;
  int saved = errno;
  nprof__t_internal++;
  start_args *a = malloc(sizeof(*a));
  nprof__t_internal--;
  if (!a) {
    errno = saved;
    return create(thread, attr, fn, arg);
  }
  uintptr_t pcs[NPROF_MAX_DEPTH];
  int depth = nprof__stack_capture(pcs, NPROF_MAX_DEPTH, 1);
  *a = (start_args){
      .fn = fn, .arg = arg, .record = nprof__threadcreate_new(pcs, depth)};
  errno = saved;
  int r = create(thread, attr, thread_start_trampoline, a);
  if (r != 0) {
    saved = errno;
    nprof__threadcreate_remove(a->record);
    nprof__t_internal++;
    free(a);
    nprof__t_internal--;
    errno = saved;
  }
  return r;
}

/* ---- locks ---- */

EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
  if (nprof__likely(!sampling()))
    return REAL(real_mutex_lock)(m);
  int r = REAL(real_mutex_trylock)(m);
  if (r != EBUSY)
    return r;
  int64_t t0 = npc_mono_ns();
  r = real_mutex_lock(m);
  nprof__contention_record(NPROF__WAIT_MUTEX, t0, npc_mono_ns() - t0, 0);
  return r;
}

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
  if (nprof__likely(!sampling()))
    return REAL(real_rdlock)(l);
  int r = REAL(real_tryrdlock)(l);
  if (r != EBUSY)
    return r;
  int64_t t0 = npc_mono_ns();
  r = real_rdlock(l);
  nprof__contention_record(NPROF__WAIT_RWLOCK, t0, npc_mono_ns() - t0, 0);
  return r;
}

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
  if (nprof__likely(!sampling()))
    return REAL(real_wrlock)(l);
  int r = REAL(real_trywrlock)(l);
  if (r != EBUSY)
    return r;
  int64_t t0 = npc_mono_ns();
  r = real_wrlock(l);
  nprof__contention_record(NPROF__WAIT_RWLOCK, t0, npc_mono_ns() - t0, 0);
  return r;
}

/* ---- condition variables (block profile only) ---- */

EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
  if (nprof__likely(!sampling()))
    return REAL(real_cond_wait)(c, m);
  int64_t t0 = npc_mono_ns();
  int r = REAL(real_cond_wait)(c, m);
  nprof__contention_record(NPROF__WAIT_COND, t0, npc_mono_ns() - t0, 0);
  return r;
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                  const struct timespec *abstime)
{
  if (nprof__likely(!sampling()))
    return REAL(real_cond_timedwait)(c, m, abstime);
  int64_t t0 = npc_mono_ns();
  int r = REAL(real_cond_timedwait)(c, m, abstime);
  nprof__contention_record(NPROF__WAIT_COND, t0, npc_mono_ns() - t0, 0);
  return r;
}
