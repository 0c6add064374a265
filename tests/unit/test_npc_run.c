/* The run folder's layout (common/run.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "npc.h"

static void phases_have_their_names(void **state)
{
  (void)state;
  assert_string_equal(npc_phase_name(NPC_PHASE_BASELINE), "baseline");
  assert_string_equal(npc_phase_name(NPC_PHASE_PLATEAU), "plateau");
  assert_string_equal(npc_phase_name(NPC_PHASE_DRAINED), "drained");
  for (int i = 0; i < NPC_NPHASES; i++) {
    npc_phase p;
    assert_int_equal(npc_phase_parse(npc_phase_name((npc_phase)i), &p), 0);
    assert_int_equal(p, i);
  }
  npc_phase p = NPC_PHASE_PLATEAU;
  assert_int_equal(npc_phase_parse("ramp", &p), -EINVAL);
  assert_int_equal(npc_phase_parse(NULL, &p), -EINVAL);
  assert_int_equal(p, NPC_PHASE_PLATEAU);
}

static void snapshot_files_are_phase_dot_suffix(void **state)
{
  (void)state;
  char buf[64];
  assert_int_equal(
      npc_run_file(NPC_PHASE_PLATEAU, NPC_RUN_HEAP, buf, sizeof buf), 0);
  assert_string_equal(buf, "plateau.heap.pb.gz");
  assert_int_equal(npc_run_file(NPC_PHASE_BASELINE, NPC_RUN_VARS, buf, 8),
                   -ENAMETOOLONG);
  /* The heap and thread profiles are what a run cannot do without. */
  int required = 0;
  for (size_t i = 0; i < npc_run_nitems; i++) {
    assert_int_equal(npc_run_items[i].path[0], '/');
    required += npc_run_items[i].required;
  }
  assert_int_equal(required, 2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(phases_have_their_names),
      cmocka_unit_test(snapshot_files_are_phase_dot_suffix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
