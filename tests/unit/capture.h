/* What a writer puts on a FILE *, captured in memory as one string: for
 * the tests of functions that write JSON, reports, SVG or escaped text to
 * a stream. Include after <cmocka.h>. */
#ifndef TESTS_UNIT_CAPTURE_H
#define TESTS_UNIT_CAPTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct capture {
  FILE *f;
  char *text;
  size_t len;
};

/* Returns a stream writing into c; fails the test if there is none. */
static inline FILE *capture_open(struct capture *c)
{
  c->text = NULL;
  c->len = 0;
  c->f = open_memstream(&c->text, &c->len);
  if (c->f == NULL)
    fail_msg("open_memstream: %s", strerror(errno));
  return c->f;
}

/* Closes the stream; returns what was written, NUL-terminated (c->len
 * bytes), which the caller frees. */
static inline char *capture_close(struct capture *c)
{
  if (fclose(c->f) != 0)
    fail_msg("closing the capture: %s", strerror(errno));
  c->f = NULL;
  return c->text;
}

/* Fails with both texts when got is not want; frees got. */
static inline void capture_expect(char *got, const char *want)
{
  if (strcmp(got, want) != 0)
    fail_msg("got:\n%s\nwant:\n%s", got, want);
  free(got);
}

#endif
