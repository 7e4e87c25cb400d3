/*
 * Content signatures and PublicMessage protection (RFC 9420 sections 6.1,
 * 6.2). See framing.h.
 */
#include <string.h>

#include "mls/framing.h"
#include "mls/labeled.h"

int mls_framing_copy_content(struct mls_framed_content *dst,
			     const struct mls_framed_content *src)
{
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = mls_framed_content_encode(&b, src);
	if (rc == 0)
		rc = mls_framed_content_parse(b.data, b.len, dst);
	else
		memset(dst, 0, sizeof *dst);
	aim_buf_free_secret(&b);
	return rc;
}

int mls_framing_copy_auth(struct mls_framed_content_auth_data *dst,
			  const struct mls_framed_content_auth_data *src)
{
	memset(dst, 0, sizeof *dst);
	if (mls_bytes_copy(&dst->signature, &src->signature) ||
	    mls_bytes_copy(&dst->confirmation_tag, &src->confirmation_tag)) {
		mls_framed_content_auth_data_free(dst);
		return -1;
	}
	return 0;
}

int mls_framing_check_context(const struct mls_framed_content *content,
			      const struct mls_group_context *ctx)
{
	ENSURE(ctx != NULL, AIM_ERR_INVALID, "group context missing");
	ENSURE(mls_bytes_equal(&content->group_id, &ctx->group_id), AIM_ERR_INVALID,
	       "message for another group");
	ENSURE(content->epoch == ctx->epoch, AIM_ERR_CONFLICT,
	       "message for epoch %llu, group is at epoch %llu",
	       (unsigned long long)content->epoch, (unsigned long long)ctx->epoch);
	return 0;
}

int mls_framing_check_sender(const struct mls_framed_content *c)
{
	switch (c->sender.type) {
	case MLS_SENDER_MEMBER:
		return 0;
	case MLS_SENDER_EXTERNAL:
		/* "The content_type of the message MUST be proposal and the
		 * proposal_type MUST be a value that is allowed for external
		 * senders." (add, remove, psk, reinit, group_context_extensions) */
		ENSURE(c->content_type == MLS_CONTENT_PROPOSAL, AIM_ERR_INVALID,
		       "external sender of a non-proposal");
		ENSURE(c->proposal.type == MLS_PROPOSAL_ADD ||
			       c->proposal.type == MLS_PROPOSAL_REMOVE ||
			       c->proposal.type == MLS_PROPOSAL_PSK ||
			       c->proposal.type == MLS_PROPOSAL_REINIT ||
			       c->proposal.type == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS,
		       AIM_ERR_INVALID, "proposal type %u not allowed for external senders",
		       c->proposal.type);
		return 0;
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		/* "The content_type of the message MUST be commit." */
		ENSURE(c->content_type == MLS_CONTENT_COMMIT, AIM_ERR_INVALID,
		       "new_member_commit sender of a non-commit");
		return 0;
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
		/* "The content_type of the message MUST be proposal and the
		 * proposal_type of the Proposal MUST be add." */
		ENSURE(c->content_type == MLS_CONTENT_PROPOSAL &&
			       c->proposal.type == MLS_PROPOSAL_ADD,
		       AIM_ERR_INVALID, "new_member_proposal sender of a non-Add");
		return 0;
	}
	return aim_fail(AIM_ERR_INVALID, "sender type %u", c->sender.type);
}

int mls_framing_check_auth(const struct aim_suite *cs, uint8_t content_type,
			   const struct mls_framed_content_auth_data *auth)
{
	ENSURE(auth->signature.len > 0, AIM_ERR_VERIFY, "signature missing");
	/* case commit: MAC confirmation_tag; */
	if (content_type == MLS_CONTENT_COMMIT)
		ENSURE(auth->confirmation_tag.len == cs->nh, AIM_ERR_VERIFY,
		       "commit with a confirmation tag of %zu bytes", auth->confirmation_tag.len);
	else
		ENSURE(auth->confirmation_tag.len == 0, AIM_ERR_INVALID,
		       "confirmation tag on a non-commit");
	return 0;
}

int mls_content_sign(const struct aim_suite *cs, uint16_t wire_format,
		     const struct mls_framed_content *content, const struct mls_group_context *ctx,
		     struct aim_bytes sig_priv, struct mls_framed_content_auth_data *auth)
{
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	ENSURE(wire_format == MLS_WIRE_PUBLIC_MESSAGE || wire_format == MLS_WIRE_PRIVATE_MESSAGE,
	       AIM_ERR_INVALID, "wire format %u carries no framed content", wire_format);
	struct aim_buf tbs, sig;
	aim_buf_init(&tbs, MLS_MAX_MESSAGE + 4096);
	aim_buf_init(&sig, 1024);
	int rc = 0;
	/* SignWithLabel(., "FramedContentTBS", FramedContentTBS) */
	TRY_GOTO(mls_framed_content_encode_tbs(&tbs, wire_format, content, ctx), done);
	TRY_GOTO(mls_sign_with_label(cs, sig_priv, "FramedContentTBS", aim_buf_bytes(&tbs), &sig),
		 done);
	TRY_GOTO(mls_bytes_set(&auth->signature, sig.data, sig.len), done);
done:
	aim_buf_free_secret(&tbs);
	aim_buf_free(&sig);
	return rc;
}

int mls_content_verify(const struct aim_suite *cs, uint16_t wire_format,
		       const struct mls_framed_content *content,
		       const struct mls_group_context *ctx, struct aim_bytes sig_pub,
		       const struct mls_framed_content_auth_data *auth)
{
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	struct aim_buf tbs;
	aim_buf_init(&tbs, MLS_MAX_MESSAGE + 4096);
	int rc = 0;
	TRY_GOTO(mls_framed_content_encode_tbs(&tbs, wire_format, content, ctx), done);
	TRY_GOTO(mls_verify_with_label(cs, sig_pub, "FramedContentTBS", aim_buf_bytes(&tbs),
				       mls_bytes_view(&auth->signature)),
		 done);
done:
	aim_buf_free_secret(&tbs);
	return rc;
}

int mls_membership_tag(const struct aim_suite *cs, struct aim_bytes membership_key,
		       const struct mls_framed_content *content,
		       const struct mls_framed_content_auth_data *auth,
		       const struct mls_group_context *ctx, uint8_t out[AIM_MAX_HASH])
{
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	ENSURE(membership_key.len == cs->nh, AIM_ERR_INVALID, "membership_key must be %zu bytes",
	       cs->nh);
	struct aim_buf tbm;
	aim_buf_init(&tbm, MLS_MAX_MESSAGE + 4096);
	int rc = 0;
	/* membership_tag = MAC(membership_key, AuthenticatedContentTBM) */
	TRY_GOTO(mls_authenticated_content_encode_tbm(&tbm, MLS_WIRE_PUBLIC_MESSAGE, content, auth,
						      ctx),
		 done);
	TRY_GOTO(aim_mac(cs->hash, membership_key, aim_buf_bytes(&tbm), out), done);
done:
	aim_buf_free(&tbm);
	return rc;
}

int mls_public_message_protect(const struct aim_suite *cs,
			       const struct mls_framed_content *content,
			       const struct mls_framed_content_auth_data *auth,
			       const struct mls_group_context *ctx,
			       struct aim_bytes membership_key, struct mls_public_message *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	/* "Applications MUST use PrivateMessage to encrypt application
	 * messages" */
	ENSURE(content->content_type != MLS_CONTENT_APPLICATION, AIM_ERR_INVALID,
	       "application data must be sent in a PrivateMessage");
	TRY(mls_framing_check_context(content, ctx));
	TRY(mls_framing_check_sender(content));
	TRY(mls_framing_check_auth(cs, content->content_type, auth));
	uint8_t tag[AIM_MAX_HASH];
	int rc = 0;
	TRY_GOTO(mls_framing_copy_content(&out->content, content), fail);
	TRY_GOTO(mls_framing_copy_auth(&out->auth, auth), fail);
	if (content->sender.type == MLS_SENDER_MEMBER) {
		/* "For messages sent by members, it MUST be set to the following
		 * value" */
		TRY_GOTO(mls_membership_tag(cs, membership_key, content, auth, ctx, tag), fail);
		TRY_GOTO(mls_bytes_set(&out->membership_tag, tag, cs->nh), fail);
	}
	return 0;
fail:
	mls_public_message_free(out);
	return rc;
}

int mls_public_message_unprotect(const struct aim_suite *cs,
				 const struct mls_public_message *pm,
				 const struct mls_group_context *ctx,
				 struct aim_bytes membership_key, struct aim_bytes sig_pub,
				 struct mls_authenticated_content *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	const struct mls_framed_content *c = &pm->content;
	ENSURE(c->content_type != MLS_CONTENT_APPLICATION, AIM_ERR_INVALID,
	       "application data in a PublicMessage");
	TRY(mls_framing_check_context(c, ctx));
	TRY(mls_framing_check_sender(c));
	TRY(mls_framing_check_auth(cs, c->content_type, &pm->auth));
	if (c->sender.type == MLS_SENDER_MEMBER) {
		/* "When decoding a PublicMessage into an AuthenticatedContent, the
		 * application MUST check membership_tag" */
		uint8_t tag[AIM_MAX_HASH];
		TRY(mls_membership_tag(cs, membership_key, c, &pm->auth, ctx, tag));
		bool ok = pm->membership_tag.len == cs->nh &&
			  aim_ct_equal(tag, cs->nh, pm->membership_tag.p, pm->membership_tag.len);
		aim_wipe(tag, sizeof tag);
		ENSURE(ok, AIM_ERR_VERIFY, "membership tag does not verify");
	} else {
		ENSURE(pm->membership_tag.len == 0, AIM_ERR_INVALID,
		       "membership tag from a non-member sender");
	}
	/* "... and MUST check that the FramedContentAuthData is valid." */
	TRY(mls_content_verify(cs, MLS_WIRE_PUBLIC_MESSAGE, c, ctx, sig_pub, &pm->auth));
	if (!out)
		return 0;
	out->wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	if (mls_framing_copy_content(&out->content, c) ||
	    mls_framing_copy_auth(&out->auth, &pm->auth)) {
		mls_authenticated_content_free(out);
		return -1;
	}
	return 0;
}
