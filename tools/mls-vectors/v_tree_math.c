/* tree-math.json: root, left, right, parent and sibling of every node. */
#include "vectors.h"

#include "mls/tree.h"

enum rel { REL_LEFT, REL_RIGHT, REL_PARENT, REL_SIBLING };

/* Our answer for one relation of node x: false when it does not exist. */
static bool relation(enum rel r, uint32_t x, uint32_t n, uint32_t *out)
{
	switch (r) {
	case REL_LEFT:
		if (mls_tm_is_leaf(x))
			return false;
		*out = mls_tm_left(x);
		return true;
	case REL_RIGHT:
		if (mls_tm_is_leaf(x))
			return false;
		*out = mls_tm_right(x);
		return true;
	case REL_PARENT:
		if (x == mls_tm_root(n))
			return false;
		*out = mls_tm_parent(x, n);
		return true;
	case REL_SIBLING:
		if (x == mls_tm_root(n))
			return false;
		*out = mls_tm_sibling(x, n);
		return true;
	}
	return false;
}

static bool check_array(json_t *t, const char *key, enum rel r, uint32_t n, uint32_t w)
{
	json_t *a = json_object_get(t, key);
	if (!json_is_array(a) || json_array_size(a) != w) {
		fprintf(stderr, "%s: %s: not an array of %u entries\n", vec_current_file, key, w);
		return false;
	}
	for (uint32_t x = 0; x < w; x++) {
		json_t *v = json_array_get(a, x);
		uint32_t got = 0;
		bool have = relation(r, x, n, &got);
		bool ok = json_is_null(v) ? !have
					  : json_is_integer(v) && have &&
						    json_integer_value(v) == (json_int_t)got;
		if (!ok) {
			fprintf(stderr, "%s: %s[%u] mismatch (got %s%u)\n", vec_current_file, key,
				x, have ? "" : "none ", got);
			return false;
		}
	}
	return true;
}

void vec_tree_math(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t) {
		uint64_t n, nodes, root;
		if (vec_uint(t, "n_leaves", &n) || vec_uint(t, "n_nodes", &nodes) ||
		    vec_uint(t, "root", &root)) {
			vec_fail(st, i, "bad test object");
			continue;
		}
		if (!mls_tm_is_pow2((uint32_t)n) || n > MLS_TM_MAX_LEAVES) {
			vec_fail(st, i, "n_leaves %llu is not a power of two we accept",
				 (unsigned long long)n);
			continue;
		}
		uint32_t w = mls_tm_width((uint32_t)n);
		if (w != nodes || mls_tm_root((uint32_t)n) != root) {
			vec_fail(st, i, "n_nodes or root mismatch (%u, %u)", w, mls_tm_root((uint32_t)n));
			continue;
		}
		if (!check_array(t, "left", REL_LEFT, (uint32_t)n, w) ||
		    !check_array(t, "right", REL_RIGHT, (uint32_t)n, w) ||
		    !check_array(t, "parent", REL_PARENT, (uint32_t)n, w) ||
		    !check_array(t, "sibling", REL_SIBLING, (uint32_t)n, w)) {
			vec_fail(st, i, "relation mismatch");
			continue;
		}
		st->passed++;
	}
}
