/*
 * The MLS ratchet tree (RFC 9420 sections 4, 7 and Appendix C).
 *
 * Three parts, one per source file group:
 *
 * - Tree math (tree_math.c): node relationships in the array
 *   representation of Appendix C. Leaves sit at even node indices (leaf i at
 *   node 2i), parents at odd ones. RFC 9420 trees are always full, so the
 *   number of leaves is a power of two and every function here takes node
 *   indices that are inside a tree of that width. These functions do no
 *   allocation and cannot fail; callers check indices against the width
 *   first (tm_in_tree()).
 */
#ifndef AIM_MLS_TREE_H
#define AIM_MLS_TREE_H

#include "base/base.h"

/* ---- Tree math --------------------------------------------------------- */

/* The largest tree this implementation accepts: 2^16 leaves. A received
 * ratchet tree or a tree extended past this is refused with AIM_ERR_LIMIT. */
#define TM_MAX_LEAVES ((uint32_t)1 << 16)
/* The longest direct path / copath (the depth of the largest tree). */
#define TM_MAX_DEPTH 17

static inline bool tm_is_leaf(uint32_t x)
{
	return (x & 1) == 0;
}

static inline uint32_t tm_leaf_to_node(uint32_t leaf)
{
	return leaf * 2;
}

static inline uint32_t tm_node_to_leaf(uint32_t node)
{
	return node / 2;
}

/* The level of a node: leaves are 0, their parents 1, ... */
uint32_t tm_level(uint32_t x);
/* The number of nodes of a tree with n_leaves leaves (0 for 0). */
uint32_t tm_width(uint32_t n_leaves);
/* The root node of a tree with n_leaves leaves (n_leaves a power of two). */
uint32_t tm_root(uint32_t n_leaves);
/* True if n is a power of two (and not 0). */
bool tm_is_pow2(uint32_t n);
/* True if node x exists in a tree of n_leaves leaves. */
bool tm_in_tree(uint32_t x, uint32_t n_leaves);

/* Children of a parent node (x must not be a leaf). */
uint32_t tm_left(uint32_t x);
uint32_t tm_right(uint32_t x);
/* The parent and sibling of x in a tree of n_leaves leaves (x must not be
 * the root). In a full tree neither depends on the width; n_leaves is kept
 * for the assertion. */
uint32_t tm_parent(uint32_t x, uint32_t n_leaves);
uint32_t tm_sibling(uint32_t x, uint32_t n_leaves);

/* True if x is ancestor or x itself is in the subtree headed by a. */
bool tm_in_subtree(uint32_t x, uint32_t a);

/* The direct path of x (parent first, root last) and its copath (sibling of
 * x, then siblings of the direct-path nodes except the root). out must hold
 * TM_MAX_DEPTH entries; returns the number written. */
size_t tm_direct_path(uint32_t x, uint32_t n_leaves, uint32_t out[TM_MAX_DEPTH]);
size_t tm_copath(uint32_t x, uint32_t n_leaves, uint32_t out[TM_MAX_DEPTH]);

/* The lowest node that is on the direct paths of both x and y (or is x or
 * y itself). */
uint32_t tm_common_ancestor(uint32_t x, uint32_t y);

#endif
