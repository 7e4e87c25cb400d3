/*
 * The message content format and the rules that honour it (client.h,
 * "Message content"; docs/content.md). Pure: JSON in and out, a timeline
 * in memory; the caller stores what it wants and passes the sender the
 * MLS credential vouched for.
 */
#include "client/core_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

static const char *const type_names[] = {
	[CLIENT_CONTENT_UNKNOWN] = "unknown",   [CLIENT_CONTENT_TEXT] = "text",
	[CLIENT_CONTENT_REPLY] = "reply",       [CLIENT_CONTENT_REACTION] = "reaction",
	[CLIENT_CONTENT_EDIT] = "edit",         [CLIENT_CONTENT_DELETE] = "delete",
	[CLIENT_CONTENT_UNDECODABLE] = "undecodable",
};

const char *client_content_type_name(enum client_content_type t)
{
	if ((size_t)t < sizeof type_names / sizeof type_names[0] && type_names[t])
		return type_names[t];
	return "unknown";
}

const char *client_content_outcome_name(enum client_content_outcome o)
{
	switch (o) {
	case CLIENT_CONTENT_ADDED: return "added";
	case CLIENT_CONTENT_EDITED: return "edited";
	case CLIENT_CONTENT_DELETED: return "deleted";
	case CLIENT_CONTENT_REACTED: return "reacted";
	case CLIENT_CONTENT_UNREACTED: return "unreacted";
	case CLIENT_CONTENT_DUPLICATE: return "duplicate";
	case CLIENT_CONTENT_NOT_SENDER: return "not-sender";
	case CLIENT_CONTENT_NO_TARGET: return "no-target";
	}
	return "?";
}

/* Ids: 1-64 of [A-Za-z0-9_-]. */
static bool id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > CLIENT_CONTENT_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int client_content_new_id(char id[CLIENT_CONTENT_ID_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[16];
	TRY(aim_random(r, sizeof r));
	for (size_t i = 0; i < sizeof r; i++) {
		id[2 * i] = hex[r[i] >> 4];
		id[2 * i + 1] = hex[r[i] & 15];
	}
	id[2 * sizeof r] = 0;
	return 0;
}

static enum client_content_type type_of(const char *name)
{
	for (int t = CLIENT_CONTENT_TEXT; t <= CLIENT_CONTENT_DELETE; t++)
		if (strcmp(name, type_names[t]) == 0)
			return (enum client_content_type)t;
	return CLIENT_CONTENT_UNKNOWN;
}

/* What a known type needs: a target, a text (or reaction). */
static bool needs_target(enum client_content_type t)
{
	return t == CLIENT_CONTENT_REPLY || t == CLIENT_CONTENT_REACTION || t == CLIENT_CONTENT_EDIT ||
	       t == CLIENT_CONTENT_DELETE;
}

static bool needs_text(enum client_content_type t)
{
	return t == CLIENT_CONTENT_TEXT || t == CLIENT_CONTENT_REPLY || t == CLIENT_CONTENT_EDIT;
}

static const char *target_key(enum client_content_type t)
{
	return t == CLIENT_CONTENT_REPLY ? "inReplyTo" : "target";
}

int client_content_encode(const struct client_content *m, struct aim_buf *out)
{
	ENSURE(m->type >= CLIENT_CONTENT_TEXT && m->type <= CLIENT_CONTENT_DELETE, AIM_ERR_INVALID,
	       "content: only text, reply, reaction, edit and delete are sent");
	ENSURE(id_ok(m->id), AIM_ERR_INVALID, "content: the id must be 1-%d of [A-Za-z0-9_-]",
	       CLIENT_CONTENT_ID_MAX);
	if (needs_target(m->type))
		ENSURE(id_ok(m->target), AIM_ERR_INVALID, "content: %s needs a target id",
		       type_names[m->type]);
	if (needs_text(m->type)) {
		ENSURE(m->text, AIM_ERR_INVALID, "content: %s needs a text", type_names[m->type]);
		ENSURE(strlen(m->text) <= CLIENT_CONTENT_TEXT_MAX, AIM_ERR_LIMIT,
		       "content: text longer than %zu bytes", CLIENT_CONTENT_TEXT_MAX);
	}
	if (m->type == CLIENT_CONTENT_REACTION)
		ENSURE(m->text && m->text[0] && strlen(m->text) <= CLIENT_CONTENT_REACTION_MAX,
		       AIM_ERR_INVALID, "content: a reaction is 1-%d bytes",
		       CLIENT_CONTENT_REACTION_MAX);
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string(type_names[m->type]));
	json_object_set_new(o, "id", json_string(m->id));
	if (needs_target(m->type))
		json_object_set_new(o, target_key(m->type), json_string(m->target));
	int rc = 0;
	if (needs_text(m->type) || m->type == CLIENT_CONTENT_REACTION) {
		json_t *s = json_string(m->text);
		if (!s)
			rc = aim_fail(AIM_ERR_INVALID, "content: the text is not UTF-8");
		json_object_set_new(o, m->type == CLIENT_CONTENT_REACTION ? "reaction" : "text", s);
	}
	if (m->type == CLIENT_CONTENT_REACTION)
		json_object_set_new(o, "remove", json_boolean(m->remove));
	char *txt = rc == 0 ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (rc != 0)
		return rc;
	ENSURE(txt, AIM_ERR_NOMEM, "content: out of memory");
	rc = aim_buf_append_str(out, txt);
	free(txt);
	return rc;
}

void client_content_free(struct client_content *m)
{
	if (!m)
		return;
	free(m->text);
	memset(m, 0, sizeof *m);
}

static int copy_id(char dst[CLIENT_CONTENT_ID_MAX + 1], json_t *v, const char *what)
{
	const char *s = json_string_value(v);
	ENSURE(s && id_ok(s), AIM_ERR_DECODE, "content: %s must be 1-%d of [A-Za-z0-9_-]", what,
	       CLIENT_CONTENT_ID_MAX);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int decode_obj(json_t *o, struct client_content *m)
{
	ENSURE(json_is_object(o), AIM_ERR_DECODE, "content: not a JSON object");
	const char *type = json_string_value(json_object_get(o, "type"));
	ENSURE(type && type[0], AIM_ERR_DECODE, "content: no type");
	ENSURE(strlen(type) <= CLIENT_CONTENT_TYPE_MAX, AIM_ERR_DECODE, "content: type too long");
	memcpy(m->type_name, type, strlen(type) + 1);
	m->type = type_of(type);
	json_t *id = json_object_get(o, "id");
	if (m->type == CLIENT_CONTENT_UNKNOWN) {
		/* shown as such: its id (if a good one) and its text (if a string) */
		if (json_is_string(id) && id_ok(json_string_value(id)))
			memcpy(m->id, json_string_value(id), strlen(json_string_value(id)) + 1);
		const char *t = json_string_value(json_object_get(o, "text"));
		if (t && strlen(t) <= CLIENT_CONTENT_TEXT_MAX)
			m->text = aim_xstrdup(t);
		return 0;
	}
	TRY(copy_id(m->id, id, "id"));
	if (needs_target(m->type))
		TRY(copy_id(m->target, json_object_get(o, target_key(m->type)), target_key(m->type)));
	if (needs_text(m->type)) {
		const char *t = json_string_value(json_object_get(o, "text"));
		ENSURE(t, AIM_ERR_DECODE, "content: %s without a text", type);
		ENSURE(strlen(t) <= CLIENT_CONTENT_TEXT_MAX, AIM_ERR_DECODE,
		       "content: text longer than %zu bytes", CLIENT_CONTENT_TEXT_MAX);
		m->text = aim_xstrdup(t);
	}
	if (m->type == CLIENT_CONTENT_REACTION) {
		const char *r = json_string_value(json_object_get(o, "reaction"));
		ENSURE(r && r[0] && strlen(r) <= CLIENT_CONTENT_REACTION_MAX, AIM_ERR_DECODE,
		       "content: a reaction is 1-%d bytes", CLIENT_CONTENT_REACTION_MAX);
		json_t *rm = json_object_get(o, "remove");
		ENSURE(!rm || json_is_boolean(rm), AIM_ERR_DECODE, "content: remove is a boolean");
		m->text = aim_xstrdup(r);
		m->remove = json_is_true(rm);
	}
	return 0;
}

int client_content_decode(struct aim_bytes b, struct client_content *m)
{
	memset(m, 0, sizeof *m);
	ENSURE(b.len <= CLIENT_CONTENT_TEXT_MAX + 4096, AIM_ERR_DECODE, "content: too large");
	json_error_t e;
	json_t *o = json_loadb((const char *)b.p, b.len, JSON_REJECT_DUPLICATES, &e);
	ENSURE(o, AIM_ERR_DECODE, "content: not JSON: %s", e.text);
	int rc = decode_obj(o, m);
	json_decref(o);
	if (rc != 0)
		client_content_free(m);
	return rc;
}

/* ---- The timeline ---------------------------------------------------------- */

void client_content_timeline_init(struct client_content_timeline *t)
{
	memset(t, 0, sizeof *t);
}

void client_content_timeline_free(struct client_content_timeline *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->entries[i].text);
		free(t->entries[i].reactions);
	}
	free(t->entries);
	free(t->seen);
	memset(t, 0, sizeof *t);
}

static size_t find_index(const struct client_content_timeline *t, const char *id)
{
	if (!id || !id[0])
		return SIZE_MAX;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->entries[i].id, id) == 0)
			return i;
	return SIZE_MAX;
}

const struct client_content_entry *client_content_find(const struct client_content_timeline *t,
							const char *id)
{
	size_t i = find_index(t, id);
	return i == SIZE_MAX ? NULL : &t->entries[i];
}

static bool seen(const struct client_content_timeline *t, const char *id)
{
	for (size_t i = 0; i < t->n_seen; i++)
		if (strcmp(t->seen[i].id, id) == 0)
			return true;
	return false;
}

static void remember(struct client_content_timeline *t, const char *id)
{
	if (t->n_seen == t->cap_seen) {
		t->cap_seen = t->cap_seen ? 2 * t->cap_seen : 16;
		t->seen = aim_xrealloc(t->seen, t->cap_seen * sizeof *t->seen);
	}
	memcpy(t->seen[t->n_seen++].id, id, strlen(id) + 1);
}

static int add_entry(struct client_content_timeline *t, const char *sender, int64_t time,
		     struct client_content_entry **out)
{
	ENSURE(t->n < CLIENT_CONTENT_TIMELINE_MAX, AIM_ERR_LIMIT,
	       "content: timeline holds %d entries already", CLIENT_CONTENT_TIMELINE_MAX);
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->entries = aim_xrealloc(t->entries, t->cap * sizeof *t->entries);
	}
	struct client_content_entry *e = &t->entries[t->n++];
	memset(e, 0, sizeof *e);
	snprintf(e->sender, sizeof e->sender, "%s", sender ? sender : "");
	e->time = time;
	*out = e;
	return 0;
}

/* The sender of a target and of its edit/delete: the same acct: URI
 * (scheme and authority case-insensitive). */
static bool same_sender(const char *a, const char *b)
{
	return a[0] && b[0] && client_core_acct_equal(a, b);
}

static int react(struct client_content_entry *e, const char *sender, const char *r, bool remove,
		 enum client_content_outcome *outcome)
{
	for (size_t i = 0; i < e->n_reactions; i++) {
		struct client_content_reaction *x = &e->reactions[i];
		if (strcmp(x->reaction, r) == 0 && same_sender(x->sender, sender)) {
			if (remove) {
				memmove(x, x + 1, (e->n_reactions - i - 1) * sizeof *x);
				e->n_reactions--;
				*outcome = CLIENT_CONTENT_UNREACTED;
			} else {
				*outcome = CLIENT_CONTENT_REACTED; /* one per (sender, reaction) */
			}
			return 0;
		}
	}
	if (remove) {
		*outcome = CLIENT_CONTENT_NO_TARGET; /* nothing of hers to take back */
		return 0;
	}
	e->reactions = aim_xrealloc(e->reactions, (e->n_reactions + 1) * sizeof *e->reactions);
	struct client_content_reaction *x = &e->reactions[e->n_reactions++];
	snprintf(x->sender, sizeof x->sender, "%s", sender);
	snprintf(x->reaction, sizeof x->reaction, "%s", r);
	*outcome = CLIENT_CONTENT_REACTED;
	return 0;
}

int client_content_apply(struct client_content_timeline *t, const char *sender, int64_t time,
			 struct aim_bytes raw, enum client_content_outcome *outcome, size_t *index)
{
	size_t dummy;
	if (!index)
		index = &dummy;
	*index = SIZE_MAX;
	if (!sender)
		sender = "";
	struct client_content m;
	struct client_content_entry *e;
	if (client_content_decode(raw, &m) != 0) {
		/* never fatal: shown as undecodable, with why */
		char *why = aim_xstrdup(aim_errmsg());
		aim_errclear();
		if (add_entry(t, sender, time, &e) != 0) {
			free(why);
			return -1;
		}
		e->type = CLIENT_CONTENT_UNDECODABLE;
		snprintf(e->type_name, sizeof e->type_name, "undecodable");
		e->text = why;
		*index = t->n - 1;
		*outcome = CLIENT_CONTENT_ADDED;
		return 0;
	}
	int rc = 0;
	if (m.id[0] && seen(t, m.id)) {
		*outcome = CLIENT_CONTENT_DUPLICATE;
		*index = find_index(t, m.id);
		goto out;
	}
	switch (m.type) {
	case CLIENT_CONTENT_TEXT:
	case CLIENT_CONTENT_REPLY:
	case CLIENT_CONTENT_UNKNOWN:
		TRY_GOTO(add_entry(t, sender, time, &e), out);
		e->type = m.type;
		memcpy(e->type_name, m.type_name, sizeof e->type_name);
		memcpy(e->id, m.id, sizeof e->id);
		if (m.type == CLIENT_CONTENT_REPLY)
			memcpy(e->reply_to, m.target, sizeof e->reply_to);
		e->text = m.text;
		m.text = NULL;
		*index = t->n - 1;
		*outcome = CLIENT_CONTENT_ADDED;
		break;
	case CLIENT_CONTENT_EDIT:
	case CLIENT_CONTENT_DELETE:
	case CLIENT_CONTENT_REACTION: {
		size_t i = find_index(t, m.target);
		e = i == SIZE_MAX ? NULL : &t->entries[i];
		if (!e || e->deleted ||
		    (e->type != CLIENT_CONTENT_TEXT && e->type != CLIENT_CONTENT_REPLY)) {
			*outcome = CLIENT_CONTENT_NO_TARGET;
			break;
		}
		*index = i;
		if (m.type == CLIENT_CONTENT_REACTION) {
			TRY_GOTO(react(e, sender, m.text, m.remove, outcome), out);
			break;
		}
		if (!same_sender(e->sender, sender)) {
			*outcome = CLIENT_CONTENT_NOT_SENDER;
			break;
		}
		free(e->text);
		e->text = NULL;
		if (m.type == CLIENT_CONTENT_EDIT) {
			e->text = m.text;
			m.text = NULL;
			e->edited = true;
			*outcome = CLIENT_CONTENT_EDITED;
		} else {
			e->deleted = true;
			free(e->reactions);
			e->reactions = NULL;
			e->n_reactions = 0;
			*outcome = CLIENT_CONTENT_DELETED;
		}
		break;
	}
	case CLIENT_CONTENT_UNDECODABLE:
		break;
	}
	/* every id counts once, whatever became of it (a refused edit
	 * replayed stays refused, a duplicate stays dropped) */
	if (m.id[0])
		remember(t, m.id);
out:
	client_content_free(&m);
	return rc;
}
