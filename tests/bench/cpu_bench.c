/*
 * A CPU-bound multi-threaded benchmark for the CPU profiler's cost: each
 * thread hashes a private 64 KiB buffer through a few levels of calls (so
 * a sampled stack has some depth to unwind), no allocation, no locks, no
 * system calls while it works.
 *   cpu_bench [--rounds N] [--threads T] [--wait-go]
 * --wait-go: read one line from stdin before starting (the benchmark script
 * first makes sure the profiler is sampling). Prints one line:
 *   threads T rounds N wall S cpu S checksum X
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BUF (64 * 1024)

static long rounds = 2000;

__attribute__((noinline)) static uint64_t mix_block(const uint8_t *p, size_t n,
                                                    uint64_t h)
{
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

__attribute__((noinline)) static uint64_t hash_buffer(const uint8_t *p,
                                                      uint64_t seed)
{
  uint64_t h = seed;
  for (size_t off = 0; off < BUF; off += 4096)
    h = mix_block(p + off, 4096, h);
  return h;
}

__attribute__((noinline)) static uint64_t one_round(uint8_t *buf, long r)
{
  uint64_t h = hash_buffer(buf, (uint64_t)r);
  buf[r % BUF] = (uint8_t)h;
  return h;
}

static void *work(void *arg)
{
  uint64_t *out = arg;
  uint8_t *buf = calloc(1, BUF);
  uint64_t h = 0;
  for (long r = 0; r < rounds; r++)
    h ^= one_round(buf, r);
  free(buf);
  *out = h;
  return NULL;
}

static double seconds(const struct timeval *tv)
{
  return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

int main(int argc, char **argv)
{
  int threads = 2;
  int wait_go = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = atol(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--wait-go") == 0)
      wait_go = 1;
    else {
      fprintf(stderr, "usage: %s [--rounds N] [--threads T] [--wait-go]\n",
              argv[0]);
      return 2;
    }
  }
  if (threads < 1 || threads > 64 || rounds < 1)
    return 2;
  if (wait_go) {
    char line[16];
    if (!fgets(line, sizeof(line), stdin))
      return 1;
  }
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t t[64];
  uint64_t out[64];
  for (int i = 0; i < threads; i++)
    pthread_create(&t[i], NULL, work, &out[i]);
  uint64_t sum = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    sum ^= out[i];
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  getrusage(RUSAGE_SELF, &ru1);
  double wall =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  double cpu = seconds(&ru1.ru_utime) - seconds(&ru0.ru_utime) +
               seconds(&ru1.ru_stime) - seconds(&ru0.ru_stime);
  printf("threads %d rounds %ld wall %.4f cpu %.4f checksum %llx\n", threads,
         rounds, wall, cpu, (unsigned long long)sum);
  fflush(stdout);
  return 0;
}
