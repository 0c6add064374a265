/* gRPC message framing: each message is a 1-byte compressed flag, a 4-byte
 * big-endian length, then the message. HTTP/2 may split a message over any
 * number of DATA frames and pack several messages into one, so this is a
 * small state machine fed with whatever nghttp2 hands us. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void lg_deframer_init(lg_deframer *d)
{
  memset(d, 0, sizeof *d);
}

void lg_deframer_reset(lg_deframer *d)
{
  free(d->buf);
  lg_deframer_init(d);
}

bool lg_deframer_idle(const lg_deframer *d)
{
  return d->hdr_got == 0;
}

void lg_frame_prefix(uint8_t out[5], uint32_t len)
{
  out[0] = 0;
  out[1] = (uint8_t)(len >> 24);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 8);
  out[4] = (uint8_t)len;
}

/* Validates a complete prefix. The cap is checked here, before any byte of
 * the body is buffered, so a hostile length never becomes an allocation. */
static int check_prefix(lg_deframer *d, uint32_t cap)
{
  d->len = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
           (uint32_t)d->hdr[3] << 8 | d->hdr[4];
  if (d->hdr[0] == 1)
    return LG_ECOMPRESS; /* we send no grpc-accept-encoding */
  if (d->hdr[0] != 0)
    return LG_EINVAL;
  if (d->len > cap)
    return LG_ETOOBIG;
  return 0;
}

/* The buffer grows with the bytes that actually arrived, not with the
 * length the prefix announces: a server announcing 4 MiB and sending ten
 * bytes costs ten bytes (rounded up to 4 KiB), on each of 100,000 streams.
 * Invariant: while buf is set, its capacity is buf_cap(got, len). */
static uint32_t buf_cap(uint32_t got, uint32_t len)
{
  uint32_t c = 4096;
  while (c < got)
    c *= 2; /* got <= len <= 2^30: no overflow */
  return c < len ? c : len;
}

int lg_deframer_feed(lg_deframer *d, const uint8_t *data, size_t len,
                     uint32_t cap, lg_message_cb cb, void *ud)
{
  assert(d != NULL && cb != NULL);
  assert(data != NULL || len == 0);
  while (len > 0) {
    if (d->hdr_got < 5) {
      size_t n = 5 - d->hdr_got;
      if (n > len)
        n = len;
      memcpy(d->hdr + d->hdr_got, data, n);
      d->hdr_got += (uint8_t)n;
      data += n;
      len -= n;
      if (d->hdr_got < 5)
        return 0;
      int rc = check_prefix(d, cap);
      if (rc != 0)
        return rc;
      d->got = 0;
    }
    size_t need = d->len - d->got;
    if (d->buf == NULL && len >= need) {
      /* Whole message in this chunk: hand it over without copying. */
      d->hdr_got = 0;
      int rc = cb(ud, data, need);
      data += need;
      len -= need;
      if (rc != 0)
        return rc;
      continue;
    }
    size_t n = need < len ? need : len;
    uint32_t want = d->got + (uint32_t)n;
    if (d->buf == NULL || want > buf_cap(d->got, d->len)) {
      uint8_t *b = realloc(d->buf, buf_cap(want, d->len));
      if (b == NULL)
        return LG_ENOMEM;
      d->buf = b;
    }
    memcpy(d->buf + d->got, data, n);
    d->got += (uint32_t)n;
    data += n;
    len -= n;
    if (d->got < d->len)
      return 0;
    uint8_t *msg = d->buf;
    d->buf = NULL;
    d->hdr_got = 0;
    int rc = cb(ud, msg, d->len);
    free(msg);
    if (rc != 0)
      return rc;
  }
  return 0;
}
