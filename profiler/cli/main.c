/*
 * nprof: the command-line side of libnprof. One verb per module; each verb
 * parses its own options and returns a CLI_EXIT_* code (0 done, 1 failed,
 * 2 usage).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct verb {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

static const struct verb verbs[] = {
    {"fetch", cli_fetch_main, "download a profile: fetch URL -o FILE"},
    {"top", cli_top_main, "flat/cum table of a profile: top FILE [-n N]"},
    {"diff", cli_diff_main, "growth from BASE to NEW: diff BASE NEW [-n N]"},
    {"report", cli_report_main, "load test report: report RUN_DIR"},
    {"compare", cli_compare_main,
     "two load test runs: compare BASE_RUN NEW_RUN [--max-increase PCT]"},
    {"merge", cli_merge_main, "a sharded run: merge -o OUT.json SHARD.json..."},
};

static void usage(FILE *f)
{
  fprintf(f,
          "usage: nprof VERB [OPTIONS] ARGS   (nprof help VERB)\n\nverbs:\n");
  for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
    fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
}

static const struct verb *find_verb(const char *name)
{
  for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
    if (strcmp(verbs[i].name, name) == 0)
      return &verbs[i];
  }
  return NULL;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    if (argc > 2 && strcmp(argv[1], "help") == 0) {
      char help[] = "--help";
      char *hargv[] = {argv[2], help, NULL};
      const struct verb *v = find_verb(argv[2]);
      if (v == NULL) {
        fprintf(stderr, "nprof: unknown verb \"%s\"\n", argv[2]);
        usage(stderr);
        return CLI_EXIT_USAGE;
      }
      return v->run(2, hargv);
    }
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const struct verb *v = find_verb(argv[1]);
  if (v == NULL) {
    fprintf(stderr, "nprof: unknown verb \"%s\"\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  return v->run(argc - 1, argv + 1);
}
