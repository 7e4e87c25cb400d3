/*
 * The two back ends' schemas are the same (issue 15): the migrations of
 * sqlite_schema.c, translated for PostgreSQL by pg_schema.c, give the same
 * tables with the same columns in the same order and the same types
 * (INTEGER = bigint, TEXT = text, BLOB = bytea), read from SQLite's
 * PRAGMA table_info and PostgreSQL's information_schema. The one allowed
 * difference: PostgreSQL's `rowid` columns, which stand for SQLite's
 * hidden rowid where the statements order by it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store_fixture.h"

#define LINES_MAX 512

struct lines {
	char v[LINES_MAX][160];
	size_t n;
};

static void add(struct lines *l, const char *table, const char *col, const char *type)
{
	assert_true(l->n < LINES_MAX);
	snprintf(l->v[l->n++], sizeof l->v[0], "%s.%s %s", table, col, type);
}

static const char *pg_type_of(const char *sqlite_type)
{
	if (!strcmp(sqlite_type, "INTEGER"))
		return "bigint";
	if (!strcmp(sqlite_type, "TEXT"))
		return "text";
	if (!strcmp(sqlite_type, "BLOB"))
		return "bytea";
	return sqlite_type; /* a type the translation does not know: differs */
}

static void sqlite_schema(const char *path, struct lines *out)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *t = NULL;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_master WHERE type = 'table'"
					    " AND name NOT LIKE 'sqlite_%' ORDER BY name;",
					    -1, &t, NULL),
			 SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW) {
		char table[64], sql[128];
		snprintf(table, sizeof table, "%s", (const char *)sqlite3_column_text(t, 0));
		snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\");", table);
		sqlite3_stmt *c = NULL;
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &c, NULL), SQLITE_OK);
		while (sqlite3_step(c) == SQLITE_ROW)
			add(out, table, (const char *)sqlite3_column_text(c, 1),
			    pg_type_of((const char *)sqlite3_column_text(c, 2)));
		sqlite3_finalize(c);
	}
	sqlite3_finalize(t);
	sqlite3_close(db);
}

static void pg_schema(const char *location, struct lines *out)
{
	PGconn *c = PQconnectdb(location);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, "SELECT table_name, column_name, data_type"
				" FROM information_schema.columns WHERE table_schema = current_schema()"
				" AND column_name <> 'rowid' ORDER BY table_name COLLATE \"C\", ordinal_position;");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(r); i++)
		add(out, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
	PQclear(r);
	PQfinish(c);
}

static void test_same_schema(void **state)
{
	store_fixture_only("postgres");
	struct store_fixture *f = *state;
	/* SQLite's, migrated by its own store */
	char path[128];
	snprintf(path, sizeof path, "%s/cmp.db", f->dir);
	struct store *sq = NULL;
	assert_int_equal(store_open_sqlite(path, &sq), 0);
	int vs = 0, vp = 0;
	assert_int_equal(store_schema_version(sq, &vs), 0);
	store_close(sq);
	assert_int_equal(store_schema_version(f->st, &vp), 0);
	assert_int_equal(vs, vp);
	assert_int_equal(vs, store_sqlite_latest_version());
	static struct lines a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	sqlite_schema(path, &a);
	pg_schema(f->location, &b);
	assert_true(a.n > 50);
	for (size_t i = 0; i < a.n && i < b.n; i++) {
		if (strcmp(a.v[i], b.v[i]) != 0)
			fprintf(stderr, "schemas differ at column %zu: sqlite %s, postgres %s\n", i,
				a.v[i], b.v[i]);
		assert_string_equal(a.v[i], b.v[i]);
	}
	assert_int_equal(a.n, b.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_schema, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
