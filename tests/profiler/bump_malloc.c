/*
 * Another allocator, preloaded before libnprof (as jemalloc or tcmalloc
 * would be): a bump allocator over mmap that never frees. /debug/vars must
 * then say its malloc section is "unknown" rather than print glibc's
 * figures of an allocator nobody uses.
 */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA ((size_t)1 << 30)
#define ALIGN 16

static char *base;
static atomic_size_t used;

/* Returns `size` bytes aligned to `align`, with the size kept just before
 * them (for realloc and malloc_usable_size). */
static void *bump(size_t size, size_t align)
{
  if (!base) {
    void *p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      return NULL;
    char *expected = NULL;
    if (!atomic_compare_exchange_strong((_Atomic(char *) *)&base, &expected,
                                        (char *)p))
      munmap(p, ARENA);
  }
  if (align < ALIGN)
    align = ALIGN;
  size_t need = size + align + ALIGN;
  size_t at = atomic_fetch_add(&used, need);
  if (at + need > ARENA) {
    errno = ENOMEM;
    return NULL;
  }
  uintptr_t p = ((uintptr_t)base + at + ALIGN + align - 1) & ~(align - 1);
  ((size_t *)p)[-1] = size;
  return (void *)p;
}

void *malloc(size_t size)
{
  return bump(size, ALIGN);
}
void free(void *p)
{
  (void)p;
}
void *calloc(size_t n, size_t size)
{
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return bump(total, ALIGN); /* fresh mmap memory is zero */
}
void *realloc(void *old, size_t size)
{
  void *p = bump(size, ALIGN);
  if (p && old) {
    size_t was = ((size_t *)old)[-1];
    memcpy(p, old, was < size ? was : size);
  }
  return p;
}
void *memalign(size_t align, size_t size)
{
  return bump(size, align);
}
void *aligned_alloc(size_t align, size_t size)
{
  return bump(size, align);
}
int posix_memalign(void **out, size_t align, size_t size)
{
  void *p = bump(size, align);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}
size_t malloc_usable_size(void *p)
{
  return p ? ((size_t *)p)[-1] : 0;
}
