/* TreeKEM: private node keys, creating, merging and decrypting UpdatePaths
 * (RFC 9420 sections 7.4 - 7.6, 7.9, 12.4.3.1). */
#include "mls/tree.h"

#include "mls/labeled.h"

#include <stdlib.h>
#include <string.h>

/* ---- Private keys --------------------------------------------------------- */

void mls_tree_priv_init(struct mls_tree_priv *priv, const struct aim_suite *cs, uint32_t leaf)
{
	priv->suite = cs;
	priv->leaf = leaf;
	priv->keys = NULL;
	priv->n = 0;
}

static void key_wipe(struct mls_tree_priv_key *k)
{
	mls_bytes_free_secret(&k->sk);
	mls_bytes_free(&k->pk);
}

void mls_tree_priv_free(struct mls_tree_priv *priv)
{
	if (!priv)
		return;
	for (size_t i = 0; i < priv->n; i++)
		key_wipe(&priv->keys[i]);
	free(priv->keys);
	priv->keys = NULL;
	priv->n = 0;
}

const struct mls_tree_priv_key *mls_tree_priv_get(const struct mls_tree_priv *priv,
						  uint32_t node)
{
	for (size_t i = 0; i < priv->n; i++)
		if (priv->keys[i].node == node)
			return &priv->keys[i];
	return NULL;
}

void mls_tree_priv_drop(struct mls_tree_priv *priv, uint32_t node)
{
	for (size_t i = 0; i < priv->n; i++) {
		if (priv->keys[i].node != node)
			continue;
		key_wipe(&priv->keys[i]);
		priv->keys[i] = priv->keys[priv->n - 1];
		priv->n--;
		return;
	}
}

/* Stores copies of a key pair for node. */
static int set_pair(struct mls_tree_priv *priv, uint32_t node, struct aim_bytes sk,
		    struct aim_bytes pk)
{
	struct mls_tree_priv_key k = { node, { NULL, 0 }, { NULL, 0 } };
	if (mls_bytes_set(&k.sk, sk.p, sk.len) || mls_bytes_set(&k.pk, pk.p, pk.len)) {
		key_wipe(&k);
		return -1;
	}
	mls_tree_priv_drop(priv, node);
	ENSURE(priv->n < 2 * MLS_TM_MAX_DEPTH + 2, AIM_ERR_LIMIT, "too many private keys");
	priv->keys = aim_xrealloc(priv->keys, (priv->n + 1) * sizeof *priv->keys);
	priv->keys[priv->n++] = k;
	return 0;
}

int mls_tree_priv_copy(struct mls_tree_priv *dst, const struct mls_tree_priv *src)
{
	mls_tree_priv_init(dst, src->suite, src->leaf);
	for (size_t i = 0; i < src->n; i++) {
		const struct mls_tree_priv_key *k = &src->keys[i];
		if (set_pair(dst, k->node, mls_bytes_view(&k->sk), mls_bytes_view(&k->pk)) != 0) {
			mls_tree_priv_free(dst);
			return -1;
		}
	}
	return 0;
}

int mls_tree_priv_set(struct mls_tree_priv *priv, uint32_t node, struct aim_bytes sk)
{
	struct aim_buf pk;
	aim_buf_init(&pk, AIM_MAX_KEM_PK + 1);
	int rc = aim_kem_public(priv->suite->kem, sk, &pk);
	if (rc == 0)
		rc = set_pair(priv, node, sk, aim_buf_bytes(&pk));
	aim_buf_free(&pk);
	return rc;
}

int mls_treekem_node_keys(const struct aim_suite *cs, struct aim_bytes path_secret,
			  struct aim_buf *sk, struct aim_buf *pk)
{
	uint8_t node_secret[AIM_MAX_HASH];
	/* node_secret[n] = DeriveSecret(path_secret[n], "node")
	 * node_priv[n], node_pub[n] = KEM.DeriveKeyPair(node_secret[n]) */
	TRY(mls_derive_secret(cs, path_secret, "node", node_secret));
	int rc = aim_kem_derive_keypair(cs->kem, AIM_BYTES(node_secret, cs->nh), sk, pk);
	aim_wipe(node_secret, sizeof node_secret);
	return rc;
}

int mls_tree_priv_set_path_secret(struct mls_tree_priv *priv, uint32_t node,
				  struct aim_bytes path_secret)
{
	struct aim_buf sk, pk;
	aim_buf_init(&sk, AIM_MAX_KEM_SK + 1);
	aim_buf_init(&pk, AIM_MAX_KEM_PK + 1);
	int rc = mls_treekem_node_keys(priv->suite, path_secret, &sk, &pk);
	if (rc == 0)
		rc = set_pair(priv, node, aim_buf_bytes(&sk), aim_buf_bytes(&pk));
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	return rc;
}

void mls_tree_priv_prune(struct mls_tree_priv *priv, const struct mls_tree *t)
{
	size_t i = 0;
	while (i < priv->n) {
		const struct mls_bytes *k = mls_tree_node_key(t, priv->keys[i].node);
		if (k && mls_bytes_equal(k, &priv->keys[i].pk)) {
			i++;
			continue;
		}
		mls_tree_priv_drop(priv, priv->keys[i].node);
	}
}

int mls_tree_priv_check(const struct mls_tree_priv *priv, const struct mls_tree *t)
{
	uint32_t me = mls_tm_leaf_to_node(priv->leaf);
	ENSURE(mls_tree_priv_get(priv, me), AIM_ERR_VERIFY, "no private key for our leaf %u",
	       priv->leaf);
	for (size_t i = 0; i < priv->n; i++) {
		const struct mls_tree_priv_key *k = &priv->keys[i];
		const struct mls_bytes *pub = mls_tree_node_key(t, k->node);
		/* "for every node in the private state, the corresponding node
		 * in the tree is (a) not blank and (b) contains the public key
		 * corresponding to the private key" */
		ENSURE(pub && mls_bytes_equal(pub, &k->pk), AIM_ERR_VERIFY,
		       "private key of node %u does not match the tree", k->node);
		/* The tree invariant: only keys on our own path. */
		ENSURE(mls_tm_in_subtree(me, k->node), AIM_ERR_VERIFY,
		       "private key of node %u is not above our leaf", k->node);
	}
	return 0;
}

/* ---- Shared pieces --------------------------------------------------------- */

void mls_treekem_secrets_wipe(struct mls_treekem_secrets *s)
{
	aim_wipe(s, sizeof *s);
}

/* Sets the parent_hash fields of the filtered direct path nodes fdp[0..n)
 * (already holding their new keys, empty unmerged leaves), root first, and
 * writes the parent hash the leaf must carry (ph[0], or empty). */
static int chain_parent_hashes(struct mls_tree *t, const uint32_t *fdp, const uint32_t *copath,
			       size_t n, uint8_t leaf_ph[AIM_MAX_HASH], size_t *leaf_ph_len)
{
	size_t nh = t->suite->nh;
	uint8_t above[AIM_MAX_HASH];
	size_t above_len = 0;
	for (size_t i = n; i-- > 0;) {
		TRY(mls_tree_touch(t, fdp[i]));
		struct mls_parent_node *pn = &t->nodes[fdp[i]].parent;
		/* "If P is the root, then the parent_hash field is set to a
		 * zero-length octet string. Otherwise, parent_hash is the parent
		 * hash of the next node after P on the filtered direct path" */
		TRY(mls_bytes_set(&pn->parent_hash, above, above_len));
		uint8_t sth[AIM_MAX_HASH];
		TRY(mls_tree_node_hash(t, copath[i], sth));
		TRY(mls_tree_parent_hash(t, fdp[i], AIM_BYTES(sth, nh), above));
		above_len = nh;
	}
	memcpy(leaf_ph, above, above_len);
	*leaf_ph_len = above_len;
	return 0;
}

/* Blanks the direct path of leaf and installs parent nodes with keys
 * pks[i] at fdp[i] (parent hashes still empty). */
static int install_path(struct mls_tree *t, uint32_t leaf, const uint32_t *fdp, size_t n,
			const struct mls_bytes *pks)
{
	mls_tree_blank_path(t, leaf);
	for (size_t i = 0; i < n; i++) {
		TRY(mls_tree_touch(t, fdp[i]));
		struct mls_node *node = &t->nodes[fdp[i]];
		node->type = MLS_NODE_PARENT;
		/* "Set the list of unmerged leaves to the empty list." */
		TRY(mls_bytes_copy(&node->parent.encryption_key, &pks[i]));
	}
	return 0;
}

static int derive_path(const struct aim_suite *cs, const uint8_t *in, uint8_t *out)
{
	uint8_t tmp[AIM_MAX_HASH];
	/* path_secret[n] = DeriveSecret(path_secret[n-1], "path") */
	int rc = mls_derive_secret(cs, AIM_BYTES(in, cs->nh), "path", tmp);
	if (rc == 0)
		memcpy(out, tmp, cs->nh);
	aim_wipe(tmp, sizeof tmp);
	return rc;
}

/* ---- Sending ----------------------------------------------------------------- */

int mls_treekem_create(struct mls_tree *t, struct mls_tree_priv *priv, uint32_t leaf,
		       struct aim_bytes group_id, struct aim_bytes sig_sk,
		       const struct mls_leaf_node *leaf_template, struct mls_update_path *path_out,
		       struct mls_treekem_secrets *sec)
{
	const struct aim_suite *cs = t->suite;
	int rc = 0;
	struct mls_bytes pks[MLS_TM_MAX_DEPTH];
	struct aim_buf sk, pk, lsk, lpk;
	struct mls_leaf_node nl;
	uint8_t first[AIM_MAX_HASH];
	memset(pks, 0, sizeof pks);
	memset(&nl, 0, sizeof nl);
	memset(path_out, 0, sizeof *path_out);
	memset(sec, 0, sizeof *sec);
	aim_buf_init(&sk, AIM_MAX_KEM_SK + 1);
	aim_buf_init(&pk, AIM_MAX_KEM_PK + 1);
	aim_buf_init(&lsk, AIM_MAX_KEM_SK + 1);
	aim_buf_init(&lpk, AIM_MAX_KEM_PK + 1);

	const struct mls_leaf_node *old = mls_tree_leaf(t, leaf);
	ENSURE_GOTO(old, out, AIM_ERR_INVALID, "UpdatePath from blank leaf %u", leaf);
	ENSURE_GOTO(priv->leaf == leaf && priv->suite == cs, out, AIM_ERR_INVALID,
		    "private state of another leaf");
	sec->nh = cs->nh;
	sec->n = mls_tree_filtered_direct_path(t, leaf, sec->fdp, sec->copath);

	/* "path_secret[0] is sampled at random; path_secret[n] =
	 * DeriveSecret(path_secret[n-1], "path")"; the commit secret is the
	 * next one after the last (section 12.4.2). */
	TRY_GOTO(aim_random(first, cs->nh), out);
	const uint8_t *prev = first;
	for (size_t i = 0; i < sec->n; i++) {
		if (i == 0)
			memcpy(sec->path_secret[0], first, cs->nh);
		else
			TRY_GOTO(derive_path(cs, sec->path_secret[i - 1], sec->path_secret[i]), out);
		prev = sec->path_secret[i];
	}
	TRY_GOTO(derive_path(cs, prev, sec->commit_secret), out);

	/* Node key pairs; drop our old keys on the direct path. */
	uint32_t dp[MLS_TM_MAX_DEPTH];
	size_t ndp = mls_tm_direct_path(mls_tm_leaf_to_node(leaf), t->n_leaves, dp);
	for (size_t i = 0; i < ndp; i++)
		mls_tree_priv_drop(priv, dp[i]);
	for (size_t i = 0; i < sec->n; i++) {
		aim_buf_reset(&sk);
		aim_buf_reset(&pk);
		TRY_GOTO(mls_treekem_node_keys(cs, AIM_BYTES(sec->path_secret[i], cs->nh), &sk, &pk),
			 out);
		TRY_GOTO(mls_bytes_set(&pks[i], pk.data, pk.len), out);
		TRY_GOTO(set_pair(priv, sec->fdp[i], aim_buf_bytes(&sk), aim_buf_bytes(&pk)), out);
	}
	TRY_GOTO(install_path(t, leaf, sec->fdp, sec->n, pks), out);
	uint8_t leaf_ph[AIM_MAX_HASH];
	size_t leaf_ph_len;
	TRY_GOTO(chain_parent_hashes(t, sec->fdp, sec->copath, sec->n, leaf_ph, &leaf_ph_len), out);

	/* The new leaf: "Set the leaf_node_source to commit. Set the
	 * encryption_key to the public key of a freshly sampled key pair. Set
	 * the parent hash to the parent hash for the leaf. Re-sign the leaf
	 * node with its new contents." */
	TRY_GOTO(aim_kem_keygen(cs->kem, &lsk, &lpk), out);
	TRY_GOTO(mls_leaf_node_copy(&nl, leaf_template ? leaf_template : old), out);
	TRY_GOTO(mls_bytes_set(&nl.encryption_key, lpk.data, lpk.len), out);
	nl.source = MLS_LEAF_SOURCE_COMMIT;
	memset(&nl.lifetime, 0, sizeof nl.lifetime);
	TRY_GOTO(mls_bytes_set(&nl.parent_hash, leaf_ph, leaf_ph_len), out);
	TRY_GOTO(mls_leaf_node_sign(cs, &nl, group_id, leaf, sig_sk), out);
	TRY_GOTO(set_pair(priv, mls_tm_leaf_to_node(leaf), aim_buf_bytes(&lsk), aim_buf_bytes(&lpk)),
		 out);
	TRY_GOTO(mls_leaf_node_copy(&path_out->leaf_node, &nl), out);
	TRY_GOTO(mls_tree_touch(t, mls_tm_leaf_to_node(leaf)), out);
	mls_leaf_node_free(&t->nodes[mls_tm_leaf_to_node(leaf)].leaf);
	t->nodes[mls_tm_leaf_to_node(leaf)].leaf = nl;
	memset(&nl, 0, sizeof nl);

	if (sec->n) {
		path_out->nodes = aim_xcalloc(sec->n, sizeof *path_out->nodes);
		path_out->n_nodes = sec->n;
		for (size_t i = 0; i < sec->n; i++)
			TRY_GOTO(mls_bytes_copy(&path_out->nodes[i].encryption_key, &pks[i]), out);
	}
out:
	aim_wipe(first, sizeof first);
	for (size_t i = 0; i < MLS_TM_MAX_DEPTH; i++)
		mls_bytes_free(&pks[i]);
	mls_leaf_node_free(&nl);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_free_secret(&lsk);
	aim_buf_free(&lpk);
	if (rc) {
		mls_update_path_free(path_out);
		mls_treekem_secrets_wipe(sec);
	}
	return rc;
}

int mls_treekem_path_secret_for(const struct mls_treekem_secrets *sec, uint32_t leaf,
				uint32_t *node, struct aim_bytes *path_secret)
{
	uint32_t x = mls_tm_leaf_to_node(leaf);
	for (size_t i = 0; i < sec->n; i++) {
		if (!mls_tm_in_subtree(x, sec->copath[i]))
			continue;
		*node = sec->fdp[i];
		*path_secret = AIM_BYTES(sec->path_secret[i], sec->nh);
		return 0;
	}
	return aim_fail(AIM_ERR_NOTFOUND, "leaf %u is under no node of the path", leaf);
}

int mls_treekem_encrypt(const struct mls_tree *t, uint32_t leaf,
			const struct mls_treekem_secrets *sec, struct aim_bytes group_context,
			const uint32_t *exclude, size_t n_exclude, struct mls_update_path *path)
{
	const struct aim_suite *cs = t->suite;
	ENSURE(path->n_nodes == sec->n && sec->nh == cs->nh, AIM_ERR_INVALID,
	       "UpdatePath and secrets differ");
	for (size_t i = 0; i < sec->n; i++) {
		struct mls_update_path_node *pn = &path->nodes[i];
		for (size_t j = 0; j < pn->n_encrypted_path_secret; j++)
			mls_hpke_ciphertext_free(&pn->encrypted_path_secret[j]);
		free(pn->encrypted_path_secret);
		pn->encrypted_path_secret = NULL;
		pn->n_encrypted_path_secret = 0;
		/* "Compute the resolution of the node's child that is on the
		 * copath of the sender ... Any new member (from an Add proposal)
		 * added in the same Commit MUST be excluded from this
		 * resolution." */
		struct mls_u32_list res;
		TRY(mls_tree_resolution(t, sec->copath[i], exclude, n_exclude, &res));
		if (res.n)
			pn->encrypted_path_secret = aim_xcalloc(res.n, sizeof *pn->encrypted_path_secret);
		int rc = 0;
		for (size_t j = 0; j < res.n && rc == 0; j++) {
			const struct mls_bytes *key = mls_tree_node_key(t, res.v[j]);
			struct aim_buf kem, ct;
			aim_buf_init(&kem, AIM_MAX_KEM_PK + 1);
			aim_buf_init(&ct, 4096);
			/* (kem_output, ciphertext) = EncryptWithLabel(node_public_key,
			 * "UpdatePathNode", group_context, path_secret) */
			rc = key ? mls_encrypt_with_label(cs, mls_bytes_view(key), "UpdatePathNode",
							  group_context,
							  AIM_BYTES(sec->path_secret[i], cs->nh), &kem,
							  &ct)
				 : aim_fail(AIM_ERR_INTERNAL, "blank node in a resolution");
			struct mls_hpke_ciphertext *hc = &pn->encrypted_path_secret[j];
			if (rc == 0)
				rc = mls_bytes_set(&hc->kem_output, kem.data, kem.len);
			if (rc == 0)
				rc = mls_bytes_set(&hc->ciphertext, ct.data, ct.len);
			pn->n_encrypted_path_secret = j + 1;
			aim_buf_free(&kem);
			aim_buf_free(&ct);
		}
		free(res.v);
		TRY(rc);
	}
	return 0;
}

/* ---- Receiving ---------------------------------------------------------------- */

static bool key_in_tree(const struct mls_tree *t, const struct mls_bytes *k)
{
	uint32_t w = mls_tm_width(t->n_leaves);
	for (uint32_t x = 0; x < w; x++) {
		const struct mls_bytes *o = mls_tree_node_key(t, x);
		if (o && mls_bytes_equal(o, k))
			return true;
	}
	return false;
}

/* The checks of a received UpdatePath against the tree before merging. */
static int check_path(const struct mls_tree *t, uint32_t sender, struct aim_bytes group_id,
		      const struct mls_update_path *path, size_t n)
{
	const struct aim_suite *cs = t->suite;
	const struct mls_leaf_node *ln = &path->leaf_node;
	ENSURE(path->n_nodes == n, AIM_ERR_VERIFY,
	       "UpdatePath has %zu nodes, the filtered direct path %zu", path->n_nodes, n);
	/* "If the LeafNode appears in the leaf_node value of the UpdatePath in a
	 * Commit, verify that leaf_node_source is set to commit." */
	ENSURE(ln->source == MLS_LEAF_SOURCE_COMMIT, AIM_ERR_VERIFY,
	       "UpdatePath leaf_node_source %u", ln->source);
	ENSURE(ln->encryption_key.len == cs->kem_npk && ln->signature_key.len == cs->sig_npk,
	       AIM_ERR_VERIFY, "UpdatePath leaf key of the wrong length");
	/* Every new key must be fresh: "Verify that the following fields are
	 * unique among the members of the group: signature_key,
	 * encryption_key" (section 7.3); a key already anywhere in the tree,
	 * including the one being replaced, is refused (section 16.8). */
	ENSURE(!key_in_tree(t, &ln->encryption_key), AIM_ERR_VERIFY,
	       "UpdatePath leaf reuses an encryption key of the tree");
	for (uint32_t l = 0; l < t->n_leaves; l++) {
		const struct mls_leaf_node *o = mls_tree_leaf(t, l);
		ENSURE(l == sender || !o || !mls_bytes_equal(&o->signature_key, &ln->signature_key),
		       AIM_ERR_VERIFY, "UpdatePath leaf reuses the signature key of leaf %u", l);
	}
	for (size_t i = 0; i < n; i++) {
		const struct mls_bytes *k = &path->nodes[i].encryption_key;
		ENSURE(k->len == cs->kem_npk, AIM_ERR_VERIFY,
		       "UpdatePath node %zu: key of %zu bytes", i, k->len);
		ENSURE(!key_in_tree(t, k) && !mls_bytes_equal(k, &ln->encryption_key),
		       AIM_ERR_VERIFY, "UpdatePath node %zu reuses an encryption key", i);
		for (size_t j = 0; j < i; j++)
			ENSURE(!mls_bytes_equal(k, &path->nodes[j].encryption_key), AIM_ERR_VERIFY,
			       "UpdatePath repeats a key");
	}
	/* "Verify that the signature on the LeafNode is valid using
	 * signature_key." */
	if (mls_leaf_node_verify_signature(cs, ln, group_id, sender) != 0)
		return aim_fail(AIM_ERR_VERIFY, "UpdatePath leaf signature does not verify");
	return 0;
}

int mls_treekem_merge(struct mls_tree *t, uint32_t sender, struct aim_bytes group_id,
		      const struct mls_update_path *path)
{
	int rc = 0;
	ENSURE(mls_tree_leaf(t, sender), AIM_ERR_INVALID, "UpdatePath from blank leaf %u", sender);
	uint32_t fdp[MLS_TM_MAX_DEPTH], copath[MLS_TM_MAX_DEPTH], dp[MLS_TM_MAX_DEPTH];
	size_t n = mls_tree_filtered_direct_path(t, sender, fdp, copath);
	TRY(check_path(t, sender, group_id, path, n));

	/* Keep the nodes we replace, to put them back on failure. */
	uint32_t me = mls_tm_leaf_to_node(sender);
	size_t ndp = mls_tm_direct_path(me, t->n_leaves, dp);
	/* our own copies of the nodes moved out below (their contents may be
	 * shared with other trees) */
	TRY(mls_tree_touch(t, me));
	for (size_t i = 0; i < ndp; i++)
		TRY(mls_tree_touch(t, dp[i]));
	struct mls_node saved[MLS_TM_MAX_DEPTH + 1];
	saved[0] = t->nodes[me];
	memset(&t->nodes[me], 0, sizeof t->nodes[me]);
	for (size_t i = 0; i < ndp; i++) {
		saved[i + 1] = t->nodes[dp[i]];
		memset(&t->nodes[dp[i]], 0, sizeof t->nodes[dp[i]]);
	}
	TRY_GOTO(mls_tree_touch(t, me), fail); /* me and its direct path */
	struct mls_bytes pks[MLS_TM_MAX_DEPTH];
	for (size_t i = 0; i < n; i++)
		pks[i] = path->nodes[i].encryption_key; /* borrowed */
	TRY_GOTO(install_path(t, sender, fdp, n, pks), fail);
	uint8_t ph[AIM_MAX_HASH];
	size_t ph_len;
	TRY_GOTO(chain_parent_hashes(t, fdp, copath, n, ph, &ph_len), fail);
	/* "clients MUST recompute the expected value of parent_hash for the
	 * committer's new leaf and verify that it matches the parent_hash value
	 * in the supplied leaf_node." */
	ENSURE_GOTO(aim_ct_equal(ph, ph_len, path->leaf_node.parent_hash.p,
				 path->leaf_node.parent_hash.len),
		    fail, AIM_ERR_VERIFY, "UpdatePath leaf parent_hash does not match");
	TRY_GOTO(mls_tree_touch(t, me), fail);
	t->nodes[me].type = MLS_NODE_LEAF;
	TRY_GOTO(mls_leaf_node_copy(&t->nodes[me].leaf, &path->leaf_node), fail);
	mls_node_free(&saved[0]);
	for (size_t i = 0; i < ndp; i++)
		mls_node_free(&saved[i + 1]);
	return 0;
fail:
	mls_node_free(&t->nodes[me]);
	t->nodes[me] = saved[0];
	for (size_t i = 0; i < ndp; i++) {
		mls_node_free(&t->nodes[dp[i]]);
		t->nodes[dp[i]] = saved[i + 1];
	}
	/* the nodes put back are this tree's own (made so above): this only
	 * forgets hashes and cannot fail */
	if (mls_tree_touch(t, me) != 0)
		rc = -1;
	return rc;
}

/* From path secret ps at fdp[i]: derives the key pairs of fdp[i..n),
 * checks them against t, then stores them in priv (after dropping keys of
 * the sender's direct path) and writes the commit secret. */
static int derive_up(const struct mls_tree *t, struct mls_tree_priv *priv, uint32_t sender,
		     const uint32_t *fdp, size_t n, size_t i, const uint8_t *ps,
		     uint8_t commit_secret[AIM_MAX_HASH])
{
	const struct aim_suite *cs = t->suite;
	int rc = 0;
	uint8_t cur[AIM_MAX_HASH];
	struct aim_buf sk[MLS_TM_MAX_DEPTH], pk[MLS_TM_MAX_DEPTH];
	for (size_t k = 0; k < MLS_TM_MAX_DEPTH; k++) {
		aim_buf_init(&sk[k], AIM_MAX_KEM_SK + 1);
		aim_buf_init(&pk[k], AIM_MAX_KEM_PK + 1);
	}
	memcpy(cur, ps, cs->nh);
	for (size_t k = i; k < n; k++) {
		TRY_GOTO(mls_treekem_node_keys(cs, AIM_BYTES(cur, cs->nh), &sk[k], &pk[k]), out);
		/* "Verify that the derived public keys are the same as the
		 * corresponding public keys sent in the UpdatePath." */
		const struct mls_bytes *want = mls_tree_node_key(t, fdp[k]);
		ENSURE_GOTO(want && aim_ct_equal(want->p, want->len, pk[k].data, pk[k].len), out,
			    AIM_ERR_VERIFY, "derived key of node %u does not match the tree",
			    fdp[k]);
		TRY_GOTO(derive_path(cs, cur, cur), out);
	}
	uint32_t dp[MLS_TM_MAX_DEPTH];
	size_t ndp = mls_tm_direct_path(mls_tm_leaf_to_node(sender), t->n_leaves, dp);
	for (size_t k = 0; k < ndp; k++)
		mls_tree_priv_drop(priv, dp[k]);
	for (size_t k = i; k < n; k++)
		TRY_GOTO(set_pair(priv, fdp[k], aim_buf_bytes(&sk[k]), aim_buf_bytes(&pk[k])), out);
	if (commit_secret)
		memcpy(commit_secret, cur, cs->nh);
out:
	aim_wipe(cur, sizeof cur);
	for (size_t k = 0; k < MLS_TM_MAX_DEPTH; k++) {
		aim_buf_free_secret(&sk[k]);
		aim_buf_free(&pk[k]);
	}
	return rc;
}

int mls_treekem_decrypt(const struct mls_tree *t, struct mls_tree_priv *priv, uint32_t sender,
			const struct mls_update_path *path, struct aim_bytes group_context,
			const uint32_t *exclude, size_t n_exclude,
			uint8_t commit_secret[AIM_MAX_HASH], uint8_t path_secret[AIM_MAX_HASH])
{
	const struct aim_suite *cs = t->suite;
	uint32_t me = mls_tm_leaf_to_node(priv->leaf);
	ENSURE(priv->suite == cs, AIM_ERR_INVALID, "private state of another suite");
	ENSURE(priv->leaf != sender, AIM_ERR_INVALID, "decrypting our own UpdatePath");
	ENSURE(mls_tree_leaf(t, sender) && mls_tree_leaf(t, priv->leaf), AIM_ERR_INVALID,
	       "sender or receiver leaf is blank");
	uint32_t fdp[MLS_TM_MAX_DEPTH], copath[MLS_TM_MAX_DEPTH];
	size_t n = mls_tree_filtered_direct_path(t, sender, fdp, copath);
	ENSURE(path->n_nodes == n, AIM_ERR_VERIFY, "UpdatePath length does not fit the tree");
	/* "Identify a node in the filtered direct path for which the recipient
	 * is in the subtree of the non-updated child." */
	size_t i = 0;
	while (i < n && !mls_tm_in_subtree(me, copath[i]))
		i++;
	ENSURE(i < n, AIM_ERR_VERIFY, "no UpdatePath node covers leaf %u", priv->leaf);
	struct mls_u32_list res;
	TRY(mls_tree_resolution(t, copath[i], exclude, n_exclude, &res));
	const struct mls_update_path_node *pn = &path->nodes[i];
	int rc = 0;
	ENSURE_GOTO(pn->n_encrypted_path_secret == res.n, out, AIM_ERR_VERIFY,
		    "UpdatePath node %zu has %zu ciphertexts for a resolution of %zu", i,
		    pn->n_encrypted_path_secret, res.n);
	/* "Identify a node in the resolution of the copath node for which the
	 * recipient has a private key." */
	size_t j = 0;
	const struct mls_tree_priv_key *key = NULL;
	for (; j < res.n; j++) {
		key = mls_tree_priv_get(priv, res.v[j]);
		const struct mls_bytes *pub = mls_tree_node_key(t, res.v[j]);
		if (key && pub && mls_bytes_equal(pub, &key->pk))
			break;
		key = NULL;
	}
	ENSURE_GOTO(key, out, AIM_ERR_NOTFOUND, "no private key for the resolution of node %u",
		    copath[i]);
	struct aim_buf ps;
	aim_buf_init(&ps, AIM_MAX_HASH + 1);
	/* path_secret = DecryptWithLabel(node_private_key, "UpdatePathNode",
	 * group_context, kem_output, ciphertext) */
	rc = mls_decrypt_with_label(cs, mls_bytes_view(&key->sk), "UpdatePathNode", group_context,
				    mls_bytes_view(&pn->encrypted_path_secret[j].kem_output),
				    mls_bytes_view(&pn->encrypted_path_secret[j].ciphertext), &ps);
	if (rc == 0 && ps.len != cs->nh)
		rc = aim_fail(AIM_ERR_VERIFY, "path secret of %zu bytes", ps.len);
	if (rc == 0)
		rc = derive_up(t, priv, sender, fdp, n, i, ps.data, commit_secret);
	if (rc == 0 && path_secret)
		memcpy(path_secret, ps.data, cs->nh);
	aim_buf_free_secret(&ps);
out:
	free(res.v);
	return rc;
}

int mls_treekem_implant(const struct mls_tree *t, struct mls_tree_priv *priv, uint32_t sender,
			uint32_t node, struct aim_bytes path_secret,
			uint8_t commit_secret[AIM_MAX_HASH])
{
	const struct aim_suite *cs = t->suite;
	ENSURE(path_secret.len == cs->nh, AIM_ERR_VERIFY, "path secret of %zu bytes",
	       path_secret.len);
	ENSURE(mls_tree_leaf(t, sender), AIM_ERR_INVALID, "committer leaf %u is blank", sender);
	uint32_t fdp[MLS_TM_MAX_DEPTH];
	size_t n = mls_tree_filtered_direct_path(t, sender, fdp, NULL);
	size_t i = 0;
	while (i < n && fdp[i] != node)
		i++;
	ENSURE(i < n, AIM_ERR_VERIFY, "node %u is not on the committer's filtered direct path",
	       node);
	ENSURE(mls_tm_in_subtree(mls_tm_leaf_to_node(priv->leaf), node), AIM_ERR_VERIFY,
	       "node %u is not above our leaf", node);
	return derive_up(t, priv, sender, fdp, n, i, path_secret.p, commit_secret);
}
