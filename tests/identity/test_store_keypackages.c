/*
 * The store's KeyPackage directory (store.h "The KeyPackage directory"),
 * against the back end AIM_TEST_STORE names: upload all or nothing,
 * duplicates, the per-device limit, one last-resort KeyPackage per device,
 * stock, claims (one per device, the claimer's suite order, expiry, handed
 * out once, last resort when none is left), withdrawal, consent, the
 * collection (last resort only); and claims racing on several handles and
 * in several processes: every KeyPackage goes to exactly one claimer
 * (threats.md C44).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"

static char jsons[4096][48];

/* KeyPackage number i of a device: ref "rI", data "kpI", suite. */
static struct store_new_keypackage kp(const char *dev, int i, uint16_t suite, bool lr)
{
	static char refs[4096][16], data[4096][16];
	int k = i % 4096;
	snprintf(refs[k], sizeof refs[k], "r%d", i);
	snprintf(data[k], sizeof data[k], "kp%d", i);
	snprintf(jsons[k], sizeof jsons[k], "{\"type\":\"KeyPackage\",\"n\":%d}", i);
	return (struct store_new_keypackage){
		.device = dev, .suite = suite,
		.ref = (const uint8_t *)refs[k], .ref_len = strlen(refs[k]),
		.data = (const uint8_t *)data[k], .len = strlen(data[k]),
		.json = jsons[k], .last_resort = lr, .not_after = aim_now() + 3600,
	};
}

static int add(struct store *st, int64_t user, const char *dev, int from, int n, bool lr_last)
{
	struct store_new_keypackage v[128];
	for (int i = 0; i < n; i++)
		v[i] = kp(dev, from + i, 1, lr_last && i == n - 1);
	return store_keypackage_add(st, user, v, (size_t)n, 1000);
}

/* Registers device dev of user (the directory takes KeyPackages of
 * registered, unrevoked devices only). */
static void device(struct store *st, int64_t user, const char *dev)
{
	uint8_t pk[32];
	memset(pk, 0, sizeof pk);
	snprintf((char *)pk, sizeof pk, "%s", dev);
	const uint8_t cert[] = { 0x30, 0x00 };
	struct store_new_device d = { .user_id = user, .device = dev, .alg = 0x0807, .pk = pk,
				      .pk_len = 32, .cert = cert, .cert_len = 2,
				      .not_after = aim_now() + 86400 };
	assert_int_equal(store_device_register(st, &d), 0);
}

struct stock_seen {
	char dev[4][16];
	int64_t avail[4];
	bool lr[4];
	int n;
};

static int stock_cb(void *ctx, const struct store_kp_stock *s)
{
	struct stock_seen *x = ctx;
	snprintf(x->dev[x->n], sizeof x->dev[0], "%s", s->device);
	x->avail[x->n] = s->available;
	x->lr[x->n++] = s->last_resort;
	return 0;
}

static int n_of(const struct store_kp_claim *c, const char *data)
{
	int n = 0;
	for (size_t i = 0; i < c->n; i++)
		n += c->v[i].len == strlen(data) && !memcmp(c->v[i].data, data, c->v[i].len);
	return n;
}

static void test_upload_stock_claim(void **state)
{
	struct store_fixture *f = *state;
	device(f->st, f->alice, "d1");
	device(f->st, f->alice, "d2");
	/* an unregistered device */
	assert_int_equal(add(f->st, f->alice, "d9", 90, 1, false), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	/* all or nothing: a duplicate inside the batch stores nothing */
	struct store_new_keypackage dup[3] = { kp("d1", 1, 1, false), kp("d1", 2, 1, false),
					       kp("d1", 1, 1, false) };
	assert_int_equal(store_keypackage_add(f->st, f->alice, dup, 3, 0), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	struct stock_seen s = { 0 };
	assert_int_equal(store_keypackage_stock(f->st, f->alice, stock_cb, &s), 0);
	assert_int_equal(s.n, 0);
	/* d1: 1, 2 and a last-resort 3; d2: 10 and 11 in suite 2 */
	assert_int_equal(add(f->st, f->alice, "d1", 1, 3, true), 0);
	struct store_new_keypackage s2[2] = { kp("d2", 10, 2, false), kp("d2", 11, 2, false) };
	assert_int_equal(store_keypackage_add(f->st, f->alice, s2, 2, 0), 0);
	/* uploaded once, even after it was handed out */
	assert_int_equal(add(f->st, f->alice, "d1", 1, 1, false), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	/* two last-resort ones for one device in one batch */
	struct store_new_keypackage two[2] = { kp("d1", 20, 1, true), kp("d1", 21, 1, true) };
	assert_int_equal(store_keypackage_add(f->st, f->alice, two, 2, 0), -1);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_keypackage_stock(f->st, f->alice, stock_cb, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.dev[0], "d1");
	assert_int_equal(s.avail[0], 2);
	assert_true(s.lr[0]);
	assert_int_equal(s.avail[1], 2);
	assert_false(s.lr[1]);
	/* the collection: d1's last-resort one only (not an expired one) */
	device(f->st, f->alice, "d3");
	struct store_new_keypackage old = kp("d3", 40, 1, true);
	old.not_after = aim_now() - 10;
	assert_int_equal(store_keypackage_add(f->st, f->alice, &old, 1, 0), 0);
	int64_t n = 0;
	assert_int_equal(store_keypackage_count(f->st, f->alice, 0, &n), 0);
	assert_int_equal(n, 1);
	struct store_range r5 = { .limit = 5 };
	struct store_page pg;
	assert_int_equal(store_keypackage_page(f->st, f->alice, 0, &r5, &pg), 0);
	assert_int_equal(pg.n, 1);
	assert_non_null(strstr(pg.items[0].json, "\"n\":3}"));
	store_page_clear(&pg);

	/* suites [2, 1]: d1 has only suite 1, d2 suite 2 */
	uint16_t both[] = { 2, 1 };
	struct store_kp_claim c;
	assert_int_equal(store_keypackage_claim(f->st, f->alice, both, 2, "https://x/c", aim_now(), &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(n_of(&c, "kp1"), 1);
	assert_int_equal(n_of(&c, "kp10"), 1);
	assert_false(c.v[0].last_resort || c.v[1].last_resort);
	store_kp_claim_clear(&c);
	/* suite 1 only: d2 is left out */
	uint16_t one[] = { 1 };
	assert_int_equal(store_keypackage_claim(f->st, f->alice, one, 1, "https://x/c", aim_now(), &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(n_of(&c, "kp2"), 1);
	store_kp_claim_clear(&c);
	/* d1 has none left: its last-resort one, again and again */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(store_keypackage_claim(f->st, f->alice, one, 1, "https://x/c", aim_now(), &c), 0);
		assert_int_equal(c.n, 1);
		assert_int_equal(n_of(&c, "kp3"), 1);
		assert_true(c.v[0].last_resort);
		store_kp_claim_clear(&c);
	}
	/* expired KeyPackages are not handed out (claim "in an hour and a bit") */
	assert_int_equal(store_keypackage_claim(f->st, f->alice, both, 2, "https://x/c",
						aim_now() + 7200, &c), 0);
	assert_int_equal(c.n, 0);
	store_kp_claim_clear(&c);
	/* withdrawn: d2's KeyPackage by its revocation (the same transaction),
	 * d1's last-resort one by the store op */
	int64_t w = 0;
	assert_int_equal(store_device_revoke(f->st, f->alice, "d2"), 0);
	assert_int_equal(store_keypackage_withdraw_device(f->st, f->alice, "d2", &w), 0);
	assert_int_equal(w, 0);
	assert_int_equal(add(f->st, f->alice, "d2", 30, 1, false), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	assert_int_equal(store_keypackage_withdraw_device(f->st, f->alice, "d1", &w), 0);
	assert_int_equal(w, 1);
	assert_int_equal(store_keypackage_claim(f->st, f->alice, both, 2, "https://x/c", aim_now(), &c), 0);
	assert_int_equal(c.n, 0);
	store_kp_claim_clear(&c);
	assert_int_equal(store_keypackage_count(f->st, f->alice, 0, &n), 0);
	assert_int_equal(n, 0);
	/* bad arguments */
	assert_int_equal(store_keypackage_claim(f->st, f->alice, one, 0, "https://x/c", aim_now(), &c), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
}

static void test_limit_and_consent(void **state)
{
	struct store_fixture *f = *state;
	device(f->st, f->bob, "d");
	struct store_new_keypackage v[5];
	for (int i = 0; i < 5; i++)
		v[i] = kp("d", 100 + i, 1, false);
	assert_int_equal(store_keypackage_add(f->st, f->bob, v, 4, 4), 0);
	assert_int_equal(store_keypackage_add(f->st, f->bob, v + 4, 1, 4), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	/* a last-resort one does not count */
	struct store_new_keypackage lr = kp("d", 200, 1, true);
	assert_int_equal(store_keypackage_add(f->st, f->bob, &lr, 1, 4), 0);
	int p = -1;
	assert_int_equal(store_claims_policy_get(f->st, f->bob, &p), 0);
	assert_int_equal(p, STORE_CLAIMS_EVERYONE);
	assert_int_equal(store_claims_policy_set(f->st, f->bob, STORE_CLAIMS_NOBODY), 0);
	assert_int_equal(store_claims_policy_get(f->st, f->bob, &p), 0);
	assert_int_equal(p, STORE_CLAIMS_NOBODY);
	assert_int_equal(store_claims_policy_set(f->st, f->bob, 7), -1);
	assert_int_equal(store_claims_policy_get(f->st, 99999, &p), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	/* a deleted user's KeyPackages go with her */
	assert_int_equal(store_user_delete(f->st, f->bob), 0);
	uint16_t one[] = { 1 };
	struct store_kp_claim c;
	assert_int_equal(store_keypackage_claim(f->st, f->bob, one, 1, "https://x/c", aim_now(), &c), 0);
	assert_int_equal(c.n, 0);
	store_kp_claim_clear(&c);
}

/* ---- Racing claims --------------------------------------------------------------- */

#define KPS 40
#define RACERS 8
#define CLAIMS 10

struct race {
	struct store_fixture *f;
	int64_t user;
	int got[RACERS][CLAIMS]; /* the number of the KeyPackage, -1 last resort, -2 failed */
};

struct racer_arg {
	struct race *r;
	int me;
};

static int claim_number(struct store *st, int64_t user)
{
	uint16_t one[] = { 1 };
	struct store_kp_claim c;
	for (int tries = 0; tries < 50; tries++) {
		if (store_keypackage_claim(st, user, one, 1, "https://x/c", aim_now(), &c) == 0)
			break;
		if (aim_errcode() != AIM_ERR_BUSY)
			return -2;
		usleep(10000);
	}
	int v = -2;
	if (c.n == 1 && c.v[0].len > 2 && c.v[0].len < 16) {
		char num[16];
		memcpy(num, c.v[0].data + 2, c.v[0].len - 2);
		num[c.v[0].len - 2] = 0;
		v = c.v[0].last_resort ? -1 : atoi(num);
	}
	store_kp_claim_clear(&c);
	return v;
}

static void *racer(void *arg)
{
	struct racer_arg *a = arg;
	struct store *st = NULL;
	if (store_fixture_open(a->r->f, &st) != 0)
		return NULL;
	for (int i = 0; i < CLAIMS; i++)
		a->r->got[a->me][i] = claim_number(st, a->r->user);
	store_close(st);
	return NULL;
}

static void check_race(int got[RACERS][CLAIMS])
{
	int seen[KPS] = { 0 };
	int handed = 0;
	for (int i = 0; i < RACERS; i++)
		for (int j = 0; j < CLAIMS; j++) {
			int v = got[i][j];
			assert_true(v >= -1);
			if (v == -1)
				continue;
			assert_true(v >= 1000 && v < 1000 + KPS);
			seen[v - 1000]++;
			handed++;
		}
	/* 80 claims for 40 KeyPackages: each of them once, then last resort */
	assert_int_equal(handed, KPS);
	for (int k = 0; k < KPS; k++)
		assert_int_equal(seen[k], 1);
}

static void setup_race(struct store_fixture *f)
{
	device(f->st, f->carol, "d");
	assert_int_equal(add(f->st, f->carol, "d", 1000, KPS, false), 0);
	struct store_new_keypackage lr = kp("d", 5000, 1, true);
	assert_int_equal(store_keypackage_add(f->st, f->carol, &lr, 1, 0), 0);
}

static void test_race_handles(void **state)
{
	struct store_fixture *f = *state;
	setup_race(f);
	struct race r = { .f = f, .user = f->carol };
	pthread_t t[RACERS];
	struct racer_arg a[RACERS];
	for (int i = 0; i < RACERS; i++) {
		a[i] = (struct racer_arg){ &r, i };
		assert_int_equal(pthread_create(&t[i], NULL, racer, &a[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	check_race(r.got);
}

static void test_race_processes(void **state)
{
	struct store_fixture *f = *state;
	setup_race(f);
	int got[RACERS][CLAIMS];
	int fds[RACERS];
	pid_t pids[RACERS];
	for (int i = 0; i < RACERS; i++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			struct store *st = NULL;
			int mine[CLAIMS];
			for (int j = 0; j < CLAIMS; j++)
				mine[j] = -2;
			if (store_fixture_open(f, &st) == 0) {
				for (int j = 0; j < CLAIMS; j++)
					mine[j] = claim_number(st, f->carol);
				store_close(st);
			}
			ssize_t w = write(p[1], mine, sizeof mine);
			_exit(w == (ssize_t)sizeof mine ? 0 : 1);
		}
		close(p[1]);
		fds[i] = p[0];
		pids[i] = pid;
	}
	for (int i = 0; i < RACERS; i++) {
		size_t have = 0;
		while (have < sizeof got[i]) {
			ssize_t k = read(fds[i], (char *)got[i] + have, sizeof got[i] - have);
			assert_true(k > 0);
			have += (size_t)k;
		}
		close(fds[i]);
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	check_race(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upload_stock_claim, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_limit_and_consent, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_race_handles, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_race_processes, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
