/* loadgen internals: the modules of the load generator and what they share.
 *
 * frame.c      gRPC message framing (5-byte prefix) across DATA chunks
 * message.c    protobuf encode/decode of the notifier messages, size-capped
 * histogram.c  log-linear latency histogram
 * ramp.c       token bucket for --rate and reconnect backoff
 * options.c    command-line flags, durations, the connection plan
 * conn.c       one HTTP/2 connection (libuv + nghttp2) holding K streams
 * worker.c     one thread, one libuv loop, a share of the connections
 * publish.c    the Publish RPC, from the main thread
 * snapshot.c   profile snapshots over HTTP (libcurl)
 * report.c     progress line, human summary, --json
 * main.c       phases and their deadlines
 *
 * Errors are 0 or a negative errno-style code (LG_E*), as in libuv. */
#ifndef LOADGEN_INTERNAL_H
#define LOADGEN_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "npc.h"

#define LG_VERSION "0.1"

/* ---- errors ---------------------------------------------------------- */

enum {
  LG_EINVAL = -1,   /* bad argument or malformed input */
  LG_ENOMEM = -2,   /* allocation failed */
  LG_ETOOBIG = -3,  /* message larger than the cap */
  LG_ECOMPRESS = -4 /* compressed message: we never negotiate compression */
};

/* Words for an LG_E* code. Never NULL. */
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

/* ---- message.c: the notifier messages ------------------------------- */

typedef struct {
  uint64_t id;
  int64_t sent_unix_nanos;
  size_t payload_len;
  bool tagged;        /* the payload carries a broadcast tag (below) */
  uint32_t bcast_seq; /* valid when tagged */
  uint64_t bcast_t0_ns;
} lg_notification;

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

/* Decodes a Notification of at most cap bytes. Returns 0 or LG_EINVAL,
 * LG_ETOOBIG. */
int lg_notification_decode(const uint8_t *buf, size_t len, size_t cap,
                           lg_notification *out);
/* Decodes a PublishReply. Returns 0 or LG_EINVAL. */
int lg_publish_reply_decode(const uint8_t *buf, size_t len,
                            uint64_t *delivered);
/* Encodes the 5-byte prefix and a ConnectRequest into out (capacity cap).
 * Returns the number of bytes written, or LG_ETOOBIG. */
int lg_connect_request_encode(uint8_t *out, size_t cap, const char *user_id);
/* Same for a PublishRequest. */
int lg_publish_request_encode(uint8_t *out, size_t cap, const char *user_id,
                              const uint8_t *payload, size_t payload_len);

/* ---- histogram.c ----------------------------------------------------- */

/* Log-linear histogram of microseconds: exact below 128, then 64 linear
 * sub-buckets per power of two (relative error under 1.6%), up to 2^40 us
 * (12 days); larger values land in the last bucket. Not thread-safe: one
 * writer, merged after the writers stop. */
#define LG_HIST_SUB_BITS 7
#define LG_HIST_MAX_EXP 40
#define LG_HIST_BUCKETS                                                        \
  ((1u << LG_HIST_SUB_BITS) +                                                  \
   (LG_HIST_MAX_EXP - LG_HIST_SUB_BITS + 1) * (1u << (LG_HIST_SUB_BITS - 1)))

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
/* Bucket index of a value, and the highest value a bucket holds (tests). */
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

/* ---- options.c ------------------------------------------------------- */

typedef struct {
  const char *target; /* host:port as given */
  char host[256];
  char port[8];
  uint32_t streams;
  uint32_t streams_per_conn;
  double rate;                 /* new streams per second, 0 = unlimited */
  uint64_t hold_ns;            /* how long all users stay connected */
  uint64_t ramp_timeout_ns;    /* connect phase budget beyond streams/rate */
  uint64_t connect_timeout_ns; /* one TCP connect + HTTP/2 preface */
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
  const char *json_path;
  const char *snapshot_url;
  const char *snapshot_dir;
  const char *user_prefix;
  /* derived */
  uint32_t conns;
  struct sockaddr_storage addr; /* resolved target */
  socklen_t addrlen;
  char authority[300]; /* :authority, host:port */
} lg_options;

/* Parses argv into o. On a bad flag writes a message to err and returns
 * LG_EINVAL; returns 1 when --help was printed. */
int lg_options_parse(lg_options *o, int argc, char **argv, char *err,
                     size_t errlen);
void lg_options_usage(FILE *f);
/* Source addresses needed for conns connections with ports_per_addr
 * ephemeral ports each (127.0.0.1 first). */
uint32_t lg_plan_source_addrs(uint32_t conns, uint32_t ports_per_addr);
/* Checks that conns connections fit the open-file limit nofile (with
 * reserve descriptors for everything else). Returns 0, or LG_EINVAL with
 * advice in err. */
int lg_plan_check_files(uint32_t streams, uint32_t per_conn, uint64_t nofile,
                        char *err, size_t errlen);
#define LG_FD_RESERVE 64

/* ---- error causes ----------------------------------------------------- */

typedef enum {
  LG_CAUSE_REFUSED, /* TCP connect refused */
  LG_CAUSE_CONNECT, /* other connect error */
  LG_CAUSE_CONNECT_TIMEOUT,
  LG_CAUSE_CONN_CLOSED, /* peer closed or reset the TCP connection */
  LG_CAUSE_PROTOCOL,    /* HTTP/2 or gRPC framing error */
  LG_CAUSE_GOAWAY,      /* stream refused or lost after GOAWAY */
  LG_CAUSE_RESET,       /* RST_STREAM from the server */
  LG_CAUSE_HTTP_STATUS, /* :status other than 200 */
  LG_CAUSE_GRPC_STATUS, /* grpc-status other than 0 */
  LG_CAUSE_ENDED,       /* the server ended the stream with status 0 */
  LG_CAUSE_TIMEOUT,     /* not established when the phase ended */
  LG_CAUSE_BAD_MESSAGE, /* undecodable or oversized message */
  LG_CAUSE_COUNT
} lg_cause;

const char *lg_cause_name(lg_cause c);

/* ---- worker.c / conn.c ----------------------------------------------- */

typedef enum { LG_CMD_RUN, LG_CMD_DRAIN } lg_command;

typedef struct lg_worker lg_worker;

/* What the main thread reads while a worker runs: relaxed atomics, since
 * they only feed the progress line and the phase decisions. */
typedef struct {
  atomic_uint_fast64_t established;       /* streams established right now */
  atomic_uint_fast64_t established_total; /* establishments, incl. retries */
  atomic_uint_fast64_t failures;          /* failure events */
  atomic_uint_fast64_t notifications;
  atomic_uint_fast64_t bad_latency; /* sent_unix_nanos in the future */
  atomic_uint_fast64_t errors[LG_CAUSE_COUNT];
  atomic_bool done; /* the worker's loop has ended */
} lg_counters;

/* Creates a worker for connections [first, first + n) of the plan. Returns
 * NULL on allocation failure. */
lg_worker *lg_worker_new(const lg_options *o, unsigned id, uint32_t first_conn,
                         uint32_t nconns);
/* Starts the thread. Returns 0 or a negative errno. */
int lg_worker_start(lg_worker *w);
/* Asks the worker to close its streams and connections and end. Thread-safe. */
void lg_worker_drain(lg_worker *w);
/* Joins with a deadline (CLOCK_REALTIME absolute ns). Returns 0, or
 * -ETIMEDOUT (the thread is left running; the process must exit). */
int lg_worker_join(lg_worker *w, uint64_t deadline_realtime_ns);
lg_counters *lg_worker_counters(lg_worker *w);
/* Histograms: read only after a successful join. */
const lg_histogram *lg_worker_connect_hist(const lg_worker *w);
const lg_histogram *lg_worker_delivery_hist(const lg_worker *w);
const lg_histogram *lg_worker_broadcast_hist(const lg_worker *w);
/* The last grpc-message / error detail seen, for the summary ("" if none).
 * Read only after join. */
const char *lg_worker_last_detail(const lg_worker *w);
/* Fewest and most notifications over the streams held at the end of the
 * hold. Read only after join. */
void lg_worker_notification_range(const lg_worker *w, uint32_t *lo,
                                  uint32_t *hi);
void lg_worker_free(lg_worker *w);

/* ---- worker internals, shared by worker.c and conn.c ------------------ */

#include <nghttp2/nghttp2.h>
#include <uv.h>

typedef enum {
  LG_STREAM_IDLE,    /* not yet granted by the ramp */
  LG_STREAM_READY,   /* granted, waiting for its connection */
  LG_STREAM_PENDING, /* request sent, no response headers yet */
  LG_STREAM_OPEN,    /* response headers 200: the user is connected */
  LG_STREAM_RETRY,   /* failed, to be retried at retry_at_ns */
  LG_STREAM_FAILED,  /* failed for good (no --reconnect) */
  LG_STREAM_CLOSED   /* closed by the drain */
} lg_stream_state;

typedef struct lg_conn lg_conn;

/* One user. Kept small: 100,000 of these live in one process. */
typedef struct {
  lg_conn *conn;
  int32_t id;          /* HTTP/2 stream id, 0 when none */
  uint32_t user;       /* user index, names the user id */
  uint8_t state;       /* lg_stream_state */
  uint8_t sent;        /* request body bytes handed to nghttp2 */
  uint8_t got_rst : 1; /* RST_STREAM received */
  uint8_t bad_msg : 1; /* we reset it over a bad message */
  uint8_t attempt;     /* consecutive failures, for the backoff */
  int16_t http_status;
  int16_t grpc_status; /* -1 until the trailers say */
  uint32_t notifications;
  uint64_t start_ns; /* this attempt began (monotonic) */
  uint64_t retry_at_ns;
  lg_deframer deframer;
} lg_stream;

typedef enum {
  LG_CONN_IDLE,       /* never started */
  LG_CONN_CONNECTING, /* TCP connect in flight */
  LG_CONN_OPEN,       /* HTTP/2 session up */
  LG_CONN_CLOSING,    /* uv_close called, waiting for the callback */
  LG_CONN_BACKOFF,    /* waiting to reconnect */
  LG_CONN_DONE        /* closed, nothing more to do */
} lg_conn_state;

struct lg_conn {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t timer; /* connect timeout, stream retries, reconnect backoff */
  lg_worker *w;
  nghttp2_session *session;
  uint8_t *wbuf;  /* the unwritten tail of a partial write, owned */
  uint32_t index; /* position in the plan; picks the source address */
  uint32_t nstreams;
  uint32_t nretry; /* streams in LG_STREAM_RETRY */
  uint8_t state;   /* lg_conn_state */
  bool writing;
  bool goaway; /* the server sent GOAWAY */
  bool timer_inited;
  unsigned attempt; /* consecutive reconnects without an established stream */
  lg_stream streams[];
};

struct lg_worker {
  const lg_options *o;
  unsigned id;
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t ramp_timer;
  uv_timer_t drain_timer;
  lg_counters counters;
  atomic_int command;
  uint32_t first_conn;
  uint32_t nconns;
  lg_conn **conns; /* allocated when the ramp first reaches them */
  uint64_t nusers;
  uint64_t next_user;  /* ramp cursor over this worker's users */
  uint32_t connecting; /* TCP connects in flight */
  uint32_t live;       /* connections whose TCP handle is not closed */
  uint32_t naddrs;     /* source addresses (1: let the kernel choose) */
  bool draining;
  bool finished;
  lg_ramp ramp;
  uint64_t ramp_start_ns;
  uint32_t rnd; /* xorshift state for backoff jitter */
  nghttp2_session_callbacks *callbacks;
  nghttp2_option *h2opt;
  nghttp2_mem h2mem;   /* shares framebuf among this loop's sessions */
  uint8_t *framebuf;   /* the shared one, owned */
  bool framebuf_armed; /* set only around nghttp2_session_client_new3 */
  lg_histogram connect_hist;
  lg_histogram delivery_hist;
  lg_histogram broadcast_hist; /* tagged notifications: arrival - Publish */
  uint32_t min_notifications, max_notifications; /* over held streams */
  char detail[160];
  uint8_t scratch[65536]; /* outgoing frames gathered for one write */
  uint8_t rbuf[65536];    /* shared read buffer: nghttp2 consumes it at once */
};

/* conn.c */
/* nghttp2 allocates one 16 KiB send buffer per session, and that buffer is
 * most of what a connection costs. Its contents are dead once mem_send has
 * returned them (we copy them out at once), so every session of one loop
 * can share a single buffer: lg_conn_mem_init sets up an allocator that
 * hands it out for that allocation only while framebuf_armed is set. */
#define LG_H2_FRAMEBUF_LEN (16384 + 9 + 1)
void lg_conn_mem_init(lg_worker *w);
int lg_conn_callbacks_new(nghttp2_session_callbacks **out);
/* Allocates connection idx of the plan with its streams. NULL on ENOMEM. */
lg_conn *lg_conn_new(lg_worker *w, uint32_t idx);
/* Marks stream s ready and gets it to the server: submits it at once on an
 * open connection, starts the connection if it is idle or done. */
void lg_conn_grant(lg_conn *c, lg_stream *s);
/* Closes every stream and the connection, for the drain. */
void lg_conn_drain(lg_conn *c);
/* The request headers of a gRPC call to `path`, into nv[LG_GRPC_NHEADERS].
 * They point at `path` and `authority`, which must outlive the submit. */
#define LG_GRPC_NHEADERS 7
void lg_grpc_headers(nghttp2_nv *nv, const char *path, const char *authority,
                     uint8_t flags);
/* Closes the TCP handle if open (drain deadline). */
void lg_conn_force_close(lg_conn *c);
/* Closes the timer, the connection's last handle; its close callback frees
 * the connection. Only once the TCP handle is closed. */
void lg_conn_close_timer(lg_conn *c);
/* A connection's TCP handle has closed for good: the drain may be over. */
void lg__worker_check_finished(lg_worker *w);
/* Lets the ramp continue (a connect finished). */
void lg__worker_kick(lg_worker *w);
uint32_t lg__worker_random(lg_worker *w);

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
 * one. Everything ends by deadline_ns (monotonic). Returns 0 when every call
 * returned grpc-status 0 and was delivered. */
int lg_publish_run(const lg_options *o, uint32_t n, uint64_t deadline_ns,
                   lg_publish_wait_cb wait, void *ud, lg_publish_result *res);

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
  uint64_t notifications;
  uint64_t notifications_expected;
  uint64_t bad_latency;
  uint32_t notifications_min; /* per held stream */
  uint32_t notifications_max;
  uint64_t errors[LG_CAUSE_COUNT];
  lg_histogram connect;
  lg_histogram delivery;
  lg_histogram broadcast; /* Publish written -> arrival, every stream */
  double connect_seconds; /* first connect to last establishment */
  uint64_t rss_baseline_kib;
  uint64_t rss_plateau_kib;
  lg_publish_result publish;
  unsigned snapshots_fetched;
  unsigned snapshots_failed;
  bool ok;
  char reason[256];
  char detail[160];
} lg_result;

/* Monotonic and wall clocks in nanoseconds. */
uint64_t lg_now_ns(void);
uint64_t lg_unix_ns(void);
/* VmRSS of this process in KiB, 0 if unknown. */
uint64_t lg_rss_kib(void);
void lg_report_summary(FILE *f, const lg_result *r);
/* Writes the result as JSON to path atomically. Returns 0 or -errno. */
int lg_report_json(const char *path, const lg_result *r);
/* Writes the JSON to f (tests). */
void lg_report_json_write(FILE *f, const lg_result *r);

#endif
