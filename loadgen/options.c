/* Command-line flags and the connection plan derived from them. Every
 * mistake is caught here, before a single connection is opened: a run that
 * cannot fit the open-file limit says so and what to change, instead of
 * failing halfway through the ramp. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
  if (s == NULL || *s == '\0' || *s == '-')
    return LG_EINVAL;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return LG_EINVAL;
  *out = (uint32_t)v;
  return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return LG_EINVAL;
}

void lg_options_usage(FILE *f)
{
  fputs(
      "usage: loadgen --target HOST:PORT [options]\n"
      "Holds N gRPC streams (notifier.Notifier/Connect) open and measures "
      "them.\n"
      "  --target HOST:PORT      gRPC server (default 127.0.0.1:50051)\n"
      "  --streams N             users, one stream each (default 1000)\n"
      "  --streams-per-conn K    streams per HTTP/2 connection (default 1)\n"
      "  --rate R                new streams per second, 0 = unlimited "
      "(default 0)\n"
      "  --hold DURATION         keep all users connected this long (default "
      "10s)\n"
      "  --publish M             broadcasts to send once all are connected, "
      "one\n"
      "                          at a time, each once the last was delivered\n"
      "  --payload-size BYTES    broadcast payload size (default 16; 16 or "
      "more\n"
      "                          carry the tag that broadcast_ms needs)\n"
      "  --reconnect             retry failed streams with backoff\n"
      "  --threads T             event loops (default: one per core)\n"
      "  --source-addrs A        spread over 127.0.0.1..A (default: as "
      "needed)\n"
      "  --max-pending P         connects in flight per thread (default 512)\n"
      "  --max-message BYTES     largest message accepted (default 4194304)\n"
      "  --connect-timeout D     per TCP connect (default 5s)\n"
      "  --ramp-timeout D        connect phase budget beyond N/R (default "
      "30s)\n"
      "  --publish-timeout D     wait for broadcast delivery (default 30s)\n"
      "  --drain-timeout D       close everything (default 10s)\n"
      "  --settle D              pause before plateau/drained snapshots "
      "(default 1s)\n"
      "  --snapshot-url URL      profiler base URL, e.g. "
      "http://127.0.0.1:8086\n"
      "  --snapshot-dir DIR      where snapshots go (with --snapshot-url)\n"
      "  --json FILE             machine-readable result\n"
      "  --user-prefix S         user ids are S0, S1, ... (default user-)\n"
      "  --quiet                 no progress lines\n"
      "Durations: 250us, 500ms, 4s, 2m, 1h. Exit: 0 goal met, 1 not met, 2 "
      "usage.\n",
      f);
}

static int split_target(lg_options *o, char *err, size_t errlen)
{
  const char *t = o->target;
  const char *colon = strrchr(t, ':');
  if (colon == NULL || colon == t || colon[1] == '\0')
    return fail(err, errlen, "--target %s: expected HOST:PORT", t);
  const char *h = t;
  size_t hlen = (size_t)(colon - t);
  if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  uint32_t port;
  if (parse_u32(colon + 1, 1, 65535, &port) != 0)
    return fail(err, errlen, "--target %s: bad port", t);
  if (hlen == 0 || hlen >= sizeof o->host)
    return fail(err, errlen, "--target %s: bad host", t);
  memcpy(o->host, h, hlen);
  o->host[hlen] = '\0';
  snprintf(o->port, sizeof o->port, "%u", port);
  snprintf(o->authority, sizeof o->authority, "%s", t);
  return 0;
}

int lg_options_parse(lg_options *o, int argc, char **argv, char *err,
                     size_t errlen)
{
  memset(o, 0, sizeof *o);
  o->target = "127.0.0.1:50051";
  o->streams = 1000;
  o->streams_per_conn = 1;
  o->hold_ns = 10000000000ull;
  o->ramp_timeout_ns = 30000000000ull;
  o->connect_timeout_ns = 5000000000ull;
  o->publish_timeout_ns = 30000000000ull;
  o->drain_timeout_ns = 10000000000ull;
  o->settle_ns = 1000000000ull;
  o->payload_size = 16;
  o->max_message = 4u << 20;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  o->threads = ncpu > 0 ? (uint32_t)ncpu : 1;
  o->max_pending = 512;
  o->user_prefix = "user-";

  enum {
    O_TARGET = 256,
    O_STREAMS,
    O_PER_CONN,
    O_RATE,
    O_HOLD,
    O_PUBLISH,
    O_PAYLOAD,
    O_RECONNECT,
    O_THREADS,
    O_SRC,
    O_PENDING,
    O_MAXMSG,
    O_CTIMEOUT,
    O_RTIMEOUT,
    O_PTIMEOUT,
    O_DTIMEOUT,
    O_SETTLE,
    O_SURL,
    O_SDIR,
    O_JSON,
    O_PREFIX,
    O_QUIET,
    O_HELP,
    O_VERSION
  };
  static const struct option longopts[] = {
      {"target", required_argument, NULL, O_TARGET},
      {"streams", required_argument, NULL, O_STREAMS},
      {"streams-per-conn", required_argument, NULL, O_PER_CONN},
      {"rate", required_argument, NULL, O_RATE},
      {"hold", required_argument, NULL, O_HOLD},
      {"publish", required_argument, NULL, O_PUBLISH},
      {"payload-size", required_argument, NULL, O_PAYLOAD},
      {"reconnect", no_argument, NULL, O_RECONNECT},
      {"threads", required_argument, NULL, O_THREADS},
      {"source-addrs", required_argument, NULL, O_SRC},
      {"max-pending", required_argument, NULL, O_PENDING},
      {"max-message", required_argument, NULL, O_MAXMSG},
      {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
      {"ramp-timeout", required_argument, NULL, O_RTIMEOUT},
      {"publish-timeout", required_argument, NULL, O_PTIMEOUT},
      {"drain-timeout", required_argument, NULL, O_DTIMEOUT},
      {"settle", required_argument, NULL, O_SETTLE},
      {"snapshot-url", required_argument, NULL, O_SURL},
      {"snapshot-dir", required_argument, NULL, O_SDIR},
      {"json", required_argument, NULL, O_JSON},
      {"user-prefix", required_argument, NULL, O_PREFIX},
      {"quiet", no_argument, NULL, O_QUIET},
      {"help", no_argument, NULL, O_HELP},
      {"version", no_argument, NULL, O_VERSION},
      {NULL, 0, NULL, 0}};

  optind = 0; /* reset getopt: tests parse several argument vectors */
  opterr = 0;
  int c, idx = 0;
  while ((c = getopt_long(argc, argv, ":h", longopts, &idx)) != -1) {
    const char *a = optarg;
    uint64_t *dur = NULL;
    switch (c) {
    case O_TARGET:
      o->target = a;
      break;
    case O_STREAMS:
      if (parse_u32(a, 1, 10000000, &o->streams) != 0)
        return fail(err, errlen, "--streams %s: expected 1..10000000", a);
      break;
    case O_PER_CONN:
      if (parse_u32(a, 1, 100000, &o->streams_per_conn) != 0)
        return fail(err, errlen, "--streams-per-conn %s: expected 1..100000",
                    a);
      break;
    case O_RATE: {
      char *end;
      errno = 0;
      o->rate = strtod(a, &end);
      if (errno != 0 || end == a || *end != '\0' || !(o->rate >= 0) ||
          o->rate > 1e9)
        return fail(err, errlen, "--rate %s: expected a number >= 0", a);
      break;
    }
    case O_HOLD:
      dur = &o->hold_ns;
      break;
    case O_PUBLISH:
      if (parse_u32(a, 0, 1000000, &o->publish) != 0)
        return fail(err, errlen, "--publish %s: expected 0..1000000", a);
      break;
    case O_PAYLOAD:
      if (parse_u32(a, 0, 1u << 20, &o->payload_size) != 0)
        return fail(err, errlen, "--payload-size %s: expected 0..1048576", a);
      break;
    case O_RECONNECT:
      o->reconnect = true;
      break;
    case O_THREADS:
      if (parse_u32(a, 1, 256, &o->threads) != 0)
        return fail(err, errlen, "--threads %s: expected 1..256", a);
      break;
    case O_SRC:
      if (parse_u32(a, 1, 254, &o->source_addrs) != 0)
        return fail(err, errlen, "--source-addrs %s: expected 1..254", a);
      break;
    case O_PENDING:
      if (parse_u32(a, 1, 1000000, &o->max_pending) != 0)
        return fail(err, errlen, "--max-pending %s: expected 1..1000000", a);
      break;
    case O_MAXMSG:
      if (parse_u32(a, 16, 1u << 30, &o->max_message) != 0)
        return fail(err, errlen, "--max-message %s: expected 16..1073741824",
                    a);
      break;
    case O_CTIMEOUT:
      dur = &o->connect_timeout_ns;
      break;
    case O_RTIMEOUT:
      dur = &o->ramp_timeout_ns;
      break;
    case O_PTIMEOUT:
      dur = &o->publish_timeout_ns;
      break;
    case O_DTIMEOUT:
      dur = &o->drain_timeout_ns;
      break;
    case O_SETTLE:
      dur = &o->settle_ns;
      break;
    case O_SURL:
      o->snapshot_url = a;
      break;
    case O_SDIR:
      o->snapshot_dir = a;
      break;
    case O_JSON:
      o->json_path = a;
      break;
    case O_PREFIX:
      o->user_prefix = a;
      break;
    case O_QUIET:
      o->quiet = true;
      break;
    case 'h':
    case O_HELP:
      lg_options_usage(stdout);
      return 1;
    case O_VERSION:
      printf("loadgen %s\n", LG_VERSION);
      return 1;
    case ':':
      return fail(err, errlen, "%s needs a value", argv[optind - 1]);
    default:
      return fail(err, errlen, "unknown option %s", argv[optind - 1]);
    }
    int64_t ns;
    if (dur != NULL && npc_duration_parse(a, &ns) != 0)
      return fail(err, errlen, "--%s %s: not a duration: %s",
                  longopts[idx].name, a, NPC_DURATION_HELP);
    if (dur != NULL)
      *dur = (uint64_t)ns;
  }
  if (optind < argc)
    return fail(err, errlen, "unexpected argument %s", argv[optind]);
  if ((o->snapshot_url == NULL) != (o->snapshot_dir == NULL))
    return fail(err, errlen, "--snapshot-url and --snapshot-dir go together");
  if (o->snapshot_url != NULL && strncmp(o->snapshot_url, "http://", 7) != 0)
    return fail(err, errlen, "--snapshot-url %s: expected http://HOST:PORT",
                o->snapshot_url);
  if (o->connect_timeout_ns == 0 || o->drain_timeout_ns == 0)
    return fail(err, errlen, "timeouts must be positive");
  if (strlen(o->user_prefix) > 200)
    return fail(err, errlen, "--user-prefix: at most 200 bytes");
  int rc = split_target(o, err, errlen);
  if (rc != 0)
    return rc;
  o->conns = (uint32_t)(((uint64_t)o->streams + o->streams_per_conn - 1) /
                        o->streams_per_conn);
  if (o->threads > o->conns)
    o->threads = o->conns;
  return 0;
}

uint32_t lg_plan_source_addrs(uint32_t conns, uint32_t ports_per_addr)
{
  if (ports_per_addr == 0)
    return 1;
  uint32_t n =
      (uint32_t)(((uint64_t)conns + ports_per_addr - 1) / ports_per_addr);
  return n == 0 ? 1 : n;
}

int lg_plan_check_files(uint32_t streams, uint32_t per_conn, uint64_t nofile,
                        char *err, size_t errlen)
{
  uint64_t conns = ((uint64_t)streams + per_conn - 1) / per_conn;
  if (conns + LG_FD_RESERVE <= nofile)
    return 0;
  if (nofile <= LG_FD_RESERVE)
    return fail(err, errlen,
                "the open-file limit is %" PRIu64 "; raise it (ulimit -n)",
                nofile);
  uint64_t fit = nofile - LG_FD_RESERVE;
  uint64_t k = ((uint64_t)streams + fit - 1) / fit;
  return fail(err, errlen,
              "%u streams at %u per connection need %" PRIu64
              " connections, but the open-file limit is %" PRIu64
              " (%d kept for the process): use --streams-per-conn %" PRIu64
              " or more, raise the limit (ulimit -n), or split the users "
              "over several loadgen processes",
              streams, per_conn, conns, nofile, LG_FD_RESERVE, k);
}
