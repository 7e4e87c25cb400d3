/* The public ratchet tree: storage, encoding, resolution, filtered direct
 * paths, adding / updating / removing leaves (RFC 9420 sections 4.1, 7.7,
 * 12.1.1 - 12.1.3, 12.4.3.3). */
#include "mls/tree.h"

#include <stdlib.h>
#include <string.h>

void mls_tree_init(struct mls_tree *t, const struct aim_suite *cs)
{
	t->suite = cs;
	t->n_leaves = 0;
	t->nodes = NULL;
	t->hc = NULL;
}

static int copy_node(struct mls_node *dst, const struct mls_node *src);

/* Drops t's hold on the contents of node x: frees them unless another tree
 * still shares them. The node is left blank (zeroed). */
static void release_node(struct mls_tree *t, uint32_t x)
{
	uint32_t *sh = t->hc ? t->hc[x].share : NULL;
	if (sh) {
		t->hc[x].share = NULL;
		if (__atomic_sub_fetch(sh, 1, __ATOMIC_ACQ_REL) != 0) {
			memset(&t->nodes[x], 0, sizeof t->nodes[x]);
			return;
		}
		free(sh);
	}
	mls_node_free(&t->nodes[x]);
	memset(&t->nodes[x], 0, sizeof t->nodes[x]);
}

/* Makes the contents of node x t's own (a deep copy while shared). */
static int unshare_node(struct mls_tree *t, uint32_t x)
{
	uint32_t *sh = t->hc[x].share;
	if (!sh)
		return 0;
	if (__atomic_load_n(sh, __ATOMIC_ACQUIRE) > 1) {
		struct mls_node mine;
		if (copy_node(&mine, &t->nodes[x]) != 0) {
			mls_node_free(&mine);
			return -1;
		}
		release_node(t, x);
		t->nodes[x] = mine;
		return 0;
	}
	/* the last holder: the contents are ours */
	t->hc[x].share = NULL;
	free(sh);
	return 0;
}

/* Forgets the cached hashes of x and its direct path. */
static void forget_hashes(struct mls_tree *t, uint32_t x)
{
	uint32_t root = mls_tm_root(t->n_leaves);
	for (;;) {
		t->hc[x].ok = false;
		if (x == root)
			break;
		x = mls_tm_parent(x, t->n_leaves);
	}
}

int mls_tree_touch(struct mls_tree *t, uint32_t x)
{
	if (!t->hc || x >= mls_tm_width(t->n_leaves))
		return 0;
	TRY(unshare_node(t, x));
	forget_hashes(t, x);
	return 0;
}

void mls_tree_free(struct mls_tree *t)
{
	if (!t)
		return;
	uint32_t w = mls_tm_width(t->n_leaves);
	for (uint32_t i = 0; i < w; i++)
		release_node(t, i);
	free(t->nodes);
	free(t->hc);
	t->nodes = NULL;
	t->hc = NULL;
	t->n_leaves = 0;
}

static void blank_node(struct mls_tree *t, uint32_t x)
{
	release_node(t, x);
	t->nodes[x].type = MLS_NODE_BLANK;
	if (t->hc)
		forget_hashes(t, x);
}

/* Grows or shrinks the node array to n_leaves (new nodes blank; dropped
 * nodes must already be blank or are freed here). */
static void resize(struct mls_tree *t, uint32_t n_leaves)
{
	uint32_t ow = mls_tm_width(t->n_leaves), nw = mls_tm_width(n_leaves);
	for (uint32_t i = nw; i < ow; i++)
		release_node(t, i);
	if (nw == 0) {
		free(t->nodes);
		free(t->hc);
		t->nodes = NULL;
		t->hc = NULL;
	} else {
		/* A node's subtree, hence its tree hash, does not depend on the
		 * width: cached hashes of the nodes kept stay valid; the new root
		 * (growing) has none yet, and the root of a truncated tree is a
		 * node that was there before. */
		t->nodes = aim_xrealloc(t->nodes, (size_t)nw * sizeof *t->nodes);
		t->hc = aim_xrealloc(t->hc, (size_t)nw * sizeof *t->hc);
		if (nw > ow) {
			memset(t->nodes + ow, 0, (size_t)(nw - ow) * sizeof *t->nodes);
			memset(t->hc + ow, 0, (size_t)(nw - ow) * sizeof *t->hc);
		}
		if (ow == 0)
			memset(t->hc, 0, (size_t)nw * sizeof *t->hc);
	}
	t->n_leaves = n_leaves;
}

static int copy_node(struct mls_node *dst, const struct mls_node *src)
{
	memset(dst, 0, sizeof *dst);
	dst->type = src->type;
	if (src->type == MLS_NODE_LEAF)
		return mls_leaf_node_copy(&dst->leaf, &src->leaf);
	if (src->type == MLS_NODE_PARENT) {
		const struct mls_parent_node *s = &src->parent;
		struct mls_parent_node *d = &dst->parent;
		TRY(mls_bytes_copy(&d->encryption_key, &s->encryption_key));
		TRY(mls_bytes_copy(&d->parent_hash, &s->parent_hash));
		if (s->unmerged_leaves.n) {
			d->unmerged_leaves.v = aim_xcalloc(s->unmerged_leaves.n, sizeof(uint32_t));
			memcpy(d->unmerged_leaves.v, s->unmerged_leaves.v,
			       s->unmerged_leaves.n * sizeof(uint32_t));
			d->unmerged_leaves.n = s->unmerged_leaves.n;
		}
	}
	return 0;
}

int mls_tree_copy(struct mls_tree *dst, const struct mls_tree *src)
{
	mls_tree_init(dst, src->suite);
	uint32_t w = mls_tm_width(src->n_leaves);
	if (w == 0)
		return 0;
	dst->nodes = aim_xcalloc(w, sizeof *dst->nodes);
	dst->hc = aim_xcalloc(w, sizeof *dst->hc);
	dst->n_leaves = src->n_leaves;
	if (!src->hc) {
		for (uint32_t i = 0; i < w; i++) {
			if (copy_node(&dst->nodes[i], &src->nodes[i]) != 0) {
				mls_tree_free(dst);
				return -1;
			}
		}
		return 0;
	}
	/* Share every non-blank node's contents (the count lives beside the
	 * node in both trees); hashes come along, valid for the copy too. */
	memcpy(dst->hc, src->hc, (size_t)w * sizeof *dst->hc);
	for (uint32_t i = 0; i < w; i++) {
		if (src->nodes[i].type == MLS_NODE_BLANK) {
			dst->nodes[i].type = MLS_NODE_BLANK;
			dst->hc[i].share = NULL;
			continue;
		}
		uint32_t *sh = src->hc[i].share;
		if (!sh) {
			sh = aim_xcalloc(1, sizeof *sh);
			*sh = 1;
			src->hc[i].share = sh;
		}
		__atomic_add_fetch(sh, 1, __ATOMIC_ACQ_REL);
		dst->hc[i].share = sh;
		dst->nodes[i] = src->nodes[i];
	}
	return 0;
}

int mls_tree_create(struct mls_tree *t, const struct aim_suite *cs,
		    const struct mls_leaf_node *leaf)
{
	mls_tree_init(t, cs);
	resize(t, 1);
	t->nodes[0].type = MLS_NODE_LEAF;
	if (mls_leaf_node_copy(&t->nodes[0].leaf, leaf) != 0) {
		mls_tree_free(t);
		return -1;
	}
	return 0;
}

int mls_tree_from_ratchet_tree(struct mls_tree *t, const struct aim_suite *cs,
			       struct mls_ratchet_tree *rt)
{
	int rc = 0;
	mls_tree_init(t, cs);
	ENSURE_GOTO(cs, fail, AIM_ERR_INVALID, "ratchet tree without a cipher suite");
	ENSURE_GOTO(rt->n > 0, fail, AIM_ERR_DECODE, "empty ratchet tree");
	ENSURE_GOTO(rt->n <= mls_tm_width(MLS_TM_MAX_LEAVES), fail, AIM_ERR_LIMIT,
		    "ratchet tree of %zu nodes", rt->n);
	/* "The receiver MUST check that the last node in ratchet_tree is
	 * non-blank" (section 12.4.3.3); a parent there would leave the
	 * rightmost leaves blank, which truncation never leaves behind. */
	ENSURE_GOTO(rt->nodes[rt->n - 1].type == MLS_NODE_LEAF, fail, AIM_ERR_DECODE,
		    "ratchet tree does not end with a leaf");
	for (size_t i = 0; i < rt->n; i++) {
		uint8_t ty = rt->nodes[i].type;
		ENSURE_GOTO(ty == MLS_NODE_BLANK || ty == (i % 2 ? MLS_NODE_PARENT : MLS_NODE_LEAF),
			    fail, AIM_ERR_DECODE, "ratchet tree node %zu has type %u", i, ty);
	}
	uint32_t n_leaves = 1;
	while (mls_tm_width(n_leaves) < rt->n)
		n_leaves *= 2;
	t->nodes = rt->nodes;
	t->n_leaves = 0;
	/* Take the array over, then pad it with blanks to the full width. */
	{
		uint32_t have = (uint32_t)rt->n, w = mls_tm_width(n_leaves);
		t->nodes = aim_xrealloc(t->nodes, (size_t)w * sizeof *t->nodes);
		if (w > have)
			memset(t->nodes + have, 0, (size_t)(w - have) * sizeof *t->nodes);
		t->hc = aim_xcalloc(w, sizeof *t->hc);
		t->n_leaves = n_leaves;
		rt->nodes = NULL;
		rt->n = 0;
	}
	for (uint32_t i = 1; i < mls_tm_width(n_leaves); i += 2) {
		const struct mls_u32_list *u = &t->nodes[i].parent.unmerged_leaves;
		if (t->nodes[i].type != MLS_NODE_PARENT)
			continue;
		for (size_t j = 0; j < u->n; j++)
			ENSURE_GOTO(u->v[j] < n_leaves, fail, AIM_ERR_DECODE,
				    "node %u: unmerged leaf %u outside the tree", i, u->v[j]);
	}
	return 0;
fail:
	mls_ratchet_tree_free(rt);
	mls_tree_free(t);
	return rc;
}

int mls_tree_parse(struct mls_tree *t, const struct aim_suite *cs, const uint8_t *p, size_t len)
{
	struct mls_ratchet_tree rt;
	mls_tree_init(t, cs);
	TRY(mls_ratchet_tree_parse(p, len, &rt));
	return mls_tree_from_ratchet_tree(t, cs, &rt);
}

int mls_tree_encode(struct aim_buf *w, const struct mls_tree *t)
{
	uint32_t n = mls_tm_width(t->n_leaves);
	while (n > 0 && t->nodes[n - 1].type == MLS_NODE_BLANK)
		n--;
	ENSURE(n > 0, AIM_ERR_INVALID, "encoding an empty ratchet tree");
	/* The codec reads the nodes; the view borrows them. */
	struct mls_ratchet_tree view = { t->nodes, n };
	return mls_ratchet_tree_encode(w, &view);
}

/* ---- Accessors ----------------------------------------------------------- */

bool mls_tree_is_blank(const struct mls_tree *t, uint32_t node)
{
	return node >= mls_tm_width(t->n_leaves) || t->nodes[node].type == MLS_NODE_BLANK;
}

const struct mls_leaf_node *mls_tree_leaf(const struct mls_tree *t, uint32_t leaf)
{
	if (leaf >= t->n_leaves || t->nodes[2 * leaf].type != MLS_NODE_LEAF)
		return NULL;
	return &t->nodes[2 * leaf].leaf;
}

const struct mls_parent_node *mls_tree_parent_node(const struct mls_tree *t, uint32_t x)
{
	if (x >= mls_tm_width(t->n_leaves) || t->nodes[x].type != MLS_NODE_PARENT)
		return NULL;
	return &t->nodes[x].parent;
}

const struct mls_bytes *mls_tree_node_key(const struct mls_tree *t, uint32_t node)
{
	if (node >= mls_tm_width(t->n_leaves))
		return NULL;
	if (t->nodes[node].type == MLS_NODE_LEAF)
		return &t->nodes[node].leaf.encryption_key;
	if (t->nodes[node].type == MLS_NODE_PARENT)
		return &t->nodes[node].parent.encryption_key;
	return NULL;
}

uint32_t mls_tree_member_count(const struct mls_tree *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->n_leaves; i++)
		n += t->nodes[2 * i].type == MLS_NODE_LEAF;
	return n;
}

uint32_t mls_tree_n_leaves(const struct mls_tree *t)
{
	return t->n_leaves;
}

int mls_tree_find_leaf(const struct mls_tree *t, const struct mls_leaf_node *leaf,
		       uint32_t *index)
{
	int rc = -1;
	struct aim_buf want, got;
	aim_buf_init(&want, MLS_MAX_MESSAGE);
	aim_buf_init(&got, MLS_MAX_MESSAGE);
	TRY_GOTO(mls_leaf_node_encode(&want, leaf), out);
	for (uint32_t i = 0; i < t->n_leaves; i++) {
		const struct mls_leaf_node *l = mls_tree_leaf(t, i);
		/* cheap filter first: the encryption key is unique per member */
		if (!l || !mls_bytes_equal(&l->encryption_key, &leaf->encryption_key))
			continue;
		aim_buf_reset(&got);
		TRY_GOTO(mls_leaf_node_encode(&got, l), out);
		if (got.len == want.len && memcmp(got.data, want.data, got.len) == 0) {
			*index = i;
			rc = 0;
			goto out;
		}
	}
	rc = aim_fail(AIM_ERR_NOTFOUND, "leaf node not in the tree");
out:
	aim_buf_free(&want);
	aim_buf_free(&got);
	return rc;
}

/* ---- Resolution and filtered direct path -------------------------------- */

struct u32_vec {
	uint32_t *v;
	size_t n, cap;
};

static int push(struct u32_vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		/* At most one entry per node plus the unmerged leaves listed. */
		ENSURE(a->cap < (size_t)1 << 24, AIM_ERR_LIMIT, "resolution too long");
		a->cap = a->cap ? 2 * a->cap : 16;
		a->v = aim_xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = x;
	return 0;
}

static bool excluded(uint32_t leaf, const uint32_t *exclude, size_t n_exclude)
{
	for (size_t i = 0; i < n_exclude; i++)
		if (exclude[i] == leaf)
			return true;
	return false;
}

static int resolve(const struct mls_tree *t, uint32_t x, const uint32_t *ex, size_t nex,
		   struct u32_vec *out)
{
	const struct mls_node *n = &t->nodes[x];
	if (n->type == MLS_NODE_LEAF) {
		if (!excluded(x / 2, ex, nex))
			TRY(push(out, x));
		return 0;
	}
	if (n->type == MLS_NODE_PARENT) {
		/* "The resolution of a non-blank node comprises the node itself,
		 * followed by its list of unmerged leaves" */
		TRY(push(out, x));
		for (size_t i = 0; i < n->parent.unmerged_leaves.n; i++) {
			uint32_t l = n->parent.unmerged_leaves.v[i];
			if (!excluded(l, ex, nex))
				TRY(push(out, mls_tm_leaf_to_node(l)));
		}
		return 0;
	}
	if (mls_tm_is_leaf(x))
		return 0;
	TRY(resolve(t, mls_tm_left(x), ex, nex, out));
	return resolve(t, mls_tm_right(x), ex, nex, out);
}

int mls_tree_resolution(const struct mls_tree *t, uint32_t x, const uint32_t *exclude,
			size_t n_exclude, struct mls_u32_list *out)
{
	struct u32_vec a = { NULL, 0, 0 };
	out->v = NULL;
	out->n = 0;
	ENSURE(x < mls_tm_width(t->n_leaves), AIM_ERR_INVALID, "node %u outside the tree", x);
	if (resolve(t, x, exclude, n_exclude, &a) != 0) {
		free(a.v);
		return -1;
	}
	out->v = a.v;
	out->n = a.n;
	return 0;
}

bool mls_tree_subtree_blank(const struct mls_tree *t, uint32_t x)
{
	uint32_t span = ((uint32_t)1 << mls_tm_level(x)) - 1;
	uint32_t w = mls_tm_width(t->n_leaves);
	for (uint32_t i = x - span; i <= x + span && i < w; i++)
		if (t->nodes[i].type != MLS_NODE_BLANK)
			return false;
	return true;
}

size_t mls_tree_filtered_direct_path(const struct mls_tree *t, uint32_t leaf,
				     uint32_t fdp[MLS_TM_MAX_DEPTH], uint32_t copath[MLS_TM_MAX_DEPTH])
{
	uint32_t dp[MLS_TM_MAX_DEPTH], cp[MLS_TM_MAX_DEPTH];
	uint32_t x = mls_tm_leaf_to_node(leaf);
	size_t n = mls_tm_direct_path(x, t->n_leaves, dp);
	mls_tm_copath(x, t->n_leaves, cp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		/* "with any node removed whose child on the copath of L has an
		 * empty resolution" */
		if (mls_tree_subtree_blank(t, cp[i]))
			continue;
		if (fdp)
			fdp[k] = dp[i];
		if (copath)
			copath[k] = cp[i];
		k++;
	}
	return k;
}

/* ---- Changing the tree -------------------------------------------------- */

void mls_tree_blank_path(struct mls_tree *t, uint32_t leaf)
{
	uint32_t dp[MLS_TM_MAX_DEPTH];
	size_t n = mls_tm_direct_path(mls_tm_leaf_to_node(leaf), t->n_leaves, dp);
	for (size_t i = 0; i < n; i++)
		blank_node(t, dp[i]);
}

void mls_tree_truncate(struct mls_tree *t)
{
	/* "Truncate the tree by removing the right subtree until there is at
	 * least one non-blank leaf node in the right subtree." */
	while (t->n_leaves > 1 && mls_tree_subtree_blank(t, mls_tm_right(mls_tm_root(t->n_leaves))))
		resize(t, t->n_leaves / 2);
}

static void insert_sorted(struct mls_u32_list *l, uint32_t v)
{
	size_t i = 0;
	while (i < l->n && l->v[i] < v)
		i++;
	if (i < l->n && l->v[i] == v)
		return;
	l->v = aim_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	memmove(l->v + i + 1, l->v + i, (l->n - i) * sizeof *l->v);
	l->v[i] = v;
	l->n++;
}

int mls_tree_add_leaf(struct mls_tree *t, const struct mls_leaf_node *leaf, uint32_t *index)
{
	uint32_t l = 0;
	while (l < t->n_leaves && t->nodes[2 * l].type != MLS_NODE_BLANK)
		l++;
	if (l == t->n_leaves) {
		ENSURE(t->n_leaves < MLS_TM_MAX_LEAVES, AIM_ERR_LIMIT, "tree full (%u leaves)",
		       t->n_leaves);
		resize(t, t->n_leaves ? 2 * t->n_leaves : 1);
	}
	struct mls_node n;
	memset(&n, 0, sizeof n);
	n.type = MLS_NODE_LEAF;
	TRY(mls_leaf_node_copy(&n.leaf, leaf));
	blank_node(t, 2 * l);
	t->nodes[2 * l] = n;
	TRY(mls_tree_touch(t, 2 * l)); /* the new leaf (blank_node forgot its path) */
	/* "For each non-blank intermediate node along the path from the leaf L
	 * to the root, add L's leaf index to the unmerged_leaves list" (kept in
	 * increasing order: "The entries in the unmerged_leaves vector MUST be
	 * sorted in increasing order") */
	uint32_t dp[MLS_TM_MAX_DEPTH];
	size_t k = mls_tm_direct_path(2 * l, t->n_leaves, dp);
	for (size_t i = 0; i < k; i++)
		if (t->nodes[dp[i]].type == MLS_NODE_PARENT) {
			TRY(mls_tree_touch(t, dp[i]));
			insert_sorted(&t->nodes[dp[i]].parent.unmerged_leaves, l);
		}
	if (index)
		*index = l;
	return 0;
}

int mls_tree_update_leaf(struct mls_tree *t, uint32_t index, const struct mls_leaf_node *leaf)
{
	ENSURE(mls_tree_leaf(t, index), AIM_ERR_INVALID, "update of blank leaf %u", index);
	struct mls_node n;
	memset(&n, 0, sizeof n);
	n.type = MLS_NODE_LEAF;
	TRY(mls_leaf_node_copy(&n.leaf, leaf));
	blank_node(t, 2 * index);
	t->nodes[2 * index] = n;
	TRY(mls_tree_touch(t, 2 * index));
	mls_tree_blank_path(t, index);
	return 0;
}

int mls_tree_remove_leaf(struct mls_tree *t, uint32_t index)
{
	/* "A Remove proposal is invalid if the removed field does not identify
	 * a non-blank leaf node." */
	ENSURE(mls_tree_leaf(t, index), AIM_ERR_INVALID, "remove of blank leaf %u", index);
	blank_node(t, 2 * index);
	mls_tree_blank_path(t, index);
	mls_tree_truncate(t);
	return 0;
}

int mls_tree_apply_proposal(struct mls_tree *t, const struct mls_proposal *p, uint32_t sender,
			    uint32_t *added)
{
	switch (p->type) {
	case MLS_PROPOSAL_ADD:
		return mls_tree_add_leaf(t, &p->add.key_package.leaf_node, added);
	case MLS_PROPOSAL_UPDATE:
		/* "If the LeafNode appears in an Update proposal, verify that
		 * leaf_node_source is set to update" */
		ENSURE(p->update.leaf_node.source == MLS_LEAF_SOURCE_UPDATE, AIM_ERR_INVALID,
		       "update with leaf_node_source %u", p->update.leaf_node.source);
		/* "... and that encryption_key represents a different public key
		 * than the encryption_key in the leaf node being replaced" */
		ENSURE(!mls_tree_leaf(t, sender) ||
			       !mls_bytes_equal(&mls_tree_leaf(t, sender)->encryption_key,
						&p->update.leaf_node.encryption_key),
		       AIM_ERR_INVALID, "update keeps the old encryption key");
		return mls_tree_update_leaf(t, sender, &p->update.leaf_node);
	case MLS_PROPOSAL_REMOVE:
		return mls_tree_remove_leaf(t, p->remove.removed);
	default:
		return aim_fail(AIM_ERR_INVALID, "proposal type %u does not change the tree",
				p->type);
	}
}
