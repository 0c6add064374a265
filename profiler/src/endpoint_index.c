/*
 * The pages that are not profiles: the index (/debug/pprof/), symbol
 * lookups (Go's pprof.Symbol, which pprof's remote symbolization uses),
 * cmdline, and /debug/vars (vars.c writes it).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- symbol: Go's pprof.Symbol ---- */

void nprof__endpoint_symbol(const char *query, size_t len, nprof__response *res)
{
  res->status = 200;
  res->content_type = "text/plain; charset=utf-8";
  /* pprof only checks that this is non-zero. */
  int rc = nprof__buf_printf(&res->body, "num_symbols: 1\n");
  nprof__symbolize_refresh();
  size_t i = 0;
  while (i < len && rc == 0) {
    size_t j = i;
    while (j < len && query[j] != '+')
      j++;
    /* One word: an address in Go's strconv.ParseUint base-0 syntax. */
    char word[32];
    size_t n = j - i;
    while (n && (query[i + n - 1] == '\n' || query[i + n - 1] == '\r' ||
                 query[i + n - 1] == ' '))
      n--;
    if (n > 0 && n < sizeof(word)) {
      memcpy(word, query + i, n);
      word[n] = '\0';
      char *end;
      unsigned long long pc = strtoull(word, &end, 0);
      if (*end == '\0' && word[0] != '-' && word[0] != '+' && pc != 0) {
        nprof__sym sym;
        nprof__symbolize((uintptr_t)pc, &sym);
        if (sym.known)
          rc = nprof__buf_printf(&res->body, "%#llx %s\n", pc, sym.function);
      }
    }
    i = j + 1;
  }
  if (rc != 0)
    nprof__res_error(res, 500, "could not symbolize: out of memory");
}

/* ---- index ---- */

static void index_row(nprof__writer *w, long count, const char *name)
{
  if (count < 0)
    nprof__w_printf(w,
                    "<tr><td></td><td><a href='%s?debug=1'>%s</a></td></tr>\n",
                    name, name);
  else
    nprof__w_printf(
        w, "<tr><td>%ld</td><td><a href='%s?debug=1'>%s</a></td></tr>\n", count,
        name, name);
}

/* A row whose link is not "?debug=1" (interval ones). */
static void index_link(nprof__writer *w, const char *href, const char *name)
{
  nprof__w_printf(w, "<tr><td></td><td><a href='%s'>%s</a></td></tr>\n", href,
                  name);
}

static long wait_count(nprof__wait_profile which)
{
  nprof__wait_record *r;
  long n = nprof__contention_snapshot(which, &r);
  if (n >= 0)
    free(r);
  return n;
}

static void index_custom(const char *name, long count, void *arg)
{
  index_row(arg, count, name);
}

void nprof__endpoint_index(nprof__response *res)
{
  nprof__writer w = {.out = &res->body};
  nprof__heap_stats hs;
  nprof__heap_stats_get(&hs);
  long threads = nprof__threads_count();
  res->status = 200;
  res->content_type = "text/html; charset=utf-8";
  nprof__w_printf(
      &w, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n"
          ".profile-name{display:inline-block; width:6rem;}\n</style>\n"
          "</head>\n<body>\n/debug/pprof/\n<br>\n"
          "<p>Set debug=1 as a query parameter to export in legacy text "
          "format</p>\n<br>\nTypes of profiles available:\n<table>\n"
          "<thead><td>Count</td><td>Profile</td></thead>\n");
  index_row(&w, (long)hs.buckets, "allocs");
  index_row(&w, wait_count(NPROF__BLOCK), "block");
  index_row(&w, -1, "cmdline");
  index_row(&w, threads, "goroutine");
  index_row(&w, (long)hs.buckets, "heap");
  index_row(&w, wait_count(NPROF__MUTEX), "mutex");
  index_link(&w, "profile?seconds=30", "profile");
  index_row(&w, nprof__threadcreate_count(), "threadcreate");
  index_link(&w, "trace?seconds=1", "trace");
  nprof__custom_list(index_custom, &w);
  nprof__w_printf(
      &w,
      "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack "
      "dump</a> (one block per OS thread)\n<br>\n<p>\nProfile "
      "Descriptions:\n<ul>\n"
      "<li><div class=profile-name>allocs: </div> A sampling of all past "
      "memory allocations (malloc family, mean one sample per "
      "NPROF_HEAP_RATE = %ld bytes)</li>\n"
      "<li><div class=profile-name>block: </div> Stack traces that led to "
      "blocking on pthread mutexes, rwlocks and condition variables "
      "(waiters' stacks; NPROF_BLOCK_RATE = %ld ns, 0 = off, or "
      "nprof_block_rate_set())</li>\n"
      "<li><div class=profile-name>cmdline: </div> The command line "
      "invocation of the current program</li>\n"
      "<li><div class=profile-name>goroutine: </div> Stack traces of all "
      "OS threads, captured at the moment of the request (a C program's "
      "goroutines are its threads)</li>\n"
      "<li><div class=profile-name>heap: </div> A sampling of memory "
      "allocations of live objects. You can specify the gc GET parameter "
      "for Go compatibility; it has no effect.</li>\n"
      "<li><div class=profile-name>mutex: </div> Stack traces of threads "
      "that waited for contended pthread mutexes and rwlocks (the "
      "waiters' stacks; NPROF_MUTEX_RATE = %ld, 0 = off, or "
      "nprof_mutex_rate_set())</li>\n"
      "<li><div class=profile-name>profile: </div> CPU profile: every "
      "thread sampled on its own CPU-time clock at NPROF_CPU_HZ = %ld. You "
      "can specify the duration in the seconds GET parameter (default "
      "30). After you get the profile file, use the go tool pprof command "
      "to investigate the profile.</li>\n"
      "<li><div class=profile-name>symbol: </div> Address to function "
      "name lookups (POST or GET 0x..+0x..), as pprof uses them</li>\n"
      "<li><div class=profile-name>threadcreate: </div> Stack traces that "
      "led to the creation of the live OS threads (pthread_create)</li>\n"
      "<li><div class=profile-name>trace: </div> What each thread did over "
      "an interval (seconds GET parameter, default 1): CPU samples per "
      "thread, thread names and lock and condition waits, as Chrome Trace "
      "Event JSON (application/json), not Go's execution-trace format. "
      "Open it in Perfetto (ui.perfetto.dev) or chrome://tracing; go tool "
      "trace cannot read it.</li>\n"
      "<li><div class=profile-name>vars: </div> <a href='../vars'>/debug/"
      "vars</a>: process and profiler figures and the application's "
      "published variables (JSON, like Go's expvar)</li>\n"
      "</ul>\n</p>\n</body>\n</html>\n",
      hs.rate, nprof__contention_rate_get(NPROF__BLOCK),
      nprof__contention_rate_get(NPROF__MUTEX), nprof__cpu_hz_default());
  if (w.rc != 0)
    nprof__res_error(res, 500, "could not write the index: out of memory");
}

int nprof__serve_index(const nprof__route *r, const nprof__args *a,
                       nprof__response *res)
{
  (void)r;
  (void)a;
  nprof__endpoint_index(res);
  return 0;
}

int nprof__serve_symbol(const nprof__route *r, const nprof__args *a,
                        nprof__response *res)
{
  (void)r;
  const nprof__request *req = a->req;
  nprof__endpoint_symbol(req->body ? req->body : "",
                         req->body ? req->body_len : 0, res);
  return 0;
}

/* The route's page as `write` fills it; a 500 saying `failed` when it
 * cannot. */
static int serve_page(const nprof__route *r, nprof__response *res,
                      int (*write)(nprof__buf *out), const char *failed)
{
  nprof__res_page(res, r);
  if (write(&res->body) != 0)
    nprof__res_error(res, 500, failed);
  return 0;
}

int nprof__serve_cmdline(const nprof__route *r, const nprof__args *a,
                         nprof__response *res)
{
  (void)a;
  return serve_page(r, res, nprof__cmdline, "could not read the command line");
}

int nprof__serve_vars(const nprof__route *r, const nprof__args *a,
                      nprof__response *res)
{
  (void)a;
  return serve_page(r, res, nprof__vars_write, "could not write the variables");
}
