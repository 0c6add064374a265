/*
 * The two clocks every program reads, in nanoseconds: the monotonic one for
 * intervals and deadlines, the wall clock for timestamps people and other
 * processes read. libnprof compiles this file in (hidden): it reads the
 * monotonic clock in signal handlers and on contended locks, and
 * clock_gettime is async-signal-safe. Timed waits count on the monotonic
 * clock too (npc_cond_init_monotonic), so a step of the wall clock neither
 * cuts a wait short nor stretches it.
 */
#include <pthread.h>
#include <time.h>

#include "npc.h"

int64_t npc_mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t npc_wall_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec npc_ns_timespec(int64_t ns)
{
  return (struct timespec){(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
}

void npc_cond_init_monotonic(pthread_cond_t *cond)
{
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
}
