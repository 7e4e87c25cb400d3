/* tree-validation.json: resolution and tree hash of every node, parent
 * hashes and leaf signatures of a received tree. */
#include "vectors.h"

#include <stdlib.h>
#include <string.h>

#include "mls/tree.h"

static bool check_resolutions(json_t *t, const struct mls_tree *tree)
{
	json_t *res = json_object_get(t, "resolutions");
	uint32_t w = mls_tree_width(tree);
	if (!json_is_array(res) || json_array_size(res) != w) {
		fprintf(stderr, "%s: resolutions: not %u entries\n", vec_current_file, w);
		return false;
	}
	for (uint32_t x = 0; x < w; x++) {
		json_t *want = json_array_get(res, x);
		struct mls_u32_list got;
		if (mls_tree_resolution(tree, x, NULL, 0, &got) != 0)
			return false;
		bool ok = json_is_array(want) && json_array_size(want) == got.n;
		for (size_t i = 0; ok && i < got.n; i++) {
			json_t *v = json_array_get(want, i);
			ok = json_is_integer(v) && json_integer_value(v) == (json_int_t)got.v[i];
		}
		free(got.v);
		if (!ok) {
			fprintf(stderr, "%s: resolution of node %u differs\n", vec_current_file, x);
			return false;
		}
	}
	return true;
}

static bool check_hashes(json_t *t, const struct mls_tree *tree)
{
	json_t *arr = json_object_get(t, "tree_hashes");
	uint32_t w = mls_tree_width(tree);
	if (!json_is_array(arr) || json_array_size(arr) != w) {
		fprintf(stderr, "%s: tree_hashes: not %u entries\n", vec_current_file, w);
		return false;
	}
	uint8_t (*h)[AIM_MAX_HASH] = calloc(w, sizeof *h);
	bool ok = h && mls_tree_all_hashes(tree, h) == 0;
	for (uint32_t x = 0; ok && x < w; x++) {
		struct aim_buf want;
		aim_buf_init(&want, 1024);
		json_t *v = json_array_get(arr, x);
		ok = json_is_string(v) &&
		     aim_hex_decode(&want, json_string_value(v), json_string_length(v)) == 0 &&
		     aim_ct_equal(want.data, want.len, h[x], tree->suite->nh);
		if (!ok)
			fprintf(stderr, "%s: tree hash of node %u differs\n", vec_current_file, x);
		aim_buf_free(&want);
	}
	free(h);
	return ok;
}

void vec_tree_validation(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t) {
		uint64_t suite;
		struct aim_buf tree_bytes, group_id;
		struct mls_tree tree;
		mls_tree_init(&tree, NULL);
		aim_buf_init(&tree_bytes, 0);
		aim_buf_init(&group_id, 0);
		const struct aim_suite *cs = NULL;
		if (vec_uint(t, "cipher_suite", &suite) || !(cs = aim_suite_get((uint16_t)suite)) ||
		    vec_hex(t, "tree", &tree_bytes, NULL) || vec_hex(t, "group_id", &group_id, NULL)) {
			vec_fail(st, i, "bad test object");
		} else if (mls_tree_parse(&tree, cs, tree_bytes.data, tree_bytes.len) != 0) {
			vec_fail(st, i, "tree does not decode");
		} else if (!check_resolutions(t, &tree)) {
			vec_fail(st, i, "resolution mismatch");
		} else if (!check_hashes(t, &tree)) {
			vec_fail(st, i, "tree hash mismatch");
		} else if (mls_tree_validate(&tree, aim_buf_bytes(&group_id), AIM_BYTES(NULL, 0)) !=
			   0) {
			vec_fail(st, i, "valid tree refused");
		} else {
			st->passed++;
		}
		mls_tree_free(&tree);
		aim_buf_free(&tree_bytes);
		aim_buf_free(&group_id);
	}
}
