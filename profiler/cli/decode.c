/*
 * Profile decoding: gzip -> protobuf-c -> validation -> resolved view.
 *
 * Everything here reads untrusted bytes (files from other machines, HTTP
 * bodies), so every size is capped and every index is checked before the
 * view is built: code walking a struct cli_profile never has to.
 *
 * Memory bounds. Decompression stops at `max_decoded`. Unpacking can still
 * amplify: an empty Sample is 2 bytes on the wire but ~80 bytes as a
 * protobuf-c struct, and a sample may name one location with many inlined
 * lines thousands of times. So protobuf-c allocates through a counting
 * allocator, and the resolved stacks are counted before they are built; both
 * draw on one budget proportional to the input (mem_budget()).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cli.h"

struct budget {
  size_t used;
  size_t limit;
  bool exceeded; /* tells "over budget" apart from a malformed message */
};

/* The profile as handed out, plus what it owns. `view` is first so a
 * struct cli_profile pointer converts back. */
struct profile_impl {
  struct cli_profile view;
  Perftools__Profiles__Profile *pb;
  struct budget budget;
  ProtobufCAllocator allocator;
  struct cli_value_type *sample_types;
  struct cli_frame *frames;
  size_t nframes;
  const struct cli_frame **frame_ptrs;
  struct cli_sample *samples;
  struct cli_label *labels;
  /* Names given after decoding (cli_profile_name_frame), freed with the
   * profile. */
  char **names;
  size_t nnames, names_alloc;
};

/* Used to sort ids for binary search; `index` is the position in the
 * message's repeated field. */
struct id_index {
  uint64_t id;
  size_t index;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

const char *cli_strerror(int err)
{
  switch ((cli_error)err) {
  case CLI_ENOMEM:
    return "out of memory";
  case CLI_EIO:
    return "input/output error";
  case CLI_EEMPTY:
    return "empty input";
  case CLI_ETOOBIG:
    return "input too large";
  case CLI_EGZIP:
    return "corrupt or truncated gzip data";
  case CLI_EPROTO:
    return "not a pprof protobuf profile";
  case CLI_EINVALID:
    return "inconsistent profile";
  case CLI_ENOTFOUND:
    return "no such sample type";
  case CLI_EUSAGE:
    return "bad arguments";
  case CLI_EHTTP:
    return "HTTP error status";
  case CLI_ENET:
    return "transfer failed";
  case CLI_ENOTDIR:
    return "not a directory";
  }
  return err == 0 ? "success" : "unknown error";
}

/* ---- bounded allocation for protobuf-c ---- */

/* Each block carries its size in front so free can give it back to the
 * budget; max_align_t keeps the payload aligned for any field type. */
union block_header {
  size_t size;
  max_align_t align;
};

static void *budget_alloc(void *data, size_t size)
{
  struct budget *b = data;

  if (size > b->limit - b->used ||
      size > SIZE_MAX - sizeof(union block_header)) {
    b->exceeded = true;
    return NULL;
  }
  union block_header *h = malloc(sizeof(*h) + size);
  if (h == NULL)
    return NULL;
  h->size = size;
  b->used += size;
  return h + 1;
}

static void budget_free(void *data, void *ptr)
{
  struct budget *b = data;

  if (ptr == NULL)
    return;
  union block_header *h = (union block_header *)ptr - 1;
  assert(b->used >= h->size);
  b->used -= h->size;
  free(h);
}

/* Sixteen times the decoded size (the worst struct-per-wire-byte ratio of a
 * real profile is well under that) plus a floor for tiny inputs. */
static size_t mem_budget(size_t decoded_len)
{
  const size_t floor = (size_t)64 << 20;

  if (decoded_len > (SIZE_MAX - floor) / 16)
    return SIZE_MAX;
  return floor + 16 * decoded_len;
}

/* Charges `n` items of `size` bytes to the budget without allocating
 * through it (for the view's arrays). Returns false when over. */
static bool budget_charge(struct budget *b, size_t n, size_t size)
{
  if (size != 0 && n > (b->limit - b->used) / size) {
    b->exceeded = true;
    return false;
  }
  b->used += n * size;
  return true;
}

/* Says that `what` ("the resolved stacks") would take more than budget b
 * allows. Returns CLI_ETOOBIG. */
static int over_budget(const struct budget *b, const char *what, char *err,
                       size_t errlen)
{
  seterr(err, errlen, "%s would need more than %zu MiB of memory", what,
         b->limit >> 20);
  return CLI_ETOOBIG;
}

/* ---- gzip ---- */

static bool is_gzip(const uint8_t *p, size_t len)
{
  return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Inflates a gzip stream (members may be concatenated, as gzip(1) and Go's
 * reader allow) into a new buffer of at most `cap` bytes. On success the
 * caller owns *out. */
static int gunzip(const uint8_t *in, size_t inlen, size_t cap, uint8_t **out,
                  size_t *outlen, char *err, size_t errlen)
{
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    seterr(err, errlen, "cannot initialise zlib");
    return CLI_ENOMEM;
  }
  uint8_t *buf = NULL;
  size_t size = 0, in_left = inlen;
  int result;
  /* Start near a typical profile's ratio; one byte past the cap tells
   * "exactly at the cap" from "over it". */
  size_t alloc = inlen < ((size_t)16 << 10) ? ((size_t)64 << 10) : inlen * 4;
  if (alloc > cap)
    alloc = cap + 1;
  zs.next_in = (Bytef *)in;
  for (;;) {
    if (size == alloc) {
      if (alloc > cap) {
        seterr(err, errlen, "decompressed profile exceeds the %zu MiB limit",
               cap >> 20);
        result = CLI_ETOOBIG;
        goto out;
      }
      alloc = alloc > cap / 2 ? cap + 1 : alloc * 2;
      uint8_t *nbuf = realloc(buf, alloc);
      if (nbuf == NULL) {
        result = CLI_ENOMEM;
        goto out;
      }
      buf = nbuf;
    }
    if (buf == NULL && (buf = malloc(alloc)) == NULL) {
      result = CLI_ENOMEM;
      goto out;
    }
    /* zlib counts in uInt: feed and drain in pieces below 4 GiB. */
    if (zs.avail_in == 0) {
      size_t chunk_in = in_left > UINT_MAX ? UINT_MAX : in_left;
      zs.avail_in = (uInt)chunk_in;
      in_left -= chunk_in;
    }
    size_t chunk_out = alloc - size > UINT_MAX ? UINT_MAX : alloc - size;
    zs.next_out = buf + size;
    zs.avail_out = (uInt)chunk_out;
    int zr = inflate(&zs, Z_NO_FLUSH);
    size += chunk_out - zs.avail_out;
    if (size > cap) {
      seterr(err, errlen, "decompressed profile exceeds the %zu MiB limit",
             cap >> 20);
      result = CLI_ETOOBIG;
      goto out;
    }
    switch (zr) {
    case Z_STREAM_END:
      if (zs.avail_in == 0 && in_left == 0) {
        result = 0;
        goto out;
      }
      if (!is_gzip(zs.next_in, zs.avail_in)) {
        seterr(err, errlen,
               "corrupt gzip data: %zu bytes of trailing "
               "garbage after the compressed stream",
               (size_t)zs.avail_in + in_left);
        result = CLI_EGZIP;
        goto out;
      }
      if (inflateReset(&zs) != Z_OK) {
        result = CLI_ENOMEM;
        goto out;
      }
      continue;
    case Z_OK:
    case Z_BUF_ERROR:
      /* No input left, room left for output, and no end marker: the
       * stream was cut short. */
      if (zs.avail_in == 0 && in_left == 0 && zs.avail_out != 0) {
        seterr(err, errlen,
               "truncated gzip data: the stream ends after "
               "%zu bytes without its end marker",
               inlen);
        result = CLI_EGZIP;
        goto out;
      }
      continue;
    case Z_MEM_ERROR:
      result = CLI_ENOMEM;
      goto out;
    default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
      seterr(err, errlen, "corrupt gzip data: %s",
             zs.msg != NULL ? zs.msg : "invalid stream");
      result = CLI_EGZIP;
      goto out;
    }
  }
out:
  inflateEnd(&zs);
  if (result == 0) {
    *out = buf;
    *outlen = size;
  } else {
    free(buf);
  }
  return result;
}

/* ---- validation ---- */

static int cmp_id(const void *a, const void *b)
{
  const struct id_index *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Builds a sorted id table; rejects id 0 (it means "none" in references)
 * and duplicates (a reference would be ambiguous). */
static int
index_ids(struct id_index **out, size_t n, const char *what,
          uint64_t (*get)(const Perftools__Profiles__Profile *, size_t),
          const Perftools__Profiles__Profile *pb, char *err, size_t errlen)
{
  *out = NULL;
  if (n == 0)
    return 0;
  struct id_index *t = calloc(n, sizeof(*t));
  if (t == NULL)
    return CLI_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    t[i].id = get(pb, i);
    t[i].index = i;
    if (t[i].id == 0) {
      seterr(err, errlen, "%s #%zu has id 0 (ids must be nonzero)", what, i);
      free(t);
      return CLI_EINVALID;
    }
  }
  qsort(t, n, sizeof(*t), cmp_id);
  for (size_t i = 1; i < n; i++) {
    if (t[i].id == t[i - 1].id) {
      seterr(err, errlen, "%s id %" PRIu64 " is used twice", what, t[i].id);
      free(t);
      return CLI_EINVALID;
    }
  }
  *out = t;
  return 0;
}

/* Position of `id` in the repeated field, or -1. */
static ptrdiff_t lookup_id(const struct id_index *t, size_t n, uint64_t id)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t[mid].id == id)
      return (ptrdiff_t)t[mid].index;
    if (t[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

static uint64_t mapping_id(const Perftools__Profiles__Profile *pb, size_t i)
{
  return pb->mapping[i]->id;
}

static uint64_t function_id(const Perftools__Profiles__Profile *pb, size_t i)
{
  return pb->function[i]->id;
}

static uint64_t location_id(const Perftools__Profiles__Profile *pb, size_t i)
{
  return pb->location[i]->id;
}

/* Checks one string-table index; `what` names the field for the message. */
#define CHECK_STR(idx, ...)                                                    \
  do {                                                                         \
    int64_t check_idx_ = (idx);                                                \
    if (check_idx_ < 0 || (uint64_t)check_idx_ >= pb->n_string_table) {        \
      char where_[128];                                                        \
      snprintf(where_, sizeof(where_), __VA_ARGS__);                           \
      seterr(err, errlen,                                                      \
             "%s: string index %" PRId64 " out of range (the string table "    \
             "has %zu entries)",                                               \
             where_, check_idx_, pb->n_string_table);                          \
      return CLI_EINVALID;                                                     \
    }                                                                          \
  } while (0)

static int check_strings(const Perftools__Profiles__Profile *pb, char *err,
                         size_t errlen)
{
  if (pb->n_string_table == 0) {
    seterr(err, errlen, "the string table is empty (entry 0 must be \"\")");
    return CLI_EINVALID;
  }
  if (pb->string_table[0] == NULL || pb->string_table[0][0] != '\0') {
    seterr(err, errlen, "string table entry 0 is not \"\"");
    return CLI_EINVALID;
  }
  for (size_t i = 0; i < pb->n_sample_type; i++) {
    CHECK_STR(pb->sample_type[i]->type, "sample_type %zu type", i);
    CHECK_STR(pb->sample_type[i]->unit, "sample_type %zu unit", i);
  }
  if (pb->period_type != NULL) {
    CHECK_STR(pb->period_type->type, "period_type type");
    CHECK_STR(pb->period_type->unit, "period_type unit");
  }
  CHECK_STR(pb->drop_frames, "drop_frames");
  CHECK_STR(pb->keep_frames, "keep_frames");
  CHECK_STR(pb->default_sample_type, "default_sample_type");
  for (size_t i = 0; i < pb->n_comment; i++)
    CHECK_STR(pb->comment[i], "comment %zu", i);
  for (size_t i = 0; i < pb->n_mapping; i++) {
    const Perftools__Profiles__Mapping *m = pb->mapping[i];
    CHECK_STR(m->filename, "mapping id %" PRIu64 " filename", m->id);
    CHECK_STR(m->build_id, "mapping id %" PRIu64 " build_id", m->id);
  }
  for (size_t i = 0; i < pb->n_function; i++) {
    const Perftools__Profiles__Function *f = pb->function[i];
    CHECK_STR(f->name, "function id %" PRIu64 " name", f->id);
    CHECK_STR(f->system_name, "function id %" PRIu64 " system_name", f->id);
    CHECK_STR(f->filename, "function id %" PRIu64 " filename", f->id);
  }
  for (size_t i = 0; i < pb->n_sample; i++) {
    const Perftools__Profiles__Sample *s = pb->sample[i];
    for (size_t j = 0; j < s->n_label; j++) {
      CHECK_STR(s->label[j]->key, "sample %zu label %zu key", i, j);
      CHECK_STR(s->label[j]->str, "sample %zu label %zu str", i, j);
      CHECK_STR(s->label[j]->num_unit, "sample %zu label %zu num_unit", i, j);
    }
  }
  return 0;
}

/* ---- building the view ---- */

static const char *str(const Perftools__Profiles__Profile *pb, int64_t idx)
{
  /* Indices were checked by check_strings(); protobuf-c never leaves a
   * repeated string NULL, but an empty string is the safe reading. */
  const char *s = pb->string_table[idx];
  return s != NULL ? s : "";
}

/* True when `name` is no name but the frame's own address, which older
 * libnprof (and other symbolizers) put in when they found no symbol:
 * "0x7fd3b21018fd" or "0x7fd3b21018fd@libgrpc.so.29.0.0". Such a name
 * differs between two processes and hides the frame from offline
 * symbolization, so the view treats the frame as unnamed. */
static bool invented_name(const char *name, uint64_t address)
{
  if (name[0] != '0' || name[1] != 'x' || address == 0)
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(name + 2, &end, 16);
  return errno == 0 && end != name + 2 && v == address &&
         (*end == '\0' || *end == '@');
}

/* Validates references and fills the view. `impl->pb` is set and its
 * strings checked. */
static int build_view(struct profile_impl *impl, char *err, size_t errlen)
{
  const Perftools__Profiles__Profile *pb = impl->pb;
  struct cli_profile *v = &impl->view;
  struct id_index *maps = NULL, *funcs = NULL, *locs = NULL;
  size_t *loc_first = NULL, *loc_nframes = NULL;
  size_t nframes = 0, nptrs = 0, nlabels = 0, ptr_at = 0, label_at = 0;
  int result;

  if (pb->n_sample_type == 0 && pb->n_sample != 0) {
    seterr(err, errlen, "the profile has %zu samples but no sample types",
           pb->n_sample);
    return CLI_EINVALID;
  }
  if ((result = index_ids(&maps, pb->n_mapping, "mapping", mapping_id, pb, err,
                          errlen)) != 0 ||
      (result = index_ids(&funcs, pb->n_function, "function", function_id, pb,
                          err, errlen)) != 0 ||
      (result = index_ids(&locs, pb->n_location, "location", location_id, pb,
                          err, errlen)) != 0)
    goto out;

  /* Locations: mapping and function references, and each one's frames. */
  loc_first = calloc(pb->n_location + 1, sizeof(*loc_first));
  loc_nframes = calloc(pb->n_location + 1, sizeof(*loc_nframes));
  if (loc_first == NULL || loc_nframes == NULL) {
    result = CLI_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < pb->n_location; i++) {
    const Perftools__Profiles__Location *l = pb->location[i];
    if (l->mapping_id != 0 &&
        lookup_id(maps, pb->n_mapping, l->mapping_id) < 0) {
      seterr(err, errlen,
             "location id %" PRIu64 ": mapping id %" PRIu64 " does not exist",
             l->id, l->mapping_id);
      result = CLI_EINVALID;
      goto out;
    }
    for (size_t j = 0; j < l->n_line; j++) {
      uint64_t fid = l->line[j]->function_id;
      if (fid != 0 && lookup_id(funcs, pb->n_function, fid) < 0) {
        seterr(err, errlen,
               "location id %" PRIu64 " line %zu: function id %" PRIu64
               " does not exist",
               l->id, j, fid);
        result = CLI_EINVALID;
        goto out;
      }
    }
    loc_first[i] = nframes;
    loc_nframes[i] = l->n_line != 0 ? l->n_line : 1;
    nframes += loc_nframes[i];
  }

  /* Samples: value counts, location references, and the stack sizes they
   * resolve to (charged before anything is allocated). */
  for (size_t i = 0; i < pb->n_sample; i++) {
    const Perftools__Profiles__Sample *s = pb->sample[i];
    if (s->n_value != pb->n_sample_type) {
      seterr(err, errlen,
             "sample %zu has %zu values but the profile has %zu sample types",
             i, s->n_value, pb->n_sample_type);
      result = CLI_EINVALID;
      goto out;
    }
    for (size_t j = 0; j < s->n_location_id; j++) {
      ptrdiff_t at = lookup_id(locs, pb->n_location, s->location_id[j]);
      if (at < 0) {
        seterr(err, errlen,
               "sample %zu: location id %" PRIu64 " does not exist", i,
               s->location_id[j]);
        result = CLI_EINVALID;
        goto out;
      }
      if (!budget_charge(&impl->budget, loc_nframes[at], sizeof(void *))) {
        result = over_budget(&impl->budget, "the resolved stacks", err, errlen);
        goto out;
      }
      nptrs += loc_nframes[at];
    }
    nlabels += s->n_label;
  }
  /* Reports add values up (totals, flat, cum) and diffs subtract two
   * profiles: refuse values whose magnitudes per sample type add up past
   * 2^61, so no sum a report makes can overflow int64. */
  for (size_t t = 0; t < pb->n_sample_type; t++) {
    int64_t sum = 0;
    for (size_t i = 0; i < pb->n_sample; i++) {
      int64_t val = pb->sample[i]->value[t];
      if (val == INT64_MIN ||
          __builtin_add_overflow(sum, val < 0 ? -val : val, &sum) ||
          sum > INT64_MAX / 4) {
        seterr(err, errlen, "the values of sample type %zu add up beyond 2^61",
               t);
        result = CLI_EINVALID;
        goto out;
      }
    }
  }
  if (!budget_charge(&impl->budget, nframes, sizeof(struct cli_frame)) ||
      !budget_charge(&impl->budget, nlabels, sizeof(struct cli_label))) {
    result = over_budget(&impl->budget, "the resolved profile", err, errlen);
    goto out;
  }

  /* calloc(0) may return NULL: allocate at least one element each so NULL
   * always means failure. */
  impl->sample_types =
      calloc(pb->n_sample_type + 1, sizeof(*impl->sample_types));
  impl->frames = calloc(nframes + 1, sizeof(*impl->frames));
  impl->frame_ptrs = calloc(nptrs + 1, sizeof(*impl->frame_ptrs));
  impl->samples = calloc(pb->n_sample + 1, sizeof(*impl->samples));
  impl->labels = calloc(nlabels + 1, sizeof(*impl->labels));
  if (impl->sample_types == NULL || impl->frames == NULL ||
      impl->frame_ptrs == NULL || impl->samples == NULL ||
      impl->labels == NULL) {
    result = CLI_ENOMEM;
    goto out;
  }

  for (size_t i = 0; i < pb->n_sample_type; i++) {
    impl->sample_types[i].type = str(pb, pb->sample_type[i]->type);
    impl->sample_types[i].unit = str(pb, pb->sample_type[i]->unit);
  }

  for (size_t i = 0; i < pb->n_location; i++) {
    const Perftools__Profiles__Location *l = pb->location[i];
    ptrdiff_t m =
        l->mapping_id != 0 ? lookup_id(maps, pb->n_mapping, l->mapping_id) : -1;
    const Perftools__Profiles__Mapping *mp = m >= 0 ? pb->mapping[m] : NULL;
    for (size_t j = 0; j < loc_nframes[i]; j++) {
      struct cli_frame *f = &impl->frames[loc_first[i] + j];
      f->function = f->system_name = f->file = "";
      f->address = l->address;
      f->mapping = mp != NULL ? str(pb, mp->filename) : "";
      f->build_id = mp != NULL ? str(pb, mp->build_id) : "";
      /* Where the address is in the mapped file: the same in every
       * process that maps it, wherever the loader put it. An address
       * outside its mapping has no such place. */
      f->mapped = mp != NULL && l->address >= mp->memory_start &&
                  (mp->memory_limit == 0 || l->address < mp->memory_limit);
      if (f->mapped) {
        f->mapping_offset = mp->file_offset;
        f->file_offset = l->address - mp->memory_start + mp->file_offset;
      }
      f->location_id = l->id;
      /* pprof's Line order: innermost first, the last entry is the
       * function the others were inlined into. */
      f->inlined = j + 1 < l->n_line;
      if (j < l->n_line) {
        const Perftools__Profiles__Line *ln = l->line[j];
        ptrdiff_t fn = ln->function_id != 0
                           ? lookup_id(funcs, pb->n_function, ln->function_id)
                           : -1;
        f->line = ln->line;
        if (fn >= 0) {
          f->function = str(pb, pb->function[fn]->name);
          f->system_name = str(pb, pb->function[fn]->system_name);
          f->file = str(pb, pb->function[fn]->filename);
        }
      }
      if (invented_name(f->function, l->address))
        f->function = "";
      if (invented_name(f->system_name, l->address))
        f->system_name = "";
    }
  }
  impl->nframes = nframes;

  for (size_t i = 0; i < pb->n_sample; i++) {
    const Perftools__Profiles__Sample *s = pb->sample[i];
    struct cli_sample *out = &impl->samples[i];
    out->values = s->value;
    out->frames = &impl->frame_ptrs[ptr_at];
    for (size_t j = 0; j < s->n_location_id; j++) {
      ptrdiff_t at = lookup_id(locs, pb->n_location, s->location_id[j]);
      for (size_t k = 0; k < loc_nframes[at]; k++)
        impl->frame_ptrs[ptr_at++] = &impl->frames[loc_first[at] + k];
    }
    out->nframes = (size_t)(&impl->frame_ptrs[ptr_at] - out->frames);
    out->labels = &impl->labels[label_at];
    out->nlabels = s->n_label;
    for (size_t j = 0; j < s->n_label; j++) {
      struct cli_label *lb = &impl->labels[label_at++];
      lb->key = str(pb, s->label[j]->key);
      lb->str = str(pb, s->label[j]->str);
      lb->num = s->label[j]->num;
      lb->num_unit = str(pb, s->label[j]->num_unit);
    }
  }
  assert(ptr_at == nptrs && label_at == nlabels);

  v->frames = impl->frames;
  v->nframes = impl->nframes;
  v->sample_types = impl->sample_types;
  v->nsample_types = pb->n_sample_type;
  v->samples = impl->samples;
  v->nsamples = pb->n_sample;
  v->period_type.type = pb->period_type ? str(pb, pb->period_type->type) : "";
  v->period_type.unit = pb->period_type ? str(pb, pb->period_type->unit) : "";
  v->period = pb->period;
  v->time_nanos = pb->time_nanos;
  v->duration_nanos = pb->duration_nanos;
  v->default_sample_type = -1;
  if (pb->default_sample_type != 0) {
    const char *want = str(pb, pb->default_sample_type);
    for (size_t i = 0; i < pb->n_sample_type && i <= INT_MAX; i++) {
      if (strcmp(impl->sample_types[i].type, want) == 0) {
        v->default_sample_type = (int)i;
        break;
      }
    }
  }
  /* cli_profile_decode() fills the comments once the view is good. */
  v->ncomments = 0;
  v->comments = NULL;
  v->raw = pb;
  result = 0;
out:
  free(maps);
  free(funcs);
  free(locs);
  free(loc_first);
  free(loc_nframes);
  return result;
}

void cli_profile_free(struct cli_profile *p)
{
  struct profile_impl *impl = (struct profile_impl *)p;

  if (impl == NULL)
    return;
  if (impl->pb != NULL)
    perftools__profiles__profile__free_unpacked(impl->pb, &impl->allocator);
  free((void *)impl->view.comments);
  free(impl->sample_types);
  free(impl->frames);
  free(impl->frame_ptrs);
  free(impl->samples);
  free(impl->labels);
  for (size_t i = 0; i < impl->nnames; i++)
    free(impl->names[i]);
  free(impl->names);
  free(impl);
}

/* Keeps a copy of `s` for as long as the profile lives. */
static const char *keep_string(struct profile_impl *impl, const char *s)
{
  if (s == NULL || s[0] == '\0')
    return "";
  if (impl->nnames == impl->names_alloc) {
    char **names =
        npc_grow(impl->names, &impl->names_alloc, sizeof(*names), 64);
    if (names == NULL)
      return NULL;
    impl->names = names;
  }
  char *copy = strdup(s);
  if (copy == NULL)
    return NULL;
  impl->names[impl->nnames++] = copy;
  return copy;
}

int cli_profile_name_frame(struct cli_profile *p, size_t i,
                           const char *function, const char *file, int64_t line)
{
  struct profile_impl *impl = (struct profile_impl *)p;

  assert(p != NULL && i < impl->nframes && function != NULL);
  const char *fn = keep_string(impl, function);
  const char *fl = keep_string(impl, file);
  if (fn == NULL || fl == NULL)
    return CLI_ENOMEM;
  struct cli_frame *f = &impl->frames[i];
  f->function = f->system_name = fn;
  f->file = fl;
  f->line = line;
  return 0;
}

/* True when the bytes look like text (a debug=1 page, an HTML error page):
 * worth a hint, since a user who fetched the wrong URL sees only "corrupt". */
static bool looks_like_text(const uint8_t *p, size_t len)
{
  size_t n = len < 64 ? len : 64;

  for (size_t i = 0; i < n; i++) {
    /* ASCII only: a protobuf's varints and lengths are rarely all
     * printable, and a false "text" hint would mislead. */
    if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') ||
        p[i] >= 0x7f)
      return false;
  }
  return n > 0;
}

static void add_text_hint(const uint8_t *p, size_t len, char *err,
                          size_t errlen)
{
  if (err == NULL || errlen == 0 || !looks_like_text(p, len))
    return;
  size_t used = strlen(err);
  if (used < errlen)
    snprintf(err + used, errlen - used,
             "; the input looks like text (a debug=1 page or an error "
             "page?)");
}

int cli_profile_decode(const void *data, size_t len, size_t max_decoded,
                       struct cli_profile **out, char *err, size_t errlen)
{
  const uint8_t *bytes = data;
  uint8_t *inflated = NULL;
  const uint8_t *pbdata = bytes;
  size_t pblen = len;
  struct profile_impl *impl = NULL;
  int result;

  assert(data != NULL || len == 0);
  assert(out != NULL);
  if (max_decoded == 0)
    max_decoded = CLI_PROFILE_MAX_DECODED;
  if (len == 0) {
    seterr(err, errlen, "empty input (0 bytes)");
    return CLI_EEMPTY;
  }
  if (is_gzip(bytes, len)) {
    result = gunzip(bytes, len, max_decoded, &inflated, &pblen, err, errlen);
    if (result != 0)
      return result;
    pbdata = inflated;
    if (pblen == 0) {
      seterr(err, errlen,
             "empty profile: the gzip data decompresses to "
             "0 bytes");
      result = CLI_EEMPTY;
      goto out;
    }
  } else if (len > max_decoded) {
    seterr(err, errlen, "profile of %zu bytes exceeds the %zu MiB limit", len,
           max_decoded >> 20);
    return CLI_ETOOBIG;
  }

  impl = calloc(1, sizeof(*impl));
  if (impl == NULL) {
    result = CLI_ENOMEM;
    goto out;
  }
  impl->budget.limit = mem_budget(pblen);
  impl->allocator.alloc = budget_alloc;
  impl->allocator.free = budget_free;
  impl->allocator.allocator_data = &impl->budget;
  impl->pb =
      perftools__profiles__profile__unpack(&impl->allocator, pblen, pbdata);
  if (impl->pb == NULL) {
    if (impl->budget.exceeded) {
      result = over_budget(&impl->budget, "unpacking the profile", err, errlen);
    } else {
      seterr(err, errlen,
             "not a pprof profile: protobuf decoding of %zu "
             "bytes failed (corrupt or truncated?)",
             pblen);
      add_text_hint(pbdata, pblen, err, errlen);
      result = CLI_EPROTO;
    }
    goto out;
  }
  if ((result = check_strings(impl->pb, err, errlen)) != 0 ||
      (result = build_view(impl, err, errlen)) != 0) {
    if (result == CLI_EINVALID)
      add_text_hint(pbdata, pblen, err, errlen);
    goto out;
  }
  if (impl->pb->n_comment != 0) {
    const char **c = calloc(impl->pb->n_comment, sizeof(*c));
    if (c == NULL) {
      result = CLI_ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < impl->pb->n_comment; i++)
      c[i] = str(impl->pb, impl->pb->comment[i]);
    impl->view.comments = c;
    impl->view.ncomments = impl->pb->n_comment;
  }
  result = 0;
out:
  free(inflated);
  if (result != 0) {
    if (result == CLI_ENOMEM)
      seterr(err, errlen, "out of memory while decoding the profile");
    if (impl != NULL)
      cli_profile_free(&impl->view);
    return result;
  }
  *out = &impl->view;
  return 0;
}

int cli_profile_load(const char *path, struct cli_profile **out, char *err,
                     size_t errlen)
{
  char *buf = NULL;
  size_t len = 0;
  int result;

  assert(path != NULL && out != NULL);
  result =
      cli_read_file(path, CLI_PROFILE_MAX_DECODED, &buf, &len, err, errlen);
  if (result != 0)
    return result;
  result =
      cli_profile_decode(buf, len, CLI_PROFILE_MAX_DECODED, out, err, errlen);
  if (result != 0 && err != NULL && errlen > 0) {
    /* Prefix the file name so a message from a batch names its input. */
    char msg[CLI_ERRLEN];
    snprintf(msg, sizeof(msg), "%s", err);
    seterr(err, errlen, "%s: %s", path, msg);
  }
  free(buf);
  return result;
}

int cli_profile_sample_index(const struct cli_profile *p, const char *spec,
                             char *err, size_t errlen)
{
  assert(p != NULL);
  if (p->nsample_types == 0 || p->nsample_types > INT_MAX) {
    seterr(err, errlen, "the profile has no sample types");
    return CLI_ENOTFOUND;
  }
  if (spec == NULL || spec[0] == '\0') {
    if (p->default_sample_type >= 0)
      return p->default_sample_type;
    return (int)p->nsample_types - 1;
  }
  if ((spec[0] >= '0' && spec[0] <= '9') || spec[0] == '-' || spec[0] == '+') {
    char *end;
    errno = 0;
    long n = strtol(spec, &end, 10);
    if (*end == '\0' && errno == 0) {
      if (n < 0 || (unsigned long)n >= p->nsample_types) {
        seterr(err, errlen, "sample index %s is outside the range [0..%zu]",
               spec, p->nsample_types - 1);
        return CLI_ENOTFOUND;
      }
      return (int)n;
    }
  }
  const char *noinuse = strncmp(spec, "inuse_", 6) == 0 ? spec + 6 : spec;
  for (size_t i = 0; i < p->nsample_types; i++) {
    if (strcmp(p->sample_types[i].type, spec) == 0 ||
        strcmp(p->sample_types[i].type, noinuse) == 0)
      return (int)i;
  }
  char list[160] = "";
  size_t used = 0;
  for (size_t i = 0; i < p->nsample_types && used < sizeof(list); i++) {
    int n = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? " " : "",
                     p->sample_types[i].type);
    if (n < 0)
      break;
    used += (size_t)n;
  }
  seterr(err, errlen, "sample index \"%s\" must be one of: %s", spec, list);
  return CLI_ENOTFOUND;
}
