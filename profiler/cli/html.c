/*
 * Escaping for the report's HTML, SVG and Markdown, and the atomic file
 * writer. Every string that comes from a profile or a JSON file (function
 * names can hold '<' and '&', thread names anything at all) goes through
 * one of the escapers below, which also make the text valid UTF-8: a
 * malformed byte becomes U+FFFD, a control character U+FFFD too (tab and
 * newline excepted where the context allows them).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "npc.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when malformed
 * (overlong forms, surrogates and code points past U+10FFFF included). */
size_t cli_utf8_len(const unsigned char *s)
{
  unsigned char c = s[0];

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
                   (s[3] & 0xc0) == 0x80
               ? 4
               : 0;
  }
  return 0;
}

/* Writes the character at *p as it is when it is valid UTF-8 and not a
 * control character, else U+FFFD for its first byte; a newline and a tab
 * are kept, or become a space when `one_line` (a table cell is one line).
 * Moves *p past what it wrote. What the escapers below leave as text. */
static void put_char(FILE *out, const unsigned char **p, bool one_line)
{
  if (**p == '\n' || **p == '\t') {
    fputc(one_line ? ' ' : **p, out);
    (*p)++;
    return;
  }
  size_t n = **p < 0x20 || **p == 0x7f ? 0 : cli_utf8_len(*p);
  if (n == 0) {
    fputs(REPLACEMENT, out);
    n = 1;
  } else {
    fwrite(*p, 1, n, out);
  }
  *p += n;
}

void cli_html_escape(FILE *out, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;

  assert(out != NULL);
  if (s == NULL)
    return;
  while (*p != '\0') {
    switch (*p) {
    case '&':
      fputs("&amp;", out);
      p++;
      continue;
    case '<':
      fputs("&lt;", out);
      p++;
      continue;
    case '>':
      fputs("&gt;", out);
      p++;
      continue;
    case '"':
      fputs("&quot;", out);
      p++;
      continue;
    case '\'':
      fputs("&#39;", out);
      p++;
      continue;
    default:
      put_char(out, &p, false);
    }
  }
}

void cli_md_escape(FILE *out, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;

  assert(out != NULL);
  if (s == NULL)
    return;
  while (*p != '\0') {
    /* Markdown punctuation is backslash-escaped so names read literally;
     * the HTML-significant three become entities, since Markdown passes
     * raw HTML through to whoever renders it. A table cell is one line. */
    if (strchr("\\`*_[]|#!~", *p) != NULL) {
      fputc('\\', out);
      fputc(*p++, out);
      continue;
    }
    if (*p == '&' || *p == '<' || *p == '>') {
      fputs(*p == '&' ? "&amp;" : *p == '<' ? "&lt;" : "&gt;", out);
      p++;
      continue;
    }
    put_char(out, &p, true);
  }
}

void cli_md_code(FILE *out, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t run = 0, longest = 0;

  assert(out != NULL);
  if (s == NULL)
    return;
  /* A code span fenced by more backticks than any run inside it. */
  for (const unsigned char *q = p; *q != '\0'; q++) {
    run = *q == '`' ? run + 1 : 0;
    if (run > longest)
      longest = run;
  }
  for (size_t i = 0; i <= longest; i++)
    fputc('`', out);
  fputc(' ', out);
  while (*p != '\0') {
    if (*p == '|') { /* would end a table cell even inside code */
      fputs("\\|", out);
      p++;
      continue;
    }
    put_char(out, &p, true);
  }
  fputc(' ', out);
  for (size_t i = 0; i <= longest; i++)
    fputc('`', out);
}

void cli_shell_quote(FILE *out, const char *s)
{
  assert(out != NULL && s != NULL);
  if (s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
                                "TUVWXYZ0123456789_-./:=@%+,") == strlen(s)) {
    fputs(s, out);
    return;
  }
  fputc('\'', out);
  for (; *s != '\0'; s++) {
    if (*s == '\'')
      fputs("'\\''", out);
    else
      fputc(*s, out);
  }
  fputc('\'', out);
}

int cli_write_atomic(const char *path, const void *data, size_t len, char *err,
                     size_t errlen)
{
  int rc = npc_write_atomic(path, data, len);
  if (rc == 0)
    return 0;
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
  return rc == -ENOMEM ? CLI_ENOMEM : CLI_EIO;
}
