/* The schedule of unary calls at a constant rate: the open model, as wrk2
 * measures it. Call g of the run is due at start + g / rate, fixed before
 * the run begins; a call that starts late (the server held up the ones
 * before it, or every slot was busy) still counts its latency from its due
 * time, so a stall is charged for every call it delayed instead of
 * disappearing into a lower rate (coordinated omission). Kept free of
 * libuv so the schedule can be tested with made-up clocks. */
#include <assert.h>

#include "internal.h"

void lg_pacer_init(lg_pacer *p, double rate, uint64_t total, uint32_t index,
                   uint32_t stride, uint64_t start_ns)
{
  assert(rate > 0 && stride > 0 && index < stride);
  p->ns_per_call = 1e9 / rate;
  p->start_ns = start_ns;
  p->index = index;
  p->stride = stride;
  if (total == LG_PACER_FOREVER)
    p->count = LG_PACER_FOREVER;
  else
    p->count = total > index ? (total - index + stride - 1) / stride : 0;
  p->next = 0;
}

uint64_t lg_pacer_due_ns(const lg_pacer *p, uint64_t k)
{
  /* From the call's number, not by adding periods: no drift. A double
   * holds g / rate in ns to well under a nanosecond for any run that fits
   * in a day. */
  double g = (double)(p->index + k * p->stride);
  return p->start_ns + (uint64_t)(g * p->ns_per_call);
}

bool lg_pacer_ready(const lg_pacer *p, uint64_t now_ns, uint64_t *due_ns)
{
  if (p->next >= p->count)
    return false;
  uint64_t due = lg_pacer_due_ns(p, p->next);
  if (due > now_ns)
    return false;
  *due_ns = due;
  return true;
}

void lg_pacer_advance(lg_pacer *p)
{
  if (p->next < p->count)
    p->next++;
}

uint64_t lg_pacer_wait_ns(const lg_pacer *p, uint64_t now_ns)
{
  if (p->next >= p->count)
    return UINT64_MAX;
  uint64_t due = lg_pacer_due_ns(p, p->next);
  return due > now_ns ? due - now_ns : 0;
}

uint64_t lg_pacer_sleep_ms(const lg_pacer *p, uint64_t now_ns)
{
  uint64_t wait = lg_pacer_wait_ns(p, now_ns);
  if (wait == UINT64_MAX)
    return UINT64_MAX;
  /* Never 0: at 20,000 calls/s the next call is due 50 us after the last,
   * about when the batch's writes return, and a 0 ms timer then sent calls
   * one or two at a time (a third of the dispatches, each with its own
   * write per connection). Its latency still counts from its due time. */
  uint64_t ms = (wait + 999999) / 1000000;
  return ms > 0 ? ms : 1;
}

uint64_t lg_pacer_due_before(const lg_pacer *p, uint64_t stop_ns)
{
  if (stop_ns <= p->start_ns)
    return 0;
  /* Calls k with due(k) < stop: index + k * stride < (stop - start) /
   * ns_per_call. Solved, then corrected by one either way for rounding. */
  double g = (double)(stop_ns - p->start_ns) / p->ns_per_call;
  double kk = (g - (double)p->index) / (double)p->stride;
  uint64_t k = kk <= 0 ? 0 : (uint64_t)kk;
  while (k > 0 && lg_pacer_due_ns(p, k - 1) >= stop_ns)
    k--;
  while (k < p->count && lg_pacer_due_ns(p, k) < stop_ns)
    k++;
  return k < p->count ? k : p->count;
}
