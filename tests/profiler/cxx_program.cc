// A C++ program with allocation sites under mangled names, for the
// symbolizer's demangling: ns::Box<char>::make and (anonymous namespace)::anon.
// Prints "ready", then waits for stdin to close (at most 300 s).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace ns {
template <class T> struct Box {
  __attribute__((noinline)) static T *make(int n)
  {
    return static_cast<T *>(malloc(n));
  }
};
} // namespace ns

namespace {
__attribute__((noinline)) void *anon(int n)
{
  void *p = ns::Box<char>::make(n);
  __asm__ volatile("" ::: "memory"); // keep this frame
  return p;
}
} // namespace

int main()
{
  alarm(300);
  static void *keep[20000];
  for (int i = 0; i < 20000; i++)
    keep[i] = anon(1000);
  std::string ready("ready"); // links the C++ runtime, as real C++ does
  printf("%s\n", ready.c_str());
  fflush(stdout);
  char buf[64];
  while (fread(buf, 1, sizeof buf, stdin) > 0)
    ;
  return keep[0] == nullptr;
}
