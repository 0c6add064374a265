/* Error codes into words. A switch with no default: -Wswitch flags a code
 * added to ntf_error without a message here. */
#include "internal.h"

const char *ntf_strerror(int err)
{
  switch ((ntf_error)err) {
  case NTF_EINVAL:
    return "invalid argument";
  case NTF_ENOMEM:
    return "out of memory";
  case NTF_EFULL:
    return "too many streams";
  case NTF_ECLOSED:
    return "closed";
  case NTF_ESYSTEM:
    return "system call failed";
  case NTF_EGRPC:
    return "gRPC core refused the operation";
  }
  return err == 0 ? "success" : "unknown error";
}
