/* Log-linear latency histogram in the manner of HdrHistogram: values below
 * 2^SUB_BITS are exact; above, each power of two [2^e, 2^(e+1)) is split
 * into 2^(SUB_BITS-1) equal buckets, so a bucket is at most 1/64 of its
 * values wide. Recording is a shift and an increment, which matters when a
 * broadcast lands on 100,000 streams at once. */
#include <assert.h>
#include <string.h>

#include "internal.h"

#define SUB (1u << LG_HIST_SUB_BITS)
#define HALF (SUB / 2)

void lg_hist_init(lg_histogram *h)
{
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

static unsigned msb(uint64_t v)
{
  return 63u - (unsigned)__builtin_clzll(v);
}

unsigned lg_hist_index(uint64_t us)
{
  if (us < SUB)
    return (unsigned)us;
  unsigned e = msb(us) - (LG_HIST_SUB_BITS - 1); /* >= 1 */
  if (e > LG_HIST_MAX_EXP - LG_HIST_SUB_BITS + 1)
    return LG_HIST_BUCKETS - 1;
  return SUB + (e - 1) * HALF + (unsigned)((us >> e) - HALF);
}

uint64_t lg_hist_bucket_high(unsigned idx)
{
  assert(idx < LG_HIST_BUCKETS);
  if (idx < SUB)
    return idx;
  unsigned e = (idx - SUB) / HALF + 1;
  uint64_t sub = (idx - SUB) % HALF + HALF;
  return ((sub + 1) << e) - 1;
}

void lg_hist_record(lg_histogram *h, uint64_t us)
{
  h->counts[lg_hist_index(us)]++;
  h->count++;
  h->sum += us;
  if (us > h->max)
    h->max = us;
  if (us < h->min)
    h->min = us;
}

void lg_hist_merge(lg_histogram *dst, const lg_histogram *src)
{
  for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
    dst->counts[i] += src->counts[i];
  dst->count += src->count;
  dst->sum += src->sum;
  if (src->max > dst->max)
    dst->max = src->max;
  if (src->min < dst->min)
    dst->min = src->min;
}

uint64_t lg_hist_quantile(const lg_histogram *h, double q)
{
  if (h->count == 0)
    return 0;
  if (q <= 0)
    return h->min;
  if (q >= 1)
    return h->max;
  uint64_t rank = npc_quantile_rank(q, h->count);
  uint64_t seen = 0;
  for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t v = lg_hist_bucket_high(i);
      if (v > h->max)
        v = h->max;
      if (v < h->min)
        v = h->min;
      return v;
    }
  }
  return h->max;
}
