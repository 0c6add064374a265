/* Atomic snapshot files and the fetch list (loadgen/snapshot.c). The HTTP
 * side is covered by tests/integration/loadgen_snapshot.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

static int count_entries(const char *dir)
{
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

static void test_write_atomic(void **state)
{
  (void)state;
  char dir[] = "/tmp/lg-snap-XXXXXX";
  assert_non_null(mkdtemp(dir));
  assert_int_equal(lg_write_atomic(dir, "plateau.heap.pb.gz", "abc", 3), 0);
  /* replacing an existing file */
  assert_int_equal(lg_write_atomic(dir, "plateau.heap.pb.gz", "hello", 5), 0);
  char path[256], buf[16] = {0};
  snprintf(path, sizeof path, "%s/plateau.heap.pb.gz", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(fread(buf, 1, sizeof buf, f), 5);
  fclose(f);
  assert_string_equal(buf, "hello");
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
  assert_int_equal(count_entries(dir), 1); /* no temporary left */
  /* an empty body is a valid (empty) file */
  assert_int_equal(lg_write_atomic(dir, "empty", "", 0), 0);
  assert_int_equal(count_entries(dir), 2);
  unlink(path);
  snprintf(path, sizeof path, "%s/empty", dir);
  unlink(path);
  rmdir(dir);
  /* a missing directory: an error, nothing created */
  assert_int_equal(lg_write_atomic("/nonexistent-lg-dir", "x", "a", 1),
                   -ENOENT);
}

static void test_items(void **state)
{
  (void)state;
  int required = 0;
  for (size_t i = 0; i < lg_snapshot_nitems; i++) {
    const lg_snapshot_item *it = &lg_snapshot_items[i];
    assert_true(it->path[0] == '/');
    required += it->required;
  }
  assert_int_equal(required, 2);
  assert_string_equal(lg_snapshot_items[0].suffix, "heap.pb.gz");
  assert_string_equal(lg_snapshot_items[1].suffix, "goroutine.pb.gz");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_atomic),
      cmocka_unit_test(test_items),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
