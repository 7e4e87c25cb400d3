/* The MLS member group: processing received messages (RFC 9420 sections
 * 6, 12.1, 12.4.2): application data, proposals, commits. */
#include "mls/group_int.h"

#include <stdlib.h>
#include <string.h>

#include "mls/framing.h"
#include "mls/labeled.h"
#include "mls/proposals.h"

void mls_group_event_free(struct mls_group_event *ev)
{
	if (!ev)
		return;
	aim_buf_free_secret(&ev->data);
	aim_buf_free(&ev->aad);
	free(ev->added);
	free(ev->removed);
	memset(ev, 0, sizeof *ev);
}

static void event_init(struct mls_group_event *ev)
{
	memset(ev, 0, sizeof *ev);
	aim_buf_init(&ev->data, MLS_MAX_MESSAGE);
	aim_buf_init(&ev->aad, MLS_MAX_MESSAGE);
}

static int member_key(void *arg, uint32_t leaf, struct aim_bytes *sig_pub)
{
	const struct mls_group *g = arg;
	const struct mls_leaf_node *l = mls_tree_leaf(&g->tree, leaf);
	ENSURE(l, AIM_ERR_NOTFOUND, "sender leaf %u is blank or outside the tree", leaf);
	*sig_pub = mls_bytes_view(&l->signature_key);
	return 0;
}

/* The signature key of a PublicMessage's sender (section 6.1): a member's
 * leaf, an external sender of the group, or the new member's own key. The
 * view points into g or pm. */
static int sender_key(const struct mls_group *g, const struct mls_public_message *pm,
		      struct mls_external_senders *es, struct aim_bytes *key)
{
	const struct mls_framed_content *c = &pm->content;
	switch (c->sender.type) {
	case MLS_SENDER_MEMBER:
		return member_key((void *)g, c->sender.index, key);
	case MLS_SENDER_EXTERNAL: {
		const struct mls_extension *e =
			mls_extension_find(&g->ctx.extensions, MLS_EXT_EXTERNAL_SENDERS);
		ENSURE(e, AIM_ERR_INVALID, "external sender but no external_senders extension");
		TRY(mls_external_senders_parse(e->data.p, e->data.len, es));
		ENSURE(c->sender.index < es->n, AIM_ERR_INVALID, "external sender %u of %zu",
		       c->sender.index, es->n);
		const struct mls_external_sender *s = &es->v[c->sender.index];
		if (g->cfg.hook)
			TRY(mls_credential_check(&g->hook, MLS_CRED_EXTERNAL_SENDER, &s->credential,
						 mls_bytes_view(&s->signature_key)));
		*key = mls_bytes_view(&s->signature_key);
		return 0;
	}
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
		ENSURE(c->content_type == MLS_CONTENT_PROPOSAL &&
			       c->proposal.type == MLS_PROPOSAL_ADD,
		       AIM_ERR_INVALID, "new_member_proposal sender without an Add");
		*key = mls_bytes_view(&c->proposal.add.key_package.leaf_node.signature_key);
		return 0;
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		ENSURE(c->content_type == MLS_CONTENT_COMMIT && c->commit.has_path,
		       AIM_ERR_INVALID, "new_member_commit sender without a Commit with a path");
		*key = mls_bytes_view(&c->commit.path.leaf_node.signature_key);
		return 0;
	default:
		return aim_fail(AIM_ERR_INVALID, "sender type %u", c->sender.type);
	}
}

/* Opens a PublicMessage or PrivateMessage into an AuthenticatedContent. */
static int unprotect(struct mls_group *g, const struct mls_message *m,
		     struct mls_authenticated_content *ac)
{
	const struct aim_suite *cs = g->cs;
	if (m->wire_format == MLS_WIRE_PUBLIC_MESSAGE) {
		const struct mls_public_message *pm = &m->public_message;
		/* "Verify that the epoch field of the enclosing FramedContent is
		 * equal to the epoch field of the current GroupContext object"
		 * (group and epoch first: a stale message is a conflict, not a
		 * forgery) */
		TRY(mls_framing_check_context(&pm->content, &g->ctx));
		struct mls_external_senders es;
		memset(&es, 0, sizeof es);
		struct aim_bytes key;
		int rc = sender_key(g, pm, &es, &key);
		if (rc == 0)
			rc = mls_public_message_unprotect(
				cs, pm, &g->ctx, AIM_BYTES(g->sec.membership_key, cs->nh), key, ac);
		mls_external_senders_free(&es);
		return rc;
	}
	ENSURE(m->wire_format == MLS_WIRE_PRIVATE_MESSAGE, AIM_ERR_INVALID,
	       "wire format %u is not a group message", m->wire_format);
	const struct mls_private_message *pm = &m->private_message;
	ENSURE(mls_bytes_equal(&pm->group_id, &g->ctx.group_id), AIM_ERR_INVALID,
	       "PrivateMessage of another group");
	/* the same for a PrivateMessage, before any decryption; an
	 * application message of one of the last MLS_GROUP_PAST_EPOCHS epochs
	 * is opened with that epoch's keys (group_past.c: "Members MAY keep
	 * unconsumed values around for some reasonable amount of time to
	 * handle out-of-order message delivery", section 9.2) */
	if (pm->epoch < g->ctx.epoch)
		return mls_grp_past_unprotect(g, pm, ac);
	ENSURE(pm->epoch == g->ctx.epoch, AIM_ERR_CONFLICT,
	       "PrivateMessage of epoch %llu, group is at %llu", (unsigned long long)pm->epoch,
	       (unsigned long long)g->ctx.epoch);
	return mls_private_message_unprotect(cs, g->st, AIM_BYTES(g->sec.sender_data_secret, cs->nh),
					     pm, &g->ctx, member_key, g, ac);
}

/* ---- Proposals ----------------------------------------------------------------- */

static int process_proposal(struct mls_group *g, const struct mls_authenticated_content *ac,
			    struct mls_group_event *ev)
{
	struct mls_proposal_ctx pc;
	mls_grp_proposal_ctx(g, &pc);
	const struct mls_proposal *p = &ac->content.proposal;
	TRY(mls_proposal_validate(&pc, p, ac->content.sender));
	uint8_t ref[AIM_MAX_HASH];
	TRY(mls_proposal_cache_add(&g->cache, ac, ref));
	if (ev) {
		ev->type = MLS_EVENT_PROPOSAL;
		ev->proposal_type = p->type;
		memcpy(ev->proposal_ref, ref, g->cs->nh);
	}
	return 0;
}

/* ---- Commits (section 12.4.2) ------------------------------------------------- */

static bool list_has(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* The next epoch's state of g after the staged Commit ac; *next is a new
 * group, or NULL when the Commit removed us (*removed_self set). */
static int commit_next(struct mls_group *g, const struct mls_authenticated_content *ac,
		       struct mls_staged_commit *sc, struct mls_group **next, bool *removed_self)
{
	const struct aim_suite *cs = g->cs;
	*next = NULL;
	*removed_self = false;
	const struct mls_commit *c = &ac->content.commit;
	struct mls_group *n = NULL;
	struct mls_epoch_secrets sec;
	memset(&sec, 0, sizeof sec);
	uint8_t commit_secret[AIM_MAX_HASH] = { 0 }, psk_secret[AIM_MAX_HASH];
	uint8_t init_secret[AIM_MAX_HASH];
	struct aim_buf enc, ext_sk, ext_pk;
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	aim_buf_init(&ext_sk, 4096);
	aim_buf_init(&ext_pk, 4096);
	int rc = 0;

	/* Removed by this Commit: we get no secrets of the new epoch (the
	 * path is not encrypted to us), so we stop here. */
	if (list_has(sc->applied.removed, sc->applied.n_removed, g->own_leaf)) {
		*removed_self = true;
		goto out;
	}
	n = mls_grp_new(&g->cfg, cs);
	n->hook = g->hook;
	if (g->cfg.hook)
		n->cfg.hook = &n->hook;
	n->own_leaf = g->own_leaf;
	TRY_GOTO(mls_bytes_copy(&n->sig_priv, &g->sig_priv), out);
	mls_tree_free(&n->tree);
	n->tree = sc->tree;
	mls_tree_init(&sc->tree, cs);
	n->ctx = sc->ctx;
	memset(&sc->ctx, 0, sizeof sc->ctx);
	memcpy(n->interim, sc->interim, cs->nh);
	memcpy(n->res, g->res, sizeof g->res);
	n->n_res = g->n_res;

	/* Our private keys: those still matching the tree, plus the key of an
	 * Update of ours that this Commit applied. */
	mls_tree_priv_free(&n->priv);
	TRY_GOTO(mls_tree_priv_copy(&n->priv, &g->priv), out);
	if (list_has(sc->applied.updated, sc->applied.n_updated, g->own_leaf)) {
		const struct mls_leaf_node *l = mls_tree_leaf(&n->tree, g->own_leaf);
		const struct mls_grp_update *u = NULL;
		for (size_t i = 0; l && i < g->n_upd; i++)
			if (mls_bytes_equal(&g->upd[i].pk, &l->encryption_key))
				u = &g->upd[i];
		ENSURE_GOTO(u, out, AIM_ERR_STATE, "our leaf was updated with a key we lack");
		TRY_GOTO(mls_tree_priv_set(&n->priv, mls_tm_leaf_to_node(g->own_leaf),
					   mls_bytes_view(&u->sk)),
			 out);
	}
	mls_tree_priv_prune(&n->priv, &n->tree);

	/* "If the path value is populated, validate it and apply it to the
	 * tree" (done in staging); then decrypt the path secret and derive
	 * the commit_secret (the members this Commit adds are excluded) */
	if (c->has_path) {
		TRY_GOTO(mls_treekem_decrypt(&n->tree, &n->priv, sc->committer, &c->path,
					     aim_buf_bytes(&sc->provisional_ctx), sc->applied.added,
					     sc->applied.n_added, commit_secret, NULL),
			 out);
	}
	TRY_GOTO(mls_tree_priv_check(&n->priv, &n->tree), out);

	/* init_secret: from the ExternalInit of an external commit, else the
	 * previous epoch's */
	if (sc->applied.external_init) {
		TRY_GOTO(mls_external_keypair(cs, AIM_BYTES(g->sec.external_secret, cs->nh), &ext_sk,
					      &ext_pk),
			 out);
		TRY_GOTO(mls_external_init_decap(cs, aim_buf_bytes(&ext_sk),
						 mls_bytes_view(&sc->applied.external_init->kem_output),
						 init_secret),
			 out);
	} else {
		memcpy(init_secret, g->sec.init_secret, cs->nh);
	}
	TRY_GOTO(mls_grp_psk_secret(g, sc->applied.psks, sc->applied.n_psks,
				    mls_bytes_view(&g->ctx.group_id), psk_secret),
		 out);
	TRY_GOTO(mls_group_context_encode(&enc, &n->ctx), out);
	TRY_GOTO(mls_schedule_epoch(cs, AIM_BYTES(init_secret, cs->nh),
				    AIM_BYTES(commit_secret, cs->nh), AIM_BYTES(psk_secret, cs->nh),
				    aim_buf_bytes(&enc), &sec),
		 out);
	/* "Use the confirmation_key for the new epoch to compute the
	 * confirmation tag for this message ... and verify that it is the same
	 * as the confirmation_tag field in the FramedContentAuthData object." */
	TRY_GOTO(mls_confirmation_tag_verify(cs, AIM_BYTES(sec.confirmation_key, cs->nh),
					     mls_bytes_view(&n->ctx.confirmed_transcript_hash),
					     mls_bytes_view(&ac->auth.confirmation_tag)),
		 out);
	TRY_GOTO(mls_grp_install_epoch(n, &sec), out);
	memset(&sec, 0, sizeof sec);
	TRY_GOTO(mls_grp_note_reinit(n, sc->applied.reinit), out);
	*next = n;
	n = NULL;
out:
	mls_epoch_secrets_wipe(&sec);
	aim_wipe(commit_secret, sizeof commit_secret);
	aim_wipe(psk_secret, sizeof psk_secret);
	aim_wipe(init_secret, sizeof init_secret);
	aim_buf_free(&enc);
	aim_buf_free_secret(&ext_sk);
	aim_buf_free(&ext_pk);
	mls_group_free(n);
	return rc;
}

static int fill_commit_event(struct mls_group_event *ev, const struct mls_staged_commit *sc,
			     uint64_t epoch)
{
	ev->type = MLS_EVENT_COMMIT;
	ev->epoch = epoch;
	ev->reinit = sc->applied.reinit != NULL;
	if (sc->applied.n_added) {
		ev->added = aim_xcalloc(sc->applied.n_added, sizeof *ev->added);
		memcpy(ev->added, sc->applied.added, sc->applied.n_added * sizeof *ev->added);
		ev->n_added = sc->applied.n_added;
	}
	if (sc->applied.n_removed) {
		ev->removed = aim_xcalloc(sc->applied.n_removed, sizeof *ev->removed);
		memcpy(ev->removed, sc->applied.removed, sc->applied.n_removed * sizeof *ev->removed);
		ev->n_removed = sc->applied.n_removed;
	}
	return 0;
}

static int process_commit(struct mls_group *g, const struct mls_authenticated_content *ac,
			  struct mls_group_event *ev)
{
	const struct aim_suite *cs = g->cs;
	const struct mls_sender *s = &ac->content.sender;
	/* Our own Commit can only come back as the exact message we sent
	 * (mls_group_process() adopts it before decrypting). */
	ENSURE(s->type != MLS_SENDER_MEMBER || s->index != g->own_leaf, AIM_ERR_STATE,
	       "a commit of ours that is not the pending one");
	struct mls_proposal_ctx pc;
	mls_grp_proposal_ctx(g, &pc);
	struct mls_staged_commit sc;
	/* "Verify that the proposals vector is valid", apply it and the
	 * UpdatePath to copies of the tree and GroupContext (so that a
	 * refused Commit leaves the state untouched) */
	TRY(mls_commit_stage(&pc, &g->cache, AIM_BYTES(g->interim, cs->nh), ac, &sc));
	struct mls_group *n = NULL;
	bool removed_self = false;
	int rc = 0;
	TRY_GOTO(commit_next(g, ac, &sc, &n, &removed_self), out);
	if (ev)
		TRY_GOTO(fill_commit_event(ev, &sc, g->ctx.epoch + 1), out);
	if (removed_self) {
		/* the group goes on without us: keep the old state readable */
		g->active = false;
		mls_group_free(g->pending);
		g->pending = NULL;
		if (ev)
			ev->removed_self = true;
	} else {
		mls_group_free(g->pending); /* another Commit won */
		g->pending = NULL;
		mls_grp_adopt(g, n);
		n = NULL;
	}
out:
	mls_group_free(n);
	mls_staged_commit_free(&sc);
	return rc;
}

int mls_group_process(struct mls_group *g, struct aim_bytes msg, struct mls_group_event *ev)
{
	if (ev)
		event_init(ev);
	ENSURE(g->active, AIM_ERR_STATE, "not a member any more");
	/* Our pending Commit coming back (the hub accepted it): adopt the
	 * next epoch's state. */
	uint8_t h[32];
	TRY(aim_sha256(msg, h));
	/* A proposal or application message of ours coming back: we cannot
	 * (PrivateMessage: the generation is used) and need not process it. */
	if (mls_grp_sent_seen(g, h)) {
		if (ev)
			ev->own_message = true;
		return 0;
	}
	if (g->pending) {
		if (aim_ct_equal(h, sizeof h, g->pending_hash, sizeof h)) {
			struct mls_group *n = g->pending;
			g->pending = NULL;
			mls_grp_adopt(g, n);
			if (ev) {
				ev->type = MLS_EVENT_COMMIT;
				ev->epoch = g->ctx.epoch;
				ev->sender.type = MLS_SENDER_MEMBER;
				ev->sender.index = g->own_leaf;
				ev->own_commit = true;
			}
			return 0;
		}
	}
	struct mls_message m;
	TRY(mls_message_parse(msg.p, msg.len, &m));
	struct mls_authenticated_content ac;
	memset(&ac, 0, sizeof ac);
	int rc = 0;
	ENSURE_GOTO(m.version == MLS_VERSION_10, out, AIM_ERR_UNSUPPORTED, "version %u",
		    m.version);
	TRY_GOTO(unprotect(g, &m, &ac), out);
	if (ev)
		ev->sender = ac.content.sender;
	switch (ac.content.content_type) {
	case MLS_CONTENT_APPLICATION:
		/* "Applications MUST use PrivateMessage to encrypt application
		 * messages" (framing refuses it in a PublicMessage already) */
		ENSURE_GOTO(ac.wire_format == MLS_WIRE_PRIVATE_MESSAGE, out, AIM_ERR_INVALID,
			    "application data in a PublicMessage");
		if (ev) {
			ev->type = MLS_EVENT_APPLICATION;
			ev->epoch = ac.content.epoch;
			ev->past_epoch = ac.content.epoch < g->ctx.epoch;
			TRY_GOTO(aim_buf_append(&ev->data, ac.content.application_data.p,
						ac.content.application_data.len),
				 out);
			TRY_GOTO(aim_buf_append(&ev->aad, ac.content.authenticated_data.p,
						ac.content.authenticated_data.len),
				 out);
		}
		break;
	case MLS_CONTENT_PROPOSAL:
		TRY_GOTO(process_proposal(g, &ac, ev), out);
		break;
	case MLS_CONTENT_COMMIT:
		TRY_GOTO(process_commit(g, &ac, ev), out);
		break;
	default:
		rc = aim_fail(AIM_ERR_INVALID, "content type %u", ac.content.content_type);
	}
out:
	if (ac.content.application_data.len)
		aim_wipe(ac.content.application_data.p, ac.content.application_data.len);
	mls_authenticated_content_free(&ac);
	mls_message_free(&m);
	if (rc != 0 && ev)
		mls_group_event_free(ev);
	return rc;
}
