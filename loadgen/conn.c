/* One HTTP/2 connection holding K gRPC streams (users), on a worker's loop.
 *
 * nghttp2 does the protocol (SETTINGS, flow control, PING ACKs, GOAWAY,
 * RST_STREAM); this file moves bytes between it and a libuv TCP handle and
 * turns nghttp2's callbacks into per-user state and counters.
 *
 * Memory per connection is what bounds the number of users, so: reads go
 * through the worker's shared buffer (nghttp2 consumes them synchronously),
 * writes go out with uv_try_write straight from the worker's scratch buffer,
 * and only the unwritten tail of a partial write is copied to the heap.
 * While that tail is in flight nothing more is pulled from nghttp2, which
 * keeps the output queue inside nghttp2 and bounded by its flow control.
 *
 * nghttp2 must not be destroyed from inside its own callbacks, so they only
 * change per-stream state (or submit RST_STREAM); the connection is torn
 * down by the callers of nghttp2_session_mem_recv/mem_send, after they
 * return. */
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RETRY_BASE_NS 100000000ull /* 100 ms */
#define RETRY_MAX_NS 5000000000ull /* 5 s */
#define CONNECT_PATH "/notifier.Notifier/Connect"

static void conn_fail(lg_conn *c, lg_cause cause);
static void conn_flush(lg_conn *c);
static void conn_submit(lg_conn *c, lg_stream *s);
static void on_timer(uv_timer_t *t);

void lg_grpc_headers(nghttp2_nv *nv, const char *path, const char *authority,
                     uint8_t flags)
{
  const char *pairs[LG_GRPC_NHEADERS][2] = {
      {":method", "POST"},
      {":scheme", "http"},
      {":path", path},
      {":authority", authority},
      {"content-type", "application/grpc"},
      {"te", "trailers"},
      {"user-agent", "loadgen/" LG_VERSION},
  };
  for (int i = 0; i < LG_GRPC_NHEADERS; i++)
    nv[i] = (nghttp2_nv){(uint8_t *)pairs[i][0], (uint8_t *)pairs[i][1],
                         strlen(pairs[i][0]), strlen(pairs[i][1]), flags};
}

static void count_error(lg_worker *w, lg_cause cause)
{
  atomic_fetch_add_explicit(&w->counters.errors[cause], 1,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&w->counters.failures, 1, memory_order_relaxed);
}

/* A stream's attempt ended in failure: count it once, then either schedule
 * a retry or give the user up. */
static void stream_fail(lg_stream *s, lg_cause cause)
{
  lg_conn *c = s->conn;
  lg_worker *w = c->w;
  if (s->state == LG_STREAM_OPEN)
    atomic_fetch_sub_explicit(&w->counters.established, 1,
                              memory_order_relaxed);
  count_error(w, cause);
  s->id = 0;
  s->sent = 0;
  lg_deframer_reset(&s->deframer);
  if (w->o->reconnect && !w->draining) {
    s->state = LG_STREAM_RETRY;
    s->retry_at_ns =
        lg_now_ns() + lg_backoff_ns(s->attempt, RETRY_BASE_NS, RETRY_MAX_NS,
                                    lg__worker_random(w));
    if (s->attempt < 255)
      s->attempt++;
    c->nretry++;
  } else {
    s->state = LG_STREAM_FAILED;
  }
}

static lg_stream *stream_of(nghttp2_session *session, int32_t id)
{
  return nghttp2_session_get_stream_user_data(session, id);
}

/* ---- nghttp2 callbacks ---------------------------------------------- */

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf,
                         size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
  (void)session, (void)id, (void)ud;
  lg_stream *s = src->ptr;
  lg_worker *w = s->conn->w;
  /* The body is rebuilt from the user index on each call rather than kept
   * per stream: it is tiny, and 100,000 copies of it would not be. */
  char user[256];
  snprintf(user, sizeof user, "%s%u", w->o->user_prefix, s->user);
  uint8_t body[300];
  int n = lg_connect_request_encode(body, sizeof body, user);
  if (n < 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  size_t left = (size_t)n - s->sent;
  if (left > length)
    left = length; /* flow control window smaller than the body */
  memcpy(buf, body + s->sent, left);
  s->sent += (uint8_t)left;
  if (s->sent == n)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)left;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *ud)
{
  (void)flags;
  lg_conn *c = ud;
  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  lg_stream *s = stream_of(session, frame->hd.stream_id);
  if (s == NULL)
    return 0;
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    int v = 0;
    for (size_t i = 0; i < valuelen && i < 4; i++)
      v = v * 10 + (value[i] >= '0' && value[i] <= '9' ? value[i] - '0' : 0);
    s->http_status = (int16_t)v;
  } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
    int v = 0;
    for (size_t i = 0; i < valuelen && i < 4; i++)
      v = v * 10 + (value[i] >= '0' && value[i] <= '9' ? value[i] - '0' : 0);
    s->grpc_status = (int16_t)v;
  } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
    snprintf(c->w->detail, sizeof c->w->detail, "grpc-message: %.*s",
             (int)(valuelen > 120 ? 120 : valuelen), (const char *)value);
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                         void *ud)
{
  lg_conn *c = ud;
  lg_worker *w = c->w;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS: {
    lg_stream *s = stream_of(session, frame->hd.stream_id);
    if (s == NULL || s->state != LG_STREAM_PENDING ||
        frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
      break;
    /* Established: the server answered 200 and keeps the stream open. A
     * response that ends the stream here (Trailers-Only) is a refusal,
     * judged when the stream closes. */
    if (s->http_status == 200 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      s->state = LG_STREAM_OPEN;
      s->attempt = 0;
      c->attempt = 0;
      uint64_t us = (lg_now_ns() - s->start_ns) / 1000;
      lg_hist_record(&w->connect_hist, us);
      atomic_fetch_add_explicit(&w->counters.established, 1,
                                memory_order_relaxed);
      atomic_fetch_add_explicit(&w->counters.established_total, 1,
                                memory_order_relaxed);
    }
    break;
  }
  case NGHTTP2_RST_STREAM: {
    lg_stream *s = stream_of(session, frame->hd.stream_id);
    if (s != NULL)
      s->got_rst = 1;
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
  lg_stream *s = ud;
  lg_worker *w = s->conn->w;
  lg_notification n;
  int rc = lg_notification_decode(msg, len, w->o->max_message, &n);
  if (rc != 0)
    return rc;
  s->notifications++;
  atomic_fetch_add_explicit(&w->counters.notifications, 1,
                            memory_order_relaxed);
  /* Both clocks read together, so that for one notification the broadcast
   * latency (from before Publish was written) is never below its delivery
   * latency (from the server's hand-off to gRPC) but for clock noise. */
  uint64_t mono = lg_now_ns();
  int64_t now = (int64_t)lg_unix_ns();
  if (n.tagged)
    lg_hist_record(&w->broadcast_hist,
                   (mono > n.bcast_t0_ns ? mono - n.bcast_t0_ns : 0) / 1000);
  if (n.sent_unix_nanos > 0) {
    int64_t d = now - n.sent_unix_nanos;
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
  (void)flags, (void)ud;
  lg_stream *s = stream_of(session, id);
  if (s == NULL || s->bad_msg)
    return 0;
  int rc = lg_deframer_feed(&s->deframer, data, len, s->conn->w->o->max_message,
                            on_message, s);
  if (rc != 0) {
    snprintf(s->conn->w->detail, sizeof s->conn->w->detail, "stream %d: %s", id,
             lg_strerror(rc));
    s->bad_msg = 1;
    lg_deframer_reset(&s->deframer);
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id,
                              NGHTTP2_INTERNAL_ERROR);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id,
                           uint32_t error_code, void *ud)
{
  lg_conn *c = ud;
  lg_stream *s = stream_of(session, id);
  if (s == NULL || s->id != id)
    return 0;
  if (c->w->draining) {
    if (s->state == LG_STREAM_OPEN)
      atomic_fetch_sub_explicit(&c->w->counters.established, 1,
                                memory_order_relaxed);
    s->state = LG_STREAM_CLOSED;
    s->id = 0;
    lg_deframer_reset(&s->deframer);
    return 0;
  }
  lg_cause cause;
  if (s->bad_msg)
    cause = LG_CAUSE_BAD_MESSAGE;
  else if (error_code == NGHTTP2_REFUSED_STREAM && c->goaway)
    cause = LG_CAUSE_GOAWAY;
  else if (s->got_rst)
    cause = LG_CAUSE_RESET;
  else if (error_code != NGHTTP2_NO_ERROR)
    cause = c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_PROTOCOL;
  else if (s->http_status != 200)
    cause = LG_CAUSE_HTTP_STATUS;
  else if (s->grpc_status > 0)
    cause = LG_CAUSE_GRPC_STATUS;
  else
    cause = LG_CAUSE_ENDED;
  if (cause == LG_CAUSE_GRPC_STATUS && c->w->detail[0] == '\0')
    snprintf(c->w->detail, sizeof c->w->detail, "grpc-status %d",
             s->grpc_status);
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

void lg_conn_mem_init(lg_worker *w)
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

int lg_conn_callbacks_new(nghttp2_session_callbacks **out)
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
  c->writing = false;
  on_tcp_closed(c->w, c);
}

/* Closes the TCP handle and the session; streams must have been settled. */
static void conn_close_tcp(lg_conn *c)
{
  if (c->state == LG_CONN_CLOSING || c->state == LG_CONN_DONE ||
      c->state == LG_CONN_IDLE || c->state == LG_CONN_BACKOFF)
    return;
  if (c->session != NULL) {
    nghttp2_session_del(c->session);
    c->session = NULL;
  }
  uv_timer_stop(&c->timer);
  c->state = LG_CONN_CLOSING;
  /* Cancels a pending connect or write; their callbacks run first, with
   * UV_ECANCELED, and on_tcp_close last. */
  uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
}

/* The connection is lost: every stream riding on it fails with cause. */
static void conn_fail(lg_conn *c, lg_cause cause)
{
  if (c->state == LG_CONN_CLOSING || c->state == LG_CONN_DONE)
    return;
  if (!c->w->draining) {
    for (uint32_t i = 0; i < c->nstreams; i++) {
      lg_stream *s = &c->streams[i];
      if (s->state == LG_STREAM_READY || s->state == LG_STREAM_PENDING ||
          s->state == LG_STREAM_OPEN)
        stream_fail(s, cause);
    }
  }
  conn_close_tcp(c);
}

static void on_write(uv_write_t *req, int status)
{
  lg_conn *c = req->data;
  free(c->wbuf);
  c->wbuf = NULL;
  c->writing = false;
  if (status == UV_ECANCELED || c->state != LG_CONN_OPEN)
    return;
  if (status < 0) {
    conn_fail(c, LG_CAUSE_CONN_CLOSED);
    return;
  }
  conn_flush(c);
}

/* Writes len bytes: directly if the socket takes them, else copies the
 * unwritten tail (and the extra chunk, if any) and queues one uv_write.
 * Returns false if the connection failed. */
static bool write_out(lg_conn *c, const uint8_t *a, size_t alen,
                      const uint8_t *b, size_t blen)
{
  size_t done = 0;
  if (alen > 0) {
    uv_buf_t buf = uv_buf_init((char *)a, (unsigned)alen);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (r < 0 && r != UV_EAGAIN) {
      conn_fail(c, LG_CAUSE_CONN_CLOSED);
      return false;
    }
    done = r > 0 ? (size_t)r : 0;
    if (done == alen && blen == 0)
      return true;
  }
  size_t rest = alen - done + blen;
  c->wbuf = malloc(rest);
  if (c->wbuf == NULL) {
    conn_fail(c, LG_CAUSE_PROTOCOL);
    return false;
  }
  memcpy(c->wbuf, a + done, alen - done);
  if (blen > 0)
    memcpy(c->wbuf + alen - done, b, blen);
  uv_buf_t buf = uv_buf_init((char *)c->wbuf, (unsigned)rest);
  c->write_req.data = c;
  int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
  if (r < 0) {
    free(c->wbuf);
    c->wbuf = NULL;
    conn_fail(c, LG_CAUSE_CONN_CLOSED);
    return false;
  }
  c->writing = true;
  return true;
}

/* Gathers whatever nghttp2 wants to send into the worker's scratch buffer
 * and writes it in one go. */
static void conn_flush(lg_conn *c)
{
  lg_worker *w = c->w;
  if (c->writing || c->session == NULL || c->state != LG_CONN_OPEN)
    return;
  size_t used = 0;
  for (;;) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->session, &data);
    if (n < 0) {
      snprintf(w->detail, sizeof w->detail, "nghttp2: %s",
               nghttp2_strerror((int)n));
      conn_fail(c, LG_CAUSE_PROTOCOL);
      return;
    }
    if (n == 0)
      break;
    if (used + (size_t)n > sizeof w->scratch) {
      /* data is valid only until the next mem_send: write both now. */
      write_out(c, w->scratch, used, data, (size_t)n);
      return;
    }
    memcpy(w->scratch + used, data, (size_t)n);
    used += (size_t)n;
  }
  if (used > 0 && !write_out(c, w->scratch, used, NULL, 0))
    return;
  if (!c->writing && !nghttp2_session_want_read(c->session) &&
      !nghttp2_session_want_write(c->session)) {
    /* Both sides are done with the session: our GOAWAY after the drain or
     * after a protocol error nghttp2 found, or the server's GOAWAY with no
     * streams left. */
    conn_fail(c, c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_PROTOCOL);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)suggested;
  lg_conn *c = h->data;
  *buf = uv_buf_init((char *)c->w->rbuf, sizeof c->w->rbuf);
}

static void arm_retry_timer(lg_conn *c)
{
  if (c->nretry == 0 || c->state != LG_CONN_OPEN || c->w->draining)
    return;
  uint64_t next = UINT64_MAX;
  for (uint32_t i = 0; i < c->nstreams; i++)
    if (c->streams[i].state == LG_STREAM_RETRY &&
        c->streams[i].retry_at_ns < next)
      next = c->streams[i].retry_at_ns;
  uint64_t now = lg_now_ns();
  uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
  uv_timer_start(&c->timer, on_timer, ms, 0);
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
    conn_fail(c, c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_CONN_CLOSED);
    return;
  }
  ssize_t rv = nghttp2_session_mem_recv(c->session, (const uint8_t *)buf->base,
                                        (size_t)nread);
  if (rv < 0) {
    snprintf(c->w->detail, sizeof c->w->detail, "nghttp2: %s",
             nghttp2_strerror((int)rv));
    conn_fail(c, LG_CAUSE_PROTOCOL);
    return;
  }
  conn_flush(c);
  if (c->state == LG_CONN_OPEN && c->nretry > 0 &&
      !uv_is_active((uv_handle_t *)&c->timer))
    arm_retry_timer(c);
}

static void conn_submit(lg_conn *c, lg_stream *s)
{
  lg_worker *w = c->w;
  if (s->state == LG_STREAM_RETRY) {
    c->nretry--;
    s->start_ns = lg_now_ns();
  }
  const lg_options *o = w->o;
  nghttp2_nv hdrs[LG_GRPC_NHEADERS];
  lg_grpc_headers(hdrs, CONNECT_PATH, o->authority,
                  NGHTTP2_NV_FLAG_NO_COPY_NAME);
  nghttp2_data_provider prd = {.source = {.ptr = s},
                               .read_callback = read_body};
  s->sent = 0;
  s->got_rst = 0;
  s->bad_msg = 0;
  s->http_status = 0;
  s->grpc_status = -1;
  int32_t id = nghttp2_submit_request(c->session, NULL, hdrs,
                                      sizeof hdrs / sizeof hdrs[0], &prd, s);
  if (id < 0) {
    /* Stream ids exhausted or the server said GOAWAY: wait for a new
     * connection. */
    s->state = LG_STREAM_PENDING;
    stream_fail(s, c->goaway ? LG_CAUSE_GOAWAY : LG_CAUSE_PROTOCOL);
    return;
  }
  s->id = id;
  s->state = LG_STREAM_PENDING;
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
  uv_timer_stop(&c->timer);
  int rc;
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
  /* No push; a 1 MiB stream window so that a burst of broadcasts is not
   * throttled by per-stream WINDOW_UPDATE round trips. */
  /* No HPACK dynamic table from the server either: its entries would be
   * copied into every connection's inflater. */
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0},
  };
  nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 3);
  nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                        16 << 20);
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r < 0) {
    conn_fail(c, LG_CAUSE_CONNECT);
    return;
  }
  uint64_t now = lg_now_ns();
  for (uint32_t i = 0; i < c->nstreams; i++) {
    lg_stream *s = &c->streams[i];
    if (s->state == LG_STREAM_READY ||
        (s->state == LG_STREAM_RETRY && s->retry_at_ns <= now))
      conn_submit(c, s);
  }
  conn_flush(c);
  arm_retry_timer(c);
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
      if (c->streams[i].state == LG_STREAM_READY)
        stream_fail(&c->streams[i], LG_CAUSE_CONNECT);
    return;
  }
  c->state = LG_CONN_CONNECTING;
  w->live++;
  uv_tcp_nodelay(&c->tcp, 1);
  if (w->naddrs > 1 && o->addr.ss_family == AF_INET) {
    /* Spread over 127.0.0.1..N: each source address has its own ephemeral
     * ports. IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(),
     * where the kernel can reuse a port for a different destination. */
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + c->index % w->naddrs);
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
    snprintf(c->w->detail, sizeof c->w->detail, "connect timed out");
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
        if (s->state == LG_STREAM_RETRY && s->retry_at_ns <= now)
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

lg_conn *lg_conn_new(lg_worker *w, uint32_t idx)
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
    c->streams[i].conn = c;
    c->streams[i].user = (uint32_t)(first + i);
    c->streams[i].grpc_status = -1;
    lg_deframer_init(&c->streams[i].deframer);
  }
  uv_timer_init(&w->loop, &c->timer);
  c->timer.data = c;
  c->timer_inited = true;
  return c;
}

void lg_conn_grant(lg_conn *c, lg_stream *s)
{
  s->state = LG_STREAM_READY;
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
  case LG_CONN_CLOSING:
  case LG_CONN_BACKOFF:
    break; /* submitted when the (next) connection is up */
  }
}

/* The TCP handle has closed: decide whether the connection comes back. */
static void on_tcp_closed(lg_worker *w, lg_conn *c)
{
  w->live--;
  c->state = LG_CONN_DONE;
  if (!w->draining) {
    bool ready = false, retry = false;
    for (uint32_t i = 0; i < c->nstreams; i++) {
      ready |= c->streams[i].state == LG_STREAM_READY;
      retry |= c->streams[i].state == LG_STREAM_RETRY;
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

void lg_conn_drain(lg_conn *c)
{
  for (uint32_t i = 0; i < c->nstreams; i++) {
    lg_stream *s = &c->streams[i];
    if (s->state == LG_STREAM_RETRY)
      c->nretry--;
    if (s->state == LG_STREAM_OPEN && c->session != NULL)
      nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
                                NGHTTP2_CANCEL);
  }
  switch ((lg_conn_state)c->state) {
  case LG_CONN_OPEN:
    /* RST_STREAM for each stream, then GOAWAY: the server learns at once
     * that the users left, instead of finding out from a dead socket. */
    nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
    conn_flush(c);
    break;
  case LG_CONN_CONNECTING:
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

void lg_conn_force_close(lg_conn *c)
{
  if (c->state == LG_CONN_OPEN || c->state == LG_CONN_CONNECTING)
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
    lg_deframer_reset(&c->streams[i].deframer);
  free(c->wbuf);
  free(c);
}

void lg_conn_close_timer(lg_conn *c)
{
  if (c->timer_inited) {
    c->timer_inited = false;
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
  }
}
