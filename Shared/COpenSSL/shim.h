#ifndef HAYON_COPENSSL_SHIM_H
#define HAYON_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// OpenSSL exposes these as function-like macros, which Swift cannot import.
static inline long hayon_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline int hayon_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) { return (int)SSL_CTX_set_min_proto_version(ctx, v); }
static inline int hayon_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
static inline size_t hayon_BIO_pending(BIO *bio) { return BIO_ctrl_pending(bio); }
static inline void hayon_SSL_CTX_set_app_data(SSL_CTX *ctx, void *data) { SSL_CTX_set_app_data(ctx, data); }
static inline void *hayon_SSL_CTX_get_app_data(const SSL_CTX *ctx) { return SSL_CTX_get_app_data(ctx); }

// HayonCrypto: <openssl/rand.h> is not reached through ssl.h, so RAND_bytes needs its own include.
#include <openssl/rand.h>
static inline int hayon_RAND_bytes(unsigned char *buffer, int count) { return RAND_bytes(buffer, count); }

#endif
