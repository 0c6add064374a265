/*
 * The HTTP server: libmicrohttpd, one thread per connection (a CPU or delta
 * profile holds its connection for seconds while others are served), with
 * caps on connections, header memory (oversized headers get 431/413 from
 * the library) and POST bodies. We create and bind the listening socket
 * ourselves so a bind error is reported precisely and port 0 works.
 *
 * Routes, as Go's net/http/pprof and expvar, come from the route table
 * (endpoints.c): /debug/pprof/ (index), cmdline, symbol, the profiles and
 * application profiles at /debug/pprof/<name>, and /debug/vars.
 *
 * DNS rebinding: a web page can make its own name resolve to 127.0.0.1
 * and then read (or start) everything served here from the victim's
 * browser. As Chrome's remote-debugging port and Jupyter do, requests are
 * served only when their Host header is an IP literal, localhost, or a
 * name the user allowed (NPROF_ALLOWED_HOSTS); the rest get 403.
 */
#include "internal.h"
#include "npc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 64
#define MAX_POST_BODY (1 << 20)
#define HEADER_MEMORY (64 << 10)
#define IDLE_TIMEOUT_S 120
#define NPROF_MAX_RESPONSE ((size_t)1 << 30)

typedef struct server {
  struct MHD_Daemon *daemon;
  int fd;
  char address[128];
} server;

/* Guarded by server_lock. */
static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static server *running;
/* The address being served (kept in a fork child, which takes it over
 * when the parent lets it go); "" once nprof_stop() was called. */
static char serving[sizeof(((server *)0)->address)];
static pid_t serving_pid;

/* Delta profiles and CPU-profile polling sleep on this; stopping the
 * server wakes them. The condition waits on CLOCK_MONOTONIC, so a step of
 * the wall clock neither cuts a sleep short nor stretches it. */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond;
static bool stopping;
static pthread_once_t sleep_once = PTHREAD_ONCE_INIT;

static void sleep_cond_init(void)
{
  npc_cond_init_monotonic(&sleep_cond);
}

/* A child forked while another thread held sleep_lock would inherit it
 * held: take it across fork. The condition may list waiters of the
 * parent that do not exist in the child: it starts afresh there. */
static void sleep_fork_prepare(void)
{
  pthread_mutex_lock(&sleep_lock);
}

static void sleep_fork_parent(void)
{
  pthread_mutex_unlock(&sleep_lock);
}

static void sleep_fork_child(void)
{
  sleep_cond_init();
  pthread_mutex_unlock(&sleep_lock);
}

static void sleep_init(void)
{
  sleep_cond_init();
  pthread_atfork(sleep_fork_prepare, sleep_fork_parent, sleep_fork_child);
}

bool nprof__server_sleep_ns(int64_t ns)
{
  pthread_once(&sleep_once, sleep_init);
  struct timespec until = npc_ns_timespec(npc_mono_ns() + (ns > 0 ? ns : 0));
  pthread_mutex_lock(&sleep_lock);
  while (!stopping &&
         pthread_cond_timedwait(&sleep_cond, &sleep_lock, &until) != ETIMEDOUT)
    ;
  bool ok = !stopping;
  pthread_mutex_unlock(&sleep_lock);
  return ok;
}

typedef struct request_ctx {
  nprof__buf body;
  bool too_large;
  bool forbidden; /* the Host header failed the rebinding guard */
  char host[96];  /* its start, printable, for the 403's reason */
} request_ctx;

bool nprof__http_host_allowed(const char *host, const char *allowed)
{
  if (!host)
    return true; /* HTTP/1.0 without Host: no browser sends that */
  char name[256];
  const char *port;
  if (host[0] == '[') {
    const char *close = strchr(host, ']');
    if (!close || (size_t)(close - host - 1) >= sizeof(name))
      return false;
    memcpy(name, host + 1, (size_t)(close - host - 1));
    name[close - host - 1] = '\0';
    struct in6_addr a6;
    port = close + 1;
    if (inet_pton(AF_INET6, name, &a6) != 1)
      return false;
  } else {
    const char *colon = strchr(host, ':');
    size_t n = colon ? (size_t)(colon - host) : strlen(host);
    if (n == 0 || n >= sizeof(name))
      return false;
    memcpy(name, host, n);
    name[n] = '\0';
    port = host + n;
  }
  if (*port) { /* ":digits" and nothing else */
    if (port[0] != ':' || !port[1] || strlen(port + 1) > 5 ||
        strspn(port + 1, "0123456789") != strlen(port + 1))
      return false;
  }
  if (host[0] == '[')
    return true;
  struct in_addr a4;
  if (inet_pton(AF_INET, name, &a4) == 1)
    return true;
  size_t len = strlen(name);
  if (len && name[len - 1] == '.') /* the root's dot: same name */
    name[--len] = '\0';
  if (strcasecmp(name, "localhost") == 0)
    return true;
  return allowed && (nprof__list_has(allowed, "*", 1) ||
                     nprof__list_has(allowed, name, len));
}

/* Copies the start of a client's Host header for a message: printable
 * ASCII only, at most len - 1 bytes. */
static void printable(char *dst, size_t len, const char *src)
{
  size_t i = 0;
  for (; src[i] && i + 1 < len; i++)
    dst[i] = src[i] > 0x20 && src[i] < 0x7f ? src[i] : '?';
  dst[i] = '\0';
}

static enum MHD_Result send_response(struct MHD_Connection *conn,
                                     nprof__response *res)
{
  size_t len = res->body.len;
  char *data = res->body.data;
  res->body.data = NULL;
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, data ? data : (char *)"",
      data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!r) {
    free(data);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", res->content_type);
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (res->go_error)
    MHD_add_response_header(r, "X-Go-Pprof", "1");
  if (res->disposition) {
    char value[160];
    snprintf(value, sizeof(value), "attachment; filename=\"%s\"",
             res->disposition);
    MHD_add_response_header(r, "Content-Disposition", value);
  }
  if (res->status == 405)
    MHD_add_response_header(r, "Allow", "GET, HEAD, POST");
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)res->status, r);
  MHD_destroy_response(r);
  return ret;
}

static void plain(nprof__response *res, int status, const char *text)
{
  res->status = status;
  res->content_type = "text/plain; charset=utf-8";
  res->body.len = 0;
  nprof__buf_printf(&res->body, "%s\n", text);
}

/* Rebuilds a GET symbol query ("0x1+0x2") from the arguments MHD parsed:
 * it takes the whole query as keys, with '+' already turned into ' '. */
static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
  (void)kind;
  nprof__buf *q = cls;
  if (q->len)
    nprof__buf_append(q, "+", 1);
  for (const char *p = key; *p; p++)
    nprof__buf_append(q, *p == ' ' ? "+" : p, 1);
  if (value && *value) {
    nprof__buf_append(q, "+", 1);
    nprof__buf_append(q, value, strlen(value));
  }
  return MHD_YES;
}

static void route(struct MHD_Connection *conn, const char *url,
                  const char *method, request_ctx *ctx, nprof__response *res)
{
  bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
  if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    plain(res, 405, "method not allowed");
    return;
  }
  if (ctx->forbidden) {
    char text[256];
    snprintf(text, sizeof(text),
             "403 Forbidden: Host '%s' is not an IP address, localhost or a "
             "name in NPROF_ALLOWED_HOSTS (DNS rebinding guard)",
             ctx->host);
    plain(res, 403, text);
    return;
  }
  if (ctx->too_large) {
    plain(res, 413, "request body too large");
    return;
  }
  const char *name;
  const nprof__route *r = nprof__route_find(url, &name);
  if (!r) {
    plain(res, 404, "404 page not found");
    return;
  }
  /* A GET symbol lookup sends its addresses as the query: rebuilt into
   * the body, as a POST would carry them. */
  nprof__buf q;
  nprof__buf_init(&q, MAX_POST_BODY);
  if (!post)
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
  nprof__request req = {
      .name = name,
      .debug =
          MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "debug"),
      .seconds =
          MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "seconds"),
      .post = post,
      .body = post ? ctx->body.data : q.data,
      .body_len = post ? ctx->body.len : q.len,
  };
  nprof__route_serve(r, &req, res);
  nprof__buf_free(&q);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
  (void)cls;
  (void)version;
  /* This is one of MHD's threads: keep its allocations out of the heap
   * profile for good. */
  nprof__t_internal = 1;
  request_ctx *ctx = *con_cls;
  if (!ctx) {
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
      return MHD_NO;
    nprof__buf_init(&ctx->body, MAX_POST_BODY);
    const char *host =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (!nprof__http_host_allowed(host, nprof__config_get()->allowed_hosts)) {
      ctx->forbidden = true;
      printable(ctx->host, sizeof(ctx->host), host);
    }
    *con_cls = ctx;
    return MHD_YES;
  }
  if (*upload_size) {
    if (!ctx->too_large && !ctx->forbidden &&
        nprof__buf_append(&ctx->body, upload, *upload_size) != 0)
      ctx->too_large = true; /* keep reading, answer 413 at the end */
    *upload_size = 0;
    return MHD_YES;
  }
  nprof__response res = {.status = 500,
                         .content_type = "text/plain; charset=utf-8"};
  /* A backstop, far above any real response (a heap profile of 64 Ki
   * buckets is a few MB; a goroutine dump of 4,096 threads ~50 MB): the
   * protobuf body is deflated in one call whose lengths are zlib's 32-bit
   * uInt, and protobuf caps a message at 2 GiB. The trace has its own,
   * lower cap (NPROF_TRACE_MAX_BYTES). */
  nprof__buf_init(&res.body, NPROF_MAX_RESPONSE);
  route(conn, url, method, ctx, &res);
  enum MHD_Result ret = send_response(conn, &res);
  nprof__buf_free(&res.body);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)cls;
  (void)conn;
  (void)toe;
  request_ctx *ctx = *con_cls;
  if (ctx) {
    nprof__buf_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
  }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  (void)cls;
  (void)fmt;
  (void)ap;
  /* MHD reports every client that hangs up early; that is not news. */
}

/* Parses "host:port", "[v6]:port" or ":port" into a socket address. */
static int resolve(const char *addr, struct sockaddr_storage *ss,
                   socklen_t *len)
{
  char host[256];
  const char *port;
  if (addr[0] == '[') {
    const char *close = strchr(addr, ']');
    if (!close || close[1] != ':' || (size_t)(close - addr) >= sizeof(host))
      return NPROF_EADDR;
    memcpy(host, addr + 1, (size_t)(close - addr - 1));
    host[close - addr - 1] = '\0';
    port = close + 2;
  } else {
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(host))
      return NPROF_EADDR;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    port = colon + 1;
  }
  long p;
  if (nprof__parse_long(port, 0, 65535, &p) != 0)
    return NPROF_EADDR;
  if (!*host) /* ":port": loopback, never every interface by surprise */
    snprintf(host, sizeof(host), "127.0.0.1");
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
    return NPROF_EADDR;
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *len = ai->ai_addrlen;
  freeaddrinfo(ai);
  return 0;
}

/* `quiet`: no line on stderr when the address is taken (the fork child's
 * retries). */
static int server_start(const char *addr, bool quiet)
{
  nprof__t_internal++;
  int result = 0;
  server *s = NULL;
  int fd = -1;
  pthread_mutex_lock(&server_lock);
  if (running) {
    result = NPROF_EALREADY;
    goto out;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  result = resolve(addr, &ss, &len);
  if (result)
    goto out;
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
    if (!quiet)
      nprof__log("cannot listen on %s: %s", addr, strerror(errno));
    result = NPROF_ELISTEN;
    goto out;
  }
  s = calloc(1, sizeof(*s));
  if (!s) {
    result = NPROF_ENOMEM;
    goto out;
  }
  char host[INET6_ADDRSTRLEN] = "?";
  len = sizeof(ss);
  getsockname(fd, (struct sockaddr *)&ss, &len);
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    snprintf(s->address, sizeof(s->address), "[%s]:%d", host,
             ntohs(a->sin6_port));
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    snprintf(s->address, sizeof(s->address), "%s:%d", host, ntohs(a->sin_port));
  }
  pthread_once(&sleep_once, sleep_init);
  pthread_mutex_lock(&sleep_lock);
  stopping = false;
  pthread_mutex_unlock(&sleep_lock);
  /* poll(), not select(): a busy host has descriptors beyond 1024. */
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                   MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                   MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  s->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
  if (!s->daemon) {
    nprof__log("cannot start the HTTP server on %s", addr);
    result = NPROF_ESYSTEM;
    goto out;
  }
  s->fd = fd;
  running = s;
  snprintf(serving, sizeof(serving), "%s", s->address);
  serving_pid = getpid();
  s = NULL;
  fd = -1;
out:
  pthread_mutex_unlock(&server_lock);
  if (fd >= 0)
    close(fd);
  free(s);
  nprof__t_internal--;
  return result;
}

int nprof__server_start(const char *addr)
{
  return server_start(addr, false);
}

int nprof__server_stop(void)
{
  nprof__t_internal++;
  pthread_mutex_lock(&server_lock);
  server *s = running;
  running = NULL;
  serving[0] = '\0'; /* stopped on purpose: no fork child takes it over */
  pthread_mutex_unlock(&server_lock);
  if (s) {
    pthread_once(&sleep_once, sleep_init);
    pthread_mutex_lock(&sleep_lock);
    stopping = true;
    pthread_cond_broadcast(&sleep_cond);
    pthread_mutex_unlock(&sleep_lock);
    /* Quiescing hands the listening socket back, so it is closed here
     * exactly once; stopping then waits for in-flight requests. */
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    MHD_stop_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
      close(fd);
    free(s);
  }
  nprof__t_internal--;
  return s ? 0 : NPROF_ENOENT;
}

const char *nprof__server_address(void)
{
  pthread_mutex_lock(&server_lock);
  const char *a = running ? running->address : NULL;
  pthread_mutex_unlock(&server_lock);
  return a;
}

/* A fork child's wait for its parent to let the address go: every
 * RESTART_PERIOD_MS for RESTART_TRIES tries (30 s), then it gives up. A
 * daemonizing parent exits within milliseconds of the fork; a parent
 * that keeps serving (a pre-forking server's master) keeps the address,
 * and its children say so once and serve nothing. */
#define RESTART_PERIOD_MS 100
#define RESTART_TRIES 300

typedef struct restart_args {
  char addr[sizeof(((server *)0)->address)];
  pid_t parent;
} restart_args;

/* Filled by the fork child handler, copied by the thread it starts. */
static restart_args restart;

static void *restart_main(void *p)
{
  restart_args a = *(restart_args *)p;
  nprof__t_internal = 1;
  int rc = NPROF_ELISTEN;
  for (int i = 0; i < RESTART_TRIES && rc == NPROF_ELISTEN; i++) {
    rc = server_start(a.addr, true);
    if (rc == NPROF_ELISTEN) {
      struct timespec ts = {0, RESTART_PERIOD_MS * 1000000L};
      nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&server_lock);
    bool wanted = serving[0] != '\0' || running;
    pthread_mutex_unlock(&server_lock);
    if (!wanted)
      return NULL; /* nprof_stop() meanwhile */
  }
  if (rc == 0)
    nprof__log("pid %d (forked from %d) serves the debug endpoints on %s "
               "now that its parent let the address go",
               (int)getpid(), (int)a.parent, a.addr);
  else if (rc == NPROF_ELISTEN)
    nprof__log("pid %d (forked from %d): %s was still in use after %d s; "
               "the debug endpoints stay with the parent",
               (int)getpid(), (int)a.parent, a.addr,
               RESTART_TRIES * RESTART_PERIOD_MS / 1000);
  else if (rc != NPROF_EALREADY)
    nprof__log("pid %d (forked from %d): cannot serve the debug endpoints on "
               "%s: %s",
               (int)getpid(), (int)a.parent, a.addr, nprof_strerror(rc));
  return NULL;
}

void nprof__server_fork_child(void)
{
  /* In a fork child the server's threads do not exist: drop the state
   * without joining them, and free the port for the parent alone. */
  if (running) {
    close(running->fd);
    running = NULL;
  }
  pthread_mutex_init(&server_lock, NULL);
  if (!serving[0])
    return;
  /* The parent served: the child takes over once the parent lets the
   * address go (a daemon's parent exits), from a thread of its own. Other
   * fork handlers of the library may still hold their locks here (the
   * threadcreate record's, taken across fork): no malloc, and a thread
   * started past the interposer. */
  restart_args *a = &restart;
  snprintf(a->addr, sizeof(a->addr), "%s", serving);
  a->parent = serving_pid;
  nprof__thread_start(restart_main, a, "nprof-restart");
}
