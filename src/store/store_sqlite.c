/*
 * The SQLite back end of the store: connections, transactions, the
 * statement helper and the ops table. The operations live beside it, one
 * file per concern (sqlite_int.h lists them).
 *
 * One writer connection behind a mutex does every write in a transaction
 * (WAL journal, synchronous=FULL: a commit that returns is on disk). Reads
 * take a connection from a small pool, so readers never wait for the writer.
 * Schema changes are numbered migrations applied in order at open
 * (sqlite_schema.c).
 *
 * How the contract of store.h is kept here: a write transaction starts with
 * BEGIN IMMEDIATE, which takes the database's write lock, so writers of
 * every process sharing the file run one after the other and a claim or a
 * compare-and-set reads and writes with nobody in between. A connection
 * waits up to BUSY_MS for a lock; then the call fails with AIM_ERR_BUSY. A
 * unique key violated is AIM_ERR_EXISTS; any other SQLite failure is
 * AIM_ERR_STORAGE.
 */
#include "store/sqlite_int.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define BUSY_MS 10000

/* ---- Failures and the statement helper ------------------------------------ */

int store_sq_fail(sqlite3 *db, int rc, const char *what)
{
	int ext = db ? sqlite3_extended_errcode(db) : rc;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return aim_fail(AIM_ERR_EXISTS, "%s: already exists", what);
	/* A row referred to is gone: lost a race with its deletion. */
	if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
		return aim_fail(AIM_ERR_CONFLICT, "%s: %s", what, msg);
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return aim_fail(AIM_ERR_BUSY, "%s: database busy", what);
	case SQLITE_NOMEM:
		return aim_fail(AIM_ERR_NOMEM, "%s: %s", what, msg);
	case SQLITE_CONSTRAINT: /* NOT NULL, CHECK: a row this code built wrong */
	case SQLITE_MISUSE:
	case SQLITE_RANGE:
		return aim_fail(AIM_ERR_INTERNAL, "%s: %s", what, msg);
	default:
		/* I/O, full, corrupt, cannot open, read-only...: the database
		 * failed, nothing was done */
		return aim_fail(AIM_ERR_STORAGE, "%s: %s", what, msg);
	}
}

int store_sq_script(sqlite3 *db, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_sq_fail(db, rc, what);
	return 0;
}

/* ---- The statement cache -------------------------------------------------- *
 *
 * Each connection opened here keeps its prepared statements, so SQL is
 * compiled once per connection rather than once per call. A connection is
 * used by one thread at a time (the writer under wlock, a reader taken from
 * the pool), so its cache needs no lock; the registry that finds a
 * connection's cache is written only when a connection opens or closes. The
 * cache is direct-mapped on the SQL text's address and checks the text, so
 * SQL built at run time (which may reuse an address) is never confused. A
 * statement in use (a row callback that runs the same SQL) is not shared: the
 * inner call prepares its own. After each use a statement is reset and its
 * bindings cleared; all are finalized before the connection closes. */

#define STMT_SLOTS 256
#define CONN_MAX 64

struct stmt_slot {
	const char *key;             /* the caller's SQL pointer */
	sqlite3_stmt *q;
	bool busy;
};

struct stmt_cache {
	struct stmt_slot slot[STMT_SLOTS];
};

static struct {
	sqlite3 *_Atomic db;
	struct stmt_cache *c;
} conns[CONN_MAX];
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;

static void cache_register(sqlite3 *db)
{
	pthread_mutex_lock(&conns_lock);
	for (size_t i = 0; i < CONN_MAX; i++)
		if (!atomic_load(&conns[i].db)) {
			conns[i].c = aim_xcalloc(1, sizeof *conns[i].c);
			atomic_store(&conns[i].db, db);
			break;
		}
	/* full: this connection prepares each statement afresh */
	pthread_mutex_unlock(&conns_lock);
}

static struct stmt_cache *cache_of(sqlite3 *db)
{
	for (size_t i = 0; i < CONN_MAX; i++)
		if (atomic_load(&conns[i].db) == db)
			return conns[i].c;
	return NULL;
}

/* Finalizes db's statements and closes it. */
static void close_conn(sqlite3 *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&conns_lock);
	for (size_t i = 0; i < CONN_MAX; i++)
		if (atomic_load(&conns[i].db) == db) {
			for (size_t k = 0; k < STMT_SLOTS; k++)
				sqlite3_finalize(conns[i].c->slot[k].q);
			free(conns[i].c);
			conns[i].c = NULL;
			atomic_store(&conns[i].db, NULL);
		}
	pthread_mutex_unlock(&conns_lock);
	sqlite3_close(db);
}

static struct stmt_slot *slot_for(struct stmt_cache *c, const char *sql)
{
	uintptr_t h = (uintptr_t)sql;
	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15u;
	return &c->slot[(h >> 24) % STMT_SLOTS];
}

/* Gives back a statement prepare() made for sql: reset and unbound if
 * cached, finalized if not. */
static void release(sqlite3 *db, const char *sql, sqlite3_stmt *q)
{
	if (!q)
		return;
	struct stmt_cache *c = cache_of(db);
	struct stmt_slot *sl = c ? slot_for(c, sql) : NULL;
	if (sl && sl->q == q) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		sl->busy = false;
		return;
	}
	sqlite3_finalize(q);
}

/* A prepared statement for sql: the cached one if free, else a new one
 * (kept in the cache when its slot is free). */
static int get_stmt(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	struct stmt_cache *c = cache_of(db);
	struct stmt_slot *sl = c ? slot_for(c, sql) : NULL;
	if (sl && sl->q && sl->key == sql && !sl->busy && !strcmp(sqlite3_sql(sl->q), sql)) {
		sl->busy = true;
		*out = sl->q;
		return SQLITE_OK;
	}
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v3(db, sql, -1, sl ? SQLITE_PREPARE_PERSISTENT : 0, &q, NULL);
	if (rc != SQLITE_OK) {
		*out = NULL;
		return rc;
	}
	if (sl && !sl->busy) {
		sqlite3_finalize(sl->q);
		sl->key = sql;
		sl->q = q;
		sl->busy = true;
	}
	*out = q;
	return SQLITE_OK;
}

/* Prepares sql (or takes it from the cache) and binds a to ?1..?n; the count
 * must match the statement's. Give the statement back with release(). */
static int prepare(sqlite3 *db, const char *what, const char *sql, struct sq_args a,
		   sqlite3_stmt **out)
{
	sqlite3_stmt *q = NULL;
	int rc = get_stmt(db, sql, &q);
	if (rc != SQLITE_OK) {
		*out = NULL;
		return store_sq_fail(db, rc, "prepare");
	}
	int want = sqlite3_bind_parameter_count(q);
	if (want != (int)a.n) {
		release(db, sql, q);
		*out = NULL;
		return aim_fail(AIM_ERR_INTERNAL, "%s: %zu arguments for %d parameters", what, a.n,
				want);
	}
	for (size_t i = 0; i < a.n && rc == SQLITE_OK; i++) {
		const struct sq_arg *v = &a.v[i];
		int p = (int)i + 1;
		switch (v->kind) {
		case SQ_INT:
			rc = sqlite3_bind_int64(q, p, v->i);
			break;
		case SQ_TEXT:
			rc = v->s ? sqlite3_bind_text(q, p, v->s, -1, SQLITE_STATIC)
				  : sqlite3_bind_null(q, p);
			break;
		case SQ_BLOB:
			rc = sqlite3_bind_blob(q, p, v->p, v->n, SQLITE_STATIC);
			break;
		default:
			rc = SQLITE_MISUSE;
		}
	}
	if (rc != SQLITE_OK) {
		int r = store_sq_fail(db, rc, what);
		release(db, sql, q);
		*out = NULL;
		return r;
	}
	*out = q;
	return 0;
}

int store_sq_exec(sqlite3 *db, const char *what, const char *sql, struct sq_args a,
		  struct sq_done *done)
{
	struct sq_done d = { 0 };
	sqlite3_stmt *q;
	int rc = prepare(db, what, sql, a, &q);
	if (rc == 0) {
		int step = sqlite3_step(q);
		if (step == SQLITE_DONE) {
			d.changes = sqlite3_changes(db);
			d.rowid = sqlite3_last_insert_rowid(db);
		} else {
			d.ext = sqlite3_extended_errcode(db);
			rc = store_sq_fail(db, step, what);
		}
		release(db, sql, q);
	}
	if (done)
		*done = d;
	return rc;
}

/* Steps q through fn until the end, a non-zero return of fn, or `max` rows
 * (0: no maximum); *n = rows seen. */
static int step_rows(sqlite3 *db, const char *what, sqlite3_stmt *q, sq_row_fn fn, void *ctx,
		     size_t max, size_t *n)
{
	int rc = 0, step = SQLITE_DONE;
	*n = 0;
	while ((max == 0 || *n < max) && (step = sqlite3_step(q)) == SQLITE_ROW) {
		++*n;
		if (fn && (rc = fn(ctx, q)) != 0)
			return rc;
	}
	if ((max == 0 || *n < max) && step != SQLITE_DONE)
		return store_sq_fail(db, step, what);
	return 0;
}

int store_sq_rows(sqlite3 *db, const char *what, const char *sql, struct sq_args a,
		  sq_row_fn fn, void *ctx)
{
	sqlite3_stmt *q;
	TRY(prepare(db, what, sql, a, &q));
	size_t n;
	int rc = step_rows(db, what, q, fn, ctx, 0, &n);
	release(db, sql, q);
	return rc;
}

int store_sq_row(sqlite3 *db, const char *what, const char *sql, struct sq_args a,
		 sq_row_fn fn, void *ctx, bool *found)
{
	sqlite3_stmt *q;
	TRY(prepare(db, what, sql, a, &q));
	size_t n;
	int rc = step_rows(db, what, q, fn, ctx, 1, &n);
	release(db, sql, q);
	if (rc != 0)
		return rc;
	if (found)
		*found = n > 0;
	else if (n == 0)
		return aim_fail(AIM_ERR_NOTFOUND, "no such row");
	return 0;
}

static int int_row(void *ctx, sqlite3_stmt *q)
{
	*(int64_t *)ctx = sqlite3_column_int64(q, 0);
	return 0;
}

int store_sq_int(sqlite3 *db, const char *what, const char *sql, struct sq_args a, int64_t *out,
		 bool *found)
{
	return store_sq_row(db, what, sql, a, int_row, out, found);
}

/* ---- Connections ---------------------------------------------------------- */

static int open_conn(const char *path, bool writer, sqlite3 **out)
{
	int flags = SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
						 : SQLITE_OPEN_READONLY);
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		int r = aim_fail(AIM_ERR_STORAGE, "open %s: %s", path,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return r;
	}
	cache_register(db);
	sqlite3_busy_timeout(db, BUSY_MS);
	sqlite3_extended_result_codes(db, 1);
	if (store_sq_script(db, "PRAGMA foreign_keys=ON;", "pragma") != 0) {
		close_conn(db);
		return -1;
	}
	*out = db;
	return 0;
}

sqlite3 *store_sq_reader(struct sq *s)
{
	sqlite3 *db = NULL;
	pthread_mutex_lock(&s->plock);
	if (s->npool > 0)
		db = s->pool[--s->npool];
	pthread_mutex_unlock(&s->plock);
	if (!db && open_conn(s->path, false, &db) != 0)
		return NULL;
	return db;
}

void store_sq_reader_put(struct sq *s, sqlite3 *db)
{
	pthread_mutex_lock(&s->plock);
	if (s->npool < STORE_SQ_POOL_MAX) {
		s->pool[s->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&s->plock);
	close_conn(db);
}

int store_sq_read_rows(struct store *st, const char *what, const char *sql, struct sq_args a,
		       sq_row_fn fn, void *ctx)
{
	sqlite3 *db = store_sq_reader(SQ(st));
	if (!db)
		return -1;
	int rc = store_sq_rows(db, what, sql, a, fn, ctx);
	store_sq_reader_put(SQ(st), db);
	return rc;
}

int store_sq_read_row(struct store *st, const char *what, const char *sql, struct sq_args a,
		      sq_row_fn fn, void *ctx, bool *found)
{
	sqlite3 *db = store_sq_reader(SQ(st));
	if (!db)
		return -1;
	int rc = store_sq_row(db, what, sql, a, fn, ctx, found);
	store_sq_reader_put(SQ(st), db);
	return rc;
}

int store_sq_read_int(struct store *st, const char *what, const char *sql, struct sq_args a,
		      int64_t *out, bool *found)
{
	return store_sq_read_row(st, what, sql, a, int_row, out, found);
}

/* ---- Transactions --------------------------------------------------------- */

int store_sq_write(struct store *st, const char *what, const char *sql, struct sq_args a,
		   struct sq_done *done)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	int rc = store_sq_exec(s->w, what, sql, a, done);
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

int store_sq_write_tx(struct store *st, int (*fn)(sqlite3 *db, void *ctx), void *ctx)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	int rc = store_sq_exec(s->w, "begin", "BEGIN IMMEDIATE;", NOARGS, NULL);
	if (rc == 0) {
		rc = fn(s->w, ctx);
		if (rc == 0)
			rc = store_sq_exec(s->w, "commit", "COMMIT;", NOARGS, NULL);
		if (rc != 0) {
			/* Keep the first failure's reason; a rollback error adds nothing. */
			enum aim_err code = aim_errcode();
			char msg[256];
			snprintf(msg, sizeof msg, "%s", aim_errmsg());
			sqlite3_exec(s->w, "ROLLBACK;", NULL, NULL, NULL);
			aim_fail(code, "%s", msg);
		}
	}
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

/* ---- Opening, closing, the ops table ------------------------------------- */

static const struct store_ops sqlite_ops;

static void sq_close(struct store *st)
{
	struct sq *s = SQ(st);
	for (size_t i = 0; i < s->npool; i++)
		close_conn(s->pool[i]);
	if (s->w) {
		/* Folds the WAL back into the main file so the directory is tidy. */
		sqlite3_exec(s->w, "PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
		close_conn(s->w);
	}
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->plock);
	free(s->path);
	free(s);
	free(st);
}

int store_open_sqlite(const char *path, struct store **out)
{
	return store_open_sqlite_ex(path, 0, out);
}

int store_open_sqlite_ex(const char *path, unsigned flags, struct store **out)
{
	struct sq *s = aim_xcalloc(1, sizeof *s);
	struct store *st = aim_xcalloc(1, sizeof *st);
	st->ops = &sqlite_ops;
	st->impl = s;
	s->path = aim_xstrdup(path);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->plock, NULL);
	if (open_conn(path, true, &s->w) != 0)
		goto fail;
	/* WAL keeps readers off the writer's back; FULL makes COMMIT durable. */
	if (store_sq_script(s->w, "PRAGMA journal_mode=WAL;", "journal_mode") != 0 ||
	    store_sq_script(s->w, "PRAGMA synchronous=FULL;", "synchronous") != 0 ||
	    (!(flags & STORE_OPEN_NO_MIGRATE) && store_sq_migrate(s->w, NULL, NULL) != 0))
		goto fail;
	*out = st;
	return 0;
fail:
	sq_close(st);
	return -1;
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	/* sqlite_schema.c */
	.meta_get = store_sq_meta_get,
	.meta_set = store_sq_meta_set,
	.schema_version = store_sq_schema_version,
	/* sqlite_state.c */
	.state_get = store_sq_state_get,
	.state_cas = store_sq_state_cas,
	/* sqlite_users.c */
	.user_add = store_sq_user_add,
	.user_get = store_sq_user_get,
	.user_get_id = store_sq_user_get_id,
	.user_count = store_sq_user_count,
	.user_private_keys = store_sq_user_private_keys,
	.token_add = store_sq_token_add,
	.token_find = store_sq_token_find,
	.manual_approval_get = store_sq_manual_approval_get,
	.manual_approval_set = store_sq_manual_approval_set,
	.user_list = store_sq_user_list,
	.user_gone = store_sq_user_gone,
	.token_list = store_sq_token_list,
	.token_revoke = store_sq_token_revoke,
	.user_delete = store_sq_user_delete,
	/* sqlite_activities.c */
	.activity_add = store_sq_activity_add,
	.activity_get = store_sq_activity_get,
	.object_get = store_sq_object_get,
	.outbox_page = store_sq_outbox_page,
	.outbox_count = store_sq_outbox_count,
	.inbox_page = store_sq_inbox_page,
	.inbox_count = store_sq_inbox_count,
	.activity_lookup = store_sq_activity_lookup,
	.followers_page = store_sq_followers_page,
	.following_page = store_sq_following_page,
	.following_count = store_sq_following_count,
	/* sqlite_keypackages.c */
	.keypackage_page = store_sq_keypackage_page,
	.keypackage_count = store_sq_keypackage_count,
	.keypackage_add = store_sq_keypackage_add,
	.keypackage_stock = store_sq_keypackage_stock,
	.keypackage_claim = store_sq_keypackage_claim,
	.keypackage_withdraw_device = store_sq_keypackage_withdraw_device,
	.claims_policy_get = store_sq_claims_policy_get,
	.claims_policy_set = store_sq_claims_policy_set,
	.channel_apply = store_sq_channel_apply,
	.channel_get = store_sq_channel_get,
	.channel_members = store_sq_channel_members,
	.channel_outbox_page = store_sq_channel_outbox_page,
	.channel_join = store_sq_channel_join,
	.channel_joined = store_sq_channel_joined,
	.channel_last_seq = store_sq_channel_last_seq,
	.channel_moved = store_sq_channel_moved,
	.channel_receive = store_sq_channel_receive,
	/* sqlite_deliveries.c */
	.delivery_enqueue = store_sq_delivery_enqueue,
	.delivery_claim = store_sq_delivery_claim,
	.delivery_renew = store_sq_delivery_renew,
	.delivery_release = store_sq_delivery_release,
	.delivery_earliest = store_sq_delivery_earliest,
	.delivery_finish = store_sq_delivery_finish,
	.delivery_claim_batch = store_sq_delivery_claim_batch,
	.delivery_finish_batch = store_sq_delivery_finish_batch,
	.delivery_resolve = store_sq_delivery_resolve,
	.delivery_defer_host = store_sq_delivery_defer_host,
	.delivery_expire_overdue = store_sq_delivery_expire_overdue,
	.host_failure = store_sq_host_failure,
	.delivery_list = store_sq_delivery_list,
	.host_scheme_get = store_sq_host_scheme_get,
	.host_scheme_set = store_sq_host_scheme_set,
	/* sqlite_inbound.c */
	.inbound_commit = store_sq_inbound_commit,
	.inbound_commit_batch = store_sq_inbound_commit_batch,
	.followers_list = store_sq_followers_list,
	.followers_count = store_sq_followers_count,
	.following_state = store_sq_following_state,
	.blocked = store_sq_blocked,
	.following_users = store_sq_following_users,
	/* sqlite_identity.c */
	.ca_cert_add = store_sq_ca_cert_add,
	.ca_cert_list = store_sq_ca_cert_list,
	.device_put = store_sq_device_put,
	.device_get = store_sq_device_get,
	.device_by_key = store_sq_device_by_key,
	.device_list = store_sq_device_list,
	.device_revoke = store_sq_device_revoke,
	/* sqlite_admin.c */
	.schema_latest = store_sq_schema_latest,
	.migrate = store_sq_migrate_all,
	.integrity_check = store_sq_integrity_check,
	.stats = store_sq_stats,
	/* sqlite_export.c */
	.export_rows = store_sq_export_rows,
	.import_rows = store_sq_import_rows,
};
