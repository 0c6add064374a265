/*
 * A service with known allocations for the report tests, run under the
 * libnprof preload by tests/cli/mkrundir.py (--service). It obeys one
 * command per line on stdin and answers "ok" once done:
 *   connect N [...]  N more users, each SIZE bytes from user_alloc() in
 *                    CHUNK-byte blocks, plus EXTRA bytes from
 *                    user_extra_alloc() (what a regression would add)
 *   release N        frees the N newest users
 *   drain KEEP       frees every user but the KEEP oldest
 *   noop             nothing (a snapshot point)
 * and publishes the connected count as the /debug/vars variable
 * "svc.users" (through libnprof's API, found with dlsym: the program is
 * not linked with libnprof, only preloaded).
 *
 *   alloc_service [--size B] [--chunk B] [--extra B] [--mmap-threshold B]
 *
 * Freed memory is never given back on purpose: no malloc_trim, and a pin
 * block allocated after each connect keeps glibc from shrinking the top of
 * its heap, so a drained process holds the memory as free chunks: the
 * allocator-held case the report must tell apart. With a fixed
 * --mmap-threshold below CHUNK every block is its own mapping instead,
 * returned on free, and RSS falls with the users. EOF on stdin ends it.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct user {
  void **blocks;
  size_t nblocks;
  void *extra;
};

static size_t size = 16384, chunk = 256, extra;

/* noinline: each is an allocation site of its own in the heap profile. */
__attribute__((noinline)) static void *user_alloc(size_t n)
{
  void *p = malloc(n);
  if (p != NULL)
    memset(p, 0x5a, n); /* touched: resident */
  return p;
}

__attribute__((noinline)) static void *user_extra_alloc(size_t n)
{
  void *p = malloc(n);
  if (p != NULL)
    memset(p, 0xa5, n);
  return p;
}

static int user_new(struct user *u)
{
  u->nblocks = (size + chunk - 1) / chunk;
  u->blocks = calloc(u->nblocks, sizeof(*u->blocks));
  if (u->blocks == NULL)
    return -1;
  for (size_t i = 0; i < u->nblocks; i++) {
    if ((u->blocks[i] = user_alloc(chunk)) == NULL)
      return -1;
  }
  if (extra > 0 && (u->extra = user_extra_alloc(extra)) == NULL)
    return -1;
  return 0;
}

static void user_free(struct user *u)
{
  for (size_t i = 0; i < u->nblocks; i++)
    free(u->blocks[i]);
  free(u->blocks);
  free(u->extra);
  memset(u, 0, sizeof(*u));
}

static size_t arg(int argc, char **argv, int *i)
{
  if (*i + 1 >= argc) {
    fprintf(stderr, "alloc_service: %s needs a value\n", argv[*i]);
    exit(2);
  }
  return (size_t)strtoull(argv[++*i], NULL, 10);
}

int main(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--size") == 0)
      size = arg(argc, argv, &i);
    else if (strcmp(argv[i], "--chunk") == 0)
      chunk = arg(argc, argv, &i);
    else if (strcmp(argv[i], "--extra") == 0)
      extra = arg(argc, argv, &i);
    else if (strcmp(argv[i], "--mmap-threshold") == 0)
      mallopt(M_MMAP_THRESHOLD, (int)arg(argc, argv, &i));
    else {
      fprintf(stderr, "alloc_service: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (chunk == 0)
    chunk = 1;
  typedef void *(*new_int_fn)(const char *);
  typedef void (*set_fn)(void *, int64_t);
  new_int_fn new_int = (new_int_fn)dlsym(RTLD_DEFAULT, "nprof_var_new_int");
  set_fn set = (set_fn)dlsym(RTLD_DEFAULT, "nprof_var_set");
  void *var = new_int != NULL ? new_int("svc.users") : NULL;

  struct user *users = NULL;
  void *pin = NULL;
  size_t n = 0, alloc = 0;
  char line[256];
  printf("ready\n");
  fflush(stdout);
  while (fgets(line, sizeof(line), stdin) != NULL) {
    char cmd[32] = "";
    unsigned long v = 0;
    if (sscanf(line, "%31s %lu", cmd, &v) < 1)
      continue;
    if (strcmp(cmd, "connect") == 0) {
      if (n + v > alloc) {
        size_t na = (n + v) * 2;
        struct user *t = realloc(users, na * sizeof(*t));
        if (t == NULL)
          return 1;
        users = t;
        alloc = na;
      }
      for (unsigned long k = 0; k < v; k++) {
        memset(&users[n], 0, sizeof(users[n]));
        if (user_new(&users[n++]) != 0) {
          fprintf(stderr, "alloc_service: out of memory\n");
          return 1;
        }
      }
      /* A new pin above the users' blocks (taken before the old one is
       * freed, so it does not reuse it). */
      void *p = malloc(64);
      free(pin);
      pin = p;
    } else if (strcmp(cmd, "release") == 0) {
      while (v-- > 0 && n > 0)
        user_free(&users[--n]);
    } else if (strcmp(cmd, "drain") == 0) {
      while (n > v)
        user_free(&users[--n]);
    } else if (strcmp(cmd, "noop") != 0) {
      fprintf(stderr, "alloc_service: unknown command %s\n", cmd);
      return 2;
    }
    if (var != NULL && set != NULL)
      set(var, (int64_t)n);
    printf("ok\n");
    fflush(stdout);
  }
  return 0;
}
