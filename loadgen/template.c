/* A request with {user} in it, encoded once and rendered per user.
 *
 * 100,000 users must get distinct requests without 100,000 runs of protoc,
 * so the text is encoded once, with {user} left as-is inside string
 * literals and replaced by a sentinel number elsewhere (lg_template_text),
 * and the encoded message is walked with the descriptors: each "{user}" in
 * a string or bytes field, and each numeric field holding the sentinel, is
 * a slot. Slots change size per user (the digits of 7 and of 70000; the
 * varint of a number), so every length prefix that encloses one is a slot
 * too, recomputed when rendering.
 *
 * The slots are kept in pre-order, each with the count of slots nested in
 * it, so a render is one pass over the base bytes: copy what lies between
 * slots, write each slot for this user. Sizes are computed first (a length
 * prefix needs its content's size), by the same walk. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TEMPLATE_MAX ((size_t)16 << 20)

enum {
  PART_LEN,  /* a length prefix and its content, which holds slots */
  PART_TEXT, /* "{user}" inside a string or bytes field */
  PART_NUM   /* a numeric value (varint or fixed bytes) */
};

typedef struct {
  uint32_t begin; /* LEN: the length prefix; TEXT, NUM: the value */
  uint32_t body;  /* LEN: the content */
  uint32_t end;
  uint32_t ndesc; /* parts nested in this one, which follow it */
  uint8_t kind;
  uint8_t num; /* NUM: lg_field_kind */
} part;

struct lg_template {
  uint8_t *base;
  size_t len;
  part *parts;
  uint32_t nparts;
  size_t cap;
  unsigned slots;   /* TEXT and NUM parts */
  unsigned numeric; /* NUM parts */
};

/* ---- the text ---------------------------------------------------------- */

int lg_template_text(const char *text, char **out, unsigned *numeric, char *err,
                     size_t errlen)
{
  const size_t ph = sizeof LG_USER_PLACEHOLDER - 1;
  char sentinel[16];
  int sl = snprintf(sentinel, sizeof sentinel, "%u", LG_USER_SENTINEL);
  size_t n = strlen(text);
  /* The sentinel (10 digits) is longer than {user} (6): at most n/6 grow. */
  char *o = malloc(n + (n / ph + 1) * (size_t)sl + 1);
  if (o == NULL)
    return LG_ENOMEM;
  size_t j = 0;
  unsigned count = 0;
  for (size_t i = 0; i < n;) {
    char c = text[i];
    if (c == '#') { /* a comment, to the end of the line */
      while (i < n && text[i] != '\n')
        o[j++] = text[i++];
    } else if (c == '"' || c == '\'') {
      size_t start = i;
      o[j++] = text[i++];
      while (i < n && text[i] != c) {
        if (text[i] == '\\' && i + 1 < n)
          o[j++] = text[i++];
        o[j++] = text[i++];
      }
      if (i >= n) {
        snprintf(err, errlen, "--data: unterminated string at offset %zu",
                 start);
        free(o);
        return LG_EINVAL;
      }
      o[j++] = text[i++];
    } else if (strncmp(text + i, LG_USER_PLACEHOLDER, ph) == 0) {
      memcpy(o + j, sentinel, (size_t)sl);
      j += (size_t)sl;
      i += ph;
      count++;
    } else {
      o[j++] = text[i++];
    }
  }
  o[j] = '\0';
  *out = o;
  *numeric = count;
  return 0;
}

/* ---- the walk ---------------------------------------------------------- */

typedef struct {
  lg_template *t;
  const lg_descriptors *d;
  char *err;
  size_t errlen;
} builder;

static int push(builder *b, uint8_t kind, uint8_t num, const uint8_t *begin,
                const uint8_t *body, const uint8_t *end)
{
  lg_template *t = b->t;
  if (t->nparts == t->cap) {
    part *p = npc_grow(t->parts, &t->cap, sizeof *p, 16);
    if (p == NULL)
      return LG_ENOMEM;
    t->parts = p;
  }
  t->parts[t->nparts++] =
      (part){.begin = (uint32_t)(begin - t->base),
             .body = body != NULL ? (uint32_t)(body - t->base) : 0,
             .end = (uint32_t)(end - t->base),
             .kind = kind,
             .num = num};
  if (kind != PART_LEN)
    t->slots++;
  if (kind == PART_NUM)
    t->numeric++;
  return 0;
}

/* Closes the LEN part opened at index i: dropped when nothing was nested
 * in it, else its descendant count is set. */
static void close_len(lg_template *t, uint32_t i)
{
  if (t->nparts == i + 1)
    t->nparts = i;
  else
    t->parts[i].ndesc = t->nparts - i - 1;
}

/* Number n as the wire holds it in a field of kind k, and the size of a
 * fixed-width value (0: a varint). false: no number fits this kind. One
 * encoding for the sentinel the template is searched for and the user
 * numbers written in its place, so the two always agree. */
static bool wire_number(lg_field_kind k, uint64_t n, uint64_t *v,
                        unsigned *width)
{
  *v = n;
  *width = 0;
  switch (k) {
  case LG_FIELD_VARINT:
    return true;
  case LG_FIELD_ZIGZAG:
    *v = n << 1; /* n is never negative */
    return true;
  case LG_FIELD_FIXED32:
  case LG_FIELD_SFIXED32:
    *width = 4;
    return true;
  case LG_FIELD_FIXED64:
  case LG_FIELD_SFIXED64:
    *width = 8;
    return true;
  case LG_FIELD_FLOAT: {
    /* exact: users stay under 2^24 and the sentinel is 7 * 2^28 */
    float f = (float)n;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    *v = bits, *width = 4;
    return true;
  }
  case LG_FIELD_DOUBLE: {
    double d = (double)n;
    memcpy(v, &d, 8);
    *width = 8;
    return true;
  }
  case LG_FIELD_NONE:
  case LG_FIELD_BOOL:
  case LG_FIELD_STRING:
  case LG_FIELD_BYTES:
  case LG_FIELD_MESSAGE:
  case LG_FIELD_GROUP:
    break;
  }
  return false;
}

static int walk(builder *b, const uint8_t *p, size_t len, const lg_msgtype *m,
                unsigned depth);

/* The elements of a packed repeated numeric field. */
static int walk_packed(builder *b, const lg_wire_field *f, lg_field_kind k)
{
  uint64_t want;
  unsigned width;
  if (!wire_number(k, LG_USER_SENTINEL, &want, &width))
    return 0;
  uint32_t open = b->t->nparts;
  int rc = push(b, PART_LEN, 0, f->body, f->data, f->data + f->len);
  const uint8_t *q = f->data, *end = f->data + f->len;
  while (rc == 0 && q < end) {
    const uint8_t *v = q;
    uint64_t x;
    if (width == 0) {
      if (lg_wire_varint(&q, end, &x) != 0)
        return LG_EPROTO;
    } else {
      if ((size_t)(end - q) < width)
        return LG_EPROTO;
      x = lg_wire_le(q, width);
      q += width;
    }
    if (x == want)
      rc = push(b, PART_NUM, (uint8_t)k, v, NULL, q);
  }
  if (rc == 0)
    close_len(b->t, open);
  return rc;
}

static int walk_field(builder *b, const lg_wire_field *f, const lg_msgtype *m,
                      unsigned depth)
{
  const lg_msgtype *sub = NULL;
  lg_field_kind k = lg_desc_field(b->d, m, f->number, &sub);
  uint64_t want;
  unsigned width;
  switch (f->type) {
  case LG_WIRE_VARINT:
    if (wire_number(k, LG_USER_SENTINEL, &want, &width) && width == 0 &&
        f->varint == want)
      return push(b, PART_NUM, (uint8_t)k, f->body, NULL, f->next);
    return 0;
  case LG_WIRE_FIXED32:
  case LG_WIRE_FIXED64:
    if (wire_number(k, LG_USER_SENTINEL, &want, &width) && width == f->len &&
        f->varint == want)
      return push(b, PART_NUM, (uint8_t)k, f->data, NULL, f->next);
    return 0;
  case LG_WIRE_LEN:
    if (k == LG_FIELD_STRING || k == LG_FIELD_BYTES) {
      const size_t ph = sizeof LG_USER_PLACEHOLDER - 1;
      uint32_t open = b->t->nparts;
      int rc = push(b, PART_LEN, 0, f->body, f->data, f->data + f->len);
      for (size_t i = 0; rc == 0 && i + ph <= f->len; i++)
        if (memcmp(f->data + i, LG_USER_PLACEHOLDER, ph) == 0) {
          rc = push(b, PART_TEXT, 0, f->data + i, NULL, f->data + i + ph);
          i += ph - 1;
        }
      if (rc == 0)
        close_len(b->t, open);
      return rc;
    }
    if (k == LG_FIELD_MESSAGE) {
      uint32_t open = b->t->nparts;
      int rc = push(b, PART_LEN, 0, f->body, f->data, f->data + f->len);
      if (rc == 0)
        rc = walk(b, f->data, f->len, sub, depth + 1);
      if (rc == 0)
        close_len(b->t, open);
      return rc;
    }
    return walk_packed(b, f, k);
  case LG_WIRE_GROUP_START:
    /* A group has no length prefix: its slots sit at this level. */
    if (k == LG_FIELD_GROUP)
      return walk(b, f->data, f->len, sub, depth + 1);
    return 0;
  default:
    return 0;
  }
}

static int walk(builder *b, const uint8_t *p, size_t len, const lg_msgtype *m,
                unsigned depth)
{
  if (depth > LG_WIRE_MAX_DEPTH) {
    snprintf(b->err, b->errlen, "--data: messages nested too deep");
    return LG_EINVAL;
  }
  lg_wire w;
  lg_wire_init(&w, p, len);
  lg_wire_field f;
  int rc;
  while ((rc = lg_wire_next(&w, &f)) == 1)
    if ((rc = walk_field(b, &f, m, depth)) != 0)
      return rc;
  if (rc != 0)
    snprintf(b->err, b->errlen, "--data: the encoded request is malformed");
  return rc;
}

int lg_template_new(const uint8_t *msg, size_t len, const lg_descriptors *d,
                    const char *type, unsigned numeric, lg_template **out,
                    char *err, size_t errlen)
{
  if (len > TEMPLATE_MAX) {
    snprintf(err, errlen, "--data: the request is over %zu bytes",
             TEMPLATE_MAX);
    return LG_ETOOBIG;
  }
  const lg_msgtype *m = lg_desc_message(d, type);
  if (m == NULL) {
    snprintf(err, errlen, "no message type %s in the descriptors", type);
    return LG_ENOENT;
  }
  lg_template *t = calloc(1, sizeof *t);
  if (t == NULL)
    return LG_ENOMEM;
  t->base = malloc(len ? len : 1);
  if (t->base == NULL) {
    free(t);
    return LG_ENOMEM;
  }
  if (len > 0)
    memcpy(t->base, msg, len);
  t->len = len;
  builder b = {t, d, err, errlen};
  int rc = walk(&b, t->base, len, m, 0);
  if (rc == 0 && t->numeric != numeric) {
    snprintf(err, errlen,
             "--data: %u {user} outside strings, but %u numeric fields hold "
             "it once encoded: {user} goes in string, bytes and numeric "
             "fields (not bool, not a closed enum), and the data may not "
             "hold %u itself",
             numeric, t->numeric, LG_USER_SENTINEL);
    rc = LG_EINVAL;
  }
  if (rc != 0) {
    lg_template_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void lg_template_free(lg_template *t)
{
  if (t == NULL)
    return;
  free(t->base);
  free(t->parts);
  free(t);
}

unsigned lg_template_slots(const lg_template *t)
{
  return t->slots;
}

/* ---- rendering --------------------------------------------------------- */

static unsigned digits(uint32_t u)
{
  unsigned n = 1;
  while (u >= 10) {
    u /= 10;
    n++;
  }
  return n;
}

/* Writes the value of a numeric slot for user u at o (NULL: only counts)
 * and returns its size. */
static size_t num_put(uint8_t *o, uint8_t k, uint32_t u)
{
  uint64_t v;
  unsigned width;
  if (!wire_number((lg_field_kind)k, u, &v, &width))
    return 0;
  if (width == 0)
    return o != NULL ? lg_wire_varint_put(o, v) : lg_wire_varint_size(v);
  for (unsigned i = 0; o != NULL && i < width; i++)
    o[i] = (uint8_t)(v >> (8 * i));
  return width;
}

/* Renders base[s, e) with the parts [i, iend) (the direct children and
 * their descendants, which all lie inside it) for user u at o, or only
 * counts when o is NULL; returns the size. A length prefix needs its
 * content's size first: a counting pass of that content, then the
 * writing one. */
static size_t range_put(const lg_template *t, uint32_t i, uint32_t iend,
                        uint32_t s, uint32_t e, uint32_t u, uint8_t *o)
{
  size_t n = 0;
  uint32_t at = s;
  while (i < iend) {
    const part *c = &t->parts[i];
    if (o != NULL)
      memcpy(o + n, t->base + at, c->begin - at);
    n += c->begin - at;
    switch (c->kind) {
    case PART_LEN: {
      uint32_t cend = i + 1 + c->ndesc;
      size_t inner = range_put(t, i + 1, cend, c->body, c->end, u, NULL);
      n += o != NULL ? lg_wire_varint_put(o + n, inner)
                     : lg_wire_varint_size(inner);
      if (o != NULL)
        range_put(t, i + 1, cend, c->body, c->end, u, o + n);
      n += inner;
      break;
    }
    case PART_TEXT: {
      unsigned nd = digits(u);
      uint32_t v = u;
      for (unsigned k = nd; o != NULL && k > 0; k--) {
        o[n + k - 1] = (uint8_t)('0' + v % 10);
        v /= 10;
      }
      n += nd;
      break;
    }
    default:
      n += num_put(o != NULL ? o + n : NULL, c->num, u);
      break;
    }
    at = c->end;
    i += 1 + c->ndesc;
  }
  if (o != NULL)
    memcpy(o + n, t->base + at, e - at);
  return n + (e - at);
}

size_t lg_template_size(const lg_template *t, uint32_t user)
{
  return range_put(t, 0, t->nparts, 0, (uint32_t)t->len, user, NULL);
}

size_t lg_template_render(const lg_template *t, uint32_t user, uint8_t *out,
                          size_t cap)
{
  size_t n = lg_template_size(t, user);
  if (n > cap)
    return 0;
  size_t done = range_put(t, 0, t->nparts, 0, (uint32_t)t->len, user, out);
  assert(done == n);
  (void)done;
  return n;
}
