/*
 * Key schedule, exporter, external init, confirmation tag, PSK secret and
 * transcript hashes (RFC 9420 sections 8 - 8.5). See schedule.h.
 */
#include <string.h>

#include "mls/labeled.h"
#include "mls/schedule.h"
#include "mls/tls.h"

static const uint8_t zeros[AIM_MAX_HASH];

static int check_suite(const struct aim_suite *cs)
{
	ENSURE(cs != NULL && cs->nh > 0 && cs->nh <= AIM_MAX_HASH, AIM_ERR_INVALID,
	       "cipher suite missing");
	return 0;
}

/* An empty secret stands for the all-zero vector of length Nh. */
static struct aim_bytes or_zero(const struct aim_suite *cs, struct aim_bytes b)
{
	return b.len ? b : AIM_BYTES(zeros, cs->nh);
}

static int check_secret(const struct aim_suite *cs, struct aim_bytes b, const char *what)
{
	ENSURE(b.len == cs->nh, AIM_ERR_INVALID, "%s must be %zu bytes, not %zu", what, cs->nh,
	       b.len);
	return 0;
}

void mls_epoch_secrets_wipe(struct mls_epoch_secrets *s)
{
	aim_wipe(s, sizeof *s);
}

int mls_schedule_joiner(const struct aim_suite *cs, struct aim_bytes init_secret,
			struct aim_bytes commit_secret, struct aim_bytes group_context,
			uint8_t joiner_secret[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	TRY(check_secret(cs, init_secret, "init_secret"));
	uint8_t prk[AIM_MAX_HASH];
	int rc = aim_hkdf_extract(cs->hash, init_secret, or_zero(cs, commit_secret), prk);
	if (rc == 0)
		rc = mls_expand_with_label(cs, AIM_BYTES(prk, cs->nh), "joiner", group_context,
					   joiner_secret, cs->nh);
	aim_wipe(prk, sizeof prk);
	return rc;
}

/* member_secret = KDF.Extract(joiner_secret, psk_secret) */
static int member_secret(const struct aim_suite *cs, struct aim_bytes joiner_secret,
			 struct aim_bytes psk_secret, uint8_t out[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	TRY(check_secret(cs, joiner_secret, "joiner_secret"));
	return aim_hkdf_extract(cs->hash, joiner_secret, or_zero(cs, psk_secret), out);
}

int mls_schedule_welcome_secret(const struct aim_suite *cs, struct aim_bytes joiner_secret,
				struct aim_bytes psk_secret, uint8_t welcome_secret[AIM_MAX_HASH])
{
	uint8_t member[AIM_MAX_HASH];
	int rc = member_secret(cs, joiner_secret, psk_secret, member);
	if (rc == 0)
		rc = mls_derive_secret(cs, AIM_BYTES(member, cs->nh), "welcome", welcome_secret);
	aim_wipe(member, sizeof member);
	return rc;
}

int mls_schedule_from_joiner(const struct aim_suite *cs, struct aim_bytes joiner_secret,
			     struct aim_bytes psk_secret, struct aim_bytes group_context,
			     struct mls_epoch_secrets *out)
{
	uint8_t member[AIM_MAX_HASH], epoch[AIM_MAX_HASH];
	memset(out, 0, sizeof *out);
	int rc = 0;
	TRY_GOTO(member_secret(cs, joiner_secret, psk_secret, member), done);
	out->cs = cs;
	memcpy(out->joiner_secret, joiner_secret.p, cs->nh);
	TRY_GOTO(mls_derive_secret(cs, AIM_BYTES(member, cs->nh), "welcome", out->welcome_secret),
		 done);
	TRY_GOTO(mls_expand_with_label(cs, AIM_BYTES(member, cs->nh), "epoch", group_context,
				       epoch, cs->nh),
		 done);
	const struct {
		const char *label;
		uint8_t *dst;
	} derived[] = {
		{ "sender data", out->sender_data_secret },
		{ "encryption", out->encryption_secret },
		{ "exporter", out->exporter_secret },
		{ "external", out->external_secret },
		{ "confirm", out->confirmation_key },
		{ "membership", out->membership_key },
		{ "resumption", out->resumption_psk },
		{ "authentication", out->epoch_authenticator },
		{ "init", out->init_secret },
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(derived); i++)
		TRY_GOTO(mls_derive_secret(cs, AIM_BYTES(epoch, cs->nh), derived[i].label,
					   derived[i].dst),
			 done);
done:
	/* "As soon as a group member consumes a value, they MUST immediately
	 * delete (all representations of) that value." */
	aim_wipe(member, sizeof member);
	aim_wipe(epoch, sizeof epoch);
	if (rc)
		mls_epoch_secrets_wipe(out);
	return rc;
}

int mls_schedule_epoch(const struct aim_suite *cs, struct aim_bytes init_secret,
		       struct aim_bytes commit_secret, struct aim_bytes psk_secret,
		       struct aim_bytes group_context, struct mls_epoch_secrets *out)
{
	uint8_t joiner[AIM_MAX_HASH];
	memset(out, 0, sizeof *out);
	int rc = mls_schedule_joiner(cs, init_secret, commit_secret, group_context, joiner);
	if (rc == 0)
		rc = mls_schedule_from_joiner(cs, AIM_BYTES(joiner, cs->nh), psk_secret,
					      group_context, out);
	aim_wipe(joiner, sizeof joiner);
	return rc;
}

int mls_exporter(const struct aim_suite *cs, struct aim_bytes exporter_secret,
		 struct aim_bytes label, struct aim_bytes context, uint8_t *out, size_t out_len)
{
	TRY(check_suite(cs));
	TRY(check_secret(cs, exporter_secret, "exporter_secret"));
	ENSURE(context.len <= AIM_MAX_HPKE_INFO, AIM_ERR_LIMIT, "exporter context too long");
	uint8_t derived[AIM_MAX_HASH], hctx[AIM_MAX_HASH];
	int rc = 0;
	TRY_GOTO(mls_expand_with_label_raw(cs, exporter_secret, label, AIM_BYTES(NULL, 0), derived,
					   cs->nh),
		 done);
	TRY_GOTO(aim_hash(cs->hash, context, hctx), done);
	TRY_GOTO(mls_expand_with_label(cs, AIM_BYTES(derived, cs->nh), "exported",
				       AIM_BYTES(hctx, cs->nh), out, out_len),
		 done);
done:
	aim_wipe(derived, sizeof derived);
	return rc;
}

int mls_external_keypair(const struct aim_suite *cs, struct aim_bytes external_secret,
			 struct aim_buf *sk, struct aim_buf *pk)
{
	TRY(check_suite(cs));
	TRY(check_secret(cs, external_secret, "external_secret"));
	struct aim_buf tmp;
	aim_buf_init(&tmp, 256);
	int rc = aim_kem_derive_keypair(cs->kem, external_secret, sk ? sk : &tmp, pk);
	aim_buf_free_secret(&tmp);
	return rc;
}

#define EXTERNAL_INIT_LABEL "MLS 1.0 external init secret"

int mls_external_init_encap(const struct aim_suite *cs, struct aim_bytes external_pub,
			    struct aim_buf *kem_output, uint8_t init_secret[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	struct aim_hpke_ctx ctx;
	int rc = 0;
	TRY(aim_hpke_setup_s(cs, external_pub, AIM_BYTES(NULL, 0), kem_output, &ctx));
	rc = aim_hpke_ctx_export(&ctx, AIM_BYTES_STR(EXTERNAL_INIT_LABEL), init_secret, cs->nh);
	aim_hpke_ctx_wipe(&ctx);
	return rc;
}

int mls_external_init_decap(const struct aim_suite *cs, struct aim_bytes external_priv,
			    struct aim_bytes kem_output, uint8_t init_secret[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	struct aim_hpke_ctx ctx;
	int rc = 0;
	TRY(aim_hpke_setup_r(cs, kem_output, external_priv, AIM_BYTES(NULL, 0), &ctx));
	rc = aim_hpke_ctx_export(&ctx, AIM_BYTES_STR(EXTERNAL_INIT_LABEL), init_secret, cs->nh);
	aim_hpke_ctx_wipe(&ctx);
	return rc;
}

int mls_confirmation_tag(const struct aim_suite *cs, struct aim_bytes confirmation_key,
			 struct aim_bytes confirmed_transcript_hash, uint8_t out[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	TRY(check_secret(cs, confirmation_key, "confirmation_key"));
	return aim_mac(cs->hash, confirmation_key, confirmed_transcript_hash, out);
}

int mls_confirmation_tag_verify(const struct aim_suite *cs, struct aim_bytes confirmation_key,
				struct aim_bytes confirmed_transcript_hash, struct aim_bytes tag)
{
	uint8_t want[AIM_MAX_HASH];
	TRY(mls_confirmation_tag(cs, confirmation_key, confirmed_transcript_hash, want));
	/* Length first, then a constant-time compare. */
	bool ok = tag.len == cs->nh && aim_ct_equal(want, cs->nh, tag.p, tag.len);
	aim_wipe(want, sizeof want);
	ENSURE(ok, AIM_ERR_VERIFY, "confirmation tag does not verify");
	return 0;
}

/* ---- PSKs --------------------------------------------------------------- */

int mls_psk_secret(const struct aim_suite *cs, const struct mls_psk_input *psks, size_t n,
		   uint8_t psk_secret[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	ENSURE(n <= MLS_MAX_PSKS, AIM_ERR_LIMIT, "%zu PSKs (at most %u)", n, MLS_MAX_PSKS);
	uint8_t extracted[AIM_MAX_HASH], input[AIM_MAX_HASH];
	struct aim_buf label;
	aim_buf_init(&label, 4096);
	int rc = 0;
	/* psk_secret_[0] = 0 */
	memset(psk_secret, 0, cs->nh);
	for (size_t i = 0; i < n; i++) {
		ENSURE_GOTO(psks[i].id != NULL, done, AIM_ERR_INVALID, "PSK %zu has no id", i);
		/* psk_extracted_[i] = KDF.Extract(0, psk_[i]) */
		TRY_GOTO(aim_hkdf_extract(cs->hash, AIM_BYTES(zeros, cs->nh), psks[i].psk,
					  extracted),
			 done);
		/* PSKLabel { PreSharedKeyID id; uint16 index; uint16 count; } */
		aim_buf_reset(&label);
		TRY_GOTO(mls_pre_shared_key_id_encode(&label, psks[i].id), done);
		TRY_GOTO(mls_tls_write_u16(&label, (uint16_t)i), done);
		TRY_GOTO(mls_tls_write_u16(&label, (uint16_t)n), done);
		/* psk_input_[i] = ExpandWithLabel(psk_extracted_[i], "derived psk",
		 *                                 PSKLabel, KDF.Nh) */
		TRY_GOTO(mls_expand_with_label(cs, AIM_BYTES(extracted, cs->nh), "derived psk",
					       aim_buf_bytes(&label), input, cs->nh),
			 done);
		/* psk_secret_[i] = KDF.Extract(psk_input_[i-1], psk_secret_[i-1]) */
		TRY_GOTO(aim_hkdf_extract(cs->hash, AIM_BYTES(input, cs->nh),
					  AIM_BYTES(psk_secret, cs->nh), psk_secret),
			 done);
	}
done:
	aim_wipe(extracted, sizeof extracted);
	aim_wipe(input, sizeof input);
	aim_buf_free(&label);
	if (rc)
		aim_wipe(psk_secret, cs->nh);
	return rc;
}

/* ---- Transcript hashes ------------------------------------------------- */

int mls_transcript_confirmed(const struct aim_suite *cs, struct aim_bytes interim_before,
			     uint16_t wire_format, const struct mls_framed_content *content,
			     struct aim_bytes signature, uint8_t out[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	ENSURE(content->content_type == MLS_CONTENT_COMMIT, AIM_ERR_INVALID,
	       "transcript hash input is not a commit");
	ENSURE(interim_before.len == 0 || interim_before.len == cs->nh, AIM_ERR_INVALID,
	       "interim transcript hash of %zu bytes", interim_before.len);
	struct aim_buf in;
	aim_buf_init(&in, MLS_MAX_MESSAGE + 2 * AIM_MAX_HASH);
	int rc = 0;
	TRY_GOTO(aim_buf_append(&in, interim_before.p, interim_before.len), done);
	TRY_GOTO(mls_confirmed_transcript_hash_input_encode(&in, wire_format, content, signature),
		 done);
	TRY_GOTO(aim_hash(cs->hash, aim_buf_bytes(&in), out), done);
done:
	aim_buf_free(&in);
	return rc;
}

int mls_transcript_interim(const struct aim_suite *cs, struct aim_bytes confirmed,
			   struct aim_bytes confirmation_tag, uint8_t out[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	/* Empty at group creation (section 11: the confirmation tag is computed
	 * over the empty confirmed_transcript_hash of epoch 0). */
	ENSURE(confirmed.len == 0 || confirmed.len == cs->nh, AIM_ERR_INVALID,
	       "confirmed transcript hash of %zu bytes", confirmed.len);
	struct aim_buf in;
	aim_buf_init(&in, 4 * AIM_MAX_HASH);
	int rc = 0;
	TRY_GOTO(aim_buf_append(&in, confirmed.p, confirmed.len), done);
	TRY_GOTO(mls_interim_transcript_hash_input_encode(&in, confirmation_tag), done);
	TRY_GOTO(aim_hash(cs->hash, aim_buf_bytes(&in), out), done);
done:
	aim_buf_free(&in);
	return rc;
}

int mls_transcript_update(const struct aim_suite *cs, struct aim_bytes interim_before,
			  const struct mls_authenticated_content *ac,
			  uint8_t confirmed[AIM_MAX_HASH], uint8_t interim[AIM_MAX_HASH])
{
	TRY(check_suite(cs));
	TRY(mls_transcript_confirmed(cs, interim_before, ac->wire_format, &ac->content,
				     mls_bytes_view(&ac->auth.signature), confirmed));
	return mls_transcript_interim(cs, AIM_BYTES(confirmed, cs->nh),
				      mls_bytes_view(&ac->auth.confirmation_tag), interim);
}
