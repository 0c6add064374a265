/* gRPC over HTTP/2, the parts that are text: request metadata the user
 * gives (-H), the response headers that say how a call went, and the
 * status codes' names. One home for them: the streams (conn.c) and the
 * notifier's Publish (publish.c) both read responses through
 * lg__grpc_header_take and send their bodies through lg__grpc_body_piece. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"

/* ---- metadata -------------------------------------------------------- */

/* Names HTTP/2 forbids (RFC 9113 8.2.2) or that loadgen and gRPC set. */
static const char *const reserved[] = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "te",
    "content-type",
    "user-agent",
    "content-length",
};

static bool token_char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

int lg_metadata_add(lg_metadata *m, const char *spec, char *err, size_t errlen)
{
  while (*spec == ' ' || *spec == '\t')
    spec++;
  if (spec[0] == ':') {
    snprintf(err, errlen, "-H '%.80s': pseudo-headers are loadgen's to set",
             spec);
    return LG_EINVAL;
  }
  const char *colon = strchr(spec, ':');
  if (colon == NULL || colon == spec) {
    snprintf(err, errlen, "-H '%.80s': expected 'name: value'", spec);
    return LG_EINVAL;
  }
  size_t nlen = (size_t)(colon - spec);
  while (nlen > 0 && (spec[nlen - 1] == ' ' || spec[nlen - 1] == '\t'))
    nlen--;
  const char *v = colon + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  size_t vlen = strlen(v);
  while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
    vlen--;
  if (m->n == LG_MAX_METADATA) {
    snprintf(err, errlen, "-H: at most %d headers", LG_MAX_METADATA);
    return LG_EINVAL;
  }
  if (m->bytes + nlen + vlen > LG_METADATA_BYTES) {
    snprintf(err, errlen, "-H: headers over %d bytes in all",
             LG_METADATA_BYTES);
    return LG_EINVAL;
  }
  char name[256];
  if (nlen == 0 || nlen >= sizeof name) {
    snprintf(err, errlen, "-H '%.80s': bad header name", spec);
    return LG_EINVAL;
  }
  for (size_t i = 0; i < nlen; i++) {
    unsigned char c = (unsigned char)tolower((unsigned char)spec[i]);
    if (!token_char(c)) {
      snprintf(err, errlen,
               "-H '%.80s': a header name is letters, digits and -_. "
               "(HTTP/2)",
               spec);
      return LG_EINVAL;
    }
    name[i] = (char)c;
  }
  name[nlen] = '\0';
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcmp(name, reserved[i]) == 0) {
      snprintf(err, errlen,
               "-H %s: reserved (HTTP/2 forbids it or loadgen sets it)", name);
      return LG_EINVAL;
    }
  if (strncmp(name, "grpc-", 5) == 0) {
    snprintf(err, errlen, "-H %s: grpc-* headers are reserved by gRPC", name);
    return LG_EINVAL;
  }
  for (size_t i = 0; i < vlen; i++)
    if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) {
      snprintf(err, errlen,
               "-H %s: the value must be printable ASCII (binary metadata "
               "goes base64-encoded in a -bin header)",
               name);
      return LG_EINVAL;
    }
  char *nc = strdup(name), *vc = strndup(v, vlen);
  if (nc == NULL || vc == NULL) {
    free(nc);
    free(vc);
    return LG_ENOMEM;
  }
  m->name[m->n] = nc;
  m->value[m->n] = vc;
  m->n++;
  m->bytes += nlen + vlen;
  return 0;
}

int lg_metadata_add_list(lg_metadata *m, const char *list, char *err,
                         size_t errlen)
{
  const char *p = list;
  while (*p != '\0') {
    const char *semi = strchr(p, ';');
    size_t n = semi != NULL ? (size_t)(semi - p) : strlen(p);
    char one[LG_METADATA_BYTES + 1];
    if (n > LG_METADATA_BYTES) {
      snprintf(err, errlen, "headers over %d bytes", LG_METADATA_BYTES);
      return LG_EINVAL;
    }
    memcpy(one, p, n);
    one[n] = '\0';
    bool blank = true;
    for (size_t i = 0; i < n; i++)
      blank &= one[i] == ' ' || one[i] == '\t';
    if (!blank) {
      int rc = lg_metadata_add(m, one, err, errlen);
      if (rc != 0)
        return rc;
    }
    p += n + (semi != NULL);
  }
  return 0;
}

void lg_metadata_free(lg_metadata *m)
{
  for (unsigned i = 0; i < m->n; i++) {
    free(m->name[i]);
    free(m->value[i]);
  }
  m->n = 0;
  m->bytes = 0;
}

/* ---- responses -------------------------------------------------------- */

static bool is(const uint8_t *name, size_t len, const char *s)
{
  return strlen(s) == len && memcmp(name, s, len) == 0;
}

/* 1 to 3 ASCII digits, nothing else. */
static int small_number(const uint8_t *v, size_t n)
{
  if (n == 0 || n > 3)
    return -2;
  int x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -2;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

lg_hdr_kind lg_grpc_header(const uint8_t *name, size_t namelen,
                           const uint8_t *value, size_t valuelen, int *code)
{
  if (is(name, namelen, ":status")) {
    int x = small_number(value, valuelen);
    *code = x >= 100 ? x : -2;
    return LG_HDR_STATUS;
  }
  if (is(name, namelen, "grpc-status")) {
    int x = small_number(value, valuelen);
    *code = x <= 99 ? x : -2;
    return LG_HDR_GRPC_STATUS;
  }
  if (is(name, namelen, "grpc-message"))
    return LG_HDR_GRPC_MESSAGE;
  return LG_HDR_OTHER;
}

static int hexval(uint8_t c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool lg__grpc_header_take(const uint8_t *name, size_t namelen,
                          const uint8_t *value, size_t valuelen,
                          int16_t *http_status, int16_t *grpc_status, char *msg,
                          size_t msgsize)
{
  int code = 0;
  switch (lg_grpc_header(name, namelen, value, valuelen, &code)) {
  case LG_HDR_STATUS:
    *http_status = (int16_t)code;
    return false;
  case LG_HDR_GRPC_STATUS:
    *grpc_status = (int16_t)code;
    return false;
  case LG_HDR_GRPC_MESSAGE:
    lg_grpc_message_decode(value, valuelen, msg, msgsize);
    return true;
  case LG_HDR_OTHER:
    break;
  }
  return false;
}

ssize_t lg__grpc_body_piece(uint8_t *buf, size_t length, const uint8_t *body,
                            size_t len, uint32_t *sent, uint32_t *flags)
{
  size_t left = len - *sent;
  if (left > length)
    left = length; /* the flow-control window is smaller than the body */
  memcpy(buf, body + *sent, left);
  *sent += (uint32_t)left;
  if (*sent == len)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)left;
}

void lg_grpc_message_decode(const uint8_t *v, size_t n, char *out, size_t size)
{
  if (size == 0)
    return;
  size_t j = 0;
  for (size_t i = 0; i < n && j + 1 < size; i++) {
    int c = v[i];
    if (c == '%' && i + 2 < n && hexval(v[i + 1]) >= 0 &&
        hexval(v[i + 2]) >= 0) {
      c = hexval(v[i + 1]) << 4 | hexval(v[i + 2]);
      i += 2;
    }
    out[j++] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
  }
  out[j] = '\0';
}

const char *lg_grpc_status_name(int code)
{
  static const char *const names[LG_GRPC_CODES] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  return code >= 0 && code < LG_GRPC_CODES ? names[code] : "UNKNOWN_STATUS";
}

/* ---- requests --------------------------------------------------------- */

static nghttp2_nv nv_of(const char *name, const char *value, uint8_t flags)
{
  return (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name),
                      strlen(value), flags};
}

size_t lg__grpc_headers(nghttp2_nv *nv, const char *path, const char *authority,
                        bool tls, const char *timeout, const lg_metadata *md,
                        uint8_t flags)
{
  size_t n = 0;
  nv[n++] = nv_of(":method", "POST", flags);
  nv[n++] = nv_of(":scheme", tls ? "https" : "http", flags);
  nv[n++] = nv_of(":path", path, flags);
  nv[n++] = nv_of(":authority", authority, flags);
  nv[n++] = nv_of("content-type", "application/grpc", flags);
  nv[n++] = nv_of("te", "trailers", flags);
  nv[n++] = nv_of("user-agent", "loadgen/" LG_VERSION, flags);
  if (timeout != NULL)
    nv[n++] = nv_of("grpc-timeout", timeout, flags);
  for (unsigned i = 0; md != NULL && i < md->n; i++)
    nv[n++] = nv_of(md->name[i], md->value[i], flags);
  return n;
}
