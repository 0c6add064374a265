/* Lifecycle logging. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

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
