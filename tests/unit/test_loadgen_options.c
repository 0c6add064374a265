/* Flags, durations and the connection plan (loadgen/options.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "loadgen_flags.h"

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
  assert_int_equal(loadgen_parse_flags(&o, ok, err, sizeof err), 0);
  assert_string_equal(o.host, "127.0.0.1");
  assert_string_equal(o.port, "9000");
  assert_int_equal(o.streams, 10);
  assert_int_equal(o.conns, 4);   /* ceil(10 / 3) */
  assert_int_equal(o.threads, 4); /* no more threads than connections */
  assert_int_equal(o.hold_ns, 2000000000);
  assert_true(o.reconnect);
  assert_int_equal(o.publish, 2);

  const char *defaults[] = {NULL};
  assert_int_equal(loadgen_parse_flags(&o, defaults, err, sizeof err), 0);
  assert_int_equal(o.streams, 1000);
  assert_int_equal(o.streams_per_conn, 1);
  assert_string_equal(o.port, "50051");

  const char *v6[] = {"--target", "[::1]:50051", NULL};
  assert_int_equal(loadgen_parse_flags(&o, v6, err, sizeof err), 0);
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
    assert_int_equal(loadgen_parse_flags(&o, args, err, sizeof err), LG_EINVAL);
    assert_true(strlen(err) > 0);
  }
  const char *bad_hold[] = {"--hold", "5x", NULL};
  loadgen_parse_flags(&o, bad_hold, err, sizeof err);
  assert_non_null(strstr(err, "--hold 5x"));
  /* The one duration syntax: a bare number (it used to mean seconds here)
   * is refused with what to write instead. */
  const char *bare[] = {"--hold", "3", NULL};
  assert_int_equal(loadgen_parse_flags(&o, bare, err, sizeof err), LG_EINVAL);
  assert_non_null(strstr(err, NPC_DURATION_HELP));
  const char *go[] = {"--hold", "1m30s", NULL};
  assert_int_equal(loadgen_parse_flags(&o, go, err, sizeof err), 0);
  assert_int_equal(o.hold_ns, 90000000000ull);
}

static void test_new_flags(void **state)
{
  (void)state;
  lg_options o;
  char err[256];
  const char *forever[] = {"--hold", "forever", "--rate", "0.5", NULL};
  assert_int_equal(loadgen_parse_flags(&o, forever, err, sizeof err), 0);
  assert_true(o.hold_ns == LG_HOLD_FOREVER);
  assert_true(o.rate == 0.5); /* RATE as a float */
  lg_options_free(&o);
  const char *run[] = {"--run-dir",
                       "/tmp/r",
                       "--snapshot-url",
                       "http://127.0.0.1:8086",
                       "--cacert",
                       "ca.pem",
                       "--server-name",
                       "api.example",
                       "-H",
                       "a: 1",
                       "--headers",
                       "b: 2; c: 3",
                       "--vars-interval",
                       "250ms",
                       NULL};
  assert_int_equal(loadgen_parse_flags(&o, run, err, sizeof err), 0);
  assert_string_equal(o.snapshot_dir, "/tmp/r"); /* the run folder */
  assert_string_equal(o.json_path, "/tmp/r/loadgen.json");
  assert_string_equal(o.debug_url, "http://127.0.0.1:8086");
  assert_true(o.tls); /* --cacert implies --tls */
  assert_string_equal(o.authority, "api.example:50051");
  assert_string_equal(o.sni, "api.example");
  assert_int_equal(o.metadata.n, 3);
  assert_int_equal(o.vars_interval_ns, 250000000);
  assert_string_equal(o.run_mode, "external");
  lg_options_free(&o);
  const char *unary[] = {
      "--rps", "1500.5",       "--duration", "forever",        "--concurrency",
      "64",    "--max-errors", "2.5",        "--call-timeout", "2s",
      NULL};
  assert_int_equal(loadgen_parse_flags(&o, unary, err, sizeof err), 0);
  assert_true(o.rps == 1500.5);
  assert_true(o.duration_ns == LG_HOLD_FOREVER);
  assert_true(o.duration_set);
  assert_int_equal(o.concurrency, 64);
  assert_true(o.max_errors_pct == 2.5);
  assert_int_equal(o.call_timeout_ns, 2000000000ull);
  lg_options_free(&o);

  struct {
    const char *args[5];
    const char *says;
  } bad[] = {
      {{"--rps", "0"}, "--rps 0"},
      {{"--rps", "lots"}, "--rps lots"},
      {{"--max-errors", "101"}, "percentage"},
      {{"--duration", "3"}, NPC_DURATION_HELP},
      {{"--call-timeout", "forever"}, "not a duration"},
      {{"--vars-interval", "1ms"}, "at least 10ms"},
      {{"--cacert", "a", "--insecure"}, "not both"},
      {{"--proto", "x.proto"}, "need --call"},
      {{"--call", "a.B/C"}, "needs its --proto"},
      {{"--data", "a", "--data-file", "b"}, "not both"},
      {{"-H", "connection: close"}, "reserved"},
      {{"--run-mode", "k8s"}, "native, docker or external"},
      {{"--server-name", "a b"}, "host name"},
      {{"--latency-field", "0"}, "field number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    if (loadgen_parse_flags(&o, bad[i].args, err, sizeof err) != LG_EINVAL ||
        strstr(err, bad[i].says) == NULL)
      fail_msg("case %zu: '%s', want '%s'", i, err, bad[i].says);
    lg_options_free(&o);
  }
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
      cmocka_unit_test(test_new_flags),
      cmocka_unit_test(test_plan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
