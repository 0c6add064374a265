/* Mutex and block profiles (contention.c, interpose.c): Go's sampling
 * rules, and real contention through the interposed lock functions (left
 * out under sanitizers, which intercept pthread themselves). */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "endpoint_helper.h"

#include "../profiler/testprog.h"

/* The record whose stack holds a frame in `fn`, summed over records. */
static bool find(nprof__wait_profile which, const char *fn, double *count,
                 int64_t *delay)
{
  nprof__wait_record *r;
  long n = nprof__contention_snapshot(which, &r);
  assert_true(n >= 0);
  bool found = false;
  *count = 0;
  *delay = 0;
  nprof__symbolize_refresh();
  for (long i = 0; i < n; i++) {
    for (int k = 0; k < r[i].depth; k++) {
      nprof__sym sym;
      nprof__symbolize(r[i].pcs[k], &sym);
      if (sym.known && strcmp(sym.function, fn) == 0) {
        found = true;
        *count += r[i].count;
        *delay += r[i].delay_ns;
        break;
      }
    }
  }
  free(r);
  return found;
}

static int rates_off(void **state)
{
  (void)state;
  nprof__contention_rate_set(NPROF__MUTEX, 0);
  nprof__contention_rate_set(NPROF__BLOCK, 0);
  return 0;
}

__attribute__((noipa)) static void waited_5ms_nothing_kept(void)
{
  nprof__contention_record(NPROF__WAIT_MUTEX, 0, 5000000, 0);
}

__attribute__((noipa)) static void waited_5ms(void)
{
  nprof__contention_record(NPROF__WAIT_MUTEX, 0, 5000000, 0);
}

static void off_by_default_and_rates_checked(void **state)
{
  (void)state;
  assert_int_equal(nprof_mutex_rate(), 0);
  assert_int_equal(nprof_block_rate(), 0);
  assert_int_equal(atomic_load(&nprof__contention_on), 0);
  assert_int_equal(nprof_mutex_rate_set(-1), NPROF_EINVAL);
  assert_int_equal(nprof_block_rate_set(-1), NPROF_EINVAL);
  waited_5ms_nothing_kept();
  double c;
  int64_t d;
  assert_false(find(NPROF__MUTEX, "waited_5ms_nothing_kept", &c, &d));
  assert_false(find(NPROF__BLOCK, "waited_5ms_nothing_kept", &c, &d));
  assert_int_equal(nprof_mutex_rate_set(3), 0);
  assert_int_equal(nprof_mutex_rate(), 3);
  assert_int_equal(atomic_load(&nprof__contention_on), 1);
}

static void rate_one_keeps_every_wait(void **state)
{
  (void)state;
  nprof_mutex_rate_set(1);
  nprof_block_rate_set(1);
  for (int i = 0; i < 4; i++)
    waited_5ms();
  double c;
  int64_t d;
  assert_true(find(NPROF__MUTEX, "waited_5ms", &c, &d));
  assert_true(c == 4);
  assert_int_equal(d, 20000000);
  assert_true(find(NPROF__BLOCK, "waited_5ms", &c, &d));
  assert_true(c == 4);
  assert_int_equal(d, 20000000);
}

__attribute__((noipa)) static void many_short_waits(int n, int64_t ns)
{
  for (int i = 0; i < n; i++)
    nprof__contention_record(NPROF__WAIT_COND, 0, ns, 0);
}

__attribute__((noipa)) static void many_mutex_waits(int n)
{
  for (int i = 0; i < n; i++)
    nprof__contention_record(NPROF__WAIT_MUTEX, 0, 1000, 0);
}

/* Go's rules keep the sums unbiased: a block rate of 1 ms over 20,000
 * waits of 100 us keeps ~10% of them, each standing for 10. */
static void sampled_sums_are_unbiased(void **state)
{
  (void)state;
  nprof_block_rate_set(1000000);
  many_short_waits(20000, 100000);
  double c;
  int64_t d;
  assert_true(find(NPROF__BLOCK, "many_short_waits", &c, &d));
  printf("# block: count %.0f (want 20000), delay %.3f s (want 2)\n", c,
         (double)d / 1e9);
  assert_true(c > 17000 && c < 23000);
  assert_true(d > 1700000000LL && d < 2300000000LL);
  /* A condition wait is not mutex contention. */
  assert_false(find(NPROF__MUTEX, "many_short_waits", &c, &d));
  nprof_mutex_rate_set(10);
  many_mutex_waits(20000);
  assert_true(find(NPROF__MUTEX, "many_mutex_waits", &c, &d));
  printf("# mutex rate 10: count %.0f (want 20000)\n", c);
  assert_true(c > 17000 && c < 23000);
}

static void trace_keeps_long_waits(void **state)
{
  (void)state;
  assert_int_equal(nprof__contention_trace_begin(4), 0);
  assert_int_equal(nprof__contention_trace_begin(4), NPROF_EBUSY);
  assert_int_equal(atomic_load(&nprof__contention_on), 1);
  many_short_waits(3, 5000);  /* under 10 us: not kept */
  many_short_waits(6, 50000); /* 4 kept, 2 dropped */
  nprof__wait_event *ev;
  int64_t dropped;
  long n = nprof__contention_trace_end(&ev, &dropped);
  assert_int_equal(n, 4);
  assert_int_equal(dropped, 2);
  assert_int_equal(ev[0].kind, NPROF__WAIT_COND);
  assert_int_equal(ev[0].delay_ns, 50000);
  assert_true(ev[0].depth > 0);
  free(ev);
  assert_int_equal(atomic_load(&nprof__contention_on), 0);
}

static void endpoints_serve_both_profiles(void **state)
{
  (void)state;
  nprof_mutex_rate_set(1);
  waited_5ms();
  const char *names[] = {"mutex", "block"};
  for (int i = 0; i < 2; i++) {
    nprof__response res;
    serve(&res, names[i], "1", NULL);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "text/plain; charset=utf-8");
    assert_true(strncmp(res.body.data, i ? "--- contention:\n" : "--- mutex:\n",
                        i ? 16 : 11) == 0);
    assert_non_null(strstr(res.body.data, "cycles/second=1000000000\n"));
    if (i == 0) {
      assert_non_null(strstr(res.body.data, "sampling period=1\n"));
      assert_non_null(strstr(res.body.data, "\twaited_5ms+0x"));
    }
    nprof__buf_free(&res.body);
    serve(&res, names[i], NULL, NULL);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.disposition, names[i]);
    assert_int_equal((unsigned char)res.body.data[0], 0x1f);
    nprof__buf_free(&res.body);
  }
  /* Delta profiles, as Go allows for mutex and block. */
  expect_go_error("mutex", "1", "1", 400,
                  "seconds and debug params are incompatible\n");
}

#ifndef NPROF_SANITIZED
/* ---- through the interposed pthread functions ---- */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int waiter_ready;

__attribute__((noipa)) static void queue_for_the_mutex(void)
{
  atomic_store(&waiter_ready, 1);
  pthread_mutex_lock(&held);
  pthread_mutex_unlock(&held);
}

THREAD_MAIN(queue_for_the_mutex)

__attribute__((noipa)) static void queue_for_the_rwlock(void)
{
  atomic_store(&waiter_ready, 1);
  pthread_rwlock_rdlock(&rw);
  pthread_rwlock_unlock(&rw);
}

THREAD_MAIN(queue_for_the_rwlock)

/* Holds the lock 60 ms after the waiter announced itself: the waiter's
 * stack shows a wait of about that long (lower bound: it may announce and
 * then be descheduled before it reaches the lock). */
static void held_lock_shows_waiter_and_delay(void **state)
{
  (void)state;
  nprof_mutex_rate_set(1);
  nprof_block_rate_set(1);
  pthread_t t;
  pthread_mutex_lock(&held);
  atomic_store(&waiter_ready, 0);
  assert_int_equal(pthread_create(&t, NULL, queue_for_the_mutex_main, NULL), 0);
  while (!atomic_load(&waiter_ready))
    nap_us(500);
  nap_us(60000);
  pthread_mutex_unlock(&held);
  pthread_join(t, NULL);
  double c;
  int64_t d;
  assert_true(find(NPROF__MUTEX, "queue_for_the_mutex", &c, &d));
  printf("# mutex waiter: %.0f contention(s), %.1f ms\n", c, (double)d / 1e6);
  assert_true(c == 1);
  assert_true(d > 30000000 && d < 2000000000);
  assert_true(find(NPROF__BLOCK, "queue_for_the_mutex", &c, &d));

  pthread_rwlock_wrlock(&rw);
  atomic_store(&waiter_ready, 0);
  assert_int_equal(pthread_create(&t, NULL, queue_for_the_rwlock_main, NULL),
                   0);
  while (!atomic_load(&waiter_ready))
    nap_us(500);
  nap_us(60000);
  pthread_rwlock_unlock(&rw);
  pthread_join(t, NULL);
  assert_true(find(NPROF__MUTEX, "queue_for_the_rwlock", &c, &d));
  assert_true(d > 30000000 && d < 2000000000);
}

__attribute__((noipa)) static void lock_uncontended(pthread_mutex_t *m)
{
  pthread_mutex_lock(m);
  pthread_mutex_unlock(m);
}

__attribute__((noipa)) static void wait_on_cond_with_timeout(void)
{
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  pthread_mutex_lock(&m);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += 20000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  errno = 4321;
  assert_int_equal(pthread_cond_timedwait(&cv, &m, &until), ETIMEDOUT);
  assert_int_equal(errno, 4321);
  pthread_mutex_unlock(&m);
}

static void uncontended_locks_record_nothing_and_cond_waits_block(void **state)
{
  (void)state;
  nprof_mutex_rate_set(1);
  nprof_block_rate_set(1);
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  for (int i = 0; i < 1000; i++)
    lock_uncontended(&m);
  double c;
  int64_t d;
  assert_false(find(NPROF__MUTEX, "lock_uncontended", &c, &d));
  assert_false(find(NPROF__BLOCK, "lock_uncontended", &c, &d));
  /* Error-checking mutex owned by the caller: the same answer as glibc. */
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t e;
  pthread_mutex_init(&e, &a);
  assert_int_equal(pthread_mutex_lock(&e), 0);
  assert_int_equal(pthread_mutex_lock(&e), EDEADLK);
  pthread_mutex_unlock(&e);
  wait_on_cond_with_timeout();
  assert_true(find(NPROF__BLOCK, "wait_on_cond_with_timeout", &c, &d));
  assert_true(d >= 15000000);
  assert_false(find(NPROF__MUTEX, "wait_on_cond_with_timeout", &c, &d));
}
#endif

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(off_by_default_and_rates_checked, rates_off),
      cmocka_unit_test_setup(rate_one_keeps_every_wait, rates_off),
      cmocka_unit_test_setup(sampled_sums_are_unbiased, rates_off),
      cmocka_unit_test_setup(trace_keeps_long_waits, rates_off),
      cmocka_unit_test_setup(endpoints_serve_both_profiles, rates_off),
#ifndef NPROF_SANITIZED
      cmocka_unit_test_setup(held_lock_shows_waiter_and_delay, rates_off),
      cmocka_unit_test_setup(
          uncontended_locks_record_nothing_and_cond_waits_block, rates_off),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
