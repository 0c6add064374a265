/* Heap profiles on RSS thresholds (dump.c): sizes, the thresholds and the
 * file count, atomic files, /debug/vars fields, fork. Runs as its own
 * process: it starts the dump thread and grows its own RSS. */
#include "internal.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char folder[] = "/tmp/nprof-dump-test-XXXXXX";

static void sizes_parse_like_the_readme_says(void **state)
{
  (void)state;
  static const struct {
    const char *text;
    int64_t bytes;
  } good[] = {
      {"1", 1},          {"4096", 4096},
      {"64K", 64 << 10}, {"512M", 512LL << 20},
      {"2G", 2LL << 30}, {"2g", 2LL << 30},
      {"1T", 1LL << 40},
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    int64_t v = -1;
    assert_int_equal(nprof__dump_parse_size(good[i].text, &v), 0);
    assert_int_equal(v, good[i].bytes);
  }
  static const char *const bad[] = {"",
                                    "0",
                                    "-5",
                                    "12X",
                                    "1.5G",
                                    "G",
                                    " 1M",
                                    "1M ",
                                    "1MB",
                                    "9999999999T",
                                    "18446744073709551616",
                                    "0x10"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t v = 77;
    assert_int_equal(nprof__dump_parse_size(bad[i], &v), NPROF_EINVAL);
    assert_int_equal(v, 77); /* untouched */
  }
}

static void bad_starts_are_refused(void **state)
{
  (void)state;
  assert_int_equal(nprof__dump_start(NULL, 1, 1), NPROF_EINVAL);
  assert_int_equal(nprof__dump_start(folder, 0, 1), NPROF_EINVAL);
  assert_int_equal(nprof__dump_start(folder, 1, 0), NPROF_EINVAL);
  assert_int_equal(nprof__dump_start("/nonexistent/nprof", 1, 1), NPROF_EINVAL);
  assert_int_equal(nprof__dump_start("/proc/self/statm", 1, 1), NPROF_EINVAL);
}

static long rss_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  long size = 0, resident = 0;
  assert_int_equal(fscanf(f, "%ld %ld", &size, &resident), 2);
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

/* Maps and touches `bytes` (never freed: the RSS stays). */
static void grow(long bytes)
{
  char *p = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  memset(p, 1, (size_t)bytes);
}

static bool file_exists(pid_t pid, long seq)
{
  char path[512];
  snprintf(path, sizeof(path), "%s/heap.%d.%ld.pb.gz", folder, (int)pid, seq);
  struct stat st;
  return stat(path, &st) == 0;
}

/* Waits up to 5 s for the file (the thread checks every 100 ms). */
static bool wait_file(pid_t pid, long seq)
{
  for (int i = 0; i < 100; i++) {
    if (file_exists(pid, seq))
      return true;
    usleep(50000);
  }
  return false;
}

static int count_files(void)
{
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", folder);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  int n = -1;
  assert_int_equal(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

static void vars_text(char *text, size_t cap)
{
  nprof__buf b;
  nprof__buf_init(&b, 1 << 16);
  assert_int_equal(nprof__dump_vars_write(&b), 0);
  snprintf(text, cap, "%s", b.data);
  nprof__buf_free(&b);
}

/* The first file when RSS exceeds the size, the next at +50%, no more
 * than the maximum; each a gzip stream; no temporary file left; the vars
 * say so. */
static void files_appear_at_the_thresholds(void **state)
{
  (void)state;
  char text[4096];
  vars_text(text, sizeof(text));
  assert_non_null(strstr(text, "\"dump_dir\": null"));
  long rss = rss_bytes();
  assert_int_equal(nprof__dump_start(folder, rss + (8 << 20), 2), 0);
  assert_int_equal(nprof__dump_start(folder, 1, 1), NPROF_EALREADY);
  usleep(400000);
  assert_int_equal(count_files(), 0); /* below the size: nothing */
  grow(12 << 20);
  assert_true(wait_file(getpid(), 1));
  char path[512];
  snprintf(path, sizeof(path), "%s/heap.%d.1.pb.gz", folder, (int)getpid());
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  unsigned char magic[2] = {0, 0};
  assert_int_equal(fread(magic, 1, 2, f), 2);
  fclose(f);
  assert_true(magic[0] == 0x1f && magic[1] == 0x8b);

  /* The next threshold: 1.5 x the RSS after the first dump (which maps
   * symbol tables), as the vars say. */
  vars_text(text, sizeof(text));
  const char *next = strstr(text, "\"dump_next_rss_bytes\": ");
  assert_non_null(next);
  long threshold = atol(next + strlen("\"dump_next_rss_bytes\": "));
  long at = rss_bytes();
  assert_true(threshold > at);
  if (threshold - at > (4 << 20)) {
    grow(threshold - at - (2 << 20)); /* just below */
    usleep(400000);
    assert_false(file_exists(getpid(), 2));
  }
  grow(threshold - rss_bytes() + (4 << 20));
  assert_true(wait_file(getpid(), 2));
  grow(threshold); /* far past the next one: the maximum is 2 */
  usleep(500000);
  assert_false(file_exists(getpid(), 3));
  assert_int_equal(count_files(), 2); /* no temporary file left either */

  vars_text(text, sizeof(text));
  char want[600];
  snprintf(want, sizeof(want), "\"dump_last_path\": \"%s/heap.%d.2.pb.gz\"",
           folder, (int)getpid());
  assert_non_null(strstr(text, want));
  assert_non_null(strstr(text, "\"dumps_written\": 2"));
  assert_non_null(strstr(text, "\"dump_errors\": 0"));
  assert_non_null(strstr(text, "\"dump_max\": 2"));
}

/* A fork child has a dump thread of its own: files named with its pid,
 * counted from 1, from the parent's next threshold on. */
static void a_fork_child_dumps_on_its_own(void **state)
{
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(20);
    grow(rss_bytes()); /* doubles: past the parent's next threshold */
    _exit(wait_file(getpid(), 1) ? 0 : 1);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static int make_folder(void **state)
{
  (void)state;
  return mkdtemp(folder) ? 0 : -1;
}

static int remove_folder(void **state)
{
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", folder);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sizes_parse_like_the_readme_says),
      cmocka_unit_test(bad_starts_are_refused),
      cmocka_unit_test(files_appear_at_the_thresholds),
      cmocka_unit_test(a_fork_child_dumps_on_its_own),
  };
  return cmocka_run_group_tests(tests, make_folder, remove_folder);
}
