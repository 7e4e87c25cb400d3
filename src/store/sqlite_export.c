/*
 * The SQLite back end, export and import (store.h, "Export and import"):
 * every row of STORE_EXPORT_TABLES out, from one read transaction; rows in,
 * replacing the store's, in one write transaction.
 *
 * Values keep SQLite's storage class: INTEGER as an integer, TEXT as text,
 * BLOB as bytes (an empty BLOB stays an empty BLOB, never NULL), NULL as
 * NULL. The schema has no REAL column; one found is refused rather than
 * rounded. Imported rows keep their ids (AUTOINCREMENT counters follow the
 * largest id inserted), so every reference between rows survives; foreign
 * keys are checked at the commit (defer_foreign_keys), so a row refused
 * there fails the import as a whole.
 */
#include "store/sqlite_int.h"

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

/* A column name as the schema writes them: [a-z0-9_], 1..63 bytes. */
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

struct exp {
	const char *table;
	store_row_fn fn;
	void *ctx;
};

static int export_row(void *ctx, sqlite3_stmt *q)
{
	struct exp *e = ctx;
	int n = sqlite3_column_count(q);
	ENSURE(n > 0 && n <= COLS_MAX, AIM_ERR_INTERNAL, "export %s: %d columns", e->table, n);
	const char *cols[COLS_MAX];
	struct store_value v[COLS_MAX];
	memset(v, 0, sizeof v);
	for (int i = 0; i < n; i++) {
		cols[i] = sqlite3_column_name(q, i);
		switch (sqlite3_column_type(q, i)) {
		case SQLITE_INTEGER:
			v[i].type = STORE_V_INT;
			v[i].i = sqlite3_column_int64(q, i);
			break;
		case SQLITE_TEXT:
			v[i].type = STORE_V_TEXT;
			v[i].p = sqlite3_column_text(q, i);
			v[i].n = (size_t)sqlite3_column_bytes(q, i);
			break;
		case SQLITE_BLOB:
			v[i].type = STORE_V_BLOB;
			v[i].p = sqlite3_column_blob(q, i);
			v[i].n = (size_t)sqlite3_column_bytes(q, i);
			if (!v[i].p)
				v[i].p = (const uint8_t *)"";
			break;
		case SQLITE_NULL:
			v[i].type = STORE_V_NULL;
			break;
		default:
			return aim_fail(AIM_ERR_UNSUPPORTED, "export %s.%s: a REAL value", e->table,
					cols[i]);
		}
	}
	struct store_row r = { e->table, (size_t)n, cols, v };
	return e->fn(e->ctx, &r);
}

static int export_all(sqlite3 *db, store_row_fn fn, void *ctx)
{
	for (size_t t = 0; t < AIM_ARRAY_LEN(tables); t++) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT * FROM \"%s\";", tables[t]);
		struct exp e = { tables[t], fn, ctx };
		TRY(store_sq_rows(db, "export", sql, NOARGS, export_row, &e));
	}
	return 0;
}

int store_sq_export_rows(struct store *st, store_row_fn fn, void *ctx)
{
	sqlite3 *db = store_sq_reader(SQ(st));
	if (!db)
		return -1;
	/* One read transaction: one snapshot of every table. */
	int rc = store_sq_script(db, "BEGIN;", "export begin");
	if (rc == 0) {
		rc = export_all(db, fn, ctx);
		sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL);
	}
	store_sq_reader_put(SQ(st), db);
	return rc;
}

/* ---- Import ---------------------------------------------------------------------------- */

struct imp {
	store_row_next_fn next;
	void *ctx;
	sqlite3_stmt *q;             /* the INSERT of the current (table, columns) */
	char sql[2048];
	size_t rows;
};

/* The INSERT for r's table and columns (the one prepared when they did not change). */
static int insert_for(sqlite3 *db, struct imp *im, const struct store_row *r)
{
	ENSURE(r->table && known_table(r->table), AIM_ERR_INVALID, "import: unknown table %s",
	       r->table ? r->table : "(none)");
	ENSURE(r->n > 0 && r->n <= COLS_MAX, AIM_ERR_INVALID, "import %s: %zu columns", r->table,
	       r->n);
	char sql[sizeof im->sql];
	size_t o = (size_t)snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(", r->table);
	for (size_t i = 0; i < r->n; i++) {
		ENSURE(plain_name(r->cols[i]), AIM_ERR_INVALID, "import %s: bad column name",
		       r->table);
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s\"%s\"", i ? ", " : "", r->cols[i]);
	}
	o += (size_t)snprintf(sql + o, sizeof sql - o, ") VALUES (");
	for (size_t i = 0; i < r->n; i++)
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s?%zu", i ? ", " : "", i + 1);
	o += (size_t)snprintf(sql + o, sizeof sql - o, ");");
	ENSURE(o < sizeof sql, AIM_ERR_INVALID, "import %s: too many columns", r->table);
	if (im->q && !strcmp(sql, im->sql))
		return 0;
	sqlite3_finalize(im->q);
	im->q = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &im->q, NULL);
	if (rc != SQLITE_OK)
		return store_sq_fail(db, rc, "import prepare");
	memcpy(im->sql, sql, o + 1);
	return 0;
}

static int insert_row(sqlite3 *db, struct imp *im, const struct store_row *r)
{
	TRY(insert_for(db, im, r));
	sqlite3_stmt *q = im->q;
	int rc = SQLITE_OK;
	for (size_t i = 0; i < r->n && rc == SQLITE_OK; i++) {
		const struct store_value *v = &r->v[i];
		int p = (int)i + 1;
		ENSURE(v->n <= (size_t)STORE_STATE_VALUE_MAX * 2, AIM_ERR_LIMIT,
		       "import %s.%s: a value of %zu bytes", r->table, r->cols[i], v->n);
		switch (v->type) {
		case STORE_V_INT:
			rc = sqlite3_bind_int64(q, p, v->i);
			break;
		case STORE_V_TEXT:
			rc = sqlite3_bind_text(q, p, v->p ? (const char *)v->p : "", (int)v->n,
					       SQLITE_TRANSIENT);
			break;
		case STORE_V_BLOB:
			rc = v->n ? sqlite3_bind_blob(q, p, v->p, (int)v->n, SQLITE_TRANSIENT)
				  : sqlite3_bind_zeroblob(q, p, 0);
			break;
		case STORE_V_NULL:
			rc = sqlite3_bind_null(q, p);
			break;
		default:
			return aim_fail(AIM_ERR_INVALID, "import %s: a value of no type", r->table);
		}
	}
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(q);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_OK) {
		char what[96];
		snprintf(what, sizeof what, "import a row of %s", r->table);
		return store_sq_fail(db, rc, what);
	}
	im->rows++;
	return 0;
}

static int import_body(sqlite3 *db, struct imp *im)
{
	/* Only into a store that holds no domain yet. */
	int64_t n = 0;
	TRY(store_sq_int(db, "import check",
			 "SELECT (SELECT COUNT(*) FROM meta WHERE key = 'domain')"
			 " + (SELECT COUNT(*) FROM users WHERE name <> '" STORE_REMOTE_NAME "');",
			 NOARGS, &n, NULL));
	ENSURE(n == 0, AIM_ERR_EXISTS, "the store holds a domain already: import goes into a "
	       "fresh one");
	TRY(store_sq_script(db, "PRAGMA defer_foreign_keys = ON;", "import"));
	/* What the migrations put there (the reserved remote row) comes back
	 * with the imported rows, under the same ids. */
	for (size_t t = AIM_ARRAY_LEN(tables); t-- > 0;) {
		char sql[128];
		snprintf(sql, sizeof sql, "DELETE FROM \"%s\";", tables[t]);
		TRY(store_sq_script(db, sql, "import clear"));
	}
	for (;;) {
		struct store_row r;
		memset(&r, 0, sizeof r);
		int got = im->next(im->ctx, &r);
		if (got < 0)
			return -1;
		if (got > 0)
			break;
		TRY(insert_row(db, im, &r));
	}
	/* A lease names a holder of the exporting store: none here. */
	return store_sq_script(db, "UPDATE deliveries SET lease = NULL, lease_until = 0;",
			       "import leases");
}

/* Under the writer's lock: the INSERT is finalized before it is let go. */
static int import_tx(sqlite3 *db, void *ctx)
{
	struct imp *im = ctx;
	int rc = import_body(db, im);
	sqlite3_finalize(im->q);
	im->q = NULL;
	return rc;
}

int store_sq_import_rows(struct store *st, store_row_next_fn next, void *ctx)
{
	struct imp im = { .next = next, .ctx = ctx };
	return store_sq_write_tx(st, import_tx, &im);
}
