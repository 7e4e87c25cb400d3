/*
 * The PostgreSQL back end: local users with their keys, hashed bearer tokens,
 * per-user settings, and the deletion of a user (its row stays, marked
 * `deleted` and without keys, so the name is never reused).
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

int store_pg_user_add(struct store *st, const struct store_new_user *u, int64_t *id)
{
	struct pg_done d;
	int rc = store_pg_write(
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

static int user_row(void *ctx, struct pg_row *q)
{
	struct store_user *out = ctx;
	memset(out, 0, sizeof *out);
	out->id = pg_col_int(q, 0);
	const unsigned char *n = pg_col_text(q, 1);
	snprintf(out->name, sizeof out->name, "%s", n ? (const char *)n : "");
	out->rsa_public_pem = pg_col_str(q, 2);
	if (pg_col_bytes(q, 3) == 32)
		memcpy(out->ed25519_public, pg_col_blob(q, 3), 32);
	out->created = pg_col_int(q, 4);
	return 0;
}

#define USER_COLS "SELECT id, name, rsa_public, ed_public, created FROM users"

int store_pg_user_get(struct store *st, const char *name, struct store_user *out)
{
	bool found = false;
	TRY(store_pg_read_row(st, "user get", USER_COLS " WHERE name = ?1 AND deleted = 0;",
			      ARGS(A_TEXT(name)), user_row, out, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

int store_pg_user_get_id(struct store *st, int64_t id, struct store_user *out)
{
	bool found = false;
	TRY(store_pg_read_row(st, "user get", USER_COLS " WHERE id = ?1 AND deleted = 0;",
			      ARGS(A_INT(id)), user_row, out, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

int store_pg_user_count(struct store *st, int64_t *n)
{
	return store_pg_read_int(st, "count", "SELECT COUNT(*) FROM users WHERE name NOT LIKE '~%' AND deleted = 0;",
				 NOARGS, n, NULL);
}

struct keys {
	char **rsa, **ed;
};

static int keys_row(void *ctx, struct pg_row *q)
{
	struct keys *k = ctx;
	*k->rsa = pg_col_str(q, 0);
	*k->ed = pg_col_str(q, 1);
	return 0;
}

int store_pg_user_private_keys(struct store *st, int64_t id, char **rsa_pem, char **ed_pem)
{
	struct keys k = { rsa_pem, ed_pem };
	bool found = false;
	TRY(store_pg_read_row(st, "private keys",
			      "SELECT rsa_private, ed_private FROM users WHERE id = ?1 AND deleted = 0;",
			      ARGS(A_INT(id)), keys_row, &k, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

int store_pg_token_add(struct store *st, int64_t user, const uint8_t hash[32])
{
	struct pg_done d;
	int rc = store_pg_write(st, "token add",
				"INSERT INTO tokens(hash, user_id, created) VALUES (?1, ?2, ?3);",
				ARGS(A_BLOB(hash, 32), A_INT(user), A_INT(aim_now())), &d);
	if (rc != 0 && d.ext == PG_EXT_FK)
		return aim_fail(AIM_ERR_NOTFOUND, "no such user");
	return rc;
}

int store_pg_token_find(struct store *st, const uint8_t hash[32], int64_t *user)
{
	bool found = false;
	TRY(store_pg_read_int(st, "token find", "SELECT user_id FROM tokens WHERE hash = ?1;",
			      ARGS(A_BLOB(hash, 32)), user, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "unknown token");
	return 0;
}

/* ---- Per-user settings ---------------------------------------------------- */

int store_pg_manual_approval_get(struct store *st, int64_t user, bool *on)
{
	int64_t v;
	TRY(store_pg_read_int(st, "query", "SELECT manual_approval FROM users WHERE id = ?1;",
			      ARGS(A_INT(user)), &v, NULL));
	*on = v != 0;
	return 0;
}

int store_pg_manual_approval_set(struct store *st, int64_t user, bool on)
{
	struct pg_done d;
	TRY(store_pg_write(st, "federation update",
			   "UPDATE users SET manual_approval = ?2 WHERE id = ?1;",
			   ARGS(A_INT(user), A_BOOL(on)), &d));
	ENSURE(d.changes > 0, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

/* ---- Listing, revoking, deleting ------------------------------------------- */

struct user_list_ctx {
	store_user_info_fn fn;
	void *ctx;
};

static int user_info_row(void *ctx, struct pg_row *q)
{
	struct user_list_ctx *c = ctx;
	const unsigned char *n = pg_col_text(q, 1);
	struct store_user_info u = {
		.id = pg_col_int(q, 0),
		.name = n ? (const char *)n : "",
		.created = pg_col_int(q, 2),
		.deleted = pg_col_int(q, 3),
		.manual_approval = pg_col_int(q, 4) != 0,
		.tokens = pg_col_int(q, 5),
	};
	return c->fn(c->ctx, &u);
}

int store_pg_user_list(struct store *st, store_user_info_fn fn, void *ctx)
{
	struct user_list_ctx c = { fn, ctx };
	return store_pg_read_rows(
		st, "user list",
		"SELECT id, name, created, deleted, manual_approval,"
		" (SELECT COUNT(*) FROM tokens t WHERE t.user_id = users.id)"
		" FROM users WHERE name NOT LIKE '~%' ORDER BY name;",
		NOARGS, user_info_row, &c);
}

int store_pg_user_gone(struct store *st, const char *name, bool *gone)
{
	int64_t deleted = 0;
	bool found = false;
	TRY(store_pg_read_int(st, "user gone", "SELECT deleted FROM users WHERE name = ?1;",
			      ARGS(A_TEXT(name)), &deleted, &found));
	*gone = found && deleted != 0;
	return 0;
}

struct token_list_ctx {
	store_token_fn fn;
	void *ctx;
};

static int token_row(void *ctx, struct pg_row *q)
{
	struct token_list_ctx *c = ctx;
	struct store_token_info t = { .created = pg_col_int(q, 1) };
	if (pg_col_bytes(q, 0) != 32)
		return 0; /* not a hash this build wrote */
	memcpy(t.hash, pg_col_blob(q, 0), 32);
	return c->fn(c->ctx, &t);
}

int store_pg_token_list(struct store *st, int64_t user, store_token_fn fn, void *ctx)
{
	struct token_list_ctx c = { fn, ctx };
	return store_pg_read_rows(st, "token list",
				  "SELECT hash, created FROM tokens WHERE user_id = ?1"
				  " ORDER BY created, rowid;",
				  ARGS(A_INT(user)), token_row, &c);
}

int store_pg_token_revoke(struct store *st, const uint8_t hash[32])
{
	struct pg_done d;
	TRY(store_pg_write(st, "token revoke", "DELETE FROM tokens WHERE hash = ?1;",
			   ARGS(A_BLOB(hash, 32)), &d));
	ENSURE(d.changes > 0, AIM_ERR_NOTFOUND, "unknown token");
	return 0;
}

struct user_delete_ctx {
	int64_t user;
	int64_t now;
};

/* In one transaction: what the user owns goes (tokens, follows both ways,
 * blocks, its inbox, its activities and objects wherever they are listed),
 * its pending deliveries fail and their bodies are emptied, and the row
 * keeps only its name, with no keys, marked deleted. */
static int user_delete_tx(struct pgc *db, void *ctx)
{
	const struct user_delete_ctx *c = ctx;
	int64_t live = 0;
	TRY(store_pg_int(db, "user delete",
			 "SELECT COUNT(*) FROM users WHERE id = ?1 AND deleted = 0"
			 " AND name NOT LIKE '~%';",
			 ARGS(A_INT(c->user)), &live, NULL));
	ENSURE(live == 1, AIM_ERR_NOTFOUND, "no such user");
	static const char *const steps[] = {
		"DELETE FROM tokens WHERE user_id = ?1;",
		"DELETE FROM followers WHERE user_id = ?1;",
		"DELETE FROM following WHERE user_id = ?1;",
		"DELETE FROM blocks WHERE user_id = ?1;",
		"UPDATE devices SET revoked = ?2, updated = ?2 WHERE user_id = ?1 AND revoked = 0;",
		"DELETE FROM keypackages WHERE user_id = ?1;",
		"DELETE FROM inbox WHERE user_id = ?1"
		" OR activity_seq IN (SELECT seq FROM activities WHERE author = ?1);",
		"DELETE FROM audience WHERE user_id = ?1"
		" OR activity_seq IN (SELECT seq FROM activities WHERE author = ?1);",
		"DELETE FROM objects WHERE activity_seq IN"
		" (SELECT seq FROM activities WHERE author = ?1);",
		"DELETE FROM activities WHERE author = ?1;",
		"UPDATE deliveries SET state = 2, last_error = 'the signing user was deleted',"
		" lease = NULL, lease_until = 0, updated = ?2 * 1000"
		" WHERE state = 0 AND outgoing_id IN (SELECT id FROM outgoing WHERE signer = ?1);",
		"UPDATE outgoing SET body = '' WHERE signer = ?1;",
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(steps); i++) {
		bool with_time = strstr(steps[i], "?2") != NULL;
		TRY(store_pg_exec(db, "user delete", steps[i],
				  with_time ? ARGS(A_INT(c->user), A_INT(c->now)) : ARGS(A_INT(c->user)),
				  NULL));
	}
	struct pg_done d;
	TRY(store_pg_exec(db, "user delete",
			  "UPDATE users SET rsa_public = '', rsa_private = '', ed_public = x'',"
			  " ed_private = '', manual_approval = 0, deleted = ?2"
			  " WHERE id = ?1 AND deleted = 0 AND name NOT LIKE '~%';",
			  ARGS(A_INT(c->user), A_INT(c->now)), &d));
	ENSURE(d.changes > 0, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}

int store_pg_user_delete(struct store *st, int64_t user)
{
	struct user_delete_ctx c = { user, aim_now() };
	return store_pg_write_tx(st, user_delete_tx, &c);
}
