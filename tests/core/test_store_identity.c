/* Unit tests of the store's identity operations (issue 10): the domain's CA
 * certificates (newest first) and the devices of users (register, a
 * repeated registration, an id or key taken, renewal with a new key,
 * revocation keeping the id and key taken, lookup by key, listing, a
 * deleted user's devices revoked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"
#include "store_fixture.h"

static int collect_ca(void *ctx, const struct store_ca_cert *c)
{
	char *buf = ctx;
	size_t l = strlen(buf);
	snprintf(buf + l, 256 - l, "%lld:%.*s;", (long long)c->id, (int)c->len, (const char *)c->der);
	assert_true(c->created > 0);
	return 0;
}

static void test_ca_certs(void **state)
{
	struct store_fixture *f = *state;
	char buf[256] = "";
	assert_int_equal(store_ca_cert_list(f->st, collect_ca, buf), 0);
	assert_string_equal(buf, "");
	int64_t a = 0, b = 0;
	assert_int_equal(store_ca_cert_add(f->st, (const uint8_t *)"old", 3, &a), 0);
	assert_int_equal(store_ca_cert_add(f->st, (const uint8_t *)"new", 3, &b), 0);
	assert_true(b > a);
	assert_int_equal(store_ca_cert_list(f->st, collect_ca, buf), 0);
	char want[64];
	snprintf(want, sizeof want, "%lld:new;%lld:old;", (long long)b, (long long)a);
	assert_string_equal(buf, want);
	/* empty and oversized certificates are refused */
	assert_int_equal(store_ca_cert_add(f->st, (const uint8_t *)"", 0, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	uint8_t *big = calloc(1, 16 * 1024 + 1);
	assert_int_equal(store_ca_cert_add(f->st, big, 16 * 1024 + 1, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	free(big);
	/* they survive a reopen */
	store_fixture_reopen(f);
	buf[0] = 0;
	assert_int_equal(store_ca_cert_list(f->st, collect_ca, buf), 0);
	assert_string_equal(buf, want);
}

static struct store_new_device dev(int64_t user, const char *id, uint8_t keybyte,
				   const char *cert, int64_t not_after)
{
	static uint8_t pk[4][32];
	static int k;
	k = (k + 1) % 4;
	memset(pk[k], keybyte, 32);
	return (struct store_new_device){ .user_id = user,
					  .device = id,
					  .alg = 0x0807,
					  .pk = pk[k],
					  .pk_len = 32,
					  .cert = (const uint8_t *)cert,
					  .cert_len = strlen(cert),
					  .not_after = not_after };
}

static void test_device_register(void **state)
{
	struct store_fixture *f = *state;
	struct store_new_device d = dev(f->alice, "phone", 1, "cert-1", 1000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	struct store_device out;
	assert_int_equal(store_device_get(f->st, f->alice, "phone", &out), 0);
	assert_int_equal(out.user_id, f->alice);
	assert_string_equal(out.device, "phone");
	assert_int_equal(out.alg, 0x0807);
	assert_int_equal(out.pk_len, 32);
	assert_int_equal(out.pk[0], 1);
	assert_int_equal(out.cert_len, 6);
	assert_memory_equal(out.cert, "cert-1", 6);
	assert_int_equal(out.not_after, 1000);
	assert_false(out.revoked);
	store_device_clear(&out);
	/* the same id and key again: a new leaf */
	d = dev(f->alice, "phone", 1, "cert-2", 2000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	assert_int_equal(store_device_get(f->st, f->alice, "phone", &out), 0);
	assert_memory_equal(out.cert, "cert-2", 6);
	assert_int_equal(out.not_after, 2000);
	store_device_clear(&out);
	/* the id with another key is taken */
	d = dev(f->alice, "phone", 2, "cert-3", 3000);
	assert_int_equal(store_device_register(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	/* the key under another id of the same user is taken */
	d = dev(f->alice, "laptop", 1, "cert-3", 3000);
	assert_int_equal(store_device_register(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	/* ... but bob may hold a device of the same id and key */
	d = dev(f->bob, "phone", 1, "cert-b", 3000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	/* bad ids */
	d = dev(f->alice, "bad id", 3, "c", 1);
	assert_int_equal(store_device_register(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	char longid[70];
	memset(longid, 'a', 65);
	longid[65] = 0;
	d = dev(f->alice, longid, 3, "c", 1);
	assert_int_equal(store_device_register(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	/* unknown device */
	assert_int_equal(store_device_get(f->st, f->alice, "tablet", &out), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
}

static void test_device_by_key_and_renew(void **state)
{
	struct store_fixture *f = *state;
	struct store_new_device d = dev(f->alice, "phone", 1, "cert-1", 1000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	d = dev(f->alice, "laptop", 2, "cert-L", 1000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	uint8_t k1[32], k3[32];
	memset(k1, 1, 32);
	memset(k3, 3, 32);
	struct store_device out;
	assert_int_equal(store_device_by_key(f->st, f->alice, 0x0807, k1, 32, &out), 0);
	assert_string_equal(out.device, "phone");
	store_device_clear(&out);
	/* another scheme, another user: not found */
	assert_int_equal(store_device_by_key(f->st, f->alice, 0x0403, k1, 32, &out), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	assert_int_equal(store_device_by_key(f->st, f->bob, 0x0807, k1, 32, &out), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	/* renewal with a new key replaces the key */
	d = dev(f->alice, "phone", 3, "cert-2", 2000);
	assert_int_equal(store_device_renew(f->st, &d), 0);
	assert_int_equal(store_device_by_key(f->st, f->alice, 0x0807, k1, 32, &out), -1);
	assert_int_equal(store_device_by_key(f->st, f->alice, 0x0807, k3, 32, &out), 0);
	assert_string_equal(out.device, "phone");
	assert_memory_equal(out.cert, "cert-2", 6);
	assert_int_equal(out.not_after, 2000);
	store_device_clear(&out);
	/* renewing with the laptop's key, or an unknown device, fails */
	d = dev(f->alice, "phone", 2, "cert-3", 3000);
	assert_int_equal(store_device_renew(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	d = dev(f->alice, "tablet", 4, "cert-3", 3000);
	assert_int_equal(store_device_renew(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
}

static int collect_dev(void *ctx, const struct store_device *d)
{
	char *buf = ctx;
	size_t l = strlen(buf);
	snprintf(buf + l, 256 - l, "%s:%.*s%s;", d->device, (int)d->cert_len, (const char *)d->cert,
		 d->revoked ? ":revoked" : "");
	return 0;
}

static void test_device_revoke_and_list(void **state)
{
	struct store_fixture *f = *state;
	struct store_new_device d = dev(f->alice, "phone", 1, "c1", 1000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	d = dev(f->alice, "laptop", 2, "c2", 1000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	d = dev(f->bob, "desk", 3, "c3", 1000);
	assert_int_equal(store_device_register(f->st, &d), 0);
	assert_int_equal(store_device_revoke(f->st, f->alice, "phone"), 0);
	/* twice is fine; an unknown one or another user's is NOTFOUND */
	assert_int_equal(store_device_revoke(f->st, f->alice, "phone"), 0);
	assert_int_equal(store_device_revoke(f->st, f->alice, "desk"), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	char buf[256] = "";
	assert_int_equal(store_device_list(f->st, f->alice, collect_dev, buf), 0);
	assert_string_equal(buf, "laptop:c2;phone:c1:revoked;");
	/* a revoked device is neither renewed nor registered again, id and key stay taken */
	d = dev(f->alice, "phone", 1, "c4", 2000);
	assert_int_equal(store_device_renew(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	assert_int_equal(store_device_register(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	d = dev(f->alice, "phone2", 1, "c4", 2000);
	assert_int_equal(store_device_register(f->st, &d), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	uint8_t k1[32];
	memset(k1, 1, 32);
	struct store_device out;
	assert_int_equal(store_device_by_key(f->st, f->alice, 0x0807, k1, 32, &out), 0);
	assert_true(out.revoked);
	store_device_clear(&out);
	/* a deleted user's devices are revoked */
	assert_int_equal(store_user_delete(f->st, f->bob), 0);
	buf[0] = 0;
	assert_int_equal(store_device_list(f->st, f->bob, collect_dev, buf), 0);
	assert_string_equal(buf, "desk:c3:revoked;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ca_certs, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_device_register, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_device_by_key_and_renew, store_fixture_setup,
						store_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_device_revoke_and_list, store_fixture_setup,
						store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
