/*
 * libnprof: Go-compatible /debug/pprof endpoints for C programs.
 *
 * Two ways in:
 *  - Preloaded into an unmodified program:
 *      LD_PRELOAD=libnprof.so NPROF_LISTEN=127.0.0.1:6060 prog args
 *    A constructor reads NPROF_LISTEN (unset: no server) and NPROF_HEAP_RATE.
 *  - Linked: call nprof_start() with options.
 *
 * Either way the malloc family is interposed so heap allocations are sampled
 * (NPROF_HEAP_RATE: mean bytes between samples, default 524288 as in Go; 1
 * samples every allocation; 0 turns heap profiling off), and so are
 * pthread_create (threadcreate profile) and the pthread lock and wait
 * functions (mutex and block profiles: NPROF_MUTEX_RATE, NPROF_BLOCK_RATE,
 * off by default). The CPU profile (/debug/pprof/profile, and trace)
 * samples at NPROF_CPU_HZ (default 100) with SIGPROF, only while a request
 * asks for it, and refuses when the application has a SIGPROF handler.
 *
 * Every function returns 0 or a positive value on success and a negative
 * NPROF_E* code on failure; nprof_strerror() turns a code into words. No
 * function aborts the process or changes errno as seen by the caller.
 */
#ifndef NPROF_H
#define NPROF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NPROF_BUILDING)
#define NPROF_EXTERN __attribute__((visibility("default")))
#else
#define NPROF_EXTERN
#endif

/* Error codes. Keep nprof_strerror() in step. */
typedef enum nprof_error {
  NPROF_EINVAL = -1,    /* an argument is malformed (address, name, rate) */
  NPROF_ENOMEM = -2,    /* out of memory */
  NPROF_EADDR = -3,     /* the listen address cannot be parsed or resolved */
  NPROF_ELISTEN = -4,   /* the listen address cannot be bound */
  NPROF_EALREADY = -5,  /* the server is already running */
  NPROF_EEXIST = -6,    /* a profile or variable with that name exists */
  NPROF_ENOENT = -7,    /* no such key, profile or server */
  NPROF_ESYSTEM = -8,   /* a system call failed (thread, signal, timer) */
  NPROF_EBUSY = -9,     /* the CPU profiler is already in use */
  NPROF_ESIGNAL = -10,  /* the application has its own SIGPROF handler */
  NPROF_ECANCELED = -11 /* the server stopped while a profile was taken */
} nprof_error;

/* Returns a static, human-readable description of `err`. */
NPROF_EXTERN const char *nprof_strerror(int err);

/* Default listen address of nprof_start() when neither the options nor
 * NPROF_LISTEN name one. Loopback only: a debug port must not face the
 * network unless the user says so. */
#define NPROF_DEFAULT_LISTEN "127.0.0.1:6060"
/* Mean bytes between heap samples, as Go's runtime.MemProfileRate. */
#define NPROF_DEFAULT_HEAP_RATE 524288

typedef struct nprof_options {
  /* "host:port", "[v6]:port" or ":port" (":port" means 127.0.0.1:port).
   * Port 0 picks a free port; nprof_listen_address() tells which. NULL:
   * NPROF_LISTEN, else NPROF_DEFAULT_LISTEN. */
  const char *listen_addr;
  /* Mean bytes between heap samples; negative: NPROF_HEAP_RATE, else the
   * default. 0 turns heap sampling off. */
  long heap_rate;
  /* Mutex contention: one contended acquisition in `mutex_rate` is
   * recorded (Go's SetMutexProfileFraction); 0 off. Negative:
   * NPROF_MUTEX_RATE, else off. */
  long mutex_rate;
  /* Blocking: one sample per `block_rate` nanoseconds spent waiting on
   * locks and condition variables (Go's SetBlockProfileRate); 1 every
   * wait; 0 off. Negative: NPROF_BLOCK_RATE, else off. */
  long block_rate;
} nprof_options;

/* Fills `opts` with the defaults (NULL address, rates -1). */
NPROF_EXTERN void nprof_options_init(nprof_options *opts);

/* Starts the HTTP server serving /debug/pprof/ and /debug/vars.
 * `opts` may be NULL for the defaults.
 * Returns 0, NPROF_EINVAL (bad rate), NPROF_EADDR, NPROF_ELISTEN,
 * NPROF_EALREADY, NPROF_ENOMEM or NPROF_ESYSTEM. */
NPROF_EXTERN int nprof_start(const nprof_options *opts);

/* Stops the HTTP server; waits for in-flight requests. Sampling goes on.
 * Returns 0 or NPROF_ENOENT when no server runs. */
NPROF_EXTERN int nprof_stop(void);

/* The address the server listens on, as "host:port" (the real port when 0
 * was asked), or NULL when no server runs. The string stays valid until
 * nprof_stop(). */
NPROF_EXTERN const char *nprof_listen_address(void);

/* Sets the mean bytes between heap samples at run time (0: off). Threads pick
 * up the new rate at their next sample. Returns 0 or NPROF_EINVAL. */
NPROF_EXTERN int nprof_heap_rate_set(long rate);
NPROF_EXTERN long nprof_heap_rate(void);

/* --- Contention (mutex and block profiles), off by default as in Go ---
 *
 * The interposed pthread_mutex_lock, pthread_rwlock_rdlock/wrlock and
 * pthread_cond_wait/timedwait time the waits; an uncontended lock costs a
 * try-lock. The stacks are the waiters'. */

/* Records one contended mutex or rwlock acquisition in `rate` on average
 * (1: every one; 0: off). Returns 0 or NPROF_EINVAL (negative). */
NPROF_EXTERN int nprof_mutex_rate_set(long rate);
NPROF_EXTERN long nprof_mutex_rate(void);
/* Samples one blocking event per `rate` nanoseconds spent blocked (1:
 * every wait; 0: off). Returns 0 or NPROF_EINVAL (negative). */
NPROF_EXTERN int nprof_block_rate_set(long rate);
NPROF_EXTERN long nprof_block_rate(void);

/* --- Application-defined profiles (Go's pprof.NewProfile) --- */

typedef struct nprof_profile nprof_profile;

/* Creates a profile served at /debug/pprof/<name> and listed on the index.
 * `name`: 1-64 characters of [A-Za-z0-9_.-], not a built-in profile's name.
 * Returns NULL when the name is invalid or taken, or out of memory. The
 * profile lives until the process ends. */
NPROF_EXTERN nprof_profile *nprof_profile_new(const char *name);

/* Records `key` with the stack of the caller (skipping `skip` more frames),
 * like Go's Profile.Add. Returns 0, NPROF_EEXIST when `key` is already in the
 * profile, NPROF_EINVAL or NPROF_ENOMEM. */
NPROF_EXTERN int nprof_profile_add(nprof_profile *p, const void *key, int skip);

/* Removes `key`. Returns 0 or NPROF_ENOENT. */
NPROF_EXTERN int nprof_profile_remove(nprof_profile *p, const void *key);

/* The number of keys the profile holds now. */
NPROF_EXTERN long nprof_profile_count(const nprof_profile *p);

/* --- Published variables, served in /debug/vars (Go's expvar) --- */

typedef struct nprof_var nprof_var;

/* Creates an integer (or float) variable named `name` (1-64 characters of
 * [A-Za-z0-9_.-]) with value 0. Returns NULL when the name is invalid or
 * taken, or out of memory. Variables live until the process ends; updates
 * are lock-free and async-signal-safe. */
NPROF_EXTERN nprof_var *nprof_var_new_int(const char *name);
NPROF_EXTERN nprof_var *nprof_var_new_float(const char *name);

/* Integer variables: add to or set the value. No-ops on a float variable. */
NPROF_EXTERN void nprof_var_add(nprof_var *v, int64_t delta);
NPROF_EXTERN void nprof_var_set(nprof_var *v, int64_t value);
NPROF_EXTERN int64_t nprof_var_get(const nprof_var *v);

/* Float variables. No-ops on an integer variable. */
NPROF_EXTERN void nprof_var_set_float(nprof_var *v, double value);
NPROF_EXTERN double nprof_var_get_float(const nprof_var *v);

#ifdef __cplusplus
}
#endif

#endif /* NPROF_H */
