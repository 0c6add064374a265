/*
 * One writer for the two formats of a document (report.md and report.html,
 * compare.md and compare.html): every call writes both, each string escaped
 * for its own format, so the two never say different things. The HTML is
 * self-contained (inline style, no script, no external resource); charts
 * are written into d->html directly between these calls.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char css[] =
    "body{font-family:sans-serif;margin:2em auto;max-width:1260px;"
    "padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}"
    "th{background:#f3f3f3}td.r,th.r{text-align:right}"
    "code,pre{font-family:monospace;font-size:90%}"
    "pre{background:#f6f6f6;padding:6px 10px;overflow-x:auto}"
    ".headline{font-size:120%;font-weight:bold}"
    ".fail{color:#b00;font-weight:bold}.ok{color:#070}"
    ".note{color:#555}"
    ".scroll{overflow-x:auto}"
    ".flame text{pointer-events:none}"
    ".flame g:hover rect{stroke:#000;stroke-width:.5}";

int cli_doc_open(struct cli_doc *d, const char *title)
{
  assert(d != NULL && title != NULL);
  memset(d, 0, sizeof(*d));
  if ((d->md = open_memstream(&d->mdbuf, &d->mdlen)) == NULL)
    return CLI_ENOMEM;
  if ((d->html = open_memstream(&d->htmlbuf, &d->htmllen)) == NULL) {
    fclose(d->md);
    free(d->mdbuf);
    memset(d, 0, sizeof(*d));
    return CLI_ENOMEM;
  }
  fputs("# ", d->md);
  cli_md_escape(d->md, title);
  fputs("\n\n", d->md);
  fputs(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>",
      d->html);
  cli_html_escape(d->html, title);
  fprintf(d->html, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", css);
  cli_html_escape(d->html, title);
  fputs("</h1>\n", d->html);
  return 0;
}

int cli_doc_close(struct cli_doc *d)
{
  assert(d != NULL && d->md != NULL && d->html != NULL);
  fputs("</body>\n</html>\n", d->html);
  /* open_memstream reports a failed allocation as a stream error. */
  bool bad = ferror(d->md) || ferror(d->html);
  bad |= fclose(d->md) != 0;
  bad |= fclose(d->html) != 0;
  d->md = d->html = NULL;
  return bad ? CLI_ENOMEM : 0;
}

void cli_doc_free(struct cli_doc *d)
{
  if (d == NULL)
    return;
  if (d->md != NULL)
    fclose(d->md);
  if (d->html != NULL)
    fclose(d->html);
  free(d->mdbuf);
  free(d->htmlbuf);
  memset(d, 0, sizeof(*d));
}

int cli_doc_write(const struct cli_doc *d, const char *dir, const char *md_name,
                  const char *html_name, char *err, size_t errlen)
{
  char *mdp = NULL, *htmlp = NULL;
  int rc = CLI_ENOMEM;

  if (asprintf(&mdp, "%s/%s", dir, md_name) < 0)
    mdp = NULL;
  if (asprintf(&htmlp, "%s/%s", dir, html_name) < 0)
    htmlp = NULL;
  if (mdp == NULL || htmlp == NULL) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  if ((rc = cli_write_atomic(mdp, d->mdbuf, d->mdlen, err, errlen)) != 0 ||
      (rc = cli_write_atomic(htmlp, d->htmlbuf, d->htmllen, err, errlen)) != 0)
    goto out;
  /* "report: DIR/report.md", "compare: DIR/compare.md" */
  int stem = (int)strcspn(md_name, ".");
  printf("%.*s: %s\n%.*s: %s\n", stem, md_name, mdp, stem, md_name, htmlp);
out:
  free(mdp);
  free(htmlp);
  return rc;
}

/* "## title" and <h2 id="id">title</h2>, for level 2 (id NULL: none). */
static void heading(struct cli_doc *d, int level, const char *id,
                    const char *title)
{
  fprintf(d->md, "\n%.*s ", level, "######");
  cli_md_escape(d->md, title);
  fputs("\n\n", d->md);
  if (id != NULL)
    fprintf(d->html, "<h%d id=\"%s\">", level, id);
  else
    fprintf(d->html, "<h%d>", level);
  cli_html_escape(d->html, title);
  fprintf(d->html, "</h%d>\n", level);
}

void cli_doc_h2(struct cli_doc *d, const char *id, const char *title)
{
  heading(d, 2, id, title);
}

void cli_doc_h3(struct cli_doc *d, const char *title)
{
  heading(d, 3, NULL, title);
}

/* The HTML start tag <tag> or <tag class="cls">; `cls` is the caller's
 * literal, never outside input. */
static void open_tag(struct cli_doc *d, const char *tag, const char *cls)
{
  if (cls != NULL)
    fprintf(d->html, "<%s class=\"%s\">", tag, cls);
  else
    fprintf(d->html, "<%s>", tag);
}

/* A paragraph: the printf-style text in the Markdown, bold when `cls` is
 * "headline", and in the HTML (with class `cls` when not NULL) unless
 * md_only. Out of memory, the paragraph is left out. */
static void paragraph(struct cli_doc *d, const char *cls, bool md_only,
                      const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void paragraph(struct cli_doc *d, const char *cls, bool md_only,
                      const char *fmt, va_list ap)
{
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    return;
  bool bold = cls != NULL && strcmp(cls, "headline") == 0;
  fputs(bold ? "**" : "", d->md);
  cli_md_escape(d->md, s);
  fputs(bold ? "**\n\n" : "\n\n", d->md);
  if (!md_only) {
    open_tag(d, "p", cls);
    cli_html_escape(d->html, s);
    fputs("</p>\n", d->html);
  }
  free(s);
}

void cli_doc_para(struct cli_doc *d, const char *cls, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  paragraph(d, cls, false, fmt, ap);
  va_end(ap);
}

void cli_doc_md_note(struct cli_doc *d, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  paragraph(d, NULL, true, fmt, ap);
  va_end(ap);
}

void cli_doc_list_begin(struct cli_doc *d)
{
  fputs("<ul>\n", d->html);
}

void cli_doc_list_item(struct cli_doc *d, const char *cls, const char *s)
{
  fputs("- ", d->md);
  cli_md_escape(d->md, s);
  fputc('\n', d->md);
  open_tag(d, "li", cls);
  cli_html_escape(d->html, s);
  fputs("</li>\n", d->html);
}

void cli_doc_list_end(struct cli_doc *d)
{
  fputc('\n', d->md);
  fputs("</ul>\n", d->html);
}

void cli_doc_table_head(struct cli_doc *d, size_t n, const char *const *heads,
                        const char *align)
{
  fputs("|", d->md);
  for (size_t i = 0; i < n; i++) {
    fputc(' ', d->md);
    cli_md_escape(d->md, heads[i]);
    fputs(" |", d->md);
  }
  fputs("\n|", d->md);
  for (size_t i = 0; i < n; i++)
    fputs(align[i] == 'r' ? " ---: |" : " --- |", d->md);
  fputc('\n', d->md);
  fputs("<table>\n<thead><tr>", d->html);
  for (size_t i = 0; i < n; i++) {
    fprintf(d->html, "<th class=\"%c\">", align[i]);
    cli_html_escape(d->html, heads[i]);
    fputs("</th>", d->html);
  }
  fputs("</tr></thead>\n<tbody>\n", d->html);
}

void cli_doc_table_row(struct cli_doc *d, size_t n, const char *const *cells,
                       const char *align, unsigned code)
{
  fputs("|", d->md);
  fputs("<tr>", d->html);
  for (size_t i = 0; i < n; i++) {
    bool c = (code >> i) & 1;
    fputc(' ', d->md);
    if (c)
      cli_md_code(d->md, cells[i]);
    else
      cli_md_escape(d->md, cells[i]);
    fputs(" |", d->md);
    fprintf(d->html, "<td class=\"%c\">%s", align[i], c ? "<code>" : "");
    cli_html_escape(d->html, cells[i]);
    fprintf(d->html, "%s</td>", c ? "</code>" : "");
  }
  fputc('\n', d->md);
  fputs("</tr>\n", d->html);
}

void cli_doc_table_end(struct cli_doc *d)
{
  fputc('\n', d->md);
  fputs("</tbody>\n</table>\n", d->html);
}

void cli_doc_command(struct cli_doc *d, const char *cmd)
{
  /* An indented block: Markdown shows it verbatim. */
  fprintf(d->md, "    %s\n", cmd);
  fputs("<pre><code>", d->html);
  cli_html_escape(d->html, cmd);
  fputs("</code></pre>\n", d->html);
}
