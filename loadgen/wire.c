/* The protobuf wire format, read field by field without knowing the type:
 * what the request template and the response scanner both walk. Every read
 * is bounded by the buffer's end, and group nesting by a depth limit, since
 * the bytes come from a server (responses) or from a file (--protoset). */
#include <assert.h>
#include <string.h>

#include "internal.h"

void lg_wire_init(lg_wire *w, const uint8_t *p, size_t len)
{
  assert(p != NULL || len == 0);
  w->p = p;
  w->end = p + len;
}

int lg_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
  uint64_t x = 0;
  const uint8_t *q = *p;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (q >= end)
      return LG_EPROTO;
    uint8_t b = *q++;
    /* The tenth byte may carry only the top bit of a 64-bit value. */
    if (shift == 63 && b > 1)
      return LG_EPROTO;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *p = q;
      *v = x;
      return 0;
    }
  }
  return LG_EPROTO;
}

size_t lg_wire_varint_size(uint64_t v)
{
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

size_t lg_wire_varint_put(uint8_t *out, uint64_t v)
{
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

uint64_t lg_wire_le(const uint8_t *p, unsigned n)
{
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Reads one key at *p. Returns 0 or LG_EPROTO. */
static int read_key(const uint8_t **p, const uint8_t *end, uint32_t *number,
                    uint8_t *type)
{
  uint64_t k;
  if (lg_wire_varint(p, end, &k) != 0)
    return LG_EPROTO;
  uint64_t n = k >> 3;
  if (n == 0 || n > 536870911u || (k & 7) > 5)
    return LG_EPROTO;
  *number = (uint32_t)n;
  *type = (uint8_t)(k & 7);
  return 0;
}

/* Skips the value of a field whose key has been read; for a group, up to
 * and including its end key, with *content_end set before that key.
 * Iterative over the nesting, depth-limited. */
static int skip_value(const uint8_t **p, const uint8_t *end, uint32_t number,
                      uint8_t type, const uint8_t **content_end)
{
  uint32_t stack[LG_WIRE_MAX_DEPTH];
  unsigned depth = 0;
  for (;;) {
    uint64_t v;
    switch (type) {
    case LG_WIRE_VARINT:
      if (lg_wire_varint(p, end, &v) != 0)
        return LG_EPROTO;
      break;
    case LG_WIRE_FIXED64:
      if ((size_t)(end - *p) < 8)
        return LG_EPROTO;
      *p += 8;
      break;
    case LG_WIRE_FIXED32:
      if ((size_t)(end - *p) < 4)
        return LG_EPROTO;
      *p += 4;
      break;
    case LG_WIRE_LEN:
      if (lg_wire_varint(p, end, &v) != 0 || v > (uint64_t)(end - *p))
        return LG_EPROTO;
      *p += v;
      break;
    case LG_WIRE_GROUP_START:
      if (depth == LG_WIRE_MAX_DEPTH)
        return LG_EPROTO;
      stack[depth++] = number;
      break;
    case LG_WIRE_GROUP_END:
      if (depth == 0 || stack[depth - 1] != number)
        return LG_EPROTO;
      depth--;
      break;
    default:
      return LG_EPROTO;
    }
    if (depth == 0)
      return 0;
    const uint8_t *key = *p;
    if (read_key(p, end, &number, &type) != 0)
      return LG_EPROTO;
    if (depth == 1 && type == LG_WIRE_GROUP_END && content_end != NULL)
      *content_end = key;
  }
}

int lg_wire_next(lg_wire *w, lg_wire_field *f)
{
  if (w->p >= w->end)
    return 0;
  const uint8_t *p = w->p;
  memset(f, 0, sizeof *f);
  f->key = p;
  if (read_key(&p, w->end, &f->number, &f->type) != 0)
    return LG_EPROTO;
  f->body = p;
  switch (f->type) {
  case LG_WIRE_VARINT:
    if (lg_wire_varint(&p, w->end, &f->varint) != 0)
      return LG_EPROTO;
    break;
  case LG_WIRE_FIXED64:
  case LG_WIRE_FIXED32: {
    unsigned n = f->type == LG_WIRE_FIXED64 ? 8 : 4;
    if ((size_t)(w->end - p) < n)
      return LG_EPROTO;
    f->data = p;
    f->len = n;
    f->varint = lg_wire_le(p, n);
    p += n;
    break;
  }
  case LG_WIRE_LEN: {
    uint64_t n;
    if (lg_wire_varint(&p, w->end, &n) != 0 || n > (uint64_t)(w->end - p))
      return LG_EPROTO;
    f->data = p;
    f->len = (size_t)n;
    p += n;
    break;
  }
  case LG_WIRE_GROUP_START: {
    const uint8_t *cend = NULL;
    f->data = p;
    if (skip_value(&p, w->end, f->number, f->type, &cend) != 0 || cend == NULL)
      return LG_EPROTO;
    f->len = (size_t)(cend - f->data);
    break;
  }
  default: /* a group end with no start */
    return LG_EPROTO;
  }
  f->next = p;
  w->p = p;
  return 1;
}
