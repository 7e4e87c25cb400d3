/*
 * The SQLite back end: the delivery queue (federation: outbound) and the
 * HTTP signature scheme remembered per host.
 *
 * An outgoing activity is one `outgoing` row; each target inbox (or actor
 * still to resolve) is one `deliveries` row moving from pending (state 0)
 * to one final state.
 */
#include "store/sqlite_int.h"

#include <string.h>

#include "crypto/crypto.h"

/* Inserts the outgoing activity and its delivery rows on the writer, inside
 * the caller's transaction. Duplicate inboxes / actors collapse. */
int store_sq_enqueue_tx(sqlite3 *db, const struct store_outgoing *o)
{
	ENSURE(o->activity_id && o->body && o->signer > 0, AIM_ERR_INVALID,
	       "incomplete outgoing activity");
	if (o->n == 0)
		return 0;
	int64_t now = o->now_ms ? o->now_ms : aim_now_ms();
	struct sq_done d;
	TRY(store_sq_exec(db, "outgoing add",
			  "INSERT INTO outgoing(activity_id, signer, body, created)"
			  " VALUES (?1, ?2, ?3, ?4);",
			  ARGS(A_TEXT(o->activity_id), A_INT(o->signer), A_TEXT(o->body),
			       A_INT(now)),
			  &d));
	int64_t oid = d.rowid;
	for (size_t i = 0; i < o->n; i++) {
		const struct store_new_delivery *v = &o->v[i];
		ENSURE((v->inbox || v->actor) && v->host, AIM_ERR_INVALID,
		       "a delivery needs an inbox or an actor, and a host");
		TRY(store_sq_exec(db, "delivery add",
				  "INSERT OR IGNORE INTO deliveries(outgoing_id, inbox, actor, host,"
				  " personal, created, next_at, updated)"
				  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6);",
				  ARGS(A_INT(oid), A_TEXT(v->inbox), A_TEXT(v->actor),
				       A_TEXT(v->host), A_BOOL(v->personal), A_INT(now)),
				  NULL));
	}
	return 0;
}

static int enqueue_fn(sqlite3 *db, void *ctx)
{
	return store_sq_enqueue_tx(db, ctx);
}

int store_sq_delivery_enqueue(struct store *st, const struct store_outgoing *o)
{
	return store_sq_write_tx(st, enqueue_fn, (void *)o);
}

#define DLV_COLS                                                                           \
	"d.id, d.outgoing_id, o.activity_id, d.inbox, d.actor, d.host, d.personal, o.signer," \
	" d.state, d.attempts, d.created, d.next_at, d.updated, d.last_status, d.last_error"
#define DLV_FROM " FROM deliveries d JOIN outgoing o ON o.id = d.outgoing_id"

static void dlv_fill(sqlite3_stmt *q, struct store_delivery *d)
{
	memset(d, 0, sizeof *d);
	d->id = sqlite3_column_int64(q, 0);
	d->outgoing = sqlite3_column_int64(q, 1);
	d->activity_id = sq_col_str(q, 2);
	d->inbox = sq_col_str_null(q, 3);
	d->actor = sq_col_str_null(q, 4);
	d->host = sq_col_str(q, 5);
	d->personal = sqlite3_column_int(q, 6) != 0;
	d->signer = sqlite3_column_int64(q, 7);
	d->state = sqlite3_column_int(q, 8);
	d->attempts = sqlite3_column_int(q, 9);
	d->created_ms = sqlite3_column_int64(q, 10);
	d->next_ms = sqlite3_column_int64(q, 11);
	d->updated_ms = sqlite3_column_int64(q, 12);
	d->last_status = sqlite3_column_int(q, 13);
	d->last_error = sq_col_str_null(q, 14);
}

/* A delivery row with its body (column 15). */
static int dlv_body_row(void *ctx, sqlite3_stmt *q)
{
	struct store_delivery *d = ctx;
	dlv_fill(q, d);
	d->body = sq_col_str(q, 15);
	return 0;
}

/*
 * The claim: the pending row due first that
 *   - no live lease holds (lease_until <= now; an ended lease is taken over),
 *   - waits for no older pending row of its signer to its recipient, leased
 *     or not (per recipient, in order: an Undo never overtakes its Follow),
 *   - is on a host whose circuit is not open, with fewer live leases than
 *     its limit: per_host (?2), or 1 once it failed probe_after (?3) times
 *     in a row (half-open: one probe).
 * It runs in a write transaction, so two claims never take the same row.
 */
static const char CLAIM_SQL[] =
	"SELECT d.id FROM deliveries d JOIN outgoing o ON o.id = d.outgoing_id"
	" LEFT JOIN delivery_hosts h ON h.host = d.host"
	" WHERE d.state = 0 AND d.next_at <= ?1 AND d.lease_until <= ?1"
	" AND COALESCE(h.open_until, 0) <= ?1"
	" AND NOT EXISTS (SELECT 1 FROM deliveries e"
	" JOIN outgoing eo ON eo.id = e.outgoing_id"
	" WHERE e.state = 0 AND e.id < d.id AND eo.signer = o.signer"
	" AND (e.inbox = d.inbox OR e.actor = d.actor))"
	" AND (SELECT COUNT(*) FROM deliveries l WHERE l.host = d.host AND l.state = 0"
	" AND l.lease_until > ?1)"
	" < (CASE WHEN COALESCE(h.failures, 0) >= ?3 THEN 1 ELSE ?2 END)"
	" ORDER BY d.next_at, d.id LIMIT 1;";

struct claim_ctx {
	const struct store_claim *c;
	struct store_delivery *out;
	struct store_lease *lease;
	bool found;
};

static int new_token(char token[STORE_LEASE_TOKEN_LEN + 1])
{
	uint8_t r[STORE_LEASE_TOKEN_LEN / 2];
	TRY(aim_random(r, sizeof r));
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof r; i++) {
		token[2 * i] = hex[r[i] >> 4];
		token[2 * i + 1] = hex[r[i] & 15];
	}
	token[STORE_LEASE_TOKEN_LEN] = 0;
	return 0;
}

static int claim_fn(sqlite3 *db, void *ctx)
{
	struct claim_ctx *x = ctx;
	const struct store_claim *c = x->c;
	int64_t id = 0;
	int64_t probe = c->probe_after ? (int64_t)c->probe_after : INT64_MAX;
	TRY(store_sq_int(db, "delivery claim", CLAIM_SQL,
			 ARGS(A_INT(c->now_ms), A_INT(c->per_host), A_INT(probe)), &id, &x->found));
	if (!x->found)
		return 0;
	struct store_lease *l = x->lease;
	memset(l, 0, sizeof *l);
	TRY(new_token(l->token));
	l->id = id;
	l->until_ms = c->now_ms + c->lease_ms;
	TRY(store_sq_exec(db, "delivery claim",
			  "UPDATE deliveries SET lease = ?2, lease_until = ?3 WHERE id = ?1;",
			  ARGS(A_INT(id), A_TEXT(l->token), A_INT(l->until_ms)), NULL));
	return store_sq_row(db, "delivery claim",
			    "SELECT " DLV_COLS ", o.body" DLV_FROM " WHERE d.id = ?1;",
			    ARGS(A_INT(id)), dlv_body_row, x->out, NULL);
}

int store_sq_delivery_claim(struct store *st, const struct store_claim *c,
			    struct store_delivery *out, struct store_lease *lease)
{
	struct claim_ctx x = { c, out, lease, false };
	memset(out, 0, sizeof *out);
	if (store_sq_write_tx(st, claim_fn, &x) != 0) {
		store_delivery_clear(out);
		return -1;
	}
	ENSURE(x.found, AIM_ERR_NOTFOUND, "no delivery due");
	return 0;
}

struct claim_batch_ctx {
	const struct store_claim *c;
	size_t max, n;
	struct store_delivery *out;
	struct store_lease *leases;
};

/* The single claim again and again in one transaction: each sees the leases
 * taken before it, so the per-host limit and the order per recipient hold
 * inside a batch as across batches. */
static int claim_batch_fn(sqlite3 *db, void *ctx)
{
	struct claim_batch_ctx *b = ctx;
	while (b->n < b->max) {
		struct claim_ctx x = { b->c, &b->out[b->n], &b->leases[b->n], false };
		memset(x.out, 0, sizeof *x.out);
		if (claim_fn(db, &x) != 0) {
			store_delivery_clear(x.out);
			return -1;
		}
		if (!x.found)
			break;
		b->n++;
	}
	return 0;
}

int store_sq_delivery_claim_batch(struct store *st, const struct store_claim *c, size_t max,
				  struct store_delivery *out, struct store_lease *leases,
				  size_t *n)
{
	struct claim_batch_ctx b = { c, max, 0, out, leases };
	*n = 0;
	if (store_sq_write_tx(st, claim_batch_fn, &b) != 0) {
		for (size_t i = 0; i < b.n; i++)
			store_delivery_clear(&out[i]);
		return -1;
	}
	ENSURE(b.n > 0, AIM_ERR_NOTFOUND, "no delivery due");
	*n = b.n;
	return 0;
}

/* Why a statement on a leased row (WHERE id = ?1 AND lease = ?2 AND state = 0)
 * changed nothing. */
static int lease_failure(sqlite3 *db, const struct store_lease *l)
{
	int64_t state = 0;
	bool found = false;
	TRY(store_sq_int(db, "delivery lease", "SELECT state FROM deliveries WHERE id = ?1;",
			 ARGS(A_INT(l->id)), &state, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no delivery %lld", (long long)l->id);
	ENSURE(state == STORE_DLV_PENDING, AIM_ERR_STATE, "delivery %lld is not pending",
	       (long long)l->id);
	return aim_fail(AIM_ERR_CONFLICT, "delivery %lld: the lease is stale (claimed again)",
			(long long)l->id);
}

/* One statement on a leased row, ?1 = the row, ?2 = the lease token. */
struct lease_op {
	const struct store_lease *lease;
	const char *what, *sql;
	struct sq_args a;
};

static int lease_op_fn(sqlite3 *db, void *ctx)
{
	struct lease_op *op = ctx;
	struct sq_done d;
	TRY(store_sq_exec(db, op->what, op->sql, op->a, &d));
	if (d.changes == 0)
		return lease_failure(db, op->lease);
	return 0;
}

#define LEASED " WHERE id = ?1 AND lease = ?2 AND state = 0;"

int store_sq_delivery_renew(struct store *st, struct store_lease *lease, int64_t until_ms)
{
	struct lease_op op = { lease, "delivery renew",
			       "UPDATE deliveries SET lease_until = ?3" LEASED,
			       ARGS(A_INT(lease->id), A_TEXT(lease->token), A_INT(until_ms)) };
	TRY(store_sq_write_tx(st, lease_op_fn, &op));
	lease->until_ms = until_ms;
	return 0;
}

int store_sq_delivery_release(struct store *st, const struct store_lease *lease)
{
	struct lease_op op = { lease, "delivery release",
			       "UPDATE deliveries SET lease = NULL, lease_until = 0" LEASED,
			       ARGS(A_INT(lease->id), A_TEXT(lease->token)) };
	return store_sq_write_tx(st, lease_op_fn, &op);
}

int store_sq_delivery_earliest(struct store *st, int64_t *next_ms)
{
	int64_t n = 0, v = 0;
	TRY(store_sq_read_int(st, "count", "SELECT COUNT(*) FROM deliveries WHERE state = 0;",
			      NOARGS, &n, NULL));
	if (n == 0)
		return aim_fail(AIM_ERR_NOTFOUND, "no pending delivery");
	TRY(store_sq_read_int(st, "count",
			      "SELECT MIN(MAX(next_at, lease_until)) FROM deliveries WHERE state = 0;",
			      NOARGS, &v, NULL));
	*next_ms = v;
	return 0;
}

int store_sq_delivery_finish(struct store *st, const struct store_lease *lease,
			     const struct store_delivery_update *u)
{
	struct lease_op op = {
		lease, "delivery finish",
		"UPDATE deliveries SET state = ?3, attempts = ?4, next_at = ?5, last_status = ?6,"
		" last_error = ?7, updated = ?8, lease = NULL, lease_until = 0" LEASED,
		ARGS(A_INT(lease->id), A_TEXT(lease->token), A_INT(u->state), A_INT(u->attempts),
		     A_INT(u->next_ms), A_INT(u->last_status), A_TEXT(u->last_error),
		     A_INT(aim_now_ms()))
	};
	return store_sq_write_tx(st, lease_op_fn, &op);
}

/* The host's failures in a row, on the writer (store_host_failure). */
static int host_count_tx(sqlite3 *db, const char *host, bool failed, int64_t now_ms,
			 unsigned *failures)
{
	*failures = 0;
	if (!failed)
		return store_sq_exec(db, "host failures",
				     "UPDATE delivery_hosts SET failures = 0, open_until = 0"
				     " WHERE host = ?1 AND (failures <> 0 OR open_until <> 0);",
				     ARGS(A_TEXT(host)), NULL);
	int64_t n = 0;
	TRY(store_sq_int(db, "host failures",
			 "INSERT INTO delivery_hosts(host, scheme, updated, failures)"
			 " VALUES (?1, 0, ?2, 1)"
			 " ON CONFLICT(host) DO UPDATE SET failures = failures + 1"
			 " RETURNING failures;",
			 ARGS(A_TEXT(host), A_INT(now_ms)), &n, NULL));
	*failures = (unsigned)n;
	return 0;
}

struct defer_ctx {
	const char *host;
	int64_t until;
};
static int defer_fn(sqlite3 *db, void *ctx);

struct finish_batch_ctx {
	struct store_finish *v;
	size_t n;
};

static int finish_batch_fn(sqlite3 *db, void *ctx)
{
	struct finish_batch_ctx *b = ctx;
	int64_t now = aim_now_ms();
	for (size_t i = 0; i < b->n; i++) {
		struct store_finish *f = &b->v[i];
		const struct store_delivery_update *u = &f->u;
		f->rc = 0;
		f->err = AIM_ERR_NONE;
		f->opened = false;
		TRY(host_count_tx(db, f->host, f->host_failure, now, &f->failures));
		if (f->host_failure && f->open_after && f->failures >= f->open_after &&
		    f->open_until_ms) {
			struct defer_ctx dc = { f->host, f->open_until_ms };
			TRY(defer_fn(db, &dc));
			f->opened = true;
		}
		struct lease_op op = {
			f->lease, "delivery finish",
			"UPDATE deliveries SET state = ?3, attempts = ?4, next_at = ?5,"
			" last_status = ?6, last_error = ?7, updated = ?8, lease = NULL,"
			" lease_until = 0" LEASED,
			ARGS(A_INT(f->lease->id), A_TEXT(f->lease->token), A_INT(u->state),
			     A_INT(u->attempts), A_INT(u->next_ms), A_INT(u->last_status),
			     A_TEXT(u->last_error), A_INT(now))
		};
		if (lease_op_fn(db, &op) != 0) {
			enum aim_err e = aim_errcode();
			if (e != AIM_ERR_NOTFOUND && e != AIM_ERR_STATE && e != AIM_ERR_CONFLICT)
				return -1;
			f->rc = -1;
			f->err = e;
		}
	}
	return 0;
}

int store_sq_delivery_finish_batch(struct store *st, struct store_finish *v, size_t n)
{
	struct finish_batch_ctx b = { v, n };
	return n ? store_sq_write_tx(st, finish_batch_fn, &b) : 0;
}

struct resolve_ctx {
	const struct store_lease *lease;
	const char *inbox, *host;
	bool merged;
};

static int resolve_fn(sqlite3 *db, void *ctx)
{
	struct resolve_ctx *r = ctx;
	const struct store_lease *l = r->lease;
	int64_t dup = 0;
	TRY(store_sq_int(db, "delivery resolve",
			 "SELECT EXISTS (SELECT 1 FROM deliveries o JOIN deliveries d"
			 " ON d.outgoing_id = o.outgoing_id WHERE d.id = ?1 AND o.inbox = ?2);",
			 ARGS(A_INT(l->id), A_TEXT(r->inbox)), &dup, NULL));
	struct lease_op op = { l, "delivery merge", "DELETE FROM deliveries" LEASED,
			       ARGS(A_INT(l->id), A_TEXT(l->token)) };
	if (dup) {
		TRY(lease_op_fn(db, &op));
		r->merged = true;
		return 0;
	}
	op.what = "delivery resolve";
	op.sql = "UPDATE deliveries SET inbox = ?3, host = ?4, updated = ?5" LEASED;
	op.a = ARGS(A_INT(l->id), A_TEXT(l->token), A_TEXT(r->inbox), A_TEXT(r->host),
		    A_INT(aim_now_ms()));
	return lease_op_fn(db, &op);
}

int store_sq_delivery_resolve(struct store *st, const struct store_lease *lease,
			      const char *inbox, const char *host, bool *merged)
{
	struct resolve_ctx r = { lease, inbox, host, false };
	int rc = store_sq_write_tx(st, resolve_fn, &r);
	if (rc == 0 && merged)
		*merged = r.merged;
	return rc;
}

static int defer_fn(sqlite3 *db, void *ctx)
{
	struct defer_ctx *d = ctx;
	TRY(store_sq_exec(db, "delivery defer",
			  "UPDATE deliveries SET next_at = ?2 WHERE host = ?1 AND state = 0"
			  " AND next_at < ?2;",
			  ARGS(A_TEXT(d->host), A_INT(d->until)), NULL));
	return store_sq_exec(db, "delivery defer",
			     "INSERT INTO delivery_hosts(host, scheme, updated, open_until)"
			     " VALUES (?1, 0, ?3, ?2)"
			     " ON CONFLICT(host) DO UPDATE SET open_until = MAX(open_until, ?2);",
			     ARGS(A_TEXT(d->host), A_INT(d->until), A_INT(aim_now_ms())), NULL);
}

int store_sq_delivery_defer_host(struct store *st, const char *host, int64_t until_ms)
{
	struct defer_ctx d = { host, until_ms };
	return store_sq_write_tx(st, defer_fn, &d);
}

int store_sq_delivery_expire_overdue(struct store *st, int64_t created_before_ms, int64_t now_ms,
				     size_t *n)
{
	struct sq_done done = { 0 };
	int rc = store_sq_write(st, "expire overdue",
				"UPDATE deliveries SET state = 3, updated = ?2,"
				" last_error = 'expired: the retry period ended', lease = NULL,"
				" lease_until = 0"
				" WHERE state = 0 AND created < ?1 AND (lease IS NULL OR lease_until < ?2);",
				ARGS(A_INT(created_before_ms), A_INT(now_ms)), &done);
	*n = rc == 0 ? (size_t)done.changes : 0;
	return rc;
}

int store_sq_host_failure(struct store *st, const char *host, bool failed, int64_t now_ms,
			  unsigned *failures)
{
	if (!failed) {
		*failures = 0;
		return store_sq_write(st, "host failures",
				      "UPDATE delivery_hosts SET failures = 0, open_until = 0"
				      " WHERE host = ?1 AND (failures <> 0 OR open_until <> 0);",
				      ARGS(A_TEXT(host)), NULL);
	}
	struct sq *s = SQ(st);
	int64_t n = 0;
	pthread_mutex_lock(&s->wlock);
	int rc = store_sq_int(s->w, "host failures",
			      "INSERT INTO delivery_hosts(host, scheme, updated, failures)"
			      " VALUES (?1, 0, ?2, 1)"
			      " ON CONFLICT(host) DO UPDATE SET failures = failures + 1"
			      " RETURNING failures;",
			      ARGS(A_TEXT(host), A_INT(now_ms)), &n, NULL);
	pthread_mutex_unlock(&s->wlock);
	TRY(rc);
	*failures = (unsigned)n;
	return 0;
}

struct list_ctx {
	store_delivery_fn fn;
	void *ctx;
};

static int list_row(void *ctx, sqlite3_stmt *q)
{
	struct list_ctx *l = ctx;
	struct store_delivery d;
	dlv_fill(q, &d);
	int rc = l->fn(l->ctx, &d);
	store_delivery_clear(&d);
	return rc;
}

int store_sq_delivery_list(struct store *st, store_delivery_fn fn, void *ctx)
{
	struct list_ctx l = { fn, ctx };
	return store_sq_read_rows(st, "delivery list", "SELECT " DLV_COLS DLV_FROM " ORDER BY d.id;",
				  NOARGS, list_row, &l);
}

/* ---- Signature scheme per host -------------------------------------------- */

int store_sq_host_scheme_get(struct store *st, const char *host, int *scheme)
{
	int64_t v = 0;
	bool found = false;
	TRY(store_sq_read_int(st, "host scheme", "SELECT scheme FROM delivery_hosts WHERE host = ?1;",
			      ARGS(A_TEXT(host)), &v, &found));
	*scheme = found ? (int)v : 0;
	return 0;
}

int store_sq_host_scheme_set(struct store *st, const char *host, int scheme)
{
	return store_sq_write(st, "host scheme set",
			      "INSERT INTO delivery_hosts(host, scheme, updated) VALUES (?1, ?2, ?3)"
			      " ON CONFLICT(host) DO UPDATE SET scheme = excluded.scheme,"
			      " updated = excluded.updated;",
			      ARGS(A_TEXT(host), A_INT(scheme), A_INT(aim_now_ms())), NULL);
}
