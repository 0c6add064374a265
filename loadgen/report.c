/* What a run says about itself: clocks, RSS, the human summary and the
 * --json result that scripts and the report generator read. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* The loadgen counts time in unsigned nanoseconds; the clocks are
 * common/clock.c's. */
uint64_t lg_now_ns(void)
{
  return (uint64_t)npc_mono_ns();
}

uint64_t lg_unix_ns(void)
{
  return (uint64_t)npc_wall_ns();
}

bool lg_progress_due(bool quiet, bool tty, uint64_t *last_ns, uint64_t now,
                     bool final)
{
  if (quiet)
    return false;
  uint64_t every = tty ? 250000000ull : 2000000000ull;
  if (!final && now - *last_ns < every)
    return false;
  *last_ns = now;
  return true;
}

uint64_t lg_rss_kib(void)
{
  FILE *f = fopen("/proc/self/status", "re");
  if (f == NULL)
    return 0;
  char line[256];
  uint64_t kib = 0;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
      break;
  fclose(f);
  return kib;
}

static const char *const cause_names[LG_CAUSE_COUNT] = {
    [LG_CAUSE_REFUSED] = "refused",
    [LG_CAUSE_CONNECT] = "connect",
    [LG_CAUSE_CONNECT_TIMEOUT] = "connect_timeout",
    [LG_CAUSE_TLS] = "tls",
    [LG_CAUSE_CONN_CLOSED] = "conn_closed",
    [LG_CAUSE_PROTOCOL] = "protocol",
    [LG_CAUSE_GOAWAY] = "goaway",
    [LG_CAUSE_RESET] = "reset",
    [LG_CAUSE_HTTP_STATUS] = "http_status",
    [LG_CAUSE_GRPC_STATUS] = "grpc_status",
    [LG_CAUSE_ENDED] = "ended",
    [LG_CAUSE_TIMEOUT] = "timeout",
    [LG_CAUSE_BAD_MESSAGE] = "bad_message",
    [LG_CAUSE_DEADLINE] = "deadline",
};

const char *lg_cause_name(lg_cause c)
{
  return (unsigned)c < LG_CAUSE_COUNT ? cause_names[c] : "unknown";
}

static const char *const phase_names[LG_PHASE_COUNT] = {
    "start",     "baseline", "connect", "plateau",
    "published", "hold_end", "drained", "end"};

const char *lg_phase_name(int phase)
{
  return phase >= 0 && phase < LG_PHASE_COUNT ? phase_names[phase] : "unknown";
}

void lg_report_phases(FILE *f, const lg_result *r)
{
  fputs("  \"phases\": {", f);
  bool first = true;
  for (int i = 0; i < LG_PHASE_COUNT; i++) {
    if (r->phase_unix_ns[i] == 0)
      continue;
    fprintf(f, "%s\"%s\": %.3f", first ? "" : ", ", phase_names[i],
            (double)r->phase_unix_ns[i] / 1e9);
    first = false;
  }
  fputc('}', f);
}

static double ms(uint64_t us)
{
  return (double)us / 1000.0;
}

static bool unary(const lg_result *r)
{
  return lg_options_unary(r->o);
}

/* The percentiles every output of a histogram shows, in ms: one list, so
 * the summary and the JSON cannot report different ones. */
typedef struct {
  double p50, p90, p99, p999, max;
} percentiles;

static percentiles percentiles_of(const lg_histogram *h)
{
  return (percentiles){ms(lg_hist_quantile(h, 0.5)),
                       ms(lg_hist_quantile(h, 0.9)),
                       ms(lg_hist_quantile(h, 0.99)),
                       ms(lg_hist_quantile(h, 0.999)), ms(h->max)};
}

static void summary_hist(FILE *f, const char *name, const lg_histogram *h)
{
  if (h->count == 0) {
    fprintf(f, "  %-9s no samples\n", name);
    return;
  }
  percentiles p = percentiles_of(h);
  fprintf(f,
          "  %-9s n=%" PRIu64 "  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
          "max %.3f ms\n",
          name, h->count, p.p50, p.p90, p.p99, p.p999, p.max);
}

/* The loadgen's own memory per user: the client's, never the service's. */
static double client_bytes_per_stream(const lg_result *r)
{
  return r->established_peak > 0 && r->rss_plateau_kib >= r->rss_baseline_kib
             ? (double)(r->rss_plateau_kib - r->rss_baseline_kib) * 1024.0 /
                   (double)r->established_peak
             : 0.0;
}

void lg_report_summary(FILE *f, const lg_result *r)
{
  const lg_options *o = r->o;
  const char *call = o->spec != NULL ? o->spec->path + 1 : LG_NOTIFIER_CALL;
  fprintf(f,
          "loadgen: %s %s%s, %u users (%u per connection, %u connections, "
          "%u threads)\n",
          o->target, call, o->tls ? " over TLS" : "", o->streams,
          o->streams_per_conn, o->conns, o->threads);
  if (o->run_id != NULL)
    fprintf(f, "  shard     %u of %u (run %s): users %u..%u of %u\n",
            o->shard_index, o->shard_count, o->run_id, o->user_first,
            o->user_first + o->streams - 1, o->streams_total);
  fprintf(f,
          "  held      %" PRIu64 "/%u %s at the end (peak %" PRIu64 ", %" PRIu64
          " establishments)\n",
          r->established, o->streams, unary(r) ? "users" : "streams",
          r->established_peak, r->established_total);
  if (r->connect_seconds > 0)
    fprintf(f, "  ramp      %.2f s, %.0f users/s\n", r->connect_seconds,
            (double)r->established_peak / r->connect_seconds);
  summary_hist(f, "connect", &r->connect);
  if (unary(r)) {
    fprintf(
        f,
        "  calls     %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64
        " sent of %" PRIu64 " due (%.0f/s asked, %.1f/s ok)\n",
        r->calls_ok, r->calls_failed, r->calls_sent, r->calls_scheduled, o->rps,
        r->calls_seconds > 0 ? (double)r->calls_ok / r->calls_seconds : 0.0);
    summary_hist(f, "call", &r->call);
  } else if (o->publish > 0 && o->run_id != NULL) {
    fprintf(f,
            "  publish   %u broadcasts, the coordinator's; received %" PRIu64
            "/%" PRIu64 " notifications\n",
            o->publish, r->messages, r->notifications_expected);
  } else if (o->publish > 0) {
    fprintf(f,
            "  publish   %u/%u calls ok, server queued %" PRIu64
            "; received %" PRIu64 "/%" PRIu64 " notifications\n",
            r->publish.ok, o->publish, r->publish.delivered, r->messages,
            r->notifications_expected);
  } else if (r->messages > 0) {
    fprintf(f, "  received  %" PRIu64 " messages, %" PRIu64 " bytes\n",
            r->messages, r->bytes);
  }
  if (!unary(r))
    summary_hist(f, "delivery", &r->delivery);
  if (o->publish > 0)
    summary_hist(f, "broadcast", &r->broadcast);
  if (r->rss_plateau_kib > 0 && r->established_peak > 0)
    fprintf(f,
            "  client    loadgen RSS %" PRIu64 " KiB at plateau, %.0f bytes "
            "per user over its baseline (the client's memory)\n",
            r->rss_plateau_kib, client_bytes_per_stream(r));
  bool any = false;
  for (int i = 0; i < LG_CAUSE_COUNT; i++)
    if (r->errors[i] > 0 && i != LG_CAUSE_GRPC_STATUS) {
      fprintf(f, "%s %s=%" PRIu64, any ? "," : "  errors   ",
              lg_cause_name((lg_cause)i), r->errors[i]);
      any = true;
    }
  for (int i = 1; i <= LG_GRPC_CODES; i++)
    if (r->grpc_codes[i] > 0) {
      fprintf(f, "%s %s=%" PRIu64, any ? "," : "  errors   ",
              lg_grpc_status_name(i), r->grpc_codes[i]);
      any = true;
    }
  if (any)
    fputc('\n', f);
  if (r->detail[0] != '\0')
    fprintf(f, "  last error: %s\n", r->detail);
  if (o->snapshot_url != NULL)
    fprintf(f, "  snapshots %u files in %s, %u failed\n", r->snapshots_fetched,
            o->snapshot_dir, r->snapshots_failed);
  fprintf(f, "result: %s%s%s\n", r->ok ? "OK" : "FAILED",
          r->reason[0] ? ": " : "", r->reason);
}

static void json_hist(FILE *f, const char *name, const lg_histogram *h)
{
  percentiles p = percentiles_of(h);
  fprintf(f,
          "  \"%s\": {\"count\": %" PRIu64 ", \"p50\": %.3f, \"p90\": %.3f, "
          "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f},\n",
          name, h->count, p.p50, p.p90, p.p99, p.p999, p.max);
}

/* A histogram in full, for exact merging (contracts: "histograms"): the
 * layout that identifies the buckets, then the non-zero buckets. */
static void json_hist_full(FILE *f, const char *name, const lg_histogram *h,
                           bool last)
{
  fprintf(f,
          "    \"%s\": {\"layout\": {\"name\": \"%s\", \"sub_bucket_bits\": "
          "%u, \"max_exponent\": %u, \"buckets\": %u, \"unit\": \"us\"}, "
          "\"count\": %" PRIu64 ", \"min\": %" PRIu64 ", \"max\": %" PRIu64
          ", \"sum\": %" PRIu64 ", \"buckets\": [",
          name, LG_HIST_LAYOUT, LG_HIST_SUB_BITS, LG_HIST_MAX_EXP,
          LG_HIST_BUCKETS, h->count, h->count ? h->min : 0, h->max, h->sum);
  bool first = true;
  for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
    if (h->counts[i] != 0) {
      fprintf(f, "%s[%u, %u]", first ? "" : ", ", i, h->counts[i]);
      first = false;
    }
  fprintf(f, "]}%s\n", last ? "" : ",");
}

void lg_report_json_write(FILE *f, const lg_result *r)
{
  const lg_options *o = r->o;
  fputs("{\n", f);
  if (o->run_id != NULL) {
    /* Which part of which run this is, for nprof merge. */
    fputs("  \"run_id\": ", f);
    npc_json_string(f, o->run_id);
    fprintf(f,
            ",\n  \"shard\": {\"index\": %u, \"count\": %u, \"users\": "
            "[%u, %u]},\n",
            o->shard_index, o->shard_count, o->user_first,
            o->user_first + o->streams - 1);
  }
  fputs("  \"target\": ", f);
  npc_json_string(f, o->target);
  fputs(",\n  \"call\": ", f);
  npc_json_string(f, o->spec != NULL ? o->spec->path + 1 : LG_NOTIFIER_CALL);
  fprintf(f, ",\n  \"method_kind\": \"%s\",\n",
          unary(r) ? "unary" : "server_streaming");
  fprintf(f, "  \"tls\": %s,\n", o->tls ? "true" : "false");
  fprintf(f, "  \"streams_requested\": %u,\n", o->streams);
  fprintf(f, "  \"streams_per_conn\": %u,\n", o->streams_per_conn);
  fprintf(f, "  \"connections\": %u,\n", o->conns);
  fprintf(f, "  \"threads\": %u,\n", o->threads);
  fprintf(f, "  \"streams_established\": %" PRIu64 ",\n", r->established);
  fprintf(f, "  \"streams_failed\": %" PRIu64 ",\n",
          o->streams > r->established ? o->streams - r->established : 0);
  fprintf(f, "  \"streams_established_peak\": %" PRIu64 ",\n",
          r->established_peak);
  fprintf(f, "  \"establishments\": %" PRIu64 ",\n", r->established_total);
  fprintf(f, "  \"failure_events\": %" PRIu64 ",\n", r->failures);
  fprintf(f, "  \"messages_received\": %" PRIu64 ",\n", r->messages);
  fprintf(f, "  \"bytes_received\": %" PRIu64 ",\n", r->bytes);
  fprintf(f, "  \"notifications_received\": %" PRIu64 ",\n", r->messages);
  fprintf(f, "  \"notifications_expected\": %" PRIu64 ",\n",
          r->notifications_expected);
  fprintf(f, "  \"notifications_per_stream\": {\"min\": %u, \"max\": %u},\n",
          r->messages_min, r->messages_max);
  fprintf(f, "  \"messages_per_stream\": {\"min\": %u, \"max\": %u},\n",
          r->messages_min, r->messages_max);
  fprintf(f, "  \"latency_clock_skew\": %" PRIu64 ",\n", r->bad_latency);
  fprintf(f, "  \"establish_seconds\": %.3f,\n", r->connect_seconds);
  fprintf(f, "  \"establish_rate_per_s\": %.1f,\n",
          r->connect_seconds > 0
              ? (double)r->established_peak / r->connect_seconds
              : 0.0);
  json_hist(f, "connect_ms", &r->connect);
  json_hist(f, "delivery_ms", &r->delivery);
  json_hist(f, "broadcast_ms", &r->broadcast);
  json_hist(f, "call_ms", &r->call);
  fprintf(f,
          "  \"calls\": {\"scheduled\": %" PRIu64 ", \"sent\": %" PRIu64
          ", \"ok\": %" PRIu64 ", \"failed\": %" PRIu64
          ", \"not_sent\": %" PRIu64 ", \"rps\": %g, \"ok_per_s\": %.1f},\n",
          r->calls_scheduled, r->calls_sent, r->calls_ok, r->calls_failed,
          r->calls_scheduled > r->calls_sent
              ? r->calls_scheduled - r->calls_sent
              : 0,
          o->rps,
          r->calls_seconds > 0 ? (double)r->calls_ok / r->calls_seconds : 0.0);
  fprintf(f,
          "  \"publish\": {\"requested\": %u, \"sent\": %u, \"ok\": %u, "
          "\"delivered_reported\": %" PRIu64 ", \"delivered_to_all\": %u},\n",
          o->publish, r->publish.sent, r->publish.ok, r->publish.delivered,
          r->publish.awaited);
  /* Causes, then each grpc-status seen by name (grpc_status counts them
   * all). */
  fputs("  \"errors\": {", f);
  for (int i = 0; i < LG_CAUSE_COUNT; i++)
    fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", lg_cause_name((lg_cause)i),
            r->errors[i]);
  for (int i = 1; i <= LG_GRPC_CODES; i++)
    if (r->grpc_codes[i] > 0)
      fprintf(f, ", \"%s\": %" PRIu64, lg_grpc_status_name(i),
              r->grpc_codes[i]);
  fputs("},\n", f);
  lg_report_phases(f, r);
  fprintf(f,
          ",\n  \"client_rss_kib\": {\"baseline\": %" PRIu64
          ", \"plateau\": %" PRIu64 "},\n",
          r->rss_baseline_kib, r->rss_plateau_kib);
  fprintf(f, "  \"client_rss_bytes_per_stream\": %.1f,\n",
          client_bytes_per_stream(r));
  fprintf(f, "  \"snapshots\": {\"fetched\": %u, \"failed\": %u},\n",
          r->snapshots_fetched, r->snapshots_failed);
  fprintf(f, "  \"timeline_samples\": %u,\n", r->timeline_samples);
  fputs("  \"histograms\": {\n", f);
  json_hist_full(f, "connect_ms", &r->connect, false);
  json_hist_full(f, "delivery_ms", &r->delivery, false);
  json_hist_full(f, "broadcast_ms", &r->broadcast, false);
  json_hist_full(f, "call_ms", &r->call, true);
  fputs("  },\n  \"last_error\": ", f);
  npc_json_string(f, r->detail);
  fprintf(f, ",\n  \"ok\": %s,\n  \"reason\": ", r->ok ? "true" : "false");
  npc_json_string(f, r->reason);
  fputs("\n}\n", f);
}

static void render_result(FILE *f, const void *r)
{
  lg_report_json_write(f, r);
}

int lg_report_json(const char *path, const lg_result *r)
{
  return npc_write_atomic_rendered(path, render_result, r);
}
