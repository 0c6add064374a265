/*
 * realloc growth, the shape of a growing buffer: grows one block to
 * --mib MiB in 64 KiB steps (writing its last byte at each step), frees
 * it, --rounds times.
 *   realloc_bench [--mib N] [--rounds R]
 * Prints one line: steps, CPU seconds (user + sys), wall seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_flags.h"

static double cpu_seconds(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
  long mib = flag_long(argc, argv, "--mib", 16);
  long rounds = flag_long(argc, argv, "--rounds", 10);
  if (mib <= 0 || mib > 4096 || rounds <= 0) {
    fprintf(stderr, "usage: realloc_bench [--mib N] [--rounds R]\n");
    return 2;
  }
  size_t max = (size_t)mib << 20;
  long steps = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double c0 = cpu_seconds();
  for (long r = 0; r < rounds; r++) {
    char *p = NULL;
    for (size_t n = 65536; n <= max; n += 65536, steps++) {
      char *q = realloc(p, n);
      if (!q) {
        fprintf(stderr, "realloc_bench: out of memory\n");
        return 1;
      }
      p = q;
      p[n - 1] = (char)n;
    }
    free(p);
  }
  double cpu = cpu_seconds() - c0;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall =
      (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("steps %ld cpu %.6f wall %.6f\n", steps, cpu, wall);
  return 0;
}
