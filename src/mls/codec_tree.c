/* MLS codec: LeafNode, KeyPackage, ParentNode, Node, the ratchet tree and
 * the TreeKEM structures (RFC 9420 sections 7, 10, 12.4.3.3). */
#include "mls/codec_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- LeafNode --------------------------------------------------------------- */

static bool leaf_source_known(uint8_t s)
{
	return s == MLS_LEAF_SOURCE_KEY_PACKAGE || s == MLS_LEAF_SOURCE_UPDATE ||
	       s == MLS_LEAF_SOURCE_COMMIT;
}

MLS_CODEC_DEFINE_PARSE(leaf_node)

int mls_leaf_node_decode(struct mls_tls_reader *r, struct mls_leaf_node *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->encryption_key), fail);
	TRY_GOTO(mls_read_bytes(r, &out->signature_key), fail);
	TRY_GOTO(mls_credential_decode(r, &out->credential), fail);
	TRY_GOTO(mls_capabilities_decode(r, &out->capabilities), fail);
	TRY_GOTO(mls_tls_read_u8(r, &out->source), fail);
	/* enum { reserved(0), key_package(1), update(2), commit(3), (255) } */
	ENSURE_GOTO(leaf_source_known(out->source), fail, AIM_ERR_UNSUPPORTED,
		    "leaf_node_source %u", out->source);
	if (out->source == MLS_LEAF_SOURCE_KEY_PACKAGE)
		TRY_GOTO(mls_lifetime_decode(r, &out->lifetime), fail);
	else if (out->source == MLS_LEAF_SOURCE_COMMIT)
		TRY_GOTO(mls_read_bytes(r, &out->parent_hash), fail);
	TRY_GOTO(mls_extension_list_decode(r, &out->extensions), fail);
	TRY_GOTO(mls_read_bytes(r, &out->signature), fail);
	return 0;
fail:
	mls_leaf_node_free(out);
	return rc;
}

static int leaf_node_encode_body(struct aim_buf *w, const struct mls_leaf_node *in)
{
	ENSURE(leaf_source_known(in->source), AIM_ERR_INVALID, "leaf_node_source %u",
	       in->source);
	TRY(mls_write_bytes(w, &in->encryption_key));
	TRY(mls_write_bytes(w, &in->signature_key));
	TRY(mls_credential_encode(w, &in->credential));
	TRY(mls_capabilities_encode(w, &in->capabilities));
	TRY(mls_tls_write_u8(w, in->source));
	if (in->source == MLS_LEAF_SOURCE_KEY_PACKAGE)
		TRY(mls_lifetime_encode(w, &in->lifetime));
	else if (in->source == MLS_LEAF_SOURCE_COMMIT)
		TRY(mls_write_bytes(w, &in->parent_hash));
	return mls_extension_list_encode(w, &in->extensions);
}

int mls_leaf_node_encode(struct aim_buf *w, const struct mls_leaf_node *in)
{
	TRY(leaf_node_encode_body(w, in));
	return mls_write_bytes(w, &in->signature);
}

int mls_leaf_node_encode_tbs(struct aim_buf *w, const struct mls_leaf_node *leaf,
			     struct aim_bytes group_id, uint32_t leaf_index)
{
	TRY(leaf_node_encode_body(w, leaf));
	/* select (LeafNodeTBS.leaf_node_source) { case key_package: struct{};
	 * case update: case commit: opaque group_id<V>; uint32 leaf_index; } */
	if (leaf->source == MLS_LEAF_SOURCE_KEY_PACKAGE)
		return 0;
	TRY(mls_tls_write_vec_bytes(w, group_id));
	return mls_tls_write_u32(w, leaf_index);
}

void mls_leaf_node_free(struct mls_leaf_node *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->encryption_key);
	mls_bytes_free(&x->signature_key);
	mls_credential_free(&x->credential);
	mls_capabilities_free(&x->capabilities);
	mls_bytes_free(&x->parent_hash);
	mls_extension_list_free(&x->extensions);
	mls_bytes_free(&x->signature);
	memset(x, 0, sizeof *x);
}

/* ---- KeyPackage ------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(key_package)

int mls_key_package_decode(struct mls_tls_reader *r, struct mls_key_package *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_tls_read_u16(r, &out->version), fail);
	TRY_GOTO(mls_tls_read_u16(r, &out->cipher_suite), fail);
	TRY_GOTO(mls_read_bytes(r, &out->init_key), fail);
	TRY_GOTO(mls_leaf_node_decode(r, &out->leaf_node), fail);
	TRY_GOTO(mls_extension_list_decode(r, &out->extensions), fail);
	TRY_GOTO(mls_read_bytes(r, &out->signature), fail);
	return 0;
fail:
	mls_key_package_free(out);
	return rc;
}

int mls_key_package_encode_tbs(struct aim_buf *w, const struct mls_key_package *kp)
{
	TRY(mls_tls_write_u16(w, kp->version));
	TRY(mls_tls_write_u16(w, kp->cipher_suite));
	TRY(mls_write_bytes(w, &kp->init_key));
	TRY(mls_leaf_node_encode(w, &kp->leaf_node));
	return mls_extension_list_encode(w, &kp->extensions);
}

int mls_key_package_encode(struct aim_buf *w, const struct mls_key_package *in)
{
	TRY(mls_key_package_encode_tbs(w, in));
	return mls_write_bytes(w, &in->signature);
}

void mls_key_package_free(struct mls_key_package *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->init_key);
	mls_leaf_node_free(&x->leaf_node);
	mls_extension_list_free(&x->extensions);
	mls_bytes_free(&x->signature);
	memset(x, 0, sizeof *x);
}

/* ---- ParentNode ------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(parent_node)

int mls_parent_node_decode(struct mls_tls_reader *r, struct mls_parent_node *out)
{
	int rc = 0;
	struct aim_bytes v;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->encryption_key), fail);
	TRY_GOTO(mls_read_bytes(r, &out->parent_hash), fail);
	/* uint32 unmerged_leaves<V> */
	TRY_GOTO(mls_tls_read_vec(r, &v), fail);
	ENSURE_GOTO(v.len % 4 == 0, fail, AIM_ERR_DECODE, "unmerged_leaves of length %zu",
		    v.len);
	ENSURE_GOTO(v.len / 4 <= MLS_MAX_LEAVES, fail, AIM_ERR_LIMIT,
		    "too many unmerged leaves");
	if (v.len) {
		out->unmerged_leaves.n = v.len / 4;
		out->unmerged_leaves.v = aim_xcalloc(v.len / 4, sizeof(uint32_t));
		for (size_t i = 0; i < v.len / 4; i++) {
			const uint8_t *q = v.p + 4 * i;
			out->unmerged_leaves.v[i] = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
						    (uint32_t)q[2] << 8 | q[3];
		}
	}
	return 0;
fail:
	mls_parent_node_free(out);
	return rc;
}

int mls_parent_node_encode(struct aim_buf *w, const struct mls_parent_node *in)
{
	TRY(mls_write_bytes(w, &in->encryption_key));
	TRY(mls_write_bytes(w, &in->parent_hash));
	ENSURE(in->unmerged_leaves.n == 0 || in->unmerged_leaves.v, AIM_ERR_INVALID,
	       "unmerged_leaves: NULL");
	size_t mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < in->unmerged_leaves.n; i++)
		TRY(mls_tls_write_u32(w, in->unmerged_leaves.v[i]));
	return mls_tls_vec_end(w, mark);
}

void mls_parent_node_free(struct mls_parent_node *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->encryption_key);
	mls_bytes_free(&x->parent_hash);
	free(x->unmerged_leaves.v);
	memset(x, 0, sizeof *x);
}

/* ---- Node ---------------------------------------------------------------------- */

MLS_CODEC_DEFINE_PARSE(node)

int mls_node_decode(struct mls_tls_reader *r, struct mls_node *out)
{
	int rc = 0;
	memset(out, 0, sizeof *out);
	TRY(mls_tls_read_u8(r, &out->type));
	/* enum { reserved(0), leaf(1), parent(2), (255) } NodeType */
	if (out->type == MLS_NODE_LEAF)
		TRY_GOTO(mls_leaf_node_decode(r, &out->leaf), fail);
	else if (out->type == MLS_NODE_PARENT)
		TRY_GOTO(mls_parent_node_decode(r, &out->parent), fail);
	else
		ENSURE_GOTO(false, fail, AIM_ERR_UNSUPPORTED, "node_type %u", out->type);
	return 0;
fail:
	mls_node_free(out);
	return rc;
}

int mls_node_encode(struct aim_buf *w, const struct mls_node *in)
{
	ENSURE(in->type == MLS_NODE_LEAF || in->type == MLS_NODE_PARENT, AIM_ERR_INVALID,
	       "node_type %u", in->type);
	TRY(mls_tls_write_u8(w, in->type));
	if (in->type == MLS_NODE_LEAF)
		return mls_leaf_node_encode(w, &in->leaf);
	return mls_parent_node_encode(w, &in->parent);
}

void mls_node_free(struct mls_node *x)
{
	if (!x)
		return;
	mls_leaf_node_free(&x->leaf);
	mls_parent_node_free(&x->parent);
	x->type = MLS_NODE_BLANK;
}

/* optional<Node> */
static int opt_node_decode_v(struct mls_tls_reader *r, void *x)
{
	struct mls_node *n = x;
	bool present;
	memset(n, 0, sizeof *n);
	TRY(mls_tls_read_optional(r, &present));
	return present ? mls_node_decode(r, n) : 0;
}

static int opt_node_encode_v(struct aim_buf *w, const void *x)
{
	const struct mls_node *n = x;
	if (n->type == MLS_NODE_BLANK)
		return mls_tls_write_u8(w, 0);
	TRY(mls_tls_write_u8(w, 1));
	return mls_node_encode(w, n);
}

static void node_free_v(void *x)
{
	mls_node_free(x);
}

/* ---- Ratchet tree ------------------------------------------------------------- */

static int tree_check(const struct mls_ratchet_tree *t, enum aim_err code)
{
	ENSURE(t->n > 0, code, "empty ratchet tree");
	ENSURE(t->n <= MLS_MAX_NODES, AIM_ERR_LIMIT, "ratchet tree of %zu nodes", t->n);
	/* "The receiver MUST check that the last node in ratchet_tree is
	 * non-blank" */
	ENSURE(t->nodes[t->n - 1].type != MLS_NODE_BLANK, code,
	       "ratchet tree ends with a blank node");
	/* "The leaves of the tree are stored in even-numbered entries" */
	for (size_t i = 0; i < t->n; i++) {
		uint8_t ty = t->nodes[i].type;
		ENSURE(ty == MLS_NODE_BLANK || ty == (i % 2 ? MLS_NODE_PARENT : MLS_NODE_LEAF), code,
		       "ratchet tree node %zu has type %u", i, ty);
	}
	return 0;
}

MLS_CODEC_DEFINE_PARSE(ratchet_tree)

int mls_ratchet_tree_decode(struct mls_tls_reader *r, struct mls_ratchet_tree *out)
{
	void *arr;
	memset(out, 0, sizeof *out);
	TRY(mls_read_struct_vec(r, sizeof(struct mls_node), MLS_MAX_NODES, opt_node_decode_v,
				node_free_v, &arr, &out->n));
	out->nodes = arr;
	if (tree_check(out, AIM_ERR_DECODE) != 0) {
		mls_ratchet_tree_free(out);
		return -1;
	}
	return 0;
}

int mls_ratchet_tree_encode(struct aim_buf *w, const struct mls_ratchet_tree *in)
{
	ENSURE(in->nodes || in->n == 0, AIM_ERR_INVALID, "ratchet tree: NULL");
	TRY(tree_check(in, AIM_ERR_INVALID));
	return mls_write_struct_vec(w, in->nodes, sizeof(struct mls_node), in->n,
				    opt_node_encode_v);
}

void mls_ratchet_tree_free(struct mls_ratchet_tree *x)
{
	if (!x)
		return;
	mls_free_struct_vec(x->nodes, sizeof(struct mls_node), x->n, node_free_v);
	x->nodes = NULL;
	x->n = 0;
}

/* ---- HPKECiphertext, UpdatePathNode, UpdatePath, PathSecret ------------------ */

MLS_CODEC_DEFINE_PARSE(hpke_ciphertext)

int mls_hpke_ciphertext_decode(struct mls_tls_reader *r, struct mls_hpke_ciphertext *out)
{
	memset(out, 0, sizeof *out);
	if (mls_read_bytes(r, &out->kem_output) != 0 || mls_read_bytes(r, &out->ciphertext) != 0) {
		mls_hpke_ciphertext_free(out);
		return -1;
	}
	return 0;
}

int mls_hpke_ciphertext_encode(struct aim_buf *w, const struct mls_hpke_ciphertext *in)
{
	TRY(mls_write_bytes(w, &in->kem_output));
	return mls_write_bytes(w, &in->ciphertext);
}

void mls_hpke_ciphertext_free(struct mls_hpke_ciphertext *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->kem_output);
	mls_bytes_free(&x->ciphertext);
}

MLS_CODEC_ADAPTERS(hpke_ciphertext)
MLS_CODEC_DEFINE_PARSE(update_path_node)

int mls_update_path_node_decode(struct mls_tls_reader *r, struct mls_update_path_node *out)
{
	int rc = 0;
	void *arr;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_read_bytes(r, &out->encryption_key), fail);
	TRY_GOTO(mls_read_struct_vec(r, sizeof(struct mls_hpke_ciphertext), MLS_MAX_LEAVES,
				     mls_hpke_ciphertext_decode_v, mls_hpke_ciphertext_free_v,
				     &arr, &out->n_encrypted_path_secret),
		 fail);
	out->encrypted_path_secret = arr;
	return 0;
fail:
	mls_update_path_node_free(out);
	return rc;
}

int mls_update_path_node_encode(struct aim_buf *w, const struct mls_update_path_node *in)
{
	TRY(mls_write_bytes(w, &in->encryption_key));
	return mls_write_struct_vec(w, in->encrypted_path_secret,
				    sizeof(struct mls_hpke_ciphertext),
				    in->n_encrypted_path_secret, mls_hpke_ciphertext_encode_v);
}

void mls_update_path_node_free(struct mls_update_path_node *x)
{
	if (!x)
		return;
	mls_bytes_free(&x->encryption_key);
	mls_free_struct_vec(x->encrypted_path_secret, sizeof(struct mls_hpke_ciphertext),
			    x->n_encrypted_path_secret, mls_hpke_ciphertext_free_v);
	memset(x, 0, sizeof *x);
}

MLS_CODEC_ADAPTERS(update_path_node)
MLS_CODEC_DEFINE_PARSE(update_path)

/* A path has one node per level of the tree: at most log2(MLS_MAX_LEAVES)+1. */
#define MLS_MAX_PATH 32

int mls_update_path_decode(struct mls_tls_reader *r, struct mls_update_path *out)
{
	int rc = 0;
	void *arr;
	memset(out, 0, sizeof *out);
	TRY_GOTO(mls_leaf_node_decode(r, &out->leaf_node), fail);
	TRY_GOTO(mls_read_struct_vec(r, sizeof(struct mls_update_path_node), MLS_MAX_PATH,
				     mls_update_path_node_decode_v, mls_update_path_node_free_v,
				     &arr, &out->n_nodes),
		 fail);
	out->nodes = arr;
	return 0;
fail:
	mls_update_path_free(out);
	return rc;
}

int mls_update_path_encode(struct aim_buf *w, const struct mls_update_path *in)
{
	TRY(mls_leaf_node_encode(w, &in->leaf_node));
	return mls_write_struct_vec(w, in->nodes, sizeof(struct mls_update_path_node), in->n_nodes,
				    mls_update_path_node_encode_v);
}

void mls_update_path_free(struct mls_update_path *x)
{
	if (!x)
		return;
	mls_leaf_node_free(&x->leaf_node);
	mls_free_struct_vec(x->nodes, sizeof(struct mls_update_path_node), x->n_nodes,
			    mls_update_path_node_free_v);
	x->nodes = NULL;
	x->n_nodes = 0;
}

MLS_CODEC_DEFINE_PARSE(path_secret)

int mls_path_secret_decode(struct mls_tls_reader *r, struct mls_path_secret *out)
{
	memset(out, 0, sizeof *out);
	return mls_read_bytes(r, &out->path_secret);
}

int mls_path_secret_encode(struct aim_buf *w, const struct mls_path_secret *in)
{
	return mls_write_bytes(w, &in->path_secret);
}

void mls_path_secret_free(struct mls_path_secret *x)
{
	if (x)
		mls_bytes_free_secret(&x->path_secret);
}

/* ---- Deep copies ------------------------------------------------------------- */

/* Encodes src and decodes the bytes into dst. */
#define DEFINE_COPY(name)                                                           \
	int mls_##name##_copy(struct mls_##name *dst, const struct mls_##name *src) \
	{                                                                           \
		struct aim_buf b;                                                   \
		memset(dst, 0, sizeof *dst);                                        \
		aim_buf_init(&b, MLS_MAX_MESSAGE);                                  \
		int rc = mls_##name##_encode(&b, src);                              \
		if (rc == 0)                                                        \
			rc = mls_##name##_parse(b.data, b.len, dst);                \
		aim_buf_free(&b);                                                   \
		return rc;                                                          \
	}

DEFINE_COPY(leaf_node)
DEFINE_COPY(key_package)
DEFINE_COPY(ratchet_tree)
