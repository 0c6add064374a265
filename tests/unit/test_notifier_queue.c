/* notifier-sim/queue.c and note.c: FIFO order, the drop-oldest policy and
 * reference counts (a dropped or cleared note must be released). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"

static ntf_note *note(uint64_t id)
{
  ntf_note *n = ntf_note_new(id, "x", 1);
  assert_non_null(n);
  return n;
}

/* Pops the next note, which must be `want`, and drops the reference. */
static void expect_pop(ntf_queue *q, uint64_t want)
{
  ntf_note *n = ntf_queue_pop(q);
  assert_non_null(n);
  assert_int_equal(n->id, want);
  ntf_note_unref(n);
}

static void test_fifo(void **state)
{
  (void)state;
  ntf_queue q;
  assert_int_equal(ntf_queue_init(&q, 4), 0);
  assert_null(ntf_queue_pop(&q));
  for (uint64_t i = 1; i <= 3; i++)
    assert_int_equal(ntf_queue_push(&q, note(i)), 0);
  for (uint64_t i = 1; i <= 3; i++)
    expect_pop(&q, i);
  assert_null(ntf_queue_pop(&q));
  /* Wrap around the ring several times. */
  for (uint64_t i = 10; i < 30; i++) {
    assert_int_equal(ntf_queue_push(&q, note(i)), 0);
    expect_pop(&q, i);
  }
  ntf_queue_close(&q);
}

static void test_drop_oldest(void **state)
{
  (void)state;
  ntf_queue q;
  assert_int_equal(ntf_queue_init(&q, 3), 0);
  ntf_note *first = note(1);
  ntf_note_ref(first); /* keep one to watch its count */
  assert_int_equal(ntf_queue_push(&q, first), 0);
  assert_int_equal(ntf_queue_push(&q, note(2)), 0);
  assert_int_equal(ntf_queue_push(&q, note(3)), 0);
  assert_int_equal(atomic_load(&first->refs), 2);
  /* Full: the fourth push drops note 1 and releases the queue's ref. */
  assert_int_equal(ntf_queue_push(&q, note(4)), 1);
  assert_int_equal(atomic_load(&first->refs), 1);
  assert_int_equal(q.len, 3);
  for (uint64_t want = 2; want <= 4; want++)
    expect_pop(&q, want);
  ntf_note_unref(first);
  ntf_queue_close(&q);
}

static void test_clear_and_close_release(void **state)
{
  (void)state;
  ntf_queue q;
  assert_int_equal(ntf_queue_init(&q, 8), 0);
  ntf_note *n = note(7);
  for (int i = 0; i < 5; i++) {
    ntf_note_ref(n);
    ntf_queue_push(&q, n);
  }
  assert_int_equal(atomic_load(&n->refs), 6);
  assert_int_equal(ntf_queue_clear(&q), 5);
  assert_int_equal(atomic_load(&n->refs), 1);
  ntf_note_ref(n);
  ntf_queue_push(&q, n);
  ntf_queue_close(&q); /* drops the queued reference too */
  assert_int_equal(atomic_load(&n->refs), 1);
  ntf_queue_close(&q); /* twice is harmless */
  ntf_note_unref(n);
  ntf_note_unref(NULL);
}

static void test_capacity_one_and_invalid(void **state)
{
  (void)state;
  ntf_queue q;
  assert_int_equal(ntf_queue_init(&q, 0), NTF_EINVAL);
  assert_int_equal(ntf_queue_init(&q, 1), 0);
  assert_int_equal(ntf_queue_push(&q, note(1)), 0);
  assert_int_equal(ntf_queue_push(&q, note(2)), 1);
  expect_pop(&q, 2);
  ntf_queue_close(&q);
}

static void test_note_copies_payload(void **state)
{
  (void)state;
  char buf[] = "hello";
  ntf_note *n = ntf_note_new(9, buf, 5);
  buf[0] = 'J';
  assert_memory_equal(n->payload, "hello", 5);
  assert_int_equal(n->len, 5);
  ntf_note_unref(n);
  n = ntf_note_new(10, NULL, 0);
  assert_non_null(n);
  assert_int_equal(n->len, 0);
  ntf_note_unref(n);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fifo),
      cmocka_unit_test(test_drop_oldest),
      cmocka_unit_test(test_clear_and_close_release),
      cmocka_unit_test(test_capacity_one_and_invalid),
      cmocka_unit_test(test_note_copies_payload),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
