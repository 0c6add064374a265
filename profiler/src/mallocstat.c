/*
 * The allocator's own accounting for /debug/vars' "malloc" section: what
 * glibc holds in use, holds free, has mmapped, and would give back to the
 * kernel on malloc_trim(0), so that a report can tell heap the program
 * uses from memory the allocator keeps.
 *
 * Only for glibc's allocator: when the process's malloc is another one (a
 * jemalloc or tcmalloc preloaded before libnprof, or a sanitizer's), glibc's
 * figures describe an allocator nobody uses, and the section says
 * "unknown" with no numbers.
 *
 * Cost: mallinfo2() and malloc_info() walk every free chunk of every arena,
 * each arena locked while it is walked, so they run only when /debug/vars
 * (or a heap?debug=1) is asked for, never on an allocation. Measured with
 * tests/bench/mallinfo_bench.c (make bench-mallinfo) on a fragmented heap:
 * tens of ms (see the README). A client that samples /debug/vars every
 * 500 ms (the loadgen's timeline does) would then hold the host's arenas
 * several percent of the time, so a walk is followed by a pause of
 * WALK_DUTY - 1 times its own duration, during which requests are served
 * the last figures with their age: the walks take at most 1/WALK_DUTY of
 * the wall time whatever clients ask, and a heap that walks in 50 us is
 * still read fresh every 5 ms.
 *
 * releasable_bytes estimates what malloc_trim(0) returns. glibc's mtrim
 * releases, in each free chunk, the whole pages past the chunk's header
 * (madvise MADV_DONTNEED), and systrim gives back the main arena's top
 * chunk above one page. malloc_info lists free chunks per size class (a
 * count and a total), not their addresses; a chunk of s bytes at a random
 * page offset holds on average max(0, s - header - page) bytes of whole
 * pages, which is what is summed, on each class's mean size. Pages that are
 * free but were never touched or were already returned count as well, so
 * this is an upper bound of the RSS a trim would free; fastbin chunks that
 * trim would first consolidate into bigger ones are counted as they are.
 */
#include "internal.h"
#include "npc.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* sizeof(struct malloc_chunk) on 64-bit glibc: mtrim's header. */
#define CHUNK_HEADER 48
/* MINSIZE on 64-bit glibc: systrim keeps that much of the top. */
#define CHUNK_MIN 32
/* malloc_info's XML for a busy process with many arenas stays far below. */
#define MALLOC_INFO_MAX (4 << 20)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool is_glibc;

#define WALK_DUTY 100
/* The last walk's figures, when it ended and what it cost; guarded by
 * cache_lock, which is held through a walk so that concurrent requests wait
 * for it rather than start a second one. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static nprof__malloc_stats cache;
static int64_t cache_end_ns, cache_cost_ns;
static bool cached;

static void detect(void)
{
  /* The malloc every call in the process reaches: the first definition in
   * the global lookup order. Ours (the interposer, which hands everything
   * to glibc) or libc's own mean glibc's allocator. */
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info mi;
  if (!m || !dladdr(m, &mi) || !mi.dli_fname)
    return;
#if !defined(NPROF_SANITIZED) /* sanitizer builds have no interposer */
  Dl_info self;
  if (dladdr((void *)detect, &self) && self.dli_fbase == mi.dli_fbase) {
    is_glibc = true;
    return;
  }
#endif
  const char *base = strrchr(mi.dli_fname, '/');
  base = base ? base + 1 : mi.dli_fname;
  is_glibc = strncmp(base, "libc.so", 7) == 0;
}

bool nprof__malloc_is_glibc(void)
{
  pthread_once(&once, detect);
  return is_glibc;
}

/* The value of attribute `name` in the element starting at `p` (before its
 * closing '>'), or -1. */
static long long attr(const char *p, const char *name)
{
  const char *end = strchr(p, '>');
  char key[32];
  snprintf(key, sizeof(key), " %s=\"", name);
  const char *v = strstr(p, key);
  if (!v || (end && v > end))
    return -1;
  return strtoll(v + strlen(key), NULL, 10);
}

int nprof__malloc_info_parse(const char *xml, long page, int64_t *arenas,
                             int64_t *releasable)
{
  if (!xml || strncmp(xml, "<malloc version=", 16) != 0 || page <= 0)
    return NPROF_EINVAL;
  int64_t heaps = 0, pages = 0;
  for (const char *p = strstr(xml, "<heap nr="); p;
       p = strstr(p + 1, "<heap nr="))
    heaps++;
  /* Free chunks by size class: <size .../> and <unsorted .../> entries. */
  static const char *const tags[] = {"<size ", "<unsorted "};
  for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
    for (const char *p = strstr(xml, tags[t]); p; p = strstr(p + 1, tags[t])) {
      long long total = attr(p, "total"), count = attr(p, "count");
      if (total <= 0 || count <= 0)
        continue;
      long long mean = total / count;
      long long whole = mean - CHUNK_HEADER - page;
      if (whole > 0)
        pages += count * whole;
    }
  }
  *arenas = heaps;
  *releasable = pages;
  return 0;
}

static void walk(nprof__malloc_stats *ms)
{
  struct mallinfo2 mi = mallinfo2();
  /* uordblks + fordblks == arena (every arena's system memory): fordblks
   * already holds the fastbins' free bytes (fsmblks), and the top chunks. */
  ms->in_use_bytes = (int64_t)mi.uordblks;
  ms->free_bytes = (int64_t)mi.fordblks;
  ms->mmapped_bytes = (int64_t)mi.hblkhd;
  ms->arena_bytes = (int64_t)mi.arena;
  long page = sysconf(_SC_PAGESIZE);
  int64_t top = (int64_t)mi.keepcost - CHUNK_MIN - 1;
  int64_t top_pages = top > 0 ? top / page * page : 0;
  char *xml = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&xml, &len);
  if (f) {
    int rc = malloc_info(0, f);
    fclose(f);
    if (rc != 0 || len > MALLOC_INFO_MAX ||
        nprof__malloc_info_parse(xml, page, &ms->arenas,
                                 &ms->releasable_bytes) != 0)
      ms->arenas = ms->releasable_bytes = -1;
  } else {
    ms->arenas = ms->releasable_bytes = -1;
  }
  free(xml);
  if (ms->releasable_bytes >= 0)
    ms->releasable_bytes += top_pages;
}

static void cache_init(void)
{
  nprof__fork_guard(&cache_lock);
}

void nprof__malloc_stats_read(nprof__malloc_stats *ms)
{
  memset(ms, 0, sizeof(*ms));
  ms->glibc = nprof__malloc_is_glibc();
  if (!ms->glibc)
    return;
  pthread_once(&cache_once, cache_init);
  nprof__t_internal++;
  pthread_mutex_lock(&cache_lock);
  int64_t now = npc_mono_ns();
  if (!cached || now - cache_end_ns >= (WALK_DUTY - 1) * cache_cost_ns) {
    int64_t walks = cache.walks;
    walk(&cache);
    cache.glibc = true;
    cache.walks = walks + 1;
    cache_end_ns = npc_mono_ns();
    cache_cost_ns = cache_end_ns - now;
    cached = true;
    now = cache_end_ns;
  }
  *ms = cache;
  ms->age_ns = now - cache_end_ns;
  pthread_mutex_unlock(&cache_lock);
  nprof__t_internal--;
}
