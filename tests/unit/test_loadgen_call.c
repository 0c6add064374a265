/* The method and request a run settles on (loadgen/call.c), from the
 * flags as the loadgen parses them: the notifier's built-in call, any
 * method through protoc, and everything about a method that must be
 * refused before the run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loadgen_flags.h"
#include "notifier.pb-c.h"

#define PROTO "tests/loadgen/proto/template.proto"

/* Parses args and prepares the call; returns prepare's code (parse must
 * succeed), err filled. */
static int prepare(lg_options *o, char *err, const char **args)
{
  err[0] = '\0';
  if (loadgen_parse_flags(o, args, err, 512) != 0)
    fail_msg("parse: %s", err);
  return lg_call_prepare(o, err, 512);
}

static void test_notifier_default(void **state)
{
  (void)state;
  lg_options o;
  char err[512];
  const char *args[] = {"--streams", "20", "--user-prefix", "u-", NULL};
  assert_int_equal(prepare(&o, err, args), 0);
  const lg_call_spec *s = o.spec;
  assert_string_equal(s->path, "/notifier.Notifier/Connect");
  assert_false(s->unary);
  assert_true(s->notifier);
  assert_int_equal(s->latency_field, LG_NOTIFIER_LATENCY_FIELD);
  assert_int_equal(s->tag_field, LG_NOTIFIER_PAYLOAD_FIELD);
  uint8_t out[64];
  size_t n = lg_template_render(s->tmpl, 19, out, sizeof out);
  Notifier__ConnectRequest *r = notifier__connect_request__unpack(NULL, n, out);
  assert_non_null(r);
  assert_string_equal(r->user_id, "u-19");
  notifier__connect_request__free_unpacked(r, NULL);
  /* the largest request, prefix included: user 19's */
  assert_int_equal(s->body_max, 5 + n);
  lg_options_free(&o);
}

static void test_any_method(void **state)
{
  (void)state;
  lg_options o;
  char err[512];
  const char *unary[] = {"--call",    "tt.Kinds/Unary",
                         "--proto",   PROTO,
                         "--data",    "room: \"r{user}\" big: {user}",
                         "--rps",     "50",
                         "--hold",    "3s",
                         "--streams", "5",
                         NULL};
  assert_int_equal(prepare(&o, err, unary), 0);
  assert_true(lg_options_unary(&o));
  assert_false(o.spec->notifier);
  assert_int_equal(o.spec->latency_field, 0);
  assert_int_equal(lg_template_slots(o.spec->tmpl), 2);
  /* --duration defaults to --hold for a unary method */
  assert_int_equal(o.duration_ns, 3000000000ull);
  lg_options_free(&o);

  const char *stream[] = {"--call", "tt.Kinds/ServerStream", "--proto",
                          PROTO,    "--latency-field",       "5",
                          NULL};
  assert_int_equal(prepare(&o, err, stream), 0);
  assert_false(lg_options_unary(&o));
  assert_int_equal(o.spec->latency_field, 5);
  assert_int_equal(lg_template_slots(o.spec->tmpl), 0); /* no --data */
  lg_options_free(&o);

  /* sfixed64 will do for a time; --protoset instead of --proto */
  uint8_t *set;
  size_t len;
  assert_int_equal(lg_protoc_compile(PROTO, NULL, 0, &set, &len, err, 512), 0);
  char path[] = "/tmp/lg-set-XXXXXX";
  int fd = mkstemp(path);
  assert_int_equal(write(fd, set, len), (ssize_t)len);
  close(fd);
  free(set);
  const char *protoset[] = {"--call", "tt.Kinds/ServerStream",     "--protoset",
                            path,     "--latency-field",           "8",
                            "--data", "user { name: \"{user}\" }", NULL};
  assert_int_equal(prepare(&o, err, protoset), 0);
  assert_int_equal(lg_template_slots(o.spec->tmpl), 1);
  lg_options_free(&o);
  unlink(path);
}

static void test_refused(void **state)
{
  (void)state;
  lg_options o;
  char err[512];
  struct {
    const char *args[12];
    const char *says;
  } cases[] = {
      {{"--call", "tt.Kinds/ClientStream", "--proto", PROTO},
       "streams requests from the client"},
      {{"--call", "tt.Kinds/Bidi", "--proto", PROTO},
       "streams requests from the client"},
      {{"--call", "tt.Kinds/Unary", "--proto", PROTO}, "give --rps"},
      {{"--call", "tt.Kinds/ServerStream", "--proto", PROTO, "--rps", "5"},
       "--rps and --duration are for unary methods"},
      {{"--call", "tt.Kinds/ServerStream", "--proto", PROTO, "--publish", "1"},
       "--publish sends the notifier's broadcasts"},
      {{"--publish", "1", "--tls"}, "in plaintext"},
      {{"--call", "tt.Kinds/ServerStream", "--proto", PROTO, "--latency-field",
        "1"},
       "has no int64"},
      {{"--call", "tt.Kinds/ServerStream", "--proto", PROTO, "--latency-field",
        "7"},
       "has no int64"}, /* sint64: zigzag, not a raw time */
      {{"--call", "tt.Kinds/ServerStream", "--proto", PROTO, "--data",
        "bogus: 1"},
       "--data as tt.Req: input:1:"},
      {{"--call", "tt.Kinds/Nope", "--proto", PROTO}, "has no method Nope"},
      {{"--call", "tt.Kinds/Unary", "--protoset", PROTO}, "not a descriptor"},
      {{"--call", "tt.Kinds/Unary", "--proto", PROTO, "--rps", "1",
        "--data-file", "/nonexistent"},
       "--data-file /nonexistent"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = prepare(&o, err, cases[i].args);
    if (rc == 0 || strstr(err, cases[i].says) == NULL)
      fail_msg("case %zu: rc %d, '%s', want '%s'", i, rc, err, cases[i].says);
    assert_null(o.spec);
    lg_options_free(&o);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_notifier_default),
      cmocka_unit_test(test_any_method),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
