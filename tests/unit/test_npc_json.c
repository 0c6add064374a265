/* JSON strings (common/json.c): quotes, backslashes and control
 * characters escaped, UTF-8 kept as it is, NULL as null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "npc.h"

static char *render(const char *s)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  npc_json_string(f, s);
  fclose(f);
  return buf;
}

static void strings_are_escaped(void **state)
{
  (void)state;
  struct {
    const char *in, *out;
  } cases[] = {
      {"plain", "\"plain\""},
      {"", "\"\""},
      {"a \"b\" c\\d", "\"a \\\"b\\\" c\\\\d\""},
      {"line\nnext\ttab\x01", "\"line\\u000anext\\u0009tab\\u0001\""},
      {"caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\""},
      {"</script>", "\"</script>\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *s = render(cases[i].in);
    assert_string_equal(s, cases[i].out);
    free(s);
  }
  char *n = render(NULL);
  assert_string_equal(n, "null");
  free(n);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(strings_are_escaped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
