/*
 * `nprof compare BASE_RUN NEW_RUN [--max-increase PCT]`: two load-test runs
 * side by side, for a CI gate ("is it worse than last week's run?"). Both
 * folders are analysed as nprof report does (analysis.c); compare.md and
 * compare.html go into NEW_RUN, and the headline and the largest changes
 * are printed. The change in cost per user (RSS and heap), in what drain
 * left behind, in the latency percentiles, and the allocation sites whose
 * cost per user changed most.
 *
 * Sites line up by name: functions by their names, frames without one by
 * FILE+0xOFFSET, their place in the mapped file, which is the same in
 * both processes wherever the loader put the file (and both runs share
 * one symbolizer, so a stripped library is named the same way in both).
 *
 * --max-increase PCT exits 3 when RSS or heap per user grew by more than
 * PCT percent; 1 when either run lacks what the check needs.
 */
#include <assert.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static double pct_change(double base, double newv)
{
  if (isnan(base) || isnan(newv) || !(base > 0))
    return NAN;
  return 100 * (newv - base) / base;
}

struct named {
  const char *name;
  double per_user;
  int run; /* 0 base, 1 new */
};

static int cmp_named(const void *a, const void *b)
{
  const struct named *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c != 0 ? c : x->run - y->run;
}

static double change(const struct cli_site_change *s)
{
  return (isnan(s->new) ? 0 : s->new) - (isnan(s->base) ? 0 : s->base);
}

static int cmp_change(const void *a, const void *b)
{
  double x = fabs(change(a)), y = fabs(change(b));
  if (x != y)
    return x > y ? -1 : 1;
  return strcmp(((const struct cli_site_change *)a)->name,
                ((const struct cli_site_change *)b)->name);
}

int cli_compare_analyse(const struct cli_run *base, const struct cli_run *newr,
                        struct cli_compare *out)
{
  assert(base != NULL && newr != NULL && out != NULL);
  memset(out, 0, sizeof(*out));
  out->base = base;
  out->newr = newr;
  out->rss_pct = pct_change(base->rss_per_user, newr->rss_per_user);
  out->heap_pct = pct_change(base->heap_per_user, newr->heap_per_user);
  if (!base->has_growth || !newr->has_growth || !(base->users > 0) ||
      !(newr->users > 0))
    return 0;

  /* Every site with a flat value in either run, by name, then merged. */
  size_t n = base->growth.nrows + newr->growth.nrows, k = 0;
  struct named *all = calloc(n + 1, sizeof(*all));
  if (all == NULL)
    return CLI_ENOMEM;
  const struct cli_run *runs[2] = {base, newr};
  for (int r = 0; r < 2; r++) {
    const struct cli_top_table *t = &runs[r]->growth;
    for (size_t i = 0; i < t->nrows; i++) {
      if (t->rows[i].flat != 0)
        all[k++] =
            (struct named){.name = t->rows[i].name,
                           .per_user = (double)t->rows[i].flat / runs[r]->users,
                           .run = r};
    }
  }
  qsort(all, k, sizeof(*all), cmp_named);
  struct cli_site_change *sites = calloc(k + 1, sizeof(*sites));
  if (sites == NULL) {
    free(all);
    return CLI_ENOMEM;
  }
  size_t ns = 0;
  for (size_t i = 0; i < k;) {
    struct cli_site_change *s = &sites[ns++];
    *s = (struct cli_site_change){.name = all[i].name, .base = 0, .new = 0};
    for (; i < k && strcmp(all[i].name, s->name) == 0; i++) {
      if (all[i].run == 0)
        s->base = all[i].per_user;
      else
        s->new = all[i].per_user;
    }
  }
  free(all);
  qsort(sites, ns, sizeof(*sites), cmp_change);
  out->sites = sites;
  out->nsites = ns;
  return 0;
}

void cli_compare_free(struct cli_compare *c)
{
  if (c == NULL)
    return;
  free(c->sites);
  memset(c, 0, sizeof(*c));
}

/* ---- the document ---- */

static const char *base_name(const char *dir)
{
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/')
    n--;
  const char *s = dir + n;
  while (s > dir && s[-1] != '/')
    s--;
  return s;
}

static void headline(const struct cli_compare *c, char *buf, size_t len)
{
  char a[32], b[32], e[32], f[32], g[32], h[32], site[CLI_NAME_MAX + 64] = "";

  if (c->nsites > 0)
    snprintf(site, sizeof(site), "; largest site change %s %s/user",
             c->sites[0].name,
             cli_fmt_bytes(change(&c->sites[0]), true, g, sizeof(g)));
  snprintf(buf, len,
           "RSS per user %s (%s -> %s), heap per user %s (%s -> %s)%s",
           cli_fmt_pct(c->rss_pct, h, sizeof(h)),
           cli_fmt_bytes(c->base->rss_per_user, false, a, sizeof(a)),
           cli_fmt_bytes(c->newr->rss_per_user, false, b, sizeof(b)),
           cli_fmt_pct(c->heap_pct, e, sizeof(e)),
           cli_fmt_bytes(c->base->heap_per_user, false, f, sizeof(f)),
           cli_fmt_bytes(c->newr->heap_per_user, false, g, sizeof(g)), site);
}

/* One row of base, new and change: bytes, or a count. */
static void figure_row(struct cli_doc *d, const char *what, double base,
                       double newv, bool bytes)
{
  char a[32], b[32], c[32], p[32], cell[80];

  if (bytes) {
    cli_fmt_bytes(base, false, a, sizeof(a));
    cli_fmt_bytes(newv, false, b, sizeof(b));
    cli_fmt_bytes(isnan(base) || isnan(newv) ? NAN : newv - base, true, c,
                  sizeof(c));
  } else {
    cli_fmt_count(base, false, a, sizeof(a));
    cli_fmt_count(newv, false, b, sizeof(b));
    cli_fmt_count(isnan(base) || isnan(newv) ? NAN : newv - base, true, c,
                  sizeof(c));
  }
  double pct = pct_change(base, newv);
  if (isnan(pct))
    snprintf(cell, sizeof(cell), "%s", c);
  else
    snprintf(cell, sizeof(cell), "%s (%s)", c, cli_fmt_pct(pct, p, sizeof(p)));
  const char *cells[4] = {what, a, b, cell};
  cli_doc_table_row(d, 4, cells, "lrrr", 0);
}

static void section_cost(struct cli_doc *d, const struct cli_compare *c)
{
  static const char *const heads[] = {"", "base", "new", "change"};
  const struct cli_run *b = c->base, *n = c->newr;

  cli_doc_h2(d, "cost", "Cost per connected user");
  cli_doc_table_head(d, 4, heads, "lrrr");
  figure_row(d, "users", b->users, n->users, false);
  figure_row(d, "RSS per user", b->rss_per_user, n->rss_per_user, true);
  figure_row(d, "sampled heap per user", b->heap_per_user, n->heap_per_user,
             true);
  figure_row(d, "heap retained after drain", b->retained_heap, n->retained_heap,
             true);
  figure_row(d, "RSS retained after drain", b->retained_rss, n->retained_rss,
             true);
  figure_row(d, "  of which held free by the allocator",
             b->acct[1].row[CLI_ACCT_MALLOC_FREE],
             n->acct[1].row[CLI_ACCT_MALLOC_FREE], true);
  figure_row(d, "  of which unexplained", b->acct[1].row[CLI_ACCT_REST],
             n->acct[1].row[CLI_ACCT_REST], true);
  figure_row(d, "threads leaked", b->threads_leaked, n->threads_leaked, false);
  cli_doc_table_end(d);
  cli_doc_para(d, NULL, "Users: base %s; new %s.",
               b->users_src[0] ? b->users_src : "unknown",
               n->users_src[0] ? n->users_src : "unknown");
}

static void section_latency(struct cli_doc *d, const struct cli_compare *c)
{
  static const char *const heads[] = {"latency", "base", "new", "change"};
  bool any = false;

  for (int i = 0; i < CLI_NLAT; i++)
    any |= c->base->lg.latency[i].count > 0 || c->newr->lg.latency[i].count > 0;
  if (!any)
    return;
  cli_doc_h2(d, "latency", "Latency");
  cli_doc_table_head(d, 4, heads, "lrrr");
  for (int i = 0; i < CLI_NLAT; i++) {
    const struct cli_latency *lb = &c->base->lg.latency[i],
                             *ln = &c->newr->lg.latency[i];
    if (!(lb->count > 0) && !(ln->count > 0))
      continue;
    const struct {
      const char *name;
      double b, n;
    } q[] = {{"p50", lb->p50, ln->p50},
             {"p90", lb->p90, ln->p90},
             {"p99", lb->p99, ln->p99},
             {"p99.9", lb->p999, ln->p999},
             {"max", lb->max, ln->max}};
    for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
      char what[64], a[32], b[32], p[32];
      snprintf(what, sizeof(what), "%s %s", lb->title, q[k].name);
      const char *cells[4] = {
          what, cli_fmt_ms(q[k].b, a, sizeof(a)),
          cli_fmt_ms(q[k].n, b, sizeof(b)),
          cli_fmt_pct(pct_change(q[k].b, q[k].n), p, sizeof(p))};
      cli_doc_table_row(d, 4, cells, "lrrr", 0);
    }
  }
  cli_doc_table_end(d);
}

static void section_sites(struct cli_doc *d, const struct cli_compare *c)
{
  static const char *const heads[] = {"change per user", "base per user",
                                      "new per user", "function"};

  cli_doc_h2(d, "sites", "Allocation sites whose cost per user changed most");
  if (c->nsites == 0) {
    cli_doc_para(d, NULL,
                 "No sites to compare: a run lacks its baseline or plateau "
                 "heap profile, or its number of users.");
    return;
  }
  cli_doc_para(d, NULL,
               "Flat bytes per user of plateau minus baseline heap "
               "(inuse_space), by function; frames without a name as "
               "FILE+0xOFFSET, which is the same in both runs.");
  cli_doc_table_head(d, 4, heads, "rrrl");
  for (size_t i = 0; i < c->nsites && i < CLI_COMPARE_SITES; i++) {
    const struct cli_site_change *s = &c->sites[i];
    char a[32], b[32], e[32];
    const char *cells[4] = {cli_fmt_bytes(change(s), true, a, sizeof(a)),
                            cli_fmt_bytes(s->base, true, b, sizeof(b)),
                            cli_fmt_bytes(s->new, true, e, sizeof(e)), s->name};
    cli_doc_table_row(d, 4, cells, "rrrl", 1u << 3);
  }
  cli_doc_table_end(d);
}

static void section_runs(struct cli_doc *d, const struct cli_compare *c)
{
  const struct cli_run *runs[2] = {c->base, c->newr};
  static const char *const which[2] = {"base", "new"};

  cli_doc_h2(d, "runs", "Runs");
  for (int i = 0; i < 2; i++) {
    cli_doc_para(d, NULL, "%s: %s", which[i], runs[i]->dir);
    if (runs[i]->nnotes == 0)
      continue;
    cli_doc_list_begin(d);
    for (size_t k = 0; k < runs[i]->nnotes; k++)
      cli_doc_list_item(d, NULL, runs[i]->notes[k]);
    cli_doc_list_end(d);
  }
}

static int render(const struct cli_compare *c, const struct cli_checks *v,
                  const char *head, struct cli_doc *d)
{
  char title[600];
  snprintf(title, sizeof(title), "Load test comparison: %s vs %s",
           base_name(c->base->dir), base_name(c->newr->dir));
  int rc = cli_doc_open(d, title);
  if (rc != 0)
    return rc;
  cli_doc_para(d, "headline", "%s", head);
  cli_checks_section(d, v);
  section_cost(d, c);
  section_sites(d, c);
  section_latency(d, c);
  section_runs(d, c);
  fputs("<p><small>Written by nprof compare.</small></p>\n", d->html);
  return cli_doc_close(d);
}

/* ---- the verb ---- */

static void compare_usage(FILE *f)
{
  fprintf(f,
          "usage: nprof compare [--max-increase PCT] [--symbolize MODE] "
          "BASE_RUN NEW_RUN\n"
          "\n"
          "Compares two load-test run folders: the cost per connected user\n"
          "(RSS and heap), what drain left behind, the latency percentiles\n"
          "and the allocation sites whose cost per user changed most.\n"
          "Prints the headline and writes NEW_RUN/compare.md and\n"
          "NEW_RUN/compare.html.\n"
          "\n"
          "  --max-increase PCT  fail (exit 3) when RSS or heap per user grew\n"
          "                      by more than PCT percent (e.g. 10)\n"
          "  --symbolize MODE    none, local or debuginfod (the default), as\n"
          "                      for nprof report\n"
          "  -h, --help          this text\n"
          "\n"
          "Exit: 0 written, 1 unreadable input or a check without the data\n"
          "it needs, 2 usage, 3 over --max-increase.\n");
}

static int parse_pct(const char *s, double *out)
{
  char *end;
  if (s == NULL || !(*s >= '0' && *s <= '9'))
    return CLI_EUSAGE;
  double v = strtod(s, &end);
  if (*end == '%')
    end++;
  if (*end != '\0' || !isfinite(v) || v < 0)
    return CLI_EUSAGE;
  *out = v;
  return 0;
}

int cli_compare_main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"max-increase", required_argument, NULL, 'm'},
      {NULL, 0, NULL, 0},
  };
  struct cli_symbolize_options so;
  cli_symbolize_options_init(&so, "compare");
  struct cli_options o;
  cli_options_init(&o, "compare", "", longopts, compare_usage, &so);
  double max_pct = NAN;
  while (cli_options_next(&o, argc, argv) != -1) { /* 'm', the only one */
    if (parse_pct(optarg, &max_pct) != 0)
      return cli_options_error(&o,
                               "--max-increase wants a percentage like 10, "
                               "not \"%s\"",
                               optarg);
  }
  if (o.exit >= 0)
    return o.exit;
  if (argc - optind != 2)
    return cli_options_error(&o, "%s BASE_RUN and NEW_RUN",
                             argc - optind < 2 ? "needs" : "takes only");

  static const char *const labels[] = {"BASE", "NEW"};
  struct cli_symbolizer *sym = NULL;
  struct cli_run runs[2];
  struct cli_compare cmp = {0};
  struct cli_doc d = {0};
  char err[CLI_ERRLEN] = "";
  int result = CLI_EXIT_FAIL;
  int rc = cli_runs_load("compare", 2, runs, argv + optind, labels, &so, &sym);
  if (rc != 0)
    goto out;
  if ((rc = cli_compare_analyse(&runs[0], &runs[1], &cmp)) != 0) {
    fprintf(stderr, "nprof compare: %s\n", cli_strerror(rc));
    goto out;
  }
  struct cli_checks v;
  char head[1024];
  cli_checks_compare(&cmp, max_pct, &v);
  headline(&cmp, head, sizeof(head));
  if ((rc = render(&cmp, &v, head, &d)) != 0) {
    fprintf(stderr, "nprof compare: %s\n", cli_strerror(rc));
    goto out;
  }
  if (cli_doc_write(&d, runs[1].dir, "compare.md", "compare.html", err,
                    sizeof(err)) != 0) {
    fprintf(stderr, "nprof compare: %s\n", err);
    goto out;
  }
  printf("%s\n", head);
  for (size_t i = 0; i < cmp.nsites && i < 5; i++) {
    char a[32];
    printf("  %12s/user  %s\n",
           cli_fmt_bytes(change(&cmp.sites[i]), true, a, sizeof(a)),
           cmp.sites[i].name);
  }
  result = cli_runs_verdict("compare", 2, runs, labels, &v, "compare.md");
out:
  cli_doc_free(&d);
  cli_compare_free(&cmp);
  cli_run_free(&runs[0]);
  cli_run_free(&runs[1]);
  cli_symbolizer_free(sym);
  return result;
}
