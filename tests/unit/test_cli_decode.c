/* Unit tests for profiler/cli/decode.c: gzip handling, caps, validation of
 * every cross-reference, the resolved view and sample-index resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "../cli/testprof.h"

static char err[CLI_ERRLEN];

/* Packs `t`, decodes it, and returns the result code; *out gets the
 * profile on success. */
static int decode_tp(const struct testprof *t, struct cli_profile **out)
{
  size_t len;
  uint8_t *buf = testprof_pack(t, &len);
  int rc;

  assert_non_null(buf);
  err[0] = '\0';
  rc = cli_profile_decode(buf, len, 0, out, err, sizeof(err));
  free(buf);
  return rc;
}

/* Expects `t` to be rejected as inconsistent with a message holding
 * `needle`. */
static void expect_invalid(const struct testprof *t, const char *needle)
{
  struct cli_profile *p = (struct cli_profile *)0x1;
  int rc = decode_tp(t, &p);

  if (rc != CLI_EINVALID || strstr(err, needle) == NULL)
    fail_msg("rc %d, message \"%s\", wanted CLI_EINVALID with \"%s\"", rc, err,
             needle);
  /* Output parameter untouched on failure. */
  assert_ptr_equal(p, (struct cli_profile *)0x1);
}

static void check_view(const struct cli_profile *p)
{
  const struct cli_sample *s;

  assert_int_equal(p->nsample_types, 2);
  assert_string_equal(p->sample_types[0].type, "alloc_space");
  assert_string_equal(p->sample_types[1].type, "inuse_space");
  assert_string_equal(p->sample_types[1].unit, "bytes");
  assert_int_equal(p->default_sample_type, -1);
  assert_int_equal(p->nsamples, 3);

  /* Sample 0: location 10 expands to leaf (inlined) then mid, then main. */
  s = &p->samples[0];
  assert_int_equal(s->values[0], 100);
  assert_int_equal(s->values[1], 50);
  assert_int_equal(s->nframes, 3);
  assert_string_equal(s->frames[0]->function, "leaf");
  assert_string_equal(s->frames[0]->file, "util.h");
  assert_int_equal(s->frames[0]->line, 30);
  assert_int_equal(s->frames[0]->inlined, 1);
  assert_int_equal(s->frames[0]->address, 0x1100);
  assert_string_equal(s->frames[1]->function, "mid");
  assert_int_equal(s->frames[1]->inlined, 0);
  assert_int_equal(s->frames[1]->location_id, 10);
  assert_string_equal(s->frames[2]->function, "main");
  assert_string_equal(s->frames[2]->mapping, "/usr/bin/prog");
  assert_int_equal(s->nlabels, 1);
  assert_string_equal(s->labels[0].key, "thread");
  assert_string_equal(s->labels[0].str, "worker");

  /* Frames are shared: main in sample 1 is the same frame object. */
  assert_ptr_equal(p->samples[1].frames[0], s->frames[2]);

  /* Sample 2: a location without lines is one nameless frame. */
  s = &p->samples[2];
  assert_int_equal(s->nframes, 2);
  assert_string_equal(s->frames[0]->function, "");
  assert_int_equal(s->frames[0]->address, 0x1234);
  assert_string_equal(s->frames[0]->mapping, "/usr/bin/prog");
  assert_int_equal(s->labels[0].num, 64);
  assert_string_equal(s->labels[0].num_unit, "bytes");
  assert_string_equal(s->labels[0].str, "");
  assert_non_null(p->raw);
  assert_int_equal(p->raw->n_location, 3);
}

static void test_decode_plain(void **state)
{
  struct testprof t;
  struct cli_profile *p = NULL;

  (void)state;
  testprof_init(&t);
  assert_int_equal(decode_tp(&t, &p), 0);
  check_view(p);
  cli_profile_free(p);
}

static void test_decode_gzip_and_multimember(void **state)
{
  struct testprof t;
  struct cli_profile *p = NULL;
  size_t len, z1len, z2len;
  uint8_t *buf, *z1, *z2, *both;

  (void)state;
  testprof_init(&t);
  buf = testprof_pack(&t, &len);
  z1 = testprof_gzip(buf, len, &z1len);
  assert_non_null(z1);
  assert_int_equal(cli_profile_decode(z1, z1len, 0, &p, err, sizeof(err)), 0);
  check_view(p);
  cli_profile_free(p);

  /* gzip(1) and Go accept concatenated members: split the message. */
  z2 = testprof_gzip(buf + len / 2, len - len / 2, &z2len);
  free(z1);
  z1 = testprof_gzip(buf, len / 2, &z1len);
  both = malloc(z1len + z2len);
  memcpy(both, z1, z1len);
  memcpy(both + z1len, z2, z2len);
  assert_int_equal(
      cli_profile_decode(both, z1len + z2len, 0, &p, err, sizeof(err)), 0);
  check_view(p);
  cli_profile_free(p);

  /* Trailing bytes that are not another member are an error. */
  memcpy(both + z1len, "junk", 4);
  assert_int_equal(cli_profile_decode(both, z1len + 4, 0, &p, err, sizeof(err)),
                   CLI_EGZIP);
  assert_non_null(strstr(err, "trailing"));
  free(both);
  free(z1);
  free(z2);
  free(buf);
}

static void test_decode_empty(void **state)
{
  struct cli_profile *p = NULL;
  size_t zlen;
  uint8_t *z = testprof_gzip("", 0, &zlen);

  (void)state;
  assert_int_equal(cli_profile_decode("", 0, 0, &p, err, sizeof(err)),
                   CLI_EEMPTY);
  assert_non_null(strstr(err, "empty"));
  assert_int_equal(cli_profile_decode(z, zlen, 0, &p, err, sizeof(err)),
                   CLI_EEMPTY);
  assert_null(p);
  free(z);
}

static void test_decode_truncated_and_corrupt_gzip(void **state)
{
  struct testprof t;
  struct cli_profile *p = NULL;
  size_t len, zlen;
  uint8_t *buf, *z;

  (void)state;
  testprof_init(&t);
  buf = testprof_pack(&t, &len);
  z = testprof_gzip(buf, len, &zlen);

  /* Every cut of the gzip stream fails as gzip (never crashes, never
   * returns a half profile). */
  for (size_t cut = 2; cut < zlen; cut++) {
    int rc = cli_profile_decode(z, cut, 0, &p, err, sizeof(err));
    if (rc != CLI_EGZIP)
      fail_msg("cut at %zu of %zu: rc %d (%s)", cut, zlen, rc, err);
  }
  assert_int_equal(cli_profile_decode(z, zlen / 2, 0, &p, err, sizeof(err)),
                   CLI_EGZIP);
  assert_non_null(strstr(err, "truncated"));

  /* A flipped byte in the deflate data: the CRC or the decoder notices. */
  z[zlen / 2] ^= 0x55;
  assert_int_equal(cli_profile_decode(z, zlen, 0, &p, err, sizeof(err)),
                   CLI_EGZIP);
  assert_non_null(strstr(err, "corrupt"));
  assert_null(p);
  free(z);
  free(buf);
}

static void test_decode_truncated_plain(void **state)
{
  struct testprof t;
  struct cli_profile *p = NULL;
  size_t len, failures = 0;
  uint8_t *buf;

  (void)state;
  testprof_init(&t);
  buf = testprof_pack(&t, &len);
  /* A protobuf cut at a field boundary can still be a (smaller) valid
   * message; cuts inside a field or before the string table cannot. Each
   * prefix must decode or fail cleanly; most must fail. */
  for (size_t cut = 1; cut < len; cut++) {
    int rc = cli_profile_decode(buf, cut, 0, &p, err, sizeof(err));
    if (rc == 0) {
      cli_profile_free(p);
      p = NULL;
    } else {
      assert_true(rc == CLI_EPROTO || rc == CLI_EINVALID);
      assert_true(err[0] != '\0');
      failures++;
    }
  }
  assert_true(failures >= len * 9 / 10);
  free(buf);
}

static void test_decode_garbage(void **state)
{
  static const char text[] =
      "heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1\n";
  static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x12};
  struct cli_profile *p = NULL;
  int rc;

  (void)state;
  rc = cli_profile_decode(junk, sizeof(junk), 0, &p, err, sizeof(err));
  assert_int_equal(rc, CLI_EPROTO);
  rc = cli_profile_decode(text, sizeof(text) - 1, 0, &p, err, sizeof(err));
  assert_true(rc == CLI_EPROTO || rc == CLI_EINVALID);
  /* A debug=1 page gets a hint, not just "corrupt". */
  assert_non_null(strstr(err, "text"));
  assert_null(p);
}

static void test_decode_caps(void **state)
{
  const size_t mib = (size_t)1 << 20;
  uint8_t *zeros = calloc(2 * mib, 1), *z;
  struct cli_profile *p = NULL;
  size_t zlen;

  (void)state;
  /* 2 MiB of zeros against a 1 MiB cap: refused while inflating. */
  z = testprof_gzip(zeros, 2 * mib, &zlen);
  assert_int_equal(cli_profile_decode(z, zlen, mib, &p, err, sizeof(err)),
                   CLI_ETOOBIG);
  assert_non_null(strstr(err, "limit"));
  free(z);
  /* Exactly at the cap passes the cap (and fails as protobuf: a zero tag
   * is invalid). */
  z = testprof_gzip(zeros, mib, &zlen);
  assert_int_equal(cli_profile_decode(z, zlen, mib, &p, err, sizeof(err)),
                   CLI_EPROTO);
  free(z);
  /* Plain input over the cap. */
  assert_int_equal(
      cli_profile_decode(zeros, mib + 1, mib, &p, err, sizeof(err)),
      CLI_ETOOBIG);
  assert_null(p);
  free(zeros);
}

/* One location with 2000 inlined lines, named 5000 times by one sample:
 * 13 KB on the wire, 10 million frame pointers resolved. Refused before
 * anything that size is allocated. */
static void test_decode_stack_amplification(void **state)
{
  enum { NLINES = 2000, NREFS = 5000 };
  struct testprof t;
  Perftools__Profiles__Line *lines = calloc(NLINES, sizeof(*lines));
  Perftools__Profiles__Line **linep = calloc(NLINES, sizeof(*linep));
  uint64_t *refs = calloc(NREFS, sizeof(*refs));
  struct cli_profile *p = NULL;

  (void)state;
  testprof_init(&t);
  for (int i = 0; i < NLINES; i++) {
    perftools__profiles__line__init(&lines[i]);
    lines[i].function_id = 1;
    linep[i] = &lines[i];
  }
  for (int i = 0; i < NREFS; i++)
    refs[i] = 11;
  t.loc[1].line = linep;
  t.loc[1].n_line = NLINES;
  t.s[1].location_id = refs;
  t.s[1].n_location_id = NREFS;
  assert_int_equal(decode_tp(&t, &p), CLI_ETOOBIG);
  assert_non_null(strstr(err, "MiB"));
  free(lines);
  free(linep);
  free(refs);
}

/* A fresh profile from testprof_init with one change, which the validator
 * must refuse with a message holding `says`: one line a case. */
#define EXPECT_INVALID_AFTER(change, says)                                     \
  do {                                                                         \
    struct testprof t;                                                         \
    testprof_init(&t);                                                         \
    change;                                                                    \
    expect_invalid(&t, says);                                                  \
  } while (0)

static void test_validate_strings(void **state)
{
  static char x[] = "x";
  static int64_t comments[] = {TP_S_MAIN, 500};

  (void)state;
  EXPECT_INVALID_AFTER(t.strings[0] = x, "entry 0");
  EXPECT_INVALID_AFTER(t.p.n_string_table = 0, "string table is empty");
  /* one past the end */
  EXPECT_INVALID_AFTER(t.fn[1].name = TP_S_COUNT, "function id 2 name");
  EXPECT_INVALID_AFTER(t.lab[0].str = -1, "sample 0 label 0 str");
  EXPECT_INVALID_AFTER(t.vt[0].unit = 1000, "sample_type 0 unit");
  EXPECT_INVALID_AFTER(t.map[0].build_id = 99, "build_id");
  EXPECT_INVALID_AFTER(t.p.default_sample_type = 77, "default_sample_type");
  EXPECT_INVALID_AFTER((t.p.comment = comments, t.p.n_comment = 2),
                       "comment 1");
}

static void test_validate_references(void **state)
{
  (void)state;
  EXPECT_INVALID_AFTER(t.locids[2][1] = 99,
                       "sample 2: location id 99 does not exist");
  EXPECT_INVALID_AFTER(t.ln[1].function_id = 42,
                       "function id 42 does not exist");
  EXPECT_INVALID_AFTER(t.loc[2].mapping_id = 5, "mapping id 5 does not exist");
  EXPECT_INVALID_AFTER(t.loc[2].id = 10, "location id 10 is used twice");
  EXPECT_INVALID_AFTER(t.fn[0].id = 0, "id 0");
  EXPECT_INVALID_AFTER(t.s[1].n_value = 1,
                       "sample 1 has 1 values but the profile has 2");
  EXPECT_INVALID_AFTER(t.p.n_sample_type = 0, "no sample types");
}

static void test_valid_edge_cases(void **state)
{
  struct testprof t;
  struct cli_profile *p = NULL;

  (void)state;
  /* function_id 0 and mapping_id 0 mean "unknown", not dangling. */
  testprof_init(&t);
  t.ln[2].function_id = 0;
  t.loc[2].mapping_id = 0;
  assert_int_equal(decode_tp(&t, &p), 0);
  assert_string_equal(p->samples[1].frames[0]->function, "");
  assert_int_equal(p->samples[1].frames[0]->line, 10);
  assert_string_equal(p->samples[2].frames[0]->mapping, "");
  cli_profile_free(p);

  /* No samples at all is a valid (empty) profile. */
  testprof_init(&t);
  t.p.n_sample = 0;
  assert_int_equal(decode_tp(&t, &p), 0);
  assert_int_equal(p->nsamples, 0);
  cli_profile_free(p);

  /* Comments resolve to strings. */
  testprof_init(&t);
  {
    int64_t comments[] = {TP_S_WORKER};
    t.p.comment = comments;
    t.p.n_comment = 1;
    assert_int_equal(decode_tp(&t, &p), 0);
  }
  assert_int_equal(p->ncomments, 1);
  assert_string_equal(p->comments[0], "worker");
  cli_profile_free(p);

  cli_profile_free(NULL);
}

static void test_sample_index(void **state)
{
  struct testprof t;
  struct cli_profile *p = NULL;
  static char space[] = "space";

  (void)state;
  testprof_init(&t);
  assert_int_equal(decode_tp(&t, &p), 0);
  /* No default_sample_type: the last type, as pprof. */
  assert_int_equal(cli_profile_sample_index(p, NULL, err, sizeof(err)), 1);
  assert_int_equal(cli_profile_sample_index(p, "", err, sizeof(err)), 1);
  assert_int_equal(cli_profile_sample_index(p, "alloc_space", err, sizeof(err)),
                   0);
  assert_int_equal(cli_profile_sample_index(p, "0", err, sizeof(err)), 0);
  assert_int_equal(cli_profile_sample_index(p, "1", err, sizeof(err)), 1);
  assert_int_equal(cli_profile_sample_index(p, "2", err, sizeof(err)),
                   CLI_ENOTFOUND);
  assert_non_null(strstr(err, "[0..1]"));
  assert_int_equal(cli_profile_sample_index(p, "-1", err, sizeof(err)),
                   CLI_ENOTFOUND);
  assert_int_equal(cli_profile_sample_index(p, "bogus", err, sizeof(err)),
                   CLI_ENOTFOUND);
  assert_non_null(strstr(err, "alloc_space inuse_space"));
  cli_profile_free(p);

  /* default_sample_type names alloc_space. */
  t.p.default_sample_type = TP_S_ALLOC_SPACE;
  assert_int_equal(decode_tp(&t, &p), 0);
  assert_int_equal(p->default_sample_type, 0);
  assert_int_equal(cli_profile_sample_index(p, NULL, err, sizeof(err)), 0);
  cli_profile_free(p);

  /* pprof's legacy spelling: "inuse_space" also finds a type "space". */
  testprof_init(&t);
  t.strings[TP_S_INUSE_SPACE] = space;
  assert_int_equal(decode_tp(&t, &p), 0);
  assert_int_equal(cli_profile_sample_index(p, "inuse_space", err, sizeof(err)),
                   1);
  cli_profile_free(p);

  /* No sample types: nothing to pick. */
  testprof_init(&t);
  t.p.n_sample_type = 0;
  t.p.n_sample = 0;
  assert_int_equal(decode_tp(&t, &p), 0);
  assert_int_equal(cli_profile_sample_index(p, NULL, err, sizeof(err)),
                   CLI_ENOTFOUND);
  cli_profile_free(p);
}

static void test_load_file(void **state)
{
  struct testprof t;
  struct cli_profile *p = NULL;
  char path[] = "/tmp/test_cli_decode.XXXXXX";
  size_t len;
  uint8_t *buf;
  int fd;

  (void)state;
  assert_int_equal(
      cli_profile_load("/nonexistent/x.pb.gz", &p, err, sizeof(err)), CLI_EIO);
  assert_non_null(strstr(err, "/nonexistent/x.pb.gz"));

  testprof_init(&t);
  buf = testprof_pack(&t, &len);
  fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, len), (ssize_t)len);
  assert_int_equal(cli_profile_load(path, &p, err, sizeof(err)), 0);
  check_view(p);
  cli_profile_free(p);
  p = NULL;

  /* Errors name the file. */
  assert_int_equal(ftruncate(fd, 0), 0);
  assert_int_equal(cli_profile_load(path, &p, err, sizeof(err)), CLI_EEMPTY);
  assert_non_null(strstr(err, path));
  close(fd);
  unlink(path);
  free(buf);
}

/* Every frame knows its place in the mapped file (address - memory_start
 * + file_offset), which does not depend on where the loader put it: the
 * same function at two load addresses gets the same place. */
static void test_frame_file_offset(void **state)
{
  (void)state;
  struct testprof t;
  testprof_init(&t);
  static char bid[] = "c00914114ac254dd59af3416a293a42e7d853dfd";
  t.strings[TP_S_COUNT] = bid;
  t.p.n_string_table = TP_S_COUNT + 1;
  t.map[0].build_id = TP_S_COUNT;
  t.map[0].file_offset = 0x1000;
  struct cli_profile *p;
  assert_int_equal(decode_tp(&t, &p), 0);
  const struct cli_frame *f = p->samples[2].frames[0]; /* location 12 */
  assert_string_equal(f->function, "");
  assert_true(f->mapped);
  assert_int_equal(f->file_offset, 0x1234 - 0x1000 + 0x1000);
  assert_int_equal(f->mapping_offset, 0x1000);
  assert_string_equal(f->build_id, bid);
  char buf[CLI_NAME_MAX];
  assert_string_equal(cli_frame_name(f, buf, sizeof(buf)), "prog+0x1234");
  cli_profile_free(p);

  /* The same code loaded 0x7f0000000000 higher: the same name. */
  t.map[0].memory_start += 0x7f0000000000;
  t.map[0].memory_limit += 0x7f0000000000;
  for (int i = 0; i < 3; i++)
    t.loc[i].address += 0x7f0000000000;
  assert_int_equal(decode_tp(&t, &p), 0);
  f = p->samples[2].frames[0];
  assert_string_equal(cli_frame_name(f, buf, sizeof(buf)), "prog+0x1234");
  cli_profile_free(p);

  /* An address outside its mapping has no place: "<unknown>", never the
   * runtime address. */
  t.loc[2].address = 0x10;
  assert_int_equal(decode_tp(&t, &p), 0);
  f = p->samples[2].frames[0];
  assert_false(f->mapped);
  assert_string_equal(cli_frame_name(f, buf, sizeof(buf)), "<unknown>");
  cli_profile_free(p);
}

/* A function name that is only the frame's own address, as older
 * symbolizers invented ("0x1234@prog"), is no name. Real names that look
 * similar stay. */
static void test_invented_names_dropped(void **state)
{
  (void)state;
  static const struct {
    const char *name;
    bool dropped;
  } cases[] = {{"0x1234@prog", true}, {"0x1234", true}, {"0x1235@prog", false},
               {"0x1234x", false},    {"0xzz", false},  {"x0x1234", false}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct testprof t;
    testprof_init(&t);
    /* Give location 12 a function whose name is the case. */
    t.strings[TP_S_COUNT] = (char *)cases[i].name;
    t.p.n_string_table = TP_S_COUNT + 1;
    perftools__profiles__function__init(&t.fn[3]);
    t.fn[3].id = 4;
    t.fn[3].name = t.fn[3].system_name = TP_S_COUNT;
    t.fnp[3] = &t.fn[3];
    t.p.n_function = 4;
    perftools__profiles__line__init(&t.ln[3]);
    t.ln[3].function_id = 4;
    t.lnp[3] = &t.ln[3];
    t.loc[2].line = &t.lnp[3];
    t.loc[2].n_line = 1;
    struct cli_profile *p;
    assert_int_equal(decode_tp(&t, &p), 0);
    const struct cli_frame *f = p->samples[2].frames[0];
    if (cases[i].dropped) {
      assert_string_equal(f->function, "");
      assert_string_equal(f->system_name, "");
    } else {
      assert_string_equal(f->function, cases[i].name);
    }
    cli_profile_free(p);
  }
}

/* A frame named after decoding: every sample that points at it sees the
 * name, the strings are the profile's. */
static void test_name_frame(void **state)
{
  (void)state;
  struct testprof t;
  testprof_init(&t);
  struct cli_profile *p;
  assert_int_equal(decode_tp(&t, &p), 0);
  size_t at = p->nframes;
  for (size_t i = 0; i < p->nframes; i++) {
    if (p->frames[i].location_id == 12)
      at = i;
  }
  assert_true(at < p->nframes);
  char name[] = "found_later", file[] = "later.c";
  assert_int_equal(cli_profile_name_frame(p, at, name, file, 42), 0);
  name[0] = file[0] = 'X'; /* copied, not borrowed */
  const struct cli_frame *f = p->samples[2].frames[0];
  assert_string_equal(f->function, "found_later");
  assert_string_equal(f->system_name, "found_later");
  assert_string_equal(f->file, "later.c");
  assert_int_equal(f->line, 42);
  cli_profile_free(p);
}

static void test_strerror(void **state)
{
  (void)state;
  for (int e = CLI_ENET; e <= CLI_ENOMEM; e++)
    assert_true(strlen(cli_strerror(e)) > 3);
  assert_string_equal(cli_strerror(0), "success");
  assert_string_equal(cli_strerror(-1000), "unknown error");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_plain),
      cmocka_unit_test(test_decode_gzip_and_multimember),
      cmocka_unit_test(test_decode_empty),
      cmocka_unit_test(test_decode_truncated_and_corrupt_gzip),
      cmocka_unit_test(test_decode_truncated_plain),
      cmocka_unit_test(test_decode_garbage),
      cmocka_unit_test(test_decode_caps),
      cmocka_unit_test(test_decode_stack_amplification),
      cmocka_unit_test(test_validate_strings),
      cmocka_unit_test(test_validate_references),
      cmocka_unit_test(test_valid_edge_cases),
      cmocka_unit_test(test_sample_index),
      cmocka_unit_test(test_load_file),
      cmocka_unit_test(test_frame_file_offset),
      cmocka_unit_test(test_invented_names_dropped),
      cmocka_unit_test(test_name_frame),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
