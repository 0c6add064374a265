/*
 * What libnprof's test programs (known_, workload_ and host_program.c in
 * tests/profiler/) and the unit tests of its CPU, thread and contention
 * profiles share: a thread's CPU clock and short naps, CPU burned in quanta of
 * that clock, threads parked on a pipe, start routines for named functions,
 * named detached threads, and the debug server started the way every test
 * program starts it. Included by the files that need them; all static
 * inline (or a macro), so a file pays only for what it uses.
 */
#ifndef NPROF_TESTS_PROFILER_TESTPROG_H
#define NPROF_TESTS_PROFILER_TESTPROG_H

#include "nprof.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* CPU is burned, and shared between burners, in quanta of 1 ms of a
 * thread's own CPU time. */
#define QUANTUM_NS 1000000LL

static inline int64_t thread_cpu_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void nap_us(long us)
{
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

/* Spins for one quantum of this thread's CPU time. Inlined, so samples
 * land in the calling function itself. */
static inline __attribute__((always_inline)) void burn_quantum(void)
{
  volatile uint64_t x = 1;
  int64_t end = thread_cpu_ns() + QUANTUM_NS;
  while (thread_cpu_ns() < end)
    for (int i = 0; i < 2000; i++)
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
}

/* Two burners keep their CPU time at want_mine : want_other exactly: the
 * one that has burned `mine` quanta against the other's `other` burns the
 * next quantum when it is behind, and sleeps (no CPU) when ahead. */
static inline bool burn_turn(long mine, long want_mine, long other,
                             long want_other)
{
  return mine * want_other < (other + 1) * want_mine;
}

/* A thread's start routine that blocks reading the pipe whose read end
 * `read_fd` points to, until its write end closes. */
static inline void *park_main(void *read_fd)
{
  char c;
  while (read(*(int *)read_fd, &c, 1) < 0)
    ;
  return NULL;
}

/* THREAD_MAIN(fn) defines fn_main, a start routine that runs fn(): the
 * thread's work stays in fn (noinline), which stacks then name. */
#define THREAD_MAIN(fn)                                                        \
  static void *fn##_main(void *arg)                                            \
  {                                                                            \
    (void)arg;                                                                 \
    fn();                                                                      \
    return NULL;                                                               \
  }

/* A detached thread running fn(arg), named `name` unless NULL. */
static inline void start_thread(void *(*fn)(void *), void *arg,
                                const char *name)
{
  pthread_t t;
  if (pthread_create(&t, NULL, fn, arg) != 0)
    return;
  if (name != NULL)
    pthread_setname_np(t, name);
  pthread_detach(t);
}

/* Starts libnprof's debug server on the address in the environment
 * variable `env`, or 127.0.0.1:0 (a port the kernel picks); a program that
 * cannot serve says why and exits 1. The caller prints "listening on
 * ADDR" (nprof_listen_address()) when it is ready for the test. */
static inline void serve_or_exit(const char *env)
{
  nprof_options opts;
  nprof_options_init(&opts);
  opts.listen_addr = getenv(env) ? getenv(env) : "127.0.0.1:0";
  int rc = nprof_start(&opts);
  if (rc != 0) {
    fprintf(stderr, "nprof_start: %s\n", nprof_strerror(rc));
    exit(1);
  }
}

#endif
