/* libFuzzer target: a response message of any service, as the streams
 * read it (loadgen/response.c, on wire.c). The first two bytes pick the
 * latency and tag field numbers; the rest is the message. The scan must
 * never read outside the message, and what it reports must be in it. */
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  uint32_t time_field = data[0] % 16, tag_field = data[1] % 16;
  lg_response_info info;
  int rc = lg_response_scan(data + 2, size - 2, time_field, tag_field, &info);
  if (rc != 0 && rc != LG_EPROTO)
    __builtin_trap();
  if (rc == 0 && ((info.has_time && time_field == 0) ||
                  (info.tagged && (tag_field == 0 || size - 2 < 18))))
    __builtin_trap();
  /* Every field the walk accepts lies inside the buffer, in order. */
  lg_wire w;
  lg_wire_init(&w, data + 2, size - 2);
  lg_wire_field f;
  const uint8_t *at = data + 2;
  while ((rc = lg_wire_next(&w, &f)) == 1) {
    if (f.key != at || f.next <= f.key || f.next > data + size ||
        (f.data != NULL && (f.data < f.body || f.data + f.len > f.next)))
      __builtin_trap();
    at = f.next;
  }
  return 0;
}
