/*
 * The SQLite back end's internals, shared by its files and by nothing else
 * (only src/store/sqlite_*.c and store_sqlite.c include this header).
 *
 *   store_sqlite.c       connections (one writer behind a mutex, a pool of
 *                        readers), transactions, the statement helper, the
 *                        ops table
 *   sqlite_schema.c      the numbered migrations, the schema version, the
 *                        meta settings
 *   sqlite_users.c       users, tokens, per-user settings
 *   sqlite_activities.c  activities, objects, the pages of every collection
 *   sqlite_deliveries.c  the delivery queue, per-host signature schemes
 *   sqlite_inbound.c     inbound commits and their effects; followers,
 *                        follows, blocks
 *   sqlite_state.c       versioned state and its compare-and-set
 *   sqlite_identity.c    the domain's CA certificates, devices
 *   sqlite_keypackages.c the KeyPackage directory: uploads, stock, claims,
 *                        the keyPackages collection, claims consent
 *   sqlite_channels.c    channels and group DMs: hub changes in one
 *                        transaction, members, outbox, member side
 *   sqlite_admin.c       operations: explicit migrations, the integrity
 *                        check, the counts of /metrics
 *   sqlite_export.c      export and import of every table's rows
 *
 * Every statement goes through the statement helper: store_sq_exec (no
 * rows), store_sq_rows (a callback per row), store_sq_row (the first row)
 * and store_sq_int (one integer) prepare the SQL, bind the arguments to
 * ?1..?n in order (their number must be the statement's parameter count),
 * step, finalize, and record a failure under the caller's `what`. The
 * store_sq_read_* forms run on a pooled reader; store_sq_write runs one
 * statement on the writer; store_sq_write_tx runs a function in one write
 * transaction.
 */
#ifndef AIM_STORE_SQLITE_INT_H
#define AIM_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>

#include "store/store.h"

#define STORE_SQ_POOL_MAX 8

struct sq {
	char *path;
	pthread_mutex_t wlock;
	sqlite3 *w;                  /* the one writer; used under wlock */
	pthread_mutex_t plock;
	sqlite3 *pool[STORE_SQ_POOL_MAX];
	size_t npool;
};

static inline struct sq *SQ(struct store *st)
{
	return st->impl;
}

/* ---- Statement arguments ------------------------------------------------ */

enum sq_kind { SQ_INT = 1, SQ_TEXT, SQ_BLOB };

struct sq_arg {
	enum sq_kind kind;
	int64_t i;
	const char *s;               /* SQ_TEXT: NULL binds NULL */
	const void *p;               /* SQ_BLOB */
	int n;
};

/* Borrowed for the statement's run. */
struct sq_args {
	const struct sq_arg *v;
	size_t n;
};

#define A_INT(x) ((struct sq_arg){ .kind = SQ_INT, .i = (int64_t)(x) })
#define A_BOOL(x) A_INT((x) ? 1 : 0)
#define A_TEXT(x) ((struct sq_arg){ .kind = SQ_TEXT, .s = (x) })
#define A_BLOB(x, len) ((struct sq_arg){ .kind = SQ_BLOB, .p = (x), .n = (int)(len) })
/* ARGS(A_INT(id), A_TEXT(name)) binds ?1 = id, ?2 = name. */
#define ARGS(...)                                                                          \
	((struct sq_args){ (const struct sq_arg[]){ __VA_ARGS__ },                         \
			   sizeof((const struct sq_arg[]){ __VA_ARGS__ }) / sizeof(struct sq_arg) })
#define NOARGS ((struct sq_args){ NULL, 0 })

/* What a statement without rows did. */
struct sq_done {
	int changes;                 /* rows changed */
	int64_t rowid;               /* the last inserted row id */
	int ext;                     /* on failure: SQLite's extended result code */
};

/* Called per row; a non-zero return stops the statement and is returned. */
typedef int (*sq_row_fn)(void *ctx, sqlite3_stmt *q);

/* ---- Statement helper (store_sqlite.c) ------------------------------------- */

/* Records a SQLite failure: a unique key -> AIM_ERR_EXISTS, a foreign key
 * -> AIM_ERR_CONFLICT (the row referred to went away), a lock ->
 * AIM_ERR_BUSY, out of memory -> AIM_ERR_NOMEM, another constraint or a
 * misuse -> AIM_ERR_INTERNAL, anything else (I/O, full, corrupt, cannot
 * open) -> AIM_ERR_STORAGE. Returns -1. */
int store_sq_fail(sqlite3 *db, int rc, const char *what);
/* Runs SQL text without arguments or rows (pragmas, BEGIN, migrations). */
int store_sq_script(sqlite3 *db, const char *sql, const char *what);

int store_sq_exec(sqlite3 *db, const char *what, const char *sql, struct sq_args a,
		  struct sq_done *done);
int store_sq_rows(sqlite3 *db, const char *what, const char *sql, struct sq_args a,
		  sq_row_fn fn, void *ctx);
/* fn sees the first row only; *found says whether there was one (found NULL:
 * no row is AIM_ERR_NOTFOUND "no such row"). */
int store_sq_row(sqlite3 *db, const char *what, const char *sql, struct sq_args a,
		 sq_row_fn fn, void *ctx, bool *found);
/* The first column of the first row. */
int store_sq_int(sqlite3 *db, const char *what, const char *sql, struct sq_args a, int64_t *out,
		 bool *found);

/* A reader from the pool (NULL, error recorded, if none can be opened). */
sqlite3 *store_sq_reader(struct sq *s);
void store_sq_reader_put(struct sq *s, sqlite3 *db);

int store_sq_read_rows(struct store *st, const char *what, const char *sql, struct sq_args a,
		       sq_row_fn fn, void *ctx);
int store_sq_read_row(struct store *st, const char *what, const char *sql, struct sq_args a,
		      sq_row_fn fn, void *ctx, bool *found);
int store_sq_read_int(struct store *st, const char *what, const char *sql, struct sq_args a,
		      int64_t *out, bool *found);
/* One statement on the writer, committed (durable) when it returns. */
int store_sq_write(struct store *st, const char *what, const char *sql, struct sq_args a,
		   struct sq_done *done);
/* Runs fn(db, ctx) in one write transaction; rolls back on failure and keeps
 * the first failure's reason. */
int store_sq_write_tx(struct store *st, int (*fn)(sqlite3 *db, void *ctx), void *ctx);

/* Column values: a copy of a text column ("" for NULL), or NULL for NULL. */
static inline char *sq_col_str(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return aim_xstrdup(t ? (const char *)t : "");
}

static inline char *sq_col_str_null(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? NULL : sq_col_str(q, i);
}

/* ---- Schema and meta (sqlite_schema.c) ------------------------------------- */

/* fn (NULL: none) is called after each migration applied. */
int store_sq_migrate(sqlite3 *db, store_migrated_fn fn, void *ctx);
int store_sq_schema_version(struct store *st, int *version);
int store_sq_meta_get(struct store *st, const char *key, char **val);
int store_sq_meta_set(struct store *st, const char *key, const char *val);

/* ---- Versioned state (sqlite_state.c) ------------------------------------ */

int store_sq_state_get(struct store *st, const char *kind, const char *key, int64_t *version,
		       uint8_t **value, size_t *len);
int store_sq_state_cas(struct store *st, const char *kind, const char *key, int64_t expected,
		       const uint8_t *value, size_t len, int64_t *version);

/* ---- Users, tokens, settings (sqlite_users.c) ------------------------------ */

int store_sq_user_add(struct store *st, const struct store_new_user *u, int64_t *id);
int store_sq_user_get(struct store *st, const char *name, struct store_user *out);
int store_sq_user_get_id(struct store *st, int64_t id, struct store_user *out);
int store_sq_user_count(struct store *st, int64_t *n);
int store_sq_user_private_keys(struct store *st, int64_t id, char **rsa_pem, char **ed_pem);
int store_sq_token_add(struct store *st, int64_t user, const uint8_t hash[32]);
int store_sq_token_find(struct store *st, const uint8_t hash[32], int64_t *user);
int store_sq_manual_approval_get(struct store *st, int64_t user, bool *on);
int store_sq_manual_approval_set(struct store *st, int64_t user, bool on);
int store_sq_user_list(struct store *st, store_user_info_fn fn, void *ctx);
int store_sq_user_gone(struct store *st, const char *name, bool *gone);
int store_sq_token_list(struct store *st, int64_t user, store_token_fn fn, void *ctx);
int store_sq_token_revoke(struct store *st, const uint8_t hash[32]);
int store_sq_user_delete(struct store *st, int64_t user);

/* ---- Activities and collections (sqlite_activities.c) ---------------------- */

/* Inside the caller's write transaction: the activity, its object, audience
 * and inbox rows, and its deliveries. */
int store_sq_activity_add_tx(sqlite3 *db, const struct store_new_activity *a, int64_t *seq);
/* Inside the caller's write transaction: (seq, id) rows of a pair table;
 * *added (NULL: not wanted) grows by the rows inserted. */
int store_sq_insert_pairs(sqlite3 *db, const char *sql, int64_t seq, const int64_t *ids, size_t n,
			  const char *what, size_t *added);
int store_sq_activity_add(struct store *st, const struct store_new_activity *a, int64_t *seq);
int store_sq_activity_get(struct store *st, const char *id, int64_t viewer,
			  struct store_item *out);
int store_sq_object_get(struct store *st, const char *id, int64_t viewer, struct store_item *out);
int store_sq_outbox_page(struct store *st, int64_t owner, int64_t viewer,
			 const struct store_range *r, struct store_page *out);
int store_sq_outbox_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n);
int store_sq_inbox_page(struct store *st, int64_t user, const struct store_range *r,
			struct store_page *out);
int store_sq_inbox_count(struct store *st, int64_t user, int64_t *n);
int store_sq_activity_lookup(struct store *st, const char *id, int64_t *author, char **actor,
			     char **json);
int store_sq_followers_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out);
int store_sq_following_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out);
int store_sq_following_count(struct store *st, int64_t user, int64_t *n);
/* A page of a collection (sqlite_activities.c): `from` selects (cursor,
 * author, public, json) rows with ?1 = owner and ?2 = viewer. */
int store_sq_page_query(struct store *st, const char *select, const char *from, const char *cur,
			int64_t owner, int64_t viewer, const struct store_range *r,
			struct store_page *out);

/* ---- The KeyPackage directory (sqlite_keypackages.c) ------------------------ */

int store_sq_keypackage_page(struct store *st, int64_t owner, int64_t viewer,
			     const struct store_range *r, struct store_page *out);
int store_sq_keypackage_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n);
int store_sq_keypackage_add(struct store *st, int64_t user, const struct store_new_keypackage *v,
			    size_t n, size_t max_per_device);
int store_sq_keypackage_stock(struct store *st, int64_t user, store_kp_stock_fn fn, void *ctx);
int store_sq_keypackage_claim(struct store *st, int64_t user, const uint16_t *suites,
			      size_t n_suites, const char *claimer, int64_t now,
			      struct store_kp_claim *out);
int store_sq_keypackage_withdraw_device(struct store *st, int64_t user, const char *device,
					int64_t *withdrawn);
int store_sq_claims_policy_get(struct store *st, int64_t user, int *policy);
int store_sq_claims_policy_set(struct store *st, int64_t user, int policy);

/* ---- Delivery queue (sqlite_deliveries.c) ---------------------------------- */

/* Inside the caller's write transaction. */
int store_sq_enqueue_tx(sqlite3 *db, const struct store_outgoing *o);
int store_sq_delivery_enqueue(struct store *st, const struct store_outgoing *o);
int store_sq_delivery_claim(struct store *st, const struct store_claim *c,
			    struct store_delivery *out, struct store_lease *lease);
int store_sq_delivery_claim_batch(struct store *st, const struct store_claim *c, size_t max,
				  struct store_delivery *out, struct store_lease *leases,
				  size_t *n);
int store_sq_delivery_finish_batch(struct store *st, struct store_finish *v, size_t n);
int store_sq_delivery_renew(struct store *st, struct store_lease *lease, int64_t until_ms);
int store_sq_delivery_release(struct store *st, const struct store_lease *lease);
int store_sq_delivery_earliest(struct store *st, int64_t *next_ms);
int store_sq_delivery_finish(struct store *st, const struct store_lease *lease,
			     const struct store_delivery_update *u);
int store_sq_delivery_resolve(struct store *st, const struct store_lease *lease,
			      const char *inbox, const char *host, bool *merged);
int store_sq_delivery_defer_host(struct store *st, const char *host, int64_t until_ms);
int store_sq_delivery_expire_overdue(struct store *st, int64_t created_before_ms, int64_t now_ms,
				     size_t *n);
int store_sq_host_failure(struct store *st, const char *host, bool failed, int64_t now_ms,
			  unsigned *failures);
int store_sq_delivery_list(struct store *st, store_delivery_fn fn, void *ctx);
int store_sq_host_scheme_get(struct store *st, const char *host, int *scheme);
int store_sq_host_scheme_set(struct store *st, const char *host, int scheme);

/* ---- Federation: inbound (sqlite_inbound.c) -------------------------------- */

int store_sq_inbound_commit(struct store *st, const struct store_inbound *in, bool *dup,
			    size_t *added);
int store_sq_inbound_commit_batch(struct store *st, struct store_inbound_unit *u, size_t n);
int store_sq_followers_list(struct store *st, int64_t user, int state, int64_t offset,
			    size_t limit, store_follower_fn fn, void *ctx);
int store_sq_followers_count(struct store *st, int64_t user, int state, int64_t *n);
int store_sq_following_state(struct store *st, int64_t user, const char *actor, int *state);
int store_sq_blocked(struct store *st, int64_t user, const char *actor, bool *out);
int store_sq_following_users(struct store *st, const char *actor, int64_t *ids, size_t max,
			     size_t *n);

/* ---- Identity: CA certificates, devices (sqlite_identity.c) --------------- */

int store_sq_ca_cert_add(struct store *st, const uint8_t *der, size_t len, int64_t *id);
int store_sq_ca_cert_list(struct store *st, store_ca_cert_fn fn, void *ctx);
int store_sq_device_put(struct store *st, const struct store_new_device *d, bool create);
int store_sq_device_get(struct store *st, int64_t user, const char *device,
			struct store_device *out);
int store_sq_device_by_key(struct store *st, int64_t user, int alg, const uint8_t *pk,
			   size_t pk_len, struct store_device *out);
int store_sq_device_list(struct store *st, int64_t user, store_device_fn fn, void *ctx);
int store_sq_device_revoke(struct store *st, int64_t user, const char *device);

/* ---- Channels and group DMs (sqlite_channels.c) ------------------------------ */

int store_sq_channel_apply(struct store *st, const struct store_channel_change *c);
int store_sq_channel_get(struct store *st, const char *id, struct store_channel *out);
int store_sq_channel_members(struct store *st, const char *id, store_channel_member_fn fn,
			     void *ctx);
int store_sq_channel_outbox_page(struct store *st, const char *id, int64_t after,
				 const struct store_range *r, struct store_page *out);
int store_sq_channel_join(struct store *st, const char *channel, int64_t user, bool member);
int store_sq_channel_joined(struct store *st, const char *channel, int64_t **users, size_t *n);
int store_sq_channel_last_seq(struct store *st, const char *id, int64_t *seq);
int store_sq_channel_moved(struct store *st, const char *from, const char *to);
int store_sq_channel_receive(struct store *st, const struct store_channel_recv *m,
			     size_t *delivered);

/* ---- Operations: migrations, integrity (sqlite_admin.c) ----------------------- */

int store_sq_schema_latest(struct store *st, int *version);
int store_sq_migrate_all(struct store *st, store_migrated_fn fn, void *ctx);
int store_sq_integrity_check(struct store *st, char **problem);
int store_sq_stats(struct store *st, int64_t now, struct store_stats *out);

/* ---- Export and import (sqlite_export.c) ----------------------------------------- */

int store_sq_export_rows(struct store *st, store_row_fn fn, void *ctx);
int store_sq_import_rows(struct store *st, store_row_next_fn next, void *ctx);

#endif
