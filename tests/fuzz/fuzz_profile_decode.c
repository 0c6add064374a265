/*
 * libFuzzer target for the nprof profile decoder (profiler/cli/decode.c).
 *
 * Whatever the decoder accepts must be safe to walk without further checks,
 * so accepted profiles are walked in full (every frame, string and label is
 * read, every frame named; ASan flags any dangling pointer) and rendered
 * by `top` for each sample type, which exercises the same view the later
 * verbs will use.
 * A small decode cap keeps gzip bombs inside the fuzzer's memory limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const struct cli_profile *p)
{
  size_t n = 0;

  for (size_t i = 0; i < p->nsample_types; i++)
    n += strlen(p->sample_types[i].type) + strlen(p->sample_types[i].unit);
  for (size_t i = 0; i < p->nsamples; i++) {
    const struct cli_sample *s = &p->samples[i];
    for (size_t j = 0; j < p->nsample_types; j++)
      n += (size_t)s->values[j] & 1;
    for (size_t j = 0; j < s->nframes; j++) {
      const struct cli_frame *f = s->frames[j];
      n += strlen(f->function) + strlen(f->file) + strlen(f->mapping) +
           strlen(f->system_name) + strlen(f->build_id) + (size_t)f->inlined;
    }
    for (size_t j = 0; j < s->nlabels; j++)
      n += strlen(s->labels[j].key) + strlen(s->labels[j].str) +
           strlen(s->labels[j].num_unit);
  }
  for (size_t i = 0; i < p->ncomments; i++)
    n += strlen(p->comments[i]);
  /* Every frame's display name fits its buffer and is never a runtime
   * address: FILE+0xOFFSET, the function, or <unknown>. */
  for (size_t i = 0; i < p->nframes; i++) {
    char buf[CLI_NAME_MAX];
    const char *name = cli_frame_name(&p->frames[i], buf, sizeof(buf));
    if (p->frames[i].function[0] == '\0' && name != buf &&
        strcmp(name, "<unknown>") != 0)
      __builtin_trap();
    n += strlen(name);
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static FILE *sink;
  struct cli_profile *p = NULL;
  char err[CLI_ERRLEN];
  int rc;

  if (sink == NULL && (sink = fopen("/dev/null", "w")) == NULL)
    return 0;
  err[0] = '\0';
  rc = cli_profile_decode(data, size, (size_t)16 << 20, &p, err, sizeof(err));
  if (rc != 0) {
    /* Every failure explains itself. */
    if (err[0] == '\0')
      __builtin_trap();
    return 0;
  }
  (void)walk(p);
  (void)cli_profile_sample_index(p, NULL, err, sizeof(err));
  (void)cli_profile_sample_index(p, "inuse_space", err, sizeof(err));
  for (size_t i = 0; i < p->nsample_types && i < 4; i++) {
    struct cli_top_options opts = {
        .sample_index = (int)i, .nodecount = 10, .nodefraction = 0.005};
    (void)cli_top_print(sink, p, &opts);
  }
  cli_profile_free(p);
  return 0;
}
