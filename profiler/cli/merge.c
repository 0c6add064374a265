/*
 * `nprof merge -o OUT.json [--coordinator FILE] SHARD.json...`: the results
 * of a run's shards (loadgen --shard-index I --shard-count N) as one
 * loadgen.json, which nprof report reads as it reads one process's.
 *
 * Exact, never an average of percentiles (what k6-operator declines to do
 * and Locust's master approximates): each shard's latencies come in full,
 * bucket counts of the loadgen's log-linear layout, and histograms of one
 * layout add bucket by bucket. The merged percentiles are computed from
 * the summed buckets with the loadgen's own rule (the highest value of the
 * bucket holding the rank, clipped to the recorded min and max), so they
 * are what one process would have reported for all the users. Counts add;
 * max is the max, min the min; the ramp spans the first shard's start to
 * the last shard's end, and its rate is every user over that span.
 *
 * Refused, saying which: inputs of different runs (run_id), a shard twice,
 * a shard missing, users that do not tile the run (a shard given other
 * --streams), histograms of another layout or without buckets, and any
 * number that is not one. Per-shard figures stay under "shards"; the
 * coordinator's file (loadgen --coordinate) brings the run's phases,
 * snapshots and broadcasts, and its verdict joins the shards'.
 */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MERGE_MAX_SHARDS 1000
#define MERGE_MAX_BUCKETS 65536
#define MERGE_MAX_ERRORS 64
#define MERGE_LAYOUT "loadgen-log-linear"

/* The latency histograms a result carries, in loadgen.json's order. */
static const char *const hist_keys[] = {"connect_ms", "delivery_ms",
                                        "broadcast_ms", "call_ms"};
#define NHIST (sizeof hist_keys / sizeof *hist_keys)

/* Counts that add, in loadgen.json's order. */
static const char *const sum_keys[] = {"streams_requested",
                                       "streams_established",
                                       "streams_failed",
                                       "streams_established_peak",
                                       "establishments",
                                       "failure_events",
                                       "messages_received",
                                       "bytes_received",
                                       "notifications_received",
                                       "notifications_expected",
                                       "latency_clock_skew",
                                       "connections",
                                       "threads"};
#define NSUM (sizeof sum_keys / sizeof *sum_keys)
enum { S_REQUESTED, S_ESTABLISHED, S_FAILED, S_PEAK };
#define S_MESSAGES 6

static const char *const call_keys[] = {
    "scheduled", "sent", "ok", "failed", "not_sent", "rps", "ok_per_s"};
#define NCALL (sizeof call_keys / sizeof *call_keys)

struct hist {
  char layout[64];
  double sub_bits, max_exp, nbuckets;
  uint64_t count, min, max, sum;
  uint64_t *counts; /* nbuckets of them */
};

struct shard {
  const char *file;
  unsigned index;
  uint64_t first, last; /* users */
  bool ok;
  const char *reason, *last_error; /* borrowed from its JSON */
  double sums[NSUM], calls[NCALL];
  double rss_baseline, rss_plateau;
  double per_stream_min, per_stream_max;
  double connect_at, establish_s;
  double marks[8];
  struct hist h[NHIST];
};

struct merge {
  char *err;
  size_t errlen;
  struct shard *s; /* by index, n of them: the run's shard count */
  size_t n;
  struct hist h[NHIST];
  struct {
    const char *name;
    double count;
  } errors[MERGE_MAX_ERRORS];
  size_t nerrors;
};

static int refuse(struct merge *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int refuse(struct merge *m, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->err, m->errlen, fmt, ap);
  va_end(ap);
  return CLI_EINVALID;
}

/* A non-negative integer (exact in a double up to 2^53). */
static bool count_of(const struct cli_json *j, uint64_t *out)
{
  if (j == NULL || j->type != CLI_JSON_NUMBER || !(j->number >= 0) ||
      j->number > 9007199254740992.0 || j->number != floor(j->number))
    return false;
  *out = (uint64_t)j->number;
  return true;
}

static bool same_number(const struct cli_json *a, const struct cli_json *b,
                        const char *key)
{
  double x = cli_json_num(a, key), y = cli_json_num(b, key);
  return (isnan(x) && isnan(y)) || x == y;
}

/* The histogram `key` of shard s (file) into *h. */
static int read_hist(struct merge *m, const struct shard *s,
                     const struct cli_json *all, const char *key,
                     struct hist *h)
{
  const struct cli_json *j = cli_json_get(all, key);
  if (j == NULL)
    return refuse(m,
                  "%s has no full histogram %s (a loadgen older than "
                  "\"histograms\"): its percentiles cannot be merged",
                  s->file, key);
  const struct cli_json *layout = cli_json_get(j, "layout");
  const char *name = cli_json_string(layout, "name");
  const char *unit = cli_json_string(layout, "unit");
  h->sub_bits = cli_json_num(layout, "sub_bucket_bits");
  h->max_exp = cli_json_num(layout, "max_exponent");
  h->nbuckets = cli_json_num(layout, "buckets");
  if (name == NULL || strcmp(name, MERGE_LAYOUT) != 0 || unit == NULL ||
      strcmp(unit, "us") != 0 || !(h->sub_bits >= 1 && h->sub_bits <= 32) ||
      h->sub_bits != floor(h->sub_bits) ||
      !(h->nbuckets >= 1 && h->nbuckets <= MERGE_MAX_BUCKETS) ||
      h->nbuckets != floor(h->nbuckets))
    return refuse(m,
                  "%s: %s's layout is not the loadgen's (" MERGE_LAYOUT
                  " in us, with sub_bucket_bits and buckets): not merged",
                  s->file, key);
  snprintf(h->layout, sizeof h->layout, "%s", name);
  const struct cli_json *b = cli_json_get(j, "buckets");
  if (!count_of(cli_json_get(j, "count"), &h->count) ||
      !count_of(cli_json_get(j, "min"), &h->min) ||
      !count_of(cli_json_get(j, "max"), &h->max) ||
      !count_of(cli_json_get(j, "sum"), &h->sum) || b == NULL ||
      b->type != CLI_JSON_ARRAY)
    return refuse(m, "%s: %s has no count, min, max, sum and buckets", s->file,
                  key);
  h->counts = calloc((size_t)h->nbuckets, sizeof *h->counts);
  if (h->counts == NULL)
    return CLI_ENOMEM;
  uint64_t total = 0;
  for (const struct cli_json *e = b->child; e != NULL; e = e->next) {
    const struct cli_json *ix = e->type == CLI_JSON_ARRAY ? e->child : NULL;
    uint64_t i, c;
    if (ix == NULL || !count_of(ix, &i) || !count_of(ix->next, &c) ||
        ix->next->next != NULL || i >= (uint64_t)h->nbuckets)
      return refuse(m,
                    "%s: %s has a bucket that is not [index, count] of its "
                    "layout",
                    s->file, key);
    h->counts[i] += c;
    total += c;
  }
  if (total != h->count)
    return refuse(m,
                  "%s: %s counts %llu values but its buckets hold %llu: not "
                  "a histogram the loadgen wrote",
                  s->file, key, (unsigned long long)h->count,
                  (unsigned long long)total);
  return 0;
}

/* The highest value bucket i holds (loadgen/histogram.c), or -1. */
static double bucket_high(const struct hist *h, size_t i)
{
  double lo, hi;
  if (cli_hist_bucket_range((unsigned)h->sub_bits, i, &lo, &hi) != 0 ||
      hi > 9007199254740992.0)
    return -1;
  return hi - 1;
}

/* lg_hist_quantile's rule: the bucket holding the q-th value's rank
 * (npc_quantile_rank), its highest value clipped to [min, max]. */
static double quantile_us(const struct hist *h, double q)
{
  if (h->count == 0)
    return 0;
  if (q <= 0)
    return (double)h->min;
  if (q >= 1)
    return (double)h->max;
  uint64_t rank = npc_quantile_rank(q, h->count);
  uint64_t seen = 0;
  for (size_t i = 0; i < (size_t)h->nbuckets; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      double v = bucket_high(h, i);
      if (v > (double)h->max)
        v = (double)h->max;
      if (v < (double)h->min)
        v = (double)h->min;
      return v;
    }
  }
  return (double)h->max;
}

static bool same_layout(const struct hist *a, const struct hist *b)
{
  return strcmp(a->layout, b->layout) == 0 && a->sub_bits == b->sub_bits &&
         a->nbuckets == b->nbuckets &&
         ((isnan(a->max_exp) && isnan(b->max_exp)) || a->max_exp == b->max_exp);
}

static void hist_free(struct hist *h)
{
  free(h->counts);
  h->counts = NULL;
}

/* Reads one shard's result. */
static int read_shard(struct merge *m, const char *file,
                      const struct cli_json *j, struct shard *s)
{
  memset(s, 0, sizeof *s);
  s->file = file;
  const struct cli_json *sh = cli_json_get(j, "shard");
  const struct cli_json *users = cli_json_get(sh, "users");
  uint64_t index, first, last;
  const char *role = cli_json_string(j, "role");
  if (role != NULL && strcmp(role, "coordinator") == 0)
    return refuse(m,
                  "%s is the coordinator's result: give it with "
                  "--coordinator",
                  file);
  if (j == NULL || j->type != CLI_JSON_OBJECT ||
      cli_json_string(j, "run_id") == NULL || sh == NULL)
    return refuse(m,
                  "%s is not a shard's result (no run_id and shard: one "
                  "process's loadgen.json needs no merge)",
                  file);
  if (!count_of(cli_json_get(sh, "index"), &index) || users == NULL ||
      users->type != CLI_JSON_ARRAY || users->count != 2 ||
      !count_of(users->child, &first) || !count_of(users->child->next, &last) ||
      first > last)
    return refuse(m, "%s: its shard has no index and users [first, last]",
                  file);
  s->index = (unsigned)index;
  s->first = first;
  s->last = last;
  const struct cli_json *ok = cli_json_get(j, "ok");
  s->ok = ok != NULL && ok->type == CLI_JSON_BOOL && ok->boolean;
  s->reason = cli_json_string(j, "reason");
  s->last_error = cli_json_string(j, "last_error");
  for (size_t i = 0; i < NSUM; i++) {
    s->sums[i] = cli_json_num(j, sum_keys[i]);
    if (isnan(s->sums[i]) || s->sums[i] < 0)
      return refuse(m, "%s has no %s", file, sum_keys[i]);
  }
  const struct cli_json *calls = cli_json_get(j, "calls");
  for (size_t i = 0; i < NCALL; i++) {
    double v = cli_json_num(calls, call_keys[i]);
    s->calls[i] = isnan(v) ? 0 : v;
  }
  const struct cli_json *rss = cli_json_get(j, "client_rss_kib");
  s->rss_baseline = cli_json_num(rss, "baseline");
  s->rss_plateau = cli_json_num(rss, "plateau");
  const struct cli_json *per = cli_json_get(j, "messages_per_stream");
  s->per_stream_min = cli_json_num(per, "min");
  s->per_stream_max = cli_json_num(per, "max");
  s->establish_s = cli_json_num(j, "establish_seconds");
  const struct cli_json *phases = cli_json_get(j, "phases");
  for (size_t i = 0; i < 8; i++)
    s->marks[i] = cli_json_num(phases, cli_lg_mark_names[i]);
  s->connect_at = s->marks[CLI_MARK_CONNECT];

  const struct cli_json *errs = cli_json_get(j, "errors");
  for (const struct cli_json *e = errs != NULL ? errs->child : NULL; e;
       e = e->next) {
    if (e->key == NULL || e->type != CLI_JSON_NUMBER || !(e->number >= 0))
      continue;
    size_t k = 0;
    while (k < m->nerrors && strcmp(m->errors[k].name, e->key) != 0)
      k++;
    if (k == m->nerrors) {
      if (m->nerrors == MERGE_MAX_ERRORS)
        continue;
      m->errors[m->nerrors++].name = e->key;
    }
    m->errors[k].count += e->number;
  }

  const struct cli_json *hists = cli_json_get(j, "histograms");
  for (size_t i = 0; i < NHIST; i++) {
    int rc = read_hist(m, s, hists, hist_keys[i], &s->h[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Adds shard s's histograms into the run's. */
static int add_hists(struct merge *m, const struct shard *s)
{
  for (size_t i = 0; i < NHIST; i++) {
    struct hist *d = &m->h[i];
    const struct hist *h = &s->h[i];
    if (d->counts == NULL) {
      *d = *h;
      d->counts = calloc((size_t)h->nbuckets, sizeof *d->counts);
      if (d->counts == NULL)
        return CLI_ENOMEM;
      d->count = d->sum = d->max = 0;
      d->min = UINT64_MAX;
    } else if (!same_layout(d, h)) {
      return refuse(m,
                    "%s: %s's layout (sub_bucket_bits %g, %g buckets) is not "
                    "the other shards' (%g, %g): histograms of two layouts "
                    "do not add",
                    s->file, hist_keys[i], h->sub_bits, h->nbuckets,
                    d->sub_bits, d->nbuckets);
    }
    for (size_t b = 0; b < (size_t)h->nbuckets; b++)
      d->counts[b] += h->counts[b];
    if (h->count > 0) {
      d->min = h->min < d->min ? h->min : d->min;
      d->max = h->max > d->max ? h->max : d->max;
    }
    d->count += h->count;
    d->sum += h->sum;
  }
  return 0;
}

static void summary(FILE *f, const char *key, const struct hist *h,
                    const char *indent, bool comma)
{
  fprintf(f,
          "%s\"%s\": {\"count\": %llu, \"p50\": %.3f, \"p90\": %.3f, \"p99\": "
          "%.3f, \"p999\": %.3f, \"max\": %.3f}%s",
          indent, key, (unsigned long long)h->count, quantile_us(h, 0.5) / 1000,
          quantile_us(h, 0.9) / 1000, quantile_us(h, 0.99) / 1000,
          quantile_us(h, 0.999) / 1000, (double)h->max / 1000,
          comma ? ",\n" : "");
}

static void full(FILE *f, const char *key, const struct hist *h, bool last)
{
  fprintf(f,
          "    \"%s\": {\"layout\": {\"name\": \"%s\", \"sub_bucket_bits\": "
          "%g, ",
          key, h->layout, h->sub_bits);
  if (!isnan(h->max_exp))
    fprintf(f, "\"max_exponent\": %g, ", h->max_exp);
  fprintf(f,
          "\"buckets\": %g, \"unit\": \"us\"}, \"count\": %llu, \"min\": "
          "%llu, \"max\": %llu, \"sum\": %llu, \"buckets\": [",
          h->nbuckets, (unsigned long long)h->count,
          (unsigned long long)(h->count ? h->min : 0),
          (unsigned long long)h->max, (unsigned long long)h->sum);
  bool first = true;
  for (size_t i = 0; i < (size_t)h->nbuckets; i++)
    if (h->counts[i] != 0) {
      fprintf(f, "%s[%zu, %llu]", first ? "" : ", ", i,
              (unsigned long long)h->counts[i]);
      first = false;
    }
  fprintf(f, "]}%s\n", last ? "" : ",");
}

static void shard_figures(FILE *f, const struct shard *s, bool last)
{
  fprintf(f, "    {\"index\": %u, \"file\": ", s->index);
  const char *base = strrchr(s->file, '/');
  npc_json_string(f, base != NULL ? base + 1 : s->file);
  fprintf(f, ", \"users\": [%llu, %llu], \"ok\": %s, \"reason\": ",
          (unsigned long long)s->first, (unsigned long long)s->last,
          s->ok ? "true" : "false");
  npc_json_string(f, s->reason != NULL ? s->reason : "");
  fprintf(f,
          ",\n     \"streams_requested\": %.0f, \"streams_established\": %.0f, "
          "\"messages_received\": %.0f, \"establish_seconds\": %.3f, "
          "\"establish_rate_per_s\": %.1f,\n     \"calls\": {\"ok\": %.0f, "
          "\"failed\": %.0f}, \"client_rss_kib\": {\"baseline\": %.0f, "
          "\"plateau\": %.0f},\n",
          s->sums[S_REQUESTED], s->sums[S_ESTABLISHED], s->sums[S_MESSAGES],
          isnan(s->establish_s) ? 0 : s->establish_s,
          s->establish_s > 0 ? s->sums[S_PEAK] / s->establish_s : 0.0,
          s->calls[2], s->calls[3],
          isnan(s->rss_baseline) ? 0 : s->rss_baseline,
          isnan(s->rss_plateau) ? 0 : s->rss_plateau);
  for (size_t i = 0; i < NHIST; i++) {
    summary(f, hist_keys[i], &s->h[i], i == 0 ? "     " : " ", false);
    fputs(i + 1 < NHIST ? "," : "", f);
  }
  fprintf(f, "}%s\n", last ? "" : ",");
}

int cli_merge(const struct cli_merge_input *in, size_t n,
              const struct cli_merge_input *coord, FILE *out, char *err,
              size_t errlen)
{
  struct merge m = {.err = err, .errlen = errlen};
  int rc = 0;
  bool *seen = NULL; /* by index */
  if (n == 0)
    return refuse(&m, "no shard results to merge");
  if (n > MERGE_MAX_SHARDS)
    return refuse(&m, "%zu inputs: at most %d shards", n, MERGE_MAX_SHARDS);
  struct shard *all = calloc(n, sizeof *all);
  if (all == NULL) {
    rc = CLI_ENOMEM;
    goto out;
  }
  const char *run_id = NULL, *run_file = NULL;
  const struct cli_json *first = NULL;
  double count = NAN;
  for (size_t i = 0; i < n; i++) {
    if ((rc = read_shard(&m, in[i].name, in[i].json, &all[i])) != 0)
      goto out;
    const char *id = cli_json_string(in[i].json, "run_id");
    double c = cli_json_num(cli_json_get(in[i].json, "shard"), "count");
    if (run_id == NULL) {
      run_id = id;
      run_file = in[i].name;
      first = in[i].json;
      count = c;
      if (!(count >= 1 && count <= MERGE_MAX_SHARDS) || count != floor(count)) {
        rc = refuse(&m, "%s: shard count %g is not 1..%d", in[i].name, count,
                    MERGE_MAX_SHARDS);
        goto out;
      }
      seen = calloc((size_t)count, sizeof *seen);
      m.s = calloc((size_t)count, sizeof *m.s);
      m.n = (size_t)count;
      if (seen == NULL || m.s == NULL) {
        rc = CLI_ENOMEM;
        goto out;
      }
    } else if (strcmp(id, run_id) != 0) {
      rc = refuse(&m,
                  "%s is of run %s, %s of run %s: shards of different runs "
                  "are not merged",
                  in[i].name, id, run_file, run_id);
      goto out;
    } else if (c != count) {
      rc = refuse(&m, "%s says %g shards, %s says %g: not one run", in[i].name,
                  c, run_file, count);
      goto out;
    } else if (!same_number(first, in[i].json, "streams_per_conn") ||
               cli_json_string(in[i].json, "call") == NULL ||
               cli_json_string(first, "call") == NULL ||
               strcmp(cli_json_string(in[i].json, "call"),
                      cli_json_string(first, "call")) != 0) {
      rc = refuse(&m,
                  "%s and %s called different methods or plans: not one "
                  "run",
                  in[i].name, run_file);
      goto out;
    }
    unsigned ix = all[i].index;
    if (ix >= (unsigned)count) {
      rc = refuse(&m, "%s is shard %u of %g: no such shard", in[i].name, ix,
                  count);
      goto out;
    }
    if (seen[ix]) {
      rc =
          refuse(&m, "shard %u twice: %s and %s", ix, m.s[ix].file, in[i].name);
      goto out;
    }
    seen[ix] = true;
    m.s[ix] = all[i];
    memset(&all[i], 0, sizeof all[i]); /* its histograms are m.s[ix]'s */
  }
  if (n < (size_t)count) {
    char missing[200] = "";
    size_t len = 0, k = 0;
    for (unsigned i = 0; i < (unsigned)count; i++)
      if (!seen[i] && len < sizeof missing - 16) {
        len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%u",
                                k++ ? ", " : "", i);
      }
    rc = refuse(&m, "run %s has %g shards; %zu given, missing %s%s", run_id,
                count, n, missing, len >= sizeof missing - 16 ? ", ..." : "");
    goto out;
  }
  /* The users of shard i follow shard i-1's: the run's, all of them. */
  for (size_t i = 0; i < n; i++) {
    uint64_t want = i == 0 ? 0 : m.s[i - 1].last + 1;
    if (m.s[i].first != want) {
      rc = refuse(&m,
                  "shard %zu (%s) has users %llu..%llu, but its users start "
                  "at %llu after shard %zu's: the shards were given "
                  "different --streams",
                  i, m.s[i].file, (unsigned long long)m.s[i].first,
                  (unsigned long long)m.s[i].last, (unsigned long long)want,
                  i ? i - 1 : 0);
      goto out;
    }
    if ((rc = add_hists(&m, &m.s[i])) != 0)
      goto out;
  }
  const struct cli_json *cj = coord != NULL ? coord->json : NULL;
  if (cj != NULL) {
    const char *role = cli_json_string(cj, "role");
    const char *id = cli_json_string(cj, "run_id");
    if (role == NULL || strcmp(role, "coordinator") != 0 || id == NULL) {
      rc = refuse(&m,
                  "%s is not a coordinator's result (loadgen "
                  "--coordinate)",
                  coord->name);
      goto out;
    }
    if (strcmp(id, run_id) != 0 || cli_json_num(cj, "shard_count") != count) {
      rc = refuse(&m,
                  "%s coordinated run %s of %g shards, the shards are of "
                  "run %s of %g",
                  coord->name, id, cli_json_num(cj, "shard_count"), run_id,
                  count);
      goto out;
    }
  }

  /* ---- the merged result ---- */
  double sums[NSUM] = {0}, calls[NCALL] = {0};
  double rss_b = 0, rss_p = 0, pmin = NAN, pmax = NAN;
  double t0 = NAN, t1 = NAN;
  const struct cli_json *cok = cli_json_get(cj, "ok");
  bool ok =
      cj == NULL || (cok != NULL && cok->type == CLI_JSON_BOOL && cok->boolean);
  char reason[300] = "";
  const char *creason = cj != NULL ? cli_json_string(cj, "reason") : NULL;
  if (!ok)
    snprintf(reason, sizeof reason, "%s",
             creason != NULL && creason[0] ? creason
                                           : "the coordinator failed");
  const char *last_error = "";
  for (size_t i = 0; i < n; i++) {
    const struct shard *s = &m.s[i];
    for (size_t k = 0; k < NSUM; k++)
      sums[k] += s->sums[k];
    for (size_t k = 0; k < NCALL; k++)
      calls[k] += s->calls[k];
    rss_b += isnan(s->rss_baseline) ? 0 : s->rss_baseline;
    rss_p += isnan(s->rss_plateau) ? 0 : s->rss_plateau;
    if (s->sums[S_ESTABLISHED] > 0 || s->sums[S_PEAK] > 0) {
      if (!isnan(s->per_stream_min) && !(s->per_stream_min >= pmin))
        pmin = s->per_stream_min;
      if (!isnan(s->per_stream_max) && !(s->per_stream_max <= pmax))
        pmax = s->per_stream_max;
    }
    if (!isnan(s->connect_at)) {
      if (!(s->connect_at >= t0))
        t0 = s->connect_at;
      double end = s->connect_at + (isnan(s->establish_s) ? 0 : s->establish_s);
      if (!(end <= t1))
        t1 = end;
    }
    if (!s->ok && ok) {
      ok = false;
      snprintf(reason, sizeof reason, "shard %u: %s", s->index,
               s->reason != NULL && s->reason[0] ? s->reason : "failed");
    }
    if (last_error[0] == '\0' && s->last_error != NULL)
      last_error = s->last_error;
  }
  double establish_s = isnan(t0) || isnan(t1) ? 0 : t1 - t0;

  fputs("{\n  \"run_id\": ", out);
  npc_json_string(out, run_id);
  fprintf(out, ",\n  \"shard_count\": %g,\n  \"target\": ", count);
  npc_json_string(out, cli_json_string(first, "target"));
  fputs(",\n  \"call\": ", out);
  npc_json_string(out, cli_json_string(first, "call"));
  fputs(",\n  \"method_kind\": ", out);
  npc_json_string(out, cli_json_string(first, "method_kind"));
  const struct cli_json *tls = cli_json_get(first, "tls");
  fprintf(out, ",\n  \"tls\": %s,\n",
          tls != NULL && tls->type == CLI_JSON_BOOL && tls->boolean ? "true"
                                                                    : "false");
  fprintf(out, "  \"streams_per_conn\": %g,\n",
          cli_json_num(first, "streams_per_conn"));
  for (size_t k = 0; k < NSUM; k++)
    fprintf(out, "  \"%s\": %.0f,\n", sum_keys[k], sums[k]);
  fprintf(out,
          "  \"notifications_per_stream\": {\"min\": %.0f, \"max\": %.0f},\n"
          "  \"messages_per_stream\": {\"min\": %.0f, \"max\": %.0f},\n",
          isnan(pmin) ? 0 : pmin, isnan(pmax) ? 0 : pmax,
          isnan(pmin) ? 0 : pmin, isnan(pmax) ? 0 : pmax);
  fprintf(out,
          "  \"establish_seconds\": %.3f,\n  \"establish_rate_per_s\": %.1f,\n",
          establish_s, establish_s > 0 ? sums[S_PEAK] / establish_s : 0.0);
  for (size_t i = 0; i < NHIST; i++)
    summary(out, hist_keys[i], &m.h[i], "  ", true);
  fputs("  \"calls\": {", out);
  for (size_t k = 0; k < NCALL; k++)
    fprintf(out, k >= 5 ? "%s\"%s\": %.1f" : "%s\"%s\": %.0f", k ? ", " : "",
            call_keys[k], calls[k]);
  fputs("},\n  \"publish\": ", out);
  const struct cli_json *pub = cli_json_get(cj != NULL ? cj : first, "publish");
  fprintf(out,
          "{\"requested\": %.0f, \"sent\": %.0f, \"ok\": %.0f, "
          "\"delivered_reported\": %.0f, \"delivered_to_all\": %.0f},\n",
          fmax(0, cli_json_num(pub, "requested")),
          fmax(0, cli_json_num(pub, "sent")), fmax(0, cli_json_num(pub, "ok")),
          fmax(0, cli_json_num(pub, "delivered_reported")),
          fmax(0, cli_json_num(pub, "delivered_to_all")));
  fputs("  \"errors\": {", out);
  for (size_t k = 0; k < m.nerrors; k++) {
    fputs(k ? ", " : "", out);
    npc_json_string(out, m.errors[k].name);
    fprintf(out, ": %.0f", m.errors[k].count);
  }
  /* The run's phases are the coordinator's; without one, the span of the
   * shards' own (the first start, the last end). */
  fputs("},\n  \"phases\": {", out);
  const struct cli_json *cph = cli_json_get(cj, "phases");
  bool firstmark = true;
  for (size_t k = 0; k < 8; k++) {
    double t = cph != NULL ? cli_json_num(cph, cli_lg_mark_names[k]) : NAN;
    for (size_t i = 0; cph == NULL && i < n; i++) {
      double v = m.s[i].marks[k];
      if (!isnan(v) && (isnan(t) || (k <= CLI_MARK_CONNECT ? v < t : v > t)))
        t = v;
    }
    if (isnan(t))
      continue;
    fprintf(out, "%s\"%s\": %.3f", firstmark ? "" : ", ", cli_lg_mark_names[k],
            t);
    firstmark = false;
  }
  fprintf(out,
          "},\n  \"client_rss_kib\": {\"baseline\": %.0f, \"plateau\": %.0f},\n"
          "  \"client_rss_bytes_per_stream\": %.1f,\n",
          rss_b, rss_p,
          sums[S_PEAK] > 0 && rss_p >= rss_b
              ? (rss_p - rss_b) * 1024 / sums[S_PEAK]
              : 0.0);
  const struct cli_json *snaps = cli_json_get(cj, "snapshots");
  fprintf(out,
          "  \"snapshots\": {\"fetched\": %.0f, \"failed\": %.0f},\n"
          "  \"timeline_samples\": %.0f,\n  \"histograms\": {\n",
          fmax(0, cli_json_num(snaps, "fetched")),
          fmax(0, cli_json_num(snaps, "failed")),
          fmax(0, cli_json_num(cj, "timeline_samples")));
  for (size_t i = 0; i < NHIST; i++)
    full(out, hist_keys[i], &m.h[i], i + 1 == NHIST);
  fputs("  },\n  \"shards\": [\n", out);
  for (size_t i = 0; i < n; i++)
    shard_figures(out, &m.s[i], i + 1 == n);
  fputs("  ],\n  \"last_error\": ", out);
  npc_json_string(out, last_error);
  fprintf(out, ",\n  \"ok\": %s,\n  \"reason\": ", ok ? "true" : "false");
  npc_json_string(out, reason);
  fputs("\n}\n", out);
  if (ferror(out))
    rc = CLI_EIO;

out:
  for (size_t i = 0; all != NULL && i < n; i++)
    for (size_t k = 0; k < NHIST; k++)
      hist_free(&all[i].h[k]);
  for (size_t i = 0; m.s != NULL && i < m.n; i++)
    for (size_t k = 0; k < NHIST; k++)
      hist_free(&m.s[i].h[k]);
  for (size_t k = 0; k < NHIST; k++)
    hist_free(&m.h[k]);
  free(all);
  free(m.s);
  free(seen);
  return rc;
}

static void merge_usage(FILE *f)
{
  fputs("usage: nprof merge -o OUT.json [--coordinator FILE] SHARD.json...\n"
        "The results of one run's loadgen shards (--shard-index I "
        "--shard-count N)\n"
        "as one loadgen.json: counts summed, latency histograms added bucket "
        "by\n"
        "bucket and their percentiles computed from the sum, each shard's "
        "figures\n"
        "under \"shards\". Refuses shards of different runs, a shard twice or "
        "missing,\n"
        "and histograms of different layouts. --coordinator adds the "
        "coordinator's\n"
        "phases, snapshots, broadcasts and verdict (loadgen --coordinate).\n"
        "Exit: 0 merged (the run's verdict is its \"ok\"), 1 refused, 2 "
        "usage.\n",
        f);
}

int cli_merge_main(int argc, char **argv)
{
  enum { OPT_COORDINATOR = 0x100 };
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'},
      {"coordinator", required_argument, NULL, OPT_COORDINATOR},
      {NULL, 0, NULL, 0},
  };
  struct cli_options o;
  cli_options_init(&o, "merge", "o:", longopts, merge_usage, NULL);
  const char *output = NULL, *coordinator = NULL;
  int c;
  while ((c = cli_options_next(&o, argc, argv)) != -1) {
    if (c == 'o')
      output = optarg;
    else /* OPT_COORDINATOR, the only other option */
      coordinator = optarg;
  }
  if (o.exit >= 0)
    return o.exit;
  size_t n = (size_t)(argc - optind);
  if (n == 0)
    return cli_options_error(&o, "no SHARD.json given");
  if (output == NULL || output[0] == '\0')
    return cli_options_error(&o, "-o OUT.json is required");
  if (n > MERGE_MAX_SHARDS)
    return cli_options_error(&o, "%zu inputs: at most %d shards", n,
                             MERGE_MAX_SHARDS);
  int code = CLI_EXIT_FAIL;
  char err[CLI_ERRLEN * 2];
  struct cli_merge_input *in = calloc(n, sizeof *in), co = {0};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = NULL;
  if (in == NULL) {
    fprintf(stderr, "nprof merge: out of memory\n");
    return CLI_EXIT_FAIL;
  }
  for (size_t i = 0; i < n; i++) {
    struct cli_json *j;
    in[i].name = argv[optind + (int)i];
    if (cli_json_load(in[i].name, CLI_JSON_CAP, &j, err, sizeof err) != 0) {
      fprintf(stderr, "nprof merge: %s\n", err);
      goto out;
    }
    in[i].json = j;
  }
  if (coordinator != NULL) {
    struct cli_json *j;
    co.name = coordinator;
    if (cli_json_load(coordinator, CLI_JSON_CAP, &j, err, sizeof err) != 0) {
      fprintf(stderr, "nprof merge: %s\n", err);
      goto out;
    }
    co.json = j;
  }
  if ((f = open_memstream(&buf, &len)) == NULL) {
    fprintf(stderr, "nprof merge: out of memory\n");
    goto out;
  }
  int rc =
      cli_merge(in, n, coordinator != NULL ? &co : NULL, f, err, sizeof err);
  if (fclose(f) != 0 && rc == 0)
    rc = CLI_ENOMEM;
  f = NULL;
  if (rc != 0) {
    fprintf(stderr, "nprof merge: %s\n",
            rc == CLI_EINVALID ? err : cli_strerror(rc));
    goto out;
  }
  if (cli_write_atomic(output, buf, len, err, sizeof err) != 0) {
    fprintf(stderr, "nprof merge: %s\n", err);
    goto out;
  }
  struct cli_json *res = NULL;
  if (cli_json_parse(buf, len, &res, err, sizeof err) == 0) {
    const struct cli_json *okj = cli_json_get(res, "ok");
    const char *why = cli_json_string(res, "reason");
    printf("nprof merge: %zu shards of run %s into %s: %.0f of %.0f users "
           "held; result: %s%s%s\n",
           n, cli_json_string(res, "run_id"), output,
           cli_json_num(res, "streams_established"),
           cli_json_num(res, "streams_requested"),
           okj != NULL && okj->boolean ? "OK" : "FAILED",
           why != NULL && why[0] ? ": " : "", why != NULL ? why : "");
    cli_json_free(res);
  }
  code = CLI_EXIT_OK;
out:
  if (f != NULL)
    fclose(f);
  free(buf);
  for (size_t i = 0; i < n; i++)
    cli_json_free((struct cli_json *)in[i].json);
  cli_json_free((struct cli_json *)co.json);
  free(in);
  return code;
}
