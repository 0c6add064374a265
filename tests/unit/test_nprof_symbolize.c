/* The in-process symbolizer (symbolize.c): names from symbol tables,
 * nothing invented for what they do not cover, a bounded cache that
 * follows dlclose and dlopen. */
#include "internal.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fork_helper.h"

static void *load(const char *name)
{
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", TEST_LIB_DIR, name);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    fail_msg("dlopen %s: %s", path, dlerror());
  return h;
}

/* A library unloaded and another loaded in its place: the same address
 * now belongs to the new one, and so must its name. */
static void names_follow_dlclose_and_dlopen(void **state)
{
  (void)state;
  void *a = load("libnprof_dlswap_a.so");
  uintptr_t addr = (uintptr_t)dlsym(a, "dlswap_fn_a");
  assert_true(addr != 0);
  nprof__sym sym;
  nprof__symbolize_refresh();
  nprof__symbolize(addr, &sym);
  assert_true(sym.known);
  assert_string_equal(sym.function, "dlswap_fn_a");
  assert_int_equal(dlclose(a), 0);

  void *b = load("libnprof_dlswap_b.so");
  uintptr_t addr_b = (uintptr_t)dlsym(b, "dlswap_fn_b");
  /* The premise: the loader reused the hole a left. */
  assert_int_equal(addr_b, addr);
  nprof__symbolize_refresh();
  nprof__symbolize(addr, &sym);
  assert_true(sym.known);
  assert_string_equal(sym.function, "dlswap_fn_b");
  dlclose(b);
}

/* Addresses from the network (POST /debug/pprof/symbol): however many
 * distinct ones, the symbolizer's memory stays bounded. Before, each got a
 * cache entry and an interned "0x..." string for good. */
static void random_addresses_leave_memory_bounded(void **state)
{
  (void)state;
  nprof__symbolize_refresh();
  size_t before = mallinfo2().uordblks;
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 300000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    nprof__sym sym;
    nprof__symbolize((uintptr_t)(x & 0x00007fffffffffffULL), &sym);
  }
  size_t after = mallinfo2().uordblks;
  size_t grew = after > before ? after - before : 0;
  print_message("# symbolizer memory after 300,000 random addresses: +%zu "
                "bytes\n",
                grew);
  assert_true(grew < 4 * 1024 * 1024);
}

static void symbolize_many(void)
{
  uintptr_t base = (uintptr_t)symbolize_many;
  nprof__symbolize_refresh();
  for (uintptr_t a = 0; a < 4096; a += 7) {
    nprof__sym sym;
    nprof__symbolize(base - 16384 + a * 5, &sym);
  }
}

static void child_symbolizes(void)
{
  nprof__symbolize_refresh();
  nprof__sym sym;
  nprof__symbolize((uintptr_t)child_symbolizes, &sym);
  if (!sym.known || strcmp(sym.function, "child_symbolizes") != 0)
    _exit(1);
}

/* A fork while another thread symbolizes: the child must not inherit the
 * symbolizer's lock held. */
static void fork_child_can_symbolize(void **state)
{
  (void)state;
  SKIP_UNDER_SANITIZER();
  assert_int_equal(fork_while_busy(symbolize_many, child_symbolizes), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(names_follow_dlclose_and_dlopen),
      cmocka_unit_test(random_addresses_leave_memory_bounded),
      cmocka_unit_test(fork_child_can_symbolize),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
