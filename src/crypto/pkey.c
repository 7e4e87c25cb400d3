/* Parsed keys for HTTP signatures and storage: RSA and Ed25519 in PEM; P-256
 * for the X.509 CA (x509.c). */
#include "crypto/crypto_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define RSA_GEN_BITS 2048

struct aim_pkey {
	EVP_PKEY *k;
	enum aim_key_type type;
};

static enum aim_key_type type_of(const EVP_PKEY *k)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA: return AIM_KEY_RSA;
	case EVP_PKEY_ED25519: return AIM_KEY_ED25519;
	case EVP_PKEY_EC: {
		char group[32];
		size_t len = 0;
		bool p256 = EVP_PKEY_get_group_name(k, group, sizeof(group), &len) == 1 &&
			    strcmp(group, "prime256v1") == 0;
		ERR_clear_error();
		return p256 ? AIM_KEY_P256 : AIM_KEY_OTHER;
	}
	default: return AIM_KEY_OTHER;
	}
}

EVP_PKEY *aim_pkey_evp(const struct aim_pkey *k)
{
	return k ? k->k : NULL;
}

int aim_pkey_wrap(EVP_PKEY *k, struct aim_pkey **out)
{
	enum aim_key_type t = type_of(k);
	if (t == AIM_KEY_RSA) {
		int bits = EVP_PKEY_get_bits(k);
		if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
			EVP_PKEY_free(k);
			return aim_fail(AIM_ERR_UNSUPPORTED, "RSA key of %d bits refused", bits);
		}
	}
	struct aim_pkey *p = aim_xmalloc(sizeof(*p));
	p->k = k;
	p->type = t;
	*out = p;
	return 0;
}

void aim_pkey_free(struct aim_pkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->k);
	free(k);
}

enum aim_key_type aim_pkey_type(const struct aim_pkey *k)
{
	return k ? k->type : AIM_KEY_OTHER;
}

bool aim_pkey_has_private(const struct aim_pkey *k)
{
	if (!k)
		return false;
	/* Probe for the private component without exporting it. */
	switch (k->type) {
	case AIM_KEY_RSA: {
		BIGNUM *d = NULL;
		bool has = EVP_PKEY_get_bn_param(k->k, "d", &d) == 1 && d;
		BN_clear_free(d);
		ERR_clear_error();
		return has;
	}
	case AIM_KEY_ED25519: {
		size_t len = 0;
		bool has = EVP_PKEY_get_raw_private_key(k->k, NULL, &len) == 1 && len == 32;
		ERR_clear_error();
		return has;
	}
	case AIM_KEY_P256: {
		BIGNUM *d = NULL;
		bool has = EVP_PKEY_get_bn_param(k->k, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 && d;
		BN_clear_free(d);
		ERR_clear_error();
		return has;
	}
	default:
		return false;
	}
}

unsigned aim_pkey_bits(const struct aim_pkey *k)
{
	if (!k || k->type != AIM_KEY_RSA)
		return 0;
	int bits = EVP_PKEY_get_bits(k->k);
	return bits > 0 ? (unsigned)bits : 0;
}

bool aim_pkey_public_equal(const struct aim_pkey *a, const struct aim_pkey *b)
{
	if (!a || !b)
		return false;
	bool eq = EVP_PKEY_eq(a->k, b->k) == 1;
	ERR_clear_error();
	return eq;
}

int aim_pkey_generate(enum aim_key_type t, struct aim_pkey **out)
{
	EVP_PKEY *k = NULL;
	*out = NULL;
	if (t == AIM_KEY_RSA)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_GEN_BITS);
	else if (t == AIM_KEY_ED25519)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (t == AIM_KEY_P256)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		return aim_fail(AIM_ERR_UNSUPPORTED, "cannot generate key type %d", (int)t);
	if (!k)
		return aim_crypto_fail("key generation");
	return aim_pkey_wrap(k, out);
}

/* Never prompt for a pass phrase: encrypted PEM is refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int pem_check(const char *pem, size_t len)
{
	ENSURE(pem, AIM_ERR_INVALID, "no PEM");
	ENSURE(len > 0 && len <= AIM_MAX_PEM, AIM_ERR_LIMIT, "PEM of %zu bytes refused", len);
	return 0;
}

int aim_pkey_from_public_pem(const char *pem, size_t len, struct aim_pkey **out)
{
	*out = NULL;
	TRY(pem_check(pem, len));
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return aim_crypto_fail("BIO_new_mem_buf");
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (!k) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_DECODE, "not an SPKI public key PEM");
	}
	return aim_pkey_wrap(k, out);
}

int aim_pkey_from_private_pem(const char *pem, size_t len, struct aim_pkey **out)
{
	*out = NULL;
	TRY(pem_check(pem, len));
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return aim_crypto_fail("BIO_new_mem_buf");
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (!k) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_DECODE, "not an unencrypted private key PEM");
	}
	return aim_pkey_wrap(k, out);
}

int aim_pkey_from_raw_public(enum aim_key_type t, struct aim_bytes raw, struct aim_pkey **out)
{
	*out = NULL;
	ENSURE(t == AIM_KEY_ED25519, AIM_ERR_UNSUPPORTED, "raw import only for Ed25519");
	ENSURE(raw.len == 32, AIM_ERR_INVALID, "Ed25519 public key is %zu bytes, want 32",
	       raw.len);
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw.p, raw.len);
	if (!k)
		return aim_crypto_fail("EVP_PKEY_new_raw_public_key");
	return aim_pkey_wrap(k, out);
}

/* Appends everything written to bio. */
static int bio_drain(BIO *bio, struct aim_buf *out)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	ENSURE(n > 0 && data, AIM_ERR_CRYPTO, "PEM writer produced nothing");
	return aim_buf_append(out, data, (size_t)n);
}

int aim_pkey_public_pem(const struct aim_pkey *k, struct aim_buf *out)
{
	ENSURE(k, AIM_ERR_INVALID, "no key");
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return aim_crypto_fail("BIO_new");
	int rc = 0;
	if (PEM_write_bio_PUBKEY(bio, k->k) != 1)
		rc = aim_crypto_fail("PEM_write_bio_PUBKEY");
	else
		rc = bio_drain(bio, out);
	BIO_free(bio);
	return rc;
}

int aim_pkey_private_pem(const struct aim_pkey *k, struct aim_buf *out)
{
	ENSURE(k, AIM_ERR_INVALID, "no key");
	ENSURE(aim_pkey_has_private(k), AIM_ERR_INVALID, "key has no private part");
	/* The secure-heap memory BIO is cleared when freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio)
		return aim_crypto_fail("BIO_new");
	int rc = 0;
	if (PEM_write_bio_PKCS8PrivateKey(bio, k->k, NULL, NULL, 0, NULL, NULL) != 1)
		rc = aim_crypto_fail("PEM_write_bio_PKCS8PrivateKey");
	else
		rc = bio_drain(bio, out);
	BIO_free(bio);
	return rc;
}

int aim_pkey_raw_public(const struct aim_pkey *k, struct aim_buf *out)
{
	ENSURE(k, AIM_ERR_INVALID, "no key");
	ENSURE(k->type == AIM_KEY_ED25519, AIM_ERR_UNSUPPORTED, "raw export only for Ed25519");
	uint8_t raw[32];
	size_t len = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(k->k, raw, &len) != 1 || len != 32)
		return aim_crypto_fail("EVP_PKEY_get_raw_public_key");
	return aim_buf_append(out, raw, len);
}

/* The algorithm comes from the key: RSA -> PKCS#1 v1.5 + SHA-256,
 * Ed25519 -> pure Ed25519 (no prehash). */
static int md_ctx_for(const struct aim_pkey *k, bool sign, EVP_MD_CTX **mctx)
{
	const EVP_MD *md;
	if (k->type == AIM_KEY_RSA)
		md = aim_md(AIM_HASH_SHA256);
	else if (k->type == AIM_KEY_ED25519)
		md = NULL;
	else
		return aim_fail(AIM_ERR_UNSUPPORTED, "no signature algorithm for this key type");
	*mctx = EVP_MD_CTX_new();
	if (!*mctx)
		return aim_crypto_fail("EVP_MD_CTX_new");
	EVP_PKEY_CTX *pctx = NULL;
	int ok = sign ? EVP_DigestSignInit(*mctx, &pctx, md, NULL, k->k)
		      : EVP_DigestVerifyInit(*mctx, &pctx, md, NULL, k->k);
	if (ok == 1 && k->type == AIM_KEY_RSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING);
	if (ok != 1) {
		EVP_MD_CTX_free(*mctx);
		*mctx = NULL;
		return aim_crypto_fail(sign ? "sign init" : "verify init");
	}
	return 0;
}

int aim_pkey_sign(const struct aim_pkey *k, struct aim_bytes msg, struct aim_buf *sig)
{
	ENSURE(k, AIM_ERR_INVALID, "no key");
	EVP_MD_CTX *mctx;
	TRY(md_ctx_for(k, true, &mctx));
	int rc = -1;
	size_t len = 0;
	if (EVP_DigestSign(mctx, NULL, &len, msg.p, msg.len) != 1) {
		rc = aim_crypto_fail("EVP_DigestSign");
		goto out;
	}
	uint8_t *dst = aim_buf_slot(sig, len);
	if (!dst)
		goto out;
	if (EVP_DigestSign(mctx, dst, &len, msg.p, msg.len) != 1) {
		rc = aim_crypto_fail("EVP_DigestSign");
		goto out;
	}
	aim_buf_commit(sig, len);
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

int aim_pkey_verify(const struct aim_pkey *k, struct aim_bytes msg, struct aim_bytes sig)
{
	ENSURE(k, AIM_ERR_INVALID, "no key");
	EVP_MD_CTX *mctx;
	TRY(md_ctx_for(k, false, &mctx));
	int rc = 0;
	if (sig.len == 0 || sig.len > AIM_MAX_RSA_SIG ||
	    EVP_DigestVerify(mctx, sig.p, sig.len, msg.p, msg.len) != 1) {
		ERR_clear_error();
		rc = aim_fail(AIM_ERR_VERIFY, "signature does not verify");
	}
	EVP_MD_CTX_free(mctx);
	return rc;
}
