/* Small helpers: logging, capped buffers, number parsing, page memory. */
#include "internal.h"
#include "npc.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

_Thread_local int nprof__t_internal __attribute__((tls_model("initial-exec")));
static _Thread_local uint64_t t_rand __attribute__((tls_model("initial-exec")));

static atomic_size_t pages_in_use;

void nprof__log(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  npc_log_vline(STDERR_FILENO, "nprof: ", fmt, ap);
  va_end(ap);
}

void nprof__buf_init(nprof__buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void nprof__buf_free(nprof__buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int buf_reserve(nprof__buf *b, size_t extra)
{
  if (extra > b->max || b->len > b->max - extra)
    return NPROF_EINVAL;
  size_t need = b->len + extra + 1; /* room for the terminating NUL */
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p)
    return NPROF_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int nprof__buf_append(nprof__buf *b, const void *p, size_t n)
{
  int rc = buf_reserve(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int nprof__buf_vprintf(nprof__buf *b, const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy(ap2, ap);
  char small[256];
  int n = vsnprintf(small, sizeof(small), fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return NPROF_EINVAL;
  if ((size_t)n < sizeof(small))
    return nprof__buf_append(b, small, (size_t)n);
  int rc = buf_reserve(b, (size_t)n);
  if (rc)
    return rc;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int nprof__buf_printf(nprof__buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int rc = nprof__buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

int nprof__buf_json_string(nprof__buf *b, const char *s, size_t n)
{
  int rc = nprof__buf_append(b, "\"", 1);
  for (size_t i = 0; i < n && rc == 0; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      rc = nprof__buf_printf(b, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      rc = nprof__buf_printf(b, "\\u%04x", c);
    else
      rc = nprof__buf_append(b, &s[i], 1);
  }
  if (rc == 0)
    rc = nprof__buf_append(b, "\"", 1);
  return rc;
}

void nprof__w_printf(nprof__writer *w, const char *fmt, ...)
{
  if (w->rc)
    return;
  va_list ap;
  va_start(ap, fmt);
  w->rc = nprof__buf_vprintf(w->out, fmt, ap);
  va_end(ap);
}

void nprof__w_append(nprof__writer *w, const void *p, size_t n)
{
  if (!w->rc)
    w->rc = nprof__buf_append(w->out, p, n);
}

void nprof__w_json_string(nprof__writer *w, const char *s)
{
  if (!w->rc)
    w->rc = nprof__buf_json_string(w->out, s, strlen(s));
}

int nprof__parse_long(const char *s, long min, long max, long *out)
{
  if (!s || !*s)
    return NPROF_EINVAL;
  int saved = errno;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  int bad = errno != 0 || *end != '\0' || v < min || v > max ||
            !(*s == '-' || (*s >= '0' && *s <= '9'));
  errno = saved;
  if (bad)
    return NPROF_EINVAL;
  *out = v;
  return 0;
}

bool nprof__name_valid(const char *name)
{
  if (!name)
    return false;
  size_t n = strlen(name);
  if (n == 0 || n > NPROF_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

void *nprof__pages_alloc(size_t size)
{
  int saved = errno;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  errno = saved;
  if (p == MAP_FAILED)
    return NULL;
  atomic_fetch_add_explicit(&pages_in_use, size, memory_order_relaxed);
  return p;
}

void nprof__pages_free(void *p, size_t size)
{
  if (!p)
    return;
  int saved = errno;
  munmap(p, size);
  errno = saved;
  atomic_fetch_sub_explicit(&pages_in_use, size, memory_order_relaxed);
}

size_t nprof__pages_in_use(void)
{
  return atomic_load_explicit(&pages_in_use, memory_order_relaxed);
}

#define ARENA_CHUNK ((size_t)1 << 20)

void *nprof__arena_alloc(nprof__arena *a, size_t n)
{
  n = (n + 15) & ~(size_t)15; /* keep records 16-byte aligned */
  if (n > a->left) {
    if (n > ARENA_CHUNK)
      return NULL;
    char *p = nprof__pages_alloc(ARENA_CHUNK);
    if (!p)
      return NULL;
    a->cur = p; /* the rest of the old chunk is abandoned: records are small */
    a->left = ARENA_CHUNK;
  }
  void *r = a->cur;
  a->cur += n;
  a->left -= n;
  return r;
}

uint64_t nprof__rand(void)
{
  if (nprof__unlikely(t_rand == 0)) {
    t_rand = ((uint64_t)(uintptr_t)&t_rand * 0x9e3779b97f4a7c15ULL) ^
             (uint64_t)npc_mono_ns();
    if (t_rand == 0)
      t_rand = 1;
  }
  t_rand ^= t_rand >> 12;
  t_rand ^= t_rand << 25;
  t_rand ^= t_rand >> 27;
  return t_rand * 0x2545f4914f6cdd1dULL;
}

/* Locks taken across fork(): prepare takes them in registration order
 * (none of them is ever taken while holding another), the parent and the
 * child release them. Registration is on a module's first use; a fork
 * racing a registration can only miss that one lock, which nobody held
 * yet. */
#define MAX_FORK_GUARDS 16
static pthread_mutex_t *fork_guards[MAX_FORK_GUARDS];
static atomic_int nfork_guards;
static pthread_once_t fork_guard_once = PTHREAD_ONCE_INIT;

static void fork_guards_take(void)
{
  int n = atomic_load(&nfork_guards);
  for (int i = 0; i < n && i < MAX_FORK_GUARDS; i++)
    pthread_mutex_lock(fork_guards[i]);
}

static void fork_guards_release(void)
{
  int n = atomic_load(&nfork_guards);
  for (int i = (n < MAX_FORK_GUARDS ? n : MAX_FORK_GUARDS) - 1; i >= 0; i--)
    pthread_mutex_unlock(fork_guards[i]);
}

static void fork_guards_init(void)
{
  pthread_atfork(fork_guards_take, fork_guards_release, fork_guards_release);
}

void nprof__fork_guard(pthread_mutex_t *m)
{
  pthread_once(&fork_guard_once, fork_guards_init);
  int i = atomic_load(&nfork_guards);
  if (i < MAX_FORK_GUARDS) {
    fork_guards[i] = m;
    atomic_store(&nfork_guards, i + 1);
  }
}

int nprof__signal_install(int sig, nprof__signal_fn fn)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL) == 0 ? 0 : NPROF_ESYSTEM;
}

bool nprof__signal_is(const struct sigaction *sa, nprof__signal_fn fn)
{
  return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == fn;
}

/* glibc's pthread_create, past libnprof's interposer: the profiler's own
 * threads get no threadcreate record, and a fork child handler may start
 * one while the interposer's lock is still held by fork's prepare.
 * Sanitizer builds have no interposer, and their runtime must see every
 * thread. Resolved at start-up (nprof.c), not in a fork child. */
typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                         void *);
static create_fn raw_create;
static pthread_once_t raw_create_once = PTHREAD_ONCE_INIT;

static void raw_create_init(void)
{
#if defined(NPROF_SANITIZED)
  raw_create = pthread_create;
#else
  raw_create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
#endif
}

void nprof__thread_start_init(void)
{
  pthread_once(&raw_create_once, raw_create_init);
}

int nprof__thread_start(void *(*fn)(void *), void *arg, const char *name)
{
  nprof__thread_start_init();
  if (!raw_create)
    return NPROF_ESYSTEM;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int rc = raw_create(&t, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0)
    return NPROF_ESYSTEM;
  if (name)
    pthread_setname_np(t, name);
  return 0;
}
