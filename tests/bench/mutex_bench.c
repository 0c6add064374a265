/*
 * The cost of an uncontended pthread mutex: one thread locks and unlocks a
 * private mutex N times through the PLT (so an interposer, when loaded, is
 * on the path). Prints one line: ops N ns_per_op X.
 *   mutex_bench [--ops N]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
  long ops = 20000000;
  if (argc == 3 && strcmp(argv[1], "--ops") == 0)
    ops = atol(argv[2]);
  pthread_mutex_t m;
  pthread_mutex_init(&m, NULL);
  /* Through a volatile pointer: the calls cannot be optimized away. */
  int (*volatile lock)(pthread_mutex_t *) = pthread_mutex_lock;
  int (*volatile unlock)(pthread_mutex_t *) = pthread_mutex_unlock;
  for (long i = 0; i < ops / 10; i++) { /* warm-up */
    lock(&m);
    unlock(&m);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < ops; i++) {
    lock(&m);
    unlock(&m);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns =
      (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
  printf("ops %ld ns_per_op %.3f\n", ops, ns / (double)ops);
  return 0;
}
