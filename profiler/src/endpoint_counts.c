/*
 * Count profiles (Go's printCountProfile: identical stacks aggregated):
 * goroutine (every OS thread's stack now), threadcreate (where the live
 * threads were created) and the application's own profiles.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_count_stack(const void *pa, const void *pb)
{
  const nprof__count_stack *a = pa, *b = pb;
  return nprof__cmp_pcs(a->pcs, a->depth, b->pcs, b->depth);
}

/* One count profile being written, as Go's printCountProfile writes it:
 * text (debug=1: a "NAME profile: total N" header, then "COUNT @ PCS"
 * records) or pprof (one NAME/count sample type). The writer's error is
 * sticky: after a failure every call is a no-op and count_end returns it. */
typedef struct count_writer {
  nprof__writer w;
  nprof__pprof *b; /* NULL for text */
} count_writer;

static int count_begin(count_writer *c, const char *name, long total, int debug,
                       nprof__buf *out)
{
  *c = (count_writer){.w = {.out = out}};
  if (debug) {
    nprof__w_printf(&c->w, "%s profile: total %ld\n", name, total);
    return 0;
  }
  char type[NPROF_NAME_MAX + 8];
  snprintf(type, sizeof(type), "%s/count", name);
  const char *types[] = {type};
  if (!(c->b = nprof__pprof_new(types, 1)))
    return NPROF_ENOMEM;
  nprof__pprof_period(c->b, name, "count", 1);
  return 0;
}

/* One record: `count` stacks equal to pcs. Text records carry `comment`
 * (lines starting with '#', or NULL) between the header and the frames;
 * pprof samples carry the labels instead. */
static void count_record(count_writer *c, const uintptr_t *pcs, int depth,
                         int64_t count, const nprof__label *labels, int nl,
                         const char *comment)
{
  if (!c->b) {
    nprof__w_printf(&c->w, "%lld", (long long)count);
    nprof__text_record(&c->w, pcs, depth, comment);
  } else if (!c->w.rc) {
    c->w.rc = nprof__pprof_add(c->b, pcs, depth, &count, labels, nl);
  }
}

static int count_end(count_writer *c)
{
  if (!c->w.rc && c->b)
    c->w.rc = nprof__pprof_write(c->b, c->w.out);
  nprof__pprof_free(c->b);
  return c->w.rc;
}

/* Identical stacks aggregated into one record each. */
static int count_profile(const char *name, nprof__count_stack *s, long n,
                         int debug, nprof__buf *out)
{
  qsort(s, (size_t)n, sizeof(*s), cmp_count_stack);
  long total = 0;
  for (long i = 0; i < n; i++)
    total += s[i].count;
  count_writer c;
  int rc = count_begin(&c, name, total, debug, out);
  if (rc)
    return rc;
  for (long i = 0; i < n && !c.w.rc;) {
    long j = i;
    int64_t count = 0;
    while (j < n && cmp_count_stack(&s[j], &s[i]) == 0)
      count += s[j++].count;
    count_record(&c, s[i].pcs, s[i].depth, count, NULL, 0, NULL);
    i = j;
  }
  return count_end(&c);
}

int nprof__serve_threadcreate(const nprof__route *r, const nprof__args *a,
                              nprof__response *res)
{
  nprof__count_stack *s;
  int n = nprof__threadcreate_stacks(&s);
  if (n < 0)
    return n;
  nprof__res_ok(res, r, a, r->name);
  int rc = count_profile(r->name, s, n, a->debug, &res->body);
  free(s);
  return rc;
}

int nprof__serve_custom(const nprof__route *r, const nprof__args *a,
                        nprof__response *res)
{
  const char *name = a->req->name;
  nprof__count_stack *s;
  int n = nprof__custom_stacks(name, &s);
  if (n == NPROF_ENOENT) {
    nprof__res_error(res, 404, "Unknown profile");
    return 0;
  }
  if (n < 0)
    return n;
  nprof__res_ok(res, r, a, name);
  int rc = count_profile(name, s, n, a->debug, &res->body);
  free(s);
  return rc;
}

/* ---- goroutine: the threads ---- */

static int depth_of(const nprof__thread *t)
{
  return t->depth < 0 ? 0 : t->depth;
}

static int cmp_thread(const void *pa, const void *pb)
{
  const nprof__thread *a = pa, *b = pb;
  int c = nprof__cmp_pcs(a->pcs, depth_of(a), b->pcs, depth_of(b));
  if (c)
    return c;
  return a->tid < b->tid ? -1 : a->tid > b->tid;
}

static const char *state_name(char s)
{
  switch (s) {
  case 'R':
    return "running";
  case 'S':
    return "sleeping";
  case 'D':
    return "disk sleep";
  case 'T':
    return "stopped";
  case 't':
    return "tracing stop";
  case 'Z':
    return "zombie";
  case 'X':
    return "dead";
  case 'I':
    return "idle";
  default:
    return "unknown";
  }
}

/* debug=2: one block per thread, like Go's full goroutine dump. */
static int threads_dump(const nprof__thread *t, long n, nprof__buf *out)
{
  nprof__writer w = {.out = out};
  for (long i = 0; i < n && !w.rc; i++) {
    nprof__w_printf(&w, "thread %d \"%s\" [%s]:\n", (int)t[i].tid, t[i].name,
                    state_name(t[i].state));
    if (t[i].depth < 0)
      nprof__w_printf(&w, "(no stack: the thread blocks the capture "
                          "signal)\n");
    for (int k = 0; k < t[i].depth; k++) {
      nprof__sym sym;
      nprof__symbolize(t[i].pcs[k], &sym);
      char name[NPROF_SYM_BUF];
      nprof__w_printf(&w, "%s(...)\n\t%s:%d +%#" PRIxPTR "\n",
                      nprof__sym_name(&sym, t[i].pcs[k], name, sizeof(name)),
                      sym.file ? sym.file : "?", sym.line, sym.offset);
    }
    nprof__w_append(&w, "\n", 1);
  }
  return w.rc;
}

/* debug=0 and 1: threads with equal stacks aggregated into one record,
 * labelled (pprof) or commented (text) with every member's name and tid. */
static int threads_profile(const nprof__thread *t, long n, int debug,
                           nprof__buf *out)
{
  count_writer c;
  int rc = count_begin(&c, "goroutine", n, debug, out);
  if (rc)
    return rc;
  if (c.b)
    nprof__pprof_comment(c.b, "goroutine = OS thread (libnprof)");
  nprof__label *labels = malloc(((size_t)n * 2 + 1) * sizeof(*labels));
  nprof__buf names;
  nprof__buf_init(&names, 1 << 20);
  if (!labels)
    c.w.rc = NPROF_ENOMEM;
  for (long i = 0; i < n && !c.w.rc;) {
    int depth = depth_of(&t[i]);
    long j = i;
    int nl = 0;
    names.len = 0;
    while (j < n &&
           nprof__cmp_pcs(t[j].pcs, depth_of(&t[j]), t[i].pcs, depth) == 0) {
      bool seen = false;
      for (long k = i; k < j; k++)
        if (strcmp(t[k].name, t[j].name) == 0)
          seen = true;
      if (!seen)
        labels[nl++] = (nprof__label){.key = "thread", .str = t[j].name};
      labels[nl++] = (nprof__label){.key = "tid", .num = t[j].tid};
      if (debug && c.w.rc == 0)
        c.w.rc = nprof__buf_printf(&names, "# thread %d \"%s\"\n",
                                   (int)t[j].tid, t[j].name);
      j++;
    }
    count_record(&c, t[i].pcs, depth, j - i, labels, nl, names.data);
    i = j;
  }
  nprof__buf_free(&names);
  free(labels);
  return count_end(&c);
}

int nprof__serve_goroutine(const nprof__route *r, const nprof__args *a,
                           nprof__response *res)
{
  nprof__thread *t;
  long n = nprof__threads_capture(&t);
  if (n == NPROF_ESIGNAL) {
    char text[256];
    snprintf(text, sizeof(text),
             "could not capture the threads: the application installed its "
             "own handler for signal %d, which libnprof uses to capture "
             "stacks (NPROF_SIGNAL names another)",
             nprof__threads_signal());
    nprof__res_error(res, 500, text);
    return 0;
  }
  if (n < 0)
    return (int)n;
  qsort(t, (size_t)n, sizeof(*t), cmp_thread);
  nprof__res_ok(res, r, a, r->name);
  int rc = a->debug >= 2 ? threads_dump(t, n, &res->body)
                         : threads_profile(t, n, a->debug, &res->body);
  free(t);
  return rc;
}
