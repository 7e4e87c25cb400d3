/*
 * http server: the HTTP edge of aimd, on libmicrohttpd.
 *
 * An event loop (MHD's epoll mode on a few threads) reads and writes every
 * connection; each complete request is handed to a pool of worker threads,
 * its connection suspended meanwhile, so a handler that blocks (the
 * database, a remote fetch) never stalls the loop. A connection costs
 * memory, not a thread: a stream with nothing to send (Server-Sent Events)
 * is a suspended connection, resumed by http_stream_wake().
 *
 * Limits, each in struct http_server_config and the README's limits table:
 * connections in total and per address (past either, a small reserve of
 * connections is still read up to its headers and answered 503 or 429 with
 * Retry-After; only past the reserve are connections closed at accept), a
 * deadline for the whole of the headers and another for the whole body
 * (408, then closed: a sender dripping a byte a second is cut off like a
 * silent one), the idle keep-alive timeout, header memory, and the body
 * size (413 before reading when Content-Length is too large or Expect:
 * 100-continue waits, while reading otherwise, chunked bodies too). The
 * framing of each request is checked before its body is read (two
 * different Content-Length fields, Content-Length with Transfer-Encoding,
 * an unknown coding: 400 and closed). Optional TLS from PEM files; one
 * structured access-log line per request (method, path, status, bytes, ms,
 * remote).
 *
 * The server knows nothing about ActivityPub: it hands each complete
 * request to one handler function, which fills a struct http_response.
 * A response is either a buffered body or a stream (a callback that
 * returns the bytes it has, 0 when it has none yet, -1 to end).
 *
 * Shutdown: http_server_stop() stops accepting, lets requests in flight
 * finish (up to a grace period), ends the streams, then closes every
 * connection.
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

/* Stream callback, run in the event loop (it must not block): copies up
 * to max bytes into buf and returns the count (> 0); 0 when it has nothing
 * now (the connection is parked until http_stream_wake); -1 ends the
 * stream. */
typedef ssize_t (*http_stream_fn)(void *cls, char *buf, size_t max);

/* A running stream's handle, given to the application by stream_bind. */
struct http_stream;
/* Calls the stream's callback again soon (any thread; cheap when the
 * stream is not parked). A released stream ignores it. */
void http_stream_wake(struct http_stream *h);
/* A waker that keeps a handle beyond its own lock holds a reference. */
void http_stream_ref(struct http_stream *h);
void http_stream_unref(struct http_stream *h);

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
	/* Optional: called once with the stream's handle before the stream
	 * starts; the handle is valid until stream_free. */
	void (*stream_bind)(void *cls, struct http_stream *h);
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
	unsigned timeout_s;          /* idle (keep-alive) timeout, default 60 */
	unsigned header_timeout_s;   /* the whole of a request's headers, default 10 */
	unsigned body_timeout_s;     /* the whole of a request's body, default 60 */
	unsigned max_connections;    /* default 1000, plus http_conn_reserve() */
	unsigned max_per_ip;         /* concurrent connections per IP, default 0 = none */
	unsigned workers;            /* handler threads, default 32 */
	unsigned loop_threads;       /* event loop threads, default 2 */
};

#define HTTP_DEFAULT_MAX_CONNECTIONS 1000
#define HTTP_DEFAULT_HEADER_TIMEOUT 10
#define HTTP_DEFAULT_BODY_TIMEOUT 60
#define HTTP_DEFAULT_IDLE_TIMEOUT 60
#define HTTP_DEFAULT_WORKERS 32
#define HTTP_DEFAULT_LOOP_THREADS 2
/* Connections accepted past max_connections only to be answered 503. */
unsigned http_conn_reserve(unsigned max_connections);

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
