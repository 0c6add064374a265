/* What loadgen reads in any service's response (loadgen/response.c): the
 * latency field by number (varint and fixed64), the broadcast tag, and
 * malformed wire data refused, checked against messages packed by
 * protobuf-c (the notifier's Notification) and by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "notifier.pb-c.h"

static size_t pack(Notifier__Notification *n, uint8_t *buf)
{
  return notifier__notification__pack(n, buf);
}

/* Packs n into buf (cap bytes) and scans it as the loadgen scans the
 * notifier's Notification (its latency and payload fields); returns the
 * packed length. */
static size_t scan_notification(Notifier__Notification *n, uint8_t *buf,
                                size_t cap, lg_response_info *info)
{
  assert_true(notifier__notification__get_packed_size(n) <= cap);
  size_t len = pack(n, buf);
  assert_int_equal(lg_response_scan(buf, len, LG_NOTIFIER_LATENCY_FIELD,
                                    LG_NOTIFIER_PAYLOAD_FIELD, info),
                   0);
  return len;
}

static void test_latency_field(void **state)
{
  (void)state;
  Notifier__Notification n = NOTIFIER__NOTIFICATION__INIT;
  n.id = 42;
  n.user_id = "user-7";
  uint8_t payload[3] = {1, 2, 3};
  n.payload.data = payload;
  n.payload.len = 3;
  n.sent_unix_nanos = 1700000000123456789;
  uint8_t buf[128];
  lg_response_info info;
  size_t len = scan_notification(&n, buf, sizeof buf, &info);
  assert_true(info.has_time);
  assert_true(info.unix_nanos == 1700000000123456789);
  assert_false(info.tagged);
  /* another field number: not found; 0: not looked for */
  assert_int_equal(lg_response_scan(buf, len, 9, 0, &info), 0);
  assert_false(info.has_time);
  assert_int_equal(lg_response_scan(buf, len, 0, 0, &info), 0);
  assert_false(info.has_time);
  /* field 1 is the uint64 id: any varint field can be named */
  assert_int_equal(lg_response_scan(buf, len, 1, 0, &info), 0);
  assert_true(info.has_time && info.unix_nanos == 42);
  /* a string field of that number is not a time */
  assert_int_equal(lg_response_scan(buf, len, 2, 0, &info), 0);
  assert_false(info.has_time);
}

static void test_fixed64_and_last_wins(void **state)
{
  (void)state;
  /* field 5 sfixed64 = 1000, then field 5 varint = 7 (merged: last wins),
   * field 6 fixed32 */
  uint8_t buf[] = {0x29, 0xe8, 0x03, 0,    0, 0, 0, 0,
                   0,    0x28, 0x07, 0x35, 1, 2, 3, 4};
  lg_response_info info;
  assert_int_equal(lg_response_scan(buf, 9, 5, 0, &info), 0);
  assert_true(info.has_time && info.unix_nanos == 1000);
  assert_int_equal(lg_response_scan(buf, sizeof buf, 5, 0, &info), 0);
  assert_true(info.has_time && info.unix_nanos == 7);
  /* negative int64: ten-byte varint, two's complement */
  uint8_t neg[] = {0x28, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0x01};
  assert_int_equal(lg_response_scan(neg, sizeof neg, 5, 0, &info), 0);
  assert_true(info.unix_nanos == -1);
}

static void test_tagged(void **state)
{
  (void)state;
  uint8_t payload[32];
  memset(payload, 'x', sizeof payload);
  assert_int_equal(lg_bcast_tag_encode(payload, sizeof payload, 3, 12345), 0);
  Notifier__Notification n = NOTIFIER__NOTIFICATION__INIT;
  n.id = 1;
  n.payload.data = payload;
  n.payload.len = sizeof payload;
  uint8_t buf[128];
  lg_response_info info;
  size_t len = scan_notification(&n, buf, sizeof buf, &info);
  assert_true(info.tagged);
  assert_int_equal(info.bcast_seq, 3);
  assert_true(info.bcast_t0_ns == 12345);
  /* without a tag field, or an untagged payload: not tagged */
  assert_int_equal(lg_response_scan(buf, len, 0, 0, &info), 0);
  assert_false(info.tagged);
  memset(payload, 'x', sizeof payload);
  len = pack(&n, buf);
  assert_int_equal(lg_response_scan(buf, len, 0, 3, &info), 0);
  assert_false(info.tagged);
}

static void test_malformed(void **state)
{
  (void)state;
  lg_response_info info = {.has_time = true, .unix_nanos = 99};
  /* field 2 (string) claiming 100 bytes with 2 present */
  uint8_t bad[] = {0x12, 100, 'a', 'b'};
  assert_int_equal(lg_response_scan(bad, sizeof bad, 4, 3, &info), LG_EPROTO);
  assert_true(info.unix_nanos == 99); /* untouched on failure */
  /* truncated varint, field number 0, wire types 6 and 7, stray group end */
  uint8_t trunc[] = {0x20, 0x80};
  uint8_t zero[] = {0x00, 0x01};
  uint8_t six[] = {0x0e};
  uint8_t seven[] = {0x0f};
  uint8_t end[] = {0x0c};
  assert_int_equal(lg_response_scan(trunc, 2, 4, 0, &info), LG_EPROTO);
  assert_int_equal(lg_response_scan(zero, 2, 4, 0, &info), LG_EPROTO);
  assert_int_equal(lg_response_scan(six, 1, 4, 0, &info), LG_EPROTO);
  assert_int_equal(lg_response_scan(seven, 1, 4, 0, &info), LG_EPROTO);
  assert_int_equal(lg_response_scan(end, 1, 4, 0, &info), LG_EPROTO);
  /* a group (field 1) with a varint inside, closed: fine; unclosed: not */
  uint8_t group[] = {0x0b, 0x10, 0x05, 0x0c, 0x20, 0x09};
  assert_int_equal(lg_response_scan(group, sizeof group, 4, 0, &info), 0);
  assert_true(info.has_time && info.unix_nanos == 9);
  assert_int_equal(lg_response_scan(group, 3, 4, 0, &info), LG_EPROTO);
  /* groups nested past the limit are refused, not recursed into */
  uint8_t deep[2 * (LG_WIRE_MAX_DEPTH + 1)];
  for (size_t i = 0; i < LG_WIRE_MAX_DEPTH + 1; i++) {
    deep[i] = 0x0b;
    deep[LG_WIRE_MAX_DEPTH + 1 + i] = 0x0c;
  }
  assert_int_equal(lg_response_scan(deep, sizeof deep, 4, 0, &info), LG_EPROTO);
  assert_int_equal(lg_response_scan(deep + 1, sizeof deep - 2, 4, 0, &info), 0);
  /* empty message: all defaults */
  assert_int_equal(lg_response_scan(bad, 0, 4, 3, &info), 0);
  assert_false(info.has_time);
}

static void test_varints(void **state)
{
  (void)state;
  uint8_t b[10];
  uint64_t cases[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = lg_wire_varint_put(b, cases[i]);
    assert_int_equal(n, lg_wire_varint_size(cases[i]));
    const uint8_t *p = b;
    uint64_t v;
    assert_int_equal(lg_wire_varint(&p, b + n, &v), 0);
    assert_true(v == cases[i]);
    assert_ptr_equal(p, b + n);
    p = b;
    if (n > 1) /* one byte short */
      assert_int_equal(lg_wire_varint(&p, b + n - 1, &v), LG_EPROTO);
  }
  /* an eleventh byte, or a tenth carrying more than one bit */
  uint8_t over[11];
  memset(over, 0xff, sizeof over);
  over[10] = 0;
  const uint8_t *p = over;
  uint64_t v;
  assert_int_equal(lg_wire_varint(&p, over + 11, &v), LG_EPROTO);
  over[9] = 0x02;
  p = over;
  assert_int_equal(lg_wire_varint(&p, over + 10, &v), LG_EPROTO);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_latency_field),
      cmocka_unit_test(test_fixed64_and_last_wins),
      cmocka_unit_test(test_tagged),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_varints),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
