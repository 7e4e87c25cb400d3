/* Unit tests of the message content format and its honouring rules
 * (src/client/core_content.c, client.h "Message content",
 * docs/content.md): encode/decode of every type, malformed content,
 * unknown types shown as such, edits and deletes only from the original
 * sender, reactions, duplicates. Pure: no I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "client/client.h"

#define ALICE "acct:alice@a.test"
#define BOB "acct:bob@b.test"

static struct aim_bytes S(const char *s)
{
	return AIM_BYTES(s, strlen(s));
}

static char *enc(enum client_content_type type, const char *id, const char *target,
		 const char *text, bool remove)
{
	struct client_content m;
	memset(&m, 0, sizeof m);
	m.type = type;
	snprintf(m.id, sizeof m.id, "%s", id);
	snprintf(m.target, sizeof m.target, "%s", target ? target : "");
	m.text = (char *)text;
	m.remove = remove;
	struct aim_buf b;
	aim_buf_init(&b, 1 << 20);
	assert_int_equal(client_content_encode(&m, &b), 0);
	assert_int_equal(aim_buf_append_byte(&b, 0), 0);
	return (char *)b.data;
}

static void test_roundtrip_every_type(void **state)
{
	(void)state;
	struct {
		enum client_content_type type;
		const char *target, *text;
		bool remove;
	} cases[] = {
		{ CLIENT_CONTENT_TEXT, NULL, "hello \xc3\xa9", false },
		{ CLIENT_CONTENT_REPLY, "m1", "re: hello", false },
		{ CLIENT_CONTENT_REACTION, "m1", "\xf0\x9f\x91\x8d", false },
		{ CLIENT_CONTENT_REACTION, "m1", "+1", true },
		{ CLIENT_CONTENT_EDIT, "m1", "hello (edited)", false },
		{ CLIENT_CONTENT_DELETE, "m1", NULL, false },
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(cases); i++) {
		char *j = enc(cases[i].type, "id-1_X", cases[i].target, cases[i].text,
			      cases[i].remove);
		struct client_content m;
		assert_int_equal(client_content_decode(S(j), &m), 0);
		assert_int_equal(m.type, cases[i].type);
		assert_string_equal(m.type_name, client_content_type_name(cases[i].type));
		assert_string_equal(m.id, "id-1_X");
		assert_string_equal(m.target, cases[i].target ? cases[i].target : "");
		if (cases[i].text)
			assert_string_equal(m.text, cases[i].text);
		else
			assert_null(m.text);
		assert_int_equal(m.remove, cases[i].remove);
		client_content_free(&m);
		free(j);
	}
	/* the documented member names */
	char *j = enc(CLIENT_CONTENT_REPLY, "r1", "m1", "x", false);
	assert_string_equal(j, "{\"id\":\"r1\",\"inReplyTo\":\"m1\",\"text\":\"x\",\"type\":\"reply\"}");
	free(j);
	j = enc(CLIENT_CONTENT_REACTION, "r2", "m1", "+1", false);
	assert_string_equal(
		j, "{\"id\":\"r2\",\"reaction\":\"+1\",\"remove\":false,\"target\":\"m1\",\"type\":\"reaction\"}");
	free(j);
}

static void test_encode_refuses_bad_messages(void **state)
{
	(void)state;
	struct aim_buf b;
	aim_buf_init(&b, 1 << 20);
	struct client_content m;
	memset(&m, 0, sizeof m);
	m.type = CLIENT_CONTENT_TEXT;
	m.text = "x";
	assert_int_equal(client_content_encode(&m, &b), -1); /* no id */
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	snprintf(m.id, sizeof m.id, "has space");
	assert_int_equal(client_content_encode(&m, &b), -1);
	snprintf(m.id, sizeof m.id, "ok");
	m.type = CLIENT_CONTENT_EDIT;
	assert_int_equal(client_content_encode(&m, &b), -1); /* no target */
	m.type = CLIENT_CONTENT_TEXT;
	m.text = NULL;
	assert_int_equal(client_content_encode(&m, &b), -1); /* no text */
	m.type = CLIENT_CONTENT_UNKNOWN;
	m.text = "x";
	assert_int_equal(client_content_encode(&m, &b), -1);
	m.type = CLIENT_CONTENT_TEXT;
	m.text = "\xff\xfe not utf-8";
	assert_int_equal(client_content_encode(&m, &b), -1);
	char *big = malloc(CLIENT_CONTENT_TEXT_MAX + 2);
	memset(big, 'a', CLIENT_CONTENT_TEXT_MAX + 1);
	big[CLIENT_CONTENT_TEXT_MAX + 1] = 0;
	m.text = big;
	assert_int_equal(client_content_encode(&m, &b), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	free(big);
	assert_int_equal(b.len, 0);
	aim_buf_free(&b);
	char id[CLIENT_CONTENT_ID_MAX + 1], id2[CLIENT_CONTENT_ID_MAX + 1];
	assert_int_equal(client_content_new_id(id), 0);
	assert_int_equal(client_content_new_id(id2), 0);
	assert_int_equal(strlen(id), 32);
	assert_string_not_equal(id, id2);
}

static void test_decode_malformed_and_unknown(void **state)
{
	(void)state;
	const char *bad[] = {
		"", "not json", "[]", "\"text\"", "{}", "{\"type\": 3}",
		"{\"type\":\"text\",\"text\":\"no id\"}",
		"{\"type\":\"text\",\"id\":\"a b\",\"text\":\"x\"}",
		"{\"type\":\"text\",\"id\":\"m\"}",
		"{\"type\":\"text\",\"id\":\"m\",\"text\":5}",
		"{\"type\":\"reply\",\"id\":\"m\",\"text\":\"x\"}",
		"{\"type\":\"reply\",\"id\":\"m\",\"target\":\"m0\",\"text\":\"x\"}", /* inReplyTo */
		"{\"type\":\"edit\",\"id\":\"m\",\"target\":\"m0\"}",
		"{\"type\":\"delete\",\"id\":\"m\"}",
		"{\"type\":\"reaction\",\"id\":\"m\",\"target\":\"m0\"}",
		"{\"type\":\"reaction\",\"id\":\"m\",\"target\":\"m0\",\"reaction\":\"\"}",
		"{\"type\":\"reaction\",\"id\":\"m\",\"target\":\"m0\",\"reaction\":\"+\",\"remove\":1}",
		"{\"type\":\"text\",\"id\":\"m\",\"text\":\"a\",\"text\":\"b\"}", /* duplicate key */
		"{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"id\":\"m\"}",
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(bad); i++) {
		struct client_content m;
		if (client_content_decode(S(bad[i]), &m) != -1)
			fail_msg("decoded: %s", bad[i]);
		assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
		assert_null(m.text);
	}
	/* an unknown type decodes, kept as such, with its text if any */
	struct client_content m;
	assert_int_equal(client_content_decode(S("{\"type\":\"poll\",\"id\":\"p1\",\"text\":"
						 "\"lunch?\",\"options\":[1,2]}"),
					       &m),
			 0);
	assert_int_equal(m.type, CLIENT_CONTENT_UNKNOWN);
	assert_string_equal(m.type_name, "poll");
	assert_string_equal(m.id, "p1");
	assert_string_equal(m.text, "lunch?");
	client_content_free(&m);
	/* members not named are ignored */
	assert_int_equal(client_content_decode(S("{\"type\":\"text\",\"id\":\"t\",\"text\":\"x\","
						 "\"format\":\"markdown\"}"),
					       &m),
			 0);
	assert_int_equal(m.type, CLIENT_CONTENT_TEXT);
	client_content_free(&m);
}

static enum client_content_outcome apply(struct client_content_timeline *t, const char *sender,
					 const char *raw)
{
	enum client_content_outcome o = 0;
	size_t idx;
	assert_int_equal(client_content_apply(t, sender, 100, S(raw), &o, &idx), 0);
	return o;
}

static void test_edit_and_delete_only_from_the_sender(void **state)
{
	(void)state;
	struct client_content_timeline t;
	client_content_timeline_init(&t);
	char *m1 = enc(CLIENT_CONTENT_TEXT, "m1", NULL, "hello", false);
	assert_int_equal(apply(&t, ALICE, m1), CLIENT_CONTENT_ADDED);
	/* bob edits alice's message: ignored */
	char *e_bob = enc(CLIENT_CONTENT_EDIT, "e1", "m1", "bob was here", false);
	assert_int_equal(apply(&t, BOB, e_bob), CLIENT_CONTENT_NOT_SENDER);
	assert_string_equal(client_content_find(&t, "m1")->text, "hello");
	assert_false(client_content_find(&t, "m1")->edited);
	/* the same acct: URI with another case of authority is the same sender */
	char *e_al = enc(CLIENT_CONTENT_EDIT, "e2", "m1", "hello, world", false);
	assert_int_equal(apply(&t, "acct:alice@A.TEST", e_al), CLIENT_CONTENT_EDITED);
	assert_string_equal(client_content_find(&t, "m1")->text, "hello, world");
	assert_true(client_content_find(&t, "m1")->edited);
	/* bob deletes it: ignored */
	char *d_bob = enc(CLIENT_CONTENT_DELETE, "d1", "m1", NULL, false);
	assert_int_equal(apply(&t, BOB, d_bob), CLIENT_CONTENT_NOT_SENDER);
	assert_false(client_content_find(&t, "m1")->deleted);
	/* an unauthenticated sender ("") is nobody's */
	char *d_none = enc(CLIENT_CONTENT_DELETE, "d0", "m1", NULL, false);
	assert_int_equal(apply(&t, "", d_none), CLIENT_CONTENT_NOT_SENDER);
	/* a reaction, then alice deletes: text and reactions go */
	char *r = enc(CLIENT_CONTENT_REACTION, "r1", "m1", "+1", false);
	assert_int_equal(apply(&t, BOB, r), CLIENT_CONTENT_REACTED);
	assert_int_equal(client_content_find(&t, "m1")->n_reactions, 1);
	char *d_al = enc(CLIENT_CONTENT_DELETE, "d2", "m1", NULL, false);
	assert_int_equal(apply(&t, ALICE, d_al), CLIENT_CONTENT_DELETED);
	const struct client_content_entry *e = client_content_find(&t, "m1");
	assert_true(e->deleted);
	assert_null(e->text);
	assert_int_equal(e->n_reactions, 0);
	/* nothing acts on a deleted message any more */
	char *e_late = enc(CLIENT_CONTENT_EDIT, "e3", "m1", "back", false);
	assert_int_equal(apply(&t, ALICE, e_late), CLIENT_CONTENT_NO_TARGET);
	assert_null(client_content_find(&t, "m1")->text);
	/* an edit of an id nobody sent, of an edit's id: ignored */
	char *e_none = enc(CLIENT_CONTENT_EDIT, "e4", "nope", "x", false);
	assert_int_equal(apply(&t, ALICE, e_none), CLIENT_CONTENT_NO_TARGET);
	char *e_of_e = enc(CLIENT_CONTENT_EDIT, "e5", "e2", "x", false);
	assert_int_equal(apply(&t, ALICE, e_of_e), CLIENT_CONTENT_NO_TARGET);
	assert_int_equal(t.n, 1);
	client_content_timeline_free(&t);
	free(m1); free(e_bob); free(e_al); free(d_bob); free(d_none); free(r); free(d_al);
	free(e_late); free(e_none); free(e_of_e);
}

static void test_replies_reactions_duplicates(void **state)
{
	(void)state;
	struct client_content_timeline t;
	client_content_timeline_init(&t);
	char *m1 = enc(CLIENT_CONTENT_TEXT, "m1", NULL, "lunch?", false);
	char *rep = enc(CLIENT_CONTENT_REPLY, "m2", "m1", "yes", false);
	char *rep_unknown = enc(CLIENT_CONTENT_REPLY, "m3", "gone", "to what?", false);
	assert_int_equal(apply(&t, ALICE, m1), CLIENT_CONTENT_ADDED);
	assert_int_equal(apply(&t, BOB, rep), CLIENT_CONTENT_ADDED);
	assert_string_equal(client_content_find(&t, "m2")->reply_to, "m1");
	assert_int_equal(client_content_find(&t, "m2")->type, CLIENT_CONTENT_REPLY);
	assert_int_equal(apply(&t, BOB, rep_unknown), CLIENT_CONTENT_ADDED);
	assert_null(client_content_find(&t, "gone"));
	/* a duplicate id is dropped, whoever sends it, and changes nothing */
	char *dup = enc(CLIENT_CONTENT_TEXT, "m1", NULL, "spoofed", false);
	assert_int_equal(apply(&t, BOB, dup), CLIENT_CONTENT_DUPLICATE);
	assert_int_equal(apply(&t, ALICE, m1), CLIENT_CONTENT_DUPLICATE);
	assert_string_equal(client_content_find(&t, "m1")->text, "lunch?");
	assert_string_equal(client_content_find(&t, "m1")->sender, ALICE);
	assert_int_equal(t.n, 3);
	/* reactions: one per (sender, reaction); remove takes back one's own */
	char *r1 = enc(CLIENT_CONTENT_REACTION, "r1", "m1", "+1", false);
	char *r2 = enc(CLIENT_CONTENT_REACTION, "r2", "m1", "+1", false);
	char *r3 = enc(CLIENT_CONTENT_REACTION, "r3", "m1", "+1", false);
	char *un_bob = enc(CLIENT_CONTENT_REACTION, "r4", "m1", "+1", true);
	char *un_carol = enc(CLIENT_CONTENT_REACTION, "r5", "m1", "+1", true);
	assert_int_equal(apply(&t, BOB, r1), CLIENT_CONTENT_REACTED);
	assert_int_equal(apply(&t, BOB, r2), CLIENT_CONTENT_REACTED);
	assert_int_equal(client_content_find(&t, "m1")->n_reactions, 1);
	assert_int_equal(apply(&t, ALICE, r3), CLIENT_CONTENT_REACTED);
	assert_int_equal(client_content_find(&t, "m1")->n_reactions, 2);
	assert_int_equal(apply(&t, "acct:carol@c.test", un_carol), CLIENT_CONTENT_NO_TARGET);
	assert_int_equal(client_content_find(&t, "m1")->n_reactions, 2);
	assert_int_equal(apply(&t, BOB, un_bob), CLIENT_CONTENT_UNREACTED);
	const struct client_content_entry *e = client_content_find(&t, "m1");
	assert_int_equal(e->n_reactions, 1);
	assert_string_equal(e->reactions[0].sender, ALICE);
	/* a reaction's replay (same id) is a duplicate */
	assert_int_equal(apply(&t, BOB, r1), CLIENT_CONTENT_DUPLICATE);
	assert_int_equal(client_content_find(&t, "m1")->n_reactions, 1);
	/* reactions to a reaction are refused */
	char *rr = enc(CLIENT_CONTENT_REACTION, "r6", "r3", "+1", false);
	assert_int_equal(apply(&t, BOB, rr), CLIENT_CONTENT_NO_TARGET);
	client_content_timeline_free(&t);
	free(m1); free(rep); free(rep_unknown); free(dup); free(r1); free(r2); free(r3);
	free(un_bob); free(un_carol); free(rr);
}

static void test_unknown_and_undecodable_are_shown_never_fatal(void **state)
{
	(void)state;
	struct client_content_timeline t;
	client_content_timeline_init(&t);
	size_t idx = 0;
	enum client_content_outcome o;
	assert_int_equal(client_content_apply(&t, ALICE, 7, S("{\"type\":\"poll\",\"id\":\"p1\","
							       "\"text\":\"lunch?\"}"),
					      &o, &idx),
			 0);
	assert_int_equal(o, CLIENT_CONTENT_ADDED);
	assert_int_equal(idx, 0);
	assert_int_equal(t.entries[0].type, CLIENT_CONTENT_UNKNOWN);
	assert_string_equal(t.entries[0].type_name, "poll");
	assert_string_equal(t.entries[0].text, "lunch?");
	assert_int_equal(t.entries[0].time, 7);
	/* an unknown type cannot be edited (it is not text) */
	char *e = enc(CLIENT_CONTENT_EDIT, "e1", "p1", "x", false);
	assert_int_equal(apply(&t, ALICE, e), CLIENT_CONTENT_NO_TARGET);
	/* bytes that are not content: an entry saying so, with the reason */
	const char *junk[] = { "\x00\x01\x02", "hello", "{\"type\":\"edit\",\"id\":\"x\"}" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(junk); i++) {
		struct aim_bytes b = i == 0 ? AIM_BYTES(junk[0], 3) : S(junk[i]);
		assert_int_equal(client_content_apply(&t, BOB, 8, b, &o, &idx), 0);
		assert_int_equal(o, CLIENT_CONTENT_ADDED);
		assert_int_equal(t.entries[idx].type, CLIENT_CONTENT_UNDECODABLE);
		assert_string_equal(t.entries[idx].id, "");
		assert_non_null(strstr(t.entries[idx].text, "content"));
	}
	/* an undecodable "edit" changed nothing */
	assert_int_equal(t.n, 4);
	assert_int_equal(aim_errcode(), AIM_ERR_NONE);
	client_content_timeline_free(&t);
	free(e);
}

static void test_many_entries(void **state)
{
	(void)state;
	struct client_content_timeline t;
	client_content_timeline_init(&t);
	char id[16], json[128];
	for (int i = 0; i < 500; i++) {
		snprintf(id, sizeof id, "m%d", i);
		snprintf(json, sizeof json, "{\"type\":\"text\",\"id\":\"%s\",\"text\":\"n%d\"}", id, i);
		assert_int_equal(apply(&t, i % 2 ? ALICE : BOB, json), CLIENT_CONTENT_ADDED);
	}
	assert_int_equal(t.n, 500);
	assert_string_equal(client_content_find(&t, "m499")->text, "n499");
	assert_string_equal(client_content_find(&t, "m498")->sender, BOB);
	client_content_timeline_free(&t);
	assert_int_equal(t.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_encode_refuses_bad_messages),
		cmocka_unit_test(test_decode_malformed_and_unknown),
		cmocka_unit_test(test_edit_and_delete_only_from_the_sender),
		cmocka_unit_test(test_replies_reactions_duplicates),
		cmocka_unit_test(test_unknown_and_undecodable_are_shown_never_fatal),
		cmocka_unit_test(test_many_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
