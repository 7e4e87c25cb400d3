/* Unit tests of the remote actor parse (ap.h ap_actor_parse): what aimd
 * takes from a peer's actor document, and the keys it refuses (docs/threats.md A15,
 * B22). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ap/ap.h"

#define BOB "https://b.test/users/bob"
#define PEM "-----BEGIN PUBLIC KEY-----\nMIIB...\n-----END PUBLIC KEY-----\n"

static json_t *parse(const char *s)
{
	json_t *j = NULL;
	assert_int_equal(ap_json_parse_object((const uint8_t *)s, strlen(s), &j), 0);
	return j;
}

/* ap_actor_parse of the text s; the error code, 0 on success. */
static int actor_of(const char *s, const char *expect, struct ap_remote_actor *a)
{
	json_t *j = parse(s);
	int rc = ap_actor_parse(j, expect, a);
	json_decref(j);
	if (rc != 0) {
		assert_null(a->id);
		assert_int_equal(a->n_keys, 0);
		return (int)aim_errcode();
	}
	return 0;
}

/* "z..." for multicodec prefix p0 p1 and n bytes of 7s. */
static char *multikey(uint8_t p0, uint8_t p1, size_t n)
{
	uint8_t raw[64] = { p0, p1 };
	memset(raw + 2, 7, n);
	struct aim_buf b;
	aim_buf_init(&b, 256);
	assert_int_equal(aim_multibase_encode(&b, raw, n + 2), 0);
	return (char *)aim_buf_steal(&b, NULL);
}

/* A Person as aimd itself builds it parses back to the same facts. */
static void test_person_round_trip(void **state)
{
	(void)state;
	uint8_t ed[32];
	for (int i = 0; i < 32; i++)
		ed[i] = (uint8_t)(i * 7);
	struct ap_actor_info info = {
		.id = BOB,
		.type = "Person",
		.preferred_username = "bob",
		.shared_inbox = "https://b.test/inbox",
		.rsa_public_pem = PEM,
		.ed25519_public = ed,
	};
	json_t *doc = NULL;
	assert_int_equal(ap_actor_build(&info, &doc), 0);
	struct ap_remote_actor a;
	assert_int_equal(ap_actor_parse(doc, BOB, &a), 0);
	json_decref(doc);
	assert_string_equal(a.id, BOB);
	assert_string_equal(a.type, "Person");
	assert_string_equal(a.inbox, BOB "/inbox");
	assert_string_equal(a.shared_inbox, "https://b.test/inbox");
	assert_string_equal(a.followers, BOB "/followers");
	assert_string_equal(a.preferred_username, "bob");
	assert_int_equal(a.n_keys, 2);
	const struct ap_actor_key *k = ap_actor_key_find(&a, BOB "#main-key");
	assert_non_null(k);
	assert_int_equal(k->form, AP_KEY_PEM);
	assert_string_equal(k->pem, PEM);
	k = NULL;
	for (size_t i = 0; i < a.n_keys; i++)
		if (a.keys[i].form == AP_KEY_ED25519)
			k = &a.keys[i];
	assert_non_null(k);
	assert_memory_equal(k->ed25519, ed, 32);
	assert_ptr_equal(ap_actor_key_find(&a, k->id), k);
	assert_null(ap_actor_key_find(&a, BOB "#other"));
	ap_remote_actor_clear(&a);
	assert_null(a.id);
}

/* A channel is a Group (the draft's example says Service): both parse, the
 * type is kept as given, keys come as an array. */
static void test_group_and_service(void **state)
{
	(void)state;
	static const char *const types[] = { "Group", "Service" };
	for (size_t t = 0; t < 2; t++) {
		char *s = aim_xasprintf(
			"{\"id\":\"https://b.test/channels/c\",\"type\":\"%s\","
			"\"inbox\":\"https://b.test/channels/c/inbox\","
			"\"followers\":\"https://b.test/channels/c/followers\","
			"\"publicKey\":[{\"id\":\"https://b.test/channels/c#k1\","
			"\"owner\":\"https://b.test/channels/c\",\"publicKeyPem\":\"%s\"},"
			"{\"id\":\"https://b.test/channels/c#k2\","
			"\"owner\":\"https://B.test:443/channels/c\",\"publicKeyPem\":\"x\"}]}",
			types[t], "pem");
		struct ap_remote_actor a;
		assert_int_equal(actor_of(s, NULL, &a), 0);
		assert_string_equal(a.type, types[t]);
		assert_string_equal(a.followers, "https://b.test/channels/c/followers");
		assert_null(a.shared_inbox);
		assert_null(a.preferred_username);
		assert_int_equal(a.n_keys, 2);
		ap_remote_actor_clear(&a);
		free(s);
	}
}

/* Without an inbox to deliver to (or id, or type) it is not an actor. */
static void test_missing_fields(void **state)
{
	(void)state;
	struct ap_remote_actor a;
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"type\":\"Person\"}", NULL, &a),
			 AIM_ERR_INVALID);
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"type\":\"Person\",\"inbox\":7}", NULL, &a),
			 AIM_ERR_INVALID);
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"type\":\"Person\","
				  "\"inbox\":\"ftp://b.test/inbox\"}", NULL, &a),
			 AIM_ERR_INVALID);
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"type\":\"Person\","
				  "\"inbox\":\"https://127.1/inbox\"}", NULL, &a),
			 AIM_ERR_INVALID);
	assert_int_equal(actor_of("{\"type\":\"Person\",\"inbox\":\"" BOB "/inbox\"}", NULL, &a),
			 AIM_ERR_INVALID);
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"inbox\":\"" BOB "/inbox\"}", NULL, &a),
			 AIM_ERR_INVALID);
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"type\":[\"Person\"],"
				  "\"inbox\":\"" BOB "/inbox\"}", NULL, &a),
			 AIM_ERR_INVALID);
	/* Optional links that are not http(s) URLs are dropped, not fatal. */
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"type\":\"Person\",\"inbox\":\"" BOB
				  "/inbox\",\"followers\":\"javascript:x\",\"endpoints\":"
				  "{\"sharedInbox\":\"https://b test/\"}}", NULL, &a),
			 0);
	assert_null(a.followers);
	assert_null(a.shared_inbox);
	assert_int_equal(a.n_keys, 0);
	ap_remote_actor_clear(&a);
}

/* A15: a key is the actor's only when its owner (or controller) is the
 * actor itself and the key's id is on the actor's origin. */
static void test_key_owner(void **state)
{
	(void)state;
	static const char *const refused[] = {
		/* another actor on the same host */
		"{\"id\":\"" BOB "#k\",\"owner\":\"https://b.test/users/eve\",\"publicKeyPem\":\"p\"}",
		/* the owner on another host */
		"{\"id\":\"" BOB "#k\",\"owner\":\"https://evil.test/users/bob\",\"publicKeyPem\":\"p\"}",
		/* no owner at all */
		"{\"id\":\"" BOB "#k\",\"publicKeyPem\":\"p\"}",
		/* the key's id on another origin */
		"{\"id\":\"https://evil.test/k\",\"owner\":\"" BOB "\",\"publicKeyPem\":\"p\"}",
		"{\"id\":\"http://b.test/users/bob#k\",\"owner\":\"" BOB "\",\"publicKeyPem\":\"p\"}",
		"{\"id\":\"https://b.test:8443/k\",\"owner\":\"" BOB "\",\"publicKeyPem\":\"p\"}",
		/* no id, or no key material */
		"{\"owner\":\"" BOB "\",\"publicKeyPem\":\"p\"}",
		"{\"id\":\"" BOB "#k\",\"owner\":\"" BOB "\"}",
		"{\"id\":\"" BOB "#k\",\"owner\":\"" BOB "\",\"publicKeyPem\":7}",
		"\"" BOB "#k\"",
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(refused); i++) {
		char *s = aim_xasprintf("{\"id\":\"%s\",\"type\":\"Person\",\"inbox\":\"%s/inbox\","
					"\"publicKey\":%s}",
					BOB, BOB, refused[i]);
		struct ap_remote_actor a;
		assert_int_equal(actor_of(s, NULL, &a), 0);
		assert_int_equal(a.n_keys, 0);
		ap_remote_actor_clear(&a);
		free(s);
	}
	/* controller (FEP-521a) serves as owner; a refused key beside a good
	 * one does not hide the good one. */
	struct ap_remote_actor a;
	assert_int_equal(actor_of("{\"id\":\"" BOB "\",\"type\":\"Person\",\"inbox\":\"" BOB
				  "/inbox\",\"publicKey\":[{\"id\":\"https://evil.test/k\",\"owner\":\""
				  BOB "\",\"publicKeyPem\":\"p\"},{\"id\":\"" BOB "#k\","
				  "\"controller\":\"" BOB "\",\"publicKeyPem\":\"p\"}]}",
				  NULL, &a),
			 0);
	assert_int_equal(a.n_keys, 1);
	assert_string_equal(a.keys[0].id, BOB "#k");
	ap_remote_actor_clear(&a);
	/* At most AP_ACTOR_MAX_KEYS are kept. */
	json_t *doc = parse("{\"id\":\"" BOB "\",\"type\":\"Person\",\"inbox\":\"" BOB "/inbox\"}");
	json_t *keys = json_array();
	for (int i = 0; i < AP_ACTOR_MAX_KEYS + 3; i++) {
		char *kid = aim_xasprintf("%s#k%d", BOB, i);
		json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "id", kid, "owner", BOB,
						      "publicKeyPem", "p"));
		free(kid);
	}
	json_object_set_new(doc, "publicKey", keys);
	assert_int_equal(ap_actor_parse(doc, NULL, &a), 0);
	assert_int_equal(a.n_keys, AP_ACTOR_MAX_KEYS);
	ap_remote_actor_clear(&a);
	json_decref(doc);
}

/* B22: the document must be the one asked for, and its id a URL. */
static void test_wrong_id(void **state)
{
	(void)state;
	const char *doc = "{\"id\":\"" BOB "\",\"type\":\"Person\",\"inbox\":\"" BOB "/inbox\"}";
	struct ap_remote_actor a;
	assert_int_equal(actor_of(doc, "https://b.test/users/alice", &a), AIM_ERR_DENIED);
	assert_int_equal(actor_of(doc, "https://evil.test/users/bob", &a), AIM_ERR_DENIED);
	assert_int_equal(actor_of(doc, "http://b.test/users/bob", &a), AIM_ERR_DENIED);
	/* The same URL in another spelling is the same document. */
	assert_int_equal(actor_of(doc, "HTTPS://B.Test.:443/users/bob#main-key", &a), 0);
	ap_remote_actor_clear(&a);
	assert_int_equal(actor_of("{\"id\":\"urn:uuid:1\",\"type\":\"Person\",\"inbox\":\"" BOB
				  "/inbox\"}", NULL, &a),
			 AIM_ERR_INVALID);
	assert_int_equal(actor_of("{\"id\":\"https://u@b.test/users/bob\",\"type\":\"Person\","
				  "\"inbox\":\"" BOB "/inbox\"}", NULL, &a),
			 AIM_ERR_INVALID);
	/* Not an object at all. */
	json_t *arr = json_array();
	assert_int_equal(ap_actor_parse(arr, NULL, &a), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	json_decref(arr);
}

/* FEP-521a Multikey: multicodec ed25519-pub (0xed 0x01) and 32 bytes, in
 * base58btc; anything else is skipped. */
static void test_multikey(void **state)
{
	(void)state;
	char *good = multikey(0xed, 0x01, 32);
	char *secp = multikey(0xe7, 0x01, 33);  /* secp256k1-pub */
	char *shorter = multikey(0xed, 0x01, 31);
	char *longer = multikey(0xed, 0x01, 33);
	char *s = aim_xasprintf(
		"{\"id\":\"%s\",\"type\":\"Person\",\"inbox\":\"%s/inbox\",\"assertionMethod\":["
		"{\"id\":\"%s#a\",\"type\":\"Multikey\",\"controller\":\"%s\",\"publicKeyMultibase\":\"%s\"},"
		"{\"id\":\"%s#b\",\"type\":\"Multikey\",\"controller\":\"%s\",\"publicKeyMultibase\":\"%s\"},"
		"{\"id\":\"%s#c\",\"type\":\"Multikey\",\"controller\":\"%s\",\"publicKeyMultibase\":\"%s\"},"
		"{\"id\":\"%s#d\",\"type\":\"Multikey\",\"controller\":\"%s\",\"publicKeyMultibase\":\"%s\"},"
		"{\"id\":\"%s#e\",\"type\":\"Multikey\",\"controller\":\"%s\",\"publicKeyMultibase\":\"%s\"}]}",
		BOB, BOB, BOB, BOB, good, BOB, BOB, secp, BOB, BOB, shorter, BOB, BOB, longer, BOB,
		BOB, good + 1 /* no multibase prefix */);
	struct ap_remote_actor a;
	assert_int_equal(actor_of(s, NULL, &a), 0);
	assert_int_equal(a.n_keys, 1);
	assert_string_equal(a.keys[0].id, BOB "#a");
	assert_int_equal(a.keys[0].form, AP_KEY_ED25519);
	uint8_t sevens[32];
	memset(sevens, 7, 32);
	assert_memory_equal(a.keys[0].ed25519, sevens, 32);
	assert_null(a.keys[0].pem);
	ap_remote_actor_clear(&a);
	free(s);
	/* One Multikey as an object, not an array. */
	s = aim_xasprintf("{\"id\":\"%s\",\"type\":\"Service\",\"inbox\":\"%s/inbox\","
			  "\"assertionMethod\":{\"id\":\"%s#a\",\"controller\":\"%s\","
			  "\"publicKeyMultibase\":\"%s\"}}",
			  BOB, BOB, BOB, BOB, good);
	assert_int_equal(actor_of(s, BOB, &a), 0);
	assert_int_equal(a.n_keys, 1);
	ap_remote_actor_clear(&a);
	free(s);
	free(good);
	free(secp);
	free(shorter);
	free(longer);
}

/* FEP-844e: implements on the generator (an object or an array of them)
 * or on the actor itself, href the RFC 9421 identifier (a fragment is a
 * narrower capability of the same); anything else is not an advertisement. */
static void test_fep844e_rfc9421(void **state)
{
	(void)state;
#define DOC(extra) "{\"id\": \"" BOB "\", \"type\": \"Person\", \"inbox\": \"" BOB \
		   "/inbox\"" extra "}"
#define RFC "\"https://datatracker.ietf.org/doc/html/rfc9421\""
	static const struct {
		const char *doc;
		bool yes;
	} cases[] = {
		{ DOC(""), false },
		{ DOC(", \"generator\": {\"type\": \"Application\", \"implements\": [{\"href\": " RFC
		      ", \"name\": \"RFC-9421: HTTP Message Signatures\"}]}"),
		  true },
		{ DOC(", \"generator\": {\"implements\": [{\"href\": "
		      "\"https://datatracker.ietf.org/doc/html/rfc9421#name-eddsa-using-curve-edwards25\"}]}"),
		  true },
		{ DOC(", \"generator\": [{\"type\": \"Service\"}, {\"implements\": [" RFC "]}]"), true },
		{ DOC(", \"implements\": [{\"href\": \"https://www.rfc-editor.org/rfc/rfc9421.html\"}]"),
		  true },
		/* not RFC 9421, or not where FEP-844e puts it */
		{ DOC(", \"generator\": {\"implements\": [{\"href\": "
		      "\"https://datatracker.ietf.org/doc/html/rfc94210\"}]}"),
		  false },
		{ DOC(", \"generator\": {\"implements\": [{\"href\": "
		      "\"https://datatracker.ietf.org/doc/html/rfc9530\"}]}"),
		  false },
		{ DOC(", \"generator\": {\"implements\": {\"href\": " RFC "}}"), false },
		{ DOC(", \"generator\": " RFC), false },
		{ DOC(", \"generator\": {\"implements\": [{\"name\": " RFC "}]}"), false },
		{ DOC(", \"endpoints\": {\"implements\": [" RFC "]}"), false },
	};
#undef DOC
#undef RFC
	for (size_t i = 0; i < AIM_ARRAY_LEN(cases); i++) {
		struct ap_remote_actor a;
		assert_int_equal(actor_of(cases[i].doc, BOB, &a), 0);
		if (a.implements_rfc9421 != cases[i].yes)
			fail_msg("case %zu: %s", i, cases[i].doc);
		ap_remote_actor_clear(&a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_person_round_trip),
		cmocka_unit_test(test_group_and_service),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_key_owner),
		cmocka_unit_test(test_wrong_id),
		cmocka_unit_test(test_multikey),
		cmocka_unit_test(test_fep844e_rfc9421),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
