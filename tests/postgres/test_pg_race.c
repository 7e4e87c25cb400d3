/*
 * The PostgreSQL store shared by several processes (issue 15): what must
 * hold across them, with four forked processes racing on one database, each
 * with its own store handle (its own connections):
 *   - delivery claims: a row has one holder; the per-host limit counts every
 *     process's leases (SKIP LOCKED, the host's lock), and every row is
 *     delivered exactly once;
 *   - the compare-and-set: of the writers that read one version, one wins.
 * (KeyPackage claims race across processes in
 * identity/test_store_keypackages.c, which runs here too.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_fixture.h"

#define KIDS 4
#define HOSTS 8
#define PER_HOST_ROWS 5

static void enqueue(struct store_fixture *f)
{
	static char inbox[HOSTS * PER_HOST_ROWS][64], host[HOSTS][16];
	struct store_new_delivery v[HOSTS * PER_HOST_ROWS];
	for (int h = 0; h < HOSTS; h++)
		snprintf(host[h], sizeof host[h], "h%d.test", h);
	for (int i = 0; i < HOSTS * PER_HOST_ROWS; i++) {
		snprintf(inbox[i], sizeof inbox[i], "https://h%d.test/users/u%d/inbox", i % HOSTS, i);
		v[i] = (struct store_new_delivery){ .inbox = inbox[i], .host = host[i % HOSTS] };
	}
	struct store_outgoing o = { .activity_id = "https://a.test/activities/1",
				    .signer = f->alice, .body = "{}", .v = v,
				    .n = HOSTS * PER_HOST_ROWS, .now_ms = 1000 };
	assert_int_equal(store_delivery_enqueue(f->st, &o), 0);
}

/* Forks KIDS children running fn(handle, write end); collects the int64s
 * they write; returns how many. */
static size_t race(struct store_fixture *f, void (*fn)(struct store *st, int out, int kid),
		   int64_t *got, size_t max)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pids[KIDS];
	for (int k = 0; k < KIDS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			close(p[0]);
			struct store *st = NULL;
			if (store_fixture_open(f, &st) != 0)
				_exit(3);
			fn(st, p[1], k);
			store_close(st);
			_exit(0);
		}
	}
	close(p[1]);
	size_t n = 0;
	int64_t v;
	while (read(p[0], &v, sizeof v) == (ssize_t)sizeof v)
		if (n < max)
			got[n++] = v;
	close(p[0]);
	for (int k = 0; k < KIDS; k++) {
		int status = 0;
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	return n;
}

static void put(int out, int64_t v)
{
	if (write(out, &v, sizeof v) != (ssize_t)sizeof v)
		_exit(4);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void assert_distinct(int64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp64);
	for (size_t i = 1; i < n; i++)
		assert_true(v[i] != v[i - 1]);
}

/* Claims and keeps its leases, until nothing is left to claim. */
static void hold(struct store *st, int out, int kid)
{
	(void)kid;
	for (int idle = 0; idle < 5;) {
		struct store_claim c = { .now_ms = 2000, .lease_ms = 600000, .per_host = 2 };
		struct store_delivery d;
		struct store_lease l;
		if (store_delivery_claim(st, &c, &d, &l) == 0) {
			put(out, d.id);
			store_delivery_clear(&d);
			idle = 0;
			continue;
		}
		if (aim_errcode() != AIM_ERR_NOTFOUND)
			_exit(5);
		idle++;
		usleep(20000);
	}
}

static void test_claims_hold_the_host_limit(void **state)
{
	store_fixture_only("postgres");
	struct store_fixture *f = *state;
	enqueue(f);
	int64_t got[256];
	size_t n = race(f, hold, got, 256);
	/* two live leases per host, every process counted; no row twice */
	assert_int_equal(n, HOSTS * 2);
	assert_distinct(got, n);
}

/* Claims and finishes (delivered), until nothing is left. */
static void deliver(struct store *st, int out, int kid)
{
	(void)kid;
	for (int idle = 0; idle < 5;) {
		struct store_claim c = { .now_ms = 2000, .lease_ms = 600000, .per_host = 1 };
		struct store_delivery d;
		struct store_lease l;
		if (store_delivery_claim(st, &c, &d, &l) == 0) {
			struct store_delivery_update u = { .state = STORE_DLV_DELIVERED,
							   .attempts = 1, .last_status = 202 };
			if (store_delivery_finish(st, &l, &u) != 0)
				_exit(6);
			put(out, d.id);
			store_delivery_clear(&d);
			idle = 0;
			continue;
		}
		if (aim_errcode() != AIM_ERR_NOTFOUND)
			_exit(5);
		idle++;
		usleep(20000);
	}
}

static int count_delivered(void *ctx, const struct store_delivery *d)
{
	if (d->state == STORE_DLV_DELIVERED)
		++*(int *)ctx;
	return 0;
}

static void test_every_row_delivered_once(void **state)
{
	store_fixture_only("postgres");
	struct store_fixture *f = *state;
	enqueue(f);
	int64_t got[256];
	size_t n = race(f, deliver, got, 256);
	assert_int_equal(n, HOSTS * PER_HOST_ROWS);
	assert_distinct(got, n);
	int delivered = 0;
	assert_int_equal(store_delivery_list(f->st, count_delivered, &delivered), 0);
	assert_int_equal(delivered, HOSTS * PER_HOST_ROWS);
}

/* Reads the version and writes the next one, 40 times; reports its wins. */
static void cas(struct store *st, int out, int kid)
{
	for (int i = 0; i < 40; i++) {
		int64_t v = 0, nv = 0;
		if (store_state_get(st, "epoch", "group", &v, NULL, NULL) != 0 &&
		    aim_errcode() != AIM_ERR_NOTFOUND)
			_exit(7);
		char val[32];
		snprintf(val, sizeof val, "%d:%d", kid, i);
		if (store_state_cas(st, "epoch", "group", v, (const uint8_t *)val, strlen(val),
				    &nv) == 0)
			put(out, nv);
		else if (aim_errcode() != AIM_ERR_CONFLICT)
			_exit(8);
	}
}

static void test_cas_one_winner_per_version(void **state)
{
	store_fixture_only("postgres");
	struct store_fixture *f = *state;
	int64_t got[KIDS * 40];
	size_t n = race(f, cas, got, KIDS * 40);
	assert_true(n >= 40); /* at least one process wins each round it sees */
	assert_distinct(got, n);
	int64_t final = 0;
	assert_int_equal(store_state_get(f->st, "epoch", "group", &final, NULL, NULL), 0);
	/* every version was written by exactly one winner */
	assert_int_equal(final, (int64_t)n);
	assert_int_equal(got[n - 1], final);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claims_hold_the_host_limit, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_every_row_delivered_once, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cas_one_winner_per_version, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
