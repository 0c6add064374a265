/* The notifier's own messages: Connect and Publish requests, the
 * PublishReply, the broadcast tag (loadgen/message.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "notifier.pb-c.h"

static void test_connect_request(void **state)
{
  (void)state;
  uint8_t buf[64];
  int n = lg_connect_request_encode(buf, sizeof buf, "user-12");
  assert_int_equal(n, 2 + 7); /* no prefix: the template adds it */
  Notifier__ConnectRequest *r =
      notifier__connect_request__unpack(NULL, (size_t)n, buf);
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

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_request),
      cmocka_unit_test(test_publish),
      cmocka_unit_test(test_bcast_tag),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
