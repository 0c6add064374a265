/* The Publish RPC, called from the main thread once every user is
 * connected. It is a handful of unary calls, so it runs on a blocking socket
 * with poll() and its own nghttp2 session rather than on a worker's loop:
 * the workers stay busy only with their users, and the deadline is a plain
 * poll timeout.
 *
 * Broadcasts go one at a time. Each payload is stamped with a broadcast tag
 * (message.c) holding the monotonic time just before the request is
 * serialized and written, so that every stream that receives it can measure
 * the whole path: request, the server's fan-out queue, its send, the
 * network and our read. The connection and its SETTINGS exchange are done
 * before the first stamp, so no broadcast pays for them. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/time.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h2.h"

#define PUBLISH_PATH "/notifier.Notifier/Publish"

typedef struct {
  int32_t id;
  int16_t grpc_status;
  int16_t http_status;
  bool closed;
  bool replied;
  uint64_t delivered;
  lg_deframer deframer;
  uint32_t body_len;
  uint32_t body_sent;
} call;

typedef struct {
  const lg_options *o;
  call cur; /* the one call in flight; reused, since calls do not overlap */
  uint8_t *body; /* cur's request; rewritten only once cur is closed */
  bool settled;  /* the server's SETTINGS have arrived */
  lg_publish_result *res;
} pub;

static call *call_of(nghttp2_session *s, int32_t id)
{
  return nghttp2_session_get_stream_user_data(s, id);
}

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf,
                         size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
  (void)session, (void)id;
  pub *p = ud;
  call *c = src->ptr;
  return lg__grpc_body_piece(buf, length, p->body, c->body_len, &c->body_sent,
                             flags);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *ud)
{
  (void)flags;
  pub *p = ud;
  call *c = call_of(s, f->hd.stream_id);
  if (c == NULL)
    return 0;
  char m[128];
  if (lg__grpc_header_take(name, namelen, value, valuelen, &c->http_status,
                           &c->grpc_status, m, sizeof m) &&
      p->res->error[0] == '\0')
    snprintf(p->res->error, sizeof p->res->error, "Publish: %s", m);
  return 0;
}

static int on_reply(void *ud, const uint8_t *msg, size_t len)
{
  call *c = ud;
  uint64_t d;
  if (lg_publish_reply_decode(msg, len, &d) != 0)
    return LG_EINVAL;
  c->delivered += d;
  c->replied = true;
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id,
                   const uint8_t *data, size_t len, void *ud)
{
  (void)flags;
  pub *p = ud;
  call *c = call_of(s, id);
  if (c == NULL)
    return 0;
  int rc =
      lg_deframer_feed(&c->deframer, data, len, p->o->max_message, on_reply, c);
  if (rc != 0) {
    if (p->res->error[0] == '\0')
      snprintf(p->res->error, sizeof p->res->error, "Publish reply: %s",
               lg_strerror(rc));
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    c->grpc_status = -2;
  }
  return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud)
{
  pub *p = ud;
  call *c = call_of(s, id);
  if (c == NULL || c->closed)
    return 0;
  c->closed = true;
  if (err == NGHTTP2_NO_ERROR && c->http_status == 200 && c->grpc_status == 0) {
    p->res->ok++;
    p->res->delivered += c->delivered;
  } else if (p->res->error[0] == '\0') {
    snprintf(p->res->error, sizeof p->res->error,
             "Publish: http %d, grpc-status %d, %s", c->http_status,
             c->grpc_status, nghttp2_http2_strerror(err));
  }
  return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
  (void)s;
  pub *p = ud;
  if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK))
    p->settled = true;
  return 0;
}

static int dial(const lg_options *o, uint64_t deadline_ns)
{
  int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  /* Linux bounds a blocking connect() by SO_SNDTIMEO. */
  uint64_t now = lg_now_ns(), left = deadline_ns > now ? deadline_ns - now : 1;
  struct timeval tv = {.tv_sec = (time_t)(left / 1000000000),
                       .tv_usec = (suseconds_t)(left % 1000000000 / 1000 + 1)};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
  uint64_t now = lg_now_ns();
  if (now >= deadline_ns)
    return 0;
  struct pollfd pfd = {.fd = fd, .events = events};
  int ms = (int)((deadline_ns - now) / 1000000) + 1;
  int r = poll(&pfd, 1, ms);
  return r < 0 && errno == EINTR ? 1 : r;
}

/* Writes what nghttp2 has and reads what the server sent until done(p)
 * holds. Returns 0, 1 at the deadline, or -1 on an error (in res->error). */
static int pump(pub *p, nghttp2_session *session, int fd, uint64_t deadline_ns,
                bool (*done)(const pub *))
{
  lg_publish_result *res = p->res;
  for (;;) {
    for (;;) {
      const uint8_t *data;
      ssize_t len = nghttp2_session_mem_send(session, &data);
      if (len < 0) {
        snprintf(res->error, sizeof res->error, "Publish: %s",
                 nghttp2_strerror((int)len));
        return -1;
      }
      if (len == 0)
        break;
      while (len > 0) {
        ssize_t w = send(fd, data, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
          if (wait_fd(fd, POLLOUT, deadline_ns) == 0)
            return 1;
          continue;
        }
        if (w < 0) {
          snprintf(res->error, sizeof res->error, "Publish: send: %s",
                   strerror(errno));
          return -1;
        }
        data += w;
        len -= w;
      }
    }
    if (done(p))
      return 0;
    if (wait_fd(fd, POLLIN, deadline_ns) == 0)
      return 1;
    uint8_t buf[16384];
    ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (got <= 0) {
      snprintf(res->error, sizeof res->error, "Publish: connection closed");
      return -1;
    }
    if (nghttp2_session_mem_recv(session, buf, (size_t)got) < 0) {
      snprintf(res->error, sizeof res->error, "Publish: protocol error");
      return -1;
    }
  }
}

static bool settled(const pub *p)
{
  return p->settled;
}

static bool call_closed(const pub *p)
{
  return p->cur.closed;
}

int lg_publish_run(const lg_options *o, uint32_t n, uint64_t deadline_ns,
                   lg_publish_wait_cb wait, void *ud, lg_publish_result *res)
{
  memset(res, 0, sizeof *res);
  int result = -1;
  pub p = {.o = o, .res = res};
  nghttp2_session_callbacks *cb = NULL;
  nghttp2_session *session = NULL;
  int fd = -1;
  uint8_t *payload = NULL;

  payload = malloc(o->payload_size ? o->payload_size : 1);
  size_t cap = (size_t)o->payload_size + 64;
  p.body = malloc(cap);
  if (payload == NULL || p.body == NULL) {
    snprintf(res->error, sizeof res->error, "Publish: out of memory");
    goto out;
  }
  memset(payload, 'x', o->payload_size);
  fd = dial(o, deadline_ns);
  if (fd < 0) {
    snprintf(res->error, sizeof res->error, "Publish: connect: %s",
             strerror(-fd));
    fd = -1;
    goto out;
  }
  if (nghttp2_session_callbacks_new(&cb) != 0)
    goto out;
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
  if (nghttp2_session_client_new(&session, cb, &p) != 0)
    goto out;
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, NULL, 0);
  int rc = pump(&p, session, fd, deadline_ns, settled);
  if (rc != 0)
    goto fail;
  nghttp2_nv hdrs[LG_GRPC_MAX_HEADERS];
  size_t nh = lg__grpc_headers(hdrs, PUBLISH_PATH, o->authority, false, NULL,
                               &o->metadata, NGHTTP2_NV_FLAG_NONE);
  for (uint32_t seq = 0; seq < n; seq++) {
    call *c = &p.cur;
    lg_deframer_reset(&c->deframer);
    memset(c, 0, sizeof *c);
    c->grpc_status = -1;
    lg_deframer_init(&c->deframer);
    /* The stamp, then straight to the socket: encoding and nghttp2's framing
     * of a small request take microseconds. Payloads shorter than a tag
     * carry none, and then broadcast latency is not measured. */
    lg_bcast_tag_encode(payload, o->payload_size, seq, lg_now_ns());
    int blen =
        lg_publish_request_encode(p.body, cap, "", payload, o->payload_size);
    if (blen < 0)
      goto out;
    c->body_len = (uint32_t)blen;
    nghttp2_data_provider prd = {.source = {.ptr = c},
                                 .read_callback = read_body};
    c->id = nghttp2_submit_request(session, NULL, hdrs, nh, &prd, c);
    if (c->id < 0) {
      snprintf(res->error, sizeof res->error, "Publish: %s",
               nghttp2_strerror(c->id));
      goto out;
    }
    res->sent++;
    rc = pump(&p, session, fd, deadline_ns, call_closed);
    if (rc != 0)
      goto fail;
    if (res->ok != seq + 1)
      goto out; /* on_close said why */
    if (wait != NULL) {
      if (!wait(ud, seq, deadline_ns)) {
        snprintf(res->error, sizeof res->error,
                 "broadcast %u of %u not delivered to every stream in time",
                 seq + 1, n);
        goto out;
      }
      res->awaited++;
    }
  }
  result = 0;
  goto out;

fail:
  if (rc > 0)
    snprintf(res->error, sizeof res->error,
             "Publish: %u of %u calls unanswered at the deadline", n - res->ok,
             n);
out:
  lg_deframer_reset(&p.cur.deframer);
  nghttp2_session_del(session);
  nghttp2_session_callbacks_del(cb);
  if (fd >= 0)
    close(fd);
  free(payload);
  free(p.body);
  return result;
}

bool lg_publish_delivered(void *ud, uint32_t seq, uint64_t deadline_ns)
{
  lg_publish_pace *pace = ud;
  uint64_t want = pace->held * ((uint64_t)seq + 1);
  struct timespec ts = npc_ns_timespec((int64_t)pace->poll_ns);
  while (pace->messages(pace->ud) - pace->base < want) {
    if (lg_now_ns() >= deadline_ns || !pace->poll(pace->ud))
      return false;
    nanosleep(&ts, NULL);
  }
  return true;
}
