/* libFuzzer target: a descriptor set from a file (--protoset) or protoc:
 * decoded, indexed, and looked into as a run does (a method by name, each
 * message's fields). */
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  lg_descriptors *d = NULL;
  if (lg_desc_load(data, size, &d) != 0)
    return 0;
  lg_method m;
  char err[512];
  const char *calls[] = {"notifier.Notifier/Connect", "a.B/C", "/x.Y/Z"};
  for (size_t i = 0; i < 3; i++)
    if (lg_desc_method(d, calls[i], &m, err, sizeof err) == 0 &&
        (lg_desc_message(d, m.input) == NULL ||
         lg_desc_message(d, m.output) == NULL))
      __builtin_trap();
  const lg_msgtype *t = lg_desc_message(d, "notifier.Notification");
  for (uint32_t f = 0; t != NULL && f < 20; f++) {
    const lg_msgtype *sub = NULL;
    lg_field_kind k = lg_desc_field(d, t, f, &sub);
    if ((k == LG_FIELD_MESSAGE || k == LG_FIELD_GROUP) && sub == NULL)
      __builtin_trap();
  }
  lg_desc_free(d);
  return 0;
}
