/* libFuzzer target: the state files a sharded run's processes read from
 * each other (loadgen/barrier.c), written by another process, maybe on
 * another host, maybe torn or of another version. Any bytes: a record or
 * LG_EPROTO, never a crash; a record read is written back and reads the
 * same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  lg_bar_record r, back;
  memset(&r, 0x5a, sizeof r);
  lg_bar_record before = r;
  int rc = lg_bar_record_parse((const char *)data, size, &r);
  if (rc != 0) {
    if (memcmp(&r, &before, sizeof r) != 0)
      abort(); /* a refusal leaves the record untouched */
    return 0;
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return 0;
  lg_bar_record_write(f, &r);
  fclose(f);
  if (lg_bar_record_parse(buf, len, &back) != 0 || back.index != r.index ||
      back.count != r.count || back.seq != r.seq || back.state != r.state ||
      back.failed != r.failed || strcmp(back.run_id, r.run_id) != 0 ||
      back.users != r.users || back.s.connected != r.s.connected ||
      back.s.messages != r.s.messages)
    abort(); /* what it writes, it reads */
  free(buf);
  return 0;
}
