/* loadgen --coordinate: the phases of one run whose users are held by
 * several shard processes (loadgen --shard-index I --shard-count N), on
 * one host or many, all sharing the run folder (barrier.c).
 *
 * The coordinator holds no users. It writes run.json and the timeline
 * (the service's /debug/vars, with every shard's counters summed), and
 * takes each snapshot once for the whole run:
 *   baseline   before any shard connects: shards wait for its "ramp"
 *   plateau    once every shard has said "connected" (its ramp is over),
 *              after --settle; then, for the notifier, --publish
 *              broadcasts, each sent when the shards' counters show the
 *              last one delivered to every held stream, then the --hold
 *              (forever: until SIGINT or SIGTERM). Unary methods: "calls"
 *              starts every shard's share of --rps, the snapshot is taken
 *              under their load, and each shard drains when its calls end
 *   drained    once every shard has said "done" (its result written)
 * A shard that falls silent for --shard-timeout, ends before its time, or
 * never reports fails the run: the coordinator says "abort", the others
 * drain, and the run ends within the timeout rather than waiting for a
 * process that is gone. coordinator.json says what it saw, for nprof
 * merge. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define POLL_NS 20000000ull

typedef struct {
  lg_options *o;
  lg_result *r;
  lg_barrier *bar;
  volatile sig_atomic_t *interrupted;
  bool tty;
  bool unary;
  uint64_t t0_ns;
  uint64_t last_progress_ns;
  const char *phase;
  atomic_int tl_phase; /* lg_tl_phase, read by the timeline thread */
  bool calls;          /* unary calls under way: shards end as theirs do */
  bool drain_said;     /* shards may end from now on */
} coord;

static void nap(uint64_t ns)
{
  struct timespec ts = npc_ns_timespec((int64_t)ns);
  nanosleep(&ts, NULL);
}

static void set_phase(coord *c, const char *name, lg_tl_phase p)
{
  c->phase = name;
  atomic_store_explicit(&c->tl_phase, (int)p, memory_order_relaxed);
}

/* The timeline's view (lg_tl_source): the shards' counters, summed. */
static void tl_source(void *ud, lg_tl_sample *s)
{
  coord *c = ud;
  lg_barrier_sum(c->bar, s);
  s->phase =
      (lg_tl_phase)atomic_load_explicit(&c->tl_phase, memory_order_relaxed);
}

/* Shards in state `want` or past it. */
static unsigned reached(coord *c, lg_bar_state want)
{
  unsigned n = 0;
  for (unsigned i = 0; i < c->o->shard_count; i++) {
    lg_bar_peer p;
    lg_barrier_peer(c->bar, i, &p);
    n += p.seen && p.rec.state >= want;
  }
  return n;
}

static void progress(coord *c, bool final)
{
  uint64_t now = lg_now_ns();
  if (!lg_progress_due(c->o->quiet, c->tty, &c->last_progress_ns, now, final))
    return;
  lg_tl_sample s;
  lg_barrier_sum(c->bar, &s);
  fprintf(stderr,
          "%s%-8s connected %" PRIu64 "/%u  shards %u/%u reporting  errors "
          "%" PRIu64 "  messages %" PRIu64 "  elapsed %.1fs%s",
          c->tty ? "\r\033[K" : "", c->phase, s.connected, c->o->streams_total,
          reached(c, LG_BAR_START), c->o->shard_count, s.errors, s.messages,
          (double)(now - c->t0_ns) / 1e9, c->tty && !final ? "" : "\n");
}

/* Sets the run's failure (the first one wins). */
static void failed(coord *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void failed(coord *c, const char *fmt, ...)
{
  if (c->r->reason[0] != '\0')
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->r->reason, sizeof c->r->reason, fmt, ap);
  va_end(ap);
}

/* False (with the run's reason) when a shard is dead, belongs to another
 * run, or has ended while it should still hold its users. */
static bool shards_alive(coord *c)
{
  for (unsigned i = 0; i < c->o->shard_count; i++) {
    lg_bar_peer p;
    lg_barrier_peer(c->bar, i, &p);
    if (p.dead) {
      if (p.seen)
        failed(c, "shard %u went silent for %.1fs (last said: %s)", i,
               (double)p.silent_ns / 1e9, lg_bar_state_name(p.rec.state));
      else
        failed(c, "shard %u never reported within %.1fs%s%s", i,
               (double)p.silent_ns / 1e9, p.problem[0] ? ": " : "", p.problem);
      return false;
    }
    if (!c->drain_said && !c->calls && p.seen && p.rec.state >= LG_BAR_DRAIN) {
      failed(c, "shard %u ended early: %s", i,
             p.rec.reason[0] ? p.rec.reason : "no reason given");
      return false;
    }
  }
  return true;
}

/* Waits until every shard has said `want` (or more). False on a death, a
 * signal or the deadline, with the run's reason. */
static bool await_shards(coord *c, lg_bar_state want, uint64_t deadline_ns)
{
  for (;;) {
    if (!shards_alive(c))
      return false;
    if (reached(c, want) == c->o->shard_count)
      return true;
    if (*c->interrupted) {
      failed(c, "interrupted");
      return false;
    }
    if (lg_now_ns() >= deadline_ns) {
      failed(c, "%u of %u shards said %s in time", reached(c, want),
             c->o->shard_count, lg_bar_state_name(want));
      return false;
    }
    progress(c, false);
    nap(POLL_NS);
  }
}

/* Holds until the deadline while the shards live. False when one dies or
 * ends; a signal ends the wait (true: the caller decides). */
static bool hold_until(coord *c, uint64_t deadline_ns)
{
  while (!*c->interrupted && lg_now_ns() < deadline_ns) {
    if (!shards_alive(c))
      return false;
    progress(c, false);
    nap(POLL_NS);
  }
  return true;
}

/* lg_publish_pace's view of the run: the shards' messages, as their
 * state files say. Those move at the shards' heartbeat, so broadcasts are
 * paced by it; each one's latency is measured by the shards on arrival. */
static uint64_t messages(void *ud)
{
  lg_tl_sample s;
  lg_barrier_sum(((coord *)ud)->bar, &s);
  return s.messages;
}

static bool publish_poll(void *ud)
{
  coord *c = ud;
  progress(c, false);
  return !*c->interrupted && shards_alive(c);
}

static void publish(coord *c)
{
  lg_options *o = c->o;
  lg_result *r = c->r;
  c->phase = "publish";
  lg_tl_sample s;
  lg_barrier_sum(c->bar, &s);
  uint64_t deadline = lg_now_ns() + o->publish_timeout_ns;
  r->notifications_expected = s.connected * o->publish;
  lg_publish_pace pace = {.messages = messages,
                          .poll = publish_poll,
                          .ud = c,
                          .base = s.messages,
                          .held = s.connected,
                          .poll_ns = 5000000};
  if (lg_publish_run(o, o->publish, deadline, lg_publish_delivered, &pace,
                     &r->publish) != 0) {
    fprintf(stderr, "loadgen: %s\n", r->publish.error);
    failed(c, "%s", r->publish.error);
  }
  r->phase_unix_ns[LG_PHASE_PUBLISHED] = lg_unix_ns();
}

/* The plateau and hold of held streams, or the unary calls. False when
 * the run failed. */
static bool plateau(coord *c)
{
  lg_options *o = c->o;
  lg_result *r = c->r;
  uint64_t start = lg_now_ns();
  if (c->unary) {
    /* Each shard runs its share of the calls for --duration from its
     * "calls"; the snapshot is taken under their load. */
    lg_barrier_say(c->bar, LG_BAR_CALLS, false, NULL);
    set_phase(c, "calls", LG_TL_HOLD);
    c->calls = true;
    bool forever = o->duration_ns == LG_HOLD_FOREVER;
    uint64_t settle = o->settle_ns;
    if (!forever && settle > o->duration_ns / 2)
      settle = o->duration_ns / 2;
    if (!hold_until(c, start + settle))
      return false;
    lg_snapshot_phase(o, r, LG_PHASE_PLATEAU);
    uint64_t end = forever ? UINT64_MAX
                           : start + o->duration_ns + o->call_timeout_ns +
                                 o->shard_timeout_ns + 2000000000ull;
    for (;;) {
      if (*c->interrupted && !c->drain_said) {
        /* The calls end early (forever: this is how): shards stop theirs. */
        c->drain_said = true;
        lg_barrier_say(c->bar, LG_BAR_DRAIN, false, NULL);
        end = lg_now_ns() + o->call_timeout_ns + o->shard_timeout_ns;
      }
      if (!shards_alive(c))
        return false;
      if (reached(c, LG_BAR_DRAIN) == o->shard_count)
        break;
      if (lg_now_ns() >= end) {
        failed(c, "%u of %u shards finished their calls in time",
               reached(c, LG_BAR_DRAIN), o->shard_count);
        return false;
      }
      progress(c, false);
      nap(POLL_NS);
    }
    r->calls_seconds = (double)(lg_now_ns() - start) / 1e9;
    if (*c->interrupted && !forever) {
      failed(c, "interrupted");
      return false;
    }
    return true;
  }
  set_phase(c, "plateau", LG_TL_PLATEAU);
  if (!hold_until(c, start + o->settle_ns))
    return false;
  lg_snapshot_phase(o, r, LG_PHASE_PLATEAU);
  lg_barrier_say(c->bar, LG_BAR_HOLD, false, NULL);
  set_phase(c, "hold", LG_TL_HOLD);
  if (o->publish > 0 && !*c->interrupted)
    publish(c);
  bool forever = o->hold_ns == LG_HOLD_FOREVER;
  if (forever && !*c->interrupted && !o->quiet)
    fprintf(stderr,
            "loadgen: holding %u users over %u shards until Ctrl-C (or "
            "SIGTERM); then drain, snapshot, report\n",
            o->streams_total, o->shard_count);
  if (!hold_until(c, forever ? UINT64_MAX : start + o->hold_ns))
    return false;
  if (*c->interrupted && !forever) {
    failed(c, "interrupted");
    return false;
  }
  return true;
}

static void write_json(FILE *f, const coord *c)
{
  const lg_options *o = c->o;
  const lg_result *r = c->r;
  fputs("{\n  \"role\": \"coordinator\",\n  \"run_id\": ", f);
  npc_json_string(f, o->run_id);
  fprintf(f, ",\n  \"shard_count\": %u,\n  \"target\": ", o->shard_count);
  npc_json_string(f, o->target);
  fputs(",\n  \"call\": ", f);
  npc_json_string(f, o->spec->path + 1);
  fprintf(f,
          ",\n  \"method_kind\": \"%s\",\n  \"streams_requested\": %u,\n"
          "  \"notifications_expected\": %" PRIu64 ",\n",
          c->unary ? "unary" : "server_streaming", o->streams_total,
          r->notifications_expected);
  fprintf(f,
          "  \"publish\": {\"requested\": %u, \"sent\": %u, \"ok\": %u, "
          "\"delivered_reported\": %" PRIu64 ", \"delivered_to_all\": %u},\n",
          o->publish, r->publish.sent, r->publish.ok, r->publish.delivered,
          r->publish.awaited);
  lg_report_phases(f, r);
  fprintf(f,
          ",\n  \"snapshots\": {\"fetched\": %u, \"failed\": %u},\n"
          "  \"timeline_samples\": %u,\n  \"calls_seconds\": %.3f,\n"
          "  \"shards\": [",
          r->snapshots_fetched, r->snapshots_failed, r->timeline_samples,
          r->calls_seconds);
  for (unsigned i = 0; i < o->shard_count; i++) {
    lg_bar_peer p;
    lg_barrier_peer(c->bar, i, &p);
    fprintf(f,
            "%s\n    {\"index\": %u, \"seen\": %s, \"state\": \"%s\", "
            "\"failed\": %s, \"silent_seconds\": %.1f, \"reason\": ",
            i ? "," : "", i, p.seen ? "true" : "false",
            p.seen ? lg_bar_state_name(p.rec.state) : "none",
            p.rec.failed ? "true" : "false", (double)p.silent_ns / 1e9);
    npc_json_string(f, p.seen ? p.rec.reason : p.problem);
    fputc('}', f);
  }
  fprintf(f, "\n  ],\n  \"ok\": %s,\n  \"reason\": ", r->ok ? "true" : "false");
  npc_json_string(f, r->reason);
  fputs("\n}\n", f);
}

static void render_result(FILE *f, const void *c)
{
  write_json(f, c);
}

static int write_result(coord *c)
{
  return npc_write_atomic_rendered(c->o->json_path, render_result, c);
}

int lg_coordinate(lg_options *o, volatile sig_atomic_t *interrupted)
{
  lg_result *r = calloc(1, sizeof *r);
  if (r == NULL) {
    fprintf(stderr, "loadgen: out of memory\n");
    return 1;
  }
  r->o = o;
  coord c = {.o = o,
             .r = r,
             .interrupted = interrupted,
             .tty = isatty(2) == 1,
             .unary = lg_options_unary(o),
             .t0_ns = lg_now_ns(),
             .phase = "baseline"};
  atomic_init(&c.tl_phase, LG_TL_BASELINE);
  r->phase_unix_ns[LG_PHASE_START] = lg_unix_ns();

  lg_bar_record me = {
      .index = -1, .count = o->shard_count, .state = LG_BAR_START};
  snprintf(me.run_id, sizeof me.run_id, "%s", o->run_id);
  lg_timeline *tl = NULL;
  int rc = npc_mkdirs(o->run_dir);
  if (rc == 0)
    rc = lg_barrier_start(&c.bar, o->run_dir, &me, o->shard_timeout_ns, NULL,
                          NULL);
  if (rc != 0) {
    fprintf(stderr, "loadgen: %s: %s\n", o->run_dir, lg_strerror(rc));
    free(r);
    return 1;
  }
  if (lg_run_begin(o, r->phase_unix_ns[LG_PHASE_START] / 1000000000u, tl_source,
                   &c, &tl) != 0) {
    lg_barrier_say(c.bar, LG_BAR_ABORT, true, "the run folder failed");
    lg_barrier_stop(c.bar);
    free(r);
    return 1;
  }

  /* baseline: no shard connects before it is taken */
  lg_snapshot_phase(o, r, LG_PHASE_BASELINE);
  bool ok = r->reason[0] == '\0';

  /* connect: the ramp ends in every shard (all users up, or given up) */
  if (ok) {
    lg_barrier_say(c.bar, LG_BAR_RAMP, false, NULL);
    set_phase(&c, "ramp", LG_TL_RAMP);
    r->phase_unix_ns[LG_PHASE_CONNECT] = lg_unix_ns();
    double ramp_s = o->rate > 0 ? (double)o->streams_total / o->rate : 0;
    uint64_t deadline = lg_now_ns() + (uint64_t)(ramp_s * 1e9) +
                        o->ramp_timeout_ns + o->shard_timeout_ns;
    ok = await_shards(&c, LG_BAR_CONNECTED, deadline);
    progress(&c, true);
  }
  if (ok)
    ok = plateau(&c);
  r->phase_unix_ns[LG_PHASE_HOLD_END] = lg_unix_ns();
  progress(&c, true);

  /* drain: the live shards finish and write their results */
  set_phase(&c, "drain", LG_TL_DRAIN);
  c.drain_said = true;
  lg_barrier_say(c.bar, ok ? LG_BAR_DRAIN : LG_BAR_ABORT, !ok, r->reason);
  uint64_t deadline =
      lg_now_ns() + o->drain_timeout_ns + o->settle_ns + o->shard_timeout_ns;
  for (;;) {
    unsigned settled = 0;
    for (unsigned i = 0; i < o->shard_count; i++) {
      lg_bar_peer p;
      lg_barrier_peer(c.bar, i, &p);
      settled += p.dead || (p.seen && p.rec.state == LG_BAR_DONE);
    }
    if (settled == o->shard_count)
      break;
    if (lg_now_ns() >= deadline) {
      failed(&c, "%u of %u shards finished in time", reached(&c, LG_BAR_DONE),
             o->shard_count);
      break;
    }
    progress(&c, false);
    nap(POLL_NS);
  }
  shards_alive(&c); /* a death during the drain is still the run's */
  set_phase(&c, "drained", LG_TL_DRAINED);
  nap(o->settle_ns);
  lg_snapshot_phase(o, r, LG_PHASE_DRAINED);
  r->phase_unix_ns[LG_PHASE_END] = lg_unix_ns();
  r->timeline_samples = lg_timeline_stop(tl);

  char werr[160];
  if (lg_barrier_write_errors(c.bar, werr, sizeof werr) > 0)
    failed(&c, "state files: %s", werr);
  r->ok = r->reason[0] == '\0';
  rc = write_result(&c);
  if (rc != 0) {
    fprintf(stderr, "loadgen: %s: %s\n", o->json_path, strerror(-rc));
    r->ok = false;
  }
  lg_barrier_say(c.bar, r->ok ? LG_BAR_DONE : LG_BAR_ABORT, !r->ok, r->reason);
  lg_barrier_stop(c.bar);
  printf("loadgen: coordinated %u shards, %u users of %s; snapshots %u files "
         "in %s, %u failed\nresult: %s%s%s\n",
         o->shard_count, o->streams_total, o->target, r->snapshots_fetched,
         o->run_dir, r->snapshots_failed, r->ok ? "OK" : "FAILED",
         r->reason[0] ? ": " : "", r->reason);
  fflush(stdout);
  int code = r->ok ? 0 : 1;
  free(r);
  return code;
}
