/* Unit tests of the store's federation-inbound calls (SQLite back end):
 * remote activities deduplicated per inbox, ids owned by one actor,
 * object updates and deletes by their owner only (tombstones), followers
 * and follows, actor purge, an object's content purged from the activities
 * that carried it, blocks, manual approval, and one transaction
 * for an activity with its effects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"
#include "store_fixture.h"

#define MAL "https://r.test/users/mallory"
#define EVE "https://r.test/users/eve"

static int64_t inbox_n(struct store *st, int64_t user)
{
	int64_t n = -1;
	assert_int_equal(store_inbox_count(st, user, &n), 0);
	return n;
}

/* A remote Create by actor with object oid, to the given inboxes. */
static int create(struct store *st, const char *id, const char *actor, const char *oid,
		  const int64_t *to, size_t n, bool *dup, size_t *added)
{
	struct store_inbound in = {
		.id = id, .actor = actor, .json = "{\"type\":\"Create\"}", .object_id = oid,
		.object_json = "{\"type\":\"Note\"}", .audience = to, .n_audience = n, .inbox = to,
		.n_inbox = n, .published = 1,
	};
	return store_inbound_commit(st, &in, dup, added);
}

static void test_dedup_per_inbox(void **state)
{
	struct store_fixture *f = *state;
	int64_t ab[] = { f->alice, f->bob }, c[] = { f->carol }, a[] = { f->alice };
	bool dup = true;
	size_t added = 0;
	assert_int_equal(create(f->st, MAL "/c/1", MAL, MAL "/n/1", ab, 2, &dup, &added), 0);
	assert_false(dup);
	assert_int_equal(added, 2);
	/* the same id again to one inbox: once */
	assert_int_equal(create(f->st, MAL "/c/1", MAL, MAL "/n/1", a, 1, &dup, &added), 0);
	assert_true(dup);
	assert_int_equal(added, 0);
	/* the same id to another inbox: delivered there too */
	assert_int_equal(create(f->st, MAL "/c/1", MAL, MAL "/n/1", c, 1, &dup, &added), 0);
	assert_true(dup);
	assert_int_equal(added, 1);
	assert_int_equal(inbox_n(f->st, f->alice), 1);
	assert_int_equal(inbox_n(f->st, f->bob), 1);
	assert_int_equal(inbox_n(f->st, f->carol), 1);
	/* an id stored for another actor is not theirs */
	assert_int_equal(create(f->st, MAL "/c/1", EVE, EVE "/n/1", c, 1, &dup, &added), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	/* remote rows are not users */
	int64_t users = 0;
	assert_int_equal(store_user_count(f->st, &users), 0);
	assert_int_equal(users, 3);
	int64_t author = 0;
	char *actor = NULL, *json = NULL;
	assert_int_equal(store_activity_lookup(f->st, MAL "/c/1", &author, &actor, &json), 0);
	assert_string_equal(actor, MAL);
	assert_true(author != f->alice && author != f->bob && author != f->carol);
	free(actor);
	free(json);
	assert_int_equal(store_activity_lookup(f->st, MAL "/c/404", NULL, NULL, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
}

static int apply(struct store *st, const struct store_fx *fx, size_t n)
{
	struct store_inbound in = { .fx = fx, .n_fx = n };
	return store_inbound_commit(st, &in, NULL, NULL);
}

static void test_object_owner_only(void **state)
{
	struct store_fixture *f = *state;
	int64_t a[] = { f->alice };
	assert_int_equal(create(f->st, MAL "/c/2", MAL, MAL "/n/2", a, 1, NULL, NULL), 0);
	struct store_fx up = { .kind = STORE_FX_OBJECT_UPDATE, .actor = EVE,
			       .object_id = MAL "/n/2", .json = "{\"forged\":1}" };
	assert_int_equal(apply(f->st, &up, 1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	up.actor = MAL;
	up.json = "{\"type\":\"Note\",\"v\":2}";
	assert_int_equal(apply(f->st, &up, 1), 0);
	struct store_item it = { 0 };
	assert_int_equal(store_object_get(f->st, MAL "/n/2", f->alice, &it), 0);
	assert_non_null(strstr(it.json, "\"v\":2"));
	store_item_clear(&it);
	/* unknown object: NOTFOUND, nothing else happens */
	up.object_id = MAL "/n/404";
	assert_int_equal(apply(f->st, &up, 1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	struct store_fx del = { .kind = STORE_FX_OBJECT_DELETE, .actor = MAL,
				.object_id = MAL "/n/2", .json = "{\"type\":\"Tombstone\"}" };
	assert_int_equal(apply(f->st, &del, 1), 0);
	assert_int_equal(inbox_n(f->st, f->alice), 0);
	assert_int_equal(store_object_get(f->st, MAL "/n/2", f->alice, &it), 0);
	assert_non_null(strstr(it.json, "Tombstone"));
	store_item_clear(&it);
	/* a tombstone is not updated again */
	up.object_id = MAL "/n/2";
	assert_int_equal(apply(f->st, &up, 1), -1);
}

static int collect(void *ctx, const struct store_follower *fo)
{
	char *buf = ctx;
	strcat(buf, fo->actor);
	strcat(buf, fo->shared_inbox ? "+s;" : ";");
	return 0;
}

static void test_followers_and_follows(void **state)
{
	struct store_fixture *f = *state;
	struct store_fx put[] = {
		{ .kind = STORE_FX_FOLLOWER_PUT, .user = f->alice, .actor = MAL, .inbox = MAL "/inbox",
		  .shared_inbox = "https://r.test/inbox", .follow_id = MAL "/f/1",
		  .state = STORE_FOLLOW_ACCEPTED },
		{ .kind = STORE_FX_FOLLOWER_PUT, .user = f->alice, .actor = EVE, .inbox = EVE "/inbox",
		  .follow_id = EVE "/f/1", .state = STORE_FOLLOW_PENDING },
	};
	assert_int_equal(apply(f->st, put, 2), 0);
	int64_t n = 0;
	assert_int_equal(store_followers_count(f->st, f->alice, STORE_FOLLOW_ACCEPTED, &n), 0);
	assert_int_equal(n, 1);
	char buf[512] = "";
	assert_int_equal(store_followers_list(f->st, f->alice, STORE_FOLLOW_ACCEPTED, 0, 10, collect,
					      buf),
			 0);
	assert_string_equal(buf, MAL "+s;");
	/* approval of the pending one; a wrong follow id is NOTFOUND */
	struct store_fx acc = { .kind = STORE_FX_FOLLOWER_ACCEPT, .user = f->alice,
				.follow_id = EVE "/f/404" };
	assert_int_equal(apply(f->st, &acc, 1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	acc.follow_id = EVE "/f/1";
	assert_int_equal(apply(f->st, &acc, 1), 0);
	assert_int_equal(store_followers_count(f->st, f->alice, STORE_FOLLOW_ACCEPTED, &n), 0);
	assert_int_equal(n, 2);
	/* a repeated Follow keeps an accepted follower accepted */
	struct store_fx again = put[0];
	again.state = STORE_FOLLOW_PENDING;
	assert_int_equal(apply(f->st, &again, 1), 0);
	assert_int_equal(store_followers_count(f->st, f->alice, STORE_FOLLOW_ACCEPTED, &n), 0);
	assert_int_equal(n, 2);
	/* Undo with another Follow's id changes nothing; with its own, removes */
	struct store_fx undo = { .kind = STORE_FX_FOLLOWER_DEL, .actor = MAL,
				 .follow_id = MAL "/f/other" };
	assert_int_equal(apply(f->st, &undo, 1), 0);
	assert_int_equal(store_followers_count(f->st, f->alice, STORE_FOLLOW_ACCEPTED, &n), 0);
	assert_int_equal(n, 2);
	undo.follow_id = MAL "/f/1";
	assert_int_equal(apply(f->st, &undo, 1), 0);
	assert_int_equal(store_followers_count(f->st, f->alice, STORE_FOLLOW_ACCEPTED, &n), 0);
	assert_int_equal(n, 1);

	/* local follows of a remote actor */
	struct store_fx fl[] = {
		{ .kind = STORE_FX_FOLLOWING_PUT, .user = f->bob, .actor = MAL,
		  .follow_id = "https://b/f/1", .state = STORE_FOLLOW_PENDING },
		{ .kind = STORE_FX_FOLLOWING_PUT, .user = f->carol, .actor = MAL,
		  .follow_id = "https://b/f/2", .state = STORE_FOLLOW_PENDING },
	};
	assert_int_equal(apply(f->st, fl, 2), 0);
	int64_t ids[8];
	size_t k = 9;
	assert_int_equal(store_following_users(f->st, MAL, ids, 8, &k), 0);
	assert_int_equal(k, 0);
	/* an Accept from someone else for that Follow changes nothing */
	struct store_fx fa = { .kind = STORE_FX_FOLLOWING_ACCEPT, .actor = EVE,
			       .follow_id = "https://b/f/1" };
	assert_int_equal(apply(f->st, &fa, 1), 0);
	assert_int_equal(store_following_users(f->st, MAL, ids, 8, &k), 0);
	assert_int_equal(k, 0);
	fa.actor = MAL;
	assert_int_equal(apply(f->st, &fa, 1), 0);
	assert_int_equal(store_following_users(f->st, MAL, ids, 8, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(ids[0], f->bob);
	int fs = -1;
	assert_int_equal(store_following_state(f->st, f->carol, MAL, &fs), 0);
	assert_int_equal(fs, STORE_FOLLOW_PENDING);
}

static void test_purge_and_blocks(void **state)
{
	struct store_fixture *f = *state;
	int64_t a[] = { f->alice };
	assert_int_equal(create(f->st, MAL "/c/3", MAL, MAL "/n/3", a, 1, NULL, NULL), 0);
	assert_int_equal(create(f->st, EVE "/c/3", EVE, EVE "/n/3", a, 1, NULL, NULL), 0);
	struct store_fx put = { .kind = STORE_FX_FOLLOWER_PUT, .user = f->bob, .actor = MAL,
				.inbox = MAL "/inbox", .follow_id = MAL "/f/9",
				.state = STORE_FOLLOW_ACCEPTED };
	assert_int_equal(apply(f->st, &put, 1), 0);
	struct store_fx purge = { .kind = STORE_FX_ACTOR_PURGE, .actor = MAL };
	assert_int_equal(apply(f->st, &purge, 1), 0);
	assert_int_equal(inbox_n(f->st, f->alice), 1); /* eve's stays */
	int64_t n = 0;
	assert_int_equal(store_followers_count(f->st, f->bob, STORE_FOLLOW_ACCEPTED, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_activity_lookup(f->st, MAL "/c/3", NULL, NULL, NULL), -1);

	bool b = true;
	assert_int_equal(store_blocked(f->st, f->alice, EVE, &b), 0);
	assert_false(b);
	struct store_fx blk = { .kind = STORE_FX_BLOCK_PUT, .user = f->alice, .actor = EVE };
	assert_int_equal(apply(f->st, &blk, 1), 0);
	assert_int_equal(apply(f->st, &blk, 1), 0);
	assert_int_equal(store_blocked(f->st, f->alice, EVE, &b), 0);
	assert_true(b);
	assert_int_equal(store_blocked(f->st, f->bob, EVE, &b), 0);
	assert_false(b);
	blk.kind = STORE_FX_BLOCK_DEL;
	assert_int_equal(apply(f->st, &blk, 1), 0);
	assert_int_equal(store_blocked(f->st, f->alice, EVE, &b), 0);
	assert_false(b);

	bool on = true;
	assert_int_equal(store_manual_approval_get(f->st, f->alice, &on), 0);
	assert_false(on);
	assert_int_equal(store_manual_approval_set(f->st, f->alice, true), 0);
	assert_int_equal(store_manual_approval_get(f->st, f->alice, &on), 0);
	assert_true(on);
	assert_int_equal(store_manual_approval_set(f->st, 9999, true), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
}

/* A remote activity with its JSON, to the given inboxes. */
static int remote(struct store *st, const char *id, const char *actor, const char *json,
		  const int64_t *to, size_t n)
{
	struct store_inbound in = { .id = id, .actor = actor, .json = json, .audience = to,
				    .n_audience = n, .inbox = to, .n_inbox = n, .published = 1 };
	return store_inbound_commit(st, &in, NULL, NULL);
}

static bool stored_has(struct store *st, const char *id, const char *needle)
{
	char *json = NULL;
	assert_int_equal(store_activity_lookup(st, id, NULL, NULL, &json), 0);
	bool has = strstr(json, needle) != NULL;
	free(json);
	return has;
}

/* Issue 9.6: a purge puts the Tombstone in every activity of the owner that
 * embeds the object (its Create, its Updates), and those leave the inboxes;
 * another actor's purge reaches only that actor's own activities, and other
 * objects are untouched. */
static void test_object_purge(void **state)
{
	struct store_fixture *f = *state;
	int64_t a[] = { f->alice }, b[] = { f->bob };
	struct store_inbound cr = {
		.id = MAL "/c/5", .actor = MAL,
		.json = "{\"type\":\"Create\",\"object\":{\"id\":\"" MAL "/n/5\",\"content\":\"secret\"}}",
		.object_id = MAL "/n/5", .object_json = "{\"id\":\"" MAL "/n/5\",\"content\":\"secret\"}",
		.audience = a, .n_audience = 1, .inbox = a, .n_inbox = 1, .published = 1,
	};
	assert_int_equal(store_inbound_commit(f->st, &cr, NULL, NULL), 0);
	assert_int_equal(remote(f->st, MAL "/u/5", MAL,
				"{\"type\":\"Update\",\"object\":{\"id\":\"" MAL "/n/5\",\"content\":\"edited\"}}",
				b, 1),
			 0);
	assert_int_equal(remote(f->st, MAL "/c/6", MAL,
				"{\"type\":\"Create\",\"object\":{\"id\":\"" MAL "/n/6\",\"content\":\"other\"}}",
				b, 1),
			 0);
	/* eve's Announce embedding mallory's note is eve's */
	assert_int_equal(remote(f->st, EVE "/a/5", EVE,
				"{\"type\":\"Announce\",\"object\":{\"id\":\"" MAL "/n/5\"}}", b, 1),
			 0);
	assert_int_equal(inbox_n(f->st, f->bob), 3);
	const char *tomb = "{\"id\":\"" MAL "/n/5\",\"type\":\"Tombstone\"}";
	/* by eve: only eve's own copy goes */
	struct store_fx fx[] = {
		{ .kind = STORE_FX_OBJECT_DELETE, .actor = EVE, .object_id = MAL "/n/5", .json = tomb },
		{ .kind = STORE_FX_OBJECT_PURGE, .actor = EVE, .object_id = MAL "/n/5", .json = tomb },
	};
	assert_int_equal(apply(f->st, &fx[1], 1), 0);
	assert_true(stored_has(f->st, MAL "/c/5", "secret"));
	assert_true(stored_has(f->st, MAL "/u/5", "edited"));
	assert_true(stored_has(f->st, EVE "/a/5", "Tombstone"));
	assert_int_equal(inbox_n(f->st, f->alice), 1);
	assert_int_equal(inbox_n(f->st, f->bob), 2);
	/* her Delete of mallory's note is refused as a whole (not the owner) */
	assert_int_equal(apply(f->st, fx, 2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	/* by the owner */
	fx[0].actor = fx[1].actor = MAL;
	assert_int_equal(apply(f->st, fx, 2), 0);
	assert_false(stored_has(f->st, MAL "/c/5", "secret"));
	assert_true(stored_has(f->st, MAL "/c/5", "Tombstone"));
	assert_false(stored_has(f->st, MAL "/u/5", "edited"));
	assert_true(stored_has(f->st, MAL "/u/5", "\"type\":\"Update\""));
	assert_true(stored_has(f->st, MAL "/c/6", "other"));
	assert_int_equal(inbox_n(f->st, f->alice), 0);
	assert_int_equal(inbox_n(f->st, f->bob), 1); /* mallory's other note */
	struct store_item it = { 0 };
	assert_int_equal(store_object_get(f->st, MAL "/n/5", f->alice, &it), 0);
	assert_null(strstr(it.json, "secret"));
	store_item_clear(&it);
	/* an object never stored: nothing to purge, no error */
	fx[1].object_id = MAL "/n/404";
	assert_int_equal(apply(f->st, &fx[1], 1), 0);
	fx[1].json = NULL;
	assert_int_equal(apply(f->st, &fx[1], 1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
}

/* An effect that fails rolls back the whole transaction: the activity is
 * not stored and no inbox row appears. */
static void test_one_transaction(void **state)
{
	struct store_fixture *f = *state;
	int64_t a[] = { f->alice };
	struct store_fx bad = { .kind = STORE_FX_FOLLOWER_ACCEPT, .user = f->alice,
				.follow_id = "https://nope" };
	struct store_inbound in = {
		.id = MAL "/c/4", .actor = MAL, .json = "{}", .audience = a, .n_audience = 1,
		.inbox = a, .n_inbox = 1, .published = 1, .fx = &bad, .n_fx = 1,
	};
	assert_int_equal(store_inbound_commit(f->st, &in, NULL, NULL), -1);
	assert_int_equal(inbox_n(f->st, f->alice), 0);
	assert_int_equal(store_activity_lookup(f->st, MAL "/c/4", NULL, NULL, NULL), -1);
	/* with a local reply stored in the same transaction */
	struct store_new_activity reply = { .id = "https://b/activities/r1", .json = "{}",
					    .author = f->alice, .published = 1 };
	in.n_fx = 0;
	in.reply = &reply;
	assert_int_equal(store_inbound_commit(f->st, &in, NULL, NULL), 0);
	int64_t author = 0;
	char *actor = (char *)"x";
	assert_int_equal(store_activity_lookup(f->st, "https://b/activities/r1", &author, &actor,
					       NULL),
			 0);
	assert_int_equal(author, f->alice);
	assert_null(actor);
	/* refusal of bad arguments */
	struct store_inbound bad_in = { .id = "x" };
	assert_int_equal(store_inbound_commit(f->st, &bad_in, NULL, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dedup_per_inbox, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_object_owner_only, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_followers_and_follows, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_purge_and_blocks, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_object_purge, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_one_transaction, store_fixture_setup, store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
