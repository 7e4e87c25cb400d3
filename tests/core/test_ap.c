/* Unit tests of the ap layer: JSON limits, actor documents, and the outbox
 * rules (wrapping, id/actor assignment, foreign actors, addressing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ap/ap.h"

#define ALICE "https://a.test/users/alice"
#define BOB "https://a.test/users/bob"

static const struct ap_outbox_in IN = {
	.actor = ALICE,
	.activity_id = "https://a.test/activities/1",
	.object_id = "https://a.test/objects/1",
	.now = 1700000000,
};

static json_t *parse(const char *s)
{
	json_t *j = NULL;
	assert_int_equal(ap_json_parse_object((const uint8_t *)s, strlen(s), &j), 0);
	return j;
}

static int prepare(const char *s, struct ap_outbox_out *out)
{
	json_t *j = parse(s);
	int rc = ap_outbox_prepare(&IN, j, out);
	json_decref(j);
	return rc;
}

static void test_json_limits(void **state)
{
	char deep[80];
	memset(deep, '[', 33);
	memset(deep + 33, ']', 33);
	assert_int_equal(ap_json_depth_check((const uint8_t *)deep, 66, 32), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	assert_int_equal(ap_json_depth_check((const uint8_t *)deep + 1, 64, 32), 0);
	/* Brackets inside strings, with escaped quotes, do not count. */
	const char *s = "{\"a\":\"[[[[\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
	assert_int_equal(ap_json_depth_check((const uint8_t *)s, strlen(s), 2), 0);
	json_t *j = NULL;
	assert_int_equal(ap_json_parse_object((const uint8_t *)"[1]", 3, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(ap_json_parse_object((const uint8_t *)"{\"a\":", 5, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
	assert_int_equal(ap_json_parse_object((const uint8_t *)"{\"a\":1,\"a\":2}", 13, &j), -1);
	/* An array over the limit. */
	struct aim_buf b;
	aim_buf_init(&b, 0);
	assert_int_equal(aim_buf_append_str(&b, "{\"to\":["), 0);
	for (int i = 0; i <= AP_MAX_ARRAY; i++)
		assert_int_equal(aim_buf_append_str(&b, i ? ",1" : "1"), 0);
	assert_int_equal(aim_buf_append_str(&b, "]}"), 0);
	assert_int_equal(ap_json_parse_object(b.data, b.len, &j), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	aim_buf_free(&b);
}

static void test_wrap_bare_object(void **state)
{
	struct ap_outbox_out o;
	assert_int_equal(prepare("{\"type\":\"Note\",\"content\":\"hi\",\"id\":\"https://evil/x\","
				 "\"to\":\"" AP_PUBLIC "\",\"cc\":[\"" BOB "\"],\"bcc\":[\"https://c/x\"]}",
				 &o),
			 0);
	assert_string_equal(json_string_value(json_object_get(o.activity, "type")), "Create");
	assert_string_equal(json_string_value(json_object_get(o.activity, "id")), IN.activity_id);
	assert_string_equal(json_string_value(json_object_get(o.activity, "actor")), ALICE);
	assert_string_equal(json_string_value(json_object_get(o.activity, "published")),
			    "2023-11-14T22:13:20Z");
	assert_non_null(o.object);
	assert_ptr_equal(o.object, json_object_get(o.activity, "object"));
	/* The client's id is replaced. */
	assert_string_equal(json_string_value(json_object_get(o.object, "id")), IN.object_id);
	assert_string_equal(json_string_value(json_object_get(o.object, "attributedTo")), ALICE);
	/* Addressing copied to the Create. */
	assert_string_equal(json_string_value(json_object_get(o.activity, "to")), AP_PUBLIC);
	assert_non_null(json_object_get(o.activity, "bcc"));
	assert_true(o.is_public);
	assert_int_equal(o.n_addressees, 3);
	json_t *s = ap_strip_hidden(o.activity);
	assert_null(json_object_get(s, "bcc"));
	assert_null(json_object_get(json_object_get(s, "object"), "bcc"));
	assert_non_null(json_object_get(s, "cc"));
	json_decref(s);
	ap_outbox_out_clear(&o);
}

static void test_create_merges_addressing(void **state)
{
	struct ap_outbox_out o;
	assert_int_equal(prepare("{\"type\":\"Create\",\"actor\":\"" ALICE "\",\"to\":[\"" BOB "\"],"
				 "\"object\":{\"type\":\"Note\",\"content\":\"x\",\"cc\":\"https://c/y\"}}",
				 &o),
			 0);
	assert_false(o.is_public);
	assert_int_equal(o.n_addressees, 2);
	assert_true(json_is_array(json_object_get(o.object, "to")));
	assert_true(json_is_array(json_object_get(o.activity, "cc")));
	ap_outbox_out_clear(&o);
	/* A non-Create activity keeps its object reference and gets no object id. */
	assert_int_equal(prepare("{\"type\":\"Follow\",\"object\":\"" BOB "\",\"to\":\"" BOB "\"}", &o), 0);
	assert_null(o.object);
	assert_string_equal(json_string_value(json_object_get(o.activity, "object")), BOB);
	assert_int_equal(o.n_addressees, 1);
	assert_string_equal(o.addressees[0], BOB);
	ap_outbox_out_clear(&o);
}

static void test_refusals(void **state)
{
	struct ap_outbox_out o;
	static const struct { const char *doc; enum aim_err code; } v[] = {
		{ "{\"type\":\"Create\",\"actor\":\"" BOB "\",\"object\":{\"type\":\"Note\"}}", AIM_ERR_DENIED },
		{ "{\"type\":\"Like\",\"actor\":{\"id\":\"" BOB "\"},\"object\":\"x\"}", AIM_ERR_DENIED },
		{ "{\"type\":\"Note\",\"attributedTo\":\"" BOB "\"}", AIM_ERR_DENIED },
		{ "{\"type\":\"Create\",\"object\":{\"type\":\"Note\",\"attributedTo\":\"" BOB "\"}}", AIM_ERR_DENIED },
		{ "{\"type\":\"Like\",\"actor\":5}", AIM_ERR_INVALID },
		{ "{\"content\":\"no type\"}", AIM_ERR_INVALID },
		{ "{\"type\":[]}", AIM_ERR_INVALID },
		{ "{\"type\":\"\"}", AIM_ERR_INVALID },
		{ "{\"type\":\"Note\",\"to\":5}", AIM_ERR_INVALID },
		{ "{\"type\":\"Note\",\"cc\":[\"a\",7]}", AIM_ERR_INVALID },
		{ "{\"type\":\"Note\",\"content\":{\"a\":1}}", AIM_ERR_INVALID },
		{ "{\"type\":\"Create\",\"object\":\"https://x/o\"}", AIM_ERR_INVALID },
		{ "{\"type\":\"Create\",\"object\":{\"content\":\"x\"}}", AIM_ERR_INVALID },
		{ "{\"type\":\"Create\",\"object\":{\"type\":\"Note\",\"bto\":{}}}", AIM_ERR_INVALID },
		{ "{\"type\":\"Like\",\"object\":[1]}", AIM_ERR_INVALID },
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(v); i++) {
		assert_int_equal(prepare(v[i].doc, &o), -1);
		if (aim_errcode() != v[i].code)
			fail_msg("case %zu: got %s (%s)", i, aim_errname(aim_errcode()), aim_errmsg());
		assert_null(o.activity);
	}
}

static void test_actor_document(void **state)
{
	uint8_t ed[32] = { 0 };
	struct ap_actor_info a = { ALICE, "Person", "alice", "https://a.test/inbox", "PEM", ed };
	json_t *j = NULL;
	assert_int_equal(ap_actor_build(&a, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "inbox")), ALICE "/inbox");
	assert_string_equal(json_string_value(json_object_get(j, "keyPackages")), ALICE "/keyPackages");
	json_t *pk = json_object_get(j, "publicKey");
	assert_string_equal(json_string_value(json_object_get(pk, "id")), ALICE "#main-key");
	assert_string_equal(json_string_value(json_object_get(pk, "owner")), ALICE);
	json_t *mk = json_array_get(json_object_get(j, "assertionMethod"), 0);
	assert_string_equal(json_string_value(json_object_get(mk, "type")), "Multikey");
	const char *mb = json_string_value(json_object_get(mk, "publicKeyMultibase"));
	assert_true(aim_str_has_prefix(mb, "z6Mk"));
	struct aim_buf d;
	aim_buf_init(&d, 0);
	assert_int_equal(aim_multibase_decode(&d, mb, strlen(mb)), 0);
	assert_int_equal(d.len, 34);
	assert_int_equal(d.data[0], 0xed);
	assert_int_equal(d.data[1], 0x01);
	aim_buf_free(&d);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "endpoints"),
							      "sharedInbox")),
			    "https://a.test/inbox");
	json_decref(j);
	assert_true(ap_is_public("as:Public"));
	assert_true(ap_is_public(AP_PUBLIC));
	assert_false(ap_is_public("https://www.w3.org/ns/activitystreams#Publicx"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_limits),
		cmocka_unit_test(test_wrap_bare_object),
		cmocka_unit_test(test_create_merges_addressing),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_actor_document),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
