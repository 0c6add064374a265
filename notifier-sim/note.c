/* Published notifications, shared by reference between stream queues. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

ntf_note *ntf_note_new(uint64_t id, const void *payload, size_t len)
{
  ntf_note *n = malloc(sizeof *n + len);
  if (n == NULL)
    return NULL;
  atomic_init(&n->refs, 1);
  n->id = id;
  n->publish_mono_ns = npc_mono_ns();
  n->len = len;
  if (len > 0)
    memcpy(n->payload, payload, len);
  return n;
}

void ntf_note_ref(ntf_note *n)
{
  atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

void ntf_note_unref(ntf_note *n)
{
  if (n == NULL)
    return;
  /* acq_rel: the thread freeing must see every other holder's reads done. */
  if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1)
    free(n);
}
