/*
 * The one signature gate of every S2S POST route (B33), with the per-host
 * limits in front of it, and the inbound state's life cycle.
 *
 * The gate reads only what verification needs: the signature headers, the
 * fields they cover, the request line and the body's bytes (for the
 * digest). The activity is parsed only after the signature verified.
 */
#include "server/internal.h"
#include "server/s2s.h"
#include "server/delivery.h"
#include "server/status.h"
#include "server/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/url.h"
#include "crypto/crypto.h"

#define REPLAY_CAPACITY 500000  /* 1 Mi slots of 40 bytes at most */
#define HOST_RATE 300            /* deliveries per second per host */
#define HOST_KEY_FAILS 60        /* failed key fetches per minute per host before 429 */
#define HOST_INFLIGHT 64         /* concurrent deliveries per host */

int aimd_fed_in_open(struct app *a, unsigned host_rate, unsigned host_concurrency)
{
	struct fed_in *f = aim_xcalloc(1, sizeof *f);
	a->fin = f;
	f->replay = http_sig_replay_new(REPLAY_CAPACITY);
	unsigned rate = host_rate ? host_rate : HOST_RATE;
	f->host_lim = aimd_limiter_new(rate, rate * 10, HOST_KEY_FAILS);
	pthread_mutex_init(&f->mu, NULL);
	f->max_inflight = host_concurrency ? host_concurrency : HOST_INFLIGHT;
	atomic_init(&f->stopped, false);
	aimd_batcher_init(&f->batch);
	char *rsa = NULL, *ed = NULL;
	TRY(store_user_private_keys(a->st, a->instance_id, &rsa, &ed));
	char *key_id = aim_xasprintf("%s/actor#main-key", a->base);
	int rc = aimd_signer_new(key_id, rsa, strlen(rsa), &a->client, &f->signer);
	free(key_id);
	aim_free_secret(rsa, strlen(rsa));
	aim_free_secret(ed, strlen(ed));
	TRY(rc);
	f->cache = aimd_ra_cache_new(f->signer);
	return 0;
}

void aimd_fed_in_free(struct app *a)
{
	struct fed_in *f = a->fin;
	if (!f)
		return;
	aimd_ra_cache_free(f->cache);
	http_sig_replay_free(f->replay);
	aimd_limiter_free(f->host_lim);
	pthread_mutex_destroy(&f->mu);
	aimd_batcher_destroy(&f->batch);
	aimd_signer_free(f->signer);
	free(f);
	a->fin = NULL;
}

/* ---- Per-host limits ---------------------------------------------------------- */

static uint32_t hhash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Takes an in-flight slot for host; false when the host already has
 * max_inflight deliveries open (B32). */
static bool inflight_take(struct fed_in *f, const char *host)
{
	bool ok = true;
	uint32_t h = hhash(host) % S2S_INFLIGHT_SLOTS;
	pthread_mutex_lock(&f->mu);
	/* One slot per hash bucket: colliding hosts share a budget. */
	if (strcmp(f->inflight[h].host, host) != 0 && f->inflight[h].n == 0)
		snprintf(f->inflight[h].host, sizeof f->inflight[h].host, "%s", host);
	if (f->inflight[h].n >= f->max_inflight)
		ok = false;
	else
		f->inflight[h].n++;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

static void inflight_put(struct fed_in *f, const char *host)
{
	uint32_t h = hhash(host) % S2S_INFLIGHT_SLOTS;
	pthread_mutex_lock(&f->mu);
	if (f->inflight[h].n > 0)
		f->inflight[h].n--;
	pthread_mutex_unlock(&f->mu);
}

static void too_many(struct http_response *r, unsigned wait, const char *why)
{
	char s[16];
	snprintf(s, sizeof s, "%u", wait ? wait : 1);
	http_resp_error(r, 429, "rate_limited", why);
	http_resp_header(r, "Retry-After", s);
}

/* ---- Which fields the signature covers --------------------------------------- */

/* Adds the header `name` (lower-case) of the request to fields, once. */
static void add_field(struct sig_fields *fl, const struct http_request *q, const char *name)
{
	if (http_sig_fields_get(fl->v, fl->n, name))
		return;
	const char *v = http_req_header(q, name);
	if (v)
		http_sig_fields_add(fl, name, v);
}

/* The request as the signature code sees it, with the fields in fl. */
static struct sig_request sig_request_of(struct app *a, const struct http_request *q,
					 const struct sig_fields *fl)
{
	const char *authority = http_req_header(q, "Host");
	return (struct sig_request){
		.method = q->method,
		.target = http_req_target(q),
		.authority = authority ? authority : "",
		.scheme = aim_str_has_prefix(a->base, "https:") ? "https" : "http",
		.fields = fl->v,
		.n_fields = fl->n,
		/* A GET or HEAD has no content to digest. */
		.has_body = strcmp(q->method, "GET") != 0 && strcmp(q->method, "HEAD") != 0,
		.body = AIM_BYTES(q->body, q->body_len),
	};
}

/*
 * Collects the fields the signature headers name (step 1, http_sig_parse,
 * without verifying anything) and the keyId's host for the per-host
 * limits. Whatever does not parse is left for the gate to refuse.
 */
static void covered_fields(struct app *a, const struct http_request *q, struct sig_fields *fl,
			   char *host, size_t hostn)
{
	static const char *const always[] = { "host", "date", "digest", "content-digest",
					      "signature", "signature-input", "authorization",
					      "content-type", "content-length" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(always); i++)
		add_field(fl, q, always[i]);
	host[0] = 0;
	struct sig_request req = sig_request_of(a, q, fl);
	struct sig_parsed *p = NULL;
	if (http_sig_parse(&req, NULL, &p) != 0) {
		aim_errclear();
		return;
	}
	for (size_t i = 0; i < http_sig_parsed_n_fields(p); i++)
		if (strlen(http_sig_parsed_field(p, i)) <= 64)
			add_field(fl, q, http_sig_parsed_field(p, i));
	struct aim_url u = { 0 };
	if (aim_url_parse(http_sig_parsed_key_id(p), &u) == 0)
		snprintf(host, hostn, "%s", u.host);
	else
		aim_errclear();
	aim_url_free(&u);
	http_sig_parsed_free(p);
}

/* ---- The gate ---------------------------------------------------------------- */

void aimd_s2s_auth_clear(struct s2s_auth *au)
{
	free(au->actor);
	free(au->key_id);
	memset(au, 0, sizeof *au);
}

void aimd_s2s_host_release(struct app *a, const char *host)
{
	if (host && *host)
		inflight_put(a->fin, host);
}

int aimd_s2s_host_admit(struct app *a, const struct http_request *q, struct http_response *r,
		   struct sig_fields *fl, char *host, size_t hostn)
{
	struct fed_in *f = a->fin;
	covered_fields(a, q, fl, host, hostn);
	/* No parsable keyId: the gate refuses it anyway; limit by address. */
	const char *who = *host ? host : q->remote;
	unsigned wait = aimd_limiter_auth_blocked(f->host_lim, who);
	if (wait) {
		too_many(r, wait, "too many deliveries with unusable keys from this host");
		host[0] = 0;
		return -1;
	}
	wait = aimd_limiter_take(f->host_lim, who);
	if (wait) {
		too_many(r, wait, "too many deliveries from this host");
		host[0] = 0;
		return -1;
	}
	if (*host && !inflight_take(f, host)) {
		too_many(r, 1, "too many concurrent deliveries from this host");
		host[0] = 0;
		return -1;
	}
	return 0;
}

/* Steps 1 and 2a (http/sig.h): everything that needs no key. *why: the
 * step that refused it (for /metrics), AIMD_SIG_FAILURE_N when none did. */
static int gate_parse(struct app *a, const struct http_request *q, const struct sig_fields *fl,
		      int64_t now, struct sig_parsed **out, enum aimd_sig_failure *why)
{
	struct sig_request req = sig_request_of(a, q, fl);
	struct sig_policy pol;
	http_sig_policy_default(&pol);
	*why = AIMD_SIG_MALFORMED;
	TRY(http_sig_parse(&req, &pol, out));
	*why = AIMD_SIG_POLICY;
	if (http_sig_check(*out, &req, now) != 0) {
		http_sig_parsed_free(*out);
		*out = NULL;
		return -1;
	}
	*why = AIMD_SIG_FAILURE_N;
	return 0;
}

/* The key of p from the cache (fresh: refetched), then the signature. */
static int gate_key_verify(struct ra_lookup *l, const struct sig_parsed *p,
			   struct sig_verified *v)
{
	struct sig_key key;
	if (aimd_remote_key_get(l, http_sig_parsed_key_id(p), &key) != 0) {
		/* Its server failed or timed out: kept (502/504, aimd_s2s_gate_verify). */
		enum aim_err e = aim_errcode();
		char msg[300];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		return aim_fail(e == AIM_ERR_REMOTE || e == AIM_ERR_TIMEOUT ? e : AIM_ERR_AUTH,
				"signature: key unavailable: %s", msg);
	}
	int rc = http_sig_verify_key(p, &key, v);
	aimd_remote_key_put(l, &key);
	return rc;
}

int aimd_s2s_gate_verify(struct app *a, const struct http_request *q, const struct sig_fields *fl,
		    const char *host, struct s2s_auth *out)
{
	memset(out, 0, sizeof *out);
	struct fed_in *f = a->fin;
	/* A1: no signature at all. */
	if (!aimd_s2s_has_signature(q)) {
		aimd_metrics_sig_failure(AIMD_SIG_MISSING);
		return aim_fail(AIM_ERR_AUTH, "HTTP signature required");
	}
	struct sig_verified v = { 0 };
	struct sig_parsed *p = NULL;
	struct ra_lookup l = { f->cache, false, false, false };
	int64_t now = aim_now();
	enum aimd_sig_failure parse_why = AIMD_SIG_FAILURE_N;
	int rc = gate_parse(a, q, fl, now, &p, &parse_why);
	if (rc == 0) {
		rc = gate_key_verify(&l, p, &v);
		if (rc != 0 && aim_errcode() == AIM_ERR_VERIFY && l.from_cache) {
			/* The key may have been rotated: refetch the actor once. */
			l.fresh = true;
			rc = gate_key_verify(&l, p, &v);
		}
	}
	http_sig_parsed_free(p);
	if (rc != 0) {
		/* A20: fetches of unusable keys are what a flood costs us (the
		 * negative cache answers repeats without one): count those. */
		if (l.fetch_failed)
			aimd_limiter_auth_failed(f->host_lim, *host ? host : q->remote);
		enum aim_err e = aim_errcode();
		char msg[300];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		http_sig_verified_free(&v);
		/* The key's server failed or timed out: the sender may retry
		 * (502/504); anything else is a signature that does not pass. */
		bool passing = e == AIM_ERR_REMOTE || e == AIM_ERR_TIMEOUT;
		aimd_metrics_sig_failure(parse_why != AIMD_SIG_FAILURE_N ? parse_why
					 : passing		     ? AIMD_SIG_KEY_SERVER_FAILED
					 : e == AIM_ERR_AUTH	     ? AIMD_SIG_KEY_UNAVAILABLE
								     : AIMD_SIG_BAD_SIGNATURE);
		return aim_fail(passing ? e : AIM_ERR_AUTH, "%s", msg);
	}
	/* RFC 9421 7.2.2 / cavage: a signature seen before inside its window
	 * is a replay (A7). */
	/* GETs are reads: the same signed GET twice in one second (identical
	 * cavage signature) is a fetcher's retry, not an attack. */
	bool has_body = strcmp(q->method, "GET") != 0 && strcmp(q->method, "HEAD") != 0;
	if (has_body && http_sig_replay_check(f->replay, v.replay_key, v.replay_until, now) != 0) {
		if (aim_errcode() != AIM_ERR_LIMIT) {
			http_sig_verified_free(&v);
			aimd_metrics_sig_failure(AIMD_SIG_REPLAY);
			return aim_fail(AIM_ERR_AUTH, "signature already used (replay)");
		}
		/* The cache is full of live entries: a replay that slips through
		 * still has no second effect, since the store keeps each activity
		 * id once per inbox (B27). */
		aim_log(AIM_LOG_WARN, "inbox", "replay cache full (%zu entries)",
			http_sig_replay_count(f->replay));
	}
	/* A host that signs with RFC 9421 verifies it: deliveries to it may
	 * use it (delivery.h, "Signature scheme per host"). */
	if (v.scheme == SIG_RFC9421)
		aimd_delivery_host_verifies_rfc9421(a, v.owner);
	out->actor = v.owner;
	out->key_id = v.key_id;
	out->scheme = v.scheme;
	v.owner = NULL;
	v.key_id = NULL;
	http_sig_verified_free(&v);
	return 0;
}

/* ---- Signed GETs ("authorized fetch" towards us) ------------------------------------ */

bool aimd_s2s_has_signature(const struct http_request *q)
{
	const char *az = http_req_header(q, "Authorization");
	return http_req_header(q, "Signature") || http_req_header(q, "Signature-Input") ||
	       (az && !strncasecmp(az, "Signature ", 10));
}

int aimd_s2s_check_signed_get(struct app *a, const struct http_request *q, struct http_response *r)
{
	if (!a->fin || !aimd_s2s_has_signature(q))
		return 0;
	/* The instance actor's document (the key of every signed fetch) and
	 * discovery are served without a check: verifying them would need a
	 * signed fetch of the asker's instance actor, which would verify ours,
	 * without end. */
	size_t bpl = strlen(a->base_path);
	const char *p = strncmp(q->path, a->base_path, bpl) == 0 ? q->path + bpl : q->path;
	if (!strcmp(p, "/actor") || !strncmp(p, "/.well-known/", 13))
		return 0;
	struct sig_fields fl;
	http_sig_fields_init(&fl);
	char host[256];
	if (aimd_s2s_host_admit(a, q, r, &fl, host, sizeof host) != 0) {
		http_sig_fields_free(&fl);
		return -1;
	}
	struct s2s_auth au = { 0 };
	int rc = aimd_s2s_gate_verify(a, q, &fl, host, &au);
	if (rc != 0) {
		aim_log(AIM_LOG_INFO, "s2s", "remote=%s signed %s %s refused 401: %s", q->remote,
			q->method, q->path, aim_errmsg());
		aimd_status_send_failure(r, STATUS_S2S);
	}
	aimd_s2s_auth_clear(&au);
	aimd_s2s_host_release(a, host);
	http_sig_fields_free(&fl);
	return rc;
}
