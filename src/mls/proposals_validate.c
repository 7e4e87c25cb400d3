/* MLS proposal validation: one proposal as received (RFC 9420 section
 * 12.1), a committed list (12.2, 12.4, 12.4.3.2), and the committer's
 * selection of pending proposals. */
#include "mls/proposals.h"

#include <stdlib.h>
#include <string.h>

/* ---- Senders ---------------------------------------------------------------- */

static const char *ptype_name(uint16_t t)
{
	switch (t) {
	case MLS_PROPOSAL_ADD:
		return "Add";
	case MLS_PROPOSAL_UPDATE:
		return "Update";
	case MLS_PROPOSAL_REMOVE:
		return "Remove";
	case MLS_PROPOSAL_PSK:
		return "PreSharedKey";
	case MLS_PROPOSAL_REINIT:
		return "ReInit";
	case MLS_PROPOSAL_EXTERNAL_INIT:
		return "ExternalInit";
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		return "GroupContextExtensions";
	default:
		return "unknown proposal";
	}
}

/* The sender exists: a non-blank member leaf, or an external_senders
 * entry. */
static int check_sender(const struct mls_proposal_ctx *pc, struct mls_sender s)
{
	switch (s.type) {
	case MLS_SENDER_MEMBER:
		ENSURE(s.index < pc->tree->n_leaves, AIM_ERR_NOTFOUND,
		       "sender leaf %u outside the tree", s.index);
		ENSURE(mls_tree_leaf(pc->tree, s.index), AIM_ERR_NOTFOUND, "sender leaf %u is blank",
		       s.index);
		return 0;
	case MLS_SENDER_EXTERNAL: {
		/* "The external SenderType requires that signers are
		 * pre-provisioned ... can only be used if the external_senders
		 * extension is present in the group's GroupContext." */
		const struct mls_extension *e =
			mls_extension_find(&pc->ctx->extensions, MLS_EXT_EXTERNAL_SENDERS);
		ENSURE(e, AIM_ERR_NOTFOUND, "external sender without an external_senders extension");
		struct mls_external_senders es;
		TRY(mls_external_senders_parse(e->data.p, e->data.len, &es));
		size_t n = es.n;
		mls_external_senders_free(&es);
		ENSURE(s.index < n, AIM_ERR_NOTFOUND, "external sender %u of %zu", s.index, n);
		return 0;
	}
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		return 0;
	default:
		return aim_fail(AIM_ERR_INVALID, "sender type %u", s.type);
	}
}

/* Which proposal types each sender type may send. */
static int check_sender_type(uint16_t ptype, struct mls_sender s)
{
	switch (s.type) {
	case MLS_SENDER_MEMBER:
		/* ExternalInit "can only be used in that context" (external
		 * commits). */
		ENSURE(ptype != MLS_PROPOSAL_EXTERNAL_INIT, AIM_ERR_INVALID,
		       "ExternalInit from a member");
		return 0;
	case MLS_SENDER_EXTERNAL:
		/* "Messages from external senders containing proposal types
		 * other than the above MUST be rejected as malformed." */
		ENSURE(ptype == MLS_PROPOSAL_ADD || ptype == MLS_PROPOSAL_REMOVE ||
			       ptype == MLS_PROPOSAL_PSK || ptype == MLS_PROPOSAL_REINIT ||
			       ptype == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS,
		       AIM_ERR_INVALID, "%s from an external sender", ptype_name(ptype));
		return 0;
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
		ENSURE(ptype == MLS_PROPOSAL_ADD, AIM_ERR_INVALID, "%s from a new_member_proposal sender",
		       ptype_name(ptype));
		return 0;
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		ENSURE(ptype == MLS_PROPOSAL_EXTERNAL_INIT || ptype == MLS_PROPOSAL_REMOVE ||
			       ptype == MLS_PROPOSAL_PSK,
		       AIM_ERR_INVALID, "%s in an external commit", ptype_name(ptype));
		return 0;
	default:
		return aim_fail(AIM_ERR_INVALID, "sender type %u", s.type);
	}
}

/* ---- Bodies -------------------------------------------------------------------- */

/* What a body is checked against: the extensions in force (a GCE of the
 * same Commit replaces them) and the leaves to ignore (removed by the same
 * Commit). */
struct body_env {
	const struct mls_extension_list *ext;
	const uint32_t *skip;
	size_t n_skip;
};

static int check_psk(const struct mls_proposal_ctx *pc, const struct mls_pre_shared_key_id *id)
{
	/* "The psk_nonce is not of length KDF.Nh." */
	ENSURE(id->psk_nonce.len == pc->cs->nh, AIM_ERR_INVALID, "PSK nonce of %zu bytes",
	       id->psk_nonce.len);
	if (id->psktype == MLS_PSK_RESUMPTION) {
		/* "... not being processed as part of a reinitialization ... and
		 * the PreSharedKeyID has psktype set to resumption and usage
		 * set to reinit" (likewise branch) */
		ENSURE(id->usage == MLS_RESUMPTION_APPLICATION, AIM_ERR_INVALID,
		       "resumption PSK of usage %u in a normal commit", id->usage);
	} else {
		ENSURE(id->psktype == MLS_PSK_EXTERNAL, AIM_ERR_INVALID, "PSK type %u", id->psktype);
	}
	return 0;
}

/* Every member that stays (not in skip) and every leaf in extra supports
 * the non-default extension types of ext and meets its
 * required_capabilities. */
static bool leaf_supports_ext(const struct mls_leaf_node *ln, const struct mls_extension_list *ext,
			      const struct mls_required_capabilities *rc)
{
	for (size_t i = 0; i < ext->n; i++)
		if (!mls_is_default_extension(ext->v[i].type) &&
		    !mls_u16_list_has(&ln->capabilities.extensions, ext->v[i].type))
			return false;
	return !rc || mls_capabilities_meet(&ln->capabilities, rc);
}

static bool in_list(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static int check_gce(const struct mls_proposal_ctx *pc, const struct mls_extension_list *ext,
		     const uint32_t *skip, size_t n_skip, const struct mls_leaf_node *const *extra,
		     size_t n_extra)
{
	struct mls_required_capabilities req;
	bool has_rc = false;
	int rc = 0;
	for (size_t i = 0; i < ext->n; i++)
		for (size_t j = 0; j < i; j++)
			ENSURE(ext->v[i].type != ext->v[j].type, AIM_ERR_INVALID,
			       "GroupContextExtensions lists extension %u twice", ext->v[i].type);
	const struct mls_extension *e = mls_extension_find(ext, MLS_EXT_REQUIRED_CAPABILITIES);
	if (e) {
		TRY(mls_required_capabilities_parse(e->data.p, e->data.len, &req));
		has_rc = true;
	}
	e = mls_extension_find(ext, MLS_EXT_EXTERNAL_SENDERS);
	if (e) {
		struct mls_external_senders es;
		TRY_GOTO(mls_external_senders_parse(e->data.p, e->data.len, &es), out);
		for (size_t i = 0; i < es.n && rc == 0; i++)
			rc = mls_credential_check(pc->hook, MLS_CRED_EXTERNAL_SENDER,
						   &es.v[i].credential,
						   mls_bytes_view(&es.v[i].signature_key));
		mls_external_senders_free(&es);
		TRY_GOTO(rc, out);
	}
	/* "A GroupContextExtensions proposal is invalid if it includes a
	 * required_capabilities extension and some members of the group do not
	 * support some of the required capabilities (including those added in
	 * the same Commit, and excluding those removed)." */
	for (uint32_t l = 0; l < pc->tree->n_leaves; l++) {
		const struct mls_leaf_node *ln = mls_tree_leaf(pc->tree, l);
		if (!ln || in_list(skip, n_skip, l))
			continue;
		ENSURE_GOTO(leaf_supports_ext(ln, ext, has_rc ? &req : NULL), out,
			    AIM_ERR_UNSUPPORTED, "leaf %u does not support the new group extensions",
			    l);
	}
	for (size_t i = 0; i < n_extra; i++)
		ENSURE_GOTO(leaf_supports_ext(extra[i], ext, has_rc ? &req : NULL), out,
			    AIM_ERR_UNSUPPORTED, "an added member does not support the new extensions");
out:
	if (has_rc)
		mls_required_capabilities_free(&req);
	return rc;
}

static int check_body(const struct mls_proposal_ctx *pc, const struct mls_proposal *p,
		      struct mls_sender sender, const struct body_env *env)
{
	const struct aim_suite *cs = pc->cs;
	switch (p->type) {
	case MLS_PROPOSAL_ADD: {
		/* "An Add proposal is invalid if the KeyPackage is invalid
		 * according to Section 10.1." */
		struct mls_leaf_check chk = {
			.cs = cs,
			.hook = pc->hook,
			.now = pc->now,
			.group_extensions = env->ext,
			.tree = pc->tree,
			.skip = env->skip,
			.n_skip = env->n_skip,
		};
		ENSURE(p->add.key_package.version >= pc->ctx->version, AIM_ERR_UNSUPPORTED,
		       "KeyPackage version %u", p->add.key_package.version);
		return mls_key_package_validate(&p->add.key_package, &chk);
	}
	case MLS_PROPOSAL_UPDATE: {
		ENSURE(sender.type == MLS_SENDER_MEMBER, AIM_ERR_INVALID, "Update from a non-member");
		const struct mls_leaf_node *old = mls_tree_leaf(pc->tree, sender.index);
		ENSURE(old, AIM_ERR_NOTFOUND, "Update from blank leaf %u", sender.index);
		/* "verify that leaf_node_source is set to update and that
		 * encryption_key represents a different public key than the
		 * encryption_key in the leaf node being replaced" */
		ENSURE(p->update.leaf_node.source == MLS_LEAF_SOURCE_UPDATE, AIM_ERR_INVALID,
		       "Update with leaf_node_source %u", p->update.leaf_node.source);
		ENSURE(!mls_bytes_equal(&old->encryption_key, &p->update.leaf_node.encryption_key),
		       AIM_ERR_INVALID, "Update keeps the old encryption key");
		uint32_t *skip = aim_xcalloc(env->n_skip + 1, sizeof *skip);
		size_t n = 0;
		for (size_t i = 0; i < env->n_skip; i++)
			skip[n++] = env->skip[i];
		skip[n++] = sender.index;
		struct mls_leaf_check chk = {
			.cs = cs,
			.source = MLS_LEAF_SOURCE_UPDATE,
			.group_id = mls_bytes_view(&pc->ctx->group_id),
			.leaf_index = sender.index,
			.role = MLS_CRED_UPDATE,
			.hook = pc->hook,
			.now = pc->now,
			.group_extensions = env->ext,
			.tree = pc->tree,
			.skip = skip,
			.n_skip = n,
		};
		int rc = mls_leaf_node_validate(&p->update.leaf_node, &chk);
		free(skip);
		return rc;
	}
	case MLS_PROPOSAL_REMOVE:
		/* "A Remove proposal is invalid if the removed field does not
		 * identify a non-blank leaf node." */
		ENSURE(p->remove.removed < pc->tree->n_leaves &&
			       mls_tree_leaf(pc->tree, p->remove.removed),
		       AIM_ERR_NOTFOUND, "Remove of blank or absent leaf %u", p->remove.removed);
		return 0;
	case MLS_PROPOSAL_PSK:
		return check_psk(pc, &p->psk.psk);
	case MLS_PROPOSAL_REINIT:
		/* "A ReInit proposal is invalid if the version field is less
		 * than the version for the current group." */
		ENSURE(p->reinit.version >= pc->ctx->version, AIM_ERR_INVALID,
		       "ReInit to version %u", p->reinit.version);
		ENSURE(p->reinit.version == MLS_VERSION_10, AIM_ERR_UNSUPPORTED,
		       "ReInit to version %u", p->reinit.version);
		ENSURE(mls_supports_suite(p->reinit.cipher_suite), AIM_ERR_UNSUPPORTED,
		       "ReInit to suite %u", p->reinit.cipher_suite);
		return 0;
	case MLS_PROPOSAL_EXTERNAL_INIT:
		ENSURE(p->external_init.kem_output.len == cs->kem_nenc, AIM_ERR_INVALID,
		       "ExternalInit kem_output of %zu bytes", p->external_init.kem_output.len);
		return 0;
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		return check_gce(pc, &p->group_context_extensions.extensions, env->skip, env->n_skip,
				 NULL, 0);
	default:
		return aim_fail(AIM_ERR_UNSUPPORTED, "proposal type %u", p->type);
	}
}

int mls_proposal_validate(const struct mls_proposal_ctx *pc, const struct mls_proposal *p,
			  struct mls_sender sender)
{
	ENSURE(sender.type != MLS_SENDER_NEW_MEMBER_COMMIT, AIM_ERR_INVALID,
	       "a proposal from a new_member_commit sender");
	TRY(check_sender(pc, sender));
	TRY(check_sender_type(p->type, sender));
	struct body_env env = { .ext = &pc->ctx->extensions };
	return check_body(pc, p, sender, &env);
}

/* ---- Lists ------------------------------------------------------------------- */

bool mls_proposals_path_required(const struct mls_proposal_list *l)
{
	/* "if len(commit.proposals) == 0 || pathRequired: assert(commit.path
	 * != null)"; only add, psk and reinit do not require a path. */
	if (l->n == 0)
		return true;
	for (size_t i = 0; i < l->n; i++) {
		uint16_t t = l->v[i].proposal->type;
		if (t != MLS_PROPOSAL_ADD && t != MLS_PROPOSAL_PSK && t != MLS_PROPOSAL_REINIT)
			return true;
	}
	return false;
}

static int encode_psk_id(struct aim_buf *b, const struct mls_pre_shared_key_id *id)
{
	aim_buf_reset(b);
	return mls_pre_shared_key_id_encode(b, id);
}

/* No PreSharedKeyID twice ("multiple PreSharedKey proposals that reference
 * the same PreSharedKeyID"). */
static int check_psk_dups(const struct mls_proposal_list *l)
{
	struct aim_buf a, b;
	aim_buf_init(&a, MLS_MAX_MESSAGE);
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = 0;
	for (size_t i = 0; i < l->n && rc == 0; i++) {
		if (l->v[i].proposal->type != MLS_PROPOSAL_PSK)
			continue;
		TRY_GOTO(encode_psk_id(&a, &l->v[i].proposal->psk.psk), out);
		for (size_t j = 0; j < i; j++) {
			if (l->v[j].proposal->type != MLS_PROPOSAL_PSK)
				continue;
			TRY_GOTO(encode_psk_id(&b, &l->v[j].proposal->psk.psk), out);
			ENSURE_GOTO(a.len != b.len || memcmp(a.data, b.data, a.len) != 0, out,
				    AIM_ERR_INVALID, "PreSharedKeyID committed twice");
		}
	}
out:
	aim_buf_free(&a);
	aim_buf_free(&b);
	return rc;
}

int mls_proposals_validate(const struct mls_proposal_ctx *pc, const struct mls_proposal_list *l,
			   struct mls_sender committer, bool has_path)
{
	bool external = committer.type == MLS_SENDER_NEW_MEMBER_COMMIT;
	ENSURE(external || committer.type == MLS_SENDER_MEMBER, AIM_ERR_INVALID,
	       "a Commit from sender type %u", committer.type);
	if (!external)
		TRY(check_sender(pc, committer));
	size_t n_type[8] = { 0 };
	const struct mls_extension_list *ext = &pc->ctx->extensions;
	for (size_t i = 0; i < l->n; i++) {
		const struct mls_resolved_proposal *rp = &l->v[i];
		uint16_t t = rp->proposal->type;
		ENSURE(mls_is_default_proposal(t), AIM_ERR_UNSUPPORTED, "proposal type %u", t);
		n_type[t]++;
		if (t == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)
			ext = &rp->proposal->group_context_extensions.extensions;
	}

	if (external) {
		/* "External Commits MUST contain a path field" */
		ENSURE(has_path, AIM_ERR_INVALID, "external commit without a path");
		/* "Exactly one ExternalInit" */
		ENSURE(n_type[MLS_PROPOSAL_EXTERNAL_INIT] == 1, AIM_ERR_INVALID,
		       "external commit with %zu ExternalInit proposals",
		       n_type[MLS_PROPOSAL_EXTERNAL_INIT]);
		/* "At most one Remove proposal" */
		ENSURE(n_type[MLS_PROPOSAL_REMOVE] <= 1, AIM_ERR_INVALID,
		       "external commit with %zu Remove proposals", n_type[MLS_PROPOSAL_REMOVE]);
		for (size_t i = 0; i < l->n; i++) {
			/* "The Commit MUST NOT include any proposals by
			 * reference" */
			ENSURE(!l->v[i].by_reference, AIM_ERR_INVALID,
			       "external commit with a proposal by reference");
			/* "No other proposals" */
			TRY(check_sender_type(l->v[i].proposal->type, committer));
		}
	} else {
		/* "It contains an ExternalInit proposal." */
		ENSURE(n_type[MLS_PROPOSAL_EXTERNAL_INIT] == 0, AIM_ERR_INVALID,
		       "ExternalInit in a member's commit");
		/* "It contains a ReInit proposal together with any other
		 * proposal." */
		ENSURE(n_type[MLS_PROPOSAL_REINIT] == 0 || l->n == 1, AIM_ERR_INVALID,
		       "ReInit together with other proposals");
		/* "It contains multiple GroupContextExtensions proposals." */
		ENSURE(n_type[MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS] <= 1, AIM_ERR_INVALID,
		       "%zu GroupContextExtensions proposals",
		       n_type[MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS]);
		/* "By default, the path field of a Commit MUST be populated" */
		ENSURE(has_path || !mls_proposals_path_required(l), AIM_ERR_INVALID,
		       "commit without the path its proposals require");
	}

	/* Leaves touched by Update and Remove. */
	uint32_t *removed = l->n ? aim_xcalloc(l->n, sizeof *removed) : NULL;
	uint32_t *touched = l->n ? aim_xcalloc(l->n, sizeof *touched) : NULL;
	const struct mls_leaf_node **added = l->n ? aim_xcalloc(l->n, sizeof *added) : NULL;
	size_t n_removed = 0, n_touched = 0, n_added = 0;
	int rc = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct mls_resolved_proposal *rp = &l->v[i];
		uint32_t leaf;
		if (rp->proposal->type == MLS_PROPOSAL_REMOVE) {
			leaf = rp->proposal->remove.removed;
			/* "It contains a Remove proposal that removes the
			 * committer." */
			ENSURE_GOTO(external || leaf != committer.index, out, AIM_ERR_INVALID,
				    "the committer removes itself");
			removed[n_removed++] = leaf;
		} else if (rp->proposal->type == MLS_PROPOSAL_UPDATE) {
			ENSURE_GOTO(rp->sender.type == MLS_SENDER_MEMBER, out, AIM_ERR_INVALID,
				    "Update from a non-member");
			leaf = rp->sender.index;
			/* "It contains an Update proposal generated by the
			 * committer." */
			ENSURE_GOTO(external || leaf != committer.index, out, AIM_ERR_INVALID,
				    "Update by the committer");
		} else {
			continue;
		}
		/* "It contains multiple Update and/or Remove proposals that apply
		 * to the same leaf." */
		ENSURE_GOTO(!in_list(touched, n_touched, leaf), out, AIM_ERR_INVALID,
			    "two Update/Remove proposals for leaf %u", leaf);
		touched[n_touched++] = leaf;
	}

	struct body_env env = { .ext = ext, .skip = removed, .n_skip = n_removed };
	for (size_t i = 0; i < l->n; i++) {
		const struct mls_resolved_proposal *rp = &l->v[i];
		const struct mls_proposal *p = rp->proposal;
		if (rp->by_reference || external) {
			TRY_GOTO(check_sender(pc, rp->sender), out);
			TRY_GOTO(check_sender_type(p->type, rp->sender), out);
		} else {
			/* by value: the committer's own proposals */
			TRY_GOTO(check_sender_type(p->type, committer), out);
		}
		/* "It contains an individual proposal that is invalid" */
		if (p->type != MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)
			TRY_GOTO(check_body(pc, p, rp->sender, &env), out);
		if (p->type != MLS_PROPOSAL_ADD)
			continue;
		const struct mls_key_package *kp = &p->add.key_package;
		for (size_t j = 0; j < n_added; j++) {
			/* "It contains multiple Add proposals that contain
			 * KeyPackages that represent the same client according to
			 * the application (for example, identical signature
			 * keys)." */
			ENSURE_GOTO(!mls_bytes_equal(&added[j]->signature_key,
						     &kp->leaf_node.signature_key),
				    out, AIM_ERR_INVALID, "two Adds of one client");
			ENSURE_GOTO(!mls_bytes_equal(&added[j]->encryption_key,
						     &kp->leaf_node.encryption_key),
				    out, AIM_ERR_INVALID, "two Adds with one encryption key");
		}
		added[n_added++] = &kp->leaf_node;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct mls_proposal *p = l->v[i].proposal;
		if (p->type == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)
			TRY_GOTO(check_gce(pc, &p->group_context_extensions.extensions, removed,
					   n_removed, added, n_added),
				 out);
	}
	TRY_GOTO(check_psk_dups(l), out);
out:
	free(removed);
	free(touched);
	free(added);
	return rc;
}

/* ---- Selection for a committer ------------------------------------------------ */

int mls_proposals_select(const struct mls_proposal_ctx *pc, const struct mls_proposal_cache *cache,
			 uint32_t committer, struct mls_proposal_list *out)
{
	memset(out, 0, sizeof *out);
	size_t n = cache ? cache->n : 0;
	if (!n)
		return 0;
	bool *keep = aim_xcalloc(n, sizeof *keep);
	struct mls_sender me = { .type = MLS_SENDER_MEMBER, .index = committer };
	size_t n_keep = 0, reinit = n;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mls_cached_proposal *cp = &cache->v[i];
		const struct mls_proposal *p = &cp->proposal;
		/* Drop what would make the list invalid: an Update by the
		 * committer, a Remove of the committer, proposals no longer
		 * valid. */
		if (p->type == MLS_PROPOSAL_UPDATE && cp->sender.type == MLS_SENDER_MEMBER &&
		    cp->sender.index == committer)
			continue;
		if (p->type == MLS_PROPOSAL_REMOVE && p->remove.removed == committer)
			continue;
		if (mls_proposal_validate(pc, p, cp->sender) != 0) {
			aim_errclear();
			continue;
		}
		if (p->type == MLS_PROPOSAL_REINIT) {
			if (reinit == n)
				reinit = i;
			continue;
		}
		keep[i] = true;
		n_keep++;
	}
	/* "they SHOULD prefer any Remove received, or the most recent Update if
	 * there are no Removes." */
	for (size_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		const struct mls_cached_proposal *a = &cache->v[i];
		uint32_t leaf;
		if (a->proposal.type == MLS_PROPOSAL_REMOVE)
			leaf = a->proposal.remove.removed;
		else if (a->proposal.type == MLS_PROPOSAL_UPDATE)
			leaf = a->sender.index;
		else
			continue;
		for (size_t j = 0; j < n; j++) {
			if (j == i || !keep[j])
				continue;
			const struct mls_cached_proposal *b = &cache->v[j];
			bool same = (b->proposal.type == MLS_PROPOSAL_REMOVE &&
				     b->proposal.remove.removed == leaf) ||
				    (b->proposal.type == MLS_PROPOSAL_UPDATE && b->sender.index == leaf);
			if (!same)
				continue;
			bool a_wins;
			if (a->proposal.type != b->proposal.type)
				a_wins = a->proposal.type == MLS_PROPOSAL_REMOVE;
			else
				a_wins = i > j; /* the most recent */
			keep[a_wins ? j : i] = false;
			n_keep--;
			if (!a_wins)
				break;
		}
	}
	/* One GCE (the latest), no duplicate Adds of one signature key or PSK. */
	for (size_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		const struct mls_proposal *a = &cache->v[i].proposal;
		for (size_t j = i + 1; j < n; j++) {
			if (!keep[j])
				continue;
			const struct mls_proposal *b = &cache->v[j].proposal;
			bool drop = false;
			if (a->type == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS && b->type == a->type)
				drop = true;
			else if (a->type == MLS_PROPOSAL_ADD && b->type == a->type)
				drop = mls_bytes_equal(&a->add.key_package.leaf_node.signature_key,
						       &b->add.key_package.leaf_node.signature_key);
			if (drop) {
				keep[i] = false;
				n_keep--;
				break;
			}
		}
	}
	/* "If the committer has received other proposals during the epoch, they
	 * SHOULD prefer them over the ReInit proposal" */
	if (n_keep == 0 && reinit < n) {
		keep[reinit] = true;
		n_keep = 1;
	}
	/* Whatever survives must make a valid list (a path is assumed): each
	 * candidate, in cache order, stays only if the list with it still
	 * validates (e.g. two PSKs with one id, an Add clashing with another
	 * Add's keys). */
	out->v = n_keep ? aim_xcalloc(n_keep, sizeof *out->v) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		out->v[out->n].proposal = &cache->v[i].proposal;
		out->v[out->n].sender = cache->v[i].sender;
		out->v[out->n].by_reference = true;
		out->n++;
		if (mls_proposals_validate(pc, out, me, true) != 0) {
			aim_errclear();
			out->n--;
		}
	}
	free(keep);
	if (!out->n)
		mls_proposal_list_free(out);
	return rc;
}
