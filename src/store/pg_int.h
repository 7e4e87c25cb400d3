/*
 * The PostgreSQL back end's internals, shared by its files and by nothing
 * else (only src/store/pg_*.c include this header). The files mirror the
 * SQLite back end's, one per concern, with the same statements where the
 * two dialects agree:
 *
 *   pg_conn.c         the connection pool, the statement helper (SQL
 *                     written for SQLite, translated once per connection
 *                     and prepared), transactions, failures
 *   pg_schema.c       the migrations (the SQLite ones, translated), the
 *                     schema version, the meta settings
 *   pg_store.c        opening, closing, the ops table
 *   pg_users.c, pg_activities.c, pg_deliveries.c, pg_inbound.c,
 *   pg_state.c, pg_identity.c, pg_keypackages.c, pg_channels.c
 *                     the operations, as in their sqlite_*.c twins
 *
 * The statement helper takes SQLite-style SQL: ?1..?n parameters become
 * $1..$n, "INSERT OR IGNORE" becomes "INSERT ... ON CONFLICT DO NOTHING",
 * x'' an empty bytea, and an INSERT into a table with a generated key
 * returns that key (pg_done.rowid, as sqlite3_last_insert_rowid). Integers
 * bind as int8, blobs as bytea, text as text (a NULL text meant for
 * another type needs a CAST in the SQL). Results come back as text; pg_col_* read them.
 *
 * Isolation (store.h's contract): every statement runs at READ COMMITTED.
 * A write transaction of store_pg_write_tx first takes the store's
 * transaction-level advisory lock, so those run one after another across
 * every process sharing the database, exactly as SQLite's BEGIN IMMEDIATE
 * makes them; the operations that must scale across processes run without
 * it, each race-free on its own (store_pg_write_tx_free): the versioned
 * state's compare-and-set and the hub's (a conditional UPDATE / INSERT ...
 * ON CONFLICT DO NOTHING whose row count decides), KeyPackage claims (a
 * conditional UPDATE ... RETURNING of a row picked FOR UPDATE SKIP
 * LOCKED), delivery claims (FOR UPDATE SKIP LOCKED, the host's lease count
 * under a per-host advisory lock) and the lease operations (conditional
 * updates on the leased row).
 */
#ifndef AIM_STORE_PG_INT_H
#define AIM_STORE_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>

#include "store/store.h"

#define STORE_PG_POOL_DEFAULT 8
#define STORE_PG_POOL_MAX 64
#define PG_STMT_SLOTS 256
#define PG_ROW_COLS 32

struct pg_stmt {
	uint64_t hash;               /* of the SQLite text */
	char *sqlite_sql;            /* owned copy, to compare */
	char name[16];               /* the prepared statement's name */
	int nparams;
	bool returns_key;            /* the translator appended RETURNING key */
};

/* One connection: used by one thread at a time. */
struct pgc {
	PGconn *c;
	struct pg_stmt slot[PG_STMT_SLOTS];
	unsigned next_name;
	bool broken;                 /* the connection failed: closed when put back */
};

struct pg {
	char *conninfo;              /* what libpq takes */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pgc *idle[STORE_PG_POOL_MAX];
	size_t nidle;
	size_t open;                 /* connections open, idle or in use */
	size_t max;                  /* the pool's size */
	int64_t lock_key;            /* the advisory lock of write transactions */
	int64_t retry_at_ms;         /* after a failed connect: not before (backoff) */
	int64_t backoff_ms;
};

static inline struct pg *PG(struct store *st)
{
	return st->impl;
}

/* ---- Statement arguments ------------------------------------------------ */

enum pg_kind { PG_INT = 1, PG_TEXT, PG_BLOB };

struct pg_arg {
	enum pg_kind kind;
	int64_t i;
	const char *s;               /* PG_TEXT: NULL binds NULL */
	const void *p;               /* PG_BLOB */
	int n;
};

struct pg_args {
	const struct pg_arg *v;
	size_t n;
};

#define A_INT(x) ((struct pg_arg){ .kind = PG_INT, .i = (int64_t)(x) })
#define A_BOOL(x) A_INT((x) ? 1 : 0)
#define A_TEXT(x) ((struct pg_arg){ .kind = PG_TEXT, .s = (x) })
#define A_BLOB(x, len) ((struct pg_arg){ .kind = PG_BLOB, .p = (x), .n = (int)(len) })
#define ARGS(...)                                                                          \
	((struct pg_args){ (const struct pg_arg[]){ __VA_ARGS__ },                         \
			   sizeof((const struct pg_arg[]){ __VA_ARGS__ }) / sizeof(struct pg_arg) })
#define NOARGS ((struct pg_args){ NULL, 0 })

/* What a statement without rows did. */
#define PG_EXT_UNIQUE 1
#define PG_EXT_FK 2
struct pg_done {
	int changes;                 /* rows changed */
	int64_t rowid;               /* the generated key of the row inserted */
	int ext;                     /* on failure: PG_EXT_* or 0 */
};

/* A row of a result, for the row callbacks. */
struct pg_row {
	PGresult *r;
	int row;
	uint8_t *blob[PG_ROW_COLS];  /* decoded bytea columns, freed after the callback */
	size_t blen[PG_ROW_COLS];
	bool decoded[PG_ROW_COLS];
};

typedef int (*pg_row_fn)(void *ctx, struct pg_row *q);

int64_t store_pg_col_int(struct pg_row *q, int i);
const unsigned char *store_pg_col_text(struct pg_row *q, int i); /* NULL for NULL */
const void *store_pg_col_blob(struct pg_row *q, int i);
int store_pg_col_bytes(struct pg_row *q, int i);
bool store_pg_col_isnull(struct pg_row *q, int i);
#define pg_col_int store_pg_col_int
#define pg_col_text store_pg_col_text
#define pg_col_blob store_pg_col_blob
#define pg_col_bytes store_pg_col_bytes
#define pg_col_isnull store_pg_col_isnull

static inline char *pg_col_str(struct pg_row *q, int i)
{
	const unsigned char *t = pg_col_text(q, i);
	return aim_xstrdup(t ? (const char *)t : "");
}

static inline char *pg_col_str_null(struct pg_row *q, int i)
{
	return pg_col_isnull(q, i) ? NULL : pg_col_str(q, i);
}

/* ---- The statement helper and transactions (pg_conn.c) ----------------- */

/* Records a failure of conn (res NULL: the connection's) under what. */
int store_pg_fail(struct pgc *db, PGresult *res, const char *what, int *ext);
/* Runs SQL text (no parameters, no rows wanted: DDL, BEGIN, SAVEPOINT). */
int store_pg_script(struct pgc *db, const char *sql, const char *what);

int store_pg_exec(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		  struct pg_done *done);
int store_pg_rows(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		  pg_row_fn fn, void *ctx);
int store_pg_row(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		 pg_row_fn fn, void *ctx, bool *found);
int store_pg_int(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		 int64_t *out, bool *found);

/* A connection from the pool (NULL, failure recorded: the database is
 * unreachable; AIM_ERR_STORAGE). Put it back when done. */
struct pgc *store_pg_conn(struct pg *s);
void store_pg_conn_put(struct pg *s, struct pgc *db);

/* Reads on a pooled connection (the rows are fetched first, the callbacks
 * run after the connection went back to the pool). */
int store_pg_read_rows(struct store *st, const char *what, const char *sql, struct pg_args a,
		       pg_row_fn fn, void *ctx);
int store_pg_read_row(struct store *st, const char *what, const char *sql, struct pg_args a,
		      pg_row_fn fn, void *ctx, bool *found);
int store_pg_read_int(struct store *st, const char *what, const char *sql, struct pg_args a,
		      int64_t *out, bool *found);
/* One statement in its own transaction, durable when it returns. */
int store_pg_write(struct store *st, const char *what, const char *sql, struct pg_args a,
		   struct pg_done *done);
int store_pg_write_int(struct store *st, const char *what, const char *sql, struct pg_args a,
		       int64_t *out, bool *found);
/* fn(db, ctx) in one transaction under the store's advisory lock (the
 * writers one after another, as SQLite's); rolls back on failure. */
int store_pg_write_tx(struct store *st, int (*fn)(struct pgc *db, void *ctx), void *ctx);
/* The same without the lock: fn is race-free on its own. */
int store_pg_write_tx_free(struct store *st, int (*fn)(struct pgc *db, void *ctx), void *ctx);

/* ---- Schema and meta (pg_schema.c) --------------------------------------- */

/* The SQLite migrations (sqlite_schema.c): the one source of both schemas. */
const char *store_sqlite_migration(int index);
int store_pg_migrate(struct pgc *db, store_migrated_fn fn, void *ctx);
int store_pg_schema_version(struct store *st, int *version);
int store_pg_meta_get(struct store *st, const char *key, char **val);
int store_pg_meta_set(struct store *st, const char *key, const char *val);
/* A migration's DDL in PostgreSQL's dialect (owned). */
char *store_pg_translate_ddl(const char *sqlite_ddl);

/* ---- Operations (their files) --------------------------------------------- */

int store_pg_state_get(struct store *st, const char *kind, const char *key, int64_t *version,
		       uint8_t **value, size_t *len);
int store_pg_state_cas(struct store *st, const char *kind, const char *key, int64_t expected,
		       const uint8_t *value, size_t len, int64_t *version);
/* Inside the caller's transaction: the conditional write of a versioned
 * value (AIM_ERR_CONFLICT if the version moved). */
int store_pg_cas_tx(struct pgc *db, const char *kind, const char *key, int64_t expected,
		    const uint8_t *value, size_t len);

int store_pg_user_add(struct store *st, const struct store_new_user *u, int64_t *id);
int store_pg_user_get(struct store *st, const char *name, struct store_user *out);
int store_pg_user_get_id(struct store *st, int64_t id, struct store_user *out);
int store_pg_user_count(struct store *st, int64_t *n);
int store_pg_user_private_keys(struct store *st, int64_t id, char **rsa_pem, char **ed_pem);
int store_pg_token_add(struct store *st, int64_t user, const uint8_t hash[32]);
int store_pg_token_find(struct store *st, const uint8_t hash[32], int64_t *user);
int store_pg_manual_approval_get(struct store *st, int64_t user, bool *on);
int store_pg_manual_approval_set(struct store *st, int64_t user, bool on);
int store_pg_user_list(struct store *st, store_user_info_fn fn, void *ctx);
int store_pg_user_gone(struct store *st, const char *name, bool *gone);
int store_pg_token_list(struct store *st, int64_t user, store_token_fn fn, void *ctx);
int store_pg_token_revoke(struct store *st, const uint8_t hash[32]);
int store_pg_user_delete(struct store *st, int64_t user);

int store_pg_activity_add_tx(struct pgc *db, const struct store_new_activity *a, int64_t *seq);
int store_pg_insert_pairs(struct pgc *db, const char *sql, int64_t seq, const int64_t *ids,
			  size_t n, const char *what, size_t *added);
int store_pg_activity_add(struct store *st, const struct store_new_activity *a, int64_t *seq);
int store_pg_activity_get(struct store *st, const char *id, int64_t viewer,
			  struct store_item *out);
int store_pg_object_get(struct store *st, const char *id, int64_t viewer, struct store_item *out);
int store_pg_outbox_page(struct store *st, int64_t owner, int64_t viewer,
			 const struct store_range *r, struct store_page *out);
int store_pg_outbox_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n);
int store_pg_inbox_page(struct store *st, int64_t user, const struct store_range *r,
			struct store_page *out);
int store_pg_inbox_count(struct store *st, int64_t user, int64_t *n);
int store_pg_activity_lookup(struct store *st, const char *id, int64_t *author, char **actor,
			     char **json);
int store_pg_followers_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out);
int store_pg_following_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out);
int store_pg_following_count(struct store *st, int64_t user, int64_t *n);
int store_pg_page_query(struct store *st, const char *select, const char *from, const char *cur,
			int64_t owner, int64_t viewer, const struct store_range *r,
			struct store_page *out);

int store_pg_keypackage_page(struct store *st, int64_t owner, int64_t viewer,
			     const struct store_range *r, struct store_page *out);
int store_pg_keypackage_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n);
int store_pg_keypackage_add(struct store *st, int64_t user, const struct store_new_keypackage *v,
			    size_t n, size_t max_per_device);
int store_pg_keypackage_stock(struct store *st, int64_t user, store_kp_stock_fn fn, void *ctx);
int store_pg_keypackage_claim(struct store *st, int64_t user, const uint16_t *suites,
			      size_t n_suites, const char *claimer, int64_t now,
			      struct store_kp_claim *out);
int store_pg_keypackage_withdraw_device(struct store *st, int64_t user, const char *device,
					int64_t *withdrawn);
int store_pg_claims_policy_get(struct store *st, int64_t user, int *policy);
int store_pg_claims_policy_set(struct store *st, int64_t user, int policy);

int store_pg_enqueue_tx(struct pgc *db, const struct store_outgoing *o);
int store_pg_delivery_enqueue(struct store *st, const struct store_outgoing *o);
int store_pg_delivery_claim(struct store *st, const struct store_claim *c,
			    struct store_delivery *out, struct store_lease *lease);
int store_pg_delivery_claim_batch(struct store *st, const struct store_claim *c, size_t max,
				  struct store_delivery *out, struct store_lease *leases,
				  size_t *n);
int store_pg_delivery_renew(struct store *st, struct store_lease *lease, int64_t until_ms);
int store_pg_delivery_release(struct store *st, const struct store_lease *lease);
int store_pg_delivery_earliest(struct store *st, int64_t *next_ms);
int store_pg_delivery_finish(struct store *st, const struct store_lease *lease,
			     const struct store_delivery_update *u);
int store_pg_delivery_resolve(struct store *st, const struct store_lease *lease,
			      const char *inbox, const char *host, bool *merged);
int store_pg_delivery_defer_host(struct store *st, const char *host, int64_t until_ms);
int store_pg_delivery_expire_overdue(struct store *st, int64_t created_before_ms, int64_t now_ms,
				     size_t *n);
int store_pg_host_failure(struct store *st, const char *host, bool failed, int64_t now_ms,
			  unsigned *failures);
int store_pg_delivery_list(struct store *st, store_delivery_fn fn, void *ctx);
int store_pg_host_scheme_get(struct store *st, const char *host, int *scheme);
int store_pg_host_scheme_set(struct store *st, const char *host, int scheme);

int store_pg_inbound_commit(struct store *st, const struct store_inbound *in, bool *dup,
			    size_t *added);
int store_pg_inbound_commit_batch(struct store *st, struct store_inbound_unit *u, size_t n);
int store_pg_followers_list(struct store *st, int64_t user, int state, int64_t offset,
			    size_t limit, store_follower_fn fn, void *ctx);
int store_pg_followers_count(struct store *st, int64_t user, int state, int64_t *n);
int store_pg_following_state(struct store *st, int64_t user, const char *actor, int *state);
int store_pg_blocked(struct store *st, int64_t user, const char *actor, bool *out);
int store_pg_following_users(struct store *st, const char *actor, int64_t *ids, size_t max,
			     size_t *n);

int store_pg_ca_cert_add(struct store *st, const uint8_t *der, size_t len, int64_t *id);
int store_pg_ca_cert_list(struct store *st, store_ca_cert_fn fn, void *ctx);
int store_pg_device_put(struct store *st, const struct store_new_device *d, bool create);
int store_pg_device_get(struct store *st, int64_t user, const char *device,
			struct store_device *out);
int store_pg_device_by_key(struct store *st, int64_t user, int alg, const uint8_t *pk,
			   size_t pk_len, struct store_device *out);
int store_pg_device_list(struct store *st, int64_t user, store_device_fn fn, void *ctx);
int store_pg_device_revoke(struct store *st, int64_t user, const char *device);

/* Export and import (pg_export.c) */
int store_pg_export_rows(struct store *st, store_row_fn fn, void *ctx);
int store_pg_import_rows(struct store *st, store_row_next_fn next, void *ctx);

/* Events between processes (pg_events.c): NOTIFY channel inside the
 * caller's transaction ("aim_inbox", "aim_delivery"). */
int store_pg_notify(struct pgc *db, const char *channel);
int store_pg_events_listen(struct store *st, store_event_fn fn, void *ctx,
			   struct store_listener **out);
void store_pg_events_unlisten(struct store_listener *l);

int store_pg_channel_apply(struct store *st, const struct store_channel_change *c);
int store_pg_channel_last_seq(struct store *st, const char *id, int64_t *seq);
int store_pg_channel_moved(struct store *st, const char *from, const char *to);
int store_pg_channel_get(struct store *st, const char *id, struct store_channel *out);
int store_pg_channel_members(struct store *st, const char *id, store_channel_member_fn fn,
			     void *ctx);
int store_pg_channel_outbox_page(struct store *st, const char *id, int64_t after,
				 const struct store_range *r, struct store_page *out);
int store_pg_channel_join(struct store *st, const char *channel, int64_t user, bool member);
int store_pg_channel_joined(struct store *st, const char *channel, int64_t **users, size_t *n);
int store_pg_channel_receive(struct store *st, const struct store_channel_recv *m,
			     size_t *delivered);

#endif
