/* Tree hashes (RFC 9420 section 7.8) and parent hashes (section 7.9). */
#include "mls/codec_int.h"
#include "mls/tree.h"

#include <stdlib.h>
#include <string.h>

/* A hashing pass: leaves in ex[] are treated as blank and dropped from
 * every unmerged_leaves list (the "original" tree of section 7.9); memo,
 * when set, receives the hash of every node visited. A pass without ex
 * reads and fills the tree's cache (t->hc); with ex it neither reads nor
 * fills it (those are not the tree's hashes). */
struct th_pass {
	const struct mls_tree *t;
	const uint8_t *ex; /* bitmap over leaf indices, or NULL */
	uint8_t (*memo)[AIM_MAX_HASH];
};

static bool is_excluded(const struct th_pass *ps, uint32_t leaf)
{
	return ps->ex && leaf < ps->t->n_leaves && (ps->ex[leaf / 8] >> (leaf % 8)) & 1;
}

static int finish(const struct mls_tree *t, struct aim_buf *b, uint8_t out[AIM_MAX_HASH])
{
	int rc = aim_hash(t->suite->hash, aim_buf_bytes(b), out);
	aim_buf_free(b);
	return rc;
}

/* The cache entry of x a pass may use, or NULL. */
static struct mls_tree_hash_cache *cache_of(const struct th_pass *ps, uint32_t x)
{
	return ps->ex || !ps->t->hc ? NULL : &ps->t->hc[x];
}

static void remember(const struct th_pass *ps, uint32_t x, const uint8_t *h)
{
	struct mls_tree_hash_cache *c = cache_of(ps, x);
	size_t nh = ps->t->suite->nh;
	if (c) {
		memcpy(c->h, h, nh);
		c->ok = true;
	}
	if (ps->memo)
		memcpy(ps->memo[x], h, nh);
}

/* TreeHashInput of node x, hashed into out. */
static int th_node(const struct th_pass *ps, uint32_t x, uint8_t out[AIM_MAX_HASH])
{
	const struct mls_tree *t = ps->t;
	const struct mls_node *n = &t->nodes[x];
	size_t nh = t->suite->nh;
	/* a cached hash stands for its whole subtree; a memo pass wants every
	 * node, so it walks down (still filling the cache) */
	const struct mls_tree_hash_cache *c = cache_of(ps, x);
	if (c && c->ok && !ps->memo) {
		memcpy(out, c->h, nh);
		return 0;
	}
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);

	if (mls_tm_is_leaf(x)) {
		/* struct { uint32 leaf_index; optional<LeafNode> leaf_node; } */
		bool present = n->type == MLS_NODE_LEAF && !is_excluded(ps, x / 2);
		if (mls_tls_write_u8(&b, 1) || mls_tls_write_u32(&b, x / 2) ||
		    mls_tls_write_u8(&b, present ? 1 : 0) ||
		    (present && mls_leaf_node_encode(&b, &n->leaf))) {
			aim_buf_free(&b);
			return -1;
		}
		TRY(finish(t, &b, out));
		remember(ps, x, out);
		return 0;
	}

	uint8_t lh[AIM_MAX_HASH], rh[AIM_MAX_HASH];
	TRY(th_node(ps, mls_tm_left(x), lh));
	TRY(th_node(ps, mls_tm_right(x), rh));
	/* struct { optional<ParentNode> parent_node; opaque left_hash<V>;
	 * opaque right_hash<V>; } */
	int rc = 0;
	uint32_t *keep = NULL;
	TRY_GOTO(mls_tls_write_u8(&b, 2), fail);
	if (n->type == MLS_NODE_PARENT) {
		struct mls_parent_node view = n->parent;
		if (ps->ex && view.unmerged_leaves.n) {
			size_t k = 0;
			keep = aim_xcalloc(view.unmerged_leaves.n, sizeof *keep);
			for (size_t i = 0; i < view.unmerged_leaves.n; i++)
				if (!is_excluded(ps, view.unmerged_leaves.v[i]))
					keep[k++] = view.unmerged_leaves.v[i];
			view.unmerged_leaves.v = keep;
			view.unmerged_leaves.n = k;
		}
		TRY_GOTO(mls_tls_write_u8(&b, 1), fail);
		TRY_GOTO(mls_parent_node_encode(&b, &view), fail);
	} else {
		TRY_GOTO(mls_tls_write_u8(&b, 0), fail);
	}
	TRY_GOTO(mls_tls_write_vec(&b, lh, nh), fail);
	TRY_GOTO(mls_tls_write_vec(&b, rh, nh), fail);
	free(keep);
	TRY(finish(t, &b, out));
	remember(ps, x, out);
	return 0;
fail:
	free(keep);
	aim_buf_free(&b);
	return rc;
}

static int check_tree(const struct mls_tree *t)
{
	ENSURE(t->suite, AIM_ERR_INVALID, "tree without a cipher suite");
	ENSURE(t->n_leaves > 0, AIM_ERR_INVALID, "empty tree");
	return 0;
}

int mls_tree_node_hash(const struct mls_tree *t, uint32_t x, uint8_t out[AIM_MAX_HASH])
{
	TRY(check_tree(t));
	ENSURE(x < mls_tm_width(t->n_leaves), AIM_ERR_INVALID, "node %u outside the tree", x);
	struct th_pass ps = { t, NULL, NULL };
	return th_node(&ps, x, out);
}

int mls_tree_hash(const struct mls_tree *t, uint8_t out[AIM_MAX_HASH])
{
	TRY(check_tree(t));
	return mls_tree_node_hash(t, mls_tm_root(t->n_leaves), out);
}

int mls_tree_all_hashes(const struct mls_tree *t, uint8_t (*out)[AIM_MAX_HASH])
{
	TRY(check_tree(t));
	uint8_t root[AIM_MAX_HASH];
	struct th_pass ps = { t, NULL, out };
	return th_node(&ps, mls_tm_root(t->n_leaves), root);
}

int mls_tree_parent_hash(const struct mls_tree *t, uint32_t p, struct aim_bytes s_tree_hash,
			 uint8_t out[AIM_MAX_HASH])
{
	const struct mls_parent_node *pn = mls_tree_parent_node(t, p);
	ENSURE(pn, AIM_ERR_INVALID, "parent hash of blank node %u", p);
	/* struct { HPKEPublicKey encryption_key; opaque parent_hash<V>;
	 * opaque original_sibling_tree_hash<V>; } ParentHashInput; */
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	if (mls_write_bytes(&b, &pn->encryption_key) || mls_write_bytes(&b, &pn->parent_hash) ||
	    mls_tls_write_vec_bytes(&b, s_tree_hash)) {
		aim_buf_free(&b);
		return -1;
	}
	return finish(t, &b, out);
}

/* ---- Verifying parent hashes (section 7.9.2) ---------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The parent_hash field of node d, or NULL when it has none. */
static const struct mls_bytes *parent_hash_field(const struct mls_tree *t, uint32_t d)
{
	const struct mls_node *n = &t->nodes[d];
	if (n->type == MLS_NODE_PARENT)
		return &n->parent.parent_hash;
	if (n->type == MLS_NODE_LEAF && n->leaf.source == MLS_LEAF_SOURCE_COMMIT)
		return &n->leaf.parent_hash;
	return NULL;
}

/* "D is in the resolution of C, and the intersection of P's
 * unmerged_leaves with the subtree under C is equal to the resolution of C
 * with D removed." res is the resolution of c; d one of its entries. */
static bool unmerged_match(const struct mls_parent_node *pn, uint32_t c, const uint32_t *res,
			   size_t nres, size_t d_at, uint32_t *scratch_a, uint32_t *scratch_b)
{
	size_t na = 0, nb = 0;
	for (size_t i = 0; i < pn->unmerged_leaves.n; i++) {
		uint32_t x = mls_tm_leaf_to_node(pn->unmerged_leaves.v[i]);
		if (mls_tm_in_subtree(x, c))
			scratch_a[na++] = x;
	}
	for (size_t i = 0; i < nres; i++)
		if (i != d_at)
			scratch_b[nb++] = res[i];
	if (na != nb)
		return false;
	qsort(scratch_a, na, sizeof *scratch_a, cmp_u32);
	qsort(scratch_b, nb, sizeof *scratch_b, cmp_u32);
	return memcmp(scratch_a, scratch_b, na * sizeof *scratch_a) == 0;
}

/* The number of descendants of non-blank parent p that chain to it. */
static int count_chains(const struct mls_tree *t, uint32_t p, uint8_t (*hashes)[AIM_MAX_HASH],
			uint8_t *bitmap, unsigned *count)
{
	const struct mls_parent_node *pn = &t->nodes[p].parent;
	size_t nh = t->suite->nh;
	*count = 0;
	for (int side = 0; side < 2; side++) {
		uint32_t c = side ? mls_tm_right(p) : mls_tm_left(p);
		uint32_t s = side ? mls_tm_left(p) : mls_tm_right(p);
		/* original_sibling_tree_hash: the tree hash of S with P's
		 * unmerged leaves blanked; the cached hash when none is under S */
		uint8_t sth[AIM_MAX_HASH];
		bool touched = false;
		for (size_t i = 0; i < pn->unmerged_leaves.n; i++)
			touched |= mls_tm_in_subtree(mls_tm_leaf_to_node(pn->unmerged_leaves.v[i]), s);
		if (touched) {
			/* bitmap is all zero between uses */
			for (size_t i = 0; i < pn->unmerged_leaves.n; i++) {
				uint32_t l = pn->unmerged_leaves.v[i];
				bitmap[l / 8] |= (uint8_t)(1u << (l % 8));
			}
			struct th_pass ps = { t, bitmap, NULL };
			int rc = th_node(&ps, s, sth);
			for (size_t i = 0; i < pn->unmerged_leaves.n; i++)
				bitmap[pn->unmerged_leaves.v[i] / 8] = 0;
			TRY(rc);
		} else {
			memcpy(sth, hashes[s], nh);
		}
		uint8_t ph[AIM_MAX_HASH];
		TRY(mls_tree_parent_hash(t, p, AIM_BYTES(sth, nh), ph));

		struct mls_u32_list res;
		TRY(mls_tree_resolution(t, c, NULL, 0, &res));
		size_t cap = res.n + pn->unmerged_leaves.n + 1;
		uint32_t *sa = aim_xcalloc(cap, sizeof *sa);
		uint32_t *sb = aim_xcalloc(cap, sizeof *sb);
		for (size_t i = 0; i < res.n; i++) {
			const struct mls_bytes *f = parent_hash_field(t, res.v[i]);
			if (!f || f->len != nh || memcmp(f->p, ph, nh) != 0)
				continue;
			if (unmerged_match(pn, c, res.v, res.n, i, sa, sb))
				(*count)++;
		}
		free(sa);
		free(sb);
		free(res.v);
	}
	return 0;
}

int mls_tree_verify_parent_hashes(const struct mls_tree *t)
{
	TRY(check_tree(t));
	uint32_t w = mls_tm_width(t->n_leaves);
	uint8_t (*hashes)[AIM_MAX_HASH] = aim_xcalloc(w, sizeof *hashes);
	uint8_t *bitmap = aim_xcalloc(t->n_leaves / 8 + 1, 1);
	int rc = 0;
	for (uint32_t p = 1; p < w; p += 2) {
		const struct mls_parent_node *pn = mls_tree_parent_node(t, p);
		for (size_t i = 0; pn && i < pn->unmerged_leaves.n; i++)
			ENSURE_GOTO(pn->unmerged_leaves.v[i] < t->n_leaves, out, AIM_ERR_VERIFY,
				    "node %u: unmerged leaf outside the tree", p);
	}
	TRY_GOTO(mls_tree_all_hashes(t, hashes), out);
	for (uint32_t p = 1; p < w; p += 2) {
		if (t->nodes[p].type != MLS_NODE_PARENT)
			continue;
		unsigned n;
		TRY_GOTO(count_chains(t, p, hashes, bitmap, &n), out);
		/* "the new member MUST authenticate that each non-blank parent
		 * node P is parent-hash valid" -- top down: exactly one
		 * descendant for which P is parent-hash valid. */
		ENSURE_GOTO(n == 1, out, AIM_ERR_VERIFY,
			    "parent node %u is not parent-hash valid (%u chains)", p, n);
	}
out:
	free(hashes);
	free(bitmap);
	return rc;
}
