/* The threadcreate profile (threadcreate.c, and pthread_create in
 * interpose.c, which sanitizer builds leave out). */
#include "internal.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "endpoint_helper.h"

#include "../profiler/testprog.h"

/* How many live creation stacks hold a frame in `fn`. */
static long created_from(const char *fn)
{
  nprof__count_stack *s;
  int n = nprof__threadcreate_stacks(&s);
  assert_true(n >= 0);
  long found = 0;
  nprof__symbolize_refresh();
  for (int i = 0; i < n; i++)
    for (int k = 0; k < s[i].depth; k++) {
      nprof__sym sym;
      nprof__symbolize(s[i].pcs[k], &sym);
      if (sym.known && strcmp(sym.function, fn) == 0) {
        found += s[i].count;
        break;
      }
    }
  free(s);
  return found;
}

__attribute__((noipa)) static nprof__tc_record *record_here(void)
{
  uintptr_t pcs[NPROF_MAX_DEPTH];
  int depth = nprof__stack_capture(pcs, NPROF_MAX_DEPTH, 0);
  return nprof__threadcreate_new(pcs, depth);
}

static void records_are_added_and_removed(void **state)
{
  (void)state;
  long before = nprof__threadcreate_count();
  nprof__tc_record *a = record_here();
  nprof__tc_record *b = record_here();
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(nprof__threadcreate_count(), before + 2);
  assert_int_equal(created_from("record_here"), 2);
  nprof__threadcreate_remove(a);
  assert_int_equal(created_from("record_here"), 1);
  nprof__threadcreate_remove(b);
  nprof__threadcreate_remove(NULL);
  assert_int_equal(nprof__threadcreate_count(), before);
  assert_int_equal(created_from("record_here"), 0);
}

#ifndef NPROF_SANITIZED
static int park_pipe[2];

static void *quick_main(void *arg)
{
  return arg;
}

__attribute__((noipa)) static void spawn_three_parked(pthread_t *t)
{
  for (int i = 0; i < 3; i++)
    assert_int_equal(pthread_create(&t[i], NULL, park_main, &park_pipe[0]), 0);
}

__attribute__((noipa)) static void spawn_and_join_two(void)
{
  for (int i = 0; i < 2; i++) {
    pthread_t t;
    void *ret;
    assert_int_equal(pthread_create(&t, NULL, quick_main, &ret), 0);
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_ptr_equal(ret, &ret); /* the start routine's result passes through */
  }
}

static void live_threads_show_their_creation_site(void **state)
{
  (void)state;
  assert_int_equal(pipe(park_pipe), 0);
  pthread_t t[3];
  spawn_three_parked(t);
  spawn_and_join_two();
  assert_int_equal(created_from("spawn_three_parked"), 3);
  /* Joined threads ran their key destructors: gone. */
  assert_int_equal(created_from("spawn_and_join_two"), 0);

  nprof__response res;
  serve_expect_start(&res, "threadcreate", "1", NULL,
                     "threadcreate profile: total ");
  assert_non_null(strstr(res.body.data, "\n3 @ 0x"));
  assert_non_null(strstr(res.body.data, "\tspawn_three_parked+0x"));
  nprof__buf_free(&res.body);

  close(park_pipe[1]); /* read() returns 0: the threads exit */
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(created_from("spawn_three_parked"), 0);
  close(park_pipe[0]);
}

static void *exits_with_pthread_exit(void *arg)
{
  (void)arg;
  pthread_exit((void *)7);
}

static void pthread_exit_and_bad_attributes(void **state)
{
  (void)state;
  long before = nprof__threadcreate_count();
  pthread_t t;
  void *ret;
  assert_int_equal(pthread_create(&t, NULL, exits_with_pthread_exit, NULL), 0);
  assert_int_equal(pthread_join(t, &ret), 0);
  assert_ptr_equal(ret, (void *)7);
  assert_int_equal(nprof__threadcreate_count(), before);
  /* A failing pthread_create leaves no record behind. */
  pthread_attr_t a;
  pthread_attr_init(&a);
  /* A stack larger than the address space: mmap fails, create fails. */
  assert_int_equal(pthread_attr_setstacksize(&a, (size_t)1 << 50), 0);
  assert_int_not_equal(pthread_create(&t, &a, quick_main, NULL), 0);
  pthread_attr_destroy(&a);
  assert_int_equal(nprof__threadcreate_count(), before);
}
#endif

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(records_are_added_and_removed),
#ifndef NPROF_SANITIZED
      cmocka_unit_test(live_threads_show_their_creation_site),
      cmocka_unit_test(pthread_exit_and_bad_attributes),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
