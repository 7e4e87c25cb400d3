/*
 * The SQLite back end: versioned state under (kind, key) and its
 * compare-and-set (store.h). The cas reads the version and writes in one
 * write transaction: SQLite's write lock leaves nobody in between, in this
 * process or another.
 */
#include "store/sqlite_int.h"

#include <string.h>

struct get_ctx {
	int64_t *version;
	uint8_t **value;
	size_t *len;
};

static int get_row(void *ctx, sqlite3_stmt *q)
{
	struct get_ctx *g = ctx;
	*g->version = sqlite3_column_int64(q, 0);
	if (g->value) {
		int n = sqlite3_column_bytes(q, 1);
		const void *p = sqlite3_column_blob(q, 1);
		*g->len = (size_t)n;
		*g->value = NULL;
		if (n > 0) {
			*g->value = aim_xmalloc((size_t)n);
			memcpy(*g->value, p, (size_t)n);
		}
	}
	return 0;
}

int store_sq_state_get(struct store *st, const char *kind, const char *key, int64_t *version,
		       uint8_t **value, size_t *len)
{
	struct get_ctx g = { version, value, len };
	bool found = false;
	TRY(store_sq_read_row(st, "state get",
			      "SELECT version, value FROM versioned WHERE kind = ?1 AND key = ?2;",
			      ARGS(A_TEXT(kind), A_TEXT(key)), get_row, &g, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no state %s %s", kind, key);
	return 0;
}

struct cas_ctx {
	const char *kind, *key;
	int64_t expected;
	const uint8_t *value;
	size_t len;
};

static int cas_fn(sqlite3 *db, void *ctx)
{
	struct cas_ctx *c = ctx;
	int64_t cur = 0;
	bool found = false;
	TRY(store_sq_int(db, "state cas",
			 "SELECT version FROM versioned WHERE kind = ?1 AND key = ?2;",
			 ARGS(A_TEXT(c->kind), A_TEXT(c->key)), &cur, &found));
	if (!found)
		cur = 0;
	ENSURE(cur == c->expected, AIM_ERR_CONFLICT,
	       "state %s %s: version %lld, not %lld as expected", c->kind, c->key, (long long)cur,
	       (long long)c->expected);
	/* An empty value is an empty blob, not NULL. */
	static const uint8_t none[1];
	const uint8_t *v = c->len ? c->value : none;
	return store_sq_exec(db, "state cas",
			     "INSERT INTO versioned(kind, key, version, value, updated)"
			     " VALUES (?1, ?2, ?3, ?4, ?5)"
			     " ON CONFLICT(kind, key) DO UPDATE SET version = excluded.version,"
			     " value = excluded.value, updated = excluded.updated;",
			     ARGS(A_TEXT(c->kind), A_TEXT(c->key), A_INT(c->expected + 1),
				  A_BLOB(v, c->len), A_INT(aim_now_ms())),
			     NULL);
}

int store_sq_state_cas(struct store *st, const char *kind, const char *key, int64_t expected,
		       const uint8_t *value, size_t len, int64_t *version)
{
	struct cas_ctx c = { kind, key, expected, value, len };
	TRY(store_sq_write_tx(st, cas_fn, &c));
	*version = expected + 1;
	return 0;
}
