/* Unit tests of server pieces that need no network: user names, listen
 * addresses, the per-IP rate limiter and the bad-token block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "http/server.h"
#include "server/internal.h"

static void test_names(void **state)
{
	static const char *const good[] = { "alice", "a", "0day", "bob.smith", "x_y-z",
					    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	static const char *const bad[] = { "", "Alice", "-x", ".x", "_x", "a b", "a/b", "a@b",
					   "é", "~instance",
					   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(good); i++)
		assert_true(aimd_valid_name(good[i]));
	for (size_t i = 0; i < AIM_ARRAY_LEN(bad); i++)
		assert_false(aimd_valid_name(bad[i]));
	assert_false(aimd_valid_name(NULL));
}

static void test_listen(void **state)
{
	struct sockaddr_storage ss;
	size_t len;
	assert_int_equal(http_parse_listen("127.0.0.1:8080", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(http_parse_listen("[::1]:443", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(http_parse_listen("localhost:1", &ss, &len), 0);
	static const char *const bad[] = { "", "8080", ":80", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536",
					   "1.2.3.4:-1", "[::1:80", "[::1]80", "::1:80x",
					   "example.org:80", "1.2.3.4:80 " };
	for (size_t i = 0; i < AIM_ARRAY_LEN(bad); i++) {
		if (http_parse_listen(bad[i], &ss, &len) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	}
}

static void test_rate_limit(void **state)
{
	struct limiter *l = aimd_limiter_new(10, 5, 3);
	for (int i = 0; i < 5; i++)
		assert_int_equal(aimd_limiter_take(l, "192.0.2.1"), 0);
	unsigned wait = aimd_limiter_take(l, "192.0.2.1");
	assert_true(wait >= 1);
	/* Another address has its own bucket. */
	assert_int_equal(aimd_limiter_take(l, "192.0.2.2"), 0);
	/* The bucket refills at the rate: 10/s, so after 150 ms one token. */
	usleep(150 * 1000);
	assert_int_equal(aimd_limiter_take(l, "192.0.2.1"), 0);
	aimd_limiter_free(l);
}

static void test_auth_block(void **state)
{
	struct limiter *l = aimd_limiter_new(0, 0, 3);
	assert_int_equal(aimd_limiter_auth_blocked(l, "2001:db8::1"), 0);
	aimd_limiter_auth_failed(l, "2001:db8::1");
	aimd_limiter_auth_failed(l, "2001:db8::1");
	assert_int_equal(aimd_limiter_auth_blocked(l, "2001:db8::1"), 0);
	aimd_limiter_auth_failed(l, "2001:db8::1");
	assert_true(aimd_limiter_auth_blocked(l, "2001:db8::1") > 0);
	assert_int_equal(aimd_limiter_auth_blocked(l, "2001:db8::2"), 0);
	aimd_limiter_free(l);
}

static void test_limiter_many_addresses(void **state)
{
	/* More addresses than slots: the table recycles, never grows. */
	struct limiter *l = aimd_limiter_new(1, 1, 2);
	char ip[48];
	for (int i = 0; i < 20000; i++) {
		snprintf(ip, sizeof ip, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		assert_int_equal(aimd_limiter_take(l, ip), 0);
	}
	aimd_limiter_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_auth_block),
		cmocka_unit_test(test_limiter_many_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
