/*
 * The CI gates: nprof report's MAX_BYTES_PER_USER and MAX_RETAINED_BYTES,
 * nprof compare's --max-increase. Each check is data (a status and the
 * sentence that explains it), so the renderers and the exit code read the
 * status, never the text.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void add(struct cli_checks *out, enum cli_check_status status,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(struct cli_checks *out, enum cli_check_status status,
                const char *fmt, ...)
{
  if (out->n == CLI_MAX_CHECKS)
    return;
  struct cli_check *c = &out->c[out->n++];
  c->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->text, sizeof(c->text), fmt, ap);
  va_end(ap);
}

static const char *verdict(enum cli_check_status s)
{
  switch (s) {
  case CLI_CHECK_OK:
    return "ok";
  case CLI_CHECK_EXCEEDED:
    return "EXCEEDED";
  case CLI_CHECK_UNCHECKED:
    return "not checked";
  }
  return "?";
}

void cli_checks_report(const struct cli_run *r, double max_bpu,
                       double max_retained, struct cli_checks *out)
{
  assert(r != NULL && out != NULL);
  char a[32], b[32], c[32], e[32];

  memset(out, 0, sizeof(*out));
  if (!isnan(max_bpu)) {
    double rss = r->rss_per_user, heap = r->heap_per_user;
    double worst = isnan(rss) ? heap : isnan(heap) ? rss : fmax(rss, heap);
    const char *which =
        !isnan(rss) && (isnan(heap) || rss >= heap) ? "RSS" : "heap";
    cli_fmt_bytes(max_bpu, false, a, sizeof(a));
    if (isnan(worst)) {
      add(out, CLI_CHECK_UNCHECKED,
          "MAX_BYTES_PER_USER=%s not checked: no per-user cost (users, "
          "baseline or plateau missing)",
          a);
    } else {
      enum cli_check_status s =
          worst > max_bpu ? CLI_CHECK_EXCEEDED : CLI_CHECK_OK;
      add(out, s,
          "MAX_BYTES_PER_USER=%s %s: %s per user is %s (RSS %s, heap %s)", a,
          verdict(s), which, cli_fmt_bytes(worst, false, b, sizeof(b)),
          cli_fmt_bytes(rss, false, c, sizeof(c)),
          cli_fmt_bytes(heap, false, e, sizeof(e)));
    }
  }
  if (!isnan(max_retained)) {
    cli_fmt_bytes(max_retained, false, a, sizeof(a));
    if (isnan(r->retained_heap)) {
      add(out, CLI_CHECK_UNCHECKED,
          "MAX_RETAINED_BYTES=%s not checked: the baseline or drained heap "
          "is missing",
          a);
    } else {
      enum cli_check_status s =
          r->retained_heap > max_retained ? CLI_CHECK_EXCEEDED : CLI_CHECK_OK;
      add(out, s, "MAX_RETAINED_BYTES=%s %s: heap retained after drain is %s",
          a, verdict(s), cli_fmt_bytes(r->retained_heap, true, b, sizeof(b)));
    }
  }
}

void cli_checks_compare(const struct cli_compare *cmp, double max_pct,
                        struct cli_checks *out)
{
  assert(cmp != NULL && out != NULL);
  memset(out, 0, sizeof(*out));
  if (isnan(max_pct))
    return;
  const struct {
    const char *what;
    double pct, base, newv;
  } costs[] = {{"RSS per user", cmp->rss_pct, cmp->base->rss_per_user,
                cmp->newr->rss_per_user},
               {"heap per user", cmp->heap_pct, cmp->base->heap_per_user,
                cmp->newr->heap_per_user}};
  char a[32], b[32], p[32];
  for (size_t i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
    cli_fmt_bytes(costs[i].base, false, a, sizeof(a));
    cli_fmt_bytes(costs[i].newv, false, b, sizeof(b));
    if (isnan(costs[i].pct)) {
      add(out, CLI_CHECK_UNCHECKED,
          "MAX_INCREASE=%.1f%% not checked for %s: %s -> %s (a run lacks "
          "it, or the base cost is not positive)",
          max_pct, costs[i].what, a, b);
      continue;
    }
    enum cli_check_status s =
        costs[i].pct > max_pct ? CLI_CHECK_EXCEEDED : CLI_CHECK_OK;
    add(out, s, "MAX_INCREASE=%.1f%% %s: %s %s (%s -> %s)", max_pct, verdict(s),
        costs[i].what, cli_fmt_pct(costs[i].pct, p, sizeof(p)), a, b);
  }
}

int cli_checks_exit(const struct cli_checks *c)
{
  assert(c != NULL);
  bool exceeded = false, unchecked = false;
  for (size_t i = 0; i < c->n; i++) {
    exceeded |= c->c[i].status == CLI_CHECK_EXCEEDED;
    unchecked |= c->c[i].status == CLI_CHECK_UNCHECKED;
  }
  return exceeded    ? CLI_EXIT_THRESHOLD
         : unchecked ? CLI_EXIT_FAIL
                     : CLI_EXIT_OK;
}

void cli_checks_print(FILE *out, const char *verb, const struct cli_checks *c)
{
  assert(out != NULL && verb != NULL && c != NULL);
  for (size_t i = 0; i < c->n; i++)
    fprintf(out, "nprof %s: %s\n", verb, c->c[i].text);
}

void cli_checks_section(struct cli_doc *d, const struct cli_checks *c)
{
  assert(d != NULL && c != NULL);
  if (c->n == 0)
    return;
  cli_doc_h2(d, "thresholds", "Thresholds");
  cli_doc_list_begin(d);
  for (size_t i = 0; i < c->n; i++)
    cli_doc_list_item(d, c->c[i].status == CLI_CHECK_OK ? "ok" : "fail",
                      c->c[i].text);
  cli_doc_list_end(d);
}
