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
 * - KeyPackage generation (keypackage.c): fresh init, encryption and
 *   (unless given) signature keys, lifetime, capabilities, LeafNode and
 *   KeyPackage extensions (last_resort 0x000A), signatures. The private part
 *   serialises to bytes and back (key material: wiped when freed).
 * - Validation (keypackage_validate.c): LeafNode (section 7.3) and
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
#ifndef AIM_MLS_KEYPACKAGE_H
#define AIM_MLS_KEYPACKAGE_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/codec.h"
#include "mls/tree.h"

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

#endif
