/*
 * A small JSON reader for what `nprof report` reads: /debug/vars snapshots,
 * the loadgen's result and the make target's run parameters. A strict
 * RFC 8259 recursive-descent parser into a tree; nesting is capped (the
 * recursion is bounded by CLI_JSON_MAX_DEPTH) and so is the input size
 * (cli_json_load). Strings are decoded to UTF-8, \u escapes included
 * (lone surrogates become U+FFFD).
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "npc.h"

#define CLI_JSON_MAX_DEPTH 64

struct parser {
  const char *p, *end, *start;
  int depth;
  char *err;
  size_t errlen;
  int result;
};

static void fail(struct parser *ps, const char *what)
{
  if (ps->result == 0) {
    ps->result = CLI_EINVALID;
    if (ps->err != NULL && ps->errlen > 0)
      snprintf(ps->err, ps->errlen, "invalid JSON at byte %zu: %s",
               (size_t)(ps->p - ps->start), what);
  }
}

static void oom(struct parser *ps)
{
  if (ps->result == 0) {
    ps->result = CLI_ENOMEM;
    if (ps->err != NULL && ps->errlen > 0)
      snprintf(ps->err, ps->errlen, "out of memory");
  }
}

static void skip_ws(struct parser *ps)
{
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

void cli_json_free(struct cli_json *j)
{
  while (j != NULL) {
    struct cli_json *next = j->next;
    cli_json_free(j->child);
    free(j->key);
    free(j->string);
    free(j);
    j = next;
  }
}

static int hex4(const char *p, const char *end, unsigned *out)
{
  unsigned v = 0;

  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Parses a string at ps->p (the opening quote); returns it malloc'd. The
 * decoded form is never longer than the escaped one (\uXXXX is 6 bytes
 * for at most 3, a surrogate pair 12 for 4), so one allocation of the raw
 * length suffices. */
static char *parse_string(struct parser *ps, size_t *lenp)
{
  assert(*ps->p == '"');
  ps->p++;
  const char *q = ps->p;
  for (; q < ps->end && *q != '"'; q++) {
    if (*q == '\\')
      q++;
  }
  if (q >= ps->end) {
    fail(ps, "unterminated string");
    return NULL;
  }
  char *s = malloc((size_t)(q - ps->p) + 1);
  if (s == NULL) {
    oom(ps);
    return NULL;
  }
  char *o = s;
  while (*ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20) {
      fail(ps, "control character in string");
      free(s);
      return NULL;
    }
    if (c != '\\') {
      *o++ = (char)c;
      ps->p++;
      continue;
    }
    ps->p++;
    switch (*ps->p) {
    case '"':
    case '\\':
    case '/':
      *o++ = *ps->p;
      break;
    case 'b':
      *o++ = '\b';
      break;
    case 'f':
      *o++ = '\f';
      break;
    case 'n':
      *o++ = '\n';
      break;
    case 'r':
      *o++ = '\r';
      break;
    case 't':
      *o++ = '\t';
      break;
    case 'u': {
      unsigned cp, lo;
      if (hex4(ps->p + 1, ps->end, &cp) != 0) {
        fail(ps, "bad \\u escape");
        free(s);
        return NULL;
      }
      ps->p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff && ps->end - ps->p > 6 &&
          ps->p[1] == '\\' && ps->p[2] == 'u' &&
          hex4(ps->p + 3, ps->end, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        ps->p += 6;
      } else if (cp >= 0xd800 && cp <= 0xdfff) {
        cp = 0xfffd;
      }
      o += put_utf8(o, cp);
      break;
    }
    default:
      fail(ps, "bad escape");
      free(s);
      return NULL;
    }
    ps->p++;
  }
  ps->p++; /* closing quote */
  *o = '\0';
  if (lenp != NULL)
    *lenp = (size_t)(o - s);
  return s;
}

static bool literal(struct parser *ps, const char *word)
{
  size_t n = strlen(word);

  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return false;
  ps->p += n;
  return true;
}

static struct cli_json *parse_value(struct parser *ps);

static struct cli_json *new_node(struct parser *ps, enum cli_json_type type)
{
  struct cli_json *j = calloc(1, sizeof(*j));

  if (j == NULL)
    oom(ps);
  else
    j->type = type;
  return j;
}

/* Arrays and objects: members are appended through `tail`. */
static struct cli_json *parse_container(struct parser *ps, bool object)
{
  char close = object ? '}' : ']';

  if (++ps->depth > CLI_JSON_MAX_DEPTH) {
    fail(ps, "nested too deep");
    return NULL;
  }
  struct cli_json *j = new_node(ps, object ? CLI_JSON_OBJECT : CLI_JSON_ARRAY);
  if (j == NULL)
    return NULL;
  struct cli_json **tail = &j->child;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    ps->depth--;
    return j;
  }
  for (;;) {
    char *key = NULL;
    skip_ws(ps);
    if (object) {
      if (ps->p >= ps->end || *ps->p != '"') {
        fail(ps, "expected a member name");
        goto bad;
      }
      if ((key = parse_string(ps, NULL)) == NULL)
        goto bad;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free(key);
        fail(ps, "expected ':'");
        goto bad;
      }
      ps->p++;
    }
    struct cli_json *v = parse_value(ps);
    if (v == NULL) {
      free(key);
      goto bad;
    }
    v->key = key;
    *tail = v;
    tail = &v->next;
    j->count++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      break;
    }
    fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    goto bad;
  }
  ps->depth--;
  return j;
bad:
  cli_json_free(j);
  return NULL;
}

static bool is_digit(const struct parser *ps, const char *q)
{
  return q < ps->end && *q >= '0' && *q <= '9';
}

/* Past the run of digits at q, of which JSON wants at least one; NULL
 * (and ps failed with `what`) when there is none. */
static const char *digits(struct parser *ps, const char *q, const char *what)
{
  if (!is_digit(ps, q)) {
    fail(ps, what);
    return NULL;
  }
  while (is_digit(ps, q))
    q++;
  return q;
}

static struct cli_json *parse_number(struct parser *ps)
{
  const char *q = ps->p;

  if (q < ps->end && *q == '-')
    q++;
  /* An integer part of 0 alone, or digits not starting with 0. */
  if (is_digit(ps, q) && *q == '0')
    q++;
  else if ((q = digits(ps, q, "unexpected character")) == NULL)
    return NULL;
  if (q < ps->end && *q == '.' && (q = digits(ps, q + 1, "bad number")) == NULL)
    return NULL;
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < ps->end && (*q == '+' || *q == '-'))
      q++;
    if ((q = digits(ps, q, "bad number")) == NULL)
      return NULL;
  }
  char buf[64], *end;
  size_t n = (size_t)(q - ps->p);
  if (n >= sizeof(buf)) {
    fail(ps, "number too long");
    return NULL;
  }
  memcpy(buf, ps->p, n);
  buf[n] = '\0';
  struct cli_json *j = new_node(ps, CLI_JSON_NUMBER);
  if (j == NULL)
    return NULL;
  j->number = strtod(buf, &end);
  ps->p = q;
  return j;
}

static struct cli_json *parse_value(struct parser *ps)
{
  struct cli_json *j;

  skip_ws(ps);
  if (ps->p >= ps->end) {
    fail(ps, "unexpected end");
    return NULL;
  }
  switch (*ps->p) {
  case '{':
    return parse_container(ps, true);
  case '[':
    return parse_container(ps, false);
  case '"': {
    char *s;
    size_t len = 0;
    if ((s = parse_string(ps, &len)) == NULL)
      return NULL;
    if ((j = new_node(ps, CLI_JSON_STRING)) == NULL) {
      free(s);
      return NULL;
    }
    j->string = s;
    j->len = len;
    return j;
  }
  case 't':
  case 'f':
  case 'n':
    if (literal(ps, "true")) {
      if ((j = new_node(ps, CLI_JSON_BOOL)) != NULL)
        j->boolean = true;
      return j;
    }
    if (literal(ps, "false"))
      return new_node(ps, CLI_JSON_BOOL);
    if (literal(ps, "null"))
      return new_node(ps, CLI_JSON_NULL);
    fail(ps, "unexpected word");
    return NULL;
  default:
    return parse_number(ps);
  }
}

int cli_json_parse(const char *text, size_t len, struct cli_json **out,
                   char *err, size_t errlen)
{
  struct parser ps = {.p = text,
                      .end = text + len,
                      .start = text,
                      .err = err,
                      .errlen = errlen};

  assert(text != NULL || len == 0);
  assert(out != NULL);
  /* A UTF-8 byte order mark is tolerated, nothing else before the value. */
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
    ps.p += 3;
  struct cli_json *j = parse_value(&ps);
  if (j != NULL) {
    skip_ws(&ps);
    if (ps.p != ps.end) {
      fail(&ps, "trailing characters");
      cli_json_free(j);
      j = NULL;
    }
  }
  if (j == NULL)
    return ps.result != 0 ? ps.result : CLI_EINVALID;
  *out = j;
  return 0;
}

int cli_json_load(const char *path, size_t cap, struct cli_json **out,
                  char *err, size_t errlen)
{
  assert(path != NULL && out != NULL);
  char *buf = NULL;
  size_t len = 0;
  int rc = cli_read_file(path, cap, &buf, &len, err, errlen);
  if (rc != 0)
    return rc;
  char msg[CLI_ERRLEN];
  rc = cli_json_parse(buf, len, out, msg, sizeof(msg));
  if (rc != 0 && err != NULL && errlen > 0)
    snprintf(err, errlen, "%s: %s", path, msg);
  free(buf);
  return rc;
}

const struct cli_json *cli_json_get(const struct cli_json *obj, const char *key)
{
  if (obj == NULL || obj->type != CLI_JSON_OBJECT)
    return NULL;
  /* The last of duplicate members wins, as in most readers. */
  const struct cli_json *found = NULL;
  for (const struct cli_json *c = obj->child; c != NULL; c = c->next) {
    if (strcmp(c->key, key) == 0)
      found = c;
  }
  return found;
}

bool cli_json_number(const struct cli_json *obj, const char *key, double *out)
{
  const struct cli_json *j = cli_json_get(obj, key);

  if (j == NULL || j->type != CLI_JSON_NUMBER || !isfinite(j->number))
    return false;
  *out = j->number;
  return true;
}

double cli_json_num(const struct cli_json *obj, const char *key)
{
  double v = NAN;
  cli_json_number(obj, key, &v);
  return v;
}

const char *cli_json_string(const struct cli_json *obj, const char *key)
{
  const struct cli_json *j = cli_json_get(obj, key);

  return j != NULL && j->type == CLI_JSON_STRING ? j->string : NULL;
}

int cli_read_file(const char *path, size_t cap, char **out, size_t *lenp,
                  char *err, size_t errlen)
{
  assert(path != NULL && out != NULL && lenp != NULL);
  /* "-" is standard input; /dev/stdin reads pipes and files alike. */
  int rc = npc_read_file(strcmp(path, "-") == 0 ? "/dev/stdin" : path, cap, out,
                         lenp);
  if (rc == 0)
    return 0;
  if (err != NULL && errlen > 0) {
    if (rc == -EFBIG && cap >= ((size_t)1 << 20))
      snprintf(err, errlen, "%s: file exceeds the %zu MiB limit", path,
               cap >> 20);
    else if (rc == -EFBIG)
      snprintf(err, errlen, "%s: larger than %zu bytes", path, cap);
    else
      snprintf(err, errlen, "%s: %s", path, strerror(-rc));
  }
  return rc == -EFBIG ? CLI_ETOOBIG : rc == -ENOMEM ? CLI_ENOMEM : CLI_EIO;
}
