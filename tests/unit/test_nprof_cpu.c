/* The CPU profiler (cpu.c) and the profile endpoint: proportions, period,
 * threads born during a profile, exclusivity, an application's SIGPROF
 * handler left alone, and no late SIGPROF after the end. Runs as its own
 * process: it installs signal handlers. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "endpoint_helper.h"

#include "../profiler/testprog.h"

/* Burners whose CPU time stays at an exact ratio (burn_turn: quanta of
 * their own CPU clocks; the one ahead sleeps). A burner of 1 : 0 burns all
 * the time. */
typedef struct burner {
  atomic_int *stop;
  atomic_long *mine, *other;
  long want_mine, want_other; /* mine/other == want_mine/want_other */
  atomic_int tid;
  int64_t cpu_ns; /* CPU time burned, written at exit */
} burner;

static void *burn_main(void *arg)
{
  burner *b = arg;
  atomic_store(&b->tid, (int)syscall(SYS_gettid));
  int64_t start = thread_cpu_ns();
  while (!atomic_load(b->stop)) {
    if (burn_turn(atomic_load(b->mine), b->want_mine, atomic_load(b->other),
                  b->want_other)) {
      burn_quantum();
      atomic_fetch_add(b->mine, 1);
    } else {
      nap_us(200);
    }
  }
  b->cpu_ns = thread_cpu_ns() - start;
  return NULL;
}

/* A burner that burns all the time until *stop, its counts in `q`. */
static burner full_burner(atomic_int *stop, atomic_long q[2])
{
  return (burner){.stop = stop,
                  .mine = &q[0],
                  .other = &q[1],
                  .want_mine = 1,
                  .want_other = 0};
}

static int64_t samples_of(const nprof__cpu_data *d, pid_t tid)
{
  int64_t n = 0;
  for (size_t i = 0; i < d->nstacks; i++)
    if (d->stacks[i].tid == tid)
      n += d->stacks[i].count;
  return n;
}

static void seventy_thirty_split(void **state)
{
  (void)state;
  atomic_int stop = 0;
  atomic_long q70 = 0, q30 = 0;
  burner a = {.stop = &stop,
              .mine = &q70,
              .other = &q30,
              .want_mine = 7,
              .want_other = 3};
  burner b = {.stop = &stop,
              .mine = &q30,
              .other = &q70,
              .want_mine = 3,
              .want_other = 7};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, burn_main, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, burn_main, &b), 0);
  while (!atomic_load(&a.tid) || !atomic_load(&b.tid))
    nap_us(1000);
  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  assert_int_equal(nprof__cpu_run(100, 2000000000LL, &d), 0);
  atomic_store(&stop, 1);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  int64_t na = samples_of(&d, atomic_load(&a.tid));
  int64_t nb = samples_of(&d, atomic_load(&b.tid));
  double share = (double)na / (double)(na + nb);
  printf("# 70/30 burners: %lld and %lld samples, share %.3f, lost %lld\n",
         (long long)na, (long long)nb, share, (long long)d.lost);
  assert_true(na + nb >= 40);
  assert_true(share > 0.65 && share < 0.75);
  assert_int_equal(d.hz, 100);
  assert_true(d.duration_ns >= 2000000000LL);
  /* Each thread is sampled once per 10 ms of its CPU time: the burners
   * used no more CPU than they were sampled for, and not much less. */
  assert_true((double)(na + nb) * 10e6 <= (double)(a.cpu_ns + b.cpu_ns) * 1.1);
  nprof__cpu_data_free(&d);
}

static void *late_thread_main(void *arg)
{
  burner *b = arg;
  return burn_main(b);
}

static void threads_started_during_the_profile_are_sampled(void **state)
{
  (void)state;
  assert_int_equal(nprof__cpu_start(200), 0);
  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  nprof__cpu_poll(nprof__cpu_data_add, &d);
  /* Born after the start: found by pthread_create's hook (interposed
   * builds) or by the next task scan. */
  atomic_int stop = 0;
  atomic_long q[2] = {0, 0};
  burner b = full_burner(&stop, q);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, late_thread_main, &b), 0);
  int64_t end = npc_mono_ns() + 1000000000LL;
  while (npc_mono_ns() < end) {
    nap_us(20000);
    nprof__cpu_poll(nprof__cpu_data_add, &d);
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  nprof__cpu_stop(nprof__cpu_data_add, &d);
  int64_t n = samples_of(&d, atomic_load(&b.tid));
  printf("# late thread: %lld samples for %.0f ms of CPU\n", (long long)n,
         (double)b.cpu_ns / 1e6);
  /* At 200 Hz, 5 ms per sample; allow for the scan delay (50 ms). */
  assert_true(n >= (b.cpu_ns - 60000000LL) / 5000000 * 8 / 10);
  assert_true(n > 0);
  nprof__cpu_data_free(&d);
}

static void one_profile_at_a_time_with_gos_errors(void **state)
{
  (void)state;
  expect_go_error(
      "profile", NULL, "abc", 400,
      "invalid value for \"seconds\" - must be a positive integer\n");
  expect_go_error(
      "profile", NULL, "0", 400,
      "invalid value for \"seconds\" - must be a positive integer\n");
  expect_go_error("profile", NULL, "999999", 400,
                  "profile duration exceeds server's WriteTimeout\n");
  expect_go_error(
      "trace", NULL, "-1", 400,
      "invalid value for \"seconds\" - must be a positive number\n");
  assert_int_equal(nprof__cpu_start(100), 0);
  assert_int_equal(nprof__cpu_start(100), NPROF_EBUSY);
  expect_go_error("profile", NULL, "1", 500,
                  "Could not enable CPU profiling: cpu profiling already in "
                  "use\n");
  expect_go_error("trace", NULL, "1", 500,
                  "Could not enable tracing: cpu profiling already in use\n");
  nprof__cpu_stop(NULL, NULL);
  assert_int_equal(nprof__cpu_start(0), NPROF_EINVAL);
  /* And a real one: protobuf, an attachment named "profile". */
  nprof__response res;
  serve(&res, "profile", NULL, "1");
  assert_int_equal(res.status, 200);
  assert_false(res.go_error);
  assert_string_equal(res.content_type, "application/octet-stream");
  assert_string_equal(res.disposition, "profile");
  assert_true(res.body.len > 20);
  assert_int_equal((unsigned char)res.body.data[0], 0x1f); /* gzip */
  nprof__buf_free(&res.body);
}

static void app_sigprof(int sig)
{
  (void)sig;
}

static void application_sigprof_handler_is_left_alone(void **state)
{
  (void)state;
  struct sigaction sa, old, now;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = app_sigprof;
  assert_int_equal(sigaction(SIGPROF, &sa, &old), 0);
  assert_int_equal(nprof__cpu_start(100), NPROF_ESIGNAL);
  nprof__response res;
  serve(&res, "profile", NULL, "1");
  assert_int_equal(res.status, 500);
  assert_non_null(strstr(res.body.data, "Could not enable CPU profiling: "
                                        "the application installed its own "
                                        "SIGPROF handler"));
  nprof__buf_free(&res.body);
  sigaction(SIGPROF, NULL, &now);
  assert_ptr_equal(now.sa_handler, app_sigprof);
  sigaction(SIGPROF, &old, NULL);
  /* Free again: a profile can start. */
  assert_int_equal(nprof__cpu_start(100), 0);
  nprof__cpu_stop(NULL, NULL);
}

/* A thread that blocks SIGPROF keeps its timer's signal pending; when it
 * unblocks after the profile ended, the default action (terminate) must not
 * be what it meets. */
static void *blocked_burner_main(void *arg)
{
  atomic_int *phase = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPROF);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  atomic_store(phase, 1);
  volatile uint64_t x = 1;
  while (atomic_load(phase) == 1)
    x = x * 3 + 1;
  sigset_t pending;
  sigpending(&pending);
  atomic_store(phase, sigismember(&pending, SIGPROF) ? 3 : 4);
  while (atomic_load(phase) != 5)
    nap_us(1000);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* would kill if pending */
  atomic_store(phase, 6);
  return NULL;
}

static void no_late_sigprof_after_the_end(void **state)
{
  (void)state;
  struct sigaction before, after;
  sigaction(SIGPROF, NULL, &before);
  atomic_int phase = 0;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, blocked_burner_main, &phase), 0);
  while (atomic_load(&phase) != 1)
    nap_us(1000);
  assert_int_equal(nprof__cpu_start(1000), 0);
  nprof__cpu_data d;
  memset(&d, 0, sizeof(d));
  /* Long enough for the burner's 1 ms timer to fire while blocked. */
  int64_t end = npc_mono_ns() + 300000000LL;
  while (npc_mono_ns() < end) {
    nap_us(20000);
    nprof__cpu_poll(nprof__cpu_data_add, &d);
  }
  atomic_store(&phase, 2);
  while (atomic_load(&phase) == 2)
    nap_us(1000);
  int pending_during = atomic_load(&phase) == 3;
  nprof__cpu_stop(nprof__cpu_data_add, &d);
  atomic_store(&phase, 5);
  while (atomic_load(&phase) != 6)
    nap_us(1000);
  pthread_join(t, NULL);
  printf("# SIGPROF was %spending on the blocking thread at the end\n",
         pending_during ? "" : "not ");
  sigaction(SIGPROF, NULL, &after);
  assert_ptr_equal(after.sa_handler, before.sa_handler);
  assert_int_equal(after.sa_flags & SA_SIGINFO, before.sa_flags & SA_SIGINFO);
  nprof__cpu_data_free(&d);
}

static void start_stop_cycles_under_load(void **state)
{
  (void)state;
  atomic_int stop = 0;
  atomic_long q[2] = {0, 0};
  burner b = full_burner(&stop, q);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, burn_main, &b), 0);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(nprof__cpu_start(1000), 0);
    nap_us(5000);
    nprof__cpu_stop(NULL, NULL);
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  struct sigaction now;
  sigaction(SIGPROF, NULL, &now);
  assert_ptr_equal(now.sa_handler, SIG_DFL);
}

/* A child forked during a profile has no timers and no controlling
 * thread: it gets SIGPROF back and can profile on its own. */
static void fork_during_a_profile(void **state)
{
  (void)state;
  assert_int_equal(nprof__cpu_start(100), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct sigaction now;
    sigaction(SIGPROF, NULL, &now);
    int ok = now.sa_handler == SIG_DFL && !(now.sa_flags & SA_SIGINFO);
    ok = ok && nprof__cpu_start(100) == 0;
    nprof__cpu_stop(NULL, NULL);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  nprof__cpu_stop(NULL, NULL);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(seventy_thirty_split),
      cmocka_unit_test(threads_started_during_the_profile_are_sampled),
      cmocka_unit_test(one_profile_at_a_time_with_gos_errors),
      cmocka_unit_test(application_sigprof_handler_is_left_alone),
      cmocka_unit_test(no_late_sigprof_after_the_end),
      cmocka_unit_test(start_stop_cycles_under_load),
      cmocka_unit_test(fork_during_a_profile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
