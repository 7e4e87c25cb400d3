/* MLS codec: PreSharedKeyID, the proposals, ProposalOrRef and Commit
 * (RFC 9420 sections 8.4, 12.1, 12.4). */
#include "mls/codec_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- PreSharedKeyID ------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(pre_shared_key_id)

int mls_pre_shared_key_id_decode(struct mls_tls_reader *r, struct mls_pre_shared_key_id *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_tls_read_u8(r, &out->psktype), fail);
	/* enum { reserved(0), external(1), resumption(2), (255) } PSKType */
	if (out->psktype == MLS_PSK_EXTERNAL) {
		TRY_GOTO(mls_read_bytes(r, &out->psk_id), fail);
	} else if (out->psktype == MLS_PSK_RESUMPTION) {
		TRY_GOTO(mls_tls_read_u8(r, &out->usage), fail);
		/* enum { reserved(0), application(1), reinit(2), branch(3), (255) } */
		ENSURE_GOTO(out->usage >= MLS_RESUMPTION_APPLICATION &&
				    out->usage <= MLS_RESUMPTION_BRANCH,
			    fail, AIM_ERR_UNSUPPORTED, "resumption usage %u", out->usage);
		TRY_GOTO(mls_read_bytes(r, &out->psk_group_id), fail);
		TRY_GOTO(mls_tls_read_u64(r, &out->psk_epoch), fail);
	} else {
		ENSURE_GOTO(false, fail, AIM_ERR_UNSUPPORTED, "psktype %u", out->psktype);
	}
	TRY_GOTO(mls_read_bytes(r, &out->psk_nonce), fail);
	return 0;
fail:
	mls_pre_shared_key_id_free(out);
	return rc;
}

int mls_pre_shared_key_id_encode(struct aim_buf *w, const struct mls_pre_shared_key_id *in)
{
	TRY(mls_tls_write_u8(w, in->psktype));
	if (in->psktype == MLS_PSK_EXTERNAL) {
		TRY(mls_write_bytes(w, &in->psk_id));
	} else if (in->psktype == MLS_PSK_RESUMPTION) {
		ENSURE(in->usage >= MLS_RESUMPTION_APPLICATION && in->usage <= MLS_RESUMPTION_BRANCH,
		       AIM_ERR_INVALID, "resumption usage %u", in->usage);
		TRY(mls_tls_write_u8(w, in->usage));
		TRY(mls_write_bytes(w, &in->psk_group_id));
		TRY(mls_tls_write_u64(w, in->psk_epoch));
	} else {
		return aim_fail(AIM_ERR_INVALID, "psktype %u", in->psktype);
	}
	return mls_write_bytes(w, &in->psk_nonce);
}

void mls_pre_shared_key_id_free(struct mls_pre_shared_key_id *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->psk_id);
	mls_bytes_free(&x->psk_group_id);
	mls_bytes_free(&x->psk_nonce);
	memset(x, 0, sizeof *x);
}

/* ---- Proposal bodies ------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(add)

int mls_add_decode(struct mls_tls_reader *r, struct mls_add *out)
{
	return mls_key_package_decode(r, &out->key_package);
}

int mls_add_encode(struct aim_buf *w, const struct mls_add *in)
{
	return mls_key_package_encode(w, &in->key_package);
}

void mls_add_free(struct mls_add *x)
{
	if (x)
		mls_key_package_free(&x->key_package);
}

MLS_CODEC_DEFINE_PARSE(update)

int mls_update_decode(struct mls_tls_reader *r, struct mls_update *out)
{
	return mls_leaf_node_decode(r, &out->leaf_node);
}

int mls_update_encode(struct aim_buf *w, const struct mls_update *in)
{
	return mls_leaf_node_encode(w, &in->leaf_node);
}

void mls_update_free(struct mls_update *x)
{
	if (x)
		mls_leaf_node_free(&x->leaf_node);
}

MLS_CODEC_DEFINE_PARSE(remove)

int mls_remove_decode(struct mls_tls_reader *r, struct mls_remove *out)
{
	out->removed = 0;
	return mls_tls_read_u32(r, &out->removed);
}

int mls_remove_encode(struct aim_buf *w, const struct mls_remove *in)
{
	return mls_tls_write_u32(w, in->removed);
}

void mls_remove_free(struct mls_remove *x)
{
	if (x)
		x->removed = 0;
}

MLS_CODEC_DEFINE_PARSE(pre_shared_key)

int mls_pre_shared_key_decode(struct mls_tls_reader *r, struct mls_pre_shared_key *out)
{
	return mls_pre_shared_key_id_decode(r, &out->psk);
}

int mls_pre_shared_key_encode(struct aim_buf *w, const struct mls_pre_shared_key *in)
{
	return mls_pre_shared_key_id_encode(w, &in->psk);
}

void mls_pre_shared_key_free(struct mls_pre_shared_key *x)
{
	if (x)
		mls_pre_shared_key_id_free(&x->psk);
}

MLS_CODEC_DEFINE_PARSE(reinit)

int mls_reinit_decode(struct mls_tls_reader *r, struct mls_reinit *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->group_id), fail);
	TRY_GOTO(mls_tls_read_u16(r, &out->version), fail);
	TRY_GOTO(mls_tls_read_u16(r, &out->cipher_suite), fail);
	TRY_GOTO(mls_extension_list_decode(r, &out->extensions), fail);
	return 0;
fail:
	mls_reinit_free(out);
	return rc;
}

int mls_reinit_encode(struct aim_buf *w, const struct mls_reinit *in)
{
	TRY(mls_write_bytes(w, &in->group_id));
	TRY(mls_tls_write_u16(w, in->version));
	TRY(mls_tls_write_u16(w, in->cipher_suite));
	return mls_extension_list_encode(w, &in->extensions);
}

void mls_reinit_free(struct mls_reinit *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->group_id);
	mls_extension_list_free(&x->extensions);
	memset(x, 0, sizeof *x);
}

MLS_CODEC_DEFINE_PARSE(external_init)

int mls_external_init_decode(struct mls_tls_reader *r, struct mls_external_init *out)
{
	memset(out, 0, sizeof *out);
	return mls_read_bytes(r, &out->kem_output);
}

int mls_external_init_encode(struct aim_buf *w, const struct mls_external_init *in)
{
	return mls_write_bytes(w, &in->kem_output);
}

void mls_external_init_free(struct mls_external_init *x)
{
	if (x)
		mls_bytes_free(&x->kem_output);
}

MLS_CODEC_DEFINE_PARSE(group_context_extensions)

int mls_group_context_extensions_decode(struct mls_tls_reader *r,
					struct mls_group_context_extensions *out)
{
	return mls_extension_list_decode(r, &out->extensions);
}

int mls_group_context_extensions_encode(struct aim_buf *w,
					const struct mls_group_context_extensions *in)
{
	return mls_extension_list_encode(w, &in->extensions);
}

void mls_group_context_extensions_free(struct mls_group_context_extensions *x)
{
	if (x)
		mls_extension_list_free(&x->extensions);
}

/* ---- Proposal -------------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(proposal)

int mls_proposal_decode(struct mls_tls_reader *r, struct mls_proposal *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY(mls_tls_read_u16(r, &out->type));
	switch (out->type) {
	case MLS_PROPOSAL_ADD:
		TRY_GOTO(mls_add_decode(r, &out->add), fail);
		break;
	case MLS_PROPOSAL_UPDATE:
		TRY_GOTO(mls_update_decode(r, &out->update), fail);
		break;
	case MLS_PROPOSAL_REMOVE:
		TRY_GOTO(mls_remove_decode(r, &out->remove), fail);
		break;
	case MLS_PROPOSAL_PSK:
		TRY_GOTO(mls_pre_shared_key_decode(r, &out->psk), fail);
		break;
	case MLS_PROPOSAL_REINIT:
		TRY_GOTO(mls_reinit_decode(r, &out->reinit), fail);
		break;
	case MLS_PROPOSAL_EXTERNAL_INIT:
		TRY_GOTO(mls_external_init_decode(r, &out->external_init), fail);
		break;
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		TRY_GOTO(mls_group_context_extensions_decode(r, &out->group_context_extensions),
			 fail);
		break;
	default:
		/* A Proposal body has no length prefix, so an unknown type
		 * cannot be skipped; GREASE values "MUST NOT be sent" here. */
		ENSURE_GOTO(false, fail, AIM_ERR_UNSUPPORTED, "proposal_type 0x%04x", out->type);
	}
	return 0;
fail:
	mls_proposal_free(out);
	return rc;
}

int mls_proposal_encode(struct aim_buf *w, const struct mls_proposal *in)
{
	switch (in->type) {
	case MLS_PROPOSAL_ADD:
	case MLS_PROPOSAL_UPDATE:
	case MLS_PROPOSAL_REMOVE:
	case MLS_PROPOSAL_PSK:
	case MLS_PROPOSAL_REINIT:
	case MLS_PROPOSAL_EXTERNAL_INIT:
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		break;
	default:
		return aim_fail(AIM_ERR_INVALID, "proposal_type 0x%04x", in->type);
	}
	TRY(mls_tls_write_u16(w, in->type));
	switch (in->type) {
	case MLS_PROPOSAL_ADD:
		return mls_add_encode(w, &in->add);
	case MLS_PROPOSAL_UPDATE:
		return mls_update_encode(w, &in->update);
	case MLS_PROPOSAL_REMOVE:
		return mls_remove_encode(w, &in->remove);
	case MLS_PROPOSAL_PSK:
		return mls_pre_shared_key_encode(w, &in->psk);
	case MLS_PROPOSAL_REINIT:
		return mls_reinit_encode(w, &in->reinit);
	case MLS_PROPOSAL_EXTERNAL_INIT:
		return mls_external_init_encode(w, &in->external_init);
	default:
		return mls_group_context_extensions_encode(w, &in->group_context_extensions);
	}
}

void mls_proposal_free(struct mls_proposal *x)
{
	if (!x)
		return;
	mls_add_free(&x->add);
	mls_update_free(&x->update);
	mls_remove_free(&x->remove);
	mls_pre_shared_key_free(&x->psk);
	mls_reinit_free(&x->reinit);
	mls_external_init_free(&x->external_init);
	mls_group_context_extensions_free(&x->group_context_extensions);
	x->type = 0;
}

int mls_proposal_copy(struct mls_proposal *dst, const struct mls_proposal *src)
{
	struct aim_buf b;
	memset(dst, 0, sizeof *dst);
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = mls_proposal_encode(&b, src);
	if (rc == 0)
		rc = mls_proposal_parse(b.data, b.len, dst);
	aim_buf_free(&b);
	return rc;
}

/* ---- ProposalOrRef ------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(proposal_or_ref)

int mls_proposal_or_ref_decode(struct mls_tls_reader *r, struct mls_proposal_or_ref *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY(mls_tls_read_u8(r, &out->type));
	/* enum { reserved(0), proposal(1), reference(2), (255) } ProposalOrRefType */
	if (out->type == MLS_POR_PROPOSAL)
		TRY_GOTO(mls_proposal_decode(r, &out->proposal), fail);
	else if (out->type == MLS_POR_REFERENCE)
		TRY_GOTO(mls_read_bytes(r, &out->reference), fail);
	else
		ENSURE_GOTO(false, fail, AIM_ERR_UNSUPPORTED, "ProposalOrRefType %u", out->type);
	return 0;
fail:
	mls_proposal_or_ref_free(out);
	return rc;
}

int mls_proposal_or_ref_encode(struct aim_buf *w, const struct mls_proposal_or_ref *in)
{
	ENSURE(in->type == MLS_POR_PROPOSAL || in->type == MLS_POR_REFERENCE, AIM_ERR_INVALID,
	       "ProposalOrRefType %u", in->type);
	TRY(mls_tls_write_u8(w, in->type));
	if (in->type == MLS_POR_PROPOSAL)
		return mls_proposal_encode(w, &in->proposal);
	return mls_write_bytes(w, &in->reference);
}

void mls_proposal_or_ref_free(struct mls_proposal_or_ref *x)
{
	if (!x)
		return;
	mls_proposal_free(&x->proposal);
	mls_bytes_free(&x->reference);
	x->type = 0;
}

MLS_CODEC_ADAPTERS(proposal_or_ref)

/* ---- Commit ---------------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(commit)

int mls_commit_decode(struct mls_tls_reader *r, struct mls_commit *out)
{
	int rc = 0;
	void *arr;
	memset(out, 0, sizeof *out);
	TRY(mls_read_struct_vec(r, sizeof(struct mls_proposal_or_ref), MLS_MAX_PROPOSALS,
				mls_proposal_or_ref_decode_v, mls_proposal_or_ref_free_v, &arr,
				&out->n_proposals));
	out->proposals = arr;
	TRY_GOTO(mls_tls_read_optional(r, &out->has_path), fail);
	if (out->has_path)
		TRY_GOTO(mls_update_path_decode(r, &out->path), fail);
	return 0;
fail:
	mls_commit_free(out);
	return rc;
}

int mls_commit_encode(struct aim_buf *w, const struct mls_commit *in)
{
	TRY(mls_write_struct_vec(w, in->proposals, sizeof(struct mls_proposal_or_ref),
				 in->n_proposals, mls_proposal_or_ref_encode_v));
	TRY(mls_tls_write_u8(w, in->has_path ? 1 : 0));
	if (in->has_path)
		TRY(mls_update_path_encode(w, &in->path));
	return 0;
}

void mls_commit_free(struct mls_commit *x)
{
	if (!x)
		return;
	mls_free_struct_vec(x->proposals, sizeof(struct mls_proposal_or_ref), x->n_proposals,
			    mls_proposal_or_ref_free_v);
	mls_update_path_free(&x->path);
	memset(x, 0, sizeof *x);
}
