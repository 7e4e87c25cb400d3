/* Random, hash, HMAC, HKDF and AEAD on OpenSSL 3.0 EVP. */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* One AEAD call handles at most this much (OpenSSL lengths are int). */
#define AEAD_MAX_LEN ((size_t)1 << 30)

int aim_crypto_fail(const char *what)
{
	unsigned long e = ERR_get_error();
	char msg[160] = "no detail";
	if (e)
		ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return aim_fail(AIM_ERR_CRYPTO, "%s failed: %s", what, msg);
}

/* ---- Algorithm objects, fetched once ------------------------------------- */

/* OpenSSL 3 looks an algorithm up in its provider store (a locked hash
 * table) on every use of an implicit object such as EVP_sha256(), and
 * HKDF / HMAC look their digest up by name on every context. The digests
 * and ciphers here are fetched once per process (pthread_once), and HKDF
 * runs on a duplicate of a context made once per hash with the digest
 * already set. Fetched objects are immutable and their reference counts
 * atomic: they are shared by every thread. A fetch that fails (an
 * unavailable provider) leaves NULL and the implicit object is used. */
enum { ALG_SLOTS = 4 }; /* indexed by the enum value (1..3) */

static EVP_MD *md_obj[ALG_SLOTS];
static EVP_CIPHER *cipher_obj[ALG_SLOTS];
static EVP_KDF *hkdf_kdf;
static EVP_KDF_CTX *hkdf_tmpl[ALG_SLOTS];
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void algs_fetch(void)
{
	static const char *const md_names[ALG_SLOTS] = { NULL, "SHA2-256", "SHA2-384",
							  "SHA2-512" };
	static const char *const cipher_names[ALG_SLOTS] = { NULL, "AES-128-GCM", "AES-256-GCM",
							      "ChaCha20-Poly1305" };
	hkdf_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	for (int i = 1; i < ALG_SLOTS; i++) {
		md_obj[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
		cipher_obj[i] = EVP_CIPHER_fetch(NULL, cipher_names[i], NULL);
		if (!hkdf_kdf || !md_obj[i])
			continue;
		EVP_KDF_CTX *k = EVP_KDF_CTX_new(hkdf_kdf);
		OSSL_PARAM params[2];
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
							     (char *)md_names[i], 0);
		params[1] = OSSL_PARAM_construct_end();
		/* kept only where it can be copied (not in OpenSSL 3.0) */
		EVP_KDF_CTX *probe = NULL;
		if (k && EVP_KDF_CTX_set_params(k, params) == 1 && (probe = EVP_KDF_CTX_dup(k))) {
			hkdf_tmpl[i] = k;
		} else {
			EVP_KDF_CTX_free(k);
		}
		EVP_KDF_CTX_free(probe);
	}
	ERR_clear_error();
}

static void algs_init(void)
{
	pthread_once(&algs_once, algs_fetch);
}

const EVP_MD *aim_md(enum aim_hash_alg h)
{
	algs_init();
	if ((unsigned)h < ALG_SLOTS && md_obj[h])
		return md_obj[h];
	switch (h) {
	case AIM_HASH_SHA256: return EVP_sha256();
	case AIM_HASH_SHA384: return EVP_sha384();
	case AIM_HASH_SHA512: return EVP_sha512();
	}
	return NULL;
}

uint8_t *aim_buf_slot(struct aim_buf *b, size_t n)
{
	if (aim_buf_reserve(b, n) != 0)
		return NULL;
	return b->data + b->len;
}

void aim_buf_commit(struct aim_buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = 0;
}

int aim_random(void *out, size_t n)
{
	ENSURE(n <= INT_MAX, AIM_ERR_INVALID, "random: %zu bytes is too many", n);
	if (n == 0)
		return 0;
	if (RAND_bytes(out, (int)n) != 1)
		return aim_crypto_fail("RAND_bytes");
	return 0;
}

/* ---- Hash and HMAC ------------------------------------------------------ */

int aim_hash(enum aim_hash_alg h, struct aim_bytes in, uint8_t out[AIM_MAX_HASH])
{
	const EVP_MD *md = aim_md(h);
	ENSURE(md, AIM_ERR_UNSUPPORTED, "unknown hash %d", (int)h);
	unsigned int len = 0;
	if (EVP_Digest(in.len ? in.p : (const uint8_t *)"", in.len, out, &len, md, NULL) != 1)
		return aim_crypto_fail("EVP_Digest");
	return 0;
}

int aim_sha256(struct aim_bytes in, uint8_t out[32])
{
	uint8_t full[AIM_MAX_HASH];
	TRY(aim_hash(AIM_HASH_SHA256, in, full));
	memcpy(out, full, 32);
	return 0;
}

int aim_mac(enum aim_hash_alg h, struct aim_bytes key, struct aim_bytes data,
	    uint8_t out[AIM_MAX_HASH])
{
	const EVP_MD *md = aim_md(h);
	ENSURE(md, AIM_ERR_UNSUPPORTED, "unknown hash %d", (int)h);
	ENSURE(key.len <= INT_MAX, AIM_ERR_LIMIT, "HMAC key too long");
	static const uint8_t empty[1];
	unsigned int len = 0;
	if (!HMAC(md, key.len ? key.p : empty, (int)key.len, data.len ? data.p : empty,
		  data.len, out, &len))
		return aim_crypto_fail("HMAC");
	return 0;
}

int aim_mac_verify(enum aim_hash_alg h, struct aim_bytes key, struct aim_bytes data,
		   struct aim_bytes tag)
{
	uint8_t mac[AIM_MAX_HASH];
	TRY(aim_mac(h, key, data, mac));
	size_t n = aim_hash_len(h);
	bool ok = aim_ct_equal(mac, n, tag.p, tag.len);
	aim_wipe(mac, sizeof(mac));
	ENSURE(ok, AIM_ERR_VERIFY, "MAC does not verify");
	return 0;
}

/* ---- HKDF (RFC 5869) through EVP_KDF ----------------------------------- */

static int hkdf_run(enum aim_hash_alg h, int mode, struct aim_bytes key,
		    struct aim_bytes salt, struct aim_bytes info, uint8_t *out, size_t out_len)
{
	static uint8_t empty[1];
	const EVP_MD *md = aim_md(h);
	ENSURE(md, AIM_ERR_UNSUPPORTED, "unknown hash %d", (int)h);
	ENSURE(hkdf_kdf, AIM_ERR_CRYPTO, "HKDF is not available");

	/* a copy of the template that has the digest set (OpenSSL 3.0's HKDF
	 * cannot be copied: then a new context, the digest given by name) */
	const EVP_KDF_CTX *tmpl = (unsigned)h < ALG_SLOTS ? hkdf_tmpl[h] : NULL;
	EVP_KDF_CTX *kctx = tmpl ? EVP_KDF_CTX_dup(tmpl) : NULL;
	bool with_md = kctx != NULL;
	if (!kctx) {
		ERR_clear_error();
		kctx = EVP_KDF_CTX_new(hkdf_kdf);
	}
	if (!kctx)
		return aim_crypto_fail("EVP_KDF_CTX_new");
	OSSL_PARAM params[6], *p = params;
	if (!with_md)
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
							(char *)EVP_MD_get0_name(md), 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 key.len ? (void *)key.p : empty, key.len);
	if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt.p, salt.len);
	else if (info.len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)info.p, info.len);
	*p = OSSL_PARAM_construct_end();
	int rc = 0;
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		rc = aim_crypto_fail("HKDF");
	EVP_KDF_CTX_free(kctx);
	return rc;
}

int aim_hkdf_extract(enum aim_hash_alg h, struct aim_bytes salt, struct aim_bytes ikm,
		     uint8_t prk[AIM_MAX_HASH])
{
	size_t nh = aim_hash_len(h);
	ENSURE(nh, AIM_ERR_UNSUPPORTED, "unknown hash %d", (int)h);
	/* RFC 5869 section 2.2: "if not provided, [salt] is set to a string of
	 * HashLen zeros". */
	static const uint8_t zeros[AIM_MAX_HASH];
	if (salt.len == 0)
		salt = AIM_BYTES(zeros, nh);
	return hkdf_run(h, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, salt, AIM_BYTES(NULL, 0), prk,
			nh);
}

/* OpenSSL 3.0's HKDF refuses an info longer than its internal buffer
 * (somewhere below 40 KiB), but MLS passes a whole GroupContext as the
 * context of ExpandWithLabel. Up to this size EVP_KDF is used; beyond it the
 * RFC 5869 section 2.3 loop runs on EVP_MAC HMAC:
 *   T(i) = HMAC-Hash(PRK, T(i-1) | info | i), OKM = first L octets of T. */
#define HKDF_EVP_MAX_INFO 2048

static EVP_MAC *hmac_mac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static int hkdf_expand_long(enum aim_hash_alg h, struct aim_bytes prk, struct aim_bytes info,
			    uint8_t *out, size_t out_len)
{
	pthread_once(&hmac_once, hmac_fetch);
	ENSURE(hmac_mac, AIM_ERR_CRYPTO, "HMAC is not available");
	const EVP_MD *md = aim_md(h);
	size_t nh = aim_hash_len(h);
	OSSL_PARAM params[2];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[1] = OSSL_PARAM_construct_end();
	uint8_t t[AIM_MAX_HASH];
	size_t tlen = 0, done = 0;
	int rc = 0;
	EVP_MAC_CTX *mctx = EVP_MAC_CTX_new(hmac_mac);
	ENSURE_GOTO(mctx, out, AIM_ERR_CRYPTO, "EVP_MAC_CTX_new failed");
	for (unsigned i = 1; done < out_len; i++) {
		uint8_t ctr = (uint8_t)i;
		size_t got = 0;
		if (EVP_MAC_init(mctx, prk.p, prk.len, params) != 1 ||
		    (tlen && EVP_MAC_update(mctx, t, tlen) != 1) ||
		    EVP_MAC_update(mctx, info.p, info.len) != 1 ||
		    EVP_MAC_update(mctx, &ctr, 1) != 1 ||
		    EVP_MAC_final(mctx, t, &got, sizeof(t)) != 1 || got != nh) {
			rc = aim_crypto_fail("HKDF-Expand HMAC");
			goto out;
		}
		tlen = nh;
		size_t n = out_len - done < nh ? out_len - done : nh;
		memcpy(out + done, t, n);
		done += n;
	}
out:
	aim_wipe(t, sizeof(t));
	EVP_MAC_CTX_free(mctx);
	if (rc != 0)
		aim_wipe(out, out_len);
	return rc;
}

int aim_hkdf_expand(enum aim_hash_alg h, struct aim_bytes prk, struct aim_bytes info,
		    uint8_t *out, size_t out_len)
{
	size_t nh = aim_hash_len(h);
	ENSURE(nh, AIM_ERR_UNSUPPORTED, "unknown hash %d", (int)h);
	/* RFC 5869 section 2.3: "L length of output keying material in octets
	 * (<= 255*HashLen)". */
	ENSURE(out_len >= 1 && out_len <= 255 * nh, AIM_ERR_INVALID,
	       "HKDF-Expand length %zu out of range", out_len);
	ENSURE(prk.len >= nh, AIM_ERR_INVALID, "HKDF-Expand PRK shorter than the hash");
	ENSURE(info.len <= AIM_MAX_HPKE_INFO, AIM_ERR_LIMIT, "HKDF info too long");
	if (info.len > HKDF_EVP_MAX_INFO)
		return hkdf_expand_long(h, prk, info, out, out_len);
	return hkdf_run(h, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, AIM_BYTES(NULL, 0), info, out,
			out_len);
}

/* ---- AEAD --------------------------------------------------------------- */

static const EVP_CIPHER *aead_cipher(enum aim_aead_alg a)
{
	algs_init();
	if ((unsigned)a < ALG_SLOTS && cipher_obj[a])
		return cipher_obj[a];
	switch (a) {
	case AIM_AEAD_AES128GCM: return EVP_aes_128_gcm();
	case AIM_AEAD_AES256GCM: return EVP_aes_256_gcm();
	case AIM_AEAD_CHACHA20POLY1305: return EVP_chacha20_poly1305();
	}
	return NULL;
}

static int aead_check(enum aim_aead_alg a, struct aim_bytes key, struct aim_bytes nonce,
		      struct aim_bytes aad, size_t len, const EVP_CIPHER **c)
{
	*c = aead_cipher(a);
	ENSURE(*c, AIM_ERR_UNSUPPORTED, "unknown AEAD %d", (int)a);
	ENSURE(key.len == aim_aead_key_len(a), AIM_ERR_INVALID, "AEAD key is %zu bytes, want %zu",
	       key.len, aim_aead_key_len(a));
	ENSURE(nonce.len == AIM_AEAD_NONCE, AIM_ERR_INVALID, "AEAD nonce is %zu bytes, want 12",
	       nonce.len);
	ENSURE(len <= AEAD_MAX_LEN && aad.len <= AEAD_MAX_LEN, AIM_ERR_LIMIT,
	       "AEAD input too long");
	return 0;
}

int aim_aead_seal(enum aim_aead_alg a, struct aim_bytes key, struct aim_bytes nonce,
		  struct aim_bytes aad, struct aim_bytes pt, struct aim_buf *out)
{
	const EVP_CIPHER *c;
	TRY(aead_check(a, key, nonce, aad, pt.len, &c));
	uint8_t *dst = aim_buf_slot(out, pt.len + AIM_AEAD_TAG);
	if (!dst)
		return -1;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return aim_crypto_fail("EVP_CIPHER_CTX_new");
	int rc = -1, n = 0, fin = 0;
	if (EVP_EncryptInit_ex(ctx, c, NULL, key.p, nonce.p) != 1 ||
	    (aad.len && EVP_EncryptUpdate(ctx, NULL, &n, aad.p, (int)aad.len) != 1) ||
	    (pt.len && EVP_EncryptUpdate(ctx, dst, &n, pt.p, (int)pt.len) != 1) ||
	    EVP_EncryptFinal_ex(ctx, dst + (pt.len ? (size_t)n : 0), &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AIM_AEAD_TAG, dst + pt.len) != 1) {
		rc = aim_crypto_fail("AEAD seal");
		goto out;
	}
	aim_buf_commit(out, pt.len + AIM_AEAD_TAG);
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int aim_aead_open(enum aim_aead_alg a, struct aim_bytes key, struct aim_bytes nonce,
		  struct aim_bytes aad, struct aim_bytes ct, struct aim_buf *out)
{
	const EVP_CIPHER *c;
	TRY(aead_check(a, key, nonce, aad, ct.len, &c));
	ENSURE(ct.len >= AIM_AEAD_TAG, AIM_ERR_VERIFY, "AEAD ciphertext shorter than its tag");
	size_t len = ct.len - AIM_AEAD_TAG;
	uint8_t *dst = aim_buf_slot(out, len);
	if (!dst)
		return -1;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return aim_crypto_fail("EVP_CIPHER_CTX_new");
	int rc = -1, n = 0, fin = 0;
	if (EVP_DecryptInit_ex(ctx, c, NULL, key.p, nonce.p) != 1 ||
	    (aad.len && EVP_DecryptUpdate(ctx, NULL, &n, aad.p, (int)aad.len) != 1) ||
	    (len && EVP_DecryptUpdate(ctx, dst, &n, ct.p, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AIM_AEAD_TAG,
				(void *)(ct.p + len)) != 1) {
		rc = aim_crypto_fail("AEAD open");
		goto wipe;
	}
	/* The tag comparison happens inside EVP_DecryptFinal_ex, in constant
	 * time (CRYPTO_memcmp). */
	if (EVP_DecryptFinal_ex(ctx, dst + (len ? (size_t)n : 0), &fin) != 1) {
		ERR_clear_error();
		rc = aim_fail(AIM_ERR_VERIFY, "AEAD tag does not verify");
		goto wipe;
	}
	aim_buf_commit(out, len);
	rc = 0;
	goto out;
wipe:
	aim_wipe(dst, len);
	dst[0] = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
