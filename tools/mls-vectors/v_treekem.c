/* treekem.json: private states consistent with the tree; every member
 * decrypts each UpdatePath to the expected path secret and commit secret;
 * the merged tree hash; and a fresh UpdatePath of ours decrypts at every
 * other member. */
#include "vectors.h"

#include <stdlib.h>
#include <string.h>

#include "mls/tree.h"

struct member {
	uint32_t index;
	struct mls_tree_priv priv;
	struct aim_buf sig_priv;
};

struct tk {
	const struct aim_suite *cs;
	struct aim_buf group_id, cth, tree_bytes;
	uint64_t epoch;
	struct mls_tree tree;
	struct member *m;
	size_t nm;
};

static void tk_free(struct tk *k)
{
	aim_buf_free(&k->group_id);
	aim_buf_free(&k->cth);
	aim_buf_free(&k->tree_bytes);
	mls_tree_free(&k->tree);
	for (size_t i = 0; i < k->nm; i++) {
		mls_tree_priv_free(&k->m[i].priv);
		aim_buf_free_secret(&k->m[i].sig_priv);
	}
	free(k->m);
}

/* The encoded GroupContext with the tree hash of t. */
static int group_context(const struct tk *k, const struct mls_tree *t, struct aim_buf *out)
{
	uint8_t th[AIM_MAX_HASH];
	TRY(mls_tree_hash(t, th));
	struct mls_group_context gc;
	memset(&gc, 0, sizeof gc);
	gc.version = MLS_VERSION_10;
	gc.cipher_suite = k->cs->id;
	gc.epoch = k->epoch;
	/* borrowed views: nothing here is freed */
	gc.group_id.p = k->group_id.data;
	gc.group_id.len = k->group_id.len;
	gc.tree_hash.p = th;
	gc.tree_hash.len = k->cs->nh;
	gc.confirmed_transcript_hash.p = k->cth.data;
	gc.confirmed_transcript_hash.len = k->cth.len;
	aim_buf_init(out, MLS_MAX_MESSAGE);
	return mls_group_context_encode(out, &gc);
}

static int load_members(struct tk *k, json_t *t)
{
	json_t *arr = json_object_get(t, "leaves_private");
	ENSURE(json_is_array(arr), AIM_ERR_DECODE, "leaves_private missing");
	k->nm = json_array_size(arr);
	k->m = calloc(k->nm ? k->nm : 1, sizeof *k->m);
	ENSURE(k->m, AIM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < k->nm; i++) {
		json_t *lp = json_array_get(arr, i);
		struct member *m = &k->m[i];
		uint64_t idx;
		struct aim_buf enc;
		aim_buf_init(&m->sig_priv, 0);
		TRY(vec_uint(lp, "index", &idx));
		m->index = (uint32_t)idx;
		mls_tree_priv_init(&m->priv, k->cs, m->index);
		TRY(vec_hex(lp, "signature_priv", &m->sig_priv, NULL));
		TRY(vec_hex(lp, "encryption_priv", &enc, NULL));
		int rc = mls_tree_priv_set(&m->priv, mls_tm_leaf_to_node(m->index), aim_buf_bytes(&enc));
		aim_buf_free_secret(&enc);
		TRY(rc);
		json_t *ps = json_object_get(lp, "path_secrets");
		ENSURE(json_is_array(ps), AIM_ERR_DECODE, "path_secrets missing");
		for (size_t j = 0; j < json_array_size(ps); j++) {
			json_t *e = json_array_get(ps, j);
			uint64_t node;
			struct aim_buf s;
			TRY(vec_uint(e, "node", &node));
			TRY(vec_hex(e, "path_secret", &s, NULL));
			rc = mls_tree_priv_set_path_secret(&m->priv, (uint32_t)node, aim_buf_bytes(&s));
			aim_buf_free_secret(&s);
			TRY(rc);
		}
		/* "Verify that the resulting private state leaf_private[i] is
		 * consistent with the ratchet_tree" */
		TRY(mls_tree_priv_check(&m->priv, &k->tree));
	}
	return 0;
}

/* The received UpdatePath up from sender: merge, tree hash, decryption at
 * every other member. */
static int check_received(const struct tk *k, json_t *u, uint32_t sender,
			  const struct mls_update_path *up)
{
	int rc = 0;
	struct mls_tree t2;
	struct aim_buf gc, want_cs;
	aim_buf_init(&gc, 0);
	aim_buf_init(&want_cs, 0);
	TRY(mls_tree_copy(&t2, &k->tree));
	/* "Verify that update_path is parent-hash valid relative to
	 * ratchet_tree" (and signed) */
	TRY_GOTO(mls_treekem_merge(&t2, sender, aim_buf_bytes(&k->group_id), up), out);
	uint8_t th[AIM_MAX_HASH];
	TRY_GOTO(mls_tree_hash(&t2, th), out);
	ENSURE_GOTO(vec_expect(u, "tree_hash_after", th, k->cs->nh), out, AIM_ERR_VERIFY,
		    "tree_hash_after");
	TRY_GOTO(mls_tree_verify_parent_hashes(&t2), out);
	TRY_GOTO(group_context(k, &t2, &gc), out);
	TRY_GOTO(vec_hex(u, "commit_secret", &want_cs, NULL), out);
	json_t *pss = json_object_get(u, "path_secrets");
	for (size_t j = 0; j < k->nm; j++) {
		const struct member *m = &k->m[j];
		if (m->index == sender || !mls_tree_leaf(&k->tree, m->index))
			continue;
		struct mls_tree_priv p;
		uint8_t cs[AIM_MAX_HASH], ps[AIM_MAX_HASH];
		TRY_GOTO(mls_tree_priv_copy(&p, &m->priv), out);
		rc = mls_treekem_decrypt(&t2, &p, sender, up, aim_buf_bytes(&gc), NULL, 0, cs, ps);
		if (rc == 0)
			rc = mls_tree_priv_check(&p, &t2);
		mls_tree_priv_free(&p);
		TRY_GOTO(rc, out);
		json_t *want_ps = json_array_get(pss, m->index);
		struct aim_buf w;
		aim_buf_init(&w, 1024);
		bool ok = json_is_string(want_ps) &&
			  aim_hex_decode(&w, json_string_value(want_ps), json_string_length(want_ps)) ==
				  0 &&
			  aim_ct_equal(w.data, w.len, ps, k->cs->nh) &&
			  aim_ct_equal(want_cs.data, want_cs.len, cs, k->cs->nh);
		aim_buf_free(&w);
		ENSURE_GOTO(ok, out, AIM_ERR_VERIFY, "leaf %u: path or commit secret differs",
			    m->index);
	}
out:
	mls_tree_free(&t2);
	aim_buf_free(&gc);
	aim_buf_free(&want_cs);
	return rc;
}

/* "Create a new UpdatePath new_update_path ... For each leaf node index
 * j != i ... the resulting commit secret is new_commit_secret" */
static int check_own(const struct tk *k, const struct member *me)
{
	int rc = 0;
	struct mls_tree t3, t4;
	struct mls_tree_priv priv;
	struct mls_update_path np;
	struct mls_treekem_secrets sec;
	struct aim_buf gc, enc;
	struct mls_update_path wire;
	memset(&wire, 0, sizeof wire);
	aim_buf_init(&gc, 0);
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	mls_tree_init(&t4, k->cs);
	TRY(mls_tree_copy(&t3, &k->tree));
	if (mls_tree_priv_copy(&priv, &me->priv) != 0) {
		mls_tree_free(&t3);
		return -1;
	}
	TRY_GOTO(mls_treekem_create(&t3, &priv, me->index, aim_buf_bytes(&k->group_id),
				    aim_buf_bytes(&me->sig_priv), NULL, &np, &sec),
		 out_priv);
	TRY_GOTO(group_context(k, &t3, &gc), out);
	TRY_GOTO(mls_treekem_encrypt(&t3, me->index, &sec, aim_buf_bytes(&gc), NULL, 0, &np), out);
	TRY_GOTO(mls_tree_priv_check(&priv, &t3), out);
	/* Through the wire encoding, as another member would see it. */
	TRY_GOTO(mls_update_path_encode(&enc, &np), out);
	TRY_GOTO(mls_update_path_parse(enc.data, enc.len, &wire), out);
	TRY_GOTO(mls_tree_copy(&t4, &k->tree), out);
	TRY_GOTO(mls_treekem_merge(&t4, me->index, aim_buf_bytes(&k->group_id), &wire), out);
	uint8_t h3[AIM_MAX_HASH], h4[AIM_MAX_HASH];
	TRY_GOTO(mls_tree_hash(&t3, h3), out);
	TRY_GOTO(mls_tree_hash(&t4, h4), out);
	ENSURE_GOTO(memcmp(h3, h4, k->cs->nh) == 0, out, AIM_ERR_VERIFY,
		    "merged tree differs from the sender's");
	for (size_t j = 0; j < k->nm; j++) {
		const struct member *m = &k->m[j];
		if (m->index == me->index || !mls_tree_leaf(&k->tree, m->index))
			continue;
		struct mls_tree_priv p;
		uint8_t cs[AIM_MAX_HASH];
		TRY_GOTO(mls_tree_priv_copy(&p, &m->priv), out);
		rc = mls_treekem_decrypt(&t4, &p, me->index, &wire, aim_buf_bytes(&gc), NULL, 0, cs,
					 NULL);
		mls_tree_priv_free(&p);
		TRY_GOTO(rc, out);
		ENSURE_GOTO(memcmp(cs, sec.commit_secret, k->cs->nh) == 0, out, AIM_ERR_VERIFY,
			    "leaf %u derives another commit secret", m->index);
	}
out:
	mls_update_path_free(&np);
	mls_treekem_secrets_wipe(&sec);
out_priv:
	mls_update_path_free(&wire);
	mls_tree_priv_free(&priv);
	mls_tree_free(&t3);
	mls_tree_free(&t4);
	aim_buf_free(&gc);
	aim_buf_free(&enc);
	return rc;
}

static int run_one(json_t *t, struct tk *k)
{
	uint64_t suite;
	TRY(vec_uint(t, "cipher_suite", &suite));
	k->cs = aim_suite_get((uint16_t)suite);
	ENSURE(k->cs, AIM_ERR_UNSUPPORTED, "suite %u", (unsigned)suite);
	TRY(vec_uint(t, "epoch", &k->epoch));
	TRY(vec_hex(t, "group_id", &k->group_id, NULL));
	TRY(vec_hex(t, "confirmed_transcript_hash", &k->cth, NULL));
	TRY(vec_hex(t, "ratchet_tree", &k->tree_bytes, NULL));
	TRY(mls_tree_parse(&k->tree, k->cs, k->tree_bytes.data, k->tree_bytes.len));
	TRY(load_members(k, t));
	json_t *ups = json_object_get(t, "update_paths");
	ENSURE(json_is_array(ups), AIM_ERR_DECODE, "update_paths missing");
	for (size_t i = 0; i < json_array_size(ups); i++) {
		json_t *u = json_array_get(ups, i);
		uint64_t sender;
		struct aim_buf b;
		struct mls_update_path up;
		TRY(vec_uint(u, "sender", &sender));
		TRY(vec_hex(u, "update_path", &b, NULL));
		int rc = mls_update_path_parse(b.data, b.len, &up);
		aim_buf_free(&b);
		TRY(rc);
		rc = check_received(k, u, (uint32_t)sender, &up);
		mls_update_path_free(&up);
		TRY(rc);
		const struct member *me = NULL;
		for (size_t j = 0; j < k->nm; j++)
			if (k->m[j].index == sender)
				me = &k->m[j];
		ENSURE(me, AIM_ERR_DECODE, "no private state for sender %u", (unsigned)sender);
		TRY(check_own(k, me));
	}
	return 0;
}

void vec_treekem(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t) {
		struct tk k;
		memset(&k, 0, sizeof k);
		aim_buf_init(&k.group_id, 0);
		aim_buf_init(&k.cth, 0);
		aim_buf_init(&k.tree_bytes, 0);
		mls_tree_init(&k.tree, NULL);
		if (run_one(t, &k) != 0)
			vec_fail(st, i, "treekem check failed");
		else
			st->passed++;
		tk_free(&k);
	}
}
