/*
 * The PostgreSQL back end: the KeyPackage directory (store.h "The KeyPackage
 * directory"). One row per uploaded KeyPackage; a claim marks its rows
 * handed out (consumed_at, consumed_by) with a conditional UPDATE ...
 * RETURNING of a row picked FOR UPDATE SKIP LOCKED, in one transaction
 * without the store's writer lock: claims in several processes run at once
 * and never hand one KeyPackage out twice. Last-resort rows are never marked; one per device (a partial
 * unique index).
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

/* ---- The keyPackages collection: last-resort KeyPackages only ------------------------ */

/* (not one whose lifetime or certificate ran out) */
#define KP_COLL_FROM                                                                       \
	" FROM keypackages k WHERE k.user_id = ?1 AND k.last_resort = 1 AND ?2 = ?2"        \
	" AND k.not_after >= CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)"

int store_pg_keypackage_page(struct store *st, int64_t owner, int64_t viewer,
			     const struct store_range *r, struct store_page *out)
{
	(void)viewer;
	return store_pg_page_query(st, "k.id, k.user_id, 1, k.json", KP_COLL_FROM, "k.id", owner, 0,
				   r, out);
}

int store_pg_keypackage_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n)
{
	(void)viewer;
	return store_pg_read_int(st, "count", "SELECT COUNT(*)" KP_COLL_FROM ";",
				 ARGS(A_INT(owner), A_INT(0)), n, NULL);
}

/* ---- Upload ------------------------------------------------------------------------------ */

struct add_ctx {
	int64_t user;
	const struct store_new_keypackage *v;
	size_t n;
	size_t max;
};

static int add_fn(struct pgc *db, void *ctx)
{
	struct add_ctx *c = ctx;
	int64_t now = aim_now();
	for (size_t i = 0; i < c->n; i++) {
		const struct store_new_keypackage *k = &c->v[i];
		/* A revoked device uploads nothing: checked here too, in the
		 * transaction, against a revocation since the server's check. */
		int64_t live = 0;
		TRY(store_pg_int(db, "keypackage add",
				 "SELECT COUNT(*) FROM devices WHERE user_id = ?1 AND device = ?2"
				 " AND revoked = 0;",
				 ARGS(A_INT(c->user), A_TEXT(k->device)), &live, NULL));
		ENSURE(live == 1, AIM_ERR_DENIED, "KeyPackage %zu: device %s is not registered or revoked",
		       i, k->device);
		if (k->last_resort)
			TRY(store_pg_exec(db, "keypackage add",
					  "DELETE FROM keypackages WHERE user_id = ?1 AND device_id = ?2"
					  " AND last_resort = 1;",
					  ARGS(A_INT(c->user), A_TEXT(k->device)), NULL));
		struct pg_done d = { 0 };
		int rc = store_pg_exec(
			db, "keypackage add",
			"INSERT INTO keypackages(user_id, device_id, suite, ref, data, json,"
			" last_resort, not_after, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9);",
			ARGS(A_INT(c->user), A_TEXT(k->device), A_INT(k->suite),
			     A_BLOB(k->ref, k->ref_len), A_BLOB(k->data, k->len), A_TEXT(k->json),
			     A_BOOL(k->last_resort), A_INT(k->not_after), A_INT(now)),
			&d);
		if (rc != 0 && aim_errcode() == AIM_ERR_EXISTS)
			return aim_fail(AIM_ERR_EXISTS, "KeyPackage %zu: already uploaded", i);
		if (rc != 0 && d.ext == PG_EXT_FK)
			return aim_fail(AIM_ERR_NOTFOUND, "no such user");
		TRY(rc);
	}
	if (!c->max)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		int64_t have = 0;
		TRY(store_pg_int(db, "keypackage add",
				 "SELECT COUNT(*) FROM keypackages WHERE user_id = ?1 AND device_id = ?2"
				 " AND last_resort = 0 AND consumed_at IS NULL;",
				 ARGS(A_INT(c->user), A_TEXT(c->v[i].device)), &have, NULL));
		ENSURE(have <= (int64_t)c->max, AIM_ERR_LIMIT,
		       "device %s would hold %lld KeyPackages, more than %zu", c->v[i].device,
		       (long long)have, c->max);
	}
	return 0;
}

int store_pg_keypackage_add(struct store *st, int64_t user, const struct store_new_keypackage *v,
			    size_t n, size_t max_per_device)
{
	struct add_ctx c = { user, v, n, max_per_device };
	return store_pg_write_tx(st, add_fn, &c);
}

/* ---- Stock ------------------------------------------------------------------------------- */

struct stock_ctx {
	store_kp_stock_fn fn;
	void *ctx;
};

static int stock_row(void *ctx, struct pg_row *q)
{
	struct stock_ctx *c = ctx;
	const unsigned char *dev = pg_col_text(q, 0);
	struct store_kp_stock s = {
		.device = dev ? (const char *)dev : "",
		.available = pg_col_int(q, 1),
		.last_resort = pg_col_int(q, 2) != 0,
	};
	return c->fn(c->ctx, &s);
}

int store_pg_keypackage_stock(struct store *st, int64_t user, store_kp_stock_fn fn, void *ctx)
{
	struct stock_ctx c = { fn, ctx };
	return store_pg_read_rows(
		st, "keypackage stock",
		"SELECT device_id, SUM(CASE WHEN last_resort = 0 AND not_after >= ?2 THEN 1 ELSE 0 END), MAX(last_resort)"
		" FROM keypackages WHERE user_id = ?1 AND consumed_at IS NULL"
		" GROUP BY device_id ORDER BY device_id;",
		ARGS(A_INT(user), A_INT(aim_now())), stock_row, &c);
}

/* ---- Claims ------------------------------------------------------------------------------ */

struct devs {
	char (*v)[STORE_DEVICE_MAX + 1];
	size_t n;
};

static int dev_row(void *ctx, struct pg_row *q)
{
	struct devs *d = ctx;
	const unsigned char *t = pg_col_text(q, 0);
	d->v = aim_xrealloc(d->v, (d->n + 1) * sizeof *d->v);
	snprintf(d->v[d->n++], sizeof d->v[0], "%s", t ? (const char *)t : "");
	return 0;
}

struct pick {
	int64_t id;
	uint8_t *data;
	size_t len;
};

static int pick_row(void *ctx, struct pg_row *q)
{
	struct pick *p = ctx;
	p->id = pg_col_int(q, 0);
	int n = pg_col_bytes(q, 1);
	p->len = (size_t)n;
	p->data = aim_xmalloc(n > 0 ? (size_t)n : 1);
	if (n > 0)
		memcpy(p->data, pg_col_blob(q, 1), (size_t)n);
	return 0;
}

struct claim_ctx {
	int64_t user;
	const uint16_t *suites;
	size_t n_suites;
	const char *claimer;
	int64_t now;
	struct store_kp_claim *out;
};

static void claimed_add(struct store_kp_claim *out, const char *dev, uint16_t suite,
			struct pick *p, bool last_resort)
{
	out->v = aim_xrealloc(out->v, (out->n + 1) * sizeof *out->v);
	struct store_kp_claimed *c = &out->v[out->n++];
	memset(c, 0, sizeof *c);
	snprintf(c->device, sizeof c->device, "%s", dev);
	c->suite = suite;
	c->data = p->data;
	c->len = p->len;
	c->last_resort = last_resort;
	p->data = NULL;
}

/* The device's KeyPackage for this claim: a consumable one in the first
 * suite that has one, else its last-resort one in an accepted suite. */
static int claim_device(struct pgc *db, struct claim_ctx *c, const char *dev)
{
	for (int lr = 0; lr < 2; lr++) {
		for (size_t s = 0; s < c->n_suites; s++) {
			struct pick p = { 0 };
			bool found = false;
			if (!lr) {
				/* Handed out once (MIMI): a conditional UPDATE ...
				 * RETURNING of the oldest free one no other claim holds
				 * (SKIP LOCKED): racing claims, in any process, take
				 * different KeyPackages and none waits. */
				TRY(store_pg_row(db, "keypackage claim",
						 "UPDATE keypackages SET consumed_at = ?5, consumed_by = ?6"
						 " WHERE id = (SELECT id FROM keypackages WHERE user_id = ?1"
						 " AND device_id = ?2 AND suite = ?3 AND last_resort = 0"
						 " AND consumed_at IS NULL AND not_after >= ?4"
						 " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
						 " AND consumed_at IS NULL RETURNING id, data;",
						 ARGS(A_INT(c->user), A_TEXT(dev), A_INT(c->suites[s]),
						      A_INT(c->now), A_INT(c->now), A_TEXT(c->claimer)),
						 pick_row, &p, &found));
			} else {
				/* the last-resort one is never consumed */
				TRY(store_pg_row(db, "keypackage claim",
						 "SELECT id, data FROM keypackages WHERE user_id = ?1"
						 " AND device_id = ?2 AND suite = ?3 AND last_resort = 1"
						 " AND consumed_at IS NULL AND not_after >= ?4"
						 " ORDER BY id LIMIT 1;",
						 ARGS(A_INT(c->user), A_TEXT(dev), A_INT(c->suites[s]),
						      A_INT(c->now)),
						 pick_row, &p, &found));
			}
			if (!found)
				continue;
			claimed_add(c->out, dev, c->suites[s], &p, lr == 1);
			return 0;
		}
	}
	return 0;
}

static int claim_fn(struct pgc *db, void *ctx)
{
	struct claim_ctx *c = ctx;
	struct devs d = { 0 };
	int rc = store_pg_rows(db, "keypackage claim",
			       "SELECT DISTINCT device_id FROM keypackages WHERE user_id = ?1"
			       " AND consumed_at IS NULL ORDER BY device_id;",
			       ARGS(A_INT(c->user)), dev_row, &d);
	for (size_t i = 0; rc == 0 && i < d.n; i++)
		rc = claim_device(db, c, d.v[i]);
	free(d.v);
	return rc;
}

int store_pg_keypackage_claim(struct store *st, int64_t user, const uint16_t *suites,
			      size_t n_suites, const char *claimer, int64_t now,
			      struct store_kp_claim *out)
{
	struct claim_ctx c = { user, suites, n_suites, claimer, now, out };
	/* race-free on its own (the conditional updates) */
	int rc = store_pg_write_tx_free(st, claim_fn, &c);
	if (rc != 0)
		store_kp_claim_clear(out);
	return rc;
}

int store_pg_keypackage_withdraw_device(struct store *st, int64_t user, const char *device,
					int64_t *withdrawn)
{
	struct pg_done d = { 0 };
	TRY(store_pg_write(st, "keypackage withdraw",
			   "DELETE FROM keypackages WHERE user_id = ?1 AND device_id = ?2"
			   " AND consumed_at IS NULL;",
			   ARGS(A_INT(user), A_TEXT(device)), &d));
	*withdrawn = d.changes;
	return 0;
}

/* ---- Consent ----------------------------------------------------------------------------- */

int store_pg_claims_policy_get(struct store *st, int64_t user, int *policy)
{
	int64_t v = 0;
	bool found = false;
	TRY(store_pg_read_int(st, "claims policy",
			      "SELECT claims FROM users WHERE id = ?1 AND deleted = 0;",
			      ARGS(A_INT(user)), &v, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such user");
	*policy = (int)v;
	return 0;
}

int store_pg_claims_policy_set(struct store *st, int64_t user, int policy)
{
	struct pg_done d = { 0 };
	TRY(store_pg_write(st, "claims policy",
			   "UPDATE users SET claims = ?2 WHERE id = ?1 AND deleted = 0;",
			   ARGS(A_INT(user), A_INT(policy)), &d));
	ENSURE(d.changes == 1, AIM_ERR_NOTFOUND, "no such user");
	return 0;
}
