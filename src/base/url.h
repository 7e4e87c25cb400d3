/*
 * base/url: strict parsing and comparison of http(s) URLs and Host values,
 * without I/O (threats.md A16: hosts are compared only after this parse).
 *
 * Every layer that compares or builds URLs uses this one parser: src/ap
 * (origin rules, actor documents), src/http (signatures, the client, its
 * SSRF guard, WebFinger) and src/server. It sits in base, not in http,
 * because src/ap is above http and must not include it (DESIGN.md section 2).
 *
 * A URL parsed here has scheme http or https, no userinfo, a lower-cased
 * host without trailing dot (a DNS name, a canonical dotted-quad IPv4
 * address, or an IPv6 literal), a port (explicit, or the scheme's default),
 * a path of RFC 3986 characters (at least "/") and an optional query; a
 * fragment is validated and dropped. Results follow base.h.
 */
#ifndef AIM_BASE_URL_H
#define AIM_BASE_URL_H

#include "base/base.h"

#define AIM_URL_MAX 8192        /* longest URL accepted by aim_url_parse */

struct aim_url {
	char scheme[6];  /* "http" or "https" */
	char *host;      /* lower-case, no trailing dot; IPv6 without brackets */
	bool host_ipv6;
	bool host_ipv4;
	uint16_t port;   /* explicit, or 80 / 443 */
	bool port_explicit;
	char *path;      /* begins with '/'; "/" when the URL had none */
	char *query;     /* without '?'; NULL when absent ("" for a bare '?') */
};

/* Strict absolute-URL parse (A16): scheme http or https (case-insensitive),
 * "//", no userinfo, a host that is a DNS name of [a-z0-9-_] labels, a
 * canonical dotted-quad IPv4 address or a bracketed IPv6 literal (no zone),
 * optional port 1..65535, then path and query of RFC 3986 characters; a
 * fragment is dropped. Whitespace, control characters, backslashes,
 * non-ASCII, percent-encoded hosts and number forms like `0x7f.1` are
 * refused with AIM_ERR_DECODE (AIM_ERR_UNSUPPORTED for another scheme).
 * On failure *u is left empty; free with aim_url_free() either way. */
int aim_url_parse(const char *s, struct aim_url *u) AIM_WARN_UNUSED;
void aim_url_free(struct aim_url *u);
/* Appends "host" or "host:port" (port only if not the scheme's default),
 * IPv6 in brackets: the normalised authority. */
int aim_url_authority(const struct aim_url *u, struct aim_buf *out) AIM_WARN_UNUSED;
/* Appends "scheme://authority". */
int aim_url_origin(const struct aim_url *u, struct aim_buf *out) AIM_WARN_UNUSED;
/* Appends path[?query]. */
int aim_url_target(const struct aim_url *u, struct aim_buf *out) AIM_WARN_UNUSED;
/* Appends the normalised full URL (scheme://authority/path[?query]). */
int aim_url_format(const struct aim_url *u, struct aim_buf *out) AIM_WARN_UNUSED;
/* Same scheme, host and port. */
bool aim_url_same_origin(const struct aim_url *a, const struct aim_url *b);
/* Parses a Host header value ("host" / "host:port" / "[v6]:port") with the
 * same host rules; *port is 0 when absent. Appends the lower-cased host
 * without trailing dot (and without brackets) to host_out. */
int aim_host_parse(const char *authority, struct aim_buf *host_out, uint16_t *port) AIM_WARN_UNUSED;

/* ---- Comparisons of URL strings (false when either does not parse) ------- */

/* The same host. */
bool aim_url_same_host(const char *a, const char *b);
/* The same URL after the parse and normalisation (scheme and host case, a
 * default port, a trailing dot, an empty path, the fragment). */
bool aim_url_equal(const char *a, const char *b);
/* The same scheme, host and port. */
bool aim_url_origin_equal(const char *a, const char *b);
/* Whether s parses as an http(s) URL. */
bool aim_url_valid(const char *s);

#endif
