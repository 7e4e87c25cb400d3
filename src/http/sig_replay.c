/*
 * A bounded, thread-safe replay cache (threats.md A7: "replayed twice
 * inside [the window] -> 401 / no second effect").
 *
 * Open-addressing hash set of 32-byte keys (already uniformly distributed:
 * they are SHA-256 outputs) with an expiry per entry. Expired entries are
 * reclaimed lazily; when every slot is live the cache refuses new keys
 * (fail closed) instead of forgetting a live one.
 *
 * The table starts small and doubles (after reclaiming the expired) while
 * it is half full, up to twice the capacity: its memory follows the live
 * entries. (Allocated at full size, the random slots of each new key
 * faulted in a page each: a 40 MiB table for 512 Ki keys was resident
 * after some 20,000 requests, the peak RSS growth of long inbox runs.)
 */
#include "http/sig.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct replay_slot {
	uint8_t key[32];
	int64_t until; /* 0 = empty */
};

#define REPLAY_FIRST_SLOTS 1024

struct sig_replay {
	pthread_mutex_t mu;
	struct replay_slot *slots;
	size_t nslots; /* power of two, <= max_slots */
	size_t max_slots; /* power of two, >= 2 * capacity */
	size_t capacity;
	size_t live;   /* occupied slots (some may have expired) */
};

struct sig_replay *http_sig_replay_new(size_t capacity)
{
	if (capacity == 0)
		capacity = 65536;
	if (capacity > ((size_t)1 << 24))
		capacity = (size_t)1 << 24;
	size_t n = 16;
	while (n < capacity * 2)
		n <<= 1;
	struct sig_replay *r = aim_xcalloc(1, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	r->max_slots = n;
	r->nslots = n < REPLAY_FIRST_SLOTS ? n : REPLAY_FIRST_SLOTS;
	r->slots = aim_xcalloc(r->nslots, sizeof *r->slots);
	r->capacity = capacity;
	return r;
}

void http_sig_replay_free(struct sig_replay *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->slots);
	free(r);
}

static size_t slot_of(const struct sig_replay *r, const uint8_t key[32])
{
	uint64_t h;
	memcpy(&h, key, sizeof h);
	return (size_t)h & (r->nslots - 1);
}

/* Removes slot i and shifts later members of its probe run back (linear
 * probing deletion without tombstones). */
static void slot_delete(struct sig_replay *r, size_t i)
{
	size_t mask = r->nslots - 1;
	r->slots[i].until = 0;
	r->live--;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (r->slots[j].until == 0)
			return;
		size_t home = slot_of(r, r->slots[j].key);
		/* can the entry at j move to the hole at i? only if its home is
		 * not cyclically within (i, j] */
		bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		r->slots[i] = r->slots[j];
		r->slots[j].until = 0;
		i = j;
	}
}

static void sweep(struct sig_replay *r, int64_t now)
{
	for (size_t i = 0; i < r->nslots;) {
		if (r->slots[i].until != 0 && r->slots[i].until < now) {
			slot_delete(r, i); /* re-check i: something may have moved in */
			continue;
		}
		i++;
	}
}

/* Room for one more key at a load of at most a half: the expired go first,
 * then the table doubles (up to max_slots). */
static void make_room(struct sig_replay *r, int64_t now)
{
	if ((r->live + 1) * 2 <= r->nslots || r->nslots >= r->max_slots)
		return;
	sweep(r, now);
	if ((r->live + 1) * 2 <= r->nslots)
		return;
	size_t n = r->nslots * 2;
	struct replay_slot *old = r->slots;
	size_t oldn = r->nslots;
	r->slots = aim_xcalloc(n, sizeof *r->slots);
	r->nslots = n;
	for (size_t k = 0; k < oldn; k++) {
		if (old[k].until == 0)
			continue;
		size_t i = slot_of(r, old[k].key);
		while (r->slots[i].until != 0)
			i = (i + 1) & (n - 1);
		r->slots[i] = old[k];
	}
	free(old);
}

int http_sig_replay_check(struct sig_replay *r, const uint8_t key[32], int64_t until, int64_t now)
{
	if (until <= 0)
		until = 1;
	pthread_mutex_lock(&r->mu);
	size_t mask = r->nslots - 1;
	size_t i = slot_of(r, key);
	int rc = 0;
	for (;;) {
		struct replay_slot *s = &r->slots[i];
		if (s->until == 0)
			break;
		if (memcmp(s->key, key, 32) == 0) {
			if (s->until >= now) {
				rc = aim_fail(AIM_ERR_AUTH, "signature: replayed request");
				goto out;
			}
			/* expired: renew in place */
			s->until = until;
			goto out;
		}
		i = (i + 1) & mask;
	}
	if (r->live < r->capacity && (r->live + 1) * 2 > r->nslots && r->nslots < r->max_slots) {
		make_room(r, now);
		/* the probe position moved with the table */
		mask = r->nslots - 1;
		i = slot_of(r, key);
		while (r->slots[i].until != 0)
			i = (i + 1) & mask;
	}
	if (r->live >= r->capacity) {
		sweep(r, now);
		if (r->live >= r->capacity) {
			rc = aim_fail(AIM_ERR_LIMIT, "signature: replay cache full");
			goto out;
		}
		/* the probe position may have changed */
		i = slot_of(r, key);
		while (r->slots[i].until != 0)
			i = (i + 1) & mask;
	}
	memcpy(r->slots[i].key, key, 32);
	r->slots[i].until = until;
	r->live++;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

size_t http_sig_replay_count(struct sig_replay *r)
{
	pthread_mutex_lock(&r->mu);
	size_t n = r->live;
	pthread_mutex_unlock(&r->mu);
	return n;
}

size_t http_sig_replay_slots(struct sig_replay *r)
{
	pthread_mutex_lock(&r->mu);
	size_t n = r->nslots;
	pthread_mutex_unlock(&r->mu);
	return n;
}
