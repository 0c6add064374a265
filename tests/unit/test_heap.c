/* Heap sampling maths and bookkeeping (heap.c). */
#include "internal.h"

#include <math.h>
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
  for (int i = 0; i < n; i++) {
    if (size < (uint64_t)nprof__t_heap_countdown)
      nprof__t_heap_countdown -= (int64_t)size;
    else if (nprof__heap_should_sample(size))
      sampled++;
  }
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

static void records_allocations_and_frees(void **state)
{
  (void)state;
  nprof__heap_init();
  /* Fake sampled blocks: the header lives in the 16 bytes before p. */
  char *raw[3];
  uintptr_t pcs[2] = {0x1234, 0x5678};
  for (int i = 0; i < 3; i++) {
    raw[i] = calloc(1, 64);
    void *p = raw[i] + 16;
    int64_t slot = nprof__heap_record_alloc(p, 48, pcs, 2);
    assert_true(slot >= 0);
    nprof__heap_header_of(p)->slot = (uint32_t)slot;
  }
  size_t size = 0;
  assert_true(nprof__heap_sampled_size(raw[1] + 16, &size));
  assert_int_equal(size, 48);
  assert_true(nprof__heap_record_free(raw[1] + 16, &size));
  assert_int_equal(size, 48);
  /* A second free of the same block is not recognized again. */
  assert_false(nprof__heap_record_free(raw[1] + 16, &size));

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
  assert_true(nprof__heap_record_free(raw[0] + 16, &size));
  assert_true(nprof__heap_record_free(raw[2] + 16, &size));
  for (int i = 0; i < 3; i++)
    free(raw[i]);
}

static void slot_table_grows_past_first_chunk(void **state)
{
  (void)state;
  enum { N = 40000 }; /* the first slot chunk holds 16384 */
  char *blocks = calloc(N, 32);
  uintptr_t pcs[1] = {0xabc};
  for (int i = 0; i < N; i++) {
    void *p = blocks + (size_t)i * 32 + 16;
    int64_t slot = nprof__heap_record_alloc(p, 16, pcs, 1);
    assert_true(slot >= 0);
    nprof__heap_header_of(p)->slot = (uint32_t)slot;
  }
  nprof__heap_stats st;
  nprof__heap_stats_get(&st);
  assert_true(st.live_samples >= N);
  size_t size;
  for (int i = 0; i < N; i++)
    assert_true(nprof__heap_record_free(blocks + (size_t)i * 32 + 16, &size));
  free(blocks);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unsample_matches_go_formula),
      cmocka_unit_test(unsample_rate_one_is_identity),
      cmocka_unit_test(sampling_probability_follows_poisson),
      cmocka_unit_test(rate_is_validated),
      cmocka_unit_test(records_allocations_and_frees),
      cmocka_unit_test(slot_table_grows_past_first_chunk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
