/* Unit tests for profiler/cli/flame.c: tree merge by function name, the
 * per-stack treatment of signed (diff) values, widths, order, hiding of
 * narrow frames, and the SVG's escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "cli.h"

static struct cli_frame fr(const char *name)
{
  return (struct cli_frame){
      .function = name, .system_name = name, .file = "", .mapping = ""};
}

/* Frames, leaf first, as the decoder gives them. */
static struct cli_frame f_main, f_a, f_b, f_c, f_odd;
static const struct cli_frame *s_a[] = {&f_a, &f_main};
static const struct cli_frame *s_b[] = {&f_b, &f_main};
static const struct cli_frame *s_main[] = {&f_main};
static const struct cli_frame *s_c[] = {&f_c, &f_main};
static const struct cli_frame *s_odd[] = {&f_odd, &f_main};

/* The group's fixture: the frames every test's stacks point at. */
static int init_frames(void **state)
{
  (void)state;
  f_main = fr("main");
  f_a = fr("a");
  f_b = fr("b");
  f_c = fr("c");
  f_odd = fr("<script>&\"x\"");
  return 0;
}

static const struct cli_flame_rect *find(const struct cli_flame *f,
                                         const char *name)
{
  for (size_t i = 0; i < f->nrects; i++) {
    if (strcmp(f->rects[i].name, name) == 0)
      return &f->rects[i];
  }
  return NULL;
}

/* The SVG of f, as cli_flame_svg writes it (the caller frees). */
static char *svg_of(const struct cli_flame *f)
{
  struct capture c;
  assert_int_equal(cli_flame_svg(capture_open(&c), f, "bytes"), 0);
  return capture_close(&c);
}

static void test_flame_layout(void **state)
{
  /* NEW: a 30, b 10, main 10 (self), c 0; BASE (negated): a 10, c 5. */
  const struct cli_wsample ws[] = {
      {.frames = s_a, .nframes = 2, .value = 30},
      {.frames = s_b, .nframes = 2, .value = 10},
      {.frames = s_main, .nframes = 1, .value = 10},
      {.frames = s_a, .nframes = 2, .value = -10},
      {.frames = s_c, .nframes = 2, .value = -5},
  };
  struct cli_flame f;
  const struct cli_flame_rect *r;

  (void)state;
  assert_int_equal(cli_flame_build(ws, 5, 400, 1, &f), 0);
  assert_int_equal(f.total, 40); /* a 20 + b 10 + main 10; c shrank */
  assert_int_equal(f.shrunk, 5);
  assert_int_equal(f.max_depth, 2);
  assert_int_equal(f.nrects, 4); /* all, main, a, b */
  assert_int_equal(f.hidden, 0);
  assert_string_equal(f.rects[0].name, "all");
  assert_int_equal(f.rects[0].depth, 0);
  assert_true(f.rects[0].w == 400);
  r = find(&f, "main");
  assert_non_null(r);
  assert_int_equal(r->depth, 1);
  assert_int_equal(r->value, 40);
  assert_true(r->x == 0 && r->w == 400);
  /* Widest child first, from the parent's left edge. */
  r = find(&f, "a");
  assert_non_null(r);
  assert_int_equal(r->depth, 2);
  assert_int_equal(r->value, 20);
  assert_true(r->x == 0 && r->w == 200);
  r = find(&f, "b");
  assert_non_null(r);
  assert_true(r->x == 200 && r->w == 100);
  assert_null(find(&f, "c"));
  /* Parents come before their children. */
  assert_true(find(&f, "main") < find(&f, "a"));
  cli_flame_free(&f);
  cli_flame_free(&f); /* zeroed: a second free is harmless */
  cli_flame_free(NULL);
}

static void test_flame_hides_narrow(void **state)
{
  const struct cli_wsample ws[] = {
      {.frames = s_a, .nframes = 2, .value = 99},
      {.frames = s_b, .nframes = 2, .value = 1},
  };
  struct cli_flame f;

  (void)state;
  /* b is 1% of 100 px: under the 2 px minimum. */
  assert_int_equal(cli_flame_build(ws, 2, 100, 2, &f), 0);
  assert_int_equal(f.hidden, 1);
  assert_null(find(&f, "b"));
  assert_non_null(find(&f, "a"));
  cli_flame_free(&f);
}

static void test_flame_nothing_grew(void **state)
{
  const struct cli_wsample ws[] = {
      {.frames = s_a, .nframes = 2, .value = -7},
      {.frames = s_a, .nframes = 2, .value = 7},
  };
  struct cli_flame f;

  (void)state;
  assert_int_equal(cli_flame_build(ws, 2, 100, 1, &f), 0);
  assert_int_equal(f.total, 0);
  assert_int_equal(f.nrects, 0);
  assert_int_equal(f.shrunk, 0); /* net zero per stack: neither */
  cli_flame_free(&f);
  assert_int_equal(cli_flame_build(NULL, 0, 100, 1, &f), 0);
  assert_int_equal(f.nrects, 0);
  cli_flame_free(&f);
}

static void test_flame_svg_escapes(void **state)
{
  const struct cli_wsample ws[] = {
      {.frames = s_odd, .nframes = 2, .value = 3072},
  };
  struct cli_flame f;

  (void)state;
  assert_int_equal(cli_flame_build(ws, 1, 1200, 1, &f), 0);
  char *svg = svg_of(&f);
  assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  assert_non_null(strstr(
      svg, "<title>&lt;script&gt;&amp;&quot;x&quot; (3kB, 100%)</title>"));
  assert_null(strstr(svg, "<script"));
  /* Three frames (all, main, the odd one), each a rect with a label. */
  size_t rects = 0;
  for (const char *p = svg; (p = strstr(p, "<rect ")) != NULL; p++)
    rects++;
  assert_int_equal(rects, 3);
  assert_non_null(strstr(svg, ">main</text>"));
  assert_non_null(strstr(svg, "</svg>\n"));
  free(svg);
  cli_flame_free(&f);
}

static void test_flame_label_truncation(void **state)
{
  static struct cli_frame longf;
  static const struct cli_frame *s_long[] = {&longf, &f_main};
  const struct cli_wsample ws[] = {
      {.frames = s_long, .nframes = 2, .value = 10},
      {.frames = s_a, .nframes = 2, .value = 90},
  };
  struct cli_flame f;

  (void)state;
  /* 10% of 1000 px = 100 px: (100 - 6) / 7 = 13 characters fit. */
  longf = fr("averyveryverylongfunctionname\xc3\xa9");
  assert_int_equal(cli_flame_build(ws, 2, 1000, 1, &f), 0);
  char *svg = svg_of(&f);
  assert_non_null(strstr(svg, ">averyveryve..</text>"));
  free(svg);
  cli_flame_free(&f);
}

static void test_flame_depth_bound(void **state)
{
  enum { DEEP = 600 };
  static const struct cli_frame *deep[DEEP];
  const struct cli_wsample ws[] = {
      {.frames = deep, .nframes = DEEP, .value = 8},
      {.frames = s_a, .nframes = 2, .value = 8},
  };
  struct cli_flame f;

  (void)state;
  deep[0] = &f_b; /* the leaf side is what gets cut */
  for (int i = 1; i < DEEP; i++)
    deep[i] = &f_main;
  assert_int_equal(cli_flame_build(ws, 2, 1000, 0, &f), 0);
  assert_int_equal(f.truncated, 1);
  assert_int_equal(f.total, 16);
  assert_int_equal(f.max_depth, 512);
  assert_null(find(&f, "b"));
  cli_flame_free(&f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flame_layout),
      cmocka_unit_test(test_flame_hides_narrow),
      cmocka_unit_test(test_flame_nothing_grew),
      cmocka_unit_test(test_flame_svg_escapes),
      cmocka_unit_test(test_flame_label_truncation),
      cmocka_unit_test(test_flame_depth_bound),
  };
  return cmocka_run_group_tests(tests, init_frames, NULL);
}
