/* key-schedule.json: the epoch secrets of RFC 9420 section 8 over several
 * epochs, the external key pair and the exporter. */
#include <stdlib.h>
#include <string.h>

#include "mls/codec.h"
#include "mls/schedule.h"
#include "vectors.h"

static int expect(json_t *o, const char *key, const uint8_t *p, size_t n)
{
	ENSURE(vec_expect(o, key, p, n), AIM_ERR_VERIFY, "%s differs", key);
	return 0;
}

static int run_epoch(const struct aim_suite *cs, json_t *e, struct aim_bytes group_id,
		     uint64_t epoch, uint8_t init_secret[AIM_MAX_HASH])
{
	struct aim_buf tree_hash = { 0 }, commit = { 0 }, psk = { 0 }, cth = { 0 }, gcbuf,
		       label = { 0 }, ctx = { 0 }, pub;
	struct mls_group_context gc;
	struct mls_epoch_secrets s;
	uint8_t *exp = NULL;
	int rc = 0;
	memset(&gc, 0, sizeof gc);
	memset(&s, 0, sizeof s);
	aim_buf_init(&gcbuf, 1 << 16);
	aim_buf_init(&pub, 1024);
	TRY_GOTO(vec_hex(e, "tree_hash", &tree_hash, NULL), done);
	TRY_GOTO(vec_hex(e, "commit_secret", &commit, NULL), done);
	TRY_GOTO(vec_hex(e, "psk_secret", &psk, NULL), done);
	TRY_GOTO(vec_hex(e, "confirmed_transcript_hash", &cth, NULL), done);
	gc.version = MLS_VERSION_10;
	gc.cipher_suite = cs->id;
	gc.epoch = epoch;
	TRY_GOTO(mls_bytes_set(&gc.group_id, group_id.p, group_id.len), done);
	TRY_GOTO(mls_bytes_set(&gc.tree_hash, tree_hash.data, tree_hash.len), done);
	TRY_GOTO(mls_bytes_set(&gc.confirmed_transcript_hash, cth.data, cth.len), done);
	TRY_GOTO(mls_group_context_encode(&gcbuf, &gc), done);
	TRY_GOTO(expect(e, "group_context", gcbuf.data, gcbuf.len), done);
	TRY_GOTO(mls_schedule_epoch(cs, AIM_BYTES(init_secret, cs->nh), aim_buf_bytes(&commit),
				    aim_buf_bytes(&psk), aim_buf_bytes(&gcbuf), &s),
		 done);
	const struct {
		const char *key;
		const uint8_t *v;
	} outs[] = {
		{ "joiner_secret", s.joiner_secret },
		{ "welcome_secret", s.welcome_secret },
		{ "init_secret", s.init_secret },
		{ "sender_data_secret", s.sender_data_secret },
		{ "encryption_secret", s.encryption_secret },
		{ "exporter_secret", s.exporter_secret },
		{ "epoch_authenticator", s.epoch_authenticator },
		{ "external_secret", s.external_secret },
		{ "confirmation_key", s.confirmation_key },
		{ "membership_key", s.membership_key },
		{ "resumption_psk", s.resumption_psk },
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(outs); i++)
		TRY_GOTO(expect(e, outs[i].key, outs[i].v, cs->nh), done);
	TRY_GOTO(mls_external_keypair(cs, AIM_BYTES(s.external_secret, cs->nh), NULL, &pub), done);
	TRY_GOTO(expect(e, "external_pub", pub.data, pub.len), done);

	json_t *x = json_object_get(e, "exporter");
	uint64_t len;
	ENSURE_GOTO(x && json_is_object(x), done, AIM_ERR_DECODE, "exporter missing");
	/* The exporter label is the JSON string itself (its UTF-8 bytes), not
	 * hex-decoded (that is what the vector generators feed MLS-Exporter). */
	json_t *lj = json_object_get(x, "label");
	ENSURE_GOTO(lj && json_is_string(lj), done, AIM_ERR_DECODE, "exporter label missing");
	aim_buf_init(&label, 4096);
	TRY_GOTO(aim_buf_append(&label, json_string_value(lj), json_string_length(lj)), done);
	TRY_GOTO(vec_hex(x, "context", &ctx, NULL), done);
	TRY_GOTO(vec_uint(x, "length", &len), done);
	ENSURE_GOTO(len > 0 && len <= 1024, done, AIM_ERR_DECODE, "exporter length");
	exp = aim_xmalloc(len);
	TRY_GOTO(mls_exporter(cs, AIM_BYTES(s.exporter_secret, cs->nh), aim_buf_bytes(&label),
			      aim_buf_bytes(&ctx), exp, len),
		 done);
	TRY_GOTO(expect(x, "secret", exp, len), done);
	memcpy(init_secret, s.init_secret, cs->nh);
done:
	free(exp);
	mls_group_context_free(&gc);
	mls_epoch_secrets_wipe(&s);
	aim_buf_free(&tree_hash);
	aim_buf_free(&commit);
	aim_buf_free(&psk);
	aim_buf_free(&cth);
	aim_buf_free(&gcbuf);
	aim_buf_free(&label);
	aim_buf_free(&ctx);
	aim_buf_free(&pub);
	return rc;
}

static int run_one(const struct aim_suite *cs, json_t *t)
{
	struct aim_buf gid = { 0 }, init = { 0 };
	uint8_t secret[AIM_MAX_HASH];
	int rc = 0;
	TRY_GOTO(vec_hex(t, "group_id", &gid, NULL), done);
	TRY_GOTO(vec_hex(t, "initial_init_secret", &init, NULL), done);
	ENSURE_GOTO(init.len == cs->nh, done, AIM_ERR_DECODE, "initial_init_secret length");
	memcpy(secret, init.data, cs->nh);
	json_t *epochs = json_object_get(t, "epochs");
	ENSURE_GOTO(epochs && json_is_array(epochs) && json_array_size(epochs) > 0, done,
		    AIM_ERR_DECODE, "epochs missing");
	size_t i;
	json_t *e;
	json_array_foreach(epochs, i, e)
	{
		if (run_epoch(cs, e, aim_buf_bytes(&gid), i, secret)) {
			rc = -1;
			break;
		}
	}
done:
	aim_wipe(secret, sizeof secret);
	aim_buf_free(&gid);
	aim_buf_free(&init);
	return rc;
}

void vec_key_schedule(json_t *tests, struct vec_stats *st)
{
	vec_each_suite(tests, st, run_one);
}
