/*
 * Group commit for the inbox: many requests, one transaction.
 *
 * Each request thread verifies its activity on its own (signature, the
 * inbound core, fetches), then hands the store transaction it decided to
 * aimd_batch_commit, which returns only when that transaction is durable or
 * has failed. Requests that arrive while a batch is being written wait for
 * the next one; the first of them becomes the writer of that batch and
 * commits every waiting activity in one store_inbound_commit_batch (one
 * transaction, one sync to disk). A lone request finds no writer and commits
 * at once: batching adds no latency when the load is light.
 *
 * Every unit of a batch is kept or undone on its own (a duplicate, a denied
 * effect refuse that request only); a storage failure fails the whole batch,
 * and every request in it sees that failure: none of them is acknowledged.
 */
#ifndef AIM_SERVER_INBOX_BATCH_H
#define AIM_SERVER_INBOX_BATCH_H

#include <pthread.h>
#include <stdbool.h>

#include "store/store.h"

#define AIMD_BATCH_MAX 64            /* activities per transaction at most */

struct batch_wait;

struct inbox_batcher {
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* a batch finished */
	bool writing;                /* a thread is writing a batch */
	struct batch_wait *head, *tail; /* waiting for a batch, oldest first */
	/* counters (read under mu, for tests and logs) */
	unsigned long batches, units, largest;
};

void aimd_batcher_init(struct inbox_batcher *b);
void aimd_batcher_destroy(struct inbox_batcher *b);

/* Commits in, batched with the requests waiting beside it, as
 * store_inbound_commit does (same *dup, *added, errors recorded for this
 * thread); returns when it is durable (0) or failed (-1). */
int aimd_batch_commit(struct inbox_batcher *b, struct store *st, const struct store_inbound *in,
		      bool *dup, size_t *added) AIM_WARN_UNUSED;

#endif
