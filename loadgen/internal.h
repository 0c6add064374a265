/* loadgen internals: the modules of the load generator and what they offer
 * each other. Nothing here includes libuv, nghttp2 or OpenSSL: the event
 * loop's own structures live in worker.h, which only the modules that run
 * on a worker's loop include.
 *
 * errors.c     LG_E* codes and lg_strerror
 * frame.c      gRPC message framing (5-byte prefix) across DATA chunks
 * wire.c       protobuf wire-format reader (fields, varints), bounded
 * message.c    the notifier's messages (Publish, the broadcast tag)
 * response.c   what a response message says: latency field, broadcast tag
 * descriptor.c a FileDescriptorSet: services, methods, message fields
 * protoc.c     Debian's protoc, run for descriptors and --encode
 * template.c   a request with {user} in it, rendered per user
 * grpc.c       metadata (-H), gRPC response headers, status names
 * histogram.c  log-linear latency histogram
 * ramp.c       token bucket for --rate and reconnect backoff
 * pacer.c      the open-model schedule of unary calls (--rps)
 * options.c    command-line flags, durations, the connection plan
 * shard.c      one run over several processes: this shard's share
 * call.c       the method to call: descriptors, request template
 * tls.c        OpenSSL under nghttp2 (tls.h)
 * conn.c       one HTTP/2 connection (libuv + nghttp2) holding K users
 * worker.c     one thread, one libuv loop, a share of the connections
 * publish.c    the notifier's Publish RPC, from the main thread
 * snapshot.c   profile snapshots over HTTP (libcurl)
 * timeline.c   /debug/vars and our counters sampled into timeline.jsonl
 * barrier.c    the processes of a sharded run in step, by state files
 * coordinate.c loadgen --coordinate: a sharded run's phases and snapshots
 * run.c        run.json, the run's parameters
 * report.c     progress line, human summary, --json
 * main.c       phases and their deadlines
 *
 * Names: lg_module_verb for what a module offers (declared here); lg__name
 * for what the few modules that need libuv, nghttp2 or OpenSSL share
 * through the private headers worker.h, h2.h and tls.h; static and
 * unprefixed inside a file.
 *
 * Errors are 0 or a negative code (lg_error): -errno values where an errno
 * says it, as in libuv, and a few of our own beyond them. */
#ifndef LOADGEN_INTERNAL_H
#define LOADGEN_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

#include "npc.h"

#define LG_VERSION "0.2"

/* ---- errors.c -------------------------------------------------------- */

typedef enum lg_error {
  LG_OK = 0,
  LG_EINVAL = -EINVAL,        /* bad argument or malformed input */
  LG_ENOMEM = -ENOMEM,        /* allocation failed */
  LG_ENOENT = -ENOENT,        /* no such file, service, method or message */
  LG_ETOOBIG = -EMSGSIZE,     /* message larger than the cap */
  LG_EPROTO = -EPROTO,        /* malformed protobuf wire data */
  LG_ECOMPRESS = -EOPNOTSUPP, /* compressed message: never negotiated */
  LG_ETIMEDOUT = -ETIMEDOUT,  /* a helper program did not finish in time */
  LG_ETOOL = -4001,           /* protoc refused the input (err says why) */
  LG_ETLS = -4002,            /* TLS handshake or record failure */
  LG_ECERT = -4003,           /* the server's certificate did not verify */
  LG_EALPN = -4004            /* the server did not agree to h2 (ALPN) */
} lg_error;

/* Words for an lg_error, or for any other negative errno (libuv's codes
 * are -errno on Unix too). Never NULL; thread-safe. */
const char *lg_strerror(int err);

/* ---- frame.c: gRPC length-prefixed messages ------------------------- */

/* Called once per complete message. The bytes are valid only during the
 * call. Return 0 to continue, non-zero to stop feeding (the value is passed
 * back from lg_deframer_feed). */
typedef int (*lg_message_cb)(void *ud, const uint8_t *msg, size_t len);

/* Reassembles messages split across DATA frames. Holds no buffer while a
 * message arrives in one chunk (the usual case): the buffer is allocated only
 * for a message that spans chunks, grows with the bytes received (not with
 * the announced length), and is freed when the message is complete, so an
 * idle stream costs sizeof(lg_deframer). */
typedef struct {
  uint8_t hdr[5];
  uint8_t hdr_got; /* 0..5 bytes of the prefix seen */
  uint32_t len;    /* message length, valid when hdr_got == 5 */
  uint32_t got;    /* message bytes buffered */
  uint8_t *buf;    /* owned; NULL unless a message spans chunks */
} lg_deframer;

void lg_deframer_init(lg_deframer *d);
/* Frees the partial message, if any. */
void lg_deframer_reset(lg_deframer *d);
/* Feeds len bytes; calls cb for each complete message of at most cap bytes.
 * Returns 0, LG_ETOOBIG (prefix announces more than cap), LG_ECOMPRESS
 * (compressed flag set), LG_EINVAL (flag byte other than 0/1), LG_ENOMEM,
 * or the callback's non-zero return. After an error the deframer must be
 * reset before reuse. */
int lg_deframer_feed(lg_deframer *d, const uint8_t *data, size_t len,
                     uint32_t cap, lg_message_cb cb, void *ud);
/* True when no partial message is pending (a stream may end here). */
bool lg_deframer_idle(const lg_deframer *d);
/* Writes the 5-byte prefix for an uncompressed message of len bytes. */
void lg_frame_prefix(uint8_t out[5], uint32_t len);

/* ---- wire.c: the protobuf wire format -------------------------------- */

enum {
  LG_WIRE_VARINT = 0,
  LG_WIRE_FIXED64 = 1,
  LG_WIRE_LEN = 2,
  LG_WIRE_GROUP_START = 3,
  LG_WIRE_GROUP_END = 4,
  LG_WIRE_FIXED32 = 5
};

/* Group nesting followed before giving up (protoc's own limit is 100). */
#define LG_WIRE_MAX_DEPTH 64

typedef struct {
  const uint8_t *p;
  const uint8_t *end;
} lg_wire;

/* One field. Offsets are pointers into the buffer being read. */
typedef struct {
  uint32_t number;
  uint8_t type;        /* LG_WIRE_* */
  const uint8_t *key;  /* where the field's key begins */
  const uint8_t *body; /* after the key: the varint, fixed bytes, or the
                          length prefix of a LEN field */
  const uint8_t *data; /* LEN: the content; fixed: the bytes; group: its
                          fields (without the end key) */
  size_t len;
  const uint8_t *next; /* where the next field begins */
  uint64_t varint;     /* VARINT: the value; fixed: the little-endian value */
} lg_wire_field;

void lg_wire_init(lg_wire *w, const uint8_t *p, size_t len);
/* Reads the next field. Returns 1 with *f filled, 0 at the end of the
 * buffer, or LG_EPROTO (truncated, field number 0 or over 2^29-1, wire
 * types 6/7, a stray group end, groups nested over LG_WIRE_MAX_DEPTH). */
int lg_wire_next(lg_wire *w, lg_wire_field *f);
/* Reads one varint at *p (advanced). Returns 0 or LG_EPROTO. */
int lg_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);
/* Bytes of the varint encoding of v (1..10). */
size_t lg_wire_varint_size(uint64_t v);
/* Writes v as a varint at out (room for 10 bytes). Returns bytes written. */
size_t lg_wire_varint_put(uint8_t *out, uint64_t v);
/* The little-endian value of n (4 or 8) bytes: fixed32, fixed64. */
uint64_t lg_wire_le(const uint8_t *p, unsigned n);

/* ---- message.c: the notifier's messages ----------------------------- */

/* Broadcast tag: the first LG_BCAST_TAG_LEN bytes of a payload that loadgen
 * publishes, "LGB1", the broadcast's sequence number (u32) and the
 * monotonic time just before its Publish request was written (u64), both
 * big-endian; the rest of the payload is filler. The server echoes the
 * payload, so a receiving stream can tell which broadcast reached it and
 * when that broadcast began, with no table shared between the publishing
 * thread and the workers (CLOCK_MONOTONIC is one clock for the process). */
#define LG_BCAST_TAG_LEN 16
/* Writes the tag over the first bytes of payload (len of them). Returns 0,
 * or LG_EINVAL when len < LG_BCAST_TAG_LEN (then payload is untouched). */
int lg_bcast_tag_encode(uint8_t *payload, size_t len, uint32_t seq,
                        uint64_t t0_ns);
/* Reads a tag. Returns 0, or LG_EINVAL when the payload does not start with
 * one (another publisher's message); *seq and *t0_ns are then untouched. */
int lg_bcast_tag_decode(const uint8_t *payload, size_t len, uint32_t *seq,
                        uint64_t *t0_ns);

/* The notifier's call and the fields of its Notification that loadgen
 * reads (proto/notifier.proto). */
#define LG_NOTIFIER_CALL "notifier.Notifier/Connect"
#define LG_NOTIFIER_LATENCY_FIELD 4 /* sent_unix_nanos */
#define LG_NOTIFIER_PAYLOAD_FIELD 3 /* payload, where the tag rides */

/* Decodes a PublishReply. Returns 0 or LG_EINVAL. */
int lg_publish_reply_decode(const uint8_t *buf, size_t len,
                            uint64_t *delivered);
/* Encodes a ConnectRequest (no prefix) into out (capacity cap). Returns the
 * number of bytes written, or LG_ETOOBIG. */
int lg_connect_request_encode(uint8_t *out, size_t cap, const char *user_id);
/* Encodes the 5-byte prefix and a PublishRequest into out. Returns the
 * number of bytes written, or LG_ETOOBIG. */
int lg_publish_request_encode(uint8_t *out, size_t cap, const char *user_id,
                              const uint8_t *payload, size_t payload_len);

/* ---- response.c: what loadgen reads in a response message ------------ */

typedef struct {
  bool has_time;      /* the latency field was present */
  int64_t unix_nanos; /* its value */
  bool tagged;        /* a broadcast tag was found (below) */
  uint32_t bcast_seq;
  uint64_t bcast_t0_ns;
} lg_response_info;

/* Walks the top-level fields of a response message, which validates its
 * wire format without knowing its type, and picks up the int64 field
 * `time_field` (unix nanoseconds; varint or fixed64; 0: none) and, when
 * tag_field is not 0, a bytes field of that number starting with a
 * broadcast tag. Returns 0 or LG_EPROTO. */
int lg_response_scan(const uint8_t *msg, size_t len, uint32_t time_field,
                     uint32_t tag_field, lg_response_info *out);

/* ---- descriptor.c: a FileDescriptorSet ------------------------------- */

typedef struct lg_descriptors lg_descriptors;
typedef struct lg_msgtype lg_msgtype; /* one message type, opaque */

/* How a field's value is encoded, as far as the wire and {user} care. */
typedef enum {
  LG_FIELD_NONE = 0, /* no such field */
  LG_FIELD_VARINT,   /* int32, int64, uint32, uint64, enum */
  LG_FIELD_BOOL,
  LG_FIELD_ZIGZAG, /* sint32, sint64 */
  LG_FIELD_FIXED32,
  LG_FIELD_SFIXED32,
  LG_FIELD_FLOAT,
  LG_FIELD_FIXED64,
  LG_FIELD_SFIXED64,
  LG_FIELD_DOUBLE,
  LG_FIELD_STRING,
  LG_FIELD_BYTES,
  LG_FIELD_MESSAGE,
  LG_FIELD_GROUP
} lg_field_kind;

typedef struct {
  char service[512];  /* full name, "pkg.Service" */
  const char *method; /* "Method" */
  const char *input;  /* full names of the message types, no leading dot */
  const char *output;
  const char *file; /* the .proto (name inside the set) declaring it */
  bool client_streaming;
  bool server_streaming;
} lg_method;

/* Decodes a serialized FileDescriptorSet (protoc --descriptor_set_out
 * --include_imports) of at most 64 MiB and indexes its message types.
 * Returns 0, LG_EPROTO (not a descriptor set), LG_ETOOBIG or LG_ENOMEM. */
int lg_desc_load(const uint8_t *set, size_t len, lg_descriptors **out);
void lg_desc_free(lg_descriptors *d);
/* Finds `call` ("pkg.Service/Method"; a leading '/' is accepted). Returns
 * 0 (pointers into d), LG_EINVAL (not of that form) or LG_ENOENT; err names
 * what is missing and what the set has instead. */
int lg_desc_method(const lg_descriptors *d, const char *call, lg_method *out,
                   char *err, size_t errlen);
/* The message type of that full name (a leading dot is accepted), or NULL. */
const lg_msgtype *lg_desc_message(const lg_descriptors *d, const char *name);
const char *lg_desc_message_name(const lg_msgtype *m);
/* Field `number` of m: its kind, and for message and group fields the type
 * in *sub (if sub is not NULL). LG_FIELD_NONE when m has no such field. */
lg_field_kind lg_desc_field(const lg_descriptors *d, const lg_msgtype *m,
                            uint32_t number, const lg_msgtype **sub);

/* proto/notifier.proto's descriptor set, built in (gen/notifier_desc.c), so
 * the notifier's call needs no protoc at run time. */
extern const unsigned char lg_notifier_desc[];
extern const size_t lg_notifier_desc_len;

/* ---- protoc.c: Debian's protoc ---------------------------------------- */

/* Largest output read from protoc (a descriptor set, an encoded request). */
#define LG_PROTOC_OUT_MAX ((size_t)64 << 20)

/* Compiles `proto` with its imports into a descriptor set (protoc
 * --include_imports --descriptor_set_out). import_paths (n of them, each
 * may be colon-separated as protoc allows) default to the file's folder.
 * On 0 *out (caller frees) and *len are set. Returns 0, LG_ENOENT (protoc
 * missing: err says what to install), LG_ETOOL (protoc's message in err),
 * LG_ETIMEDOUT, LG_ETOOBIG or LG_ENOMEM. */
int lg_protoc_compile(const char *proto, const char *const *import_paths,
                      size_t n, uint8_t **out, size_t *len, char *err,
                      size_t errlen);
/* Encodes text-format `text` as message `type` (protoc --encode), with the
 * descriptor set `set` naming `file`. Same returns as above. */
int lg_protoc_encode(const uint8_t *set, size_t setlen, const char *file,
                     const char *type, const char *text, uint8_t **out,
                     size_t *len, char *err, size_t errlen);

/* ---- template.c: a request with {user} in it ------------------------- */

#define LG_USER_PLACEHOLDER "{user}"
/* What {user} outside a string literal becomes for protoc: a number that
 * fits every numeric field type exactly (int32, float included), found
 * again in the encoded message by the walk. */
#define LG_USER_SENTINEL 1879048192u /* 0x70000000 */

typedef struct lg_template lg_template;

/* Rewrites text-format `text` for protoc: {user} inside string literals
 * stays (it is found in the encoded bytes), {user} elsewhere becomes
 * LG_USER_SENTINEL; # comments and escapes are honoured. On 0 *out is a
 * new string (caller frees) and *numeric the count of replaced ones.
 * Returns 0, LG_EINVAL (an unterminated string: err says where) or
 * LG_ENOMEM. */
int lg_template_text(const char *text, char **out, unsigned *numeric, char *err,
                     size_t errlen);
/* Builds the template from the encoded message `msg` of type `type`,
 * walking it with the descriptors: every "{user}" in a string or bytes
 * field, and every numeric field (packed or not) holding the sentinel,
 * becomes a slot; the length prefixes enclosing a slot are recomputed per
 * user. `numeric` is what lg_template_text counted: finding a different
 * number of sentinels is an error (a literal 1879048192 in the data, or
 * {user} where no number can go). Copies msg. Returns 0, LG_EINVAL (err
 * says why), LG_ENOENT (type not in d), LG_EPROTO or LG_ENOMEM. */
int lg_template_new(const uint8_t *msg, size_t len, const lg_descriptors *d,
                    const char *type, unsigned numeric, lg_template **out,
                    char *err, size_t errlen);
void lg_template_free(lg_template *t);
/* Slots in the template (0: every user sends the same bytes). */
unsigned lg_template_slots(const lg_template *t);
/* Size of the message rendered for `user`. */
size_t lg_template_size(const lg_template *t, uint32_t user);
/* Renders the message for `user` into out. Returns its size, or 0 when
 * cap is too small (sizes are never 0: see lg_template_size; an empty
 * message renders 0 bytes and needs no buffer). */
size_t lg_template_render(const lg_template *t, uint32_t user, uint8_t *out,
                          size_t cap);

/* ---- grpc.c: metadata, response headers, status names ---------------- */

#define LG_MAX_METADATA 32
#define LG_METADATA_BYTES 8192 /* names and values together */

/* Request metadata from -H 'name: value'. Names are lower-cased (HTTP/2
 * requires it; gRPC keys are case-insensitive). */
typedef struct {
  unsigned n;
  char *name[LG_MAX_METADATA]; /* owned */
  char *value[LG_MAX_METADATA];
  size_t bytes;
} lg_metadata;

/* Adds one "name: value". The name must be an HTTP token of lower-case
 * letters, digits and -_. (upper case is lowered), not a pseudo-header, not
 * one HTTP/2 forbids (connection, keep-alive, proxy-connection,
 * transfer-encoding, upgrade, host, te) nor one loadgen or gRPC owns
 * (content-type, user-agent, grpc-*); the value printable ASCII (spaces
 * trimmed at both ends). Returns 0, LG_EINVAL (err says which rule) or
 * LG_ENOMEM. */
int lg_metadata_add(lg_metadata *m, const char *spec, char *err, size_t errlen);
/* Adds each entry of a ';'-separated list (the make knob HEADERS). */
int lg_metadata_add_list(lg_metadata *m, const char *list, char *err,
                         size_t errlen);
void lg_metadata_free(lg_metadata *m);

typedef enum {
  LG_HDR_OTHER,
  LG_HDR_STATUS,      /* :status */
  LG_HDR_GRPC_STATUS, /* grpc-status */
  LG_HDR_GRPC_MESSAGE /* grpc-message */
} lg_hdr_kind;

/* Classifies a response header. For :status and grpc-status, *code gets
 * the value: 1 to 3 digits (grpc-status 0..99, :status 100..999), or -2
 * when it is anything else, which callers treat as a protocol error rather
 * than a status. */
lg_hdr_kind lg_grpc_header(const uint8_t *name, size_t namelen,
                           const uint8_t *value, size_t valuelen, int *code);
/* grpc-message is percent-encoded (gRPC over HTTP/2): decodes it into out,
 * NUL-terminated, bytes outside printable ASCII shown as '?'. */
void lg_grpc_message_decode(const uint8_t *v, size_t n, char *out, size_t size);

#define LG_GRPC_CODES 17 /* OK (0) .. UNAUTHENTICATED (16) */
/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "UNKNOWN_STATUS" beyond. */
const char *lg_grpc_status_name(int code);

/* ---- histogram.c ----------------------------------------------------- */

/* Log-linear histogram of microseconds: exact below 128, then 64 linear
 * sub-buckets per power of two (relative error under 1.6%), up to 2^40 us
 * (12 days); larger values land in the last bucket. Not thread-safe: one
 * writer, merged after the writers stop. Two histograms with the same
 * layout (LG_HIST_LAYOUT and these constants, in the JSON) add bucket by
 * bucket, exactly. */
#define LG_HIST_SUB_BITS 7
#define LG_HIST_MAX_EXP 40
#define LG_HIST_BUCKETS                                                        \
  ((1u << LG_HIST_SUB_BITS) +                                                  \
   (LG_HIST_MAX_EXP - LG_HIST_SUB_BITS + 1) * (1u << (LG_HIST_SUB_BITS - 1)))
#define LG_HIST_LAYOUT "loadgen-log-linear"

typedef struct {
  uint64_t count;
  uint64_t max;
  uint64_t min;
  uint64_t sum;
  uint32_t counts[LG_HIST_BUCKETS];
} lg_histogram;

void lg_hist_init(lg_histogram *h);
void lg_hist_record(lg_histogram *h, uint64_t us);
void lg_hist_merge(lg_histogram *dst, const lg_histogram *src);
/* Value at quantile q in [0,1]: the highest value of the bucket holding it,
 * clipped to the maximum recorded. 0 when empty. */
uint64_t lg_hist_quantile(const lg_histogram *h, double q);
/* Bucket index of a value, and the highest value a bucket holds. */
unsigned lg_hist_index(uint64_t us);
uint64_t lg_hist_bucket_high(unsigned idx);

/* ---- ramp.c ---------------------------------------------------------- */

/* Token bucket: rate tokens per second, at most burst saved up. rate 0 means
 * unlimited. Times are monotonic nanoseconds. */
typedef struct {
  double rate;
  double burst;
  double tokens;
  uint64_t last_ns;
} lg_ramp;

void lg_ramp_init(lg_ramp *r, double rate, double burst, uint64_t now_ns);
/* Takes up to want tokens; returns how many were granted. */
uint64_t lg_ramp_take(lg_ramp *r, uint64_t now_ns, uint64_t want);
/* Nanoseconds until one token is available (0 if one is). */
uint64_t lg_ramp_wait_ns(const lg_ramp *r, uint64_t now_ns);
/* Reconnect backoff for the attempt-th consecutive failure (0-based):
 * exponential from base_ns, capped at max_ns, with "equal jitter" (half fixed,
 * half random from rnd) so that a thousand users dropped together do not come
 * back together. */
uint64_t lg_backoff_ns(unsigned attempt, uint64_t base_ns, uint64_t max_ns,
                       uint32_t rnd);

/* ---- pacer.c: unary calls at a constant rate -------------------------- */

/* The open model (wrk2's): call g of the run is due at start + g / rate,
 * whatever happened to the calls before it, and its latency counts from
 * then, so a server that stalls is charged for every call it delayed
 * (no coordinated omission). Worker `index` of `stride` takes calls index,
 * index + stride, ...; due times are computed from g, never accumulated,
 * so they do not drift over millions of calls. */
#define LG_PACER_FOREVER UINT64_MAX

typedef struct {
  double ns_per_call; /* 1e9 / rate */
  uint64_t start_ns;
  uint64_t index;
  uint64_t stride;
  uint64_t count; /* this worker's calls, LG_PACER_FOREVER: no end */
  uint64_t next;  /* the next of them to start */
} lg_pacer;

/* total: calls in the whole run (all workers), or LG_PACER_FOREVER. */
void lg_pacer_init(lg_pacer *p, double rate, uint64_t total, uint32_t index,
                   uint32_t stride, uint64_t start_ns);
/* When this worker's k-th call is due (monotonic ns). */
uint64_t lg_pacer_due_ns(const lg_pacer *p, uint64_t k);
/* True when the next call is due by now_ns (*due_ns gets its due time). */
bool lg_pacer_ready(const lg_pacer *p, uint64_t now_ns, uint64_t *due_ns);
/* The next call has been started. */
void lg_pacer_advance(lg_pacer *p);
/* Nanoseconds until the next call is due (0 if it is); UINT64_MAX when
 * every call has been started. */
uint64_t lg_pacer_wait_ns(const lg_pacer *p, uint64_t now_ns);
/* How long the worker sleeps before its next batch: the milliseconds to
 * the next due call, rounded up, and at least 1 (a call that fell due
 * while the last batch was going out waits for the next tick with the ones
 * due by then, instead of a wake and a write of its own); UINT64_MAX when
 * every call has been started. */
uint64_t lg_pacer_sleep_ms(const lg_pacer *p, uint64_t now_ns);
/* This worker's calls due before stop_ns (at most count). */
uint64_t lg_pacer_due_before(const lg_pacer *p, uint64_t stop_ns);

/* ---- options.c ------------------------------------------------------- */

#define LG_MAX_IMPORT_PATHS 16
#define LG_HOLD_FOREVER UINT64_MAX

typedef struct lg_call_spec lg_call_spec;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX, for the workers */

typedef struct {
  const char *target; /* host:port as given */
  char host[256];
  char port[8];
  uint32_t streams; /* users */
  uint32_t streams_per_conn;
  double rate;                 /* new users per second, 0 = unlimited */
  uint64_t hold_ns;            /* how long all users stay connected */
  uint64_t ramp_timeout_ns;    /* connect phase budget beyond streams/rate */
  uint64_t connect_timeout_ns; /* one TCP connect + TLS + HTTP/2 preface */
  uint64_t publish_timeout_ns;
  uint64_t drain_timeout_ns;
  uint64_t settle_ns;    /* pause before plateau/drained snapshots */
  uint32_t publish;      /* broadcasts to send */
  uint32_t payload_size; /* bytes per broadcast payload */
  uint32_t max_message;  /* message size cap */
  uint32_t threads;
  uint32_t max_pending;  /* connects in flight per thread */
  uint32_t source_addrs; /* 127.0.0.x addresses to spread over; 0 = auto */
  bool reconnect;
  bool quiet;
  bool check;       /* --check: validate everything, run nothing */
  bool check_flags; /* --check-flags: all but this machine's part (the
                       target's name, open files, source addresses) */
  const char *json_path;
  const char *snapshot_url;
  const char *snapshot_dir;
  const char *user_prefix;
  /* the method */
  const char *call; /* NULL: the notifier's */
  const char *proto;
  const char *protoset;
  const char *import_paths[LG_MAX_IMPORT_PATHS];
  size_t nimport_paths;
  const char *data;
  const char *data_file;
  uint32_t latency_field; /* 0: none */
  bool latency_field_set;
  /* unary load */
  double rps;
  uint64_t duration_ns; /* 0: --hold's; LG_HOLD_FOREVER */
  bool duration_set;
  uint32_t concurrency; /* calls in flight, all threads */
  uint64_t call_timeout_ns;
  double max_errors_pct; /* < 0: every call must succeed */
  /* metadata and TLS */
  lg_metadata metadata;
  bool tls;
  const char *cacert;
  bool insecure;
  const char *server_name;
  /* the run folder */
  const char *run_dir;
  const char *run_mode;    /* native, docker, external */
  const char *run_service; /* the command or image the harness started */
  const char *users_var;
  const char *debug_url; /* the debug server as its user reaches it */
  uint64_t vars_interval_ns;
  /* shards: several loadgen processes, one run (shard.c) */
  uint32_t shard_index;
  uint32_t shard_count;      /* 1: not sharded, unless run_id is set */
  bool coordinate;           /* --coordinate: this process runs no users */
  const char *run_id;        /* shared by every shard of a run; NULL when
                                this process is the whole run */
  uint64_t shard_timeout_ns; /* a silent shard or coordinator fails the run */
  uint32_t streams_total;    /* --streams: every shard's users together */
  uint32_t user_first;       /* this shard's first user number */
  uint32_t source_first;     /* its source addresses: 127.0.0.(1 + this)... */
  /* derived */
  uint32_t conns;
  struct sockaddr_storage addr; /* resolved target */
  socklen_t addrlen;
  char authority[300]; /* :authority, host:port */
  char sni[256];       /* the name verified and sent as SNI */
  char json_buf[4096]; /* --run-dir's loadgen.json */
  lg_call_spec *spec;  /* the method and its request (call.c) */
  struct ssl_ctx_st *tls_ctx;
} lg_options;

/* A decimal number in [min, max] (no sign) into *out. Returns 0 or
 * LG_EINVAL. */
int lg_options_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* Writes the message into err and returns LG_EINVAL: a refused flag. */
int lg_options_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parses argv into o. On a bad flag writes a message to err and returns
 * LG_EINVAL; returns 1 when --help or --version was printed. Free with
 * lg_options_free. */
int lg_options_parse(lg_options *o, int argc, char **argv, char *err,
                     size_t errlen);
void lg_options_free(lg_options *o);
void lg_options_usage(FILE *f);
/* True when the method is unary (after lg_call_prepare). */
bool lg_options_unary(const lg_options *o);
/* Source addresses needed for conns connections with ports_per_addr
 * ephemeral ports each (127.0.0.1 first). */
uint32_t lg_plan_source_addrs(uint32_t conns, uint32_t ports_per_addr);
/* Checks that conns connections fit the open-file limit nofile (with
 * reserve descriptors for everything else). Returns 0, or LG_EINVAL with
 * advice in err. */
int lg_plan_check_files(uint32_t streams, uint32_t per_conn, uint64_t nofile,
                        char *err, size_t errlen);
#define LG_FD_RESERVE 64

/* ---- shard.c: one run over several processes ------------------------- */

#define LG_SHARD_MAX 1000
#define LG_RUN_ID_MAX 64
/* 127.0.0.1 .. 127.0.0.254: the source addresses a host's shards share. */
#define LG_SOURCE_ADDRS_MAX 254

/* What names this process's shard: the flags as given (NULL when absent)
 * and the environment (NULL or "" when unset). */
typedef struct {
  const char *index_flag, *count_flag, *run_id_flag;
  const char *index_env;  /* JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) */
  const char *count_env;  /* NPROF_SHARD_COUNT */
  const char *run_id_env; /* NPROF_RUN_ID */
} lg_shard_env;

/* Users [*first, *first + *n) of `total` are shard `index` of `count`'s:
 * index*total/count .. (index+1)*total/count - 1. */
void lg_shard_users(uint32_t total, uint32_t index, uint32_t count,
                    uint32_t *first, uint32_t *n);
/* Settles shard_index, shard_count, run_id, streams_total and user_first
 * from the flags and the environment (`in`), after the other flags are
 * parsed, and takes this shard's share of --streams, --rate, --rps and
 * --concurrency. Refuses a half-given pair, an index not below the count,
 * a flag the environment contradicts, more shards than users, a sharded
 * run without a run id, snapshots on a shard, and a coordinator without a
 * count or a --run-dir. Shard 0 of 1 is the whole run (run_id NULL), as
 * one process always was, unless a run id is given. Returns 0 or
 * LG_EINVAL (err says why). */
int lg_shard_resolve(lg_options *o, const lg_shard_env *in, char *err,
                     size_t errlen);
/* 1..LG_RUN_ID_MAX of [A-Za-z0-9._-]: safe in a file and in a YAML. */
bool lg_shard_run_id_valid(const char *id);
/* Gives a shard on a loopback target its own range of source addresses:
 * --source-addrs each (or what the largest shard needs at ports_per_addr
 * ephemeral ports an address), shard I from 127.0.0.(1 + I * that).
 * Returns 0, or LG_EINVAL when the ranges pass 127.0.0.254. */
int lg_shard_source_plan(lg_options *o, uint32_t ports_per_addr, char *err,
                         size_t errlen);

/* ---- call.c: the method and its request ------------------------------ */

struct lg_call_spec {
  lg_descriptors *desc;
  lg_method method;
  char path[512];         /* "/pkg.Service/Method" */
  lg_template *tmpl;      /* the request */
  size_t body_max;        /* largest rendered request, prefix included */
  bool unary;             /* else server streaming */
  bool notifier;          /* the notifier's Connect: Publish applies */
  uint32_t latency_field; /* unix-nanos field of the response, 0: none */
  uint32_t tag_field;     /* field carrying the broadcast tag, 0: none */
};

/* Reads the descriptors (built in, --protoset or protoc over --proto),
 * finds the method, checks --latency-field against its response type,
 * and builds the request template from --data / --data-file (through
 * protoc --encode) or the notifier's built-in request. Sets o->spec.
 * Returns 0 or a negative code with the reason in err. */
int lg_call_prepare(lg_options *o, char *err, size_t errlen);
void lg_call_free(lg_call_spec *s);

/* ---- error causes ----------------------------------------------------- */

typedef enum {
  LG_CAUSE_REFUSED, /* TCP connect refused */
  LG_CAUSE_CONNECT, /* other connect error */
  LG_CAUSE_CONNECT_TIMEOUT,
  LG_CAUSE_TLS,         /* TLS handshake failed (certificate, ALPN, ...) */
  LG_CAUSE_CONN_CLOSED, /* peer closed or reset the TCP connection */
  LG_CAUSE_PROTOCOL,    /* HTTP/2 or gRPC framing error */
  LG_CAUSE_GOAWAY,      /* stream refused or lost after GOAWAY */
  LG_CAUSE_RESET,       /* RST_STREAM from the server */
  LG_CAUSE_HTTP_STATUS, /* :status other than 200 */
  LG_CAUSE_GRPC_STATUS, /* grpc-status other than 0 (named in grpc_codes) */
  LG_CAUSE_ENDED,       /* the server ended the stream with status 0 */
  LG_CAUSE_TIMEOUT,     /* not established when the phase ended */
  LG_CAUSE_BAD_MESSAGE, /* undecodable or oversized message, or none */
  LG_CAUSE_DEADLINE,    /* a unary call unanswered within --call-timeout */
  LG_CAUSE_COUNT
} lg_cause;

const char *lg_cause_name(lg_cause c);

/* ---- worker.c / conn.c ----------------------------------------------- */

typedef struct lg_worker lg_worker;

/* What the main thread reads while a worker runs: relaxed atomics, since
 * they only feed the progress line, the timeline and the phase decisions
 * (fatal is the exception: see lg_worker_fatal). */
typedef struct {
  atomic_uint_fast64_t established;       /* users connected right now */
  atomic_uint_fast64_t established_total; /* establishments, incl. retries */
  atomic_uint_fast64_t failures;          /* failure events */
  atomic_uint_fast64_t messages;          /* response messages received */
  atomic_uint_fast64_t bytes;             /* their bytes (no prefix) */
  atomic_uint_fast64_t bad_latency;       /* latency field in the future */
  atomic_uint_fast64_t calls_sent;        /* unary calls started */
  atomic_uint_fast64_t calls_ok;
  atomic_uint_fast64_t calls_failed;
  atomic_uint_fast64_t calls_scheduled; /* set when the calls stop */
  atomic_uint_fast64_t errors[LG_CAUSE_COUNT];
  atomic_uint_fast64_t grpc_codes[LG_GRPC_CODES + 1]; /* last: beyond 16 */
  atomic_bool calls_done; /* every scheduled call has finished */
  atomic_bool fatal;      /* a failure no retry can mend (lg_worker_fatal) */
  atomic_bool done;       /* the worker's loop has ended */
} lg_counters;

/* Creates a worker for connections [first, first + n) of the plan. Returns
 * NULL on allocation failure. */
lg_worker *lg_worker_new(const lg_options *o, unsigned id, uint32_t first_conn,
                         uint32_t nconns);
/* Starts the thread. Returns 0 or a negative errno. */
int lg_worker_start(lg_worker *w);
/* Unary methods: start the calls, due from start_ns (monotonic) at
 * o->rps / threads each, `total` over all workers (LG_PACER_FOREVER: until
 * lg_worker_stop_calls). Thread-safe. */
void lg_worker_start_calls(lg_worker *w, uint64_t start_ns, uint64_t total);
/* Starts no more calls; those in flight finish (calls_done is set once
 * they have). stop_ns: calls due after it were never owed. Thread-safe. */
void lg_worker_stop_calls(lg_worker *w, uint64_t stop_ns);
/* Asks the worker to close its streams and connections and end. Thread-safe. */
void lg_worker_drain(lg_worker *w);
/* Joins with a deadline (CLOCK_REALTIME absolute ns). Returns 0, or
 * -ETIMEDOUT (the thread is left running; the process must exit). */
int lg_worker_join(lg_worker *w, uint64_t deadline_realtime_ns);
lg_counters *lg_worker_counters(lg_worker *w);
/* The message of a fatal failure (a certificate that does not verify):
 * valid once counters.fatal reads true (acquire), "" before. */
const char *lg_worker_fatal(lg_worker *w);
/* Histograms: read only after a successful join. */
const lg_histogram *lg_worker_connect_hist(const lg_worker *w);
const lg_histogram *lg_worker_delivery_hist(const lg_worker *w);
const lg_histogram *lg_worker_broadcast_hist(const lg_worker *w);
const lg_histogram *lg_worker_call_hist(const lg_worker *w);
/* The last grpc-message / error detail seen, for the summary ("" if none).
 * Read only after join. */
const char *lg_worker_last_detail(const lg_worker *w);
/* Fewest and most messages over the streams held at the end of the
 * hold. Read only after join. */
void lg_worker_message_range(const lg_worker *w, uint32_t *lo, uint32_t *hi);
void lg_worker_free(lg_worker *w);

/* ---- publish.c ------------------------------------------------------- */

typedef struct {
  uint32_t sent;
  uint32_t ok;        /* replies with grpc-status 0 */
  uint32_t awaited;   /* broadcasts whose delivery the wait callback saw */
  uint64_t delivered; /* sum of PublishReply.delivered */
  char error[160];    /* first failure, "" if none */
} lg_publish_result;

/* Called after the reply to broadcast seq (0-based) has arrived: waits until
 * every held stream has received it, or until deadline_ns (monotonic).
 * Returns true when it was delivered, false to stop publishing. */
typedef bool (*lg_publish_wait_cb)(void *ud, uint32_t seq,
                                   uint64_t deadline_ns);

/* Sends n broadcasts (empty user_id) to the target over one HTTP/2
 * connection, one at a time: each payload carries a broadcast tag stamped
 * just before its request is written, and the next is sent only when the
 * reply has come and wait (if not NULL) has returned true, so that every
 * broadcast's latency is its own and not the queueing behind the previous
 * one. Everything ends by deadline_ns (monotonic). Plaintext only (the
 * notifier's). Returns 0 when every call returned grpc-status 0 and was
 * delivered. */
int lg_publish_run(const lg_options *o, uint32_t n, uint64_t deadline_ns,
                   lg_publish_wait_cb wait, void *ud, lg_publish_result *res);

/* The pacing of broadcasts by what the receivers count: broadcast seq has
 * reached every held stream once held * (seq + 1) messages have arrived
 * since `base`. The wait only paces the broadcasts (each one's latency is
 * measured on arrival), so polling every poll_ns costs no accuracy. */
typedef struct {
  uint64_t (*messages)(void *ud); /* received so far, every stream */
  bool (*poll)(void *ud);         /* each poll: false to give up */
  void *ud;
  uint64_t base; /* messages received before the first broadcast */
  uint64_t held; /* streams held when publishing began */
  uint64_t poll_ns;
} lg_publish_pace;

/* lg_publish_wait_cb over an lg_publish_pace (ud). */
bool lg_publish_delivered(void *ud, uint32_t seq, uint64_t deadline_ns);

/* ---- snapshot.c ------------------------------------------------------ */

typedef struct {
  unsigned fetched;
  unsigned failed;  /* required profiles that could not be fetched */
  unsigned missing; /* optional ones the server does not have */
  char error[200];
} lg_snapshot_result;

/* Fetches the heap and goroutine profiles (protobuf and text) and
 * /debug/vars from base_url into dir as <phase>.<profile>.<ext>, each
 * written to a temporary file and renamed. Every request is bounded by
 * timeout_ms. Returns 0 when the required profiles were saved. */
int lg_snapshot_take(const char *base_url, const char *dir, const char *phase,
                     long timeout_ms, lg_snapshot_result *res);

/* ---- timeline.c ------------------------------------------------------ */

/* The phases a timeline line names (contracts: timeline.jsonl). */
typedef enum {
  LG_TL_BASELINE,
  LG_TL_RAMP,
  LG_TL_PLATEAU,
  LG_TL_HOLD,
  LG_TL_DRAIN,
  LG_TL_DRAINED,
  LG_TL_COUNT
} lg_tl_phase;

const char *lg_tl_phase_name(lg_tl_phase p);

/* The loadgen's side of one sample. */
typedef struct {
  lg_tl_phase phase;
  uint64_t connected;
  uint64_t established_total;
  uint64_t messages;
  uint64_t errors;
  uint64_t client_rss_bytes;
} lg_tl_sample;

/* Fills a sample; called on the sampler's thread, so it may only read what
 * is safe to read from any thread (relaxed atomics). */
typedef void (*lg_tl_source)(void *ud, lg_tl_sample *s);

typedef struct lg_timeline lg_timeline;

/* Starts a thread that every interval_ns fetches vars_url (NULL: no
 * service to sample; "vars" is then null) and asks `source` for the
 * loadgen's counters, appending one line to path (created or truncated),
 * written whole with one write(2) so a reader never sees half a line but
 * at the end of a crash. One fetch at a time, each bounded by
 * max(interval, 1s) capped at 5 s: a slow or dead debug server makes
 * samples late or null, never piles requests up, and never touches the
 * event loops. Returns 0 or a negative errno (the file, the thread). */
int lg_timeline_start(lg_timeline **out, const char *path, const char *vars_url,
                      uint64_t interval_ns, lg_tl_source source, void *ud);
/* Takes one last sample, stops the thread and closes the file. Returns the
 * number of lines written. NULL is a no-op. */
unsigned lg_timeline_stop(lg_timeline *t);
/* One line of timeline.jsonl (no newline) into f: t, phase, vars (the
 * served JSON compacted to one line, or null when vars is NULL or is not a
 * JSON object), loadgen. Returns 0, or LG_EPROTO when vars was given but is
 * not a JSON object (null is written then). */
int lg_timeline_line(FILE *f, double t, const lg_tl_sample *s, const char *vars,
                     size_t vars_len);

/* ---- barrier.c: the processes of a sharded run in step --------------- */

/* What a process of a sharded run says it is doing (see barrier.c). */
typedef enum {
  LG_BAR_START,     /* shard: waiting to connect; coordinator: baseline */
  LG_BAR_RAMP,      /* connecting; coordinator: shards may connect */
  LG_BAR_CONNECTED, /* shard: its ramp is over ("failed" if not all up) */
  LG_BAR_CALLS,     /* unary calls under way (coordinator: start them) */
  LG_BAR_HOLD,      /* coordinator: the plateau and hold of the streams */
  LG_BAR_DRAIN,     /* draining (coordinator: drain now) */
  LG_BAR_DONE,      /* finished; a shard's result is written */
  LG_BAR_ABORT,     /* coordinator: the run failed (reason): drain now */
  LG_BAR_COUNT
} lg_bar_state;

/* The heartbeat's ceiling; shorter for a short --shard-timeout. */
#define LG_BAR_BEAT_NS 250000000ull

const char *lg_bar_state_name(lg_bar_state s);

/* One state file. */
typedef struct {
  char run_id[LG_RUN_ID_MAX + 1];
  int32_t index;  /* the shard's, -1 for the coordinator */
  uint32_t count; /* shards in the run */
  uint64_t seq;   /* the heartbeat: rises with every write */
  lg_bar_state state;
  bool failed; /* the shard's goal is already missed (reason says why) */
  char reason[200];
  uint64_t users; /* the shard's users */
  lg_tl_sample s; /* its counters (phase unused) */
} lg_bar_record;

/* Writes r as one line of JSON. */
void lg_bar_record_write(FILE *f, const lg_bar_record *r);
/* Parses what lg_bar_record_write wrote (at most 64 KiB, one JSON object
 * with every member of the right type). Returns 0 with *out set, or
 * LG_EPROTO (LG_ENOMEM); *out untouched then. */
int lg_bar_record_parse(const char *text, size_t len, lg_bar_record *out);

typedef struct lg_barrier lg_barrier;

/* A peer as this process last read it. */
typedef struct {
  bool seen;          /* a state of this run has been read */
  lg_bar_record rec;  /* the last one read */
  uint64_t silent_ns; /* since its seq last changed (or the barrier began) */
  bool dead;          /* silent for the timeout and not finished */
  char problem[240];  /* its file is unreadable or another run's */
} lg_bar_peer;

/* Starts beating: a thread writes `mine` (a new seq each time, the
 * counters from `source` for a shard; NULL for the coordinator) into
 * DIR's state file for mine->index every min(timeout/8, 250 ms), and reads
 * the peers: a coordinator (index -1) every shard's, a shard the
 * coordinator's. Returns 0, LG_ENOMEM or a negative errno (the thread). */
int lg_barrier_start(lg_barrier **out, const char *dir,
                     const lg_bar_record *mine, uint64_t timeout_ns,
                     lg_tl_source source, void *ud);
/* Says a new state (written at once); `failed` sticks, the first non-empty
 * reason stays. Thread-safe. */
void lg_barrier_say(lg_barrier *b, lg_bar_state state, bool failed,
                    const char *reason);
/* Peer i: a coordinator's shard i, a shard's coordinator (i = 0). */
void lg_barrier_peer(lg_barrier *b, unsigned i, lg_bar_peer *out);
/* The coordinator's view of the shards' counters, summed. */
void lg_barrier_sum(lg_barrier *b, lg_tl_sample *out);
/* How many state writes failed, the first one's error into buf. */
unsigned lg_barrier_write_errors(lg_barrier *b, char *buf, size_t size);
/* Writes the last state, stops the thread, frees. NULL is a no-op. */
void lg_barrier_stop(lg_barrier *b);

/* ---- report.c -------------------------------------------------------- */

enum {
  LG_PHASE_START,
  LG_PHASE_BASELINE,
  LG_PHASE_CONNECT,
  LG_PHASE_PLATEAU,
  LG_PHASE_PUBLISHED,
  LG_PHASE_HOLD_END,
  LG_PHASE_DRAINED,
  LG_PHASE_END,
  LG_PHASE_COUNT
};

typedef struct {
  const lg_options *o;
  uint64_t phase_unix_ns[LG_PHASE_COUNT]; /* 0 = phase not reached */
  uint64_t established;                   /* at the end of the hold */
  uint64_t established_peak;
  uint64_t established_total;
  uint64_t failures;
  uint64_t messages;
  uint64_t bytes;
  uint64_t notifications_expected;
  uint64_t bad_latency;
  uint32_t messages_min; /* per held stream */
  uint32_t messages_max;
  uint64_t errors[LG_CAUSE_COUNT];
  uint64_t grpc_codes[LG_GRPC_CODES + 1];
  uint64_t calls_scheduled;
  uint64_t calls_sent;
  uint64_t calls_ok;
  uint64_t calls_failed;
  double calls_seconds; /* first call due to last one finished */
  lg_histogram connect;
  lg_histogram delivery;
  lg_histogram broadcast; /* Publish written -> arrival, every stream */
  lg_histogram call;      /* unary: intended start -> OK response */
  double connect_seconds; /* first connect to last establishment */
  uint64_t rss_baseline_kib;
  uint64_t rss_plateau_kib;
  lg_publish_result publish;
  unsigned snapshots_fetched;
  unsigned snapshots_failed;
  unsigned timeline_samples;
  bool ok;
  char reason[256];
  char detail[160];
} lg_result;

/* Monotonic and wall clocks in nanoseconds. */
uint64_t lg_now_ns(void);
uint64_t lg_unix_ns(void);
/* VmRSS of this process in KiB, 0 if unknown. Safe from any thread. */
uint64_t lg_rss_kib(void);
/* Whether the live progress line is due at `now`: never when quiet; every
 * 250 ms on a terminal (redrawn in place), every 2 s in a log, always when
 * final. Stamps *last_ns when it is. */
bool lg_progress_due(bool quiet, bool tty, uint64_t *last_ns, uint64_t now,
                     bool final);
void lg_report_summary(FILE *f, const lg_result *r);
/* Writes the result as JSON to path atomically. Returns 0 or -errno. */
int lg_report_json(const char *path, const lg_result *r);
/* Writes the JSON to f (tests). */
void lg_report_json_write(FILE *f, const lg_result *r);
/* "start", "baseline", ... "end": the names of the LG_PHASE_* marks. */
const char *lg_phase_name(int phase);
/* The marks reached, as the JSON member "phases" (no trailing comma). */
void lg_report_phases(FILE *f, const lg_result *r);

/* snapshot.c, with a result: marks phase `phase_idx` (LG_PHASE_*) in r and,
 * when o->snapshot_url is set, takes its snapshot into o->snapshot_dir, its
 * files named by lg_phase_name, counted in r (the first failure becomes
 * r->reason). */
void lg_snapshot_phase(const lg_options *o, lg_result *r, int phase_idx);

/* ---- coordinate.c: loadgen --coordinate ------------------------------ */

/* Runs a sharded run's phases for its shards (see coordinate.c) until it
 * ends or *interrupted is set by a signal (the hold's end when forever).
 * Returns the exit status: 0 when every shard and snapshot did its part,
 * 1 when not. */
int lg_coordinate(lg_options *o, volatile sig_atomic_t *interrupted);

/* ---- run.c: run.json ------------------------------------------------- */

/* Writes the run's parameters (contracts: run.json) into f. started is
 * unix seconds. */
void lg_run_json_write(FILE *f, const lg_options *o, uint64_t started_unix);
/* The same, atomically into DIR/run.json. Returns 0 or -errno. */
int lg_run_json(const char *dir, const lg_options *o, uint64_t started_unix);
/* Begins the run folder o->run_dir: the folder, run.json, and the
 * timeline sampling o->snapshot_url's /debug/vars (none without one) and
 * `source`. Returns 0, or a negative errno said on stderr. */
int lg_run_begin(const lg_options *o, uint64_t started_unix,
                 lg_tl_source source, void *ud, lg_timeline **tl);

#endif
