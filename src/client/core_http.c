/*
 * The core's calls to its home server: JSON requests with the bearer
 * token, the mapping of a refusal ({"error": code, "message": text} and its
 * status) to an aim_err, and GETs of other domains' documents through the
 * home server's proxy (POST BASE/proxy, form id=URL). This is the client's
 * HTTP edge: statuses appear here and nowhere else in src/client.
 */
#include "client/core_int.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MAX ((size_t)8 << 20)

static enum aim_err status_err(long st)
{
	switch (st) {
	case 400: return AIM_ERR_INVALID;
	case 401: return AIM_ERR_AUTH;
	case 403: return AIM_ERR_DENIED;
	case 404: return AIM_ERR_NOTFOUND;
	case 409: return AIM_ERR_EXISTS;
	case 410: return AIM_ERR_GONE;
	case 413: return AIM_ERR_LIMIT;
	case 429: return AIM_ERR_LIMIT;
	case 504: return AIM_ERR_TIMEOUT;
	default: return AIM_ERR_REMOTE;
	}
}

int client_core_refused(struct client *c, long status, struct aim_bytes body, const char *what)
{
	c->server_status = status;
	c->server_error[0] = 0;
	const char *msg = "";
	json_t *j = json_loadb((const char *)body.p, body.len, 0, NULL);
	if (json_is_object(j)) {
		const char *code = json_string_value(json_object_get(j, "error"));
		if (code)
			snprintf(c->server_error, sizeof c->server_error, "%s", code);
		msg = json_string_value(json_object_get(j, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(j, "detail"));
		if (!msg)
			msg = "";
	}
	int rc = aim_fail(status_err(status), "%s: server answered %ld %s%s%s", what, status,
			  c->server_error[0] ? c->server_error : "(no code)", msg[0] ? ": " : "",
			  msg);
	json_decref(j);
	return rc;
}

static char *url_of(struct client *c, const char *path)
{
	if (aim_str_has_prefix(path, "https://") || aim_str_has_prefix(path, "http://"))
		return aim_xstrdup(path);
	return aim_xasprintf("%s%s", c->server, path);
}

int client_core_call(struct client *c, const char *method, const char *path, const json_t *body,
		     json_t **resp)
{
	if (resp)
		*resp = NULL;
	c->server_error[0] = 0;
	c->server_status = 0;
	char *url = url_of(c, path);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct client_http_request rq = {
		.method = method,
		.url = url,
		.content_type = text ? "application/json" : NULL,
		.body = text ? AIM_BYTES(text, strlen(text)) : AIM_BYTES(NULL, 0),
		.bearer = c->token,
		.accept = "application/json",
	};
	struct client_http_response rs;
	memset(&rs, 0, sizeof rs);
	aim_buf_init(&rs.body, JSON_MAX);
	int rc = c->io.http(c->io.http_ctx, &rq, &rs);
	free(text);
	if (rc != 0) {
		/* the shell recorded why (REMOTE, TIMEOUT, NOHOST), naming the URL */
		char why[512];
		snprintf(why, sizeof why, "%s", aim_errmsg());
		rc = aim_fail(aim_errcode(), "%s %s", method, why);
		goto out;
	}
	c->server_status = rs.status;
	if (rs.status < 200 || rs.status > 299) {
		char *what = aim_xasprintf("%s %s", method, path);
		rc = client_core_refused(c, rs.status, aim_buf_bytes(&rs.body), what);
		free(what);
		goto out;
	}
	if (resp && rs.body.len) {
		json_error_t e;
		*resp = json_loadb((const char *)rs.body.data, rs.body.len, JSON_REJECT_DUPLICATES,
				   &e);
		ENSURE_GOTO(*resp != NULL, out, AIM_ERR_REMOTE, "%s %s: answer is not JSON: %s",
			    method, path, e.text);
	}
	rc = 0;
out:
	aim_buf_free(&rs.body);
	free(url);
	return rc;
}

/* application/x-www-form-urlencoded value: unreserved characters kept. */
static int form_escape(struct aim_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~", ch)) {
			TRY(aim_buf_append_byte(out, ch));
		} else {
			TRY(aim_buf_append_byte(out, '%'));
			TRY(aim_buf_append_byte(out, (uint8_t)hex[ch >> 4]));
			TRY(aim_buf_append_byte(out, (uint8_t)hex[ch & 15]));
		}
	}
	return 0;
}

int client_proxy_get(struct client *c, const char *url, const char *accept, struct aim_buf *body)
{
	ENSURE(aim_str_has_prefix(url, "https://") || aim_str_has_prefix(url, "http://"),
	       AIM_ERR_INVALID, "proxy: not an http(s) URL");
	c->server_error[0] = 0;
	c->server_status = 0;
	/* a document of our own server needs no proxy */
	bool local = aim_str_has_prefix(url, c->server) &&
		     (url[strlen(c->server)] == '/' || url[strlen(c->server)] == 0);
	struct aim_buf form;
	aim_buf_init(&form, 16384);
	char *target = NULL;
	int rc = -1;
	struct client_http_request rq = { .bearer = c->token, .accept = accept };
	if (local) {
		rq.method = "GET";
		rq.url = url;
	} else {
		TRY_GOTO(aim_buf_append_str(&form, "id="), done);
		TRY_GOTO(form_escape(&form, url), done);
		target = aim_xasprintf("%s/proxy", c->server);
		rq.method = "POST";
		rq.url = target;
		rq.content_type = "application/x-www-form-urlencoded";
		rq.body = aim_buf_bytes(&form);
	}
	struct client_http_response rs;
	memset(&rs, 0, sizeof rs);
	aim_buf_init(&rs.body, body->max ? body->max : JSON_MAX);
	if (c->io.http(c->io.http_ctx, &rq, &rs) != 0) {
		rc = aim_fail(aim_errcode() == AIM_ERR_NONE ? AIM_ERR_REMOTE : aim_errcode(),
			      "proxy %s: %s", url, aim_errmsg());
	} else if (rs.status != 200) {
		char *what = aim_xasprintf("proxy GET %s", url);
		rc = client_core_refused(c, rs.status, aim_buf_bytes(&rs.body), what);
		free(what);
		/* whatever the status, the peer's document did not come */
		if (aim_errcode() != AIM_ERR_AUTH && aim_errcode() != AIM_ERR_NOTFOUND &&
		    aim_errcode() != AIM_ERR_GONE)
			rc = aim_fail(AIM_ERR_REMOTE, "%s", aim_errmsg());
	} else {
		c->server_status = rs.status;
		rc = aim_buf_append(body, rs.body.data, rs.body.len);
	}
	aim_buf_free(&rs.body);
done:
	aim_buf_free(&form);
	free(target);
	return rc;
}
