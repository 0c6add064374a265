/*
 * `nprof fetch URL -o FILE`: downloads a profile (or any /debug/ page) with
 * libcurl and writes it atomically, so a reader of FILE (a report being
 * built, a second fetch racing this one) sees the old file or the whole new
 * one, never half of it.
 *
 * The body is held in memory, capped like every buffer fed from outside
 * (CLI_PROFILE_MAX_DECODED), because on a non-2xx status it is the error
 * message and must not reach FILE at all.
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

#include <curl/curl.h>

#include "cli.h"

/* Without --seconds a profile is served at once; a minute covers a slow
 * process or a large heap. */
#define FETCH_TIMEOUT_S 60L
#define FETCH_CONNECT_TIMEOUT_S 10L

struct body {
  char *data;
  size_t len, alloc, cap;
  bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct body *b = userdata;
  size_t n = size * nmemb; /* curl guarantees size == 1 */

  if (n > b->cap - b->len) {
    b->too_big = true;
    return 0; /* makes curl stop with CURLE_WRITE_ERROR */
  }
  if (b->len + n > b->alloc) {
    size_t alloc = b->alloc == 0 ? 64 << 10 : b->alloc;
    char *nd;
    while (alloc < b->len + n)
      alloc = alloc > b->cap / 2 ? b->cap : alloc * 2;
    nd = realloc(b->data, alloc);
    if (nd == NULL)
      return 0;
    b->data = nd;
    b->alloc = alloc;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  return n;
}

static int write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Writes `len` bytes to `path` through a temporary file in the same
 * directory (rename is atomic only within one file system). Returns 0 or
 * CLI_EIO with `err` set; the temporary file never survives a failure. */
static int write_atomic(const char *path, const char *data, size_t len,
                        char *err, size_t errlen)
{
  size_t plen = strlen(path);
  char *tmp = malloc(plen + sizeof(".XXXXXX"));
  mode_t mask;
  int fd, result = CLI_EIO;
  const char *what = "creating a temporary file";

  if (tmp == NULL) {
    snprintf(err, errlen, "%s: out of memory", path);
    return CLI_ENOMEM;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".XXXXXX", sizeof(".XXXXXX"));
  fd = mkstemp(tmp);
  if (fd < 0)
    goto out;
  /* mkstemp makes 0600; give the file the mode open() would have. */
  mask = umask(0);
  umask(mask);
  what = "writing";
  if (fchmod(fd, 0666 & ~mask) != 0 || write_all(fd, data, len) != 0)
    goto out;
  what = "syncing";
  if (fsync(fd) != 0)
    goto out;
  what = "closing";
  if (close(fd) != 0) {
    fd = -1;
    goto out;
  }
  fd = -1;
  what = "renaming the temporary file into place";
  if (rename(tmp, path) != 0)
    goto out;
  result = 0;
out:
  if (result != 0) {
    snprintf(err, errlen, "%s: %s: %s", path, what, strerror(errno));
    if (fd >= 0)
      close(fd);
    unlink(tmp);
  }
  free(tmp);
  return result;
}

/* The body's first line, made printable, for an HTTP error message: pprof
 * endpoints answer errors with one line of text. */
static void first_line(const struct body *b, char *out, size_t outlen)
{
  size_t n = 0;

  for (size_t i = 0; i < b->len && n + 1 < outlen; i++) {
    unsigned char ch = (unsigned char)b->data[i];
    if (ch == '\n' || ch == '\r')
      break;
    out[n++] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
  }
  out[n] = '\0';
}

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
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
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
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *output = NULL, *url;
  long seconds = 0, timeout = 0, status = 0;
  char *full_url = NULL;
  char curl_err[CURL_ERROR_SIZE] = "", err[CLI_ERRLEN];
  struct body body = {.cap = CLI_PROFILE_MAX_DECODED};
  CURL *curl = NULL;
  CURLcode cc;
  int c, exit_code = CLI_EXIT_FAIL;

  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'o':
      output = optarg;
      break;
    case OPT_SECONDS:
    case OPT_TIMEOUT:
      if (!parse_seconds(optarg, c == OPT_SECONDS ? &seconds : &timeout)) {
        fprintf(stderr,
                "nprof fetch: %s wants whole seconds (1..86400), "
                "not \"%s\"\n",
                argv[optind - 1], optarg);
        fetch_usage(stderr);
        return CLI_EXIT_USAGE;
      }
      break;
    case 'h':
      fetch_usage(stdout);
      return CLI_EXIT_OK;
    case ':':
      fprintf(stderr, "nprof fetch: %s needs a value\n", argv[optind - 1]);
      fetch_usage(stderr);
      return CLI_EXIT_USAGE;
    default:
      fprintf(stderr, "nprof fetch: unknown option %s\n", argv[optind - 1]);
      fetch_usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if (argc - optind != 1 || output == NULL || output[0] == '\0') {
    fprintf(stderr, "nprof fetch: %s\n",
            argc - optind != 1 ? "exactly one URL, please"
                               : "-o FILE is required");
    fetch_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  url = argv[optind];
  if (timeout == 0)
    timeout = seconds > 0 ? seconds + seconds / 2 + 30 : FETCH_TIMEOUT_S;

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

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
      (curl = curl_easy_init()) == NULL) {
    fprintf(stderr, "nprof fetch: cannot initialise libcurl\n");
    goto out;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  /* A profile server has no business sending us to file:// or smtp://. */
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, FETCH_CONNECT_TIMEOUT_S);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "nprof-fetch/1");
  cc = curl_easy_perform(curl);
  if (cc != CURLE_OK) {
    if (body.too_big)
      fprintf(stderr,
              "nprof fetch: %s: the response exceeds the %zu MiB "
              "limit\n",
              url, body.cap >> 20);
    else
      fprintf(stderr, "nprof fetch: %s: %s\n", url,
              curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc));
    goto out;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    char line[256];
    first_line(&body, line, sizeof(line));
    fprintf(stderr, "nprof fetch: %s: HTTP %ld%s%s\n", url, status,
            line[0] != '\0' ? ": " : "", line);
    goto out;
  }
  if (strcmp(output, "-") == 0) {
    if ((body.len > 0 && fwrite(body.data, 1, body.len, stdout) != body.len) ||
        fflush(stdout) != 0) {
      fprintf(stderr, "nprof fetch: writing to stdout: %s\n", strerror(errno));
      goto out;
    }
  } else {
    if (write_atomic(output, body.data != NULL ? body.data : "", body.len, err,
                     sizeof(err)) != 0) {
      fprintf(stderr, "nprof fetch: %s\n", err);
      goto out;
    }
    fprintf(stderr, "nprof fetch: saved %zu bytes to %s\n", body.len, output);
  }
  exit_code = CLI_EXIT_OK;
out:
  if (curl != NULL)
    curl_easy_cleanup(curl);
  curl_global_cleanup();
  free(body.data);
  free(full_url);
  return exit_code;
}
