/*
 * A library shipped stripped, as Debian ships its own: profiler/tests.mk
 * builds it with debug info (build/test/lib/unstripped/) and installs a
 * copy without its symbol table (build/test/lib/). Only the exported
 * functions keep a name (in .dynsym); the static ones have none in the
 * stripped copy, so libnprof cannot name them and must not invent a name,
 * while pprof, given the unstripped copy (PPROF_BINARY_PATH), can.
 */
#include <stdlib.h>

void *stripped_alloc(size_t size);
void stripped_call(void (*cb)(void));

__attribute__((noinline)) static void *hidden_alloc_step(size_t size)
{
  void *p = malloc(size);
  __asm__ volatile("" ::"r"(p) : "memory"); /* not a tail call */
  return p;
}

void *stripped_alloc(size_t size)
{
  void *p = hidden_alloc_step(size);
  __asm__ volatile("" ::"r"(p) : "memory");
  return p;
}

__attribute__((noinline)) static void hidden_call_step(void (*cb)(void))
{
  cb();
  __asm__ volatile("" ::: "memory");
}

void stripped_call(void (*cb)(void))
{
  hidden_call_step(cb);
  __asm__ volatile("" ::: "memory");
}
