/*
 * Welcome secrets (RFC 9420 section 12.4.3): GroupSecrets encrypted to a
 * KeyPackage's init key, GroupInfo encrypted under the welcome key, and the
 * GroupInfo signature. See schedule.h.
 */
#include <string.h>

#include "mls/labeled.h"
#include "mls/schedule.h"

static int check_suite(const struct aim_suite *cs)
{
	ENSURE(cs != NULL && cs->nh > 0 && cs->nh <= AIM_MAX_HASH, AIM_ERR_INVALID,
	       "cipher suite missing");
	return 0;
}

int mls_welcome_keys(const struct aim_suite *cs, struct aim_bytes welcome_secret,
		     uint8_t key[AIM_MAX_AEAD_KEY], uint8_t nonce[AIM_AEAD_NONCE])
{
	TRY(check_suite(cs));
	ENSURE(welcome_secret.len == cs->nh, AIM_ERR_INVALID, "welcome_secret must be %zu bytes",
	       cs->nh);
	/* welcome_nonce = ExpandWithLabel(welcome_secret, "nonce", "", AEAD.Nn)
	 * welcome_key = ExpandWithLabel(welcome_secret, "key", "", AEAD.Nk) */
	if (mls_expand_with_label(cs, welcome_secret, "key", AIM_BYTES(NULL, 0), key, cs->nk) ||
	    mls_expand_with_label(cs, welcome_secret, "nonce", AIM_BYTES(NULL, 0), nonce,
				  cs->nn)) {
		aim_wipe(key, AIM_MAX_AEAD_KEY);
		aim_wipe(nonce, AIM_AEAD_NONCE);
		return -1;
	}
	return 0;
}

int mls_welcome_seal_group_info(const struct aim_suite *cs, struct aim_bytes welcome_secret,
				struct aim_bytes group_info, struct aim_buf *out)
{
	uint8_t key[AIM_MAX_AEAD_KEY], nonce[AIM_AEAD_NONCE];
	TRY(mls_welcome_keys(cs, welcome_secret, key, nonce));
	int rc = aim_aead_seal(cs->aead, AIM_BYTES(key, cs->nk), AIM_BYTES(nonce, cs->nn),
			       AIM_BYTES(NULL, 0), group_info, out);
	aim_wipe(key, sizeof key);
	aim_wipe(nonce, sizeof nonce);
	return rc;
}

int mls_welcome_open_group_info(const struct aim_suite *cs, struct aim_bytes welcome_secret,
				struct aim_bytes encrypted_group_info, struct mls_group_info *out)
{
	uint8_t key[AIM_MAX_AEAD_KEY], nonce[AIM_AEAD_NONCE];
	memset(out, 0, sizeof *out);
	ENSURE(encrypted_group_info.len <= MLS_MAX_MESSAGE, AIM_ERR_LIMIT,
	       "encrypted GroupInfo of %zu bytes", encrypted_group_info.len);
	TRY(mls_welcome_keys(cs, welcome_secret, key, nonce));
	struct aim_buf pt;
	aim_buf_init(&pt, MLS_MAX_MESSAGE);
	int rc = 0;
	TRY_GOTO(aim_aead_open(cs->aead, AIM_BYTES(key, cs->nk), AIM_BYTES(nonce, cs->nn),
			       AIM_BYTES(NULL, 0), encrypted_group_info, &pt),
		 done);
	TRY_GOTO(mls_group_info_parse(pt.data, pt.len, out), done);
	ENSURE_GOTO(out->group_context.cipher_suite == cs->id, done, AIM_ERR_INVALID,
		    "GroupInfo of cipher suite %u in a Welcome of suite %u",
		    out->group_context.cipher_suite, cs->id);
done:
	if (rc)
		mls_group_info_free(out);
	aim_wipe(key, sizeof key);
	aim_wipe(nonce, sizeof nonce);
	aim_buf_free_secret(&pt);
	return rc;
}

int mls_welcome_seal_secrets(const struct aim_suite *cs, const struct mls_key_package *kp,
			     struct aim_bytes encrypted_group_info,
			     const struct mls_group_secrets *gs,
			     struct mls_encrypted_group_secrets *out)
{
	TRY(check_suite(cs));
	memset(out, 0, sizeof *out);
	ENSURE(kp->cipher_suite == cs->id, AIM_ERR_INVALID,
	       "KeyPackage of cipher suite %u in a group of suite %u", kp->cipher_suite, cs->id);
	struct aim_buf kpb, gsb, kem, ct;
	aim_buf_init(&kpb, MLS_MAX_MESSAGE);
	aim_buf_init(&gsb, MLS_MAX_MESSAGE);
	aim_buf_init(&kem, 1024);
	aim_buf_init(&ct, MLS_MAX_MESSAGE);
	uint8_t ref[AIM_MAX_HASH];
	int rc = 0;
	TRY_GOTO(mls_key_package_encode(&kpb, kp), done);
	TRY_GOTO(mls_key_package_ref(cs, aim_buf_bytes(&kpb), ref), done);
	TRY_GOTO(mls_group_secrets_encode(&gsb, gs), done);
	TRY_GOTO(mls_encrypt_with_label(cs, mls_bytes_view(&kp->init_key), "Welcome",
					encrypted_group_info, aim_buf_bytes(&gsb), &kem, &ct),
		 done);
	TRY_GOTO(mls_bytes_set(&out->new_member, ref, cs->nh), done);
	TRY_GOTO(mls_bytes_set(&out->encrypted_group_secrets.kem_output, kem.data, kem.len), done);
	TRY_GOTO(mls_bytes_set(&out->encrypted_group_secrets.ciphertext, ct.data, ct.len), done);
done:
	if (rc)
		mls_encrypted_group_secrets_free(out);
	aim_buf_free(&kpb);
	aim_buf_free_secret(&gsb);
	aim_buf_free(&kem);
	aim_buf_free(&ct);
	return rc;
}

int mls_welcome_open_secrets(const struct aim_suite *cs, const struct mls_welcome *w,
			     struct aim_bytes key_package_ref, struct aim_bytes init_priv,
			     struct mls_group_secrets *out)
{
	TRY(check_suite(cs));
	memset(out, 0, sizeof *out);
	ENSURE(w->cipher_suite == cs->id, AIM_ERR_INVALID,
	       "Welcome of cipher suite %u, expected %u", w->cipher_suite, cs->id);
	const struct mls_encrypted_group_secrets *e = NULL;
	for (size_t i = 0; i < w->n_secrets && !e; i++) {
		const struct mls_bytes *nm = &w->secrets[i].new_member;
		if (aim_ct_equal(nm->p, nm->len, key_package_ref.p, key_package_ref.len))
			e = &w->secrets[i];
	}
	ENSURE(e != NULL, AIM_ERR_NOTFOUND, "the Welcome has no secrets for this KeyPackage");
	struct aim_buf pt;
	aim_buf_init(&pt, MLS_MAX_MESSAGE);
	int rc = 0;
	/* encrypted_group_secrets = EncryptWithLabel(init_key, "Welcome",
	 *                             encrypted_group_info, group_secrets) */
	const struct mls_hpke_ciphertext *hc = &e->encrypted_group_secrets;
	TRY_GOTO(mls_decrypt_with_label(cs, init_priv, "Welcome",
					mls_bytes_view(&w->encrypted_group_info),
					mls_bytes_view(&hc->kem_output),
					mls_bytes_view(&hc->ciphertext), &pt),
		 done);
	TRY_GOTO(mls_group_secrets_parse(pt.data, pt.len, out), done);
	ENSURE_GOTO(out->joiner_secret.len == cs->nh, done, AIM_ERR_DECODE,
		    "joiner_secret of %zu bytes", out->joiner_secret.len);
done:
	if (rc)
		mls_group_secrets_free(out);
	aim_buf_free_secret(&pt);
	return rc;
}

int mls_group_info_sign(const struct aim_suite *cs, struct mls_group_info *gi,
			struct aim_bytes sig_priv)
{
	TRY(check_suite(cs));
	struct aim_buf tbs, sig;
	aim_buf_init(&tbs, MLS_MAX_MESSAGE);
	aim_buf_init(&sig, 1024);
	int rc = 0;
	TRY_GOTO(mls_group_info_encode_tbs(&tbs, gi), done);
	TRY_GOTO(mls_sign_with_label(cs, sig_priv, "GroupInfoTBS", aim_buf_bytes(&tbs), &sig),
		 done);
	TRY_GOTO(mls_bytes_set(&gi->signature, sig.data, sig.len), done);
done:
	aim_buf_free(&tbs);
	aim_buf_free(&sig);
	return rc;
}

int mls_group_info_verify(const struct aim_suite *cs, const struct mls_group_info *gi,
			  struct aim_bytes sig_pub)
{
	TRY(check_suite(cs));
	struct aim_buf tbs;
	aim_buf_init(&tbs, MLS_MAX_MESSAGE);
	int rc = 0;
	TRY_GOTO(mls_group_info_encode_tbs(&tbs, gi), done);
	TRY_GOTO(mls_verify_with_label(cs, sig_pub, "GroupInfoTBS", aim_buf_bytes(&tbs),
				       mls_bytes_view(&gi->signature)),
		 done);
done:
	aim_buf_free(&tbs);
	return rc;
}
