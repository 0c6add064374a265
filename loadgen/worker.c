/* One worker: a thread running one libuv loop over a contiguous share of the
 * plan's connections. The main thread talks to it only through atomics
 * (counters, commands) and one uv_async_t; everything else is touched by the
 * worker thread alone, and the histograms are read after the join.
 *
 * For unary methods the worker also runs its share of the call schedule
 * (pacer.c): a timer wakes it at the millisecond tick when the next call is
 * due, and every call due by then goes out at once on the next connection
 * that can carry it, as long as a slot of the --concurrency pool is free,
 * with one write per connection per tick. A call that waits for a slot, a
 * connection or the tick keeps its due time, so the wait is in its
 * latency. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker.h"

#define SWEEP_MS 50 /* how often calls are checked against --call-timeout */

static void ramp_tick(uv_timer_t *t);
static void dispatch(lg_worker *w);

uint32_t lg__worker_random(lg_worker *w)
{
  /* xorshift32: jitter only, no need for quality. */
  uint32_t x = w->rnd;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  w->rnd = x;
  return x;
}

static lg_stream *user_stream(lg_worker *w, uint64_t u, lg_conn **conn)
{
  const lg_options *o = w->o;
  uint64_t global = (uint64_t)w->first_conn * o->streams_per_conn + u;
  uint32_t ci = (uint32_t)(global / o->streams_per_conn) - w->first_conn;
  if (w->conns[ci] == NULL) {
    w->conns[ci] = lg__conn_new(w, w->first_conn + ci);
    if (w->conns[ci] == NULL)
      return NULL;
  }
  *conn = w->conns[ci];
  return &w->conns[ci]->streams[global % o->streams_per_conn];
}

/* Grants streams as the token bucket allows, keeping at most max_pending TCP
 * connects in flight: a burst of SYNs beyond the server's accept backlog
 * would be dropped and retried a whole second later, which is what a ramp
 * is meant to avoid. */
static void ramp(lg_worker *w)
{
  if (w->draining)
    return;
  uint64_t now = lg_now_ns();
  while (w->next_user < w->nusers) {
    lg_conn *c;
    lg_stream *s = user_stream(w, w->next_user, &c);
    if (s == NULL) {
      snprintf(w->detail, sizeof w->detail, "out of memory at user %llu",
               (unsigned long long)w->next_user);
      w->next_user = w->nusers;
      break;
    }
    bool needs_connect = c->state == LG_CONN_IDLE || c->state == LG_CONN_DONE;
    if (needs_connect && w->connecting >= w->o->max_pending)
      return; /* on_connect kicks us */
    if (lg_ramp_take(&w->ramp, now, 1) == 0) {
      uint64_t ns = lg_ramp_wait_ns(&w->ramp, now);
      uint64_t ms = (ns + 999999) / 1000000;
      uv_timer_start(&w->ramp_timer, ramp_tick, ms ? ms : 1, 0);
      return;
    }
    w->next_user++;
    lg__conn_grant(c, s);
  }
}

static void ramp_tick(uv_timer_t *t)
{
  ramp(t->data);
}

void lg__worker_kick(lg_worker *w)
{
  if (!w->draining && w->next_user < w->nusers &&
      !uv_is_active((uv_handle_t *)&w->ramp_timer))
    uv_timer_start(&w->ramp_timer, ramp_tick, 0, 0);
}

void lg__worker_fatal(lg_worker *w, const char *msg)
{
  if (atomic_load_explicit(&w->counters.fatal, memory_order_relaxed))
    return;
  snprintf(w->fatal_msg, sizeof w->fatal_msg, "%s", msg);
  atomic_store_explicit(&w->counters.fatal, true, memory_order_release);
}

/* ---- unary calls ------------------------------------------------------- */

static void on_call_timer(uv_timer_t *t)
{
  dispatch(t->data);
}

static void check_calls_done(lg_worker *w)
{
  bool over =
      w->calls_stopped || (w->calling && w->pacer.next >= w->pacer.count);
  if (over && w->inflight == 0 &&
      !atomic_load_explicit(&w->counters.calls_done, memory_order_relaxed)) {
    if (!w->calls_stopped) {
      /* Every call of the schedule was made. */
      atomic_store_explicit(&w->counters.calls_scheduled, w->pacer.count,
                            memory_order_relaxed);
    }
    uv_timer_stop(&w->sweep_timer);
    atomic_store_explicit(&w->counters.calls_done, true, memory_order_release);
  }
}

void lg__worker_call_done(lg_worker *w, lg_call *call)
{
  call->rpc.state = 0;
  call->next_free = w->free_call;
  w->free_call = (uint32_t)(call - w->calls);
  w->inflight--;
  /* Called from inside nghttp2's callbacks: more calls go out from the
   * loop, not from here (nghttp2 must not be re-entered to send). Only
   * when a due call waits for this slot: otherwise the timer for the next
   * due call is set already, and waking the loop per reply would cost
   * more than the calls (at 20,000/s, most of the client's CPU). */
  if (w->calls_blocked && w->calling && !w->calls_stopped && !w->draining)
    uv_timer_start(&w->call_timer, on_call_timer, 0, 0);
  check_calls_done(w);
}

void lg__worker_calls_resume(lg_worker *w)
{
  if (w->calling && !w->calls_stopped && !w->draining &&
      !uv_is_active((uv_handle_t *)&w->call_timer))
    uv_timer_start(&w->call_timer, on_call_timer, 0, 0);
}

/* The next connection able to carry a call, round robin. */
static lg_conn *pick_conn(lg_worker *w)
{
  for (uint32_t k = 0; k < w->nconns; k++) {
    uint32_t i = (w->rr_conn + k) % w->nconns;
    lg_conn *c = w->conns[i];
    if (c != NULL && lg__conn_callable(c)) {
      w->rr_conn = i + 1;
      return c;
    }
  }
  return NULL;
}

/* Starts every call that is due, while slots and connections allow, then
 * sleeps until the next is due. Latency counts from the due time whatever
 * held a call up; the timer's millisecond resolution can add up to about
 * 1 ms to it, as wrk2's does. */
static void dispatch(lg_worker *w)
{
  if (!w->calling || w->calls_stopped || w->draining)
    return;
  uint64_t now = lg_now_ns(), due;
  w->calls_blocked = false;
  while (lg_pacer_ready(&w->pacer, now, &due)) {
    if (w->free_call == LG_NO_CALL) {
      w->calls_blocked = true; /* a call's end dispatches again */
      break;
    }
    lg_conn *c = pick_conn(w);
    if (c == NULL) {
      w->calls_blocked = true; /* a connection's SETTINGS dispatch again */
      break;
    }
    lg_call *call = &w->calls[w->free_call];
    w->free_call = call->next_free;
    call->rpc.state = 1;
    call->due_ns = due;
    w->inflight++;
    lg_pacer_advance(&w->pacer);
    lg__conn_call(c, call);
  }
  /* One write per connection for everything submitted above. */
  for (uint32_t i = 0; i < w->ndirty; i++)
    lg__conn_flush(w->dirty[i]);
  w->ndirty = 0;
  /* Due now but held up (no slot, no connection): what frees one calls
   * dispatch again. Otherwise the timer, for the next millisecond tick at
   * which a call is due (the next tick if one fell due while these went
   * out: lg_pacer_sleep_ms). */
  uint64_t ms = lg_pacer_sleep_ms(&w->pacer, lg_now_ns());
  if (ms == UINT64_MAX)
    check_calls_done(w);
  else if (!w->calls_blocked)
    uv_timer_start(&w->call_timer, on_call_timer, ms, 0);
}

static void on_sweep(uv_timer_t *t)
{
  lg_worker *w = t->data;
  uint64_t now = lg_now_ns();
  for (uint32_t i = 0; i < w->ncalls; i++) {
    lg_call *call = &w->calls[i];
    if (call->rpc.state != 0 && call->rpc.id != 0 &&
        now - call->sent_ns > w->o->call_timeout_ns)
      lg__conn_call_timeout(call);
  }
}

static void calls_begin(lg_worker *w)
{
  uint64_t start =
      atomic_load_explicit(&w->calls_start_ns, memory_order_relaxed);
  uint64_t total = atomic_load_explicit(&w->calls_total, memory_order_relaxed);
  lg_pacer_init(&w->pacer, w->o->rps, total, w->id, w->o->threads, start);
  w->calling = true;
  uv_timer_start(&w->sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
  dispatch(w);
}

static void calls_end(lg_worker *w)
{
  uint64_t stop = atomic_load_explicit(&w->calls_stop_ns, memory_order_relaxed);
  w->calls_stopped = true;
  uv_timer_stop(&w->call_timer);
  uint64_t owed = w->calling ? lg_pacer_due_before(&w->pacer, stop) : 0;
  /* Calls started late count even when due after the stop. */
  if (w->calling && owed < w->pacer.next)
    owed = w->pacer.next;
  atomic_store_explicit(&w->counters.calls_scheduled, owed,
                        memory_order_relaxed);
  check_calls_done(w);
  if (!w->calling)
    atomic_store_explicit(&w->counters.calls_done, true, memory_order_release);
}

/* ---- lifecycle ----------------------------------------------------------- */

static void close_all(lg_worker *w)
{
  for (uint32_t i = 0; i < w->nconns; i++)
    if (w->conns[i] != NULL)
      lg__conn_close_timer(w->conns[i]);
  uv_close((uv_handle_t *)&w->ramp_timer, NULL);
  uv_close((uv_handle_t *)&w->drain_timer, NULL);
  uv_close((uv_handle_t *)&w->call_timer, NULL);
  uv_close((uv_handle_t *)&w->sweep_timer, NULL);
  uv_close((uv_handle_t *)&w->wake, NULL);
}

void lg__worker_check_finished(lg_worker *w)
{
  if (w->draining && w->live == 0 && !w->finished) {
    w->finished = true;
    close_all(w);
  }
}

static void on_drain_deadline(uv_timer_t *t)
{
  lg_worker *w = t->data;
  snprintf(w->detail, sizeof w->detail, "drain: closed %u connections by force",
           w->live);
  for (uint32_t i = 0; i < w->nconns; i++)
    if (w->conns[i] != NULL)
      lg__conn_force_close(w->conns[i]);
  lg__worker_check_finished(w);
}

/* The final tally, taken when the hold ends: which users were held, and how
 * many never got an answer at all. */
static void tally(lg_worker *w)
{
  uint32_t lo = UINT32_MAX, hi = 0;
  for (uint32_t i = 0; i < w->nconns; i++) {
    lg_conn *c = w->conns[i];
    uint32_t n = c != NULL ? c->nstreams : 0;
    if (c == NULL) {
      /* Never reached by the ramp. */
      const lg_options *o = w->o;
      uint64_t first = (uint64_t)(w->first_conn + i) * o->streams_per_conn;
      uint64_t left = o->streams - first;
      n = (uint32_t)(left < o->streams_per_conn ? left : o->streams_per_conn);
      atomic_fetch_add_explicit(&w->counters.errors[LG_CAUSE_TIMEOUT], n,
                                memory_order_relaxed);
      continue;
    }
    for (uint32_t j = 0; j < n; j++) {
      lg_stream *s = &c->streams[j];
      switch ((lg_stream_state)s->rpc.state) {
      case LG_STREAM_IDLE:
      case LG_STREAM_READY:
      case LG_STREAM_PENDING:
        atomic_fetch_add_explicit(&w->counters.errors[LG_CAUSE_TIMEOUT], 1,
                                  memory_order_relaxed);
        break;
      case LG_STREAM_OPEN:
        if (s->rpc.messages < lo)
          lo = s->rpc.messages;
        if (s->rpc.messages > hi)
          hi = s->rpc.messages;
        break;
      case LG_STREAM_RETRY:
      case LG_STREAM_FAILED:
      case LG_STREAM_CLOSED:
        break;
      }
    }
  }
  w->min_messages = lo == UINT32_MAX ? 0 : lo;
  w->max_messages = hi;
}

static void on_wake(uv_async_t *a)
{
  lg_worker *w = a->data;
  if (atomic_load_explicit(&w->calls_go, memory_order_acquire) && !w->calling &&
      !w->calls_stopped && !w->draining)
    calls_begin(w);
  if (atomic_load_explicit(&w->calls_halt, memory_order_acquire) &&
      !w->calls_stopped)
    calls_end(w);
  if (atomic_load(&w->command) != LG_CMD_DRAIN || w->draining)
    return;
  tally(w);
  w->draining = true;
  uv_timer_stop(&w->ramp_timer);
  uv_timer_stop(&w->call_timer);
  uv_timer_stop(&w->sweep_timer);
  for (uint32_t i = 0; i < w->nconns; i++)
    if (w->conns[i] != NULL)
      lg__conn_drain(w->conns[i]);
  uv_timer_start(&w->drain_timer, on_drain_deadline,
                 w->o->drain_timeout_ns / 2 / 1000000, 0);
  lg__worker_check_finished(w);
}

static void run(void *arg)
{
  lg_worker *w = arg;
  lg_ramp_init(&w->ramp, w->o->rate / w->o->threads,
               w->o->rate / w->o->threads / 100 + 1, lg_now_ns());
  ramp(w);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  atomic_store(&w->counters.done, true);
}

lg_worker *lg_worker_new(const lg_options *o, unsigned id, uint32_t first_conn,
                         uint32_t nconns)
{
  lg_worker *w = calloc(1, sizeof *w);
  if (w == NULL)
    return NULL;
  w->o = o;
  w->spec = o->spec;
  w->id = id;
  w->first_conn = first_conn;
  w->nconns = nconns;
  w->rnd = 0x9e3779b9u ^ (id * 2654435761u) ^ (uint32_t)lg_now_ns();
  if (w->rnd == 0)
    w->rnd = 1;
  uint64_t first = (uint64_t)first_conn * o->streams_per_conn;
  uint64_t last = (uint64_t)(first_conn + nconns) * o->streams_per_conn;
  if (last > o->streams)
    last = o->streams;
  w->nusers = last - first;
  lg_hist_init(&w->connect_hist);
  lg_hist_init(&w->delivery_hist);
  lg_hist_init(&w->broadcast_hist);
  lg_hist_init(&w->call_hist);
  w->naddrs = o->source_addrs;
  if (w->naddrs == 0)
    w->naddrs = 1;
  w->gbuf = w->scratch;
  w->gcap = sizeof w->scratch;
  w->free_call = LG_NO_CALL;
  w->conns = calloc(nconns ? nconns : 1, sizeof *w->conns);
  if (w->conns == NULL)
    goto fail_conns;
  w->body_cap = w->spec->body_max;
  w->body = malloc(w->body_cap);
  w->dirty = calloc(nconns ? nconns : 1, sizeof *w->dirty);
  if (w->body == NULL || w->dirty == NULL)
    goto fail_calls;
  if (w->spec->unary) {
    /* grpc-timeout lets the server give up when we do: at most 8 digits,
     * in the finest unit that fits. */
    uint64_t us = o->call_timeout_ns / 1000;
    if (us <= 99999999)
      snprintf(w->call_timeout, sizeof w->call_timeout, "%lluu",
               (unsigned long long)us);
    else
      snprintf(
          w->call_timeout, sizeof w->call_timeout, "%llum",
          (unsigned long long)(us / 1000 < 99999999 ? us / 1000 : 99999999));
    /* This worker's share of --concurrency, at least one. */
    w->ncalls = (o->concurrency + o->threads - 1) / o->threads;
    w->calls = calloc(w->ncalls, sizeof *w->calls);
    if (w->calls == NULL)
      goto fail_calls;
    for (uint32_t i = w->ncalls; i > 0; i--) {
      w->calls[i - 1].next_free = w->free_call;
      w->free_call = i - 1;
    }
  }
  if (lg__conn_callbacks_new(&w->callbacks) != 0)
    goto fail_calls;
  if (nghttp2_option_new(&w->h2opt) != 0)
    goto fail_option;
  /* Our request headers are the same on every stream: for held streams,
   * sent once each, indexing them would cost each connection a deflate
   * table for a few bytes saved. Unary calls repeat them thousands of
   * times a second on few connections: there HPACK's table saves the
   * encoding of each header on every call. */
  if (!w->spec->unary)
    nghttp2_option_set_max_deflate_dynamic_table_size(w->h2opt, 0);
  lg__conn_mem_init(w);
  if (w->framebuf == NULL)
    goto fail_loop;
  if (uv_loop_init(&w->loop) != 0)
    goto fail_loop;
  uv_async_init(&w->loop, &w->wake, on_wake);
  w->wake.data = w;
  uv_timer_init(&w->loop, &w->ramp_timer);
  w->ramp_timer.data = w;
  uv_timer_init(&w->loop, &w->drain_timer);
  w->drain_timer.data = w;
  uv_timer_init(&w->loop, &w->call_timer);
  w->call_timer.data = w;
  uv_timer_init(&w->loop, &w->sweep_timer);
  w->sweep_timer.data = w;
  atomic_init(&w->command, LG_CMD_RUN);
  return w;

fail_loop:
  free(w->framebuf);
  nghttp2_option_del(w->h2opt);
fail_option:
  nghttp2_session_callbacks_del(w->callbacks);
fail_calls:
  free(w->calls);
  free(w->dirty);
  free(w->body);
  free(w->conns);
fail_conns:
  free(w);
  return NULL;
}

int lg_worker_start(lg_worker *w)
{
  return uv_thread_create(&w->thread, run, w);
}

void lg_worker_start_calls(lg_worker *w, uint64_t start_ns, uint64_t total)
{
  atomic_store_explicit(&w->calls_start_ns, start_ns, memory_order_relaxed);
  atomic_store_explicit(&w->calls_total, total, memory_order_relaxed);
  atomic_store_explicit(&w->calls_go, true, memory_order_release);
  uv_async_send(&w->wake);
}

void lg_worker_stop_calls(lg_worker *w, uint64_t stop_ns)
{
  atomic_store_explicit(&w->calls_stop_ns, stop_ns, memory_order_relaxed);
  atomic_store_explicit(&w->calls_halt, true, memory_order_release);
  uv_async_send(&w->wake);
}

void lg_worker_drain(lg_worker *w)
{
  atomic_store(&w->command, LG_CMD_DRAIN);
  uv_async_send(&w->wake);
}

int lg_worker_join(lg_worker *w, uint64_t deadline_realtime_ns)
{
  struct timespec ts = npc_ns_timespec((int64_t)deadline_realtime_ns);
  int r = pthread_timedjoin_np(w->thread, NULL, &ts);
  return r == 0 ? 0 : -r;
}

lg_counters *lg_worker_counters(lg_worker *w)
{
  return &w->counters;
}

const char *lg_worker_fatal(lg_worker *w)
{
  return atomic_load_explicit(&w->counters.fatal, memory_order_acquire)
             ? w->fatal_msg
             : "";
}

const lg_histogram *lg_worker_connect_hist(const lg_worker *w)
{
  return &w->connect_hist;
}

const lg_histogram *lg_worker_delivery_hist(const lg_worker *w)
{
  return &w->delivery_hist;
}

const lg_histogram *lg_worker_broadcast_hist(const lg_worker *w)
{
  return &w->broadcast_hist;
}

const lg_histogram *lg_worker_call_hist(const lg_worker *w)
{
  return &w->call_hist;
}

const char *lg_worker_last_detail(const lg_worker *w)
{
  return w->detail;
}

void lg_worker_message_range(const lg_worker *w, uint32_t *lo, uint32_t *hi)
{
  *lo = w->min_messages;
  *hi = w->max_messages;
}

/* Only after a successful join (the loop has closed every handle), or
 * before the start. */
void lg_worker_free(lg_worker *w)
{
  if (w == NULL)
    return;
  if (!atomic_load(&w->counters.done)) {
    /* Never started: close the handles created by _new. */
    w->draining = true;
    w->finished = true;
    close_all(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
  }
  /* Every connection was freed by its timer's close callback. */
  uv_loop_close(&w->loop);
  free(w->conns);
  free(w->calls);
  free(w->dirty);
  free(w->body);
  if (w->gbuf != w->scratch)
    free(w->gbuf);
  nghttp2_option_del(w->h2opt);
  nghttp2_session_callbacks_del(w->callbacks);
  free(w->framebuf);
  free(w);
}
