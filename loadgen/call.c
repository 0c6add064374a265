/* The method a run calls and the request each user sends, settled once
 * before anything connects: the descriptors (the notifier's built in,
 * --protoset, or protoc over --proto), the method's kind and types, the
 * latency field checked against the response type, and the request
 * template (--data through protoc --encode, or the notifier's built-in
 * request). Everything that can be wrong with the flags about a method is
 * found here, which is what `loadgen --check` runs. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DATA_MAX ((size_t)16 << 20)

void lg_call_free(lg_call_spec *s)
{
  if (s == NULL)
    return;
  lg_template_free(s->tmpl);
  lg_desc_free(s->desc);
  free(s);
}

/* The descriptor set: read, compiled or built in. *owned tells whether the
 * caller frees *set. */
static int load_set(const lg_options *o, const uint8_t **set, size_t *len,
                    bool *owned, char *err, size_t errlen)
{
  *owned = false;
  if (o->protoset != NULL) {
    char *buf;
    int rc = npc_read_file(o->protoset, LG_PROTOC_OUT_MAX, &buf, len);
    if (rc != 0) {
      snprintf(err, errlen, "--protoset %s: %s", o->protoset, strerror(-rc));
      return rc;
    }
    *set = (const uint8_t *)buf;
    *owned = true;
    return 0;
  }
  if (o->proto != NULL) {
    uint8_t *buf;
    int rc = lg_protoc_compile(o->proto, o->import_paths, o->nimport_paths,
                               &buf, len, err, errlen);
    if (rc != 0)
      return rc;
    *set = buf;
    *owned = true;
    return 0;
  }
  *set = lg_notifier_desc;
  *len = lg_notifier_desc_len;
  return 0;
}

static int read_data(const lg_options *o, char **text, char *err, size_t errlen)
{
  *text = NULL;
  if (o->data != NULL) {
    *text = strdup(o->data);
    return *text != NULL ? 0 : LG_ENOMEM;
  }
  if (o->data_file != NULL) {
    size_t len;
    int rc = npc_read_file(o->data_file, DATA_MAX, text, &len);
    if (rc != 0)
      snprintf(err, errlen, "--data-file %s: %s", o->data_file,
               rc == -EFBIG ? "over 16 MiB" : strerror(-rc));
    return rc;
  }
  return 0;
}

/* The notifier's request without protoc: ConnectRequest{user_id:
 * PREFIX{user}}, whose "{user}" the template walk finds like any other. */
static int notifier_request(const lg_options *o, lg_call_spec *s, char *err,
                            size_t errlen)
{
  char user[256];
  snprintf(user, sizeof user, "%s%s", o->user_prefix, LG_USER_PLACEHOLDER);
  uint8_t body[300];
  int n = lg_connect_request_encode(body, sizeof body, user);
  if (n < 0)
    return n;
  return lg_template_new(body, (size_t)n, s->desc, s->method.input, 0, &s->tmpl,
                         err, errlen);
}

static int check_latency_field(const lg_options *o, lg_call_spec *s, char *err,
                               size_t errlen)
{
  if (!o->latency_field_set) {
    s->latency_field = s->notifier ? LG_NOTIFIER_LATENCY_FIELD : 0;
    return 0;
  }
  s->latency_field = o->latency_field;
  const lg_msgtype *m = lg_desc_message(s->desc, s->method.output);
  lg_field_kind k = lg_desc_field(s->desc, m, o->latency_field, NULL);
  if (k == LG_FIELD_VARINT || k == LG_FIELD_FIXED64 || k == LG_FIELD_SFIXED64)
    return 0;
  snprintf(err, errlen,
           "--latency-field %u: %s has no int64 (or fixed64) field %u to "
           "read unix nanoseconds from",
           o->latency_field, s->method.output, o->latency_field);
  return LG_EINVAL;
}

int lg_call_prepare(lg_options *o, char *err, size_t errlen)
{
  lg_call_spec *s = calloc(1, sizeof *s);
  if (s == NULL)
    return LG_ENOMEM;
  const uint8_t *set = NULL;
  size_t setlen = 0;
  bool owned = false;
  char *text = NULL, *prepared = NULL;
  uint8_t *encoded = NULL;
  size_t enclen = 0;
  int rc = load_set(o, &set, &setlen, &owned, err, errlen);
  if (rc != 0)
    goto out;
  rc = lg_desc_load(set, setlen, &s->desc);
  if (rc != 0) {
    snprintf(err, errlen, "%s: not a descriptor set (%s)",
             o->protoset != NULL ? o->protoset : "protoc's output",
             lg_strerror(rc));
    goto out;
  }
  const char *call = o->call != NULL ? o->call : LG_NOTIFIER_CALL;
  rc = lg_desc_method(s->desc, call, &s->method, err, errlen);
  if (rc != 0)
    goto out;
  const lg_method *m = &s->method;
  snprintf(s->path, sizeof s->path, "/%s/%s", m->service, m->method);
  if (m->client_streaming) {
    snprintf(err, errlen,
             "%s streams requests from the client: loadgen calls unary and "
             "server-streaming methods",
             s->path + 1);
    rc = LG_EINVAL;
    goto out;
  }
  s->unary = !m->server_streaming;
  s->notifier = strcmp(s->path + 1, LG_NOTIFIER_CALL) == 0;
  s->tag_field = s->notifier ? LG_NOTIFIER_PAYLOAD_FIELD : 0;
  if ((rc = check_latency_field(o, s, err, errlen)) != 0)
    goto out;

  rc = LG_EINVAL;
  if (s->unary && o->rps <= 0) {
    snprintf(err, errlen,
             "%s is unary: give --rps R, the calls per second (and "
             "--duration D)",
             s->path + 1);
    goto out;
  }
  if (!s->unary && (o->rps > 0 || o->duration_set)) {
    snprintf(err, errlen,
             "--rps and --duration are for unary methods; %s streams from "
             "the server (its users are held for --hold)",
             s->path + 1);
    goto out;
  }
  if (o->publish > 0 && (!s->notifier || o->tls)) {
    snprintf(err, errlen,
             "--publish sends the notifier's broadcasts: it needs its "
             "Connect call, in plaintext");
    goto out;
  }
  if (s->unary && !o->duration_set)
    o->duration_ns = o->hold_ns;

  if ((rc = read_data(o, &text, err, errlen)) != 0)
    goto out;
  if (text == NULL && s->notifier) {
    rc = notifier_request(o, s, err, errlen);
  } else {
    unsigned numeric;
    rc = lg_template_text(text != NULL ? text : "", &prepared, &numeric, err,
                          errlen);
    if (rc == 0)
      rc = lg_protoc_encode(set, setlen, m->file, m->input, prepared, &encoded,
                            &enclen, err, errlen);
    if (rc == LG_ETOOL) {
      /* protoc's own words say where: "input:1:7: ..." */
      char why[400];
      snprintf(why, sizeof why, "%s", err);
      snprintf(err, errlen, "--data as %s: %s", m->input, why);
    }
    if (rc == 0)
      rc = lg_template_new(encoded, enclen, s->desc, m->input, numeric,
                           &s->tmpl, err, errlen);
  }
  if (rc != 0)
    goto out;
  /* The largest number renders the largest request (digits, varints). */
  s->body_max = 5 + lg_template_size(s->tmpl, o->user_first + o->streams - 1);
  o->spec = s;
  s = NULL;
out:
  if (owned)
    free((void *)set);
  free(text);
  free(prepared);
  free(encoded);
  lg_call_free(s);
  return rc;
}
