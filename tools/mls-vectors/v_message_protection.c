/* message-protection.json: verify / unprotect the given PublicMessages and
 * PrivateMessages, then protect the raw values ourselves and unprotect
 * them again (RFC 9420 section 6). */
#include <stdio.h>
#include <string.h>

#include "mls/codec.h"
#include "mls/framing.h"
#include "mls/schedule.h"
#include "vectors.h"

struct mp {
	const struct aim_suite *cs;
	struct mls_group_context ctx;
	struct aim_buf sig_priv, sig_pub, enc_secret, sd_secret, membership;
};

/* Leaf 1 is the only sender; leaf 0 exists but is not used. */
static int lookup(void *arg, uint32_t leaf, struct aim_bytes *pk)
{
	struct mp *m = arg;
	ENSURE(leaf == 1, AIM_ERR_NOTFOUND, "leaf %u is blank", leaf);
	*pk = aim_buf_bytes(&m->sig_pub);
	return 0;
}

/* The body of ac re-encoded, to compare with the raw vector value. */
static int body_bytes(const struct mls_framed_content *c, struct aim_buf *out)
{
	switch (c->content_type) {
	case MLS_CONTENT_APPLICATION:
		return aim_buf_append(out, c->application_data.p, c->application_data.len);
	case MLS_CONTENT_PROPOSAL:
		return mls_proposal_encode(out, &c->proposal);
	case MLS_CONTENT_COMMIT:
		return mls_commit_encode(out, &c->commit);
	}
	return aim_fail(AIM_ERR_DECODE, "content type");
}

static int same_body(const struct mls_framed_content *c, const struct aim_buf *raw)
{
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = body_bytes(c, &b);
	if (rc == 0 && !aim_ct_equal(b.data, b.len, raw->data, raw->len))
		rc = aim_fail(AIM_ERR_VERIFY, "unprotected body differs");
	aim_buf_free(&b);
	return rc;
}

static int new_tree(struct mp *m, struct mls_secret_tree **t)
{
	return mls_secret_tree_new(m->cs, aim_buf_bytes(&m->enc_secret), 2, t);
}

/* Builds a FramedContent from leaf 1 carrying the raw value. */
static int build_content(struct mp *m, uint8_t type, const struct aim_buf *raw,
			 struct mls_framed_content *c)
{
	memset(c, 0, sizeof *c);
	c->epoch = m->ctx.epoch;
	c->sender.type = MLS_SENDER_MEMBER;
	c->sender.index = 1;
	c->content_type = type;
	TRY(mls_bytes_copy(&c->group_id, &m->ctx.group_id));
	switch (type) {
	case MLS_CONTENT_APPLICATION:
		return mls_bytes_set(&c->application_data, raw->data, raw->len);
	case MLS_CONTENT_PROPOSAL:
		return mls_proposal_parse(raw->data, raw->len, &c->proposal);
	default:
		return mls_commit_parse(raw->data, raw->len, &c->commit);
	}
}

static int check_public(struct mp *m, uint8_t type, const struct aim_buf *raw,
			const struct aim_buf *pubmsg)
{
	const struct aim_suite *cs = m->cs;
	struct mls_message msg;
	struct mls_authenticated_content ac;
	struct mls_framed_content c;
	struct mls_framed_content_auth_data auth;
	struct mls_public_message pm;
	memset(&msg, 0, sizeof msg);
	memset(&ac, 0, sizeof ac);
	memset(&c, 0, sizeof c);
	memset(&auth, 0, sizeof auth);
	memset(&pm, 0, sizeof pm);
	int rc = 0;
	struct aim_bytes mk = aim_buf_bytes(&m->membership);
	if (pubmsg) {
		TRY_GOTO(mls_message_parse(pubmsg->data, pubmsg->len, &msg), done);
		ENSURE_GOTO(msg.wire_format == MLS_WIRE_PUBLIC_MESSAGE, done, AIM_ERR_DECODE,
			    "not a PublicMessage");
		TRY_GOTO(mls_public_message_unprotect(cs, &msg.public_message, &m->ctx, mk,
						      aim_buf_bytes(&m->sig_pub), &ac),
			 done);
		TRY_GOTO(same_body(&ac.content, raw), done);
		/* A flipped membership tag bit must be refused. */
		msg.public_message.membership_tag.p[0] ^= 1;
		if (mls_public_message_unprotect(cs, &msg.public_message, &m->ctx, mk,
						 aim_buf_bytes(&m->sig_pub), NULL) == 0) {
			rc = aim_fail(AIM_ERR_INTERNAL, "altered membership tag accepted");
			goto done;
		}
		aim_errclear();
	}
	TRY_GOTO(build_content(m, type, raw, &c), done);
	TRY_GOTO(mls_content_sign(cs, MLS_WIRE_PUBLIC_MESSAGE, &c, &m->ctx,
				  aim_buf_bytes(&m->sig_priv), &auth),
		 done);
	if (type == MLS_CONTENT_COMMIT) {
		uint8_t tag[AIM_MAX_HASH];
		memset(tag, 0x5a, sizeof tag);
		TRY_GOTO(mls_bytes_set(&auth.confirmation_tag, tag, cs->nh), done);
	}
	if (type == MLS_CONTENT_APPLICATION) {
		/* "Applications MUST use PrivateMessage to encrypt application
		 * messages": protecting as a PublicMessage must fail. */
		if (mls_public_message_protect(cs, &c, &auth, &m->ctx, mk, &pm) == 0)
			rc = aim_fail(AIM_ERR_INTERNAL, "application PublicMessage accepted");
		aim_errclear();
		goto done;
	}
	TRY_GOTO(mls_public_message_protect(cs, &c, &auth, &m->ctx, mk, &pm), done);
	TRY_GOTO(mls_public_message_unprotect(cs, &pm, &m->ctx, mk, aim_buf_bytes(&m->sig_pub),
					      NULL),
		 done);
done:
	mls_message_free(&msg);
	mls_authenticated_content_free(&ac);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&auth);
	mls_public_message_free(&pm);
	return rc;
}

static int check_private(struct mp *m, uint8_t type, const struct aim_buf *raw,
			 const struct aim_buf *privmsg)
{
	const struct aim_suite *cs = m->cs;
	struct mls_message msg;
	struct mls_authenticated_content ac, ac2;
	struct mls_framed_content c;
	struct mls_framed_content_auth_data auth;
	struct mls_private_message pm;
	struct mls_secret_tree *t1 = NULL, *ts = NULL, *tr = NULL;
	memset(&msg, 0, sizeof msg);
	memset(&ac, 0, sizeof ac);
	memset(&ac2, 0, sizeof ac2);
	memset(&c, 0, sizeof c);
	memset(&auth, 0, sizeof auth);
	memset(&pm, 0, sizeof pm);
	struct aim_bytes sds = aim_buf_bytes(&m->sd_secret);
	int rc = 0;
	TRY_GOTO(new_tree(m, &t1), done);
	TRY_GOTO(new_tree(m, &ts), done);
	TRY_GOTO(new_tree(m, &tr), done);
	TRY_GOTO(mls_message_parse(privmsg->data, privmsg->len, &msg), done);
	ENSURE_GOTO(msg.wire_format == MLS_WIRE_PRIVATE_MESSAGE, done, AIM_ERR_DECODE,
		    "not a PrivateMessage");
	TRY_GOTO(mls_private_message_unprotect(cs, t1, sds, &msg.private_message, &m->ctx, lookup,
					       m, &ac),
		 done);
	TRY_GOTO(same_body(&ac.content, raw), done);
	/* The same message again: its key is gone. */
	if (mls_private_message_unprotect(cs, t1, sds, &msg.private_message, &m->ctx, lookup, m,
					  &ac2) == 0) {
		rc = aim_fail(AIM_ERR_INTERNAL, "replayed PrivateMessage accepted");
		goto done;
	}
	aim_errclear();

	TRY_GOTO(build_content(m, type, raw, &c), done);
	TRY_GOTO(mls_content_sign(cs, MLS_WIRE_PRIVATE_MESSAGE, &c, &m->ctx,
				  aim_buf_bytes(&m->sig_priv), &auth),
		 done);
	if (type == MLS_CONTENT_COMMIT) {
		uint8_t tag[AIM_MAX_HASH];
		memset(tag, 0xa5, sizeof tag);
		TRY_GOTO(mls_bytes_set(&auth.confirmation_tag, tag, cs->nh), done);
	}
	TRY_GOTO(mls_private_message_protect(cs, ts, sds, &c, &auth, 13, &pm), done);
	TRY_GOTO(mls_private_message_unprotect(cs, tr, sds, &pm, &m->ctx, lookup, m, &ac2), done);
	TRY_GOTO(same_body(&ac2.content, raw), done);
done:
	mls_secret_tree_free(t1);
	mls_secret_tree_free(ts);
	mls_secret_tree_free(tr);
	mls_message_free(&msg);
	mls_authenticated_content_free(&ac);
	mls_authenticated_content_free(&ac2);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&auth);
	mls_private_message_free(&pm);
	return rc;
}

static int run_one(const struct aim_suite *cs, json_t *t)
{
	struct mp m;
	memset(&m, 0, sizeof m);
	m.cs = cs;
	struct aim_buf gid = { 0 }, th = { 0 }, cth = { 0 };
	struct aim_buf raw[3] = { { 0 } }, pub[3] = { { 0 } }, priv[3] = { { 0 } };
	static const struct {
		uint8_t type;
		const char *raw, *pub, *priv;
	} kinds[] = {
		{ MLS_CONTENT_PROPOSAL, "proposal", "proposal_pub", "proposal_priv" },
		{ MLS_CONTENT_COMMIT, "commit", "commit_pub", "commit_priv" },
		{ MLS_CONTENT_APPLICATION, "application", NULL, "application_priv" },
	};
	uint64_t epoch;
	int rc = 0;
	TRY_GOTO(vec_uint(t, "epoch", &epoch), done);
	TRY_GOTO(vec_hex(t, "group_id", &gid, NULL), done);
	TRY_GOTO(vec_hex(t, "tree_hash", &th, NULL), done);
	TRY_GOTO(vec_hex(t, "confirmed_transcript_hash", &cth, NULL), done);
	TRY_GOTO(vec_hex(t, "signature_priv", &m.sig_priv, NULL), done);
	TRY_GOTO(vec_hex(t, "signature_pub", &m.sig_pub, NULL), done);
	TRY_GOTO(vec_hex(t, "encryption_secret", &m.enc_secret, NULL), done);
	TRY_GOTO(vec_hex(t, "sender_data_secret", &m.sd_secret, NULL), done);
	TRY_GOTO(vec_hex(t, "membership_key", &m.membership, NULL), done);
	m.ctx.version = MLS_VERSION_10;
	m.ctx.cipher_suite = cs->id;
	m.ctx.epoch = epoch;
	TRY_GOTO(mls_bytes_set(&m.ctx.group_id, gid.data, gid.len), done);
	TRY_GOTO(mls_bytes_set(&m.ctx.tree_hash, th.data, th.len), done);
	TRY_GOTO(mls_bytes_set(&m.ctx.confirmed_transcript_hash, cth.data, cth.len), done);
	for (size_t k = 0; k < AIM_ARRAY_LEN(kinds); k++) {
		TRY_GOTO(vec_hex(t, kinds[k].raw, &raw[k], NULL), done);
		if (kinds[k].pub)
			TRY_GOTO(vec_hex(t, kinds[k].pub, &pub[k], NULL), done);
		TRY_GOTO(vec_hex(t, kinds[k].priv, &priv[k], NULL), done);
		const char *part = NULL;
		if (check_public(&m, kinds[k].type, &raw[k], kinds[k].pub ? &pub[k] : NULL))
			part = "public";
		else if (check_private(&m, kinds[k].type, &raw[k], &priv[k]))
			part = "private";
		if (part) {
			char why[256];
			snprintf(why, sizeof why, "%s", aim_errmsg());
			rc = aim_fail(aim_errcode(), "%s %s: %s", kinds[k].raw, part, why);
			goto done;
		}
	}
done:
	mls_group_context_free(&m.ctx);
	aim_buf_free(&gid);
	aim_buf_free(&th);
	aim_buf_free(&cth);
	aim_buf_free_secret(&m.sig_priv);
	aim_buf_free(&m.sig_pub);
	aim_buf_free_secret(&m.enc_secret);
	aim_buf_free_secret(&m.sd_secret);
	aim_buf_free_secret(&m.membership);
	for (size_t k = 0; k < 3; k++) {
		aim_buf_free(&raw[k]);
		aim_buf_free(&pub[k]);
		aim_buf_free(&priv[k]);
	}
	return rc;
}

void vec_message_protection(json_t *tests, struct vec_stats *st)
{
	vec_each_suite(tests, st, run_one);
}
