/*
 * Heap profiles written when the process's RSS crosses thresholds: the
 * profile just before the OOM kill, without anyone asking for it.
 *
 *   NPROF_DUMP_DIR=DIR NPROF_DUMP_RSS=SIZE [NPROF_DUMP_MAX=N]
 *
 * When RSS first exceeds SIZE, DIR/heap.<pid>.<seq>.pb.gz is written, the
 * same bytes /debug/pprof/heap serves; then again each time RSS exceeds
 * the RSS of the last dump (read after it) by another 50%, at most N files
 * (default 10).
 * A thread of its own checks every CHECK_PERIOD_NS, reading
 * /proc/self/statm (open, read, close: about 7 us of CPU per check on the
 * project's machine, so under 0.01% of a core); nothing is added to the
 * allocation path. The thread runs as profiler code (nprof__t_internal:
 * never sampled), with every signal blocked (the host's signals are never
 * delivered to it), and exits after the last file.
 *
 * Files are written atomically (common/'s npc_write_atomic: a temporary
 * file in DIR, fsync, rename, fsync of DIR). A failed dump is counted in
 * dump_errors, said once on stderr, and the next attempt waits for the next
 * threshold.
 *
 * Fork: the child gets a dump thread of its own, which numbers its files
 * from 1 (the pid in the name tells them apart) and starts from the
 * parent's next threshold, so a child sharing its parent's pages does not
 * dump them again at once.
 */
#include "internal.h"
#include "npc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHECK_PERIOD_NS (100 * 1000000L)
#define DEFAULT_MAX 10
#define MAX_MAX 1000000
/* A file's path: the folder (at most PATH_MAX - 64) and its name. */
#define FILE_PATH_MAX (PATH_MAX + 64)
/* The profile is built in memory first: a cap well above any real one. */
#define MAX_PROFILE_BYTES ((size_t)1 << 30)

/* Set once by nprof__dump_start, before the thread exists. */
static char dir[PATH_MAX];
static int64_t first_rss;
static long max_files;
static atomic_bool configured;

/* Written by the dump thread under `lock`; read by /debug/vars. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t next_rss; /* the next dump when RSS exceeds this */
static long written, errors;
static char last_path[FILE_PATH_MAX];

static void lock_state(void)
{
  nprof__t_internal++;
  pthread_mutex_lock(&lock);
}

static void unlock_state(void)
{
  pthread_mutex_unlock(&lock);
  nprof__t_internal--;
}

int nprof__dump_parse_size(const char *s, int64_t *out)
{
  if (!s || *s < '0' || *s > '9')
    return NPROF_EINVAL;
  int saved = errno;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  int bad = errno != 0;
  errno = saved;
  int shift = 0;
  switch (*end) {
  case '\0':
    break;
  case 'k':
  case 'K':
    shift = 10;
    break;
  case 'm':
  case 'M':
    shift = 20;
    break;
  case 'g':
  case 'G':
    shift = 30;
    break;
  case 't':
  case 'T':
    shift = 40;
    break;
  default:
    return NPROF_EINVAL;
  }
  if (shift && end[1] != '\0')
    return NPROF_EINVAL;
  if (bad || v == 0 || v > ((unsigned long long)INT64_MAX >> shift))
    return NPROF_EINVAL;
  *out = (int64_t)(v << shift);
  return 0;
}

/* Resident bytes from /proc/self/statm (its second field, in pages), or
 * -1. */
static int64_t read_rss(void)
{
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  char text[128];
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  text[n] = '\0';
  long long size, resident;
  if (sscanf(text, "%lld %lld", &size, &resident) != 2)
    return -1;
  return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* Writes the next file for a process at `rss` bytes. */
static void dump(int64_t rss)
{
  lock_state();
  long seq = written + 1;
  unlock_state();
  char path[FILE_PATH_MAX];
  snprintf(path, sizeof(path), "%s/heap.%d.%ld.pb.gz", dir, (int)getpid(), seq);
  nprof__buf out;
  nprof__buf_init(&out, MAX_PROFILE_BYTES);
  int rc = nprof__heap_profile(&out);
  const char *why = NULL;
  if (rc != 0)
    why = nprof_strerror(rc);
  else if ((rc = npc_write_atomic(path, out.data, out.len)) != 0)
    why = strerror(-rc);
  nprof__buf_free(&out);
  if (why)
    nprof__log("heap dump at RSS %lld bytes not written (%s): %s",
               (long long)rss, path, why);
  lock_state();
  if (why) {
    errors++;
  } else {
    written++;
    snprintf(last_path, sizeof(last_path), "%s", path);
  }
  /* The next threshold from the RSS after the dump: the first one maps
   * symbol tables, which in a small process is enough to pass +50% at
   * once. A failure waits for the next threshold too: no retry every
   * period. */
  int64_t after = read_rss();
  if (after > rss)
    rss = after;
  next_rss = rss + rss / 2;
  unlock_state();
}

static void *dump_main(void *arg)
{
  (void)arg;
  nprof__t_internal++; /* for its whole life: never sampled */
  pthread_setname_np(pthread_self(), "nprof-dump");
  for (;;) {
    struct timespec period = {0, CHECK_PERIOD_NS};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &period, &period) == EINTR)
      ;
    int64_t rss = read_rss();
    lock_state();
    bool due = rss > next_rss;
    bool done = written >= max_files;
    unlock_state();
    if (done)
      return NULL;
    if (due)
      dump(rss);
  }
}

/* Starts the thread (nprof__thread_start: every signal blocked, past
 * the interposer, safe from a fork child handler). */
static int start_thread(void)
{
  return nprof__thread_start(dump_main, NULL, NULL);
}

static void fork_prepare(void)
{
  lock_state();
}

static void fork_parent(void)
{
  unlock_state();
}

static void fork_child(void)
{
  pthread_mutex_init(&lock, NULL); /* held by the parent's thread */
  written = errors = 0;
  last_path[0] = '\0';
  if (atomic_load(&configured) && start_thread() != 0)
    nprof__log("heap dumps off in the child %d: cannot start the thread",
               (int)getpid());
  nprof__t_internal--;
}

int nprof__dump_start(const char *path, int64_t rss, long max)
{
  if (!path || rss <= 0 || max < 1 || max > MAX_MAX)
    return NPROF_EINVAL;
  if (atomic_exchange(&configured, true))
    return NPROF_EALREADY;
  int result = 0;
  nprof__t_internal++;
  struct stat st;
  if (!realpath(path, dir) || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
      access(dir, W_OK | X_OK) != 0 || strlen(dir) > PATH_MAX - 64) {
    result = NPROF_EINVAL;
    goto out;
  }
  first_rss = rss;
  max_files = max;
  nprof__thread_start_init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  lock_state();
  next_rss = rss; /* the first dump when RSS exceeds SIZE */
  result = start_thread();
  unlock_state();
out:
  if (result != 0) {
    dir[0] = '\0';
    atomic_store(&configured, false);
  }
  nprof__t_internal--;
  return result;
}

void nprof__dump_init(void)
{
  const char *d = getenv("NPROF_DUMP_DIR");
  const char *r = getenv("NPROF_DUMP_RSS");
  const char *m = getenv("NPROF_DUMP_MAX");
  if (!d && !r && !m)
    return;
  int64_t rss;
  long max = DEFAULT_MAX;
  int saved = errno;
  if (!d || !*d || !r) {
    nprof__log("heap dumps need both NPROF_DUMP_DIR and NPROF_DUMP_RSS "
               "(e.g. NPROF_DUMP_RSS=512M); heap dumps off");
  } else if (nprof__dump_parse_size(r, &rss) != 0) {
    nprof__log("NPROF_DUMP_RSS=%s is not a size (bytes, or a number with K, "
               "M, G or T); heap dumps off",
               r);
  } else if (m && nprof__parse_long(m, 1, MAX_MAX, &max) != 0) {
    nprof__log("NPROF_DUMP_MAX=%s is not a count in 1..%d; heap dumps off", m,
               MAX_MAX);
  } else {
    int rc = nprof__dump_start(d, rss, max);
    if (rc == NPROF_EINVAL)
      nprof__log("NPROF_DUMP_DIR=%s is not a writable folder; heap dumps "
                 "off",
                 d);
    else if (rc != 0)
      nprof__log("heap dumps off: %s", nprof_strerror(rc));
  }
  errno = saved;
}

int nprof__dump_vars_write(nprof__buf *out)
{
  if (!atomic_load(&configured))
    return nprof__buf_printf(
        out, ", \"dump_dir\": null, \"dump_rss_bytes\": null, \"dump_max\": "
             "null, \"dump_next_rss_bytes\": null, \"dumps_written\": 0, "
             "\"dump_last_path\": null, \"dump_errors\": 0");
  lock_state();
  int64_t next = next_rss;
  long n = written, e = errors;
  char last[FILE_PATH_MAX];
  snprintf(last, sizeof(last), "%s", last_path);
  unlock_state();
  int rc = nprof__buf_printf(out, ", \"dump_dir\": ");
  if (rc == 0)
    rc = nprof__buf_json_string(out, dir, strlen(dir));
  if (rc == 0)
    rc = nprof__buf_printf(out,
                           ", \"dump_rss_bytes\": %lld, \"dump_max\": %ld, "
                           "\"dump_next_rss_bytes\": %lld, \"dumps_written\": "
                           "%ld, \"dump_last_path\": ",
                           (long long)first_rss, max_files, (long long)next, n);
  if (rc == 0)
    rc = last[0] ? nprof__buf_json_string(out, last, strlen(last))
                 : nprof__buf_printf(out, "null");
  if (rc == 0)
    rc = nprof__buf_printf(out, ", \"dump_errors\": %ld", e);
  return rc;
}
