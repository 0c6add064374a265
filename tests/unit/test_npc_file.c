/* Atomic writes and capped reads (common/file.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npc.h"

static char dir[64];

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/npc-file-XXXXXX");
  return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int count_entries(const char *d)
{
  DIR *dp = opendir(d);
  assert_non_null(dp);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dp)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(dp);
  return n;
}

static void write_replaces_whole_file_and_leaves_no_temporary(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/report.md", dir);
  assert_int_equal(npc_write_atomic(path, "first version", 13), 0);
  assert_int_equal(npc_write_atomic(path, "second", 6), 0);
  char *buf;
  size_t len;
  assert_int_equal(npc_read_file(path, 1024, &buf, &len), 0);
  assert_int_equal(len, 6);
  assert_string_equal(buf, "second");
  free(buf);
  assert_int_equal(count_entries(dir), 1);
}

static void write_gives_the_mode_open_would(void **state)
{
  (void)state;
  mode_t old = umask(027);
  char path[128];
  snprintf(path, sizeof path, "%s/moded", dir);
  assert_int_equal(npc_write_atomic(path, "x", 1), 0);
  umask(old);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
}

static void write_in_joins_dir_and_name(void **state)
{
  (void)state;
  assert_int_equal(npc_write_atomic_in(dir, "empty", "", 0), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/empty", dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 0);
}

static void render_greeting(FILE *f, const void *ud)
{
  fprintf(f, "hello, %s\n", (const char *)ud);
}

static void write_rendered_writes_what_the_renderer_prints(void **state)
{
  (void)state;
  assert_int_equal(
      npc_write_atomic_rendered_in(dir, "greeting", render_greeting, "shard 3"),
      0);
  char path[128];
  snprintf(path, sizeof path, "%s/greeting", dir);
  char *buf;
  size_t len;
  assert_int_equal(npc_read_file(path, 1024, &buf, &len), 0);
  assert_string_equal(buf, "hello, shard 3\n");
  free(buf);
  assert_int_equal(npc_write_atomic_rendered(path, render_greeting, "again"),
                   0);
  assert_int_equal(npc_read_file(path, 1024, &buf, &len), 0);
  assert_string_equal(buf, "hello, again\n");
  free(buf);
  char longname[5000];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(
      npc_write_atomic_rendered_in(dir, longname, render_greeting, "x"),
      -ENAMETOOLONG);
}

static void write_fails_with_errno_and_keeps_old_file(void **state)
{
  (void)state;
  assert_int_equal(npc_write_atomic("/nonexistent-npc-dir/x", "a", 1), -ENOENT);
  assert_int_equal(npc_write_atomic("", "a", 1), -EINVAL);
  /* A read-only directory: the old file stays as it was. */
  char sub[128], path[160];
  snprintf(sub, sizeof sub, "%s/ro", dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(path, sizeof path, "%s/keep", sub);
  assert_int_equal(npc_write_atomic(path, "old", 3), 0);
  assert_int_equal(chmod(sub, 0555), 0);
  if (geteuid() != 0) { /* root writes anywhere */
    assert_int_equal(npc_write_atomic(path, "new", 3), -EACCES);
    char *buf;
    size_t len;
    assert_int_equal(npc_read_file(path, 16, &buf, &len), 0);
    assert_string_equal(buf, "old");
    free(buf);
  }
  chmod(sub, 0755);
  /* A name too long for the temporary's room. */
  char longname[5000];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(npc_write_atomic(longname, "a", 1), -ENAMETOOLONG);
}

static void read_caps_what_it_holds(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/big", dir);
  char data[10000];
  memset(data, 'z', sizeof data);
  assert_int_equal(npc_write_atomic(path, data, sizeof data), 0);
  char *buf = (char *)0x1;
  size_t len = 77;
  assert_int_equal(npc_read_file(path, 9999, &buf, &len), -EFBIG);
  assert_ptr_equal(buf, (char *)0x1); /* untouched on failure */
  assert_int_equal(len, 77);
  /* Exactly at the cap is fine. */
  assert_int_equal(npc_read_file(path, 10000, &buf, &len), 0);
  assert_int_equal(len, 10000);
  assert_int_equal(buf[len], '\0');
  free(buf);
}

static void read_reports_errno(void **state)
{
  (void)state;
  char *buf;
  size_t len;
  assert_int_equal(npc_read_file("/nonexistent-npc", 10, &buf, &len), -ENOENT);
  assert_int_equal(npc_read_file(dir, 10, &buf, &len), -EISDIR);
  /* An empty file is an empty string, not NULL. */
  char path[128];
  snprintf(path, sizeof path, "%s/zero", dir);
  assert_int_equal(npc_write_atomic(path, "", 0), 0);
  assert_int_equal(npc_read_file(path, 10, &buf, &len), 0);
  assert_non_null(buf);
  assert_int_equal(len, 0);
  free(buf);
}

static void mkdirs_makes_every_level(void **state)
{
  (void)state;
  char path[160];
  snprintf(path, sizeof path, "%s/a/b/c", dir);
  assert_int_equal(npc_mkdirs(path), 0);
  assert_int_equal(npc_mkdirs(path), 0); /* twice is harmless */
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  char file[160];
  snprintf(file, sizeof file, "%s/a/file", dir);
  assert_int_equal(npc_write_atomic(file, "x", 1), 0);
  assert_int_equal(npc_mkdirs(file), -ENOTDIR);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(write_replaces_whole_file_and_leaves_no_temporary),
      cmocka_unit_test(write_gives_the_mode_open_would),
      cmocka_unit_test(write_in_joins_dir_and_name),
      cmocka_unit_test(write_rendered_writes_what_the_renderer_prints),
      cmocka_unit_test(write_fails_with_errno_and_keeps_old_file),
      cmocka_unit_test(read_caps_what_it_holds),
      cmocka_unit_test(read_reports_errno),
      cmocka_unit_test(mkdirs_makes_every_level),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
