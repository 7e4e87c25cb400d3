/* The state of a member's group (struct mls_group, opaque in mls.h) and the
 * helpers the group_*.c files share: creating, committing, processing and
 * persisting all work on it. Internal to src/mls (and tests/mls). */
#ifndef AIM_MLS_GROUP_INT_H
#define AIM_MLS_GROUP_INT_H

#include "mls/mls.h"
#include "mls/proposals.h"
#include "mls/schedule.h"
#include "mls/tls.h"
#include "mls/tree.h"

struct mls_grp_update { /* an Update we proposed: its new encryption key pair */
	struct mls_bytes pk;
	struct mls_bytes sk;
};

struct mls_grp_resumption {
	uint64_t epoch;
	uint8_t psk[AIM_MAX_HASH];
};

/* A past epoch kept for late application messages (group_past.c). */
struct mls_grp_past {
	uint64_t epoch;
	struct mls_group_context ctx;
	uint8_t sender_data_secret[AIM_MAX_HASH];
	struct mls_secret_tree *st;
	/* each leaf's signature key in that epoch (len 0: blank) */
	struct mls_bytes *sig;
	uint32_t n_leaves;
};

struct mls_group {
	struct mls_group_config cfg;
	struct mls_credential_hook hook; /* cfg.hook points here when set */
	const struct aim_suite *cs;
	struct mls_group_context ctx;
	struct mls_tree tree;
	struct mls_tree_priv priv;
	uint32_t own_leaf;
	struct mls_bytes sig_priv;
	uint8_t interim[AIM_MAX_HASH];
	struct mls_epoch_secrets sec;
	struct mls_secret_tree *st;
	/* generations we sent this epoch (restored states skip past them) */
	uint32_t sent_handshake;
	uint32_t sent_application;
	struct mls_proposal_cache cache;
	struct mls_grp_update *upd;
	size_t n_upd;
	struct mls_grp_resumption res[MLS_GROUP_RESUMPTION_EPOCHS];
	size_t n_res;
	/* the last MLS_GROUP_PAST_EPOCHS epochs, oldest first */
	struct mls_grp_past past[MLS_GROUP_PAST_EPOCHS];
	size_t n_past;
	bool active;
	/* the ReInit the Commit into this epoch carried (the group ends) */
	bool has_reinit;
	struct mls_reinit reinit;
	/* while creating a successor group: the old group, for its
	 * resumption PSK */
	const struct mls_group *psk_source;
	/* SHA-256 of the last messages we sent this epoch (a ring; not
	 * persisted) */
	uint8_t (*sent)[32];
	size_t n_sent, sent_pos;
	/* our Commit awaiting acceptance: the next epoch's state and the
	 * SHA-256 of the Commit's MLSMessage (how we recognise it coming back,
	 * also as a PrivateMessage we cannot decrypt ourselves) */
	struct mls_group *pending;
	uint8_t pending_hash[32];
};

uint64_t mls_grp_now(const struct mls_group *g);
void mls_grp_proposal_ctx(const struct mls_group *g, struct mls_proposal_ctx *pc);
struct mls_group *mls_grp_new(const struct mls_group_config *cfg, const struct aim_suite *cs);
void mls_grp_updates_clear(struct mls_group *g);
int mls_grp_updates_add(struct mls_group *g, struct aim_bytes pk, struct aim_bytes sk)
	AIM_WARN_UNUSED;
void mls_grp_remember_resumption(struct mls_group *g);
int mls_grp_psk_value(const struct mls_group *g, const struct mls_pre_shared_key_id *id,
		      struct aim_bytes group_id, struct aim_buf *out) AIM_WARN_UNUSED;
int mls_grp_psk_secret(const struct mls_group *g, const struct mls_pre_shared_key_id *const *ids,
		       size_t n, struct aim_bytes group_id, uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;
int mls_grp_install_epoch(struct mls_group *g, const struct mls_epoch_secrets *sec)
	AIM_WARN_UNUSED;
int mls_grp_wrap_public(struct mls_public_message *pm, struct aim_buf *out) AIM_WARN_UNUSED;
int mls_grp_wrap_private(struct mls_private_message *pm, struct aim_buf *out) AIM_WARN_UNUSED;
int mls_grp_seal_private(struct mls_group *g, struct mls_framed_content *fc,
			 struct mls_framed_content_auth_data *auth, bool sign, struct aim_buf *out)
	AIM_WARN_UNUSED;
int mls_grp_check_tree_credentials(const struct mls_group *g, const struct mls_tree *t)
	AIM_WARN_UNUSED;
int mls_grp_tree_from(const struct aim_suite *cs, const struct mls_group_info *gi,
		      struct aim_bytes tree, struct mls_tree *out) AIM_WARN_UNUSED;
int mls_grp_validate_tree(const struct mls_group *g, const struct mls_tree *t,
			  const struct mls_group_context *ctx) AIM_WARN_UNUSED;
/* Remembers / recognises the hash of a message we sent (from mark to the
 * end of out). */
int mls_grp_sent_record(struct mls_group *g, const struct aim_buf *out, size_t mark) AIM_WARN_UNUSED;
bool mls_grp_sent_seen(const struct mls_group *g, const uint8_t h[32]);
/* Keeps a copy of the ReInit of the Commit into g's epoch (NULL: none). */
int mls_grp_note_reinit(struct mls_group *g, const struct mls_reinit *ri) AIM_WARN_UNUSED;
/* The past-epoch window (group_past.c): old's window moves into g and
 * old's epoch joins it (old's secret tree taken over); decrypting a past
 * epoch's application message; wiping; persistence. */
int mls_grp_past_retire(struct mls_group *g, struct mls_group *old) AIM_WARN_UNUSED;
int mls_grp_past_unprotect(struct mls_group *g, const struct mls_private_message *pm,
			   struct mls_authenticated_content *ac) AIM_WARN_UNUSED;
void mls_grp_past_clear(struct mls_group *g);
int mls_grp_past_encode(const struct mls_group *g, struct aim_buf *w) AIM_WARN_UNUSED;
int mls_grp_past_decode(struct mls_group *g, struct mls_tls_reader *r) AIM_WARN_UNUSED;
/* Moves n's state into g (g's settings kept) and frees n and g's old state. */
void mls_grp_adopt(struct mls_group *g, struct mls_group *n);

#endif
