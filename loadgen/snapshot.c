/* Profile snapshots at the phases of a run, fetched with libcurl from a
 * profiler speaking Go's /debug/pprof layout. Each file is written to a
 * temporary name in the same directory and renamed, so a reader (or a
 * report generated while the run goes on) never sees half a profile. The
 * body is capped: a profiler gone wrong must not fill the disk or our
 * memory. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define BODY_CAP (256u << 20)

const lg_snapshot_item lg_snapshot_items[] = {
    {"/debug/pprof/heap", "heap.pb.gz", true},
    {"/debug/pprof/goroutine", "goroutine.pb.gz", true},
    {"/debug/pprof/heap?debug=1", "heap.txt", false},
    {"/debug/pprof/goroutine?debug=1", "goroutine.txt", false},
    {"/debug/vars", "vars.json", false},
};
const size_t lg_snapshot_nitems =
    sizeof lg_snapshot_items / sizeof lg_snapshot_items[0];

int lg_write_atomic(const char *dir, const char *name, const void *buf,
                    size_t len)
{
  char tmp[4096], final[4096];
  if (snprintf(final, sizeof final, "%s/%s", dir, name) >= (int)sizeof final ||
      snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name) >= (int)sizeof tmp)
    return -ENAMETOOLONG;
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return -errno;
  const char *p = buf;
  size_t left = len;
  int result = 0;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      result = -errno;
      break;
    }
    p += w;
    left -= (size_t)w;
  }
  /* Readers expect an ordinary 0644 file, not mkstemp's 0600. */
  if (result == 0 && fchmod(fd, 0644) != 0)
    result = -errno;
  if (close(fd) != 0 && result == 0)
    result = -errno;
  if (result == 0 && rename(tmp, final) != 0)
    result = -errno;
  if (result != 0)
    unlink(tmp);
  return result;
}

typedef struct {
  char *data;
  size_t len;
  size_t cap;
  bool too_big;
} body;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
  body *b = ud;
  size_t n = size * nmemb;
  if (b->len + n > BODY_CAP) {
    b->too_big = true;
    return 0; /* aborts the transfer */
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + n)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL)
      return 0;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  return n;
}

static int mkdirs(const char *dir)
{
  char path[4096];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
    return -ENAMETOOLONG;
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST)
    return -errno;
  return 0;
}

int lg_snapshot_take(const char *base_url, const char *dir, const char *phase,
                     long timeout_ms, lg_snapshot_result *res)
{
  memset(res, 0, sizeof *res);
  int rc = mkdirs(dir);
  if (rc != 0) {
    snprintf(res->error, sizeof res->error, "%s: %s", dir, strerror(-rc));
    res->failed = 2;
    return -1;
  }
  CURL *curl = curl_easy_init();
  if (curl == NULL) {
    snprintf(res->error, sizeof res->error, "curl_easy_init failed");
    res->failed = 2;
    return -1;
  }
  size_t blen = strlen(base_url);
  while (blen > 0 && base_url[blen - 1] == '/')
    blen--;
  for (size_t i = 0; i < lg_snapshot_nitems; i++) {
    const lg_snapshot_item *it = &lg_snapshot_items[i];
    char url[2048], name[256];
    snprintf(url, sizeof url, "%.*s%s", (int)blen, base_url, it->path);
    snprintf(name, sizeof name, "%s.%s", phase, it->suffix);
    body b = {0};
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    const char *why = NULL;
    char whybuf[128];
    if (b.too_big)
      why = "response larger than 256 MiB";
    else if (cc != CURLE_OK)
      why = curl_easy_strerror(cc);
    else if (status != 200) {
      snprintf(whybuf, sizeof whybuf, "HTTP %ld", status);
      why = whybuf;
    }
    if (why == NULL) {
      rc = lg_write_atomic(dir, name, b.data ? b.data : "", b.len);
      if (rc != 0) {
        snprintf(whybuf, sizeof whybuf, "write: %s", strerror(-rc));
        why = whybuf;
      }
    }
    free(b.data);
    if (why == NULL) {
      res->fetched++;
    } else if (it->required) {
      res->failed++;
      if (res->error[0] == '\0')
        snprintf(res->error, sizeof res->error, "%.120s: %.70s", url, why);
    } else {
      res->missing++;
    }
  }
  curl_easy_cleanup(curl);
  return res->failed == 0 ? 0 : -1;
}
