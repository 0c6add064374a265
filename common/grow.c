/*
 * Arrays that grow as they are filled: one rule for every program's
 * (double, from a first size), with the size maths checked.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "npc.h"

void *npc_grow(void *v, size_t *alloc, size_t size, size_t first)
{
  assert(alloc != NULL && size > 0 && first > 0);
  size_t n = *alloc == 0 ? first : *alloc;
  if (*alloc != 0 && __builtin_mul_overflow(n, 2, &n))
    return NULL;
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return NULL;
  void *nv = realloc(v, bytes);
  if (nv == NULL)
    return NULL;
  *alloc = n;
  return nv;
}
