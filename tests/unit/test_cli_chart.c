/* Unit tests for profiler/cli/chart.c: label rows never overlap, tick
 * steps, and the SVG of a time chart (a gap breaks a line, every point is
 * drawn, bands and marks are there) and of a latency histogram. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static void test_label_rows(void **state)
{
  (void)state;
  /* Five labels 40 px wide, 20 px apart: they need two rows, and no two
   * in a row may overlap (4 px gap). */
  double x[] = {100, 60, 80, 140, 120}, w[] = {40, 40, 40, 40, 40};
  int row[5];
  int used = cli_label_rows(x, w, 5, 4, 3, row);
  assert_int_equal(used, 3);
  for (int i = 0; i < 5; i++) {
    assert_true(row[i] >= 0);
    for (int j = 0; j < 5; j++) {
      if (i != j && row[i] == row[j])
        assert_true(fabs(x[i] - x[j]) >= (w[i] + w[j]) / 2 + 4);
    }
  }
  /* One row only: the ones that do not fit are left out (-1). */
  used = cli_label_rows(x, w, 5, 4, 1, row);
  assert_int_equal(used, 1);
  int placed = 0;
  for (int i = 0; i < 5; i++)
    placed += row[i] == 0;
  assert_int_equal(placed, 2); /* 60 and 120 (or 100 and 140) */
  assert_int_equal(cli_label_rows(NULL, NULL, 0, 4, 2, NULL), 0);
}

static void test_nice_step(void **state)
{
  (void)state;
  assert_true(cli_nice_step(100, 5) == 20);
  assert_true(cli_nice_step(60, 8) == 10);
  assert_true(fabs(cli_nice_step(1.3, 4) - 0.2) < 1e-12);
  assert_true(cli_nice_step(0, 4) == 1);
}

static size_t count(const char *s, const char *needle)
{
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

static void render_time(const double *y, size_t n, char **out)
{
  double x[64];
  for (size_t i = 0; i < n; i++)
    x[i] = 1000 + (double)i;
  struct cli_series s = {
      .name = "RSS", .color = "#d62728", .x = x, .y = y, .n = n};
  struct cli_panel p = {
      .title = "Memory <&>", .bytes = true, .series = &s, .nseries = 1};
  struct cli_band b[2] = {{1000, 1004, "baseline"},
                          {1004, 1000 + (double)n - 1, "ramp"}};
  struct cli_mark m = {1002, "baseline"};
  struct cli_timechart c = {.x0 = 1000,
                            .x1 = 1000 + (double)n - 1,
                            .panels = &p,
                            .npanels = 1,
                            .bands = b,
                            .nbands = 2,
                            .marks = &m,
                            .nmarks = 1};
  size_t len = 0;
  FILE *f = open_memstream(out, &len);
  assert_int_equal(cli_chart_time_svg(f, &c), 0);
  fclose(f);
}

static void test_time_chart(void **state)
{
  (void)state;
  double y[10] = {1, 2, 3, NAN, 5, 6, 7, 8, NAN, 10};
  char *svg = NULL;
  render_time(y, 10, &svg);
  assert_true(strncmp(svg, "<svg ", 5) == 0);
  assert_non_null(strstr(svg, "class=\"timeline\""));
  assert_null(strstr(svg, "<script"));
  /* Two lines (the gaps break it) of 3 and 4 points, and a lone point. */
  assert_int_equal(count(svg, "<polyline"), 2);
  assert_int_equal(count(svg, "<circle class=\"series\""), 1);
  const char *pl = strstr(svg, "points=\"");
  assert_non_null(pl);
  size_t commas = 0;
  for (const char *q = pl + 8; *q != '"'; q++)
    commas += *q == ',';
  assert_int_equal(commas, 3);
  assert_int_equal(count(svg, "class=\"band\""), 2);
  assert_int_equal(count(svg, "class=\"mark\""), 1);
  assert_non_null(strstr(svg, "Memory &lt;&amp;&gt;"));
  free(svg);
}

static void test_latency_chart(void **state)
{
  (void)state;
  struct cli_hist_bin bins[3] = {{1, 1.1, 10}, {2, 2.1, 30}, {10, 11, 1}};
  struct cli_latency l = {.key = "connect_ms",
                          .title = "connect",
                          .count = 41,
                          .p50 = 2.1,
                          .p90 = 2.1,
                          .p99 = 11,
                          .p999 = 11,
                          .max = 11,
                          .bins = bins,
                          .nbins = 3};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_int_equal(cli_chart_latency_svg(f, &l), 0);
  fclose(f);
  assert_non_null(strstr(text, "data-latency=\"connect_ms\""));
  assert_int_equal(count(text, "class=\"bar\""), 3);
  assert_int_equal(count(text, "class=\"pct\""), 5);
  /* p50 and p90 sit at one place: their labels take two rows. */
  assert_non_null(strstr(text, ">p50 2.10 ms</text>"));
  assert_non_null(strstr(text, ">p90 2.10 ms</text>"));
  free(text);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_label_rows),
      cmocka_unit_test(test_nice_step),
      cmocka_unit_test(test_time_chart),
      cmocka_unit_test(test_latency_chart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
