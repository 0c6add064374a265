/*
 * Large alignments: --count blocks of --mib MiB aligned to their own size
 * (posix_memalign), every page written, all live at once.
 *   align_bench [--count N] [--mib M]
 * Prints one line: the growth of VmSize and of RSS over the allocations
 * (/proc/self/statm), in KiB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_flags.h"

static void statm(long *vm, long *rss)
{
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f || fscanf(f, "%ld %ld", vm, rss) != 2) {
    fprintf(stderr, "align_bench: cannot read /proc/self/statm\n");
    exit(1);
  }
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  *vm *= page;
  *rss *= page;
}

int main(int argc, char **argv)
{
  long count = flag_long(argc, argv, "--count", 32);
  long mib = flag_long(argc, argv, "--mib", 2);
  if (count <= 0 || count > 4096 || mib <= 0 || mib > 1024) {
    fprintf(stderr, "usage: align_bench [--count N] [--mib M]\n");
    return 2;
  }
  size_t size = (size_t)mib << 20;
  void **blocks = calloc((size_t)count, sizeof(*blocks));
  if (!blocks)
    return 1;
  /* One block first, freed: whatever a first allocation sets up (a
   * profiler's tables) is not counted. */
  void *warm;
  if (posix_memalign(&warm, size, size) != 0)
    return 1;
  free(warm);
  long vm0, rss0, vm1, rss1;
  statm(&vm0, &rss0);
  long page = sysconf(_SC_PAGESIZE);
  for (long i = 0; i < count; i++) {
    if (posix_memalign(&blocks[i], size, size) != 0) {
      fprintf(stderr, "align_bench: out of memory\n");
      return 1;
    }
    for (size_t off = 0; off < size; off += (size_t)page)
      ((char *)blocks[i])[off] = 1;
  }
  statm(&vm1, &rss1);
  printf("blocks %ld vm_kib %ld rss_kib %ld\n", count, (vm1 - vm0) >> 10,
         (rss1 - rss0) >> 10);
  for (long i = 0; i < count; i++)
    free(blocks[i]);
  free(blocks);
  return 0;
}
