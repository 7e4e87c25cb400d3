/*
 * The HTTP routes of aimd and the one place where results become statuses.
 *
 * Routing looks at the request path only (after the base URL's own path),
 * never at the Host header. Every refusal is JSON {"error", "detail"}.
 */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "base/url.h"
#include "crypto/crypto.h"
#include "server/s2s.h" /* federation, inbound (F1) */
#include "server/delivery.h"
#include "http/webfinger.h"

#define PAGE_SIZE 20
#define JRD "application/jrd+json"
#define AS_TYPE "application/activity+json"

/* ---- Small helpers ----------------------------------------------------------- */

static void send_json(struct http_response *r, int status, const char *ctype, json_t *j)
{
	char *s = ap_json_dump(j);
	http_resp_set(r, status, ctype, s, strlen(s));
	free(s);
	json_decref(j);
}

/* Maps the recorded failure to a status: the only such table in aimd. */
static void send_failure(struct http_response *r)
{
	enum aim_err e = aim_errcode();
	const char *msg = aim_errmsg();
	switch (e) {
	case AIM_ERR_INVALID:
	case AIM_ERR_DECODE:
	case AIM_ERR_UNSUPPORTED:
		http_resp_error(r, 400, "bad_request", msg);
		break;
	case AIM_ERR_LIMIT:
		http_resp_error(r, 400, "too_complex", msg);
		break;
	case AIM_ERR_NOTFOUND:
		http_resp_error(r, 404, "not_found", msg);
		break;
	case AIM_ERR_EXISTS:
	case AIM_ERR_BUSY:
		http_resp_error(r, 409, "conflict", msg);
		break;
	case AIM_ERR_DENIED:
		http_resp_error(r, 403, "forbidden", msg);
		break;
	case AIM_ERR_AUTH:
		http_resp_error(r, 401, "unauthorized", msg);
		http_resp_header(r, "WWW-Authenticate", "Bearer");
		break;
	default:
		aim_log(AIM_LOG_ERROR, "aimd", "internal error: %s: %s", aim_errname(e), msg);
		http_resp_error(r, 500, "internal", "internal error");
		break;
	}
}

static void method_not_allowed(struct http_response *r, const char *allow)
{
	http_resp_error(r, 405, "method_not_allowed", "method not allowed here");
	http_resp_header(r, "Allow", allow);
}

static bool is_get(const struct http_request *q)
{
	return !strcmp(q->method, "GET") || !strcmp(q->method, "HEAD");
}

/* The media type of a header value, lower-cased, without parameters. */
static void media_type(const char *v, char *out, size_t n)
{
	size_t o = 0;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && *v != ';' && *v != ',' && o + 1 < n; v++)
		if (*v != ' ' && *v != '\t')
			out[o++] = (char)((*v >= 'A' && *v <= 'Z') ? *v + 32 : *v);
	out[o] = 0;
}

static bool json_media(const char *t)
{
	return !strcmp(t, "application/activity+json") || !strcmp(t, "application/ld+json") ||
	       !strcmp(t, "application/json");
}

/* Whether the Accept header admits one of the JSON types aimd serves. A
 * missing header, * / * and application/ * do. Ranges with q=0 do not. */
static bool accepts_json(const struct http_request *q)
{
	const char *acc = http_req_header(q, "Accept");
	if (!acc || !*acc)
		return true;
	const char *p = acc;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char range[256], t[128];
		snprintf(range, sizeof range, "%.*s", (int)(len < 255 ? len : 255), p);
		media_type(range, t, sizeof t);
		const char *qp = strstr(range, "q=");
		bool zero = qp && (!strncmp(qp, "q=0", 3) && !strpbrk(qp + 3, "123456789"));
		if (!zero && (json_media(t) || !strcmp(t, "*/*") || !strcmp(t, "application/*")))
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static bool accepts_event_stream(const struct http_request *q)
{
	const char *acc = http_req_header(q, "Accept");
	return acc && strcasestr(acc, "text/event-stream") != NULL;
}

static bool negotiate(const struct http_request *q, struct http_response *r)
{
	if (accepts_json(q))
		return true;
	http_resp_error(r, 406, "not_acceptable",
			"this resource is served as application/activity+json");
	return false;
}

/* Who is asking. 0: no Authorization header (anonymous). -1: refused
 * (response already set: 401 or 429). */
static int64_t authenticate(struct app *a, const struct http_request *q,
			    struct http_response *r, bool required)
{
	const char *h = http_req_header(q, "Authorization");
	if (!h) {
		if (!required)
			return 0;
		http_resp_error(r, 401, "unauthorized", "a bearer token is required");
		http_resp_header(r, "WWW-Authenticate", "Bearer");
		return -1;
	}
	unsigned wait = limiter_auth_blocked(a->lim, q->remote);
	if (wait) {
		char s[16];
		snprintf(s, sizeof s, "%u", wait);
		http_resp_error(r, 429, "rate_limited", "too many bad tokens from this address");
		http_resp_header(r, "Retry-After", s);
		return -1;
	}
	const char *tok = NULL;
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		tok = h + 7;
		while (*tok == ' ')
			tok++;
	}
	size_t tl = tok ? strlen(tok) : 0;
	uint8_t hash[32];
	int64_t user = 0;
	if (tl == 0 || tl > 256 || aim_sha256(AIM_BYTES(tok, tl), hash) != 0 ||
	    store_token_find(a->st, hash, &user) != 0) {
		limiter_auth_failed(a->lim, q->remote);
		aim_log(AIM_LOG_INFO, "auth", "remote=%s refused: bad bearer token", q->remote);
		http_resp_error(r, 401, "unauthorized", "invalid bearer token");
		http_resp_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		return -1;
	}
	return user;
}

static bool rate_ok(struct app *a, const struct http_request *q, struct http_response *r)
{
	unsigned wait = limiter_take(a->lim, q->remote);
	if (!wait)
		return true;
	char s[16];
	snprintf(s, sizeof s, "%u", wait);
	http_resp_error(r, 429, "rate_limited", "too many requests from this address");
	http_resp_header(r, "Retry-After", s);
	return false;
}

static char *user_url(struct app *a, const char *name)
{
	if (!strcmp(name, STORE_INSTANCE_NAME))
		return aim_xasprintf("%s/actor", a->base);
	return aim_xasprintf("%s/users/%s", a->base, name);
}

/* ---- WebFinger, host-meta, NodeInfo -------------------------------------------------- */

/* RFC 7565: acct URI = "acct:" userpart "@" host, userpart of unreserved,
 * sub-delims and pct-encoded characters; host a name, IPv4 or [IPv6]. */
static bool acct_chars_ok(const char *s, size_t n, bool host)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '.' || c == '_' || c == '~';
		if (host)
			ok = ok || c == ':' || c == '[' || c == ']';
		else
			ok = ok || strchr("!$&'()*+,;=", c) != NULL;
		if (!ok || !c)
			return false;
	}
	return n > 0;
}

/* Whether host (as in an acct: URI) is BASE's authority with an explicit
 * port, compared after a parse. */
static bool base_authority_is(struct app *a, const char *host)
{
	struct aim_url u = { 0 };
	struct aim_buf want, got;
	aim_buf_init(&want, 400);
	aim_buf_init(&got, 400);
	char *url = aim_xasprintf("https://%s/", host);
	bool eq = strcspn(host, "/?#@\\") == strlen(host) && aim_url_parse(a->base, &u) == 0 &&
		  u.port_explicit && aim_url_authority(&u, &want) == 0;
	aim_url_free(&u);
	eq = eq && aim_url_parse(url, &u) == 0 && aim_url_authority(&u, &got) == 0 &&
	     want.len == got.len && !memcmp(want.data, got.data, got.len);
	aim_url_free(&u);
	aim_buf_free(&want);
	aim_buf_free(&got);
	free(url);
	return eq;
}

static void webfinger(struct app *a, const struct http_request *q, struct http_response *r)
{
	const char *res = http_req_query(q, "resource");
	/* RFC 7033 4.2: "If the "resource" parameter is absent or malformed,
	 * the WebFinger resource MUST indicate that the request is bad". */
	if (!res || !*res) {
		http_resp_error(r, 400, "bad_request", "the resource parameter is required");
		return;
	}
	char name[STORE_NAME_MAX + 1] = "";
	bool instance = false;
	const char *acct_host = a->domain;
	size_t bl = strlen(a->base);
	if (!strncasecmp(res, "acct:", 5)) {
		const char *acct = res + 5;
		const char *at = strrchr(acct, '@');
		if (!at || at == acct || !at[1] || strlen(acct) > 300) {
			http_resp_error(r, 400, "bad_request", "malformed acct: URI");
			return;
		}
		size_t nl = (size_t)(at - acct);
		if (!acct_chars_ok(acct, nl, false) || !acct_chars_ok(at + 1, strlen(at + 1), true)) {
			http_resp_error(r, 400, "bad_request", "malformed acct: URI");
			return;
		}
		/* The domain, or BASE's authority when it carries a port (test
		 * federations): the subject then names that authority. */
		if (strcasecmp(at + 1, a->domain) != 0) {
			if (!base_authority_is(a, at + 1)) {
				http_resp_error(r, 404, "not_found", "not a user of this domain");
				return;
			}
			acct_host = at + 1;
		}
		if (nl == strlen(a->domain) && !strncasecmp(acct, a->domain, nl)) {
			instance = true;
		} else if (nl <= STORE_NAME_MAX) {
			memcpy(name, acct, nl);
			name[nl] = 0;
		}
	} else if (!strncmp(res, "https://", 8) || !strncmp(res, "http://", 7)) {
		if (!strncmp(res, a->base, bl) && !strcmp(res + bl, "/actor")) {
			instance = true;
		} else if (!strncmp(res, a->base, bl) && !strncmp(res + bl, "/users/", 7) &&
			   strlen(res + bl + 7) <= STORE_NAME_MAX) {
			snprintf(name, sizeof name, "%s", res + bl + 7);
		} else {
			http_resp_error(r, 404, "not_found", "not an actor of this server");
			return;
		}
	} else {
		http_resp_error(r, 400, "bad_request", "resource must be an acct: or http(s) URI");
		return;
	}
	struct store_user u = { 0 };
	if (!instance && (!aimd_valid_name(name) || store_user_get(a->st, name, &u) != 0)) {
		http_resp_error(r, 404, "not_found", "no such user");
		return;
	}
	store_user_clear(&u);
	char *actor = instance ? aim_xasprintf("%s/actor", a->base) : user_url(a, name);
	char *subject = aim_xasprintf("acct:%s@%s", instance ? a->domain : name, acct_host);
	json_t *links = json_array();
	const char *rels[16];
	size_t nrel = http_req_query_all(q, "rel", rels, AIM_ARRAY_LEN(rels));
	if (nrel > AIM_ARRAY_LEN(rels))
		nrel = AIM_ARRAY_LEN(rels);
	/* RFC 7033 4.3: with "rel" given, only links of those relation types. */
	bool want_self = nrel == 0;
	for (size_t i = 0; i < nrel; i++)
		if (!strcmp(rels[i], "self"))
			want_self = true;
	if (want_self)
		json_array_append_new(links, json_pack("{s:s, s:s, s:s}", "rel", "self", "type",
						       AS_TYPE, "href", actor));
	json_t *jrd = json_pack("{s:s, s:[s], s:o}", "subject", subject, "aliases", actor, "links",
				links);
	free(actor);
	free(subject);
	send_json(r, 200, JRD, jrd);
	/* RFC 7033 5: servers "MUST" support CORS with Access-Control-Allow-Origin. */
	http_resp_header(r, "Access-Control-Allow-Origin", "*");
}

static void host_meta(struct app *a, bool json, struct http_response *r)
{
	char *tpl = aim_xasprintf("%s/.well-known/webfinger?resource={uri}", a->base);
	if (json) {
		send_json(r, 200, JRD,
			  json_pack("{s:[{s:s, s:s}]}", "links", "rel", "lrdd", "template", tpl));
	} else {
		char *x = aim_xasprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
					"<XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\">\n"
					"  <Link rel=\"lrdd\" template=\"%s\"/>\n</XRD>\n",
					tpl);
		http_resp_set(r, 200, "application/xrd+xml", x, strlen(x));
		free(x);
	}
	http_resp_header(r, "Access-Control-Allow-Origin", "*");
	free(tpl);
}

static void nodeinfo(struct app *a, bool doc, struct http_response *r)
{
	if (!doc) {
		char *href = aim_xasprintf("%s/nodeinfo/2.1", a->base);
		send_json(r, 200, "application/json",
			  json_pack("{s:[{s:s, s:s}]}", "links", "rel",
				    "http://nodeinfo.diaspora.software/ns/schema/2.1", "href", href));
		free(href);
		return;
	}
	int64_t users = 0;
	if (store_user_count(a->st, &users) != 0) {
		send_failure(r);
		return;
	}
	json_t *j = json_pack("{s:s, s:{s:s, s:s}, s:[s], s:{s:[], s:[]}, s:b, s:{s:{s:I}}, s:{}}",
			      "version", "2.1", "software", "name", "aim", "version", AIMD_VERSION,
			      "protocols", "activitypub", "services", "inbound", "outbound",
			      "openRegistrations", 0, "usage", "users", "total", (json_int_t)users,
			      "metadata");
	send_json(r, 200,
		  "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"",
		  j);
}

/* ---- Actors ---------------------------------------------------------------------------- */

static void actor_doc(struct app *a, const struct store_user *u, struct http_response *r)
{
	bool inst = !strcmp(u->name, STORE_INSTANCE_NAME);
	char *id = user_url(a, u->name);
	char *shared = aim_xasprintf("%s/inbox", a->base);
	struct ap_actor_info info = {
		.id = id,
		.type = inst ? "Application" : "Person",
		.preferred_username = inst ? a->domain : u->name,
		.shared_inbox = shared,
		.rsa_public_pem = u->rsa_public_pem,
		.ed25519_public = u->ed25519_public,
	};
	json_t *j = NULL;
	if (ap_actor_build(&info, &j) != 0)
		send_failure(r);
	else
		send_json(r, 200, AS_TYPE, j);
	free(id);
	free(shared);
}

/* ---- Collections ---------------------------------------------------------------------- */

enum coll { C_OUTBOX, C_INBOX, C_EMPTY };

/* Parses ?page=true&max_id=N / min_id=N. Returns 1 for a page, 0 for the
 * collection itself, -1 for a bad cursor (response set). */
static int page_args(const struct http_request *q, struct store_range *rg,
		     struct http_response *r)
{
	memset(rg, 0, sizeof *rg);
	rg->limit = PAGE_SIZE;
	const char *page = http_req_query(q, "page");
	const char *mx = http_req_query(q, "max_id"), *mn = http_req_query(q, "min_id");
	if (!page && !mx && !mn)
		return 0;
	if ((mx && aim_parse_int(mx, 1, INT64_MAX, &rg->max_id) != 0) ||
	    (mn && aim_parse_int(mn, 0, INT64_MAX, &rg->min_id) != 0)) {
		http_resp_error(r, 400, "bad_request", "max_id and min_id are positive integers");
		return -1;
	}
	if (mx && mn) {
		http_resp_error(r, 400, "bad_request", "give max_id or min_id, not both");
		return -1;
	}
	return 1;
}

static void collection(struct app *a, const struct http_request *q, struct http_response *r,
		       const struct store_user *owner, const char *which, enum coll kind,
		       int64_t viewer)
{
	char *base = user_url(a, owner->name);
	char *id = aim_xasprintf("%s/%s", base, which);
	free(base);
	struct store_range rg;
	int isp = page_args(q, &rg, r);
	if (isp < 0)
		goto out;
	if (isp == 0) {
		int64_t total = 0;
		int rc = kind == C_OUTBOX  ? store_outbox_count(a->st, owner->id, viewer, &total)
			 : kind == C_INBOX ? store_inbox_count(a->st, owner->id, &total)
					   : 0;
		if (rc != 0) {
			send_failure(r);
			goto out;
		}
		char *first = aim_xasprintf("%s?page=true", id);
		send_json(r, 200, AS_TYPE, ap_collection(id, total, first));
		free(first);
		goto out;
	}
	struct store_page p = { 0 };
	int rc = kind == C_OUTBOX  ? store_outbox_page(a->st, owner->id, viewer, &rg, &p)
		 : kind == C_INBOX ? store_inbox_page(a->st, owner->id, &rg, &p)
				   : 0;
	if (rc != 0) {
		send_failure(r);
		goto out;
	}
	json_t *items = json_array();
	for (size_t i = 0; i < p.n; i++) {
		json_t *j = ap_json_load_stored(p.items[i].json);
		if (!j)
			continue;
		/* bto and bcc are for the author's eyes only. */
		if (p.items[i].author == viewer)
			json_array_append_new(items, j);
		else {
			json_array_append_new(items, ap_strip_hidden(j));
			json_decref(j);
		}
	}
	char *self = rg.max_id   ? aim_xasprintf("%s?page=true&max_id=%lld", id, (long long)rg.max_id)
		     : rg.min_id ? aim_xasprintf("%s?page=true&min_id=%lld", id, (long long)rg.min_id)
				 : aim_xasprintf("%s?page=true", id);
	char *next = p.n && p.has_older ? aim_xasprintf("%s?page=true&max_id=%lld", id,
							(long long)p.items[p.n - 1].cursor)
					: NULL;
	/* prev is there whenever the page has items: following it later also
	 * picks up what was added since (polling for new items). */
	char *prev = p.n ? aim_xasprintf("%s?page=true&min_id=%lld", id,
							(long long)p.items[0].cursor)
					: NULL;
	send_json(r, 200, AS_TYPE, ap_collection_page(self, id, items, next, prev));
	free(self);
	free(next);
	free(prev);
	store_page_clear(&p);
out:
	free(id);
}

/* ---- The client API: outbox POST ---------------------------------------------------------- */

static void uuid4(char out[37])
{
	uint8_t b[16];
	if (aim_random(b, sizeof b) != 0)
		abort(); /* no randomness: nothing safe to do */
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

/* Local users named in the addressing: their ids, without duplicates. */
static size_t local_recipients(struct app *a, const struct ap_outbox_out *o, int64_t *ids,
			       size_t max)
{
	size_t n = 0, bl = strlen(a->base);
	for (size_t i = 0; i < o->n_addressees && n < max; i++) {
		const char *iri = o->addressees[i];
		if (strncmp(iri, a->base, bl) != 0 || strncmp(iri + bl, "/users/", 7) != 0)
			continue;
		const char *name = iri + bl + 7;
		struct store_user u = { 0 };
		if (!aimd_valid_name(name) || store_user_get(a->st, name, &u) != 0)
			continue;
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= ids[k] == u.id;
		if (!dup)
			ids[n++] = u.id;
		store_user_clear(&u);
	}
	return n;
}

/* ---- acct: handles in an outbox POST (WebFinger, s2s.h webfinger_resolve) ---- */

#define OUTBOX_MAX_HANDLES 16 /* handles resolved per POST (each is fetches) */

/* Replaces the acct: string *slot by the actor WebFinger binds it to.
 * -1 with the response set: 400 (malformed, unknown or unbound handle,
 * address refused), 502 (remote unreachable), 504 (timed out). */
static int resolve_slot(struct app *a, json_t *parent, const char *key, size_t idx,
			const char *acct, unsigned *count, struct http_response *r)
{
	if (++*count > OUTBOX_MAX_HANDLES) {
		http_resp_error(r, 400, "too_complex", "too many acct: handles in one activity");
		return -1;
	}
	char *id = NULL;
	if (webfinger_resolve(a, acct, &id) != 0) {
		enum aim_err e = aim_errcode();
		char *msg = aim_xasprintf("%.300s: %s", acct, aim_errmsg());
		if (e == AIM_ERR_TIMEOUT)
			http_resp_error(r, 504, "gateway_timeout", msg);
		else if (e == AIM_ERR_REMOTE || e == AIM_ERR_NOMEM)
			http_resp_error(r, 502, "bad_gateway", msg);
		else
			http_resp_error(r, 400, "unresolvable_handle", msg);
		free(msg);
		return -1;
	}
	if (key)
		json_object_set_new(parent, key, json_string(id));
	else
		json_array_set_new(parent, idx, json_string(id));
	free(id);
	return 0;
}

/* The addressing fields of o: acct: entries replaced by actor ids. */
static int resolve_addressing(struct app *a, json_t *o, unsigned *count, struct http_response *r)
{
	static const char *const fields[] = { "to", "cc", "bto", "bcc", "audience" };
	for (size_t f = 0; f < AIM_ARRAY_LEN(fields); f++) {
		json_t *v = json_object_get(o, fields[f]);
		if (json_is_string(v) && wf_is_acct(json_string_value(v))) {
			char *acct = aim_xstrdup(json_string_value(v));
			int rc = resolve_slot(a, o, fields[f], 0, acct, count, r);
			free(acct);
			if (rc != 0)
				return -1;
		} else if (json_is_array(v)) {
			for (size_t i = 0; i < json_array_size(v); i++) {
				const char *s = json_string_value(json_array_get(v, i));
				if (!s || !wf_is_acct(s))
					continue;
				char *acct = aim_xstrdup(s);
				int rc = resolve_slot(a, v, NULL, i, acct, count, r);
				free(acct);
				if (rc != 0)
					return -1;
			}
		}
	}
	return 0;
}

/* An outbox document's handles: its addressing, an embedded object's, and
 * a Follow's object. Plain actor URLs are left alone. */
static int resolve_handles(struct app *a, json_t *doc, struct http_response *r)
{
	unsigned count = 0;
	TRY(resolve_addressing(a, doc, &count, r));
	json_t *obj = json_object_get(doc, "object");
	if (json_is_object(obj))
		TRY(resolve_addressing(a, obj, &count, r));
	const char *type = json_string_value(json_object_get(doc, "type"));
	if (type && !strcmp(type, "Follow") && json_is_string(obj) &&
	    wf_is_acct(json_string_value(obj))) {
		char *acct = aim_xstrdup(json_string_value(obj));
		int rc = resolve_slot(a, doc, "object", 0, acct, &count, r);
		free(acct);
		TRY(rc);
	}
	return 0;
}

static void outbox_post(struct app *a, const struct http_request *q, struct http_response *r,
			const struct store_user *owner)
{
	if (!rate_ok(a, q, r))
		return;
	int64_t user = authenticate(a, q, r, true);
	if (user < 0)
		return;
	if (user != owner->id) {
		http_resp_error(r, 403, "forbidden", "this outbox belongs to another user");
		return;
	}
	const char *ct = http_req_header(q, "Content-Type");
	char t[128] = "";
	if (ct)
		media_type(ct, t, sizeof t);
	if (!json_media(t)) {
		http_resp_error(r, 415, "unsupported_media_type",
				"post application/activity+json or application/ld+json");
		return;
	}
	const char *ce = http_req_header(q, "Content-Encoding");
	if (ce && *ce && strcasecmp(ce, "identity") != 0) {
		http_resp_error(r, 415, "unsupported_media_type",
				"content encodings are not accepted; post the JSON as is");
		return;
	}
	json_t *doc = NULL;
	if (ap_json_parse_object(q->body, q->body_len, &doc) != 0) {
		send_failure(r);
		return;
	}
	if (resolve_handles(a, doc, r) != 0) {
		json_decref(doc);
		return;
	}
	char aid[37], oid[37];
	uuid4(aid);
	uuid4(oid);
	char *actor = user_url(a, owner->name);
	char *act_id = aim_xasprintf("%s/activities/%s", a->base, aid);
	char *obj_id = aim_xasprintf("%s/objects/%s", a->base, oid);
	struct ap_outbox_in in = { actor, act_id, obj_id, aim_now() };
	struct ap_outbox_out out = { 0 };
	int64_t *rcpt = NULL;
	char *txt = NULL, *otxt = NULL;
	struct address_out ad = { 0 }; /* F2: its deliveries */
	struct store_outgoing og = { 0 };
	if (ap_outbox_prepare(&in, doc, &out) != 0) {
		send_failure(r);
		goto done;
	}
	/* Federation (F2): remote recipients, enqueued in the same transaction. */
	if (address_expand(a, owner->id, actor, out.activity, &ad) != 0) {
		send_failure(r);
		goto done;
	}
	og = (struct store_outgoing){ .activity_id = act_id, .signer = owner->id, .body = ad.body,
				      .v = ad.v, .n = ad.n };
	rcpt = aim_xcalloc(out.n_addressees + 1, sizeof *rcpt);
	size_t nr = local_recipients(a, &out, rcpt, out.n_addressees);
	txt = ap_json_dump(out.activity);
	otxt = out.object ? ap_json_dump(out.object) : NULL;
	struct store_new_activity na = {
		.id = act_id,
		.object_id = out.object ? obj_id : NULL,
		.json = txt,
		.object_json = otxt,
		.author = owner->id,
		.is_public = out.is_public,
		.audience = rcpt,
		.n_audience = nr,
		.inbox = rcpt,
		.n_inbox = nr,
		.published = in.now,
		.outgoing = ad.n ? &og : NULL,
	};
	int64_t seq;
	if (store_activity_add(a->st, &na, &seq) != 0) {
		send_failure(r);
		goto done;
	}
	if (nr)
		hub_notify(&a->hub);
	/* Federation (F1): follows, blocks, approvals and tombstones it causes. */
	if (s2s_outbox_effects(a, owner->id, out.activity) != 0)
		aim_log(AIM_LOG_ERROR, "outbox", "effects of %s: %s", act_id, aim_errmsg());
	if (ad.n)
		delivery_kick(a->dlv);
	/* ActivityPub 6: "Servers MUST return a 201 Created HTTP code, and ...
	 * MUST include the new id in the Location header." */
	http_resp_set(r, 201, AS_TYPE, txt, strlen(txt));
	http_resp_header(r, "Location", act_id);
done:
	address_out_clear(&ad);
	free(txt);
	free(otxt);
	free(rcpt);
	ap_outbox_out_clear(&out);
	json_decref(doc);
	free(actor);
	free(act_id);
	free(obj_id);
}

/* ---- Activities and objects by id ------------------------------------------------------------ */

static void get_by_id(struct app *a, const struct http_request *q, struct http_response *r,
		      bool object)
{
	if (!negotiate(q, r))
		return;
	int64_t viewer = authenticate(a, q, r, false);
	if (viewer < 0)
		return;
	char *id = aim_xasprintf("%s%s", a->base, q->path + strlen(a->base_path));
	struct store_item it = { 0 };
	int rc = object ? store_object_get(a->st, id, viewer, &it)
			: store_activity_get(a->st, id, viewer, &it);
	free(id);
	if (rc != 0) {
		send_failure(r);
		return;
	}
	json_t *j = ap_json_load_stored(it.json);
	if (!j) {
		store_item_clear(&it);
		aim_fail(AIM_ERR_INTERNAL, "stored document does not parse");
		send_failure(r);
		return;
	}
	/* Federation (F1): a deleted object leaves a Tombstone and answers 410. */
	const char *jt = json_string_value(json_object_get(j, "type"));
	if (object && jt && !strcmp(jt, "Tombstone")) {
		store_item_clear(&it);
		send_json(r, 410, AS_TYPE, j);
		return;
	}
	if (it.author != viewer) {
		json_t *s = ap_strip_hidden(j);
		json_decref(j);
		j = s;
	}
	store_item_clear(&it);
	send_json(r, 200, AS_TYPE, j);
}

/* ---- Users' routes ---------------------------------------------------------------------------- */

static void user_routes(struct app *a, const struct http_request *q, struct http_response *r,
			const char *name, const char *sub)
{
	struct store_user u = { 0 };
	if (!aimd_valid_name(name) && strcmp(name, STORE_INSTANCE_NAME) != 0) {
		http_resp_error(r, 404, "not_found", "no such user");
		return;
	}
	if (store_user_get(a->st, name, &u) != 0) {
		if (aim_errcode() == AIM_ERR_NOTFOUND)
			http_resp_error(r, 404, "not_found", "no such user");
		else
			send_failure(r);
		return;
	}
	if (!*sub) {
		if (!is_get(q))
			method_not_allowed(r, "GET, HEAD");
		else if (negotiate(q, r))
			actor_doc(a, &u, r);
	} else if (!strcmp(sub, "inbox")) {
		if (!strcmp(q->method, "POST")) {
			s2s_inbox_post(a, q, r, name); /* F1: the signature gate */
		} else if (!is_get(q)) {
			method_not_allowed(r, "GET, HEAD, POST");
		} else {
			bool sse = accepts_event_stream(q);
			if (!sse && !negotiate(q, r))
				goto out;
			if (!rate_ok(a, q, r))
				goto out;
			int64_t viewer = authenticate(a, q, r, true);
			if (viewer < 0)
				goto out;
			if (viewer != u.id) {
				http_resp_error(r, 403, "forbidden", "an inbox is readable by its owner only");
				goto out;
			}
			if (sse) {
				const char *lei = http_req_header(q, "Last-Event-ID");
				int64_t last = -1;
				if (lei && aim_parse_int(lei, 0, INT64_MAX, &last) != 0) {
					http_resp_error(r, 400, "bad_request", "Last-Event-ID is not an event id");
					goto out;
				}
				if (sse_start(a, u.id, last, r) != 0)
					send_failure(r);
			} else {
				collection(a, q, r, &u, "inbox", C_INBOX, viewer);
			}
		}
	} else if (!strcmp(sub, "outbox")) {
		if (!strcmp(q->method, "POST")) {
			if (u.id == a->instance_id)
				http_resp_error(r, 403, "forbidden", "the instance actor does not post");
			else
				outbox_post(a, q, r, &u);
		} else if (!is_get(q)) {
			method_not_allowed(r, "GET, HEAD, POST");
		} else if (negotiate(q, r)) {
			int64_t viewer = authenticate(a, q, r, false);
			if (viewer >= 0)
				collection(a, q, r, &u, "outbox", C_OUTBOX, viewer);
		}
	} else if (!strcmp(sub, "followers") && is_get(q)) {
		/* Federation (F1): accepted remote followers. */
		if (negotiate(q, r)) {
			char *base = user_url(a, u.name);
			char *cid = aim_xasprintf("%s/followers", base);
			s2s_followers(a, q, r, u.id, cid);
			free(cid);
			free(base);
		}
	} else if (!strcmp(sub, "followers") || !strcmp(sub, "following") ||
		   !strcmp(sub, "keyPackages")) {
		if (!is_get(q))
			method_not_allowed(r, "GET, HEAD");
		else if (negotiate(q, r))
			collection(a, q, r, &u, sub, C_EMPTY, 0);
	} else {
		http_resp_error(r, 404, "not_found", "no such resource");
	}
out:
	store_user_clear(&u);
}

void app_handle(void *ap, const struct http_request *q, struct http_response *r)
{
	struct app *a = ap;
	size_t bpl = strlen(a->base_path);
	if (bpl && strncmp(q->path, a->base_path, bpl) != 0) {
		http_resp_error(r, 404, "not_found", "no such resource");
		return;
	}
	/* Federation (F1): a GET carrying an HTTP signature passes the gate. */
	if (is_get(q) && s2s_check_signed_get(a, q, r) != 0)
		return;
	const char *p = q->path + bpl;
	if (!strncmp(p, "/.well-known/", 13) || !strcmp(p, "/nodeinfo/2.1")) {
		const char *w = p + 13;
		bool known = !strcmp(w, "webfinger") || !strcmp(w, "host-meta") ||
			     !strcmp(w, "host-meta.json") || !strcmp(w, "nodeinfo") ||
			     !strcmp(p, "/nodeinfo/2.1");
		if (!known)
			http_resp_error(r, 404, "not_found", "no such resource");
		else if (!is_get(q))
			method_not_allowed(r, "GET, HEAD");
		else if (!strcmp(p, "/nodeinfo/2.1"))
			nodeinfo(a, true, r);
		else if (!strcmp(w, "webfinger"))
			webfinger(a, q, r);
		else if (!strcmp(w, "host-meta"))
			host_meta(a, false, r);
		else if (!strcmp(w, "host-meta.json"))
			host_meta(a, true, r);
		else
			nodeinfo(a, false, r);
		return;
	}
	if (!strcmp(p, "/inbox")) {
		if (!strcmp(q->method, "POST"))
			s2s_inbox_post(a, q, r, NULL); /* F1: the signature gate */
		else
			method_not_allowed(r, "POST");
		return;
	}
	if (!strcmp(p, "/actor") || !strncmp(p, "/actor/", 7)) {
		user_routes(a, q, r, STORE_INSTANCE_NAME, p[6] ? p + 7 : "");
		return;
	}
	if (!strncmp(p, "/users/", 7)) {
		char name[STORE_NAME_MAX + 2];
		const char *n = p + 7, *slash = strchr(n, '/');
		size_t nl = slash ? (size_t)(slash - n) : strlen(n);
		if (nl == 0 || nl > STORE_NAME_MAX || (slash && !slash[1])) {
			http_resp_error(r, 404, "not_found", "no such user");
			return;
		}
		memcpy(name, n, nl);
		name[nl] = 0;
		if (!aimd_valid_name(name)) {
			http_resp_error(r, 404, "not_found", "no such user");
			return;
		}
		user_routes(a, q, r, name, slash ? slash + 1 : "");
		return;
	}
	if (!strncmp(p, "/activities/", 12) || !strncmp(p, "/objects/", 9)) {
		if (!is_get(q))
			method_not_allowed(r, "GET, HEAD");
		else
			get_by_id(a, q, r, p[1] == 'o');
		return;
	}
	http_resp_error(r, 404, "not_found", "no such resource");
}
