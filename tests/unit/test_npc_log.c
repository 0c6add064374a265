/* One line of log (common/log.c): prefix, message and newline in one
 * write, long messages cut to the line's cap with the newline kept, errno
 * left as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npc.h"

/* Everything written to the pipe so far (at most `size` - 1 bytes). */
static size_t drain(int fd, char *buf, size_t size)
{
  size_t have = 0;
  ssize_t n;
  while (have < size - 1 && (n = read(fd, buf + have, size - 1 - have)) > 0)
    have += (size_t)n;
  buf[have] = '\0';
  return have;
}

static void prefix_message_and_newline(void **state)
{
  (void)state;
  int p[2];
  assert_int_equal(pipe2(p, O_NONBLOCK), 0);
  npc_log_line(p[1], "nprof: ", "bad value %s (%d)", "x", 42);
  npc_log_line(p[1], NULL, "no prefix");
  char buf[256];
  drain(p[0], buf, sizeof(buf));
  assert_string_equal(buf, "nprof: bad value x (42)\nno prefix\n");
  close(p[0]);
  close(p[1]);
}

static void long_lines_are_cut_and_end_in_a_newline(void **state)
{
  (void)state;
  int p[2];
  assert_int_equal(pipe2(p, O_NONBLOCK), 0);
  char *msg = malloc(3 * NPC_LOG_LINE_MAX);
  memset(msg, 'm', 3 * NPC_LOG_LINE_MAX - 1);
  msg[3 * NPC_LOG_LINE_MAX - 1] = '\0';
  npc_log_line(p[1], "notifier: ", "%s", msg);
  /* A prefix longer than the line: cut too, still one line. */
  npc_log_line(p[1], msg, "lost");
  char buf[4 * NPC_LOG_LINE_MAX];
  size_t n = drain(p[0], buf, sizeof(buf));
  assert_int_equal(n, 2 * NPC_LOG_LINE_MAX);
  assert_true(strncmp(buf, "notifier: mmm", 13) == 0);
  assert_int_equal(buf[NPC_LOG_LINE_MAX - 1], '\n');
  assert_int_equal(buf[n - 1], '\n');
  assert_null(memchr(buf, '\n', NPC_LOG_LINE_MAX - 1));
  assert_null(strstr(buf, "lost"));
  free(msg);
  close(p[0]);
  close(p[1]);
}

static void errno_is_kept(void **state)
{
  (void)state;
  errno = ERANGE;
  npc_log_line(-1, "x: ", "to nowhere"); /* write fails with EBADF */
  assert_int_equal(errno, ERANGE);
}

/* Lines written at once from several threads arrive whole. */
enum { THREADS = 4, LINES = 200 };
static int shared_pipe[2];

static void *writer(void *arg)
{
  for (int i = 0; i < LINES; i++)
    npc_log_line(shared_pipe[1], "t: ", "%c%0300d", *(char *)arg, i);
  return NULL;
}

static void lines_from_threads_do_not_interleave(void **state)
{
  (void)state;
  assert_int_equal(pipe(shared_pipe), 0);
  /* Big enough that no writer blocks before the reader starts. */
  fcntl(shared_pipe[1], F_SETPIPE_SZ, 1 << 20);
  pthread_t t[THREADS];
  char names[THREADS] = {'a', 'b', 'c', 'd'};
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, writer, &names[i]), 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  close(shared_pipe[1]);
  size_t cap = (size_t)THREADS * LINES * 320;
  char *buf = malloc(cap);
  size_t n = drain(shared_pipe[0], buf, cap);
  close(shared_pipe[0]);
  int lines = 0;
  for (char *line = buf; line < buf + n; lines++) {
    char *nl = strchr(line, '\n');
    assert_non_null(nl);
    assert_int_equal(nl - line, 3 + 1 + 300);
    assert_true(strncmp(line, "t: ", 3) == 0);
    line = nl + 1;
  }
  assert_int_equal(lines, THREADS * LINES);
  free(buf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(prefix_message_and_newline),
      cmocka_unit_test(long_lines_are_cut_and_end_in_a_newline),
      cmocka_unit_test(errno_is_kept),
      cmocka_unit_test(lines_from_threads_do_not_interleave),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
