/* libFuzzer target: response headers as a server sends them (name and
 * value split at the first NUL), through the classifier and the
 * grpc-message decoder; and the same bytes as a -H the user types. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, 0, size);
  size_t nlen = nul != NULL ? (size_t)(nul - data) : size;
  const uint8_t *value = nul != NULL ? nul + 1 : data + size;
  size_t vlen = size - nlen - (nul != NULL);
  int code = 7777;
  lg_hdr_kind k = lg_grpc_header(data, nlen, value, vlen, &code);
  if ((k == LG_HDR_STATUS && code != -2 && (code < 100 || code > 999)) ||
      (k == LG_HDR_GRPC_STATUS && code != -2 && (code < 0 || code > 99)) ||
      ((k == LG_HDR_OTHER || k == LG_HDR_GRPC_MESSAGE) && code != 7777))
    __builtin_trap();
  char out[64];
  lg_grpc_message_decode(value, vlen, out, sizeof out);
  for (size_t i = 0; out[i]; i++)
    if (out[i] < 0x20 || out[i] > 0x7e)
      __builtin_trap();
  (void)lg_grpc_status_name(code);
  char spec[512];
  size_t n = size < sizeof spec - 1 ? size : sizeof spec - 1;
  memcpy(spec, data, n);
  spec[n] = '\0';
  lg_metadata m = {0};
  char err[256];
  if (lg_metadata_add_list(&m, spec, err, sizeof err) == 0)
    for (unsigned i = 0; i < m.n; i++)
      if (m.name[i][0] == '\0' || m.name[i][0] == ':' ||
          strncmp(m.name[i], "grpc-", 5) == 0 || strchr(m.value[i], '\n'))
        __builtin_trap();
  lg_metadata_free(&m);
  return 0;
}
