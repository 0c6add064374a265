/* JSON strings (common/json.c): quotes, backslashes and control
 * characters escaped, UTF-8 kept as it is, NULL as null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capture.h"
#include <stdlib.h>
#include <string.h>

#include "npc.h"

static char *render(const char *s)
{
  struct capture c;
  npc_json_string(capture_open(&c), s);
  return capture_close(&c);
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
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    capture_expect(render(cases[i].in), cases[i].out);
  capture_expect(render(NULL), "null");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(strings_are_escaped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
