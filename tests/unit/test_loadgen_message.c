/* Notifier message encode/decode with size caps (loadgen/message.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "notifier.pb-c.h"

static void test_notification_roundtrip(void **state)
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
  size_t len = notifier__notification__pack(&n, buf);
  lg_notification out;
  assert_int_equal(lg_notification_decode(buf, len, 128, &out), 0);
  assert_int_equal(out.id, 42);
  assert_int_equal(out.sent_unix_nanos, 1700000000123456789);
  assert_int_equal(out.payload_len, 3);
  /* over the cap */
  assert_int_equal(lg_notification_decode(buf, len, len - 1, &out), LG_ETOOBIG);
}

static void test_notification_garbage(void **state)
{
  (void)state;
  lg_notification out;
  /* field 2 (string) claiming 100 bytes with 2 present */
  uint8_t bad[] = {0x12, 100, 'a', 'b'};
  assert_int_equal(lg_notification_decode(bad, sizeof bad, 1024, &out),
                   LG_EINVAL);
  /* empty message: all defaults */
  assert_int_equal(lg_notification_decode(bad, 0, 1024, &out), 0);
  assert_int_equal(out.id, 0);
}

static void test_connect_request(void **state)
{
  (void)state;
  uint8_t buf[64];
  int n = lg_connect_request_encode(buf, sizeof buf, "user-12");
  assert_int_equal(n, 5 + 2 + 7);
  assert_int_equal(buf[0], 0);
  assert_int_equal(buf[4], 9);
  Notifier__ConnectRequest *r =
      notifier__connect_request__unpack(NULL, (size_t)n - 5, buf + 5);
  assert_non_null(r);
  assert_string_equal(r->user_id, "user-12");
  notifier__connect_request__free_unpacked(r, NULL);
  assert_int_equal(lg_connect_request_encode(buf, 8, "user-12"), LG_ETOOBIG);
}

static void test_publish(void **state)
{
  (void)state;
  uint8_t buf[64];
  int n =
      lg_publish_request_encode(buf, sizeof buf, "", (const uint8_t *)"hi", 2);
  assert_true(n > 5);
  Notifier__PublishRequest *r =
      notifier__publish_request__unpack(NULL, (size_t)n - 5, buf + 5);
  assert_non_null(r);
  assert_string_equal(r->user_id, "");
  assert_int_equal(r->payload.len, 2);
  notifier__publish_request__free_unpacked(r, NULL);

  Notifier__PublishReply rep = NOTIFIER__PUBLISH_REPLY__INIT;
  rep.delivered = 100000;
  size_t len = notifier__publish_reply__pack(&rep, buf);
  uint64_t d = 0;
  assert_int_equal(lg_publish_reply_decode(buf, len, &d), 0);
  assert_int_equal(d, 100000);
  uint8_t bad[] = {0x08};
  assert_int_equal(lg_publish_reply_decode(bad, 1, &d), LG_EINVAL);
}

static void test_bcast_tag(void **state)
{
  (void)state;
  uint8_t p[LG_BCAST_TAG_LEN + 4];
  memset(p, 'x', sizeof p);
  uint64_t t0 = 0x0123456789abcdefull;
  assert_int_equal(lg_bcast_tag_encode(p, sizeof p, 0xfeedbeefu, t0), 0);
  assert_memory_equal(p, "LGB1", 4);
  assert_int_equal(p[LG_BCAST_TAG_LEN], 'x'); /* filler kept */
  uint32_t seq = 0;
  uint64_t t = 0;
  assert_int_equal(lg_bcast_tag_decode(p, sizeof p, &seq, &t), 0);
  assert_int_equal(seq, 0xfeedbeefu);
  assert_true(t == t0);
  /* exactly the tag's length is enough */
  assert_int_equal(lg_bcast_tag_decode(p, LG_BCAST_TAG_LEN, &seq, &t), 0);

  /* too short to carry one: encode leaves it alone, decode refuses */
  uint8_t small[LG_BCAST_TAG_LEN - 1];
  memset(small, 'x', sizeof small);
  assert_int_equal(lg_bcast_tag_encode(small, sizeof small, 1, 2), LG_EINVAL);
  assert_int_equal(small[0], 'x');
  seq = 7, t = 9;
  assert_int_equal(lg_bcast_tag_decode(p, LG_BCAST_TAG_LEN - 1, &seq, &t),
                   LG_EINVAL);
  assert_int_equal(lg_bcast_tag_decode(NULL, 0, &seq, &t), LG_EINVAL);
  /* another publisher's payload: untouched outputs */
  uint8_t other[LG_BCAST_TAG_LEN];
  memset(other, 'x', sizeof other);
  assert_int_equal(lg_bcast_tag_decode(other, sizeof other, &seq, &t),
                   LG_EINVAL);
  assert_int_equal(seq, 7);
  assert_true(t == 9);
}

static void test_notification_tagged(void **state)
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
  size_t len = notifier__notification__pack(&n, buf);
  lg_notification out;
  assert_int_equal(lg_notification_decode(buf, len, 128, &out), 0);
  assert_true(out.tagged);
  assert_int_equal(out.bcast_seq, 3);
  assert_true(out.bcast_t0_ns == 12345);
  /* untagged payload */
  memset(payload, 'x', sizeof payload);
  len = notifier__notification__pack(&n, buf);
  assert_int_equal(lg_notification_decode(buf, len, 128, &out), 0);
  assert_false(out.tagged);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_notification_roundtrip),
      cmocka_unit_test(test_notification_garbage),
      cmocka_unit_test(test_connect_request),
      cmocka_unit_test(test_publish),
      cmocka_unit_test(test_bcast_tag),
      cmocka_unit_test(test_notification_tagged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
