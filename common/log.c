/*
 * One line of log on a file descriptor (stderr, in every program): the
 * notifier's lifecycle lines and libnprof's "said once" messages. libnprof
 * compiles this file in (hidden), as it does file.c: it logs from inside
 * other people's processes, so the line is built on the stack and written
 * with write(2), no stdio and no allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "npc.h"

void npc_log_vline(int fd, const char *prefix, const char *fmt, va_list ap)
{
  int saved = errno;
  char line[NPC_LOG_LINE_MAX + 1];          /* + the NUL snprintf ends with */
  const size_t room = NPC_LOG_LINE_MAX - 1; /* the text before the newline */
  int n = snprintf(line, room + 1, "%s", prefix ? prefix : "");
  size_t len = n < 0 ? 0 : (size_t)n < room ? (size_t)n : room;
  int m = vsnprintf(line + len, room - len + 1, fmt, ap);
  len += m < 0 ? 0 : (size_t)m < room - len ? (size_t)m : room - len;
  line[len++] = '\n';
  /* One write: lines from several threads never interleave. */
  ssize_t rc = write(fd, line, len);
  (void)rc;
  errno = saved;
}

void npc_log_line(int fd, const char *prefix, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  npc_log_vline(fd, prefix, fmt, ap);
  va_end(ap);
}
