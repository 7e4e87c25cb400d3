/*
 * The public group: what the hub runs to follow an MLS group it is not a
 * member of (RFC 9420 without member secrets; AIM draft: the hub checks the
 * Commit's epoch and orders Commits).
 *
 * State: the GroupContext, the public ratchet tree, the interim transcript
 * hash, the proposals received by reference during the epoch, and the last
 * signed GroupInfo a member gave for this epoch (if any). It is created
 * from a GroupInfo (signature verified against the signer's leaf) and the
 * ratchet tree (from the GroupInfo's ratchet_tree extension or out of band;
 * validated with mls_tree_validate() and the tree hash in the GroupContext,
 * every leaf through the credential hook as MLS_CRED_MEMBER).
 *
 * mls_public_group_process() takes a PublicMessage and checks, in order:
 *   - group_id (AIM_ERR_INVALID: another group; ATTACKS C37),
 *   - epoch (AIM_ERR_CONFLICT for a stale or future epoch; the current one
 *     is mls_public_group_epoch(); C34),
 *   - content type (application data as PublicMessage: AIM_ERR_INVALID;
 *     C39),
 *   - sender: a member leaf in range and non-blank, an external sender
 *     index in the external_senders extension, a new_member_commit sender
 *     only with a Commit, new_member_proposal only with an Add (C38),
 *   - signature over FramedContentTBS with the sender's key, confirmation
 *     tag present for a Commit (C40),
 *   - the proposal (section 12.1) or the Commit: proposal list (section
 *     12.2; C41), KeyPackages and LeafNodes (C42), the UpdatePath (leaf
 *     signature, parent hashes, no reused key; C43);
 * then caches a Proposal by reference, or applies a Commit (staged on a
 * copy: a refused Commit leaves the state untouched) and reports the new
 * epoch.
 *
 * NOT checkable publicly, by design: the membership_tag of a member's
 * PublicMessage (it needs the epoch's membership_key) and the VALUE of a
 * Commit's confirmation tag (it needs the confirmation_key). A hub trusts a
 * commit that passed every check above; members check both. PrivateMessages
 * cannot be processed at all (the hub only checks their group id and epoch,
 * mls_public_group_check_private()).
 *
 * Ownership: the group is opaque, owned by the caller (free with
 * mls_public_group_free()). Results are owned by the caller.
 */
#ifndef AIM_MLS_PUBLIC_GROUP_H
#define AIM_MLS_PUBLIC_GROUP_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/codec.h"
#include "mls/keypackage.h"
#include "mls/proposals.h"
#include "mls/tree.h"

/* Largest serialised public state accepted by mls_public_group_parse(). */
#define MLS_MAX_PUBLIC_STATE ((size_t)64 << 20)

struct mls_public_group;

/* From a GroupInfo and its ratchet tree. tree_bytes is the encoded
 * optional<Node> ratchet_tree<V>; empty: taken from the GroupInfo's
 * ratchet_tree extension (AIM_ERR_NOTFOUND if none). The hook is copied
 * (its arg must outlive the group); now: see struct mls_leaf_check (0:
 * lifetimes unchecked). */
int mls_public_group_create(const struct mls_group_info *gi, struct aim_bytes tree_bytes,
			    const struct mls_credential_hook *hook, uint64_t now,
			    struct mls_public_group **out) AIM_WARN_UNUSED;
/* The same from an encoded MLSMessage carrying a GroupInfo. */
int mls_public_group_create_from_message(struct aim_bytes group_info_msg,
					 struct aim_bytes tree_bytes,
					 const struct mls_credential_hook *hook, uint64_t now,
					 struct mls_public_group **out) AIM_WARN_UNUSED;
void mls_public_group_free(struct mls_public_group *g);

/* Sets the hook / time used by later calls (hook copied). */
void mls_public_group_set_hook(struct mls_public_group *g, const struct mls_credential_hook *hook);
void mls_public_group_set_now(struct mls_public_group *g, uint64_t now);

/* ---- Reading the state ---------------------------------------------------- */

const struct aim_suite *mls_public_group_suite(const struct mls_public_group *g);
uint64_t mls_public_group_epoch(const struct mls_public_group *g);
struct aim_bytes mls_public_group_id(const struct mls_public_group *g);
const struct mls_group_context *mls_public_group_context(const struct mls_public_group *g);
const struct mls_tree *mls_public_group_tree(const struct mls_public_group *g);
/* The interim transcript hash (cs->nh bytes). */
struct aim_bytes mls_public_group_interim(const struct mls_public_group *g);
uint32_t mls_public_group_member_count(const struct mls_public_group *g);

/* ---- Processing ------------------------------------------------------------ */

struct mls_public_result {
	uint8_t content_type;     /* proposal or commit */
	struct mls_sender sender;
	uint64_t epoch;           /* the epoch after processing */
	/* Proposal: its ref (cs->nh bytes). */
	uint8_t proposal_ref[AIM_MAX_HASH];
	/* Commit: leaves added and removed (owned; free with
	 * mls_public_result_free()), and the committer's leaf. */
	uint32_t *added;
	size_t n_added;
	uint32_t *removed;
	size_t n_removed;
	uint32_t committer;
	bool reinit;              /* the Commit held a ReInit: group ends */
};
void mls_public_result_free(struct mls_public_result *r);

/* Processes one PublicMessage (see the header comment). res may be NULL.
 * On failure the state is unchanged. */
int mls_public_group_process(struct mls_public_group *g, const struct mls_public_message *pm,
			     struct mls_public_result *res) AIM_WARN_UNUSED;
/* The same from an encoded MLSMessage; a wire format other than
 * PublicMessage is AIM_ERR_INVALID (PrivateMessage: use
 * mls_public_group_check_private()). */
int mls_public_group_process_message(struct mls_public_group *g, struct aim_bytes msg,
				     struct mls_public_result *res) AIM_WARN_UNUSED;
/* What a hub can check of a PrivateMessage: group id (AIM_ERR_INVALID) and
 * epoch (AIM_ERR_CONFLICT unless current; ATTACKS C35). Application data
 * from a non-member cannot be told apart without secrets: members refuse
 * it. */
int mls_public_group_check_private(const struct mls_public_group *g,
				   const struct mls_private_message *pm) AIM_WARN_UNUSED;

/* ---- GroupInfo and tree for joiners ---------------------------------------- */

/* Records a signed GroupInfo for the CURRENT epoch (a member sends it with
 * its Commit): its GroupContext must equal ours byte for byte and its
 * signature verify with the signer's leaf. Replaces any earlier one. */
int mls_public_group_set_group_info(struct mls_public_group *g, const struct mls_group_info *gi)
	AIM_WARN_UNUSED;
/* Appends the encoded GroupInfo (the struct, not an MLSMessage) recorded
 * for the current epoch; AIM_ERR_NOTFOUND if none (e.g. right after a
 * Commit that came without one). */
int mls_public_group_group_info(const struct mls_public_group *g, struct aim_buf *w)
	AIM_WARN_UNUSED;
/* Appends the current ratchet tree (optional<Node> ratchet_tree<V>). */
int mls_public_group_export_tree(const struct mls_public_group *g, struct aim_buf *w)
	AIM_WARN_UNUSED;
/* Appends the encoded current GroupContext. */
int mls_public_group_export_context(const struct mls_public_group *g, struct aim_buf *w)
	AIM_WARN_UNUSED;

/* ---- Persistence ----------------------------------------------------------- */

/* Own encoding (version byte 1): GroupContext, ratchet tree, interim
 * transcript hash, proposal cache, optional GroupInfo. No secrets. */
int mls_public_group_encode(const struct mls_public_group *g, struct aim_buf *w)
	AIM_WARN_UNUSED;
/* Restores a group. The state is the hub's own: signatures are not
 * verified again, but the tree must hash to the stored GroupContext's
 * tree_hash. The hook and now apply to later calls. */
int mls_public_group_parse(const uint8_t *p, size_t len, const struct mls_credential_hook *hook,
			   uint64_t now, struct mls_public_group **out) AIM_WARN_UNUSED;

#endif
