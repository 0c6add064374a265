/* What a run says about itself: clocks, RSS, the human summary and the
 * --json result that scripts and the report generator read. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t lg_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t lg_unix_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
    [LG_CAUSE_CONN_CLOSED] = "conn_closed",
    [LG_CAUSE_PROTOCOL] = "protocol",
    [LG_CAUSE_GOAWAY] = "goaway",
    [LG_CAUSE_RESET] = "reset",
    [LG_CAUSE_HTTP_STATUS] = "http_status",
    [LG_CAUSE_GRPC_STATUS] = "grpc_status",
    [LG_CAUSE_ENDED] = "ended",
    [LG_CAUSE_TIMEOUT] = "timeout",
    [LG_CAUSE_BAD_MESSAGE] = "bad_message",
};

const char *lg_cause_name(lg_cause c)
{
  return (unsigned)c < LG_CAUSE_COUNT ? cause_names[c] : "unknown";
}

static const char *const phase_names[LG_PHASE_COUNT] = {
    "start",     "baseline", "connect", "plateau",
    "published", "hold_end", "drained", "end"};

static double ms(uint64_t us)
{
  return (double)us / 1000.0;
}

static void summary_hist(FILE *f, const char *name, const lg_histogram *h)
{
  if (h->count == 0) {
    fprintf(f, "  %-9s no samples\n", name);
    return;
  }
  fprintf(f,
          "  %-9s n=%" PRIu64 "  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
          "max %.3f ms\n",
          name, h->count, ms(lg_hist_quantile(h, 0.5)),
          ms(lg_hist_quantile(h, 0.9)), ms(lg_hist_quantile(h, 0.99)),
          ms(lg_hist_quantile(h, 0.999)), ms(h->max));
}

void lg_report_summary(FILE *f, const lg_result *r)
{
  const lg_options *o = r->o;
  fprintf(f,
          "loadgen: %s, %u streams (%u per connection, %u connections, "
          "%u threads)\n",
          o->target, o->streams, o->streams_per_conn, o->conns, o->threads);
  fprintf(f,
          "  held      %" PRIu64 "/%u streams at the end of the hold "
          "(peak %" PRIu64 ", %" PRIu64 " establishments)\n",
          r->established, o->streams, r->established_peak,
          r->established_total);
  if (r->connect_seconds > 0)
    fprintf(f, "  ramp      %.2f s, %.0f streams/s\n", r->connect_seconds,
            (double)r->established_peak / r->connect_seconds);
  summary_hist(f, "connect", &r->connect);
  if (o->publish > 0) {
    fprintf(f,
            "  publish   %u/%u calls ok, server queued %" PRIu64
            "; received %" PRIu64 "/%" PRIu64 " notifications\n",
            r->publish.ok, o->publish, r->publish.delivered, r->notifications,
            r->notifications_expected);
  } else if (r->notifications > 0) {
    fprintf(f, "  received  %" PRIu64 " notifications\n", r->notifications);
  }
  summary_hist(f, "delivery", &r->delivery);
  if (o->publish > 0)
    summary_hist(f, "broadcast", &r->broadcast);
  if (r->rss_plateau_kib > 0 && r->established_peak > 0)
    fprintf(f,
            "  memory    RSS %" PRIu64 " KiB at plateau, %.0f bytes per "
            "stream over the baseline\n",
            r->rss_plateau_kib,
            (double)(r->rss_plateau_kib - r->rss_baseline_kib) * 1024.0 /
                (double)r->established_peak);
  bool any = false;
  for (int i = 0; i < LG_CAUSE_COUNT; i++)
    if (r->errors[i] > 0) {
      fprintf(f, "%s %s=%" PRIu64, any ? "," : "  errors   ",
              lg_cause_name((lg_cause)i), r->errors[i]);
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

static void json_string(FILE *f, const char *s)
{
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const lg_histogram *h)
{
  fprintf(f,
          "  \"%s\": {\"count\": %" PRIu64 ", \"p50\": %.3f, \"p90\": %.3f, "
          "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f},\n",
          name, h->count, ms(lg_hist_quantile(h, 0.5)),
          ms(lg_hist_quantile(h, 0.9)), ms(lg_hist_quantile(h, 0.99)),
          ms(lg_hist_quantile(h, 0.999)), ms(h->max));
}

void lg_report_json_write(FILE *f, const lg_result *r)
{
  const lg_options *o = r->o;
  fputs("{\n  \"target\": ", f);
  json_string(f, o->target);
  fprintf(f, ",\n  \"streams_requested\": %u,\n", o->streams);
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
  fprintf(f, "  \"notifications_received\": %" PRIu64 ",\n", r->notifications);
  fprintf(f, "  \"notifications_expected\": %" PRIu64 ",\n",
          r->notifications_expected);
  fprintf(f, "  \"notifications_per_stream\": {\"min\": %u, \"max\": %u},\n",
          r->notifications_min, r->notifications_max);
  fprintf(f, "  \"latency_clock_skew\": %" PRIu64 ",\n", r->bad_latency);
  fprintf(f, "  \"establish_seconds\": %.3f,\n", r->connect_seconds);
  fprintf(f, "  \"establish_rate_per_s\": %.1f,\n",
          r->connect_seconds > 0
              ? (double)r->established_peak / r->connect_seconds
              : 0.0);
  json_hist(f, "connect_ms", &r->connect);
  json_hist(f, "delivery_ms", &r->delivery);
  json_hist(f, "broadcast_ms", &r->broadcast);
  fprintf(f,
          "  \"publish\": {\"requested\": %u, \"sent\": %u, \"ok\": %u, "
          "\"delivered_reported\": %" PRIu64 ", \"delivered_to_all\": %u},\n",
          o->publish, r->publish.sent, r->publish.ok, r->publish.delivered,
          r->publish.awaited);
  fputs("  \"errors\": {", f);
  for (int i = 0; i < LG_CAUSE_COUNT; i++)
    fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", lg_cause_name((lg_cause)i),
            r->errors[i]);
  fputs("},\n  \"phases\": {", f);
  bool first = true;
  for (int i = 0; i < LG_PHASE_COUNT; i++) {
    if (r->phase_unix_ns[i] == 0)
      continue;
    fprintf(f, "%s\"%s\": %.3f", first ? "" : ", ", phase_names[i],
            (double)r->phase_unix_ns[i] / 1e9);
    first = false;
  }
  fprintf(f,
          "},\n  \"rss_kib\": {\"baseline\": %" PRIu64 ", \"plateau\": %" PRIu64
          "},\n",
          r->rss_baseline_kib, r->rss_plateau_kib);
  fprintf(f, "  \"rss_bytes_per_stream\": %.1f,\n",
          r->established_peak > 0 && r->rss_plateau_kib >= r->rss_baseline_kib
              ? (double)(r->rss_plateau_kib - r->rss_baseline_kib) * 1024.0 /
                    (double)r->established_peak
              : 0.0);
  fprintf(f, "  \"snapshots\": {\"fetched\": %u, \"failed\": %u},\n",
          r->snapshots_fetched, r->snapshots_failed);
  fputs("  \"last_error\": ", f);
  json_string(f, r->detail);
  fprintf(f, ",\n  \"ok\": %s,\n  \"reason\": ", r->ok ? "true" : "false");
  json_string(f, r->reason);
  fputs("\n}\n", f);
}

int lg_report_json(const char *path, const lg_result *r)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return -errno;
  lg_report_json_write(f, r);
  if (fclose(f) != 0) {
    free(buf);
    return -ENOMEM;
  }
  int rc = npc_write_atomic(path, buf, len);
  free(buf);
  return rc;
}
