/* One request to libnprof's endpoints without the HTTP layer
 * (nprof__endpoint_profile), for the unit tests of the profiles it serves:
 * the response to /debug/pprof/NAME?debug=D&seconds=S (NULL: absent), and
 * a Go error checked word for word. Include it after <cmocka.h>. */
#ifndef NPROF_TESTS_ENDPOINT_HELPER_H
#define NPROF_TESTS_ENDPOINT_HELPER_H

#include <string.h>

#include "internal.h"

/* Fills *res (a response points into itself: fill the caller's, never
 * return one by value). The body (caller frees: nprof__buf_free(&res->body))
 * is capped as the server caps it. */
static inline void serve(nprof__response *res, const char *name,
                         const char *debug, const char *seconds)
{
  nprof__request req = {.name = name, .debug = debug, .seconds = seconds};
  *res = (nprof__response){.status = 0};
  nprof__buf_init(&res->body, 1 << 26);
  nprof__endpoint_profile(&req, res);
}

/* Serves the request into *res and expects a 200 whose body starts with
 * `prefix`; the caller frees the body. */
static inline void serve_expect_start(nprof__response *res, const char *name,
                                      const char *debug, const char *seconds,
                                      const char *prefix)
{
  serve(res, name, debug, seconds);
  assert_int_equal(res->status, 200);
  if (strncmp(res->body.data, prefix, strlen(prefix)) != 0)
    fail_msg("/debug/pprof/%s: the body starts \"%.60s\", want \"%s\"", name,
             res->body.data, prefix);
}

/* The request is answered as Go's net/http/pprof answers it: `status`,
 * plain text, exactly `text`. */
static inline void expect_go_error(const char *name, const char *debug,
                                   const char *seconds, int status,
                                   const char *text)
{
  nprof__response res;
  serve(&res, name, debug, seconds);
  assert_int_equal(res.status, status);
  assert_true(res.go_error);
  assert_string_equal(res.content_type, "text/plain; charset=utf-8");
  assert_string_equal(res.body.data, text);
  nprof__buf_free(&res.body);
}

#endif
