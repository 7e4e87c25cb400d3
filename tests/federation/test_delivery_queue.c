/* Unit tests of the outbound delivery queue: the retry policy (status
 * classes, backoff bounds and jitter, Retry-After, expiry) and the store's
 * queue (enqueue in the activity's transaction, duplicates collapsed,
 * claiming under a lease, stale leases, expiry, order per recipient and
 * per-host limits across store handles, two threads racing for rows, final
 * states, actor resolution merging into an existing inbox, per-host
 * deferral, remembered signature scheme, reopen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/delivery.h"
#include "store/store.h"
#include "store_fixture.h"

/* ---- Policy ------------------------------------------------------------------ */

static void test_classify(void **state)
{
	(void)state;
	for (long s = 200; s < 300; s++)
		assert_int_equal(aimd_delivery_classify_status(s), DLV_DONE);
	const long perm[] = { 400, 403, 404, 405, 410, 413, 415, 422, 451, 499 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(perm); i++)
		assert_int_equal(aimd_delivery_classify_status(perm[i]), DLV_PERMANENT);
	const long retry[] = { 401, 408, 429, 500, 502, 503, 504, 301, 302, 100, 0 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(retry); i++)
		assert_int_equal(aimd_delivery_classify_status(retry[i]), DLV_RETRY);
	/* a refused connection is never permanent; a refused address is */
	assert_int_equal(aimd_delivery_classify_error(AIM_ERR_REMOTE), DLV_RETRY);
	assert_int_equal(aimd_delivery_classify_error(AIM_ERR_TIMEOUT), DLV_RETRY);
	assert_int_equal(aimd_delivery_classify_error(AIM_ERR_LIMIT), DLV_RETRY);
	assert_int_equal(aimd_delivery_classify_error(AIM_ERR_DENIED), DLV_PERMANENT);
	assert_int_equal(aimd_delivery_classify_error(AIM_ERR_UNSUPPORTED), DLV_PERMANENT);
	assert_int_equal(aimd_delivery_classify_error(AIM_ERR_NOTFOUND), DLV_PERMANENT);
}

/* delivery.h "Signature scheme per host": cavage unless known to verify
 * RFC 9421; an older aimd's 2xx guess counts for nothing; a refusal sticks. */
static void test_scheme_policy(void **state)
{
	(void)state;
	assert_int_equal(aimd_delivery_sign_scheme(DLV_SCHEME_UNKNOWN), DLV_SCHEME_CAVAGE);
	assert_int_equal(aimd_delivery_sign_scheme(DLV_SCHEME_CAVAGE), DLV_SCHEME_CAVAGE);
	assert_int_equal(aimd_delivery_sign_scheme(DLV_SCHEME_LEGACY_2XX), DLV_SCHEME_CAVAGE);
	assert_int_equal(aimd_delivery_sign_scheme(DLV_SCHEME_RFC9421), DLV_SCHEME_RFC9421);
	assert_int_equal(aimd_delivery_sign_scheme(42), DLV_SCHEME_CAVAGE);
	assert_int_equal(aimd_delivery_scheme_learn_rfc9421(DLV_SCHEME_UNKNOWN), DLV_SCHEME_RFC9421);
	assert_int_equal(aimd_delivery_scheme_learn_rfc9421(DLV_SCHEME_LEGACY_2XX), DLV_SCHEME_RFC9421);
	assert_int_equal(aimd_delivery_scheme_learn_rfc9421(DLV_SCHEME_RFC9421), DLV_SCHEME_RFC9421);
	assert_int_equal(aimd_delivery_scheme_learn_rfc9421(DLV_SCHEME_CAVAGE), DLV_SCHEME_CAVAGE);
}

static void test_backoff_defaults(void **state)
{
	(void)state;
	struct delivery_config c;
	aimd_delivery_config_default(&c);
	/* the first retry comes within a minute */
	for (uint64_t r = 0; r < 1000; r += 7) {
		int64_t d = aimd_delivery_backoff_ms(&c, 1, r * 0x9e3779b97f4a7c15ULL);
		assert_true(d >= 15000 && d <= 30000 && d < 60000);
	}
	/* doubling, never a gap over 12 h, always positive */
	int64_t prev_max = 0;
	for (int a = 1; a < 100; a++) {
		int64_t lo = aimd_delivery_backoff_ms(&c, a, 0);
		int64_t hi = aimd_delivery_backoff_ms(&c, a, UINT64_MAX - 1);
		assert_true(lo > 0 && lo <= hi && hi <= 12 * 3600 * 1000LL);
		assert_true(hi >= prev_max / 2);
		prev_max = hi;
	}
	assert_int_equal(aimd_delivery_backoff_ms(&c, 60, 12345) <= c.retry_max_ms, 1);
	/* jitter: not all the same */
	int64_t first = aimd_delivery_backoff_ms(&c, 5, 1);
	bool differs = false;
	for (uint64_t r = 2; r < 50; r++)
		differs |= aimd_delivery_backoff_ms(&c, 5, r * 7919) != first;
	assert_true(differs);
	/* the whole schedule reaches 72 h before giving up */
	assert_true(c.retry_expire_ms >= 72 * 3600 * 1000LL);
}

static void test_retry_after(void **state)
{
	(void)state;
	int64_t now = 1700000000000LL;
	assert_int_equal(aimd_delivery_retry_after_ms("120", now), 120000);
	assert_int_equal(aimd_delivery_retry_after_ms(" 0 ", now), 0);
	assert_int_equal(aimd_delivery_retry_after_ms(NULL, now), -1);
	assert_int_equal(aimd_delivery_retry_after_ms("", now), -1);
	assert_int_equal(aimd_delivery_retry_after_ms("-5", now), -1);
	assert_int_equal(aimd_delivery_retry_after_ms("12abc", now), -1);
	assert_int_equal(aimd_delivery_retry_after_ms("soon", now), -1);
	char date[30];
	aim_time_http(now / 1000 + 90, date);
	assert_int_equal(aimd_delivery_retry_after_ms(date, now), 90000);
	aim_time_http(now / 1000 - 90, date);
	assert_int_equal(aimd_delivery_retry_after_ms(date, now), 0);
}

static void test_outcome(void **state)
{
	(void)state;
	struct delivery_config c;
	aimd_delivery_config_default(&c);
	struct store_delivery d = { .id = 1, .attempts = 2, .created_ms = 1000000 };
	struct store_delivery_update u;
	int64_t now = 2000000;
	aimd_delivery_outcome(&c, &d, now, DLV_DONE, 202, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_DELIVERED);
	assert_int_equal(u.attempts, 3);
	assert_int_equal(u.last_status, 202);
	aimd_delivery_outcome(&c, &d, now, DLV_PERMANENT, 410, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_FAILED);
	aimd_delivery_outcome(&c, &d, now, DLV_RETRY, 503, -1, 1, "x", &u);
	assert_int_equal(u.state, STORE_DLV_PENDING);
	assert_true(u.next_ms > now && u.next_ms <= now + 4 * c.retry_base_ms);
	assert_string_equal(u.last_error, "x");
	/* Retry-After longer than the backoff wins, capped at the longest gap */
	aimd_delivery_outcome(&c, &d, now, DLV_RETRY, 429, 3600000, 1, NULL, &u);
	assert_int_equal(u.next_ms, now + 3600000);
	aimd_delivery_outcome(&c, &d, now, DLV_RETRY, 429, 100LL * 3600000, 1, NULL, &u);
	assert_int_equal(u.next_ms, now + c.retry_max_ms);
	/* never scheduled past the deadline: one last attempt there */
	int64_t deadline = d.created_ms + c.retry_expire_ms;
	aimd_delivery_outcome(&c, &d, deadline - 10, DLV_RETRY, 500, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_PENDING);
	assert_int_equal(u.next_ms, deadline);
	/* and expired when that one fails */
	aimd_delivery_outcome(&c, &d, deadline, DLV_RETRY, 500, -1, 1, NULL, &u);
	assert_int_equal(u.state, STORE_DLV_EXPIRED);
}

/* ---- Store queue ------------------------------------------------------------------ */

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

static void add_activity(struct store_fixture *f, const char *id, const struct store_new_delivery *v, size_t n,
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
	struct store_fixture *f = *state;
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

/* A claim at now_ms with a lease of lease_ms and per_host live leases per host. */
static int claim_at(struct store *st, int64_t now_ms, int64_t lease_ms, unsigned per_host,
		    struct store_delivery *d, struct store_lease *l)
{
	struct store_claim c = { .now_ms = now_ms, .lease_ms = lease_ms, .per_host = per_host,
				 .probe_after = 3 };
	return store_delivery_claim(st, &c, d, l);
}

static void test_claim_finish_resolve(void **state)
{
	struct store_fixture *f = *state;
	const struct store_new_delivery v[] = {
		{ .inbox = "https://b.test/inbox", .host = "b.test" },
		{ .actor = "https://b.test/users/x", .host = "b.test" },
		{ .actor = "https://c.test/users/y", .host = "c.test" },
	};
	add_activity(f, "https://a.test/activities/2", v, AIM_ARRAY_LEN(v), 1000);
	struct store_delivery d;
	struct store_lease first, l, second;
	/* nothing due before its time */
	assert_int_equal(claim_at(f->st, 999, 60000, 2, &d, &l), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	int64_t e = 0;
	assert_int_equal(store_delivery_earliest(f->st, &e), 0);
	assert_int_equal(e, 1000);
	/* claim the first; with one lease per host, b.test is full */
	assert_int_equal(claim_at(f->st, 1000, 60000, 1, &d, &first), 0);
	assert_string_equal(d.inbox, "https://b.test/inbox");
	assert_string_equal(d.body, "{\"id\":1}");
	assert_int_equal(first.id, d.id);
	assert_int_equal(strlen(first.token), STORE_LEASE_TOKEN_LEN);
	assert_int_equal(first.until_ms, 61000);
	store_delivery_clear(&d);
	assert_int_equal(claim_at(f->st, 1000, 60000, 1, &d, &l), 0);
	assert_string_equal(d.host, "c.test");
	store_delivery_clear(&d);
	assert_int_equal(store_delivery_release(f->st, &l), 0);
	/* x on b.test resolves to the shared inbox already targeted: merged */
	assert_int_equal(claim_at(f->st, 1000, 60000, 2, &d, &l), 0);
	assert_string_equal(d.actor, "https://b.test/users/x");
	bool merged = false;
	assert_int_equal(store_delivery_resolve(f->st, &l, "https://b.test/inbox", "b.test",
						&merged), 0);
	assert_true(merged);
	store_delivery_clear(&d);
	/* y resolves to its own inbox */
	assert_int_equal(claim_at(f->st, 1000, 60000, 2, &d, &second), 0);
	assert_string_equal(d.actor, "https://c.test/users/y");
	assert_int_equal(store_delivery_resolve(f->st, &second, "https://c.test/users/y/inbox",
						"c.test", &merged), 0);
	assert_false(merged);
	store_delivery_clear(&d);
	struct collect c = { 0 };
	list(f->st, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[1].inbox, "https://c.test/users/y/inbox");
	clear(&c);

	/* outcomes: delivered is final */
	struct store_delivery_update u = { .state = STORE_DLV_DELIVERED, .attempts = 1,
					   .next_ms = 1000, .last_status = 202 };
	assert_int_equal(store_delivery_finish(f->st, &first, &u), 0);
	assert_int_equal(store_delivery_finish(f->st, &first, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	/* a retry reschedules */
	u = (struct store_delivery_update){ .state = STORE_DLV_PENDING, .attempts = 1,
					    .next_ms = 5000, .last_status = 503,
					    .last_error = "busy" };
	assert_int_equal(store_delivery_finish(f->st, &second, &u), 0);
	assert_int_equal(claim_at(f->st, 4999, 60000, 2, &d, &l), -1);
	assert_int_equal(store_delivery_earliest(f->st, &e), 0);
	assert_int_equal(e, 5000);
	/* an open circuit pushes the host's rows back */
	assert_int_equal(store_delivery_defer_host(f->st, "c.test", 9000), 0);
	assert_int_equal(claim_at(f->st, 8999, 60000, 2, &d, &l), -1);
	assert_int_equal(claim_at(f->st, 9000, 60000, 2, &d, &second), 0);
	assert_int_equal(d.attempts, 1);
	assert_int_equal(d.last_status, 503);
	assert_string_equal(d.last_error, "busy");
	store_delivery_clear(&d);
	u = (struct store_delivery_update){ .state = STORE_DLV_EXPIRED, .attempts = 2,
					    .next_ms = 9000 };
	assert_int_equal(store_delivery_finish(f->st, &second, &u), 0);
	assert_int_equal(store_delivery_earliest(f->st, &e), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);

	/* states survive a reopen */
	store_fixture_reopen(f);
	list(f->st, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.v[0].state, STORE_DLV_DELIVERED);
	assert_int_equal(c.v[0].last_status, 202);
	assert_int_equal(c.v[1].state, STORE_DLV_EXPIRED);
	assert_string_equal(store_delivery_state_name(c.v[1].state), "expired");
	clear(&c);
}

/* A lease keeps the row to its holder; once it runs out the row is claimable
 * again, and the old holder's calls fail with AIM_ERR_CONFLICT, changing
 * nothing. */
static void test_lease_stale_and_expiry(void **state)
{
	struct store_fixture *f = *state;
	const struct store_new_delivery v[] = {
		{ .inbox = "https://b.test/inbox", .host = "b.test" },
	};
	add_activity(f, "https://a.test/activities/l", v, 1, 1000);
	struct store_delivery d;
	struct store_lease l1, l2, other;
	assert_int_equal(claim_at(f->st, 1000, 500, 8, &d, &l1), 0);
	store_delivery_clear(&d);
	/* held: not claimable while the lease lives */
	assert_int_equal(claim_at(f->st, 1000, 500, 8, &d, &other), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(claim_at(f->st, 1499, 500, 8, &d, &other), -1);
	int64_t e = 0;
	assert_int_equal(store_delivery_earliest(f->st, &e), 0);
	assert_int_equal(e, 1500);
	/* renewed: still held past the first end */
	assert_int_equal(store_delivery_renew(f->st, &l1, 2000), 0);
	assert_int_equal(l1.until_ms, 2000);
	assert_int_equal(claim_at(f->st, 1600, 500, 8, &d, &other), -1);
	/* ran out: claimed again under another token */
	assert_int_equal(claim_at(f->st, 2000, 500, 8, &d, &l2), 0);
	assert_int_equal(l2.id, l1.id);
	assert_string_not_equal(l2.token, l1.token);
	assert_int_equal(d.attempts, 0);
	store_delivery_clear(&d);
	/* the first holder's lease is stale */
	struct store_delivery_update u = { .state = STORE_DLV_DELIVERED, .attempts = 1,
					   .next_ms = 2000, .last_status = 202 };
	assert_int_equal(store_delivery_finish(f->st, &l1, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	bool merged = false;
	assert_int_equal(store_delivery_resolve(f->st, &l1, "https://b.test/x", "b.test", &merged),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(store_delivery_renew(f->st, &l1, 9000), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(store_delivery_release(f->st, &l1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	struct collect c = { 0 };
	list(f->st, &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.v[0].state, STORE_DLV_PENDING);
	assert_int_equal(c.v[0].attempts, 0);
	assert_int_equal(c.v[0].last_status, 0);
	assert_string_equal(c.v[0].inbox, "https://b.test/inbox");
	/* and still held by the second */
	assert_int_equal(claim_at(f->st, 2100, 500, 8, &d, &other), -1);
	assert_int_equal(store_delivery_finish(f->st, &l2, &u), 0);
	list(f->st, &c);
	assert_int_equal(c.v[0].state, STORE_DLV_DELIVERED);
	clear(&c);
	/* a lease on no row at all */
	struct store_lease none = { .id = 999, .token = "x" };
	assert_int_equal(store_delivery_finish(f->st, &none, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	/* given back: claimable at once */
	add_activity(f, "https://a.test/activities/l2", v, 1, 3000);
	assert_int_equal(claim_at(f->st, 3000, 60000, 8, &d, &l1), 0);
	store_delivery_clear(&d);
	assert_int_equal(store_delivery_release(f->st, &l1), 0);
	assert_int_equal(claim_at(f->st, 3000, 60000, 8, &d, &l2), 0);
	assert_int_equal(l2.id, l1.id);
	store_delivery_clear(&d);
}

/* Per recipient, one signer's deliveries go out in order, across store
 * handles (processes) sharing the queue: the Undo waits while the Follow is
 * pending, leased or not. */
static void test_claim_order(void **state)
{
	struct store_fixture *f = *state;
	const struct store_new_delivery v[] = {
		{ .actor = "https://b.test/users/bea", .host = "b.test" },
	};
	add_activity(f, "https://a.test/follow", v, 1, 1000);
	add_activity(f, "https://a.test/undo", v, 1, 1000);
	struct store *other;
	assert_int_equal(store_fixture_open(f, &other), 0);
	struct store_delivery d;
	struct store_lease follow, l;
	assert_int_equal(claim_at(f->st, 1000, 500, 8, &d, &follow), 0);
	assert_string_equal(d.activity_id, "https://a.test/follow");
	store_delivery_clear(&d);
	/* the Follow is in flight: the Undo waits, in this process and another */
	assert_int_equal(claim_at(f->st, 1000, 500, 8, &d, &l), -1);
	assert_int_equal(claim_at(other, 1000, 500, 8, &d, &l), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	/* its holder died: the Follow, not the Undo, is claimed again */
	assert_int_equal(claim_at(other, 1500, 500, 8, &d, &follow), 0);
	assert_string_equal(d.activity_id, "https://a.test/follow");
	store_delivery_clear(&d);
	/* the Follow is retried later: the Undo still waits */
	struct store_delivery_update u = { .state = STORE_DLV_PENDING, .attempts = 1,
					   .next_ms = 4000, .last_status = 503 };
	assert_int_equal(store_delivery_finish(other, &follow, &u), 0);
	assert_int_equal(claim_at(f->st, 2000, 500, 8, &d, &l), -1);
	assert_int_equal(claim_at(f->st, 4000, 500, 8, &d, &follow), 0);
	assert_string_equal(d.activity_id, "https://a.test/follow");
	store_delivery_clear(&d);
	u = (struct store_delivery_update){ .state = STORE_DLV_DELIVERED, .attempts = 2,
					    .next_ms = 4000, .last_status = 202 };
	assert_int_equal(store_delivery_finish(f->st, &follow, &u), 0);
	assert_int_equal(claim_at(other, 4000, 500, 8, &d, &l), 0);
	assert_string_equal(d.activity_id, "https://a.test/undo");
	store_delivery_clear(&d);
	store_close(other);
}

/* The per-host limit counts every holder's live leases; after probe_after
 * failures in a row a host takes one at a time; an open circuit none. */
static void test_host_limits(void **state)
{
	struct store_fixture *f = *state;
	const struct store_new_delivery v[] = {
		{ .inbox = "https://b.test/users/1/inbox", .host = "b.test" },
		{ .inbox = "https://b.test/users/2/inbox", .host = "b.test" },
		{ .inbox = "https://b.test/users/3/inbox", .host = "b.test" },
	};
	add_activity(f, "https://a.test/activities/h", v, AIM_ARRAY_LEN(v), 1000);
	struct store *other;
	assert_int_equal(store_fixture_open(f, &other), 0);
	struct store_delivery d;
	struct store_lease l1, l2, l3;
	assert_int_equal(claim_at(f->st, 1000, 60000, 2, &d, &l1), 0);
	store_delivery_clear(&d);
	assert_int_equal(claim_at(other, 1000, 60000, 2, &d, &l2), 0);
	store_delivery_clear(&d);
	assert_int_equal(claim_at(f->st, 1000, 60000, 2, &d, &l3), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	/* three failures in a row (claim_at's probe_after): one at a time */
	unsigned n = 0;
	for (unsigned i = 1; i <= 3; i++) {
		assert_int_equal(store_host_failure(f->st, "b.test", true, 1000, &n), 0);
		assert_int_equal(n, i);
	}
	assert_int_equal(store_delivery_release(other, &l2), 0);
	assert_int_equal(claim_at(other, 1000, 60000, 2, &d, &l2), -1);
	assert_int_equal(store_delivery_release(f->st, &l1), 0);
	assert_int_equal(claim_at(other, 1000, 60000, 2, &d, &l1), 0);
	store_delivery_clear(&d);
	assert_int_equal(claim_at(f->st, 1000, 60000, 2, &d, &l2), -1);
	/* a success closes the circuit: the limit is per_host again */
	assert_int_equal(store_host_failure(f->st, "b.test", false, 1000, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(claim_at(f->st, 1000, 60000, 2, &d, &l2), 0);
	store_delivery_clear(&d);
	/* an open circuit: not even a row enqueued afterwards goes out */
	assert_int_equal(store_delivery_release(other, &l1), 0);
	assert_int_equal(store_delivery_release(f->st, &l2), 0);
	assert_int_equal(store_delivery_defer_host(f->st, "b.test", 5000), 0);
	add_activity(f, "https://a.test/activities/h2", v, 1, 1000);
	assert_int_equal(claim_at(f->st, 4999, 60000, 2, &d, &l1), -1);
	assert_int_equal(claim_at(f->st, 5000, 60000, 2, &d, &l1), 0);
	store_delivery_clear(&d);
	/* the scheme remembered for the host is untouched */
	int scheme = -1;
	assert_int_equal(store_host_scheme_get(f->st, "b.test", &scheme), 0);
	assert_int_equal(scheme, DLV_SCHEME_UNKNOWN);
	store_close(other);
}

/* Two threads, each with its own store handle, drain one queue: every row
 * is claimed exactly once. */
#define RACE_ROWS 40

struct racer {
	const struct store_fixture *f;
	int64_t got[RACE_ROWS];
	size_t n;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct store *st;
	if (store_fixture_open(r->f, &st) != 0)
		return NULL;
	struct store_delivery d;
	struct store_lease l;
	struct store_delivery_update u = { .state = STORE_DLV_DELIVERED, .attempts = 1,
					   .next_ms = 1000, .last_status = 202 };
	while (claim_at(st, 1000, 60000, 1000, &d, &l) == 0) {
		if (r->n < RACE_ROWS)
			r->got[r->n++] = d.id;
		store_delivery_clear(&d);
		if (store_delivery_finish(st, &l, &u) != 0)
			break;
	}
	store_close(st);
	return NULL;
}

static void test_claim_race(void **state)
{
	struct store_fixture *f = *state;
	struct store_new_delivery v[RACE_ROWS];
	char inbox[RACE_ROWS][64];
	for (size_t i = 0; i < RACE_ROWS; i++) {
		snprintf(inbox[i], sizeof inbox[i], "https://h%zu.test/inbox", i);
		v[i] = (struct store_new_delivery){ .inbox = inbox[i], .host = inbox[i] + 8 };
	}
	add_activity(f, "https://a.test/activities/race", v, RACE_ROWS, 1000);
	struct racer r[2] = { { .f = f }, { .f = f } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r[0].n + r[1].n, RACE_ROWS);
	int seen[RACE_ROWS + 1] = { 0 };
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < r[i].n; k++) {
			assert_true(r[i].got[k] >= 1 && r[i].got[k] <= RACE_ROWS);
			seen[r[i].got[k]]++;
		}
	for (size_t i = 1; i <= RACE_ROWS; i++)
		assert_int_equal(seen[i], 1);
}

/* One batch claim takes what the single claims would in turn: the per-host
 * limit and the order per recipient hold inside the batch. */
static void test_claim_batch(void **state)
{
	struct store_fixture *f = *state;
	const struct store_new_delivery v[] = {
		{ .inbox = "https://b.test/users/1/inbox", .host = "b.test" },
		{ .inbox = "https://b.test/users/2/inbox", .host = "b.test" },
		{ .inbox = "https://b.test/users/3/inbox", .host = "b.test" },
		{ .inbox = "https://c.test/inbox", .host = "c.test" },
		{ .inbox = "https://d.test/inbox", .host = "d.test" },
	};
	add_activity(f, "https://a.test/activities/b1", v, AIM_ARRAY_LEN(v), 1000);
	/* a later activity to c.test's inbox waits for the first */
	add_activity(f, "https://a.test/activities/b2", v + 3, 1, 1000);
	struct store_claim c = { .now_ms = 1000, .lease_ms = 60000, .per_host = 2,
				 .probe_after = 3 };
	struct store_delivery d[8];
	struct store_lease l[8];
	size_t n = 0;
	assert_int_equal(store_delivery_claim_batch(f->st, &c, 8, d, l, &n), 0);
	/* b.test 2 (its limit), c.test 1 (b2 waits for b1), d.test 1 */
	assert_int_equal(n, 4);
	unsigned per[3] = { 0 };
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(d[i].activity_id, "https://a.test/activities/b1");
		assert_string_equal(d[i].body, "{\"id\":1}");
		assert_int_equal(l[i].id, d[i].id);
		assert_int_equal(l[i].until_ms, 61000);
		per[d[i].host[0] - 'b']++;
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(l[i].token, l[k].token);
	}
	assert_int_equal(per[0], 2);
	assert_int_equal(per[1], 1);
	assert_int_equal(per[2], 1);
	/* nothing more is due while those leases live; max is respected */
	size_t m = 0;
	struct store_delivery e[1];
	struct store_lease el[1];
	assert_int_equal(store_delivery_claim_batch(f->st, &c, 8, e, el, &m), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(m, 0);

	/* one finish records them all; a stale lease fails its entry only */
	struct store_finish fin[4];
	struct store_lease stale = l[3];
	stale.token[0] = stale.token[0] == 'a' ? 'b' : 'a';
	for (size_t i = 0; i < n; i++) {
		fin[i] = (struct store_finish){
			.lease = i == 3 ? &stale : &l[i],
			.u = { .state = STORE_DLV_DELIVERED, .attempts = 1, .next_ms = 1000,
			       .last_status = 202 },
			.host = d[i].host,
		};
	}
	assert_int_equal(store_delivery_finish_batch(f->st, fin, n), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(fin[i].rc, 0);
	assert_int_equal(fin[3].rc, -1);
	assert_int_equal(fin[3].err, AIM_ERR_CONFLICT);
	/* the stale one is still pending and held; the other c.test row is
	 * free once b1's c.test row is delivered */
	struct collect col = { 0 };
	list(f->st, &col);
	unsigned delivered = 0, pending = 0;
	for (size_t i = 0; i < col.n; i++) {
		delivered += col.v[i].state == STORE_DLV_DELIVERED;
		pending += col.v[i].state == STORE_DLV_PENDING;
	}
	assert_int_equal(delivered, 3);
	assert_int_equal(pending, 3);
	clear(&col);
	for (size_t i = 0; i < n; i++)
		store_delivery_clear(&d[i]);
	/* max 1 takes one */
	assert_int_equal(store_delivery_claim_batch(f->st, &c, 1, e, el, &m), 0);
	assert_int_equal(m, 1);
	store_delivery_clear(&e[0]);
}

/* A batch finish counts each host's failures in order, opens a circuit when
 * a failure reaches open_after, and a success resets the count. */
static void test_finish_batch_breaker(void **state)
{
	struct store_fixture *f = *state;
	const struct store_new_delivery v[] = {
		{ .inbox = "https://b.test/users/1/inbox", .host = "b.test" },
		{ .inbox = "https://b.test/users/2/inbox", .host = "b.test" },
		{ .inbox = "https://b.test/users/3/inbox", .host = "b.test" },
		{ .inbox = "https://c.test/users/1/inbox", .host = "c.test" },
		{ .inbox = "https://c.test/users/2/inbox", .host = "c.test" },
	};
	add_activity(f, "https://a.test/activities/f1", v, AIM_ARRAY_LEN(v), 1000);
	struct store_claim c = { .now_ms = 1000, .lease_ms = 60000, .per_host = 8 };
	struct store_delivery d[8];
	struct store_lease l[8];
	size_t n = 0;
	assert_int_equal(store_delivery_claim_batch(f->st, &c, 8, d, l, &n), 0);
	assert_int_equal(n, 5);
	struct store_finish fin[5];
	for (size_t i = 0; i < n; i++) {
		bool b = d[i].host[0] == 'b';
		/* b.test fails three times; c.test fails then succeeds */
		bool fail = b || strstr(d[i].inbox, "/1/") != NULL;
		fin[i] = (struct store_finish){
			.lease = &l[i],
			.u = { .state = fail ? STORE_DLV_PENDING : STORE_DLV_DELIVERED,
			       .attempts = 1, .next_ms = 2000, .last_status = fail ? 503 : 202 },
			.host = d[i].host,
			.host_failure = fail,
			.open_after = 3,
			.open_until_ms = 9000,
		};
	}
	/* c.test's failure first, then its success */
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (d[k].host[0] == 'c' && fin[k].host_failure && !fin[i].host_failure) {
				struct store_finish t = fin[i];
				fin[i] = fin[k];
				fin[k] = t;
			}
	assert_int_equal(store_delivery_finish_batch(f->st, fin, n), 0);
	unsigned bn = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(fin[i].rc, 0);
		if (fin[i].host[0] == 'b') {
			bn++;
			assert_int_equal(fin[i].failures, bn);
			assert_true(fin[i].opened == (bn == 3));
		} else {
			assert_int_equal(fin[i].failures, fin[i].host_failure ? 1 : 0);
			assert_false(fin[i].opened);
		}
	}
	assert_int_equal(bn, 3);
	/* b.test's circuit is open until 9000; c.test's row is due at 2000 */
	struct store_claim later = { .now_ms = 8999, .lease_ms = 60000, .per_host = 8 };
	size_t m = 0;
	struct store_delivery e[8];
	struct store_lease el[8];
	assert_int_equal(store_delivery_claim_batch(f->st, &later, 8, e, el, &m), 0);
	assert_int_equal(m, 1);
	assert_string_equal(e[0].host, "c.test");
	store_delivery_clear(&e[0]);
	later.now_ms = 9000;
	assert_int_equal(store_delivery_claim_batch(f->st, &later, 8, e, el, &m), 0);
	assert_int_equal(m, 3);
	for (size_t i = 0; i < m; i++) {
		assert_string_equal(e[i].host, "b.test");
		store_delivery_clear(&e[i]);
	}
	for (size_t i = 0; i < n; i++)
		store_delivery_clear(&d[i]);
}

static void test_host_scheme(void **state)
{
	struct store_fixture *f = *state;
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
	struct store_fixture *f = *state;
	const struct store_new_delivery bad[] = { { .host = "b.test" } };
	struct store_outgoing o = { .activity_id = "x", .signer = f->alice, .body = "{}",
				    .v = bad, .n = 1 };
	assert_int_equal(store_delivery_enqueue(f->st, &o), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	o.signer = 0;
	assert_int_equal(store_delivery_enqueue(f->st, &o), -1);
	struct store_delivery_update u = { .state = 9 };
	struct store_lease l = { .id = 1 };
	assert_int_equal(store_delivery_finish(f->st, &l, &u), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	struct collect c = { 0 };
	list(f->st, &c);
	assert_int_equal(c.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_scheme_policy),
		cmocka_unit_test(test_backoff_defaults),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test_setup_teardown(test_enqueue_with_activity, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_claim_finish_resolve, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lease_stale_and_expiry, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_claim_order, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_host_limits, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_claim_race, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_claim_batch, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_finish_batch_breaker, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_host_scheme, store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, store_fixture_setup, store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
