/* Per-IP token buckets for the client API, and a bad-token counter. The
 * table has a fixed size: when full, the entry idle the longest is reused, so
 * a flood of addresses costs memory only up to the table. */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#define SLOTS 4096
#define AUTH_WINDOW_MS 60000
#define AUTH_BLOCK_MS 60000

struct entry {
	char ip[48];
	double tokens;
	int64_t last_ms;
	unsigned bad;
	int64_t bad_since_ms;
	int64_t blocked_until_ms;
};

struct limiter {
	pthread_mutex_t mu;
	double rate, burst;
	unsigned auth_limit;
	struct entry *e;
};

struct limiter *aimd_limiter_new(unsigned rate_per_s, unsigned burst, unsigned auth_fail_limit)
{
	struct limiter *l = aim_xcalloc(1, sizeof *l);
	pthread_mutex_init(&l->mu, NULL);
	l->rate = rate_per_s ? rate_per_s : 50;
	l->burst = burst ? burst : 300;
	l->auth_limit = auth_fail_limit ? auth_fail_limit : 50;
	l->e = aim_xcalloc(SLOTS, sizeof *l->e);
	return l;
}

struct limiter *aimd_limiter_new_per_min(unsigned per_min)
{
	struct limiter *l = aimd_limiter_new(1, 1, 1);
	l->rate = (per_min ? per_min : 1) / 60.0;
	l->burst = per_min ? per_min : 1;
	return l;
}

void aimd_limiter_free(struct limiter *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->e);
	free(l);
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The entry for ip (caller holds mu): probes 8 slots, reusing the stalest. */
static struct entry *find(struct limiter *l, const char *ip, int64_t now)
{
	uint32_t h = hash(ip);
	struct entry *stale = NULL;
	for (uint32_t i = 0; i < 8; i++) {
		struct entry *e = &l->e[(h + i) % SLOTS];
		if (!strcmp(e->ip, ip))
			return e;
		if (!stale || e->last_ms < stale->last_ms)
			stale = e;
	}
	memset(stale, 0, sizeof *stale);
	snprintf(stale->ip, sizeof stale->ip, "%s", ip);
	stale->tokens = l->burst;
	stale->last_ms = now;
	return stale;
}

unsigned aimd_limiter_take(struct limiter *l, const char *ip)
{
	int64_t now = aim_mono_ms();
	pthread_mutex_lock(&l->mu);
	struct entry *e = find(l, ip, now);
	e->tokens += (double)(now - e->last_ms) * l->rate / 1000.0;
	if (e->tokens > l->burst)
		e->tokens = l->burst;
	e->last_ms = now;
	unsigned wait = 0;
	if (e->tokens >= 1.0)
		e->tokens -= 1.0;
	else
		wait = (unsigned)((1.0 - e->tokens) / l->rate) + 1;
	pthread_mutex_unlock(&l->mu);
	return wait;
}

unsigned aimd_limiter_auth_blocked(struct limiter *l, const char *ip)
{
	int64_t now = aim_mono_ms();
	pthread_mutex_lock(&l->mu);
	struct entry *e = find(l, ip, now);
	unsigned wait = e->blocked_until_ms > now
				? (unsigned)((e->blocked_until_ms - now + 999) / 1000)
				: 0;
	pthread_mutex_unlock(&l->mu);
	return wait;
}

void aimd_limiter_auth_failed(struct limiter *l, const char *ip)
{
	int64_t now = aim_mono_ms();
	pthread_mutex_lock(&l->mu);
	struct entry *e = find(l, ip, now);
	if (now - e->bad_since_ms > AUTH_WINDOW_MS) {
		e->bad = 0;
		e->bad_since_ms = now;
	}
	if (++e->bad >= l->auth_limit) {
		e->blocked_until_ms = now + AUTH_BLOCK_MS;
		e->bad = 0;
		e->bad_since_ms = now;
		aim_log(AIM_LOG_WARN, "limit", "remote=%s blocked for repeated bad tokens", ip);
	}
	pthread_mutex_unlock(&l->mu);
}

struct limiter *aimd_limiter_new_bytes(size_t per_s, size_t burst)
{
	struct limiter *l = aimd_limiter_new(1, 1, 1);
	l->rate = (double)(per_s ? per_s : 1);
	l->burst = (double)(burst ? burst : per_s);
	return l;
}

unsigned aimd_limiter_debit(struct limiter *l, const char *ip, size_t cost)
{
	int64_t now = aim_mono_ms();
	pthread_mutex_lock(&l->mu);
	struct entry *e = find(l, ip, now);
	e->tokens += (double)(now - e->last_ms) * l->rate / 1000.0;
	if (e->tokens > l->burst)
		e->tokens = l->burst;
	e->last_ms = now;
	unsigned wait = 0;
	if (e->tokens < 0)
		wait = (unsigned)(-e->tokens / l->rate) + 1;
	else
		e->tokens -= (double)cost;
	pthread_mutex_unlock(&l->mu);
	return wait;
}

/* ---- File descriptors ----------------------------------------------------------------------- */

int aimd_fd_budget(unsigned need, unsigned *soft_out)
{
	struct rlimit rl;
	ENSURE(getrlimit(RLIMIT_NOFILE, &rl) == 0, AIM_ERR_STATE, "getrlimit(RLIMIT_NOFILE): %s",
	       strerror(errno));
	if (soft_out)
		*soft_out = rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (unsigned)rl.rlim_cur;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	ENSURE(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need, AIM_ERR_LIMIT,
	       "the configuration needs %u file descriptors (connections, database, outbound) "
	       "but the hard limit (ulimit -Hn) is %llu: raise it or lower --max-connections",
	       need, (unsigned long long)rl.rlim_max);
	rlim_t old = rl.rlim_cur;
	rl.rlim_cur = need;
	ENSURE(setrlimit(RLIMIT_NOFILE, &rl) == 0, AIM_ERR_LIMIT,
	       "cannot raise the file descriptor limit from %llu to %u: %s",
	       (unsigned long long)old, need, strerror(errno));
	aim_log(AIM_LOG_INFO, "limit", "file descriptor limit raised from %llu to %u",
		(unsigned long long)old, need);
	if (soft_out)
		*soft_out = need;
	return 0;
}
