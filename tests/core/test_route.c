/*
 * http/route: route patterns (literal segments, one-segment captures),
 * methods (GET answers HEAD) and the Allow list of a 405.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "http/route.h"

static void test_literal(void **state)
{
	(void)state;
	struct http_route_caps c;
	assert_true(http_route_match("/inbox", "/inbox", &c));
	assert_int_equal(c.n, 0);
	assert_true(http_route_match("/.well-known/host-meta.json", "/.well-known/host-meta.json", &c));
	assert_false(http_route_match("/.well-known/host-meta", "/.well-known/host-meta.json", &c));
	assert_false(http_route_match("/inbox", "/inbox/", &c));
	assert_false(http_route_match("/inbox", "/Inbox", &c));
	assert_false(http_route_match("/inbox", "/inbox/x", &c));
	assert_false(http_route_match("/inbox", "", &c));
	assert_false(http_route_match("/inbox", "inbox", &c));
	assert_false(http_route_match("/actor/inbox", "/actor", &c));
}

static void test_capture(void **state)
{
	(void)state;
	struct http_route_caps c;
	assert_true(http_route_match("/users/{name}/outbox", "/users/alice/outbox", &c));
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0], "alice");
	assert_true(http_route_match("/users/{name}", "/users/bob.smith", &c));
	assert_string_equal(c.v[0], "bob.smith");
	/* An empty segment is never captured. */
	assert_false(http_route_match("/users/{name}", "/users/", &c));
	assert_false(http_route_match("/users/{name}/outbox", "/users//outbox", &c));
	assert_false(http_route_match("/users/{name}", "/users/alice/", &c));
	/* An encoded slash (left undecoded by the server) stays in its segment. */
	assert_false(http_route_match("/users/{name}/outbox", "/users/alice%2Foutbox", &c));
	assert_true(http_route_match("/users/{name}", "/users/alice%2Foutbox", &c));
	assert_string_equal(c.v[0], "alice%2Foutbox");
	/* Two captures, and an overlong segment. */
	assert_true(http_route_match("/a/{x}/b/{y}", "/a/1/b/2", &c));
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[1], "2");
	char longp[HTTP_ROUTE_CAP_MAX + 16] = "/objects/";
	memset(longp + 9, 'x', HTTP_ROUTE_CAP_MAX + 1);
	assert_false(http_route_match("/objects/{id}", longp, &c));
	longp[9 + HTTP_ROUTE_CAP_MAX] = 0;
	assert_true(http_route_match("/objects/{id}", longp, &c));
	assert_int_equal(strlen(c.v[0]), HTTP_ROUTE_CAP_MAX);
}

static void test_methods(void **state)
{
	(void)state;
	assert_true(http_route_method_ok("GET", "GET"));
	assert_true(http_route_method_ok("GET", "HEAD"));
	assert_false(http_route_method_ok("POST", "HEAD"));
	assert_false(http_route_method_ok("GET", "POST"));
	assert_false(http_route_method_ok("GET", "get"));
	char allow[64] = "";
	http_route_allow_add(allow, sizeof allow, "GET");
	http_route_allow_add(allow, sizeof allow, "POST");
	http_route_allow_add(allow, sizeof allow, "GET");
	assert_string_equal(allow, "GET, HEAD, POST");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_methods),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
