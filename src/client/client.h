/*
 * client: the device side of aim, as a library. One struct client is one
 * device of one user: its MLS signature key, the X.509 credential its home
 * server issued for that key, the private parts of the KeyPackages it
 * published, and what it has learnt of other domains (their CA documents,
 * the actors behind handles). The `aim` command, the tests' driver and
 * (later) a WebAssembly web client are built on it.
 *
 * A core without I/O, and a shell. The core (core_*.c) never opens a file
 * or a socket: it reaches the world through struct client_io (below), a
 * table of functions for HTTP to the home server, a durable key-value store
 * with transactions, and the clock. Randomness comes from the crypto layer
 * (aim_random), whose back end is the one thing a web build replaces besides
 * the shell. The shell here implements client_io with libcurl (io_curl.c)
 * and SQLite (io_sqlite.c, a file of mode 0600); a web build puts the
 * browser's fetch and IndexedDB behind the same table. No core file
 * includes curl or sqlite headers.
 *
 * The device speaks only to its home server, with its user's bearer token
 * over the client API. What it needs from another domain (that domain's CA
 * document at /.well-known/aim-ca, a remote actor, its keyPackages
 * collection, a WebFinger answer) it asks its server to fetch with
 * `POST BASE/proxy` (the actor's endpoints.proxyUrl), so that the server's
 * outbound guard applies and the device never connects elsewhere.
 *
 * Flow (the server side of each step: README "Client API", identity part):
 *   client_create()      a new device: config (home BASE, user, token,
 *                        device id, cipher suite) saved; a fresh MLS
 *                        signature key of the suite.
 *   client_register()    PKCS#10 CSR over that key (proof of possession),
 *                        POST /users/NAME/devices -> X.509 leaf + chain;
 *                        the leaf is checked against the chain, its key
 *                        against ours, its SAN is our acct: URI.
 *   client_publish()     n KeyPackages (+ one last-resort one) with the x509
 *                        credential [leaf, CA]; the private parts are
 *                        durable BEFORE the upload (a KeyPackage the server
 *                        may hand out is one we can always join with).
 *   client_stock() / client_topup(threshold, target)
 *                        how many are left on the server; tops up below the
 *                        threshold.
 *   client_claim()       asks the home server to claim KeyPackages of
 *                        acct: handles (one per device of each); every one
 *                        is validated (RFC 9420 section 10.1) with the
 *                        credential check below, bound to the handle.
 *   client_verify_credential()
 *                        the credential check: x509 -> chain to the CA of
 *                        the acct's domain (fetched through the proxy,
 *                        cached with a TTL), validity, keyUsage, SAN == the
 *                        acct: URI, certified key == the leaf's signature
 *                        key; basic -> only if the peer's actor lists a
 *                        KeyPackage with that credential and key in its
 *                        keyPackages collection (the SWICG check; that
 *                        collection lists last-resort KeyPackages only).
 *                        The verdict says which check vouched.
 *   client_hook_*()      the same check as an mls_credential_hook: every
 *                        credential of every group this device is in
 *                        (joiners, committers, updaters, tree members,
 *                        external senders) goes through it.
 *
 * State in the key-value store (values are JSON, except where noted):
 *   "device"        config, keys (the signature private key in base64),
 *                   certificate, chain, acct URI
 *   "kp/REFHEX"     one published KeyPackage: its MLSMessage and private
 *                   part, last_resort, uploaded
 *   "ca/AUTHORITY"  a domain's CA document and when it was fetched
 *   "actor/ACCT"    the actor URL behind a handle (from claims, WebFinger)
 * The file therefore holds private keys: the shell creates it 0600 and
 * refuses to open one readable by others.
 *
 * Conventions: base.h results; AIM_ERR_REMOTE when the home server (or the
 * peer behind the proxy) failed, AIM_ERR_STORAGE when the local store did,
 * the server's refusal mapped to an aim_err with its error code kept
 * (client_server_error()). Symbols carry the prefix client_.
 */
#ifndef AIM_CLIENT_H
#define AIM_CLIENT_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/mls.h"

/* ---- The I/O interface --------------------------------------------------- */

#define CLIENT_MAX_RESPONSE ((size_t)8 << 20) /* body of one HTTP answer */
#define CLIENT_MAX_VALUE ((size_t)8 << 20)    /* one key-value entry */

struct client_http_request {
	const char *method;       /* "GET", "POST", "DELETE" */
	const char *url;          /* absolute; always under the home BASE */
	const char *content_type; /* NULL: no body */
	struct aim_bytes body;
	const char *bearer;       /* NULL: no Authorization header */
	const char *accept;       /* NULL: no Accept header */
	const char *last_event_id; /* NULL: no Last-Event-ID header (streams) */
};

struct client_http_response {
	long status;
	struct aim_buf body;      /* initialised by the caller (its max applies) */
	char content_type[128];   /* "" if none */
	int64_t retry_after;      /* seconds, 0 if none */
};

/* Called for each entry under a prefix, in key order; a non-zero return
 * stops the walk and is returned. */
typedef int (*client_kv_fn)(void *arg, const char *key, struct aim_bytes value);

struct client_io {
	/* One HTTP exchange. 0 with resp filled for ANY status; -1 when no
	 * answer came (AIM_ERR_REMOTE, AIM_ERR_TIMEOUT, AIM_ERR_NOHOST). */
	int (*http)(void *ctx, const struct client_http_request *req,
		    struct client_http_response *resp);
	void *http_ctx;
	/* Durable key-value store. get appends the value (AIM_ERR_NOTFOUND if
	 * absent); put replaces; del of an absent key is 0. Outside a
	 * transaction every put/del is durable when it returns; inside one
	 * (begin .. commit), all of them become durable together at commit or
	 * none (rollback, or a failed commit). Transactions do not nest: the
	 * core opens one at a time. */
	int (*kv_get)(void *ctx, const char *key, struct aim_buf *value);
	int (*kv_put)(void *ctx, const char *key, struct aim_bytes value);
	int (*kv_del)(void *ctx, const char *key);
	int (*kv_list)(void *ctx, const char *prefix, client_kv_fn fn, void *arg);
	int (*kv_begin)(void *ctx);
	int (*kv_commit)(void *ctx);
	void (*kv_rollback)(void *ctx);
	void *kv_ctx;
	/* Wall clock, seconds since the epoch. */
	int64_t (*now)(void *ctx);
	void *clock_ctx;
	/* Optional (NULL: the device polls): a GET whose answer is a stream,
	 * the inbox's Server-Sent Events. stream_open starts it (*h set; -1
	 * when no connection could be made); stream_read waits up to wait_ms
	 * for more of the body and appends what came to out (0, out unchanged
	 * when nothing came in time), or returns -1 once the stream is over
	 * (AIM_ERR_REMOTE: closed by the server or the network; *status: the
	 * HTTP status once known, 0 before); stream_close ends and frees it.
	 * Uses http_ctx; the other calls of this table stay usable while a
	 * stream is open. */
	int (*stream_open)(void *ctx, const struct client_http_request *req, void **h);
	int (*stream_read)(void *h, int wait_ms, struct aim_buf *out, long *status);
	void (*stream_close)(void *h);
};

/* ---- The device ------------------------------------------------------------ */

#define CLIENT_DEFAULT_SUITE 1
#define CLIENT_DEVICE_MAX 64      /* device ids: 1-64 of [A-Za-z0-9_-] */
#define CLIENT_ACCT_MAX 512
#define CLIENT_CA_TTL_DEFAULT 3600 /* seconds a fetched CA document is used */
#define CLIENT_CA_REFETCH_MIN 30   /* a failing chain refetches an older one */
#define CLIENT_PUBLISH_BATCH 100   /* KeyPackages per upload (server limit) */

struct client_config {
	const char *server;   /* home BASE, e.g. https://a.test */
	const char *user;     /* the user's name on it */
	const char *token;    /* bearer token of that user */
	const char *device;   /* this device's id */
	uint16_t suite;       /* 0: CLIENT_DEFAULT_SUITE */
};

struct client;

/* Progress of a long operation (client.h, "Progress of long operations"). */
typedef void (*client_progress_fn)(void *arg, const char *stage, size_t done, size_t total);

/* A new device in an empty store: saves the config and a fresh signature
 * key. AIM_ERR_EXISTS if the store holds a device already. The io table
 * is copied; its contexts must outlive the client. */
int client_create(const struct client_io *io, const struct client_config *cfg,
		  struct client **out) AIM_WARN_UNUSED;
/* The device of a store (AIM_ERR_NOTFOUND if none). */
int client_open(const struct client_io *io, struct client **out) AIM_WARN_UNUSED;
void client_free(struct client *c);

/* Read-only views (borrowed, valid while c lives). */
const char *client_device_id(const struct client *c);
const char *client_user(const struct client *c);
const char *client_server(const struct client *c);
/* "acct:user@domain" from our certificate's SAN; "" before registering. */
const char *client_acct(const struct client *c);
uint16_t client_suite(const struct client *c);
struct aim_bytes client_signature_key(const struct client *c);
/* Our certificate (DER), empty before registering; its notAfter. */
struct aim_bytes client_certificate(const struct client *c);
int64_t client_cert_not_after(const struct client *c);
/* How long a fetched CA document is trusted (default CLIENT_CA_TTL_DEFAULT). */
void client_set_ca_ttl(struct client *c, int64_t seconds);

/* The error code string of the server's last refusal ("bad_csr", ...), ""
 * if the last call got no refusal; and its HTTP status (0 if none). */
const char *client_server_error(const struct client *c);
long client_server_status(const struct client *c);

/* ---- Registration (credential) --------------------------------------------- */

/* CSR over our signature key, POST /users/NAME/devices; stores the leaf
 * and chain after checking them (leaf chains to the chain's CA, certified
 * key == ours, one SAN URI acct:NAME@...). A second call re-registers the
 * same key (the server answers 409 if the id is taken by another key). */
int client_register(struct client *c) AIM_WARN_UNUSED;
/* POST .../devices/ID/renew with a CSR over our key (new_key: a fresh
 * signature key first; KeyPackages of the old key stay usable until the
 * old certificate expires). */
int client_renew(struct client *c, bool new_key) AIM_WARN_UNUSED;

/* ---- KeyPackages ------------------------------------------------------------ */

/* Generates n KeyPackages (and a last-resort one if last_resort) with the
 * x509 credential [leaf, CA], stores their private parts, uploads them in
 * batches of CLIENT_PUBLISH_BATCH. *accepted (may be NULL) counts those the
 * server accepted. AIM_ERR_STATE before registering. */
int client_publish(struct client *c, size_t n, bool last_resort, size_t *accepted)
	AIM_WARN_UNUSED;

struct client_stock {
	int64_t available;   /* consumable KeyPackages left on the server */
	bool last_resort;    /* the server holds a last-resort one */
	size_t stored;       /* private parts kept locally */
};
int client_stock(struct client *c, struct client_stock *out) AIM_WARN_UNUSED;
/* Publishes target - available KeyPackages when available < threshold
 * (and a last-resort one when the server has none). *published (may be
 * NULL) counts the uploads (0: the stock was enough). */
int client_topup(struct client *c, int64_t threshold, int64_t target, size_t *published)
	AIM_WARN_UNUSED;

/* ---- Verification ------------------------------------------------------------ */

enum client_check {
	CLIENT_CHECK_NONE = 0,       /* refused */
	CLIENT_CHECK_X509,           /* the domain's CA certified the key */
	CLIENT_CHECK_KEYPACKAGE_LIST /* basic: the actor lists the KeyPackage */
};
const char *client_check_name(enum client_check k); /* "x509", "keypackage-listing", "none" */

struct client_verdict {
	enum client_check check;     /* which check vouched; NONE: refused */
	char acct[CLIENT_ACCT_MAX];  /* the acct: URI it speaks for */
	char reason[320];            /* why refused, or what vouched */
	int64_t not_after;           /* x509: the certificate's end */
	size_t anchor;               /* x509: index of the CA certificate */
};

/* The credential check (see the header comment). acct: the acct: URI the
 * credential must speak for; NULL: the one it names (x509: its SAN; basic:
 * its identity). signature_key: the leaf node's. 0 when accepted (v tells
 * which check); -1 when refused (AIM_ERR_VERIFY: a check failed,
 * AIM_ERR_UNSUPPORTED: a credential type we do not accept, AIM_ERR_REMOTE:
 * the CA or the listing could not be fetched) with v->reason. */
int client_verify_credential(struct client *c, const struct mls_credential *cred,
			     const char *acct, struct aim_bytes signature_key,
			     struct client_verdict *v) AIM_WARN_UNUSED;

/* The check as an mls_credential_hook. Every group of this device is made
 * with it (mls_group_config.hook), so that every credential met passes.
 * expect (may be NULL) pins the acct: URI every credential must speak for
 * (claims for one handle). Each verdict is reported to report (may be NULL)
 * and the last one kept. */
typedef void (*client_report_fn)(void *arg, enum mls_credential_role role,
				 const struct client_verdict *v);
struct client_hook {
	struct client *c;
	const char *expect;
	client_report_fn report;
	void *report_arg;
	struct client_verdict last;
	size_t accepted, refused;
	struct mls_credential_hook mls;  /* pass &h->mls to the MLS library */
};
void client_hook_init(struct client_hook *h, struct client *c, const char *expect);

/* ---- Claims ------------------------------------------------------------------ */

struct client_claimed {
	char device[128];          /* the server's opaque device reference */
	uint16_t suite;
	bool last_resort;          /* marked so by the server */
	struct aim_buf message;    /* the MLSMessage as received */
	struct mls_key_package kp; /* decoded */
	bool valid;                /* passed validation and the credential check */
	struct client_verdict verdict;
	char error[320];           /* why not valid */
};

struct client_claim_result {
	char handle[CLIENT_ACCT_MAX];
	char actor[1024];          /* "" if the server gave none */
	char error[128];           /* the server's code for this handle, "" if ok */
	char detail[320];          /* and its explanation */
	struct client_claimed *kps;
	size_t n_kps;
};

/* POST /users/NAME/claim for the handles (acct: URIs) in our suite; each
 * KeyPackage returned is decoded and validated (suite, RFC 9420 section
 * 10.1 at now, credential check bound to its handle). *out (n_handles
 * entries, free with client_claim_results_free) follows the server's
 * order. A KeyPackage that fails is kept with valid false and the reason. */
int client_claim(struct client *c, const char *const *handles, size_t n_handles,
		 struct client_claim_result **out, size_t *n_out) AIM_WARN_UNUSED;
void client_claim_results_free(struct client_claim_result *r, size_t n);

/* ---- Message content (inside MLS application messages) ----------------------
 *
 * What a PrivateMessage of a conversation carries: one JSON object (UTF-8,
 * no BOM), documented in docs/content.md. Every message has an id (1-64 of
 * [A-Za-z0-9_-], chosen at random by its sender); the others refer to one:
 *   {"type": "text",     "id": ID, "text": T}
 *   {"type": "reply",    "id": ID, "inReplyTo": ID0, "text": T}
 *   {"type": "reaction", "id": ID, "target": ID0, "reaction": R, "remove": false}
 *   {"type": "edit",     "id": ID, "target": ID0, "text": T}
 *   {"type": "delete",   "id": ID, "target": ID0}
 * Members not named here are ignored (a later version may add some). Any
 * other type is kept as unknown (its "text", if a string, shown beside it).
 *
 * A timeline (client_content_apply) is the view of one conversation that
 * the rules below build from its messages in delivery order, each with the
 * acct: URI its MLS credential speaks for (the sender; never a field of
 * the content):
 *   - an id already in the timeline is a duplicate: dropped, whoever sent it;
 *   - text, reply and unknown types add an entry (a reply to an unknown id
 *     is kept, its target shown as unknown);
 *   - edit and delete are honoured only from the sender of their target
 *     (an entry of type text or reply that is not deleted); an edit
 *     replaces the text, a delete drops text and reactions for good;
 *   - a reaction is one per (sender, reaction) on its target; remove takes
 *     back the sender's own only;
 *   - content that does not decode is an entry "undecodable" with the
 *     reason: never fatal, never honoured as an edit or delete.
 * Pure: no I/O, no clock (the caller passes the time it shows).
 */

#define CLIENT_CONTENT_ID_MAX 64
#define CLIENT_CONTENT_TEXT_MAX ((size_t)64 << 10) /* bytes of a text */
#define CLIENT_CONTENT_REACTION_MAX 64             /* bytes of a reaction */
#define CLIENT_CONTENT_TYPE_MAX 32                 /* bytes of a type name */

enum client_content_type {
	CLIENT_CONTENT_UNKNOWN = 0,   /* a type this version does not know */
	CLIENT_CONTENT_TEXT,
	CLIENT_CONTENT_REPLY,
	CLIENT_CONTENT_REACTION,
	CLIENT_CONTENT_EDIT,
	CLIENT_CONTENT_DELETE,
	CLIENT_CONTENT_UNDECODABLE,   /* timeline entries only: content that did not decode */
};
/* "text", "reply", "reaction", "edit", "delete", "unknown", "undecodable" */
const char *client_content_type_name(enum client_content_type t);

struct client_content {
	enum client_content_type type;
	char type_name[CLIENT_CONTENT_TYPE_MAX + 1]; /* as written (unknown types too) */
	char id[CLIENT_CONTENT_ID_MAX + 1];
	char target[CLIENT_CONTENT_ID_MAX + 1];      /* reply: inReplyTo; reaction, edit, delete */
	char *text;      /* owned: text, reply, edit: the text; reaction: the reaction;
			    unknown: its "text" if any; else NULL */
	bool remove;     /* reaction: takes it back */
};

/* A fresh random id (32 hex digits) into id. */
int client_content_new_id(char id[CLIENT_CONTENT_ID_MAX + 1]) AIM_WARN_UNUSED;
/* Checks m (id and target syntax, the fields its type needs, sizes) and
 * appends its JSON. AIM_ERR_INVALID if m is not a valid message. */
int client_content_encode(const struct client_content *m, struct aim_buf *out) AIM_WARN_UNUSED;
/* Decodes one message into *m (free with client_content_free): 0 for a
 * known type with its fields, and for an unknown type (m->type UNKNOWN,
 * type_name kept); AIM_ERR_DECODE when b is not such an object, or a
 * known type lacks or misspells a field it needs. */
int client_content_decode(struct aim_bytes b, struct client_content *m) AIM_WARN_UNUSED;
void client_content_free(struct client_content *m);

struct client_content_reaction {
	char sender[CLIENT_ACCT_MAX];
	char reaction[CLIENT_CONTENT_REACTION_MAX + 1];
};
struct client_content_entry {
	char id[CLIENT_CONTENT_ID_MAX + 1];     /* "" for undecodable content */
	char sender[CLIENT_ACCT_MAX];
	enum client_content_type type;          /* TEXT, REPLY, UNKNOWN, UNDECODABLE */
	char type_name[CLIENT_CONTENT_TYPE_MAX + 1];
	char reply_to[CLIENT_CONTENT_ID_MAX + 1];
	char *text;       /* owned: the current text; NULL once deleted; the
			     reason for undecodable content */
	int64_t time;     /* as given to client_content_apply */
	bool edited, deleted;
	struct client_content_reaction *reactions;
	size_t n_reactions;
};
/* Where the ids the timeline has seen are kept (every message's, edits,
 * deletes and reactions too). */
struct client_content_seen {
	char id[CLIENT_CONTENT_ID_MAX + 1];
};
struct client_content_timeline {
	struct client_content_entry *entries;
	size_t n, cap;
	struct client_content_seen *seen;
	size_t n_seen, cap_seen;
};

enum client_content_outcome {
	CLIENT_CONTENT_ADDED = 1,    /* a new entry (text, reply, unknown, undecodable) */
	CLIENT_CONTENT_EDITED,
	CLIENT_CONTENT_DELETED,
	CLIENT_CONTENT_REACTED,
	CLIENT_CONTENT_UNREACTED,
	CLIENT_CONTENT_DUPLICATE,    /* id seen already: dropped */
	CLIENT_CONTENT_NOT_SENDER,   /* edit / delete not from the target's sender: ignored */
	CLIENT_CONTENT_NO_TARGET,    /* its target is not an entry it may act on: ignored */
};
const char *client_content_outcome_name(enum client_content_outcome o);

void client_content_timeline_init(struct client_content_timeline *t);
void client_content_timeline_free(struct client_content_timeline *t);
/* Applies one received message (raw content bytes) from sender (an acct:
 * URI) with the rules above; *outcome says what it did and *index (may be
 * NULL) the entry it added or acted on (SIZE_MAX if none). Fails only on
 * allocation or a limit of the timeline (AIM_ERR_LIMIT past
 * CLIENT_CONTENT_TIMELINE_MAX entries). */
#define CLIENT_CONTENT_TIMELINE_MAX 100000
int client_content_apply(struct client_content_timeline *t, const char *sender, int64_t time,
			 struct aim_bytes raw, enum client_content_outcome *outcome,
			 size_t *index) AIM_WARN_UNUSED;
/* The entry with that id (NULL if none). */
const struct client_content_entry *
client_content_find(const struct client_content_timeline *t, const char *id);

/* ---- Proxy and raw state --------------------------------------------------- */

/* GET of a URL of another domain through the home server's proxy; appends
 * the body (AIM_ERR_REMOTE on a failed fetch). For the core and tools. */
int client_proxy_get(struct client *c, const char *url, const char *accept,
		     struct aim_buf *body) AIM_WARN_UNUSED;

/* Walks every entry of the store (tests, debugging): values are secrets. */
int client_dump(struct client *c, client_kv_fn fn, void *arg) AIM_WARN_UNUSED;

/* ---- The shell: libcurl and SQLite -------------------------------------------- */

struct client_curl_opts {
	const char *ca_file;                 /* PEM bundle to trust (NULL: system) */
	const char *const *connect_to;       /* "HOST:PORT:ADDR:PORT" entries */
	size_t n_connect_to;
	long timeout_ms;                     /* 0: 30000 */
};

/* The HTTP part of client_io over libcurl (io_curl.c): http / http_ctx and
 * the event stream (stream_*, on a multi handle of its own). */
int client_curl_open(const struct client_curl_opts *o, struct client_io *io) AIM_WARN_UNUSED;
void client_curl_close(struct client_io *io);

/* The store and clock over SQLite (io_sqlite.c): the file is created with
 * mode 0600; an existing file with any group or other permission bit is
 * refused (AIM_ERR_DENIED). Sets kv_* / now. */
int client_sqlite_open(const char *path, struct client_io *io) AIM_WARN_UNUSED;
void client_sqlite_close(struct client_io *io);

/* ---- Channels and group DMs (MLS groups) --------------------------------------
 *
 * The device's MLS groups (issue 11; wire formats: README "Channels"). A
 * conversation is a channel (its URL, a Group actor on the server of its
 * owner, which is the hub of its MLS group) or a group DM (addressed to its
 * participants directly; its hub is the server of the participant who made
 * it; a 1:1 DM is a group DM of two). Every group is made and joined with
 * the credential hook of the identity part (client_hook_*): every
 * credential met passes the domain-CA check.
 *
 *   client_channel_create()  a fresh group with our x509 credential,
 *                            KeyPackages claimed for the handles
 *                            (client_claim), one Commit of their Adds as a
 *                            PublicMessage (epoch 0 -> 1), the Welcome with
 *                            the ratchet tree, and a GroupInfo of epoch 1
 *                            with ratchet tree and external_pub; POSTed to
 *                            our outbox as the channel's Create. The
 *                            pending commit is merged on the server's 201.
 *   client_channel_add/remove()
 *                            an Add / Remove to the channel carrying the
 *                            Commit (and the Welcome). A 409 (stale epoch)
 *                            syncs, so that the winning commit is applied,
 *                            and retries once on the new epoch.
 *   client_send()            a PrivateMessage (content: JSON {"type":
 *                            "text", "text": ...}) in a Create addressed
 *                            to the channel (a DM: to its participants).
 *   client_dm_send()         the same to a set of handles: the DM group of
 *                            exactly that set (us included) is made on
 *                            first use, its Welcome rides on the first
 *                            message (aim:welcome, aim:hub).
 *   client_sync()            pages the inbox of the home server from where
 *                            it stopped: a Welcome joins its group (with
 *                            the private part of the KeyPackage it names);
 *                            an Announce of a channel is applied in
 *                            aim:sequence order (duplicates dropped, a gap
 *                            buffered and filled by paging the channel's
 *                            outbox ?after=SEQ through the proxy); a
 *                            message of an epoch whose commit is not yet
 *                            applied waits for it; every message is
 *                            decrypted into the history.
 *   client_messages()        the history of one conversation.
 *
 * Ordering (core_group_seq.c, a pure decision): see client_seq_decide().
 *
 * State in the key-value store:
 *   "group/GIDHEX"   one group: kind, conversation URL, the serialised MLS
 *                    state (secret), last applied sequence, buffered items,
 *                    ids seen, members (acct -> actor)
 *   "conv/URL"       the group of a conversation
 *   "dmset/H1,H2.."  the DM of exactly that set of handles (sorted)
 *   "msg/GIDHEX/N"   the N-th history entry of a group
 *   "sync/inbox"     where inbox paging resumes
 */

#define CLIENT_MAX_MEMBERS 300      /* handles in one create / add */
#define CLIENT_SEEN_MAX 1024        /* activity ids remembered per group */
#define CLIENT_BUFFER_MAX 4096      /* items buffered per group */

/* What to do with one inbound item of a group. */
enum client_seq_verdict {
	CLIENT_SEQ_APPLY = 1,  /* next in order: apply it now */
	CLIENT_SEQ_DUPLICATE,  /* already applied (sequence or id): drop */
	CLIENT_SEQ_GAP,        /* a sequence is missing before it: buffer, fetch */
	CLIENT_SEQ_WAIT,       /* a message of an epoch not reached yet: buffer */
	CLIENT_SEQ_STALE,      /* of an epoch before ours: skip (advances seq) */
};
struct client_seq_item {
	uint64_t seq;      /* aim:sequence; 0: unsequenced (a direct DM message) */
	uint64_t epoch;    /* the MLS epoch of its message */
	bool handshake;    /* a Commit or Proposal (else application / Welcome) */
};
/* The decision for item, given the last applied sequence (applied; 0 =
 * none yet, have_base false: the first sequenced item sets the base) and
 * the group's epoch:
 *   seq != 0 and seq <= applied                -> DUPLICATE
 *   seq != 0 and seq > applied + 1 (with base) -> GAP
 *   epoch > group epoch                        -> WAIT
 *   epoch < group epoch                        -> STALE
 *   otherwise                                  -> APPLY */
enum client_seq_verdict client_seq_decide(uint64_t applied, bool have_base, uint64_t group_epoch,
					  const struct client_seq_item *item);
const char *client_seq_name(enum client_seq_verdict v);

/* Creates a channel named name with the handles (acct: URIs) as its first
 * members; url receives the channel's URL. */
int client_channel_create(struct client *c, const char *name, const char *const *handles,
			  size_t n, char *url, size_t url_len) AIM_WARN_UNUSED;
int client_channel_add(struct client *c, const char *channel, const char *const *handles,
		       size_t n) AIM_WARN_UNUSED;
int client_channel_remove(struct client *c, const char *channel, const char *const *handles,
			  size_t n) AIM_WARN_UNUSED;
/* conversation: a channel URL or a DM's id (client_dm_send gives it). */
int client_send(struct client *c, const char *conversation, const char *text) AIM_WARN_UNUSED;
/* The same with a content of the message content format given as JSON
 * (issue 12 point 2: {"type": "reaction", ...}); a JSON object with a
 * string "type" is required, anything else AIM_ERR_INVALID. */
int client_send_content(struct client *c, const char *conversation, const char *content_json)
	AIM_WARN_UNUSED;
/* conv (may be NULL, else conv_len bytes) receives the DM's id. */
int client_dm_send(struct client *c, const char *const *handles, size_t n, const char *text,
		   char *conv, size_t conv_len) AIM_WARN_UNUSED;

struct client_sync_stats {
	size_t items;       /* inbox items read */
	size_t joined;      /* groups joined from Welcomes */
	size_t applied;     /* handshakes and messages applied */
	size_t duplicates;  /* dropped */
	size_t buffered;    /* left waiting */
	size_t gaps_filled; /* outbox pages fetched for gaps */
	size_t failed;      /* items that could not be processed (kept in history as such) */
	size_t behind;      /* groups found behind (client_join_conversations rejoins them) */
};
int client_sync(struct client *c, struct client_sync_stats *st) AIM_WARN_UNUSED;

/* ---- Following the event stream (core_events.c) ---------------------------------
 *
 * Instead of paging the inbox on every poll, a device follows its inbox's
 * Server-Sent Events (GET /users/NAME/inbox, Accept: text/event-stream,
 * Last-Event-ID: the inbox position it has): each `activity` event is one
 * inbox item, applied like an item of client_sync(), after which the
 * position (the event id) is stored in "sync/inbox", so that a later
 * client_sync() or stream resumes from there and never re-reads what was
 * applied. Each group keeps its own last applied sequence (its record's
 * "seq") as before. A web build feeds its EventSource's events to
 * client_event_apply(); the shell's stream (client_io stream_*) goes
 * through client_listen().
 */

/* The Server-Sent Events parser (pure; the HTML standard's event stream
 * interpretation): bytes in any pieces, an event out at each blank line. */
#define CLIENT_SSE_LINE_MAX ((size_t)8 << 20)
struct client_sse {
	struct aim_buf line;  /* the line being read */
	struct aim_buf data;  /* the data buffer of the event being read */
	char event[64];       /* its type ("" = "message") */
	char last_id[64];     /* the last event ID buffer */
	bool cr;              /* the last byte was a CR (a CRLF's LF follows) */
};
typedef int (*client_sse_fn)(void *arg, const char *type, const char *id, struct aim_bytes data);
void client_sse_init(struct client_sse *s);
void client_sse_free(struct client_sse *s);
/* Feeds bytes; fn is called for each event dispatched (a non-zero return
 * stops and is returned). A line longer than CLIENT_SSE_LINE_MAX is
 * AIM_ERR_LIMIT. */
int client_sse_feed(struct client_sse *s, const uint8_t *p, size_t n, client_sse_fn fn,
		    void *arg) AIM_WARN_UNUSED;

/* The inbox position this device has applied up to (0: none yet). */
int client_inbox_position(struct client *c, int64_t *pos) AIM_WARN_UNUSED;
/* Applies one inbox item that came as event `id` (its inbox position) with
 * the activity as JSON: routed and drained as client_sync() does, then the
 * position stored (an id at or below the stored one is a duplicate:
 * dropped). */
int client_event_apply(struct client *c, const char *id, struct aim_bytes activity,
		       struct client_sync_stats *st) AIM_WARN_UNUSED;
/* Follows the event stream from the stored position: on_event(arg, st)
 * after each applied event, on_event(arg, NULL) at least every wait_ms
 * while nothing comes; a non-zero return ends the stream (0 returned).
 * -1 when the stream cannot be opened or ends (AIM_ERR_REMOTE; the caller
 * catches up with client_sync() and follows it again), AIM_ERR_UNSUPPORTED
 * when the I/O has no streams. */
typedef int (*client_listen_fn)(void *arg, const struct client_sync_stats *st);
int client_listen(struct client *c, int wait_ms, client_listen_fn on_event, void *arg)
	AIM_WARN_UNUSED;

/* ---- Joining by external commit (core_rejoin.c) ------------------------------------
 *
 * A new device of an account finds the account's conversations in the
 * inbox the server keeps (client_sync notes every conversation an item
 * names that this device has no group for), and joins each by external
 * commit with the hub's GroupInfo (CONVERSATION/groupInfo); where the hub
 * gives none or refuses, it waits for a Welcome from another device of the
 * account (which client_sync joins as any Welcome). A group whose
 * handshake this device could not apply (it fell too far behind: e.g. a
 * state restored from an old backup) is rejoined the same way, its old
 * leaf removed in the same Commit, its history kept. */
struct client_join_result {
	char conversation[1024];
	char how[16];     /* "external" (joined), "rejoin" (fell behind), "welcome" (waiting) */
	bool joined;      /* in the conversation now, at epoch */
	uint64_t epoch;
	char why[256];    /* rejoin: what this device could not apply */
	char error[512];  /* not joined: why (the hub's refusal, no GroupInfo, ...) */
};
/* Joins (behind_only: only rejoins) every conversation noted; *out (free()
 * it) says what happened to each. A refused conversation stays noted (with
 * the refusal) and is tried again at the next call. */
int client_join_conversations(struct client *c, bool behind_only,
			      struct client_join_result **out, size_t *n) AIM_WARN_UNUSED;

struct client_message {
	char sender[CLIENT_ACCT_MAX]; /* acct: of the sender's credential */
	char type[CLIENT_CONTENT_TYPE_MAX + 1]; /* "text", "reply", ..., an unknown
				       * type's name (text: "unknown type X"),
				       * "undecodable", "error" (undecryptable) */
	char *text;                   /* owned: the text, or a description */
	uint64_t epoch, seq;
	char id[CLIENT_CONTENT_ID_MAX + 1]; /* the content's id ("" if none) */
	char *content;                /* owned: the raw content JSON ("" if none),
				       * for client_content_apply */
};
/* The history of a conversation, oldest first (free with
 * client_messages_free). */
int client_messages(struct client *c, const char *conversation, struct client_message **out,
		    size_t *n) AIM_WARN_UNUSED;
void client_messages_free(struct client_message *m, size_t n);
/* The history entries after the first `after` ones (what a listener has
 * not shown yet), read by key: the cost is the new entries only. */
int client_messages_after(struct client *c, const char *conversation, size_t after,
			  struct client_message **out, size_t *n) AIM_WARN_UNUSED;

struct client_group_info {
	char kind[16];             /* "channel" or "dm" */
	char conversation[1024];   /* channel URL / DM id */
	uint64_t epoch, seq;
	uint32_t members;          /* leaves in the tree */
	bool active;               /* false once removed */
	uint8_t authenticator[AIM_MAX_HASH];
	size_t authenticator_len;
};
int client_group_info(struct client *c, const char *conversation, struct client_group_info *gi)
	AIM_WARN_UNUSED;
/* Every conversation (free the array). */
int client_conversations(struct client *c, struct client_group_info **out, size_t *n)
	AIM_WARN_UNUSED;

/* ---- Trust shown to the person (issue 12 point 4) ------------------------------
 *
 * For each device of each member of a conversation, which check of the
 * identity part vouched for its credential (client_verify_credential: the
 * domain's CA, or the actor's KeyPackage listing), kept in the group
 * record ("trust": one entry per leaf, with fingerprints of its signature
 * key and credential) and refreshed whenever the tree changes: when the
 * group is made or joined (the baseline: nothing to warn of), and after
 * every Commit applied. A member whose credential changes after the
 * baseline (an acct: URI already in the group that comes with a new
 * signature key or certificate: an Update of its leaf, or a new device)
 * gets a history entry of type "trust" ("WARNING: ..."), which listen,
 * chat and history show loudly; so does a device no check vouches for.
 * The comparison itself is pure: client_trust_compare().
 */

#define CLIENT_FINGERPRINT_HEX 64  /* SHA-256 in hex */

struct client_member {
	char acct[CLIENT_ACCT_MAX];       /* the acct: URI its credential speaks for */
	uint32_t leaf;
	enum client_check check;          /* which check vouched; NONE: refused */
	char reason[320];                 /* what vouched, or why refused */
	int64_t not_after;                /* x509: the certificate's end */
	char key[CLIENT_FINGERPRINT_HEX + 1];        /* SHA-256 of the signature key */
	char credential[CLIENT_FINGERPRINT_HEX + 1]; /* of its certificate / identity */
	uint64_t since;                   /* the epoch this credential was first seen */
	bool changed;                     /* its acct's credential changed after the baseline */
	bool self;                        /* this device */
};

enum client_trust_change_kind {
	CLIENT_TRUST_NEW_MEMBER = 1, /* an acct: URI not in the group before (no warning) */
	CLIENT_TRUST_NEW_DEVICE,     /* a new device of a member already there: warning */
	CLIENT_TRUST_CREDENTIAL,     /* a device's key or certificate changed: warning */
	CLIENT_TRUST_UNVOUCHED,      /* no check vouched for it: warning */
};
const char *client_trust_change_name(enum client_trust_change_kind k);

struct client_trust_change {
	enum client_trust_change_kind kind;
	size_t index;                /* into now[] */
};

/* Compares the devices seen before (old, n_old) with those now: *out
 * (free it) lists one change per device of now[] that is not an old
 * device with the same key and credential. Pure. */
int client_trust_compare(const struct client_member *old, size_t n_old,
			 const struct client_member *now, size_t n_now,
			 struct client_trust_change **out, size_t *n_out) AIM_WARN_UNUSED;

/* The members of a conversation as kept (computed if never kept), in leaf
 * order (free the array). */
int client_members(struct client *c, const char *conversation, struct client_member **out,
		   size_t *n) AIM_WARN_UNUSED;

/* ---- Leaving and rotating (core_leave.c) ------------------------------------------
 *
 *   client_leave()   a self-remove proposal (RFC 9420 section 12.1.3, a
 *                    PublicMessage) in a Create addressed to the
 *                    conversation; the hub caches it and refuses every
 *                    later commit that leaves it out (hub.h HUB_PROPOSAL).
 *                    The conversation is marked left here at once (no more
 *                    sending); the Commit that removes us, when it comes,
 *                    ends the group for this device.
 *   committing it    a member cannot commit its own removal: the device
 *                    that made the channel commits every pending
 *                    self-removal (include_pending) on the sync that
 *                    applied the proposal; the others apply that Commit.
 *                    The history of every member shows "leaving".
 *   client_rotate()  an Update commit with a path (force_path: fresh
 *                    encryption keys along our direct path, post-compromise
 *                    security, RFC 9420 section 12.4) and any pending
 *                    proposals, through the hub's epoch gate (HUB_COMMIT);
 *                    a stale epoch (409) syncs and retries once. Pending
 *                    until the hub's Announce of it comes back.
 */
int client_leave(struct client *c, const char *conversation) AIM_WARN_UNUSED;
int client_rotate(struct client *c, const char *conversation) AIM_WARN_UNUSED;

/* ---- Progress of long operations ------------------------------------------------
 *
 * Claiming and adding many members (client_channel_create, client_channel_add,
 * client_dm_send) reports its stages to a callback: "claiming" (0 of the
 * handles, before the request), "verifying" (after each handle's
 * KeyPackages were checked), "committing" (0 of the devices to add, before
 * the Commit is made), "sending" (0 of 1, before the POST to the hub).
 * The callback is the shell's (aim prints it on stderr); the core keeps
 * no state of it.
 */
void client_set_progress(struct client *c, client_progress_fn fn, void *arg);

#endif
