/*
 * In-process symbolization with libdw (elfutils): function names from the
 * ELF symbol tables, file:line from DWARF where the binary has it (or its
 * separate debug file under /usr/lib/debug). Profiles then carry names, so
 * `go tool pprof -symbolize=none` works where the binaries are not reachable
 * (inside a container, on another machine).
 *
 * An address no symbol covers gets no name at all (function ""): it keeps
 * its module and offset in that module, from which pprof (with the binary)
 * or a human can still name it; an invented "0x...@lib" name would be a
 * different string in every process and stop pprof from symbolizing.
 *
 * libdw's Dwfl is not thread-safe: one lock guards it and the address
 * cache. Names and file names are interned and never freed, so nprof__sym
 * results stay valid; only strings read from the process's own binaries are
 * interned (never anything derived from an address a client sent), so the
 * table is bounded by the code the process loads.
 *
 * The address cache holds at most CACHE_MAX entries and starts over when
 * full: /debug/pprof/symbol accepts any address from the network. It is
 * flushed, and libdw's module list reread, whenever the loader's count of
 * objects loaded and unloaded (dl_iterate_phdr's dlpi_adds and dlpi_subs)
 * moved: after a dlclose and a dlopen an address may belong to another
 * library.
 */
#include "internal.h"
#include "npc.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 16 Ki entries of 72 bytes in a table at most half full: 2.4 MiB. */
#define CACHE_MAX (1 << 14)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A child forked while another thread held `lock` would inherit it held
 * forever: it is taken across fork. */
static void fork_init(void)
{
  nprof__fork_guard(&lock);
}

/* Every entry point: registers the fork handlers, then locks. */
static void lock_take(void)
{
  pthread_once(&fork_once, fork_init);
  pthread_mutex_lock(&lock);
}

/* Guarded by lock. */
static Dwfl *dwfl;
static char *debuginfo_path;
static unsigned long long seen_adds, seen_subs;

typedef struct cache_entry {
  uintptr_t addr; /* 0: empty */
  nprof__sym sym;
} cache_entry;
static cache_entry *cache;
static size_t cache_cap, cache_len; /* cap: power of two */

typedef struct intern_entry {
  struct intern_entry *next;
  uint64_t hash;
  char s[];
} intern_entry;
static intern_entry *interned[4096];

static uint64_t hash_str(const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* Called with lock. Returns a stable copy of `s`, or a static fallback. */
static const char *intern(const char *s)
{
  uint64_t h = hash_str(s);
  intern_entry **head = &interned[h % 4096];
  for (intern_entry *e = *head; e; e = e->next)
    if (e->hash == h && strcmp(e->s, s) == 0)
      return e->s;
  size_t n = strlen(s);
  intern_entry *e = malloc(sizeof(*e) + n + 1);
  if (!e)
    return "?";
  e->hash = h;
  memcpy(e->s, s, n + 1);
  e->next = *head;
  *head = e;
  return e->s;
}

/* C++ names: demangled with the C++ runtime's own __cxa_demangle when the
 * process has one loaded (every C++ program, gRPC's users among them), then
 * shortened like pprof's default: no parameter list. Returns `name` itself
 * when it is not a mangled name or cannot be demangled. Called with lock. */
typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);
static demangle_fn demangler;
static bool demangler_looked_up;

static const char *demangle(const char *name, char *buf, size_t len)
{
  if (name[0] != '_' || name[1] != 'Z')
    return name;
  if (!demangler_looked_up) {
    demangler = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
    demangler_looked_up = true;
  }
  int status = -1;
  char *full = demangler ? demangler(name, NULL, NULL, &status) : NULL;
  if (!full || status != 0) {
    free(full);
    return name;
  }
  /* Cut at the parameter list: the first '(' outside template arguments,
   * past "(anonymous namespace)" and "operator()". */
  int depth = 0;
  for (char *p = full; *p; p++) {
    if (*p == '<') {
      depth++;
    } else if (*p == '>') {
      depth--;
    } else if (*p == '(' && depth == 0) {
      if (strncmp(p, "(anonymous namespace)", 21) == 0) {
        p += 20;
      } else if (p - full >= 8 && strncmp(p - 8, "operator", 8) == 0 &&
                 p[1] == ')') {
        p++;
      } else {
        *p = '\0';
        break;
      }
    }
  }
  snprintf(buf, len, "%s", full);
  free(full);
  return buf;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static int read_counters(struct dl_phdr_info *info, size_t size, void *data)
{
  unsigned long long *c = data;
  if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
    return -1; /* a loader without the counters: always reread */
  c[0] = info->dlpi_adds;
  c[1] = info->dlpi_subs;
  return 1; /* the first object is enough: the counters are global */
}

/* Called with lock. */
static void cache_flush(void)
{
  if (cache)
    memset(cache, 0, cache_cap * sizeof(*cache));
  cache_len = 0;
}

/* Called with lock. Rereads the modules when the loader's counters moved
 * (or always, when it has none). */
static void report_modules(void)
{
  unsigned long long c[2] = {0, 0};
  bool counted = dl_iterate_phdr(read_counters, c) == 1;
  if (dwfl && counted && c[0] == seen_adds && c[1] == seen_subs)
    return;
  /* A fresh Dwfl rather than a report into the old one: re-reporting
   * after a load (libdw itself dlopens libdebuginfod on first use) left a
   * module with the wrong bias, and names missing, in elfutils 0.188. */
  if (dwfl)
    dwfl_end(dwfl);
  dwfl = dwfl_begin(&callbacks);
  if (!dwfl)
    return;
  seen_adds = c[0];
  seen_subs = c[1];
  cache_flush();
  dwfl_report_begin(dwfl);
  if (dwfl_linux_proc_report(dwfl, getpid()) != 0)
    nprof__log("cannot read the process's mappings: %s", dwfl_errmsg(-1));
  dwfl_report_end(dwfl, NULL, NULL);
}

void nprof__symbolize_refresh(void)
{
  nprof__t_internal++;
  lock_take();
  report_modules();
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

/* Called with lock. */
static void resolve(uintptr_t addr, nprof__sym *out)
{
  memset(out, 0, sizeof(*out));
  out->function = "";
  Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, addr) : NULL;
  if (!mod)
    return;
  Dwarf_Addr low = 0;
  const char *modname =
      dwfl_module_info(mod, NULL, &low, NULL, NULL, NULL, NULL, NULL);
  const char *base = modname ? strrchr(modname, '/') : NULL;
  if (modname)
    out->module = intern(base ? base + 1 : modname);
  /* The offset in the ELF file's address space (addr - load bias): what
   * addr2line and pprof's mapping arithmetic (address - start + file
   * offset) give for the usual layout, where code's vaddr equals its file
   * offset. */
  GElf_Addr bias = 0;
  out->module_offset =
      addr - (dwfl_module_getelf(mod, &bias) ? (uintptr_t)bias : low);
  GElf_Off off = 0;
  GElf_Sym sym;
  const char *name =
      dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
  if (name && *name) {
    /* Versioned dynamic symbols read "clock_nanosleep@GLIBC_2.2.5";
     * profiles name the function alone. */
    char plain[256];
    size_t n = strcspn(name, "@");
    if (name[n] && n > 0 && n < sizeof(plain)) {
      memcpy(plain, name, n);
      plain[n] = '\0';
      name = plain;
    }
    char readable[512];
    out->function = intern(demangle(name, readable, sizeof(readable)));
    out->offset = (uintptr_t)off;
    out->known = true;
  }
  Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
  if (line) {
    int lineno = 0;
    const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
    if (file) {
      out->file = intern(file);
      out->line = lineno;
    }
  }
}

static size_t cache_slot(uintptr_t addr, size_t cap)
{
  return (size_t)((addr * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
}

/* Called with lock. Returns -1 when the table cannot grow. */
static int cache_grow(void)
{
  size_t cap = cache_cap ? cache_cap * 2 : 4096;
  cache_entry *t = calloc(cap, sizeof(*t));
  if (!t)
    return -1;
  for (size_t i = 0; i < cache_cap; i++) {
    if (!cache[i].addr)
      continue;
    size_t j = cache_slot(cache[i].addr, cap);
    while (t[j].addr)
      j = (j + 1) & (cap - 1);
    t[j] = cache[i];
  }
  free(cache);
  cache = t;
  cache_cap = cap;
  return 0;
}

/* Called with lock. */
static void cache_put(uintptr_t addr, const nprof__sym *sym)
{
  if (cache_len >= CACHE_MAX)
    cache_flush(); /* start over: bounded, and cheap to refill */
  if ((cache_len + 1) * 2 > cache_cap && cache_grow() != 0)
    return;
  size_t j = cache_slot(addr, cache_cap);
  while (cache[j].addr)
    j = (j + 1) & (cache_cap - 1);
  cache[j].addr = addr;
  cache[j].sym = *sym;
  cache_len++;
}

void nprof__symbolize(uintptr_t addr, nprof__sym *out)
{
  nprof__t_internal++;
  lock_take();
  if (!dwfl)
    report_modules();
  bool cached = false;
  if (addr && cache_len) {
    size_t j = cache_slot(addr, cache_cap);
    for (; cache[j].addr; j = (j + 1) & (cache_cap - 1))
      if (cache[j].addr == addr) {
        *out = cache[j].sym;
        cached = true;
        break;
      }
  }
  if (!cached) {
    resolve(addr, out);
    if (addr)
      cache_put(addr, out);
  }
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

size_t nprof__symbolize_cache_len(void)
{
  lock_take();
  size_t n = cache_len;
  pthread_mutex_unlock(&lock);
  return n;
}

const char *nprof__sym_name(const nprof__sym *sym, uintptr_t addr, char *buf,
                            size_t len)
{
  if (sym->known)
    return sym->function;
  if (sym->module)
    snprintf(buf, len, "%s+%#" PRIxPTR, sym->module, sym->module_offset);
  else
    snprintf(buf, len, "%#" PRIxPTR, addr);
  return buf;
}

long nprof__mappings(nprof__mapping **out)
{
  nprof__t_internal++;
  long result = -1;
  nprof__mapping *maps = NULL;
  size_t len = 0, cap = 0;
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f)
    goto out;
  char line[4096 + 128];
  lock_take();
  if (!dwfl)
    report_modules();
  while (fgets(line, sizeof(line), f)) {
    uintptr_t start, end, offset;
    char perms[8];
    int path_at = 0;
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNxPTR " %*s %*s %n",
               &start, &end, perms, &offset, &path_at) < 4)
      continue;
    if (!strchr(perms, 'x') || path_at == 0)
      continue;
    char *path = line + path_at;
    path[strcspn(path, "\n")] = '\0';
    if (*path != '/' && strcmp(path, "[vdso]") != 0)
      continue;
    if (len == cap) {
      nprof__mapping *t = npc_grow(maps, &cap, sizeof(*t), 64);
      if (!t) {
        pthread_mutex_unlock(&lock);
        goto out;
      }
      maps = t;
    }
    nprof__mapping *m = &maps[len++];
    m->start = start;
    m->limit = end;
    m->offset = offset;
    m->path = intern(path);
    m->build_id = "";
    Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, start) : NULL;
    const unsigned char *bits;
    GElf_Addr vaddr;
    GElf_Addr bias;
    if (mod) /* the build ID is read along with the ELF file */
      dwfl_module_getelf(mod, &bias);
    int n = mod ? dwfl_module_build_id(mod, &bits, &vaddr) : 0;
    if (n > 0 && n <= 64) {
      char hex[129];
      for (int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", bits[i]);
      m->build_id = intern(hex);
    }
  }
  pthread_mutex_unlock(&lock);
  result = (long)len;
  *out = maps;
  maps = NULL;
out:
  if (f)
    fclose(f);
  free(maps);
  nprof__t_internal--;
  return result;
}
