/*
 * Server-Sent Events: a user's new inbox items, pushed as they arrive.
 *
 * Each stream runs in its connection's own thread (the HTTP server uses a
 * thread per connection), so waiting here blocks nobody else. A stream reads
 * the inbox after its last sent id, formats events, and otherwise sleeps on
 * the wake-up (struct sse_wake) until an inbox grows, the keepalive is due, or aimd stops.
 */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap/ap.h"

#define KEEPALIVE_MS 15000
#define BATCH 50

void aimd_sse_wake_init(struct sse_wake *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t at;
	pthread_condattr_init(&at);
	pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &at);
	pthread_condattr_destroy(&at);
	w->gen = 0;
	w->stopping = false;
}

void aimd_sse_wake_destroy(struct sse_wake *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

void aimd_sse_wake_notify(struct sse_wake *w)
{
	pthread_mutex_lock(&w->mu);
	w->gen++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void aimd_sse_wake_stop(struct sse_wake *w)
{
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

struct sse {
	struct app *a;
	int64_t user;
	int64_t last;
	struct aim_buf out;          /* formatted, not yet sent */
	size_t off;
	int64_t keepalive_at;
};

static void sse_free(void *cls)
{
	struct sse *s = cls;
	aim_buf_free(&s->out);
	free(s);
}

/* Appends the events after s->last; returns the count, -1 on store failure. */
static int fill(struct sse *s)
{
	struct store_range r = { .min_id = s->last, .limit = BATCH };
	struct store_page p;
	if (store_inbox_page(s->a->st, s->user, &r, &p) != 0)
		return -1;
	int n = 0;
	/* The page is newest first; events go out oldest first. */
	for (size_t i = p.n; i-- > 0;) {
		struct store_item *it = &p.items[i];
		json_t *j = ap_json_load_stored(it->json);
		if (!j) {
			s->last = it->cursor;
			continue;
		}
		json_t *vis = it->author == s->user ? json_incref(j) : ap_strip_hidden(j);
		char *txt = ap_json_dump(vis);
		/* Compact JSON has no raw newlines, so one data line holds it. */
		if (aim_buf_printf(&s->out, "id: %lld\nevent: activity\ndata: %s\n\n",
				   (long long)it->cursor, txt) != 0) {
			aim_buf_init(&s->out, 0);
			free(txt);
			json_decref(vis);
			json_decref(j);
			break;
		}
		free(txt);
		json_decref(vis);
		json_decref(j);
		s->last = it->cursor;
		n++;
	}
	store_page_clear(&p);
	return n;
}

static ssize_t sse_read(void *cls, char *buf, size_t max)
{
	struct sse *s = cls;
	struct sse_wake *w = &s->a->wake;
	for (;;) {
		if (s->off < s->out.len) {
			size_t n = s->out.len - s->off;
			if (n > max)
				n = max;
			memcpy(buf, s->out.data + s->off, n);
			s->off += n;
			if (s->off == s->out.len) {
				aim_buf_reset(&s->out);
				s->off = 0;
			}
			return (ssize_t)n;
		}
		pthread_mutex_lock(&w->mu);
		bool stopping = w->stopping;
		uint64_t gen = w->gen;
		pthread_mutex_unlock(&w->mu);
		if (stopping)
			return -1;
		int got = fill(s);
		if (got < 0)
			return -1;
		if (got > 0)
			continue;
		int64_t now = aim_mono_ms();
		if (now >= s->keepalive_at) {
			s->keepalive_at = now + KEEPALIVE_MS;
			if (aim_buf_append_str(&s->out, ": keepalive\n\n") != 0)
				return -1;
			continue;
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		int64_t wait = s->keepalive_at - now;
		until.tv_sec += wait / 1000;
		until.tv_nsec += (wait % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&w->mu);
		while (!w->stopping && w->gen == gen) {
			if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0)
				break;
		}
		pthread_mutex_unlock(&w->mu);
	}
}

int aimd_sse_start(struct app *a, int64_t user, int64_t last_seq, struct http_response *resp)
{
	struct sse *s = aim_xcalloc(1, sizeof *s);
	s->a = a;
	s->user = user;
	aim_buf_init(&s->out, (size_t)8 << 20);
	if (last_seq < 0) {
		/* From now on: start after the newest item. */
		struct store_range r = { .limit = 1 };
		struct store_page p;
		if (store_inbox_page(a->st, user, &r, &p) != 0) {
			sse_free(s);
			return -1;
		}
		s->last = p.n ? p.items[0].cursor : 0;
		store_page_clear(&p);
	} else {
		s->last = last_seq;
	}
	s->keepalive_at = aim_mono_ms() + KEEPALIVE_MS;
	/* Something to send at once, so the client sees the headers now. */
	if (aim_buf_append_str(&s->out, ": stream open\nretry: 3000\n\n") != 0) {
		sse_free(s);
		return -1;
	}
	resp->status = 200;
	free(resp->content_type);
	resp->content_type = aim_xstrdup("text/event-stream");
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "X-Accel-Buffering", "no");
	resp->stream = sse_read;
	resp->stream_free = sse_free;
	resp->stream_cls = s;
	return 0;
}
