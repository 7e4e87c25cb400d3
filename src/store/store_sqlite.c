/*
 * The SQLite back end of the store.
 *
 * One writer connection behind a mutex does every write in a transaction
 * (WAL journal, synchronous=FULL: a commit that returns is on disk). Reads
 * take a connection from a small pool, so readers never wait for the writer.
 * Schema changes are numbered migrations applied in order at open and
 * recorded in `schema_version`.
 */
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 8
#define BUSY_MS 10000

struct sq {
	char *path;
	pthread_mutex_t wlock;
	sqlite3 *w;
	pthread_mutex_t plock;
	sqlite3 *pool[POOL_MAX];
	size_t npool;
};

/* Migrations: index i brings the schema from version i to i + 1. Never edit
 * a released entry; append a new one. */
static const char *const migrations[] = {
	/* 1: the first schema */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" rsa_public TEXT NOT NULL, rsa_private TEXT NOT NULL,"
	" ed_public BLOB NOT NULL, ed_private TEXT NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE tokens(hash BLOB PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES users(id), created INTEGER NOT NULL);"
	"CREATE TABLE activities(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
	" author INTEGER NOT NULL REFERENCES users(id), public INTEGER NOT NULL,"
	" json TEXT NOT NULL, published INTEGER NOT NULL);"
	"CREATE INDEX activities_author ON activities(author, seq);"
	"CREATE TABLE objects(id TEXT PRIMARY KEY,"
	" activity_seq INTEGER NOT NULL REFERENCES activities(seq), json TEXT NOT NULL);"
	"CREATE TABLE audience(activity_seq INTEGER NOT NULL REFERENCES activities(seq),"
	" user_id INTEGER NOT NULL REFERENCES users(id),"
	" PRIMARY KEY(activity_seq, user_id)) WITHOUT ROWID;"
	"CREATE INDEX audience_user ON audience(user_id, activity_seq);"
	"CREATE TABLE inbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" user_id INTEGER NOT NULL REFERENCES users(id),"
	" activity_seq INTEGER NOT NULL REFERENCES activities(seq),"
	" UNIQUE(user_id, activity_seq));",
	/* 2: the delivery queue (federation: outbound) */
	"CREATE TABLE outgoing(id INTEGER PRIMARY KEY AUTOINCREMENT, activity_id TEXT NOT NULL,"
	" signer INTEGER NOT NULL REFERENCES users(id), body TEXT NOT NULL,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE deliveries(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" outgoing_id INTEGER NOT NULL REFERENCES outgoing(id), inbox TEXT, actor TEXT,"
	" host TEXT NOT NULL, personal INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
	" attempts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
	" next_at INTEGER NOT NULL, updated INTEGER NOT NULL,"
	" last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
	" CHECK (inbox IS NOT NULL OR actor IS NOT NULL));"
	"CREATE UNIQUE INDEX deliveries_inbox ON deliveries(outgoing_id, inbox)"
	" WHERE inbox IS NOT NULL;"
	"CREATE UNIQUE INDEX deliveries_actor ON deliveries(outgoing_id, actor)"
	" WHERE inbox IS NULL;"
	"CREATE INDEX deliveries_due ON deliveries(state, next_at);"
	"CREATE INDEX deliveries_host ON deliveries(host, state);"
	"CREATE TABLE delivery_hosts(host TEXT PRIMARY KEY, scheme INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);",
	/* 3: federation, inbound (F1): remote activities (author = the reserved
	 * remote row, actor = their URL), tombstones, followers, follows, blocks,
	 * manual approval of followers */
	"ALTER TABLE users ADD COLUMN manual_approval INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE activities ADD COLUMN actor TEXT;"
	"CREATE INDEX activities_actor ON activities(actor) WHERE actor IS NOT NULL;"
	"ALTER TABLE objects ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE followers(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" user_id INTEGER NOT NULL REFERENCES users(id), actor TEXT NOT NULL,"
	" inbox TEXT NOT NULL, shared_inbox TEXT, follow_id TEXT NOT NULL,"
	" state INTEGER NOT NULL, created INTEGER NOT NULL, UNIQUE(user_id, actor));"
	"CREATE INDEX followers_actor ON followers(actor);"
	"CREATE TABLE following(user_id INTEGER NOT NULL REFERENCES users(id),"
	" actor TEXT NOT NULL, follow_id TEXT NOT NULL, state INTEGER NOT NULL,"
	" created INTEGER NOT NULL, PRIMARY KEY(user_id, actor));"
	"CREATE INDEX following_actor ON following(actor);"
	"CREATE TABLE blocks(user_id INTEGER NOT NULL REFERENCES users(id),"
	" actor TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY(user_id, actor));"
	"INSERT INTO users(name, rsa_public, rsa_private, ed_public, ed_private, created)"
	" VALUES ('" STORE_REMOTE_NAME "', '', '', x'', '', 0);",
	/* 4: delivery queue (F2): pending rows by inbox and by actor, for the
	 * per-recipient order of deliveries */
	("CREATE INDEX deliveries_pending_inbox ON deliveries(inbox, id) WHERE state = 0;"
	 "CREATE INDEX deliveries_pending_actor ON deliveries(actor, id) WHERE state = 0;"),
};

int store_sqlite_latest_version(void)
{
	return (int)AIM_ARRAY_LEN(migrations);
}

static struct sq *SQ(struct store *st)
{
	return st->impl;
}

static int db_fail(sqlite3 *db, int rc, const char *what)
{
	int ext = db ? sqlite3_extended_errcode(db) : rc;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return aim_fail(AIM_ERR_EXISTS, "%s: already exists", what);
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return aim_fail(AIM_ERR_BUSY, "%s: database busy", what);
	return aim_fail(AIM_ERR_STORAGE, "%s: %s", what, msg);
}

static int exec(sqlite3 *db, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, what);
	return 0;
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **stmt)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, stmt, NULL);
	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return db_fail(db, rc, "prepare");
	}
	return 0;
}

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
	sqlite3_busy_timeout(db, BUSY_MS);
	sqlite3_extended_result_codes(db, 1);
	if (exec(db, "PRAGMA foreign_keys=ON;", "pragma") != 0) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

static sqlite3 *reader_get(struct sq *s)
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

static void reader_put(struct sq *s, sqlite3 *db)
{
	pthread_mutex_lock(&s->plock);
	if (s->npool < POOL_MAX) {
		s->pool[s->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&s->plock);
	if (db)
		sqlite3_close(db);
}

/* Runs the migrations past the recorded version, each in its own transaction. */
static int migrate(sqlite3 *db)
{
	TRY(exec(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);",
		 "schema_version"));
	for (;;) {
		sqlite3_stmt *q;
		TRY(prep(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version;", &q));
		int v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
		sqlite3_finalize(q);
		ENSURE(v >= 0, AIM_ERR_STORAGE, "cannot read schema version");
		ENSURE(v <= store_sqlite_latest_version(), AIM_ERR_UNSUPPORTED,
		       "database schema version %d is newer than this aimd (%d)", v,
		       store_sqlite_latest_version());
		if (v == store_sqlite_latest_version())
			return 0;
		TRY(exec(db, "BEGIN IMMEDIATE;", "begin migration"));
		char bump[96];
		snprintf(bump, sizeof bump, "INSERT INTO schema_version(version) VALUES (%d);", v + 1);
		if (exec(db, migrations[v], "migration") != 0 || exec(db, bump, "migration") != 0 ||
		    exec(db, "COMMIT;", "commit migration") != 0) {
			int code = aim_errcode();
			char msg[256];
			snprintf(msg, sizeof msg, "%s", aim_errmsg());
			sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
			return aim_fail(code, "migration to version %d: %s", v + 1, msg);
		}
		aim_log(AIM_LOG_INFO, "store", "schema migrated to version %d", v + 1);
	}
}

static const struct store_ops sqlite_ops;

static void sq_close(struct store *st)
{
	struct sq *s = SQ(st);
	for (size_t i = 0; i < s->npool; i++)
		sqlite3_close(s->pool[i]);
	if (s->w) {
		/* Folds the WAL back into the main file so the directory is tidy. */
		sqlite3_exec(s->w, "PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
		sqlite3_close(s->w);
	}
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->plock);
	free(s->path);
	free(s);
	free(st);
}

int store_open_sqlite(const char *path, struct store **out)
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
	if (exec(s->w, "PRAGMA journal_mode=WAL;", "journal_mode") != 0 ||
	    exec(s->w, "PRAGMA synchronous=FULL;", "synchronous") != 0 || migrate(s->w) != 0)
		goto fail;
	*out = st;
	return 0;
fail:
	sq_close(st);
	return -1;
}

/* ---- Small row helpers ------------------------------------------------- */

static char *col_str(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return aim_xstrdup(t ? (const char *)t : "");
}

static int sq_schema_version(struct store *st, int *version)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version;", &q);
	if (rc == 0) {
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW)
			*version = sqlite3_column_int(q, 0);
		else
			rc = db_fail(db, r, "schema version");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_meta_get(struct store *st, const char *key, char **val)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT value FROM meta WHERE key = ?1;", &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW)
			*val = col_str(q, 0);
		else if (r == SQLITE_DONE)
			rc = aim_fail(AIM_ERR_NOTFOUND, "no setting %s", key);
		else
			rc = db_fail(db, r, "meta get");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

/* Runs one prepared single statement on the writer (caller holds wlock). */
static int step_done(sqlite3 *db, sqlite3_stmt *q, const char *what)
{
	int r = sqlite3_step(q);
	int rc = r == SQLITE_DONE ? 0 : db_fail(db, r, what);
	sqlite3_finalize(q);
	return rc;
}

static int sq_meta_set(struct store *st, const char *key, const char *val)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	sqlite3_stmt *q;
	int rc = prep(s->w,
		      "INSERT INTO meta(key, value) VALUES (?1, ?2)"
		      " ON CONFLICT(key) DO UPDATE SET value = excluded.value;",
		      &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 2, val, -1, SQLITE_TRANSIENT);
		rc = step_done(s->w, q, "meta set");
	}
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

/* ---- Users and tokens ------------------------------------------------------ */

static int sq_user_add(struct store *st, const struct store_new_user *u, int64_t *id)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	sqlite3_stmt *q;
	int rc = prep(s->w,
		      "INSERT INTO users(name, rsa_public, rsa_private, ed_public, ed_private, created)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6);",
		      &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, u->name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 2, u->rsa_public_pem, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 3, u->rsa_private_pem, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob(q, 4, u->ed25519_public, 32, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 5, u->ed25519_private_pem, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 6, aim_now());
		rc = step_done(s->w, q, "user add");
		if (rc == 0 && id)
			*id = sqlite3_last_insert_rowid(s->w);
		if (rc != 0 && aim_errcode() == AIM_ERR_EXISTS)
			rc = aim_fail(AIM_ERR_EXISTS, "user %s already exists", u->name);
	}
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

static int user_get_where(struct store *st, const char *where, const char *name, int64_t id,
			  struct store_user *out)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT id, name, rsa_public, ed_public, created FROM users WHERE %s;",
		 where);
	sqlite3_stmt *q;
	int rc = prep(db, sql, &q);
	if (rc == 0) {
		if (name)
			sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(q, 1, id);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW) {
			memset(out, 0, sizeof *out);
			out->id = sqlite3_column_int64(q, 0);
			const unsigned char *n = sqlite3_column_text(q, 1);
			snprintf(out->name, sizeof out->name, "%s", n ? (const char *)n : "");
			out->rsa_public_pem = col_str(q, 2);
			if (sqlite3_column_bytes(q, 3) == 32)
				memcpy(out->ed25519_public, sqlite3_column_blob(q, 3), 32);
			out->created = sqlite3_column_int64(q, 4);
		} else if (r == SQLITE_DONE) {
			rc = aim_fail(AIM_ERR_NOTFOUND, "no such user");
		} else {
			rc = db_fail(db, r, "user get");
		}
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_user_get(struct store *st, const char *name, struct store_user *out)
{
	return user_get_where(st, "name = ?1", name, 0, out);
}

static int sq_user_get_id(struct store *st, int64_t id, struct store_user *out)
{
	return user_get_where(st, "id = ?1", NULL, id, out);
}

/* A one-integer query on a reader: binds up to three integers ?1..?3. */
static int query_int(struct store *st, const char *sql, int64_t a, int64_t b, int64_t c,
		     int64_t *out)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, sql, &q);
	if (rc == 0) {
		int n = sqlite3_bind_parameter_count(q);
		if (n >= 1)
			sqlite3_bind_int64(q, 1, a);
		if (n >= 2)
			sqlite3_bind_int64(q, 2, b);
		if (n >= 3)
			sqlite3_bind_int64(q, 3, c);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW)
			*out = sqlite3_column_int64(q, 0);
		else
			rc = db_fail(db, r, "count");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_user_count(struct store *st, int64_t *n)
{
	return query_int(st, "SELECT COUNT(*) FROM users WHERE name NOT LIKE '~%';",
			 0, 0, 0, n);
}

static int sq_user_private_keys(struct store *st, int64_t id, char **rsa_pem, char **ed_pem)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT rsa_private, ed_private FROM users WHERE id = ?1;", &q);
	if (rc == 0) {
		sqlite3_bind_int64(q, 1, id);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW) {
			*rsa_pem = col_str(q, 0);
			*ed_pem = col_str(q, 1);
		} else if (r == SQLITE_DONE) {
			rc = aim_fail(AIM_ERR_NOTFOUND, "no such user");
		} else {
			rc = db_fail(db, r, "private keys");
		}
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_token_add(struct store *st, int64_t user, const uint8_t hash[32])
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	sqlite3_stmt *q;
	int rc = prep(s->w, "INSERT INTO tokens(hash, user_id, created) VALUES (?1, ?2, ?3);", &q);
	if (rc == 0) {
		sqlite3_bind_blob(q, 1, hash, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, user);
		sqlite3_bind_int64(q, 3, aim_now());
		rc = step_done(s->w, q, "token add");
		if (rc != 0 && sqlite3_extended_errcode(s->w) == SQLITE_CONSTRAINT_FOREIGNKEY)
			rc = aim_fail(AIM_ERR_NOTFOUND, "no such user");
	}
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

static int sq_token_find(struct store *st, const uint8_t hash[32], int64_t *user)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT user_id FROM tokens WHERE hash = ?1;", &q);
	if (rc == 0) {
		sqlite3_bind_blob(q, 1, hash, 32, SQLITE_TRANSIENT);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW)
			*user = sqlite3_column_int64(q, 0);
		else if (r == SQLITE_DONE)
			rc = aim_fail(AIM_ERR_NOTFOUND, "unknown token");
		else
			rc = db_fail(db, r, "token find");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

/* ---- Activities ------------------------------------------------------------ */

static int insert_pairs(sqlite3 *db, const char *sql, int64_t seq, const int64_t *ids, size_t n,
			const char *what)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *q;
		TRY(prep(db, sql, &q));
		sqlite3_bind_int64(q, 1, seq);
		sqlite3_bind_int64(q, 2, ids[i]);
		TRY(step_done(db, q, what));
	}
	return 0;
}

/* ---- Delivery queue (federation: outbound) ------------------------------- */

/* Inserts the outgoing activity and its delivery rows on the writer, inside
 * the caller's transaction. Duplicate inboxes / actors collapse. */
static int enqueue_tx(sqlite3 *db, const struct store_outgoing *o)
{
	ENSURE(o->activity_id && o->body && o->signer > 0, AIM_ERR_INVALID,
	       "incomplete outgoing activity");
	if (o->n == 0)
		return 0;
	sqlite3_stmt *q;
	int64_t now = o->now_ms ? o->now_ms : aim_now_ms();
	TRY(prep(db, "INSERT INTO outgoing(activity_id, signer, body, created) VALUES (?1, ?2, ?3, ?4);",
		 &q));
	sqlite3_bind_text(q, 1, o->activity_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, o->signer);
	sqlite3_bind_text(q, 3, o->body, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 4, now);
	TRY(step_done(db, q, "outgoing add"));
	int64_t oid = sqlite3_last_insert_rowid(db);
	for (size_t i = 0; i < o->n; i++) {
		const struct store_new_delivery *d = &o->v[i];
		ENSURE((d->inbox || d->actor) && d->host, AIM_ERR_INVALID,
		       "a delivery needs an inbox or an actor, and a host");
		TRY(prep(db,
			 "INSERT OR IGNORE INTO deliveries(outgoing_id, inbox, actor, host, personal,"
			 " created, next_at, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6);",
			 &q));
		sqlite3_bind_int64(q, 1, oid);
		if (d->inbox)
			sqlite3_bind_text(q, 2, d->inbox, -1, SQLITE_TRANSIENT);
		if (d->actor)
			sqlite3_bind_text(q, 3, d->actor, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 4, d->host, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(q, 5, d->personal ? 1 : 0);
		sqlite3_bind_int64(q, 6, now);
		TRY(step_done(db, q, "delivery add"));
	}
	return 0;
}

static int add_activity_tx(sqlite3 *db, const struct store_new_activity *a, int64_t *seq)
{
	sqlite3_stmt *q;
	TRY(prep(db,
		 "INSERT INTO activities(id, author, public, json, published)"
		 " VALUES (?1, ?2, ?3, ?4, ?5);",
		 &q));
	sqlite3_bind_text(q, 1, a->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, a->author);
	sqlite3_bind_int(q, 3, a->is_public ? 1 : 0);
	sqlite3_bind_text(q, 4, a->json, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 5, a->published);
	TRY(step_done(db, q, "activity add"));
	int64_t s = sqlite3_last_insert_rowid(db);
	if (a->object_id) {
		TRY(prep(db, "INSERT INTO objects(id, activity_seq, json) VALUES (?1, ?2, ?3);", &q));
		sqlite3_bind_text(q, 1, a->object_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, s);
		sqlite3_bind_text(q, 3, a->object_json, -1, SQLITE_TRANSIENT);
		TRY(step_done(db, q, "object add"));
	}
	TRY(insert_pairs(db,
			 "INSERT OR IGNORE INTO audience(activity_seq, user_id) VALUES (?1, ?2);",
			 s, a->audience, a->n_audience, "audience add"));
	TRY(insert_pairs(db, "INSERT OR IGNORE INTO inbox(activity_seq, user_id) VALUES (?1, ?2);",
			 s, a->inbox, a->n_inbox, "inbox add"));
	/* Federation (outbound): its deliveries commit with it. */
	if (a->outgoing)
		TRY(enqueue_tx(db, a->outgoing));
	*seq = s;
	return 0;
}

static int write_tx(struct store *st, int (*fn)(sqlite3 *db, void *ctx), void *ctx);

struct activity_add_ctx {
	const struct store_new_activity *a;
	int64_t *seq;
};

static int activity_add_fn(sqlite3 *db, void *ctx)
{
	struct activity_add_ctx *c = ctx;
	return add_activity_tx(db, c->a, c->seq);
}

static int sq_activity_add(struct store *st, const struct store_new_activity *a, int64_t *seq)
{
	int64_t dummy;
	struct activity_add_ctx c = { a, seq ? seq : &dummy };
	return write_tx(st, activity_add_fn, &c);
}

/* Who may see activity `a` (an alias in the query): its author, anyone when it
 * is public, and the local users in its audience. ?V is the viewer. */
#define VISIBLE(a, V)                                                                      \
	"(" a ".author = " V " OR " a ".public = 1 OR EXISTS (SELECT 1 FROM audience au"   \
	" WHERE au.activity_seq = " a ".seq AND au.user_id = " V "))"

static int get_item(struct store *st, const char *sql, const char *id, int64_t viewer,
		    struct store_item *out)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, sql, &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, viewer);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW) {
			out->cursor = sqlite3_column_int64(q, 0);
			out->author = sqlite3_column_int64(q, 1);
			out->is_public = sqlite3_column_int(q, 2) != 0;
			out->json = col_str(q, 3);
		} else if (r == SQLITE_DONE) {
			rc = aim_fail(AIM_ERR_NOTFOUND, "no such item");
		} else {
			rc = db_fail(db, r, "get");
		}
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_activity_get(struct store *st, const char *id, int64_t viewer,
			   struct store_item *out)
{
	return get_item(st,
			"SELECT a.seq, a.author, a.public, a.json FROM activities a"
			" WHERE a.id = ?1 AND " VISIBLE("a", "?2") ";",
			id, viewer, out);
}

static int sq_object_get(struct store *st, const char *id, int64_t viewer, struct store_item *out)
{
	return get_item(st,
			"SELECT a.seq, a.author, a.public, o.json FROM objects o"
			" JOIN activities a ON a.seq = o.activity_seq"
			" WHERE o.id = ?1 AND " VISIBLE("a", "?2") ";",
			id, viewer, out);
}

/*
 * A page query. `from` is the FROM/WHERE part selecting (cursor, author,
 * public, json) rows with ?1 = collection owner and ?2 = viewer, and it must
 * leave room for "AND cursor-bound". Reads the page and whether items exist
 * beyond each end, all on one connection inside one read transaction so the
 * three answers agree.
 */
static int page_query(struct store *st, const char *select, const char *from, const char *cur,
		      int64_t owner, int64_t viewer, const struct store_range *r,
		      struct store_page *out)
{
	struct sq *s = SQ(st);
	memset(out, 0, sizeof *out);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	int rc = exec(db, "BEGIN;", "begin read");
	char sql[1024];
	bool asc = r->min_id > 0;
	int64_t maxb = r->max_id > 0 ? r->max_id : INT64_MAX;
	int64_t minb = r->min_id > 0 ? r->min_id : 0;
	sqlite3_stmt *q = NULL;
	if (rc == 0) {
		snprintf(sql, sizeof sql, "SELECT %s %s AND %s < ?3 AND %s > ?4 ORDER BY %s %s LIMIT ?5;",
			 select, from, cur, cur, cur, asc ? "ASC" : "DESC");
		rc = prep(db, sql, &q);
	}
	if (rc == 0) {
		sqlite3_bind_int64(q, 1, owner);
		sqlite3_bind_int64(q, 2, viewer);
		sqlite3_bind_int64(q, 3, maxb);
		sqlite3_bind_int64(q, 4, minb);
		sqlite3_bind_int64(q, 5, (int64_t)r->limit);
		out->items = aim_xcalloc(r->limit, sizeof *out->items);
		int step;
		while ((step = sqlite3_step(q)) == SQLITE_ROW && out->n < r->limit) {
			struct store_item *it = &out->items[out->n++];
			it->cursor = sqlite3_column_int64(q, 0);
			it->author = sqlite3_column_int64(q, 1);
			it->is_public = sqlite3_column_int(q, 2) != 0;
			it->json = col_str(q, 3);
		}
		if (step != SQLITE_DONE && step != SQLITE_ROW)
			rc = db_fail(db, step, "page");
		sqlite3_finalize(q);
	}
	if (rc == 0 && asc) {
		/* Newest first, always. */
		for (size_t i = 0; i < out->n / 2; i++) {
			struct store_item t = out->items[i];
			out->items[i] = out->items[out->n - 1 - i];
			out->items[out->n - 1 - i] = t;
		}
	}
	if (rc == 0 && out->n > 0) {
		for (int side = 0; side < 2 && rc == 0; side++) {
			snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 %s AND %s %s ?3);", from, cur,
				 side == 0 ? "<" : ">");
			rc = prep(db, sql, &q);
			if (rc != 0)
				break;
			sqlite3_bind_int64(q, 1, owner);
			sqlite3_bind_int64(q, 2, viewer);
			sqlite3_bind_int64(q, 3,
					   side == 0 ? out->items[out->n - 1].cursor : out->items[0].cursor);
			int step = sqlite3_step(q);
			if (step == SQLITE_ROW) {
				bool e = sqlite3_column_int(q, 0) != 0;
				if (side == 0)
					out->has_older = e;
				else
					out->has_newer = e;
			} else {
				rc = db_fail(db, step, "page bounds");
			}
			sqlite3_finalize(q);
		}
	}
	sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL);
	reader_put(s, db);
	if (rc != 0)
		store_page_clear(out);
	return rc;
}

#define OUTBOX_FROM " FROM activities a WHERE a.author = ?1 AND " VISIBLE("a", "?2")
#define INBOX_FROM                                                                         \
	" FROM inbox i JOIN activities a ON a.seq = i.activity_seq WHERE i.user_id = ?1"   \
	" AND ?2 = ?2"

static int sq_outbox_page(struct store *st, int64_t owner, int64_t viewer,
			  const struct store_range *r, struct store_page *out)
{
	return page_query(st, "a.seq, a.author, a.public, a.json", OUTBOX_FROM, "a.seq", owner,
			  viewer, r, out);
}

static int sq_outbox_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n)
{
	return query_int(st, "SELECT COUNT(*)" OUTBOX_FROM ";", owner, viewer, 0, n);
}

static int sq_inbox_page(struct store *st, int64_t user, const struct store_range *r,
			 struct store_page *out)
{
	return page_query(st, "i.seq, a.author, a.public, a.json", INBOX_FROM, "i.seq", user, 0, r,
			  out);
}

static int sq_inbox_count(struct store *st, int64_t user, int64_t *n)
{
	return query_int(st, "SELECT COUNT(*)" INBOX_FROM ";", user, 0, 0, n);
}

/* Runs fn(db, ctx) in one write transaction; rolls back on failure. */
static int write_tx(struct store *st, int (*fn)(sqlite3 *db, void *ctx), void *ctx)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	int rc = exec(s->w, "BEGIN IMMEDIATE;", "begin");
	if (rc == 0) {
		rc = fn(s->w, ctx);
		if (rc == 0)
			rc = exec(s->w, "COMMIT;", "commit");
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

static int enqueue_fn(sqlite3 *db, void *ctx)
{
	return enqueue_tx(db, ctx);
}

static int sq_delivery_enqueue(struct store *st, const struct store_outgoing *o)
{
	return write_tx(st, enqueue_fn, (void *)o);
}

#define DLV_COLS                                                                           \
	"d.id, d.outgoing_id, o.activity_id, d.inbox, d.actor, d.host, d.personal, o.signer," \
	" d.state, d.attempts, d.created, d.next_at, d.updated, d.last_status, d.last_error"
#define DLV_FROM " FROM deliveries d JOIN outgoing o ON o.id = d.outgoing_id"

static char *col_str_null(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? NULL : col_str(q, i);
}

static void dlv_row(sqlite3_stmt *q, struct store_delivery *d)
{
	memset(d, 0, sizeof *d);
	d->id = sqlite3_column_int64(q, 0);
	d->outgoing = sqlite3_column_int64(q, 1);
	d->activity_id = col_str(q, 2);
	d->inbox = col_str_null(q, 3);
	d->actor = col_str_null(q, 4);
	d->host = col_str(q, 5);
	d->personal = sqlite3_column_int(q, 6) != 0;
	d->signer = sqlite3_column_int64(q, 7);
	d->state = sqlite3_column_int(q, 8);
	d->attempts = sqlite3_column_int(q, 9);
	d->created_ms = sqlite3_column_int64(q, 10);
	d->next_ms = sqlite3_column_int64(q, 11);
	d->updated_ms = sqlite3_column_int64(q, 12);
	d->last_status = sqlite3_column_int(q, 13);
	d->last_error = col_str_null(q, 14);
}

static int sq_delivery_next(struct store *st, int64_t now_ms, const int64_t *skip_ids,
			    size_t n_skip, const char *const *skip_hosts, size_t n_hosts,
			    struct store_delivery *out)
{
	struct sq *s = SQ(st);
	struct aim_buf sql;
	aim_buf_init(&sql, 16384);
	/* Per recipient, one signer's activities go out in order (a Follow
	 * before its Undo): a row waits while an older one of the same signer
	 * to the same inbox or actor is pending (or in flight). */
	int rc = aim_buf_append_str(&sql, "SELECT " DLV_COLS ", o.body" DLV_FROM
					  " WHERE d.state = 0 AND d.next_at <= ?1"
					  " AND NOT EXISTS (SELECT 1 FROM deliveries e"
					  " JOIN outgoing eo ON eo.id = e.outgoing_id"
					  " WHERE e.state = 0 AND e.id < d.id AND eo.signer = o.signer"
					  " AND (e.inbox = d.inbox OR e.actor = d.actor))");
	int p = 2;
	for (size_t i = 0; rc == 0 && i < n_skip; i++)
		rc = aim_buf_printf(&sql, " AND d.id <> ?%d", p++);
	for (size_t i = 0; rc == 0 && i < n_hosts; i++)
		rc = aim_buf_printf(&sql, " AND d.host <> ?%d", p++);
	if (rc == 0)
		rc = aim_buf_append_str(&sql, " ORDER BY d.next_at, d.id LIMIT 1;");
	if (rc != 0) {
		aim_buf_free(&sql);
		return -1;
	}
	sqlite3 *db = reader_get(s);
	if (!db) {
		aim_buf_free(&sql);
		return -1;
	}
	sqlite3_stmt *q;
	rc = prep(db, (const char *)sql.data, &q);
	aim_buf_free(&sql);
	if (rc == 0) {
		p = 1;
		sqlite3_bind_int64(q, p++, now_ms);
		for (size_t i = 0; i < n_skip; i++)
			sqlite3_bind_int64(q, p++, skip_ids[i]);
		for (size_t i = 0; i < n_hosts; i++)
			sqlite3_bind_text(q, p++, skip_hosts[i], -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW) {
			dlv_row(q, out);
			out->body = col_str(q, 15);
		} else if (r == SQLITE_DONE) {
			rc = aim_fail(AIM_ERR_NOTFOUND, "no delivery due");
		} else {
			rc = db_fail(db, r, "delivery next");
		}
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_delivery_earliest(struct store *st, int64_t *next_ms)
{
	int64_t n = 0, v = 0;
	TRY(query_int(st, "SELECT COUNT(*) FROM deliveries WHERE state = 0;", 0, 0, 0, &n));
	if (n == 0)
		return aim_fail(AIM_ERR_NOTFOUND, "no pending delivery");
	TRY(query_int(st, "SELECT MIN(next_at) FROM deliveries WHERE state = 0;", 0, 0, 0, &v));
	*next_ms = v;
	return 0;
}

struct finish_ctx {
	int64_t id;
	const struct store_delivery_update *u;
};

static int finish_fn(sqlite3 *db, void *ctx)
{
	struct finish_ctx *f = ctx;
	sqlite3_stmt *q;
	TRY(prep(db,
		 "UPDATE deliveries SET state = ?2, attempts = ?3, next_at = ?4, last_status = ?5,"
		 " last_error = ?6, updated = ?7 WHERE id = ?1 AND state = 0;",
		 &q));
	sqlite3_bind_int64(q, 1, f->id);
	sqlite3_bind_int(q, 2, f->u->state);
	sqlite3_bind_int(q, 3, f->u->attempts);
	sqlite3_bind_int64(q, 4, f->u->next_ms);
	sqlite3_bind_int(q, 5, f->u->last_status);
	if (f->u->last_error)
		sqlite3_bind_text(q, 6, f->u->last_error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 7, aim_now_ms());
	TRY(step_done(db, q, "delivery finish"));
	ENSURE(sqlite3_changes(db) == 1, AIM_ERR_STATE, "delivery %lld is not pending",
	       (long long)f->id);
	return 0;
}

static int sq_delivery_finish(struct store *st, int64_t id, const struct store_delivery_update *u)
{
	struct finish_ctx f = { id, u };
	return write_tx(st, finish_fn, &f);
}

struct resolve_ctx {
	int64_t id;
	const char *inbox, *host;
	bool merged;
};

static int resolve_fn(sqlite3 *db, void *ctx)
{
	struct resolve_ctx *r = ctx;
	sqlite3_stmt *q;
	TRY(prep(db,
		 "SELECT EXISTS (SELECT 1 FROM deliveries o JOIN deliveries d"
		 " ON d.outgoing_id = o.outgoing_id WHERE d.id = ?1 AND o.inbox = ?2);",
		 &q));
	sqlite3_bind_int64(q, 1, r->id);
	sqlite3_bind_text(q, 2, r->inbox, -1, SQLITE_TRANSIENT);
	int step = sqlite3_step(q);
	bool dup = step == SQLITE_ROW && sqlite3_column_int(q, 0) != 0;
	if (step != SQLITE_ROW) {
		int rc = db_fail(db, step, "delivery resolve");
		sqlite3_finalize(q);
		return rc;
	}
	sqlite3_finalize(q);
	if (dup) {
		TRY(prep(db, "DELETE FROM deliveries WHERE id = ?1 AND state = 0;", &q));
		sqlite3_bind_int64(q, 1, r->id);
		TRY(step_done(db, q, "delivery merge"));
		r->merged = true;
		return 0;
	}
	TRY(prep(db, "UPDATE deliveries SET inbox = ?2, host = ?3, updated = ?4"
		     " WHERE id = ?1 AND state = 0;",
		 &q));
	sqlite3_bind_int64(q, 1, r->id);
	sqlite3_bind_text(q, 2, r->inbox, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, r->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 4, aim_now_ms());
	TRY(step_done(db, q, "delivery resolve"));
	ENSURE(sqlite3_changes(db) == 1, AIM_ERR_STATE, "delivery %lld is not pending",
	       (long long)r->id);
	return 0;
}

static int sq_delivery_resolve(struct store *st, int64_t id, const char *inbox, const char *host,
			       bool *merged)
{
	struct resolve_ctx r = { id, inbox, host, false };
	int rc = write_tx(st, resolve_fn, &r);
	if (rc == 0 && merged)
		*merged = r.merged;
	return rc;
}

struct defer_ctx {
	const char *host;
	int64_t until;
};

static int defer_fn(sqlite3 *db, void *ctx)
{
	struct defer_ctx *d = ctx;
	sqlite3_stmt *q;
	TRY(prep(db, "UPDATE deliveries SET next_at = ?2 WHERE host = ?1 AND state = 0"
		     " AND next_at < ?2;",
		 &q));
	sqlite3_bind_text(q, 1, d->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, d->until);
	return step_done(db, q, "delivery defer");
}

static int sq_delivery_defer_host(struct store *st, const char *host, int64_t until_ms)
{
	struct defer_ctx d = { host, until_ms };
	return write_tx(st, defer_fn, &d);
}

static int sq_delivery_list(struct store *st, store_delivery_fn fn, void *ctx)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT " DLV_COLS DLV_FROM " ORDER BY d.id;", &q);
	if (rc == 0) {
		int step;
		while ((step = sqlite3_step(q)) == SQLITE_ROW) {
			struct store_delivery d;
			dlv_row(q, &d);
			rc = fn(ctx, &d);
			store_delivery_clear(&d);
			if (rc != 0)
				break;
		}
		if (rc == 0 && step != SQLITE_DONE)
			rc = db_fail(db, step, "delivery list");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_host_scheme_get(struct store *st, const char *host, int *scheme)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT scheme FROM delivery_hosts WHERE host = ?1;", &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, host, -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW)
			*scheme = sqlite3_column_int(q, 0);
		else if (r == SQLITE_DONE)
			*scheme = 0;
		else
			rc = db_fail(db, r, "host scheme");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_host_scheme_set(struct store *st, const char *host, int scheme)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	sqlite3_stmt *q;
	int rc = prep(s->w,
		      "INSERT INTO delivery_hosts(host, scheme, updated) VALUES (?1, ?2, ?3)"
		      " ON CONFLICT(host) DO UPDATE SET scheme = excluded.scheme,"
		      " updated = excluded.updated;",
		      &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, host, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(q, 2, scheme);
		sqlite3_bind_int64(q, 3, aim_now_ms());
		rc = step_done(s->w, q, "host scheme set");
	}
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

/* ---- Federation: inbound (F1) ------------------------------------------------ */

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(q, i);
}

/* Runs one statement with ?1 = an integer and ?2..?7 = texts (NULL binds
 * NULL) on the writer; *changes = rows changed. */
static int run_fx(sqlite3 *db, const char *sql, int64_t i1, const char *t2, const char *t3,
		  const char *t4, const char *t5, const char *t6, int64_t i7, int *changes)
{
	sqlite3_stmt *q;
	TRY(prep(db, sql, &q));
	int n = sqlite3_bind_parameter_count(q);
	if (n >= 1)
		sqlite3_bind_int64(q, 1, i1);
	if (n >= 2)
		bind_text_or_null(q, 2, t2);
	if (n >= 3)
		bind_text_or_null(q, 3, t3);
	if (n >= 4)
		bind_text_or_null(q, 4, t4);
	if (n >= 5)
		bind_text_or_null(q, 5, t5);
	if (n >= 6)
		bind_text_or_null(q, 6, t6);
	if (n >= 7)
		sqlite3_bind_int64(q, 7, i7);
	TRY(step_done(db, q, "federation update"));
	if (changes)
		*changes = sqlite3_changes(db);
	return 0;
}

/* The activities a remote actor (?2) or, for a NULL actor, a local user (?1) owns. */
#define OWNED_SEQS                                                                         \
	"(SELECT seq FROM activities WHERE (?2 IS NOT NULL AND actor = ?2)"                 \
	" OR (?2 IS NULL AND actor IS NULL AND author = ?1))"

static int object_exists(sqlite3 *db, const char *id, bool *out)
{
	sqlite3_stmt *q;
	TRY(prep(db, "SELECT 1 FROM objects WHERE id = ?1;", &q));
	sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
	int r = sqlite3_step(q);
	sqlite3_finalize(q);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return db_fail(db, r, "object exists");
	*out = r == SQLITE_ROW;
	return 0;
}

static int apply_fx(sqlite3 *db, const struct store_fx *f)
{
	int ch = 0;
	int64_t now = aim_now();
	switch (f->kind) {
	case STORE_FX_FOLLOWER_PUT:
		ENSURE(f->user > 0 && f->actor && f->inbox && f->follow_id, AIM_ERR_INVALID,
		       "incomplete follower");
		return run_fx(db,
			      "INSERT INTO followers(user_id, actor, inbox, shared_inbox, follow_id,"
			      " state, created) VALUES (?1, ?2, ?3, ?4, ?5, CAST(?6 AS INTEGER), ?7)"
			      " ON CONFLICT(user_id, actor) DO UPDATE SET inbox = excluded.inbox,"
			      " shared_inbox = excluded.shared_inbox, follow_id = excluded.follow_id,"
			      " state = MAX(state, excluded.state);",
			      f->user, f->actor, f->inbox, f->shared_inbox, f->follow_id,
			      f->state == STORE_FOLLOW_ACCEPTED ? "1" : "0", now, NULL);
	case STORE_FX_FOLLOWER_ACCEPT:
		TRY(run_fx(db, "UPDATE followers SET state = 1 WHERE user_id = ?1 AND follow_id = ?2;",
			   f->user, f->follow_id, NULL, NULL, NULL, NULL, 0, &ch));
		ENSURE(ch > 0, AIM_ERR_NOTFOUND, "no such Follow of this user");
		return 0;
	case STORE_FX_FOLLOWER_DEL:
		return run_fx(db,
			      "DELETE FROM followers WHERE actor = ?2 AND (?1 = 0 OR user_id = ?1)"
			      " AND (?3 IS NULL OR follow_id = ?3);",
			      f->user, f->actor, f->follow_id, NULL, NULL, NULL, 0, NULL);
	case STORE_FX_FOLLOWING_PUT:
		ENSURE(f->user > 0 && f->actor && f->follow_id, AIM_ERR_INVALID,
		       "incomplete follow");
		return run_fx(db,
			      "INSERT INTO following(user_id, actor, follow_id, state, created)"
			      " VALUES (?1, ?2, ?3, CAST(?4 AS INTEGER), ?7)"
			      " ON CONFLICT(user_id, actor) DO UPDATE SET follow_id = excluded.follow_id,"
			      " state = excluded.state;",
			      f->user, f->actor, f->follow_id,
			      f->state == STORE_FOLLOW_ACCEPTED ? "1" : "0", NULL, NULL, now, NULL);
	case STORE_FX_FOLLOWING_ACCEPT:
		return run_fx(db, "UPDATE following SET state = 1 WHERE actor = ?2 AND follow_id = ?3;",
			      0, f->actor, f->follow_id, NULL, NULL, NULL, 0, NULL);
	case STORE_FX_FOLLOWING_DEL:
		return run_fx(db,
			      "DELETE FROM following WHERE actor = ?2 AND (?1 = 0 OR user_id = ?1)"
			      " AND (?3 IS NULL OR follow_id = ?3);",
			      f->user, f->actor, f->follow_id, NULL, NULL, NULL, 0, NULL);
	case STORE_FX_OBJECT_UPDATE:
	case STORE_FX_OBJECT_DELETE: {
		bool del = f->kind == STORE_FX_OBJECT_DELETE;
		ENSURE(f->object_id && f->json, AIM_ERR_INVALID, "incomplete object change");
		TRY(run_fx(db,
			   del ? "UPDATE objects SET json = ?4, deleted = 1 WHERE id = ?3 AND deleted = 0"
				 " AND activity_seq IN " OWNED_SEQS ";"
			       : "UPDATE objects SET json = ?4 WHERE id = ?3 AND deleted = 0"
				 " AND activity_seq IN " OWNED_SEQS ";",
			   f->user, f->actor, f->object_id, f->json, NULL, NULL, 0, &ch));
		if (ch == 0) {
			bool ex = false;
			TRY(object_exists(db, f->object_id, &ex));
			ENSURE(!ex, AIM_ERR_DENIED, "the object belongs to someone else or is deleted");
			return aim_fail(AIM_ERR_NOTFOUND, "no such object");
		}
		if (del)
			TRY(run_fx(db,
				   "DELETE FROM inbox WHERE activity_seq ="
				   " (SELECT activity_seq FROM objects WHERE id = ?2);",
				   0, f->object_id, NULL, NULL, NULL, NULL, 0, NULL));
		return 0;
	}
	case STORE_FX_ACTOR_PURGE: {
		static const char *const purge[] = {
			"DELETE FROM followers WHERE actor = ?2;",
			"DELETE FROM following WHERE actor = ?2;",
			"DELETE FROM inbox WHERE activity_seq IN (SELECT seq FROM activities WHERE actor = ?2);",
			"DELETE FROM audience WHERE activity_seq IN (SELECT seq FROM activities WHERE actor = ?2);",
			"DELETE FROM objects WHERE activity_seq IN (SELECT seq FROM activities WHERE actor = ?2);",
			"DELETE FROM activities WHERE actor = ?2;",
		};
		ENSURE(f->actor, AIM_ERR_INVALID, "purge needs an actor");
		for (size_t i = 0; i < AIM_ARRAY_LEN(purge); i++)
			TRY(run_fx(db, purge[i], 0, f->actor, NULL, NULL, NULL, NULL, 0, NULL));
		return 0;
	}
	case STORE_FX_BLOCK_PUT:
		return run_fx(db,
			      "INSERT OR IGNORE INTO blocks(user_id, actor, created) VALUES (?1, ?2, ?7);",
			      f->user, f->actor, NULL, NULL, NULL, NULL, now, NULL);
	case STORE_FX_BLOCK_DEL:
		return run_fx(db, "DELETE FROM blocks WHERE user_id = ?1 AND actor = ?2;", f->user,
			      f->actor, NULL, NULL, NULL, NULL, 0, NULL);
	}
	return aim_fail(AIM_ERR_INVALID, "unknown effect");
}

struct inbound_ctx {
	const struct store_inbound *in;
	bool dup;
	size_t added;
};

static int inbound_fn(sqlite3 *db, void *ctx)
{
	struct inbound_ctx *x = ctx;
	const struct store_inbound *in = x->in;
	sqlite3_stmt *q;
	if (in->id) {
		TRY(prep(db, "SELECT seq, actor FROM activities WHERE id = ?1;", &q));
		sqlite3_bind_text(q, 1, in->id, -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW) {
			int64_t seq = sqlite3_column_int64(q, 0);
			const unsigned char *actor = sqlite3_column_text(q, 1);
			bool same = actor && !strcmp((const char *)actor, in->actor);
			sqlite3_finalize(q);
			ENSURE(same, AIM_ERR_DENIED, "activity id %s is taken", in->id);
			x->dup = true;
			/* Audience and inbox rows reference the seq as an integer. */
			TRY(insert_pairs(db,
					 "INSERT OR IGNORE INTO audience(activity_seq, user_id) VALUES (?1, ?2);",
					 seq, in->audience, in->n_audience, "audience add"));
			for (size_t i = 0; i < in->n_inbox; i++) {
				sqlite3_stmt *iq;
				TRY(prep(db, "INSERT OR IGNORE INTO inbox(activity_seq, user_id) VALUES (?1, ?2);",
					 &iq));
				sqlite3_bind_int64(iq, 1, seq);
				sqlite3_bind_int64(iq, 2, in->inbox[i]);
				TRY(step_done(db, iq, "inbox add"));
				x->added += (size_t)sqlite3_changes(db);
			}
			return 0;
		}
		sqlite3_finalize(q);
		if (r != SQLITE_DONE)
			return db_fail(db, r, "activity lookup");
	}
	for (size_t i = 0; i < in->n_fx; i++)
		TRY(apply_fx(db, &in->fx[i]));
	if (in->reply) {
		int64_t rs;
		TRY(add_activity_tx(db, in->reply, &rs));
	}
	if (!in->id)
		return 0;
	TRY(prep(db,
		 "INSERT INTO activities(id, author, public, json, published, actor)"
		 " VALUES (?1, (SELECT id FROM users WHERE name = '" STORE_REMOTE_NAME "'), ?2, ?3, ?4, ?5);",
		 &q));
	sqlite3_bind_text(q, 1, in->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 2, in->is_public ? 1 : 0);
	sqlite3_bind_text(q, 3, in->json, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 4, in->published);
	sqlite3_bind_text(q, 5, in->actor, -1, SQLITE_TRANSIENT);
	TRY(step_done(db, q, "remote activity add"));
	int64_t seq = sqlite3_last_insert_rowid(db);
	if (in->object_id) {
		/* An object id already stored keeps its first owner. */
		TRY(prep(db, "INSERT OR IGNORE INTO objects(id, activity_seq, json) VALUES (?1, ?2, ?3);",
			 &q));
		sqlite3_bind_text(q, 1, in->object_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, seq);
		sqlite3_bind_text(q, 3, in->object_json, -1, SQLITE_TRANSIENT);
		TRY(step_done(db, q, "remote object add"));
	}
	TRY(insert_pairs(db, "INSERT OR IGNORE INTO audience(activity_seq, user_id) VALUES (?1, ?2);",
			 seq, in->audience, in->n_audience, "audience add"));
	for (size_t i = 0; i < in->n_inbox; i++) {
		sqlite3_stmt *iq;
		TRY(prep(db, "INSERT OR IGNORE INTO inbox(activity_seq, user_id) VALUES (?1, ?2);", &iq));
		sqlite3_bind_int64(iq, 1, seq);
		sqlite3_bind_int64(iq, 2, in->inbox[i]);
		TRY(step_done(db, iq, "inbox add"));
		x->added += (size_t)sqlite3_changes(db);
	}
	return 0;
}

static int sq_inbound_commit(struct store *st, const struct store_inbound *in, bool *dup,
			     size_t *added)
{
	struct inbound_ctx x = { in, false, 0 };
	int rc = write_tx(st, inbound_fn, &x);
	*dup = x.dup;
	*added = rc == 0 ? x.added : 0;
	return rc;
}

static int sq_followers_list(struct store *st, int64_t user, int state, int64_t offset,
			     size_t limit, store_follower_fn fn, void *ctx)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db,
		      "SELECT actor, inbox, shared_inbox, follow_id, state, created FROM followers"
		      " WHERE user_id = ?1 AND state = ?2 ORDER BY seq LIMIT ?3 OFFSET ?4;",
		      &q);
	if (rc == 0) {
		sqlite3_bind_int64(q, 1, user);
		sqlite3_bind_int(q, 2, state);
		sqlite3_bind_int64(q, 3, (int64_t)limit);
		sqlite3_bind_int64(q, 4, offset);
		int r;
		while (rc == 0 && (r = sqlite3_step(q)) == SQLITE_ROW) {
			struct store_follower f = {
				.actor = col_str(q, 0),
				.inbox = col_str(q, 1),
				.shared_inbox = col_str_null(q, 2),
				.follow_id = col_str(q, 3),
				.state = sqlite3_column_int(q, 4),
				.created = sqlite3_column_int64(q, 5),
			};
			rc = fn(ctx, &f);
			store_follower_clear(&f);
		}
		if (rc == 0 && r != SQLITE_DONE)
			rc = db_fail(db, r, "followers");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_followers_count(struct store *st, int64_t user, int state, int64_t *n)
{
	return query_int(st, "SELECT COUNT(*) FROM followers WHERE user_id = ?1 AND state = ?2;", user,
			 state, 0, n);
}

/* A one-integer query with ?1 = an integer and ?2 = a text; NOTFOUND without a row. */
static int query_int_text(struct store *st, const char *sql, int64_t a, const char *t,
			  int64_t *out)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, sql, &q);
	if (rc == 0) {
		sqlite3_bind_int64(q, 1, a);
		bind_text_or_null(q, 2, t);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW)
			*out = sqlite3_column_int64(q, 0);
		else if (r == SQLITE_DONE)
			rc = aim_fail(AIM_ERR_NOTFOUND, "no such row");
		else
			rc = db_fail(db, r, "query");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_following_state(struct store *st, int64_t user, const char *actor, int *state)
{
	int64_t v;
	TRY(query_int_text(st, "SELECT state FROM following WHERE user_id = ?1 AND actor = ?2;", user,
			   actor, &v));
	*state = (int)v;
	return 0;
}

static int sq_blocked(struct store *st, int64_t user, const char *actor, bool *out)
{
	int64_t v;
	TRY(query_int_text(st,
			   "SELECT EXISTS (SELECT 1 FROM blocks WHERE user_id = ?1 AND actor = ?2);",
			   user, actor, &v));
	*out = v != 0;
	return 0;
}

static int sq_manual_approval_get(struct store *st, int64_t user, bool *on)
{
	int64_t v;
	TRY(query_int_text(st, "SELECT manual_approval FROM users WHERE id = ?1 AND ?2 IS NULL;",
			   user, NULL, &v));
	*on = v != 0;
	return 0;
}

static int sq_manual_approval_set(struct store *st, int64_t user, bool on)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	int ch = 0;
	int rc = run_fx(s->w, "UPDATE users SET manual_approval = CAST(?2 AS INTEGER) WHERE id = ?1;",
			user, on ? "1" : "0", NULL, NULL, NULL, NULL, 0, &ch);
	if (rc == 0 && ch == 0)
		rc = aim_fail(AIM_ERR_NOTFOUND, "no such user");
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

static int sq_activity_lookup(struct store *st, const char *id, int64_t *author, char **actor,
			      char **json)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT author, actor, json FROM activities WHERE id = ?1;", &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(q);
		if (r == SQLITE_ROW) {
			if (author)
				*author = sqlite3_column_int64(q, 0);
			if (actor)
				*actor = col_str_null(q, 1);
			if (json)
				*json = col_str(q, 2);
		} else if (r == SQLITE_DONE) {
			rc = aim_fail(AIM_ERR_NOTFOUND, "no such activity");
		} else {
			rc = db_fail(db, r, "activity lookup");
		}
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static int sq_following_users(struct store *st, const char *actor, int64_t *ids, size_t max,
			      size_t *n)
{
	struct sq *s = SQ(st);
	sqlite3 *db = reader_get(s);
	if (!db)
		return -1;
	sqlite3_stmt *q;
	int rc = prep(db, "SELECT user_id FROM following WHERE actor = ?1 AND state = 1 ORDER BY user_id;",
		      &q);
	if (rc == 0) {
		sqlite3_bind_text(q, 1, actor, -1, SQLITE_TRANSIENT);
		int r;
		while ((r = sqlite3_step(q)) == SQLITE_ROW && *n < max)
			ids[(*n)++] = sqlite3_column_int64(q, 0);
		if (r != SQLITE_DONE && r != SQLITE_ROW)
			rc = db_fail(db, r, "following users");
		sqlite3_finalize(q);
	}
	reader_put(s, db);
	return rc;
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.meta_get = sq_meta_get,
	.meta_set = sq_meta_set,
	.schema_version = sq_schema_version,
	.user_add = sq_user_add,
	.user_get = sq_user_get,
	.user_get_id = sq_user_get_id,
	.user_count = sq_user_count,
	.user_private_keys = sq_user_private_keys,
	.token_add = sq_token_add,
	.token_find = sq_token_find,
	.activity_add = sq_activity_add,
	.activity_get = sq_activity_get,
	.object_get = sq_object_get,
	.outbox_page = sq_outbox_page,
	.outbox_count = sq_outbox_count,
	.inbox_page = sq_inbox_page,
	.inbox_count = sq_inbox_count,
	.delivery_enqueue = sq_delivery_enqueue,
	.delivery_next = sq_delivery_next,
	.delivery_earliest = sq_delivery_earliest,
	.delivery_finish = sq_delivery_finish,
	.delivery_resolve = sq_delivery_resolve,
	.delivery_defer_host = sq_delivery_defer_host,
	.delivery_list = sq_delivery_list,
	.host_scheme_get = sq_host_scheme_get,
	.host_scheme_set = sq_host_scheme_set,
	.inbound_commit = sq_inbound_commit,
	.followers_list = sq_followers_list,
	.followers_count = sq_followers_count,
	.following_state = sq_following_state,
	.blocked = sq_blocked,
	.manual_approval_get = sq_manual_approval_get,
	.manual_approval_set = sq_manual_approval_set,
	.activity_lookup = sq_activity_lookup,
	.following_users = sq_following_users,
};
