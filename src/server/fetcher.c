/* The signed fetcher (fetcher.h). */
#include "server/fetcher.h"

#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "base/url.h"

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

int aimd_fetch_ap(const struct aimd_signer *s, const char *url, json_t **out)
{
	*out = NULL;
	ENSURE(s, AIM_ERR_STATE, "federation is not started");
	struct sig_field hdr[] = { { "Accept", ACCEPT_AS } };
	struct client_request req = {
		.method = "GET",
		.url = url,
		.headers = hdr,
		.n_headers = AIM_ARRAY_LEN(hdr),
	};
	struct client_response resp = { 0 };
	int rc = 0;
	json_t *doc = NULL;
	TRY_GOTO(aimd_signer_fetch(s, &req, &resp), out);
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
	bool ok = id && aim_url_equal(id, url);
	if (!ok && id && resp.final_url && aim_url_equal(id, resp.final_url))
		ok = aim_url_same_host(url, resp.final_url) &&
		     aim_url_origin_equal(url, resp.final_url);
	ENSURE_GOTO(ok, out, AIM_ERR_DENIED, "fetch %s: document id %s is not the URL fetched", url,
		    id ? id : "(none)");
	*out = doc;
	doc = NULL;
out:
	json_decref(doc);
	http_client_response_free(&resp);
	return rc;
}

static bool json_content_type(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; \t");
	return n == 16 && !strncasecmp(ct, "application/json", n);
}

int aimd_fetch_json(const struct aimd_signer *s, const char *url, json_t **out)
{
	*out = NULL;
	ENSURE(s, AIM_ERR_STATE, "federation is not started");
	struct sig_field hdr[] = { { "Accept", "application/json" } };
	struct client_request req = {
		.method = "GET",
		.url = url,
		.headers = hdr,
		.n_headers = AIM_ARRAY_LEN(hdr),
	};
	struct client_response resp = { 0 };
	int rc = 0;
	TRY_GOTO(aimd_signer_fetch(s, &req, &resp), out);
	if (resp.status == 404 || resp.status == 410) {
		rc = aim_fail(resp.status == 410 ? AIM_ERR_GONE : AIM_ERR_NOTFOUND,
			      "fetch %s: HTTP %ld", url, resp.status);
		goto out;
	}
	ENSURE_GOTO(resp.status == 200, out, AIM_ERR_REMOTE, "fetch %s: HTTP %ld", url, resp.status);
	ENSURE_GOTO(json_content_type(resp.content_type), out, AIM_ERR_UNSUPPORTED,
		    "fetch %s: content type %s is not application/json", url,
		    resp.content_type ? resp.content_type : "(none)");
	TRY_GOTO(ap_json_parse_object(resp.body.data, resp.body.len, out), out);
out:
	http_client_response_free(&resp);
	return rc;
}
