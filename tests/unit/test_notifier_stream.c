/* notifier-sim/stream.c: the send token. At most one send in flight, FIFO
 * order, the token handed on by ntf_stream_sent(), finish after the
 * in-flight send, refused offers once closed, release on the last ref. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notifier_fake_stream.h"

static fake *new_fake(uint32_t depth)
{
  return fake_new("alice", depth, false);
}

static void offer_id(fake *f, uint64_t id, ntf_offer want)
{
  ntf_note *n = ntf_note_new(id, "p", 1);
  assert_int_equal(ntf_stream_offer(&f->s, n), want);
  ntf_note_unref(n);
}

static void test_headers_hold_token_then_fifo(void **state)
{
  (void)state;
  int released = fake_releases;
  fake *f = new_fake(8);
  offer_id(f, 1, NTF_OFFER_QUEUED);
  offer_id(f, 2, NTF_OFFER_QUEUED);
  assert_int_equal(f->nids, 0); /* headers still in flight */
  fake_complete(f, true);       /* headers done: 1 goes */
  assert_int_equal(f->nids, 1);
  offer_id(f, 3, NTF_OFFER_QUEUED);
  assert_int_equal(f->nids, 1); /* 1 still in flight */
  fake_complete(f, true);
  fake_complete(f, true);
  assert_int_equal(f->nids, 3);
  assert_int_equal(f->ids[0], 1);
  assert_int_equal(f->ids[1], 2);
  assert_int_equal(f->ids[2], 3);
  fake_complete(f, true); /* queue empty: token released */
  assert_false(f->s.sending);
  offer_id(f, 4, NTF_OFFER_QUEUED); /* idle: sent at once */
  assert_int_equal(f->nids, 4);
  assert_int_equal(f->max_inflight, 1);
  fake_complete(f, true);
  ntf_stream_close(&f->s);
  ntf_stream_unref(&f->s);
  assert_int_equal(fake_releases, released + 1);
}

static void test_slow_consumer_drops_oldest(void **state)
{
  (void)state;
  int released = fake_releases;
  fake *f = new_fake(2);
  offer_id(f, 1, NTF_OFFER_QUEUED);
  offer_id(f, 2, NTF_OFFER_QUEUED);
  offer_id(f, 3, NTF_OFFER_DROPPED);
  offer_id(f, 4, NTF_OFFER_DROPPED);
  assert_int_equal(f->s.dropped, 2);
  fake_complete(f, true);
  fake_complete(f, true);
  fake_complete(f, true);
  assert_int_equal(f->nids, 2);
  assert_int_equal(f->ids[0], 3); /* the freshest survive */
  assert_int_equal(f->ids[1], 4);
  ntf_stream_unref(&f->s);
  assert_int_equal(fake_releases, released + 1);
}

static void test_close_refuses_and_drops_queue(void **state)
{
  (void)state;
  int released = fake_releases;
  fake *f = new_fake(8);
  ntf_note *n = ntf_note_new(1, "p", 1);
  assert_int_equal(ntf_stream_offer(&f->s, n), NTF_OFFER_QUEUED);
  assert_int_equal(atomic_load(&n->refs), 2);
  assert_true(ntf_stream_close(&f->s));
  assert_false(ntf_stream_close(&f->s));
  assert_int_equal(atomic_load(&n->refs), 1); /* queue released it */
  assert_int_equal(ntf_stream_offer(&f->s, n), NTF_OFFER_CLOSED);
  fake_complete(f, true); /* headers complete after close: nothing sent */
  assert_int_equal(f->nids, 0);
  assert_false(f->s.sending);
  ntf_note_unref(n);
  ntf_stream_unref(&f->s);
  assert_int_equal(fake_releases, released + 1);
}

static void test_failed_send_closes(void **state)
{
  (void)state;
  int released = fake_releases;
  fake *f = new_fake(8);
  offer_id(f, 1, NTF_OFFER_QUEUED);
  offer_id(f, 2, NTF_OFFER_QUEUED);
  fake_complete(f, false); /* the call died under the headers */
  assert_int_equal(f->nids, 0);
  offer_id(f, 3, NTF_OFFER_CLOSED);

  fake *g = new_fake(8);
  fake_complete(g, true);
  g->fail_sends = 1; /* transport refuses the batch */
  offer_id(g, 1, NTF_OFFER_QUEUED);
  assert_true(g->s.closed);
  assert_false(g->s.sending);
  offer_id(g, 2, NTF_OFFER_CLOSED);
  ntf_stream_unref(&f->s);
  ntf_stream_unref(&g->s);
  assert_int_equal(fake_releases, released + 2);
}

static void test_finish_waits_for_inflight_send(void **state)
{
  (void)state;
  int released = fake_releases;
  fake *f = new_fake(8);
  fake_complete(f, true);
  offer_id(f, 1, NTF_OFFER_QUEUED); /* in flight */
  offer_id(f, 2, NTF_OFFER_QUEUED); /* queued: dropped by finish */
  ntf_stream_finish(&f->s);
  assert_int_equal(f->finishes, 0);
  ntf_stream_finish(&f->s); /* idempotent */
  fake_complete(f, true);
  assert_int_equal(f->finishes, 1);
  assert_int_equal(f->nids, 1);
  offer_id(f, 3, NTF_OFFER_CLOSED);

  fake *g = new_fake(8);
  fake_complete(g, true); /* idle */
  ntf_stream_finish(&g->s);
  assert_int_equal(g->finishes, 1);
  ntf_stream_finish(&g->s);
  assert_int_equal(g->finishes, 1);
  ntf_stream_unref(&f->s);
  ntf_stream_unref(&g->s);
  assert_int_equal(fake_releases, released + 2);
}

static void test_release_on_last_ref(void **state)
{
  (void)state;
  int released = fake_releases;
  fake *f = new_fake(4);
  ntf_stream_ref(&f->s);
  ntf_stream_unref(&f->s);
  assert_int_equal(fake_releases, released);
  ntf_stream_unref(&f->s);
  assert_int_equal(fake_releases, released + 1);
}

static void test_init_rejects_long_id(void **state)
{
  (void)state;
  size_t len = NTF_USER_ID_MAX + 1;
  fake *f = calloc(1, offsetof(fake, s) + ntf_stream_size(len));
  char *id = malloc(len);
  memset(id, 'a', len);
  assert_int_equal(ntf_stream_init(&f->s, id, len, 4, &fake_ops), NTF_EINVAL);
  assert_int_equal(ntf_stream_init(&f->s, id, 4, 0, &fake_ops), NTF_EINVAL);
  free(id);
  free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_headers_hold_token_then_fifo),
      cmocka_unit_test(test_slow_consumer_drops_oldest),
      cmocka_unit_test(test_close_refuses_and_drops_queue),
      cmocka_unit_test(test_failed_send_closes),
      cmocka_unit_test(test_finish_waits_for_inflight_send),
      cmocka_unit_test(test_release_on_last_ref),
      cmocka_unit_test(test_init_rejects_long_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
