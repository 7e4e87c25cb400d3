/*
 * The shell's HTTP: client_io.http over libcurl. One blocking exchange per
 * call, with the home server only (the core never names another host: the
 * rest goes through the server's proxy), so there is no SSRF guard here;
 * what it keeps is a ceiling on the answer (the caller's buffer maximum),
 * a timeout, no redirects, http and https only, and the options a test
 * federation needs (its CA file, --connect-to mappings).
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client.h"

struct curl_shell {
	CURL *easy;
	char *ca_file;
	struct curl_slist *connect_to;
	long timeout_ms;
};

struct sink {
	struct aim_buf *body;
	bool over;
	struct client_http_response *resp;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (aim_buf_append(s->body, p, len) != 0) {
		s->over = true;
		return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		s->resp->retry_after = strtoll(p + 12, NULL, 10);
	return len;
}

static int curl_http(void *ctx, const struct client_http_request *req,
		     struct client_http_response *resp)
{
	struct curl_shell *sh = ctx;
	CURL *e = sh->easy;
	curl_easy_reset(e);
	struct sink s = { .body = &resp->body, .resp = resp };
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *ctype = NULL, *accept = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = -1;
	resp->status = 0;
	resp->content_type[0] = 0;
	resp->retry_after = 0;
	if (req->bearer) {
		auth = aim_xasprintf("Authorization: Bearer %s", req->bearer);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (req->content_type) {
		ctype = aim_xasprintf("Content-Type: %s", req->content_type);
		hdrs = curl_slist_append(hdrs, ctype);
	}
	if (req->accept) {
		accept = aim_xasprintf("Accept: %s", req->accept);
		hdrs = curl_slist_append(hdrs, accept);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, sh->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, sh->timeout_ms < 10000 ? sh->timeout_ms : 10000L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "aim-client/0.1");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	if (sh->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, sh->ca_file);
	if (sh->connect_to)
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, sh->connect_to);
	const char *m = req->method ? req->method : "GET";
	if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
		if (req->content_type || strcmp(m, "POST") == 0) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body.p ? (const char *)req->body.p : "");
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
		}
	}
	CURLcode cc = curl_easy_perform(e);
	if (s.over) {
		rc = aim_fail(AIM_ERR_LIMIT, "%s: answer larger than %zu bytes", req->url,
			      resp->body.max);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		rc = aim_fail(AIM_ERR_TIMEOUT, "%s: timed out", req->url);
	} else if (cc == CURLE_COULDNT_RESOLVE_HOST) {
		rc = aim_fail(AIM_ERR_NOHOST, "%s: host does not resolve", req->url);
	} else if (cc != CURLE_OK) {
		rc = aim_fail(AIM_ERR_REMOTE, "%s: %s", req->url,
			      errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
		const char *ct = NULL;
		curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
		if (ct)
			snprintf(resp->content_type, sizeof resp->content_type, "%s", ct);
		rc = 0;
	}
	curl_slist_free_all(hdrs);
	if (auth)
		aim_free_secret(auth, strlen(auth));
	free(ctype);
	free(accept);
	return rc;
}

int client_curl_open(const struct client_curl_opts *o, struct client_io *io)
{
	static bool inited;
	if (!inited) {
		ENSURE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, AIM_ERR_INTERNAL,
		       "curl_global_init failed");
		inited = true;
	}
	struct curl_shell *sh = aim_xcalloc(1, sizeof *sh);
	sh->easy = curl_easy_init();
	if (!sh->easy) {
		free(sh);
		return aim_fail(AIM_ERR_NOMEM, "curl_easy_init failed");
	}
	sh->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : 30000;
	if (o && o->ca_file)
		sh->ca_file = aim_xstrdup(o->ca_file);
	for (size_t i = 0; o && i < o->n_connect_to; i++)
		sh->connect_to = curl_slist_append(sh->connect_to, o->connect_to[i]);
	io->http = curl_http;
	io->http_ctx = sh;
	return 0;
}

void client_curl_close(struct client_io *io)
{
	struct curl_shell *sh = io->http_ctx;
	if (!sh)
		return;
	curl_easy_cleanup(sh->easy);
	curl_slist_free_all(sh->connect_to);
	free(sh->ca_file);
	free(sh);
	io->http_ctx = NULL;
	io->http = NULL;
}
