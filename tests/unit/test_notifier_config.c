/* notifier-sim/config.c: defaults, flags, NOTIFIER_* variables, flags over
 * environment, and clear errors for bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static const char *const *fake_env;

static const char *env(const char *name)
{
  for (const char *const *e = fake_env; e && e[0]; e += 2)
    if (strcmp(e[0], name) == 0)
      return e[1];
  return NULL;
}

static int parse(ntf_config *c, const char *const *environ_pairs, char *err,
                 int argc, ...)
{
  char *argv[16] = {"notifier"};
  va_list ap;
  va_start(ap, argc);
  for (int i = 1; i <= argc && i < 15; i++)
    argv[i] = va_arg(ap, char *);
  va_end(ap);
  fake_env = environ_pairs;
  ntf_config_defaults(c);
  return ntf_config_parse(c, argc + 1, argv, env, err, 256);
}

static void test_defaults(void **state)
{
  (void)state;
  ntf_config c;
  char err[256];
  assert_int_equal(parse(&c, NULL, err, 0), 0);
  assert_string_equal(c.grpc_addr, "127.0.0.1:50051");
  assert_string_equal(c.debug_addr, "127.0.0.1:8086");
  assert_int_equal(c.mode, NTF_MODE_DEV);
  assert_true(c.threads >= 1);
  assert_int_equal(c.tick_interval_ms, 0);
  assert_int_equal(c.queue_depth, 64);
  assert_int_equal(c.fanout_threads, -1);
  assert_false(c.quiet);
}

static void test_flags(void **state)
{
  (void)state;
  ntf_config c;
  char err[256];
  assert_int_equal(parse(&c, NULL, err, 12, "--grpc-addr", "0.0.0.0:1234",
                         "--mode", "prod", "--threads=3", "--tick-interval",
                         "250ms", "--max-streams", "7", "--queue-depth", "2",
                         "--quiet"),
                   0);
  assert_string_equal(c.grpc_addr, "0.0.0.0:1234");
  assert_int_equal(c.mode, NTF_MODE_PROD);
  assert_int_equal(c.threads, 3);
  assert_int_equal(c.tick_interval_ms, 250);
  assert_int_equal(c.max_streams, 7);
  assert_int_equal(c.queue_depth, 2);
  assert_true(c.quiet);
}

static void test_env_and_precedence(void **state)
{
  (void)state;
  static const char *const e[] = {"NOTIFIER_GRPC_ADDR",
                                  "127.0.0.1:9",
                                  "NOTIFIER_MODE",
                                  "prod",
                                  "NOTIFIER_TICK_INTERVAL",
                                  "2s",
                                  "NOTIFIER_KEEPALIVE_TIME",
                                  "1m",
                                  NULL};
  ntf_config c;
  char err[256];
  assert_int_equal(parse(&c, e, err, 0), 0);
  assert_string_equal(c.grpc_addr, "127.0.0.1:9");
  assert_int_equal(c.mode, NTF_MODE_PROD);
  assert_int_equal(c.tick_interval_ms, 2000);
  assert_int_equal(c.keepalive_time_ms, 60000);
  assert_int_equal(parse(&c, e, err, 2, "--mode", "dev"), 0);
  assert_int_equal(c.mode, NTF_MODE_DEV);
  assert_string_equal(c.grpc_addr, "127.0.0.1:9");
}

static void test_bad_values(void **state)
{
  (void)state;
  ntf_config c;
  char err[256];
  const char *bad[][2] = {
      {"--threads", "0"},          {"--threads", "abc"},
      {"--threads", "4x"},         {"--mode", "debug"},
      {"--tick-interval", "-1s"},  {"--tick-interval", "5 parsecs"},
      {"--max-streams", "-3"},     {"--queue-depth", "0"},
      {"--grpc-addr", "nohost"},   {"--grpc-addr", ""},
      {"--keepalive-time", "5ms"}, {"--fanout-threads", "9"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = '\0';
    assert_int_equal(parse(&c, NULL, err, 2, bad[i][0], bad[i][1]), NTF_EINVAL);
    assert_non_null(strstr(err, bad[i][0] + 2));
  }
  assert_int_equal(parse(&c, NULL, err, 1, "--bogus"), NTF_EINVAL);
  assert_non_null(strstr(err, "--bogus"));
  assert_int_equal(parse(&c, NULL, err, 1, "--threads"), NTF_EINVAL);
  assert_non_null(strstr(err, "needs a value"));
  assert_int_equal(parse(&c, NULL, err, 1, "stray"), NTF_EINVAL);
  static const char *const e[] = {"NOTIFIER_THREADS", "many", NULL};
  assert_int_equal(parse(&c, e, err, 0), NTF_EINVAL);
  assert_non_null(strstr(err, "NOTIFIER_THREADS"));
  /* A failed parse leaves the configuration as it was. */
  ntf_config_defaults(&c);
  char *argv[] = {"notifier", "--threads", "5", "--mode", "x"};
  fake_env = NULL;
  assert_int_equal(ntf_config_parse(&c, 5, argv, env, err, sizeof err),
                   NTF_EINVAL);
  assert_int_not_equal(c.threads, 5);
}

static void test_durations(void **state)
{
  (void)state;
  static const struct {
    const char *text;
    int64_t ms;
  } good[] = {{"1500ms", 1500}, {"1m30s", 90000}, {"1.5s", 1500},
              {"2m", 120000},   {"1h", 3600000},  {"0", 0}};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    int64_t ms = -1;
    assert_int_equal(ntf_parse_duration_ms(good[i].text, &ms), 0);
    assert_int_equal(ms, good[i].ms);
  }
  /* Under 1 ms would become 0 ("off"); and the one syntax: a bare number
   * (it used to mean milliseconds here) is refused. */
  static const char *const bad[] = {"",      "s",     "1d",  "nan",
                                    "1e300", "0.5ms", "1500"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int64_t ms = 42;
    assert_int_equal(ntf_parse_duration_ms(bad[i], &ms), NTF_EINVAL);
    assert_int_equal(ms, 42);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_env_and_precedence),
      cmocka_unit_test(test_bad_values),
      cmocka_unit_test(test_durations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
