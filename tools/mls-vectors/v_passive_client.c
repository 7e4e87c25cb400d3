/* passive-client-welcome / -handling-commit / -random: join from a Welcome
 * with the given KeyPackage private keys and external PSKs, then process
 * each epoch's proposals and commit, checking the epoch authenticator after
 * each (the member group state machine, src/mls/mls.h). The first
 * commit is also offered with one byte changed, which must be refused; and
 * every few epochs the state goes through mls_group_encode / _parse. */
#include <string.h>

#include "mls/codec.h"
#include "mls/mls.h"
#include "vectors.h"

struct psk_table {
	json_t *psks; /* array of { psk_id, psk } */
};

static int psk_lookup(void *arg, struct aim_bytes psk_id, struct aim_buf *out)
{
	const struct psk_table *tab = arg;
	size_t i;
	json_t *e;
	json_array_foreach(tab->psks, i, e)
	{
		struct aim_buf id, val;
		if (vec_hex(e, "psk_id", &id, NULL) != 0) {
			aim_buf_free(&id);
			return -1;
		}
		bool same = aim_ct_equal(id.data, id.len, psk_id.p, psk_id.len);
		aim_buf_free(&id);
		if (!same)
			continue;
		if (vec_hex(e, "psk", &val, NULL) != 0) {
			aim_buf_free_secret(&val);
			return -1;
		}
		int rc = aim_buf_append(out, val.data, val.len);
		aim_buf_free_secret(&val);
		return rc;
	}
	return aim_fail(AIM_ERR_NOTFOUND, "external PSK not in the vector");
}

static int process_hex(struct mls_group *g, json_t *v, const char *what)
{
	ENSURE(json_is_string(v), AIM_ERR_DECODE, "%s is not a string", what);
	struct aim_buf b;
	aim_buf_init(&b, 16u << 20);
	int rc = aim_hex_decode(&b, json_string_value(v), json_string_length(v));
	if (rc == 0) {
		struct mls_group_event ev;
		rc = mls_group_process(g, aim_buf_bytes(&b), &ev);
		if (rc == 0)
			mls_group_event_free(&ev);
		else
			aim_fail(aim_errcode(), "%s: %s", what, aim_errmsg());
	}
	aim_buf_free(&b);
	return rc;
}

/* A copy of the commit with one byte flipped near its end (tags and
 * signature) must be refused and leave the epoch as it was. */
static int tampered_refused(struct mls_group *g, json_t *v)
{
	ENSURE(json_is_string(v), AIM_ERR_DECODE, "commit is not a string");
	struct aim_buf b;
	aim_buf_init(&b, 16u << 20);
	int rc = aim_hex_decode(&b, json_string_value(v), json_string_length(v));
	if (rc == 0 && b.len > 8) {
		uint64_t epoch = mls_group_epoch(g);
		b.data[b.len - 5] ^= 0x10;
		if (mls_group_process(g, aim_buf_bytes(&b), NULL) == 0)
			rc = aim_fail(AIM_ERR_INTERNAL, "a tampered commit was accepted");
		else if (mls_group_epoch(g) != epoch)
			rc = aim_fail(AIM_ERR_INTERNAL, "a refused commit changed the epoch");
		else
			aim_errclear();
	}
	aim_buf_free(&b);
	return rc;
}

static bool expect_auth(json_t *obj, const char *key, const struct mls_group *g)
{
	struct aim_bytes ea = mls_group_epoch_authenticator(g);
	return vec_expect(obj, key, ea.p, ea.len);
}

/* Encodes the group, restores it, and continues with the copy (the
 * persistence round trip runs on every vector). */
static int round_trip(struct mls_group **g, const struct mls_group_config *cfg)
{
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_GROUP_STATE);
	struct mls_group *n = NULL;
	int rc = mls_group_encode(*g, &w);
	if (rc == 0)
		rc = mls_group_parse(cfg, w.data, w.len, &n);
	aim_buf_free_secret(&w);
	if (rc == 0) {
		mls_group_free(*g);
		*g = n;
	}
	return rc;
}

/* Some generators drop leading zero bytes of P-521 scalars (65 instead of
 * 66 bytes): left-pad to the suite's private key length. */
static int set_key(struct mls_bytes *dst, const struct aim_buf *src, size_t want)
{
	ENSURE(src->len <= want, AIM_ERR_INVALID, "private key of %zu bytes", src->len);
	uint8_t k[AIM_MAX_KEM_SK > AIM_MAX_SIG_SK ? AIM_MAX_KEM_SK : AIM_MAX_SIG_SK] = { 0 };
	ENSURE(want <= sizeof k, AIM_ERR_INVALID, "key length %zu", want);
	memcpy(k + (want - src->len), src->data, src->len);
	int rc = mls_bytes_set(dst, k, want);
	aim_wipe(k, sizeof k);
	return rc;
}

static int run_one(const struct aim_suite *cs, json_t *t, size_t index, struct vec_stats *st)
{
	struct aim_buf kpb = { 0 }, sig = { 0 }, encp = { 0 }, initp = { 0 }, wb = { 0 },
		       tree = { 0 };
	struct mls_message kpm;
	struct mls_key_package_priv priv;
	struct mls_group *g = NULL;
	struct psk_table tab = { json_object_get(t, "external_psks") };
	int rc = 0;
	memset(&kpm, 0, sizeof kpm);
	memset(&priv, 0, sizeof priv);
	struct mls_group_config cfg = {
		.psk_lookup = psk_lookup,
		.psk_arg = &tab,
		.now = UINT64_MAX, /* vectors carry fixed lifetimes */
	};
	ENSURE(json_is_array(tab.psks), AIM_ERR_DECODE, "external_psks missing");
	TRY_GOTO(vec_hex(t, "key_package", &kpb, NULL), done);
	TRY_GOTO(vec_hex(t, "signature_priv", &sig, NULL), done);
	TRY_GOTO(vec_hex(t, "encryption_priv", &encp, NULL), done);
	TRY_GOTO(vec_hex(t, "init_priv", &initp, NULL), done);
	TRY_GOTO(vec_hex(t, "welcome", &wb, NULL), done);
	bool has_tree;
	TRY_GOTO(vec_hex(t, "ratchet_tree", &tree, &has_tree), done);
	TRY_GOTO(mls_message_parse(kpb.data, kpb.len, &kpm), done);
	ENSURE_GOTO(kpm.wire_format == MLS_WIRE_KEY_PACKAGE, done, AIM_ERR_DECODE,
		    "key_package is not a KeyPackage");
	priv.cipher_suite = cs->id;
	TRY_GOTO(set_key(&priv.init_priv, &initp, cs->kem_nsk), done);
	TRY_GOTO(set_key(&priv.encryption_priv, &encp, cs->kem_nsk), done);
	TRY_GOTO(set_key(&priv.signature_priv, &sig, cs->sig_nsk), done);
	/* "Verify that signature_priv, leaf_priv, and init_priv correspond to
	 * the public keys" (mls_group_join checks it too) */
	TRY_GOTO(mls_key_package_priv_check(&kpm.key_package, &priv), done);
	TRY_GOTO(mls_group_join(&cfg, aim_buf_bytes(&wb), aim_buf_bytes(&tree), &kpm.key_package,
				&priv, &g),
		 done);
	ENSURE_GOTO(expect_auth(t, "initial_epoch_authenticator", g), done, AIM_ERR_VERIFY,
		    "initial epoch authenticator");
	json_t *epochs = json_object_get(t, "epochs");
	ENSURE_GOTO(json_is_array(epochs), done, AIM_ERR_DECODE, "epochs missing");
	size_t e;
	json_t *ep;
	json_array_foreach(epochs, e, ep)
	{
		json_t *props = json_object_get(ep, "proposals");
		size_t k;
		json_t *p;
		json_array_foreach(props, k, p)
			TRY_GOTO(process_hex(g, p, "proposal"), done);
		if (e == 0)
			TRY_GOTO(tampered_refused(g, json_object_get(ep, "commit")), done);
		TRY_GOTO(process_hex(g, json_object_get(ep, "commit"), "commit"), done);
		ENSURE_GOTO(expect_auth(ep, "epoch_authenticator", g), done, AIM_ERR_VERIFY,
			    "epoch authenticator after epoch entry %zu", e);
		/* every few epochs, continue from a restored copy */
		if (e % 3 == 1)
			TRY_GOTO(round_trip(&g, &cfg), done);
	}
done:
	(void)index;
	(void)st;
	mls_group_free(g);
	mls_key_package_priv_free(&priv);
	mls_message_free(&kpm);
	aim_buf_free(&kpb);
	aim_buf_free_secret(&sig);
	aim_buf_free_secret(&encp);
	aim_buf_free_secret(&initp);
	aim_buf_free(&wb);
	aim_buf_free(&tree);
	return rc;
}

void vec_passive_client(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t)
	{
		uint64_t id;
		const struct aim_suite *cs = NULL;
		if (vec_uint(t, "cipher_suite", &id) == 0 && id <= 0xffff)
			cs = aim_suite_get((uint16_t)id);
		if (!cs)
			vec_fail(st, i, "unknown cipher suite");
		else if (run_one(cs, t, i, st))
			vec_fail(st, i, "suite %u", cs->id);
		else
			st->passed++;
	}
}
