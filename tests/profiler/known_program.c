/*
 * A program whose allocations and threads are known, for the profiler's
 * integration tests. It allocates at named sites, parks threads in named
 * functions, publishes a custom profile and variables, starts libnprof on
 * 127.0.0.1:0, prints "listening on ADDR" and waits for its stdin to close
 * (at most 300 s).
 *
 * Known figures (also printed as "truth ..." lines for the test):
 *   small_blocks:   10,000 x 1 KiB live      (10,240,000 B)
 *   big_blocks:      2,500 x 16 KiB live     (40,960,000 B)
 *   transient:       5,000 x 4 KiB, freed    (20,480,000 B allocated)
 *   in_qsort_callback: blocks allocated from inside qsort's comparator
 *   3 threads parked in park_reader, 2 in park_sleeper
 */
#include "testprog.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SMALL_N 10000
#define SMALL_SIZE 1024
#define BIG_N 2500
#define BIG_SIZE 16384
#define TRANSIENT_N 5000
#define TRANSIENT_SIZE 4096
#define QSORT_N 4000
#define READERS 3
#define SLEEPERS 2

static void *small[SMALL_N], *big[BIG_N];
static void *from_callback[QSORT_N * 16];
static size_t callback_count;
static int park_pipe[2];

__attribute__((noinline)) static void small_blocks(void)
{
  for (int i = 0; i < SMALL_N; i++) {
    small[i] = malloc(SMALL_SIZE);
    memset(small[i], 1, SMALL_SIZE);
  }
}

__attribute__((noinline)) static void big_blocks(void)
{
  for (int i = 0; i < BIG_N; i++)
    big[i] = calloc(1, BIG_SIZE);
}

__attribute__((noinline)) static void transient(void)
{
  for (int i = 0; i < TRANSIENT_N; i++) {
    char *p = malloc(TRANSIENT_SIZE);
    p[0] = 1;
    free(p);
  }
}

__attribute__((noinline)) static void in_qsort_callback(void)
{
  if (callback_count < sizeof(from_callback) / sizeof(from_callback[0]))
    from_callback[callback_count++] = malloc(2048);
}

static int compare_and_allocate(const void *a, const void *b)
{
  in_qsort_callback();
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

__attribute__((noinline)) static void sort_with_allocating_callback(void)
{
  int *v = malloc(QSORT_N * sizeof(*v));
  for (int i = 0; i < QSORT_N; i++)
    v[i] = (i * 7919) % QSORT_N;
  qsort(v, QSORT_N, sizeof(*v), compare_and_allocate);
  free(v);
}

__attribute__((noinline)) static void park_reader(void)
{
  char c;
  while (read(park_pipe[0], &c, 1) < 0) /* blocks until exit */
    ;
}

static void *reader_main(void *arg)
{
  (void)arg;
  park_reader();
  return NULL;
}

__attribute__((noinline)) static void park_sleeper(void)
{
  for (;;) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

static void *sleeper_main(void *arg)
{
  (void)arg;
  park_sleeper();
  return NULL;
}

__attribute__((noinline)) static void make_widget(nprof_profile *p, int i)
{
  static int keys[64];
  nprof_profile_add(p, &keys[i], 0);
}

int main(void)
{
  alarm(300); /* never outlive a broken test */
  if (pipe(park_pipe) != 0)
    return 1;
  small_blocks();
  big_blocks();
  transient();
  sort_with_allocating_callback();

  pthread_t t;
  for (int i = 0; i < READERS; i++) {
    pthread_create(&t, NULL, reader_main, NULL);
    pthread_setname_np(t, "reader");
  }
  for (int i = 0; i < SLEEPERS; i++) {
    pthread_create(&t, NULL, sleeper_main, NULL);
    pthread_setname_np(t, "sleeper");
  }

  nprof_profile *widgets = nprof_profile_new("widgets");
  for (int i = 0; i < 7; i++)
    make_widget(widgets, i);
  nprof_profile_remove(widgets, NULL); /* not there: ignored */
  nprof_var *counter = nprof_var_new_int("test.counter");
  nprof_var_set(counter, 40);
  nprof_var_add(counter, 2);
  nprof_var_set_float(nprof_var_new_float("test.ratio"), 0.25);

  serve_or_exit("KNOWN_LISTEN");
  printf("truth small_blocks %d %d\n", SMALL_N, SMALL_N * SMALL_SIZE);
  printf("truth big_blocks %d %d\n", BIG_N, BIG_N * BIG_SIZE);
  printf("truth transient %d %d\n", TRANSIENT_N, TRANSIENT_N * TRANSIENT_SIZE);
  printf("truth in_qsort_callback %zu %zu\n", callback_count,
         callback_count * 2048);
  printf("listening on %s\n", nprof_listen_address());
  fflush(stdout);
  char buf[64];
  while (fread(buf, 1, sizeof(buf), stdin) > 0)
    ;
  nprof_stop();
  return 0;
}
