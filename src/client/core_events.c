/*
 * Following the inbox's event stream (client.h, "Following the event
 * stream"): the Server-Sent Events parser, and the loop that reads the
 * stream through client_io's stream_* calls and applies each event with
 * client_event_apply(). No I/O of its own.
 *
 * The parser follows the HTML standard's "Interpreting an event stream"
 * (section 9.2.6): "Lines must be processed, in the order they are
 * received, by ... If the line is empty (a blank line): Dispatch the
 * event ... If the line starts with a U+003A COLON character (:): Ignore
 * the line. If the line contains a U+003A COLON character (:): Collect the
 * characters on the line before the first U+003A COLON character (:), and
 * let field be that string. Collect the characters on the line after the
 * first U+003A COLON character (:), and let value be that string. If value
 * starts with a U+0020 SPACE character, remove it from value." Lines end in
 * CRLF, LF or CR. Fields: "data" appends the value and a LF to the data
 * buffer; "event" sets the event type; "id" sets the last event ID buffer
 * unless the value contains NUL; "retry" and others are ignored. At
 * dispatch, an empty data buffer dispatches nothing; otherwise its last LF
 * is removed.
 */
#include "client/core_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void client_sse_init(struct client_sse *s)
{
	memset(s, 0, sizeof *s);
	aim_buf_init(&s->line, CLIENT_SSE_LINE_MAX);
	aim_buf_init(&s->data, CLIENT_SSE_LINE_MAX);
}

void client_sse_free(struct client_sse *s)
{
	aim_buf_free(&s->line);
	aim_buf_free(&s->data);
	memset(s, 0, sizeof *s);
}

static int dispatch(struct client_sse *s, client_sse_fn fn, void *arg)
{
	int rc = 0;
	if (s->data.len) {
		s->data.len--; /* the last LF */
		rc = fn(arg, s->event[0] ? s->event : "message", s->last_id,
			AIM_BYTES(s->data.data, s->data.len));
	}
	aim_buf_reset(&s->data);
	s->event[0] = 0;
	return rc;
}

static int line(struct client_sse *s, client_sse_fn fn, void *arg)
{
	const char *l = (const char *)s->line.data;
	size_t n = s->line.len;
	if (n == 0)
		return dispatch(s, fn, arg);
	if (l[0] == ':')
		return 0;
	const char *colon = memchr(l, ':', n);
	size_t fl = colon ? (size_t)(colon - l) : n;
	const char *v = colon ? colon + 1 : l + n;
	size_t vl = colon ? n - fl - 1 : 0;
	if (vl && v[0] == ' ') {
		v++;
		vl--;
	}
	if (fl == 4 && memcmp(l, "data", 4) == 0) {
		TRY(aim_buf_append(&s->data, v, vl));
		TRY(aim_buf_append(&s->data, "\n", 1));
	} else if (fl == 5 && memcmp(l, "event", 5) == 0) {
		snprintf(s->event, sizeof s->event, "%.*s", (int)vl, v);
	} else if (fl == 2 && memcmp(l, "id", 2) == 0) {
		if (!memchr(v, 0, vl))
			snprintf(s->last_id, sizeof s->last_id, "%.*s", (int)vl, v);
	}
	return 0;
}

int client_sse_feed(struct client_sse *s, const uint8_t *p, size_t n, client_sse_fn fn, void *arg)
{
	size_t i = 0;
	while (i < n) {
		if (p[i] == '\n' && s->cr) {
			s->cr = false; /* the LF of a CRLF */
			i++;
			continue;
		}
		/* the rest of the line, up to its end or the end of the input */
		size_t j = i;
		while (j < n && p[j] != '\r' && p[j] != '\n')
			j++;
		ENSURE(j - i <= CLIENT_SSE_LINE_MAX - s->line.len, AIM_ERR_LIMIT,
		       "event stream line longer than %zu bytes", CLIENT_SSE_LINE_MAX);
		if (j > i)
			TRY(aim_buf_append(&s->line, p + i, j - i));
		s->cr = false;
		if (j == n)
			break;
		s->cr = p[j] == '\r';
		int rc = line(s, fn, arg);
		aim_buf_reset(&s->line);
		if (rc != 0)
			return rc;
		i = j + 1;
	}
	return 0;
}

/* ---- The loop ------------------------------------------------------------------------- */

struct listen_ctx {
	struct client *c;
	client_listen_fn on_event;
	void *arg;
	int stop; /* the callback's non-zero answer */
};

#define STOPPED 1 /* the callback asked to stop: not an error */

static int on_sse(void *arg, const char *type, const char *id, struct aim_bytes data)
{
	struct listen_ctx *x = arg;
	if (strcmp(type, "activity") != 0)
		return 0; /* another kind of event: not ours to apply */
	struct client_sync_stats st;
	TRY(client_event_apply(x->c, id, data, &st));
	x->stop = x->on_event(x->arg, &st);
	return x->stop ? STOPPED : 0;
}

int client_listen(struct client *c, int wait_ms, client_listen_fn on_event, void *arg)
{
	ENSURE(c->io.stream_open && c->io.stream_read && c->io.stream_close, AIM_ERR_UNSUPPORTED,
	       "this device's I/O has no event streams");
	int64_t pos = 0;
	TRY(client_inbox_position(c, &pos));
	char *url = aim_xasprintf("%s/users/%s/inbox", c->server, c->user);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)pos);
	struct client_http_request req = {
		.method = "GET",
		.url = url,
		.bearer = c->token,
		.accept = "text/event-stream",
		.last_event_id = id,
	};
	void *h = NULL;
	int rc = c->io.stream_open(c->io.http_ctx, &req, &h);
	free(url);
	if (rc != 0)
		return -1;
	struct client_sse sse;
	client_sse_init(&sse);
	struct listen_ctx x = { .c = c, .on_event = on_event, .arg = arg };
	struct aim_buf in;
	aim_buf_init(&in, CLIENT_MAX_RESPONSE);
	for (;;) {
		long status = 0;
		aim_buf_reset(&in);
		rc = c->io.stream_read(h, wait_ms, &in, &status);
		if (status && status != 200) {
			rc = aim_fail(AIM_ERR_REMOTE, "event stream: status %ld", status);
			break;
		}
		if (rc != 0)
			break;
		if (in.len) {
			rc = client_sse_feed(&sse, in.data, in.len, on_sse, &x);
			if (rc == STOPPED) {
				rc = 0;
				break;
			}
			if (rc != 0)
				break;
		} else if ((x.stop = on_event(arg, NULL)) != 0) {
			break;
		}
	}
	aim_buf_free(&in);
	client_sse_free(&sse);
	c->io.stream_close(h);
	return rc;
}
