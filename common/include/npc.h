/*
 * npc: the helpers every program of the project shares (the nprof CLI, the
 * loadgen, the notifier), one home per job: atomic file writes, capped file
 * reads, one duration syntax, capped HTTP fetches, one-line logging, the
 * clocks, JSON strings, growing arrays, histogram quantiles, and the layout
 * of a load test's run folder. Built as build/ar/libnpc.a; libnprof (which
 * lives in other people's processes) does not link it, and compiles in
 * file.c (for its heap dumps), log.c, clock.c and grow.c alone (hidden).
 *
 * Every function returns 0 on success or a negative errno value (-EINVAL,
 * -EFBIG, ...) on failure, as libuv does: strerror(-rc) describes it. On
 * failure, output parameters are left untouched.
 */
#ifndef NPC_H
#define NPC_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* ---- file.c: files written and read whole ---- */

/* Replaces `path` with `len` bytes, atomically: the bytes go to a hidden
 * temporary file beside it (".NAME.XXXXXX", same file system, so rename is
 * atomic), created with mode 0666 minus the umask as open(2) would, synced
 * to disk, renamed over `path`, and the directory synced. A reader sees the
 * old file or the whole new one; the temporary never survives a failure.
 * Returns 0 or a negative errno (-ENAMETOOLONG, -ENOENT, -EACCES, -ENOSPC,
 * -EIO, ...). Thread-safe (no umask juggling). */
int npc_write_atomic(const char *path, const void *data, size_t len);

/* The same for DIR/NAME. */
int npc_write_atomic_in(const char *dir, const char *name, const void *data,
                        size_t len);

/* What a program writes as a file: prints it to f. */
typedef void npc_render_fn(FILE *f, const void *ud);

/* Renders a file in memory with render(f, ud) and writes it to path
 * atomically (npc_write_atomic): a writer that is cut short (out of memory)
 * leaves the old file. Returns 0, -ENOMEM, or npc_write_atomic's codes. */
int npc_write_atomic_rendered(const char *path, npc_render_fn *render,
                              const void *ud);

/* The same for DIR/NAME. */
int npc_write_atomic_rendered_in(const char *dir, const char *name,
                                 npc_render_fn *render, const void *ud);

/* Reads the whole of `path` into a new NUL-terminated buffer of at most
 * `cap` bytes (the NUL not counted), so input from outside can never make us
 * hold more than the caller allows. On success *out (caller frees) and *len
 * are set. Returns 0, -EFBIG (larger than cap), -ENOMEM, or the negative
 * errno of open/read (-ENOENT, -EISDIR, ...). */
int npc_read_file(const char *path, size_t cap, char **out, size_t *len);

/* mkdir -p with mode 0777 minus the umask. Returns 0 or a negative errno. */
int npc_mkdirs(const char *dir);

/* ---- duration.c: one duration syntax for every program and the Makefile ----
 */

/* Go's time.ParseDuration syntax, which this project's users already type
 * into go tool pprof: one or more decimal numbers, each with an optional
 * fraction and a unit, "ns", "us" (or "µs"), "ms", "s", "m", "h": "500ms",
 * "1.5s", "2m30s", "1h". "0" alone needs no unit; any other bare number is
 * refused (it used to mean milliseconds to one program and seconds to
 * another). No sign. Sets *ns. Returns 0, -EINVAL (not a duration; the
 * message for users is NPC_DURATION_HELP) or -ERANGE (over 2^63 ns, about
 * 292 years). */
int npc_duration_parse(const char *s, int64_t *ns);

#define NPC_DURATION_HELP                                                      \
  "a duration is a number with a unit: ns, us, ms, s, m or h (500ms, 1.5s, "   \
  "2m30s; 0 needs none)"

/* Formats `ns` the way Go's Duration.String does ("1.5s", "2m30s", "250ms")
 * into buf (at least 32 bytes for any value). Returns buf. */
char *npc_duration_format(int64_t ns, char *buf, size_t size);

/* ---- clock.c: the monotonic and wall clocks, in nanoseconds ---- */

/* CLOCK_MONOTONIC: for intervals and deadlines. Async-signal-safe. */
int64_t npc_mono_ns(void);
/* CLOCK_REALTIME since the Unix epoch: for timestamps. Async-signal-safe. */
int64_t npc_wall_ns(void);
/* ns (>= 0) as the struct timespec that nanosleep, pthread_cond_timedwait
 * and pthread_timedjoin_np take: a duration or a point on either clock. */
struct timespec npc_ns_timespec(int64_t ns);
/* A condition variable whose timed waits take points on CLOCK_MONOTONIC
 * (npc_mono_ns), not on the wall clock pthread_cond_init gives. */
void npc_cond_init_monotonic(pthread_cond_t *cond);

/* ---- log.c: one line on stderr ---- */

/* The longest line npc_log_line writes, newline included; a longer message
 * is cut. */
#define NPC_LOG_LINE_MAX 1024

/* Writes `prefix` (NULL: none), the message and a newline to `fd` with one
 * write(2), so lines from several threads never interleave. Built on the
 * stack: no stdio, no allocation; errno is kept. Errors are ignored (there
 * is nowhere left to say them). */
void npc_log_line(int fd, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void npc_log_vline(int fd, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* ---- http.c: capped HTTP GET (libcurl) ---- */

/* Default cap on a response body: a profile server gone wrong must not fill
 * our memory or the disk. The decoder's limit on a decompressed profile is
 * the same. */
#define NPC_HTTP_BODY_MAX ((size_t)256 << 20)

typedef struct npc_http_response {
  long status; /* HTTP status, 0 when no response arrived */
  char *body; /* NUL-terminated; owned by the caller (npc_http_response_free) */
  size_t len;
  char error[256]; /* set when the call fails: curl's words, or the cap */
} npc_http_response;

/* Must be called once before the first fetch, while the program has only
 * one thread (curl_global_init is not thread-safe everywhere). Returns 0 or
 * -ENOMEM. */
int npc_http_init(void);

/* GETs `url` (http or https only, at most 5 redirects within them) with a
 * total time limit of `timeout_ms` (connect limited to min(timeout, 10 s)),
 * keeping at most `cap` bytes of body. On 0 a response arrived: look at
 * res->status (any status, with its body). Returns 0, -EFBIG (body over
 * cap), -ETIMEDOUT, -ECONNREFUSED, -EIO (other transfer errors; res->error
 * says which), -EINVAL (bad URL or protocol) or -ENOMEM. res is always
 * initialised: free it with npc_http_response_free. */
int npc_http_get(const char *url, long timeout_ms, size_t cap,
                 npc_http_response *res);
void npc_http_response_free(npc_http_response *res);

/* The first line of an error body, made printable (pprof endpoints answer
 * errors with one line of text), into out. */
void npc_http_first_line(const npc_http_response *res, char *out, size_t size);

/* ---- json.c: JSON strings ---- */

/* Writes `s` as a JSON string to f: quotes, backslash and control
 * characters escaped, bytes from 0x80 as they are (UTF-8 passes through);
 * NULL as null. */
void npc_json_string(FILE *f, const char *s);

/* ---- grow.c: arrays that grow as they are filled ---- */

/* The array `v` (of *alloc elements of `size` bytes; NULL when *alloc is 0)
 * reallocated to twice as many, or `first` when it had none; *alloc set
 * to the new count. Returns the array, or NULL (out of memory, or a size
 * past SIZE_MAX): `v` and *alloc are then as they were. */
void *npc_grow(void *v, size_t *alloc, size_t size, size_t first);

/* ---- quantile.c: which value of a histogram is its q-th ---- */

/* The 1-based rank of the q-th of `count` sorted values, rounded up (p50 of
 * {1, 2} is the 1st, p99 of 1,000 the 990th); at least 1 and at most count
 * (0 when count is 0). Histograms report the highest value of the bucket
 * holding that rank. */
uint64_t npc_quantile_rank(double q, uint64_t count);

/* ---- run.c: the layout of a load test's run folder ---- */

/* snapshots/<UTC time>-<N>/ holds, per phase, the files npc_run_items names
 * ("baseline.heap.pb.gz", ...), and these: */
#define NPC_RUN_PARAMS "run.json"         /* the run's parameters (loadgen) */
#define NPC_RUN_LOADGEN "loadgen.json"    /* the loadgen's result */
#define NPC_RUN_TIMELINE "timeline.jsonl" /* /debug/vars sampled in the run */
#define NPC_RUN_REPORT_MD "report.md"
#define NPC_RUN_REPORT_HTML "report.html"
/* A run over several loadgen processes (shards) also holds each shard's
 * result, which `nprof merge` turns into NPC_RUN_LOADGEN, the
 * coordinator's (loadgen --coordinate: the phases, snapshots and
 * broadcasts of the whole run), and while it runs the state files that
 * keep the processes in step (loadgen/barrier.c). */
#define NPC_RUN_SHARD_FMT "shard-%u.json" /* printf, the index */
#define NPC_RUN_COORDINATOR "coordinator.json"
#define NPC_RUN_SHARD_STATE_FMT "shard-%u.state"
#define NPC_RUN_COORDINATOR_STATE "coordinator.state"

typedef enum npc_phase {
  NPC_PHASE_BASELINE = 0, /* before the first user */
  NPC_PHASE_PLATEAU = 1,  /* every user connected and settled */
  NPC_PHASE_DRAINED = 2,  /* every user gone and settled */
  NPC_NPHASES = 3
} npc_phase;

/* "baseline", "plateau", "drained". */
const char *npc_phase_name(npc_phase p);
/* The phase named `name`. Returns 0 or -EINVAL. */
int npc_phase_parse(const char *name, npc_phase *out);

/* What a snapshot fetches at each phase: the endpoint, the file suffix
 * ("<phase>.<suffix>"), and whether a run without it is incomplete. */
typedef struct npc_run_item {
  const char *path; /* appended to the debug URL */
  const char *suffix;
  bool required;
} npc_run_item;

#define NPC_RUN_HEAP "heap.pb.gz"
#define NPC_RUN_THREADS "goroutine.pb.gz"
#define NPC_RUN_HEAP_TEXT "heap.txt"
#define NPC_RUN_THREADS_TEXT "goroutine.txt"
#define NPC_RUN_VARS "vars.json"

extern const npc_run_item npc_run_items[];
extern const size_t npc_run_nitems;

/* Writes "<phase>.<suffix>" into buf. Returns 0 or -ENAMETOOLONG. */
int npc_run_file(npc_phase p, const char *suffix, char *buf, size_t size);

#endif /* NPC_H */
