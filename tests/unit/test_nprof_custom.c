/* Application-defined profiles (custom.c) and published variables
 * (vars.c). */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint_helper.h"

#include "fork_helper.h"

static void profile_names_are_checked(void **state)
{
  (void)state;
  assert_null(nprof_profile_new("heap")); /* built-in */
  assert_null(nprof_profile_new("goroutine"));
  assert_null(nprof_profile_new("bad name"));
  assert_null(nprof_profile_new(""));
  assert_null(nprof_profile_new(NULL));
  nprof_profile *p = nprof_profile_new("conns");
  assert_non_null(p);
  assert_null(nprof_profile_new("conns")); /* taken */
}

__attribute__((noinline)) static int open_connection(nprof_profile *p,
                                                     const void *key)
{
  int rc = nprof_profile_add(p, key, 0);
  __asm__ volatile(""); /* keep this frame: no tail call */
  return rc;
}

static void keys_are_added_and_removed(void **state)
{
  (void)state;
  nprof_profile *p = nprof_profile_new("streams");
  int keys[100];
  for (int i = 0; i < 100; i++)
    assert_int_equal(open_connection(p, &keys[i]), 0);
  assert_int_equal(open_connection(p, &keys[5]), NPROF_EEXIST);
  assert_int_equal(nprof_profile_count(p), 100);
  for (int i = 0; i < 40; i++)
    assert_int_equal(nprof_profile_remove(p, &keys[i]), 0);
  assert_int_equal(nprof_profile_remove(p, &keys[0]), NPROF_ENOENT);
  assert_int_equal(nprof_profile_count(p), 60);
  assert_int_equal(nprof_profile_add(NULL, &keys[0], 0), NPROF_EINVAL);
  assert_int_equal(nprof_profile_add(p, &keys[0], -1), NPROF_EINVAL);

  nprof__count_stack *stacks;
  int n = nprof__custom_stacks("streams", &stacks);
  assert_int_equal(n, 60);
  /* The stack starts at the caller of nprof_profile_add. */
  nprof__sym sym;
  nprof__symbolize(stacks[0].pcs[0], &sym);
  assert_string_equal(sym.function, "open_connection");
  free(stacks);
  assert_int_equal(nprof__custom_stacks("nosuch", &stacks), NPROF_ENOENT);
}

static void custom_profile_is_served(void **state)
{
  (void)state;
  nprof_profile *p = nprof_profile_new("widgets");
  int k[3];
  volatile int n = 3; /* one call site: no unrolling */
  for (int i = 0; i < n; i++)
    open_connection(p, &k[i]);
  nprof__response res;
  serve_expect_start(&res, "widgets", "1", NULL,
                     "widgets profile: total 3\n3 @ 0x");
  assert_non_null(strstr(res.body.data, "\topen_connection+0x"));
  nprof__buf_free(&res.body);
}

static void variables(void **state)
{
  (void)state;
  nprof_var *v = nprof_var_new_int("test.streams");
  assert_non_null(v);
  assert_null(nprof_var_new_int("test.streams"));
  assert_null(nprof_var_new_float("cmdline")); /* reserved key */
  assert_null(nprof_var_new_int("bad\"name"));
  nprof_var_set(v, 10);
  nprof_var_add(v, -3);
  assert_int_equal(nprof_var_get(v), 7);
  nprof_var *f = nprof_var_new_float("test.ratio");
  nprof_var_set_float(f, 0.5);
  nprof_var_set(f, 99); /* no-op on a float */
  assert_true(nprof_var_get_float(f) == 0.5);
  nprof_var_add(NULL, 1); /* harmless */

  nprof__buf out;
  nprof__buf_init(&out, 1 << 20);
  assert_int_equal(nprof__vars_write(&out), 0);
  assert_true(out.data[0] == '{');
  assert_non_null(strstr(out.data, "\"cmdline\": [\""));
  assert_non_null(strstr(out.data, "\"rss_bytes\": "));
  assert_non_null(strstr(out.data, "\"heap_inuse_bytes\": "));
  /* Contention waits the full tables could not record are said, not lost. */
  assert_non_null(strstr(out.data, "\"contention_dropped\": 0"));
  assert_non_null(strstr(out.data, "\"test.streams\": 7"));
  assert_non_null(strstr(out.data, "\"test.ratio\": 0.5"));
  assert_true(out.data[out.len - 2] == '}');
  nprof__buf_free(&out);
}

static nprof_profile *forked;
static int forked_keys[5000];

static void copy_stacks(void)
{
  nprof__count_stack *st;
  int n = nprof__custom_stacks("forked", &st);
  if (n >= 0)
    free(st);
}

static void count_one(const char *name, long count, void *arg)
{
  (void)name;
  (void)count;
  (void)arg;
}

static void child_adds_and_lists(void)
{
  static int key;
  if (nprof_profile_add(forked, &key, 0) != 0)
    _exit(1);
  nprof__count_stack *st;
  int n = nprof__custom_stacks("forked", &st);
  if (n != 5001)
    _exit(2);
  free(st);
  nprof__custom_list(count_one, NULL);
}

/* A fork while another thread reads a profile: the child must inherit
 * neither the registry's lock nor the profile's held. */
static void fork_child_can_use_profiles(void **state)
{
  (void)state;
  SKIP_UNDER_SANITIZER();
  forked = nprof_profile_new("forked");
  assert_non_null(forked);
  for (int i = 0; i < 5000; i++)
    assert_int_equal(nprof_profile_add(forked, &forked_keys[i], 0), 0);
  assert_int_equal(fork_while_busy(copy_stacks, child_adds_and_lists), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fork_child_can_use_profiles),
      cmocka_unit_test(profile_names_are_checked),
      cmocka_unit_test(keys_are_added_and_removed),
      cmocka_unit_test(custom_profile_is_served),
      cmocka_unit_test(variables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
