/* Unit tests of the store's channel operations (sqlite_channels.c): a hub
 * change is one transaction (the compare-and-set of the hub state, the
 * channel row, the members, the outbox row, the activities with their
 * deliveries), a stale version writes nothing; the outbox pages after a
 * sequence; on a member's server, Announces enter the members' inboxes in
 * sequence order (one that comes early is held), duplicates are dropped
 * and a channel with no local member is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"
#include "store_fixture.h"

static int count_cb(void *ctx, const struct store_channel_member *m)
{
	(void)m;
	(*(size_t *)ctx)++;
	return 0;
}

static void test_apply_and_conflict(void **state)
{
	struct store_fixture *f = *state;
	struct store_channel row = { .kind = STORE_CHANNEL, .actor_user = f->carol,
				     .owner = f->alice, .name = "c", .policy = "owner" };
	struct store_channel_member add[] = {
		{ "https://a.test/users/alice", NULL, NULL, f->alice },
		{ "https://b.test/users/bob", "https://b.test/users/bob/inbox", "https://b.test/inbox", 0 },
	};
	struct store_channel_change c = { .channel = "ch1", .create = &row, .expected = 0,
					  .state = (const uint8_t *)"s1", .state_len = 2,
					  .add = add, .n_add = 2 };
	assert_int_equal(store_channel_apply(f->st, &c), 0);
	struct store_channel got;
	assert_int_equal(store_channel_get(f->st, "ch1", &got), 0);
	assert_int_equal(got.owner, f->alice);
	assert_string_equal(got.policy, "owner");
	store_channel_clear(&got);
	/* a change from the version read: an Announce of sequence 1 and a delivery */
	struct store_new_delivery dv = { .inbox = "https://b.test/inbox", .host = "b.test" };
	struct store_outgoing og = { .activity_id = "https://a.test/channels/ch1/announces/1",
				     .signer = f->carol, .body = "{}", .v = &dv, .n = 1, .now_ms = 1 };
	struct store_new_activity act = { .id = og.activity_id, .json = "{}", .author = f->carol,
					  .inbox = &f->alice, .n_inbox = 1, .outgoing = &og };
	const char *rm[] = { "https://b.test/users/bob" };
	struct store_channel_change c2 = { .channel = "ch1", .expected = 1,
					   .state = (const uint8_t *)"s2", .state_len = 2,
					   .remove = rm, .n_remove = 1, .seq = 1,
					   .announce_id = og.activity_id, .announce_json = "{\"n\":1}",
					   .acts = &act, .n_acts = 1 };
	/* the same change from a stale version: nothing written */
	struct store_channel_change stale = c2;
	stale.expected = 0;
	assert_int_equal(store_channel_apply(f->st, &stale), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	size_t n = 0;
	assert_int_equal(store_channel_members(f->st, "ch1", count_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_channel_apply(f->st, &c2), 0);
	n = 0;
	assert_int_equal(store_channel_members(f->st, "ch1", count_cb, &n), 0);
	assert_int_equal(n, 1);
	/* applied twice: the version moved, a conflict, and the outbox row stays one */
	assert_int_equal(store_channel_apply(f->st, &c2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	int64_t v = 0;
	uint8_t *val = NULL;
	size_t len = 0;
	assert_int_equal(store_state_get(f->st, "hub", "ch1", &v, &val, &len), 0);
	assert_int_equal(v, 2);
	assert_memory_equal(val, "s2", 2);
	free(val);
	struct store_range r = { .limit = 10 };
	struct store_page pg;
	assert_int_equal(store_channel_outbox_page(f->st, "ch1", 0, &r, &pg), 0);
	assert_int_equal(pg.n, 1);
	assert_int_equal(pg.items[0].cursor, 1);
	store_page_clear(&pg);
	assert_int_equal(store_channel_outbox_page(f->st, "ch1", 1, &r, &pg), 0);
	assert_int_equal(pg.n, 0);
	store_page_clear(&pg);
}

/* An application message leaves the hub state alone (keep_state): the
 * version read is checked, nothing rewritten; the outbox's last sequence is
 * the authority, and a sequence already taken is a conflict. */
static void test_keep_state_and_sequence(void **state)
{
	struct store_fixture *f = *state;
	struct store_channel row = { .kind = STORE_CHANNEL, .actor_user = f->carol,
				     .owner = f->alice, .name = "m", .policy = "owner" };
	struct store_channel_change c = { .channel = "ch2", .create = &row, .expected = 0,
					  .state = (const uint8_t *)"s1", .state_len = 2 };
	assert_int_equal(store_channel_apply(f->st, &c), 0);
	int64_t last = 7;
	assert_int_equal(store_channel_last_seq(f->st, "ch2", &last), 0);
	assert_int_equal(last, 0);
	char ids[4][64];
	for (int i = 1; i <= 3; i++) {
		snprintf(ids[i], sizeof ids[i], "https://a.test/channels/ch2/announces/%d", i);
		struct store_channel_change m = { .channel = "ch2", .expected = 1, .keep_state = true,
						  .seq = i, .announce_id = ids[i],
						  .announce_json = "{}" };
		assert_int_equal(store_channel_apply(f->st, &m), 0);
	}
	assert_int_equal(store_channel_last_seq(f->st, "ch2", &last), 0);
	assert_int_equal(last, 3);
	/* the state and its version as they were */
	int64_t v = 0;
	uint8_t *val = NULL;
	size_t len = 0;
	assert_int_equal(store_state_get(f->st, "hub", "ch2", &v, &val, &len), 0);
	assert_int_equal(v, 1);
	assert_memory_equal(val, "s1", 2);
	free(val);
	/* a sequence taken (two messages read at one sequence): a conflict,
	 * nothing written, for a message and for a state change alike */
	struct store_channel_change dup = { .channel = "ch2", .expected = 1, .keep_state = true,
					    .seq = 3, .announce_id = "https://a.test/x/3b",
					    .announce_json = "{}" };
	assert_int_equal(store_channel_apply(f->st, &dup), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	struct store_channel_change cm = { .channel = "ch2", .expected = 1,
					   .state = (const uint8_t *)"s2", .state_len = 2, .seq = 2,
					   .announce_id = "https://a.test/x/2b", .announce_json = "{}" };
	assert_int_equal(store_channel_apply(f->st, &cm), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(store_state_get(f->st, "hub", "ch2", &v, &val, &len), 0);
	assert_int_equal(v, 1);
	free(val);
	/* a message read before a commit moved the version: a conflict */
	cm.seq = 4;
	assert_int_equal(store_channel_apply(f->st, &cm), 0);
	struct store_channel_change late = { .channel = "ch2", .expected = 1, .keep_state = true,
					     .seq = 5, .announce_id = "https://a.test/x/5",
					     .announce_json = "{}" };
	assert_int_equal(store_channel_apply(f->st, &late), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	late.expected = 2;
	assert_int_equal(store_channel_apply(f->st, &late), 0);
	assert_int_equal(store_state_get(f->st, "hub", "ch2", &v, &val, &len), 0);
	assert_int_equal(v, 2);
	assert_memory_equal(val, "s2", 2);
	free(val);
}

static void test_receive_in_order(void **state)
{
	struct store_fixture *f = *state;
	const char *ch = "https://a.test/channels/x";
	struct store_channel_recv m = { ch, 1, "https://a.test/channels/x/announces/1", "{}", 1, NULL };
	size_t d = 9;
	/* nobody here is a member */
	assert_int_equal(store_channel_receive(f->st, &m, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	assert_int_equal(store_channel_join(f->st, ch, f->bob, true), 0);
	assert_int_equal(store_channel_join(f->st, ch, f->carol, true), 0);
	int64_t *users = NULL;
	size_t nu = 0;
	assert_int_equal(store_channel_joined(f->st, ch, &users, &nu), 0);
	assert_int_equal(nu, 2);
	free(users);
	assert_int_equal(store_channel_receive(f->st, &m, &d), 0);
	assert_int_equal(d, 2);
	/* 3 before 2: held, then both in order */
	int64_t held_after = -1;
	struct store_channel_recv m3 = { ch, 3, "https://a.test/channels/x/announces/3", "{}", 1,
					 &held_after };
	assert_int_equal(store_channel_receive(f->st, &m3, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(held_after, 1); /* the receiver pages the outbox after 1 */
	struct store_channel_recv m2 = { ch, 2, "https://a.test/channels/x/announces/2", "{}", 1, NULL };
	assert_int_equal(store_channel_receive(f->st, &m2, &d), 0);
	assert_int_equal(d, 4);
	struct store_range r = { .limit = 10 };
	struct store_page pg;
	assert_int_equal(store_inbox_page(f->st, f->bob, &r, &pg), 0);
	assert_int_equal(pg.n, 3); /* newest first: 3, 2, 1 */
	assert_true(pg.items[0].cursor > pg.items[1].cursor);
	store_page_clear(&pg);
	/* a duplicate: nothing */
	assert_int_equal(store_channel_receive(f->st, &m2, &d), 0);
	assert_int_equal(d, 0);
	/* carol leaves: bob alone receives */
	assert_int_equal(store_channel_join(f->st, ch, f->carol, false), 0);
	struct store_channel_recv m4 = { ch, 4, "https://a.test/channels/x/announces/4", "{}", 1, NULL };
	assert_int_equal(store_channel_receive(f->st, &m4, &d), 0);
	assert_int_equal(d, 1);
}

/* A channel that moved (docs/channels.md): the memberships, the last
 * sequence received and a held Announce pass to the new actor, whose next
 * Announce continues the sequence. */
static void test_moved(void **state)
{
	struct store_fixture *f = *state;
	const char *old = "https://a.test/channels/o", *nw = "https://b.test/channels/n";
	assert_int_equal(store_channel_moved(f->st, old, nw), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(store_channel_join(f->st, old, f->bob, true), 0);
	assert_int_equal(store_channel_join(f->st, old, f->carol, true), 0);
	size_t d = 0;
	struct store_channel_recv m1 = { old, 1, "https://a.test/channels/o/announces/1", "{}", 1,
					 NULL };
	assert_int_equal(store_channel_receive(f->st, &m1, &d), 0);
	assert_int_equal(d, 2);
	/* 3 comes before 2 and is held */
	struct store_channel_recv m3 = { old, 3, "https://a.test/channels/o/announces/3", "{}", 1,
					 NULL };
	assert_int_equal(store_channel_receive(f->st, &m3, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(store_channel_moved(f->st, old, nw), 0);
	int64_t *users = NULL;
	size_t nu = 9;
	assert_int_equal(store_channel_joined(f->st, old, &users, &nu), 0);
	assert_int_equal(nu, 0);
	free(users);
	assert_int_equal(store_channel_joined(f->st, nw, &users, &nu), 0);
	assert_int_equal(nu, 2);
	free(users);
	/* the old actor's Announces are nobody's any more */
	struct store_channel_recv late = { old, 2, "https://a.test/channels/o/announces/2", "{}", 1,
					   NULL };
	assert_int_equal(store_channel_receive(f->st, &late, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	/* the new actor's 2 fills the gap: 2 and the held 3 */
	struct store_channel_recv n2 = { nw, 2, "https://b.test/channels/n/announces/2", "{}", 1,
					 NULL };
	assert_int_equal(store_channel_receive(f->st, &n2, &d), 0);
	assert_int_equal(d, 4);
	struct store_channel_recv n4 = { nw, 4, "https://b.test/channels/n/announces/4", "{}", 1,
					 NULL };
	assert_int_equal(store_channel_receive(f->st, &n4, &d), 0);
	assert_int_equal(d, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_and_conflict, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_keep_state_and_sequence, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_receive_in_order, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_moved, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
