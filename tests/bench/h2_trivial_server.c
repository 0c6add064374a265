/* A trivial gRPC server for the unary benchmark: nghttp2 on one epoll
 * thread, answering every request (whatever its path) with :status 200,
 * one empty message and grpc-status 0, as fast as it can. Cheap per call
 * so that the client, not the server, is what a benchmark measures; the
 * same HTTP/2 path serves loadgen and h2load alike.
 *   h2_trivial_server PORT_FILE   (listens on 127.0.0.1, a port the OS
 *                                  picks, written to PORT_FILE)
 * SIGTERM or SIGINT: prints the calls answered and exits. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int fd;
  nghttp2_session *s;
} conn;

static volatile sig_atomic_t stop;
static unsigned long long answered;
static const uint8_t empty_message[5] = {0, 0, 0, 0, 0};

static void on_signal(int sig)
{
  (void)sig;
  stop = 1;
}

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len,
                       int flags, void *ud)
{
  (void)s, (void)flags;
  conn *c = ud;
  ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
  if (n < 0)
    return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK
                           : NGHTTP2_ERR_CALLBACK_FAILURE;
  return n;
}

#define NV(n, v)                                                               \
  {                                                                            \
    (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,              \
        NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE           \
  }

/* The message, then the trailers: nghttp2 sends a trailer submitted once
 * the body has said EOF (submitted earlier, it would go out first and end
 * the stream without its message). */
static ssize_t body_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                       uint32_t *flags, nghttp2_data_source *src, void *ud)
{
  (void)src, (void)ud;
  static const nghttp2_nv trailer[] = {NV("grpc-status", "0")};
  if (len < sizeof empty_message)
    return NGHTTP2_ERR_DEFERRED;
  memcpy(buf, empty_message, sizeof empty_message);
  *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  if (nghttp2_submit_trailer(s, id, trailer, 1) == 0)
    answered++;
  return sizeof empty_message;
}

static int frame_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
  (void)ud;
  if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
      !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  static const nghttp2_nv head[] = {NV(":status", "200"),
                                    NV("content-type", "application/grpc")};
  nghttp2_data_provider prd = {.read_callback = body_cb};
  nghttp2_submit_response(s, f->hd.stream_id, head, 2, &prd);
  return 0;
}

static void close_conn(int ep, conn *c)
{
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  nghttp2_session_del(c->s);
  free(c);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: h2_trivial_server PORT_FILE\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(lfd, 4096) != 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
    perror("h2_trivial_server: listen");
    return 1;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
  FILE *pf = fopen(tmp, "w");
  if (pf == NULL || fprintf(pf, "%u\n", ntohs(a.sin_port)) < 0 ||
      fclose(pf) != 0 || rename(tmp, argv[1]) != 0) {
    perror(argv[1]);
    return 1;
  }
  nghttp2_session_callbacks *cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_send_callback(cb, send_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, frame_cb);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static uint8_t buf[65536];
  while (!stop) {
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, 200);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c == NULL) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          nghttp2_session_server_new(&nc->s, cb, nc);
          nghttp2_settings_entry iv[] = {
              {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 10000}};
          nghttp2_submit_settings(nc->s, NGHTTP2_FLAG_NONE, iv, 1);
          nghttp2_session_send(nc->s);
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      bool dead = false;
      for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r > 0) {
          if (nghttp2_session_mem_recv(c->s, buf, (size_t)r) < 0) {
            dead = true;
            break;
          }
          continue;
        }
        if (r == 0 || errno != EAGAIN)
          dead = true;
        break;
      }
      /* A full socket buffer: wait for it to drain (EPOLLOUT). */
      if (!dead && nghttp2_session_send(c->s) != 0)
        dead = true;
      if (!dead && !nghttp2_session_want_read(c->s) &&
          !nghttp2_session_want_write(c->s))
        dead = true;
      if (dead) {
        close_conn(ep, c);
        continue;
      }
      struct epoll_event cev = {
          .events =
              EPOLLIN | (nghttp2_session_want_write(c->s) ? EPOLLOUT : 0u),
          .data.ptr = c};
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
    }
  }
  printf("h2_trivial_server: %llu calls answered\n", answered);
  nghttp2_session_callbacks_del(cb);
  return 0;
}
