/* The HTTP layer's own logic (http.c): the DNS-rebinding guard on the Host
 * header, and the environment lists it reads (config.c). */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void ip_literals_and_localhost_pass(void **state)
{
  (void)state;
  const char *pass[] = {NULL, /* HTTP/1.0: no Host header */
                        "127.0.0.1",
                        "127.0.0.1:6060",
                        "10.0.0.7:80",
                        "[::1]",
                        "[::1]:8086",
                        "localhost",
                        "LocalHost:8086",
                        "localhost.",
                        "localhost.:1"};
  for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
    assert_true(nprof__http_host_allowed(pass[i], NULL));
}

static void other_names_are_refused(void **state)
{
  (void)state;
  const char *refuse[] = {"",
                          "evil.example",
                          "evil.example:6060",
                          "localhost.evil.example",
                          "127.0.0.1.evil.example",
                          "127.1",       /* inet_aton would take it */
                          "0x7f000001",  /* likewise */
                          "127.0.0.1:",  /* an empty port */
                          "127.0.0.1:x", /* a bad one */
                          "127.0.0.1:123456",
                          "[::1",
                          "[::1]x",
                          "::1",
                          "[evil.example]",
                          "[fe80::1%25eth0]", /* a zone id: not a literal */
                          ":80",
                          "notifier"};
  for (size_t i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++)
    assert_false(nprof__http_host_allowed(refuse[i], NULL));
}

static void allowed_names_pass_case_insensitively(void **state)
{
  (void)state;
  const char *allowed = " notifier , Build.Example,,x";
  assert_true(nprof__http_host_allowed("notifier", allowed));
  assert_true(nprof__http_host_allowed("notifier:8086", allowed));
  assert_true(nprof__http_host_allowed("NOTIFIER:8086", allowed));
  assert_true(nprof__http_host_allowed("build.example", allowed));
  assert_true(nprof__http_host_allowed("x", allowed));
  assert_false(nprof__http_host_allowed("notifier.evil", allowed));
  assert_false(nprof__http_host_allowed("otifier", allowed));
  assert_false(nprof__http_host_allowed("build", allowed));
  assert_false(nprof__http_host_allowed("notifier:80x", allowed));
  /* "*" lets every name through (a deliberate opt-out). */
  assert_true(nprof__http_host_allowed("anything.example", "a, *"));
}

static void lists_match_whole_items(void **state)
{
  (void)state;
  assert_true(nprof__list_has("a,bb, ccc ", "ccc", 3));
  assert_true(nprof__list_has("a,bb, ccc ", "BB", 2));
  assert_false(nprof__list_has("a,bb, ccc ", "b", 1));
  assert_false(nprof__list_has("a,bb, ccc ", "cc", 2));
  assert_false(nprof__list_has("", "a", 1));
  assert_false(nprof__list_has(NULL, "a", 1));
  assert_false(nprof__list_has(" , ,", "", 0));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ip_literals_and_localhost_pass),
      cmocka_unit_test(other_names_are_refused),
      cmocka_unit_test(allowed_names_pass_case_insensitively),
      cmocka_unit_test(lists_match_whole_items),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
