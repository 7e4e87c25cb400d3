/*
 * The MLS key schedule, PSKs, transcript hashes, secret tree and Welcome
 * secrets (RFC 9420 sections 8, 9 and 12.4.3).
 *
 * - Key schedule (schedule_key.c): from the previous init_secret, the
 *   commit_secret, the psk_secret and the encoded GroupContext of the new
 *   epoch to every epoch-derived secret. The epoch_secret itself is consumed
 *   inside and never returned. Exporter, external key pair, external init
 *   (HPKE export), confirmation tag.
 * - PSKs (schedule_key.c): the psk_secret chain of section 8.4 over
 *   PreSharedKeyID + PSK value pairs, in the order given.
 * - Transcript hashes (schedule_key.c): confirmed and interim hashes of
 *   section 8.2.
 * - Secret tree (schedule_tree.c): per-leaf handshake and application
 *   ratchets of section 9, derived lazily from the encryption_secret. Node
 *   secrets are wiped as soon as their children are derived; ratchet
 *   secrets are wiped as soon as the next one is derived; a key handed out
 *   for a generation is forgotten once consumed. A receiver may skip ahead
 *   at most MLS_RATCHET_MAX_FORWARD generations; keys of skipped
 *   generations are kept (at most MLS_RATCHET_MAX_CACHED per ratchet, oldest
 *   evicted first) for out-of-order messages.
 * - Welcome (schedule_welcome.c): GroupSecrets encryption to a KeyPackage
 *   init key, GroupInfo encryption under the welcome key and nonce, GroupInfo
 *   signatures.
 *
 * Conventions: see labeled.h. Secrets live in fixed arrays of AIM_MAX_HASH
 * bytes of which cs->nh are used; wipe structures with the *_wipe()
 * functions. The deletion schedule of section 9.2 is the caller's for the
 * values it holds: once mls_secret_tree_new() has copied encryption_secret,
 * wipe it in struct mls_epoch_secrets (and joiner_secret once the Welcome
 * is sent); this module wipes everything it derives internally.
 */
#ifndef AIM_MLS_SCHEDULE_H
#define AIM_MLS_SCHEDULE_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/codec.h"

/* ---- Key schedule (section 8) ------------------------------------------ */

struct mls_epoch_secrets {
	const struct aim_suite *cs;
	uint8_t joiner_secret[AIM_MAX_HASH];
	uint8_t welcome_secret[AIM_MAX_HASH];
	uint8_t sender_data_secret[AIM_MAX_HASH];
	uint8_t encryption_secret[AIM_MAX_HASH];
	uint8_t exporter_secret[AIM_MAX_HASH];
	uint8_t external_secret[AIM_MAX_HASH];
	uint8_t confirmation_key[AIM_MAX_HASH];
	uint8_t membership_key[AIM_MAX_HASH];
	uint8_t resumption_psk[AIM_MAX_HASH];
	uint8_t epoch_authenticator[AIM_MAX_HASH];
	uint8_t init_secret[AIM_MAX_HASH]; /* init_secret_[n], for the next epoch */
};

void mls_epoch_secrets_wipe(struct mls_epoch_secrets *s);

/* joiner_secret = ExpandWithLabel(KDF.Extract(init_secret, commit_secret),
 * "joiner", GroupContext, Nh). An empty commit_secret means Nh zero bytes. */
int mls_schedule_joiner(const struct aim_suite *cs, struct aim_bytes init_secret,
			struct aim_bytes commit_secret, struct aim_bytes group_context,
			uint8_t joiner_secret[AIM_MAX_HASH]) AIM_WARN_UNUSED;

/* From the joiner_secret on (what a new member does with a Welcome): fills
 * every field of out. An empty psk_secret means Nh zero bytes.
 * group_context is the encoded GroupContext of the new epoch. */
int mls_schedule_from_joiner(const struct aim_suite *cs, struct aim_bytes joiner_secret,
			     struct aim_bytes psk_secret, struct aim_bytes group_context,
			     struct mls_epoch_secrets *out) AIM_WARN_UNUSED;

/* The whole step: mls_schedule_joiner() then mls_schedule_from_joiner(). */
int mls_schedule_epoch(const struct aim_suite *cs, struct aim_bytes init_secret,
		       struct aim_bytes commit_secret, struct aim_bytes psk_secret,
		       struct aim_bytes group_context, struct mls_epoch_secrets *out)
	AIM_WARN_UNUSED;

/* welcome_secret of joiner_secret and psk_secret (no GroupContext needed). */
int mls_schedule_welcome_secret(const struct aim_suite *cs, struct aim_bytes joiner_secret,
				struct aim_bytes psk_secret,
				uint8_t welcome_secret[AIM_MAX_HASH]) AIM_WARN_UNUSED;

/* MLS-Exporter(label, context, out_len) =
 *   ExpandWithLabel(DeriveSecret(exporter_secret, label), "exported",
 *                   Hash(context), out_len); the label is bytes (at most
 * MLS_MAX_LABEL). */
int mls_exporter(const struct aim_suite *cs, struct aim_bytes exporter_secret,
		 struct aim_bytes label, struct aim_bytes context, uint8_t *out, size_t out_len)
	AIM_WARN_UNUSED;

/* external_priv, external_pub = KEM.DeriveKeyPair(external_secret); both
 * appended (sk may be NULL when only the public key is wanted). */
int mls_external_keypair(const struct aim_suite *cs, struct aim_bytes external_secret,
			 struct aim_buf *sk, struct aim_buf *pk) AIM_WARN_UNUSED;

/* External initialisation (section 8.3): the joiner encapsulates to
 * external_pub and appends kem_output; the group decapsulates with
 * external_priv. Both give init_secret = export("MLS 1.0 external init
 * secret", Nh). */
int mls_external_init_encap(const struct aim_suite *cs, struct aim_bytes external_pub,
			    struct aim_buf *kem_output, uint8_t init_secret[AIM_MAX_HASH])
	AIM_WARN_UNUSED;
int mls_external_init_decap(const struct aim_suite *cs, struct aim_bytes external_priv,
			    struct aim_bytes kem_output, uint8_t init_secret[AIM_MAX_HASH])
	AIM_WARN_UNUSED;

/* confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash);
 * out receives Nh bytes. */
int mls_confirmation_tag(const struct aim_suite *cs, struct aim_bytes confirmation_key,
			 struct aim_bytes confirmed_transcript_hash, uint8_t out[AIM_MAX_HASH])
	AIM_WARN_UNUSED;
/* Recomputes and compares in constant time after a length check; -1 with
 * AIM_ERR_VERIFY on mismatch. */
int mls_confirmation_tag_verify(const struct aim_suite *cs, struct aim_bytes confirmation_key,
				struct aim_bytes confirmed_transcript_hash,
				struct aim_bytes tag) AIM_WARN_UNUSED;

/* ---- Pre-shared keys (section 8.4) ------------------------------------- */

/* At most this many PSKs in one commit / GroupSecrets (PSKLabel.count is a
 * uint16; we keep it far lower). */
#define MLS_MAX_PSKS 64

struct mls_psk_input {
	const struct mls_pre_shared_key_id *id;
	struct aim_bytes psk; /* the PSK value (external PSK or resumption_psk) */
};

/* psk_secret of the n PSKs in order; n == 0 gives Nh zero bytes. */
int mls_psk_secret(const struct aim_suite *cs, const struct mls_psk_input *psks, size_t n,
		   uint8_t psk_secret[AIM_MAX_HASH]) AIM_WARN_UNUSED;

/* ---- Transcript hashes (section 8.2) ----------------------------------- */

/* confirmed = Hash(interim_before || ConfirmedTranscriptHashInput) with the
 * content (a commit) and its signature. out receives Nh bytes. */
int mls_transcript_confirmed(const struct aim_suite *cs, struct aim_bytes interim_before,
			     uint16_t wire_format, const struct mls_framed_content *content,
			     struct aim_bytes signature, uint8_t out[AIM_MAX_HASH])
	AIM_WARN_UNUSED;
/* interim = Hash(confirmed || InterimTranscriptHashInput(confirmation_tag));
 * confirmed is Nh bytes, or empty for epoch 0 of a new group. */
int mls_transcript_interim(const struct aim_suite *cs, struct aim_bytes confirmed,
			   struct aim_bytes confirmation_tag, uint8_t out[AIM_MAX_HASH])
	AIM_WARN_UNUSED;
/* Both, from an AuthenticatedContent carrying a commit. */
int mls_transcript_update(const struct aim_suite *cs, struct aim_bytes interim_before,
			  const struct mls_authenticated_content *ac,
			  uint8_t confirmed[AIM_MAX_HASH], uint8_t interim[AIM_MAX_HASH])
	AIM_WARN_UNUSED;

/* ---- Secret tree and sender ratchets (section 9) ------------------------ */

/* A receiver refuses a generation more than this far ahead of the next
 * expected one (AIM_ERR_LIMIT). */
#define MLS_RATCHET_MAX_FORWARD 1000u
/* Keys of skipped generations kept per ratchet (oldest evicted). */
#define MLS_RATCHET_MAX_CACHED 1000u

enum mls_ratchet_kind {
	MLS_RATCHET_HANDSHAKE = 0,   /* proposals and commits */
	MLS_RATCHET_APPLICATION = 1, /* application data */
};

/* A key and nonce of one generation (key: cs->nk bytes, nonce: cs->nn). */
struct mls_ratchet_keys {
	uint32_t generation;
	uint8_t key[AIM_MAX_AEAD_KEY];
	uint8_t nonce[AIM_AEAD_NONCE];
};

void mls_ratchet_keys_wipe(struct mls_ratchet_keys *k);

/* Opaque; owns its secrets. */
struct mls_secret_tree;

/* A tree for n_leaves leaves (1 .. MLS_MAX_LEAVES; rounded up to a power of
 * two) rooted at encryption_secret (copied; the caller wipes its copy).
 * *out is owned by the caller: free with mls_secret_tree_free(). */
int mls_secret_tree_new(const struct aim_suite *cs, struct aim_bytes encryption_secret,
			uint32_t n_leaves, struct mls_secret_tree **out) AIM_WARN_UNUSED;
/* Wipes every secret and frees; NULL is fine. */
void mls_secret_tree_free(struct mls_secret_tree *t);

/* Sender side: the key and nonce of the next unused generation of this
 * leaf's ratchet, consumed at once (a generation is never handed out twice). */
int mls_secret_tree_next(struct mls_secret_tree *t, uint32_t leaf, enum mls_ratchet_kind kind,
			 struct mls_ratchet_keys *out) AIM_WARN_UNUSED;

/* Receiver side, step 1: the key and nonce of `generation` WITHOUT consuming
 * it (so a forged message cannot burn keys). Fails with AIM_ERR_STATE for a
 * generation already consumed (or whose key was evicted), AIM_ERR_LIMIT for
 * one beyond the forward window, AIM_ERR_INVALID for a leaf outside the
 * tree. */
int mls_secret_tree_get(struct mls_secret_tree *t, uint32_t leaf, enum mls_ratchet_kind kind,
			uint32_t generation, struct mls_ratchet_keys *out) AIM_WARN_UNUSED;
/* Receiver side, step 2, after the message decrypted: forgets the key of
 * `generation`, advances the ratchet past it (wiping the ratchet secrets it
 * came from) and keeps the keys of the generations skipped on the way. */
int mls_secret_tree_consume(struct mls_secret_tree *t, uint32_t leaf,
			    enum mls_ratchet_kind kind, uint32_t generation) AIM_WARN_UNUSED;

/* Persistence (the client keeps group state across restarts). Export
 * appends a versioned binary snapshot of every remaining secret (node
 * secrets, ratchet secrets, cached keys): key material, so free `out` with
 * aim_buf_free_secret(). Import checks every field (version, suite, sizes,
 * indices, ascending cached generations below the ratchet position, no
 * duplicates, no trailing bytes) and fails with AIM_ERR_DECODE otherwise;
 * *out is owned by the caller. */
int mls_secret_tree_export(const struct mls_secret_tree *t, struct aim_buf *out)
	AIM_WARN_UNUSED;
int mls_secret_tree_import(const struct aim_suite *cs, struct aim_bytes in,
			   struct mls_secret_tree **out) AIM_WARN_UNUSED;

/* The key and nonce for encrypting SenderData (section 6.3.2): derived from
 * sender_data_secret and the first Nh bytes of the content ciphertext. */
int mls_sender_data_keys(const struct aim_suite *cs, struct aim_bytes sender_data_secret,
			 struct aim_bytes ciphertext, uint8_t key[AIM_MAX_AEAD_KEY],
			 uint8_t nonce[AIM_AEAD_NONCE]) AIM_WARN_UNUSED;

/* ---- Welcome (section 12.4.3) ------------------------------------------- */

/* welcome_nonce / welcome_key = ExpandWithLabel(welcome_secret, "nonce" /
 * "key", "", Nn / Nk). */
int mls_welcome_keys(const struct aim_suite *cs, struct aim_bytes welcome_secret,
		     uint8_t key[AIM_MAX_AEAD_KEY], uint8_t nonce[AIM_AEAD_NONCE])
	AIM_WARN_UNUSED;

/* Appends encrypted_group_info = AEAD.Seal(welcome_key, welcome_nonce, "",
 * encoded GroupInfo). */
int mls_welcome_seal_group_info(const struct aim_suite *cs, struct aim_bytes welcome_secret,
				struct aim_bytes group_info, struct aim_buf *out) AIM_WARN_UNUSED;
/* Opens and decodes the GroupInfo (AIM_ERR_VERIFY on a bad tag). */
int mls_welcome_open_group_info(const struct aim_suite *cs, struct aim_bytes welcome_secret,
				struct aim_bytes encrypted_group_info,
				struct mls_group_info *out) AIM_WARN_UNUSED;

/* Fills one EncryptedGroupSecrets entry for a new member: new_member =
 * KeyPackageRef(key_package), encrypted_group_secrets =
 * EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets). */
int mls_welcome_seal_secrets(const struct aim_suite *cs, const struct mls_key_package *kp,
			     struct aim_bytes encrypted_group_info,
			     const struct mls_group_secrets *gs,
			     struct mls_encrypted_group_secrets *out) AIM_WARN_UNUSED;
/* Finds the entry for key_package_ref (AIM_ERR_NOTFOUND if none), decrypts
 * it with init_priv and decodes the GroupSecrets (owned by the caller; free
 * with mls_group_secrets_free()). Refuses a Welcome of another cipher
 * suite. */
int mls_welcome_open_secrets(const struct aim_suite *cs, const struct mls_welcome *w,
			     struct aim_bytes key_package_ref, struct aim_bytes init_priv,
			     struct mls_group_secrets *out) AIM_WARN_UNUSED;

/* GroupInfo signature: SignWithLabel(., "GroupInfoTBS", GroupInfoTBS).
 * Sign replaces gi->signature. */
int mls_group_info_sign(const struct aim_suite *cs, struct mls_group_info *gi,
			struct aim_bytes sig_priv) AIM_WARN_UNUSED;
int mls_group_info_verify(const struct aim_suite *cs, const struct mls_group_info *gi,
			  struct aim_bytes sig_pub) AIM_WARN_UNUSED;

#endif
