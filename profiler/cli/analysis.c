/*
 * A load test's run folder (common/: npc_run_items per phase, run.json,
 * loadgen.json, timeline.jsonl) loaded and turned into the figures nprof
 * report and nprof compare print (struct cli_run): per phase the RSS, heap
 * and threads; N, the users at plateau, and the cost of each; where each
 * RSS change went; the allocation sites of the growth and of what drain
 * left behind; the threads that changed.
 *
 * Any input may be missing (a service that died mid-test): the figures
 * that need it stay NAN and a note says what was missing. An input that
 * exists but cannot be read is noted as such (r->unreadable).
 *
 * Where the RSS went. Each change (plateau or drained minus baseline) is
 * split into parts measured independently, so that what is left over is
 * honestly unexplained rather than defined away:
 *   sampled heap in use     the heap profile's inuse_space
 *   allocator, in use       malloc's own in-use count beyond the sampled
 *                           heap: headers, rounding, sampling error
 *   allocator, held free    freed memory glibc keeps in its arenas (what
 *                           malloc_trim would return is said beside it)
 *   thread stacks           resident thread stack pages
 *   file-backed             code and mapped files
 *   the rest                RSS change minus all of the above
 * The allocator's figures come from /debug/vars "malloc" (mallinfo2), the
 * others from "process"; a run without them leaves those rows unmeasured
 * and their share in the rest.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define MAX_THREAD_ROWS 1024

void cli_run_note(struct cli_run *r, bool bad, const char *fmt, ...)
{
  if (bad)
    r->unreadable = true;
  if (r->nnotes == CLI_RUN_MAX_NOTES)
    return;
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  if (s != NULL)
    r->notes[r->nnotes++] = s;
}

/* ---- loading ---- */

static char *join(const char *dir, const char *name)
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

/* Reads one profile of the run; a missing one is noted (required files
 * only), an unreadable one noted as such. Returns 0 or CLI_ENOMEM. */
static int load_profile(struct cli_run *r, const char *name,
                        struct cli_profile **out, struct cli_symbolizer *sym)
{
  char *path = join(r->dir, name);
  if (path == NULL)
    return CLI_ENOMEM;
  int result = 0;
  if (!exists(path)) {
    cli_run_note(r, false, "%s is missing", name);
    goto out;
  }
  char err[CLI_ERRLEN];
  int rc = cli_profile_load(path, out, err, sizeof(err));
  if (rc == CLI_ENOMEM) {
    result = rc;
    goto out;
  }
  if (rc != 0) {
    cli_run_note(r, true, "%s is unreadable: %s", name, err);
    goto out;
  }
  long named = cli_symbolize(sym, *out);
  if (named < 0)
    result = (int)named;
out:
  free(path);
  return result;
}

static int load_json(struct cli_run *r, const char *name, bool required,
                     struct cli_json **out)
{
  char *path = join(r->dir, name);
  if (path == NULL)
    return CLI_ENOMEM;
  int result = 0;
  if (!exists(path)) {
    if (required)
      cli_run_note(r, false, "%s is missing", name);
    goto out;
  }
  char err[CLI_ERRLEN];
  int rc = cli_json_load(path, CLI_JSON_CAP, out, err, sizeof(err));
  if (rc == CLI_ENOMEM)
    result = rc;
  else if (rc != 0)
    cli_run_note(r, true, "%s is unreadable: %s", name, err);
out:
  free(path);
  return result;
}

static int load_timeline(struct cli_run *r)
{
  char *path = join(r->dir, NPC_RUN_TIMELINE);
  if (path == NULL)
    return CLI_ENOMEM;
  int result = 0;
  if (exists(path)) {
    char err[CLI_ERRLEN];
    int rc =
        cli_timeline_load(path, r->users_var, &r->timeline, err, sizeof(err));
    if (rc == CLI_ENOMEM)
      result = rc;
    else if (rc != 0)
      cli_run_note(r, true, "%s is unreadable: %s", NPC_RUN_TIMELINE, err);
    else
      r->has_timeline = true;
    if (rc == 0 && r->timeline.bad > 0)
      cli_run_note(r, false, "%s: %zu of %zu lines are no sample (skipped)",
                   NPC_RUN_TIMELINE, r->timeline.bad, r->timeline.lines);
  }
  free(path);
  return result;
}

int cli_run_load(struct cli_run *r, const char *dir, struct cli_symbolizer *sym,
                 char *err, size_t errlen)
{
  assert(r != NULL && dir != NULL);
  memset(r, 0, sizeof(*r));
  r->dir = dir;
  struct stat st;
  if (stat(dir, &st) != 0) {
    snprintf(err, errlen, "%s: %s", dir, strerror(errno));
    return CLI_EIO;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s: not a directory", dir);
    return CLI_ENOTDIR;
  }
  int rc;
  size_t found = 0;
  /* run.json first: it names the users variable the rest is read with. */
  if ((rc = load_json(r, NPC_RUN_PARAMS, false, &r->params)) != 0)
    return rc;
  const char *uv = cli_json_string(r->params, "users_var");
  r->users_var = uv != NULL && uv[0] != '\0' ? uv : NULL;
  for (int i = 0; i < NPC_NPHASES; i++) {
    char name[64];
    npc_run_file((npc_phase)i, NPC_RUN_HEAP, name, sizeof(name));
    if ((rc = load_profile(r, name, &r->heap[i], sym)) != 0)
      return rc;
    npc_run_file((npc_phase)i, NPC_RUN_THREADS, name, sizeof(name));
    if ((rc = load_profile(r, name, &r->threads[i], sym)) != 0)
      return rc;
    npc_run_file((npc_phase)i, NPC_RUN_VARS, name, sizeof(name));
    if ((rc = load_json(r, name, true, &r->vars[i])) != 0)
      return rc;
    found +=
        (r->heap[i] != NULL) + (r->threads[i] != NULL) + (r->vars[i] != NULL);
  }
  if ((rc = load_json(r, NPC_RUN_LOADGEN, true, &r->loadgen_json)) != 0 ||
      (rc = load_timeline(r)) != 0)
    return rc;
  if (found == 0 && r->loadgen_json == NULL && r->params == NULL &&
      !r->has_timeline && !r->unreadable) {
    snprintf(err, errlen,
             "%s holds no snapshots (no baseline, plateau or drained "
             "profiles or vars, no loadgen.json): is it a run directory?",
             dir);
    return CLI_EEMPTY;
  }
  return cli_run_analyse(r);
}

void cli_run_free(struct cli_run *r)
{
  if (r == NULL)
    return;
  for (int i = 0; i < NPC_NPHASES; i++) {
    cli_profile_free(r->heap[i]);
    cli_profile_free(r->threads[i]);
    cli_json_free(r->vars[i]);
  }
  cli_json_free(r->loadgen_json);
  cli_json_free(r->params);
  cli_timeline_free(&r->timeline);
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
  for (size_t i = 0; i < r->nthread_rows; i++) {
    free(r->thread_rows[i].name);
    free(r->thread_rows[i].stack);
  }
  free(r->thread_rows);
  cli_loadgen_free(&r->lg);
  memset(r, 0, sizeof(*r));
}

/* "nprof VERB: " and the run's label, if any, on stderr. */
static void say_run(const char *verb, const char *const *labels, size_t i)
{
  fprintf(stderr, "nprof %s: ", verb);
  if (labels != NULL)
    fprintf(stderr, "%s: ", labels[i]);
}

int cli_runs_load(const char *verb, size_t n, struct cli_run *runs,
                  char *const *dirs, const char *const *labels,
                  const struct cli_symbolize_options *so,
                  struct cli_symbolizer **sym)
{
  assert(verb != NULL && runs != NULL && dirs != NULL && sym != NULL);
  memset(runs, 0, n * sizeof(*runs));
  *sym = NULL;
  int rc = cli_symbolizer_new(so, sym);
  if (rc != 0) {
    fprintf(stderr, "nprof %s: %s\n", verb, cli_strerror(rc));
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    char err[CLI_ERRLEN] = "";
    if ((rc = cli_run_load(&runs[i], dirs[i], *sym, err, sizeof(err))) != 0) {
      say_run(verb, labels, i);
      fprintf(stderr, "%s\n", err[0] ? err : cli_strerror(rc));
      return rc;
    }
  }
  return 0;
}

int cli_runs_verdict(const char *verb, size_t n, const struct cli_run *runs,
                     const char *const *labels, const struct cli_checks *v,
                     const char *listed_in)
{
  assert(verb != NULL && runs != NULL && v != NULL && listed_in != NULL);
  bool unreadable = false;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < runs[i].nnotes; k++) {
      say_run(verb, labels, i);
      fprintf(stderr, "%s\n", runs[i].notes[k]);
    }
    unreadable |= runs[i].unreadable;
  }
  cli_checks_print(stderr, verb, v);
  if (unreadable) {
    fprintf(stderr,
            "nprof %s: some inputs are unreadable (listed above and in %s)\n",
            verb, listed_in);
    return CLI_EXIT_FAIL;
  }
  return cli_checks_exit(v);
}

/* ---- per phase ---- */

static int type_index(const struct cli_profile *p, const char *type)
{
  for (size_t i = 0; p != NULL && i < p->nsample_types; i++) {
    if (strcmp(p->sample_types[i].type, type) == 0)
      return (int)i;
  }
  return -1;
}

static double sum_index(const struct cli_profile *p, int idx)
{
  double s = 0;
  for (size_t i = 0; i < p->nsamples; i++)
    s += (double)p->samples[i].values[idx];
  return s;
}

static void phase_figures(struct cli_run *r, int i)
{
  struct cli_run_phase *p = &r->ph[i];

  p->has_vars = r->vars[i] != NULL && r->vars[i]->type == CLI_JSON_OBJECT;
  cli_vars_read(p->has_vars ? r->vars[i] : NULL, r->users_var, &p->v);
  p->heap = NAN;
  if (r->heap[i] != NULL) {
    int idx = type_index(r->heap[i], "inuse_space");
    if (idx < 0)
      cli_run_note(r, true, "%s.heap.pb.gz has no inuse_space sample type",
                   npc_phase_name((npc_phase)i));
    else
      p->heap = sum_index(r->heap[i], idx);
  }
  if (isnan(p->heap))
    p->heap = p->v.heap_inuse;
  if (isnan(p->v.threads) && r->threads[i] != NULL &&
      r->threads[i]->nsample_types > 0)
    p->v.threads = sum_index(r->threads[i], 0);
  static const int mark[NPC_NPHASES] = {CLI_MARK_BASELINE, CLI_MARK_PLATEAU,
                                        CLI_MARK_DRAINED};
  p->t = r->lg.marks[mark[i]];
}

/* ---- users ---- */

static void count_users(struct cli_run *r)
{
  double v;

  r->users = NAN;
  if (r->users_var != NULL && r->ph[NPC_PHASE_PLATEAU].v.users > 0) {
    r->users = r->ph[NPC_PHASE_PLATEAU].v.users;
    snprintf(r->users_src, sizeof(r->users_src), "%s at plateau", r->users_var);
  } else if (r->lg.established > 0) {
    r->users = r->lg.established;
    snprintf(r->users_src, sizeof(r->users_src),
             "streams the loadgen established");
  } else if (cli_json_number(r->params, "test_count", &v) && v > 0) {
    r->users = v;
    snprintf(r->users_src, sizeof(r->users_src),
             "users requested (run.json test_count)");
  } else if (r->lg.requested > 0) {
    r->users = r->lg.requested;
    snprintf(r->users_src, sizeof(r->users_src),
             "streams requested (loadgen.json)");
  }
}

static double per_user(const struct cli_run *r, double later, double base)
{
  if (isnan(later) || isnan(base) || !(r->users > 0))
    return NAN;
  return (later - base) / r->users;
}

static double delta(double later, double base)
{
  return isnan(later) || isnan(base) ? NAN : later - base;
}

/* ---- where the RSS went ---- */

static void account(const struct cli_run_phase *base,
                    const struct cli_run_phase *later, struct cli_account *a)
{
  const struct cli_vars *b = &base->v, *l = &later->v;

  a->rss = delta(l->rss, b->rss);
  a->known = !isnan(a->rss);
  a->row[CLI_ACCT_HEAP] = delta(later->heap, base->heap);
  double in_use = delta(l->malloc_in_use, b->malloc_in_use);
  a->row[CLI_ACCT_MALLOC_MORE] = delta(in_use, a->row[CLI_ACCT_HEAP]);
  a->row[CLI_ACCT_MALLOC_FREE] = delta(l->malloc_free, b->malloc_free);
  a->row[CLI_ACCT_STACKS] = delta(l->thread_stacks, b->thread_stacks);
  a->row[CLI_ACCT_FILE] = delta(l->rss_file, b->rss_file);
  a->releasable = l->malloc_releasable;
  double rest = a->rss;
  for (int i = 0; i < CLI_ACCT_REST; i++) {
    if (!isnan(a->row[i]))
      rest -= a->row[i];
  }
  a->row[CLI_ACCT_REST] = rest;
}

/* ---- threads ---- */

/* Folds digit runs to "N" so "worker-3" and "worker-17" group together. */
static char *fold_digits(const char *s)
{
  char *out = malloc(strlen(s) + 1);
  if (out == NULL)
    return NULL;
  char *o = out;
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

/* One thread-profile sample as a (names, stack) pair, malloc'd. */
static int thread_key(const struct cli_sample *s, char **name, char **stack)
{
  char *n = NULL, *st = NULL;
  size_t nl = 0, sl = 0;
  FILE *f = open_memstream(&n, &nl);
  if (f == NULL)
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
  char buf[CLI_NAME_MAX];
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

static int compare_threads(struct cli_run *r)
{
  for (int i = 0; i < NPC_NPHASES; i++) {
    const struct cli_profile *g = r->threads[i];
    if (g == NULL || g->nsample_types == 0)
      continue;
    r->has_threads = true;
    for (size_t k = 0; k < g->nsamples; k++) {
      char *name, *stack;
      if (thread_key(&g->samples[k], &name, &stack) != 0)
        return CLI_ENOMEM;
      size_t j = 0;
      while (j < r->nthread_rows &&
             (strcmp(r->thread_rows[j].name, name) != 0 ||
              strcmp(r->thread_rows[j].stack, stack) != 0))
        j++;
      struct cli_thread_row *t = NULL;
      if (j == r->nthread_rows && j < MAX_THREAD_ROWS)
        t = realloc(r->thread_rows, (j + 1) * sizeof(*t));
      if (t != NULL) { /* a new row takes the strings */
        r->thread_rows = t;
        t[j] = (struct cli_thread_row){.name = name, .stack = stack};
        r->nthread_rows++;
      } else {
        free(name);
        free(stack);
        if (j == r->nthread_rows && j < MAX_THREAD_ROWS)
          return CLI_ENOMEM;
        if (j == r->nthread_rows)
          continue; /* past the cap: not shown */
      }
      r->thread_rows[j].count[i] += (double)g->samples[k].values[0];
    }
  }
  return 0;
}

static double row_change(const struct cli_thread_row *t)
{
  return fabs(t->count[NPC_PHASE_PLATEAU] - t->count[NPC_PHASE_BASELINE]) +
         fabs(t->count[NPC_PHASE_DRAINED] - t->count[NPC_PHASE_BASELINE]);
}

static int cmp_thread_rows(const void *a, const void *b)
{
  const struct cli_thread_row *x = a, *y = b;
  double cx = row_change(x), cy = row_change(y);
  if (cx != cy)
    return cx > cy ? -1 : 1;
  int c = strcmp(x->name, y->name);
  return c != 0 ? c : strcmp(x->stack, y->stack);
}

/* ---- heap diffs ---- */

static int heap_diff(struct cli_run *r, int from, int to, struct cli_diff *d,
                     struct cli_top_table *tab, bool *ok)
{
  if (type_index(r->heap[from], "inuse_space") < 0 ||
      type_index(r->heap[to], "inuse_space") < 0)
    return 0;
  char err[CLI_ERRLEN];
  int rc = cli_diff_init(d, r->heap[from], r->heap[to], "inuse_space", err,
                         sizeof(err));
  if (rc == CLI_ENOMEM)
    return rc;
  if (rc != 0) {
    cli_run_note(r, true, "cannot compare %s and %s heaps: %s",
                 npc_phase_name((npc_phase)from), npc_phase_name((npc_phase)to),
                 err);
    return 0;
  }
  /* Every node: the reports pick the rows with a flat value of their own
   * (allocation sites), which -top's order puts among cum-only rows. */
  struct cli_top_options opts = {.nodecount = 0, .nodefraction = 0};
  if ((rc = cli_diff_table(d, &opts, tab)) != 0) {
    cli_diff_close(d);
    return rc;
  }
  *ok = true;
  return 0;
}

int cli_run_analyse(struct cli_run *r)
{
  assert(r != NULL);
  int rc = cli_loadgen_read(r->loadgen_json, &r->lg);
  if (rc != 0)
    return rc;
  for (int i = 0; i < NPC_NPHASES; i++)
    phase_figures(r, i);
  count_users(r);

  const struct cli_run_phase *bp = &r->ph[NPC_PHASE_BASELINE],
                             *pp = &r->ph[NPC_PHASE_PLATEAU],
                             *dp = &r->ph[NPC_PHASE_DRAINED];
  r->rss_per_user = per_user(r, pp->v.rss, bp->v.rss);
  r->heap_per_user = per_user(r, pp->heap, bp->heap);
  r->retained_heap = delta(dp->heap, bp->heap);
  r->retained_rss = delta(dp->v.rss, bp->v.rss);
  /* Threads that went away are no leak; unknown stays unknown. */
  r->threads_leaked = delta(dp->v.threads, bp->v.threads);
  if (r->threads_leaked < 0)
    r->threads_leaked = 0;
  account(bp, pp, &r->acct[0]);
  account(bp, dp, &r->acct[1]);

  if ((rc = heap_diff(r, NPC_PHASE_BASELINE, NPC_PHASE_PLATEAU, &r->dgrowth,
                      &r->growth, &r->has_growth)) != 0 ||
      (rc = heap_diff(r, NPC_PHASE_BASELINE, NPC_PHASE_DRAINED, &r->dretained,
                      &r->retained, &r->has_retained)) != 0)
    return rc;
  if (r->has_growth) {
    if ((rc = cli_flame_build(r->dgrowth.samples, r->dgrowth.nsamples, 1200,
                              1.0, &r->flame)) != 0)
      return rc;
    r->has_flame = true;
  }
  for (int i = 0; i < NPC_NPHASES; i++) {
    for (size_t k = 0; r->heap[i] != NULL && k < r->heap[i]->nframes; k++)
      r->unnamed_frames += r->heap[i]->frames[k].function[0] == '\0' &&
                           r->heap[i]->frames[k].mapped;
  }
  if ((rc = compare_threads(r)) != 0)
    return rc;
  if (r->nthread_rows > 0)
    qsort(r->thread_rows, r->nthread_rows, sizeof(*r->thread_rows),
          cmp_thread_rows);
  return 0;
}
