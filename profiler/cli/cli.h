/*
 * Internals of the nprof command-line tool, shared by its verbs.
 *
 * Modules:
 *  - decode.c  reads a pprof profile (gzip or plain protobuf), validates every
 *              cross-reference and builds a resolved, easy-to-walk view
 *              (struct cli_profile). Later verbs (diff, report) build on it.
 *  - units.c   formats values and percentages the way pprof does.
 *  - top.c     `nprof top`: the flat/cum table of `go tool pprof -top`.
 *  - fetch.c   `nprof fetch`: libcurl download, written atomically.
 *  - diff.c    `nprof diff`: NEW minus BASE, as pprof -diff_base -top.
 *  - json.c    a small bounded JSON reader (snapshot vars, loadgen result).
 *  - flame.c   flame graph layout and its SVG.
 *  - html.c    HTML/Markdown escaping and the atomic file writer.
 *  - report.c  `nprof report`: a snapshot run directory as report.md and
 *              a self-contained report.html.
 *  - main.c    verb dispatch and usage.
 *
 * Functions return 0 (or a count) on success and a negative CLI_E* code on
 * failure; cli_strerror() turns a code into words. Functions that can fail
 * for a reason worth more than the code (which index is dangling, what zlib
 * said) also write a one-line message into a caller's buffer.
 */
#ifndef NPROF_CLI_H
#define NPROF_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile.pb-c.h"

/* Error codes. Keep cli_strerror() in step. */
typedef enum cli_error {
  CLI_ENOMEM = -1,    /* out of memory */
  CLI_EIO = -2,       /* reading or writing a file failed */
  CLI_EEMPTY = -3,    /* the input is empty */
  CLI_ETOOBIG = -4,   /* input or decompressed size over the cap */
  CLI_EGZIP = -5,     /* corrupt or truncated gzip stream */
  CLI_EPROTO = -6,    /* not a protobuf-encoded Profile message */
  CLI_EINVALID = -7,  /* decoded, but a field or reference is inconsistent */
  CLI_ENOTFOUND = -8, /* no such sample type */
  CLI_EUSAGE = -9,    /* bad command-line arguments */
  CLI_EHTTP = -10,    /* the server answered with a non-2xx status */
  CLI_ENET = -11      /* the transfer failed (connect, timeout, TLS...) */
} cli_error;

/* Returns a static description of `err` (a CLI_E* code). */
const char *cli_strerror(int err);

/* Process exit codes of every verb. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* Size of the message buffers the functions below fill. */
#define CLI_ERRLEN 256

/* Hard cap on the decompressed (or plain) protobuf size: a 4 KiB gzip bomb
 * inflates to 4 MiB, a 256 KiB one to 256 MiB; past this a profile is either
 * hostile or not worth reading in one piece (curl's dynbuf habit). */
#define CLI_PROFILE_MAX_DECODED ((size_t)256 << 20)

/* ---- decode.c: the resolved profile view ---- */

/* A sample type or the period type; never NULL strings ("" when unset). */
struct cli_value_type {
  const char *type; /* "inuse_space", "goroutine", ... */
  const char *unit; /* "bytes", "count", "nanoseconds", ... */
};

/* One frame of a stack. A Location with inlined calls expands to several
 * frames, innermost first; a Location without line info gives one frame
 * with function "" (only `address` and `mapping` say where it was). */
struct cli_frame {
  const char *function;    /* Function.name, "" if unknown */
  const char *system_name; /* Function.system_name, "" if unknown */
  const char *file;        /* Function.filename, "" if unknown */
  int64_t line;            /* Line.line, 0 if unknown */
  uint64_t address;        /* Location.address (same for inlined frames) */
  const char *mapping;     /* Mapping.filename, "" without a mapping */
  uint64_t location_id;
  /* 1 when this frame was inlined into the next frame of the same Location
   * (pprof's "(inline)" marker), 0 for the Location's outermost frame. */
  int inlined;
};

struct cli_label {
  const char *key;
  const char *str; /* "" for numeric labels */
  int64_t num;
  const char *num_unit; /* "" when unset */
};

struct cli_sample {
  /* One value per sample type: values[i] is for sample_types[i]. */
  const int64_t *values;
  /* Leaf first: frames[0] is where the sample was taken. Pointers into the
   * profile's frame table, shared between samples. */
  const struct cli_frame *const *frames;
  size_t nframes;
  const struct cli_label *labels;
  size_t nlabels;
};

/* A decoded, validated profile. Every pointer and string is owned by the
 * profile and valid until cli_profile_free(). Indices were checked at
 * decode time, so walking it never needs bounds checks beyond the counts. */
struct cli_profile {
  const struct cli_value_type *sample_types;
  size_t nsample_types;
  const struct cli_sample *samples;
  size_t nsamples;
  struct cli_value_type period_type;
  int64_t period;
  int64_t time_nanos;     /* 0 when unset */
  int64_t duration_nanos; /* 0 when unset */
  /* Index into sample_types named by default_sample_type, or -1 when the
   * profile names none (or names a type it does not have). */
  int default_sample_type;
  const char *const *comments;
  size_t ncomments;
  /* The unpacked message, for fields the view does not carry (mappings,
   * drop_frames...). Read only. */
  const Perftools__Profiles__Profile *raw;
};

/* Decodes `len` bytes: gzip (recognised by its magic; multi-member streams
 * accepted) or plain protobuf. Refuses more than `max_decoded` bytes after
 * decompression (0 means CLI_PROFILE_MAX_DECODED), then unpacks and
 * validates: string_table[0] is "", every string index is in range, every
 * referenced location/function/mapping id exists and ids are unique, and
 * every sample has one value per sample type.
 * On success stores a new profile in *out (free with cli_profile_free()).
 * On failure leaves *out untouched, writes a one-line reason into `err`
 * (when non-NULL, `errlen` bytes) and returns CLI_EEMPTY, CLI_ETOOBIG,
 * CLI_EGZIP, CLI_EPROTO, CLI_EINVALID or CLI_ENOMEM. */
int cli_profile_decode(const void *data, size_t len, size_t max_decoded,
                       struct cli_profile **out, char *err, size_t errlen);

/* Reads `path` ("-" for stdin) and decodes it as cli_profile_decode() with
 * the default cap. Also returns CLI_EIO (message names the file and errno)
 * and CLI_ETOOBIG for a file larger than the cap. */
int cli_profile_load(const char *path, struct cli_profile **out, char *err,
                     size_t errlen);

/* Frees a profile from cli_profile_decode()/_load(). NULL is a no-op. */
void cli_profile_free(struct cli_profile *p);

/* Resolves a --sample-index argument like pprof's -sample_index: NULL or ""
 * picks the default (default_sample_type when set, else the last type); a
 * decimal number is an index; otherwise a type name, where "inuse_X" also
 * matches a type named "X" (pprof's legacy spelling).
 * Returns the index (>= 0), or CLI_ENOTFOUND with a message listing the
 * types (also when the profile has no sample types at all). */
int cli_profile_sample_index(const struct cli_profile *p, const char *spec,
                             char *err, size_t errlen);

/* ---- units.c: pprof's value and percentage formatting ---- */

/* Values are scaled as pprof's measurement package does: bytes as
 * B/kB/MB/GB/TB/PB (1024 steps), nanoseconds (also "ns", "us", "ms", "s",
 * "milliseconds"...) as ns/us/ms/s/hrs; other units ("count") are printed
 * as plain numbers. */

/* The unit name ("kB", "ms") pprof's auto scaling picks for one value in
 * `unit`: the largest that leaves the value >= 1. NULL when `unit` is not
 * scaled. */
const char *cli_unit_auto(int64_t value, const char *unit);

/* The unit a whole report uses, as pprof's default "-unit=minimum": the
 * unit of the smallest nonzero value `min`, moved up when the largest
 * `max` (the total) needs a bigger one and min < max/100. NULL when `unit`
 * is not scaled. Signs are ignored. */
const char *cli_unit_for_range(int64_t min, int64_t max, const char *unit);

/* Formats `value` (in `unit`) as pprof's ScaledLabel: scaled to `to` (a
 * name from cli_unit_auto()/_for_range(); NULL scales this value on its
 * own), two decimals with a trailing ".00" dropped, the unit name appended,
 * and "0" for anything that rounds to zero. Always NUL-terminates `buf`.
 * Returns the length written (as snprintf). */
int cli_format_value(int64_t value, const char *unit, const char *to, char *buf,
                     size_t len);

/* Formats value/total as pprof's measurement.Percentage: "  100%" at
 * 100 +- 0.05, "%5.2f%%" from 1%, "%5.2g%%" below; "0%" of a zero total
 * reads "    0%". Returns the length written. */
int cli_format_percent(int64_t value, int64_t total, char *buf, size_t len);

/* ---- top.c ---- */

struct cli_top_options {
  int sample_index;    /* resolved index into sample_types */
  long nodecount;      /* rows to print; <= 0 prints every row */
  double nodefraction; /* drop nodes with |cum| below this share of total */
};

/* One stack with one value: what flat/cum tables, diffs and flame graphs
 * are built from. Frames and labels are borrowed from a profile. */
struct cli_wsample {
  const struct cli_frame *const *frames; /* leaf first */
  size_t nframes;
  int64_t value;
  const struct cli_label *labels;
  size_t nlabels;
};

/* Fills out[0..p->nsamples) with the samples of `p` at `sample_index`,
 * values negated when `negate` (a diff's base). `out` borrows from `p`. */
void cli_profile_wsamples(const struct cli_profile *p, int sample_index,
                          bool negate, struct cli_wsample *out);

/* pprof's function-granularity name of a frame: the function, else
 * "[mapped file base name]", else "<unknown>"; may use `buf`. */
const char *cli_frame_name(const struct cli_frame *f, char *buf, size_t len);

enum { CLI_TOP_INLINE = 1, CLI_TOP_PARTIAL_INLINE = 2 };

struct cli_top_row {
  const char *name; /* pprof's function-granularity name; owned by the table */
  int64_t flat, cum;
  int inline_mark; /* 0, CLI_TOP_INLINE or CLI_TOP_PARTIAL_INLINE */
};

/* A flat/cum table, rows sorted as pprof's -top (|flat|, name, |cum|). */
struct cli_top_table {
  struct cli_top_row *rows;
  size_t nrows;       /* rows shown (at most nodecount) */
  size_t kept;        /* nodes above the nodefraction cutoff */
  size_t dropped;     /* nodes below it */
  int64_t total;      /* the 100% of the percentages */
  int64_t shown_flat; /* sum of the shown rows' flat */
  const char *unit;   /* the sample type's unit (borrowed) */
  const char *to;     /* the unit every value is scaled to, NULL: unscaled */
  double nodefraction;
  void *impl;
};

/* Builds the table of `n` weighted samples as pprof does (see top.c).
 * `total` < 0 means the sum of |value|; a diff passes its base's total.
 * `unit` is borrowed. On success fills *out (free with
 * cli_top_table_free()); returns 0 or CLI_ENOMEM. */
int cli_top_build(const struct cli_wsample *ws, size_t n, int64_t total,
                  const char *unit, const struct cli_top_options *opts,
                  struct cli_top_table *out);

/* Frees what cli_top_build() made and zeroes *t. NULL is a no-op. */
void cli_top_table_free(struct cli_top_table *t);

/* What pprof prints above a table. Strings are borrowed. */
struct cli_top_header {
  const char *file, *build_id; /* of the first mapping; NULL/"" hide */
  const char *const *comments;
  size_t ncomments;
  const char *type;
  int64_t time_nanos, duration_nanos;
};

/* The header of profile `p` at `sample_index`. */
void cli_top_header_init(struct cli_top_header *h, const struct cli_profile *p,
                         int sample_index);

/* Prints header and table as `go tool pprof -top`. Returns 0 or CLI_EIO. */
int cli_top_print_table(FILE *out, const struct cli_top_header *h,
                        const struct cli_top_table *tab);

/* Prints `go tool pprof -top`'s header and table for `p` on `out`.
 * Returns 0, CLI_ENOMEM or CLI_EIO (write failed). */
int cli_top_print(FILE *out, const struct cli_profile *p,
                  const struct cli_top_options *opts);

/* ---- diff.c: NEW minus BASE, as pprof -diff_base ---- */

struct cli_diff {
  /* NEW's samples, then BASE's with values negated; frames borrowed from
   * the two profiles, which must outlive the diff. */
  struct cli_wsample *samples;
  size_t nsamples, nbase;
  int64_t base_total; /* sum of |value| over BASE: pprof's 100% */
  const struct cli_profile *base, *newp;
  int new_index, base_index;
  const char *unit;
};

/* Pairs BASE and NEW at the sample type `spec` (as --sample-index, resolved
 * on NEW; it must exist in BASE with the same unit). Returns 0, or
 * CLI_ENOTFOUND / CLI_ENOMEM with a message in `err`; *d untouched then. */
int cli_diff_init(struct cli_diff *d, const struct cli_profile *base,
                  const struct cli_profile *newp, const char *spec, char *err,
                  size_t errlen);

/* Frees the sample array; the profiles stay the caller's. NULL: no-op. */
void cli_diff_close(struct cli_diff *d);

/* The flat/cum table of NEW minus BASE (see cli_top_build()). */
int cli_diff_table(const struct cli_diff *d, const struct cli_top_options *opts,
                   struct cli_top_table *out);

/* Prints `go tool pprof -diff_base=BASE -top NEW`. Returns 0, CLI_ENOMEM or
 * CLI_EIO. */
int cli_diff_print(FILE *out, const struct cli_diff *d,
                   const struct cli_top_options *opts);

/* ---- json.c: a bounded JSON reader ---- */

enum cli_json_type {
  CLI_JSON_NULL,
  CLI_JSON_BOOL,
  CLI_JSON_NUMBER,
  CLI_JSON_STRING,
  CLI_JSON_ARRAY,
  CLI_JSON_OBJECT
};

/* One value. Arrays and objects list their members from `child` through
 * `next`, in document order; an object's members carry their `key`. */
struct cli_json {
  enum cli_json_type type;
  bool boolean;
  double number;
  char *string; /* NUL-terminated UTF-8 (may hold NULs: see len) */
  size_t len;
  char *key;
  size_t count; /* members of an array or object */
  struct cli_json *child, *next;
};

/* Parses `len` bytes of JSON (nesting at most 64 deep). On success stores
 * the tree in *out (free with cli_json_free()); otherwise returns
 * CLI_EINVALID (message says where and why) or CLI_ENOMEM. */
int cli_json_parse(const char *text, size_t len, struct cli_json **out,
                   char *err, size_t errlen);

/* Reads `path` (at most `cap` bytes) and parses it. Also returns CLI_EIO
 * and CLI_ETOOBIG; messages name the file. */
int cli_json_load(const char *path, size_t cap, struct cli_json **out,
                  char *err, size_t errlen);

/* Frees a tree (and its siblings). NULL is a no-op. */
void cli_json_free(struct cli_json *j);

/* The member `key` of object `obj` (the last one if repeated); NULL when
 * absent or `obj` is not an object (NULL included). */
const struct cli_json *cli_json_get(const struct cli_json *obj,
                                    const char *key);

/* A finite number member into *out: true; else false, *out untouched. */
bool cli_json_number(const struct cli_json *obj, const char *key, double *out);

/* A string member, or NULL. */
const char *cli_json_string(const struct cli_json *obj, const char *key);

/* Reads a whole file ("-": standard input) of at most `cap` bytes into
 * *out (npc_read_file: malloc'd, NUL appended; free()) and its length into
 * *lenp. Returns 0, CLI_EIO, CLI_ETOOBIG or CLI_ENOMEM with a message
 * naming the file. */
int cli_read_file(const char *path, size_t cap, char **out, size_t *lenp,
                  char *err, size_t errlen);

/* ---- flame.c: flame graph layout and SVG ---- */

struct cli_flame_rect {
  const char *name; /* owned by the flame graph */
  double x, w;      /* pixels */
  int depth;        /* 0: the root ("all") */
  int64_t value;
};

struct cli_flame {
  struct cli_flame_rect *rects; /* parents before their children */
  size_t nrects;
  int max_depth;
  size_t hidden;    /* frames narrower than min_width, not drawn */
  size_t truncated; /* stacks cut to the depth limit (see flame.c) */
  int64_t total;    /* the root's value: the growth drawn */
  int64_t shrunk;   /* sum over stacks whose value went down (not drawn) */
  double width;
  void *impl;
};

/* Lays out `n` weighted samples (signed: see flame.c) `width` pixels wide,
 * leaving out frames under `min_width` pixels. Returns 0 or CLI_ENOMEM;
 * free with cli_flame_free(). */
int cli_flame_build(const struct cli_wsample *ws, size_t n, double width,
                    double min_width, struct cli_flame *out);

/* Frees the layout and zeroes *f. NULL is a no-op. */
void cli_flame_free(struct cli_flame *f);

/* Writes the layout as one self-contained <svg> element (no script;
 * tooltips through <title>), values formatted in `unit`. Returns 0 or
 * CLI_EIO. */
int cli_flame_svg(FILE *out, const struct cli_flame *f, const char *unit);

/* ---- html.c: escaping and atomic writes ---- */

/* Length of the valid UTF-8 sequence starting at s (1-4), 0 if invalid. */
size_t cli_utf8_len(const unsigned char *s);

/* Writes `s` as HTML/SVG text or attribute value: & < > " ' as entities,
 * invalid UTF-8 and control characters (but tab and newline) as U+FFFD.
 * NULL writes nothing. */
void cli_html_escape(FILE *out, const char *s);

/* Writes `s` as literal Markdown text on one line (a table cell): markdown
 * punctuation backslash-escaped, & < > as entities, newlines as spaces,
 * invalid UTF-8 as U+FFFD. */
void cli_md_escape(FILE *out, const char *s);

/* Writes `s` as a Markdown code span safe inside a table cell. */
void cli_md_code(FILE *out, const char *s);

/* Writes `s` quoted for a POSIX shell when it needs quoting. */
void cli_shell_quote(FILE *out, const char *s);

/* Writes `len` bytes to `path` atomically (npc_write_atomic: a hidden
 * temporary beside it, the mode open(2) would give, fsync, rename).
 * Returns 0, CLI_EIO or CLI_ENOMEM with a message naming the file; on
 * failure no temporary is left behind. */
int cli_write_atomic(const char *path, const void *data, size_t len, char *err,
                     size_t errlen);

/* Parses the options nprof top and nprof diff share (-n, --sample-index,
 * --help) and checks that `operands` files follow. Returns -1 to go on,
 * with the files at argv[optind], else the CLI_EXIT_* code to return. */
int cli_parse_table_options(const char *verb, int argc, char **argv,
                            int operands, const char *operand_names,
                            void (*usage)(FILE *), struct cli_top_options *opts,
                            const char **spec);

/* ---- verbs: argv[0] is the verb name; return a CLI_EXIT_* code ---- */
int cli_top_main(int argc, char **argv);
int cli_fetch_main(int argc, char **argv);
int cli_diff_main(int argc, char **argv);
int cli_report_main(int argc, char **argv);

#endif /* NPROF_CLI_H */
