/* TLS under nghttp2, through OpenSSL: what conn.c and worker.c share with
 * tls.c (and its unit test). Private: only the modules that hold an SSL
 * include it.
 *
 * The bytes never go through an OpenSSL buffer of ours: a custom BIO reads
 * ciphertext straight from the worker's read buffer and hands output to
 * the connection's writer, so an idle connection holds no buffer at all
 * (with SSL_MODE_RELEASE_BUFFERS, OpenSSL's own record buffers are freed
 * between records too). */
#ifndef LOADGEN_TLS_H
#define LOADGEN_TLS_H

#include <openssl/ssl.h>

#include "internal.h"

/* Where one call into OpenSSL reads and writes: set before each call, for
 * the connection being served (one per event loop, shared by its
 * connections). out() returns 0, or non-zero to fail the write. */
typedef struct {
  const uint8_t *in;
  size_t inlen;
  int (*out)(void *ud, const uint8_t *p, size_t n);
  void *out_ud;
} lg_tls_io;

/* The client context: TLS 1.2 or later, ALPN h2, verification against
 * `cacert` (a PEM file) or the system's CAs, none when insecure; no session
 * cache; SSL_MODE_RELEASE_BUFFERS. Returns 0, LG_EINVAL (cacert unusable:
 * err says why) or LG_ENOMEM. */
int lg__tls_ctx_new(const char *cacert, bool insecure, SSL_CTX **out, char *err,
                    size_t errlen);
void lg__tls_ctx_free(SSL_CTX *ctx);
/* A client session reading and writing through io, sending `name` as SNI
 * (unless an IP literal) and, when verify, checking the certificate names
 * it (host name or IP address). NULL when out of memory. */
SSL *lg__tls_new(SSL_CTX *ctx, lg_tls_io *io, const char *name, bool verify);
void lg__tls_free(SSL *ssl);
/* Advances the handshake with what io->in holds. Returns 0 when done (and
 * the server chose h2), 1 when it needs more bytes from the server,
 * LG_ECERT (the X.509 reason in err), LG_EALPN, LG_ETLS (OpenSSL's reason
 * in err), or -ECONNRESET when the server closed the connection. */
int lg__tls_handshake(SSL *ssl, char *err, size_t errlen);
/* Decrypts from io->in into buf. Returns the bytes (> 0), 0 when it needs
 * more input, -ECONNRESET (the server closed: close_notify), or LG_ETLS
 * (err says why). */
int lg__tls_read(SSL *ssl, uint8_t *buf, size_t cap, char *err, size_t errlen);
/* Encrypts n bytes (all of them: our BIO never blocks) into io->out.
 * Returns 0 or LG_ETLS. */
int lg__tls_write(SSL *ssl, const uint8_t *p, size_t n);
/* Queues close_notify (best effort, before the TCP close). */
void lg__tls_shutdown(SSL *ssl);

#endif
