/*
 * In-process symbolization with libdw (elfutils): function names from the
 * ELF symbol tables, file:line from DWARF where the binary has it (or its
 * separate debug file under /usr/lib/debug). Profiles then carry names, so
 * `go tool pprof -symbolize=none` works where the binaries are not reachable
 * (inside a container, on another machine).
 *
 * libdw's Dwfl is not thread-safe: one lock guards it and the address cache.
 * Strings are interned and never freed, so nprof__sym results stay valid.
 */
#include "internal.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Guarded by lock. */
static Dwfl *dwfl;
static char *debuginfo_path;

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

/* Called with lock. */
static void report_modules(void)
{
  if (!dwfl) {
    dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
      return;
  }
  dwfl_report_begin(dwfl);
  if (dwfl_linux_proc_report(dwfl, getpid()) != 0)
    nprof__log("cannot read the process's mappings: %s", dwfl_errmsg(-1));
  dwfl_report_end(dwfl, NULL, NULL);
}

void nprof__symbolize_refresh(void)
{
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
  report_modules();
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

/* Called with lock. */
static void resolve(uintptr_t addr, nprof__sym *out)
{
  char hex[32];
  snprintf(hex, sizeof(hex), "0x%" PRIxPTR, addr);
  out->function = NULL;
  out->file = NULL;
  out->line = 0;
  out->offset = 0;
  out->known = false;
  Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, addr) : NULL;
  if (mod) {
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
    if (!out->function) {
      /* No symbol: name it after its module, as perf does. */
      const char *modname =
          dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      const char *base = modname ? strrchr(modname, '/') : NULL;
      char buf[300];
      snprintf(buf, sizeof(buf), "%s@%s", hex,
               base ? base + 1 : (modname ? modname : "?"));
      out->function = intern(buf);
    }
  }
  if (!out->function)
    out->function = intern(hex);
}

static int cache_grow(void)
{
  size_t cap = cache_cap ? cache_cap * 2 : 4096;
  cache_entry *t = calloc(cap, sizeof(*t));
  if (!t)
    return -1;
  for (size_t i = 0; i < cache_cap; i++) {
    if (!cache[i].addr)
      continue;
    size_t j = (cache[i].addr * 0x9e3779b97f4a7c15ULL) >> 20 & (cap - 1);
    while (t[j].addr)
      j = (j + 1) & (cap - 1);
    t[j] = cache[i];
  }
  free(cache);
  cache = t;
  cache_cap = cap;
  return 0;
}

void nprof__symbolize(uintptr_t addr, nprof__sym *out)
{
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
  if (!dwfl)
    report_modules();
  bool cached = false;
  if (addr && cache_cap) {
    size_t j = (addr * 0x9e3779b97f4a7c15ULL) >> 20 & (cache_cap - 1);
    for (; cache[j].addr; j = (j + 1) & (cache_cap - 1))
      if (cache[j].addr == addr) {
        *out = cache[j].sym;
        cached = true;
        break;
      }
  }
  if (!cached) {
    resolve(addr, out);
    if (addr && ((cache_len + 1) * 2 <= cache_cap || cache_grow() == 0)) {
      size_t j = (addr * 0x9e3779b97f4a7c15ULL) >> 20 & (cache_cap - 1);
      while (cache[j].addr)
        j = (j + 1) & (cache_cap - 1);
      cache[j].addr = addr;
      cache[j].sym = *out;
      cache_len++;
    }
  }
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
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
  pthread_mutex_lock(&lock);
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
      size_t ncap = cap ? cap * 2 : 64;
      nprof__mapping *t = realloc(maps, ncap * sizeof(*t));
      if (!t) {
        pthread_mutex_unlock(&lock);
        goto out;
      }
      maps = t;
      cap = ncap;
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
