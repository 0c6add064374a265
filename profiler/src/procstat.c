/* Process figures for /debug/vars and the text profiles, read from /proc. */
#include "internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *nprof__proc_field(const char *text, const char *key)
{
  size_t n = strlen(key);
  for (const char *line = text; line && *line;) {
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      const char *v = line + n + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      return v;
    }
    line = strchr(line, '\n');
    if (line)
      line++;
  }
  return NULL;
}

int64_t nprof__proc_kb(const char *text, const char *key)
{
  const char *v = nprof__proc_field(text, key);
  return v ? strtoll(v, NULL, 10) * 1024 : 0;
}

bool nprof__maps_stack_line(const char *line, nprof__range *r)
{
  size_t n = strcspn(line, "\n");
  if (n < 7 || strncmp(line + n - 7, "[stack]", 7) != 0)
    return false;
  unsigned long long lo, hi;
  if (sscanf(line, "%llx-%llx ", &lo, &hi) != 2 || hi <= lo)
    return false;
  r->lo = (uintptr_t)lo;
  r->hi = (uintptr_t)hi;
  return true;
}

int64_t nprof__resident_bytes(uintptr_t lo, uintptr_t hi)
{
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0 || hi <= lo)
    return 0;
  uintptr_t p = lo & ~((uintptr_t)page - 1);
  unsigned char vec[1024];
  int64_t resident = 0;
  while (p < hi) {
    size_t pages = (hi - p + (uintptr_t)page - 1) / (uintptr_t)page;
    if (pages > sizeof(vec))
      pages = sizeof(vec);
    size_t len = pages * (size_t)page;
    if (mincore((void *)p, len, vec) == 0)
      for (size_t i = 0; i < pages; i++)
        resident += (vec[i] & 1) ? page : 0;
    p += len;
  }
  return resident;
}

/* Resident bytes of the threads' stacks: the main thread's [stack]
 * mapping, and the stacks of the threads libnprof saw start (created
 * through pthread_create after it was loaded, with glibc's stacks or the
 * application's own). Not counted: threads created before libnprof
 * (earlier constructors), with clone() directly, and the stacks glibc
 * keeps cached for reuse after their threads exited. */
static int64_t thread_stacks_rss(void)
{
  int64_t total = 0;
  FILE *f = fopen("/proc/self/maps", "re");
  if (f) {
    char line[4096 + 128];
    nprof__range r;
    while (fgets(line, sizeof(line), f))
      if (nprof__maps_stack_line(line, &r)) {
        total += nprof__resident_bytes(r.lo, r.hi);
        break;
      }
    fclose(f);
  }
  nprof__range *v;
  long n = nprof__threadcreate_stack_ranges(&v);
  if (n > 0) {
    for (long i = 0; i < n; i++)
      total += nprof__resident_bytes(v[i].lo, v[i].hi);
  }
  if (n >= 0)
    free(v);
  return total;
}

/* Reads a small /proc file whole into buf (NUL-terminated). Returns the
 * length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
  FILE *f = fopen(path, "re");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, len - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (ssize_t)n;
}

long nprof__tasks_list(pid_t **out)
{
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return NPROF_ESYSTEM;
  size_t n = 0, cap = 64;
  pid_t *tids = malloc(cap * sizeof(*tids));
  struct dirent *e;
  while (tids && (e = readdir(d))) {
    long v;
    if (nprof__parse_long(e->d_name, 1, INT32_MAX, &v) != 0)
      continue;
    if (n == cap) {
      cap *= 2;
      pid_t *t = realloc(tids, cap * sizeof(*t));
      if (!t) {
        free(tids);
        tids = NULL;
        break;
      }
      tids = t;
    }
    tids[n++] = (pid_t)v;
  }
  closedir(d);
  if (!tids)
    return NPROF_ENOMEM;
  *out = tids;
  return (long)n;
}

void nprof__task_name(pid_t tid, char name[16])
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
  if (read_small(path, name, 16) <= 0)
    snprintf(name, 16, "?");
  name[strcspn(name, "\n")] = '\0';
}

int nprof__task_status_parse(const char *status, nprof__task_status *ts)
{
  const char *state = nprof__proc_field(status, "State");
  const char *blk = nprof__proc_field(status, "SigBlk");
  if (!state || !blk)
    return NPROF_EINVAL;
  char *end;
  unsigned long long mask = strtoull(blk, &end, 16);
  if (end == blk)
    return NPROF_EINVAL;
  ts->state = *state;
  ts->sigblk = (uint64_t)mask;
  return 0;
}

bool nprof__task_syscall_is_sigwait(const char *syscall_text)
{
  char *end;
  long nr = strtol(syscall_text, &end, 10);
  return end != syscall_text && (*end == ' ' || *end == '\n') &&
         nr == SYS_rt_sigtimedwait;
}

/* Whether the thread is in sigwaitinfo/sigtimedwait now. */
static bool in_sigwait(pid_t tid)
{
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
  return read_small(path, buf, sizeof(buf)) > 0 &&
         nprof__task_syscall_is_sigwait(buf);
}

int nprof__task_status_read(pid_t tid, nprof__task_status *ts)
{
  /* Inside sigwaitinfo() the kernel unblocks the awaited signals for the
   * wait, so SigBlk alone misses such a thread: its system call tells
   * (always readable by the process itself: same thread group). A thread
   * that loops on sigtimedwait() blocks the signals between waits, so the
   * system call is read before and after SigBlk: a "not waiting, not
   * blocked" answer then needs it to have left a wait, waited, and left
   * again between the reads. What this cannot see: a waiter that has just
   * been woken (its wait timed out) and waits for a CPU, whose system call
   * reads "running" while its mask is still the wait's (the kernel puts
   * the real one back once it runs); a thread that waits for good, as a
   * signal-handling thread does, is never in that state. */
  bool waiting = in_sigwait(tid);
  char path[64], buf[2048];
  snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
  if (read_small(path, buf, sizeof(buf)) <= 0)
    return NPROF_ENOENT;
  int rc = nprof__task_status_parse(buf, ts);
  ts->in_sigwait = rc == 0 && (waiting || in_sigwait(tid));
  return rc;
}

static double process_uptime(void)
{
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "re");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* Field 22 (starttime, in clock ticks since boot) counts from the last
   * ')' (field 2 may contain spaces). */
  char *p = strrchr(buf, ')');
  if (!p)
    return 0;
  unsigned long long start = 0;
  int field = 2;
  char *save = NULL;
  for (char *tok = strtok_r(p + 1, " ", &save); tok;
       tok = strtok_r(NULL, " ", &save)) {
    if (++field == 22) {
      start = strtoull(tok, NULL, 10);
      break;
    }
  }
  double up = 0;
  f = fopen("/proc/uptime", "re");
  if (!f)
    return 0;
  if (fscanf(f, "%lf", &up) != 1)
    up = 0;
  fclose(f);
  long hz = sysconf(_SC_CLK_TCK);
  double t = up - (double)start / (double)(hz > 0 ? hz : 100);
  return t > 0 ? t : 0;
}

static long count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  long n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory stream's own descriptor */
}

/* Counts the threads and, among them, the profiler's own server threads
 * (libmicrohttpd names them "MHD-..."), in one pass so the two agree: their
 * number moves with requests in flight (one thread per connection), so
 * reports that compare thread counts across snapshots leave them out. */
static void count_threads(long *all, long *profiler)
{
  *all = *profiler = 0;
  pid_t *tids;
  long n = nprof__tasks_list(&tids);
  if (n < 0)
    return;
  long ours = 0;
  for (long i = 0; i < n; i++) {
    char comm[16];
    nprof__task_name(tids[i], comm);
    if (strncmp(comm, "MHD-", 4) == 0 || strncmp(comm, "nprof-", 6) == 0)
      ours++;
  }
  free(tids);
  *all = n;
  *profiler = ours;
}

void nprof__procstat_read(nprof__procstat *ps)
{
  memset(ps, 0, sizeof(*ps));
  char status[4096];
  FILE *f = fopen("/proc/self/status", "re");
  if (f) {
    size_t n = fread(status, 1, sizeof(status) - 1, f);
    fclose(f);
    status[n] = '\0';
    ps->rss_bytes = nprof__proc_kb(status, "VmRSS");
    ps->peak_rss_bytes = nprof__proc_kb(status, "VmHWM");
    ps->vm_bytes = nprof__proc_kb(status, "VmSize");
    ps->rss_anon_bytes = nprof__proc_kb(status, "RssAnon");
    ps->rss_file_bytes = nprof__proc_kb(status, "RssFile");
  }
  ps->open_fds = count_fds();
  count_threads(&ps->threads, &ps->profiler_threads);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    ps->cpu_user_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    ps->cpu_sys_s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  }
  ps->uptime_s = process_uptime();
  ps->thread_stacks_rss_bytes = thread_stacks_rss();
}

int nprof__cmdline(nprof__buf *out)
{
  FILE *f = fopen("/proc/self/cmdline", "re");
  if (!f)
    return NPROF_ESYSTEM;
  char chunk[4096];
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    rc = nprof__buf_append(out, chunk, n);
  fclose(f);
  /* /proc ends every argument with NUL; Go joins them with NUL, so the
   * last one goes. */
  if (rc == 0 && out->len && out->data[out->len - 1] == '\0')
    out->len--;
  return rc;
}
