/*
 * Flame graphs of weighted stacks, laid out here and drawn as a static SVG
 * (no script: a <title> per frame gives the tooltip).
 *
 * Stacks are merged by function name, root first, into a tree. A diff's
 * samples come signed (NEW minus BASE): values are summed per distinct
 * stack first, and only stacks that grew are drawn, so every frame is as
 * wide as the growth under it and children never outgrow their parent.
 * What shrank is summed into `shrunk` for the caption. Children are drawn
 * widest first (ties by name) so the biggest cost sits bottom left.
 * Frames narrower than min_width pixels are not drawn, nor anything above
 * them; `hidden` counts them.
 *
 * The tree is walked recursively, so its depth is bounded: a stack deeper
 * than FLAME_MAX_DEPTH keeps its outermost frames (the leaf side is cut,
 * its value lands on the deepest kept frame) and `truncated` counts it.
 * Profiles come from outside and the decoder does not bound stack depth.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define FLAME_MAX_DEPTH 512

struct fnode {
  char *name;
  int64_t self;  /* signed sum of the stacks ending here */
  int64_t total; /* growth drawn: positive selves in this subtree */
  struct fnode *child, *next;
};

struct flame_impl {
  struct fnode root;
  size_t rect_alloc;
};

static void fnode_free(struct fnode *n)
{
  while (n != NULL) {
    struct fnode *next = n->next;
    fnode_free(n->child);
    free(n->name);
    free(n);
    n = next;
  }
}

static struct fnode *child_get(struct fnode *parent, const char *name)
{
  for (struct fnode *c = parent->child; c != NULL; c = c->next) {
    if (strcmp(c->name, name) == 0)
      return c;
  }
  struct fnode *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  if ((c->name = strdup(name)) == NULL) {
    free(c);
    return NULL;
  }
  c->next = parent->child;
  parent->child = c;
  return c;
}

static int64_t sat_add(int64_t a, int64_t b)
{
  if (b > 0 && a > INT64_MAX - b)
    return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b)
    return INT64_MIN;
  return a + b;
}

/* Totals bottom up; returns the subtree's drawn total. */
static int64_t sum_tree(struct fnode *n, int64_t *shrunk)
{
  int64_t t = n->self > 0 ? n->self : 0;

  if (n->self < 0)
    *shrunk = sat_add(*shrunk, n->self == INT64_MIN ? INT64_MAX : -n->self);
  for (struct fnode *c = n->child; c != NULL; c = c->next)
    t = sat_add(t, sum_tree(c, shrunk));
  n->total = t;
  return t;
}

static int cmp_child(const void *a, const void *b)
{
  const struct fnode *x = *(const struct fnode *const *)a;
  const struct fnode *y = *(const struct fnode *const *)b;

  if (x->total != y->total)
    return x->total > y->total ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int push_rect(struct cli_flame *f, struct flame_impl *impl,
                     const struct fnode *n, double x, double w, int depth)
{
  if (f->nrects == impl->rect_alloc) {
    struct cli_flame_rect *r =
        npc_grow(f->rects, &impl->rect_alloc, sizeof(*r), 64);
    if (r == NULL)
      return CLI_ENOMEM;
    f->rects = r;
  }
  f->rects[f->nrects++] = (struct cli_flame_rect){
      .name = n->name, .x = x, .w = w, .depth = depth, .value = n->total};
  if (depth > f->max_depth)
    f->max_depth = depth;
  return 0;
}

/* Lays out the children of `n`, which spans [x, x + w). Recursion depth
 * is bounded by the stack depth of the profile (decode validated it). */
static int layout(struct cli_flame *f, struct flame_impl *impl,
                  const struct fnode *n, double x, double w, int depth,
                  double min_width)
{
  size_t nk = 0;
  for (const struct fnode *c = n->child; c != NULL; c = c->next)
    nk += c->total > 0;
  if (nk == 0)
    return 0;
  struct fnode **kids = malloc(nk * sizeof(*kids));
  if (kids == NULL)
    return CLI_ENOMEM;
  size_t k = 0;
  for (struct fnode *c = n->child; c != NULL; c = c->next) {
    if (c->total > 0)
      kids[k++] = c;
  }
  qsort(kids, nk, sizeof(*kids), cmp_child);
  int rc = 0;
  for (size_t i = 0; i < nk && rc == 0; i++) {
    double cw = w * ((double)kids[i]->total / (double)n->total);
    if (cw < min_width) {
      f->hidden++;
    } else if ((rc = push_rect(f, impl, kids[i], x, cw, depth)) == 0) {
      rc = layout(f, impl, kids[i], x, cw, depth + 1, min_width);
    }
    x += cw;
  }
  free(kids);
  return rc;
}

int cli_flame_build(const struct cli_wsample *ws, size_t n, double width,
                    double min_width, struct cli_flame *out)
{
  assert((ws != NULL || n == 0) && out != NULL && width > 0);
  struct flame_impl *impl = calloc(1, sizeof(*impl));
  if (impl == NULL)
    return CLI_ENOMEM;
  if ((impl->root.name = strdup("all")) == NULL) {
    free(impl);
    return CLI_ENOMEM;
  }
  struct cli_flame f = {0};
  char name_buf[CLI_NAME_MAX];
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    struct fnode *at = &impl->root;
    if (ws[i].value == 0)
      continue;
    size_t stop = 0;
    if (ws[i].nframes > FLAME_MAX_DEPTH) {
      stop = ws[i].nframes - FLAME_MAX_DEPTH;
      f.truncated++;
    }
    for (size_t j = ws[i].nframes; j-- > stop;) {
      const char *name =
          cli_frame_name(ws[i].frames[j], name_buf, sizeof(name_buf));
      if ((at = child_get(at, name)) == NULL) {
        rc = CLI_ENOMEM;
        goto fail;
      }
    }
    at->self = sat_add(at->self, ws[i].value);
  }
  f.total = sum_tree(&impl->root, &f.shrunk);
  f.width = width;
  f.impl = impl;
  if (f.total > 0) {
    if ((rc = push_rect(&f, impl, &impl->root, 0, width, 0)) != 0 ||
        (rc = layout(&f, impl, &impl->root, 0, width, 1, min_width)) != 0)
      goto fail;
  }
  *out = f;
  return 0;
fail:
  free(f.rects);
  fnode_free(impl->root.child);
  free(impl->root.name);
  free(impl);
  return rc;
}

void cli_flame_free(struct cli_flame *f)
{
  if (f == NULL)
    return;
  struct flame_impl *impl = f->impl;
  if (impl != NULL) {
    fnode_free(impl->root.child);
    free(impl->root.name);
    free(impl);
  }
  free(f->rects);
  memset(f, 0, sizeof(*f));
}

/* flamegraph.pl's "hot" palette, from a hash of the name so a function
 * keeps its colour across graphs. */
static void color(const char *name, char *buf, size_t len)
{
  uint32_t h = 2166136261u;

  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  snprintf(buf, len, "rgb(%u,%u,%u)", 205 + (h & 0xff) * 50 / 255,
           ((h >> 8) & 0xff) * 230 / 255, ((h >> 16) & 0xff) * 55 / 255);
}

/* The label that fits `w` pixels at ~7 px a character: the name, or its
 * head and "..", cut on a UTF-8 boundary; "" when under 3 characters fit. */
static void fit_label(const char *name, double w, char *buf, size_t len)
{
  size_t fit = w > 6 ? (size_t)((w - 6) / 7) : 0, n = strlen(name);

  buf[0] = '\0';
  if (fit < 3)
    return;
  if (n <= fit) {
    snprintf(buf, len, "%s", name);
    return;
  }
  n = fit - 2;
  if (n + 3 > len)
    n = len - 3;
  while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
    n--;
  memcpy(buf, name, n);
  memcpy(buf + n, "..", 3);
}

int cli_flame_svg(FILE *out, const struct cli_flame *f, const char *unit)
{
  assert(out != NULL && f != NULL);
  const double row = 17, top = 4;
  double height = top + (f->max_depth + 1) * row + 2;
  fprintf(out,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flame\" "
          "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
          "font-family=\"monospace\" font-size=\"12\" role=\"img\">\n",
          f->width, height, f->width, height);
  for (size_t i = 0; i < f->nrects; i++) {
    const struct cli_flame_rect *r = &f->rects[i];
    /* Root at the bottom: a flame, not an icicle. */
    double y = top + (f->max_depth - r->depth) * row;
    char value[64], pct[16], fill[32], label[256];
    cli_format_value(r->value, unit, NULL, value, sizeof(value));
    cli_format_percent(r->value, f->total, pct, sizeof(pct));
    color(r->name, fill, sizeof(fill));
    fputs("<g><title>", out);
    cli_html_escape(out, r->name);
    fprintf(out, " (%s, %s)</title>", value, pct + strspn(pct, " "));
    fprintf(out,
            "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
            "fill=\"%s\" rx=\"2\"/>",
            r->x, y, r->w > 0.5 ? r->w - 0.5 : r->w, row - 1, fill);
    fit_label(r->name, r->w, label, sizeof(label));
    if (label[0] != '\0') {
      fprintf(out, "<text x=\"%.2f\" y=\"%.1f\">", r->x + 3, y + row - 5);
      cli_html_escape(out, label);
      fputs("</text>", out);
    }
    fputs("</g>\n", out);
  }
  fputs("</svg>\n", out);
  return ferror(out) ? CLI_EIO : 0;
}
