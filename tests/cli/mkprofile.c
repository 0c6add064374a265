/*
 * Writes the known profile of testprof.h, so integration tests can compare
 * `nprof top` with `go tool pprof -top` on a profile that has inlined
 * frames, a frame without symbols, labels and a mapping.
 *   mkprofile [--plain] [--dangling] FILE
 *     --plain     uncompressed protobuf (default: gzip)
 *     --dangling  sample 2 names location 99, which does not exist
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testprof.h"

int main(int argc, char **argv)
{
  struct testprof t;
  int plain = 0, dangling = 0, i;
  size_t len, zlen;
  uint8_t *buf, *out;
  FILE *f;

  for (i = 1; i < argc - 1; i++) {
    if (strcmp(argv[i], "--plain") == 0)
      plain = 1;
    else if (strcmp(argv[i], "--dangling") == 0)
      dangling = 1;
    else
      break;
  }
  if (i != argc - 1) {
    fprintf(stderr, "usage: mkprofile [--plain] [--dangling] FILE\n");
    return 2;
  }
  testprof_init(&t);
  if (dangling)
    t.locids[2][1] = 99;
  buf = testprof_pack(&t, &len);
  out = plain ? buf : testprof_gzip(buf, len, &zlen);
  if (buf == NULL || out == NULL)
    return 1;
  if (plain)
    zlen = len;
  f = fopen(argv[i], "wb");
  if (f == NULL || fwrite(out, 1, zlen, f) != zlen || fclose(f) != 0) {
    perror(argv[i]);
    return 1;
  }
  if (out != buf)
    free(out);
  free(buf);
  return 0;
}
