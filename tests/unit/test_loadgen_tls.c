/* TLS for the loadgen's connections (loadgen/tls.c), against an OpenSSL
 * server in the same process over memory BIOs, with certificates made
 * here: a trusted chain, names and IP addresses checked, and each way a
 * handshake fails named in words (X.509's reason for a certificate, ALPN,
 * a server that is not TLS, an unusable --cacert); then records both ways
 * and the server's close_notify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls.h"

typedef struct {
  uint8_t data[65536];
  size_t len;
} buffer;

static int to_buffer(void *ud, const uint8_t *p, size_t n)
{
  buffer *b = ud;
  if (b->len + n > sizeof b->data)
    return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static EVP_PKEY *ca_key, *leaf_key;
static X509 *ca, *leaf, *expired;
static char ca_path[64], junk_path[64];

static void ext(X509 *x, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  assert_non_null(e);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer,
                       const char *cn, bool is_ca, long from, long to)
{
  static long serial = 1;
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from);
  X509_gmtime_adj(X509_getm_notAfter(x), to);
  X509_set_pubkey(x, key);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
  X509 *by = issuer != NULL ? issuer : x;
  if (is_ca) {
    ext(x, by, NID_basic_constraints, "critical,CA:TRUE");
    ext(x, by, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ext(x, by, NID_basic_constraints, "CA:FALSE");
    ext(x, by, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  }
  ext(x, by, NID_subject_key_identifier, "hash");
  assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
  return x;
}

static int setup(void **state)
{
  (void)state;
  ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  ca = make_cert(ca_key, ca_key, NULL, "loadgen test CA", true, -3600, 86400);
  leaf = make_cert(leaf_key, ca_key, ca, "localhost", false, -3600, 86400);
  expired = make_cert(leaf_key, ca_key, ca, "localhost", false, -7200, -3600);
  snprintf(ca_path, sizeof ca_path, "/tmp/lg-tls-ca-XXXXXX");
  int fd = mkstemp(ca_path);
  FILE *f = fdopen(fd, "w");
  PEM_write_X509(f, ca);
  fclose(f);
  snprintf(junk_path, sizeof junk_path, "/tmp/lg-tls-junk-XXXXXX");
  fd = mkstemp(junk_path);
  assert_int_equal(write(fd, "not a certificate\n", 18), 18);
  close(fd);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  unlink(ca_path);
  unlink(junk_path);
  X509_free(ca);
  X509_free(leaf);
  X509_free(expired);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(leaf_key);
  return 0;
}

static const char *server_alpn; /* what the server agrees to, or NULL */

static int select_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
  (void)s, (void)in, (void)inlen, (void)arg;
  if (server_alpn == NULL)
    return SSL_TLSEXT_ERR_NOACK;
  *out = (const unsigned char *)server_alpn;
  *outlen = (unsigned char)strlen(server_alpn);
  return SSL_TLSEXT_ERR_OK;
}

typedef struct {
  SSL_CTX *sctx, *cctx;
  SSL *srv, *cli;
  BIO *srv_in, *srv_out; /* memory BIOs: what the server reads, writes */
  lg_tls_io io;
  buffer c2s;
  uint8_t s2c[65536];
  size_t s2c_len;
  int flights; /* the client's turns in handshake() */
} pair;

static void pair_new(pair *p, X509 *cert, const char *cacert, bool insecure,
                     const char *name)
{
  memset(p, 0, sizeof *p);
  p->sctx = SSL_CTX_new(TLS_server_method());
  assert_int_equal(SSL_CTX_use_certificate(p->sctx, cert), 1);
  assert_int_equal(SSL_CTX_use_PrivateKey(p->sctx, leaf_key), 1);
  SSL_CTX_set_alpn_select_cb(p->sctx, select_alpn, NULL);
  p->srv = SSL_new(p->sctx);
  p->srv_in = BIO_new(BIO_s_mem());
  p->srv_out = BIO_new(BIO_s_mem());
  SSL_set_bio(p->srv, p->srv_in, p->srv_out);
  SSL_set_accept_state(p->srv);
  char err[256] = "";
  int rc = lg__tls_ctx_new(cacert, insecure, &p->cctx, err, sizeof err);
  if (rc != 0)
    fail_msg("ctx: %s", err);
  p->io.out = to_buffer;
  p->io.out_ud = &p->c2s;
  p->cli = lg__tls_new(p->cctx, &p->io, name, !insecure);
  assert_non_null(p->cli);
}

static void pair_free(pair *p)
{
  lg__tls_free(p->cli);
  lg__tls_ctx_free(p->cctx);
  SSL_free(p->srv);
  SSL_CTX_free(p->sctx);
}

/* Moves the client's bytes to the server, and what the server writes
 * after them to s2c (appended: the client reads it all at its next turn). */
static void server_turn(pair *p)
{
  BIO_write(p->srv_in, p->c2s.data, (int)p->c2s.len);
  p->c2s.len = 0;
  if (!SSL_is_init_finished(p->srv))
    SSL_do_handshake(p->srv);
  int n = BIO_read(p->srv_out, p->s2c + p->s2c_len,
                   (int)(sizeof p->s2c - p->s2c_len));
  p->s2c_len += n > 0 ? (size_t)n : 0;
}

/* The client's turn to read everything the server wrote. */
static void client_feed(pair *p)
{
  p->io.in = p->s2c;
  p->io.inlen = p->s2c_len;
  p->s2c_len = 0;
}

/* Runs the handshake to its end; returns the client's code. */
static int handshake(pair *p, char *err, size_t errlen)
{
  for (int round = 0; round < 10; round++) {
    client_feed(p);
    p->flights++;
    int rc = lg__tls_handshake(p->cli, err, errlen);
    if (rc < 0)
      return rc;
    if (rc == 1)
      assert_int_equal(p->io.inlen, 0); /* every byte consumed */
    if (rc == 0)
      return rc;
    server_turn(p);
  }
  fail_msg("the handshake did not end in 10 rounds");
  return -1;
}

static void test_trusted(void **state)
{
  (void)state;
  pair p;
  char err[256];
  server_alpn = "h2";
  pair_new(&p, leaf, ca_path, false, "localhost");
  assert_true(SSL_CTX_get_mode(p.cctx) & SSL_MODE_RELEASE_BUFFERS);
  assert_int_equal(handshake(&p, err, sizeof err), 0);
  server_turn(&p); /* the client's Finished */
  assert_true(SSL_is_init_finished(p.srv));

  /* records both ways */
  assert_int_equal(lg__tls_write(p.cli, (const uint8_t *)"ping", 4), 0);
  server_turn(&p);
  char got[16] = "";
  assert_int_equal(SSL_read(p.srv, got, sizeof got), 4);
  assert_memory_equal(got, "ping", 4);
  assert_int_equal(SSL_write(p.srv, "pong!", 5), 5);
  server_turn(&p);
  client_feed(&p);
  uint8_t buf[64];
  int r;
  /* TLS 1.3 session tickets come first: read until the data or empty */
  while ((r = lg__tls_read(p.cli, buf, sizeof buf, err, sizeof err)) == 0 &&
         p.io.inlen > 0)
    ;
  assert_int_equal(r, 5);
  assert_memory_equal(buf, "pong!", 5);
  assert_int_equal(lg__tls_read(p.cli, buf, sizeof buf, err, sizeof err), 0);
  /* the server says goodbye: the client reads it as closed */
  SSL_shutdown(p.srv);
  server_turn(&p);
  client_feed(&p);
  assert_int_equal(lg__tls_read(p.cli, buf, sizeof buf, err, sizeof err),
                   -ECONNRESET);
  pair_free(&p);

  /* an IP address is checked against the certificate's IP names */
  pair_new(&p, leaf, ca_path, false, "127.0.0.1");
  assert_int_equal(handshake(&p, err, sizeof err), 0);
  pair_free(&p);
}

/* A server that takes P-256 only, as gRPC core's do: the client's first
 * flight already carries a P-256 key share, so the handshake ends without a
 * HelloRetryRequest (one round trip, one key pair). */
static void test_p256_first(void **state)
{
  (void)state;
  pair p;
  char err[256];
  server_alpn = "h2";
  pair_new(&p, leaf, ca_path, false, "localhost");
  assert_int_equal(SSL_set1_groups_list(p.srv, "P-256"), 1);
  assert_int_equal(handshake(&p, err, sizeof err), 0);
  /* ClientHello, then the server's whole flight: no second ClientHello */
  assert_int_equal(p.flights, 2);
  assert_int_equal(SSL_get_negotiated_group(p.cli), NID_X9_62_prime256v1);
  pair_free(&p);
}

static void test_not_verified(void **state)
{
  (void)state;
  pair p;
  char err[256];
  server_alpn = "h2";
  struct {
    X509 *cert;
    const char *cacert, *name, *says;
  } cases[] = {
      /* the system's CAs do not know ours */
      {leaf, NULL, "localhost", "unable to get local issuer certificate"},
      {leaf, ca_path, "other.example", "hostname mismatch"},
      {leaf, ca_path, "127.0.0.2", "IP address mismatch"},
      {expired, ca_path, "localhost", "certificate has expired"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pair_new(&p, cases[i].cert, cases[i].cacert, false, cases[i].name);
    err[0] = '\0';
    int rc = handshake(&p, err, sizeof err);
    if (rc != LG_ECERT || strstr(err, cases[i].says) == NULL ||
        strstr(err, "did not verify") == NULL)
      fail_msg("case %zu: %d '%s', want '%s'", i, rc, err, cases[i].says);
    pair_free(&p);
  }
  /* --insecure: the same untrusted server is accepted */
  pair_new(&p, leaf, NULL, true, "other.example");
  assert_int_equal(handshake(&p, err, sizeof err), 0);
  pair_free(&p);
}

static void test_alpn(void **state)
{
  (void)state;
  pair p;
  char err[256];
  const char *offers[] = {NULL, "http/1.1"};
  for (size_t i = 0; i < 2; i++) {
    server_alpn = offers[i];
    pair_new(&p, leaf, ca_path, false, "localhost");
    err[0] = '\0';
    if (i == 1) {
      /* a server choosing what the client never offered breaks the
       * handshake itself (OpenSSL checks); with nothing chosen, the
       * handshake completes and loadgen refuses it */
      int rc = handshake(&p, err, sizeof err);
      assert_true(rc == LG_EALPN || rc == LG_ETLS);
    } else {
      assert_int_equal(handshake(&p, err, sizeof err), LG_EALPN);
      assert_non_null(strstr(err, "ALPN h2"));
    }
    pair_free(&p);
  }
  server_alpn = "h2";
}

static void test_not_tls(void **state)
{
  (void)state;
  pair p;
  char err[256] = "";
  pair_new(&p, leaf, ca_path, false, "localhost");
  p.io.in = NULL;
  p.io.inlen = 0;
  assert_int_equal(lg__tls_handshake(p.cli, err, sizeof err), 1);
  assert_true(p.c2s.len > 0); /* the ClientHello */
  /* a plaintext HTTP/2 server answers with its SETTINGS frame */
  static const uint8_t h2[] = {0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100};
  p.io.in = h2;
  p.io.inlen = sizeof h2;
  int rc = lg__tls_handshake(p.cli, err, sizeof err);
  assert_int_equal(rc, LG_ETLS);
  assert_non_null(strstr(err, "TLS handshake: "));
  pair_free(&p);
}

static void test_bad_cacert(void **state)
{
  (void)state;
  SSL_CTX *ctx = NULL;
  char err[256] = "";
  assert_int_equal(
      lg__tls_ctx_new("/nonexistent/ca.pem", false, &ctx, err, sizeof err),
      LG_EINVAL);
  assert_non_null(strstr(err, "--cacert /nonexistent/ca.pem"));
  assert_non_null(strstr(err, "No such file"));
  assert_null(ctx);
  err[0] = '\0';
  assert_int_equal(lg__tls_ctx_new(junk_path, false, &ctx, err, sizeof err),
                   LG_EINVAL);
  assert_non_null(strstr(err, "expected PEM"));
  assert_null(ctx);
  /* the system's CAs load (ca-certificates may be absent: still a ctx) */
  assert_int_equal(lg__tls_ctx_new(NULL, false, &ctx, err, sizeof err), 0);
  lg__tls_ctx_free(ctx);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trusted),      cmocka_unit_test(test_p256_first),
      cmocka_unit_test(test_not_verified), cmocka_unit_test(test_alpn),
      cmocka_unit_test(test_not_tls),      cmocka_unit_test(test_bad_cacert),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
