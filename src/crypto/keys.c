/* Raw-format keys for MLS: signatures (Ed25519, Ed448, ECDSA P-256/384/521)
 * and DH (X25519, X448, P-256/384/521). P-curve arithmetic uses the EC_GROUP
 * and EC_POINT API (not deprecated in OpenSSL 3.0); keys are handed to EVP
 * through OSSL_PARAM. */
#include "crypto/crypto_int.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

struct curve_info {
	int evp_type;      /* EVP_PKEY_X25519 etc., or EVP_PKEY_EC */
	int nid;           /* for P-curves */
	const char *group; /* for P-curves */
	size_t sk_len, pk_len;
};

static const struct curve_info curves[] = {
	[AIM_CURVE_X25519] = { EVP_PKEY_X25519, 0, NULL, 32, 32 },
	[AIM_CURVE_X448] = { EVP_PKEY_X448, 0, NULL, 56, 56 },
	[AIM_CURVE_ED25519] = { EVP_PKEY_ED25519, 0, NULL, 32, 32 },
	[AIM_CURVE_ED448] = { EVP_PKEY_ED448, 0, NULL, 57, 57 },
	[AIM_CURVE_P256] = { EVP_PKEY_EC, NID_X9_62_prime256v1, "P-256", 32, 65 },
	[AIM_CURVE_P384] = { EVP_PKEY_EC, NID_secp384r1, "P-384", 48, 97 },
	[AIM_CURVE_P521] = { EVP_PKEY_EC, NID_secp521r1, "P-521", 66, 133 },
};

static const struct curve_info *curve_get(enum aim_curve c)
{
	if (c <= AIM_CURVE_NONE || c > AIM_CURVE_P521) {
		aim_fail(AIM_ERR_UNSUPPORTED, "unknown curve %d", (int)c);
		return NULL;
	}
	return &curves[c];
}

size_t aim_curve_sk_len(enum aim_curve c)
{
	return c > AIM_CURVE_NONE && c <= AIM_CURVE_P521 ? curves[c].sk_len : 0;
}

size_t aim_curve_pk_len(enum aim_curve c)
{
	return c > AIM_CURVE_NONE && c <= AIM_CURVE_P521 ? curves[c].pk_len : 0;
}

/* The three EC groups, created once and only read afterwards. */
static EC_GROUP *groups[AIM_CURVE_P521 + 1];
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;

static void groups_init(void)
{
	for (int c = AIM_CURVE_P256; c <= AIM_CURVE_P521; c++)
		groups[c] = EC_GROUP_new_by_curve_name(curves[c].nid);
}

static const EC_GROUP *group_get(enum aim_curve c)
{
	pthread_once(&groups_once, groups_init);
	if (!groups[c])
		aim_crypto_fail("EC_GROUP_new_by_curve_name");
	return groups[c];
}

static bool is_pcurve(enum aim_curve c)
{
	return c == AIM_CURVE_P256 || c == AIM_CURVE_P384 || c == AIM_CURVE_P521;
}

int aim_curve_scalar_ok(enum aim_curve c, const uint8_t *sk, size_t len, bool *ok)
{
	*ok = true;
	if (!is_pcurve(c))
		return 0;
	const EC_GROUP *g = group_get(c);
	if (!g)
		return -1;
	BIGNUM *d = BN_secure_new();
	if (!d || !BN_bin2bn(sk, (int)len, d)) {
		BN_clear_free(d);
		return aim_crypto_fail("BN_bin2bn");
	}
	*ok = !BN_is_zero(d) && BN_cmp(d, EC_GROUP_get0_order(g)) < 0;
	BN_clear_free(d);
	return 0;
}

/* P-curve private scalar -> uncompressed public point in pub (pk_len bytes). */
static int pcurve_public(enum aim_curve c, const BIGNUM *d, uint8_t *pub)
{
	const EC_GROUP *g = group_get(c);
	if (!g)
		return -1;
	int rc = 0;
	BN_CTX *bctx = BN_CTX_secure_new();
	EC_POINT *q = EC_POINT_new(g);
	if (!bctx || !q || EC_POINT_mul(g, q, d, NULL, NULL, bctx) != 1 ||
	    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub, curves[c].pk_len,
			       bctx) != curves[c].pk_len)
		rc = aim_crypto_fail("EC public key derivation");
	EC_POINT_clear_free(q);
	BN_CTX_free(bctx);
	return rc;
}

static int pkey_fromdata(OSSL_PARAM_BLD *bld, int selection, EVP_PKEY **out)
{
	int rc = 0;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	*out = NULL;
	if (!params || !pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, out, selection, params) != 1)
		rc = aim_crypto_fail("EVP_PKEY_fromdata");
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params); /* clears private values built as secure BNs */
	return rc;
}

int aim_curve_pkey_private(enum aim_curve c, struct aim_bytes sk, EVP_PKEY **out)
{
	const struct curve_info *ci = curve_get(c);
	if (!ci)
		return -1;
	*out = NULL;
	ENSURE(sk.len == ci->sk_len, AIM_ERR_INVALID, "private key is %zu bytes, want %zu",
	       sk.len, ci->sk_len);
	if (!is_pcurve(c)) {
		*out = EVP_PKEY_new_raw_private_key(ci->evp_type, NULL, sk.p, sk.len);
		if (!*out)
			return aim_crypto_fail("EVP_PKEY_new_raw_private_key");
		return 0;
	}
	bool ok;
	TRY(aim_curve_scalar_ok(c, sk.p, sk.len, &ok));
	ENSURE(ok, AIM_ERR_INVALID, "private scalar out of range for %s", ci->group);
	/* Only the scalar goes in: ECDSA signing and ECDH need no public
	 * point, and computing one would double the cost of every call. */
	int rc = -1;
	BIGNUM *d = BN_secure_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (!d || !bld || !BN_bin2bn(sk.p, (int)sk.len, d)) {
		rc = aim_crypto_fail("BN_bin2bn");
		goto out;
	}
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ci->group, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) {
		rc = aim_crypto_fail("OSSL_PARAM_BLD");
		goto out;
	}
	rc = pkey_fromdata(bld, EVP_PKEY_KEYPAIR, out);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	return rc;
}

int aim_curve_pkey_public(enum aim_curve c, struct aim_bytes pk, EVP_PKEY **out)
{
	const struct curve_info *ci = curve_get(c);
	if (!ci)
		return -1;
	*out = NULL;
	ENSURE(pk.len == ci->pk_len, AIM_ERR_INVALID, "public key is %zu bytes, want %zu",
	       pk.len, ci->pk_len);
	if (!is_pcurve(c)) {
		*out = EVP_PKEY_new_raw_public_key(ci->evp_type, NULL, pk.p, pk.len);
		if (!*out)
			return aim_crypto_fail("EVP_PKEY_new_raw_public_key");
		return 0;
	}
	/* RFC 9180 section 7.1.1: P-curve public keys are "the uncompressed
	 * representation" (0x04 || x || y); RFC 9420 uses the same. */
	ENSURE(pk.p[0] == 0x04, AIM_ERR_INVALID, "EC public key is not an uncompressed point");
	const EC_GROUP *g = group_get(c);
	if (!g)
		return -1;
	/* Public key validation (RFC 9180 section 7.1.4): the point must be on
	 * the curve and not the point at infinity. */
	EC_POINT *q = EC_POINT_new(g);
	bool valid = q && EC_POINT_oct2point(g, q, pk.p, pk.len, NULL) == 1 &&
		     !EC_POINT_is_at_infinity(g, q) && EC_POINT_is_on_curve(g, q, NULL) == 1;
	EC_POINT_free(q);
	if (!valid) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_INVALID, "EC public key is not a point on %s", ci->group);
	}
	int rc = -1;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ci->group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pk.p, pk.len))
		rc = aim_crypto_fail("OSSL_PARAM_BLD");
	else
		rc = pkey_fromdata(bld, EVP_PKEY_PUBLIC_KEY, out);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int aim_curve_public(enum aim_curve c, struct aim_bytes sk, struct aim_buf *pk)
{
	const struct curve_info *ci = curve_get(c);
	if (!ci)
		return -1;
	ENSURE(sk.len == ci->sk_len, AIM_ERR_INVALID, "private key is %zu bytes, want %zu",
	       sk.len, ci->sk_len);
	uint8_t *dst = aim_buf_slot(pk, ci->pk_len);
	if (!dst)
		return -1;
	int rc = 0;
	if (!is_pcurve(c)) {
		EVP_PKEY *k = EVP_PKEY_new_raw_private_key(ci->evp_type, NULL, sk.p, sk.len);
		size_t len = ci->pk_len;
		if (!k || EVP_PKEY_get_raw_public_key(k, dst, &len) != 1 || len != ci->pk_len)
			rc = aim_crypto_fail("raw public key");
		EVP_PKEY_free(k);
	} else {
		bool ok;
		TRY(aim_curve_scalar_ok(c, sk.p, sk.len, &ok));
		ENSURE(ok, AIM_ERR_INVALID, "private scalar out of range for %s", ci->group);
		BIGNUM *d = BN_secure_new();
		if (!d || !BN_bin2bn(sk.p, (int)sk.len, d))
			rc = aim_crypto_fail("BN_bin2bn");
		else
			rc = pcurve_public(c, d, dst);
		BN_clear_free(d);
	}
	if (rc == 0)
		aim_buf_commit(pk, ci->pk_len);
	return rc;
}

/* Fresh private key: random bytes are a valid X/Ed private key; a P-curve
 * scalar is drawn until it lies in [1, order-1]. */
static int curve_keygen(enum aim_curve c, struct aim_buf *sk, struct aim_buf *pk)
{
	const struct curve_info *ci = curve_get(c);
	if (!ci)
		return -1;
	uint8_t raw[AIM_MAX_SIG_SK];
	int rc = 0;
	for (int tries = 0;; tries++) {
		ENSURE_GOTO(tries < 64, out, AIM_ERR_CRYPTO, "could not draw a private key");
		TRY_GOTO(aim_random(raw, ci->sk_len), out);
		if (c == AIM_CURVE_P521)
			raw[0] &= 0x01;
		bool ok;
		TRY_GOTO(aim_curve_scalar_ok(c, raw, ci->sk_len, &ok), out);
		if (ok)
			break;
	}
	TRY_GOTO(aim_curve_public(c, AIM_BYTES(raw, ci->sk_len), pk), out);
	TRY_GOTO(aim_buf_append(sk, raw, ci->sk_len), out);
out:
	aim_wipe(raw, sizeof(raw));
	return rc;
}

/* ---- Signatures --------------------------------------------------------- */

enum aim_curve aim_sig_curve(enum aim_sig_alg s, const EVP_MD **md)
{
	*md = NULL;
	switch (s) {
	case AIM_SIG_ECDSA_P256_SHA256: *md = aim_md(AIM_HASH_SHA256); return AIM_CURVE_P256;
	case AIM_SIG_ECDSA_P384_SHA384: *md = aim_md(AIM_HASH_SHA384); return AIM_CURVE_P384;
	case AIM_SIG_ECDSA_P521_SHA512: *md = aim_md(AIM_HASH_SHA512); return AIM_CURVE_P521;
	case AIM_SIG_ED25519: return AIM_CURVE_ED25519;
	case AIM_SIG_ED448: return AIM_CURVE_ED448;
	}
	return AIM_CURVE_NONE;
}

#define SIG_CURVE(s, md, c)                                                              \
	const EVP_MD *md;                                                                \
	enum aim_curve c = aim_sig_curve((s), &md);                                          \
	ENSURE(c != AIM_CURVE_NONE, AIM_ERR_UNSUPPORTED, "unknown signature scheme 0x%04x", \
	       (unsigned)(s))

int aim_sig_keygen(enum aim_sig_alg s, struct aim_buf *sk, struct aim_buf *pk)
{
	SIG_CURVE(s, md, c);
	(void)md;
	return curve_keygen(c, sk, pk);
}

int aim_sig_public(enum aim_sig_alg s, struct aim_bytes sk, struct aim_buf *pk)
{
	SIG_CURVE(s, md, c);
	(void)md;
	return aim_curve_public(c, sk, pk);
}

int aim_sig_sign(enum aim_sig_alg s, struct aim_bytes sk, struct aim_bytes msg,
		 struct aim_buf *sig)
{
	SIG_CURVE(s, md, c);
	EVP_PKEY *k;
	TRY(aim_curve_pkey_private(c, sk, &k));
	int rc = -1;
	size_t len = 0;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	if (!mctx || EVP_DigestSignInit(mctx, NULL, md, NULL, k) != 1 ||
	    EVP_DigestSign(mctx, NULL, &len, msg.p, msg.len) != 1) {
		rc = aim_crypto_fail("signature init");
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
	EVP_PKEY_free(k);
	return rc;
}

int aim_sig_verify(enum aim_sig_alg s, struct aim_bytes pk, struct aim_bytes msg,
		   struct aim_bytes sig)
{
	SIG_CURVE(s, md, c);
	EVP_PKEY *k;
	TRY(aim_curve_pkey_public(c, pk, &k));
	int rc = -1;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	if (!mctx || EVP_DigestVerifyInit(mctx, NULL, md, NULL, k) != 1) {
		rc = aim_crypto_fail("verify init");
		goto out;
	}
	if (sig.len == 0 || sig.len > AIM_MAX_SIG ||
	    EVP_DigestVerify(mctx, sig.p, sig.len, msg.p, msg.len) != 1) {
		ERR_clear_error();
		rc = aim_fail(AIM_ERR_VERIFY, "signature does not verify");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(k);
	return rc;
}

/* ---- DH ------------------------------------------------------------------ */

enum aim_curve aim_kem_curve(enum aim_kem_alg k)
{
	switch (k) {
	case AIM_KEM_P256: return AIM_CURVE_P256;
	case AIM_KEM_P384: return AIM_CURVE_P384;
	case AIM_KEM_P521: return AIM_CURVE_P521;
	case AIM_KEM_X25519: return AIM_CURVE_X25519;
	case AIM_KEM_X448: return AIM_CURVE_X448;
	}
	return AIM_CURVE_NONE;
}

#define KEM_CURVE(k, c)                                                                  \
	enum aim_curve c = aim_kem_curve(k);                                             \
	ENSURE(c != AIM_CURVE_NONE, AIM_ERR_UNSUPPORTED, "unknown KEM 0x%04x", (unsigned)(k))

int aim_kem_keygen(enum aim_kem_alg k, struct aim_buf *sk, struct aim_buf *pk)
{
	KEM_CURVE(k, c);
	return curve_keygen(c, sk, pk);
}

int aim_kem_public(enum aim_kem_alg k, struct aim_bytes sk, struct aim_buf *pk)
{
	KEM_CURVE(k, c);
	return aim_curve_public(c, sk, pk);
}

int aim_kem_random_private(enum aim_kem_alg k, struct aim_buf *sk)
{
	KEM_CURVE(k, c);
	const struct curve_info *ci = curve_get(c);
	if (!ci)
		return -1;
	uint8_t raw[AIM_MAX_SIG_SK];
	int rc = 0;
	for (int tries = 0;; tries++) {
		ENSURE_GOTO(tries < 64, out, AIM_ERR_CRYPTO, "could not draw a private key");
		TRY_GOTO(aim_random(raw, ci->sk_len), out);
		if (c == AIM_CURVE_P521)
			raw[0] &= 0x01;
		bool ok;
		TRY_GOTO(aim_curve_scalar_ok(c, raw, ci->sk_len, &ok), out);
		if (ok)
			break;
	}
	TRY_GOTO(aim_buf_append(sk, raw, ci->sk_len), out);
out:
	aim_wipe(raw, sizeof(raw));
	return rc;
}

static int dh_run(enum aim_curve c, struct aim_bytes sk, struct aim_bytes pk,
		  uint8_t out[AIM_MAX_DH], size_t *out_len, struct aim_buf *own_pk);

int aim_dh(enum aim_kem_alg k, struct aim_bytes sk, struct aim_bytes pk,
	   uint8_t out[AIM_MAX_DH], size_t *out_len)
{
	KEM_CURVE(k, c);
	return dh_run(c, sk, pk, out, out_len, NULL);
}

int aim_dh_own_public(enum aim_kem_alg k, struct aim_bytes sk, struct aim_bytes pk,
		      uint8_t out[AIM_MAX_DH], size_t *out_len, struct aim_buf *own_pk)
{
	KEM_CURVE(k, c);
	return dh_run(c, sk, pk, out, out_len, own_pk);
}

static int dh_run(enum aim_curve c, struct aim_bytes sk, struct aim_bytes pk,
		  uint8_t out[AIM_MAX_DH], size_t *out_len, struct aim_buf *own_pk)
{
	EVP_PKEY *priv = NULL, *peer = NULL;
	EVP_PKEY_CTX *dctx = NULL;
	int rc = -1;
	*out_len = 0;
	TRY_GOTO(aim_curve_pkey_public(c, pk, &peer), out);
	TRY_GOTO(aim_curve_pkey_private(c, sk, &priv), out);
	if (own_pk && is_pcurve(c)) {
		/* the P-curve key was loaded without its point */
		TRY_GOTO(aim_curve_public(c, sk, own_pk), out);
	} else if (own_pk) {
		size_t n = aim_curve_pk_len(c);
		uint8_t *dst = aim_buf_slot(own_pk, n);
		if (!dst)
			goto out;
		if (EVP_PKEY_get_raw_public_key(priv, dst, &n) != 1 || n != aim_curve_pk_len(c)) {
			rc = aim_crypto_fail("raw public key");
			goto out;
		}
		aim_buf_commit(own_pk, n);
	}
	size_t len = AIM_MAX_DH;
	dctx = EVP_PKEY_CTX_new(priv, NULL);
	if (!dctx || EVP_PKEY_derive_init(dctx) != 1) {
		rc = aim_crypto_fail("derive init");
		goto out;
	}
	if (EVP_PKEY_derive_set_peer(dctx, peer) != 1 || EVP_PKEY_derive(dctx, out, &len) != 1) {
		/* OpenSSL refuses an all-zero X25519/X448 result here. */
		ERR_clear_error();
		rc = aim_fail(AIM_ERR_INVALID, "DH with this public key failed");
		goto out;
	}
	/* RFC 9180 section 7.1.4: "senders and recipients MUST check whether
	 * the shared secret is the all-zero value and abort if so". */
	uint8_t acc = 0;
	for (size_t i = 0; i < len; i++)
		acc |= out[i];
	ENSURE_GOTO(acc != 0, out, AIM_ERR_INVALID, "DH result is all zero");
	*out_len = len;
	rc = 0;
out:
	if (rc != 0)
		aim_wipe(out, AIM_MAX_DH);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(peer);
	return rc;
}
