/* libFuzzer target: the /debug/pprof/symbol request parser, fed any bytes
 * as a POST body. It must answer 200 with the header line and never crash. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  nprof__response res = {.status = 0};
  nprof__buf_init(&res.body, 1 << 20);
  nprof__endpoint_symbol((const char *)data, size, &res);
  if (res.status != 200 || res.body.len < 15 ||
      memcmp(res.body.data, "num_symbols: 1\n", 15) != 0)
    abort();
  nprof__buf_free(&res.body);
  return 0;
}
