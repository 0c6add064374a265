/* /debug/vars (vars.c) and the /proc readers behind its figures
 * (procstat.c). */
#include "internal.h"
#include "npc.h"

#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fork_helper.h"

static void write_vars(void)
{
  nprof__buf out;
  nprof__buf_init(&out, 1 << 24);
  nprof__vars_write(&out);
  nprof__buf_free(&out);
}

static void child_writes_and_adds(void)
{
  nprof__buf out;
  nprof__buf_init(&out, 1 << 24);
  int rc = nprof__vars_write(&out);
  if (rc != 0)
    _exit(10 - rc);
  if (!strstr(out.data, "\"fork.v1999\""))
    _exit(3);
  nprof__buf_free(&out);
  if (!nprof_var_new_int("fork.child"))
    _exit(2);
}

/* A fork while another thread writes /debug/vars: the child must not
 * inherit the variables' lock held. */
static void fork_child_can_use_vars(void **state)
{
  (void)state;
  SKIP_UNDER_SANITIZER();
  for (int i = 0; i < 2000; i++) {
    char name[32];
    snprintf(name, sizeof(name), "fork.v%d", i);
    assert_non_null(nprof_var_new_int(name));
  }
  assert_int_equal(fork_while_busy(write_vars, child_writes_and_adds), 0);
}

static void status_fields_are_read_by_line(void **state)
{
  (void)state;
  const char *status = "Name:\tx\nVmRSS:\t  2048 kB\nRssAnon:\t    1024 kB\n"
                       "RssFile:\t 512 kB\nXRssShmem:\t7 kB\n";
  assert_int_equal(nprof__proc_kb(status, "VmRSS"), 2048 * 1024);
  assert_int_equal(nprof__proc_kb(status, "RssAnon"), 1024 * 1024);
  assert_int_equal(nprof__proc_kb(status, "RssFile"), 512 * 1024);
  /* Whole keys at the start of a line only. */
  assert_int_equal(nprof__proc_kb(status, "RssShmem"), 0);
  assert_int_equal(nprof__proc_kb(status, "Rss"), 0);
  assert_int_equal(nprof__proc_kb("", "VmRSS"), 0);
}

static void the_main_stack_line_is_found(void **state)
{
  (void)state;
  nprof__range r;
  assert_true(nprof__maps_stack_line("7ffc1000-7ffc3000 rw-p 00000000 00:00 "
                                     "0                          [stack]\n",
                                     &r));
  assert_int_equal(r.lo, 0x7ffc1000);
  assert_int_equal(r.hi, 0x7ffc3000);
  assert_false(
      nprof__maps_stack_line("7f00-7f10 rw-p 00000000 00:00 0   [heap]\n", &r));
  assert_false(nprof__maps_stack_line("junk [stack]\n", &r));
  assert_false(nprof__maps_stack_line("", &r));
}

static void resident_pages_are_counted(void **state)
{
  (void)state;
  long page = sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, 16 * page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  for (int i = 0; i < 5; i++)
    p[i * 3 * page] = 1;
  assert_int_equal(
      nprof__resident_bytes((uintptr_t)p, (uintptr_t)p + 16 * page), 5 * page);
  munmap(p, 16 * page);
  /* Gone: nothing resident, no error. */
  assert_int_equal(
      nprof__resident_bytes((uintptr_t)p, (uintptr_t)p + 16 * page), 0);
  /* This thread's own stack is partly resident. */
  char here;
  int64_t r =
      nprof__resident_bytes((uintptr_t)&here - 4 * page, (uintptr_t)&here + 1);
  assert_true(r >= page);
}

/* malloc_info(0) output of glibc 2.36 (two arenas), trimmed. */
static const char malloc_info_xml[] =
    "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n"
    "  <size from=\"33\" to=\"48\" total=\"96\" count=\"2\"/>\n"
    "  <size from=\"3585\" to=\"4033\" total=\"26663\" count=\"7\"/>\n"
    "  <unsorted from=\"4177\" to=\"73969\" total=\"36883024\" "
    "count=\"944\"/>\n</sizes>\n<total type=\"fast\" count=\"2\" "
    "size=\"96\"/>\n<total type=\"rest\" count=\"986\" size=\"37118985\"/>"
    "\n<system type=\"current\" size=\"74166272\"/>\n</heap>\n"
    "<heap nr=\"1\">\n<sizes>\n  <size from=\"97\" to=\"112\" total=\"112\" "
    "count=\"1\"/>\n  <size from=\"8193\" to=\"8193\" total=\"8193\" "
    "count=\"1\"/>\n</sizes>\n<total type=\"fast\" count=\"1\" "
    "size=\"112\"/>\n</heap>\n<total type=\"mmap\" count=\"0\" size=\"0\"/>"
    "\n</malloc>\n";

static void malloc_info_is_parsed(void **state)
{
  (void)state;
  int64_t arenas = 0, releasable = 0;
  assert_int_equal(
      nprof__malloc_info_parse(malloc_info_xml, 4096, &arenas, &releasable), 0);
  assert_int_equal(arenas, 2);
  /* 944 chunks of 39,071 bytes on average: 944 * (39071 - 48 - 4096);
   * one of 8,193: 8193 - 48 - 4096; chunks under a page and a header give
   * nothing. */
  assert_int_equal(releasable,
                   944LL * (36883024 / 944 - 48 - 4096) + (8193 - 48 - 4096));
  assert_int_equal(
      nprof__malloc_info_parse("<html>", 4096, &arenas, &releasable),
      NPROF_EINVAL);
  assert_int_equal(nprof__malloc_info_parse(NULL, 4096, &arenas, &releasable),
                   NPROF_EINVAL);
}

static int64_t rss_now(void)
{
  FILE *f = fopen("/proc/self/statm", "re");
  long long size = 0, resident = 0;
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%lld %lld", &size, &resident), 2);
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

/* On a heap with many free chunks, glibc's figures add up and the
 * releasable estimate is what malloc_trim(0) then gives back. */
/* Figures walked now, not served from the cache of an earlier walk. */
static void read_fresh(nprof__malloc_stats *ms)
{
  for (int i = 0; i < 2000; i++) {
    nprof__malloc_stats_read(ms);
    if (ms->age_ns == 0)
      return;
    usleep(1000);
  }
  fail_msg("no fresh malloc figures within 2 s");
}

static void malloc_figures_add_up_and_predict_a_trim(void **state)
{
  (void)state;
#if defined(NPROF_SANITIZED)
  /* The sanitizer's allocator serves malloc: no glibc figures. */
  assert_false(nprof__malloc_is_glibc());
  skip();
#endif
  assert_true(nprof__malloc_is_glibc());
  static void *blocks[3000];
  for (int i = 0; i < 3000; i++) {
    size_t n = 8192 + (size_t)(i % 40) * 1024;
    blocks[i] = malloc(n);
    memset(blocks[i], 1, n);
  }
  for (int i = 0; i < 3000; i += 2)
    free(blocks[i]);
  nprof__malloc_stats ms;
  read_fresh(&ms);
  assert_true(ms.glibc);
  assert_int_equal(ms.in_use_bytes + ms.free_bytes, ms.arena_bytes);
  assert_true(ms.arenas >= 1);
  assert_true(ms.releasable_bytes > 0);
  assert_true(ms.releasable_bytes <= ms.free_bytes);
  int64_t before = rss_now();
  malloc_trim(0);
  int64_t drop = before - rss_now();
  print_message("# releasable_bytes %lld, malloc_trim(0) freed %lld bytes of "
                "RSS\n",
                (long long)ms.releasable_bytes, (long long)drop);
  assert_true(llabs(drop - ms.releasable_bytes) <=
              ms.releasable_bytes / 5 + (1 << 20));
  for (int i = 1; i < 3000; i += 2)
    free(blocks[i]);
}

/* The arena walk locks the host's arenas: however often clients ask, walks
 * take at most 1% of the wall time (by construction: a walk is followed by
 * a pause of 99 times its cost, so this holds on a loaded machine too).
 * A client asks every millisecond for a second; the time spent inside the
 * reads is bounded by 1% of that plus the longest walk twice (the one that
 * starts the window and one that may straddle its end). */
static void arena_walks_take_at_most_a_percent_of_the_time(void **state)
{
  (void)state;
#if defined(NPROF_SANITIZED)
  /* The sanitizer's allocator serves malloc: no glibc figures, no walks. */
  assert_false(nprof__malloc_is_glibc());
  skip();
#endif
  enum { N = 20000 };
  static void *blocks[N];
  for (int i = 0; i < N; i++)
    blocks[i] = malloc(64 + (size_t)(i % 50) * 16);
  for (int i = 0; i < N; i += 2)
    free(blocks[i]); /* many free chunks: a walk that costs something */
  nprof__malloc_stats ms;
  nprof__malloc_stats_read(&ms);
  int64_t walks0 = ms.walks, inside = 0, longest = 0, reads = 0;
  int64_t start = npc_mono_ns();
  bool stale_seen = false;
  while (npc_mono_ns() - start < 1000 * 1000000LL) {
    int64_t t = npc_mono_ns();
    nprof__malloc_stats_read(&ms);
    int64_t d = npc_mono_ns() - t;
    inside += d;
    longest = d > longest ? d : longest;
    reads++;
    stale_seen |= ms.age_ns > 0;
    usleep(1000);
  }
  int64_t elapsed = npc_mono_ns() - start;
  int64_t walks = ms.walks - walks0;
  print_message("# %lld reads, %lld walks (longest read %.2f ms), %.3f%% of "
                "%lld ms inside\n",
                (long long)reads, (long long)walks, (double)longest / 1e6,
                100.0 * (double)inside / (double)elapsed,
                (long long)(elapsed / 1000000));
  assert_true(stale_seen);
  assert_true(walks < reads / 4);
  assert_true(inside <= elapsed / 100 + 2 * longest + 1000000);
  /* A cheap walk is still refreshed often: the figures are not frozen. */
  if (longest < 2000000)
    assert_true(walks >= 2);
  for (int i = 1; i < N; i += 2)
    free(blocks[i]);
}

static void vars_have_the_malloc_and_memory_figures(void **state)
{
  (void)state;
  nprof__buf out;
  nprof__buf_init(&out, 1 << 24);
  assert_int_equal(nprof__vars_write(&out), 0);
#if defined(NPROF_SANITIZED)
  assert_non_null(
      strstr(out.data, "\"malloc\": {\"allocator\": \"unknown\"},"));
  const char *want[] = {
#else
  const char *want[] = {"\"malloc\": {\"allocator\": \"glibc\", "
                        "\"in_use_bytes\": ",
                        "\"free_bytes\": ",
                        "\"mmapped_bytes\": ",
                        "\"arena_bytes\": ",
                        "\"arenas\": ",
                        "\"releasable_bytes\": ",
#endif
    "\"rss_anon_bytes\": ",
    "\"rss_file_bytes\": ",
    "\"thread_stacks_rss_bytes\": "
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    assert_non_null(strstr(out.data, want[i]));
  nprof__buf_free(&out);
  nprof__procstat ps;
  nprof__procstat_read(&ps);
  assert_true(ps.rss_anon_bytes > 0 && ps.rss_file_bytes > 0);
  assert_true(ps.rss_anon_bytes + ps.rss_file_bytes <= ps.rss_bytes + 4096);
  assert_true(ps.thread_stacks_rss_bytes > 0);
  assert_true(ps.thread_stacks_rss_bytes < ps.rss_bytes);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(status_fields_are_read_by_line),
      cmocka_unit_test(the_main_stack_line_is_found),
      cmocka_unit_test(resident_pages_are_counted),
      cmocka_unit_test(malloc_info_is_parsed),
      cmocka_unit_test(malloc_figures_add_up_and_predict_a_trim),
      cmocka_unit_test(arena_walks_take_at_most_a_percent_of_the_time),
      cmocka_unit_test(vars_have_the_malloc_and_memory_figures),
      cmocka_unit_test(fork_child_can_use_vars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
