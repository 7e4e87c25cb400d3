/* Unit tests of the store's versioned state: get, compare-and-set from
 * absent and from each version, conflicts that write nothing, values of any
 * bytes, limits, reopen; and the race the hub's epoch gate and KeyPackage
 * claims stand on: callers that read the same version and race to write,
 * on one store handle from many threads or on several handles (processes),
 * have exactly one winner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"
#include "store_fixture.h"

static void test_get_and_cas(void **state)
{
	struct store_fixture *f = *state;
	struct store *st = f->st;
	int64_t v = -1;
	uint8_t *val = NULL;
	size_t n = 99;
	/* nothing yet: version 0 */
	assert_int_equal(store_state_get(st, "epoch", "g1", &v, &val, &n), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(v, 0);
	assert_null(val);
	/* only expected 0 creates */
	assert_int_equal(store_state_cas(st, "epoch", "g1", 1, (const uint8_t *)"x", 1, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(store_state_get(st, "epoch", "g1", &v, NULL, NULL), -1);
	assert_int_equal(store_state_cas(st, "epoch", "g1", 0, (const uint8_t *)"e0", 2, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(store_state_get(st, "epoch", "g1", &v, &val, &n), 0);
	assert_int_equal(v, 1);
	assert_int_equal(n, 2);
	assert_memory_equal(val, "e0", 2);
	free(val);
	/* the next write names version 1; a stale one changes nothing */
	assert_int_equal(store_state_cas(st, "epoch", "g1", 1, (const uint8_t *)"e1", 2, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(store_state_cas(st, "epoch", "g1", 1, (const uint8_t *)"zz", 2, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(store_state_cas(st, "epoch", "g1", 0, (const uint8_t *)"zz", 2, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(store_state_cas(st, "epoch", "g1", 7, (const uint8_t *)"zz", 2, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(store_state_get(st, "epoch", "g1", &v, &val, &n), 0);
	assert_int_equal(v, 2);
	assert_memory_equal(val, "e1", 2);
	free(val);
	/* names are (kind, key): the same key under another kind is apart */
	assert_int_equal(store_state_get(st, "keypackage", "g1", &v, NULL, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	/* any bytes, the empty value too */
	const uint8_t bin[] = { 0, 255, 0, 7 };
	assert_int_equal(store_state_cas(st, "keypackage", "kp", 0, bin, sizeof bin, &v), 0);
	assert_int_equal(store_state_get(st, "keypackage", "kp", &v, &val, &n), 0);
	assert_int_equal(n, sizeof bin);
	assert_memory_equal(val, bin, sizeof bin);
	free(val);
	assert_int_equal(store_state_cas(st, "keypackage", "kp", 1, NULL, 0, &v), 0);
	assert_int_equal(store_state_get(st, "keypackage", "kp", &v, &val, &n), 0);
	assert_int_equal(v, 2);
	assert_int_equal(n, 0);
	assert_null(val);
	/* survives a reopen */
	store_fixture_reopen(f);
	assert_int_equal(store_state_get(f->st, "epoch", "g1", &v, &val, &n), 0);
	assert_int_equal(v, 2);
	assert_memory_equal(val, "e1", 2);
	free(val);
}

static void test_refusals(void **state)
{
	struct store_fixture *f = *state;
	int64_t v;
	assert_int_equal(store_state_cas(f->st, "", "k", 0, NULL, 0, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(store_state_cas(f->st, "k", NULL, 0, NULL, 0, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(store_state_cas(f->st, "k", "k", -1, NULL, 0, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(store_state_cas(f->st, "k", "k", 0, NULL, 3, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	char big_kind[STORE_STATE_KIND_MAX + 2];
	memset(big_kind, 'a', sizeof big_kind - 1);
	big_kind[sizeof big_kind - 1] = 0;
	assert_int_equal(store_state_get(f->st, big_kind, "k", &v, NULL, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	uint8_t *big = calloc(1, STORE_STATE_VALUE_MAX + 1);
	assert_int_equal(store_state_cas(f->st, "k", "k", 0, big, STORE_STATE_VALUE_MAX + 1, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_int_equal(store_state_cas(f->st, "k", "k", 0, big, STORE_STATE_VALUE_MAX, &v), 0);
	free(big);
}

/* ---- Races ---------------------------------------------------------------------- */

#define RACERS 4
#define ROUNDS 25

struct race {
	pthread_barrier_t read, write, done;
	struct store *st[RACERS];    /* one handle each, or the same for all */
	int wins[ROUNDS];
	int conflicts[ROUNDS];
	int other_errors;
	pthread_mutex_t mu;
};

struct racer {
	struct race *r;
	int i;
};

/* Each round: everyone reads the version, waits for the others, then tries
 * to write its own value from that version. */
static void *racer(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	struct store *st = r->st[me->i];
	for (int round = 0; round < ROUNDS; round++) {
		int64_t v = 0;
		if (store_state_get(st, "epoch", "group", &v, NULL, NULL) != 0 &&
		    aim_errcode() != AIM_ERR_NOTFOUND)
			v = -1;
		pthread_barrier_wait(&r->read);
		char val[32];
		int n = snprintf(val, sizeof val, "round %d by %d", round, me->i);
		int64_t nv = 0;
		int rc = v < 0 ? -1 : store_state_cas(st, "epoch", "group", v, (const uint8_t *)val,
						     (size_t)n, &nv);
		enum aim_err e = aim_errcode();
		pthread_mutex_lock(&r->mu);
		if (rc == 0)
			r->wins[round]++;
		else if (e == AIM_ERR_CONFLICT)
			r->conflicts[round]++;
		else
			r->other_errors++;
		pthread_mutex_unlock(&r->mu);
		pthread_barrier_wait(&r->write);
		pthread_barrier_wait(&r->done);
	}
	return NULL;
}

static void run_race(struct store_fixture *f, bool own_handles)
{
	struct race r;
	memset(&r, 0, sizeof r);
	pthread_barrier_init(&r.read, NULL, RACERS);
	pthread_barrier_init(&r.write, NULL, RACERS);
	pthread_barrier_init(&r.done, NULL, RACERS);
	pthread_mutex_init(&r.mu, NULL);
	for (int i = 0; i < RACERS; i++) {
		if (own_handles)
			assert_int_equal(store_fixture_open(f, &r.st[i]), 0);
		else
			r.st[i] = f->st;
	}
	pthread_t t[RACERS];
	struct racer me[RACERS];
	for (int i = 0; i < RACERS; i++) {
		me[i] = (struct racer){ &r, i };
		assert_int_equal(pthread_create(&t[i], NULL, racer, &me[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.other_errors, 0);
	for (int round = 0; round < ROUNDS; round++) {
		assert_int_equal(r.wins[round], 1);
		assert_int_equal(r.conflicts[round], RACERS - 1);
	}
	int64_t v = 0;
	uint8_t *val = NULL;
	size_t n = 0;
	assert_int_equal(store_state_get(f->st, "epoch", "group", &v, &val, &n), 0);
	assert_int_equal(v, ROUNDS);
	assert_true(n > 9 && !memcmp(val, "round 24 ", 9));
	free(val);
	if (own_handles)
		for (int i = 0; i < RACERS; i++)
			store_close(r.st[i]);
	pthread_barrier_destroy(&r.read);
	pthread_barrier_destroy(&r.write);
	pthread_barrier_destroy(&r.done);
	pthread_mutex_destroy(&r.mu);
}

static void test_race_one_handle(void **state)
{
	run_race(*state, false);
}

static void test_race_many_handles(void **state)
{
	run_race(*state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_and_cas, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_race_one_handle, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_race_many_handles, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
