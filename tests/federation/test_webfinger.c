/*
 * http/webfinger: acct: parsing, lookup URLs, JRD parsing and self-link choice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "http/webfinger.h"

static void test_acct_good(void **state)
{
	(void)state;
	struct wf_acct a;
	assert_int_equal(http_wf_acct_parse("acct:bob@B.Test", &a), 0);
	assert_string_equal(a.user, "bob");
	assert_string_equal(a.host, "b.test");
	assert_int_equal(a.port, 443);
	assert_string_equal(a.authority, "b.test");
	http_wf_acct_free(&a);

	assert_int_equal(http_wf_acct_parse("ACCT:Fred_1.x~y-z@f.test:8441", &a), 0);
	assert_string_equal(a.user, "Fred_1.x~y-z");
	assert_string_equal(a.authority, "f.test:8441");
	assert_int_equal(a.port, 8441);
	struct aim_buf b;
	aim_buf_init(&b, 1024);
	assert_int_equal(http_wf_acct_format(&a, &b), 0);
	assert_string_equal((char *)b.data, "acct:Fred_1.x~y-z@f.test:8441");
	aim_buf_reset(&b);
	assert_int_equal(http_wf_lookup_url(&a, &b), 0);
	assert_string_equal((char *)b.data, "https://f.test:8441/.well-known/webfinger"
					    "?resource=acct%3AFred_1.x~y-z%40f.test%3A8441");
	http_wf_acct_free(&a);

	/* The default port is dropped from the authority. */
	assert_int_equal(http_wf_acct_parse("acct:bob@b.test:443", &a), 0);
	assert_string_equal(a.authority, "b.test");
	aim_buf_reset(&b);
	assert_int_equal(http_wf_lookup_url(&a, &b), 0);
	assert_string_equal((char *)b.data,
			    "https://b.test/.well-known/webfinger?resource=acct%3Abob%40b.test");
	http_wf_acct_free(&a);

	assert_int_equal(http_wf_acct_parse("acct:x@127.0.0.1", &a), 0);
	assert_string_equal(a.host, "127.0.0.1");
	http_wf_acct_free(&a);
	assert_int_equal(http_wf_acct_parse("acct:x@[::1]:8443", &a), 0);
	assert_string_equal(a.host, "::1");
	assert_string_equal(a.authority, "[::1]:8443");
	http_wf_acct_free(&a);
	aim_buf_free(&b);
}

static void test_acct_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"acct:",
		"acct:@b.test",
		"acct:bob@",
		"acct:bob",
		"bob@b.test",
		"mailto:bob@b.test",
		"https://b.test/users/bob",
		"acct:bob@b.test@evil.test",
		"acct:bob@evil.test#@b.test",
		"acct:bob@b.test/path",
		"acct:bob@b.test?x=1",
		"acct:bob@user:pw@b.test",
		"acct:b%40b@b.test",
		"acct:bo b@b.test",
		"acct:bob@b.test:0",
		"acct:bob@b.test:65536",
		"acct:bob@b.test:",
		"acct:bob@0x7f.1",
		"acct:bob@b\\.test",
		"acct:bob@b.t\xc3\xa9st",
		"acct:bob@%62.test",
		"acct:bob@ b.test",
		"acct:bob@b..test",
		"acct:\xc3\xa9@b.test",
		"acct:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.test",
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(bad); i++) {
		struct wf_acct a;
		int rc = http_wf_acct_parse(bad[i], &a);
		if (rc == 0)
			print_error("accepted: %s\n", bad[i]);
		assert_int_equal(rc, -1);
		assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
		assert_null(a.user);
		assert_null(a.host);
		http_wf_acct_free(&a);
	}
	struct wf_acct a;
	assert_int_equal(http_wf_acct_parse(NULL, &a), -1);
}

static void test_acct_equal(void **state)
{
	(void)state;
	struct wf_acct a, b, c, d;
	assert_int_equal(http_wf_acct_parse("acct:bob@B.TEST", &a), 0);
	assert_int_equal(http_wf_acct_parse("acct:bob@b.test:443", &b), 0);
	assert_int_equal(http_wf_acct_parse("acct:bob@b.test:8443", &c), 0);
	assert_int_equal(http_wf_acct_parse("acct:Bob@b.test", &d), 0);
	assert_true(http_wf_acct_equal(&a, &b));
	assert_false(http_wf_acct_equal(&a, &c));
	assert_false(http_wf_acct_equal(&a, &d));
	http_wf_acct_free(&a);
	http_wf_acct_free(&b);
	http_wf_acct_free(&c);
	http_wf_acct_free(&d);
}

static void test_as_type(void **state)
{
	(void)state;
	assert_true(http_wf_is_as_type("application/activity+json"));
	assert_true(http_wf_is_as_type("Application/Activity+JSON; charset=utf-8"));
	assert_true(http_wf_is_as_type(
		"application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""));
	assert_true(http_wf_is_as_type("application/ld+json;profile=https://www.w3.org/ns/activitystreams"));
	assert_true(http_wf_is_as_type("application/ld+json; profile=\"https://example.com/p "
				  "https://www.w3.org/ns/activitystreams\""));
	assert_false(http_wf_is_as_type(NULL));
	assert_false(http_wf_is_as_type("application/ld+json"));
	assert_false(http_wf_is_as_type(
		"application/ld+json; profile=\"https://www.w3.org/ns/activitystreamsX\""));
	assert_false(http_wf_is_as_type("application/json"));
	assert_false(http_wf_is_as_type("text/html"));
	assert_false(http_wf_is_as_type("application/activity+jsonx"));
}

static int jrd(const char *s, struct wf_jrd *j)
{
	return http_wf_jrd_parse((const uint8_t *)s, strlen(s), j);
}

static void test_jrd(void **state)
{
	(void)state;
	struct wf_jrd j;
	assert_int_equal(
		jrd("{\"subject\":\"acct:bob@b.test\",\"aliases\":[\"https://b.test/@bob\"],"
		    "\"links\":[{\"rel\":\"http://webfinger.net/rel/profile-page\",\"type\":"
		    "\"text/html\",\"href\":\"https://b.test/@bob\"},"
		    "{\"rel\":\"self\",\"type\":\"text/html\",\"href\":\"https://b.test/x\"},"
		    "{\"rel\":\"self\",\"href\":\"https://b.test/y\"},"
		    "{\"rel\":\"self\",\"type\":\"application/activity+json\",\"href\":\"javascript:1\"},"
		    "7,"
		    "{\"rel\":\"self\",\"type\":\"application/activity+json\",\"href\":"
		    "\"https://b.test/users/bob\"},"
		    "{\"rel\":\"self\",\"type\":\"application/activity+json\",\"href\":"
		    "\"https://b.test/users/other\"}]}",
		    &j),
		0);
	assert_string_equal(j.subject, "acct:bob@b.test");
	assert_string_equal(j.self, "https://b.test/users/bob");
	http_wf_jrd_free(&j);

	assert_int_equal(jrd("{\"subject\":\"acct:x@y.test\",\"links\":[{\"rel\":\"self\","
			     "\"type\":\"application/ld+json; profile=\\\"https://www.w3.org/ns/"
			     "activitystreams\\\"\",\"href\":\"https://y.test/a/x\"}]}",
			     &j),
			 0);
	assert_string_equal(j.self, "https://y.test/a/x");
	http_wf_jrd_free(&j);

	/* No self link: parses, self NULL. */
	assert_int_equal(jrd("{\"subject\":\"acct:x@y.test\"}", &j), 0);
	assert_null(j.self);
	http_wf_jrd_free(&j);

	/* Malformed. */
	assert_int_equal(jrd("{\"subject\":7}", &j), -1);
	assert_null(j.subject);
	assert_int_equal(jrd("{\"links\":{}}", &j), -1);
	assert_int_equal(jrd("[]", &j), -1);
	assert_int_equal(jrd("{\"subject\":", &j), -1);
	assert_int_equal(jrd("", &j), -1);
}

static void test_jrd_limits(void **state)
{
	(void)state;
	struct wf_jrd j;
	/* Over the size cap. */
	size_t n = WF_JRD_MAX + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{}", 2);
	big[n] = '\0';
	assert_int_equal(http_wf_jrd_parse((const uint8_t *)big, n, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	free(big);

	/* Deep nesting is refused before the parser sees it. */
	struct aim_buf b;
	aim_buf_init(&b, 1 << 16);
	assert_int_equal(aim_buf_append_str(&b, "{\"links\":"), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(aim_buf_append_byte(&b, '['), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(aim_buf_append_byte(&b, ']'), 0);
	assert_int_equal(aim_buf_append_byte(&b, '}'), 0);
	assert_int_equal(http_wf_jrd_parse(b.data, b.len, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	aim_buf_free(&b);

	/* Only the first WF_LINKS_MAX links are looked at. */
	aim_buf_init(&b, 1 << 16);
	assert_int_equal(aim_buf_append_str(&b, "{\"links\":["), 0);
	for (int i = 0; i < WF_LINKS_MAX; i++)
		assert_int_equal(aim_buf_append_str(&b, "{\"rel\":\"x\"},"), 0);
	assert_int_equal(aim_buf_append_str(&b, "{\"rel\":\"self\",\"type\":\"application/"
						"activity+json\",\"href\":\"https://a.test/u\"}]}"),
			 0);
	assert_int_equal(http_wf_jrd_parse(b.data, b.len, &j), 0);
	assert_null(j.self);
	http_wf_jrd_free(&j);
	aim_buf_free(&b);
}

static void test_acct_at(void **state)
{
	(void)state;
	struct wf_acct a;
	assert_int_equal(http_wf_acct_parse("acct:alice@A.Test", &a), 0);
	assert_true(http_wf_acct_at(&a, "a.test"));
	assert_true(http_wf_acct_at(&a, "A.TEST:443"));
	assert_true(http_wf_acct_at(&a, "a.test."));
	assert_false(http_wf_acct_at(&a, "a.test:8441"));
	assert_false(http_wf_acct_at(&a, "b.test"));
	assert_false(http_wf_acct_at(&a, "a.test/x"));
	assert_false(http_wf_acct_at(&a, ""));
	assert_false(http_wf_acct_at(&a, NULL));
	http_wf_acct_free(&a);
	assert_int_equal(http_wf_acct_parse("acct:bob@127.0.0.1:8441", &a), 0);
	assert_true(http_wf_acct_at(&a, "127.0.0.1:8441"));
	assert_false(http_wf_acct_at(&a, "127.0.0.1"));
	http_wf_acct_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acct_good),
		cmocka_unit_test(test_acct_at),
		cmocka_unit_test(test_acct_bad),
		cmocka_unit_test(test_acct_equal),  cmocka_unit_test(test_as_type),
		cmocka_unit_test(test_jrd),         cmocka_unit_test(test_jrd_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
