/*
 * notifier-sim internals, shared across its modules. Prefix: ntf_.
 *
 *   config.c    flags and NOTIFIER_* environment variables -> ntf_config
 *   validate.c  decoding and checking requests that arrive from the network
 *   note.c      a published notification, shared by every stream it goes to
 *   queue.c     the bounded per-stream queue (slow-consumer policy)
 *   stream.c    one Connect call's delivery state, independent of gRPC
 *   registry.c  users -> streams, and the set of all streams for broadcast
 *   fanout.c    the threads that queue a notification to its streams
 *   stats.c     counters, published to /debug/vars through libnprof
 *   server.c    gRPC core: completion queues, workers, per-call state machines
 *   main.c      startup, signals, ticks, shutdown
 *
 * Only server.c, stats.c and main.c know gRPC or libnprof: the modules above
 * them are unit-tested without either.
 */
#ifndef NTF_INTERNAL_H
#define NTF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "npc.h"

/* Error codes: 0 is success, failures are negative. ntf_strerror() turns
 * them into words. */
typedef enum ntf_error {
  NTF_EINVAL = -1,  /* malformed argument or input */
  NTF_ENOMEM = -2,  /* out of memory */
  NTF_EFULL = -3,   /* --max-streams reached */
  NTF_ECLOSED = -4, /* the stream or service is closed */
  NTF_ESYSTEM = -5, /* a system call failed */
  NTF_EGRPC = -6    /* gRPC core refused an operation */
} ntf_error;

const char *ntf_strerror(int err);

/* Log one line to stderr with a UTC timestamp. One line per lifecycle event,
 * never per message. */
void ntf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- config.c --- */

#define NTF_USER_ID_MAX 256        /* bytes in a user_id */
#define NTF_PAYLOAD_MAX (1u << 20) /* bytes in a published payload */

typedef enum ntf_mode { NTF_MODE_DEV, NTF_MODE_PROD } ntf_mode;

typedef struct ntf_config {
  char grpc_addr[256];
  char debug_addr[256];
  ntf_mode mode;
  int threads;              /* completion-queue worker threads */
  int fanout_threads;       /* fan-out helper threads; -1: as threads */
  int64_t tick_interval_ms; /* 0: no periodic broadcast */
  long max_streams;         /* 0: unlimited */
  int queue_depth;          /* notifications queued per stream */
  int64_t keepalive_time_ms;
  int64_t keepalive_timeout_ms;
  int64_t min_ping_interval_ms; /* shortest client ping interval allowed */
  bool quiet;                   /* no per-stream lifecycle lines */
} ntf_config;

/* Fills `cfg` with the defaults. */
void ntf_config_defaults(ntf_config *cfg);

/* Applies NOTIFIER_* variables through `getenv_fn` (getenv in the program,
 * a fake in tests), then the flags in argv[1..argc-1], flags winning.
 * Returns 0, 1 when --help was asked (usage printed to `out`), or NTF_EINVAL
 * with one line describing the problem written to `err_buf`. */
int ntf_config_parse(ntf_config *cfg, int argc, char **argv,
                     const char *(*getenv_fn)(const char *name), char *err_buf,
                     size_t err_len);

/* Parses a duration in the project's one syntax (npc_duration_parse: "250ms",
 * "2s", "1m30s"; a bare number other than 0 is refused) into milliseconds.
 * Returns 0 or NTF_EINVAL (also below 1 ms but not 0); leaves *ms untouched
 * on failure. */
int ntf_parse_duration_ms(const char *s, int64_t *ms);

/* Prints the usage text. */
void ntf_config_usage(void *file);

/* --- validate.c --- */

/* The largest request message accepted: a payload plus its envelope. gRPC
 * core enforces it (GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH) before
 * ntf_request_decode() sees a byte, which checks it again. */
#define NTF_REQUEST_MAX (NTF_PAYLOAD_MAX + NTF_USER_ID_MAX + 64)

/* A user id from the network: at most NTF_USER_ID_MAX bytes of valid UTF-8
 * without control characters (empty passes: callers decide what "" means).
 * Returns 0 or NTF_EINVAL. */
int ntf_user_id_check(const char *id, size_t len);

typedef enum ntf_request_kind {
  NTF_REQUEST_CONNECT, /* notifier.ConnectRequest */
  NTF_REQUEST_PUBLISH  /* notifier.PublishRequest */
} ntf_request_kind;

/* A request decoded from the wire whose fields passed the checks below.
 * `user_id` and `payload` point into `msg`, the protobuf-c message, which
 * the request owns until ntf_request_free(). */
typedef struct ntf_request {
  const char *user_id; /* NUL-terminated, no NUL before user_id_len */
  size_t user_id_len;
  const uint8_t *payload; /* Publish only; NULL when empty */
  size_t payload_len;
  void *msg;
} ntf_request;

/* Decodes a ConnectRequest or PublishRequest of `len` bytes (at most
 * NTF_REQUEST_MAX) and checks it: user_id passes ntf_user_id_check(), is
 * what was on the wire byte for byte (protobuf-c hands strings over as C
 * strings, which would cut "bob\0x" to "bob"), and is not empty for
 * Connect; a Publish payload is at most NTF_PAYLOAD_MAX bytes.
 * Returns 0 with *out filled, or NTF_EINVAL with *why set to a static
 * sentence for the gRPC status message and *out untouched. Malformed input
 * and protobuf-c running out of memory are both NTF_EINVAL ("undecodable"):
 * protobuf-c does not tell them apart. */
int ntf_request_decode(ntf_request_kind kind, const uint8_t *buf, size_t len,
                       ntf_request *out, const char **why);
/* Frees what ntf_request_decode() allocated. A freed or zeroed request is a
 * no-op. */
void ntf_request_free(ntf_request *r);

/* --- note.c --- */

/* A published notification. Immutable once created; reference counted
 * because one note sits in many streams' queues at once. */
typedef struct ntf_note {
  atomic_uint refs;
  uint64_t id;
  int64_t publish_mono_ns; /* when Publish asked for it (latency stats) */
  size_t len;
  uint8_t payload[];
} ntf_note;

/* Copies `payload`. Returns the note with one reference, or NULL when out of
 * memory. */
ntf_note *ntf_note_new(uint64_t id, const void *payload, size_t len);
void ntf_note_ref(ntf_note *n);
/* Drops a reference; frees on the last. NULL is a no-op. */
void ntf_note_unref(ntf_note *n);

/* --- queue.c --- */

/* A ring of note references with a hard capacity. Policy when full: drop the
 * oldest note and count it, so a slow consumer costs a bounded amount of
 * memory and always receives the freshest notifications. Not locked: the
 * owning stream's lock protects it. */
typedef struct ntf_queue {
  ntf_note **slots;
  uint32_t cap;
  uint32_t head; /* index of the oldest note */
  uint32_t len;
} ntf_queue;

/* Returns 0, NTF_EINVAL (cap < 1) or NTF_ENOMEM. */
int ntf_queue_init(ntf_queue *q, uint32_t cap);
/* Drops every queued reference and frees the ring. */
void ntf_queue_close(ntf_queue *q);
/* Takes over the caller's reference to `n`. Returns 0, or 1 when the oldest
 * note was dropped to make room. */
int ntf_queue_push(ntf_queue *q, ntf_note *n);
/* Returns the oldest note (the caller now owns that reference), or NULL. */
ntf_note *ntf_queue_pop(ntf_queue *q);
/* Drops every queued reference; returns how many there were. */
uint32_t ntf_queue_clear(ntf_queue *q);

/* --- stream.c --- */

typedef struct ntf_stream ntf_stream;

/* How a stream reaches its transport. The callbacks run outside the stream
 * lock, on whichever thread holds the stream's send token (see below). */
typedef struct ntf_stream_ops {
  /* Start sending `n` (the callee owns the reference). Returns 0, or a
   * negative code when the transport refused: the stream then closes. Must
   * later call ntf_stream_sent() exactly once when it returned 0. */
  int (*send)(ntf_stream *s, ntf_note *n);
  /* End the stream with a status (shutdown). Called at most once, when no
   * send is in flight. */
  void (*finish)(ntf_stream *s);
  /* The last reference is gone: free what embeds the stream. */
  void (*release)(ntf_stream *s);
} ntf_stream_ops;

/*
 * One Connect call's delivery state.
 *
 * Send token: at most one send is in flight per gRPC call, so whoever finds
 * `sending` false sets it and becomes the only thread that may call
 * ops->send for this stream until ntf_stream_sent() hands the token on to
 * the next queued note or clears it. A stream starts with the token held
 * (the response headers are in flight); ntf_stream_sent() releases it.
 *
 * Lifetime: reference counted. The registry, each in-flight transport
 * operation, each fan-out snapshot and the owner hold references.
 */
struct ntf_stream {
  atomic_uint refs;
  pthread_mutex_t lock; /* guards everything below except the registry links */
  ntf_queue queue;
  bool sending;        /* the send token is held */
  bool closed;         /* offers are refused */
  bool finish_pending; /* finish once the in-flight send completes */
  bool finished;       /* ops->finish was called */
  uint64_t dropped;    /* notes dropped by the queue policy */
  const ntf_stream_ops *ops;

  /* Registry links, guarded by the registry lock. */
  struct ntf_user *user;
  ntf_stream *user_prev, *user_next;
  size_t all_index; /* position in the registry's array; SIZE_MAX: absent */

  size_t user_id_len;
  char user_id[]; /* NUL-terminated copy */
};

/* Initialises a stream allocated by the caller with room for `user_id_len`+1
 * bytes after it (see ntf_stream_size). One reference, send token held.
 * Returns 0, NTF_EINVAL or NTF_ENOMEM. */
size_t ntf_stream_size(size_t user_id_len);
int ntf_stream_init(ntf_stream *s, const char *user_id, size_t user_id_len,
                    uint32_t queue_depth, const ntf_stream_ops *ops);
void ntf_stream_ref(ntf_stream *s);
void ntf_stream_unref(ntf_stream *s);

typedef enum ntf_offer {
  NTF_OFFER_CLOSED = 0,  /* refused: the stream is closed */
  NTF_OFFER_QUEUED = 1,  /* queued or handed to the transport */
  NTF_OFFER_DROPPED = 2, /* queued, and the oldest queued note dropped */
} ntf_offer;

/* Queues `n` (takes a new reference of its own) and, when no send is in
 * flight, hands the oldest note to ops->send. */
ntf_offer ntf_stream_offer(ntf_stream *s, ntf_note *n);
/* The transport finished the send ops->send started (ok: it succeeded).
 * Hands the token to the next note, to ops->finish, or releases it. */
void ntf_stream_sent(ntf_stream *s, bool ok);
/* Refuses further offers and drops the queue. Returns true the first time. */
bool ntf_stream_close(ntf_stream *s);
/* Closes the stream and ends it with ops->finish as soon as no send is in
 * flight (at once when idle). */
void ntf_stream_finish(ntf_stream *s);

/* --- registry.c --- */

typedef struct ntf_user {
  struct ntf_user *next; /* hash chain */
  uint64_t hash;
  size_t nstreams;
  ntf_stream *streams; /* doubly linked through user_prev/user_next */
  size_t id_len;
  char id[];
} ntf_user;

/* Users by id (chained hash table) and every stream in one dense array, so a
 * broadcast snapshot is one pass over contiguous memory. One mutex guards it
 * all; every operation holding it is O(1) except snapshots, which are O(n)
 * in the streams they return. */
typedef struct ntf_registry {
  pthread_mutex_t lock;
  ntf_user **buckets;
  size_t nbuckets; /* power of two */
  size_t nusers;
  ntf_stream **all;
  size_t nall, all_cap;
  size_t max_streams; /* 0: unlimited */
} ntf_registry;

/* Returns 0 or NTF_ENOMEM. */
int ntf_registry_init(ntf_registry *r, size_t max_streams);
/* Requires every stream removed. */
void ntf_registry_close(ntf_registry *r);
/* Counts after a change, and whether it created or removed a user. */
typedef struct ntf_registry_counts {
  size_t streams;
  size_t users;
  int user_delta; /* +1, 0 or -1 */
} ntf_registry_counts;

/* Registers `s` under its user_id; the registry takes a reference. Fills *c
 * when not NULL. Returns 0, NTF_EFULL or NTF_ENOMEM. */
int ntf_registry_add(ntf_registry *r, ntf_stream *s, ntf_registry_counts *c);
/* Unregisters `s` and drops the registry's reference. Returns 0, or
 * NTF_ECLOSED when it was not registered (a second remove is harmless). */
int ntf_registry_remove(ntf_registry *r, ntf_stream *s, ntf_registry_counts *c);
/* Returns referenced streams of `user_id` (NULL or "": every stream) in a
 * new array the caller frees after ntf_stream_unref on each. Returns 0 (with
 * *out NULL when there are none) or NTF_ENOMEM. */
int ntf_registry_snapshot(ntf_registry *r, const char *user_id,
                          size_t user_id_len, ntf_stream ***out, size_t *n);
size_t ntf_registry_count(ntf_registry *r, size_t *nusers);

/* --- fanout.c --- */

/* Called on the fan-out thread when a publish has been queued everywhere.
 * `delivered`: streams that accepted it; `dropped`: older notes those
 * streams dropped to make room. */
typedef void (*ntf_fanout_done_fn)(void *ctx, int status, uint64_t id,
                                   uint64_t delivered, uint64_t dropped);

typedef struct ntf_fanout_job ntf_fanout_job;

#define NTF_FANOUT_MAX_THREADS 8

/* Fan-out. Publishes are taken in FIFO order and ids are assigned in that
 * order. The head job's target streams are snapshotted once, then offered
 * the note in batches of `batch` streams which any number of threads may
 * share; the next job starts only when every batch of the current one is
 * done, so every stream sees ids in increasing order. No lock is held
 * longer than one snapshot or one stream offer.
 *
 * Who does the work: `nthreads` dedicated threads, or with nthreads = 0 the
 * caller's threads through ntf_fanout_run(). The server uses the latter
 * (plus --fanout-threads helpers if asked): its completion-queue workers
 * run one batch at a time between draining their queues, so a broadcast to
 * 10,000 streams holds a queue up for at most one batch. */
typedef struct ntf_fanout {
  ntf_registry *registry;
  size_t batch;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  ntf_fanout_job *head, *tail; /* waiting jobs */
  ntf_fanout_job *cur;         /* the job being offered, or NULL */
  uint64_t next_id;            /* ids follow queue order */
  bool stopping;
  atomic_bool available; /* a unit of work can be taken now */
  int nthreads;
  pthread_t threads[NTF_FANOUT_MAX_THREADS];
} ntf_fanout;

/* Starts `nthreads` (0..NTF_FANOUT_MAX_THREADS) threads. Returns 0,
 * NTF_EINVAL, NTF_ENOMEM or NTF_ESYSTEM. */
int ntf_fanout_start(ntf_fanout *f, ntf_registry *r, int nthreads,
                     size_t batch);
/* Queues `payload` for `user_id` ("" or NULL: everyone). On success `done`
 * will be called exactly once, on whichever thread completes the job.
 * Returns 0, NTF_ECLOSED (stopping), NTF_EINVAL (too long) or NTF_ENOMEM;
 * `done` is not called on failure. */
int ntf_fanout_submit(ntf_fanout *f, const char *user_id, size_t user_id_len,
                      const void *payload, size_t len, ntf_fanout_done_fn done,
                      void *ctx);
/* True when ntf_fanout_run() would find work (a hint: lock-free). */
bool ntf_fanout_available(ntf_fanout *f);
/* Does one unit of work without blocking: a snapshot or one batch (and
 * the job's completion when it was the last). Returns true when it did. */
bool ntf_fanout_run(ntf_fanout *f);
/* Refuses new jobs (submit keeps working and returns NTF_ECLOSED) and
 * returns once every queued job completed: with no threads of its own it
 * does the remaining work on the caller's thread. Joins the threads. */
void ntf_fanout_stop(ntf_fanout *f);
/* Frees what start allocated; after stop, once nothing can submit. */
void ntf_fanout_close(ntf_fanout *f);

/* --- stats.c --- */

typedef struct ntf_stats {
  atomic_llong streams;
  atomic_llong users;
  atomic_llong sent;
  atomic_llong dropped;
  atomic_llong publishes;
  atomic_llong rejected; /* calls refused: bad input, max streams, unknown */
} ntf_stats;

extern ntf_stats ntf_stats_g;

/* Publishes the counters as notifier.* variables in /debug/vars. Returns 0
 * or a negative nprof code. */
int ntf_stats_publish(void);
/* Adds to the live stream and user gauges. */
void ntf_stats_add_streams(long long streams, long long users);
void ntf_stats_add_sent(long long n);
void ntf_stats_add_dropped(long long n);
void ntf_stats_add_publishes(long long n);
void ntf_stats_add_rejected(long long n);

/* --- server.c --- */

typedef struct ntf_server ntf_server;

/* Creates the server, binds cfg->grpc_addr and starts cfg->threads workers.
 * *port gets the bound port. Returns 0, NTF_EINVAL (address cannot be
 * bound), NTF_ENOMEM or NTF_ESYSTEM. */
int ntf_server_start(const ntf_config *cfg, ntf_server **out, int *port);
/* Broadcasts `payload` (periodic ticks). Returns 0 or a negative code. */
int ntf_server_broadcast(ntf_server *srv, const void *payload, size_t len);
/* Stops accepting, ends open streams with UNAVAILABLE, waits at most
 * `grace_ms` for calls to end (then cancels them and waits at most 1.5 s
 * more), joins the workers and frees everything. Returns 0, or NTF_ECLOSED
 * when gRPC core could not be brought to a stop in time: the server is
 * then left running, and the caller should exit without grpc_shutdown(). */
int ntf_server_shutdown(ntf_server *srv, int64_t grace_ms);

#endif /* NTF_INTERNAL_H */
