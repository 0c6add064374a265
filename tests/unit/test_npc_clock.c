/* The clocks (common/clock.c): the monotonic one never goes back and
 * counts what nanosleep slept; the wall clock is the Unix time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
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

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(monotonic_counts_a_sleep),
      cmocka_unit_test(wall_is_unix_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
