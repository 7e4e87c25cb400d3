/* http server on libmicrohttpd: limits, TLS, streaming, access log. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESP_MAX ((size_t)64 << 20)
#define DRAIN_MAX ((uint64_t)16 << 20)
#define UPLOAD_DEADLINE_MS 120000
#define TLS_FILE_MAX ((size_t)1 << 20)

struct http_server {
	struct MHD_Daemon *d;        /* NULL until http_server_run */
	http_handler_fn fn;
	void *app;
	struct http_server_config cfg; /* strings borrowed from the caller */
	int fd;                      /* the bound socket; MHD owns it once running */
	bool v6;
	size_t max_body;
	char *cert, *key;
	char url[96];
	atomic_int active;
};

/* Per request; freed when both the request completed and a stream (if any)
 * was released. */
struct req_ctx {
	struct http_server *s;
	struct MHD_Connection *conn;
	atomic_int refs;
	bool started;                /* the access handler has seen it */
	char method[16];
	char *path;
	char *target;                /* request target as sent (path?query), not decoded */
	char remote[INET6_ADDRSTRLEN + 8];
	struct aim_buf body;
	bool too_large;
	uint64_t drained;
	bool responded;
	int status;
	atomic_ullong bytes;
	int64_t start_ms;
};

static void ctx_unref(struct req_ctx *x)
{
	if (atomic_fetch_sub(&x->refs, 1) != 1)
		return;
	aim_buf_free(&x->body);
	free(x->path);
	free(x->target);
	free(x);
}

/* ---- Request accessors ----------------------------------------------------- */

const char *http_req_target(const struct http_request *r)
{
	return r->target;
}

const char *http_req_header(const struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_request *r, const char *name)
{
	struct MHD_Connection *c = r->conn;
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	if (v)
		return v;
	/* A bare key ("?page") has a NULL value: tell it apart from absence. */
	return MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), NULL,
					     NULL) == MHD_YES
		       ? ""
		       : NULL;
}

struct qall {
	const char *name;
	const char **out;
	size_t max, n;
};

static enum MHD_Result qall_it(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct qall *q = cls;
	if (key && !strcmp(key, q->name)) {
		if (q->n < q->max)
			q->out[q->n] = value ? value : "";
		q->n++;
	}
	return MHD_YES;
}

size_t http_req_query_all(const struct http_request *r, const char *name, const char **out,
			  size_t max)
{
	struct qall q = { name, out, max, 0 };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, qall_it, &q);
	return q.n;
}

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

/* ---- Responses -------------------------------------------------------------- */

void http_resp_header(struct http_response *r, const char *name, const char *value)
{
	if (r->nheaders >= HTTP_MAX_RESP_HEADERS)
		return;
	r->headers[r->nheaders].name = aim_xstrdup(name);
	r->headers[r->nheaders].value = aim_xstrdup(value);
	r->nheaders++;
}

void http_resp_set(struct http_response *r, int status, const char *content_type,
		   const void *body, size_t len)
{
	r->status = status;
	free(r->content_type);
	r->content_type = aim_xstrdup(content_type);
	aim_buf_free(&r->body);
	aim_buf_init(&r->body, RESP_MAX);
	if (len && aim_buf_append(&r->body, body, len) != 0) {
		r->status = 500;
		aim_buf_init(&r->body, RESP_MAX);
	}
}

void http_resp_error(struct http_response *r, int status, const char *code, const char *detail)
{
	struct aim_buf b;
	aim_buf_init(&b, 16384);
	/* Minimal JSON string escaping; details are short ASCII messages. */
	const char *parts[2] = { code, detail ? detail : "" };
	bool ok = aim_buf_append_str(&b, "{\"error\":\"") == 0;
	for (int p = 0; p < 2 && ok; p++) {
		for (const unsigned char *c = (const unsigned char *)parts[p]; *c && ok; c++) {
			if (*c == '"' || *c == '\\')
				ok = aim_buf_printf(&b, "\\%c", *c) == 0;
			else if (*c < 0x20)
				ok = aim_buf_printf(&b, "\\u%04x", *c) == 0;
			else
				ok = aim_buf_append_byte(&b, *c) == 0;
		}
		if (ok)
			ok = aim_buf_append_str(&b, p == 0 ? "\",\"detail\":\"" : "\"}") == 0;
	}
	if (!ok) {
		aim_buf_init(&b, 0);
		ok = aim_buf_append_str(&b, "{\"error\":\"error\",\"detail\":\"\"}") == 0;
	}
	http_resp_set(r, status, "application/json", b.data, b.len);
	aim_buf_free(&b);
}

static void resp_free(struct http_response *r)
{
	free(r->content_type);
	aim_buf_free(&r->body);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	if (r->stream_free)
		r->stream_free(r->stream_cls);
}

/* ---- Streaming ------------------------------------------------------------------ */

struct stream {
	http_stream_fn fn;
	void (*free_fn)(void *cls);
	void *cls;
	struct req_ctx *x;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	ssize_t n = st->fn(st->cls, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	atomic_fetch_add(&st->x->bytes, (unsigned long long)n);
	return n;
}

static void stream_release(void *cls)
{
	struct stream *st = cls;
	if (st->free_fn)
		st->free_fn(st->cls);
	ctx_unref(st->x);
	free(st);
}

/* ---- The request path --------------------------------------------------------------- */

static enum MHD_Result queue(struct req_ctx *x, struct http_response *r)
{
	struct MHD_Response *mr;
	if (r->status == 0) {
		resp_free(r);
		memset(r, 0, sizeof *r);
		http_resp_error(r, 500, "internal", "no response");
	}
	if (r->stream) {
		struct stream *st = aim_xcalloc(1, sizeof *st);
		st->fn = r->stream;
		st->free_fn = r->stream_free;
		st->cls = r->stream_cls;
		st->x = x;
		atomic_fetch_add(&x->refs, 1);
		r->stream_free = NULL; /* now owned by the stream */
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st,
						       stream_release);
		if (!mr) {
			stream_release(st);
			resp_free(r);
			return MHD_NO;
		}
	} else {
		size_t len = 0;
		uint8_t *body = aim_buf_steal(&r->body, &len);
		mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (!mr) {
			free(body);
			resp_free(r);
			return MHD_NO;
		}
		atomic_fetch_add(&x->bytes, (unsigned long long)len);
	}
	if (r->content_type)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	for (size_t i = 0; i < r->nheaders; i++)
		MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
	x->status = r->status;
	x->responded = true;
	enum MHD_Result ok = MHD_queue_response(x->conn, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	resp_free(r);
	return ok;
}

/* Percent-decoding of the path and query arguments, except %00: a NUL
 * would cut a C string short and make "/users/alice%00" look like alice. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *str)
{
	char *w = str;
	for (const char *r = str; *r; r++) {
		int hi, lo;
		if (*r == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return (size_t)(w - str);
}

static void remote_text(struct MHD_Connection *c, char *out, size_t n)
{
	snprintf(out, n, "-");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)n);
}

#define TARGET_MAX 8192

static struct req_ctx *ctx_new(struct http_server *s, struct MHD_Connection *c, const char *uri)
{
	struct req_ctx *x = aim_xcalloc(1, sizeof *x);
	atomic_init(&x->refs, 1);
	x->s = s;
	x->conn = c;
	x->start_ms = aim_mono_ms();
	x->target = aim_xstrndup(uri ? uri : "/", TARGET_MAX);
	remote_text(c, x->remote, sizeof x->remote);
	atomic_fetch_add(&s->active, 1);
	return x;
}

/* Called once the request line is parsed, before decoding: keeps the raw
 * target (HTTP signatures sign it as sent) and starts the clock. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	return ctx_new(cls, c, uri);
}

/* ---- Message framing (request smuggling) -----------------------------------------------
 * libmicrohttpd 0.9.75 takes the first of several Content-Length fields,
 * serves a request carrying both Content-Length and Transfer-Encoding and
 * keeps the connection, and reads an unknown transfer coding until the peer
 * closes. Every header field is visible before the body is read: the
 * request's framing is decided here, once, and a request whose length is
 * ambiguous is refused before any of its body is taken as a new request. */

struct framing {
	unsigned n_cl;               /* Content-Length fields */
	const char *cl;              /* the first one */
	bool cl_differ;              /* two of them disagree */
	unsigned n_te;               /* Transfer-Encoding fields */
	unsigned codings;            /* transfer codings listed, all fields */
	unsigned chunked;            /* how many of them are "chunked" */
	bool chunked_last;           /* the last one listed is "chunked" */
	bool expect_continue;
};

static void framing_codings(struct framing *f, const char *v)
{
	const char *p = v;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - start);
		bool is_chunked = n == 7 && !strncasecmp(start, "chunked", 7);
		while (*p && *p != ',') /* parameters of the coding */
			p++;
		f->codings++;
		f->chunked += is_chunked;
		f->chunked_last = is_chunked;
	}
}

static enum MHD_Result framing_it(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct framing *f = cls;
	if (!key)
		return MHD_YES;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		if (f->n_cl++ == 0)
			f->cl = value ? value : "";
		else if (strcmp(f->cl, value ? value : ""))
			f->cl_differ = true;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		f->n_te++;
		framing_codings(f, value ? value : "");
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_EXPECT) && value &&
		   !strcasecmp(value, "100-continue")) {
		f->expect_continue = true;
	}
	return MHD_YES;
}

/* 0 when the request's framing is unambiguous; else the status to answer
 * (the connection is closed after it) and the reason. */
static int framing_check(struct MHD_Connection *c, const char *version, struct framing *f,
			 const char **why)
{
	memset(f, 0, sizeof *f);
	MHD_get_connection_values(c, MHD_HEADER_KIND, framing_it, f);
	/* RFC 9112 6.3 (5): "If a message is received without
	 * Transfer-Encoding and with an invalid Content-Length header field,
	 * then the message framing is invalid and the recipient MUST treat it
	 * as an unrecoverable error ... the server MUST respond with a 400
	 * (Bad Request) status code and then close the connection."
	 * Two fields with different values are such an invalid field (RFC
	 * 9110 8.6 allows only a list of identical values). */
	if (f->cl_differ) {
		*why = "conflicting Content-Length fields";
		return 400;
	}
	if (f->n_te == 0)
		return 0;
	/* RFC 9112 6.1: "A server or client that receives an HTTP/1.0 message
	 * containing a Transfer-Encoding header field MUST treat the message
	 * as if the framing is faulty, even if a Content-Length is present,
	 * and close the connection after processing the message." */
	if (version && !strcmp(version, MHD_HTTP_VERSION_1_0)) {
		*why = "Transfer-Encoding in an HTTP/1.0 request";
		return 400;
	}
	/* RFC 9112 6.1: "A server MAY reject a request that contains both
	 * Content-Length and Transfer-Encoding or process such a request in
	 * accordance with the Transfer-Encoding alone. Regardless, the server
	 * MUST close the connection after responding to such a request": it
	 * is the shape of a smuggling attempt, refused. */
	if (f->n_cl) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	/* RFC 9112 6.3 (4): "If a Transfer-Encoding header field is present in
	 * a request and the chunked transfer coding is not the final
	 * encoding, the message body length cannot be determined reliably;
	 * the server MUST respond with the 400 (Bad Request) status code and
	 * then close the connection." RFC 9112 7: "A sender MUST NOT apply
	 * the chunked transfer coding more than once to a message body." */
	if (!f->chunked_last || f->chunked > 1) {
		*why = "the final transfer coding is not chunked";
		return 400;
	}
	/* RFC 9112 6.1: "A server that receives a request message with a
	 * transfer coding it does not understand SHOULD respond with 501 (Not
	 * Implemented)." Only chunked is understood here. */
	if (f->codings > 1) {
		*why = "a transfer coding other than chunked";
		return 501;
	}
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http_server *s = cls;
	struct req_ctx *x = *con_cls;
	if (!x)
		*con_cls = x = ctx_new(s, c, url);
	if (!x->started) {
		x->started = true;
		snprintf(x->method, sizeof x->method, "%s", method);
		x->path = aim_xstrdup(url ? url : "/");
		/* An encoded slash is data, not a separator: route such a path
		 * undecoded, so that "/users/alice%2Foutbox" names no route
		 * instead of alice's outbox. */
		if (x->target) {
			size_t plen = strcspn(x->target, "?");
			for (size_t i = 0; i + 2 < plen; i++) {
				if (x->target[i] == '%' && x->target[i + 1] == '2' &&
				    (x->target[i + 2] == 'f' || x->target[i + 2] == 'F')) {
					free(x->path);
					x->path = aim_xstrndup(x->target, plen);
					break;
				}
			}
		}
		aim_buf_init(&x->body, s->max_body);
		struct framing f;
		const char *why = NULL;
		int bad = framing_check(c, version, &f, &why);
		if (bad) {
			aim_log(AIM_LOG_INFO, "http", "remote=%s refused: %s", x->remote, why);
			struct http_response r = { 0 };
			http_resp_error(&r, bad, bad == 501 ? "not_implemented" : "bad_framing", why);
			http_resp_header(&r, MHD_HTTP_HEADER_CONNECTION, "close");
			return queue(x, &r);
		}
		/* Refuse a declared oversize body before reading any of it. */
		int64_t n;
		if (f.cl && aim_parse_int(f.cl, 0, INT64_MAX, &n) == 0 &&
		    (uint64_t)n > s->max_body) {
			/* A moderately oversized body is read and dropped so that the
			 * client, still sending, gets to read the 413; a huge one is
			 * refused at once and the connection closed. RFC 9110 10.1.1:
			 * "A server that receives a 100-continue expectation in an
			 * HTTP/1.1 request ... MAY omit sending a 100 (Continue)
			 * response if it has already received some or all of the
			 * content ... or if the framing indicates that there is no
			 * content", and may answer with a final status at once: a
			 * client that waits for 100 Continue gets the 413 instead
			 * and sends nothing. */
			if ((uint64_t)n <= DRAIN_MAX && !f.expect_continue) {
				x->too_large = true;
				return MHD_YES;
			}
			struct http_response r = { 0 };
			char d[96];
			snprintf(d, sizeof d, "request body larger than %zu bytes", s->max_body);
			http_resp_error(&r, 413, "too_large", d);
			http_resp_header(&r, MHD_HTTP_HEADER_CONNECTION, "close");
			return queue(x, &r);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* A body that trickles in for longer than the deadline is cut off
		 * (the idle timeout alone would let a slow drip hold a thread). */
		if (aim_mono_ms() - x->start_ms > UPLOAD_DEADLINE_MS) {
			aim_log(AIM_LOG_INFO, "http", "remote=%s upload too slow, closing", x->remote);
			return MHD_NO;
		}
		if (x->too_large) {
			x->drained += *upload_size;
			if (x->drained > DRAIN_MAX) {
				/* Stop listening: answer now, MHD closes after it. */
				*upload_size = 0;
				return MHD_NO;
			}
		}
		if (!x->too_large && !x->responded &&
		    aim_buf_append(&x->body, upload, *upload_size) != 0)
			x->too_large = true; /* the buffer freed itself; discard the rest */
		*upload_size = 0;
		return MHD_YES;
	}
	if (x->responded)
		return MHD_YES;
	struct http_response r = { 0 };
	aim_buf_init(&r.body, RESP_MAX);
	if (x->too_large) {
		char d[96];
		snprintf(d, sizeof d, "request body larger than %zu bytes", s->max_body);
		http_resp_error(&r, 413, "too_large", d);
		return queue(x, &r);
	}
	struct http_request req = {
		.method = x->method,
		.path = x->path,
		.target = x->target,
		.remote = x->remote,
		.body = x->body.data ? x->body.data : (const uint8_t *)"",
		.body_len = x->body.len,
		.conn = c,
	};
	aim_errclear();
	s->fn(s->app, &req, &r);
	return queue(x, &r);
}

/* The path as one log token: controls, spaces, quotes and non-ASCII become %XX. */
static void log_escape(const char *in, char *out, size_t n)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < n; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '%')
			o += (size_t)snprintf(out + o, n - o, "%%%02X", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct req_ctx *x = *con_cls;
	if (!x)
		return;
	*con_cls = NULL;
	char path[512];
	log_escape(x->started ? x->path : x->target, path, sizeof path);
	aim_log(AIM_LOG_INFO, "access",
		"method=%s path=%s status=%d bytes=%llu duration_ms=%lld remote=%s%s",
		x->started ? x->method : "-", path,
		x->responded ? x->status : 0, (unsigned long long)atomic_load(&x->bytes),
		(long long)(aim_mono_ms() - x->start_ms), x->remote,
		toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
	atomic_fetch_sub(&s->active, 1);
	ctx_unref(x);
}

/* libmicrohttpd's own complaints (bad requests it refuses itself, TLS
 * handshake failures, resource limits) go to the common log. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	aim_log(AIM_LOG_WARN, "mhd", "%s", msg);
}

/* ---- Start and stop ------------------------------------------------------------------ */

int http_parse_listen(const char *listen, void *ssv, size_t *sslen)
{
	struct sockaddr_storage *ss = ssv;
	memset(ss, 0, sizeof *ss);
	ENSURE(listen && *listen, AIM_ERR_INVALID, "empty listen address");
	char host[128];
	const char *colon;
	if (listen[0] == '[') {
		const char *end = strchr(listen, ']');
		ENSURE(end && end[1] == ':' && (size_t)(end - listen - 1) < sizeof host,
		       AIM_ERR_INVALID, "bad listen address %s (want [ADDR]:PORT)", listen);
		memcpy(host, listen + 1, (size_t)(end - listen - 1));
		host[end - listen - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(listen, ':');
		ENSURE(colon && (size_t)(colon - listen) < sizeof host && colon != listen,
		       AIM_ERR_INVALID, "bad listen address %s (want ADDR:PORT)", listen);
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = 0;
	}
	int64_t port;
	ENSURE(aim_parse_int(colon + 1, 0, 65535, &port) == 0, AIM_ERR_INVALID,
	       "bad port in listen address %s", listen);
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*sslen = sizeof *v4;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof *v6;
	} else {
		return aim_fail(AIM_ERR_INVALID, "listen address %s is not an IP address", host);
	}
	return 0;
}

static int read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	ENSURE(f, AIM_ERR_STORAGE, "cannot open %s: %s", path, strerror(errno));
	struct aim_buf b;
	aim_buf_init(&b, TLS_FILE_MAX);
	char chunk[4096];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (aim_buf_append(&b, chunk, n) != 0) {
			rc = -1;
			break;
		}
	bool err = ferror(f);
	fclose(f);
	if (rc != 0)
		return aim_fail(AIM_ERR_LIMIT, "%s is too large", path);
	if (err) {
		aim_buf_free(&b);
		return aim_fail(AIM_ERR_STORAGE, "cannot read %s", path);
	}
	*out = (char *)aim_buf_steal(&b, NULL);
	return 0;
}

static void server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->key)
		aim_free_secret(s->key, strlen(s->key));
	free(s->cert);
	free(s);
}

/* A non-blocking listening socket on ss, set up as libmicrohttpd would set up
 * its own (SO_REUSEADDR; IPv6 only on an IPv6 address). */
static int bind_listen(const char *where, const struct sockaddr_storage *ss, size_t sslen,
		       int *out)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ENSURE(fd >= 0, AIM_ERR_STATE, "cannot listen on %s: %s", where, strerror(errno));
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		int e = errno;
		close(fd);
		return aim_fail(AIM_ERR_STATE, "cannot listen on %s: %s", where, strerror(e));
	}
	*out = fd;
	return 0;
}

int http_server_open(const struct http_server_config *cfg, http_handler_fn fn, void *app,
		     struct http_server **out)
{
	*out = NULL;
	struct sockaddr_storage ss;
	size_t sslen;
	TRY(http_parse_listen(cfg->listen, &ss, &sslen));
	ENSURE(!cfg->tls_cert_file == !cfg->tls_key_file, AIM_ERR_INVALID,
	       "--tls-cert and --tls-key go together");
	bool tls = cfg->tls_cert_file != NULL;
	ENSURE(!tls || MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES, AIM_ERR_UNSUPPORTED,
	       "libmicrohttpd was built without TLS");
	struct http_server *s = aim_xcalloc(1, sizeof *s);
	s->fn = fn;
	s->app = app;
	s->cfg = *cfg;
	s->fd = -1;
	s->v6 = ss.ss_family == AF_INET6;
	s->max_body = cfg->max_body ? cfg->max_body : AIM_BUF_DEFAULT_MAX;
	atomic_init(&s->active, 0);
	if (tls && (read_file(cfg->tls_cert_file, &s->cert) != 0 ||
		    read_file(cfg->tls_key_file, &s->key) != 0)) {
		server_free(s);
		return -1;
	}
	if (bind_listen(cfg->listen, &ss, sslen, &s->fd) != 0) {
		server_free(s);
		return -1;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	int port = 0;
	if (getsockname(s->fd, (struct sockaddr *)&bound, &blen) == 0)
		port = ntohs(bound.ss_family == AF_INET6
				     ? ((struct sockaddr_in6 *)&bound)->sin6_port
				     : ((struct sockaddr_in *)&bound)->sin_port);
	char addr[INET6_ADDRSTRLEN] = "";
	if (s->v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
	snprintf(s->url, sizeof s->url, "%s://%s%s%s:%d", tls ? "https" : "http",
		 s->v6 ? "[" : "", addr, s->v6 ? "]" : "", port);
	*out = s;
	return 0;
}

int http_server_run(struct http_server *s)
{
	ENSURE(s && !s->d && s->fd >= 0, AIM_ERR_STATE, "http server is not open");
	const struct http_server_config *cfg = &s->cfg;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (s->v6)
		flags |= MHD_USE_IPv6;
	bool tls = s->cert != NULL;
	if (tls)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
		{ MHD_OPTION_LISTEN_SOCKET, s->fd, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		  (intptr_t)(cfg->header_memory ? cfg->header_memory : 64 * 1024), NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)(cfg->timeout_s ? cfg->timeout_s : 60),
		  NULL },
		{ MHD_OPTION_CONNECTION_LIMIT,
		  (intptr_t)(cfg->max_connections ? cfg->max_connections : 1000), NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)cfg->max_per_ip, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL },
		{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s },
		{ tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->cert },
		{ tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
	ENSURE(s->d, AIM_ERR_STATE, "cannot serve on %s (bad TLS files?)", cfg->listen);
	return 0;
}

int http_server_start(const struct http_server_config *cfg, http_handler_fn fn, void *app,
		      struct http_server **out)
{
	TRY(http_server_open(cfg, fn, app, out));
	if (http_server_run(*out) != 0) {
		http_server_stop(*out, 0);
		*out = NULL;
		return -1;
	}
	return 0;
}

const char *http_server_url(const struct http_server *s)
{
	return s->url;
}

void http_server_stop(struct http_server *s, int grace_ms)
{
	if (!s)
		return;
	if (!s->d) { /* opened, never run: the socket is still ours */
		if (s->fd >= 0)
			close(s->fd);
		server_free(s);
		return;
	}
	MHD_socket fd = MHD_quiesce_daemon(s->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	int64_t until = aim_mono_ms() + grace_ms;
	while (atomic_load(&s->active) > 0 && aim_mono_ms() < until)
		usleep(20 * 1000);
	if (atomic_load(&s->active) > 0)
		aim_log(AIM_LOG_WARN, "http", "closing %d unfinished requests",
			atomic_load(&s->active));
	MHD_stop_daemon(s->d);
	server_free(s);
}
