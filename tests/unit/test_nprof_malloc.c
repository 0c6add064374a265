/* The interposed malloc family (malloc.c): behaviour identical to glibc's,
 * sampled or not. Runs as its own process: it owns malloc. Not built under
 * sanitizers, whose runtimes own malloc. */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static bool is_sampled(const void *p)
{
  /* Launder the pointer: the compiler must not reason about the bytes
   * before a malloc'd block. */
  uintptr_t a = (uintptr_t)p;
  __asm__("" : "+r"(a));
  size_t size;
  return nprof__malloc_sampled((const void *)a, &size);
}

static int every_allocation(void **state)
{
  (void)state;
  nprof_heap_rate_set(1);
  nprof__t_heap_countdown = 0;
  return 0;
}

static int default_rate(void **state)
{
  (void)state;
  nprof_heap_rate_set(NPROF_DEFAULT_HEAP_RATE);
  return 0;
}

static void sampled_blocks_behave_like_glibc(void **state)
{
  (void)state;
  char *p = malloc(100);
  assert_non_null(p);
  assert_true(is_sampled(p));
  assert_true((uintptr_t)p % 16 == 0);
  assert_int_equal(malloc_usable_size(p), 100);
  memset(p, 'a', 100);
  p = realloc(p, 100000);
  assert_non_null(p);
  for (int i = 0; i < 100; i++)
    assert_int_equal(p[i], 'a');
  p = realloc(p, 10);
  assert_int_equal(p[9], 'a');
  free(p);

  /* calloc zeroes, even over recycled dirty memory. */
  char *dirty = malloc(4000);
  memset(dirty, 0xff, 4000);
  free(dirty);
  unsigned char *z = calloc(10, 400);
  assert_true(is_sampled(z));
  for (int i = 0; i < 4000; i++)
    assert_int_equal(z[i], 0);
  free(z);
}

static void aligned_allocations(void **state)
{
  (void)state;
  void *p = NULL;
  assert_int_equal(posix_memalign(&p, 4096, 100), 0);
  assert_true((uintptr_t)p % 4096 == 0);
  assert_true(is_sampled(p));
  memset(p, 1, 100);
  free(p);
  void *untouched = (void *)0x1;
  assert_int_equal(posix_memalign(&untouched, 3, 100), EINVAL);
  assert_ptr_equal(untouched, (void *)0x1);
  p = aligned_alloc(64, 128);
  assert_true((uintptr_t)p % 64 == 0);
  free(p);
  errno = 0;
  assert_null(aligned_alloc(3, 128));
  assert_int_equal(errno, EINVAL);
  p = memalign(48, 10); /* glibc rounds odd alignments up */
  assert_true((uintptr_t)p % 16 == 0);
  free(p);
  long page = sysconf(_SC_PAGESIZE);
  p = valloc(10);
  assert_true((uintptr_t)p % (uintptr_t)page == 0);
  free(p);
  p = pvalloc(10);
  assert_true((uintptr_t)p % (uintptr_t)page == 0);
  assert_true(malloc_usable_size(p) >= (size_t)page);
  free(p);
}

static void overflow_and_edge_cases(void **state)
{
  (void)state;
  volatile size_t huge = SIZE_MAX / 2, four = 4, almost = SIZE_MAX - 8;
  errno = 0;
  assert_null(calloc(huge, four));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  void *p = malloc(10);
  assert_null(reallocarray(p, huge, four));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  assert_null(malloc(almost));
  assert_int_equal(errno, ENOMEM);
  assert_null(realloc(p, 0)); /* frees, as glibc does */
  free(NULL);
  assert_int_equal(malloc_usable_size(NULL), 0);
  p = realloc(NULL, 32);
  assert_true(is_sampled(p));
  free(p);
  p = malloc(0);
  assert_non_null(p);
  free(p);
}

static void free_keeps_errno(void **state)
{
  (void)state;
  void *sampled = malloc(64);
  errno = 1234;
  free(sampled);
  assert_int_equal(errno, 1234);
  nprof_heap_rate_set(0);
  nprof__t_heap_countdown = 0;
  void *plain = malloc(64);
  assert_false(is_sampled(plain));
  errno = 4321;
  free(plain);
  assert_int_equal(errno, 4321);
  nprof_heap_rate_set(1);
}

/* A sampled block stays sampled when it grows (its added bytes cannot
 * un-sample it); an unsampled one becomes sampled when the bytes it adds
 * reach a sampling point; the data survives every move. */
static void realloc_between_sampled_and_plain(void **state)
{
  (void)state;
  char *p = malloc(50);
  assert_true(is_sampled(p));
  memset(p, 'x', 50);
  nprof_heap_rate_set(0);
  nprof__t_heap_countdown = 0;
  p = realloc(p, 5000); /* sampled, grown with sampling off */
  assert_true(is_sampled(p));
  assert_int_equal(malloc_usable_size(p), 5000);
  assert_int_equal(p[49], 'x');
  free(p);
  p = malloc(50);
  assert_false(is_sampled(p));
  memset(p, 'y', 50);
  nprof_heap_rate_set(1);
  nprof__t_heap_countdown = 0;
  p = realloc(p, 70000); /* plain -> sampled: its 69,950 new bytes count */
  assert_true(is_sampled(p));
  assert_int_equal(p[49], 'y');
  p = realloc(p, 20); /* rate 1: a shrunk block stays sampled */
  assert_true(is_sampled(p));
  assert_int_equal(p[19], 'y');
  free(p);
  /* At the default rate a big sampled block shrunk to a few bytes is
   * almost never kept sampled (p ~ 1e-4): whichever way, the data stays. */
  nprof_heap_rate_set(NPROF_DEFAULT_HEAP_RATE);
  nprof__t_heap_countdown = 0;
  p = malloc(1 << 20); /* twice the rate: sampled with p = 0.86 */
  memset(p, 'z', 1 << 20);
  p = realloc(p, 10);
  for (int i = 0; i < 10; i++)
    assert_int_equal(p[i], 'z');
  free(p);
}

static const nprof__heap_record *record_at(const nprof__heap_record *r, long n,
                                           const char *function, size_t cls)
{
  for (long i = 0; i < n; i++) {
    if (r[i].depth == 0 || r[i].size != cls)
      continue;
    nprof__sym sym;
    nprof__symbolize(r[i].pcs[0], &sym);
    if (strcmp(sym.function, function) == 0)
      return &r[i];
  }
  return NULL;
}

static __attribute__((noinline)) char *grow_here(char *p, size_t size)
{
  p = realloc(p, size);
  __asm__ volatile("" ::: "memory");
  return p;
}

/* The record of a sampled block follows it through realloc: the stack of
 * the allocation that made it, the size class of its new size. */
static void realloc_moves_the_record_to_the_new_size(void **state)
{
  (void)state;
  char *p = grow_here(NULL, 100);
  assert_true(is_sampled(p));
  p = grow_here(p, 1 << 20);
  assert_true(is_sampled(p));
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  const nprof__heap_record *small = record_at(recs, n, "grow_here", 112);
  const nprof__heap_record *big = record_at(recs, n, "grow_here", 1 << 20);
  assert_non_null(small);
  assert_non_null(big);
  assert_int_equal(small->allocs - small->frees, 0);
  assert_int_equal(big->allocs - big->frees, 1);
  assert_int_equal(big->alloc_bytes - big->free_bytes, 1 << 20);
  const void *big_id = big->id;
  free(recs);
  free(p);
  n = nprof__heap_snapshot(&recs);
  for (long i = 0; i < n; i++)
    if (recs[i].id == big_id)
      assert_int_equal(recs[i].alloc_bytes, recs[i].free_bytes);
  free(recs);
}

/* Blocks aligned to a page or more keep their record out of band: the
 * pointer glibc returned, its requested size, a profile entry, and a free
 * and a realloc that find the record. */
static void over_aligned_blocks_are_recorded_out_of_band(void **state)
{
  (void)state;
  nprof__heap_stats before, after;
  nprof__heap_stats_get(&before);
  void *p = NULL;
  assert_int_equal(posix_memalign(&p, 8192, 100), 0);
  assert_true((uintptr_t)p % 8192 == 0);
  assert_true(is_sampled(p));
  assert_int_equal(malloc_usable_size(p), 100);
  nprof__heap_stats_get(&after);
  assert_int_equal(after.live_samples, before.live_samples + 1);
  memset(p, 'q', 100);
  char *q = realloc(p, 300); /* leaves the table for a header block */
  assert_true(is_sampled(q));
  assert_int_equal(malloc_usable_size(q), 300);
  assert_int_equal(q[99], 'q');
  free(q);
  void *r = aligned_alloc(4096, 4096);
  assert_true(is_sampled(r));
  free(r);
  nprof__heap_stats_get(&after);
  assert_int_equal(after.live_samples, before.live_samples);
  /* Unsampled page-aligned blocks pass through the same free path. */
  nprof_heap_rate_set(0);
  nprof__t_heap_countdown = 0;
  assert_int_equal(posix_memalign(&p, 4096, 100), 0);
  assert_false(is_sampled(p));
  free(p);
}

static void *churn(void *arg)
{
  unsigned seed = (unsigned)(uintptr_t)arg;
  void *live[256] = {0};
  for (int i = 0; i < 200000; i++) {
    int k = (int)(rand_r(&seed) % 256);
    free(live[k]);
    live[k] =
        (i & 7) ? malloc(rand_r(&seed) % 4096) : calloc(1, rand_r(&seed) % 512);
  }
  for (int k = 0; k < 256; k++)
    free(live[k]);
  return NULL;
}

static void threads_churn_and_the_books_balance(void **state)
{
  (void)state;
  nprof_heap_rate_set(4096);
  nprof__heap_stats before, after;
  nprof__heap_stats_get(&before);
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  nprof__heap_stats_get(&after);
  assert_true(after.samples > before.samples + 1000);
  /* Everything allocated in churn() was freed: its buckets balance.
   * (Other live samples may come and go: pthread_create allocates.) */
  nprof__heap_record *recs;
  long n = nprof__heap_snapshot(&recs);
  int64_t churn_allocs = 0;
  for (long i = 0; i < n; i++) {
    nprof__sym sym;
    nprof__symbolize(recs[i].pcs[0], &sym);
    if (strcmp(sym.function, "churn") != 0)
      continue;
    churn_allocs += recs[i].allocs;
    assert_int_equal(recs[i].allocs, recs[i].frees);
    assert_int_equal(recs[i].alloc_bytes, recs[i].free_bytes);
  }
  assert_true(churn_allocs > 1000);
  free(recs);
  nprof_heap_rate_set(1);
}

static void *malloc_storm(void *arg)
{
  volatile int *stop = arg;
  while (!*stop)
    free(malloc(128));
  return NULL;
}

static void fork_while_other_threads_allocate(void **state)
{
  (void)state;
  volatile int stop = 0;
  pthread_t t;
  pthread_create(&t, NULL, malloc_storm, (void *)&stop);
  for (int i = 0; i < 20; i++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      alarm(10); /* a deadlocked child must not hang the test */
      for (int k = 0; k < 1000; k++)
        free(malloc(64));
      _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  stop = 1;
  pthread_join(t, NULL);
}

static double thread_cpu_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Grows one buffer to `max` bytes in 64 KiB steps, writing its last byte
 * at each step. Returns the CPU seconds it took, or -1 when it used more
 * than `budget_s` (then it stops early: a quadratic realloc would take
 * minutes). */
static double grow_buffer(size_t max, double budget_s)
{
  double t0 = thread_cpu_s();
  char *p = NULL;
  for (size_t n = 65536; n <= max; n += 65536) {
    char *q = realloc(p, n);
    assert_non_null(q);
    p = q;
    p[n - 1] = (char)n;
    if (thread_cpu_s() - t0 > budget_s) {
      free(p);
      return -1;
    }
  }
  free(p);
  return thread_cpu_s() - t0;
}

/* Defect: a sampled block was moved (malloc + copy + free) at every
 * realloc, and a growing multi-MiB buffer was sampled again at almost every
 * step, so growth was quadratic (64 MiB: over a minute, against ~5 ms for
 * glibc). Growth must stay within a small factor of sampling off, measured
 * in this same run (CPU time of this thread; the bound is generous: this
 * checks the complexity, the bench has the figures). */
static void realloc_growth_stays_linear(void **state)
{
  (void)state;
  const size_t max = (size_t)64 << 20;
  nprof_heap_rate_set(0);
  double plain = 1e9;
  for (int i = 0; i < 3; i++) {
    double t = grow_buffer(max, 60);
    if (t < plain)
      plain = t;
  }
  double budget = 20 * plain + 0.25;
  const long rates[] = {NPROF_DEFAULT_HEAP_RATE, 1};
  for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
    nprof_heap_rate_set(rates[i]);
    nprof__t_heap_countdown = 0;
    double t = grow_buffer(max, budget);
    if (t < 0)
      fail_msg("growing to 64 MiB at rate %ld took over %.3f s of CPU "
               "(sampling off: %.4f s)",
               rates[i], budget, plain);
  }
}

static long vm_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  long pages = 0;
  assert_int_equal(fscanf(f, "%ld", &pages), 1);
  fclose(f);
  return pages * sysconf(_SC_PAGESIZE);
}

/* Defect: a sampled over-aligned block kept its header in an extra
 * alignment's worth of padding, so 2 MiB-aligned 2 MiB blocks mapped
 * 6 MiB each instead of glibc's 4 MiB. Sampled (rate 1) must map what
 * unsampled (rate 0) maps, within 10%. */
static void large_alignment_maps_what_glibc_maps(void **state)
{
  (void)state;
  enum { N = 16 };
  const size_t align = (size_t)2 << 20;
  /* A fixed threshold: every block is its own mapping, whatever was freed
   * before (glibc raises a dynamic threshold after big frees). */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  long delta[2];
  const long rates[2] = {0, 1};
  for (int r = 0; r < 2; r++) {
    nprof_heap_rate_set(rates[r]);
    nprof__t_heap_countdown = 0;
    void *b[N];
    long v0 = vm_bytes();
    for (int i = 0; i < N; i++) {
      assert_int_equal(posix_memalign(&b[i], align, align), 0);
      assert_true((uintptr_t)b[i] % align == 0);
      memset(b[i], 1, 4096);
    }
    delta[r] = vm_bytes() - v0;
    for (int i = 0; i < N; i++)
      free(b[i]);
  }
  if ((double)delta[1] > (double)delta[0] * 1.1)
    fail_msg("%d sampled 2 MiB-aligned blocks map %ld KiB, unsampled %ld KiB",
             N, delta[1] >> 10, delta[0] >> 10);
}

/* Defect: malloc_usable_size was looked up with dlsym(RTLD_NEXT), which
 * finds another allocator's (here the fake one linked ahead of libc) and
 * runs it on glibc's blocks. It must be glibc's answer: at least the size
 * asked for, at most a chunk header more. */
static void usable_size_is_glibcs_with_another_allocator_loaded(void **state)
{
  (void)state;
  nprof_heap_rate_set(0);
  nprof__t_heap_countdown = 0;
  char *p = malloc(100);
  assert_non_null(p);
  size_t n = malloc_usable_size(p);
  if (n < 100 || n > 100 + 32)
    fail_msg("malloc_usable_size(malloc(100)) = %zu", n);
  free(p);
}

/* 2^17 distinct stacks: walk_a and walk_b call each other 17 deep, the
 * path chosen by the bits of `bits`. */
static __attribute__((noinline)) void *walk_b(unsigned bits, int n);
static __attribute__((noinline)) void *walk_a(unsigned bits, int n)
{
  if (n == 0)
    return malloc(24);
  void *p = (bits & 1) ? walk_a(bits >> 1, n - 1) : walk_b(bits >> 1, n - 1);
  __asm__ volatile("" ::: "memory");
  return p;
}

static __attribute__((noinline)) void *walk_b(unsigned bits, int n)
{
  if (n == 0)
    return malloc(24);
  void *p = (bits & 1) ? walk_a(bits >> 1, n - 1) : walk_b(bits >> 1, n - 1);
  __asm__ volatile("" ::: "memory");
  return p;
}

/* Defect: one bucket per distinct (stack, size class), never capped: a
 * program with endless distinct stacks grew the profiler's memory without
 * bound. The table must stop at its cap (65,536 stacks, plus one overflow
 * bucket per size class), and every sampled byte must still be counted. */
static void bucket_table_is_capped(void **state)
{
  (void)state;
  enum { DEPTH = 17 };
  const int64_t cap = 65536 + 512;
  nprof__heap_stats before, after;
  nprof__heap_stats_get(&before);
  nprof__heap_record *recs;
  long n0 = nprof__heap_snapshot(&recs);
  assert_true(n0 >= 0);
  int64_t bytes0 = 0;
  for (long i = 0; i < n0; i++)
    bytes0 += recs[i].alloc_bytes;
  free(recs);
  for (unsigned bits = 0; bits < (1u << DEPTH); bits++)
    free(walk_a(bits, DEPTH));
  nprof__heap_stats_get(&after);
  if (after.buckets > cap)
    fail_msg("%lld buckets after %u distinct stacks (cap %lld)",
             (long long)after.buckets, 1u << DEPTH, (long long)cap);
  long n1 = nprof__heap_snapshot(&recs);
  assert_true(n1 >= 0);
  int64_t bytes1 = 0;
  for (long i = 0; i < n1; i++)
    bytes1 += recs[i].alloc_bytes;
  free(recs);
  /* Rate 1: every block sampled, so at least all 24-byte blocks are in. */
  assert_true(bytes1 - bytes0 >= (int64_t)24 << DEPTH);
}

static void *sample_loop(void *arg)
{
  volatile int *stop = arg;
  unsigned bits = 0;
  while (!*stop) {
    free(walk_a(bits++, 10));
    void *p = NULL;
    if (posix_memalign(&p, 4096, 64) == 0)
      free(p);
  }
  return NULL;
}

static void *snapshot_loop(void *arg)
{
  volatile int *stop = arg;
  while (!*stop) {
    nprof__heap_record *recs;
    if (nprof__heap_snapshot(&recs) >= 0)
      free(recs);
  }
  return NULL;
}

/* The scenario of the fork test, in a process of its own so that a
 * deadlock is seen as a timeout. */
static int fork_while_heap_locks_are_busy(void)
{
  nprof_mutex_rate_set(1);
  volatile int stop = 0;
  pthread_t t[2];
  if (pthread_create(&t[0], NULL, sample_loop, (void *)&stop) != 0 ||
      pthread_create(&t[1], NULL, snapshot_loop, (void *)&stop) != 0)
    return 2;
  for (int i = 0; i < 300; i++) {
    pid_t pid = fork();
    if (pid < 0)
      return 3;
    if (pid == 0) {
      alarm(10);
      for (unsigned bits = 0; bits < 64; bits++)
        free(walk_a(bits * 7919, 12)); /* stacks new to the child */
      void *p = NULL;
      if (posix_memalign(&p, 8192, 100) == 0)
        free(p);
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
      return 4;
  }
  stop = 1;
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  return 0;
}

/* Defect: with contention profiling on, fork()'s prepare handler took the
 * heap lock through the interposed pthread_mutex_lock; when another thread
 * held it mid-sample the wait was recorded as contention, whose table lock
 * the contention module's own prepare handler already held: the forking
 * thread deadlocked. Forks while another thread samples and snapshots must
 * all complete, and each child must be able to sample. */
static void fork_while_another_thread_holds_heap_locks(void **state)
{
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(fork_while_heap_locks_are_busy());
  int status = 0;
  pid_t got = 0;
  for (int i = 0; i < 300 && got == 0; i++) { /* 30 s */
    got = waitpid(pid, &status, WNOHANG);
    if (got == 0)
      usleep(100000);
  }
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("fork deadlocked (no progress in 30 s)");
  }
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(sampled_blocks_behave_like_glibc,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(aligned_allocations, every_allocation,
                                      default_rate),
      cmocka_unit_test_setup_teardown(overflow_and_edge_cases, every_allocation,
                                      default_rate),
      cmocka_unit_test_setup_teardown(free_keeps_errno, every_allocation,
                                      default_rate),
      cmocka_unit_test_setup_teardown(realloc_between_sampled_and_plain,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(realloc_moves_the_record_to_the_new_size,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(
          over_aligned_blocks_are_recorded_out_of_band, every_allocation,
          default_rate),
      cmocka_unit_test_setup_teardown(threads_churn_and_the_books_balance,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(fork_while_other_threads_allocate,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(realloc_growth_stays_linear,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(large_alignment_maps_what_glibc_maps,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(
          usable_size_is_glibcs_with_another_allocator_loaded, every_allocation,
          default_rate),
      cmocka_unit_test_setup_teardown(bucket_table_is_capped, every_allocation,
                                      default_rate),
      cmocka_unit_test_setup_teardown(
          fork_while_another_thread_holds_heap_locks, every_allocation,
          default_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
