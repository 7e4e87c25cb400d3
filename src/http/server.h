/*
 * http server: the HTTP edge of aimd, on libmicrohttpd.
 *
 * One thread per connection (so a long Server-Sent Events stream never
 * starves other requests), a hard limit on the request body (413 before
 * reading when Content-Length is too large, and while reading otherwise),
 * header memory limited with MHD_OPTION_CONNECTION_MEMORY_LIMIT, an idle
 * timeout per connection, optional TLS from PEM files, and one structured
 * access-log line per request (method, path, status, bytes, ms, remote).
 *
 * The server knows nothing about ActivityPub: it hands each complete
 * request to one handler function, which fills a struct http_response.
 * A response is either a buffered body or a stream (a callback that blocks
 * until it has bytes, and ends the stream by returning -1).
 *
 * Shutdown: http_server_stop() stops accepting, lets requests in flight
 * finish (up to a grace period), then closes every connection.
 */
#ifndef AIM_HTTP_SERVER_H
#define AIM_HTTP_SERVER_H

#include <sys/types.h>

#include "base/base.h"

struct http_server;

/* A complete request. Everything is borrowed for the handler's call. */
struct http_request {
	const char *method;
	const char *path;            /* decoded path, no query */
	const char *target;          /* the request target as sent: path?query, undecoded */
	const char *remote;          /* client address, text */
	const uint8_t *body;         /* NUL-terminated, may be empty */
	size_t body_len;
	void *conn;                  /* private to the server */
};

/* The request target exactly as the client sent it (for signatures). */
const char *http_req_target(const struct http_request *r);
/* A header value, or NULL (case-insensitive name). */
const char *http_req_header(const struct http_request *r, const char *name);
/* A query argument's value: NULL when absent, "" for a bare key. */
const char *http_req_query(const struct http_request *r, const char *name);
/* Every value of a repeated query argument, in order; returns the count
 * (at most max are stored in out). */
size_t http_req_query_all(const struct http_request *r, const char *name, const char **out,
			  size_t max);

#define HTTP_MAX_RESP_HEADERS 8

/* Stream callback: copies up to max bytes into buf and returns the count
 * (> 0), blocking until it has some; -1 ends the stream. */
typedef ssize_t (*http_stream_fn)(void *cls, char *buf, size_t max);

struct http_response {
	int status;                  /* 0 until set */
	char *content_type;          /* owned */
	struct aim_buf body;
	struct {
		char *name, *value;  /* owned */
	} headers[HTTP_MAX_RESP_HEADERS];
	size_t nheaders;
	http_stream_fn stream;       /* when set, the body is streamed */
	void (*stream_free)(void *cls);
	void *stream_cls;
};

/* Adds a header (copied). Silently drops past HTTP_MAX_RESP_HEADERS. */
void http_resp_header(struct http_response *r, const char *name, const char *value);
/* Sets status, content type and body (copied). */
void http_resp_set(struct http_response *r, int status, const char *content_type,
		   const void *body, size_t len);
/* The JSON refusal every error uses: {"error": code, "detail": detail}. */
void http_resp_error(struct http_response *r, int status, const char *code, const char *detail);

typedef void (*http_handler_fn)(void *app, const struct http_request *req,
				struct http_response *resp);

struct http_server_config {
	const char *listen;          /* "ADDR:PORT" or "[V6ADDR]:PORT" */
	const char *tls_cert_file;   /* PEM; both or neither */
	const char *tls_key_file;
	size_t max_body;             /* default 1 MiB */
	size_t header_memory;        /* per connection, default 64 KiB */
	unsigned timeout_s;          /* idle timeout, default 60 */
	unsigned max_connections;    /* default 1000 */
	unsigned max_per_ip;         /* concurrent connections per IP, default 0 = none */
};

/* Parses "ADDR:PORT" / "[ADDR]:PORT"; fills a sockaddr_storage. */
int http_parse_listen(const char *listen, void *ss, size_t *sslen) AIM_WARN_UNUSED;
/* Two steps, so a server can refuse to start before it does anything else:
 * http_server_open reads the TLS files and binds and listens on cfg->listen
 * (AIM_ERR_STATE "cannot listen on ADDR:PORT: REASON" when the address is
 * taken) but answers nothing; connections wait in the backlog until
 * http_server_run starts the threads that serve them. cfg's strings must
 * outlive the server. http_server_start does both. */
int http_server_open(const struct http_server_config *cfg, http_handler_fn fn, void *app,
		     struct http_server **out) AIM_WARN_UNUSED;
int http_server_run(struct http_server *s) AIM_WARN_UNUSED;
int http_server_start(const struct http_server_config *cfg, http_handler_fn fn, void *app,
		      struct http_server **out) AIM_WARN_UNUSED;
/* "http://ADDR:PORT" or "https://..." with the bound port. */
const char *http_server_url(const struct http_server *s);
/* Stops accepting (an opened server that never ran just closes its socket),
 * waits up to grace_ms for requests in flight, closes
 * everything and frees the server. */
void http_server_stop(struct http_server *s, int grace_ms);

#endif
