/*
 * Built twice by profiler/tests.mk (-DWHICH=a and -DWHICH=b) into two
 * shared libraries of the same size and layout, which the loader maps at
 * the same address one after the other (dlopen a, dlclose, dlopen b): the
 * symbolizer must then name b's function, not a's.
 */
#define CAT2(x, y) x##y
#define CAT(x, y) CAT2(x, y)

int CAT(dlswap_fn_, WHICH)(int x);

int CAT(dlswap_fn_, WHICH)(int x)
{
  return x * 3 + 1;
}
