/*
 * Internals of the nprof command-line tool, shared by its verbs.
 *
 * Modules:
 *  - decode.c    reads a pprof profile (gzip or plain protobuf), validates
 *                every cross-reference and builds a resolved, easy-to-walk
 *                view (struct cli_profile).
 *  - symbols.c   names the frames a profile left unnamed, offline, by build
 *                ID: /usr/lib/debug/.build-id and debuginfod servers.
 *  - units.c     formats values the way pprof does, and for people.
 *  - top.c       `nprof top`: the flat/cum table of `go tool pprof -top`.
 *  - fetch.c     `nprof fetch`: libcurl download, written atomically.
 *  - diff.c      `nprof diff`: NEW minus BASE, as pprof -diff_base -top.
 *  - json.c      a small bounded JSON reader (vars, loadgen result).
 *  - vars.c      the figures of one /debug/vars object.
 *  - timeline.c  timeline.jsonl: /debug/vars sampled through a run.
 *  - loadgen.c   the loadgen's result: counts, rates, latency histograms.
 *  - analysis.c  a run folder loaded and turned into figures (struct
 *                cli_run): what report and compare print.
 *  - threshold.c the CI gates of report and compare, pass/fail as data.
 *  - doc.c       one writer for the Markdown and HTML of a document.
 *  - chart.c     SVG line charts (the timeline) and latency histograms.
 *  - flame.c     flame graph layout and its SVG.
 *  - html.c      HTML/Markdown escaping and the atomic file writer.
 *  - report.c    `nprof report`: a run folder as report.md and a
 *                self-contained report.html.
 *  - compare.c   `nprof compare`: two runs side by side, for CI gates.
 *  - merge.c     `nprof merge`: a sharded run's results as one, exactly.
 *  - options.c   what the verbs' command lines share: one option reader.
 *  - main.c      verb dispatch and usage.
 *
 * Functions return 0 (or a count) on success and a negative CLI_E* code on
 * failure; cli_strerror() turns a code into words. Functions that can fail
 * for a reason worth more than the code (which index is dangling, what zlib
 * said) also write a one-line message into a caller's buffer.
 */
#ifndef NPROF_CLI_H
#define NPROF_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "npc.h"
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
  CLI_ENET = -11,     /* the transfer failed (connect, timeout, TLS...) */
  CLI_ENOTDIR = -12   /* not a run folder */
} cli_error;

struct cli_symbolize_options; /* symbols.c */

/* Returns a static description of `err` (a CLI_E* code). */
const char *cli_strerror(int err);

/* Process exit codes of every verb. */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_FAIL = 1,
  CLI_EXIT_USAGE = 2,
  CLI_EXIT_THRESHOLD = 3 /* report, compare: a CI gate failed */
};

/* Room for a frame's display name (cli_frame_name's buffer). */
#define CLI_NAME_MAX 256

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
 * with function "" (only its mapping says where it was). A name that is
 * only the frame's own address ("0x7fd3b21018fd@libgrpc.so"), as older
 * symbolizers invented, reads as "" too. */
struct cli_frame {
  const char *function;    /* Function.name, "" if unknown */
  const char *system_name; /* Function.system_name, "" if unknown */
  const char *file;        /* Function.filename, "" if unknown */
  int64_t line;            /* Line.line, 0 if unknown */
  uint64_t address;        /* Location.address (same for inlined frames) */
  const char *mapping;     /* Mapping.filename, "" without a mapping */
  const char *build_id;    /* Mapping.build_id (hex), "" if unknown */
  /* The address's place in the mapped file (address - memory_start +
   * Mapping.file_offset), stable across processes, and the mapping's own
   * file_offset; both 0 when !mapped (no mapping, or outside it). */
  uint64_t file_offset, mapping_offset;
  bool mapped;
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
  /* Every frame the samples point into (for cli_profile_name_frame). */
  const struct cli_frame *frames;
  size_t nframes;
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

/* Names frame `i` of p->frames (function, and file and line when known:
 * "" and 0 otherwise), copying the strings into the profile. Every sample
 * that points at the frame sees the name. Returns 0 or CLI_ENOMEM (the
 * frame unchanged). */
int cli_profile_name_frame(struct cli_profile *p, size_t i,
                           const char *function, const char *file,
                           int64_t line);

/* Resolves a --sample-index argument like pprof's -sample_index: NULL or ""
 * picks the default (default_sample_type when set, else the last type); a
 * decimal number is an index; otherwise a type name, where "inuse_X" also
 * matches a type named "X" (pprof's legacy spelling).
 * Returns the index (>= 0), or CLI_ENOTFOUND with a message listing the
 * types (also when the profile has no sample types at all). */
int cli_profile_sample_index(const struct cli_profile *p, const char *spec,
                             char *err, size_t errlen);

/* ---- units.c: pprof's value formatting, and figures for people ---- */

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

/* For people: IEC bytes, counts, durations. */

/* "512 B", "31.2 KiB", "1.5 MiB"; "+" in front when `sign` and the value
 * is positive; "n/a" for NAN. Returns buf. */
const char *cli_fmt_bytes(double v, bool sign, char *buf, size_t len);

/* "1000", "+3", "n/a"; rounded to whole numbers. Returns buf. */
const char *cli_fmt_count(double v, bool sign, char *buf, size_t len);

/* Milliseconds scaled for reading: "850 us", "1.25 ms", "2.40 s";
 * "n/a" for NAN. Returns buf. */
const char *cli_fmt_ms(double ms, char *buf, size_t len);

/* A percentage with one decimal and a sign: "+12.5%", "-3.0%", "n/a". */
const char *cli_fmt_pct(double pct, char *buf, size_t len);

/* "32768", "32K", "32KiB", "1.5M", "2GB": bytes (1024 steps) into *out.
 * Returns 0 or CLI_EUSAGE. */
int cli_parse_size(const char *s, double *out);

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

/* The function-granularity name of a frame: the function, else
 * "FILE+0xOFFSET" (the mapped file's base name and file_offset: never the
 * runtime address, which differs between processes), else "<unknown>";
 * may use `buf` (CLI_NAME_MAX bytes hold any name). */
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

/* The same as a figure: the number, or NAN when there is none (whatever is
 * absent reads as unknown, never as 0). */
double cli_json_num(const struct cli_json *obj, const char *key);

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
 * --symbolize, --help) and checks that `operands` files follow. Returns -1
 * to go on, with the files at argv[optind], else the CLI_EXIT_* code to
 * return. */
int cli_parse_table_options(const char *verb, int argc, char **argv,
                            int operands, const char *operand_names,
                            void (*usage)(FILE *), struct cli_top_options *opts,
                            const char **spec,
                            struct cli_symbolize_options *so);

/* ---- symbols.c: offline names for frames the profile left unnamed ---- */

/* How far `nprof` looks for names (--symbolize). */
enum cli_symbolize_mode {
  CLI_SYMBOLIZE_NONE,      /* as the profile has them */
  CLI_SYMBOLIZE_LOCAL,     /* plus DIR/.build-id/xx/rest.debug files */
  CLI_SYMBOLIZE_DEBUGINFOD /* plus the servers in $DEBUGINFOD_URLS */
};

struct cli_symbolize_options {
  enum cli_symbolize_mode mode;
  const char *debug_dirs; /* colon-separated roots of .build-id/ */
  long timeout_ms;        /* bound on each debuginfod lookup */
  const char *verb;       /* names the messages: "nprof VERB: ..." */
  FILE *log;              /* where they go (a server not answering) */
};

/* Defaults: CLI_SYMBOLIZE_DEBUGINFOD, "/usr/lib/debug", stderr, and 10 s
 * a lookup, or $DEBUGINFOD_TIMEOUT seconds when set. */
void cli_symbolize_options_init(struct cli_symbolize_options *o,
                                const char *verb);

/* "none", "local" or "debuginfod" into *out. Returns 0 or CLI_EUSAGE. */
int cli_symbolize_mode_parse(const char *s, enum cli_symbolize_mode *out);

/* What a symbolizer did, for the reports to say. */
struct cli_symbolize_stats {
  size_t named_local, named_remote; /* frames named, by where from */
  size_t unnamed;       /* frames with a build ID left without a name */
  size_t files_missing; /* build IDs no debug file was found for */
  bool remote_failed;   /* a server did not answer; the rest skipped */
  char missing[256];    /* some of the files without debug info */
};

/* A symbolizer remembers, per build ID, the debug file it found (or that
 * there is none), so the profiles of a run, and of two runs, share the
 * lookups. Returns 0 or CLI_ENOMEM; *out is freed with
 * cli_symbolizer_free(). */
struct cli_symbolizer;
int cli_symbolizer_new(const struct cli_symbolize_options *o,
                       struct cli_symbolizer **out);
void cli_symbolizer_free(struct cli_symbolizer *s);
const struct cli_symbolize_stats *
cli_symbolizer_stats(const struct cli_symbolizer *s);

/* Names the frames of `p` that have no function name but a mapping with a
 * build ID, from the debug file of that build ID, found locally or on a
 * debuginfod server (see symbols.c). NULL `s` does nothing. Returns the
 * number of frames named, or CLI_ENOMEM. */
long cli_symbolize(struct cli_symbolizer *s, struct cli_profile *p);

/* ---- vars.c: one /debug/vars object as figures ---- */

/* Every figure is NAN when the object lacks it: older libnprof has no
 * "malloc" section nor the RSS split, another server speaking Go's
 * layout has neither "process" nor "nprof". */
struct cli_vars {
  double rss, peak_rss;
  double rss_anon, rss_file; /* anonymous and file-backed resident pages */
  double thread_stacks;      /* resident thread stacks */
  double threads;            /* process.threads minus profiler_threads */
  double fds;
  double heap_inuse; /* nprof.heap_inuse_bytes (sampled, unbiased) */
  /* glibc's own accounting (mallinfo2), when "allocator" is "glibc" */
  double malloc_in_use, malloc_free, malloc_mmapped, malloc_releasable,
      malloc_arenas;
  double users;          /* the users variable (run.json users_var) */
  const char *allocator; /* "glibc", "unknown"; NULL: no malloc section */
};

/* Reads `vars` (NULL reads as all unknown); `users_var` names the users
 * variable (NULL: none). Strings are borrowed from `vars`. */
void cli_vars_read(const struct cli_json *vars, const char *users_var,
                   struct cli_vars *out);

/* ---- timeline.c: timeline.jsonl, /debug/vars sampled through a run ---- */

/* The phase a sample was taken in, as the loadgen labels it. */
enum cli_tl_phase {
  CLI_TL_UNKNOWN = -1,
  CLI_TL_BASELINE,
  CLI_TL_RAMP,
  CLI_TL_PLATEAU,
  CLI_TL_HOLD,
  CLI_TL_DRAIN,
  CLI_TL_DRAINED,
  CLI_TL_NPHASES
};

/* "baseline", "ramp", ... ("?" for CLI_TL_UNKNOWN). */
const char *cli_tl_phase_name(enum cli_tl_phase p);

struct cli_tl_sample {
  double t; /* unix seconds */
  enum cli_tl_phase phase;
  bool has_vars;     /* false: the loadgen's fetch failed at that moment */
  struct cli_vars v; /* v.allocator is NULL (the line is not kept) */
  /* the loadgen's own counters, NAN when absent */
  double connected, established_total, messages, errors, client_rss;
};

/* Samples kept at most (a run of 2.7 hours at 500 ms); a longer run keeps
 * every stride-th, so the chart still spans the whole run. A line longer
 * than CLI_TIMELINE_LINE_MAX is no sample. */
#define CLI_TIMELINE_MAX_SAMPLES 20000
#define CLI_TIMELINE_LINE_MAX ((size_t)1 << 20)

struct cli_timeline {
  struct cli_tl_sample *samples; /* by time */
  size_t n;
  size_t lines;    /* lines read, the torn one included */
  size_t bad;      /* lines that were no sample (not counting the torn one) */
  bool torn;       /* the last line was cut short, as a run in progress or
                      a crash leaves it; ignored */
  unsigned stride; /* 1, or how many samples each kept one stands for */
  size_t alloc, seen;
};

/* Parses `len` bytes of JSON lines into `tl` (zeroed by the caller, or
 * from cli_timeline_free()); `users_var` as for cli_vars_read(). Bad lines
 * are counted, not fatal. Returns 0 or CLI_ENOMEM. */
int cli_timeline_parse(const char *data, size_t len, const char *users_var,
                       struct cli_timeline *tl);

/* Reads `path` as cli_timeline_parse(), streaming (memory bounded by one
 * line and the sample cap, whatever the file's size). Returns 0, CLI_EIO
 * (message names the file) or CLI_ENOMEM. */
int cli_timeline_load(const char *path, const char *users_var,
                      struct cli_timeline *tl, char *err, size_t errlen);

/* Frees the samples and zeroes *tl. */
void cli_timeline_free(struct cli_timeline *tl);

/* ---- loadgen.c: the loadgen's result, for people ---- */

enum cli_lat {
  CLI_LAT_CONNECT,   /* stream established */
  CLI_LAT_DELIVERY,  /* message sent to received */
  CLI_LAT_BROADCAST, /* publish to arrival at every user */
  CLI_LAT_CALL,      /* a unary call */
  CLI_NLAT
};

struct cli_hist_bin {
  double lo, hi; /* milliseconds, [lo, hi) */
  double count;
};

struct cli_latency {
  const char *key, *title; /* "connect_ms", "connect" */
  /* milliseconds (count: values), NAN when loadgen.json lacks them */
  double count, p50, p90, p99, p999, max;
  /* The full histogram (loadgen.json "histograms"), NULL without one or
   * when its layout is not one this reader knows (`problem` says so). */
  struct cli_hist_bin *bins;
  size_t nbins;
  const char *problem;
};

#define CLI_LG_MAX_ERRORS 32

struct cli_loadgen {
  bool present; /* loadgen.json was read */
  bool ok_known, ok;
  const char *reason; /* borrowed; NULL or "" when none */
  /* NAN when absent */
  double requested, established, peak, failed, establishments;
  double establish_s, establish_rate;
  double messages, bytes, notifications_expected;
  double calls_sent, calls_ok, calls_failed;
  /* the loadgen's own memory (the client's, never the service's) */
  double client_rss_baseline, client_rss_plateau, client_bytes_per_stream;
  struct {
    const char *name; /* borrowed */
    double count;
  } errors[CLI_LG_MAX_ERRORS]; /* nonzero ones only */
  size_t nerrors;
  struct cli_latency latency[CLI_NLAT];
  /* unix seconds of the loadgen's phase marks (loadgen.json "phases"):
   * start, baseline, connect, plateau, published, hold_end, drained, end */
  double marks[8];
};

/* The names of marks[] in loadgen.json, in order. */
extern const char *const cli_lg_mark_names[8];
enum {
  CLI_MARK_START,
  CLI_MARK_BASELINE,
  CLI_MARK_CONNECT,
  CLI_MARK_PLATEAU,
  CLI_MARK_PUBLISHED,
  CLI_MARK_HOLD_END,
  CLI_MARK_DRAINED,
  CLI_MARK_END
};

/* Reads `lg` (NULL: absent) into *out. Returns 0 or CLI_ENOMEM; free with
 * cli_loadgen_free(). */
int cli_loadgen_read(const struct cli_json *lg, struct cli_loadgen *out);
void cli_loadgen_free(struct cli_loadgen *l);

/* The range [*lo, *hi) of bucket `index` in the loadgen's log-linear
 * layout with `sub_bits` (loadgen/histogram.c: exact below 2^sub_bits,
 * then 2^(sub_bits-1) buckets per power of two). Returns 0, or
 * CLI_EINVALID for an index or layout past 2^63. */
int cli_hist_bucket_range(unsigned sub_bits, uint64_t index, double *lo,
                          double *hi);

/* ---- analysis.c: a run folder as figures ---- */

/* Rows of where an RSS change went, each a change in bytes. */
enum cli_acct_row {
  CLI_ACCT_HEAP,        /* sampled heap in use */
  CLI_ACCT_MALLOC_MORE, /* the allocator's in-use count beyond it */
  CLI_ACCT_MALLOC_FREE, /* free memory the allocator holds */
  CLI_ACCT_STACKS,      /* thread stacks */
  CLI_ACCT_FILE,        /* file-backed pages (code, mapped files) */
  CLI_ACCT_REST,        /* the rest: unexplained */
  CLI_ACCT_NROWS
};

struct cli_account {
  bool known;                 /* both phases have an RSS */
  double rss;                 /* the change being explained */
  double row[CLI_ACCT_NROWS]; /* NAN: not measured in this run */
  double releasable;          /* malloc_trim would return this much at
                                 the later phase; NAN unknown */
};

struct cli_thread_row {
  char *name;  /* thread names, digits folded to N */
  char *stack; /* leaf first, " < " between frames */
  double count[NPC_NPHASES];
};

#define CLI_RUN_MAX_NOTES 64
#define CLI_JSON_CAP ((size_t)16 << 20)

struct cli_run_phase {
  struct cli_vars v;
  bool has_vars;
  double heap; /* sampled heap in use: inuse_space, else the vars' */
  double t;    /* unix seconds of the snapshot, NAN unknown */
};

/* A run folder: its inputs as read, then the figures made from them. Any
 * input may be missing or unreadable; figures that need it are NAN (or
 * has_* false), and notes[] says what was missing. */
struct cli_run {
  const char *dir;
  /* ---- inputs (NULL: missing or unreadable) ---- */
  struct cli_profile *heap[NPC_NPHASES], *threads[NPC_NPHASES];
  struct cli_json *vars[NPC_NPHASES], *loadgen_json, *params;
  struct cli_timeline timeline;
  bool has_timeline;
  char *notes[CLI_RUN_MAX_NOTES];
  size_t nnotes;
  bool unreadable; /* some input exists but could not be read */
  /* ---- figures ---- */
  const char *users_var; /* run.json's, borrowed; NULL when none */
  struct cli_run_phase ph[NPC_NPHASES];
  double users;                       /* N, NAN unknown */
  char users_src[96];                 /* where N came from */
  double rss_per_user, heap_per_user; /* (plateau - baseline) / N */
  double retained_heap, retained_rss; /* drained - baseline */
  double threads_leaked;              /* threads more after drain, >= 0 */
  /* [0] plateau - baseline, [1] drained - baseline */
  struct cli_account acct[2];
  /* heap: plateau - baseline (growth), drained - baseline (retained) */
  bool has_growth, has_retained;
  struct cli_diff dgrowth, dretained;
  struct cli_top_table growth, retained;
  bool has_flame;
  struct cli_flame flame;
  bool has_threads;
  struct cli_thread_row *thread_rows; /* most changed first */
  size_t nthread_rows;
  /* frames of the heap profiles still without a function name (shown as
   * FILE+0xOFFSET), counted once per profile */
  size_t unnamed_frames;
  struct cli_loadgen lg;
};

/* Loads RUN_DIR's files into `r` (zeroed first), names frames through
 * `sym` (NULL: as they are), and analyses them. Returns 0 (look at
 * r->unreadable and notes), CLI_EIO or CLI_ENOTDIR (no such directory:
 * message in err), CLI_EEMPTY (nothing of a run in it) or CLI_ENOMEM.
 * Free with cli_run_free() whatever it returns. */
int cli_run_load(struct cli_run *r, const char *dir, struct cli_symbolizer *sym,
                 char *err, size_t errlen);

/* Turns the inputs of `r` into its figures (cli_run_load() calls it; unit
 * tests fill the inputs themselves). Returns 0 or CLI_ENOMEM. */
int cli_run_analyse(struct cli_run *r);

/* Frees everything `r` holds. */
void cli_run_free(struct cli_run *r);

/* Adds a note on the inputs (at most CLI_RUN_MAX_NOTES); `bad` marks an
 * input that exists but could not be read. */
void cli_run_note(struct cli_run *r, bool bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What nprof report and nprof compare share around their documents: n run
 * folders, each with a label for messages ("BASE", "NEW"; labels NULL for
 * a verb that reads one), and what they say on stderr, as
 * "nprof VERB: [LABEL: ]...". */

struct cli_checks; /* threshold.c */

/* Zeroes runs[0..n), makes *sym from `so` and loads dirs[i] into runs[i]
 * (cli_run_load), saying on stderr what failed. Free the runs
 * (cli_run_free) and *sym (cli_symbolizer_free) whatever it returns.
 * Returns 0 or the failure's CLI_E* code. */
int cli_runs_load(const char *verb, size_t n, struct cli_run *runs,
                  char *const *dirs, const char *const *labels,
                  const struct cli_symbolize_options *so,
                  struct cli_symbolizer **sym);

/* Says each run's notes and the checks' sentences on stderr, and when an
 * input was unreadable, that it is listed above and in `listed_in` ("the
 * report"). Returns the verb's exit code: CLI_EXIT_FAIL for an unreadable
 * input, else cli_checks_exit(v). */
int cli_runs_verdict(const char *verb, size_t n, const struct cli_run *runs,
                     const char *const *labels, const struct cli_checks *v,
                     const char *listed_in);

/* ---- compare.c: two runs ---- */

#define CLI_COMPARE_SITES 15

struct cli_site_change {
  const char *name; /* borrowed from a run's growth table */
  double base, new; /* flat bytes per user; 0 where a run has none */
};

struct cli_compare {
  const struct cli_run *base, *newr;
  /* (new - base) / base in percent, NAN when not comparable */
  double rss_pct, heap_pct;
  struct cli_site_change *sites; /* by |new - base| per user, largest first */
  size_t nsites;
};

/* Compares two analysed runs. Returns 0 or CLI_ENOMEM. */
int cli_compare_analyse(const struct cli_run *base, const struct cli_run *newr,
                        struct cli_compare *out);
void cli_compare_free(struct cli_compare *c);

/* ---- threshold.c: CI gates, pass/fail as data ---- */

enum cli_check_status {
  CLI_CHECK_OK,
  CLI_CHECK_EXCEEDED,
  CLI_CHECK_UNCHECKED /* the run lacks what the check needs */
};

struct cli_check {
  enum cli_check_status status;
  char text[256]; /* "MAX_BYTES_PER_USER=40.0 KiB ok: ..." */
};

#define CLI_MAX_CHECKS 8
struct cli_checks {
  struct cli_check c[CLI_MAX_CHECKS];
  size_t n;
};

/* nprof report's gates; NAN disables one. */
void cli_checks_report(const struct cli_run *r, double max_bytes_per_user,
                       double max_retained_bytes, struct cli_checks *out);

/* nprof compare's --max-increase (percent; NAN disables it). */
void cli_checks_compare(const struct cli_compare *c, double max_increase_pct,
                        struct cli_checks *out);

/* The exit code the checks call for: CLI_EXIT_THRESHOLD when one was
 * exceeded, else CLI_EXIT_FAIL when one could not be checked, else 0. */
int cli_checks_exit(const struct cli_checks *c);

/* Writes each check's sentence on a line of its own ("nprof VERB: ..."). */
void cli_checks_print(FILE *out, const char *verb, const struct cli_checks *c);

struct cli_doc; /* doc.c */

/* A document's "Thresholds" section: each check's sentence as a list item
 * of class ok or fail; nothing when there are no checks. */
void cli_checks_section(struct cli_doc *d, const struct cli_checks *c);

/* ---- doc.c: one writer for a document's Markdown and HTML ---- */

/* Every call writes both formats, each string escaped for its own. */
struct cli_doc {
  FILE *md, *html;
  char *mdbuf, *htmlbuf;
  size_t mdlen, htmllen;
};

/* Starts a document titled `title` (HTML head, style sheet, <h1>).
 * Returns 0 or CLI_ENOMEM. */
int cli_doc_open(struct cli_doc *d, const char *title);

/* Ends the HTML and closes both streams. Returns 0 or CLI_ENOMEM; the
 * buffers are then d->mdbuf/mdlen and d->htmlbuf/htmllen. */
int cli_doc_close(struct cli_doc *d);

/* Frees the buffers (after cli_doc_close(), or instead of it). */
void cli_doc_free(struct cli_doc *d);

/* Writes the two buffers to DIR/md_name and DIR/html_name atomically and
 * prints their paths. Returns 0, CLI_EIO or CLI_ENOMEM (message in err). */
int cli_doc_write(const struct cli_doc *d, const char *dir, const char *md_name,
                  const char *html_name, char *err, size_t errlen);

void cli_doc_h2(struct cli_doc *d, const char *id, const char *title);
void cli_doc_h3(struct cli_doc *d, const char *title);
/* A paragraph of plain text; `cls` (NULL: none) is its HTML class. */
void cli_doc_para(struct cli_doc *d, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cli_doc_list_begin(struct cli_doc *d);
void cli_doc_list_item(struct cli_doc *d, const char *cls, const char *s);
void cli_doc_list_end(struct cli_doc *d);
/* align: 'l' or 'r' per column; code: bit i puts cell i in code font. */
void cli_doc_table_head(struct cli_doc *d, size_t n, const char *const *heads,
                        const char *align);
void cli_doc_table_row(struct cli_doc *d, size_t n, const char *const *cells,
                       const char *align, unsigned code);
void cli_doc_table_end(struct cli_doc *d);
/* A shell command, preformatted. */
void cli_doc_command(struct cli_doc *d, const char *cmd);
/* Text for the Markdown only (where the HTML draws a chart). */
void cli_doc_md_note(struct cli_doc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- chart.c: SVG charts without script ---- */

/* One line of a time chart; a NAN y is a gap (the line breaks there). */
struct cli_series {
  const char *name, *color;
  const double *x, *y;
  size_t n;
};

struct cli_panel {
  const char *title;
  bool bytes; /* y axis in IEC bytes, else counts */
  const struct cli_series *series;
  size_t nseries;
};

/* A shaded span of the x axis (a phase) and a marked moment. */
struct cli_band {
  double x0, x1;
  const char *label;
};
struct cli_mark {
  double x;
  const char *label;
};

struct cli_timechart {
  double x0, x1; /* the span drawn (unix seconds) */
  const struct cli_panel *panels;
  size_t npanels;
  const struct cli_band *bands;
  size_t nbands;
  const struct cli_mark *marks;
  size_t nmarks;
};

/* Panels stacked over one time axis, the bands shaded across all of them,
 * as one <svg class="timeline">. Returns 0 or CLI_EIO. */
int cli_chart_time_svg(FILE *out, const struct cli_timechart *c);

/* A latency histogram (bars on a logarithmic time axis) with its
 * percentiles marked, as one <svg class="latency">. Needs l->nbins > 0.
 * Returns 0 or CLI_EIO. */
int cli_chart_latency_svg(FILE *out, const struct cli_latency *l);

/* Puts labels centred at x[i], w[i] wide, into rows 0..max_rows-1 so that
 * no two in a row overlap (gap pixels apart), in order of x; row[i] = -1
 * for a label that fits in none. Returns the rows used. */
int cli_label_rows(const double *x, const double *w, size_t n, double gap,
                   int max_rows, int *row);

/* A tick step of 1, 2 or 5 times a power of ten giving about `ticks`
 * ticks over `range`. */
double cli_nice_step(double range, int ticks);

/* ---- options.c: what the verbs' command lines share ---- */

/* getopt_long's value for --symbolize MODE in every verb that reads
 * profiles (above the values verbs give their own long options). */
#define CLI_OPT_SYMBOLIZE 0x1000

/* A verb's own options, at most (the ones every verb has come on top). */
#define CLI_OPTIONS_MAX 8

/* A verb's command line, read by cli_options_next: the verb's own options,
 * and the ones every verb shares (-h/--help; --symbolize when it has `so`)
 * added by the reader. Set up by cli_options_init. */
struct cli_options {
  const char *verb; /* messages start "nprof VERB: " */
  void (*usage)(FILE *);
  struct cli_symbolize_options *so; /* --symbolize's; NULL: none */
  int exit; /* once done: -1 go on with argv[optind], else the exit code */
  char shortopts[2 * CLI_OPTIONS_MAX + 3];     /* ':', the verb's, 'h' */
  struct option longopts[CLI_OPTIONS_MAX + 3]; /* + symbolize, help, end */
};

/* Readies *o for verb `verb`: `shortopts` its own short options in getopt's
 * syntax ("o:", or ""), `longopts` its own long ones (up to a NULL name;
 * NULL: none), `usage` its usage text, `so` where --symbolize goes (NULL:
 * the verb has no such option). Resets getopt (optind) for argv. */
void cli_options_init(struct cli_options *o, const char *verb,
                      const char *shortopts, const struct option *longopts,
                      void (*usage)(FILE *), struct cli_symbolize_options *so);

/* The next option of argv that the verb handles itself (getopt_long's value,
 * optarg set), or -1 when there is none: then o->exit says whether the verb
 * goes on (-1: the operands start at argv[optind]) or returns o->exit
 * because -h printed the usage on stdout, or a missing value, an unknown
 * option or a bad --symbolize was said on stderr (with the usage). Sets
 * o->so->mode from --symbolize. */
int cli_options_next(struct cli_options *o, int argc, char **argv);

/* Says a usage error: "nprof VERB: " and the printf-formatted message on
 * stderr, then the verb's usage. Returns CLI_EXIT_USAGE. */
int cli_options_error(const struct cli_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- merge.c: the shards of one run as one result ---- */

/* One parsed input of nprof merge and the name it is known by. */
struct cli_merge_input {
  const char *name;
  const struct cli_json *json;
};

/* Merges n shard results of one run (loadgen --shard-index I --shard-count
 * N, each with "run_id", "shard" and full "histograms") and, when not
 * NULL, the coordinator's result, writing one loadgen.json to `out`:
 * counts summed, histograms added bucket by bucket, percentiles from the
 * sum, each shard's figures under "shards". Returns 0, CLI_EINVALID (the
 * inputs are refused: different runs, a shard twice or missing, users that
 * do not tile the run, another layout...; err says which), CLI_ENOMEM or
 * CLI_EIO. */
int cli_merge(const struct cli_merge_input *in, size_t n,
              const struct cli_merge_input *coordinator, FILE *out, char *err,
              size_t errlen);

/* ---- verbs: argv[0] is the verb name; return a CLI_EXIT_* code ---- */
int cli_top_main(int argc, char **argv);
int cli_fetch_main(int argc, char **argv);
int cli_diff_main(int argc, char **argv);
int cli_report_main(int argc, char **argv);
int cli_compare_main(int argc, char **argv);
int cli_merge_main(int argc, char **argv);

#endif /* NPROF_CLI_H */
