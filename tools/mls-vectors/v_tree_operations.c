/* tree-operations.json: apply an Add, Update or Remove proposal to a tree
 * and compare the encoding and tree hash before and after. */
#include "vectors.h"

#include <string.h>

#include "mls/tree.h"

static bool hash_is(json_t *t, const char *key, const struct mls_tree *tree)
{
	uint8_t h[AIM_MAX_HASH];
	return mls_tree_hash(tree, h) == 0 && vec_expect(t, key, h, tree->suite->nh);
}

void vec_tree_operations(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t) {
		uint64_t suite, sender;
		struct aim_buf before, prop, enc;
		struct mls_tree tree;
		struct mls_proposal p;
		memset(&p, 0, sizeof p);
		mls_tree_init(&tree, NULL);
		aim_buf_init(&before, 0);
		aim_buf_init(&prop, 0);
		aim_buf_init(&enc, MLS_MAX_MESSAGE);
		const struct aim_suite *cs = NULL;
		if (vec_uint(t, "cipher_suite", &suite) || !(cs = aim_suite_get((uint16_t)suite)) ||
		    vec_uint(t, "proposal_sender", &sender) ||
		    vec_hex(t, "tree_before", &before, NULL) || vec_hex(t, "proposal", &prop, NULL)) {
			vec_fail(st, i, "bad test object");
		} else if (mls_tree_parse(&tree, cs, before.data, before.len) != 0 ||
			   mls_proposal_parse(prop.data, prop.len, &p) != 0) {
			vec_fail(st, i, "tree or proposal does not decode");
		} else if (!hash_is(t, "tree_hash_before", &tree)) {
			vec_fail(st, i, "tree_hash_before mismatch");
		} else if (mls_tree_apply_proposal(&tree, &p, (uint32_t)sender, NULL) != 0) {
			vec_fail(st, i, "proposal refused");
		} else if (mls_tree_encode(&enc, &tree) != 0 ||
			   !vec_expect(t, "tree_after", enc.data, enc.len)) {
			vec_fail(st, i, "tree_after mismatch");
		} else if (!hash_is(t, "tree_hash_after", &tree)) {
			vec_fail(st, i, "tree_hash_after mismatch");
		} else {
			st->passed++;
		}
		mls_proposal_free(&p);
		mls_tree_free(&tree);
		aim_buf_free(&before);
		aim_buf_free(&prop);
		aim_buf_free(&enc);
	}
}
