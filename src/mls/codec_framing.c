/* MLS codec: Sender, FramedContent, FramedContentAuthData, PublicMessage,
 * PrivateMessage (and its plaintext, sender data and AADs),
 * AuthenticatedContent, MLSMessage, and the to-be-signed / MAC / transcript
 * encodings (RFC 9420 sections 6, 8.2). */
#include "mls/codec_int.h"

#include <stdlib.h>
#include <string.h>

static bool content_type_known(uint8_t t)
{
	return t == MLS_CONTENT_APPLICATION || t == MLS_CONTENT_PROPOSAL || t == MLS_CONTENT_COMMIT;
}

static bool wire_format_known(uint16_t f)
{
	return f >= MLS_WIRE_PUBLIC_MESSAGE && f <= MLS_WIRE_KEY_PACKAGE;
}

/* ---- Sender ------------------------------------------------------------------ */

MLS_CODEC_DEFINE_PARSE(sender)

int mls_sender_decode(struct mls_tls_reader *r, struct mls_sender *out)
{
	memset(out, 0, sizeof *out);
	TRY(mls_tls_read_u8(r, &out->type));
	switch (out->type) {
	case MLS_SENDER_MEMBER:
	case MLS_SENDER_EXTERNAL:
		/* member: uint32 leaf_index; external: uint32 sender_index */
		if (mls_tls_read_u32(r, &out->index) != 0) {
			memset(out, 0, sizeof *out);
			return -1;
		}
		return 0;
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		return 0;
	default: {
		uint8_t t = out->type;
		memset(out, 0, sizeof *out);
		return aim_fail(AIM_ERR_UNSUPPORTED, "sender_type %u", t);
	}
	}
}

int mls_sender_encode(struct aim_buf *w, const struct mls_sender *in)
{
	switch (in->type) {
	case MLS_SENDER_MEMBER:
	case MLS_SENDER_EXTERNAL:
		TRY(mls_tls_write_u8(w, in->type));
		return mls_tls_write_u32(w, in->index);
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		return mls_tls_write_u8(w, in->type);
	default:
		return aim_fail(AIM_ERR_INVALID, "sender_type %u", in->type);
	}
}

void mls_sender_free(struct mls_sender *x)
{
	if (x)
		memset(x, 0, sizeof *x);
}

/* ---- The content body shared by FramedContent and PrivateMessageContent ------- */

/* select (content_type) { application: opaque application_data<V>;
 * proposal: Proposal proposal; commit: Commit commit; } */
static int body_decode(struct mls_tls_reader *r, uint8_t content_type, struct mls_bytes *app,
		       struct mls_proposal *proposal, struct mls_commit *commit)
{
	switch (content_type) {
	case MLS_CONTENT_APPLICATION:
		return mls_read_bytes(r, app);
	case MLS_CONTENT_PROPOSAL:
		return mls_proposal_decode(r, proposal);
	case MLS_CONTENT_COMMIT:
		return mls_commit_decode(r, commit);
	default:
		return aim_fail(AIM_ERR_UNSUPPORTED, "content_type %u", content_type);
	}
}

static int body_encode(struct aim_buf *w, uint8_t content_type, const struct mls_bytes *app,
		       const struct mls_proposal *proposal, const struct mls_commit *commit)
{
	switch (content_type) {
	case MLS_CONTENT_APPLICATION:
		return mls_write_bytes(w, app);
	case MLS_CONTENT_PROPOSAL:
		return mls_proposal_encode(w, proposal);
	case MLS_CONTENT_COMMIT:
		return mls_commit_encode(w, commit);
	default:
		return aim_fail(AIM_ERR_INVALID, "content_type %u", content_type);
	}
}

/* ---- FramedContent ------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(framed_content)

int mls_framed_content_decode(struct mls_tls_reader *r, struct mls_framed_content *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->group_id), fail);
	TRY_GOTO(mls_tls_read_u64(r, &out->epoch), fail);
	TRY_GOTO(mls_sender_decode(r, &out->sender), fail);
	TRY_GOTO(mls_read_bytes(r, &out->authenticated_data), fail);
	TRY_GOTO(mls_tls_read_u8(r, &out->content_type), fail);
	/* enum { reserved(0), application(1), proposal(2), commit(3), (255) } */
	ENSURE_GOTO(content_type_known(out->content_type), fail, AIM_ERR_UNSUPPORTED,
		    "content_type %u", out->content_type);
	TRY_GOTO(body_decode(r, out->content_type, &out->application_data, &out->proposal,
			     &out->commit),
		 fail);
	return 0;
fail:
	mls_framed_content_free(out);
	return rc;
}

int mls_framed_content_encode(struct aim_buf *w, const struct mls_framed_content *in)
{
	ENSURE(content_type_known(in->content_type), AIM_ERR_INVALID, "content_type %u",
	       in->content_type);
	TRY(mls_write_bytes(w, &in->group_id));
	TRY(mls_tls_write_u64(w, in->epoch));
	TRY(mls_sender_encode(w, &in->sender));
	TRY(mls_write_bytes(w, &in->authenticated_data));
	TRY(mls_tls_write_u8(w, in->content_type));
	return body_encode(w, in->content_type, &in->application_data, &in->proposal,
			   &in->commit);
}

void mls_framed_content_free(struct mls_framed_content *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->group_id);
	mls_bytes_free(&x->authenticated_data);
	mls_bytes_free(&x->application_data);
	mls_proposal_free(&x->proposal);
	mls_commit_free(&x->commit);
	memset(x, 0, sizeof *x);
}

/* ---- FramedContentAuthData ------------------------------------------------------ */

int mls_framed_content_auth_data_decode(struct mls_tls_reader *r, uint8_t content_type,
					struct mls_framed_content_auth_data *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(content_type_known(content_type), AIM_ERR_UNSUPPORTED, "content_type %u",
	       content_type);
	if (mls_read_bytes(r, &out->signature) != 0 ||
	    (content_type == MLS_CONTENT_COMMIT && mls_read_bytes(r, &out->confirmation_tag) != 0)) {
		mls_framed_content_auth_data_free(out);
		return -1;
	}
	return 0;
}

int mls_framed_content_auth_data_encode(struct aim_buf *w, uint8_t content_type,
					const struct mls_framed_content_auth_data *in)
{
	ENSURE(content_type_known(content_type), AIM_ERR_INVALID, "content_type %u",
	       content_type);
	TRY(mls_write_bytes(w, &in->signature));
	/* case commit: MAC confirmation_tag; */
	if (content_type == MLS_CONTENT_COMMIT)
		TRY(mls_write_bytes(w, &in->confirmation_tag));
	return 0;
}

void mls_framed_content_auth_data_free(struct mls_framed_content_auth_data *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->signature);
	mls_bytes_free(&x->confirmation_tag);
}

/* ---- PublicMessage ------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(public_message)

int mls_public_message_decode(struct mls_tls_reader *r, struct mls_public_message *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_framed_content_decode(r, &out->content), fail);
	TRY_GOTO(mls_framed_content_auth_data_decode(r, out->content.content_type, &out->auth),
		 fail);
	/* select (sender_type) { case member: MAC membership_tag; ... } */
	if (out->content.sender.type == MLS_SENDER_MEMBER)
		TRY_GOTO(mls_read_bytes(r, &out->membership_tag), fail);
	return 0;
fail:
	mls_public_message_free(out);
	return rc;
}

int mls_public_message_encode(struct aim_buf *w, const struct mls_public_message *in)
{
	TRY(mls_framed_content_encode(w, &in->content));
	TRY(mls_framed_content_auth_data_encode(w, in->content.content_type, &in->auth));
	if (in->content.sender.type == MLS_SENDER_MEMBER)
		TRY(mls_write_bytes(w, &in->membership_tag));
	return 0;
}

void mls_public_message_free(struct mls_public_message *x)
{
	if (!x)
		return;
	mls_framed_content_free(&x->content);
	mls_framed_content_auth_data_free(&x->auth);
	mls_bytes_free(&x->membership_tag);
}

/* ---- PrivateMessage --------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(private_message)

int mls_private_message_decode(struct mls_tls_reader *r, struct mls_private_message *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->group_id), fail);
	TRY_GOTO(mls_tls_read_u64(r, &out->epoch), fail);
	TRY_GOTO(mls_tls_read_u8(r, &out->content_type), fail);
	ENSURE_GOTO(content_type_known(out->content_type), fail, AIM_ERR_UNSUPPORTED,
		    "content_type %u", out->content_type);
	TRY_GOTO(mls_read_bytes(r, &out->authenticated_data), fail);
	TRY_GOTO(mls_read_bytes(r, &out->encrypted_sender_data), fail);
	TRY_GOTO(mls_read_bytes(r, &out->ciphertext), fail);
	return 0;
fail:
	mls_private_message_free(out);
	return rc;
}

static int private_aad_common(struct aim_buf *w, const struct mls_private_message *m)
{
	ENSURE(content_type_known(m->content_type), AIM_ERR_INVALID, "content_type %u",
	       m->content_type);
	TRY(mls_write_bytes(w, &m->group_id));
	TRY(mls_tls_write_u64(w, m->epoch));
	return mls_tls_write_u8(w, m->content_type);
}

int mls_private_message_encode(struct aim_buf *w, const struct mls_private_message *in)
{
	TRY(private_aad_common(w, in));
	TRY(mls_write_bytes(w, &in->authenticated_data));
	TRY(mls_write_bytes(w, &in->encrypted_sender_data));
	return mls_write_bytes(w, &in->ciphertext);
}

void mls_private_message_free(struct mls_private_message *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->group_id);
	mls_bytes_free(&x->authenticated_data);
	mls_bytes_free(&x->encrypted_sender_data);
	mls_bytes_free(&x->ciphertext);
	memset(x, 0, sizeof *x);
}

int mls_private_content_aad_encode(struct aim_buf *w, const struct mls_private_message *m)
{
	TRY(private_aad_common(w, m));
	return mls_write_bytes(w, &m->authenticated_data);
}

int mls_sender_data_aad_encode(struct aim_buf *w, const struct mls_private_message *m)
{
	return private_aad_common(w, m);
}

/* ---- PrivateMessageContent ----------------------------------------------------------- */

int mls_private_message_content_decode(struct mls_tls_reader *r, uint8_t content_type,
				       struct mls_private_message_content *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	ENSURE(content_type_known(content_type), AIM_ERR_UNSUPPORTED, "content_type %u",
	       content_type);
	out->content_type = content_type;
	TRY_GOTO(body_decode(r, content_type, &out->application_data, &out->proposal,
			     &out->commit),
		 fail);
	TRY_GOTO(mls_framed_content_auth_data_decode(r, content_type, &out->auth), fail);
	/* "The padding field MUST be filled with all zero bytes. A receiver
	 * MUST verify that there are no non-zero bytes in the padding field" */
	struct aim_bytes pad;
	TRY_GOTO(mls_tls_read_fixed(r, mls_tls_remaining(r), &pad), fail);
	uint8_t acc = 0;
	for (size_t i = 0; i < pad.len; i++)
		acc |= pad.p[i];
	ENSURE_GOTO(acc == 0, fail, AIM_ERR_DECODE, "non-zero padding");
	out->padding = pad.len;
	return 0;
fail:
	mls_private_message_content_free(out);
	return rc;
}

int mls_private_message_content_encode(struct aim_buf *w,
				       const struct mls_private_message_content *in)
{
	TRY(body_encode(w, in->content_type, &in->application_data, &in->proposal, &in->commit));
	TRY(mls_framed_content_auth_data_encode(w, in->content_type, &in->auth));
	ENSURE(in->padding <= MLS_MAX_MESSAGE, AIM_ERR_LIMIT, "padding of %zu bytes",
	       in->padding);
	TRY(aim_buf_reserve(w, in->padding));
	memset(w->data + w->len, 0, in->padding);
	w->len += in->padding;
	w->data[w->len] = 0;
	return 0;
}

void mls_private_message_content_free(struct mls_private_message_content *x)
{
	if (!x)
		return;
	mls_bytes_free_secret(&x->application_data);
	mls_proposal_free(&x->proposal);
	mls_commit_free(&x->commit);
	mls_framed_content_auth_data_free(&x->auth);
	memset(x, 0, sizeof *x);
}

/* ---- SenderData ---------------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(sender_data)

int mls_sender_data_decode(struct mls_tls_reader *r, struct mls_sender_data *out)
{
	struct aim_bytes g;
	memset(out, 0, sizeof *out);
	if (mls_tls_read_u32(r, &out->leaf_index) != 0 || mls_tls_read_u32(r, &out->generation) != 0 ||
	    mls_tls_read_fixed(r, 4, &g) != 0) {
		memset(out, 0, sizeof *out);
		return -1;
	}
	memcpy(out->reuse_guard, g.p, 4);
	return 0;
}

int mls_sender_data_encode(struct aim_buf *w, const struct mls_sender_data *in)
{
	TRY(mls_tls_write_u32(w, in->leaf_index));
	TRY(mls_tls_write_u32(w, in->generation));
	return mls_tls_write_fixed(w, in->reuse_guard, 4);
}

void mls_sender_data_free(struct mls_sender_data *x)
{
	if (x)
		aim_wipe(x, sizeof *x);
}

/* ---- AuthenticatedContent ---------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(authenticated_content)

int mls_authenticated_content_decode(struct mls_tls_reader *r, struct mls_authenticated_content *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_tls_read_u16(r, &out->wire_format), fail);
	ENSURE_GOTO(wire_format_known(out->wire_format), fail, AIM_ERR_UNSUPPORTED,
		    "wire_format %u", out->wire_format);
	TRY_GOTO(mls_framed_content_decode(r, &out->content), fail);
	TRY_GOTO(mls_framed_content_auth_data_decode(r, out->content.content_type, &out->auth),
		 fail);
	return 0;
fail:
	mls_authenticated_content_free(out);
	return rc;
}

int mls_authenticated_content_encode(struct aim_buf *w, const struct mls_authenticated_content *in)
{
	ENSURE(wire_format_known(in->wire_format), AIM_ERR_INVALID, "wire_format %u",
	       in->wire_format);
	TRY(mls_tls_write_u16(w, in->wire_format));
	TRY(mls_framed_content_encode(w, &in->content));
	return mls_framed_content_auth_data_encode(w, in->content.content_type, &in->auth);
}

void mls_authenticated_content_free(struct mls_authenticated_content *x)
{
	if (!x)
		return;
	mls_framed_content_free(&x->content);
	mls_framed_content_auth_data_free(&x->auth);
	x->wire_format = 0;
}

/* ---- MLSMessage ----------------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(message)

int mls_message_decode(struct mls_tls_reader *r, struct mls_message *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_tls_read_u16(r, &out->version), fail);
	/* ProtocolVersion version = mls10; */
	ENSURE_GOTO(out->version == MLS_VERSION_10, fail, AIM_ERR_UNSUPPORTED,
		    "protocol version %u", out->version);
	TRY_GOTO(mls_tls_read_u16(r, &out->wire_format), fail);
	switch (out->wire_format) {
	case MLS_WIRE_PUBLIC_MESSAGE:
		TRY_GOTO(mls_public_message_decode(r, &out->public_message), fail);
		break;
	case MLS_WIRE_PRIVATE_MESSAGE:
		TRY_GOTO(mls_private_message_decode(r, &out->private_message), fail);
		break;
	case MLS_WIRE_WELCOME:
		TRY_GOTO(mls_welcome_decode(r, &out->welcome), fail);
		break;
	case MLS_WIRE_GROUP_INFO:
		TRY_GOTO(mls_group_info_decode(r, &out->group_info), fail);
		break;
	case MLS_WIRE_KEY_PACKAGE:
		TRY_GOTO(mls_key_package_decode(r, &out->key_package), fail);
		break;
	default:
		ENSURE_GOTO(false, fail, AIM_ERR_UNSUPPORTED, "wire_format %u", out->wire_format);
	}
	return 0;
fail:
	mls_message_free(out);
	return rc;
}

int mls_message_encode(struct aim_buf *w, const struct mls_message *in)
{
	ENSURE(in->version == MLS_VERSION_10, AIM_ERR_INVALID, "protocol version %u",
	       in->version);
	ENSURE(wire_format_known(in->wire_format), AIM_ERR_INVALID, "wire_format %u",
	       in->wire_format);
	TRY(mls_tls_write_u16(w, in->version));
	TRY(mls_tls_write_u16(w, in->wire_format));
	switch (in->wire_format) {
	case MLS_WIRE_PUBLIC_MESSAGE:
		return mls_public_message_encode(w, &in->public_message);
	case MLS_WIRE_PRIVATE_MESSAGE:
		return mls_private_message_encode(w, &in->private_message);
	case MLS_WIRE_WELCOME:
		return mls_welcome_encode(w, &in->welcome);
	case MLS_WIRE_GROUP_INFO:
		return mls_group_info_encode(w, &in->group_info);
	default:
		return mls_key_package_encode(w, &in->key_package);
	}
}

void mls_message_free(struct mls_message *x)
{
	if (!x)
		return;
	mls_public_message_free(&x->public_message);
	mls_private_message_free(&x->private_message);
	mls_welcome_free(&x->welcome);
	mls_group_info_free(&x->group_info);
	mls_key_package_free(&x->key_package);
	x->version = 0;
	x->wire_format = 0;
}

/* ---- To-be-signed, MAC and transcript inputs ----------------------------------------- */

int mls_framed_content_encode_tbs(struct aim_buf *w, uint16_t wire_format,
				  const struct mls_framed_content *content,
				  const struct mls_group_context *ctx)
{
	ENSURE(wire_format_known(wire_format), AIM_ERR_INVALID, "wire_format %u", wire_format);
	TRY(mls_tls_write_u16(w, MLS_VERSION_10));
	TRY(mls_tls_write_u16(w, wire_format));
	TRY(mls_framed_content_encode(w, content));
	/* select (sender_type) { case member: case new_member_commit:
	 * GroupContext context; case external: case new_member_proposal:
	 * struct{}; } */
	if (content->sender.type == MLS_SENDER_MEMBER ||
	    content->sender.type == MLS_SENDER_NEW_MEMBER_COMMIT) {
		ENSURE(ctx, AIM_ERR_INVALID, "FramedContentTBS needs the group context");
		TRY(mls_group_context_encode(w, ctx));
	}
	return 0;
}

int mls_authenticated_content_encode_tbm(struct aim_buf *w, uint16_t wire_format,
					 const struct mls_framed_content *content,
					 const struct mls_framed_content_auth_data *auth,
					 const struct mls_group_context *ctx)
{
	TRY(mls_framed_content_encode_tbs(w, wire_format, content, ctx));
	return mls_framed_content_auth_data_encode(w, content->content_type, auth);
}

int mls_confirmed_transcript_hash_input_encode(struct aim_buf *w, uint16_t wire_format,
					       const struct mls_framed_content *content,
					       struct aim_bytes signature)
{
	ENSURE(wire_format_known(wire_format), AIM_ERR_INVALID, "wire_format %u", wire_format);
	/* FramedContent content; with content_type == commit */
	ENSURE(content->content_type == MLS_CONTENT_COMMIT, AIM_ERR_INVALID,
	       "transcript input of a non-commit");
	TRY(mls_tls_write_u16(w, wire_format));
	TRY(mls_framed_content_encode(w, content));
	return mls_tls_write_vec_bytes(w, signature);
}

int mls_interim_transcript_hash_input_encode(struct aim_buf *w,
					     struct aim_bytes confirmation_tag)
{
	return mls_tls_write_vec_bytes(w, confirmation_tag);
}
