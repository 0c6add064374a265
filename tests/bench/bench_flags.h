/* The C benchmarks' flags: `--NAME VALUE` pairs, any order, the last of a
 * name winning; an unknown name is passed over. Each program checks the
 * ranges of what it reads and prints its usage. */
#ifndef NPROF_TESTS_BENCH_FLAGS_H
#define NPROF_TESTS_BENCH_FLAGS_H

#include <stdlib.h>
#include <string.h>

/* The value of --NAME as a number (atol), or dflt when it is absent. */
static inline long flag_long(int argc, char **argv, const char *name, long dflt)
{
  long v = dflt;
  for (int i = 1; i + 1 < argc; i += 2)
    if (strcmp(argv[i], name) == 0)
      v = atol(argv[i + 1]);
  return v;
}

#endif
