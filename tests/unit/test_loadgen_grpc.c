/* gRPC's text parts (loadgen/grpc.c): -H metadata checked against HTTP/2's
 * rules and gRPC's reserved names, response headers read strictly (a
 * status that is not a number is a protocol error, never OK), grpc-message
 * percent-decoding, status names, and the request headers handed to
 * nghttp2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "h2.h"

static void test_metadata(void **state)
{
  (void)state;
  lg_metadata m = {0};
  char err[256];
  assert_int_equal(
      lg_metadata_add(&m, "Authorization: Bearer s3cret ", err, sizeof err), 0);
  assert_int_equal(lg_metadata_add(&m, "x-tenant:7", err, sizeof err), 0);
  assert_int_equal(lg_metadata_add(&m, "x-empty:", err, sizeof err), 0);
  assert_int_equal(m.n, 3);
  assert_string_equal(m.name[0], "authorization");  /* lower-cased */
  assert_string_equal(m.value[0], "Bearer s3cret"); /* trimmed */
  assert_string_equal(m.name[1], "x-tenant");
  assert_string_equal(m.value[1], "7");
  assert_string_equal(m.value[2], "");
  assert_int_equal(
      lg_metadata_add_list(&m, " a: 1 ;b-bin: AAEC; ;", err, sizeof err), 0);
  assert_int_equal(m.n, 5);
  assert_string_equal(m.name[4], "b-bin");
  assert_string_equal(m.value[4], "AAEC");
  lg_metadata_free(&m);
  assert_int_equal(m.n, 0);

  struct {
    const char *spec, *says;
  } bad[] = {
      {"no colon", "expected 'name: value'"},
      {"name=value", "expected 'name: value'"},
      {":authority: x", "pseudo-headers"},
      {":path: /x", "pseudo-headers"},
      {"bad name: x", "letters, digits"},
      {"caf\xc3\xa9: x", "letters, digits"},
      {"connection: close", "reserved"},
      {"Transfer-Encoding: chunked", "reserved"},
      {"te: trailers", "reserved"},
      {"host: x", "reserved"},
      {"content-type: text/plain", "reserved"},
      {"user-agent: me", "reserved"},
      {"grpc-timeout: 1S", "reserved by gRPC"},
      {"grpc-encoding: gzip", "reserved by gRPC"},
      {"x: line\r\nbreak", "printable ASCII"},
      {"x: tab\there", "printable ASCII"},
      {"x: caf\xc3\xa9", "printable ASCII"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    if (lg_metadata_add(&m, bad[i].spec, err, sizeof err) != LG_EINVAL ||
        strstr(err, bad[i].says) == NULL)
      fail_msg("'%s': '%s', want '%s'", bad[i].spec, err, bad[i].says);
  }
  assert_int_equal(m.n, 0);
  /* caps: count and bytes */
  for (int i = 0; i < LG_MAX_METADATA; i++)
    assert_int_equal(lg_metadata_add(&m, "x-n: 1", err, sizeof err), 0);
  assert_int_equal(lg_metadata_add(&m, "x-n: 1", err, sizeof err), LG_EINVAL);
  assert_non_null(strstr(err, "at most"));
  lg_metadata_free(&m);
  char big[LG_METADATA_BYTES + 16];
  memset(big, 'v', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big, "x-big: ", 7);
  assert_int_equal(lg_metadata_add(&m, big, err, sizeof err), LG_EINVAL);
  assert_int_equal(lg_metadata_add_list(&m, big, err, sizeof err), LG_EINVAL);
  lg_metadata_free(&m);
}

static int code_of(const char *name, const char *value, lg_hdr_kind *kind)
{
  int code = 12345;
  *kind = lg_grpc_header((const uint8_t *)name, strlen(name),
                         (const uint8_t *)value, strlen(value), &code);
  return code;
}

static void test_response_headers(void **state)
{
  (void)state;
  lg_hdr_kind k;
  assert_int_equal(code_of(":status", "200", &k), 200);
  assert_int_equal(k, LG_HDR_STATUS);
  assert_int_equal(code_of(":status", "404", &k), 404);
  assert_int_equal(code_of("grpc-status", "0", &k), 0);
  assert_int_equal(k, LG_HDR_GRPC_STATUS);
  assert_int_equal(code_of("grpc-status", "16", &k), 16);
  assert_int_equal(code_of("grpc-status", "99", &k), 99);
  /* not numbers: -2, never a status (the old digit loop read "abc" as 0,
   * OK) */
  const char *junk[] = {"", "abc", "1a", " 0", "0 ", "-1", "1000", "100"};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
    assert_int_equal(code_of("grpc-status", junk[i], &k), -2);
  assert_int_equal(code_of(":status", "20", &k), -2);
  assert_int_equal(code_of(":status", "2000", &k), -2);
  assert_int_equal(code_of(":status", "2x0", &k), -2);
  code_of("grpc-message", "x", &k);
  assert_int_equal(k, LG_HDR_GRPC_MESSAGE);
  assert_int_equal(code_of("content-type", "application/grpc", &k), 12345);
  assert_int_equal(k, LG_HDR_OTHER);
  code_of("grpc-statusx", "0", &k);
  assert_int_equal(k, LG_HDR_OTHER);

  char out[64];
  const char *m = "no%20users%20today%3A%20%E2%9C%93%zz%4";
  lg_grpc_message_decode((const uint8_t *)m, strlen(m), out, sizeof out);
  assert_string_equal(out, "no users today: ???%zz%4");
  lg_grpc_message_decode((const uint8_t *)m, strlen(m), out, 5);
  assert_string_equal(out, "no u");
  lg_grpc_message_decode((const uint8_t *)"", 0, out, sizeof out);
  assert_string_equal(out, "");

  assert_string_equal(lg_grpc_status_name(0), "OK");
  assert_string_equal(lg_grpc_status_name(4), "DEADLINE_EXCEEDED");
  assert_string_equal(lg_grpc_status_name(14), "UNAVAILABLE");
  assert_string_equal(lg_grpc_status_name(16), "UNAUTHENTICATED");
  assert_string_equal(lg_grpc_status_name(17), "UNKNOWN_STATUS");
  assert_string_equal(lg_grpc_status_name(-2), "UNKNOWN_STATUS");
}

static void test_request_headers(void **state)
{
  (void)state;
  lg_metadata m = {0};
  char err[128];
  assert_int_equal(
      lg_metadata_add(&m, "authorization: Bearer t", err, sizeof err), 0);
  nghttp2_nv nv[LG_GRPC_MAX_HEADERS];
  size_t n = lg__grpc_headers(nv, "/chat.Room/Join", "example:443", true, "10S",
                              &m, NGHTTP2_NV_FLAG_NO_COPY_NAME);
  assert_int_equal(n, LG_GRPC_BASE_HEADERS + 1);
  const char *want[][2] = {{":method", "POST"},
                           {":scheme", "https"},
                           {":path", "/chat.Room/Join"},
                           {":authority", "example:443"},
                           {"content-type", "application/grpc"},
                           {"te", "trailers"},
                           {"user-agent", "loadgen/" LG_VERSION},
                           {"grpc-timeout", "10S"},
                           {"authorization", "Bearer t"}};
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(nv[i].namelen, strlen(want[i][0]));
    assert_memory_equal(nv[i].name, want[i][0], nv[i].namelen);
    assert_int_equal(nv[i].valuelen, strlen(want[i][1]));
    assert_memory_equal(nv[i].value, want[i][1], nv[i].valuelen);
    assert_int_equal(nv[i].flags, NGHTTP2_NV_FLAG_NO_COPY_NAME);
  }
  /* plaintext, no deadline, no metadata */
  n = lg__grpc_headers(nv, "/a.B/C", "h:1", false, NULL, NULL, 0);
  assert_int_equal(n, LG_GRPC_BASE_HEADERS - 1);
  assert_memory_equal(nv[1].value, "http", 4);
  lg_metadata_free(&m);
}

static void test_strerror(void **state)
{
  (void)state;
  /* every named code has its own words (the switch has no default) */
  const int codes[] = {LG_OK,      LG_EINVAL, LG_ENOMEM,    LG_ENOENT,
                       LG_ETOOBIG, LG_EPROTO, LG_ECOMPRESS, LG_ETIMEDOUT,
                       LG_ETOOL,   LG_ETLS,   LG_ECERT,     LG_EALPN};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *s = lg_strerror(codes[i]);
    assert_non_null(s);
    assert_string_not_equal(s, "unknown error");
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(s, lg_strerror(codes[j]));
  }
  /* -errno values, as libuv's are: words, not "unknown" */
  assert_string_equal(lg_strerror(-ECONNREFUSED), "Connection refused");
  assert_string_equal(lg_strerror(-EAGAIN), strerror(EAGAIN));
  assert_string_equal(lg_strerror(1), "unknown error");
  assert_string_equal(lg_strerror(-100000), "unknown error");
  assert_int_equal(LG_EINVAL, -EINVAL);
  assert_int_equal(LG_ENOMEM, -ENOMEM);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_response_headers),
      cmocka_unit_test(test_request_headers),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
