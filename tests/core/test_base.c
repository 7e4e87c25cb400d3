/* Unit tests of the base layer: buffers, encodings, time, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"

static void test_buf_ceiling(void **state)
{
	struct aim_buf b;
	aim_buf_init(&b, 8);
	assert_int_equal(aim_buf_append(&b, "12345678", 8), 0);
	assert_int_equal(aim_buf_append(&b, "9", 1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_null(b.data); /* freed on overflow */
	aim_buf_free(&b);
}

/* A fresh buffer is a C string after any call, even one that appends
 * nothing (found by fuzz_http_sig: an empty RFC 9421 alg="" parameter was
 * read into a fresh buffer and compared with strcmp past its end). The
 * block of the same size freed first makes the allocator hand back memory
 * that is not zero. */
static void test_buf_fresh_is_a_string(void **state)
{
	char *junk = malloc(64);
	assert_non_null(junk);
	memset(junk, 'x', 64);
	free(junk);
	struct aim_buf b;
	aim_buf_init(&b, 256);
	assert_int_equal(aim_buf_reserve(&b, 0), 0);
	assert_non_null(b.data);
	assert_int_equal(b.data[0], 0);
	assert_int_equal(strlen((const char *)b.data), 0);
	aim_buf_free(&b);
}

static void test_hex(void **state)
{
	struct aim_buf b;
	aim_buf_init(&b, 0);
	assert_int_equal(aim_hex_decode(&b, "00fFa0", 6), 0);
	assert_int_equal(b.len, 3);
	assert_int_equal(b.data[1], 0xff);
	aim_buf_reset(&b);
	assert_int_equal(aim_hex_decode(&b, "abc", 3), -1);
	aim_buf_free(&b);
	aim_buf_init(&b, 0);
	assert_int_equal(aim_hex_decode(&b, "zz", 2), -1);
	aim_buf_free(&b);
}

static void test_b64(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(v); i++) {
		struct aim_buf b;
		aim_buf_init(&b, 0);
		assert_int_equal(aim_b64_encode(&b, (const uint8_t *)v[i].in, strlen(v[i].in)), 0);
		assert_string_equal(b.data ? (char *)b.data : "", v[i].out);
		aim_buf_reset(&b);
		assert_int_equal(aim_b64_decode(&b, v[i].out, strlen(v[i].out)), 0);
		assert_int_equal(b.len, strlen(v[i].in));
		assert_memory_equal(b.data ? b.data : (uint8_t *)"", v[i].in, b.len);
		aim_buf_free(&b);
	}
	struct aim_buf b;
	aim_buf_init(&b, 0);
	assert_int_equal(aim_b64_decode(&b, "Zm9", 3), -1);   /* bad length */
	aim_buf_free(&b);
	aim_buf_init(&b, 0);
	assert_int_equal(aim_b64_decode(&b, "Zh==", 4), -1);  /* non-canonical bits */
	aim_buf_free(&b);
	aim_buf_init(&b, 0);
	assert_int_equal(aim_b64_decode(&b, "Zm 9", 4), -1);  /* junk */
	aim_buf_free(&b);
	aim_buf_init(&b, 0);
	assert_int_equal(aim_b64url_encode(&b, (const uint8_t *)"\xfb\xff", 2), 0);
	assert_string_equal((char *)b.data, "-_8");
	aim_buf_free(&b);
}

static void test_multibase(void **state)
{
	/* FEP-521a example prefix: ed25519-pub multicodec 0xed01 then 32 bytes. */
	uint8_t key[34] = { 0xed, 0x01 };
	for (int i = 0; i < 32; i++)
		key[2 + i] = (uint8_t)i;
	struct aim_buf b, d;
	aim_buf_init(&b, 0);
	aim_buf_init(&d, 0);
	assert_int_equal(aim_multibase_encode(&b, key, sizeof key), 0);
	assert_true(aim_str_has_prefix((char *)b.data, "z6Mk"));
	assert_int_equal(aim_multibase_decode(&d, (char *)b.data, b.len), 0);
	assert_int_equal(d.len, sizeof key);
	assert_memory_equal(d.data, key, sizeof key);
	aim_buf_free(&b);
	aim_buf_free(&d);
	aim_buf_init(&d, 0);
	assert_int_equal(aim_multibase_decode(&d, "z0OIl", 5), -1);
	aim_buf_free(&d);
}

static void test_time(void **state)
{
	char s[30];
	aim_time_http(784111777, s);
	assert_string_equal(s, "Sun, 06 Nov 1994 08:49:37 GMT");
	int64_t t;
	assert_int_equal(aim_time_parse_http(s, &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(aim_time_parse_http("Sun, 06 Nov 1994 08:49:37 XYZ", &t), -1);
	assert_int_equal(aim_time_parse_rfc3339("1994-11-06T08:49:37Z", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(aim_time_parse_rfc3339("1994-11-06T09:49:37.123+01:00", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(aim_time_parse_rfc3339("1994-11-06T08:49:37", &t), -1);
	char r[21];
	aim_time_rfc3339(784111777, r);
	assert_string_equal(r, "1994-11-06T08:49:37Z");
}

static void test_ct_equal(void **state)
{
	assert_true(aim_ct_equal("abc", 3, "abc", 3));
	assert_false(aim_ct_equal("abc", 3, "abd", 3));
	assert_false(aim_ct_equal("abc", 3, "ab", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_ceiling), cmocka_unit_test(test_buf_fresh_is_a_string),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_b64),         cmocka_unit_test(test_multibase),
		cmocka_unit_test(test_time),        cmocka_unit_test(test_ct_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
