/*
 * `nprof report RUN_DIR`: a load test's run folder (analysis.c reads and
 * analyses it) written as RUN_DIR/report.md and a self-contained
 * RUN_DIR/report.html (doc.c): the headline and the CI gates, the run's
 * parameters and the loadgen's results for people (rates with units,
 * latency histograms, errors when there are any, the client's own memory),
 * the phases, the timeline, the cost per connected user with the
 * allocation sites behind it, where the RSS went, what drain left behind,
 * the threads that changed, a flame graph of the growth, and the pprof
 * commands to dig further.
 *
 * The report is written from whatever exists. An input that exists but
 * cannot be read is named in the report and on stderr, and the command
 * exits 1 after writing it. The gates (--max-bytes-per-user,
 * --max-retained-bytes, or MAX_BYTES_PER_USER and MAX_RETAINED_BYTES from
 * the environment) exit 3 when exceeded, 1 when the run lacks what they
 * need (threshold.c).
 */
#include <assert.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define SITE_ROWS 15
#define THREAD_ROWS_SHOWN 25

static const char *phase_name(int i)
{
  return npc_phase_name((npc_phase)i);
}

/* ---- headline and gates ---- */

static void headline(const struct cli_run *r, char *buf, size_t len)
{
  char n[32], a[32], b[32], c[32], t[32], rss[32], expl[64] = "";
  const struct cli_account *ac = &r->acct[1];

  if (ac->known && !isnan(ac->row[CLI_ACCT_MALLOC_FREE]) && ac->rss > 0)
    snprintf(expl, sizeof(expl), ", %.0f%% explained",
             fmax(0, 100 * (1 - fabs(ac->row[CLI_ACCT_REST]) / ac->rss)));
  snprintf(buf, len,
           "%s users: %s RSS/user, %s heap/user; retained after drain %s "
           "(RSS %s%s); %s thread%s leaked",
           r->users > 0 ? cli_fmt_count(r->users, false, n, sizeof(n)) : "?",
           cli_fmt_bytes(r->rss_per_user, true, a, sizeof(a)),
           cli_fmt_bytes(r->heap_per_user, true, b, sizeof(b)),
           cli_fmt_bytes(r->retained_heap, false, c, sizeof(c)),
           cli_fmt_bytes(r->retained_rss, true, rss, sizeof(rss)), expl,
           cli_fmt_count(r->threads_leaked, false, t, sizeof(t)),
           r->threads_leaked == 1 ? "" : "s");
}

static void section_inputs(struct cli_doc *d, const struct cli_run *r)
{
  if (r->nnotes == 0)
    return;
  cli_doc_h2(d, "inputs", "Missing or unreadable inputs");
  cli_doc_para(d, NULL,
               "The report below is written from what exists; sections "
               "that need a missing input say so.");
  cli_doc_list_begin(d);
  for (size_t i = 0; i < r->nnotes; i++)
    cli_doc_list_item(d, NULL, r->notes[i]);
  cli_doc_list_end(d);
}

/* ---- the run and the loadgen ---- */

/* One run.json member for people. */
static const char *param_value(const struct cli_json *j, char *buf, size_t len)
{
  switch (j->type) {
  case CLI_JSON_NULL:
    snprintf(buf, len, "none");
    break;
  case CLI_JSON_BOOL:
    snprintf(buf, len, "%s", j->boolean ? "yes" : "no");
    break;
  case CLI_JSON_NUMBER:
    snprintf(buf, len, "%.10g", j->number);
    break;
  case CLI_JSON_STRING:
    snprintf(buf, len, "%s", j->string);
    break;
  case CLI_JSON_ARRAY:
  case CLI_JSON_OBJECT: {
    /* Scalars joined ("authorization, x-team"); deeper values elided. */
    size_t off = 0;
    buf[0] = '\0';
    for (const struct cli_json *c = j->child; c != NULL && off < len;
         c = c->next) {
      char v[128];
      if (c->type == CLI_JSON_ARRAY || c->type == CLI_JSON_OBJECT)
        snprintf(v, sizeof(v), "...");
      else
        param_value(c, v, sizeof(v));
      int w =
          snprintf(buf + off, len - off, "%s%s%s%s", off ? ", " : "",
                   c->key != NULL ? c->key : "", c->key != NULL ? " " : "", v);
      if (w < 0)
        break;
      off += (size_t)w;
    }
    if (off == 0)
      snprintf(buf, len, "none");
    break;
  }
  }
  return buf;
}

static void section_run(struct cli_doc *d, const struct cli_run *r)
{
  /* run.json's members in the contract's words; others as they are. */
  static const struct {
    const char *key, *label, *unit;
  } labels[] = {{"target", "target", NULL},
                {"call", "method", NULL},
                {"method_kind", "method kind", NULL},
                {"test_count", "users requested", NULL},
                {"streams_per_conn", "streams per connection", NULL},
                {"hold", "hold", NULL},
                {"rate", "ramp rate", "streams/s (0: as fast as it goes)"},
                {"rps", "call rate", "calls/s"},
                {"duration", "duration", NULL},
                {"tls", "TLS", NULL},
                {"headers", "headers sent", NULL},
                {"proto", "proto", NULL},
                {"mode", "mode", NULL},
                {"service", "service", NULL},
                {"debug_url", "debug URL", NULL},
                {"users_var", "users variable", NULL},
                {"shard_count", "loadgen shards", NULL},
                {"started", "started", NULL}};
  /* Knobs that only apply to some runs: a row only when they were set
   * (a streaming run has no call rate, a run without broadcasts no
   * publish count). "schema" is for programs, not readers. */
  static const char *const only_when_set[] = {"rps", "duration", "publish"};
  static const char *const heads[] = {"parameter", "value"};

  cli_doc_h2(d, "run", "Run");
  if (r->params == NULL || r->params->type != CLI_JSON_OBJECT) {
    cli_doc_para(d, NULL, "No run parameters (run.json absent).");
    return;
  }
  cli_doc_table_head(d, 2, heads, "ll");
  for (const struct cli_json *c = r->params->child; c != NULL; c = c->next) {
    if (strcmp(c->key, "schema") == 0)
      continue;
    bool unset = c->type == CLI_JSON_NULL ||
                 (c->type == CLI_JSON_NUMBER && c->number == 0) ||
                 (c->type == CLI_JSON_STRING && c->string[0] == '\0');
    bool optional = false;
    for (size_t i = 0; i < sizeof(only_when_set) / sizeof(only_when_set[0]);
         i++)
      optional |= strcmp(c->key, only_when_set[i]) == 0;
    if (optional && unset)
      continue;
    const char *label = c->key, *unit = NULL;
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
      if (strcmp(c->key, labels[i].key) == 0) {
        label = labels[i].label;
        unit = labels[i].unit;
      }
    }
    char v[512], cell[600];
    param_value(c, v, sizeof(v));
    snprintf(cell, sizeof(cell), "%s%s%s", v,
             unit != NULL && c->type == CLI_JSON_NUMBER ? " " : "",
             unit != NULL && c->type == CLI_JSON_NUMBER ? unit : "");
    const char *cells[2] = {label, cell};
    cli_doc_table_row(d, 2, cells, "ll", 0);
  }
  cli_doc_table_end(d);
}

static void latency_table(struct cli_doc *d, const struct cli_loadgen *lg)
{
  static const char *const heads[] = {"latency", "count", "p50", "p90",
                                      "p99",     "p99.9", "max"};
  bool any = false;

  for (int i = 0; i < CLI_NLAT; i++)
    any |= lg->latency[i].count > 0;
  if (!any)
    return;
  cli_doc_table_head(d, 7, heads, "lrrrrrr");
  for (int i = 0; i < CLI_NLAT; i++) {
    const struct cli_latency *l = &lg->latency[i];
    if (!(l->count > 0))
      continue;
    char c[32], p[5][32];
    const char *cells[7] = {l->title,
                            cli_fmt_count(l->count, false, c, sizeof(c)),
                            cli_fmt_ms(l->p50, p[0], sizeof(p[0])),
                            cli_fmt_ms(l->p90, p[1], sizeof(p[1])),
                            cli_fmt_ms(l->p99, p[2], sizeof(p[2])),
                            cli_fmt_ms(l->p999, p[3], sizeof(p[3])),
                            cli_fmt_ms(l->max, p[4], sizeof(p[4]))};
    cli_doc_table_row(d, 7, cells, "lrrrrrr", 0);
  }
  cli_doc_table_end(d);
  for (int i = 0; i < CLI_NLAT; i++) {
    const struct cli_latency *l = &lg->latency[i];
    if (!(l->count > 0))
      continue;
    if (l->nbins == 0) {
      if (l->problem != NULL)
        cli_doc_para(d, "note", "No %s chart: %s.", l->title, l->problem);
      continue;
    }
    char title[64];
    snprintf(title, sizeof(title), "%s latency", l->title);
    cli_doc_h3(d, title);
    cli_doc_md_note(d, "See report.html for the histogram of %s latency.",
                    l->title);
    cli_chart_latency_svg(d->html, l);
  }
}

static void section_loadgen(struct cli_doc *d, const struct cli_run *r)
{
  const struct cli_loadgen *lg = &r->lg;
  char a[32], b[32], c[32], e[32], f[32];

  cli_doc_h2(d, "loadgen", "Load generator");
  if (!lg->present) {
    cli_doc_para(d, NULL,
                 "No load generator results (loadgen.json missing or "
                 "unreadable).");
    return;
  }
  if (lg->ok_known && !lg->ok)
    cli_doc_para(d, "fail", "The load generator did not meet its goal: %s",
                 lg->reason != NULL && lg->reason[0] != '\0'
                     ? lg->reason
                     : "(no reason given)");
  if (!isnan(lg->established)) {
    char rate[96] = "";
    if (lg->establish_s > 0)
      snprintf(rate, sizeof(rate), " in %.2f s (%s streams/s)", lg->establish_s,
               cli_fmt_count(lg->establish_rate, false, f, sizeof(f)));
    cli_doc_para(d, NULL,
                 "Streams: %s established of %s requested%s; peak %s, "
                 "%s failed.",
                 cli_fmt_count(lg->established, false, a, sizeof(a)),
                 cli_fmt_count(lg->requested, false, b, sizeof(b)), rate,
                 cli_fmt_count(lg->peak, false, c, sizeof(c)),
                 cli_fmt_count(lg->failed, false, e, sizeof(e)));
  }
  if (lg->messages > 0 || lg->notifications_expected > 0) {
    char extra[64] = "";
    if (!isnan(lg->bytes))
      snprintf(extra, sizeof(extra), " (%s)",
               cli_fmt_bytes(lg->bytes, false, c, sizeof(c)));
    cli_doc_para(
        d, NULL, "Messages received: %s%s%s%s.",
        cli_fmt_count(lg->messages, false, a, sizeof(a)), extra,
        isnan(lg->notifications_expected) ? "" : " of ",
        isnan(lg->notifications_expected)
            ? ""
            : cli_fmt_count(lg->notifications_expected, false, b, sizeof(b)));
  }
  if (!isnan(lg->calls_sent) && lg->calls_sent > 0)
    cli_doc_para(d, NULL, "Unary calls: %s sent, %s ok, %s failed.",
                 cli_fmt_count(lg->calls_sent, false, a, sizeof(a)),
                 cli_fmt_count(lg->calls_ok, false, b, sizeof(b)),
                 cli_fmt_count(lg->calls_failed, false, c, sizeof(c)));
  if (lg->nerrors > 0) {
    static const char *const heads[] = {"error", "count"};
    cli_doc_para(d, "fail", "Errors the load generator saw:");
    cli_doc_table_head(d, 2, heads, "lr");
    for (size_t i = 0; i < lg->nerrors; i++) {
      const char *cells[2] = {
          lg->errors[i].name,
          cli_fmt_count(lg->errors[i].count, false, a, sizeof(a))};
      cli_doc_table_row(d, 2, cells, "lr", 0);
    }
    cli_doc_table_end(d);
  }
  if (!isnan(lg->client_rss_baseline) || !isnan(lg->client_rss_plateau)) {
    char per[64] = "";
    if (!isnan(lg->client_bytes_per_stream))
      snprintf(per, sizeof(per), "; %s per stream",
               cli_fmt_bytes(lg->client_bytes_per_stream, false, c, sizeof(c)));
    cli_doc_para(d, NULL,
                 "The load generator's own memory (the client's, not the "
                 "service's): RSS %s at baseline, %s at plateau%s.",
                 cli_fmt_bytes(lg->client_rss_baseline, false, a, sizeof(a)),
                 cli_fmt_bytes(lg->client_rss_plateau, false, b, sizeof(b)),
                 per);
  }
  latency_table(d, lg);
}

/* ---- phases ---- */

static void section_phases(struct cli_doc *d, const struct cli_run *r)
{
  char users_head[96];
  snprintf(users_head, sizeof(users_head), "users (%s)",
           r->users_var != NULL ? r->users_var : "no users_var");
  const char *heads[] = {
      "phase",          "time (UTC)", "RSS",      "heap in use (sampled)",
      "allocator free", "threads",    users_head, "open fds"};
  const char *align = "llrrrrrr";

  cli_doc_h2(d, "phases", "Phases");
  cli_doc_table_head(d, 8, heads, align);
  for (int i = 0; i < NPC_NPHASES; i++) {
    const struct cli_run_phase *p = &r->ph[i];
    char t[48] = "n/a", a[32], b[32], c[32], e[32], f[32], g[32];
    struct tm tm;
    time_t secs = isnan(p->t) ? 0 : (time_t)p->t;
    if (!isnan(p->t) && gmtime_r(&secs, &tm) != NULL)
      strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
    const char *cells[8] = {
        phase_name(i),
        t,
        cli_fmt_bytes(p->v.rss, false, a, sizeof(a)),
        cli_fmt_bytes(p->heap, false, b, sizeof(b)),
        cli_fmt_bytes(p->v.malloc_free, false, c, sizeof(c)),
        cli_fmt_count(p->v.threads, false, e, sizeof(e)),
        cli_fmt_count(p->v.users, false, f, sizeof(f)),
        cli_fmt_count(p->v.fds, false, g, sizeof(g))};
    cli_doc_table_row(d, 8, cells, align, 0);
  }
  cli_doc_table_end(d);
}

/* ---- the timeline ---- */

/* The phase bands: from the loadgen's marks when it wrote them, else from
 * the phases the samples are labelled with. */
static size_t phase_bands(const struct cli_run *r, double x0, double x1,
                          struct cli_band *bands, size_t max)
{
  static const struct {
    int from, to;
    const char *label;
  } spans[] = {{-1, CLI_MARK_CONNECT, "baseline"},
               {CLI_MARK_CONNECT, CLI_MARK_PLATEAU, "ramp"},
               {CLI_MARK_PLATEAU, CLI_MARK_HOLD_END, "hold"},
               {CLI_MARK_HOLD_END, CLI_MARK_DRAINED, "drain"},
               {CLI_MARK_DRAINED, -1, "drained"}};
  const double *m = r->lg.marks;
  size_t n = 0;

  if (!isnan(m[CLI_MARK_CONNECT]) && !isnan(m[CLI_MARK_PLATEAU])) {
    for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]) && n < max; i++) {
      double a = spans[i].from < 0 ? x0 : m[spans[i].from];
      double b = spans[i].to < 0 ? x1 : m[spans[i].to];
      if (isnan(a) || isnan(b) || b <= a)
        continue;
      bands[n++] = (struct cli_band){.x0 = a, .x1 = b, .label = spans[i].label};
    }
    return n;
  }
  const struct cli_timeline *tl = &r->timeline;
  for (size_t i = 0; i < tl->n && n < max;) {
    size_t j = i;
    while (j + 1 < tl->n && tl->samples[j + 1].phase == tl->samples[i].phase)
      j++;
    double b = j + 1 < tl->n ? tl->samples[j + 1].t : tl->samples[j].t;
    if (tl->samples[i].phase != CLI_TL_UNKNOWN && b > tl->samples[i].t)
      bands[n++] =
          (struct cli_band){.x0 = tl->samples[i].t,
                            .x1 = b,
                            .label = cli_tl_phase_name(tl->samples[i].phase)};
    i = j + 1;
  }
  return n;
}

enum { S_RSS, S_HEAP, S_FREE, S_USERS, S_CONNECTED, S_THREADS, S_FDS, S_N };

static void section_timeline(struct cli_doc *d, const struct cli_run *r)
{
  const struct cli_timeline *tl = &r->timeline;
  char a[32];

  cli_doc_h2(d, "timeline", "Timeline");
  if (!r->has_timeline) {
    cli_doc_para(d, NULL,
                 "No timeline: this run has only the three phase snapshots "
                 "(no %s), listed in the table above. A loadgen that writes "
                 "%s samples /debug/vars through the run.",
                 NPC_RUN_TIMELINE, NPC_RUN_TIMELINE);
    return;
  }
  if (tl->n < 2) {
    cli_doc_para(d, NULL, "%s holds %zu sample%s: too few to chart.",
                 NPC_RUN_TIMELINE, tl->n, tl->n == 1 ? "" : "s");
    return;
  }
  double x0 = tl->samples[0].t, x1 = tl->samples[tl->n - 1].t;
  double *x = calloc(tl->n, sizeof(*x)), *y[S_N];
  bool have[S_N] = {false};
  bool ok = x != NULL;
  for (int s = 0; s < S_N; s++)
    ok &= (y[s] = calloc(tl->n, sizeof(*y[s]))) != NULL;
  size_t peak = 0;
  for (size_t i = 0; ok && i < tl->n; i++) {
    const struct cli_tl_sample *sm = &tl->samples[i];
    double v[S_N] = {sm->v.rss,   sm->v.heap_inuse, sm->v.malloc_free,
                     sm->v.users, sm->connected,    sm->v.threads,
                     sm->v.fds};
    x[i] = sm->t;
    for (int s = 0; s < S_N; s++) {
      y[s][i] = v[s];
      have[s] |= !isnan(v[s]);
    }
    if (!isnan(sm->v.rss) &&
        (isnan(tl->samples[peak].v.rss) || sm->v.rss > tl->samples[peak].v.rss))
      peak = i;
  }
  if (ok) {
    char users_name[96];
    snprintf(users_name, sizeof(users_name), "%s",
             r->users_var != NULL ? r->users_var : "users");
    struct cli_series mem[3], users[2], thr[1], fds[1];
    size_t nmem = 0, nusers = 0;
    const struct {
      int s;
      const char *name, *color;
      struct cli_series *into;
      size_t *n;
    } map[] = {{S_RSS, "RSS", "#d62728", mem, &nmem},
               {S_HEAP, "heap in use (sampled)", "#1f77b4", mem, &nmem},
               {S_FREE, "allocator free", "#ff7f0e", mem, &nmem},
               {S_USERS, users_name, "#9467bd", users, &nusers},
               {S_CONNECTED, "loadgen connected", "#8c564b", users, &nusers}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
      if (have[map[i].s])
        map[i].into[(*map[i].n)++] = (struct cli_series){.name = map[i].name,
                                                         .color = map[i].color,
                                                         .x = x,
                                                         .y = y[map[i].s],
                                                         .n = tl->n};
    }
    thr[0] = (struct cli_series){.name = "threads",
                                 .color = "#2ca02c",
                                 .x = x,
                                 .y = y[S_THREADS],
                                 .n = tl->n};
    fds[0] = (struct cli_series){.name = "open fds",
                                 .color = "#17becf",
                                 .x = x,
                                 .y = y[S_FDS],
                                 .n = tl->n};
    struct cli_panel panels[4];
    size_t np = 0;
    if (nmem > 0)
      panels[np++] = (struct cli_panel){.title = "Memory (the service)",
                                        .bytes = true,
                                        .series = mem,
                                        .nseries = nmem};
    if (nusers > 0)
      panels[np++] = (struct cli_panel){
          .title = "Users", .series = users, .nseries = nusers};
    if (have[S_THREADS])
      panels[np++] =
          (struct cli_panel){.title = "Threads", .series = thr, .nseries = 1};
    if (have[S_FDS])
      panels[np++] = (struct cli_panel){
          .title = "Open files", .series = fds, .nseries = 1};
    struct cli_band bands[16];
    struct cli_mark marks[4];
    size_t nm = 0;
    for (int i = 0; i < NPC_NPHASES; i++) {
      if (!isnan(r->ph[i].t))
        marks[nm++] =
            (struct cli_mark){.x = r->ph[i].t, .label = phase_name(i)};
    }
    if (!isnan(r->lg.marks[CLI_MARK_PUBLISHED]))
      marks[nm++] = (struct cli_mark){.x = r->lg.marks[CLI_MARK_PUBLISHED],
                                      .label = "published"};
    struct cli_timechart chart = {.x0 = x0,
                                  .x1 = x1,
                                  .panels = panels,
                                  .npanels = np,
                                  .bands = bands,
                                  .nbands = phase_bands(r, x0, x1, bands, 16),
                                  .marks = marks,
                                  .nmarks = nm};
    char every[64] = "";
    if (tl->stride > 1)
      snprintf(every, sizeof(every), ", each of them standing for %u",
               tl->stride);
    cli_doc_para(d, NULL,
                 "%s: %zu samples over %.1f s%s; RSS peaked at %s, %.1f s "
                 "in (%s phase).",
                 NPC_RUN_TIMELINE, tl->n, x1 - x0, every,
                 cli_fmt_bytes(tl->samples[peak].v.rss, false, a, sizeof(a)),
                 tl->samples[peak].t - x0,
                 cli_tl_phase_name(tl->samples[peak].phase));
    if (tl->torn)
      cli_doc_para(d, "note",
                   "The last line was cut short (the run was still being "
                   "written, or stopped mid-line) and is left out.");
    size_t gaps = 0;
    for (size_t i = 0; i < tl->n; i++)
      gaps += !tl->samples[i].has_vars;
    if (gaps > 0)
      cli_doc_para(d, "note",
                   "%zu sample%s without /debug/vars (the service did not "
                   "answer then): gaps in the lines.",
                   gaps, gaps == 1 ? "" : "s");
    cli_doc_md_note(d,
                    "See report.html for the chart of memory, users, threads "
                    "and open files over time, the phases shaded.");
    if (np > 0) {
      fputs("<div class=\"scroll\">\n", d->html);
      cli_chart_time_svg(d->html, &chart);
      fputs("</div>\n", d->html);
    }
  } else {
    cli_doc_para(d, "fail", "Out of memory drawing the timeline.");
  }
  free(x);
  for (int s = 0; s < S_N; s++)
    free(y[s]);
}

/* ---- cost per user, sites ---- */

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

static void sites_table(struct cli_doc *d, const struct cli_top_table *t,
                        double users, bool growth)
{
  static const char *const heads[] = {"flat", "per user", "cum", "function"};

  cli_doc_table_head(d, 4, heads, "rrrl");
  for (size_t i = 0, k = 0; i < t->nrows && k < SITE_ROWS; i++) {
    const struct cli_top_row *row = &t->rows[i];
    if (!site_row(row, growth))
      continue;
    k++;
    char a[32], b[32], c[32];
    const char *cells[4] = {
        cli_fmt_bytes((double)row->flat, true, a, sizeof(a)),
        users > 0 ? cli_fmt_bytes((double)row->flat / users, true, b, sizeof(b))
                  : "n/a",
        cli_fmt_bytes((double)row->cum, true, c, sizeof(c)), row->name};
    cli_doc_table_row(d, 4, cells, "rrrl", 1u << 3);
  }
  cli_doc_table_end(d);
}

static void section_cost(struct cli_doc *d, const struct cli_run *r)
{
  char a[32], b[32], n[32];

  cli_doc_h2(d, "cost", "Cost per connected user");
  if (!(r->users > 0))
    cli_doc_para(d, NULL,
                 "Unknown number of connected users (no users variable at "
                 "plateau, loadgen result or run.json test_count): no "
                 "per-user cost.");
  else
    cli_doc_para(d, NULL,
                 "%s users (%s). (plateau - baseline) / N: RSS %s per user, "
                 "sampled heap %s per user.",
                 cli_fmt_count(r->users, false, n, sizeof(n)), r->users_src,
                 cli_fmt_bytes(r->rss_per_user, true, a, sizeof(a)),
                 cli_fmt_bytes(r->heap_per_user, true, b, sizeof(b)));
  if (!r->has_growth) {
    cli_doc_para(d, NULL,
                 "No allocation sites: the baseline or plateau heap profile "
                 "is missing.");
    return;
  }
  cli_doc_para(d, NULL,
               "Allocation sites making up the change (plateau minus "
               "baseline heap, inuse_space; the %zu largest by flat, as "
               "pprof -top -diff_base):",
               count_sites(&r->growth, false));
  sites_table(d, &r->growth, r->users, false);
}

/* ---- where the RSS went ---- */

static void section_rss(struct cli_doc *d, const struct cli_run *r)
{
  static const char *const rows[CLI_ACCT_NROWS] = {
      [CLI_ACCT_HEAP] = "sampled heap in use",
      [CLI_ACCT_MALLOC_MORE] = "allocator: in use beyond the sampled heap "
                               "(headers, rounding, sampling error)",
      [CLI_ACCT_MALLOC_FREE] = "allocator: freed memory it holds",
      [CLI_ACCT_STACKS] = "thread stacks",
      [CLI_ACCT_FILE] = "file-backed pages (code, mapped files)",
      [CLI_ACCT_REST] = "unexplained (the rest)"};
  static const char *const heads[] = {"", "plateau - baseline",
                                      "drained - baseline"};
  const struct cli_account *ac = r->acct;
  char a[32], b[32], c[32], e[32], f[32];

  cli_doc_h2(d, "rss", "Where the RSS went");
  if (!ac[0].known && !ac[1].known) {
    cli_doc_para(d, NULL,
                 "Unknown: the baseline vars, or both later ones, are "
                 "missing.");
    return;
  }
  cli_doc_table_head(d, 3, heads, "lrr");
  const char *top[3] = {"RSS change",
                        cli_fmt_bytes(ac[0].rss, true, a, sizeof(a)),
                        cli_fmt_bytes(ac[1].rss, true, b, sizeof(b))};
  cli_doc_table_row(d, 3, top, "lrr", 0);
  for (int i = 0; i < CLI_ACCT_NROWS; i++) {
    if (isnan(ac[0].row[i]) && isnan(ac[1].row[i]))
      continue;
    const char *cells[3] = {
        rows[i],
        ac[0].known ? cli_fmt_bytes(ac[0].row[i], true, a, sizeof(a)) : "n/a",
        ac[1].known ? cli_fmt_bytes(ac[1].row[i], true, b, sizeof(b)) : "n/a"};
    cli_doc_table_row(d, 3, cells, "lrr", 0);
  }
  if (!isnan(ac[0].releasable) || !isnan(ac[1].releasable)) {
    const char *cells[3] = {
        "malloc_trim would return (at that phase)",
        cli_fmt_bytes(ac[0].releasable, false, a, sizeof(a)),
        cli_fmt_bytes(ac[1].releasable, false, b, sizeof(b))};
    cli_doc_table_row(d, 3, cells, "lrr", 0);
  }
  cli_doc_table_end(d);
  const struct cli_vars *bv = &r->ph[NPC_PHASE_BASELINE].v;
  if (isnan(bv->malloc_free))
    cli_doc_para(
        d, "note", "%s",
        bv->allocator != NULL && strcmp(bv->allocator, "glibc") != 0
            ? "The allocator is not glibc's: the memory it holds free cannot "
              "be told apart and counts as unexplained."
            : "The service's /debug/vars has no malloc section (an older "
              "libnprof): the memory the allocator holds free cannot be "
              "told apart and counts as unexplained.");
  if (isnan(bv->rss_file) || isnan(bv->thread_stacks))
    cli_doc_para(d, "note",
                 "No RSS split in the vars (rss_file_bytes, "
                 "thread_stacks_rss_bytes: an older libnprof): file-backed "
                 "pages and thread stacks count as unexplained.");
  const struct cli_account *dr = &ac[1];
  if (dr->known) {
    double rest = dr->row[CLI_ACCT_REST];
    char pct[32] = "";
    if (dr->rss > 0)
      snprintf(pct, sizeof(pct), " (%.0f%% of the change)",
               100 * rest / dr->rss);
    if (!isnan(dr->row[CLI_ACCT_MALLOC_FREE]))
      cli_doc_para(
          d, NULL,
          "After drain the RSS is %s over baseline: the sampled "
          "heap %s, the allocator holds %s more free memory "
          "(malloc_trim would return %s); %s%s is unexplained.",
          cli_fmt_bytes(dr->rss, true, a, sizeof(a)),
          cli_fmt_bytes(dr->row[CLI_ACCT_HEAP], true, b, sizeof(b)),
          cli_fmt_bytes(dr->row[CLI_ACCT_MALLOC_FREE], true, c, sizeof(c)),
          cli_fmt_bytes(dr->releasable, false, e, sizeof(e)),
          cli_fmt_bytes(rest, true, f, sizeof(f)), pct);
    else
      cli_doc_para(d, NULL,
                   "After drain the RSS is %s over baseline, the sampled heap "
                   "%s; %s%s is unexplained.",
                   cli_fmt_bytes(dr->rss, true, a, sizeof(a)),
                   cli_fmt_bytes(dr->row[CLI_ACCT_HEAP], true, b, sizeof(b)),
                   cli_fmt_bytes(rest, true, c, sizeof(c)), pct);
  }
}

static void section_retained(struct cli_doc *d, const struct cli_run *r)
{
  char a[32], b[32];

  cli_doc_h2(d, "retained", "Retained after drain");
  if (isnan(r->retained_heap))
    cli_doc_para(d, NULL, "Unknown: the baseline or drained heap is missing.");
  else
    cli_doc_para(d, NULL, "Drained minus baseline: sampled heap %s, RSS %s.",
                 cli_fmt_bytes(r->retained_heap, true, a, sizeof(a)),
                 cli_fmt_bytes(r->retained_rss, true, b, sizeof(b)));
  if (r->has_retained && count_sites(&r->retained, true) == 0) {
    cli_doc_para(d, NULL,
                 "No allocation site holds more after drain than at "
                 "baseline.");
  } else if (r->has_retained) {
    cli_doc_para(d, NULL,
                 "Leak suspects: sites holding more after drain than at "
                 "baseline (drained minus baseline heap, inuse_space; the "
                 "%zu largest):",
                 count_sites(&r->retained, true));
    sites_table(d, &r->retained, r->users, true);
  }
}

static double row_change(const struct cli_thread_row *t)
{
  return fabs(t->count[NPC_PHASE_PLATEAU] - t->count[NPC_PHASE_BASELINE]) +
         fabs(t->count[NPC_PHASE_DRAINED] - t->count[NPC_PHASE_BASELINE]);
}

static void section_threads(struct cli_doc *d, const struct cli_run *r)
{
  static const char *const heads[] = {"threads", "stack (leaf first)",
                                      "baseline", "plateau", "drained"};
  size_t shown = 0;

  cli_doc_h2(d, "threads", "Threads that appeared or changed");
  if (!r->has_threads) {
    cli_doc_para(d, NULL, "No thread profiles (goroutine.pb.gz) to compare.");
    return;
  }
  for (size_t i = 0; i < r->nthread_rows; i++)
    shown += row_change(&r->thread_rows[i]) > 0;
  if (shown == 0) {
    cli_doc_para(d, NULL,
                 "No thread appeared, changed or went away between phases.");
    return;
  }
  if (shown > THREAD_ROWS_SHOWN)
    cli_doc_para(d, NULL,
                 "%zu thread groups changed; the %d that changed most:", shown,
                 THREAD_ROWS_SHOWN);
  cli_doc_table_head(d, 5, heads, "llrrr");
  for (size_t i = 0, k = 0; i < r->nthread_rows && k < THREAD_ROWS_SHOWN; i++) {
    const struct cli_thread_row *t = &r->thread_rows[i];
    if (row_change(t) == 0)
      continue;
    k++;
    char c[NPC_NPHASES][32];
    for (int p = 0; p < NPC_NPHASES; p++) {
      if (r->threads[p] == NULL)
        snprintf(c[p], sizeof(c[p]), "n/a");
      else
        cli_fmt_count(t->count[p], false, c[p], sizeof(c[p]));
    }
    const char *cells[5] = {t->name[0] ? t->name : "(unnamed)", t->stack, c[0],
                            c[1], c[2]};
    cli_doc_table_row(d, 5, cells, "llrrr", 1u << 1);
  }
  cli_doc_table_end(d);
}

static void section_flame(struct cli_doc *d, const struct cli_run *r)
{
  char a[32], b[32];

  cli_doc_h2(d, "flame", "Flame graph: plateau minus baseline heap");
  if (!r->has_flame || r->flame.total <= 0) {
    cli_doc_para(d, NULL,
                 "No growth to draw (a heap profile is missing, or nothing "
                 "grew).");
    return;
  }
  cli_doc_md_note(d,
                  "See report.html for the flame graph of the %s that grew "
                  "from baseline to plateau.",
                  cli_fmt_bytes((double)r->flame.total, false, a, sizeof(a)));
  fprintf(d->html,
          "<p>Stacks that grew from baseline to plateau: %s in all, root at "
          "the bottom, hover a frame for its value. Stacks that shrank "
          "(%s) are not drawn",
          cli_fmt_bytes((double)r->flame.total, false, a, sizeof(a)),
          cli_fmt_bytes((double)r->flame.shrunk, false, b, sizeof(b)));
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

static void section_names(struct cli_doc *d, const struct cli_run *r,
                          const struct cli_symbolize_stats *st)
{
  size_t named = st != NULL ? st->named_local + st->named_remote : 0;
  if (named == 0 && r->unnamed_frames == 0)
    return;
  cli_doc_h2(d, "names", "Names for stripped code");
  if (named > 0)
    cli_doc_para(d, NULL,
                 "%zu frames the profiles left unnamed were named offline "
                 "from debug info by build ID (%zu from local .build-id "
                 "files, %zu from debuginfod).",
                 named, st->named_local, st->named_remote);
  if (r->unnamed_frames > 0)
    cli_doc_para(
        d, NULL,
        "%zu heap frames have no name and are shown as FILE+0xOFFSET, their "
        "place in the mapped file (the same in every process, so runs line "
        "up)%s%s%s. Install the library's debug symbols (Debian: its -dbgsym "
        "package) or set DEBUGINFOD_URLS (Debian's server: "
        "https://debuginfod.debian.net) to name them.",
        r->unnamed_frames,
        st != NULL && st->missing[0] != '\0' ? "; no debug info was found for "
                                             : "",
        st != NULL ? st->missing : "",
        st != NULL && st->remote_failed ? " (a debuginfod server did not "
                                          "answer)"
                                        : "");
}

static void command(struct cli_doc *d, const char *pre, const char *a,
                    const char *b)
{
  char *s = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&s, &len);
  if (f == NULL)
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
  if (fclose(f) == 0)
    cli_doc_command(d, s);
  free(s);
}

static void section_commands(struct cli_doc *d, const struct cli_run *r)
{
  char *f[NPC_NPHASES][2];
  const char *url = cli_json_string(r->params, "debug_url");

  for (int p = 0; p < NPC_NPHASES; p++) {
    char h[64], g[64];
    npc_run_file((npc_phase)p, NPC_RUN_HEAP, h, sizeof(h));
    npc_run_file((npc_phase)p, NPC_RUN_THREADS, g, sizeof(g));
    if (asprintf(&f[p][0], "%s/%s", r->dir, h) < 0)
      f[p][0] = NULL;
    if (asprintf(&f[p][1], "%s/%s", r->dir, g) < 0)
      f[p][1] = NULL;
  }
  cli_doc_h2(d, "commands", "Dig further");
  cli_doc_para(d, NULL,
               "The snapshots are standard pprof profiles; go tool pprof "
               "reads them unchanged.");
  const char *B = f[NPC_PHASE_BASELINE][0], *P = f[NPC_PHASE_PLATEAU][0],
             *D = f[NPC_PHASE_DRAINED][0];
  if (B && P && D && f[0][1] && f[1][1]) {
    command(d, "go tool pprof -top -diff_base", B, P);
    command(d, "go tool pprof -http=:0 -diff_base", B, P);
    command(d, "go tool pprof -top -diff_base", B, D);
    command(d, "go tool pprof -sample_index=alloc_space -top", P, NULL);
    command(d, "go tool pprof -traces", f[NPC_PHASE_PLATEAU][1], NULL);
    command(d, "go tool pprof -top -diff_base", f[NPC_PHASE_BASELINE][1],
            f[NPC_PHASE_PLATEAU][1]);
    command(d, "nprof diff", B, P);
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
  for (int p = 0; p < NPC_NPHASES; p++) {
    free(f[p][0]);
    free(f[p][1]);
  }
}

static int render(const struct cli_run *r, const struct cli_checks *v,
                  const char *head, const struct cli_symbolize_stats *st,
                  struct cli_doc *d)
{
  const char *base = strrchr(r->dir, '/');
  base = base != NULL && base[1] != '\0' ? base + 1 : r->dir;
  char title[512];
  snprintf(title, sizeof(title), "Load test report: %s", base);
  int rc = cli_doc_open(d, title);
  if (rc != 0)
    return rc;
  cli_doc_para(d, "headline", "%s", head);
  cli_checks_section(d, v);
  section_inputs(d, r);
  section_run(d, r);
  section_loadgen(d, r);
  section_phases(d, r);
  section_timeline(d, r);
  section_cost(d, r);
  section_rss(d, r);
  section_retained(d, r);
  section_threads(d, r);
  section_flame(d, r);
  section_names(d, r, st);
  section_commands(d, r);
  fputs("<p><small>Written by nprof report.</small></p>\n", d->html);
  return cli_doc_close(d);
}

/* ---- the verb ---- */

static void report_usage(FILE *f)
{
  fprintf(
      f,
      "usage: nprof report [--max-bytes-per-user N] [--max-retained-bytes N]\n"
      "                    [--symbolize MODE] RUN_DIR\n"
      "\n"
      "Reads a load test's run folder (RUN_DIR/{baseline,plateau,drained}.\n"
      "{heap,goroutine}.pb.gz and .vars.json, timeline.jsonl, loadgen.json,\n"
      "run.json) and writes RUN_DIR/report.md and a self-contained\n"
      "RUN_DIR/report.html. Missing inputs are listed in the report, which\n"
      "is still written.\n"
      "\n"
      "  --max-bytes-per-user N  fail (exit 3) when the RSS or sampled heap\n"
      "                          per connected user exceeds N bytes\n"
      "                          (default: $MAX_BYTES_PER_USER)\n"
      "  --max-retained-bytes N  fail (exit 3) when the heap retained after\n"
      "                          drain exceeds N bytes\n"
      "                          (default: $MAX_RETAINED_BYTES)\n"
      "  --symbolize MODE        names for frames the profiles left unnamed:\n"
      "                          none, local (/usr/lib/debug/.build-id), or\n"
      "                          debuginfod (local, then $DEBUGINFOD_URLS;\n"
      "                          the default)\n"
      "  -h, --help              this text\n"
      "\n"
      "Sizes take K, M, G (1024 steps), e.g. 32K. Exit: 0 written, 1\n"
      "unreadable input or a threshold without the data it needs, 2 usage,\n"
      "3 threshold exceeded.\n");
}

int cli_report_main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"max-bytes-per-user", required_argument, NULL, 'u'},
      {"max-retained-bytes", required_argument, NULL, 'r'},
      {NULL, 0, NULL, 0},
  };
  const char *bpu = getenv("MAX_BYTES_PER_USER");
  const char *ret = getenv("MAX_RETAINED_BYTES");
  struct cli_symbolize_options so;
  cli_symbolize_options_init(&so, "report");
  struct cli_options o;
  cli_options_init(&o, "report", "", longopts, report_usage, &so);
  int c;
  while ((c = cli_options_next(&o, argc, argv)) != -1) {
    if (c == 'u')
      bpu = optarg;
    else /* 'r', the only other option */
      ret = optarg;
  }
  if (o.exit >= 0)
    return o.exit;
  double max_bpu = NAN, max_retained = NAN;
  if (bpu != NULL && bpu[0] != '\0' && cli_parse_size(bpu, &max_bpu) != 0)
    return cli_options_error(&o,
                             "max bytes per user wants a size like 32K, "
                             "not \"%s\"",
                             bpu);
  if (ret != NULL && ret[0] != '\0' && cli_parse_size(ret, &max_retained) != 0)
    return cli_options_error(&o,
                             "max retained bytes wants a size like 1M, "
                             "not \"%s\"",
                             ret);
  if (argc - optind != 1)
    return cli_options_error(&o, "%s",
                             argc - optind == 0 ? "missing RUN_DIR"
                                                : "exactly one RUN_DIR");

  struct cli_symbolizer *sym = NULL;
  struct cli_run r;
  struct cli_doc d = {0};
  char err[CLI_ERRLEN] = "";
  int result = CLI_EXIT_FAIL;
  int rc = cli_runs_load("report", 1, &r, argv + optind, NULL, &so, &sym);
  if (rc != 0)
    goto out;
  struct cli_checks v;
  char head[512];
  cli_checks_report(&r, max_bpu, max_retained, &v);
  headline(&r, head, sizeof(head));
  if ((rc = render(&r, &v, head, cli_symbolizer_stats(sym), &d)) != 0) {
    fprintf(stderr, "nprof report: %s\n", cli_strerror(rc));
    goto out;
  }
  if (cli_doc_write(&d, r.dir, NPC_RUN_REPORT_MD, NPC_RUN_REPORT_HTML, err,
                    sizeof(err)) != 0) {
    fprintf(stderr, "nprof report: %s\n", err);
    goto out;
  }
  printf("%s\n", head);
  result = cli_runs_verdict("report", 1, &r, NULL, &v, "the report");
out:
  cli_doc_free(&d);
  cli_run_free(&r);
  cli_symbolizer_free(sym);
  return result;
}
