/*
 * `nprof report RUN_DIR`: reads a load test's snapshot directory (the
 * loadgen's contract: P.heap.pb.gz, P.goroutine.pb.gz and P.vars.json for
 * P in baseline, plateau, drained, plus loadgen.json and run.json) and
 * writes RUN_DIR/report.md and a self-contained RUN_DIR/report.html:
 * run parameters and loadgen results, a phase table, the cost per
 * connected user with the allocation sites behind it, what drain left
 * behind, the threads that appeared or changed, a timeline chart and a
 * flame graph as inline SVG, and the pprof commands to dig further.
 *
 * Any input may be missing (a notifier that died mid-test): the report
 * says so and is written from what exists. An input that exists but
 * cannot be read is named in the report and on stderr, and the command
 * then exits 1 after writing it. Thresholds (--max-bytes-per-user,
 * --max-retained-bytes or the environment's MAX_BYTES_PER_USER and
 * MAX_RETAINED_BYTES) make it exit 3 when exceeded, 1 when the run lacks
 * what they need.
 *
 * Both documents are produced by the same calls (struct doc), each string
 * escaped for its format; the files are written atomically.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

enum { NPHASES = 3, EXIT_THRESHOLD = 3 };
static const char *const phase_names[NPHASES] = {"baseline", "plateau",
                                                 "drained"};
enum { BASELINE, PLATEAU, DRAINED };

#define JSON_CAP ((size_t)16 << 20)
#define MAX_NOTES 64
#define MAX_THREAD_ROWS 1024
#define SITE_ROWS 15
#define THREAD_ROWS_SHOWN 25

struct phase {
  struct cli_profile *heap, *gr;
  struct cli_json *vars;
  int heap_idx; /* inuse_space in heap, or -1 */
  /* NAN when unknown */
  double rss, heap_bytes, threads, streams, fds, users, t;
};

struct thread_row {
  char *name;  /* thread names, digits folded to N */
  char *stack; /* leaf first, " < " between frames */
  double count[NPHASES];
};

struct report {
  const char *dir;
  struct phase ph[NPHASES];
  struct cli_json *loadgen, *run;
  char *notes[MAX_NOTES];
  size_t nnotes;
  bool unreadable;
  double users;
  const char *users_src;
  /* plateau - baseline, drained - baseline */
  bool has_growth, has_retained;
  struct cli_diff dgrowth, dretained;
  struct cli_top_table growth, retained;
  struct cli_flame flame;
  bool has_flame;
  struct thread_row *threads;
  size_t nthreads;
  bool has_threads;
  /* thresholds: NAN when unset */
  double max_bpu, max_retained;
};

/* ---- notes on the inputs ---- */

static void note(struct report *r, bool bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(struct report *r, bool bad, const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;

  if (bad)
    r->unreadable = true;
  if (r->nnotes == MAX_NOTES)
    return;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  if (s != NULL)
    r->notes[r->nnotes++] = s;
}

static char *join_path(const char *dir, const char *name)
{
  char *p = NULL;

  if (asprintf(&p, "%s/%s", dir, name) < 0)
    return NULL;
  return p;
}

static bool exists(const char *path)
{
  struct stat st;

  return stat(path, &st) == 0;
}

/* ---- loading ---- */

static int load_profile(struct report *r, const char *name,
                        struct cli_profile **out)
{
  char *path = join_path(r->dir, name), err[CLI_ERRLEN];
  int rc;

  if (path == NULL)
    return CLI_ENOMEM;
  if (!exists(path)) {
    note(r, false, "%s is missing", name);
    free(path);
    return 0;
  }
  if ((rc = cli_profile_load(path, out, err, sizeof(err))) != 0) {
    if (rc == CLI_ENOMEM) {
      free(path);
      return rc;
    }
    note(r, true, "%s is unreadable: %s", name, err);
  }
  free(path);
  return 0;
}

static int load_json(struct report *r, const char *name, bool required,
                     struct cli_json **out)
{
  char *path = join_path(r->dir, name), err[CLI_ERRLEN];
  int rc;

  if (path == NULL)
    return CLI_ENOMEM;
  if (!exists(path)) {
    if (required)
      note(r, false, "%s is missing", name);
    free(path);
    return 0;
  }
  if ((rc = cli_json_load(path, JSON_CAP, out, err, sizeof(err))) != 0) {
    if (rc == CLI_ENOMEM) {
      free(path);
      return rc;
    }
    note(r, true, "%s is unreadable: %s", name, err);
  }
  free(path);
  return 0;
}

static double sum_index(const struct cli_profile *p, int idx)
{
  double s = 0;

  for (size_t i = 0; i < p->nsamples; i++)
    s += (double)p->samples[i].values[idx];
  return s;
}

static int type_index(const struct cli_profile *p, const char *type)
{
  for (size_t i = 0; i < p->nsample_types; i++) {
    if (strcmp(p->sample_types[i].type, type) == 0)
      return (int)i;
  }
  return -1;
}

static double jnum(const struct cli_json *obj, const char *key)
{
  double v = NAN;

  cli_json_number(obj, key, &v);
  return v;
}

static void phase_metrics(struct report *r, int i)
{
  struct phase *p = &r->ph[i];
  const struct cli_json *proc = cli_json_get(p->vars, "process");
  const struct cli_json *np = cli_json_get(p->vars, "nprof");
  double t;

  p->rss = jnum(proc, "rss_bytes");
  p->fds = jnum(proc, "open_fds");
  p->threads = jnum(proc, "threads");
  /* libnprof's own server threads come and go with requests: not the
   * application's. */
  double own = jnum(proc, "profiler_threads");
  if (!isnan(own))
    p->threads -= own;
  p->streams = jnum(p->vars, "notifier.streams");
  p->users = jnum(p->vars, "notifier.users");
  p->heap_bytes = NAN;
  p->heap_idx = -1;
  if (p->heap != NULL) {
    p->heap_idx = type_index(p->heap, "inuse_space");
    if (p->heap_idx < 0)
      note(r, true, "%s.heap.pb.gz has no inuse_space sample type",
           phase_names[i]);
    else
      p->heap_bytes = sum_index(p->heap, p->heap_idx);
  }
  if (isnan(p->heap_bytes))
    p->heap_bytes = jnum(np, "heap_inuse_bytes");
  if (isnan(p->threads) && p->gr != NULL && p->gr->nsample_types > 0)
    p->threads = sum_index(p->gr, 0);
  p->t = NAN;
  if (cli_json_number(cli_json_get(r->loadgen, "phases"), phase_names[i], &t))
    p->t = t;
}

/* Folds digit runs to "N" so "worker-3" and "worker-17" group together. */
static char *fold_digits(const char *s)
{
  char *out = malloc(strlen(s) + 1), *o = out;

  if (out == NULL)
    return NULL;
  while (*s != '\0') {
    if (*s >= '0' && *s <= '9') {
      *o++ = 'N';
      while (*s >= '0' && *s <= '9')
        s++;
    } else {
      *o++ = *s++;
    }
  }
  *o = '\0';
  return out;
}

/* One goroutine-profile sample as a (names, stack) pair, malloc'd. */
static int thread_key(const struct cli_sample *s, char **name, char **stack)
{
  char *n = NULL, *st = NULL, buf[96];
  size_t nl = 0, sl = 0;
  FILE *f;

  if ((f = open_memstream(&n, &nl)) == NULL)
    return CLI_ENOMEM;
  for (size_t i = 0, k = 0; i < s->nlabels; i++) {
    if (strcmp(s->labels[i].key, "thread") != 0)
      continue;
    char *folded = fold_digits(s->labels[i].str);
    if (folded == NULL)
      continue;
    /* Folded names repeat ("user-N" for each user): list each once. */
    fflush(f);
    bool seen = false;
    for (const char *q = n; q != NULL && !seen && *q != '\0';) {
      size_t len = strcspn(q, ",");
      seen = len == strlen(folded) && strncmp(q, folded, len) == 0;
      q = q[len] == ',' ? q + len + 2 : q + len;
    }
    if (!seen)
      fprintf(f, "%s%s", k++ ? ", " : "", folded);
    free(folded);
  }
  if (fclose(f) != 0) {
    free(n);
    return CLI_ENOMEM;
  }
  if ((f = open_memstream(&st, &sl)) == NULL) {
    free(n);
    return CLI_ENOMEM;
  }
  for (size_t j = 0; j < s->nframes && j < 6; j++)
    fprintf(f, "%s%s", j ? " < " : "",
            cli_frame_name(s->frames[j], buf, sizeof(buf)));
  if (s->nframes > 6)
    fputs(" < ...", f);
  if (fclose(f) != 0) {
    free(n);
    free(st);
    return CLI_ENOMEM;
  }
  *name = n;
  *stack = st;
  return 0;
}

static int compare_threads(struct report *r)
{
  for (int i = 0; i < NPHASES; i++) {
    const struct cli_profile *g = r->ph[i].gr;
    if (g == NULL || g->nsample_types == 0)
      continue;
    r->has_threads = true;
    for (size_t k = 0; k < g->nsamples; k++) {
      char *name, *stack;
      size_t j;
      if (thread_key(&g->samples[k], &name, &stack) != 0)
        return CLI_ENOMEM;
      for (j = 0; j < r->nthreads; j++) {
        if (strcmp(r->threads[j].name, name) == 0 &&
            strcmp(r->threads[j].stack, stack) == 0)
          break;
      }
      if (j == r->nthreads) {
        struct thread_row *nt;
        if (r->nthreads == MAX_THREAD_ROWS) {
          free(name);
          free(stack);
          continue;
        }
        nt = realloc(r->threads, (r->nthreads + 1) * sizeof(*nt));
        if (nt == NULL) {
          free(name);
          free(stack);
          return CLI_ENOMEM;
        }
        r->threads = nt;
        nt[j] = (struct thread_row){.name = name, .stack = stack};
        r->nthreads++;
      } else {
        free(name);
        free(stack);
      }
      r->threads[j].count[i] += (double)g->samples[k].values[0];
    }
  }
  return 0;
}

static double row_change(const struct thread_row *t)
{
  return fabs(t->count[PLATEAU] - t->count[BASELINE]) +
         fabs(t->count[DRAINED] - t->count[BASELINE]);
}

static int cmp_thread_rows(const void *a, const void *b)
{
  const struct thread_row *x = a, *y = b;
  double cx = row_change(x), cy = row_change(y);
  int c;

  if (cx != cy)
    return cx > cy ? -1 : 1;
  if ((c = strcmp(x->name, y->name)) != 0)
    return c;
  return strcmp(x->stack, y->stack);
}

static int heap_diff(struct report *r, int from, int to, struct cli_diff *d,
                     struct cli_top_table *tab, bool *ok)
{
  /* Every node: the sections pick the rows with a flat value of their own
   * (allocation sites), which -top's order puts among cum-only rows. */
  struct cli_top_options opts = {.nodecount = 0, .nodefraction = 0};
  char err[CLI_ERRLEN];
  int rc;

  if (r->ph[from].heap_idx < 0 || r->ph[to].heap_idx < 0)
    return 0;
  rc = cli_diff_init(d, r->ph[from].heap, r->ph[to].heap, "inuse_space", err,
                     sizeof(err));
  if (rc == CLI_ENOMEM)
    return rc;
  if (rc != 0) {
    note(r, true, "cannot compare %s and %s heaps: %s", phase_names[from],
         phase_names[to], err);
    return 0;
  }
  if ((rc = cli_diff_table(d, &opts, tab)) != 0) {
    cli_diff_close(d);
    return rc;
  }
  *ok = true;
  return 0;
}

static int analyse(struct report *r)
{
  double v;
  int rc;

  for (int i = 0; i < NPHASES; i++)
    phase_metrics(r, i);
  /* N: who was connected when the plateau snapshot was taken. */
  r->users = NAN;
  if (r->ph[PLATEAU].users > 0) {
    r->users = r->ph[PLATEAU].users;
    r->users_src = "notifier.users at plateau";
  } else if (cli_json_number(r->loadgen, "streams_established", &v) && v > 0) {
    r->users = v;
    r->users_src = "loadgen streams_established";
  } else if (cli_json_number(r->run, "test_count", &v) && v > 0) {
    r->users = v;
    r->users_src = "run.json test_count";
  } else if (cli_json_number(r->loadgen, "streams_requested", &v) && v > 0) {
    r->users = v;
    r->users_src = "loadgen streams_requested";
  }
  if ((rc = heap_diff(r, BASELINE, PLATEAU, &r->dgrowth, &r->growth,
                      &r->has_growth)) != 0 ||
      (rc = heap_diff(r, BASELINE, DRAINED, &r->dretained, &r->retained,
                      &r->has_retained)) != 0)
    return rc;
  if (r->has_growth) {
    if ((rc = cli_flame_build(r->dgrowth.samples, r->dgrowth.nsamples, 1200,
                              1.0, &r->flame)) != 0)
      return rc;
    r->has_flame = true;
  }
  if ((rc = compare_threads(r)) != 0)
    return rc;
  qsort(r->threads, r->nthreads, sizeof(*r->threads), cmp_thread_rows);
  return 0;
}

/* ---- formatting ---- */

/* IEC bytes, one decimal: "512 B", "31.2 KiB", "1.5 MiB"; "+" when
 * `sign` and positive; "n/a" for NAN. */
static const char *fmt_bytes(double v, bool sign, char *buf, size_t len)
{
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double a = fabs(v);
  size_t u = 0;

  if (isnan(v)) {
    snprintf(buf, len, "n/a");
    return buf;
  }
  while (a >= 1024 && u < 4) {
    a /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%s%.0f B", v < 0 ? "-" : sign && v > 0 ? "+" : "", a);
  else
    snprintf(buf, len, "%s%.1f %s",
             v < 0           ? "-"
             : sign && v > 0 ? "+"
                             : "",
             a, units[u]);
  return buf;
}

static const char *fmt_count(double v, bool sign, char *buf, size_t len)
{
  if (isnan(v))
    snprintf(buf, len, "n/a");
  else
    snprintf(buf, len, sign && v > 0 ? "+%.0f" : "%.0f", v);
  return buf;
}

static const char *fmt_json(const struct cli_json *j, char *buf, size_t len)
{
  switch (j->type) {
  case CLI_JSON_NULL:
    snprintf(buf, len, "null");
    break;
  case CLI_JSON_BOOL:
    snprintf(buf, len, "%s", j->boolean ? "true" : "false");
    break;
  case CLI_JSON_NUMBER:
    snprintf(buf, len, "%.10g", j->number);
    break;
  case CLI_JSON_STRING:
    snprintf(buf, len, "%s", j->string);
    break;
  case CLI_JSON_ARRAY:
  case CLI_JSON_OBJECT: {
    /* One level of scalars inline ("p50 1.2, p99 4"); deeper: "{...}". */
    size_t off = 0;
    buf[0] = '\0';
    for (const struct cli_json *c = j->child; c != NULL && off < len;
         c = c->next) {
      char v[128];
      int w;
      if (c->type == CLI_JSON_ARRAY || c->type == CLI_JSON_OBJECT)
        snprintf(v, sizeof(v), "%s",
                 c->type == CLI_JSON_ARRAY ? "[...]" : "{...}");
      else
        fmt_json(c, v, sizeof(v));
      w = snprintf(buf + off, len - off, "%s%s%s%s", off ? ", " : "",
                   c->key != NULL ? c->key : "", c->key != NULL ? " " : "", v);
      if (w < 0)
        break;
      off += (size_t)w;
    }
    if (off == 0)
      snprintf(buf, len, "%s", j->type == CLI_JSON_ARRAY ? "[]" : "{}");
    break;
  }
  }
  return buf;
}

/* ---- the two documents ---- */

struct doc {
  FILE *md, *html;
};

static char *vfmt(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static char *vfmt(const char *fmt, va_list ap)
{
  char *s = NULL;

  if (vasprintf(&s, fmt, ap) < 0)
    return NULL;
  return s;
}

static void h2(struct doc *d, const char *id, const char *title)
{
  fprintf(d->md, "\n## %s\n\n", title);
  fprintf(d->html, "<h2 id=\"%s\">", id);
  cli_html_escape(d->html, title);
  fputs("</h2>\n", d->html);
}

static void para(struct doc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A paragraph of plain text: every character escaped. */
static void para(struct doc *d, const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = vfmt(fmt, ap);
  va_end(ap);
  if (s == NULL)
    return;
  cli_md_escape(d->md, s);
  fputs("\n\n", d->md);
  fputs("<p>", d->html);
  cli_html_escape(d->html, s);
  fputs("</p>\n", d->html);
  free(s);
}

static void list_begin(struct doc *d)
{
  fputs("<ul>\n", d->html);
}

static void list_item(struct doc *d, const char *s)
{
  fputs("- ", d->md);
  cli_md_escape(d->md, s);
  fputc('\n', d->md);
  fputs("<li>", d->html);
  cli_html_escape(d->html, s);
  fputs("</li>\n", d->html);
}

static void list_end(struct doc *d)
{
  fputc('\n', d->md);
  fputs("</ul>\n", d->html);
}

/* align: one of 'l' or 'r' per column. */
static void table_head(struct doc *d, size_t n, const char *const *heads,
                       const char *align)
{
  fputs("|", d->md);
  for (size_t i = 0; i < n; i++) {
    fputc(' ', d->md);
    cli_md_escape(d->md, heads[i]);
    fputs(" |", d->md);
  }
  fputs("\n|", d->md);
  for (size_t i = 0; i < n; i++)
    fputs(align[i] == 'r' ? " ---: |" : " --- |", d->md);
  fputc('\n', d->md);
  fputs("<table>\n<thead><tr>", d->html);
  for (size_t i = 0; i < n; i++) {
    fprintf(d->html, "<th class=\"%c\">", align[i]);
    cli_html_escape(d->html, heads[i]);
    fputs("</th>", d->html);
  }
  fputs("</tr></thead>\n<tbody>\n", d->html);
}

/* code: bit i set puts cell i in code font. */
static void table_row(struct doc *d, size_t n, const char *const *cells,
                      const char *align, unsigned code)
{
  fputs("|", d->md);
  fputs("<tr>", d->html);
  for (size_t i = 0; i < n; i++) {
    bool c = (code >> i) & 1;
    fputc(' ', d->md);
    if (c)
      cli_md_code(d->md, cells[i]);
    else
      cli_md_escape(d->md, cells[i]);
    fputs(" |", d->md);
    fprintf(d->html, "<td class=\"%c\">%s", align[i], c ? "<code>" : "");
    cli_html_escape(d->html, cells[i]);
    fprintf(d->html, "%s</td>", c ? "</code>" : "");
  }
  fputc('\n', d->md);
  fputs("</tr>\n", d->html);
}

static void table_end(struct doc *d)
{
  fputc('\n', d->md);
  fputs("</tbody>\n</table>\n", d->html);
}

/* ---- sections ---- */

static void kv_table(struct doc *d, const struct cli_json *obj)
{
  static const char *const heads[] = {"key", "value"};
  char v[512];

  table_head(d, 2, heads, "ll");
  for (const struct cli_json *c = obj->child; c != NULL; c = c->next) {
    const char *cells[2] = {c->key, fmt_json(c, v, sizeof(v))};
    table_row(d, 2, cells, "ll", 0);
  }
  table_end(d);
}

static void section_run(struct doc *d, const struct report *r)
{
  h2(d, "run", "Run");
  if (r->run != NULL && r->run->type == CLI_JSON_OBJECT) {
    para(d, "Parameters (run.json):");
    kv_table(d, r->run);
  } else {
    para(d, "No run parameters (run.json absent).");
  }
  if (r->loadgen != NULL && r->loadgen->type == CLI_JSON_OBJECT) {
    const struct cli_json *ok = cli_json_get(r->loadgen, "ok");
    const char *reason = cli_json_string(r->loadgen, "reason");
    if (ok != NULL && ok->type == CLI_JSON_BOOL && !ok->boolean)
      para(d, "The load generator did not meet its goal: %s",
           reason != NULL && reason[0] != '\0' ? reason : "(no reason given)");
    para(d, "Load generator results (loadgen.json):");
    kv_table(d, r->loadgen);
  } else {
    para(d, "No load generator results (loadgen.json missing or unreadable).");
  }
}

static void section_inputs(struct doc *d, const struct report *r)
{
  if (r->nnotes == 0)
    return;
  h2(d, "inputs", "Missing or unreadable inputs");
  para(d, "The report below is written from what exists; sections that need "
          "a missing input say so.");
  list_begin(d);
  for (size_t i = 0; i < r->nnotes; i++)
    list_item(d, r->notes[i]);
  list_end(d);
}

static void section_phases(struct doc *d, const struct report *r)
{
  static const char *const heads[] = {
      "phase",   "time (UTC)", "RSS",     "heap in use (sampled)",
      "threads", "streams",    "open fds"};
  char a[32], b[32], c[32], e[32], f[32], t[48];

  h2(d, "phases", "Phases");
  table_head(d, 7, heads, "llrrrrr");
  for (int i = 0; i < NPHASES; i++) {
    const struct phase *p = &r->ph[i];
    struct tm tm;
    time_t secs = isnan(p->t) ? 0 : (time_t)p->t;
    snprintf(t, sizeof(t), "n/a");
    if (!isnan(p->t) && gmtime_r(&secs, &tm) != NULL)
      strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
    const char *cells[7] = {phase_names[i],
                            t,
                            fmt_bytes(p->rss, false, a, sizeof(a)),
                            fmt_bytes(p->heap_bytes, false, b, sizeof(b)),
                            fmt_count(p->threads, false, c, sizeof(c)),
                            fmt_count(p->streams, false, e, sizeof(e)),
                            fmt_count(p->fds, false, f, sizeof(f))};
    table_row(d, 7, cells, "llrrrrr", 0);
  }
  table_end(d);
}

/* Rows with a flat value of the sign wanted (growth > 0, else any). */
static bool site_row(const struct cli_top_row *row, bool growth)
{
  return growth ? row->flat > 0 : row->flat != 0;
}

static size_t count_sites(const struct cli_top_table *t, bool growth)
{
  size_t n = 0;

  for (size_t i = 0; i < t->nrows && n < SITE_ROWS; i++)
    n += site_row(&t->rows[i], growth);
  return n;
}

static void sites_table(struct doc *d, const struct cli_top_table *t,
                        double users, bool growth)
{
  static const char *const heads[] = {"flat", "per user", "cum", "function"};
  char a[64], b[32], c[64];

  table_head(d, 4, heads, "rrrl");
  for (size_t i = 0, k = 0; i < t->nrows && k < SITE_ROWS; i++) {
    const struct cli_top_row *row = &t->rows[i];
    if (!site_row(row, growth))
      continue;
    k++;
    const char *cells[4] = {
        fmt_bytes((double)row->flat, true, a, sizeof(a)),
        users > 0 ? fmt_bytes((double)row->flat / users, true, b, sizeof(b))
                  : "n/a",
        fmt_bytes((double)row->cum, true, c, sizeof(c)), row->name};
    table_row(d, 4, cells, "rrrl", 1u << 3);
  }
  table_end(d);
}

static double per_user(const struct report *r, double plateau, double base)
{
  if (isnan(plateau) || isnan(base) || !(r->users > 0))
    return NAN;
  return (plateau - base) / r->users;
}

static void section_cost(struct doc *d, const struct report *r)
{
  char a[32], b[32], n[32];
  const struct phase *bp = &r->ph[BASELINE], *pp = &r->ph[PLATEAU];

  h2(d, "cost", "Cost per connected user");
  if (!(r->users > 0)) {
    para(d, "Unknown number of connected users (no notifier.users, loadgen "
            "result or run.json test_count): no per-user cost.");
  } else {
    para(d,
         "%s users (%s). (plateau - baseline) / N: RSS %s per user, "
         "sampled heap %s per user.",
         fmt_count(r->users, false, n, sizeof(n)), r->users_src,
         fmt_bytes(per_user(r, pp->rss, bp->rss), true, a, sizeof(a)),
         fmt_bytes(per_user(r, pp->heap_bytes, bp->heap_bytes), true, b,
                   sizeof(b)));
  }
  if (!r->has_growth) {
    para(d, "No allocation sites: the baseline or plateau heap profile is "
            "missing.");
    return;
  }
  para(d,
       "Allocation sites making up the change (plateau minus baseline "
       "heap, inuse_space; the %zu largest by flat, as pprof -top "
       "-diff_base):",
       count_sites(&r->growth, false));
  sites_table(d, &r->growth, r->users, false);
}

static void section_retained(struct doc *d, const struct report *r)
{
  const struct phase *bp = &r->ph[BASELINE], *dp = &r->ph[DRAINED];
  char a[32], b[32];

  h2(d, "retained", "Retained after drain");
  if (isnan(dp->heap_bytes) || isnan(bp->heap_bytes)) {
    para(d, "Unknown: the baseline or drained heap is missing.");
  } else {
    para(d, "Drained minus baseline: sampled heap %s, RSS %s.",
         fmt_bytes(dp->heap_bytes - bp->heap_bytes, true, a, sizeof(a)),
         fmt_bytes(isnan(dp->rss) || isnan(bp->rss) ? NAN : dp->rss - bp->rss,
                   true, b, sizeof(b)));
  }
  if (r->has_retained && count_sites(&r->retained, true) == 0) {
    para(d, "No allocation site holds more after drain than at baseline.");
  } else if (r->has_retained) {
    para(d,
         "Leak suspects: sites holding more after drain than at baseline "
         "(drained minus baseline heap, inuse_space; the %zu largest):",
         count_sites(&r->retained, true));
    sites_table(d, &r->retained, r->users, true);
  }
}

static void section_threads(struct doc *d, const struct report *r)
{
  static const char *const heads[] = {"threads", "stack (leaf first)",
                                      "baseline", "plateau", "drained"};
  char c[NPHASES][32];
  size_t shown = 0;

  h2(d, "threads", "Threads that appeared or changed");
  if (!r->has_threads) {
    para(d, "No thread profiles (goroutine.pb.gz) to compare.");
    return;
  }
  for (size_t i = 0; i < r->nthreads; i++)
    shown += row_change(&r->threads[i]) > 0;
  if (shown == 0) {
    para(d, "No thread appeared, changed or went away between phases.");
    return;
  }
  if (shown > THREAD_ROWS_SHOWN)
    para(d, "%zu thread groups changed; the %d that changed most:", shown,
         THREAD_ROWS_SHOWN);
  table_head(d, 5, heads, "llrrr");
  for (size_t i = 0, k = 0; i < r->nthreads && k < THREAD_ROWS_SHOWN; i++) {
    const struct thread_row *t = &r->threads[i];
    if (row_change(t) == 0)
      continue;
    k++;
    for (int p = 0; p < NPHASES; p++) {
      if (r->ph[p].gr == NULL)
        snprintf(c[p], sizeof(c[p]), "n/a");
      else
        fmt_count(t->count[p], false, c[p], sizeof(c[p]));
    }
    const char *cells[5] = {t->name[0] ? t->name : "(unnamed)", t->stack, c[0],
                            c[1], c[2]};
    table_row(d, 5, cells, "llrrr", 1u << 1);
  }
  table_end(d);
}

/* ---- the timeline chart ---- */

struct series {
  const char *name, *color;
  double v[NPHASES];
};

static void chart_panel(FILE *out, double y0, const char *title,
                        const struct series *s, size_t ns, bool bytes,
                        const double *xs)
{
  const double h = 150, left = 70, w = 560;
  double max = 0;
  char lab[32];

  for (size_t i = 0; i < ns; i++)
    for (int p = 0; p < NPHASES; p++)
      if (!isnan(s[i].v[p]) && s[i].v[p] > max)
        max = s[i].v[p];
  if (max <= 0)
    max = 1;
  fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" font-weight=\"bold\">", left,
          y0 - 8);
  cli_html_escape(out, title);
  fputs("</text>\n", out);
  for (int g = 0; g <= 2; g++) {
    double v = max * g / 2, y = y0 + h - h * g / 2;
    fprintf(out,
            "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
            "stroke=\"#ddd\"/>",
            left, y, left + w, y);
    fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
            left - 6, y + 4,
            bytes ? fmt_bytes(v, false, lab, sizeof(lab))
                  : fmt_count(v, false, lab, sizeof(lab)));
  }
  for (size_t i = 0; i < ns; i++) {
    bool any = false;
    fprintf(out,
            "<polyline class=\"series\" data-series=\"%s\" fill=\"none\" "
            "stroke=\"%s\" stroke-width=\"2\" points=\"",
            s[i].name, s[i].color);
    for (int p = 0; p < NPHASES; p++) {
      if (isnan(s[i].v[p]))
        continue;
      fprintf(out, "%s%.1f,%.1f", any ? " " : "", left + xs[p] * w,
              y0 + h - h * s[i].v[p] / max);
      any = true;
    }
    fputs("\"/>\n", out);
    for (int p = 0; p < NPHASES; p++) {
      double x, y;
      if (isnan(s[i].v[p]))
        continue;
      x = left + xs[p] * w;
      y = y0 + h - h * s[i].v[p] / max;
      fprintf(out,
              "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\">"
              "<title>%s %s: %s</title></circle>\n",
              x, y, s[i].color, s[i].name, phase_names[p],
              bytes ? fmt_bytes(s[i].v[p], false, lab, sizeof(lab))
                    : fmt_count(s[i].v[p], false, lab, sizeof(lab)));
    }
    /* legend */
    fprintf(out,
            "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" "
            "fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
            left + w + 20, y0 + 10 + 20 * (double)i, s[i].color, left + w + 38,
            y0 + 21 + 20 * (double)i, s[i].name);
  }
}

static void timeline_svg(FILE *out, const struct report *r)
{
  const double left = 70, w = 560, top = 30, panel = 215;
  double xs[NPHASES], t0 = NAN, t1 = NAN;
  bool timed = true;
  struct series mem[2] = {{"RSS", "#d62728", {0}}, {"heap", "#1f77b4", {0}}};
  struct series thr[1] = {{"threads", "#2ca02c", {0}}};
  struct series str[1] = {{"streams", "#9467bd", {0}}};

  for (int p = 0; p < NPHASES; p++) {
    mem[0].v[p] = r->ph[p].rss;
    mem[1].v[p] = r->ph[p].heap_bytes;
    thr[0].v[p] = r->ph[p].threads;
    str[0].v[p] = r->ph[p].streams;
    if (isnan(r->ph[p].t))
      timed = false;
  }
  /* x by the phases' times when the loadgen recorded all three and they
   * increase; evenly spaced otherwise. */
  if (timed) {
    t0 = r->ph[BASELINE].t;
    t1 = r->ph[DRAINED].t;
    timed = t1 > t0 && r->ph[PLATEAU].t >= t0 && r->ph[PLATEAU].t <= t1;
  }
  for (int p = 0; p < NPHASES; p++)
    xs[p] = timed ? (r->ph[p].t - t0) / (t1 - t0) : p / 2.0;
  fprintf(out,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" "
          "width=\"760\" height=\"%.0f\" viewBox=\"0 0 760 %.0f\" "
          "font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n",
          top + 3 * panel + 20, top + 3 * panel + 20);
  chart_panel(out, top, "Memory", mem, 2, true, xs);
  chart_panel(out, top + panel, "Threads", thr, 1, false, xs);
  chart_panel(out, top + 2 * panel, "Streams", str, 1, false, xs);
  for (int p = 0; p < NPHASES; p++) {
    char lab[64] = "";
    if (timed && p > 0)
      snprintf(lab, sizeof(lab), " (+%.1fs)", r->ph[p].t - t0);
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s%s</text>\n",
            left + xs[p] * w, top + 3 * panel, phase_names[p], lab);
  }
  fputs("</svg>\n", out);
}

static void section_charts(struct doc *d, const struct report *r)
{
  char a[32], b[32];

  h2(d, "timeline", "Timeline");
  fputs("See report.html for the chart of RSS, heap, threads and streams "
        "across the phases (the phase table above has the numbers).\n",
        d->md);
  timeline_svg(d->html, r);

  h2(d, "flame", "Flame graph: plateau minus baseline heap");
  if (!r->has_flame || r->flame.total <= 0) {
    fputs("No growth to draw (a heap profile is missing, or nothing grew).\n",
          d->md);
    fputs("<p>No growth to draw (a heap profile is missing, or nothing "
          "grew).</p>\n",
          d->html);
    return;
  }
  fprintf(d->md,
          "See report.html for the flame graph of the %s that grew from "
          "baseline to plateau.\n",
          fmt_bytes((double)r->flame.total, false, a, sizeof(a)));
  fprintf(d->html,
          "<p>Stacks that grew from baseline to plateau: %s in all, root at "
          "the bottom, hover a frame for its value. Stacks that shrank "
          "(%s) are not drawn",
          fmt_bytes((double)r->flame.total, false, a, sizeof(a)),
          fmt_bytes((double)r->flame.shrunk, false, b, sizeof(b)));
  if (r->flame.hidden > 0)
    fprintf(d->html, "; %zu frames narrower than a pixel are left out",
            r->flame.hidden);
  if (r->flame.truncated > 0)
    fprintf(d->html, "; %zu stacks were cut to their 512 outermost frames",
            r->flame.truncated);
  fputs(".</p>\n<div class=\"scroll\">\n", d->html);
  cli_flame_svg(d->html, &r->flame, "bytes");
  fputs("</div>\n", d->html);
}

static void command(struct doc *d, const char *pre, const char *a,
                    const char *b)
{
  FILE *f;
  char *s = NULL;
  size_t len = 0;

  if ((f = open_memstream(&s, &len)) == NULL)
    return;
  fputs(pre, f);
  if (a != NULL) {
    fputc(' ', f);
    cli_shell_quote(f, a);
  }
  if (b != NULL) {
    fputc(' ', f);
    cli_shell_quote(f, b);
  }
  if (fclose(f) != 0) {
    free(s);
    return;
  }
  /* Backticks cannot occur unquoted; quoted ones stay inside quotes. */
  fprintf(d->md, "    %s\n", s);
  fputs("<pre><code>", d->html);
  cli_html_escape(d->html, s);
  fputs("</code></pre>\n", d->html);
  free(s);
}

static void section_commands(struct doc *d, const struct report *r)
{
  char *f[NPHASES][2];
  const char *url = cli_json_string(r->run, "debug_url");

  for (int p = 0; p < NPHASES; p++) {
    char *h = NULL, *g = NULL;
    if (asprintf(&h, "%s/%s.heap.pb.gz", r->dir, phase_names[p]) < 0)
      h = NULL;
    if (asprintf(&g, "%s/%s.goroutine.pb.gz", r->dir, phase_names[p]) < 0)
      g = NULL;
    f[p][0] = h;
    f[p][1] = g;
  }
  h2(d, "commands", "Dig further");
  para(d, "The snapshots are standard pprof profiles; go tool pprof reads "
          "them unchanged.");
  fputc('\n', d->md);
  if (f[0][0] && f[1][0] && f[2][0] && f[0][1] && f[1][1]) {
    command(d, "go tool pprof -top -diff_base", f[BASELINE][0], f[PLATEAU][0]);
    command(d, "go tool pprof -http=:0 -diff_base", f[BASELINE][0],
            f[PLATEAU][0]);
    command(d, "go tool pprof -top -diff_base", f[BASELINE][0], f[DRAINED][0]);
    command(d, "go tool pprof -sample_index=alloc_space -top", f[PLATEAU][0],
            NULL);
    command(d, "go tool pprof -traces", f[PLATEAU][1], NULL);
    command(d, "go tool pprof -top -diff_base", f[BASELINE][1], f[PLATEAU][1]);
    command(d, "nprof diff", f[BASELINE][0], f[PLATEAU][0]);
  }
  if (url != NULL &&
      (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)) {
    char *u = NULL;
    if (asprintf(&u, "%s/debug/pprof/heap", url) >= 0) {
      command(d, "go tool pprof", u, NULL);
      free(u);
    }
  }
  fputc('\n', d->md);
  for (int p = 0; p < NPHASES; p++) {
    free(f[p][0]);
    free(f[p][1]);
  }
}

/* ---- thresholds ---- */

struct verdict {
  char text[4][256];
  size_t n;
  bool exceeded, unchecked;
};

static void check_thresholds(const struct report *r, struct verdict *v)
{
  const struct phase *bp = &r->ph[BASELINE], *pp = &r->ph[PLATEAU],
                     *dp = &r->ph[DRAINED];
  char a[32], b[32], c[32], e[32];

  memset(v, 0, sizeof(*v));
  if (!isnan(r->max_bpu)) {
    double rss = per_user(r, pp->rss, bp->rss);
    double heap = per_user(r, pp->heap_bytes, bp->heap_bytes);
    double worst = isnan(rss) ? heap : isnan(heap) ? rss : fmax(rss, heap);
    const char *which =
        !isnan(rss) && (isnan(heap) || rss >= heap) ? "RSS" : "heap";
    if (isnan(worst)) {
      v->unchecked = true;
      snprintf(v->text[v->n++], sizeof(v->text[0]),
               "MAX_BYTES_PER_USER=%s not checked: no per-user cost (users, "
               "baseline or plateau missing)",
               fmt_bytes(r->max_bpu, false, a, sizeof(a)));
    } else {
      bool over = worst > r->max_bpu;
      v->exceeded |= over;
      snprintf(v->text[v->n++], sizeof(v->text[0]),
               "MAX_BYTES_PER_USER=%s %s: %s per user is %s (RSS %s, heap %s)",
               fmt_bytes(r->max_bpu, false, a, sizeof(a)),
               over ? "EXCEEDED" : "ok", which,
               fmt_bytes(worst, false, b, sizeof(b)),
               fmt_bytes(rss, false, c, sizeof(c)),
               fmt_bytes(heap, false, e, sizeof(e)));
    }
  }
  if (!isnan(r->max_retained)) {
    double ret = isnan(dp->heap_bytes) || isnan(bp->heap_bytes)
                     ? NAN
                     : dp->heap_bytes - bp->heap_bytes;
    if (isnan(ret)) {
      v->unchecked = true;
      snprintf(v->text[v->n++], sizeof(v->text[0]),
               "MAX_RETAINED_BYTES=%s not checked: the baseline or drained "
               "heap is missing",
               fmt_bytes(r->max_retained, false, a, sizeof(a)));
    } else {
      bool over = ret > r->max_retained;
      v->exceeded |= over;
      snprintf(v->text[v->n++], sizeof(v->text[0]),
               "MAX_RETAINED_BYTES=%s %s: heap retained after drain is %s",
               fmt_bytes(r->max_retained, false, a, sizeof(a)),
               over ? "EXCEEDED" : "ok", fmt_bytes(ret, true, b, sizeof(b)));
    }
  }
}

static void headline(const struct report *r, char *buf, size_t len)
{
  const struct phase *bp = &r->ph[BASELINE], *pp = &r->ph[PLATEAU],
                     *dp = &r->ph[DRAINED];
  char n[32], a[32], b[32], c[32], t[32];
  /* Threads that went away are no leak. */
  double leaked = dp->threads - bp->threads;

  if (leaked < 0) /* false for NAN: unknown stays unknown */
    leaked = 0;
  snprintf(buf, len,
           "%s users: %s RSS/user, %s heap/user; retained after drain %s; %s "
           "thread%s leaked",
           r->users > 0 ? fmt_count(r->users, false, n, sizeof(n)) : "?",
           fmt_bytes(per_user(r, pp->rss, bp->rss), true, a, sizeof(a)),
           fmt_bytes(per_user(r, pp->heap_bytes, bp->heap_bytes), true, b,
                     sizeof(b)),
           fmt_bytes(isnan(dp->heap_bytes) || isnan(bp->heap_bytes)
                         ? NAN
                         : dp->heap_bytes - bp->heap_bytes,
                     false, c, sizeof(c)),
           fmt_count(leaked, false, t, sizeof(t)), leaked == 1 ? "" : "s");
}

static const char css[] =
    "body{font-family:sans-serif;margin:2em auto;max-width:1260px;"
    "padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}"
    "th{background:#f3f3f3}td.r,th.r{text-align:right}"
    "code,pre{font-family:monospace;font-size:90%}"
    "pre{background:#f6f6f6;padding:6px 10px;overflow-x:auto}"
    ".headline{font-size:120%;font-weight:bold}"
    ".fail{color:#b00;font-weight:bold}.ok{color:#070}"
    ".scroll{overflow-x:auto}"
    ".flame text{pointer-events:none}"
    ".flame g:hover rect{stroke:#000;stroke-width:.5}";

static int render(const struct report *r, const struct verdict *v,
                  const char *head, char **md, size_t *mdlen, char **html,
                  size_t *htmllen)
{
  struct doc d;
  const char *base = strrchr(r->dir, '/');

  base = base != NULL && base[1] != '\0' ? base + 1 : r->dir;
  if ((d.md = open_memstream(md, mdlen)) == NULL)
    return CLI_ENOMEM;
  if ((d.html = open_memstream(html, htmllen)) == NULL) {
    fclose(d.md);
    free(*md);
    return CLI_ENOMEM;
  }
  fputs("# Load test report: ", d.md);
  cli_md_escape(d.md, base);
  fputs("\n\n**", d.md);
  cli_md_escape(d.md, head);
  fputs("**\n\n", d.md);
  fputs(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>Load test report: ",
      d.html);
  cli_html_escape(d.html, base);
  fprintf(d.html, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
  fputs("<h1>Load test report: ", d.html);
  cli_html_escape(d.html, base);
  fputs("</h1>\n<p class=\"headline\">", d.html);
  cli_html_escape(d.html, head);
  fputs("</p>\n", d.html);
  if (v->n > 0) {
    h2(&d, "thresholds", "Thresholds");
    fputs("<ul>\n", d.html);
    for (size_t i = 0; i < v->n; i++) {
      bool bad = strstr(v->text[i], "EXCEEDED") != NULL ||
                 strstr(v->text[i], "not checked") != NULL;
      fputs("- ", d.md);
      cli_md_escape(d.md, v->text[i]);
      fputc('\n', d.md);
      fprintf(d.html, "<li class=\"%s\">", bad ? "fail" : "ok");
      cli_html_escape(d.html, v->text[i]);
      fputs("</li>\n", d.html);
    }
    fputs("</ul>\n", d.html);
  }
  section_inputs(&d, r);
  section_run(&d, r);
  section_phases(&d, r);
  section_cost(&d, r);
  section_retained(&d, r);
  section_threads(&d, r);
  section_charts(&d, r);
  section_commands(&d, r);
  fputs("<p><small>Written by nprof report.</small></p>\n</body>\n</html>\n",
        d.html);
  if (fclose(d.md) != 0 || fclose(d.html) != 0) {
    free(*md);
    free(*html);
    return CLI_ENOMEM;
  }
  return 0;
}

/* ---- the verb ---- */

/* "32768", "32K", "32KiB", "1.5M", "2GB": bytes (1024 steps). */
static int parse_size(const char *s, double *out)
{
  static const struct {
    const char *suffix;
    double factor;
  } sfx[] = {{"", 1},
             {"B", 1},
             {"K", 1024},
             {"KB", 1024},
             {"KiB", 1024},
             {"k", 1024},
             {"kB", 1024},
             {"M", 1048576},
             {"MB", 1048576},
             {"MiB", 1048576},
             {"G", 1073741824.},
             {"GB", 1073741824.},
             {"GiB", 1073741824.}};
  char *end;
  double v;

  if (s == NULL || *s == '\0' || !(*s >= '0' && *s <= '9'))
    return -1;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || !isfinite(v) || v < 0)
    return -1;
  for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
    if (strcmp(end, sfx[i].suffix) == 0) {
      *out = v * sfx[i].factor;
      return 0;
    }
  }
  return -1;
}

static void report_usage(FILE *f)
{
  fprintf(
      f,
      "usage: nprof report [--max-bytes-per-user N] [--max-retained-bytes N]"
      " RUN_DIR\n"
      "\n"
      "Reads a load test's snapshots (RUN_DIR/{baseline,plateau,drained}.\n"
      "{heap,goroutine}.pb.gz and .vars.json, loadgen.json, run.json) and\n"
      "writes RUN_DIR/report.md and a self-contained RUN_DIR/report.html.\n"
      "Missing inputs are listed in the report, which is still written.\n"
      "\n"
      "  --max-bytes-per-user N  fail (exit 3) when the RSS or sampled heap\n"
      "                          per connected user exceeds N bytes\n"
      "                          (default: $MAX_BYTES_PER_USER)\n"
      "  --max-retained-bytes N  fail (exit 3) when the heap retained after\n"
      "                          drain exceeds N bytes\n"
      "                          (default: $MAX_RETAINED_BYTES)\n"
      "  -h, --help              this text\n"
      "\n"
      "Sizes take K, M, G (1024 steps), e.g. 32K. Exit: 0 written, 1\n"
      "unreadable input or a threshold without the data it needs, 2 usage,\n"
      "3 threshold exceeded.\n");
}

static void report_free(struct report *r)
{
  for (int i = 0; i < NPHASES; i++) {
    cli_profile_free(r->ph[i].heap);
    cli_profile_free(r->ph[i].gr);
    cli_json_free(r->ph[i].vars);
  }
  cli_json_free(r->loadgen);
  cli_json_free(r->run);
  for (size_t i = 0; i < r->nnotes; i++)
    free(r->notes[i]);
  if (r->has_growth) {
    cli_top_table_free(&r->growth);
    cli_diff_close(&r->dgrowth);
  }
  if (r->has_retained) {
    cli_top_table_free(&r->retained);
    cli_diff_close(&r->dretained);
  }
  if (r->has_flame)
    cli_flame_free(&r->flame);
  for (size_t i = 0; i < r->nthreads; i++) {
    free(r->threads[i].name);
    free(r->threads[i].stack);
  }
  free(r->threads);
}

static int write_outputs(const struct report *r, const char *md, size_t mdlen,
                         const char *html, size_t htmllen)
{
  char *mdp = join_path(r->dir, "report.md");
  char *htmlp = join_path(r->dir, "report.html");
  char err[CLI_ERRLEN];
  int rc = CLI_ENOMEM;

  if (mdp != NULL && htmlp != NULL) {
    if ((rc = cli_write_atomic(mdp, md, mdlen, err, sizeof(err))) != 0 ||
        (rc = cli_write_atomic(htmlp, html, htmllen, err, sizeof(err))) != 0)
      fprintf(stderr, "nprof report: %s\n", err);
    else
      printf("report: %s\nreport: %s\n", mdp, htmlp);
  } else {
    fprintf(stderr, "nprof report: out of memory\n");
  }
  free(mdp);
  free(htmlp);
  return rc;
}

int cli_report_main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"max-bytes-per-user", required_argument, NULL, 'u'},
      {"max-retained-bytes", required_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  struct report r;
  struct verdict v;
  const char *bpu = getenv("MAX_BYTES_PER_USER");
  const char *ret = getenv("MAX_RETAINED_BYTES");
  char head[512], *md = NULL, *html = NULL;
  size_t mdlen = 0, htmllen = 0, found = 0;
  struct stat st;
  int c, rc, result = CLI_EXIT_FAIL;

  memset(&r, 0, sizeof(r));
  r.max_bpu = r.max_retained = NAN;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    switch (c) {
    case 'u':
      bpu = optarg;
      break;
    case 'r':
      ret = optarg;
      break;
    case 'h':
      report_usage(stdout);
      return CLI_EXIT_OK;
    case ':':
      fprintf(stderr, "nprof report: %s needs a value\n", argv[optind - 1]);
      report_usage(stderr);
      return CLI_EXIT_USAGE;
    default:
      fprintf(stderr, "nprof report: unknown option %s\n", argv[optind - 1]);
      report_usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if (bpu != NULL && bpu[0] != '\0' && parse_size(bpu, &r.max_bpu) != 0) {
    fprintf(stderr,
            "nprof report: max bytes per user wants a size like 32K, "
            "not \"%s\"\n",
            bpu);
    return CLI_EXIT_USAGE;
  }
  if (ret != NULL && ret[0] != '\0' && parse_size(ret, &r.max_retained) != 0) {
    fprintf(stderr,
            "nprof report: max retained bytes wants a size like 1M, "
            "not \"%s\"\n",
            ret);
    return CLI_EXIT_USAGE;
  }
  if (argc - optind != 1) {
    fprintf(stderr, "nprof report: %s\n",
            argc - optind == 0 ? "missing RUN_DIR" : "exactly one RUN_DIR");
    report_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  r.dir = argv[optind];
  if (stat(r.dir, &st) != 0) {
    fprintf(stderr, "nprof report: %s: %s\n", r.dir, strerror(errno));
    return CLI_EXIT_FAIL;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "nprof report: %s: not a directory\n", r.dir);
    return CLI_EXIT_FAIL;
  }

  for (int i = 0; i < NPHASES; i++) {
    char name[64];
    snprintf(name, sizeof(name), "%s.heap.pb.gz", phase_names[i]);
    if ((rc = load_profile(&r, name, &r.ph[i].heap)) != 0)
      goto oom;
    snprintf(name, sizeof(name), "%s.goroutine.pb.gz", phase_names[i]);
    if ((rc = load_profile(&r, name, &r.ph[i].gr)) != 0)
      goto oom;
    snprintf(name, sizeof(name), "%s.vars.json", phase_names[i]);
    if ((rc = load_json(&r, name, true, &r.ph[i].vars)) != 0)
      goto oom;
    found +=
        (r.ph[i].heap != NULL) + (r.ph[i].gr != NULL) + (r.ph[i].vars != NULL);
  }
  if ((rc = load_json(&r, "loadgen.json", true, &r.loadgen)) != 0 ||
      (rc = load_json(&r, "run.json", false, &r.run)) != 0)
    goto oom;
  if (found == 0 && r.loadgen == NULL && r.run == NULL && !r.unreadable) {
    fprintf(stderr,
            "nprof report: %s holds no snapshots (no baseline, plateau or "
            "drained profiles or vars, no loadgen.json): is it a run "
            "directory?\n",
            r.dir);
    goto out;
  }
  if ((rc = analyse(&r)) != 0)
    goto oom;
  check_thresholds(&r, &v);
  headline(&r, head, sizeof(head));
  if ((rc = render(&r, &v, head, &md, &mdlen, &html, &htmllen)) != 0)
    goto oom;
  if (write_outputs(&r, md, mdlen, html, htmllen) != 0)
    goto out;
  printf("%s\n", head);
  for (size_t i = 0; i < r.nnotes; i++)
    fprintf(stderr, "nprof report: %s\n", r.notes[i]);
  for (size_t i = 0; i < v.n; i++)
    fprintf(stderr, "nprof report: %s\n", v.text[i]);
  if (r.unreadable) {
    fprintf(stderr, "nprof report: some inputs are unreadable (listed above "
                    "and in the report)\n");
    goto out;
  }
  if (v.unchecked)
    goto out;
  result = v.exceeded ? EXIT_THRESHOLD : CLI_EXIT_OK;
  goto out;
oom:
  fprintf(stderr, "nprof report: %s\n", cli_strerror(rc));
out:
  free(md);
  free(html);
  report_free(&r);
  return result;
}
