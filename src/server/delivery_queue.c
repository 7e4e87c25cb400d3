/*
 * The delivery workers: claim due rows from the store in batches under a
 * lease, resolve, sign, POST (concurrently, on the worker's long-lived
 * client multi), record the outcomes in batches; the per-host signature
 * scheme (see delivery.h).
 *
 * Everything that must hold across processes sharing the queue lives in
 * the store (store.h, delivery queue): the lease that keeps a row to one
 * worker, the order per recipient, the per-host limit and the circuit
 * breaker's count and open period. Here: the threads, each with `batch`
 * job slots and one client multi (its connection cache is the keep-alive:
 * a worker's next POST to a host reuses the connection of its last one), a
 * keeper thread that renews the leases of the attempts in flight (LEASE_MS,
 * renewed after RENEW_MS), and the loaded signing keys. A row whose holder
 * died (kill -9) is claimable again once its lease ran out; one abandoned
 * at shutdown is given back at once.
 *
 * A worker's loop: record the outcomes ready (one transaction), claim as
 * many rows as it has free slots (one transaction) when something may have
 * become due (a kick, a finished attempt anywhere, a full last claim, or a
 * second gone by), start them (an actor row is resolved first: that fetch
 * blocks the worker, once per remote actor thanks to the cache), then
 * drive the transfers until one ends or 50 ms pass.
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
#define BATCH_MAX 64       /* slots per worker */
#define DRIVE_MS 50        /* longest wait for a transfer before looking at the queue */
#define GATHER_MS 5        /* longest wait of an outcome for others to record with */

struct worker;

/* A slot: a claimed row, its lease and its attempt. */
struct job {
	struct worker *w;
	struct store_delivery row;
	struct store_lease lease;
	bool busy;                   /* holds a claimed row */
	bool started;                /* its attempt began */
	bool resolving;              /* an actor row at the resolver (w->rmu) */
	int resolved;                /* the resolver's answer (w->rmu): RES_* */
	bool running;                /* its POST is in flight */
	bool ready;                  /* its outcome waits to be recorded */
	int use;                     /* the scheme of the POST in flight */
	struct dlv_signer *signer;   /* borrowed from the pool */
	char *host;                  /* owned: the inbox's authority */
	/* the outcome */
	enum delivery_verdict v;
	long status;
	int64_t retry_after;
	bool host_failure;
	bool has_error;
	char error[300];
};

#define RES_PENDING 0 /* not yet */
#define RES_INBOX 1   /* row->inbox is set: POST it */
#define RES_DONE 2    /* failed: its outcome is ready */
#define RES_GONE 3    /* merged into another row of the same inbox */

struct worker {
	struct delivery *d;
	pthread_t th;
	struct client_multi *m;
	struct job *jobs;            /* c.batch slots */
	unsigned nbusy;
	/* the resolver: a thread that resolves this worker's actor rows (the
	 * fetch blocks; the transfers in flight must not wait for it) */
	pthread_t rth;
	bool rstarted;
	pthread_mutex_t rmu;
	pthread_cond_t rcv;          /* work for the resolver */
	pthread_cond_t wcv;          /* an answer for the worker */
	struct job **rq;             /* c.batch entries */
	unsigned nrq;
	bool rstop;
};

struct delivery {
	struct app *a;
	struct delivery_config c;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	uint64_t gen;                /* bumped by kicks and finished attempts */
	struct worker *w;
	unsigned nw;                 /* workers started */
	pthread_t keeper;
	bool keeper_started;
	struct job **inflight;       /* the rows held: their leases are renewed */
	unsigned ninflight;
	struct dlv_signer **signers; /* never freed before stop: workers borrow them */
	size_t nsigners;
};

static void wake_all(struct delivery *d, const struct worker *except)
{
	for (unsigned i = 0; i < d->nw; i++)
		if (&d->w[i] != except)
			http_client_multi_wakeup(d->w[i].m);
}

/* ---- Claiming (under mu) ------------------------------------------------------ */

/* Claims up to nfree rows into w's free slots; the number taken, 0 if none
 * (or on failure, logged). */
static unsigned claim(struct worker *w, unsigned nfree, bool *failed)
{
	struct delivery *d = w->d;
	/* The store keeps the per-host limit and the half-open probe: a host
	 * that failed breaker_threshold times in a row takes one at a time. */
	struct store_claim c = {
		.now_ms = aim_now_ms(),
		.lease_ms = LEASE_MS,
		.per_host = d->c.per_host,
		.probe_after = d->c.breaker_threshold,
	};
	struct store_delivery rows[BATCH_MAX];
	struct store_lease leases[BATCH_MAX];
	size_t n = 0;
	*failed = false;
	if (store_delivery_claim_batch(d->a->st, &c, nfree, rows, leases, &n) != 0) {
		if (aim_errcode() != AIM_ERR_NOTFOUND) {
			aim_log(AIM_LOG_ERROR, "deliver", "cannot read the queue: %s", aim_errmsg());
			*failed = true;
		}
		return 0;
	}
	size_t k = 0;
	for (unsigned i = 0; i < d->c.batch && k < n; i++) {
		struct job *j = &w->jobs[i];
		if (j->busy)
			continue;
		memset(j, 0, sizeof *j);
		j->w = w;
		j->row = rows[k];
		j->lease = leases[k];
		j->busy = true;
		j->retry_after = -1;
		k++;
		w->nbusy++;
		d->inflight[d->ninflight++] = j;
	}
	return (unsigned)n;
}

static void unhold(struct delivery *d, struct job *j)
{
	for (unsigned i = 0; i < d->ninflight; i++)
		if (d->inflight[i] == j) {
			d->inflight[i] = d->inflight[--d->ninflight];
			break;
		}
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

/* The attempt ended: its outcome waits for the next batch record. */
static void outcome(struct job *j, enum delivery_verdict v, long status, int64_t retry_after,
		    const char *error, bool host_failure)
{
	j->running = false;
	j->ready = true;
	j->v = v;
	j->status = status;
	j->retry_after = retry_after;
	j->host_failure = host_failure;
	j->has_error = error != NULL;
	if (error)
		snprintf(j->error, sizeof j->error, "%s", error);
}

static void post_done(void *ctx, int rc, enum aim_err err, const char *msg,
		      struct client_response *resp);

static int post(struct job *j)
{
	struct delivery *d = j->w->d;
	return aimd_dlv_post_start(d->a, &d->c, j->w->m, j->signer, j->use, j->row.inbox,
				   j->row.body, post_done, j);
}

static void post_failed(struct job *j, enum aim_err e, const char *msg)
{
	char err[300];
	snprintf(err, sizeof err, "%s", msg);
	enum delivery_verdict v = aimd_delivery_classify_error(e);
	outcome(j, v, 0, -1, err, v == DLV_RETRY);
}

static void post_done(void *ctx, int rc, enum aim_err err, const char *msg,
		      struct client_response *resp)
{
	struct job *j = ctx;
	struct app *a = j->w->d->a;
	if (rc != 0) {
		post_failed(j, err, msg ? msg : "");
		return;
	}
	long status = resp->status;
	const char *ra = http_sig_fields_get(resp->headers.v, resp->headers.n, "Retry-After");
	int64_t retry_after = aimd_delivery_retry_after_ms(ra, aim_now_ms());
	http_client_response_free(resp);
	if (j->use == DLV_SCHEME_RFC9421 && (status == 401 || status == 400)) {
		/* delivery.h: a host that still refuses RFC 9421 gets cavage at
		 * once (a new attempt, signed once again) and from then on */
		aim_log(AIM_LOG_INFO, "deliver", "host %s answered %ld to an RFC 9421 signature; "
			"using cavage from now on", j->host, status);
		if (store_host_scheme_set(a->st, j->host, DLV_SCHEME_CAVAGE) != 0)
			aim_log(AIM_LOG_ERROR, "deliver", "cannot remember scheme: %s", aim_errmsg());
		j->use = DLV_SCHEME_CAVAGE;
		if (post(j) != 0)
			post_failed(j, aim_errcode(), aim_errmsg());
		return;
	}
	bool hostfail = status >= 500 || status == 429 || status == 408;
	outcome(j, aimd_delivery_classify_status(status), status, retry_after, NULL, hostfail);
}

/* Finds the inbox of an actor row (on the resolver thread): RES_INBOX,
 * RES_DONE (the outcome is ready) or RES_GONE (merged). */
static int resolve_actor(struct job *j)
{
	struct app *a = j->w->d->a;
	struct store_delivery *row = &j->row;
	char err[300];
	char *inbox = NULL, *shared = NULL;
	bool rfc9421 = false;
	if (aimd_resolve_remote_inbox(a, row->actor, &inbox, &shared, &rfc9421) != 0) {
		enum aim_err e = aim_errcode();
		snprintf(err, sizeof err, "actor: %s", aim_errmsg());
		outcome(j, aimd_delivery_classify_error(e), 0, -1, err,
			e == AIM_ERR_REMOTE || e == AIM_ERR_TIMEOUT);
		return RES_DONE;
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
	if (rc == 0 && !merged)
		row->inbox = aim_xstrdup(target);
	free(h);
	free(inbox);
	free(shared);
	if (rc != 0) {
		snprintf(err, sizeof err, "inbox: %s", aim_errmsg());
		outcome(j, aimd_delivery_classify_error(aim_errcode()), 0, -1, err, false);
		return RES_DONE;
	}
	if (merged) {
		aim_log(AIM_LOG_INFO, "deliver", "delivery %lld to %s: same inbox as another "
			"delivery of %s, merged", (long long)row->id, row->actor, row->activity_id);
		return RES_GONE;
	}
	return RES_INBOX;
}

static void *resolver_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->rmu);
	for (;;) {
		while (!w->rstop && w->nrq == 0)
			pthread_cond_wait(&w->rcv, &w->rmu);
		if (w->rstop)
			break;
		struct job *j = w->rq[0];
		memmove(w->rq, w->rq + 1, (w->nrq - 1) * sizeof *w->rq);
		w->nrq--;
		pthread_mutex_unlock(&w->rmu);
		int r = resolve_actor(j);
		pthread_mutex_lock(&w->rmu);
		j->resolved = r;
		pthread_cond_signal(&w->wcv);
		http_client_multi_wakeup(w->m);
	}
	pthread_mutex_unlock(&w->rmu);
	return NULL;
}

/* Signs and starts the POST of a row with an inbox (its outcome is ready
 * at once if it cannot start). */
static void start_post(struct job *j)
{
	struct delivery *d = j->w->d;
	struct app *a = d->a;
	struct store_delivery *row = &j->row;
	char err[300];
	j->signer = signer_get(d, row->signer);
	if (!j->signer) {
		snprintf(err, sizeof err, "signer: %s", aim_errmsg());
		outcome(j, DLV_RETRY, 0, -1, err, false);
		return;
	}
	j->host = authority_of(row->inbox);
	if (!j->host) {
		outcome(j, DLV_PERMANENT, 0, -1, "inbox is not a URL", false);
		return;
	}
	/* delivery.h "Signature scheme per host": cavage unless the host is
	 * known to verify RFC 9421; a 2xx teaches nothing. */
	int scheme = DLV_SCHEME_UNKNOWN;
	if (store_host_scheme_get(a->st, j->host, &scheme) != 0)
		scheme = DLV_SCHEME_UNKNOWN;
	j->use = aimd_delivery_sign_scheme(scheme);
	j->running = true;
	if (post(j) != 0)
		post_failed(j, aim_errcode(), aim_errmsg());
}

static void slot_free(struct worker *w, struct job *j)
{
	store_delivery_clear(&j->row);
	free(j->host);
	j->host = NULL;
	j->busy = j->started = j->running = j->ready = false;
	w->nbusy--;
}

/* Records every ready outcome in one transaction (the circuit breaker is
 * fed in it, before the rows' leases end, so a host's count is current
 * when it is free again) and frees their slots. */
static void record_ready(struct worker *w)
{
	struct delivery *d = w->d;
	struct store_finish fin[BATCH_MAX];
	struct job *jobs[BATCH_MAX];
	size_t n = 0;
	int64_t now = aim_now_ms();
	for (unsigned i = 0; i < d->c.batch; i++) {
		struct job *j = &w->jobs[i];
		if (!j->busy || !j->ready || j->resolving) /* (the resolver's until it answered) */
			continue;
		struct store_finish *f = &fin[n];
		memset(f, 0, sizeof *f);
		f->lease = &j->lease;
		f->host = j->row.host;
		f->host_failure = j->host_failure;
		f->open_after = d->c.breaker_threshold;
		f->open_until_ms = now + d->c.breaker_cooldown_ms;
		aimd_delivery_outcome(&d->c, &j->row, now, j->v, j->status, j->retry_after, rnd64(),
				      j->has_error ? j->error : NULL, &f->u);
		jobs[n++] = j;
	}
	if (n == 0)
		return;
	bool all_failed = store_delivery_finish_batch(d->a->st, fin, n) != 0;
	for (size_t i = 0; i < n; i++) {
		struct job *j = jobs[i];
		struct store_delivery *row = &j->row;
		const struct store_finish *f = &fin[i];
		if (all_failed || f->rc != 0) {
			aim_log(AIM_LOG_ERROR, "deliver", "delivery %lld: cannot record outcome: %s",
				(long long)row->id, all_failed ? aim_errmsg() : aim_errname(f->err));
			continue;
		}
		if (f->opened)
			aim_log(AIM_LOG_WARN, "deliver",
				"host %s: %u failures in a row, circuit open for %lld ms", row->host,
				f->failures, (long long)d->c.breaker_cooldown_ms);
		aim_log(AIM_LOG_INFO, "deliver", "delivery %lld to %s: status %ld%s%s -> %s%s",
			(long long)row->id, row->inbox ? row->inbox : row->actor, j->status,
			j->has_error ? ", " : "", j->has_error ? j->error : "",
			store_delivery_state_name(f->u.state),
			f->u.state == STORE_DLV_PENDING ? " (retry scheduled)" : "");
	}
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < n; i++) {
		unhold(d, jobs[i]);
		slot_free(w, jobs[i]);
	}
	d->gen++;
	pthread_cond_broadcast(&d->cv);
	wake_all(d, w);
	pthread_mutex_unlock(&d->mu);
}

/* At shutdown: the outcomes that are in are recorded, the attempts still in
 * flight are abandoned and their rows given back for the next start. */
static void resolver_stop(struct worker *w)
{
	if (!w->rstarted)
		return;
	pthread_mutex_lock(&w->rmu);
	w->rstop = true;
	pthread_cond_broadcast(&w->rcv);
	pthread_mutex_unlock(&w->rmu);
	pthread_join(w->rth, NULL); /* after a resolution under way */
	w->rstarted = false;
}

static void abandon(struct worker *w)
{
	struct delivery *d = w->d;
	resolver_stop(w);
	/* a resolution that failed while stopping is an attempt like any
	 * other: its outcome is recorded (and logged), not given back */
	pthread_mutex_lock(&w->rmu);
	for (unsigned i = 0; i < d->c.batch; i++) {
		struct job *j = &w->jobs[i];
		if (j->busy && j->resolving && j->resolved == RES_DONE)
			j->resolving = false;
	}
	pthread_mutex_unlock(&w->rmu);
	record_ready(w);
	pthread_mutex_lock(&d->mu);
	struct client_multi *m = w->m; /* (others wake it under mu) */
	w->m = NULL;
	pthread_mutex_unlock(&d->mu);
	http_client_multi_free(m); /* aborts the transfers, no callbacks */
	pthread_mutex_lock(&d->mu);
	for (unsigned i = 0; i < d->c.batch; i++) {
		struct job *j = &w->jobs[i];
		if (!j->busy)
			continue;
		if (store_delivery_release(d->a->st, &j->lease) != 0)
			aim_log(AIM_LOG_WARN, "deliver", "delivery %lld: cannot give the lease back: %s",
				(long long)j->row.id, aim_errmsg());
		unhold(d, j);
		slot_free(w, j);
	}
	pthread_mutex_unlock(&d->mu);
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

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct delivery *d = w->d;
	uint64_t seen = 0;
	bool first = true, more = false;
	int64_t last_claim = 0, ready_since = 0;
	while (!atomic_load(&d->stop)) {
		unsigned got = 0;
		bool failed = false;
		pthread_mutex_lock(&d->mu);
		unsigned nfree = d->c.batch - w->nbusy;
		if (nfree > 0 && (first || more || d->gen != seen ||
				  aim_mono_ms() - last_claim >= IDLE_WAIT_MS)) {
			first = false;
			seen = d->gen;
			last_claim = aim_mono_ms();
			got = claim(w, nfree, &failed);
			more = got == nfree;
		}
		if (w->nbusy == 0) {
			/* nothing held: sleep until a kick, a finished attempt or
			 * the earliest row's time */
			int64_t next = 0, now = aim_now_ms();
			if (failed)
				wait_ms(d, 1000);
			else if (store_delivery_earliest(d->a->st, &next) != 0)
				wait_ms(d, IDLE_WAIT_MS);
			else if (next <= now)
				wait_ms(d, 1000); /* due but its host is busy: wait for a slot */
			else
				wait_ms(d, next - now);
			pthread_mutex_unlock(&d->mu);
			continue;
		}
		pthread_mutex_unlock(&d->mu);
		/* start the rows just claimed (actor rows go to the resolver
		 * first), and those the resolver answered */
		for (unsigned i = 0; i < d->c.batch; i++) {
			struct job *j = &w->jobs[i];
			if (!j->busy)
				continue;
			if (!j->started) {
				j->started = true;
				if (j->row.inbox) {
					start_post(j);
					continue;
				}
				pthread_mutex_lock(&w->rmu);
				j->resolving = true;
				w->rq[w->nrq++] = j;
				pthread_cond_signal(&w->rcv);
				pthread_mutex_unlock(&w->rmu);
				continue;
			}
			if (!j->resolving)
				continue;
			pthread_mutex_lock(&w->rmu);
			int r = j->resolved;
			if (r != RES_PENDING)
				j->resolving = false;
			pthread_mutex_unlock(&w->rmu);
			if (r == RES_INBOX) {
				start_post(j);
			} else if (r == RES_GONE) {
				pthread_mutex_lock(&d->mu);
				unhold(d, j);
				slot_free(w, j);
				d->gen++;
				pthread_mutex_unlock(&d->mu);
			}
		}
		unsigned nready = 0, nrun = 0;
		bool waiting = false;
		for (unsigned i = 0; i < d->c.batch; i++) {
			const struct job *j = &w->jobs[i];
			nready += j->busy && !j->resolving && j->ready;
			nrun += j->busy && !j->resolving && j->running;
			waiting |= j->busy && j->resolving;
		}
		/* outcomes are recorded together: once nothing else runs, half of
		 * the batch is in, or the first waited GATHER_MS (one
		 * transaction, one fsync, for all of them) */
		int64_t now = aim_mono_ms();
		if (nready) {
			if (!ready_since)
				ready_since = now;
			if (nrun == 0 || nready >= nrun || now - ready_since >= GATHER_MS) {
				record_ready(w);
				ready_since = 0;
				continue;
			}
		}
		bool room = w->nbusy < d->c.batch;
		if (nrun) {
			/* (returns early when a transfer ends; the resolver's
			 * answers and kicks wake it too) */
			http_client_multi_run(w->m, nready ? (int)(GATHER_MS - (now - ready_since))
						   : more && room ? 0 : DRIVE_MS);
		} else if (waiting) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += DRIVE_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&w->rmu);
			bool answered = false;
			for (unsigned i = 0; i < d->c.batch; i++)
				answered |= w->jobs[i].resolving && w->jobs[i].resolved;
			if (!answered && !atomic_load(&d->stop))
				pthread_cond_timedwait(&w->wcv, &w->rmu, &ts);
			pthread_mutex_unlock(&w->rmu);
		}
	}
	abandon(w);
	return NULL;
}

/* Renews the leases of the attempts in flight before they run out. */
#define EXPIRE_SWEEP_MS 1000

static void *keeper(void *arg)
{
	struct delivery *d = arg;
	int64_t swept = 0;
	pthread_mutex_lock(&d->mu);
	while (!atomic_load(&d->stop)) {
		int64_t now = aim_now_ms();
		/* issue 16, outage: rows past the retry period that no attempt
		 * holds (a host whose circuit stays open takes one per probe) are
		 * expired here, a grace after their last attempt was due (a quarter
		 * of the longest gap, 1 s to 60 s: time for a busy queue to give
		 * them that attempt) */
		if (now - swept >= EXPIRE_SWEEP_MS) {
			size_t n = 0;
			int64_t grace = d->c.retry_max_ms / 4;
			grace = grace < 1000 ? 1000 : grace > 60000 ? 60000 : grace;
			swept = now;
			if (store_delivery_expire_overdue(d->a->st, now - d->c.retry_expire_ms - grace,
							  now, &n) != 0)
				aim_log(AIM_LOG_WARN, "deliver", "cannot expire overdue rows: %s",
					aim_errmsg());
			else if (n)
				aim_log(AIM_LOG_INFO, "deliver",
					"%zu deliveries expired: their retry period ended", n);
		}
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
	if (d->w)
		for (unsigned i = 0; i < d->c.workers; i++) {
			struct worker *w = &d->w[i];
			resolver_stop(w);
			http_client_multi_free(w->m);
			free(w->jobs);
			free(w->rq);
			pthread_cond_destroy(&w->rcv);
			pthread_cond_destroy(&w->wcv);
			pthread_mutex_destroy(&w->rmu);
		}
	free(d->w);
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
	ENSURE(c->batch >= 1 && c->batch <= BATCH_MAX, AIM_ERR_INVALID,
	       "delivery batch: 1..%d", BATCH_MAX);
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
	d->inflight = aim_xcalloc((size_t)c->workers * c->batch, sizeof *d->inflight);
	d->w = aim_xcalloc(c->workers, sizeof *d->w);
	for (unsigned i = 0; i < c->workers; i++) {
		struct worker *w = &d->w[i];
		w->d = d;
		w->jobs = aim_xcalloc(c->batch, sizeof *w->jobs);
		w->rq = aim_xcalloc(c->batch, sizeof *w->rq);
		pthread_mutex_init(&w->rmu, NULL);
		pthread_cond_init(&w->rcv, NULL);
		pthread_condattr_t wa;
		pthread_condattr_init(&wa);
		pthread_condattr_setclock(&wa, CLOCK_MONOTONIC);
		pthread_cond_init(&w->wcv, &wa);
		pthread_condattr_destroy(&wa);
		w->m = http_client_multi_new();
		if (!w->m) {
			delivery_free(d);
			return -1;
		}
	}
	if (pthread_create(&d->keeper, NULL, keeper, d) != 0) {
		aimd_delivery_stop(d);
		return aim_fail(AIM_ERR_INTERNAL, "cannot start the delivery lease keeper");
	}
	d->keeper_started = true;
	for (unsigned i = 0; i < c->workers; i++) {
		/* (nw counts the started ones: kicks wake only their multis) */
		pthread_mutex_lock(&d->mu);
		int rc = pthread_create(&d->w[i].rth, NULL, resolver_main, &d->w[i]);
		if (rc == 0) {
			d->w[i].rstarted = true;
			rc = pthread_create(&d->w[i].th, NULL, worker_main, &d->w[i]);
		}
		if (rc == 0)
			d->nw++;
		pthread_mutex_unlock(&d->mu);
		if (rc != 0) {
			aimd_delivery_stop(d);
			return aim_fail(AIM_ERR_INTERNAL, "cannot start delivery workers");
		}
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
	wake_all(d, NULL);
	pthread_mutex_unlock(&d->mu);
}

void aimd_delivery_stop(struct delivery *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	atomic_store(&d->stop, true);
	pthread_cond_broadcast(&d->cv);
	wake_all(d, NULL);
	unsigned nw = d->nw;
	pthread_mutex_unlock(&d->mu);
	for (unsigned i = 0; i < nw; i++)
		pthread_join(d->w[i].th, NULL);
	if (d->keeper_started)
		pthread_join(d->keeper, NULL);
	delivery_free(d);
}
