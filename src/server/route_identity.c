/*
 * Identity over HTTP (issue 10, "Credentials"): the client API for devices
 * (register, renew, revoke, list), the domain's CA document, the JSON-LD
 * context of aim's own terms, and the proxy through which clients fetch
 * what lives on other servers.
 *
 *   POST   /users/{name}/devices                  {"device", "csr"} -> 201
 *   POST   /users/{name}/devices/{device}/renew   {"csr"} -> 200
 *   DELETE /users/{name}/devices/{device}         -> 204 (revoked)
 *   GET    /users/{name}/devices                  -> {"devices": [...]}
 *   GET    /.well-known/aim-ca                    -> {"domain", "certificates"}
 *   GET    /ns                                    -> the JSON-LD context
 *   POST   /proxy                                 id=<url> -> the document
 *
 * The device routes take the bearer token of the user the path names (401
 * without a valid one, 403 for another user's path). A registration: the
 * body is JSON (<= 64 KiB, else 413 too_large); the CSR is base64 DER
 * (<= AIM_X509_MAX, else 400 too_large); its self-signature is the proof of
 * possession of the MLS signature key (400 bad_csr when it fails or the CSR
 * is malformed; 400 unsupported_key for RSA and other keys MLS does not
 * sign with); the leaf the CA issues names acct:NAME@DOMAIN and nothing
 * else of the CSR (ca.h). 409 device_exists: the id is registered with
 * another key, or another device of the user holds that key; 409
 * device_revoked: a revoked id is not registered or renewed again.
 *
 * The proxy (ActivityPub's endpoints.proxyUrl): POST form-encoded id=<url>
 * (or JSON {"id": url}) with the bearer token of any local user. The
 * server GETs the URL itself -- signed by the instance actor, through the
 * guarded client (SSRF guard, redirects re-guarded, 1 MiB and 20 s caps) --
 * and answers 200 with the body and its content type when that is
 * application/activity+json, application/ld+json, application/json (a CA
 * document) or application/jrd+json (WebFinger); else 502 bad_content_type. Remote 404/410 pass through; any
 * other remote status or a failed connection is 502 remote_failed, a
 * timeout 504 timeout, a refused address (loopback, private: threats.md
 * A17) 403 refused_address. This server's own CA document and context are
 * answered without a request. Content-Location names the final URL after
 * redirects; the client checks the document's id itself.
 */
#include "server/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "base/url.h"
#include "crypto/crypto.h"
#include "server/ca.h"
#include "server/s2s.h"   /* the instance signer, in struct fed_in */
#include "server/signer.h"

#define DEVICE_BODY_MAX (64 * 1024)
#define PROXY_BODY_MAX 4096

/* ---- The CA document and the context ---------------------------------------------------- */

static int b64_of(const uint8_t *p, size_t n, json_t **out)
{
	struct aim_buf b;
	aim_buf_init(&b, 4 * AIM_X509_MAX);
	int rc = aim_b64_encode(&b, p, n);
	if (rc == 0)
		*out = json_stringn((const char *)b.data, b.len);
	aim_buf_free(&b);
	return rc;
}

static json_t *ca_doc(struct app *a)
{
	struct aim_buf ders[AIMD_CA_MAX];
	size_t n = 0;
	if (aimd_ca_anchors(a, ders, AIMD_CA_MAX, &n) != 0)
		return NULL;
	json_t *certs = json_array();
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *s = NULL;
		if (rc == 0 && (rc = b64_of(ders[i].data, ders[i].len, &s)) == 0)
			json_array_append_new(certs, s);
		aim_buf_free(&ders[i]);
	}
	if (rc != 0) {
		json_decref(certs);
		return NULL;
	}
	return json_pack("{s:s, s:o}", "domain", a->domain, "certificates", certs);
}

void aimd_route_ca_document(struct app *a, const struct http_request *q, struct http_response *r,
			    const struct http_route_caps *caps)
{
	(void)q;
	(void)caps;
	json_t *doc = ca_doc(a);
	if (!doc) {
		aimd_route_failure(r);
		return;
	}
	aimd_route_json(r, 200, "application/json", doc);
	/* Anyone may read it, a web client too. */
	http_resp_header(r, "Access-Control-Allow-Origin", "*");
	http_resp_header(r, "Cache-Control", "public, max-age=300");
}

static json_t *context_doc(void)
{
	/* Every term aim adds to ActivityStreams (README "aim's JSON-LD
	 * context"). */
	return json_pack(
		"{s:{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s, s:s}, s:s}}", "@context",
		"aim", AIMD_NS, "xsd", "http://www.w3.org/2001/XMLSchema#",
		"certificateAuthority", "@id", "aim:certificateAuthority", "@type", "@id",
		"KeyPackageClaim", "aim:KeyPackageClaim",
		"lastResort", "@id", "aim:lastResort", "@type", "xsd:boolean",
		"cipherSuites", "aim:cipherSuites");
}

void aimd_route_context(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps)
{
	(void)a;
	(void)q;
	(void)caps;
	aimd_route_json(r, 200, "application/ld+json", context_doc());
	http_resp_header(r, "Access-Control-Allow-Origin", "*");
	http_resp_header(r, "Cache-Control", "public, max-age=86400");
}

/* ---- Devices ------------------------------------------------------------------------------ */

/* The user the path names, who must be the token's (401/403/404 set). */
static bool device_owner(struct app *a, const struct http_request *q,
			 const struct http_route_caps *caps, struct http_response *r,
			 struct store_user *u)
{
	if (!aimd_route_rate_ok(a, q, r))
		return false;
	int64_t who = aimd_route_auth(a, q, r, true);
	if (who < 0)
		return false;
	if (!aimd_route_user(a, caps, u, r))
		return false;
	if (u->id != who) {
		http_resp_error(r, 403, "forbidden", "these devices belong to another user");
		return false;
	}
	return true;
}

static bool device_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > STORE_DEVICE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The JSON body of a device request (415/413/400 set on failure). */
static json_t *device_body(const struct http_request *q, struct http_response *r)
{
	const char *ct = http_req_header(q, "Content-Type");
	char t[128] = "";
	if (ct)
		aimd_route_media_type(ct, t, sizeof t);
	if (!aimd_route_json_media(t)) {
		http_resp_error(r, 415, "unsupported_media_type", "post application/json");
		return NULL;
	}
	if (q->body_len > DEVICE_BODY_MAX) {
		http_resp_error(r, 413, "too_large", "the body is over 65536 bytes");
		return NULL;
	}
	json_t *doc = NULL;
	if (ap_json_parse_object(q->body, q->body_len, &doc) != 0) {
		http_resp_error(r, 400, "bad_request", aim_errmsg());
		return NULL;
	}
	return doc;
}

/* The CSR of a body, checked: its key's scheme and raw key (400 set). */
static bool device_csr(const json_t *doc, struct http_response *r, enum aim_sig_alg *alg,
		       struct aim_buf *pk)
{
	const char *csr = json_string_value(json_object_get(doc, "csr"));
	if (!csr || !*csr) {
		http_resp_error(r, 400, "bad_csr", "csr (base64 DER PKCS#10) is required");
		return false;
	}
	size_t n = strlen(csr);
	/* base64 of AIM_X509_MAX bytes is at most 4 * ceil(max / 3) characters */
	if (n > 4 * ((AIM_X509_MAX + 2) / 3)) {
		http_resp_error(r, 400, "too_large", "the CSR is over 16384 bytes");
		return false;
	}
	struct aim_buf der;
	aim_buf_init(&der, AIM_X509_MAX + 3);
	if (aim_b64_decode(&der, csr, n) != 0) {
		aim_buf_free(&der);
		http_resp_error(r, 400, "bad_csr", "csr is not base64");
		return false;
	}
	int rc = aim_x509_csr_verify(aim_buf_bytes(&der), alg, pk);
	aim_buf_free(&der);
	if (rc == 0)
		return true;
	switch (aim_errcode()) {
	case AIM_ERR_UNSUPPORTED:
		http_resp_error(r, 400, "unsupported_key", aim_errmsg());
		break;
	case AIM_ERR_LIMIT:
		http_resp_error(r, 400, "too_large", aim_errmsg());
		break;
	default:
		http_resp_error(r, 400, "bad_csr", aim_errmsg());
		break;
	}
	return false;
}

static void device_answer(struct app *a, struct http_response *r, int status, const char *device,
			  const struct aim_buf *cert, int64_t not_after)
{
	struct aim_buf issuer;
	size_t n = 0;
	json_t *leaf = NULL, *ca = NULL;
	if (aimd_ca_anchors(a, &issuer, 1, &n) != 0) {
		aimd_route_failure(r);
		return;
	}
	int rc = b64_of(cert->data, cert->len, &leaf);
	if (rc == 0)
		rc = b64_of(issuer.data, issuer.len, &ca);
	aim_buf_free(&issuer);
	if (rc != 0) {
		json_decref(leaf);
		aimd_route_failure(r);
		return;
	}
	char na[21];
	aim_time_rfc3339(not_after, na);
	aimd_route_json(r, status, "application/json",
			json_pack("{s:s, s:o, s:[o], s:s}", "device", device, "certificate", leaf,
				  "chain", ca, "notAfter", na));
}

/* Register (renew == false) or renew a device of u. */
static void device_issue(struct app *a, const struct http_request *q, struct http_response *r,
			 const struct store_user *u, const char *device, bool renew)
{
	json_t *doc = device_body(q, r);
	if (!doc)
		return;
	if (!renew) {
		device = json_string_value(json_object_get(doc, "device"));
		if (!device || !device_id_ok(device)) {
			http_resp_error(r, 400, "bad_device", "device: 1-64 of A-Z a-z 0-9 _ -");
			json_decref(doc);
			return;
		}
	}
	char *dev = aim_xstrdup(device);
	enum aim_sig_alg alg = 0;
	struct aim_buf pk, cert;
	aim_buf_init(&pk, AIM_MAX_SIG_PK);
	aim_buf_init(&cert, AIM_X509_MAX);
	char *san = aimd_ca_acct(a, u->name);
	int64_t not_after = 0;
	if (!device_csr(doc, r, &alg, &pk))
		goto out;
	if (aimd_ca_issue(a, (int)alg, aim_buf_bytes(&pk), san, &cert, &not_after) != 0) {
		/* the reason (a key file, its mode) is the operator's, not the client's */
		aim_log(AIM_LOG_ERROR, "identity", "the CA cannot issue: %s", aim_errmsg());
		http_resp_error(r, 503, "ca_unavailable", "the domain's CA cannot issue now");
		goto out;
	}
	struct store_new_device nd = {
		.user_id = u->id,
		.device = dev,
		.alg = (int)alg,
		.pk = pk.data,
		.pk_len = pk.len,
		.cert = cert.data,
		.cert_len = cert.len,
		.not_after = not_after,
	};
	int rc = renew ? store_device_renew(a->st, &nd) : store_device_register(a->st, &nd);
	if (rc != 0) {
		switch (aim_errcode()) {
		case AIM_ERR_EXISTS:
			http_resp_error(r, 409, "device_exists", aim_errmsg());
			break;
		case AIM_ERR_STATE:
			http_resp_error(r, 409, "device_revoked", aim_errmsg());
			break;
		case AIM_ERR_NOTFOUND:
			http_resp_error(r, 404, "no_such_device", aim_errmsg());
			break;
		default:
			aimd_route_failure(r);
			break;
		}
		goto out;
	}
	aim_log(AIM_LOG_INFO, "identity", "user=%s device=%s %s (scheme 0x%04x)", u->name, dev,
		renew ? "renewed" : "registered", (unsigned)alg);
	device_answer(a, r, renew ? 200 : 201, dev, &cert, not_after);
out:
	json_decref(doc);
	free(dev);
	free(san);
	aim_buf_free(&pk);
	aim_buf_free(&cert);
}

void aimd_route_device_register(struct app *a, const struct http_request *q,
				struct http_response *r, const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (device_owner(a, q, caps, r, &u))
		device_issue(a, q, r, &u, NULL, false);
	store_user_clear(&u);
}

void aimd_route_device_renew(struct app *a, const struct http_request *q, struct http_response *r,
			     const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (!device_owner(a, q, caps, r, &u))
		goto out;
	if (caps->n < 2 || !device_id_ok(caps->v[1])) {
		http_resp_error(r, 404, "no_such_device", "no such device");
		goto out;
	}
	device_issue(a, q, r, &u, caps->v[1], true);
out:
	store_user_clear(&u);
}

void aimd_route_device_delete(struct app *a, const struct http_request *q, struct http_response *r,
			      const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (!device_owner(a, q, caps, r, &u))
		goto out;
	if (caps->n < 2 || !device_id_ok(caps->v[1])) {
		http_resp_error(r, 404, "no_such_device", "no such device");
		goto out;
	}
	if (store_device_revoke(a->st, u.id, caps->v[1]) != 0) {
		if (aim_errcode() == AIM_ERR_NOTFOUND)
			http_resp_error(r, 404, "no_such_device", "no such device");
		else
			aimd_route_failure(r);
		goto out;
	}
	aim_log(AIM_LOG_INFO, "identity", "user=%s device=%s revoked", u.name, caps->v[1]);
	http_resp_set(r, 204, "application/json", NULL, 0);
out:
	store_user_clear(&u);
}

static int device_item(void *ctx, const struct store_device *d)
{
	char na[21];
	aim_time_rfc3339(d->not_after, na);
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:b, s:I, s:i}", "device", d->device,
					     "notAfter", na, "revoked", d->revoked, "keyPackages",
					     (json_int_t)d->keypackages, "signatureScheme",
					     d->alg));
	return 0;
}

void aimd_route_device_list(struct app *a, const struct http_request *q, struct http_response *r,
			    const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (!device_owner(a, q, caps, r, &u))
		goto out;
	json_t *list = json_array();
	if (store_device_list(a->st, u.id, device_item, list) != 0) {
		json_decref(list);
		aimd_route_failure(r);
		goto out;
	}
	aimd_route_json(r, 200, "application/json", json_pack("{s:o}", "devices", list));
out:
	store_user_clear(&u);
}

/* ---- The proxy ----------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The value of `id` in an application/x-www-form-urlencoded body (owned),
 * or NULL. */
static char *form_id(const uint8_t *body, size_t len)
{
	const char *p = (const char *)body, *end = p + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if (stop - p >= 3 && !strncmp(p, "id=", 3)) {
			char *out = aim_xmalloc((size_t)(stop - p));
			size_t o = 0;
			for (const char *s = p + 3; s < stop; s++) {
				int h, l;
				if (*s == '+') {
					out[o++] = ' ';
				} else if (*s == '%' && stop - s >= 3 && (h = hexval(s[1])) >= 0 &&
					   (l = hexval(s[2])) >= 0) {
					out[o++] = (char)(h * 16 + l);
					s += 2;
				} else if (*s == '%') {
					free(out);
					return NULL;
				} else {
					out[o++] = *s;
				}
			}
			out[o] = 0;
			if (strlen(out) != o) { /* an encoded NUL */
				free(out);
				return NULL;
			}
			return out;
		}
		p = stop + 1;
	}
	return NULL;
}

static char *proxy_target(const struct http_request *q, struct http_response *r)
{
	if (q->body_len > PROXY_BODY_MAX) {
		http_resp_error(r, 413, "too_large", "the body is over 4096 bytes");
		return NULL;
	}
	const char *ct = http_req_header(q, "Content-Type");
	char t[128] = "";
	if (ct)
		aimd_route_media_type(ct, t, sizeof t);
	char *url = NULL;
	if (!strcmp(t, "application/x-www-form-urlencoded")) {
		url = form_id(q->body, q->body_len);
	} else if (aimd_route_json_media(t)) {
		json_t *doc = NULL;
		if (ap_json_parse_object(q->body, q->body_len, &doc) == 0) {
			const char *s = json_string_value(json_object_get(doc, "id"));
			url = s ? aim_xstrdup(s) : NULL;
		}
		json_decref(doc);
	} else {
		http_resp_error(r, 415, "unsupported_media_type",
				"post application/x-www-form-urlencoded id=URL (or JSON {\"id\"})");
		return NULL;
	}
	if (!url || !aim_url_valid(url)) {
		free(url);
		http_resp_error(r, 400, "bad_request", "id must be an http(s) URL");
		return NULL;
	}
	return url;
}

/* The media types the proxy hands back: ActivityStreams, JSON (a CA
 * document) and a WebFinger JRD (the client resolves handles through the
 * proxy). */
static bool proxy_type_ok(const char *ct)
{
	char t[128] = "";
	if (!ct)
		return false;
	aimd_route_media_type(ct, t, sizeof t);
	return aimd_route_json_media(t) || !strcmp(t, ROUTE_JRD);
}

/* A URL of this server answered here, without a request; false if it is
 * not one of those. */
static bool proxy_local(struct app *a, const char *url, struct http_response *r)
{
	size_t bl = strlen(a->base);
	if (strncmp(url, a->base, bl) != 0 || !aim_url_origin_equal(url, a->base))
		return false;
	const char *rest = url + bl;
	if (!strcmp(rest, "/.well-known/aim-ca")) {
		json_t *doc = ca_doc(a);
		if (!doc)
			aimd_route_failure(r);
		else
			aimd_route_json(r, 200, "application/json", doc);
		return true;
	}
	if (!strcmp(rest, "/ns")) {
		aimd_route_json(r, 200, "application/ld+json", context_doc());
		return true;
	}
	return false;
}

void aimd_route_proxy(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct http_route_caps *caps)
{
	(void)caps;
	if (!aimd_route_rate_ok(a, q, r))
		return;
	int64_t who = aimd_route_auth(a, q, r, true);
	if (who < 0)
		return;
	if (who == a->instance_id) {
		http_resp_error(r, 403, "forbidden", "the instance actor has no proxy");
		return;
	}
	char *url = proxy_target(q, r);
	if (!url)
		return;
	if (proxy_local(a, url, r)) {
		free(url);
		return;
	}
	if (!a->fin || !a->fin->signer) {
		http_resp_error(r, 503, "unavailable", "federation is not started");
		free(url);
		return;
	}
	struct sig_field hdr[] = { { "Accept", "application/activity+json, application/ld+json; "
						"profile=\"https://www.w3.org/ns/activitystreams\", "
						"application/json;q=0.9, application/jrd+json;q=0.9" } };
	struct client_request req = {
		.method = "GET",
		.url = url,
		.headers = hdr,
		.n_headers = AIM_ARRAY_LEN(hdr),
	};
	struct client_response resp = { 0 };
	char host[256] = "";
	struct aim_url pu = { 0 };
	if (aim_url_parse(url, &pu) == 0 && pu.host)
		snprintf(host, sizeof host, "%s", pu.host);
	aim_url_free(&pu);
	if (aimd_signer_fetch(a->fin->signer, &req, &resp) != 0) {
		enum aim_err e = aim_errcode();
		aim_log(AIM_LOG_INFO, "proxy", "user=%lld host=%s failed: %s", (long long)who, host,
			aim_errname(e));
		if (e == AIM_ERR_DENIED)
			http_resp_error(r, 403, "refused_address", aim_errmsg());
		else if (e == AIM_ERR_TIMEOUT)
			http_resp_error(r, 504, "timeout", aim_errmsg());
		else if (e == AIM_ERR_UNSUPPORTED || e == AIM_ERR_DECODE)
			http_resp_error(r, 400, "bad_request", aim_errmsg());
		else
			http_resp_error(r, 502, "remote_failed", aim_errmsg());
		goto out;
	}
	aim_log(AIM_LOG_DEBUG, "proxy", "user=%lld host=%s status=%ld", (long long)who, host,
		resp.status);
	if (resp.status == 404 || resp.status == 410) {
		http_resp_error(r, (int)resp.status, resp.status == 404 ? "not_found" : "gone",
				"the remote server has no such document");
		goto out;
	}
	if (resp.status != 200) {
		char msg[96];
		snprintf(msg, sizeof msg, "the remote server answered HTTP %ld", resp.status);
		http_resp_error(r, 502, "remote_failed", msg);
		goto out;
	}
	if (!proxy_type_ok(resp.content_type)) {
		http_resp_error(r, 502, "bad_content_type",
				"the remote document is not ActivityStreams or JSON");
		goto out;
	}
	http_resp_set(r, 200, resp.content_type, resp.body.data, resp.body.len);
	if (resp.final_url && strcmp(resp.final_url, url) != 0)
		http_resp_header(r, "Content-Location", resp.final_url);
out:
	http_client_response_free(&resp);
	free(url);
}
