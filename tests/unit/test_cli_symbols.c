/* Unit tests for profiler/cli/symbols.c on a real ELF file: this test
 * program itself. A profile frame points into its own executable mapping
 * with no function name; a .build-id tree in a temporary directory holds
 * the program under its build ID; the symbolizer must name the frame from
 * the file offset alone (the load address is not in the debug file), and
 * refuse a file whose build ID is not the one asked for. A debuginfod
 * server that refuses connections is said once, then left alone. */
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../cli/testprof.h"
#include "cli.h"

/* The frame the tests name. noinline and used: a function of its own. */
__attribute__((noinline, used)) static int symbols_target(int x)
{
  return x * 3 + 1;
}

static char build_id[129];

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
  (void)size, (void)data;
  if (info->dlpi_name[0] != '\0') /* the main program has no name */
    return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE)
      continue;
    const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
    const char *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
      const unsigned char *desc =
          (const unsigned char *)(p + sizeof(*n) + ((n->n_namesz + 3) & ~3u));
      if (n->n_type == NT_GNU_BUILD_ID && n->n_descsz <= 64) {
        for (unsigned k = 0; k < n->n_descsz; k++)
          snprintf(build_id + 2 * k, 3, "%02x", desc[k]);
        return 1;
      }
      p += sizeof(*n) + ((n->n_namesz + 3) & ~3u) + ((n->n_descsz + 3) & ~3u);
    }
  }
  return 0;
}

struct self {
  char exe[PATH_MAX];
  uint64_t start, limit, offset;
  char dir[64]; /* the .build-id tree */
};

static void find_self(struct self *s)
{
  ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
  assert_true(n > 0);
  s->exe[n] = '\0';
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  uintptr_t fn = (uintptr_t)symbols_target;
  char line[PATH_MAX + 128];
  bool found = false;
  while (!found && fgets(line, sizeof(line), f) != NULL) {
    unsigned long a, b, off;
    char perms[8], path[PATH_MAX] = "";
    if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &a, &b, perms, &off,
               path) < 4)
      continue;
    if (strchr(perms, 'x') && fn >= a && fn < b && strcmp(path, s->exe) == 0) {
      s->start = a, s->limit = b, s->offset = off;
      found = true;
    }
  }
  fclose(f);
  assert_true(found);
  build_id[0] = '\0';
  dl_iterate_phdr(find_build_id, NULL);
  assert_true(strlen(build_id) >= 8);
}

/* DIR/.build-id/xx/rest.debug -> target */
static void plant(const char *dir, const char *id, const char *target)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/.build-id", dir);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/.build-id/%.2s", dir, id);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", dir, id, id + 2);
  unlink(path);
  assert_int_equal(symlink(target, path), 0);
}

/* The known profile with location 12 moved into this program. */
static struct cli_profile *profile_into_self(const struct self *s,
                                             uint64_t address)
{
  struct testprof t;
  testprof_init(&t);
  t.strings[TP_S_COUNT] = (char *)s->exe;
  t.strings[TP_S_COUNT + 1] = build_id;
  t.p.n_string_table = TP_S_COUNT + 2;
  t.map[0].filename = TP_S_COUNT;
  t.map[0].build_id = TP_S_COUNT + 1;
  t.map[0].memory_start = s->start;
  t.map[0].memory_limit = s->limit;
  t.map[0].file_offset = s->offset;
  t.loc[0].address = t.loc[1].address = s->start;
  t.loc[2].address = address;
  size_t len;
  uint8_t *buf = testprof_pack(&t, &len);
  struct cli_profile *p = NULL;
  char err[CLI_ERRLEN];
  assert_int_equal(cli_profile_decode(buf, len, 0, &p, err, sizeof(err)), 0);
  free(buf);
  return p;
}

/* A symbolizer that looks only in the test's .build-id tree. */
static struct cli_symbolizer *local_symbolizer(const struct self *s,
                                               struct cli_symbolize_options *o)
{
  cli_symbolize_options_init(o, "test");
  o->mode = CLI_SYMBOLIZE_LOCAL;
  o->debug_dirs = s->dir;
  struct cli_symbolizer *sym = NULL;
  assert_int_equal(cli_symbolizer_new(o, &sym), 0);
  return sym;
}

static int setup(void **state)
{
  struct self *s = calloc(1, sizeof(*s));
  find_self(s);
  snprintf(s->dir, sizeof(s->dir), "/tmp/test_cli_symbols.XXXXXX");
  if (mkdtemp(s->dir) == NULL)
    return -1;
  *state = s;
  return 0;
}

static int teardown(void **state)
{
  struct self *s = *state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
  if (system(cmd) != 0)
    return -1;
  free(s);
  return 0;
}

static void test_local_build_id(void **state)
{
  struct self *s = *state;
  plant(s->dir, build_id, s->exe);
  struct cli_symbolize_options o;
  struct cli_symbolizer *sym = local_symbolizer(s, &o);
  struct cli_profile *p = profile_into_self(s, (uintptr_t)symbols_target + 2);
  const struct cli_frame *f = p->samples[2].frames[0];
  assert_string_equal(f->function, "");
  char before[CLI_NAME_MAX];
  char buf[CLI_NAME_MAX];
  snprintf(before, sizeof(before), "%s", cli_frame_name(f, buf, sizeof(buf)));
  assert_non_null(strstr(before, "test_cli_symbols+0x"));
  /* main and mid are named in the profile: only the unnamed frame is
   * looked up. */
  assert_int_equal(cli_symbolize(sym, p), 1);
  assert_string_equal(f->function, "symbols_target");
  assert_non_null(strstr(f->file, "test_cli_symbols.c"));
  assert_true(f->line > 0);
  const struct cli_symbolize_stats *st = cli_symbolizer_stats(sym);
  assert_int_equal(st->named_local, 1);
  assert_int_equal(st->named_remote, 0);
  /* A second profile of the same file: the file is not looked up again,
   * and the name is the same. */
  struct cli_profile *q = profile_into_self(s, (uintptr_t)symbols_target + 3);
  assert_int_equal(cli_symbolize(sym, q), 1);
  assert_string_equal(q->samples[2].frames[0]->function, "symbols_target");
  assert_int_equal(st->files_missing, 0);
  cli_profile_free(q);
  cli_profile_free(p);
  cli_symbolizer_free(sym);

  /* --symbolize none names nothing. */
  o.mode = CLI_SYMBOLIZE_NONE;
  assert_int_equal(cli_symbolizer_new(&o, &sym), 0);
  p = profile_into_self(s, (uintptr_t)symbols_target + 2);
  assert_int_equal(cli_symbolize(sym, p), 0);
  assert_string_equal(p->samples[2].frames[0]->function, "");
  cli_profile_free(p);
  cli_symbolizer_free(sym);
}

/* A file planted under our build ID that is another program is refused:
 * the frame keeps its FILE+0xOFFSET name, the file counts as missing. */
static void test_wrong_file_refused(void **state)
{
  struct self *s = *state;
  plant(s->dir, build_id, "/bin/true");
  struct cli_symbolize_options o;
  struct cli_symbolizer *sym = local_symbolizer(s, &o);
  struct cli_profile *p = profile_into_self(s, (uintptr_t)symbols_target + 2);
  assert_int_equal(cli_symbolize(sym, p), 0);
  assert_string_equal(p->samples[2].frames[0]->function, "");
  const struct cli_symbolize_stats *st = cli_symbolizer_stats(sym);
  assert_int_equal(st->files_missing, 1);
  assert_int_equal(st->unnamed, 1);
  assert_string_equal(st->missing, "test_cli_symbols");
  cli_profile_free(p);
  cli_symbolizer_free(sym);
}

/* A server that refuses: one line, then no more lookups. */
static void test_debuginfod_refused(void **state)
{
  struct self *s = *state;
  char cache[128];
  snprintf(cache, sizeof(cache), "%s/cache", s->dir);
  setenv("DEBUGINFOD_CACHE_PATH", cache, 1);
  setenv("DEBUGINFOD_URLS", "http://127.0.0.1:1", 1);
  char *log = NULL;
  size_t len = 0;
  FILE *lf = open_memstream(&log, &len);
  struct cli_symbolize_options o;
  cli_symbolize_options_init(&o, "test");
  o.debug_dirs = "/nonexistent";
  o.timeout_ms = 5000;
  o.log = lf;
  struct cli_symbolizer *sym;
  assert_int_equal(cli_symbolizer_new(&o, &sym), 0);
  struct cli_profile *p = profile_into_self(s, (uintptr_t)symbols_target + 2);
  assert_int_equal(cli_symbolize(sym, p), 0);
  const struct cli_symbolize_stats *st = cli_symbolizer_stats(sym);
  assert_true(st->remote_failed);
  cli_profile_free(p);
  /* Another build ID: not asked (the server failed already). */
  static char other[] = "0123456789abcdef0123";
  memcpy(build_id, other, sizeof(other));
  p = profile_into_self(s, (uintptr_t)symbols_target + 2);
  assert_int_equal(cli_symbolize(sym, p), 0);
  cli_profile_free(p);
  cli_symbolizer_free(sym);
  fclose(lf);
  assert_non_null(strstr(log, "nprof test: debuginfod: http://127.0.0.1:1"));
  size_t lines = 0;
  for (const char *c = log; *c; c++)
    lines += *c == '\n';
  assert_int_equal(lines, 1);
  free(log);
  unsetenv("DEBUGINFOD_URLS");
  dl_iterate_phdr(find_build_id, NULL);
}

/* More build IDs than the symbolizer remembers (a crafted profile, or a
 * great many libraries): the frames past its cap keep their FILE+0xOFFSET
 * names, counted unnamed; that is no failure, least of all "out of
 * memory". */
static void test_many_build_ids(void **state)
{
  struct self *s = *state;
  struct cli_symbolize_options o;
  struct cli_symbolizer *sym = local_symbolizer(s, &o);
  const size_t n = 5000; /* above the cap of symbols.c */
  for (size_t i = 0; i < n; i++) {
    snprintf(build_id, sizeof(build_id), "feedface%08zx", i);
    struct cli_profile *p = profile_into_self(s, (uintptr_t)symbols_target);
    assert_int_equal(cli_symbolize(sym, p), 0);
    assert_string_equal(p->samples[2].frames[0]->function, "");
    cli_profile_free(p);
  }
  assert_int_equal(cli_symbolizer_stats(sym)->unnamed, n);
  cli_symbolizer_free(sym);
  dl_iterate_phdr(find_build_id, NULL);
}

static void test_mode_parse(void **state)
{
  (void)state;
  enum cli_symbolize_mode m = CLI_SYMBOLIZE_NONE;
  assert_int_equal(cli_symbolize_mode_parse("debuginfod", &m), 0);
  assert_int_equal(m, CLI_SYMBOLIZE_DEBUGINFOD);
  assert_int_equal(cli_symbolize_mode_parse("local", &m), 0);
  assert_int_equal(m, CLI_SYMBOLIZE_LOCAL);
  assert_int_equal(cli_symbolize_mode_parse("remote", &m), CLI_EUSAGE);
  assert_int_equal(cli_symbolize_mode_parse(NULL, &m), CLI_EUSAGE);
  /* NULL symbolizer: nothing done, nothing broken. */
  assert_int_equal(cli_symbolize(NULL, NULL), 0);
  assert_null(cli_symbolizer_stats(NULL));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_local_build_id),
      cmocka_unit_test(test_wrong_file_refused),
      cmocka_unit_test(test_debuginfod_refused),
      cmocka_unit_test(test_many_build_ids),
      cmocka_unit_test(test_mode_parse),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
