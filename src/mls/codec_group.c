/* MLS codec: GroupContext, GroupInfo, GroupSecrets, EncryptedGroupSecrets
 * and Welcome (RFC 9420 sections 8.1, 12.4.3). */
#include "mls/codec_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- GroupContext ------------------------------------------------------------ */

MLS_CODEC_DEFINE_PARSE(group_context)

int mls_group_context_decode(struct mls_tls_reader *r, struct mls_group_context *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_tls_read_u16(r, &out->version), fail);
	TRY_GOTO(mls_tls_read_u16(r, &out->cipher_suite), fail);
	TRY_GOTO(mls_read_bytes(r, &out->group_id), fail);
	TRY_GOTO(mls_tls_read_u64(r, &out->epoch), fail);
	TRY_GOTO(mls_read_bytes(r, &out->tree_hash), fail);
	TRY_GOTO(mls_read_bytes(r, &out->confirmed_transcript_hash), fail);
	TRY_GOTO(mls_extension_list_decode(r, &out->extensions), fail);
	return 0;
fail:
	mls_group_context_free(out);
	return rc;
}

int mls_group_context_encode(struct aim_buf *w, const struct mls_group_context *in)
{
	TRY(mls_tls_write_u16(w, in->version));
	TRY(mls_tls_write_u16(w, in->cipher_suite));
	TRY(mls_write_bytes(w, &in->group_id));
	TRY(mls_tls_write_u64(w, in->epoch));
	TRY(mls_write_bytes(w, &in->tree_hash));
	TRY(mls_write_bytes(w, &in->confirmed_transcript_hash));
	return mls_extension_list_encode(w, &in->extensions);
}

void mls_group_context_free(struct mls_group_context *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->group_id);
	mls_bytes_free(&x->tree_hash);
	mls_bytes_free(&x->confirmed_transcript_hash);
	mls_extension_list_free(&x->extensions);
	memset(x, 0, sizeof *x);
}

int mls_group_context_copy(struct mls_group_context *dst, const struct mls_group_context *src)
{
	struct aim_buf b;
	memset(dst, 0, sizeof *dst);
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = mls_group_context_encode(&b, src);
	if (rc == 0)
		rc = mls_group_context_parse(b.data, b.len, dst);
	aim_buf_free(&b);
	return rc;
}

/* ---- GroupInfo ---------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(group_info)

int mls_group_info_decode(struct mls_tls_reader *r, struct mls_group_info *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_group_context_decode(r, &out->group_context), fail);
	TRY_GOTO(mls_extension_list_decode(r, &out->extensions), fail);
	TRY_GOTO(mls_read_bytes(r, &out->confirmation_tag), fail);
	TRY_GOTO(mls_tls_read_u32(r, &out->signer), fail);
	TRY_GOTO(mls_read_bytes(r, &out->signature), fail);
	return 0;
fail:
	mls_group_info_free(out);
	return rc;
}

int mls_group_info_encode_tbs(struct aim_buf *w, const struct mls_group_info *gi)
{
	TRY(mls_group_context_encode(w, &gi->group_context));
	TRY(mls_extension_list_encode(w, &gi->extensions));
	TRY(mls_write_bytes(w, &gi->confirmation_tag));
	return mls_tls_write_u32(w, gi->signer);
}

int mls_group_info_encode(struct aim_buf *w, const struct mls_group_info *in)
{
	TRY(mls_group_info_encode_tbs(w, in));
	return mls_write_bytes(w, &in->signature);
}

void mls_group_info_free(struct mls_group_info *x)
{
	if (!x)
		return;
	mls_group_context_free(&x->group_context);
	mls_extension_list_free(&x->extensions);
	mls_bytes_free(&x->confirmation_tag);
	mls_bytes_free(&x->signature);
	memset(x, 0, sizeof *x);
}

/* ---- GroupSecrets ------------------------------------------------------------- */

MLS_CODEC_ADAPTERS(pre_shared_key_id)
MLS_CODEC_DEFINE_PARSE(group_secrets)

int mls_group_secrets_decode(struct mls_tls_reader *r, struct mls_group_secrets *out)
{
	int rc = 0;
	void *arr;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->joiner_secret), fail);
	TRY_GOTO(mls_tls_read_optional(r, &out->has_path_secret), fail);
	if (out->has_path_secret)
		TRY_GOTO(mls_path_secret_decode(r, &out->path_secret), fail);
	TRY_GOTO(mls_read_struct_vec(r, sizeof(struct mls_pre_shared_key_id), MLS_MAX_LIST,
				     mls_pre_shared_key_id_decode_v, mls_pre_shared_key_id_free_v,
				     &arr, &out->n_psks),
		 fail);
	out->psks = arr;
	return 0;
fail:
	mls_group_secrets_free(out);
	return rc;
}

int mls_group_secrets_encode(struct aim_buf *w, const struct mls_group_secrets *in)
{
	TRY(mls_write_bytes(w, &in->joiner_secret));
	TRY(mls_tls_write_u8(w, in->has_path_secret ? 1 : 0));
	if (in->has_path_secret)
		TRY(mls_path_secret_encode(w, &in->path_secret));
	return mls_write_struct_vec(w, in->psks, sizeof(struct mls_pre_shared_key_id), in->n_psks,
				    mls_pre_shared_key_id_encode_v);
}

void mls_group_secrets_free(struct mls_group_secrets *x)
{
	if (!x)
		return;
	mls_bytes_free_secret(&x->joiner_secret);
	mls_path_secret_free(&x->path_secret);
	mls_free_struct_vec(x->psks, sizeof(struct mls_pre_shared_key_id), x->n_psks,
			    mls_pre_shared_key_id_free_v);
	memset(x, 0, sizeof *x);
}

/* ---- EncryptedGroupSecrets, Welcome ------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(encrypted_group_secrets)

int mls_encrypted_group_secrets_decode(struct mls_tls_reader *r,
				       struct mls_encrypted_group_secrets *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->new_member), fail);
	TRY_GOTO(mls_hpke_ciphertext_decode(r, &out->encrypted_group_secrets), fail);
	return 0;
fail:
	mls_encrypted_group_secrets_free(out);
	return rc;
}

int mls_encrypted_group_secrets_encode(struct aim_buf *w,
				       const struct mls_encrypted_group_secrets *in)
{
	TRY(mls_write_bytes(w, &in->new_member));
	return mls_hpke_ciphertext_encode(w, &in->encrypted_group_secrets);
}

void mls_encrypted_group_secrets_free(struct mls_encrypted_group_secrets *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->new_member);
	mls_hpke_ciphertext_free(&x->encrypted_group_secrets);
}

MLS_CODEC_ADAPTERS(encrypted_group_secrets)
MLS_CODEC_DEFINE_PARSE(welcome)

int mls_welcome_decode(struct mls_tls_reader *r, struct mls_welcome *out)
{
	int rc = 0;
	void *arr;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_tls_read_u16(r, &out->cipher_suite), fail);
	TRY_GOTO(mls_read_struct_vec(r, sizeof(struct mls_encrypted_group_secrets), MLS_MAX_LEAVES,
				     mls_encrypted_group_secrets_decode_v,
				     mls_encrypted_group_secrets_free_v, &arr, &out->n_secrets),
		 fail);
	out->secrets = arr;
	TRY_GOTO(mls_read_bytes(r, &out->encrypted_group_info), fail);
	return 0;
fail:
	mls_welcome_free(out);
	return rc;
}

int mls_welcome_encode(struct aim_buf *w, const struct mls_welcome *in)
{
	TRY(mls_tls_write_u16(w, in->cipher_suite));
	TRY(mls_write_struct_vec(w, in->secrets, sizeof(struct mls_encrypted_group_secrets),
				 in->n_secrets, mls_encrypted_group_secrets_encode_v));
	return mls_write_bytes(w, &in->encrypted_group_info);
}

void mls_welcome_free(struct mls_welcome *x)
{
	if (!x)
		return;
	mls_free_struct_vec(x->secrets, sizeof(struct mls_encrypted_group_secrets), x->n_secrets,
			    mls_encrypted_group_secrets_free_v);
	mls_bytes_free(&x->encrypted_group_info);
	memset(x, 0, sizeof *x);
}
