/*
 * timeline.jsonl: the loadgen samples /debug/vars (and its own counters)
 * every --vars-interval into the run folder, one JSON object per line,
 * flushed line by line, so a report made mid-run or after a crash reads
 * what is there:
 *   {"t": unix seconds, "phase": "baseline"|"ramp"|..., "vars": {...} or
 *    null, "loadgen": {"connected": N, "established_total": N,
 *    "messages": N, "errors": N, "client_rss_bytes": N}}
 *
 * Bounds. The file is read in pieces, never whole: memory is one line
 * (CLI_TIMELINE_LINE_MAX; a longer one is skipped and counted bad) plus the
 * samples kept, whose number is capped: when CLI_TIMELINE_MAX_SAMPLES are
 * held, every other one is dropped and from then on only every stride-th
 * sample is kept, so a run of any length is drawn whole at a coarser step.
 * Only the figures are kept, not the JSON.
 *
 * A last line without its newline that does not parse is a write in
 * progress (or a crash mid-write): torn, ignored, not an error.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const phase_names[CLI_TL_NPHASES] = {
    "baseline", "ramp", "plateau", "hold", "drain", "drained"};

const char *cli_tl_phase_name(enum cli_tl_phase p)
{
  return p >= 0 && p < CLI_TL_NPHASES ? phase_names[p] : "?";
}

static enum cli_tl_phase phase_parse(const char *s)
{
  for (int i = 0; s != NULL && i < CLI_TL_NPHASES; i++) {
    if (strcmp(s, phase_names[i]) == 0)
      return (enum cli_tl_phase)i;
  }
  return CLI_TL_UNKNOWN;
}

/* Makes room for one more sample, thinning the kept ones when full.
 * Returns false when out of memory. */
static bool room(struct cli_timeline *tl)
{
  if (tl->n == CLI_TIMELINE_MAX_SAMPLES) {
    for (size_t i = 0; i < tl->n / 2; i++)
      tl->samples[i] = tl->samples[2 * i];
    tl->n /= 2;
    tl->stride *= 2;
  }
  if (tl->n < tl->alloc)
    return true;
  size_t n = tl->alloc == 0 ? 256 : tl->alloc * 2;
  if (n > CLI_TIMELINE_MAX_SAMPLES)
    n = CLI_TIMELINE_MAX_SAMPLES;
  struct cli_tl_sample *s = realloc(tl->samples, n * sizeof(*s));
  if (s == NULL)
    return false;
  tl->samples = s;
  tl->alloc = n;
  return true;
}

/* One line. `last` marks a final line without its newline. Returns 0 or
 * CLI_ENOMEM; a line that is no sample is counted, not an error. */
static int take_line(struct cli_timeline *tl, const char *line, size_t len,
                     bool last, const char *users_var)
{
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
    len--;
  if (len == 0)
    return 0;
  tl->lines++;
  struct cli_json *j = NULL;
  int rc = cli_json_parse(line, len, &j, NULL, 0);
  if (rc == CLI_ENOMEM)
    return rc;
  double t = rc == 0 ? cli_json_num(j, "t") : NAN;
  if (rc != 0 || isnan(t)) {
    if (last && rc != 0)
      tl->torn = true;
    else
      tl->bad++;
    cli_json_free(j);
    return 0;
  }
  if (tl->stride == 0)
    tl->stride = 1;
  if (tl->seen++ % tl->stride != 0) {
    cli_json_free(j);
    return 0;
  }
  if (!room(tl)) {
    cli_json_free(j);
    return CLI_ENOMEM;
  }
  struct cli_tl_sample *s = &tl->samples[tl->n++];
  const struct cli_json *vars = cli_json_get(j, "vars");
  const struct cli_json *lg = cli_json_get(j, "loadgen");
  s->t = t;
  s->phase = phase_parse(cli_json_string(j, "phase"));
  s->has_vars = vars != NULL && vars->type == CLI_JSON_OBJECT;
  cli_vars_read(s->has_vars ? vars : NULL, users_var, &s->v);
  s->v.allocator = NULL; /* borrowed from the line, which goes now */
  s->connected = cli_json_num(lg, "connected");
  s->established_total = cli_json_num(lg, "established_total");
  s->messages = cli_json_num(lg, "messages");
  s->errors = cli_json_num(lg, "errors");
  s->client_rss = cli_json_num(lg, "client_rss_bytes");
  cli_json_free(j);
  return 0;
}

static int by_time(const void *a, const void *b)
{
  const struct cli_tl_sample *x = a, *y = b;
  return x->t < y->t ? -1 : x->t > y->t;
}

/* Samples are written in time order; sort anyway (a merged or hand-made
 * file may not be), stably enough for equal times. */
static void finish(struct cli_timeline *tl)
{
  if (tl->stride == 0)
    tl->stride = 1;
  for (size_t i = 1; i < tl->n; i++) {
    if (tl->samples[i].t < tl->samples[i - 1].t) {
      qsort(tl->samples, tl->n, sizeof(*tl->samples), by_time);
      break;
    }
  }
}

/* Reads the lines of `f` into `tl` (see the top comment); `name` names
 * the input in a message. Returns 0, CLI_EIO or CLI_ENOMEM. */
static int read_lines(FILE *f, const char *name, const char *users_var,
                      struct cli_timeline *tl, char *err, size_t errlen)
{
  /* One line at most, plus a piece being read. */
  size_t cap = CLI_TIMELINE_LINE_MAX + 65536;
  char *buf = malloc(cap);
  if (buf == NULL)
    return CLI_ENOMEM;
  int result = 0;
  size_t have = 0;
  bool skipping = false; /* inside a line longer than the cap */
  for (;;) {
    size_t got = fread(buf + have, 1, cap - have, f);
    have += got;
    if (got == 0 && ferror(f)) {
      if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
      result = CLI_EIO;
      goto out;
    }
    bool eof = got == 0;
    size_t at = 0;
    for (;;) {
      char *nl = memchr(buf + at, '\n', have - at);
      if (nl == NULL)
        break;
      size_t n = (size_t)(nl - (buf + at));
      if (skipping) {
        skipping = false;
      } else if (n > CLI_TIMELINE_LINE_MAX) {
        tl->lines++;
        tl->bad++;
      } else if ((result = take_line(tl, buf + at, n, false, users_var)) != 0) {
        goto out;
      }
      at += n + 1;
    }
    memmove(buf, buf + at, have - at);
    have -= at;
    if (eof) {
      if (have > 0 && !skipping)
        result = take_line(tl, buf, have, true, users_var);
      break;
    }
    if (have > CLI_TIMELINE_LINE_MAX) {
      /* No newline within a line's cap: the rest of it is skipped. */
      if (!skipping) {
        tl->lines++;
        tl->bad++;
      }
      skipping = true;
      have = 0;
    }
  }
out:
  free(buf);
  if (result == 0)
    finish(tl);
  return result;
}

int cli_timeline_parse(const char *data, size_t len, const char *users_var,
                       struct cli_timeline *tl)
{
  assert((data != NULL || len == 0) && tl != NULL);
  if (len == 0) {
    finish(tl);
    return 0;
  }
  /* Read as a file is, so the tests and fuzzers that call this run the
   * reader nprof report does. "r": the bytes are only read. */
  FILE *f = fmemopen((void *)data, len, "r");
  if (f == NULL)
    return CLI_ENOMEM;
  int rc = read_lines(f, "timeline", users_var, tl, NULL, 0);
  fclose(f);
  return rc;
}

int cli_timeline_load(const char *path, const char *users_var,
                      struct cli_timeline *tl, char *err, size_t errlen)
{
  assert(path != NULL && tl != NULL);
  FILE *f = fopen(path, "re");
  if (f == NULL) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return CLI_EIO;
  }
  int rc = read_lines(f, path, users_var, tl, err, errlen);
  fclose(f);
  return rc;
}

void cli_timeline_free(struct cli_timeline *tl)
{
  if (tl == NULL)
    return;
  free(tl->samples);
  memset(tl, 0, sizeof(*tl));
}
