/* The MLS member group: sending proposals and Commits, Welcome and
 * GroupInfo creation, pending state, joining by external commit (RFC 9420
 * sections 12.1, 12.4.1, 12.4.3). */
#include "mls/group_int.h"

#include <stdlib.h>
#include <string.h>

#include "mls/framing.h"
#include "mls/labeled.h"
#include "mls/proposals.h"
#include "mls/tls.h"

/* ---- Pending state ------------------------------------------------------------ */

void mls_grp_adopt(struct mls_group *g, struct mls_group *n)
{
	struct mls_group tmp = *g;
	*g = *n;
	*n = tmp;
	n->pending = NULL;
	/* the settings stay those the caller gave g */
	g->cfg = n->cfg;
	g->hook = n->hook;
	if (g->cfg.hook)
		g->cfg.hook = &g->hook;
	/* the epoch we leave stays readable for late application messages
	 * (group_past.c); if it cannot be kept, its late messages are lost,
	 * nothing else */
	if (mls_grp_past_retire(g, n) != 0)
		aim_errclear();
	mls_group_free(n);
}

int mls_group_merge_pending(struct mls_group *g)
{
	ENSURE(g->pending, AIM_ERR_STATE, "no pending commit");
	struct mls_group *n = g->pending;
	g->pending = NULL;
	mls_grp_adopt(g, n);
	return 0;
}

void mls_group_discard_pending(struct mls_group *g)
{
	mls_group_free(g->pending);
	g->pending = NULL;
	aim_wipe(g->pending_hash, sizeof g->pending_hash);
}

void mls_commit_result_init(struct mls_commit_result *r)
{
	memset(r, 0, sizeof *r);
	aim_buf_init(&r->commit, MLS_MAX_MESSAGE);
	aim_buf_init(&r->welcome, MLS_MAX_MESSAGE);
	aim_buf_init(&r->group_info, MLS_MAX_MESSAGE);
}

void mls_commit_result_free(struct mls_commit_result *r)
{
	aim_buf_free(&r->commit);
	aim_buf_free(&r->welcome);
	aim_buf_free(&r->group_info);
	memset(r, 0, sizeof *r);
}

/* ---- Content ------------------------------------------------------------------- */

static int content_init(const struct mls_group *g, struct mls_framed_content *fc, uint8_t type)
{
	memset(fc, 0, sizeof *fc);
	TRY(mls_bytes_copy(&fc->group_id, &g->ctx.group_id));
	fc->epoch = g->ctx.epoch;
	fc->sender.type = MLS_SENDER_MEMBER;
	fc->sender.index = g->own_leaf;
	fc->content_type = type;
	return 0;
}

static uint16_t wire_format(const struct mls_group *g, int override)
{
	if (override == 1)
		return MLS_WIRE_PUBLIC_MESSAGE;
	if (override == 2)
		return MLS_WIRE_PRIVATE_MESSAGE;
	return g->cfg.encrypt_handshake ? MLS_WIRE_PRIVATE_MESSAGE : MLS_WIRE_PUBLIC_MESSAGE;
}

/* Signs and protects a proposal of ours (takes over p), caches it. */
static int send_proposal(struct mls_group *g, struct mls_proposal *p, struct aim_buf *out)
{
	const struct aim_suite *cs = g->cs;
	struct mls_framed_content fc;
	struct mls_framed_content_auth_data auth;
	struct mls_public_message pm;
	memset(&auth, 0, sizeof auth);
	memset(&pm, 0, sizeof pm);
	int rc = 0;
	if (content_init(g, &fc, MLS_CONTENT_PROPOSAL) != 0) {
		mls_proposal_free(p);
		return -1;
	}
	fc.proposal = *p;
	memset(p, 0, sizeof *p);
	ENSURE_GOTO(g->active, out, AIM_ERR_STATE, "not a member any more");
	/* validate what we send as a receiver would */
	struct mls_proposal_ctx pc;
	mls_grp_proposal_ctx(g, &pc);
	TRY_GOTO(mls_proposal_validate(&pc, &fc.proposal, fc.sender), out);
	uint16_t wf = wire_format(g, 0);
	size_t mark = out->len;
	TRY_GOTO(mls_content_sign(cs, wf, &fc, &g->ctx, mls_bytes_view(&g->sig_priv), &auth), out);
	/* the same proposal twice (same ProposalRef) is refused before any
	 * sender generation is used; a shallow AuthenticatedContent view
	 * (not freed) */
	struct mls_authenticated_content ac = { .wire_format = wf, .content = fc, .auth = auth };
	struct aim_buf acb;
	aim_buf_init(&acb, MLS_MAX_MESSAGE);
	uint8_t ref[AIM_MAX_HASH];
	rc = mls_authenticated_content_encode(&acb, &ac);
	if (rc == 0)
		rc = mls_proposal_ref(cs, aim_buf_bytes(&acb), ref);
	aim_buf_free(&acb);
	TRY_GOTO(rc, out);
	ENSURE_GOTO(!mls_proposal_cache_find(&g->cache, AIM_BYTES(ref, cs->nh)), out,
		    AIM_ERR_EXISTS, "the same proposal was already sent this epoch");
	if (wf == MLS_WIRE_PRIVATE_MESSAGE) {
		TRY_GOTO(mls_grp_seal_private(g, &fc, &auth, false, out), out);
	} else {
		TRY_GOTO(mls_public_message_protect(cs, &fc, &auth, &g->ctx,
						    AIM_BYTES(g->sec.membership_key, cs->nh), &pm),
			 out);
		TRY_GOTO(mls_grp_wrap_public(&pm, out), out);
		TRY_GOTO(mls_grp_sent_record(g, out, mark), out);
	}
	if (mls_proposal_cache_add(&g->cache, &ac, NULL) != 0) {
		out->len = mark;
		rc = -1;
	}
out:
	mls_public_message_free(&pm);
	mls_framed_content_free(&fc);
	mls_framed_content_auth_data_free(&auth);
	return rc;
}

int mls_group_propose_add(struct mls_group *g, const struct mls_key_package *kp,
			  struct aim_buf *out)
{
	struct mls_proposal p;
	memset(&p, 0, sizeof p);
	p.type = MLS_PROPOSAL_ADD;
	TRY(mls_key_package_copy(&p.add.key_package, kp));
	return send_proposal(g, &p, out);
}

/* A fresh LeafNode for our leaf (source update or commit) with a new
 * encryption key pair: sk receives the private key. */
static int fresh_leaf(struct mls_group *g, const struct mls_leaf_node *tmpl,
		      struct mls_leaf_node *leaf, struct aim_buf *sk)
{
	const struct aim_suite *cs = g->cs;
	struct aim_buf pk;
	aim_buf_init(&pk, 4096);
	int rc = 0;
	if (!tmpl)
		tmpl = mls_tree_leaf(&g->tree, g->own_leaf);
	ENSURE_GOTO(tmpl, out, AIM_ERR_STATE, "our leaf is blank");
	TRY_GOTO(mls_leaf_node_copy(leaf, tmpl), out);
	TRY_GOTO(aim_kem_keygen(cs->kem, sk, &pk), out);
	TRY_GOTO(mls_bytes_set(&leaf->encryption_key, pk.data, pk.len), out);
	leaf->source = MLS_LEAF_SOURCE_UPDATE;
	memset(&leaf->lifetime, 0, sizeof leaf->lifetime);
	mls_bytes_free(&leaf->parent_hash);
	TRY_GOTO(mls_leaf_node_sign(cs, leaf, mls_bytes_view(&g->ctx.group_id), g->own_leaf,
				    mls_bytes_view(&g->sig_priv)),
		 out);
out:
	aim_buf_free(&pk);
	if (rc)
		mls_leaf_node_free(leaf);
	return rc;
}

int mls_group_propose_update(struct mls_group *g, const struct mls_leaf_node *leaf_template,
			     struct aim_buf *out)
{
	struct mls_proposal p;
	memset(&p, 0, sizeof p);
	p.type = MLS_PROPOSAL_UPDATE;
	struct aim_buf sk;
	aim_buf_init(&sk, 4096);
	int rc = 0;
	TRY_GOTO(fresh_leaf(g, leaf_template, &p.update.leaf_node, &sk), out);
	TRY_GOTO(mls_grp_updates_add(g, mls_bytes_view(&p.update.leaf_node.encryption_key),
				     aim_buf_bytes(&sk)),
		 out);
	rc = send_proposal(g, &p, out);
	if (rc) {
		/* forget the key of an update never sent */
		g->n_upd--;
		mls_bytes_free(&g->upd[g->n_upd].pk);
		mls_bytes_free_secret(&g->upd[g->n_upd].sk);
	}
out:
	mls_proposal_free(&p);
	aim_buf_free_secret(&sk);
	return rc;
}

int mls_group_propose_remove(struct mls_group *g, uint32_t leaf, struct aim_buf *out)
{
	struct mls_proposal p;
	memset(&p, 0, sizeof p);
	p.type = MLS_PROPOSAL_REMOVE;
	p.remove.removed = leaf;
	return send_proposal(g, &p, out);
}

static int psk_external(const struct mls_group *g, struct aim_bytes id,
			struct mls_pre_shared_key_id *out)
{
	memset(out, 0, sizeof *out);
	uint8_t nonce[AIM_MAX_HASH];
	out->psktype = MLS_PSK_EXTERNAL;
	TRY(mls_bytes_set(&out->psk_id, id.p, id.len));
	TRY(aim_random(nonce, g->cs->nh));
	return mls_bytes_set(&out->psk_nonce, nonce, g->cs->nh);
}

static int psk_resumption(const struct mls_group *g, uint64_t epoch,
			  struct mls_pre_shared_key_id *out)
{
	memset(out, 0, sizeof *out);
	uint8_t nonce[AIM_MAX_HASH];
	out->psktype = MLS_PSK_RESUMPTION;
	out->usage = MLS_RESUMPTION_APPLICATION;
	TRY(mls_bytes_copy(&out->psk_group_id, &g->ctx.group_id));
	out->psk_epoch = epoch;
	TRY(aim_random(nonce, g->cs->nh));
	return mls_bytes_set(&out->psk_nonce, nonce, g->cs->nh);
}

int mls_group_propose_external_psk(struct mls_group *g, struct aim_bytes psk_id,
				   struct aim_buf *out)
{
	struct mls_proposal p;
	memset(&p, 0, sizeof p);
	p.type = MLS_PROPOSAL_PSK;
	if (psk_external(g, psk_id, &p.psk.psk) != 0) {
		mls_proposal_free(&p);
		return -1;
	}
	return send_proposal(g, &p, out);
}

int mls_group_propose_resumption_psk(struct mls_group *g, uint64_t epoch, struct aim_buf *out)
{
	struct mls_proposal p;
	memset(&p, 0, sizeof p);
	p.type = MLS_PROPOSAL_PSK;
	if (psk_resumption(g, epoch, &p.psk.psk) != 0) {
		mls_proposal_free(&p);
		return -1;
	}
	return send_proposal(g, &p, out);
}

int mls_group_propose_group_context_extensions(struct mls_group *g,
					       const struct mls_extension_list *ext,
					       struct aim_buf *out)
{
	struct mls_proposal p;
	memset(&p, 0, sizeof p);
	p.type = MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
	TRY(mls_extension_list_copy(&p.group_context_extensions.extensions, ext));
	return send_proposal(g, &p, out);
}

int mls_group_propose_reinit(struct mls_group *g, struct aim_bytes new_group_id,
			     uint16_t cipher_suite, const struct mls_extension_list *ext,
			     struct aim_buf *out)
{
	struct mls_proposal p;
	memset(&p, 0, sizeof p);
	p.type = MLS_PROPOSAL_REINIT;
	p.reinit.version = MLS_VERSION_10;
	p.reinit.cipher_suite = cipher_suite;
	if (mls_bytes_set(&p.reinit.group_id, new_group_id.p, new_group_id.len) != 0 ||
	    (ext && mls_extension_list_copy(&p.reinit.extensions, ext) != 0)) {
		mls_proposal_free(&p);
		return -1;
	}
	return send_proposal(g, &p, out);
}

/* ---- GroupInfo (section 12.4.3) -------------------------------------------------- */

static int add_extension(struct mls_extension_list *l, uint16_t type, const struct aim_buf *data)
{
	l->v = aim_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	memset(&l->v[l->n], 0, sizeof l->v[l->n]);
	l->v[l->n].type = type;
	TRY(mls_bytes_set(&l->v[l->n].data, data->data, data->len));
	l->n++;
	return 0;
}

/* A signed GroupInfo of g's current epoch; tag: the epoch's confirmation
 * tag. */
static int make_group_info(const struct mls_group *g, bool external_pub, bool with_tree,
			   struct mls_group_info *gi)
{
	const struct aim_suite *cs = g->cs;
	memset(gi, 0, sizeof *gi);
	struct aim_buf tmp, pk;
	aim_buf_init(&tmp, MLS_MAX_MESSAGE);
	aim_buf_init(&pk, 4096);
	uint8_t tag[AIM_MAX_HASH];
	int rc = 0;
	TRY_GOTO(mls_group_context_copy(&gi->group_context, &g->ctx), out);
	if (with_tree) {
		TRY_GOTO(mls_tree_encode(&tmp, &g->tree), out);
		TRY_GOTO(add_extension(&gi->extensions, MLS_EXT_RATCHET_TREE, &tmp), out);
	}
	if (external_pub) {
		/* struct { HPKEPublicKey external_pub; } ExternalPub; */
		TRY_GOTO(mls_external_keypair(cs, AIM_BYTES(g->sec.external_secret, cs->nh), NULL,
					      &pk),
			 out);
		aim_buf_reset(&tmp);
		TRY_GOTO(mls_tls_write_vec(&tmp, pk.data, pk.len), out);
		TRY_GOTO(add_extension(&gi->extensions, MLS_EXT_EXTERNAL_PUB, &tmp), out);
	}
	/* confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash) */
	TRY_GOTO(mls_confirmation_tag(cs, AIM_BYTES(g->sec.confirmation_key, cs->nh),
				      mls_bytes_view(&g->ctx.confirmed_transcript_hash), tag),
		 out);
	TRY_GOTO(mls_bytes_set(&gi->confirmation_tag, tag, cs->nh), out);
	gi->signer = g->own_leaf;
	TRY_GOTO(mls_group_info_sign(cs, gi, mls_bytes_view(&g->sig_priv)), out);
out:
	aim_buf_free(&tmp);
	aim_buf_free(&pk);
	if (rc)
		mls_group_info_free(gi);
	return rc;
}

static int wrap_group_info(struct mls_group_info *gi, struct aim_buf *w)
{
	struct mls_message m;
	memset(&m, 0, sizeof m);
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_GROUP_INFO;
	m.group_info = *gi;
	memset(gi, 0, sizeof *gi);
	int rc = mls_message_encode(w, &m);
	mls_message_free(&m);
	return rc;
}

int mls_group_group_info(const struct mls_group *g, bool external_pub, bool with_tree,
			 struct aim_buf *w)
{
	ENSURE(g->active, AIM_ERR_STATE, "not a member any more");
	struct mls_group_info gi;
	TRY(make_group_info(g, external_pub, with_tree, &gi));
	return wrap_group_info(&gi, w);
}

/* ---- Commit (section 12.4) --------------------------------------------------------- */

static struct mls_proposal_or_ref *commit_slot(struct mls_commit *c)
{
	c->proposals = aim_xrealloc(c->proposals, (c->n_proposals + 1) * sizeof *c->proposals);
	struct mls_proposal_or_ref *r = &c->proposals[c->n_proposals++];
	memset(r, 0, sizeof *r);
	return r;
}

/* The ProposalOrRef list of our Commit: cached proposals by reference
 * (section 12.2 selection), then the by-value ones of params. */
static int build_list(struct mls_group *g, const struct mls_commit_params *pr,
		      struct mls_commit *c)
{
	const struct aim_suite *cs = g->cs;
	struct mls_proposal_or_ref *r;
	if (pr->include_pending) {
		struct mls_proposal_ctx pc;
		mls_grp_proposal_ctx(g, &pc);
		struct mls_proposal_list sel;
		TRY(mls_proposals_select(&pc, &g->cache, g->own_leaf, &sel));
		for (size_t i = 0; i < sel.n; i++) {
			const struct mls_cached_proposal *cp = NULL;
			for (size_t j = 0; j < g->cache.n && !cp; j++)
				if (&g->cache.v[j].proposal == sel.v[i].proposal)
					cp = &g->cache.v[j];
			if (!cp)
				continue;
			r = commit_slot(c);
			r->type = MLS_POR_REFERENCE;
			if (mls_bytes_set(&r->reference, cp->ref, cs->nh) != 0) {
				mls_proposal_list_free(&sel);
				return -1;
			}
		}
		mls_proposal_list_free(&sel);
	}
	ENSURE(pr->n_adds + pr->n_removes + pr->n_psk_ids + pr->n_resumption_epochs <
		       MLS_MAX_PROPOSALS,
	       AIM_ERR_LIMIT, "too many proposals");
	if (pr->reinit) {
		r = commit_slot(c);
		r->type = MLS_POR_PROPOSAL;
		r->proposal.type = MLS_PROPOSAL_REINIT;
		struct aim_buf tmp;
		aim_buf_init(&tmp, MLS_MAX_MESSAGE);
		int rc = mls_reinit_encode(&tmp, pr->reinit);
		if (rc == 0) {
			struct mls_tls_reader rd;
			mls_tls_reader_init(&rd, tmp.data, tmp.len);
			rc = mls_reinit_decode(&rd, &r->proposal.reinit);
		}
		aim_buf_free(&tmp);
		TRY(rc);
	}
	if (pr->extensions) {
		r = commit_slot(c);
		r->type = MLS_POR_PROPOSAL;
		r->proposal.type = MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
		TRY(mls_extension_list_copy(&r->proposal.group_context_extensions.extensions,
					    pr->extensions));
	}
	for (size_t i = 0; i < pr->n_removes; i++) {
		r = commit_slot(c);
		r->type = MLS_POR_PROPOSAL;
		r->proposal.type = MLS_PROPOSAL_REMOVE;
		r->proposal.remove.removed = pr->removes[i];
	}
	for (size_t i = 0; i < pr->n_adds; i++) {
		r = commit_slot(c);
		r->type = MLS_POR_PROPOSAL;
		r->proposal.type = MLS_PROPOSAL_ADD;
		TRY(mls_key_package_copy(&r->proposal.add.key_package, &pr->adds[i]));
	}
	for (size_t i = 0; i < pr->n_psk_ids; i++) {
		r = commit_slot(c);
		r->type = MLS_POR_PROPOSAL;
		r->proposal.type = MLS_PROPOSAL_PSK;
		TRY(psk_external(g, pr->psk_ids[i], &r->proposal.psk.psk));
	}
	for (size_t i = 0; i < pr->n_resumption_epochs; i++) {
		r = commit_slot(c);
		r->type = MLS_POR_PROPOSAL;
		r->proposal.type = MLS_PROPOSAL_PSK;
		TRY(psk_resumption(g, pr->resumption_epochs[i], &r->proposal.psk.psk));
	}
	return 0;
}

/* The Welcome for the members a Commit added (section 12.4.3.1). */
static int make_welcome(const struct mls_group *n, const struct mls_apply_result *ap,
			const struct mls_treekem_secrets *tks, bool has_path, bool with_tree,
			struct aim_buf *w)
{
	const struct aim_suite *cs = n->cs;
	struct mls_group_info gi;
	struct aim_buf gib, egi;
	struct mls_message m;
	memset(&m, 0, sizeof m);
	aim_buf_init(&gib, MLS_MAX_MESSAGE);
	aim_buf_init(&egi, MLS_MAX_MESSAGE);
	int rc = 0;
	TRY(make_group_info(n, false, with_tree, &gi));
	TRY_GOTO(mls_group_info_encode(&gib, &gi), out);
	TRY_GOTO(mls_welcome_seal_group_info(cs, AIM_BYTES(n->sec.welcome_secret, cs->nh),
					     aim_buf_bytes(&gib), &egi),
		 out);
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_WELCOME;
	m.welcome.cipher_suite = cs->id;
	TRY_GOTO(mls_bytes_set(&m.welcome.encrypted_group_info, egi.data, egi.len), out);
	m.welcome.secrets = aim_xcalloc(ap->n_added, sizeof *m.welcome.secrets);
	for (size_t i = 0; i < ap->n_added; i++) {
		struct mls_group_secrets gs;
		memset(&gs, 0, sizeof gs);
		/* a shallow array of the PSK ids (borrowed; only the array is
		 * freed) */
		struct mls_pre_shared_key_id *ids = NULL;
		int r2 = mls_bytes_set(&gs.joiner_secret, n->sec.joiner_secret, cs->nh);
		if (r2 == 0 && has_path) {
			uint32_t node;
			struct aim_bytes ps;
			r2 = mls_treekem_path_secret_for(tks, ap->added[i], &node, &ps);
			if (r2 == 0) {
				gs.has_path_secret = true;
				r2 = mls_bytes_set(&gs.path_secret.path_secret, ps.p, ps.len);
			}
		}
		if (r2 == 0 && ap->n_psks) {
			ids = aim_xcalloc(ap->n_psks, sizeof *ids);
			for (size_t k = 0; k < ap->n_psks; k++)
				ids[k] = *ap->psks[k];
			gs.psks = ids;
			gs.n_psks = ap->n_psks;
		}
		if (r2 == 0)
			r2 = mls_welcome_seal_secrets(cs, ap->added_kp[i], aim_buf_bytes(&egi), &gs,
						      &m.welcome.secrets[i]);
		free(ids);
		gs.psks = NULL;
		gs.n_psks = 0;
		mls_group_secrets_free(&gs);
		m.welcome.n_secrets = i + 1;
		TRY_GOTO(r2, out);
	}
	TRY_GOTO(mls_message_encode(w, &m), out);
out:
	mls_group_info_free(&gi);
	mls_message_free(&m);
	aim_buf_free(&gib);
	aim_buf_free(&egi);
	return rc;
}

/* The Commit of mls_group_commit(); special (may be NULL): a resumption
 * PSK of usage reinit / branch added by value and left out of the section
 * 12.2 validation (section 12.1.4: such a PSK is invalid except "as part of
 * a reinitialization" or branch, which is what this carries). */
static int commit_with(struct mls_group *g, const struct mls_commit_params *params,
		       const struct mls_pre_shared_key_id *special, struct mls_commit_result *out);

int mls_group_commit(struct mls_group *g, const struct mls_commit_params *params,
		     struct mls_commit_result *out)
{
	return commit_with(g, params, NULL, out);
}

/* The committer's entry into the new epoch (section 8, 8.1, 8.2): the key
 * schedule over n's new GroupContext, the confirmation tag (stored in auth),
 * the interim transcript hash, then the epoch's secrets installed in n. The
 * secrets and the tag are wiped here whatever happens. */
static int commit_enter_epoch(struct mls_group *n, const uint8_t *init_secret,
			      const uint8_t *commit_secret, const uint8_t *psk_secret,
			      const uint8_t *confirmed, struct mls_framed_content_auth_data *auth)
{
	const struct aim_suite *cs = n->cs;
	struct mls_epoch_secrets sec;
	struct aim_buf enc;
	uint8_t tag[AIM_MAX_HASH];
	memset(&sec, 0, sizeof sec);
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	int rc = 0;
	TRY_GOTO(mls_group_context_encode(&enc, &n->ctx), out);
	TRY_GOTO(mls_schedule_epoch(cs, AIM_BYTES(init_secret, cs->nh),
				    AIM_BYTES(commit_secret, cs->nh), AIM_BYTES(psk_secret, cs->nh),
				    aim_buf_bytes(&enc), &sec),
		 out);
	TRY_GOTO(mls_confirmation_tag(cs, AIM_BYTES(sec.confirmation_key, cs->nh),
				      AIM_BYTES(confirmed, cs->nh), tag),
		 out);
	TRY_GOTO(mls_bytes_set(&auth->confirmation_tag, tag, cs->nh), out);
	TRY_GOTO(mls_transcript_interim(cs, AIM_BYTES(confirmed, cs->nh), AIM_BYTES(tag, cs->nh),
					n->interim),
		 out);
	TRY_GOTO(mls_grp_install_epoch(n, &sec), out);
out:
	mls_epoch_secrets_wipe(&sec);
	aim_wipe(tag, sizeof tag);
	aim_buf_free(&enc);
	return rc;
}

static int commit_with(struct mls_group *g, const struct mls_commit_params *params,
		       const struct mls_pre_shared_key_id *special, struct mls_commit_result *out)
{
	static const struct mls_commit_params none;
	const struct aim_suite *cs = g->cs;
	if (!params)
		params = &none;
	ENSURE(g->active, AIM_ERR_STATE, "not a member any more");
	ENSURE(!g->pending, AIM_ERR_STATE, "a commit is already pending");
	struct mls_framed_content fc;
	struct mls_framed_content_auth_data auth;
	struct mls_public_message pm;
	struct mls_proposal_list list;
	struct mls_apply_result ap;
	struct mls_treekem_secrets tks;
	struct aim_buf prov;
	struct mls_group *n = NULL;
	uint8_t commit_secret[AIM_MAX_HASH] = { 0 }, psk_secret[AIM_MAX_HASH];
	uint8_t confirmed[AIM_MAX_HASH];
	memset(&auth, 0, sizeof auth);
	memset(&pm, 0, sizeof pm);
	memset(&list, 0, sizeof list);
	memset(&ap, 0, sizeof ap);
	memset(&tks, 0, sizeof tks);
	aim_buf_init(&prov, MLS_MAX_MESSAGE);
	size_t mark_c = out->commit.len, mark_w = out->welcome.len, mark_g = out->group_info.len;
	int rc = 0;
	TRY(content_init(g, &fc, MLS_CONTENT_COMMIT));
	struct mls_commit *c = &fc.commit;
	TRY_GOTO(build_list(g, params, c), out);
	if (special) {
		struct mls_proposal_or_ref *sp = commit_slot(c);
		sp->type = MLS_POR_PROPOSAL;
		sp->proposal.type = MLS_PROPOSAL_PSK;
		struct aim_buf tmp;
		aim_buf_init(&tmp, MLS_MAX_MESSAGE);
		int r2 = mls_pre_shared_key_id_encode(&tmp, special);
		if (r2 == 0) {
			struct mls_tls_reader rd;
			mls_tls_reader_init(&rd, tmp.data, tmp.len);
			r2 = mls_pre_shared_key_id_decode(&rd, &sp->proposal.psk.psk);
		}
		aim_buf_free(&tmp);
		TRY_GOTO(r2, out);
	}

	struct mls_proposal_ctx pc;
	mls_grp_proposal_ctx(g, &pc);
	TRY_GOTO(mls_commit_resolve(c, fc.sender, &g->cache, &list), out);
	bool path = params->force_path || mls_proposals_path_required(&list);
	if (special) {
		/* validate everything but the last entry (the special PSK) */
		struct mls_proposal_list head = { list.v, list.n - 1 };
		TRY_GOTO(mls_proposals_validate(&pc, &head, fc.sender, path), out);
	} else {
		TRY_GOTO(mls_proposals_validate(&pc, &list, fc.sender, path), out);
	}

	/* the next epoch's state, built on copies */
	n = mls_grp_new(&g->cfg, cs);
	n->own_leaf = g->own_leaf;
	TRY_GOTO(mls_bytes_copy(&n->sig_priv, &g->sig_priv), out);
	mls_tree_free(&n->tree);
	TRY_GOTO(mls_tree_copy(&n->tree, &g->tree), out);
	TRY_GOTO(mls_group_context_copy(&n->ctx, &g->ctx), out);
	mls_tree_priv_free(&n->priv);
	TRY_GOTO(mls_tree_priv_copy(&n->priv, &g->priv), out);
	memcpy(n->res, g->res, sizeof g->res);
	n->n_res = g->n_res;
	TRY_GOTO(mls_proposals_apply(&list, &n->tree, &n->ctx, &ap), out);
	TRY_GOTO(mls_grp_note_reinit(n, ap.reinit), out);
	mls_tree_priv_prune(&n->priv, &n->tree);
	if (path) {
		/* "Create an UpdatePath" over the tree with the proposals
		 * applied, then encrypt it to the provisional GroupContext
		 * (new members excluded) */
		TRY_GOTO(mls_treekem_create(&n->tree, &n->priv, n->own_leaf,
					    mls_bytes_view(&g->ctx.group_id),
					    mls_bytes_view(&g->sig_priv), NULL, &c->path, &tks),
			 out);
		c->has_path = true;
		TRY_GOTO(mls_group_context_advance(cs, &n->ctx, &n->tree, &prov), out);
		TRY_GOTO(mls_treekem_encrypt(&n->tree, n->own_leaf, &tks, aim_buf_bytes(&prov),
					     ap.added, ap.n_added, &c->path),
			 out);
		memcpy(commit_secret, tks.commit_secret, cs->nh);
	} else {
		TRY_GOTO(mls_group_context_advance(cs, &n->ctx, &n->tree, NULL), out);
	}
	TRY_GOTO(mls_tree_priv_check(&n->priv, &n->tree), out);

	/* sign, then the transcript hash, key schedule and confirmation tag */
	uint16_t wf = wire_format(g, params->wire_format);
	TRY_GOTO(mls_content_sign(cs, wf, &fc, &g->ctx, mls_bytes_view(&g->sig_priv), &auth), out);
	TRY_GOTO(mls_transcript_confirmed(cs, AIM_BYTES(g->interim, cs->nh), wf, &fc,
					  mls_bytes_view(&auth.signature), confirmed),
		 out);
	TRY_GOTO(mls_bytes_set(&n->ctx.confirmed_transcript_hash, confirmed, cs->nh), out);
	TRY_GOTO(mls_grp_psk_secret(g, ap.psks, ap.n_psks, mls_bytes_view(&g->ctx.group_id),
				    psk_secret),
		 out);
	TRY_GOTO(commit_enter_epoch(n, g->sec.init_secret, commit_secret, psk_secret, confirmed,
				    &auth),
		 out);

	if (ap.n_added) {
		bool with_tree = params->tree_in_welcome || g->cfg.ratchet_tree_extension;
		TRY_GOTO(make_welcome(n, &ap, &tks, path, with_tree, &out->welcome), out);
	}
	TRY_GOTO(mls_group_group_info(n, true, g->cfg.ratchet_tree_extension, &out->group_info),
		 out);
	if (wf == MLS_WIRE_PRIVATE_MESSAGE) {
		TRY_GOTO(mls_grp_seal_private(g, &fc, &auth, false, &out->commit), out);
	} else {
		TRY_GOTO(mls_public_message_protect(cs, &fc, &auth, &g->ctx,
						    AIM_BYTES(g->sec.membership_key, cs->nh), &pm),
			 out);
		TRY_GOTO(mls_grp_wrap_public(&pm, &out->commit), out);
	}
	TRY_GOTO(aim_sha256(AIM_BYTES(out->commit.data + mark_c, out->commit.len - mark_c),
			    g->pending_hash),
		 out);
	out->epoch = n->ctx.epoch;
	g->pending = n;
	n = NULL;
out:
	if (rc) {
		out->commit.len = mark_c;
		out->welcome.len = mark_w;
		out->group_info.len = mark_g;
	}
	mls_group_free(n);
	mls_treekem_secrets_wipe(&tks);
	aim_wipe(commit_secret, sizeof commit_secret);
	aim_wipe(psk_secret, sizeof psk_secret);
	mls_apply_result_free(&ap);
	mls_proposal_list_free(&list);
	mls_public_message_free(&pm);
	mls_framed_content_free(&fc);
	mls_framed_content_auth_data_free(&auth);
	aim_buf_free(&prov);
	return rc;
}

/* ---- External commit (section 12.4.3.2) ---------------------------------------------- */

int mls_group_join_external(const struct mls_group_config *cfg, struct aim_bytes group_info,
			    struct aim_bytes tree, const struct mls_key_package *kp,
			    const struct mls_key_package_priv *kp_priv, uint32_t resync_leaf,
			    const struct aim_bytes *psk_ids, size_t n_psk_ids,
			    struct aim_buf *commit_out, struct mls_group **out)
{
	*out = NULL;
	const struct aim_suite *cs = aim_suite_get(kp->cipher_suite);
	if (!cs)
		return -1;
	TRY(mls_key_package_priv_check(kp, kp_priv));
	ENSURE(n_psk_ids <= MLS_MAX_PSKS, AIM_ERR_LIMIT, "%zu PSKs", n_psk_ids);
	struct mls_message m;
	TRY(mls_message_parse(group_info.p, group_info.len, &m));
	struct mls_group *g = mls_grp_new(cfg, cs); /* the group as the GroupInfo shows it */
	struct mls_group *n = NULL;
	struct mls_framed_content fc;
	struct mls_framed_content_auth_data auth;
	struct mls_public_message pm;
	struct mls_proposal_list list;
	struct mls_apply_result ap;
	struct mls_treekem_secrets tks;
	struct mls_proposal_cache empty;
	struct aim_buf prov, kem;
	uint8_t init_secret[AIM_MAX_HASH], psk_secret[AIM_MAX_HASH];
	uint8_t confirmed[AIM_MAX_HASH];
	memset(&fc, 0, sizeof fc);
	memset(&auth, 0, sizeof auth);
	memset(&pm, 0, sizeof pm);
	memset(&list, 0, sizeof list);
	memset(&ap, 0, sizeof ap);
	memset(&tks, 0, sizeof tks);
	mls_proposal_cache_init(&empty, cs);
	aim_buf_init(&prov, MLS_MAX_MESSAGE);
	aim_buf_init(&kem, 4096);
	size_t mark = commit_out->len;
	int rc = 0;
	ENSURE_GOTO(m.version == MLS_VERSION_10 && m.wire_format == MLS_WIRE_GROUP_INFO, out,
		    AIM_ERR_INVALID, "not a GroupInfo");
	const struct mls_group_info *gi = &m.group_info;
	ENSURE_GOTO(gi->group_context.version == MLS_VERSION_10 &&
			    gi->group_context.cipher_suite == cs->id,
		    out, AIM_ERR_INVALID, "GroupInfo of another version / suite");
	TRY_GOTO(mls_grp_tree_from(cs, gi, tree, &g->tree), out);
	const struct mls_leaf_node *signer = mls_tree_leaf(&g->tree, gi->signer);
	ENSURE_GOTO(signer, out, AIM_ERR_INVALID, "GroupInfo signer %u is not a member",
		    gi->signer);
	TRY_GOTO(mls_group_info_verify(cs, gi, mls_bytes_view(&signer->signature_key)), out);
	TRY_GOTO(mls_grp_validate_tree(g, &g->tree, &gi->group_context), out);
	TRY_GOTO(mls_group_context_copy(&g->ctx, &gi->group_context), out);
	TRY_GOTO(mls_transcript_interim(cs, mls_bytes_view(&g->ctx.confirmed_transcript_hash),
					mls_bytes_view(&gi->confirmation_tag), g->interim),
		 out);

	/* The ExternalInit's kem_output: "kem_output, context =
	 * SetupBaseS(external_pub, "")" with the GroupInfo's external_pub */
	const struct mls_extension *xe = mls_extension_find(&gi->extensions, MLS_EXT_EXTERNAL_PUB);
	ENSURE_GOTO(xe, out, AIM_ERR_NOTFOUND, "GroupInfo without external_pub");
	struct mls_tls_reader r;
	struct aim_bytes xpub;
	mls_tls_reader_init(&r, xe->data.p, xe->data.len);
	TRY_GOTO(mls_tls_read_vec(&r, &xpub), out);
	TRY_GOTO(mls_tls_reader_done(&r), out);
	TRY_GOTO(mls_external_init_encap(cs, xpub, &kem, init_secret), out);

	TRY_GOTO(mls_bytes_copy(&fc.group_id, &g->ctx.group_id), out);
	fc.epoch = g->ctx.epoch;
	fc.sender.type = MLS_SENDER_NEW_MEMBER_COMMIT;
	fc.sender.index = 0;
	fc.content_type = MLS_CONTENT_COMMIT;
	struct mls_commit *c = &fc.commit;
	struct mls_proposal_or_ref *por;
	por = commit_slot(c);
	por->type = MLS_POR_PROPOSAL;
	por->proposal.type = MLS_PROPOSAL_EXTERNAL_INIT;
	TRY_GOTO(mls_bytes_set(&por->proposal.external_init.kem_output, kem.data, kem.len), out);
	if (resync_leaf != MLS_NO_LEAF) {
		por = commit_slot(c);
		por->type = MLS_POR_PROPOSAL;
		por->proposal.type = MLS_PROPOSAL_REMOVE;
		por->proposal.remove.removed = resync_leaf;
	}
	for (size_t i = 0; i < n_psk_ids; i++) {
		por = commit_slot(c);
		por->type = MLS_POR_PROPOSAL;
		por->proposal.type = MLS_PROPOSAL_PSK;
		TRY_GOTO(psk_external(g, psk_ids[i], &por->proposal.psk.psk), out);
	}
	struct mls_proposal_ctx pc;
	mls_grp_proposal_ctx(g, &pc);
	TRY_GOTO(mls_commit_resolve(c, fc.sender, &empty, &list), out);
	TRY_GOTO(mls_proposals_validate(&pc, &list, fc.sender, true), out);

	n = mls_grp_new(cfg, cs);
	TRY_GOTO(mls_bytes_copy(&n->sig_priv, &kp_priv->signature_priv), out);
	mls_tree_free(&n->tree);
	TRY_GOTO(mls_tree_copy(&n->tree, &g->tree), out);
	TRY_GOTO(mls_group_context_copy(&n->ctx, &g->ctx), out);
	TRY_GOTO(mls_proposals_apply(&list, &n->tree, &n->ctx, &ap), out);
	/* "If this is an external Commit, assign the sender the leftmost blank
	 * leaf node in the new ratchet tree." */
	TRY_GOTO(mls_tree_add_leaf(&n->tree, &kp->leaf_node, &n->own_leaf), out);
	mls_tree_priv_free(&n->priv);
	mls_tree_priv_init(&n->priv, cs, n->own_leaf);
	TRY_GOTO(mls_treekem_create(&n->tree, &n->priv, n->own_leaf,
				    mls_bytes_view(&g->ctx.group_id),
				    mls_bytes_view(&kp_priv->signature_priv), &kp->leaf_node,
				    &c->path, &tks),
		 out);
	c->has_path = true;
	TRY_GOTO(mls_group_context_advance(cs, &n->ctx, &n->tree, &prov), out);
	TRY_GOTO(mls_treekem_encrypt(&n->tree, n->own_leaf, &tks, aim_buf_bytes(&prov), NULL, 0,
				     &c->path),
		 out);
	TRY_GOTO(mls_tree_priv_check(&n->priv, &n->tree), out);

	TRY_GOTO(mls_content_sign(cs, MLS_WIRE_PUBLIC_MESSAGE, &fc, &g->ctx,
				  mls_bytes_view(&kp_priv->signature_priv), &auth),
		 out);
	TRY_GOTO(mls_transcript_confirmed(cs, AIM_BYTES(g->interim, cs->nh),
					  MLS_WIRE_PUBLIC_MESSAGE, &fc,
					  mls_bytes_view(&auth.signature), confirmed),
		 out);
	TRY_GOTO(mls_bytes_set(&n->ctx.confirmed_transcript_hash, confirmed, cs->nh), out);
	TRY_GOTO(mls_grp_psk_secret(n, ap.psks, ap.n_psks, mls_bytes_view(&g->ctx.group_id),
				    psk_secret),
		 out);
	TRY_GOTO(commit_enter_epoch(n, init_secret, tks.commit_secret, psk_secret, confirmed,
				    &auth),
		 out);
	TRY_GOTO(mls_public_message_protect(cs, &fc, &auth, &g->ctx, AIM_BYTES(NULL, 0), &pm), out);
	TRY_GOTO(mls_grp_wrap_public(&pm, commit_out), out);
	*out = n;
	n = NULL;
out:
	if (rc)
		commit_out->len = mark;
	aim_wipe(init_secret, sizeof init_secret);
	aim_wipe(psk_secret, sizeof psk_secret);
	mls_treekem_secrets_wipe(&tks);
	mls_apply_result_free(&ap);
	mls_proposal_list_free(&list);
	mls_proposal_cache_free(&empty);
	mls_public_message_free(&pm);
	mls_framed_content_free(&fc);
	mls_framed_content_auth_data_free(&auth);
	aim_buf_free(&prov);
	aim_buf_free(&kem);
	mls_message_free(&m);
	mls_group_free(g);
	mls_group_free(n);
	return rc;
}

/* ---- ReInit and branch (sections 11.2, 11.3) ------------------------------------- */

int mls_group_create_successor(const struct mls_group_config *cfg, const struct mls_group *old,
			       bool reinit, struct aim_bytes group_id,
			       const struct mls_key_package *kp,
			       const struct mls_key_package_priv *kp_priv,
			       const struct mls_extension_list *extensions,
			       const struct mls_key_package *members, size_t n_members,
			       struct mls_commit_result *out, struct mls_group **newg)
{
	*newg = NULL;
	ENSURE(n_members > 0, AIM_ERR_INVALID, "a successor group needs members to welcome");
	if (reinit) {
		/* "The version, cipher_suite, group_id, and extensions fields of
		 * the GroupContext object in the Welcome message MUST be the same
		 * as the corresponding fields in the ReInit proposal." */
		const struct mls_reinit *ri = &old->reinit;
		ENSURE(old->has_reinit, AIM_ERR_STATE, "the old group saw no ReInit commit");
		ENSURE(ri->version == MLS_VERSION_10 && ri->cipher_suite == kp->cipher_suite &&
			       ri->group_id.len == group_id.len &&
			       (!group_id.len || memcmp(ri->group_id.p, group_id.p, group_id.len) == 0),
		       AIM_ERR_INVALID, "successor does not match the ReInit");
		struct aim_buf x, y;
		aim_buf_init(&x, MLS_MAX_MESSAGE);
		aim_buf_init(&y, MLS_MAX_MESSAGE);
		static const struct mls_extension_list none;
		int r1 = mls_extension_list_encode(&x, &ri->extensions);
		int r2 = mls_extension_list_encode(&y, extensions ? extensions : &none);
		bool same = r1 == 0 && r2 == 0 && x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
		aim_buf_free(&x);
		aim_buf_free(&y);
		ENSURE(same, AIM_ERR_INVALID, "successor extensions differ from the ReInit's");
	} else {
		/* a subgroup branch uses "the same parameters as the old group" */
		ENSURE(kp->cipher_suite == old->cs->id, AIM_ERR_INVALID,
		       "a branch keeps the cipher suite");
	}
	struct mls_group *g = NULL;
	TRY(mls_group_create(cfg, group_id, kp, kp_priv, extensions, &g));
	struct mls_pre_shared_key_id id;
	memset(&id, 0, sizeof id);
	uint8_t nonce[AIM_MAX_HASH];
	int rc = 0;
	/* "The Welcome message MUST specify a PreSharedKeyID of type
	 * resumption with usage reinit, where the group_id field matches the
	 * old group and the epoch field indicates the epoch after the Commit
	 * covering the ReInit." (branch: usage branch) */
	id.psktype = MLS_PSK_RESUMPTION;
	id.usage = reinit ? MLS_RESUMPTION_REINIT : MLS_RESUMPTION_BRANCH;
	TRY_GOTO(mls_bytes_copy(&id.psk_group_id, &old->ctx.group_id), out);
	id.psk_epoch = old->ctx.epoch;
	TRY_GOTO(aim_random(nonce, g->cs->nh), out);
	TRY_GOTO(mls_bytes_set(&id.psk_nonce, nonce, g->cs->nh), out);
	g->psk_source = old;
	struct mls_commit_params p = { .adds = members, .n_adds = n_members,
				       .tree_in_welcome = cfg && cfg->ratchet_tree_extension };
	TRY_GOTO(commit_with(g, &p, &id, out), out);
	g->psk_source = NULL;
	TRY_GOTO(mls_group_merge_pending(g), out);
	*newg = g;
	g = NULL;
out:
	if (g)
		g->psk_source = NULL;
	mls_group_free(g);
	mls_pre_shared_key_id_free(&id);
	return rc;
}
