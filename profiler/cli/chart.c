/*
 * The reports' charts as static SVG (no script; a <title> on each element
 * gives its tooltip), next to flame.c's flame graphs:
 *  - time charts: panels stacked over one time axis (memory, users,
 *    threads, open files through a run), the phases shaded across all of
 *    them, the snapshots marked;
 *  - latency histograms: bars over a logarithmic time axis, with the
 *    percentiles marked.
 *
 * No two labels overlap: each label's width is estimated from its length
 * (LABEL_CHAR px a character at the 11 px font, a little more than the
 * average glyph), and labels sharing a line are put into rows by
 * cli_label_rows(); one that fits in no row is left out (its element
 * keeps a <title>, and the tables beside the chart have the numbers).
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define FONT 11
#define LABEL_CHAR 7.0
#define MAX_LABELS 64

static double label_width(const char *s)
{
  return LABEL_CHAR * (double)strlen(s) + 4;
}

double cli_nice_step(double range, int ticks)
{
  if (!(range > 0) || ticks < 1)
    return 1;
  double raw = range / ticks, p = pow(10, floor(log10(raw)));
  double m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

struct by_x {
  double x;
  size_t i;
};

static int cmp_x(const void *a, const void *b)
{
  const struct by_x *p = a, *q = b;
  if (p->x != q->x)
    return p->x < q->x ? -1 : 1;
  return p->i < q->i ? -1 : p->i > q->i;
}

int cli_label_rows(const double *x, const double *w, size_t n, double gap,
                   int max_rows, int *row)
{
  assert((x != NULL && w != NULL && row != NULL) || n == 0);
  struct by_x order[MAX_LABELS];
  double right[8];
  int used = 0;

  if (max_rows > 8)
    max_rows = 8;
  for (size_t i = 0; i < n; i++)
    row[i] = -1;
  if (n > MAX_LABELS)
    n = MAX_LABELS;
  for (size_t i = 0; i < n; i++)
    order[i] = (struct by_x){.x = x[i], .i = i};
  qsort(order, n, sizeof(order[0]), cmp_x);
  for (int r = 0; r < max_rows; r++)
    right[r] = -INFINITY;
  for (size_t k = 0; k < n; k++) {
    size_t i = order[k].i;
    double left = x[i] - w[i] / 2;
    for (int r = 0; r < max_rows; r++) {
      if (right[r] + gap <= left) {
        row[i] = r;
        right[r] = x[i] + w[i] / 2;
        if (r + 1 > used)
          used = r + 1;
        break;
      }
    }
  }
  return used;
}

/* Keeps a label of width w centred near x inside [lo, hi]. */
static double clamp_centre(double x, double w, double lo, double hi)
{
  if (x - w / 2 < lo)
    x = lo + w / 2;
  if (x + w / 2 > hi)
    x = hi - w / 2;
  return x;
}

static void text(FILE *out, double x, double y, const char *anchor,
                 const char *cls, const char *s)
{
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"", x, y, anchor);
  if (cls != NULL)
    fprintf(out, " class=\"%s\"", cls);
  fputc('>', out);
  cli_html_escape(out, s);
  fputs("</text>\n", out);
}

/* ---- time charts ---- */

enum {
  TC_WIDTH = 900,
  TC_LEFT = 80,   /* room for the y labels */
  TC_PLOT = 620,  /* plot width */
  TC_LEGEND = 20, /* gap before the legend column */
  TC_PANEL = 120, /* plot height */
  TC_PANEL_GAP = 44,
  TC_BAND_ROWS = 2,
  TC_ROW = 14
};

static const char *band_fill(const char *label)
{
  static const struct {
    const char *name, *fill;
  } fills[] = {{"baseline", "#e8e8e8"}, {"ramp", "#fde9b6"},
               {"plateau", "#cfe8d4"},  {"hold", "#cfe8d4"},
               {"drain", "#f5d0d3"},    {"drained", "#dcdde8"}};
  for (size_t i = 0; label != NULL && i < sizeof(fills) / sizeof(fills[0]);
       i++) {
    if (strcmp(label, fills[i].name) == 0)
      return fills[i].fill;
  }
  return "#eeeeee";
}

/* A span in seconds as an axis label: "0 s", "90 s", "2.5 s". */
static void seconds_label(double s, char *buf, size_t len)
{
  snprintf(buf, len, "%g s", fabs(s) < 1e-9 ? 0 : s);
}

static void y_label(double v, bool bytes, char *buf, size_t len)
{
  if (bytes)
    cli_fmt_bytes(v, false, buf, len);
  else if (v == floor(v))
    snprintf(buf, len, "%.0f", v);
  else
    snprintf(buf, len, "%g", v);
}

static void panel(FILE *out, const struct cli_timechart *c,
                  const struct cli_panel *p, double y0)
{
  double span = c->x1 - c->x0, max = 0;
  char lab[64];

  for (size_t s = 0; s < p->nseries; s++)
    for (size_t i = 0; i < p->series[s].n; i++)
      if (!isnan(p->series[s].y[i]) && p->series[s].y[i] > max)
        max = p->series[s].y[i];
  /* Bytes on 1024 steps read badly as ticks: step in the unit of max. */
  double unit = 1;
  if (p->bytes)
    while (unit * 1024 <= max && unit < 1099511627776.0)
      unit *= 1024;
  double step = cli_nice_step(max > 0 ? max / unit : 1, 3) * unit;
  if (!p->bytes && step < 1)
    step = 1; /* counts: whole ticks */
  double top = max > 0 ? ceil(max / step) * step : step;

  fprintf(out, "<g class=\"panel\" data-panel=\"");
  cli_html_escape(out, p->title);
  fputs("\">\n", out);
  fprintf(out,
          "<text x=\"%d\" y=\"%.1f\" font-weight=\"bold\" "
          "class=\"title\">",
          TC_LEFT, y0 - 8);
  cli_html_escape(out, p->title);
  fputs("</text>\n", out);
  fprintf(out,
          "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"none\" "
          "stroke=\"#bbb\"/>\n",
          TC_LEFT, y0, TC_PLOT, TC_PANEL);
  for (double v = 0; v <= top * 1.0001; v += step) {
    double y = y0 + TC_PANEL - TC_PANEL * v / top;
    fprintf(out,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
            "stroke=\"#ddd\"/>\n",
            TC_LEFT, y, TC_LEFT + TC_PLOT, y);
    y_label(v, p->bytes, lab, sizeof(lab));
    text(out, TC_LEFT - 6, y + 4, "end", "axis", lab);
  }
  for (size_t s = 0; s < p->nseries; s++) {
    const struct cli_series *se = &p->series[s];
    size_t i = 0;
    while (i < se->n) {
      while (i < se->n && isnan(se->y[i]))
        i++;
      size_t start = i;
      while (i < se->n && !isnan(se->y[i]))
        i++;
      if (i == start)
        break;
      if (i - start == 1) { /* a lone point between gaps */
        fprintf(out,
                "<circle class=\"series\" data-series=\"%s\" cx=\"%.1f\" "
                "cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                se->name, TC_LEFT + TC_PLOT * (se->x[start] - c->x0) / span,
                y0 + TC_PANEL - TC_PANEL * se->y[start] / top, se->color);
        continue;
      }
      fprintf(out,
              "<polyline class=\"series\" data-series=\"%s\" fill=\"none\" "
              "stroke=\"%s\" stroke-width=\"1.5\" points=\"",
              se->name, se->color);
      for (size_t k = start; k < i; k++)
        fprintf(out, "%s%.1f,%.1f", k > start ? " " : "",
                TC_LEFT + TC_PLOT * (se->x[k] - c->x0) / span,
                y0 + TC_PANEL - TC_PANEL * se->y[k] / top);
      fputs("\"><title>", out);
      cli_html_escape(out, se->name);
      fputs("</title></polyline>\n", out);
    }
    /* The legend: one line per series beside the plot. */
    double ly = y0 + 12 + 18 * (double)s;
    fprintf(out,
            "<rect x=\"%d\" y=\"%.1f\" width=\"10\" height=\"10\" "
            "fill=\"%s\"/>\n",
            TC_LEFT + TC_PLOT + TC_LEGEND, ly - 9, se->color);
    text(out, TC_LEFT + TC_PLOT + TC_LEGEND + 14, ly, "start", "legend",
         se->name);
  }
  fputs("</g>\n", out);
}

int cli_chart_time_svg(FILE *out, const struct cli_timechart *c)
{
  assert(out != NULL && c != NULL && c->x1 > c->x0);
  double band_top = TC_ROW * TC_BAND_ROWS + 6;
  double first = band_top + 24; /* the first panel's title row */
  double last_bottom =
      first + (double)c->npanels * (TC_PANEL + TC_PANEL_GAP) - TC_PANEL_GAP;
  double height = last_bottom + 34;
  double span = c->x1 - c->x0;
  char lab[64];

  fprintf(out,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" "
          "width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
          "font-family=\"sans-serif\" font-size=\"%d\" role=\"img\">\n",
          TC_WIDTH, height, TC_WIDTH, height, FONT);
  /* Phases: shaded across every panel, labelled in rows above. */
  double bx[MAX_LABELS] = {0}, bw[MAX_LABELS] = {0};
  int brow[MAX_LABELS];
  size_t nb = c->nbands < MAX_LABELS ? c->nbands : MAX_LABELS;
  for (size_t i = 0; i < nb; i++) {
    const struct cli_band *b = &c->bands[i];
    double x0 = TC_LEFT + TC_PLOT * (fmax(b->x0, c->x0) - c->x0) / span;
    double x1 = TC_LEFT + TC_PLOT * (fmin(b->x1, c->x1) - c->x0) / span;
    if (x1 < x0)
      x1 = x0;
    fprintf(out,
            "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.6\"><title>",
            x0, band_top, x1 - x0, last_bottom - band_top, band_fill(b->label));
    cli_html_escape(out, b->label);
    fprintf(out, ": %.1f s</title></rect>\n", b->x1 - b->x0);
    bw[i] = label_width(b->label);
    bx[i] = clamp_centre((x0 + x1) / 2, bw[i], 0, TC_LEFT + TC_PLOT);
  }
  cli_label_rows(bx, bw, nb, 4, TC_BAND_ROWS, brow);
  for (size_t i = 0; i < nb; i++) {
    if (brow[i] >= 0)
      text(out, bx[i], TC_ROW * (brow[i] + 1), "middle", "phase",
           c->bands[i].label);
  }
  for (size_t i = 0; i < c->nmarks; i++) {
    double x = TC_LEFT + TC_PLOT * (c->marks[i].x - c->x0) / span;
    if (x < TC_LEFT || x > TC_LEFT + TC_PLOT)
      continue;
    fprintf(out,
            "<line class=\"mark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"3,3\"><title>",
            x, band_top, x, last_bottom);
    cli_html_escape(out, c->marks[i].label);
    fputs("</title></line>\n", out);
  }
  for (size_t i = 0; i < c->npanels; i++)
    panel(out, c, &c->panels[i], first + (double)i * (TC_PANEL + TC_PANEL_GAP));
  /* The time axis under the last panel. */
  double step = cli_nice_step(span, 8);
  for (double s = 0; s <= span * 1.0001; s += step) {
    double x = TC_LEFT + TC_PLOT * s / span;
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#999\"/>\n",
            x, last_bottom, x, last_bottom + 4);
    seconds_label(s, lab, sizeof(lab));
    text(out, x, last_bottom + 17, "middle", "axis", lab);
  }
  text(out, TC_LEFT + TC_PLOT + TC_LEGEND, last_bottom + 17, "start", "axis",
       "since the first sample");
  fputs("</svg>\n", out);
  return ferror(out) ? CLI_EIO : 0;
}

/* ---- latency histograms ---- */

enum {
  LC_WIDTH = 760,
  LC_LEFT = 60,
  LC_PLOT = 600,
  LC_ROWS = 3,
  LC_PLOT_H = 110,
  LC_BINS = 60
};

int cli_chart_latency_svg(FILE *out, const struct cli_latency *l)
{
  assert(out != NULL && l != NULL && l->nbins > 0);
  /* The axis spans the recorded values, in decades; a bin starting at 0
   * (an exact value of 0 us) is drawn at the axis' start. */
  double lo = INFINITY, hi = 0;
  for (size_t i = 0; i < l->nbins; i++) {
    if (l->bins[i].lo > 0 && l->bins[i].lo < lo)
      lo = l->bins[i].lo;
    if (l->bins[i].hi > hi)
      hi = l->bins[i].hi;
  }
  if (!isfinite(lo))
    lo = hi / 10;
  double llo = log10(lo), lhi = log10(hi);
  if (lhi - llo < 1) { /* at least a decade wide, centred */
    double mid = (llo + lhi) / 2;
    llo = mid - 0.5;
    lhi = mid + 0.5;
  }
  double counts[LC_BINS] = {0}, cmax = 0;
  for (size_t i = 0; i < l->nbins; i++) {
    double mid = l->bins[i].lo > 0 ? sqrt(l->bins[i].lo * l->bins[i].hi) : lo;
    int k = (int)((log10(mid) - llo) / (lhi - llo) * LC_BINS);
    k = k < 0 ? 0 : k >= LC_BINS ? LC_BINS - 1 : k;
    counts[k] += l->bins[i].count;
  }
  for (int k = 0; k < LC_BINS; k++)
    cmax = fmax(cmax, counts[k]);
  double plot_top = TC_ROW * LC_ROWS + 8;
  double bottom = plot_top + LC_PLOT_H;
  double height = bottom + 34;
  char lab[64], v[32];

  fprintf(out,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"latency\" "
          "data-latency=\"%s\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d "
          "%.0f\" font-family=\"sans-serif\" font-size=\"%d\" role=\"img\">\n",
          l->key, LC_WIDTH, height, LC_WIDTH, height, FONT);
  fprintf(out,
          "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"none\" "
          "stroke=\"#bbb\"/>\n",
          LC_LEFT, plot_top, LC_PLOT, LC_PLOT_H);
  double bw = (double)LC_PLOT / LC_BINS;
  for (int k = 0; k < LC_BINS; k++) {
    if (counts[k] <= 0)
      continue;
    double h = LC_PLOT_H * counts[k] / cmax;
    double from = pow(10, llo + (lhi - llo) * k / LC_BINS);
    double to = pow(10, llo + (lhi - llo) * (k + 1) / LC_BINS);
    char a[32], b[32];
    fprintf(out,
            "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\" fill=\"#4c78a8\"><title>%s to %s: %.0f</title>"
            "</rect>\n",
            LC_LEFT + bw * k + 0.5, bottom - h, bw - 1, h,
            cli_fmt_ms(from, a, sizeof(a)), cli_fmt_ms(to, b, sizeof(b)),
            counts[k]);
  }
  /* y: a count scale, 0 and the tallest bar */
  snprintf(lab, sizeof(lab), "%.0f", cmax);
  text(out, LC_LEFT - 6, plot_top + 4, "end", "axis", lab);
  text(out, LC_LEFT - 6, bottom + 4, "end", "axis", "0");
  /* x: decades (and 2, 5 between them on a short axis), no overlap */
  double tx[MAX_LABELS] = {0}, tw[MAX_LABELS] = {0}, tv[MAX_LABELS] = {0};
  int trow[MAX_LABELS];
  size_t nt = 0;
  for (double d = floor(llo); d <= ceil(lhi) && nt < MAX_LABELS - 3; d++) {
    static const double steps[] = {1, 2, 5};
    for (size_t s = 0; s < 3 && nt < MAX_LABELS; s++) {
      if (s > 0 && lhi - llo > 2.5)
        break;
      double val = steps[s] * pow(10, d), lv = log10(val);
      if (lv < llo - 1e-9 || lv > lhi + 1e-9)
        continue;
      tv[nt] = val;
      tx[nt] = LC_LEFT + LC_PLOT * (lv - llo) / (lhi - llo);
      tw[nt] = label_width(cli_fmt_ms(val, lab, sizeof(lab)));
      nt++;
    }
  }
  cli_label_rows(tx, tw, nt, 6, 1, trow);
  for (size_t i = 0; i < nt; i++) {
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#999\"/>\n",
            tx[i], bottom, tx[i], bottom + 4);
    if (trow[i] == 0)
      text(out, tx[i], bottom + 17, "middle", "axis",
           cli_fmt_ms(tv[i], lab, sizeof(lab)));
  }
  /* The percentiles: lines through the plot, labels in rows above it
   * (each over its line, moved aside only to stay inside the chart). */
  struct {
    const char *name;
    double v;
  } pct[] = {{"p50", l->p50},
             {"p90", l->p90},
             {"p99", l->p99},
             {"p99.9", l->p999},
             {"max", l->max}};
  double px[5] = {0}, pw[5] = {0};
  char plab[5][48];
  int prow[5];
  size_t np = 0;
  for (size_t i = 0; i < 5; i++) {
    if (isnan(pct[i].v) || !(pct[i].v > 0))
      continue;
    double lv = fmin(fmax(log10(pct[i].v), llo), lhi);
    snprintf(plab[np], sizeof(plab[np]), "%s %s", pct[i].name,
             cli_fmt_ms(pct[i].v, v, sizeof(v)));
    pw[np] = label_width(plab[np]);
    px[np] = LC_LEFT + LC_PLOT * (lv - llo) / (lhi - llo);
    np++;
  }
  double cx[5] = {0};
  for (size_t i = 0; i < np; i++)
    cx[i] = clamp_centre(px[i], pw[i], 0, LC_WIDTH);
  cli_label_rows(cx, pw, np, 4, LC_ROWS, prow);
  for (size_t i = 0; i < np; i++) {
    fprintf(out,
            "<line class=\"pct\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\" stroke=\"#c0392b\" stroke-dasharray=\"4,2\">"
            "<title>%s</title></line>\n",
            px[i], plot_top, px[i], bottom, plab[i]);
    if (prow[i] >= 0)
      text(out, cx[i], TC_ROW * (prow[i] + 1), "middle", "pct-label", plab[i]);
  }
  fputs("</svg>\n", out);
  return ferror(out) ? CLI_EIO : 0;
}
