/* Command-line flags and the connection plan derived from them. Every
 * mistake is caught here, before a single connection is opened: a run that
 * cannot fit the open-file limit says so and what to change, instead of
 * failing halfway through the ramp. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int lg_options_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
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

int lg_options_fail(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return LG_EINVAL;
}

void lg_options_usage(FILE *f)
{
  fputs("usage: loadgen --target HOST:PORT [options]\n"
        "Holds N users on a gRPC service: server streams held open, or unary\n"
        "calls at a constant rate; measures them, snapshots the service's\n"
        "profiles at each phase. Default call: notifier.Notifier/Connect.\n"
        "Users and phases:\n"
        "  --target HOST:PORT      gRPC server (default 127.0.0.1:50051)\n"
        "  --streams N             users, one stream each (default 1000)\n"
        "  --streams-per-conn K    users per HTTP/2 connection (default 1)\n"
        "  --rate R                new users per second, 0 = unlimited "
        "(default 0)\n"
        "  --hold D|forever        keep all users connected this long "
        "(default 10s);\n"
        "                          forever: until Ctrl-C or SIGTERM\n"
        "  --reconnect             retry failed streams with backoff\n"
        "The method:\n"
        "  --call PKG.SERVICE/METHOD  the method (unary or server streaming)\n"
        "  --proto FILE            its .proto (read by protoc); or\n"
        "  --protoset FILE         a descriptor set (protoc "
        "--descriptor_set_out\n"
        "                          --include_imports)\n"
        "  --import-path DIR       protoc's -I (repeatable; default: FILE's "
        "folder)\n"
        "  --data TEXT             the request, protobuf text format; {user} "
        "is\n"
        "                          the user's number 0..N-1 (in strings and "
        "numbers)\n"
        "  --data-file FILE        the same, from a file\n"
        "  --latency-field N       int64 unix-nanos field of the response: "
        "delivery\n"
        "                          latency (the notifier's: 4)\n"
        "  --user-prefix S         the notifier's user ids are S0, S1, ... "
        "(default user-)\n"
        "Unary methods (an open model: latency from each call's due time):\n"
        "  --rps R                 calls per second, all users together\n"
        "  --duration D|forever    how long (default: --hold)\n"
        "  --concurrency C         calls in flight at most (default 1000)\n"
        "  --call-timeout D        a call unanswered this long fails "
        "(default 10s)\n"
        "  --max-errors PCT        the goal: at most PCT% of calls failed "
        "(default 0)\n"
        "Metadata and TLS:\n"
        "  -H, --header 'NAME: VALUE'  on every call (repeatable)\n"
        "  --headers 'A: 1; B: 2'  several, ';'-separated\n"
        "  --tls                   TLS, verified against the system's CAs\n"
        "  --cacert FILE           ... against these CAs instead (implies "
        "--tls)\n"
        "  --insecure              ... not verified at all (implies --tls)\n"
        "  --server-name NAME      SNI, the name verified and :authority\n"
        "The run:\n"
        "  --snapshot-url URL      profiler base URL, e.g. "
        "http://127.0.0.1:8086\n"
        "  --snapshot-dir DIR      where snapshots go (with --snapshot-url)\n"
        "  --run-dir DIR           the run folder: snapshots, run.json,\n"
        "                          loadgen.json and timeline.jsonl\n"
        "  --vars-interval D       timeline sampling (default 500ms)\n"
        "  --users-var NAME        the service's /debug/vars count of users "
        "(run.json)\n"
        "  --run-mode M, --run-service CMD, --debug-url URL  for run.json\n"
        "Shards (one run over several processes; see README):\n"
        "  --shard-index I         this process is shard I (default: "
        "$JOB_COMPLETION_INDEX)\n"
        "  --shard-count N         of N (default: $NPROF_SHARD_COUNT); it "
        "takes users\n"
        "                          I*S/N..(I+1)*S/N-1 of --streams S and that "
        "share of\n"
        "                          --rate, --rps and --concurrency\n"
        "  --run-id ID             the run's id, the same in every shard "
        "($NPROF_RUN_ID)\n"
        "  --coordinate            run no users: with the shards' shared "
        "--run-dir, take\n"
        "                          the snapshots, the timeline and "
        "--publish once for\n"
        "                          the run, the shards in step at each "
        "phase\n"
        "  --shard-timeout D       a shard or coordinator silent this long "
        "fails the run\n"
        "                          (default 30s)\n"
        "  --json FILE             machine-readable result\n"
        "  --check                 validate every flag (protoc included), "
        "run nothing\n"
        "  --check-flags           the same but for this machine: the "
        "target's name,\n"
        "                          open files, source addresses (for "
        "another host)\n"
        "  --quiet                 no progress lines\n"
        "Tuning: --publish M (notifier broadcasts), --payload-size BYTES, "
        "--threads T,\n"
        "  --source-addrs A, --max-pending P, --max-message BYTES, "
        "--connect-timeout D,\n"
        "  --ramp-timeout D, --publish-timeout D, --drain-timeout D, --settle "
        "D\n"
        "Durations: 250us, 500ms, 4s, 2m30s, 1h. Exit: 0 goal met, 1 not met, "
        "2 usage.\n",
        f);
}

static int split_target(lg_options *o, char *err, size_t errlen)
{
  const char *t = o->target;
  const char *colon = strrchr(t, ':');
  if (colon == NULL || colon == t || colon[1] == '\0')
    return lg_options_fail(err, errlen, "--target %s: expected HOST:PORT", t);
  const char *h = t;
  size_t hlen = (size_t)(colon - t);
  if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  uint32_t port;
  if (lg_options_u32(colon + 1, 1, 65535, &port) != 0)
    return lg_options_fail(err, errlen, "--target %s: bad port", t);
  if (hlen == 0 || hlen >= sizeof o->host)
    return lg_options_fail(err, errlen, "--target %s: bad host", t);
  memcpy(o->host, h, hlen);
  o->host[hlen] = '\0';
  snprintf(o->port, sizeof o->port, "%u", port);
  /* --server-name replaces the host in :authority, SNI and verification,
   * as gRPC's ssl_target_name_override does. */
  if (o->server_name != NULL) {
    snprintf(o->authority, sizeof o->authority, "%s:%u", o->server_name, port);
    snprintf(o->sni, sizeof o->sni, "%s", o->server_name);
  } else {
    snprintf(o->authority, sizeof o->authority, "%s", t);
    snprintf(o->sni, sizeof o->sni, "%s", o->host);
  }
  return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
  if (s == NULL || *s == '\0')
    return LG_EINVAL;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= min) || !(v <= max))
    return LG_EINVAL;
  *out = v;
  return 0;
}

/* A duration in the one syntax, or "forever" where allow_forever. */
static int parse_duration(const char *a, bool allow_forever, uint64_t *out)
{
  if (allow_forever && strcmp(a, "forever") == 0) {
    *out = LG_HOLD_FOREVER;
    return 0;
  }
  int64_t ns;
  if (npc_duration_parse(a, &ns) != 0)
    return LG_EINVAL;
  *out = (uint64_t)ns;
  return 0;
}

static int not_a_duration(char *err, size_t errlen, const char *name,
                          const char *a, bool forever)
{
  return lg_options_fail(err, errlen, "--%s %s: not a duration: %s%s", name, a,
                         NPC_DURATION_HELP, forever ? ", or forever" : "");
}

/* The flags that only set a field of lg_options: text kept as given, a
 * whole number in a range, a duration (or "forever"). One table, so each
 * kind has one rule and one message. */
typedef enum {
  FIELD_TEXT,                /* const char * */
  FIELD_U32,                 /* uint32_t in [min, max] */
  FIELD_DURATION,            /* uint64_t ns */
  FIELD_DURATION_OR_FOREVER, /* uint64_t ns, or LG_HOLD_FOREVER */
} field_kind;

typedef struct {
  int opt;
  field_kind kind;
  size_t offset;
  uint32_t min, max;
} field_flag;

static const field_flag *field_flag_of(const field_flag *t, size_t n, int opt)
{
  for (size_t i = 0; i < n; i++)
    if (t[i].opt == opt)
      return &t[i];
  return NULL;
}

static int set_field(const field_flag *f, void *field, const char *name,
                     const char *a, char *err, size_t errlen)
{
  switch (f->kind) {
  case FIELD_TEXT:
    *(const char **)field = a;
    return 0;
  case FIELD_U32:
    if (lg_options_u32(a, f->min, f->max, field) != 0)
      return lg_options_fail(err, errlen,
                             "--%s %s: expected %" PRIu32 "..%" PRIu32, name, a,
                             f->min, f->max);
    return 0;
  case FIELD_DURATION:
  case FIELD_DURATION_OR_FOREVER: {
    bool forever = f->kind == FIELD_DURATION_OR_FOREVER;
    if (parse_duration(a, forever, field) != 0)
      return not_a_duration(err, errlen, name, a, forever);
    return 0;
  }
  }
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
  o->concurrency = 1000;
  o->call_timeout_ns = 10000000000ull;
  o->max_errors_pct = -1;
  o->vars_interval_ns = 500000000ull;
  o->shard_timeout_ns = 30000000000ull;
  o->shard_count = 1;
  lg_shard_env shard = {0};

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
    O_VERSION,
    O_CALL,
    O_PROTO,
    O_IMPORT,
    O_PROTOSET,
    O_DATA,
    O_DATA_FILE,
    O_LATENCY,
    O_RPS,
    O_DURATION,
    O_CONCURRENCY,
    O_CALL_TIMEOUT,
    O_MAX_ERRORS,
    O_HEADER,
    O_HEADERS,
    O_TLS,
    O_CACERT,
    O_INSECURE,
    O_SERVER_NAME,
    O_RUN_DIR,
    O_RUN_MODE,
    O_RUN_SERVICE,
    O_USERS_VAR,
    O_DEBUG_URL,
    O_VARS_INTERVAL,
    O_CHECK,
    O_SHARD_INDEX,
    O_SHARD_COUNT,
    O_RUN_ID,
    O_COORDINATE,
    O_SHARD_TIMEOUT,
    O_CHECK_FLAGS
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
      {"call", required_argument, NULL, O_CALL},
      {"proto", required_argument, NULL, O_PROTO},
      {"import-path", required_argument, NULL, O_IMPORT},
      {"protoset", required_argument, NULL, O_PROTOSET},
      {"data", required_argument, NULL, O_DATA},
      {"data-file", required_argument, NULL, O_DATA_FILE},
      {"latency-field", required_argument, NULL, O_LATENCY},
      {"rps", required_argument, NULL, O_RPS},
      {"duration", required_argument, NULL, O_DURATION},
      {"concurrency", required_argument, NULL, O_CONCURRENCY},
      {"call-timeout", required_argument, NULL, O_CALL_TIMEOUT},
      {"max-errors", required_argument, NULL, O_MAX_ERRORS},
      {"header", required_argument, NULL, O_HEADER},
      {"headers", required_argument, NULL, O_HEADERS},
      {"tls", no_argument, NULL, O_TLS},
      {"cacert", required_argument, NULL, O_CACERT},
      {"insecure", no_argument, NULL, O_INSECURE},
      {"server-name", required_argument, NULL, O_SERVER_NAME},
      {"run-dir", required_argument, NULL, O_RUN_DIR},
      {"run-mode", required_argument, NULL, O_RUN_MODE},
      {"run-service", required_argument, NULL, O_RUN_SERVICE},
      {"users-var", required_argument, NULL, O_USERS_VAR},
      {"debug-url", required_argument, NULL, O_DEBUG_URL},
      {"vars-interval", required_argument, NULL, O_VARS_INTERVAL},
      {"check", no_argument, NULL, O_CHECK},
      {"check-flags", no_argument, NULL, O_CHECK_FLAGS},
      {"shard-index", required_argument, NULL, O_SHARD_INDEX},
      {"shard-count", required_argument, NULL, O_SHARD_COUNT},
      {"run-id", required_argument, NULL, O_RUN_ID},
      {"coordinate", no_argument, NULL, O_COORDINATE},
      {"shard-timeout", required_argument, NULL, O_SHARD_TIMEOUT},
      {NULL, 0, NULL, 0}};
  static const field_flag fields[] = {
      {O_STREAMS, FIELD_U32, offsetof(lg_options, streams), 1, 10000000},
      {O_PER_CONN, FIELD_U32, offsetof(lg_options, streams_per_conn), 1,
       100000},
      {O_PUBLISH, FIELD_U32, offsetof(lg_options, publish), 0, 1000000},
      {O_PAYLOAD, FIELD_U32, offsetof(lg_options, payload_size), 0, 1u << 20},
      {O_THREADS, FIELD_U32, offsetof(lg_options, threads), 1, 256},
      {O_SRC, FIELD_U32, offsetof(lg_options, source_addrs), 1, 254},
      {O_PENDING, FIELD_U32, offsetof(lg_options, max_pending), 1, 1000000},
      {O_MAXMSG, FIELD_U32, offsetof(lg_options, max_message), 16, 1u << 30},
      {O_CONCURRENCY, FIELD_U32, offsetof(lg_options, concurrency), 1, 1000000},
      {O_TARGET, FIELD_TEXT, offsetof(lg_options, target), 0, 0},
      {O_SURL, FIELD_TEXT, offsetof(lg_options, snapshot_url), 0, 0},
      {O_SDIR, FIELD_TEXT, offsetof(lg_options, snapshot_dir), 0, 0},
      {O_JSON, FIELD_TEXT, offsetof(lg_options, json_path), 0, 0},
      {O_PREFIX, FIELD_TEXT, offsetof(lg_options, user_prefix), 0, 0},
      {O_CALL, FIELD_TEXT, offsetof(lg_options, call), 0, 0},
      {O_PROTO, FIELD_TEXT, offsetof(lg_options, proto), 0, 0},
      {O_PROTOSET, FIELD_TEXT, offsetof(lg_options, protoset), 0, 0},
      {O_DATA, FIELD_TEXT, offsetof(lg_options, data), 0, 0},
      {O_DATA_FILE, FIELD_TEXT, offsetof(lg_options, data_file), 0, 0},
      {O_SERVER_NAME, FIELD_TEXT, offsetof(lg_options, server_name), 0, 0},
      {O_RUN_DIR, FIELD_TEXT, offsetof(lg_options, run_dir), 0, 0},
      {O_RUN_SERVICE, FIELD_TEXT, offsetof(lg_options, run_service), 0, 0},
      {O_USERS_VAR, FIELD_TEXT, offsetof(lg_options, users_var), 0, 0},
      {O_DEBUG_URL, FIELD_TEXT, offsetof(lg_options, debug_url), 0, 0},
      {O_HOLD, FIELD_DURATION_OR_FOREVER, offsetof(lg_options, hold_ns), 0, 0},
      {O_CTIMEOUT, FIELD_DURATION, offsetof(lg_options, connect_timeout_ns), 0,
       0},
      {O_RTIMEOUT, FIELD_DURATION, offsetof(lg_options, ramp_timeout_ns), 0, 0},
      {O_PTIMEOUT, FIELD_DURATION, offsetof(lg_options, publish_timeout_ns), 0,
       0},
      {O_DTIMEOUT, FIELD_DURATION, offsetof(lg_options, drain_timeout_ns), 0,
       0},
      {O_SETTLE, FIELD_DURATION, offsetof(lg_options, settle_ns), 0, 0},
      {O_CALL_TIMEOUT, FIELD_DURATION, offsetof(lg_options, call_timeout_ns), 0,
       0},
      {O_VARS_INTERVAL, FIELD_DURATION, offsetof(lg_options, vars_interval_ns),
       0, 0},
      {O_SHARD_TIMEOUT, FIELD_DURATION, offsetof(lg_options, shard_timeout_ns),
       0, 0},
  };
  const size_t nfields = sizeof fields / sizeof fields[0];

  optind = 0; /* reset getopt: tests parse several argument vectors */
  opterr = 0;
  int c, idx = 0, rc;
  while ((c = getopt_long(argc, argv, ":hH:", longopts, &idx)) != -1) {
    const char *a = optarg;
    const field_flag *f = field_flag_of(fields, nfields, c);
    if (f != NULL) {
      if ((rc = set_field(f, (char *)o + f->offset, longopts[idx].name, a, err,
                          errlen)) != 0)
        return rc;
      continue;
    }
    switch (c) {
    case O_RATE:
      if (parse_double(a, 0, 1e9, &o->rate) != 0)
        return lg_options_fail(err, errlen, "--rate %s: expected a number >= 0",
                               a);
      break;
    case O_RECONNECT:
      o->reconnect = true;
      break;
    case O_QUIET:
      o->quiet = true;
      break;
    case O_IMPORT:
      if (o->nimport_paths == LG_MAX_IMPORT_PATHS)
        return lg_options_fail(err, errlen, "--import-path: at most %d",
                               LG_MAX_IMPORT_PATHS);
      o->import_paths[o->nimport_paths++] = a;
      break;
    case O_LATENCY:
      if (lg_options_u32(a, 1, 536870911, &o->latency_field) != 0)
        return lg_options_fail(
            err, errlen, "--latency-field %s: expected a field number", a);
      o->latency_field_set = true;
      break;
    case O_RPS:
      if (parse_double(a, 0.001, 1e7, &o->rps) != 0)
        return lg_options_fail(err, errlen,
                               "--rps %s: expected calls per second, "
                               "0.001..10000000",
                               a);
      break;
    case O_DURATION: /* the unary run's length, and that it was given */
      if (parse_duration(a, true, &o->duration_ns) != 0)
        return not_a_duration(err, errlen, longopts[idx].name, a, true);
      o->duration_set = true;
      break;
    case O_MAX_ERRORS:
      if (parse_double(a, 0, 100, &o->max_errors_pct) != 0)
        return lg_options_fail(err, errlen,
                               "--max-errors %s: expected a percentage, "
                               "0..100",
                               a);
      break;
    case 'H':
    case O_HEADER:
      if ((rc = lg_metadata_add(&o->metadata, a, err, errlen)) != 0)
        return rc;
      break;
    case O_HEADERS:
      if ((rc = lg_metadata_add_list(&o->metadata, a, err, errlen)) != 0)
        return rc;
      break;
    case O_TLS:
      o->tls = true;
      break;
    case O_CACERT:
      o->cacert = a;
      o->tls = true;
      break;
    case O_INSECURE:
      o->insecure = true;
      o->tls = true;
      break;
    case O_RUN_MODE:
      if (strcmp(a, "native") != 0 && strcmp(a, "docker") != 0 &&
          strcmp(a, "external") != 0)
        return lg_options_fail(
            err, errlen, "--run-mode %s: expected native, docker or external",
            a);
      o->run_mode = a;
      break;
    case O_CHECK:
      o->check = true;
      break;
    case O_CHECK_FLAGS:
      o->check = o->check_flags = true;
      break;
    case O_SHARD_INDEX:
      shard.index_flag = a;
      break;
    case O_SHARD_COUNT:
      shard.count_flag = a;
      break;
    case O_RUN_ID:
      shard.run_id_flag = a;
      break;
    case O_COORDINATE:
      o->coordinate = true;
      break;
    case 'h':
    case O_HELP:
      lg_options_usage(stdout);
      return 1;
    case O_VERSION:
      printf("loadgen %s\n", LG_VERSION);
      return 1;
    case ':':
      return lg_options_fail(err, errlen, "%s needs a value", argv[optind - 1]);
    default:
      return lg_options_fail(err, errlen, "unknown option %s",
                             argv[optind - 1]);
    }
  }
  if (optind < argc)
    return lg_options_fail(err, errlen, "unexpected argument %s", argv[optind]);
  if ((o->snapshot_url == NULL) != (o->snapshot_dir == NULL) &&
      !(o->run_dir != NULL && o->snapshot_dir == NULL))
    return lg_options_fail(err, errlen,
                           "--snapshot-url and --snapshot-dir go together");
  if (o->snapshot_url != NULL && strncmp(o->snapshot_url, "http://", 7) != 0)
    return lg_options_fail(err, errlen,
                           "--snapshot-url %s: expected http://HOST:PORT",
                           o->snapshot_url);
  if (o->connect_timeout_ns == 0 || o->drain_timeout_ns == 0 ||
      o->call_timeout_ns == 0 || o->shard_timeout_ns == 0)
    return lg_options_fail(err, errlen, "timeouts must be positive");
  if (o->vars_interval_ns < 10000000ull)
    return lg_options_fail(err, errlen, "--vars-interval: at least 10ms");
  if (strlen(o->user_prefix) > 200)
    return lg_options_fail(err, errlen, "--user-prefix: at most 200 bytes");
  if (o->proto != NULL && o->protoset != NULL)
    return lg_options_fail(err, errlen, "--proto or --protoset, not both");
  if (o->data != NULL && o->data_file != NULL)
    return lg_options_fail(err, errlen, "--data or --data-file, not both");
  if ((o->proto != NULL || o->protoset != NULL) && o->call == NULL)
    return lg_options_fail(err, errlen, "--proto and --protoset need --call");
  /* The notifier's own methods need no .proto: its descriptors are built
   * in. */
  if (o->call != NULL && o->proto == NULL && o->protoset == NULL &&
      strncmp(o->call[0] == '/' ? o->call + 1 : o->call, "notifier.Notifier/",
              18) != 0)
    return lg_options_fail(
        err, errlen, "--call %s needs its --proto FILE (or --protoset FILE)",
        o->call);
  if (o->cacert != NULL && o->insecure)
    return lg_options_fail(err, errlen, "--cacert or --insecure, not both");
  if (o->server_name != NULL &&
      (o->server_name[0] == '\0' || strlen(o->server_name) >= sizeof o->sni ||
       strpbrk(o->server_name, " /:@") != NULL))
    return lg_options_fail(
        err, errlen, "--server-name %s: expected a host name", o->server_name);
  if (o->run_mode == NULL)
    o->run_mode = "external";
  rc = split_target(o, err, errlen);
  if (rc != 0)
    return rc;
  shard.index_env = getenv("JOB_COMPLETION_INDEX");
  shard.count_env = getenv("NPROF_SHARD_COUNT");
  shard.run_id_env = getenv("NPROF_RUN_ID");
  rc = lg_shard_resolve(o, &shard, err, errlen);
  if (rc != 0)
    return rc;
  if (o->run_dir != NULL) {
    if (o->snapshot_dir == NULL && o->snapshot_url != NULL)
      o->snapshot_dir = o->run_dir;
    if (o->json_path == NULL) {
      /* A shard's result beside the others' for nprof merge; the
       * coordinator's beside them; one process's is the run's. */
      char name[64];
      if (o->coordinate)
        snprintf(name, sizeof name, "%s", NPC_RUN_COORDINATOR);
      else if (o->run_id != NULL)
        snprintf(name, sizeof name, NPC_RUN_SHARD_FMT, o->shard_index);
      else
        snprintf(name, sizeof name, "%s", NPC_RUN_LOADGEN);
      if ((size_t)snprintf(o->json_buf, sizeof o->json_buf, "%s/%s", o->run_dir,
                           name) >= sizeof o->json_buf)
        return lg_options_fail(err, errlen, "--run-dir: path too long");
      o->json_path = o->json_buf;
    }
  }
  if (o->debug_url == NULL)
    o->debug_url = o->snapshot_url;
  o->conns = (uint32_t)(((uint64_t)o->streams + o->streams_per_conn - 1) /
                        o->streams_per_conn);
  if (o->threads > o->conns)
    o->threads = o->conns;
  return 0;
}

void lg_options_free(lg_options *o)
{
  lg_metadata_free(&o->metadata);
  lg_call_free(o->spec);
  o->spec = NULL;
}

bool lg_options_unary(const lg_options *o)
{
  return o->spec != NULL && o->spec->unary;
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
    return lg_options_fail(
        err, errlen, "the open-file limit is %" PRIu64 "; raise it (ulimit -n)",
        nofile);
  uint64_t fit = nofile - LG_FD_RESERVE;
  uint64_t k = ((uint64_t)streams + fit - 1) / fit;
  return lg_options_fail(
      err, errlen,
      "%u streams at %u per connection need %" PRIu64
      " connections, but the open-file limit is %" PRIu64
      " (%d kept for the process): use --streams-per-conn %" PRIu64
      " or more, raise the limit (ulimit -n), or split the users "
      "over several loadgen processes",
      streams, per_conn, conns, nofile, LG_FD_RESERVE, k);
}
