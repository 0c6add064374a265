/* The event loop's structures: a worker (one thread, one libuv loop), its
 * connections, their users and unary calls. Private to the modules that
 * run on a worker's loop (worker.c, conn.c); everything else sees the
 * opaque lg_worker of internal.h. */
#ifndef LOADGEN_WORKER_H
#define LOADGEN_WORKER_H

#include <uv.h>

#include "h2.h"
#include "internal.h"
#include "tls.h"

typedef enum { LG_CMD_RUN, LG_CMD_DRAIN } lg_command;

typedef enum {
  LG_STREAM_IDLE,    /* not yet granted by the ramp */
  LG_STREAM_READY,   /* granted, waiting for its connection */
  LG_STREAM_PENDING, /* request sent, no response headers yet */
  LG_STREAM_OPEN,    /* streams: response headers 200; unary: the session
                        is up. The user is connected. */
  LG_STREAM_RETRY,   /* failed, to be retried at retry_at_ns */
  LG_STREAM_FAILED,  /* failed for good (no --reconnect) */
  LG_STREAM_CLOSED   /* closed by the drain */
} lg_stream_state;

enum { LG_RPC_STREAM, LG_RPC_CALL };

typedef struct lg_conn lg_conn;

/* What a held stream and a unary call have in common: one HTTP/2 stream
 * and its response. nghttp2's stream user data points at one; `kind` says
 * which it is part of. Kept small: 100,000 of these live in one process. */
typedef struct {
  lg_conn *conn;
  int32_t id;            /* HTTP/2 stream id, 0 when none */
  uint32_t user;         /* the user's number, {user} */
  uint32_t sent;         /* request bytes handed to nghttp2 */
  uint32_t messages;     /* response messages */
  int16_t http_status;   /* 0 until :status, -2 unparsable */
  int16_t grpc_status;   /* -1 until the trailers say, -2 unparsable */
  uint8_t kind;          /* LG_RPC_* */
  uint8_t state;         /* streams: lg_stream_state; calls: 1 in use */
  uint8_t attempt;       /* consecutive failures, for the backoff */
  uint8_t got_rst : 1;   /* RST_STREAM received */
  uint8_t bad_msg : 1;   /* we reset it over a bad message */
  uint8_t timed_out : 1; /* we reset it at --call-timeout */
  lg_deframer deframer;
} lg_rpc;

/* One user: a held stream, or for unary methods a place on a connection
 * that calls are made from. */
typedef struct {
  lg_rpc rpc;
  uint64_t start_ns; /* this attempt began (monotonic) */
  uint64_t retry_at_ns;
} lg_stream;

/* One unary call, from the worker's fixed pool (--concurrency). */
typedef struct {
  lg_rpc rpc;
  uint64_t due_ns;  /* when the schedule wanted it: latency starts here */
  uint64_t sent_ns; /* when it was submitted: the timeout starts here */
  uint32_t next_free;
} lg_call;

#define LG_NO_CALL UINT32_MAX

typedef enum {
  LG_CONN_IDLE,       /* never started */
  LG_CONN_CONNECTING, /* TCP connect in flight */
  LG_CONN_HANDSHAKE,  /* TLS handshake in flight */
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
  SSL *ssl;      /* NULL in plaintext */
  uint8_t *wbuf; /* the buffer of the write in flight, owned */
  uint8_t *pend; /* TLS output made while a write was in flight, owned */
  size_t pendlen;
  uint32_t index; /* position in the plan; picks the source address */
  uint32_t nstreams;
  uint32_t nretry; /* streams in LG_STREAM_RETRY */
  uint32_t nopen;  /* users in LG_STREAM_OPEN */
  uint32_t rr;     /* unary: the user the next call goes from */
  uint32_t calls;  /* unary calls in flight on this connection */
  uint8_t state;   /* lg_conn_state */
  bool writing;
  bool goaway;  /* the server sent GOAWAY */
  bool settled; /* the server's SETTINGS have arrived */
  bool dirty;   /* calls submitted, not yet flushed */
  bool timer_inited;
  unsigned attempt; /* consecutive reconnects without an established stream */
  lg_stream streams[];
};

struct lg_worker {
  const lg_options *o;
  const lg_call_spec *spec;
  unsigned id;
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t ramp_timer;
  uv_timer_t drain_timer;
  uv_timer_t call_timer;  /* the next unary call is due */
  uv_timer_t sweep_timer; /* unary calls past --call-timeout */
  lg_counters counters;
  atomic_int command;
  /* Unary calls, as the main thread asks for them (release/acquire on
   * calls_go and calls_halt order the values before them). */
  atomic_uint_fast64_t calls_start_ns;
  atomic_uint_fast64_t calls_total;
  atomic_uint_fast64_t calls_stop_ns;
  atomic_bool calls_go;
  atomic_bool calls_halt;
  bool calling;       /* the pacer runs */
  bool calls_stopped; /* no more calls start */
  bool calls_blocked; /* a call is due but waits for a slot or connection */
  lg_pacer pacer;
  lg_call *calls; /* the pool */
  uint32_t ncalls;
  uint32_t free_call; /* head of the free list, LG_NO_CALL */
  uint32_t inflight;
  uint32_t rr_conn;      /* the connection the next call tries first */
  char call_timeout[24]; /* the grpc-timeout header's value */
  lg_conn **dirty;       /* connections with calls to flush */
  uint32_t ndirty;
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
  uint32_t rnd; /* xorshift state for backoff jitter */
  nghttp2_session_callbacks *callbacks;
  nghttp2_option *h2opt;
  nghttp2_mem h2mem;   /* shares framebuf among this loop's sessions */
  uint8_t *framebuf;   /* the shared one, owned */
  bool framebuf_armed; /* set only around nghttp2_session_client_new3 */
  /* The request last rendered, with its prefix: streams ask for their
   * body in pieces when flow control is tight, and calls repeat users. */
  uint8_t *body;
  size_t body_cap;
  size_t body_len;
  uint32_t body_user;
  bool body_valid;
  lg_tls_io tls_io;
  /* Output gathered for one write: in scratch, spilled to the heap when
   * it outgrows it. Empty between callbacks (see conn.c). */
  uint8_t *gbuf;
  size_t glen;
  size_t gcap;
  lg_histogram connect_hist;
  lg_histogram delivery_hist;
  lg_histogram broadcast_hist;         /* tagged messages: arrival - Publish */
  lg_histogram call_hist;              /* unary: OK response - due time */
  uint32_t min_messages, max_messages; /* over held streams */
  char detail[160];
  char fatal_msg[256];    /* written once, before counters.fatal */
  uint8_t scratch[65536]; /* the gather buffer's first home */
  uint8_t rbuf[65536];    /* shared read buffer: consumed at once */
  uint8_t plain[16384];   /* TLS: one record decrypted */
};

/* conn.c */
/* nghttp2 allocates one 16 KiB send buffer per session, and that buffer is
 * most of what a connection costs. Its contents are dead once mem_send has
 * returned them (we copy them out at once), so every session of one loop
 * can share a single buffer: lg__conn_mem_init sets up an allocator that
 * hands it out for that allocation only while framebuf_armed is set. */
#define LG_H2_FRAMEBUF_LEN (16384 + 9 + 1)
void lg__conn_mem_init(lg_worker *w);
int lg__conn_callbacks_new(nghttp2_session_callbacks **out);
/* Allocates connection idx of the plan with its streams. NULL on ENOMEM. */
lg_conn *lg__conn_new(lg_worker *w, uint32_t idx);
/* Marks stream s ready and gets it to the server: submits it at once on an
 * open connection, starts the connection if it is idle or done. */
void lg__conn_grant(lg_conn *c, lg_stream *s);
/* True when calls can go out on c now (session up, a user open). */
bool lg__conn_callable(const lg_conn *c);
/* Submits unary call `call` (its due time set) from the next open user of
 * c; the connection is flushed by lg__conn_flush_dirty. A call that cannot
 * be submitted is finished at once as failed. */
void lg__conn_call(lg_conn *c, lg_call *call);
/* Writes what the submitted calls left in nghttp2. */
void lg__conn_flush(lg_conn *c);
/* Resets a call past its deadline (the close callback counts it). */
void lg__conn_call_timeout(lg_call *call);
/* Closes every stream and the connection, for the drain. */
void lg__conn_drain(lg_conn *c);
/* Closes the TCP handle if open (drain deadline). */
void lg__conn_force_close(lg_conn *c);
/* Closes the timer, the connection's last handle; its close callback frees
 * the connection. Only once the TCP handle is closed. */
void lg__conn_close_timer(lg_conn *c);

/* worker.c */
/* A connection's TCP handle has closed for good: the drain may be over. */
void lg__worker_check_finished(lg_worker *w);
/* Lets the ramp continue (a connect finished). */
void lg__worker_kick(lg_worker *w);
uint32_t lg__worker_random(lg_worker *w);
/* A call has finished: its slot is free, more may start. */
void lg__worker_call_done(lg_worker *w, lg_call *call);
/* A connection became able to carry calls. */
void lg__worker_calls_resume(lg_worker *w);
/* A failure no retry can mend (a certificate that does not verify): the
 * run ends, with msg as its reason. The first one wins. */
void lg__worker_fatal(lg_worker *w, const char *msg);

#endif
