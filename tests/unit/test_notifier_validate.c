/* notifier-sim/validate.c: user ids must be short, valid UTF-8 and free of
 * control characters; requests are decoded and checked before use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static int check(const char *s)
{
  return ntf_user_id_check(s, strlen(s));
}

static void test_accepts(void **state)
{
  (void)state;
  assert_int_equal(check(""), 0);
  assert_int_equal(check("alice"), 0);
  assert_int_equal(check("user-42@example.org"), 0);
  assert_int_equal(check("J\xc3\xbcrgen"), 0);    /* ü */
  assert_int_equal(check("\xe2\x82\xac"), 0);     /* € */
  assert_int_equal(check("\xf0\x9f\x98\x80"), 0); /* emoji */
  assert_int_equal(check("\xf4\x8f\xbf\xbf"), 0); /* U+10FFFF */
  char max[NTF_USER_ID_MAX + 1];
  memset(max, 'a', NTF_USER_ID_MAX);
  assert_int_equal(ntf_user_id_check(max, NTF_USER_ID_MAX), 0);
  assert_int_equal(ntf_user_id_check(max, NTF_USER_ID_MAX + 1), NTF_EINVAL);
}

static void test_rejects(void **state)
{
  (void)state;
  const char *bad[] = {
      "a\nb",        /* log injection */
      "\x1b[31mred", /* terminal escape */
      "tab\there",
      "del\x7f",
      "\xff",             /* not UTF-8 */
      "\xc3",             /* truncated */
      "\xc0\xaf",         /* overlong '/' */
      "\xe0\x80\xaf",     /* overlong */
      "\xed\xa0\x80",     /* surrogate */
      "\xf4\x90\x80\x80", /* above U+10FFFF */
      "\xe2\x82",         /* truncated 3-byte */
      "\x80"
      "abc", /* stray continuation */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(check(bad[i]), NTF_EINVAL);
  /* NUL is a control character too, wherever it sits. */
  assert_int_equal(ntf_user_id_check("a\0b", 3), NTF_EINVAL);
  assert_int_equal(ntf_user_id_check("\0", 1), NTF_EINVAL);
  assert_int_equal(ntf_user_id_check("ab\0", 3), NTF_EINVAL);
}

/* Hand-encoded messages: field 1 (user_id) has the key \012, field 2
 * (payload) \022, each followed by a one-byte length here. Three-digit octal
 * escapes, because a \x escape would swallow the hex letters after it. */
#define MSG(s) (const uint8_t *)(s), sizeof(s) - 1

static const char *bad_connect_id =
    "user_id must be 1-256 bytes of UTF-8 without control characters";
static const char *bad_publish = "invalid user_id, or payload over 1 MiB";

static int decode(ntf_request_kind kind, const uint8_t *buf, size_t len,
                  ntf_request *req, const char **why)
{
  *why = NULL;
  memset(req, 0, sizeof *req);
  int rc = ntf_request_decode(kind, buf, len, req, why);
  if (rc == 0)
    assert_null(*why);
  else
    assert_null(req->msg); /* untouched on failure */
  return rc;
}

static void test_decode_connect(void **state)
{
  (void)state;
  ntf_request req;
  const char *why;
  assert_int_equal(
      decode(NTF_REQUEST_CONNECT, MSG("\012\005alice"), &req, &why), 0);
  assert_string_equal(req.user_id, "alice");
  assert_int_equal(req.user_id_len, 5);
  ntf_request_free(&req);
  ntf_request_free(&req); /* freed: a no-op */

  /* A repeated singular field: the last one wins, as in every decoder. */
  assert_int_equal(
      decode(NTF_REQUEST_CONNECT, MSG("\012\001a\012\002bc"), &req, &why), 0);
  assert_string_equal(req.user_id, "bc");
  ntf_request_free(&req);

  /* Unknown fields of every wire type are skipped. */
  assert_int_equal(decode(NTF_REQUEST_CONNECT,
                          MSG("\030\226\001\045abcd\012\001x\051abcdefgh"
                              "\072\002zz"),
                          &req, &why),
                   0);
  assert_string_equal(req.user_id, "x");
  ntf_request_free(&req);

  assert_int_equal(decode(NTF_REQUEST_CONNECT, MSG(""), &req, &why),
                   NTF_EINVAL);
  assert_string_equal(why, "user_id is required");
  assert_int_equal(decode(NTF_REQUEST_CONNECT, MSG("\012\020ab"), &req, &why),
                   NTF_EINVAL);
  assert_string_equal(why, "undecodable ConnectRequest");

  const struct {
    const uint8_t *msg;
    size_t len;
  } bad[] = {
      /* protobuf-c hands the first three over cut at the NUL: "bob", "",
       * and "" again. */
      {MSG("\012\010bob\000evil")},
      {MSG("\012\004\000bob")},
      {MSG("\012\001\000")},
      {MSG("\012\001a\012\002b\000")}, /* the last id counts */
      {MSG("\012\002\303\050")},       /* invalid UTF-8 */
      {MSG("\012\003a\nb")},           /* newline */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(
        decode(NTF_REQUEST_CONNECT, bad[i].msg, bad[i].len, &req, &why),
        NTF_EINVAL);
    assert_string_equal(why, bad_connect_id);
  }

  /* Over the cap: refused before protobuf-c reads a byte. */
  uint8_t *big = calloc(1, NTF_REQUEST_MAX + 1);
  assert_non_null(big);
  assert_int_equal(
      decode(NTF_REQUEST_CONNECT, big, NTF_REQUEST_MAX + 1, &req, &why),
      NTF_EINVAL);
  free(big);
}

static void test_decode_publish(void **state)
{
  (void)state;
  ntf_request req;
  const char *why;
  /* Payloads are bytes: NULs in them are fine. */
  assert_int_equal(
      decode(NTF_REQUEST_PUBLISH, MSG("\012\003bob\022\003a\000b"), &req, &why),
      0);
  assert_string_equal(req.user_id, "bob");
  assert_int_equal(req.payload_len, 3);
  assert_memory_equal(req.payload, "a\000b", 3);
  ntf_request_free(&req);

  /* No user_id, or an empty one: a broadcast. */
  assert_int_equal(decode(NTF_REQUEST_PUBLISH, MSG("\022\002hi"), &req, &why),
                   0);
  assert_int_equal(req.user_id_len, 0);
  assert_string_equal(req.user_id, "");
  ntf_request_free(&req);
  assert_int_equal(decode(NTF_REQUEST_PUBLISH, MSG(""), &req, &why), 0);
  assert_int_equal(req.payload_len, 0);
  ntf_request_free(&req);

  /* "\0bob" must not become "", which would broadcast to everyone. */
  assert_int_equal(
      decode(NTF_REQUEST_PUBLISH, MSG("\012\004\000bob\022\001x"), &req, &why),
      NTF_EINVAL);
  assert_string_equal(why, bad_publish);
  assert_int_equal(
      decode(NTF_REQUEST_PUBLISH, MSG("\012\004bo\000b"), &req, &why),
      NTF_EINVAL);
  assert_string_equal(why, bad_publish);
  assert_int_equal(
      decode(NTF_REQUEST_PUBLISH, MSG("\377\377\377\377"), &req, &why),
      NTF_EINVAL);
  assert_string_equal(why, "undecodable PublishRequest");

  /* A payload one byte over NTF_PAYLOAD_MAX, inside the message cap. */
  size_t plen = NTF_PAYLOAD_MAX + 1;
  uint8_t *m = calloc(1, plen + 8);
  assert_non_null(m);
  size_t n = 0;
  m[n++] = 022;
  for (size_t v = plen;; v >>= 7) {
    m[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    if (v < 0x80)
      break;
  }
  memset(m + n, 'x', plen);
  assert_int_equal(decode(NTF_REQUEST_PUBLISH, m, n + plen, &req, &why),
                   NTF_EINVAL);
  assert_string_equal(why, bad_publish);
  /* At the limit it passes. NTF_PAYLOAD_MAX + 1 is 0x100001, so the
   * length's first varint byte holds its low bit. */
  m[1] = (uint8_t)(m[1] - 1);
  assert_int_equal(decode(NTF_REQUEST_PUBLISH, m, n + plen - 1, &req, &why), 0);
  assert_int_equal(req.payload_len, NTF_PAYLOAD_MAX);
  ntf_request_free(&req);
  free(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts),
      cmocka_unit_test(test_rejects),
      cmocka_unit_test(test_decode_connect),
      cmocka_unit_test(test_decode_publish),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
