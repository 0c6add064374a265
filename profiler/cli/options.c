/*
 * What the verbs' command lines share: --symbolize, -h/--help, and how a
 * missing value or an unknown option is said. Each verb parses its own
 * options with getopt_long and hands every case it does not own here.
 */
#include <assert.h>
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

int cli_option_common(const char *verb, int c, char **argv,
                      void (*usage)(FILE *), struct cli_symbolize_options *so)
{
  assert(verb != NULL && argv != NULL && usage != NULL);
  switch (c) {
  case CLI_OPT_SYMBOLIZE:
    assert(so != NULL); /* only verbs that have the option list it */
    if (cli_symbolize_mode_parse(optarg, &so->mode) == 0)
      return -1;
    fprintf(stderr,
            "nprof %s: --symbolize wants none, local or debuginfod, not "
            "\"%s\"\n",
            verb, optarg);
    usage(stderr);
    return CLI_EXIT_USAGE;
  case 'h':
    usage(stdout);
    return CLI_EXIT_OK;
  case ':':
    fprintf(stderr, "nprof %s: %s needs a value\n", verb, argv[optind - 1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
  default:
    fprintf(stderr, "nprof %s: unknown option %s\n", verb, argv[optind - 1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
}
