/* libFuzzer target: nprof merge on shard results from outside (files
 * another host wrote). The input is split at form feeds into up to eight
 * JSON documents: the shards, and (with two or more) the last one as the
 * coordinator's. Any bytes: a merged result that parses again, or a clear
 * refusal, never a crash; bucket indices, counts and layouts come from
 * the files. */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cli_json *docs[8] = {0};
  struct cli_merge_input in[8];
  size_t n = 0;
  const char *p = (const char *)data, *end = p + size;
  while (p <= end && n < 8) {
    const char *ff = memchr(p, '\f', (size_t)(end - p));
    const char *stop = ff != NULL ? ff : end;
    char err[CLI_ERRLEN];
    if (cli_json_parse(p, (size_t)(stop - p), &docs[n], err, sizeof err) == 0) {
      in[n] = (struct cli_merge_input){"shard", docs[n]};
      n++;
    }
    if (ff == NULL)
      break;
    p = ff + 1;
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f != NULL) {
    char err[CLI_ERRLEN];
    size_t shards = n > 1 ? n - 1 : n;
    int rc =
        cli_merge(in, shards, n > 1 ? &in[n - 1] : NULL, f, err, sizeof err);
    fclose(f);
    struct cli_json *back = NULL;
    if (rc == 0) {
      if (cli_json_parse(buf, len, &back, err, sizeof err) != 0)
        abort(); /* what merge writes is JSON */
      cli_json_free(back);
    } else if (rc == CLI_EINVALID && err[0] == '\0') {
      abort(); /* a refusal says why */
    }
    free(buf);
  }
  for (size_t i = 0; i < n; i++)
    cli_json_free(docs[i]);
  return 0;
}
