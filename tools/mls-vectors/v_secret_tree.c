/* secret-tree.json: sender-data keys and the handshake / application
 * ratchets of every leaf (RFC 9420 sections 6.3.2 and 9). */
#include <string.h>

#include "mls/schedule.h"
#include "vectors.h"

static int check_sender_data(const struct aim_suite *cs, json_t *sd)
{
	struct aim_buf secret = { 0 }, ct = { 0 };
	uint8_t key[AIM_MAX_AEAD_KEY], nonce[AIM_AEAD_NONCE];
	int rc = 0;
	ENSURE(sd && json_is_object(sd), AIM_ERR_DECODE, "sender_data missing");
	TRY_GOTO(vec_hex(sd, "sender_data_secret", &secret, NULL), done);
	TRY_GOTO(vec_hex(sd, "ciphertext", &ct, NULL), done);
	TRY_GOTO(mls_sender_data_keys(cs, aim_buf_bytes(&secret), aim_buf_bytes(&ct), key, nonce),
		 done);
	ENSURE_GOTO(vec_expect(sd, "key", key, cs->nk) && vec_expect(sd, "nonce", nonce, cs->nn),
		    done, AIM_ERR_VERIFY, "sender data key or nonce differs");
done:
	aim_buf_free(&secret);
	aim_buf_free(&ct);
	return rc;
}

static int check_leaf(const struct aim_suite *cs, struct mls_secret_tree *t, uint32_t leaf,
		      json_t *gens)
{
	ENSURE(gens && json_is_array(gens), AIM_ERR_DECODE, "leaf entry not an array");
	size_t j;
	json_t *g;
	json_array_foreach(gens, j, g)
	{
		uint64_t gen;
		TRY(vec_uint(g, "generation", &gen));
		ENSURE(gen <= UINT32_MAX, AIM_ERR_DECODE, "generation");
		static const struct {
			enum mls_ratchet_kind kind;
			const char *key, *nonce;
		} kinds[] = {
			{ MLS_RATCHET_HANDSHAKE, "handshake_key", "handshake_nonce" },
			{ MLS_RATCHET_APPLICATION, "application_key", "application_nonce" },
		};
		for (size_t k = 0; k < AIM_ARRAY_LEN(kinds); k++) {
			struct mls_ratchet_keys keys;
			TRY(mls_secret_tree_get(t, leaf, kinds[k].kind, (uint32_t)gen, &keys));
			bool ok = vec_expect(g, kinds[k].key, keys.key, cs->nk) &&
				  vec_expect(g, kinds[k].nonce, keys.nonce, cs->nn);
			mls_ratchet_keys_wipe(&keys);
			ENSURE(ok, AIM_ERR_VERIFY, "leaf %u generation %u differs", leaf,
			       (unsigned)gen);
			TRY(mls_secret_tree_consume(t, leaf, kinds[k].kind, (uint32_t)gen));
			/* A consumed generation is gone. */
			if (mls_secret_tree_get(t, leaf, kinds[k].kind, (uint32_t)gen, &keys) == 0)
				return aim_fail(AIM_ERR_INTERNAL, "generation reused");
			aim_errclear();
		}
	}
	return 0;
}

static int run_one(const struct aim_suite *cs, json_t *t)
{
	TRY(check_sender_data(cs, json_object_get(t, "sender_data")));
	json_t *leaves = json_object_get(t, "leaves");
	ENSURE(leaves && json_is_array(leaves) && json_array_size(leaves) > 0, AIM_ERR_DECODE,
	       "leaves missing");
	struct aim_buf secret;
	TRY(vec_hex(t, "encryption_secret", &secret, NULL));
	struct mls_secret_tree *tree;
	int rc = mls_secret_tree_new(cs, aim_buf_bytes(&secret),
				     (uint32_t)json_array_size(leaves), &tree);
	aim_buf_free_secret(&secret);
	TRY(rc);
	size_t i;
	json_t *l;
	json_array_foreach(leaves, i, l)
	{
		if (check_leaf(cs, tree, (uint32_t)i, l)) {
			rc = -1;
			break;
		}
	}
	mls_secret_tree_free(tree);
	return rc;
}

void vec_secret_tree(json_t *tests, struct vec_stats *st)
{
	vec_each_suite(tests, st, run_one);
}
