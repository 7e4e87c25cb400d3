/* Unit tests of the outbound delivery queue: the retry policy (status
 * classes, backoff bounds and jitter, Retry-After, expiry) and the store's
 * queue (enqueue in the activity's transaction, duplicates collapsed,
 * claiming with skips, final states, actor resolution merging into an
 * existing inbox, per-host deferral, remembered signature scheme, reopen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/delivery.h"
#include "store/store.h"

/* ---- Policy ------------------------------------------------------------------ */

static void test_classify(void **state)
{
	(void)state;
	for (long s = 200; s < 300; s++)
		assert_int_equal(delivery_classify_status(s), DLV_DONE);
	const long perm[] = { 400, 403, 404, 405, 410, 413, 415, 422, 451, 499 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(perm); i++)
		assert_int_equal(delivery_classify_status(perm[i]), DLV_PERMANENT);
	const long retry[] = { 401, 408, 429, 500, 502, 503, 504, 301, 302, 100, 0 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(retry); i++)
		assert_int_equal(delivery_classify_status(retry[i]), DLV_RETRY);
	/* a refused connection is never permanent; a refused address is */
	assert_int_equal(delivery_classify_error(AIM_ERR_REMOTE), DLV_RETRY);
	assert_int_equal(delivery_classify_error(AIM_ERR_TIMEOUT), DLV_RETRY);
	assert_int_equal(delivery_classify_error(AIM_ERR_LIMIT), DLV_RETRY);
	assert_int_equal(delivery_classify_error(AIM_ERR_DENIED), DLV_PERMANENT);
	assert_int_equal(delivery_classify_error(AIM_ERR_UNSUPPORTED), DLV_PERMANENT);
	assert_int_equal(delivery_classify_error(AIM_ERR_NOTFOUND), DLV_PERMANENT);
}

static void test_backoff_defaults(void **state)
{
	(void)state;
	struct delivery_config c;
	delivery_config_default(&c);
	/* the first retry comes within a minute */
	for (uint64_t r = 0; r < 1000; r += 7) {
		int64_t d = delivery_backoff_ms(&c, 1, r * 0x9e3779b97f4a7c15ULL);
		assert_true(d >= 15000 && d <= 30000 && d < 60000);
	}
	/* doubling, never a gap over 12 h, always positive */
	int64_t prev_max = 0;
	for (int a = 1; a < 100; a++) {
		int64_t lo = delivery_backoff_ms(&c, a, 0);
		int64_t hi = delivery_backoff_ms(&c, a, UINT64_MAX - 1);
		assert_true(lo > 0 && lo <= hi && hi <= 12 * 3600 * 1000LL);
		assert_true(hi >= prev_max / 2);
		prev_max = hi;
	}
	assert_int_equal(delivery_backoff_ms(&c, 60, 12345) <= c.retry_max_ms, 1);
	/* jitter: not all the same */
	int64_t first = delivery_backoff_ms(&c, 5, 1);
	bool differs = false;
	for (uint64_t r = 2; r < 50; r++)
		differs |= delivery_backoff_ms(&c, 5, r * 7919) != first;
	assert_true(differs);
	/* the whole schedule reaches 72 h before giving up */
	assert_true(c.retry_expire_ms >= 72 * 3600 * 1000LL);
}

static void test_retry_after(void **state)
{
	(void)state;
	int64_t now = 1700000000000LL;
	assert_int_equal(delivery_retry_after_ms("120", now), 120000);
	assert_int_equal(delivery_retry_after_ms(" 0 ", now), 0);
	assert_int_equal(delivery_retry_after_ms(NULL, now), -1);
	assert_int_equal(delivery_retry_after_ms("", now), -1);
	assert_int_equal(delivery_retry_after_ms("-5", now), -1);
	assert_int_equal(delivery_retry_after_ms("12abc", now), -1);
	assert_int_equal(delivery_retry_after_ms("soon", now), -1);
	char date[30];
	aim_time_http(now / 1000 + 90, date);
	assert_int_equal(delivery_retry_after_ms(date, now), 90000);
	aim_time_http(now / 1000 - 90, date);
	assert_int_equal(delivery_retry_after_ms(date, now), 0);
}

static void test_outcome(void **state)
{
	(void)state;
	struct delivery_config c;
	delivery_config_default(&c);
	struct store_delivery d = { .id = 1, .attempts = 2, .created_ms = 1000000 };
	struct store_delivery_update u;
	int64_t now = 2000000;
	delivery_outcome(&c, &d, now, DLV_DONE, 202, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_DELIVERED);
	assert_int_equal(u.attempts, 3);
	assert_int_equal(u.last_status, 202);
	delivery_outcome(&c, &d, now, DLV_PERMANENT, 410, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_FAILED);
	delivery_outcome(&c, &d, now, DLV_RETRY, 503, -1, 1, "x", &u);
	assert_int_equal(u.state, STORE_DLV_PENDING);
	assert_true(u.next_ms > now && u.next_ms <= now + 4 * c.retry_base_ms);
	assert_string_equal(u.last_error, "x");
	/* Retry-After longer than the backoff wins, capped at the longest gap */
	delivery_outcome(&c, &d, now, DLV_RETRY, 429, 3600000, 1, NULL, &u);
	assert_int_equal(u.next_ms, now + 3600000);
	delivery_outcome(&c, &d, now, DLV_RETRY, 429, 100LL * 3600000, 1, NULL, &u);
	assert_int_equal(u.next_ms, now + c.retry_max_ms);
	/* never scheduled past the deadline: one last attempt there */
	int64_t deadline = d.created_ms + c.retry_expire_ms;
	delivery_outcome(&c, &d, deadline - 10, DLV_RETRY, 500, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_PENDING);
	assert_int_equal(u.next_ms, deadline);
	/* and expired when that one fails */
	delivery_outcome(&c, &d, deadline, DLV_RETRY, 500, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_EXPIRED);
}

/* ---- Store queue ------------------------------------------------------------------ */

struct fx {
	char dir[64];
	char path[96];
	struct store *st;
	int64_t alice;
};

static const uint8_t edpub[32] = { 1, 2, 3 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/aim-test-dlv-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/aim.db", f->dir);
	assert_int_equal(store_open_sqlite(f->path, &f->st), 0);
	struct store_new_user u = { "alice", "PUB", "PRIV", edpub, "EDPRIV" };
	assert_int_equal(store_user_add(f->st, &u, &f->alice), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->st);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

struct collect {
	struct store_delivery v[16];
	size_t n;
};

static int collect_cb(void *ctx, const struct store_delivery *d)
{
	struct collect *c = ctx;
	assert_true(c->n < 16);
	struct store_delivery *o = &c->v[c->n++];
	*o = *d;
	o->activity_id = strdup(d->activity_id);
	o->inbox = d->inbox ? strdup(d->inbox) : NULL;
	o->actor = d->actor ? strdup(d->actor) : NULL;
	o->host = strdup(d->host);
	o->body = NULL;
	o->last_error = d->last_error ? strdup(d->last_error) : NULL;
	return 0;
}

static void list(struct store *st, struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		store_delivery_clear(&c->v[i]);
	c->n = 0;
	assert_int_equal(store_delivery_list(st, collect_cb, c), 0);
}

static void clear(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		store_delivery_clear(&c->v[i]);
	c->n = 0;
}

static void add_activity(struct fx *f, const char *id, const struct store_new_delivery *v, size_t n,
			 int64_t now_ms)
{
	struct store_outgoing o = { .activity_id = id, .signer = f->alice, .body = "{\"id\":1}",
				    .v = v, .n = n, .now_ms = now_ms };
	struct store_new_activity a = { .id = id, .json = "{}", .author = f->alice,
					.published = 1, .outgoing = &o };
	int64_t seq;
	assert_int_equal(store_activity_add(f->st, &a, &seq), 0);
}

static void test_enqueue_with_activity(void **state)
{
	struct fx *f = *state;
	const struct store_new_delivery v[] = {
		{ .inbox = "https://b.test/inbox", .host = "b.test" },
		{ .inbox = "https://b.test/inbox", .host = "b.test" }, /* duplicate */
		{ .actor = "https://c.test/users/x", .host = "c.test" },
		{ .actor = "https://c.test/users/x", .host = "c.test" }, /* duplicate */
		{ .actor = "https://c.test/users/y", .host = "c.test", .personal = true },
	};
	add_activity(f, "https://a.test/activities/1", v, AIM_ARRAY_LEN(v), 1000);
	struct collect c = { 0 };
	list(f->st, &c);
	assert_int_equal(c.n, 3);
	for (size_t i = 0; i < c.n; i++) {
		assert_int_equal(c.v[i].state, STORE_DLV_PENDING);
		assert_int_equal(c.v[i].attempts, 0);
		assert_int_equal(c.v[i].next_ms, 1000);
		assert_int_equal(c.v[i].signer, f->alice);
		assert_string_equal(c.v[i].activity_id, "https://a.test/activities/1");
	}
	assert_true(c.v[2].personal);
	assert_null(c.v[1].inbox);

	/* a failed activity insert leaves no deliveries behind */
	struct store_outgoing o = { .activity_id = "dup", .signer = f->alice, .body = "{}",
				    .v = v, .n = 1 };
	struct store_new_activity a = { .id = "https://a.test/activities/1", .json = "{}",
					.author = f->alice, .published = 1, .outgoing = &o };
	int64_t seq;
	assert_int_equal(store_activity_add(f->st, &a, &seq), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	list(f->st, &c);
	assert_int_equal(c.n, 3);
	clear(&c);
}

static void test_claim_finish_resolve(void **state)
{
	struct fx *f = *state;
	const struct store_new_delivery v[] = {
		{ .inbox = "https://b.test/inbox", .host = "b.test" },
		{ .actor = "https://b.test/users/x", .host = "b.test" },
		{ .actor = "https://c.test/users/y", .host = "c.test" },
	};
	add_activity(f, "https://a.test/activities/2", v, AIM_ARRAY_LEN(v), 1000);
	struct store_delivery d;
	/* nothing due before its time */
	assert_int_equal(store_delivery_next(f->st, 999, NULL, 0, NULL, 0, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	int64_t e = 0;
	assert_int_equal(store_delivery_earliest(f->st, &e), 0);
	assert_int_equal(e, 1000);
	/* claim the first, skip it and its host */
	assert_int_equal(store_delivery_next(f->st, 1000, NULL, 0, NULL, 0, &d), 0);
	assert_string_equal(d.inbox, "https://b.test/inbox");
	assert_string_equal(d.body, "{\"id\":1}");
	int64_t first = d.id;
	store_delivery_clear(&d);
	const char *skip_host[] = { "b.test" };
	assert_int_equal(store_delivery_next(f->st, 1000, &first, 1, skip_host, 1, &d), 0);
	assert_string_equal(d.host, "c.test");
	store_delivery_clear(&d);
	/* x on b.test resolves to the shared inbox already targeted: merged */
	assert_int_equal(store_delivery_next(f->st, 1000, &first, 1, NULL, 0, &d), 0);
	assert_string_equal(d.actor, "https://b.test/users/x");
	bool merged = false;
	assert_int_equal(store_delivery_resolve(f->st, d.id, "https://b.test/inbox", "b.test",
						&merged), 0);
	assert_true(merged);
	store_delivery_clear(&d);
	/* y resolves to its own inbox */
	assert_int_equal(store_delivery_next(f->st, 1000, &first, 1, NULL, 0, &d), 0);
	assert_string_equal(d.actor, "https://c.test/users/y");
	assert_int_equal(store_delivery_resolve(f->st, d.id, "https://c.test/users/y/inbox", "c.test",
						&merged), 0);
	assert_false(merged);
	int64_t second = d.id;
	store_delivery_clear(&d);
	struct collect c = { 0 };
	list(f->st, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[1].inbox, "https://c.test/users/y/inbox");
	clear(&c);

	/* outcomes: delivered is final */
	struct store_delivery_update u = { .state = STORE_DLV_DELIVERED, .attempts = 1,
					   .next_ms = 1000, .last_status = 202 };
	assert_int_equal(store_delivery_finish(f->st, first, &u), 0);
	assert_int_equal(store_delivery_finish(f->st, first, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	/* a retry reschedules */
	u = (struct store_delivery_update){ .state = STORE_DLV_PENDING, .attempts = 1,
					    .next_ms = 5000, .last_status = 503,
					    .last_error = "busy" };
	assert_int_equal(store_delivery_finish(f->st, second, &u), 0);
	assert_int_equal(store_delivery_next(f->st, 4999, NULL, 0, NULL, 0, &d), -1);
	assert_int_equal(store_delivery_earliest(f->st, &e), 0);
	assert_int_equal(e, 5000);
	/* an open circuit pushes the host's rows back */
	assert_int_equal(store_delivery_defer_host(f->st, "c.test", 9000), 0);
	assert_int_equal(store_delivery_next(f->st, 8999, NULL, 0, NULL, 0, &d), -1);
	assert_int_equal(store_delivery_next(f->st, 9000, NULL, 0, NULL, 0, &d), 0);
	assert_int_equal(d.attempts, 1);
	assert_int_equal(d.last_status, 503);
	assert_string_equal(d.last_error, "busy");
	store_delivery_clear(&d);
	u = (struct store_delivery_update){ .state = STORE_DLV_EXPIRED, .attempts = 2,
					    .next_ms = 9000 };
	assert_int_equal(store_delivery_finish(f->st, second, &u), 0);
	assert_int_equal(store_delivery_earliest(f->st, &e), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);

	/* states survive a reopen */
	store_close(f->st);
	assert_int_equal(store_open_sqlite(f->path, &f->st), 0);
	list(f->st, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.v[0].state, STORE_DLV_DELIVERED);
	assert_int_equal(c.v[0].last_status, 202);
	assert_int_equal(c.v[1].state, STORE_DLV_EXPIRED);
	assert_string_equal(store_delivery_state_name(c.v[1].state), "expired");
	clear(&c);
}

static void test_host_scheme(void **state)
{
	struct fx *f = *state;
	int s = -1;
	assert_int_equal(store_host_scheme_get(f->st, "b.test", &s), 0);
	assert_int_equal(s, DLV_SCHEME_UNKNOWN);
	assert_int_equal(store_host_scheme_set(f->st, "b.test", DLV_SCHEME_RFC9421), 0);
	assert_int_equal(store_host_scheme_set(f->st, "b.test", DLV_SCHEME_CAVAGE), 0);
	assert_int_equal(store_host_scheme_get(f->st, "b.test", &s), 0);
	assert_int_equal(s, DLV_SCHEME_CAVAGE);
	assert_int_equal(store_host_scheme_get(f->st, "c.test", &s), 0);
	assert_int_equal(s, DLV_SCHEME_UNKNOWN);
}

static void test_refusals(void **state)
{
	struct fx *f = *state;
	const struct store_new_delivery bad[] = { { .host = "b.test" } };
	struct store_outgoing o = { .activity_id = "x", .signer = f->alice, .body = "{}",
				    .v = bad, .n = 1 };
	assert_int_equal(store_delivery_enqueue(f->st, &o), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	o.signer = 0;
	assert_int_equal(store_delivery_enqueue(f->st, &o), -1);
	struct store_delivery_update u = { .state = 9 };
	assert_int_equal(store_delivery_finish(f->st, 1, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	struct collect c = { 0 };
	list(f->st, &c);
	assert_int_equal(c.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_backoff_defaults),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test_setup_teardown(test_enqueue_with_activity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_finish_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_scheme, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
