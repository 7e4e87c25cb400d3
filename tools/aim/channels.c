/*
 * aim's conversation commands: channels (create, invite, remove), sending
 * to a channel or a DM, the list of conversations, history, listen and
 * chat. All of it is the client library's (client.h, "Channels and group
 * DMs"); what is sent is the message content format (client.h, "Message
 * content"; docs/content.md).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aim.h"

/* "user@domain" -> "acct:user@domain" (owned). */
static char *acct_of(const char *h)
{
	return aim_str_has_prefix(h, "acct:") ? aim_xstrdup(h) : aim_xasprintf("acct:%s", h);
}

struct handles {
	const char *v[MAX_LIST];
	char *owned[MAX_LIST];
	size_t n;
};

static int add_handles(struct handles *h, const char *list)
{
	char *copy = aim_xstrdup(list), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		if (!*t)
			continue;
		if (h->n >= MAX_LIST) {
			free(copy);
			return usage_error("at most %d handles", MAX_LIST);
		}
		h->owned[h->n] = acct_of(t);
		h->v[h->n] = h->owned[h->n];
		h->n++;
	}
	free(copy);
	return 0;
}

static void handles_free(struct handles *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->owned[i]);
	h->n = 0;
}

/* A conversation named on the command line: its URL or DM id, the number
 * `aim conversations` shows, or the unique conversation it ends. */
int resolve(const char *arg, char *out, size_t len)
{
	struct client_group_info *all = NULL;
	size_t n = 0;
	TRY(client_conversations(cl, &all, &n));
	const char *hit = NULL;
	size_t hits = 0;
	char *end;
	long k = strtol(arg, &end, 10);
	if (*arg && !*end && k >= 1 && (size_t)k <= n) {
		hit = all[k - 1].conversation;
		hits = 1;
	}
	for (size_t i = 0; !hit && i < n; i++)
		if (strcmp(all[i].conversation, arg) == 0) {
			hit = all[i].conversation;
			hits = 1;
		}
	if (!hit) {
		size_t al = strlen(arg);
		for (size_t i = 0; i < n; i++) {
			size_t cl_ = strlen(all[i].conversation);
			if (al && cl_ > al && strcmp(all[i].conversation + cl_ - al, arg) == 0 &&
			    strchr("/:", all[i].conversation[cl_ - al - 1])) {
				hit = all[i].conversation;
				hits++;
			}
		}
	}
	int rc = 0;
	if (hits == 1)
		snprintf(out, len, "%s", hit);
	else if (hits > 1)
		rc = aim_fail(AIM_ERR_INVALID, "%s names %zu conversations: give its URL", arg, hits);
	else
		rc = aim_fail(AIM_ERR_NOTFOUND, "no conversation %s (see aim conversations)", arg);
	free(all);
	return rc;
}

/* ---- Channels ------------------------------------------------------------------------- */

int cmd_channel(struct opts *o)
{
	if (o->n_pos < 2 || strcmp(o->pos[0], "create") != 0)
		return usage_error("channel: create NAME [HANDLE...] (see aim channel --help)");
	struct handles h = { 0 };
	for (size_t i = 2; i < o->n_pos; i++)
		if (add_handles(&h, o->pos[i]) != 0) {
			handles_free(&h);
			return 2;
		}
	char url[1024];
	int rc = 0;
	if (open_device(o) != 0 ||
	    client_channel_create(cl, o->pos[1], h.v, h.n, url, sizeof url) != 0) {
		rc = failed("channel create");
		goto out;
	}
	if (o->json) {
		json_t *m = json_array();
		for (size_t i = 0; i < h.n; i++)
			json_array_append_new(m, json_string(h.v[i]));
		print_json(json_pack("{s:s, s:s, s:o}", "channel", url, "name", o->pos[1], "members", m));
	} else {
		printf("created channel %s (%s)\n", o->pos[1], url);
		for (size_t i = 0; i < h.n; i++)
			printf("  invited %s\n", h.v[i]);
	}
out:
	handles_free(&h);
	return rc;
}

static int add_remove(struct opts *o, bool add)
{
	const char *what = add ? "invite" : "remove";
	if (o->n_pos < 2)
		return usage_error("%s: CHANNEL HANDLE... required", what);
	struct handles h = { 0 };
	for (size_t i = 1; i < o->n_pos; i++)
		if (add_handles(&h, o->pos[i]) != 0) {
			handles_free(&h);
			return 2;
		}
	char conv[1024];
	int rc = 0;
	uint64_t before = 0;
	struct client_group_info gb;
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0 ||
	    client_group_info(cl, conv, &gb) != 0 || ((before = gb.epoch), false) ||
	    (add ? client_channel_add(cl, conv, h.v, h.n) : client_channel_remove(cl, conv, h.v, h.n)) !=
		    0) {
		rc = failed(what);
		goto out;
	}
	/* the commit is applied when the hub's Announce of it comes back */
	struct client_sync_stats st;
	for (int i = 0; i < 20; i++) {
		struct client_group_info g0;
		if (client_sync(cl, &st) != 0 || client_group_info(cl, conv, &g0) != 0 ||
		    g0.epoch > before)
			break;
		poll(NULL, 0, 100);
	}
	aim_errclear();
	struct client_group_info gi;
	bool have = client_group_info(cl, conv, &gi) == 0;
	aim_errclear();
	if (o->json) {
		json_t *m = json_array();
		for (size_t i = 0; i < h.n; i++)
			json_array_append_new(m, json_string(h.v[i]));
		print_json(json_pack("{s:s, s:o, s:I}", "channel", conv, add ? "added" : "removed", m,
				     "epoch", (json_int_t)(have ? gi.epoch : 0)));
	} else {
		for (size_t i = 0; i < h.n; i++)
			printf("%s %s\n", add ? "added" : "removed", h.v[i]);
		if (have)
			printf("channel %s now at epoch %llu, %u members\n", conv,
			       (unsigned long long)gi.epoch, gi.members);
	}
out:
	handles_free(&h);
	return rc;
}

int cmd_invite(struct opts *o)
{
	return add_remove(o, true);
}

int cmd_remove(struct opts *o)
{
	return add_remove(o, false);
}

/* ---- Sending ----------------------------------------------------------------------------- */

/* The text content of the format, with a fresh id. */
static int text_content(const char *text, char id[CLIENT_CONTENT_ID_MAX + 1], char **json)
{
	TRY(client_content_new_id(id));
	struct client_content m = { .type = CLIENT_CONTENT_TEXT, .text = (char *)text };
	memcpy(m.id, id, CLIENT_CONTENT_ID_MAX + 1);
	struct aim_buf b;
	aim_buf_init(&b, CLIENT_CONTENT_TEXT_MAX + 1024);
	if (client_content_encode(&m, &b) != 0 || aim_buf_append_byte(&b, 0) != 0) {
		aim_buf_free(&b);
		return -1;
	}
	*json = (char *)b.data;
	return 0;
}

static char *join_text(const struct opts *o, size_t from)
{
	struct aim_buf b;
	aim_buf_init(&b, CLIENT_CONTENT_TEXT_MAX + 1);
	for (size_t i = from; i < o->n_pos; i++) {
		if ((i > from && aim_buf_append_byte(&b, ' ') != 0) ||
		    aim_buf_append_str(&b, o->pos[i]) != 0) {
			aim_buf_free(&b);
			return NULL;
		}
	}
	if (aim_buf_append_byte(&b, 0) != 0) {
		aim_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* send --stdin CONVERSATION: one message per line of stdin, all from one
 * process (the device opened once); a line each on stdout (--json: the
 * message's id). */
static int send_lines(struct opts *o)
{
	if (o->n_pos != 1 || o->to)
		return usage_error("send --stdin CONVERSATION (one message per line)");
	char conv[1024];
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0)
		return failed("send");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long sent = 0;
	int rc = 0;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len)
			continue;
		if ((size_t)len > CLIENT_CONTENT_TEXT_MAX) {
			rc = usage_error("send: a line longer than %zu bytes", CLIENT_CONTENT_TEXT_MAX);
			break;
		}
		char id[CLIENT_CONTENT_ID_MAX + 1] = "";
		char *json = NULL;
		if (text_content(line, id, &json) != 0 || client_send_content(cl, conv, json) != 0) {
			free(json);
			rc = failed("send");
			break;
		}
		free(json);
		sent++;
		if (o->json)
			print_json(json_pack("{s:s, s:s, s:s}", "conversation", conv, "id", id, "text",
					     line));
		else
			printf("sent to %s\n", conv);
		fflush(stdout);
	}
	free(line);
	return rc;
}

int cmd_send(struct opts *o)
{
	if (o->stdin_lines)
		return send_lines(o);
	size_t from = o->to ? 0 : 1;
	if (o->n_pos < from + 1)
		return usage_error(o->to ? "send --to HANDLE[,HANDLE] TEXT: TEXT required"
					 : "send: CONVERSATION TEXT (or --to HANDLE[,HANDLE] TEXT)");
	char *text = join_text(o, from);
	if (!text)
		return usage_error("send: text longer than %zu bytes", CLIENT_CONTENT_TEXT_MAX);
	if (strcmp(text, "-") == 0) {
		/* the text from stdin */
		free(text);
		struct aim_buf b;
		aim_buf_init(&b, CLIENT_CONTENT_TEXT_MAX + 1);
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
			if (aim_buf_append(&b, chunk, n) != 0) {
				aim_buf_free(&b);
				return usage_error("send: text longer than %zu bytes",
						   CLIENT_CONTENT_TEXT_MAX);
			}
		while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			b.len--;
		if (aim_buf_append_byte(&b, 0) != 0) {
			aim_buf_free(&b);
			return usage_error("send: text too long");
		}
		text = (char *)b.data;
	}
	struct handles h = { 0 };
	char conv[1024] = "", id[CLIENT_CONTENT_ID_MAX + 1] = "";
	char *json = NULL;
	int rc = 0;
	if (o->to && add_handles(&h, o->to) != 0) {
		rc = 2;
		goto out;
	}
	if (open_device(o) != 0) {
		rc = failed("send");
		goto out;
	}
	if (o->to) {
		if (client_dm_send(cl, h.v, h.n, text, conv, sizeof conv) != 0) {
			rc = failed("send");
			goto out;
		}
	} else if (resolve(o->pos[0], conv, sizeof conv) != 0 || text_content(text, id, &json) != 0 ||
		   client_send_content(cl, conv, json) != 0) {
		rc = failed("send");
		goto out;
	}
	if (o->json)
		print_json(json_pack("{s:s, s:s, s:s}", "conversation", conv, "id", id, "text", text));
	else
		printf("sent to %s\n", conv);
out:
	handles_free(&h);
	free(json);
	free(text);
	return rc;
}

/* ---- Conversations and history -------------------------------------------------------------- */

int cmd_conversations(struct opts *o)
{
	if (o->n_pos)
		return usage_error("conversations takes no arguments");
	struct client_group_info *all = NULL;
	size_t n = 0;
	if (open_device(o) != 0 || client_conversations(cl, &all, &n) != 0)
		return failed("conversations");
	json_t *arr = json_array();
	if (!o->json && n == 0)
		printf("no conversations\n");
	for (size_t i = 0; i < n; i++) {
		struct client_group_info *g = &all[i];
		if (o->json) {
			char hex[2 * AIM_MAX_HASH + 1];
			size_t k;
			for (k = 0; k < g->authenticator_len && k < AIM_MAX_HASH; k++)
				snprintf(hex + 2 * k, 3, "%02x", g->authenticator[k]);
			hex[2 * k] = 0;
			json_array_append_new(
				arr, json_pack("{s:I, s:s, s:s, s:I, s:I, s:i, s:b, s:s}", "number",
					       (json_int_t)(i + 1), "kind", g->kind, "conversation",
					       g->conversation, "epoch", (json_int_t)g->epoch, "seq",
					       (json_int_t)g->seq, "members", (int)g->members, "active",
					       g->active, "epochAuthenticator", hex));
		}
		else
			printf("%2zu  %-7s %s  epoch %llu, %u members%s\n", i + 1, g->kind,
			       g->conversation, (unsigned long long)g->epoch, g->members,
			       g->active ? "" : " (left)");
	}
	if (o->json)
		print_json(json_pack("{s:o}", "conversations", arr));
	else
		json_decref(arr);
	free(all);
	return 0;
}

static void sync_once(bool *failing);

/* ---- The timeline: the content format's rules over the history ---------------------------- */

static const char *who_of(const char *acct)
{
	return aim_str_has_prefix(acct, "acct:") ? acct + 5 : acct;
}

/* Applies one history entry to t: *outcome, *idx (SIZE_MAX: none). Entries
 * without content (undecryptable, refused) are shown by the library's
 * description and do not enter the timeline (outcome 0). */
static int apply_msg(struct client_content_timeline *t, const struct client_message *m,
		     enum client_content_outcome *outcome, size_t *idx)
{
	*outcome = 0;
	*idx = SIZE_MAX;
	if (!m->content || !m->content[0])
		return 0;
	return client_content_apply(t, m->sender, (int64_t)m->seq,
				    AIM_BYTES(m->content, strlen(m->content)), outcome, idx);
}

/* The target id of a message's content ("" if none). */
static void target_of(const struct client_message *m, char out[CLIENT_CONTENT_ID_MAX + 1])
{
	out[0] = 0;
	struct client_content c;
	if (m->content && m->content[0] &&
	    client_content_decode(AIM_BYTES(m->content, strlen(m->content)), &c) == 0) {
		memcpy(out, c.target, CLIENT_CONTENT_ID_MAX + 1);
		client_content_free(&c);
	}
	aim_errclear();
}

/* One received message as it happens (listen, chat). */
static void print_event(const struct opts *o, const char *conv, const struct client_message *m,
			enum client_content_outcome oc, bool with_conv)
{
	if (oc == CLIENT_CONTENT_DUPLICATE)
		return;
	char target[CLIENT_CONTENT_ID_MAX + 1];
	target_of(m, target);
	bool warning = strcmp(m->type, "trust") == 0;
	if (warning) {
		/* loud: on stderr too, whatever the output format */
		char buf[1200];
		snprintf(buf, sizeof buf, "[%s] %s", conv, m->text ? m->text : "");
		one_line("*** ", buf);
	}
	if (o->json && warning) {
		print_json(json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I}", "conversation", conv,
				     "sender", m->sender, "type", m->type, "text",
				     m->text ? m->text : "", "warning", true, "epoch",
				     (json_int_t)m->epoch, "seq", (json_int_t)m->seq));
		return;
	}
	if (warning) {
		if (with_conv)
			printf("[%s] ", conv);
		printf("*** %s ***\n", m->text ? m->text : "");
		fflush(stdout);
		return;
	}
	if (o->json) {
		print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "conversation",
				     conv, "sender", m->sender, "type", m->type, "text",
				     m->text ? m->text : "", "id", m->id, "target", target, "outcome",
				     oc ? client_content_outcome_name(oc) : "shown", "epoch",
				     (json_int_t)m->epoch, "seq", (json_int_t)m->seq));
		return;
	}
	const char *who = who_of(m->sender[0] ? m->sender : "(unknown sender)");
	const char *text = m->text ? m->text : "";
	if (with_conv)
		printf("[%s] ", conv);
	if (strcmp(m->type, "moved") == 0) {
		printf("%s\n", text); /* "channel moved to NEW" */
		fflush(stdout);
		return;
	}
	switch (oc) {
	case CLIENT_CONTENT_EDITED:
		printf("%s edited %.8s: %s\n", who, target, text);
		break;
	case CLIENT_CONTENT_DELETED:
		printf("%s deleted %.8s\n", who, target);
		break;
	case CLIENT_CONTENT_REACTED:
		printf("%s reacted %s to %.8s\n", who, text, target);
		break;
	case CLIENT_CONTENT_UNREACTED:
		printf("%s took back %s on %.8s\n", who, text, target);
		break;
	case CLIENT_CONTENT_NOT_SENDER:
		printf("%s: [%s of %.8s ignored: not its sender]\n", who, m->type, target);
		break;
	case CLIENT_CONTENT_NO_TARGET:
		printf("%s: [%s ignored: no message %.8s]\n", who, m->type, target);
		break;
	default:
		if (strcmp(m->type, "text") == 0)
			printf("%s: %s\n", who, text);
		else if (strcmp(m->type, "reply") == 0)
			printf("%s (reply to %.8s): %s\n", who, target, text);
		else
			printf("%s: [%s] %s\n", who, m->type, text);
	}
	fflush(stdout);
}

static json_t *entry_json(const struct client_content_entry *e)
{
	json_t *r = json_array();
	for (size_t i = 0; i < e->n_reactions; i++)
		json_array_append_new(r, json_pack("{s:s, s:s}", "sender", e->reactions[i].sender,
						   "reaction", e->reactions[i].reaction));
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:b, s:b, s:o, s:I}", "id", e->id,
			 "sender", e->sender, "type", client_content_type_name(e->type), "typeName",
			 e->type_name, "text", e->text, "replyTo", e->reply_to, "edited", e->edited,
			 "deleted", e->deleted, "reactions", r, "seq", (json_int_t)e->time);
}

static void print_entry(const struct client_content_entry *e)
{
	const char *who = who_of(e->sender);
	printf("%-8.8s  %s", e->id[0] ? e->id : "-", who);
	if (e->reply_to[0])
		printf(" (reply to %.8s)", e->reply_to);
	if (e->deleted)
		printf(": [deleted]");
	else if (e->type == CLIENT_CONTENT_UNKNOWN)
		printf(": [unknown type %s] %s", e->type_name, e->text ? e->text : "");
	else if (e->type == CLIENT_CONTENT_UNDECODABLE)
		printf(": [undecodable] %s", e->text ? e->text : "");
	else
		printf(": %s%s", e->text ? e->text : "", e->edited ? " (edited)" : "");
	for (size_t i = 0; i < e->n_reactions; i++)
		printf("%s%s %s", i ? ", " : "  [", e->reactions[i].reaction,
		       who_of(e->reactions[i].sender));
	printf("%s\n", e->n_reactions ? "]" : "");
}

/* The conversation's messages through the timeline rules. */
static int build_timeline(const char *conv, struct client_content_timeline *t,
			  struct client_message **m, size_t *n)
{
	client_content_timeline_init(t);
	TRY(client_messages(cl, conv, m, n));
	for (size_t i = 0; i < *n; i++) {
		enum client_content_outcome oc;
		size_t idx;
		TRY(apply_msg(t, &(*m)[i], &oc, &idx));
	}
	return 0;
}

int cmd_history(struct opts *o)
{
	if (o->n_pos != 1)
		return usage_error("history: CONVERSATION required");
	char conv[1024];
	struct client_message *m = NULL;
	size_t n = 0;
	struct client_content_timeline t;
	client_content_timeline_init(&t);
	int rc = 0;
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0 ||
	    build_timeline(conv, &t, &m, &n) != 0) {
		rc = failed("history");
		goto out;
	}
	if (o->raw) {
		/* every message as received */
		size_t from = o->count > 0 && (size_t)o->count < n ? n - (size_t)o->count : 0;
		json_t *arr = json_array();
		for (size_t i = from; i < n; i++) {
			if (o->json)
				json_array_append_new(
					arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "sender",
						       m[i].sender, "type", m[i].type, "text",
						       m[i].text ? m[i].text : "", "id", m[i].id,
						       "content", m[i].content ? m[i].content : "",
						       "epoch", (json_int_t)m[i].epoch, "seq",
						       (json_int_t)m[i].seq));
			else
				printf("%-8.8s  %s: [%s] %s\n", m[i].id[0] ? m[i].id : "-",
				       who_of(m[i].sender), m[i].type, m[i].text ? m[i].text : "");
		}
		if (o->json)
			print_json(json_pack("{s:s, s:o}", "conversation", conv, "messages", arr));
		else
			json_decref(arr);
		goto out;
	}
	size_t from = o->count > 0 && (size_t)o->count < t.n ? t.n - (size_t)o->count : 0;
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = from; i < t.n; i++)
			json_array_append_new(arr, entry_json(&t.entries[i]));
		/* what the library could not decrypt or refused, beside the timeline */
		json_t *other = json_array(), *warnings = json_array();
		for (size_t i = 0; i < n; i++)
			if (strcmp(m[i].type, "trust") == 0)
				json_array_append_new(warnings, json_pack("{s:s, s:s, s:I, s:I}",
									  "acct", m[i].sender, "text",
									  m[i].text ? m[i].text : "",
									  "epoch", (json_int_t)m[i].epoch,
									  "seq", (json_int_t)m[i].seq));
			else if (!m[i].content || !m[i].content[0])
				json_array_append_new(other, json_pack("{s:s, s:s, s:s, s:I}", "sender",
								       m[i].sender, "type", m[i].type,
								       "text", m[i].text ? m[i].text : "",
								       "seq", (json_int_t)m[i].seq));
		if (json_array_size(warnings))
			for (size_t i = 0; i < json_array_size(warnings); i++)
				one_line("*** ", json_string_value(json_object_get(
							 json_array_get(warnings, i), "text")));
		print_json(json_pack("{s:s, s:o, s:o, s:o}", "conversation", conv, "messages", arr,
				     "notShown", other, "trustWarnings", warnings));
	} else {
		for (size_t i = 0; i < n; i++)
			if (strcmp(m[i].type, "trust") == 0)
				printf("*** %s ***\n", m[i].text ? m[i].text : "");
		for (size_t i = from; i < t.n; i++)
			print_entry(&t.entries[i]);
		for (size_t i = 0; i < n; i++)
			if ((!m[i].content || !m[i].content[0]) && strcmp(m[i].type, "trust") != 0)
				printf("-         [%s] %s\n", m[i].type, m[i].text ? m[i].text : "");
	}
out:
	client_content_timeline_free(&t);
	client_messages_free(m, n);
	return rc;
}

/* ---- reply, react, edit, delete ----------------------------------------------------------- */

/* The id of the message of conv whose id starts with prefix (unique). */
static int find_message(const struct client_content_timeline *t, const char *prefix,
			char out[CLIENT_CONTENT_ID_MAX + 1])
{
	size_t hits = 0, pl = strlen(prefix);
	for (size_t i = 0; i < t->n; i++) {
		const char *id = t->entries[i].id;
		if (id[0] && strncmp(id, prefix, pl) == 0) {
			if (strcmp(id, prefix) == 0) {
				memcpy(out, id, strlen(id) + 1);
				return 0;
			}
			memcpy(out, id, strlen(id) + 1);
			hits++;
		}
	}
	ENSURE(hits > 0 && pl, AIM_ERR_NOTFOUND, "no message %s (see aim history)", prefix);
	ENSURE(hits == 1, AIM_ERR_INVALID, "%s names %zu messages: give more of its id", prefix,
	       hits);
	return 0;
}

static int act(struct opts *o, enum client_content_type type)
{
	const char *name = client_content_type_name(type);
	bool needs_text = type != CLIENT_CONTENT_DELETE;
	if (o->n_pos < (needs_text ? 3u : 2u) || (!needs_text && o->n_pos != 2))
		return usage_error("%s: CONVERSATION MESSAGE_ID%s required", name,
				   type == CLIENT_CONTENT_REACTION ? " REACTION"
				   : needs_text			  ? " TEXT"
								  : "");
	char conv[1024];
	struct client_message *m = NULL;
	size_t n = 0;
	struct client_content_timeline t;
	client_content_timeline_init(&t);
	struct client_content c = { .type = type, .remove = o->remove };
	char *text = needs_text ? join_text(o, 2) : NULL;
	struct aim_buf b;
	aim_buf_init(&b, CLIENT_CONTENT_TEXT_MAX + 1024);
	int rc = 0;
	if (needs_text && !text) {
		rc = usage_error("%s: text too long", name);
		goto out;
	}
	c.text = text;
	bool failing = false;
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0 ||
	    /* our own messages come into the history with the hub's order */
	    (sync_once(&failing), false) || build_timeline(conv, &t, &m, &n) != 0 || find_message(&t, o->pos[1], c.target) != 0 ||
	    client_content_new_id(c.id) != 0 || client_content_encode(&c, &b) != 0 ||
	    aim_buf_append_byte(&b, 0) != 0 || client_send_content(cl, conv, (char *)b.data) != 0) {
		rc = failed(name);
		goto out;
	}
	if (o->json)
		print_json(json_pack("{s:s, s:s, s:s, s:s}", "conversation", conv, "type", name, "id",
				     c.id, "target", c.target));
	else
		printf("sent %s of %.8s to %s\n", name, c.target, conv);
out:
	aim_buf_free(&b);
	free(text);
	client_content_timeline_free(&t);
	client_messages_free(m, n);
	return rc;
}

int cmd_reply(struct opts *o)
{
	return act(o, CLIENT_CONTENT_REPLY);
}

int cmd_react(struct opts *o)
{
	return act(o, CLIENT_CONTENT_REACTION);
}

int cmd_edit(struct opts *o)
{
	return act(o, CLIENT_CONTENT_EDIT);
}

int cmd_delete(struct opts *o)
{
	return act(o, CLIENT_CONTENT_DELETE);
}

/* ---- listen and chat ----------------------------------------------------------------------- */

/* How many history entries of each conversation were shown. */
struct shown {
	char **conv;
	size_t *count;
	struct client_content_timeline *tl;
	size_t n;
};

static size_t shown_slot(struct shown *s, const char *conv)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->conv[i], conv) == 0)
			return i;
	s->conv = aim_xrealloc(s->conv, (s->n + 1) * sizeof *s->conv);
	s->count = aim_xrealloc(s->count, (s->n + 1) * sizeof *s->count);
	s->tl = aim_xrealloc(s->tl, (s->n + 1) * sizeof *s->tl);
	s->conv[s->n] = aim_xstrdup(conv);
	s->count[s->n] = 0;
	client_content_timeline_init(&s->tl[s->n]);
	return s->n++;
}

static void shown_free(struct shown *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->conv[i]);
		client_content_timeline_free(&s->tl[i]);
	}
	free(s->conv);
	free(s->count);
	free(s->tl);
}

/* Prints what is new in conv (only) or in every conversation; with
 * mark_only, records the counts without printing. *printed counts. */
static int print_new(const struct opts *o, struct shown *s, const char *only, bool mark_only,
		     long *printed)
{
	struct client_group_info *all = NULL;
	size_t n = 0;
	TRY(client_conversations(cl, &all, &n));
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *conv = all[i].conversation;
		if (only && strcmp(only, conv) != 0)
			continue;
		struct client_message *m = NULL;
		size_t nm = 0;
		size_t slot = shown_slot(s, conv);
		/* only the entries not shown yet are read */
		if (client_messages_after(cl, conv, s->count[slot], &m, &nm) != 0) {
			rc = -1;
			break;
		}
		for (size_t k = 0; k < nm; k++) {
			enum client_content_outcome oc;
			size_t idx;
			if (apply_msg(&s->tl[slot], &m[k], &oc, &idx) != 0) {
				rc = -1;
				break;
			}
			if (!mark_only) {
				print_event(o, conv, &m[k], oc, only == NULL);
				(*printed)++;
			}
		}
		s->count[slot] += nm;
		client_messages_free(m, nm);
	}
	free(all);
	return rc;
}

/* One sync; a failure is reported once per streak (the loop goes on). */
static void sync_once(bool *failing)
{
	struct client_sync_stats st;
	if (client_sync(cl, &st) != 0) {
		if (!*failing) {
			char buf[1024];
			snprintf(buf, sizeof buf, "sync: %s (retrying)", aim_errmsg());
			one_line("", buf);
		}
		*failing = true;
		aim_errclear();
		return;
	}
	*failing = false;
}

/* A conversation in which this device fell too far behind is rejoined by
 * external commit, and a notice says so (stderr). */
static void rejoin_behind(const struct opts *o)
{
	struct client_join_result *r = NULL;
	size_t n = 0;
	if (client_join_conversations(cl, true, &r, &n) != 0) {
		aim_errclear();
		return;
	}
	if (n) {
		(void)report_joins(o, r, n, true);
		struct client_sync_stats st;
		if (client_sync(cl, &st) != 0)
			aim_errclear();
	}
	free(r);
}

/* What the event stream's callback prints with. */
struct listening {
	const struct opts *o;
	struct shown *s;
	const char *only;
	long *printed;
	int failed;
	int again; /* an event could not be applied: sync and rejoin first */
};

/* After each applied event (st) or a quiet wait (NULL): prints what is
 * new; non-zero stops the stream (Ctrl-C, --count reached, an error). */
static int on_listen(void *arg, const struct client_sync_stats *st)
{
	struct listening *l = arg;
	if (st && (st->applied || st->joined || st->failed) &&
	    print_new(l->o, l->s, l->only, false, l->printed) != 0) {
		l->failed = 1;
		return 1;
	}
	if (st && (st->failed || st->behind)) {
		l->again = 1;
		return 1;
	}
	return stop || (l->o->count > 0 && *l->printed >= l->o->count);
}

int cmd_listen(struct opts *o)
{
	if (o->n_pos > 1)
		return usage_error("listen: at most one CONVERSATION");
	long interval = o->interval_ms ? o->interval_ms : 300;
	char conv[1024];
	if (open_device(o) != 0)
		return failed("listen");
	if (o->n_pos && resolve(o->pos[0], conv, sizeof conv) != 0) {
		/* a conversation's URL this device has not joined yet: it may come */
		if (aim_errcode() != AIM_ERR_NOTFOUND ||
		    !(aim_str_has_prefix(o->pos[0], "https://") ||
		      aim_str_has_prefix(o->pos[0], "http://")))
			return failed("listen");
		aim_errclear();
		snprintf(conv, sizeof conv, "%s", o->pos[0]);
	}
	const char *only = o->n_pos ? conv : NULL;
	struct shown s = { 0 };
	long printed = 0;
	bool failing = false, streaming = !o->poll;
	int rc = 0;
	if (print_new(o, &s, only, true, &printed) != 0) {
		rc = failed("listen");
		goto out;
	}
	if (!o->json) {
		fprintf(stderr, "aim: listening as %s (Ctrl-C stops)\n", client_acct(cl));
	}
	struct listening l = { .o = o, .s = &s, .only = only, .printed = &printed };
	while (!stop && (o->count <= 0 || printed < o->count)) {
		/* catch up from the stored inbox position (also after the
		 * stream broke), then follow the event stream from there */
		sync_once(&failing);
		rejoin_behind(o);
		if (print_new(o, &s, only, false, &printed) != 0) {
			rc = failed("listen");
			goto out;
		}
		if (stop || (o->count > 0 && printed >= o->count))
			break;
		if (streaming && !failing) {
			int lr = client_listen(cl, (int)(interval < 1000 ? interval : 1000), on_listen,
					       &l);
			if (l.failed) {
				rc = failed("listen");
				goto out;
			}
			if (lr == 0 && !l.again)
				break; /* Ctrl-C or --count */
			if (lr == 0) {
				l.again = 0;
				continue;
			}
			if (aim_errcode() == AIM_ERR_UNSUPPORTED) {
				streaming = false; /* this I/O only polls */
			} else {
				char buf[1024];
				snprintf(buf, sizeof buf, "event stream: %s (catching up, reconnecting)",
					 aim_errmsg());
				one_line("", buf);
			}
			aim_errclear();
		}
		poll(NULL, 0, (int)interval);
	}
out:
	shown_free(&s);
	return rc;
}

/* chat: the conversation and what is being typed. */
struct chatting {
	struct listening l;
	const char *conv;
	char line[8192];
	size_t ll;
	bool eof;
};

/* Reads what stdin has (it is readable) and sends each whole line. */
static void chat_input(struct chatting *ch)
{
	char buf[4096];
	ssize_t r = read(0, buf, sizeof buf);
	if (r <= 0) {
		ch->eof = true;
		return;
	}
	for (ssize_t i = 0; i < r; i++) {
		if (buf[i] != '\n') {
			if (ch->ll < sizeof ch->line - 1)
				ch->line[ch->ll++] = buf[i];
			continue;
		}
		ch->line[ch->ll] = 0;
		while (ch->ll && ch->line[ch->ll - 1] == '\r')
			ch->line[--ch->ll] = 0;
		ch->ll = 0;
		if (!ch->line[0])
			continue;
		if (strcmp(ch->line, "/quit") == 0) {
			ch->eof = true;
			break;
		}
		char id[CLIENT_CONTENT_ID_MAX + 1];
		char *json = NULL;
		if (text_content(ch->line, id, &json) != 0 ||
		    client_send_content(cl, ch->conv, json) != 0) {
			char e[1024];
			snprintf(e, sizeof e, "send: %s", aim_errmsg());
			one_line("", e);
			aim_errclear();
		}
		free(json);
	}
}

/* The stream's callback in chat: prints what came, then takes what was
 * typed (at least every 100 ms); non-zero ends the stream. */
static int on_chat(void *arg, const struct client_sync_stats *st)
{
	struct chatting *ch = arg;
	if (on_listen(&ch->l, st) != 0)
		return 1;
	struct pollfd p = { .fd = 0, .events = POLLIN };
	if (poll(&p, 1, 0) > 0)
		chat_input(ch);
	return ch->eof || stop;
}

int cmd_chat(struct opts *o)
{
	if (o->n_pos != 1)
		return usage_error("chat: CONVERSATION required");
	long interval = o->interval_ms ? o->interval_ms : 200;
	char conv[1024];
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0)
		return failed("chat");
	struct shown s = { 0 };
	long printed = 0;
	bool failing = false;
	int rc = 0;
	/* the last lines of the history, then what comes */
	if (print_new(o, &s, conv, true, &printed) != 0) {
		rc = failed("chat");
		goto out;
	}
	struct client_content_timeline *tl = &s.tl[shown_slot(&s, conv)];
	for (size_t k = tl->n > 10 ? tl->n - 10 : 0; k < tl->n && !o->json; k++)
		print_entry(&tl->entries[k]);
	if (!o->json) {
		printf("-- %s, as %s. Type a message and Enter; /quit or Ctrl-D ends. --\n", conv,
		       client_acct(cl));
		fflush(stdout);
	}
	struct chatting ch = { .l = { .o = o, .s = &s, .only = conv, .printed = &printed },
			       .conv = conv };
	bool streaming = true;
	while (!stop && !ch.eof) {
		sync_once(&failing);
		rejoin_behind(o);
		if (print_new(o, &s, conv, false, &printed) != 0) {
			rc = failed("chat");
			goto out;
		}
		if (streaming && !failing) {
			/* the event stream, and what is typed between its events */
			int lr = client_listen(cl, 100, on_chat, &ch);
			if (ch.l.failed) {
				rc = failed("chat");
				goto out;
			}
			if (lr == 0 && !ch.l.again)
				continue; /* /quit, Ctrl-D or Ctrl-C */
			if (lr == 0) {
				ch.l.again = 0;
				continue;
			}
			if (aim_errcode() == AIM_ERR_UNSUPPORTED)
				streaming = false;
			aim_errclear();
		}
		/* polling: the inbox every interval, typing in between */
		struct pollfd p = { .fd = 0, .events = POLLIN };
		if (poll(&p, 1, (int)interval) > 0)
			chat_input(&ch);
	}
	/* what was sent last shows before leaving */
	if (print_new(o, &s, conv, false, &printed) != 0)
		aim_errclear();
out:
	shown_free(&s);
	return rc;
}
