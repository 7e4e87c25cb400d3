/* The input limits of the JSON guard (src/ap): members per object, entries
 * per array, values per document, nesting (threats.md B26; issue 16 "No limit
 * on object keys"). Each bound is refused with AIM_ERR_LIMIT before jansson
 * builds anything, and a document just inside every bound still parses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ap/ap.h"

/* {"k0":0,"k1":0,...} with n members, inside `depth` levels of {"x": ...}. */
static void object_of(struct aim_buf *b, size_t n, size_t depth)
{
	aim_buf_init(b, (size_t)16 << 20);
	for (size_t d = 0; d < depth; d++)
		assert_int_equal(aim_buf_append_str(b, "{\"x\":"), 0);
	assert_int_equal(aim_buf_append_str(b, "{"), 0);
	char k[32];
	for (size_t i = 0; i < n; i++) {
		snprintf(k, sizeof k, "%s\"k%zu\":0", i ? "," : "", i);
		assert_int_equal(aim_buf_append_str(b, k), 0);
	}
	assert_int_equal(aim_buf_append_str(b, "}"), 0);
	for (size_t d = 0; d < depth; d++)
		assert_int_equal(aim_buf_append_str(b, "}"), 0);
}

static void test_keys_per_object(void **state)
{
	(void)state;
	struct aim_buf b;
	json_t *j = NULL;
	/* 200,000 keys: refused, at the top and nested. */
	object_of(&b, 200000, 0);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_null(j);
	aim_buf_free(&b);
	object_of(&b, AP_MAX_KEYS + 1, 3);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	aim_buf_free(&b);
	/* Exactly the bound: parses. */
	object_of(&b, AP_MAX_KEYS, 3);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), 0);
	json_decref(j);
	aim_buf_free(&b);
}

static void test_commas_in_strings_do_not_count(void **state)
{
	(void)state;
	struct aim_buf b;
	aim_buf_init(&b, (size_t)16 << 20);
	assert_int_equal(aim_buf_append_str(&b, "{\"content\":\""), 0);
	for (int i = 0; i < 300000; i++)
		assert_int_equal(aim_buf_append_str(&b, i % 7 ? "," : "\\\","), 0);
	assert_int_equal(aim_buf_append_str(&b, "\",\"to\":[1,2,3]}"), 0);
	json_t *j = NULL;
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), 0);
	json_decref(j);
	aim_buf_free(&b);
}

static void test_array_entries_and_values(void **state)
{
	(void)state;
	struct aim_buf b;
	json_t *j = NULL;
	/* One array one past the bound, deep inside objects. */
	aim_buf_init(&b, (size_t)16 << 20);
	assert_int_equal(aim_buf_append_str(&b, "{\"a\":{\"b\":{\"tag\":["), 0);
	for (int i = 0; i <= AP_MAX_ARRAY; i++)
		assert_int_equal(aim_buf_append_str(&b, i ? ",0" : "0"), 0);
	assert_int_equal(aim_buf_append_str(&b, "]}}}"), 0);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	aim_buf_free(&b);
	/* Many arrays each inside the bound, too many values together. */
	aim_buf_init(&b, (size_t)16 << 20);
	assert_int_equal(aim_buf_append_str(&b, "{\"a\":["), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(aim_buf_append_str(&b, i ? ",[" : "["), 0);
		for (int k = 0; k < 999; k++)
			assert_int_equal(aim_buf_append_str(&b, k ? ",0" : "0"), 0);
		assert_int_equal(aim_buf_append_str(&b, "]"), 0);
	}
	assert_int_equal(aim_buf_append_str(&b, "]}"), 0);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_non_null(strstr(aim_errmsg(), "values"));
	aim_buf_free(&b);
	/* Depth: 33 levels refused, 32 taken. */
	object_of(&b, 1, AP_MAX_DEPTH);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	aim_buf_free(&b);
	object_of(&b, 1, AP_MAX_DEPTH - 1);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), 0);
	json_decref(j);
	aim_buf_free(&b);
}

static void test_shape_check_bounds(void **state)
{
	(void)state;
	const struct ap_json_limits lim = { 4, 3, 2, 10 };
	const char *ok[] = { "{}", "[]", "{\"a\":[1,2,3],\"b\":{\"c\":1}}", "\"[[[[[[,,,,,\"",
			     "[[[[]]]]" };
	const char *bad[] = { "[1,2,3,4]", "{\"a\":1,\"b\":2,\"c\":3}", "[[[[[]]]]]",
			      "[[1,2],[1,2],[1,2],[1,2]]" };
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		assert_int_equal(ap_json_shape_check((const uint8_t *)ok[i], strlen(ok[i]), &lim), 0);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(ap_json_shape_check((const uint8_t *)bad[i], strlen(bad[i]), &lim),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	}
	/* No bounds: anything. */
	const struct ap_json_limits none = { 0 };
	assert_int_equal(ap_json_shape_check((const uint8_t *)bad[3], strlen(bad[3]), &none), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_per_object),
		cmocka_unit_test(test_commas_in_strings_do_not_count),
		cmocka_unit_test(test_array_entries_and_values),
		cmocka_unit_test(test_shape_check_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
