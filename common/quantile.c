/* The one rule by which a histogram's q-th value is picked, shared by the
 * loadgen (its own percentiles) and nprof merge (the percentiles of the
 * shards' summed buckets): the same counts give the same percentile
 * whichever program computes it. */
#include "npc.h"

uint64_t npc_quantile_rank(double q, uint64_t count)
{
  if (count == 0)
    return 0;
  if (q >= 1)
    return count;
  double want = q * (double)count;
  uint64_t rank = (uint64_t)want;
  if ((double)rank < want)
    rank++; /* rounded up: p50 of {1, 2} is 1, p90 of ten values the 9th */
  return rank == 0 ? 1 : rank;
}
