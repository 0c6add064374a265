/* Buffers, parsing and names (util.c). */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void buffer_refuses_to_pass_its_cap(void **state)
{
  (void)state;
  nprof__buf b;
  nprof__buf_init(&b, 10);
  assert_int_equal(nprof__buf_append(&b, "12345", 5), 0);
  assert_int_equal(nprof__buf_printf(&b, "%d", 6789), 0);
  assert_string_equal(b.data, "123456789");
  assert_int_equal(nprof__buf_append(&b, "ab", 2), NPROF_EINVAL);
  assert_int_equal(b.len, 9); /* unchanged by the refused append */
  assert_int_equal(nprof__buf_append(&b, "a", 1), 0);
  assert_int_equal(b.len, 10);
  nprof__buf_free(&b);
  assert_null(b.data);
}

static void buffer_printf_grows(void **state)
{
  (void)state;
  nprof__buf b;
  nprof__buf_init(&b, 1 << 20);
  char big[1000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(nprof__buf_printf(&b, "<%s>", big), 0);
  assert_int_equal(b.len, 1001);
  assert_int_equal(b.data[0], '<');
  assert_int_equal(b.data[1000], '>');
  nprof__buf_free(&b);
}

static void json_strings_are_escaped(void **state)
{
  (void)state;
  nprof__buf b;
  nprof__buf_init(&b, 1024);
  const char s[] = "a\"b\\c\nd\x01";
  assert_int_equal(nprof__buf_json_string(&b, s, sizeof(s) - 1), 0);
  assert_string_equal(b.data, "\"a\\\"b\\\\c\\u000ad\\u0001\"");
  nprof__buf_free(&b);
}

static void numbers_parse_strictly(void **state)
{
  (void)state;
  long v = 7;
  assert_int_equal(nprof__parse_long("42", 0, 100, &v), 0);
  assert_int_equal(v, 42);
  v = 7;
  assert_int_equal(nprof__parse_long("101", 0, 100, &v), NPROF_EINVAL);
  assert_int_equal(nprof__parse_long("4x", 0, 100, &v), NPROF_EINVAL);
  assert_int_equal(nprof__parse_long("", 0, 100, &v), NPROF_EINVAL);
  assert_int_equal(nprof__parse_long(" 4", 0, 100, &v), NPROF_EINVAL);
  assert_int_equal(nprof__parse_long(NULL, 0, 100, &v), NPROF_EINVAL);
  assert_int_equal(nprof__parse_long("99999999999999999999", 0, 100, &v),
                   NPROF_EINVAL);
  assert_int_equal(v, 7); /* untouched on failure */
  assert_int_equal(nprof__parse_long("-3", -5, 5, &v), 0);
  assert_int_equal(v, -3);
}

static void names_are_checked(void **state)
{
  (void)state;
  assert_true(nprof__name_valid("notifier.streams"));
  assert_true(nprof__name_valid("a-b_c.9"));
  assert_false(nprof__name_valid(""));
  assert_false(nprof__name_valid(NULL));
  assert_false(nprof__name_valid("has space"));
  assert_false(nprof__name_valid("slash/name"));
  assert_false(nprof__name_valid("quote\"d"));
  char long_name[80];
  memset(long_name, 'a', 65);
  long_name[65] = '\0';
  assert_false(nprof__name_valid(long_name));
  long_name[64] = '\0';
  assert_true(nprof__name_valid(long_name));
}

static void errors_have_words(void **state)
{
  (void)state;
  for (int e = NPROF_ESYSTEM; e <= NPROF_EINVAL; e++)
    assert_string_not_equal(nprof_strerror(e), "unknown error");
  assert_string_equal(nprof_strerror(-1000), "unknown error");
  assert_string_equal(nprof_strerror(0), "success");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(buffer_refuses_to_pass_its_cap),
      cmocka_unit_test(buffer_printf_grows),
      cmocka_unit_test(json_strings_are_escaped),
      cmocka_unit_test(numbers_parse_strictly),
      cmocka_unit_test(names_are_checked),
      cmocka_unit_test(errors_have_words),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
