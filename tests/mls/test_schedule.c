/* Unit tests of the labeled operations, key schedule and secret tree
 * (src/mls/labeled.h, src/mls/schedule.h): ratchet windows, key deletion,
 * tag comparisons, PSK and exporter properties, external init and Welcome
 * round trips, on every cipher suite where it is cheap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "mls/labeled.h"
#include "mls/schedule.h"

static const struct aim_suite *suite(uint16_t id)
{
	const struct aim_suite *cs = aim_suite_get(id);
	assert_non_null(cs);
	return cs;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static struct mls_secret_tree *tree(const struct aim_suite *cs, uint8_t seed, uint32_t leaves)
{
	uint8_t secret[AIM_MAX_HASH];
	fill(secret, sizeof secret, seed);
	struct mls_secret_tree *t = NULL;
	assert_int_equal(mls_secret_tree_new(cs, AIM_BYTES(secret, cs->nh), leaves, &t), 0);
	assert_non_null(t);
	return t;
}

static bool same_keys(const struct mls_ratchet_keys *a, const struct mls_ratchet_keys *b)
{
	return a->generation == b->generation && memcmp(a->key, b->key, sizeof a->key) == 0 &&
	       memcmp(a->nonce, b->nonce, sizeof a->nonce) == 0;
}

/* ---- Secret tree ----------------------------------------------------------- */

/* A receiver derives the sender's keys in any order inside the window. */
static void test_ratchet_out_of_order(void **state)
{
	for (uint16_t id = 1; id <= 7; id++) {
		const struct aim_suite *cs = suite(id);
		struct mls_secret_tree *snd = tree(cs, 1, 4), *rcv = tree(cs, 1, 4);
		struct mls_ratchet_keys sent[10], got;
		for (uint32_t g = 0; g < 10; g++) {
			assert_int_equal(mls_secret_tree_next(snd, 3, MLS_RATCHET_APPLICATION,
							      &sent[g]),
					 0);
			assert_int_equal(sent[g].generation, g);
		}
		static const uint32_t order[] = { 5, 2, 9, 0, 7, 1, 3, 8, 4, 6 };
		for (size_t i = 0; i < AIM_ARRAY_LEN(order); i++) {
			uint32_t g = order[i];
			assert_int_equal(mls_secret_tree_get(rcv, 3, MLS_RATCHET_APPLICATION, g,
							     &got),
					 0);
			assert_true(same_keys(&got, &sent[g]));
			/* get does not consume: asking twice gives the same key. */
			assert_int_equal(mls_secret_tree_get(rcv, 3, MLS_RATCHET_APPLICATION, g,
							     &got),
					 0);
			assert_true(same_keys(&got, &sent[g]));
			assert_int_equal(mls_secret_tree_consume(rcv, 3, MLS_RATCHET_APPLICATION,
								 g),
					 0);
		}
		/* The handshake ratchet and other leaves are independent. */
		struct mls_ratchet_keys hs, other;
		assert_int_equal(mls_secret_tree_get(rcv, 3, MLS_RATCHET_HANDSHAKE, 0, &hs), 0);
		assert_int_equal(mls_secret_tree_get(rcv, 0, MLS_RATCHET_APPLICATION, 0, &other),
				 0);
		assert_false(same_keys(&hs, &sent[0]));
		assert_false(same_keys(&other, &sent[0]));
		mls_secret_tree_free(snd);
		mls_secret_tree_free(rcv);
	}
}

/* A consumed generation has no key any more, in either order. */
static void test_ratchet_reuse_refused(void **state)
{
	const struct aim_suite *cs = suite(1);
	struct mls_secret_tree *t = tree(cs, 2, 2);
	struct mls_ratchet_keys k;
	assert_int_equal(mls_secret_tree_consume(t, 1, MLS_RATCHET_HANDSHAKE, 4), 0);
	/* 4 itself is gone; 0..3 were skipped and are still there. */
	assert_int_equal(mls_secret_tree_get(t, 1, MLS_RATCHET_HANDSHAKE, 4, &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	assert_int_equal(mls_secret_tree_consume(t, 1, MLS_RATCHET_HANDSHAKE, 4), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	assert_int_equal(mls_secret_tree_get(t, 1, MLS_RATCHET_HANDSHAKE, 2, &k), 0);
	assert_int_equal(mls_secret_tree_consume(t, 1, MLS_RATCHET_HANDSHAKE, 2), 0);
	assert_int_equal(mls_secret_tree_get(t, 1, MLS_RATCHET_HANDSHAKE, 2, &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	/* The output is wiped on failure. */
	static const uint8_t zero[AIM_MAX_AEAD_KEY];
	assert_memory_equal(k.key, zero, sizeof zero);
	/* The sender side never hands out a generation twice. */
	struct mls_ratchet_keys a, b;
	assert_int_equal(mls_secret_tree_next(t, 0, MLS_RATCHET_APPLICATION, &a), 0);
	assert_int_equal(mls_secret_tree_next(t, 0, MLS_RATCHET_APPLICATION, &b), 0);
	assert_int_equal(a.generation + 1, b.generation);
	assert_false(same_keys(&a, &b));
	mls_secret_tree_free(t);
}

/* At most MLS_RATCHET_MAX_FORWARD generations ahead; the cache is bounded. */
static void test_ratchet_window(void **state)
{
	const struct aim_suite *cs = suite(1);
	struct mls_secret_tree *t = tree(cs, 3, 2), *ref = tree(cs, 3, 2);
	struct mls_ratchet_keys k, r;
	assert_int_equal(mls_secret_tree_get(t, 0, MLS_RATCHET_APPLICATION,
					     MLS_RATCHET_MAX_FORWARD + 1, &k),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_int_equal(mls_secret_tree_consume(t, 0, MLS_RATCHET_APPLICATION,
						 MLS_RATCHET_MAX_FORWARD + 1),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_int_equal(mls_secret_tree_get(t, 0, MLS_RATCHET_APPLICATION, UINT32_MAX, &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	/* Exactly at the edge of the window is fine. */
	assert_int_equal(mls_secret_tree_get(t, 0, MLS_RATCHET_APPLICATION,
					     MLS_RATCHET_MAX_FORWARD, &k),
			 0);
	assert_int_equal(mls_secret_tree_consume(t, 0, MLS_RATCHET_APPLICATION,
						 MLS_RATCHET_MAX_FORWARD),
			 0);
	/* Every skipped generation 0..999 is cached and matches the sender. */
	for (uint32_t g = 0; g < MLS_RATCHET_MAX_FORWARD; g += 111) {
		assert_int_equal(mls_secret_tree_get(t, 0, MLS_RATCHET_APPLICATION, g, &k), 0);
		assert_int_equal(mls_secret_tree_get(ref, 0, MLS_RATCHET_APPLICATION, g, &r), 0);
		assert_true(same_keys(&k, &r));
	}
	/* Skipping another full window evicts the oldest cached keys. */
	uint32_t far = 2 * MLS_RATCHET_MAX_FORWARD + 1;
	assert_int_equal(mls_secret_tree_consume(t, 0, MLS_RATCHET_APPLICATION, far), 0);
	assert_int_equal(mls_secret_tree_get(t, 0, MLS_RATCHET_APPLICATION, 0, &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	assert_int_equal(mls_secret_tree_get(t, 0, MLS_RATCHET_APPLICATION, far - 1, &k), 0);
	assert_int_equal(mls_secret_tree_get(ref, 0, MLS_RATCHET_APPLICATION, far - 1, &r), -1);
	mls_secret_tree_free(t);
	mls_secret_tree_free(ref);
}

/* A snapshot restores exactly the remaining secrets: consumed keys stay
 * gone, cached ones stay usable, and the sender continues where it was. */
static void test_tree_export_import(void **state)
{
	for (uint16_t id = 1; id <= 7; id += 3) {
		const struct aim_suite *cs = suite(id);
		struct mls_secret_tree *t = tree(cs, 8, 8), *ref = tree(cs, 8, 8), *u = NULL;
		struct mls_ratchet_keys k, r;
		assert_int_equal(mls_secret_tree_consume(t, 5, MLS_RATCHET_APPLICATION, 6), 0);
		assert_int_equal(mls_secret_tree_consume(t, 5, MLS_RATCHET_APPLICATION, 2), 0);
		assert_int_equal(mls_secret_tree_next(t, 0, MLS_RATCHET_HANDSHAKE, &k), 0);
		struct aim_buf snap;
		aim_buf_init(&snap, 1 << 20);
		assert_int_equal(mls_secret_tree_export(t, &snap), 0);
		assert_int_equal(mls_secret_tree_import(cs, aim_buf_bytes(&snap), &u), 0);
		/* Consumed stays consumed. */
		assert_int_equal(mls_secret_tree_get(u, 5, MLS_RATCHET_APPLICATION, 6, &k), -1);
		assert_int_equal(mls_secret_tree_get(u, 5, MLS_RATCHET_APPLICATION, 2, &k), -1);
		/* Cached and future keys match a fresh derivation. */
		static const uint32_t gens[] = { 0, 1, 3, 5, 7, 20 };
		for (size_t i = 0; i < AIM_ARRAY_LEN(gens); i++) {
			assert_int_equal(mls_secret_tree_get(u, 5, MLS_RATCHET_APPLICATION, gens[i],
							     &k),
					 0);
			assert_int_equal(mls_secret_tree_get(ref, 5, MLS_RATCHET_APPLICATION,
							     gens[i], &r),
					 0);
			assert_true(same_keys(&k, &r));
		}
		/* Untouched leaves derive from the remaining node secrets. */
		assert_int_equal(mls_secret_tree_get(u, 2, MLS_RATCHET_HANDSHAKE, 0, &k), 0);
		assert_int_equal(mls_secret_tree_get(ref, 2, MLS_RATCHET_HANDSHAKE, 0, &r), 0);
		assert_true(same_keys(&k, &r));
		assert_int_equal(mls_secret_tree_next(u, 0, MLS_RATCHET_HANDSHAKE, &k), 0);
		assert_int_equal(k.generation, 1);

		/* Refusals: other suite, every truncation, trailing byte, bad flag. */
		struct mls_secret_tree *v = NULL;
		assert_int_equal(mls_secret_tree_import(suite(id == 1 ? 2 : 1),
							aim_buf_bytes(&snap), &v),
				 -1);
		for (size_t n = 0; n < snap.len; n += 7) {
			assert_int_equal(mls_secret_tree_import(cs, AIM_BYTES(snap.data, n), &v),
					 -1);
			assert_null(v);
		}
		assert_int_equal(aim_buf_append_byte(&snap, 0), 0);
		assert_int_equal(mls_secret_tree_import(cs, aim_buf_bytes(&snap), &v), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
		snap.data[0] = 2;
		assert_int_equal(mls_secret_tree_import(cs, aim_buf_bytes(&snap), &v), -1);
		aim_buf_free_secret(&snap);
		mls_secret_tree_free(t);
		mls_secret_tree_free(ref);
		mls_secret_tree_free(u);
	}
}

static void test_tree_arguments(void **state)
{
	const struct aim_suite *cs = suite(2);
	uint8_t secret[AIM_MAX_HASH] = { 0 };
	struct mls_secret_tree *t = NULL;
	struct mls_ratchet_keys k;
	assert_int_equal(mls_secret_tree_new(cs, AIM_BYTES(secret, cs->nh - 1), 2, &t), -1);
	assert_int_equal(mls_secret_tree_new(cs, AIM_BYTES(secret, cs->nh), 0, &t), -1);
	assert_int_equal(mls_secret_tree_new(cs, AIM_BYTES(secret, cs->nh), MLS_MAX_LEAVES + 1,
					     &t),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_null(t);
	/* 3 leaves round up to 4: leaf 3 exists, leaf 4 does not. */
	assert_int_equal(mls_secret_tree_new(cs, AIM_BYTES(secret, cs->nh), 3, &t), 0);
	assert_int_equal(mls_secret_tree_get(t, 3, MLS_RATCHET_HANDSHAKE, 0, &k), 0);
	assert_int_equal(mls_secret_tree_get(t, 4, MLS_RATCHET_HANDSHAKE, 0, &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(mls_secret_tree_get(t, 0, (enum mls_ratchet_kind)7, 0, &k), -1);
	mls_secret_tree_free(t);
	mls_secret_tree_free(NULL);
}

/* ---- Key schedule ------------------------------------------------------------ */

static void test_schedule_zero_defaults(void **state)
{
	for (uint16_t id = 1; id <= 7; id++) {
		const struct aim_suite *cs = suite(id);
		uint8_t init[AIM_MAX_HASH], zero[AIM_MAX_HASH] = { 0 }, psk[AIM_MAX_HASH];
		fill(init, sizeof init, 9);
		const uint8_t gc[] = { 1, 2, 3 };
		struct mls_epoch_secrets a, b;
		/* An empty commit / PSK secret is the all-zero vector. */
		assert_int_equal(mls_schedule_epoch(cs, AIM_BYTES(init, cs->nh), AIM_BYTES(NULL, 0),
						    AIM_BYTES(NULL, 0), AIM_BYTES(gc, 3), &a),
				 0);
		assert_int_equal(mls_schedule_epoch(cs, AIM_BYTES(init, cs->nh),
						    AIM_BYTES(zero, cs->nh),
						    AIM_BYTES(zero, cs->nh), AIM_BYTES(gc, 3), &b),
				 0);
		assert_memory_equal(&a, &b, sizeof a);
		/* No PSKs gives the zero psk_secret. */
		assert_int_equal(mls_psk_secret(cs, NULL, 0, psk), 0);
		assert_memory_equal(psk, zero, cs->nh);
		/* The welcome secret needs no group context. */
		uint8_t w[AIM_MAX_HASH];
		assert_int_equal(mls_schedule_welcome_secret(cs, AIM_BYTES(a.joiner_secret, cs->nh),
							     AIM_BYTES(NULL, 0), w),
				 0);
		assert_memory_equal(w, a.welcome_secret, cs->nh);
		/* A different group context changes the epoch. */
		const uint8_t gc2[] = { 1, 2, 4 };
		assert_int_equal(mls_schedule_epoch(cs, AIM_BYTES(init, cs->nh), AIM_BYTES(NULL, 0),
						    AIM_BYTES(NULL, 0), AIM_BYTES(gc2, 3), &b),
				 0);
		assert_memory_not_equal(a.epoch_authenticator, b.epoch_authenticator, cs->nh);
		/* Wrong-length init secret refused. */
		assert_int_equal(mls_schedule_epoch(cs, AIM_BYTES(init, cs->nh - 1),
						    AIM_BYTES(NULL, 0), AIM_BYTES(NULL, 0),
						    AIM_BYTES(gc, 3), &b),
				 -1);
		mls_epoch_secrets_wipe(&a);
		mls_epoch_secrets_wipe(&b);
		assert_memory_equal(a.init_secret, zero, cs->nh);
	}
}

/* Truncated, extended or altered confirmation tags are refused. */
static void test_confirmation_tag(void **state)
{
	for (uint16_t id = 1; id <= 7; id++) {
		const struct aim_suite *cs = suite(id);
		uint8_t key[AIM_MAX_HASH], cth[AIM_MAX_HASH], tag[AIM_MAX_HASH + 1];
		fill(key, sizeof key, 4);
		fill(cth, sizeof cth, 5);
		struct aim_bytes k = AIM_BYTES(key, cs->nh), h = AIM_BYTES(cth, cs->nh);
		assert_int_equal(mls_confirmation_tag(cs, k, h, tag), 0);
		assert_int_equal(mls_confirmation_tag_verify(cs, k, h, AIM_BYTES(tag, cs->nh)), 0);
		assert_int_equal(mls_confirmation_tag_verify(cs, k, h, AIM_BYTES(tag, cs->nh - 1)),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		tag[cs->nh] = 0;
		assert_int_equal(mls_confirmation_tag_verify(cs, k, h, AIM_BYTES(tag, cs->nh + 1)),
				 -1);
		assert_int_equal(mls_confirmation_tag_verify(cs, k, h, AIM_BYTES(NULL, 0)), -1);
		tag[cs->nh - 1] ^= 0x80;
		assert_int_equal(mls_confirmation_tag_verify(cs, k, h, AIM_BYTES(tag, cs->nh)), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	}
}

/* Transcript hashes accept the empty hashes of a new group (epoch 0) and
 * refuse other lengths. */
static void test_transcript_lengths(void **state)
{
	const struct aim_suite *cs = suite(1);
	uint8_t tag[AIM_MAX_HASH], h[AIM_MAX_HASH], h2[AIM_MAX_HASH];
	fill(tag, sizeof tag, 1);
	assert_int_equal(mls_transcript_interim(cs, AIM_BYTES(NULL, 0), AIM_BYTES(tag, cs->nh), h),
			 0);
	/* Hash(confirmation_tag<V>) for the empty confirmed hash. */
	uint8_t in[1 + 32];
	in[0] = 32;
	memcpy(in + 1, tag, 32);
	assert_int_equal(aim_hash(cs->hash, AIM_BYTES(in, sizeof in), h2), 0);
	assert_memory_equal(h, h2, cs->nh);
	assert_int_equal(mls_transcript_interim(cs, AIM_BYTES(tag, 5), AIM_BYTES(tag, cs->nh), h),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	/* The confirmed hash takes only commits. */
	struct mls_framed_content c;
	memset(&c, 0, sizeof c);
	c.content_type = MLS_CONTENT_PROPOSAL;
	assert_int_equal(mls_transcript_confirmed(cs, AIM_BYTES(NULL, 0), MLS_WIRE_PUBLIC_MESSAGE,
						  &c, AIM_BYTES(tag, 4), h),
			 -1);
}

static void test_psk_properties(void **state)
{
	const struct aim_suite *cs = suite(1);
	struct mls_pre_shared_key_id ids[2];
	memset(ids, 0, sizeof ids);
	uint8_t v1[32], v2[32], a[AIM_MAX_HASH], b[AIM_MAX_HASH];
	fill(v1, sizeof v1, 1);
	fill(v2, sizeof v2, 2);
	ids[0].psktype = MLS_PSK_EXTERNAL;
	assert_int_equal(mls_bytes_set(&ids[0].psk_id, "one", 3), 0);
	assert_int_equal(mls_bytes_set(&ids[0].psk_nonce, v1, 32), 0);
	ids[1].psktype = MLS_PSK_RESUMPTION;
	ids[1].usage = MLS_RESUMPTION_APPLICATION;
	ids[1].psk_epoch = 7;
	assert_int_equal(mls_bytes_set(&ids[1].psk_group_id, "group", 5), 0);
	assert_int_equal(mls_bytes_set(&ids[1].psk_nonce, v2, 32), 0);
	struct mls_psk_input in[2] = { { &ids[0], AIM_BYTES(v1, 32) },
				       { &ids[1], AIM_BYTES(v2, 32) } };
	struct mls_psk_input rev[2] = { in[1], in[0] };
	assert_int_equal(mls_psk_secret(cs, in, 2, a), 0);
	/* Order matters (index is in the label). */
	assert_int_equal(mls_psk_secret(cs, rev, 2, b), 0);
	assert_memory_not_equal(a, b, cs->nh);
	/* So does the count. */
	assert_int_equal(mls_psk_secret(cs, in, 1, b), 0);
	assert_memory_not_equal(a, b, cs->nh);
	/* Too many PSKs are refused before any work. */
	assert_int_equal(mls_psk_secret(cs, in, MLS_MAX_PSKS + 1, b), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	mls_pre_shared_key_id_free(&ids[0]);
	mls_pre_shared_key_id_free(&ids[1]);
}

static void test_exporter_and_labels(void **state)
{
	const struct aim_suite *cs = suite(3);
	uint8_t secret[AIM_MAX_HASH], a[64], b[64];
	fill(secret, sizeof secret, 6);
	struct aim_bytes s = AIM_BYTES(secret, cs->nh);
	assert_int_equal(mls_exporter(cs, s, AIM_BYTES_STR("aim"), AIM_BYTES_STR("ctx"), a, 64),
			 0);
	assert_int_equal(mls_exporter(cs, s, AIM_BYTES_STR("aim"), AIM_BYTES_STR("ctx"), b, 64),
			 0);
	assert_memory_equal(a, b, 64);
	assert_int_equal(mls_exporter(cs, s, AIM_BYTES_STR("aim2"), AIM_BYTES_STR("ctx"), b, 64),
			 0);
	assert_memory_not_equal(a, b, 64);
	assert_int_equal(mls_exporter(cs, s, AIM_BYTES_STR("aim"), AIM_BYTES_STR("ctx2"), b, 64),
			 0);
	assert_memory_not_equal(a, b, 64);
	/* The raw-label and C-string forms agree. */
	assert_int_equal(mls_expand_with_label(cs, s, "x", AIM_BYTES(NULL, 0), a, 16), 0);
	assert_int_equal(mls_expand_with_label_raw(cs, s, AIM_BYTES_STR("x"), AIM_BYTES(NULL, 0),
						   b, 16),
			 0);
	assert_memory_equal(a, b, 16);
	/* Limits: zero length, a label that is too long. */
	assert_int_equal(mls_expand_with_label(cs, s, "x", AIM_BYTES(NULL, 0), a, 0), -1);
	char longlabel[MLS_MAX_LABEL + 2];
	memset(longlabel, 'a', sizeof longlabel - 1);
	longlabel[sizeof longlabel - 1] = 0;
	assert_int_equal(mls_expand_with_label(cs, s, longlabel, AIM_BYTES(NULL, 0), a, 16), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	/* Different reference labels give different references. */
	assert_int_equal(mls_key_package_ref(cs, AIM_BYTES_STR("v"), a), 0);
	assert_int_equal(mls_proposal_ref(cs, AIM_BYTES_STR("v"), b), 0);
	assert_memory_not_equal(a, b, cs->nh);
}

static void test_external_init(void **state)
{
	for (uint16_t id = 1; id <= 7; id++) {
		const struct aim_suite *cs = suite(id);
		uint8_t ext[AIM_MAX_HASH], s1[AIM_MAX_HASH], s2[AIM_MAX_HASH];
		fill(ext, sizeof ext, (uint8_t)id);
		struct aim_buf sk, pk, pk2, kem;
		aim_buf_init(&sk, 1024);
		aim_buf_init(&pk, 1024);
		aim_buf_init(&pk2, 1024);
		aim_buf_init(&kem, 1024);
		assert_int_equal(mls_external_keypair(cs, AIM_BYTES(ext, cs->nh), &sk, &pk), 0);
		assert_int_equal(mls_external_keypair(cs, AIM_BYTES(ext, cs->nh), NULL, &pk2), 0);
		assert_int_equal(pk.len, cs->kem_npk);
		assert_memory_equal(pk.data, pk2.data, pk.len);
		assert_int_equal(mls_external_init_encap(cs, aim_buf_bytes(&pk), &kem, s1), 0);
		assert_int_equal(mls_external_init_decap(cs, aim_buf_bytes(&sk),
							 aim_buf_bytes(&kem), s2),
				 0);
		assert_memory_equal(s1, s2, cs->nh);
		aim_buf_free_secret(&sk);
		aim_buf_free(&pk);
		aim_buf_free(&pk2);
		aim_buf_free(&kem);
	}
}

/* ---- Welcome ------------------------------------------------------------------- */

static json_t *load_vectors(const char *file)
{
	const char *dir = getenv("AIM_MLS_VECTORS");
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/vectors/mls",
		 file);
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	if (!root)
		fprintf(stderr, "%s: %s\n", path, err.text);
	assert_non_null(root);
	return root;
}

static struct aim_buf hexfield(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	assert_non_null(v);
	struct aim_buf b;
	aim_buf_init(&b, 1 << 20);
	assert_int_equal(aim_buf_reserve(&b, 1), 0);
	assert_int_equal(aim_hex_decode(&b, json_string_value(v), json_string_length(v)), 0);
	return b;
}

static struct aim_bytes egi_view(const struct mls_welcome *w)
{
	return mls_bytes_view(&w->encrypted_group_info);
}

/* Seal GroupSecrets and a GroupInfo to the vector's KeyPackage, open them
 * with its init key; the wrong key, secret or KeyPackage is refused. */
static void test_welcome_roundtrip(void **state)
{
	json_t *root = load_vectors("welcome.json");
	size_t i;
	json_t *t;
	json_array_foreach(root, i, t)
	{
		const struct aim_suite *cs =
			suite((uint16_t)json_integer_value(json_object_get(t, "cipher_suite")));
		struct aim_buf kpb = hexfield(t, "key_package"), priv = hexfield(t, "init_priv");
		struct mls_message kpm;
		assert_int_equal(mls_message_parse(kpb.data, kpb.len, &kpm), 0);
		assert_int_equal(kpm.wire_format, MLS_WIRE_KEY_PACKAGE);

		/* A GroupInfo with a signature over it. */
		struct mls_group_info gi, gi2;
		memset(&gi, 0, sizeof gi);
		gi.group_context.version = MLS_VERSION_10;
		gi.group_context.cipher_suite = cs->id;
		gi.group_context.epoch = 1;
		uint8_t tag[AIM_MAX_HASH];
		fill(tag, sizeof tag, 1);
		assert_int_equal(mls_bytes_set(&gi.group_context.group_id, "g", 1), 0);
		assert_int_equal(mls_bytes_set(&gi.confirmation_tag, tag, cs->nh), 0);
		struct aim_buf ssk, spk, gib, egi;
		aim_buf_init(&ssk, 1024);
		aim_buf_init(&spk, 1024);
		aim_buf_init(&gib, 1 << 20);
		aim_buf_init(&egi, 1 << 20);
		assert_int_equal(aim_sig_keygen(cs->sig, &ssk, &spk), 0);
		assert_int_equal(mls_group_info_sign(cs, &gi, aim_buf_bytes(&ssk)), 0);
		assert_int_equal(mls_group_info_verify(cs, &gi, aim_buf_bytes(&spk)), 0);
		assert_int_equal(mls_group_info_encode(&gib, &gi), 0);

		uint8_t joiner[AIM_MAX_HASH], ws[AIM_MAX_HASH];
		fill(joiner, sizeof joiner, 3);
		assert_int_equal(mls_schedule_welcome_secret(cs, AIM_BYTES(joiner, cs->nh),
							     AIM_BYTES(NULL, 0), ws),
				 0);
		assert_int_equal(mls_welcome_seal_group_info(cs, AIM_BYTES(ws, cs->nh),
							     aim_buf_bytes(&gib), &egi),
				 0);

		struct mls_group_secrets gs, gs2;
		memset(&gs, 0, sizeof gs);
		assert_int_equal(mls_bytes_set(&gs.joiner_secret, joiner, cs->nh), 0);
		struct mls_welcome w;
		memset(&w, 0, sizeof w);
		w.cipher_suite = cs->id;
		w.n_secrets = 1;
		w.secrets = calloc(1, sizeof *w.secrets);
		assert_int_equal(mls_welcome_seal_secrets(cs, &kpm.key_package, aim_buf_bytes(&egi),
							  &gs, &w.secrets[0]),
				 0);
		assert_int_equal(mls_bytes_set(&w.encrypted_group_info, egi.data, egi.len), 0);

		struct aim_buf kpenc;
		aim_buf_init(&kpenc, 1 << 20);
		uint8_t ref[AIM_MAX_HASH];
		assert_int_equal(mls_key_package_encode(&kpenc, &kpm.key_package), 0);
		assert_int_equal(mls_key_package_ref(cs, aim_buf_bytes(&kpenc), ref), 0);
		assert_int_equal(mls_welcome_open_secrets(cs, &w, AIM_BYTES(ref, cs->nh),
							  aim_buf_bytes(&priv), &gs2),
				 0);
		assert_true(mls_bytes_equal(&gs.joiner_secret, &gs2.joiner_secret));
		mls_group_secrets_free(&gs2);
		assert_int_equal(mls_welcome_open_group_info(cs, AIM_BYTES(ws, cs->nh),
							     egi_view(&w), &gi2),
				 0);
		assert_int_equal(mls_group_info_verify(cs, &gi2, aim_buf_bytes(&spk)), 0);
		mls_group_info_free(&gi2);

		/* Unknown KeyPackage. */
		ref[0] ^= 1;
		assert_int_equal(mls_welcome_open_secrets(cs, &w, AIM_BYTES(ref, cs->nh),
							  aim_buf_bytes(&priv), &gs2),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
		ref[0] ^= 1;
		/* Ciphertext bound to the encrypted GroupInfo (HPKE context). */
		w.encrypted_group_info.p[0] ^= 1;
		assert_int_equal(mls_welcome_open_secrets(cs, &w, AIM_BYTES(ref, cs->nh),
							  aim_buf_bytes(&priv), &gs2),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		/* ... and the GroupInfo AEAD refuses it too. */
		assert_int_equal(mls_welcome_open_group_info(cs, AIM_BYTES(ws, cs->nh),
							     egi_view(&w), &gi2),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		w.encrypted_group_info.p[0] ^= 1;
		/* Wrong welcome secret. */
		ws[0] ^= 1;
		assert_int_equal(mls_welcome_open_group_info(cs, AIM_BYTES(ws, cs->nh),
							     egi_view(&w), &gi2),
				 -1);
		/* Another suite's Welcome. */
		w.cipher_suite = (uint16_t)(cs->id == 1 ? 2 : 1);
		assert_int_equal(mls_welcome_open_secrets(cs, &w, AIM_BYTES(ref, cs->nh),
							  aim_buf_bytes(&priv), &gs2),
				 -1);
		/* A tampered GroupInfo no longer verifies. */
		gi.signer = 5;
		assert_int_equal(mls_group_info_verify(cs, &gi, aim_buf_bytes(&spk)), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);

		mls_welcome_free(&w);
		mls_group_secrets_free(&gs);
		mls_group_info_free(&gi);
		mls_message_free(&kpm);
		aim_buf_free(&kpb);
		aim_buf_free_secret(&priv);
		aim_buf_free_secret(&ssk);
		aim_buf_free(&spk);
		aim_buf_free(&gib);
		aim_buf_free(&egi);
		aim_buf_free(&kpenc);
	}
	json_decref(root);
}

/* SignWithLabel / EncryptWithLabel are domain-separated by label. */
static void test_labels_separate(void **state)
{
	const struct aim_suite *cs = suite(1);
	struct aim_buf sk, pk, sig, kem, ct, pt;
	aim_buf_init(&sk, 1024);
	aim_buf_init(&pk, 1024);
	aim_buf_init(&sig, 1024);
	aim_buf_init(&kem, 1024);
	aim_buf_init(&ct, 1024);
	aim_buf_init(&pt, 1024);
	assert_int_equal(aim_sig_keygen(cs->sig, &sk, &pk), 0);
	assert_int_equal(mls_sign_with_label(cs, aim_buf_bytes(&sk), "A", AIM_BYTES_STR("m"), &sig),
			 0);
	assert_int_equal(mls_verify_with_label(cs, aim_buf_bytes(&pk), "A", AIM_BYTES_STR("m"),
					       aim_buf_bytes(&sig)),
			 0);
	assert_int_equal(mls_verify_with_label(cs, aim_buf_bytes(&pk), "B", AIM_BYTES_STR("m"),
					       aim_buf_bytes(&sig)),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	aim_buf_reset(&sk);
	aim_buf_reset(&pk);
	assert_int_equal(aim_kem_keygen(cs->kem, &sk, &pk), 0);
	assert_int_equal(mls_encrypt_with_label(cs, aim_buf_bytes(&pk), "A", AIM_BYTES_STR("c"),
						AIM_BYTES_STR("secret"), &kem, &ct),
			 0);
	assert_int_equal(mls_decrypt_with_label(cs, aim_buf_bytes(&sk), "B", AIM_BYTES_STR("c"),
						aim_buf_bytes(&kem), aim_buf_bytes(&ct), &pt),
			 -1);
	assert_int_equal(mls_decrypt_with_label(cs, aim_buf_bytes(&sk), "A", AIM_BYTES_STR("d"),
						aim_buf_bytes(&kem), aim_buf_bytes(&ct), &pt),
			 -1);
	assert_int_equal(pt.len, 0);
	assert_int_equal(mls_decrypt_with_label(cs, aim_buf_bytes(&sk), "A", AIM_BYTES_STR("c"),
						aim_buf_bytes(&kem), aim_buf_bytes(&ct), &pt),
			 0);
	assert_int_equal(pt.len, 6);
	assert_memory_equal(pt.data, "secret", 6);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_free(&sig);
	aim_buf_free(&kem);
	aim_buf_free(&ct);
	aim_buf_free_secret(&pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratchet_out_of_order),
		cmocka_unit_test(test_ratchet_reuse_refused),
		cmocka_unit_test(test_ratchet_window),
		cmocka_unit_test(test_tree_arguments),
		cmocka_unit_test(test_tree_export_import),
		cmocka_unit_test(test_schedule_zero_defaults),
		cmocka_unit_test(test_confirmation_tag),
		cmocka_unit_test(test_transcript_lengths),
		cmocka_unit_test(test_psk_properties),
		cmocka_unit_test(test_exporter_and_labels),
		cmocka_unit_test(test_external_init),
		cmocka_unit_test(test_welcome_roundtrip),
		cmocka_unit_test(test_labels_separate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
