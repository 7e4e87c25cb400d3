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

int store_sq_delivery_next(struct store *st, int64_t now_ms, const int64_t *skip_ids,
			   size_t n_skip, const char *const *skip_hosts, size_t n_hosts,
			   struct store_delivery *out)
{
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
	struct sq_arg *a = aim_xcalloc(1 + n_skip + n_hosts, sizeof *a);
	size_t n = 0;
	a[n++] = A_INT(now_ms);
	for (size_t i = 0; i < n_skip; i++)
		a[n++] = A_INT(skip_ids[i]);
	for (size_t i = 0; i < n_hosts; i++)
		a[n++] = A_TEXT(skip_hosts[i]);
	bool found = false;
	rc = store_sq_read_row(st, "delivery next", (const char *)sql.data,
			       (struct sq_args){ a, n }, dlv_body_row, out, &found);
	free(a);
	aim_buf_free(&sql);
	TRY(rc);
	ENSURE(found, AIM_ERR_NOTFOUND, "no delivery due");
	return 0;
}

int store_sq_delivery_earliest(struct store *st, int64_t *next_ms)
{
	int64_t n = 0, v = 0;
	TRY(store_sq_read_int(st, "count", "SELECT COUNT(*) FROM deliveries WHERE state = 0;",
			      NOARGS, &n, NULL));
	if (n == 0)
		return aim_fail(AIM_ERR_NOTFOUND, "no pending delivery");
	TRY(store_sq_read_int(st, "count", "SELECT MIN(next_at) FROM deliveries WHERE state = 0;",
			      NOARGS, &v, NULL));
	*next_ms = v;
	return 0;
}

int store_sq_delivery_finish(struct store *st, int64_t id, const struct store_delivery_update *u)
{
	struct sq_done d;
	TRY(store_sq_write(st, "delivery finish",
			   "UPDATE deliveries SET state = ?2, attempts = ?3, next_at = ?4,"
			   " last_status = ?5, last_error = ?6, updated = ?7"
			   " WHERE id = ?1 AND state = 0;",
			   ARGS(A_INT(id), A_INT(u->state), A_INT(u->attempts), A_INT(u->next_ms),
				A_INT(u->last_status), A_TEXT(u->last_error), A_INT(aim_now_ms())),
			   &d));
	ENSURE(d.changes == 1, AIM_ERR_STATE, "delivery %lld is not pending", (long long)id);
	return 0;
}

struct resolve_ctx {
	int64_t id;
	const char *inbox, *host;
	bool merged;
};

static int resolve_fn(sqlite3 *db, void *ctx)
{
	struct resolve_ctx *r = ctx;
	int64_t dup = 0;
	TRY(store_sq_int(db, "delivery resolve",
			 "SELECT EXISTS (SELECT 1 FROM deliveries o JOIN deliveries d"
			 " ON d.outgoing_id = o.outgoing_id WHERE d.id = ?1 AND o.inbox = ?2);",
			 ARGS(A_INT(r->id), A_TEXT(r->inbox)), &dup, NULL));
	if (dup) {
		TRY(store_sq_exec(db, "delivery merge",
				  "DELETE FROM deliveries WHERE id = ?1 AND state = 0;",
				  ARGS(A_INT(r->id)), NULL));
		r->merged = true;
		return 0;
	}
	struct sq_done d;
	TRY(store_sq_exec(db, "delivery resolve",
			  "UPDATE deliveries SET inbox = ?2, host = ?3, updated = ?4"
			  " WHERE id = ?1 AND state = 0;",
			  ARGS(A_INT(r->id), A_TEXT(r->inbox), A_TEXT(r->host), A_INT(aim_now_ms())),
			  &d));
	ENSURE(d.changes == 1, AIM_ERR_STATE, "delivery %lld is not pending", (long long)r->id);
	return 0;
}

int store_sq_delivery_resolve(struct store *st, int64_t id, const char *inbox, const char *host,
			      bool *merged)
{
	struct resolve_ctx r = { id, inbox, host, false };
	int rc = store_sq_write_tx(st, resolve_fn, &r);
	if (rc == 0 && merged)
		*merged = r.merged;
	return rc;
}

int store_sq_delivery_defer_host(struct store *st, const char *host, int64_t until_ms)
{
	return store_sq_write(st, "delivery defer",
			      "UPDATE deliveries SET next_at = ?2 WHERE host = ?1 AND state = 0"
			      " AND next_at < ?2;",
			      ARGS(A_TEXT(host), A_INT(until_ms)), NULL);
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
