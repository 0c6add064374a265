/* libFuzzer target: the request template (loadgen/template.c). The first
 * byte picks a message type of the built-in notifier descriptors and the
 * count of numeric placeholders; the rest is an encoded message to walk
 * (what protoc would have made of --data). Any template that builds must
 * render, for every user tried, exactly lg_template_size bytes, and its
 * render must walk as well-formed again. The same bytes also go through
 * the text rewrite as --data. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lg_descriptors *desc;

static void walk_ok(const uint8_t *p, size_t n)
{
  lg_wire w;
  lg_wire_init(&w, p, n);
  lg_wire_field f;
  int rc;
  while ((rc = lg_wire_next(&w, &f)) == 1)
    ;
  if (rc != 0)
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (desc == NULL &&
      lg_desc_load(lg_notifier_desc, lg_notifier_desc_len, &desc) != 0)
    __builtin_trap();
  if (size < 1)
    return 0;
  static const char *const types[] = {
      "notifier.ConnectRequest", "notifier.Notification",
      "notifier.PublishRequest", "notifier.PublishReply"};
  const char *type = types[data[0] & 3];
  unsigned numeric = (data[0] >> 2) & 3;
  lg_template *t = NULL;
  char err[512];
  if (lg_template_new(data + 1, size - 1, desc, type, numeric, &t, err,
                      sizeof err) == 0) {
    static const uint32_t users[] = {0, 7, 10, 128, 99999, 16777215};
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
      size_t n = lg_template_size(t, users[i]);
      uint8_t *out = malloc(n + 1);
      if (lg_template_render(t, users[i], out, n) != n)
        __builtin_trap();
      walk_ok(out, n);
      free(out);
    }
    lg_template_free(t);
  }
  char *text = malloc(size + 1), *prepared;
  memcpy(text, data, size);
  text[size] = '\0';
  unsigned count;
  if (lg_template_text(text, &prepared, &count, err, sizeof err) == 0)
    free(prepared);
  free(text);
  return 0;
}
