/* nprof merge (profiler/cli/merge.c) against the loadgen's own code: three
 * shards record known raw latencies into the loadgen's histograms and
 * write their results with the loadgen's JSON writer; the merge of those
 * files must say what one histogram of all the raw values says: counts
 * added, max the max, the same percentiles, the same buckets. Then every
 * refusal, each naming what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"

#include "cli.h"
#include "internal.h"

#define NSHARDS 3
#define USERS 90 /* all shards */

/* xorshift: the same values on every run. */
static uint64_t rnd(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* A latency in us spread over every range of the layout: the exact
 * buckets below 128, the log-linear ones up to seconds. */
static uint64_t latency(uint64_t *s, unsigned shard)
{
  uint64_t r = rnd(s);
  switch (r % 4) {
  case 0:
    return r % 128;
  case 1:
    return 100 + r % 5000;
  case 2:
    return (r % 2000000) * (shard + 1); /* shards differ */
  default:
    return 1000 + (r >> 8) % 50000;
  }
}

typedef struct {
  lg_options o[NSHARDS];
  lg_result r[NSHARDS];
  lg_histogram all[4]; /* connect, delivery, broadcast, call: every value */
  char *text[NSHARDS];
  struct cli_json *json[NSHARDS];
} fixture;

static lg_histogram *hist_of(lg_result *r, int k)
{
  lg_histogram *h[4] = {&r->connect, &r->delivery, &r->broadcast, &r->call};
  return h[k];
}

static char *render(const lg_result *r)
{
  struct capture c;
  lg_report_json_write(capture_open(&c), r);
  return capture_close(&c);
}

static void build(fixture *fx, const char *run_id)
{
  memset(fx, 0, sizeof *fx);
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int k = 0; k < 4; k++)
    lg_hist_init(&fx->all[k]);
  for (unsigned i = 0; i < NSHARDS; i++) {
    lg_options *o = &fx->o[i];
    lg_result *r = &fx->r[i];
    o->target = "127.0.0.1:50051";
    o->streams_per_conn = 10;
    o->threads = 2;
    o->shard_index = i;
    o->shard_count = NSHARDS;
    o->run_id = run_id;
    o->streams_total = USERS;
    lg_shard_users(USERS, i, NSHARDS, &o->user_first, &o->streams);
    o->conns = o->streams / 10;
    r->o = o;
    for (int k = 0; k < 4; k++)
      lg_hist_init(hist_of(r, k));
    /* A different number of values per shard and histogram. */
    for (int k = 0; k < 4; k++) {
      unsigned n = 500 + 300 * i + 77 * (unsigned)k;
      for (unsigned v = 0; v < n; v++) {
        uint64_t us = latency(&seed, i);
        lg_hist_record(hist_of(r, k), us);
        lg_hist_record(&fx->all[k], us);
      }
    }
    r->established = r->established_peak = r->established_total = o->streams;
    r->messages = 10 * o->streams;
    r->bytes = 100 * o->streams;
    r->errors[LG_CAUSE_RESET] = i;
    r->connect_seconds = 0.5 + i;
    r->phase_unix_ns[LG_PHASE_CONNECT] = 1700000000000000000ull + i * 100000000;
    r->rss_baseline_kib = 1000;
    r->rss_plateau_kib = 1000 + o->streams;
    r->messages_min = 9 + i;
    r->messages_max = 11 + i;
    r->ok = i != 1;
    if (!r->ok)
      snprintf(r->reason, sizeof r->reason, "29 of 30 streams held");
    fx->text[i] = render(r);
    char err[256];
    assert_int_equal(cli_json_parse(fx->text[i], strlen(fx->text[i]),
                                    &fx->json[i], err, sizeof err),
                     0);
  }
}

static void release(fixture *fx)
{
  for (unsigned i = 0; i < NSHARDS; i++) {
    cli_json_free(fx->json[i]);
    free(fx->text[i]);
  }
}

/* Merges inputs (in the order given); returns the code, the parsed result
 * in *out when 0. */
static int merge(struct cli_json **in, const char **names, size_t n,
                 const struct cli_merge_input *coord, struct cli_json **out,
                 char *err)
{
  struct cli_merge_input m[8];
  for (size_t i = 0; i < n; i++)
    m[i] = (struct cli_merge_input){names[i], in[i]};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  int rc = cli_merge(m, n, coord, f, err, 256);
  fclose(f);
  if (rc == 0) {
    char perr[256];
    if (cli_json_parse(buf, len, out, perr, sizeof perr) != 0)
      fail_msg("merged JSON does not parse: %s\n%s", perr, buf);
  }
  free(buf);
  return rc;
}

static double num(const struct cli_json *j, const char *key)
{
  double v = -1;
  assert_true(cli_json_number(j, key, &v));
  return v;
}

/* What the loadgen's JSON says for a value in us: ms, three decimals. */
static double ms3(uint64_t us)
{
  char buf[64];
  snprintf(buf, sizeof buf, "%.3f", (double)us / 1000.0);
  return strtod(buf, NULL);
}

static void test_merge_is_one_histogram_of_all_values(void **state)
{
  (void)state;
  fixture fx;
  build(&fx, "run-1");
  const char *names[] = {"shard-2.json", "shard-0.json", "shard-1.json"};
  struct cli_json *in[] = {fx.json[2], fx.json[0], fx.json[1]};
  struct cli_json *m = NULL;
  char err[256] = "";
  assert_int_equal(merge(in, names, 3, NULL, &m, err), 0);

  const char *keys[] = {"connect_ms", "delivery_ms", "broadcast_ms", "call_ms"};
  const struct cli_json *hists = cli_json_get(m, "histograms");
  for (int k = 0; k < 4; k++) {
    const lg_histogram *all = &fx.all[k];
    const struct cli_json *s = cli_json_get(m, keys[k]);
    /* counts add up; max is the max */
    assert_int_equal((uint64_t)num(s, "count"), all->count);
    assert_true(num(s, "max") == ms3(all->max));
    /* the percentiles of the union, never an average of the shards' */
    assert_true(num(s, "p50") == ms3(lg_hist_quantile(all, 0.5)));
    assert_true(num(s, "p90") == ms3(lg_hist_quantile(all, 0.9)));
    assert_true(num(s, "p99") == ms3(lg_hist_quantile(all, 0.99)));
    assert_true(num(s, "p999") == ms3(lg_hist_quantile(all, 0.999)));
    /* and the full histogram is the union's, bucket by bucket */
    const struct cli_json *h = cli_json_get(hists, keys[k]);
    assert_int_equal((uint64_t)num(h, "count"), all->count);
    assert_int_equal((uint64_t)num(h, "min"), all->min);
    assert_int_equal((uint64_t)num(h, "max"), all->max);
    assert_int_equal((uint64_t)num(h, "sum"), all->sum);
    uint64_t counts[LG_HIST_BUCKETS] = {0};
    for (const struct cli_json *b = cli_json_get(h, "buckets")->child; b;
         b = b->next)
      counts[(size_t)b->child->number] += (uint64_t)b->child->next->number;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
      assert_int_equal(counts[i], all->counts[i]);
  }
  /* An average of the shards' p99 is not what the merge says. */
  double avg = 0;
  for (int i = 0; i < NSHARDS; i++)
    avg += ms3(lg_hist_quantile(&fx.r[i].call, 0.99)) / NSHARDS;
  assert_true(num(cli_json_get(m, "call_ms"), "p99") != avg);

  assert_int_equal(num(m, "streams_requested"), USERS);
  assert_int_equal(num(m, "streams_established"), USERS);
  assert_int_equal(num(m, "messages_received"), 10 * USERS);
  assert_int_equal(num(m, "shard_count"), NSHARDS);
  assert_int_equal(num(cli_json_get(m, "errors"), "reset"), 0 + 1 + 2);
  assert_int_equal(num(cli_json_get(m, "messages_per_stream"), "min"), 9);
  assert_int_equal(num(cli_json_get(m, "messages_per_stream"), "max"), 13);
  /* The ramp: the first shard's start to the last shard's end (shard 2
   * starts 0.2 s in and takes 2.5 s), all users over that span. */
  assert_true(num(m, "establish_seconds") == 2.7);
  assert_true(num(m, "establish_rate_per_s") == 33.3);
  assert_int_equal(num(cli_json_get(m, "client_rss_kib"), "plateau"),
                   3000 + USERS);
  /* One failed shard fails the run, and says so. */
  assert_false(cli_json_get(m, "ok")->boolean);
  assert_string_equal(cli_json_string(m, "reason"),
                      "shard 1: 29 of 30 streams held");
  /* Per-shard figures, by index. */
  const struct cli_json *shards = cli_json_get(m, "shards");
  assert_int_equal(shards->count, NSHARDS);
  const struct cli_json *s1 = shards->child->next;
  assert_int_equal(num(s1, "index"), 1);
  assert_string_equal(cli_json_string(s1, "file"), "shard-1.json");
  assert_int_equal(cli_json_get(s1, "users")->child->number, 30);
  assert_int_equal(cli_json_get(s1, "users")->child->next->number, 59);
  assert_true(num(cli_json_get(s1, "call_ms"), "p99") ==
              ms3(lg_hist_quantile(&fx.r[1].call, 0.99)));
  cli_json_free(m);

  /* The coordinator's phases, snapshots and verdict join in. */
  const char *coord = "{\"role\": \"coordinator\", \"run_id\": \"run-1\", "
                      "\"shard_count\": 3, \"phases\": {\"baseline\": 5.5, "
                      "\"plateau\": 7.25}, \"snapshots\": {\"fetched\": 15, "
                      "\"failed\": 0}, \"publish\": {\"requested\": 2, "
                      "\"sent\": 2, \"ok\": 2}, \"timeline_samples\": 9, "
                      "\"ok\": false, \"reason\": \"shard 2 went silent\"}";
  struct cli_json *cj;
  assert_int_equal(cli_json_parse(coord, strlen(coord), &cj, err, sizeof err),
                   0);
  struct cli_merge_input ci = {"coordinator.json", cj};
  assert_int_equal(merge(in, names, 3, &ci, &m, err), 0);
  assert_true(num(cli_json_get(m, "phases"), "plateau") == 7.25);
  assert_int_equal(num(cli_json_get(m, "snapshots"), "fetched"), 15);
  assert_int_equal(num(cli_json_get(m, "publish"), "ok"), 2);
  assert_string_equal(cli_json_string(m, "reason"), "shard 2 went silent");
  cli_json_free(m);
  cli_json_free(cj);
  release(&fx);
}

/* The merged file is one nprof report reads as it reads one process's. */
static void test_report_reads_the_merge(void **state)
{
  (void)state;
  fixture fx;
  build(&fx, "run-1");
  const char *names[] = {"a", "b", "c"};
  struct cli_json *m = NULL;
  char err[256];
  assert_int_equal(merge(fx.json, names, 3, NULL, &m, err), 0);
  struct cli_loadgen lg;
  assert_int_equal(cli_loadgen_read(m, &lg), 0);
  assert_true(lg.present);
  assert_true(lg.requested == USERS);
  assert_true(lg.latency[CLI_LAT_CALL].count == (double)fx.all[3].count);
  assert_non_null(lg.latency[CLI_LAT_CALL].bins);
  assert_null(lg.latency[CLI_LAT_CALL].problem);
  cli_loadgen_free(&lg);
  cli_json_free(m);
  release(&fx);
}

static void expect_refused(struct cli_json **in, const char **names, size_t n,
                           const char *says)
{
  struct cli_json *m = NULL;
  char err[256] = "";
  int rc = merge(in, names, n, NULL, &m, err);
  if (rc != CLI_EINVALID || strstr(err, says) == NULL)
    fail_msg("rc %d, '%s', want '%s'", rc, err, says);
}

/* A shard's text with `from` replaced by `to` (once), parsed. */
static struct cli_json *tampered(const char *text, const char *from,
                                 const char *to)
{
  const char *p = strstr(text, from);
  assert_non_null(p);
  size_t n = strlen(text) + strlen(to) + 1;
  char *t = malloc(n);
  snprintf(t, n, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
  struct cli_json *j;
  char err[256];
  assert_int_equal(cli_json_parse(t, strlen(t), &j, err, sizeof err), 0);
  free(t);
  return j;
}

static void test_refusals_say_which(void **state)
{
  (void)state;
  fixture a, b;
  build(&a, "run-a");
  build(&b, "run-b");
  const char *names[] = {"s0", "s1", "s2", "s3"};

  struct cli_json *mixed[] = {a.json[0], b.json[1], a.json[2]};
  expect_refused(mixed, names, 3, "s1 is of run run-b, s0 of run run-a");
  struct cli_json *twice[] = {a.json[0], a.json[1], a.json[1]};
  expect_refused(twice, names, 3, "shard 1 twice: s1 and s2");
  struct cli_json *missing[] = {a.json[2]};
  expect_refused(missing, names, 1, "3 shards; 1 given, missing 0, 1");

  /* Another layout does not add. */
  struct cli_json *layout =
      tampered(a.text[1], "\"sub_bucket_bits\": 7", "\"sub_bucket_bits\": 6");
  struct cli_json *lay[] = {a.json[0], layout, a.json[2]};
  expect_refused(lay, names, 3, "layouts do not add");
  cli_json_free(layout);
  struct cli_json *other = tampered(
      a.text[1], "\"name\": \"" LG_HIST_LAYOUT "\"", "\"name\": \"hdr\"");
  struct cli_json *oth[] = {a.json[0], other, a.json[2]};
  expect_refused(oth, names, 3, "s1: connect_ms's layout is not the loadgen's");
  cli_json_free(other);
  /* A count its buckets do not hold. */
  char from[64], to[64];
  snprintf(from, sizeof from, "\"count\": %llu, \"min\"",
           (unsigned long long)a.r[0].connect.count);
  snprintf(to, sizeof to, "\"count\": %llu, \"min\"",
           (unsigned long long)a.r[0].connect.count + 1);
  struct cli_json *count = tampered(a.text[0], from, to);
  struct cli_json *cnt[] = {count, a.json[1], a.json[2]};
  expect_refused(cnt, names, 3, "its buckets hold");
  cli_json_free(count);
  /* Users that do not tile the run: a shard given other --streams. */
  struct cli_json *users =
      tampered(a.text[1], "\"users\": [30, 59]", "\"users\": [31, 59]");
  struct cli_json *usr[] = {a.json[0], users, a.json[2]};
  expect_refused(usr, names, 3, "different --streams");
  cli_json_free(users);
  /* One process's result, or an older loadgen's without histograms. */
  struct cli_json *plain = tampered(a.text[0], "\"shard\"", "\"not_shard\"");
  struct cli_json *pl[] = {plain};
  expect_refused(pl, names, 1, "not a shard's result");
  cli_json_free(plain);
  struct cli_json *old = tampered(a.text[2], "\"histograms\"", "\"h\"");
  struct cli_json *ol[] = {a.json[0], a.json[1], old};
  expect_refused(ol, names, 3, "no full histogram connect_ms");
  cli_json_free(old);
  release(&a);
  release(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge_is_one_histogram_of_all_values),
      cmocka_unit_test(test_report_reads_the_merge),
      cmocka_unit_test(test_refusals_say_which),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
