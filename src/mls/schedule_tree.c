/*
 * The secret tree and the sender ratchets (RFC 9420 section 9). See
 * schedule.h.
 *
 * Node secrets are derived on demand from the root down the path to a leaf;
 * a node's secret is wiped as soon as both children are derived, a leaf's
 * as soon as its two ratchets are. Each ratchet holds one secret (that of
 * generation `next`) plus the keys of skipped generations.
 */
#include <stdlib.h>
#include <string.h>

#include "mls/labeled.h"
#include "mls/schedule.h"
#include "mls/tls.h"
#include "mls/tree.h"

struct cached_key {
	uint32_t generation;
	uint8_t key[AIM_MAX_AEAD_KEY];
	uint8_t nonce[AIM_AEAD_NONCE];
};

struct ratchet {
	uint8_t secret[AIM_MAX_HASH]; /* ratchet_secret_[N]_[next] */
	uint32_t next;                /* the lowest generation not yet reached */
	bool exhausted;               /* generation UINT32_MAX was consumed */
	struct cached_key *cache;     /* ascending generations, all < next */
	size_t n_cache;
};

struct leaf_ratchets {
	struct ratchet r[2]; /* indexed by enum mls_ratchet_kind */
};

struct mls_secret_tree {
	const struct aim_suite *cs;
	uint32_t n_leaves; /* a power of two */
	uint32_t width;
	uint8_t **node;    /* width entries: Nh-byte secret or NULL */
	struct leaf_ratchets **leaf; /* n_leaves entries, created on first use */
};

void mls_ratchet_keys_wipe(struct mls_ratchet_keys *k)
{
	aim_wipe(k, sizeof *k);
}

static void ratchet_wipe(struct ratchet *r)
{
	if (r->cache) {
		aim_wipe(r->cache, MLS_RATCHET_MAX_CACHED * sizeof *r->cache);
		free(r->cache);
	}
	aim_wipe(r, sizeof *r);
}

static void node_drop(struct mls_secret_tree *t, uint32_t x)
{
	if (t->node[x]) {
		aim_free_secret(t->node[x], t->cs->nh);
		t->node[x] = NULL;
	}
}

void mls_secret_tree_free(struct mls_secret_tree *t)
{
	if (!t)
		return;
	if (t->node) {
		for (uint32_t x = 0; x < t->width; x++)
			node_drop(t, x);
		free(t->node);
	}
	if (t->leaf) {
		for (uint32_t i = 0; i < t->n_leaves; i++) {
			if (!t->leaf[i])
				continue;
			ratchet_wipe(&t->leaf[i]->r[0]);
			ratchet_wipe(&t->leaf[i]->r[1]);
			free(t->leaf[i]);
		}
		free(t->leaf);
	}
	free(t);
}

int mls_secret_tree_new(const struct aim_suite *cs, struct aim_bytes encryption_secret,
			uint32_t n_leaves, struct mls_secret_tree **out)
{
	*out = NULL;
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	ENSURE(encryption_secret.len == cs->nh, AIM_ERR_INVALID,
	       "encryption_secret must be %zu bytes", cs->nh);
	ENSURE(n_leaves >= 1 && n_leaves <= MLS_MAX_LEAVES, AIM_ERR_LIMIT,
	       "secret tree of %u leaves", n_leaves);
	uint32_t n = 1;
	while (n < n_leaves)
		n <<= 1;
	struct mls_secret_tree *t = aim_xcalloc(1, sizeof *t);
	t->cs = cs;
	t->n_leaves = n;
	t->width = mls_tm_width(n);
	t->node = aim_xcalloc(t->width, sizeof *t->node);
	t->leaf = aim_xcalloc(n, sizeof *t->leaf);
	uint32_t root = mls_tm_root(n);
	t->node[root] = aim_xmalloc(cs->nh);
	memcpy(t->node[root], encryption_secret.p, cs->nh);
	*out = t;
	return 0;
}

/* The ratchets of a leaf, derived from the tree the first time. */
static int leaf_ratchets(struct mls_secret_tree *t, uint32_t leaf, struct leaf_ratchets **out)
{
	ENSURE(leaf < t->n_leaves, AIM_ERR_INVALID, "leaf %u outside a tree of %u leaves", leaf,
	       t->n_leaves);
	if (t->leaf[leaf]) {
		*out = t->leaf[leaf];
		return 0;
	}
	const struct aim_suite *cs = t->cs;
	uint32_t target = mls_tm_leaf_to_node(leaf);
	uint32_t x = mls_tm_root(t->n_leaves);
	while (x != target) {
		uint32_t l = mls_tm_left(x), r = mls_tm_right(x);
		if (t->node[x]) {
			/* tree_node_[left(N)]_secret = ExpandWithLabel(., "tree", "left", Nh)
			 * tree_node_[right(N)]_secret = ExpandWithLabel(., "tree", "right", Nh) */
			uint8_t *ls = aim_xmalloc(cs->nh), *rs = aim_xmalloc(cs->nh);
			struct aim_bytes s = AIM_BYTES(t->node[x], cs->nh);
			struct aim_bytes left = AIM_BYTES_STR("left");
			struct aim_bytes right = AIM_BYTES_STR("right");
			if (mls_expand_with_label(cs, s, "tree", left, ls, cs->nh) ||
			    mls_expand_with_label(cs, s, "tree", right, rs, cs->nh)) {
				aim_free_secret(ls, cs->nh);
				aim_free_secret(rs, cs->nh);
				return -1;
			}
			node_drop(t, l);
			node_drop(t, r);
			t->node[l] = ls;
			t->node[r] = rs;
			/* "all node secrets in the secret tree on the path from the root to
			 * the leaf" are consumed: delete the parent once both children
			 * exist. */
			node_drop(t, x);
		}
		x = target < x ? l : r;
	}
	ENSURE(t->node[target] != NULL, AIM_ERR_INTERNAL, "secret of leaf %u missing", leaf);
	struct leaf_ratchets *lr = aim_xcalloc(1, sizeof *lr);
	struct aim_bytes s = AIM_BYTES(t->node[target], cs->nh);
	if (mls_expand_with_label(cs, s, "handshake", AIM_BYTES(NULL, 0), lr->r[0].secret,
				  cs->nh) ||
	    mls_expand_with_label(cs, s, "application", AIM_BYTES(NULL, 0), lr->r[1].secret,
				  cs->nh)) {
		aim_free_secret(lr, sizeof *lr);
		return -1;
	}
	node_drop(t, target);
	t->leaf[leaf] = lr;
	*out = lr;
	return 0;
}

static int get_ratchet(struct mls_secret_tree *t, uint32_t leaf, enum mls_ratchet_kind kind,
		       struct ratchet **out)
{
	ENSURE(kind == MLS_RATCHET_HANDSHAKE || kind == MLS_RATCHET_APPLICATION,
	       AIM_ERR_INVALID, "unknown ratchet");
	struct leaf_ratchets *lr;
	TRY(leaf_ratchets(t, leaf, &lr));
	*out = &lr->r[kind];
	return 0;
}

/* ratchet_key/nonce_[N]_[gen] from ratchet_secret_[N]_[gen]. */
static int derive_keys(const struct aim_suite *cs, const uint8_t *secret, uint32_t gen,
		       struct mls_ratchet_keys *out)
{
	memset(out, 0, sizeof *out);
	out->generation = gen;
	struct aim_bytes s = AIM_BYTES(secret, cs->nh);
	if (mls_derive_tree_secret(cs, s, "key", gen, out->key, cs->nk) ||
	    mls_derive_tree_secret(cs, s, "nonce", gen, out->nonce, cs->nn)) {
		mls_ratchet_keys_wipe(out);
		return -1;
	}
	return 0;
}

/* secret <- DeriveTreeSecret(secret, "secret", gen, Nh), in place. */
static int step(const struct aim_suite *cs, uint8_t *secret, uint32_t gen)
{
	uint8_t nxt[AIM_MAX_HASH];
	int rc = mls_derive_tree_secret(cs, AIM_BYTES(secret, cs->nh), "secret", gen, nxt, cs->nh);
	if (rc == 0)
		memcpy(secret, nxt, cs->nh);
	aim_wipe(nxt, sizeof nxt);
	return rc;
}

static int check_window(const struct ratchet *r, uint32_t leaf, uint32_t gen)
{
	ENSURE(!r->exhausted, AIM_ERR_STATE, "ratchet of leaf %u is exhausted", leaf);
	ENSURE(gen - r->next <= MLS_RATCHET_MAX_FORWARD, AIM_ERR_LIMIT,
	       "generation %u is more than %u ahead of %u (leaf %u)", gen,
	       MLS_RATCHET_MAX_FORWARD, r->next, leaf);
	return 0;
}

static struct cached_key *cache_find(struct ratchet *r, uint32_t gen, size_t *idx)
{
	for (size_t i = 0; i < r->n_cache; i++) {
		if (r->cache[i].generation == gen) {
			*idx = i;
			return &r->cache[i];
		}
	}
	return NULL;
}

static void cache_remove(struct ratchet *r, size_t i)
{
	aim_wipe(&r->cache[i], sizeof r->cache[i]);
	memmove(&r->cache[i], &r->cache[i + 1], (r->n_cache - i - 1) * sizeof *r->cache);
	r->n_cache--;
	aim_wipe(&r->cache[r->n_cache], sizeof r->cache[0]);
}

static void cache_add(struct ratchet *r, const struct mls_ratchet_keys *k)
{
	if (!r->cache)
		r->cache = aim_xcalloc(MLS_RATCHET_MAX_CACHED, sizeof *r->cache);
	if (r->n_cache == MLS_RATCHET_MAX_CACHED)
		cache_remove(r, 0); /* the oldest */
	struct cached_key *c = &r->cache[r->n_cache++];
	c->generation = k->generation;
	memcpy(c->key, k->key, sizeof c->key);
	memcpy(c->nonce, k->nonce, sizeof c->nonce);
}

int mls_secret_tree_get(struct mls_secret_tree *t, uint32_t leaf, enum mls_ratchet_kind kind,
			uint32_t generation, struct mls_ratchet_keys *out)
{
	struct ratchet *r = NULL;
	memset(out, 0, sizeof *out);
	TRY(get_ratchet(t, leaf, kind, &r));
	const struct aim_suite *cs = t->cs;
	if (generation < r->next || r->exhausted) {
		size_t i;
		struct cached_key *c = cache_find(r, generation, &i);
		/* "Each key/nonce pair MUST NOT be used to encrypt more than one
		 * message": a consumed generation has no key any more. */
		ENSURE(c != NULL, AIM_ERR_STATE,
		       "generation %u of leaf %u was already used or has expired", generation,
		       leaf);
		out->generation = generation;
		memcpy(out->key, c->key, sizeof out->key);
		memcpy(out->nonce, c->nonce, sizeof out->nonce);
		return 0;
	}
	TRY(check_window(r, leaf, generation));
	uint8_t s[AIM_MAX_HASH];
	memcpy(s, r->secret, cs->nh);
	int rc = 0;
	for (uint32_t g = r->next; g != generation && rc == 0; g++)
		rc = step(cs, s, g);
	if (rc == 0)
		rc = derive_keys(cs, s, generation, out);
	aim_wipe(s, sizeof s);
	return rc;
}

int mls_secret_tree_consume(struct mls_secret_tree *t, uint32_t leaf,
			    enum mls_ratchet_kind kind, uint32_t generation)
{
	struct ratchet *r = NULL;
	TRY(get_ratchet(t, leaf, kind, &r));
	const struct aim_suite *cs = t->cs;
	if (generation < r->next || r->exhausted) {
		size_t i;
		ENSURE(cache_find(r, generation, &i) != NULL, AIM_ERR_STATE,
		       "generation %u of leaf %u was already used or has expired", generation,
		       leaf);
		cache_remove(r, i);
		return 0;
	}
	TRY(check_window(r, leaf, generation));
	for (uint32_t g = r->next;; g++) {
		if (g != generation) {
			/* A skipped generation: keep its key for a late message. */
			struct mls_ratchet_keys k;
			TRY(derive_keys(cs, r->secret, g, &k));
			cache_add(r, &k);
			mls_ratchet_keys_wipe(&k);
		}
		if (g == UINT32_MAX) {
			aim_wipe(r->secret, sizeof r->secret);
			r->exhausted = true;
			return 0;
		}
		/* The old ratchet secret is overwritten (deleted) by the step. */
		TRY(step(cs, r->secret, g));
		r->next = g + 1;
		if (g == generation)
			return 0;
	}
}

int mls_secret_tree_next(struct mls_secret_tree *t, uint32_t leaf, enum mls_ratchet_kind kind,
			 struct mls_ratchet_keys *out)
{
	struct ratchet *r = NULL;
	memset(out, 0, sizeof *out);
	TRY(get_ratchet(t, leaf, kind, &r));
	ENSURE(!r->exhausted, AIM_ERR_STATE, "ratchet of leaf %u is exhausted", leaf);
	uint32_t gen = r->next;
	TRY(derive_keys(t->cs, r->secret, gen, out));
	if (mls_secret_tree_consume(t, leaf, kind, gen)) {
		mls_ratchet_keys_wipe(out);
		return -1;
	}
	return 0;
}

int mls_sender_data_keys(const struct aim_suite *cs, struct aim_bytes sender_data_secret,
			 struct aim_bytes ciphertext, uint8_t key[AIM_MAX_AEAD_KEY],
			 uint8_t nonce[AIM_AEAD_NONCE])
{
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	ENSURE(sender_data_secret.len == cs->nh, AIM_ERR_INVALID,
	       "sender_data_secret must be %zu bytes", cs->nh);
	/* ciphertext_sample = ciphertext[0..KDF.Nh-1] ("If the length of the
	 * ciphertext is less than KDF.Nh, the whole ciphertext is used.") */
	struct aim_bytes sample =
		AIM_BYTES(ciphertext.p, ciphertext.len < cs->nh ? ciphertext.len : cs->nh);
	if (mls_expand_with_label(cs, sender_data_secret, "key", sample, key, cs->nk) ||
	    mls_expand_with_label(cs, sender_data_secret, "nonce", sample, nonce, cs->nn)) {
		aim_wipe(key, AIM_MAX_AEAD_KEY);
		aim_wipe(nonce, AIM_AEAD_NONCE);
		return -1;
	}
	return 0;
}

/* ---- Persistence ------------------------------------------------------------ */

#define TREE_FORMAT_VERSION 1

static int export_ratchet(const struct mls_secret_tree *t, const struct ratchet *r,
			  struct aim_buf *out)
{
	const struct aim_suite *cs = t->cs;
	TRY(mls_tls_write_u8(out, r->exhausted ? 1 : 0));
	TRY(mls_tls_write_u32(out, r->next));
	TRY(mls_tls_write_fixed(out, r->secret, cs->nh));
	TRY(mls_tls_write_u32(out, (uint32_t)r->n_cache));
	for (size_t i = 0; i < r->n_cache; i++) {
		TRY(mls_tls_write_u32(out, r->cache[i].generation));
		TRY(mls_tls_write_fixed(out, r->cache[i].key, cs->nk));
		TRY(mls_tls_write_fixed(out, r->cache[i].nonce, cs->nn));
	}
	return 0;
}

int mls_secret_tree_export(const struct mls_secret_tree *t, struct aim_buf *out)
{
	const struct aim_suite *cs = t->cs;
	uint32_t n_nodes = 0, n_leaves = 0;
	for (uint32_t x = 0; x < t->width; x++)
		n_nodes += t->node[x] != NULL;
	for (uint32_t i = 0; i < t->n_leaves; i++)
		n_leaves += t->leaf[i] != NULL;
	TRY(mls_tls_write_u8(out, TREE_FORMAT_VERSION));
	TRY(mls_tls_write_u16(out, cs->id));
	TRY(mls_tls_write_u32(out, t->n_leaves));
	TRY(mls_tls_write_u32(out, n_nodes));
	for (uint32_t x = 0; x < t->width; x++) {
		if (!t->node[x])
			continue;
		TRY(mls_tls_write_u32(out, x));
		TRY(mls_tls_write_fixed(out, t->node[x], cs->nh));
	}
	TRY(mls_tls_write_u32(out, n_leaves));
	for (uint32_t i = 0; i < t->n_leaves; i++) {
		if (!t->leaf[i])
			continue;
		TRY(mls_tls_write_u32(out, i));
		TRY(export_ratchet(t, &t->leaf[i]->r[0], out));
		TRY(export_ratchet(t, &t->leaf[i]->r[1], out));
	}
	return 0;
}

static int import_ratchet(const struct aim_suite *cs, struct mls_tls_reader *r, struct ratchet *out)
{
	uint8_t exhausted;
	uint32_t n_cache;
	struct aim_bytes b;
	TRY(mls_tls_read_u8(r, &exhausted));
	TRY(mls_tls_read_u32(r, &out->next));
	TRY(mls_tls_read_fixed(r, cs->nh, &b));
	memcpy(out->secret, b.p, cs->nh);
	TRY(mls_tls_read_u32(r, &n_cache));
	ENSURE(exhausted <= 1, AIM_ERR_DECODE, "ratchet state flag %u", exhausted);
	out->exhausted = exhausted;
	ENSURE(n_cache <= MLS_RATCHET_MAX_CACHED, AIM_ERR_DECODE, "%u cached keys", n_cache);
	if (n_cache)
		out->cache = aim_xcalloc(MLS_RATCHET_MAX_CACHED, sizeof *out->cache);
	for (uint32_t i = 0; i < n_cache; i++) {
		struct cached_key *c = &out->cache[i];
		TRY(mls_tls_read_u32(r, &c->generation));
		/* ascending, and all below the ratchet position */
		ENSURE(i == 0 || c->generation > out->cache[i - 1].generation, AIM_ERR_DECODE,
		       "cached generations out of order");
		ENSURE(out->exhausted || c->generation < out->next, AIM_ERR_DECODE,
		       "cached generation %u not below %u", c->generation, out->next);
		TRY(mls_tls_read_fixed(r, cs->nk, &b));
		memcpy(c->key, b.p, cs->nk);
		TRY(mls_tls_read_fixed(r, cs->nn, &b));
		memcpy(c->nonce, b.p, cs->nn);
		out->n_cache = i + 1;
	}
	return 0;
}

static int import_body(struct mls_secret_tree *t, struct mls_tls_reader *r)
{
	const struct aim_suite *cs = t->cs;
	uint32_t n_nodes, n_leaves, prev = 0;
	struct aim_bytes b;
	TRY(mls_tls_read_u32(r, &n_nodes));
	ENSURE(n_nodes <= t->width, AIM_ERR_DECODE, "%u node secrets", n_nodes);
	for (uint32_t i = 0; i < n_nodes; i++) {
		uint32_t x;
		TRY(mls_tls_read_u32(r, &x));
		ENSURE(x < t->width && (i == 0 || x > prev), AIM_ERR_DECODE, "node index %u", x);
		prev = x;
		TRY(mls_tls_read_fixed(r, cs->nh, &b));
		t->node[x] = aim_xmalloc(cs->nh);
		memcpy(t->node[x], b.p, cs->nh);
	}
	TRY(mls_tls_read_u32(r, &n_leaves));
	ENSURE(n_leaves <= t->n_leaves, AIM_ERR_DECODE, "%u leaf ratchets", n_leaves);
	for (uint32_t i = 0; i < n_leaves; i++) {
		uint32_t leaf;
		TRY(mls_tls_read_u32(r, &leaf));
		ENSURE(leaf < t->n_leaves && (i == 0 || leaf > prev), AIM_ERR_DECODE,
		       "leaf index %u", leaf);
		/* A leaf with ratchets has no secret of its own left in the tree. */
		ENSURE(t->node[mls_tm_leaf_to_node(leaf)] == NULL, AIM_ERR_DECODE,
		       "leaf %u has both a secret and ratchets", leaf);
		prev = leaf;
		t->leaf[leaf] = aim_xcalloc(1, sizeof *t->leaf[leaf]);
		TRY(import_ratchet(cs, r, &t->leaf[leaf]->r[0]));
		TRY(import_ratchet(cs, r, &t->leaf[leaf]->r[1]));
	}
	return mls_tls_reader_done(r);
}

int mls_secret_tree_import(const struct aim_suite *cs, struct aim_bytes in,
			   struct mls_secret_tree **out)
{
	*out = NULL;
	ENSURE(cs != NULL, AIM_ERR_INVALID, "cipher suite missing");
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, in.p, in.len);
	uint8_t version;
	uint16_t suite;
	uint32_t n;
	TRY(mls_tls_read_u8(&r, &version));
	TRY(mls_tls_read_u16(&r, &suite));
	TRY(mls_tls_read_u32(&r, &n));
	ENSURE(version == TREE_FORMAT_VERSION, AIM_ERR_DECODE, "secret tree format %u", version);
	ENSURE(suite == cs->id, AIM_ERR_DECODE, "secret tree of suite %u, expected %u", suite,
	       cs->id);
	ENSURE(mls_tm_is_pow2(n) && n <= MLS_MAX_LEAVES, AIM_ERR_DECODE, "secret tree of %u leaves",
	       n);
	struct mls_secret_tree *t = aim_xcalloc(1, sizeof *t);
	t->cs = cs;
	t->n_leaves = n;
	t->width = mls_tm_width(n);
	t->node = aim_xcalloc(t->width, sizeof *t->node);
	t->leaf = aim_xcalloc(n, sizeof *t->leaf);
	if (import_body(t, &r)) {
		/* every failure above is a decode error (the reader's or ours) */
		mls_secret_tree_free(t);
		return -1;
	}
	*out = t;
	return 0;
}
