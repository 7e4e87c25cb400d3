/*
 * The delivery workers: claim due rows from the store under a lease,
 * resolve, sign, POST, record the outcome; the per-host signature scheme
 * (see delivery.h).
 *
 * Everything that must hold across processes sharing the queue lives in
 * the store (store.h, delivery queue): the lease that keeps a row to one
 * worker, the order per recipient, the per-host limit and the circuit
 * breaker's count and open period. Here: the threads, a keeper thread that
 * renews the leases of the attempts in flight (LEASE_MS, renewed after
 * RENEW_MS), and the loaded signing keys. A row whose holder died (kill -9)
 * is claimable again once its lease ran out; one abandoned at shutdown is
 * given back at once.
 */
#include "server/internal.h"
#include "server/delivery_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "base/url.h"

#define MAX_SIGNERS 4096   /* local users whose keys are loaded */
#define IDLE_WAIT_MS 1000  /* longest sleep without a kick (rows enqueued elsewhere) */
#define LEASE_MS 15000     /* a claim's lease */
#define RENEW_MS 5000      /* a lease in flight is renewed once it is this old */

/* A claimed row and its lease. */
struct job {
	struct store_delivery row;
	struct store_lease lease;
};

struct delivery {
	struct app *a;
	struct delivery_config c;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	uint64_t gen;                /* bumped by kicks and finished attempts */
	pthread_t *th;
	unsigned nth;
	pthread_t keeper;
	bool keeper_started;
	struct job **inflight;       /* the attempts running: their leases are renewed */
	unsigned ninflight;
	struct dlv_signer **signers; /* never freed before stop: workers borrow them */
	size_t nsigners;
};

/* ---- Claiming (under mu) ------------------------------------------------------ */

static int claim(struct delivery *d, struct job *j)
{
	/* The store keeps the per-host limit and the half-open probe: a host
	 * that failed breaker_threshold times in a row takes one at a time. */
	struct store_claim c = {
		.now_ms = aim_now_ms(),
		.lease_ms = LEASE_MS,
		.per_host = d->c.per_host,
		.probe_after = d->c.breaker_threshold,
	};
	TRY(store_delivery_claim(d->a->st, &c, &j->row, &j->lease));
	d->inflight[d->ninflight++] = j;
	return 0;
}

static void release(struct delivery *d, struct job *j)
{
	for (unsigned i = 0; i < d->ninflight; i++)
		if (d->inflight[i] == j) {
			d->inflight[i] = d->inflight[--d->ninflight];
			break;
		}
	d->gen++;
	pthread_cond_broadcast(&d->cv);
}

static struct dlv_signer *signer_get(struct delivery *d, int64_t user)
{
	struct dlv_signer *s = NULL;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->nsigners; i++)
		if (d->signers[i]->user == user)
			s = d->signers[i];
	pthread_mutex_unlock(&d->mu);
	if (s)
		return s;
	if (aimd_dlv_signer_load(d->a, user, &s) != 0)
		return NULL;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->nsigners; i++)
		if (d->signers[i]->user == user) {
			/* another worker loaded it meanwhile */
			aimd_dlv_signer_free(s);
			s = d->signers[i];
			pthread_mutex_unlock(&d->mu);
			return s;
		}
	if (d->nsigners >= MAX_SIGNERS) {
		pthread_mutex_unlock(&d->mu);
		aimd_dlv_signer_free(s);
		aim_fail(AIM_ERR_LIMIT, "too many signing users loaded");
		return NULL;
	}
	if ((d->nsigners & (d->nsigners - 1)) == 0)
		d->signers = aim_xrealloc(d->signers,
					  (d->nsigners ? d->nsigners * 2 : 8) * sizeof *d->signers);
	d->signers[d->nsigners++] = s;
	pthread_mutex_unlock(&d->mu);
	return s;
}

/* ---- One attempt ---------------------------------------------------------------- */

static uint64_t rnd64(void)
{
	uint64_t r = 0;
	if (aim_random((uint8_t *)&r, sizeof r) != 0)
		r = (uint64_t)aim_mono_ms() * 2654435761u;
	return r;
}

static char *authority_of(const char *url)
{
	struct aim_url u = { 0 };
	char *h = NULL;
	if (aim_url_parse(url, &u) == 0) {
		struct aim_buf b;
		aim_buf_init(&b, 512);
		if (aim_url_authority(&u, &b) == 0)
			h = (char *)aim_buf_steal(&b, NULL);
		aim_buf_free(&b);
	}
	aim_url_free(&u);
	return h;
}

/* Feeds the circuit breaker (before the row's lease ends, so the host's
 * count is current when it is free again), then records the outcome. */
static void record(struct delivery *d, struct job *j, enum delivery_verdict v, long status,
		   int64_t retry_after, const char *error, bool host_failure)
{
	struct store_delivery *row = &j->row;
	struct store_delivery_update u;
	int64_t now = aim_now_ms();
	unsigned failures = 0;
	if (store_host_failure(d->a->st, row->host, host_failure, now, &failures) != 0)
		aim_log(AIM_LOG_ERROR, "deliver", "host %s: cannot count the attempt: %s", row->host,
			aim_errmsg());
	if (host_failure && failures >= d->c.breaker_threshold) {
		int64_t open_until = now + d->c.breaker_cooldown_ms;
		aim_log(AIM_LOG_WARN, "deliver", "host %s: %u failures in a row, circuit open for %lld ms",
			row->host, failures, (long long)d->c.breaker_cooldown_ms);
		if (store_delivery_defer_host(d->a->st, row->host, open_until) != 0)
			aim_log(AIM_LOG_ERROR, "deliver", "cannot defer host %s: %s", row->host,
				aim_errmsg());
	}
	aimd_delivery_outcome(&d->c, row, now, v, status, retry_after, rnd64(), error, &u);
	if (store_delivery_finish(d->a->st, &j->lease, &u) != 0)
		aim_log(AIM_LOG_ERROR, "deliver", "delivery %lld: cannot record outcome: %s",
			(long long)row->id, aim_errmsg());
	else
		aim_log(u.state == STORE_DLV_PENDING ? AIM_LOG_INFO : AIM_LOG_INFO, "deliver",
			"delivery %lld to %s: status %ld%s%s -> %s%s", (long long)row->id,
			row->inbox ? row->inbox : row->actor, status, error ? ", " : "",
			error ? error : "", store_delivery_state_name(u.state),
			u.state == STORE_DLV_PENDING ? " (retry scheduled)" : "");
}

static void attempt(struct delivery *d, struct job *j)
{
	struct app *a = d->a;
	struct store_delivery *row = &j->row;
	char err[300];
	/* 1. an actor row: find its inbox first */
	if (!row->inbox) {
		char *inbox = NULL, *shared = NULL;
		bool rfc9421 = false;
		if (aimd_resolve_remote_inbox(a, row->actor, &inbox, &shared, &rfc9421) != 0) {
			enum aim_err e = aim_errcode();
			snprintf(err, sizeof err, "actor: %s", aim_errmsg());
			record(d, j, aimd_delivery_classify_error(e), 0, -1, err,
			       e == AIM_ERR_REMOTE || e == AIM_ERR_TIMEOUT);
			return;
		}
		/* bto/bcc recipients get their own inbox: the shared one would
		 * not know they are addressed once bto/bcc are stripped */
		char *target = (!row->personal && shared) ? shared : inbox;
		/* FEP-844e: the actor says its server verifies RFC 9421. */
		if (rfc9421)
			aimd_delivery_host_verifies_rfc9421(a, target);
		char *h = authority_of(target);
		bool merged = false;
		int rc = h ? store_delivery_resolve(a->st, &j->lease, target, h, &merged)
			   : aim_fail(AIM_ERR_DECODE, "inbox %.200s is not a URL", target);
		if (rc == 0 && !merged) {
			row->inbox = aim_xstrdup(target);
		}
		free(h);
		free(inbox);
		free(shared);
		if (rc != 0) {
			snprintf(err, sizeof err, "inbox: %s", aim_errmsg());
			record(d, j, aimd_delivery_classify_error(aim_errcode()), 0, -1, err, false);
			return;
		}
		if (merged) {
			aim_log(AIM_LOG_INFO, "deliver", "delivery %lld to %s: same inbox as another "
				"delivery of %s, merged", (long long)row->id, row->actor, row->activity_id);
			return;
		}
	}
	/* 2. sign and POST */
	struct dlv_signer *s = signer_get(d, row->signer);
	if (!s) {
		snprintf(err, sizeof err, "signer: %s", aim_errmsg());
		record(d, j, DLV_RETRY, 0, -1, err, false);
		return;
	}
	char *host = authority_of(row->inbox);
	if (!host) {
		record(d, j, DLV_PERMANENT, 0, -1, "inbox is not a URL", false);
		return;
	}
	/* delivery.h "Signature scheme per host": cavage unless the host is
	 * known to verify RFC 9421; a 2xx teaches nothing. */
	int scheme = DLV_SCHEME_UNKNOWN;
	if (store_host_scheme_get(a->st, host, &scheme) != 0)
		scheme = DLV_SCHEME_UNKNOWN;
	int use = aimd_delivery_sign_scheme(scheme);
	struct dlv_answer ans;
	int rc = aimd_dlv_post(a, &d->c, s, use, row->inbox, row->body, &d->stop, &ans);
	if (rc == 0 && use == DLV_SCHEME_RFC9421 && (ans.status == 401 || ans.status == 400)) {
		aim_log(AIM_LOG_INFO, "deliver", "host %s answered %ld to an RFC 9421 signature; "
			"using cavage from now on", host, ans.status);
		if (store_host_scheme_set(a->st, host, DLV_SCHEME_CAVAGE) != 0)
			aim_log(AIM_LOG_ERROR, "deliver", "cannot remember scheme: %s", aim_errmsg());
		free(ans.retry_after);
		use = DLV_SCHEME_CAVAGE;
		rc = aimd_dlv_post(a, &d->c, s, use, row->inbox, row->body, &d->stop, &ans);
	}
	free(host);
	if (rc != 0 && atomic_load(&d->stop)) {
		/* abandoned at shutdown: stays pending, given back for the next start */
		if (store_delivery_release(a->st, &j->lease) != 0)
			aim_log(AIM_LOG_WARN, "deliver", "delivery %lld: cannot give the lease back: %s",
				(long long)row->id, aim_errmsg());
		return;
	}
	/* 3. the outcome */
	if (rc != 0) {
		enum aim_err e = aim_errcode();
		snprintf(err, sizeof err, "%s", aim_errmsg());
		enum delivery_verdict v = aimd_delivery_classify_error(e);
		record(d, j, v, 0, -1, err, v == DLV_RETRY);
		return;
	}
	enum delivery_verdict v = aimd_delivery_classify_status(ans.status);
	int64_t ra = aimd_delivery_retry_after_ms(ans.retry_after, aim_now_ms());
	free(ans.retry_after);
	bool hostfail = ans.status >= 500 || ans.status == 429 || ans.status == 408;
	record(d, j, v, ans.status, ra, NULL, hostfail);
}

/* ---- Threads ---------------------------------------------------------------------- */

static void wait_ms(struct delivery *d, int64_t ms)
{
	if (ms < 10)
		ms = 10;
	if (ms > IDLE_WAIT_MS)
		ms = IDLE_WAIT_MS;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	uint64_t gen = d->gen;
	while (gen == d->gen && !atomic_load(&d->stop))
		if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) != 0)
			break;
}

static void *worker(void *arg)
{
	struct delivery *d = arg;
	pthread_mutex_lock(&d->mu);
	while (!atomic_load(&d->stop)) {
		struct job j;
		if (claim(d, &j) == 0) {
			pthread_mutex_unlock(&d->mu);
			attempt(d, &j);
			pthread_mutex_lock(&d->mu);
			release(d, &j);
			store_delivery_clear(&j.row);
			continue;
		}
		if (aim_errcode() != AIM_ERR_NOTFOUND) {
			aim_log(AIM_LOG_ERROR, "deliver", "cannot read the queue: %s", aim_errmsg());
			wait_ms(d, 1000);
			continue;
		}
		int64_t next = 0, now = aim_now_ms();
		if (store_delivery_earliest(d->a->st, &next) != 0)
			wait_ms(d, IDLE_WAIT_MS);
		else if (next <= now)
			wait_ms(d, 1000); /* due but its host is busy: wait for a slot */
		else
			wait_ms(d, next - now);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* Renews the leases of the attempts in flight before they run out. */
static void *keeper(void *arg)
{
	struct delivery *d = arg;
	pthread_mutex_lock(&d->mu);
	while (!atomic_load(&d->stop)) {
		int64_t now = aim_now_ms();
		for (unsigned i = 0; i < d->ninflight; i++) {
			struct store_lease *l = &d->inflight[i]->lease;
			if (l->until_ms - now > LEASE_MS - RENEW_MS)
				continue;
			if (store_delivery_renew(d->a->st, l, now + LEASE_MS) != 0 &&
			    aim_errcode() != AIM_ERR_STATE)
				aim_log(AIM_LOG_WARN, "deliver", "delivery %lld: cannot renew its lease: %s",
					(long long)l->id, aim_errmsg());
		}
		wait_ms(d, IDLE_WAIT_MS);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static void delivery_free(struct delivery *d)
{
	for (size_t i = 0; i < d->nsigners; i++)
		aimd_dlv_signer_free(d->signers[i]);
	free(d->signers);
	free(d->inflight);
	free(d->th);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

int aimd_delivery_start(struct app *a, const struct delivery_config *c, struct delivery **out)
{
	*out = NULL;
	ENSURE(c->workers >= 1 && c->workers <= 64, AIM_ERR_INVALID, "delivery workers: 1..64");
	ENSURE(c->per_host >= 1 && c->breaker_threshold >= 1, AIM_ERR_INVALID,
	       "per-host limit and breaker threshold must be positive");
	ENSURE(c->retry_base_ms >= 1 && c->retry_max_ms >= c->retry_base_ms &&
		       c->retry_expire_ms >= 1 && c->breaker_cooldown_ms >= 1 && c->timeout_ms >= 100,
	       AIM_ERR_INVALID, "bad delivery retry settings");
	struct delivery *d = aim_xcalloc(1, sizeof *d);
	d->a = a;
	d->c = *c;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&d->stop, false);
	d->inflight = aim_xcalloc(c->workers, sizeof *d->inflight);
	d->th = aim_xcalloc(c->workers, sizeof *d->th);
	if (pthread_create(&d->keeper, NULL, keeper, d) != 0) {
		aimd_delivery_stop(d);
		return aim_fail(AIM_ERR_INTERNAL, "cannot start the delivery lease keeper");
	}
	d->keeper_started = true;
	for (unsigned i = 0; i < c->workers; i++) {
		if (pthread_create(&d->th[i], NULL, worker, d) != 0) {
			aimd_delivery_stop(d);
			return aim_fail(AIM_ERR_INTERNAL, "cannot start delivery workers");
		}
		d->nth++;
	}
	*out = d;
	return 0;
}

void aimd_delivery_kick(struct delivery *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->gen++;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void aimd_delivery_stop(struct delivery *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	atomic_store(&d->stop, true);
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	for (unsigned i = 0; i < d->nth; i++)
		pthread_join(d->th[i], NULL);
	if (d->keeper_started)
		pthread_join(d->keeper, NULL);
	delivery_free(d);
}
