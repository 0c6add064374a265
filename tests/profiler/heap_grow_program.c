/*
 * A program that grows its heap on command, for the heap-dump test. It
 * does not link libnprof: the test preloads it. Reads commands from stdin:
 *   grow N   allocates N MiB in grow_heap_here (1 MiB blocks, every byte
 *            written) and answers "rss BYTES"
 *   rss      answers "rss BYTES"
 * and exits 0 at end of input. Prints "ready PID" first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long rss_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
    resident = -1;
  if (f)
    fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

/* The site the dumps must name. Its blocks are kept until exit. */
__attribute__((noinline)) static void grow_heap_here(long mib)
{
  for (long i = 0; i < mib; i++) {
    char *p = malloc(1 << 20);
    if (!p)
      exit(3);
    memset(p, (int)i, 1 << 20);
    __asm__ volatile("" : : "r"(p) : "memory");
  }
}

int main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready %d\n", (int)getpid());
  char line[128];
  while (fgets(line, sizeof(line), stdin)) {
    long n;
    if (sscanf(line, "grow %ld", &n) == 1 && n >= 0 && n <= 65536)
      grow_heap_here(n);
    else if (strncmp(line, "rss", 3) != 0)
      return 2;
    printf("rss %ld\n", rss_bytes());
  }
  return 0;
}
