/*
 * The SQLite back end: local users with their keys, hashed bearer tokens,
 * per-user settings.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

int store_sq_user_add(struct store *st, const struct store_new_user *u, int64_t *id)
{
	struct sq_done d;
	int rc = store_sq_write(
		st, "user add",
		"INSERT INTO users(name, rsa_public, rsa_private, ed_public, ed_private, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6);",
		ARGS(A_TEXT(u->name), A_TEXT(u->rsa_public_pem), A_TEXT(u->rsa_private_pem),
		     A_BLOB(u->ed25519_public, 32), A_TEXT(u->ed25519_private_pem),
		     A_INT(aim_now())),
		&d);
	if (rc != 0 && aim_errcode() == AIM_ERR_EXISTS)
		return aim_fail(AIM_ERR_EXISTS, "user %s already exists", u->name);
	if (rc == 0 && id)
		*id = d.rowid;
	return rc;
}

static int user_row(void *ctx, sqlite3_stmt *q)
{
	struct store_user *out = ctx;
	memset(out, 0, sizeof *out);
	out->id = sqlite3_column_int64(q, 0);
	const unsigned char *n = sqlite3_column_text(q, 1);
	snprintf(out->name, sizeof out->name, "%s", n ? (const char *)n : "");
	out->rsa_public_pem = sq_col_str(q, 2);
	if (sqlite3_column_bytes(q, 3) == 32)
		memcpy(out->ed25519_public, sqlite3_column_blob(q, 3), 32);
	out->created = sqlite3_column_int64(q, 4);
	return 0;
}

#define USER_COLS "SELECT id, name, rsa_public, ed_public, created FROM users"

int store_sq_user_get(struct store *st, const char *name, struct store_user *out)
{
	bool found = false;
	TRY(store_sq_read_row(st, "user get", USER_COLS " WHERE name = ?1;", ARGS(A_TEXT(name)),
			      user_row, out, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

int store_sq_user_get_id(struct store *st, int64_t id, struct store_user *out)
{
	bool found = false;
	TRY(store_sq_read_row(st, "user get", USER_COLS " WHERE id = ?1;", ARGS(A_INT(id)),
			      user_row, out, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

int store_sq_user_count(struct store *st, int64_t *n)
{
	return store_sq_read_int(st, "count", "SELECT COUNT(*) FROM users WHERE name NOT LIKE '~%';",
				 NOARGS, n, NULL);
}

struct keys {
	char **rsa, **ed;
};

static int keys_row(void *ctx, sqlite3_stmt *q)
{
	struct keys *k = ctx;
	*k->rsa = sq_col_str(q, 0);
	*k->ed = sq_col_str(q, 1);
	return 0;
}

int store_sq_user_private_keys(struct store *st, int64_t id, char **rsa_pem, char **ed_pem)
{
	struct keys k = { rsa_pem, ed_pem };
	bool found = false;
	TRY(store_sq_read_row(st, "private keys",
			      "SELECT rsa_private, ed_private FROM users WHERE id = ?1;",
			      ARGS(A_INT(id)), keys_row, &k, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

int store_sq_token_add(struct store *st, int64_t user, const uint8_t hash[32])
{
	struct sq_done d;
	int rc = store_sq_write(st, "token add",
				"INSERT INTO tokens(hash, user_id, created) VALUES (?1, ?2, ?3);",
				ARGS(A_BLOB(hash, 32), A_INT(user), A_INT(aim_now())), &d);
	if (rc != 0 && d.ext == SQLITE_CONSTRAINT_FOREIGNKEY)
		return aim_fail(AIM_ERR_NOTFOUND, "no such user");
	return rc;
}

int store_sq_token_find(struct store *st, const uint8_t hash[32], int64_t *user)
{
	bool found = false;
	TRY(store_sq_read_int(st, "token find", "SELECT user_id FROM tokens WHERE hash = ?1;",
			      ARGS(A_BLOB(hash, 32)), user, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "unknown token");
	return 0;
}

/* ---- Per-user settings ---------------------------------------------------- */

int store_sq_manual_approval_get(struct store *st, int64_t user, bool *on)
{
	int64_t v;
	TRY(store_sq_read_int(st, "query", "SELECT manual_approval FROM users WHERE id = ?1;",
			      ARGS(A_INT(user)), &v, NULL));
	*on = v != 0;
	return 0;
}

int store_sq_manual_approval_set(struct store *st, int64_t user, bool on)
{
	struct sq_done d;
	TRY(store_sq_write(st, "federation update",
			   "UPDATE users SET manual_approval = ?2 WHERE id = ?1;",
			   ARGS(A_INT(user), A_BOOL(on)), &d));
	ENSURE(d.changes > 0, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}
