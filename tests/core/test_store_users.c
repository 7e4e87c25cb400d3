/* Unit tests of the store's user administration (what `aimd user list`,
 * `user tokens`, `user revoke` and `user delete` stand on): listing users
 * and tokens, revoking one token, deleting a user with everything it owns
 * while the name stays taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"
#include "store_fixture.h"

struct names {
	char buf[512];
	int n;
};

static int collect_user(void *ctx, const struct store_user_info *u)
{
	struct names *c = ctx;
	size_t l = strlen(c->buf);
	snprintf(c->buf + l, sizeof c->buf - l, "%s:%lld%s%s;", u->name, (long long)u->tokens,
		 u->deleted ? ":deleted" : "", u->manual_approval ? ":manual" : "");
	c->n++;
	return 0;
}

struct hashes {
	uint8_t h[8][32];
	int n;
};

static int collect_token(void *ctx, const struct store_token_info *t)
{
	struct hashes *c = ctx;
	assert_true(c->n < 8);
	assert_true(t->created > 0);
	memcpy(c->h[c->n++], t->hash, 32);
	return 0;
}

static void hash_of(int k, uint8_t out[32])
{
	memset(out, 0, 32);
	out[0] = (uint8_t)k;
	out[31] = 0xaa;
}

static void test_user_list(void **state)
{
	struct store_fixture *f = *state;
	uint8_t h[32];
	hash_of(1, h);
	assert_int_equal(store_token_add(f->st, f->bob, h), 0);
	hash_of(2, h);
	assert_int_equal(store_token_add(f->st, f->bob, h), 0);
	assert_int_equal(store_manual_approval_set(f->st, f->carol, true), 0);
	struct names c = { "", 0 };
	assert_int_equal(store_user_list(f->st, collect_user, &c), 0);
	/* by name; the reserved rows (~instance, ~remote) are not users */
	assert_string_equal(c.buf, "alice:0;bob:2;carol:0:manual;");
}

static int stop_at_first(void *ctx, const struct store_user_info *u)
{
	(void)u;
	++*(int *)ctx;
	return 7;
}

static void test_user_list_stops(void **state)
{
	struct store_fixture *f = *state;
	int n = 0;
	assert_int_equal(store_user_list(f->st, stop_at_first, &n), 7);
	assert_int_equal(n, 1);
}

static void test_token_list_and_revoke(void **state)
{
	struct store_fixture *f = *state;
	uint8_t h1[32], h2[32], h3[32];
	hash_of(1, h1);
	hash_of(2, h2);
	hash_of(3, h3);
	assert_int_equal(store_token_add(f->st, f->alice, h1), 0);
	assert_int_equal(store_token_add(f->st, f->alice, h2), 0);
	assert_int_equal(store_token_add(f->st, f->bob, h3), 0);
	struct hashes c = { .n = 0 };
	assert_int_equal(store_token_list(f->st, f->alice, collect_token, &c), 0);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.h[0], h1, 32);
	assert_memory_equal(c.h[1], h2, 32);
	/* revoking one leaves the other and bob's */
	assert_int_equal(store_token_revoke(f->st, h1), 0);
	int64_t who = 0;
	assert_int_equal(store_token_find(f->st, h1, &who), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(store_token_find(f->st, h2, &who), 0);
	assert_int_equal(who, f->alice);
	assert_int_equal(store_token_find(f->st, h3, &who), 0);
	assert_int_equal(who, f->bob);
	/* twice is NOTFOUND */
	assert_int_equal(store_token_revoke(f->st, h1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	c.n = 0;
	assert_int_equal(store_token_list(f->st, f->alice, collect_token, &c), 0);
	assert_int_equal(c.n, 1);
}

static int64_t count(struct store *st, const char *what, int64_t user)
{
	int64_t n = -1;
	if (!strcmp(what, "inbox"))
		assert_int_equal(store_inbox_count(st, user, &n), 0);
	else
		assert_int_equal(store_followers_count(st, user, STORE_FOLLOW_ACCEPTED, &n), 0);
	return n;
}

struct dlv {
	int pending, failed;
};

static int collect_dlv(void *ctx, const struct store_delivery *d)
{
	struct dlv *c = ctx;
	if (d->state == STORE_DLV_PENDING)
		c->pending++;
	if (d->state == STORE_DLV_FAILED) {
		c->failed++;
		assert_non_null(d->last_error);
		assert_non_null(strstr(d->last_error, "deleted"));
	}
	return 0;
}

static void test_user_delete(void **state)
{
	struct store_fixture *f = *state;
	uint8_t h[32];
	hash_of(9, h);
	assert_int_equal(store_token_add(f->st, f->bob, h), 0);
	/* bob posts to alice, with a delivery to a remote inbox; alice posts to bob */
	int64_t to_alice[] = { f->alice }, to_bob[] = { f->bob };
	const struct store_new_delivery v[] = { { .inbox = "https://r.test/inbox", .host = "r.test" } };
	struct store_outgoing o = { .activity_id = "https://x/activities/b1", .signer = f->bob,
				    .body = "{\"secret\":1}", .v = v, .n = 1, .now_ms = 1 };
	struct store_new_activity b1 = {
		.id = "https://x/activities/b1", .object_id = "https://x/objects/b1", .json = "{}",
		.object_json = "{}", .author = f->bob, .audience = to_alice, .n_audience = 1,
		.inbox = to_alice, .n_inbox = 1, .published = 1, .outgoing = &o,
	};
	struct store_new_activity a1 = {
		.id = "https://x/activities/a1", .object_id = "https://x/objects/a1", .json = "{}",
		.object_json = "{}", .author = f->alice, .audience = to_bob, .n_audience = 1,
		.inbox = to_bob, .n_inbox = 1, .published = 2,
	};
	int64_t seq;
	assert_int_equal(store_activity_add(f->st, &b1, &seq), 0);
	assert_int_equal(store_activity_add(f->st, &a1, &seq), 0);
	/* a remote follower of bob and a block */
	struct store_fx fx[] = {
		{ .kind = STORE_FX_FOLLOWER_PUT, .user = f->bob, .actor = "https://r.test/u/m",
		  .inbox = "https://r.test/u/m/inbox", .follow_id = "https://r.test/f/1",
		  .state = STORE_FOLLOW_ACCEPTED },
		{ .kind = STORE_FX_BLOCK_PUT, .user = f->bob, .actor = "https://r.test/u/e" },
	};
	struct store_inbound in = { .fx = fx, .n_fx = 2 };
	int rc = store_inbound_commit(f->st, &in, NULL, NULL);
	if (rc != 0)
		fprintf(stderr, "inbound: %s\n", aim_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(count(f->st, "inbox", f->alice), 1);
	assert_int_equal(count(f->st, "followers", f->bob), 1);

	rc = store_user_delete(f->st, f->bob);
	if (rc != 0)
		fprintf(stderr, "delete: %s\n", aim_errmsg());
	assert_int_equal(rc, 0);

	/* the account is gone for every lookup, the name stays taken */
	struct store_user u = { 0 };
	assert_int_equal(store_user_get(f->st, "bob", &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(store_user_get_id(f->st, f->bob, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	bool gone = false;
	assert_int_equal(store_user_gone(f->st, "bob", &gone), 0);
	assert_true(gone);
	assert_int_equal(store_user_gone(f->st, "alice", &gone), 0);
	assert_false(gone);
	assert_int_equal(store_user_gone(f->st, "nobody", &gone), 0);
	assert_false(gone);
	struct store_new_user again = { "bob", "PUB", "PRIV", store_fixture_edpub, "EDPRIV" };
	int64_t id;
	assert_int_equal(store_user_add(f->st, &again, &id), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	int64_t n = 0;
	assert_int_equal(store_user_count(f->st, &n), 0);
	assert_int_equal(n, 2);
	/* its token, keys, follower, block, content and inbox are gone */
	int64_t who;
	assert_int_equal(store_token_find(f->st, h, &who), -1);
	char *rsa = NULL, *ed = NULL;
	assert_int_equal(store_user_private_keys(f->st, f->bob, &rsa, &ed), -1);
	assert_null(rsa);
	assert_int_equal(count(f->st, "followers", f->bob), 0);
	bool blocked = true;
	assert_int_equal(store_blocked(f->st, f->bob, "https://r.test/u/e", &blocked), 0);
	assert_false(blocked);
	struct store_item it = { 0 };
	assert_int_equal(store_activity_get(f->st, "https://x/activities/b1", f->alice, &it), -1);
	assert_int_equal(store_object_get(f->st, "https://x/objects/b1", f->alice, &it), -1);
	assert_int_equal(count(f->st, "inbox", f->alice), 0);
	assert_int_equal(count(f->st, "inbox", f->bob), 0);
	/* alice's own post stays */
	assert_int_equal(store_activity_get(f->st, "https://x/activities/a1", f->alice, &it), 0);
	store_item_clear(&it);
	/* bob's pending delivery failed, and nothing claims it */
	struct dlv c = { 0, 0 };
	assert_int_equal(store_delivery_list(f->st, collect_dlv, &c), 0);
	assert_int_equal(c.pending, 0);
	assert_int_equal(c.failed, 1);
	/* listed as deleted; deleting again is NOTFOUND */
	struct names l = { "", 0 };
	assert_int_equal(store_user_list(f->st, collect_user, &l), 0);
	assert_string_equal(l.buf, "alice:0;bob:0:deleted;carol:0;");
	assert_int_equal(store_user_delete(f->st, f->bob), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	/* the reserved rows cannot be deleted */
	assert_int_equal(store_user_get(f->st, STORE_REMOTE_NAME, &u), 0);
	assert_int_equal(store_user_delete(f->st, u.id), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	store_user_clear(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_user_list, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_user_list_stops, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_token_list_and_revoke, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_user_delete, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
