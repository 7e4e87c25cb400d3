/*
 * The PostgreSQL back end: the domain's CA certificates and the users' devices
 * (identity, issue 10). Tables of migration 8:
 *
 *   ca_certs(id, der, created)     one row per CA certificate; id names the
 *                                  private key's file, which is never here
 *   devices(user_id, device, alg, pk, cert, not_after, revoked, created,
 *           updated)               (user_id, device) and (user_id, alg, pk)
 *                                  are unique: a key names one device
 *
 * A revoked device keeps its row (id and key stay taken). Its revocation
 * withdraws its KeyPackages in the same transaction: the statements of
 * `withdraw_steps` below run with ?1 = user id, ?2 = device id, ?3 = the
 * device's alg, ?4 = its public key, ?5 = now (every statement names ?5:
 * the helper binds exactly the parameters a statement declares). A deleted
 * user's devices are revoked with it (sqlite_users.c).
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

/* ---- CA certificates ------------------------------------------------------- */

int store_pg_ca_cert_add(struct store *st, const uint8_t *der, size_t len, int64_t *id)
{
	struct pg_done d;
	TRY(store_pg_write(st, "ca cert add", "INSERT INTO ca_certs(der, created) VALUES (?1, ?2);",
			   ARGS(A_BLOB(der, len), A_INT(aim_now())), &d));
	*id = d.rowid;
	return 0;
}

struct ca_list_ctx {
	store_ca_cert_fn fn;
	void *ctx;
};

static int ca_row(void *ctx, struct pg_row *q)
{
	struct ca_list_ctx *c = ctx;
	struct store_ca_cert cert = {
		.id = pg_col_int(q, 0),
		.der = pg_col_blob(q, 1),
		.len = (size_t)pg_col_bytes(q, 1),
		.created = pg_col_int(q, 2),
	};
	if (!cert.der || cert.len == 0)
		return 0;
	return c->fn(c->ctx, &cert);
}

int store_pg_ca_cert_list(struct store *st, store_ca_cert_fn fn, void *ctx)
{
	struct ca_list_ctx c = { fn, ctx };
	return store_pg_read_rows(st, "ca cert list",
				  "SELECT id, der, created FROM ca_certs ORDER BY id DESC;", NOARGS,
				  ca_row, &c);
}

/* ---- Devices --------------------------------------------------------------- */

#define DEVICE_COLS                                                                         \
	"SELECT user_id, device, alg, pk, cert, not_after, revoked, created, updated FROM devices"

static void device_fill(struct pg_row *q, struct store_device *out, bool copy_cert)
{
	memset(out, 0, sizeof *out);
	out->user_id = pg_col_int(q, 0);
	const unsigned char *n = pg_col_text(q, 1);
	snprintf(out->device, sizeof out->device, "%s", n ? (const char *)n : "");
	out->alg = pg_col_int(q, 2);
	size_t pl = (size_t)pg_col_bytes(q, 3);
	if (pl <= sizeof out->pk) {
		if (pl)
			memcpy(out->pk, pg_col_blob(q, 3), pl);
		out->pk_len = pl;
	}
	size_t cl = (size_t)pg_col_bytes(q, 4);
	const void *cp = pg_col_blob(q, 4);
	if (copy_cert && cl && cp) {
		out->cert = aim_xmalloc(cl);
		memcpy(out->cert, cp, cl);
	} else if (!copy_cert) {
		out->cert = (uint8_t *)cp; /* borrowed for a listing callback */
	}
	out->cert_len = cl;
	out->not_after = pg_col_int(q, 5);
	out->revoked = pg_col_int(q, 6) != 0;
	out->created = pg_col_int(q, 7);
	out->updated = pg_col_int(q, 8);
}

static int device_row(void *ctx, struct pg_row *q)
{
	device_fill(q, ctx, true);
	return 0;
}

int store_pg_device_get(struct store *st, int64_t user, const char *device,
			struct store_device *out)
{
	bool found = false;
	TRY(store_pg_read_row(st, "device get", DEVICE_COLS " WHERE user_id = ?1 AND device = ?2;",
			      ARGS(A_INT(user), A_TEXT(device)), device_row, out, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such device");
	return 0;
}

int store_pg_device_by_key(struct store *st, int64_t user, int alg, const uint8_t *pk,
			   size_t pk_len, struct store_device *out)
{
	bool found = false;
	TRY(store_pg_read_row(st, "device by key",
			      DEVICE_COLS " WHERE user_id = ?1 AND alg = ?2 AND pk = ?3;",
			      ARGS(A_INT(user), A_INT(alg), A_BLOB(pk, pk_len)), device_row, out,
			      &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no device with that key");
	return 0;
}

struct device_list_ctx {
	store_device_fn fn;
	void *ctx;
};

static int device_list_row(void *ctx, struct pg_row *q)
{
	struct device_list_ctx *c = ctx;
	struct store_device d;
	device_fill(q, &d, false);
	d.keypackages = pg_col_int(q, 9);
	return c->fn(c->ctx, &d);
}

int store_pg_device_list(struct store *st, int64_t user, store_device_fn fn, void *ctx)
{
	struct device_list_ctx c = { fn, ctx };
	/* with the KeyPackages each has available (sqlite_keypackages.c) */
	return store_pg_read_rows(
		st, "device list",
		"SELECT user_id, device, alg, pk, cert, not_after, revoked, created, updated,"
		" (SELECT COUNT(*) FROM keypackages k WHERE k.user_id = devices.user_id"
		" AND k.device_id = devices.device AND k.last_resort = 0 AND k.consumed_at IS NULL"
		" AND k.not_after >= ?2) FROM devices WHERE user_id = ?1 ORDER BY device;",
		ARGS(A_INT(user), A_INT(aim_now())), device_list_row, &c);
}

struct put_ctx {
	const struct store_new_device *d;
	bool create;
	int64_t now;
};

struct existing {
	bool found;
	bool revoked;
	int alg;
	uint8_t pk[133];
	size_t pk_len;
};

static int existing_row(void *ctx, struct pg_row *q)
{
	struct existing *e = ctx;
	e->found = true;
	e->alg = pg_col_int(q, 0);
	size_t n = (size_t)pg_col_bytes(q, 1);
	if (n <= sizeof e->pk) {
		if (n)
			memcpy(e->pk, pg_col_blob(q, 1), n);
		e->pk_len = n;
	}
	e->revoked = pg_col_int(q, 2) != 0;
	return 0;
}

static int put_tx(struct pgc *db, void *ctx)
{
	const struct put_ctx *c = ctx;
	const struct store_new_device *d = c->d;
	struct existing e = { 0 };
	TRY(store_pg_row(db, "device put",
			 "SELECT alg, pk, revoked FROM devices WHERE user_id = ?1 AND device = ?2;",
			 ARGS(A_INT(d->user_id), A_TEXT(d->device)), existing_row, &e, &e.found));
	bool same_key = e.found && e.alg == d->alg && e.pk_len == d->pk_len &&
			memcmp(e.pk, d->pk, d->pk_len) == 0;
	if (!c->create)
		ENSURE(e.found, AIM_ERR_NOTFOUND, "no such device");
	ENSURE(!e.revoked, AIM_ERR_STATE, "device %s is revoked", d->device);
	if (c->create)
		ENSURE(!e.found || same_key, AIM_ERR_EXISTS, "device %s is registered with another key",
		       d->device);
	int64_t other = 0;
	TRY(store_pg_int(db, "device put",
			 "SELECT COUNT(*) FROM devices WHERE user_id = ?1 AND alg = ?2 AND pk = ?3"
			 " AND device <> ?4;",
			 ARGS(A_INT(d->user_id), A_INT(d->alg), A_BLOB(d->pk, d->pk_len),
			      A_TEXT(d->device)),
			 &other, NULL));
	ENSURE(other == 0, AIM_ERR_EXISTS, "another device holds that key");
	struct pg_done done;
	if (e.found) {
		TRY(store_pg_exec(db, "device put",
				  "UPDATE devices SET alg = ?3, pk = ?4, cert = ?5, not_after = ?6,"
				  " updated = ?7 WHERE user_id = ?1 AND device = ?2 AND revoked = 0;",
				  ARGS(A_INT(d->user_id), A_TEXT(d->device), A_INT(d->alg),
				       A_BLOB(d->pk, d->pk_len), A_BLOB(d->cert, d->cert_len),
				       A_INT(d->not_after), A_INT(c->now)),
				  &done));
		ENSURE(done.changes == 1, AIM_ERR_CONFLICT, "device %s moved", d->device);
		return 0;
	}
	int rc = store_pg_exec(db, "device put",
			       "INSERT INTO devices(user_id, device, alg, pk, cert, not_after, created,"
			       " updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7);",
			       ARGS(A_INT(d->user_id), A_TEXT(d->device), A_INT(d->alg),
				    A_BLOB(d->pk, d->pk_len), A_BLOB(d->cert, d->cert_len),
				    A_INT(d->not_after), A_INT(c->now)),
			       &done);
	if (rc != 0 && done.ext == PG_EXT_FK)
		return aim_fail(AIM_ERR_NOTFOUND, "no such user");
	return rc;
}

int store_pg_device_put(struct store *st, const struct store_new_device *d, bool create)
{
	struct put_ctx c = { d, create, aim_now() };
	return store_pg_write_tx(st, put_tx, &c);
}

/* What a revocation withdraws besides marking the row (see the header
 * comment for the arguments). The KeyPackage directory adds its statement
 * here. */
static const char *const withdraw_steps[] = {
	/* the KeyPackage directory (sqlite_keypackages.c): what was not
	 * handed out goes, its last-resort KeyPackage too */
	"DELETE FROM keypackages WHERE user_id = ?1 AND device_id = ?2 AND consumed_at IS NULL"
	" AND ?3 = ?3 AND ?4 = ?4 AND ?5 = ?5;",
};

struct revoke_ctx {
	int64_t user;
	const char *device;
	int64_t now;
};

static int revoke_tx(struct pgc *db, void *ctx)
{
	const struct revoke_ctx *c = ctx;
	struct existing e = { 0 };
	TRY(store_pg_row(db, "device revoke",
			 "SELECT alg, pk, revoked FROM devices WHERE user_id = ?1 AND device = ?2;",
			 ARGS(A_INT(c->user), A_TEXT(c->device)), existing_row, &e, &e.found));
	ENSURE(e.found, AIM_ERR_NOTFOUND, "no such device");
	if (e.revoked)
		return 0;
	TRY(store_pg_exec(db, "device revoke",
			  "UPDATE devices SET revoked = ?3, updated = ?3"
			  " WHERE user_id = ?1 AND device = ?2;",
			  ARGS(A_INT(c->user), A_TEXT(c->device), A_INT(c->now)), NULL));
	for (size_t i = 0; i < AIM_ARRAY_LEN(withdraw_steps); i++) {
		if (!withdraw_steps[i])
			continue;
		TRY(store_pg_exec(db, "device revoke", withdraw_steps[i],
				  ARGS(A_INT(c->user), A_TEXT(c->device), A_INT(e.alg),
				       A_BLOB(e.pk, e.pk_len), A_INT(c->now)),
				  NULL));
	}
	return 0;
}

int store_pg_device_revoke(struct store *st, int64_t user, const char *device)
{
	struct revoke_ctx c = { user, device, aim_now() };
	return store_pg_write_tx(st, revoke_tx, &c);
}
