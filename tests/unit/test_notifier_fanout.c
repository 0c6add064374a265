/* notifier-sim/fanout.c: delivered counts, unicast vs broadcast, per-stream
 * id order with several fan-out threads and small batches, drops, and
 * refusal after stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notifier_fake_stream.h"

/* A registered stream whose transport completes every send at once, or
 * never (`stall`: a stalled consumer), its headers done. */
static fake *mk(ntf_registry *r, const char *user, uint32_t depth, bool stall)
{
  fake *f = fake_new(user, depth, !stall);
  assert_int_equal(ntf_registry_add(r, &f->s, NULL), 0);
  fake_complete(f, true); /* "headers" done: token free */
  return f;
}

static void unmk(ntf_registry *r, fake *f)
{
  ntf_registry_remove(r, &f->s, NULL);
  ntf_stream_close(&f->s);
  ntf_stream_unref(&f->s);
}

/* Collects done() calls. */
typedef struct result {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int calls;
  uint64_t delivered, dropped, last_id;
  uint64_t max_id; /* done() may run out of order on different threads */
  int status;
} result;

static void on_done(void *ctx, int status, uint64_t id, uint64_t delivered,
                    uint64_t dropped)
{
  result *r = ctx;
  pthread_mutex_lock(&r->lock);
  r->calls++;
  r->status = status;
  r->delivered = delivered;
  r->dropped = dropped;
  r->last_id = id;
  if (id > r->max_id)
    r->max_id = id;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

static void result_init(result *r)
{
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
}

/* Waits (at most 10 s) until `calls` done() calls arrived. */
static void wait_calls(result *r, int calls)
{
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&r->lock);
  while (r->calls < calls)
    if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) != 0)
      break;
  int got = r->calls;
  pthread_mutex_unlock(&r->lock);
  assert_int_equal(got, calls);
}

static void test_unicast_and_broadcast(void **state)
{
  (void)state;
  ntf_registry reg;
  ntf_fanout fo;
  assert_int_equal(ntf_registry_init(&reg, 0), 0);
  assert_int_equal(ntf_fanout_start(&fo, &reg, 2, 2), 0);
  fake *a1 = mk(&reg, "alice", 8, false), *a2 = mk(&reg, "alice", 8, false);
  fake *b = mk(&reg, "bob", 8, false);
  result r;
  result_init(&r);
  assert_int_equal(ntf_fanout_submit(&fo, "alice", 5, "hi", 2, on_done, &r), 0);
  wait_calls(&r, 1);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.delivered, 2);
  assert_int_equal(r.last_id, 1);
  assert_int_equal(a1->nids, 1);
  assert_int_equal(a2->nids, 1);
  assert_int_equal(b->nids, 0);
  assert_int_equal(ntf_fanout_submit(&fo, NULL, 0, "all", 3, on_done, &r), 0);
  wait_calls(&r, 2);
  assert_int_equal(r.delivered, 3);
  assert_int_equal(r.last_id, 2);
  assert_int_equal(b->nids, 1);
  assert_int_equal(b->ids[0], 2);
  assert_int_equal(ntf_fanout_submit(&fo, "nobody", 6, "x", 1, on_done, &r), 0);
  wait_calls(&r, 3);
  assert_int_equal(r.delivered, 0);
  /* A departed stream is not counted. */
  unmk(&reg, b);
  assert_int_equal(ntf_fanout_submit(&fo, "", 0, "x", 1, on_done, &r), 0);
  wait_calls(&r, 4);
  assert_int_equal(r.delivered, 2);
  ntf_fanout_stop(&fo);
  assert_int_equal(ntf_fanout_submit(&fo, "", 0, "x", 1, on_done, &r),
                   NTF_ECLOSED);
  ntf_fanout_close(&fo);
  unmk(&reg, a1);
  unmk(&reg, a2);
  ntf_registry_close(&reg);
}

static void test_rejects_oversize(void **state)
{
  (void)state;
  ntf_registry reg;
  ntf_fanout fo;
  assert_int_equal(ntf_registry_init(&reg, 0), 0);
  assert_int_equal(ntf_fanout_start(&fo, &reg, 1, 16), 0);
  char *big = calloc(1, NTF_PAYLOAD_MAX + 1);
  result r;
  result_init(&r);
  assert_int_equal(
      ntf_fanout_submit(&fo, NULL, 0, big, NTF_PAYLOAD_MAX + 1, on_done, &r),
      NTF_EINVAL);
  assert_int_equal(
      ntf_fanout_submit(&fo, big, NTF_USER_ID_MAX + 1, "x", 1, on_done, &r),
      NTF_EINVAL);
  free(big);
  ntf_fanout_stop(&fo);
  ntf_fanout_close(&fo);
  assert_int_equal(r.calls, 0);
  assert_int_equal(ntf_fanout_start(&fo, &reg, -1, 16), NTF_EINVAL);
  assert_int_equal(ntf_fanout_start(&fo, &reg, NTF_FANOUT_MAX_THREADS + 1, 16),
                   NTF_EINVAL);
  assert_int_equal(ntf_fanout_start(&fo, &reg, 1, 0), NTF_EINVAL);
  ntf_registry_close(&reg);
}

/* Many broadcasts and unicasts through 4 threads in batches of 3: each
 * stream receives every id meant for it exactly once, in increasing order. */
static void test_order_across_threads(void **state)
{
  (void)state;
  enum { STREAMS = 60, JOBS = 300 };
  ntf_registry reg;
  ntf_fanout fo;
  assert_int_equal(ntf_registry_init(&reg, 0), 0);
  assert_int_equal(ntf_fanout_start(&fo, &reg, 4, 3), 0);
  fake *f[STREAMS];
  char id[16];
  for (int i = 0; i < STREAMS; i++) {
    snprintf(id, sizeof id, "u%d", i % 20);
    f[i] = mk(&reg, id, 1024, false);
  }
  result r;
  result_init(&r);
  uint64_t expect[STREAMS] = {0};
  for (int j = 0; j < JOBS; j++) {
    if (j % 3 == 0) {
      snprintf(id, sizeof id, "u%d", j % 20);
      assert_int_equal(
          ntf_fanout_submit(&fo, id, strlen(id), "x", 1, on_done, &r), 0);
      for (int i = 0; i < STREAMS; i++)
        if (i % 20 == j % 20)
          expect[i]++;
    } else {
      assert_int_equal(ntf_fanout_submit(&fo, NULL, 0, "x", 1, on_done, &r), 0);
      for (int i = 0; i < STREAMS; i++)
        expect[i]++;
    }
  }
  wait_calls(&r, JOBS);
  assert_int_equal(r.max_id, JOBS);
  for (int i = 0; i < STREAMS; i++) {
    assert_int_equal(f[i]->nids, expect[i]);
    for (size_t k = 1; k < f[i]->nids; k++)
      assert_true(f[i]->ids[k] > f[i]->ids[k - 1]);
  }
  ntf_fanout_stop(&fo);
  ntf_fanout_close(&fo);
  for (int i = 0; i < STREAMS; i++)
    unmk(&reg, f[i]);
  ntf_registry_close(&reg);
}

/* A consumer that never completes a send: its queue holds `depth` notes,
 * older ones are dropped and counted, and the others are unaffected. */
static void test_stalled_consumer_drops(void **state)
{
  (void)state;
  ntf_registry reg;
  ntf_fanout fo;
  assert_int_equal(ntf_registry_init(&reg, 0), 0);
  assert_int_equal(ntf_fanout_start(&fo, &reg, 1, 64), 0);
  fake *slow = mk(&reg, "slow", 4, true);
  fake *fast = mk(&reg, "fast", 4, false);
  result r;
  result_init(&r);
  uint64_t dropped = 0;
  for (int j = 0; j < 10; j++) {
    assert_int_equal(ntf_fanout_submit(&fo, NULL, 0, "x", 1, on_done, &r), 0);
    wait_calls(&r, j + 1);
    assert_int_equal(r.delivered, 2);
    dropped += r.dropped;
  }
  /* 1 in flight + 4 queued; the 5 others were dropped. */
  assert_int_equal(slow->nids, 1);
  assert_int_equal(slow->s.queue.len, 4);
  assert_int_equal(dropped, 5);
  assert_int_equal(slow->s.dropped, 5);
  assert_int_equal(fast->nids, 10);
  ntf_fanout_stop(&fo);
  ntf_fanout_close(&fo);
  unmk(&reg, slow);
  unmk(&reg, fast);
  ntf_registry_close(&reg);
}

/* No threads of its own: the caller runs one unit at a time (a snapshot,
 * then batches), `available` says when there is work, and stop finishes
 * what is queued on the caller's thread. */
static void test_caller_driven(void **state)
{
  (void)state;
  ntf_registry reg;
  ntf_fanout fo;
  assert_int_equal(ntf_registry_init(&reg, 0), 0);
  assert_int_equal(ntf_fanout_start(&fo, &reg, 0, 2), 0);
  fake *f[5];
  for (int i = 0; i < 5; i++)
    f[i] = mk(&reg, "u", 8, false);
  result r;
  result_init(&r);
  assert_false(ntf_fanout_available(&fo));
  assert_false(ntf_fanout_run(&fo));
  assert_int_equal(ntf_fanout_submit(&fo, NULL, 0, "x", 1, on_done, &r), 0);
  assert_true(ntf_fanout_available(&fo));
  int units = 0;
  while (ntf_fanout_run(&fo))
    units++;
  assert_int_equal(units, 1 + 3); /* snapshot, then batches of 2, 2, 1 */
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.delivered, 5);
  assert_false(ntf_fanout_available(&fo));
  /* A job to nobody completes with its snapshot. */
  assert_int_equal(ntf_fanout_submit(&fo, "none", 4, "x", 1, on_done, &r), 0);
  assert_true(ntf_fanout_run(&fo));
  assert_int_equal(r.calls, 2);
  assert_int_equal(r.delivered, 0);
  /* Queued work is done by stop itself. */
  assert_int_equal(ntf_fanout_submit(&fo, NULL, 0, "y", 1, on_done, &r), 0);
  assert_int_equal(ntf_fanout_submit(&fo, NULL, 0, "z", 1, on_done, &r), 0);
  ntf_fanout_stop(&fo);
  assert_int_equal(r.calls, 4);
  assert_int_equal(r.last_id, 4);
  for (int i = 0; i < 5; i++)
    assert_int_equal(f[i]->nids, 3);
  assert_int_equal(ntf_fanout_submit(&fo, NULL, 0, "x", 1, on_done, &r),
                   NTF_ECLOSED);
  ntf_fanout_close(&fo);
  for (int i = 0; i < 5; i++)
    unmk(&reg, f[i]);
  ntf_registry_close(&reg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unicast_and_broadcast),
      cmocka_unit_test(test_rejects_oversize),
      cmocka_unit_test(test_order_across_threads),
      cmocka_unit_test(test_stalled_consumer_drops),
      cmocka_unit_test(test_caller_driven),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
