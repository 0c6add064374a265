/*
 * What the verbs' command lines share: the getopt_long loop, --symbolize,
 * -h/--help, and how a missing value, an unknown option or any other usage
 * error is said. Each verb lists its own options and handles only those.
 */
#include <assert.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

void cli_options_init(struct cli_options *o, const char *verb,
                      const char *shortopts, const struct option *longopts,
                      void (*usage)(FILE *), struct cli_symbolize_options *so)
{
  assert(o != NULL && verb != NULL && shortopts != NULL && usage != NULL);
  *o = (struct cli_options){.verb = verb, .usage = usage, .so = so, .exit = -1};
  /* ':' first: a missing value is told apart from an unknown option. */
  int n = snprintf(o->shortopts, sizeof o->shortopts, ":%sh", shortopts);
  assert(n > 0 && (size_t)n < sizeof o->shortopts);
  (void)n;
  size_t k = 0;
  for (; longopts != NULL && longopts[k].name != NULL; k++) {
    assert(k < CLI_OPTIONS_MAX);
    o->longopts[k] = longopts[k];
  }
  if (so != NULL)
    o->longopts[k++] = (struct option){"symbolize", required_argument, NULL,
                                       CLI_OPT_SYMBOLIZE};
  o->longopts[k++] = (struct option){"help", no_argument, NULL, 'h'};
  o->longopts[k] = (struct option){NULL, 0, NULL, 0};
  optind = 1; /* main() may have parsed another verb's line before */
  opterr = 0; /* the messages below, not getopt's */
}

int cli_options_next(struct cli_options *o, int argc, char **argv)
{
  assert(o != NULL && o->verb != NULL && argv != NULL);
  for (;;) {
    int c = getopt_long(argc, argv, o->shortopts, o->longopts, NULL);
    switch (c) {
    case -1:
      return -1;
    case CLI_OPT_SYMBOLIZE:
      assert(o->so != NULL); /* only verbs that have the option list it */
      if (cli_symbolize_mode_parse(optarg, &o->so->mode) == 0)
        continue;
      o->exit = cli_options_error(o,
                                  "--symbolize wants none, local or "
                                  "debuginfod, not \"%s\"",
                                  optarg);
      return -1;
    case 'h':
      o->usage(stdout);
      o->exit = CLI_EXIT_OK;
      return -1;
    case ':':
      o->exit = cli_options_error(o, "%s needs a value", argv[optind - 1]);
      return -1;
    case '?':
      o->exit = cli_options_error(o, "unknown option %s", argv[optind - 1]);
      return -1;
    default:
      return c;
    }
  }
}

int cli_options_error(const struct cli_options *o, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "nprof %s: ", o->verb);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  o->usage(stderr);
  return CLI_EXIT_USAGE;
}
