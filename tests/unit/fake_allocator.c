/* A stand-in for another allocator loaded after libnprof (jemalloc,
 * tcmalloc...): it defines malloc_usable_size and answers what glibc never
 * would. test_nprof_malloc links it ahead of libc, so a lookup that takes the
 * "next" malloc_usable_size instead of libc's own finds this one. */
#include <stddef.h>

size_t malloc_usable_size(void *p);

size_t malloc_usable_size(void *p)
{
  (void)p;
  return 7;
}
