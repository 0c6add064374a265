/* The interposed malloc family (malloc.c): behaviour identical to glibc's,
 * sampled or not. Runs as its own process: it owns malloc. Not built under
 * sanitizers, whose runtimes own malloc. */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static bool is_sampled(const void *p)
{
  /* Launder the pointer: the compiler must not reason about the bytes
   * before a malloc'd block. */
  uintptr_t a = (uintptr_t)p;
  __asm__("" : "+r"(a));
  p = (const void *)a;
  size_t size;
  return nprof__heap_header_of(p)->tag == nprof__heap_tag(p) &&
         nprof__heap_sampled_size(p, &size);
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

static void moving_between_sampled_and_plain(void **state)
{
  (void)state;
  char *p = malloc(50);
  assert_true(is_sampled(p));
  memset(p, 'x', 50);
  nprof_heap_rate_set(0);
  nprof__t_heap_countdown = 0;
  p = realloc(p, 5000); /* sampled -> plain */
  assert_false(is_sampled(p));
  assert_int_equal(p[49], 'x');
  nprof_heap_rate_set(1);
  nprof__t_heap_countdown = 0;
  p = realloc(p, 70000); /* plain -> sampled */
  assert_true(is_sampled(p));
  assert_int_equal(p[49], 'x');
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
      cmocka_unit_test_setup_teardown(moving_between_sampled_and_plain,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(threads_churn_and_the_books_balance,
                                      every_allocation, default_rate),
      cmocka_unit_test_setup_teardown(fork_while_other_threads_allocate,
                                      every_allocation, default_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
