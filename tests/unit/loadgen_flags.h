/* The loadgen's command line as its main() hands it to lg_options_parse
 * (argv[0] "loadgen", then the flags), for the unit tests that start from
 * flags: options, shard, call and run. */
#ifndef LOADGEN_TESTS_FLAGS_H
#define LOADGEN_TESTS_FLAGS_H

#include "internal.h"

/* The most flags a test passes; more fails the test instead of writing
 * past argv. */
#define LOADGEN_TEST_MAX_FLAGS 38

/* Parses the NULL-terminated `args` into *o; returns lg_options_parse's
 * code, err filled on failure. */
static inline int loadgen_parse_flags(lg_options *o, const char **args,
                                      char *err, size_t errlen)
{
  char *argv[LOADGEN_TEST_MAX_FLAGS + 2];
  int argc = 0;
  argv[argc++] = "loadgen";
  for (; *args; args++) {
    if (argc > LOADGEN_TEST_MAX_FLAGS)
      fail_msg("more than %d flags", LOADGEN_TEST_MAX_FLAGS);
    argv[argc++] = (char *)*args;
  }
  argv[argc] = NULL;
  return lg_options_parse(o, argc, argv, err, errlen);
}

#endif
