/* Capped HTTP GETs (common/http.c) against a small server on a thread of
 * this test: a body, an error status, a body over the cap, a server that
 * never answers, and a port nobody listens on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "npc.h"

static int listen_fd = -1;
static int port;
static pthread_t server;

/* Answers each connection by the path it asks for. Bounded: the test makes
 * a known number of requests, then closes the socket, which ends accept. */
static void *serve(void *arg)
{
  (void)arg;
  for (;;) {
    int c = accept(listen_fd, NULL, NULL);
    if (c < 0)
      return NULL;
    char req[2048] = "";
    ssize_t n = read(c, req, sizeof req - 1);
    if (n <= 0) {
      close(c);
      continue;
    }
    char resp[256];
    if (strstr(req, "GET /ok ") != NULL) {
      snprintf(resp, sizeof resp,
               "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: "
               "close\r\n\r\nhello");
      (void)!write(c, resp, strlen(resp));
    } else if (strstr(req, "GET /missing ") != NULL) {
      snprintf(resp, sizeof resp,
               "HTTP/1.1 404 Not Found\r\nContent-Length: 23\r\nConnection: "
               "close\r\n\r\nunknown profile\x01\r\nmore\n");
      (void)!write(c, resp, strlen(resp));
    } else if (strstr(req, "GET /big ") != NULL) {
      snprintf(resp, sizeof resp,
               "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: "
               "close\r\n\r\n");
      (void)!write(c, resp, strlen(resp));
      static char chunk[100000];
      (void)!write(c, chunk, sizeof chunk);
    } else if (strstr(req, "GET /slow ") != NULL) {
      sleep(2); /* longer than the client's limit */
    }
    close(c);
  }
}

static int setup(void **state)
{
  (void)state;
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(listen_fd, 16) != 0 ||
      getsockname(listen_fd, (struct sockaddr *)&a, &len) != 0)
    return -1;
  port = ntohs(a.sin_port);
  if (npc_http_init() != 0)
    return -1;
  return pthread_create(&server, NULL, serve, NULL);
}

static int teardown(void **state)
{
  (void)state;
  shutdown(listen_fd, SHUT_RDWR);
  close(listen_fd);
  pthread_join(server, NULL);
  return 0;
}

static void url(char *buf, size_t size, const char *path)
{
  snprintf(buf, size, "http://127.0.0.1:%d%s", port, path);
}

static void get_returns_status_and_body(void **state)
{
  (void)state;
  char u[128];
  npc_http_response res;
  url(u, sizeof u, "/ok");
  assert_int_equal(npc_http_get(u, 5000, 1024, &res), 0);
  assert_int_equal(res.status, 200);
  assert_int_equal(res.len, 5);
  assert_string_equal(res.body, "hello");
  npc_http_response_free(&res);
  npc_http_response_free(&res); /* twice is harmless */
}

static void error_status_keeps_its_first_line(void **state)
{
  (void)state;
  char u[128], line[64];
  npc_http_response res;
  url(u, sizeof u, "/missing");
  assert_int_equal(npc_http_get(u, 5000, 1024, &res), 0);
  assert_int_equal(res.status, 404);
  npc_http_first_line(&res, line, sizeof line);
  assert_string_equal(line, "unknown profile?");
  npc_http_response_free(&res);
}

static void body_over_the_cap_is_refused(void **state)
{
  (void)state;
  char u[128];
  npc_http_response res;
  url(u, sizeof u, "/big");
  assert_int_equal(npc_http_get(u, 5000, 99999, &res), -EFBIG);
  assert_null(res.body);
  assert_non_null(strstr(res.error, "larger than"));
  npc_http_response_free(&res);
  url(u, sizeof u, "/big");
  assert_int_equal(npc_http_get(u, 5000, 100000, &res), 0);
  assert_int_equal(res.len, 100000);
  npc_http_response_free(&res);
}

static void silent_server_times_out(void **state)
{
  (void)state;
  char u[128];
  npc_http_response res;
  url(u, sizeof u, "/slow");
  assert_int_equal(npc_http_get(u, 300, 1024, &res), -ETIMEDOUT);
  assert_int_equal(res.status, 0);
  assert_true(res.error[0] != '\0');
  npc_http_response_free(&res);
}

static void closed_port_and_bad_urls(void **state)
{
  (void)state;
  /* A port that was free a moment ago: bind, read it, close. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/ok", ntohs(a.sin_port));
  npc_http_response res;
  assert_int_equal(npc_http_get(u, 2000, 1024, &res), -ECONNREFUSED);
  npc_http_response_free(&res);
  assert_int_equal(npc_http_get("file:///etc/passwd", 2000, 1024, &res),
                   -EINVAL);
  npc_http_response_free(&res);
  assert_int_equal(npc_http_get("not a url", 2000, 1024, &res) < 0, 1);
  npc_http_response_free(&res);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(get_returns_status_and_body),
      cmocka_unit_test(error_status_keeps_its_first_line),
      cmocka_unit_test(body_over_the_cap_is_refused),
      cmocka_unit_test(silent_server_times_out),
      cmocka_unit_test(closed_port_and_bad_urls),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
