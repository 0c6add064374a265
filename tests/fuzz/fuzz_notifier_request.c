/* libFuzzer target: what the notifier does with a request message from the
 * network before trusting it (notifier-sim/validate.c). Each input is
 * decoded as a ConnectRequest and as a PublishRequest, and checked against
 * an oracle: protobuf-c again, through an allocator that remembers each
 * allocation's size. protobuf-c allocates a string's wire length + 1 bytes,
 * so the oracle knows how long the user_id really was even when a NUL cut
 * the C string short. ntf_request_decode() must accept exactly the inputs
 * the oracle finds valid, and hand over the same id and payload. The raw
 * input also goes through ntf_user_id_check() on its own. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "notifier.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A size header in front of every oracle allocation, aligned like malloc. */
typedef union header {
  size_t size;
  max_align_t align;
} header;

static void *oracle_alloc(void *ud, size_t size)
{
  (void)ud;
  header *h = malloc(sizeof *h + size);
  if (h == NULL)
    return NULL;
  h->size = size;
  return h + 1;
}

static void oracle_free(void *ud, void *p)
{
  (void)ud;
  if (p != NULL)
    free((header *)p - 1);
}

static ProtobufCAllocator oracle = {oracle_alloc, oracle_free, NULL};

/* The user_id's length on the wire: 0 when the field was absent (the
 * message still points at protobuf-c's static empty string). */
static size_t wire_len(const char *s)
{
  if (s == protobuf_c_empty_string)
    return 0;
  return ((const header *)(const void *)s - 1)->size - 1;
}

static void check_decode(ntf_request_kind kind, const uint8_t *data,
                         size_t size)
{
  /* The oracle's verdict. */
  const char *id = NULL;
  const ProtobufCBinaryData *payload = NULL;
  ProtobufCMessage *msg = NULL;
  bool valid = false;
  if (size <= NTF_REQUEST_MAX) {
    if (kind == NTF_REQUEST_CONNECT) {
      Notifier__ConnectRequest *m =
          notifier__connect_request__unpack(&oracle, size, data);
      if (m != NULL) {
        msg = &m->base;
        id = m->user_id;
      }
    } else {
      Notifier__PublishRequest *m =
          notifier__publish_request__unpack(&oracle, size, data);
      if (m != NULL) {
        msg = &m->base;
        id = m->user_id;
        payload = &m->payload;
      }
    }
  }
  if (msg != NULL) {
    size_t len = strlen(id);
    valid = len == wire_len(id) && ntf_user_id_check(id, len) == 0 &&
            (kind == NTF_REQUEST_CONNECT ? len > 0
                                         : payload->len <= NTF_PAYLOAD_MAX);
  }

  ntf_request req, before;
  memset(&req, 0xa5, sizeof req);
  before = req;
  const char *why = NULL;
  int rc = ntf_request_decode(kind, data, size, &req, &why);
  if ((rc == 0) != valid)
    __builtin_trap(); /* accepts what it should refuse, or the reverse */
  if (rc == 0) {
    if (req.user_id_len != strlen(id) ||
        memcmp(req.user_id, id, req.user_id_len + 1) != 0 ||
        memchr(req.user_id, 0, req.user_id_len) != NULL)
      __builtin_trap();
    if (kind == NTF_REQUEST_PUBLISH &&
        (req.payload_len != payload->len ||
         (req.payload_len > 0 &&
          memcmp(req.payload, payload->data, req.payload_len) != 0)))
      __builtin_trap();
    ntf_request_free(&req);
    ntf_request_free(&req); /* a freed request is a no-op */
  } else if (rc != NTF_EINVAL || why == NULL ||
             memcmp(&req, &before, sizeof req) != 0) {
    __builtin_trap(); /* failure leaves the output untouched */
  }
  if (msg != NULL)
    protobuf_c_message_free_unpacked(msg, &oracle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_decode(NTF_REQUEST_CONNECT, data, size);
  check_decode(NTF_REQUEST_PUBLISH, data, size);

  /* The id check alone, on raw bytes: what it accepts is short and has no
   * control character, NUL included. */
  if (ntf_user_id_check((const char *)data, size) == 0) {
    if (size > NTF_USER_ID_MAX)
      __builtin_trap();
    for (size_t i = 0; i < size; i++)
      if (data[i] < 0x20 || data[i] == 0x7f)
        __builtin_trap();
  }
  return 0;
}
