/*
 * PrivateMessage protection (RFC 9420 section 6.3). See framing.h.
 */
#include <string.h>

#include "mls/framing.h"
#include "mls/labeled.h"
#include "mls/tls.h"

static enum mls_ratchet_kind kind_of(uint8_t content_type)
{
	return content_type == MLS_CONTENT_APPLICATION ? MLS_RATCHET_APPLICATION
						       : MLS_RATCHET_HANDSHAKE;
}

/* "the sender of a message MUST generate a fresh random four-byte "reuse
 * guard" value and XOR it with the first four bytes of the nonce" */
static void apply_reuse_guard(uint8_t nonce[AIM_AEAD_NONCE], const uint8_t guard[4])
{
	for (size_t i = 0; i < 4; i++)
		nonce[i] ^= guard[i];
}

size_t mls_padding_for(size_t content_len, size_t block)
{
	if (block <= 1)
		return 0;
	size_t pad = (block - content_len % block) % block;
	return pad > MLS_MAX_PADDING ? MLS_MAX_PADDING : pad;
}

/* A borrowed PrivateMessageContent view of content + auth (never freed). */
static void content_view(const struct mls_framed_content *content,
			 const struct mls_framed_content_auth_data *auth, size_t padding,
			 struct mls_private_message_content *pmc)
{
	memset(pmc, 0, sizeof *pmc);
	pmc->content_type = content->content_type;
	pmc->application_data = content->application_data;
	pmc->proposal = content->proposal;
	pmc->commit = content->commit;
	pmc->auth = *auth;
	pmc->padding = padding;
}

int mls_private_message_protect_aligned(const struct aim_suite *cs, struct mls_secret_tree *st,
					struct aim_bytes sender_data_secret,
					const struct mls_framed_content *content,
					const struct mls_framed_content_auth_data *auth,
					size_t block, struct mls_private_message *out)
{
	memset(out, 0, sizeof *out);
	struct mls_private_message_content pmc;
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	content_view(content, auth, 0, &pmc);
	int rc = mls_private_message_content_encode(&b, &pmc);
	size_t len = b.len;
	memset(&pmc, 0, sizeof pmc);
	aim_buf_free_secret(&b);
	TRY(rc);
	return mls_private_message_protect(cs, st, sender_data_secret, content, auth,
					   mls_padding_for(len, block), out);
}

int mls_private_message_protect(const struct aim_suite *cs, struct mls_secret_tree *st,
				struct aim_bytes sender_data_secret,
				const struct mls_framed_content *content,
				const struct mls_framed_content_auth_data *auth, size_t padding,
				struct mls_private_message *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(cs != NULL && st != NULL, AIM_ERR_INVALID, "cipher suite or secret tree missing");
	/* "When constructing a SenderData object from a Sender object, the
	 * sender MUST verify Sender.sender_type is member" */
	ENSURE(content->sender.type == MLS_SENDER_MEMBER, AIM_ERR_INVALID,
	       "only members send PrivateMessages");
	ENSURE(padding <= MLS_MAX_PADDING, AIM_ERR_LIMIT, "padding of %zu bytes", padding);
	TRY(mls_framing_check_auth(cs, content->content_type, auth));

	struct aim_buf pt, aad, sd, sdaad;
	aim_buf_init(&pt, MLS_MAX_MESSAGE + MLS_MAX_PADDING);
	aim_buf_init(&aad, MLS_MAX_MESSAGE);
	aim_buf_init(&sd, 64);
	aim_buf_init(&sdaad, 4096);
	struct mls_ratchet_keys keys;
	struct mls_sender_data sender;
	uint8_t sd_key[AIM_MAX_AEAD_KEY], sd_nonce[AIM_AEAD_NONCE];
	memset(&keys, 0, sizeof keys);
	memset(sd_key, 0, sizeof sd_key);
	memset(sd_nonce, 0, sizeof sd_nonce);
	int rc = 0;

	struct mls_private_message_content pmc;
	content_view(content, auth, padding, &pmc);
	rc = mls_private_message_content_encode(&pt, &pmc);
	memset(&pmc, 0, sizeof pmc);
	if (rc)
		goto done;

	out->epoch = content->epoch;
	out->content_type = content->content_type;
	TRY_GOTO(mls_bytes_copy(&out->group_id, &content->group_id), done);
	TRY_GOTO(mls_bytes_copy(&out->authenticated_data, &content->authenticated_data), done);
	TRY_GOTO(mls_private_content_aad_encode(&aad, out), done);

	TRY_GOTO(mls_secret_tree_next(st, content->sender.index, kind_of(content->content_type),
				      &keys),
		 done);
	sender.leaf_index = content->sender.index;
	sender.generation = keys.generation;
	TRY_GOTO(aim_random(sender.reuse_guard, sizeof sender.reuse_guard), done);
	apply_reuse_guard(keys.nonce, sender.reuse_guard);

	struct aim_buf ct;
	aim_buf_init(&ct, MLS_MAX_MESSAGE + MLS_MAX_PADDING + 64);
	if (aim_aead_seal(cs->aead, AIM_BYTES(keys.key, cs->nk), AIM_BYTES(keys.nonce, cs->nn),
			  aim_buf_bytes(&aad), aim_buf_bytes(&pt), &ct)) {
		aim_buf_free(&ct);
		rc = -1;
		goto done;
	}
	out->ciphertext.p = aim_buf_steal(&ct, &out->ciphertext.len);

	/* sender_data_key / nonce from a sample of the ciphertext */
	TRY_GOTO(mls_sender_data_keys(cs, sender_data_secret, mls_bytes_view(&out->ciphertext),
				      sd_key, sd_nonce),
		 done);
	TRY_GOTO(mls_sender_data_encode(&sd, &sender), done);
	TRY_GOTO(mls_sender_data_aad_encode(&sdaad, out), done);
	struct aim_buf esd;
	aim_buf_init(&esd, 256);
	if (aim_aead_seal(cs->aead, AIM_BYTES(sd_key, cs->nk), AIM_BYTES(sd_nonce, cs->nn),
			  aim_buf_bytes(&sdaad), aim_buf_bytes(&sd), &esd)) {
		aim_buf_free(&esd);
		rc = -1;
		goto done;
	}
	out->encrypted_sender_data.p = aim_buf_steal(&esd, &out->encrypted_sender_data.len);
done:
	if (rc)
		mls_private_message_free(out);
	mls_ratchet_keys_wipe(&keys);
	aim_wipe(sd_key, sizeof sd_key);
	aim_wipe(sd_nonce, sizeof sd_nonce);
	aim_buf_free_secret(&pt);
	aim_buf_free(&aad);
	aim_buf_free(&sd);
	aim_buf_free(&sdaad);
	return rc;
}

/* Opens encrypted_sender_data. */
static int open_sender_data(const struct aim_suite *cs, struct aim_bytes sender_data_secret,
			    const struct mls_private_message *pm, struct mls_sender_data *out)
{
	uint8_t key[AIM_MAX_AEAD_KEY], nonce[AIM_AEAD_NONCE];
	struct aim_buf aad, pt;
	aim_buf_init(&aad, MLS_MAX_MESSAGE);
	aim_buf_init(&pt, 256);
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_sender_data_keys(cs, sender_data_secret, mls_bytes_view(&pm->ciphertext), key,
				      nonce),
		 done);
	TRY_GOTO(mls_sender_data_aad_encode(&aad, pm), done);
	TRY_GOTO(aim_aead_open(cs->aead, AIM_BYTES(key, cs->nk), AIM_BYTES(nonce, cs->nn),
			       aim_buf_bytes(&aad), mls_bytes_view(&pm->encrypted_sender_data),
			       &pt),
		 done);
	TRY_GOTO(mls_sender_data_parse(pt.data, pt.len, out), done);
done:
	aim_wipe(key, sizeof key);
	aim_wipe(nonce, sizeof nonce);
	aim_buf_free(&aad);
	aim_buf_free_secret(&pt);
	return rc;
}

int mls_private_message_unprotect(const struct aim_suite *cs, struct mls_secret_tree *st,
				  struct aim_bytes sender_data_secret,
				  const struct mls_private_message *pm,
				  const struct mls_group_context *ctx, mls_member_key_fn lookup,
				  void *lookup_arg, struct mls_authenticated_content *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(cs != NULL && st != NULL && ctx != NULL && lookup != NULL, AIM_ERR_INVALID,
	       "missing argument");
	ENSURE(mls_bytes_equal(&pm->group_id, &ctx->group_id), AIM_ERR_INVALID,
	       "message for another group");
	ENSURE(pm->epoch == ctx->epoch, AIM_ERR_CONFLICT,
	       "message for epoch %llu, group is at epoch %llu", (unsigned long long)pm->epoch,
	       (unsigned long long)ctx->epoch);
	ENSURE(pm->content_type >= MLS_CONTENT_APPLICATION &&
		       pm->content_type <= MLS_CONTENT_COMMIT,
	       AIM_ERR_DECODE, "content type %u", pm->content_type);
	ENSURE(pm->ciphertext.len <= MLS_MAX_MESSAGE + MLS_MAX_PADDING + 64, AIM_ERR_LIMIT,
	       "ciphertext of %zu bytes", pm->ciphertext.len);

	struct mls_sender_data sender;
	TRY(open_sender_data(cs, sender_data_secret, pm, &sender));
	/* "When parsing a SenderData struct as part of message decryption, the
	 * recipient MUST verify that the leaf index indicated in the leaf_index
	 * field identifies a non-blank node." */
	struct aim_bytes sig_pub = { NULL, 0 };
	TRY(lookup(lookup_arg, sender.leaf_index, &sig_pub));

	enum mls_ratchet_kind kind = kind_of(pm->content_type);
	struct mls_ratchet_keys keys;
	TRY(mls_secret_tree_get(st, sender.leaf_index, kind, sender.generation, &keys));
	apply_reuse_guard(keys.nonce, sender.reuse_guard);

	struct aim_buf aad, pt;
	aim_buf_init(&aad, MLS_MAX_MESSAGE);
	aim_buf_init(&pt, MLS_MAX_MESSAGE + MLS_MAX_PADDING);
	struct mls_private_message_content pmc;
	memset(&pmc, 0, sizeof pmc);
	int rc = 0;
	TRY_GOTO(mls_private_content_aad_encode(&aad, pm), done);
	TRY_GOTO(aim_aead_open(cs->aead, AIM_BYTES(keys.key, cs->nk), AIM_BYTES(keys.nonce, cs->nn),
			       aim_buf_bytes(&aad), mls_bytes_view(&pm->ciphertext), &pt),
		 done);
	/* The key decrypted a message: it is consumed and deleted now. */
	mls_ratchet_keys_wipe(&keys);
	TRY_GOTO(mls_secret_tree_consume(st, sender.leaf_index, kind, sender.generation), done);

	struct mls_tls_reader r;
	mls_tls_reader_init(&r, pt.data, pt.len);
	/* Also refuses non-zero padding ("if this check fails, the enclosing
	 * PrivateMessage MUST be rejected as malformed"). */
	TRY_GOTO(mls_private_message_content_decode(&r, pm->content_type, &pmc), done);

	out->wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	struct mls_framed_content *c = &out->content;
	c->epoch = pm->epoch;
	c->sender.type = MLS_SENDER_MEMBER;
	c->sender.index = sender.leaf_index;
	c->content_type = pm->content_type;
	TRY_GOTO(mls_bytes_copy(&c->group_id, &pm->group_id), done);
	TRY_GOTO(mls_bytes_copy(&c->authenticated_data, &pm->authenticated_data), done);
	/* Move the body and auth out of pmc (ownership passes to out). */
	c->application_data = pmc.application_data;
	c->proposal = pmc.proposal;
	c->commit = pmc.commit;
	out->auth = pmc.auth;
	memset(&pmc, 0, sizeof pmc);

	/* "When decoding a PrivateMessageContent, the application MUST check
	 * that the FramedContentAuthData is valid." */
	TRY_GOTO(mls_framing_check_auth(cs, c->content_type, &out->auth), done);
	TRY_GOTO(mls_content_verify(cs, MLS_WIRE_PRIVATE_MESSAGE, c, ctx, sig_pub, &out->auth),
		 done);
done:
	if (rc)
		mls_authenticated_content_free(out);
	mls_private_message_content_free(&pmc);
	mls_ratchet_keys_wipe(&keys);
	aim_buf_free(&aad);
	aim_buf_free_secret(&pt);
	return rc;
}
