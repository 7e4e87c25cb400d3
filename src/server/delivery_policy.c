/* Delivery policy: status classes, backoff with jitter, Retry-After,
 * expiry, the signature scheme per host. No I/O: the workers in
 * delivery_queue.c apply it. */
#include "server/delivery.h"
#include "server/server.h"

#include <string.h>

void aimd_delivery_config_default(struct delivery_config *c)
{
	memset(c, 0, sizeof *c);
	c->retry_base_ms = 30 * 1000;
	c->retry_max_ms = 12 * 3600 * 1000LL;
	c->retry_expire_ms = 72 * 3600 * 1000LL;
	c->workers = 4;
	c->per_host = 2;
	c->batch = 16;
	c->breaker_threshold = 5;
	c->breaker_cooldown_ms = 60 * 1000;
	c->timeout_ms = 20000;
}

enum delivery_verdict aimd_delivery_classify_status(long status)
{
	if (status >= 200 && status < 300)
		return DLV_DONE;
	/* 401 (the key may not be fetchable yet, or the scheme is wrong), 408
	 * and 429 are about this attempt, not about the activity. */
	if (status == 401 || status == 408 || status == 429)
		return DLV_RETRY;
	if (status >= 400 && status < 500)
		return DLV_PERMANENT;
	return DLV_RETRY;
}

enum delivery_verdict aimd_delivery_classify_error(enum aim_err e)
{
	switch (e) {
	case AIM_ERR_DENIED:      /* the SSRF guard refused the address */
	case AIM_ERR_UNSUPPORTED: /* not http(s) */
	case AIM_ERR_DECODE:      /* not a URL */
	case AIM_ERR_INVALID:
	case AIM_ERR_NOTFOUND:    /* actor gone / has no inbox */
	case AIM_ERR_GONE:
		return DLV_PERMANENT;
	default:
		/* connection refused, TLS, timeouts, limits: a refused
		 * connection is never a permanent failure */
		return DLV_RETRY;
	}
}

int64_t aimd_delivery_backoff_ms(const struct delivery_config *c, int attempts, uint64_t rnd)
{
	int64_t d = c->retry_base_ms > 0 ? c->retry_base_ms : 1;
	for (int i = 1; i < attempts && d < c->retry_max_ms; i++)
		d *= 2;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	if (d < 1)
		d = 1;
	/* jitter: uniform in [d/2, d] */
	int64_t half = d / 2;
	return d - half + (half > 0 ? (int64_t)(rnd % (uint64_t)(half + 1)) : 0);
}

int64_t aimd_delivery_retry_after_ms(const char *v, int64_t now_ms)
{
	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	char buf[64];
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, v, n);
	buf[n] = 0;
	int64_t secs;
	/* RFC 9110 10.2.3: Retry-After = HTTP-date / delay-seconds */
	if (buf[0] >= '0' && buf[0] <= '9') {
		if (aim_parse_int(buf, 0, 100LL * 365 * 86400, &secs) != 0)
			return -1;
		return secs * 1000;
	}
	int64_t t;
	if (aim_time_parse_http(buf, &t) != 0)
		return -1;
	int64_t ms = t * 1000 - now_ms;
	return ms > 0 ? ms : 0;
}

void aimd_delivery_outcome(const struct delivery_config *c, const struct store_delivery *d,
		      int64_t now_ms, enum delivery_verdict v, long status, int64_t retry_after_ms,
		      uint64_t rnd, const char *error, struct store_delivery_update *u)
{
	memset(u, 0, sizeof *u);
	u->attempts = d->attempts + 1;
	u->last_status = (int)status;
	u->last_error = error;
	u->next_ms = now_ms;
	if (v == DLV_DONE) {
		u->state = STORE_DLV_DELIVERED;
		return;
	}
	if (v == DLV_PERMANENT) {
		u->state = STORE_DLV_FAILED;
		return;
	}
	int64_t deadline = d->created_ms + c->retry_expire_ms;
	if (now_ms >= deadline) {
		u->state = STORE_DLV_EXPIRED;
		return;
	}
	int64_t delay = aimd_delivery_backoff_ms(c, u->attempts, rnd);
	/* RFC 9110 10.2.3: Retry-After "indicates how long the user agent
	 * ought to wait before making a follow-up request"; never past the
	 * longest gap. */
	if (retry_after_ms > delay)
		delay = retry_after_ms < c->retry_max_ms ? retry_after_ms : c->retry_max_ms;
	int64_t next = now_ms + delay;
	/* one last attempt at the deadline rather than giving up early */
	if (next > deadline)
		next = deadline;
	u->state = STORE_DLV_PENDING;
	u->next_ms = next;
}

int aimd_delivery_config_from_serve(const struct aimd_serve_opts *o, struct delivery_config *c)
{
	aimd_delivery_config_default(c);
	if (o->retry_base_ms)
		c->retry_base_ms = o->retry_base_ms;
	if (o->retry_max_ms)
		c->retry_max_ms = o->retry_max_ms;
	if (o->retry_expire_s)
		c->retry_expire_ms = o->retry_expire_s * 1000;
	if (o->delivery_workers)
		c->workers = o->delivery_workers;
	if (o->delivery_per_host)
		c->per_host = o->delivery_per_host;
	if (o->breaker_threshold)
		c->breaker_threshold = o->breaker_threshold;
	if (o->breaker_cooldown_ms)
		c->breaker_cooldown_ms = o->breaker_cooldown_ms;
	ENSURE(c->retry_max_ms >= c->retry_base_ms, AIM_ERR_INVALID,
	       "--retry-max-ms must not be below --retry-base-ms");
	return 0;
}

/* delivery.h "Signature scheme per host": a 2xx proves nothing, so only a
 * host known to verify RFC 9421 gets it. */
int aimd_delivery_sign_scheme(int remembered)
{
	return remembered == DLV_SCHEME_RFC9421 ? DLV_SCHEME_RFC9421 : DLV_SCHEME_CAVAGE;
}

int aimd_delivery_scheme_learn_rfc9421(int remembered)
{
	/* A host that refused our RFC 9421 signature keeps cavage: it is what
	 * it verified, and flipping back would cost a refused POST each time. */
	return remembered == DLV_SCHEME_CAVAGE ? DLV_SCHEME_CAVAGE : DLV_SCHEME_RFC9421;
}
