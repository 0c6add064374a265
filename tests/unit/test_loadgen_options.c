/* Flags, durations and the connection plan (loadgen/options.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static int parse(lg_options *o, char *err, const char **args)
{
  char *argv[32];
  int argc = 0;
  argv[argc++] = "loadgen";
  for (; *args; args++)
    argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  return lg_options_parse(o, argc, argv, err, 256);
}

static void test_options(void **state)
{
  (void)state;
  lg_options o;
  char err[256];
  const char *ok[] = {"--target",
                      "127.0.0.1:9000",
                      "--streams",
                      "10",
                      "--streams-per-conn",
                      "3",
                      "--hold",
                      "2s",
                      "--rate",
                      "50",
                      "--publish",
                      "2",
                      "--reconnect",
                      "--threads",
                      "8",
                      NULL};
  assert_int_equal(parse(&o, err, ok), 0);
  assert_string_equal(o.host, "127.0.0.1");
  assert_string_equal(o.port, "9000");
  assert_int_equal(o.streams, 10);
  assert_int_equal(o.conns, 4);   /* ceil(10 / 3) */
  assert_int_equal(o.threads, 4); /* no more threads than connections */
  assert_int_equal(o.hold_ns, 2000000000);
  assert_true(o.reconnect);
  assert_int_equal(o.publish, 2);

  const char *defaults[] = {NULL};
  assert_int_equal(parse(&o, err, defaults), 0);
  assert_int_equal(o.streams, 1000);
  assert_int_equal(o.streams_per_conn, 1);
  assert_string_equal(o.port, "50051");

  const char *v6[] = {"--target", "[::1]:50051", NULL};
  assert_int_equal(parse(&o, err, v6), 0);
  assert_string_equal(o.host, "::1");
}

static void test_bad_options(void **state)
{
  (void)state;
  lg_options o;
  char err[256];
  const char *cases[][4] = {
      {"--streams", "0", NULL},
      {"--streams", "ten", NULL},
      {"--streams", "-5", NULL},
      {"--hold", "forever!", NULL},
      {"--target", "localhost", NULL},
      {"--target", "host:99999", NULL},
      {"--rate", "-1", NULL},
      {"--bogus", NULL},
      {"--snapshot-url", "http://127.0.0.1:1", NULL},
      {"--snapshot-url", "ftp://x", "--snapshot-dir", "d"},
      {"extra", NULL},
      {"--streams", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *args[6] = {0};
    for (int j = 0; j < 4 && cases[i][j]; j++)
      args[j] = cases[i][j];
    err[0] = '\0';
    assert_int_equal(parse(&o, err, args), LG_EINVAL);
    assert_true(strlen(err) > 0);
  }
  const char *bad_hold[] = {"--hold", "5x", NULL};
  parse(&o, err, bad_hold);
  assert_non_null(strstr(err, "--hold 5x"));
  /* The one duration syntax: a bare number (it used to mean seconds here)
   * is refused with what to write instead. */
  const char *bare[] = {"--hold", "3", NULL};
  assert_int_equal(parse(&o, err, bare), LG_EINVAL);
  assert_non_null(strstr(err, NPC_DURATION_HELP));
  const char *go[] = {"--hold", "1m30s", NULL};
  assert_int_equal(parse(&o, err, go), 0);
  assert_int_equal(o.hold_ns, 90000000000ull);
}

static void test_plan(void **state)
{
  (void)state;
  char err[512];
  assert_int_equal(lg_plan_source_addrs(1, 28232), 1);
  assert_int_equal(lg_plan_source_addrs(28232, 28232), 1);
  assert_int_equal(lg_plan_source_addrs(28233, 28232), 2);
  assert_int_equal(lg_plan_source_addrs(100000, 28232), 4);

  assert_int_equal(lg_plan_check_files(10000, 1, 20000, err, sizeof err), 0);
  assert_int_equal(lg_plan_check_files(100000, 10, 20000, err, sizeof err), 0);
  assert_int_equal(lg_plan_check_files(100000, 1, 20000, err, sizeof err),
                   LG_EINVAL);
  /* the advice names a per-connection count that fits */
  assert_non_null(strstr(err, "--streams-per-conn 6"));
  assert_int_equal(lg_plan_check_files(100000, 6, 20000, err, sizeof err), 0);
  assert_int_equal(lg_plan_check_files(10, 1, 10, err, sizeof err), LG_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_plan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
