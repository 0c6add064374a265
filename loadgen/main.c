/* loadgen: holds N users on a gRPC service, server streams held open or
 * unary calls at a constant rate, measures them, and snapshots the
 * service's profiles at the phases of the run.
 *
 * Phases, each with a deadline so that a run always ends:
 *   baseline   snapshot before the first connect
 *   connect    ramp up until every user is connected, or N/rate +
 *              --ramp-timeout has passed
 *   plateau    streams: settle, snapshot, then --publish broadcasts and
 *              their delivery (bounded by --publish-timeout); unary: the
 *              calls begin, and the snapshot is taken under their load
 *   hold       streams: keep everyone connected until --hold has passed
 *              since the plateau (forever: until SIGINT or SIGTERM); unary:
 *              the calls go on for --duration, then those in flight finish
 *   drain      cancel every stream, GOAWAY, close (--drain-timeout), settle,
 *              snapshot
 * A certificate that does not verify ends the run at once (no retries).
 * Exit 0 only when the run met its goal; 1 when not; 2 for usage and
 * configuration errors found before the run (--check stops there). */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "tls.h"

#define POLL_NS 20000000ull /* main thread's look at the counters */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
  (void)sig;
  interrupted = 1; /* the hold ends early; the drain still runs */
}

typedef struct {
  lg_options *o;
  lg_worker **w;
  lg_result *r;
  bool tty;
  bool unary;
  uint64_t t0_ns;
  uint64_t last_progress_ns;
  uint64_t last_established;
  uint64_t last_rate_ns;
  double rate;
  const char *phase;
  const char *hint;       /* appended to the progress line */
  atomic_int tl_phase;    /* lg_tl_phase, read by the timeline thread */
  char fatal[256];        /* the first worker's fatal message */
  lg_barrier *bar;        /* a shard of a coordinated run, else NULL */
  char coord_reason[256]; /* why the coordinator ended our run, "" if not */
} run_state;

static uint64_t sum_counter(run_state *st, size_t offset)
{
  uint64_t s = 0;
  for (uint32_t i = 0; i < st->o->threads; i++) {
    atomic_uint_fast64_t *p =
        (atomic_uint_fast64_t *)((char *)lg_worker_counters(st->w[i]) + offset);
    s += atomic_load_explicit(p, memory_order_relaxed);
  }
  return s;
}
#define SUM(st, field) sum_counter((st), offsetof(lg_counters, field))

static bool all_flag(run_state *st, size_t offset)
{
  for (uint32_t i = 0; i < st->o->threads; i++) {
    atomic_bool *p =
        (atomic_bool *)((char *)lg_worker_counters(st->w[i]) + offset);
    if (!atomic_load_explicit(p, memory_order_acquire))
      return false;
  }
  return true;
}

/* True once a worker has hit a failure no retry mends; its message is
 * copied into st->fatal. */
static bool fatal(run_state *st)
{
  if (st->fatal[0] != '\0')
    return true;
  for (uint32_t i = 0; i < st->o->threads; i++) {
    const char *m = lg_worker_fatal(st->w[i]);
    if (m[0] != '\0') {
      snprintf(st->fatal, sizeof st->fatal, "%s", m);
      return true;
    }
  }
  return false;
}

static void set_phase(run_state *st, const char *name, lg_tl_phase p)
{
  st->phase = name;
  atomic_store_explicit(&st->tl_phase, (int)p, memory_order_relaxed);
}

static void progress(run_state *st, bool final)
{
  uint64_t now = lg_now_ns();
  if (!lg_progress_due(st->o->quiet, st->tty, &st->last_progress_ns, now,
                       final))
    return;
  uint64_t est = SUM(st, established);
  uint64_t total = SUM(st, established_total);
  if (now - st->last_rate_ns >= 1000000000ull || final) {
    if (st->last_rate_ns != 0 && now > st->last_rate_ns)
      st->rate = (double)(total - st->last_established) * 1e9 /
                 (double)(now - st->last_rate_ns);
    st->last_established = total;
    st->last_rate_ns = now;
  }
  char what[96];
  if (st->unary)
    snprintf(what, sizeof what, "calls %" PRIu64 " ok/%" PRIu64,
             SUM(st, calls_ok), SUM(st, calls_sent));
  else
    snprintf(what, sizeof what, "messages %" PRIu64, SUM(st, messages));
  fprintf(stderr,
          "%s%-8s connected %" PRIu64 "/%u  rate %.0f/s  errors %" PRIu64
          "  %s  elapsed %.1fs%s%s",
          st->tty ? "\r\033[K" : "", st->phase, est, st->o->streams, st->rate,
          SUM(st, failures), what, (double)(now - st->t0_ns) / 1e9,
          st->hint != NULL ? st->hint : "", st->tty && !final ? "" : "\n");
}

static void nap(void)
{
  struct timespec ts = {0, (long)POLL_NS};
  nanosleep(&ts, NULL);
}

/* A shard of a coordinated run: what the coordinator says now. Its
 * silence, its abort or a folder of another run read as LG_BAR_ABORT, with
 * the reason in st->coord_reason. */
static lg_bar_state coordinator(run_state *st)
{
  lg_bar_peer p;
  lg_barrier_peer(st->bar, 0, &p);
  if (p.dead) {
    if (st->coord_reason[0] == '\0')
      snprintf(st->coord_reason, sizeof st->coord_reason,
               p.seen ? "the coordinator went silent for %.1fs%s%s"
                      : "no coordinator (loadgen --coordinate) reported "
                        "within %.1fs%s%s",
               (double)p.silent_ns / 1e9, p.problem[0] ? ": " : "", p.problem);
    return LG_BAR_ABORT;
  }
  if (!p.seen)
    return LG_BAR_START;
  if (p.rec.state == LG_BAR_ABORT && st->coord_reason[0] == '\0')
    snprintf(st->coord_reason, sizeof st->coord_reason,
             "the coordinator ended the run: %.200s",
             p.rec.reason[0] ? p.rec.reason : "no reason given");
  return p.rec.state;
}

/* True when a coordinated shard must stop what it does and drain. */
static bool told_to_drain(run_state *st)
{
  if (st->bar == NULL)
    return false;
  lg_bar_state s = coordinator(st);
  return s == LG_BAR_DRAIN || s == LG_BAR_DONE || s == LG_BAR_ABORT;
}

/* Waits while the coordinator says `while_state`; returns what it says
 * next (LG_BAR_ABORT on a signal). */
static lg_bar_state await_coordinator(run_state *st, lg_bar_state while_state)
{
  lg_bar_state s;
  while ((s = coordinator(st)) == while_state) {
    if (interrupted)
      return LG_BAR_ABORT;
    progress(st, false);
    nap();
  }
  return s;
}

/* Waits until the deadline while reporting progress; stops early on a
 * signal, a fatal failure, or a coordinator that says drain. */
static void wait_until(run_state *st, uint64_t deadline_ns)
{
  while (!interrupted && !fatal(st) && !told_to_drain(st) &&
         lg_now_ns() < deadline_ns) {
    progress(st, false);
    nap();
  }
}

/* lg_publish_pace's view of this process: its workers' messages. */
static uint64_t messages(void *ud)
{
  return SUM((run_state *)ud, messages);
}

static bool publish_poll(void *ud)
{
  progress(ud, false);
  return !interrupted;
}

/* The timeline's view of the run (lg_tl_source): relaxed atomics only. */
static void tl_source(void *ud, lg_tl_sample *s)
{
  run_state *st = ud;
  s->phase =
      (lg_tl_phase)atomic_load_explicit(&st->tl_phase, memory_order_relaxed);
  s->connected = SUM(st, established);
  s->established_total = SUM(st, established_total);
  s->messages = SUM(st, messages);
  s->errors = SUM(st, failures);
  s->client_rss_bytes = lg_rss_kib() * 1024;
}

/* Whether a TCP connection to a is accepted within timeout_ms. */
static bool accepts(const struct addrinfo *a, int timeout_ms)
{
  int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  bool ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
  if (!ok && errno == EINPROGRESS) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int e = 0;
    socklen_t len = sizeof e;
    ok = poll(&p, 1, timeout_ms) == 1 &&
         getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0;
  }
  close(fd);
  return ok;
}

/* The target's address. A name with several ("localhost" is ::1 and
 * 127.0.0.1 on a Debian install, ::1 first) is reached at the first that
 * accepts a connection, as curl and Go's dialer do: a service listening
 * on 127.0.0.1 alone is then found by name. One address (an IP literal,
 * most names) is used untried; when none accepts, the first is kept and
 * the run says why its connections fail. The coordinator holds no users
 * and tries nothing, unless it dials the target for --publish. */
static int resolve(lg_options *o, char *err, size_t errlen)
{
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  int rc = getaddrinfo(o->host, o->port, &hints, &ai);
  if (rc != 0) {
    snprintf(err, errlen, "--target %s: %s", o->target, gai_strerror(rc));
    return -1;
  }
  const struct addrinfo *use = ai;
  if (ai->ai_next != NULL && (!o->coordinate || o->publish > 0)) {
    uint64_t ms = o->connect_timeout_ns / 1000000;
    int timeout_ms = ms < 2000 ? (int)ms : 2000;
    for (const struct addrinfo *a = ai; a != NULL; a = a->ai_next)
      if (accepts(a, timeout_ms)) {
        use = a;
        break;
      }
  }
  memcpy(&o->addr, use->ai_addr, use->ai_addrlen);
  o->addrlen = use->ai_addrlen;
  freeaddrinfo(ai);
  return 0;
}

static uint32_t ephemeral_ports(void)
{
  FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
  unsigned lo = 32768, hi = 60999;
  if (f != NULL) {
    if (fscanf(f, "%u %u", &lo, &hi) != 2 || hi < lo)
      lo = 32768, hi = 60999;
    fclose(f);
  }
  return hi - lo + 1;
}

/* Fits the plan to the machine before anything starts: open files, and
 * ephemeral ports per source address. */
static int plan(lg_options *o, char *err, size_t errlen)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < (rlim_t)o->conns + 1024) {
      rl.rlim_cur = rl.rlim_max; /* the soft limit is ours to raise */
      setrlimit(RLIMIT_NOFILE, &rl);
      getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (lg_plan_check_files(o->streams, o->streams_per_conn,
                            (uint64_t)rl.rlim_cur, err, errlen) != 0)
      return -1;
  }
  uint32_t ports = ephemeral_ports();
  uint32_t need = lg_plan_source_addrs(o->conns, ports);
  bool loopback4 =
      o->addr.ss_family == AF_INET &&
      (ntohl(((struct sockaddr_in *)&o->addr)->sin_addr.s_addr) >> 24) == 127;
  /* Shards on one host spread over disjoint ranges of source addresses,
   * as one process spreads over one. */
  if (o->run_id != NULL && loopback4 &&
      lg_shard_source_plan(o, ports, err, errlen) != 0)
    return -1;
  if (o->source_addrs == 0)
    o->source_addrs = need;
  if (o->source_addrs > 1 && !loopback4) {
    snprintf(err, errlen,
             "%u connections need %u source addresses (%u ephemeral ports "
             "each), which loadgen spreads over 127.0.0.x only for an IPv4 "
             "loopback target; use --streams-per-conn or several processes",
             o->conns, need, ports);
    return -1;
  }
  if (o->source_addrs < need) {
    snprintf(err, errlen,
             "%u connections need %u source addresses at %u ephemeral ports "
             "each; --source-addrs %u is too few",
             o->conns, need, ports, o->source_addrs);
    return -1;
  }
  return 0;
}

/* Everything about the flags that can be wrong, found before the run:
 * the method (protoc included), the TLS setup, the target, the plan.
 * Returns 0, or 2 (the exit status) with the message printed. */
static int prepare(lg_options *o)
{
  char err[1024];
  int rc = lg_call_prepare(o, err, sizeof err);
  if (rc == 0 && o->tls) {
    SSL_CTX *ctx;
    rc = lg__tls_ctx_new(o->cacert, o->insecure, &ctx, err, sizeof err);
    if (rc == 0)
      o->tls_ctx = ctx;
  }
  /* Where the run will happen elsewhere (a pod), this machine's name
   * service and limits say nothing about it. */
  if (rc == 0 && !o->check_flags)
    rc = resolve(o, err, sizeof err);
  if (rc == 0 && !o->coordinate && !o->check_flags) /* the coordinator
                                                        opens none */
    rc = plan(o, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "loadgen: %s\n", err);
    return 2;
  }
  return 0;
}

/* While holding forever: the commands that look inside the live service. */
static void print_live_commands(const lg_options *o)
{
  if (o->quiet)
    return;
  fprintf(stderr,
          "loadgen: holding %u users until Ctrl-C (or SIGTERM); then drain, "
          "snapshot, report\n",
          o->streams);
  if (o->debug_url != NULL) {
    const char *u = o->debug_url;
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
      n--;
    fprintf(stderr,
            "loadgen: meanwhile, the live service:\n"
            "  go tool pprof %.*s/debug/pprof/heap\n"
            "  go tool pprof %.*s/debug/pprof/goroutine\n",
            (int)n, u, (int)n, u);
  }
}

/* Unary: the calls at --rps for --duration (or until a signal when
 * forever), then those in flight finish (bounded by --call-timeout). */
static void run_calls(run_state *st, uint64_t *plateau_start)
{
  lg_options *o = st->o;
  lg_result *r = st->r;
  bool forever = o->duration_ns == LG_HOLD_FOREVER;
  uint64_t total = forever ? LG_PACER_FOREVER
                           : (uint64_t)(o->rps * (double)o->duration_ns / 1e9);
  uint64_t start = lg_now_ns();
  for (uint32_t i = 0; i < o->threads; i++)
    lg_worker_start_calls(st->w[i], start, total);
  *plateau_start = start;
  /* The plateau snapshot under the calls' load, once they have settled. */
  uint64_t settle = o->settle_ns;
  if (!forever && settle > o->duration_ns / 2)
    settle = o->duration_ns / 2;
  wait_until(st, start + settle);
  r->rss_plateau_kib = lg_rss_kib();
  lg_snapshot_phase(o, r, LG_PHASE_PLATEAU);
  set_phase(st, "calls", LG_TL_HOLD);
  if (forever) {
    st->hint = "  (Ctrl-C ends the calls)";
    print_live_commands(o);
  }
  uint64_t end = forever ? UINT64_MAX : start + o->duration_ns;
  while (!interrupted && !fatal(st) && !told_to_drain(st) &&
         lg_now_ns() < end &&
         !all_flag(st, offsetof(lg_counters, calls_done))) {
    progress(st, false);
    nap();
  }
  st->hint = NULL;
  uint64_t stop = lg_now_ns() < end ? lg_now_ns() : end;
  for (uint32_t i = 0; i < o->threads; i++)
    lg_worker_stop_calls(st->w[i], stop);
  uint64_t grace = lg_now_ns() + o->call_timeout_ns + 1000000000ull;
  while (lg_now_ns() < grace &&
         !all_flag(st, offsetof(lg_counters, calls_done))) {
    progress(st, false);
    nap();
  }
  r->calls_seconds = (double)(lg_now_ns() - start) / 1e9;
}

int main(int argc, char **argv)
{
  lg_options o;
  char err[1024];
  int rc = lg_options_parse(&o, argc, argv, err, sizeof err);
  if (rc == 1) {
    lg_options_free(&o);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "loadgen: %s (see --help)\n", err);
    lg_options_free(&o);
    return 2;
  }
  if ((rc = prepare(&o)) != 0) {
    lg__tls_ctx_free(o.tls_ctx);
    lg_options_free(&o);
    return rc;
  }
  bool unary = lg_options_unary(&o);
  if (o.check) {
    if (o.coordinate)
      printf("loadgen: OK: %s (%s), coordinating %u shards of %u users\n",
             o.spec->path + 1, unary ? "unary" : "server streaming",
             o.shard_count, o.streams_total);
    else if (o.run_id != NULL)
      printf("loadgen: OK: %s (%s), shard %u of %u: users %u..%u of %u, %u "
             "connections\n",
             o.spec->path + 1, unary ? "unary" : "server streaming",
             o.shard_index, o.shard_count, o.user_first,
             o.user_first + o.streams - 1, o.streams_total, o.conns);
    else
      printf("loadgen: OK: %s (%s), %u users, %u connections\n",
             o.spec->path + 1, unary ? "unary" : "server streaming", o.streams,
             o.conns);
    lg__tls_ctx_free(o.tls_ctx);
    lg_options_free(&o);
    return 0;
  }
  if (o.insecure)
    fprintf(stderr, "loadgen: --insecure: the server's certificate is NOT "
                    "verified\n");
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if ((o.snapshot_url != NULL || o.run_dir != NULL) && npc_http_init() != 0) {
    fprintf(stderr, "loadgen: cannot initialise libcurl\n");
    return 2;
  }
  if (o.coordinate) {
    rc = lg_coordinate(&o, &interrupted);
    lg__tls_ctx_free(o.tls_ctx);
    lg_options_free(&o);
    return rc;
  }

  lg_result *r = calloc(1, sizeof *r);
  lg_worker **w = calloc(o.threads, sizeof *w);
  if (r == NULL || w == NULL) {
    fprintf(stderr, "loadgen: out of memory\n");
    return 1;
  }
  r->o = &o;
  lg_hist_init(&r->connect);
  lg_hist_init(&r->delivery);
  lg_hist_init(&r->broadcast);
  lg_hist_init(&r->call);
  run_state st = {.o = &o,
                  .w = w,
                  .r = r,
                  .tty = isatty(2) == 1,
                  .unary = unary,
                  .t0_ns = lg_now_ns(),
                  .phase = "baseline"};
  atomic_init(&st.tl_phase, LG_TL_BASELINE);
  r->phase_unix_ns[LG_PHASE_START] = lg_unix_ns();

  for (uint32_t i = 0; i < o.threads; i++) {
    uint32_t first = (uint32_t)((uint64_t)o.conns * i / o.threads);
    uint32_t next = (uint32_t)((uint64_t)o.conns * (i + 1) / o.threads);
    w[i] = lg_worker_new(&o, i, first, next - first);
    if (w[i] == NULL) {
      fprintf(stderr, "loadgen: out of memory\n");
      return 1;
    }
  }

  /* The run folder: its parameters before the first phase, and the
   * timeline from the start. */
  lg_timeline *tl = NULL;
  if (o.run_dir != NULL && o.run_id == NULL &&
      lg_run_begin(&o, r->phase_unix_ns[LG_PHASE_START] / 1000000000u,
                   tl_source, &st, &tl) != 0)
    return 1;

  /* baseline */
  lg_snapshot_phase(&o, r, LG_PHASE_BASELINE);
  /* After the snapshot: libcurl's own memory is not the users' cost. */
  r->rss_baseline_kib = lg_rss_kib();

  /* A shard sharing its run folder with a coordinator connects nobody
   * before the coordinator's baseline is taken (it says "ramp"). */
  bool go = true;
  if (o.run_id != NULL && o.run_dir != NULL) {
    lg_bar_record me = {.index = (int32_t)o.shard_index,
                        .count = o.shard_count,
                        .state = LG_BAR_START,
                        .users = o.streams};
    snprintf(me.run_id, sizeof me.run_id, "%s", o.run_id);
    rc = npc_mkdirs(o.run_dir); /* the coordinator may not have made it yet */
    if (rc == 0)
      rc = lg_barrier_start(&st.bar, o.run_dir, &me, o.shard_timeout_ns,
                            tl_source, &st);
    if (rc != 0) {
      fprintf(stderr, "loadgen: %s: %s\n", o.run_dir, lg_strerror(rc));
      return 1;
    }
    set_phase(&st, "waiting", LG_TL_BASELINE);
    lg_bar_state s = await_coordinator(&st, LG_BAR_START);
    go = s == LG_BAR_RAMP || s == LG_BAR_CALLS || s == LG_BAR_HOLD;
    if (!go && r->reason[0] == '\0')
      snprintf(r->reason, sizeof r->reason, "%s",
               st.coord_reason[0] ? st.coord_reason
               : interrupted      ? "interrupted"
                                  : "the coordinator ended the run before "
                                    "this shard connected");
    lg_barrier_say(st.bar, LG_BAR_RAMP, !go, r->reason);
  }

  /* connect */
  set_phase(&st, "connect", LG_TL_RAMP);
  uint64_t start = lg_now_ns();
  r->phase_unix_ns[LG_PHASE_CONNECT] = lg_unix_ns();
  for (uint32_t i = 0; go && i < o.threads; i++) {
    rc = lg_worker_start(w[i]);
    if (rc != 0) {
      fprintf(stderr, "loadgen: thread: %s\n", lg_strerror(rc));
      return 1;
    }
  }
  double ramp_s = o.rate > 0 ? (double)o.streams / o.rate : 0;
  uint64_t deadline = start + (uint64_t)(ramp_s * 1e9) + o.ramp_timeout_ns;
  uint64_t all_at = 0;
  while (go && !interrupted && !fatal(&st) && !told_to_drain(&st) &&
         lg_now_ns() < deadline) {
    uint64_t est = SUM(&st, established);
    if (est > r->established_peak)
      r->established_peak = est;
    if (est >= o.streams) {
      all_at = lg_now_ns();
      break;
    }
    /* Without --reconnect a failed stream stays failed: once every stream
     * is either up or failed, waiting longer cannot help. */
    if (!o.reconnect && est + SUM(&st, failures) >= o.streams)
      break;
    progress(&st, false);
    nap();
  }
  uint64_t est_now = SUM(&st, established);
  if (est_now > r->established_peak)
    r->established_peak = est_now;
  r->connect_seconds = (double)((all_at ? all_at : lg_now_ns()) - start) / 1e9;
  progress(&st, true);
  if (st.bar != NULL && go) {
    char why[96] = "";
    if (est_now < o.streams)
      snprintf(why, sizeof why, "%" PRIu64 " of %u users connected", est_now,
               o.streams);
    lg_barrier_say(st.bar, LG_BAR_CONNECTED, why[0] != '\0', why);
  }
  bool ramp_interrupted = interrupted;
  /* What the ramp allocated and freed (TLS handshakes above all: ~100 KB
   * each, most of it transient) goes back to the kernel, so the client's
   * plateau RSS is what it holds for its users. */
  malloc_trim(0);

  /* plateau */
  set_phase(&st, "plateau", LG_TL_PLATEAU);
  uint64_t plateau_start = lg_now_ns();
  bool forever = o.hold_ns == LG_HOLD_FOREVER;
  bool coordinated = st.bar != NULL;
  if (coordinated && go && !interrupted && !fatal(&st)) {
    /* Every shard's ramp must end before the coordinator's plateau: it
     * says "calls" (unary) or "hold" (streams, its snapshot taken). */
    lg_bar_state s = await_coordinator(&st, LG_BAR_RAMP);
    plateau_start = lg_now_ns();
    if (unary && s == LG_BAR_CALLS) {
      lg_barrier_say(st.bar, LG_BAR_CALLS, false, NULL);
      run_calls(&st, &plateau_start);
    } else if (!unary && s == LG_BAR_HOLD) {
      r->phase_unix_ns[LG_PHASE_PLATEAU] = lg_unix_ns();
      r->rss_plateau_kib = lg_rss_kib();
      /* The coordinator's broadcasts: each reaches every held stream. */
      r->notifications_expected = SUM(&st, established) * o.publish;
    }
  } else if (unary && !coordinated && !interrupted && !fatal(&st)) {
    run_calls(&st, &plateau_start);
  } else if (!unary && !coordinated) {
    wait_until(&st, plateau_start + o.settle_ns);
    r->rss_plateau_kib = lg_rss_kib();
    lg_snapshot_phase(&o, r, LG_PHASE_PLATEAU);
  }

  if (o.publish > 0 && !coordinated && !interrupted && !fatal(&st)) {
    st.phase = "publish";
    uint64_t held = SUM(&st, established);
    uint64_t base = SUM(&st, messages);
    uint64_t pdeadline = lg_now_ns() + o.publish_timeout_ns;
    r->notifications_expected = held * o.publish;
    lg_publish_pace pace = {.messages = messages,
                            .poll = publish_poll,
                            .ud = &st,
                            .base = base,
                            .held = held,
                            .poll_ns = 1000000};
    if (lg_publish_run(&o, o.publish, pdeadline, lg_publish_delivered, &pace,
                       &r->publish) != 0) {
      fprintf(stderr, "loadgen: %s\n", r->publish.error);
      snprintf(r->reason, sizeof r->reason, "%s", r->publish.error);
    }
    while (!interrupted && lg_now_ns() < pdeadline &&
           SUM(&st, messages) - base < r->notifications_expected) {
      progress(&st, false);
      nap();
    }
    r->phase_unix_ns[LG_PHASE_PUBLISHED] = lg_unix_ns();
  }

  /* hold: a signal during a hold forever is how it ends, not a failure */
  bool held_forever = false;
  if (!unary) {
    set_phase(&st, "hold", LG_TL_HOLD);
    if (coordinated) {
      /* The coordinator times the hold, forever included. */
      if (go)
        wait_until(&st, UINT64_MAX);
      held_forever = forever && interrupted && !ramp_interrupted;
    } else if (forever && !interrupted && !fatal(&st)) {
      st.hint = "  (holding until Ctrl-C)";
      print_live_commands(&o);
      wait_until(&st, UINT64_MAX);
      held_forever = interrupted && !ramp_interrupted;
      st.hint = NULL;
    } else {
      wait_until(&st, plateau_start + o.hold_ns);
    }
  } else {
    held_forever =
        o.duration_ns == LG_HOLD_FOREVER && interrupted && !ramp_interrupted;
  }
  r->established = SUM(&st, established);
  r->phase_unix_ns[LG_PHASE_HOLD_END] = lg_unix_ns();
  progress(&st, true);

  /* drain */
  set_phase(&st, "drain", LG_TL_DRAIN);
  if (st.bar != NULL)
    lg_barrier_say(st.bar, LG_BAR_DRAIN, false, NULL);
  for (uint32_t i = 0; go && i < o.threads; i++)
    lg_worker_drain(w[i]);
  uint64_t join_deadline = lg_unix_ns() + o.drain_timeout_ns;
  bool joined = true;
  for (uint32_t i = 0; go && i < o.threads; i++) {
    if (lg_worker_join(w[i], join_deadline) != 0) {
      joined = false;
      fprintf(stderr, "loadgen: worker %u did not drain in time\n", i);
    }
  }
  if (joined) {
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint32_t i = 0; i < o.threads; i++) {
      lg_hist_merge(&r->connect, lg_worker_connect_hist(w[i]));
      lg_hist_merge(&r->delivery, lg_worker_delivery_hist(w[i]));
      lg_hist_merge(&r->broadcast, lg_worker_broadcast_hist(w[i]));
      lg_hist_merge(&r->call, lg_worker_call_hist(w[i]));
      uint32_t a, b;
      lg_worker_message_range(w[i], &a, &b);
      /* Workers that held nothing report 0/0 and must not drag the min. */
      const lg_counters *c = lg_worker_counters(w[i]);
      if (atomic_load(&c->established_total) > 0) {
        if (a < lo)
          lo = a;
        if (b > hi)
          hi = b;
      }
      if (r->detail[0] == '\0')
        snprintf(r->detail, sizeof r->detail, "%s",
                 lg_worker_last_detail(w[i]));
    }
    r->messages_min = lo == UINT32_MAX ? 0 : lo;
    r->messages_max = hi;
  }
  r->established_total = SUM(&st, established_total);
  r->failures = SUM(&st, failures);
  r->messages = SUM(&st, messages);
  r->bytes = SUM(&st, bytes);
  r->bad_latency = SUM(&st, bad_latency);
  r->calls_scheduled = SUM(&st, calls_scheduled);
  r->calls_sent = SUM(&st, calls_sent);
  r->calls_ok = SUM(&st, calls_ok);
  r->calls_failed = SUM(&st, calls_failed);
  for (int c = 0; c < LG_CAUSE_COUNT; c++)
    r->errors[c] =
        sum_counter(&st, offsetof(lg_counters, errors) +
                             (size_t)c * sizeof(atomic_uint_fast64_t));
  for (int c = 0; c <= LG_GRPC_CODES; c++)
    r->grpc_codes[c] =
        sum_counter(&st, offsetof(lg_counters, grpc_codes) +
                             (size_t)c * sizeof(atomic_uint_fast64_t));
  set_phase(&st, "drained", LG_TL_DRAINED);
  if (joined)
    wait_until(&st, lg_now_ns() + o.settle_ns);
  lg_snapshot_phase(&o, r, LG_PHASE_DRAINED);
  r->phase_unix_ns[LG_PHASE_END] = lg_unix_ns();
  r->timeline_samples = lg_timeline_stop(tl);

  /* verdict */
  if (fatal(&st) && r->reason[0] == '\0')
    snprintf(r->reason, sizeof r->reason, "%s", st.fatal);
  if (st.coord_reason[0] != '\0' && r->reason[0] == '\0')
    snprintf(r->reason, sizeof r->reason, "%s", st.coord_reason);
  if (interrupted && !held_forever && r->reason[0] == '\0')
    snprintf(r->reason, sizeof r->reason, "interrupted");
  if (r->established < o.streams && r->reason[0] == '\0')
    snprintf(r->reason, sizeof r->reason, "%" PRIu64 " of %u %s",
             r->established, o.streams,
             unary ? "users connected at the end of the calls"
                   : "streams established and held");
  if (unary && r->reason[0] == '\0') {
    uint64_t owed = r->calls_scheduled;
    uint64_t bad = owed > r->calls_ok ? owed - r->calls_ok : 0;
    double pct = owed > 0 ? 100.0 * (double)bad / (double)owed : 100.0;
    double goal = o.max_errors_pct < 0 ? 0 : o.max_errors_pct;
    if (owed == 0 || (o.max_errors_pct < 0 ? bad > 0 : pct > goal))
      snprintf(r->reason, sizeof r->reason,
               "%" PRIu64 " of %" PRIu64 " calls did not succeed (%.2f%%; "
               "%" PRIu64 " not sent; the goal: %s%.2f%%)",
               bad, owed, pct, owed > r->calls_sent ? owed - r->calls_sent : 0,
               o.max_errors_pct < 0 ? "every call, " : "at most ", goal);
  }
  if (o.publish > 0 && r->messages < r->notifications_expected &&
      r->reason[0] == '\0')
    snprintf(r->reason, sizeof r->reason,
             "%" PRIu64 " of %" PRIu64 " notifications delivered", r->messages,
             r->notifications_expected);
  if (!joined && r->reason[0] == '\0')
    snprintf(r->reason, sizeof r->reason, "drain deadline passed");
  r->ok = r->reason[0] == '\0';

  lg_report_summary(stdout, r);
  fflush(stdout);
  if (o.json_path != NULL) {
    rc = lg_report_json(o.json_path, r);
    if (rc != 0) {
      fprintf(stderr, "loadgen: %s: %s\n", o.json_path, strerror(-rc));
      r->ok = false;
    }
  }
  if (st.bar != NULL) {
    /* "done" once the result is on disk: the coordinator may merge. */
    lg_barrier_say(st.bar, LG_BAR_DONE, !r->ok, r->reason);
    lg_barrier_stop(st.bar);
  }
  int code = r->ok ? 0 : 1;
  if (!joined)
    _exit(code); /* a worker still runs: nothing may be freed under it */
  for (uint32_t i = 0; i < o.threads; i++)
    lg_worker_free(w[i]);
  free(w);
  free(r);
  lg__tls_ctx_free(o.tls_ctx);
  lg_options_free(&o);
  return code;
}
