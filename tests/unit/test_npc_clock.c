/* The clocks (common/clock.c): the monotonic one never goes back and
 * counts what nanosleep slept; the wall clock is the Unix time; timed
 * waits count on the monotonic clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "npc.h"

static void monotonic_counts_a_sleep(void **state)
{
  (void)state;
  int64_t t0 = npc_mono_ns();
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  int64_t t1 = npc_mono_ns();
  assert_true(t1 - t0 >= 20 * 1000 * 1000);
  assert_true(t1 - t0 < 20LL * 1000 * 1000 * 1000); /* a busy machine */
  for (int i = 0; i < 1000; i++) {
    int64_t t = npc_mono_ns();
    assert_true(t >= t1);
    t1 = t;
  }
}

static void wall_is_unix_time(void **state)
{
  (void)state;
  int64_t before = (int64_t)time(NULL);
  int64_t ns = npc_wall_ns();
  int64_t after = (int64_t)time(NULL);
  assert_true(ns / 1000000000 >= before);
  assert_true(ns / 1000000000 <= after);
}

static void timespec_splits_seconds(void **state)
{
  (void)state;
  struct timespec ts = npc_ns_timespec(3000000007LL);
  assert_int_equal(ts.tv_sec, 3);
  assert_int_equal(ts.tv_nsec, 7);
  ts = npc_ns_timespec(999999999LL);
  assert_int_equal(ts.tv_sec, 0);
  assert_int_equal(ts.tv_nsec, 999999999);
}

/* A timed wait on npc_cond_init_monotonic's condition ends at a point of
 * the monotonic clock: with the wall clock's epoch far ahead, a wait for
 * mono + 30 ms would end at once on a wall-clock condition's reading. */
static void monotonic_condition_waits_on_the_monotonic_clock(void **state)
{
  (void)state;
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond;
  npc_cond_init_monotonic(&cond);
  pthread_mutex_lock(&lock);
  int64_t t0 = npc_mono_ns();
  struct timespec until = npc_ns_timespec(t0 + 30 * 1000 * 1000);
  int rc;
  while ((rc = pthread_cond_timedwait(&cond, &lock, &until)) == 0)
    ;
  int64_t waited = npc_mono_ns() - t0;
  pthread_mutex_unlock(&lock);
  pthread_cond_destroy(&cond);
  assert_int_equal(rc, ETIMEDOUT);
  assert_true(waited >= 30 * 1000 * 1000);
  assert_true(waited < 20LL * 1000 * 1000 * 1000); /* a busy machine */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(monotonic_counts_a_sleep),
      cmocka_unit_test(wall_is_unix_time),
      cmocka_unit_test(timespec_splits_seconds),
      cmocka_unit_test(monotonic_condition_waits_on_the_monotonic_clock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
