/* The bounded per-stream queue. Drop-oldest keeps a slow consumer's memory
 * bounded by `cap` references and lets it catch up on the freshest news;
 * the caller counts the drops. */
#include <assert.h>
#include <stdlib.h>

#include "internal.h"

int ntf_queue_init(ntf_queue *q, uint32_t cap)
{
  assert(q != NULL);
  if (cap < 1)
    return NTF_EINVAL;
  ntf_note **slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return NTF_ENOMEM;
  q->slots = slots;
  q->cap = cap;
  q->head = 0;
  q->len = 0;
  return 0;
}

uint32_t ntf_queue_clear(ntf_queue *q)
{
  uint32_t n = q->len;
  while (q->len > 0)
    ntf_note_unref(ntf_queue_pop(q));
  q->head = 0;
  return n;
}

void ntf_queue_close(ntf_queue *q)
{
  if (q->slots == NULL)
    return;
  ntf_queue_clear(q);
  free(q->slots);
  q->slots = NULL;
  q->cap = 0;
}

int ntf_queue_push(ntf_queue *q, ntf_note *n)
{
  assert(q->slots != NULL && n != NULL);
  int dropped = 0;
  if (q->len == q->cap) {
    ntf_note_unref(ntf_queue_pop(q));
    dropped = 1;
  }
  q->slots[(q->head + q->len) % q->cap] = n;
  q->len++;
  return dropped;
}

ntf_note *ntf_queue_pop(ntf_queue *q)
{
  if (q->len == 0)
    return NULL;
  ntf_note *n = q->slots[q->head];
  q->slots[q->head] = NULL;
  q->head = (q->head + 1) % q->cap;
  q->len--;
  return n;
}
