/*
 * The loadgen's result (loadgen.json) as figures for people: how many
 * streams were asked for and held, how fast they came, what was received,
 * the errors that happened, the client's own memory, and the latency
 * distributions.
 *
 * Latency comes two ways: a summary per distribution ({"count", "p50",
 * "p90", "p99", "p999", "max"} in milliseconds, "connect_ms" and friends)
 * and, from newer loadgens, the full histogram under "histograms", kept
 * for exact merging:
 *   {"layout": {"name", "sub_bucket_bits": b, "unit": "us"}, "count",
 *    "min", "max", "sum", "buckets": [[index, count], ...]}
 * The layout is loadgen/histogram.c's log-linear one: values below 2^b
 * are exact; above, each power of two [2^e, 2^(e+1)) is split into
 * 2^(b-1) equal buckets. A layout without sub_bucket_bits, or in another
 * unit, is not guessed at: the summary stands alone and `problem` says
 * why there is no chart. Bucket indices and counts come from outside:
 * indices past 2^63 of value are refused, at most HIST_MAX_BUCKETS are
 * read, and when the summary lacks percentiles they are computed from the
 * buckets as the loadgen does (the highest value of the bucket holding
 * the rank, clipped to the maximum).
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define HIST_MAX_BUCKETS 65536

const char *const cli_lg_mark_names[8] = {"start",   "baseline",  "connect",
                                          "plateau", "published", "hold_end",
                                          "drained", "end"};

static const struct {
  const char *key, *title;
} lat_names[CLI_NLAT] = {
    [CLI_LAT_CONNECT] = {"connect_ms", "connect"},
    [CLI_LAT_DELIVERY] = {"delivery_ms", "delivery"},
    [CLI_LAT_BROADCAST] = {"broadcast_ms", "broadcast"},
    [CLI_LAT_CALL] = {"call_ms", "unary call"},
};

int cli_hist_bucket_range(unsigned sub_bits, uint64_t index, double *lo,
                          double *hi)
{
  if (sub_bits < 1 || sub_bits > 32)
    return CLI_EINVALID;
  uint64_t sub = (uint64_t)1 << sub_bits, half = sub / 2;
  if (index < sub) {
    *lo = (double)index;
    *hi = (double)index + 1;
    return 0;
  }
  uint64_t e = (index - sub) / half + 1;
  uint64_t s = (index - sub) % half + half;
  if (e + sub_bits > 63)
    return CLI_EINVALID;
  *lo = ldexp((double)s, (int)e);
  *hi = ldexp((double)(s + 1), (int)e);
  return 0;
}

static int cmp_bins(const void *a, const void *b)
{
  const struct cli_hist_bin *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The value at quantile q of the bins (ms): the top of the bin holding
 * the q-th value, clipped to max. */
static double quantile(const struct cli_latency *l, double total, double q)
{
  double rank = ceil(q * total), seen = 0;
  if (rank < 1)
    rank = 1;
  for (size_t i = 0; i < l->nbins; i++) {
    seen += l->bins[i].count;
    if (seen >= rank) {
      double v = l->bins[i].hi;
      return !isnan(l->max) && v > l->max ? l->max : v;
    }
  }
  return l->max;
}

/* The histogram of `h` into l->bins. Returns 0 or CLI_ENOMEM; a layout or
 * bucket it cannot read sets l->problem and leaves no bins. */
static int read_hist(const struct cli_json *h, struct cli_latency *l)
{
  const struct cli_json *layout = cli_json_get(h, "layout");
  const struct cli_json *buckets = cli_json_get(h, "buckets");
  const char *unit = cli_json_string(layout, "unit");
  double bits = cli_json_num(layout, "sub_bucket_bits");

  if (buckets == NULL || buckets->type != CLI_JSON_ARRAY) {
    l->problem = "its histogram has no buckets";
    return 0;
  }
  if (isnan(bits) || bits < 1 || bits > 32 || bits != floor(bits)) {
    l->problem = "its histogram's layout has no sub_bucket_bits this "
                 "reader knows";
    return 0;
  }
  double scale; /* to milliseconds */
  if (unit != NULL && strcmp(unit, "us") == 0)
    scale = 1e-3;
  else if (unit != NULL && strcmp(unit, "ms") == 0)
    scale = 1;
  else if (unit != NULL && strcmp(unit, "ns") == 0)
    scale = 1e-6;
  else {
    l->problem = "its histogram's unit is not us, ms or ns";
    return 0;
  }
  if (buckets->count > HIST_MAX_BUCKETS) {
    l->problem = "its histogram has more buckets than this reader takes";
    return 0;
  }
  struct cli_hist_bin *bins = calloc(buckets->count + 1, sizeof(*bins));
  if (bins == NULL)
    return CLI_ENOMEM;
  size_t n = 0;
  double total = 0;
  for (const struct cli_json *b = buckets->child; b != NULL; b = b->next) {
    const struct cli_json *ix = b->type == CLI_JSON_ARRAY ? b->child : NULL;
    const struct cli_json *ct = ix != NULL ? ix->next : NULL;
    double lo, hi;
    if (ct == NULL || ix->type != CLI_JSON_NUMBER ||
        ct->type != CLI_JSON_NUMBER || !(ix->number >= 0) ||
        ix->number > 9e15 || ix->number != floor(ix->number) ||
        !(ct->number >= 0) || !isfinite(ct->number) ||
        cli_hist_bucket_range((unsigned)bits, (uint64_t)ix->number, &lo, &hi) !=
            0) {
      free(bins);
      l->problem = "its histogram has a bucket that is not [index, count]";
      return 0;
    }
    if (ct->number == 0)
      continue;
    bins[n++] = (struct cli_hist_bin){
        .lo = lo * scale, .hi = hi * scale, .count = ct->number};
    total += ct->number;
  }
  if (n == 0) {
    free(bins);
    return 0;
  }
  qsort(bins, n, sizeof(*bins), cmp_bins);
  size_t m = 0; /* an index listed twice is one bucket */
  for (size_t i = 0; i < n; i++) {
    if (m > 0 && bins[m - 1].lo == bins[i].lo)
      bins[m - 1].count += bins[i].count;
    else
      bins[m++] = bins[i];
  }
  n = m;
  l->bins = bins;
  l->nbins = n;
  double max = cli_json_num(h, "max");
  if (isnan(l->max) && !isnan(max))
    l->max = max * scale;
  if (isnan(l->count))
    l->count = total;
  struct {
    double *v, q;
  } qs[] = {{&l->p50, 0.5}, {&l->p90, 0.9}, {&l->p99, 0.99}, {&l->p999, 0.999}};
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
    if (isnan(*qs[i].v))
      *qs[i].v = quantile(l, total, qs[i].q);
  }
  if (isnan(l->max))
    l->max = bins[n - 1].hi;
  return 0;
}

int cli_loadgen_read(const struct cli_json *lg, struct cli_loadgen *out)
{
  assert(out != NULL);
  memset(out, 0, sizeof(*out));
  for (int i = 0; i < CLI_NLAT; i++) {
    struct cli_latency *l = &out->latency[i];
    l->key = lat_names[i].key;
    l->title = lat_names[i].title;
    l->count = l->p50 = l->p90 = l->p99 = l->p999 = l->max = NAN;
  }
  double *figs[] = {&out->requested,
                    &out->established,
                    &out->peak,
                    &out->failed,
                    &out->establishments,
                    &out->establish_s,
                    &out->establish_rate,
                    &out->messages,
                    &out->bytes,
                    &out->notifications_expected,
                    &out->calls_sent,
                    &out->calls_ok,
                    &out->calls_failed,
                    &out->client_rss_baseline,
                    &out->client_rss_plateau,
                    &out->client_bytes_per_stream};
  for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++)
    *figs[i] = NAN;
  for (size_t i = 0; i < 8; i++)
    out->marks[i] = NAN;
  if (lg == NULL || lg->type != CLI_JSON_OBJECT)
    return 0;
  out->present = true;

  const struct cli_json *ok = cli_json_get(lg, "ok");
  if (ok != NULL && ok->type == CLI_JSON_BOOL) {
    out->ok_known = true;
    out->ok = ok->boolean;
  }
  out->reason = cli_json_string(lg, "reason");
  out->requested = cli_json_num(lg, "streams_requested");
  out->established = cli_json_num(lg, "streams_established");
  out->peak = cli_json_num(lg, "streams_established_peak");
  out->failed = cli_json_num(lg, "streams_failed");
  out->establishments = cli_json_num(lg, "establishments");
  out->establish_s = cli_json_num(lg, "establish_seconds");
  out->establish_rate = cli_json_num(lg, "establish_rate_per_s");
  out->messages = cli_json_num(lg, "messages_received");
  if (isnan(out->messages))
    out->messages = cli_json_num(lg, "notifications_received");
  out->bytes = cli_json_num(lg, "bytes_received");
  out->notifications_expected = cli_json_num(lg, "notifications_expected");
  const struct cli_json *calls = cli_json_get(lg, "calls");
  out->calls_sent = cli_json_num(calls, "sent");
  out->calls_ok = cli_json_num(calls, "ok");
  out->calls_failed = cli_json_num(calls, "failed");

  /* The client's memory: client_rss_kib now, rss_kib before the rename. */
  const struct cli_json *rss = cli_json_get(lg, "client_rss_kib");
  if (rss == NULL)
    rss = cli_json_get(lg, "rss_kib");
  out->client_rss_baseline = cli_json_num(rss, "baseline") * 1024;
  out->client_rss_plateau = cli_json_num(rss, "plateau") * 1024;
  out->client_bytes_per_stream =
      cli_json_num(lg, "client_rss_bytes_per_stream");
  if (isnan(out->client_bytes_per_stream))
    out->client_bytes_per_stream = cli_json_num(lg, "rss_bytes_per_stream");

  const struct cli_json *errs = cli_json_get(lg, "errors");
  for (const struct cli_json *e = errs != NULL ? errs->child : NULL;
       e != NULL && out->nerrors < CLI_LG_MAX_ERRORS; e = e->next) {
    if (e->key != NULL && e->type == CLI_JSON_NUMBER && e->number > 0 &&
        isfinite(e->number)) {
      out->errors[out->nerrors].name = e->key;
      out->errors[out->nerrors].count = e->number;
      out->nerrors++;
    }
  }
  const struct cli_json *phases = cli_json_get(lg, "phases");
  for (size_t i = 0; i < 8; i++)
    out->marks[i] = cli_json_num(phases, cli_lg_mark_names[i]);

  const struct cli_json *hists = cli_json_get(lg, "histograms");
  for (int i = 0; i < CLI_NLAT; i++) {
    struct cli_latency *l = &out->latency[i];
    const struct cli_json *sum = cli_json_get(lg, l->key);
    l->count = cli_json_num(sum, "count");
    l->p50 = cli_json_num(sum, "p50");
    l->p90 = cli_json_num(sum, "p90");
    l->p99 = cli_json_num(sum, "p99");
    l->p999 = cli_json_num(sum, "p999");
    l->max = cli_json_num(sum, "max");
    const struct cli_json *h = cli_json_get(hists, l->key);
    if (h != NULL) {
      int rc = read_hist(h, l);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

void cli_loadgen_free(struct cli_loadgen *l)
{
  if (l == NULL)
    return;
  for (int i = 0; i < CLI_NLAT; i++) {
    free(l->latency[i].bins);
    l->latency[i].bins = NULL;
    l->latency[i].nbins = 0;
  }
}
