/*
 * The interposed malloc family. Every call goes to glibc's own entry points
 * (__libc_*, and malloc_usable_size from libc's handle); a sampled
 * allocation additionally gets a record: a 32-byte header in front of the
 * user's block, or for blocks aligned to NPROF_HEAP_OOB_ALIGN or more, an
 * entry in heap.c's out-of-band table (a header there would cost an
 * alignment's worth of padding: 2 MiB-aligned blocks would map 6 MiB).
 *
 * Fast paths (the vast majority of calls), as compiled on x86-64:
 *  - malloc: subtract the size from a thread-local countdown (initial-exec
 *    TLS) and test the sign, then a tail jump into glibc: 4 instructions.
 *  - free: one test of the pointer's low 12 bits (NULL and page-aligned
 *    pointers go out of line), one compare of the 8 bytes before it with
 *    NPROF_HEAP_TAG, then a tail jump: 5 instructions, no lock, no lookup.
 *    On an unsampled glibc block those 8 bytes are the chunk's size
 *    field, which never equals the tag (its top bit is never set).
 *    Over-aligned sampled blocks are page-aligned, so the out-of-line path
 *    is where their table is consulted, and only when its filter says the
 *    pointer may be there.
 *
 * realloc of a sampled block resizes glibc's block in place
 * (__libc_realloc on the raw block, header kept) and moves the record to
 * the bucket of the new size: no copy of our own, no new stack. Growth by
 * d bytes counts d toward the next sample, so an unsampled growing buffer
 * is sampled once its added bytes reach a sampling point, and a sampled
 * one is never sampled again (heap.c's top comment has the maths).
 *
 * errno: glibc sets ENOMEM on failure; nothing here clobbers errno otherwise
 * (libuv and others rely on free() keeping it).
 *
 * This file is left out of sanitizer builds, whose runtimes own malloc.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/lib-names.h>
#include <malloc.h>
#include <stdlib.h>
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

_Static_assert(HEADER_SIZE % MALLOC_ALIGN == 0,
               "the header must keep malloc's alignment");

/* Frames between the application's call and nprof__stack_capture()'s
 * caller: sampled_alloc() or sampled_grow(), and the public entry point. The
 * fast paths end in tail calls to glibc (no frame of ours left behind); the
 * sampled path goes through keep_frame() so the entry point's frame is always
 * there. */
#define HOOK_FRAMES 2

/* Passes `p` through an empty asm statement: the call that produced it is
 * then not in tail position, so the compiler keeps the caller's frame. */
static inline __attribute__((always_inline)) void *keep_frame(void *p)
{
  __asm__ volatile("" : "+r"(p));
  return p;
}

/* ---- glibc's malloc_usable_size ---- */

/* glibc exports no __libc_ name for it. dlsym(RTLD_NEXT) would find the
 * next definition in the global search order, which with another
 * allocator loaded (jemalloc, tcmalloc) is that allocator's, run on
 * glibc's blocks. libc's own handle searches libc and its dependencies
 * only: the same glibc the __libc_* calls reach. */
typedef size_t (*usable_fn)(void *);
static _Atomic(usable_fn) libc_usable;
/* Set while this thread resolves: dlopen may call realloc, which must not
 * start another dlopen inside the first. */
static _Thread_local bool t_resolving
    __attribute__((tls_model("initial-exec")));

static usable_fn resolve_usable(void)
{
  if (t_resolving)
    return NULL;
  t_resolving = true;
  nprof__t_internal++;
  usable_fn fn = NULL;
  void *libc = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
  if (libc)
    fn = (usable_fn)dlsym(libc, "malloc_usable_size");
  nprof__t_internal--;
  t_resolving = false;
  if (fn)
    atomic_store_explicit(&libc_usable, fn, memory_order_relaxed);
  return fn;
}

__attribute__((constructor(101))) static void malloc_init(void)
{
  resolve_usable();
}

static size_t glibc_usable_size(void *p)
{
  usable_fn fn = atomic_load_explicit(&libc_usable, memory_order_relaxed);
  if (nprof__unlikely(!fn) && !(fn = resolve_usable()))
    return 0;
  return fn(p);
}

/* ---- placing sampled blocks ---- */

static inline __attribute__((always_inline)) bool take_sample(size_t size)
{
  return nprof__heap_count(size) && nprof__heap_should_sample(size);
}

static inline bool tagged(const void *p)
{
  return nprof__heap_header_of(p)->tag == NPROF_HEAP_TAG;
}

/* NULL and page-aligned pointers: the only ones that may be out of band. */
static inline bool page_aligned(const void *p)
{
  return ((uintptr_t)p & (NPROF_HEAP_OOB_ALIGN - 1)) == 0;
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

static void set_header(void *p, nprof__heap_bucket *b, size_t size, size_t off)
{
  nprof__heap_header *h = nprof__heap_header_of(p);
  h->bucket = b;
  h->size = size;
  h->offset = off;
  h->tag = NPROF_HEAP_TAG;
}

/* Allocates `size` bytes aligned to `align` (0 or a power of two) with a
 * header naming bucket `b`. NULL with errno ENOMEM on failure. */
static void *alloc_with_header(size_t size, size_t align, bool zero,
                               nprof__heap_bucket *b)
{
  size_t off = align > HEADER_SIZE ? align : HEADER_SIZE;
  if (size > SIZE_MAX - off) {
    errno = ENOMEM;
    return NULL;
  }
  char *raw = plain_alloc(size + off, align, zero);
  if (!raw)
    return NULL;
  set_header(raw + off, b, size, off);
  return raw + off;
}

/* The bucket of a sample of `size` bytes allocated by the caller of the
 * entry point, or NULL (no stack while a fork is prepared, or no memory).
 * Inlined into the noinline functions the entry points call, so that the
 * frames above the caller are always HOOK_FRAMES. Call as profiler code. */
static inline __attribute__((always_inline)) nprof__heap_bucket *
capture_bucket(size_t size)
{
  uintptr_t pcs[NPROF_MAX_DEPTH];
  if (!nprof__heap_gate_enter())
    return NULL;
  int depth = nprof__stack_capture(pcs, NPROF_MAX_DEPTH, HOOK_FRAMES);
  nprof__heap_gate_leave();
  return nprof__heap_bucket_get(pcs, depth, size);
}

/* Allocates a sampled block of `size` bytes aligned to `align` (a power of
 * two, or 0) and records the caller's stack. Falls back to a plain
 * allocation when there is no stack or no bucket. */
static __attribute__((noinline)) void *sampled_alloc(size_t size, size_t align,
                                                     bool zero)
{
  nprof__t_internal++;
  nprof__heap_bucket *b = capture_bucket(size);
  void *p = NULL;
  if (!b) {
    p = plain_alloc(size, align, zero);
  } else if (align >= NPROF_HEAP_OOB_ALIGN) {
    p = __libc_memalign(align, size);
    if (p && nprof__heap_oob_add(p, b, size) != 0) {
      __libc_free(p); /* no room in the table: the header way instead */
      p = alloc_with_header(size, align, zero, b);
    } else if (p && zero) {
      memset(p, 0, size);
    }
    if (p)
      nprof__heap_record_alloc(b, size);
  } else {
    p = alloc_with_header(size, align, zero, b);
    if (p)
      nprof__heap_record_alloc(b, size);
  }
  nprof__t_internal--;
  return p;
}

/* An unsampled block of `old` usable bytes that realloc grows to `size`
 * past a sampling point: glibc grows it with room for a header (in place
 * when it can, by mremap for big blocks) and the data moves up by the
 * header's size. No second block is allocated, faulted in and freed. */
static __attribute__((noinline)) void *sampled_grow(void *p, size_t old,
                                                    size_t size)
{
  nprof__t_internal++;
  nprof__heap_bucket *b = capture_bucket(size);
  char *q;
  if (!b || size > SIZE_MAX - HEADER_SIZE) {
    q = __libc_realloc(p, size);
  } else {
    q = __libc_realloc(p, size + HEADER_SIZE);
    if (q) {
      memmove(q + HEADER_SIZE, q, old); /* old < size: it fits */
      q += HEADER_SIZE;
      set_header(q, b, size, HEADER_SIZE);
      nprof__heap_record_alloc(b, size);
    }
  }
  nprof__t_internal--;
  return q;
}

/* ---- freeing ---- */

static __attribute__((noinline)) void free_tagged(void *p)
{
  int saved = errno;
  nprof__heap_header *h = nprof__heap_header_of(p);
  nprof__heap_bucket *b = h->bucket;
  size_t size = h->size;
  size_t off = h->offset;
  h->tag = 0; /* a later double free must not look sampled */
  nprof__heap_record_free(b, size);
  __libc_free((char *)p - off);
  errno = saved;
}

/* NULL, or a page-aligned pointer: sampled with a header, out of band, or
 * an ordinary glibc block that happens to be page-aligned. */
static __attribute__((noinline)) void free_aligned(void *p)
{
  if (!p)
    return;
  if (tagged(p)) {
    free_tagged(p);
    return;
  }
  int saved = errno;
  nprof__heap_bucket *b;
  size_t size;
  /* Out of the table before glibc can hand the address out again. */
  if (nprof__heap_oob_take(p, &b, &size))
    nprof__heap_record_free(b, size);
  __libc_free(p);
  errno = saved;
}

EXPORT void free(void *p)
{
  if (nprof__unlikely(page_aligned(p))) {
    free_aligned(p);
    return;
  }
  if (nprof__unlikely(tagged(p))) {
    free_tagged(p);
    return;
  }
  __libc_free(p);
}

bool nprof__malloc_sampled(const void *p, size_t *size)
{
  if (!p)
    return false;
  if (tagged(p)) {
    *size = nprof__heap_header_of(p)->size;
    return true;
  }
  nprof__heap_bucket *b;
  return page_aligned(p) && nprof__heap_oob_find(p, &b, size);
}

/* ---- allocating ---- */

EXPORT void *malloc(size_t size)
{
  if (nprof__unlikely(take_sample(size)))
    return keep_frame(sampled_alloc(size, 0, false));
  return __libc_malloc(size);
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

/* realloc of a block with a record (header or out of band). Returns false
 * when p has none (the caller treats it as unsampled); else sets *out to
 * realloc's result. */
static __attribute__((noinline)) bool realloc_recorded(void *p, size_t size,
                                                       void **out)
{
  nprof__heap_bucket *b;
  size_t old;
  bool oob = false;
  if (tagged(p)) {
    b = nprof__heap_header_of(p)->bucket;
    old = nprof__heap_header_of(p)->size;
  } else if (page_aligned(p) && nprof__heap_oob_find(p, &b, &old)) {
    oob = true;
  } else {
    return false;
  }
  if (size == old) {
    *out = p;
    return true;
  }
  if (size > old && nprof__heap_count(size - old))
    nprof__heap_should_sample(size - old); /* rearms; sampled already */
  void *q;
  if (size < old && !nprof__heap_keep_shrunk(old, size)) {
    /* A shrunk block is less likely to have been sampled at its new size:
     * keeping every one would overstate shrunk blocks (heap.c). */
    q = __libc_malloc(size);
    if (!q)
      goto fail;
    memcpy(q, p, size);
    free(p);
  } else if (oob) {
    /* realloc does not keep the alignment: into a block with a header
     * (rare: over-aligned blocks are seldom resized). */
    q = alloc_with_header(size, 0, false, b);
    if (!q)
      goto fail;
    memcpy(q, p, old < size ? old : size);
    nprof__heap_oob_take(p, &b, &old);
    __libc_free(p);
    nprof__heap_header_of(q)->bucket = nprof__heap_record_resize(b, old, size);
  } else {
    size_t off = nprof__heap_header_of(p)->offset;
    if (size > SIZE_MAX - off) {
      errno = ENOMEM;
      goto fail;
    }
    /* glibc resizes in place when it can (and mremap()s big blocks); the
     * header, at the start of its block, moves with the data. */
    char *raw = __libc_realloc((char *)p - off, size + off);
    if (!raw)
      goto fail;
    q = raw + off;
    nprof__heap_header *h = nprof__heap_header_of(q);
    h->size = size;
    h->bucket = nprof__heap_record_resize(b, old, size);
  }
  *out = q;
  return true;
fail:
  *out = NULL; /* p stays valid, as realloc promises */
  return true;
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
  void *q;
  if (nprof__unlikely(tagged(p) || page_aligned(p)) &&
      realloc_recorded(p, size, &q))
    return q;
  /* Unsampled: only the bytes it grows by count toward the next sample;
   * glibc's usable size is what the block already has. */
  size_t old = glibc_usable_size(p);
  if (size <= old || !take_sample(size - old))
    return __libc_realloc(p, size);
  return keep_frame(sampled_grow(p, old, size));
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
  if (nprof__unlikely(take_sample(size))) {
    size_t a = MALLOC_ALIGN;
    while (a < align && a < ((size_t)1 << 62))
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
  size_t size;
  if (!p)
    return 0;
  if (nprof__malloc_sampled(p, &size))
    return size;
  return glibc_usable_size(p);
}
