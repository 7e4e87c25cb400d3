/* HPKE (RFC 9180) base mode with DHKEM, written on the primitives of this
 * layer because OpenSSL 3.0 has no HPKE API. Only mode_base is provided:
 * MLS uses nothing else. */
#include "crypto/crypto_int.h"

#include <string.h>

#define MODE_BASE 0x00

/* suite_id is "KEM" || I2OSP(kem_id, 2) for the KEM and
 * "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2) for
 * the key schedule (RFC 9180 sections 4.1 and 5.1). */
struct suite_id {
	uint8_t b[10];
	size_t len;
};

static struct suite_id kem_suite_id(enum aim_kem_alg k)
{
	struct suite_id s = { { 'K', 'E', 'M', (uint8_t)(k >> 8), (uint8_t)k }, 5 };
	return s;
}

static struct suite_id hpke_suite_id(const struct aim_suite *su)
{
	struct suite_id s = { { 'H', 'P', 'K', 'E', (uint8_t)(su->kem >> 8), (uint8_t)su->kem,
				(uint8_t)(su->hash >> 8), (uint8_t)su->hash,
				(uint8_t)(su->aead >> 8), (uint8_t)su->aead },
			      10 };
	return s;
}

static enum aim_hash_alg kem_hash(enum aim_kem_alg k)
{
	switch (k) {
	case AIM_KEM_P256:
	case AIM_KEM_X25519: return AIM_HASH_SHA256;
	case AIM_KEM_P384: return AIM_HASH_SHA384;
	case AIM_KEM_P521:
	case AIM_KEM_X448: return AIM_HASH_SHA512;
	}
	return 0;
}

static const char hpke_v1[] = "HPKE-v1";

/* LabeledExtract(salt, label, ikm) =
 *   Extract(salt, "HPKE-v1" || suite_id || label || ikm) */
static int labeled_extract(enum aim_hash_alg h, const struct suite_id *sid,
			   struct aim_bytes salt, const char *label, struct aim_bytes ikm,
			   uint8_t prk[AIM_MAX_HASH])
{
	ENSURE(ikm.len <= AIM_MAX_HPKE_INFO, AIM_ERR_LIMIT, "HPKE input too long");
	struct aim_buf b;
	aim_buf_init(&b, AIM_MAX_HPKE_INFO + 64);
	int rc = 0;
	/* ikm is often a secret (a DH result): reserve once so that no
	 * reallocation leaves an unwiped copy behind. */
	if (aim_buf_reserve(&b, 7 + sid->len + strlen(label) + ikm.len) != 0 ||
	    aim_buf_append(&b, hpke_v1, 7) != 0 || aim_buf_append(&b, sid->b, sid->len) != 0 ||
	    aim_buf_append_str(&b, label) != 0 || aim_buf_append(&b, ikm.p, ikm.len) != 0)
		rc = -1;
	else
		rc = aim_hkdf_extract(h, salt, aim_buf_bytes(&b), prk);
	aim_buf_free_secret(&b);
	return rc;
}

/* LabeledExpand(prk, label, info, L) =
 *   Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L) */
static int labeled_expand(enum aim_hash_alg h, const struct suite_id *sid,
			  struct aim_bytes prk, const char *label, struct aim_bytes info,
			  uint8_t *out, size_t len)
{
	ENSURE(len <= 0xffff, AIM_ERR_INVALID, "HPKE expand length too large");
	ENSURE(info.len <= AIM_MAX_HPKE_INFO, AIM_ERR_LIMIT, "HPKE info too long");
	struct aim_buf b;
	aim_buf_init(&b, AIM_MAX_HPKE_INFO + 64);
	uint8_t l2[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	int rc = 0;
	if (aim_buf_append(&b, l2, 2) != 0 || aim_buf_append(&b, hpke_v1, 7) != 0 ||
	    aim_buf_append(&b, sid->b, sid->len) != 0 || aim_buf_append_str(&b, label) != 0 ||
	    aim_buf_append(&b, info.p, info.len) != 0)
		rc = -1;
	else
		rc = aim_hkdf_expand(h, prk, aim_buf_bytes(&b), out, len);
	aim_buf_free(&b);
	return rc;
}

#define NO_BYTES AIM_BYTES(NULL, 0)

/* ---- DeriveKeyPair (section 7.1.3) -------------------------------------- */

int aim_kem_derive_keypair(enum aim_kem_alg k, struct aim_bytes ikm, struct aim_buf *sk,
			   struct aim_buf *pk)
{
	enum aim_curve c = aim_kem_curve(k);
	ENSURE(c != AIM_CURVE_NONE, AIM_ERR_UNSUPPORTED, "unknown KEM 0x%04x", (unsigned)k);
	enum aim_hash_alg h = kem_hash(k);
	size_t nh = aim_hash_len(h), nsk = aim_kem_sk_len(k);
	struct suite_id sid = kem_suite_id(k);
	uint8_t prk[AIM_MAX_HASH], raw[AIM_MAX_KEM_SK];
	int rc = 0;
	TRY_GOTO(labeled_extract(h, &sid, NO_BYTES, "dkp_prk", ikm, prk), out);
	if (c == AIM_CURVE_X25519 || c == AIM_CURVE_X448) {
		TRY_GOTO(labeled_expand(h, &sid, AIM_BYTES(prk, nh), "sk", NO_BYTES, raw, nsk),
			 out);
	} else {
		uint8_t bitmask = c == AIM_CURVE_P521 ? 0x01 : 0xff;
		for (unsigned counter = 0;; counter++) {
			ENSURE_GOTO(counter <= 255, out, AIM_ERR_CRYPTO, "DeriveKeyPairError");
			uint8_t ctr = (uint8_t)counter;
			TRY_GOTO(labeled_expand(h, &sid, AIM_BYTES(prk, nh), "candidate",
						AIM_BYTES(&ctr, 1), raw, nsk),
				 out);
			raw[0] &= bitmask;
			bool ok;
			TRY_GOTO(aim_curve_scalar_ok(c, raw, nsk, &ok), out);
			if (ok)
				break;
		}
	}
	TRY_GOTO(aim_curve_public(c, AIM_BYTES(raw, nsk), pk), out);
	TRY_GOTO(aim_buf_append(sk, raw, nsk), out);
out:
	aim_wipe(prk, sizeof(prk));
	aim_wipe(raw, sizeof(raw));
	return rc;
}

/* ---- DHKEM (section 4.1) ------------------------------------------------ */

static int suite_check(const struct aim_suite *s)
{
	ENSURE(s, AIM_ERR_INVALID, "no cipher suite");
	ENSURE(aim_kem_curve(s->kem) != AIM_CURVE_NONE && aim_hash_len(s->hash) &&
		       aim_aead_key_len(s->aead),
	       AIM_ERR_UNSUPPORTED, "unsupported HPKE suite");
	return 0;
}

/* ExtractAndExpand(dh, kem_context) */
static int extract_and_expand(enum aim_kem_alg k, const uint8_t *dh, size_t dh_len,
			      const uint8_t *enc, const uint8_t *pkRm, size_t npk,
			      uint8_t shared_secret[AIM_MAX_HASH])
{
	enum aim_hash_alg h = kem_hash(k);
	struct suite_id sid = kem_suite_id(k);
	uint8_t prk[AIM_MAX_HASH], ctx[2 * AIM_MAX_KEM_PK];
	memcpy(ctx, enc, npk);
	memcpy(ctx + npk, pkRm, npk);
	int rc = 0;
	TRY_GOTO(labeled_extract(h, &sid, NO_BYTES, "eae_prk", AIM_BYTES(dh, dh_len), prk), out);
	TRY_GOTO(labeled_expand(h, &sid, AIM_BYTES(prk, aim_hash_len(h)), "shared_secret",
				AIM_BYTES(ctx, 2 * npk), shared_secret, aim_kem_secret_len(k)),
		 out);
out:
	aim_wipe(prk, sizeof(prk));
	return rc;
}

/* Encap with a given ephemeral key; pkE may be NULL (then derived from skE). */
static int encap_with(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes skE,
		      const struct aim_bytes *pkE_in, struct aim_buf *enc,
		      uint8_t shared_secret[AIM_MAX_HASH])
{
	TRY(suite_check(s));
	size_t npk = aim_kem_pk_len(s->kem);
	ENSURE(pkR.len == npk, AIM_ERR_INVALID, "HPKE recipient key is %zu bytes, want %zu",
	       pkR.len, npk);
	uint8_t dh[AIM_MAX_DH];
	size_t dh_len;
	struct aim_buf pkE;
	aim_buf_init(&pkE, AIM_MAX_KEM_PK);
	int rc = 0;
	if (pkE_in) {
		TRY_GOTO(aim_buf_append(&pkE, pkE_in->p, pkE_in->len), out);
		TRY_GOTO(aim_dh(s->kem, skE, pkR, dh, &dh_len), out);
	} else {
		TRY_GOTO(aim_dh_own_public(s->kem, skE, pkR, dh, &dh_len, &pkE), out);
	}
	ENSURE_GOTO(pkE.len == npk, out, AIM_ERR_INVALID, "HPKE ephemeral key has wrong size");
	TRY_GOTO(extract_and_expand(s->kem, dh, dh_len, pkE.data, pkR.p, npk, shared_secret), out);
	TRY_GOTO(aim_buf_append(enc, pkE.data, npk), out);
out:
	aim_wipe(dh, sizeof(dh));
	aim_buf_free(&pkE);
	return rc;
}

int aim_hpke_encap_det(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes skE,
		       struct aim_buf *enc, uint8_t shared_secret[AIM_MAX_HASH])
{
	return encap_with(s, pkR, skE, NULL, enc, shared_secret);
}

int aim_hpke_encap(const struct aim_suite *s, struct aim_bytes pkR, struct aim_buf *enc,
		   uint8_t shared_secret[AIM_MAX_HASH])
{
	TRY(suite_check(s));
	struct aim_buf skE;
	aim_buf_init(&skE, AIM_MAX_KEM_SK);
	int rc = 0;
	/* the ephemeral public key comes out of the DH (one key load) */
	TRY_GOTO(aim_kem_random_private(s->kem, &skE), out);
	TRY_GOTO(encap_with(s, pkR, aim_buf_bytes(&skE), NULL, enc, shared_secret), out);
out:
	aim_buf_free_secret(&skE);
	return rc;
}

int aim_hpke_decap(const struct aim_suite *s, struct aim_bytes enc, struct aim_bytes skR,
		   uint8_t shared_secret[AIM_MAX_HASH])
{
	TRY(suite_check(s));
	size_t npk = aim_kem_pk_len(s->kem);
	ENSURE(enc.len == npk, AIM_ERR_INVALID, "HPKE enc is %zu bytes, want %zu", enc.len, npk);
	uint8_t dh[AIM_MAX_DH];
	size_t dh_len;
	struct aim_buf pkRm;
	aim_buf_init(&pkRm, AIM_MAX_KEM_PK);
	int rc = 0;
	TRY_GOTO(aim_dh_own_public(s->kem, skR, enc, dh, &dh_len, &pkRm), out);
	TRY_GOTO(extract_and_expand(s->kem, dh, dh_len, enc.p, pkRm.data, npk, shared_secret),
		 out);
out:
	aim_wipe(dh, sizeof(dh));
	aim_buf_free(&pkRm);
	return rc;
}

/* ---- Key schedule (section 5.1), base mode ------------------------------- */

static int key_schedule(const struct aim_suite *s, const uint8_t *shared_secret,
			struct aim_bytes info, struct aim_hpke_ctx *ctx)
{
	struct suite_id sid = hpke_suite_id(s);
	enum aim_hash_alg h = s->hash;
	size_t nh = aim_hash_len(h);
	uint8_t ksc[1 + 2 * AIM_MAX_HASH], secret[AIM_MAX_HASH];
	int rc = 0;
	memset(ctx, 0, sizeof(*ctx));
	ctx->suite = s;
	ksc[0] = MODE_BASE;
	/* psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id), psk_id = "" */
	TRY_GOTO(labeled_extract(h, &sid, NO_BYTES, "psk_id_hash", NO_BYTES, ksc + 1), out);
	TRY_GOTO(labeled_extract(h, &sid, NO_BYTES, "info_hash", info, ksc + 1 + nh), out);
	/* secret = LabeledExtract(shared_secret, "secret", psk), psk = "" */
	TRY_GOTO(labeled_extract(h, &sid, AIM_BYTES(shared_secret, aim_kem_secret_len(s->kem)),
				 "secret", NO_BYTES, secret),
		 out);
	struct aim_bytes sb = AIM_BYTES(secret, nh), kb = AIM_BYTES(ksc, 1 + 2 * nh);
	TRY_GOTO(labeled_expand(h, &sid, sb, "key", kb, ctx->key, aim_aead_key_len(s->aead)),
		 out);
	TRY_GOTO(labeled_expand(h, &sid, sb, "base_nonce", kb, ctx->base_nonce, AIM_AEAD_NONCE),
		 out);
	TRY_GOTO(labeled_expand(h, &sid, sb, "exp", kb, ctx->exporter_secret, nh), out);
out:
	aim_wipe(secret, sizeof(secret));
	if (rc != 0)
		aim_hpke_ctx_wipe(ctx);
	return rc;
}

void aim_hpke_ctx_wipe(struct aim_hpke_ctx *ctx)
{
	aim_wipe(ctx, sizeof(*ctx));
}

int aim_hpke_setup_s_det(const struct aim_suite *s, struct aim_bytes pkR,
			 struct aim_bytes info, struct aim_bytes skE, struct aim_buf *enc,
			 struct aim_hpke_ctx *ctx)
{
	uint8_t ss[AIM_MAX_HASH];
	size_t before = enc->len;
	int rc = 0;
	TRY_GOTO(aim_hpke_encap_det(s, pkR, skE, enc, ss), out);
	if (key_schedule(s, ss, info, ctx) != 0) {
		enc->len = before;
		rc = -1;
	}
out:
	aim_wipe(ss, sizeof(ss));
	return rc;
}

int aim_hpke_setup_s(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes info,
		     struct aim_buf *enc, struct aim_hpke_ctx *ctx)
{
	uint8_t ss[AIM_MAX_HASH];
	size_t before = enc->len;
	int rc = 0;
	TRY_GOTO(aim_hpke_encap(s, pkR, enc, ss), out);
	if (key_schedule(s, ss, info, ctx) != 0) {
		enc->len = before;
		rc = -1;
	}
out:
	aim_wipe(ss, sizeof(ss));
	return rc;
}

int aim_hpke_setup_r(const struct aim_suite *s, struct aim_bytes enc, struct aim_bytes skR,
		     struct aim_bytes info, struct aim_hpke_ctx *ctx)
{
	uint8_t ss[AIM_MAX_HASH];
	int rc = 0;
	TRY_GOTO(aim_hpke_decap(s, enc, skR, ss), out);
	TRY_GOTO(key_schedule(s, ss, info, ctx), out);
out:
	aim_wipe(ss, sizeof(ss));
	return rc;
}

/* ---- Encryption and export (sections 5.2 and 5.3) ----------------------- */

/* ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn) */
static int ctx_nonce(const struct aim_hpke_ctx *ctx, uint8_t nonce[AIM_AEAD_NONCE])
{
	ENSURE(ctx && ctx->suite, AIM_ERR_STATE, "HPKE context not set up");
	/* "if self.seq >= (1 << (8*Nn)) - 1: raise MessageLimitReachedError";
	 * with a 64-bit counter the limit is reached first at UINT64_MAX. */
	ENSURE(ctx->seq != UINT64_MAX, AIM_ERR_LIMIT, "HPKE message limit reached");
	memcpy(nonce, ctx->base_nonce, AIM_AEAD_NONCE);
	for (int i = 0; i < 8; i++)
		nonce[AIM_AEAD_NONCE - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
	return 0;
}

int aim_hpke_ctx_seal(struct aim_hpke_ctx *ctx, struct aim_bytes aad, struct aim_bytes pt,
		      struct aim_buf *out)
{
	uint8_t nonce[AIM_AEAD_NONCE];
	TRY(ctx_nonce(ctx, nonce));
	const struct aim_suite *s = ctx->suite;
	TRY(aim_aead_seal(s->aead, AIM_BYTES(ctx->key, aim_aead_key_len(s->aead)),
			  AIM_BYTES(nonce, sizeof(nonce)), aad, pt, out));
	ctx->seq++;
	return 0;
}

int aim_hpke_ctx_open(struct aim_hpke_ctx *ctx, struct aim_bytes aad, struct aim_bytes ct,
		      struct aim_buf *out)
{
	uint8_t nonce[AIM_AEAD_NONCE];
	TRY(ctx_nonce(ctx, nonce));
	const struct aim_suite *s = ctx->suite;
	TRY(aim_aead_open(s->aead, AIM_BYTES(ctx->key, aim_aead_key_len(s->aead)),
			  AIM_BYTES(nonce, sizeof(nonce)), aad, ct, out));
	ctx->seq++;
	return 0;
}

int aim_hpke_ctx_export(const struct aim_hpke_ctx *ctx, struct aim_bytes exporter_context,
			uint8_t *out, size_t out_len)
{
	ENSURE(ctx && ctx->suite, AIM_ERR_STATE, "HPKE context not set up");
	const struct aim_suite *s = ctx->suite;
	struct suite_id sid = hpke_suite_id(s);
	size_t nh = aim_hash_len(s->hash);
	ENSURE(out_len >= 1 && out_len <= 255 * nh, AIM_ERR_INVALID,
	       "HPKE export length %zu out of range", out_len);
	return labeled_expand(s->hash, &sid, AIM_BYTES(ctx->exporter_secret, nh), "sec",
			      exporter_context, out, out_len);
}

/* ---- Single shot (section 6.1) ------------------------------------------ */

static int seal_common(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes info,
		       struct aim_bytes aad, struct aim_bytes pt, const struct aim_bytes *skE,
		       struct aim_buf *enc, struct aim_buf *ct)
{
	struct aim_hpke_ctx ctx;
	size_t before = enc->len;
	if (skE)
		TRY(aim_hpke_setup_s_det(s, pkR, info, *skE, enc, &ctx));
	else
		TRY(aim_hpke_setup_s(s, pkR, info, enc, &ctx));
	int rc = aim_hpke_ctx_seal(&ctx, aad, pt, ct);
	if (rc != 0 && enc->data)
		enc->len = before;
	aim_hpke_ctx_wipe(&ctx);
	return rc;
}

int aim_hpke_seal(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes info,
		  struct aim_bytes aad, struct aim_bytes pt, struct aim_buf *enc,
		  struct aim_buf *ct)
{
	return seal_common(s, pkR, info, aad, pt, NULL, enc, ct);
}

int aim_hpke_seal_det(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes info,
		      struct aim_bytes aad, struct aim_bytes pt, struct aim_bytes skE,
		      struct aim_buf *enc, struct aim_buf *ct)
{
	return seal_common(s, pkR, info, aad, pt, &skE, enc, ct);
}

int aim_hpke_open(const struct aim_suite *s, struct aim_bytes skR, struct aim_bytes enc,
		  struct aim_bytes info, struct aim_bytes aad, struct aim_bytes ct,
		  struct aim_buf *pt)
{
	struct aim_hpke_ctx ctx;
	TRY(aim_hpke_setup_r(s, enc, skR, info, &ctx));
	int rc = aim_hpke_ctx_open(&ctx, aad, ct, pt);
	aim_hpke_ctx_wipe(&ctx);
	return rc;
}
