/* One Connect call's delivery state: a bounded queue and the send token
 * (see internal.h). Knows nothing of gRPC: the transport comes in through
 * ntf_stream_ops, so the token hand-offs are unit-tested with a fake. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

size_t ntf_stream_size(size_t user_id_len)
{
  return sizeof(ntf_stream) + user_id_len + 1;
}

int ntf_stream_init(ntf_stream *s, const char *user_id, size_t user_id_len,
                    uint32_t queue_depth, const ntf_stream_ops *ops)
{
  assert(s != NULL && ops != NULL);
  if (user_id_len > NTF_USER_ID_MAX || (user_id_len > 0 && user_id == NULL))
    return NTF_EINVAL;
  int rc = ntf_queue_init(&s->queue, queue_depth);
  if (rc < 0)
    return rc;
  if (pthread_mutex_init(&s->lock, NULL) != 0) {
    ntf_queue_close(&s->queue);
    return NTF_ENOMEM;
  }
  atomic_init(&s->refs, 1);
  s->sending = true; /* the response headers go first */
  s->closed = false;
  s->finish_pending = false;
  s->finished = false;
  s->dropped = 0;
  s->ops = ops;
  s->user = NULL;
  s->user_prev = s->user_next = NULL;
  s->all_index = SIZE_MAX;
  s->user_id_len = user_id_len;
  if (user_id_len > 0)
    memcpy(s->user_id, user_id, user_id_len);
  s->user_id[user_id_len] = '\0';
  return 0;
}

void ntf_stream_ref(ntf_stream *s)
{
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void ntf_stream_unref(ntf_stream *s)
{
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
    return;
  assert(s->all_index == SIZE_MAX);
  ntf_queue_close(&s->queue);
  pthread_mutex_destroy(&s->lock);
  s->ops->release(s);
}

/* Runs with the token held and no lock: hands `n` to the transport. When the
 * transport refuses, the call is dead: close and give the token back. */
static void start_send(ntf_stream *s, ntf_note *n)
{
  if (s->ops->send(s, n) == 0)
    return;
  ntf_note_unref(n);
  pthread_mutex_lock(&s->lock);
  s->closed = true;
  ntf_queue_clear(&s->queue);
  s->sending = false;
  pthread_mutex_unlock(&s->lock);
}

ntf_offer ntf_stream_offer(ntf_stream *s, ntf_note *n)
{
  ntf_note *first = NULL;
  ntf_offer result = NTF_OFFER_QUEUED;
  pthread_mutex_lock(&s->lock);
  if (s->closed) {
    pthread_mutex_unlock(&s->lock);
    return NTF_OFFER_CLOSED;
  }
  ntf_note_ref(n);
  if (ntf_queue_push(&s->queue, n) == 1) {
    s->dropped++;
    result = NTF_OFFER_DROPPED;
  }
  if (!s->sending) {
    s->sending = true;
    first = ntf_queue_pop(&s->queue);
  }
  pthread_mutex_unlock(&s->lock);
  if (first != NULL)
    start_send(s, first);
  return result;
}

void ntf_stream_sent(ntf_stream *s, bool ok)
{
  ntf_note *next = NULL;
  bool finish = false;
  pthread_mutex_lock(&s->lock);
  assert(s->sending);
  if (!ok) {
    s->closed = true;
    ntf_queue_clear(&s->queue);
  }
  if (s->finish_pending) {
    s->finish_pending = false;
    s->finished = true;
    finish = true; /* the token passes to ops->finish */
  } else if (!s->closed && (next = ntf_queue_pop(&s->queue)) != NULL) {
    /* the token passes to the next send */
  } else {
    s->sending = false;
  }
  pthread_mutex_unlock(&s->lock);
  if (finish)
    s->ops->finish(s);
  else if (next != NULL)
    start_send(s, next);
}

bool ntf_stream_close(ntf_stream *s)
{
  pthread_mutex_lock(&s->lock);
  bool first = !s->closed;
  s->closed = true;
  ntf_queue_clear(&s->queue);
  pthread_mutex_unlock(&s->lock);
  return first;
}

void ntf_stream_finish(ntf_stream *s)
{
  bool now = false;
  pthread_mutex_lock(&s->lock);
  s->closed = true;
  ntf_queue_clear(&s->queue);
  if (!s->finished && !s->finish_pending) {
    if (s->sending) {
      s->finish_pending = true;
    } else {
      s->sending = true;
      s->finished = true;
      now = true;
    }
  }
  pthread_mutex_unlock(&s->lock);
  if (now)
    s->ops->finish(s);
}
