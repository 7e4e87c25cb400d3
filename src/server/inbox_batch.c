/*
 * Group commit for the inbox (inbox_batch.h tells the flow).
 *
 * No thread of its own: the writer of a batch is one of the requests
 * waiting. Under mu a request queues itself; if nobody writes, it becomes
 * the writer, takes up to AIMD_BATCH_MAX waiting requests (its own among
 * them, oldest first), writes them with mu released, marks them done and
 * hands the writing on (a waiter not yet done becomes the next writer), so
 * that no request waits behind more than one batch that does not hold it.
 */
#include "server/inbox_batch.h"

#include <stdio.h>
#include <string.h>

struct batch_wait {
	struct store_inbound_unit u;
	bool done;
	struct batch_wait *next;
};

void aimd_batcher_init(struct inbox_batcher *b)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
}

void aimd_batcher_destroy(struct inbox_batcher *b)
{
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
}

/* Called with mu held and writing set; returns with mu held. */
static void write_batch(struct inbox_batcher *b, struct store *st)
{
	struct batch_wait *take[AIMD_BATCH_MAX];
	size_t n = 0;
	while (b->head && n < AIMD_BATCH_MAX) {
		take[n++] = b->head;
		b->head = b->head->next;
	}
	if (!b->head)
		b->tail = NULL;
	pthread_mutex_unlock(&b->mu);
	struct store_inbound_unit u[AIMD_BATCH_MAX];
	for (size_t i = 0; i < n; i++)
		u[i] = take[i]->u;
	aim_log(AIM_LOG_DEBUG, "inbox", "group commit of %zu activities", n);
	if (store_inbound_commit_batch(st, u, n) != 0)
		aim_log(AIM_LOG_ERROR, "inbox", "group commit of %zu activities failed: %s", n,
			aim_errmsg()); /* and every unit says so */
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < n; i++) {
		take[i]->u = u[i];
		take[i]->done = true;
	}
	b->batches++;
	b->units += n;
	if (n > b->largest)
		b->largest = n;
}

int aimd_batch_commit(struct inbox_batcher *b, struct store *st, const struct store_inbound *in,
		      bool *dup, size_t *added)
{
	struct batch_wait w = { .u = { .in = in } };
	pthread_mutex_lock(&b->mu);
	if (b->tail)
		b->tail->next = &w;
	else
		b->head = &w;
	b->tail = &w;
	while (!w.done) {
		if (b->writing) {
			pthread_cond_wait(&b->cv, &b->mu);
			continue;
		}
		b->writing = true;
		write_batch(b, st);
		b->writing = false;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	if (dup)
		*dup = w.u.dup;
	if (added)
		*added = w.u.added;
	if (w.u.rc != 0)
		return aim_fail(w.u.err, "%s", w.u.msg);
	return 0;
}
