/*
 * A host that does what real services do to a library living inside them,
 * for the tests of libnprof's safety (tests/integration/profiler_safety.py).
 * It starts libnprof on 127.0.0.1:0 (or HOST_LISTEN), prints
 * "listening on ADDR" and then obeys commands on stdin, one per line, until
 * stdin closes (at most 300 s):
 *
 *   host_program idle      nothing but the debug server.
 *   host_program busy      six threads contend for one mutex as fast as
 *                          they can, with mutex and block profiling at
 *                          rate 1 (every contended acquisition unwinds).
 *   host_program signals   a thread "sigwaiter" waits in sigwaitinfo() on
 *                          the full signal set and counts what it gets
 *                          (variables sigwait.got, sigwait.last: the
 *                          last signal's number); a thread "blocker"
 *                          blocks every signal and sleeps. The command
 *                          "handler SIG" installs the application's own
 *                          handler on signal SIG, which counts its calls
 *                          (app.handler_calls), and answers "installed".
 *
 *   host_program stripped  loads the stripped library named by
 *                          HOST_STRIPPED_LIB (tests/profiler/
 *                          stripped_lib.c) and keeps 200 blocks of 64 KiB
 *                          it allocated (stripped_alloc, through a static
 *                          function that has no name once stripped).
 *
 * Variables: host.ready = 1 once every thread runs.
 */
#include "testprog.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUSY_THREADS 6

static atomic_int done;
static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t shared;
static nprof_var *sigwait_got, *sigwait_last, *handler_calls;

/* Short critical sections, taken back to back: most acquisitions are
 * contended. */
__attribute__((noinline)) static void contend(void)
{
  while (!atomic_load(&done)) {
    pthread_mutex_lock(&busy_lock);
    for (int i = 0; i < 200; i++)
      shared = shared * 6364136223846793005ULL + 1;
    pthread_mutex_unlock(&busy_lock);
  }
}

THREAD_MAIN(contend)

__attribute__((noinline)) static void wait_for_signals(void)
{
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  /* As a process's signal-handling thread does: wait for good (the
   * process ends with the thread in there). */
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig > 0) {
      nprof_var_add(sigwait_got, 1);
      nprof_var_set(sigwait_last, sig);
    }
  }
}

THREAD_MAIN(wait_for_signals)

__attribute__((noinline)) static void sleep_blocked(void)
{
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  while (!atomic_load(&done))
    nap_us(20000);
}

THREAD_MAIN(sleep_blocked)

static void app_handler(int sig)
{
  (void)sig;
  nprof_var_add(handler_calls, 1);
}

#define STRIPPED_BLOCKS 200
static void *stripped_blocks[STRIPPED_BLOCKS];

__attribute__((noinline)) static int keep_stripped_blocks(void)
{
  const char *path = getenv("HOST_STRIPPED_LIB");
  void *h = path ? dlopen(path, RTLD_NOW) : NULL;
  void *(*alloc)(size_t) =
      h ? (void *(*)(size_t))dlsym(h, "stripped_alloc") : NULL;
  if (!alloc) {
    fprintf(stderr, "cannot load HOST_STRIPPED_LIB: %s\n", dlerror());
    return 1;
  }
  for (int i = 0; i < STRIPPED_BLOCKS; i++)
    stripped_blocks[i] = alloc(64 * 1024);
  return 0;
}

int main(int argc, char **argv)
{
  alarm(300); /* never outlive a broken test */
  const char *mode = argc > 1 ? argv[1] : "busy";
  nprof_var *ready = nprof_var_new_int("host.ready");
  if (strcmp(mode, "idle") == 0) {
  } else if (strcmp(mode, "stripped") == 0) {
    if (keep_stripped_blocks() != 0)
      return 1;
  } else if (strcmp(mode, "busy") == 0) {
    nprof_mutex_rate_set(1);
    nprof_block_rate_set(1);
    for (int i = 0; i < BUSY_THREADS; i++)
      start_thread(contend_main, NULL, "busy");
  } else if (strcmp(mode, "signals") == 0) {
    sigwait_got = nprof_var_new_int("sigwait.got");
    sigwait_last = nprof_var_new_int("sigwait.last");
    handler_calls = nprof_var_new_int("app.handler_calls");
    start_thread(wait_for_signals_main, NULL, "sigwaiter");
    start_thread(sleep_blocked_main, NULL, "blocker");
  } else {
    fprintf(stderr, "usage: %s idle|busy|signals|stripped\n", argv[0]);
    return 2;
  }
  serve_or_exit("HOST_LISTEN");
  nap_us(50000); /* the threads have blocked their signals by now */
  nprof_var_set(ready, 1);
  printf("listening on %s\n", nprof_listen_address());
  fflush(stdout);
  char line[128];
  while (fgets(line, sizeof(line), stdin)) {
    int sig;
    if (sscanf(line, "handler %d", &sig) == 1) {
      struct sigaction sa;
      memset(&sa, 0, sizeof(sa));
      sa.sa_handler = app_handler;
      sigaction(sig, &sa, NULL);
      printf("installed\n");
      fflush(stdout);
    }
  }
  atomic_store(&done, 1);
  nprof_stop();
  return 0;
}
