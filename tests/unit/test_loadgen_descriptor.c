/* Reading descriptor sets (loadgen/descriptor.c): the notifier's built-in
 * one, and one protoc writes for tests/loadgen/proto/template.proto with
 * its import: methods and their kinds, message types by full name (nested
 * ones and imported ones), field kinds, and the words for what is
 * missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static void test_builtin(void **state)
{
  (void)state;
  lg_descriptors *d;
  assert_int_equal(lg_desc_load(lg_notifier_desc, lg_notifier_desc_len, &d), 0);
  lg_method m;
  char err[512];
  assert_int_equal(
      lg_desc_method(d, "notifier.Notifier/Connect", &m, err, sizeof err), 0);
  assert_string_equal(m.service, "notifier.Notifier");
  assert_string_equal(m.method, "Connect");
  assert_string_equal(m.input, "notifier.ConnectRequest");
  assert_string_equal(m.output, "notifier.Notification");
  assert_string_equal(m.file, "notifier.proto");
  assert_true(m.server_streaming);
  assert_false(m.client_streaming);
  assert_int_equal(
      lg_desc_method(d, "/notifier.Notifier/Publish", &m, err, sizeof err), 0);
  assert_false(m.server_streaming);
  const lg_msgtype *t = lg_desc_message(d, ".notifier.Notification");
  assert_non_null(t);
  assert_string_equal(lg_desc_message_name(t), "notifier.Notification");
  assert_int_equal(lg_desc_field(d, t, 1, NULL), LG_FIELD_VARINT);
  assert_int_equal(lg_desc_field(d, t, 2, NULL), LG_FIELD_STRING);
  assert_int_equal(lg_desc_field(d, t, 3, NULL), LG_FIELD_BYTES);
  assert_int_equal(lg_desc_field(d, t, 4, NULL), LG_FIELD_VARINT);
  assert_int_equal(lg_desc_field(d, t, 5, NULL), LG_FIELD_NONE);
  lg_desc_free(d);
}

static void test_errors(void **state)
{
  (void)state;
  lg_descriptors *d;
  assert_int_equal(lg_desc_load(lg_notifier_desc, lg_notifier_desc_len, &d), 0);
  lg_method m;
  char err[512];
  const char *bad[] = {"notifier.Notifier", "/x", "a/b/c", "notifier/",
                       "/notifier",         "",   "//"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(lg_desc_method(d, bad[i], &m, err, sizeof err), LG_EINVAL);
    assert_non_null(strstr(err, "PKG.SERVICE/METHOD"));
  }
  err[0] = '\0';
  assert_int_equal(lg_desc_method(d, "chat.Room/Join", &m, err, sizeof err),
                   LG_ENOENT);
  assert_non_null(strstr(err, "no service chat.Room"));
  assert_non_null(strstr(err, "notifier.Notifier")); /* what there is */
  err[0] = '\0';
  assert_int_equal(
      lg_desc_method(d, "notifier.Notifier/Join", &m, err, sizeof err),
      LG_ENOENT);
  assert_non_null(strstr(err, "has no method Join"));
  assert_non_null(strstr(err, "Connect, Publish"));
  assert_null(lg_desc_message(d, "notifier.Nope"));
  assert_null(lg_desc_message(d, NULL));
  lg_desc_free(d);

  /* not a descriptor set: refused, nothing leaked (ASan checks) */
  uint8_t junk[] = {0x0a, 0x05, 0x12, 0x7f, 'x'};
  lg_descriptors *none = NULL;
  assert_int_equal(lg_desc_load(junk, sizeof junk, &none), LG_EPROTO);
  assert_null(none);
  assert_int_equal(lg_desc_load(junk, 0, &none), LG_EPROTO); /* no files */
  lg_desc_free(NULL);
}

static void test_compiled(void **state)
{
  (void)state;
  uint8_t *set;
  size_t len;
  char err[512] = "";
  int rc = lg_protoc_compile("tests/loadgen/proto/template.proto", NULL, 0,
                             &set, &len, err, sizeof err);
  if (rc != 0)
    fail_msg("%s", err);
  lg_descriptors *d;
  assert_int_equal(lg_desc_load(set, len, &d), 0);
  lg_method m;
  const char *kinds[][2] = {{"Unary", "00"},
                            {"ServerStream", "01"},
                            {"ClientStream", "10"},
                            {"Bidi", "11"}};
  for (size_t i = 0; i < 4; i++) {
    char call[64];
    snprintf(call, sizeof call, "tt.Kinds/%s", kinds[i][0]);
    assert_int_equal(lg_desc_method(d, call, &m, err, sizeof err), 0);
    assert_int_equal(m.client_streaming, kinds[i][1][0] == '1');
    assert_int_equal(m.server_streaming, kinds[i][1][1] == '1');
    assert_string_equal(m.input, "tt.Req");
    assert_string_equal(m.output, "tt.Event");
  }
  const lg_msgtype *req = lg_desc_message(d, "tt.Req");
  assert_non_null(req);
  const lg_msgtype *sub = NULL;
  assert_int_equal(lg_desc_field(d, req, 2, &sub), LG_FIELD_MESSAGE);
  assert_string_equal(lg_desc_message_name(sub), "tt.Inner");
  /* a map's entry is a nested type; a well-known type comes from the
   * import */
  assert_int_equal(lg_desc_field(d, req, 5, &sub), LG_FIELD_MESSAGE);
  assert_string_equal(lg_desc_message_name(sub), "tt.Req.AttrsEntry");
  assert_int_equal(lg_desc_field(d, req, 12, &sub), LG_FIELD_MESSAGE);
  assert_string_equal(lg_desc_message_name(sub), "google.protobuf.Timestamp");
  assert_int_equal(lg_desc_field(d, req, 6, NULL), LG_FIELD_VARINT); /* enum */
  assert_int_equal(lg_desc_field(d, req, 9, NULL), LG_FIELD_BOOL);
  assert_int_equal(lg_desc_field(d, req, 100000, NULL), LG_FIELD_VARINT);
  const lg_msgtype *deep = lg_desc_message(d, "tt.Deep");
  const lg_field_kind want[] = {
      LG_FIELD_NONE,     LG_FIELD_BYTES,    LG_FIELD_FIXED32,
      LG_FIELD_SFIXED64, LG_FIELD_DOUBLE,   LG_FIELD_FLOAT,
      LG_FIELD_VARINT,   LG_FIELD_SFIXED32, LG_FIELD_FIXED64};
  for (uint32_t f = 1; f <= 8; f++)
    assert_int_equal(lg_desc_field(d, deep, f, NULL), want[f]);
  const lg_msgtype *inner = lg_desc_message(d, "tt.Inner");
  assert_int_equal(lg_desc_field(d, inner, 3, NULL), LG_FIELD_ZIGZAG);
  lg_desc_free(d);
  free(set);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtin),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_compiled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
