/*
 * The public entry points: activation (linked or preloaded), options,
 * errors. A library inside someone else's process never aborts it: every
 * failure here is returned, or said once on stderr when preloaded.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

NPROF_EXTERN const char *nprof_strerror(int err)
{
  if (err >= 0)
    return "success";
  switch ((nprof_error)err) {
  case NPROF_EINVAL:
    return "invalid argument";
  case NPROF_ENOMEM:
    return "out of memory";
  case NPROF_EADDR:
    return "bad listen address (want host:port, [v6]:port or :port)";
  case NPROF_ELISTEN:
    return "cannot listen on the address";
  case NPROF_EALREADY:
    return "the profiling server is already running";
  case NPROF_EEXIST:
    return "the name or key already exists";
  case NPROF_ENOENT:
    return "no such profile, key or server";
  case NPROF_ESYSTEM:
    return "a system call failed";
  case NPROF_EBUSY:
    return "cpu profiling already in use";
  case NPROF_ESIGNAL:
    return "the application installed its own SIGPROF handler; libnprof "
           "does not replace it";
  case NPROF_ECANCELED:
    return "the profiling server is stopping";
  }
  return "unknown error";
}

NPROF_EXTERN void nprof_options_init(nprof_options *opts)
{
  if (!opts)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->heap_rate = -1;
  opts->mutex_rate = -1;
  opts->block_rate = -1;
}

static void fork_child(void)
{
  nprof__server_fork_child();
  nprof__cpu_fork_child();
  nprof__threads_fork_child();
}

static void init_once(void)
{
  nprof__config_get();
  nprof__thread_start_init();
  nprof__heap_init();
  nprof__contention_init();
  pthread_atfork(NULL, NULL, fork_child);
  nprof__dump_init();
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

NPROF_EXTERN int nprof_start(const nprof_options *opts)
{
  pthread_once(&once, init_once);
  nprof_options defaults;
  if (!opts) {
    nprof_options_init(&defaults);
    opts = &defaults;
  }
  if (opts->heap_rate > NPROF_MAX_RATE || opts->mutex_rate > NPROF_MAX_RATE ||
      opts->block_rate > NPROF_MAX_RATE)
    return NPROF_EINVAL;
  const char *addr = opts->listen_addr;
  if (!addr || !*addr)
    addr = getenv("NPROF_LISTEN");
  if (!addr || !*addr)
    addr = NPROF_DEFAULT_LISTEN;
  if (nprof__threads_init() != 0)
    nprof__log("no free real-time signal: the goroutine profile will show "
               "no stacks");
  int rc = nprof__server_start(addr);
  if (rc == 0 && opts->heap_rate >= 0)
    nprof__heap_rate_set(opts->heap_rate);
  if (rc == 0 && opts->mutex_rate >= 0)
    nprof__contention_rate_set(NPROF__MUTEX, opts->mutex_rate);
  if (rc == 0 && opts->block_rate >= 0)
    nprof__contention_rate_set(NPROF__BLOCK, opts->block_rate);
  return rc;
}

NPROF_EXTERN int nprof_stop(void)
{
  return nprof__server_stop();
}

NPROF_EXTERN const char *nprof_listen_address(void)
{
  return nprof__server_address();
}

NPROF_EXTERN int nprof_heap_rate_set(long rate)
{
  return nprof__heap_rate_set(rate);
}

NPROF_EXTERN long nprof_heap_rate(void)
{
  return nprof__heap_rate_get();
}

NPROF_EXTERN int nprof_mutex_rate_set(long rate)
{
  return nprof__contention_rate_set(NPROF__MUTEX, rate);
}

NPROF_EXTERN long nprof_mutex_rate(void)
{
  return nprof__contention_rate_get(NPROF__MUTEX);
}

NPROF_EXTERN int nprof_block_rate_set(long rate)
{
  return nprof__contention_rate_set(NPROF__BLOCK, rate);
}

NPROF_EXTERN long nprof_block_rate(void)
{
  return nprof__contention_rate_get(NPROF__BLOCK);
}

/* Preloaded (or linked) with NPROF_LISTEN set: serve from the start. */
__attribute__((constructor)) static void nprof_preload_init(void)
{
  pthread_once(&once, init_once);
  const char *addr = getenv("NPROF_LISTEN");
  if (!addr || !*addr)
    return;
  int rc = nprof_start(NULL);
  if (rc != 0)
    nprof__log("profiling server off: %s (NPROF_LISTEN=%s)", nprof_strerror(rc),
               addr);
}
