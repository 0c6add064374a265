/* Heap sampling maths and bookkeeping (heap.c). */
#include "internal.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void unsample_matches_go_formula(void **state)
{
  (void)state;
  int64_t c, b;
  /* 10 sampled 1 KiB blocks at Go's default rate: each stands for
   * 1 / (1 - exp(-1024/524288)) = 512.5 blocks. */
  nprof__heap_unsample(10, 10240, 524288, &c, &b);
  double scale = 1.0 / (1.0 - exp(-1024.0 / 524288.0));
  assert_int_equal(c, (int64_t)(10 * scale + 0.5));
  assert_int_equal(b, (int64_t)(10240 * scale + 0.5));
  assert_true(c > 5120 && c < 5130);
  /* Blocks far larger than the rate are always sampled: scale ~1. */
  nprof__heap_unsample(3, 3 * (64 << 20), 524288, &c, &b);
  assert_int_equal(c, 3);
  assert_int_equal(b, 3 * (64 << 20));
}

static void unsample_rate_one_is_identity(void **state)
{
  (void)state;
  int64_t c, b;
  nprof__heap_unsample(7, 700, 1, &c, &b);
  assert_int_equal(c, 7);
  assert_int_equal(b, 700);
  nprof__heap_unsample(0, 0, 524288, &c, &b);
  assert_int_equal(c, 0);
  assert_int_equal(b, 0);
}

/* Drives the sampler the way the malloc fast path does and checks that a
 * block of s bytes is sampled with probability 1 - exp(-s/rate). */
static double sampled_fraction(long rate, size_t size, int n)
{
  assert_int_equal(nprof__heap_rate_set(rate), 0);
  nprof__t_heap_countdown = 0;
  int sampled = 0;
  for (int i = 0; i < n; i++)
    if (nprof__heap_count(size) && nprof__heap_should_sample(size))
      sampled++;
  return (double)sampled / n;
}

static void sampling_probability_follows_poisson(void **state)
{
  (void)state;
  /* 200,000 draws at p = 0.0606: sd of the fraction ~0.00053 (0.9%); the
   * bounds are 5 sd. */
  double want = 1.0 - exp(-4096.0 / 65536.0);
  double got = sampled_fraction(65536, 4096, 200000);
  assert_true(fabs(got - want) < 5 * sqrt(want * (1 - want) / 200000));
  /* Small blocks: p = 1 - exp(-64/65536) ~ 0.000976. */
  want = 1.0 - exp(-64.0 / 65536.0);
  got = sampled_fraction(65536, 64, 2000000);
  assert_true(fabs(got - want) < 5 * sqrt(want * (1 - want) / 2000000));
  /* Rate 1: everything; rate 0: nothing. */
  assert_true(sampled_fraction(1, 16, 1000) == 1.0);
  assert_true(sampled_fraction(0, 16, 1000) == 0.0);
  nprof__heap_rate_set(NPROF_DEFAULT_HEAP_RATE);
}

static void rate_is_validated(void **state)
{
  (void)state;
  assert_int_equal(nprof__heap_rate_set(-1), NPROF_EINVAL);
  assert_int_equal(nprof_heap_rate_set(123), 0);
  assert_int_equal(nprof_heap_rate(), 123);
  nprof__heap_rate_set(NPROF_DEFAULT_HEAP_RATE);
}

static const nprof__heap_record *find(const nprof__heap_record *r, long n,
                                      uintptr_t pc0, size_t size)
{
  for (long i = 0; i < n; i++)
    if (r[i].depth > 0 && r[i].pcs[0] == pc0 && r[i].size == size)
      return &r[i];
  return NULL;
}

static void buckets_count_allocations_and_frees(void **state)
{
  (void)state;
  nprof__heap_init();
  uintptr_t pcs[2] = {0x1234, 0x5678};
  nprof__heap_bucket *b = nprof__heap_bucket_get(pcs, 2, 48);
  assert_non_null(b);
  /* Same stack, same size class: the same bucket. */
  assert_ptr_equal(nprof__heap_bucket_get(pcs, 2, 40), b);
  assert_true(nprof__heap_bucket_get(pcs, 2, 4000) != b);
  for (int i = 0; i < 3; i++)
    nprof__heap_record_alloc(b, 48);
  nprof__heap_record_free(b, 48);

  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  assert_true(n >= 1);
  const nprof__heap_record *r = find(recs, n, 0x1234, 48); /* class 48 */
  assert_non_null(r);
  assert_int_equal(r->allocs, 3);
  assert_int_equal(r->alloc_bytes, 144);
  assert_int_equal(r->frees, 1);
  assert_int_equal(r->free_bytes, 48);
  free(recs);

  /* A resize moves the block to its new size class, same stack. */
  nprof__heap_bucket *nb = nprof__heap_record_resize(b, 48, 5000);
  assert_true(nb != b);
  n = nprof__heap_snapshot(&recs);
  r = find(recs, n, 0x1234, 48);
  assert_int_equal(r->allocs - r->frees, 1);
  r = find(recs, n, 0x1234, 5120);
  assert_non_null(r);
  assert_int_equal(r->allocs, 1);
  assert_int_equal(r->alloc_bytes, 5000);
  free(recs);
  nprof__heap_record_free(nb, 5000);
  nprof__heap_record_free(b, 48);
  nprof__heap_record_free(b, 48);
}

/* Past 65,536 stacks, samples go to one overflow bucket per size class,
 * under a frame that names the reason; nothing is lost from the totals. */
static void full_table_overflows_into_a_named_bucket(void **state)
{
  (void)state;
  enum { STACKS = 70000 };
  nprof__heap_stats before, after;
  nprof__heap_stats_get(&before);
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  int64_t bytes = 0, overflow = 0;
  for (long i = 0; i < n; i++)
    bytes -= recs[i].alloc_bytes;
  free(recs);
  for (uintptr_t i = 0; i < STACKS; i++) {
    uintptr_t pcs[2] = {0x100000 + i * 16, 0x42};
    nprof__heap_bucket *b = nprof__heap_bucket_get(pcs, 2, 100);
    assert_non_null(b);
    nprof__heap_record_alloc(b, 100);
  }
  nprof__heap_stats_get(&after);
  assert_true(after.buckets <= 65536 + 512);
  assert_true(after.overflow_samples >= STACKS - 65536);
  assert_int_equal(after.samples - before.samples, STACKS);
  n = nprof__heap_snapshot(&recs);
  for (long i = 0; i < n; i++) {
    bytes += recs[i].alloc_bytes;
    nprof__sym sym;
    nprof__symbolize(recs[i].pcs[0], &sym);
    if (strcmp(sym.function, "nprof__heap_buckets_full") == 0) {
      assert_int_equal(recs[i].depth, 1);
      overflow += recs[i].allocs;
    }
  }
  assert_int_equal(bytes, (int64_t)STACKS * 100);
  assert_int_equal(overflow, after.overflow_samples);
  free(recs);
}

static void out_of_band_table_finds_what_it_holds(void **state)
{
  (void)state;
  enum { N = 5000 };
  uintptr_t pcs[1] = {0x777};
  nprof__heap_bucket *b = nprof__heap_bucket_get(pcs, 1, 4096);
  nprof__heap_bucket *got;
  size_t size;
  /* Fake page-aligned pointers: the table only keys on them. */
  for (uintptr_t i = 1; i <= N; i++)
    assert_int_equal(nprof__heap_oob_add((void *)(i << 12), b, i), 0);
  for (uintptr_t i = 1; i <= N; i += 2) {
    assert_true(nprof__heap_oob_take((void *)(i << 12), &got, &size));
    assert_ptr_equal(got, b);
    assert_int_equal(size, i);
  }
  /* Churn: tombstones are reused or rehashed away. */
  for (int round = 0; round < 20; round++)
    for (uintptr_t i = 1; i <= N; i += 2) {
      void *p = (void *)((i + (uintptr_t)N * 2) << 12);
      assert_int_equal(nprof__heap_oob_add(p, b, i), 0);
      assert_true(nprof__heap_oob_take(p, &got, &size));
    }
  for (uintptr_t i = 1; i <= N; i++) {
    bool in = nprof__heap_oob_find((void *)(i << 12), &got, &size);
    assert_int_equal(in, i % 2 == 0);
    if (in)
      assert_int_equal(size, i);
  }
  assert_false(
      nprof__heap_oob_find((void *)((uintptr_t)N * 10 << 12), &got, &size));
  for (uintptr_t i = 2; i <= N; i += 2)
    assert_true(nprof__heap_oob_take((void *)(i << 12), &got, &size));
  assert_false(nprof__heap_oob_find((void *)((uintptr_t)2 << 12), &got, &size));
}

/* A sampled block of s bytes shrunk to s' stays sampled with probability
 * (1 - exp(-s'/rate)) / (1 - exp(-s/rate)). 100,000 draws at p = 0.0654
 * (s = 64 KiB, s' = 4 KiB, rate 64 KiB): sd of the fraction 0.00078; the
 * bound is 5 sd. */
static void shrunk_blocks_stay_sampled_with_the_right_probability(void **state)
{
  (void)state;
  nprof__heap_rate_set(65536);
  double want = expm1(-4096.0 / 65536.0) / expm1(-1.0);
  int kept = 0;
  for (int i = 0; i < 100000; i++)
    kept += nprof__heap_keep_shrunk(65536, 4096);
  double got = kept / 100000.0;
  assert_true(fabs(got - want) < 5 * sqrt(want * (1 - want) / 100000));
  assert_true(nprof__heap_keep_shrunk(4096, 8192)); /* growth: always */
  nprof__heap_rate_set(1);
  assert_true(nprof__heap_keep_shrunk(65536, 1)); /* rate 1: everything */
  nprof__heap_rate_set(NPROF_DEFAULT_HEAP_RATE);
}

typedef struct churn_arg {
  nprof__heap_bucket *b;
  volatile int *stop;
  int64_t rounds;
} churn_arg;

static void *record_churn(void *p)
{
  churn_arg *a = p;
  while (!*a->stop) {
    nprof__heap_record_alloc(a->b, 64);
    nprof__heap_record_free(a->b, 64);
    a->rounds++;
  }
  return NULL;
}

/* Snapshots taken while other threads record see every finished
 * operation and never a free without its allocation. */
static void snapshots_during_recording_never_go_negative(void **state)
{
  (void)state;
  uintptr_t pcs[1] = {0x999};
  volatile int stop = 0;
  churn_arg a[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    a[i] = (churn_arg){.b = nprof__heap_bucket_get(pcs, 1, 64), .stop = &stop};
    assert_int_equal(pthread_create(&t[i], NULL, record_churn, &a[i]), 0);
  }
  for (int k = 0; k < 2000; k++) {
    nprof__heap_record *recs;
    long n = nprof__heap_snapshot(&recs);
    const nprof__heap_record *r = find(recs, n, 0x999, 64);
    if (r) {
      assert_true(r->allocs >= r->frees);
      assert_true(r->alloc_bytes >= r->free_bytes);
    }
    free(recs);
  }
  stop = 1;
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  const nprof__heap_record *r = find(recs, n, 0x999, 64);
  assert_non_null(r);
  assert_int_equal(r->allocs, a[0].rounds + a[1].rounds);
  assert_int_equal(r->frees, r->allocs);
  assert_int_equal(r->free_bytes, r->alloc_bytes);
  free(recs);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unsample_matches_go_formula),
      cmocka_unit_test(unsample_rate_one_is_identity),
      cmocka_unit_test(sampling_probability_follows_poisson),
      cmocka_unit_test(rate_is_validated),
      cmocka_unit_test(buckets_count_allocations_and_frees),
      cmocka_unit_test(out_of_band_table_finds_what_it_holds),
      cmocka_unit_test(shrunk_blocks_stay_sampled_with_the_right_probability),
      cmocka_unit_test(snapshots_during_recording_never_go_negative),
      cmocka_unit_test(full_table_overflows_into_a_named_bucket),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
