/* A FileDescriptorSet, as protoc writes it (--descriptor_set_out
 * --include_imports), decoded with the protobuf-c code generated from
 * Debian's google/protobuf/descriptor.proto: protoc parses the .proto, we
 * only read its output. What loadgen needs from it is small: the method
 * (its kind and message types) and, to place {user} in a request, each
 * field's number and type. Message types are indexed by full name once, so
 * the template's walk looks them up by binary search. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "internal.h"

#define SET_MAX ((size_t)64 << 20)

struct lg_msgtype {
  char *name; /* "pkg.Outer.Inner", owned */
  const Google__Protobuf__DescriptorProto *proto;
};

struct lg_descriptors {
  Google__Protobuf__FileDescriptorSet *set;
  lg_msgtype *types; /* sorted by name */
  size_t ntypes;
  size_t cap;
};

static char *join(const char *prefix, const char *name)
{
  size_t a = prefix != NULL ? strlen(prefix) : 0, b = strlen(name);
  char *s = malloc(a + b + 2);
  if (s == NULL)
    return NULL;
  if (a > 0) {
    memcpy(s, prefix, a);
    s[a++] = '.';
  }
  memcpy(s + a, name, b + 1);
  return s;
}

/* Adds m and its nested types. Depth is bounded by the set's size, which
 * protobuf-c has already bounded; recursion follows protoc's own nesting
 * limit in practice. */
static int add_type(lg_descriptors *d, const char *prefix,
                    const Google__Protobuf__DescriptorProto *m, unsigned depth)
{
  if (m->name == NULL || depth > 100)
    return LG_EPROTO;
  if (d->ntypes == d->cap) {
    lg_msgtype *t = npc_grow(d->types, &d->cap, sizeof *t, 64);
    if (t == NULL)
      return LG_ENOMEM;
    d->types = t;
  }
  char *name = join(prefix, m->name);
  if (name == NULL)
    return LG_ENOMEM;
  d->types[d->ntypes++] = (lg_msgtype){name, m};
  for (size_t i = 0; i < m->n_nested_type; i++) {
    int rc = add_type(d, name, m->nested_type[i], depth + 1);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int by_name(const void *a, const void *b)
{
  return strcmp(((const lg_msgtype *)a)->name, ((const lg_msgtype *)b)->name);
}

int lg_desc_load(const uint8_t *set, size_t len, lg_descriptors **out)
{
  assert(out != NULL);
  if (len > SET_MAX)
    return LG_ETOOBIG;
  lg_descriptors *d = calloc(1, sizeof *d);
  if (d == NULL)
    return LG_ENOMEM;
  int rc = LG_EPROTO;
  d->set = google__protobuf__file_descriptor_set__unpack(NULL, len, set);
  if (d->set == NULL || d->set->n_file == 0)
    goto out;
  for (size_t i = 0; i < d->set->n_file; i++) {
    const Google__Protobuf__FileDescriptorProto *f = d->set->file[i];
    const char *pkg = f->package != NULL && f->package[0] ? f->package : NULL;
    for (size_t j = 0; j < f->n_message_type; j++)
      if ((rc = add_type(d, pkg, f->message_type[j], 0)) != 0)
        goto out;
  }
  if (d->ntypes > 0)
    qsort(d->types, d->ntypes, sizeof *d->types, by_name);
  rc = 0;
  *out = d;
out:
  if (rc != 0)
    lg_desc_free(d);
  return rc;
}

void lg_desc_free(lg_descriptors *d)
{
  if (d == NULL)
    return;
  for (size_t i = 0; i < d->ntypes; i++)
    free(d->types[i].name);
  free(d->types);
  if (d->set != NULL)
    google__protobuf__file_descriptor_set__free_unpacked(d->set, NULL);
  free(d);
}

const lg_msgtype *lg_desc_message(const lg_descriptors *d, const char *name)
{
  if (name == NULL)
    return NULL;
  if (name[0] == '.')
    name++;
  lg_msgtype key = {.name = (char *)name};
  return d->ntypes > 0 ? bsearch(&key, d->types, d->ntypes, sizeof key, by_name)
                       : NULL;
}

const char *lg_desc_message_name(const lg_msgtype *m)
{
  return m->name;
}

lg_field_kind lg_desc_field(const lg_descriptors *d, const lg_msgtype *m,
                            uint32_t number, const lg_msgtype **sub)
{
  const Google__Protobuf__DescriptorProto *p = m->proto;
  for (size_t i = 0; i < p->n_field; i++) {
    const Google__Protobuf__FieldDescriptorProto *f = p->field[i];
    if (!f->has_number || f->number < 0 || (uint32_t)f->number != number)
      continue;
    switch (f->type) {
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM:
      return LG_FIELD_VARINT;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL:
      return LG_FIELD_BOOL;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64:
      return LG_FIELD_ZIGZAG;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32:
      return LG_FIELD_FIXED32;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32:
      return LG_FIELD_SFIXED32;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT:
      return LG_FIELD_FLOAT;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64:
      return LG_FIELD_FIXED64;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64:
      return LG_FIELD_SFIXED64;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE:
      return LG_FIELD_DOUBLE;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING:
      return LG_FIELD_STRING;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES:
      return LG_FIELD_BYTES;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP: {
      const lg_msgtype *t = lg_desc_message(d, f->type_name);
      if (t == NULL)
        return LG_FIELD_NONE; /* a set without its imports */
      if (sub != NULL)
        *sub = t;
      return f->type ==
                     GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP
                 ? LG_FIELD_GROUP
                 : LG_FIELD_MESSAGE;
    }
    case _GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE_IS_INT_SIZE:
      break;
    }
    return LG_FIELD_NONE;
  }
  return LG_FIELD_NONE;
}

/* Appends "a, b, c" (as many as fit) to buf. */
static void list_append(char *buf, size_t size, const char *item)
{
  size_t n = strlen(buf), m = strlen(item);
  if (n + m + 3 >= size)
    return; /* the list says what fits */
  if (n > 0) {
    memcpy(buf + n, ", ", 2);
    n += 2;
  }
  memcpy(buf + n, item, m + 1);
}

int lg_desc_method(const lg_descriptors *d, const char *call, lg_method *out,
                   char *err, size_t errlen)
{
  if (call[0] == '/')
    call++;
  const char *slash = strchr(call, '/');
  if (slash == NULL || slash == call || slash[1] == '\0' ||
      strchr(slash + 1, '/') != NULL || (size_t)(slash - call) >= 400) {
    snprintf(err, errlen, "--call %s: expected PKG.SERVICE/METHOD", call);
    return LG_EINVAL;
  }
  int sn = (int)(slash - call);
  const char *mname = slash + 1;
  char services[256] = "";
  for (size_t i = 0; i < d->set->n_file; i++) {
    const Google__Protobuf__FileDescriptorProto *f = d->set->file[i];
    for (size_t j = 0; j < f->n_service; j++) {
      const Google__Protobuf__ServiceDescriptorProto *s = f->service[j];
      if (s->name == NULL)
        continue;
      char full[512];
      if (f->package != NULL && f->package[0])
        snprintf(full, sizeof full, "%s.%s", f->package, s->name);
      else
        snprintf(full, sizeof full, "%s", s->name);
      list_append(services, sizeof services, full);
      if (strlen(full) != (size_t)sn || memcmp(full, call, (size_t)sn) != 0)
        continue;
      char methods[256] = "";
      for (size_t k = 0; k < s->n_method; k++) {
        const Google__Protobuf__MethodDescriptorProto *m = s->method[k];
        if (m->name == NULL)
          continue;
        list_append(methods, sizeof methods, m->name);
        if (strcmp(m->name, mname) != 0)
          continue;
        if (m->input_type == NULL || m->output_type == NULL)
          break;
        *out = (lg_method){
            .method = m->name,
            .input = m->input_type + (m->input_type[0] == '.'),
            .output = m->output_type + (m->output_type[0] == '.'),
            .file = f->name != NULL ? f->name : "",
            .client_streaming = m->has_client_streaming && m->client_streaming,
            .server_streaming = m->has_server_streaming && m->server_streaming,
        };
        memcpy(out->service, full, sizeof out->service);
        if (lg_desc_message(d, out->input) == NULL ||
            lg_desc_message(d, out->output) == NULL) {
          snprintf(err, errlen, "%s: message types %s / %s not in the set",
                   call, out->input, out->output);
          return LG_ENOENT;
        }
        return 0;
      }
      snprintf(err, errlen, "service %s has no method %s (it has: %s)", full,
               mname, methods[0] ? methods : "none");
      return LG_ENOENT;
    }
  }
  snprintf(err, errlen, "no service %.*s in the descriptors (they have: %s)",
           sn, call, services[0] ? services : "none");
  return LG_ENOENT;
}
