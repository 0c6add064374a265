/*
 * `nprof fetch URL -o FILE`: downloads a profile (or any /debug/ page) with
 * libcurl and writes it atomically, so a reader of FILE (a report being
 * built, a second fetch racing this one) sees the old file or the whole new
 * one, never half of it.
 *
 * The body is held in memory, capped like every buffer fed from outside
 * (CLI_PROFILE_MAX_DECODED), because on a non-2xx status it is the error
 * message and must not reach FILE at all (npc_http_get, npc_write_atomic).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "npc.h"

/* Without --seconds a profile is served at once; a minute covers a slow
 * process or a large heap. */
#define FETCH_TIMEOUT_S 60L

static void fetch_usage(FILE *f)
{
  fprintf(f,
          "usage: nprof fetch [--seconds N] [--timeout S] -o FILE URL\n"
          "\n"
          "Downloads URL (http or https) into FILE, atomically (a temporary\n"
          "file in FILE's directory, renamed into place). FILE \"-\" writes\n"
          "to stdout. A non-2xx answer prints its first line and exits 1.\n"
          "\n"
          "  -o, --output FILE  where to write (required)\n"
          "      --seconds N    append seconds=N to the query (CPU and delta\n"
          "                     profiles) and wait up to 1.5*N+30 s\n"
          "      --timeout S    total time limit in seconds (default 60)\n"
          "  -h, --help         this text\n");
}

static bool parse_seconds(const char *s, long *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0 || v <= 0 || v > 86400)
    return false;
  *out = v;
  return true;
}

int cli_fetch_main(int argc, char **argv)
{
  enum { OPT_SECONDS = 256, OPT_TIMEOUT };
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'},
      {"seconds", required_argument, NULL, OPT_SECONDS},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {NULL, 0, NULL, 0},
  };
  struct cli_options o;
  cli_options_init(&o, "fetch", "o:", longopts, fetch_usage, NULL);
  const char *output = NULL;
  long seconds = 0, timeout = 0;
  int c;
  while ((c = cli_options_next(&o, argc, argv)) != -1) {
    if (c == 'o')
      output = optarg;
    else if (!parse_seconds(optarg, c == OPT_SECONDS ? &seconds : &timeout))
      return cli_options_error(&o,
                               "%s wants whole seconds (1..86400), "
                               "not \"%s\"",
                               argv[optind - 1], optarg);
  }
  if (o.exit >= 0)
    return o.exit;
  if (argc - optind != 1)
    return cli_options_error(&o, "exactly one URL, please");
  if (output == NULL || output[0] == '\0')
    return cli_options_error(&o, "-o FILE is required");
  const char *url = argv[optind];
  if (timeout == 0)
    timeout = seconds > 0 ? seconds + seconds / 2 + 30 : FETCH_TIMEOUT_S;

  char *full_url = NULL;
  npc_http_response res = {0};
  int exit_code = CLI_EXIT_FAIL;
  if (seconds > 0) {
    size_t n = strlen(url) + 32;
    if ((full_url = malloc(n)) == NULL) {
      fprintf(stderr, "nprof fetch: out of memory\n");
      return CLI_EXIT_FAIL;
    }
    snprintf(full_url, n, "%s%cseconds=%ld", url,
             strchr(url, '?') != NULL ? '&' : '?', seconds);
    url = full_url;
  }

  int rc = npc_http_get(url, timeout * 1000, CLI_PROFILE_MAX_DECODED, &res);
  if (rc != 0) {
    fprintf(stderr, "nprof fetch: %s: %s\n", url, res.error);
    goto out;
  }
  if (res.status < 200 || res.status > 299) {
    char line[256];
    npc_http_first_line(&res, line, sizeof(line));
    fprintf(stderr, "nprof fetch: %s: HTTP %ld%s%s\n", url, res.status,
            line[0] != '\0' ? ": " : "", line);
    goto out;
  }
  if (strcmp(output, "-") == 0) {
    if ((res.len > 0 && fwrite(res.body, 1, res.len, stdout) != res.len) ||
        fflush(stdout) != 0) {
      fprintf(stderr, "nprof fetch: writing to stdout: %s\n", strerror(errno));
      goto out;
    }
  } else {
    if ((rc = npc_write_atomic(output, res.body, res.len)) != 0) {
      fprintf(stderr, "nprof fetch: %s: %s\n", output, strerror(-rc));
      goto out;
    }
    fprintf(stderr, "nprof fetch: saved %zu bytes to %s\n", res.len, output);
  }
  exit_code = CLI_EXIT_OK;
out:
  npc_http_response_free(&res);
  free(full_url);
  return exit_code;
}
