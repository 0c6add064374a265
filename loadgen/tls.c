/* TLS for the loadgen's connections: OpenSSL drives the protocol, the
 * bytes move through a BIO of ours (see tls.h) so that OpenSSL never needs
 * a socket. A certificate that does not verify is reported with X.509's own
 * reason ("unable to get local issuer certificate"), which conn.c turns
 * into the run's failure instead of a retry. */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *data, int len)
{
  lg_tls_io *io = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0)
    return 0;
  if (io->out == NULL ||
      io->out(io->out_ud, (const uint8_t *)data, (size_t)len) != 0)
    return -1;
  return len;
}

static int bio_read(BIO *b, char *buf, int len)
{
  lg_tls_io *io = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0)
    return 0;
  if (io->inlen == 0) {
    /* Everything the socket gave has been consumed: OpenSSL keeps a
     * partial record in its own buffer and asks again on the next read. */
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = io->inlen < (size_t)len ? io->inlen : (size_t)len;
  memcpy(buf, io->in, n);
  io->in += n;
  io->inlen -= n;
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  (void)b, (void)num, (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
  BIO_set_init(b, 1);
  return 1;
}

static void make_method(void)
{
  BIO_METHOD *m =
      BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "loadgen");
  if (m == NULL)
    return;
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  method = m;
}

/* OpenSSL's first queued error, in words. */
static void openssl_reason(char *out, size_t size)
{
  unsigned long e = ERR_get_error();
  if (e == 0) {
    snprintf(out, size, "no reason given");
    return;
  }
  const char *r = ERR_reason_error_string(e);
  if (r != NULL)
    snprintf(out, size, "%s", r);
  else
    ERR_error_string_n(e, out, size);
  ERR_clear_error();
}

int lg__tls_ctx_new(const char *cacert, bool insecure, SSL_CTX **out, char *err,
                    size_t errlen)
{
  pthread_once(&method_once, make_method);
  if (method == NULL)
    return LG_ENOMEM;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL)
    return LG_ENOMEM;
  int rc = LG_EINVAL;
  char why[200];
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Idle connections return their 16 KiB record buffers to the heap. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  /* Each user is its own client: no resumption across users, and no
   * session kept per connection beyond the one in use. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  /* OpenSSL's own groups, P-256 moved first: it sends a key share for the
   * first only, and gRPC core's servers (C++, Python, Ruby, PHP...) accept
   * P-256 alone, so leading with X25519 costs every connection a
   * HelloRetryRequest, one more round trip and a second key. Servers that
   * prefer X25519 still take the P-256 share offered (OpenSSL, BoringSSL,
   * Go all use a share the client sent rather than ask again). */
  if (SSL_CTX_set1_groups_list(ctx, "P-256:X25519:X448:P-521:P-384:"
                                    "ffdhe2048:ffdhe3072:ffdhe4096:"
                                    "ffdhe6144:ffdhe8192") != 1) {
    rc = LG_ENOMEM;
    goto out;
  }
  static const unsigned char alpn[] = {2, 'h', '2'};
  if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn) != 0) {
    rc = LG_ENOMEM;
    goto out;
  }
  if (insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cacert != NULL) {
      if (access(cacert, R_OK) != 0) {
        snprintf(err, errlen, "--cacert %s: %s", cacert, strerror(errno));
        goto out;
      }
      if (SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
        openssl_reason(why, sizeof why);
        snprintf(err, errlen, "--cacert %s: %s (expected PEM certificates)",
                 cacert, why);
        goto out;
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      openssl_reason(why, sizeof why);
      snprintf(err, errlen, "the system's CA certificates: %s", why);
      goto out;
    }
  }
  *out = ctx;
  ctx = NULL;
  rc = 0;
out:
  SSL_CTX_free(ctx);
  return rc;
}

void lg__tls_ctx_free(SSL_CTX *ctx)
{
  SSL_CTX_free(ctx);
}

static bool ip_literal(const char *name)
{
  unsigned char buf[16];
  return inet_pton(AF_INET, name, buf) == 1 ||
         inet_pton(AF_INET6, name, buf) == 1;
}

SSL *lg__tls_new(SSL_CTX *ctx, lg_tls_io *io, const char *name, bool verify)
{
  SSL *ssl = SSL_new(ctx);
  BIO *bio = BIO_new(method);
  if (ssl == NULL || bio == NULL) {
    SSL_free(ssl);
    BIO_free(bio);
    return NULL;
  }
  BIO_set_data(bio, io);
  SSL_set_bio(ssl, bio, bio); /* one reference, now the SSL's */
  SSL_set_connect_state(ssl);
  bool ip = ip_literal(name);
  if (!ip && SSL_set_tlsext_host_name(ssl, name) != 1)
    goto fail;
  if (verify) {
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1
           : SSL_set1_host(ssl, name) != 1)
      goto fail;
  }
  return ssl;
fail:
  SSL_free(ssl);
  return NULL;
}

void lg__tls_free(SSL *ssl)
{
  SSL_free(ssl);
}

int lg__tls_handshake(SSL *ssl, char *err, size_t errlen)
{
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    if (n != 2 || memcmp(p, "h2", 2) != 0) {
      snprintf(err, errlen,
               "TLS: the server did not agree to HTTP/2 (ALPN h2): is it a "
               "gRPC server?");
      return LG_EALPN;
    }
    return 0;
  }
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return 1;
  long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK) {
    snprintf(err, errlen,
             "TLS: the server's certificate did not verify: %s (trust its "
             "CA with --cacert FILE, or --insecure)",
             X509_verify_cert_error_string(v));
    ERR_clear_error();
    return LG_ECERT;
  }
  if (e == SSL_ERROR_SSL) {
    char why[200];
    openssl_reason(why, sizeof why);
    snprintf(err, errlen, "TLS handshake: %s", why);
    return LG_ETLS;
  }
  ERR_clear_error();
  snprintf(err, errlen,
           "the server closed the connection during the TLS "
           "handshake");
  return -ECONNRESET;
}

int lg__tls_read(SSL *ssl, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
  ERR_clear_error();
  int r = SSL_read(ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  if (r > 0)
    return r;
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return 0;
  if (e == SSL_ERROR_ZERO_RETURN)
    return -ECONNRESET;
  char why[200];
  openssl_reason(why, sizeof why);
  snprintf(err, errlen, "TLS: %s", why);
  return LG_ETLS;
}

int lg__tls_write(SSL *ssl, const uint8_t *p, size_t n)
{
  while (n > 0) {
    ERR_clear_error();
    int chunk = n > INT32_MAX ? INT32_MAX : (int)n;
    int r = SSL_write(ssl, p, chunk);
    if (r <= 0) {
      ERR_clear_error();
      return LG_ETLS;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

void lg__tls_shutdown(SSL *ssl)
{
  ERR_clear_error();
  if (SSL_is_init_finished(ssl))
    SSL_shutdown(ssl);
  ERR_clear_error();
}
