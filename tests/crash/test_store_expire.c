/* The store operation behind the outage test's expiry (tests/crash/
 * test_outage.py): store_delivery_expire_overdue records as expired every
 * pending row created before a time that no attempt holds, and nothing else
 * (a leased row waits for its attempt, a newer row stays pending, a final
 * row stays final). Runs on the back end AIM_TEST_STORE names; one without
 * the operation must answer 0 rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"
#include "store_fixture.h"

static void add(struct store_fixture *f, const char *id, const char *host, int64_t now_ms)
{
	char inbox[128];
	snprintf(inbox, sizeof inbox, "https://%s/inbox", host);
	const struct store_new_delivery v[] = { { .inbox = inbox, .host = host } };
	struct store_outgoing o = { .activity_id = id, .signer = f->alice, .body = "{}",
				    .v = v, .n = 1, .now_ms = now_ms };
	struct store_new_activity a = { .id = id, .json = "{}", .author = f->alice,
					.published = 1, .outgoing = &o };
	int64_t seq;
	assert_int_equal(store_activity_add(f->st, &a, &seq), 0);
}

struct states {
	int state[3];
	int attempts[3];
};

static int collect(void *ctx, const struct store_delivery *d)
{
	struct states *s = ctx;
	int i = d->activity_id[strlen(d->activity_id) - 1] - '1';
	if (i >= 0 && i < 3) {
		s->state[i] = d->state;
		s->attempts[i] = d->attempts;
	}
	return 0;
}

static struct states states(struct store *st)
{
	struct states s;
	memset(&s, -1, sizeof s);
	assert_int_equal(store_delivery_list(st, collect, &s), 0);
	return s;
}

static void test_expire_overdue(void **state)
{
	struct store_fixture *f = *state;
	add(f, "https://a.test/activities/1", "b.test", 1000);
	add(f, "https://a.test/activities/2", "c.test", 2000);
	add(f, "https://a.test/activities/3", "d.test", 3000);
	/* an attempt holds the oldest row */
	struct store_claim c = { .now_ms = 5000, .lease_ms = 10000, .per_host = 2 };
	struct store_delivery d;
	struct store_lease lease;
	assert_int_equal(store_delivery_claim(f->st, &c, &d, &lease), 0);
	assert_string_equal(d.activity_id, "https://a.test/activities/1");
	store_delivery_clear(&d);
	size_t n = 99;
	assert_int_equal(store_delivery_expire_overdue(f->st, 2500, 6000, &n), 0);
	struct states s = states(f->st);
	if (n == 0 && s.state[1] == STORE_DLV_PENDING) {
		/* a back end without the operation: nothing changed */
		assert_int_equal(s.state[0], STORE_DLV_PENDING);
		return;
	}
	assert_int_equal(n, 1);
	assert_int_equal(s.state[0], STORE_DLV_PENDING);  /* leased: waits for its attempt */
	assert_int_equal(s.state[1], STORE_DLV_EXPIRED);  /* overdue, not held */
	assert_int_equal(s.state[2], STORE_DLV_PENDING);  /* created after the bound */
	assert_int_equal(s.attempts[1], 0);
	/* once its lease has run out the held row goes too; again: no change */
	assert_int_equal(store_delivery_expire_overdue(f->st, 2500, 20000, &n), 0);
	assert_int_equal(n, 1);
	s = states(f->st);
	assert_int_equal(s.state[0], STORE_DLV_EXPIRED);
	assert_int_equal(s.state[2], STORE_DLV_PENDING);
	assert_int_equal(store_delivery_expire_overdue(f->st, 2500, 20000, &n), 0);
	assert_int_equal(n, 0);
	/* the lease of an expired row is stale */
	assert_int_not_equal(store_delivery_renew(f->st, &lease, 30000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_expire_overdue, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
