/*
 * http/client: the guarded outbound HTTP client (libcurl multi) and its
 * SSRF guard.
 *
 * Every request a server makes on behalf of a remote party (key, actor,
 * object, WebFinger, delivery) goes through here, so the guard is in one
 * place (threats.md A17-A19):
 *
 * - The URL is parsed strictly (aim_url_parse: http/https only).
 * - The host is resolved here (getaddrinfo), every candidate address is
 *   classified (http_ssrf_classify), non-public ones are refused unless the
 *   options allow them, and the checked address is pinned with
 *   CURLOPT_CONNECT_TO; an open-socket hook refuses any other address, so
 *   DNS rebinding cannot switch it.
 * - Redirects are followed here, not by curl: at most max_redirects, each
 *   hop parsed and guarded again; non-HTTP(S) targets are refused. 303 (and
 *   301/302 after a POST) continue as GET; a 307/308 that keeps a POST's
 *   method and body is followed only within the first URL's origin. A
 *   signed request is signed again for every hop; Authorization and Cookie
 *   headers are dropped once the fetch leaves the first origin.
 * - connect_to entries ("HOST:PORT:ADDR:PORT", curl's CURLOPT_CONNECT_TO
 *   syntax; empty HOST or PORT match any) map names to other addresses for
 *   local federations; the mapped address is guarded like any other.
 * - Connect and total timeouts; the response body is capped (default
 *   1 MiB: the transfer is aborted past it); headers are capped.
 * - Environment proxies are ignored; no content decoding is asked for.
 *
 * client_multi runs many transfers concurrently on one thread; http_client_fetch
 * is the blocking wrapper for tests and command-line tools. Name resolution
 * (getaddrinfo) blocks the calling thread while a hop starts.
 *
 * Errors: AIM_ERR_DENIED (address or scheme refused by the guard),
 * AIM_ERR_UNSUPPORTED / AIM_ERR_DECODE (bad URL asked for), AIM_ERR_LIMIT
 * (body, headers or redirect count over the cap), AIM_ERR_TIMEOUT,
 * AIM_ERR_NOHOST (the name does not exist), AIM_ERR_REMOTE (resolution,
 * connection, TLS or protocol failure, a Location that is not a URL). An
 * HTTP error status is not a failure: it is returned in the response.
 */
#ifndef AIM_HTTP_CLIENT_H
#define AIM_HTTP_CLIENT_H

#include "base/base.h"
#include "http/sig.h"

#include <sys/socket.h>

/* ---- SSRF guard --------------------------------------------------------- */

enum ssrf_class {
	SSRF_PUBLIC = 0,
	SSRF_UNSPECIFIED,   /* 0.0.0.0/8, :: */
	SSRF_LOOPBACK,      /* 127/8, ::1 */
	SSRF_PRIVATE,       /* RFC 1918, ULA fc00::/7 */
	SSRF_LINK_LOCAL,    /* 169.254/16 (cloud metadata), fe80::/10 */
	SSRF_CGNAT,         /* 100.64/10 */
	SSRF_MULTICAST,     /* 224/4, ff00::/8 */
	SSRF_BROADCAST,     /* 255.255.255.255 */
	SSRF_DOCUMENTATION, /* 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32 */
	SSRF_RESERVED,      /* 240/4, 192.0.0/24, 198.18/15, outside 2000::/3, ... */
	SSRF_NAT64,         /* 64:ff9b::/96, 64:ff9b:1::/48 */
	SSRF_TEREDO,        /* 2001::/32 */
	/* (IPv4-mapped ::ffff:0:0/96 and 6to4 2002::/16 take the class of the
	 * embedded IPv4 address; a 6to4 address with a public one is public) */
};

/* Class of an IPv4 address (network byte order in a[4]) / IPv6 address. */
enum ssrf_class http_ssrf_classify_v4(const uint8_t a[4]);
enum ssrf_class http_ssrf_classify_v6(const uint8_t a[16]);
/* Of a sockaddr_in / sockaddr_in6; other families are SSRF_RESERVED. */
enum ssrf_class http_ssrf_classify(const struct sockaddr *sa);
/* Of a numeric address string; -1 (AIM_ERR_DECODE) if it is not one. */
int http_ssrf_classify_str(const char *addr, enum ssrf_class *out) AIM_WARN_UNUSED;
const char *http_ssrf_class_name(enum ssrf_class c);
/* May the guard connect to an address of class c under these switches? */
bool http_ssrf_allowed(enum ssrf_class c, bool allow_private, bool allow_loopback);

/* ---- Options ------------------------------------------------------------ */

struct client_opts {
	long connect_timeout_ms;   /* 5000 */
	long timeout_ms;           /* 20000, for the whole fetch incl. redirects */
	size_t max_body;           /* 1 MiB */
	size_t max_header_bytes;   /* 64 KiB */
	int max_redirects;         /* 5; 0 = do not follow */
	bool allow_private;        /* permit every non-public address (tests, LANs) */
	bool allow_loopback;       /* permit loopback only */
	const char *const *connect_to; /* "HOST:PORT:ADDR:PORT" entries */
	size_t n_connect_to;
	const char *ca_file;       /* CA bundle (PEM) to trust instead of the system's */
	const char *user_agent;    /* "aim/0.1" */
	/* Name resolution; NULL = getaddrinfo. Fills at most max addresses
	 * (ports ignored) and sets *n; -1 with a reason on failure. Never
	 * called for numeric hosts. For servers with their own resolver or
	 * cache, and for tests (DNS rebinding). */
	int (*resolve)(void *ctx, const char *name, struct sockaddr_storage *addrs, size_t max,
		       size_t *n);
	void *resolve_ctx;
};

void http_client_opts_default(struct client_opts *o);

/* ---- Requests and responses ----------------------------------------------- */

struct client_request {
	const char *method;            /* NULL = "GET" */
	const char *url;
	const struct sig_field *headers; /* extra request headers (Accept, ...) */
	size_t n_headers;
	bool has_body;
	struct aim_bytes body;
	/* If set, every hop is signed (http_sig_sign_request) for its own URL. The
	 * key is borrowed: it must outlive the transfer. */
	const struct sig_signer *signer;
};

struct client_response {
	long status;
	char *content_type;  /* NULL if none */
	char *final_url;     /* the URL of the last hop */
	char *remote_ip;     /* the address actually connected */
	int redirects;       /* hops followed */
	struct aim_buf body;
	struct sig_fields headers; /* of the final response */
};

void http_client_response_free(struct client_response *r);

/* Blocking fetch. 0 with *out filled (any HTTP status), or -1. */
int http_client_fetch(const struct client_opts *o, const struct client_request *req,
		 struct client_response *out) AIM_WARN_UNUSED;

/* ---- Concurrent transfers ------------------------------------------------ */

struct client_multi;

/* Called once per transfer from http_client_multi_run(). On success rc is 0 and
 * resp is filled (the callee takes ownership: free with
 * http_client_response_free); on failure rc is -1, err/msg say why and resp is
 * empty. */
typedef void (*client_done_fn)(void *ctx, int rc, enum aim_err err, const char *msg,
			       struct client_response *resp);

/* A multi keeps the connections its transfers opened (keep-alive, up to 64
 * idle, HTTP/2 where the TLS peer offers it, transfers to one HTTP/2 host
 * multiplexed on one connection): a long-lived multi reuses them. A
 * connection is reused only for the same host, port, pinned address and TLS
 * settings, so the guard's checks made when it was opened still hold. */
struct client_multi *http_client_multi_new(void);
/* Makes a http_client_multi_run() waiting in another thread return early.
 * Safe from any thread while m lives. */
void http_client_multi_wakeup(struct client_multi *m);
/* Aborts every unfinished transfer (their callbacks are not called). */
void http_client_multi_free(struct client_multi *m);
/* Copies o and req (strings, headers, body); the signer's key stays borrowed. */
int http_client_multi_add(struct client_multi *m, const struct client_opts *o,
		     const struct client_request *req, client_done_fn done, void *ctx)
	AIM_WARN_UNUSED;
/* Drives transfers for at most wait_ms milliseconds, calling done callbacks
 * as they finish; returns early once one finished or after a wakeup.
 * Returns the number still running. */
int http_client_multi_run(struct client_multi *m, int wait_ms);

#endif
