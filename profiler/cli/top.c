/*
 * `nprof top`: the table `go tool pprof -top` prints, from the same rules,
 * so the two can be compared line by line on one file:
 *  - one node per function name; a sample adds its value to the cum of each
 *    distinct function on its stack once (recursion is not double counted)
 *    and to the flat of its leaf; samples whose value is 0 are skipped;
 *  - the total is the sum of |value| over all samples;
 *  - nodes whose |cum| is below nodefraction (0.005) of the flat sum are
 *    dropped, the rest sorted by |flat|, then name, then |cum|, and the
 *    first -n shown;
 *  - every value of the table is written in one unit, chosen from the
 *    smallest shown value and the total (pprof's -unit=minimum);
 *  - "(inline)" marks a function only ever reached through inlined calls,
 *    "(partial-inline)" one reached both ways, counting only callers that
 *    are themselves shown (pprof rebuilds its graph from the shown nodes).
 *    pprof decides this per caller/callee edge; here it is per call site,
 *    which differs only when one caller inlines a callee at some call
 *    sites and not at others.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

struct node {
  char *name;
  int64_t flat;
  int64_t cum;
  size_t seen; /* 1 + index of the last sample that added to cum */
  bool shown;
  bool inline_in; /* reached from a shown caller through an inlined call */
  bool plain_in;  /* ... and through a real call */
};

/* Open addressing over node indices (0 = empty), at most half full. */
struct node_table {
  struct node *nodes;
  size_t count, alloc;
  size_t *slots;
  size_t nslots; /* power of two */
};

static uint64_t hash_name(const char *s)
{
  uint64_t h = 14695981039346656037u; /* FNV-1a */

  for (; *s != '\0'; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211u;
  }
  return h;
}

static int table_grow(struct node_table *t)
{
  size_t n = t->nslots == 0 ? 256 : t->nslots * 2;
  size_t *slots = calloc(n, sizeof(*slots));

  if (slots == NULL)
    return CLI_ENOMEM;
  for (size_t i = 0; i < t->count; i++) {
    size_t at = hash_name(t->nodes[i].name) & (n - 1);
    while (slots[at] != 0)
      at = (at + 1) & (n - 1);
    slots[at] = i + 1;
  }
  free(t->slots);
  t->slots = slots;
  t->nslots = n;
  return 0;
}

/* The node named `name`, created when `create`; NULL when absent or out of
 * memory (*err set to CLI_ENOMEM then). */
static struct node *table_get(struct node_table *t, const char *name,
                              bool create, int *err)
{
  if (t->nslots == 0 || (create && 2 * (t->count + 1) > t->nslots)) {
    if (!create && t->nslots == 0)
      return NULL;
    if ((*err = table_grow(t)) != 0)
      return NULL;
  }
  size_t at = hash_name(name) & (t->nslots - 1);
  while (t->slots[at] != 0) {
    struct node *n = &t->nodes[t->slots[at] - 1];
    if (strcmp(n->name, name) == 0)
      return n;
    at = (at + 1) & (t->nslots - 1);
  }
  if (!create)
    return NULL;
  if (t->count == t->alloc) {
    struct node *nodes = npc_grow(t->nodes, &t->alloc, sizeof(*nodes), 128);
    if (nodes == NULL) {
      *err = CLI_ENOMEM;
      return NULL;
    }
    t->nodes = nodes;
  }
  memset(&t->nodes[t->count], 0, sizeof(t->nodes[0]));
  if ((t->nodes[t->count].name = strdup(name)) == NULL) {
    *err = CLI_ENOMEM;
    return NULL;
  }
  t->slots[at] = ++t->count;
  return &t->nodes[t->count - 1];
}

static void table_free(struct node_table *t)
{
  for (size_t i = 0; i < t->count; i++)
    free(t->nodes[i].name);
  free(t->nodes);
  free(t->slots);
}

/* A frame without a function name is named after where it is in its
 * mapped file, "libgrpc.so.29.0.0+0x1a2b3c": unlike the runtime address it
 * is the same in every process that maps that file, so two runs line up
 * (pprof would merge all such frames of a file into "[libgrpc.so.29.0.0]",
 * hiding which code it was). Without a mapping: "<unknown>". */
const char *cli_frame_name(const struct cli_frame *f, char *buf, size_t len)
{
  if (f->function[0] != '\0')
    return f->function;
  const char *base = strrchr(f->mapping, '/');
  base = base != NULL ? base + 1 : f->mapping;
  if (base[0] == '\0' || !f->mapped)
    return "<unknown>";
  snprintf(buf, len, "%s+0x%" PRIx64, base, f->file_offset);
  return buf;
}

static int64_t abs64(int64_t v)
{
  /* INT64_MIN has no positive twin; saturate rather than overflow. */
  return v >= 0 ? v : (v == INT64_MIN ? INT64_MAX : -v);
}

static int cmp_flat_name(const void *a, const void *b)
{
  const struct node *x = *(const struct node *const *)a;
  const struct node *y = *(const struct node *const *)b;

  if (abs64(x->flat) != abs64(y->flat))
    return abs64(x->flat) > abs64(y->flat) ? -1 : 1;
  int c = strcmp(x->name, y->name);
  if (c != 0)
    return c;
  if (abs64(x->cum) != abs64(y->cum))
    return abs64(x->cum) > abs64(y->cum) ? -1 : 1;
  return 0;
}

/* The header pprof prints above every text report. */
static void print_labels(FILE *out, const struct cli_top_header *h,
                         int64_t total, const char *unit, const char *to)
{
  char v[64];

  if (h->file != NULL && h->file[0] != '\0') {
    const char *base = strrchr(h->file, '/');
    fprintf(out, "File: %s\n", base != NULL ? base + 1 : h->file);
  }
  if (h->build_id != NULL && h->build_id[0] != '\0')
    fprintf(out, "Build ID: %s\n", h->build_id);
  /* pprof shows comments, except those starting with '#'; a merged
   * profile (diff) lists each distinct comment once. */
  for (size_t i = 0; i < h->ncomments; i++) {
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = strcmp(h->comments[i], h->comments[j]) == 0;
    if (!dup && h->comments[i][0] != '#')
      fprintf(out, "%s\n", h->comments[i]);
  }
  fprintf(out, "Type: %s\n", h->type);
  if (h->time_nanos != 0) {
    time_t t = (time_t)(h->time_nanos / 1000000000);
    struct tm tm;
    char month[8], zone[16];
    if (localtime_r(&t, &tm) != NULL) {
      strftime(month, sizeof(month), "%b", &tm);
      strftime(zone, sizeof(zone), "%Z", &tm);
      /* Go's layout "Jan 2, 2006 at 3:04pm (MST)". */
      fprintf(out, "Time: %s %d, %d at %d:%02d%s (%s)\n", month, tm.tm_mday,
              tm.tm_year + 1900, tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12,
              tm.tm_min, tm.tm_hour < 12 ? "am" : "pm", zone);
    }
  }
  if (h->duration_nanos != 0) {
    char d[64], pct[32] = "";
    /* pprof scales the duration like any nanosecond value ("405.61ms"),
     * and for time profiles adds the share of wall time sampled; without
     * it the line keeps pprof's trailing space. */
    cli_format_value(h->duration_nanos, "nanoseconds", NULL, d, sizeof(d));
    cli_format_value(total, unit, to, v, sizeof(v));
    if (strcmp(unit, "nanoseconds") == 0 || strcmp(unit, "ns") == 0) {
      char raw[16];
      cli_format_percent(total, h->duration_nanos, raw, sizeof(raw));
      snprintf(pct, sizeof(pct), "(%s)", raw);
    }
    fprintf(out, "Duration: %s, Total samples = %s %s\n", d, v, pct);
  }
}

/* What the table keeps besides the public rows. */
struct table_impl {
  struct node_table t;
  struct node **order;
};

void cli_top_table_free(struct cli_top_table *tab)
{
  if (tab == NULL)
    return;
  struct table_impl *impl = tab->impl;
  if (impl != NULL) {
    free(impl->order);
    table_free(&impl->t);
    free(impl);
  }
  free(tab->rows);
  memset(tab, 0, sizeof(*tab));
}

int cli_top_build(const struct cli_wsample *ws, size_t n, int64_t total,
                  const char *unit, const struct cli_top_options *opts,
                  struct cli_top_table *out)
{
  assert((ws != NULL || n == 0) && opts != NULL && out != NULL);
  struct table_impl *impl = calloc(1, sizeof(*impl));
  if (impl == NULL)
    return CLI_ENOMEM;
  struct node_table *t = &impl->t;
  struct cli_top_row *rows = NULL;
  char name_buf[CLI_NAME_MAX];
  int result = 0;

  /* Flat and cum of every function. */
  int64_t computed = 0, flat_sum = 0;
  for (size_t i = 0; i < n; i++) {
    const struct cli_wsample *s = &ws[i];
    int64_t v = s->value;
    if (v == 0)
      continue;
    computed += abs64(v);
    for (size_t j = 0; j < s->nframes; j++) {
      const char *name =
          cli_frame_name(s->frames[j], name_buf, sizeof(name_buf));
      struct node *nd = table_get(t, name, true, &result);
      if (nd == NULL)
        goto out;
      if (nd->seen != i + 1) {
        nd->cum += v;
        nd->seen = i + 1;
      }
      if (j == 0) {
        nd->flat += v;
        flat_sum += v;
      }
    }
  }
  if (total < 0)
    total = computed;

  /* Drop the nodes below the cutoff; pprof takes it from the flat sum
   * but labels it with the total. */
  int64_t cutoff = abs64((int64_t)((double)flat_sum * opts->nodefraction));
  struct node **order = impl->order = calloc(t->count + 1, sizeof(*order));
  if (order == NULL) {
    result = CLI_ENOMEM;
    goto out;
  }
  size_t kept = 0, dropped = 0;
  for (size_t i = 0; i < t->count; i++) {
    /* A function whose values cancel out (a diff) is no node at all for
     * pprof (selectNodesForGraph), not even a dropped one. */
    if (t->nodes[i].cum == 0 && t->nodes[i].flat == 0)
      continue;
    if (cutoff > 0 && abs64(t->nodes[i].cum) < cutoff)
      dropped++;
    else
      order[kept++] = &t->nodes[i];
  }
  qsort(order, kept, sizeof(*order), cmp_flat_name);
  size_t shown = kept;
  if (opts->nodecount > 0 && (size_t)opts->nodecount < kept)
    shown = (size_t)opts->nodecount;
  int64_t shown_flat = 0, min_value = 0;
  for (size_t i = 0; i < shown; i++) {
    int64_t m = order[i]->flat != 0 ? order[i]->flat : order[i]->cum;
    order[i]->shown = true;
    shown_flat += order[i]->flat;
    if (m != 0 && (min_value == 0 || abs64(m) < min_value))
      min_value = abs64(m);
  }

  /* Inline marks, from shown callers only (see the top comment). */
  for (size_t i = 0; i < n; i++) {
    const struct cli_wsample *s = &ws[i];
    struct node *parent = NULL;
    if (s->value == 0)
      continue;
    for (size_t j = s->nframes; j-- > 0;) {
      const char *name =
          cli_frame_name(s->frames[j], name_buf, sizeof(name_buf));
      struct node *nd = table_get(t, name, false, &result);
      if (nd == NULL || !nd->shown)
        continue;
      if (parent != NULL && nd != parent) {
        if (s->frames[j]->inlined)
          nd->inline_in = true;
        else
          nd->plain_in = true;
      }
      parent = nd;
    }
  }

  if ((rows = calloc(shown + 1, sizeof(*rows))) == NULL) {
    result = CLI_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < shown; i++) {
    const struct node *nd = order[i];
    rows[i].name = nd->name;
    rows[i].flat = nd->flat;
    rows[i].cum = nd->cum;
    rows[i].inline_mark =
        nd->inline_in ? (nd->plain_in ? CLI_TOP_PARTIAL_INLINE : CLI_TOP_INLINE)
                      : 0;
  }
  memset(out, 0, sizeof(*out));
  out->rows = rows;
  out->nrows = shown;
  out->kept = kept;
  out->dropped = dropped;
  out->total = total;
  out->shown_flat = shown_flat;
  out->unit = unit;
  out->to = cli_unit_for_range(min_value, total, unit);
  out->nodefraction = opts->nodefraction;
  out->impl = impl;
  return 0;
out:
  free(rows);
  free(impl->order);
  table_free(t);
  free(impl);
  return result;
}

int cli_top_print_table(FILE *out, const struct cli_top_header *h,
                        const struct cli_top_table *tab)
{
  assert(out != NULL && h != NULL && tab != NULL);
  const char *unit = tab->unit, *to = tab->to;
  char a[64], b[64], c[64];
  int64_t running = 0, total = tab->total;
  print_labels(out, h, total, unit, to);
  cli_format_value(tab->shown_flat, unit, to, a, sizeof(a));
  cli_format_percent(tab->shown_flat, total, b, sizeof(b));
  cli_format_value(total, unit, to, c, sizeof(c));
  fprintf(out, "Showing nodes accounting for %s, %s of %s total\n", a,
          b + strspn(b, " "), c);
  if (total != 0 && tab->dropped > 0) {
    cli_format_value(abs64((int64_t)((double)total * tab->nodefraction)), unit,
                     to, a, sizeof(a));
    fprintf(out, "Dropped %zu node%s (cum <= %s)\n", tab->dropped,
            tab->dropped > 1 ? "s" : "", a);
  }
  if (total != 0 && tab->nrows > 0 && tab->nrows < tab->kept)
    fprintf(out, "Showing top %zu nodes out of %zu\n", tab->nrows, tab->kept);
  fprintf(out, "%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum",
          "cum");
  for (size_t i = 0; i < tab->nrows; i++) {
    const struct cli_top_row *r = &tab->rows[i];
    char fp[16], sp[16], cp[16];
    running += r->flat;
    cli_format_value(r->flat, unit, to, a, sizeof(a));
    cli_format_value(r->cum, unit, to, b, sizeof(b));
    cli_format_percent(r->flat, total, fp, sizeof(fp));
    cli_format_percent(running, total, sp, sizeof(sp));
    cli_format_percent(r->cum, total, cp, sizeof(cp));
    fprintf(out, "%10s %s %s %10s %s  %s%s\n", a, fp, sp, b, cp, r->name,
            r->inline_mark == CLI_TOP_PARTIAL_INLINE ? " (partial-inline)"
            : r->inline_mark == CLI_TOP_INLINE       ? " (inline)"
                                                     : "");
  }
  if (fflush(out) != 0 || ferror(out))
    return CLI_EIO;
  return 0;
}

void cli_top_header_init(struct cli_top_header *h, const struct cli_profile *p,
                         int sample_index)
{
  const Perftools__Profiles__Profile *pb = p->raw;

  assert(sample_index >= 0 && (size_t)sample_index < p->nsample_types);
  memset(h, 0, sizeof(*h));
  if (pb != NULL && pb->n_mapping > 0) {
    h->file = pb->string_table[pb->mapping[0]->filename];
    h->build_id = pb->string_table[pb->mapping[0]->build_id];
  }
  h->comments = p->comments;
  h->ncomments = p->ncomments;
  h->type = p->sample_types[sample_index].type;
  h->time_nanos = p->time_nanos;
  h->duration_nanos = p->duration_nanos;
}

void cli_profile_wsamples(const struct cli_profile *p, int sample_index,
                          bool negate, struct cli_wsample *out)
{
  assert(p != NULL && out != NULL);
  assert(sample_index >= 0 && (size_t)sample_index < p->nsample_types);
  for (size_t i = 0; i < p->nsamples; i++) {
    const struct cli_sample *s = &p->samples[i];
    int64_t v = s->values[sample_index];
    out[i].frames = s->frames;
    out[i].nframes = s->nframes;
    /* -INT64_MIN would overflow; saturate as abs64() does. */
    out[i].value = !negate ? v : (v == INT64_MIN ? INT64_MAX : -v);
    out[i].labels = s->labels;
    out[i].nlabels = s->nlabels;
  }
}

int cli_top_print(FILE *out, const struct cli_profile *p,
                  const struct cli_top_options *opts)
{
  assert(out != NULL && p != NULL && opts != NULL);
  struct cli_wsample *ws = calloc(p->nsamples + 1, sizeof(*ws));
  if (ws == NULL)
    return CLI_ENOMEM;
  cli_profile_wsamples(p, opts->sample_index, false, ws);
  struct cli_top_table tab;
  int result =
      cli_top_build(ws, p->nsamples, -1,
                    p->sample_types[opts->sample_index].unit, opts, &tab);
  if (result == 0) {
    struct cli_top_header h;
    cli_top_header_init(&h, p, opts->sample_index);
    result = cli_top_print_table(out, &h, &tab);
    cli_top_table_free(&tab);
  }
  free(ws);
  return result;
}

static void top_usage(FILE *f)
{
  fprintf(f,
          "usage: nprof top [-n N] [--sample-index NAME|INDEX] FILE\n"
          "\n"
          "Prints the functions with the most flat value in a pprof profile\n"
          "(gzip or plain protobuf; FILE \"-\" reads stdin), as\n"
          "`go tool pprof -top` does.\n"
          "\n"
          "  -n, --nodecount N     rows to show (default 10; 0 shows all)\n"
          "  -s, --sample-index X  sample type by name (inuse_space,\n"
          "                        alloc_objects...) or index; default: the\n"
          "                        profile's default type, else the last\n"
          "      --symbolize MODE  names for frames the profile left\n"
          "                        unnamed: none, local (/usr/lib/debug), or\n"
          "                        debuginfod (local, then $DEBUGINFOD_URLS;\n"
          "                        the default). Unnamed frames read\n"
          "                        FILE+0xOFFSET\n"
          "  -h, --help            this text\n");
}

/* The options top and diff share: -n/--nodecount, -s/--sample-index (also
 * pprof's --sample_index) and -h/--help, for verb `verb` with `operands`
 * files after them. Returns -1 to go on (the files start at argv[optind]),
 * or the exit code to return at once (help printed, or a usage error
 * said). `operand_names` names the files in messages ("FILE"). */
int cli_parse_table_options(const char *verb, int argc, char **argv,
                            int operands, const char *operand_names,
                            void (*usage)(FILE *), struct cli_top_options *opts,
                            const char **spec, struct cli_symbolize_options *so)
{
  static const struct option longopts[] = {
      {"nodecount", required_argument, NULL, 'n'},
      {"sample-index", required_argument, NULL, 's'},
      {"sample_index", required_argument, NULL, 's'}, /* pprof's spelling */
      {NULL, 0, NULL, 0},
  };
  struct cli_options o;
  cli_options_init(&o, verb, "n:s:", longopts, usage, so);
  int c;
  while ((c = cli_options_next(&o, argc, argv)) != -1) {
    switch (c) {
    case 'n': {
      char *end;
      errno = 0;
      opts->nodecount = strtol(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || errno != 0 || opts->nodecount < 0)
        return cli_options_error(&o, "-n wants a count >= 0, not \"%s\"",
                                 optarg);
      break;
    }
    case 's':
      *spec = optarg;
      break;
    }
  }
  if (o.exit >= 0)
    return o.exit;
  if (argc - optind != operands)
    return cli_options_error(&o, "%s %s",
                             argc - optind < operands ? "needs" : "takes only",
                             operand_names);
  return -1;
}

int cli_top_main(int argc, char **argv)
{
  struct cli_top_options opts = {.nodecount = 10, .nodefraction = 0.005};
  struct cli_symbolize_options so;
  cli_symbolize_options_init(&so, "top");
  const char *spec = NULL;
  int rc = cli_parse_table_options("top", argc, argv, 1, "FILE", top_usage,
                                   &opts, &spec, &so);
  if (rc >= 0)
    return rc;

  struct cli_profile *p = NULL;
  struct cli_symbolizer *sym = NULL;
  char err[CLI_ERRLEN];
  int result = CLI_EXIT_FAIL;
  if ((rc = cli_profile_load(argv[optind], &p, err, sizeof(err))) != 0) {
    fprintf(stderr, "nprof top: %s\n", err);
    goto out;
  }
  opts.sample_index = cli_profile_sample_index(p, spec, err, sizeof(err));
  if (opts.sample_index < 0) {
    fprintf(stderr, "nprof top: %s\n", err);
    goto out;
  }
  long named =
      (rc = cli_symbolizer_new(&so, &sym)) == 0 ? cli_symbolize(sym, p) : rc;
  if (named < 0 || (rc = cli_top_print(stdout, p, &opts)) != 0) {
    fprintf(stderr, "nprof top: %s\n",
            cli_strerror(named < 0 ? (int)named : rc));
    goto out;
  }
  result = CLI_EXIT_OK;
out:
  cli_symbolizer_free(sym);
  cli_profile_free(p);
  return result;
}
