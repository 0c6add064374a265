/* {user} templating (loadgen/template.c), with protoc as the oracle: for
 * each user the rendered request must be byte for byte what protoc
 * --encode makes of the text with {user} written out as that number, for
 * placeholders in strings, bytes, every numeric type, packed and repeated
 * fields, nested messages (whose length prefixes change size), groups and
 * oneofs; and the ways a placeholder cannot work are refused with words.
 * Uses tests/loadgen/proto/template*.proto and Debian's protoc (run from
 * the top folder, as make test does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "notifier.pb-c.h"

#define PROTO "tests/loadgen/proto/template.proto"
#define PROTO2 "tests/loadgen/proto/template2.proto"

typedef struct {
  uint8_t *set;
  size_t len;
  lg_descriptors *d;
} compiled;

static compiled compile(const char *proto)
{
  compiled c = {0};
  char err[512] = "";
  int rc = lg_protoc_compile(proto, NULL, 0, &c.set, &c.len, err, sizeof err);
  if (rc != 0)
    fail_msg("protoc %s: %s", proto, err);
  assert_int_equal(lg_desc_load(c.set, c.len, &c.d), 0);
  return c;
}

static void release(compiled *c)
{
  lg_desc_free(c->d);
  free(c->set);
}

/* protoc --encode of text, which must succeed. */
static uint8_t *encode(const compiled *c, const char *file, const char *type,
                       const char *text, size_t *len)
{
  uint8_t *out;
  char err[512] = "";
  int rc = lg_protoc_encode(c->set, c->len, file, type, text, &out, len, err,
                            sizeof err);
  if (rc != 0)
    fail_msg("protoc --encode %s: %s (%s)", type, err, text);
  return out;
}

/* The template of text, or the error code (err filled). */
static int build(const compiled *c, const char *file, const char *type,
                 const char *text, lg_template **t, char *err, size_t errlen)
{
  char *prepared;
  unsigned numeric;
  int rc = lg_template_text(text, &prepared, &numeric, err, errlen);
  if (rc != 0)
    return rc;
  uint8_t *msg;
  size_t len;
  rc = lg_protoc_encode(c->set, c->len, file, type, prepared, &msg, &len, err,
                        errlen);
  free(prepared);
  if (rc != 0)
    return rc;
  rc = lg_template_new(msg, len, c->d, type, numeric, t, err, errlen);
  free(msg);
  return rc;
}

static void write_file(const char *path, const void *p, size_t n)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* protoc --decode of msg: the text protoc reads it as. */
static char *decode(const compiled *c, const char *file, const char *type,
                    const uint8_t *msg, size_t len)
{
  char set[] = "/tmp/lg-tt-set-XXXXXX", in[] = "/tmp/lg-tt-msg-XXXXXX";
  close(mkstemp(set));
  close(mkstemp(in));
  write_file(set, c->set, c->len);
  write_file(in, msg, len);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "protoc --descriptor_set_in=%s --decode=%s %s <%s",
           set, type, file, in);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char *text = calloc(1, 65536);
  size_t n = fread(text, 1, 65535, p);
  text[n] = '\0';
  assert_int_equal(pclose(p), 0);
  unlink(set);
  unlink(in);
  return text;
}

static char *substitute(const char *text, uint32_t user)
{
  char num[16];
  snprintf(num, sizeof num, "%u", user);
  size_t n = strlen(text), k = strlen(num);
  char *out = malloc(n * (k + 1) + 1), *o = out;
  for (const char *p = text; *p;) {
    if (strncmp(p, "{user}", 6) == 0) {
      memcpy(o, num, k);
      o += k;
      p += 6;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

static const uint32_t users[] = {0,      1,      9,       10,      99,
                                 100,    127,    128,     12345,   99999,
                                 100000, 999999, 9999999, 16777215};

/* Every user's render equals protoc's encoding of the written-out text:
 * byte for byte, but for user 0, where proto3 leaves zeros off the wire
 * and the template keeps them (the same message to a parser): there, the
 * two must decode to the same text. */
static void check_users(const compiled *c, const char *file, const char *type,
                        const char *text, unsigned want_slots)
{
  lg_template *t = NULL;
  char err[512] = "";
  int rc = build(c, file, type, text, &t, err, sizeof err);
  if (rc != 0)
    fail_msg("template %s: %s", text, err);
  assert_int_equal(lg_template_slots(t), want_slots);
  for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
    char *written = substitute(text, users[i]);
    size_t want_len;
    uint8_t *want = encode(c, file, type, written, &want_len);
    size_t size = lg_template_size(t, users[i]);
    uint8_t *got = malloc(size + 1);
    assert_int_equal(lg_template_render(t, users[i], got, size), size);
    if (users[i] == 0) {
      char *a = decode(c, file, type, got, size);
      char *b = decode(c, file, type, want, want_len);
      if (strcmp(a, b) != 0)
        fail_msg("user 0: the render reads as\n%s\nprotoc's as\n%s", a, b);
      free(a);
      free(b);
    } else if (size != want_len || memcmp(got, want, size) != 0) {
      fail_msg("user %u: the render (%zu bytes) differs from protoc's "
               "encoding (%zu bytes) of %s",
               users[i], size, want_len, written);
    }
    /* one byte short: refused, nothing written past the end */
    if (size > 0)
      assert_int_equal(lg_template_render(t, users[i], got, size - 1), 0);
    free(got);
    free(want);
    free(written);
  }
  lg_template_free(t);
}

static void test_text_rewrite(void **state)
{
  (void)state;
  char *out, err[256];
  unsigned n;
  assert_int_equal(lg_template_text("id: {user} name: \"u{user}\" tags: "
                                    "[{user},2]",
                                    &out, &n, err, sizeof err),
                   0);
  assert_int_equal(n, 2);
  assert_string_equal(out, "id: 1879048192 name: \"u{user}\" tags: "
                           "[1879048192,2]");
  free(out);
  /* escapes, single quotes and comments are honoured */
  assert_int_equal(lg_template_text("a: \"x\\\"{user}\" b: '{user}\\''  # "
                                    "{user}\nc: {user}",
                                    &out, &n, err, sizeof err),
                   0);
  assert_int_equal(n, 1);
  assert_string_equal(out, "a: \"x\\\"{user}\" b: '{user}\\''  # "
                           "{user}\nc: 1879048192");
  free(out);
  assert_int_equal(lg_template_text("", &out, &n, err, sizeof err), 0);
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
  free(out);
  /* six placeholders in a row: the longer sentinel fits */
  assert_int_equal(lg_template_text("{user}{user}{user}{user}{user}{user}",
                                    &out, &n, err, sizeof err),
                   0);
  assert_int_equal(n, 6);
  assert_int_equal(strlen(out), 60);
  free(out);
  err[0] = '\0';
  assert_int_equal(
      lg_template_text("name: \"open {user}", &out, &n, err, sizeof err),
      LG_EINVAL);
  assert_non_null(strstr(err, "unterminated string at offset 6"));
}

static void test_strings_and_nesting(void **state)
{
  (void)state;
  compiled c = compile(PROTO);
  check_users(&c, "template.proto", "tt.Req",
              "room: \"r{user}\" user { name: \"u{user}-{user}\" }", 3);
  /* A string whose length crosses 127 -> 128 as the digits grow: its
   * prefix, and the enclosing message's, become two bytes. */
  char text[512];
  snprintf(text, sizeof text,
           "user { name: \"%0122d{user}\" deep { blob: \"b{user}\" } } "
           "others { name: \"%0125d{user}\" }",
           0, 0);
  check_users(&c, "template.proto", "tt.Req", text, 3);
  /* repeated strings, a oneof, a message in a repeated field */
  check_users(&c, "template.proto", "tt.Req",
              "names: [\"a{user}\", \"{user}\", \"c\"] a: \"{user}\" others "
              "{ id: 1 } others { name: \"o{user}\" }",
              4);
  release(&c);
}

static void test_numbers(void **state)
{
  (void)state;
  compiled c = compile(PROTO);
  /* every numeric type, nested two deep */
  check_users(&c, "template.proto", "tt.Req",
              "user { id: {user} z64: {user} deep { f32: {user} sf64: {user} "
              "d: {user} f: {user} u32: {user} sf32: {user} f64: {user} } } "
              "big: {user} large_field: {user} b: {user}",
              12);
  /* packed repeated: varint, zigzag and fixed elements */
  check_users(&c, "template.proto", "tt.Req",
              "tags: [1, {user}, 3, {user}] user { zs: [{user}, -3] } fx: "
              "[{user}, 5]",
              4);
  /* an open enum and a map value; a well-known type's field */
  check_users(&c, "template.proto", "tt.Req",
              "color: {user} attrs { key: \"k\" value: {user} } at { seconds: "
              "{user} nanos: 5 }",
              3);
  /* mixed, and nothing to replace at all */
  check_users(&c, "template.proto", "tt.Req",
              "room: \"lobby\" user { name: \"u{user}\" id: {user} } tags: "
              "[1, {user}]",
              3);
  check_users(&c, "template.proto", "tt.Req", "room: \"lobby\" flag: true", 0);
  check_users(&c, "template.proto", "tt.Req", "", 0);
  release(&c);
}

static void test_proto2_group(void **state)
{
  (void)state;
  compiled c = compile(PROTO2);
  check_users(&c, "template2.proto", "tt2.Req",
              "s: \"{user}\" G { gs: \"g{user}\" gi: {user} } unpacked: "
              "[{user}, 2, {user}]",
              5);
  release(&c);
}

static void test_refused(void **state)
{
  (void)state;
  compiled c = compile(PROTO);
  lg_template *t = NULL;
  char err[512];
  /* a literal sentinel in the data: one placeholder, two fields with it */
  err[0] = '\0';
  assert_int_equal(build(&c, "template.proto", "tt.Req",
                         "big: {user} large_field: 1879048192", &t, err,
                         sizeof err),
                   LG_EINVAL);
  assert_non_null(strstr(err, "1 {user} outside strings, but 2"));
  /* {user} where no number goes: protoc says where */
  err[0] = '\0';
  assert_int_equal(build(&c, "template.proto", "tt.Req", "flag: {user}", &t,
                         err, sizeof err),
                   LG_ETOOL);
  assert_non_null(strstr(err, "input:1:"));
  /* a field the message does not have */
  err[0] = '\0';
  assert_int_equal(
      build(&c, "template.proto", "tt.Req", "nope: 1", &t, err, sizeof err),
      LG_ETOOL);
  assert_non_null(strstr(err, "nope"));
  /* a closed (proto2) enum takes no number */
  compiled c2 = compile(PROTO2);
  err[0] = '\0';
  assert_int_equal(build(&c2, "template2.proto", "tt2.Req", "c: {user}", &t,
                         err, sizeof err),
                   LG_ETOOL);
  release(&c2);
  /* a type the set does not have */
  err[0] = '\0';
  assert_int_equal(lg_template_new((const uint8_t *)"", 0, c.d, "tt.Nope", 0,
                                   &t, err, sizeof err),
                   LG_ENOENT);
  /* bytes that are not protobuf */
  uint8_t junk[] = {0x0a, 0x7f, 'x'};
  err[0] = '\0';
  assert_int_equal(
      lg_template_new(junk, sizeof junk, c.d, "tt.Req", 0, &t, err, sizeof err),
      LG_EPROTO);
  assert_non_null(strstr(err, "malformed"));
  release(&c);
}

/* The notifier's built-in request: protobuf-c's bytes, the walk with the
 * built-in descriptors. */
static void test_builtin_notifier(void **state)
{
  (void)state;
  lg_descriptors *d;
  assert_int_equal(lg_desc_load(lg_notifier_desc, lg_notifier_desc_len, &d), 0);
  uint8_t body[64];
  int n = lg_connect_request_encode(body, sizeof body, "user-{user}");
  assert_true(n > 0);
  lg_template *t;
  char err[256];
  assert_int_equal(lg_template_new(body, (size_t)n, d,
                                   "notifier.ConnectRequest", 0, &t, err,
                                   sizeof err),
                   0);
  assert_int_equal(lg_template_slots(t), 1);
  for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
    uint8_t out[64];
    size_t len = lg_template_render(t, users[i], out, sizeof out);
    assert_true(len > 0);
    Notifier__ConnectRequest *r =
        notifier__connect_request__unpack(NULL, len, out);
    assert_non_null(r);
    char want[32];
    snprintf(want, sizeof want, "user-%u", users[i]);
    assert_string_equal(r->user_id, want);
    notifier__connect_request__free_unpacked(r, NULL);
  }
  lg_template_free(t);
  lg_desc_free(d);
}

static void test_protoc_errors(void **state)
{
  (void)state;
  uint8_t *out;
  size_t len;
  char err[512] = "";
  assert_int_equal(lg_protoc_compile("tests/loadgen/proto/none.proto", NULL, 0,
                                     &out, &len, err, sizeof err),
                   LG_ENOENT);
  assert_non_null(strstr(err, "none.proto"));
  /* a syntax error: protoc's message, file and line */
  char path[] = "/tmp/lg-bad-XXXXXX.proto";
  int fd = mkstemps(path, 6);
  assert_true(fd >= 0);
  const char bad[] = "syntax = \"proto3\";\nmessage M { int32 x = ; }\n";
  assert_int_equal(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
  close(fd);
  err[0] = '\0';
  assert_int_equal(
      lg_protoc_compile(path, NULL, 0, &out, &len, err, sizeof err), LG_ETOOL);
  assert_non_null(strstr(err, ":2:"));
  unlink(path);
  /* no protoc at all: what to install */
  setenv("PROTOC", "/nonexistent/protoc", 1);
  err[0] = '\0';
  assert_int_equal(
      lg_protoc_compile(PROTO, NULL, 0, &out, &len, err, sizeof err),
      LG_ENOENT);
  assert_non_null(strstr(err, "protobuf-compiler"));
  unsetenv("PROTOC");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_rewrite),
      cmocka_unit_test(test_strings_and_nesting),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_proto2_group),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_builtin_notifier),
      cmocka_unit_test(test_protoc_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
