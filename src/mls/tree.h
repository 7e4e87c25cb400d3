/*
 * The MLS ratchet tree (RFC 9420 sections 4, 7, 12.4.3.1 and Appendix C).
 *
 * - Tree math (tree_math.c): node relationships in the array
 *   representation of Appendix C. Leaves sit at even node indices (leaf i at
 *   node 2i), parents at odd ones. RFC 9420 trees are always full, so the
 *   number of leaves is a power of two and every function here takes node
 *   indices that are inside a tree of that width. These functions do no
 *   allocation and cannot fail; callers check indices against the width
 *   first (mls_tm_in_tree()).
 * - The public ratchet tree (tree_ratchet.c): struct mls_tree owns a full
 *   array of optional nodes (codec.h's struct mls_node; type MLS_NODE_BLANK
 *   is a blank node). It is built from the ratchet_tree encoding (which
 *   omits trailing blanks; a blank last node is refused) and encodes back
 *   without trailing blanks. Resolution, filtered direct path, adding,
 *   updating and removing leaves (with truncation), and applying Add /
 *   Update / Remove proposals.
 * - Hashes (tree_hash.c): tree hashes (section 7.8), parent hashes (7.9)
 *   and the join-time parent-hash check (7.9.2).
 * - Validation of a received tree (tree_validate.c): section 12.4.3.1 as far
 *   as the tree goes (leaf signatures, parent hashes, unmerged leaves, unique
 *   keys, tree hash). Credential, capability and lifetime checks of each
 *   LeafNode are the caller's (they need application policy).
 * - TreeKEM (treekem.c): creating an UpdatePath (sections 7.4-7.6) with its
 *   path secrets, and merging / decrypting a received one. Private keys live
 *   in struct mls_tree_priv, which wipes them when freed.
 *
 * Conventions: base.h results (0 / -1 with aim_fail). Trees and private
 * states are owned by their caller and freed with their _free function;
 * functions that change a tree leave it unchanged when they fail unless
 * their comment says otherwise.
 */
#ifndef AIM_MLS_TREE_H
#define AIM_MLS_TREE_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/mls.h"

/* ---- Tree math --------------------------------------------------------- */

/* The largest tree this implementation accepts: 2^16 leaves. A received
 * ratchet tree or a tree extended past this is refused with AIM_ERR_LIMIT. */
#define MLS_TM_MAX_LEAVES ((uint32_t)1 << 16)
/* The longest direct path / copath (the depth of the largest tree). */
#define MLS_TM_MAX_DEPTH 17

static inline bool mls_tm_is_leaf(uint32_t x)
{
	return (x & 1) == 0;
}

static inline uint32_t mls_tm_leaf_to_node(uint32_t leaf)
{
	return leaf * 2;
}

static inline uint32_t mls_tm_node_to_leaf(uint32_t node)
{
	return node / 2;
}

/* The level of a node: leaves are 0, their parents 1, ... */
uint32_t mls_tm_level(uint32_t x);
/* The number of nodes of a tree with n_leaves leaves (0 for 0). */
uint32_t mls_tm_width(uint32_t n_leaves);
/* The root node of a tree with n_leaves leaves (n_leaves a power of two). */
uint32_t mls_tm_root(uint32_t n_leaves);
/* True if n is a power of two (and not 0). */
bool mls_tm_is_pow2(uint32_t n);
/* True if node x exists in a tree of n_leaves leaves. */
bool mls_tm_in_tree(uint32_t x, uint32_t n_leaves);

/* Children of a parent node (x must not be a leaf). */
uint32_t mls_tm_left(uint32_t x);
uint32_t mls_tm_right(uint32_t x);
/* The parent and sibling of x in a tree of n_leaves leaves (x must not be
 * the root). In a full tree neither depends on the width; n_leaves is kept
 * for the assertion. */
uint32_t mls_tm_parent(uint32_t x, uint32_t n_leaves);
uint32_t mls_tm_sibling(uint32_t x, uint32_t n_leaves);

/* True if x is ancestor or x itself is in the subtree headed by a. */
bool mls_tm_in_subtree(uint32_t x, uint32_t a);

/* The direct path of x (parent first, root last) and its copath (sibling of
 * x, then siblings of the direct-path nodes except the root). out must hold
 * MLS_TM_MAX_DEPTH entries; returns the number written. */
size_t mls_tm_direct_path(uint32_t x, uint32_t n_leaves, uint32_t out[MLS_TM_MAX_DEPTH]);
size_t mls_tm_copath(uint32_t x, uint32_t n_leaves, uint32_t out[MLS_TM_MAX_DEPTH]);

/* The lowest node that is on the direct paths of both x and y (or is x or
 * y itself). */
uint32_t mls_tm_common_ancestor(uint32_t x, uint32_t y);

/* ---- The public ratchet tree -------------------------------------------- */

/* What a tree keeps beside each node: its tree hash (section 7.8) as last
 * computed, valid only while ok; and, when the node's contents (the heap
 * buffers of struct mls_node) are shared with copies of the tree, the
 * count of trees holding them (NULL: this tree's alone). */
struct mls_tree_hash_cache {
	bool ok;
	uint8_t h[AIM_MAX_HASH];
	uint32_t *share;
};

struct mls_tree {
	const struct aim_suite *suite;
	uint32_t n_leaves;      /* a power of two; 0 for an empty tree */
	struct mls_node *nodes; /* mls_tm_width(n_leaves) entries, owned */
	/* Cached tree hashes, one per node (NULL: nothing cached). A hash is
	 * computed when asked for and kept until mls_tree_touch() invalidates
	 * it: a change to node x invalidates x and its direct path, so after a
	 * commit only the changed paths are hashed again (O(log n) hashes for
	 * one changed leaf). Filled by functions taking a const tree: a tree
	 * is not to be hashed from two threads at once. mls_tree_copy() shares
	 * the nodes' contents (copy on write, counted atomically): a copy costs
	 * one array copy, and a change copies only the nodes it changes. */
	struct mls_tree_hash_cache *hc;
};

/* An empty tree of suite cs (no allocation). */
void mls_tree_init(struct mls_tree *t, const struct aim_suite *cs);
/* Frees every node; leaves an empty tree of the same suite. */
void mls_tree_free(struct mls_tree *t);
/* Deep copy; dst is initialised here. */
int mls_tree_copy(struct mls_tree *dst, const struct mls_tree *src) AIM_WARN_UNUSED;
/* A new one-member tree whose only leaf is a copy of leaf. */
int mls_tree_create(struct mls_tree *t, const struct aim_suite *cs,
		    const struct mls_leaf_node *leaf) AIM_WARN_UNUSED;

/* Takes over the nodes of a decoded ratchet tree (rt is left empty, even on
 * failure, when its nodes are freed) and pads it to a full tree. Refuses a
 * blank or parent last node, a tree past MLS_TM_MAX_LEAVES, and non-empty
 * unmerged_leaves that name a leaf outside the tree. */
int mls_tree_from_ratchet_tree(struct mls_tree *t, const struct aim_suite *cs,
			       struct mls_ratchet_tree *rt) AIM_WARN_UNUSED;
/* Decodes an encoded optional<Node> ratchet_tree<V> (whole buffer). */
int mls_tree_parse(struct mls_tree *t, const struct aim_suite *cs, const uint8_t *p,
		   size_t len) AIM_WARN_UNUSED;
/* Appends the ratchet_tree encoding (trailing blank nodes omitted). */
int mls_tree_encode(struct aim_buf *w, const struct mls_tree *t) AIM_WARN_UNUSED;

static inline uint32_t mls_tree_width(const struct mls_tree *t)
{
	return mls_tm_width(t->n_leaves);
}
/* To be called before any change to node x (any field, or its type, or
 * freeing its contents): gives t its own copy of x's contents if they are
 * shared with another tree, and forgets the cached tree hashes of x and of
 * its direct path. Every function here that changes a tree calls it; code
 * that writes t->nodes[x] itself must too. Fails only if copying shared
 * contents fails. */
int mls_tree_touch(struct mls_tree *t, uint32_t x) AIM_WARN_UNUSED;

/* True for a blank node and for any node outside the tree. */
bool mls_tree_is_blank(const struct mls_tree *t, uint32_t node);
/* mls_tree_leaf(): in mls.h. */
/* The parent node at node index x, or NULL when blank / not a parent. */
const struct mls_parent_node *mls_tree_parent_node(const struct mls_tree *t, uint32_t x);
/* The encryption key of a non-blank node (leaf or parent), or NULL. */
const struct mls_bytes *mls_tree_node_key(const struct mls_tree *t, uint32_t node);
/* mls_tree_member_count(): in mls.h. */
/* The leaf index whose LeafNode encodes exactly like `leaf`, or -1
 * (AIM_ERR_NOTFOUND). */
int mls_tree_find_leaf(const struct mls_tree *t, const struct mls_leaf_node *leaf,
		       uint32_t *index) AIM_WARN_UNUSED;

/* Resolution of node x (section 4.1.1), as node indices in order; leaves
 * whose leaf index is in exclude[0..n_exclude) are left out (new members
 * when encrypting an UpdatePath, section 7.6). out->v is allocated (free()
 * it); an empty resolution gives v == NULL, n == 0. */
int mls_tree_resolution(const struct mls_tree *t, uint32_t x, const uint32_t *exclude,
			size_t n_exclude, struct mls_u32_list *out) AIM_WARN_UNUSED;
/* True if the subtree under x has no non-blank node (empty resolution). */
bool mls_tree_subtree_blank(const struct mls_tree *t, uint32_t x);
/* The filtered direct path of a leaf (section 4.1.2): node indices, leaf
 * to root, in fdp; the copath child of each in copath (either may be NULL).
 * Returns the length. */
size_t mls_tree_filtered_direct_path(const struct mls_tree *t, uint32_t leaf,
				     uint32_t fdp[MLS_TM_MAX_DEPTH], uint32_t copath[MLS_TM_MAX_DEPTH]);

/* Blanks the parent nodes on the direct path of a leaf. */
void mls_tree_blank_path(struct mls_tree *t, uint32_t leaf);
/* Drops the right half while it is all blank (section 7.7); never below
 * one leaf. */
void mls_tree_truncate(struct mls_tree *t);
/* Section 12.1.1: puts a copy of leaf in the leftmost blank leaf (extending
 * the tree when there is none) and adds its index to the unmerged_leaves of
 * every non-blank parent above it. *index receives the leaf index. */
int mls_tree_add_leaf(struct mls_tree *t, const struct mls_leaf_node *leaf,
		      uint32_t *index) AIM_WARN_UNUSED;
/* Section 12.1.2: replaces a non-blank leaf by a copy of leaf and blanks
 * its direct path. */
int mls_tree_update_leaf(struct mls_tree *t, uint32_t index,
			 const struct mls_leaf_node *leaf) AIM_WARN_UNUSED;
/* Section 12.1.3: blanks a non-blank leaf and its direct path, truncates. */
int mls_tree_remove_leaf(struct mls_tree *t, uint32_t index) AIM_WARN_UNUSED;
/* Applies one Add, Update or Remove proposal sent by leaf `sender`
 * (ignored for Add/Remove); *added (may be NULL) receives the new leaf of
 * an Add. Other proposal types do not touch the tree: AIM_ERR_INVALID.
 * Only the tree mechanics are checked here (non-blank targets, the leaf node
 * source of an Update); KeyPackage / LeafNode validation is the caller's. */
int mls_tree_apply_proposal(struct mls_tree *t, const struct mls_proposal *p, uint32_t sender,
			    uint32_t *added) AIM_WARN_UNUSED;

/* ---- Hashes (sections 7.8, 7.9) ----------------------------------------- */

/* The tree hash of the root; out receives suite->nh bytes. */
int mls_tree_hash(const struct mls_tree *t, uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;
/* The tree hash of node x. */
int mls_tree_node_hash(const struct mls_tree *t, uint32_t x, uint8_t out[AIM_MAX_HASH])
	AIM_WARN_UNUSED;
/* Tree hashes of every node: out has mls_tree_width(t) entries. */
int mls_tree_all_hashes(const struct mls_tree *t, uint8_t (*out)[AIM_MAX_HASH]) AIM_WARN_UNUSED;
/* The parent hash of non-blank parent p with copath child s, given the
 * (original) tree hash of s: Hash(ParentHashInput). */
int mls_tree_parent_hash(const struct mls_tree *t, uint32_t p, struct aim_bytes s_tree_hash,
			 uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;
/* Section 7.9.2 on joining: every non-blank parent node must be
 * parent-hash valid, chained to exactly one descendant. AIM_ERR_VERIFY if
 * not. */
int mls_tree_verify_parent_hashes(const struct mls_tree *t) AIM_WARN_UNUSED;

/* ---- Validation (section 12.4.3.1) -------------------------------------- */

/* VerifyWithLabel(signature_key, "LeafNodeTBS", LeafNodeTBS) for the leaf at
 * leaf index `index` of group group_id (both ignored for key_package
 * leaves). */
int mls_leaf_node_verify_signature(const struct aim_suite *cs, const struct mls_leaf_node *leaf,
				   struct aim_bytes group_id, uint32_t index) AIM_WARN_UNUSED;
/* Signs leaf in place (replaces leaf->signature) with raw private key sk. */
int mls_leaf_node_sign(const struct aim_suite *cs, struct mls_leaf_node *leaf,
		       struct aim_bytes group_id, uint32_t index, struct aim_bytes sk)
	AIM_WARN_UNUSED;
/* Every check of a received tree: no trailing blanks (the right half of
 * the tree holds a member; a one-leaf tree is not blank), node types fit
 * their positions, key lengths fit the suite, every leaf signature verifies with
 * group_id, every non-blank parent is parent-hash valid, unmerged leaves are
 * sorted, name non-blank descendant leaves and are listed at every non-blank
 * node between, encryption keys are unique across all nodes and signature
 * keys across leaves, and, when tree_hash is not empty, the root tree hash
 * equals it. AIM_ERR_VERIFY (or AIM_ERR_INVALID for a malformed tree). */
int mls_tree_validate(const struct mls_tree *t, struct aim_bytes group_id,
		      struct aim_bytes tree_hash) AIM_WARN_UNUSED;

/* ---- TreeKEM (sections 7.4 - 7.6) --------------------------------------- */

/* The private keys one member holds: its leaf's and those of some parents
 * above it. Freed with wipe. */
struct mls_tree_priv_key {
	uint32_t node;
	struct mls_bytes sk; /* HPKE private key (SerializePrivateKey) */
	struct mls_bytes pk; /* its public key */
};

struct mls_tree_priv {
	const struct aim_suite *suite;
	uint32_t leaf; /* our leaf index */
	struct mls_tree_priv_key *keys;
	size_t n;
};

void mls_tree_priv_init(struct mls_tree_priv *priv, const struct aim_suite *cs, uint32_t leaf);
/* Wipes and frees every key. */
void mls_tree_priv_free(struct mls_tree_priv *priv);
int mls_tree_priv_copy(struct mls_tree_priv *dst, const struct mls_tree_priv *src)
	AIM_WARN_UNUSED;
/* Stores (a copy of) sk for node, replacing any earlier key; computes its
 * public key. */
int mls_tree_priv_set(struct mls_tree_priv *priv, uint32_t node, struct aim_bytes sk)
	AIM_WARN_UNUSED;
/* Derives the key pair of node from its path secret and stores it. */
int mls_tree_priv_set_path_secret(struct mls_tree_priv *priv, uint32_t node,
				  struct aim_bytes path_secret) AIM_WARN_UNUSED;
/* The key held for node, or NULL. */
const struct mls_tree_priv_key *mls_tree_priv_get(const struct mls_tree_priv *priv,
						  uint32_t node);
/* Forgets (wipes) the key of node, if any. */
void mls_tree_priv_drop(struct mls_tree_priv *priv, uint32_t node);
/* Forgets keys of nodes that are now blank, outside the tree, or hold a
 * different public key (after proposals changed the tree). */
void mls_tree_priv_prune(struct mls_tree_priv *priv, const struct mls_tree *t);
/* Consistency with the public tree: every key's node is non-blank, is our
 * leaf or an ancestor of it, and holds the matching public key; our leaf's
 * key is present. AIM_ERR_VERIFY if not. */
int mls_tree_priv_check(const struct mls_tree_priv *priv, const struct mls_tree *t)
	AIM_WARN_UNUSED;

/* node_secret = DeriveSecret(path_secret, "node"); KEM.DeriveKeyPair.
 * Appends the private key to sk and the public key to pk. */
int mls_treekem_node_keys(const struct aim_suite *cs, struct aim_bytes path_secret,
			  struct aim_buf *sk, struct aim_buf *pk) AIM_WARN_UNUSED;

/* The secrets of an UpdatePath being sent: one path secret per node of the
 * sender's filtered direct path, and the commit secret. Wipe with
 * mls_treekem_secrets_wipe(). */
struct mls_treekem_secrets {
	size_t nh;
	size_t n;
	uint32_t fdp[MLS_TM_MAX_DEPTH];
	uint32_t copath[MLS_TM_MAX_DEPTH];
	uint8_t path_secret[MLS_TM_MAX_DEPTH][AIM_MAX_HASH];
	uint8_t commit_secret[AIM_MAX_HASH];
};
void mls_treekem_secrets_wipe(struct mls_treekem_secrets *s);

/* Step 1 of sending (sections 7.4, 7.5): replaces the sender's leaf and
 * filtered direct path in t with fresh keys (blanking the rest of its
 * direct path), computes the parent hashes, and signs the new LeafNode
 * (source commit, a copy of `leaf_template` or else of the current leaf,
 * with the new encryption key and parent hash) with sig_sk for group_id.
 * priv (our leaf == leaf) receives the new private keys. *path_out gets
 * the new leaf and one node per filtered direct path entry, with no
 * ciphertexts yet. Apply Add/Update/Remove proposals to t before this; then
 * compute the tree hash, build the provisional GroupContext, and call
 * mls_treekem_encrypt(). On failure t and priv may be changed: work on
 * copies. */
int mls_treekem_create(struct mls_tree *t, struct mls_tree_priv *priv, uint32_t leaf,
		       struct aim_bytes group_id, struct aim_bytes sig_sk,
		       const struct mls_leaf_node *leaf_template, struct mls_update_path *path_out,
		       struct mls_treekem_secrets *sec) AIM_WARN_UNUSED;
/* Step 2 of sending (section 7.6): for each node of the filtered direct
 * path, EncryptWithLabel(pk, "UpdatePathNode", group_context, path_secret)
 * to every node in the resolution of its copath child, leaving out the
 * leaves in exclude (the members added by this commit). group_context is
 * the encoded provisional GroupContext. */
int mls_treekem_encrypt(const struct mls_tree *t, uint32_t leaf,
			const struct mls_treekem_secrets *sec, struct aim_bytes group_context,
			const uint32_t *exclude, size_t n_exclude,
			struct mls_update_path *path) AIM_WARN_UNUSED;

/* For a member added by this commit (leaf): the node of the filtered
 * direct path whose copath child covers it (the lowest common ancestor
 * with the committer) and its path secret, a view into sec, for the
 * GroupSecrets of its Welcome (section 12.4.3.1). AIM_ERR_NOTFOUND when the
 * leaf is under no node of the path. */
int mls_treekem_path_secret_for(const struct mls_treekem_secrets *sec, uint32_t leaf,
				uint32_t *node, struct aim_bytes *path_secret) AIM_WARN_UNUSED;

/* Receiving, step 1 (section 7.5 "merges UpdatePath into the tree"): checks
 * the path fits the sender's filtered direct path, that no new encryption
 * key is already in the tree, the leaf node source (commit), its signature
 * (group_id, sender) and its parent hash; then replaces the sender's leaf,
 * blanks its direct path and sets the filtered direct path nodes (empty
 * unmerged_leaves, new parent hashes). On failure t is unchanged. */
int mls_treekem_merge(struct mls_tree *t, uint32_t sender, struct aim_bytes group_id,
		      const struct mls_update_path *path) AIM_WARN_UNUSED;
/* Receiving, step 2: on the merged tree t, finds the filtered direct path
 * node whose copath child covers our leaf, decrypts its path secret with a
 * key we hold (group_context: the encoded provisional GroupContext; exclude:
 * the members added by this commit, who have no ciphertext), derives the
 * path secrets above it, checks every derived public key against t, and
 * stores the new private keys in priv (dropping those of the sender's
 * direct path). Writes the commit secret, and when path_secret is not NULL
 * the decrypted path secret (both suite->nh bytes). */
int mls_treekem_decrypt(const struct mls_tree *t, struct mls_tree_priv *priv, uint32_t sender,
			const struct mls_update_path *path, struct aim_bytes group_context,
			const uint32_t *exclude, size_t n_exclude,
			uint8_t commit_secret[AIM_MAX_HASH], uint8_t path_secret[AIM_MAX_HASH])
	AIM_WARN_UNUSED;
/* Joining with a path secret (section 12.4.3.1): node is the lowest common
 * ancestor of our leaf and the committer's; derives the keys of node and of
 * every later node of the committer's filtered direct path, checks them
 * against t and stores them. commit_secret may be NULL. */
int mls_treekem_implant(const struct mls_tree *t, struct mls_tree_priv *priv, uint32_t sender,
			uint32_t node, struct aim_bytes path_secret,
			uint8_t commit_secret[AIM_MAX_HASH]) AIM_WARN_UNUSED;

#endif
