/* Counters for logs and snapshot reports. Kept as atomics here, and mirrored
 * into libnprof variables (served at /debug/vars) once ntf_stats_publish()
 * ran in dev mode; nprof_var_* updates are lock-free. */
#include <stddef.h>

#include "internal.h"
#include "nprof.h"

ntf_stats ntf_stats_g;

static nprof_var *v_streams, *v_users, *v_sent, *v_dropped, *v_publishes,
    *v_rejected;

int ntf_stats_publish(void)
{
  struct {
    nprof_var **var;
    const char *name;
    atomic_llong *value;
  } vars[] = {
      {&v_streams, "notifier.streams", &ntf_stats_g.streams},
      {&v_users, "notifier.users", &ntf_stats_g.users},
      {&v_sent, "notifier.sent", &ntf_stats_g.sent},
      {&v_dropped, "notifier.dropped", &ntf_stats_g.dropped},
      {&v_publishes, "notifier.publishes", &ntf_stats_g.publishes},
      {&v_rejected, "notifier.rejected", &ntf_stats_g.rejected},
  };
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
    nprof_var *v = nprof_var_new_int(vars[i].name);
    if (v == NULL)
      return NPROF_EINVAL;
    nprof_var_set(v, atomic_load(vars[i].value));
    *vars[i].var = v;
  }
  return 0;
}

/* Deltas, not values: two threads storing counts they read under the
 * registry lock could store them out of order. */
void ntf_stats_add_streams(long long streams, long long users)
{
  atomic_fetch_add_explicit(&ntf_stats_g.streams, streams,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&ntf_stats_g.users, users, memory_order_relaxed);
  if (v_streams) {
    nprof_var_add(v_streams, streams);
    nprof_var_add(v_users, users);
  }
}

#define COUNTER(fn, field, var)                                                \
  void fn(long long n)                                                         \
  {                                                                            \
    atomic_fetch_add_explicit(&ntf_stats_g.field, n, memory_order_relaxed);    \
    if (var)                                                                   \
      nprof_var_add(var, n);                                                   \
  }

COUNTER(ntf_stats_add_sent, sent, v_sent)
COUNTER(ntf_stats_add_dropped, dropped, v_dropped)
COUNTER(ntf_stats_add_publishes, publishes, v_publishes)
COUNTER(ntf_stats_add_rejected, rejected, v_rejected)
