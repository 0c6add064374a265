/* gRPC message framing across DATA chunks (loadgen/frame.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

typedef struct {
  int n;
  size_t lens[16];
  uint8_t data[16][64];
  int stop_after; /* return 1 after this many messages (0: never) */
} seen;

static int collect(void *ud, const uint8_t *msg, size_t len)
{
  seen *s = ud;
  assert_true(s->n < 16);
  s->lens[s->n] = len;
  if (len > 0)
    memcpy(s->data[s->n], msg, len < 64 ? len : 64);
  s->n++;
  return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static size_t frame(uint8_t *out, const char *msg)
{
  size_t len = strlen(msg);
  lg_frame_prefix(out, (uint32_t)len);
  memcpy(out + 5, msg, len);
  return len + 5;
}

static void test_prefix(void **state)
{
  (void)state;
  uint8_t p[5];
  lg_frame_prefix(p, 0x01020304);
  uint8_t want[5] = {0, 1, 2, 3, 4};
  assert_memory_equal(p, want, 5);
}

static void test_two_messages_one_chunk(void **state)
{
  (void)state;
  uint8_t buf[64];
  size_t n = frame(buf, "hello");
  n += frame(buf + n, "world!");
  lg_deframer d;
  lg_deframer_init(&d);
  seen s = {0};
  assert_int_equal(lg_deframer_feed(&d, buf, n, 1024, collect, &s), 0);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.lens[0], 5);
  assert_memory_equal(s.data[0], "hello", 5);
  assert_int_equal(s.lens[1], 6);
  assert_memory_equal(s.data[1], "world!", 6);
  assert_true(lg_deframer_idle(&d));
  assert_null(d.buf); /* no copy for whole messages */
  lg_deframer_reset(&d);
}

/* Every split point of a two-message stream, byte by byte too: the prefix
 * and the body may each be cut anywhere. */
static void test_every_split(void **state)
{
  (void)state;
  uint8_t buf[64];
  size_t n = frame(buf, "abcdefghij");
  n += frame(buf + n, "");
  n += frame(buf + n, "xyz");
  for (size_t cut = 0; cut <= n; cut++) {
    lg_deframer d;
    lg_deframer_init(&d);
    seen s = {0};
    assert_int_equal(lg_deframer_feed(&d, buf, cut, 1024, collect, &s), 0);
    assert_int_equal(
        lg_deframer_feed(&d, buf + cut, n - cut, 1024, collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.lens[0], 10);
    assert_memory_equal(s.data[0], "abcdefghij", 10);
    assert_int_equal(s.lens[1], 0);
    assert_int_equal(s.lens[2], 3);
    assert_memory_equal(s.data[2], "xyz", 3);
    assert_true(lg_deframer_idle(&d));
    lg_deframer_reset(&d);
  }
  lg_deframer d;
  lg_deframer_init(&d);
  seen s = {0};
  for (size_t i = 0; i < n; i++)
    assert_int_equal(lg_deframer_feed(&d, buf + i, 1, 1024, collect, &s), 0);
  assert_int_equal(s.n, 3);
  assert_memory_equal(s.data[0], "abcdefghij", 10);
  lg_deframer_reset(&d);
}

static void test_partial_is_not_idle(void **state)
{
  (void)state;
  uint8_t buf[64];
  size_t n = frame(buf, "abcdef");
  lg_deframer d;
  lg_deframer_init(&d);
  seen s = {0};
  assert_int_equal(lg_deframer_feed(&d, buf, 3, 1024, collect, &s), 0);
  assert_false(lg_deframer_idle(&d));
  assert_int_equal(lg_deframer_feed(&d, buf + 3, 4, 1024, collect, &s), 0);
  assert_false(lg_deframer_idle(&d));
  assert_non_null(d.buf);
  assert_int_equal(s.n, 0);
  /* reset frees the partial message (ASan would report a leak otherwise) */
  lg_deframer_reset(&d);
  assert_true(lg_deframer_idle(&d));
  (void)n;
}

static void test_cap(void **state)
{
  (void)state;
  uint8_t p[5];
  lg_frame_prefix(p, 101);
  lg_deframer d;
  lg_deframer_init(&d);
  seen s = {0};
  assert_int_equal(lg_deframer_feed(&d, p, 5, 100, collect, &s), LG_ETOOBIG);
  assert_null(d.buf); /* refused before any allocation */
  lg_deframer_reset(&d);
  /* exactly the cap is fine */
  uint8_t buf[5 + 100] = {0};
  lg_frame_prefix(buf, 100);
  assert_int_equal(lg_deframer_feed(&d, buf, sizeof buf, 100, collect, &s), 0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.lens[0], 100);
  /* a hostile 4 GiB length */
  uint8_t huge[5] = {0, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(lg_deframer_feed(&d, huge, 5, 1u << 30, collect, &s),
                   LG_ETOOBIG);
  lg_deframer_reset(&d);
}

static int check_big(void *ud, const uint8_t *msg, size_t len)
{
  size_t *count = ud;
  assert_int_equal(len, 100000);
  for (size_t i = 0; i < len; i++)
    if (msg[i] != (uint8_t)(i * 7))
      fail_msg("byte %zu differs", i);
  (*count)++;
  return 0;
}

/* A large message in many chunks arrives intact; the buffer grows with
 * what arrived rather than with what the prefix announced. */
static void test_large_message_grows(void **state)
{
  (void)state;
  size_t total = 5 + 100000;
  uint8_t *buf = malloc(total);
  assert_non_null(buf);
  lg_frame_prefix(buf, 100000);
  for (size_t i = 0; i < 100000; i++)
    buf[5 + i] = (uint8_t)(i * 7);
  lg_deframer d;
  lg_deframer_init(&d);
  size_t count = 0;
  assert_int_equal(lg_deframer_feed(&d, buf, 15, 1u << 20, check_big, &count),
                   0);
  assert_non_null(d.buf);
  assert_true(malloc_usable_size(d.buf) < 8192);
  for (size_t off = 15; off < total; off += 997) {
    size_t n = total - off < 997 ? total - off : 997;
    assert_int_equal(
        lg_deframer_feed(&d, buf + off, n, 1u << 20, check_big, &count), 0);
  }
  assert_int_equal(count, 1);
  assert_true(lg_deframer_idle(&d));
  assert_null(d.buf);
  lg_deframer_reset(&d);
  free(buf);
}

static void test_flags(void **state)
{
  (void)state;
  uint8_t comp[6] = {1, 0, 0, 0, 1, 'x'};
  uint8_t bad[6] = {7, 0, 0, 0, 1, 'x'};
  lg_deframer d;
  lg_deframer_init(&d);
  seen s = {0};
  assert_int_equal(lg_deframer_feed(&d, comp, 6, 100, collect, &s),
                   LG_ECOMPRESS);
  lg_deframer_reset(&d);
  assert_int_equal(lg_deframer_feed(&d, bad, 6, 100, collect, &s), LG_EINVAL);
  lg_deframer_reset(&d);
  assert_int_equal(s.n, 0);
}

static void test_callback_stops(void **state)
{
  (void)state;
  uint8_t buf[64];
  size_t n = frame(buf, "a");
  n += frame(buf + n, "b");
  lg_deframer d;
  lg_deframer_init(&d);
  seen s = {.stop_after = 1};
  assert_int_equal(lg_deframer_feed(&d, buf, n, 100, collect, &s), 1);
  assert_int_equal(s.n, 1);
  lg_deframer_reset(&d);
}

static void test_strerror(void **state)
{
  (void)state;
  assert_string_equal(lg_strerror(0), "success");
  assert_string_equal(lg_strerror(LG_ETOOBIG), "message larger than the cap");
  assert_string_equal(lg_strerror(-999), "unknown error");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prefix),
      cmocka_unit_test(test_two_messages_one_chunk),
      cmocka_unit_test(test_every_split),
      cmocka_unit_test(test_partial_is_not_idle),
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_large_message_grows),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_callback_stops),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
