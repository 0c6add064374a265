/*
 * A fake transport behind an ntf_stream, for the notifier's unit tests of
 * stream.c and fanout.c: it records the id of every note it is asked to
 * send, counts sends in flight, finishes and releases, can refuse the next
 * sends, and either completes each send at once (`auto_complete`: a fast
 * consumer) or leaves it in flight until fake_complete() (a stalled
 * consumer, or a test stepping the send token by hand). Fan-out threads
 * send concurrently: `lock` guards the record while they run; a test reads
 * it once they are done. The last reference frees the fake (counted in
 * fake_releases). Include it after <cmocka.h>: it asserts.
 */
#ifndef NPROF_TESTS_NOTIFIER_FAKE_STREAM_H
#define NPROF_TESTS_NOTIFIER_FAKE_STREAM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct fake {
  pthread_mutex_t lock;
  bool auto_complete;
  int fail_sends;   /* the next sends return NTF_EGRPC */
  int inflight;     /* sends started and not yet completed */
  int max_inflight; /* the token allows 1 */
  uint64_t *ids;    /* every note sent, in order */
  size_t nids, cap;
  int finishes;
  ntf_stream s; /* last: the user id follows it */
} fake;

static atomic_int fake_releases; /* on whichever thread drops the last ref */

static inline fake *fake_of(ntf_stream *s)
{
  return (fake *)(void *)((char *)s - offsetof(fake, s));
}

static inline int fake_send(ntf_stream *s, ntf_note *n)
{
  fake *f = fake_of(s);
  pthread_mutex_lock(&f->lock);
  if (f->fail_sends > 0) {
    f->fail_sends--;
    pthread_mutex_unlock(&f->lock);
    return NTF_EGRPC;
  }
  if (f->nids == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 16;
    f->ids = realloc(f->ids, f->cap * sizeof *f->ids);
    assert_non_null(f->ids);
  }
  f->ids[f->nids++] = n->id;
  bool complete = f->auto_complete;
  if (!complete && ++f->inflight > f->max_inflight)
    f->max_inflight = f->inflight;
  pthread_mutex_unlock(&f->lock);
  ntf_note_unref(n);
  if (complete)
    ntf_stream_sent(s, true); /* recursion bounded by the queue depth */
  return 0;
}

static inline void fake_finish(ntf_stream *s)
{
  fake *f = fake_of(s);
  pthread_mutex_lock(&f->lock);
  f->finishes++;
  pthread_mutex_unlock(&f->lock);
}

static inline void fake_release(ntf_stream *s)
{
  fake *f = fake_of(s);
  pthread_mutex_destroy(&f->lock);
  free(f->ids);
  free(f);
  fake_releases++;
}

static const ntf_stream_ops fake_ops = {fake_send, fake_finish, fake_release};

/* A stream of `user` with room for `depth` queued notes; its response
 * headers are still in flight (the send token held) until the first
 * fake_complete(). */
static inline fake *fake_new(const char *user, uint32_t depth,
                             bool auto_complete)
{
  size_t len = strlen(user);
  fake *f = calloc(1, offsetof(fake, s) + ntf_stream_size(len));
  assert_non_null(f);
  pthread_mutex_init(&f->lock, NULL);
  f->auto_complete = auto_complete;
  assert_int_equal(ntf_stream_init(&f->s, user, len, depth, &fake_ops), 0);
  assert_string_equal(f->s.user_id, user);
  return f;
}

/* Completes the send in flight (or the headers) as the transport would. */
static inline void fake_complete(fake *f, bool ok)
{
  pthread_mutex_lock(&f->lock);
  if (f->inflight > 0)
    f->inflight--;
  pthread_mutex_unlock(&f->lock);
  ntf_stream_sent(&f->s, ok);
}

#endif
