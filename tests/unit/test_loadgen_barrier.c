/* The state files that keep a sharded run's processes in step
 * (loadgen/barrier.c): what a record says survives the file, what is not a
 * record is refused, a coordinator and a shard in one folder see each
 * other, a silent peer is dead after the timeout (and one that said its
 * last word never is), and a file of another run is named, never obeyed.
 * The timings are bounds with a wide margin: the machine may be busy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

static void nap_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static void test_record_round_trip(void **state)
{
  (void)state;
  lg_bar_record r = {.index = 3,
                     .count = 4,
                     .seq = 17,
                     .state = LG_BAR_CONNECTED,
                     .failed = true,
                     .users = 250,
                     .s = {.connected = 249,
                           .established_total = 251,
                           .messages = 1000,
                           .errors = 2,
                           .client_rss_bytes = 123456789}};
  snprintf(r.run_id, sizeof r.run_id, "20261201T120000Z-1000");
  snprintf(r.reason, sizeof r.reason, "249 of 250 \"users\" connected");
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  lg_bar_record_write(f, &r);
  fclose(f);
  lg_bar_record back;
  assert_int_equal(lg_bar_record_parse(buf, len, &back), 0);
  assert_string_equal(back.run_id, r.run_id);
  assert_string_equal(back.reason, r.reason);
  assert_int_equal(back.index, 3);
  assert_int_equal(back.count, 4);
  assert_int_equal(back.seq, 17);
  assert_int_equal(back.state, LG_BAR_CONNECTED);
  assert_true(back.failed);
  assert_int_equal(back.users, 250);
  assert_int_equal(back.s.connected, 249);
  assert_int_equal(back.s.client_rss_bytes, 123456789);
  free(buf);

  lg_bar_record c = {.index = -1, .count = 2, .state = LG_BAR_ABORT};
  snprintf(c.run_id, sizeof c.run_id, "r");
  f = open_memstream(&buf, &len);
  lg_bar_record_write(f, &c);
  fclose(f);
  assert_non_null(strstr(buf, "\"role\": \"coordinator\""));
  assert_int_equal(lg_bar_record_parse(buf, len, &back), 0);
  assert_int_equal(back.index, -1);
  assert_int_equal(back.state, LG_BAR_ABORT);
  free(buf);
}

static void test_not_a_record(void **state)
{
  (void)state;
  const char *good = "{\"run_id\": \"r\", \"role\": \"shard\", \"index\": 0, "
                     "\"count\": 2, \"seq\": 1, \"state\": \"ramp\", "
                     "\"failed\": false, \"reason\": \"\", \"users\": 1, "
                     "\"connected\": 0, \"established_total\": 0, "
                     "\"messages\": 0, \"errors\": 0, \"client_rss_bytes\": 0}";
  lg_bar_record r;
  assert_int_equal(lg_bar_record_parse(good, strlen(good), &r), 0);
  const char *bad[] = {
      "",
      "[]",
      "{\"run_id\": \"r\"}",
      "{\"run_id\": \"r\", \"role\": \"shard\", \"index\": 0, \"count\": 2, "
      "\"seq\": 1, \"state\": \"flying\", \"failed\": false, \"reason\": "
      "\"\", \"users\": 1, \"connected\": 0, \"established_total\": 0, "
      "\"messages\": 0, \"errors\": 0, \"client_rss_bytes\": 0}",
      "{\"run_id\": \"r\", \"role\": \"shard\", \"index\": -4, \"count\": 2, "
      "\"seq\": 1, \"state\": \"ramp\", \"failed\": false, \"reason\": \"\", "
      "\"users\": 1, \"connected\": 0, \"established_total\": 0, "
      "\"messages\": 0, \"errors\": 0, \"client_rss_bytes\": 0}",
      "{\"run_id\": \"r\", \"role\": \"shard\", \"index\": 0, \"count\": 2, "
      "\"seq\": \"1\", \"state\": \"ramp\", \"failed\": false, \"reason\": "
      "\"\", \"users\": 1, \"connected\": 0, \"established_total\": 0, "
      "\"messages\": 0, \"errors\": 0, \"client_rss_bytes\": 0}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (lg_bar_record_parse(bad[i], strlen(bad[i]), &r) != LG_EPROTO)
      fail_msg("case %zu accepted", i);
  /* Torn: the first half of a good record. */
  assert_int_equal(lg_bar_record_parse(good, strlen(good) / 2, &r), LG_EPROTO);
}

static void counters(void *ud, lg_tl_sample *s)
{
  const uint64_t *n = ud;
  memset(s, 0, sizeof *s);
  s->connected = *n;
  s->messages = *n * 2;
}

static lg_bar_record record(int index, unsigned count, const char *run)
{
  lg_bar_record r = {.index = index, .count = count, .state = LG_BAR_START};
  snprintf(r.run_id, sizeof r.run_id, "%s", run);
  return r;
}

/* Waits up to 5 s for shard i (or the coordinator) to read as `state`. */
static bool sees(lg_barrier *b, unsigned i, lg_bar_state state)
{
  for (int k = 0; k < 500; k++) {
    lg_bar_peer p;
    lg_barrier_peer(b, i, &p);
    if (p.seen && p.rec.state == state)
      return true;
    nap_ms(10);
  }
  return false;
}

static void test_coordinator_and_shards_in_step(void **state)
{
  (void)state;
  char dir[] = "/tmp/lg-barrier.XXXXXX";
  assert_non_null(mkdtemp(dir));
  uint64_t n0 = 10, n1 = 20;
  lg_bar_record c = record(-1, 2, "run-a"), s0 = record(0, 2, "run-a"),
                s1 = record(1, 2, "run-a");
  lg_barrier *bc, *b0, *b1;
  const uint64_t timeout = 2000000000ull;
  assert_int_equal(lg_barrier_start(&bc, dir, &c, timeout, NULL, NULL), 0);
  assert_int_equal(lg_barrier_start(&b0, dir, &s0, timeout, counters, &n0), 0);
  assert_int_equal(lg_barrier_start(&b1, dir, &s1, timeout, counters, &n1), 0);

  lg_barrier_say(bc, LG_BAR_RAMP, false, NULL);
  assert_true(sees(b0, 0, LG_BAR_RAMP));
  assert_true(sees(b1, 0, LG_BAR_RAMP));
  lg_barrier_say(b0, LG_BAR_CONNECTED, false, NULL);
  lg_barrier_say(b1, LG_BAR_CONNECTED, true, "19 of 20 users connected");
  assert_true(sees(bc, 0, LG_BAR_CONNECTED));
  assert_true(sees(bc, 1, LG_BAR_CONNECTED));
  lg_bar_peer p;
  lg_barrier_peer(bc, 1, &p);
  assert_true(p.rec.failed);
  assert_string_equal(p.rec.reason, "19 of 20 users connected");
  assert_int_equal(p.rec.users, 0);
  /* The coordinator's timeline sums the shards' counters. */
  lg_tl_sample sum;
  lg_barrier_sum(bc, &sum);
  assert_int_equal(sum.connected, 30);
  assert_int_equal(sum.messages, 60);

  /* Shard 1 dies (its thread stops beating without a last word): after
   * the timeout, and not before, it is dead to the coordinator. */
  lg_barrier_say(b1, LG_BAR_DONE, false, NULL);
  lg_barrier_stop(b1); /* said "done": never dead */
  assert_true(sees(bc, 1, LG_BAR_DONE));
  nap_ms(3000);
  lg_barrier_peer(bc, 1, &p);
  assert_false(p.dead);
  assert_true(p.silent_ns >= timeout);
  lg_barrier_peer(bc, 0, &p); /* still beating */
  assert_false(p.dead);
  assert_true(p.silent_ns < timeout);

  lg_barrier_stop(b0); /* its last word was "connected": it goes silent */
  nap_ms(3000);
  lg_barrier_peer(bc, 0, &p);
  assert_true(p.dead);
  assert_int_equal(p.rec.state, LG_BAR_CONNECTED);
  lg_barrier_stop(bc);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_absent_and_foreign_peers(void **state)
{
  (void)state;
  char dir[] = "/tmp/lg-barrier.XXXXXX";
  assert_non_null(mkdtemp(dir));
  /* A state of another run in the folder is named, never obeyed. */
  lg_bar_record other = record(-1, 2, "run-b");
  other.state = LG_BAR_RAMP;
  lg_barrier *bo, *bs;
  assert_int_equal(lg_barrier_start(&bo, dir, &other, 500000000ull, NULL, NULL),
                   0);
  lg_bar_record s0 = record(0, 2, "run-a");
  assert_int_equal(lg_barrier_start(&bs, dir, &s0, 500000000ull, NULL, NULL),
                   0);
  nap_ms(900);
  lg_bar_peer p;
  lg_barrier_peer(bs, 0, &p);
  assert_false(p.seen);
  assert_true(p.dead); /* never seen within the timeout */
  assert_non_null(strstr(p.problem, "belongs to run run-b"));
  lg_barrier_stop(bs);
  lg_barrier_stop(bo);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_round_trip),
      cmocka_unit_test(test_not_a_record),
      cmocka_unit_test(test_coordinator_and_shards_in_step),
      cmocka_unit_test(test_absent_and_foreign_peers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
