/*
 * store: the one storage interface of aimd.
 *
 * Everything aimd keeps on disk goes through this header: instance settings
 * (domain, base URL), local users with their keys, hashed bearer tokens,
 * activities with their embedded objects, who may see them, and the inbox
 * rows of local recipients. A back end is a `struct store_ops` table; the
 * SQLite one (store_sqlite.c) is the default, a PostgreSQL one comes later,
 * and the same tests run against every back end (AIM_TEST_STORE=NAME picks
 * one from the list in tests/common/store_fixture.c). Nothing above this
 * layer sees SQL or a database type.
 *
 * What every back end guarantees (the store tests check it for each):
 *
 * Transactions. Each write call is one transaction: all of its changes
 * happen or none does (store_activity_add stores the activity with the
 * deliveries it causes; store_inbound_commit an inbound activity with its
 * effects and its reply). Each read call sees one consistent state (a page
 * and its has_older/has_newer flags agree). Calls may come from any number
 * of threads, and several processes may open the same store at once: what
 * must hold across them (one holder per delivery row, the order per
 * recipient, a compare-and-set) is enforced here, never by the callers.
 *
 * Durability. A write call returns 0 only once its transaction is durable:
 * from then on it survives a crash or a power loss. Callers acknowledge
 * (answer 201 or 202) only after that return.
 *
 * Failures follow base.h (0 on success, -1 with a code; never an HTTP
 * status). A failed write call changed nothing.
 *   AIM_ERR_NOTFOUND     no such row.
 *   AIM_ERR_EXISTS       a unique name or id is taken.
 *   AIM_ERR_CONFLICT     the state the call relied on has moved: a stale
 *                        version or lease, a lost race. Trying the same call
 *                        again fails again; read the state again and decide.
 *   AIM_ERR_BUSY         transient contention: the store could not get what
 *                        it needed in time. The same call may succeed soon.
 *   AIM_ERR_STORAGE      the database or its disk failed; nothing was written
 *                        and nothing may be acknowledged. It may last.
 *   AIM_ERR_STATE        the call does not apply to the row as it is (a
 *                        delivery already final).
 *   AIM_ERR_DENIED       the change touches what its author does not own.
 *   AIM_ERR_INVALID      a bad argument.
 *   AIM_ERR_UNSUPPORTED  a location or a schema this build cannot open.
 *
 * Ownership: strings returned through out-parameters are owned by the caller
 * (free() them, or the *_clear() helpers); arguments are borrowed.
 */
#ifndef AIM_STORE_H
#define AIM_STORE_H

#include "base/base.h"

#define STORE_NAME_MAX 64
/* The reserved row holding the instance actor's keys; not a valid user name. */
#define STORE_INSTANCE_NAME "~instance"

struct store;

/* ---- Records ----------------------------------------------------------- */

struct store_user {
	int64_t id;
	char name[STORE_NAME_MAX + 1];
	char *rsa_public_pem;        /* owned */
	uint8_t ed25519_public[32];
	int64_t created;             /* seconds since the epoch */
};
void store_user_clear(struct store_user *u);

/* A local user as listed (store_user_list); strings borrowed for the call. */
struct store_user_info {
	int64_t id;
	const char *name;
	int64_t created;             /* seconds since the epoch */
	int64_t deleted;             /* when it was deleted (seconds), 0 if it was not */
	bool manual_approval;
	int64_t tokens;              /* bearer tokens it holds */
};
typedef int (*store_user_info_fn)(void *ctx, const struct store_user_info *u);

/* A bearer token as listed: only its hash exists. */
struct store_token_info {
	uint8_t hash[32];            /* SHA-256 of the token */
	int64_t created;             /* seconds since the epoch */
};
typedef int (*store_token_fn)(void *ctx, const struct store_token_info *t);

struct store_new_user {
	const char *name;
	const char *rsa_public_pem;
	const char *rsa_private_pem;      /* PKCS#8 PEM; stays in the store */
	const uint8_t *ed25519_public;    /* 32 bytes */
	const char *ed25519_private_pem;  /* PKCS#8 PEM; stays in the store */
};

/* An activity to store, with the local users it concerns. */
struct store_new_activity {
	const char *id;              /* the activity's id (a URL), unique */
	const char *object_id;       /* id of the embedded object it creates, or NULL */
	const char *json;            /* the full activity as sent by its author */
	const char *object_json;     /* the embedded object, or NULL */
	int64_t author;              /* local user id of the actor */
	bool is_public;              /* addressed to as:Public */
	const int64_t *audience;     /* local users addressed in any field: may read it */
	size_t n_audience;
	const int64_t *inbox;        /* local users whose inbox receives it */
	size_t n_inbox;
	int64_t published;           /* seconds since the epoch */
	/* Federation (outbound): deliveries to enqueue in the same transaction,
	 * or NULL for none. */
	const struct store_outgoing *outgoing;
};

/* One item of a listing or a fetch. */
struct store_item {
	int64_t cursor;              /* position in its collection (outbox: activity seq,
					inbox: inbox row seq); what max_id/min_id take */
	int64_t author;              /* local user id of the activity's actor */
	bool is_public;
	char *json;                  /* owned */
};
void store_item_clear(struct store_item *it);

/* A page of a collection, newest first. */
struct store_page {
	struct store_item *items;    /* owned */
	size_t n;
	bool has_older;              /* items exist older than the last one */
	bool has_newer;              /* items exist newer than the first one */
};
void store_page_clear(struct store_page *p);

/* Which slice of a collection to read. 0 means "no bound". With min_id the
 * page holds the `limit` items right after min_id (still newest first), which
 * is what a "prev" link and a stream resuming after an id want. */
struct store_range {
	int64_t max_id;              /* only items with cursor < max_id */
	int64_t min_id;              /* only items with cursor > min_id */
	size_t limit;                /* 1..200 */
	/* A byte budget as well (0: none): the page stops before the item
	 * that would take the JSON texts past max_bytes, but holds at least one
	 * item; has_older/has_newer then tell that more follow. A back end that
	 * ignores it only serves bigger pages. */
	size_t max_bytes;
};

/* ---- Delivery queue (federation: outbound) ------------------------------- */

/*
 * An outgoing activity is stored once (its body exactly as POSTed, bto and
 * bcc already removed, and the local user whose keys sign it) with one
 * delivery row per distinct target inbox. A row may instead name a remote
 * actor whose inbox the delivery workers resolve first. Rows move from
 * pending to exactly one final state; times are milliseconds since the epoch.
 *
 * Workers take rows with a lease, so that several processes can share one
 * queue: store_delivery_claim hands out a due row with a lease (a random
 * token and an end time) and no other claim gets that row while the lease
 * lives. Only the holder of the lease records the attempt
 * (store_delivery_finish), resolves the row or gives it back; a lease the
 * row no longer carries (it ran out and someone else claimed the row, or
 * the row was finished) is stale: those calls fail with AIM_ERR_CONFLICT
 * and change nothing. A holder renews its leases while it works; a lease
 * that ran out (its holder died) makes the row claimable again. What the
 * claim guarantees, across every process:
 *   - per recipient (inbox or actor), one signer's deliveries go out in
 *     order: a row is not claimed while an older pending row of the same
 *     signer to the same recipient exists, leased or not (an Undo never
 *     overtakes its Follow);
 *   - a host has at most `per_host` live leases, and one while its circuit
 *     is half-open (`probe_after` failures in a row, store_host_failure);
 *   - a host whose circuit is open (store_delivery_defer_host) gets none
 *     until then.
 */
enum store_delivery_state {
	STORE_DLV_PENDING = 0,
	STORE_DLV_DELIVERED = 1,
	STORE_DLV_FAILED = 2,        /* failed permanently (4xx, refused address, ...) */
	STORE_DLV_EXPIRED = 3,       /* still failing when the retry period ended */
};
const char *store_delivery_state_name(int state);

struct store_new_delivery {
	const char *inbox;           /* inbox URL to POST to, or NULL: resolve actor */
	const char *actor;           /* the recipient actor (needed when inbox is NULL) */
	const char *host;            /* lower-case host of inbox (else of actor) */
	bool personal;               /* the actor's own inbox, never a shared one (bto/bcc) */
};

struct store_outgoing {
	const char *activity_id;
	int64_t signer;              /* local user whose keys sign the POSTs */
	const char *body;            /* the JSON POSTed to every inbox */
	const struct store_new_delivery *v;
	size_t n;                    /* duplicates (same inbox / same actor) collapse */
	int64_t now_ms;              /* creation time; first attempt due then */
};

struct store_delivery {
	int64_t id;
	int64_t outgoing;            /* the outgoing activity's row */
	char *activity_id;           /* owned */
	char *inbox;                 /* owned; NULL until resolved */
	char *actor;                 /* owned; NULL for a plain inbox row */
	char *host;                  /* owned */
	bool personal;
	int64_t signer;
	char *body;                  /* owned; filled by store_delivery_claim only */
	int state;                   /* enum store_delivery_state */
	int attempts;
	int64_t created_ms, next_ms, updated_ms;
	int last_status;             /* last HTTP status, 0 if none */
	char *last_error;            /* owned; NULL if none */
};
void store_delivery_clear(struct store_delivery *d);

/* The outcome of one attempt. */
struct store_delivery_update {
	int state;
	int attempts;
	int64_t next_ms;             /* for pending: when the next attempt is due */
	int last_status;
	const char *last_error;      /* NULL for none */
};

typedef int (*store_delivery_fn)(void *ctx, const struct store_delivery *d);

#define STORE_LEASE_TOKEN_LEN 32

/* A claim on one delivery row. */
struct store_lease {
	int64_t id;                  /* the delivery row */
	char token[STORE_LEASE_TOKEN_LEN + 1]; /* random hex: names the claim */
	int64_t until_ms;            /* when it runs out unless renewed */
};

/* What a claim may take. */
struct store_claim {
	int64_t now_ms;
	int64_t lease_ms;            /* the lease's length (>= 1) */
	unsigned per_host;           /* live leases per host, every holder counted (>= 1) */
	unsigned probe_after;        /* failures in a row after which a host takes one
					lease at a time (half-open circuit); 0: never */
};

/* One attempt's outcome in a batch (store_delivery_finish_batch). */
struct store_finish {
	const struct store_lease *lease;
	struct store_delivery_update u;
	const char *host;            /* the host the attempt went to (the row's) */
	bool host_failure;           /* counts as a failure of the host (else resets) */
	unsigned open_after;         /* a failure that makes the count reach this opens */
	int64_t open_until_ms;       /* the host's circuit until then (0: never) */
	/* out */
	int rc;                      /* 0, or -1: err says why (stale lease, ...) */
	enum aim_err err;
	unsigned failures;           /* the host's failures in a row after this one */
	bool opened;                 /* this failure opened the host's circuit */
};

/* ---- Federation: inbound ----------------------------------------------------- */

/*
 * Activities received from other servers are stored like local ones, with
 * the reserved user STORE_REMOTE_NAME as author and the remote actor's URL
 * kept beside it; their inbox rows make them show in local inboxes. Remote
 * followers of local users (with the inboxes to deliver to), local users'
 * follows of remote actors, and blocks are kept in their own tables. Every
 * change an inbound activity causes is applied with it in one durable
 * transaction (store_inbound_commit).
 */
#define STORE_REMOTE_NAME "~remote"

enum store_follow_state {
	STORE_FOLLOW_PENDING = 0,    /* awaiting the followed user's approval / the Accept */
	STORE_FOLLOW_ACCEPTED = 1,
};

/* A remote actor following a local user. */
struct store_follower {
	char *actor;                 /* owned */
	char *inbox;                 /* owned */
	char *shared_inbox;          /* owned; NULL if none */
	char *follow_id;             /* owned: the Follow activity's id */
	int state;                   /* enum store_follow_state */
	int64_t created;
};
void store_follower_clear(struct store_follower *f);
/* Called per follower; a non-zero return stops the listing and is returned. */
typedef int (*store_follower_fn)(void *ctx, const struct store_follower *f);

enum store_fx_kind {
	STORE_FX_FOLLOWER_PUT = 1,   /* user, actor, inbox, shared_inbox, follow_id, state
					(an accepted follower stays accepted) */
	STORE_FX_FOLLOWER_ACCEPT,    /* user, follow_id: pending -> accepted (NOTFOUND if none) */
	STORE_FX_FOLLOWER_DEL,       /* actor; user (0: any); follow_id (NULL: any) */
	STORE_FX_FOLLOWING_PUT,      /* user, actor, follow_id, state */
	STORE_FX_FOLLOWING_ACCEPT,   /* actor, follow_id (no row: nothing happens) */
	STORE_FX_FOLLOWING_DEL,      /* actor; user (0: any); follow_id (NULL: any) */
	STORE_FX_OBJECT_UPDATE,      /* object_id, json; owner: actor (remote) or user (local).
					AIM_ERR_DENIED if someone else owns it */
	STORE_FX_OBJECT_DELETE,      /* the same, json = the Tombstone; its inbox rows go */
	STORE_FX_ACTOR_PURGE,        /* actor: its follows both ways, activities and objects */
	STORE_FX_BLOCK_PUT,          /* user blocks actor */
	STORE_FX_BLOCK_DEL,
	STORE_FX_OBJECT_PURGE,       /* object_id, json = its Tombstone; owner as OBJECT_UPDATE:
					every activity of the owner that embeds the object (its
					Create, its Updates) carries the Tombstone instead and
					leaves every inbox (a Delete's content is kept nowhere).
					The last kind (store_inbound_commit checks the range). */
};

struct store_fx {
	enum store_fx_kind kind;
	int64_t user;
	const char *actor;
	const char *inbox;
	const char *shared_inbox;
	const char *follow_id;
	const char *object_id;
	const char *json;
	int state;
};

struct store_inbound {
	/* The received activity (id NULL: none to store). */
	const char *id;
	const char *actor;           /* the remote actor's URL */
	const char *json;
	const char *object_id;       /* the object it creates, or NULL */
	const char *object_json;
	bool is_public;
	const int64_t *audience;     /* local users addressed */
	size_t n_audience;
	const int64_t *inbox;        /* local users whose inbox receives it */
	size_t n_inbox;
	int64_t published;
	/* What it changes, in order. */
	const struct store_fx *fx;
	size_t n_fx;
	/* A local activity it causes (an automatic Accept), with its deliveries. */
	const struct store_new_activity *reply;
};

/* One inbound activity of a batch and how it went. */
struct store_inbound_unit {
	const struct store_inbound *in;
	int rc;                      /* out: 0, or -1 with err and msg */
	enum aim_err err;
	char msg[256];
	bool dup;                    /* out: as store_inbound_commit */
	size_t added;
};

/* ---- Versioned state (compare-and-set) -------------------------------------- */

/*
 * A small value under a (kind, key) name with a version: 0 while the name
 * holds nothing, then 1 at the first write and one more at each write.
 * store_state_cas writes only if the stored version is still the one the
 * caller read, else fails with AIM_ERR_CONFLICT and writes nothing. Of any
 * number of callers, threads or processes that read version v and race to
 * write, exactly one wins; the others read again and decide again.
 *
 * The hub stands on it:
 *   - the epoch gate: one Commit per epoch of a group. (kind "epoch", key the
 *     group id) holds the epoch and its Commit; a member's Commit for epoch n
 *     is accepted by the cas from the version that holds epoch n, so of two
 *     Commits racing for epoch n one is accepted and the other conflicts;
 *   - KeyPackage claims: each KeyPackage goes to one claimer. (kind
 *     "keypackage", key its reference) moves from "available" to "claimed
 *     by ..." with a cas, so two claimers never get the same one.
 * kind is 1..STORE_STATE_KIND_MAX bytes, key 1..STORE_STATE_KEY_MAX, the
 * value 0..STORE_STATE_VALUE_MAX bytes of anything.
 */
#define STORE_STATE_KIND_MAX 64
#define STORE_STATE_KEY_MAX 512
#define STORE_STATE_VALUE_MAX (16 * 1024 * 1024)


/* ---- Channels and group DMs (hub side and member side) ------------------------ */

/*
 * A channel (or the hub of a group DM) is hosted here: a row naming its
 * actor's user row (its keys: the reserved name "~ch-ID" or "~dm-ID"), its
 * local owner, name and policy, and its members (= followers: actor URLs,
 * with the inbox and shared inbox to deliver to; a local member names her
 * user row). The hub's state lives in the versioned state under (kind
 * "hub", key the channel id). Its outbox holds every fanned-out Announce
 * under a per-channel sequence number. A change (creation, a commit, a
 * message) is applied in ONE write transaction: the compare-and-set of the
 * hub state from the version the caller read (AIM_ERR_CONFLICT: someone
 * else won; nothing is written), the channel row (creation), the members'
 * changes, the outbox row and the activities with their deliveries.
 *
 * On a member's server, a membership row says that a local user is a
 * member of a remote channel (recorded when a Welcome from that channel
 * reached her); Announces of that channel reach the members' inboxes in
 * sequence order (store_channel_receive holds one that comes early).
 */
#define STORE_CHANNEL_PREFIX "~ch-"
#define STORE_DM_PREFIX "~dm-"

enum store_channel_kind { STORE_CHANNEL = 0, STORE_CHANNEL_DM = 1 };

struct store_channel {
	char *id;                    /* owned */
	int kind;                    /* enum store_channel_kind */
	int64_t actor_user;          /* the channel actor's user row (keys) */
	int64_t owner;               /* local owner */
	char *name;                  /* owned */
	char *policy;                /* owned: "owner" | "admins" | "members" */
	int64_t created;
};
void store_channel_clear(struct store_channel *c);

struct store_channel_member {
	const char *actor;
	const char *inbox;           /* NULL for a local member */
	const char *shared_inbox;    /* NULL if none */
	int64_t local_user;          /* 0: remote */
};
/* Listed members: strings borrowed for the call. */
typedef int (*store_channel_member_fn)(void *ctx, const struct store_channel_member *m);

struct store_channel_change {
	const char *channel;
	const struct store_channel *create; /* non-NULL: insert the channel row */
	int64_t expected;            /* hub state version read (0: none yet) */
	const uint8_t *state;        /* the new hub state */
	size_t state_len;
	const struct store_channel_member *add;
	size_t n_add;
	const char *const *remove;   /* actor URLs */
	size_t n_remove;
	int64_t seq;                 /* outbox sequence of announce (0: none) */
	const char *announce_id;
	const char *announce_json;
	const struct store_new_activity *acts; /* stored with their deliveries */
	size_t n_acts;
	const char *name;            /* non-NULL: the channel's new name */
	/* The hub state did not change (an application message: only the
	 * sequence moved, and that is the outbox row's): the version read is
	 * still checked (AIM_ERR_CONFLICT as above) but neither state nor
	 * version is written. */
	bool keep_state;
};

/* Receiving side: an Announce of a remote channel. */
struct store_channel_recv {
	const char *channel;         /* the channel actor URL */
	int64_t seq;
	const char *id;              /* the Announce's id */
	const char *json;
	int64_t published;
	int64_t *held_after;         /* out, optional: when held, the last sequence delivered */
};

/* ---- Identity: the domain's CA certificates and devices -------------------- */

/*
 * The domain's certificate authority: its certificates (DER) are stored
 * here, newest first when listed; its private keys never are (they live in
 * files of their own, one per certificate, named by the certificate's id).
 * A device is a user's MLS client: an id (1..STORE_DEVICE_MAX of
 * [A-Za-z0-9_-]) unique per user, the MLS signature key its CSR certified
 * (unique per user: the key names the device), the leaf last issued for it
 * and when that one expires. A revoked device keeps its row, its id and its
 * key (neither is given out again), is no longer renewed and may upload
 * nothing; the KeyPackages it published are withdrawn with the revocation,
 * in the same transaction.
 */
#define STORE_DEVICE_MAX 64

struct store_ca_cert {
	int64_t id;                  /* names the private key's file */
	const uint8_t *der;          /* borrowed for the call */
	size_t len;
	int64_t created;             /* seconds since the epoch */
};
/* Called per certificate; a non-zero return stops the listing and is returned. */
typedef int (*store_ca_cert_fn)(void *ctx, const struct store_ca_cert *c);

struct store_device {
	int64_t user_id;
	char device[STORE_DEVICE_MAX + 1];
	int alg;                     /* enum aim_sig_alg: the MLS signature scheme */
	uint8_t pk[133];             /* raw public key in MLS format (AIM_MAX_SIG_PK) */
	size_t pk_len;
	uint8_t *cert;               /* owned: the last leaf issued (DER) */
	size_t cert_len;
	int64_t not_after;           /* the last leaf's expiry (seconds) */
	bool revoked;
	int64_t created, updated;    /* seconds since the epoch */
	int64_t keypackages;         /* listing only: its consumable KeyPackages not
					handed out (the KeyPackage directory) */
};
void store_device_clear(struct store_device *d);
/* Called per device (cert borrowed for the call); non-zero stops the listing. */
typedef int (*store_device_fn)(void *ctx, const struct store_device *d);

/* A device to register or renew. */
struct store_new_device {
	int64_t user_id;
	const char *device;
	int alg;
	const uint8_t *pk;
	size_t pk_len;
	const uint8_t *cert;
	size_t cert_len;
	int64_t not_after;
};

/* ---- The KeyPackage directory ------------------------------------------------ */

/*
 * KeyPackages uploaded by a local user's devices (MLSMessages, validated by
 * the server before they get here), handed out by claims. A KeyPackage is
 * handed out once (MIMI): a claim marks it consumed in the same transaction
 * that picks it, with a conditional update, so of any number of claims
 * racing in any number of threads or processes each KeyPackage goes to one
 * claimer. A device may keep one last-resort KeyPackage, which is handed out
 * when the device has no other left and never consumed; a new one replaces
 * the old. Withdrawing a device (its revocation) removes its KeyPackages
 * that were not handed out. Consumed rows keep their reference, so the same
 * KeyPackage cannot be uploaded again.
 */
#define STORE_KP_REF_MAX 64          /* KeyPackageRef length (the suite's hash) */

struct store_new_keypackage {
	const char *device;          /* 1..STORE_DEVICE_MAX bytes */
	uint16_t suite;
	const uint8_t *ref;          /* KeyPackageRef, 1..STORE_KP_REF_MAX bytes */
	size_t ref_len;
	const uint8_t *data;         /* the MLSMessage(KeyPackage) */
	size_t len;
	const char *json;            /* the KeyPackage object the collection serves */
	bool last_resort;
	int64_t not_after;           /* seconds: not handed out after */
};

/* The stock of one device (strings borrowed for the call). */
struct store_kp_stock {
	const char *device;
	int64_t available;           /* consumable KeyPackages not handed out */
	bool last_resort;            /* it has a last-resort KeyPackage */
};
typedef int (*store_kp_stock_fn)(void *ctx, const struct store_kp_stock *s);

/* One KeyPackage handed out by a claim (owned by the claim). */
struct store_kp_claimed {
	char device[STORE_DEVICE_MAX + 1];
	uint16_t suite;
	uint8_t *data;
	size_t len;
	bool last_resort;
};
struct store_kp_claim {
	struct store_kp_claimed *v;
	size_t n;
};
void store_kp_claim_clear(struct store_kp_claim *c);

/* Who may claim a user's KeyPackages. */
enum store_claims_policy {
	STORE_CLAIMS_EVERYONE = 0,   /* the default */
	STORE_CLAIMS_FOLLOWED = 1,   /* only actors the user follows (accepted) */
	STORE_CLAIMS_NOBODY = 2,
};

/* ---- Operations: migrations, integrity --------------------------------------- */

/* Called after each migration a store applies, with the schema version it
 * reached. */
typedef void (*store_migrated_fn)(void *ctx, int version);

/* What /metrics shows of the store (store_stats): one consistent read. */
struct store_stats {
	int64_t deliveries[4];       /* rows by enum store_delivery_state */
	int64_t oldest_pending_ms;   /* creation of the oldest pending delivery; 0: none */
	int64_t keypackages_available; /* consumable, not handed out, not expired at now */
	int64_t keypackages_last_resort; /* the devices' last-resort KeyPackages */
};

/*
 * Export and import (aimd export / aimd import): a domain's whole data as
 * rows of the tables below, in this order (a row refers only to rows of
 * tables before it), each row a list of (column, value) with the schema's
 * column names. Both back ends keep this schema (one migration source), so
 * rows exported from one import into the other at the same schema
 * version. What is not a table row (the CA's key files) is the caller's.
 */
#define STORE_EXPORT_TABLES                                                                \
	"meta", "users", "tokens", "activities", "objects", "audience", "inbox", "outgoing", \
	"deliveries", "delivery_hosts", "followers", "following", "blocks", "versioned",   \
	"ca_certs", "devices", "keypackages", "channels", "channel_members",               \
	"channel_outbox", "channel_joined", "channel_recv", "channel_held"

enum store_vtype { STORE_V_NULL = 0, STORE_V_INT, STORE_V_TEXT, STORE_V_BLOB };

/* One column's value (borrowed): an integer, text (p, n: UTF-8, no NUL
 * needed) or bytes. */
struct store_value {
	enum store_vtype type;
	int64_t i;
	const uint8_t *p;
	size_t n;
};

/* One row of a table (everything borrowed for the call). */
struct store_row {
	const char *table;
	size_t n;
	const char *const *cols;
	const struct store_value *v;
};
/* Export: called per row; a non-zero return stops and is returned. */
typedef int (*store_row_fn)(void *ctx, const struct store_row *r);
/* Import: fills *out with the next row (valid until the next call) and
 * returns 0, returns 1 at the end, -1 on a failure (recorded). */
typedef int (*store_row_next_fn)(void *ctx, struct store_row *out);

/* store_open_ex flags. */
#define STORE_OPEN_NO_MIGRATE 1u     /* open as it is: no migration runs (aimd migrate,
					aimd doctor); the caller checks the version */

/* ---- Events between processes ------------------------------------------------ */

/*
 * Several processes serving one domain share one store; what one commits
 * the others learn from events: an inbox grew (its streams wake), rows were
 * enqueued for delivery (the workers wake). The PostgreSQL back end sends
 * them with the commit that causes them (NOTIFY: sent only if the
 * transaction commits) and a listener receives every process's, its own
 * included; after a lost connection the listener reconnects and reports
 * both events once (what it may have missed). SQLite has no listener
 * (AIM_ERR_UNSUPPORTED): its processes rely on their own polling.
 */
enum store_event { STORE_EVENT_INBOX = 1, STORE_EVENT_DELIVERY = 2 };
/* Called on the listener's own thread. */
typedef void (*store_event_fn)(void *ctx, enum store_event ev);
struct store_listener;

/* ---- The back-end table -------------------------------------------------- */

struct store_ops {
	const char *name;
	void (*close)(struct store *st);
	int (*meta_get)(struct store *st, const char *key, char **val);
	int (*meta_set)(struct store *st, const char *key, const char *val);
	int (*schema_version)(struct store *st, int *version);

	/* versioned state (compare-and-set) */
	int (*state_get)(struct store *st, const char *kind, const char *key, int64_t *version,
			 uint8_t **value, size_t *len);
	int (*state_cas)(struct store *st, const char *kind, const char *key, int64_t expected,
			 const uint8_t *value, size_t len, int64_t *version);

	int (*user_add)(struct store *st, const struct store_new_user *u, int64_t *id);
	int (*user_get)(struct store *st, const char *name, struct store_user *out);
	int (*user_get_id)(struct store *st, int64_t id, struct store_user *out);
	int (*user_count)(struct store *st, int64_t *n);
	int (*user_private_keys)(struct store *st, int64_t id, char **rsa_pem, char **ed_pem);

	int (*token_add)(struct store *st, int64_t user, const uint8_t hash[32]);
	int (*token_find)(struct store *st, const uint8_t hash[32], int64_t *user);

	int (*activity_add)(struct store *st, const struct store_new_activity *a,
			    int64_t *seq);
	int (*activity_get)(struct store *st, const char *id, int64_t viewer,
			    struct store_item *out);
	int (*object_get)(struct store *st, const char *id, int64_t viewer,
			  struct store_item *out);
	int (*outbox_page)(struct store *st, int64_t owner, int64_t viewer,
			   const struct store_range *r, struct store_page *out);
	int (*outbox_count)(struct store *st, int64_t owner, int64_t viewer, int64_t *n);
	int (*inbox_page)(struct store *st, int64_t user, const struct store_range *r,
			  struct store_page *out);
	int (*inbox_count)(struct store *st, int64_t user, int64_t *n);

	/* delivery queue (federation: outbound) */
	int (*delivery_enqueue)(struct store *st, const struct store_outgoing *o);
	int (*delivery_claim)(struct store *st, const struct store_claim *c,
			      struct store_delivery *out, struct store_lease *lease);
	int (*delivery_renew)(struct store *st, struct store_lease *lease, int64_t until_ms);
	int (*delivery_release)(struct store *st, const struct store_lease *lease);
	int (*delivery_earliest)(struct store *st, int64_t *next_ms);
	int (*delivery_finish)(struct store *st, const struct store_lease *lease,
			       const struct store_delivery_update *u);
	/* optional (NULL: the single operations are used one by one) */
	int (*delivery_claim_batch)(struct store *st, const struct store_claim *c, size_t max,
				    struct store_delivery *out, struct store_lease *leases,
				    size_t *n);
	int (*delivery_finish_batch)(struct store *st, struct store_finish *v, size_t n);
	int (*delivery_resolve)(struct store *st, const struct store_lease *lease, const char *inbox,
				const char *host, bool *merged);
	int (*delivery_defer_host)(struct store *st, const char *host, int64_t until_ms);
	/* optional (NULL: rows wait for their last attempt) */
	int (*delivery_expire_overdue)(struct store *st, int64_t created_before_ms, int64_t now_ms,
				       size_t *n);
	int (*host_failure)(struct store *st, const char *host, bool failed, int64_t now_ms,
			    unsigned *failures);
	int (*delivery_list)(struct store *st, store_delivery_fn fn, void *ctx);
	int (*host_scheme_get)(struct store *st, const char *host, int *scheme);
	int (*host_scheme_set)(struct store *st, const char *host, int scheme);

	/* federation: inbound */
	int (*inbound_commit)(struct store *st, const struct store_inbound *in, bool *dup,
			      size_t *added);
	/* units with rc != 0 on entry are skipped (store.c refused them) */
	int (*inbound_commit_batch)(struct store *st, struct store_inbound_unit *u, size_t n);
	int (*followers_list)(struct store *st, int64_t user, int state, int64_t offset,
			      size_t limit, store_follower_fn fn, void *ctx);
	int (*followers_count)(struct store *st, int64_t user, int state, int64_t *n);
	int (*following_state)(struct store *st, int64_t user, const char *actor, int *state);
	int (*blocked)(struct store *st, int64_t user, const char *actor, bool *out);
	int (*manual_approval_get)(struct store *st, int64_t user, bool *on);
	int (*manual_approval_set)(struct store *st, int64_t user, bool on);
	int (*activity_lookup)(struct store *st, const char *id, int64_t *author, char **actor,
			       char **json);
	int (*following_users)(struct store *st, const char *actor, int64_t *ids, size_t max,
			       size_t *n);

	/* collections of actors and of KeyPackages */
	int (*followers_page)(struct store *st, int64_t user, const struct store_range *r,
			      struct store_page *out);
	int (*following_page)(struct store *st, int64_t user, const struct store_range *r,
			      struct store_page *out);
	int (*following_count)(struct store *st, int64_t user, int64_t *n);
	int (*keypackage_page)(struct store *st, int64_t owner, int64_t viewer,
			       const struct store_range *r, struct store_page *out);
	int (*keypackage_count)(struct store *st, int64_t owner, int64_t viewer, int64_t *n);
	/* users and tokens: listing, revoking, deleting */
	int (*user_list)(struct store *st, store_user_info_fn fn, void *ctx);
	int (*user_gone)(struct store *st, const char *name, bool *gone);
	int (*token_list)(struct store *st, int64_t user, store_token_fn fn, void *ctx);
	int (*token_revoke)(struct store *st, const uint8_t hash[32]);
	int (*user_delete)(struct store *st, int64_t user);

	/* identity: CA certificates, devices */
	int (*ca_cert_add)(struct store *st, const uint8_t *der, size_t len, int64_t *id);
	int (*ca_cert_list)(struct store *st, store_ca_cert_fn fn, void *ctx);
	int (*device_put)(struct store *st, const struct store_new_device *d, bool create);
	int (*device_get)(struct store *st, int64_t user, const char *device,
			  struct store_device *out);
	int (*device_by_key)(struct store *st, int64_t user, int alg, const uint8_t *pk,
			     size_t pk_len, struct store_device *out);
	int (*device_list)(struct store *st, int64_t user, store_device_fn fn, void *ctx);
	int (*device_revoke)(struct store *st, int64_t user, const char *device);
	/* the KeyPackage directory (sqlite_keypackages.c) */
	int (*keypackage_add)(struct store *st, int64_t user, const struct store_new_keypackage *v,
			      size_t n, size_t max_per_device);
	int (*keypackage_stock)(struct store *st, int64_t user, store_kp_stock_fn fn, void *ctx);
	int (*keypackage_claim)(struct store *st, int64_t user, const uint16_t *suites,
				size_t n_suites, const char *claimer, int64_t now,
				struct store_kp_claim *out);
	int (*keypackage_withdraw_device)(struct store *st, int64_t user, const char *device,
					  int64_t *withdrawn);
	int (*claims_policy_get)(struct store *st, int64_t user, int *policy);
	int (*claims_policy_set)(struct store *st, int64_t user, int policy);
	/* channels and group DMs (sqlite_channels.c) */
	int (*channel_apply)(struct store *st, const struct store_channel_change *c);
	int (*channel_get)(struct store *st, const char *id, struct store_channel *out);
	int (*channel_members)(struct store *st, const char *id, store_channel_member_fn fn,
			       void *ctx);
	int (*channel_outbox_page)(struct store *st, const char *id, int64_t after,
				   const struct store_range *r, struct store_page *out);
	int (*channel_join)(struct store *st, const char *channel, int64_t user, bool member);
	int (*channel_joined)(struct store *st, const char *channel, int64_t **users, size_t *n);
	int (*channel_last_seq)(struct store *st, const char *id, int64_t *seq);
	int (*channel_moved)(struct store *st, const char *from, const char *to);
	int (*channel_receive)(struct store *st, const struct store_channel_recv *m,
			       size_t *delivered);
	/* operations: migrations and integrity (sqlite_admin.c) */
	int (*schema_latest)(struct store *st, int *version);
	int (*migrate)(struct store *st, store_migrated_fn fn, void *ctx);
	int (*integrity_check)(struct store *st, char **problem);
	int (*stats)(struct store *st, int64_t now, struct store_stats *out);
	/* export and import (sqlite_export.c) */
	int (*export_rows)(struct store *st, store_row_fn fn, void *ctx);
	int (*import_rows)(struct store *st, store_row_next_fn next, void *ctx);
	/* events between processes (NULL: none; pg_events.c) */
	int (*events_listen)(struct store *st, store_event_fn fn, void *ctx,
			     struct store_listener **out);
	void (*events_unlisten)(struct store_listener *l);
};

struct store {
	const struct store_ops *ops;
	void *impl;
};

/* ---- Opening ------------------------------------------------------------ */

/* Opens the store a location names: "sqlite:PATH" or a bare PATH for the
 * SQLite back end; "postgresql://..." or "postgres://..." (a libpq URI) for
 * the PostgreSQL one. */
int store_open(const char *location, struct store **out) AIM_WARN_UNUSED;
/* Connects to the PostgreSQL database a libpq URI names ("pool_size=N"
 * among its query parameters: this process's connections), runs any
 * pending migrations, and returns the store (src/store/pg_*.c). */
int store_open_postgres(const char *location, struct store **out) AIM_WARN_UNUSED;
int store_open_postgres_ex(const char *location, unsigned flags, struct store **out) AIM_WARN_UNUSED;
/* Opens (creating if needed) the database at `path` (the SQLite file), runs
 * any pending schema migrations in order, and returns the store. */
int store_open_sqlite(const char *path, struct store **out) AIM_WARN_UNUSED;
/* The latest schema version this build knows. */
int store_sqlite_latest_version(void);
/* store_open with flags (STORE_OPEN_*); store_open(l, o) is
 * store_open_ex(l, 0, o). */
int store_open_ex(const char *location, unsigned flags, struct store **out) AIM_WARN_UNUSED;
int store_open_sqlite_ex(const char *path, unsigned flags, struct store **out) AIM_WARN_UNUSED;
/* Closes the store and frees it; NULL is fine. */
void store_close(struct store *st);

/* ---- Calls (thin wrappers over the ops table) ------------------------------ */

int store_meta_get(struct store *st, const char *key, char **val) AIM_WARN_UNUSED;
int store_meta_set(struct store *st, const char *key, const char *val) AIM_WARN_UNUSED;
int store_schema_version(struct store *st, int *version) AIM_WARN_UNUSED;

/* Fails with AIM_ERR_EXISTS when the name is taken. */
int store_user_add(struct store *st, const struct store_new_user *u, int64_t *id) AIM_WARN_UNUSED;
int store_user_get(struct store *st, const char *name, struct store_user *out) AIM_WARN_UNUSED;
int store_user_get_id(struct store *st, int64_t id, struct store_user *out) AIM_WARN_UNUSED;
/* Local users, the instance row excluded. */
int store_user_count(struct store *st, int64_t *n) AIM_WARN_UNUSED;
/* The private halves, for signing inside this process only; callers wipe
 * them (aim_free_secret) after use. */
int store_user_private_keys(struct store *st, int64_t id, char **rsa_pem,
			    char **ed_pem) AIM_WARN_UNUSED;

/* The value under (kind, key) and its version (*value owned, NULL when the
 * value is empty; value and len may be NULL: version only). AIM_ERR_NOTFOUND
 * while nothing was written there (its version is then 0). */
int store_state_get(struct store *st, const char *kind, const char *key, int64_t *version,
		    uint8_t **value, size_t *len) AIM_WARN_UNUSED;
/* Writes value under (kind, key) if its version is still `expected` (0: it
 * holds nothing yet); *version (NULL: not wanted) = the new version,
 * expected + 1. AIM_ERR_CONFLICT, nothing written, if the version moved. */
int store_state_cas(struct store *st, const char *kind, const char *key, int64_t expected,
		    const uint8_t *value, size_t len, int64_t *version) AIM_WARN_UNUSED;

/* hash = SHA-256 of the token; the token itself is never stored. */
int store_token_add(struct store *st, int64_t user, const uint8_t hash[32]) AIM_WARN_UNUSED;
int store_token_find(struct store *st, const uint8_t hash[32], int64_t *user) AIM_WARN_UNUSED;
/* Every local user, deleted ones included (deleted != 0), by name; fn's
 * non-zero return stops the listing and is returned. */
int store_user_list(struct store *st, store_user_info_fn fn, void *ctx) AIM_WARN_UNUSED;
/* The tokens of a user, oldest first (their hashes and creation times). */
int store_token_list(struct store *st, int64_t user, store_token_fn fn,
		     void *ctx) AIM_WARN_UNUSED;
/* Revokes one token: from then on store_token_find does not know it.
 * AIM_ERR_NOTFOUND if no token has that hash. */
int store_token_revoke(struct store *st, const uint8_t hash[32]) AIM_WARN_UNUSED;
/* Deletes a local user in one transaction: its tokens, keys, follows both
 * ways, blocks and inbox, and its activities and objects (from every inbox
 * and collection) go; its pending deliveries fail. The name stays taken:
 * store_user_get and store_user_get_id answer AIM_ERR_NOTFOUND for it,
 * store_user_gone says it was deleted, store_user_add refuses it
 * (AIM_ERR_EXISTS). AIM_ERR_NOTFOUND for no such (live) user. */
int store_user_delete(struct store *st, int64_t user) AIM_WARN_UNUSED;
/* Whether name belonged to a user who was deleted. */
int store_user_gone(struct store *st, const char *name, bool *gone) AIM_WARN_UNUSED;

/* Stores the activity, its object, audience and inbox rows in one durable
 * transaction. AIM_ERR_EXISTS when the activity or object id is taken. */
int store_activity_add(struct store *st, const struct store_new_activity *a,
		       int64_t *seq) AIM_WARN_UNUSED;
/* viewer: a local user id, or 0 for anonymous. An item the viewer may not
 * see is AIM_ERR_NOTFOUND, exactly like a missing one. Visible: the author,
 * anyone if public, and local users in its audience. */
int store_activity_get(struct store *st, const char *id, int64_t viewer,
		       struct store_item *out) AIM_WARN_UNUSED;
int store_object_get(struct store *st, const char *id, int64_t viewer,
		     struct store_item *out) AIM_WARN_UNUSED;
/* The outbox leaves out a Create whose object was deleted (the object's id
 * serves its Tombstone instead). */
int store_outbox_page(struct store *st, int64_t owner, int64_t viewer,
		      const struct store_range *r, struct store_page *out) AIM_WARN_UNUSED;
int store_outbox_count(struct store *st, int64_t owner, int64_t viewer,
		       int64_t *n) AIM_WARN_UNUSED;
int store_inbox_page(struct store *st, int64_t user, const struct store_range *r,
		     struct store_page *out) AIM_WARN_UNUSED;
int store_inbox_count(struct store *st, int64_t user, int64_t *n) AIM_WARN_UNUSED;
/* Collections of actors, newest first, paged like the outbox: each item's
 * json is the actor's id (a URL), its cursor the row's position; author 0.
 * followers: the accepted followers of user; following: the actors user
 * follows whose Follow was accepted. */
int store_followers_page(struct store *st, int64_t user, const struct store_range *r,
			 struct store_page *out) AIM_WARN_UNUSED;
int store_following_page(struct store *st, int64_t user, const struct store_range *r,
			 struct store_page *out) AIM_WARN_UNUSED;
int store_following_count(struct store *st, int64_t user, int64_t *n) AIM_WARN_UNUSED;
/* The actor's keyPackages collection: the last-resort KeyPackages of
 * owner's devices (never a consumable one: a listing must not hand out a
 * KeyPackage a claim could hand out again), newest first; item json = the
 * KeyPackage object; viewer is not used (every item is public). */
int store_keypackage_page(struct store *st, int64_t owner, int64_t viewer,
			  const struct store_range *r, struct store_page *out) AIM_WARN_UNUSED;
int store_keypackage_count(struct store *st, int64_t owner, int64_t viewer,
			   int64_t *n) AIM_WARN_UNUSED;

/* ---- Delivery queue (federation: outbound) -------------------------------- */

/* Enqueues deliveries of an activity not stored with store_activity_add
 * (store_new_activity.outgoing enqueues in that transaction instead). */
int store_delivery_enqueue(struct store *st, const struct store_outgoing *o) AIM_WARN_UNUSED;
/* Claims the pending row due first (next_ms <= now_ms, no live lease, its
 * recipient's older rows gone, its host under its limits: see above), with
 * its body, under a new lease of c->lease_ms. AIM_ERR_NOTFOUND if none. */
int store_delivery_claim(struct store *st, const struct store_claim *c, struct store_delivery *out,
			 struct store_lease *lease) AIM_WARN_UNUSED;
/* Extends a live lease to until_ms (lease->until_ms follows). */
int store_delivery_renew(struct store *st, struct store_lease *lease,
			 int64_t until_ms) AIM_WARN_UNUSED;
/* Gives the row back without an attempt (shutdown): claimable again now. */
int store_delivery_release(struct store *st, const struct store_lease *lease) AIM_WARN_UNUSED;
/* When the earliest pending delivery may be claimed (due, and its lease
 * ended); AIM_ERR_NOTFOUND if none. */
int store_delivery_earliest(struct store *st, int64_t *next_ms) AIM_WARN_UNUSED;
/* Records an attempt's outcome and ends the lease. */
int store_delivery_finish(struct store *st, const struct store_lease *lease,
			  const struct store_delivery_update *u) AIM_WARN_UNUSED;
/* Claims up to max rows in one transaction, each as store_delivery_claim
 * would in turn (the limits see the leases taken before it): out[i] and
 * leases[i] for i < *n. AIM_ERR_NOTFOUND if none. */
int store_delivery_claim_batch(struct store *st, const struct store_claim *c, size_t max,
			       struct store_delivery *out, struct store_lease *leases,
			       size_t *n) AIM_WARN_UNUSED;
/* Records n outcomes in one transaction: for each in order, the host's
 * count as store_host_failure (v[i].failures), the host's circuit opened
 * as store_delivery_defer_host when a failure makes the count reach
 * open_after (v[i].opened), then the outcome as store_delivery_finish. A stale lease fails its own entry only (v[i].rc,
 * v[i].err) and changes nothing of it; -1 only when the transaction failed
 * (then nothing is recorded). A back end without the batch operation records
 * them one by one, each failure in its own entry. */
int store_delivery_finish_batch(struct store *st, struct store_finish *v,
				size_t n) AIM_WARN_UNUSED;
/* Sets the inbox of a leased actor row. If the same activity already has a
 * row for that inbox the actor row is removed instead (*merged = true): one
 * POST per inbox. */
int store_delivery_resolve(struct store *st, const struct store_lease *lease, const char *inbox,
			   const char *host, bool *merged) AIM_WARN_UNUSED;
/* Opens host's circuit until until_ms: no claim gets its rows before, and
 * every pending one is pushed to at least until_ms. */
int store_delivery_defer_host(struct store *st, const char *host, int64_t until_ms) AIM_WARN_UNUSED;
/* Records as expired (STORE_DLV_EXPIRED, attempts unchanged) every pending
 * row created before created_before_ms that no attempt holds (no live
 * lease at now_ms); *n = how many. A host whose circuit stays open takes
 * one row per probe, so without this its rows would outlive the retry
 * period by a cooldown each. A back end without the operation: 0, none. */
int store_delivery_expire_overdue(struct store *st, int64_t created_before_ms, int64_t now_ms,
				  size_t *n) AIM_WARN_UNUSED;
/* Counts an attempt to host: a failure adds one to its failures in a row
 * (*failures = the count, NULL: not wanted), a success sets them to 0 and
 * closes its circuit. */
int store_host_failure(struct store *st, const char *host, bool failed, int64_t now_ms,
		       unsigned *failures) AIM_WARN_UNUSED;
/* Calls fn for every delivery, oldest first (body not filled); stops at the
 * first non-zero return and returns it. */
int store_delivery_list(struct store *st, store_delivery_fn fn, void *ctx) AIM_WARN_UNUSED;
/* The HTTP signature scheme remembered for a host (0: none yet). */
int store_host_scheme_get(struct store *st, const char *host, int *scheme) AIM_WARN_UNUSED;
int store_host_scheme_set(struct store *st, const char *host, int scheme) AIM_WARN_UNUSED;

/* ---- Federation: inbound ----------------------------------------------------- */

/* In one durable transaction: the received activity (with its object,
 * audience and inbox rows), its effects in order, and the reply. When the
 * same activity id is already stored for the same actor, only the missing
 * inbox and audience rows are added and nothing else happens (*dup = true:
 * deduplication per inbox). *added = the inbox rows inserted. AIM_ERR_DENIED
 * when the id belongs to another actor or an effect touches what the actor
 * does not own; AIM_ERR_STORAGE when the commit failed (nothing acknowledged). */
int store_inbound_commit(struct store *st, const struct store_inbound *in, bool *dup,
			 size_t *added) AIM_WARN_UNUSED;
/* Group commit: several inbound activities in one durable transaction (one
 * sync to disk). Each unit is kept as store_inbound_commit keeps one
 * activity, all of it or nothing: a unit that fails on its own (its id taken
 * by another actor, an effect denied or not found, a conflict, an invalid
 * activity) is undone alone and reports its failure; the others are kept.
 * Returns 0 when the transaction is durable (then each unit's rc says whether
 * it was kept). Returns -1 when the batch failed as a whole (AIM_ERR_STORAGE,
 * AIM_ERR_BUSY, AIM_ERR_NOMEM): nothing of it is stored and every unit has
 * rc -1 with that failure. */
int store_inbound_commit_batch(struct store *st, struct store_inbound_unit *u,
			       size_t n) AIM_WARN_UNUSED;
/* The followers of a local user in a state (oldest first), from offset, at
 * most limit (1..1000). */
int store_followers_list(struct store *st, int64_t user, int state, int64_t offset, size_t limit,
			 store_follower_fn fn, void *ctx) AIM_WARN_UNUSED;
int store_followers_count(struct store *st, int64_t user, int state, int64_t *n) AIM_WARN_UNUSED;
/* Whether user follows actor: *state, or AIM_ERR_NOTFOUND. */
int store_following_state(struct store *st, int64_t user, const char *actor,
			  int *state) AIM_WARN_UNUSED;
/* Whether the local user blocks actor. */
int store_blocked(struct store *st, int64_t user, const char *actor, bool *out) AIM_WARN_UNUSED;
/* The per-user setting "approve followers by hand" (default off). */
int store_manual_approval_get(struct store *st, int64_t user, bool *on) AIM_WARN_UNUSED;
int store_manual_approval_set(struct store *st, int64_t user, bool on) AIM_WARN_UNUSED;
/* Any stored activity by id, regardless of visibility: its author (a local
 * user id, or the STORE_REMOTE_NAME row), its remote actor (NULL for a local
 * activity) and its JSON. Each out-parameter may be NULL. */
int store_activity_lookup(struct store *st, const char *id, int64_t *author, char **actor,
			  char **json) AIM_WARN_UNUSED;
/* The local users whose follow of actor was accepted (at most max). */
int store_following_users(struct store *st, const char *actor, int64_t *ids, size_t max,
			  size_t *n) AIM_WARN_UNUSED;

/* ---- Identity: CA certificates and devices ---------------------------------- */

/* Stores a CA certificate (DER, 1..16384 bytes); *id (NULL: not wanted)
 * names it, and its private key's file. Ids grow: the newest is the largest. */
int store_ca_cert_add(struct store *st, const uint8_t *der, size_t len,
		      int64_t *id) AIM_WARN_UNUSED;
/* The CA certificates, newest first. */
int store_ca_cert_list(struct store *st, store_ca_cert_fn fn, void *ctx) AIM_WARN_UNUSED;
/* Registers a device (create = true) or renews it (create = false), in one
 * transaction. create: a new id is added; the same id with the same key
 * gets the new leaf (a repeated registration); the id with another key is
 * AIM_ERR_EXISTS, so is a key another device of the user holds; a revoked
 * id is AIM_ERR_STATE. renew: the device must exist (AIM_ERR_NOTFOUND) and
 * not be revoked (AIM_ERR_STATE); its key, leaf and expiry are replaced (a
 * key another device holds is AIM_ERR_EXISTS). */
int store_device_register(struct store *st, const struct store_new_device *d) AIM_WARN_UNUSED;
int store_device_renew(struct store *st, const struct store_new_device *d) AIM_WARN_UNUSED;
/* One device of user by id (revoked ones too); AIM_ERR_NOTFOUND if none. */
int store_device_get(struct store *st, int64_t user, const char *device,
		     struct store_device *out) AIM_WARN_UNUSED;
/* The device of user whose MLS signature key is (alg, pk), revoked ones
 * too (check ->revoked); AIM_ERR_NOTFOUND if none. */
int store_device_by_key(struct store *st, int64_t user, int alg, const uint8_t *pk,
			size_t pk_len, struct store_device *out) AIM_WARN_UNUSED;
/* The devices of user by id, revoked ones too. */
int store_device_list(struct store *st, int64_t user, store_device_fn fn,
		      void *ctx) AIM_WARN_UNUSED;
/* Revokes a device and withdraws its KeyPackages, in one transaction.
 * AIM_ERR_NOTFOUND if the user has no such device; revoking a revoked one
 * changes nothing and succeeds. */
int store_device_revoke(struct store *st, int64_t user, const char *device) AIM_WARN_UNUSED;
/* ---- The KeyPackage directory ---------------------------------------------------- */

/* Stores the KeyPackages v[0..n) of user's devices in one transaction: all or
 * none. A last-resort one replaces the device's previous last-resort one
 * (at most one per device in a batch). AIM_ERR_EXISTS when a reference is
 * already stored (also a consumed one: a KeyPackage is uploaded once);
 * AIM_ERR_DENIED when a device is not a registered, unrevoked device of the
 * user (store_device_register); AIM_ERR_LIMIT when a device would then hold more than max_per_device
 * consumable KeyPackages not handed out (0: no limit); AIM_ERR_INVALID for
 * a bad argument. */
int store_keypackage_add(struct store *st, int64_t user, const struct store_new_keypackage *v,
			 size_t n, size_t max_per_device) AIM_WARN_UNUSED;
/* Calls fn for each device of user that holds a KeyPackage (by device id). */
int store_keypackage_stock(struct store *st, int64_t user, store_kp_stock_fn fn,
			   void *ctx) AIM_WARN_UNUSED;
/* The claim, in one write transaction: for each device of user, the oldest
 * KeyPackage not handed out, not expired at now, in the first of suites[]
 * (the claimer's order of preference) the device has one in, marked
 * handed out to claimer (a conditional update: a KeyPackage another claim
 * took in between is never handed out twice; such a race is
 * AIM_ERR_CONFLICT, nothing written); a device with none left gets its
 * last-resort KeyPackage if it is in one of suites, marked last_resort. A
 * device with neither in any accepted suite is left out. out (zeroed first)
 * is owned by the caller (store_kp_claim_clear). */
int store_keypackage_claim(struct store *st, int64_t user, const uint16_t *suites,
			   size_t n_suites, const char *claimer, int64_t now,
			   struct store_kp_claim *out) AIM_WARN_UNUSED;
/* Removes every KeyPackage of the device not handed out (its last-resort
 * one included): the device was revoked. *withdrawn (NULL: not wanted) =
 * how many. */
int store_keypackage_withdraw_device(struct store *st, int64_t user, const char *device,
				     int64_t *withdrawn) AIM_WARN_UNUSED;
/* The user's consent to claims (enum store_claims_policy). */
int store_claims_policy_get(struct store *st, int64_t user, int *policy) AIM_WARN_UNUSED;
int store_claims_policy_set(struct store *st, int64_t user, int policy) AIM_WARN_UNUSED;

/* Channels (see their section above). store_channel_apply: AIM_ERR_CONFLICT
 * when the hub state moved since `expected` (nothing written). */
int store_channel_apply(struct store *st, const struct store_channel_change *c) AIM_WARN_UNUSED;
int store_channel_get(struct store *st, const char *id, struct store_channel *out) AIM_WARN_UNUSED;
int store_channel_members(struct store *st, const char *id, store_channel_member_fn fn,
			  void *ctx) AIM_WARN_UNUSED;
/* The outbox, newest first; after > 0: only sequence numbers above it,
 * oldest first (a receiver catching up). Items' cursor = the sequence. */
int store_channel_outbox_page(struct store *st, const char *id, int64_t after,
			      const struct store_range *r, struct store_page *out) AIM_WARN_UNUSED;
/* The highest sequence number in channel id's outbox (0: none yet). With
 * keep_state changes the hub state's own next sequence lags behind: the
 * next one is this + 1. Every change that takes sequence seq checks, in its
 * transaction, that the outbox has none at or after it (AIM_ERR_CONFLICT:
 * "sequence taken", to be read and decided again). */
int store_channel_last_seq(struct store *st, const char *id, int64_t *seq) AIM_WARN_UNUSED;
/* Member side: user is (member true) or is no longer a member of channel. */
int store_channel_join(struct store *st, const char *channel, int64_t user,
		       bool member) AIM_WARN_UNUSED;
/* The local members of a remote channel (owned array). */
int store_channel_joined(struct store *st, const char *channel, int64_t **users,
			 size_t *n) AIM_WARN_UNUSED;
/* Member side: remote channel `from` moved to `to` (a Move its new actor
 * signed, checked by the caller): the memberships, the last sequence
 * received and the Announces held move to the new actor id in one
 * transaction, so its sequence numbers continue where the old ones ended.
 * AIM_ERR_NOTFOUND when no local user is a member of `from`. */
int store_channel_moved(struct store *st, const char *from, const char *to) AIM_WARN_UNUSED;
/* Member side, in one transaction: an Announce of sequence seq goes into the
 * local members' inboxes when it is the next one (then so do the held ones
 * that follow it), is held when it comes early, and is dropped as a
 * duplicate when seen already; *delivered counts inbox rows. AIM_ERR_DENIED
 * when no local user is a member. */
int store_channel_receive(struct store *st, const struct store_channel_recv *m,
			  size_t *delivered) AIM_WARN_UNUSED;

/* ---- Operations ----------------------------------------------------------- */

/* The latest schema version this back end's build knows. */
int store_schema_latest(struct store *st, int *version) AIM_WARN_UNUSED;
/* Applies the pending schema migrations in order, each in its own
 * transaction, calling fn (NULL: none) after each. AIM_ERR_UNSUPPORTED,
 * nothing applied, when the database is newer than this build. */
int store_migrate(struct store *st, store_migrated_fn fn, void *ctx) AIM_WARN_UNUSED;
/* Checks the database's own structure (SQLite: PRAGMA quick_check). 0 with
 * *problem = NULL when it is sound; 0 with *problem (owned) naming what is
 * damaged when it is not; -1 when the check could not run. */
int store_integrity_check(struct store *st, char **problem) AIM_WARN_UNUSED;
/* Every row of STORE_EXPORT_TABLES, table by table in that order, from one
 * consistent read (works while the store is in use). */
int store_export_rows(struct store *st, store_row_fn fn, void *ctx) AIM_WARN_UNUSED;
/* In one write transaction: the store's rows of STORE_EXPORT_TABLES are
 * replaced by the rows next() gives (any order of tables that keeps each
 * row after the rows it refers to; STORE_EXPORT_TABLES' order does).
 * Refused (AIM_ERR_EXISTS, nothing written) when the store holds a domain
 * already (a meta "domain" or a local user): import goes into a fresh
 * store. AIM_ERR_INVALID for a table not in the list or a bad column; a
 * row that breaks the schema fails the whole import. Delivery leases do not
 * come along (their holders belong to the exporting store): every pending
 * delivery is claimable at once. */
int store_import_rows(struct store *st, store_row_next_fn next, void *ctx) AIM_WARN_UNUSED;
/* Counts for monitoring (now: seconds, for KeyPackage expiry); out zeroed first. */
int store_stats(struct store *st, int64_t now, struct store_stats *out) AIM_WARN_UNUSED;

/* Starts a listener calling fn for the events of every process sharing the
 * store (see "Events between processes"); AIM_ERR_UNSUPPORTED when the back
 * end has none. */
int store_events_listen(struct store *st, store_event_fn fn, void *ctx,
			struct store_listener **out) AIM_WARN_UNUSED;
/* Stops and frees the listener (NULL is fine); fn is not called after. */
void store_events_unlisten(struct store *st, struct store_listener *l);

#endif
