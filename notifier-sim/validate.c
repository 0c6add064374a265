/* Checks on user ids from the network. They are echoed to other clients in
 * a proto3 string (which must be UTF-8, or strict decoders such as
 * python-protobuf reject the whole message) and written into log lines
 * (where a newline or escape sequence would forge or garble entries). */
#include "internal.h"

/* Returns the length of the UTF-8 sequence at s (at most `left` bytes), or
 * 0 when it is malformed: overlong forms, surrogates and code points above
 * U+10FFFF are malformed too (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
  unsigned c = s[0];
  size_t n;
  unsigned cp, min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (left < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

int ntf_user_id_check(const char *id, size_t len)
{
  if (len > NTF_USER_ID_MAX)
    return NTF_EINVAL;
  const unsigned char *s = (const unsigned char *)id;
  for (size_t i = 0; i < len;) {
    if (s[i] < 0x20 || s[i] == 0x7f)
      return NTF_EINVAL;
    size_t n = utf8_seq(s + i, len - i);
    if (n == 0)
      return NTF_EINVAL;
    i += n;
  }
  return 0;
}
