/*
 * Signed GETs by the instance actor ("authorized fetch"): remote actors,
 * keys, objects and collections are fetched with a cavage rsa-sha256
 * signature over (request-target) host date made with the instance actor's
 * key, through the shared guarded client (struct app.client).
 */
#include "server/internal.h"
#include "server/s2s.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "base/url.h"
#include "crypto/crypto.h"

#define ACCEPT_AS                                                                          \
	"application/activity+json, application/ld+json; "                                  \
	"profile=\"https://www.w3.org/ns/activitystreams\""

/* B21: application/activity+json, or application/ld+json with the
 * ActivityStreams profile. */
static bool as_content_type(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n == 25 && !strncasecmp(ct, "application/activity+json", n))
		return true;
	if (n == 19 && !strncasecmp(ct, "application/ld+json", n))
		return strstr(ct, "profile=\"https://www.w3.org/ns/activitystreams\"") != NULL ||
		       strstr(ct, "profile=https://www.w3.org/ns/activitystreams") != NULL;
	return false;
}

/* Normalised form of a URL (for comparisons), or NULL if it does not parse. */
static char *norm_url(const char *s)
{
	struct aim_url u = { 0 };
	struct aim_buf b;
	aim_buf_init(&b, AIM_URL_MAX + 16);
	char *out = NULL;
	if (aim_url_parse(s, &u) == 0 && aim_url_format(&u, &b) == 0)
		out = (char *)aim_buf_steal(&b, NULL);
	aim_url_free(&u);
	aim_buf_free(&b);
	return out;
}

bool fetch_same_origin(const char *a, const char *b)
{
	struct aim_url x = { 0 }, y = { 0 };
	bool eq = aim_url_parse(a, &x) == 0 && aim_url_parse(b, &y) == 0 && aim_url_same_origin(&x, &y);
	aim_url_free(&x);
	aim_url_free(&y);
	return eq;
}

bool fetch_same_url(const char *a, const char *b)
{
	char *x = norm_url(a), *y = norm_url(b);
	bool eq = x && y && !strcmp(x, y);
	free(x);
	free(y);
	return eq;
}

int fetch_ap_document(struct app *a, const char *url, json_t **out)
{
	*out = NULL;
	struct fed_in_keys k;
	TRY(fed_in_instance_signer(a, &k));
	struct sig_signer s = { SIG_CAVAGE, k.key_id, k.key };
	struct sig_field hdr[] = { { "Accept", ACCEPT_AS } };
	struct client_request req = {
		.method = "GET",
		.url = url,
		.headers = hdr,
		.n_headers = AIM_ARRAY_LEN(hdr),
		.signer = &s,
	};
	struct client_response resp = { 0 };
	int rc = 0;
	json_t *doc = NULL;
	TRY_GOTO(client_fetch(&a->client, &req, &resp), out);
	if (resp.status == 404 || resp.status == 410) {
		rc = aim_fail(resp.status == 410 ? AIM_ERR_GONE : AIM_ERR_NOTFOUND,
			      "fetch %s: HTTP %ld", url, resp.status);
		goto out;
	}
	ENSURE_GOTO(resp.status == 200, out, AIM_ERR_REMOTE, "fetch %s: HTTP %ld", url, resp.status);
	ENSURE_GOTO(as_content_type(resp.content_type), out, AIM_ERR_UNSUPPORTED,
		    "fetch %s: content type %s is not ActivityStreams", url,
		    resp.content_type ? resp.content_type : "(none)");
	TRY_GOTO(ap_json_parse_object(resp.body.data, resp.body.len, &doc), out);
	const char *id = json_string_value(json_object_get(doc, "id"));
	/* B22: the document's id must be the URL it was fetched from. */
	bool ok = id && fetch_same_url(id, url);
	if (!ok && id && resp.final_url && fetch_same_url(id, resp.final_url))
		ok = aim_url_same_host(url, resp.final_url) && fetch_same_origin(url, resp.final_url);
	ENSURE_GOTO(ok, out, AIM_ERR_DENIED, "fetch %s: document id %s is not the URL fetched", url,
		    id ? id : "(none)");
	*out = doc;
	doc = NULL;
out:
	json_decref(doc);
	client_response_free(&resp);
	return rc;
}
