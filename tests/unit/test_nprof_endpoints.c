/* Go's net/http/pprof semantics of the endpoints (endpoints.c): statuses,
 * error texts, text formats, the symbol lookup. */
#include "internal.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint_helper.h"

static void errors_match_go(void **state)
{
  (void)state;
  static const char positive[] =
      "invalid value for \"seconds\" - must be a positive integer\n";
  static const struct {
    const char *name, *debug, *seconds;
    int status;
    const char *text;
  } cases[] = {
      {"nosuch", NULL, NULL, 404, "Unknown profile\n"},
      {"heap", NULL, "abc", 400, positive},
      {"heap", NULL, "0", 400, positive},
      {"heap", NULL, "-5", 400, positive},
      {"heap", NULL, "99999999999999999999999", 400, positive},
      {"heap", NULL, "1000000", 400,
       "profile duration exceeds server's WriteTimeout\n"},
      {"heap", "1", "5", 400, "seconds and debug params are incompatible\n"},
      {"goroutine", NULL, "5", 400,
       "\"seconds\" parameter is not supported for this profile type\n"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect_go_error(cases[i].name, cases[i].debug, cases[i].seconds,
                    cases[i].status, cases[i].text);
}

static void heap_text_has_go_header_and_memory_section(void **state)
{
  (void)state;
  nprof__response res;
  serve(&res, "heap", "1", NULL);
  assert_int_equal(res.status, 200);
  assert_false(res.go_error);
  assert_string_equal(res.content_type, "text/plain; charset=utf-8");
  assert_true(strncmp(res.body.data, "heap profile: ", 14) == 0);
  char rate[32];
  snprintf(rate, sizeof(rate), "@ heap/%ld\n", 2 * nprof__heap_rate_get());
  assert_non_null(strstr(res.body.data, rate));
  assert_non_null(strstr(res.body.data, "# VmRSS = "));
  nprof__buf_free(&res.body);
}

static void binary_profiles_are_attachments(void **state)
{
  (void)state;
  /* Junk debug values mean 0, as strconv.Atoi's error is ignored in Go. */
  const char *names[] = {"heap", "allocs", "goroutine"};
  for (int i = 0; i < 3; i++) {
    nprof__response res;
    serve(&res, names[i], "zz", NULL);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "application/octet-stream");
    assert_string_equal(res.disposition, names[i]);
    assert_true(res.body.len > 18);
    assert_int_equal((unsigned char)res.body.data[0], 0x1f);
    nprof__buf_free(&res.body);
  }
}

static void goroutine_texts(void **state)
{
  (void)state;
  nprof__response res;
  serve_expect_start(&res, "goroutine", "1", NULL, "goroutine profile: total ");
  assert_non_null(strstr(res.body.data, "goroutine_texts"));
  nprof__buf_free(&res.body);
  serve_expect_start(&res, "goroutine", "2", NULL, "thread ");
  assert_non_null(strstr(res.body.data, "[running]:\n"));
  assert_non_null(strstr(res.body.data, "goroutine_texts(...)\n\t"));
  nprof__buf_free(&res.body);
}

static nprof__response symbol(const char *query)
{
  nprof__response res = {.status = 0};
  nprof__buf_init(&res.body, 1 << 20);
  nprof__endpoint_symbol(query, strlen(query), &res);
  return res;
}

static volatile int sink;
__attribute__((noinline)) static void symbol_target(void)
{
  for (int i = 0; i < 10; i++) /* a body of a few instructions */
    sink += i;
}

static void symbol_lookups(void **state)
{
  (void)state;
  nprof__response res = symbol("");
  assert_int_equal(res.status, 200);
  assert_string_equal(res.body.data, "num_symbols: 1\n");
  nprof__buf_free(&res.body);

  char q[128], want[128];
  uintptr_t a = (uintptr_t)symbol_target;
  snprintf(q, sizeof(q), "%#" PRIxPTR "+0x1+junk+%#" PRIxPTR "\n", a, a + 1);
  snprintf(want, sizeof(want),
           "num_symbols: 1\n%#" PRIxPTR " symbol_target\n%#" PRIxPTR
           " symbol_target\n",
           a, a + 1);
  res = symbol(q);
  assert_string_equal(res.body.data, want);
  nprof__buf_free(&res.body);

  /* Junk of every kind: only the header line comes back. */
  const char *junk[] = {"+",
                        "++++",
                        "0x",
                        "-1",
                        "0xzz",
                        "+0x1",
                        "99999999999999999999999999999",
                        "\xff\xfe"};
  for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
    res = symbol(junk[i]);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body.data, "num_symbols: 1\n");
    nprof__buf_free(&res.body);
  }
}

static void index_lists_profiles(void **state)
{
  (void)state;
  nprof__response res = {.status = 0};
  nprof__buf_init(&res.body, 1 << 20);
  nprof__endpoint_index(&res);
  assert_int_equal(res.status, 200);
  assert_string_equal(res.content_type, "text/html; charset=utf-8");
  const char *want[] = {
      "<a href='allocs?debug=1'>allocs</a>", "<a href='heap?debug=1'>heap</a>",
      "<a href='goroutine?debug=1'>goroutine</a>",
      "<a href='cmdline?debug=1'>cmdline</a>", "goroutine?debug=2"};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    assert_non_null(strstr(res.body.data, want[i]));
  nprof__buf_free(&res.body);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(errors_match_go),
      cmocka_unit_test(heap_text_has_go_header_and_memory_section),
      cmocka_unit_test(binary_profiles_are_attachments),
      cmocka_unit_test(goroutine_texts),
      cmocka_unit_test(symbol_lookups),
      cmocka_unit_test(index_lists_profiles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
