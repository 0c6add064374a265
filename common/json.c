/* JSON strings written by every program that writes the run folder's
 * files (the loadgen's results and state files, nprof merge). */
#include <stdio.h>

#include "npc.h"

void npc_json_string(FILE *f, const char *s)
{
  if (s == NULL) {
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}
