/*
 * The shared core of MLS commits (RFC 9420 sections 12.1 - 12.4) that needs
 * no member secret: used both by the member group state machine (group*.c)
 * and by the public group the hub runs (public_group*.c).
 *
 * - The proposal cache (proposals_cache.c): proposals received during an
 *   epoch, keyed by their ProposalRef, so that a Commit can name them by
 *   reference. Cleared at every epoch change. Serialisable.
 * - Resolution: a Commit's ProposalOrRef list turned into a list of
 *   (proposal, sender) pairs, by value (sender = the committer) or from the
 *   cache (unknown reference: AIM_ERR_NOTFOUND).
 * - Validation (proposals_validate.c): one proposal as received (section
 *   12.1: who may send it, its own validity), and a whole list as committed
 *   (section 12.2, and 12.4.3.2 for external commits).
 * - Application (proposals_apply.c): in the order of section 12.3 (GCE,
 *   Update, Remove, Add) to a ratchet tree and a GroupContext; reports the
 *   joiners' leaves, the PSK ids, ReInit / ExternalInit and whether the
 *   Commit needs a path.
 * - UpdatePath, public half: the new LeafNode validated (section 7.3), then
 *   mls_treekem_merge() (leaf signature, parent-hash chain, no key reused
 *   from the tree: threats.md C43).
 * - Staging a whole Commit: all of the above on COPIES of the tree and
 *   GroupContext, then the new epoch's GroupContext (epoch + 1, tree hash,
 *   confirmed transcript hash) and interim transcript hash. Nothing of the
 *   caller's state changes; the caller adopts the staged state or drops it.
 *   The confirmation tag is only carried into the interim hash here; its
 *   VALUE can be checked only by members (it needs the confirmation_key).
 *
 * Errors: AIM_ERR_INVALID for a proposal or list that breaks a rule
 * (message says which), AIM_ERR_NOTFOUND for an unknown reference or leaf,
 * AIM_ERR_UNSUPPORTED for a type some member does not support, plus the
 * LeafNode / KeyPackage errors of mls.h.
 *
 * Ownership: resolved lists and apply results BORROW the proposals from
 * the Commit and the cache they came from; keep those alive and unchanged
 * while the list / result is used.
 */
#ifndef AIM_MLS_PROPOSALS_H
#define AIM_MLS_PROPOSALS_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/codec.h"
#include "mls/mls.h"
#include "mls/tree.h"

/* Proposals kept per epoch; more is AIM_ERR_LIMIT. */
#define MLS_MAX_CACHED_PROPOSALS 4096u

/* ---- The per-epoch proposal cache --------------------------------------- */

struct mls_cached_proposal {
	uint8_t ref[AIM_MAX_HASH]; /* ProposalRef, cs->nh bytes */
	struct mls_sender sender;
	struct mls_proposal proposal; /* owned */
};

struct mls_proposal_cache {
	const struct aim_suite *cs;
	struct mls_cached_proposal *v;
	size_t n;
	size_t cap;
};

void mls_proposal_cache_init(struct mls_proposal_cache *c, const struct aim_suite *cs);
/* Forgets every proposal (a new epoch); keeps the suite. */
void mls_proposal_cache_clear(struct mls_proposal_cache *c);
void mls_proposal_cache_free(struct mls_proposal_cache *c);
int mls_proposal_cache_copy(struct mls_proposal_cache *dst, const struct mls_proposal_cache *src)
	AIM_WARN_UNUSED;
/* Caches the proposal carried by ac (content type proposal, already
 * verified and validated by the caller) under RefHash("MLS 1.0 Proposal
 * Reference", AuthenticatedContent). ref (may be NULL) receives the ref
 * (cs->nh bytes). The same ref twice: AIM_ERR_EXISTS. */
int mls_proposal_cache_add(struct mls_proposal_cache *c,
			   const struct mls_authenticated_content *ac, uint8_t ref[AIM_MAX_HASH])
	AIM_WARN_UNUSED;
/* The cached proposal with that ref, or NULL. */
const struct mls_cached_proposal *mls_proposal_cache_find(const struct mls_proposal_cache *c,
							  struct aim_bytes ref);
/* Own encoding: cached_proposal entries<V> each { opaque ref<V>; Sender;
 * Proposal }. Decode needs c initialised with the suite (and empty). */
int mls_proposal_cache_encode(struct aim_buf *w, const struct mls_proposal_cache *c)
	AIM_WARN_UNUSED;
int mls_proposal_cache_decode(struct mls_tls_reader *r, struct mls_proposal_cache *c)
	AIM_WARN_UNUSED;

/* ---- Resolved proposal lists -------------------------------------------- */

struct mls_resolved_proposal {
	const struct mls_proposal *proposal; /* borrowed (Commit or cache) */
	struct mls_sender sender;            /* the committer for by-value ones */
	bool by_reference;
};

struct mls_proposal_list {
	struct mls_resolved_proposal *v;
	size_t n;
};

void mls_proposal_list_free(struct mls_proposal_list *l);
/* Resolves every ProposalOrRef of commit; by-value proposals get the
 * committer as sender. An unknown reference is AIM_ERR_NOTFOUND. */
int mls_commit_resolve(const struct mls_commit *commit, struct mls_sender committer,
		       const struct mls_proposal_cache *cache, struct mls_proposal_list *out)
	AIM_WARN_UNUSED;

/* ---- Validation (sections 12.1, 12.2, 12.4.3.2) ------------------------- */

/* The group a proposal or Commit is checked against. */
struct mls_proposal_ctx {
	const struct aim_suite *cs;
	const struct mls_group_context *ctx; /* current epoch */
	const struct mls_tree *tree;         /* current epoch */
	const struct mls_credential_hook *hook; /* NULL: accept (tests only) */
	uint64_t now;                        /* 0: KeyPackage lifetimes unchecked */
};

/* One proposal as received from sender (section 12.1): the sender type may
 * send it (external senders: Add, Remove, PSK, ReInit, GCE;
 * new_member_proposal: Add only; member: all but ExternalInit), the
 * sender is a non-blank member leaf / an entry of external_senders, and
 * the body is valid: Add's KeyPackage (section 10.1, role JOINER), Update's
 * LeafNode (source update, signed for the sender's leaf, role UPDATE),
 * Remove of a non-blank leaf, PSK nonce of Nh bytes and a resumption usage
 * of application, ReInit version / suite supported, GCE extensions
 * supported by every member (required_capabilities met by every leaf). */
int mls_proposal_validate(const struct mls_proposal_ctx *pc, const struct mls_proposal *p,
			  struct mls_sender sender) AIM_WARN_UNUSED;

/* A whole committed list (section 12.2), committer = the Commit's sender
 * (member or new_member_commit), has_path = the Commit carries a path:
 * each proposal valid (as above; an Update from the committer is refused),
 * no Remove of the committer, at most one Update/Remove per leaf, no two
 * Adds of one client (same signature key) nor an Add of a current member
 * that is not removed too, no encryption / init key already in the group,
 * no duplicate PreSharedKeyID, at most one GCE, ReInit only alone,
 * ExternalInit only in an external commit, every non-default proposal type
 * supported by the members that stay; a path present when required
 * (section 12.4: empty list or any type other than Add, PSK, ReInit).
 * External commit (section 12.4.3.2): exactly one ExternalInit, at most one
 * Remove, otherwise only PSKs, all by value, and a path. */
int mls_proposals_validate(const struct mls_proposal_ctx *pc, const struct mls_proposal_list *l,
			   struct mls_sender committer, bool has_path) AIM_WARN_UNUSED;

/* True if a Commit with this list must carry a path (section 12.4). */
bool mls_proposals_path_required(const struct mls_proposal_list *l);

/* For a committer: picks from the cache the proposals it may commit
 * together, per the SHOULDs of section 12.2 (a Remove wins over Updates of
 * the same leaf, the latest Update otherwise; a ReInit only when nothing
 * else is pending; invalid proposals dropped). out lists them by reference
 * in cache order (sender as cached). */
int mls_proposals_select(const struct mls_proposal_ctx *pc, const struct mls_proposal_cache *cache,
			 uint32_t committer, struct mls_proposal_list *out) AIM_WARN_UNUSED;

/* ---- Application (section 12.3) ------------------------------------------ */

struct mls_apply_result {
	uint32_t *added;                     /* leaf index of each Add, list order */
	const struct mls_key_package **added_kp; /* its KeyPackage (borrowed) */
	size_t n_added;
	uint32_t *removed;                   /* removed leaves, list order */
	size_t n_removed;
	uint32_t *updated;                   /* leaves replaced by Updates */
	size_t n_updated;
	const struct mls_pre_shared_key_id **psks; /* list order (borrowed) */
	size_t n_psks;
	const struct mls_reinit *reinit;     /* borrowed, or NULL */
	const struct mls_external_init *external_init; /* borrowed, or NULL */
	bool extensions_changed;             /* a GCE replaced ctx->extensions */
	bool path_required;
};
void mls_apply_result_free(struct mls_apply_result *r);

/* Applies a validated list to tree and ctx (only ctx->extensions changes)
 * in the order GCE, Update, Remove, Add. On failure tree and ctx may be
 * half changed: apply to copies (mls_commit_stage() does). */
int mls_proposals_apply(const struct mls_proposal_list *l, struct mls_tree *tree,
			struct mls_group_context *ctx, struct mls_apply_result *out)
	AIM_WARN_UNUSED;

/* ---- UpdatePath, public half (sections 7.5, 12.4.2) --------------------- */

/* Validates path->leaf_node (section 7.3: source commit, role COMMITTER,
 * against tree and ctx->extensions, ignoring the committer's old leaf) and
 * merges the path into tree (mls_treekem_merge(): fits the filtered direct
 * path, no encryption key already in the tree, leaf signature, parent-hash
 * chain). committer is the sender's leaf; MLS_NO_LEAF for a new member
 * commit, whose leaf is first put in the leftmost blank leaf.
 * *committer_out (may be NULL) receives the committer's leaf index. On
 * failure tree is unchanged. */
int mls_update_path_apply(const struct mls_proposal_ctx *pc, struct mls_tree *tree,
			  const struct mls_group_context *ctx, uint32_t committer,
			  const struct mls_update_path *path, uint32_t *committer_out)
	AIM_WARN_UNUSED;

/* ---- Staging a Commit ---------------------------------------------------- */

struct mls_staged_commit {
	struct mls_tree tree;               /* after proposals and path */
	struct mls_group_context ctx;       /* new epoch: epoch + 1, tree hash,
					     * confirmed transcript hash,
					     * extensions */
	struct aim_buf provisional_ctx;     /* encoded provisional GroupContext
					     * (new epoch, new tree hash, OLD
					     * confirmed hash): the context for
					     * UpdatePath decryption */
	uint8_t interim[AIM_MAX_HASH];      /* new interim transcript hash */
	struct mls_proposal_list proposals; /* resolved (borrowing) */
	struct mls_apply_result applied;
	uint32_t committer;                 /* the committer's leaf, new tree */
	bool has_path;
};
void mls_staged_commit_free(struct mls_staged_commit *s);

/* Stages the Commit carried by ac (content type commit; the caller has
 * already checked group id, epoch, sender and signature, and that a
 * confirmation tag of Nh bytes is present): resolves (cache), validates,
 * applies to copies of pc->tree / pc->ctx, validates and merges the path,
 * builds the new GroupContext and transcript hashes (interim_before: the
 * current interim transcript hash). out borrows from ac and cache. */
int mls_commit_stage(const struct mls_proposal_ctx *pc, const struct mls_proposal_cache *cache,
		     struct aim_bytes interim_before, const struct mls_authenticated_content *ac,
		     struct mls_staged_commit *out) AIM_WARN_UNUSED;

/* The GroupContext after a Commit: epoch + 1 and the tree hash of tree
 * (ctx changed in place; its confirmed hash untouched). provisional (may be
 * NULL) receives the encoding of the result. Used by committers too. */
int mls_group_context_advance(const struct aim_suite *cs, struct mls_group_context *ctx,
			      const struct mls_tree *tree, struct aim_buf *provisional)
	AIM_WARN_UNUSED;

#endif
