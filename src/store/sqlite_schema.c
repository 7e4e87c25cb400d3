/*
 * The SQLite back end: the schema, its numbered migrations, the schema
 * version and the meta settings.
 *
 * Migrations are applied in order at open, each in its own transaction, and
 * recorded in `schema_version`.
 */
#include "store/sqlite_int.h"

#include <stdio.h>

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
	/* 3: federation, inbound: remote activities (author = the reserved
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
	/* 4: outbound delivery queue: pending rows by inbox and by actor, for the
	 * per-recipient order of deliveries */
	("CREATE INDEX deliveries_pending_inbox ON deliveries(inbox, id) WHERE state = 0;"
	 "CREATE INDEX deliveries_pending_actor ON deliveries(actor, id) WHERE state = 0;"),
	/* 5: delivery rows are claimed with a lease (several processes share one
	 * queue); the circuit breaker of each host lives beside its scheme */
	("ALTER TABLE deliveries ADD COLUMN lease TEXT;"
	 "ALTER TABLE deliveries ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;"
	 "CREATE INDEX deliveries_leased ON deliveries(host, lease_until) WHERE state = 0;"
	 "ALTER TABLE delivery_hosts ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE delivery_hosts ADD COLUMN open_until INTEGER NOT NULL DEFAULT 0;"),
	/* 6: versioned state under (kind, key), written by compare-and-set */
	"CREATE TABLE versioned(kind TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL,"
	" value BLOB NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY(kind, key)) WITHOUT ROWID;",
	/* 7: a deleted user keeps its row, without keys, so that its name is never
	 * given out again and its actor answers 410 */
	"ALTER TABLE users ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;",
	/* 8: identity: the domain's CA certificates (their private keys live in
	 * files of their own, never here) and the users' devices */
	("CREATE TABLE ca_certs(id INTEGER PRIMARY KEY AUTOINCREMENT, der BLOB NOT NULL,"
	 " created INTEGER NOT NULL);"
	 "CREATE TABLE devices(user_id INTEGER NOT NULL REFERENCES users(id), device TEXT NOT NULL,"
	 " alg INTEGER NOT NULL, pk BLOB NOT NULL, cert BLOB NOT NULL, not_after INTEGER NOT NULL,"
	 " revoked INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	 " PRIMARY KEY(user_id, device), UNIQUE(user_id, alg, pk));"),
	/* 9: the KeyPackage directory: KeyPackages per device, handed out once
	 * (consumed_at, consumed_by) except the device's one last-resort
	 * KeyPackage; each user's consent to claims */
	("CREATE TABLE keypackages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	 " user_id INTEGER NOT NULL REFERENCES users(id), device_id TEXT NOT NULL,"
	 " suite INTEGER NOT NULL, ref BLOB NOT NULL UNIQUE, data BLOB NOT NULL,"
	 " json TEXT NOT NULL, last_resort INTEGER NOT NULL DEFAULT 0,"
	 " not_after INTEGER NOT NULL, created INTEGER NOT NULL,"
	 " consumed_at INTEGER, consumed_by TEXT);"
	 "CREATE INDEX keypackages_free ON keypackages(user_id, device_id, suite, id)"
	 " WHERE consumed_at IS NULL;"
	 "CREATE UNIQUE INDEX keypackages_last_resort ON keypackages(user_id, device_id)"
	 " WHERE last_resort = 1;"
	 "ALTER TABLE users ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;"),
	/* 10: channels and group DMs hosted here (their actor's keys in a
	 * reserved user row, their members, their outbox by sequence), and on
	 * the member side the local members of remote channels, the last
	 * sequence delivered and the Announces held until their turn */
	("CREATE TABLE channels(id TEXT PRIMARY KEY, kind INTEGER NOT NULL,"
	 " actor_user INTEGER NOT NULL REFERENCES users(id),"
	 " owner INTEGER NOT NULL REFERENCES users(id), name TEXT NOT NULL,"
	 " policy TEXT NOT NULL, created INTEGER NOT NULL);"
	 "CREATE TABLE channel_members(channel TEXT NOT NULL REFERENCES channels(id),"
	 " actor TEXT NOT NULL, inbox TEXT, shared_inbox TEXT, local_user INTEGER,"
	 " created INTEGER NOT NULL, PRIMARY KEY(channel, actor)) WITHOUT ROWID;"
	 "CREATE TABLE channel_outbox(channel TEXT NOT NULL REFERENCES channels(id),"
	 " seq INTEGER NOT NULL, activity_id TEXT NOT NULL, json TEXT NOT NULL,"
	 " created INTEGER NOT NULL, PRIMARY KEY(channel, seq)) WITHOUT ROWID;"
	 "CREATE TABLE channel_joined(channel TEXT NOT NULL,"
	 " user_id INTEGER NOT NULL REFERENCES users(id), created INTEGER NOT NULL,"
	 " PRIMARY KEY(channel, user_id)) WITHOUT ROWID;"
	 "CREATE TABLE channel_recv(channel TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);"
	 "CREATE TABLE channel_held(channel TEXT NOT NULL, seq INTEGER NOT NULL,"
	 " activity_id TEXT NOT NULL, json TEXT NOT NULL, published INTEGER NOT NULL,"
	 " PRIMARY KEY(channel, seq)) WITHOUT ROWID;"),
};

int store_sqlite_latest_version(void)
{
	return (int)AIM_ARRAY_LEN(migrations);
}

static const char VERSION_SQL[] = "SELECT COALESCE(MAX(version), 0) FROM schema_version;";

/* Runs the migrations past the recorded version, each in its own transaction. */
int store_sq_migrate(sqlite3 *db, store_migrated_fn fn, void *ctx)
{
	TRY(store_sq_script(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);",
			    "schema_version"));
	for (;;) {
		int64_t v64 = -1;
		bool found = false;
		if (store_sq_int(db, "schema version", VERSION_SQL, NOARGS, &v64, &found) != 0 ||
		    !found)
			return aim_fail(AIM_ERR_STORAGE, "cannot read schema version");
		int v = (int)v64;
		ENSURE(v >= 0, AIM_ERR_STORAGE, "cannot read schema version");
		ENSURE(v <= store_sqlite_latest_version(), AIM_ERR_UNSUPPORTED,
		       "database schema version %d is newer than this aimd (%d)", v,
		       store_sqlite_latest_version());
		if (v == store_sqlite_latest_version())
			return 0;
		TRY(store_sq_script(db, "BEGIN IMMEDIATE;", "begin migration"));
		char bump[96];
		snprintf(bump, sizeof bump, "INSERT INTO schema_version(version) VALUES (%d);", v + 1);
		if (store_sq_script(db, migrations[v], "migration") != 0 ||
		    store_sq_script(db, bump, "migration") != 0 ||
		    store_sq_script(db, "COMMIT;", "commit migration") != 0) {
			int code = aim_errcode();
			char msg[256];
			snprintf(msg, sizeof msg, "%s", aim_errmsg());
			sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
			return aim_fail(code, "migration to version %d: %s", v + 1, msg);
		}
		aim_log(AIM_LOG_INFO, "store", "schema migrated to version %d", v + 1);
		if (fn)
			fn(ctx, v + 1);
	}
}

int store_sq_schema_version(struct store *st, int *version)
{
	int64_t v = 0;
	TRY(store_sq_read_int(st, "schema version", VERSION_SQL, NOARGS, &v, NULL));
	*version = (int)v;
	return 0;
}

/* ---- Meta settings -------------------------------------------------------- */

static int str_row(void *ctx, sqlite3_stmt *q)
{
	*(char **)ctx = sq_col_str(q, 0);
	return 0;
}

int store_sq_meta_get(struct store *st, const char *key, char **val)
{
	bool found = false;
	TRY(store_sq_read_row(st, "meta get", "SELECT value FROM meta WHERE key = ?1;",
			      ARGS(A_TEXT(key)), str_row, val, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no setting %s", key);
	return 0;
}

int store_sq_meta_set(struct store *st, const char *key, const char *val)
{
	return store_sq_write(st, "meta set",
			      "INSERT INTO meta(key, value) VALUES (?1, ?2)"
			      " ON CONFLICT(key) DO UPDATE SET value = excluded.value;",
			      ARGS(A_TEXT(key), A_TEXT(val)), NULL);
}

/* Migration `index` (0-based), for the PostgreSQL back end, which applies
 * the same ones translated (pg_schema.c); NULL past the last. */
const char *store_sqlite_migration(int index)
{
	return index >= 0 && index < store_sqlite_latest_version() ? migrations[index] : NULL;
}
