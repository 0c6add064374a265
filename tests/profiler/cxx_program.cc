// A C++ program with allocation sites under mangled names, for the
// symbolizer's demangling: ns::Box<char>::make and (anonymous namespace)::anon.
// (anonymous namespace)::with_new allocates through operator new[].
// Prints "ready", then waits for stdin to close (at most 300 s).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace ns
{
template <class T> struct Box {
  __attribute__((noinline)) static T *make(int n)
  {
    return static_cast<T *>(malloc(n));
  }
};
} // namespace ns

namespace
{
__attribute__((noinline)) void *anon(int n)
{
  void *p = ns::Box<char>::make(n);
  __asm__ volatile("" ::: "memory"); // keep this frame
  return p;
}
// Through operator new[]: heap stacks must start here, not in the wrapper.
__attribute__((noinline)) char *with_new(int n)
{
  char *p = new char[n];
  __asm__ volatile("" ::: "memory");
  return p;
}
} // namespace

int main()
{
  alarm(300);
  static void *keep[20000];
  static char *kept_new[20000];
  for (int i = 0; i < 20000; i++) {
    keep[i] = anon(1000);
    kept_new[i] = with_new(1000);
  }
  std::string ready("ready"); // links the C++ runtime, as real C++ does
  printf("%s\n", ready.c_str());
  fflush(stdout);
  char buf[64];
  while (fread(buf, 1, sizeof buf, stdin) > 0)
    ;
  return keep[0] == nullptr;
}
