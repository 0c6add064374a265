/*
 * Capped HTTP GETs with libcurl: the loadgen's phase snapshots and vars
 * samples, and `nprof fetch`. The body is held in memory (on a non-2xx
 * answer it is the error message and must never reach a snapshot file) and
 * capped, because a profile server gone wrong must not fill our memory.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "npc.h"

#define CONNECT_TIMEOUT_MS 10000L

typedef struct body {
  char *data;
  size_t len, alloc, cap;
  bool too_big, no_memory;
} body;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  body *b = userdata;
  size_t n = size * nmemb; /* curl guarantees size == 1 */
  if (n > b->cap - b->len) {
    b->too_big = true;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  if (b->len + n + 1 > b->alloc) {
    size_t alloc = b->alloc == 0 ? 64 << 10 : b->alloc;
    while (alloc < b->len + n + 1)
      alloc = alloc > (b->cap + 1) / 2 ? b->cap + 1 : alloc * 2;
    char *nd = realloc(b->data, alloc);
    if (nd == NULL) {
      b->no_memory = true;
      return 0;
    }
    b->data = nd;
    b->alloc = alloc;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  return n;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_result;

static void init_curl(void)
{
  init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int npc_http_init(void)
{
  pthread_once(&init_once, init_curl);
  return init_result == CURLE_OK ? 0 : -ENOMEM;
}

static int code_of(CURLcode cc)
{
  switch (cc) {
  case CURLE_OPERATION_TIMEDOUT:
    return -ETIMEDOUT;
  case CURLE_COULDNT_CONNECT:
    return -ECONNREFUSED;
  case CURLE_OUT_OF_MEMORY:
    return -ENOMEM;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return -EINVAL;
  default:
    return -EIO;
  }
}

int npc_http_get(const char *url, long timeout_ms, size_t cap,
                 npc_http_response *res)
{
  assert(url != NULL && res != NULL && timeout_ms > 0);
  memset(res, 0, sizeof *res);
  int rc = npc_http_init();
  if (rc != 0) {
    snprintf(res->error, sizeof res->error, "cannot initialise libcurl");
    return rc;
  }
  CURL *curl = curl_easy_init();
  if (curl == NULL) {
    snprintf(res->error, sizeof res->error, "cannot initialise libcurl");
    return -ENOMEM;
  }
  char curl_err[CURL_ERROR_SIZE] = "";
  body b = {.cap = cap};
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
  /* A profile server has no business sending us to file:// or smtp://. */
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms
                                                   : CONNECT_TIMEOUT_MS);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  /* Threads of ours may run this: no SIGALRM-based DNS timeouts. */
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "nprof/1");
  CURLcode cc = curl_easy_perform(curl);
  if (cc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    if (b.data == NULL && (b.data = malloc(1)) == NULL) {
      rc = -ENOMEM;
      snprintf(res->error, sizeof res->error, "out of memory");
    } else {
      b.data[b.len] = '\0';
      res->body = b.data;
      res->len = b.len;
      b.data = NULL;
    }
  } else if (b.too_big) {
    rc = -EFBIG;
    snprintf(res->error, sizeof res->error,
             "the response is larger than %zu MiB", cap >> 20);
  } else if (b.no_memory) {
    rc = -ENOMEM;
    snprintf(res->error, sizeof res->error, "out of memory");
  } else {
    rc = code_of(cc);
    snprintf(res->error, sizeof res->error, "%s",
             curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc));
  }
  free(b.data);
  curl_easy_cleanup(curl);
  return rc;
}

void npc_http_response_free(npc_http_response *res)
{
  if (res == NULL)
    return;
  free(res->body);
  res->body = NULL;
  res->len = 0;
}

void npc_http_first_line(const npc_http_response *res, char *out, size_t size)
{
  if (size == 0)
    return;
  size_t n = 0;
  for (size_t i = 0; i < res->len && n + 1 < size; i++) {
    unsigned char ch = (unsigned char)res->body[i];
    if (ch == '\n' || ch == '\r')
      break;
    out[n++] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
  }
  out[n] = '\0';
}
