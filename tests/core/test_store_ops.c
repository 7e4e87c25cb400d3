/* Unit tests of the store's operations ops, on the fixture's back end
 * (AIM_TEST_STORE): the schema version and migrate (nothing pending on a
 * fresh store), the integrity check of a sound store, the counts of
 * /metrics (deliveries by state and the oldest pending one, the KeyPackage
 * stock), and export / import: every row of the fixture's store exported,
 * imported into a fresh SQLite store and exported again gives the same
 * rows (values of every kind: integers, text, bytes with zeros, an empty
 * blob, NULL); import refuses a store that holds a domain, an unknown
 * table, and a row breaking a reference, writing nothing; a delivery leased
 * in the exporting store is claimable at once after the import. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"
#include "store_fixture.h"

static void count_migration(void *ctx, int version)
{
	(void)version;
	++*(int *)ctx;
}

static void test_schema_migrate_integrity(void **state)
{
	struct store_fixture *f = *state;
	int latest = 0, v = 0, n = 0;
	assert_int_equal(store_schema_latest(f->st, &latest), 0);
	assert_int_equal(store_schema_version(f->st, &v), 0);
	assert_true(latest > 0);
	assert_int_equal(v, latest);
	assert_int_equal(store_migrate(f->st, count_migration, &n), 0);
	assert_int_equal(n, 0);
	char *problem = (char *)"unset";
	assert_int_equal(store_integrity_check(f->st, &problem), 0);
	assert_null(problem);
}

static void add_activity(struct store_fixture *f, const char *id, const char *inbox,
			 int64_t now_ms)
{
	const struct store_new_delivery d = { .inbox = inbox, .host = "b.test" };
	struct store_outgoing o = { .activity_id = id, .signer = f->alice, .body = "{\"x\":1}",
				    .v = &d, .n = 1, .now_ms = now_ms };
	struct store_new_activity a = { .id = id, .json = "{\"type\":\"Note\"}",
					.author = f->alice, .is_public = true, .published = 7,
					.inbox = &f->bob, .n_inbox = 1, .audience = &f->bob,
					.n_audience = 1, .outgoing = &o };
	assert_int_equal(store_activity_add(f->st, &a, NULL), 0);
}

static void add_device_kps(struct store_fixture *f)
{
	uint8_t pk[32], cert[2] = { 0x30, 0x00 };
	memset(pk, 9, sizeof pk);
	struct store_new_device d = { .user_id = f->bob, .device = "phone", .alg = 0x0807,
				      .pk = pk, .pk_len = 32, .cert = cert, .cert_len = 2,
				      .not_after = aim_now() + 86400 };
	assert_int_equal(store_device_register(f->st, &d), 0);
	struct store_new_keypackage v[4];
	const char *refs[4] = { "r1", "r2", "r3", "r4" };
	for (int i = 0; i < 4; i++)
		v[i] = (struct store_new_keypackage){
			.device = "phone", .suite = 1, .ref = (const uint8_t *)refs[i], .ref_len = 2,
			.data = (const uint8_t *)"kp\0x", .len = 4, .json = "{\"type\":\"KeyPackage\"}",
			.last_resort = i == 3, .not_after = aim_now() + (i == 2 ? -10 : 3600),
		};
	assert_int_equal(store_keypackage_add(f->st, f->bob, v, 4, 0), 0);
}

static void test_stats(void **state)
{
	struct store_fixture *f = *state;
	struct store_stats s;
	assert_int_equal(store_stats(f->st, aim_now(), &s), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.deliveries[i], 0);
	assert_int_equal(s.oldest_pending_ms, 0);
	assert_int_equal(s.keypackages_available, 0);
	add_activity(f, "https://a.test/activities/1", "https://b.test/inbox", 1000);
	add_activity(f, "https://a.test/activities/2", "https://b.test/users/bob/inbox", 3000);
	add_device_kps(f);
	assert_int_equal(store_stats(f->st, aim_now(), &s), 0);
	assert_int_equal(s.deliveries[STORE_DLV_PENDING], 2);
	assert_int_equal(s.oldest_pending_ms, 1000);
	/* two consumable and live (one expired), one last-resort */
	assert_int_equal(s.keypackages_available, 2);
	assert_int_equal(s.keypackages_last_resort, 1);
	/* the older one delivered: the next is the oldest */
	struct store_claim c = { .now_ms = 5000, .lease_ms = 60000, .per_host = 4 };
	struct store_delivery d;
	struct store_lease l;
	assert_int_equal(store_delivery_claim(f->st, &c, &d, &l), 0);
	assert_int_equal(d.created_ms, 1000);
	store_delivery_clear(&d);
	struct store_delivery_update u = { .state = STORE_DLV_DELIVERED, .attempts = 1,
					   .last_status = 202 };
	assert_int_equal(store_delivery_finish(f->st, &l, &u), 0);
	assert_int_equal(store_stats(f->st, aim_now(), &s), 0);
	assert_int_equal(s.deliveries[STORE_DLV_PENDING], 1);
	assert_int_equal(s.deliveries[STORE_DLV_DELIVERED], 1);
	assert_int_equal(s.oldest_pending_ms, 3000);
}

/* ---- export / import -------------------------------------------------------------------- */

/* Rows kept as one line of text each: "table|col=kind:value|...". */
struct rows {
	char **v;
	size_t n;
	/* for replaying them: the rows themselves */
	struct saved {
		char *table;
		size_t n;
		char *cols[32];
		struct store_value val[32];
		uint8_t *bytes[32];
	} *r;
};

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i]);
		free(r->r[i].table);
		for (size_t k = 0; k < r->r[i].n; k++) {
			free(r->r[i].cols[k]);
			free(r->r[i].bytes[k]);
		}
	}
	free(r->v);
	free(r->r);
	memset(r, 0, sizeof *r);
}

static int keep_row(void *ctx, const struct store_row *row)
{
	struct rows *r = ctx;
	r->v = realloc(r->v, (r->n + 1) * sizeof *r->v);
	r->r = realloc(r->r, (r->n + 1) * sizeof *r->r);
	struct saved *s = &r->r[r->n];
	memset(s, 0, sizeof *s);
	s->table = strdup(row->table);
	s->n = row->n;
	struct aim_buf line;
	aim_buf_init(&line, 1 << 26);
	assert_int_equal(aim_buf_append_str(&line, row->table), 0);
	for (size_t k = 0; k < row->n; k++) {
		const struct store_value *v = &row->v[k];
		s->cols[k] = strdup(row->cols[k]);
		s->val[k] = *v;
		if (v->type == STORE_V_TEXT || v->type == STORE_V_BLOB) {
			s->bytes[k] = malloc(v->n + 1);
			memcpy(s->bytes[k], v->p, v->n);
			s->val[k].p = s->bytes[k];
		}
		assert_int_equal(aim_buf_printf(&line, "|%s=%d:", row->cols[k], (int)v->type), 0);
		if (v->type == STORE_V_INT)
			assert_int_equal(aim_buf_printf(&line, "%lld", (long long)v->i), 0);
		else if (v->type != STORE_V_NULL)
			assert_int_equal(aim_hex_encode(&line, v->p, v->n), 0);
	}
	r->v[r->n++] = (char *)aim_buf_steal(&line, NULL);
	return 0;
}

struct replay {
	const struct rows *r;
	size_t i;
	const char *bad_table;       /* non-NULL: the 3rd row claims this table */
};

static int next_row(void *ctx, struct store_row *out)
{
	struct replay *p = ctx;
	if (p->i >= p->r->n)
		return 1;
	const struct saved *s = &p->r->r[p->i];
	*out = (struct store_row){ s->table, s->n, (const char *const *)s->cols, s->val };
	if (p->bad_table && p->i == 2)
		out->table = p->bad_table;
	p->i++;
	return 0;
}

static void fresh_sqlite(const struct store_fixture *f, const char *name, struct store **st)
{
	char path[160];
	snprintf(path, sizeof path, "%s/%s", f->dir, name);
	assert_int_equal(store_open_sqlite(path, st), 0);
}

static void test_export_import(void **state)
{
	struct store_fixture *f = *state;
	assert_int_equal(store_meta_set(f->st, "domain", "a.test"), 0);
	add_activity(f, "https://a.test/activities/9", "https://b.test/inbox", 1000);
	add_device_kps(f);
	const uint8_t bin[] = { 0, 1, 0, 255, 0 };
	assert_int_equal(store_state_cas(f->st, "hub", "c1", 0, bin, sizeof bin, NULL), 0);
	assert_int_equal(store_state_cas(f->st, "hub", "c2", 0, NULL, 0, NULL), 0);
	uint8_t hash[32];
	memset(hash, 0xab, sizeof hash);
	assert_int_equal(store_token_add(f->st, f->carol, hash), 0);
	struct rows a = { 0 }, b = { 0 };
	assert_int_equal(store_export_rows(f->st, keep_row, &a), 0);
	assert_true(a.n > 10);
	/* into a fresh SQLite store, and out again: the same rows */
	struct store *copy;
	fresh_sqlite(f, "copy.db", &copy);
	struct replay p = { &a, 0, NULL };
	assert_int_equal(store_import_rows(copy, next_row, &p), 0);
	assert_int_equal(store_export_rows(copy, keep_row, &b), 0);
	assert_int_equal(b.n, a.n);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(b.v[i], a.v[i]);
	/* what the copy serves */
	struct store_user u = { 0 };
	assert_int_equal(store_user_get(copy, "alice", &u), 0);
	assert_int_equal(u.id, f->alice);
	store_user_clear(&u);
	int64_t who = 0;
	assert_int_equal(store_token_find(copy, hash, &who), 0);
	assert_int_equal(who, f->carol);
	int64_t ver = 0;
	uint8_t *val = NULL;
	size_t len = 0;
	assert_int_equal(store_state_get(copy, "hub", "c1", &ver, &val, &len), 0);
	assert_int_equal(len, sizeof bin);
	assert_memory_equal(val, bin, sizeof bin);
	free(val);
	/* a second import into it: it holds a domain now */
	p.i = 0;
	assert_int_equal(store_import_rows(copy, next_row, &p), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	store_close(copy);
	/* nor into the fixture's store */
	p.i = 0;
	assert_int_equal(store_import_rows(f->st, next_row, &p), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	/* an unknown table, a row breaking a reference: nothing written */
	struct store *bad;
	fresh_sqlite(f, "bad.db", &bad);
	struct replay q = { &a, 0, "sqlite_master" };
	assert_int_equal(store_import_rows(bad, next_row, &q), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	int64_t users = -1;
	assert_int_equal(store_user_count(bad, &users), 0);
	assert_int_equal(users, 0);
	struct rows c = { 0 };
	for (size_t i = 0; i < a.n; i++)
		if (strcmp(a.r[i].table, "users") != 0) /* every reference to a user breaks */
			assert_int_equal(keep_row(&c, &(struct store_row){
				a.r[i].table, a.r[i].n, (const char *const *)a.r[i].cols,
				a.r[i].val }), 0);
	struct replay q2 = { &c, 0, NULL };
	assert_int_equal(store_import_rows(bad, next_row, &q2), -1);
	assert_int_equal(store_user_count(bad, &users), 0);
	assert_int_equal(users, 0);
	char *dom = NULL;
	assert_int_equal(store_meta_get(bad, "domain", &dom), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	store_close(bad);
	/* a delivery leased in the exporting store is claimable at once after */
	struct store_claim cl = { .now_ms = 2000, .lease_ms = 600000, .per_host = 4 };
	struct store_delivery d;
	struct store_lease l;
	assert_int_equal(store_delivery_claim(f->st, &cl, &d, &l), 0);
	store_delivery_clear(&d);
	assert_int_equal(store_delivery_claim(f->st, &cl, &d, &l), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	struct rows e = { 0 };
	assert_int_equal(store_export_rows(f->st, keep_row, &e), 0);
	struct store *leased;
	fresh_sqlite(f, "leased.db", &leased);
	struct replay q3 = { &e, 0, NULL };
	assert_int_equal(store_import_rows(leased, next_row, &q3), 0);
	assert_int_equal(store_delivery_claim(leased, &cl, &d, &l), 0);
	assert_string_equal(d.inbox, "https://b.test/inbox");
	store_delivery_clear(&d);
	store_close(leased);
	rows_free(&a);
	rows_free(&b);
	rows_free(&c);
	rows_free(&e);
}

/* Every table of the schema is exported (a table a migration adds must join
 * STORE_EXPORT_TABLES, or an export would leave it behind without a word). */
static void test_every_table_exported(void **state)
{
	struct store_fixture *f = *state;
	store_fixture_only("sqlite");
	static const char *const listed[] = { STORE_EXPORT_TABLES };
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'"
					    " AND name NOT LIKE 'sqlite_%' AND name <> 'schema_version';",
					    -1, &q, NULL),
			 SQLITE_OK);
	int n = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(q, 0);
		bool found = false;
		for (size_t i = 0; i < AIM_ARRAY_LEN(listed); i++)
			found = found || !strcmp(listed[i], t);
		if (!found)
			fail_msg("table %s is not in STORE_EXPORT_TABLES (store.h)", t);
		n++;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_int_equal(n, (int)AIM_ARRAY_LEN(listed));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_migrate_integrity, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stats, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_export_import, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_every_table_exported, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
