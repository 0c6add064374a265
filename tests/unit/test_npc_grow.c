/* npc_grow (common/grow.c): doubling from a first size, the contents kept,
 * and the size maths refused rather than wrapped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>

#include "npc.h"

static void doubles_from_the_first_size_and_keeps_the_contents(void **state)
{
  (void)state;
  int *v = NULL;
  size_t alloc = 0, n = 0;
  for (int i = 0; i < 1000; i++) {
    if (n == alloc) {
      size_t before = alloc;
      int *nv = npc_grow(v, &alloc, sizeof *v, 16);
      assert_non_null(nv);
      assert_int_equal(alloc, before == 0 ? 16 : before * 2);
      v = nv;
    }
    v[n++] = i;
  }
  assert_int_equal(alloc, 1024);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(v[i], i);
  free(v);
}

static void refuses_sizes_past_size_max(void **state)
{
  (void)state;
  char *v = malloc(8);
  assert_non_null(v);
  size_t alloc = SIZE_MAX / 2 + 1; /* doubling wraps */
  assert_null(npc_grow(v, &alloc, 1, 8));
  assert_int_equal(alloc, SIZE_MAX / 2 + 1); /* untouched */
  alloc = SIZE_MAX / 16;                     /* n * size wraps */
  assert_null(npc_grow(v, &alloc, 64, 8));
  assert_int_equal(alloc, SIZE_MAX / 16);
  free(v);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(doubles_from_the_first_size_and_keeps_the_contents),
      cmocka_unit_test(refuses_sizes_past_size_max),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
