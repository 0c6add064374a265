/* libFuzzer target: what a server sends on a stream. The input's first two
 * bytes choose how the rest is cut into DATA chunks (HTTP/2 may cut
 * anywhere); each reassembled message goes through the response scan (the
 * notifier's fields, as for its call) and the PublishReply decoder. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#define CAP 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_message(void *ud, const uint8_t *msg, size_t len)
{
  size_t *count = ud;
  (*count)++;
  lg_response_info info;
  if (lg_response_scan(msg, len, LG_NOTIFIER_LATENCY_FIELD,
                       LG_NOTIFIER_PAYLOAD_FIELD, &info) == 0 &&
      info.tagged && len < LG_BCAST_TAG_LEN)
    __builtin_trap(); /* a tag cannot be longer than its message */
  uint64_t delivered;
  (void)lg_publish_reply_decode(msg, len, &delivered);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  size_t step_a = (size_t)data[0] + 1, step_b = (size_t)data[1] + 1;
  data += 2;
  size -= 2;
  lg_deframer d;
  lg_deframer_init(&d);
  size_t count = 0, off = 0;
  int rc = 0;
  for (int i = 0; off < size && rc == 0; i++) {
    size_t n = i % 2 ? step_b : step_a;
    if (n > size - off)
      n = size - off;
    rc = lg_deframer_feed(&d, data + off, n, CAP, on_message, &count);
    off += n;
  }
  /* Whole-buffer feeding must find the same messages when no error. */
  if (rc == 0) {
    lg_deframer e;
    lg_deframer_init(&e);
    size_t count2 = 0;
    if (lg_deframer_feed(&e, data, size, CAP, on_message, &count2) != 0 ||
        count2 != count || lg_deframer_idle(&e) != lg_deframer_idle(&d))
      __builtin_trap();
    lg_deframer_reset(&e);
  }
  lg_deframer_reset(&d);
  return 0;
}
