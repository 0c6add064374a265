/*
 * libnprof internals shared across the library's files (prefix nprof__).
 * Nothing here is exported from libnprof.so.
 */
#ifndef NPROF_INTERNAL_H
#define NPROF_INTERNAL_H

#include "nprof.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#define NPROF_MAX_DEPTH 64
/* The largest heap, mutex or block rate accepted (2^40: a sample per TiB
 * or per 18 minutes of waiting is as good as off, and the sampling maths
 * stays far from overflow). */
#define NPROF_MAX_RATE (1L << 40)
#define NPROF_NAME_MAX 64

#define nprof__likely(x) __builtin_expect(!!(x), 1)
#define nprof__unlikely(x) __builtin_expect(!!(x), 0)

/* ---- util.c: logging, the reentrancy guard, buffers, parsing ---- */

/* Nonzero while this thread runs profiler code (stack capture, a request
 * handler): its allocations are served but never sampled, which keeps the
 * profiler out of its own profiles and breaks malloc -> unwind -> malloc
 * recursion. Initial-exec TLS: a plain %fs-relative load, no call. */
extern _Thread_local int nprof__t_internal
    __attribute__((tls_model("initial-exec")));

/* Writes "nprof: <message>\n" to stderr with one write(2); keeps errno. */
void nprof__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable byte buffer with a hard cap (curl's dynbuf habit): every buffer
 * that grows from outside input must refuse to grow past `max`. */
typedef struct nprof__buf {
  char *data;
  size_t len;
  size_t cap;
  size_t max;
} nprof__buf;

void nprof__buf_init(nprof__buf *b, size_t max);
void nprof__buf_free(nprof__buf *b);
/* Returns 0, NPROF_ENOMEM, or NPROF_EINVAL when `max` would be exceeded.
 * The buffer stays NUL-terminated after every successful call. */
int nprof__buf_append(nprof__buf *b, const void *p, size_t n);
int nprof__buf_printf(nprof__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int nprof__buf_vprintf(nprof__buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends `s` as a JSON string literal, quotes included. */
int nprof__buf_json_string(nprof__buf *b, const char *s, size_t n);

/* A writer with a sticky error: once a write fails, the next ones do
 * nothing and `rc` keeps the first error (0 while all went well), so a
 * writer of many parts checks once at the end. */
typedef struct nprof__writer {
  nprof__buf *out;
  int rc;
} nprof__writer;
void nprof__w_printf(nprof__writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void nprof__w_append(nprof__writer *w, const void *p, size_t n);
void nprof__w_json_string(nprof__writer *w, const char *s);

/* Parses a decimal integer in [min, max] that fills the whole string.
 * Returns 0 or NPROF_EINVAL, leaving *out untouched on failure. */
int nprof__parse_long(const char *s, long min, long max, long *out);

/* Validates a profile or variable name: 1-64 of [A-Za-z0-9_.-]. */
bool nprof__name_valid(const char *name);

/* A per-thread xorshift64* generator (Vigna), seeded from the thread's
 * address and the clock: fast, not for secrets. Async-signal-safe. */
uint64_t nprof__rand(void);

/* Makes `m` taken across fork() (before it, released after on both sides),
 * so that a child never inherits it held by a thread it does not have.
 * Call once per lock (from a pthread_once), before the lock is first used;
 * registrations are serialized by their pthread_once. */
void nprof__fork_guard(pthread_mutex_t *m);

/* Starts one of the profiler's own threads: detached, every signal blocked
 * (the application's signals are not ours), through glibc's pthread_create
 * (no threadcreate record; safe in a fork child handler), named `name`
 * when not NULL. Returns 0 or NPROF_ESYSTEM. The _init resolves glibc's
 * function; the constructor calls it, so a fork child never has to. */
int nprof__thread_start(void *(*fn)(void *), void *arg, const char *name);
void nprof__thread_start_init(void);

/* libnprof's two signal handlers (SIGPROF in cpu.c, the capture signal in
 * threads.c) are installed one way: SA_SIGINFO, SA_RESTART (interrupted
 * system calls resume where they can), every signal blocked while one
 * runs. _install returns 0 or NPROF_ESYSTEM; _is tells whether `sa` is
 * `fn` installed so (the application may have replaced it since). */
typedef void (*nprof__signal_fn)(int sig, siginfo_t *si, void *uc);
int nprof__signal_install(int sig, nprof__signal_fn fn);
bool nprof__signal_is(const struct sigaction *sa, nprof__signal_fn fn);

/* Anonymous memory straight from the kernel, for tables the allocator hooks
 * use (they must not call malloc). Returns NULL on failure. */
void *nprof__pages_alloc(size_t size);
void nprof__pages_free(void *p, size_t size);
/* Bytes currently held through nprof__pages_alloc (the profiler's own). */
size_t nprof__pages_in_use(void);

/* Bump allocation in 1 MiB chunks of page memory, for records that live
 * until the process ends (profile buckets). Not thread-safe: the owner
 * guards it with its own lock. Returns NULL when n exceeds a chunk or the
 * kernel refuses. */
typedef struct nprof__arena {
  char *cur;
  size_t left;
} nprof__arena;
void *nprof__arena_alloc(nprof__arena *a, size_t n);

/* ---- config.c: the environment, read once ---- */

typedef struct nprof__config {
  const char *allowed_hosts; /* NPROF_ALLOWED_HOSTS, NULL when unset */
  const char *heap_wrappers; /* NPROF_HEAP_WRAPPERS, NULL when unset */
  long cpu_hz;               /* NPROF_CPU_HZ (1..1000), else the default */
} nprof__config;

/* The environment as it was at start-up (read on the first call, which
 * the library's constructor makes). */
const nprof__config *nprof__config_get(void);

/* Whether the comma-separated `list` (spaces around items ignored) holds
 * the `len` bytes at `word`, case-insensitively. */
bool nprof__list_has(const char *list, const char *word, size_t len);

/* ---- stack.c: unwinding (libunwind, reads DWARF CFI) ---- */

/* Stacks hold "call site" addresses: a caller's return address minus one, so
 * that symbolization lands on the call instruction's line. Only the first
 * frame of a signal-context stack is an exact pc. */

/* Captures the caller's stack, skipping `skip` frames above the caller.
 * Returns the depth (0..max). Not async-signal-safe in general; safe in
 * malloc hooks under nprof__t_internal. */
int nprof__stack_capture(uintptr_t *pcs, int max, int skip);

/* Captures the stack interrupted by a signal, from the handler's ucontext.
 * Async-signal-safe for local unwinding. */
int nprof__stack_capture_signal(uintptr_t *pcs, int max, void *ucontext);

/* ---- heap.c: heap sampling (the state behind the malloc hooks) ---- */

/* Bytes this thread may still allocate before the next sample. The malloc
 * fast path only subtracts from it; see heap.c for the distribution. */
extern _Thread_local int64_t nprof__t_heap_countdown
    __attribute__((tls_model("initial-exec")));

/* The allocation fast path: counts `size` bytes against the countdown and
 * says whether it ran out (then nprof__heap_should_sample decides). One
 * subtraction and a sign test; unsigned arithmetic, so a huge size (which
 * glibc refuses anyway) cannot overflow. */
static inline __attribute__((always_inline)) bool nprof__heap_count(size_t size)
{
  uint64_t c = (uint64_t)nprof__t_heap_countdown - size;
  nprof__t_heap_countdown = (int64_t)c;
  return nprof__unlikely((int64_t)c < 0);
}

/* Slow path, taken when an allocation of `size` ran the countdown out:
 * decides whether this allocation is sampled and rearms the countdown. */
bool nprof__heap_should_sample(size_t size);

/* A sampled block shrunk from old_size to new_size stays sampled with the
 * probability that keeps it sampled as a block of new_size would be
 * (heap.c); false means: un-sample it. */
bool nprof__heap_keep_shrunk(size_t old_size, size_t new_size);

/* Brackets the stack capture of a sample. enter returns false while a fork
 * is being prepared: the sample is then skipped (no stack), so the child
 * never inherits a thread stopped inside the unwinder. */
bool nprof__heap_gate_enter(void);
void nprof__heap_gate_leave(void);

/* One (stack, size class) of the heap profile; never freed. Opaque. */
typedef struct nprof__heap_bucket nprof__heap_bucket;

/* The header malloc.c places just before a sampled block's user pointer.
 * The tag is a constant whose top bit is set: on an unsampled glibc block
 * the same 8 bytes hold the chunk's size field, which never has it, so a
 * tag match means sampled and free needs no lookup. 32 bytes keeps
 * malloc's 16-byte alignment. */
#define NPROF_HEAP_TAG ((uint64_t)(int64_t)INT32_C(-0x61c88647))
typedef struct nprof__heap_header {
  nprof__heap_bucket *bucket;
  size_t size;     /* as requested (what malloc_usable_size reports) */
  uint64_t offset; /* bytes from glibc's block to the user pointer */
  uint64_t tag;    /* NPROF_HEAP_TAG; 0 once freed */
} nprof__heap_header;

static inline nprof__heap_header *nprof__heap_header_of(const void *p)
{
  return (nprof__heap_header *)p - 1;
}

/* The bucket of a new sample of `size` bytes allocated at `pcs`: found
 * without a lock, created under one. When the table is full, the overflow
 * bucket of its size class. NULL only when out of memory (the caller then
 * serves the block unsampled; counted in dropped_samples). */
nprof__heap_bucket *nprof__heap_bucket_get(const uintptr_t *pcs, int depth,
                                           size_t size);
/* Counts a sampled block in its bucket, or its free. Lock-free, any
 * thread, any time after nprof__heap_bucket_get. */
void nprof__heap_record_alloc(nprof__heap_bucket *b, size_t size);
void nprof__heap_record_free(nprof__heap_bucket *b, size_t size);
/* A sampled block resized in place: counted as freed at old_size and
 * allocated at new_size, in the bucket of the same stack and the new size
 * class, which it returns (b itself when that cannot be had). */
nprof__heap_bucket *nprof__heap_record_resize(nprof__heap_bucket *b,
                                              size_t old_size, size_t new_size);

/* Over-aligned sampled blocks (alignment >= NPROF_HEAP_OOB_ALIGN) get no
 * header, which would cost an alignment's worth of padding: their record
 * is kept out of band, in a table keyed by the (page-aligned) pointer.
 * add returns 0 or NPROF_ENOMEM; find and take return whether p is one
 * (take also removes it). find and take cost one relaxed load when p is
 * not in the table. */
#define NPROF_HEAP_OOB_ALIGN 4096
int nprof__heap_oob_add(void *p, nprof__heap_bucket *b, size_t size);
bool nprof__heap_oob_find(const void *p, nprof__heap_bucket **b, size_t *size);
bool nprof__heap_oob_take(const void *p, nprof__heap_bucket **b, size_t *size);

/* Registers the fork handlers and reads NPROF_HEAP_RATE once; idempotent
 * and cheap. */
void nprof__heap_init(void);
int nprof__heap_rate_set(long rate);
long nprof__heap_rate_get(void);

/* One heap record: a (stack, block size) pair with raw sampled counts. The
 * stack points into the profiler's never-freed bucket memory. */
typedef struct nprof__heap_record {
  const void *id; /* stable identity across snapshots (delta profiles) */
  const uintptr_t *pcs;
  int depth;
  size_t size; /* the bucket's size class (upper bound) */
  int64_t allocs, alloc_bytes, frees, free_bytes;
} nprof__heap_record;

/* Copies every record out (malloc'd array owned by the caller): every
 * sample recorded before the call is in it. Takes no heap lock. Returns
 * the count, or NPROF_ENOMEM. */
long nprof__heap_snapshot(nprof__heap_record **out);

/* Go's scaleHeapSample: turns sampled (count, bytes) into unbiased
 * estimates for a sampling rate, given blocks of equal size. */
void nprof__heap_unsample(int64_t count, int64_t bytes, long rate,
                          int64_t *est_count, int64_t *est_bytes);

typedef struct nprof__heap_stats {
  long rate;
  int64_t samples;          /* sampled allocations (a resize counts one) */
  int64_t live_samples;     /* sampled blocks not yet freed */
  int64_t buckets;          /* overflow buckets included */
  int64_t overflow_samples; /* samples that found the bucket table full */
  int64_t dropped_samples;  /* samples not recorded: out of memory */
  int64_t inuse_objects;    /* unsampled estimates */
  int64_t inuse_bytes;
  int64_t alloc_objects;
  int64_t alloc_bytes;
} nprof__heap_stats;
void nprof__heap_stats_get(nprof__heap_stats *st);

/* ---- dump.c: heap profiles written when RSS crosses thresholds ---- */

/* Reads NPROF_DUMP_DIR, NPROF_DUMP_RSS and NPROF_DUMP_MAX and starts the
 * dump thread; says on stderr (once) why not when they are bad. */
void nprof__dump_init(void);
/* Starts writing DIR/heap.<pid>.<seq>.pb.gz when RSS first exceeds `rss`
 * bytes and then each time it grows 50% past the last dump, at most `max`
 * files. Returns 0, NPROF_EINVAL (bad values, or `dir` is not a writable
 * folder), NPROF_EALREADY (started before) or NPROF_ESYSTEM (no thread). */
int nprof__dump_start(const char *dir, int64_t rss, long max);
/* Parses a byte size: decimal digits with an optional K, M, G or T (binary
 * multiples), greater than 0. Returns 0 or NPROF_EINVAL (*out untouched). */
int nprof__dump_parse_size(const char *s, int64_t *out);
/* Appends the dump fields of /debug/vars' "nprof" object, each after a
 * ", ". Returns 0 or an nprof__buf error. */
int nprof__dump_vars_write(nprof__buf *out);

/* ---- malloc.c: the interposed malloc family ---- */

/* Whether p is a live sampled block, and its requested size. */
bool nprof__malloc_sampled(const void *p, size_t *size);

/* ---- symbolize.c: addresses to names (libdw from elfutils) ---- */

typedef struct nprof__sym {
  const char *function; /* never NULL; "" when no symbol names the address */
  const char *file;     /* NULL when unknown */
  int line;
  uintptr_t offset;        /* addr - function start, 0 when unknown */
  const char *module;      /* base name of the object there, or NULL */
  uintptr_t module_offset; /* addr in that object's own address space */
  bool known;              /* a symbol table named it */
} nprof__sym;

/* Rereads the process's modules when objects were loaded or unloaded since
 * the last call (the address cache is flushed then). Call once per
 * request, before a batch of nprof__symbolize(). */
void nprof__symbolize_refresh(void);
/* Resolves `addr`. The strings live until the process ends (interned).
 * Thread-safe (one lock). */
void nprof__symbolize(uintptr_t addr, nprof__sym *out);
/* Entries in the address cache (at most 16384), for tests. */
size_t nprof__symbolize_cache_len(void);
/* A printable name for a frame in text outputs: the function, else
 * "module+0xOFFSET" (stable across processes), else the address. Returns
 * sym->function or `buf` (NPROF_SYM_BUF bytes are enough). */
#define NPROF_SYM_BUF 256
const char *nprof__sym_name(const nprof__sym *sym, uintptr_t addr, char *buf,
                            size_t len);

typedef struct nprof__mapping {
  uintptr_t start, limit, offset;
  const char *path;     /* interned */
  const char *build_id; /* hex, interned; "" when none */
} nprof__mapping;
/* The executable mappings of the process. Returns a malloc'd array (caller
 * frees the array, not the strings) and its length, or -1. */
long nprof__mappings(nprof__mapping **out);

/* ---- pprof.c: profile.proto encoder ---- */

typedef struct nprof__pprof nprof__pprof;

typedef struct nprof__label {
  const char *key;
  const char *str; /* NULL for a numeric label */
  int64_t num;
  const char *unit; /* for numeric labels, may be NULL */
} nprof__label;

/* A builder for one profile with `ntypes` sample types given as
 * "type/unit" pairs. Returns NULL on ENOMEM. */
nprof__pprof *nprof__pprof_new(const char *const *types, int ntypes);
void nprof__pprof_free(nprof__pprof *b);
void nprof__pprof_period(nprof__pprof *b, const char *type, const char *unit,
                         int64_t period);
void nprof__pprof_default_type(nprof__pprof *b, const char *type);
void nprof__pprof_duration(nprof__pprof *b, int64_t nanos);
void nprof__pprof_comment(nprof__pprof *b, const char *text);
/* Adds a sample; `values` has one entry per sample type. Returns 0 or
 * NPROF_ENOMEM. */
int nprof__pprof_add(nprof__pprof *b, const uintptr_t *pcs, int depth,
                     const int64_t *values, const nprof__label *labels,
                     int nlabels);
/* Serializes, gzip-compresses and appends to `out`. Returns 0 or an error. */
int nprof__pprof_write(nprof__pprof *b, nprof__buf *out);

/* The rest of one record of Go's legacy text profiles, after the caller
 * wrote its counts: " @ 0x.. 0x..\n" (what pprof's legacy parser reads),
 * `between` (NULL or lines of the caller's), one
 * "#\t0x...\tfunc+0x..\tfile:line" line per frame (for people) and a blank
 * line. The one writer of that format. */
void nprof__text_record(nprof__writer *w, const uintptr_t *pcs, int depth,
                        const char *between);

/* ---- threads.c: every thread's stack, captured by signal ---- */

typedef struct nprof__thread {
  pid_t tid;
  char name[16];
  char state; /* the letter from /proc/<pid>/task/<tid>/stat */
  int depth;  /* -1: the thread did not answer (signal blocked) */
  uintptr_t pcs[NPROF_MAX_DEPTH];
} nprof__thread;

/* Installs the capture signal's handler (NPROF_SIGNAL, else the highest free
 * real-time signal). Returns 0 or NPROF_ESYSTEM. */
int nprof__threads_init(void);
/* Captures every thread. Threads that block the capture signal are listed
 * without a stack (depth -1) and never sent it. Returns a malloc'd array
 * and its length, or NPROF_ESYSTEM (no signal), NPROF_ESIGNAL (the
 * application installed its own handler on the signal since: nothing was
 * sent) or NPROF_ENOMEM. One capture runs at a time. */
long nprof__threads_capture(nprof__thread **out);
/* The capture signal's number, or 0 when there is none. */
int nprof__threads_signal(void);
/* Test hook: when positive, every capture handler sleeps this long after
 * it looked up the capture in progress (a handler delayed past the
 * requester's drain). Always 0 outside tests. */
extern atomic_llong nprof__threads_test_delay_ns;
/* The number of threads of the process (from /proc), or -1. */
long nprof__threads_count(void);
/* In a fork child: forget a capture the parent had in flight. */
void nprof__threads_fork_child(void);

/* ---- custom.c: application-defined profiles ---- */

typedef void (*nprof__custom_visit_fn)(const char *name, long count, void *arg);
void nprof__custom_list(nprof__custom_visit_fn fn, void *arg);

typedef struct nprof__count_stack {
  int depth;
  long count;
  uintptr_t pcs[NPROF_MAX_DEPTH];
} nprof__count_stack;
/* Copies out the stacks of application profile `name` (count 1 each).
 * Returns how many (malloc'd array in *out), or NPROF_ENOENT. */
int nprof__custom_stacks(const char *name, nprof__count_stack **out);

/* ---- cpu.c: the CPU profiler (per-thread CPU-time timers, SIGPROF) ---- */

#define NPROF_DEFAULT_CPU_HZ 100
#define NPROF_MAX_CPU_HZ 1000
/* Cap on the samples a trace keeps with their times. */
#define NPROF_MAX_TRACE_EVENTS (1 << 20)

/* One sample, as the SIGPROF handler wrote it into the ring. */
typedef struct nprof__cpu_sample {
  pid_t tid;
  int depth;
  int64_t time_ns; /* npc_mono_ns() at the signal */
  uintptr_t pcs[NPROF_MAX_DEPTH];
} nprof__cpu_sample;

typedef void (*nprof__cpu_sink_fn)(const nprof__cpu_sample *s, void *arg);

/* NPROF_CPU_HZ (1..1000), else NPROF_DEFAULT_CPU_HZ. */
long nprof__cpu_hz_default(void);
/* Starts sampling every thread at `hz`. Returns 0, NPROF_EINVAL,
 * NPROF_EBUSY (a session runs), NPROF_ESIGNAL (the application has a
 * SIGPROF handler), NPROF_ENOMEM or NPROF_ESYSTEM. One session at a time;
 * the caller of start is the only one to call poll and stop. */
int nprof__cpu_start(long hz);
/* Arms timers on new threads (every 50 ms at most) and hands the samples
 * collected so far to `fn`. */
void nprof__cpu_poll(nprof__cpu_sink_fn fn, void *arg);
/* Deletes every timer, restores SIGPROF and hands the last samples over. */
void nprof__cpu_stop(nprof__cpu_sink_fn fn, void *arg);
/* In a fork child: the session (if any) ends, SIGPROF is given back. */
void nprof__cpu_fork_child(void);
/* 1 while a session samples (timers armed), else 0. */
int nprof__cpu_active(void);
/* Samples dropped because the ring was full, in the current session. */
int64_t nprof__cpu_lost(void);
/* Called by a thread as it starts (interpose.c): arms its timer at once
 * when a session runs. */
void nprof__cpu_thread_started(void);

/* Samples aggregated by (thread, stack), and optionally each sample's time
 * (for the trace). Zero-initialize; free with nprof__cpu_data_free. */
typedef struct nprof__cpu_stack {
  uint64_t hash;
  pid_t tid;
  int depth;
  int64_t count;
  uintptr_t pcs[NPROF_MAX_DEPTH];
} nprof__cpu_stack;

typedef struct nprof__cpu_event {
  int64_t time_ns;
  pid_t tid;
  uint32_t stack; /* index in stacks */
} nprof__cpu_event;

typedef struct nprof__cpu_thread {
  pid_t tid;
  char name[16];
} nprof__cpu_thread;

typedef struct nprof__cpu_data {
  bool keep_events;
  long hz;
  int64_t start_ns, duration_ns, samples, lost, events_dropped;
  int rc; /* NPROF_ENOMEM once aggregation failed */
  nprof__cpu_stack *stacks;
  size_t nstacks, stacks_cap;
  uint32_t *index; /* open addressing: stack index + 1 */
  size_t index_cap;
  nprof__cpu_event *events;
  size_t nevents, events_cap;
  nprof__cpu_thread *threads; /* names read when a thread is first seen */
  size_t nthreads, threads_cap;
} nprof__cpu_data;

/* A sink for nprof__cpu_poll/stop: `arg` is an nprof__cpu_data. */
void nprof__cpu_data_add(const nprof__cpu_sample *s, void *arg);
void nprof__cpu_data_free(nprof__cpu_data *d);
const char *nprof__cpu_thread_name(const nprof__cpu_data *d, pid_t tid);
/* Samples for `duration_ns` (waking early when the server stops: then
 * NPROF_ECANCELED) into `d`. Returns 0 or an error of nprof__cpu_start. */
int nprof__cpu_run(long hz, int64_t duration_ns, nprof__cpu_data *d);

/* ---- contention.c: mutex and block profiles ---- */

typedef enum nprof__wait_profile {
  NPROF__MUTEX = 0,
  NPROF__BLOCK = 1
} nprof__wait_profile;

typedef enum nprof__wait_kind {
  NPROF__WAIT_MUTEX = 0,
  NPROF__WAIT_RWLOCK = 1,
  NPROF__WAIT_COND = 2
} nprof__wait_kind;

/* Read by the interposed lock functions on every call. */
extern atomic_long nprof__mutex_rate;
extern atomic_long nprof__block_rate;
/* Nonzero when either rate is on or a trace runs. */
extern atomic_int nprof__contention_on;

/* Reads NPROF_MUTEX_RATE and NPROF_BLOCK_RATE. */
void nprof__contention_init(void);
int nprof__contention_rate_set(nprof__wait_profile which, long rate);
long nprof__contention_rate_get(nprof__wait_profile which);

/* A wait of `delay_ns` that began at `start_ns` ended in the caller of the
 * caller of this function (`skip` more frames are left out): decides by
 * the rates whether it is kept, and records the stack. Keeps errno. */
void nprof__contention_record(nprof__wait_kind kind, int64_t start_ns,
                              int64_t delay_ns, int skip);

typedef struct nprof__wait_record {
  const void *id; /* stable across snapshots */
  const uintptr_t *pcs;
  int depth;
  double count;
  int64_t delay_ns;
} nprof__wait_record;
/* Copies the records of one profile out (malloc'd, caller frees the array
 * only). Returns the count or NPROF_ENOMEM. */
long nprof__contention_snapshot(nprof__wait_profile which,
                                nprof__wait_record **out);
/* Waits not recorded because the tables are full. */
int64_t nprof__contention_dropped(void);

#define NPROF_TRACE_DEPTH 16
typedef struct nprof__wait_event {
  int64_t start_ns, delay_ns;
  pid_t tid;
  int kind; /* nprof__wait_kind */
  int depth;
  uintptr_t pcs[NPROF_TRACE_DEPTH];
} nprof__wait_event;
/* While a trace runs, keep every wait of 10 us or more, up to
 * `max_events`. Returns 0, NPROF_EBUSY or NPROF_ENOMEM. */
int nprof__contention_trace_begin(size_t max_events);
/* Stops keeping them; returns the malloc'd events (caller frees) and their
 * count, and how many did not fit. */
long nprof__contention_trace_end(nprof__wait_event **out, int64_t *ndropped);

/* ---- threadcreate.c: where live threads were created ---- */

typedef struct nprof__tc_record nprof__tc_record;
/* Records a creation stack (creator side). NULL when out of memory. */
nprof__tc_record *nprof__threadcreate_new(const uintptr_t *pcs, int depth);
/* Hands the record to the calling (new) thread: removed when it exits. */
void nprof__threadcreate_adopt(nprof__tc_record *r);
/* Removes and frees a record; NULL is a no-op. */
void nprof__threadcreate_remove(nprof__tc_record *r);
long nprof__threadcreate_count(void);
/* Copies out the stacks of live threads (count 1 each). Returns how many
 * (malloc'd array in *out) or NPROF_ENOMEM. */
int nprof__threadcreate_stacks(nprof__count_stack **out);

typedef struct nprof__range {
  uintptr_t lo, hi; /* [lo, hi) */
} nprof__range;
/* The memory ranges of the live threads' stacks (threads created through
 * pthread_create since libnprof was loaded). Returns how many (malloc'd
 * array in *out) or NPROF_ENOMEM. */
long nprof__threadcreate_stack_ranges(nprof__range **out);

/* ---- trace.c: Chrome Trace Event JSON ---- */

/* The largest trace response built inside the host: 256 MiB. Browsers'
 * trace viewers (Perfetto's UI, chrome://tracing) parse the JSON as one
 * string, and V8 caps a string at 2^29 - 24 characters (~512 MiB); the
 * buffer doubles as it grows, so this also keeps the host's extra memory
 * under 512 MiB. A variable only so that tests can lower it. */
#define NPROF_TRACE_MAX_BYTES ((size_t)256 << 20)
extern size_t nprof__trace_max_bytes;

/* Writes the trace of a CPU session and the waits seen meanwhile. */
int nprof__trace_write(const nprof__cpu_data *d, const nprof__wait_event *w,
                       long nw, int64_t wait_dropped, nprof__buf *out);

/* ---- vars.c and procstat.c: /debug/vars ---- */

int nprof__vars_write(nprof__buf *out);

typedef struct nprof__procstat {
  int64_t rss_bytes, peak_rss_bytes, vm_bytes;
  int64_t rss_anon_bytes, rss_file_bytes; /* RssAnon, RssFile */
  /* Resident pages of the threads' stacks: the main thread's [stack] and
   * every thread libnprof saw start (see procstat.c). */
  int64_t thread_stacks_rss_bytes;
  long threads, open_fds;
  long profiler_threads; /* libmicrohttpd's threads ("MHD-..."): ours */
  double cpu_user_s, cpu_sys_s, uptime_s;
} nprof__procstat;
void nprof__procstat_read(nprof__procstat *ps);

/* The value of "Key:" at the start of a line of a /proc status-style text
 * (spaces skipped), or NULL. */
const char *nprof__proc_field(const char *text, const char *key);
/* A "Key:   123 kB" field in bytes, 0 when absent. */
int64_t nprof__proc_kb(const char *text, const char *key);
/* Finds the main thread's stack in a /proc/self/maps line ("lo-hi perms
 * ... [stack]"). Returns true and sets *r when the line is that one. */
bool nprof__maps_stack_line(const char *line, nprof__range *r);
/* Resident bytes in [lo, hi) (mincore); unmapped parts count 0. */
int64_t nprof__resident_bytes(uintptr_t lo, uintptr_t hi);

/* ---- mallocstat.c: glibc's own accounting ---- */

typedef struct nprof__malloc_stats {
  bool glibc; /* false: another allocator serves malloc (no figures) */
  int64_t in_use_bytes;     /* mallinfo2 uordblks */
  int64_t free_bytes;       /* fordblks (fastbins' fsmblks included) */
  int64_t mmapped_bytes;    /* hblkhd */
  int64_t arena_bytes;      /* arena: every arena's system memory */
  int64_t arenas;           /* <heap> entries of malloc_info; -1 unknown */
  int64_t releasable_bytes; /* estimate of malloc_trim(0); -1 unknown */
  int64_t age_ns;           /* how old the figures are (0: walked now) */
  int64_t walks;            /* arena walks done so far in the process */
} nprof__malloc_stats;
/* Whether the process's malloc is glibc's (ours, over glibc, included). */
bool nprof__malloc_is_glibc(void);
/* Reads the figures (walks every arena: requests only, never a hot path).
 * Walks take at most 1% of the wall time: in between, the last figures are
 * served with their age. Thread-safe. */
void nprof__malloc_stats_read(nprof__malloc_stats *ms);
/* The malloc_info(0) XML parser behind it: the arena count and the whole
 * pages inside free chunks. Returns 0 or NPROF_EINVAL. */
int nprof__malloc_info_parse(const char *xml, long page, int64_t *arenas,
                             int64_t *releasable);

/* The tids of the process's threads, from /proc/self/task (the one place
 * that lists them). Returns the count and a malloc'd array, or
 * NPROF_ESYSTEM or NPROF_ENOMEM. */
long nprof__tasks_list(pid_t **out);
/* A thread's name (/proc/self/task/<tid>/comm) into name[16]; "?" when the
 * thread is gone. The one place that reads thread names. */
void nprof__task_name(pid_t tid, char name[16]);

typedef struct nprof__task_status {
  char state;      /* the letter of State: R, S, D, T, t, Z, X, I */
  uint64_t sigblk; /* SigBlk: bit n-1 set when signal n is blocked */
  bool in_sigwait; /* blocked in sigwaitinfo/sigtimedwait (from syscall) */
} nprof__task_status;
/* Reads /proc/self/task/<tid>/status and .../syscall. Returns 0,
 * NPROF_ENOENT (the thread is gone) or NPROF_EINVAL (unreadable). */
int nprof__task_status_read(pid_t tid, nprof__task_status *ts);
/* The parsers behind it, on the files' texts. The first returns 0 or
 * NPROF_EINVAL (and leaves in_sigwait alone). */
int nprof__task_status_parse(const char *status, nprof__task_status *ts);
bool nprof__task_syscall_is_sigwait(const char *syscall_text);
/* The process's command line as NUL-separated argv (from /proc). */
int nprof__cmdline(nprof__buf *out);

/* ---- endpoints.c: the route table and what handlers share ---- */

typedef struct nprof__request {
  const char *name;  /* the part after /debug/pprof/ ("" for the index) */
  const char *debug; /* query values as sent, NULL when absent */
  const char *seconds;
  bool post;
  const char *body; /* POST body, or a GET's query rebuilt ("0x1+0x2") */
  size_t body_len;
} nprof__request;

typedef struct nprof__response {
  int status;
  const char *content_type;
  const char *disposition; /* attachment file name, or NULL */
  bool go_error;           /* Go's serveError: X-Go-Pprof: 1 */
  nprof__buf body;
  char name[NPROF_NAME_MAX + 8]; /* storage for `disposition` */
} nprof__response;

/* What seconds= means to a route (Go: profileSupportsDelta, the CPU
 * profile's and the trace's durations). */
typedef enum nprof__seconds {
  NPROF__SECONDS_NONE = 0,      /* refused with Go's 400 */
  NPROF__SECONDS_DELTA = 1,     /* a delta profile over that many seconds */
  NPROF__SECONDS_DURATION = 2,  /* how long to sample (whole seconds) */
  NPROF__SECONDS_FRACTIONAL = 3 /* the same, fractions allowed (trace) */
} nprof__seconds;

/* A request's parameters, checked by the dispatcher. */
typedef struct nprof__args {
  const nprof__request *req;
  int debug;
  long seconds;    /* 0: none given */
  double fseconds; /* NPROF__SECONDS_FRACTIONAL routes */
} nprof__args;

typedef struct nprof__route nprof__route;
/* Serves a request whose parameters passed; returns 0 (the response is
 * set, errors included) or a code the dispatcher turns into 500 (503 for
 * NPROF_ECANCELED). */
typedef int nprof__serve_fn(const nprof__route *r, const nprof__args *a,
                            nprof__response *res);

struct nprof__route {
  const char *name; /* after /debug/pprof/, or a whole path ("/debug/vars") */
  nprof__serve_fn *serve;
  nprof__seconds seconds;
  const char *content_type; /* of a successful (debug=0) answer */
  const char *disposition;  /* attachment name; NULL: the profile's name */
};

/* The route of a URL path, or NULL (404); *name is the part after
 * /debug/pprof/. Unknown valid names there route to application profiles. */
const nprof__route *nprof__route_find(const char *path, const char **name);
/* Checks the parameters (Go's errors), applies the concurrency limit of
 * delta profiles (429), and serves. */
void nprof__route_serve(const nprof__route *r, const nprof__request *req,
                        nprof__response *res);
/* Serves /debug/pprof/<req->name> (the route table, by name). */
void nprof__endpoint_profile(const nprof__request *req, nprof__response *res);

/* Go's serveError: `status`, text/plain, X-Go-Pprof. */
void nprof__res_error(nprof__response *res, int status, const char *text);
/* 200 for a profile: text/plain for debug != 0, else the route's type
 * and an attachment name (Go's, "-delta" for delta profiles). */
void nprof__res_ok(nprof__response *res, const nprof__route *r,
                   const nprof__args *a, const char *name);
/* 200 with the route's content type, no attachment. */
void nprof__res_page(nprof__response *res, const nprof__route *r);
int nprof__cmp_pcs(const uintptr_t *a, int da, const uintptr_t *b, int db);

/* A delta profile's one step: snapshot, sleep `seconds` (waking when the
 * server stops: NPROF_ECANCELED), snapshot again, subtract the first from
 * the second record by record (matched by the `const void *id` each record
 * type starts with). *after is malloc'd (caller frees). */
typedef struct nprof__delta_ops {
  long (*snapshot)(void **out);
  size_t size; /* of one record */
  void (*subtract)(void *after, const void *before);
} nprof__delta_ops;
int nprof__delta(const nprof__delta_ops *ops, long seconds, void **after,
                 long *n, int64_t *duration_ns);

/* The handlers, by family (endpoint_*.c). */
nprof__serve_fn nprof__serve_heap, nprof__serve_goroutine,
    nprof__serve_threadcreate, nprof__serve_custom, nprof__serve_wait,
    nprof__serve_cpu, nprof__serve_trace, nprof__serve_index,
    nprof__serve_symbol, nprof__serve_cmdline, nprof__serve_vars;

/* ---- endpoint_heap.c ---- */

/* Appends the gzipped heap profile /debug/pprof/heap serves with default
 * parameters (heap dumps use it). Returns 0, NPROF_ENOMEM, or NPROF_EINVAL
 * when `out` would pass its cap. */
int nprof__heap_profile(nprof__buf *out);

/* ---- endpoint_index.c ---- */

/* Answers a symbol lookup (Go's pprof.Symbol): `query` holds addresses
 * separated by '+'. */
void nprof__endpoint_symbol(const char *query, size_t len,
                            nprof__response *res);
/* The index page. */
void nprof__endpoint_index(nprof__response *res);

/* ---- http.c: the server ---- */

/* The DNS-rebinding guard: whether a request whose Host header is `host`
 * (NULL: none, as HTTP/1.0 allows) may be served. IP literals (v4 and
 * [v6], with or without a port), "localhost" and the names in `allowed`
 * (NPROF_ALLOWED_HOSTS: comma-separated, "*" for any) pass. */
bool nprof__http_host_allowed(const char *host, const char *allowed);
int nprof__server_start(const char *addr);
int nprof__server_stop(void);
const char *nprof__server_address(void);
/* In a fork child: forget the parent's server without touching it, and
 * take its address over (once on stderr) when the parent lets it go, as a
 * daemonizing parent does by exiting. */
void nprof__server_fork_child(void);

/* Sleeps `ns` nanoseconds of CLOCK_MONOTONIC (a delta profile's seconds,
 * CPU-profile polling); returns false when the server is stopping (the
 * request is then answered with an error). */
bool nprof__server_sleep_ns(int64_t ns);
/* Longest `seconds` a request may ask for (Go's WriteTimeout analogue). */
#define NPROF_MAX_SECONDS 3600

#endif /* NPROF_INTERNAL_H */
