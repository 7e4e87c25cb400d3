/*
 * server: aimd, the messaging provider's ActivityPub server for one domain.
 *
 * This layer owns aimd's behaviour: the data directory (init), local users
 * with their keys and bearer tokens, and the HTTP routes: WebFinger,
 * host-meta, NodeInfo, actors, the client API (outbox POST, inbox and outbox
 * collections, Server-Sent Events) and the S2S inboxes (which refuse every
 * request until HTTP signatures land). Requests become store calls; results
 * become HTTP statuses in exactly one place (status.c).
 *
 * Results follow base.h; the command-line front end (tools/aimd) maps
 * AIM_ERR_INVALID to exit status 2 and every other failure to 1.
 */
#ifndef AIM_SERVER_H
#define AIM_SERVER_H

#include "base/base.h"

#define AIMD_VERSION "0.1.0"
#define AIMD_DB_FILE "aim.db"
/* Held (flock) by the one `aimd serve` of a data directory. */
#define AIMD_LOCK_FILE "aimd.lock"
/* When it exists: the store's location (aimd init --store), instead of AIMD_DB_FILE */
#define AIMD_STORE_FILE "store"

/* User names: 1-64 of [a-z0-9_.-], starting with a letter or a digit. */
bool aimd_valid_name(const char *name);

struct aimd_init_opts {
	const char *data_dir;
	const char *domain;          /* e.g. "example.org" or "localhost:8080" */
	const char *base_url;        /* NULL: "https://" + domain */
	const char *ca_key;          /* the CA's key: "ed25519" (NULL: the default) or "p256" */
	const char *store;           /* a postgresql:// URI (NULL: SQLite in DIR/aim.db) */
};
/* Creates the data directory, the database, the instance actor's keys and
 * the domain's CA (server/ca.h).
 * AIM_ERR_EXISTS if the directory is already initialised; AIM_ERR_INVALID
 * for a bad domain or URL. */
int aimd_init(const struct aimd_init_opts *o) AIM_WARN_UNUSED;

/* Creates a local user with fresh RSA-2048 and Ed25519 keys and returns a
 * new bearer token (owned, free with free() after wiping). */
int aimd_user_add(const char *data_dir, const char *name, char **token) AIM_WARN_UNUSED;
/* Issues an extra token for an existing user. */
int aimd_user_token(const char *data_dir, const char *name, char **token) AIM_WARN_UNUSED;
/* A per-user setting: key "manual-approval", value "on" or "off" (approve
 * remote followers by hand); key "claims", value "everyone", "followed" or
 * "nobody" (who may claim the user's KeyPackages). */
int aimd_user_set(const char *data_dir, const char *name, const char *key,
		  const char *value) AIM_WARN_UNUSED;

/* User administration (user_cli.c). A token is shown once, when it is made;
 * afterwards its id names it: the first AIMD_TOKEN_ID_LEN hex digits of its
 * SHA-256 (what the store keeps). */
#define AIMD_TOKEN_ID_LEN 12
#define AIMD_TOKEN_ID_MIN 6
/* Prints one line per local user: NAME, its token count, when it was made,
 * manual-approval if on; a deleted user as "NAME<TAB>deleted TIME". */
int aimd_user_list(const char *data_dir) AIM_WARN_UNUSED;
/* Prints one line per token of the user: ID, NAME, when it was made. */
int aimd_user_tokens(const char *data_dir, const char *name) AIM_WARN_UNUSED;
/* Revokes the user's token whose id starts with `id` (at least
 * AIMD_TOKEN_ID_MIN hex digits; AIM_ERR_INVALID when several match), or every
 * token of the user for "all". *revoked = how many. */
int aimd_user_revoke(const char *data_dir, const char *name, const char *id,
		     size_t *revoked) AIM_WARN_UNUSED;
/* Deletes the user (store_user_delete): account, tokens, keys, follows, inbox
 * and posts; its actor answers 410 Gone and the name is never reused.
 * AIM_ERR_GONE if it was deleted already. */
int aimd_user_delete(const char *data_dir, const char *name) AIM_WARN_UNUSED;

/* What an anonymous reader may take, bytes a second per IP (burst 8x), and
 * the byte budget of one collection page (README "Limits"). */
#define AIMD_ANON_READ_RATE ((size_t)4 << 20)
#define AIMD_PAGE_BYTES ((size_t)1 << 20)

struct aimd_serve_opts {
	const char *data_dir;
	const char *listen;          /* default 127.0.0.1:8080 */
	const char *tls_cert;
	const char *tls_key;
	unsigned rate_per_s;         /* client API requests per second per IP (0: default) */
	unsigned rate_burst;         /* bucket size (0: default) */
	unsigned auth_fail_limit;    /* bad tokens per minute per IP before 429 (0: default) */
	size_t max_body;             /* 0: 1 MiB */
	/* Anonymous reads per IP, bytes a second (0: AIMD_ANON_READ_RATE;
	 * burst 8x); past them 429 with Retry-After. */
	size_t anon_read_rate;
	/* Outbound federation client (fetches and deliveries). */
	const char *const *connect_to; /* "HOST:PORT:ADDR:PORT" entries (curl's syntax) */
	size_t n_connect_to;
	const char *ca_file;         /* CA bundle (PEM) to trust instead of the system's */
	bool allow_private;          /* connect to loopback / private addresses (tests, LANs) */
	/* TESTS ONLY: the channels' hub accepts basic MLS credentials without
	 * a check (hub_trust.c); every x509 credential is still checked. */
	bool hub_basic_credentials;
	/* Inboxes: per remote host, deliveries per second (0: 300) and at
	 * once (0: 64); past them 429 with Retry-After. */
	unsigned inbox_host_rate;
	unsigned inbox_host_concurrency;
	/* Outbound deliveries; 0 for each: the default. */
	int64_t retry_base_ms;       /* first retry after at most this (30 s) */
	int64_t retry_max_ms;        /* longest gap between attempts (12 h) */
	int64_t retry_expire_s;      /* give up after (72 h) */
	unsigned delivery_workers;   /* worker threads (4) */
	unsigned delivery_per_host;  /* concurrent POSTs per host (2) */
	unsigned breaker_threshold;  /* consecutive failures that open a host's circuit (5) */
	int64_t breaker_cooldown_ms; /* how long it stays open (60 s) */
	int cert_days;               /* device certificates' validity, days (0: 30) */
	/* The KeyPackage directory: claims per minute per claiming host (0:
	 * 60) and per target user (0: 30); past them 429 with Retry-After. */
	unsigned claim_host_rate;
	unsigned claim_user_rate;
	/* Operations: no start-up integrity check of the database (very large
	 * databases; the check reads every page). */
	bool skip_integrity_check;
	/* /metrics (metrics.h): on a listener of its own at this address, and/or
	 * on the main one behind this bearer token; neither: not served. */
	const char *metrics_listen;
	const char *metrics_token;
	/* What this process does (several processes may share a PostgreSQL
	 * store): serve HTTP, deliver, or both (the default). */
	int role;                    /* enum aimd_role */
	/* The HTTP edge (http/server.h); 0 for each: the default. Connections
	 * in total (1000) and per address (128), the deadline for a request's
	 * headers (10 s) and body (60 s), the handler threads (32), event
	 * streams per user (16). */
	unsigned max_connections;
	unsigned max_per_ip;
	unsigned header_timeout_s;
	unsigned body_timeout_s;
	unsigned http_workers;
	unsigned streams_per_user;
};
enum aimd_role { AIMD_ROLE_BOTH = 0, AIMD_ROLE_HTTP = 1, AIMD_ROLE_DELIVER = 2 };
/* Serves until SIGINT or SIGTERM, then shuts down cleanly. Prints
 * "aimd: listening on URL" on stdout once ready. Before it has any effect it
 * takes the data directory's lock (AIM_ERR_BUSY: another aimd serve has it)
 * and binds the address (AIM_ERR_STATE "cannot listen on ADDR:PORT: ...");
 * it logs "stopped" after the delivery workers have finished. */
int aimd_serve(const struct aimd_serve_opts *o) AIM_WARN_UNUSED;

/* Makes a new CA for the domain of an initialised data directory (key type
 * "ed25519", NULL for it, or "p256"); it issues from then on, the earlier
 * certificates stay published. *id = its id. Works while aimd serve runs. */
int aimd_ca_rotate(const char *data_dir, const char *key_type, int64_t *id) AIM_WARN_UNUSED;

/* Prints every outbound delivery of the data directory as one JSON object
 * per line, oldest first: {"id", "activity", "inbox" (null until resolved),
 * "actor" (null for a plain inbox), "host", "state" ("pending",
 * "delivered", "failed", "expired"), "attempts", "last_status" (0: no HTTP
 * answer), "last_error", "created_ms", "next_ms", "updated_ms"}. Works
 * while aimd serve runs. */
int aimd_deliveries(const char *data_dir) AIM_WARN_UNUSED;

/* ---- Operations (ops_*.c) ---- */

/* Applies the pending schema migrations of DIR's database and prints one
 * line per migration applied, or that there was none. A database newer
 * than this aimd is refused (AIM_ERR_UNSUPPORTED), so is a data directory
 * an aimd serve holds (AIM_ERR_BUSY). */
int aimd_migrate(const char *data_dir) AIM_WARN_UNUSED;

/* Writes the data directory's whole domain to target (ops_export.c: the
 * format is described there): a new FILE, DIR/aim-export.jsonl for an
 * existing DIR, or "-" for stdout. *rows = the rows written. Works while
 * aimd serve runs (one consistent read). */
int aimd_export(const char *data_dir, const char *target, int64_t *rows) AIM_WARN_UNUSED;
/* Makes data_dir (which must not be initialised) from an export (FILE, DIR
 * holding aim-export.jsonl, or "-" for stdin): every row in one
 * transaction, then the CA key files. store: a postgresql:// URI whose
 * database holds no domain yet (NULL: SQLite in DIR/aim.db), as aimd init
 * --store. On a failure nothing is left of it. */
int aimd_import(const char *data_dir, const char *store, const char *source,
		int64_t *rows) AIM_WARN_UNUSED;

struct aimd_doctor_opts {
	const char *data_dir;
	const char *tls_cert, *tls_key; /* NULL: the TLS files are not checked */
};
/* Checks a data directory (ops_doctor.c) and prints one line per check on
 * stdout, "ok: CHECK: what was found" or "problem: CHECK: what is wrong"
 * (one line per problem). *problems = how many. Returns -1 only when it
 * could not check at all. */
int aimd_doctor(const struct aimd_doctor_opts *o, int *problems) AIM_WARN_UNUSED;

#endif
