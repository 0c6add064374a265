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
 *  - main.c    verb dispatch and usage.
 *
 * Functions return 0 (or a count) on success and a negative CLI_E* code on
 * failure; cli_strerror() turns a code into words. Functions that can fail
 * for a reason worth more than the code (which index is dangling, what zlib
 * said) also write a one-line message into a caller's buffer.
 */
#ifndef NPROF_CLI_H
#define NPROF_CLI_H

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

/* Prints `go tool pprof -top`'s header and table for `p` on `out`.
 * Returns 0, CLI_ENOMEM or CLI_EIO (write failed). */
int cli_top_print(FILE *out, const struct cli_profile *p,
                  const struct cli_top_options *opts);

/* ---- verbs: argv[0] is the verb name; return a CLI_EXIT_* code ---- */
int cli_top_main(int argc, char **argv);
int cli_fetch_main(int argc, char **argv);

#endif /* NPROF_CLI_H */
