/* Unit tests of message protection (src/mls/framing.h): PublicMessage and
 * PrivateMessage round trips on every suite, out-of-order delivery, and the
 * refusals: replayed generation, generation beyond the window, truncated or
 * altered tags, non-zero padding, wrong membership tag, bad signature,
 * wrong epoch or group, blank sender leaf, application data in public. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mls/framing.h"
#include "mls/labeled.h"
#include "mls/schedule.h"

/* One group epoch with two members; leaf 1 sends. */
struct fx {
	const struct aim_suite *cs;
	struct mls_group_context ctx;
	struct aim_buf sk, pk, sk2, pk2;
	uint8_t enc[AIM_MAX_HASH], sds[AIM_MAX_HASH], mk[AIM_MAX_HASH];
	struct mls_secret_tree *snd, *rcv;
	bool leaf1_blank;
};

static void fx_init(struct fx *f, uint16_t id)
{
	memset(f, 0, sizeof *f);
	f->cs = aim_suite_get(id);
	assert_non_null(f->cs);
	f->ctx.version = MLS_VERSION_10;
	f->ctx.cipher_suite = id;
	f->ctx.epoch = 42;
	assert_int_equal(mls_bytes_set(&f->ctx.group_id, "group-1", 7), 0);
	assert_int_equal(mls_bytes_set(&f->ctx.tree_hash, "th", 2), 0);
	aim_buf_init(&f->sk, 1024);
	aim_buf_init(&f->pk, 1024);
	aim_buf_init(&f->sk2, 1024);
	aim_buf_init(&f->pk2, 1024);
	assert_int_equal(aim_sig_keygen(f->cs->sig, &f->sk, &f->pk), 0);
	assert_int_equal(aim_sig_keygen(f->cs->sig, &f->sk2, &f->pk2), 0);
	assert_int_equal(aim_random(f->enc, sizeof f->enc), 0);
	assert_int_equal(aim_random(f->sds, sizeof f->sds), 0);
	assert_int_equal(aim_random(f->mk, sizeof f->mk), 0);
	assert_int_equal(mls_secret_tree_new(f->cs, AIM_BYTES(f->enc, f->cs->nh), 2, &f->snd), 0);
	assert_int_equal(mls_secret_tree_new(f->cs, AIM_BYTES(f->enc, f->cs->nh), 2, &f->rcv), 0);
}

static void fx_free(struct fx *f)
{
	mls_group_context_free(&f->ctx);
	aim_buf_free_secret(&f->sk);
	aim_buf_free(&f->pk);
	aim_buf_free_secret(&f->sk2);
	aim_buf_free(&f->pk2);
	mls_secret_tree_free(f->snd);
	mls_secret_tree_free(f->rcv);
}

static int lookup(void *arg, uint32_t leaf, struct aim_bytes *pk)
{
	struct fx *f = arg;
	ENSURE(leaf == 1 && !f->leaf1_blank, AIM_ERR_NOTFOUND, "leaf %u is blank", leaf);
	*pk = aim_buf_bytes(&f->pk);
	return 0;
}

static struct aim_bytes mkey(struct fx *f)
{
	return AIM_BYTES(f->mk, f->cs->nh);
}

static struct aim_bytes sdkey(struct fx *f)
{
	return AIM_BYTES(f->sds, f->cs->nh);
}

/* Signed content from leaf 1: application data "msg N", or a Remove
 * proposal, or an empty commit with a confirmation tag. */
static void content(struct fx *f, uint8_t type, int n, uint16_t wire,
		    struct mls_framed_content *c, struct mls_framed_content_auth_data *a)
{
	memset(c, 0, sizeof *c);
	memset(a, 0, sizeof *a);
	c->epoch = f->ctx.epoch;
	c->sender.type = MLS_SENDER_MEMBER;
	c->sender.index = 1;
	c->content_type = type;
	assert_int_equal(mls_bytes_copy(&c->group_id, &f->ctx.group_id), 0);
	assert_int_equal(mls_bytes_set(&c->authenticated_data, "ad", 2), 0);
	char msg[32];
	snprintf(msg, sizeof msg, "msg %d", n);
	if (type == MLS_CONTENT_APPLICATION) {
		assert_int_equal(mls_bytes_set(&c->application_data, msg, strlen(msg)), 0);
	} else if (type == MLS_CONTENT_PROPOSAL) {
		c->proposal.type = MLS_PROPOSAL_REMOVE;
		c->proposal.remove.removed = (uint32_t)n;
	}
	assert_int_equal(mls_content_sign(f->cs, wire, c, &f->ctx, aim_buf_bytes(&f->sk), a), 0);
	if (type == MLS_CONTENT_COMMIT) {
		uint8_t tag[AIM_MAX_HASH];
		memset(tag, 0x33, sizeof tag);
		assert_int_equal(mls_bytes_set(&a->confirmation_tag, tag, f->cs->nh), 0);
	}
}

static void seal(struct fx *f, uint8_t type, int n, size_t padding,
		 struct mls_private_message *pm)
{
	struct mls_framed_content c;
	struct mls_framed_content_auth_data a;
	content(f, type, n, MLS_WIRE_PRIVATE_MESSAGE, &c, &a);
	assert_int_equal(mls_private_message_protect(f->cs, f->snd, sdkey(f), &c, &a, padding, pm),
			 0);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&a);
}

static int open_pm(struct fx *f, const struct mls_private_message *pm,
		   struct mls_authenticated_content *ac)
{
	return mls_private_message_unprotect(f->cs, f->rcv, sdkey(f), pm, &f->ctx, lookup, f, ac);
}

static void expect_app(const struct mls_authenticated_content *ac, int n)
{
	char msg[32];
	snprintf(msg, sizeof msg, "msg %d", n);
	assert_int_equal(ac->wire_format, MLS_WIRE_PRIVATE_MESSAGE);
	assert_int_equal(ac->content.sender.type, MLS_SENDER_MEMBER);
	assert_int_equal(ac->content.sender.index, 1);
	assert_int_equal(ac->content.application_data.len, strlen(msg));
	assert_memory_equal(ac->content.application_data.p, msg, strlen(msg));
	assert_int_equal(ac->content.authenticated_data.len, 2);
}

/* ---- PrivateMessage ---------------------------------------------------------- */

static void test_private_roundtrip_all_suites(void **state)
{
	for (uint16_t id = 1; id <= 7; id++) {
		struct fx f;
		fx_init(&f, id);
		static const uint8_t types[] = { MLS_CONTENT_APPLICATION, MLS_CONTENT_PROPOSAL,
						 MLS_CONTENT_COMMIT };
		for (size_t i = 0; i < AIM_ARRAY_LEN(types); i++) {
			struct mls_private_message pm;
			struct mls_authenticated_content ac;
			seal(&f, types[i], (int)i, i * 50, &pm);
			assert_int_equal(open_pm(&f, &pm, &ac), 0);
			assert_int_equal(ac.content.content_type, types[i]);
			if (types[i] == MLS_CONTENT_APPLICATION)
				expect_app(&ac, 0);
			if (types[i] == MLS_CONTENT_PROPOSAL)
				assert_int_equal(ac.content.proposal.remove.removed, 1);
			if (types[i] == MLS_CONTENT_COMMIT)
				assert_int_equal(ac.auth.confirmation_tag.len, f.cs->nh);
			mls_authenticated_content_free(&ac);
			mls_private_message_free(&pm);
		}
		fx_free(&f);
	}
}

/* Messages arriving in any order inside the window all open, once. */
static void test_private_out_of_order(void **state)
{
	struct fx f;
	fx_init(&f, 1);
	struct mls_private_message pm[8];
	for (int i = 0; i < 8; i++)
		seal(&f, MLS_CONTENT_APPLICATION, i, 0, &pm[i]);
	static const int order[] = { 6, 1, 7, 0, 3, 2, 5, 4 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(order); i++) {
		struct mls_authenticated_content ac;
		assert_int_equal(open_pm(&f, &pm[order[i]], &ac), 0);
		expect_app(&ac, order[i]);
		mls_authenticated_content_free(&ac);
	}
	/* Every one replayed: the key was deleted after use. */
	for (int i = 0; i < 8; i++) {
		struct mls_authenticated_content ac;
		assert_int_equal(open_pm(&f, &pm[i], &ac), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_STATE);
		mls_private_message_free(&pm[i]);
	}
	fx_free(&f);
}

/* A sender that jumped more than the window ahead is refused. */
static void test_private_beyond_window(void **state)
{
	struct fx f;
	fx_init(&f, 1);
	struct mls_ratchet_keys k;
	for (uint32_t g = 0; g <= MLS_RATCHET_MAX_FORWARD; g++)
		assert_int_equal(mls_secret_tree_next(f.snd, 1, MLS_RATCHET_APPLICATION, &k), 0);
	struct mls_private_message pm;
	struct mls_authenticated_content ac;
	seal(&f, MLS_CONTENT_APPLICATION, 1, 0, &pm);
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	mls_private_message_free(&pm);
	/* The handshake ratchet is separate and still at 0. */
	seal(&f, MLS_CONTENT_PROPOSAL, 1, 0, &pm);
	assert_int_equal(open_pm(&f, &pm, &ac), 0);
	mls_authenticated_content_free(&ac);
	mls_private_message_free(&pm);
	fx_free(&f);
}

/* Truncated or altered ciphertexts fail and do not burn the key. */
static void test_private_bad_tags(void **state)
{
	struct fx f;
	fx_init(&f, 2);
	struct mls_private_message pm;
	struct mls_authenticated_content ac;
	seal(&f, MLS_CONTENT_APPLICATION, 5, 3, &pm);

	/* Truncated content tag. */
	pm.ciphertext.len--;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	pm.ciphertext.len++;
	/* Altered last byte of the content tag (the sample is unchanged). */
	pm.ciphertext.p[pm.ciphertext.len - 1] ^= 1;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	pm.ciphertext.p[pm.ciphertext.len - 1] ^= 1;
	/* Altered sender data tag. */
	pm.encrypted_sender_data.p[pm.encrypted_sender_data.len - 1] ^= 1;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	pm.encrypted_sender_data.p[pm.encrypted_sender_data.len - 1] ^= 1;
	/* Truncated sender data. */
	pm.encrypted_sender_data.len -= 1;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	pm.encrypted_sender_data.len += 1;
	/* Altered AAD (authenticated_data). */
	pm.authenticated_data.p[0] ^= 1;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	pm.authenticated_data.p[0] ^= 1;
	/* Another content type: other AAD and other ratchet. */
	pm.content_type = MLS_CONTENT_PROPOSAL;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	pm.content_type = MLS_CONTENT_APPLICATION;
	/* After all that, the genuine message still opens. */
	assert_int_equal(open_pm(&f, &pm, &ac), 0);
	expect_app(&ac, 5);
	mls_authenticated_content_free(&ac);
	mls_private_message_free(&pm);
	fx_free(&f);
}

static void test_private_wrong_epoch_group_leaf(void **state)
{
	struct fx f;
	fx_init(&f, 3);
	struct mls_private_message pm;
	struct mls_authenticated_content ac;
	seal(&f, MLS_CONTENT_APPLICATION, 1, 0, &pm);
	f.ctx.epoch++;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	f.ctx.epoch--;
	f.ctx.group_id.p[0] ^= 1;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	f.ctx.group_id.p[0] ^= 1;
	/* "the recipient MUST verify that the leaf index ... identifies a
	 * non-blank node" */
	f.leaf1_blank = true;
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	f.leaf1_blank = false;
	assert_int_equal(open_pm(&f, &pm, &ac), 0);
	mls_authenticated_content_free(&ac);
	mls_private_message_free(&pm);
	fx_free(&f);
}

/* A PrivateMessage signed by another key: decrypts, then fails the
 * signature check. */
static void test_private_bad_signature(void **state)
{
	struct fx f;
	fx_init(&f, 4);
	struct mls_framed_content c;
	struct mls_framed_content_auth_data a;
	content(&f, MLS_CONTENT_APPLICATION, 9, MLS_WIRE_PRIVATE_MESSAGE, &c, &a);
	mls_framed_content_auth_data_free(&a);
	assert_int_equal(mls_content_sign(f.cs, MLS_WIRE_PRIVATE_MESSAGE, &c, &f.ctx,
					  aim_buf_bytes(&f.sk2), &a),
			 0);
	struct mls_private_message pm;
	struct mls_authenticated_content ac;
	assert_int_equal(mls_private_message_protect(f.cs, f.snd, sdkey(&f), &c, &a, 0, &pm), 0);
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_private_message_free(&pm);
	/* Signed for the PublicMessage wire format: also refused. */
	mls_framed_content_auth_data_free(&a);
	assert_int_equal(mls_content_sign(f.cs, MLS_WIRE_PUBLIC_MESSAGE, &c, &f.ctx,
					  aim_buf_bytes(&f.sk), &a),
			 0);
	assert_int_equal(mls_private_message_protect(f.cs, f.snd, sdkey(&f), &c, &a, 0, &pm), 0);
	assert_int_equal(open_pm(&f, &pm, &ac), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_private_message_free(&pm);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&a);
	fx_free(&f);
}

/* Builds a PrivateMessage by hand whose padding holds a non-zero byte,
 * sealed with the right keys: the receiver must refuse it as malformed. */
static void test_private_nonzero_padding(void **state)
{
	struct fx f;
	fx_init(&f, 1);
	const struct aim_suite *cs = f.cs;
	struct mls_framed_content c;
	struct mls_framed_content_auth_data a;
	content(&f, MLS_CONTENT_APPLICATION, 2, MLS_WIRE_PRIVATE_MESSAGE, &c, &a);

	for (int bad = 0; bad < 2; bad++) {
		struct mls_private_message_content pmc;
		memset(&pmc, 0, sizeof pmc);
		pmc.content_type = c.content_type;
		pmc.application_data = c.application_data;
		pmc.auth = a;
		pmc.padding = 8;
		struct aim_buf pt, aad, sd, sdaad, ct, esd;
		aim_buf_init(&pt, 1 << 16);
		aim_buf_init(&aad, 1 << 16);
		aim_buf_init(&sd, 64);
		aim_buf_init(&sdaad, 1024);
		aim_buf_init(&ct, 1 << 16);
		aim_buf_init(&esd, 1024);
		assert_int_equal(mls_private_message_content_encode(&pt, &pmc), 0);
		if (bad)
			pt.data[pt.len - 3] = 0x01;

		struct mls_private_message pm;
		memset(&pm, 0, sizeof pm);
		pm.epoch = c.epoch;
		pm.content_type = c.content_type;
		assert_int_equal(mls_bytes_copy(&pm.group_id, &c.group_id), 0);
		assert_int_equal(mls_bytes_copy(&pm.authenticated_data, &c.authenticated_data), 0);
		assert_int_equal(mls_private_content_aad_encode(&aad, &pm), 0);
		struct mls_ratchet_keys k;
		assert_int_equal(mls_secret_tree_next(f.snd, 1, MLS_RATCHET_APPLICATION, &k), 0);
		struct mls_sender_data s = { 1, k.generation, { 0, 0, 0, 0 } };
		assert_int_equal(aim_aead_seal(cs->aead, AIM_BYTES(k.key, cs->nk),
					       AIM_BYTES(k.nonce, cs->nn), aim_buf_bytes(&aad),
					       aim_buf_bytes(&pt), &ct),
				 0);
		assert_int_equal(mls_bytes_set(&pm.ciphertext, ct.data, ct.len), 0);
		uint8_t key[AIM_MAX_AEAD_KEY], nonce[AIM_AEAD_NONCE];
		assert_int_equal(
			mls_sender_data_keys(cs, sdkey(&f), aim_buf_bytes(&ct), key, nonce), 0);
		assert_int_equal(mls_sender_data_encode(&sd, &s), 0);
		assert_int_equal(mls_sender_data_aad_encode(&sdaad, &pm), 0);
		assert_int_equal(aim_aead_seal(cs->aead, AIM_BYTES(key, cs->nk),
					       AIM_BYTES(nonce, cs->nn), aim_buf_bytes(&sdaad),
					       aim_buf_bytes(&sd), &esd),
				 0);
		assert_int_equal(mls_bytes_set(&pm.encrypted_sender_data, esd.data, esd.len), 0);

		struct mls_authenticated_content ac;
		if (bad) {
			assert_int_equal(open_pm(&f, &pm, &ac), -1);
			assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
		} else {
			/* The same construction with zero padding is accepted, so
			 * the refusal above is the padding and nothing else. */
			assert_int_equal(open_pm(&f, &pm, &ac), 0);
			expect_app(&ac, 2);
			mls_authenticated_content_free(&ac);
		}
		mls_private_message_free(&pm);
		aim_buf_free(&pt);
		aim_buf_free(&aad);
		aim_buf_free(&sd);
		aim_buf_free(&sdaad);
		aim_buf_free(&ct);
		aim_buf_free(&esd);
	}
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&a);
	fx_free(&f);
}

static void test_private_refusals_on_send(void **state)
{
	struct fx f;
	fx_init(&f, 1);
	struct mls_framed_content c;
	struct mls_framed_content_auth_data a;
	struct mls_private_message pm;
	content(&f, MLS_CONTENT_COMMIT, 0, MLS_WIRE_PRIVATE_MESSAGE, &c, &a);
	/* Too much padding. */
	assert_int_equal(mls_private_message_protect(f.cs, f.snd, sdkey(&f), &c, &a,
						     MLS_MAX_PADDING + 1, &pm),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	/* A commit without its confirmation tag. */
	mls_bytes_free(&a.confirmation_tag);
	assert_int_equal(mls_private_message_protect(f.cs, f.snd, sdkey(&f), &c, &a, 0, &pm), -1);
	/* A non-member sender. */
	c.sender.type = MLS_SENDER_EXTERNAL;
	assert_int_equal(mls_private_message_protect(f.cs, f.snd, sdkey(&f), &c, &a, 0, &pm), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&a);
	/* Aligned padding: the ciphertext is a multiple of the block plus the
	 * AEAD tag, and it still opens. */
	static const size_t blocks[] = { 0, 1, 16, 100, 256 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(blocks); i++) {
		struct mls_authenticated_content ac;
		content(&f, MLS_CONTENT_APPLICATION, (int)i, MLS_WIRE_PRIVATE_MESSAGE, &c, &a);
		assert_int_equal(mls_private_message_protect_aligned(f.cs, f.snd, sdkey(&f), &c, &a,
								     blocks[i], &pm),
				 0);
		if (blocks[i] > 1)
			assert_int_equal((pm.ciphertext.len - f.cs->nt) % blocks[i], 0);
		assert_int_equal(open_pm(&f, &pm, &ac), 0);
		expect_app(&ac, (int)i);
		mls_authenticated_content_free(&ac);
		mls_private_message_free(&pm);
		mls_framed_content_free(&c);
		mls_framed_content_auth_data_free(&a);
	}
	/* Padding helper. */
	assert_int_equal(mls_padding_for(10, 0), 0);
	assert_int_equal(mls_padding_for(10, 16), 6);
	assert_int_equal(mls_padding_for(32, 16), 0);
	fx_free(&f);
}

/* ---- PublicMessage ----------------------------------------------------------- */

static void make_public(struct fx *f, uint8_t type, struct mls_public_message *pm)
{
	struct mls_framed_content c;
	struct mls_framed_content_auth_data a;
	content(f, type, 3, MLS_WIRE_PUBLIC_MESSAGE, &c, &a);
	assert_int_equal(mls_public_message_protect(f->cs, &c, &a, &f->ctx, mkey(f), pm), 0);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&a);
}

static int open_pub(struct fx *f, const struct mls_public_message *pm)
{
	return mls_public_message_unprotect(f->cs, pm, &f->ctx, mkey(f), aim_buf_bytes(&f->pk),
					    NULL);
}

static void test_public_roundtrip_and_tags(void **state)
{
	for (uint16_t id = 1; id <= 7; id++) {
		struct fx f;
		fx_init(&f, id);
		struct mls_public_message pm;
		make_public(&f, MLS_CONTENT_PROPOSAL, &pm);
		struct mls_authenticated_content ac;
		assert_int_equal(mls_public_message_unprotect(f.cs, &pm, &f.ctx, mkey(&f),
							      aim_buf_bytes(&f.pk), &ac),
				 0);
		assert_int_equal(ac.wire_format, MLS_WIRE_PUBLIC_MESSAGE);
		assert_int_equal(ac.content.proposal.remove.removed, 3);
		mls_authenticated_content_free(&ac);

		/* Wrong membership tag: altered, truncated, absent, other key. */
		pm.membership_tag.p[0] ^= 1;
		assert_int_equal(open_pub(&f, &pm), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		pm.membership_tag.p[0] ^= 1;
		pm.membership_tag.len--;
		assert_int_equal(open_pub(&f, &pm), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		size_t len = ++pm.membership_tag.len;
		pm.membership_tag.len = 0;
		assert_int_equal(open_pub(&f, &pm), -1);
		pm.membership_tag.len = len;
		f.mk[0] ^= 1;
		assert_int_equal(open_pub(&f, &pm), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		f.mk[0] ^= 1;
		assert_int_equal(open_pub(&f, &pm), 0);

		/* Bad signature: altered, or verified with another key. */
		pm.auth.signature.p[pm.auth.signature.len / 2] ^= 1;
		assert_int_equal(open_pub(&f, &pm), -1);
		pm.auth.signature.p[pm.auth.signature.len / 2] ^= 1;
		assert_int_equal(mls_public_message_unprotect(f.cs, &pm, &f.ctx, mkey(&f),
							      aim_buf_bytes(&f.pk2), NULL),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);

		/* Altered content (the membership tag catches it first). */
		pm.content.proposal.remove.removed++;
		assert_int_equal(open_pub(&f, &pm), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		pm.content.proposal.remove.removed--;

		/* Wrong epoch, wrong group. */
		f.ctx.epoch = 41;
		assert_int_equal(open_pub(&f, &pm), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
		f.ctx.epoch = 42;
		f.ctx.group_id.len--;
		assert_int_equal(open_pub(&f, &pm), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
		f.ctx.group_id.len++;
		assert_int_equal(open_pub(&f, &pm), 0);
		mls_public_message_free(&pm);
		fx_free(&f);
	}
}

static void test_public_commit_and_application(void **state)
{
	struct fx f;
	fx_init(&f, 1);
	struct mls_public_message pm;
	make_public(&f, MLS_CONTENT_COMMIT, &pm);
	assert_int_equal(open_pub(&f, &pm), 0);
	/* A commit's confirmation tag must be present with Nh bytes. */
	pm.auth.confirmation_tag.len--;
	assert_int_equal(open_pub(&f, &pm), -1);
	pm.auth.confirmation_tag.len++;
	mls_public_message_free(&pm);

	/* Application data is never a PublicMessage, either way. */
	struct mls_framed_content c;
	struct mls_framed_content_auth_data a;
	content(&f, MLS_CONTENT_APPLICATION, 1, MLS_WIRE_PUBLIC_MESSAGE, &c, &a);
	assert_int_equal(mls_public_message_protect(f.cs, &c, &a, &f.ctx, mkey(&f), &pm), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	pm.content = c;
	pm.auth = a;
	assert_int_equal(open_pub(&f, &pm), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&a);

	/* An external sender carries no membership tag and needs none. */
	content(&f, MLS_CONTENT_PROPOSAL, 1, MLS_WIRE_PUBLIC_MESSAGE, &c, &a);
	c.sender.type = MLS_SENDER_EXTERNAL;
	c.sender.index = 0;
	mls_framed_content_auth_data_free(&a);
	assert_int_equal(mls_content_sign(f.cs, MLS_WIRE_PUBLIC_MESSAGE, &c, NULL,
					  aim_buf_bytes(&f.sk), &a),
			 0);
	assert_int_equal(mls_public_message_protect(f.cs, &c, &a, &f.ctx, AIM_BYTES(NULL, 0), &pm),
			 0);
	assert_int_equal(pm.membership_tag.len, 0);
	assert_int_equal(mls_public_message_unprotect(f.cs, &pm, &f.ctx, AIM_BYTES(NULL, 0),
						      aim_buf_bytes(&f.pk), NULL),
			 0);
	/* An external sender may not send an Update, a new member only an Add,
	 * a new_member_commit only a commit. */
	pm.content.proposal.type = MLS_PROPOSAL_UPDATE;
	assert_int_equal(mls_public_message_unprotect(f.cs, &pm, &f.ctx, AIM_BYTES(NULL, 0),
						      aim_buf_bytes(&f.pk), NULL),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	pm.content.proposal.type = MLS_PROPOSAL_REMOVE;
	pm.content.sender.type = MLS_SENDER_NEW_MEMBER_PROPOSAL;
	assert_int_equal(mls_public_message_unprotect(f.cs, &pm, &f.ctx, AIM_BYTES(NULL, 0),
						      aim_buf_bytes(&f.pk), NULL),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	pm.content.sender.type = MLS_SENDER_NEW_MEMBER_COMMIT;
	assert_int_equal(mls_public_message_unprotect(f.cs, &pm, &f.ctx, AIM_BYTES(NULL, 0),
						      aim_buf_bytes(&f.pk), NULL),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	pm.content.sender.type = MLS_SENDER_EXTERNAL;
	/* ... and a tag smuggled onto it is refused. */
	assert_int_equal(mls_bytes_set(&pm.membership_tag, f.mk, f.cs->nh), 0);
	assert_int_equal(open_pub(&f, &pm), -1);
	mls_public_message_free(&pm);
	mls_framed_content_free(&c);
	mls_framed_content_auth_data_free(&a);
	fx_free(&f);
}

/* Every single-bit change anywhere in an encoded PrivateMessage or
 * PublicMessage is refused (by the decoder or by unprotect), and the
 * untouched message still opens afterwards. */
static void test_every_bit_flip_refused(void **state)
{
	struct fx f;
	fx_init(&f, 1);
	struct mls_message m;
	memset(&m, 0, sizeof m);
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	seal(&f, MLS_CONTENT_APPLICATION, 1, 4, &m.private_message);
	struct aim_buf priv, pub;
	aim_buf_init(&priv, 1 << 16);
	aim_buf_init(&pub, 1 << 16);
	assert_int_equal(mls_message_encode(&priv, &m), 0);
	mls_message_free(&m);
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	make_public(&f, MLS_CONTENT_COMMIT, &m.public_message);
	assert_int_equal(mls_message_encode(&pub, &m), 0);
	mls_message_free(&m);

	unsigned decoded = 0;
	for (size_t i = 0; i < priv.len * 8; i += 3) {
		priv.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (mls_message_parse(priv.data, priv.len, &m) == 0) {
			decoded++;
			struct mls_authenticated_content ac;
			if (m.wire_format == MLS_WIRE_PRIVATE_MESSAGE)
				assert_int_equal(open_pm(&f, &m.private_message, &ac), -1);
			mls_message_free(&m);
		}
		priv.data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_true(decoded > 0);
	decoded = 0;
	for (size_t i = 0; i < pub.len * 8; i += 3) {
		pub.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (mls_message_parse(pub.data, pub.len, &m) == 0) {
			decoded++;
			if (m.wire_format == MLS_WIRE_PUBLIC_MESSAGE)
				assert_int_equal(open_pub(&f, &m.public_message), -1);
			mls_message_free(&m);
		}
		pub.data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_true(decoded > 0);

	/* The genuine messages still open: no forged message burned a key. */
	struct mls_authenticated_content ac;
	assert_int_equal(mls_message_parse(priv.data, priv.len, &m), 0);
	assert_int_equal(open_pm(&f, &m.private_message, &ac), 0);
	expect_app(&ac, 1);
	mls_authenticated_content_free(&ac);
	mls_message_free(&m);
	assert_int_equal(mls_message_parse(pub.data, pub.len, &m), 0);
	assert_int_equal(open_pub(&f, &m.public_message), 0);
	mls_message_free(&m);
	aim_buf_free(&priv);
	aim_buf_free(&pub);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_roundtrip_all_suites),
		cmocka_unit_test(test_private_out_of_order),
		cmocka_unit_test(test_private_beyond_window),
		cmocka_unit_test(test_private_bad_tags),
		cmocka_unit_test(test_private_wrong_epoch_group_leaf),
		cmocka_unit_test(test_private_bad_signature),
		cmocka_unit_test(test_private_nonzero_padding),
		cmocka_unit_test(test_private_refusals_on_send),
		cmocka_unit_test(test_public_roundtrip_and_tags),
		cmocka_unit_test(test_public_commit_and_application),
		cmocka_unit_test(test_every_bit_flip_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
