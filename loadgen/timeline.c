/* timeline.jsonl: the service's /debug/vars and the loadgen's counters,
 * sampled every --vars-interval through the run, one JSON object per line
 * (contracts: timeline.jsonl), so a report can draw what happened between
 * the phase snapshots.
 *
 * Its own thread, so no sample ever waits on an event loop or holds one
 * up: the counters are relaxed atomics, the fetch a blocking libcurl GET
 * bounded by a timeout. One fetch at a time: a slow debug server makes the
 * samples late (the next starts when the last is done), a dead one makes
 * "vars" null, and requests never pile up. Each line goes out with one
 * write(2) on an O_APPEND descriptor, so a report made mid-run (or after a
 * crash) reads whole lines, but for a torn last one.
 *
 * The served JSON is checked and compacted to one line by json-c (Debian's
 * libjson-c), so a server answering with something else costs that sample
 * its vars, never the file its shape. */
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define VARS_MAX ((size_t)8 << 20)
#define JSON_DEPTH 64

struct lg_timeline {
  int fd;
  char *vars_url; /* NULL: no service */
  uint64_t interval_ns;
  long timeout_ms;
  lg_tl_source source;
  void *ud;
  pthread_t thread;
  pthread_mutex_t lock; /* guards stop, with cond */
  pthread_cond_t cond;
  bool stop;
  unsigned lines; /* written by the thread; read after the join */
};

static const char *const phase_names[LG_TL_COUNT] = {
    [LG_TL_BASELINE] = "baseline", [LG_TL_RAMP] = "ramp",
    [LG_TL_PLATEAU] = "plateau",   [LG_TL_HOLD] = "hold",
    [LG_TL_DRAIN] = "drain",       [LG_TL_DRAINED] = "drained",
};

const char *lg_tl_phase_name(lg_tl_phase p)
{
  return (unsigned)p < LG_TL_COUNT ? phase_names[p] : "unknown";
}

int lg_timeline_line(FILE *f, double t, const lg_tl_sample *s, const char *vars,
                     size_t vars_len)
{
  int rc = 0;
  json_object *obj = NULL;
  while (vars != NULL && vars_len > 0 &&
         (vars[vars_len - 1] == '\n' || vars[vars_len - 1] == '\r' ||
          vars[vars_len - 1] == ' ' || vars[vars_len - 1] == '\t'))
    vars_len--; /* Go's expvar ends its object with a newline */
  if (vars != NULL) {
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (tok != NULL) {
      json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
      obj = json_tokener_parse_ex(tok, vars, (int)vars_len);
      /* The whole body, and an object: trailing bytes mean it was not. */
      if (obj != NULL && (json_tokener_get_parse_end(tok) != vars_len ||
                          !json_object_is_type(obj, json_type_object))) {
        json_object_put(obj);
        obj = NULL;
      }
      json_tokener_free(tok);
    }
    if (obj == NULL)
      rc = LG_EPROTO;
  }
  fprintf(f, "{\"t\": %.3f, \"phase\": \"%s\", \"vars\": ", t,
          lg_tl_phase_name(s->phase));
  if (obj != NULL)
    fputs(json_object_to_json_string_ext(
              obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
          f);
  else
    fputs("null", f);
  fprintf(f,
          ", \"loadgen\": {\"connected\": %llu, \"established_total\": %llu, "
          "\"messages\": %llu, \"errors\": %llu, \"client_rss_bytes\": "
          "%llu}}",
          (unsigned long long)s->connected,
          (unsigned long long)s->established_total,
          (unsigned long long)s->messages, (unsigned long long)s->errors,
          (unsigned long long)s->client_rss_bytes);
  json_object_put(obj);
  return rc;
}

static void sample(lg_timeline *tl)
{
  double t = (double)lg_unix_ns() / 1e9;
  npc_http_response hr = {0};
  const char *vars = NULL;
  size_t vlen = 0;
  if (tl->vars_url != NULL &&
      npc_http_get(tl->vars_url, tl->timeout_ms, VARS_MAX, &hr) == 0 &&
      hr.status == 200) {
    vars = hr.body;
    vlen = hr.len;
  }
  lg_tl_sample s;
  tl->source(tl->ud, &s);
  char *line = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&line, &len);
  if (f != NULL) {
    lg_timeline_line(f, t, &s, vars, vlen);
    fputc('\n', f);
    if (fclose(f) == 0) {
      size_t off = 0;
      while (off < len) {
        ssize_t w = write(tl->fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
          continue;
        if (w <= 0)
          break; /* a full disk costs samples, not the run */
        off += (size_t)w;
      }
      if (off == len)
        tl->lines++;
    }
    free(line);
  }
  if (tl->vars_url != NULL)
    npc_http_response_free(&hr);
}

static void *run(void *arg)
{
  lg_timeline *tl = arg;
  uint64_t next = lg_now_ns();
  pthread_mutex_lock(&tl->lock);
  while (!tl->stop) {
    pthread_mutex_unlock(&tl->lock);
    sample(tl);
    pthread_mutex_lock(&tl->lock);
    /* The next tick on the schedule; after a late sample, from now. */
    next += tl->interval_ns;
    uint64_t now = lg_now_ns();
    if (next < now)
      next = now;
    struct timespec until = npc_ns_timespec((int64_t)next);
    while (!tl->stop &&
           pthread_cond_timedwait(&tl->cond, &tl->lock, &until) == 0)
      ;
  }
  pthread_mutex_unlock(&tl->lock);
  sample(tl); /* the last word: the drained state */
  return NULL;
}

int lg_timeline_start(lg_timeline **out, const char *path, const char *vars_url,
                      uint64_t interval_ns, lg_tl_source source, void *ud)
{
  lg_timeline *tl = calloc(1, sizeof *tl);
  if (tl == NULL)
    return -ENOMEM;
  tl->fd =
      open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0666);
  if (tl->fd < 0) {
    int e = errno;
    free(tl);
    return -e;
  }
  if (vars_url != NULL && (tl->vars_url = strdup(vars_url)) == NULL) {
    close(tl->fd);
    free(tl);
    return -ENOMEM;
  }
  tl->interval_ns = interval_ns;
  uint64_t ms = interval_ns / 1000000;
  tl->timeout_ms = ms < 1000 ? 1000 : ms > 5000 ? 5000 : (long)ms;
  tl->source = source;
  tl->ud = ud;
  pthread_mutex_init(&tl->lock, NULL);
  npc_cond_init_monotonic(&tl->cond);
  int rc = pthread_create(&tl->thread, NULL, run, tl);
  if (rc != 0) {
    pthread_cond_destroy(&tl->cond);
    pthread_mutex_destroy(&tl->lock);
    free(tl->vars_url);
    close(tl->fd);
    free(tl);
    return -rc;
  }
  *out = tl;
  return 0;
}

unsigned lg_timeline_stop(lg_timeline *tl)
{
  if (tl == NULL)
    return 0;
  pthread_mutex_lock(&tl->lock);
  tl->stop = true;
  pthread_cond_signal(&tl->cond);
  pthread_mutex_unlock(&tl->lock);
  pthread_join(tl->thread, NULL);
  unsigned n = tl->lines;
  pthread_cond_destroy(&tl->cond);
  pthread_mutex_destroy(&tl->lock);
  free(tl->vars_url);
  close(tl->fd);
  free(tl);
  return n;
}
