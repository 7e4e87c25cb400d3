/*
 * Remote actors and their keys: fetched by signed GET, checked, cached in
 * memory with an expiry, failures remembered (negative cache, A20).
 *
 * The cache is a bounded array of entries behind one mutex. An entry is
 * either an actor (its inbox, shared inbox, followers and public keys) or a
 * remembered failure for a URL. Keys handed to the signature verifier keep
 * their entry alive with a reference count, so eviction never frees a key
 * in use.
 */
#include "server/internal.h"
#include "server/s2s.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "base/url.h"
#include "crypto/crypto.h"
#include "http/webfinger.h"

struct ra_key {
	char *id;
	struct aim_pkey *pkey;
};

struct ra_entry {
	char *url;                   /* actor id (or the URL that failed) */
	int64_t expires;
	int64_t fetched;
	bool negative;
	enum aim_err err;            /* negative: why */
	struct remote_actor info;
	struct ra_key keys[RA_MAX_KEYS];
	size_t nkeys;
	int refs;                    /* 1 while in the cache, +1 per key handed out */
};

/* A resolved (or refused) WebFinger handle. */
struct wf_entry {
	char *acct;                  /* canonical acct: URI */
	char *actor;                 /* NULL: refused */
	enum aim_err err;
	char *msg;
	int64_t expires;
};

#define WF_CACHE_MAX 1024

struct ra_cache {
	const struct aimd_signer *signer; /* fetches (borrowed) */
	pthread_mutex_t mu;
	struct ra_entry *e[RA_MAX];
	size_t n;
	struct wf_entry wf[WF_CACHE_MAX]; /* under mu */
	size_t nwf;
};

void aimd_remote_actor_clear(struct remote_actor *ra)
{
	if (!ra)
		return;
	free(ra->id);
	free(ra->inbox);
	free(ra->shared_inbox);
	free(ra->followers);
	free(ra->type);
	free(ra->preferred_username);
	memset(ra, 0, sizeof *ra);
}

static void entry_unref(struct ra_entry *e)
{
	if (!e || --e->refs > 0)
		return;
	free(e->url);
	aimd_remote_actor_clear(&e->info);
	for (size_t i = 0; i < e->nkeys; i++) {
		free(e->keys[i].id);
		aim_pkey_free(e->keys[i].pkey);
	}
	free(e);
}

struct ra_cache *aimd_ra_cache_new(const struct aimd_signer *signer)
{
	struct ra_cache *c = aim_xcalloc(1, sizeof *c);
	c->signer = signer;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void aimd_ra_cache_free(struct ra_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_unref(c->e[i]);
	for (size_t i = 0; i < c->nwf; i++) {
		free(c->wf[i].acct);
		free(c->wf[i].actor);
		free(c->wf[i].msg);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Caller holds mu. Removes entry i from the array (and drops the cache's reference). */
static void drop_at(struct ra_cache *c, size_t i)
{
	entry_unref(c->e[i]);
	c->e[i] = c->e[--c->n];
}

/* Caller holds mu: the live entry for url, or NULL (expired ones are dropped). */
static struct ra_entry *find(struct ra_cache *c, const char *url, int64_t now)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->e[i]->url, url) != 0)
			continue;
		if (c->e[i]->expires <= now) {
			drop_at(c, i);
			return NULL;
		}
		return c->e[i];
	}
	return NULL;
}

/* Caller holds mu. Takes the reference of e. */
static void insert(struct ra_cache *c, struct ra_entry *e, int64_t now)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i]->url, e->url)) {
			drop_at(c, i);
			break;
		}
	if (c->n == RA_MAX) {
		/* Full: drop the expired ones, else the one expiring first. */
		size_t victim = 0;
		for (size_t i = c->n; i-- > 0;) {
			if (c->e[i]->expires <= now)
				drop_at(c, i);
			else if (i < c->n && c->e[i]->expires < c->e[victim]->expires)
				victim = i;
		}
		if (c->n == RA_MAX)
			drop_at(c, victim);
	}
	c->e[c->n++] = e;
}

/* ---- An entry from an actor document ------------------------------------- */

static bool is_http_url(const char *s)
{
	return s && strlen(s) <= AP_ACTOR_MAX_URL && aim_url_valid(s);
}

/* The key of k as a public key, or NULL when it is not one aimd verifies
 * with (not RSA or Ed25519, an RSA key under 2048 bits, a bad encoding). */
static struct aim_pkey *key_of(const struct ap_actor_key *k)
{
	struct aim_pkey *pk = NULL;
	if (k->form == AP_KEY_PEM) {
		if (aim_pkey_from_public_pem(k->pem, strlen(k->pem), &pk) != 0)
			return NULL;
	} else if (aim_pkey_from_raw_public(AIM_KEY_ED25519, AIM_BYTES(k->ed25519, 32), &pk) != 0) {
		return NULL;
	}
	if ((aim_pkey_type(pk) != AIM_KEY_RSA && aim_pkey_type(pk) != AIM_KEY_ED25519) ||
	    (aim_pkey_type(pk) == AIM_KEY_RSA && aim_pkey_bits(pk) < 2048)) {
		aim_pkey_free(pk);
		return NULL;
	}
	return pk;
}

/* An entry from a fetched actor document (its id already checked, B22);
 * the document is parsed by ap_actor_parse. */
static int parse_actor(const json_t *doc, struct ra_entry **out)
{
	struct ap_remote_actor p;
	TRY(ap_actor_parse(doc, NULL, &p));
	struct ra_entry *e = aim_xcalloc(1, sizeof *e);
	e->refs = 1;
	e->url = aim_xstrdup(p.id);
	/* The strings move from p to the entry. */
	e->info.id = p.id;
	e->info.type = p.type;
	e->info.inbox = p.inbox;
	e->info.shared_inbox = p.shared_inbox;
	e->info.followers = p.followers;
	e->info.preferred_username = p.preferred_username;
	e->info.implements_rfc9421 = p.implements_rfc9421;
	p.id = p.type = p.inbox = p.shared_inbox = p.followers = p.preferred_username = NULL;
	for (size_t i = 0; i < p.n_keys && e->nkeys < RA_MAX_KEYS; i++) {
		struct aim_pkey *pk = key_of(&p.keys[i]);
		if (!pk)
			continue;
		e->keys[e->nkeys].id = aim_xstrdup(p.keys[i].id);
		e->keys[e->nkeys].pkey = pk;
		e->nkeys++;
	}
	ap_remote_actor_clear(&p);
	*out = e;
	return 0;
}

/* ---- Lookups ------------------------------------------------------------- */

static struct ra_cache *cache_of(struct app *a)
{
	return a->fin->cache;
}

/* The actor document at url (no fragment), cached or fetched. Returns the
 * entry with a reference the caller drops with entry_unref (under mu). */
static int get_entry(struct ra_cache *c, const char *url, bool fresh, struct ra_entry **out,
		     bool *fetched)
{
	if (fetched)
		*fetched = false;
	int64_t now = aim_now();
	pthread_mutex_lock(&c->mu);
	struct ra_entry *e = find(c, url, now);
	/* A refetch (key rotation) at most every RA_REFETCH_MIN seconds, so
	 * bad signatures cannot make us fetch on every request. */
	if (e && fresh && !e->negative && now - e->fetched >= RA_REFETCH_MIN) {
		for (size_t i = 0; i < c->n; i++)
			if (c->e[i] == e) {
				drop_at(c, i);
				break;
			}
		e = NULL;
	}
	if (e) {
		if (e->negative) {
			enum aim_err err = e->err;
			pthread_mutex_unlock(&c->mu);
			return aim_fail(err, "%s: failed recently (negative cache)", url);
		}
		e->refs++;
		pthread_mutex_unlock(&c->mu);
		*out = e;
		return 0;
	}
	pthread_mutex_unlock(&c->mu);

	json_t *doc = NULL;
	if (fetched)
		*fetched = true;
	int rc = aimd_fetch_ap(c->signer, url, &doc);
	if (rc == 0)
		rc = parse_actor(doc, &e);
	json_decref(doc);
	pthread_mutex_lock(&c->mu);
	if (rc != 0) {
		enum aim_err err = aim_errcode();
		char msg[300];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		struct ra_entry *n = aim_xcalloc(1, sizeof *n);
		n->refs = 1;
		n->url = aim_xstrdup(url);
		n->negative = true;
		/* Repeats are answered with the same code as the first failure
		 * (classified once: a bad document stays a bad document, a
		 * timeout a timeout). */
		n->err = err;
		/* A server that is down comes back: remember that briefly only. */
		bool transient = err == AIM_ERR_REMOTE || err == AIM_ERR_TIMEOUT ||
				 err == AIM_ERR_NOHOST || err == AIM_ERR_NOMEM;
		n->expires = now + (transient ? RA_NEG_TTL_TRANSIENT : RA_NEG_TTL);
		insert(c, n, now);
		pthread_mutex_unlock(&c->mu);
		aim_log(AIM_LOG_INFO, "remote", "fetch of %s failed: %s", url, msg);
		return aim_fail(err, "%s", msg);
	}
	e->expires = now + RA_TTL;
	e->fetched = now;
	e->refs++;
	insert(c, e, now);
	pthread_mutex_unlock(&c->mu);
	*out = e;
	return 0;
}

static void put_entry(struct ra_cache *c, struct ra_entry *e)
{
	pthread_mutex_lock(&c->mu);
	entry_unref(e);
	pthread_mutex_unlock(&c->mu);
}

static char *strip_fragment(const char *s)
{
	size_t n = strcspn(s, "#");
	return aim_xstrndup(s, n);
}

static int actor_get(struct ra_cache *c, const char *url, bool fresh, struct remote_actor *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(is_http_url(url), AIM_ERR_INVALID, "actor id is not an http(s) URL");
	char *u = strip_fragment(url);
	struct ra_entry *e = NULL;
	int rc = get_entry(c, u, fresh, &e, NULL);
	free(u);
	TRY(rc);
	out->id = aim_xstrdup(e->info.id);
	out->inbox = aim_xstrdup(e->info.inbox);
	out->shared_inbox = e->info.shared_inbox ? aim_xstrdup(e->info.shared_inbox) : NULL;
	out->followers = e->info.followers ? aim_xstrdup(e->info.followers) : NULL;
	out->type = aim_xstrdup(e->info.type);
	out->implements_rfc9421 = e->info.implements_rfc9421;
	out->preferred_username =
		e->info.preferred_username ? aim_xstrdup(e->info.preferred_username) : NULL;
	put_entry(c, e);
	return 0;
}

int aimd_remote_actor_get(struct app *a, const char *url, bool fresh, struct remote_actor *out)
{
	return actor_get(cache_of(a), url, fresh, out);
}

bool aimd_remote_actor_known(struct app *a, const char *url)
{
	struct ra_cache *c = cache_of(a);
	char *u = strip_fragment(url);
	pthread_mutex_lock(&c->mu);
	struct ra_entry *e = find(c, u, aim_now());
	bool known = e && !e->negative;
	pthread_mutex_unlock(&c->mu);
	free(u);
	return known;
}

void aimd_remote_actor_forget(struct app *a, const char *url)
{
	struct ra_cache *c = cache_of(a);
	char *u = strip_fragment(url);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i]->url, u)) {
			drop_at(c, i);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	free(u);
}

/* The gate's key lookup (s2s.h): the key keyId names, from its actor's
 * document. */
int aimd_remote_key_get(struct ra_lookup *l, const char *key_id, struct sig_key *out)
{
	memset(out, 0, sizeof *out);
	l->from_cache = false;
	ENSURE(is_http_url(key_id), AIM_ERR_DENIED, "keyId is not an http(s) URL");
	struct ra_cache *c = l->cache;
	char *doc_url = strip_fragment(key_id);
	struct ra_entry *e = NULL;
	int64_t now = aim_now();
	/* Was it cached before this request? (then a bad signature may mean a
	 * rotated key: the gate refetches once) */
	pthread_mutex_lock(&c->mu);
	struct ra_entry *pre = find(c, doc_url, now);
	l->from_cache = pre && !pre->negative && !l->fresh;
	pthread_mutex_unlock(&c->mu);
	bool fetched = false;
	int rc = get_entry(c, doc_url, l->fresh, &e, &fetched);
	if (rc != 0 && fetched)
		l->fetch_failed = true;
	if (rc == 0 && !aim_url_equal(e->info.id, doc_url)) {
		/* A key document of its own: the actor is its owner, which must
		 * be on the same origin and list the key (A15). */
		rc = aim_fail(AIM_ERR_DENIED, "keyId %s is not a key of the actor document", key_id);
	}
	free(doc_url);
	if (rc != 0) {
		if (e)
			put_entry(c, e);
		return -1;
	}
	for (size_t i = 0; i < e->nkeys; i++)
		if (!strcmp(e->keys[i].id, key_id)) {
			out->pkey = e->keys[i].pkey;
			out->owner = e->info.id;
			out->handle = e;
			return 0;
		}
	put_entry(c, e);
	return aim_fail(AIM_ERR_NOTFOUND, "the actor document has no key %s", key_id);
}

void aimd_remote_key_put(struct ra_lookup *l, struct sig_key *key)
{
	if (key && key->handle)
		put_entry(l->cache, key->handle);
	if (key)
		memset(key, 0, sizeof *key);
}

/* ---- WebFinger client (handle -> actor, with the reverse check) -------------- */

#define WF_ACCEPT "application/jrd+json, application/json"

/* The answer must be a JRD (RFC 7033 10.2) or plain JSON. */
static bool jrd_content_type(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; \t");
	return (n == 20 && !strncasecmp(ct, "application/jrd+json", n)) ||
	       (n == 16 && !strncasecmp(ct, "application/json", n));
}

/* Unsigned GET of acct's JRD through the shared guarded client. */
static int wf_fetch(struct ra_cache *c, const struct wf_acct *acct, struct wf_jrd *out)
{
	memset(out, 0, sizeof *out);
	struct aim_buf url;
	aim_buf_init(&url, AIM_URL_MAX);
	struct client_response resp = { 0 };
	struct client_opts o = *aimd_signer_client(c->signer);
	o.max_body = WF_JRD_MAX;
	int rc = 0;
	TRY_GOTO(http_wf_lookup_url(acct, &url), out);
	struct sig_field hdr[] = { { "Accept", WF_ACCEPT } };
	struct client_request req = {
		.method = "GET",
		.url = (const char *)url.data,
		.headers = hdr,
		.n_headers = AIM_ARRAY_LEN(hdr),
	};
	TRY_GOTO(http_client_fetch(&o, &req, &resp), out);
	if (resp.status == 404 || resp.status == 410) {
		rc = aim_fail(AIM_ERR_NOTFOUND, "WebFinger of acct:%s@%s: no such account (HTTP %ld)",
			      acct->user, acct->authority, resp.status);
		goto out;
	}
	ENSURE_GOTO(resp.status == 200, out, AIM_ERR_REMOTE, "WebFinger of acct:%s@%s: HTTP %ld",
		    acct->user, acct->authority, resp.status);
	ENSURE_GOTO(jrd_content_type(resp.content_type), out, AIM_ERR_UNSUPPORTED,
		    "WebFinger of acct:%s@%s: content type %s is not JRD", acct->user,
		    acct->authority, resp.content_type ? resp.content_type : "(none)");
	TRY_GOTO(http_wf_jrd_parse(resp.body.data, resp.body.len, out), out);
out:
	http_client_response_free(&resp);
	aim_buf_free(&url);
	return rc;
}

/* Failures that say "this handle is not bound" rather than "unreachable". */
static int wf_refusal(void)
{
	enum aim_err e = aim_errcode();
	if (e == AIM_ERR_REMOTE || e == AIM_ERR_TIMEOUT || e == AIM_ERR_NOMEM || e == AIM_ERR_NOHOST)
		return -1;
	if (e == AIM_ERR_NOTFOUND || e == AIM_ERR_DENIED)
		return -1;
	char msg[300];
	snprintf(msg, sizeof msg, "%s", aim_errmsg());
	return aim_fail(AIM_ERR_DENIED, "%s", msg);
}

static int wf_bind(struct ra_cache *c, const struct wf_acct *want, char **actor_id)
{
	struct wf_jrd j = { 0 }, back_jrd = { 0 };
	struct wf_acct subj = { 0 }, back = { 0 }, back_subj = { 0 };
	struct remote_actor ra = { 0 };
	struct aim_url au = { 0 };
	struct aim_buf auth;
	aim_buf_init(&auth, 400);
	char *back_s = NULL;
	int rc = 0;
	if (wf_fetch(c, want, &j) != 0) {
		rc = wf_refusal();
		goto out;
	}
	/* The answer must be about the handle asked for (threats.md B29). */
	ENSURE_GOTO(j.subject && http_wf_acct_parse(j.subject, &subj) == 0 && http_wf_acct_equal(&subj, want),
		    out, AIM_ERR_DENIED, "WebFinger subject %s is not the handle asked for",
		    j.subject ? j.subject : "(none)");
	ENSURE_GOTO(j.self, out, AIM_ERR_NOTFOUND, "WebFinger answer has no ActivityPub self link");
	if (actor_get(c, j.self, false, &ra) != 0) {
		rc = wf_refusal();
		goto out;
	}
	ENSURE_GOTO(aim_url_equal(ra.id, j.self), out, AIM_ERR_DENIED,
		    "actor %s is not the self link %s", ra.id, j.self);
	/* The reverse check: preferredUsername@host of the actor id must
	 * WebFinger to the same actor. */
	ENSURE_GOTO(ra.preferred_username, out, AIM_ERR_DENIED, "actor %s has no preferredUsername",
		    ra.id);
	ENSURE_GOTO(aim_url_parse(ra.id, &au) == 0 && aim_url_authority(&au, &auth) == 0, out,
		    AIM_ERR_DENIED, "actor id %s does not parse", ra.id);
	back_s = aim_xasprintf("acct:%s@%s", ra.preferred_username, (const char *)auth.data);
	ENSURE_GOTO(http_wf_acct_parse(back_s, &back) == 0, out, AIM_ERR_DENIED,
		    "actor %s: preferredUsername gives no handle", ra.id);
	if (!http_wf_acct_equal(&back, want)) {
		if (wf_fetch(c, &back, &back_jrd) != 0) {
			rc = wf_refusal();
			goto out;
		}
		ENSURE_GOTO(back_jrd.self && aim_url_equal(back_jrd.self, ra.id), out,
			    AIM_ERR_DENIED, "reverse WebFinger of %s names %s, not %s", back_s,
			    back_jrd.self ? back_jrd.self : "no actor", ra.id);
		ENSURE_GOTO(back_jrd.subject && http_wf_acct_parse(back_jrd.subject, &back_subj) == 0,
			    out, AIM_ERR_DENIED, "reverse WebFinger of %s has no valid subject",
			    back_s);
		/* Another name on the same host, or (split domains) the actor's
		 * host naming the handle asked for as the canonical one. */
		bool same_host = !strcmp(back.host, want->host) && back.port == want->port;
		bool ok = (same_host && http_wf_acct_equal(&back_subj, &back)) ||
			  http_wf_acct_equal(&back_subj, want);
		ENSURE_GOTO(ok, out, AIM_ERR_DENIED,
			    "actor %s is on another host and its WebFinger (%s) does not name "
			    "acct:%s@%s",
			    ra.id, back_jrd.subject, want->user, want->authority);
	}
	*actor_id = aim_xstrdup(ra.id);
out:
	http_wf_jrd_free(&j);
	http_wf_jrd_free(&back_jrd);
	http_wf_acct_free(&subj);
	http_wf_acct_free(&back);
	http_wf_acct_free(&back_subj);
	aimd_remote_actor_clear(&ra);
	aim_url_free(&au);
	aim_buf_free(&auth);
	free(back_s);
	return rc;
}

/* Caller holds mu: the live cache slot for acct, or NULL. */
static struct wf_entry *wf_find(struct ra_cache *c, const char *acct, int64_t now)
{
	for (size_t i = 0; i < c->nwf; i++) {
		if (strcmp(c->wf[i].acct, acct) != 0)
			continue;
		if (c->wf[i].expires > now)
			return &c->wf[i];
		return NULL;
	}
	return NULL;
}

/* Caller holds mu: stores a result (taking actor), replacing an old one,
 * else an expired or the soonest-expiring slot when full. */
static void wf_store(struct ra_cache *c, const char *acct, char *actor, enum aim_err err,
		     const char *msg, int64_t expires)
{
	size_t k = c->nwf;
	for (size_t i = 0; i < c->nwf; i++)
		if (!strcmp(c->wf[i].acct, acct)) {
			k = i;
			break;
		}
	if (k == c->nwf && c->nwf == WF_CACHE_MAX) {
		k = 0;
		for (size_t i = 1; i < c->nwf; i++)
			if (c->wf[i].expires < c->wf[k].expires)
				k = i;
	}
	struct wf_entry *e = &c->wf[k];
	if (k < c->nwf) {
		free(e->acct);
		free(e->actor);
		free(e->msg);
	} else {
		c->nwf++;
	}
	e->acct = aim_xstrdup(acct);
	e->actor = actor;
	e->err = err;
	e->msg = msg ? aim_xstrdup(msg) : NULL;
	e->expires = expires;
}

/* ---- Handles of this server's own users: resolved from the store ------------ */

/* Whether acct is on this server: the configured domain, or BASE's
 * authority when BASE carries a port (test and local federations), as the
 * WebFinger route answers them. */
static bool handle_is_local(struct app *a, const struct wf_acct *acct)
{
	if (http_wf_acct_at(acct, a->domain))
		return true;
	struct aim_url u = { 0 };
	struct aim_buf b;
	aim_buf_init(&b, 400);
	bool local = aim_url_parse(a->base, &u) == 0 && u.port_explicit &&
		     aim_url_authority(&u, &b) == 0 && http_wf_acct_at(acct, (const char *)b.data);
	aim_url_free(&u);
	aim_buf_free(&b);
	aim_errclear();
	return local;
}

/* The actor of a local handle, from the store: no WebFinger, no connection
 * (our own name may not resolve from here, or resolve to a loopback address
 * the guard refuses). AIM_ERR_NOTFOUND for a user that does not exist. */
static int resolve_local(struct app *a, const struct wf_acct *acct, char **actor_id)
{
	if (aim_str_case_equal(acct->user, a->domain)) {
		*actor_id = aim_xasprintf("%s/actor", a->base);
		return 0;
	}
	ENSURE(aimd_valid_name(acct->user), AIM_ERR_NOTFOUND, "acct:%s@%s: no such user here",
	       acct->user, acct->authority);
	struct store_user u = { 0 };
	if (store_user_get(a->st, acct->user, &u) != 0) {
		if (aim_errcode() != AIM_ERR_NOTFOUND)
			return -1;
		return aim_fail(AIM_ERR_NOTFOUND, "acct:%s@%s: no such user here", acct->user,
				acct->authority);
	}
	*actor_id = aim_xasprintf("%s/users/%s", a->base, u.name);
	store_user_clear(&u);
	return 0;
}

int aimd_webfinger_resolve(struct app *a, const char *acct, char **actor_id)
{
	*actor_id = NULL;
	struct wf_acct want;
	TRY(http_wf_acct_parse(acct, &want));
	if (handle_is_local(a, &want)) {
		int lrc = resolve_local(a, &want, actor_id);
		http_wf_acct_free(&want);
		return lrc;
	}
	struct aim_buf canon;
	aim_buf_init(&canon, 512);
	int rc = 0;
	TRY_GOTO(http_wf_acct_format(&want, &canon), out);
	const char *key = (const char *)canon.data;
	struct ra_cache *c = cache_of(a);
	int64_t now = aim_now();
	pthread_mutex_lock(&c->mu);
	struct wf_entry *e = wf_find(c, key, now);
	if (e) {
		if (e->actor)
			*actor_id = aim_xstrdup(e->actor);
		else
			rc = aim_fail(e->err, "%s", e->msg ? e->msg : "refused recently");
		pthread_mutex_unlock(&c->mu);
		goto out;
	}
	pthread_mutex_unlock(&c->mu);

	char *id = NULL;
	rc = wf_bind(c, &want, &id);
	enum aim_err err = rc ? aim_errcode() : AIM_ERR_NONE;
	char msg[400] = "";
	if (rc)
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
	pthread_mutex_lock(&c->mu);
	bool transient = err == AIM_ERR_REMOTE || err == AIM_ERR_TIMEOUT || err == AIM_ERR_NOMEM ||
			 err == AIM_ERR_NOHOST;
	wf_store(c, key, id ? aim_xstrdup(id) : NULL, err, rc ? msg : NULL,
		 now + (rc == 0 ? RA_TTL : transient ? RA_NEG_TTL_TRANSIENT : RA_NEG_TTL));
	pthread_mutex_unlock(&c->mu);
	if (rc) {
		aim_log(AIM_LOG_INFO, "webfinger", "%s not bound: %s", key, msg);
		rc = aim_fail(err, "%s", msg);
	} else {
		aim_log(AIM_LOG_DEBUG, "webfinger", "%s is %s", key, id);
		*actor_id = id;
	}
out:
	http_wf_acct_free(&want);
	aim_buf_free(&canon);
	return rc;
}
