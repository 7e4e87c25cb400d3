/*
 * http/route: a request path against a route pattern, without I/O.
 *
 * A pattern is a path of '/'-separated segments. A literal segment matches
 * the same bytes (case-sensitive); "{name}" captures one non-empty segment.
 * The path is split on '/' only: the HTTP server hands over a path that
 * holds an encoded slash undecoded (server.c), so "%2F" stays inside its
 * segment and never splits a route. No segment of a match is empty, so a
 * trailing or doubled slash matches nothing.
 *
 * A route's method "GET" also answers HEAD (the server drops HEAD bodies).
 */
#ifndef AIM_HTTP_ROUTE_H
#define AIM_HTTP_ROUTE_H

#include "base/base.h"

#define HTTP_ROUTE_CAPS 2      /* captures per pattern at most */
#define HTTP_ROUTE_CAP_MAX 128 /* bytes of one captured segment at most */

struct http_route_caps {
	size_t n;
	char v[HTTP_ROUTE_CAPS][HTTP_ROUTE_CAP_MAX + 1];
};

/* Whether path matches pattern; the captures in order. A segment longer
 * than HTTP_ROUTE_CAP_MAX captured is no match. */
bool http_route_match(const char *pattern, const char *path, struct http_route_caps *caps);
/* Whether a request method is served by a route of route_method. */
bool http_route_method_ok(const char *route_method, const char *method);
/* Appends route_method (and HEAD after GET) to an Allow list "GET, HEAD,
 * POST" unless already there. */
void http_route_allow_add(char *allow, size_t n, const char *route_method);

#endif
