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

int fed_in_open(struct app *a, unsigned host_rate, unsigned host_concurrency)
{
	struct fed_in *f = aim_xcalloc(1, sizeof *f);
	a->fin = f;
	f->cache = ra_cache_new();
	f->replay = sig_replay_new(REPLAY_CAPACITY);
	unsigned rate = host_rate ? host_rate : HOST_RATE;
	f->host_lim = limiter_new(rate, rate * 10, HOST_KEY_FAILS);
	pthread_mutex_init(&f->mu, NULL);
	f->max_inflight = host_concurrency ? host_concurrency : HOST_INFLIGHT;
	atomic_init(&f->stopped, false);
	char *rsa = NULL, *ed = NULL;
	TRY(store_user_private_keys(a->st, a->instance_id, &rsa, &ed));
	int rc = aim_pkey_from_private_pem(rsa, strlen(rsa), &f->inst_key);
	aim_free_secret(rsa, strlen(rsa));
	aim_free_secret(ed, strlen(ed));
	TRY(rc);
	f->inst_key_id = aim_xasprintf("%s/actor#main-key", a->base);
	return 0;
}

void fed_in_free(struct app *a)
{
	struct fed_in *f = a->fin;
	if (!f)
		return;
	ra_cache_free(f->cache);
	sig_replay_free(f->replay);
	limiter_free(f->host_lim);
	pthread_mutex_destroy(&f->mu);
	aim_pkey_free(f->inst_key);
	free(f->inst_key_id);
	free(f);
	a->fin = NULL;
}

int fed_in_instance_signer(struct app *a, struct fed_in_keys *out)
{
	ENSURE(a->fin && a->fin->inst_key, AIM_ERR_STATE, "federation is not started");
	out->key_id = a->fin->inst_key_id;
	out->key = a->fin->inst_key;
	return 0;
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
	if (sig_fields_get(fl->v, fl->n, name))
		return;
	const char *v = http_req_header(q, name);
	if (v)
		sig_fields_add(fl, name, v);
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/*
 * Collects the fields the signature headers name (without verifying
 * anything) and the keyId's host for the per-host limits. Whatever does not
 * parse is left for sig_verify to refuse.
 */
static void covered_fields(const struct http_request *q, struct sig_fields *fl, char *host,
			   size_t hostn)
{
	static const char *const always[] = { "host", "date", "digest", "content-digest",
					      "signature", "signature-input", "authorization",
					      "content-type", "content-length" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(always); i++)
		add_field(fl, q, always[i]);
	char *key_id = NULL;
	const char *si = http_req_header(q, "Signature-Input");
	if (si && strlen(si) <= SIG_MAX_HEADER) {
		struct sfv_dict *d = aim_xcalloc(1, sizeof *d);
		if (sfv_parse_dict(si, strlen(si), d) == 0) {
			for (size_t m = 0; m < d->n; m++) {
				const struct sfv_member *mm = &d->m[m];
				for (uint16_t k = 0; mm->inner && k < mm->n_items; k++) {
					const struct sfv_bare *v = &d->items[mm->item_first + k].v;
					if (v->type != SFV_STRING || v->len == 0 || v->len > 64 ||
					    v->p[0] == '@')
						continue;
					char name[65];
					memcpy(name, v->p, v->len);
					name[v->len] = 0;
					lower(name);
					add_field(fl, q, name);
				}
				const struct sfv_bare *kid =
					sfv_param_get(d, mm->param_first, mm->n_params, "keyid");
				if (!key_id && kid && kid->type == SFV_STRING && kid->len < SIG_MAX_KEYID)
					key_id = aim_xstrndup(kid->p, kid->len);
			}
		}
		free(d);
	} else {
		const char *sg = http_req_header(q, "Signature");
		const char *au = http_req_header(q, "Authorization");
		if (!sg && au && !strncasecmp(au, "Signature ", 10))
			sg = au + 10;
		struct sig_cavage_params p;
		if (sg && strlen(sg) <= SIG_MAX_HEADER && sig_cavage_parse(sg, &p) == 0) {
			if (p.headers) {
				char *h = aim_xstrdup(p.headers);
				char *save = NULL;
				for (char *t = strtok_r(h, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
					if (t[0] == '(' || strlen(t) > 64)
						continue;
					lower(t);
					add_field(fl, q, t);
				}
				free(h);
			}
			key_id = aim_xstrdup(p.key_id);
			sig_cavage_params_free(&p);
		}
	}
	host[0] = 0;
	if (key_id) {
		struct aim_url u = { 0 };
		if (aim_url_parse(key_id, &u) == 0)
			snprintf(host, hostn, "%s", u.host);
		aim_url_free(&u);
		free(key_id);
	}
}

/* ---- The gate ---------------------------------------------------------------- */

void s2s_auth_clear(struct s2s_auth *au)
{
	free(au->actor);
	free(au->key_id);
	memset(au, 0, sizeof *au);
}

void s2s_host_release(struct app *a, const char *host)
{
	if (host && *host)
		inflight_put(a->fin, host);
}

int s2s_host_admit(struct app *a, const struct http_request *q, struct http_response *r,
		   struct sig_fields *fl, char *host, size_t hostn)
{
	struct fed_in *f = a->fin;
	covered_fields(q, fl, host, hostn);
	/* No parsable keyId: the gate refuses it anyway; limit by address. */
	const char *who = *host ? host : q->remote;
	unsigned wait = limiter_auth_blocked(f->host_lim, who);
	if (wait) {
		too_many(r, wait, "too many deliveries with unusable keys from this host");
		host[0] = 0;
		return -1;
	}
	wait = limiter_take(f->host_lim, who);
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

int s2s_gate_verify(struct app *a, const struct http_request *q, const struct sig_fields *fl,
		    const char *host, struct s2s_auth *out)
{
	memset(out, 0, sizeof *out);
	struct fed_in *f = a->fin;
	const char *az = http_req_header(q, "Authorization");
	/* A1: no signature at all. */
	if (!http_req_header(q, "Signature") && !http_req_header(q, "Signature-Input") &&
	    !(az && !strncasecmp(az, "Signature ", 10)))
		return aim_fail(AIM_ERR_AUTH, "HTTP signature required");
	const char *authority = http_req_header(q, "Host");
	struct sig_request req = {
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
	struct sig_policy pol;
	sig_policy_default(&pol);
	struct sig_verified v = { 0 };
	struct ra_lookup l = { a, false, false, false };
	int64_t now = aim_now();
	int rc = sig_verify(&req, now, &pol, remote_key_lookup, remote_key_release, &l, &v);
	if (rc != 0 && aim_errcode() == AIM_ERR_VERIFY && l.from_cache) {
		/* The key may have been rotated: refetch the actor once. */
		l.fresh = true;
		l.from_cache = false;
		sig_verified_free(&v);
		rc = sig_verify(&req, now, &pol, remote_key_lookup, remote_key_release, &l, &v);
	}
	if (rc != 0) {
		/* A20: fetches of unusable keys are what a flood costs us (the
		 * negative cache answers repeats without one): count those. */
		if (l.fetch_failed)
			limiter_auth_failed(f->host_lim, *host ? host : q->remote);
		char msg[300];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		sig_verified_free(&v);
		return aim_fail(AIM_ERR_AUTH, "%s", msg);
	}
	/* RFC 9421 7.2.2 / cavage: a signature seen before inside its window
	 * is a replay (A7). */
	/* GETs are reads: the same signed GET twice in one second (identical
	 * cavage signature) is a fetcher's retry, not an attack. */
	if (req.has_body && sig_replay_check(f->replay, v.replay_key, v.replay_until, now) != 0) {
		if (aim_errcode() != AIM_ERR_LIMIT) {
			sig_verified_free(&v);
			return aim_fail(AIM_ERR_AUTH, "signature already used (replay)");
		}
		/* The cache is full of live entries: a replay that slips through
		 * still has no second effect, since the store keeps each activity
		 * id once per inbox (B27). */
		aim_log(AIM_LOG_WARN, "inbox", "replay cache full (%zu entries)",
			sig_replay_count(f->replay));
	}
	out->actor = v.owner;
	out->key_id = v.key_id;
	out->scheme = v.scheme;
	v.owner = NULL;
	v.key_id = NULL;
	sig_verified_free(&v);
	return 0;
}

/* ---- Signed GETs ("authorized fetch" towards us) ------------------------------------ */

bool s2s_has_signature(const struct http_request *q)
{
	const char *az = http_req_header(q, "Authorization");
	return http_req_header(q, "Signature") || http_req_header(q, "Signature-Input") ||
	       (az && !strncasecmp(az, "Signature ", 10));
}

int s2s_check_signed_get(struct app *a, const struct http_request *q, struct http_response *r)
{
	if (!a->fin || !s2s_has_signature(q))
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
	sig_fields_init(&fl);
	char host[256];
	if (s2s_host_admit(a, q, r, &fl, host, sizeof host) != 0) {
		sig_fields_free(&fl);
		return -1;
	}
	struct s2s_auth au = { 0 };
	int rc = s2s_gate_verify(a, q, &fl, host, &au);
	if (rc != 0) {
		aim_log(AIM_LOG_INFO, "s2s", "remote=%s signed %s %s refused 401: %s", q->remote,
			q->method, q->path, aim_errmsg());
		http_resp_error(r, 401, "unauthorized", aim_errmsg());
		http_resp_header(r, "WWW-Authenticate", "Signature");
	}
	s2s_auth_clear(&au);
	s2s_host_release(a, host);
	sig_fields_free(&fl);
	return rc;
}
