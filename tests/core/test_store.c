/* Unit tests of the store, against the back end AIM_TEST_STORE names
 * (store_fixture.h): migrations (SQLite's files), users, tokens, activities,
 * visibility, paging under inserts, durability across reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"
#include "store_fixture.h"

/* Posts one activity by author; public or addressed to the given users. */
static int64_t post(struct store *st, int64_t author, bool pub, const int64_t *to, size_t n,
		    int k)
{
	char id[64], oid[64], json[128];
	snprintf(id, sizeof id, "https://x/activities/%d", k);
	snprintf(oid, sizeof oid, "https://x/objects/%d", k);
	snprintf(json, sizeof json, "{\"id\":\"%s\",\"k\":%d}", id, k);
	struct store_new_activity a = {
		.id = id, .object_id = oid, .json = json, .object_json = "{}", .author = author,
		.is_public = pub, .audience = to, .n_audience = n, .inbox = to, .n_inbox = n,
		.published = aim_now(),
	};
	int64_t seq = 0;
	assert_int_equal(store_activity_add(st, &a, &seq), 0);
	assert_true(seq > 0);
	return seq;
}

static void test_migrations(void **state)
{
	struct store_fixture *f = *state;
	store_fixture_only("sqlite");
	int v = 0;
	assert_int_equal(store_schema_version(f->st, &v), 0);
	assert_int_equal(v, store_sqlite_latest_version());
	assert_true(v >= 1);
	/* Reopening applies nothing twice and keeps the version. */
	store_fixture_reopen(f);
	assert_int_equal(store_schema_version(f->st, &v), 0);
	assert_int_equal(v, store_sqlite_latest_version());
}

/* A database from a newer aimd is refused, not "migrated" backwards; a
 * half-made one (version table only) is brought up to date. Fixtures are
 * made with SQL here because they are states the store must not produce. */
static void test_migration_versions(void **state)
{
	store_fixture_only("sqlite");
	char dir[64] = "/tmp/aim-test-mig-XXXXXX", path[96];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/new.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE schema_version(version INTEGER NOT NULL);"
				      "INSERT INTO schema_version VALUES (999);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct store *st = NULL;
	assert_int_equal(store_open_sqlite(path, &st), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	snprintf(path, sizeof path, "%s/old.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE schema_version(version INTEGER NOT NULL);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open_sqlite(path, &st), 0);
	int v = 0;
	assert_int_equal(store_schema_version(st, &v), 0);
	assert_int_equal(v, store_sqlite_latest_version());
	int64_t id;
	struct store_new_user u = { "x", "P", "S", store_fixture_edpub, "E" };
	assert_int_equal(store_user_add(st, &u, &id), 0);
	store_close(st);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_open_locations(void **state)
{
	struct store *st = NULL;
	/* a PostgreSQL location: a database that cannot be reached is a
	 * storage failure (no server listens on port 1) */
	assert_int_equal(store_open("postgresql://aim@127.0.0.1:1/aim", &st), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STORAGE);
	assert_null(st);
	assert_int_equal(store_open("", &st), -1);
	assert_int_equal(store_open("/nonexistent-dir/x/aim.db", &st), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STORAGE);
	assert_null(st);
}

static void test_meta(void **state)
{
	struct store_fixture *f = *state;
	char *v = NULL;
	assert_int_equal(store_meta_get(f->st, "domain", &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(store_meta_set(f->st, "domain", "a.test"), 0);
	assert_int_equal(store_meta_set(f->st, "domain", "b.test"), 0);
	assert_int_equal(store_meta_get(f->st, "domain", &v), 0);
	assert_string_equal(v, "b.test");
	free(v);
}

static void test_users(void **state)
{
	struct store_fixture *f = *state;
	struct store_new_user u = { "alice", "P", "S", store_fixture_edpub, "E" };
	assert_int_equal(store_user_add(f->st, &u, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	struct store_user got;
	assert_int_equal(store_user_get(f->st, "bob", &got), 0);
	assert_int_equal(got.id, f->bob);
	assert_string_equal(got.name, "bob");
	assert_string_equal(got.rsa_public_pem, "PUB");
	assert_memory_equal(got.ed25519_public, store_fixture_edpub, 32);
	store_user_clear(&got);
	assert_int_equal(store_user_get_id(f->st, f->carol, &got), 0);
	assert_string_equal(got.name, "carol");
	store_user_clear(&got);
	assert_int_equal(store_user_get(f->st, "dave", &got), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	int64_t n = 0;
	store_fixture_add_user(f->st, STORE_INSTANCE_NAME);
	assert_int_equal(store_user_count(f->st, &n), 0);
	assert_int_equal(n, 3); /* the instance row does not count */
	char *rsa = NULL, *ed = NULL;
	assert_int_equal(store_user_private_keys(f->st, f->alice, &rsa, &ed), 0);
	assert_string_equal(rsa, "PRIV");
	assert_string_equal(ed, "EDPRIV");
	free(rsa);
	free(ed);
}

static void test_tokens(void **state)
{
	struct store_fixture *f = *state;
	uint8_t h1[32], h2[32];
	memset(h1, 0xaa, 32);
	memset(h2, 0xbb, 32);
	assert_int_equal(store_token_add(f->st, f->bob, h1), 0);
	assert_int_equal(store_token_add(f->st, f->bob, h1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	assert_int_equal(store_token_add(f->st, 999, h2), -1);
	int64_t u = 0;
	assert_int_equal(store_token_find(f->st, h1, &u), 0);
	assert_int_equal(u, f->bob);
	assert_int_equal(store_token_find(f->st, h2, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
}

static void test_activities_and_visibility(void **state)
{
	struct store_fixture *f = *state;
	int64_t to_bob[] = { f->bob };
	post(f->st, f->alice, true, NULL, 0, 1);   /* public */
	post(f->st, f->alice, false, to_bob, 1, 2); /* to bob only */
	post(f->st, f->alice, false, NULL, 0, 3);  /* private */
	/* Duplicate id is refused and changes nothing. */
	struct store_new_activity dup = { .id = "https://x/activities/1", .json = "{}",
					  .author = f->alice };
	assert_int_equal(store_activity_add(f->st, &dup, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);

	int64_t n;
	assert_int_equal(store_outbox_count(f->st, f->alice, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_outbox_count(f->st, f->alice, f->bob, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_outbox_count(f->st, f->alice, f->carol, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_outbox_count(f->st, f->alice, f->alice, &n), 0);
	assert_int_equal(n, 3);

	struct store_item it = { 0 };
	assert_int_equal(store_activity_get(f->st, "https://x/activities/2", f->bob, &it), 0);
	assert_string_equal(it.json, "{\"id\":\"https://x/activities/2\",\"k\":2}");
	assert_int_equal(it.author, f->alice);
	store_item_clear(&it);
	assert_int_equal(store_activity_get(f->st, "https://x/activities/2", f->carol, &it), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(store_activity_get(f->st, "https://x/activities/2", 0, &it), -1);
	assert_int_equal(store_object_get(f->st, "https://x/objects/3", f->alice, &it), 0);
	store_item_clear(&it);
	assert_int_equal(store_object_get(f->st, "https://x/objects/3", f->bob, &it), -1);
	assert_int_equal(store_object_get(f->st, "https://x/objects/1", 0, &it), 0);
	store_item_clear(&it);

	/* The inbox got only what was addressed to its owner. */
	assert_int_equal(store_inbox_count(f->st, f->bob, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_inbox_count(f->st, f->carol, &n), 0);
	assert_int_equal(n, 0);
	struct store_range r = { .limit = 20 };
	struct store_page p;
	assert_int_equal(store_inbox_page(f->st, f->bob, &r, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].json, "{\"id\":\"https://x/activities/2\",\"k\":2}");
	store_page_clear(&p);
}

static void test_paging_under_inserts(void **state)
{
	struct store_fixture *f = *state;
	for (int i = 0; i < 45; i++)
		post(f->st, f->alice, true, NULL, 0, 100 + i);
	struct store_range r = { .limit = 20 };
	struct store_page p;
	assert_int_equal(store_outbox_page(f->st, f->alice, 0, &r, &p), 0);
	assert_int_equal(p.n, 20);
	assert_true(p.has_older);
	assert_false(p.has_newer);
	for (size_t i = 1; i < p.n; i++)
		assert_true(p.items[i - 1].cursor > p.items[i].cursor);
	int64_t last = p.items[p.n - 1].cursor, first = p.items[0].cursor;
	store_page_clear(&p);
	/* Three inserts between page 1 and page 2 shift nothing. */
	for (int i = 0; i < 3; i++)
		post(f->st, f->alice, true, NULL, 0, 200 + i);
	r.max_id = last;
	assert_int_equal(store_outbox_page(f->st, f->alice, 0, &r, &p), 0);
	assert_int_equal(p.n, 20);
	assert_int_equal(p.items[0].cursor, last - 1);
	assert_true(p.has_older);
	assert_true(p.has_newer);
	last = p.items[p.n - 1].cursor;
	store_page_clear(&p);
	r.max_id = last;
	assert_int_equal(store_outbox_page(f->st, f->alice, 0, &r, &p), 0);
	assert_int_equal(p.n, 5);
	assert_false(p.has_older);
	store_page_clear(&p);
	/* min_id: the items right after the cursor, newest first. */
	r.max_id = 0;
	r.min_id = first;
	assert_int_equal(store_outbox_page(f->st, f->alice, 0, &r, &p), 0);
	assert_int_equal(p.n, 3);
	assert_true(p.items[0].cursor > p.items[2].cursor);
	assert_int_equal(p.items[2].cursor, first + 1);
	assert_true(p.has_older);
	assert_false(p.has_newer);
	store_page_clear(&p);
	r.min_id = 0;
	r.limit = 0;
	assert_int_equal(store_outbox_page(f->st, f->alice, 0, &r, &p), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
}

/* followers / following pages (accepted only, newest first, cursors) and
 * the keyPackages collection (the directory's last-resort KeyPackages, not
 * KeyPackage objects among the activities); the outbox without a deleted
 * object's Create. */
static int commit_fx(struct store *st, const struct store_fx *fx, size_t n)
{
	struct store_inbound in = { .fx = fx, .n_fx = n };
	return store_inbound_commit(st, &in, NULL, NULL);
}

static void test_actor_and_keypackage_collections(void **state)
{
	struct store_fixture *f = *state;
	struct store_range r = { .limit = 2 };
	struct store_page p;
	int64_t n = -1;
	char actor[64], fid[64];
	for (int i = 0; i < 3; i++) {
		snprintf(actor, sizeof actor, "https://r.test/users/u%d", i);
		snprintf(fid, sizeof fid, "https://r.test/follows/%d", i);
		struct store_fx fx[2] = {
			{ .kind = STORE_FX_FOLLOWER_PUT, .user = f->alice, .actor = actor,
			  .inbox = "https://r.test/inbox", .follow_id = fid,
			  .state = i == 1 ? STORE_FOLLOW_PENDING : STORE_FOLLOW_ACCEPTED },
			{ .kind = STORE_FX_FOLLOWING_PUT, .user = f->alice, .actor = actor,
			  .follow_id = fid, .state = STORE_FOLLOW_PENDING },
		};
		assert_int_equal(commit_fx(f->st, fx, 2), 0);
	}
	assert_int_equal(store_followers_page(f->st, f->alice, &r, &p), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.items[0].json, "https://r.test/users/u2");
	assert_string_equal(p.items[1].json, "https://r.test/users/u0");
	assert_false(p.has_older);
	store_page_clear(&p);
	/* following: nothing until accepted */
	assert_int_equal(store_following_count(f->st, f->alice, &n), 0);
	assert_int_equal(n, 0);
	struct store_fx acc = { .kind = STORE_FX_FOLLOWING_ACCEPT, .actor = "https://r.test/users/u1",
				.follow_id = "https://r.test/follows/1" };
	assert_int_equal(commit_fx(f->st, &acc, 1), 0);
	assert_int_equal(store_following_count(f->st, f->alice, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_following_page(f->st, f->alice, &r, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].json, "https://r.test/users/u1");
	int64_t cur = p.items[0].cursor;
	store_page_clear(&p);
	struct store_range older = { .max_id = cur, .limit = 2 };
	assert_int_equal(store_following_page(f->st, f->alice, &older, &p), 0);
	assert_int_equal(p.n, 0);
	store_page_clear(&p);
	assert_int_equal(store_following_count(f->st, f->bob, &n), 0);
	assert_int_equal(n, 0);

	/* Objects of type KeyPackage among the activities (two public, one for
	 * bob only, one deleted) and a Note: the outbox without the deleted one */
	const char *objs[] = { "{\"type\":\"KeyPackage\",\"id\":\"k0\"}",
			       "{\"type\":\"Note\"}",
			       "{\"type\":\"KeyPackage\",\"id\":\"k2\"}",
			       "{\"type\":\"KeyPackage\",\"id\":\"k3\"}",
			       "{\"type\":\"KeyPackage\",\"id\":\"k4\"}" };
	for (int i = 0; i < 5; i++) {
		char id[64], oid[64];
		snprintf(id, sizeof id, "https://x/activities/kp%d", i);
		snprintf(oid, sizeof oid, "https://x/objects/kp%d", i);
		struct store_new_activity a = {
			.id = id, .object_id = oid, .json = "{}", .object_json = objs[i],
			.author = f->alice, .is_public = i != 3, .audience = &f->bob,
			.n_audience = i == 3 ? 1 : 0, .published = aim_now(),
		};
		assert_int_equal(store_activity_add(f->st, &a, NULL), 0);
	}
	int64_t before = 0;
	assert_int_equal(store_outbox_count(f->st, f->alice, 0, &before), 0);
	struct store_fx del = { .kind = STORE_FX_OBJECT_DELETE, .user = f->alice,
				.object_id = "https://x/objects/kp4", .json = "{\"type\":\"Tombstone\"}" };
	assert_int_equal(commit_fx(f->st, &del, 1), 0);
	assert_int_equal(store_outbox_count(f->st, f->alice, 0, &n), 0);
	assert_int_equal(n, before - 1);
	/* The keyPackages collection comes from the KeyPackage directory (issue
	 * 10): KeyPackage objects among the activities are not in it, and of
	 * the directory only last-resort KeyPackages are listed (a listing
	 * never hands out a consumable one). */
	assert_int_equal(store_keypackage_count(f->st, f->alice, 0, &n), 0);
	assert_int_equal(n, 0);
	const uint8_t data[] = { 0, 1, 0, 5 };
	uint8_t pk[32] = { 1 };
	const uint8_t cert[] = { 0x30, 0x00 };
	for (int i = 0; i < 2; i++) {
		struct store_new_device d = { .user_id = f->alice, .device = i ? "d2" : "d1",
					      .alg = 0x0807, .pk = pk, .pk_len = 32, .cert = cert,
					      .cert_len = 2, .not_after = aim_now() + 86400 };
		pk[1] = (uint8_t)i;
		assert_int_equal(store_device_register(f->st, &d), 0);
	}
	struct store_new_keypackage kp[3] = {
		{ .device = "d1", .suite = 1, .ref = (const uint8_t *)"r1", .ref_len = 2,
		  .data = data, .len = 4, .json = "{\"type\":\"KeyPackage\",\"id\":\"k1\"}",
		  .not_after = aim_now() + 3600 },
		{ .device = "d1", .suite = 1, .ref = (const uint8_t *)"r2", .ref_len = 2,
		  .data = data, .len = 4, .json = "{\"type\":\"KeyPackage\",\"id\":\"lr1\"}",
		  .last_resort = true, .not_after = aim_now() + 3600 },
		{ .device = "d2", .suite = 1, .ref = (const uint8_t *)"r3", .ref_len = 2,
		  .data = data, .len = 4, .json = "{\"type\":\"KeyPackage\",\"id\":\"lr2\"}",
		  .last_resort = true, .not_after = aim_now() + 3600 },
	};
	assert_int_equal(store_keypackage_add(f->st, f->alice, kp, 3, 0), 0);
	assert_int_equal(store_keypackage_count(f->st, f->alice, 0, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_keypackage_count(f->st, f->alice, f->bob, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_keypackage_count(f->st, f->bob, 0, &n), 0);
	assert_int_equal(n, 0);
	struct store_range r5 = { .limit = 5 };
	assert_int_equal(store_keypackage_page(f->st, f->alice, f->bob, &r5, &p), 0);
	assert_int_equal(p.n, 2);
	assert_non_null(strstr(p.items[0].json, "lr2"));
	assert_non_null(strstr(p.items[1].json, "lr1"));
	store_page_clear(&p);
}

static void test_reopen_keeps_data(void **state)
{
	struct store_fixture *f = *state;
	int64_t to_bob[] = { f->bob };
	post(f->st, f->alice, false, to_bob, 1, 7);
	uint8_t h[32];
	memset(h, 7, 32);
	assert_int_equal(store_token_add(f->st, f->alice, h), 0);
	store_fixture_reopen(f);
	int64_t u = 0, n = 0;
	assert_int_equal(store_token_find(f->st, h, &u), 0);
	assert_int_equal(u, f->alice);
	assert_int_equal(store_inbox_count(f->st, f->bob, &n), 0);
	assert_int_equal(n, 1);
	struct store_user got;
	assert_int_equal(store_user_get(f->st, "carol", &got), 0);
	store_user_clear(&got);
}

struct worker {
	struct store_fixture *f;
	int base;
	int fails;
};

static void *writer(void *arg)
{
	struct worker *w = arg;
	int64_t to[] = { w->f->bob };
	for (int i = 0; i < 50; i++) {
		char id[64], json[96];
		snprintf(id, sizeof id, "https://x/activities/t%d", w->base + i);
		snprintf(json, sizeof json, "{\"n\":%d}", w->base + i);
		struct store_new_activity a = { .id = id, .json = json, .author = w->f->alice,
						.audience = to, .n_audience = 1, .inbox = to,
						.n_inbox = 1 };
		if (store_activity_add(w->f->st, &a, NULL) != 0)
			w->fails++;
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 50; i++) {
		struct store_range r = { .limit = 20 };
		struct store_page p;
		if (store_inbox_page(w->f->st, w->f->bob, &r, &p) != 0) {
			w->fails++;
			continue;
		}
		for (size_t k = 1; k < p.n; k++)
			if (p.items[k - 1].cursor <= p.items[k].cursor)
				w->fails++;
		store_page_clear(&p);
	}
	return NULL;
}

/* One writer path and pooled readers: concurrent writes all land, reads
 * never fail while writes go on. */
static void test_concurrency(void **state)
{
	struct store_fixture *f = *state;
	pthread_t th[6];
	struct worker w[6];
	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){ f, i * 1000, 0 };
		pthread_create(&th[i], NULL, i < 4 ? writer : reader, &w[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].fails, 0);
	}
	int64_t n = 0;
	assert_int_equal(store_inbox_count(f->st, f->bob, &n), 0);
	assert_int_equal(n, 200);
	assert_int_equal(store_outbox_count(f->st, f->alice, f->carol, &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test(test_open_locations),
		cmocka_unit_test(test_migration_versions),
		cmocka_unit_test_setup_teardown(test_meta, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_users, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tokens, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_activities_and_visibility, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_paging_under_inserts, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_actor_and_keypackage_collections, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_concurrency, store_fixture_setup, store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
