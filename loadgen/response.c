/* What loadgen reads in a response message, of any service: only its
 * top-level fields, by number, so no descriptor is needed on the hot path
 * (100,000 streams may receive a broadcast at once). Walking every field
 * also checks the message is well-formed protobuf. */
#include <assert.h>
#include <string.h>

#include "internal.h"

int lg_response_scan(const uint8_t *msg, size_t len, uint32_t time_field,
                     uint32_t tag_field, lg_response_info *out)
{
  assert(out != NULL);
  lg_response_info info = {0};
  lg_wire w;
  lg_wire_init(&w, msg, len);
  lg_wire_field f;
  int rc;
  while ((rc = lg_wire_next(&w, &f)) == 1) {
    if (time_field != 0 && f.number == time_field &&
        (f.type == LG_WIRE_VARINT || f.type == LG_WIRE_FIXED64)) {
      /* int64 and sfixed64 alike: the two's complement of the bits. The
       * last occurrence wins, as protobuf merges scalars. */
      info.has_time = true;
      info.unix_nanos = (int64_t)f.varint;
    } else if (tag_field != 0 && f.number == tag_field &&
               f.type == LG_WIRE_LEN) {
      info.tagged = lg_bcast_tag_decode(f.data, f.len, &info.bcast_seq,
                                        &info.bcast_t0_ns) == 0;
    }
  }
  if (rc != 0)
    return LG_EPROTO;
  *out = info;
  return 0;
}
