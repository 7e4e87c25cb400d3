/*
 * The shell's store: client_io's key-value part over one SQLite file, and
 * the system clock.
 *
 * The file holds the device's private keys, so it is created with mode
 * 0600 (open(O_CREAT, 0600) under umask 077, before SQLite touches it; the
 * rollback journal SQLite creates beside it takes the same mode), and a
 * file that anyone but its owner may read or write is refused instead of
 * being used. Durability: synchronous=FULL, rollback journal; every put
 * outside a transaction is its own transaction; kv_begin takes the write
 * lock at once (BEGIN IMMEDIATE), so two processes on one file serialise.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"

struct kv {
	sqlite3 *db;
	bool in_tx;
};

static int db_fail(struct kv *k, const char *what)
{
	int code = sqlite3_errcode(k->db);
	enum aim_err e = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? AIM_ERR_BUSY
									: AIM_ERR_STORAGE;
	return aim_fail(e, "client store: %s: %s", what, sqlite3_errmsg(k->db));
}

static int exec(struct kv *k, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(k->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		int rc = aim_fail(AIM_ERR_STORAGE, "client store: %s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		return rc;
	}
	return 0;
}

static int kv_get(void *ctx, const char *key, struct aim_buf *value)
{
	struct kv *k = ctx;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(k->db, "SELECT value FROM kv WHERE key = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(k, "get");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc, s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		rc = aim_buf_append(value, p, (size_t)n);
	} else if (s == SQLITE_DONE) {
		rc = aim_fail(AIM_ERR_NOTFOUND, "no entry %s", key);
	} else {
		rc = db_fail(k, "get");
	}
	sqlite3_finalize(st);
	return rc;
}

static int kv_put(void *ctx, const char *key, struct aim_bytes value)
{
	struct kv *k = ctx;
	ENSURE(value.len <= CLIENT_MAX_VALUE, AIM_ERR_LIMIT, "store entry too large");
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(k->db, "INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)", -1,
			       &st, NULL) != SQLITE_OK)
		return db_fail(k, "put");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, value.p ? (const void *)value.p : "", (int)value.len,
			  SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(k, "put");
	sqlite3_finalize(st);
	return rc;
}

static int kv_del(void *ctx, const char *key)
{
	struct kv *k = ctx;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(k->db, "DELETE FROM kv WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(k, "del");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(k, "del");
	sqlite3_finalize(st);
	return rc;
}

static int kv_list(void *ctx, const char *prefix, client_kv_fn fn, void *arg)
{
	struct kv *k = ctx;
	sqlite3_stmt *st = NULL;
	/* prefix match without LIKE and its wildcards */
	if (sqlite3_prepare_v2(k->db,
			       "SELECT key, value FROM kv WHERE substr(key, 1, length(?1)) = ?1 "
			       "ORDER BY key",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(k, "list");
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	int rc = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const void *p = sqlite3_column_blob(st, 1);
		int n = sqlite3_column_bytes(st, 1);
		rc = fn(arg, key, AIM_BYTES(p, (size_t)n));
		if (rc != 0)
			break;
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_fail(k, "list");
	sqlite3_finalize(st);
	return rc;
}

static int kv_begin(void *ctx)
{
	struct kv *k = ctx;
	ENSURE(!k->in_tx, AIM_ERR_STATE, "client store: transaction already open");
	if (sqlite3_exec(k->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(k, "begin");
	k->in_tx = true;
	return 0;
}

static int kv_commit(void *ctx)
{
	struct kv *k = ctx;
	ENSURE(k->in_tx, AIM_ERR_STATE, "client store: no transaction");
	if (sqlite3_exec(k->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = db_fail(k, "commit");
		sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
		k->in_tx = false;
		return rc;
	}
	k->in_tx = false;
	return 0;
}

static void kv_rollback(void *ctx)
{
	struct kv *k = ctx;
	if (k->in_tx)
		sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
	k->in_tx = false;
}

static int64_t sys_now(void *ctx)
{
	(void)ctx;
	return aim_now();
}

/* Creates the file 0600 if absent; refuses one others may read or write. */
static int secure_file(const char *path)
{
	mode_t old = umask(077);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	umask(old);
	if (fd < 0)
		return aim_fail(AIM_ERR_STORAGE, "client store %s: %s", path, strerror(errno));
	struct stat sb;
	int rc = 0;
	if (fstat(fd, &sb) != 0)
		rc = aim_fail(AIM_ERR_STORAGE, "client store %s: %s", path, strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		rc = aim_fail(AIM_ERR_STORAGE, "client store %s is not a regular file", path);
	else if (sb.st_uid != geteuid())
		rc = aim_fail(AIM_ERR_DENIED, "client store %s belongs to another user", path);
	else if (sb.st_mode & 077)
		rc = aim_fail(AIM_ERR_DENIED,
			      "client store %s has mode %04o: it holds private keys, "
			      "make it 0600",
			      path, (unsigned)(sb.st_mode & 07777));
	close(fd);
	return rc;
}

int client_sqlite_open(const char *path, struct client_io *io)
{
	TRY(secure_file(path));
	struct kv *k = aim_xcalloc(1, sizeof *k);
	mode_t old = umask(077);
	int orc = sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	umask(old);
	if (orc != SQLITE_OK) {
		int rc = aim_fail(AIM_ERR_STORAGE, "client store %s: %s", path,
				  k->db ? sqlite3_errmsg(k->db) : "cannot open");
		sqlite3_close(k->db);
		free(k);
		return rc;
	}
	sqlite3_busy_timeout(k->db, 5000);
	if (exec(k, "PRAGMA journal_mode=DELETE") != 0 || exec(k, "PRAGMA synchronous=FULL") != 0 ||
	    exec(k, "PRAGMA secure_delete=ON") != 0 ||
	    exec(k, "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)") !=
		    0) {
		sqlite3_close(k->db);
		free(k);
		return -1;
	}
	io->kv_get = kv_get;
	io->kv_put = kv_put;
	io->kv_del = kv_del;
	io->kv_list = kv_list;
	io->kv_begin = kv_begin;
	io->kv_commit = kv_commit;
	io->kv_rollback = kv_rollback;
	io->kv_ctx = k;
	io->now = sys_now;
	io->clock_ctx = NULL;
	return 0;
}

void client_sqlite_close(struct client_io *io)
{
	struct kv *k = io->kv_ctx;
	if (!k)
		return;
	kv_rollback(k);
	sqlite3_close(k->db);
	free(k);
	io->kv_ctx = NULL;
}
