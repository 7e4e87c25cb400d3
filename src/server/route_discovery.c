/*
 * Discovery: WebFinger (RFC 7033) for acct: and actor URIs, host-meta (XRD
 * and JSON) and NodeInfo 2.1.
 */
#include "server/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "base/url.h"
#include "http/webfinger.h"
#include "server/ca.h"

/* BASE's authority ("host:port") when BASE carries an explicit port (test
 * federations), else NULL. */
static char *base_authority(struct app *a)
{
	struct aim_url u = { 0 };
	struct aim_buf b;
	aim_buf_init(&b, 400);
	char *out = NULL;
	if (aim_url_parse(a->base, &u) == 0 && u.port_explicit && aim_url_authority(&u, &b) == 0)
		out = (char *)aim_buf_steal(&b, NULL);
	aim_url_free(&u);
	aim_buf_free(&b);
	return out;
}

void aimd_route_webfinger(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps)
{
	(void)caps;
	const char *res = http_req_query(q, "resource");
	/* RFC 7033 4.2: "If the "resource" parameter is absent or malformed,
	 * the WebFinger resource MUST indicate that the request is bad". */
	if (!res || !*res) {
		http_resp_error(r, 400, "bad_request", "the resource parameter is required");
		return;
	}
	char name[STORE_NAME_MAX + 1] = "";
	bool instance = false;
	size_t bl = strlen(a->base);
	char *acct_host = aim_xstrdup(a->domain);
	if (http_wf_is_acct(res)) {
		/* The one acct: parser (http/webfinger.h): one '@', a user of
		 * unreserved characters, a host through the URL parser. */
		struct wf_acct ac;
		if (http_wf_acct_parse(res, &ac) != 0) {
			http_resp_error(r, 400, "bad_request", "malformed acct: URI");
			http_wf_acct_free(&ac);
			free(acct_host);
			return;
		}
		/* The domain, or BASE's authority when it carries a port (test
		 * federations): the subject then names that authority. */
		char *ba = NULL;
		bool ours = http_wf_acct_at(&ac, a->domain);
		if (!ours && (ba = base_authority(a)) != NULL && http_wf_acct_at(&ac, ba)) {
			ours = true;
			free(acct_host);
			acct_host = aim_xstrdup(ac.authority);
		}
		free(ba);
		if (!ours) {
			http_resp_error(r, 404, "not_found", "not a user of this domain");
			http_wf_acct_free(&ac);
			free(acct_host);
			return;
		}
		if (!strcasecmp(ac.user, a->domain))
			instance = true;
		else if (strlen(ac.user) <= STORE_NAME_MAX)
			snprintf(name, sizeof name, "%s", ac.user);
		http_wf_acct_free(&ac);
	} else if (!strncmp(res, "https://", 8) || !strncmp(res, "http://", 7)) {
		if (!strncmp(res, a->base, bl) && !strcmp(res + bl, "/actor")) {
			instance = true;
		} else if (!strncmp(res, a->base, bl) && !strncmp(res + bl, "/users/", 7) &&
			   strlen(res + bl + 7) <= STORE_NAME_MAX) {
			snprintf(name, sizeof name, "%s", res + bl + 7);
		} else {
			http_resp_error(r, 404, "not_found", "not an actor of this server");
			free(acct_host);
			return;
		}
	} else {
		http_resp_error(r, 400, "bad_request", "resource must be an acct: or http(s) URI");
		free(acct_host);
		return;
	}
	struct store_user u = { 0 };
	if (!instance && (!aimd_valid_name(name) || store_user_get(a->st, name, &u) != 0)) {
		if (aimd_valid_name(name) && aim_errcode() != AIM_ERR_NOTFOUND)
			aimd_route_failure(r); /* the store failed: 503, not 404 */
		else
			http_resp_error(r, 404, "not_found", "no such user");
		free(acct_host);
		return;
	}
	store_user_clear(&u);
	char *actor = instance ? aim_xasprintf("%s/actor", a->base) : aimd_route_user_url(a, name);
	char *subject = aim_xasprintf("acct:%s@%s", instance ? a->domain : name, acct_host);
	json_t *links = json_array();
	const char *rels[16];
	size_t nrel = http_req_query_all(q, "rel", rels, AIM_ARRAY_LEN(rels));
	if (nrel > AIM_ARRAY_LEN(rels))
		nrel = AIM_ARRAY_LEN(rels);
	/* RFC 7033 4.3: with "rel" given, only links of those relation types. */
	bool want_self = nrel == 0, want_ca = nrel == 0;
	for (size_t i = 0; i < nrel; i++) {
		if (!strcmp(rels[i], "self"))
			want_self = true;
		if (!strcmp(rels[i], AIMD_REL_CA))
			want_ca = true;
	}
	if (want_self)
		json_array_append_new(links, json_pack("{s:s, s:s, s:s}", "rel", "self", "type",
						       ROUTE_AS_TYPE, "href", actor));
	/* Identity: the domain's CA certificates (README "Credentials"). */
	if (want_ca)
		json_array_append_new(links, json_pack("{s:s, s:s, s:o}", "rel", AIMD_REL_CA, "type",
						       "application/json", "href",
						       json_sprintf("%s%s", a->base, AIMD_CA_PATH)));
	json_t *jrd = json_pack("{s:s, s:[s], s:o}", "subject", subject, "aliases", actor, "links",
				links);
	free(actor);
	free(subject);
	free(acct_host);
	aimd_route_json(r, 200, ROUTE_JRD, jrd);
	/* RFC 7033 5: servers "MUST" support CORS with Access-Control-Allow-Origin. */
	http_resp_header(r, "Access-Control-Allow-Origin", "*");
}

static void host_meta(struct app *a, bool json, struct http_response *r)
{
	char *tpl = aim_xasprintf("%s/.well-known/webfinger?resource={uri}", a->base);
	if (json) {
		aimd_route_json(r, 200, ROUTE_JRD,
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
		aimd_route_json(r, 200, "application/json",
			  json_pack("{s:[{s:s, s:s}]}", "links", "rel",
				    "http://nodeinfo.diaspora.software/ns/schema/2.1", "href", href));
		free(href);
		return;
	}
	int64_t users = 0;
	if (store_user_count(a->st, &users) != 0) {
		aimd_route_failure(r);
		return;
	}
	json_t *j = json_pack("{s:s, s:{s:s, s:s}, s:[s], s:{s:[], s:[]}, s:b, s:{s:{s:I}}, s:{}}",
			      "version", "2.1", "software", "name", "aim", "version", AIMD_VERSION,
			      "protocols", "activitypub", "services", "inbound", "outbound",
			      "openRegistrations", 0, "usage", "users", "total", (json_int_t)users,
			      "metadata");
	aimd_route_json(r, 200,
		  "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"",
		  j);
}

void aimd_route_host_meta(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps)
{
	(void)q;
	(void)caps;
	host_meta(a, false, r);
}

void aimd_route_host_meta_json(struct app *a, const struct http_request *q, struct http_response *r,
			  const struct http_route_caps *caps)
{
	(void)q;
	(void)caps;
	host_meta(a, true, r);
}

void aimd_route_nodeinfo_links(struct app *a, const struct http_request *q, struct http_response *r,
			  const struct http_route_caps *caps)
{
	(void)q;
	(void)caps;
	nodeinfo(a, false, r);
}

void aimd_route_nodeinfo(struct app *a, const struct http_request *q, struct http_response *r,
		    const struct http_route_caps *caps)
{
	(void)q;
	(void)caps;
	nodeinfo(a, true, r);
}
