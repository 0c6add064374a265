/* Words for the loadgen's error codes. A switch over the named enum with
 * no default, so that -Wswitch names a code added without its words; any
 * other negative value is an errno (ours, or libuv's, which are -errno on
 * Unix). */
#include <string.h>

#include "internal.h"

const char *lg_strerror(int err)
{
  switch ((lg_error)err) {
  case LG_OK:
    return "success";
  case LG_EINVAL:
    return "malformed input";
  case LG_ENOMEM:
    return "out of memory";
  case LG_ENOENT:
    return "not found";
  case LG_ETOOBIG:
    return "message larger than the cap";
  case LG_EPROTO:
    return "malformed protobuf data";
  case LG_ECOMPRESS:
    return "compressed message (not negotiated)";
  case LG_ETIMEDOUT:
    return "timed out";
  case LG_ETOOL:
    return "protoc refused the input";
  case LG_ETLS:
    return "TLS handshake failed";
  case LG_ECERT:
    return "the server's certificate did not verify";
  case LG_EALPN:
    return "the server did not agree to HTTP/2 (ALPN h2)";
  }
  /* strerrordesc_np, unlike strerror, never writes a shared buffer. */
  const char *s = err < 0 ? strerrordesc_np(-err) : NULL;
  return s != NULL ? s : "unknown error";
}
