/* The duration parser reads what users type into every program and the
 * Makefile. Whatever it accepts must format and parse back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "npc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  int64_t ns;
  if (npc_duration_parse(s, &ns) == 0) {
    char buf[64];
    int64_t back;
    npc_duration_format(ns, buf, sizeof buf);
    if (ns < 0 || npc_duration_parse(buf, &back) != 0 || back != ns)
      abort();
  }
  free(s);
  return 0;
}
