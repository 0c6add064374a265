/*
 * The pprof profile.proto encoder: turns stacks of addresses and their values
 * into a gzip-compressed Profile message, symbolized in-process, with the
 * process's mappings (build IDs, has_functions and friends set), which is
 * what `go tool pprof` reads from Go's /debug/pprof endpoints.
 *
 * Built on the protobuf-c code generated from proto/profile.proto; zlib
 * writes the gzip container.
 */
#include "internal.h"
#include "npc.h"

#include "profile.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Label Label;

/* Open-addressing map from a 64-bit key to an index; key 0 is reserved. */
typedef struct idmap {
  uint64_t *keys;
  uint64_t *vals;
  size_t cap, len;
} idmap;

static uint64_t mix(uint64_t k)
{
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return k;
}

static int idmap_grow(idmap *m)
{
  size_t cap = m->cap ? m->cap * 2 : 1024;
  uint64_t *keys = calloc(cap, sizeof(*keys));
  uint64_t *vals = calloc(cap, sizeof(*vals));
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return NPROF_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i])
      continue;
    size_t j = mix(m->keys[i]) & (cap - 1);
    while (keys[j])
      j = (j + 1) & (cap - 1);
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return 0;
}

/* Returns the slot for `key`: found (keys[slot] == key) or empty. */
static size_t idmap_slot(const idmap *m, uint64_t key)
{
  size_t j = mix(key) & (m->cap - 1);
  while (m->keys[j] && m->keys[j] != key)
    j = (j + 1) & (m->cap - 1);
  return j;
}

static void idmap_free(idmap *m)
{
  free(m->keys);
  free(m->vals);
}

/* A growable array of pointers to protobuf-c messages. */
#define VEC(T)                                                                 \
  struct {                                                                     \
    T **v;                                                                     \
    size_t n, cap;                                                             \
  }

static int vec_reserve(void ***v, size_t *cap, size_t n)
{
  if (n < *cap)
    return 0;
  void **t = npc_grow(*v, cap, sizeof(*t), 64);
  if (!t)
    return NPROF_ENOMEM;
  *v = t;
  return 0;
}
#define VEC_PUSH(vec, item)                                                    \
  (vec_reserve((void ***)&(vec).v, &(vec).cap, (vec).n) == 0                   \
       ? ((vec).v[(vec).n++] = (item), 0)                                      \
       : NPROF_ENOMEM)

/* Frees the n items (each one malloc'd block, its inner arrays freed
 * already) and the array. */
static void vec_free(void **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}
#define VEC_FREE(vec) vec_free((void **)(vec).v, (vec).n)

enum { LACKS_FUNCTION = 1, LACKS_FILE = 2, LACKS_LINE = 4 };

struct nprof__pprof {
  Profile p;
  VEC(char) strings;
  idmap string_ids; /* content hash -> index + 1 (collisions chained by
                       linear probing on a secondary key) */
  VEC(ValueType) types;
  VEC(Sample) samples;
  VEC(Location) locations;
  idmap location_ids; /* address -> location id */
  VEC(Function) functions;
  idmap function_ids; /* (name ptr ^ file ptr) -> function id */
  nprof__mapping *maps;
  long nmaps;
  VEC(Mapping) mappings;
  /* Per mapping: some location in it had no function name, no file, no
   * line. A mapping claims has_functions (filenames, line numbers) only
   * when every location in it had one, so that pprof symbolizes the
   * others itself when it has the binary. */
  uint8_t *lacks;
  ValueType period_type;
  VEC(void) comments; /* int64 indices stored as pointers */
  int failed;
};

static uint64_t hash_bytes(const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ULL;
  }
  return h ? h : 1;
}

/* Returns the string-table index of `s`, adding it when new. */
static int64_t str_id(nprof__pprof *b, const char *s)
{
  if (!s || !*s)
    return 0;
  if ((b->string_ids.len + 1) * 2 > b->string_ids.cap &&
      idmap_grow(&b->string_ids) != 0)
    goto fail;
  /* Probe keys h, h+1, ... until the string matches or a slot is empty: a
   * hash collision between two strings simply moves to the next key. */
  for (uint64_t k = hash_bytes(s);; k = k + 1 ? k + 1 : 1) {
    size_t j = idmap_slot(&b->string_ids, k);
    if (!b->string_ids.keys[j]) {
      char *copy = strdup(s);
      if (!copy || VEC_PUSH(b->strings, copy) != 0) {
        free(copy);
        goto fail;
      }
      b->string_ids.keys[j] = k;
      b->string_ids.vals[j] = b->strings.n - 1;
      b->string_ids.len++;
      return (int64_t)(b->strings.n - 1);
    }
    if (strcmp(b->strings.v[b->string_ids.vals[j]], s) == 0)
      return (int64_t)b->string_ids.vals[j];
  }
fail:
  b->failed = 1;
  return 0;
}

nprof__pprof *nprof__pprof_new(const char *const *types, int ntypes)
{
  nprof__pprof *b = calloc(1, sizeof(*b));
  if (!b)
    return NULL;
  perftools__profiles__profile__init(&b->p);
  perftools__profiles__value_type__init(&b->period_type);
  char *empty = strdup("");
  if (!empty || VEC_PUSH(b->strings, empty) != 0) {
    free(empty);
    goto fail;
  }
  for (int i = 0; i < ntypes; i++) {
    char type[64];
    snprintf(type, sizeof(type), "%s", types[i]);
    char *slash = strchr(type, '/');
    const char *unit = "count";
    if (slash) {
      *slash = '\0';
      unit = slash + 1;
    }
    ValueType *vt = malloc(sizeof(*vt));
    if (!vt || VEC_PUSH(b->types, vt) != 0) {
      free(vt);
      goto fail;
    }
    perftools__profiles__value_type__init(vt);
    vt->type = str_id(b, type);
    vt->unit = str_id(b, unit);
  }
  b->nmaps = nprof__mappings(&b->maps);
  if (b->nmaps < 0)
    b->nmaps = 0;
  b->lacks = calloc((size_t)b->nmaps + 1, 1);
  if (!b->lacks)
    goto fail;
  for (long i = 0; i < b->nmaps; i++) {
    Mapping *m = malloc(sizeof(*m));
    if (!m || VEC_PUSH(b->mappings, m) != 0) {
      free(m);
      goto fail;
    }
    perftools__profiles__mapping__init(m);
    m->id = (uint64_t)i + 1;
    m->memory_start = b->maps[i].start;
    m->memory_limit = b->maps[i].limit;
    m->file_offset = b->maps[i].offset;
    m->filename = str_id(b, b->maps[i].path);
    m->build_id = str_id(b, b->maps[i].build_id);
  }
  b->p.time_nanos = npc_wall_ns();
  return b;
fail:
  nprof__pprof_free(b);
  return NULL;
}

void nprof__pprof_period(nprof__pprof *b, const char *type, const char *unit,
                         int64_t period)
{
  b->period_type.type = str_id(b, type);
  b->period_type.unit = str_id(b, unit);
  b->p.period_type = &b->period_type;
  b->p.period = period;
}

void nprof__pprof_default_type(nprof__pprof *b, const char *type)
{
  b->p.default_sample_type = str_id(b, type);
}

void nprof__pprof_duration(nprof__pprof *b, int64_t nanos)
{
  b->p.duration_nanos = nanos;
}

void nprof__pprof_comment(nprof__pprof *b, const char *text)
{
  int64_t id = str_id(b, text);
  if (VEC_PUSH(b->comments, (void *)(intptr_t)id) != 0)
    b->failed = 1;
}

static uint64_t mapping_of(const nprof__pprof *b, uintptr_t addr)
{
  long lo = 0, hi = b->nmaps - 1;
  while (lo <= hi) { /* /proc/self/maps is sorted by address */
    long mid = (lo + hi) / 2;
    if (addr < b->maps[mid].start)
      hi = mid - 1;
    else if (addr >= b->maps[mid].limit)
      lo = mid + 1;
    else
      return (uint64_t)mid + 1;
  }
  return 0;
}

static uint64_t function_id(nprof__pprof *b, const nprof__sym *sym)
{
  uint64_t key = mix((uintptr_t)sym->function) ^ (uintptr_t)sym->file;
  if (!key)
    key = 1;
  if ((b->function_ids.len + 1) * 2 > b->function_ids.cap &&
      idmap_grow(&b->function_ids) != 0)
    goto fail;
  /* Interned pointers: equal pointers are equal strings. Probe on a key
   * collision between different (function, file) pairs. */
  for (;; key = key + 1 ? key + 1 : 1) {
    size_t j = idmap_slot(&b->function_ids, key);
    if (!b->function_ids.keys[j]) {
      Function *f = malloc(sizeof(*f));
      if (!f || VEC_PUSH(b->functions, f) != 0) {
        free(f);
        goto fail;
      }
      perftools__profiles__function__init(f);
      f->id = b->functions.n;
      f->name = str_id(b, sym->function);
      f->system_name = f->name;
      f->filename = str_id(b, sym->file);
      b->function_ids.keys[j] = key;
      b->function_ids.vals[j] = f->id;
      b->function_ids.len++;
      return f->id;
    }
    Function *f = b->functions.v[b->function_ids.vals[j] - 1];
    if (strcmp(b->strings.v[f->name], sym->function) == 0 &&
        strcmp(b->strings.v[f->filename], sym->file ? sym->file : "") == 0)
      return f->id;
  }
fail:
  b->failed = 1;
  return 0;
}

static uint64_t location_id(nprof__pprof *b, uintptr_t addr)
{
  uint64_t key = addr ? addr : 1;
  if ((b->location_ids.len + 1) * 2 > b->location_ids.cap &&
      idmap_grow(&b->location_ids) != 0)
    goto fail;
  size_t j = idmap_slot(&b->location_ids, key);
  if (b->location_ids.keys[j])
    return b->location_ids.vals[j];
  Location *loc = malloc(sizeof(*loc));
  Line *line = malloc(sizeof(*line));
  Line **lines = malloc(sizeof(*lines));
  if (!loc || !line || !lines || VEC_PUSH(b->locations, loc) != 0) {
    free(loc);
    free(line);
    free(lines);
    goto fail;
  }
  perftools__profiles__location__init(loc);
  perftools__profiles__line__init(line);
  nprof__sym sym;
  nprof__symbolize(addr, &sym);
  loc->id = b->locations.n;
  loc->address = addr;
  loc->mapping_id = mapping_of(b, addr);
  uint8_t *lacks = &b->lacks[loc->mapping_id];
  loc->line = lines;
  if (sym.known) {
    line->function_id = function_id(b, &sym);
    line->line = sym.line;
    lines[0] = line;
    loc->n_line = 1;
  } else {
    /* No invented name: the address and its mapping say where it is. */
    free(line);
    *lacks |= LACKS_FUNCTION;
  }
  if (!sym.file)
    *lacks |= LACKS_FILE;
  if (sym.line <= 0)
    *lacks |= LACKS_LINE;
  b->location_ids.keys[j] = key;
  b->location_ids.vals[j] = loc->id;
  b->location_ids.len++;
  return loc->id;
fail:
  b->failed = 1;
  return 0;
}

int nprof__pprof_add(nprof__pprof *b, const uintptr_t *pcs, int depth,
                     const int64_t *values, const nprof__label *labels,
                     int nlabels)
{
  Sample *s = calloc(1, sizeof(*s));
  if (!s)
    goto fail;
  perftools__profiles__sample__init(s);
  if (VEC_PUSH(b->samples, s) != 0) {
    free(s);
    goto fail;
  }
  s->location_id = malloc(((size_t)depth + 1) * sizeof(uint64_t));
  s->value = malloc(b->types.n * sizeof(int64_t) + 1);
  s->label = malloc(((size_t)nlabels + 1) * sizeof(Label *));
  if (!s->location_id || !s->value || !s->label)
    goto fail;
  for (int i = 0; i < depth; i++) {
    uint64_t id = location_id(b, pcs[i]);
    if (id)
      s->location_id[s->n_location_id++] = id;
  }
  memcpy(s->value, values, b->types.n * sizeof(int64_t));
  s->n_value = b->types.n;
  for (int i = 0; i < nlabels; i++) {
    Label *l = malloc(sizeof(*l));
    if (!l)
      goto fail;
    perftools__profiles__label__init(l);
    l->key = str_id(b, labels[i].key);
    if (labels[i].str) {
      l->str = str_id(b, labels[i].str);
    } else {
      l->num = labels[i].num;
      l->num_unit = str_id(b, labels[i].unit);
    }
    s->label[s->n_label++] = l;
  }
  return b->failed ? NPROF_ENOMEM : 0;
fail:
  b->failed = 1;
  return NPROF_ENOMEM;
}

static int gzip_append(const uint8_t *data, size_t len, nprof__buf *out)
{
  z_stream z;
  memset(&z, 0, sizeof(z));
  /* windowBits 15 + 16: write a gzip header and trailer. */
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return NPROF_ENOMEM;
  size_t bound = deflateBound(&z, (uLong)len);
  int rc = nprof__buf_append(out, NULL, 0);
  size_t start = out->len;
  if (rc == 0) {
    /* Reserve the worst case, then trim to what deflate wrote. */
    char *tmp = malloc(bound);
    if (!tmp) {
      rc = NPROF_ENOMEM;
    } else {
      z.next_in = (Bytef *)data;
      z.avail_in = (uInt)len;
      z.next_out = (Bytef *)tmp;
      z.avail_out = (uInt)bound;
      if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        rc = NPROF_ENOMEM;
      else
        rc = nprof__buf_append(out, tmp, bound - z.avail_out);
      free(tmp);
    }
  }
  (void)start;
  deflateEnd(&z);
  return rc;
}

int nprof__pprof_write(nprof__pprof *b, nprof__buf *out)
{
  if (b->failed)
    return NPROF_ENOMEM;
  Profile *p = &b->p;
  p->sample_type = b->types.v;
  p->n_sample_type = b->types.n;
  p->sample = b->samples.v;
  p->n_sample = b->samples.n;
  p->location = b->locations.v;
  p->n_location = b->locations.n;
  p->function = b->functions.v;
  p->n_function = b->functions.n;
  for (size_t i = 0; i < b->mappings.n; i++) {
    Mapping *m = b->mappings.v[i];
    uint8_t lacks = b->lacks[m->id];
    m->has_functions = !(lacks & LACKS_FUNCTION);
    m->has_filenames = !(lacks & LACKS_FILE);
    m->has_line_numbers = !(lacks & LACKS_LINE);
  }
  p->mapping = b->mappings.v;
  p->n_mapping = b->mappings.n;
  p->string_table = b->strings.v;
  p->n_string_table = b->strings.n;
  int64_t *comments = NULL;
  if (b->comments.n) {
    comments = malloc(b->comments.n * sizeof(*comments));
    if (!comments)
      return NPROF_ENOMEM;
    for (size_t i = 0; i < b->comments.n; i++)
      comments[i] = (int64_t)(intptr_t)b->comments.v[i];
    p->comment = comments;
    p->n_comment = b->comments.n;
  }
  size_t len = perftools__profiles__profile__get_packed_size(p);
  uint8_t *raw = malloc(len ? len : 1);
  int rc = NPROF_ENOMEM;
  if (raw) {
    perftools__profiles__profile__pack(p, raw);
    rc = gzip_append(raw, len, out);
    free(raw);
  }
  free(comments);
  p->comment = NULL;
  p->n_comment = 0;
  return rc;
}

void nprof__pprof_free(nprof__pprof *b)
{
  if (!b)
    return;
  VEC_FREE(b->strings);
  VEC_FREE(b->types);
  for (size_t i = 0; i < b->samples.n; i++) {
    Sample *s = b->samples.v[i];
    vec_free((void **)s->label, s->n_label);
    free(s->location_id);
    free(s->value);
  }
  VEC_FREE(b->samples);
  for (size_t i = 0; i < b->locations.n; i++)
    vec_free((void **)b->locations.v[i]->line, b->locations.v[i]->n_line);
  VEC_FREE(b->locations);
  VEC_FREE(b->functions);
  VEC_FREE(b->mappings);
  free(b->comments.v); /* indices, not blocks */
  free(b->maps);
  free(b->lacks);
  idmap_free(&b->string_ids);
  idmap_free(&b->location_ids);
  idmap_free(&b->function_ids);
  free(b);
}

void nprof__text_record(nprof__writer *w, const uintptr_t *pcs, int depth,
                        const char *between)
{
  nprof__w_append(w, " @", 2);
  for (int i = 0; i < depth; i++)
    nprof__w_printf(w, " %#" PRIxPTR, pcs[i]);
  nprof__w_append(w, "\n", 1);
  if (between)
    nprof__w_append(w, between, strlen(between));
  for (int i = 0; i < depth && !w->rc; i++) {
    nprof__sym sym;
    nprof__symbolize(pcs[i], &sym);
    char name[NPROF_SYM_BUF];
    if (sym.known)
      nprof__w_printf(w, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR, pcs[i],
                      sym.function, sym.offset);
    else /* pprof's legacy parser reads only the @ line: this is for people */
      nprof__w_printf(w, "#\t%#" PRIxPTR "\t%s", pcs[i],
                      nprof__sym_name(&sym, pcs[i], name, sizeof(name)));
    if (sym.file)
      nprof__w_printf(w, "\t%s:%d", sym.file, sym.line);
    nprof__w_append(w, "\n", 1);
  }
  nprof__w_append(w, "\n", 1);
}
