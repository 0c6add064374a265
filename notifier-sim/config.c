/* Flags and their NOTIFIER_* environment equivalents (for containers).
 * Precedence: defaults < environment < flags. Every value is validated:
 * a bad one is an error with one line saying which and why, never a guess. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

void ntf_config_defaults(ntf_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->grpc_addr, sizeof cfg->grpc_addr, "127.0.0.1:50051");
  snprintf(cfg->debug_addr, sizeof cfg->debug_addr, "127.0.0.1:8086");
  cfg->mode = NTF_MODE_DEV;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->threads = ncpu < 1 ? 1 : ncpu > 64 ? 64 : (int)ncpu;
  cfg->fanout_threads = -1; /* as many as --threads */
  cfg->tick_interval_ms = 0;
  cfg->max_streams = 100000;
  cfg->queue_depth = 64;
  /* Idle streams must live: ping every 60 s to notice dead peers, and let
   * clients ping every 10 s without data and without strikes. */
  cfg->keepalive_time_ms = 60000;
  cfg->keepalive_timeout_ms = 20000;
  cfg->min_ping_interval_ms = 10000;
  cfg->quiet = false;
}

int ntf_parse_duration_ms(const char *s, int64_t *ms)
{
  int64_t ns;
  if (npc_duration_parse(s, &ns) != 0)
    return NTF_EINVAL;
  /* Settings are kept in milliseconds: below 1 ms (but not 0) would
   * silently become 0, which means "off" for some of them. */
  if (ns > 0 && ns < 1000000)
    return NTF_EINVAL;
  *ms = ns / 1000000;
  return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
  if (s == NULL || *s == '\0')
    return NTF_EINVAL;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi)
    return NTF_EINVAL;
  *out = v;
  return 0;
}

/* One setting, whether from a flag or the environment. */
static int apply(ntf_config *cfg, const char *name, const char *val, char *err,
                 size_t errlen)
{
  long l;
  int64_t d;
  if (strcmp(name, "grpc-addr") == 0 || strcmp(name, "debug-addr") == 0) {
    char *dst = name[0] == 'g' ? cfg->grpc_addr : cfg->debug_addr;
    size_t len = strlen(val);
    if (len == 0 || len >= sizeof cfg->grpc_addr || strchr(val, ':') == NULL)
      goto bad;
    memcpy(dst, val, len + 1);
  } else if (strcmp(name, "mode") == 0) {
    if (strcmp(val, "dev") == 0)
      cfg->mode = NTF_MODE_DEV;
    else if (strcmp(val, "prod") == 0)
      cfg->mode = NTF_MODE_PROD;
    else
      goto bad;
  } else if (strcmp(name, "threads") == 0) {
    if (parse_long(val, 1, 64, &l) < 0)
      goto bad;
    cfg->threads = (int)l;
  } else if (strcmp(name, "fanout-threads") == 0) {
    if (parse_long(val, 0, NTF_FANOUT_MAX_THREADS, &l) < 0)
      goto bad;
    cfg->fanout_threads = (int)l;
  } else if (strcmp(name, "tick-interval") == 0) {
    if (ntf_parse_duration_ms(val, &d) < 0)
      goto bad_duration;
    cfg->tick_interval_ms = d;
  } else if (strcmp(name, "max-streams") == 0) {
    if (parse_long(val, 0, 10000000, &l) < 0)
      goto bad;
    cfg->max_streams = l;
  } else if (strcmp(name, "queue-depth") == 0) {
    if (parse_long(val, 1, 65536, &l) < 0)
      goto bad;
    cfg->queue_depth = (int)l;
  } else if (strcmp(name, "keepalive-time") == 0) {
    if (ntf_parse_duration_ms(val, &d) < 0 || d < 1000)
      goto bad_duration;
    cfg->keepalive_time_ms = d;
  } else if (strcmp(name, "keepalive-timeout") == 0) {
    if (ntf_parse_duration_ms(val, &d) < 0 || d < 1)
      goto bad_duration;
    cfg->keepalive_timeout_ms = d;
  } else if (strcmp(name, "min-ping-interval") == 0) {
    if (ntf_parse_duration_ms(val, &d) < 0)
      goto bad_duration;
    cfg->min_ping_interval_ms = d;
  } else if (strcmp(name, "quiet") == 0) {
    if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0)
      cfg->quiet = true;
    else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0)
      cfg->quiet = false;
    else
      goto bad;
  } else {
    snprintf(err, errlen, "unknown setting %s", name);
    return NTF_EINVAL;
  }
  return 0;
bad:
  snprintf(err, errlen, "invalid value for %s: '%s'", name, val);
  return NTF_EINVAL;
bad_duration:
  snprintf(err, errlen,
           "invalid value for %s: '%s' (" NPC_DURATION_HELP ", 1ms or more)",
           name, val);
  return NTF_EINVAL;
}

/* Every setting once: the flags, and the environment names (NOTIFIER_ + the
 * flag upper-cased, '-' as '_') for all of them but --help. */
static const struct option opts[] = {
    {"grpc-addr", required_argument, NULL, 0},
    {"debug-addr", required_argument, NULL, 0},
    {"mode", required_argument, NULL, 0},
    {"threads", required_argument, NULL, 0},
    {"fanout-threads", required_argument, NULL, 0},
    {"tick-interval", required_argument, NULL, 0},
    {"max-streams", required_argument, NULL, 0},
    {"queue-depth", required_argument, NULL, 0},
    {"keepalive-time", required_argument, NULL, 0},
    {"keepalive-timeout", required_argument, NULL, 0},
    {"min-ping-interval", required_argument, NULL, 0},
    {"quiet", no_argument, NULL, 0},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

void ntf_config_usage(void *file)
{
  fputs(
      "usage: notifier [options]\n"
      "  --grpc-addr HOST:PORT       gRPC listen address (127.0.0.1:50051; "
      "port 0: any free)\n"
      "  --debug-addr HOST:PORT      libnprof debug server in dev mode "
      "(127.0.0.1:8086)\n"
      "  --mode dev|prod             dev serves /debug/pprof and /debug/vars "
      "(dev)\n"
      "  --threads N                 completion-queue workers (one per core)\n"
      "  --fanout-threads N          broadcast threads besides the workers, "
      "0-8 (as --threads)\n"
      "  --tick-interval DURATION    broadcast a tick every DURATION (0: off)\n"
      "  --max-streams N             refuse streams beyond N with "
      "RESOURCE_EXHAUSTED (100000; 0: no limit)\n"
      "  --queue-depth N             notifications queued per stream; the "
      "oldest is dropped beyond (64)\n"
      "  --keepalive-time DURATION   server ping interval on idle "
      "connections (60s)\n"
      "  --keepalive-timeout DURATION  ping ack timeout (20s)\n"
      "  --min-ping-interval DURATION  shortest client ping interval "
      "accepted (10s)\n"
      "  --quiet                     no log line per stream\n"
      "  --help\n"
      "Each option also reads NOTIFIER_<OPTION> from the environment, e.g. "
      "NOTIFIER_GRPC_ADDR;\nflags win; " NPC_DURATION_HELP ".\n",
      (FILE *)file);
}

int ntf_config_parse(ntf_config *cfg, int argc, char **argv,
                     const char *(*getenv_fn)(const char *name), char *err_buf,
                     size_t err_len)
{
  ntf_config c = *cfg;
  for (const struct option *o = opts; getenv_fn && o->name != NULL; o++) {
    if (o->val != 0)
      continue; /* --help */
    char env[64] = "NOTIFIER_";
    size_t k = strlen(env);
    for (const char *p = o->name; *p && k < sizeof env - 1; p++)
      env[k++] =
          *p == '-' ? '_' : (char)(*p - ('a' <= *p && *p <= 'z' ? 32 : 0));
    env[k] = '\0';
    const char *v = getenv_fn(env);
    if (v != NULL && apply(&c, o->name, v, err_buf, err_len) < 0) {
      size_t n = strlen(err_buf);
      snprintf(err_buf + n, err_len - n, " (from %s)", env);
      return NTF_EINVAL;
    }
  }
  optind = 0; /* 0 resets glibc's getopt state: tests parse many times */
  opterr = 0;
  int ch, idx;
  while ((ch = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
    if (ch == 'h') {
      ntf_config_usage(stdout);
      return 1;
    }
    if (ch == '?') {
      if (optopt)
        snprintf(err_buf, err_len, "unknown option -%c", optopt);
      else
        snprintf(err_buf, err_len, "unknown option %s", argv[optind - 1]);
      return NTF_EINVAL;
    }
    if (ch == ':') {
      snprintf(err_buf, err_len, "option %s needs a value", argv[optind - 1]);
      return NTF_EINVAL;
    }
    const char *name = opts[idx].name;
    if (apply(&c, name, optarg ? optarg : "true", err_buf, err_len) < 0)
      return NTF_EINVAL;
  }
  if (optind < argc) {
    snprintf(err_buf, err_len, "unexpected argument '%s'", argv[optind]);
    return NTF_EINVAL;
  }
  *cfg = c;
  return 0;
}
