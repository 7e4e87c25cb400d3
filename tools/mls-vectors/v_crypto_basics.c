/* crypto-basics.json: RefHash, ExpandWithLabel, DeriveSecret,
 * DeriveTreeSecret, SignWithLabel / VerifyWithLabel, EncryptWithLabel /
 * DecryptWithLabel (RFC 9420 sections 5 and 8). */
#include <stdlib.h>
#include <string.h>

#include "mls/labeled.h"
#include "vectors.h"

static const char *str_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v && json_is_string(v) ? json_string_value(v) : NULL;
}

static int check_ref_hash(const struct aim_suite *cs, json_t *o)
{
	struct aim_buf value;
	const char *label = str_field(o, "label");
	ENSURE(label, AIM_ERR_DECODE, "ref_hash.label missing");
	TRY(vec_hex(o, "value", &value, NULL));
	uint8_t out[AIM_MAX_HASH];
	int rc = mls_ref_hash(cs, label, aim_buf_bytes(&value), out);
	aim_buf_free(&value);
	TRY(rc);
	ENSURE(vec_expect(o, "out", out, cs->nh), AIM_ERR_VERIFY, "ref_hash out");
	return 0;
}

static int check_expand(const struct aim_suite *cs, json_t *o)
{
	struct aim_buf secret, ctx = { 0 };
	uint64_t len;
	const char *label = str_field(o, "label");
	ENSURE(label, AIM_ERR_DECODE, "expand_with_label.label missing");
	TRY(vec_uint(o, "length", &len));
	ENSURE(len > 0 && len <= 255 * AIM_MAX_HASH, AIM_ERR_DECODE, "length");
	TRY(vec_hex(o, "secret", &secret, NULL));
	if (vec_hex(o, "context", &ctx, NULL)) {
		aim_buf_free(&secret);
		aim_buf_free(&ctx);
		return -1;
	}
	uint8_t *out = aim_xmalloc(len);
	int rc = mls_expand_with_label(cs, aim_buf_bytes(&secret), label, aim_buf_bytes(&ctx),
				       out, len);
	if (rc == 0 && !vec_expect(o, "out", out, len))
		rc = aim_fail(AIM_ERR_VERIFY, "expand_with_label out");
	free(out);
	aim_buf_free(&secret);
	aim_buf_free(&ctx);
	return rc;
}

static int check_derive_secret(const struct aim_suite *cs, json_t *o)
{
	struct aim_buf secret;
	const char *label = str_field(o, "label");
	ENSURE(label, AIM_ERR_DECODE, "derive_secret.label missing");
	TRY(vec_hex(o, "secret", &secret, NULL));
	uint8_t out[AIM_MAX_HASH];
	int rc = mls_derive_secret(cs, aim_buf_bytes(&secret), label, out);
	aim_buf_free(&secret);
	TRY(rc);
	ENSURE(vec_expect(o, "out", out, cs->nh), AIM_ERR_VERIFY, "derive_secret out");
	return 0;
}

static int check_tree_secret(const struct aim_suite *cs, json_t *o)
{
	struct aim_buf secret;
	uint64_t len, gen;
	const char *label = str_field(o, "label");
	ENSURE(label, AIM_ERR_DECODE, "derive_tree_secret.label missing");
	TRY(vec_uint(o, "length", &len));
	TRY(vec_uint(o, "generation", &gen));
	ENSURE(len > 0 && len <= 255 * AIM_MAX_HASH && gen <= UINT32_MAX, AIM_ERR_DECODE,
	       "length or generation");
	TRY(vec_hex(o, "secret", &secret, NULL));
	uint8_t *out = aim_xmalloc(len);
	int rc = mls_derive_tree_secret(cs, aim_buf_bytes(&secret), label, (uint32_t)gen, out,
					len);
	if (rc == 0 && !vec_expect(o, "out", out, len))
		rc = aim_fail(AIM_ERR_VERIFY, "derive_tree_secret out");
	free(out);
	aim_buf_free(&secret);
	return rc;
}

static int check_sign(const struct aim_suite *cs, json_t *o)
{
	struct aim_buf priv = { 0 }, pub = { 0 }, content = { 0 }, sig = { 0 }, mine;
	const char *label = str_field(o, "label");
	ENSURE(label, AIM_ERR_DECODE, "sign_with_label.label missing");
	aim_buf_init(&mine, 4096);
	int rc = 0;
	TRY_GOTO(vec_hex(o, "priv", &priv, NULL), out);
	TRY_GOTO(vec_hex(o, "pub", &pub, NULL), out);
	TRY_GOTO(vec_hex(o, "content", &content, NULL), out);
	TRY_GOTO(vec_hex(o, "signature", &sig, NULL), out);
	TRY_GOTO(mls_verify_with_label(cs, aim_buf_bytes(&pub), label, aim_buf_bytes(&content),
				       aim_buf_bytes(&sig)),
		 out);
	TRY_GOTO(mls_sign_with_label(cs, aim_buf_bytes(&priv), label, aim_buf_bytes(&content),
				     &mine),
		 out);
	TRY_GOTO(mls_verify_with_label(cs, aim_buf_bytes(&pub), label, aim_buf_bytes(&content),
				       aim_buf_bytes(&mine)),
		 out);
	/* A signature under another label must not verify. */
	if (mls_verify_with_label(cs, aim_buf_bytes(&pub), "other", aim_buf_bytes(&content),
				  aim_buf_bytes(&mine)) == 0)
		rc = aim_fail(AIM_ERR_INTERNAL, "signature verified under another label");
	aim_errclear();
out:
	aim_buf_free_secret(&priv);
	aim_buf_free(&pub);
	aim_buf_free(&content);
	aim_buf_free(&sig);
	aim_buf_free(&mine);
	return rc;
}

static int check_encrypt(const struct aim_suite *cs, json_t *o)
{
	struct aim_buf priv = { 0 }, pub = { 0 }, ctx = { 0 }, pt = { 0 }, kem = { 0 },
		       ct = { 0 }, got, kem2, ct2;
	const char *label = str_field(o, "label");
	ENSURE(label, AIM_ERR_DECODE, "encrypt_with_label.label missing");
	aim_buf_init(&got, 1 << 16);
	aim_buf_init(&kem2, 1024);
	aim_buf_init(&ct2, 1 << 16);
	int rc = 0;
	TRY_GOTO(vec_hex(o, "priv", &priv, NULL), out);
	TRY_GOTO(vec_hex(o, "pub", &pub, NULL), out);
	TRY_GOTO(vec_hex(o, "context", &ctx, NULL), out);
	TRY_GOTO(vec_hex(o, "plaintext", &pt, NULL), out);
	TRY_GOTO(vec_hex(o, "kem_output", &kem, NULL), out);
	TRY_GOTO(vec_hex(o, "ciphertext", &ct, NULL), out);
	TRY_GOTO(mls_decrypt_with_label(cs, aim_buf_bytes(&priv), label, aim_buf_bytes(&ctx),
					aim_buf_bytes(&kem), aim_buf_bytes(&ct), &got),
		 out);
	ENSURE_GOTO(aim_ct_equal(got.data, got.len, pt.data, pt.len), out, AIM_ERR_VERIFY,
		    "decrypted plaintext differs");
	aim_buf_reset(&got);
	TRY_GOTO(mls_encrypt_with_label(cs, aim_buf_bytes(&pub), label, aim_buf_bytes(&ctx),
					aim_buf_bytes(&pt), &kem2, &ct2),
		 out);
	TRY_GOTO(mls_decrypt_with_label(cs, aim_buf_bytes(&priv), label, aim_buf_bytes(&ctx),
					aim_buf_bytes(&kem2), aim_buf_bytes(&ct2), &got),
		 out);
	ENSURE_GOTO(aim_ct_equal(got.data, got.len, pt.data, pt.len), out, AIM_ERR_VERIFY,
		    "round-trip plaintext differs");
out:
	aim_buf_free_secret(&priv);
	aim_buf_free(&pub);
	aim_buf_free(&ctx);
	aim_buf_free(&pt);
	aim_buf_free(&kem);
	aim_buf_free(&ct);
	aim_buf_free(&got);
	aim_buf_free(&kem2);
	aim_buf_free(&ct2);
	return rc;
}

void vec_crypto_basics(json_t *tests, struct vec_stats *st)
{
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t)
	{
		uint64_t id;
		const struct aim_suite *cs = NULL;
		if (vec_uint(t, "cipher_suite", &id) == 0 && id <= 0xffff)
			cs = aim_suite_get((uint16_t)id);
		if (!cs) {
			vec_fail(st, i, "unknown cipher suite");
			continue;
		}
		static const struct {
			const char *key;
			int (*fn)(const struct aim_suite *, json_t *);
		} parts[] = {
			{ "ref_hash", check_ref_hash },
			{ "expand_with_label", check_expand },
			{ "derive_secret", check_derive_secret },
			{ "derive_tree_secret", check_tree_secret },
			{ "sign_with_label", check_sign },
			{ "encrypt_with_label", check_encrypt },
		};
		bool ok = true;
		for (size_t k = 0; k < AIM_ARRAY_LEN(parts) && ok; k++) {
			json_t *o = json_object_get(t, parts[k].key);
			if (!o || !json_is_object(o)) {
				vec_fail(st, i, "%s missing", parts[k].key);
				ok = false;
			} else if (parts[k].fn(cs, o) != 0) {
				vec_fail(st, i, "suite %u: %s", cs->id, parts[k].key);
				ok = false;
			}
		}
		if (ok)
			st->passed++;
	}
}
