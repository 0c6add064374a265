/* The notifier's messages, through the protobuf-c code generated from
 * proto/notifier.proto. Decoders take a size cap: the length comes from the
 * server, and protobuf-c allocates in proportion to it. */
#include <assert.h>
#include <string.h>

#include "internal.h"
#include "notifier.pb-c.h"

int lg_notification_decode(const uint8_t *buf, size_t len, size_t cap,
                           lg_notification *out)
{
  assert(out != NULL);
  if (len > cap)
    return LG_ETOOBIG;
  Notifier__Notification *n = notifier__notification__unpack(NULL, len, buf);
  if (n == NULL)
    return LG_EINVAL;
  out->id = n->id;
  out->sent_unix_nanos = n->sent_unix_nanos;
  out->payload_len = n->payload.len;
  notifier__notification__free_unpacked(n, NULL);
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
  if (n + 5 > cap || n > UINT32_MAX)
    return LG_ETOOBIG;
  lg_frame_prefix(out, (uint32_t)n);
  notifier__connect_request__pack(&req, out + 5);
  return (int)(n + 5);
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
