/*
 * The KeyPackage directory's HTTP edge (keypackages.h for the policy):
 *
 *   POST /users/NAME/outbox         Create of a KeyPackage (SWICG): upload one
 *   POST /users/NAME/keyPackages    batch upload {"keyPackages": [b64...],
 *                                   "lastResort": b64?} -> 201 {"accepted": n}
 *   GET  /users/NAME/keyPackages/stock     (owner) what each device has left
 *   POST /users/NAME/keyPackages/claim     server to server, signed: the claim
 *   POST /users/NAME/claim          (owner) claim for handles, through us
 *   GET|POST /users/NAME/settings   (owner) {"claims": everyone|followed|nobody}
 *
 * Refusals: 400 bad_keypackage (with the reason) for a KeyPackage that
 * fails a check, 400 too_many_keypackages past a limit, 403 claims_refused
 * under the target's consent, 429 rate_limited with Retry-After, 401 at the
 * S2S gate.
 */
#include "server/keypackages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "server/routes.h"
#include "server/s2s.h"
#include "server/status.h"

/* ---- Shared ------------------------------------------------------------------------------ */

/* The owner of the route's user, authenticated by bearer token; false with
 * the refusal set. */
static bool owner_ok(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps, struct store_user *u)
{
	if (!aimd_route_rate_ok(a, q, r))
		return false;
	int64_t who = aimd_route_auth(a, q, r, true);
	if (who < 0)
		return false;
	if (!aimd_route_user(a, caps, u, r))
		return false;
	if (u->id != who || u->id == a->instance_id) {
		http_resp_error(r, 403, "forbidden", "this belongs to another user");
		return false;
	}
	return true;
}

/* The JSON object body; false with 415/400 set. */
static bool json_body(const struct http_request *q, struct http_response *r, json_t **out)
{
	const char *ct = http_req_header(q, "Content-Type");
	char t[128] = "";
	if (ct)
		aimd_route_media_type(ct, t, sizeof t);
	if (!aimd_route_json_media(t)) {
		http_resp_error(r, 415, "unsupported_media_type", "post application/json");
		return false;
	}
	if (ap_json_parse_object(q->body, q->body_len, out) != 0) {
		aimd_route_failure(r);
		return false;
	}
	return true;
}

static void retry_after(struct http_response *r, unsigned s)
{
	char v[16];
	snprintf(v, sizeof v, "%u", s ? s : 1);
	http_resp_header(r, "Retry-After", v);
}

/* Whether a failure is the store's (or ours), not the KeyPackage's. */
static bool internal_failure(enum aim_err e)
{
	return e == AIM_ERR_STORAGE || e == AIM_ERR_BUSY || e == AIM_ERR_NOMEM ||
	       e == AIM_ERR_INTERNAL || e == AIM_ERR_STATE || e == AIM_ERR_NOTFOUND;
}

static void upload_refused(struct http_response *r, long failed)
{
	enum aim_err e = aim_errcode();
	if (internal_failure(e)) {
		aimd_route_failure(r);
		return;
	}
	char msg[512];
	if (failed >= 0)
		snprintf(msg, sizeof msg, "KeyPackage %ld: %s", failed, aim_errmsg());
	else
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
	if (e == AIM_ERR_LIMIT)
		http_resp_error(r, 400, "too_many_keypackages", msg);
	else
		http_resp_error(r, 400, "bad_keypackage", msg);
}

/* ---- Upload ------------------------------------------------------------------------------ */

static const json_t *kp_object_of(const json_t *doc)
{
	const char *t = json_string_value(json_object_get(doc, "type"));
	if (t && !strcmp(t, "Create")) {
		const json_t *o = json_object_get(doc, "object");
		return json_is_object(o) ? o : NULL;
	}
	return doc;
}

bool aimd_kp_is_upload(const json_t *doc)
{
	const json_t *o = kp_object_of(doc);
	const char *t = o ? json_string_value(json_object_get(o, "type")) : NULL;
	return t && !strcmp(t, "KeyPackage");
}

static bool truthy(const json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k));
}

void aimd_route_kp_outbox(struct app *a, const struct http_request *q, struct http_response *r,
			  const struct store_user *owner, const json_t *doc)
{
	(void)q;
	const json_t *o = kp_object_of(doc);
	/* SWICG: mediaType message/mls, encoding base64, content the MLSMessage. */
	const char *mt = json_string_value(json_object_get(o, "mediaType"));
	const char *enc = json_string_value(json_object_get(o, "encoding"));
	const char *content = json_string_value(json_object_get(o, "content"));
	if (!mt || strcmp(mt, "message/mls") != 0 || !enc || strcmp(enc, "base64") != 0 ||
	    !content) {
		http_resp_error(r, 400, "bad_keypackage",
				"a KeyPackage has mediaType message/mls, encoding base64 and its "
				"MLSMessage as content");
		return;
	}
	bool lr = truthy(o, "lastResort") || truthy(o, "aim:lastResort");
	struct aimd_kp_item it;
	if (aimd_kp_check(a, owner, content, lr, &it) != 0) {
		upload_refused(r, -1);
		return;
	}
	struct store_new_keypackage v = {
		.device = it.device, .suite = it.suite, .ref = it.ref, .ref_len = it.ref_len,
		.data = it.data.data, .len = it.data.len, .json = it.json,
		.last_resort = it.last_resort, .not_after = it.not_after,
	};
	if (store_keypackage_add(a->st, owner->id, &v, 1, AIMD_KP_DEVICE_MAX) != 0) {
		upload_refused(r, -1);
		aimd_kp_item_clear(&it);
		return;
	}
	json_t *j = ap_json_load_stored(it.json);
	const char *id = json_string_value(json_object_get(j, "id"));
	if (id)
		http_resp_header(r, "Location", id);
	aimd_route_json(r, 201, ROUTE_AS_TYPE, j);
	aimd_kp_item_clear(&it);
}

void aimd_route_kp_batch(struct app *a, const struct http_request *q, struct http_response *r,
			 const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	json_t *body = NULL;
	const char **v = NULL;
	if (!owner_ok(a, q, r, caps, &u) || !json_body(q, r, &body))
		goto out;
	const json_t *arr = json_object_get(body, "keyPackages");
	const json_t *lr = json_object_get(body, "lastResort");
	if ((arr && !json_is_array(arr)) || (lr && !json_is_string(lr) && !json_is_null(lr)) ||
	    (!arr && !json_is_string(lr))) {
		http_resp_error(r, 400, "bad_request",
				"{\"keyPackages\": [base64 MLSMessage...], \"lastResort\": base64}");
		goto out;
	}
	size_t n = arr ? json_array_size(arr) : 0;
	if (n > AIMD_KP_BATCH_MAX) {
		char msg[80];
		snprintf(msg, sizeof msg, "at most %d KeyPackages in one upload", AIMD_KP_BATCH_MAX);
		http_resp_error(r, 400, "too_many_keypackages", msg);
		goto out;
	}
	v = aim_xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		v[i] = json_string_value(json_array_get(arr, i));
		if (!v[i]) {
			char msg[80];
			snprintf(msg, sizeof msg, "KeyPackage %zu: not a base64 string", i);
			http_resp_error(r, 400, "bad_keypackage", msg);
			goto out;
		}
	}
	long failed = -1;
	if (aimd_kp_upload(a, &u, v, n, json_string_value(lr), &failed) != 0) {
		upload_refused(r, failed);
		goto out;
	}
	aimd_route_json(r, 201, "application/json",
			json_pack("{s:I}", "accepted", (json_int_t)(n + (json_is_string(lr) ? 1 : 0))));
out:
	free(v);
	json_decref(body);
	store_user_clear(&u);
}

/* ---- Stock ------------------------------------------------------------------------------- */

static int stock_cb(void *ctx, const struct store_kp_stock *s)
{
	json_array_append_new(ctx, json_pack("{s:s, s:I, s:b}", "device", s->device, "available",
					     (json_int_t)s->available, "lastResort",
					     s->last_resort));
	return 0;
}

void aimd_route_kp_stock(struct app *a, const struct http_request *q, struct http_response *r,
			 const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (!owner_ok(a, q, r, caps, &u))
		goto out;
	json_t *arr = json_array();
	if (store_keypackage_stock(a->st, u.id, stock_cb, arr) != 0) {
		json_decref(arr);
		aimd_route_failure(r);
		goto out;
	}
	aimd_route_json(r, 200, "application/json", json_pack("{s:o}", "devices", arr));
out:
	store_user_clear(&u);
}

/* ---- Settings ---------------------------------------------------------------------------- */

void aimd_route_kp_settings(struct app *a, const struct http_request *q, struct http_response *r,
			    const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	json_t *body = NULL;
	if (!owner_ok(a, q, r, caps, &u))
		goto out;
	if (!strcmp(q->method, "POST")) {
		if (!json_body(q, r, &body))
			goto out;
		const json_t *c = json_object_get(body, "claims");
		int policy;
		if (c && aimd_kp_policy_parse(json_string_value(c), &policy) != 0) {
			http_resp_error(r, 400, "bad_request", aim_errmsg());
			goto out;
		}
		if (c && store_claims_policy_set(a->st, u.id, policy) != 0) {
			aimd_route_failure(r);
			goto out;
		}
	}
	int policy = 0;
	if (store_claims_policy_get(a->st, u.id, &policy) != 0) {
		aimd_route_failure(r);
		goto out;
	}
	aimd_route_json(r, 200, "application/json",
			json_pack("{s:s}", "claims", aimd_kp_policy_name(policy)));
out:
	json_decref(body);
	store_user_clear(&u);
}

/* ---- The server-to-server claim ---------------------------------------------------------- */

static void claim_refused(struct http_response *r, unsigned wait, enum status_surface surface)
{
	enum aim_err e = aim_errcode();
	if (e == AIM_ERR_LIMIT) {
		http_resp_error(r, 429, "rate_limited", aim_errmsg());
		retry_after(r, wait);
	} else if (e == AIM_ERR_DENIED) {
		http_resp_error(r, 403, "claims_refused", aim_errmsg());
	} else if (surface == STATUS_S2S) {
		aimd_status_send_failure(r, STATUS_S2S);
	} else {
		aimd_route_failure(r);
	}
}

void aimd_route_kp_claim_s2s(struct app *a, const struct http_request *q,
			     struct http_response *r, const struct http_route_caps *caps)
{
	if (!a->fin) {
		http_resp_error(r, 503, "unavailable", "federation is not running");
		return;
	}
	struct sig_fields fl;
	http_sig_fields_init(&fl);
	char host[256];
	struct s2s_auth au = { 0 };
	struct store_user u = { 0 };
	json_t *body = NULL;
	struct aim_url su = { 0 };
	if (aimd_s2s_host_admit(a, q, r, &fl, host, sizeof host) != 0) {
		http_sig_fields_free(&fl);
		return;
	}
	/* ONE gate for every S2S POST (threats.md B33): nothing is parsed
	 * before the signature is verified. */
	if (aimd_s2s_gate_verify(a, q, &fl, host, &au) != 0) {
		aim_log(AIM_LOG_INFO, "claims", "remote=%s claim refused 401: %s", q->remote,
			aim_errmsg());
		http_resp_error(r, 401, "unauthorized", aim_errmsg());
		http_resp_header(r, "WWW-Authenticate", "Signature");
		goto out;
	}
	if (!aimd_route_user(a, caps, &u, r))
		goto out;
	if (ap_json_parse_object(q->body, q->body_len, &body) != 0) {
		http_resp_error(r, 400, "bad_request", aim_errmsg());
		goto out;
	}
	const char *type = json_string_value(json_object_get(body, "type"));
	const char *actor = json_string_value(json_object_get(body, "actor"));
	if (!type || (strcmp(type, AIMD_KP_CLAIM_TYPE) != 0 && strcmp(type, "KeyPackageClaim") != 0)) {
		http_resp_error(r, 400, "bad_request", "the body is an aim:KeyPackageClaim");
		goto out;
	}
	/* The claiming server speaks for its own actors only: the claimer is
	 * on the origin of the key that signed (as an activity's actor must be
	 * the key's owner, threats.md A14). */
	if (!actor || !fetch_same_origin(actor, au.actor)) {
		http_resp_error(r, 400, "bad_request",
				"actor: the claiming actor, on the signing server's origin");
		goto out;
	}
	uint16_t suites[AIMD_KP_SUITES_MAX];
	size_t ns = 0;
	if (aimd_kp_suites(json_object_get(body, "cipherSuites"), suites, &ns) != 0) {
		http_resp_error(r, 400, "bad_request", aim_errmsg());
		goto out;
	}
	if (u.id == a->instance_id) {
		http_resp_error(r, 404, "not_found", "the instance actor has no KeyPackages");
		goto out;
	}
	if (aim_url_parse(au.actor, &su) != 0) {
		http_resp_error(r, 400, "bad_request", "the signer's key id is not a URL");
		goto out;
	}
	json_t *res = NULL;
	unsigned wait = 0;
	if (aimd_kp_claim(a, &u, actor, su.host, suites, ns, &res, &wait) != 0) {
		claim_refused(r, wait, STATUS_S2S);
		goto out;
	}
	aimd_route_json(r, 200, "application/json", res);
out:
	aim_url_free(&su);
	json_decref(body);
	store_user_clear(&u);
	aimd_s2s_auth_clear(&au);
	aimd_s2s_host_release(a, host);
	http_sig_fields_free(&fl);
}

/* ---- The client's claim through its server ---------------------------------------------- */

/* The local user an actor URL of ours names (1, u set), 0 if none. */
static int local_target(struct app *a, const char *actor, struct store_user *u)
{
	char *pre = aim_xasprintf("%s/users/", a->base);
	size_t pl = strlen(pre);
	int found = 0;
	if (!strncmp(actor, pre, pl) && aimd_valid_name(actor + pl) &&
	    store_user_get(a->st, actor + pl, u) == 0)
		found = 1;
	free(pre);
	aim_errclear();
	return found;
}

static const char *claim_error_code(enum aim_err e)
{
	switch (e) {
	case AIM_ERR_DECODE:
	case AIM_ERR_INVALID:
		return "bad_handle";
	case AIM_ERR_NOTFOUND:
	case AIM_ERR_GONE:
		return "not_found";
	case AIM_ERR_DENIED:
		return "claims_refused";
	case AIM_ERR_LIMIT:
		return "rate_limited";
	case AIM_ERR_REMOTE:
	case AIM_ERR_TIMEOUT:
	case AIM_ERR_NOHOST:
		return "unreachable";
	default:
		return "failed";
	}
}

static json_t *claim_one(struct app *a, const struct store_user *me, const char *me_url,
			 const char *handle, const uint16_t *suites, size_t ns)
{
	char *actor = NULL;
	json_t *res = NULL;
	unsigned wait = 0;
	json_t *item = json_pack("{s:s}", "handle", handle);
	/* WebFinger with the reverse check (a local handle from the store). */
	if (aimd_webfinger_resolve(a, handle, &actor) != 0) {
		enum aim_err e = aim_errcode();
		json_object_set_new(item, "error", json_string(e == AIM_ERR_DENIED
									? "unresolvable_handle"
									: claim_error_code(e)));
		json_object_set_new(item, "detail", json_string(aim_errmsg()));
		return item;
	}
	json_object_set_new(item, "actor", json_string(actor));
	struct store_user t = { 0 };
	int rc;
	if (local_target(a, actor, &t)) {
		(void)me;
		rc = aimd_kp_claim(a, &t, me_url, a->domain, suites, ns, &res, &wait);
		store_user_clear(&t);
	} else {
		rc = aimd_kp_claim_remote(a, me_url, actor, suites, ns, &res, &wait);
	}
	if (rc != 0) {
		json_object_set_new(item, "error", json_string(claim_error_code(aim_errcode())));
		json_object_set_new(item, "detail", json_string(aim_errmsg()));
		if (wait)
			json_object_set_new(item, "retryAfter", json_integer(wait));
	} else {
		json_object_set(item, "keyPackages", json_object_get(res, "keyPackages"));
	}
	json_decref(res);
	free(actor);
	return item;
}

void aimd_route_kp_claim_client(struct app *a, const struct http_request *q,
				struct http_response *r, const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	json_t *body = NULL;
	char *me = NULL;
	if (!owner_ok(a, q, r, caps, &u) || !json_body(q, r, &body))
		goto out;
	const json_t *hs = json_object_get(body, "handles");
	if (!json_is_array(hs) || json_array_size(hs) == 0 ||
	    json_array_size(hs) > AIMD_KP_HANDLES_MAX) {
		char msg[80];
		snprintf(msg, sizeof msg, "handles: an array of 1..%d acct: handles",
			 AIMD_KP_HANDLES_MAX);
		http_resp_error(r, 400, "bad_request", msg);
		goto out;
	}
	uint16_t suites[AIMD_KP_SUITES_MAX] = { 1 };
	size_t ns = 1;
	const json_t *cs = json_object_get(body, "cipherSuites");
	if (cs && aimd_kp_suites(cs, suites, &ns) != 0) {
		http_resp_error(r, 400, "bad_request", aim_errmsg());
		goto out;
	}
	size_t i;
	const json_t *h;
	json_array_foreach(hs, i, h)
	{
		if (!json_is_string(h)) {
			http_resp_error(r, 400, "bad_request", "handles: strings (acct:user@domain)");
			goto out;
		}
	}
	me = aimd_route_user_url(a, u.name);
	json_t *results = json_array();
	json_array_foreach(hs, i, h)
		json_array_append_new(results, claim_one(a, &u, me, json_string_value(h), suites, ns));
	aimd_route_json(r, 200, "application/json", json_pack("{s:o}", "results", results));
out:
	free(me);
	json_decref(body);
	store_user_clear(&u);
}
