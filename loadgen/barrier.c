/* The processes of a sharded run kept in step through a folder they all
 * see: the run folder natively, a volume on docker compose, a shared
 * (ReadWriteMany) volume in Kubernetes. No network between them and no
 * order in which they must start: each writes its own state file, the
 * coordinator reads every shard's, a shard reads the coordinator's.
 *
 *   shard-I.state       {"run_id", "role": "shard", "index", "count",
 *   coordinator.state    "seq", "state", "failed", "reason", "users",
 *                        "connected", "established_total", "messages",
 *                        "errors", "client_rss_bytes"}
 *
 * The phases: the coordinator says "start" while it takes the baseline,
 * "ramp" when the shards may connect, "calls" (unary) or "hold" (streams)
 * once every shard has said "connected", "drain" when they must drain, or
 * "abort"; a shard says "start", "ramp", "connected", "calls", "drain",
 * "done" (its result written). A file says one moment; a reader waits for
 * the state it needs.
 *
 * A dead process must fail the run in bounded time, whatever host it ran
 * on: each process rewrites its file every heartbeat with a new "seq", on
 * a thread of its own (a coordinator busy for seconds fetching a snapshot
 * still beats), and a reader counts how long a peer's seq has not changed
 * on its own monotonic clock, never comparing two hosts' clocks or file
 * times. A peer silent for --shard-timeout, or never seen that long after
 * the barrier began, is dead to the reader. A peer that said "done" (or the
 * coordinator's "abort") has said its last word and is never silent.
 *
 * Every file is written whole and renamed (npc_write_atomic), so a reader
 * never sees half a state; it reads at most STATE_MAX bytes of one, and a
 * file of another run (its run_id) is named as such, never obeyed. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define STATE_MAX ((size_t)64 << 10)

static const char *const state_names[LG_BAR_COUNT] = {
    [LG_BAR_START] = "start",         [LG_BAR_RAMP] = "ramp",
    [LG_BAR_CONNECTED] = "connected", [LG_BAR_CALLS] = "calls",
    [LG_BAR_HOLD] = "hold",           [LG_BAR_DRAIN] = "drain",
    [LG_BAR_DONE] = "done",           [LG_BAR_ABORT] = "abort",
};

const char *lg_bar_state_name(lg_bar_state s)
{
  return (unsigned)s < LG_BAR_COUNT ? state_names[s] : "unknown";
}

void lg_bar_record_write(FILE *f, const lg_bar_record *r)
{
  fputs("{\"run_id\": ", f);
  npc_json_string(f, r->run_id);
  fprintf(f, ", \"role\": \"%s\"", r->index < 0 ? "coordinator" : "shard");
  if (r->index >= 0)
    fprintf(f, ", \"index\": %d", r->index);
  fprintf(f,
          ", \"count\": %u, \"seq\": %llu, \"state\": \"%s\", \"failed\": %s, "
          "\"reason\": ",
          r->count, (unsigned long long)r->seq, lg_bar_state_name(r->state),
          r->failed ? "true" : "false");
  npc_json_string(f, r->reason);
  fprintf(f,
          ", \"users\": %llu, \"connected\": %llu, \"established_total\": "
          "%llu, \"messages\": %llu, \"errors\": %llu, \"client_rss_bytes\": "
          "%llu}\n",
          (unsigned long long)r->users, (unsigned long long)r->s.connected,
          (unsigned long long)r->s.established_total,
          (unsigned long long)r->s.messages, (unsigned long long)r->s.errors,
          (unsigned long long)r->s.client_rss_bytes);
}

/* A non-negative integer member (JSON numbers up to 2^53 are exact). */
static int get_u64(json_object *o, const char *key, uint64_t *out)
{
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) ||
      !json_object_is_type(v, json_type_int))
    return LG_EPROTO;
  int64_t n = json_object_get_int64(v);
  if (n < 0)
    return LG_EPROTO;
  *out = (uint64_t)n;
  return 0;
}

static const char *get_str(json_object *o, const char *key)
{
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

int lg_bar_record_parse(const char *text, size_t len, lg_bar_record *out)
{
  int rc = LG_EPROTO;
  json_object *o = NULL;
  json_tokener *tok = json_tokener_new_ex(8);
  if (tok == NULL)
    return LG_ENOMEM;
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
    len--;
  if (len > STATE_MAX)
    goto out;
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  o = json_tokener_parse_ex(tok, text, (int)len);
  if (o == NULL || json_tokener_get_parse_end(tok) != len ||
      !json_object_is_type(o, json_type_object))
    goto out;
  lg_bar_record r = {0};
  const char *id = get_str(o, "run_id"), *role = get_str(o, "role");
  const char *state = get_str(o, "state"), *reason = get_str(o, "reason");
  if (id == NULL || role == NULL || state == NULL || strlen(id) > LG_RUN_ID_MAX)
    goto out;
  snprintf(r.run_id, sizeof r.run_id, "%s", id);
  snprintf(r.reason, sizeof r.reason, "%s", reason != NULL ? reason : "");
  r.state = LG_BAR_COUNT;
  for (int i = 0; i < LG_BAR_COUNT; i++)
    if (strcmp(state, state_names[i]) == 0)
      r.state = (lg_bar_state)i;
  if (r.state == LG_BAR_COUNT)
    goto out;
  uint64_t index = 0, count;
  if (strcmp(role, "coordinator") == 0)
    r.index = -1;
  else if (strcmp(role, "shard") == 0 && get_u64(o, "index", &index) == 0 &&
           index < LG_SHARD_MAX)
    r.index = (int32_t)index;
  else
    goto out;
  json_object *failed;
  if (get_u64(o, "count", &count) != 0 || count > LG_SHARD_MAX ||
      get_u64(o, "seq", &r.seq) != 0 || get_u64(o, "users", &r.users) != 0 ||
      get_u64(o, "connected", &r.s.connected) != 0 ||
      get_u64(o, "established_total", &r.s.established_total) != 0 ||
      get_u64(o, "messages", &r.s.messages) != 0 ||
      get_u64(o, "errors", &r.s.errors) != 0 ||
      get_u64(o, "client_rss_bytes", &r.s.client_rss_bytes) != 0 ||
      !json_object_object_get_ex(o, "failed", &failed) ||
      !json_object_is_type(failed, json_type_boolean))
    goto out;
  r.count = (uint32_t)count;
  r.failed = json_object_get_boolean(failed);
  *out = r;
  rc = 0;
out:
  json_object_put(o);
  json_tokener_free(tok);
  return rc;
}

typedef struct {
  lg_bar_peer view;
  uint64_t last_change_ns; /* monotonic, when view.rec.seq last moved */
} peer;

struct lg_barrier {
  char *dir;
  uint64_t interval_ns;
  uint64_t timeout_ns;
  uint64_t start_ns;
  lg_tl_source source; /* our counters, NULL for the coordinator */
  void *ud;
  pthread_t thread;
  pthread_mutex_t lock; /* guards everything below, with cond */
  pthread_cond_t cond;
  lg_bar_record mine;
  bool dirty; /* mine changed: write it now, not at the next beat */
  bool stop;
  unsigned npeers; /* the coordinator's shards, or 1: the coordinator */
  peer *peers;
  unsigned writes_failed;
  char write_error[160];
};

static void state_name(const lg_barrier *b, int index, char *buf, size_t size)
{
  (void)b;
  if (index < 0)
    snprintf(buf, size, "%s", NPC_RUN_COORDINATOR_STATE);
  else
    snprintf(buf, size, NPC_RUN_SHARD_STATE_FMT, (unsigned)index);
}

static void render_record(FILE *f, const void *r)
{
  lg_bar_record_write(f, r);
}

/* Our record, with a new seq, into our file. Called without the lock. */
static void beat(lg_barrier *b)
{
  pthread_mutex_lock(&b->lock);
  b->dirty = false;
  b->mine.seq++;
  lg_bar_record r = b->mine;
  pthread_mutex_unlock(&b->lock);
  if (b->source != NULL && r.state != LG_BAR_DONE) {
    /* After "done" the counters stay as the result has them. */
    b->source(b->ud, &r.s);
    pthread_mutex_lock(&b->lock);
    b->mine.s = r.s;
    pthread_mutex_unlock(&b->lock);
  }
  char name[64];
  state_name(b, r.index, name, sizeof name);
  int rc = npc_write_atomic_rendered_in(b->dir, name, render_record, &r);
  if (rc != 0) {
    pthread_mutex_lock(&b->lock);
    if (b->writes_failed++ == 0)
      snprintf(b->write_error, sizeof b->write_error, "%s/%s: %s", b->dir, name,
               strerror(-rc));
    pthread_mutex_unlock(&b->lock);
  }
}

/* Reads peer i's file into its view. Called without the lock. */
static void look(lg_barrier *b, unsigned i)
{
  int index = b->mine.index < 0 ? (int)i : -1;
  char name[64], path[4200];
  state_name(b, index, name, sizeof name);
  snprintf(path, sizeof path, "%s/%s", b->dir, name);
  char *text = NULL;
  size_t len = 0;
  lg_bar_record r;
  char problem[240] = "";
  int rc = npc_read_file(path, STATE_MAX, &text, &len);
  if (rc == -ENOENT) {
    /* not there yet */
  } else if (rc != 0) {
    snprintf(problem, sizeof problem, "%s: %s", name, strerror(-rc));
  } else if (lg_bar_record_parse(text, len, &r) != 0) {
    snprintf(problem, sizeof problem, "%s: not a state this loadgen reads",
             name);
  } else if (strcmp(r.run_id, b->mine.run_id) != 0) {
    snprintf(problem, sizeof problem, "%s belongs to run %s, not %s", name,
             r.run_id, b->mine.run_id);
  } else if (r.index != index || r.count != b->mine.count) {
    snprintf(problem, sizeof problem,
             "%s says it is %s %d of %u, not of %u: not this run's", name,
             r.index < 0 ? "coordinator" : "shard", r.index, r.count,
             b->mine.count);
  }
  free(text);
  uint64_t now = lg_now_ns();
  pthread_mutex_lock(&b->lock);
  peer *p = &b->peers[i];
  snprintf(p->view.problem, sizeof p->view.problem, "%s", problem);
  if (rc == 0 && problem[0] == '\0' &&
      (!p->view.seen || r.seq != p->view.rec.seq ||
       r.state != p->view.rec.state)) {
    p->view.seen = true;
    p->view.rec = r;
    p->last_change_ns = now;
  }
  pthread_mutex_unlock(&b->lock);
}

static void *run(void *arg)
{
  lg_barrier *b = arg;
  pthread_mutex_lock(&b->lock);
  while (!b->stop) {
    pthread_mutex_unlock(&b->lock);
    beat(b);
    for (unsigned i = 0; i < b->npeers; i++)
      look(b, i);
    pthread_mutex_lock(&b->lock);
    struct timespec next =
        npc_ns_timespec((int64_t)(lg_now_ns() + b->interval_ns));
    while (!b->stop && !b->dirty &&
           pthread_cond_timedwait(&b->cond, &b->lock, &next) == 0)
      ;
  }
  pthread_mutex_unlock(&b->lock);
  beat(b); /* the last word */
  return NULL;
}

int lg_barrier_start(lg_barrier **out, const char *dir,
                     const lg_bar_record *mine, uint64_t timeout_ns,
                     lg_tl_source source, void *ud)
{
  lg_barrier *b = calloc(1, sizeof *b);
  if (b == NULL)
    return LG_ENOMEM;
  b->npeers = mine->index < 0 ? mine->count : 1;
  b->peers = calloc(b->npeers, sizeof *b->peers);
  b->dir = strdup(dir);
  if (b->peers == NULL || b->dir == NULL) {
    free(b->peers);
    free(b->dir);
    free(b);
    return LG_ENOMEM;
  }
  b->mine = *mine;
  b->timeout_ns = timeout_ns;
  /* Several beats per timeout, so one late write is never a death. */
  b->interval_ns = timeout_ns / 8;
  if (b->interval_ns > LG_BAR_BEAT_NS)
    b->interval_ns = LG_BAR_BEAT_NS;
  if (b->interval_ns < 10000000u)
    b->interval_ns = 10000000u;
  b->source = source;
  b->ud = ud;
  b->start_ns = lg_now_ns();
  for (unsigned i = 0; i < b->npeers; i++)
    b->peers[i].last_change_ns = b->start_ns;
  pthread_mutex_init(&b->lock, NULL);
  npc_cond_init_monotonic(&b->cond);
  int rc = pthread_create(&b->thread, NULL, run, b);
  if (rc != 0) {
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b->peers);
    free(b->dir);
    free(b);
    return -rc;
  }
  *out = b;
  return 0;
}

void lg_barrier_say(lg_barrier *b, lg_bar_state state, bool failed,
                    const char *reason)
{
  pthread_mutex_lock(&b->lock);
  b->mine.state = state;
  b->mine.failed = b->mine.failed || failed;
  if (reason != NULL && reason[0] != '\0' && b->mine.reason[0] == '\0')
    snprintf(b->mine.reason, sizeof b->mine.reason, "%s", reason);
  b->dirty = true;
  pthread_cond_signal(&b->cond);
  pthread_mutex_unlock(&b->lock);
}

void lg_barrier_peer(lg_barrier *b, unsigned i, lg_bar_peer *out)
{
  pthread_mutex_lock(&b->lock);
  const peer *p = &b->peers[i < b->npeers ? i : 0];
  *out = p->view;
  uint64_t now = lg_now_ns();
  out->silent_ns = now > p->last_change_ns ? now - p->last_change_ns : 0;
  /* Its last word said, a peer is never silent. */
  bool final = p->view.seen && (p->view.rec.state == LG_BAR_DONE ||
                                p->view.rec.state == LG_BAR_ABORT);
  out->dead = !final && out->silent_ns >= b->timeout_ns;
  pthread_mutex_unlock(&b->lock);
}

void lg_barrier_sum(lg_barrier *b, lg_tl_sample *out)
{
  lg_tl_sample s = {0};
  pthread_mutex_lock(&b->lock);
  for (unsigned i = 0; i < b->npeers; i++) {
    const lg_tl_sample *p = &b->peers[i].view.rec.s;
    s.connected += p->connected;
    s.established_total += p->established_total;
    s.messages += p->messages;
    s.errors += p->errors;
    s.client_rss_bytes += p->client_rss_bytes;
  }
  pthread_mutex_unlock(&b->lock);
  out->connected = s.connected;
  out->established_total = s.established_total;
  out->messages = s.messages;
  out->errors = s.errors;
  out->client_rss_bytes = s.client_rss_bytes;
}

unsigned lg_barrier_write_errors(lg_barrier *b, char *buf, size_t size)
{
  pthread_mutex_lock(&b->lock);
  unsigned n = b->writes_failed;
  snprintf(buf, size, "%s", b->write_error);
  pthread_mutex_unlock(&b->lock);
  return n;
}

void lg_barrier_stop(lg_barrier *b)
{
  if (b == NULL)
    return;
  pthread_mutex_lock(&b->lock);
  b->stop = true;
  pthread_cond_signal(&b->cond);
  pthread_mutex_unlock(&b->lock);
  pthread_join(b->thread, NULL);
  pthread_cond_destroy(&b->cond);
  pthread_mutex_destroy(&b->lock);
  free(b->peers);
  free(b->dir);
  free(b);
}
