/* MLS proposals: applying a list (RFC 9420 section 12.3), the public half
 * of an UpdatePath (7.5, 12.4.2) and staging a whole Commit. */
#include "mls/proposals.h"

#include <stdlib.h>
#include <string.h>

#include "mls/schedule.h"

/* ---- Application ---------------------------------------------------------- */

void mls_apply_result_free(struct mls_apply_result *r)
{
	if (!r)
		return;
	free(r->added);
	free(r->added_kp);
	free(r->removed);
	free(r->updated);
	free(r->psks);
	memset(r, 0, sizeof *r);
}

int mls_proposals_apply(const struct mls_proposal_list *l, struct mls_tree *tree,
			struct mls_group_context *ctx, struct mls_apply_result *out)
{
	memset(out, 0, sizeof *out);
	size_t n = l->n;
	if (n) {
		out->added = aim_xcalloc(n, sizeof *out->added);
		out->added_kp = aim_xcalloc(n, sizeof *out->added_kp);
		out->removed = aim_xcalloc(n, sizeof *out->removed);
		out->updated = aim_xcalloc(n, sizeof *out->updated);
		out->psks = aim_xcalloc(n, sizeof *out->psks);
	}
	out->path_required = mls_proposals_path_required(l);
	int rc = 0;
	/* "If there is a GroupContextExtensions proposal, replace the
	 * extensions field of the GroupContext" */
	for (size_t i = 0; i < n; i++) {
		const struct mls_proposal *p = l->v[i].proposal;
		if (p->type != MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)
			continue;
		struct mls_extension_list ext;
		TRY_GOTO(mls_extension_list_copy(&ext, &p->group_context_extensions.extensions),
			 fail);
		mls_extension_list_free(&ctx->extensions);
		ctx->extensions = ext;
		out->extensions_changed = true;
	}
	/* "Apply any Update proposals to the ratchet tree, in any order." */
	for (size_t i = 0; i < n; i++) {
		const struct mls_resolved_proposal *rp = &l->v[i];
		if (rp->proposal->type != MLS_PROPOSAL_UPDATE)
			continue;
		ENSURE_GOTO(rp->sender.type == MLS_SENDER_MEMBER, fail, AIM_ERR_INVALID,
			    "Update from a non-member");
		TRY_GOTO(mls_tree_apply_proposal(tree, rp->proposal, rp->sender.index, NULL), fail);
		out->updated[out->n_updated++] = rp->sender.index;
	}
	/* "Apply any Remove proposals to the ratchet tree, in any order." */
	for (size_t i = 0; i < n; i++) {
		const struct mls_proposal *p = l->v[i].proposal;
		if (p->type != MLS_PROPOSAL_REMOVE)
			continue;
		TRY_GOTO(mls_tree_apply_proposal(tree, p, 0, NULL), fail);
		out->removed[out->n_removed++] = p->remove.removed;
	}
	/* "Apply any Add proposals to the ratchet tree, in the order they
	 * appear in the list." */
	for (size_t i = 0; i < n; i++) {
		const struct mls_proposal *p = l->v[i].proposal;
		if (p->type != MLS_PROPOSAL_ADD)
			continue;
		uint32_t leaf;
		TRY_GOTO(mls_tree_apply_proposal(tree, p, 0, &leaf), fail);
		out->added_kp[out->n_added] = &p->add.key_package;
		out->added[out->n_added++] = leaf;
	}
	/* "Look up the PSK secrets for any PreSharedKey proposals, in the order
	 * they appear in the list."; ExternalInit and ReInit are noted. */
	for (size_t i = 0; i < n; i++) {
		const struct mls_proposal *p = l->v[i].proposal;
		if (p->type == MLS_PROPOSAL_PSK)
			out->psks[out->n_psks++] = &p->psk.psk;
		else if (p->type == MLS_PROPOSAL_EXTERNAL_INIT)
			out->external_init = &p->external_init;
		else if (p->type == MLS_PROPOSAL_REINIT)
			out->reinit = &p->reinit;
	}
	return 0;
fail:
	mls_apply_result_free(out);
	return rc;
}

/* ---- UpdatePath ------------------------------------------------------------- */

static int path_apply(const struct mls_proposal_ctx *pc, struct mls_tree *tree,
		      const struct mls_group_context *ctx, uint32_t committer,
		      const struct mls_update_path *path)
{
	struct aim_bytes gid = mls_bytes_view(&ctx->group_id);
	/* "Validate the LeafNode as specified in Section 7.3. The
	 * leaf_node_source field MUST be set to commit." (the signature and
	 * the fresh encryption key are checked by the merge) */
	struct mls_leaf_check chk = {
		.cs = pc->cs,
		.source = MLS_LEAF_SOURCE_COMMIT,
		.group_id = gid,
		.leaf_index = committer,
		.role = MLS_CRED_COMMITTER,
		.hook = pc->hook,
		.now = pc->now,
		.group_extensions = &ctx->extensions,
		.tree = tree,
		.skip = &committer,
		.n_skip = 1,
		.signature_checked = true,
	};
	TRY(mls_leaf_node_validate(&path->leaf_node, &chk));
	/* "Verify that none of the public keys in the UpdatePath appear in any
	 * node of the new ratchet tree." and "Merge the UpdatePath into the new
	 * ratchet tree" (mls_treekem_merge() checks the signature, the parent
	 * hashes and the keys). */
	return mls_treekem_merge(tree, committer, gid, path);
}

int mls_update_path_apply(const struct mls_proposal_ctx *pc, struct mls_tree *tree,
			  const struct mls_group_context *ctx, uint32_t committer,
			  const struct mls_update_path *path, uint32_t *committer_out)
{
	if (committer != MLS_NO_LEAF) {
		ENSURE(mls_tree_leaf(tree, committer), AIM_ERR_NOTFOUND,
		       "UpdatePath from blank leaf %u", committer);
		TRY(path_apply(pc, tree, ctx, committer, path));
		if (committer_out)
			*committer_out = committer;
		return 0;
	}
	/* "If this is an external Commit, assign the sender the leftmost blank
	 * leaf node in the new ratchet tree." Work on a copy: the placeholder
	 * leaf changes unmerged_leaves above it. */
	struct mls_tree t2;
	TRY(mls_tree_copy(&t2, tree));
	uint32_t leaf;
	int rc = 0;
	TRY_GOTO(mls_tree_add_leaf(&t2, &path->leaf_node, &leaf), out);
	/* the placeholder must not hold the key the merge checks as fresh */
	TRY_GOTO(mls_tree_touch(&t2, mls_tm_leaf_to_node(leaf)), out);
	mls_bytes_free(&t2.nodes[mls_tm_leaf_to_node(leaf)].leaf.encryption_key);
	TRY_GOTO(path_apply(pc, &t2, ctx, leaf, path), out);
	mls_tree_free(tree);
	*tree = t2;
	memset(&t2, 0, sizeof t2);
	if (committer_out)
		*committer_out = leaf;
out:
	mls_tree_free(&t2);
	return rc;
}

/* ---- Staging ---------------------------------------------------------------- */

int mls_group_context_advance(const struct aim_suite *cs, struct mls_group_context *ctx,
			      const struct mls_tree *tree, struct aim_buf *provisional)
{
	uint8_t th[AIM_MAX_HASH];
	ENSURE(ctx->epoch < UINT64_MAX, AIM_ERR_LIMIT, "epoch counter exhausted");
	TRY(mls_tree_hash(tree, th));
	TRY(mls_bytes_set(&ctx->tree_hash, th, cs->nh));
	ctx->epoch++;
	if (provisional)
		TRY(mls_group_context_encode(provisional, ctx));
	return 0;
}

void mls_staged_commit_free(struct mls_staged_commit *s)
{
	if (!s)
		return;
	mls_tree_free(&s->tree);
	mls_group_context_free(&s->ctx);
	aim_buf_free(&s->provisional_ctx);
	mls_proposal_list_free(&s->proposals);
	mls_apply_result_free(&s->applied);
	memset(s, 0, sizeof *s);
}

int mls_commit_stage(const struct mls_proposal_ctx *pc, const struct mls_proposal_cache *cache,
		     struct aim_bytes interim_before, const struct mls_authenticated_content *ac,
		     struct mls_staged_commit *out)
{
	const struct aim_suite *cs = pc->cs;
	memset(out, 0, sizeof *out);
	aim_buf_init(&out->provisional_ctx, MLS_MAX_MESSAGE);
	mls_tree_init(&out->tree, cs);
	const struct mls_framed_content *fc = &ac->content;
	ENSURE(fc->content_type == MLS_CONTENT_COMMIT, AIM_ERR_INVALID,
	       "staging content of type %u", fc->content_type);
	ENSURE(ac->auth.confirmation_tag.len == cs->nh, AIM_ERR_VERIFY,
	       "commit with a confirmation tag of %zu bytes", ac->auth.confirmation_tag.len);
	const struct mls_commit *c = &fc->commit;
	struct mls_sender committer = fc->sender;
	int rc = 0;
	out->has_path = c->has_path;

	/* "Verify that the proposals vector is valid according to the rules
	 * in Section 12.2." */
	TRY_GOTO(mls_commit_resolve(c, committer, cache, &out->proposals), fail);
	TRY_GOTO(mls_proposals_validate(pc, &out->proposals, committer, c->has_path), fail);

	/* "Create the new ratchet tree and GroupContext by applying the list of
	 * proposals to the old ratchet tree and GroupContext" (on copies) */
	TRY_GOTO(mls_tree_copy(&out->tree, pc->tree), fail);
	TRY_GOTO(mls_group_context_copy(&out->ctx, pc->ctx), fail);
	TRY_GOTO(mls_proposals_apply(&out->proposals, &out->tree, &out->ctx, &out->applied), fail);

	bool external = committer.type == MLS_SENDER_NEW_MEMBER_COMMIT;
	out->committer = external ? MLS_NO_LEAF : committer.index;
	if (c->has_path) {
		TRY_GOTO(mls_update_path_apply(pc, &out->tree, &out->ctx, out->committer, &c->path,
					       &out->committer),
			 fail);
	} else {
		ENSURE_GOTO(!external, fail, AIM_ERR_INVALID, "external commit without a path");
		/* the committer must still be there to hold the new epoch */
		ENSURE_GOTO(mls_tree_leaf(&out->tree, out->committer), fail, AIM_ERR_INVALID,
			    "committer leaf %u gone", out->committer);
	}
	ENSURE_GOTO(mls_tree_member_count(&out->tree) > 0, fail, AIM_ERR_INVALID,
		    "commit leaves an empty group");

	/* "Construct a provisional GroupContext object": new epoch, new tree
	 * hash, old confirmed transcript hash, new extensions. */
	TRY_GOTO(mls_group_context_advance(cs, &out->ctx, &out->tree, &out->provisional_ctx), fail);
	/* "Update the confirmed and interim transcript hashes using the new
	 * Commit, and generate the new GroupContext." */
	uint8_t confirmed[AIM_MAX_HASH];
	TRY_GOTO(mls_transcript_update(cs, interim_before, ac, confirmed, out->interim), fail);
	TRY_GOTO(mls_bytes_set(&out->ctx.confirmed_transcript_hash, confirmed, cs->nh), fail);
	return 0;
fail:
	mls_staged_commit_free(out);
	return rc;
}
