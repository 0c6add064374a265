/* One HTTP/2 connection holding K users, on a worker's loop: held server
 * streams, or unary calls made from the users' places on it.
 *
 * nghttp2 does the protocol (SETTINGS, flow control, PING ACKs, GOAWAY,
 * RST_STREAM); OpenSSL, when --tls, the records (tls.c); this file moves
 * bytes between them and a libuv TCP handle and turns nghttp2's callbacks
 * into per-user state and counters.
 *
 * Memory per connection is what bounds the number of users, so: reads go
 * through the worker's shared buffer (nghttp2 and OpenSSL consume them
 * synchronously); output is gathered in the worker's scratch buffer and
 * written with uv_try_write, and only the unwritten tail of a partial write
 * is copied to the heap. While that tail is in flight nothing more is
 * pulled from nghttp2, which keeps the output queue inside nghttp2 and
 * bounded by its flow control; the few bytes OpenSSL makes meanwhile (a
 * handshake message, an alert) wait in c->pend. The gather buffer is empty
 * between callbacks: every path that produces output ends in conn_flush.
 *
 * nghttp2 must not be destroyed from inside its own callbacks, so they only
 * change per-stream state (or submit RST_STREAM); the connection is torn
 * down by the callers of nghttp2_session_mem_recv/mem_send, after they
 * return. */
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define RETRY_BASE_NS 100000000ull /* 100 ms */
#define RETRY_MAX_NS 5000000000ull /* 5 s */
#define GATHER_MAX 65536           /* stop pulling from nghttp2 beyond */

static void conn_fail(lg_conn *c, lg_cause cause);
static void conn_flush(lg_conn *c);
static void conn_submit(lg_conn *c, lg_stream *s);
static void on_timer(uv_timer_t *t);
static void session_start(lg_conn *c);

static void count_error(lg_worker *w, lg_cause cause)
{
  atomic_fetch_add_explicit(&w->counters.errors[cause], 1,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&w->counters.failures, 1, memory_order_relaxed);
}

static void count_grpc(lg_worker *w, int code)
{
  unsigned i =
      code >= 0 && code < LG_GRPC_CODES ? (unsigned)code : LG_GRPC_CODES;
  atomic_fetch_add_explicit(&w->counters.grpc_codes[i], 1,
                            memory_order_relaxed);
}

static void user_closed(lg_conn *c, lg_stream *s)
{
  if (s->rpc.state == LG_STREAM_OPEN) {
    atomic_fetch_sub_explicit(&c->w->counters.established, 1,
                              memory_order_relaxed);
    c->nopen--;
  }
}

static void user_opened(lg_conn *c, lg_stream *s)
{
  lg_worker *w = c->w;
  s->rpc.state = LG_STREAM_OPEN;
  s->rpc.attempt = 0;
  c->attempt = 0;
  c->nopen++;
  lg_hist_record(&w->connect_hist, (lg_now_ns() - s->start_ns) / 1000);
  atomic_fetch_add_explicit(&w->counters.established, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->counters.established_total, 1,
                            memory_order_relaxed);
}

/* A user's attempt ended in failure: count it once, then either schedule
 * a retry or give the user up. A TLS failure is never retried: it is the
 * run's failure (lg__worker_fatal). */
static void stream_fail(lg_stream *s, lg_cause cause)
{
  lg_conn *c = s->rpc.conn;
  lg_worker *w = c->w;
  user_closed(c, s);
  count_error(w, cause);
  s->rpc.id = 0;
  s->rpc.sent = 0;
  lg_deframer_reset(&s->rpc.deframer);
  if (w->o->reconnect && !w->draining && cause != LG_CAUSE_TLS) {
    s->rpc.state = LG_STREAM_RETRY;
    s->retry_at_ns =
        lg_now_ns() + lg_backoff_ns(s->rpc.attempt, RETRY_BASE_NS, RETRY_MAX_NS,
                                    lg__worker_random(w));
    if (s->rpc.attempt < 255)
      s->rpc.attempt++;
    c->nretry++;
  } else {
    s->rpc.state = LG_STREAM_FAILED;
  }
}

static lg_rpc *rpc_of(nghttp2_session *session, int32_t id)
{
  return nghttp2_session_get_stream_user_data(session, id);
}

/* ---- output ------------------------------------------------------------ */

/* Appends to the gather buffer, or to c->pend while a write is in flight.
 * Returns 0 or LG_ENOMEM. */
static int out_append(lg_conn *c, const uint8_t *p, size_t n)
{
  lg_worker *w = c->w;
  if (c->writing) {
    uint8_t *b = realloc(c->pend, c->pendlen + n);
    if (b == NULL)
      return LG_ENOMEM;
    memcpy(b + c->pendlen, p, n);
    c->pend = b;
    c->pendlen += n;
    return 0;
  }
  if (w->glen + n > w->gcap) {
    size_t cap = w->gcap * 2 > w->glen + n ? w->gcap * 2 : w->glen + n;
    uint8_t *b = malloc(cap);
    if (b == NULL)
      return LG_ENOMEM;
    memcpy(b, w->gbuf, w->glen);
    if (w->gbuf != w->scratch)
      free(w->gbuf);
    w->gbuf = b;
    w->gcap = cap;
  }
  memcpy(w->gbuf + w->glen, p, n);
  w->glen += n;
  return 0;
}

static int tls_out(void *ud, const uint8_t *p, size_t n)
{
  return out_append(ud, p, n);
}

/* Points the worker's TLS io at c, with `in` to read. */
static void tls_bind(lg_conn *c, const uint8_t *in, size_t n)
{
  lg_tls_io *io = &c->w->tls_io;
  io->in = in;
  io->inlen = n;
  io->out = tls_out;
  io->out_ud = c;
}

static void gather_reset(lg_worker *w)
{
  if (w->gbuf != w->scratch)
    free(w->gbuf);
  w->gbuf = w->scratch;
  w->gcap = sizeof w->scratch;
  w->glen = 0;
}

static void on_write(uv_write_t *req, int status)
{
  lg_conn *c = req->data;
  free(c->wbuf);
  c->wbuf = NULL;
  c->writing = false;
  if (status == UV_ECANCELED || c->state == LG_CONN_CLOSING ||
      c->state == LG_CONN_DONE)
    return;
  if (status < 0) {
    conn_fail(c, LG_CAUSE_CONN_CLOSED);
    return;
  }
  conn_flush(c);
}

/* Writes the gather buffer: directly if the socket takes it all, else the
 * unwritten tail goes out with one uv_write (the heap buffer adopted when
 * it spilled, else copied). Returns false if the connection failed. */
static bool gather_write(lg_conn *c)
{
  lg_worker *w = c->w;
  size_t len = w->glen, done = 0;
  if (len == 0)
    return true;
  uv_buf_t buf = uv_buf_init((char *)w->gbuf, (unsigned)len);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
  if (r < 0 && r != UV_EAGAIN) {
    gather_reset(w);
    conn_fail(c, LG_CAUSE_CONN_CLOSED);
    return false;
  }
  done = r > 0 ? (size_t)r : 0;
  if (done == len) {
    gather_reset(w);
    return true;
  }
  uint8_t *tail;
  if (w->gbuf != w->scratch && done == 0) {
    tail = w->gbuf; /* adopt the spilled buffer */
    w->gbuf = w->scratch;
  } else {
    tail = malloc(len - done);
    if (tail == NULL) {
      gather_reset(w);
      conn_fail(c, LG_CAUSE_PROTOCOL);
      return false;
    }
    memcpy(tail, w->gbuf + done, len - done);
  }
  gather_reset(w);
  c->wbuf = tail;
  buf = uv_buf_init((char *)tail, (unsigned)(len - done));
  c->write_req.data = c;
  r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
  if (r < 0) {
    free(c->wbuf);
    c->wbuf = NULL;
    conn_fail(c, LG_CAUSE_CONN_CLOSED);
    return false;
  }
  c->writing = true;
  return true;
}

/* Gathers whatever nghttp2 wants to send (encrypted when TLS) and writes it
 * in one go, with what TLS had made before. */
static void conn_flush(lg_conn *c)
{
  lg_worker *w = c->w;
  if (c->writing)
    return; /* on_write comes back here; TLS output waits in pend */
  if (c->state != LG_CONN_OPEN && c->state != LG_CONN_HANDSHAKE) {
    gather_reset(w);
    return;
  }
  if (c->pend != NULL) {
    int rc = out_append(c, c->pend, c->pendlen);
    free(c->pend);
    c->pend = NULL;
    c->pendlen = 0;
    if (rc != 0) {
      gather_reset(w);
      conn_fail(c, LG_CAUSE_PROTOCOL);
      return;
    }
  }
  if (c->state == LG_CONN_OPEN && c->session != NULL) {
    if (c->ssl != NULL)
      tls_bind(c, NULL, 0);
    while (w->glen < GATHER_MAX) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(c->session, &data);
      if (n < 0) {
        snprintf(w->detail, sizeof w->detail, "nghttp2: %s",
                 nghttp2_strerror((int)n));
        gather_reset(w);
        conn_fail(c, LG_CAUSE_PROTOCOL);
        return;
      }
      if (n == 0)
        break;
      int rc = c->ssl != NULL ? lg__tls_write(c->ssl, data, (size_t)n)
                              : out_append(c, data, (size_t)n);
      if (rc != 0) {
        gather_reset(w);
        conn_fail(c, LG_CAUSE_PROTOCOL);
        return;
      }
    }
  }
  if (!gather_write(c))
    return;
  if (c->state == LG_CONN_OPEN && !c->writing &&
      !nghttp2_session_want_read(c->session) &&
      !nghttp2_session_want_write(c->session)) {
    /* Both sides are done with the session: our GOAWAY after the drain or
     * after a protocol error nghttp2 found, or the server's GOAWAY with no
     * streams left. TLS says goodbye too, as far as the socket takes it. */
    if (c->ssl != NULL) {
      tls_bind(c, NULL, 0);
      lg__tls_shutdown(c->ssl);
      if (!gather_write(c))
        return;
    }
    conn_fail(c, c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_PROTOCOL);
  }
}

void lg__conn_flush(lg_conn *c)
{
  c->dirty = false;
  conn_flush(c);
}

/* ---- nghttp2 callbacks ---------------------------------------------- */

/* The request of `user`, prefix included, in the worker's body buffer. */
static const uint8_t *body_of(lg_worker *w, uint32_t user, size_t *len)
{
  if (!w->body_valid || w->body_user != user) {
    const lg_template *t = w->spec->tmpl;
    size_t n = lg_template_size(t, user);
    if (n + 5 > w->body_cap)
      return NULL; /* cannot happen: body_cap is the largest user's */
    lg_template_render(t, user, w->body + 5, w->body_cap - 5);
    lg_frame_prefix(w->body, (uint32_t)n);
    w->body_len = n + 5;
    w->body_user = user;
    w->body_valid = true;
  }
  *len = w->body_len;
  return w->body;
}

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf,
                         size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
  (void)session, (void)id, (void)ud;
  lg_rpc *r = src->ptr;
  lg_worker *w = r->conn->w;
  /* Rendered from the user's number on each call rather than kept per
   * stream: 100,000 copies of a request would cost more than rendering it
   * (the last one is cached for the pieces of a large body). */
  size_t n;
  const uint8_t *body = body_of(w, r->user, &n);
  if (body == NULL)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return lg__grpc_body_piece(buf, length, body, n, &r->sent, flags);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *ud)
{
  (void)flags;
  lg_conn *c = ud;
  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  lg_rpc *r = rpc_of(session, frame->hd.stream_id);
  if (r == NULL)
    return 0;
  char m[128];
  if (lg__grpc_header_take(name, namelen, value, valuelen, &r->http_status,
                           &r->grpc_status, m, sizeof m))
    snprintf(c->w->detail, sizeof c->w->detail, "grpc-message: %s", m);
  return 0;
}

/* Unary: the server's SETTINGS have come, so the connection carries calls;
 * the users granted on it are connected. */
static void session_settled(lg_conn *c)
{
  c->settled = true;
  if (!c->w->spec->unary)
    return;
  for (uint32_t i = 0; i < c->nstreams; i++) {
    lg_stream *s = &c->streams[i];
    if (s->rpc.state == LG_STREAM_RETRY)
      c->nretry--;
    if (s->rpc.state == LG_STREAM_READY || s->rpc.state == LG_STREAM_RETRY ||
        s->rpc.state == LG_STREAM_PENDING)
      user_opened(c, s);
  }
  if (c->nopen > 0)
    lg__worker_calls_resume(c->w);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                         void *ud)
{
  lg_conn *c = ud;
  lg_worker *w = c->w;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS: {
    lg_rpc *r = rpc_of(session, frame->hd.stream_id);
    if (r == NULL || r->kind != LG_RPC_STREAM ||
        r->state != LG_STREAM_PENDING ||
        frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
      break;
    /* Established: the server answered 200 and keeps the stream open. A
     * response that ends the stream here (Trailers-Only) is a refusal,
     * judged when the stream closes. */
    if (r->http_status == 200 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
      user_opened(c, (lg_stream *)r);
    break;
  }
  case NGHTTP2_SETTINGS:
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !c->settled)
      session_settled(c);
    break;
  case NGHTTP2_RST_STREAM: {
    lg_rpc *r = rpc_of(session, frame->hd.stream_id);
    if (r != NULL)
      r->got_rst = 1;
    break;
  }
  case NGHTTP2_GOAWAY:
    c->goaway = true;
    if (frame->goaway.error_code != NGHTTP2_NO_ERROR)
      snprintf(w->detail, sizeof w->detail, "GOAWAY %s",
               nghttp2_http2_strerror(frame->goaway.error_code));
    break;
  default:
    break;
  }
  return 0;
}

static int on_message(void *ud, const uint8_t *msg, size_t len)
{
  lg_rpc *r = ud;
  lg_worker *w = r->conn->w;
  const lg_call_spec *spec = w->spec;
  lg_response_info info;
  bool stream = r->kind == LG_RPC_STREAM;
  int rc = lg_response_scan(msg, len, stream ? spec->latency_field : 0,
                            stream ? spec->tag_field : 0, &info);
  if (rc != 0)
    return rc;
  r->messages++;
  atomic_fetch_add_explicit(&w->counters.messages, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->counters.bytes, len, memory_order_relaxed);
  if (!stream)
    return 0;
  /* Both clocks read together, so that for one message the broadcast
   * latency (from before Publish was written) is never below its delivery
   * latency (from the server's hand-off to gRPC) but for clock noise. */
  uint64_t mono = lg_now_ns();
  int64_t now = (int64_t)lg_unix_ns();
  if (info.tagged)
    lg_hist_record(&w->broadcast_hist,
                   (mono > info.bcast_t0_ns ? mono - info.bcast_t0_ns : 0) /
                       1000);
  if (info.has_time && info.unix_nanos > 0) {
    int64_t d = now - info.unix_nanos;
    if (d < 0) {
      /* Sender's clock ahead of ours (another host or a clock step). */
      atomic_fetch_add_explicit(&w->counters.bad_latency, 1,
                                memory_order_relaxed);
      d = 0;
    }
    lg_hist_record(&w->delivery_hist, (uint64_t)d / 1000);
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *ud)
{
  (void)flags;
  lg_conn *c = ud;
  lg_rpc *r = rpc_of(session, id);
  if (r == NULL || r->bad_msg)
    return 0;
  int rc = lg_deframer_feed(&r->deframer, data, len, c->w->o->max_message,
                            on_message, r);
  if (rc != 0) {
    snprintf(c->w->detail, sizeof c->w->detail, "stream %d: %s", id,
             lg_strerror(rc));
    r->bad_msg = 1;
    lg_deframer_reset(&r->deframer);
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id,
                              NGHTTP2_INTERNAL_ERROR);
  }
  return 0;
}

/* Why a stream or call ended badly, from what its close says; LG_CAUSE_COUNT
 * when it ended well (status 0). */
static lg_cause close_cause(const lg_conn *c, const lg_rpc *r,
                            uint32_t error_code)
{
  if (r->timed_out)
    return LG_CAUSE_DEADLINE;
  if (r->bad_msg)
    return LG_CAUSE_BAD_MESSAGE;
  if (error_code == NGHTTP2_REFUSED_STREAM && c->goaway)
    return LG_CAUSE_GOAWAY;
  if (r->got_rst)
    return LG_CAUSE_RESET;
  if (error_code != NGHTTP2_NO_ERROR)
    return c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_PROTOCOL;
  if (r->http_status != 200)
    return LG_CAUSE_HTTP_STATUS;
  if (r->grpc_status < 0)
    return LG_CAUSE_PROTOCOL; /* no grpc-status, or not a number */
  if (r->grpc_status > 0)
    return LG_CAUSE_GRPC_STATUS;
  return LG_CAUSE_COUNT;
}

static void note_grpc_failure(lg_worker *w, const lg_rpc *r)
{
  count_grpc(w, r->grpc_status);
  if (w->detail[0] == '\0')
    snprintf(w->detail, sizeof w->detail, "grpc-status %d (%s)", r->grpc_status,
             lg_grpc_status_name(r->grpc_status));
}

static void call_finish(lg_conn *c, lg_call *call, uint32_t error_code)
{
  lg_worker *w = c->w;
  lg_rpc *r = &call->rpc;
  lg_cause cause = close_cause(c, r, error_code);
  if (cause == LG_CAUSE_COUNT && r->messages != 1)
    cause = LG_CAUSE_BAD_MESSAGE; /* a unary answer is one message */
  if (cause == LG_CAUSE_COUNT && w->draining)
    cause = LG_CAUSE_TIMEOUT;
  if (cause == LG_CAUSE_COUNT) {
    uint64_t now = lg_now_ns();
    lg_hist_record(&w->call_hist,
                   (now > call->due_ns ? now - call->due_ns : 0) / 1000);
    atomic_fetch_add_explicit(&w->counters.calls_ok, 1, memory_order_relaxed);
  } else {
    if (cause == LG_CAUSE_GRPC_STATUS)
      note_grpc_failure(w, r);
    count_error(w, cause);
    atomic_fetch_add_explicit(&w->counters.calls_failed, 1,
                              memory_order_relaxed);
  }
  c->calls--;
  lg_deframer_reset(&r->deframer);
  r->id = 0;
  lg__worker_call_done(w, call);
}

static int on_stream_close(nghttp2_session *session, int32_t id,
                           uint32_t error_code, void *ud)
{
  lg_conn *c = ud;
  lg_rpc *r = rpc_of(session, id);
  if (r == NULL || r->id != id)
    return 0;
  if (r->kind == LG_RPC_CALL) {
    call_finish(c, (lg_call *)r, error_code);
    return 0;
  }
  lg_stream *s = (lg_stream *)r;
  if (c->w->draining) {
    user_closed(c, s);
    r->state = LG_STREAM_CLOSED;
    r->id = 0;
    lg_deframer_reset(&r->deframer);
    return 0;
  }
  lg_cause cause = close_cause(c, r, error_code);
  if (cause == LG_CAUSE_COUNT)
    cause = LG_CAUSE_ENDED; /* status 0: but a held stream must not end */
  if (cause == LG_CAUSE_GRPC_STATUS)
    note_grpc_failure(c->w, r);
  stream_fail(s, cause);
  return 0;
}

static void *mem_malloc(size_t size, void *ud)
{
  lg_worker *w = ud;
  if (w->framebuf_armed && size == LG_H2_FRAMEBUF_LEN && w->framebuf != NULL) {
    w->framebuf_armed = false; /* one per session: a second chunk is real */
    return w->framebuf;
  }
  return malloc(size);
}

static void mem_free(void *ptr, void *ud)
{
  lg_worker *w = ud;
  if (ptr != w->framebuf)
    free(ptr);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
  lg_worker *w = ud;
  if (w->framebuf_armed && n == 1 && size == LG_H2_FRAMEBUF_LEN &&
      w->framebuf != NULL) {
    w->framebuf_armed = false;
    memset(w->framebuf, 0, LG_H2_FRAMEBUF_LEN);
    return w->framebuf;
  }
  return calloc(n, size);
}

static void *mem_realloc(void *ptr, size_t size, void *ud)
{
  lg_worker *w = ud;
  if (ptr == NULL) /* nghttp2_buf_init2 reserves with realloc(NULL, n) */
    return mem_malloc(size, ud);
  if (ptr == w->framebuf) {
    /* Never happens with nghttp2's buffers; be correct anyway. */
    void *p = malloc(size);
    if (p != NULL)
      memcpy(p, ptr, size < LG_H2_FRAMEBUF_LEN ? size : LG_H2_FRAMEBUF_LEN);
    return p;
  }
  return realloc(ptr, size);
}

void lg__conn_mem_init(lg_worker *w)
{
  w->h2mem = (nghttp2_mem){.mem_user_data = w,
                           .malloc = mem_malloc,
                           .free = mem_free,
                           .calloc = mem_calloc,
                           .realloc = mem_realloc};
  w->framebuf = malloc(LG_H2_FRAMEBUF_LEN);
}

/* nghttp2 answers a connection error of the server's with GOAWAY on its
 * own: say which, since the server will not. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame,
                         void *ud)
{
  (void)session;
  lg_conn *c = ud;
  if (frame->hd.type == NGHTTP2_GOAWAY &&
      frame->goaway.error_code != NGHTTP2_NO_ERROR)
    snprintf(c->w->detail, sizeof c->w->detail, "sent GOAWAY: %s",
             nghttp2_http2_strerror(frame->goaway.error_code));
  return 0;
}

int lg__conn_callbacks_new(nghttp2_session_callbacks **out)
{
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0)
    return LG_ENOMEM;
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  *out = cb;
  return 0;
}

/* ---- libuv side ------------------------------------------------------ */

static void on_tcp_closed(lg_worker *w, lg_conn *c);

static void on_tcp_close(uv_handle_t *h)
{
  lg_conn *c = h->data;
  free(c->wbuf);
  c->wbuf = NULL;
  free(c->pend);
  c->pend = NULL;
  c->pendlen = 0;
  c->writing = false;
  on_tcp_closed(c->w, c);
}

/* Every unary call riding on c fails with cause (the connection is gone:
 * nghttp2_session_del reports no stream closes). */
static void fail_calls(lg_conn *c, lg_cause cause)
{
  lg_worker *w = c->w;
  for (uint32_t i = 0; c->calls > 0 && i < w->ncalls; i++) {
    lg_call *call = &w->calls[i];
    if (call->rpc.state == 0 || call->rpc.conn != c || call->rpc.id == 0)
      continue;
    count_error(w, w->draining ? LG_CAUSE_TIMEOUT : cause);
    atomic_fetch_add_explicit(&w->counters.calls_failed, 1,
                              memory_order_relaxed);
    c->calls--;
    lg_deframer_reset(&call->rpc.deframer);
    call->rpc.id = 0;
    lg__worker_call_done(w, call);
  }
}

/* Closes the TCP handle and the session; streams must have been settled. */
static void conn_close_tcp(lg_conn *c)
{
  if (c->state == LG_CONN_CLOSING || c->state == LG_CONN_DONE ||
      c->state == LG_CONN_IDLE || c->state == LG_CONN_BACKOFF)
    return;
  /* Output gathered for this connection is moot now. */
  gather_reset(c->w);
  if (c->calls > 0)
    fail_calls(c, LG_CAUSE_CONN_CLOSED);
  /* nghttp2_session_del reports no stream closes: the users still open
   * here (the drain's, whose RST_STREAMs went out with the GOAWAY) are
   * taken off the connected count now. Outside the drain conn_fail has
   * already failed them. */
  for (uint32_t i = 0; i < c->nstreams; i++) {
    lg_stream *s = &c->streams[i];
    if (s->rpc.state == LG_STREAM_OPEN || s->rpc.state == LG_STREAM_PENDING) {
      user_closed(c, s);
      s->rpc.state = LG_STREAM_CLOSED;
      s->rpc.id = 0;
      lg_deframer_reset(&s->rpc.deframer);
    }
  }
  if (c->session != NULL) {
    nghttp2_session_del(c->session);
    c->session = NULL;
  }
  if (c->ssl != NULL) {
    lg__tls_free(c->ssl);
    c->ssl = NULL;
  }
  c->settled = false;
  uv_timer_stop(&c->timer);
  c->state = LG_CONN_CLOSING;
  /* Cancels a pending connect or write; their callbacks run first, with
   * UV_ECANCELED, and on_tcp_close last. */
  uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
}

/* The connection is lost: every user and call riding on it fails with
 * cause. */
static void conn_fail(lg_conn *c, lg_cause cause)
{
  if (c->state == LG_CONN_CLOSING || c->state == LG_CONN_DONE)
    return;
  if (!c->w->draining) {
    for (uint32_t i = 0; i < c->nstreams; i++) {
      lg_stream *s = &c->streams[i];
      if (s->rpc.state == LG_STREAM_READY ||
          s->rpc.state == LG_STREAM_PENDING || s->rpc.state == LG_STREAM_OPEN)
        stream_fail(s, cause);
    }
  }
  if (c->calls > 0)
    fail_calls(c, cause);
  conn_close_tcp(c);
}

/* A failed TLS handshake: a certificate that does not verify, or a server
 * that is no gRPC-over-TLS server, is the run's failure; a connection closed
 * mid-handshake is only this connection's. */
static void tls_fail(lg_conn *c, int rc, const char *why)
{
  lg_worker *w = c->w;
  snprintf(w->detail, sizeof w->detail, "%.159s", why);
  if (rc == -ECONNRESET) {
    conn_fail(c, LG_CAUSE_CONN_CLOSED);
    return;
  }
  lg__worker_fatal(w, why);
  conn_fail(c, LG_CAUSE_TLS);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)suggested;
  lg_conn *c = h->data;
  *buf = uv_buf_init((char *)c->w->rbuf, sizeof c->w->rbuf);
}

static void arm_retry_timer(lg_conn *c)
{
  if (c->nretry == 0 || c->state != LG_CONN_OPEN || c->w->draining ||
      c->w->spec->unary)
    return;
  uint64_t next = UINT64_MAX;
  for (uint32_t i = 0; i < c->nstreams; i++)
    if (c->streams[i].rpc.state == LG_STREAM_RETRY &&
        c->streams[i].retry_at_ns < next)
      next = c->streams[i].retry_at_ns;
  uint64_t now = lg_now_ns();
  uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Hands plaintext to nghttp2. Returns false if the connection failed. */
static bool h2_recv(lg_conn *c, const uint8_t *p, size_t n)
{
  ssize_t rv = nghttp2_session_mem_recv(c->session, p, n);
  if (rv < 0) {
    snprintf(c->w->detail, sizeof c->w->detail, "nghttp2: %s",
             nghttp2_strerror((int)rv));
    conn_fail(c, LG_CAUSE_PROTOCOL);
    return false;
  }
  return true;
}

/* TLS: the handshake, then records into nghttp2. Returns false if the
 * connection failed. */
static bool tls_recv(lg_conn *c, const uint8_t *p, size_t n)
{
  lg_worker *w = c->w;
  char why[256];
  tls_bind(c, p, n);
  if (c->state == LG_CONN_HANDSHAKE) {
    int rc = lg__tls_handshake(c->ssl, why, sizeof why);
    if (rc == 1)
      return true;
    if (rc != 0) {
      tls_fail(c, rc, why);
      return false;
    }
    session_start(c);
    if (c->state != LG_CONN_OPEN)
      return false;
    /* The records after the handshake's are still in io->in. */
  }
  for (;;) {
    int r = lg__tls_read(c->ssl, w->plain, sizeof w->plain, why, sizeof why);
    if (r == 0)
      return true;
    if (r < 0) {
      if (r != -ECONNRESET)
        snprintf(w->detail, sizeof w->detail, "%.159s", why);
      conn_fail(c, c->goaway          ? LG_CAUSE_GOAWAY
                   : r == -ECONNRESET ? LG_CAUSE_CONN_CLOSED
                                      : LG_CAUSE_PROTOCOL);
      return false;
    }
    if (!h2_recv(c, w->plain, (size_t)r))
      return false;
  }
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
  lg_conn *c = h->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    if (nread != UV_EOF)
      snprintf(c->w->detail, sizeof c->w->detail, "read: %s",
               uv_strerror((int)nread));
    if (c->state == LG_CONN_HANDSHAKE)
      snprintf(c->w->detail, sizeof c->w->detail,
               "the server closed the connection during the TLS handshake");
    conn_fail(c, c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_CONN_CLOSED);
    return;
  }
  bool ok = c->ssl != NULL
                ? tls_recv(c, (const uint8_t *)buf->base, (size_t)nread)
                : h2_recv(c, (const uint8_t *)buf->base, (size_t)nread);
  if (!ok)
    return;
  conn_flush(c);
  if (c->state == LG_CONN_OPEN && c->nretry > 0 &&
      !uv_is_active((uv_handle_t *)&c->timer))
    arm_retry_timer(c);
}

static void conn_submit(lg_conn *c, lg_stream *s)
{
  lg_worker *w = c->w;
  if (s->rpc.state == LG_STREAM_RETRY) {
    c->nretry--;
    s->start_ns = lg_now_ns();
  }
  if (w->spec->unary) {
    /* A unary user is connected once its connection carries calls. */
    s->rpc.state = LG_STREAM_PENDING;
    if (c->settled)
      user_opened(c, s);
    if (c->nopen > 0)
      lg__worker_calls_resume(w);
    return;
  }
  const lg_options *o = w->o;
  nghttp2_nv hdrs[LG_GRPC_MAX_HEADERS];
  size_t nh = lg__grpc_headers(hdrs, w->spec->path, o->authority, o->tls, NULL,
                               &o->metadata, NGHTTP2_NV_FLAG_NO_COPY_NAME);
  nghttp2_data_provider prd = {.source = {.ptr = &s->rpc},
                               .read_callback = read_body};
  s->rpc.sent = 0;
  s->rpc.got_rst = 0;
  s->rpc.bad_msg = 0;
  s->rpc.http_status = 0;
  s->rpc.grpc_status = -1;
  int32_t id =
      nghttp2_submit_request(c->session, NULL, hdrs, nh, &prd, &s->rpc);
  if (id < 0) {
    /* Stream ids exhausted or the server said GOAWAY: wait for a new
     * connection. */
    s->rpc.state = LG_STREAM_PENDING;
    stream_fail(s, c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_PROTOCOL);
    return;
  }
  s->rpc.id = id;
  s->rpc.state = LG_STREAM_PENDING;
}

/* The transport is up (TCP, and TLS when asked): start HTTP/2. */
static void session_start(lg_conn *c)
{
  lg_worker *w = c->w;
  int rc;
  uv_timer_stop(&c->timer); /* the connect (and handshake) timeout */
  w->framebuf_armed = true;
  rc = nghttp2_session_client_new3(&c->session, w->callbacks, c, w->h2opt,
                                   &w->h2mem);
  w->framebuf_armed = false;
  if (rc != 0) {
    conn_fail(c, LG_CAUSE_PROTOCOL);
    return;
  }
  c->state = LG_CONN_OPEN;
  c->goaway = false;
  c->settled = false;
  /* No push; a 1 MiB stream window so that a burst of broadcasts is not
   * throttled by per-stream WINDOW_UPDATE round trips. No HPACK dynamic
   * table from the server either: its entries would be copied into every
   * connection's inflater. */
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0},
  };
  nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 3);
  nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                        16 << 20);
  uint64_t now = lg_now_ns();
  for (uint32_t i = 0; i < c->nstreams; i++) {
    lg_stream *s = &c->streams[i];
    if (s->rpc.state == LG_STREAM_READY ||
        (s->rpc.state == LG_STREAM_RETRY && s->retry_at_ns <= now))
      conn_submit(c, s);
  }
  arm_retry_timer(c);
}

static void on_connect(uv_connect_t *req, int status)
{
  lg_conn *c = req->data;
  lg_worker *w = c->w;
  w->connecting--;
  lg__worker_kick(w);
  if (status == UV_ECANCELED || c->state != LG_CONN_CONNECTING)
    return;
  if (status < 0) {
    snprintf(w->detail, sizeof w->detail, "connect: %s", uv_strerror(status));
    conn_fail(c,
              status == UV_ECONNREFUSED ? LG_CAUSE_REFUSED : LG_CAUSE_CONNECT);
    return;
  }
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r < 0) {
    conn_fail(c, LG_CAUSE_CONNECT);
    return;
  }
  if (w->o->tls_ctx != NULL) {
    /* The connect timeout keeps running: it bounds the handshake too. */
    c->ssl = lg__tls_new(w->o->tls_ctx, &w->tls_io, w->o->sni, !w->o->insecure);
    if (c->ssl == NULL) {
      conn_fail(c, LG_CAUSE_CONNECT);
      return;
    }
    c->state = LG_CONN_HANDSHAKE;
    char why[256];
    tls_bind(c, NULL, 0);
    int rc = lg__tls_handshake(c->ssl, why, sizeof why);
    if (rc < 0) {
      tls_fail(c, rc, why);
      return;
    }
    conn_flush(c);
    return;
  }
  session_start(c);
  conn_flush(c);
}

static void conn_start(lg_conn *c)
{
  lg_worker *w = c->w;
  const lg_options *o = w->o;
  assert(c->state == LG_CONN_IDLE || c->state == LG_CONN_DONE ||
         c->state == LG_CONN_BACKOFF);
  c->tcp.data = c;
  c->connect_req.data = c;
  int r = uv_tcp_init_ex(&w->loop, &c->tcp, o->addr.ss_family);
  if (r < 0) {
    snprintf(w->detail, sizeof w->detail, "socket: %s", uv_strerror(r));
    c->state = LG_CONN_DONE;
    for (uint32_t i = 0; i < c->nstreams; i++)
      if (c->streams[i].rpc.state == LG_STREAM_READY)
        stream_fail(&c->streams[i], LG_CAUSE_CONNECT);
    return;
  }
  c->state = LG_CONN_CONNECTING;
  w->live++;
  uv_tcp_nodelay(&c->tcp, 1);
  if ((w->naddrs > 1 || o->source_first > 0) && o->addr.ss_family == AF_INET) {
    /* Spread over 127.0.0.1..N (a shard: its own range of them): each
     * source address has its own ephemeral ports. IP_BIND_ADDRESS_NO_PORT
     * defers the port choice to connect(), where the kernel can reuse a
     * port for a different destination. */
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr =
        htonl(0x7f000001u + o->source_first + c->index % w->naddrs);
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    }
    r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
    if (r < 0) {
      snprintf(w->detail, sizeof w->detail, "bind: %s", uv_strerror(r));
      conn_fail(c, LG_CAUSE_CONNECT);
      return;
    }
  }
  r = uv_tcp_connect(&c->connect_req, &c->tcp,
                     (const struct sockaddr *)&o->addr, on_connect);
  if (r < 0) {
    snprintf(w->detail, sizeof w->detail, "connect: %s", uv_strerror(r));
    conn_fail(c, LG_CAUSE_CONNECT);
    return;
  }
  w->connecting++;
  uv_timer_start(&c->timer, on_timer, o->connect_timeout_ns / 1000000, 0);
}

static void on_timer(uv_timer_t *t)
{
  lg_conn *c = t->data;
  switch ((lg_conn_state)c->state) {
  case LG_CONN_CONNECTING:
  case LG_CONN_HANDSHAKE:
    snprintf(c->w->detail, sizeof c->w->detail, "%s timed out",
             c->state == LG_CONN_CONNECTING ? "connect" : "TLS handshake");
    conn_fail(c, LG_CAUSE_CONNECT_TIMEOUT);
    break;
  case LG_CONN_BACKOFF:
    conn_start(c);
    break;
  case LG_CONN_OPEN: {
    uint64_t now = lg_now_ns();
    if (!c->goaway)
      for (uint32_t i = 0; i < c->nstreams; i++) {
        lg_stream *s = &c->streams[i];
        if (s->rpc.state == LG_STREAM_RETRY && s->retry_at_ns <= now)
          conn_submit(c, s);
      }
    conn_flush(c);
    arm_retry_timer(c);
    break;
  }
  case LG_CONN_IDLE:
  case LG_CONN_CLOSING:
  case LG_CONN_DONE:
    break;
  }
}

lg_conn *lg__conn_new(lg_worker *w, uint32_t idx)
{
  const lg_options *o = w->o;
  uint64_t first = (uint64_t)idx * o->streams_per_conn;
  uint32_t n = o->streams_per_conn;
  if (first + n > o->streams)
    n = (uint32_t)(o->streams - first);
  lg_conn *c = calloc(1, sizeof *c + (size_t)n * sizeof(lg_stream));
  if (c == NULL)
    return NULL;
  c->w = w;
  c->index = idx;
  c->nstreams = n;
  for (uint32_t i = 0; i < n; i++) {
    lg_rpc *r = &c->streams[i].rpc;
    r->conn = c;
    r->kind = LG_RPC_STREAM;
    r->user = o->user_first + (uint32_t)(first + i); /* a shard's own */
    r->grpc_status = -1;
    lg_deframer_init(&r->deframer);
  }
  uv_timer_init(&w->loop, &c->timer);
  c->timer.data = c;
  c->timer_inited = true;
  return c;
}

void lg__conn_grant(lg_conn *c, lg_stream *s)
{
  s->rpc.state = LG_STREAM_READY;
  s->start_ns = lg_now_ns();
  switch ((lg_conn_state)c->state) {
  case LG_CONN_OPEN:
    if (c->goaway) {
      stream_fail(s, LG_CAUSE_GOAWAY);
      return;
    }
    conn_submit(c, s);
    conn_flush(c);
    break;
  case LG_CONN_IDLE:
  case LG_CONN_DONE:
    conn_start(c);
    break;
  case LG_CONN_CONNECTING:
  case LG_CONN_HANDSHAKE:
  case LG_CONN_CLOSING:
  case LG_CONN_BACKOFF:
    break; /* submitted when the (next) connection is up */
  }
}

bool lg__conn_callable(const lg_conn *c)
{
  return c->state == LG_CONN_OPEN && c->settled && !c->goaway && c->nopen > 0 &&
         !c->w->draining;
}

void lg__conn_call(lg_conn *c, lg_call *call)
{
  lg_worker *w = c->w;
  const lg_options *o = w->o;
  assert(lg__conn_callable(c));
  /* The next open user of this connection makes it. */
  uint32_t u = c->rr;
  for (uint32_t k = 0; k < c->nstreams; k++, u++) {
    if (u >= c->nstreams)
      u = 0;
    if (c->streams[u].rpc.state == LG_STREAM_OPEN)
      break;
  }
  c->rr = u + 1 < c->nstreams ? u + 1 : 0;
  lg_rpc *r = &call->rpc;
  uint8_t state = r->state;
  uint32_t next = call->next_free;
  memset(r, 0, sizeof *r);
  r->state = state;
  call->next_free = next;
  r->conn = c;
  r->kind = LG_RPC_CALL;
  r->user = c->streams[u].rpc.user;
  r->grpc_status = -1;
  lg_deframer_init(&r->deframer);
  nghttp2_nv hdrs[LG_GRPC_MAX_HEADERS];
  size_t nh = lg__grpc_headers(hdrs, w->spec->path, o->authority, o->tls,
                               w->call_timeout, &o->metadata,
                               NGHTTP2_NV_FLAG_NO_COPY_NAME);
  nghttp2_data_provider prd = {.source = {.ptr = r},
                               .read_callback = read_body};
  call->sent_ns = lg_now_ns();
  atomic_fetch_add_explicit(&w->counters.calls_sent, 1, memory_order_relaxed);
  int32_t id = nghttp2_submit_request(c->session, NULL, hdrs, nh, &prd, r);
  if (id < 0) {
    count_error(w, c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_PROTOCOL);
    atomic_fetch_add_explicit(&w->counters.calls_failed, 1,
                              memory_order_relaxed);
    lg__worker_call_done(w, call);
    return;
  }
  r->id = id;
  c->calls++;
  if (!c->dirty) {
    c->dirty = true;
    w->dirty[w->ndirty++] = c;
  }
}

void lg__conn_call_timeout(lg_call *call)
{
  lg_conn *c = call->rpc.conn;
  if (call->rpc.id == 0 || call->rpc.timed_out || c->session == NULL)
    return;
  call->rpc.timed_out = 1;
  nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->rpc.id,
                            NGHTTP2_CANCEL);
  conn_flush(c);
}

/* The TCP handle has closed: decide whether the connection comes back. */
static void on_tcp_closed(lg_worker *w, lg_conn *c)
{
  w->live--;
  c->state = LG_CONN_DONE;
  if (!w->draining) {
    bool ready = false, retry = false;
    for (uint32_t i = 0; i < c->nstreams; i++) {
      ready |= c->streams[i].rpc.state == LG_STREAM_READY;
      retry |= c->streams[i].rpc.state == LG_STREAM_RETRY;
    }
    if (w->o->reconnect && (ready || retry)) {
      c->state = LG_CONN_BACKOFF;
      uint64_t d = lg_backoff_ns(c->attempt, RETRY_BASE_NS, RETRY_MAX_NS,
                                 lg__worker_random(w));
      if (c->attempt < 30)
        c->attempt++;
      uv_timer_start(&c->timer, on_timer, d / 1000000, 0);
      return;
    }
    if (ready) {
      /* Granted while the old connection was closing: first attempt. */
      conn_start(c);
      return;
    }
  }
  lg__worker_check_finished(w);
}

void lg__conn_drain(lg_conn *c)
{
  for (uint32_t i = 0; i < c->nstreams; i++) {
    lg_stream *s = &c->streams[i];
    if (s->rpc.state == LG_STREAM_RETRY)
      c->nretry--;
    if (c->w->spec->unary) {
      user_closed(c, s);
      if (s->rpc.state == LG_STREAM_OPEN || s->rpc.state == LG_STREAM_PENDING)
        s->rpc.state = LG_STREAM_CLOSED;
    } else if (s->rpc.state == LG_STREAM_OPEN && c->session != NULL) {
      nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->rpc.id,
                                NGHTTP2_CANCEL);
    }
  }
  switch ((lg_conn_state)c->state) {
  case LG_CONN_OPEN:
    /* RST_STREAM for each stream, then GOAWAY: the server learns at once
     * that the users left, instead of finding out from a dead socket. */
    nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
    conn_flush(c);
    break;
  case LG_CONN_CONNECTING:
  case LG_CONN_HANDSHAKE:
    conn_close_tcp(c);
    break;
  case LG_CONN_BACKOFF:
    uv_timer_stop(&c->timer);
    c->state = LG_CONN_DONE;
    break;
  case LG_CONN_IDLE:
  case LG_CONN_CLOSING:
  case LG_CONN_DONE:
    break;
  }
}

void lg__conn_force_close(lg_conn *c)
{
  if (c->state == LG_CONN_OPEN || c->state == LG_CONN_CONNECTING ||
      c->state == LG_CONN_HANDSHAKE)
    conn_close_tcp(c);
}

/* The timer is the connection's last handle (the TCP handle is closed
 * before the worker closes timers): its close callback frees the whole
 * connection. */
static void on_timer_close(uv_handle_t *h)
{
  lg_conn *c = h->data;
  lg_worker *w = c->w;
  w->conns[c->index - w->first_conn] = NULL;
  for (uint32_t i = 0; i < c->nstreams; i++)
    lg_deframer_reset(&c->streams[i].rpc.deframer);
  free(c->wbuf);
  free(c->pend);
  free(c);
}

void lg__conn_close_timer(lg_conn *c)
{
  if (c->timer_inited) {
    c->timer_inited = false;
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
  }
}
