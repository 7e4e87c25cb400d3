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
static int resolve(const char *arg, char *out, size_t len)
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

int cmd_send(struct opts *o)
{
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
		if (o->json)
			json_array_append_new(
				arr, json_pack("{s:I, s:s, s:s, s:I, s:I, s:i, s:b}", "number",
					       (json_int_t)(i + 1), "kind", g->kind, "conversation",
					       g->conversation, "epoch", (json_int_t)g->epoch, "seq",
					       (json_int_t)g->seq, "members", (int)g->members, "active",
					       g->active));
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

static json_t *message_json(const char *conv, const struct client_message *m)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "conversation", conv, "sender", m->sender,
			 "type", m->type, "text", m->text ? m->text : "", "epoch",
			 (json_int_t)m->epoch, "seq", (json_int_t)m->seq);
}

static void print_message(const struct opts *o, const char *conv, const struct client_message *m,
			  bool with_conv)
{
	if (o->json) {
		print_json(message_json(conv, m));
		return;
	}
	const char *who = aim_str_has_prefix(m->sender, "acct:") ? m->sender + 5 : m->sender;
	if (with_conv)
		printf("[%s] ", conv);
	if (strcmp(m->type, "text") == 0)
		printf("%s: %s\n", who, m->text ? m->text : "");
	else
		printf("%s: [%s] %s\n", who, m->type, m->text ? m->text : "");
	fflush(stdout);
}

int cmd_history(struct opts *o)
{
	if (o->n_pos != 1)
		return usage_error("history: CONVERSATION required");
	char conv[1024];
	struct client_message *m = NULL;
	size_t n = 0;
	if (open_device(o) != 0 || resolve(o->pos[0], conv, sizeof conv) != 0 ||
	    client_messages(cl, conv, &m, &n) != 0)
		return failed("history");
	size_t from = o->count > 0 && (size_t)o->count < n ? n - (size_t)o->count : 0;
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = from; i < n; i++)
			json_array_append_new(arr, message_json(conv, &m[i]));
		print_json(json_pack("{s:s, s:o}", "conversation", conv, "messages", arr));
	} else {
		for (size_t i = from; i < n; i++)
			print_message(o, conv, &m[i], false);
	}
	client_messages_free(m, n);
	return 0;
}

/* ---- listen and chat ----------------------------------------------------------------------- */

/* How many history entries of each conversation were shown. */
struct shown {
	char **conv;
	size_t *count;
	size_t n;
};

static size_t *shown_slot(struct shown *s, const char *conv)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->conv[i], conv) == 0)
			return &s->count[i];
	s->conv = aim_xrealloc(s->conv, (s->n + 1) * sizeof *s->conv);
	s->count = aim_xrealloc(s->count, (s->n + 1) * sizeof *s->count);
	s->conv[s->n] = aim_xstrdup(conv);
	s->count[s->n] = 0;
	return &s->count[s->n++];
}

static void shown_free(struct shown *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->conv[i]);
	free(s->conv);
	free(s->count);
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
		if (client_messages(cl, conv, &m, &nm) != 0) {
			rc = -1;
			break;
		}
		size_t *seen = shown_slot(s, conv);
		for (size_t k = *seen; !mark_only && k < nm; k++) {
			print_message(o, conv, &m[k], only == NULL);
			(*printed)++;
		}
		if (nm > *seen)
			*seen = nm;
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

int cmd_listen(struct opts *o)
{
	if (o->n_pos > 1)
		return usage_error("listen: at most one CONVERSATION");
	long interval = o->interval_ms ? o->interval_ms : 300;
	char conv[1024];
	if (open_device(o) != 0 || (o->n_pos && resolve(o->pos[0], conv, sizeof conv) != 0))
		return failed("listen");
	const char *only = o->n_pos ? conv : NULL;
	struct shown s = { 0 };
	long printed = 0;
	bool failing = false;
	int rc = 0;
	if (print_new(o, &s, only, true, &printed) != 0) {
		rc = failed("listen");
		goto out;
	}
	if (!o->json) {
		fprintf(stderr, "aim: listening as %s (Ctrl-C stops)\n", client_acct(cl));
	}
	while (!stop && (o->count <= 0 || printed < o->count)) {
		sync_once(&failing);
		if (print_new(o, &s, only, false, &printed) != 0) {
			rc = failed("listen");
			goto out;
		}
		if (o->count > 0 && printed >= o->count)
			break;
		poll(NULL, 0, (int)interval);
	}
out:
	shown_free(&s);
	return rc;
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
	struct client_message *m = NULL;
	size_t nm = 0;
	if (client_messages(cl, conv, &m, &nm) != 0) {
		rc = failed("chat");
		goto out;
	}
	for (size_t k = nm > 10 ? nm - 10 : 0; k < nm; k++)
		print_message(o, conv, &m[k], false);
	client_messages_free(m, nm);
	*shown_slot(&s, conv) = nm;
	if (!o->json) {
		printf("-- %s, as %s. Type a message and Enter; /quit or Ctrl-D ends. --\n", conv,
		       client_acct(cl));
		fflush(stdout);
	}
	char line[8192];
	size_t ll = 0;
	bool eof = false;
	while (!stop && !eof) {
		sync_once(&failing);
		if (print_new(o, &s, conv, false, &printed) != 0) {
			rc = failed("chat");
			goto out;
		}
		struct pollfd p = { .fd = 0, .events = POLLIN };
		int pr = poll(&p, 1, (int)interval);
		if (pr <= 0)
			continue;
		char buf[4096];
		ssize_t r = read(0, buf, sizeof buf);
		if (r <= 0) {
			eof = true;
			r = 0;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof line - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			while (ll && line[ll - 1] == '\r')
				line[--ll] = 0;
			ll = 0;
			if (!line[0])
				continue;
			if (strcmp(line, "/quit") == 0) {
				eof = true;
				break;
			}
			char id[CLIENT_CONTENT_ID_MAX + 1];
			char *json = NULL;
			if (text_content(line, id, &json) != 0 ||
			    client_send_content(cl, conv, json) != 0) {
				char e[1024];
				snprintf(e, sizeof e, "send: %s", aim_errmsg());
				one_line("", e);
				aim_errclear();
			}
			free(json);
		}
	}
	/* what was sent last shows before leaving */
	if (print_new(o, &s, conv, false, &printed) != 0)
		aim_errclear();
out:
	shown_free(&s);
	return rc;
}
