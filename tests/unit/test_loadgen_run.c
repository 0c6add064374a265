/* run.json (loadgen/run.c): the run's parameters as the loadgen took
 * them, in the contract's fields, headers by name only. Read back with
 * json-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "loadgen_flags.h"

static json_object *run_json(const char **args)
{
  lg_options o;
  char err[512] = "";
  if (loadgen_parse_flags(&o, args, err, sizeof err) != 0 ||
      lg_call_prepare(&o, err, sizeof err) != 0)
    fail_msg("%s", err);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  lg_run_json_write(f, &o, 1700000000);
  fclose(f);
  json_object *j = json_tokener_parse(buf);
  if (j == NULL)
    fail_msg("not JSON: %s", buf);
  /* a secret never lands in the run folder */
  assert_null(strstr(buf, "s3cret"));
  free(buf);
  lg_options_free(&o);
  return j;
}

static const char *str(json_object *j, const char *k)
{
  json_object *v;
  assert_true(json_object_object_get_ex(j, k, &v));
  return v == NULL ? NULL : json_object_get_string(v);
}

static int64_t num(json_object *j, const char *k)
{
  json_object *v;
  assert_true(json_object_object_get_ex(j, k, &v));
  return json_object_get_int64(v);
}

static void test_notifier_preset(void **state)
{
  (void)state;
  const char *args[] = {"--target",
                        "127.0.0.1:50051",
                        "--streams",
                        "1000",
                        "--hold",
                        "forever",
                        "--rate",
                        "250.5",
                        "--users-var",
                        "notifier.users",
                        "--run-mode",
                        "native",
                        "--snapshot-url",
                        "http://127.0.0.1:8086",
                        "--run-dir",
                        "/tmp/x",
                        NULL};
  json_object *j = run_json(args);
  assert_int_equal(num(j, "schema"), 1);
  assert_string_equal(str(j, "started"), "2023-11-14T22:13:20Z");
  assert_string_equal(str(j, "target"), "127.0.0.1:50051");
  assert_string_equal(str(j, "call"), "notifier.Notifier/Connect");
  assert_string_equal(str(j, "method_kind"), "server_streaming");
  assert_null(str(j, "proto"));
  assert_int_equal(num(j, "test_count"), 1000);
  assert_int_equal(num(j, "streams_per_conn"), 1);
  assert_string_equal(str(j, "hold"), "forever");
  json_object *v;
  assert_true(json_object_object_get_ex(j, "rate", &v));
  assert_true(json_object_get_double(v) == 250.5);
  assert_null(str(j, "duration"));
  assert_true(json_object_object_get_ex(j, "tls", &v));
  assert_false(json_object_get_boolean(v));
  assert_string_equal(str(j, "debug_url"), "http://127.0.0.1:8086");
  assert_string_equal(str(j, "mode"), "native");
  assert_null(str(j, "service"));
  assert_string_equal(str(j, "users_var"), "notifier.users");
  assert_int_equal(num(j, "shard_count"), 1);
  json_object_put(j);
}

static void test_any_service(void **state)
{
  (void)state;
  const char *args[] = {"--call",
                        "tt.Kinds/Unary",
                        "--proto",
                        "tests/loadgen/proto/template.proto",
                        "--rps",
                        "100",
                        "--duration",
                        "1m30s",
                        "-H",
                        "authorization: Bearer s3cret",
                        "--header",
                        "x-tenant: 7",
                        "--tls",
                        "--server-name",
                        "api.example",
                        "--run-service",
                        "python3 srv.py --port 5",
                        "--debug-url",
                        "http://127.0.0.1:6060",
                        NULL};
  json_object *j = run_json(args);
  assert_string_equal(str(j, "call"), "tt.Kinds/Unary");
  assert_string_equal(str(j, "method_kind"), "unary");
  assert_string_equal(str(j, "proto"), "tests/loadgen/proto/template.proto");
  assert_string_equal(str(j, "duration"), "1m30s");
  assert_string_equal(str(j, "hold"), "10s");
  json_object *v;
  assert_true(json_object_object_get_ex(j, "rps", &v));
  assert_true(json_object_get_double(v) == 100);
  assert_true(json_object_object_get_ex(j, "tls", &v));
  assert_true(json_object_get_boolean(v));
  assert_true(json_object_object_get_ex(j, "headers", &v));
  assert_int_equal(json_object_array_length(v), 2);
  assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
                      "authorization");
  assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)),
                      "x-tenant");
  assert_string_equal(str(j, "mode"), "external");
  assert_string_equal(str(j, "service"), "python3 srv.py --port 5");
  assert_string_equal(str(j, "debug_url"), "http://127.0.0.1:6060");
  assert_null(str(j, "users_var"));
  json_object_put(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_notifier_preset),
      cmocka_unit_test(test_any_service),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
