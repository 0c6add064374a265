/* Unit tests for profiler/cli/doc.c: one call, both formats, each escaped
 * for its own; a self-contained HTML page; the atomic write of the pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static void test_doc_both_formats(void **state)
{
  (void)state;
  struct cli_doc d;
  assert_int_equal(cli_doc_open(&d, "Report: <run> *1*"), 0);
  cli_doc_para(&d, "headline", "%d users & <more>", 5);
  cli_doc_h2(&d, "cost", "Cost | per user");
  cli_doc_h3(&d, "Connect <ms>");
  static const char *const heads[] = {"flat", "function"};
  const char *cells[] = {"+1.0 KiB", "std::vector<int>::push_back|x"};
  cli_doc_table_head(&d, 2, heads, "rl");
  cli_doc_table_row(&d, 2, cells, "rl", 1u << 1);
  cli_doc_table_end(&d);
  cli_doc_command(&d, "go tool pprof -top 'a b'");
  cli_doc_md_note(&d, "only in markdown");
  assert_int_equal(cli_doc_close(&d), 0);

  const char *md = d.mdbuf, *html = d.htmlbuf;
  assert_true(strncmp(md, "# Report: &lt;run&gt; \\*1\\*\n", 28) == 0);
  assert_non_null(strstr(md, "**5 users &amp; &lt;more&gt;**\n"));
  assert_non_null(strstr(md, "\n## Cost \\| per user\n\n"));
  assert_non_null(strstr(md, "\n### Connect &lt;ms&gt;\n\n"));
  assert_non_null(strstr(md, "| flat | function |\n| ---: | --- |\n"));
  assert_non_null(strstr(md, "` std::vector<int>::push_back\\|x `"));
  assert_non_null(strstr(md, "    go tool pprof -top 'a b'\n"));
  assert_non_null(strstr(md, "only in markdown"));

  assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
  assert_non_null(strstr(html, "<title>Report: &lt;run&gt; *1*</title>"));
  assert_non_null(strstr(html, "<h2 id=\"cost\">Cost | per user</h2>\n"));
  assert_non_null(strstr(html, "<h3>Connect &lt;ms&gt;</h3>\n"));
  assert_non_null(strstr(html, "<p class=\"headline\">5 users &amp; "
                               "&lt;more&gt;</p>"));
  assert_non_null(strstr(html, "<code>std::vector&lt;int&gt;::push_back|x"
                               "</code>"));
  assert_non_null(strstr(html, "<pre><code>go tool pprof -top &#39;a b&#39;"));
  assert_null(strstr(html, "only in markdown"));
  assert_null(strstr(html, "<script"));
  assert_non_null(strstr(html, "</body>\n</html>\n"));

  char dir[] = "/tmp/test_cli_doc.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char err[CLI_ERRLEN];
  assert_int_equal(cli_doc_write(&d, dir, "x.md", "x.html", err, sizeof(err)),
                   0);
  char path[64], *back = NULL;
  size_t len;
  snprintf(path, sizeof(path), "%s/x.md", dir);
  assert_int_equal(cli_read_file(path, 1 << 20, &back, &len, err, sizeof(err)),
                   0);
  assert_int_equal(len, d.mdlen);
  free(back);
  unlink(path);
  snprintf(path, sizeof(path), "%s/x.html", dir);
  unlink(path);
  rmdir(dir);
  /* An unwritable place: an error naming the file. */
  assert_int_equal(
      cli_doc_write(&d, "/nonexistent/dir", "x.md", "x.html", err, sizeof(err)),
      CLI_EIO);
  assert_non_null(strstr(err, "/nonexistent/dir/x.md"));
  cli_doc_free(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_doc_both_formats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
