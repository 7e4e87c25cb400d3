/*
 * The helpers the route handlers share (routes.h): JSON answers, the
 * status of a failure, content negotiation, bearer tokens and the client
 * API's rate. The route table is route_table.c; the handlers are
 * route_discovery.c, route_actors.c and route_outbox.c.
 */
#include "server/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "crypto/crypto.h"

/* ---- Helpers ----------------------------------------------------------------------------- */

void aimd_route_json(struct http_response *r, int status, const char *ctype, json_t *j)
{
	char *s = ap_json_dump(j);
	http_resp_set(r, status, ctype, s, strlen(s));
	free(s);
	json_decref(j);
}

/* The recorded failure as the client API's answer: the one table (status.h). */
void aimd_route_failure(struct http_response *r)
{
	aimd_status_send_failure(r, STATUS_CLIENT);
}

void aimd_route_media_type(const char *v, char *out, size_t n)
{
	size_t o = 0;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && *v != ';' && *v != ',' && o + 1 < n; v++)
		if (*v != ' ' && *v != '\t')
			out[o++] = (char)((*v >= 'A' && *v <= 'Z') ? *v + 32 : *v);
	out[o] = 0;
}

bool aimd_route_json_media(const char *t)
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
		aimd_route_media_type(range, t, sizeof t);
		const char *qp = strstr(range, "q=");
		bool zero = qp && (!strncmp(qp, "q=0", 3) && !strpbrk(qp + 3, "123456789"));
		if (!zero &&
		    (aimd_route_json_media(t) || !strcmp(t, "*/*") || !strcmp(t, "application/*")))
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

bool aimd_route_accepts_event_stream(const struct http_request *q)
{
	const char *acc = http_req_header(q, "Accept");
	return acc && strcasestr(acc, "text/event-stream") != NULL;
}

bool aimd_route_negotiate(const struct http_request *q, struct http_response *r)
{
	if (accepts_json(q))
		return true;
	http_resp_error(r, 406, "not_acceptable",
			"this resource is served as application/activity+json");
	return false;
}

int64_t aimd_route_auth(struct app *a, const struct http_request *q, struct http_response *r,
		   bool required)
{
	const char *h = http_req_header(q, "Authorization");
	if (!h) {
		if (!required)
			return 0;
		http_resp_error(r, 401, "unauthorized", "a bearer token is required");
		http_resp_header(r, "WWW-Authenticate", "Bearer");
		return -1;
	}
	/* An address blocked for bad tokens is refused its further bad tokens
	 * (429), not the valid tokens of the users behind it: the token is
	 * still looked up, and only a failure is answered with the block. */
	unsigned wait = aimd_limiter_auth_blocked(a->lim, q->remote);
	const char *tok = NULL;
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		tok = h + 7;
		while (*tok == ' ')
			tok++;
	}
	size_t tl = tok ? strlen(tok) : 0;
	uint8_t hash[32];
	int64_t user = 0;
	int rc = -1;
	if (tl > 0 && tl <= 256) {
		rc = aim_sha256(AIM_BYTES(tok, tl), hash);
		if (rc == 0)
			rc = store_token_find(a->st, hash, &user);
		if (rc != 0 && aim_errcode() != AIM_ERR_NOTFOUND) {
			/* The store failed, not the token: 503, never a 401. */
			aimd_route_failure(r);
			return -1;
		}
	}
	if (rc != 0 && wait) {
		char s[16];
		snprintf(s, sizeof s, "%u", wait);
		http_resp_error(r, 429, "rate_limited", "too many bad tokens from this address");
		http_resp_header(r, "Retry-After", s);
		return -1;
	}
	if (rc != 0) {
		aimd_limiter_auth_failed(a->lim, q->remote);
		aim_log(AIM_LOG_INFO, "auth", "remote=%s refused: bad bearer token", q->remote);
		http_resp_error(r, 401, "unauthorized", "invalid bearer token");
		http_resp_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		return -1;
	}
	return user;
}

bool aimd_route_rate_ok(struct app *a, const struct http_request *q, struct http_response *r)
{
	unsigned wait = aimd_limiter_take(a->lim, q->remote);
	if (!wait)
		return true;
	char s[16];
	snprintf(s, sizeof s, "%u", wait);
	http_resp_error(r, 429, "rate_limited", "too many requests from this address");
	http_resp_header(r, "Retry-After", s);
	return false;
}

char *aimd_route_user_url(struct app *a, const char *name)
{
	if (!strcmp(name, STORE_INSTANCE_NAME))
		return aim_xasprintf("%s/actor", a->base);
	/* a channel's or a group DM hub's actor row (channels.h) */
	if (!strncmp(name, STORE_CHANNEL_PREFIX, strlen(STORE_CHANNEL_PREFIX)))
		return aim_xasprintf("%s/channels/%s", a->base, name + strlen(STORE_CHANNEL_PREFIX));
	if (!strncmp(name, STORE_DM_PREFIX, strlen(STORE_DM_PREFIX)))
		return aim_xasprintf("%s/dms/%s", a->base, name + strlen(STORE_DM_PREFIX));
	return aim_xasprintf("%s/users/%s", a->base, name);
}

bool aimd_route_user(struct app *a, const struct http_route_caps *caps, struct store_user *u,
		struct http_response *r)
{
	const char *name = caps->n ? caps->v[0] : STORE_INSTANCE_NAME;
	if (caps->n && !aimd_valid_name(name)) {
		http_resp_error(r, 404, "not_found", "no such user");
		return false;
	}
	if (store_user_get(a->st, name, u) != 0) {
		bool gone = false;
		if (aim_errcode() != AIM_ERR_NOTFOUND)
			aimd_route_failure(r);
		else if (store_user_gone(a->st, name, &gone) == 0 && gone)
			http_resp_error(r, 410, "gone", "this user was deleted");
		else
			http_resp_error(r, 404, "not_found", "no such user");
		return false;
	}
	return true;
}

void aimd_route_uuid4(char out[37])
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
