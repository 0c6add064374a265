/* Unit tests for profiler/cli/json.c, the reader behind `nprof report`'s
 * vars, loadgen and run files: values, escapes, lookups, and the errors
 * and bounds on bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static struct cli_json *parse_ok(const char *text)
{
  struct cli_json *j = NULL;
  char err[CLI_ERRLEN] = "";

  if (cli_json_parse(text, strlen(text), &j, err, sizeof(err)) != 0)
    fail_msg("%s: %s", text, err);
  return j;
}

static void test_json_vars(void **state)
{
  const char *text =
      "{\n\"cmdline\": [\"/usr/bin/python3\", \"-u\"],\n"
      "\"process\": {\"rss_bytes\": 18526208, \"threads\": 3, "
      "\"cpu_user_seconds\": 0.034},\n"
      "\"nprof\": {\"heap_inuse_bytes\": 2166589},\n"
      "\"notifier.streams\": 1000, \"ok\": true, \"no\": false, \"z\": null,\n"
      "\"neg\": -1.5e3}\n";
  struct cli_json *j = parse_ok(text);
  const struct cli_json *p;
  double v = 0;

  (void)state;
  assert_int_equal(j->type, CLI_JSON_OBJECT);
  assert_int_equal(j->count, 8);
  p = cli_json_get(j, "process");
  assert_non_null(p);
  assert_true(cli_json_number(p, "rss_bytes", &v));
  assert_true(v == 18526208);
  assert_true(cli_json_number(p, "cpu_user_seconds", &v));
  assert_true(v == 0.034);
  assert_true(cli_json_number(j, "notifier.streams", &v));
  assert_true(v == 1000);
  assert_true(cli_json_number(j, "neg", &v));
  assert_true(v == -1500);
  assert_int_equal(cli_json_get(j, "ok")->type, CLI_JSON_BOOL);
  assert_true(cli_json_get(j, "ok")->boolean);
  assert_false(cli_json_get(j, "no")->boolean);
  assert_int_equal(cli_json_get(j, "z")->type, CLI_JSON_NULL);
  assert_int_equal(cli_json_get(j, "cmdline")->count, 2);
  assert_string_equal(cli_json_get(j, "cmdline")->child->next->string, "-u");
  /* Wrong types and absent keys: not found, out untouched. */
  v = 42;
  assert_false(cli_json_number(j, "cmdline", &v));
  assert_false(cli_json_number(j, "missing", &v));
  assert_false(cli_json_number(NULL, "x", &v));
  assert_true(v == 42);
  assert_null(cli_json_string(j, "process"));
  assert_null(cli_json_get(cli_json_get(j, "cmdline"), "x"));
  cli_json_free(j);
  cli_json_free(NULL);
}

static void test_json_strings(void **state)
{
  struct cli_json *j = parse_ok(
      "{\"s\": \"a\\\"b\\\\c\\/d\\n\\u00e9\\u20ac\\ud83d\\udd25\\ud800x\","
      " \"dup\": 1, \"dup\": 2, \"\": \"empty key\"}");
  double v = 0;

  (void)state;
  assert_string_equal(cli_json_string(j, "s"),
                      "a\"b\\c/d\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\xa5"
                      "\xef\xbf\xbdx");
  assert_true(cli_json_number(j, "dup", &v));
  assert_true(v == 2); /* the last wins */
  assert_string_equal(cli_json_string(j, ""), "empty key");
  cli_json_free(j);
  j = parse_ok("\xef\xbb\xbf [1, 2.5, [], {}] ");
  assert_int_equal(j->type, CLI_JSON_ARRAY);
  assert_int_equal(j->count, 4);
  cli_json_free(j);
}

static void test_json_numbers(void **state)
{
  static const double want[] = {0, -12, -0.5e-3, 1e2, 2.5, 1e-2, 314};
  struct cli_json *j = parse_ok("[0, -12, -0.5e-3, 1E+2, 2.5, 10e-3, 3.14e2]");

  (void)state;
  assert_int_equal(j->count, sizeof(want) / sizeof(want[0]));
  size_t i = 0;
  for (const struct cli_json *c = j->child; c != NULL; c = c->next, i++) {
    assert_int_equal(c->type, CLI_JSON_NUMBER);
    assert_true(c->number == want[i]);
  }
  cli_json_free(j);
}

static void expect_bad(const char *text, size_t len, const char *msg)
{
  struct cli_json *j = (struct cli_json *)0x1;
  char err[CLI_ERRLEN] = "";

  assert_int_equal(cli_json_parse(text, len, &j, err, sizeof(err)),
                   CLI_EINVALID);
  assert_ptr_equal(j, (struct cli_json *)0x1);
  if (strstr(err, msg) == NULL)
    fail_msg("\"%.*s\": error \"%s\" lacks \"%s\"", (int)len, text, err, msg);
}

static void test_json_errors(void **state)
{
  char deep[200];

  (void)state;
  expect_bad("", 0, "unexpected end");
  expect_bad("{", 1, "expected a member name");
  expect_bad("{\"a\" 1}", 7, "expected ':'");
  expect_bad("{\"a\":1,}", 8, "expected a member name");
  expect_bad("[1,]", 4, "unexpected character");
  expect_bad("[1 2]", 5, "expected ',' or ']'");
  expect_bad("\"abc", 4, "unterminated string");
  expect_bad("\"a\x01\"", 4, "control character");
  expect_bad("\"\\x\"", 4, "bad escape");
  expect_bad("\"\\u12G4\"", 8, "bad \\u escape");
  expect_bad("01", 2, "trailing characters");
  expect_bad("1.", 2, "bad number");
  expect_bad("1.e5", 4, "bad number");
  expect_bad("1e", 2, "bad number");
  expect_bad("1e+", 3, "bad number");
  expect_bad("-x", 2, "unexpected character");
  expect_bad("-", 1, "unexpected character");
  expect_bad("tru", 3, "unexpected word");
  expect_bad("{} x", 4, "trailing characters");
  expect_bad("{\"a\":1}\0", 8, "trailing characters");
  memset(deep, '[', sizeof(deep));
  expect_bad(deep, 65, "nested too deep");
  /* 64 levels are fine. */
  memset(deep, '[', 64);
  memset(deep + 64, ']', 64);
  cli_json_free(parse_ok((deep[128] = '\0', deep)));
}

static void test_json_load(void **state)
{
  char path[] = "/tmp/test_cli_json.XXXXXX", err[CLI_ERRLEN] = "";
  struct cli_json *j = NULL;
  int fd = mkstemp(path);
  FILE *f;

  (void)state;
  assert_true(fd >= 0);
  f = fdopen(fd, "w");
  assert_non_null(f);
  fputs("{\"streams_established\": 1000}", f);
  fclose(f);
  assert_int_equal(cli_json_load(path, 1024, &j, err, sizeof(err)), 0);
  cli_json_free(j);
  j = NULL;
  assert_int_equal(cli_json_load(path, 10, &j, err, sizeof(err)), CLI_ETOOBIG);
  assert_null(j);
  assert_non_null(strstr(err, path));
  unlink(path);
  assert_int_equal(cli_json_load(path, 1024, &j, err, sizeof(err)), CLI_EIO);
  assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_vars),    cmocka_unit_test(test_json_strings),
      cmocka_unit_test(test_json_numbers), cmocka_unit_test(test_json_errors),
      cmocka_unit_test(test_json_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
