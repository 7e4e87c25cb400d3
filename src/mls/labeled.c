/*
 * MLS labeled operations: see labeled.h.
 */
#include <string.h>

#include "mls/labeled.h"
#include "mls/tls.h"

#define MLS_LABEL_PREFIX "MLS 1.0 "

/* Largest encoded label struct: two varint vectors plus a uint16. */
#define LABELED_MAX (MLS_MAX_SIGNED + MLS_MAX_LABEL + 32)
/* An EncryptContext must fit the HPKE info limit of the crypto layer. */
#define ENC_CONTEXT_MAX (AIM_MAX_HPKE_INFO - MLS_MAX_LABEL - 16)

static int check_label(const char *label)
{
	ENSURE(label != NULL, AIM_ERR_INVALID, "label missing");
	ENSURE(strlen(label) <= MLS_MAX_LABEL, AIM_ERR_LIMIT, "label too long");
	return 0;
}

static int check_suite(const struct aim_suite *cs)
{
	ENSURE(cs != NULL && cs->nh > 0 && cs->nh <= AIM_MAX_HASH, AIM_ERR_INVALID,
	       "cipher suite missing");
	return 0;
}

int mls_write_label_raw(struct aim_buf *w, struct aim_bytes label)
{
	ENSURE(label.len <= MLS_MAX_LABEL, AIM_ERR_LIMIT, "label too long");
	TRY(mls_tls_write_varint(w, (uint32_t)(sizeof(MLS_LABEL_PREFIX) - 1 + label.len)));
	TRY(aim_buf_append(w, MLS_LABEL_PREFIX, sizeof(MLS_LABEL_PREFIX) - 1));
	return aim_buf_append(w, label.p, label.len);
}

int mls_write_label(struct aim_buf *w, const char *label)
{
	TRY(check_label(label));
	return mls_write_label_raw(w, AIM_BYTES_STR(label));
}

/* label<V> (prefixed) || second<V> */
static int encode_pair(struct aim_buf *w, const char *label, struct aim_bytes second,
		       size_t max)
{
	ENSURE(second.len <= max, AIM_ERR_LIMIT, "labeled content of %zu bytes (at most %zu)",
	       second.len, max);
	TRY(mls_write_label(w, label));
	return mls_tls_write_vec_bytes(w, second);
}

int mls_expand_with_label(const struct aim_suite *cs, struct aim_bytes secret,
			  const char *label, struct aim_bytes context, uint8_t *out,
			  size_t out_len)
{
	TRY(check_label(label));
	return mls_expand_with_label_raw(cs, secret, AIM_BYTES_STR(label), context, out, out_len);
}

int mls_expand_with_label_raw(const struct aim_suite *cs, struct aim_bytes secret,
			      struct aim_bytes label, struct aim_bytes context, uint8_t *out,
			      size_t out_len)
{
	TRY(check_suite(cs));
	ENSURE(out_len > 0 && out_len <= 0xffff && out_len <= 255 * cs->nh, AIM_ERR_INVALID,
	       "ExpandWithLabel length %zu out of range", out_len);
	ENSURE(context.len <= AIM_MAX_HPKE_INFO, AIM_ERR_LIMIT, "KDF context too long");
	struct aim_buf info;
	aim_buf_init(&info, LABELED_MAX);
	int rc = 0;
	TRY_GOTO(mls_tls_write_u16(&info, (uint16_t)out_len), out);
	TRY_GOTO(mls_write_label_raw(&info, label), out);
	TRY_GOTO(mls_tls_write_vec_bytes(&info, context), out);
	TRY_GOTO(aim_hkdf_expand(cs->hash, secret, aim_buf_bytes(&info), out, out_len), out);
out:
	if (rc)
		aim_wipe(out, out_len);
	aim_buf_free_secret(&info);
	return rc;
}

int mls_derive_secret(const struct aim_suite *cs, struct aim_bytes secret, const char *label,
		      uint8_t out[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	return mls_expand_with_label(cs, secret, label, AIM_BYTES(NULL, 0), out, cs->nh);
}

int mls_derive_tree_secret(const struct aim_suite *cs, struct aim_bytes secret,
			   const char *label, uint32_t generation, uint8_t *out, size_t out_len)
{
	uint8_t ctx[4] = { (uint8_t)(generation >> 24), (uint8_t)(generation >> 16),
			   (uint8_t)(generation >> 8), (uint8_t)generation };
	return mls_expand_with_label(cs, secret, label, AIM_BYTES(ctx, sizeof ctx), out,
				     out_len);
}

int mls_ref_hash(const struct aim_suite *cs, const char *label, struct aim_bytes value,
		 uint8_t out[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	TRY(check_label(label));
	ENSURE(value.len <= MLS_MAX_SIGNED, AIM_ERR_LIMIT, "RefHash value too long");
	struct aim_buf in;
	aim_buf_init(&in, LABELED_MAX);
	int rc = 0;
	TRY_GOTO(mls_tls_write_vec(&in, (const uint8_t *)label, strlen(label)), out);
	TRY_GOTO(mls_tls_write_vec_bytes(&in, value), out);
	TRY_GOTO(aim_hash(cs->hash, aim_buf_bytes(&in), out), out);
out:
	aim_buf_free(&in);
	return rc;
}

int mls_key_package_ref(const struct aim_suite *cs, struct aim_bytes key_package,
			uint8_t out[AIM_MAX_HASH])
{
	return mls_ref_hash(cs, "MLS 1.0 KeyPackage Reference", key_package, out);
}

int mls_proposal_ref(const struct aim_suite *cs, struct aim_bytes authenticated_content,
		     uint8_t out[AIM_MAX_HASH])
{
	return mls_ref_hash(cs, "MLS 1.0 Proposal Reference", authenticated_content, out);
}

int mls_sign_with_label(const struct aim_suite *cs, struct aim_bytes sk, const char *label,
			struct aim_bytes content, struct aim_buf *sig)
{
	TRY(check_suite(cs));
	struct aim_buf tbs;
	aim_buf_init(&tbs, LABELED_MAX);
	/* An ECDSA scalar may come with its leading zero bytes stripped (other
	 * implementations write P-521 keys of 65 bytes): left-pad it to the
	 * curve size the crypto layer expects. */
	uint8_t padded[AIM_MAX_SIG_SK];
	bool ecdsa = cs->sig == AIM_SIG_ECDSA_P256_SHA256 || cs->sig == AIM_SIG_ECDSA_P384_SHA384 ||
		     cs->sig == AIM_SIG_ECDSA_P521_SHA512;
	if (ecdsa && sk.len > 0 && sk.len < cs->sig_nsk && cs->sig_nsk <= sizeof padded) {
		size_t off = cs->sig_nsk - sk.len;
		memset(padded, 0, off);
		memcpy(padded + off, sk.p, sk.len);
		sk = AIM_BYTES(padded, cs->sig_nsk);
	}
	int rc = 0;
	TRY_GOTO(encode_pair(&tbs, label, content, MLS_MAX_SIGNED), out);
	TRY_GOTO(aim_sig_sign(cs->sig, sk, aim_buf_bytes(&tbs), sig), out);
out:
	aim_wipe(padded, sizeof padded);
	aim_buf_free(&tbs);
	return rc;
}

int mls_verify_with_label(const struct aim_suite *cs, struct aim_bytes pk, const char *label,
			  struct aim_bytes content, struct aim_bytes sig)
{
	TRY(check_suite(cs));
	struct aim_buf tbs;
	aim_buf_init(&tbs, LABELED_MAX);
	int rc = 0;
	TRY_GOTO(encode_pair(&tbs, label, content, MLS_MAX_SIGNED), out);
	TRY_GOTO(aim_sig_verify(cs->sig, pk, aim_buf_bytes(&tbs), sig), out);
out:
	aim_buf_free(&tbs);
	return rc;
}

int mls_encrypt_with_label(const struct aim_suite *cs, struct aim_bytes pk, const char *label,
			   struct aim_bytes context, struct aim_bytes pt,
			   struct aim_buf *kem_output, struct aim_buf *ct)
{
	TRY(check_suite(cs));
	struct aim_buf info;
	aim_buf_init(&info, LABELED_MAX);
	int rc = 0;
	TRY_GOTO(encode_pair(&info, label, context, ENC_CONTEXT_MAX), out);
	TRY_GOTO(aim_hpke_seal(cs, pk, aim_buf_bytes(&info), AIM_BYTES(NULL, 0), pt, kem_output,
			       ct),
		 out);
out:
	aim_buf_free(&info);
	return rc;
}

int mls_decrypt_with_label(const struct aim_suite *cs, struct aim_bytes sk, const char *label,
			   struct aim_bytes context, struct aim_bytes kem_output,
			   struct aim_bytes ct, struct aim_buf *pt)
{
	TRY(check_suite(cs));
	struct aim_buf info;
	aim_buf_init(&info, LABELED_MAX);
	/* As for signatures: a P-curve private key may come without its
	 * leading zero bytes (65-byte P-521 scalars); left-pad it. */
	uint8_t padded[AIM_MAX_KEM_SK];
	bool pcurve = cs->kem == AIM_KEM_P256 || cs->kem == AIM_KEM_P384 || cs->kem == AIM_KEM_P521;
	if (pcurve && sk.len > 0 && sk.len < cs->kem_nsk && cs->kem_nsk <= sizeof padded) {
		size_t off = cs->kem_nsk - sk.len;
		memset(padded, 0, off);
		memcpy(padded + off, sk.p, sk.len);
		sk = AIM_BYTES(padded, cs->kem_nsk);
	}
	int rc = 0;
	TRY_GOTO(encode_pair(&info, label, context, ENC_CONTEXT_MAX), out);
	TRY_GOTO(aim_hpke_open(cs, sk, kem_output, aim_buf_bytes(&info), AIM_BYTES(NULL, 0), ct,
			       pt),
		 out);
out:
	aim_wipe(padded, sizeof padded);
	aim_buf_free(&info);
	return rc;
}
