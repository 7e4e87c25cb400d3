/* transcript-hashes.json: confirmed / interim transcript hashes and the
 * confirmation tag (RFC 9420 sections 6.1 and 8.2). */
#include <string.h>

#include "mls/codec.h"
#include "mls/schedule.h"
#include "vectors.h"

static int run_one(const struct aim_suite *cs, json_t *t)
{
	struct aim_buf key = { 0 }, acb = { 0 }, before = { 0 };
	struct mls_authenticated_content ac;
	uint8_t confirmed[AIM_MAX_HASH], interim[AIM_MAX_HASH];
	int rc = 0;
	memset(&ac, 0, sizeof ac);
	TRY_GOTO(vec_hex(t, "confirmation_key", &key, NULL), done);
	TRY_GOTO(vec_hex(t, "authenticated_content", &acb, NULL), done);
	TRY_GOTO(vec_hex(t, "interim_transcript_hash_before", &before, NULL), done);
	TRY_GOTO(mls_authenticated_content_parse(acb.data, acb.len, &ac), done);
	ENSURE_GOTO(ac.content.content_type == MLS_CONTENT_COMMIT, done, AIM_ERR_DECODE,
		    "not a commit");
	TRY_GOTO(mls_transcript_update(cs, aim_buf_bytes(&before), &ac, confirmed, interim), done);
	ENSURE_GOTO(vec_expect(t, "confirmed_transcript_hash_after", confirmed, cs->nh), done,
		    AIM_ERR_VERIFY, "confirmed hash differs");
	ENSURE_GOTO(vec_expect(t, "interim_transcript_hash_after", interim, cs->nh), done,
		    AIM_ERR_VERIFY, "interim hash differs");
	TRY_GOTO(mls_confirmation_tag_verify(cs, aim_buf_bytes(&key),
					     AIM_BYTES(confirmed, cs->nh),
					     mls_bytes_view(&ac.auth.confirmation_tag)),
		 done);
done:
	mls_authenticated_content_free(&ac);
	aim_buf_free(&key);
	aim_buf_free(&acb);
	aim_buf_free(&before);
	return rc;
}

void vec_transcript_hashes(json_t *tests, struct vec_stats *st)
{
	vec_each_suite(tests, st, run_one);
}
