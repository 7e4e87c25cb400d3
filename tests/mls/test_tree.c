/* Unit tests of the ratchet tree: tree math, resolution, add/remove/truncate,
 * tree and parent hashes, validation refusals, TreeKEM round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "mls/tls.h"
#include "mls/tree.h"

/* ---- Tree math ---------------------------------------------------------- */

static void test_math_basics(void **state)
{
	assert_int_equal(mls_tm_width(0), 0);
	assert_int_equal(mls_tm_width(1), 1);
	assert_int_equal(mls_tm_width(8), 15);
	assert_int_equal(mls_tm_root(1), 0);
	assert_int_equal(mls_tm_root(2), 1);
	assert_int_equal(mls_tm_root(8), 7);
	assert_int_equal(mls_tm_root(MLS_TM_MAX_LEAVES), MLS_TM_MAX_LEAVES - 1);
	assert_int_equal(mls_tm_level(0), 0);
	assert_int_equal(mls_tm_level(7), 3);
	assert_int_equal(mls_tm_level(11), 2);
	assert_int_equal(mls_tm_left(7), 3);
	assert_int_equal(mls_tm_right(7), 11);
	assert_int_equal(mls_tm_left(1), 0);
	assert_int_equal(mls_tm_right(1), 2);
	assert_int_equal(mls_tm_parent(0, 8), 1);
	assert_int_equal(mls_tm_parent(11, 8), 7);
	assert_int_equal(mls_tm_parent(3, 8), 7);
	assert_int_equal(mls_tm_sibling(3, 8), 11);
	assert_int_equal(mls_tm_sibling(12, 8), 14);
	assert_true(mls_tm_is_pow2(1));
	assert_true(mls_tm_is_pow2(64));
	assert_false(mls_tm_is_pow2(0));
	assert_false(mls_tm_is_pow2(6));
	assert_true(mls_tm_in_tree(14, 8));
	assert_false(mls_tm_in_tree(15, 8));
	assert_int_equal(mls_tm_leaf_to_node(5), 10);
	assert_int_equal(mls_tm_node_to_leaf(10), 5);
}

static void test_math_paths(void **state)
{
	uint32_t p[MLS_TM_MAX_DEPTH];
	/* The single-leaf tree: the leaf is the root, no paths at all. */
	assert_int_equal(mls_tm_direct_path(0, 1, p), 0);
	assert_int_equal(mls_tm_copath(0, 1, p), 0);
	/* Leaf 2 (node 4) in 8 leaves: direct path 5, 3, 7; copath 6, 1, 11. */
	assert_int_equal(mls_tm_direct_path(4, 8, p), 3);
	assert_int_equal(p[0], 5);
	assert_int_equal(p[1], 3);
	assert_int_equal(p[2], 7);
	assert_int_equal(mls_tm_copath(4, 8, p), 3);
	assert_int_equal(p[0], 6);
	assert_int_equal(p[1], 1);
	assert_int_equal(p[2], 11);
	/* The root's own paths are empty; a parent's direct path excludes it. */
	assert_int_equal(mls_tm_direct_path(7, 8, p), 0);
	assert_int_equal(mls_tm_direct_path(11, 8, p), 1);
	assert_int_equal(p[0], 7);
	/* The deepest tree we accept. */
	assert_int_equal(mls_tm_direct_path(0, MLS_TM_MAX_LEAVES, p), 16);
	assert_int_equal(p[15], MLS_TM_MAX_LEAVES - 1);
}

static void test_math_ancestor(void **state)
{
	assert_int_equal(mls_tm_common_ancestor(0, 2), 1);
	assert_int_equal(mls_tm_common_ancestor(0, 14), 7);
	assert_int_equal(mls_tm_common_ancestor(8, 14), 11);
	assert_int_equal(mls_tm_common_ancestor(4, 4), 4);
	assert_int_equal(mls_tm_common_ancestor(4, 3), 3);  /* 3 is an ancestor of 4 */
	assert_int_equal(mls_tm_common_ancestor(3, 4), 3);
	assert_int_equal(mls_tm_common_ancestor(12, 5), 7);
	assert_true(mls_tm_in_subtree(4, 3));
	assert_true(mls_tm_in_subtree(3, 3));
	assert_false(mls_tm_in_subtree(8, 3));
	assert_false(mls_tm_in_subtree(3, 2)); /* a leaf has no descendants */
	assert_true(mls_tm_in_subtree(14, 7));
	/* Exhaustive agreement with the semantic definition on 32 leaves. */
	for (uint32_t x = 0; x < mls_tm_width(32); x++) {
		for (uint32_t y = 0; y < mls_tm_width(32); y++) {
			uint32_t a = mls_tm_common_ancestor(x, y);
			assert_true(mls_tm_in_subtree(x, a) && mls_tm_in_subtree(y, a));
			if (!mls_tm_is_leaf(a)) {
				bool both_left = mls_tm_in_subtree(x, mls_tm_left(a)) &&
						 mls_tm_in_subtree(y, mls_tm_left(a));
				bool both_right = mls_tm_in_subtree(x, mls_tm_right(a)) &&
						  mls_tm_in_subtree(y, mls_tm_right(a));
				assert_false(both_left || both_right);
			}
		}
	}
}

/* ---- Helpers ------------------------------------------------------------- */

static const uint8_t gid_bytes[] = "test group";
#define GID AIM_BYTES(gid_bytes, sizeof gid_bytes - 1)

struct member {
	uint32_t leaf;
	struct aim_buf sig_sk;
	struct mls_leaf_node ln; /* its KeyPackage leaf node */
	struct mls_tree_priv priv;
};

/* A signed key_package leaf node with fresh keys. */
static void make_member(const struct aim_suite *cs, const char *name, struct member *m)
{
	struct aim_buf sig_pk, enc_sk, enc_pk;
	memset(m, 0, sizeof *m);
	aim_buf_init(&m->sig_sk, 1024);
	aim_buf_init(&sig_pk, 1024);
	aim_buf_init(&enc_sk, 1024);
	aim_buf_init(&enc_pk, 1024);
	assert_int_equal(aim_sig_keygen(cs->sig, &m->sig_sk, &sig_pk), 0);
	assert_int_equal(aim_kem_keygen(cs->kem, &enc_sk, &enc_pk), 0);
	struct mls_leaf_node *ln = &m->ln;
	assert_int_equal(mls_bytes_set(&ln->encryption_key, enc_pk.data, enc_pk.len), 0);
	assert_int_equal(mls_bytes_set(&ln->signature_key, sig_pk.data, sig_pk.len), 0);
	ln->credential.type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&ln->credential.identity, name, strlen(name)), 0);
	ln->capabilities.versions.v = calloc(1, sizeof(uint16_t));
	ln->capabilities.versions.v[0] = MLS_VERSION_10;
	ln->capabilities.versions.n = 1;
	ln->capabilities.cipher_suites.v = calloc(1, sizeof(uint16_t));
	ln->capabilities.cipher_suites.v[0] = cs->id;
	ln->capabilities.cipher_suites.n = 1;
	ln->capabilities.credentials.v = calloc(1, sizeof(uint16_t));
	ln->capabilities.credentials.v[0] = MLS_CREDENTIAL_BASIC;
	ln->capabilities.credentials.n = 1;
	ln->source = MLS_LEAF_SOURCE_KEY_PACKAGE;
	ln->lifetime.not_before = 0;
	ln->lifetime.not_after = UINT64_MAX;
	assert_int_equal(mls_leaf_node_sign(cs, ln, AIM_BYTES(NULL, 0), 0,
					    aim_buf_bytes(&m->sig_sk)), 0);
	assert_int_equal(mls_leaf_node_verify_signature(cs, ln, AIM_BYTES(NULL, 0), 0), 0);
	/* the private state gets the leaf index when the member is added */
	mls_tree_priv_init(&m->priv, cs, 0);
	assert_int_equal(mls_tree_priv_set(&m->priv, 0, aim_buf_bytes(&enc_sk)), 0);
	aim_buf_free(&sig_pk);
	aim_buf_free_secret(&enc_sk);
	aim_buf_free(&enc_pk);
}

static void member_free(struct member *m)
{
	aim_buf_free_secret(&m->sig_sk);
	mls_leaf_node_free(&m->ln);
	mls_tree_priv_free(&m->priv);
}

/* Moves the member's leaf key to its leaf index. */
static void member_placed(struct member *m, uint32_t leaf)
{
	const struct mls_tree_priv_key *k = mls_tree_priv_get(&m->priv, m->priv.leaf * 2);
	struct mls_tree_priv p;
	mls_tree_priv_init(&p, m->priv.suite, leaf);
	assert_non_null(k);
	assert_int_equal(mls_tree_priv_set(&p, 2 * leaf, mls_bytes_view(&k->sk)), 0);
	mls_tree_priv_free(&m->priv);
	m->priv = p;
	m->leaf = leaf;
}

#define MAXM 8

struct group {
	const struct aim_suite *cs;
	struct mls_tree tree;
	struct member m[MAXM];
	bool in[MAXM];
};

static void group_free(struct group *g)
{
	mls_tree_free(&g->tree);
	for (size_t i = 0; i < MAXM; i++)
		member_free(&g->m[i]);
}

/* A group of n members: member 0 creates it, then adds the others. */
static void group_new(struct group *g, uint16_t suite, size_t n)
{
	memset(g, 0, sizeof *g);
	g->cs = aim_suite_get(suite);
	assert_non_null(g->cs);
	for (size_t i = 0; i < MAXM; i++) {
		char name[16];
		snprintf(name, sizeof name, "member%zu", i);
		make_member(g->cs, name, &g->m[i]);
	}
	assert_int_equal(mls_tree_create(&g->tree, g->cs, &g->m[0].ln), 0);
	member_placed(&g->m[0], 0);
	g->in[0] = true;
	for (size_t i = 1; i < n; i++) {
		uint32_t leaf;
		assert_int_equal(mls_tree_add_leaf(&g->tree, &g->m[i].ln, &leaf), 0);
		member_placed(&g->m[i], leaf);
		g->in[i] = true;
	}
}

/* A stand-in for the encoded provisional GroupContext: any bytes that
 * depend on the new tree do for TreeKEM. */
static void fake_context(const struct mls_tree *t, struct aim_buf *gc)
{
	uint8_t h[AIM_MAX_HASH];
	aim_buf_init(gc, 4096);
	assert_int_equal(mls_tree_hash(t, h), 0);
	assert_int_equal(aim_buf_append_str(gc, "context:"), 0);
	assert_int_equal(aim_buf_append(gc, h, t->suite->nh), 0);
}

/* Member s commits with a path; every other member merges and decrypts;
 * all must agree on the tree and the commit secret. */
static void group_commit(struct group *g, size_t s)
{
	struct mls_tree ts;
	struct mls_update_path path;
	struct mls_treekem_secrets sec;
	struct aim_buf gc, enc;
	assert_int_equal(mls_tree_copy(&ts, &g->tree), 0);
	assert_int_equal(mls_treekem_create(&ts, &g->m[s].priv, g->m[s].leaf, GID,
					    aim_buf_bytes(&g->m[s].sig_sk), NULL, &path, &sec), 0);
	fake_context(&ts, &gc);
	assert_int_equal(mls_treekem_encrypt(&ts, g->m[s].leaf, &sec, aim_buf_bytes(&gc), NULL, 0,
					     &path), 0);
	assert_int_equal(mls_tree_priv_check(&g->m[s].priv, &ts), 0);
	/* over the wire */
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	assert_int_equal(mls_update_path_encode(&enc, &path), 0);
	struct mls_update_path wire;
	assert_int_equal(mls_update_path_parse(enc.data, enc.len, &wire), 0);
	uint8_t hs[AIM_MAX_HASH];
	assert_int_equal(mls_tree_hash(&ts, hs), 0);
	for (size_t r = 0; r < MAXM; r++) {
		if (!g->in[r] || r == s)
			continue;
		struct mls_tree tr;
		uint8_t hr[AIM_MAX_HASH], cs[AIM_MAX_HASH];
		assert_int_equal(mls_tree_copy(&tr, &g->tree), 0);
		assert_int_equal(mls_treekem_merge(&tr, g->m[s].leaf, GID, &wire), 0);
		assert_int_equal(mls_tree_hash(&tr, hr), 0);
		assert_memory_equal(hr, hs, g->cs->nh);
		assert_int_equal(mls_treekem_decrypt(&tr, &g->m[r].priv, g->m[s].leaf, &wire,
						     aim_buf_bytes(&gc), NULL, 0, cs, NULL), 0);
		assert_memory_equal(cs, sec.commit_secret, g->cs->nh);
		assert_int_equal(mls_tree_priv_check(&g->m[r].priv, &tr), 0);
		mls_tree_free(&tr);
	}
	mls_tree_free(&g->tree);
	g->tree = ts;
	assert_int_equal(mls_tree_validate(&g->tree, GID, AIM_BYTES(hs, g->cs->nh)), 0);
	mls_update_path_free(&path);
	mls_update_path_free(&wire);
	mls_treekem_secrets_wipe(&sec);
	aim_buf_free(&gc);
	aim_buf_free(&enc);
}

/* Removes member i and drops the private keys the removal blanked. */
static void group_remove(struct group *g, size_t i)
{
	assert_int_equal(mls_tree_remove_leaf(&g->tree, g->m[i].leaf), 0);
	g->in[i] = false;
	for (size_t r = 0; r < MAXM; r++)
		if (g->in[r])
			mls_tree_priv_prune(&g->m[r].priv, &g->tree);
}

static void expect_refused(const struct mls_tree *t, enum aim_err code, const char *why)
{
	assert_int_equal(mls_tree_validate(t, GID, AIM_BYTES(NULL, 0)), -1);
	assert_int_equal(aim_errcode(), code);
	if (why && !strstr(aim_errmsg(), why))
		fail_msg("refused for another reason: %s", aim_errmsg());
}

/* ---- Resolution and filtered direct path --------------------------------- */

/* A parent node with a made-up key (resolution needs no crypto). */
static void set_parent(struct mls_tree *t, uint32_t x, const uint32_t *unmerged, size_t n)
{
	uint8_t key[32];
	memset(key, (int)x, sizeof key);
	t->nodes[x].type = MLS_NODE_PARENT;
	assert_int_equal(mls_bytes_set(&t->nodes[x].parent.encryption_key, key, sizeof key), 0);
	if (n) {
		t->nodes[x].parent.unmerged_leaves.v = calloc(n, sizeof(uint32_t));
		memcpy(t->nodes[x].parent.unmerged_leaves.v, unmerged, n * sizeof(uint32_t));
		t->nodes[x].parent.unmerged_leaves.n = n;
	}
}

static void set_leaf(struct mls_tree *t, uint32_t leaf)
{
	uint8_t key[32];
	memset(key, 0x80 | (int)leaf, sizeof key);
	t->nodes[2 * leaf].type = MLS_NODE_LEAF;
	t->nodes[2 * leaf].leaf.source = MLS_LEAF_SOURCE_UPDATE;
	assert_int_equal(mls_bytes_set(&t->nodes[2 * leaf].leaf.encryption_key, key, sizeof key), 0);
}

static void expect_res(const struct mls_tree *t, uint32_t x, const uint32_t *ex, size_t nex,
		       const uint32_t *want, size_t n)
{
	struct mls_u32_list r;
	assert_int_equal(mls_tree_resolution(t, x, ex, nex, &r), 0);
	assert_int_equal(r.n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r.v[i], want[i]);
	free(r.v);
}

/* An 8-leaf tree with every node blank. */
static void blank8(struct mls_tree *t)
{
	mls_tree_init(t, aim_suite_get(1));
	t->n_leaves = 8;
	t->nodes = calloc(15, sizeof *t->nodes);
}

static void test_resolution(void **state)
{
	/* RFC 9420 Figure 10: A B _ D E F _ H, X[B] at node 3, Y at node 9. */
	struct mls_tree t;
	blank8(&t);
	for (uint32_t l = 0; l < 8; l++)
		if (l != 2 && l != 6)
			set_leaf(&t, l);
	const uint32_t b[] = { 1 };
	set_parent(&t, 3, b, 1);
	set_parent(&t, 9, NULL, 0);
	expect_res(&t, 3, NULL, 0, (const uint32_t[]){ 3, 2 }, 2);
	expect_res(&t, 4, NULL, 0, NULL, 0);
	expect_res(&t, 12, NULL, 0, NULL, 0);
	expect_res(&t, 7, NULL, 0, (const uint32_t[]){ 3, 2, 9, 14 }, 4);
	/* new members are left out when encrypting */
	expect_res(&t, 7, (const uint32_t[]){ 1, 7 }, 2, (const uint32_t[]){ 3, 9 }, 2);
	expect_res(&t, 13, NULL, 0, (const uint32_t[]){ 14 }, 1);
	struct mls_u32_list r;
	assert_int_equal(mls_tree_resolution(&t, 15, NULL, 0, &r), -1);
	assert_int_equal(mls_tree_member_count(&t), 6);
	mls_tree_free(&t);
}

static void test_filtered_direct_path(void **state)
{
	/* RFC 9420 Figure 11: A B _ _ E F G _, T=1, X=9, Y=11, W=7; U=3, V=5,
	 * Z=13 blank. */
	struct mls_tree t;
	blank8(&t);
	const uint32_t leaves[] = { 0, 1, 4, 5, 6 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(leaves); i++)
		set_leaf(&t, leaves[i]);
	set_parent(&t, 1, NULL, 0);
	set_parent(&t, 9, NULL, 0);
	set_parent(&t, 11, NULL, 0);
	set_parent(&t, 7, NULL, 0);
	uint32_t fdp[MLS_TM_MAX_DEPTH], cp[MLS_TM_MAX_DEPTH];
	assert_int_equal(mls_tree_filtered_direct_path(&t, 0, fdp, cp), 2); /* A: T, W */
	assert_int_equal(fdp[0], 1);
	assert_int_equal(fdp[1], 7);
	assert_int_equal(cp[0], 2);
	assert_int_equal(cp[1], 11);
	assert_int_equal(mls_tree_filtered_direct_path(&t, 4, fdp, cp), 3); /* E: X, Y, W */
	assert_int_equal(fdp[0], 9);
	assert_int_equal(fdp[1], 11);
	assert_int_equal(fdp[2], 7);
	assert_int_equal(mls_tree_filtered_direct_path(&t, 6, fdp, cp), 2); /* G: Y, W */
	assert_int_equal(fdp[0], 11);
	assert_int_equal(fdp[1], 7);
	assert_int_equal(cp[0], 9);
	assert_int_equal(cp[1], 3);
	mls_tree_free(&t);
}

/* ---- Add, remove, truncate ------------------------------------------------ */

static void test_add_remove_truncate(void **state)
{
	struct group g;
	group_new(&g, 1, 5);
	assert_int_equal(g.tree.n_leaves, 8); /* 5 members: extended twice */
	assert_int_equal(mls_tree_member_count(&g.tree), 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(g.m[i].leaf, i);
	/* the encoding stops at the last member: 9 nodes, not 15 */
	struct aim_buf enc;
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	assert_int_equal(mls_tree_encode(&enc, &g.tree), 0);
	struct mls_ratchet_tree rt;
	assert_int_equal(mls_ratchet_tree_parse(enc.data, enc.len, &rt), 0);
	assert_int_equal(rt.n, 9);
	mls_ratchet_tree_free(&rt);
	struct mls_tree back;
	assert_int_equal(mls_tree_parse(&back, g.cs, enc.data, enc.len), 0);
	assert_int_equal(back.n_leaves, 8);
	uint8_t h1[AIM_MAX_HASH], h2[AIM_MAX_HASH];
	assert_int_equal(mls_tree_hash(&g.tree, h1), 0);
	assert_int_equal(mls_tree_hash(&back, h2), 0);
	assert_memory_equal(h1, h2, g.cs->nh);
	mls_tree_free(&back);
	aim_buf_free(&enc);

	/* A commit gives parent nodes 1, 3, 7; removing the last member blanks
	 * its path (7 included) and truncates to 4 leaves under node 3. */
	group_commit(&g, 0);
	assert_false(mls_tree_is_blank(&g.tree, 7));
	group_remove(&g, 4);
	assert_int_equal(g.tree.n_leaves, 4);
	assert_false(mls_tree_is_blank(&g.tree, 3));
	assert_int_equal(mls_tree_validate(&g.tree, GID, AIM_BYTES(NULL, 0)), 0);
	/* removing a blank leaf or one outside the tree is refused */
	assert_int_equal(mls_tree_remove_leaf(&g.tree, 4), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	/* an internal hole is filled first by the next Add */
	group_remove(&g, 1);
	assert_true(mls_tree_is_blank(&g.tree, 3));
	assert_int_equal(g.tree.n_leaves, 4);
	uint32_t leaf;
	assert_int_equal(mls_tree_add_leaf(&g.tree, &g.m[5].ln, &leaf), 0);
	assert_int_equal(leaf, 1);
	member_placed(&g.m[5], leaf);
	g.in[5] = true;
	/* With leaf 3 blank, a commit by leaf 2 skips node 5 (its copath child
	 * is blank) and sets the root; a member added at leaf 3 is then
	 * unmerged at the root. */
	group_remove(&g, 3);
	assert_int_equal(g.tree.n_leaves, 4);
	group_commit(&g, 2);
	assert_true(mls_tree_is_blank(&g.tree, 5));
	const struct mls_parent_node *root = mls_tree_parent_node(&g.tree, 3);
	assert_non_null(root);
	assert_int_equal(root->unmerged_leaves.n, 0);
	assert_int_equal(mls_tree_add_leaf(&g.tree, &g.m[7].ln, &leaf), 0);
	assert_int_equal(leaf, 3);
	member_placed(&g.m[7], leaf);
	g.in[7] = true;
	root = mls_tree_parent_node(&g.tree, 3);
	assert_int_equal(root->unmerged_leaves.n, 1);
	assert_int_equal(root->unmerged_leaves.v[0], 3);
	expect_res(&g.tree, 3, NULL, 0, (const uint32_t[]){ 3, 6 }, 2);
	expect_res(&g.tree, 5, NULL, 0, (const uint32_t[]){ 4, 6 }, 2);
	/* still a valid tree; a commit by the new member merges it */
	assert_int_equal(mls_tree_validate(&g.tree, GID, AIM_BYTES(NULL, 0)), 0);
	/* a listed leaf twice, or the unmerged leaf dropped (the original
	 * sibling tree hash then covers it), is refused */
	struct mls_tree bad;
	assert_int_equal(mls_tree_copy(&bad, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&bad, 3), 0); /* its own copy to change */
	struct mls_u32_list *u = &bad.nodes[3].parent.unmerged_leaves;
	u->v = realloc(u->v, 2 * sizeof *u->v);
	u->v[1] = 3;
	u->n = 2;
	expect_refused(&bad, AIM_ERR_VERIFY, "strictly increasing");
	u->n = 0;
	expect_refused(&bad, AIM_ERR_VERIFY, "parent-hash valid");
	mls_tree_free(&bad);
	group_commit(&g, 7);
	assert_int_equal(mls_tree_parent_node(&g.tree, 3)->unmerged_leaves.n, 0);
	assert_false(mls_tree_is_blank(&g.tree, 5));
	/* removing everyone but leaf 0 truncates to one leaf */
	group_remove(&g, 5);
	group_remove(&g, 2);
	group_remove(&g, 7);
	assert_int_equal(g.tree.n_leaves, 1);
	assert_int_equal(mls_tree_validate(&g.tree, GID, AIM_BYTES(NULL, 0)), 0);
	group_commit(&g, 0); /* a path over no parents: only the leaf changes */
	group_free(&g);
}

/* ---- Refusals --------------------------------------------------------------- */


static void test_refuse_parent_hash(void **state)
{
	struct group g;
	group_new(&g, 1, 4);
	group_commit(&g, 1);
	struct mls_tree t;
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	/* a parent's parent_hash changed */
	assert_int_equal(mls_tree_touch(&t, 1), 0); /* its own copy to change */
	struct mls_parent_node *p = &t.nodes[1].parent;
	assert_int_equal(t.nodes[1].type, MLS_NODE_PARENT);
	p->parent_hash.p[0] ^= 1;
	expect_refused(&t, AIM_ERR_VERIFY, "parent-hash valid");
	mls_tree_free(&t);
	/* a parent's key swapped for another (fresh) one */
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&t, 3), 0); /* its own copy to change */
	t.nodes[3].parent.encryption_key.p[5] ^= 0x40;
	expect_refused(&t, AIM_ERR_VERIFY, "parent-hash valid");
	mls_tree_free(&t);
	/* an unmerged leaf added to a parent without the leaf under it */
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&t, 1), 0); /* its own copy to change */
	t.nodes[1].parent.unmerged_leaves.v = calloc(1, sizeof(uint32_t));
	t.nodes[1].parent.unmerged_leaves.v[0] = 2;
	t.nodes[1].parent.unmerged_leaves.n = 1;
	expect_refused(&t, AIM_ERR_VERIFY, "unmerged leaf 2");
	mls_tree_free(&t);
	/* the tree hash of the GroupInfo does not match */
	uint8_t h[AIM_MAX_HASH];
	assert_int_equal(mls_tree_hash(&g.tree, h), 0);
	h[0] ^= 1;
	assert_int_equal(mls_tree_validate(&g.tree, GID, AIM_BYTES(h, g.cs->nh)), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	/* the wrong group id breaks the commit leaf's signature */
	assert_int_equal(mls_tree_validate(&g.tree, AIM_BYTES("other", 5), AIM_BYTES(NULL, 0)), -1);
	group_free(&g);
}

static void test_refuse_signature(void **state)
{
	struct group g;
	group_new(&g, 2, 3);
	group_commit(&g, 0);
	struct mls_tree t;
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&t, 2), 0); /* its own copy to change */
	t.nodes[2].leaf.signature.p[t.nodes[2].leaf.signature.len / 2] ^= 1;
	expect_refused(&t, AIM_ERR_VERIFY, "bad signature");
	mls_tree_free(&t);
	/* a changed field under an intact signature */
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&t, 4), 0); /* its own copy to change */
	t.nodes[4].leaf.credential.identity.p[0] ^= 1;
	expect_refused(&t, AIM_ERR_VERIFY, "bad signature");
	mls_tree_free(&t);
	group_free(&g);
}

static void test_refuse_duplicate_key(void **state)
{
	struct group g;
	group_new(&g, 1, 3);
	struct mls_tree t;
	/* leaf 2 takes leaf 1's encryption key and re-signs: only the
	 * uniqueness rule catches it */
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&t, 4), 0); /* its own copy to change */
	struct mls_leaf_node *l2 = &t.nodes[4].leaf;
	assert_int_equal(mls_bytes_copy(&l2->encryption_key, &t.nodes[2].leaf.encryption_key), 0);
	assert_int_equal(mls_leaf_node_sign(g.cs, l2, GID, 2, aim_buf_bytes(&g.m[2].sig_sk)), 0);
	expect_refused(&t, AIM_ERR_VERIFY, "encryption key appears twice");
	mls_tree_free(&t);
	/* the same for signature keys */
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&t, 4), 0); /* its own copy to change */
	l2 = &t.nodes[4].leaf;
	assert_int_equal(mls_bytes_copy(&l2->signature_key, &t.nodes[2].leaf.signature_key), 0);
	assert_int_equal(mls_leaf_node_sign(g.cs, l2, GID, 2, aim_buf_bytes(&g.m[1].sig_sk)), 0);
	expect_refused(&t, AIM_ERR_VERIFY, "signature key appears twice");
	mls_tree_free(&t);
	group_free(&g);
}

static void test_refuse_trailing_blanks(void **state)
{
	struct group g;
	group_new(&g, 1, 3);
	/* In memory: a 4-leaf tree whose right half is blank. */
	struct mls_tree t;
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	assert_int_equal(mls_tree_touch(&t, 4), 0); /* its own copy to change */
	mls_node_free(&t.nodes[4]);
	expect_refused(&t, AIM_ERR_VERIFY, "trailing blanks");
	/* On the wire: the encoding ends with a blank node. */
	mls_tree_free(&t);
	assert_int_equal(mls_tree_copy(&t, &g.tree), 0);
	struct aim_buf enc;
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	assert_int_equal(mls_tree_encode(&enc, &t), 0);
	/* rebuild the vector with one more (blank) entry */
	struct mls_tls_reader r;
	struct aim_bytes body;
	mls_tls_reader_init(&r, enc.data, enc.len);
	assert_int_equal(mls_tls_read_vec(&r, &body), 0);
	struct aim_buf bad;
	aim_buf_init(&bad, MLS_MAX_MESSAGE);
	assert_int_equal(mls_tls_write_varint(&bad, (uint32_t)body.len + 1), 0);
	assert_int_equal(aim_buf_append(&bad, body.p, body.len), 0);
	assert_int_equal(aim_buf_append_byte(&bad, 0), 0);
	struct mls_tree t2;
	assert_int_equal(mls_tree_parse(&t2, g.cs, bad.data, bad.len), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
	/* and the plain encoding round-trips */
	assert_int_equal(mls_tree_parse(&t2, g.cs, enc.data, enc.len), 0);
	mls_tree_free(&t2);
	/* a decoded tree whose last node is blank is refused by the tree too */
	struct mls_ratchet_tree rt;
	rt.n = 3;
	rt.nodes = calloc(3, sizeof *rt.nodes);
	rt.nodes[0].type = MLS_NODE_LEAF;
	assert_int_equal(mls_leaf_node_copy(&rt.nodes[0].leaf, &g.m[0].ln), 0);
	assert_int_equal(mls_tree_from_ratchet_tree(&t2, g.cs, &rt), -1);
	assert_null(rt.nodes);
	aim_buf_free(&enc);
	aim_buf_free(&bad);
	mls_tree_free(&t);
	group_free(&g);
}

/* threats.md C43: an UpdatePath that reuses a key, or whose parent hash
 * does not verify, is refused and leaves the tree as it was. */
static void test_refuse_update_path(void **state)
{
	struct group g;
	group_new(&g, 1, 4);
	group_commit(&g, 0);
	struct mls_tree ts;
	struct mls_tree_priv priv;
	struct mls_update_path path;
	struct mls_treekem_secrets sec;
	assert_int_equal(mls_tree_copy(&ts, &g.tree), 0);
	assert_int_equal(mls_tree_priv_copy(&priv, &g.m[1].priv), 0);
	assert_int_equal(mls_treekem_create(&ts, &priv, 1, GID, aim_buf_bytes(&g.m[1].sig_sk),
					    NULL, &path, &sec), 0);
	assert_int_equal(path.n_nodes, 2);
	uint8_t before[AIM_MAX_HASH], after[AIM_MAX_HASH];
	assert_int_equal(mls_tree_hash(&g.tree, before), 0);

	/* a path node carrying the key of leaf 3 */
	struct mls_bytes saved = path.nodes[1].encryption_key;
	memset(&path.nodes[1].encryption_key, 0, sizeof saved);
	assert_int_equal(mls_bytes_copy(&path.nodes[1].encryption_key, &g.tree.nodes[6].leaf.encryption_key), 0);
	assert_int_equal(mls_treekem_merge(&g.tree, 1, GID, &path), -1);
	assert_non_null(strstr(aim_errmsg(), "reuses"));
	/* a path node carrying the key the root has now */
	assert_int_equal(mls_bytes_copy(&path.nodes[1].encryption_key, &g.tree.nodes[3].parent.encryption_key), 0);
	assert_int_equal(mls_treekem_merge(&g.tree, 1, GID, &path), -1);
	assert_non_null(strstr(aim_errmsg(), "reuses"));
	/* a fresh key the sender did not hash: parent hash mismatch */
	path.nodes[1].encryption_key.p[3] ^= 0x10;
	assert_int_equal(mls_treekem_merge(&g.tree, 1, GID, &path), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	assert_non_null(strstr(aim_errmsg(), "parent_hash"));
	assert_int_equal(mls_tree_hash(&g.tree, after), 0);
	assert_memory_equal(before, after, g.cs->nh);
	mls_bytes_free(&path.nodes[1].encryption_key);
	path.nodes[1].encryption_key = saved;

	/* the leaf keeps its old encryption key (re-signed) */
	struct mls_bytes lk = path.leaf_node.encryption_key;
	memset(&path.leaf_node.encryption_key, 0, sizeof lk);
	assert_int_equal(mls_bytes_copy(&path.leaf_node.encryption_key, &g.tree.nodes[2].leaf.encryption_key), 0);
	assert_int_equal(mls_leaf_node_sign(g.cs, &path.leaf_node, GID, 1, aim_buf_bytes(&g.m[1].sig_sk)), 0);
	assert_int_equal(mls_treekem_merge(&g.tree, 1, GID, &path), -1);
	assert_non_null(strstr(aim_errmsg(), "reuses"));
	mls_bytes_free(&path.leaf_node.encryption_key);
	path.leaf_node.encryption_key = lk;
	/* the leaf was not re-signed after restoring: signature refused */
	assert_int_equal(mls_treekem_merge(&g.tree, 1, GID, &path), -1);
	assert_non_null(strstr(aim_errmsg(), "signature"));
	assert_int_equal(mls_leaf_node_sign(g.cs, &path.leaf_node, GID, 1, aim_buf_bytes(&g.m[1].sig_sk)), 0);
	/* sent as if from another leaf: signature (leaf index) refused */
	assert_int_equal(mls_treekem_merge(&g.tree, 2, GID, &path), -1);
	/* wrong number of nodes */
	path.n_nodes = 1;
	assert_int_equal(mls_treekem_merge(&g.tree, 1, GID, &path), -1);
	path.n_nodes = 2;
	assert_int_equal(mls_tree_hash(&g.tree, after), 0);
	assert_memory_equal(before, after, g.cs->nh);
	/* intact, it merges */
	assert_int_equal(mls_treekem_merge(&g.tree, 1, GID, &path), 0);
	assert_int_equal(mls_tree_hash(&g.tree, after), 0);
	assert_int_equal(mls_tree_hash(&ts, before), 0);
	assert_memory_equal(before, after, g.cs->nh);
	assert_int_equal(mls_tree_verify_parent_hashes(&g.tree), 0);

	mls_update_path_free(&path);
	mls_treekem_secrets_wipe(&sec);
	mls_tree_priv_free(&priv);
	mls_tree_free(&ts);
	group_free(&g);
}

/* ---- TreeKEM round trips ----------------------------------------------- */

static void round_trip(uint16_t suite)
{
	struct group g;
	group_new(&g, suite, 6);
	/* everyone commits once, in an order that crosses both halves */
	const size_t order[] = { 0, 5, 2, 3, 1, 4, 0 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(order); i++)
		group_commit(&g, order[i]);
	/* a removal, then commits keep working over the blank */
	group_remove(&g, 3);
	group_commit(&g, 4);
	group_commit(&g, 2);
	group_free(&g);
}

static void test_roundtrip_suite1(void **state)
{
	round_trip(1);
}

static void test_roundtrip_suite2(void **state)
{
	round_trip(2);
}

static void test_roundtrip_suite3(void **state)
{
	round_trip(3);
}

/* A member added in the same commit gets no ciphertext and joins with the
 * path secret of the common ancestor (as from a Welcome). */
static void test_new_member_implant(void **state)
{
	struct group g;
	group_new(&g, 3, 3);
	group_commit(&g, 0);
	struct mls_tree ts;
	uint32_t leaf;
	assert_int_equal(mls_tree_add_leaf(&g.tree, &g.m[3].ln, &leaf), 0);
	assert_int_equal(leaf, 3);
	member_placed(&g.m[3], leaf);
	assert_int_equal(mls_tree_copy(&ts, &g.tree), 0);
	struct mls_update_path path;
	struct mls_treekem_secrets sec;
	assert_int_equal(mls_treekem_create(&ts, &g.m[0].priv, 0, GID, aim_buf_bytes(&g.m[0].sig_sk),
					    NULL, &path, &sec), 0);
	struct aim_buf gc;
	fake_context(&ts, &gc);
	const uint32_t added[] = { 3 };
	assert_int_equal(mls_treekem_encrypt(&ts, 0, &sec, aim_buf_bytes(&gc), added, 1, &path), 0);
	/* node 5's resolution is {leaf 2}, leaf 3 being new */
	assert_int_equal(path.nodes[1].n_encrypted_path_secret, 1);
	/* leaf 2 decrypts; the new member cannot */
	struct mls_tree tr;
	uint8_t cs[AIM_MAX_HASH];
	assert_int_equal(mls_tree_copy(&tr, &g.tree), 0);
	assert_int_equal(mls_treekem_merge(&tr, 0, GID, &path), 0);
	assert_int_equal(mls_treekem_decrypt(&tr, &g.m[2].priv, 0, &path, aim_buf_bytes(&gc), added,
					     1, cs, NULL), 0);
	assert_memory_equal(cs, sec.commit_secret, g.cs->nh);
	/* without the exclusion the receiver sees a count mismatch */
	struct mls_tree_priv p1;
	assert_int_equal(mls_tree_priv_copy(&p1, &g.m[1].priv), 0);
	assert_int_equal(mls_treekem_decrypt(&tr, &p1, 0, &path, aim_buf_bytes(&gc), NULL, 0, cs,
					     NULL), 0); /* leaf 1 is under node 1: fine */
	mls_tree_priv_free(&p1);
	assert_int_equal(mls_treekem_decrypt(&tr, &g.m[3].priv, 0, &path, aim_buf_bytes(&gc), added,
					     1, cs, NULL), -1);
	/* the Welcome path: the secret of the common ancestor of 0 and 3 */
	uint32_t anc;
	struct aim_bytes ps;
	assert_int_equal(mls_treekem_path_secret_for(&sec, 3, &anc, &ps), 0);
	assert_int_equal(anc, mls_tm_common_ancestor(0, 6));
	assert_int_equal(anc, 3);
	assert_int_equal(mls_treekem_implant(&tr, &g.m[3].priv, 0, anc, ps, cs), 0);
	assert_memory_equal(cs, sec.commit_secret, g.cs->nh);
	assert_int_equal(mls_tree_priv_check(&g.m[3].priv, &tr), 0);
	/* a wrong path secret does not match the public keys */
	uint8_t wrong[AIM_MAX_HASH];
	memcpy(wrong, ps.p, g.cs->nh);
	wrong[0] ^= 1;
	assert_int_equal(mls_treekem_implant(&tr, &g.m[3].priv, 0, anc, AIM_BYTES(wrong, g.cs->nh),
					     cs), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	/* a ciphertext under another context does not decrypt */
	struct mls_tree_priv p2;
	assert_int_equal(mls_tree_priv_copy(&p2, &g.m[2].priv), 0);
	assert_int_equal(mls_treekem_decrypt(&tr, &p2, 0, &path, AIM_BYTES("other", 5), added, 1, cs,
					     NULL), -1);
	mls_tree_priv_free(&p2);
	mls_update_path_free(&path);
	mls_treekem_secrets_wipe(&sec);
	aim_buf_free(&gc);
	mls_tree_free(&ts);
	mls_tree_free(&tr);
	group_free(&g);
}

static void test_priv_state(void **state)
{
	struct group g;
	group_new(&g, 1, 2);
	group_commit(&g, 0);
	/* member 1 holds its leaf and the root */
	assert_non_null(mls_tree_priv_get(&g.m[1].priv, 2));
	assert_non_null(mls_tree_priv_get(&g.m[1].priv, 1));
	assert_int_equal(mls_tree_priv_check(&g.m[1].priv, &g.tree), 0);
	/* a key for a node not above us breaks the tree invariant */
	struct mls_tree_priv p;
	assert_int_equal(mls_tree_priv_copy(&p, &g.m[1].priv), 0);
	const struct mls_tree_priv_key *k0 = mls_tree_priv_get(&g.m[0].priv, 0);
	assert_int_equal(mls_tree_priv_set(&p, 0, mls_bytes_view(&k0->sk)), 0);
	assert_int_equal(mls_tree_priv_check(&p, &g.tree), -1);
	mls_tree_priv_drop(&p, 0);
	assert_int_equal(mls_tree_priv_check(&p, &g.tree), 0);
	/* after an Update the old root key is gone from the tree: pruned */
	struct mls_proposal up;
	memset(&up, 0, sizeof up);
	up.type = MLS_PROPOSAL_UPDATE;
	assert_int_equal(mls_leaf_node_copy(&up.update.leaf_node, &g.m[2].ln), 0);
	assert_int_equal(mls_tree_apply_proposal(&g.tree, &up, 0, NULL), -1); /* wrong source */
	up.update.leaf_node.source = MLS_LEAF_SOURCE_UPDATE;
	assert_int_equal(mls_tree_apply_proposal(&g.tree, &up, 0, NULL), 0);
	mls_proposal_free(&up);
	assert_int_equal(mls_tree_priv_check(&p, &g.tree), -1);
	mls_tree_priv_prune(&p, &g.tree);
	assert_null(mls_tree_priv_get(&p, 1));
	assert_int_equal(mls_tree_priv_check(&p, &g.tree), 0);
	mls_tree_priv_free(&p);
	group_free(&g);
}

/* Every single-byte change of an encoded tree either fails to decode or
 * fails validation against the GroupInfo tree hash. */
static void test_mutations(void **state)
{
	struct group g;
	group_new(&g, 1, 3);
	group_commit(&g, 2);
	uint8_t h[AIM_MAX_HASH];
	assert_int_equal(mls_tree_hash(&g.tree, h), 0);
	struct aim_buf enc;
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	assert_int_equal(mls_tree_encode(&enc, &g.tree), 0);
	size_t decoded = 0;
	for (size_t i = 0; i < enc.len; i++) {
		uint8_t saved = enc.data[i];
		enc.data[i] ^= (uint8_t)(1u << (i % 8));
		struct mls_tree t;
		if (mls_tree_parse(&t, g.cs, enc.data, enc.len) == 0) {
			decoded++;
			assert_int_equal(mls_tree_validate(&t, GID, AIM_BYTES(h, g.cs->nh)), -1);
			mls_tree_free(&t);
		}
		enc.data[i] = saved;
	}
	assert_true(decoded > enc.len / 2); /* most changes hit keys and signatures */
	struct mls_tree t;
	assert_int_equal(mls_tree_parse(&t, g.cs, enc.data, enc.len), 0);
	assert_int_equal(mls_tree_validate(&t, GID, AIM_BYTES(h, g.cs->nh)), 0);
	mls_tree_free(&t);
	aim_buf_free(&enc);
	group_free(&g);
}

/* ---- Cached tree hashes against a full recomputation ------------------------ */

#define POOL 40

static uint32_t prop_rand(uint64_t *st)
{
	/* xorshift64*: a fixed seed gives the same sequence everywhere */
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (uint32_t)((*st * 2685821657736338717ull) >> 32);
}

/* Every node hash of t (cached, as the tree keeps them) equals the hash of
 * the same node in a fresh tree decoded from t's encoding (nothing cached:
 * every hash computed from scratch). */
static void expect_cache_matches(const struct mls_tree *t)
{
	struct aim_buf enc;
	struct mls_tree fresh;
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	assert_int_equal(mls_tree_encode(&enc, t), 0);
	assert_int_equal(mls_tree_parse(&fresh, t->suite, enc.data, enc.len), 0);
	assert_int_equal(fresh.n_leaves, t->n_leaves);
	uint32_t w = mls_tree_width(t);
	uint8_t (*want)[AIM_MAX_HASH] = calloc(w, sizeof *want);
	assert_non_null(want);
	assert_int_equal(mls_tree_all_hashes(&fresh, want), 0);
	for (uint32_t x = 0; x < w; x++) {
		uint8_t got[AIM_MAX_HASH];
		assert_int_equal(mls_tree_node_hash(t, x, got), 0);
		assert_memory_equal(got, want[x], t->suite->nh);
	}
	uint8_t root[AIM_MAX_HASH];
	assert_int_equal(mls_tree_hash(t, root), 0);
	assert_memory_equal(root, want[mls_tm_root(t->n_leaves)], t->suite->nh);
	free(want);
	mls_tree_free(&fresh);
	aim_buf_free(&enc);
}

/* Random adds, removes, Update proposals and UpdatePath commits (sent and
 * merged) with a fixed seed; after each, the cached hashes are checked
 * against a full recomputation, and a merge that fails leaves the cached
 * hashes of the tree it restored right. */
static void test_hash_cache_property(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	assert_non_null(cs);
	struct member *pool = calloc(POOL, sizeof *pool);
	bool in[POOL] = { false };
	assert_non_null(pool);
	for (size_t i = 0; i < POOL; i++) {
		char name[16];
		snprintf(name, sizeof name, "member%zu", i);
		make_member(cs, name, &pool[i]);
	}
	struct mls_tree t;
	assert_int_equal(mls_tree_create(&t, cs, &pool[0].ln), 0);
	member_placed(&pool[0], 0);
	in[0] = true;
	size_t next = 1, n_in = 1;
	uint64_t st = 0x9e3779b97f4a7c15ull;
	unsigned done[4] = { 0 };
	for (int step = 0; step < 120; step++) {
		uint32_t r = prop_rand(&st) % 10;
		/* a present member, uniformly */
		size_t who = 0;
		for (uint32_t k = prop_rand(&st) % (uint32_t)n_in;; who++)
			if (in[who] && k-- == 0)
				break;
		if ((r < 4 || n_in < 3) && next < POOL) {
			uint32_t leaf;
			assert_int_equal(mls_tree_add_leaf(&t, &pool[next].ln, &leaf), 0);
			member_placed(&pool[next], leaf);
			in[next++] = true;
			n_in++;
			done[0]++;
		} else if (r < 6 && n_in > 2) {
			assert_int_equal(mls_tree_remove_leaf(&t, pool[who].leaf), 0);
			in[who] = false;
			n_in--;
			done[1]++;
		} else if (r < 7) {
			/* an Update proposal: the same leaf with a fresh key */
			struct mls_leaf_node ln;
			struct aim_buf sk, pk;
			aim_buf_init(&sk, 1024);
			aim_buf_init(&pk, 1024);
			assert_int_equal(aim_kem_keygen(cs->kem, &sk, &pk), 0);
			assert_int_equal(mls_leaf_node_copy(&ln, mls_tree_leaf(&t, pool[who].leaf)), 0);
			assert_int_equal(mls_bytes_set(&ln.encryption_key, pk.data, pk.len), 0);
			ln.source = MLS_LEAF_SOURCE_UPDATE;
			assert_int_equal(mls_leaf_node_sign(cs, &ln, GID, pool[who].leaf,
							    aim_buf_bytes(&pool[who].sig_sk)), 0);
			assert_int_equal(mls_tree_update_leaf(&t, pool[who].leaf, &ln), 0);
			mls_leaf_node_free(&ln);
			aim_buf_free_secret(&sk);
			aim_buf_free(&pk);
			done[2]++;
		} else {
			/* who commits with a path; another member merges it into a
			 * copy (cached hashes copied along) */
			struct mls_tree ts, tr;
			struct mls_update_path path;
			struct mls_treekem_secrets sec;
			uint8_t hs[AIM_MAX_HASH], hr[AIM_MAX_HASH];
			assert_int_equal(mls_tree_copy(&ts, &t), 0);
			mls_tree_priv_prune(&pool[who].priv, &ts);
			assert_int_equal(mls_treekem_create(&ts, &pool[who].priv, pool[who].leaf, GID,
							    aim_buf_bytes(&pool[who].sig_sk), NULL,
							    &path, &sec), 0);
			expect_cache_matches(&ts);
			assert_int_equal(mls_tree_hash(&ts, hs), 0);
			assert_int_equal(mls_tree_copy(&tr, &t), 0);
			/* a path whose leaf parent hash is wrong fails the merge,
			 * which puts the old nodes back */
			if (path.leaf_node.parent_hash.len) {
				path.leaf_node.parent_hash.p[0] ^= 1;
				assert_int_equal(mls_treekem_merge(&tr, pool[who].leaf, GID, &path), -1);
				path.leaf_node.parent_hash.p[0] ^= 1;
				expect_cache_matches(&tr);
			}
			assert_int_equal(mls_treekem_merge(&tr, pool[who].leaf, GID, &path), 0);
			expect_cache_matches(&tr);
			assert_int_equal(mls_tree_hash(&tr, hr), 0);
			assert_memory_equal(hr, hs, cs->nh);
			mls_tree_free(&t);
			t = step % 2 ? ts : tr;
			mls_tree_free(step % 2 ? &tr : &ts);
			mls_update_path_free(&path);
			mls_treekem_secrets_wipe(&sec);
			done[3]++;
		}
		expect_cache_matches(&t);
	}
	/* the seed exercises every kind of change */
	for (int k = 0; k < 4; k++)
		assert_true(done[k] > 3);
	mls_tree_free(&t);
	for (size_t i = 0; i < POOL; i++)
		member_free(&pool[i]);
	free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_math_basics),
		cmocka_unit_test(test_math_paths),
		cmocka_unit_test(test_math_ancestor),
		cmocka_unit_test(test_resolution),
		cmocka_unit_test(test_filtered_direct_path),
		cmocka_unit_test(test_add_remove_truncate),
		cmocka_unit_test(test_refuse_parent_hash),
		cmocka_unit_test(test_refuse_signature),
		cmocka_unit_test(test_refuse_duplicate_key),
		cmocka_unit_test(test_refuse_trailing_blanks),
		cmocka_unit_test(test_refuse_update_path),
		cmocka_unit_test(test_roundtrip_suite1),
		cmocka_unit_test(test_roundtrip_suite2),
		cmocka_unit_test(test_roundtrip_suite3),
		cmocka_unit_test(test_new_member_implant),
		cmocka_unit_test(test_priv_state),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_hash_cache_property),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
