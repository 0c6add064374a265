/*
 * The gRPC side: one completion queue per worker thread, each with requested
 * calls outstanding for Connect, Publish and any other method; each call is
 * a small state machine driven by tagged completions. No thread per stream:
 * a stream costs a struct, a queue ring and gRPC core's own call state.
 *
 * Every tag is a `struct tag` embedded in the object it belongs to.
 *
 * Two kinds of completion queue. New calls are announced on the workers'
 * polled queues (one per worker thread). Each call's own operations
 * complete on one of CALL_CQS callback queues, whose tags run without any
 * thread being woken: a send's completion runs on the thread that started
 * it, when grpc_call_start_batch() returns (gRPC core's application
 * callback context), and network-triggered ones on gRPC's poller threads.
 * A broadcast to 10,000 streams thus costs no context switch per stream.
 * Many call queues rather than one: Debian's libgrpc is built with
 * assertions, and each completion then searches its queue's list of
 * outstanding tags linearly under the queue lock; every open stream keeps
 * one there (its RECV_CLOSE_ON_SERVER), so one queue would make a
 * broadcast quadratic in the number of streams.
 */
#include <assert.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "notifier.pb-c.h"

#define container_of(p, type, member)                                          \
  ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* Requested calls kept outstanding per worker queue. gRPC core only accepts
 * a call when a request is waiting (others wait in its pending list), so a
 * connect storm is absorbed this many at a time per worker. */
#define PENDING_CONNECT 64
#define PENDING_PUBLISH 16
#define PENDING_OTHER 4
#ifndef FANOUT_BATCH
#define FANOUT_BATCH 256
#endif

struct tag {
  grpc_completion_queue_functor functor; /* first: either comes back */
  void (*cb)(struct tag *t, bool ok);
};

/* The callback queues' entry point: the functor is the tag. */
static void run_tag(grpc_completion_queue_functor *f, int ok)
{
  struct tag *t = (struct tag *)(void *)f;
  t->cb(t, ok != 0);
}

static void tag_init(struct tag *t, void (*cb)(struct tag *t, bool ok))
{
  memset(&t->functor, 0, sizeof t->functor);
  t->functor.functor_run = run_tag;
  /* Run in the application callback context of the gRPC call that
   * completed it (see the top of this file), not on an executor thread. */
  t->functor.inlineable = 1;
  t->cb = cb;
}

#define CALL_CQS 64

typedef struct call_cq {
  grpc_completion_queue_functor on_shutdown; /* first */
  grpc_completion_queue *cq;
  struct ntf_server *srv;
} call_cq;

/* Call objects alive (requested calls, streams, calls being finished). A
 * completion queue may only be shut down once nothing can start a batch on
 * a call bound to it, which is when this drops to 0. One server per
 * process, so a file-level counter. */
static atomic_long live_objects;

typedef struct worker {
  ntf_server *srv;
  grpc_completion_queue *cq;
  pthread_t thread;
  bool started;
} worker;

struct ntf_server {
  ntf_config cfg;
  grpc_server *server;
  void *m_connect, *m_publish;
  ntf_registry registry;
  ntf_fanout fanout;
  bool fanout_started;
  int nworkers;
  worker *workers;
  atomic_bool shutting_down;

  /* Held around every grpc_server_request_*call so the server is never
   * destroyed under a worker that is re-requesting. */
  pthread_mutex_t req_lock;
  bool requests_closed; /* guarded by req_lock */

  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool shutdown_done; /* guarded by lock */
  struct tag shutdown_tag;

  call_cq call_cqs[CALL_CQS];
  int ncall_cqs;
  atomic_uint next_call_cq;
  int call_cqs_down; /* guarded by lock */
};

/* --- requested calls --- */

typedef enum kind { KIND_CONNECT, KIND_PUBLISH, KIND_OTHER } kind;

typedef struct pending {
  struct tag t;
  worker *w;
  kind kind;
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  grpc_call_details details; /* KIND_OTHER only */
} pending;

static void handle_connect(ntf_server *srv, grpc_call *call,
                           grpc_byte_buffer *payload);
static void handle_publish(ntf_server *srv, grpc_call *call,
                           grpc_byte_buffer *payload);
static void handle_other(grpc_call *call, const grpc_call_details *details);
static void on_new_call(struct tag *t, bool ok);

static void pending_free(pending *p)
{
  atomic_fetch_sub(&live_objects, 1);
  grpc_metadata_array_destroy(&p->md);
  grpc_call_details_destroy(&p->details);
  free(p);
}

/* Returns 0, or NTF_ECLOSED / NTF_EGRPC after freeing `p`. */
static int request(pending *p)
{
  ntf_server *srv = p->w->srv;
  p->call = NULL;
  p->payload = NULL;
  grpc_completion_queue *bound =
      srv->call_cqs[atomic_fetch_add(&srv->next_call_cq, 1) % CALL_CQS].cq;
  grpc_call_error e = GRPC_CALL_ERROR;
  pthread_mutex_lock(&srv->req_lock);
  if (srv->requests_closed) {
    pthread_mutex_unlock(&srv->req_lock);
    pending_free(p);
    return NTF_ECLOSED;
  }
  switch (p->kind) {
  case KIND_CONNECT:
  case KIND_PUBLISH:
    e = grpc_server_request_registered_call(
        srv->server, p->kind == KIND_CONNECT ? srv->m_connect : srv->m_publish,
        &p->call, &p->deadline, &p->md, &p->payload, bound, p->w->cq, &p->t);
    break;
  case KIND_OTHER:
    e = grpc_server_request_call(srv->server, &p->call, &p->details, &p->md,
                                 bound, p->w->cq, &p->t);
    break;
  }
  pthread_mutex_unlock(&srv->req_lock);
  if (e != GRPC_CALL_OK) {
    pending_free(p);
    return NTF_EGRPC;
  }
  return 0;
}

static int request_new(worker *w, kind k)
{
  pending *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NTF_ENOMEM;
  atomic_fetch_add(&live_objects, 1);
  tag_init(&p->t, on_new_call);
  p->w = w;
  p->kind = k;
  grpc_metadata_array_init(&p->md);
  grpc_call_details_init(&p->details);
  return request(p);
}

static void on_new_call(struct tag *t, bool ok)
{
  pending *p = container_of(t, pending, t);
  if (!ok) { /* the server is shutting down: this request is withdrawn */
    pending_free(p);
    return;
  }
  ntf_server *srv = p->w->srv;
  grpc_call *call = p->call;
  grpc_byte_buffer *payload = p->payload;
  kind k = p->kind;
  /* Copy what outlives the re-request: the method name for KIND_OTHER.
   * Each array is re-initialised after destroy so pending_free() and
   * request() may destroy or init it again. */
  grpc_call_details details;
  grpc_call_details_init(&details);
  if (k == KIND_OTHER) {
    details.method = grpc_slice_ref(p->details.method);
    grpc_call_details_destroy(&p->details);
    grpc_call_details_init(&p->details);
  }
  grpc_metadata_array_destroy(&p->md);
  grpc_metadata_array_init(&p->md);
  /* Ask for the next call first: accepting must not wait on handling. */
  if (atomic_load(&srv->shutting_down))
    pending_free(p);
  else
    request(p);
  switch (k) {
  case KIND_CONNECT:
    handle_connect(srv, call, payload);
    break;
  case KIND_PUBLISH:
    handle_publish(srv, call, payload);
    break;
  case KIND_OTHER:
    handle_other(call, &details);
    break;
  }
  grpc_call_details_destroy(&details);
}

/* --- ending a call with a status (and optionally one reply message) --- */

typedef struct finish_call {
  struct tag t;
  grpc_call *call;
  grpc_byte_buffer *reply;
  grpc_slice details;
  int cancelled;
} finish_call;

static void on_finish_done(struct tag *t, bool ok)
{
  (void)ok;
  finish_call *f = container_of(t, finish_call, t);
  if (f->reply)
    grpc_byte_buffer_destroy(f->reply);
  grpc_slice_unref(f->details);
  grpc_call_unref(f->call);
  free(f);
  atomic_fetch_sub(&live_objects, 1);
}

/* Takes ownership of `call` and `reply`; sends headers, the reply if any,
 * and the status, and frees everything once gRPC is done with it. */
static void finish(grpc_call *call, grpc_status_code code, const char *msg,
                   grpc_byte_buffer *reply)
{
  finish_call *f = calloc(1, sizeof *f);
  if (f == NULL) {
    /* Out of memory: cancel instead, which needs nothing from us. */
    grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                 "out of memory", NULL);
    if (reply)
      grpc_byte_buffer_destroy(reply);
    grpc_call_unref(call);
    return;
  }
  atomic_fetch_add(&live_objects, 1);
  tag_init(&f->t, on_finish_done);
  f->call = call;
  f->reply = reply;
  f->details = grpc_slice_from_copied_string(msg ? msg : "");
  grpc_op ops[4];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (reply) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = reply;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n++].data.send_status_from_server.status_details = &f->details;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n++].data.recv_close_on_server.cancelled = &f->cancelled;
  if (grpc_call_start_batch(call, ops, n, &f->t, NULL) != GRPC_CALL_OK) {
    grpc_call_cancel(call, NULL);
    on_finish_done(&f->t, false);
  }
}

static void reject(grpc_call *call, grpc_status_code code, const char *msg)
{
  ntf_stats_add_rejected(1);
  finish(call, code, msg, NULL);
}

/* Flattens a request message; NULL when there is none or it cannot be read
 * (e.g. a compression gRPC cannot undo). gRPC core has already capped its
 * size at GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH. Destroys `bb`. */
static bool read_message(grpc_byte_buffer *bb, grpc_slice *out)
{
  if (bb == NULL)
    return false;
  grpc_byte_buffer_reader r;
  bool ok = grpc_byte_buffer_reader_init(&r, bb) != 0;
  if (ok) {
    *out = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
  }
  grpc_byte_buffer_destroy(bb);
  return ok;
}

/* The call's request message, decoded and checked as `what` into *req
 * (free with ntf_request_free). A missing or bad one rejects the call with
 * INVALID_ARGUMENT and returns false. Destroys `payload`. */
static bool take_request(grpc_call *call, grpc_byte_buffer *payload,
                         ntf_request_kind what, ntf_request *req)
{
  grpc_slice in;
  if (!read_message(payload, &in)) {
    reject(call, GRPC_STATUS_INVALID_ARGUMENT,
           what == NTF_REQUEST_CONNECT ? "missing ConnectRequest"
                                       : "missing PublishRequest");
    return false;
  }
  const char *why;
  int rc = ntf_request_decode(what, GRPC_SLICE_START_PTR(in),
                              GRPC_SLICE_LENGTH(in), req, &why);
  grpc_slice_unref(in);
  if (rc < 0) {
    reject(call, GRPC_STATUS_INVALID_ARGUMENT, why);
    return false;
  }
  return true;
}

static grpc_byte_buffer *slice_buffer(grpc_slice s)
{
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

/* --- unknown methods --- */

static void handle_other(grpc_call *call, const grpc_call_details *details)
{
  /* gRPC core leaves unregistered methods hanging unless someone answers. */
  char msg[160];
  size_t len = GRPC_SLICE_LENGTH(details->method);
  if (len > 100)
    len = 100;
  snprintf(msg, sizeof msg, "unknown method %.*s", (int)len,
           (const char *)GRPC_SLICE_START_PTR(details->method));
  for (char *c = msg; *c; c++) /* the status message must stay printable */
    if (*c < 0x20 || *c > 0x7e)
      *c = '?';
  reject(call, GRPC_STATUS_UNIMPLEMENTED, msg);
}

/* --- Connect --- */

typedef struct conn_call {
  struct tag send_tag;   /* headers or one message sent */
  struct tag close_tag;  /* the call ended (RECV_CLOSE_ON_SERVER) */
  struct tag status_tag; /* the shutdown status sent */
  ntf_server *srv;
  grpc_call *call;
  grpc_byte_buffer *out; /* the message in flight (send token holder's) */
  ntf_note *out_note;
  int cancelled;
  grpc_slice status_details;
  ntf_stream stream; /* last: ends in the user id */
} conn_call;

static int conn_send(ntf_stream *s, ntf_note *n);
static void conn_finish(ntf_stream *s);
static void conn_release(ntf_stream *s);

static const ntf_stream_ops conn_ops = {
    .send = conn_send, .finish = conn_finish, .release = conn_release};

static void conn_release(ntf_stream *s)
{
  conn_call *c = container_of(s, conn_call, stream);
  if (c->call)
    grpc_call_unref(c->call);
  grpc_slice_unref(c->status_details);
  free(c);
  atomic_fetch_sub(&live_objects, 1);
}

static void on_conn_sent(struct tag *t, bool ok)
{
  conn_call *c = container_of(t, conn_call, send_tag);
  if (c->out) {
    grpc_byte_buffer_destroy(c->out);
    c->out = NULL;
  }
  if (c->out_note) {
    if (ok)
      ntf_stats_add_sent(1);
    ntf_note_unref(c->out_note);
    c->out_note = NULL;
  }
  ntf_stream_sent(&c->stream, ok); /* may start the next send */
  ntf_stream_unref(&c->stream);    /* the batch's reference */
}

/* Runs with the send token held (see stream.c), so `out` is free. */
static int conn_send(ntf_stream *s, ntf_note *n)
{
  conn_call *c = container_of(s, conn_call, stream);
  Notifier__Notification m = NOTIFIER__NOTIFICATION__INIT;
  m.id = n->id;
  m.user_id = s->user_id;
  m.payload.data = n->payload;
  m.payload.len = n->len;
  m.sent_unix_nanos = npc_wall_ns();
  size_t size = notifier__notification__get_packed_size(&m);
  grpc_slice slice = grpc_slice_malloc(size);
  notifier__notification__pack(&m, GRPC_SLICE_START_PTR(slice));
  c->out = slice_buffer(slice);
  c->out_note = n;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = c->out;
  ntf_stream_ref(s);
  if (grpc_call_start_batch(c->call, &op, 1, &c->send_tag, NULL) !=
      GRPC_CALL_OK) {
    grpc_byte_buffer_destroy(c->out);
    c->out = NULL;
    c->out_note = NULL; /* the caller drops it on failure */
    ntf_stream_unref(s);
    return NTF_EGRPC;
  }
  return 0;
}

static void on_conn_status(struct tag *t, bool ok)
{
  (void)ok;
  conn_call *c = container_of(t, conn_call, status_tag);
  ntf_stream_unref(&c->stream);
}

/* Shutdown: end the stream with UNAVAILABLE so clients know to reconnect
 * elsewhere rather than see a reset. */
static void conn_finish(ntf_stream *s)
{
  conn_call *c = container_of(s, conn_call, stream);
  grpc_slice_unref(c->status_details);
  c->status_details = grpc_slice_from_static_string("server shutting down");
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  op.data.send_status_from_server.status = GRPC_STATUS_UNAVAILABLE;
  op.data.send_status_from_server.status_details = &c->status_details;
  ntf_stream_ref(s);
  if (grpc_call_start_batch(c->call, &op, 1, &c->status_tag, NULL) !=
      GRPC_CALL_OK) {
    grpc_call_cancel(c->call, NULL);
    ntf_stream_unref(s);
  }
}

static void on_conn_closed(struct tag *t, bool ok)
{
  (void)ok;
  conn_call *c = container_of(t, conn_call, close_tag);
  ntf_server *srv = c->srv;
  ntf_registry_counts counts;
  if (ntf_registry_remove(&srv->registry, &c->stream, &counts) == 0) {
    ntf_stats_add_streams(-1, counts.user_delta);
    if (!srv->cfg.quiet)
      ntf_log("stream closed user=%s reason=%s dropped=%" PRIu64
              " streams=%zu users=%zu",
              c->stream.user_id, c->cancelled ? "cancelled" : "ended",
              c->stream.dropped, counts.streams, counts.users);
  }
  ntf_stream_close(&c->stream);
  ntf_stream_unref(&c->stream); /* the owner's reference, from init */
}

static void handle_connect(ntf_server *srv, grpc_call *call,
                           grpc_byte_buffer *payload)
{
  ntf_request req;
  if (!take_request(call, payload, NTF_REQUEST_CONNECT, &req))
    return;
  size_t idlen = req.user_id_len;
  conn_call *c =
      calloc(1, offsetof(conn_call, stream) + ntf_stream_size(idlen));
  if (c == NULL ||
      ntf_stream_init(&c->stream, req.user_id, idlen,
                      (uint32_t)srv->cfg.queue_depth, &conn_ops) < 0) {
    free(c);
    ntf_request_free(&req);
    reject(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  ntf_request_free(&req);
  atomic_fetch_add(&live_objects, 1); /* conn_release subtracts */
  tag_init(&c->send_tag, on_conn_sent);
  tag_init(&c->close_tag, on_conn_closed);
  tag_init(&c->status_tag, on_conn_status);
  c->srv = srv;
  c->status_details = grpc_empty_slice();

  ntf_registry_counts counts;
  int rc = ntf_registry_add(&srv->registry, &c->stream, &counts);
  if (rc < 0) {
    char msg[96];
    if (rc == NTF_EFULL)
      snprintf(msg, sizeof msg, "max streams (%zu) reached",
               srv->registry.max_streams);
    else
      snprintf(msg, sizeof msg, "%s", ntf_strerror(rc));
    ntf_stream_unref(&c->stream); /* frees c; the call is not its yet */
    reject(call, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
    return;
  }
  c->call = call;
  ntf_stats_add_streams(1, counts.user_delta);
  if (!srv->cfg.quiet)
    ntf_log("stream open user=%s streams=%zu users=%zu", c->stream.user_id,
            counts.streams, counts.users);

  /* RECV_CLOSE_ON_SERVER completes when the client goes away or the call
   * ends; it carries the owner's reference from ntf_stream_init. */
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->cancelled;
  if (grpc_call_start_batch(call, &op, 1, &c->close_tag, NULL) !=
      GRPC_CALL_OK) {
    grpc_call_cancel(call, NULL);
    on_conn_closed(&c->close_tag, false);
    return;
  }
  /* Headers at once, so clients see the stream established before any
   * notification; the stream was created holding the send token for it. */
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  ntf_stream_ref(&c->stream);
  if (grpc_call_start_batch(call, &op, 1, &c->send_tag, NULL) != GRPC_CALL_OK) {
    grpc_call_cancel(call, NULL);
    on_conn_sent(&c->send_tag, false);
  }
  /* A stream registered after shutdown began was missed by its sweep. */
  if (atomic_load(&srv->shutting_down))
    ntf_stream_finish(&c->stream);
}

/* --- Publish --- */

static void on_published(void *ctx, int status, uint64_t id, uint64_t delivered,
                         uint64_t dropped)
{
  (void)id;
  grpc_call *call = ctx;
  ntf_stats_add_publishes(1);
  if (dropped > 0)
    ntf_stats_add_dropped((long long)dropped);
  if (status < 0) {
    finish(call, GRPC_STATUS_INTERNAL, ntf_strerror(status), NULL);
    return;
  }
  Notifier__PublishReply reply = NOTIFIER__PUBLISH_REPLY__INIT;
  reply.delivered = delivered;
  size_t size = notifier__publish_reply__get_packed_size(&reply);
  grpc_slice s = grpc_slice_malloc(size);
  notifier__publish_reply__pack(&reply, GRPC_SLICE_START_PTR(s));
  finish(call, GRPC_STATUS_OK, NULL, slice_buffer(s));
}

static void handle_publish(ntf_server *srv, grpc_call *call,
                           grpc_byte_buffer *payload)
{
  ntf_request req;
  if (!take_request(call, payload, NTF_REQUEST_PUBLISH, &req))
    return;
  int rc = ntf_fanout_submit(&srv->fanout, req.user_id, req.user_id_len,
                             req.payload, req.payload_len, on_published, call);
  ntf_request_free(&req);
  switch (rc) {
  case 0:
    break; /* on_published finishes the call */
  case NTF_EINVAL:
    reject(call, GRPC_STATUS_INVALID_ARGUMENT,
           "invalid user_id, or payload over 1 MiB");
    break;
  case NTF_ECLOSED:
    reject(call, GRPC_STATUS_UNAVAILABLE, "server shutting down");
    break;
  default:
    reject(call, GRPC_STATUS_RESOURCE_EXHAUSTED, ntf_strerror(rc));
    break;
  }
}

static void on_tick_done(void *ctx, int status, uint64_t id, uint64_t delivered,
                         uint64_t dropped)
{
  (void)ctx;
  (void)status;
  (void)id;
  (void)delivered;
  ntf_stats_add_publishes(1);
  if (dropped > 0)
    ntf_stats_add_dropped((long long)dropped);
}

int ntf_server_broadcast(ntf_server *srv, const void *payload, size_t len)
{
  int rc = ntf_fanout_submit(&srv->fanout, NULL, 0, payload, len, on_tick_done,
                             NULL);
  /* The workers may all be asleep in their queues: the caller works too,
   * until nothing is left to take. */
  while (rc == 0 && ntf_fanout_run(&srv->fanout))
    ;
  return rc;
}

/* --- workers, start and shutdown --- */

/* New-call events handled in a row before a pending fan-out batch gets
 * its turn, so neither starves the other. */
#ifndef EVENTS_PER_BATCH
#define EVENTS_PER_BATCH 64
#endif

static void *worker_main(void *arg)
{
  worker *w = arg;
  ntf_fanout *fo = &w->srv->fanout;
  int events = 0;
  for (;;) {
    /* With fan-out work waiting, only look at the queue (zero timeout):
     * whatever completed meanwhile is handled first, then one batch. */
    bool work = ntf_fanout_available(fo);
    if (work && events >= EVENTS_PER_BATCH) {
      ntf_fanout_run(fo);
      events = 0;
      continue;
    }
    grpc_event ev =
        grpc_completion_queue_next(w->cq,
                                   work ? gpr_inf_past(GPR_CLOCK_MONOTONIC)
                                        : gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                   NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (ev.type == GRPC_OP_COMPLETE) {
      struct tag *t = ev.tag;
      t->cb(t, ev.success != 0);
      events++;
    } else if (work) {
      ntf_fanout_run(fo);
      events = 0;
    }
  }
  return NULL;
}

static void on_server_shutdown(struct tag *t, bool ok)
{
  (void)ok;
  ntf_server *srv = container_of(t, ntf_server, shutdown_tag);
  pthread_mutex_lock(&srv->lock);
  srv->shutdown_done = true;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);
}

static void on_call_cq_down(grpc_completion_queue_functor *f, int ok)
{
  (void)ok;
  call_cq *q = (call_cq *)(void *)f;
  ntf_server *srv = q->srv;
  pthread_mutex_lock(&srv->lock);
  srv->call_cqs_down++;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);
}

/* Shuts the call queues down once no call can use them any more, waits
 * (at most 2 s) for their shutdown callbacks, and destroys them. Returns
 * false when a callback did not come: `srv` must then outlive us. */
static bool close_call_cqs(ntf_server *srv)
{
  for (int i = 0; i < srv->ncall_cqs; i++)
    grpc_completion_queue_shutdown(srv->call_cqs[i].cq);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 2;
  pthread_mutex_lock(&srv->lock);
  while (srv->call_cqs_down < srv->ncall_cqs)
    if (pthread_cond_timedwait(&srv->cond, &srv->lock, &deadline) != 0)
      break;
  bool all = srv->call_cqs_down == srv->ncall_cqs;
  pthread_mutex_unlock(&srv->lock);
  if (!all)
    return false;
  for (int i = 0; i < srv->ncall_cqs; i++)
    grpc_completion_queue_destroy(srv->call_cqs[i].cq);
  srv->ncall_cqs = 0;
  return true;
}

static void set_int(grpc_arg *a, const char *key, int64_t v)
{
  a->type = GRPC_ARG_INTEGER;
  a->key = (char *)key;
  a->value.integer = v > INT32_MAX ? INT32_MAX : (int)v;
}

int ntf_server_start(const ntf_config *cfg, ntf_server **out, int *port)
{
  int rc = NTF_ENOMEM;
  ntf_server *srv = calloc(1, sizeof *srv);
  if (srv == NULL)
    return NTF_ENOMEM;
  srv->cfg = *cfg;
  atomic_init(&srv->shutting_down, false);
  pthread_mutex_init(&srv->lock, NULL);
  pthread_mutex_init(&srv->req_lock, NULL);
  pthread_cond_init(&srv->cond, NULL);
  tag_init(&srv->shutdown_tag, on_server_shutdown);

  if (ntf_registry_init(&srv->registry, (size_t)cfg->max_streams) < 0)
    goto fail_registry;
  /* The completion-queue workers do fan-out between their events (see
   * internal.h), and so do helper threads, one per worker by default: with
   * send completions running inline (see the top of this file) the helpers
   * add cores without adding wake-ups. Measured here at 10,000 streams on
   * 2 cores: p50 ~155 ms with no helper, ~100 ms with two. */
  int helpers = cfg->fanout_threads >= 0 ? cfg->fanout_threads : cfg->threads;
  if (helpers > NTF_FANOUT_MAX_THREADS)
    helpers = NTF_FANOUT_MAX_THREADS;
  rc = ntf_fanout_start(&srv->fanout, &srv->registry, helpers, FANOUT_BATCH);
  if (rc < 0)
    goto fail_fanout;
  srv->fanout_started = true;
  for (int i = 0; i < CALL_CQS; i++) {
    call_cq *q = &srv->call_cqs[i];
    q->on_shutdown.functor_run = on_call_cq_down;
    q->srv = srv;
    q->cq = grpc_completion_queue_create_for_callback(&q->on_shutdown, NULL);
    srv->ncall_cqs++;
  }

  grpc_arg args[8];
  set_int(&args[0], GRPC_ARG_KEEPALIVE_TIME_MS, cfg->keepalive_time_ms);
  set_int(&args[1], GRPC_ARG_KEEPALIVE_TIMEOUT_MS, cfg->keepalive_timeout_ms);
  /* Clients of long-lived idle streams ping to keep NATs open: allow it. */
  set_int(&args[2], GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  set_int(&args[3], GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
          cfg->min_ping_interval_ms);
  set_int(&args[4], GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  /* The hard cap on any request message: a payload plus its envelope. */
  set_int(&args[5], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, NTF_REQUEST_MAX);
  set_int(&args[6], GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  /* Channelz keeps a node per connection and stamps every message sent on
   * it; nothing here reads it, and a broadcast to 10,000 streams pays that
   * 10,000 times. */
  set_int(&args[7], GRPC_ARG_ENABLE_CHANNELZ, 0);
  grpc_channel_args chargs = {sizeof args / sizeof *args, args};
  srv->server = grpc_server_create(&chargs, NULL);
  if (srv->server == NULL)
    goto fail_server;
  srv->m_connect = grpc_server_register_method(
      srv->server, "/notifier.Notifier/Connect", NULL,
      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  srv->m_publish = grpc_server_register_method(
      srv->server, "/notifier.Notifier/Publish", NULL,
      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  srv->workers = calloc((size_t)cfg->threads, sizeof *srv->workers);
  if (srv->m_connect == NULL || srv->m_publish == NULL || srv->workers == NULL)
    goto fail_workers;
  for (int i = 0; i < cfg->threads; i++) {
    srv->workers[i].srv = srv;
    srv->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->workers[i].cq,
                                          NULL);
    srv->nworkers++;
  }
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int bound = grpc_server_add_http2_port(srv->server, cfg->grpc_addr, creds);
  grpc_server_credentials_release(creds);
  if (bound == 0) {
    rc = NTF_EINVAL;
    goto fail_workers;
  }
  grpc_server_start(srv->server);
  for (int i = 0; i < srv->nworkers; i++) {
    worker *w = &srv->workers[i];
    for (int k = 0; k < PENDING_CONNECT; k++)
      request_new(w, KIND_CONNECT);
    for (int k = 0; k < PENDING_PUBLISH; k++)
      request_new(w, KIND_PUBLISH);
    for (int k = 0; k < PENDING_OTHER; k++)
      request_new(w, KIND_OTHER);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      ntf_server_shutdown(srv, 0);
      return NTF_ESYSTEM;
    }
    w->started = true;
  }
  *port = bound;
  *out = srv;
  return 0;

fail_workers:
  /* Not started: no calls exist, so the server goes without a shutdown. */
  grpc_server_destroy(srv->server);
  for (int i = 0; i < srv->nworkers; i++) {
    grpc_completion_queue_shutdown(srv->workers[i].cq);
    while (grpc_completion_queue_next(srv->workers[i].cq,
                                      gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
      ;
    grpc_completion_queue_destroy(srv->workers[i].cq);
  }
  free(srv->workers);
fail_server:
  if (!close_call_cqs(srv))
    return rc; /* a late callback would find srv freed: keep it */
  ntf_fanout_stop(&srv->fanout);
  ntf_fanout_close(&srv->fanout);
fail_fanout:
  ntf_registry_close(&srv->registry);
fail_registry:
  pthread_cond_destroy(&srv->cond);
  pthread_mutex_destroy(&srv->req_lock);
  pthread_mutex_destroy(&srv->lock);
  free(srv);
  return rc;
}

/* Waits for the shutdown tag until `deadline` (CLOCK_REALTIME). */
static bool wait_shutdown(ntf_server *srv, const struct timespec *deadline)
{
  pthread_mutex_lock(&srv->lock);
  while (!srv->shutdown_done)
    if (pthread_cond_timedwait(&srv->cond, &srv->lock, deadline) != 0)
      break;
  bool done = srv->shutdown_done;
  pthread_mutex_unlock(&srv->lock);
  return done;
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000;
  if (ts->tv_nsec >= 1000000000) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000;
  }
}

int ntf_server_shutdown(ntf_server *srv, int64_t grace_ms)
{
  atomic_store(&srv->shutting_down, true);
  /* Stop accepting; pending requests complete with ok=false. */
  grpc_server_shutdown_and_notify(srv->server, srv->workers[0].cq,
                                  &srv->shutdown_tag);
  /* Queued publishes complete (their calls must end for the shutdown to);
   * new ones are refused with UNAVAILABLE. */
  ntf_fanout_stop(&srv->fanout);
  /* End every open stream with a status. */
  ntf_stream **all = NULL;
  size_t n = 0;
  if (ntf_registry_snapshot(&srv->registry, NULL, 0, &all, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      ntf_stream_finish(all[i]);
      ntf_stream_unref(all[i]);
    }
    free(all);
  }
  struct timespec deadline;
  deadline_in(&deadline, grace_ms);
  bool ok = true;
  for (int i = 0; i < srv->nworkers; i++)
    ok = ok && srv->workers[i].started;
  if (ok && !wait_shutdown(srv, &deadline)) {
    ntf_log("shutdown: calls still open after %" PRId64 " ms; cancelling",
            grace_ms);
    grpc_server_cancel_all_calls(srv->server);
    deadline_in(&deadline, 1500);
    if (!wait_shutdown(srv, &deadline))
      ntf_log("shutdown: the server did not stop; exiting anyway");
  }
  pthread_mutex_lock(&srv->lock);
  bool done = srv->shutdown_done;
  pthread_mutex_unlock(&srv->lock);
  /* Completions already queued may start one last batch each (a stream's
   * status after its in-flight send): wait for every call object to go. */
  int64_t until = npc_mono_ns() + 1000 * 1000000LL;
  while (atomic_load(&live_objects) > 0 && npc_mono_ns() < until) {
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
  }
  long live = atomic_load(&live_objects);
  if (!done || live > 0) {
    /* Shutting the queues down now could let gRPC core assert on a batch
     * started later, and destroying an unfinished server asserts too:
     * leave both to the process exit. */
    ntf_log("shutdown: server %s, %ld call objects alive; not cleaning up",
            done ? "stopped" : "not stopped", live);
    return NTF_ECLOSED;
  }
  pthread_mutex_lock(&srv->req_lock);
  srv->requests_closed = true;
  pthread_mutex_unlock(&srv->req_lock);
  for (int i = 0; i < srv->nworkers; i++)
    grpc_completion_queue_shutdown(srv->workers[i].cq);
  for (int i = 0; i < srv->nworkers; i++)
    if (srv->workers[i].started)
      pthread_join(srv->workers[i].thread, NULL);
  grpc_server_destroy(srv->server);
  for (int i = 0; i < srv->nworkers; i++)
    grpc_completion_queue_destroy(srv->workers[i].cq);
  if (!close_call_cqs(srv)) {
    ntf_log("shutdown: call queues did not shut down; not cleaning up");
    return NTF_ECLOSED;
  }
  ntf_fanout_close(&srv->fanout);
  ntf_registry_close(&srv->registry);
  free(srv->workers);
  pthread_cond_destroy(&srv->cond);
  pthread_mutex_destroy(&srv->req_lock);
  pthread_mutex_destroy(&srv->lock);
  free(srv);
  return 0;
}
