/*
 * The PostgreSQL back end: the delivery queue (federation: outbound) and the
 * HTTP signature scheme remembered per host.
 *
 * An outgoing activity is one `outgoing` row; each target inbox (or actor
 * still to resolve) is one `deliveries` row moving from pending (state 0)
 * to one final state.
 */
#include "store/pg_int.h"

#include <string.h>

#include "crypto/crypto.h"

/* Inserts the outgoing activity and its delivery rows on the writer, inside
 * the caller's transaction. Duplicate inboxes / actors collapse. */
int store_pg_enqueue_tx(struct pgc *db, const struct store_outgoing *o)
{
	ENSURE(o->activity_id && o->body && o->signer > 0, AIM_ERR_INVALID,
	       "incomplete outgoing activity");
	if (o->n == 0)
		return 0;
	int64_t now = o->now_ms ? o->now_ms : aim_now_ms();
	struct pg_done d;
	TRY(store_pg_exec(db, "outgoing add",
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
		TRY(store_pg_exec(db, "delivery add",
				  "INSERT OR IGNORE INTO deliveries(outgoing_id, inbox, actor, host,"
				  " personal, created, next_at, updated)"
				  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6);",
				  ARGS(A_INT(oid), A_TEXT(v->inbox), A_TEXT(v->actor),
				       A_TEXT(v->host), A_BOOL(v->personal), A_INT(now)),
				  NULL));
	}
	/* the workers of every process wake at the commit */
	return store_pg_notify(db, "aim_delivery");
}

static int enqueue_fn(struct pgc *db, void *ctx)
{
	return store_pg_enqueue_tx(db, ctx);
}

int store_pg_delivery_enqueue(struct store *st, const struct store_outgoing *o)
{
	return store_pg_write_tx(st, enqueue_fn, (void *)o);
}

#define DLV_COLS                                                                           \
	"d.id, d.outgoing_id, o.activity_id, d.inbox, d.actor, d.host, d.personal, o.signer," \
	" d.state, d.attempts, d.created, d.next_at, d.updated, d.last_status, d.last_error"
#define DLV_FROM " FROM deliveries d JOIN outgoing o ON o.id = d.outgoing_id"

static void dlv_fill(struct pg_row *q, struct store_delivery *d)
{
	memset(d, 0, sizeof *d);
	d->id = pg_col_int(q, 0);
	d->outgoing = pg_col_int(q, 1);
	d->activity_id = pg_col_str(q, 2);
	d->inbox = pg_col_str_null(q, 3);
	d->actor = pg_col_str_null(q, 4);
	d->host = pg_col_str(q, 5);
	d->personal = pg_col_int(q, 6) != 0;
	d->signer = pg_col_int(q, 7);
	d->state = pg_col_int(q, 8);
	d->attempts = pg_col_int(q, 9);
	d->created_ms = pg_col_int(q, 10);
	d->next_ms = pg_col_int(q, 11);
	d->updated_ms = pg_col_int(q, 12);
	d->last_status = pg_col_int(q, 13);
	d->last_error = pg_col_str_null(q, 14);
}

/* A delivery row with its body (column 15). */
static int dlv_body_row(void *ctx, struct pg_row *q)
{
	struct store_delivery *d = ctx;
	dlv_fill(q, d);
	d->body = pg_col_str(q, 15);
	return 0;
}

/*
 * The claim: the pending row due first that
 *   - no live lease holds (lease_until <= now; an ended lease is taken over),
 *   - waits for no older pending row of its signer to its recipient, leased
 *     or not (per recipient, in order: an Undo never overtakes its Follow),
 *   - is on a host whose circuit is not open, with fewer live leases than
 *     its limit: per_host (?2), or 1 once it failed probe_after (?3) times
 *     in a row (half-open: one probe),
 *   - is not locked by another claim in progress (FOR UPDATE SKIP LOCKED:
 *     claims in several processes take different rows, none waits).
 * The host's live leases are then counted again under the host's advisory
 * lock, held until the claim commits, so claims racing for one host count
 * each other's leases: per_host holds across processes. ?4 is a host to
 * leave out (one that a race just filled).
 */
static const char CLAIM_SQL[] =
	"SELECT d.id, d.host FROM deliveries d JOIN outgoing o ON o.id = d.outgoing_id"
	" LEFT JOIN delivery_hosts h ON h.host = d.host"
	" WHERE d.state = 0 AND d.next_at <= ?1 AND d.lease_until <= ?1 AND d.host <> ?4"
	" AND COALESCE(h.open_until, 0) <= ?1"
	" AND NOT EXISTS (SELECT 1 FROM deliveries e"
	" JOIN outgoing eo ON eo.id = e.outgoing_id"
	" WHERE e.state = 0 AND e.id < d.id AND eo.signer = o.signer"
	" AND (e.inbox = d.inbox OR e.actor = d.actor))"
	" AND (SELECT COUNT(*) FROM deliveries l WHERE l.host = d.host AND l.state = 0"
	" AND l.lease_until > ?1)"
	" < (CASE WHEN COALESCE(h.failures, 0) >= ?3 THEN 1 ELSE ?2 END)"
	" ORDER BY d.next_at, d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED;";

/* Under the host's lock: whether it may take one more lease now. */
static const char HOST_ROOM_SQL[] =
	"SELECT COALESCE((SELECT open_until FROM delivery_hosts WHERE host = ?1), 0) <= ?2"
	" AND (SELECT COUNT(*) FROM deliveries l WHERE l.host = ?1 AND l.state = 0"
	" AND l.lease_until > ?2)"
	" < (CASE WHEN COALESCE((SELECT failures FROM delivery_hosts WHERE host = ?1), 0) >= ?4"
	" THEN 1 ELSE ?3 END);";

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

struct cand {
	int64_t id;
	char *host;
};

static int cand_row(void *ctx, struct pg_row *q)
{
	struct cand *c = ctx;
	c->id = pg_col_int(q, 0);
	c->host = pg_col_str(q, 1);
	return 0;
}

static int claim_fn(struct pgc *db, void *ctx)
{
	struct claim_ctx *x = ctx;
	const struct store_claim *c = x->c;
	int64_t probe = c->probe_after ? (int64_t)c->probe_after : INT64_MAX;
	char *skip = aim_xstrdup("");
	int rc = 0;
	x->found = false;
	for (int attempt = 0; attempt < 3 && rc == 0 && !x->found; attempt++) {
		struct cand k = { 0 };
		bool found = false;
		rc = store_pg_row(db, "delivery claim", CLAIM_SQL,
				  ARGS(A_INT(c->now_ms), A_INT(c->per_host), A_INT(probe),
				       A_TEXT(skip)),
				  cand_row, &k, &found);
		if (rc != 0 || !found) {
			free(k.host);
			break;
		}
		int64_t room = 0;
		rc = store_pg_exec(db, "delivery claim",
				   "SELECT pg_advisory_xact_lock(hashtext('aim-host:' || ?1));",
				   ARGS(A_TEXT(k.host)), NULL);
		if (rc == 0)
			rc = store_pg_int(db, "delivery claim", HOST_ROOM_SQL,
					  ARGS(A_TEXT(k.host), A_INT(c->now_ms), A_INT(c->per_host),
					       A_INT(probe)),
					  &room, NULL);
		if (rc == 0 && !room) {
			/* another process filled the host meanwhile */
			free(skip);
			skip = k.host;
			continue;
		}
		free(k.host);
		if (rc != 0)
			break;
		struct store_lease *l = x->lease;
		memset(l, 0, sizeof *l);
		rc = new_token(l->token);
		if (rc != 0)
			break;
		l->id = k.id;
		l->until_ms = c->now_ms + c->lease_ms;
		struct pg_done d = { 0 };
		rc = store_pg_exec(db, "delivery claim",
				   "UPDATE deliveries SET lease = ?2, lease_until = ?3 WHERE id = ?1"
				   " AND state = 0 AND lease_until <= ?4;",
				   ARGS(A_INT(k.id), A_TEXT(l->token), A_INT(l->until_ms),
					A_INT(c->now_ms)),
				   &d);
		if (rc == 0 && d.changes == 1) {
			x->found = true;
			rc = store_pg_row(db, "delivery claim",
					  "SELECT " DLV_COLS ", o.body" DLV_FROM " WHERE d.id = ?1;",
					  ARGS(A_INT(k.id)), dlv_body_row, x->out, NULL);
		}
	}
	free(skip);
	return rc;
}

int store_pg_delivery_claim(struct store *st, const struct store_claim *c,
			    struct store_delivery *out, struct store_lease *lease)
{
	struct claim_ctx x = { c, out, lease, false };
	memset(out, 0, sizeof *out);
	/* race-free on its own (SKIP LOCKED, the host's lock): claims of
	 * several processes run in parallel */
	if (store_pg_write_tx_free(st, claim_fn, &x) != 0) {
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

/* The single claim again and again in one transaction: each sees the
 * leases taken before it (this transaction's own), and holds the host locks
 * it took until the commit, so the per-host limit holds inside a batch and
 * across the processes' batches. */
static int claim_batch_fn(struct pgc *db, void *ctx)
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

int store_pg_delivery_claim_batch(struct store *st, const struct store_claim *c, size_t max,
				  struct store_delivery *out, struct store_lease *leases,
				  size_t *n)
{
	struct claim_batch_ctx b = { c, max, 0, out, leases };
	*n = 0;
	if (store_pg_write_tx_free(st, claim_batch_fn, &b) != 0) {
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
static int lease_failure(struct pgc *db, const struct store_lease *l)
{
	int64_t state = 0;
	bool found = false;
	TRY(store_pg_int(db, "delivery lease", "SELECT state FROM deliveries WHERE id = ?1;",
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
	struct pg_args a;
};

static int lease_op_fn(struct pgc *db, void *ctx)
{
	struct lease_op *op = ctx;
	struct pg_done d;
	TRY(store_pg_exec(db, op->what, op->sql, op->a, &d));
	if (d.changes == 0)
		return lease_failure(db, op->lease);
	return 0;
}

#define LEASED " WHERE id = ?1 AND lease = ?2 AND state = 0;"

int store_pg_delivery_renew(struct store *st, struct store_lease *lease, int64_t until_ms)
{
	struct lease_op op = { lease, "delivery renew",
			       "UPDATE deliveries SET lease_until = ?3" LEASED,
			       ARGS(A_INT(lease->id), A_TEXT(lease->token), A_INT(until_ms)) };
	TRY(store_pg_write_tx_free(st, lease_op_fn, &op));
	lease->until_ms = until_ms;
	return 0;
}

int store_pg_delivery_release(struct store *st, const struct store_lease *lease)
{
	struct lease_op op = { lease, "delivery release",
			       "UPDATE deliveries SET lease = NULL, lease_until = 0" LEASED,
			       ARGS(A_INT(lease->id), A_TEXT(lease->token)) };
	return store_pg_write_tx_free(st, lease_op_fn, &op);
}

int store_pg_delivery_earliest(struct store *st, int64_t *next_ms)
{
	int64_t n = 0, v = 0;
	TRY(store_pg_read_int(st, "count", "SELECT COUNT(*) FROM deliveries WHERE state = 0;",
			      NOARGS, &n, NULL));
	if (n == 0)
		return aim_fail(AIM_ERR_NOTFOUND, "no pending delivery");
	TRY(store_pg_read_int(st, "count",
			      "SELECT MIN(GREATEST(next_at, lease_until)) FROM deliveries WHERE state = 0;",
			      NOARGS, &v, NULL));
	*next_ms = v;
	return 0;
}

int store_pg_delivery_finish(struct store *st, const struct store_lease *lease,
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
	return store_pg_write_tx_free(st, lease_op_fn, &op);
}

struct resolve_ctx {
	const struct store_lease *lease;
	const char *inbox, *host;
	bool merged;
};

static int resolve_fn(struct pgc *db, void *ctx)
{
	struct resolve_ctx *r = ctx;
	const struct store_lease *l = r->lease;
	int64_t dup = 0;
	TRY(store_pg_int(db, "delivery resolve",
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

int store_pg_delivery_resolve(struct store *st, const struct store_lease *lease,
			      const char *inbox, const char *host, bool *merged)
{
	struct resolve_ctx r = { lease, inbox, host, false };
	int rc = store_pg_write_tx(st, resolve_fn, &r);
	if (rc == 0 && merged)
		*merged = r.merged;
	return rc;
}

struct defer_ctx {
	const char *host;
	int64_t until;
};

static int defer_fn(struct pgc *db, void *ctx)
{
	struct defer_ctx *d = ctx;
	TRY(store_pg_exec(db, "delivery defer",
			  "UPDATE deliveries SET next_at = ?2 WHERE host = ?1 AND state = 0"
			  " AND next_at < ?2;",
			  ARGS(A_TEXT(d->host), A_INT(d->until)), NULL));
	return store_pg_exec(db, "delivery defer",
			     "INSERT INTO delivery_hosts(host, scheme, updated, open_until)"
			     " VALUES (?1, 0, ?3, ?2)"
			     " ON CONFLICT(host) DO UPDATE SET open_until = GREATEST(delivery_hosts.open_until, ?2);",
			     ARGS(A_TEXT(d->host), A_INT(d->until), A_INT(aim_now_ms())), NULL);
}

int store_pg_delivery_defer_host(struct store *st, const char *host, int64_t until_ms)
{
	struct defer_ctx d = { host, until_ms };
	return store_pg_write_tx(st, defer_fn, &d);
}

/* One conditional UPDATE: a row another process holds a live lease on (or
 * is claiming: the row lock, then the lease re-read) is left alone. */
int store_pg_delivery_expire_overdue(struct store *st, int64_t created_before_ms, int64_t now_ms,
				     size_t *n)
{
	struct pg_done done = { 0 };
	int rc = store_pg_write(st, "expire overdue",
				"UPDATE deliveries SET state = 3, updated = ?2,"
				" last_error = 'expired: the retry period ended', lease = NULL,"
				" lease_until = 0"
				" WHERE state = 0 AND created < ?1 AND (lease IS NULL OR lease_until < ?2);",
				ARGS(A_INT(created_before_ms), A_INT(now_ms)), &done);
	*n = rc == 0 ? (size_t)done.changes : 0;
	return rc;
}

int store_pg_host_failure(struct store *st, const char *host, bool failed, int64_t now_ms,
			  unsigned *failures)
{
	if (!failed) {
		*failures = 0;
		return store_pg_write(st, "host failures",
				      "UPDATE delivery_hosts SET failures = 0, open_until = 0"
				      " WHERE host = ?1 AND (failures <> 0 OR open_until <> 0);",
				      ARGS(A_TEXT(host)), NULL);
	}
	int64_t n = 0;
	int rc = store_pg_write_int(st, "host failures",
			      "INSERT INTO delivery_hosts(host, scheme, updated, failures)"
			      " VALUES (?1, 0, ?2, 1)"
			      " ON CONFLICT(host) DO UPDATE SET failures = delivery_hosts.failures + 1"
			      " RETURNING failures;",
			      ARGS(A_TEXT(host), A_INT(now_ms)), &n, NULL);
	TRY(rc);
	*failures = (unsigned)n;
	return 0;
}

struct list_ctx {
	store_delivery_fn fn;
	void *ctx;
};

static int list_row(void *ctx, struct pg_row *q)
{
	struct list_ctx *l = ctx;
	struct store_delivery d;
	dlv_fill(q, &d);
	int rc = l->fn(l->ctx, &d);
	store_delivery_clear(&d);
	return rc;
}

int store_pg_delivery_list(struct store *st, store_delivery_fn fn, void *ctx)
{
	struct list_ctx l = { fn, ctx };
	return store_pg_read_rows(st, "delivery list", "SELECT " DLV_COLS DLV_FROM " ORDER BY d.id;",
				  NOARGS, list_row, &l);
}

/* ---- Signature scheme per host -------------------------------------------- */

int store_pg_host_scheme_get(struct store *st, const char *host, int *scheme)
{
	int64_t v = 0;
	bool found = false;
	TRY(store_pg_read_int(st, "host scheme", "SELECT scheme FROM delivery_hosts WHERE host = ?1;",
			      ARGS(A_TEXT(host)), &v, &found));
	*scheme = found ? (int)v : 0;
	return 0;
}

int store_pg_host_scheme_set(struct store *st, const char *host, int scheme)
{
	return store_pg_write(st, "host scheme set",
			      "INSERT INTO delivery_hosts(host, scheme, updated) VALUES (?1, ?2, ?3)"
			      " ON CONFLICT(host) DO UPDATE SET scheme = excluded.scheme,"
			      " updated = excluded.updated;",
			      ARGS(A_TEXT(host), A_INT(scheme), A_INT(aim_now_ms())), NULL);
}
