/*
 * Stack capture with libunwind, which reads the DWARF call-frame information
 * (.eh_frame) and so walks through code built without frame pointers, such as
 * Debian's glibc and libgrpc. Its unw_backtrace() keeps a cache of frame
 * descriptions, so a repeated stack costs a few hundred nanoseconds.
 */
#include "internal.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* unw_backtrace's first entry is its return address into
 * nprof__stack_capture(); the caller's frame comes next. */
#define OWN_FRAMES 1

__attribute__((noinline)) int nprof__stack_capture(uintptr_t *pcs, int max,
                                                   int skip)
{
  void *raw[NPROF_MAX_DEPTH + 16];
  int want = max + skip + OWN_FRAMES;
  if (want > (int)(sizeof(raw) / sizeof(raw[0])))
    want = (int)(sizeof(raw) / sizeof(raw[0]));
  nprof__t_internal++;
  int n = unw_backtrace(raw, want);
  nprof__t_internal--;
  int first = OWN_FRAMES + skip;
  int depth = 0;
  for (int i = first; i < n && depth < max; i++) {
    uintptr_t ra = (uintptr_t)raw[i];
    if (ra == 0)
      break;
    pcs[depth++] = ra - 1; /* the call instruction, not the one after it */
  }
  return depth;
}

int nprof__stack_capture_signal(uintptr_t *pcs, int max, void *ucontext)
{
  unw_cursor_t cursor;
  if (unw_init_local2(&cursor, (unw_context_t *)ucontext,
                      UNW_INIT_SIGNAL_FRAME) < 0)
    return 0;
  int depth = 0;
  while (depth < max) {
    unw_word_t ip;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
      break;
    /* The interrupted frame's pc is exact; the others are return
     * addresses, moved back into their call instruction. */
    pcs[depth] = depth == 0 ? (uintptr_t)ip : (uintptr_t)ip - 1;
    depth++;
    if (unw_step(&cursor) <= 0)
      break;
  }
  return depth;
}
