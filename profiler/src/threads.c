/*
 * Every thread's stack at the moment of a request (the C analogue of Go's
 * goroutine profile).
 *
 * The requesting thread lists /proc/self/task, prepares one slot per thread
 * in memory allocated before any signal is sent, and sends each thread the
 * capture signal with tgkill(). The handler finds its slot by tid, unwinds
 * from the interrupted context with libunwind (async-signal-safe for local
 * unwinding) and marks the slot done. The requester waits for all slots with
 * a deadline; a thread that blocks the signal is reported without a stack.
 *
 * The capture (its slots included) is one heap block that handlers reach
 * only through `current`. A handler that is still running when the
 * requester's drain gives up (1 s) may write its slot later: the block is
 * then left to it (kept on `late`, never reused), so the late write lands
 * in memory nobody else owns, and freed by the first capture that finds
 * no handler running (none can hold an old capture then: a handler reads
 * `current` once, on entry). After MAX_LEAKED such captures with handlers
 * still stuck, captures stop sending signals (every other thread is listed
 * without a stack) until the stuck handlers return: memory stays bounded.
 *
 * The capture signal is a real-time signal whose disposition was SIG_DFL
 * (or NPROF_SIGNAL): an application's own handlers are never replaced. The
 * handler stays installed for the life of the process, because a signal that
 * arrives late must never meet the default action (which would kill it).
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
#include <unistd.h>

enum { SLOT_WAITING = 0, SLOT_BUSY = 1, SLOT_DONE = 2 };

typedef struct capture_slot {
  pid_t tid;
  atomic_int state;
  int depth;
  uintptr_t pcs[NPROF_MAX_DEPTH];
} capture_slot;

typedef struct capture {
  size_t n;
  capture_slot slots[];
} capture;

#define MAX_LEAKED 8

/* Read in the signal handler: the capture in progress, or NULL. Written by
 * the requester under capture_lock. `inflight` counts handlers that may be
 * looking at a capture, so the requester frees one only once it is zero;
 * `leaked` counts the captures left to late handlers (requester only). */
static _Atomic(capture *) current;
atomic_llong nprof__threads_test_delay_ns;
static atomic_int inflight;
static int leaked;
static capture *late[MAX_LEAKED]; /* the captures left to late handlers */
static int capture_signal;
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void on_capture_signal(int sig, siginfo_t *info, void *uc)
{
  (void)sig;
  (void)info;
  int saved = errno;
  /* Profiler code for the whole run: libunwind takes its own lock through
   * the interposed pthread_mutex_lock, which must go straight through
   * (recording that wait would unwind again and take the same lock). */
  nprof__t_internal++;
  atomic_fetch_add(&inflight, 1);
  capture *c = atomic_load(&current);
  int64_t delay =
      atomic_load_explicit(&nprof__threads_test_delay_ns, memory_order_relaxed);
  if (nprof__unlikely(delay > 0)) {
    struct timespec ts = {delay / 1000000000, delay % 1000000000};
    nanosleep(&ts, NULL); /* async-signal-safe */
  }
  if (c) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    for (size_t i = 0; i < c->n; i++) {
      capture_slot *s = &c->slots[i];
      int expected = SLOT_WAITING;
      if (s->tid == tid &&
          atomic_compare_exchange_strong(&s->state, &expected, SLOT_BUSY)) {
        s->depth = nprof__stack_capture_signal(s->pcs, NPROF_MAX_DEPTH, uc);
        atomic_store(&s->state, SLOT_DONE);
        break;
      }
    }
  }
  atomic_fetch_sub(&inflight, 1);
  nprof__t_internal--;
  errno = saved;
}

static int signal_is_free(int sig)
{
  struct sigaction old;
  if (sigaction(sig, NULL, &old) != 0)
    return 0;
  return !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
}

static void init(void)
{
  int sig = 0;
  const char *env = getenv("NPROF_SIGNAL");
  if (env) {
    long v;
    if (nprof__parse_long(env, SIGRTMIN, SIGRTMAX, &v) == 0 &&
        signal_is_free((int)v)) {
      sig = (int)v;
    } else {
      nprof__log("NPROF_SIGNAL=%s is not a free real-time signal (%d..%d)", env,
                 SIGRTMIN, SIGRTMAX);
    }
  }
  for (int s = SIGRTMAX - 1; !sig && s > SIGRTMIN + 2; s--)
    if (signal_is_free(s))
      sig = s;
  if (!sig) {
    init_result = NPROF_ESYSTEM;
    return;
  }
  if ((init_result = nprof__signal_install(sig, on_capture_signal)) != 0)
    return;
  capture_signal = sig;
}

int nprof__threads_init(void)
{
  pthread_once(&init_once, init);
  return init_result;
}

int nprof__threads_signal(void)
{
  return nprof__threads_init() == 0 ? capture_signal : 0;
}

long nprof__threads_count(void)
{
  pid_t *tids;
  long n = nprof__tasks_list(&tids);
  if (n >= 0)
    free(tids);
  return n;
}

long nprof__threads_capture(nprof__thread **out)
{
  int rc = nprof__threads_init();
  if (rc)
    return rc;
  pid_t *tids;
  long n = nprof__tasks_list(&tids);
  if (n < 0)
    return n;
  capture *c = calloc(1, sizeof(*c) + (size_t)n * sizeof(capture_slot));
  nprof__thread *threads = calloc((size_t)n, sizeof(*threads));
  if (!c || !threads) {
    free(c);
    free(threads);
    free(tids);
    return NPROF_ENOMEM;
  }
  c->n = (size_t)n;
  pid_t self = (pid_t)syscall(SYS_gettid);
  pid_t pid = getpid();
  uint64_t bit = (uint64_t)1 << (capture_signal - 1);

  pthread_mutex_lock(&capture_lock);
  /* The handler is installed for good at start-up, but the application
   * may have replaced it since: then the signal is the application's, and
   * sending it would run the application's handler on every thread. */
  struct sigaction cur;
  if (sigaction(capture_signal, NULL, &cur) != 0 ||
      !nprof__signal_is(&cur, on_capture_signal)) {
    pthread_mutex_unlock(&capture_lock);
    free(c);
    free(threads);
    free(tids);
    return NPROF_ESIGNAL;
  }
  /* Handlers of earlier captures still stuck: send nothing (a capture
   * that no handler can see is never leaked). */
  if (atomic_load(&inflight) == 0) {
    for (int i = 0; i < leaked; i++)
      free(late[i]);
    leaked = 0;
  }
  bool send = leaked < MAX_LEAKED;
  for (long i = 0; i < n; i++) {
    c->slots[i].tid = tids[i];
    threads[i].tid = tids[i];
    threads[i].state = '?';
    nprof__task_name(tids[i], threads[i].name);
  }
  if (send)
    atomic_store(&current, c);
  size_t pending = 0;
  for (long i = 0; i < n; i++) {
    capture_slot *s = &c->slots[i];
    nprof__task_status st;
    if (nprof__task_status_read(s->tid, &st) == NPROF_ENOENT) {
      s->tid = 0; /* exited meanwhile */
      continue;
    }
    threads[i].state = st.state;
    if (s->tid == self) {
      s->depth = nprof__stack_capture(s->pcs, NPROF_MAX_DEPTH, 0);
      atomic_store(&s->state, SLOT_DONE);
    } else if ((st.sigblk & bit) || st.in_sigwait || !send) {
      /* The thread blocks the signal: it would stay queued (one per
       * request, until RLIMIT_SIGPENDING runs out), or a thread that
       * waits for signals with sigwaitinfo() would take it as its own.
       * Listed without a stack. A thread that blocks it (or starts
       * waiting) between these reads and the send still gets one: there
       * is no atomic way to ask. */
    } else if (syscall(SYS_tgkill, pid, s->tid, capture_signal) == 0) {
      pending++;
    } else {
      s->tid = 0; /* exited meanwhile */
    }
  }
  /* Wait for the answers: a thread runs its handler as soon as it is
   * scheduled. Bounded: 200 ms plus 1 ms per hundred threads. */
  int64_t deadline = npc_mono_ns() + (200 + n / 100) * 1000000LL;
  while (pending && npc_mono_ns() < deadline) {
    size_t done = 0;
    for (long i = 0; i < n; i++)
      if (c->slots[i].tid && c->slots[i].tid != self &&
          atomic_load(&c->slots[i].state) == SLOT_DONE)
        done++;
    if (done == pending)
      break;
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&current, NULL);
  /* A handler that read `current` before the store may still write its
   * slot; wait for it (bounded) before the capture goes. */
  int64_t drain = npc_mono_ns() + 1000000000LL;
  while (send && atomic_load(&inflight) && npc_mono_ns() < drain) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  bool leak = send && atomic_load(&inflight) != 0;
  if (leak)
    late[leaked] = c; /* send: leaked < MAX_LEAKED */
  if (leak && ++leaked == MAX_LEAKED)
    nprof__log("thread capture handlers have not returned for %d captures: "
               "thread stacks are off until they do",
               MAX_LEAKED);

  /* A late handler may still be writing its slot: the slot reads DONE
   * only once the stack in it is complete. Still under capture_lock: once
   * the late handlers return, the next capture frees a leaked `c`. */
  size_t k = 0;
  for (long i = 0; i < n; i++) {
    capture_slot *s = &c->slots[i];
    if (!s->tid)
      continue;
    nprof__thread *t = &threads[k++];
    if (t != &threads[i])
      *t = threads[i];
    if (atomic_load(&s->state) == SLOT_DONE) {
      t->depth = s->depth;
      memcpy(t->pcs, s->pcs, (size_t)s->depth * sizeof(uintptr_t));
    } else {
      t->depth = -1;
    }
  }
  pthread_mutex_unlock(&capture_lock);
  /* Never free memory a stuck handler might still write. */
  if (!leak)
    free(c);
  free(tids);
  *out = threads;
  return (long)k;
}

void nprof__threads_fork_child(void)
{
  /* A capture running in another thread of the parent does not exist in
   * the child: drop it, and the lock it may have held. */
  atomic_store(&current, NULL);
  atomic_store(&inflight, 0);
  leaked = 0; /* the parent's late captures stay with the parent's memory */
  pthread_mutex_init(&capture_lock, NULL);
}
