/*
 * The hub: the rules that order one MLS group across domains (a channel, or
 * the hub of a group DM), as a core without I/O beside src/ap. The server
 * that hosts a channel is the group's Delivery Service in the sense of RFC
 * 9420: it sees every handshake as a PublicMessage, follows the group's
 * public state (src/mls mls_public_group_*) and decides, one activity at a
 * time, what is accepted and in which order. Bytes and strings go in; a
 * decision and a new state come out. Storing the state, resolving actors,
 * verifying HTTP signatures, mapping refusals to statuses and delivering is
 * the shell's business (src/server).
 *
 * The state of a group (struct hub_group): the public group (GroupContext,
 * ratchet tree, interim transcript hash, proposals by reference, the latest
 * GroupInfo), the members as actors (actor URL <-> the acct: URI their
 * devices' credentials name: hub_credential_acct()), the owner, the admins,
 * the policy (who may change membership and metadata; how many past epochs
 * still take application messages), the self-removals proposed this epoch,
 * and the next sequence number of the fan-out.
 *
 * Flow of an activity at the hub (the shell around it):
 *   inbound Add / Remove / Create(PrivateMessage) / ... addressed to the
 *   channel, signature verified (the gate), actor known
 *   -> the shell loads the state (store_state_get, kind "hub") and
 *      hub_group_parse()
 *   -> the shell resolves what the core cannot (acct: URI <-> actor URL of
 *      the actors an Add names, by WebFinger) and fills a struct hub_input
 *   -> hub_decide(): refused (the reason, the group's current epoch for a
 *      stale one) or accepted with its effects: the new state, the actors
 *      that became / stopped being members, whether to deliver the Welcome,
 *      the sequence number of the fan-out
 *   -> accepted: the shell writes hub_group_encode() of the new state with
 *      store_state_cas() on the old version, changes the followers, stores
 *      the Announce of sequence d.seq in the channel's outbox and enqueues
 *      its deliveries, all in ONE transaction; a lost compare-and-set means
 *      another process accepted something first: reload and decide again
 *      (a Commit then fails as stale). Only after that commit does it
 *      deliver the Welcome (RFC 9420 section 14: "the Welcome message
 *      corresponding to a Commit MUST NOT be delivered to a new joiner
 *      until it's clear that the Commit has been accepted").
 *   -> refused: nothing is written; the shell answers with the status of
 *      d.err (src/server/status.c; AIM_ERR_CONFLICT is 409 with
 *      aim:currentEpoch = d.current_epoch).
 *
 * What is decided for each kind of input (hub_decide() quotes the texts):
 *   HUB_ADD      a Commit (PublicMessage) adding exactly the devices of the
 *                actors named, by an actor the policy allows; the Welcome
 *                for exactly the KeyPackages added; every pending
 *                self-removal included.
 *   HUB_REMOVE   a Commit removing every device of exactly the actors named
 *                (never the owner), by an allowed actor; pending
 *                self-removals included.
 *   HUB_COMMIT   any other Commit of a member: an Update / path-only commit
 *                (post-compromise security), a new device of a member
 *                joining by external commit (with the hub's GroupInfo),
 *                removing the actor's own other devices, committing the
 *                pending self-removals, GroupContextExtensions (allowed
 *                actors only). No Adds of other actors, no ReInit.
 *   HUB_PROPOSAL a member's Remove proposal of one of its own devices
 *                (leaving): cached, fanned out, and the next Commit must
 *                include it.
 *   HUB_MESSAGE  an application message: a PrivateMessage of this group,
 *                epoch not in the future and not older than the policy's
 *                window, sent by a member actor (a PrivateMessage hides its
 *                sender leaf: membership is by the verified actor).
 *   HUB_METADATA a change of the channel's metadata (name, ...) the core
 *                does not keep: only the permission and a sequence number.
 *   HUB_TRANSFER the owner hands ownership to another member.
 *   HUB_SETTINGS the owner sets the policy and the admins.
 * Every MLS-level check of RFC 9420 (group id C37, epoch C34, sender C38,
 * content type C39, signature and tags C40, proposal lists C41,
 * KeyPackages and LeafNodes C42, UpdatePath and tree C43) is the MLS
 * library's (mls_public_group_process, mls.h); the hub adds its own rules
 * above it. threats.md section C names the refusals.
 *
 * Refusal codes (d.err, and aim_errcode() after the call):
 *   AIM_ERR_CONFLICT     a Commit or Proposal for another epoch, an
 *                        application message for a future epoch or one
 *                        older than the window (d.current_epoch set)
 *   AIM_ERR_DENIED       the actor is not a member, not allowed by the
 *                        policy, signs with another actor's device, or a
 *                        credential the hook refused
 *   AIM_ERR_INVALID      wrong group id, wrong wire format or content for
 *                        the kind, a commit that adds / removes other actors
 *                        than named, leaves out a pending self-removal, a
 *                        Welcome for other KeyPackages, invalid proposal
 *                        lists, KeyPackages or LeafNodes
 *   AIM_ERR_DECODE       malformed bytes
 *   AIM_ERR_VERIFY       bad signature, missing or truncated tags
 *   AIM_ERR_UNSUPPORTED  a private handshake (the hub cannot follow a
 *                        PrivateMessage Commit or Proposal), a ReInit
 *   others               as the MLS library reports them (AIM_ERR_NOTFOUND
 *                        for an unknown proposal reference, AIM_ERR_EXISTS
 *                        for keys already in the tree, AIM_ERR_GONE for an
 *                        expired KeyPackage, ...)
 *
 * Sequence numbers: the creation takes none (d.seq 0) and leaves the next
 * at 1; every accepted input after it takes the next one, so the fan-out of
 * a channel is numbered 1, 2, 3, ... without gaps. A refused input takes
 * none.
 *
 * Conventions: base.h results. hub_decide() and hub_group_create() return
 * 0 when accepted and -1 when refused, with the decision filled in either
 * way (and aim_fail() recorded on refusal). The state given is never
 * changed by a refusal. Strings given in are borrowed (copied when kept);
 * what a decision and a state hold is owned by them. Symbols carry hub_.
 */
#ifndef AIM_HUB_H
#define AIM_HUB_H

#include "base/base.h"
#include "mls/mls.h"

/* Limits: the longest actor URL and acct: URI, members of one group,
 * admins, objects of one activity, and the largest state parsed. */
#define HUB_MAX_URL 2048u
#define HUB_MAX_ACCT 511u
#define HUB_MAX_MEMBERS MLS_MAX_LEAVES
#define HUB_MAX_ADMINS 256u
#define HUB_MAX_OBJECTS 1024u
#define HUB_MAX_STATE (MLS_MAX_PUBLIC_STATE + ((size_t)16 << 20))
/* Default window of application messages: the current epoch and this many
 * before it. */
#define HUB_DEFAULT_MESSAGE_EPOCHS 1u

/* ---- Identities -------------------------------------------------------------- */

/* The acct: URI a credential names, NUL-terminated into out: an x509
 * credential's first certificate's one subjectAltName URI, a basic
 * credential's identity bytes. Refused: other credential types
 * (AIM_ERR_UNSUPPORTED), a malformed certificate (AIM_ERR_DECODE), no or
 * more than one SAN entry, a name that is not acct:user@host in printable
 * ASCII (AIM_ERR_INVALID, AIM_ERR_NOTFOUND). Does NOT verify the
 * certificate: trust is the shell's credential hook. */
int hub_credential_acct(const struct mls_credential *cred, char out[HUB_MAX_ACCT + 1])
	AIM_WARN_UNUSED;

/* One member: an actor and the acct: URI its devices' credentials name.
 * Borrowed strings. */
struct hub_member {
	const char *actor;
	const char *acct;
};
struct hub_members {
	const struct hub_member *v;
	size_t n;
};

/* ---- Policy -------------------------------------------------------------------- */

/* Who may Add, Remove, change metadata and commit GroupContextExtensions. */
enum hub_membership {
	HUB_MEMBERSHIP_OWNER = 1, /* the owner only */
	HUB_MEMBERSHIP_ADMINS,    /* the owner and the admins */
	HUB_MEMBERSHIP_MEMBERS,   /* any member */
};

struct hub_policy {
	enum hub_membership membership;
	/* Application messages are accepted for the current epoch and this
	 * many before it (0: the current one only). */
	uint32_t message_epochs;
	/* A group DM: the participants are fixed. Adds only of new devices of
	 * participants, no Remove activity, and no participant's last device
	 * leaves (issue 11: "Group DMs (fixed participants, not reified)").
	 * With HUB_MEMBERSHIP_MEMBERS, every participant adds its own devices.
	 * HUB_SETTINGS never changes it. */
	bool fixed_members;
};

/* Default: owner only, HUB_DEFAULT_MESSAGE_EPOCHS, members not fixed. */
void hub_policy_default(struct hub_policy *p);
/* "owner" / "admins" / "members" <-> enum (the aim:policy JSON value);
 * parse: AIM_ERR_INVALID for anything else. */
const char *hub_membership_name(enum hub_membership m);
int hub_membership_parse(const char *s, enum hub_membership *out) AIM_WARN_UNUSED;

/* ---- Decisions ------------------------------------------------------------------- */

enum hub_kind {
	HUB_CREATE = 1, /* only in the decision of hub_group_create() */
	HUB_ADD,
	HUB_REMOVE,
	HUB_COMMIT,     /* update, external join, own devices, self-removals, GCE */
	HUB_MESSAGE,
	HUB_PROPOSAL,   /* a self-remove */
	HUB_METADATA,
	HUB_TRANSFER,
	HUB_SETTINGS,
};
const char *hub_kind_name(enum hub_kind k);

struct hub_decision {
	enum hub_kind kind;
	bool accepted;
	/* Refused: why (AIM_ERR_NONE when accepted). */
	enum aim_err err;
	char reason[256];
	/* The group's epoch after the decision (refused: the unchanged current
	 * one, the aim:currentEpoch of a 409). */
	uint64_t current_epoch;
	/* The epoch the MLS message was sent in (0 for inputs without one). */
	uint64_t message_epoch;
	/* Effects (owned; hub_decision_free()): actors that became members
	 * (followers to add) and that stopped being members (followers to
	 * remove; also an admin or member whose last device left). */
	char **added;
	size_t n_added;
	char **removed;
	size_t n_removed;
	/* Deliver the input's Welcome to the new members (an accepted Add or
	 * creation that carries one). */
	bool route_welcome;
	/* The sequence number of this activity's fan-out (0: none). */
	uint64_t seq;
	/* The committer's leaf in the new tree, or the proposer's leaf
	 * (MLS_NO_LEAF for inputs without one). */
	uint32_t committer;
};
void hub_decision_init(struct hub_decision *d);
void hub_decision_free(struct hub_decision *d);

/* ---- Creating a group --------------------------------------------------------------- */

/* A group's state (opaque, owned; hub_group_free()). */
struct hub_group;

struct hub_create {
	/* MLSMessage carrying the GroupInfo the creator's device made after
	 * adding the first members (epoch >= 1 usually; 0 for a group of the
	 * creator alone), with the ratchet_tree extension unless tree is
	 * given. */
	struct aim_bytes group_info;
	/* The tree out of band (optional<Node> ratchet_tree<V>); empty: from
	 * the GroupInfo. */
	struct aim_bytes tree;
	/* The Welcome for the first members (MLSMessage; empty: none). */
	struct aim_bytes welcome;
	/* The creator, who owns the group. */
	const char *owner;
	/* Every member, the owner included: each must have a device in the
	 * tree and every leaf must name one of them. */
	const struct hub_members *members;
	/* Admins (members; may be NULL when n_admins is 0). */
	const char *const *admins;
	size_t n_admins;
	/* NULL: hub_policy_default(). */
	const struct hub_policy *policy;
	/* The shell's credential check (which CAs it trusts for which
	 * domain); NULL: any credential naming an acct: URI (tests). */
	const struct mls_credential_hook *hook;
};

/* Checks the GroupInfo (mls_public_group_create: signature, tree validity
 * and tree hash, every leaf through the hook), that the tree's devices are
 * exactly the members' (by acct: URI), the owner and admins among them, the
 * Welcome (if any) a Welcome of the group's cipher suite; then makes the
 * state (*out, owned) with no sequence number used yet. d: kind
 * HUB_CREATE, added = every member, route_welcome when a Welcome came. */
int hub_group_create(const struct hub_create *c, uint64_t now, struct hub_group **out,
		     struct hub_decision *d) AIM_WARN_UNUSED;
void hub_group_free(struct hub_group *g);
/* A deep copy (*out owned). */
int hub_group_copy(const struct hub_group *g, struct hub_group **out) AIM_WARN_UNUSED;

/* ---- Deciding ------------------------------------------------------------------------- */

struct hub_input {
	enum hub_kind kind;
	/* The actor that sent the activity, as verified by the shell. */
	const char *actor;
	/* ADD / REMOVE: the actors the activity names (its object);
	 * TRANSFER: the new owner (one); SETTINGS: the new admins. */
	const char *const *objects;
	size_t n_objects;
	/* The MLSMessage: a Commit (ADD, REMOVE, COMMIT), a Proposal
	 * (PROPOSAL), a PrivateMessage (MESSAGE); empty for the others. */
	struct aim_bytes mls;
	/* ADD: the MLSMessage Welcome. */
	struct aim_bytes welcome;
	/* Optional, with a Commit: the committer's MLSMessage GroupInfo of the
	 * new epoch (for external joins later); refused unless it matches. */
	struct aim_bytes group_info;
	/* ADD: acct: URI <-> actor of the actors added (as the shell resolved
	 * them); members already known need not be listed. */
	const struct hub_members *resolved;
	/* SETTINGS: the new policy. */
	const struct hub_policy *policy;
	/* As in struct hub_create. */
	const struct mls_credential_hook *hook;
};

/* Decides in on g at time now (seconds; KeyPackage lifetimes). Accepted
 * (0): *next is the new state (owned by the caller) and d the effects.
 * Refused (-1): *next is NULL, d says why. g is never changed. */
int hub_decide(const struct hub_group *g, const struct hub_input *in, uint64_t now,
	       struct hub_group **next, struct hub_decision *d) AIM_WARN_UNUSED;
/* The same, changing g in place when accepted (unchanged when refused):
 * spares the copy for application messages. */
int hub_apply(struct hub_group *g, const struct hub_input *in, uint64_t now,
	      struct hub_decision *d) AIM_WARN_UNUSED;

/* ---- Reading the state ----------------------------------------------------------------- */

uint64_t hub_group_epoch(const struct hub_group *g);
/* The sequence number the next accepted activity takes. */
uint64_t hub_group_next_seq(const struct hub_group *g);
/* Sequence numbers up to last were taken outside this state: the shell
 * applies application messages with hub_apply() on the state it read and
 * does not store it again (only the sequence moved, and its fan-out row
 * records it), so the state it reads back may lag; the next one is then
 * last + 1. Never moves the next sequence back. */
void hub_group_seq_after(struct hub_group *g, uint64_t last);
struct aim_bytes hub_group_id(const struct hub_group *g);
uint16_t hub_group_cipher_suite(const struct hub_group *g);
const char *hub_group_owner(const struct hub_group *g);
const struct hub_policy *hub_group_policy(const struct hub_group *g);
size_t hub_group_member_count(const struct hub_group *g);
/* Member i (0 .. count-1; borrowed until g changes). */
const struct hub_member *hub_group_member(const struct hub_group *g, size_t i);
bool hub_group_is_member(const struct hub_group *g, const char *actor);
bool hub_group_is_admin(const struct hub_group *g, const char *actor);
size_t hub_group_admin_count(const struct hub_group *g);
const char *hub_group_admin(const struct hub_group *g, size_t i);
/* The policy lets actor Add / Remove / change metadata. */
bool hub_group_may_manage(const struct hub_group *g, const char *actor);
/* Leaves proposed for removal this epoch (pending self-removals). */
size_t hub_group_pending_count(const struct hub_group *g);
uint32_t hub_group_pending_leaf(const struct hub_group *g, size_t i);
/* The public group (borrowed). */
const struct mls_public_group *hub_group_public(const struct hub_group *g);
/* Appends the latest GroupInfo as an MLSMessage (the one of the creation
 * or the committer's of the current epoch; AIM_ERR_NOTFOUND if the last
 * Commit came without one). */
int hub_group_group_info(const struct hub_group *g, struct aim_buf *w) AIM_WARN_UNUSED;
/* Appends the current ratchet tree (optional<Node> ratchet_tree<V>). */
int hub_group_export_tree(const struct hub_group *g, struct aim_buf *w) AIM_WARN_UNUSED;

/* ---- Persistence (the shell keeps it with store_state_cas, kind "hub") -------------------- */

/* Own encoding (version byte 1): policy, next sequence number, owner,
 * admins, members, pending self-removals, the public group
 * (mls_public_group_encode). No secrets. */
int hub_group_encode(const struct hub_group *g, struct aim_buf *w) AIM_WARN_UNUSED;
/* Restores a state (at most HUB_MAX_STATE bytes). It is the hub's own, but
 * still checked for consistency: every leaf names a member, every member
 * has a device, owner and admins are members, pending leaves are in the
 * tree. AIM_ERR_DECODE / AIM_ERR_UNSUPPORTED / AIM_ERR_INVALID. */
int hub_group_parse(struct aim_bytes b, struct hub_group **out) AIM_WARN_UNUSED;

#endif
