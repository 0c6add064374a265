/*
 * Application-defined profiles, after Go's pprof.NewProfile: a named set of
 * keys, each remembered with the stack that added it, served at
 * /debug/pprof/<name> as a count profile (identical stacks aggregated).
 * Typical use: one key per open connection or stream, so the profile shows
 * where the live ones were opened.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  struct entry *next;
  const void *key;
  int depth;
  uintptr_t pcs[];
} entry;

struct nprof_profile {
  struct nprof_profile *next; /* registry list */
  pthread_mutex_t lock;
  entry **table; /* chained hash of keys; guarded by lock */
  size_t cap;    /* power of two */
  long count;
  char name[NPROF_NAME_MAX + 1];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static nprof_profile *profiles; /* guarded by registry_lock; newest first */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A child forked while another thread held a lock here would inherit it
 * held forever: every lock is taken across fork, the registry's first
 * (the order of nprof__custom_list). */
static void fork_prepare(void)
{
  pthread_mutex_lock(&registry_lock);
  for (nprof_profile *p = profiles; p; p = p->next)
    pthread_mutex_lock(&p->lock);
}

static void fork_release(void)
{
  for (nprof_profile *p = profiles; p; p = p->next)
    pthread_mutex_unlock(&p->lock);
  pthread_mutex_unlock(&registry_lock);
}

static void fork_init(void)
{
  pthread_atfork(fork_prepare, fork_release, fork_release);
}

/* Names the library serves itself: an application profile cannot take them. */
static const char *const builtin[] = {
    "heap",  "allocs", "goroutine", "threadcreate", "profile", "block",
    "mutex", "symbol", "cmdline",   "trace",        "vars"};

static size_t slot_of(const nprof_profile *p, const void *key)
{
  uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ULL;
  return (size_t)(h >> 17) & (p->cap - 1);
}

NPROF_EXTERN nprof_profile *nprof_profile_new(const char *name)
{
  if (!nprof__name_valid(name))
    return NULL;
  for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
    if (strcmp(name, builtin[i]) == 0)
      return NULL;
  pthread_once(&fork_once, fork_init); /* before any profile exists */
  nprof__t_internal++;
  nprof_profile *p = calloc(1, sizeof(*p));
  entry **table = calloc(64, sizeof(*table));
  nprof__t_internal--;
  if (!p || !table)
    goto fail;
  pthread_mutex_init(&p->lock, NULL);
  p->table = table;
  p->cap = 64;
  strcpy(p->name, name);
  pthread_mutex_lock(&registry_lock);
  for (nprof_profile *o = profiles; o; o = o->next) {
    if (strcmp(o->name, name) == 0) {
      pthread_mutex_unlock(&registry_lock);
      goto fail;
    }
  }
  p->next = profiles;
  profiles = p;
  pthread_mutex_unlock(&registry_lock);
  return p;
fail:
  nprof__t_internal++;
  free(table);
  free(p);
  nprof__t_internal--;
  return NULL;
}

/* Called with p->lock. */
static int grow(nprof_profile *p)
{
  size_t cap = p->cap * 2;
  entry **t = calloc(cap, sizeof(*t));
  if (!t)
    return NPROF_ENOMEM;
  entry **old = p->table;
  size_t old_cap = p->cap;
  p->table = t;
  p->cap = cap;
  for (size_t i = 0; i < old_cap; i++) {
    for (entry *e = old[i], *next; e; e = next) {
      next = e->next;
      size_t j = slot_of(p, e->key);
      e->next = t[j];
      t[j] = e;
    }
  }
  free(old);
  return 0;
}

NPROF_EXTERN int nprof_profile_add(nprof_profile *p, const void *key, int skip)
{
  if (!p || skip < 0 || skip > 1000)
    return NPROF_EINVAL;
  uintptr_t pcs[NPROF_MAX_DEPTH];
  /* skip + 1: this function's own frame is never part of the stack. */
  int depth = nprof__stack_capture(pcs, NPROF_MAX_DEPTH, skip + 1);
  int rc = 0;
  nprof__t_internal++;
  entry *e = malloc(sizeof(*e) + (size_t)depth * sizeof(uintptr_t));
  if (!e) {
    nprof__t_internal--;
    return NPROF_ENOMEM;
  }
  e->key = key;
  e->depth = depth;
  memcpy(e->pcs, pcs, (size_t)depth * sizeof(uintptr_t));
  pthread_mutex_lock(&p->lock);
  for (entry *o = p->table[slot_of(p, key)]; o; o = o->next)
    if (o->key == key) {
      rc = NPROF_EEXIST;
      break;
    }
  if (rc == 0 && (size_t)p->count + 1 > p->cap)
    grow(p); /* on failure the chains just get longer */
  if (rc == 0) {
    size_t j = slot_of(p, key);
    e->next = p->table[j];
    p->table[j] = e;
    p->count++;
    e = NULL;
  }
  pthread_mutex_unlock(&p->lock);
  free(e);
  nprof__t_internal--;
  return rc;
}

NPROF_EXTERN int nprof_profile_remove(nprof_profile *p, const void *key)
{
  if (!p)
    return NPROF_EINVAL;
  entry *found = NULL;
  pthread_mutex_lock(&p->lock);
  for (entry **link = &p->table[slot_of(p, key)]; *link;
       link = &(*link)->next) {
    if ((*link)->key == key) {
      found = *link;
      *link = found->next;
      p->count--;
      break;
    }
  }
  pthread_mutex_unlock(&p->lock);
  if (!found)
    return NPROF_ENOENT;
  nprof__t_internal++;
  free(found);
  nprof__t_internal--;
  return 0;
}

NPROF_EXTERN long nprof_profile_count(const nprof_profile *p)
{
  if (!p)
    return 0;
  pthread_mutex_lock((pthread_mutex_t *)&p->lock);
  long n = p->count;
  pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
  return n;
}

void nprof__custom_list(nprof__custom_visit_fn fn, void *arg)
{
  pthread_mutex_lock(&registry_lock);
  for (nprof_profile *p = profiles; p; p = p->next)
    fn(p->name, nprof_profile_count(p), arg);
  pthread_mutex_unlock(&registry_lock);
}

static nprof_profile *lookup(const char *name)
{
  pthread_mutex_lock(&registry_lock);
  nprof_profile *p = profiles;
  while (p && strcmp(p->name, name) != 0)
    p = p->next;
  pthread_mutex_unlock(&registry_lock);
  return p;
}

int nprof__custom_stacks(const char *name, nprof__count_stack **out)
{
  nprof_profile *p = lookup(name);
  if (!p)
    return NPROF_ENOENT;
  pthread_mutex_lock(&p->lock);
  long n = p->count;
  nprof__count_stack *stacks = calloc((size_t)n + 1, sizeof(*stacks));
  long k = 0;
  for (size_t i = 0; stacks && i < p->cap; i++)
    for (entry *e = p->table[i]; e && k < n; e = e->next) {
      memcpy(stacks[k].pcs, e->pcs, (size_t)e->depth * sizeof(uintptr_t));
      stacks[k].depth = e->depth;
      stacks[k].count = 1;
      k++;
    }
  pthread_mutex_unlock(&p->lock);
  if (!stacks)
    return NPROF_ENOMEM;
  *out = stacks;
  return (int)k;
}
