/* The notifier's own messages, through the protobuf-c code generated from
 * proto/notifier.proto: its Publish call (the broadcasts) and the built-in
 * Connect request. What any service's responses say is response.c's. */
#include <assert.h>
#include <string.h>

#include "internal.h"
#include "notifier.pb-c.h"

static const uint8_t tag_magic[4] = {'L', 'G', 'B', '1'};

int lg_bcast_tag_encode(uint8_t *payload, size_t len, uint32_t seq,
                        uint64_t t0_ns)
{
  assert(payload != NULL || len == 0);
  if (len < LG_BCAST_TAG_LEN)
    return LG_EINVAL;
  memcpy(payload, tag_magic, sizeof tag_magic);
  for (int i = 0; i < 4; i++)
    payload[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
  for (int i = 0; i < 8; i++)
    payload[8 + i] = (uint8_t)(t0_ns >> (56 - 8 * i));
  return 0;
}

int lg_bcast_tag_decode(const uint8_t *payload, size_t len, uint32_t *seq,
                        uint64_t *t0_ns)
{
  assert(seq != NULL && t0_ns != NULL);
  if (len < LG_BCAST_TAG_LEN || payload == NULL ||
      memcmp(payload, tag_magic, sizeof tag_magic) != 0)
    return LG_EINVAL;
  uint32_t s = 0;
  uint64_t t = 0;
  for (int i = 0; i < 4; i++)
    s = s << 8 | payload[4 + i];
  for (int i = 0; i < 8; i++)
    t = t << 8 | payload[8 + i];
  *seq = s;
  *t0_ns = t;
  return 0;
}

int lg_publish_reply_decode(const uint8_t *buf, size_t len, uint64_t *delivered)
{
  Notifier__PublishReply *r = notifier__publish_reply__unpack(NULL, len, buf);
  if (r == NULL)
    return LG_EINVAL;
  *delivered = r->delivered;
  notifier__publish_reply__free_unpacked(r, NULL);
  return 0;
}

int lg_connect_request_encode(uint8_t *out, size_t cap, const char *user_id)
{
  Notifier__ConnectRequest req = NOTIFIER__CONNECT_REQUEST__INIT;
  req.user_id = (char *)user_id;
  size_t n = notifier__connect_request__get_packed_size(&req);
  if (n > cap || n > INT32_MAX)
    return LG_ETOOBIG;
  notifier__connect_request__pack(&req, out);
  return (int)n;
}

int lg_publish_request_encode(uint8_t *out, size_t cap, const char *user_id,
                              const uint8_t *payload, size_t payload_len)
{
  Notifier__PublishRequest req = NOTIFIER__PUBLISH_REQUEST__INIT;
  req.user_id = (char *)user_id;
  req.payload.data = (uint8_t *)payload;
  req.payload.len = payload_len;
  size_t n = notifier__publish_request__get_packed_size(&req);
  if (n + 5 > cap || n > INT32_MAX - 5)
    return LG_ETOOBIG;
  lg_frame_prefix(out, (uint32_t)n);
  notifier__publish_request__pack(&req, out + 5);
  return (int)(n + 5);
}
