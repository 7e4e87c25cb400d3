/*
 * The PostgreSQL back end: events between processes (store.h, "Events
 * between processes") on LISTEN/NOTIFY.
 *
 * The transactions that add inbox rows run NOTIFY aim_inbox, those that
 * enqueue deliveries NOTIFY aim_delivery (store_pg_notify): PostgreSQL
 * sends a notification only when its transaction commits, once per channel
 * and transaction. A listener is a thread with a connection of its own
 * (outside the pool) that LISTENs to both and calls the caller's function
 * per notification; when its connection fails it reconnects with a backoff
 * (100 ms doubling to 5 s) and, once back, reports both events (it may
 * have missed some).
 */
#include "store/pg_int.h"

#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

struct store_listener {
	pthread_t th;
	char *conninfo;
	store_event_fn fn;
	void *ctx;
	atomic_bool stop;
	int pipe[2];                 /* written to stop the thread's poll */
};

int store_pg_notify(struct pgc *db, const char *channel)
{
	char sql[64];
	snprintf(sql, sizeof sql, "NOTIFY %s;", channel);
	return store_pg_script(db, sql, "notify");
}

static void nap(struct store_listener *l, int ms)
{
	struct pollfd p = { .fd = l->pipe[0], .events = POLLIN };
	(void)poll(&p, 1, ms);
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void *listen_main(void *arg)
{
	struct store_listener *l = arg;
	int backoff = 0;
	while (!atomic_load(&l->stop)) {
		PGconn *c = PQconnectdb(l->conninfo);
		PGresult *r = NULL;
		if (c && PQstatus(c) == CONNECTION_OK) {
			PQsetNoticeProcessor(c, quiet, NULL);
			r = PQexec(c, "LISTEN aim_inbox; LISTEN aim_delivery;");
		}
		if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
			PQclear(r);
			PQfinish(c);
			backoff = backoff ? (backoff * 2 > 5000 ? 5000 : backoff * 2) : 100;
			aim_log(AIM_LOG_WARN, "store", "event listener: cannot reach PostgreSQL;"
				" retrying in %d ms", backoff);
			nap(l, backoff);
			continue;
		}
		PQclear(r);
		if (backoff) {
			/* back after a failure: what happened meanwhile is unknown */
			l->fn(l->ctx, STORE_EVENT_INBOX);
			l->fn(l->ctx, STORE_EVENT_DELIVERY);
		}
		backoff = 0;
		while (!atomic_load(&l->stop)) {
			struct pollfd p[2] = { { .fd = PQsocket(c), .events = POLLIN },
					       { .fd = l->pipe[0], .events = POLLIN } };
			int n = poll(p, 2, 1000);
			if (n < 0 || atomic_load(&l->stop))
				continue;
			if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
				break;
			PGnotify *m;
			while ((m = PQnotifies(c)) != NULL) {
				enum store_event ev = !strcmp(m->relname, "aim_delivery")
							      ? STORE_EVENT_DELIVERY
							      : STORE_EVENT_INBOX;
				PQfreemem(m);
				l->fn(l->ctx, ev);
			}
		}
		PQfinish(c);
		if (!atomic_load(&l->stop)) {
			aim_log(AIM_LOG_WARN, "store", "event listener: connection lost; reconnecting");
			backoff = 100;
			nap(l, backoff);
		}
	}
	return NULL;
}

int store_pg_events_listen(struct store *st, store_event_fn fn, void *ctx,
			   struct store_listener **out)
{
	struct store_listener *l = aim_xcalloc(1, sizeof *l);
	l->conninfo = aim_xstrdup(PG(st)->conninfo);
	l->fn = fn;
	l->ctx = ctx;
	atomic_init(&l->stop, false);
	if (pipe(l->pipe) != 0) {
		free(l->conninfo);
		free(l);
		return aim_fail(AIM_ERR_STORAGE, "event listener: no pipe");
	}
	if (pthread_create(&l->th, NULL, listen_main, l) != 0) {
		close(l->pipe[0]);
		close(l->pipe[1]);
		free(l->conninfo);
		free(l);
		return aim_fail(AIM_ERR_NOMEM, "event listener: no thread");
	}
	*out = l;
	return 0;
}

void store_pg_events_unlisten(struct store_listener *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	ssize_t w = write(l->pipe[1], "x", 1);
	(void)w;
	pthread_join(l->th, NULL);
	close(l->pipe[0]);
	close(l->pipe[1]);
	free(l->conninfo);
	free(l);
}
