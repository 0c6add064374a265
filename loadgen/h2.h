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

#endif
