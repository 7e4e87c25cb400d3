/*
 * Verification of a peer's MLS credential (issue 10, "Verification in the
 * client library"), and its adapter to the MLS library's credential hook.
 *
 * An x509 credential (RFC 9420 section 5.3: "certificates[0] MUST be the
 * end-entity certificate") speaks for the acct: URI in its one SAN; it is
 * accepted when that leaf chains to a CA certificate the acct's domain
 * publishes at https://DOMAIN/.well-known/aim-ca (fetched through the home
 * server's proxy, cached for ca_ttl seconds), is within validity, has
 * keyUsage digitalSignature and is not a CA (aim_x509_verify), its SAN is
 * the acct: URI expected, and its key is the leaf node's signature key
 * (RFC 9420 section 5.3.1: "the credential MUST ... be bound to the
 * signature key"). Certificates the credential carries after the leaf are
 * never trust anchors: they only tell which acct: URI to expect when the
 * caller has none.
 *
 * A basic credential carries no proof; it is accepted only when the peer's
 * actor lists, in its keyPackages collection, a KeyPackage with the same
 * credential and the same signature key (the SWICG way: the actor's
 * server vouches). That collection lists last-resort KeyPackages only (the
 * consumable ones are handed out by claims), so a device that publishes a
 * last-resort KeyPackage can be verified this way. The basic identity is
 * the acct: URI itself, or the actor's URL.
 *
 * Every other credential type is refused. The verdict names the check that
 * vouched, for the person to see.
 */
#include "client/core_int.h"
#include "base/url.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CA_MAX_CERTS 8
#define CA_DOC_MAX ((size_t)256 << 10)
#define AP_ACCEPT "application/activity+json"
#define LIST_MAX_PAGES 10
#define LIST_MAX_ITEMS 500

const char *client_check_name(enum client_check k)
{
	switch (k) {
	case CLIENT_CHECK_X509: return "x509";
	case CLIENT_CHECK_KEYPACKAGE_LIST: return "keypackage-listing";
	default: return "none";
	}
}

/* Sets v->reason (truncated if need be). */
static void AIM_PRINTF(2, 3) say(struct client_verdict *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof v->reason, fmt, ap);
	va_end(ap);
}

#define REFUSE(v, code, ...)                                                      \
	do {                                                                      \
		enum aim_err code_ = (code);                                      \
		say((v), __VA_ARGS__);                                            \
		return aim_fail(code_, "%s", (v)->reason);                        \
	} while (0)

/* ---- A domain's CA document ------------------------------------------------------ */

struct anchors {
	struct aim_buf der[CA_MAX_CERTS];
	struct aim_bytes view[CA_MAX_CERTS];
	size_t n;
	int64_t fetched;
};

static void anchors_free(struct anchors *a)
{
	for (size_t i = 0; i < a->n; i++)
		aim_buf_free(&a->der[i]);
	a->n = 0;
}

static int anchors_from(struct anchors *a, json_t *doc)
{
	json_t *certs = json_object_get(doc, "certificates");
	ENSURE(json_is_array(certs) && json_array_size(certs) > 0, AIM_ERR_DECODE,
	       "CA document without certificates");
	size_t i;
	json_t *s;
	json_array_foreach(certs, i, s) {
		if (a->n == CA_MAX_CERTS)
			break;
		aim_buf_init(&a->der[a->n], AIM_X509_MAX);
		if (client_core_unb64(s, &a->der[a->n]) != 0) {
			aim_buf_free(&a->der[a->n]);
			return -1;
		}
		a->view[a->n] = aim_buf_bytes(&a->der[a->n]);
		a->n++;
	}
	return 0;
}

static bool own_authority(struct client *c, const char *authority)
{
	char u[CLIENT_ACCT_MAX], a[CLIENT_ACCT_MAX], h[CLIENT_ACCT_MAX];
	if (!c->acct[0] ||
	    client_core_acct_split(c->acct, u, sizeof u, a, sizeof a, h, sizeof h) != 0) {
		aim_errclear();
		return false;
	}
	return strcmp(a, authority) == 0;
}

/* The CA certificates of the domain at authority: from the store while
 * younger than ca_ttl (and refresh is false), else fetched and stored. */
static int ca_anchors(struct client *c, const char *authority, const char *host, bool refresh,
		      struct anchors *out)
{
	memset(out, 0, sizeof *out);
	char *key = aim_xasprintf("ca/%s", authority);
	json_t *doc = NULL;
	int64_t now = client_core_now(c);
	int rc = -1;
	if (!refresh && client_core_kv_get_json(c, key, &doc) == 0) {
		int64_t t = json_integer_value(json_object_get(doc, "fetched"));
		if (t <= now && now - t < c->ca_ttl) {
			out->fetched = t;
			rc = anchors_from(out, json_object_get(doc, "document"));
			goto done;
		}
	}
	aim_errclear();
	json_decref(doc);
	doc = NULL;

	char *url = own_authority(c, authority)
			    ? aim_xasprintf("%s/.well-known/aim-ca", c->server)
			    : aim_xasprintf("https://%s/.well-known/aim-ca", authority);
	struct aim_buf body;
	aim_buf_init(&body, CA_DOC_MAX);
	rc = client_proxy_get(c, url, "application/json", &body);
	json_t *ca = NULL;
	if (rc == 0) {
		ca = json_loadb((const char *)body.data, body.len, JSON_REJECT_DUPLICATES, NULL);
		const char *dom = json_string_value(json_object_get(ca, "domain"));
		if (!json_is_object(ca))
			rc = aim_fail(AIM_ERR_REMOTE, "the CA document of %s is not JSON", authority);
		else if (dom && strcasecmp(dom, host) != 0 && strcasecmp(dom, authority) != 0)
			rc = aim_fail(AIM_ERR_REMOTE, "the CA document of %s names domain %s",
				      authority, dom);
		else
			rc = anchors_from(out, ca);
	}
	aim_buf_free(&body);
	free(url);
	if (rc == 0) {
		out->fetched = now;
		doc = json_object();
		json_object_set_new(doc, "fetched", json_integer(now));
		json_object_set(doc, "document", ca);
		if (client_core_kv_put_json(c, key, doc, false) != 0) {
			/* a cache that cannot be written still verifies */
			aim_log(AIM_LOG_WARN, "client", "CA cache not written: %s", aim_errmsg());
			aim_errclear();
		}
	}
	json_decref(ca);
done:
	if (rc != 0)
		anchors_free(out);
	json_decref(doc);
	free(key);
	return rc;
}

/* ---- x509 -------------------------------------------------------------------------------- */

static int verify_x509(struct client *c, const struct mls_credential *cred, const char *acct,
		       struct aim_bytes sigkey, struct client_verdict *v)
{
	int64_t now = client_core_now(c);
	ENSURE(cred->n_certs >= 1, AIM_ERR_VERIFY, "x509 credential without certificates");
	struct aim_bytes leaf = mls_bytes_view(&cred->certs[0]);
	if (leaf.len == 0 || leaf.len > AIM_X509_MAX)
		REFUSE(v, AIM_ERR_VERIFY, "x509: end-entity certificate empty or too large");
	struct aim_x509_leaf info;
	if (!acct) {
		/* which acct: URI it claims: read through the chain it carries,
		 * trusted for nothing else */
		struct aim_bytes chain[CA_MAX_CERTS];
		size_t n = 0;
		for (size_t i = 1; i < cred->n_certs && n < CA_MAX_CERTS; i++)
			chain[n++] = mls_bytes_view(&cred->certs[i]);
		if (n == 0 || aim_x509_verify(leaf, chain, n, now, &info) != 0)
			REFUSE(v, AIM_ERR_VERIFY,
			       "x509: no acct: URI expected and none readable from the credential");
		snprintf(v->acct, sizeof v->acct, "%s", info.san_uri);
	} else {
		snprintf(v->acct, sizeof v->acct, "%s", acct);
	}
	char user[CLIENT_ACCT_MAX], auth[CLIENT_ACCT_MAX], host[CLIENT_ACCT_MAX];
	if (client_core_acct_split(v->acct, user, sizeof user, auth, sizeof auth, host,
				   sizeof host) != 0)
		REFUSE(v, AIM_ERR_VERIFY, "x509: %s is not an acct: URI", v->acct);

	struct anchors an;
	if (ca_anchors(c, auth, host, false, &an) != 0)
		REFUSE(v, AIM_ERR_REMOTE,
		       "x509: no CA of %s: %s", auth, aim_errmsg());
	int rc = aim_x509_verify(leaf, an.view, an.n, now, &info);
	if (rc != 0 && aim_errcode() == AIM_ERR_VERIFY && now - an.fetched >= CLIENT_CA_REFETCH_MIN) {
		/* the domain may have rotated its CA since we cached it */
		anchors_free(&an);
		if (ca_anchors(c, auth, host, true, &an) != 0)
			REFUSE(v, AIM_ERR_REMOTE, "x509: no CA of %s: %s", auth, aim_errmsg());
		rc = aim_x509_verify(leaf, an.view, an.n, now, &info);
	}
	anchors_free(&an);
	if (rc != 0)
		REFUSE(v, AIM_ERR_VERIFY, "x509: not certified by the CA of %s: %s", auth,
		       aim_errmsg());
	if (!client_core_acct_equal(info.san_uri, v->acct))
		REFUSE(v, AIM_ERR_VERIFY, "x509: the certificate speaks for %s, not %s",
		       info.san_uri, v->acct);
	if (!aim_ct_equal(info.pk, info.pk_len, sigkey.p, sigkey.len))
		REFUSE(v, AIM_ERR_VERIFY,
		       "x509: the certified key is not the leaf node's signature key");
	v->check = CLIENT_CHECK_X509;
	v->not_after = info.not_after;
	v->anchor = info.anchor;
	say(v, "certified by the CA of %s", auth);
	return 0;
}

/* ---- basic: the actor's keyPackages listing ------------------------------------------- */

static int get_json_doc(struct client *c, const char *url, const char *accept, json_t **out)
{
	struct aim_buf body;
	aim_buf_init(&body, (size_t)4 << 20);
	int rc = client_proxy_get(c, url, accept, &body);
	*out = NULL;
	if (rc == 0) {
		*out = json_loadb((const char *)body.data, body.len, 0, NULL);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = aim_fail(AIM_ERR_REMOTE, "%s: not a JSON object", url);
		}
	}
	aim_buf_free(&body);
	return rc;
}

/* The actor behind an acct: URI: remembered from a claim, else WebFinger
 * (RFC 7033) through the proxy, the rel=self link of an ActivityPub type. */
static int actor_of(struct client *c, const char *acct, const char *authority,
		    struct aim_buf *actor)
{
	char *key = aim_xasprintf("actor/%s", acct);
	int rc = c->io.kv_get(c->io.kv_ctx, key, actor);
	free(key);
	if (rc == 0)
		return 0; /* aim_buf keeps its data NUL-terminated */
	aim_errclear();
	struct aim_buf url;
	aim_buf_init(&url, 2048);
	if (own_authority(c, authority))
		TRY(aim_buf_printf(&url, "%s/.well-known/webfinger?resource=", c->server));
	else
		TRY(aim_buf_printf(&url, "https://%s/.well-known/webfinger?resource=", authority));
	for (const char *p = acct; *p; p++) {
		if (*p == ':' || *p == '@')
			TRY(aim_buf_printf(&url, "%%%02X", (unsigned char)*p));
		else
			TRY(aim_buf_append_byte(&url, (uint8_t)*p));
	}
	json_t *jrd = NULL;
	rc = get_json_doc(c, (const char *)url.data, "application/jrd+json", &jrd);
	aim_buf_free(&url);
	TRY(rc);
	json_t *links = json_object_get(jrd, "links"), *l;
	size_t i;
	rc = aim_fail(AIM_ERR_NOTFOUND, "WebFinger of %s names no actor", acct);
	json_array_foreach(links, i, l) {
		const char *rel = json_string_value(json_object_get(l, "rel"));
		const char *type = json_string_value(json_object_get(l, "type"));
		const char *href = json_string_value(json_object_get(l, "href"));
		if (rel && href && type && strcmp(rel, "self") == 0 &&
		    (strstr(type, "activity+json") || strstr(type, "ld+json"))) {
			aim_errclear();
			rc = aim_buf_append_str(actor, href);
			break;
		}
	}
	json_decref(jrd);
	return rc;
}

static const char *id_of(json_t *v)
{
	if (json_is_string(v))
		return json_string_value(v);
	return json_string_value(json_object_get(v, "id"));
}

/* True if one item is a KeyPackage with this credential and key. */
static bool item_matches(json_t *it, const struct mls_credential *cred, struct aim_bytes sigkey)
{
	json_t *content = json_object_get(it, "content");
	if (!json_is_string(content))
		return false;
	struct aim_buf raw;
	struct mls_key_package kp;
	aim_buf_init(&raw, MLS_MAX_MESSAGE);
	bool ok = false;
	if (client_core_unb64(content, &raw) == 0 &&
	    client_core_parse_kp(aim_buf_bytes(&raw), &kp) == 0) {
		const struct mls_leaf_node *ln = &kp.leaf_node;
		ok = ln->credential.type == MLS_CREDENTIAL_BASIC &&
		     mls_bytes_equal(&ln->credential.identity, &cred->identity) &&
		     aim_ct_equal(ln->signature_key.p, ln->signature_key.len, sigkey.p, sigkey.len);
		mls_key_package_free(&kp);
	}
	aim_errclear();
	aim_buf_free(&raw);
	return ok;
}

static int scan_items(json_t *page, const struct mls_credential *cred, struct aim_bytes sigkey,
		      size_t *seen)
{
	json_t *items = json_object_get(page, "orderedItems");
	if (!items)
		items = json_object_get(page, "items");
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		if ((*seen)++ >= LIST_MAX_ITEMS)
			return 0;
		if (item_matches(it, cred, sigkey))
			return 1;
	}
	return 0;
}

static int listed(struct client *c, const char *coll_url, const struct mls_credential *cred,
		  struct aim_bytes sigkey, bool *found)
{
	*found = false;
	json_t *coll = NULL;
	TRY(get_json_doc(c, coll_url, AP_ACCEPT, &coll));
	size_t seen = 0;
	int rc = 0;
	if (scan_items(coll, cred, sigkey, &seen)) {
		*found = true;
		goto out;
	}
	json_t *first = json_object_get(coll, "first");
	json_t *page = NULL;
	if (json_is_object(first) && scan_items(first, cred, sigkey, &seen)) {
		*found = true;
		goto out;
	}
	const char *next = json_is_object(first) ? id_of(json_object_get(first, "next"))
						 : id_of(first);
	char *url = next ? aim_xstrdup(next) : NULL;
	for (int p = 0; url && p < LIST_MAX_PAGES && seen < LIST_MAX_ITEMS; p++) {
		rc = get_json_doc(c, url, AP_ACCEPT, &page);
		free(url);
		url = NULL;
		if (rc != 0)
			break;
		if (scan_items(page, cred, sigkey, &seen)) {
			*found = true;
			break;
		}
		next = id_of(json_object_get(page, "next"));
		url = next ? aim_xstrdup(next) : NULL;
		json_decref(page);
		page = NULL;
	}
	free(url);
	json_decref(page);
out:
	json_decref(coll);
	return rc;
}

static int verify_basic(struct client *c, const struct mls_credential *cred, const char *acct,
			struct aim_bytes sigkey, struct client_verdict *v)
{
	const struct mls_bytes *id = &cred->identity;
	char ident[1024];
	if (id->len == 0 || id->len >= sizeof ident)
		REFUSE(v, AIM_ERR_VERIFY, "basic: empty or oversized identity");
	for (size_t i = 0; i < id->len; i++)
		if (id->p[i] <= 0x20 || id->p[i] >= 0x7f)
			REFUSE(v, AIM_ERR_VERIFY, "basic: identity is not an acct: URI or URL");
	memcpy(ident, id->p, id->len);
	ident[id->len] = 0;
	bool ident_acct = strncasecmp(ident, "acct:", 5) == 0;
	bool ident_url = aim_str_has_prefix(ident, "https://") || aim_str_has_prefix(ident, "http://");
	if (!ident_acct && !ident_url)
		REFUSE(v, AIM_ERR_VERIFY, "basic: identity is not an acct: URI or URL");
	if (acct && ident_acct && !client_core_acct_equal(acct, ident))
		REFUSE(v, AIM_ERR_VERIFY, "basic: identity %s is not %s", ident, acct);
	const char *who = acct ? acct : ident_acct ? ident : "";
	if (strlen(who) >= sizeof v->acct)
		REFUSE(v, AIM_ERR_VERIFY, "basic: identity too long");
	memcpy(v->acct, who, strlen(who) + 1);

	struct aim_buf actor;
	aim_buf_init(&actor, 2048);
	int rc = -1;
	json_t *doc = NULL;
	if (v->acct[0]) {
		char user[CLIENT_ACCT_MAX], auth[CLIENT_ACCT_MAX], host[CLIENT_ACCT_MAX];
		if (client_core_acct_split(v->acct, user, sizeof user, auth, sizeof auth, host,
					   sizeof host) != 0) {
			say(v, "basic: %s is not an acct: URI", v->acct);
			rc = aim_fail(AIM_ERR_VERIFY, "%s", v->reason);
			goto out;
		}
		if (actor_of(c, v->acct, auth, &actor) != 0) {
			say(v, "basic: no actor for %s: %s", v->acct,
				 aim_errmsg());
			rc = aim_fail(AIM_ERR_REMOTE, "%s", v->reason);
			goto out;
		}
		if (ident_url && !aim_url_equal(ident, (const char *)actor.data)) {
			say(v, "basic: identity %s is not the actor of %s",
				 ident, v->acct);
			rc = aim_fail(AIM_ERR_VERIFY, "%s", v->reason);
			goto out;
		}
	} else {
		TRY_GOTO(aim_buf_append_str(&actor, ident), out);
	}
	const char *actor_url = (const char *)actor.data;
	if (get_json_doc(c, actor_url, AP_ACCEPT, &doc) != 0) {
		say(v, "basic: actor %s: %s", actor_url, aim_errmsg());
		rc = aim_fail(AIM_ERR_REMOTE, "%s", v->reason);
		goto out;
	}
	const char *aid = json_string_value(json_object_get(doc, "id"));
	const char *coll = id_of(json_object_get(doc, "keyPackages"));
	if (!aid || !aim_url_equal(aid, actor_url) || !coll) {
		say(v,
			 "basic: actor %s has no keyPackages collection of its own", actor_url);
		rc = aim_fail(AIM_ERR_VERIFY, "%s", v->reason);
		goto out;
	}
	bool found = false;
	if (listed(c, coll, cred, sigkey, &found) != 0) {
		say(v, "basic: keyPackages of %s: %s", actor_url,
			 aim_errmsg());
		rc = aim_fail(AIM_ERR_REMOTE, "%s", v->reason);
		goto out;
	}
	if (!found) {
		say(v,
			 "basic: %s lists no KeyPackage with this credential and key", actor_url);
		rc = aim_fail(AIM_ERR_VERIFY, "%s", v->reason);
		goto out;
	}
	v->check = CLIENT_CHECK_KEYPACKAGE_LIST;
	say(v, "listed in the keyPackages of %s", actor_url);
	rc = 0;
out:
	json_decref(doc);
	aim_buf_free(&actor);
	return rc;
}

int client_verify_credential(struct client *c, const struct mls_credential *cred,
			     const char *acct, struct aim_bytes signature_key,
			     struct client_verdict *v)
{
	memset(v, 0, sizeof *v);
	if (!cred)
		REFUSE(v, AIM_ERR_INVALID, "no credential");
	if (acct && acct[0] == 0)
		acct = NULL;
	switch (cred->type) {
	case MLS_CREDENTIAL_X509:
		return verify_x509(c, cred, acct, signature_key, v);
	case MLS_CREDENTIAL_BASIC:
		return verify_basic(c, cred, acct, signature_key, v);
	default:
		REFUSE(v, AIM_ERR_UNSUPPORTED, "credential type %u is not accepted", cred->type);
	}
}

/* ---- The credential hook --------------------------------------------------------------- */

static const char *role_name(enum mls_credential_role r)
{
	switch (r) {
	case MLS_CRED_MEMBER: return "member";
	case MLS_CRED_JOINER: return "joiner";
	case MLS_CRED_UPDATE: return "update";
	case MLS_CRED_COMMITTER: return "committer";
	case MLS_CRED_EXTERNAL_SENDER: return "external sender";
	default: return "credential";
	}
}

static int hook_fn(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		   struct aim_bytes signature_key)
{
	struct client_hook *h = arg;
	struct client_verdict v;
	int rc = client_verify_credential(h->c, cred, h->expect, signature_key, &v);
	h->last = v;
	if (rc == 0)
		h->accepted++;
	else
		h->refused++;
	if (h->report)
		h->report(h->report_arg, role, &v);
	if (rc != 0)
		return aim_fail(AIM_ERR_DENIED, "%s refused: %s", role_name(role), v.reason);
	return 0;
}

void client_hook_init(struct client_hook *h, struct client *c, const char *expect)
{
	memset(h, 0, sizeof *h);
	h->c = c;
	h->expect = expect;
	h->mls.fn = hook_fn;
	h->mls.arg = h;
}
