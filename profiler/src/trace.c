/*
 * /debug/pprof/trace: what each thread did over an interval, as Chrome
 * Trace Event JSON (the "JSON Object Format"), which Perfetto's UI
 * (ui.perfetto.dev) and chrome://tracing open. Go's own execution-trace
 * format describes the Go scheduler and has no meaning for a C program.
 *
 *  - "M" metadata events name the process and every thread seen
 *    ("thread_name": "<comm> (<tid>)").
 *  - Each CPU sample is a complete ("X") event on its thread, one sampling
 *    period long, named after the sampled function, with the whole stack
 *    in args.stack (innermost first).
 *  - Each wait of 10 us or more on a mutex, rwlock or condition variable is
 *    an "X" event of its real duration in category "contention", named
 *    "mutex wait", "rwlock wait" or "cond wait", with the waiter's stack.
 * Times are microseconds from the start of the trace.
 */
#include "internal.h"
#include "npc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t nprof__trace_max_bytes = NPROF_TRACE_MAX_BYTES;

/* The sticky-error writer, and whether an event was written yet. */
typedef struct writer {
  nprof__writer w;
  bool first;
} writer;

#define put(wr, ...) nprof__w_printf(&(wr)->w, __VA_ARGS__)

static void put_str(writer *w, const char *s)
{
  nprof__w_json_string(&w->w, s);
}

/* Starts an event object: a comma between events. */
static void begin_event(writer *w)
{
  put(w, "%s", w->first ? "\n{" : ",\n{");
  w->first = false;
}

static void put_stack(writer *w, const uintptr_t *pcs, int depth)
{
  put(w, "\"stack\":[");
  for (int i = 0; i < depth; i++) {
    nprof__sym sym;
    nprof__symbolize(pcs[i], &sym);
    char name[NPROF_SYM_BUF];
    if (i)
      put(w, ",");
    put_str(w, nprof__sym_name(&sym, pcs[i], name, sizeof(name)));
  }
  put(w, "]");
}

static void put_leaf_name(writer *w, const uintptr_t *pcs, int depth)
{
  if (depth <= 0) {
    put_str(w, "(unknown)");
    return;
  }
  nprof__sym sym;
  nprof__symbolize(pcs[0], &sym);
  char name[NPROF_SYM_BUF];
  put_str(w, nprof__sym_name(&sym, pcs[0], name, sizeof(name)));
}

/* The tids that appear, each once (small sets: linear search). */
typedef struct tidset {
  pid_t *v;
  size_t n, cap;
} tidset;

static void tidset_add(tidset *s, pid_t tid)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == tid)
      return;
  if (s->n == s->cap) {
    pid_t *v = npc_grow(s->v, &s->cap, sizeof(*v), 32);
    if (!v)
      return;
    s->v = v;
  }
  s->v[s->n++] = tid;
}

/* Microseconds from the start; a sample's slice may begin before it. */
static double us_since(int64_t t, int64_t start)
{
  return t > start ? (double)(t - start) / 1000.0 : 0.0;
}

int nprof__trace_write(const nprof__cpu_data *d, const nprof__wait_event *ev,
                       long nw, int64_t wait_dropped, nprof__buf *out)
{
  writer w = {.w = {.out = out}, .first = true};
  int pid = (int)getpid();
  int64_t period = d->hz > 0 ? 1000000000LL / d->hz : 0;
  put(&w,
      "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":"
      "\"libnprof\",\"cpu_hz\":%ld,\"duration_ns\":%" PRId64
      ",\"cpu_samples\":%" PRId64 ",\"cpu_samples_lost\":%" PRId64
      ",\"cpu_events_dropped\":%" PRId64 ",\"waits\":%ld"
      ",\"waits_dropped\":%" PRId64 "},\n\"traceEvents\":[",
      d->hz, d->duration_ns, d->samples, d->lost, d->events_dropped, nw,
      wait_dropped);

  /* Names: the process (its argv[0]) and every thread seen. */
  tidset tids = {0};
  for (size_t i = 0; i < d->nstacks; i++)
    tidset_add(&tids, d->stacks[i].tid);
  for (long i = 0; i < nw; i++)
    tidset_add(&tids, ev[i].tid);
  nprof__buf cmd;
  nprof__buf_init(&cmd, 1 << 16);
  const char *argv0 = "?";
  if (nprof__cmdline(&cmd) == 0 && cmd.data)
    argv0 = cmd.data; /* NUL-separated: the first is argv[0] */
  char pname[256];
  snprintf(pname, sizeof(pname), "%s (pid %d)", argv0, pid);
  begin_event(&w);
  put(&w,
      "\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
      "\"args\":{\"name\":",
      pid, pid);
  put_str(&w, pname);
  put(&w, "}}");
  nprof__buf_free(&cmd);
  for (size_t i = 0; i < tids.n; i++) {
    char name[16], label[48];
    const char *known = nprof__cpu_thread_name(d, tids.v[i]);
    if (strcmp(known, "?") != 0)
      snprintf(name, sizeof(name), "%s", known);
    else
      nprof__task_name(tids.v[i], name);
    snprintf(label, sizeof(label), "%s (%d)", name, (int)tids.v[i]);
    begin_event(&w);
    put(&w,
        "\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
        "\"args\":{\"name\":",
        pid, (int)tids.v[i]);
    put_str(&w, label);
    put(&w, "}}");
  }
  free(tids.v);

  /* CPU samples. */
  for (size_t i = 0; i < d->nevents && !w.w.rc; i++) {
    const nprof__cpu_event *e = &d->events[i];
    const nprof__cpu_stack *s = &d->stacks[e->stack];
    begin_event(&w);
    put(&w, "\"name\":");
    put_leaf_name(&w, s->pcs, s->depth);
    put(&w,
        ",\"cat\":\"cpu\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,"
        "\"pid\":%d,\"tid\":%d,\"args\":{",
        us_since(e->time_ns - period, d->start_ns), (double)period / 1000.0,
        pid, (int)e->tid);
    put_stack(&w, s->pcs, s->depth);
    put(&w, "}}");
  }

  /* Waits. */
  static const char *const names[] = {"mutex wait", "rwlock wait", "cond wait"};
  for (long i = 0; i < nw && !w.w.rc; i++) {
    const nprof__wait_event *e = &ev[i];
    begin_event(&w);
    put(&w,
        "\"name\":\"%s\",\"cat\":\"contention\",\"ph\":\"X\","
        "\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":%d,\"args\":{",
        names[e->kind >= 0 && e->kind <= 2 ? e->kind : 0],
        us_since(e->start_ns, d->start_ns), (double)e->delay_ns / 1000.0, pid,
        (int)e->tid);
    put_stack(&w, e->pcs, e->depth);
    put(&w, "}}");
  }
  put(&w, "\n]}\n");
  return w.w.rc;
}
