/* Forks while another thread keeps one of libnprof's locks busy, and
 * checks that every child can use the same feature and exit. A child that
 * inherited the lock held would wait for it forever: each child gets
 * CHILD_LIMIT_S seconds (alarm: generous, the machine may be busy) and the
 * parent waits for each with a deadline and kills what is left, so a hang fails
 * the test instead of hanging it. The lock is held a good fraction of the time
 * and the forks are many, so before a fix the hang shows on every run. */
#ifndef NPROF_TEST_FORK_HELPER_H
#define NPROF_TEST_FORK_HELPER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A sanitizer's own allocator (gcc 12's ASan) is not fork-safe while
 * another thread allocates: a child can hang on its lock inside malloc,
 * whatever libnprof does (seen: __asan::Allocator::Allocate in the child).
 * The fork tests run in the plain build only. */
#if defined(NPROF_SANITIZED)
#define SKIP_UNDER_SANITIZER() skip()
#else
#define SKIP_UNDER_SANITIZER() ((void)0)
#endif

#define FORKS 60
#define CHILD_LIMIT_S 10
/* Enough to fail; past this, stop forking (each hang costs seconds). */
#define MAX_BAD 3

static atomic_int fork_helper_stop;
static void (*fork_helper_busy_fn)(void);

static void *fork_helper_busy(void *arg)
{
  (void)arg;
  while (!atomic_load(&fork_helper_stop))
    fork_helper_busy_fn();
  return NULL;
}

/* Returns how many children did not exit 0 in time. */
static int fork_while_busy(void (*busy)(void), void (*child_use)(void))
{
  fork_helper_busy_fn = busy;
  atomic_store(&fork_helper_stop, 0);
  pthread_t t;
  if (pthread_create(&t, NULL, fork_helper_busy, NULL) != 0)
    return FORKS;
  struct timespec spacing = {0, 3 * 1000000};
  nanosleep(&spacing, NULL);
  int bad = 0;
  for (int i = 0; i < FORKS && bad < MAX_BAD; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(CHILD_LIMIT_S);
      child_use();
      _exit(0);
    }
    if (pid < 0) {
      bad++;
      continue;
    }
    int status = 0;
    pid_t got = 0;
    for (int ms = 0; ms < (CHILD_LIMIT_S + 2) * 1000 && got == 0; ms++) {
      got = waitpid(pid, &status, WNOHANG);
      if (got == 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
      }
    }
    if (got == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      bad++;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "# fork child %d: %s %d\n", (int)pid,
              WIFEXITED(status) ? "exit" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      bad++;
    }
    nanosleep(&spacing, NULL);
  }
  atomic_store(&fork_helper_stop, 1);
  pthread_join(t, NULL);
  return bad;
}

#endif
