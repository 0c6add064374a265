/* Fan-out: queues each published note to its target streams, off the
 * completion-queue threads. Ordering and batching rules are in internal.h. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ntf_fanout_job {
  ntf_fanout_job *next;
  ntf_note *note;
  ntf_fanout_done_fn done;
  void *ctx;
  ntf_stream **streams; /* snapshot, each referenced until offered */
  size_t n;
  size_t pos;   /* next stream to hand out in a batch */
  int active;   /* batches being offered now */
  bool snapped; /* streams and n are valid */
  int status;
  uint64_t delivered, dropped;
  size_t user_id_len;
  char user_id[];
};

static void offer_batch(ntf_fanout_job *j, size_t from, size_t to,
                        uint64_t *delivered, uint64_t *dropped)
{
  for (size_t i = from; i < to; i++) {
    switch (ntf_stream_offer(j->streams[i], j->note)) {
    case NTF_OFFER_DROPPED:
      (*dropped)++;
      /* fall through */
    case NTF_OFFER_QUEUED:
      (*delivered)++;
      break;
    case NTF_OFFER_CLOSED:
      break;
    }
    ntf_stream_unref(j->streams[i]);
  }
}

/* Called with the lock held after any change to head, cur or pos. */
static void update_available(ntf_fanout *f)
{
  ntf_fanout_job *j = f->cur;
  bool avail = j == NULL ? f->head != NULL : j->snapped && j->pos < j->n;
  atomic_store_explicit(&f->available, avail, memory_order_release);
}

/* Called with the lock held when the job's last batch is done; returns
 * with it unlocked. */
static void complete(ntf_fanout *f, ntf_fanout_job *j)
{
  f->cur = NULL;
  update_available(f);
  pthread_cond_broadcast(&f->cond);
  pthread_mutex_unlock(&f->lock);
  j->done(j->ctx, j->status, j->note->id, j->delivered, j->dropped);
  ntf_note_unref(j->note);
  free(j->streams);
  free(j);
}

typedef enum step_result { STEP_NONE, STEP_DID, STEP_EXIT } step_result;

/* One unit of work: a snapshot, or one batch. With `block`, waits for work
 * and returns STEP_EXIT once stopping with nothing left. */
static step_result step(ntf_fanout *f, bool block)
{
  pthread_mutex_lock(&f->lock);
  for (;;) {
    ntf_fanout_job *j = f->cur;
    if (j == NULL && f->head != NULL) {
      j = f->head;
      f->head = j->next;
      if (f->head == NULL)
        f->tail = NULL;
      f->cur = j;
      update_available(f);
      pthread_mutex_unlock(&f->lock);
      int rc = ntf_registry_snapshot(f->registry, j->user_id, j->user_id_len,
                                     &j->streams, &j->n);
      pthread_mutex_lock(&f->lock);
      j->status = rc;
      j->snapped = true;
      if (j->n == 0) {
        complete(f, j);
        return STEP_DID;
      }
      update_available(f);
      pthread_cond_broadcast(&f->cond);
      pthread_mutex_unlock(&f->lock);
      return STEP_DID;
    }
    if (j != NULL && j->snapped && j->pos < j->n) {
      size_t from = j->pos;
      size_t to = from + f->batch < j->n ? from + f->batch : j->n;
      j->pos = to;
      j->active++;
      update_available(f);
      pthread_mutex_unlock(&f->lock);
      uint64_t delivered = 0, dropped = 0;
      offer_batch(j, from, to, &delivered, &dropped);
      pthread_mutex_lock(&f->lock);
      j->delivered += delivered;
      j->dropped += dropped;
      if (--j->active == 0 && j->pos >= j->n) {
        complete(f, j);
        return STEP_DID;
      }
      pthread_mutex_unlock(&f->lock);
      return STEP_DID;
    }
    /* Nothing to take: idle, or the current job's last batches are being
     * offered by other threads (one of them will complete it). */
    if (!block) {
      pthread_mutex_unlock(&f->lock);
      return STEP_NONE;
    }
    if (j == NULL && f->stopping) {
      pthread_mutex_unlock(&f->lock);
      return STEP_EXIT;
    }
    pthread_cond_wait(&f->cond, &f->lock);
  }
}

static void *fanout_main(void *arg)
{
  ntf_fanout *f = arg;
  while (step(f, true) != STEP_EXIT)
    ;
  return NULL;
}

bool ntf_fanout_available(ntf_fanout *f)
{
  return atomic_load_explicit(&f->available, memory_order_acquire);
}

bool ntf_fanout_run(ntf_fanout *f)
{
  return step(f, false) == STEP_DID;
}

int ntf_fanout_start(ntf_fanout *f, ntf_registry *r, int nthreads, size_t batch)
{
  if (nthreads < 0 || nthreads > NTF_FANOUT_MAX_THREADS || batch < 1)
    return NTF_EINVAL;
  memset(f, 0, sizeof *f);
  atomic_init(&f->available, false);
  f->registry = r;
  f->batch = batch;
  if (pthread_mutex_init(&f->lock, NULL) != 0)
    return NTF_ENOMEM;
  if (pthread_cond_init(&f->cond, NULL) != 0) {
    pthread_mutex_destroy(&f->lock);
    return NTF_ENOMEM;
  }
  for (int i = 0; i < nthreads; i++) {
    if (pthread_create(&f->threads[i], NULL, fanout_main, f) != 0) {
      f->nthreads = i;
      ntf_fanout_stop(f);
      ntf_fanout_close(f);
      return NTF_ESYSTEM;
    }
  }
  f->nthreads = nthreads;
  return 0;
}

int ntf_fanout_submit(ntf_fanout *f, const char *user_id, size_t user_id_len,
                      const void *payload, size_t len, ntf_fanout_done_fn done,
                      void *ctx)
{
  assert(done != NULL);
  if (user_id_len > NTF_USER_ID_MAX || len > NTF_PAYLOAD_MAX)
    return NTF_EINVAL;
  ntf_fanout_job *j = calloc(1, sizeof *j + user_id_len + 1);
  if (j == NULL)
    return NTF_ENOMEM;
  /* The id is set under the queue lock below: allocation stays outside. */
  j->note = ntf_note_new(0, payload, len);
  if (j->note == NULL) {
    free(j);
    return NTF_ENOMEM;
  }
  j->done = done;
  j->ctx = ctx;
  j->user_id_len = user_id_len;
  if (user_id_len > 0)
    memcpy(j->user_id, user_id, user_id_len);
  pthread_mutex_lock(&f->lock);
  if (f->stopping) {
    pthread_mutex_unlock(&f->lock);
    ntf_note_unref(j->note);
    free(j);
    return NTF_ECLOSED;
  }
  j->note->id = ++f->next_id;
  if (f->tail)
    f->tail->next = j;
  else
    f->head = j;
  f->tail = j;
  update_available(f);
  pthread_cond_broadcast(&f->cond);
  pthread_mutex_unlock(&f->lock);
  return 0;
}

void ntf_fanout_stop(ntf_fanout *f)
{
  pthread_mutex_lock(&f->lock);
  f->stopping = true;
  pthread_cond_broadcast(&f->cond);
  pthread_mutex_unlock(&f->lock);
  if (f->nthreads == 0)
    fanout_main(f); /* no threads of our own: finish the work here */
  for (int i = 0; i < f->nthreads; i++)
    pthread_join(f->threads[i], NULL);
  f->nthreads = 0;
  assert(f->head == NULL && f->cur == NULL);
}

void ntf_fanout_close(ntf_fanout *f)
{
  pthread_cond_destroy(&f->cond);
  pthread_mutex_destroy(&f->lock);
}
