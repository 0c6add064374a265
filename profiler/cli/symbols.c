/*
 * Offline names for the frames a profile left unnamed. libnprof names what
 * the process's own symbol tables name; a stripped library (Debian's
 * libgrpc, say) leaves frames with a mapping, a build ID and an address but
 * no function. Their debug information is published apart, keyed by build
 * ID: installed under /usr/lib/debug/.build-id/xx/rest.debug by -dbgsym
 * packages, or served by debuginfod (Debian runs one). This module finds
 * that file for each build ID and looks the frames up in it with libdw.
 *
 * Finding the place. A frame carries the address's offset in the mapped
 * file (cli_frame.file_offset) and the mapping's own file offset. The
 * mapping is the loader's map of one PT_LOAD segment (libnprof lists the
 * executable ones), so `address - memory_start` is the distance from the
 * start of that segment's first page. A debug file keeps the segments'
 * virtual addresses and flags but not their file offsets (objcopy
 * --only-keep-debug zeroes them), so the virtual address is found from the
 * executable segment whose page-rounded start, plus that distance, falls
 * inside it. This is what pprof does with the binary itself, without
 * needing the binary.
 *
 * Bounds. A lookup on a debuginfod server ends when no bytes came for
 * timeout_ms (10 s, or the user's DEBUGINFOD_TIMEOUT; a progress callback
 * cancels it, and DEBUGINFOD_TIMEOUT is set to match when the user did not
 * set it), or after 30 times that in all. The first server failure other
 * than "not there" is said once and ends remote lookups for the run, so a
 * dead server costs one timeout, not one per library. libdebuginfod
 * caches what it fetches (and what it did not find) under
 * $XDG_CACHE_HOME/debuginfod_client, or $DEBUGINFOD_CACHE_PATH. At most
 * SYM_MAX_FILES build IDs are looked up.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <elfutils/debuginfod.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include "cli.h"
#include "npc.h"

#define SYM_MAX_FILES 4096
#define SYM_PAGE 4096
/* A lookup still receiving ends after this many timeouts in all. */
#define SYM_MAX_LOOKUP_FACTOR 30

/* One build ID: the debug file opened for it, or none. */
struct symfile {
  char *build_id;
  Dwfl *dwfl; /* NULL: no debug file (or it was unusable) */
  Dwfl_Module *mod;
  GElf_Addr bias;
  bool remote; /* came from debuginfod */
};

struct cli_symbolizer {
  struct cli_symbolize_options o;
  struct symfile *files;
  size_t nfiles, alloc;
  /* What the build IDs past SYM_MAX_FILES get: no debug file. */
  struct symfile none;
  debuginfod_client *client; /* NULL until the first remote lookup */
  bool remote_off;           /* no servers, or one failed */
  /* The remote lookup under way: when it began, when bytes last came,
   * how many, and whether lookup_progress() cancelled it. */
  int64_t started_ms, progress_ms;
  long received;
  bool cancelled;
  struct cli_symbolize_stats stats;
};

void cli_symbolize_options_init(struct cli_symbolize_options *o,
                                const char *verb)
{
  assert(o != NULL);
  *o = (struct cli_symbolize_options){.mode = CLI_SYMBOLIZE_DEBUGINFOD,
                                      .debug_dirs = "/usr/lib/debug",
                                      .timeout_ms = 10000,
                                      .verb = verb,
                                      .log = stderr};
  /* The user's DEBUGINFOD_TIMEOUT (seconds, libdebuginfod's own knob)
   * bounds our lookups too. */
  const char *t = getenv(DEBUGINFOD_TIMEOUT_ENV_VAR);
  char *end;
  long secs = t != NULL ? strtol(t, &end, 10) : 0;
  if (t != NULL && *t != '\0' && *end == '\0' && secs > 0 && secs < 3600)
    o->timeout_ms = secs * 1000;
}

int cli_symbolize_mode_parse(const char *s, enum cli_symbolize_mode *out)
{
  static const struct {
    const char *name;
    enum cli_symbolize_mode mode;
  } modes[] = {{"none", CLI_SYMBOLIZE_NONE},
               {"local", CLI_SYMBOLIZE_LOCAL},
               {"debuginfod", CLI_SYMBOLIZE_DEBUGINFOD}};

  for (size_t i = 0; s != NULL && i < sizeof(modes) / sizeof(modes[0]); i++) {
    if (strcmp(s, modes[i].name) == 0) {
      *out = modes[i].mode;
      return 0;
    }
  }
  return CLI_EUSAGE;
}

int cli_symbolizer_new(const struct cli_symbolize_options *o,
                       struct cli_symbolizer **out)
{
  assert(o != NULL && out != NULL);
  struct cli_symbolizer *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return CLI_ENOMEM;
  s->o = *o;
  if (s->o.log == NULL)
    s->o.log = stderr;
  if (s->o.verb == NULL)
    s->o.verb = "nprof";
  if (s->o.debug_dirs == NULL)
    s->o.debug_dirs = "/usr/lib/debug";
  const char *urls = getenv(DEBUGINFOD_URLS_ENV_VAR);
  s->remote_off = s->o.mode != CLI_SYMBOLIZE_DEBUGINFOD || urls == NULL ||
                  urls[strspn(urls, " \t")] == '\0';
  *out = s;
  return 0;
}

void cli_symbolizer_free(struct cli_symbolizer *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->nfiles; i++) {
    if (s->files[i].dwfl != NULL)
      dwfl_end(s->files[i].dwfl);
    free(s->files[i].build_id);
  }
  free(s->files);
  if (s->client != NULL)
    debuginfod_end(s->client);
  free(s);
}

const struct cli_symbolize_stats *
cli_symbolizer_stats(const struct cli_symbolizer *s)
{
  return s != NULL ? &s->stats : NULL;
}

/* The file is its own debug information: libdw must not go looking for
 * another (its standard callback would ask debuginfod on its own). */
static int no_separate_debuginfo(Dwfl_Module *mod, void **userdata,
                                 const char *modname, Dwarf_Addr base,
                                 const char *file_name,
                                 const char *debuglink_file,
                                 GElf_Word debuglink_crc, char **debuginfo)
{
  (void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
  (void)debuglink_file, (void)debuglink_crc, (void)debuginfo;
  return -1;
}

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = NULL,
    .find_debuginfo = no_separate_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static bool hex_build_id(const char *id)
{
  size_t n = strlen(id);
  return n >= 4 && n <= 128 && n % 2 == 0 &&
         strspn(id, "0123456789abcdef") == n;
}

/* Opens `path` as the debug file of `f->build_id`: an ELF file whose build
 * ID is that one (a stale cache or a wrong file is refused). */
static bool open_debug_file(struct symfile *f, const char *path)
{
  Dwfl *dwfl = dwfl_begin(&offline_callbacks);
  if (dwfl == NULL)
    return false;
  Dwfl_Module *mod = dwfl_report_offline(dwfl, f->build_id, path, -1);
  dwfl_report_end(dwfl, NULL, NULL);
  const unsigned char *bits;
  GElf_Addr vaddr;
  int n = mod != NULL ? dwfl_module_build_id(mod, &bits, &vaddr) : 0;
  bool same = n > 0 && (size_t)n * 2 == strlen(f->build_id);
  for (int i = 0; same && i < n; i++) {
    char hex[3];
    snprintf(hex, sizeof(hex), "%02x", bits[i]);
    same = memcmp(hex, f->build_id + 2 * i, 2) == 0;
  }
  GElf_Addr bias = 0;
  if (!same || dwfl_module_getelf(mod, &bias) == NULL) {
    dwfl_end(dwfl);
    return false;
  }
  f->dwfl = dwfl;
  f->mod = mod;
  f->bias = bias;
  return true;
}

static bool find_local(struct cli_symbolizer *s, struct symfile *f)
{
  const char *dirs = s->o.debug_dirs;

  while (*dirs != '\0') {
    size_t n = strcspn(dirs, ":");
    char path[4096];
    int w = snprintf(path, sizeof(path), "%.*s/.build-id/%.2s/%s.debug", (int)n,
                     dirs, f->build_id, f->build_id + 2);
    if (n > 0 && w > 0 && (size_t)w < sizeof(path) && access(path, R_OK) == 0 &&
        open_debug_file(f, path))
      return true;
    dirs += n;
    if (*dirs == ':')
      dirs++;
  }
  return false;
}

static int64_t now_ms(void)
{
  return npc_mono_ns() / 1000000;
}

/* Called by libdebuginfod about once a second while a lookup runs, also
 * while it waits to connect; non-zero cancels it. Before the transfer `a`
 * counts those calls and `b` is 0; during it they are the bytes received
 * and expected. A lookup ends when no bytes came for timeout_ms (a server
 * that does not answer, or stalls), or after SYM_MAX_LOOKUP_FACTOR times
 * that in all; a large debug file arriving steadily is not cut short. */
static int lookup_progress(debuginfod_client *c, long a, long b)
{
  struct cli_symbolizer *s = debuginfod_get_user_data(c);
  if (s == NULL)
    return 0;
  int64_t now = now_ms();
  if (b > 0 && a != s->received) {
    s->received = a;
    s->progress_ms = now;
  }
  if (now - s->progress_ms >= s->o.timeout_ms ||
      now - s->started_ms >= SYM_MAX_LOOKUP_FACTOR * s->o.timeout_ms)
    s->cancelled = true;
  return s->cancelled;
}

static bool find_remote(struct cli_symbolizer *s, struct symfile *f)
{
  if (s->remote_off)
    return false;
  if (s->client == NULL) {
    /* libdebuginfod's own limit is time without progress (90 s by
     * default); keep it within ours unless the user chose one. */
    char secs[32];
    snprintf(secs, sizeof(secs), "%ld", (s->o.timeout_ms + 999) / 1000);
    setenv(DEBUGINFOD_TIMEOUT_ENV_VAR, secs, 0);
    if ((s->client = debuginfod_begin()) == NULL) {
      fprintf(s->o.log, "nprof %s: debuginfod: cannot start a client\n",
              s->o.verb);
      s->remote_off = true;
      return false;
    }
    debuginfod_set_user_data(s->client, s);
    debuginfod_set_progressfn(s->client, lookup_progress);
  }
  s->started_ms = s->progress_ms = now_ms();
  s->received = 0;
  s->cancelled = false;
  char *path = NULL;
  int fd = debuginfod_find_debuginfo(
      s->client, (const unsigned char *)f->build_id, 0, &path);
  if (fd >= 0) {
    close(fd);
    bool ok = open_debug_file(f, path);
    free(path);
    return ok;
  }
  free(path);
  /* A lookup our progress callback cancelled also reads -ENOENT. */
  bool timed_out = s->cancelled || fd == -ETIME || fd == -ETIMEDOUT;
  if (fd == -ENOENT && !timed_out)
    return false; /* the servers answered: they do not have it */
  /* Anything else (no answer in time, refused, a server error) is said
   * once; the other build IDs would only wait the same way. */
  const char *urls = getenv(DEBUGINFOD_URLS_ENV_VAR);
  char why[256];
  if (timed_out && s->received > 0)
    snprintf(why, sizeof(why),
             "sent %ld bytes of %s's debug info, then stalled or took over "
             "%ld s",
             s->received, f->build_id,
             SYM_MAX_LOOKUP_FACTOR * s->o.timeout_ms / 1000);
  else if (timed_out)
    snprintf(why, sizeof(why), "did not answer within %ld ms", s->o.timeout_ms);
  else
    snprintf(why, sizeof(why), "failed: %s", strerror(-fd));
  fprintf(s->o.log,
          "nprof %s: debuginfod: %s %s; not asking it again: frames without "
          "debug info on this machine keep FILE+0xOFFSET names\n",
          s->o.verb, urls != NULL ? urls : "", why);
  s->remote_off = true;
  s->stats.remote_failed = true;
  return false;
}

/* The symfile of `build_id`, looked up on first use (past SYM_MAX_FILES,
 * one without a debug file); NULL when out of memory. */
static struct symfile *symfile_get(struct cli_symbolizer *s,
                                   const char *build_id, const char *mapping)
{
  for (size_t i = 0; i < s->nfiles; i++) {
    if (strcmp(s->files[i].build_id, build_id) == 0)
      return &s->files[i];
  }
  if (s->nfiles == SYM_MAX_FILES)
    return &s->none;
  if (s->nfiles == s->alloc) {
    struct symfile *t = npc_grow(s->files, &s->alloc, sizeof(*t), 16);
    if (t == NULL)
      return NULL;
    s->files = t;
  }
  struct symfile *f = &s->files[s->nfiles];
  *f = (struct symfile){.build_id = strdup(build_id)};
  if (f->build_id == NULL)
    return NULL;
  s->nfiles++;
  if (!find_local(s, f))
    f->remote = find_remote(s, f);
  if (f->dwfl == NULL) {
    s->stats.files_missing++;
    const char *base = strrchr(mapping, '/');
    base = base != NULL ? base + 1 : mapping;
    size_t used = strlen(s->stats.missing);
    if (used + strlen(base) + 3 < sizeof(s->stats.missing))
      snprintf(s->stats.missing + used, sizeof(s->stats.missing) - used, "%s%s",
               used > 0 ? ", " : "", base);
  }
  return f;
}

/* The virtual address of a frame in `f`'s file (see the top comment);
 * false when no executable segment holds it. */
static bool frame_vaddr(const struct symfile *f, const struct cli_frame *fr,
                        GElf_Addr *out)
{
  GElf_Addr bias;
  Elf *elf = dwfl_module_getelf(f->mod, &bias);
  size_t n;
  if (elf == NULL || elf_getphdrnum(elf, &n) != 0)
    return false;
  uint64_t dist = fr->file_offset - fr->mapping_offset;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, (int)i, &ph) == NULL || ph.p_type != PT_LOAD ||
        !(ph.p_flags & PF_X))
      continue;
    GElf_Addr v = (ph.p_vaddr & ~(GElf_Addr)(SYM_PAGE - 1)) + dist;
    if (v >= ph.p_vaddr && v < ph.p_vaddr + ph.p_memsz) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* The C++ runtime's demangler (libstdc++, linked for this alone). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
                            int *status);

/* C++ names as people read them; the name itself when it is not mangled
 * (or on any failure). Returns malloc'd memory the caller frees, or NULL
 * when out of memory. */
static char *demangle(const char *name)
{
  if (name[0] == '_' && name[1] == 'Z') {
    int status = 0;
    char *d = __cxa_demangle(name, NULL, NULL, &status);
    if (d != NULL && status == 0)
      return d;
    free(d);
  }
  return strdup(name);
}

long cli_symbolize(struct cli_symbolizer *s, struct cli_profile *p)
{
  long named = 0;

  if (s == NULL || s->o.mode == CLI_SYMBOLIZE_NONE)
    return 0;
  assert(p != NULL);
  for (size_t i = 0; i < p->nframes; i++) {
    const struct cli_frame *fr = &p->frames[i];
    if (fr->function[0] != '\0' || !fr->mapped || !hex_build_id(fr->build_id))
      continue;
    struct symfile *f = symfile_get(s, fr->build_id, fr->mapping);
    if (f == NULL)
      return CLI_ENOMEM;
    GElf_Addr v;
    const char *name = NULL;
    GElf_Off off;
    GElf_Sym sym;
    if (f->dwfl != NULL && frame_vaddr(f, fr, &v))
      name = dwfl_module_addrinfo(f->mod, v + f->bias, &off, &sym, NULL, NULL,
                                  NULL);
    if (name == NULL || name[0] == '\0') {
      s->stats.unnamed++;
      continue;
    }
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *l = dwfl_module_getsrc(f->mod, v + f->bias);
    if (l != NULL)
      file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
    char *readable = demangle(name);
    if (readable == NULL)
      return CLI_ENOMEM;
    int rc = cli_profile_name_frame(p, i, readable, file, file ? line : 0);
    free(readable);
    if (rc != 0)
      return rc;
    named++;
    if (f->remote)
      s->stats.named_remote++;
    else
      s->stats.named_local++;
  }
  return named;
}
