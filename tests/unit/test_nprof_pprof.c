/* The profile.proto encoder (pprof.c), checked by decoding its output with
 * protobuf-c and zlib, and the symbolizer behind it (symbolize.c). */
#include "internal.h"
#include "profile.pb-c.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

typedef Perftools__Profiles__Profile Profile;

static Profile *decode(const nprof__buf *gz)
{
  /* The encoder must write gzip: check the magic before inflating. */
  assert_true(gz->len > 18);
  assert_int_equal((unsigned char)gz->data[0], 0x1f);
  assert_int_equal((unsigned char)gz->data[1], 0x8b);
  size_t cap = 1 << 24;
  unsigned char *raw = malloc(cap);
  z_stream z;
  memset(&z, 0, sizeof(z));
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef *)gz->data;
  z.avail_in = (uInt)gz->len;
  z.next_out = raw;
  z.avail_out = (uInt)cap;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  size_t len = cap - z.avail_out;
  inflateEnd(&z);
  Profile *p = perftools__profiles__profile__unpack(NULL, len, raw);
  free(raw);
  assert_non_null(p);
  return p;
}

static const char *str(const Profile *p, int64_t i)
{
  assert_true(i >= 0 && (size_t)i < p->n_string_table);
  return p->string_table[i];
}

static const char *function_name(const Profile *p, uint64_t location_id)
{
  for (size_t i = 0; i < p->n_location; i++) {
    if (p->location[i]->id != location_id)
      continue;
    assert_true(p->location[i]->n_line >= 1);
    uint64_t fid = p->location[i]->line[0]->function_id;
    for (size_t k = 0; k < p->n_function; k++)
      if (p->function[k]->id == fid)
        return str(p, p->function[k]->name);
  }
  fail_msg("location %llu not found", (unsigned long long)location_id);
  return NULL;
}

__attribute__((noinline)) static int known_leaf_function(uintptr_t *pcs)
{
  return nprof__stack_capture(pcs, NPROF_MAX_DEPTH, 0);
}

static void encodes_a_decodable_symbolized_profile(void **state)
{
  (void)state;
  uintptr_t pcs[NPROF_MAX_DEPTH];
  int depth = known_leaf_function(pcs);
  assert_true(depth >= 2);

  const char *types[] = {"alloc_objects/count", "inuse_space/bytes"};
  nprof__pprof *b = nprof__pprof_new(types, 2);
  assert_non_null(b);
  nprof__pprof_period(b, "space", "bytes", 524288);
  nprof__pprof_default_type(b, "inuse_space");
  int64_t v1[2] = {3, 3072};
  nprof__label labels[2] = {{.key = "bytes", .num = 1024, .unit = "bytes"},
                            {.key = "thread", .str = "worker"}};
  assert_int_equal(nprof__pprof_add(b, pcs, depth, v1, labels, 2), 0);
  int64_t v2[2] = {1, 10};
  assert_int_equal(nprof__pprof_add(b, pcs + 1, depth - 1, v2, NULL, 0), 0);
  nprof__buf out;
  nprof__buf_init(&out, 1 << 26);
  assert_int_equal(nprof__pprof_write(b, &out), 0);
  nprof__pprof_free(b);

  Profile *p = decode(&out);
  assert_string_equal(p->string_table[0], "");
  assert_int_equal(p->n_sample_type, 2);
  assert_string_equal(str(p, p->sample_type[0]->type), "alloc_objects");
  assert_string_equal(str(p, p->sample_type[0]->unit), "count");
  assert_string_equal(str(p, p->sample_type[1]->type), "inuse_space");
  assert_string_equal(str(p, p->sample_type[1]->unit), "bytes");
  assert_string_equal(str(p, p->period_type->type), "space");
  assert_int_equal(p->period, 524288);
  assert_string_equal(str(p, p->default_sample_type), "inuse_space");
  assert_true(p->time_nanos > 0);
  assert_int_equal(p->n_sample, 2);
  assert_int_equal(p->sample[0]->n_value, 2);
  assert_int_equal(p->sample[0]->value[1], 3072);
  assert_int_equal(p->sample[0]->n_location_id, (size_t)depth);
  assert_int_equal(p->sample[0]->n_label, 2);
  assert_string_equal(str(p, p->sample[0]->label[0]->key), "bytes");
  assert_int_equal(p->sample[0]->label[0]->num, 1024);
  assert_string_equal(str(p, p->sample[0]->label[1]->str), "worker");
  /* Leaf first, named in-process. */
  assert_string_equal(function_name(p, p->sample[0]->location_id[0]),
                      "known_leaf_function");
  assert_string_equal(function_name(p, p->sample[0]->location_id[1]),
                      "encodes_a_decodable_symbolized_profile");
  /* Shared frames share locations. */
  assert_int_equal(p->sample[0]->location_id[1], p->sample[1]->location_id[0]);
  /* Mappings: the test binary is there, every location in it named, so
   * it claims has_functions (libc's may not: Debian strips its static
   * functions). */
  assert_true(p->n_mapping > 0);
  int saw_self = 0;
  for (size_t i = 0; i < p->n_mapping; i++) {
    if (strstr(str(p, p->mapping[i]->filename), "test_nprof_pprof")) {
      /* (Not has_filenames: _start, from crt1.o, has no line table.) */
      assert_true(p->mapping[i]->has_functions);
      saw_self = 1;
    }
  }
  assert_true(saw_self);
  perftools__profiles__profile__free_unpacked(p, NULL);
  nprof__buf_free(&out);
}

static void symbolizes_file_and_line(void **state)
{
  (void)state;
  uintptr_t pcs[NPROF_MAX_DEPTH];
  int depth = known_leaf_function(pcs);
  assert_true(depth >= 1);
  nprof__sym sym;
  nprof__symbolize_refresh();
  nprof__symbolize(pcs[0], &sym);
  assert_true(sym.known);
  assert_string_equal(sym.function, "known_leaf_function");
  assert_non_null(sym.file);
  assert_non_null(strstr(sym.file, "test_nprof_pprof.c"));
  assert_true(sym.line > 0);
  /* Unknown addresses get no invented name (and never NULL). */
  nprof__symbolize(0x10, &sym);
  assert_false(sym.known);
  assert_string_equal(sym.function, "");
  assert_null(sym.module);
}

static const Perftools__Profiles__Location *location(const Profile *p,
                                                     uint64_t id)
{
  for (size_t i = 0; i < p->n_location; i++)
    if (p->location[i]->id == id)
      return p->location[i];
  fail_msg("location %llu not found", (unsigned long long)id);
  return NULL;
}

static const Perftools__Profiles__Mapping *mapping(const Profile *p,
                                                   uint64_t id)
{
  for (size_t i = 0; i < p->n_mapping; i++)
    if (p->mapping[i]->id == id)
      return p->mapping[i];
  fail_msg("mapping %llu not found", (unsigned long long)id);
  return NULL;
}

static uintptr_t stripped_pcs[NPROF_MAX_DEPTH];
static int stripped_depth;

__attribute__((noinline)) static void capture_from_stripped(void)
{
  stripped_depth = nprof__stack_capture(stripped_pcs, NPROF_MAX_DEPTH, 0);
}

/* A stack through a stripped library (static functions without a
 * symbol): the unnamed frame gets no function in the profile (an invented
 * "0x...@lib" name would differ in every process and stop pprof from
 * symbolizing it), keeps its address and mapping, and that mapping does
 * not claim has_functions. */
static void unnamed_frames_get_no_function(void **state)
{
  (void)state;
  char path[512];
  snprintf(path, sizeof(path), "%s/libnprof_stripped.so", TEST_LIB_DIR);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  void (*call)(void (*)(void)) =
      (void (*)(void (*)(void)))dlsym(h, "stripped_call");
  assert_non_null(call);
  call(capture_from_stripped);
  /* capture_from_stripped, hidden_call_step (unnamed), stripped_call... */
  assert_true(stripped_depth >= 3);
  nprof__symbolize_refresh();
  nprof__sym sym;
  nprof__symbolize(stripped_pcs[1], &sym);
  assert_false(sym.known);
  assert_string_equal(sym.function, "");
  assert_string_equal(sym.module, "libnprof_stripped.so");
  char buf[NPROF_SYM_BUF];
  const char *name = nprof__sym_name(&sym, stripped_pcs[1], buf, sizeof(buf));
  assert_true(strncmp(name, "libnprof_stripped.so+0x", 23) == 0);
  nprof__symbolize(stripped_pcs[2], &sym);
  assert_string_equal(sym.function, "stripped_call");

  const char *types[] = {"samples/count"};
  nprof__pprof *b = nprof__pprof_new(types, 1);
  assert_non_null(b);
  int64_t v = 1;
  assert_int_equal(
      nprof__pprof_add(b, stripped_pcs, stripped_depth, &v, NULL, 0), 0);
  nprof__buf out;
  nprof__buf_init(&out, 1 << 26);
  assert_int_equal(nprof__pprof_write(b, &out), 0);
  nprof__pprof_free(b);
  Profile *p = decode(&out);
  const Perftools__Profiles__Location *leaf =
      location(p, p->sample[0]->location_id[0]);
  const Perftools__Profiles__Location *hidden =
      location(p, p->sample[0]->location_id[1]);
  const Perftools__Profiles__Location *named =
      location(p, p->sample[0]->location_id[2]);
  assert_string_equal(function_name(p, leaf->id), "capture_from_stripped");
  assert_int_equal(hidden->n_line, 0);
  assert_int_equal(hidden->address, stripped_pcs[1]);
  assert_string_equal(function_name(p, named->id), "stripped_call");
  const Perftools__Profiles__Mapping *m = mapping(p, hidden->mapping_id);
  assert_int_equal(named->mapping_id, hidden->mapping_id);
  assert_non_null(strstr(str(p, m->filename), "/libnprof_stripped.so"));
  assert_true(m->memory_start <= hidden->address &&
              hidden->address < m->memory_limit);
  assert_int_equal(strlen(str(p, m->build_id)), 40);
  assert_false(m->has_functions);
  /* The test binary's own mapping still claims its names. */
  assert_true(mapping(p, leaf->mapping_id)->has_functions);
  perftools__profiles__profile__free_unpacked(p, NULL);
  nprof__buf_free(&out);
  dlclose(h);
}

static void text_stack_lines_look_like_go(void **state)
{
  (void)state;
  uintptr_t pcs[NPROF_MAX_DEPTH];
  int depth = known_leaf_function(pcs);
  nprof__buf out;
  nprof__buf_init(&out, 1 << 20);
  nprof__writer w = {.out = &out};
  nprof__text_record(&w, pcs, depth, "# between\n");
  assert_int_equal(w.rc, 0);
  assert_true(strncmp(out.data, " @ 0x", 5) == 0);
  /* The address list, the caller's lines, the frames, a blank line. */
  const char *nl = strchr(out.data, '\n');
  assert_non_null(nl);
  assert_int_equal(strncmp(nl + 1, "# between\n#\t0x", 14), 0);
  assert_non_null(strstr(out.data, "\tknown_leaf_function+0x"));
  assert_non_null(strstr(out.data, "test_nprof_pprof.c:"));
  assert_int_equal(strcmp(out.data + out.len - 2, "\n\n"), 0);
  /* A full buffer: the error sticks, later writes do nothing. */
  nprof__buf small;
  nprof__buf_init(&small, 8);
  nprof__writer ws = {.out = &small};
  nprof__text_record(&ws, pcs, depth, NULL);
  assert_int_equal(ws.rc, NPROF_EINVAL);
  nprof__w_printf(&ws, "x");
  assert_int_equal(ws.rc, NPROF_EINVAL);
  assert_true(small.len <= 8);
  nprof__buf_free(&small);
  nprof__buf_free(&out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(encodes_a_decodable_symbolized_profile),
      cmocka_unit_test(symbolizes_file_and_line),
      cmocka_unit_test(unnamed_frames_get_no_function),
      cmocka_unit_test(text_stack_lines_look_like_go),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
