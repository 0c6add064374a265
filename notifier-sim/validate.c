/* Decoding and checking requests from the network, before anything trusts
 * them. User ids are echoed to other clients in a proto3 string (which must
 * be UTF-8, or strict decoders such as python-protobuf reject the whole
 * message) and written into log lines (where a newline or escape sequence
 * would forge or garble entries). No gRPC here: the fuzz target
 * tests/fuzz/fuzz_notifier_request.c drives this file alone. */
#include <assert.h>
#include <string.h>

#include "internal.h"
#include "notifier.pb-c.h"

/* Returns the length of the UTF-8 sequence at s (at most `left` bytes), or
 * 0 when it is malformed: overlong forms, surrogates and code points above
 * U+10FFFF are malformed too (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
  unsigned c = s[0];
  size_t n;
  unsigned cp, min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (left < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

int ntf_user_id_check(const char *id, size_t len)
{
  if (len > NTF_USER_ID_MAX)
    return NTF_EINVAL;
  const unsigned char *s = (const unsigned char *)id;
  for (size_t i = 0; i < len;) {
    if (s[i] < 0x20 || s[i] == 0x7f)
      return NTF_EINVAL;
    size_t n = utf8_seq(s + i, len - i);
    if (n == 0)
      return NTF_EINVAL;
    i += n;
  }
  return 0;
}

/* Reads a base-128 varint of at most 10 bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
  uint64_t x = 0;
  for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *v = x;
      return true;
    }
  }
  return false;
}

/* Finds the bytes of the last user_id (field 1, length-delimited) in an
 * encoded ConnectRequest or PublishRequest: a decoder keeps the last of
 * repeated singular fields, and protobuf-c does. No field 1: an empty id.
 * Returns false when the message cannot be walked, which protobuf-c refuses
 * too (groups, truncation). On input protobuf-c accepted, both agree on
 * every field: its keys are at most 5 bytes, so key >> 3 is its field
 * number. Bounded by `len`: one pass, every length checked against what is
 * left. */
static bool wire_user_id(const uint8_t *p, size_t len, const uint8_t **id,
                         size_t *id_len)
{
  const uint8_t *end = p + len;
  const uint8_t *found = NULL;
  size_t found_len = 0;
  while (p < end) {
    uint64_t key, n;
    if (!read_varint(&p, end, &key))
      return false;
    switch (key & 7) {
    case 0: /* varint */
      if (!read_varint(&p, end, &n))
        return false;
      break;
    case 1: /* 64-bit */
      if (end - p < 8)
        return false;
      p += 8;
      break;
    case 5: /* 32-bit */
      if (end - p < 4)
        return false;
      p += 4;
      break;
    case 2: /* length-delimited */
      if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
        return false;
      if (key >> 3 == 1) {
        found = p;
        found_len = (size_t)n;
      }
      p += n;
      break;
    default:
      return false;
    }
  }
  *id = found;
  *id_len = found_len;
  return true;
}

/* True when the decoded id is exactly the id on the wire: no NUL cut it
 * short. */
static bool id_matches_wire(const uint8_t *buf, size_t len, const char *id,
                            size_t id_len)
{
  const uint8_t *wire;
  size_t wire_len;
  if (!wire_user_id(buf, len, &wire, &wire_len))
    return false;
  return wire_len == id_len && (id_len == 0 || memcmp(wire, id, id_len) == 0);
}

/* A request of type d, refused unread over NTF_REQUEST_MAX; NULL when it
 * does not decode. */
static void *unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                    size_t len)
{
  return len > NTF_REQUEST_MAX ? NULL
                               : protobuf_c_message_unpack(d, NULL, len, buf);
}

int ntf_request_decode(ntf_request_kind kind, const uint8_t *buf, size_t len,
                       ntf_request *out, const char **why)
{
  assert(buf != NULL || len == 0);
  assert(out != NULL && why != NULL);
  const char *id;
  size_t id_len;
  ProtobufCBinaryData payload = {0, NULL};
  void *msg;
  switch (kind) {
  case NTF_REQUEST_CONNECT: {
    Notifier__ConnectRequest *req =
        unpack(&notifier__connect_request__descriptor, buf, len);
    if (req == NULL) {
      *why = "undecodable ConnectRequest";
      return NTF_EINVAL;
    }
    msg = req;
    id = req->user_id;
    id_len = strlen(id);
    /* The wire first: "\0bob" is a bad id, not a missing one. */
    bool wire_ok = id_matches_wire(buf, len, id, id_len);
    if (wire_ok && id_len == 0) {
      *why = "user_id is required";
      goto fail;
    }
    if (!wire_ok || ntf_user_id_check(id, id_len) < 0) {
      *why = "user_id must be 1-256 bytes of UTF-8 without control "
             "characters";
      goto fail;
    }
    break;
  }
  case NTF_REQUEST_PUBLISH: {
    Notifier__PublishRequest *req =
        unpack(&notifier__publish_request__descriptor, buf, len);
    if (req == NULL) {
      *why = "undecodable PublishRequest";
      return NTF_EINVAL;
    }
    msg = req;
    id = req->user_id;
    id_len = strlen(id);
    payload = req->payload;
    if (ntf_user_id_check(id, id_len) < 0 ||
        !id_matches_wire(buf, len, id, id_len) ||
        payload.len > NTF_PAYLOAD_MAX) {
      *why = "invalid user_id, or payload over 1 MiB";
      goto fail;
    }
    break;
  }
  default:
    *why = "unknown request kind";
    return NTF_EINVAL;
  }
  out->user_id = id;
  out->user_id_len = id_len;
  out->payload = payload.data;
  out->payload_len = payload.len;
  out->msg = msg;
  return 0;

fail:
  protobuf_c_message_free_unpacked(msg, NULL);
  return NTF_EINVAL;
}

void ntf_request_free(ntf_request *r)
{
  if (r == NULL || r->msg == NULL)
    return;
  protobuf_c_message_free_unpacked(r->msg, NULL);
  r->msg = NULL;
}
