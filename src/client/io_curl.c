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

/* ---- The event stream: its own easy handle on a multi handle ------------------------ */

struct curl_stream {
	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdrs;
	char *auth;
	struct aim_buf got; /* received, not yet read */
	bool over, done;
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
	char *url;
};

static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
	struct curl_stream *st = arg;
	size_t len = size * n;
	if (aim_buf_append(&st->got, p, len) != 0) {
		st->over = true;
		aim_errclear();
		return 0;
	}
	return len;
}

static void stream_close(void *h)
{
	struct curl_stream *st = h;
	if (!st)
		return;
	if (st->multi && st->easy)
		curl_multi_remove_handle(st->multi, st->easy);
	if (st->easy)
		curl_easy_cleanup(st->easy);
	if (st->multi)
		curl_multi_cleanup(st->multi);
	curl_slist_free_all(st->hdrs);
	if (st->auth)
		aim_free_secret(st->auth, strlen(st->auth));
	aim_buf_free(&st->got);
	free(st->url);
	free(st);
}

static int stream_open(void *ctx, const struct client_http_request *req, void **h)
{
	struct curl_shell *sh = ctx;
	*h = NULL;
	struct curl_stream *st = aim_xcalloc(1, sizeof *st);
	aim_buf_init(&st->got, CLIENT_MAX_RESPONSE);
	st->url = aim_xstrdup(req->url);
	st->multi = curl_multi_init();
	st->easy = curl_easy_init();
	if (!st->multi || !st->easy) {
		stream_close(st);
		return aim_fail(AIM_ERR_NOMEM, "curl stream: out of memory");
	}
	CURL *e = st->easy;
	if (req->bearer) {
		st->auth = aim_xasprintf("Authorization: Bearer %s", req->bearer);
		st->hdrs = curl_slist_append(st->hdrs, st->auth);
	}
	char line[160];
	snprintf(line, sizeof line, "Accept: %s", req->accept ? req->accept : "text/event-stream");
	st->hdrs = curl_slist_append(st->hdrs, line);
	if (req->last_event_id) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", req->last_event_id);
		st->hdrs = curl_slist_append(st->hdrs, line);
	}
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	/* no overall timeout; a stream silent for twice the server's
	 * keepalive (15 s) is dead */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 40L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "aim-client/0.1");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
	if (sh->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, sh->ca_file);
	if (sh->connect_to)
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, sh->connect_to);
	if (curl_multi_add_handle(st->multi, e) != CURLM_OK) {
		stream_close(st);
		return aim_fail(AIM_ERR_INTERNAL, "curl stream: cannot start");
	}
	*h = st;
	return 0;
}

static int stream_read(void *h, int wait_ms, struct aim_buf *out, long *status)
{
	struct curl_stream *st = h;
	*status = 0;
	int64_t until = aim_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	for (;;) {
		int running = 0;
		if (!st->done && curl_multi_perform(st->multi, &running) != CURLM_OK)
			return aim_fail(AIM_ERR_REMOTE, "%s: stream failed", st->url);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(st->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				st->done = true;
				st->result = m->data.result;
			}
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, status);
		if (st->got.len) {
			int rc = aim_buf_append(out, st->got.data, st->got.len);
			aim_buf_reset(&st->got);
			return rc;
		}
		if (st->over)
			return aim_fail(AIM_ERR_LIMIT, "%s: more than %zu bytes at once", st->url,
					st->got.max);
		if (st->done)
			return aim_fail(AIM_ERR_REMOTE, "%s: stream ended (%s)", st->url,
					st->result == CURLE_OK ? "closed by the server"
					: st->errbuf[0]	       ? st->errbuf
							       : curl_easy_strerror(st->result));
		int64_t now = aim_mono_ms();
		if (now >= until)
			return 0;
		int ms = (int)(until - now);
		if (curl_multi_poll(st->multi, NULL, 0, ms, NULL) != CURLM_OK)
			return aim_fail(AIM_ERR_REMOTE, "%s: stream poll failed", st->url);
	}
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
	io->stream_open = stream_open;
	io->stream_read = stream_read;
	io->stream_close = stream_close;
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
	io->stream_open = NULL;
	io->stream_read = NULL;
	io->stream_close = NULL;
}
