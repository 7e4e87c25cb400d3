/* The MLS member group: serialising the whole state to bytes and back.
 *
 * Encoding (own, version 1), TLS presentation language:
 *   uint8 version = 1; uint16 cipher_suite; uint32 own_leaf; uint8 active;
 *   GroupContext ctx; opaque ratchet_tree<V>; opaque sig_priv<V>;
 *   opaque interim<V>; PrivKey keys<V> { uint32 node; opaque sk<V>; };
 *   opaque epoch_secrets[11 * Nh];
 *   uint32 sent_handshake; uint32 sent_application;
 *   ProposalCache cache; Update updates<V> { opaque pk<V>; opaque sk<V>; };
 *   Resumption res<V> { uint64 epoch; opaque psk[Nh]; };
 *   uint8 has_reinit; [ ReInit reinit; ]
 *   uint8 has_pending; [ opaque commit_sha256[32]; opaque pending<V> ]
 *   PastEpoch past<V>;   (version 2; group_past.c; empty in a pending state)
 *
 * The secret tree is rebuilt from the epoch's encryption_secret; our own
 * sender ratchets are moved past the generations already sent, so a
 * restored member never reuses a key and nonce. Generations received
 * before the snapshot can be received again after a restore (the state
 * does not carry the ratchets' consumed sets).
 */
#include "mls/group_int.h"

#include <stdlib.h>
#include <string.h>

#include "mls/codec_int.h"
#include "mls/proposals.h"

#define GROUP_STATE_VERSION 2
/* still read: a state written before the past-epoch window */
#define GROUP_STATE_VERSION_1 1

static uint8_t *const *secret_fields(struct mls_epoch_secrets *s, uint8_t *v[11])
{
	v[0] = s->joiner_secret;
	v[1] = s->welcome_secret;
	v[2] = s->sender_data_secret;
	v[3] = s->encryption_secret;
	v[4] = s->exporter_secret;
	v[5] = s->external_secret;
	v[6] = s->confirmation_key;
	v[7] = s->membership_key;
	v[8] = s->resumption_psk;
	v[9] = s->epoch_authenticator;
	v[10] = s->init_secret;
	return v;
}

static int encode(const struct mls_group *g, struct aim_buf *w, unsigned depth)
{
	const struct aim_suite *cs = g->cs;
	size_t nh = cs->nh;
	struct aim_buf tmp;
	aim_buf_init(&tmp, MLS_MAX_GROUP_STATE);
	int rc = 0;
	TRY_GOTO(mls_tls_write_u8(w, GROUP_STATE_VERSION), out);
	TRY_GOTO(mls_tls_write_u16(w, cs->id), out);
	TRY_GOTO(mls_tls_write_u32(w, g->own_leaf), out);
	TRY_GOTO(mls_tls_write_u8(w, g->active ? 1 : 0), out);
	TRY_GOTO(mls_group_context_encode(w, &g->ctx), out);
	TRY_GOTO(mls_tree_encode(&tmp, &g->tree), out);
	TRY_GOTO(mls_tls_write_vec(w, tmp.data, tmp.len), out);
	TRY_GOTO(mls_write_bytes(w, &g->sig_priv), out);
	TRY_GOTO(mls_tls_write_vec(w, g->interim, nh), out);
	size_t mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < g->priv.n; i++) {
		TRY_GOTO(mls_tls_write_u32(w, g->priv.keys[i].node), out);
		TRY_GOTO(mls_write_bytes(w, &g->priv.keys[i].sk), out);
	}
	TRY_GOTO(mls_tls_vec_end(w, mark), out);
	uint8_t *f[11];
	secret_fields((struct mls_epoch_secrets *)&g->sec, f);
	for (size_t i = 0; i < 11; i++)
		TRY_GOTO(mls_tls_write_fixed(w, f[i], nh), out);
	TRY_GOTO(mls_tls_write_u32(w, g->sent_handshake), out);
	TRY_GOTO(mls_tls_write_u32(w, g->sent_application), out);
	TRY_GOTO(mls_proposal_cache_encode(w, &g->cache), out);
	mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < g->n_upd; i++) {
		TRY_GOTO(mls_write_bytes(w, &g->upd[i].pk), out);
		TRY_GOTO(mls_write_bytes(w, &g->upd[i].sk), out);
	}
	TRY_GOTO(mls_tls_vec_end(w, mark), out);
	mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < g->n_res; i++) {
		TRY_GOTO(mls_tls_write_u64(w, g->res[i].epoch), out);
		TRY_GOTO(mls_tls_write_fixed(w, g->res[i].psk, nh), out);
	}
	TRY_GOTO(mls_tls_vec_end(w, mark), out);
	TRY_GOTO(mls_tls_write_u8(w, g->has_reinit ? 1 : 0), out);
	if (g->has_reinit)
		TRY_GOTO(mls_reinit_encode(w, &g->reinit), out);
	TRY_GOTO(mls_tls_write_u8(w, g->pending && depth == 0 ? 1 : 0), out);
	if (g->pending && depth == 0) {
		TRY_GOTO(mls_tls_write_fixed(w, g->pending_hash, sizeof g->pending_hash), out);
		aim_buf_free_secret(&tmp);
		aim_buf_init(&tmp, MLS_MAX_GROUP_STATE);
		TRY_GOTO(encode(g->pending, &tmp, depth + 1), out);
		TRY_GOTO(mls_tls_write_vec(w, tmp.data, tmp.len), out);
	}
	TRY_GOTO(mls_grp_past_encode(g, w), out);
out:
	aim_buf_free_secret(&tmp);
	return rc;
}

int mls_group_encode(const struct mls_group *g, struct aim_buf *w)
{
	return encode(g, w, 0);
}

static int read_secret(struct mls_tls_reader *r, size_t n, uint8_t *out)
{
	struct aim_bytes b;
	TRY(mls_tls_read_fixed(r, n, &b));
	memcpy(out, b.p, n);
	return 0;
}

static int decode(const struct mls_group_config *cfg, struct mls_tls_reader *r, unsigned depth,
		  struct mls_group **out)
{
	*out = NULL;
	uint8_t ver, active, has_pending;
	uint16_t suite;
	uint32_t own;
	TRY(mls_tls_read_u8(r, &ver));
	ENSURE(ver == GROUP_STATE_VERSION || ver == GROUP_STATE_VERSION_1, AIM_ERR_UNSUPPORTED,
	       "group state version %u", ver);
	TRY(mls_tls_read_u16(r, &suite));
	const struct aim_suite *cs = aim_suite_get(suite);
	if (!cs)
		return -1;
	size_t nh = cs->nh;
	TRY(mls_tls_read_u32(r, &own));
	TRY(mls_tls_read_u8(r, &active));
	ENSURE(active <= 1, AIM_ERR_DECODE, "active flag %u", active);
	struct mls_group *g = mls_grp_new(cfg, cs);
	struct mls_tls_reader sub;
	struct aim_bytes b;
	int rc = 0;
	g->own_leaf = own;
	g->active = active == 1;
	TRY_GOTO(mls_group_context_decode(r, &g->ctx), out);
	ENSURE_GOTO(g->ctx.cipher_suite == suite, out, AIM_ERR_DECODE, "suite mismatch");
	TRY_GOTO(mls_tls_read_vec(r, &b), out);
	TRY_GOTO(mls_tree_parse(&g->tree, cs, b.p, b.len), out);
	ENSURE_GOTO(mls_tree_leaf(&g->tree, own), out, AIM_ERR_DECODE, "own leaf %u blank", own);
	TRY_GOTO(mls_read_bytes(r, &g->sig_priv), out);
	ENSURE_GOTO(g->sig_priv.len == cs->sig_nsk, out, AIM_ERR_DECODE, "signature key length");
	TRY_GOTO(mls_tls_read_vec(r, &b), out);
	ENSURE_GOTO(b.len == nh, out, AIM_ERR_DECODE, "interim hash length");
	memcpy(g->interim, b.p, nh);
	mls_tree_priv_free(&g->priv);
	mls_tree_priv_init(&g->priv, cs, own);
	TRY_GOTO(mls_tls_read_vec_reader(r, &sub), out);
	while (mls_tls_remaining(&sub)) {
		uint32_t node;
		TRY_GOTO(mls_tls_read_u32(&sub, &node), out);
		TRY_GOTO(mls_tls_read_vec(&sub, &b), out);
		ENSURE_GOTO(g->priv.n < MLS_TM_MAX_DEPTH + 1, out, AIM_ERR_LIMIT, "too many keys");
		TRY_GOTO(mls_tree_priv_set(&g->priv, node, b), out);
	}
	if (g->active)
		TRY_GOTO(mls_tree_priv_check(&g->priv, &g->tree), out);
	g->sec.cs = cs;
	uint8_t *f[11];
	secret_fields(&g->sec, f);
	for (size_t i = 0; i < 11; i++)
		TRY_GOTO(read_secret(r, nh, f[i]), out);
	uint32_t sent_hs, sent_app;
	TRY_GOTO(mls_tls_read_u32(r, &sent_hs), out);
	TRY_GOTO(mls_tls_read_u32(r, &sent_app), out);
	TRY_GOTO(mls_proposal_cache_decode(r, &g->cache), out);
	TRY_GOTO(mls_tls_read_vec_reader(r, &sub), out);
	while (mls_tls_remaining(&sub)) {
		struct aim_bytes pk, sk;
		TRY_GOTO(mls_tls_read_vec(&sub, &pk), out);
		TRY_GOTO(mls_tls_read_vec(&sub, &sk), out);
		TRY_GOTO(mls_grp_updates_add(g, pk, sk), out);
	}
	TRY_GOTO(mls_tls_read_vec_reader(r, &sub), out);
	while (mls_tls_remaining(&sub)) {
		ENSURE_GOTO(g->n_res < MLS_GROUP_RESUMPTION_EPOCHS, out, AIM_ERR_LIMIT,
			    "too many resumption PSKs");
		TRY_GOTO(mls_tls_read_u64(&sub, &g->res[g->n_res].epoch), out);
		TRY_GOTO(read_secret(&sub, nh, g->res[g->n_res].psk), out);
		g->n_res++;
	}
	/* the secret tree of this epoch, our ratchets past what we sent */
	TRY_GOTO(mls_secret_tree_new(cs, AIM_BYTES(g->sec.encryption_secret, nh),
				     g->tree.n_leaves, &g->st),
		 out);
	if (g->active) {
		ENSURE_GOTO(sent_hs <= 1000000 && sent_app <= 1000000, out, AIM_ERR_LIMIT,
			    "sender generations");
		struct mls_ratchet_keys k;
		for (uint32_t i = 0; i < sent_hs; i++) {
			TRY_GOTO(mls_secret_tree_next(g->st, own, MLS_RATCHET_HANDSHAKE, &k), out);
			mls_ratchet_keys_wipe(&k);
		}
		for (uint32_t i = 0; i < sent_app; i++) {
			TRY_GOTO(mls_secret_tree_next(g->st, own, MLS_RATCHET_APPLICATION, &k), out);
			mls_ratchet_keys_wipe(&k);
		}
	}
	g->sent_handshake = sent_hs;
	g->sent_application = sent_app;
	uint8_t has_reinit;
	TRY_GOTO(mls_tls_read_u8(r, &has_reinit), out);
	ENSURE_GOTO(has_reinit <= 1, out, AIM_ERR_DECODE, "reinit flag %u", has_reinit);
	if (has_reinit) {
		TRY_GOTO(mls_reinit_decode(r, &g->reinit), out);
		g->has_reinit = true;
	}
	TRY_GOTO(mls_tls_read_u8(r, &has_pending), out);
	ENSURE_GOTO(has_pending <= 1 && (depth == 0 || !has_pending), out, AIM_ERR_DECODE,
		    "pending flag %u", has_pending);
	if (has_pending) {
		TRY_GOTO(read_secret(r, sizeof g->pending_hash, g->pending_hash), out);
		TRY_GOTO(mls_tls_read_vec_reader(r, &sub), out);
		TRY_GOTO(decode(cfg, &sub, depth + 1, &g->pending), out);
		TRY_GOTO(mls_tls_reader_done(&sub), out);
	}
	if (ver >= GROUP_STATE_VERSION)
		TRY_GOTO(mls_grp_past_decode(g, r), out);
	*out = g;
	g = NULL;
out:
	mls_group_free(g);
	return rc;
}

int mls_group_parse(const struct mls_group_config *cfg, const uint8_t *p, size_t len,
		    struct mls_group **out)
{
	*out = NULL;
	ENSURE(len <= MLS_MAX_GROUP_STATE, AIM_ERR_LIMIT, "group state of %zu bytes", len);
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, p, len);
	struct mls_group *g;
	TRY(decode(cfg, &r, 0, &g));
	if (mls_tls_reader_done(&r) != 0) {
		mls_group_free(g);
		return -1;
	}
	*out = g;
	return 0;
}
