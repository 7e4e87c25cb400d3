/* RFC 9420 Appendix C: array-based tree math for full (power-of-two) trees. */
#include "mls/tree.h"

#include <assert.h>

uint32_t mls_tm_level(uint32_t x)
{
	uint32_t k = 0;
	while ((x >> k) & 1)
		k++;
	return k;
}

uint32_t mls_tm_width(uint32_t n_leaves)
{
	return n_leaves ? 2 * (n_leaves - 1) + 1 : 0;
}

bool mls_tm_is_pow2(uint32_t n)
{
	return n && (n & (n - 1)) == 0;
}

uint32_t mls_tm_root(uint32_t n_leaves)
{
	uint32_t w = mls_tm_width(n_leaves);
	uint32_t k = 0;
	while ((w >> k) > 1)
		k++;
	return ((uint32_t)1 << k) - 1;
}

bool mls_tm_in_tree(uint32_t x, uint32_t n_leaves)
{
	return x < mls_tm_width(n_leaves);
}

uint32_t mls_tm_left(uint32_t x)
{
	uint32_t k = mls_tm_level(x);
	assert(k > 0);
	return x ^ ((uint32_t)1 << (k - 1));
}

uint32_t mls_tm_right(uint32_t x)
{
	uint32_t k = mls_tm_level(x);
	assert(k > 0);
	return x ^ ((uint32_t)3 << (k - 1));
}

/* The parent in an unbounded full tree; the caller knows x is not the root. */
static uint32_t parent_of(uint32_t x)
{
	uint32_t k = mls_tm_level(x);
	uint32_t b = (x >> (k + 1)) & 1;
	return (x | ((uint32_t)1 << k)) ^ (b << (k + 1));
}

uint32_t mls_tm_parent(uint32_t x, uint32_t n_leaves)
{
	assert(x != mls_tm_root(n_leaves) && mls_tm_in_tree(x, n_leaves));
	(void)n_leaves;
	return parent_of(x);
}

uint32_t mls_tm_sibling(uint32_t x, uint32_t n_leaves)
{
	uint32_t p = mls_tm_parent(x, n_leaves);
	return x < p ? mls_tm_right(p) : mls_tm_left(p);
}

bool mls_tm_in_subtree(uint32_t x, uint32_t a)
{
	uint32_t span = ((uint32_t)1 << mls_tm_level(a)) - 1;
	return x >= a - span && x <= a + span;
}

size_t mls_tm_direct_path(uint32_t x, uint32_t n_leaves, uint32_t out[MLS_TM_MAX_DEPTH])
{
	uint32_t r = mls_tm_root(n_leaves);
	size_t n = 0;
	while (x != r && n < MLS_TM_MAX_DEPTH) {
		x = parent_of(x);
		out[n++] = x;
	}
	return n;
}

size_t mls_tm_copath(uint32_t x, uint32_t n_leaves, uint32_t out[MLS_TM_MAX_DEPTH])
{
	uint32_t r = mls_tm_root(n_leaves);
	size_t n = 0;
	while (x != r && n < MLS_TM_MAX_DEPTH) {
		out[n++] = mls_tm_sibling(x, n_leaves);
		x = parent_of(x);
	}
	return n;
}

uint32_t mls_tm_common_ancestor(uint32_t x, uint32_t y)
{
	uint32_t a = x;
	while (!mls_tm_in_subtree(y, a))
		a = parent_of(a);
	return a;
}
