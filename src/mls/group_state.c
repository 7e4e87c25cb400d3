/* The MLS member group: state, creation, joining from a Welcome, reading,
 * exporter, application messages (RFC 9420 sections 8, 11, 12.4.3.1). */
#include "mls/group_int.h"

#include <stdlib.h>
#include <string.h>

#include "mls/framing.h"
#include "mls/labeled.h"
#include "mls/proposals.h"

/* ---- Small helpers ------------------------------------------------------- */

uint64_t mls_grp_now(const struct mls_group *g)
{
	if (g->cfg.now == UINT64_MAX)
		return 0;
	if (g->cfg.now)
		return g->cfg.now;
	int64_t t = aim_now();
	return t > 0 ? (uint64_t)t : 1;
}

void mls_grp_proposal_ctx(const struct mls_group *g, struct mls_proposal_ctx *pc)
{
	memset(pc, 0, sizeof *pc);
	pc->cs = g->cs;
	pc->ctx = &g->ctx;
	pc->tree = &g->tree;
	pc->hook = g->cfg.hook ? &g->hook : NULL;
	pc->now = mls_grp_now(g);
}

static void set_config(struct mls_group *g, const struct mls_group_config *cfg)
{
	memset(&g->cfg, 0, sizeof g->cfg);
	memset(&g->hook, 0, sizeof g->hook);
	if (!cfg)
		return;
	g->cfg = *cfg;
	if (cfg->hook) {
		g->hook = *cfg->hook;
		g->cfg.hook = &g->hook;
	}
}

void mls_group_set_config(struct mls_group *g, const struct mls_group_config *cfg)
{
	set_config(g, cfg);
	if (g->pending)
		set_config(g->pending, cfg);
}

struct mls_group *mls_grp_new(const struct mls_group_config *cfg, const struct aim_suite *cs)
{
	struct mls_group *g = aim_xcalloc(1, sizeof *g);
	set_config(g, cfg);
	g->cs = cs;
	mls_tree_init(&g->tree, cs);
	mls_tree_priv_init(&g->priv, cs, 0);
	mls_proposal_cache_init(&g->cache, cs);
	g->active = true;
	return g;
}

void mls_group_free(struct mls_group *g)
{
	if (!g)
		return;
	mls_group_free(g->pending);
	mls_group_context_free(&g->ctx);
	mls_tree_free(&g->tree);
	mls_tree_priv_free(&g->priv);
	mls_bytes_free_secret(&g->sig_priv);
	mls_epoch_secrets_wipe(&g->sec);
	mls_secret_tree_free(g->st);
	mls_grp_past_clear(g);
	mls_proposal_cache_free(&g->cache);
	mls_grp_updates_clear(g);
	mls_reinit_free(&g->reinit);
	free(g->sent);
	aim_wipe(g, sizeof *g);
	free(g);
}

int mls_grp_note_reinit(struct mls_group *g, const struct mls_reinit *ri)
{
	mls_reinit_free(&g->reinit);
	g->has_reinit = false;
	if (!ri)
		return 0;
	struct aim_buf tmp;
	aim_buf_init(&tmp, MLS_MAX_MESSAGE);
	int rc = mls_reinit_encode(&tmp, ri);
	if (rc == 0)
		rc = mls_reinit_parse(tmp.data, tmp.len, &g->reinit);
	aim_buf_free(&tmp);
	g->has_reinit = rc == 0;
	return rc;
}

void mls_grp_updates_clear(struct mls_group *g)
{
	for (size_t i = 0; i < g->n_upd; i++) {
		mls_bytes_free(&g->upd[i].pk);
		mls_bytes_free_secret(&g->upd[i].sk);
	}
	free(g->upd);
	g->upd = NULL;
	g->n_upd = 0;
}

int mls_grp_updates_add(struct mls_group *g, struct aim_bytes pk, struct aim_bytes sk)
{
	ENSURE(g->n_upd < MLS_MAX_CACHED_PROPOSALS, AIM_ERR_LIMIT, "too many own updates");
	g->upd = aim_xrealloc(g->upd, (g->n_upd + 1) * sizeof *g->upd);
	struct mls_grp_update *u = &g->upd[g->n_upd];
	memset(u, 0, sizeof *u);
	if (mls_bytes_set(&u->pk, pk.p, pk.len) != 0 || mls_bytes_set(&u->sk, sk.p, sk.len) != 0) {
		mls_bytes_free(&u->pk);
		mls_bytes_free_secret(&u->sk);
		return -1;
	}
	g->n_upd++;
	return 0;
}

/* Remembers the resumption PSK of the current epoch (ring of the last
 * MLS_GROUP_RESUMPTION_EPOCHS). */
void mls_grp_remember_resumption(struct mls_group *g)
{
	if (g->n_res == MLS_GROUP_RESUMPTION_EPOCHS) {
		aim_wipe(&g->res[0], sizeof g->res[0]);
		memmove(&g->res[0], &g->res[1], (g->n_res - 1) * sizeof g->res[0]);
		g->n_res--;
	}
	g->res[g->n_res].epoch = g->ctx.epoch;
	memcpy(g->res[g->n_res].psk, g->sec.resumption_psk, g->cs->nh);
	g->n_res++;
}

/* The value of one PSK (section 8.4): external from the application,
 * resumption (this group, a remembered epoch) from the ring. Appends to out. */
int mls_grp_psk_value(const struct mls_group *g, const struct mls_pre_shared_key_id *id,
		      struct aim_bytes group_id, struct aim_buf *out)
{
	if (id->psktype == MLS_PSK_EXTERNAL) {
		ENSURE(g->cfg.psk_lookup, AIM_ERR_NOTFOUND, "external PSK unknown");
		return g->cfg.psk_lookup(g->cfg.psk_arg, mls_bytes_view(&id->psk_id), out);
	}
	ENSURE(id->psktype == MLS_PSK_RESUMPTION, AIM_ERR_INVALID, "PSK type %u", id->psktype);
	if (group_id.len && id->psk_group_id.len == group_id.len &&
	    memcmp(id->psk_group_id.p, group_id.p, group_id.len) == 0) {
		for (size_t i = 0; i < g->n_res; i++)
			if (g->res[i].epoch == id->psk_epoch)
				return aim_buf_append(out, g->res[i].psk, g->cs->nh);
	}
	const struct mls_group *src = g->psk_source;
	if (src && mls_bytes_equal(&id->psk_group_id, &src->ctx.group_id))
		return mls_group_resumption_psk(src, id->psk_epoch, out);
	if (g->cfg.resumption_lookup) {
		size_t mark = out->len;
		TRY(g->cfg.resumption_lookup(g->cfg.resumption_arg, mls_bytes_view(&id->psk_group_id),
					     id->psk_epoch, out));
		ENSURE(out->len - mark == g->cs->nh, AIM_ERR_INVALID,
		       "resumption PSK of %zu bytes", out->len - mark);
		return 0;
	}
	return aim_fail(AIM_ERR_NOTFOUND, "resumption PSK of epoch %llu not kept",
			(unsigned long long)id->psk_epoch);
}

int mls_group_resumption_psk(const struct mls_group *g, uint64_t epoch, struct aim_buf *out)
{
	for (size_t i = 0; i < g->n_res; i++)
		if (g->res[i].epoch == epoch)
			return aim_buf_append(out, g->res[i].psk, g->cs->nh);
	return aim_fail(AIM_ERR_NOTFOUND, "resumption PSK of epoch %llu not kept",
			(unsigned long long)epoch);
}

/* psk_secret of a list of PSK ids (section 8.4). */
int mls_grp_psk_secret(const struct mls_group *g, const struct mls_pre_shared_key_id *const *ids,
		       size_t n, struct aim_bytes group_id, uint8_t out[AIM_MAX_HASH])
{
	ENSURE(n <= MLS_MAX_PSKS, AIM_ERR_LIMIT, "%zu PSKs", n);
	if (n == 0) {
		memset(out, 0, g->cs->nh);
		return 0;
	}
	struct aim_buf vals[MLS_MAX_PSKS];
	struct mls_psk_input in[MLS_MAX_PSKS];
	int rc = 0;
	size_t got = 0;
	for (; got < n; got++) {
		aim_buf_init(&vals[got], 4096);
		TRY_GOTO(mls_grp_psk_value(g, ids[got], group_id, &vals[got]), out);
		in[got].id = ids[got];
		in[got].psk = aim_buf_bytes(&vals[got]);
	}
	rc = mls_psk_secret(g->cs, in, n, out);
out:
	for (size_t i = 0; i < n && i <= got; i++)
		aim_buf_free_secret(&vals[i]);
	return rc;
}

/* Installs the secrets of a new epoch: a fresh secret tree. */
int mls_grp_install_epoch(struct mls_group *g, const struct mls_epoch_secrets *sec)
{
	struct mls_secret_tree *st = NULL;
	TRY(mls_secret_tree_new(g->cs, AIM_BYTES(sec->encryption_secret, g->cs->nh),
				g->tree.n_leaves ? g->tree.n_leaves : 1, &st));
	mls_secret_tree_free(g->st);
	g->st = st;
	if (&g->sec != sec) {
		mls_epoch_secrets_wipe(&g->sec);
		g->sec = *sec;
	}
	g->sent_handshake = 0;
	g->sent_application = 0;
	mls_proposal_cache_clear(&g->cache);
	mls_grp_updates_clear(g);
	g->n_sent = 0;
	g->sent_pos = 0;
	mls_grp_remember_resumption(g);
	return 0;
}

int mls_grp_sent_record(struct mls_group *g, const struct aim_buf *out, size_t mark)
{
	if (!g->sent)
		g->sent = aim_xcalloc(MLS_GROUP_OWN_MESSAGES, sizeof *g->sent);
	TRY(aim_sha256(AIM_BYTES(out->data + mark, out->len - mark), g->sent[g->sent_pos]));
	g->sent_pos = (g->sent_pos + 1) % MLS_GROUP_OWN_MESSAGES;
	if (g->n_sent < MLS_GROUP_OWN_MESSAGES)
		g->n_sent++;
	return 0;
}

bool mls_grp_sent_seen(const struct mls_group *g, const uint8_t h[32])
{
	for (size_t i = 0; i < g->n_sent; i++)
		if (memcmp(g->sent[i], h, 32) == 0)
			return true;
	return false;
}

/* Wraps a message into an MLSMessage and appends its encoding; takes over
 * (and frees) the message. */
int mls_grp_wrap_public(struct mls_public_message *pm, struct aim_buf *out)
{
	struct mls_message m;
	memset(&m, 0, sizeof m);
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	m.public_message = *pm;
	memset(pm, 0, sizeof *pm);
	int rc = mls_message_encode(out, &m);
	mls_message_free(&m);
	return rc;
}

int mls_grp_wrap_private(struct mls_private_message *pm, struct aim_buf *out)
{
	struct mls_message m;
	memset(&m, 0, sizeof m);
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	m.private_message = *pm;
	memset(pm, 0, sizeof *pm);
	int rc = mls_message_encode(out, &m);
	mls_message_free(&m);
	return rc;
}

/* Sets priv's leaf key from a raw private key and checks it against the
 * tree. */
static int priv_for_leaf(struct mls_group *g, uint32_t leaf, struct aim_bytes sk)
{
	mls_tree_priv_free(&g->priv);
	mls_tree_priv_init(&g->priv, g->cs, leaf);
	TRY(mls_tree_priv_set(&g->priv, mls_tm_leaf_to_node(leaf), sk));
	const struct mls_tree_priv_key *k = mls_tree_priv_get(&g->priv, mls_tm_leaf_to_node(leaf));
	const struct mls_leaf_node *ln = mls_tree_leaf(&g->tree, leaf);
	ENSURE(k && ln && mls_bytes_equal(&k->pk, &ln->encryption_key), AIM_ERR_VERIFY,
	       "our encryption key does not match our leaf");
	return 0;
}

/* ---- Creation (section 11) ----------------------------------------------- */

int mls_group_create(const struct mls_group_config *cfg, struct aim_bytes group_id,
		     const struct mls_key_package *kp, const struct mls_key_package_priv *kp_priv,
		     const struct mls_extension_list *extensions, struct mls_group **out)
{
	*out = NULL;
	const struct aim_suite *cs = aim_suite_get(kp->cipher_suite);
	if (!cs)
		return -1;
	TRY(mls_key_package_priv_check(kp, kp_priv));
	ENSURE(group_id.len <= 255, AIM_ERR_LIMIT, "group id of %zu bytes", group_id.len);
	struct mls_group *g = mls_grp_new(cfg, cs);
	int rc = 0;
	uint8_t gid[16];
	struct aim_buf enc;
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	uint8_t init[AIM_MAX_HASH], zero[AIM_MAX_HASH] = { 0 };
	if (!group_id.len) {
		TRY_GOTO(aim_random(gid, sizeof gid), out);
		group_id = AIM_BYTES(gid, sizeof gid);
	}
	/* "Ratchet tree: A tree with a single node, a leaf node containing an
	 * HPKE public key and credential for the creator" */
	TRY_GOTO(mls_tree_create(&g->tree, cs, &kp->leaf_node), out);
	TRY_GOTO(priv_for_leaf(g, 0, mls_bytes_view(&kp_priv->encryption_priv)), out);
	TRY_GOTO(mls_bytes_copy(&g->sig_priv, &kp_priv->signature_priv), out);
	g->own_leaf = 0;
	g->ctx.version = MLS_VERSION_10;
	g->ctx.cipher_suite = cs->id;
	TRY_GOTO(mls_bytes_set(&g->ctx.group_id, group_id.p, group_id.len), out);
	g->ctx.epoch = 0;
	uint8_t th[AIM_MAX_HASH];
	TRY_GOTO(mls_tree_hash(&g->tree, th), out);
	TRY_GOTO(mls_bytes_set(&g->ctx.tree_hash, th, cs->nh), out);
	if (extensions) {
		for (size_t i = 0; i < extensions->n; i++)
			ENSURE_GOTO(mls_supports_extension(extensions->v[i].type), out,
				    AIM_ERR_UNSUPPORTED, "group extension %u",
				    extensions->v[i].type);
		TRY_GOTO(mls_extension_list_copy(&g->ctx.extensions, extensions), out);
	}
	/* "Epoch secret: A fresh random value of size KDF.Nh" (a random
	 * init_secret gives a pseudorandom epoch secret). */
	TRY_GOTO(aim_random(init, cs->nh), out);
	TRY_GOTO(mls_group_context_encode(&enc, &g->ctx), out);
	TRY_GOTO(mls_schedule_epoch(cs, AIM_BYTES(init, cs->nh), AIM_BYTES(zero, cs->nh),
				    AIM_BYTES(NULL, 0), aim_buf_bytes(&enc), &g->sec),
		 out);
	/* "Compute a confirmation_tag over the empty confirmed_transcript_hash
	 * using the confirmation_key" and the interim transcript hash from it */
	uint8_t tag[AIM_MAX_HASH];
	TRY_GOTO(mls_confirmation_tag(cs, AIM_BYTES(g->sec.confirmation_key, cs->nh),
				      AIM_BYTES(NULL, 0), tag),
		 out);
	TRY_GOTO(mls_transcript_interim(cs, AIM_BYTES(NULL, 0), AIM_BYTES(tag, cs->nh),
					g->interim),
		 out);
	TRY_GOTO(mls_grp_install_epoch(g, &g->sec), out);
	*out = g;
	g = NULL;
out:
	aim_wipe(init, sizeof init);
	aim_buf_free(&enc);
	mls_group_free(g);
	return rc;
}

/* ---- Joining from a Welcome (section 12.4.3.1) ---------------------------- */

/* Every leaf of a received tree goes through the credential hook. */
int mls_grp_check_tree_credentials(const struct mls_group *g, const struct mls_tree *t)
{
	if (!g->cfg.hook)
		return 0;
	for (uint32_t i = 0; i < t->n_leaves; i++) {
		const struct mls_leaf_node *l = mls_tree_leaf(t, i);
		if (l)
			TRY(mls_credential_check(&g->hook, MLS_CRED_MEMBER, &l->credential,
						 mls_bytes_view(&l->signature_key)));
	}
	return 0;
}

/* The tree from `tree` or the GroupInfo's ratchet_tree extension. */
int mls_grp_tree_from(const struct aim_suite *cs, const struct mls_group_info *gi,
		      struct aim_bytes tree, struct mls_tree *out)
{
	if (!tree.len) {
		const struct mls_extension *e = mls_extension_find(&gi->extensions,
								   MLS_EXT_RATCHET_TREE);
		ENSURE(e, AIM_ERR_NOTFOUND, "no ratchet tree given and none in the GroupInfo");
		tree = mls_bytes_view(&e->data);
	}
	return mls_tree_parse(out, cs, tree.p, tree.len);
}

/* Checks a joined tree (section 12.4.3.1: "Verify the integrity of the
 * ratchet tree."): structure, signatures, parent hashes, tree hash, then
 * each LeafNode against the group (section 7.3) and the hook. */
int mls_grp_validate_tree(const struct mls_group *g, const struct mls_tree *t,
			  const struct mls_group_context *ctx)
{
	TRY(mls_tree_validate(t, mls_bytes_view(&ctx->group_id), mls_bytes_view(&ctx->tree_hash)));
	/* The credential types in use (few): each leaf must support all of
	 * them, which is the pairwise rule of section 7.3 in linear time. */
	uint16_t types[16];
	size_t n_types = 0;
	bool many = false;
	for (uint32_t i = 0; i < t->n_leaves && !many; i++) {
		const struct mls_leaf_node *l = mls_tree_leaf(t, i);
		if (!l)
			continue;
		size_t k = 0;
		while (k < n_types && types[k] != l->credential.type)
			k++;
		if (k < n_types)
			continue;
		if (n_types == AIM_ARRAY_LEN(types))
			many = true;
		else
			types[n_types++] = l->credential.type;
	}
	for (uint32_t i = 0; i < t->n_leaves; i++) {
		const struct mls_leaf_node *l = mls_tree_leaf(t, i);
		if (!l)
			continue;
		/* "For each non-empty leaf node, validate the LeafNode as described
		 * in" section 7.3 (signatures and key uniqueness were checked above for
		 * the whole tree) */
		uint32_t skip = i;
		struct mls_leaf_check chk = {
			.cs = g->cs,
			.group_id = mls_bytes_view(&ctx->group_id),
			.leaf_index = i,
			.role = MLS_CRED_MEMBER,
			.hook = g->cfg.hook ? &g->hook : NULL,
			.now = 0, /* members' KeyPackage lifetimes may have run out since */
			.group_extensions = &ctx->extensions,
			.tree = many ? t : NULL,
			.skip = &skip,
			.n_skip = 1,
			.signature_checked = true,
		};
		TRY(mls_leaf_node_validate(l, &chk));
		/* "the capabilities field of this LeafNode indicates support for
		 * all the credential types currently in use by other members" */
		for (size_t k = 0; !many && k < n_types; k++)
			ENSURE(mls_u16_list_has(&l->capabilities.credentials, types[k]),
			       AIM_ERR_UNSUPPORTED, "leaf %u lacks credential type %u", i, types[k]);
	}
	return 0;
}

int mls_group_join(const struct mls_group_config *cfg, struct aim_bytes welcome,
		   struct aim_bytes tree, const struct mls_key_package *kp,
		   const struct mls_key_package_priv *kp_priv, struct mls_group **out)
{
	*out = NULL;
	const struct aim_suite *cs = aim_suite_get(kp->cipher_suite);
	if (!cs)
		return -1;
	TRY(mls_key_package_priv_check(kp, kp_priv));
	struct mls_message m;
	TRY(mls_message_parse(welcome.p, welcome.len, &m));
	struct mls_group *g = mls_grp_new(cfg, cs);
	struct mls_group_secrets gs;
	struct mls_group_info gi;
	struct aim_buf enc;
	memset(&gs, 0, sizeof gs);
	memset(&gi, 0, sizeof gi);
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	uint8_t ref[AIM_MAX_HASH], psk_secret[AIM_MAX_HASH], ws[AIM_MAX_HASH];
	size_t ref_len;
	int rc = 0;
	ENSURE_GOTO(m.version == MLS_VERSION_10 && m.wire_format == MLS_WIRE_WELCOME, out,
		    AIM_ERR_INVALID, "not a Welcome");
	/* "if the cipher suite indicated in the KeyPackage does not match the
	 * one in the Welcome message, return an error" (checked in
	 * mls_welcome_open_secrets) */
	TRY_GOTO(mls_key_package_make_ref(kp, ref, &ref_len), out);
	TRY_GOTO(mls_welcome_open_secrets(cs, &m.welcome, AIM_BYTES(ref, ref_len),
					  mls_bytes_view(&kp_priv->init_priv), &gs),
		 out);
	ENSURE_GOTO(gs.joiner_secret.len == cs->nh, out, AIM_ERR_INVALID,
		    "joiner secret of %zu bytes", gs.joiner_secret.len);
	/* "If a PreSharedKeyID is part of the GroupSecrets and the client is
	 * not in possession of the corresponding PSK, return an error." */
	{
		const struct mls_pre_shared_key_id *ids[MLS_MAX_PSKS];
		ENSURE_GOTO(gs.n_psks <= MLS_MAX_PSKS, out, AIM_ERR_LIMIT, "%zu PSKs", gs.n_psks);
		size_t special = 0;
		for (size_t i = 0; i < gs.n_psks; i++) {
			ids[i] = &gs.psks[i];
			if (gs.psks[i].psktype == MLS_PSK_RESUMPTION &&
			    gs.psks[i].usage != MLS_RESUMPTION_APPLICATION)
				special++;
		}
		/* "if a PreSharedKeyID has type resumption with usage reinit or
		 * branch, verify that it is the only such PSK." */
		ENSURE_GOTO(special <= 1, out, AIM_ERR_INVALID,
			    "%zu reinit / branch PSKs in a Welcome", special);
		/* resumption PSKs of a group we are not in yet come from
		 * cfg->resumption_lookup */
		TRY_GOTO(mls_grp_psk_secret(g, ids, gs.n_psks, AIM_BYTES(NULL, 0), psk_secret), out);
	}
	TRY_GOTO(mls_schedule_welcome_secret(cs, mls_bytes_view(&gs.joiner_secret),
					     AIM_BYTES(psk_secret, cs->nh), ws),
		 out);
	TRY_GOTO(mls_welcome_open_group_info(cs, AIM_BYTES(ws, cs->nh),
					     mls_bytes_view(&m.welcome.encrypted_group_info), &gi),
		 out);
	ENSURE_GOTO(gi.group_context.version == MLS_VERSION_10 &&
			    gi.group_context.cipher_suite == cs->id,
		    out, AIM_ERR_INVALID, "GroupInfo of another version / suite");
	TRY_GOTO(mls_grp_tree_from(cs, &gi, tree, &g->tree), out);
	/* "Verify the signature on the GroupInfo object. ... The public key
	 * is taken from the LeafNode of the ratchet tree with leaf index
	 * signer. If the node is blank or if signature verification fails,
	 * return an error." */
	const struct mls_leaf_node *signer = mls_tree_leaf(&g->tree, gi.signer);
	ENSURE_GOTO(signer, out, AIM_ERR_INVALID, "GroupInfo signer %u is not a member", gi.signer);
	TRY_GOTO(mls_group_info_verify(cs, &gi, mls_bytes_view(&signer->signature_key)), out);
	TRY_GOTO(mls_grp_validate_tree(g, &g->tree, &gi.group_context), out);
	/* "Identify a leaf whose LeafNode is identical to the one in the
	 * KeyPackage. If no such field exists, return an error." */
	TRY_GOTO(mls_tree_find_leaf(&g->tree, &kp->leaf_node, &g->own_leaf), out);
	TRY_GOTO(mls_group_context_copy(&g->ctx, &gi.group_context), out);
	TRY_GOTO(priv_for_leaf(g, g->own_leaf, mls_bytes_view(&kp_priv->encryption_priv)), out);
	TRY_GOTO(mls_bytes_copy(&g->sig_priv, &kp_priv->signature_priv), out);
	/* "If the path_secret value is set in the GroupSecrets object:
	 * Identify the lowest common ancestor of the leaf node my_leaf and of
	 * the node of the member with leaf index GroupInfo.signer." */
	if (gs.has_path_secret) {
		ENSURE_GOTO(gs.path_secret.path_secret.len == cs->nh, out, AIM_ERR_INVALID,
			    "path secret of %zu bytes", gs.path_secret.path_secret.len);
		ENSURE_GOTO(gi.signer != g->own_leaf, out, AIM_ERR_INVALID,
			    "GroupInfo signed by the joiner");
		uint32_t node = mls_tm_common_ancestor(mls_tm_leaf_to_node(g->own_leaf),
						       mls_tm_leaf_to_node(gi.signer));
		TRY_GOTO(mls_treekem_implant(&g->tree, &g->priv, gi.signer, node,
					     mls_bytes_view(&gs.path_secret.path_secret), NULL),
			 out);
	}
	/* "Use the joiner_secret from the GroupSecrets object to generate the
	 * epoch secret and other derived secrets for the current epoch." */
	TRY_GOTO(mls_group_context_encode(&enc, &g->ctx), out);
	TRY_GOTO(mls_schedule_from_joiner(cs, mls_bytes_view(&gs.joiner_secret),
					  AIM_BYTES(psk_secret, cs->nh), aim_buf_bytes(&enc),
					  &g->sec),
		 out);
	/* "Verify the confirmation tag in the GroupInfo using the derived
	 * confirmation key and the confirmed_transcript_hash from the
	 * GroupInfo." */
	TRY_GOTO(mls_confirmation_tag_verify(cs, AIM_BYTES(g->sec.confirmation_key, cs->nh),
					     mls_bytes_view(&g->ctx.confirmed_transcript_hash),
					     mls_bytes_view(&gi.confirmation_tag)),
		 out);
	/* "Use the confirmed transcript hash and confirmation tag to compute
	 * the interim transcript hash in the new state." */
	TRY_GOTO(mls_transcript_interim(cs, mls_bytes_view(&g->ctx.confirmed_transcript_hash),
					mls_bytes_view(&gi.confirmation_tag), g->interim),
		 out);
	TRY_GOTO(mls_grp_install_epoch(g, &g->sec), out);
	*out = g;
	g = NULL;
out:
	aim_wipe(psk_secret, sizeof psk_secret);
	aim_wipe(ws, sizeof ws);
	aim_buf_free(&enc);
	mls_group_info_free(&gi);
	mls_group_secrets_free(&gs);
	mls_message_free(&m);
	mls_group_free(g);
	return rc;
}

/* ---- Reading ---------------------------------------------------------------- */

const struct aim_suite *mls_group_suite(const struct mls_group *g)
{
	return g->cs;
}

uint64_t mls_group_epoch(const struct mls_group *g)
{
	return g->ctx.epoch;
}

struct aim_bytes mls_group_id(const struct mls_group *g)
{
	return mls_bytes_view(&g->ctx.group_id);
}

uint32_t mls_group_own_leaf(const struct mls_group *g)
{
	return g->own_leaf;
}

const struct mls_group_context *mls_group_context(const struct mls_group *g)
{
	return &g->ctx;
}

const struct mls_tree *mls_group_tree(const struct mls_group *g)
{
	return &g->tree;
}

uint32_t mls_group_member_count(const struct mls_group *g)
{
	return mls_tree_member_count(&g->tree);
}

bool mls_group_active(const struct mls_group *g)
{
	return g->active;
}

struct aim_bytes mls_group_epoch_authenticator(const struct mls_group *g)
{
	return AIM_BYTES(g->sec.epoch_authenticator, g->cs->nh);
}

int mls_group_export_secret(const struct mls_group *g, struct aim_bytes label,
			    struct aim_bytes context, uint8_t *out, size_t out_len)
{
	ENSURE(g->active, AIM_ERR_STATE, "not a member any more");
	return mls_exporter(g->cs, AIM_BYTES(g->sec.exporter_secret, g->cs->nh), label, context,
			    out, out_len);
}

int mls_group_export_tree(const struct mls_group *g, struct aim_buf *w)
{
	return mls_tree_encode(w, &g->tree);
}

bool mls_group_has_pending(const struct mls_group *g)
{
	return g->pending != NULL;
}

/* ---- Application messages --------------------------------------------------- */

/* Signs content as our leaf (wire format private) and seals it. */
int mls_grp_seal_private(struct mls_group *g, struct mls_framed_content *fc,
			 struct mls_framed_content_auth_data *auth, bool sign, struct aim_buf *out)
{
	const struct aim_suite *cs = g->cs;
	if (sign)
		TRY(mls_content_sign(cs, MLS_WIRE_PRIVATE_MESSAGE, fc, &g->ctx,
				     mls_bytes_view(&g->sig_priv), auth));
	struct mls_private_message pm;
	size_t pad = 0;
	if (g->cfg.padding_block > 1) {
		struct aim_buf tmp;
		aim_buf_init(&tmp, MLS_MAX_MESSAGE);
		struct mls_private_message_content pc;
		memset(&pc, 0, sizeof pc);
		pc.content_type = fc->content_type;
		/* size estimate: the content and auth as encoded */
		int erc = mls_framed_content_encode(&tmp, fc);
		if (erc == 0)
			erc = mls_framed_content_auth_data_encode(&tmp, fc->content_type, auth);
		size_t len = tmp.len;
		aim_buf_free(&tmp);
		TRY(erc);
		pad = mls_padding_for(len, g->cfg.padding_block);
	}
	TRY(mls_private_message_protect(cs, g->st, AIM_BYTES(g->sec.sender_data_secret, cs->nh),
					fc, auth, pad, &pm));
	if (fc->content_type == MLS_CONTENT_APPLICATION)
		g->sent_application++;
	else
		g->sent_handshake++;
	size_t mark = out->len;
	TRY(mls_grp_wrap_private(&pm, out));
	if (fc->content_type != MLS_CONTENT_COMMIT && mls_grp_sent_record(g, out, mark) != 0) {
		out->len = mark;
		return -1;
	}
	return 0;
}

int mls_group_encrypt(struct mls_group *g, struct aim_bytes aad, struct aim_bytes pt,
		      struct aim_buf *out)
{
	ENSURE(g->active, AIM_ERR_STATE, "not a member any more");
	ENSURE(pt.len <= MLS_MAX_APPLICATION, AIM_ERR_LIMIT, "message of %zu bytes", pt.len);
	ENSURE(aad.len <= MLS_MAX_APPLICATION, AIM_ERR_LIMIT, "aad of %zu bytes", aad.len);
	struct mls_framed_content fc;
	struct mls_framed_content_auth_data auth;
	memset(&fc, 0, sizeof fc);
	memset(&auth, 0, sizeof auth);
	int rc = 0;
	TRY_GOTO(mls_bytes_copy(&fc.group_id, &g->ctx.group_id), out);
	fc.epoch = g->ctx.epoch;
	fc.sender.type = MLS_SENDER_MEMBER;
	fc.sender.index = g->own_leaf;
	TRY_GOTO(mls_bytes_set(&fc.authenticated_data, aad.p, aad.len), out);
	fc.content_type = MLS_CONTENT_APPLICATION;
	TRY_GOTO(mls_bytes_set(&fc.application_data, pt.p, pt.len), out);
	TRY_GOTO(mls_grp_seal_private(g, &fc, &auth, true, out), out);
out:
	if (fc.application_data.len)
		aim_wipe(fc.application_data.p, fc.application_data.len);
	mls_framed_content_free(&fc);
	mls_framed_content_auth_data_free(&auth);
	return rc;
}
