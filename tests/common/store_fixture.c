/* The store tests' shared fixture (store_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpq-fe.h>

#include "store_fixture.h"

const uint8_t store_fixture_edpub[32] = { 1, 2, 3 };

/* ---- The back ends ------------------------------------------------------------- */

struct backend {
	const char *name;
	/* An empty store for one test, given a fresh directory: its location and,
	 * where the back end has one, its file. */
	void (*make)(struct store_fixture *f);
	/* Drops what make created outside the directory (NULL: nothing). */
	void (*drop)(struct store_fixture *f);
};

static void sqlite_make(struct store_fixture *f)
{
	snprintf(f->path, sizeof f->path, "%s/aim.db", f->dir);
	snprintf(f->location, sizeof f->location, "sqlite:%s", f->path);
}

/* PostgreSQL: AIM_TEST_PG is a libpq URI of a database the tests may use
 * (or "@FILE": the file holds it, as scripts/pg-cluster.sh writes it).
 * Each test gets a schema of its own, created empty and dropped after it;
 * the store's location puts it first on the search path. */
static void pg_conninfo(char *out, size_t n)
{
	const char *v = getenv("AIM_TEST_PG");
	if (!v || !*v) {
		fprintf(stderr, "AIM_TEST_STORE=postgres needs AIM_TEST_PG (a conninfo URI)\n");
		exit(2);
	}
	if (v[0] != '@') {
		snprintf(out, n, "%s", v);
		return;
	}
	FILE *f = fopen(v + 1, "r");
	if (!f || !fgets(out, (int)n, f)) {
		fprintf(stderr, "AIM_TEST_PG=%s: cannot read it\n", v);
		exit(2);
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = 0;
}

static void pg_run(const char *sql)
{
	char ci[256];
	pg_conninfo(ci, sizeof ci);
	PGconn *c = PQconnectdb(ci);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "SET client_min_messages = warning;"));
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
}

static void pg_schema(const struct store_fixture *f, char *out, size_t n)
{
	/* the directory's random part names the schema */
	snprintf(out, n, "t_%s_%d", strrchr(f->dir, '-') + 1, (int)getpid());
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

static void pg_make(struct store_fixture *f)
{
	char ci[256], schema[64], sql[128];
	pg_conninfo(ci, sizeof ci);
	pg_schema(f, schema, sizeof schema);
	snprintf(sql, sizeof sql, "CREATE SCHEMA \"%s\";", schema);
	pg_run(sql);
	int n = snprintf(f->location, sizeof f->location, "%.160s%soptions=-csearch_path%%3D%s",
			 ci, strchr(ci, '?') ? "&" : "?", schema);
	assert_true(n > 0 && (size_t)n < sizeof f->location);
}

static void pg_drop(struct store_fixture *f)
{
	char schema[64], sql[128];
	pg_schema(f, schema, sizeof schema);
	snprintf(sql, sizeof sql, "DROP SCHEMA \"%s\" CASCADE;", schema);
	pg_run(sql);
}

/* Add a back end here (and nowhere else): the store tests then run against
 * it with AIM_TEST_STORE=NAME. */
static const struct backend backends[] = {
	{ "sqlite", sqlite_make, NULL },
	{ "postgres", pg_make, pg_drop },
};

static const struct backend *backend(void)
{
	const char *want = getenv("AIM_TEST_STORE");
	if (!want || !*want)
		want = "sqlite";
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (!strcmp(backends[i].name, want))
			return &backends[i];
	fprintf(stderr, "AIM_TEST_STORE=%s: no such store back end (known:", want);
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		fprintf(stderr, " %s", backends[i].name);
	fprintf(stderr, ")\n");
	exit(2);
}

const char *store_fixture_backend(void)
{
	return backend()->name;
}

void store_fixture_only(const char *name)
{
	if (strcmp(store_fixture_backend(), name) != 0) {
		fprintf(stderr, "skipped: a test of the %s back end only\n", name);
		skip();
	}
}

/* ---- Stores and users ---------------------------------------------------------------- */

int64_t store_fixture_add_user(struct store *st, const char *name)
{
	struct store_new_user u = { name, "PUB", "PRIV", store_fixture_edpub, "EDPRIV" };
	int64_t id = 0;
	assert_int_equal(store_user_add(st, &u, &id), 0);
	assert_true(id > 0);
	return id;
}

int store_fixture_open(const struct store_fixture *f, struct store **out)
{
	return store_open(f->location, out);
}

void store_fixture_reopen(struct store_fixture *f)
{
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_fixture_open(f, &f->st), 0);
}

int store_fixture_setup(void **state)
{
	const struct backend *b = backend();
	struct store_fixture *f = calloc(1, sizeof *f);
	f->backend = b->name;
	snprintf(f->dir, sizeof f->dir, "/tmp/aim-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	b->make(f);
	assert_int_equal(store_fixture_open(f, &f->st), 0);
	f->alice = store_fixture_add_user(f->st, "alice");
	f->bob = store_fixture_add_user(f->st, "bob");
	f->carol = store_fixture_add_user(f->st, "carol");
	*state = f;
	return 0;
}

int store_fixture_teardown(void **state)
{
	struct store_fixture *f = *state;
	const struct backend *b = backend();
	store_close(f->st);
	if (b->drop)
		b->drop(f);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}
