/* The HTTP layer's own logic (http.c): the DNS-rebinding guard on the Host
 * header, the environment lists it reads (config.c), the route table it
 * looks URLs up in (endpoints.c), its sleep, and fork. */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fork_helper.h"

/* The wall clock as this process sees it, an hour behind (as after an NTP
 * step or a manual change): libnprof's sleeps must not care. Every other
 * clock is the kernel's. */
static int wall_offset_s;

int clock_gettime(clockid_t id, struct timespec *ts)
{
  long rc = syscall(SYS_clock_gettime, id, ts);
  if (rc == 0 && id == CLOCK_REALTIME)
    ts->tv_sec += wall_offset_s;
  return (int)rc;
}

static int64_t kernel_monotonic_ns(void)
{
  struct timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A delta profile's sleep lasts its time whatever the wall clock says.
 * Before, it waited until a CLOCK_REALTIME deadline: with the wall clock
 * an hour behind it returned at once (an hour ahead: an hour late). */
static void sleeps_ignore_the_wall_clock(void **state)
{
  (void)state;
  wall_offset_s = -3600;
  int64_t t0 = kernel_monotonic_ns();
  bool ok = nprof__server_sleep_ns(300 * 1000000LL);
  int64_t took = kernel_monotonic_ns() - t0;
  wall_offset_s = 0;
  assert_true(ok);
  assert_true(took >= 290 * 1000000LL);
  assert_true(took < 5000 * 1000000LL);
}

static void nap_briefly(void)
{
  nprof__server_sleep_ns(0);
}

static void child_naps(void)
{
  if (!nprof__server_sleep_ns(1000000))
    _exit(1);
}

/* A fork while another thread sleeps in the server's sleep: the child
 * must inherit neither its lock held nor its condition's waiters. */
static void fork_child_can_sleep(void **state)
{
  (void)state;
  SKIP_UNDER_SANITIZER();
  assert_int_equal(fork_while_busy(nap_briefly, child_naps), 0);
}

static void ip_literals_and_localhost_pass(void **state)
{
  (void)state;
  const char *pass[] = {
      NULL, /* HTTP/1.0: no Host header */
      "127.0.0.1", "127.0.0.1:6060", "10.0.0.7:80", "[::1]",       "[::1]:8086",
      "localhost", "LocalHost:8086", "localhost.",  "localhost.:1"};
  for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
    assert_true(nprof__http_host_allowed(pass[i], NULL));
}

static void other_names_are_refused(void **state)
{
  (void)state;
  const char *refuse[] = {"",
                          "evil.example",
                          "evil.example:6060",
                          "localhost.evil.example",
                          "127.0.0.1.evil.example",
                          "127.1",       /* inet_aton would take it */
                          "0x7f000001",  /* likewise */
                          "127.0.0.1:",  /* an empty port */
                          "127.0.0.1:x", /* a bad one */
                          "127.0.0.1:123456",
                          "[::1",
                          "[::1]x",
                          "::1",
                          "[evil.example]",
                          "[fe80::1%25eth0]", /* a zone id: not a literal */
                          ":80",
                          "notifier"};
  for (size_t i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++)
    assert_false(nprof__http_host_allowed(refuse[i], NULL));
}

static void allowed_names_pass_case_insensitively(void **state)
{
  (void)state;
  const char *allowed = " notifier , Build.Example,,x";
  assert_true(nprof__http_host_allowed("notifier", allowed));
  assert_true(nprof__http_host_allowed("notifier:8086", allowed));
  assert_true(nprof__http_host_allowed("NOTIFIER:8086", allowed));
  assert_true(nprof__http_host_allowed("build.example", allowed));
  assert_true(nprof__http_host_allowed("x", allowed));
  assert_false(nprof__http_host_allowed("notifier.evil", allowed));
  assert_false(nprof__http_host_allowed("otifier", allowed));
  assert_false(nprof__http_host_allowed("build", allowed));
  assert_false(nprof__http_host_allowed("notifier:80x", allowed));
  /* "*" lets every name through (a deliberate opt-out). */
  assert_true(nprof__http_host_allowed("anything.example", "a, *"));
}

static void urls_find_their_routes(void **state)
{
  (void)state;
  const struct {
    const char *path, *name;
    nprof__seconds seconds;
  } cases[] = {
      {"/debug/pprof/", "", NPROF__SECONDS_NONE},
      {"/debug/pprof", "", NPROF__SECONDS_NONE},
      {"/debug/pprof/heap", "heap", NPROF__SECONDS_DELTA},
      {"/debug/pprof/allocs", "allocs", NPROF__SECONDS_DELTA},
      {"/debug/pprof/mutex", "mutex", NPROF__SECONDS_DELTA},
      {"/debug/pprof/block", "block", NPROF__SECONDS_DELTA},
      {"/debug/pprof/goroutine", "goroutine", NPROF__SECONDS_NONE},
      {"/debug/pprof/threadcreate", "threadcreate", NPROF__SECONDS_NONE},
      {"/debug/pprof/profile", "profile", NPROF__SECONDS_DURATION},
      {"/debug/pprof/trace", "trace", NPROF__SECONDS_FRACTIONAL},
      {"/debug/pprof/symbol", "symbol", NPROF__SECONDS_NONE},
      {"/debug/pprof/cmdline", "cmdline", NPROF__SECONDS_NONE},
      {"/debug/vars", "/debug/vars", NPROF__SECONDS_NONE},
      /* An application profile's name: the catch-all route. */
      {"/debug/pprof/widgets", "widgets", NPROF__SECONDS_NONE},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *name = NULL;
    const nprof__route *r = nprof__route_find(cases[i].path, &name);
    assert_non_null(r);
    assert_string_equal(name, cases[i].name);
    assert_int_equal(r->seconds, cases[i].seconds);
    assert_non_null(r->serve);
    assert_non_null(r->content_type);
  }
  const char *none[] = {"/",
                        "/debug",
                        "/debug/varsx",
                        "/debug/pprofx",
                        "/debug/pprof/../../etc/passwd",
                        "/debug/pprof/a b",
                        "/nothing/here"};
  for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
    const char *name;
    assert_null(nprof__route_find(none[i], &name));
  }
}

static void lists_match_whole_items(void **state)
{
  (void)state;
  assert_true(nprof__list_has("a,bb, ccc ", "ccc", 3));
  assert_true(nprof__list_has("a,bb, ccc ", "BB", 2));
  assert_false(nprof__list_has("a,bb, ccc ", "b", 1));
  assert_false(nprof__list_has("a,bb, ccc ", "cc", 2));
  assert_false(nprof__list_has("", "a", 1));
  assert_false(nprof__list_has(NULL, "a", 1));
  assert_false(nprof__list_has(" , ,", "", 0));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ip_literals_and_localhost_pass),
      cmocka_unit_test(other_names_are_refused),
      cmocka_unit_test(allowed_names_pass_case_insensitively),
      cmocka_unit_test(lists_match_whole_items),
      cmocka_unit_test(urls_find_their_routes),
      cmocka_unit_test(sleeps_ignore_the_wall_clock),
      cmocka_unit_test(fork_child_can_sleep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
