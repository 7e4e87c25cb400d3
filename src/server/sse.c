/*
 * Server-Sent Events: a user's new inbox items, pushed as they arrive.
 *
 * A stream never holds a thread: its callback runs in the HTTP event loop,
 * sends what it has, and returns 0 when it has nothing, which parks its
 * connection (http/server.h). The streams are registered here by user; a
 * write wakes only the streams of the users whose inbox it grew
 * (aimd_sse_wake_users), or all of them (aimd_sse_wake_notify) where the
 * caller does not know. A woken stream reads the inbox after its last
 * sent id and formats events. One thread sends each stream's keepalive
 * when it is due and sleeps until the next one. Streams per user are
 * capped (AIMD_SSE_PER_USER): a stream past the cap is refused with 429.
 * A stream whose inbox cannot be read (the store failed) is ended, not
 * left open and silent.
 */
#include "server/internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap/ap.h"

#define KEEPALIVE_MS 15000
#define BATCH 50

struct sse {
	struct sse *prev, *next;     /* in its user's bucket, under w->mu */
	struct app *a;
	int64_t user;
	int64_t last;
	struct aim_buf out;          /* formatted, not yet sent */
	size_t off;
	_Atomic int64_t keepalive_at;
	atomic_bool dirty;           /* a write may concern it: read the inbox */
	struct http_stream *h;       /* NULL until the stream starts */
};

static size_t bucket_of(int64_t user)
{
	return (size_t)((uint64_t)user * 0x9e3779b97f4a7c15u >> 40) % AIMD_SSE_BUCKETS;
}

void aimd_sse_wake_init(struct sse_wake *w)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t at;
	pthread_condattr_init(&at);
	pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &at);
	pthread_condattr_destroy(&at);
	w->per_user = AIMD_SSE_PER_USER;
}

static void keepalive_stop(struct sse_wake *w)
{
	pthread_mutex_lock(&w->mu);
	bool on = w->ka_on;
	w->ka_on = false;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (on)
		pthread_join(w->ka, NULL);
}

void aimd_sse_wake_destroy(struct sse_wake *w)
{
	keepalive_stop(w);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/* Wakes the handles collected (with a reference each) outside w->mu: a
 * wake may resume a connection, which must not happen under our lock. */
static void wake_handles(struct http_stream **hs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		http_stream_wake(hs[i]);
		http_stream_unref(hs[i]);
	}
}

/* Collects the started streams of one bucket matching user (0: any) and
 * due by (0: any), caller holds w->mu; grows the scratch array. */
static void collect(struct sse_wake *w, size_t b, int64_t user, int64_t due,
		    struct http_stream ***out, size_t *n, size_t *cap, int64_t *next_due)
{
	for (struct sse *s = w->buckets[b]; s; s = s->next) {
		if (!s->h || (user && s->user != user))
			continue;
		int64_t ka = atomic_load(&s->keepalive_at);
		if (due && ka > due) {
			if (next_due && ka < *next_due)
				*next_due = ka;
			continue;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*out = aim_xrealloc(*out, *cap * sizeof **out);
		}
		if (!due) /* a write, not the keepalive: the inbox may have grown */
			atomic_store(&s->dirty, true);
		http_stream_ref(s->h);
		(*out)[(*n)++] = s->h;
	}
}

static void wake_where(struct sse_wake *w, const int64_t *users, size_t nusers, bool all)
{
	struct http_stream **hs = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&w->mu);
	if (w->nstreams) {
		if (all) {
			for (size_t b = 0; b < AIMD_SSE_BUCKETS; b++)
				collect(w, b, 0, 0, &hs, &n, &cap, NULL);
		} else {
			for (size_t i = 0; i < nusers; i++)
				if (users[i] > 0)
					collect(w, bucket_of(users[i]), users[i], 0, &hs, &n, &cap,
						NULL);
		}
	}
	pthread_mutex_unlock(&w->mu);
	wake_handles(hs, n);
	free(hs);
}

void aimd_sse_wake_notify(struct sse_wake *w)
{
	wake_where(w, NULL, 0, true);
}

void aimd_sse_wake_users(struct sse_wake *w, const int64_t *users, size_t n)
{
	wake_where(w, users, n, false);
}

void aimd_sse_wake_stop(struct sse_wake *w)
{
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_mutex_unlock(&w->mu);
	aimd_sse_wake_notify(w);
	keepalive_stop(w);
}

/* The keepalive thread: wakes each stream whose keepalive is due, then
 * sleeps until the next one is (no stream, no wake-up but the timeout). */
static void *keepalive_main(void *arg)
{
	struct sse_wake *w = arg;
	struct http_stream **hs = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&w->mu);
	while (w->ka_on) {
		int64_t now = aim_mono_ms();
		int64_t next = now + KEEPALIVE_MS;
		size_t n = 0;
		for (size_t b = 0; b < AIMD_SSE_BUCKETS && w->nstreams; b++)
			collect(w, b, 0, now, &hs, &n, &cap, &next);
		pthread_mutex_unlock(&w->mu);
		wake_handles(hs, n);
		pthread_mutex_lock(&w->mu);
		if (!w->ka_on)
			break;
		/* a woken stream moves its keepalive on; give it a moment */
		if (next <= now)
			next = now + 100;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		int64_t wait = next - now;
		until.tv_sec += wait / 1000;
		until.tv_nsec += (wait % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &until);
	}
	pthread_mutex_unlock(&w->mu);
	free(hs);
	return NULL;
}


static void sse_free(void *cls)
{
	struct sse *s = cls;
	struct sse_wake *w = &s->a->wake;
	pthread_mutex_lock(&w->mu);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->buckets[bucket_of(s->user)] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nstreams--;
	pthread_mutex_unlock(&w->mu);
	aim_buf_free(&s->out);
	free(s);
}

/* The stream starts: from now on a write can wake it. */
static void sse_bind(void *cls, struct http_stream *h)
{
	struct sse *s = cls;
	struct sse_wake *w = &s->a->wake;
	pthread_mutex_lock(&w->mu);
	s->h = h;
	if (!w->ka_on && !w->stopping &&
	    pthread_create(&w->ka, NULL, keepalive_main, w) == 0)
		w->ka_on = true;
	pthread_mutex_unlock(&w->mu);
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

/* Runs in the event loop: never waits. */
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
		pthread_mutex_unlock(&w->mu);
		if (stopping)
			return -1;
		/* The inbox is read only when a write woke the stream (or on
		 * its first call): a keepalive costs no query. */
		int got = atomic_exchange(&s->dirty, false) ? fill(s) : 0;
		if (got > 0)
			atomic_store(&s->dirty, true); /* a full batch: more may follow */
		if (got < 0) {
			/* A stream that cannot be served is closed (the client
			 * reconnects with Last-Event-ID), never left silent. */
			aim_log(AIM_LOG_WARN, "sse", "user=%lld stream ended: %s", (long long)s->user,
				aim_errmsg());
			return -1;
		}
		if (got > 0)
			continue;
		int64_t now = aim_mono_ms();
		if (now >= atomic_load(&s->keepalive_at)) {
			atomic_store(&s->keepalive_at, now + KEEPALIVE_MS);
			if (aim_buf_append_str(&s->out, ": keepalive\n\n") != 0)
				return -1;
			continue;
		}
		return 0; /* parked until a write for this user or the keepalive */
	}
}

int aimd_sse_start(struct app *a, int64_t user, int64_t last_seq, struct http_response *resp)
{
	struct sse_wake *w = &a->wake;
	/* Streams per user: counted and registered before the first read,
	 * so two at once cannot both pass the cap. */
	unsigned mine = 0;
	pthread_mutex_lock(&w->mu);
	for (struct sse *o = w->buckets[bucket_of(user)]; o; o = o->next)
		mine += o->user == user;
	if (w->per_user && mine >= w->per_user) {
		pthread_mutex_unlock(&w->mu);
		char d[96];
		snprintf(d, sizeof d, "at most %u event streams per user", w->per_user);
		http_resp_error(resp, 429, "rate_limited", d);
		http_resp_header(resp, "Retry-After", "10");
		return 0;
	}
	struct sse *s = aim_xcalloc(1, sizeof *s);
	s->a = a;
	s->user = user;
	size_t b = bucket_of(user);
	s->next = w->buckets[b];
	if (s->next)
		s->next->prev = s;
	w->buckets[b] = s;
	w->nstreams++;
	pthread_mutex_unlock(&w->mu);
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
	atomic_init(&s->keepalive_at, aim_mono_ms() + KEEPALIVE_MS);
	atomic_init(&s->dirty, true);
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
	resp->stream_bind = sse_bind;
	resp->stream_cls = s;
	return 0;
}
