/*
 * The layout of a load test's run folder, in one place: the loadgen writes
 * it, `nprof report` and `nprof compare` read it, the scripts only name the
 * folder.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "npc.h"

static const char *const phase_names[NPC_NPHASES] = {"baseline", "plateau",
                                                     "drained"};

const npc_run_item npc_run_items[] = {
    {"/debug/pprof/heap", NPC_RUN_HEAP, true},
    {"/debug/pprof/goroutine", NPC_RUN_THREADS, true},
    {"/debug/pprof/heap?debug=1", NPC_RUN_HEAP_TEXT, false},
    {"/debug/pprof/goroutine?debug=1", NPC_RUN_THREADS_TEXT, false},
    {"/debug/vars", NPC_RUN_VARS, false},
};
const size_t npc_run_nitems = sizeof npc_run_items / sizeof npc_run_items[0];

const char *npc_phase_name(npc_phase p)
{
  return (unsigned)p < NPC_NPHASES ? phase_names[p] : "unknown";
}

int npc_phase_parse(const char *name, npc_phase *out)
{
  for (int i = 0; i < NPC_NPHASES; i++)
    if (name != NULL && strcmp(name, phase_names[i]) == 0) {
      *out = (npc_phase)i;
      return 0;
    }
  return -EINVAL;
}

int npc_run_file(npc_phase p, const char *suffix, char *buf, size_t size)
{
  int n = snprintf(buf, size, "%s.%s", npc_phase_name(p), suffix);
  return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
