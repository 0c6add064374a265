/* The gRPC request headers as nghttp2 takes them: shared by the modules
 * that submit requests (conn.c on the workers' loops, publish.c on the
 * main thread). Private: only modules that link nghttp2 include it. */
#ifndef LOADGEN_H2_H
#define LOADGEN_H2_H

#include <nghttp2/nghttp2.h>

#include "internal.h"

/* :method :scheme :path :authority content-type te user-agent, and
 * grpc-timeout when a call has a deadline. */
#define LG_GRPC_BASE_HEADERS 8
#define LG_GRPC_MAX_HEADERS (LG_GRPC_BASE_HEADERS + LG_MAX_METADATA)

/* Fills nv with the headers of a gRPC call to `path`, the user's metadata
 * last, and returns how many. The entries point at the arguments, which
 * must outlive the submit. timeout: a grpc-timeout value ("10S") or NULL. */
size_t lg__grpc_headers(nghttp2_nv *nv, const char *path, const char *authority,
                        bool tls, const char *timeout, const lg_metadata *md,
                        uint8_t flags);

/* A call's response codes as its headers arrive: :status into *http_status
 * and grpc-status into *grpc_status (-2 when malformed, as lg_grpc_header
 * says), int16 because a held stream keeps them. Returns true when the
 * header was grpc-message, decoded into msg (lg_grpc_message_decode). */
bool lg__grpc_header_take(const uint8_t *name, size_t namelen,
                          const uint8_t *value, size_t valuelen,
                          int16_t *http_status, int16_t *grpc_status, char *msg,
                          size_t msgsize);

/* nghttp2's data source for a request body held whole in memory: copies
 * the next piece the flow-control window allows (length), advances *sent
 * and flags the end of the body. */
ssize_t lg__grpc_body_piece(uint8_t *buf, size_t length, const uint8_t *body,
                            size_t len, uint32_t *sent, uint32_t *flags);

#endif
