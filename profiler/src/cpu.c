/*
 * CPU profiling: every thread sampled in proportion to the CPU time it uses.
 *
 * As Go's runtime does on Linux, each thread gets its own POSIX timer on its
 * CPU-time clock (timer_create on the thread's CLOCK_THREAD_CPUTIME_ID,
 * built from its tid) that sends SIGPROF to that very thread
 * (SIGEV_THREAD_ID) every 1/hz seconds of the thread's CPU time. A busy
 * thread is sampled hz times per CPU second whatever the others do; a thread
 * that sleeps is never interrupted, so profiling does not turn blocking calls
 * into EINTR storms.
 *
 * Threads: the controlling thread lists /proc/self/task at the start and
 * every POLL_NS after; threads created through pthread_create (interposed,
 * interpose.c) arm their own timer as they start (nprof__cpu_thread_started),
 * so a thread born during the profile is covered from its first instruction.
 *
 * Samples: the SIGPROF handler unwinds the interrupted context straight into
 * a slot of a preallocated lock-free ring (Vyukov's bounded queue: a
 * per-slot sequence number, one atomic increment to claim a slot); it never
 * allocates, locks or logs. A full ring drops the sample and counts it. The
 * controlling thread drains the ring off the signal path and aggregates.
 *
 * SIGPROF: the profile refuses to start when the application installed a
 * SIGPROF handler of its own (it is never replaced). When the profile ends,
 * every timer is deleted first; then SIGPROF is set to SIG_IGN, which
 * discards any instance still pending on any thread, so a late signal cannot
 * meet the default action (which would kill the process); then the handlers
 * still running drain out and the previous disposition comes back.
 */
#include "internal.h"
#include "npc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define RING_SLOTS 2048 /* power of two; ~1.1 MiB */
#define MAX_TIMERS 4096
#define POLL_NS (50 * 1000000LL)

/* The kernel's clock id for a thread's CPU clock (CPUCLOCK_SCHED with the
 * per-thread bit), as glibc's pthread_getcpuclockid builds it. */
static clockid_t thread_cpu_clock(pid_t tid)
{
  return (clockid_t)((~(unsigned)tid << 3) | 6);
}

typedef struct ring_slot {
  atomic_size_t seq;
  nprof__cpu_sample s;
} ring_slot;

typedef struct timer_entry {
  pid_t tid;
  bool seen; /* found in the latest task listing */
  timer_t timer;
} timer_entry;

/* The ring: written by handlers (slot claim is lock-free), read by the
 * controlling thread. Allocated once, never freed: a handler that runs
 * late still writes into valid memory. */
static ring_slot *ring;
static atomic_size_t ring_head;
static size_t ring_tail; /* controlling thread only */

/* Read in the SIGPROF handler. */
static atomic_int sampling;
static atomic_int inflight;
static atomic_llong lost;

/* Session state. `busy` makes a session exclusive; the timer table and
 * `period_ns` are guarded by timers_lock (the controlling thread and
 * starting threads arm timers). */
static atomic_int busy;
static pthread_mutex_t timers_lock = PTHREAD_MUTEX_INITIALIZER;
static timer_entry *timers;
static size_t ntimers;
static int64_t period_ns;
static struct sigaction saved_action;
static int64_t last_scan_ns;

static void on_sigprof(int sig, siginfo_t *info, void *uc)
{
  (void)sig;
  int saved = errno;
  /* Interrupted inside the profiler (maybe inside libunwind itself)? */
  bool in_profiler = nprof__t_internal != 0;
  /* Profiler code for the whole run: libunwind takes its own lock through
   * the interposed pthread_mutex_lock, which must go straight through
   * (recording that wait would unwind again and take the same lock). */
  nprof__t_internal++;
  atomic_fetch_add(&inflight, 1);
  if (info && info->si_code == SI_TIMER && atomic_load(&sampling) && ring) {
    size_t pos = atomic_load_explicit(&ring_head, memory_order_relaxed);
    ring_slot *slot = NULL;
    for (;;) {
      ring_slot *c = &ring[pos & (RING_SLOTS - 1)];
      size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
      intptr_t dif = (intptr_t)seq - (intptr_t)pos;
      if (dif == 0) {
        if (atomic_compare_exchange_weak_explicit(&ring_head, &pos, pos + 1,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
          slot = c;
          break;
        }
      } else if (dif < 0) {
        break; /* full */
      } else {
        pos = atomic_load_explicit(&ring_head, memory_order_relaxed);
      }
    }
    if (slot) {
      slot->s.tid = (pid_t)syscall(SYS_gettid);
      slot->s.time_ns = npc_mono_ns();
      if (in_profiler) {
        /* Do not unwind again (libunwind may be mid-update): keep the
         * exact pc. */
        ucontext_t *u = uc;
#if defined(__x86_64__)
        slot->s.pcs[0] = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
        slot->s.depth = 1;
#elif defined(__aarch64__)
        slot->s.pcs[0] = (uintptr_t)u->uc_mcontext.pc;
        slot->s.depth = 1;
#else
        (void)u;
        slot->s.depth = 0;
#endif
      } else {
        slot->s.depth =
            nprof__stack_capture_signal(slot->s.pcs, NPROF_MAX_DEPTH, uc);
      }
      atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
    } else {
      atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
    }
  }
  atomic_fetch_sub(&inflight, 1);
  nprof__t_internal--;
  errno = saved;
}

/* Hands every complete sample to `fn`; stops at a slot still being
 * written (the next drain picks it up). */
static void drain(nprof__cpu_sink_fn fn, void *arg)
{
  for (;;) {
    ring_slot *c = &ring[ring_tail & (RING_SLOTS - 1)];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if (seq != ring_tail + 1)
      return;
    if (fn)
      fn(&c->s, arg);
    atomic_store_explicit(&c->seq, ring_tail + RING_SLOTS,
                          memory_order_release);
    ring_tail++;
  }
}

long nprof__cpu_hz_default(void)
{
  return nprof__config_get()->cpu_hz;
}

/* Called with timers_lock. Arms a timer on `tid`'s CPU clock unless it has
 * one. Returns false when the thread is gone or the table is full. */
static bool arm(pid_t tid)
{
  for (size_t i = 0; i < ntimers; i++)
    if (timers[i].tid == tid) {
      timers[i].seen = true;
      return true;
    }
  if (ntimers == MAX_TIMERS)
    return false;
  struct sigevent sev;
  memset(&sev, 0, sizeof(sev));
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
  sev._sigev_un._tid = tid;
  timer_t t;
  if (timer_create(thread_cpu_clock(tid), &sev, &t) != 0)
    return false; /* exited meanwhile */
  struct itimerspec its = {
      .it_interval = {period_ns / 1000000000, period_ns % 1000000000},
      .it_value = {period_ns / 1000000000, period_ns % 1000000000},
  };
  if (timer_settime(t, 0, &its, NULL) != 0) {
    timer_delete(t);
    return false;
  }
  timers[ntimers++] = (timer_entry){.tid = tid, .seen = true, .timer = t};
  return true;
}

/* Arms timers on threads that appeared, deletes those of threads that
 * exited (their tid may come back as a new thread). */
static void scan_tasks(void)
{
  pid_t *tids;
  long n = nprof__tasks_list(&tids);
  if (n < 0)
    return;
  pthread_mutex_lock(&timers_lock);
  for (size_t i = 0; i < ntimers; i++)
    timers[i].seen = false;
  for (long i = 0; i < n; i++)
    arm(tids[i]);
  for (size_t i = 0; i < ntimers;) {
    if (!timers[i].seen) {
      timer_delete(timers[i].timer);
      timers[i] = timers[--ntimers];
    } else {
      i++;
    }
  }
  pthread_mutex_unlock(&timers_lock);
  free(tids);
  last_scan_ns = npc_mono_ns();
}

void nprof__cpu_thread_started(void)
{
  if (!atomic_load_explicit(&sampling, memory_order_relaxed))
    return;
  nprof__t_internal++;
  pthread_mutex_lock(&timers_lock);
  if (atomic_load(&sampling) && timers)
    arm((pid_t)syscall(SYS_gettid));
  pthread_mutex_unlock(&timers_lock);
  nprof__t_internal--;
}

int nprof__cpu_start(long hz)
{
  if (hz < 1 || hz > NPROF_MAX_CPU_HZ)
    return NPROF_EINVAL;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&busy, &expected, 1))
    return NPROF_EBUSY;
  int result = 0;
  if (!ring) {
    ring = nprof__pages_alloc(RING_SLOTS * sizeof(ring_slot));
    if (!ring) {
      result = NPROF_ENOMEM;
      goto fail;
    }
  }
  for (size_t i = 0; i < RING_SLOTS; i++)
    atomic_store(&ring[i].seq, i);
  atomic_store(&ring_head, 0);
  ring_tail = 0;
  atomic_store(&lost, 0);
  timers = calloc(MAX_TIMERS, sizeof(*timers));
  if (!timers) {
    result = NPROF_ENOMEM;
    goto fail;
  }
  ntimers = 0;
  period_ns = 1000000000LL / hz;

  struct sigaction old;
  if (sigaction(SIGPROF, NULL, &old) != 0) {
    result = NPROF_ESYSTEM;
    goto fail;
  }
  bool app_handler =
      (old.sa_flags & SA_SIGINFO)
          ? old.sa_sigaction != on_sigprof
          : old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
  if (app_handler) {
    result = NPROF_ESIGNAL;
    goto fail;
  }
  saved_action = old;
  if ((result = nprof__signal_install(SIGPROF, on_sigprof)) != 0)
    goto fail;
  atomic_store(&sampling, 1);
  scan_tasks();
  return 0;
fail:
  free(timers);
  timers = NULL;
  atomic_store(&busy, 0);
  return result;
}

void nprof__cpu_poll(nprof__cpu_sink_fn fn, void *arg)
{
  if (npc_mono_ns() - last_scan_ns >= POLL_NS)
    scan_tasks();
  drain(fn, arg);
}

void nprof__cpu_stop(nprof__cpu_sink_fn fn, void *arg)
{
  pthread_mutex_lock(&timers_lock);
  atomic_store(&sampling, 0);
  for (size_t i = 0; i < ntimers; i++)
    timer_delete(timers[i].timer);
  ntimers = 0;
  free(timers);
  timers = NULL;
  pthread_mutex_unlock(&timers_lock);

  /* No timer exists any more; SIG_IGN discards whatever SIGPROF is still
   * pending, on every thread. Then wait (bounded) for handlers already
   * running, and give the application its disposition back unless it
   * installed a handler of its own meanwhile. */
  struct sigaction ign, cur;
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPROF, NULL, &cur);
  bool mine = nprof__signal_is(&cur, on_sigprof);
  if (mine)
    sigaction(SIGPROF, &ign, NULL);
  int64_t deadline = npc_mono_ns() + 1000000000LL;
  while (atomic_load(&inflight) && npc_mono_ns() < deadline) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  if (mine)
    sigaction(SIGPROF, &saved_action, NULL);
  drain(fn, arg);
  atomic_store(&busy, 0);
}

void nprof__cpu_fork_child(void)
{
  /* POSIX timers are not inherited and the controlling thread does not
   * exist in the child: end the session there, give SIGPROF back. */
  pthread_mutex_init(&timers_lock, NULL);
  if (!atomic_load(&busy))
    return;
  atomic_store(&sampling, 0);
  struct sigaction cur;
  sigaction(SIGPROF, NULL, &cur);
  if (nprof__signal_is(&cur, on_sigprof)) {
    struct sigaction ign;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPROF, &ign, NULL);
    sigaction(SIGPROF, &saved_action, NULL);
  }
  free(timers);
  timers = NULL;
  ntimers = 0;
  atomic_store(&busy, 0);
}

int nprof__cpu_active(void)
{
  return atomic_load(&sampling);
}

int64_t nprof__cpu_lost(void)
{
  return atomic_load(&lost);
}

/* ---- aggregation (off the signal path) ---- */

static uint64_t hash_sample(pid_t tid, const uintptr_t *pcs, int depth)
{
  uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)tid;
  for (int i = 0; i < depth; i++) {
    h ^= pcs[i];
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return h ? h : 1;
}

static int index_grow(nprof__cpu_data *d)
{
  size_t cap = d->index_cap ? d->index_cap * 2 : 1024;
  uint32_t *idx = calloc(cap, sizeof(*idx));
  if (!idx)
    return NPROF_ENOMEM;
  for (size_t i = 0; i < d->nstacks; i++) {
    size_t j = d->stacks[i].hash & (cap - 1);
    while (idx[j])
      j = (j + 1) & (cap - 1);
    idx[j] = (uint32_t)i + 1;
  }
  free(d->index);
  d->index = idx;
  d->index_cap = cap;
  return 0;
}

static void name_thread(nprof__cpu_data *d, pid_t tid)
{
  for (size_t i = 0; i < d->nthreads; i++)
    if (d->threads[i].tid == tid)
      return;
  if (d->nthreads == d->threads_cap) {
    nprof__cpu_thread *t =
        npc_grow(d->threads, &d->threads_cap, sizeof(*t), 16);
    if (!t)
      return;
    d->threads = t;
  }
  nprof__cpu_thread *t = &d->threads[d->nthreads++];
  t->tid = tid;
  nprof__task_name(tid, t->name);
}

const char *nprof__cpu_thread_name(const nprof__cpu_data *d, pid_t tid)
{
  for (size_t i = 0; i < d->nthreads; i++)
    if (d->threads[i].tid == tid)
      return d->threads[i].name;
  return "?";
}

void nprof__cpu_data_add(const nprof__cpu_sample *s, void *arg)
{
  nprof__cpu_data *d = arg;
  if (d->rc)
    return;
  d->samples++;
  uint64_t h = hash_sample(s->tid, s->pcs, s->depth);
  if ((d->nstacks + 1) * 2 > d->index_cap && (d->rc = index_grow(d)) != 0)
    return;
  size_t j = h & (d->index_cap - 1);
  while (d->index[j]) {
    nprof__cpu_stack *e = &d->stacks[d->index[j] - 1];
    if (e->hash == h && e->tid == s->tid && e->depth == s->depth &&
        memcmp(e->pcs, s->pcs, (size_t)s->depth * sizeof(uintptr_t)) == 0)
      break;
    j = (j + 1) & (d->index_cap - 1);
  }
  uint32_t k = d->index[j];
  if (!k) {
    if (d->nstacks == d->stacks_cap) {
      nprof__cpu_stack *st =
          npc_grow(d->stacks, &d->stacks_cap, sizeof(*st), 256);
      if (!st) {
        d->rc = NPROF_ENOMEM;
        return;
      }
      d->stacks = st;
    }
    nprof__cpu_stack *e = &d->stacks[d->nstacks++];
    e->hash = h;
    e->tid = s->tid;
    e->depth = s->depth;
    e->count = 0;
    memcpy(e->pcs, s->pcs, (size_t)s->depth * sizeof(uintptr_t));
    k = d->index[j] = (uint32_t)d->nstacks;
    name_thread(d, s->tid);
  }
  d->stacks[k - 1].count++;
  if (d->keep_events) {
    if (d->nevents == d->events_cap) {
      if (d->events_cap >= NPROF_MAX_TRACE_EVENTS) {
        d->events_dropped++;
        return;
      }
      nprof__cpu_event *ev =
          npc_grow(d->events, &d->events_cap, sizeof(*ev), 1024);
      if (!ev) {
        d->events_dropped++;
        return;
      }
      d->events = ev;
    }
    d->events[d->nevents++] = (nprof__cpu_event){
        .time_ns = s->time_ns, .tid = s->tid, .stack = k - 1};
  }
}

void nprof__cpu_data_free(nprof__cpu_data *d)
{
  if (!d)
    return;
  free(d->stacks);
  free(d->index);
  free(d->events);
  free(d->threads);
  memset(d, 0, sizeof(*d));
}

int nprof__cpu_run(long hz, int64_t duration_ns, nprof__cpu_data *d)
{
  int rc = nprof__cpu_start(hz);
  if (rc)
    return rc;
  d->hz = hz;
  d->start_ns = npc_mono_ns();
  int64_t end = d->start_ns + duration_ns;
  bool stopped = false;
  for (;;) {
    int64_t left = end - npc_mono_ns();
    if (left <= 0)
      break;
    if (!nprof__server_sleep_ns(left < POLL_NS ? left : POLL_NS)) {
      stopped = true;
      break;
    }
    nprof__cpu_poll(nprof__cpu_data_add, d);
  }
  nprof__cpu_stop(nprof__cpu_data_add, d);
  d->duration_ns = npc_mono_ns() - d->start_ns;
  d->lost = nprof__cpu_lost();
  if (stopped)
    return NPROF_ECANCELED;
  return d->rc;
}
