/*
 * `nprof diff BASE NEW`: what `go tool pprof -diff_base=BASE -top NEW`
 * prints, from the same rules:
 *  - pprof merges NEW with BASE scaled by -1; BASE's samples carry the
 *    label pprof::base, so no NEW sample ever merges with a BASE one and
 *    every function's flat and cum come out as NEW minus BASE;
 *  - the 100% of the percentages is the sum of |value| over BASE's samples
 *    alone (pprof's computeTotal), unless BASE sums to 0;
 *  - the rest is `top`: nodes below nodefraction of the (net) flat sum are
 *    dropped, rows sorted by |flat| so the biggest growth or shrink leads;
 *  - the header is the merged profile's: NEW's first mapping, the comments
 *    of both, the earlier time as pprof's combineHeaders picks it, and the
 *    summed durations.
 * The sample type is resolved on NEW and must exist in BASE with the same
 * unit (pprof refuses incompatible profiles too).
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_diff_init(struct cli_diff *d, const struct cli_profile *base,
                  const struct cli_profile *newp, const char *spec, char *err,
                  size_t errlen)
{
  assert(d != NULL && base != NULL && newp != NULL);
  if ((spec == NULL || spec[0] == '\0') && newp->default_sample_type < 0 &&
      base->default_sample_type >= 0)
    spec = base->sample_types[base->default_sample_type].type;
  int ni = cli_profile_sample_index(newp, spec, err, errlen);
  if (ni < 0)
    return ni;
  const struct cli_value_type *vt = &newp->sample_types[ni];
  int bi = -1;
  for (size_t i = 0; i < base->nsample_types && bi < 0; i++) {
    if (strcmp(base->sample_types[i].type, vt->type) == 0 &&
        strcmp(base->sample_types[i].unit, vt->unit) == 0)
      bi = (int)i;
  }
  if (bi < 0) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "the base profile has no sample type %s/%s",
               vt->type, vt->unit);
    return CLI_ENOTFOUND;
  }
  struct cli_wsample *ws =
      calloc(newp->nsamples + base->nsamples + 1, sizeof(*ws));
  if (ws == NULL) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "out of memory");
    return CLI_ENOMEM;
  }
  cli_profile_wsamples(newp, ni, false, ws);
  cli_profile_wsamples(base, bi, true, ws + newp->nsamples);
  memset(d, 0, sizeof(*d));
  d->samples = ws;
  d->nsamples = newp->nsamples + base->nsamples;
  d->nbase = base->nsamples;
  for (size_t i = newp->nsamples; i < d->nsamples; i++) {
    int64_t v = ws[i].value;
    d->base_total += v >= 0 ? v : -v; /* negated; never INT64_MIN */
  }
  d->base = base;
  d->newp = newp;
  d->new_index = ni;
  d->base_index = bi;
  d->unit = vt->unit;
  return 0;
}

void cli_diff_close(struct cli_diff *d)
{
  if (d == NULL)
    return;
  free(d->samples);
  memset(d, 0, sizeof(*d));
}

int cli_diff_table(const struct cli_diff *d, const struct cli_top_options *opts,
                   struct cli_top_table *out)
{
  assert(d != NULL && opts != NULL && out != NULL);
  return cli_top_build(d->samples, d->nsamples,
                       d->base_total > 0 ? d->base_total : -1, d->unit, opts,
                       out);
}

int cli_diff_print(FILE *out, const struct cli_diff *d,
                   const struct cli_top_options *opts)
{
  assert(out != NULL && d != NULL && opts != NULL);
  struct cli_top_table tab;
  int result = cli_diff_table(d, opts, &tab);
  if (result != 0)
    return result;
  const char **comments =
      calloc(d->newp->ncomments + d->base->ncomments + 1, sizeof(*comments));
  if (comments == NULL) {
    cli_top_table_free(&tab);
    return CLI_ENOMEM;
  }
  size_t nc = 0;
  for (size_t i = 0; i < d->newp->ncomments; i++)
    comments[nc++] = d->newp->comments[i];
  for (size_t i = 0; i < d->base->ncomments; i++)
    comments[nc++] = d->base->comments[i];
  struct cli_top_header h;
  cli_top_header_init(&h, d->newp, d->new_index);
  if (h.file == NULL && d->base->raw != NULL && d->base->raw->n_mapping > 0) {
    const Perftools__Profiles__Profile *pb = d->base->raw;
    h.file = pb->string_table[pb->mapping[0]->filename];
    h.build_id = pb->string_table[pb->mapping[0]->build_id];
  }
  h.comments = comments;
  h.ncomments = nc;
  /* combineHeaders: `if timeNanos == 0 || s.TimeNanos < timeNanos`, over
   * NEW then BASE, so a BASE without a time clears NEW's. */
  int64_t t = d->newp->time_nanos;
  if (t == 0 || d->base->time_nanos < t)
    t = d->base->time_nanos;
  h.time_nanos = t;
  h.duration_nanos = d->newp->duration_nanos + d->base->duration_nanos;
  result = cli_top_print_table(out, &h, &tab);
  free(comments);
  cli_top_table_free(&tab);
  return result;
}

static void diff_usage(FILE *f)
{
  fprintf(f,
          "usage: nprof diff [-n N] [--sample-index NAME|INDEX] BASE NEW\n"
          "\n"
          "Prints the functions whose value grew or shrank most from BASE to\n"
          "NEW (pprof profiles, gzip or plain), flat and cum of NEW minus\n"
          "BASE, as `go tool pprof -diff_base=BASE -top NEW` does.\n"
          "\n"
          "  -n, --nodecount N     rows to show (default 10; 0 shows all)\n"
          "  -s, --sample-index X  sample type by name or index (of NEW);\n"
          "                        default: the profile's default type, else\n"
          "                        the last\n"
          "      --symbolize MODE  none, local or debuginfod (the default),\n"
          "                        as for nprof top\n"
          "  -h, --help            this text\n");
}

int cli_diff_main(int argc, char **argv)
{
  struct cli_top_options opts = {.nodecount = 10, .nodefraction = 0.005};
  struct cli_symbolize_options so;
  cli_symbolize_options_init(&so, "diff");
  const char *spec = NULL;
  int rc = cli_parse_table_options("diff", argc, argv, 2, "BASE and NEW",
                                   diff_usage, &opts, &spec, &so);
  if (rc >= 0)
    return rc;
  if (strcmp(argv[optind], "-") == 0 && strcmp(argv[optind + 1], "-") == 0) {
    fprintf(stderr, "nprof diff: only one of BASE and NEW can be stdin\n");
    return CLI_EXIT_USAGE;
  }

  struct cli_profile *base = NULL, *newp = NULL;
  struct cli_symbolizer *sym = NULL;
  char err[CLI_ERRLEN];
  int result = CLI_EXIT_FAIL;
  if ((rc = cli_profile_load(argv[optind], &base, err, sizeof(err))) != 0) {
    fprintf(stderr, "nprof diff: BASE: %s\n", err);
    goto out;
  }
  if ((rc = cli_profile_load(argv[optind + 1], &newp, err, sizeof(err))) != 0) {
    fprintf(stderr, "nprof diff: NEW: %s\n", err);
    goto out;
  }
  /* One symbolizer for both: a library's debug file is looked up once. */
  long named =
      (rc = cli_symbolizer_new(&so, &sym)) == 0 ? cli_symbolize(sym, base) : rc;
  if (named >= 0)
    named = cli_symbolize(sym, newp);
  if (named < 0) {
    fprintf(stderr, "nprof diff: %s\n", cli_strerror((int)named));
    goto out;
  }
  struct cli_diff d;
  if ((rc = cli_diff_init(&d, base, newp, spec, err, sizeof(err))) != 0) {
    fprintf(stderr, "nprof diff: %s\n", err);
    goto out;
  }
  rc = cli_diff_print(stdout, &d, &opts);
  cli_diff_close(&d);
  if (rc != 0) {
    fprintf(stderr, "nprof diff: writing the table: %s\n", cli_strerror(rc));
    goto out;
  }
  result = CLI_EXIT_OK;
out:
  cli_symbolizer_free(sym);
  cli_profile_free(base);
  cli_profile_free(newp);
  return result;
}
