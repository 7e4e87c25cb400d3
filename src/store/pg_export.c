/*
 * The PostgreSQL back end, export and import (store.h, "Export and
 * import"), the twin of sqlite_export.c: the same tables, the same columns
 * (PostgreSQL's own `rowid` columns, which stand for SQLite's hidden ones,
 * are left out and made afresh), the same values (bigint as an integer,
 * text as text, bytea as bytes), so a SQLite export imports here and back.
 *
 * Export reads every table in one REPEATABLE READ snapshot. Import runs in
 * one transaction under the writers' lock: the tables emptied (last to
 * first), the rows inserted with their ids (every parameter untyped, so the
 * server reads each value as its column's type, NULLs included), then each
 * generated key's sequence moved past the largest id.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

#define COLS_MAX 32

static const char *const tables[] = { STORE_EXPORT_TABLES };

static bool known_table(const char *t)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(tables); i++)
		if (!strcmp(tables[i], t))
			return true;
	return false;
}

static bool plain_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* ---- Export ---------------------------------------------------------------------------- */

static int export_table(struct pgc *db, const char *table, store_row_fn fn, void *ctx)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT * FROM \"%s\";", table);
	PGresult *res = PQexec(db->c, sql);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		int rc = store_pg_fail(db, res, "export", NULL);
		PQclear(res);
		return rc;
	}
	int nf = PQnfields(res), rc = 0;
	int map[COLS_MAX];
	const char *cols[COLS_MAX];
	size_t n = 0;
	for (int i = 0; i < nf && rc == 0; i++) {
		if (!strcmp(PQfname(res, i), "rowid"))
			continue; /* PostgreSQL's stand-in for SQLite's hidden rowid */
		if (n == COLS_MAX)
			rc = aim_fail(AIM_ERR_INTERNAL, "export %s: %d columns", table, nf);
		else {
			map[n] = i;
			cols[n++] = PQfname(res, i);
		}
	}
	struct pg_row q = { .r = res };
	for (int row = 0; row < PQntuples(res) && rc == 0; row++) {
		q.row = row;
		struct store_value v[COLS_MAX];
		memset(v, 0, sizeof v);
		for (size_t k = 0; k < n && rc == 0; k++) {
			int i = map[k];
			if (PQgetisnull(res, row, i)) {
				v[k].type = STORE_V_NULL;
				continue;
			}
			switch (PQftype(res, i)) {
			case 20: /* int8 */
			case 23: /* int4 */
			case 21: /* int2 */
				v[k].type = STORE_V_INT;
				v[k].i = pg_col_int(&q, i);
				break;
			case 17: /* bytea */
				v[k].type = STORE_V_BLOB;
				v[k].p = pg_col_blob(&q, i);
				v[k].n = (size_t)pg_col_bytes(&q, i);
				if (!v[k].p)
					v[k].p = (const uint8_t *)"";
				break;
			case 25: /* text */
			case 1043: /* varchar */
				v[k].type = STORE_V_TEXT;
				v[k].p = (const uint8_t *)PQgetvalue(res, row, i);
				v[k].n = (size_t)PQgetlength(res, row, i);
				break;
			default:
				rc = aim_fail(AIM_ERR_UNSUPPORTED, "export %s.%s: a value of type %u",
					      table, cols[k], (unsigned)PQftype(res, i));
			}
		}
		if (rc == 0) {
			struct store_row r = { table, n, cols, v };
			rc = fn(ctx, &r);
		}
		for (int i = 0; i < PG_ROW_COLS; i++) {
			if (q.decoded[i])
				free(q.blob[i]);
			q.blob[i] = NULL;
			q.decoded[i] = false;
		}
	}
	PQclear(res);
	return rc;
}

int store_pg_export_rows(struct store *st, store_row_fn fn, void *ctx)
{
	struct pgc *db = store_pg_conn(PG(st));
	if (!db)
		return -1;
	int rc = store_pg_script(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
				 "export begin");
	for (size_t t = 0; rc == 0 && t < AIM_ARRAY_LEN(tables); t++)
		rc = export_table(db, tables[t], fn, ctx);
	if (!db->broken)
		PQclear(PQexec(db->c, "COMMIT;"));
	store_pg_conn_put(PG(st), db);
	return rc;
}

/* ---- Import ---------------------------------------------------------------------------- */

struct imp {
	store_row_next_fn next;
	void *ctx;
};

static int insert_row(struct pgc *db, const struct store_row *r)
{
	ENSURE(r->table && known_table(r->table), AIM_ERR_INVALID, "import: unknown table %s",
	       r->table ? r->table : "(none)");
	ENSURE(r->n > 0 && r->n <= COLS_MAX, AIM_ERR_INVALID, "import %s: %zu columns", r->table,
	       r->n);
	char sql[2048];
	size_t o = (size_t)snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(", r->table);
	for (size_t i = 0; i < r->n; i++) {
		ENSURE(plain_name(r->cols[i]), AIM_ERR_INVALID, "import %s: bad column name",
		       r->table);
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s\"%s\"", i ? ", " : "", r->cols[i]);
	}
	o += (size_t)snprintf(sql + o, sizeof sql - o, ") OVERRIDING SYSTEM VALUE VALUES (");
	for (size_t i = 0; i < r->n; i++)
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s$%zu", i ? ", " : "", i + 1);
	o += (size_t)snprintf(sql + o, sizeof sql - o, ")");
	ENSURE(o < sizeof sql, AIM_ERR_INVALID, "import %s: too many columns", r->table);
	const char *values[COLS_MAX];
	int lengths[COLS_MAX], formats[COLS_MAX];
	char *owned[COLS_MAX] = { 0 };
	int rc = 0;
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const struct store_value *v = &r->v[i];
		lengths[i] = 0;
		formats[i] = 0;
		values[i] = NULL;
		if (v->n > (size_t)STORE_STATE_VALUE_MAX * 2) {
			rc = aim_fail(AIM_ERR_LIMIT, "import %s.%s: a value of %zu bytes", r->table,
				      r->cols[i], v->n);
			break;
		}
		switch (v->type) {
		case STORE_V_INT:
			owned[i] = aim_xasprintf("%lld", (long long)v->i);
			values[i] = owned[i];
			break;
		case STORE_V_TEXT:
			owned[i] = aim_xmalloc(v->n + 1);
			if (v->n)
				memcpy(owned[i], v->p, v->n);
			owned[i][v->n] = 0;
			values[i] = owned[i];
			break;
		case STORE_V_BLOB:
			values[i] = v->n ? (const char *)v->p : "";
			lengths[i] = (int)v->n;
			formats[i] = 1;
			break;
		case STORE_V_NULL:
			break;
		default:
			rc = aim_fail(AIM_ERR_INVALID, "import %s: a value of no type", r->table);
		}
	}
	if (rc == 0) {
		PGresult *res = PQexecParams(db->c, sql, (int)r->n, NULL, values, lengths, formats, 0);
		if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
			char what[96];
			snprintf(what, sizeof what, "import a row of %s", r->table);
			rc = store_pg_fail(db, res, what, NULL);
		}
		PQclear(res);
	}
	for (size_t i = 0; i < r->n; i++)
		free(owned[i]);
	return rc;
}

static int import_tx(struct pgc *db, void *ctx)
{
	struct imp *im = ctx;
	int64_t n = 0;
	TRY(store_pg_int(db, "import check",
			 "SELECT (SELECT COUNT(*) FROM meta WHERE key = 'domain')"
			 " + (SELECT COUNT(*) FROM users WHERE name <> '" STORE_REMOTE_NAME "');",
			 NOARGS, &n, NULL));
	ENSURE(n == 0, AIM_ERR_EXISTS, "the store holds a domain already: import goes into a "
	       "fresh one");
	for (size_t t = AIM_ARRAY_LEN(tables); t-- > 0;) {
		char sql[128];
		snprintf(sql, sizeof sql, "DELETE FROM \"%s\";", tables[t]);
		TRY(store_pg_script(db, sql, "import clear"));
	}
	for (;;) {
		struct store_row r;
		memset(&r, 0, sizeof r);
		int got = im->next(im->ctx, &r);
		if (got < 0)
			return -1;
		if (got > 0)
			break;
		TRY(insert_row(db, &r));
	}
	/* the generated keys go on after the largest id imported */
	static const char *const keys[][2] = {
		{ "users", "id" },     { "activities", "seq" }, { "inbox", "seq" },
		{ "outgoing", "id" },  { "deliveries", "id" },  { "followers", "seq" },
		{ "ca_certs", "id" },  { "keypackages", "id" },
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(keys); i++) {
		char sql[256];
		snprintf(sql, sizeof sql,
			 "SELECT setval(pg_get_serial_sequence('%s', '%s'),"
			 " COALESCE((SELECT MAX(%s) FROM \"%s\"), 0) + 1, false);",
			 keys[i][0], keys[i][1], keys[i][1], keys[i][0]);
		TRY(store_pg_script(db, sql, "import sequences"));
	}
	return 0;
}

int store_pg_import_rows(struct store *st, store_row_next_fn next, void *ctx)
{
	struct imp im = { next, ctx };
	return store_pg_write_tx(st, import_tx, &im);
}
