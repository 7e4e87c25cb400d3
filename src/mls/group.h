/*
 * The MLS group state machine of a member (RFC 9420 sections 11 - 12).
 *
 * A struct mls_group is one member's view of one group in one epoch: the
 * GroupContext, the public ratchet tree, our private TreeKEM keys, our
 * signature key, the epoch secrets and secret tree, the interim transcript
 * hash, the proposals received by reference this epoch, and (for a few
 * past epochs) the resumption PSKs.
 *
 * - Creating (section 11): a one-member group from our KeyPackage and its
 *   private part (keypackage.h generates both).
 * - Joining: from a Welcome (section 12.4.3.1; the ratchet tree from the
 *   GroupInfo's ratchet_tree extension or out of band), or by external
 *   commit from a GroupInfo carrying external_pub (section 12.4.3.2).
 * - Proposals (section 12.1): Add, Update, Remove, PreSharedKey (external
 *   and resumption), GroupContextExtensions, ReInit, sent as a standalone
 *   message (to be committed by reference) or folded into a Commit by value.
 * - Commits (section 12.4): created with or without a path, as
 *   PublicMessage or PrivateMessage, together with a Welcome for the added
 *   members and a GroupInfo. The committer's new state is kept PENDING
 *   until mls_group_merge_pending() (after the hub accepted the Commit) or
 *   dropped with mls_group_discard_pending(); a received Commit of another
 *   member while one is pending discards it.
 * - Processing (mls_group_process()): PublicMessage and PrivateMessage
 *   carrying application data, a Proposal (validated, cached by reference)
 *   or a Commit (staged on a copy: a refused Commit leaves the state
 *   untouched; the confirmation tag and membership tag are checked).
 * - Application messages: PrivateMessage, with the secret tree's window for
 *   out-of-order delivery (schedule.h).
 * - Exporter, epoch authenticator, GroupInfo (with external_pub) and the
 *   ratchet tree for new members and the hub.
 * - Successor groups (sections 11.2, 11.3): after a ReInit, or as a
 *   subgroup branch, with the resumption PSK of usage reinit / branch.
 * - The whole state serialises to bytes and back (it holds secrets: the
 *   buffer must be freed with aim_buf_free_secret()).
 *
 * The credential hook (keypackage.h): the library never decides trust.
 * Every credential met (tree members on join, joiners in Adds, new leaves in
 * Updates and UpdatePaths, external senders) goes to cfg->hook with its
 * role; a refusal refuses the message / join.
 *
 * Messages in and out are encoded MLSMessages (RFC 9420 section 6), except
 * where noted. Outputs are APPENDED to caller-initialised aim_bufs.
 *
 * Conventions: base.h results (0 / -1 with aim_fail). A failed call leaves
 * the group unchanged. Errors: AIM_ERR_CONFLICT for a message of another
 * epoch, AIM_ERR_INVALID for another group or a malformed / rule-breaking
 * message, AIM_ERR_VERIFY for a bad signature / tag / MAC, AIM_ERR_DENIED
 * for a credential the hook refused, AIM_ERR_STATE for an operation not
 * valid now (e.g. a second pending commit, a group we were removed from),
 * AIM_ERR_NOTFOUND for an unknown proposal reference or PSK.
 */
#ifndef AIM_MLS_GROUP_H
#define AIM_MLS_GROUP_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/codec.h"
#include "mls/keypackage.h"
#include "mls/schedule.h"
#include "mls/tree.h"

/* Resumption PSKs of past epochs kept for PreSharedKey proposals. */
#define MLS_GROUP_RESUMPTION_EPOCHS 8u
/* Largest serialised state accepted by mls_group_parse(). */
#define MLS_MAX_GROUP_STATE ((size_t)64 << 20)
/* Own proposals / application messages per epoch recognised when they
 * come back (mls_group_event.own_message). */
#define MLS_GROUP_OWN_MESSAGES 256u
/* Longest application message plaintext. */
#define MLS_MAX_APPLICATION ((size_t)1 << 20)

/* Looks up the value of an external PSK by its id: appends it to out
 * (free with aim_buf_free_secret()); -1 with AIM_ERR_NOTFOUND if unknown. */
typedef int (*mls_psk_fn)(void *arg, struct aim_bytes psk_id, struct aim_buf *out);
/* Looks up a resumption PSK this group does not keep itself (another
 * group's, for a ReInit or branch Welcome, or an epoch before we joined):
 * appends the resumption_psk of (group_id, epoch) to out, e.g. from
 * mls_group_resumption_psk() of that group; AIM_ERR_NOTFOUND if unknown. */
typedef int (*mls_resumption_fn)(void *arg, struct aim_bytes group_id, uint64_t epoch,
				 struct aim_buf *out);

/* Settings, copied into the group (pointers borrowed: hook->arg and
 * psk_arg must outlive it). Zero is a usable default for every field but
 * hook (NULL accepts every credential: tests only). */
struct mls_group_config {
	const struct mls_credential_hook *hook;
	/* External PSKs (NULL: none known). */
	mls_psk_fn psk_lookup;
	void *psk_arg;
	/* Resumption PSKs of other groups / older epochs (NULL: none). */
	mls_resumption_fn resumption_lookup;
	void *resumption_arg;
	/* Seconds since the epoch for KeyPackage lifetimes; 0: wall clock at
	 * each call (aim_now()); UINT64_MAX: lifetimes never checked. */
	uint64_t now;
	/* Send proposals and commits as PrivateMessage (default: public). */
	bool encrypt_handshake;
	/* Pad PrivateMessage contents to a multiple of this (0: no padding). */
	size_t padding_block;
	/* Put the ratchet tree into Welcomes and GroupInfos we make
	 * (default: false, the tree goes out of band, mls_group_export_tree()). */
	bool ratchet_tree_extension;
};

/* Opaque; owns its secrets (wiped when freed). */
struct mls_group;

/* ---- Creating and joining ------------------------------------------------ */

/* Creates a one-member group at epoch 0 (section 11) whose only leaf is
 * kp's LeafNode; kp_priv holds its signature and encryption private keys.
 * group_id empty: 16 random bytes. extensions (may be NULL): the initial
 * GroupContext extensions (each must be supported by our leaf). */
int mls_group_create(const struct mls_group_config *cfg, struct aim_bytes group_id,
		     const struct mls_key_package *kp, const struct mls_key_package_priv *kp_priv,
		     const struct mls_extension_list *extensions, struct mls_group **out)
	AIM_WARN_UNUSED;

/* Joins from an encoded MLSMessage carrying a Welcome (section 12.4.3.1)
 * for our KeyPackage kp (private part kp_priv). tree: the encoded
 * optional<Node> ratchet_tree<V> when it came out of band; empty: taken
 * from the GroupInfo's ratchet_tree extension (AIM_ERR_NOTFOUND if none).
 * Checks: our KeyPackageRef is listed, GroupInfo signature and confirmation
 * tag, tree validity and tree hash, every leaf through the hook (role
 * MEMBER), our leaf equals kp's LeafNode, PSKs known, path secret keys
 * match the tree. */
int mls_group_join(const struct mls_group_config *cfg, struct aim_bytes welcome,
		   struct aim_bytes tree, const struct mls_key_package *kp,
		   const struct mls_key_package_priv *kp_priv, struct mls_group **out)
	AIM_WARN_UNUSED;

/* Joins by external commit (section 12.4.3.2) from an encoded MLSMessage
 * carrying a GroupInfo with the external_pub extension. tree as for
 * mls_group_join(). Our new leaf is kp's LeafNode with a fresh encryption
 * key (source commit, signed with kp_priv's signature key); resync_leaf:
 * the leaf of our older self to Remove in the same Commit (MLS_NO_LEAF:
 * none). psk_ids: external PSK ids to include (may be
 * NULL when n_psk_ids is 0). commit_out receives the Commit (MLSMessage,
 * PublicMessage with sender new_member_commit). The group is returned at
 * the new epoch (no pending state: the Commit is effective once the other
 * members process it). */
int mls_group_join_external(const struct mls_group_config *cfg, struct aim_bytes group_info,
			    struct aim_bytes tree, const struct mls_key_package *kp,
			    const struct mls_key_package_priv *kp_priv, uint32_t resync_leaf,
			    const struct aim_bytes *psk_ids, size_t n_psk_ids,
			    struct aim_buf *commit_out, struct mls_group **out) AIM_WARN_UNUSED;

void mls_group_free(struct mls_group *g);

/* Replaces the settings (same rules as at creation). */
void mls_group_set_config(struct mls_group *g, const struct mls_group_config *cfg);

/* ---- Reading the state ------------------------------------------------------ */

const struct aim_suite *mls_group_suite(const struct mls_group *g);
uint64_t mls_group_epoch(const struct mls_group *g);
struct aim_bytes mls_group_id(const struct mls_group *g);
/* Our leaf index. */
uint32_t mls_group_own_leaf(const struct mls_group *g);
const struct mls_group_context *mls_group_context(const struct mls_group *g);
const struct mls_tree *mls_group_tree(const struct mls_group *g);
uint32_t mls_group_member_count(const struct mls_group *g);
/* False once a Commit removed us (then only reading and freeing work). */
bool mls_group_active(const struct mls_group *g);
/* The epoch authenticator of the current epoch (cs->nh bytes). */
struct aim_bytes mls_group_epoch_authenticator(const struct mls_group *g);
/* MLS-Exporter(label, context, out_len) of the current epoch. */
int mls_group_export_secret(const struct mls_group *g, struct aim_bytes label,
			    struct aim_bytes context, uint8_t *out, size_t out_len)
	AIM_WARN_UNUSED;
/* Appends the resumption_psk of a past (or the current) epoch, one of the
 * last MLS_GROUP_RESUMPTION_EPOCHS; AIM_ERR_NOTFOUND otherwise. A secret:
 * free out with aim_buf_free_secret(). */
int mls_group_resumption_psk(const struct mls_group *g, uint64_t epoch, struct aim_buf *out)
	AIM_WARN_UNUSED;
/* Appends the current ratchet tree (optional<Node> ratchet_tree<V>). */
int mls_group_export_tree(const struct mls_group *g, struct aim_buf *w) AIM_WARN_UNUSED;
/* Appends a signed GroupInfo of the current epoch as an MLSMessage, with
 * the external_pub extension when external_pub is set and the ratchet tree
 * when with_tree is set. */
int mls_group_group_info(const struct mls_group *g, bool external_pub, bool with_tree,
			 struct aim_buf *w) AIM_WARN_UNUSED;

/* ---- Proposals (section 12.1) ------------------------------------------------ */

/* Each appends an MLSMessage carrying the proposal, signed by us (wire
 * format from cfg->encrypt_handshake), and caches it so a later Commit of
 * ours includes it by reference. The same proposal twice in one epoch
 * (same ProposalRef) is refused with AIM_ERR_EXISTS. */
int mls_group_propose_add(struct mls_group *g, const struct mls_key_package *kp,
			  struct aim_buf *out) AIM_WARN_UNUSED;
/* Update with a fresh encryption key (leaf_template: a LeafNode to copy
 * the credential / capabilities / extensions from; NULL: our current
 * leaf). The new private key is kept until the Update is committed. */
int mls_group_propose_update(struct mls_group *g, const struct mls_leaf_node *leaf_template,
			     struct aim_buf *out) AIM_WARN_UNUSED;
int mls_group_propose_remove(struct mls_group *g, uint32_t leaf, struct aim_buf *out)
	AIM_WARN_UNUSED;
/* External PSK (its value must be known through cfg->psk_lookup). */
int mls_group_propose_external_psk(struct mls_group *g, struct aim_bytes psk_id,
				   struct aim_buf *out) AIM_WARN_UNUSED;
/* Resumption PSK (usage application) of a past epoch of this group. */
int mls_group_propose_resumption_psk(struct mls_group *g, uint64_t epoch, struct aim_buf *out)
	AIM_WARN_UNUSED;
int mls_group_propose_group_context_extensions(struct mls_group *g,
					       const struct mls_extension_list *ext,
					       struct aim_buf *out) AIM_WARN_UNUSED;
int mls_group_propose_reinit(struct mls_group *g, struct aim_bytes new_group_id,
			     uint16_t cipher_suite, const struct mls_extension_list *ext,
			     struct aim_buf *out) AIM_WARN_UNUSED;

/* ---- Commits (section 12.4) --------------------------------------------------- */

/* What a Commit carries besides the cached proposals. */
struct mls_commit_params {
	/* By value: Adds of these KeyPackages (borrowed). */
	const struct mls_key_package *adds;
	size_t n_adds;
	/* By value: Removes of these leaves. */
	const uint32_t *removes;
	size_t n_removes;
	/* By value: external PSKs with these ids, resumption PSKs of these
	 * past epochs. */
	const struct aim_bytes *psk_ids;
	size_t n_psk_ids;
	const uint64_t *resumption_epochs;
	size_t n_resumption_epochs;
	/* By value: a GroupContextExtensions proposal (NULL: none). */
	const struct mls_extension_list *extensions;
	/* Include every valid proposal cached this epoch by reference
	 * (section 12.2 selection). */
	bool include_pending;
	/* Send a path even when none is required (a full "Update" commit). */
	bool force_path;
	/* By value: a ReInit (must be the only proposal; NULL: none). */
	const struct mls_reinit *reinit;
	/* Override cfg for this Commit: 0 keeps cfg, 1 public, 2 private. */
	int wire_format;
	/* Put the ratchet tree into the Welcome's GroupInfo (overrides cfg
	 * when set). */
	bool tree_in_welcome;
};

struct mls_commit_result {
	struct aim_buf commit;     /* MLSMessage (Public or PrivateMessage) */
	struct aim_buf welcome;    /* MLSMessage Welcome; empty if no Add */
	struct aim_buf group_info; /* MLSMessage GroupInfo of the NEW epoch,
				    * with external_pub */
	uint64_t epoch;            /* the epoch the Commit leads to */
};
/* Initialises (empty buffers) / frees. */
void mls_commit_result_init(struct mls_commit_result *r);
void mls_commit_result_free(struct mls_commit_result *r);

/* Creates a Commit (section 12.4) and keeps the next epoch's state
 * pending. AIM_ERR_STATE if a commit is already pending. */
int mls_group_commit(struct mls_group *g, const struct mls_commit_params *params,
		     struct mls_commit_result *out) AIM_WARN_UNUSED;
/* Reinitialisation (reinit true, section 11.2: after a Commit with a
 * ReInit; group_id, kp's cipher suite and extensions as the ReInit says)
 * or a subgroup branch (reinit false, section 11.3: same suite): creates a
 * new group with our KeyPackage and commits Adds of members with a
 * resumption PSK (usage reinit / branch) of old's current epoch. out
 * receives the Commit (only for the record: the new group has no other
 * member yet), the Welcome (epoch 1) and a GroupInfo; *newg is at epoch 1,
 * nothing pending. Joiners join with cfg->resumption_lookup serving old's
 * mls_group_resumption_psk(). */
int mls_group_create_successor(const struct mls_group_config *cfg, const struct mls_group *old,
			       bool reinit, struct aim_bytes group_id,
			       const struct mls_key_package *kp,
			       const struct mls_key_package_priv *kp_priv,
			       const struct mls_extension_list *extensions,
			       const struct mls_key_package *members, size_t n_members,
			       struct mls_commit_result *out, struct mls_group **newg)
	AIM_WARN_UNUSED;

/* Moves to the pending epoch (the hub accepted our Commit). */
int mls_group_merge_pending(struct mls_group *g) AIM_WARN_UNUSED;
/* Forgets the pending Commit (the hub took another one). */
void mls_group_discard_pending(struct mls_group *g);
bool mls_group_has_pending(const struct mls_group *g);

/* ---- Application messages ------------------------------------------------------ */

/* Appends an MLSMessage PrivateMessage carrying pt (at most
 * MLS_MAX_APPLICATION bytes) with authenticated_data aad, in the current
 * epoch (also while a Commit of ours is pending). */
int mls_group_encrypt(struct mls_group *g, struct aim_bytes aad, struct aim_bytes pt,
		      struct aim_buf *out) AIM_WARN_UNUSED;

/* ---- Processing ------------------------------------------------------------------ */

enum mls_group_event_type {
	MLS_EVENT_APPLICATION = 1, /* data / aad hold the message */
	MLS_EVENT_PROPOSAL,        /* cached; proposal_type, proposal_ref */
	MLS_EVENT_COMMIT,          /* new epoch; added / removed leaves */
};

struct mls_group_event {
	enum mls_group_event_type type;
	struct mls_sender sender;
	/* Application: the plaintext and authenticated data (owned; data is
	 * secret and wiped on free). */
	struct aim_buf data;
	struct aim_buf aad;
	/* Proposal. */
	uint16_t proposal_type;
	uint8_t proposal_ref[AIM_MAX_HASH];
	/* Commit: the new epoch; added / removed leaves (owned). */
	uint64_t epoch;
	uint32_t *added;
	size_t n_added;
	uint32_t *removed;
	size_t n_removed;
	bool removed_self;  /* we are out of the group now */
	bool reinit;        /* the Commit held a ReInit: the group ends */
	bool own_commit;    /* our pending Commit, merged */
	/* One of the last MLS_GROUP_OWN_MESSAGES proposals / application
	 * messages we sent this epoch, coming back (e.g. relayed by the hub):
	 * nothing else is filled in and the state is unchanged. */
	bool own_message;
};
void mls_group_event_free(struct mls_group_event *ev);

/* Processes one encoded MLSMessage (PublicMessage or PrivateMessage) of
 * this group. ev (may be NULL) is initialised here and tells what
 * happened; free it with mls_group_event_free(). Our own pending Commit
 * coming back is merged (ev->own_commit). On failure the state is
 * unchanged. */
int mls_group_process(struct mls_group *g, struct aim_bytes msg, struct mls_group_event *ev)
	AIM_WARN_UNUSED;

/* ---- Persistence ------------------------------------------------------------------ */

/* Own encoding (version byte 1) of the whole state, pending Commit
 * included. SECRETS: free w with aim_buf_free_secret(). The secret tree is
 * rebuilt on parse from the epoch's encryption secret with our own sender
 * ratchets moved past what we sent (no key / nonce reuse), but messages of
 * the current epoch received before the snapshot are accepted once more
 * after a restore, and the own-message ring is not kept. */
int mls_group_encode(const struct mls_group *g, struct aim_buf *w) AIM_WARN_UNUSED;
/* Restores a state (cfg as for creation; the tree is not re-validated,
 * only checked for consistency with our private keys). */
int mls_group_parse(const struct mls_group_config *cfg, const uint8_t *p, size_t len,
		    struct mls_group **out) AIM_WARN_UNUSED;

/* ---- Internals shared by the group_*.c files (not for other callers) ---- */

#ifdef MLS_GROUP_INTERNAL
#include "mls/proposals.h"

struct grp_update { /* an Update we proposed: its new encryption key pair */
	struct mls_bytes pk;
	struct mls_bytes sk;
};

struct grp_resumption {
	uint64_t epoch;
	uint8_t psk[AIM_MAX_HASH];
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
	struct grp_update *upd;
	size_t n_upd;
	struct grp_resumption res[MLS_GROUP_RESUMPTION_EPOCHS];
	size_t n_res;
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

uint64_t grp_now(const struct mls_group *g);
void grp_proposal_ctx(const struct mls_group *g, struct mls_proposal_ctx *pc);
struct mls_group *grp_new(const struct mls_group_config *cfg, const struct aim_suite *cs);
void grp_updates_clear(struct mls_group *g);
int grp_updates_add(struct mls_group *g, struct aim_bytes pk, struct aim_bytes sk)
	AIM_WARN_UNUSED;
void grp_remember_resumption(struct mls_group *g);
int grp_psk_value(const struct mls_group *g, const struct mls_pre_shared_key_id *id,
		  struct aim_bytes group_id, struct aim_buf *out) AIM_WARN_UNUSED;
int grp_psk_secret(const struct mls_group *g, const struct mls_pre_shared_key_id *const *ids,
		   size_t n, struct aim_bytes group_id, uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;
int grp_install_epoch(struct mls_group *g, const struct mls_epoch_secrets *sec)
	AIM_WARN_UNUSED;
int grp_wrap_public(struct mls_public_message *pm, struct aim_buf *out) AIM_WARN_UNUSED;
int grp_wrap_private(struct mls_private_message *pm, struct aim_buf *out) AIM_WARN_UNUSED;
int grp_seal_private(struct mls_group *g, struct mls_framed_content *fc,
		     struct mls_framed_content_auth_data *auth, bool sign, struct aim_buf *out)
	AIM_WARN_UNUSED;
int grp_check_tree_credentials(const struct mls_group *g, const struct mls_tree *t)
	AIM_WARN_UNUSED;
int grp_tree_from(const struct aim_suite *cs, const struct mls_group_info *gi,
		  struct aim_bytes tree, struct mls_tree *out) AIM_WARN_UNUSED;
int grp_validate_tree(const struct mls_group *g, const struct mls_tree *t,
		      const struct mls_group_context *ctx) AIM_WARN_UNUSED;
/* Remembers / recognises the hash of a message we sent (from mark to the
 * end of out). */
int grp_sent_record(struct mls_group *g, const struct aim_buf *out, size_t mark) AIM_WARN_UNUSED;
bool grp_sent_seen(const struct mls_group *g, const uint8_t h[32]);
/* Keeps a copy of the ReInit of the Commit into g's epoch (NULL: none). */
int grp_note_reinit(struct mls_group *g, const struct mls_reinit *ri) AIM_WARN_UNUSED;
/* Moves n's state into g (g's settings kept) and frees n and g's old state. */
void grp_adopt(struct mls_group *g, struct mls_group *n);
#endif

#endif
