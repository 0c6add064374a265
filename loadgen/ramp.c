/* Pacing: a token bucket for --rate, and the reconnect backoff. Kept free of
 * libuv so that the arithmetic can be tested with made-up clocks. */
#include <assert.h>

#include "internal.h"

void lg_ramp_init(lg_ramp *r, double rate, double burst, uint64_t now_ns)
{
  assert(rate >= 0);
  r->rate = rate;
  r->burst = burst < 1 ? 1 : burst;
  /* Start with one token: the first connection goes out at once, the rest
   * follow at the rate rather than as a burst. */
  r->tokens = 1;
  r->last_ns = now_ns;
}

static void refill(lg_ramp *r, uint64_t now_ns)
{
  if (now_ns > r->last_ns) {
    r->tokens += (double)(now_ns - r->last_ns) * r->rate / 1e9;
    if (r->tokens > r->burst)
      r->tokens = r->burst;
    r->last_ns = now_ns;
  }
}

uint64_t lg_ramp_take(lg_ramp *r, uint64_t now_ns, uint64_t want)
{
  if (r->rate <= 0)
    return want;
  refill(r, now_ns);
  uint64_t have = r->tokens >= 1 ? (uint64_t)r->tokens : 0;
  uint64_t n = have < want ? have : want;
  r->tokens -= (double)n;
  return n;
}

uint64_t lg_ramp_wait_ns(const lg_ramp *r, uint64_t now_ns)
{
  if (r->rate <= 0)
    return 0;
  double tokens = r->tokens;
  if (now_ns > r->last_ns)
    tokens += (double)(now_ns - r->last_ns) * r->rate / 1e9;
  if (tokens >= 1)
    return 0;
  return (uint64_t)((1 - tokens) * 1e9 / r->rate) + 1;
}

uint64_t lg_backoff_ns(unsigned attempt, uint64_t base_ns, uint64_t max_ns,
                       uint32_t rnd)
{
  uint64_t d = base_ns;
  for (unsigned i = 0; i < attempt && d < max_ns; i++)
    d *= 2;
  if (d > max_ns)
    d = max_ns;
  uint64_t half = d / 2;
  return half + (half == 0 ? 0 : (uint64_t)rnd % (half + 1));
}
