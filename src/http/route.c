/* Route patterns: literal segments and one-segment captures (route.h). */
#include "http/route.h"

#include <stdio.h>
#include <string.h>

bool http_route_match(const char *pattern, const char *path, struct http_route_caps *caps)
{
	memset(caps, 0, sizeof *caps);
	const char *p = pattern, *s = path;
	while (*p == '/' && *s == '/') {
		p++;
		s++;
		size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
		if (sl == 0)
			return false; /* an empty segment: "//" or a trailing slash */
		if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (caps->n == HTTP_ROUTE_CAPS || sl > HTTP_ROUTE_CAP_MAX)
				return false;
			memcpy(caps->v[caps->n], s, sl);
			caps->v[caps->n++][sl] = 0;
		} else if (pl != sl || memcmp(p, s, sl) != 0) {
			return false;
		}
		p += pl;
		s += sl;
	}
	return !*p && !*s;
}

bool http_route_method_ok(const char *route_method, const char *method)
{
	return !strcmp(route_method, method) ||
	       (!strcmp(route_method, "GET") && !strcmp(method, "HEAD"));
}

static void allow_one(char *allow, size_t n, const char *m)
{
	size_t ml = strlen(m);
	for (const char *a = allow; *a; a += strspn(a, ", ")) {
		size_t l = strcspn(a, ",");
		if (l == ml && !memcmp(a, m, ml))
			return;
		a += l;
	}
	size_t used = strlen(allow);
	snprintf(allow + used, n - used, "%s%s", used ? ", " : "", m);
}

void http_route_allow_add(char *allow, size_t n, const char *route_method)
{
	allow_one(allow, n, route_method);
	if (!strcmp(route_method, "GET"))
		allow_one(allow, n, "HEAD");
}
