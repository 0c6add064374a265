/* Thread stack captures (threads.c) and the /proc task readers they use
 * (procstat.c). */
#include "internal.h"
#include "npc.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static int park_pipe[2];
static _Atomic pid_t parked_tid;

__attribute__((noinline)) static void park_here(void)
{
  char c;
  while (read(park_pipe[0], &c, 1) < 0)
    ;
}

static void *parked_main(void *arg)
{
  (void)arg;
  atomic_store(&parked_tid, (pid_t)syscall(SYS_gettid));
  park_here();
  return NULL;
}

static void start_parked(pthread_t *t)
{
  assert_int_equal(pipe(park_pipe), 0);
  atomic_store(&parked_tid, 0);
  assert_int_equal(pthread_create(t, NULL, parked_main, NULL), 0);
  while (!atomic_load(&parked_tid))
    usleep(1000);
  usleep(20000); /* inside read() by now */
}

static void stop_parked(pthread_t t)
{
  assert_int_equal(write(park_pipe[1], "x", 1), 1);
  pthread_join(t, NULL);
  close(park_pipe[0]);
  close(park_pipe[1]);
}

static const nprof__thread *find(const nprof__thread *t, long n, pid_t tid)
{
  for (long i = 0; i < n; i++)
    if (t[i].tid == tid)
      return &t[i];
  return NULL;
}

static bool has_frame(const nprof__thread *t, const char *fn)
{
  nprof__symbolize_refresh();
  for (int i = 0; i < t->depth; i++) {
    nprof__sym sym;
    nprof__symbolize(t->pcs[i], &sym);
    if (sym.known && strcmp(sym.function, fn) == 0)
      return true;
  }
  return false;
}

static void every_thread_is_captured(void **state)
{
  (void)state;
  pthread_t t;
  start_parked(&t);
  nprof__thread *threads;
  long n = nprof__threads_capture(&threads);
  assert_true(n >= 2);
  const nprof__thread *p = find(threads, n, atomic_load(&parked_tid));
  assert_non_null(p);
  assert_true(p->depth > 0);
  assert_true(has_frame(p, "park_here"));
  const nprof__thread *me = find(threads, n, (pid_t)syscall(SYS_gettid));
  assert_non_null(me);
  assert_true(has_frame(me, "every_thread_is_captured"));
  free(threads);
  stop_parked(t);
}

__attribute__((noinline)) static long capture_in_own_frame(nprof__thread **out)
{
  return nprof__threads_capture(out);
}

/* Fills the stack below the caller with a pattern, as any later call
 * would with its own data. */
__attribute__((noinline)) static void scribble_stack(void)
{
  volatile char junk[64 * 1024];
  for (size_t i = 0; i < sizeof(junk); i++)
    junk[i] = 0x41;
}

/* A handler that runs past the requester's drain (1 s) must find the
 * capture's memory still there: the requester has returned and its stack
 * is reused. Before, the capture lived on that stack and the late handler
 * read the pattern below as its slot table and crashed. */
static void late_handler_touches_only_memory_it_owns(void **state)
{
  (void)state;
  pthread_t t;
  start_parked(&t);
  atomic_store(&nprof__threads_test_delay_ns, 1500 * 1000000LL);
  nprof__thread *threads;
  int64_t t0 = npc_mono_ns();
  long n = capture_in_own_frame(&threads);
  int64_t took = npc_mono_ns() - t0;
  atomic_store(&nprof__threads_test_delay_ns, 0);
  assert_true(n >= 2);
  /* The late thread is listed without a stack, in bounded time. */
  const nprof__thread *p = find(threads, n, atomic_load(&parked_tid));
  assert_non_null(p);
  assert_int_equal(p->depth, -1);
  assert_true(took < 1400 * 1000000LL);
  free(threads);
  scribble_stack();
  /* The delayed handlers finish meanwhile (within 1.5 s of the signal). */
  usleep(800 * 1000);
  /* And the next capture works. */
  n = capture_in_own_frame(&threads);
  p = find(threads, n, atomic_load(&parked_tid));
  assert_non_null(p);
  assert_true(p->depth > 0);
  free(threads);
  stop_parked(t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_thread_is_captured),
      cmocka_unit_test(late_handler_touches_only_memory_it_owns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
