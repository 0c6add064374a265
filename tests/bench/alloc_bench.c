/*
 * An allocation-heavy two-thread benchmark for the heap profiler's cost.
 * Each thread keeps 1,024 live blocks and replaces one per operation with a
 * block of 16 B..64 KiB (power-of-two classes weighted 0.8^k, jittered
 * within the class: mean about 2.5 KiB), touching one byte per page.
 *   alloc_bench [--ops N] [--threads T]
 * Prints one line: ops, mean size, wall and CPU seconds, peak RSS.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_flags.h"

#define LIVE 1024

static long ops_per_thread = 4000000;
static double class_cdf[13];

typedef struct worker {
  pthread_t t;
  uint64_t rng;
  uint64_t bytes;
} worker;

static uint64_t next(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static size_t draw_size(uint64_t *rng)
{
  double u = (double)(next(rng) >> 11) / 9007199254740992.0;
  int k = 0;
  while (k < 12 && u > class_cdf[k])
    k++;
  size_t base = (size_t)16 << k;
  return base + (size_t)(next(rng) % base) / 2;
}

static void *run(void *arg)
{
  worker *w = arg;
  char *live[LIVE] = {0};
  for (long i = 0; i < ops_per_thread; i++) {
    int slot = (int)(next(&w->rng) % LIVE);
    free(live[slot]);
    size_t size = draw_size(&w->rng);
    char *p = malloc(size);
    for (size_t off = 0; off < size; off += 4096)
      p[off] = (char)i;
    live[slot] = p;
    w->bytes += size;
  }
  for (int k = 0; k < LIVE; k++)
    free(live[k]);
  return NULL;
}

int main(int argc, char **argv)
{
  ops_per_thread = flag_long(argc, argv, "--ops", ops_per_thread);
  long nthreads = flag_long(argc, argv, "--threads", 2);
  if (ops_per_thread <= 0 || nthreads <= 0 || nthreads > 64) {
    fprintf(stderr, "usage: alloc_bench [--ops N] [--threads T]\n");
    return 2;
  }
  int threads = (int)nthreads;
  double total = 0, w = 1;
  for (int k = 0; k < 13; k++, w *= 0.8)
    total += w;
  double acc = 0;
  w = 1;
  for (int k = 0; k < 13; k++, w *= 0.8)
    class_cdf[k] = (acc += w / total);

  worker ws[64];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < threads; i++) {
    ws[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    ws[i].bytes = 0;
    pthread_create(&ws[i].t, NULL, run, &ws[i]);
  }
  uint64_t bytes = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ws[i].t, NULL);
    bytes += ws[i].bytes;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double wall =
      (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  long ops = ops_per_thread * threads;
  printf("ops %ld mean_size %.0f wall %.4f cpu %.4f maxrss_kb %ld\n", ops,
         (double)bytes / (double)ops, wall, cpu, ru.ru_maxrss);
  return 0;
}
