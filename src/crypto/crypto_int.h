/* Internal helpers shared by the crypto layer's files. Not part of the API. */
#ifndef AIM_CRYPTO_INT_H
#define AIM_CRYPTO_INT_H

#include "crypto/crypto.h"

#include <openssl/evp.h>

/* Records AIM_ERR_CRYPTO with the first queued OpenSSL error, clears the
 * queue and returns -1. */
int aim_crypto_fail(const char *what);

const EVP_MD *aim_md(enum aim_hash_alg h);

/* Reserves n bytes at the end of b and returns where to write them, or NULL
 * (failure recorded). Commit with aim_buf_commit(b, n). */
uint8_t *aim_buf_slot(struct aim_buf *b, size_t n);
void aim_buf_commit(struct aim_buf *b, size_t n);

/* The curves behind both the signature and KEM tables. */
enum aim_curve {
	AIM_CURVE_NONE = 0,
	AIM_CURVE_X25519,
	AIM_CURVE_X448,
	AIM_CURVE_ED25519,
	AIM_CURVE_ED448,
	AIM_CURVE_P256,
	AIM_CURVE_P384,
	AIM_CURVE_P521,
};

/* Raw private key -> EVP_PKEY. For P-curves the EVP_PKEY holds only the
 * scalar (enough to sign and derive, not to export a public key). */
int aim_curve_pkey_private(enum aim_curve c, struct aim_bytes sk, EVP_PKEY **out);
/* Raw public key -> EVP_PKEY; P-curve points are checked to be on the curve. */
int aim_curve_pkey_public(enum aim_curve c, struct aim_bytes pk, EVP_PKEY **out);
/* Appends the raw public key of a raw private key. */
int aim_curve_public(enum aim_curve c, struct aim_bytes sk, struct aim_buf *pk);
/* Checks a P-curve scalar is in [1, order-1]; others always pass. */
int aim_curve_scalar_ok(enum aim_curve c, const uint8_t *sk, size_t len, bool *ok);
size_t aim_curve_sk_len(enum aim_curve c);
size_t aim_curve_pk_len(enum aim_curve c);

enum aim_curve aim_kem_curve(enum aim_kem_alg k);
/* The curve of a signature scheme and its hash (NULL for EdDSA), or
 * AIM_CURVE_NONE for an unknown scheme (nothing recorded). */
enum aim_curve aim_sig_curve(enum aim_sig_alg s, const EVP_MD **md);

/* The EVP_PKEY inside a parsed key (borrowed). */
EVP_PKEY *aim_pkey_evp(const struct aim_pkey *k);
/* Wraps k (ownership taken; freed on failure) into a new *out. */
int aim_pkey_wrap(EVP_PKEY *k, struct aim_pkey **out);

#endif
