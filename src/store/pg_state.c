/*
 * The PostgreSQL back end: versioned state under (kind, key) and its
 * compare-and-set (store.h), a conditional write (store_pg_cas_tx).
 */
#include "store/pg_int.h"

#include <string.h>

struct get_ctx {
	int64_t *version;
	uint8_t **value;
	size_t *len;
};

static int get_row(void *ctx, struct pg_row *q)
{
	struct get_ctx *g = ctx;
	*g->version = pg_col_int(q, 0);
	if (g->value) {
		int n = pg_col_bytes(q, 1);
		const void *p = pg_col_blob(q, 1);
		*g->len = (size_t)n;
		*g->value = NULL;
		if (n > 0) {
			*g->value = aim_xmalloc((size_t)n);
			memcpy(*g->value, p, (size_t)n);
		}
	}
	return 0;
}

int store_pg_state_get(struct store *st, const char *kind, const char *key, int64_t *version,
		       uint8_t **value, size_t *len)
{
	struct get_ctx g = { version, value, len };
	bool found = false;
	TRY(store_pg_read_row(st, "state get",
			      "SELECT version, value FROM versioned WHERE kind = ?1 AND key = ?2;",
			      ARGS(A_TEXT(kind), A_TEXT(key)), get_row, &g, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no state %s %s", kind, key);
	return 0;
}

/* The compare-and-set as one conditional statement, whose row count
 * decides: from version 0 an INSERT that does nothing when the row exists,
 * else an UPDATE of the row still at the expected version. Two racing
 * writers of one version: the second waits for the first's row lock, then
 * finds the version moved (READ COMMITTED re-reads the row) and changes
 * nothing. No table-wide lock: casts of other keys run in parallel. */
int store_pg_cas_tx(struct pgc *db, const char *kind, const char *key, int64_t expected,
		    const uint8_t *value, size_t len)
{
	static const uint8_t none[1];
	const uint8_t *v = len ? value : none;
	struct pg_done d = { 0 };
	if (expected == 0)
		TRY(store_pg_exec(db, "state cas",
				  "INSERT INTO versioned(kind, key, version, value, updated)"
				  " VALUES (?1, ?2, 1, ?3, ?4) ON CONFLICT(kind, key) DO NOTHING;",
				  ARGS(A_TEXT(kind), A_TEXT(key), A_BLOB(v, len), A_INT(aim_now_ms())),
				  &d));
	else
		TRY(store_pg_exec(db, "state cas",
				  "UPDATE versioned SET version = ?3 + 1, value = ?4, updated = ?5"
				  " WHERE kind = ?1 AND key = ?2 AND version = ?3;",
				  ARGS(A_TEXT(kind), A_TEXT(key), A_INT(expected), A_BLOB(v, len),
				       A_INT(aim_now_ms())),
				  &d));
	ENSURE(d.changes == 1, AIM_ERR_CONFLICT, "state %s %s: the version is no longer %lld",
	       kind, key, (long long)expected);
	return 0;
}

int store_pg_state_cas(struct store *st, const char *kind, const char *key, int64_t expected,
		       const uint8_t *value, size_t len, int64_t *version)
{
	struct pgc *db = store_pg_conn(PG(st));
	if (!db)
		return -1;
	/* one statement: its own transaction, durable when it returns */
	int rc = store_pg_cas_tx(db, kind, key, expected, value, len);
	store_pg_conn_put(PG(st), db);
	TRY(rc);
	*version = expected + 1;
	return 0;
}
