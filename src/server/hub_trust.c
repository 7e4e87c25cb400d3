/* The hub's credential check (hub_trust.h). */
#include "server/hub_trust.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "hub/hub.h"
#include "server/ca.h"
#include "server/fetcher.h"
#include "server/internal.h"
#include "server/s2s.h"

#define CACHE_MAX 256
#define DOMAIN_MAX 255

/* ---- The cache of remote CA documents (per process) ------------------------------ */

struct ca_entry {
	char domain[DOMAIN_MAX + 1];
	bool ok;
	char err[256];
	struct aim_buf der[AIMD_CA_MAX];
	size_t n;
	int64_t fetched;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ca_entry cache[CACHE_MAX];
static size_t n_cache;

static void entry_clear(struct ca_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		aim_buf_free(&e->der[i]);
	memset(e, 0, sizeof *e);
}

/* The fresh entry of domain, or NULL (cache_mu held). */
static struct ca_entry *cache_find(const char *domain, int64_t now)
{
	for (size_t i = 0; i < n_cache; i++) {
		struct ca_entry *e = &cache[i];
		if (strcasecmp(e->domain, domain) != 0)
			continue;
		int64_t ttl = e->ok ? AIMD_HUB_CA_TTL : AIMD_HUB_CA_NEG_TTL;
		return e->fetched <= now && now - e->fetched < ttl ? e : NULL;
	}
	return NULL;
}

/* Keeps e (moved in) for its domain, replacing an older entry of it or the
 * oldest of all when full. */
static void cache_put(struct ca_entry *e)
{
	pthread_mutex_lock(&cache_mu);
	size_t slot = n_cache;
	for (size_t i = 0; i < n_cache; i++)
		if (!strcasecmp(cache[i].domain, e->domain)) {
			slot = i;
			break;
		}
	if (slot == n_cache && n_cache == CACHE_MAX) {
		slot = 0;
		for (size_t i = 1; i < n_cache; i++)
			if (cache[i].fetched < cache[slot].fetched)
				slot = i;
	}
	if (slot == n_cache)
		n_cache++;
	else
		entry_clear(&cache[slot]);
	cache[slot] = *e;
	memset(e, 0, sizeof *e);
	pthread_mutex_unlock(&cache_mu);
}

/* A host name (and optional :port) that can go into a URL as it is. */
static bool domain_ok(const char *d)
{
	size_t n = strlen(d);
	if (!n || n > DOMAIN_MAX || d[0] == '.' || d[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = d[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '-' || ch == ':'))
			return false;
	}
	return true;
}

/* Fetches the CA document of domain into e (ok or not, with the reason). */
static void fetch_ca(struct app *a, const char *domain, struct ca_entry *e)
{
	memset(e, 0, sizeof *e);
	snprintf(e->domain, sizeof e->domain, "%s", domain);
	e->fetched = aim_now();
	char *url = aim_xasprintf("https://%s%s", domain, AIMD_CA_PATH);
	json_t *doc = NULL;
	int rc = a->fin ? aimd_fetch_json(a->fin->signer, url, &doc)
			: aim_fail(AIM_ERR_STATE, "federation is not started");
	if (rc == 0) {
		const char *dom = json_string_value(json_object_get(doc, "domain"));
		json_t *certs = json_object_get(doc, "certificates");
		if (!dom || strcasecmp(dom, domain) != 0)
			rc = aim_fail(AIM_ERR_REMOTE, "the CA document of %s names domain %s", domain,
				      dom ? dom : "(none)");
		else if (!json_is_array(certs) || json_array_size(certs) == 0)
			rc = aim_fail(AIM_ERR_REMOTE, "the CA document of %s has no certificates",
				      domain);
		size_t i;
		json_t *c;
		json_array_foreach(certs, i, c) {
			if (rc != 0 || e->n == AIMD_CA_MAX)
				break;
			const char *s = json_string_value(c);
			aim_buf_init(&e->der[e->n], AIM_X509_MAX);
			if (!s || aim_b64_decode(&e->der[e->n], s, strlen(s)) != 0) {
				aim_buf_free(&e->der[e->n]);
				rc = aim_fail(AIM_ERR_REMOTE, "the CA document of %s: certificate %zu "
					      "is not base64", domain, i);
				break;
			}
			e->n++;
		}
	}
	json_decref(doc);
	free(url);
	if (rc == 0) {
		e->ok = true;
	} else {
		for (size_t i = 0; i < e->n; i++)
			aim_buf_free(&e->der[i]);
		e->n = 0;
		snprintf(e->err, sizeof e->err, "%s", aim_errmsg());
		aim_log(AIM_LOG_INFO, "channel", "CA document of %s: %s", domain, e->err);
		aim_errclear();
	}
}

/* ---- The hook ------------------------------------------------------------------------ */

static int AIM_PRINTF(3, 4) refuse(struct aimd_hub_trust *t, const char *acct, const char *fmt,
				   ...)
{
	char why[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(t->reason, sizeof t->reason, "credential of %s refused: %s", acct, why);
	t->refused = true;
	return aim_fail(AIM_ERR_DENIED, "%s", t->reason);
}

static void note_missing(struct aimd_hub_trust *t, const char *domain)
{
	for (size_t i = 0; i < t->n_missing; i++)
		if (!strcasecmp(t->missing[i], domain))
			return;
	t->missing = aim_xrealloc(t->missing, (t->n_missing + 1) * sizeof *t->missing);
	t->missing[t->n_missing++] = aim_xstrdup(domain);
}

static int check_local(struct aimd_hub_trust *t, const char *acct, const char *user,
		       struct aim_bytes leaf, struct aim_bytes sigkey)
{
	struct store_user u = { 0 };
	if (store_user_get(t->a->st, user, &u) != 0) {
		char m[256];
		snprintf(m, sizeof m, "%s", aim_errmsg());
		return refuse(t, acct, "no such user here (%s)", m);
	}
	struct store_device dev;
	memset(&dev, 0, sizeof dev);
	int rc = aimd_ca_check_leaf(t->a, u.id, acct, leaf, &dev);
	store_user_clear(&u);
	if (rc != 0) {
		char m[256];
		snprintf(m, sizeof m, "%s", aim_errmsg());
		return refuse(t, acct, "%s", m);
	}
	bool same = aim_ct_equal(sigkey.p, sigkey.len, dev.pk, dev.pk_len);
	store_device_clear(&dev);
	if (!same)
		return refuse(t, acct, "the leaf node's signature key is not the certificate's key");
	return 0;
}

static int check_remote(struct aimd_hub_trust *t, const char *acct, const char *domain,
			struct aim_bytes leaf, struct aim_bytes sigkey)
{
	int64_t now = aim_now();
	pthread_mutex_lock(&cache_mu);
	struct ca_entry *e = cache_find(domain, now);
	if (!e) {
		pthread_mutex_unlock(&cache_mu);
		if (t->collecting) {
			note_missing(t, domain);
			return 0; /* provisionally: decided again once fetched */
		}
		return refuse(t, acct, "no CA document of %s", domain);
	}
	if (!e->ok) {
		char m[256];
		snprintf(m, sizeof m, "%s", e->err);
		pthread_mutex_unlock(&cache_mu);
		return refuse(t, acct, "no CA of %s: %s", domain, m);
	}
	struct aim_bytes anchors[AIMD_CA_MAX];
	for (size_t i = 0; i < e->n; i++)
		anchors[i] = aim_buf_bytes(&e->der[i]);
	struct aim_x509_leaf info;
	int rc = aim_x509_verify(leaf, anchors, e->n, now, &info);
	pthread_mutex_unlock(&cache_mu);
	if (rc != 0) {
		char m[256];
		snprintf(m, sizeof m, "%s", aim_errmsg());
		return refuse(t, acct, "not certified by the CA of %s: %s", domain, m);
	}
	if (strcmp(info.san_uri, acct) != 0)
		return refuse(t, acct, "the certificate speaks for %s", info.san_uri);
	if (!aim_ct_equal(info.pk, info.pk_len, sigkey.p, sigkey.len))
		return refuse(t, acct, "the certified key is not the leaf node's signature key");
	return 0;
}

static int hook_fn(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		   struct aim_bytes sigkey)
{
	struct aimd_hub_trust *t = arg;
	(void)role;
	char acct[HUB_MAX_ACCT + 1];
	if (hub_credential_acct(cred, acct) != 0) {
		char m[256];
		snprintf(m, sizeof m, "%s", aim_errmsg());
		return refuse(t, "a leaf", "%s", m);
	}
	if (cred->type == MLS_CREDENTIAL_BASIC) {
		if (t->a->hub_basic)
			return 0; /* aimd serve --hub-basic-credentials: tests only */
		return refuse(t, acct, "a basic credential proves nothing (x509 from the CA of the "
				       "acct's domain only)");
	}
	if (cred->type != MLS_CREDENTIAL_X509 || cred->n_certs < 1 || !cred->certs[0].len)
		return refuse(t, acct, "not an x509 credential");
	struct aim_bytes leaf = AIM_BYTES(cred->certs[0].p, cred->certs[0].len);
	/* acct:USER@DOMAIN (hub_credential_acct checked the form) */
	const char *at = strrchr(acct, '@');
	if (!at || strncmp(acct, "acct:", 5) != 0 || at == acct + 5)
		return refuse(t, acct, "not an acct: URI");
	const char *domain = at + 1;
	if (!domain_ok(domain))
		return refuse(t, acct, "not a domain name");
	if (!strcasecmp(domain, t->a->domain)) {
		char user[HUB_MAX_ACCT + 1];
		size_t ul = (size_t)(at - (acct + 5));
		memcpy(user, acct + 5, ul);
		user[ul] = 0;
		return check_local(t, acct, user, leaf, sigkey);
	}
	return check_remote(t, acct, domain, leaf, sigkey);
}

/* ---- The passes -------------------------------------------------------------------------- */

void aimd_hub_trust_init(struct aimd_hub_trust *t, struct app *a)
{
	memset(t, 0, sizeof *t);
	t->a = a;
	t->collecting = true;
	t->hook = (struct mls_credential_hook){ hook_fn, t };
}

bool aimd_hub_trust_settle(struct aimd_hub_trust *t)
{
	bool again = t->collecting && t->n_missing > 0;
	t->collecting = false;
	for (size_t i = 0; i < t->n_missing; i++) {
		struct ca_entry e;
		fetch_ca(t->a, t->missing[i], &e);
		cache_put(&e);
		free(t->missing[i]);
	}
	free(t->missing);
	t->missing = NULL;
	t->n_missing = 0;
	t->refused = false;
	t->reason[0] = 0;
	return again;
}

void aimd_hub_trust_clear(struct aimd_hub_trust *t)
{
	for (size_t i = 0; i < t->n_missing; i++)
		free(t->missing[i]);
	free(t->missing);
	t->missing = NULL;
	t->n_missing = 0;
}
