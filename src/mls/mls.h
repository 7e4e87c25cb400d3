/*
 * The MLS layer: RFC 9420 (Messaging Layer Security) written here over
 * src/crypto, as a core without I/O. Encoded MLSMessages, KeyPackages,
 * ratchet trees and serialised states go in; decisions and encoded messages
 * come out. Moving them over the network and storing them is the caller's
 * business. This is the layer's one public header: what aimd (the hub of a
 * group, the KeyPackage directory) and the client (a member's device) use.
 *
 * Its parts, in order:
 *   - The wire structures. The RFC 9420 structs the API takes and returns
 *     (KeyPackage, LeafNode, Credential, extensions, MLSMessage, GroupInfo,
 *     the ratchet tree as sent) are the codec's: mls/codec.h, included here,
 *     declares them with their parse / encode / free.
 *   - KeyPackages, LeafNodes and the credential hook: generation,
 *     validation at upload and in a group, what the library supports, and
 *     the callback through which the application decides which credentials
 *     it trusts (the library never does).
 *   - The group of a member (struct mls_group): create, join (Welcome or
 *     external commit), propose, commit (kept pending until the hub
 *     accepts it), process, encrypt, export, persist.
 *   - The public group (struct mls_public_group): what the hub runs to
 *     follow a group it is not a member of and to order its Commits.
 *   - Reading a ratchet tree returned by either group.
 *
 * Everything else under src/mls is internal and included only by the files
 * of src/mls and by the tests and tools that test internals (tests/mls,
 * tools/mls-vectors, the codec fuzz targets): tls.h (the TLS presentation
 * codec), codec_int.h (helpers of the codec files), labeled.h (labeled
 * signatures, encryption and derivation), tree.h (tree math, the ratchet
 * tree, TreeKEM), schedule.h (key schedule, PSKs, secret tree, Welcome
 * secrets), framing.h (message protection), proposals.h (proposal
 * validation and application), group_int.h (the member group's state).
 *
 * Conventions: base.h results (0, or -1 with the reason recorded by
 * aim_fail). A call that fails leaves its object unchanged. Outputs are
 * appended to caller-initialised aim_bufs; structs are owned by the caller
 * and freed with their _free function. Which aim_err means what is stated
 * per part below. Symbols carry the prefix mls_ (internal ones mls_tls_,
 * mls_tm_, mls_grp_, ...).
 */
#ifndef AIM_MLS_H
#define AIM_MLS_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/codec.h"

/* A ratchet tree: defined in mls/tree.h (internal); read it with the
 * functions of the last part. */
struct mls_tree;

/* ==== KeyPackages, LeafNodes and the credential hook ====================== */

/*
 * MLS KeyPackages and LeafNode validation (RFC 9420 sections 7.2, 7.3, 10),
 * and the credential hook.
 *
 * - The credential hook: the library never decides trust. Every credential
 *   it meets (a member of a tree it is given, a joiner in an Add, a
 *   committer's new leaf, an external sender) is passed to a callback the
 *   application supplies, with the role in which it was met. The callback
 *   accepts (0) or refuses (-1, ideally with aim_fail(AIM_ERR_DENIED, ...)).
 *   Basic and x509 credentials are both carried as the codec decodes them.
 * - What this library supports (versions, suites, extensions, proposals,
 *   credentials) and the Capabilities a fresh LeafNode advertises.
 * - KeyPackage generation: fresh init, encryption and
 *   (unless given) signature keys, lifetime, capabilities, LeafNode and
 *   KeyPackage extensions (last_resort 0x000A), signatures. The private part
 *   serialises to bytes and back (key material: wiped when freed).
 * - Validation: LeafNode (section 7.3) and
 *   KeyPackage (section 10.1), with one aim_err per kind of refusal:
 *     AIM_ERR_VERIFY       bad signature
 *     AIM_ERR_UNSUPPORTED  version, cipher suite, credential type, extension
 *                          or capability the group requires and the leaf
 *                          lacks
 *     AIM_ERR_INVALID      wrong leaf_node_source, encryption_key ==
 *                          init_key, malformed key lengths
 *     AIM_ERR_EXISTS       a signature or encryption key already in the group
 *     AIM_ERR_GONE         lifetime over (or not yet begun) at `now`
 *     AIM_ERR_DENIED       refused by the credential hook
 *
 * Conventions: base.h results; structs are owned by the caller and freed
 * with their _free function (which accepts a zeroed struct).
 */

/* The last_resort KeyPackage extension (draft-ietf-mls-extensions; empty
 * body): such a KeyPackage may be handed out more than once. */
#define MLS_EXT_LAST_RESORT 0x000A

/* "No leaf": for fields that name a leaf index when there is none. */
#define MLS_NO_LEAF UINT32_MAX

/* Default KeyPackage lifetime: from an hour ago (clock skew) to 90 days. */
#define MLS_KP_DEFAULT_BACKDATE 3600u
#define MLS_KP_DEFAULT_LIFETIME (90u * 24 * 3600)

/* ---- The credential hook ------------------------------------------------ */

enum mls_credential_role {
	MLS_CRED_MEMBER = 1,     /* a leaf of a tree received (Welcome, GroupInfo) */
	MLS_CRED_JOINER,         /* the LeafNode of a KeyPackage (Add, upload) */
	MLS_CRED_UPDATE,         /* a new LeafNode of an Update proposal */
	MLS_CRED_COMMITTER,      /* the new LeafNode of an UpdatePath */
	MLS_CRED_EXTERNAL_SENDER /* an entry of the external_senders extension */
};

/* Accepts (0) or refuses (-1) the credential cred, bound to signature_key,
 * met in `role`. A refusal without a recorded aim_err is reported as
 * AIM_ERR_DENIED. */
typedef int (*mls_credential_fn)(void *arg, enum mls_credential_role role,
				 const struct mls_credential *cred,
				 struct aim_bytes signature_key);

struct mls_credential_hook {
	mls_credential_fn fn;
	void *arg;
};

/* Runs the hook. A NULL hook or NULL fn ACCEPTS everything: only for test
 * vectors and tests; applications always supply one. */
int mls_credential_check(const struct mls_credential_hook *hook, enum mls_credential_role role,
			 const struct mls_credential *cred, struct aim_bytes signature_key)
	AIM_WARN_UNUSED;

/* ---- What the library supports ------------------------------------------- */

/* Cipher suites 1..7; extension types 1..5 and last_resort; proposal types
 * 1..7; credential types basic and x509; version mls10. */
bool mls_supports_suite(uint16_t suite);
bool mls_supports_extension(uint16_t type);
bool mls_supports_proposal(uint16_t type);
bool mls_supports_credential(uint16_t type);
/* True for the default extension / proposal types of RFC 9420 section 7.2
 * (1..5 / 1..7), which need not be listed in Capabilities. */
bool mls_is_default_extension(uint16_t type);
bool mls_is_default_proposal(uint16_t type);

/* Fills caps (freed first) with what a leaf of this library supports:
 * versions [mls10], cipher_suites [1..7], extensions [last_resort] (the
 * non-default ones), proposals [] (all defaults), credentials [basic,
 * x509]. */
int mls_capabilities_default(struct mls_capabilities *caps) AIM_WARN_UNUSED;
/* True if the list holds v. */
bool mls_u16_list_has(const struct mls_u16_list *l, uint16_t v);

/* ---- KeyPackage generation (section 10) --------------------------------- */

/* The private part of a KeyPackage: HPKE init key, HPKE leaf encryption
 * key, signature key (raw, cs->sig). Key material: freed with wipe. */
struct mls_key_package_priv {
	uint16_t cipher_suite;
	struct mls_bytes init_priv;
	struct mls_bytes encryption_priv;
	struct mls_bytes signature_priv;
};
void mls_key_package_priv_free(struct mls_key_package_priv *p);
int mls_key_package_priv_copy(struct mls_key_package_priv *dst,
			      const struct mls_key_package_priv *src) AIM_WARN_UNUSED;
/* Own encoding: uint16 cipher_suite, then opaque<V> init, encryption and
 * signature private keys (lengths checked against the suite on parse).
 * The output buffer holds secrets: free it with aim_buf_free_secret(). */
int mls_key_package_priv_encode(struct aim_buf *w, const struct mls_key_package_priv *p)
	AIM_WARN_UNUSED;
int mls_key_package_priv_parse(const uint8_t *p, size_t len, struct mls_key_package_priv *out)
	AIM_WARN_UNUSED;

struct mls_key_package_params {
	uint16_t cipher_suite;
	/* Copied into the LeafNode. */
	const struct mls_credential *credential;
	/* Raw signature private key of the suite; empty: a fresh one. */
	struct aim_bytes signature_priv;
	/* Lifetime in seconds since the epoch; both 0: now - BACKDATE ..
	 * now + DEFAULT_LIFETIME. */
	uint64_t not_before;
	uint64_t not_after;
	/* NULL: mls_capabilities_default(). */
	const struct mls_capabilities *capabilities;
	/* LeafNode extensions and KeyPackage extensions (NULL: none). Each
	 * non-default LeafNode extension must be in the capabilities. */
	const struct mls_extension_list *leaf_extensions;
	const struct mls_extension_list *extensions;
	/* Adds the last_resort extension to the KeyPackage extensions. */
	bool last_resort;
};

/* Generates a KeyPackage and its private part (both owned by the caller;
 * zeroed first). The result passes mls_key_package_validate(). */
int mls_key_package_create(const struct mls_key_package_params *params,
			   struct mls_key_package *kp, struct mls_key_package_priv *priv)
	AIM_WARN_UNUSED;
/* Re-signs kp (after the caller changed it) with priv's signature key. */
int mls_key_package_sign(struct mls_key_package *kp, const struct mls_key_package_priv *priv)
	AIM_WARN_UNUSED;
/* KeyPackageRef of kp (encodes it first); out receives cs->nh bytes. */
int mls_key_package_make_ref(const struct mls_key_package *kp, uint8_t out[AIM_MAX_HASH],
			     size_t *out_len) AIM_WARN_UNUSED;
/* True if kp carries the last_resort extension. */
bool mls_key_package_is_last_resort(const struct mls_key_package *kp);
/* The private part matches the KeyPackage: same suite, and each private
 * key gives the public key in kp (init_key, encryption_key, signature_key).
 * AIM_ERR_VERIFY if not. */
int mls_key_package_priv_check(const struct mls_key_package *kp,
			       const struct mls_key_package_priv *priv) AIM_WARN_UNUSED;

/* ---- Validation (sections 7.3, 10.1) ----------------------------------- */

/* What a LeafNode is checked against. Fields left zero / NULL skip the
 * checks that need them (noted per field). */
struct mls_leaf_check {
	const struct aim_suite *cs;      /* required */
	uint8_t source;                  /* expected leaf_node_source (0: any) */
	struct aim_bytes group_id;       /* for update / commit signatures */
	uint32_t leaf_index;             /* for update / commit signatures */
	enum mls_credential_role role;   /* passed to the hook */
	const struct mls_credential_hook *hook; /* NULL: accept (tests only) */
	/* Seconds since the epoch; 0: lifetime not checked. */
	uint64_t now;
	/* The group's GroupContext extensions (required_capabilities); NULL:
	 * no group requirements. */
	const struct mls_extension_list *group_extensions;
	/* The group's tree: credential types in use, key uniqueness; NULL:
	 * not checked (KeyPackage upload). */
	const struct mls_tree *tree;
	/* Leaves of tree ignored for uniqueness and credential-type checks
	 * (the leaf being replaced by an Update / UpdatePath, the leaves a
	 * Commit removes), borrowed; may be NULL when n_skip is 0. */
	const uint32_t *skip;
	size_t n_skip;
	/* The signature was already verified by the caller. */
	bool signature_checked;
};

/* Section 7.3: credential (hook), signature, required capabilities of the
 * group, credential type supported by every member and every member's
 * type supported by this leaf, lifetime (source key_package, when now is
 * set), extensions listed in the leaf's capabilities, leaf_node_source,
 * signature_key and encryption_key unique in the tree, key lengths. */
int mls_leaf_node_validate(const struct mls_leaf_node *leaf, const struct mls_leaf_check *chk)
	AIM_WARN_UNUSED;

/* Section 10.1: version mls10, cipher_suite == chk->cs, the KeyPackage
 * signature (with leaf_node.signature_key), the LeafNode (source
 * key_package, as above), encryption_key != init_key, init_key length.
 * chk->source is forced to key_package and chk->role to JOINER. */
int mls_key_package_validate(const struct mls_key_package *kp, const struct mls_leaf_check *chk)
	AIM_WARN_UNUSED;

/* Upload-time check with no group: the suite from kp (refused unless
 * supported), hook, lifetime at now (0: not checked). */
int mls_key_package_validate_standalone(const struct mls_key_package *kp,
					const struct mls_credential_hook *hook, uint64_t now)
	AIM_WARN_UNUSED;

/* RequiredCapabilities (section 11.1) decoded from an extension body. */
struct mls_required_capabilities {
	struct mls_u16_list extension_types;
	struct mls_u16_list proposal_types;
	struct mls_u16_list credential_types;
};
int mls_required_capabilities_parse(const uint8_t *p, size_t len,
				    struct mls_required_capabilities *out) AIM_WARN_UNUSED;
int mls_required_capabilities_encode(struct aim_buf *w,
				     const struct mls_required_capabilities *rc) AIM_WARN_UNUSED;
void mls_required_capabilities_free(struct mls_required_capabilities *rc);
/* True if caps covers every type rc requires (default types count as
 * supported for extensions and proposals, not for credentials). */
bool mls_capabilities_meet(const struct mls_capabilities *caps,
			   const struct mls_required_capabilities *rc);

/* ExternalSender (section 12.1.8.1) list decoded from an extension body. */
struct mls_external_sender {
	struct mls_bytes signature_key;
	struct mls_credential credential;
};
struct mls_external_senders {
	struct mls_external_sender *v;
	size_t n;
};
int mls_external_senders_parse(const uint8_t *p, size_t len, struct mls_external_senders *out)
	AIM_WARN_UNUSED;
int mls_external_senders_encode(struct aim_buf *w, const struct mls_external_senders *es)
	AIM_WARN_UNUSED;
void mls_external_senders_free(struct mls_external_senders *es);

/* ==== The group of a member =============================================== */

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
 *   private part (mls_key_package_create() generates both).
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
 *   out-of-order delivery (RFC 9420 section 9.4).
 * - Exporter, epoch authenticator, GroupInfo (with external_pub) and the
 *   ratchet tree for new members and the hub.
 * - Successor groups (sections 11.2, 11.3): after a ReInit, or as a
 *   subgroup branch, with the resumption PSK of usage reinit / branch.
 * - The whole state serialises to bytes and back (it holds secrets: the
 *   buffer must be freed with aim_buf_free_secret()).
 *
 * The credential hook (above): the library never decides trust.
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

/* Resumption PSKs of past epochs kept for PreSharedKey proposals. */
#define MLS_GROUP_RESUMPTION_EPOCHS 8u
/* Past epochs whose application messages are still decrypted (late
 * messages ordered after a Commit; group_past.c tells what is kept and
 * what the window costs forward secrecy). */
#define MLS_GROUP_PAST_EPOCHS 3u
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

/* The past epochs kept (oldest first): up to max of them into epochs;
 * returns how many are kept. */
size_t mls_group_past_epochs(const struct mls_group *g, uint64_t *epochs, size_t max);
/* The signature key leaf had in the kept past epoch `epoch` (a view into
 * g, valid while g is unchanged): to tell whether the sender of a late
 * message still holds that leaf. AIM_ERR_NOTFOUND if the epoch is not kept
 * or the leaf was blank. */
int mls_group_past_signature_key(const struct mls_group *g, uint64_t epoch, uint32_t leaf,
				 struct aim_bytes *key) AIM_WARN_UNUSED;
/* Wipes the past epochs now (their late messages become undecryptable). */
void mls_group_forget_past(struct mls_group *g);

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
	/* Commit: the new epoch; added / removed leaves (owned).
	 * Application: the epoch it was sent in; past_epoch when that is one
	 * of the retained past epochs (mls_group_past_epochs()): sender.index
	 * is then a leaf of THAT epoch's tree, which may since have been
	 * removed or reused. */
	uint64_t epoch;
	bool past_epoch;
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

/* Own encoding (version byte 2) of the whole state, pending Commit and
 * the past epochs included (version 1, without past epochs, is still
 * read). SECRETS: free w with aim_buf_free_secret(). The secret tree is
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

/* ==== The public group (the hub) ========================================== */

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
 *   - group_id (AIM_ERR_INVALID: another group; threats.md C37),
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
 * epoch (AIM_ERR_CONFLICT unless current; threats.md C35). Application data
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

/* ==== Reading a ratchet tree ============================================== */

/* The trees returned by mls_group_tree() and mls_public_group_tree() are
 * borrowed: valid until the next call that changes the group. */

/* The leaf node at leaf index i, or NULL when blank or outside the tree. */
const struct mls_leaf_node *mls_tree_leaf(const struct mls_tree *t, uint32_t leaf);
/* Number of non-blank leaves. */
uint32_t mls_tree_member_count(const struct mls_tree *t);
/* Number of leaf slots (a power of two; 0 for an empty tree): leaf indices
 * run from 0 to this minus one, some of them blank. */
uint32_t mls_tree_n_leaves(const struct mls_tree *t);

#endif
