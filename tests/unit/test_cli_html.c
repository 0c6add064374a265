/* Unit tests for profiler/cli/html.c: HTML and Markdown escaping of
 * strings from profiles, shell quoting, and the atomic writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"

#include "cli.h"

typedef void (*escaper)(FILE *, const char *);

static void expect(escaper fn, const char *in, const char *want)
{
  struct capture c;
  fn(capture_open(&c), in);
  char *got = capture_close(&c);
  if (strcmp(got, want) != 0)
    fail_msg("\"%s\": got \"%s\", want \"%s\"", in, got, want);
  free(got);
}

#define FFFD "\xef\xbf\xbd"

static void test_html_escape(void **state)
{
  (void)state;
  expect(cli_html_escape, "", "");
  expect(cli_html_escape, NULL, "");
  expect(cli_html_escape, "plain_name", "plain_name");
  expect(cli_html_escape, "operator<<(std::ostream&, T const&)",
         "operator&lt;&lt;(std::ostream&amp;, T const&amp;)");
  expect(cli_html_escape, "<script>alert('x')</script>",
         "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  expect(cli_html_escape, "a\"b", "a&quot;b");
  expect(cli_html_escape, "&amp;", "&amp;amp;");
  /* Valid UTF-8 passes; tab and newline too. */
  expect(cli_html_escape, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\t\n",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\t\n");
  /* Malformed bytes and control characters become U+FFFD. */
  expect(cli_html_escape,
         "a\xff"
         "b",
         "a" FFFD "b");
  expect(cli_html_escape, "\xc0\xaf", FFFD FFFD);          /* overlong */
  expect(cli_html_escape, "\xed\xa0\x80", FFFD FFFD FFFD); /* surrogate */
  expect(cli_html_escape, "\xe2\x82", FFFD FFFD);          /* truncated */
  expect(cli_html_escape, "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
  expect(cli_html_escape, "x\x01y\x7f", "x" FFFD "y" FFFD);
}

static void test_md_escape(void **state)
{
  (void)state;
  expect(cli_md_escape, "a|b", "a\\|b");
  expect(cli_md_escape, "snake_case*star*", "snake\\_case\\*star\\*");
  expect(cli_md_escape, "[link](x)", "\\[link\\](x)");
  expect(cli_md_escape, "<b>&", "&lt;b&gt;&amp;");
  expect(cli_md_escape, "two\nlines", "two lines");
  expect(cli_md_escape, "back\\slash `tick`", "back\\\\slash \\`tick\\`");
  expect(cli_md_escape, "bad\xff", "bad" FFFD);
  expect(cli_md_code, "f<T>|g", "` f<T>\\|g `");
  expect(cli_md_code, "a`b``c", "``` a`b``c ```");
}

static void test_shell_quote(void **state)
{
  (void)state;
  expect(cli_shell_quote, "snapshots/2026-1000/plateau.heap.pb.gz",
         "snapshots/2026-1000/plateau.heap.pb.gz");
  expect(cli_shell_quote, "my run/x", "'my run/x'");
  expect(cli_shell_quote, "it's", "'it'\\''s'");
  expect(cli_shell_quote, "$(rm -rf /)", "'$(rm -rf /)'");
  expect(cli_shell_quote, "", "''");
}

static size_t count_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;

  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

static void test_write_atomic(void **state)
{
  char dir[] = "/tmp/test_cli_html.XXXXXX", path[64], bad[96];
  char err[CLI_ERRLEN] = "", buf[32] = "";
  struct stat st;
  FILE *f;

  (void)state;
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/report.html", dir);
  assert_int_equal(cli_write_atomic(path, "first", 5, err, sizeof(err)), 0);
  assert_int_equal(cli_write_atomic(path, "second!", 7, err, sizeof(err)), 0);
  f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 7);
  fclose(f);
  assert_string_equal(buf, "second!");
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
  assert_int_equal(count_entries(dir), 1); /* no temporary left */
  /* A directory that does not exist: an error naming the file. */
  snprintf(bad, sizeof(bad), "%s/missing/report.md", dir);
  assert_int_equal(cli_write_atomic(bad, "x", 1, err, sizeof(err)), CLI_EIO);
  assert_non_null(strstr(err, "missing/report.md"));
  /* A target that is a directory: rename fails, the temporary goes. */
  snprintf(bad, sizeof(bad), "%s/sub", dir);
  assert_int_equal(mkdir(bad, 0755), 0);
  assert_int_equal(cli_write_atomic(bad, "x", 1, err, sizeof(err)), CLI_EIO);
  assert_int_equal(count_entries(dir), 2);
  rmdir(bad);
  unlink(path);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_html_escape),
      cmocka_unit_test(test_md_escape),
      cmocka_unit_test(test_shell_quote),
      cmocka_unit_test(test_write_atomic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
