/*
 * A small, known pprof profile built with protobuf-c, for the CLI's unit
 * tests and tests/cli/mkprofile.c. Tests mutate the struct to break one
 * rule at a time, then pack it.
 *
 * Content (string indices in brackets):
 *   sample types: alloc_space/bytes, inuse_space/bytes
 *   mapping 1: /usr/bin/prog
 *   functions: 1 main (prog.c), 2 mid (prog.c), 3 leaf (util.h)
 *   locations: 10 = [leaf:30 inlined into mid:20], mapping 1, 0x1100
 *              11 = [main:10], mapping 1, 0x1000
 *              12 = no line info, mapping 1, address 0x1234
 *   samples:   [10 11] values {100, 50}  label thread=worker
 *              [11]    values {7, 0}
 *              [12 11] values {3, 1}     label bytes=64 (unit "bytes")
 */
#ifndef NPROF_TESTS_CLI_TESTPROF_H
#define NPROF_TESTS_CLI_TESTPROF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "profile.pb-c.h"

enum {
  TP_S_EMPTY,
  TP_S_ALLOC_SPACE,
  TP_S_BYTES,
  TP_S_INUSE_SPACE,
  TP_S_MAIN,
  TP_S_MID,
  TP_S_LEAF,
  TP_S_PROG_C,
  TP_S_UTIL_H,
  TP_S_BINARY,
  TP_S_THREAD,
  TP_S_WORKER,
  TP_S_SIZE,
  TP_S_COUNT
};

struct testprof {
  Perftools__Profiles__Profile p;
  char *strings[TP_S_COUNT + 4];
  Perftools__Profiles__ValueType vt[3], *vtp[3];
  Perftools__Profiles__Mapping map[2], *mapp[2];
  Perftools__Profiles__Function fn[4], *fnp[4];
  Perftools__Profiles__Line ln[4], *lnp[4];
  Perftools__Profiles__Location loc[4], *locp[4];
  Perftools__Profiles__Sample s[4], *sp[4];
  Perftools__Profiles__Label lab[2], *labp[2];
  uint64_t locids[4][4];
  int64_t vals[4][3];
};

static inline void testprof_init(struct testprof *t)
{
  static const char *const strings[TP_S_COUNT] = {
      "",       "alloc_space", "bytes",  "inuse_space", "main",
      "mid",    "leaf",        "prog.c", "util.h",      "/usr/bin/prog",
      "thread", "worker",      "size"};

  memset(t, 0, sizeof(*t));
  perftools__profiles__profile__init(&t->p);
  for (int i = 0; i < TP_S_COUNT; i++)
    t->strings[i] = (char *)strings[i];
  t->p.string_table = t->strings;
  t->p.n_string_table = TP_S_COUNT;

  for (int i = 0; i < 2; i++) {
    perftools__profiles__value_type__init(&t->vt[i]);
    t->vt[i].type = i == 0 ? TP_S_ALLOC_SPACE : TP_S_INUSE_SPACE;
    t->vt[i].unit = TP_S_BYTES;
    t->vtp[i] = &t->vt[i];
  }
  t->p.sample_type = t->vtp;
  t->p.n_sample_type = 2;

  perftools__profiles__mapping__init(&t->map[0]);
  t->map[0].id = 1;
  t->map[0].memory_start = 0x1000;
  t->map[0].memory_limit = 0x2000;
  t->map[0].filename = TP_S_BINARY;
  t->map[0].has_functions = 1;
  t->mapp[0] = &t->map[0];
  t->p.mapping = t->mapp;
  t->p.n_mapping = 1;

  for (int i = 0; i < 3; i++) {
    perftools__profiles__function__init(&t->fn[i]);
    t->fn[i].id = (uint64_t)i + 1;
    t->fn[i].name = TP_S_MAIN + i;
    t->fn[i].system_name = TP_S_MAIN + i;
    t->fn[i].filename = i == 2 ? TP_S_UTIL_H : TP_S_PROG_C;
    t->fnp[i] = &t->fn[i];
  }
  t->p.function = t->fnp;
  t->p.n_function = 3;

  /* Lines: [0] leaf:30, [1] mid:20 (both in location 10), [2] main:10. */
  for (int i = 0; i < 3; i++) {
    perftools__profiles__line__init(&t->ln[i]);
    t->lnp[i] = &t->ln[i];
  }
  t->ln[0].function_id = 3, t->ln[0].line = 30;
  t->ln[1].function_id = 2, t->ln[1].line = 20;
  t->ln[2].function_id = 1, t->ln[2].line = 10;
  for (int i = 0; i < 3; i++) {
    perftools__profiles__location__init(&t->loc[i]);
    t->loc[i].id = 10 + (uint64_t)i;
    t->loc[i].mapping_id = 1;
    t->locp[i] = &t->loc[i];
  }
  t->loc[0].address = 0x1100;
  t->loc[0].line = &t->lnp[0];
  t->loc[0].n_line = 2;
  t->loc[1].address = 0x1000;
  t->loc[1].line = &t->lnp[2];
  t->loc[1].n_line = 1;
  t->loc[2].address = 0x1234;
  t->p.location = t->locp;
  t->p.n_location = 3;

  for (int i = 0; i < 2; i++) {
    perftools__profiles__label__init(&t->lab[i]);
    t->labp[i] = &t->lab[i];
  }
  t->lab[0].key = TP_S_THREAD, t->lab[0].str = TP_S_WORKER;
  t->lab[1].key = TP_S_SIZE, t->lab[1].num = 64,
  t->lab[1].num_unit = TP_S_BYTES;

  for (int i = 0; i < 3; i++) {
    perftools__profiles__sample__init(&t->s[i]);
    t->s[i].location_id = t->locids[i];
    t->s[i].value = t->vals[i];
    t->s[i].n_value = 2;
    t->sp[i] = &t->s[i];
  }
  t->locids[0][0] = 10, t->locids[0][1] = 11, t->s[0].n_location_id = 2;
  t->vals[0][0] = 100, t->vals[0][1] = 50;
  t->s[0].label = &t->labp[0], t->s[0].n_label = 1;
  t->locids[1][0] = 11, t->s[1].n_location_id = 1;
  t->vals[1][0] = 7, t->vals[1][1] = 0;
  t->locids[2][0] = 12, t->locids[2][1] = 11, t->s[2].n_location_id = 2;
  t->vals[2][0] = 3, t->vals[2][1] = 1;
  t->s[2].label = &t->labp[1], t->s[2].n_label = 1;
  t->p.sample = t->sp;
  t->p.n_sample = 3;
  t->p.time_nanos = 0;
}

/* Packs the message into a new buffer (free()). */
static inline uint8_t *testprof_pack(const struct testprof *t, size_t *len)
{
  size_t n = perftools__profiles__profile__get_packed_size(&t->p);
  uint8_t *buf = malloc(n + 1);

  *len = 0;
  if (buf == NULL)
    return NULL;
  *len = perftools__profiles__profile__pack(&t->p, buf);
  return buf;
}

/* Gzips `len` bytes into a new buffer (free()), or NULL. */
static inline uint8_t *testprof_gzip(const void *data, size_t len,
                                     size_t *outlen)
{
  z_stream zs;
  uLong bound;
  uint8_t *out;

  *outlen = 0;
  memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return NULL;
  bound = deflateBound(&zs, (uLong)len) + 32;
  out = malloc(bound);
  if (out == NULL) {
    deflateEnd(&zs);
    return NULL;
  }
  zs.next_in = (Bytef *)data;
  zs.avail_in = (uInt)len;
  zs.next_out = out;
  zs.avail_out = (uInt)bound;
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
    deflateEnd(&zs);
    free(out);
    return NULL;
  }
  *outlen = zs.total_out;
  deflateEnd(&zs);
  return out;
}

#endif /* NPROF_TESTS_CLI_TESTPROF_H */
