/*
 * Group commit of the inbox (src/server/inbox_batch.h and
 * store_inbound_commit_batch):
 *   - the SQLite batch: one unit that fails on its own (its id belongs to
 *     another actor) is undone alone, the others are kept, a duplicate is a
 *     duplicate; a storage failure (file size limit, as a full disk) keeps
 *     nothing of the batch and fails every unit with AIM_ERR_STORAGE;
 *   - the batcher over a store that fails: requests that wait while a batch
 *     is written are committed together in the next one, and when that one
 *     fails none of them is acknowledged (every one gets AIM_ERR_STORAGE);
 *     a lone request commits at once, alone.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/inbox_batch.h"
#include "store_fixture.h"

static struct store_inbound note(int64_t *user, const char *id, const char *actor)
{
	return (struct store_inbound){
		.id = id,
		.actor = actor,
		.json = "{\"type\":\"Create\"}",
		.audience = user,
		.n_audience = 1,
		.inbox = user,
		.n_inbox = 1,
		.published = 1,
	};
}

static void test_sqlite_batch_units(void **state)
{
	struct store_fixture *f = *state;
	int64_t bob = f->bob;
	struct store_inbound first = note(&bob, "https://r.test/a/0", "https://r.test/u/x");
	assert_int_equal(store_inbound_commit(f->st, &first, NULL, NULL), 0);
	struct store_inbound in[4] = {
		note(&bob, "https://r.test/a/1", "https://r.test/u/x"),
		note(&bob, "https://r.test/a/0", "https://r.test/u/other"), /* taken */
		note(&bob, "https://r.test/a/0", "https://r.test/u/x"),     /* duplicate */
		note(&bob, "https://r.test/a/2", "https://r.test/u/x"),
	};
	struct store_inbound_unit u[4];
	for (size_t i = 0; i < 4; i++)
		u[i] = (struct store_inbound_unit){ .in = &in[i] };
	assert_int_equal(store_inbound_commit_batch(f->st, u, 4), 0);
	assert_int_equal(u[0].rc, 0);
	assert_int_equal(u[0].added, 1);
	assert_int_equal(u[1].rc, -1);
	assert_int_equal(u[1].err, AIM_ERR_DENIED);
	assert_int_equal(u[2].rc, 0);
	assert_true(u[2].dup);
	assert_int_equal(u[3].rc, 0);
	assert_false(u[3].dup);
	int64_t n = 0;
	assert_int_equal(store_inbox_count(f->st, bob, &n), 0);
	assert_int_equal(n, 3);
}

/* An activity for several local users writes their rows in one statement
 * per table: each user gets it once, a duplicate adds nothing. */
static void test_sqlite_batch_many_users(void **state)
{
	struct store_fixture *f = *state;
	int64_t users[3] = { f->bob, f->alice, f->bob };
	struct store_inbound in[2] = {
		note(users, "https://r.test/m/1", "https://r.test/u/x"),
		note(users, "https://r.test/m/1", "https://r.test/u/x"), /* duplicate */
	};
	for (size_t i = 0; i < 2; i++) {
		in[i].n_audience = 3;
		in[i].n_inbox = 3;
	}
	struct store_inbound_unit u[2] = { { .in = &in[0] }, { .in = &in[1] } };
	assert_int_equal(store_inbound_commit_batch(f->st, u, 2), 0);
	assert_int_equal(u[0].rc, 0);
	assert_false(u[0].dup);
	assert_int_equal(u[0].added, 2);
	assert_int_equal(u[1].rc, 0);
	assert_true(u[1].dup);
	assert_int_equal(u[1].added, 0);
	int64_t n = 0;
	assert_int_equal(store_inbox_count(f->st, f->bob, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_inbox_count(f->st, f->alice, &n), 0);
	assert_int_equal(n, 1);
}

static void test_sqlite_batch_storage_failure(void **state)
{
	store_fixture_only("sqlite"); /* a file that cannot grow */
	struct store_fixture *f = *state;
	int64_t bob = f->bob;
	char ids[8][64];
	struct store_inbound in[8];
	struct store_inbound_unit u[8];
	for (size_t i = 0; i < 8; i++) {
		snprintf(ids[i], sizeof ids[i], "https://r.test/a/%zu", i);
		in[i] = note(&bob, ids[i], "https://r.test/u/x");
		u[i] = (struct store_inbound_unit){ .in = &in[i] };
	}
	/* Past 1 KiB no file grows: the WAL cannot take the batch. */
	struct rlimit old, lim = { 1024, RLIM_INFINITY };
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = store_inbound_commit_batch(f->st, u, 8);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc, -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STORAGE);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(u[i].rc, -1);
		assert_int_equal(u[i].err, AIM_ERR_STORAGE);
		assert_int_equal(u[i].added, 0);
	}
	store_fixture_reopen(f);
	int64_t n = -1;
	assert_int_equal(store_inbox_count(f->st, bob, &n), 0);
	assert_int_equal(n, 0);
}

/* ---- The batcher over a store whose second batch fails --------------------- */

#define WAITERS 6

static struct {
	pthread_mutex_t mu;
	unsigned calls;
	size_t sizes[8];
} fake = { PTHREAD_MUTEX_INITIALIZER, 0, { 0 } };

static int fake_batch(struct store *st, struct store_inbound_unit *u, size_t n)
{
	(void)st;
	pthread_mutex_lock(&fake.mu);
	unsigned call = fake.calls++;
	if (call < 8)
		fake.sizes[call] = n;
	pthread_mutex_unlock(&fake.mu);
	if (call == 0) {
		/* The first batch is slow: everyone else queues behind it. */
		usleep(300 * 1000);
		for (size_t i = 0; i < n; i++)
			u[i].added = 1;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		u[i].rc = -1;
		u[i].err = AIM_ERR_STORAGE;
		snprintf(u[i].msg, sizeof u[i].msg, "disk I/O error");
	}
	return aim_fail(AIM_ERR_STORAGE, "disk I/O error");
}

static const struct store_ops fake_ops = { .name = "fake", .inbound_commit_batch = fake_batch };

struct req {
	struct inbox_batcher *b;
	struct store *st;
	int rc;
	enum aim_err err;
	size_t added;
};

static void *post(void *arg)
{
	struct req *r = arg;
	int64_t user = 1;
	struct store_inbound in = note(&user, "https://r.test/a/t", "https://r.test/u/x");
	r->rc = aimd_batch_commit(r->b, r->st, &in, NULL, &r->added);
	r->err = r->rc ? aim_errcode() : AIM_ERR_NONE;
	return NULL;
}

static void test_batcher_failure_acknowledges_none(void **state)
{
	(void)state;
	struct store st = { .ops = &fake_ops };
	struct inbox_batcher b;
	aimd_batcher_init(&b);
	struct req first = { &b, &st, 0, 0, 0 };
	pthread_t t0, t[WAITERS];
	assert_int_equal(pthread_create(&t0, NULL, post, &first), 0);
	usleep(100 * 1000); /* the first is being written */
	struct req r[WAITERS];
	for (size_t i = 0; i < WAITERS; i++) {
		r[i] = (struct req){ &b, &st, 0, 0, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, post, &r[i]), 0);
	}
	pthread_join(t0, NULL);
	for (size_t i = 0; i < WAITERS; i++)
		pthread_join(t[i], NULL);
	/* a lone request: at once, alone, kept */
	assert_int_equal(first.rc, 0);
	assert_int_equal(first.added, 1);
	assert_int_equal(fake.sizes[0], 1);
	/* the others: one batch, failed, nobody acknowledged */
	assert_int_equal(fake.calls, 2);
	assert_int_equal(fake.sizes[1], WAITERS);
	for (size_t i = 0; i < WAITERS; i++) {
		assert_int_equal(r[i].rc, -1);
		assert_int_equal(r[i].err, AIM_ERR_STORAGE);
		assert_int_equal(r[i].added, 0);
	}
	assert_int_equal(b.batches, 2);
	assert_int_equal(b.largest, WAITERS);
	aimd_batcher_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sqlite_batch_units, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_batch_many_users, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_batch_storage_failure,
						store_fixture_setup, store_fixture_teardown),
		cmocka_unit_test(test_batcher_failure_acknowledges_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
