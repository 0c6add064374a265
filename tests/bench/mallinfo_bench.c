/*
 * What /debug/vars' malloc section costs on a fragmented heap: 8 threads
 * (so 8+ arenas) each allocate 50,000 blocks of 16-512 B and free every
 * other one, leaving ~200,000 free chunks (~100 MiB heap); then mallinfo2() and
 * malloc_info() (what nprof__malloc_stats_read calls) are timed, each 21
 * times, medians printed. Both walk every free chunk with each arena
 * locked in turn, which is why libnprof calls them only on requests.
 *
 *   build/bench/mallinfo_bench      (make bench-mallinfo)
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 8
#define BLOCKS 50000
#define RUNS 21

static void *blocks[THREADS][BLOCKS];

static void *fragment(void *arg)
{
  void **b = arg;
  uint64_t x = (uint64_t)(uintptr_t)arg | 1;
  for (int i = 0; i < BLOCKS; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b[i] = malloc(16 + x % 496);
  }
  for (int i = 0; i < BLOCKS; i += 2)
    free(b[i]);
  return NULL;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(void)
{
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, fragment, blocks[i]);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  double mi[RUNS], info[RUNS];
  struct mallinfo2 m = {0};
  size_t xml_len = 0;
  int arenas = 0;
  for (int r = 0; r < RUNS; r++) {
    double t0 = now_ms();
    m = mallinfo2();
    mi[r] = now_ms() - t0;
    char *xml = NULL;
    FILE *f = open_memstream(&xml, &xml_len);
    t0 = now_ms();
    malloc_info(0, f);
    fclose(f);
    info[r] = now_ms() - t0;
    arenas = 0;
    for (char *p = xml; (p = strstr(p, "<heap nr=")); p++)
      arenas++;
    free(xml);
  }
  qsort(mi, RUNS, sizeof(double), cmp);
  qsort(info, RUNS, sizeof(double), cmp);
  printf("heap: %d arenas, %zu free chunks (%zu in fastbins), %.1f MiB free "
         "of %.1f MiB\n",
         arenas, m.ordblks + m.smblks, m.smblks, m.fordblks / 1048576.0,
         m.arena / 1048576.0);
  printf("mallinfo2():   median %.2f ms (min %.2f, max %.2f) over %d runs\n",
         mi[RUNS / 2], mi[0], mi[RUNS - 1], RUNS);
  printf("malloc_info(): median %.2f ms (min %.2f, max %.2f), %zu bytes of "
         "XML\n",
         info[RUNS / 2], info[0], info[RUNS - 1], xml_len);
  return 0;
}
