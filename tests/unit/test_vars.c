/* /debug/vars (vars.c) and the /proc readers behind its figures
 * (procstat.c). */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fork_helper.h"

static void write_vars(void)
{
  nprof__buf out;
  nprof__buf_init(&out, 1 << 24);
  nprof__vars_write(&out);
  nprof__buf_free(&out);
}

static void child_writes_and_adds(void)
{
  nprof__buf out;
  nprof__buf_init(&out, 1 << 24);
  if (nprof__vars_write(&out) != 0 || !strstr(out.data, "\"fork.v1999\""))
    _exit(1);
  nprof__buf_free(&out);
  if (!nprof_var_new_int("fork.child"))
    _exit(2);
}

/* A fork while another thread writes /debug/vars: the child must not
 * inherit the variables' lock held. */
static void fork_child_can_use_vars(void **state)
{
  (void)state;
  for (int i = 0; i < 2000; i++) {
    char name[32];
    snprintf(name, sizeof(name), "fork.v%d", i);
    assert_non_null(nprof_var_new_int(name));
  }
  assert_int_equal(fork_while_busy(write_vars, child_writes_and_adds), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fork_child_can_use_vars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
