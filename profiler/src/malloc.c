/*
 * The interposed malloc family. Every call goes to glibc's __libc_* entry
 * points; a sampled allocation additionally gets a 16-byte header in front
 * of the user's block and a record in heap.c's tables.
 *
 * Fast paths (the vast majority of calls):
 *  - allocation: subtract the size from a thread-local countdown
 *    (initial-exec TLS) and compare; no lock, no call.
 *  - free: compare the 8 bytes before the pointer with pointer ^ secret. On a
 *    glibc chunk those bytes are the chunk's size field, which cannot equal
 *    the tag (the tag's top byte is never 0), so unsampled frees take no lock
 *    and no hash lookup. A match is still confirmed against the live table.
 *
 * errno: glibc sets ENOMEM on failure; nothing here clobbers errno otherwise
 * (libuv and others rely on free() keeping it).
 *
 * This file is left out of sanitizer builds, whose runtimes own malloc.
 */
#include "internal.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

#define EXPORT __attribute__((visibility("default")))
#define HEADER_SIZE sizeof(nprof__heap_header)
/* glibc's malloc alignment on x86_64 and aarch64. */
#define MALLOC_ALIGN 16

_Static_assert(sizeof(nprof__heap_header) == MALLOC_ALIGN,
               "the header must keep malloc's alignment");

/* Frames between the application's call and nprof__stack_capture()'s
 * caller: sampled_alloc() and the public entry point. The fast paths end in
 * tail calls to glibc (no frame of ours left behind); the sampled path goes
 * through keep_frame() so the entry point's frame is always there. */
#define HOOK_FRAMES 2

/* Passes `p` through an empty asm statement: the call that produced it is
 * then not in tail position, so the compiler keeps the caller's frame. */
static inline __attribute__((always_inline)) void *keep_frame(void *p)
{
  __asm__ volatile("" : "+r"(p));
  return p;
}

static size_t (*real_usable_size)(void *);

static inline __attribute__((always_inline)) bool take_sample(size_t size)
{
  if (nprof__likely(size < (uint64_t)nprof__t_heap_countdown)) {
    nprof__t_heap_countdown -= (int64_t)size;
    return false;
  }
  return nprof__heap_should_sample(size);
}

static void *plain_alloc(size_t size, size_t align, bool zero)
{
  if (align > MALLOC_ALIGN) {
    void *p = __libc_memalign(align, size);
    if (p && zero)
      memset(p, 0, size);
    return p;
  }
  return zero ? __libc_calloc(1, size) : __libc_malloc(size);
}

/* Allocates a sampled block of `size` bytes aligned to `align` (a power of
 * two) and records the caller's stack. Falls back to a plain allocation when
 * the tables cannot grow. */
static __attribute__((noinline)) void *sampled_alloc(size_t size, size_t align,
                                                     bool zero)
{
  uintptr_t pcs[NPROF_MAX_DEPTH];
  nprof__t_internal++;
  int depth = nprof__stack_capture(pcs, NPROF_MAX_DEPTH, HOOK_FRAMES);
  size_t off = align > HEADER_SIZE ? align : HEADER_SIZE;
  char *raw = NULL;
  if (size <= SIZE_MAX - off)
    raw = plain_alloc(size + off, align, zero);
  else
    errno = ENOMEM;
  void *p = NULL;
  if (raw) {
    p = raw + off;
    int64_t slot = nprof__heap_record_alloc(p, size, pcs, depth);
    if (slot >= 0) {
      nprof__heap_header *h = nprof__heap_header_of(p);
      h->slot = (uint32_t)slot;
      h->offset = (uint32_t)off;
      h->tag = nprof__heap_tag(p);
    } else {
      __libc_free(raw);
      p = plain_alloc(size, align, zero);
    }
  }
  nprof__t_internal--;
  return p;
}

static inline __attribute__((always_inline)) bool maybe_sampled(const void *p)
{
  return nprof__unlikely(nprof__heap_header_of(p)->tag == nprof__heap_tag(p));
}

static void sampled_free(void *p)
{
  int saved = errno;
  size_t size;
  if (nprof__heap_record_free(p, &size)) {
    nprof__heap_header *h = nprof__heap_header_of(p);
    uint32_t off = h->offset;
    h->tag = 0; /* a later double free must not look sampled */
    __libc_free((char *)p - off);
  } else {
    __libc_free(p);
  }
  errno = saved;
}

static size_t usable_size(void *p)
{
  size_t size;
  if (maybe_sampled(p) && nprof__heap_sampled_size(p, &size))
    return size;
  if (nprof__unlikely(!real_usable_size)) {
    nprof__t_internal++;
    real_usable_size =
        (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    nprof__t_internal--;
    if (!real_usable_size)
      return 0;
  }
  return real_usable_size(p);
}

EXPORT void *malloc(size_t size)
{
  if (nprof__unlikely(take_sample(size)))
    return keep_frame(sampled_alloc(size, 0, false));
  return __libc_malloc(size);
}

EXPORT void free(void *p)
{
  if (!p)
    return;
  if (nprof__unlikely(maybe_sampled(p))) {
    sampled_free(p);
    return;
  }
  __libc_free(p);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
  size_t total;
  if (__builtin_mul_overflow(nmemb, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  if (nprof__unlikely(take_sample(total)))
    return keep_frame(sampled_alloc(total, 0, true));
  return __libc_calloc(nmemb, size);
}

/* realloc's work; always inlined so the sampled path sees the same frame
 * count from realloc() and reallocarray(). */
static inline __attribute__((always_inline)) void *realloc_impl(void *p,
                                                                size_t size)
{
  if (!p) {
    if (nprof__unlikely(take_sample(size)))
      return keep_frame(sampled_alloc(size, 0, false));
    return __libc_malloc(size);
  }
  if (size == 0) { /* glibc: frees and returns NULL */
    free(p);
    return NULL;
  }
  size_t old;
  bool was_sampled = maybe_sampled(p) && nprof__heap_sampled_size(p, &old);
  if (!was_sampled && !take_sample(size))
    return __libc_realloc(p, size);
  /* The old or the new block is sampled: move by hand. */
  void *q = was_sampled && !take_sample(size)
                ? __libc_malloc(size)
                : keep_frame(sampled_alloc(size, 0, false));
  if (!q)
    return NULL; /* p stays valid, as realloc promises */
  if (!was_sampled)
    old = usable_size(p);
  memcpy(q, p, old < size ? old : size);
  free(p);
  return q;
}

EXPORT void *realloc(void *p, size_t size)
{
  return realloc_impl(p, size);
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
  size_t total;
  if (__builtin_mul_overflow(nmemb, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc_impl(p, total);
}

static inline bool power_of_two(size_t x)
{
  return x && (x & (x - 1)) == 0;
}

static inline __attribute__((always_inline)) void *memalign_impl(size_t align,
                                                                 size_t size)
{
  /* The header records the offset to glibc's block in 32 bits: alignments
   * past 1 GiB (never seen in practice) are served unsampled. */
  if (nprof__unlikely(take_sample(size)) && align <= ((size_t)1 << 30)) {
    size_t a = MALLOC_ALIGN;
    while (a < align)
      a <<= 1; /* glibc rounds odd alignments up too */
    return keep_frame(sampled_alloc(size, a, false));
  }
  return __libc_memalign(align, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
  if (!power_of_two(align) || align % sizeof(void *) != 0)
    return EINVAL;
  int saved = errno;
  void *p = memalign_impl(align, size);
  errno = saved;
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
  if (!power_of_two(align)) {
    errno = EINVAL;
    return NULL;
  }
  return memalign_impl(align, size);
}

EXPORT void *memalign(size_t align, size_t size)
{
  return memalign_impl(align, size);
}

EXPORT void *valloc(size_t size)
{
  return memalign_impl((size_t)sysconf(_SC_PAGESIZE), size);
}

EXPORT void *pvalloc(size_t size)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t rounded = (size + page - 1) & ~(page - 1);
  if (rounded < size) {
    errno = ENOMEM;
    return NULL;
  }
  return memalign_impl(page, rounded ? rounded : page);
}

EXPORT size_t malloc_usable_size(void *p)
{
  if (!p)
    return 0;
  return usable_size(p);
}
