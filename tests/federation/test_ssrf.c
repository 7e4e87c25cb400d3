/*
 * The SSRF address classifier (threats.md A17) over a table of every
 * refused range, its edges, and public addresses that must stay allowed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "base/base.h"
#include "http/client.h"

static const struct {
	const char *addr;
	enum ssrf_class cls;
} table[] = {
	/* IPv4 */
	{ "0.0.0.0", SSRF_UNSPECIFIED },
	{ "0.255.255.255", SSRF_UNSPECIFIED },
	{ "10.0.0.1", SSRF_PRIVATE },
	{ "10.255.255.255", SSRF_PRIVATE },
	{ "100.64.0.1", SSRF_CGNAT },
	{ "100.127.255.255", SSRF_CGNAT },
	{ "100.63.255.255", SSRF_PUBLIC },
	{ "100.128.0.0", SSRF_PUBLIC },
	{ "127.0.0.1", SSRF_LOOPBACK },
	{ "127.255.255.254", SSRF_LOOPBACK },
	{ "169.254.169.254", SSRF_LINK_LOCAL },
	{ "169.254.0.1", SSRF_LINK_LOCAL },
	{ "172.16.0.1", SSRF_PRIVATE },
	{ "172.31.255.255", SSRF_PRIVATE },
	{ "172.15.255.255", SSRF_PUBLIC },
	{ "172.32.0.0", SSRF_PUBLIC },
	{ "192.0.0.1", SSRF_RESERVED },
	{ "192.0.2.1", SSRF_DOCUMENTATION },
	{ "192.88.99.1", SSRF_RESERVED },
	{ "192.168.0.1", SSRF_PRIVATE },
	{ "192.168.255.255", SSRF_PRIVATE },
	{ "198.18.0.1", SSRF_RESERVED },
	{ "198.19.255.255", SSRF_RESERVED },
	{ "198.51.100.7", SSRF_DOCUMENTATION },
	{ "203.0.113.9", SSRF_DOCUMENTATION },
	{ "224.0.0.1", SSRF_MULTICAST },
	{ "239.255.255.250", SSRF_MULTICAST },
	{ "240.0.0.1", SSRF_RESERVED },
	{ "254.255.255.255", SSRF_RESERVED },
	{ "255.255.255.255", SSRF_BROADCAST },
	{ "93.184.216.34", SSRF_PUBLIC },
	{ "8.8.8.8", SSRF_PUBLIC },
	{ "1.1.1.1", SSRF_PUBLIC },
	{ "9.255.255.255", SSRF_PUBLIC },
	{ "11.0.0.0", SSRF_PUBLIC },
	{ "126.255.255.255", SSRF_PUBLIC },
	{ "128.0.0.0", SSRF_PUBLIC },
	{ "223.255.255.255", SSRF_PUBLIC },
	/* IPv6 */
	{ "::", SSRF_UNSPECIFIED },
	{ "::1", SSRF_LOOPBACK },
	{ "::2", SSRF_RESERVED },
	{ "::127.0.0.1", SSRF_RESERVED },          /* deprecated IPv4-compatible */
	{ "::ffff:127.0.0.1", SSRF_LOOPBACK },     /* IPv4-mapped: the embedded v4 decides */
	{ "::ffff:10.0.0.1", SSRF_PRIVATE },
	{ "::ffff:169.254.169.254", SSRF_LINK_LOCAL },
	{ "::ffff:0.0.0.0", SSRF_UNSPECIFIED },
	{ "::ffff:93.184.216.34", SSRF_PUBLIC },
	{ "::ffff:0:127.0.0.1", SSRF_RESERVED },   /* SIIT form, outside 2000::/3 */
	{ "64:ff9b::7f00:1", SSRF_NAT64 },
	{ "64:ff9b::5db8:d822", SSRF_NAT64 },
	{ "64:ff9b:1::1", SSRF_NAT64 },
	{ "100::1", SSRF_RESERVED },
	{ "2001::1", SSRF_TEREDO },
	{ "2001:0:4136:e378:8000:63bf:3fff:fdd2", SSRF_TEREDO },
	{ "2001:2::1", SSRF_RESERVED },
	{ "2001:10::1", SSRF_RESERVED },
	{ "2001:20::1", SSRF_RESERVED },
	{ "2001:db8::1", SSRF_DOCUMENTATION },
	{ "2001:db8:ffff::1", SSRF_DOCUMENTATION },
	{ "3fff::1", SSRF_DOCUMENTATION },
	{ "2002:7f00:1::1", SSRF_LOOPBACK },       /* 6to4 of 127.0.0.1 */
	{ "2002:a00:1::1", SSRF_PRIVATE },         /* 6to4 of 10.0.0.1 */
	{ "2002:a9fe:a9fe::1", SSRF_LINK_LOCAL },  /* 6to4 of 169.254.169.254 */
	{ "2002:5db8:d822::1", SSRF_PUBLIC },      /* 6to4 of 93.184.216.34 */
	{ "fc00::1", SSRF_PRIVATE },
	{ "fd12:3456:789a::1", SSRF_PRIVATE },
	{ "fe80::1", SSRF_LINK_LOCAL },
	{ "febf::1", SSRF_LINK_LOCAL },
	{ "fec0::1", SSRF_RESERVED },
	{ "ff02::1", SSRF_MULTICAST },
	{ "ff05::1:3", SSRF_MULTICAST },
	{ "4000::1", SSRF_RESERVED },
	{ "1::1", SSRF_RESERVED },
	{ "2606:4700::1", SSRF_PUBLIC },
	{ "2606:4700:4700::1111", SSRF_PUBLIC },
	{ "2a00:1450:4001:81b::200e", SSRF_PUBLIC },
	{ "2001:4860:4860::8888", SSRF_PUBLIC },
	{ "2003::1", SSRF_PUBLIC },
};

static void test_table(void **state)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(table); i++) {
		enum ssrf_class c;
		assert_int_equal(http_ssrf_classify_str(table[i].addr, &c), 0);
		if (c != table[i].cls)
			print_error("%s: got %s, want %s\n", table[i].addr, http_ssrf_class_name(c),
				    http_ssrf_class_name(table[i].cls));
		assert_int_equal(c, table[i].cls);
	}
}

/* the sockaddr entry point agrees with the string one */
static void test_sockaddr(void **state)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(table); i++) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof ss);
		if (strchr(table[i].addr, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, table[i].addr, &s6->sin6_addr), 1);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, table[i].addr, &s4->sin_addr), 1);
		}
		assert_int_equal(http_ssrf_classify((struct sockaddr *)&ss), table[i].cls);
	}
	struct sockaddr sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_family = AF_UNIX;
	assert_int_equal(http_ssrf_classify(&sa), SSRF_RESERVED);
}

static void test_not_addresses(void **state)
{
	static const char *const bad[] = { "", "localhost", "127.1", "0x7f000001", "2130706433",
					   "1.2.3.4.5", "::ffff:1.2.3", "[::1]", "fe80::1%eth0" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(bad); i++) {
		enum ssrf_class c;
		assert_int_equal(http_ssrf_classify_str(bad[i], &c), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
	}
}

static void test_allowed(void **state)
{
	assert_true(http_ssrf_allowed(SSRF_PUBLIC, false, false));
	for (int c = SSRF_UNSPECIFIED; c <= SSRF_TEREDO; c++)
		assert_false(http_ssrf_allowed((enum ssrf_class)c, false, false));
	/* allow_loopback admits loopback only */
	assert_true(http_ssrf_allowed(SSRF_LOOPBACK, false, true));
	assert_false(http_ssrf_allowed(SSRF_PRIVATE, false, true));
	assert_false(http_ssrf_allowed(SSRF_LINK_LOCAL, false, true));
	/* allow_private admits every unicast non-public class */
	assert_true(http_ssrf_allowed(SSRF_LOOPBACK, true, false));
	assert_true(http_ssrf_allowed(SSRF_PRIVATE, true, false));
	assert_true(http_ssrf_allowed(SSRF_CGNAT, true, false));
	assert_false(http_ssrf_allowed(SSRF_MULTICAST, true, false));
	assert_false(http_ssrf_allowed(SSRF_BROADCAST, true, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_not_addresses),
		cmocka_unit_test(test_allowed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
