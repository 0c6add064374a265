/* Unit tests for profiler/cli/vars.c: libnprof's /debug/vars figures,
 * new fields and old, and NAN (never 0) for what a server did not say. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli_run_fixture.h"

static void test_vars_new_fields(void **state)
{
  (void)state;
  struct cli_json *j = fixture_json(
      "{\"process\": {\"rss_bytes\": 100, \"peak_rss_bytes\": 120, "
      "\"rss_anon_bytes\": 70, \"rss_file_bytes\": 30, "
      "\"thread_stacks_rss_bytes\": 8, \"threads\": 4, \"profiler_threads\": "
      "1, \"open_fds\": 12}, \"nprof\": {\"heap_inuse_bytes\": 50}, "
      "\"malloc\": {\"allocator\": \"glibc\", \"in_use_bytes\": 55, "
      "\"free_bytes\": 9, \"mmapped_bytes\": 3, \"arena_bytes\": 64, "
      "\"arenas\": 2, \"releasable_bytes\": 7}, \"notifier.users\": 42}");
  struct cli_vars v;
  cli_vars_read(j, "notifier.users", &v);
  assert_true(v.rss == 100 && v.peak_rss == 120);
  assert_true(v.rss_anon == 70 && v.rss_file == 30 && v.thread_stacks == 8);
  assert_true(v.threads == 3 && v.fds == 12 && v.heap_inuse == 50);
  assert_string_equal(v.allocator, "glibc");
  assert_true(v.malloc_in_use == 55 && v.malloc_free == 9);
  assert_true(v.malloc_mmapped == 3 && v.malloc_releasable == 7);
  assert_true(v.malloc_arenas == 2);
  assert_true(v.users == 42);
  /* No users variable named: no users, whatever the service publishes. */
  cli_vars_read(j, NULL, &v);
  assert_true(isnan(v.users));
  cli_vars_read(j, "svc.users", &v);
  assert_true(isnan(v.users));
  cli_json_free(j);
}

static void test_vars_old_and_absent(void **state)
{
  (void)state;
  /* An older libnprof: no RSS split, no malloc section. */
  struct cli_json *j =
      fixture_json("{\"process\": {\"rss_bytes\": 100, \"threads\": 4}}");
  struct cli_vars v;
  cli_vars_read(j, "x", &v);
  assert_true(v.rss == 100 && v.threads == 4);
  assert_true(isnan(v.rss_anon) && isnan(v.rss_file) && isnan(v.thread_stacks));
  assert_null(v.allocator);
  assert_true(isnan(v.malloc_free) && isnan(v.malloc_releasable));
  assert_true(isnan(v.heap_inuse) && isnan(v.fds));
  cli_json_free(j);
  /* Another allocator: the section says so, without numbers. */
  j = fixture_json("{\"malloc\": {\"allocator\": \"unknown\"}}");
  cli_vars_read(j, NULL, &v);
  assert_string_equal(v.allocator, "unknown");
  assert_true(isnan(v.malloc_free) && isnan(v.rss));
  cli_json_free(j);
  cli_vars_read(NULL, "x", &v);
  assert_true(isnan(v.rss) && isnan(v.users));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vars_new_fields),
      cmocka_unit_test(test_vars_old_and_absent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
