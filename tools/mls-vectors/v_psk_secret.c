/* psk_secret.json: the psk_secret chain of RFC 9420 section 8.4 over
 * external PSKs. */
#include <string.h>

#include "mls/codec.h"
#include "mls/schedule.h"
#include "vectors.h"

static int run_one(const struct aim_suite *cs, json_t *t)
{
	json_t *arr = json_object_get(t, "psks");
	ENSURE(arr && json_is_array(arr), AIM_ERR_DECODE, "psks missing");
	size_t n = json_array_size(arr);
	ENSURE(n <= MLS_MAX_PSKS, AIM_ERR_LIMIT, "too many PSKs");
	struct mls_pre_shared_key_id ids[MLS_MAX_PSKS];
	struct aim_buf vals[MLS_MAX_PSKS];
	struct mls_psk_input in[MLS_MAX_PSKS];
	memset(ids, 0, sizeof ids);
	memset(vals, 0, sizeof vals);
	uint8_t out[AIM_MAX_HASH];
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(arr, i);
		struct aim_buf id = { 0 }, nonce = { 0 };
		ids[i].psktype = MLS_PSK_EXTERNAL;
		if (vec_hex(p, "psk_id", &id, NULL) || vec_hex(p, "psk_nonce", &nonce, NULL) ||
		    vec_hex(p, "psk", &vals[i], NULL) ||
		    mls_bytes_set(&ids[i].psk_id, id.data, id.len) ||
		    mls_bytes_set(&ids[i].psk_nonce, nonce.data, nonce.len))
			rc = -1;
		aim_buf_free(&id);
		aim_buf_free(&nonce);
		if (rc)
			goto done;
		in[i].id = &ids[i];
		in[i].psk = aim_buf_bytes(&vals[i]);
	}
	TRY_GOTO(mls_psk_secret(cs, in, n, out), done);
	ENSURE_GOTO(vec_expect(t, "psk_secret", out, cs->nh), done, AIM_ERR_VERIFY,
		    "psk_secret differs");
done:
	for (size_t i = 0; i < n; i++) {
		mls_pre_shared_key_id_free(&ids[i]);
		aim_buf_free(&vals[i]);
	}
	return rc;
}

void vec_psk_secret(json_t *tests, struct vec_stats *st)
{
	vec_each_suite(tests, st, run_one);
}
