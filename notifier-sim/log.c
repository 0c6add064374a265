/* Lifecycle logging and clocks. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int64_t ntf_now_unix_nanos(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ntf_now_mono_nanos(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ntf_log(const char *fmt, ...)
{
  char prefix[64];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(prefix + n, sizeof prefix - n,
           ".%03ldZ notifier: ", ts.tv_nsec / 1000000);
  va_list ap;
  va_start(ap, fmt);
  npc_log_vline(STDERR_FILENO, prefix, fmt, ap);
  va_end(ap);
}
