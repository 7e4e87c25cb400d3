/*
 * http/webfinger: the pure parts of a WebFinger client (RFC 7033, RFC 7565).
 *
 * - acct: URIs are parsed strictly: "acct:" then a user part of
 *   [A-Za-z0-9._~-] (1..WF_USER_MAX), exactly one '@', then a host that
 *   passes the same parse as a URL's host (aim_url_parse of https://HOST/:
 *   lower-cased, no userinfo, no path); an explicit port is kept (test
 *   federations listen on ports) unless it is 443. "user@host@evil",
 *   empty parts, percent escapes and anything after the host are refused.
 * - The lookup URL is https://AUTHORITY/.well-known/webfinger?resource=
 *   with the canonical acct: URI percent-encoded.
 * - A JRD is parsed with a size cap and the ActivityStreams depth-checked
 *   parser; the self link is the first rel="self" link whose type is
 *   application/activity+json or application/ld+json with the
 *   ActivityStreams profile, and whose href is an http(s) URL.
 *
 * No I/O here: the server fetches through the guarded client.
 */
#ifndef AIM_HTTP_WEBFINGER_H
#define AIM_HTTP_WEBFINGER_H

#include "base/base.h"

#define WF_USER_MAX 64
#define WF_JRD_MAX (64 * 1024) /* bytes of a JRD accepted */
#define WF_LINKS_MAX 64        /* links looked at */

struct wf_acct {
	char *user;      /* as given (case kept) */
	char *host;      /* lower-case host, IPv6 without brackets */
	uint16_t port;   /* 443 unless explicit */
	char *authority; /* "host" or "host:port" (port only if not 443), v6 bracketed */
};

/* Parses "acct:user@host[:port]". AIM_ERR_DECODE on any malformed input.
 * Free with http_wf_acct_free() either way. */
int http_wf_acct_parse(const char *s, struct wf_acct *out) AIM_WARN_UNUSED;
void http_wf_acct_free(struct wf_acct *a);
/* Appends the canonical form "acct:user@authority". */
int http_wf_acct_format(const struct wf_acct *a, struct aim_buf *out) AIM_WARN_UNUSED;
/* Same user (exact) and same authority (hosts compared after the parse). */
bool http_wf_acct_equal(const struct wf_acct *a, const struct wf_acct *b);
/* Whether a's host and port are those of authority ("host" or "host:port",
 * parsed like an acct: URI's host; no port means 443). */
bool http_wf_acct_at(const struct wf_acct *a, const char *authority);
/* Whether s looks like an acct: URI (scheme check only, case-insensitive). */
bool http_wf_is_acct(const char *s);
/* Appends https://AUTHORITY/.well-known/webfinger?resource=acct%3A... */
int http_wf_lookup_url(const struct wf_acct *a, struct aim_buf *out) AIM_WARN_UNUSED;

struct wf_jrd {
	char *subject;   /* NULL if absent */
	char *self;      /* the ActivityPub actor link's href; NULL if none */
};

/* Parses a JRD of n bytes (at most WF_JRD_MAX). AIM_ERR_LIMIT over the cap,
 * AIM_ERR_DECODE / AIM_ERR_INVALID for a malformed document. A JRD without
 * an ActivityPub self link parses (self stays NULL). Free with
 * http_wf_jrd_free() either way. */
int http_wf_jrd_parse(const uint8_t *p, size_t n, struct wf_jrd *out) AIM_WARN_UNUSED;
void http_wf_jrd_free(struct wf_jrd *j);

/* Whether a link type names an ActivityStreams document. */
bool http_wf_is_as_type(const char *type);

#endif
