/* Unit tests of the ratchet tree: tree math, resolution, add/remove/truncate,
 * tree and parent hashes, validation refusals, TreeKEM round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "mls/tree.h"

/* ---- Tree math ---------------------------------------------------------- */

static void test_math_basics(void **state)
{
	assert_int_equal(tm_width(0), 0);
	assert_int_equal(tm_width(1), 1);
	assert_int_equal(tm_width(8), 15);
	assert_int_equal(tm_root(1), 0);
	assert_int_equal(tm_root(2), 1);
	assert_int_equal(tm_root(8), 7);
	assert_int_equal(tm_root(TM_MAX_LEAVES), TM_MAX_LEAVES - 1);
	assert_int_equal(tm_level(0), 0);
	assert_int_equal(tm_level(7), 3);
	assert_int_equal(tm_level(11), 2);
	assert_int_equal(tm_left(7), 3);
	assert_int_equal(tm_right(7), 11);
	assert_int_equal(tm_left(1), 0);
	assert_int_equal(tm_right(1), 2);
	assert_int_equal(tm_parent(0, 8), 1);
	assert_int_equal(tm_parent(11, 8), 7);
	assert_int_equal(tm_parent(3, 8), 7);
	assert_int_equal(tm_sibling(3, 8), 11);
	assert_int_equal(tm_sibling(12, 8), 14);
	assert_true(tm_is_pow2(1));
	assert_true(tm_is_pow2(64));
	assert_false(tm_is_pow2(0));
	assert_false(tm_is_pow2(6));
	assert_true(tm_in_tree(14, 8));
	assert_false(tm_in_tree(15, 8));
	assert_int_equal(tm_leaf_to_node(5), 10);
	assert_int_equal(tm_node_to_leaf(10), 5);
}

static void test_math_paths(void **state)
{
	uint32_t p[TM_MAX_DEPTH];
	/* The single-leaf tree: the leaf is the root, no paths at all. */
	assert_int_equal(tm_direct_path(0, 1, p), 0);
	assert_int_equal(tm_copath(0, 1, p), 0);
	/* Leaf 2 (node 4) in 8 leaves: direct path 5, 3, 7; copath 6, 1, 11. */
	assert_int_equal(tm_direct_path(4, 8, p), 3);
	assert_int_equal(p[0], 5);
	assert_int_equal(p[1], 3);
	assert_int_equal(p[2], 7);
	assert_int_equal(tm_copath(4, 8, p), 3);
	assert_int_equal(p[0], 6);
	assert_int_equal(p[1], 1);
	assert_int_equal(p[2], 11);
	/* The root's own paths are empty; a parent's direct path excludes it. */
	assert_int_equal(tm_direct_path(7, 8, p), 0);
	assert_int_equal(tm_direct_path(11, 8, p), 1);
	assert_int_equal(p[0], 7);
	/* The deepest tree we accept. */
	assert_int_equal(tm_direct_path(0, TM_MAX_LEAVES, p), 16);
	assert_int_equal(p[15], TM_MAX_LEAVES - 1);
}

static void test_math_ancestor(void **state)
{
	assert_int_equal(tm_common_ancestor(0, 2), 1);
	assert_int_equal(tm_common_ancestor(0, 14), 7);
	assert_int_equal(tm_common_ancestor(8, 14), 11);
	assert_int_equal(tm_common_ancestor(4, 4), 4);
	assert_int_equal(tm_common_ancestor(4, 3), 3);  /* 3 is an ancestor of 4 */
	assert_int_equal(tm_common_ancestor(3, 4), 3);
	assert_int_equal(tm_common_ancestor(12, 5), 7);
	assert_true(tm_in_subtree(4, 3));
	assert_true(tm_in_subtree(3, 3));
	assert_false(tm_in_subtree(8, 3));
	assert_false(tm_in_subtree(3, 2)); /* a leaf has no descendants */
	assert_true(tm_in_subtree(14, 7));
	/* Exhaustive agreement with the semantic definition on 32 leaves. */
	for (uint32_t x = 0; x < tm_width(32); x++) {
		for (uint32_t y = 0; y < tm_width(32); y++) {
			uint32_t a = tm_common_ancestor(x, y);
			assert_true(tm_in_subtree(x, a) && tm_in_subtree(y, a));
			if (!tm_is_leaf(a)) {
				bool both_left = tm_in_subtree(x, tm_left(a)) &&
						 tm_in_subtree(y, tm_left(a));
				bool both_right = tm_in_subtree(x, tm_right(a)) &&
						  tm_in_subtree(y, tm_right(a));
				assert_false(both_left || both_right);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_math_basics),
		cmocka_unit_test(test_math_paths),
		cmocka_unit_test(test_math_ancestor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
