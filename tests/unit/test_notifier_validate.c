/* notifier-sim/validate.c: user ids must be short, valid UTF-8 and free of
 * control characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static int check(const char *s)
{
  return ntf_user_id_check(s, strlen(s));
}

static void test_accepts(void **state)
{
  (void)state;
  assert_int_equal(check(""), 0);
  assert_int_equal(check("alice"), 0);
  assert_int_equal(check("user-42@example.org"), 0);
  assert_int_equal(check("J\xc3\xbcrgen"), 0);    /* ü */
  assert_int_equal(check("\xe2\x82\xac"), 0);     /* € */
  assert_int_equal(check("\xf0\x9f\x98\x80"), 0); /* emoji */
  assert_int_equal(check("\xf4\x8f\xbf\xbf"), 0); /* U+10FFFF */
  char max[NTF_USER_ID_MAX + 1];
  memset(max, 'a', NTF_USER_ID_MAX);
  assert_int_equal(ntf_user_id_check(max, NTF_USER_ID_MAX), 0);
  assert_int_equal(ntf_user_id_check(max, NTF_USER_ID_MAX + 1), NTF_EINVAL);
}

static void test_rejects(void **state)
{
  (void)state;
  const char *bad[] = {
      "a\nb",        /* log injection */
      "\x1b[31mred", /* terminal escape */
      "tab\there",
      "del\x7f",
      "\xff",             /* not UTF-8 */
      "\xc3",             /* truncated */
      "\xc0\xaf",         /* overlong '/' */
      "\xe0\x80\xaf",     /* overlong */
      "\xed\xa0\x80",     /* surrogate */
      "\xf4\x90\x80\x80", /* above U+10FFFF */
      "\xe2\x82",         /* truncated 3-byte */
      "\x80"
      "abc", /* stray continuation */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(check(bad[i]), NTF_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts),
      cmocka_unit_test(test_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
