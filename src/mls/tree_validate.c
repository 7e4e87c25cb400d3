/* Validating a received ratchet tree (RFC 9420 sections 7.3, 7.9.2 and
 * 12.4.3.1) and signing / verifying LeafNodes. */
#include "mls/tree.h"

#include "mls/labeled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mls_leaf_node_verify_signature(const struct aim_suite *cs, const struct mls_leaf_node *leaf,
				   struct aim_bytes group_id, uint32_t index)
{
	struct aim_buf tbs;
	aim_buf_init(&tbs, MLS_MAX_MESSAGE);
	if (mls_leaf_node_encode_tbs(&tbs, leaf, group_id, index) != 0) {
		aim_buf_free(&tbs);
		return -1;
	}
	int rc = mls_verify_with_label(cs, mls_bytes_view(&leaf->signature_key), "LeafNodeTBS",
				       aim_buf_bytes(&tbs), mls_bytes_view(&leaf->signature));
	aim_buf_free(&tbs);
	return rc;
}

int mls_leaf_node_sign(const struct aim_suite *cs, struct mls_leaf_node *leaf,
		       struct aim_bytes group_id, uint32_t index, struct aim_bytes sk)
{
	int rc = 0;
	struct aim_buf tbs, sig;
	aim_buf_init(&tbs, MLS_MAX_MESSAGE);
	aim_buf_init(&sig, AIM_MAX_SIG + 16);
	TRY_GOTO(mls_leaf_node_encode_tbs(&tbs, leaf, group_id, index), out);
	TRY_GOTO(mls_sign_with_label(cs, sk, "LeafNodeTBS", aim_buf_bytes(&tbs), &sig), out);
	TRY_GOTO(mls_bytes_set(&leaf->signature, sig.data, sig.len), out);
out:
	aim_buf_free(&tbs);
	aim_buf_free(&sig);
	return rc;
}

/* ---- Uniqueness of keys ------------------------------------------------- */

static int cmp_bytes_ptr(const void *a, const void *b)
{
	const struct mls_bytes *x = *(const struct mls_bytes *const *)a;
	const struct mls_bytes *y = *(const struct mls_bytes *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = n ? memcmp(x->p, y->p, n) : 0;
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Fails if two of the n keys are equal. */
static int unique(const struct mls_bytes **keys, size_t n, const char *what)
{
	qsort(keys, n, sizeof *keys, cmp_bytes_ptr);
	for (size_t i = 1; i < n; i++)
		ENSURE(cmp_bytes_ptr(&keys[i - 1], &keys[i]) != 0, AIM_ERR_VERIFY,
		       "%s appears twice in the tree", what);
	return 0;
}

static int keys_unique(const struct mls_tree *t)
{
	uint32_t w = mls_tm_width(t->n_leaves);
	const struct mls_bytes **keys = aim_xcalloc(w, sizeof *keys);
	size_t n = 0;
	int rc = 0;
	/* "Verify that the following fields are unique among the members of
	 * the group: signature_key, encryption_key" (section 7.3) and "Verify
	 * that the encryption key in the parent node does not appear in any
	 * other node of the tree" (section 12.4.3.1). */
	for (uint32_t x = 0; x < w; x++) {
		const struct mls_bytes *k = mls_tree_node_key(t, x);
		if (k)
			keys[n++] = k;
	}
	TRY_GOTO(unique(keys, n, "an encryption key"), out);
	n = 0;
	for (uint32_t l = 0; l < t->n_leaves; l++) {
		const struct mls_leaf_node *leaf = mls_tree_leaf(t, l);
		if (leaf)
			keys[n++] = &leaf->signature_key;
	}
	TRY_GOTO(unique(keys, n, "a signature key"), out);
out:
	free(keys);
	return rc;
}

/* ---- Unmerged leaves ----------------------------------------------------- */

/* Binary search: every list was checked strictly increasing first. */
static bool lists(const struct mls_parent_node *pn, uint32_t leaf)
{
	size_t lo = 0, hi = pn->unmerged_leaves.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v = pn->unmerged_leaves.v[mid];
		if (v == leaf)
			return true;
		if (v < leaf)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int unmerged_sorted(const struct mls_tree *t, uint32_t p)
{
	const struct mls_parent_node *pn = &t->nodes[p].parent;
	/* "The entries in the unmerged_leaves vector MUST be sorted in
	 * increasing order." (and a leaf is listed once) */
	for (size_t i = 1; i < pn->unmerged_leaves.n; i++)
		ENSURE(pn->unmerged_leaves.v[i - 1] < pn->unmerged_leaves.v[i], AIM_ERR_VERIFY,
		       "node %u: unmerged_leaves not strictly increasing", p);
	return 0;
}

static int unmerged_ok(const struct mls_tree *t, uint32_t p)
{
	const struct mls_parent_node *pn = &t->nodes[p].parent;
	for (size_t i = 0; i < pn->unmerged_leaves.n; i++) {
		uint32_t l = pn->unmerged_leaves.v[i];
		/* "Verify that the entry represents a non-blank leaf node that
		 * is a descendant of the parent node." */
		ENSURE(mls_tree_leaf(t, l) && mls_tm_in_subtree(mls_tm_leaf_to_node(l), p), AIM_ERR_VERIFY,
		       "node %u: unmerged leaf %u is blank or not below it", p, l);
		/* "Verify that every non-blank intermediate node between the leaf
		 * node and the parent node also has an entry for the leaf node in
		 * its unmerged_leaves." */
		uint32_t dp[MLS_TM_MAX_DEPTH];
		size_t n = mls_tm_direct_path(mls_tm_leaf_to_node(l), t->n_leaves, dp);
		for (size_t j = 0; j < n && dp[j] != p; j++) {
			const struct mls_parent_node *q = mls_tree_parent_node(t, dp[j]);
			ENSURE(!q || lists(q, l), AIM_ERR_VERIFY,
			       "node %u lists unmerged leaf %u but node %u does not", p, l, dp[j]);
		}
	}
	return 0;
}

/* ---- The whole tree ------------------------------------------------------ */

int mls_tree_validate(const struct mls_tree *t, struct aim_bytes group_id,
		      struct aim_bytes tree_hash)
{
	const struct aim_suite *cs = t->suite;
	ENSURE(cs && t->n_leaves > 0, AIM_ERR_INVALID, "empty tree");
	uint32_t w = mls_tm_width(t->n_leaves);
	/* No trailing blanks: the last leaf of a truncated tree is a member,
	 * or the tree would have been truncated / encoded shorter. Only the
	 * right half may hold the last member. */
	ENSURE(t->n_leaves == 1 || !mls_tree_subtree_blank(t, mls_tm_right(mls_tm_root(t->n_leaves))),
	       AIM_ERR_VERIFY, "tree has a blank right half (trailing blanks)");
	ENSURE(t->nodes[w - 1].type != MLS_NODE_BLANK || t->n_leaves > 1, AIM_ERR_VERIFY,
	       "tree without members");
	for (uint32_t x = 1; x < w; x += 2)
		if (t->nodes[x].type == MLS_NODE_PARENT)
			TRY(unmerged_sorted(t, x));
	for (uint32_t x = 0; x < w; x++) {
		const struct mls_node *n = &t->nodes[x];
		ENSURE(n->type == MLS_NODE_BLANK ||
			       n->type == (mls_tm_is_leaf(x) ? MLS_NODE_LEAF : MLS_NODE_PARENT),
		       AIM_ERR_INVALID, "node %u has type %u", x, n->type);
		if (n->type == MLS_NODE_PARENT) {
			ENSURE(n->parent.encryption_key.len == cs->kem_npk, AIM_ERR_VERIFY,
			       "node %u: encryption key of %zu bytes", x,
			       n->parent.encryption_key.len);
			TRY(unmerged_ok(t, x));
		} else if (n->type == MLS_NODE_LEAF) {
			const struct mls_leaf_node *leaf = &n->leaf;
			ENSURE(leaf->encryption_key.len == cs->kem_npk &&
				       leaf->signature_key.len == cs->sig_npk,
			       AIM_ERR_VERIFY, "leaf %u: key of the wrong length", x / 2);
			/* "Verify that the signature on the LeafNode is valid
			 * using signature_key." */
			if (mls_leaf_node_verify_signature(cs, leaf, group_id, x / 2) != 0) {
				char why[256];
				snprintf(why, sizeof why, "%s", aim_errmsg());
				return aim_fail(AIM_ERR_VERIFY, "leaf %u: bad signature (%s)", x / 2,
						why);
			}
		}
	}
	TRY(keys_unique(t));
	/* "For each non-empty parent node, verify that it is "parent-hash
	 * valid"" */
	TRY(mls_tree_verify_parent_hashes(t));
	/* "Verify that the tree hash of the ratchet tree matches the tree_hash
	 * field in GroupInfo." */
	if (tree_hash.len) {
		uint8_t h[AIM_MAX_HASH];
		TRY(mls_tree_hash(t, h));
		ENSURE(aim_ct_equal(h, cs->nh, tree_hash.p, tree_hash.len), AIM_ERR_VERIFY,
		       "tree hash does not match");
	}
	return 0;
}
