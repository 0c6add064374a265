/*
 * The figures of one /debug/vars object, as libnprof serves it: "process"
 * (RSS and its split, threads, open files), "nprof" (the sampled heap),
 * "malloc" (glibc's own accounting) and the application's variables at top
 * level by their dotted names. Older libnprof lacks the malloc section and
 * the RSS split; a server that only speaks Go's expvar layout lacks all of
 * it. Whatever is absent reads as NAN, never as 0.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "cli.h"

void cli_vars_read(const struct cli_json *vars, const char *users_var,
                   struct cli_vars *out)
{
  assert(out != NULL);
  const struct cli_json *proc = cli_json_get(vars, "process");
  const struct cli_json *np = cli_json_get(vars, "nprof");
  const struct cli_json *m = cli_json_get(vars, "malloc");

  out->rss = cli_json_num(proc, "rss_bytes");
  out->peak_rss = cli_json_num(proc, "peak_rss_bytes");
  out->rss_anon = cli_json_num(proc, "rss_anon_bytes");
  out->rss_file = cli_json_num(proc, "rss_file_bytes");
  out->thread_stacks = cli_json_num(proc, "thread_stacks_rss_bytes");
  out->fds = cli_json_num(proc, "open_fds");
  /* libnprof's own server threads come and go with requests: not the
   * application's. */
  out->threads = cli_json_num(proc, "threads");
  double own = cli_json_num(proc, "profiler_threads");
  if (!isnan(own))
    out->threads -= own;
  out->heap_inuse = cli_json_num(np, "heap_inuse_bytes");
  out->allocator = cli_json_string(m, "allocator");
  out->malloc_in_use = cli_json_num(m, "in_use_bytes");
  out->malloc_free = cli_json_num(m, "free_bytes");
  out->malloc_mmapped = cli_json_num(m, "mmapped_bytes");
  out->malloc_releasable = cli_json_num(m, "releasable_bytes");
  out->malloc_arenas = cli_json_num(m, "arenas");
  out->users = users_var != NULL && users_var[0] != '\0'
                   ? cli_json_num(vars, users_var)
                   : NAN;
}
