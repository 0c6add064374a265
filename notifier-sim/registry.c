/* Users by id and the dense array of all streams. See internal.h for the
 * locking rule: one mutex, O(1) under it except snapshots. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define INITIAL_BUCKETS 64

/* FNV-1a: user ids are short and not adversarial enough to need SipHash
 * here; chains stay short because the table doubles at load factor 1. */
static uint64_t hash_id(const char *id, size_t len)
{
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)id[i];
    h *= 0x100000001b3u;
  }
  return h;
}

int ntf_registry_init(ntf_registry *r, size_t max_streams)
{
  memset(r, 0, sizeof *r);
  r->buckets = calloc(INITIAL_BUCKETS, sizeof *r->buckets);
  if (r->buckets == NULL)
    return NTF_ENOMEM;
  if (pthread_mutex_init(&r->lock, NULL) != 0) {
    free(r->buckets);
    return NTF_ENOMEM;
  }
  r->nbuckets = INITIAL_BUCKETS;
  r->max_streams = max_streams;
  return 0;
}

void ntf_registry_close(ntf_registry *r)
{
  assert(r->nall == 0 && r->nusers == 0);
  free(r->buckets);
  free(r->all);
  pthread_mutex_destroy(&r->lock);
  r->buckets = NULL;
  r->all = NULL;
}

static ntf_user *find_user(ntf_registry *r, const char *id, size_t len,
                           uint64_t h)
{
  for (ntf_user *u = r->buckets[h & (r->nbuckets - 1)]; u; u = u->next)
    if (u->hash == h && u->id_len == len && memcmp(u->id, id, len) == 0)
      return u;
  return NULL;
}

/* Doubles the table; on allocation failure keeps the old one (longer
 * chains, still correct). */
static void grow_buckets(ntf_registry *r)
{
  size_t n = r->nbuckets * 2;
  ntf_user **b = calloc(n, sizeof *b);
  if (b == NULL)
    return;
  for (size_t i = 0; i < r->nbuckets; i++) {
    ntf_user *u = r->buckets[i];
    while (u) {
      ntf_user *next = u->next;
      u->next = b[u->hash & (n - 1)];
      b[u->hash & (n - 1)] = u;
      u = next;
    }
  }
  free(r->buckets);
  r->buckets = b;
  r->nbuckets = n;
}

int ntf_registry_add(ntf_registry *r, ntf_stream *s, ntf_registry_counts *c)
{
  assert(s->all_index == SIZE_MAX);
  uint64_t h = hash_id(s->user_id, s->user_id_len);
  int rc = 0;
  int delta = 0;
  pthread_mutex_lock(&r->lock);
  if (r->max_streams > 0 && r->nall >= r->max_streams) {
    rc = NTF_EFULL;
    goto out;
  }
  if (r->nall == r->all_cap) {
    ntf_stream **all = npc_grow(r->all, &r->all_cap, sizeof *all, 64);
    if (all == NULL) {
      rc = NTF_ENOMEM;
      goto out;
    }
    r->all = all;
  }
  ntf_user *u = find_user(r, s->user_id, s->user_id_len, h);
  if (u == NULL) {
    u = malloc(sizeof *u + s->user_id_len + 1);
    if (u == NULL) {
      rc = NTF_ENOMEM;
      goto out;
    }
    u->hash = h;
    u->nstreams = 0;
    u->streams = NULL;
    u->id_len = s->user_id_len;
    memcpy(u->id, s->user_id, s->user_id_len + 1);
    if (r->nusers >= r->nbuckets)
      grow_buckets(r);
    u->next = r->buckets[h & (r->nbuckets - 1)];
    r->buckets[h & (r->nbuckets - 1)] = u;
    r->nusers++;
    delta = 1;
  }
  s->user = u;
  s->user_prev = NULL;
  s->user_next = u->streams;
  if (u->streams)
    u->streams->user_prev = s;
  u->streams = s;
  u->nstreams++;
  s->all_index = r->nall;
  r->all[r->nall++] = s;
  ntf_stream_ref(s);
out:
  if (rc == 0 && c != NULL) {
    c->streams = r->nall;
    c->users = r->nusers;
    c->user_delta = delta;
  }
  pthread_mutex_unlock(&r->lock);
  return rc;
}

int ntf_registry_remove(ntf_registry *r, ntf_stream *s, ntf_registry_counts *c)
{
  pthread_mutex_lock(&r->lock);
  if (s->all_index == SIZE_MAX) {
    pthread_mutex_unlock(&r->lock);
    return NTF_ECLOSED;
  }
  /* Swap-remove keeps the array dense; the moved stream learns its slot. */
  ntf_stream *last = r->all[--r->nall];
  r->all[s->all_index] = last;
  last->all_index = s->all_index;
  s->all_index = SIZE_MAX;

  ntf_user *u = s->user;
  int delta = 0;
  if (s->user_prev)
    s->user_prev->user_next = s->user_next;
  else
    u->streams = s->user_next;
  if (s->user_next)
    s->user_next->user_prev = s->user_prev;
  s->user = NULL;
  s->user_prev = s->user_next = NULL;
  if (--u->nstreams == 0) {
    ntf_user **pp = &r->buckets[u->hash & (r->nbuckets - 1)];
    while (*pp != u)
      pp = &(*pp)->next;
    *pp = u->next;
    r->nusers--;
    free(u);
    delta = -1;
  }
  if (c != NULL) {
    c->streams = r->nall;
    c->users = r->nusers;
    c->user_delta = delta;
  }
  pthread_mutex_unlock(&r->lock);
  ntf_stream_unref(s); /* may free: outside the lock */
  return 0;
}

int ntf_registry_snapshot(ntf_registry *r, const char *user_id,
                          size_t user_id_len, ntf_stream ***out, size_t *n)
{
  int rc = 0;
  ntf_stream **v = NULL;
  size_t count = 0;
  pthread_mutex_lock(&r->lock);
  if (user_id == NULL || user_id_len == 0) {
    if (r->nall > 0) {
      v = malloc(r->nall * sizeof *v);
      if (v == NULL) {
        rc = NTF_ENOMEM;
        goto out;
      }
      for (; count < r->nall; count++) {
        v[count] = r->all[count];
        ntf_stream_ref(v[count]);
      }
    }
  } else {
    ntf_user *u =
        find_user(r, user_id, user_id_len, hash_id(user_id, user_id_len));
    if (u != NULL) {
      v = malloc(u->nstreams * sizeof *v);
      if (v == NULL) {
        rc = NTF_ENOMEM;
        goto out;
      }
      for (ntf_stream *s = u->streams; s; s = s->user_next) {
        v[count++] = s;
        ntf_stream_ref(s);
      }
    }
  }
out:
  pthread_mutex_unlock(&r->lock);
  if (rc == 0) {
    *out = v;
    *n = count;
  }
  return rc;
}

size_t ntf_registry_count(ntf_registry *r, size_t *nusers)
{
  pthread_mutex_lock(&r->lock);
  size_t n = r->nall;
  if (nusers)
    *nusers = r->nusers;
  pthread_mutex_unlock(&r->lock);
  return n;
}
