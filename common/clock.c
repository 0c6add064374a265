/*
 * The two clocks every program reads, in nanoseconds: the monotonic one for
 * intervals and deadlines, the wall clock for timestamps people and other
 * processes read. libnprof compiles this file in (hidden): it reads the
 * monotonic clock in signal handlers and on contended locks, and
 * clock_gettime is async-signal-safe.
 */
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
