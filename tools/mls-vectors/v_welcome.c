/* welcome.json: open a Welcome with the KeyPackage's init key, decrypt the
 * GroupInfo, verify its signature and confirmation tag (RFC 9420 section
 * 12.4.3). */
#include <string.h>

#include "mls/codec.h"
#include "mls/labeled.h"
#include "mls/schedule.h"
#include "vectors.h"

static int run_one(const struct aim_suite *cs, json_t *t)
{
	struct aim_buf init_priv = { 0 }, signer = { 0 }, kpb = { 0 }, wb = { 0 }, enc, gcb;
	struct mls_message kpm, wm;
	struct mls_group_secrets gs;
	struct mls_group_info gi;
	struct mls_epoch_secrets es;
	uint8_t ref[AIM_MAX_HASH], welcome_secret[AIM_MAX_HASH];
	int rc = 0;
	memset(&kpm, 0, sizeof kpm);
	memset(&wm, 0, sizeof wm);
	memset(&gs, 0, sizeof gs);
	memset(&gi, 0, sizeof gi);
	memset(&es, 0, sizeof es);
	aim_buf_init(&enc, MLS_MAX_MESSAGE);
	aim_buf_init(&gcb, MLS_MAX_MESSAGE);
	TRY_GOTO(vec_hex(t, "init_priv", &init_priv, NULL), done);
	TRY_GOTO(vec_hex(t, "signer_pub", &signer, NULL), done);
	TRY_GOTO(vec_hex(t, "key_package", &kpb, NULL), done);
	TRY_GOTO(vec_hex(t, "welcome", &wb, NULL), done);
	TRY_GOTO(mls_message_parse(kpb.data, kpb.len, &kpm), done);
	TRY_GOTO(mls_message_parse(wb.data, wb.len, &wm), done);
	ENSURE_GOTO(kpm.wire_format == MLS_WIRE_KEY_PACKAGE && wm.wire_format == MLS_WIRE_WELCOME,
		    done, AIM_ERR_DECODE, "wrong wire formats");
	TRY_GOTO(mls_key_package_encode(&enc, &kpm.key_package), done);
	TRY_GOTO(mls_key_package_ref(cs, aim_buf_bytes(&enc), ref), done);
	TRY_GOTO(mls_welcome_open_secrets(cs, &wm.welcome, AIM_BYTES(ref, cs->nh),
					  aim_buf_bytes(&init_priv), &gs),
		 done);
	ENSURE_GOTO(gs.n_psks == 0, done, AIM_ERR_UNSUPPORTED, "PSKs in the vector");
	TRY_GOTO(mls_schedule_welcome_secret(cs, mls_bytes_view(&gs.joiner_secret),
					     AIM_BYTES(NULL, 0), welcome_secret),
		 done);
	TRY_GOTO(mls_welcome_open_group_info(cs, AIM_BYTES(welcome_secret, cs->nh),
					     mls_bytes_view(&wm.welcome.encrypted_group_info),
					     &gi),
		 done);
	TRY_GOTO(mls_group_info_verify(cs, &gi, aim_buf_bytes(&signer)), done);
	TRY_GOTO(mls_group_context_encode(&gcb, &gi.group_context), done);
	TRY_GOTO(mls_schedule_from_joiner(cs, mls_bytes_view(&gs.joiner_secret),
					  AIM_BYTES(NULL, 0), aim_buf_bytes(&gcb), &es),
		 done);
	TRY_GOTO(mls_confirmation_tag_verify(
			 cs, AIM_BYTES(es.confirmation_key, cs->nh),
			 mls_bytes_view(&gi.group_context.confirmed_transcript_hash),
			 mls_bytes_view(&gi.confirmation_tag)),
		 done);
	/* A tampered GroupInfo signature must not verify. */
	if (gi.signature.len) {
		gi.signature.p[gi.signature.len / 2] ^= 1;
		if (mls_group_info_verify(cs, &gi, aim_buf_bytes(&signer)) == 0)
			rc = aim_fail(AIM_ERR_INTERNAL, "altered GroupInfo signature verified");
		aim_errclear();
	}
done:
	aim_wipe(welcome_secret, sizeof welcome_secret);
	mls_epoch_secrets_wipe(&es);
	mls_message_free(&kpm);
	mls_message_free(&wm);
	mls_group_secrets_free(&gs);
	mls_group_info_free(&gi);
	aim_buf_free_secret(&init_priv);
	aim_buf_free(&signer);
	aim_buf_free(&kpb);
	aim_buf_free(&wb);
	aim_buf_free(&enc);
	aim_buf_free(&gcb);
	return rc;
}

void vec_welcome(json_t *tests, struct vec_stats *st)
{
	vec_each_suite(tests, st, run_one);
}
