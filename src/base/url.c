/*
 * Strict URL and Host parsing (threats.md A16). Hosts are compared only
 * after this parse: lower-cased, without a trailing dot, with the port made
 * explicit.
 */
#include "base/url.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Hosts -------------------------------------------------------------- */

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_hex(int ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* A label that an IPv4 number parser (inet_aton, WHATWG) would read as a
 * number: decimal, 0x-hex, or octal. */
static bool numeric_label(const char *s, size_t n)
{
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (size_t i = 2; i < n; i++)
			if (!is_hex(s[i]))
				return false;
		return true;
	}
	return all_digits(s, n);
}

/* Canonical dotted quad: four decimal labels 0..255 without leading zeros. */
static bool canonical_ipv4(const char *s, size_t n)
{
	size_t labels = 0, i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != '.')
			j++;
		size_t len = j - i;
		if (!all_digits(s + i, len) || len > 3 || (len > 1 && s[i] == '0'))
			return false;
		int v = 0;
		for (size_t k = i; k < j; k++)
			v = v * 10 + (s[k] - '0');
		if (v > 255)
			return false;
		labels++;
		i = j + 1;
		if (j == n)
			break;
	}
	return labels == 4;
}

/* Validates and normalises host text (no brackets) into out. */
static int host_normalize(const char *s, size_t n, bool bracketed, struct aim_buf *out,
			  bool *is_v6, bool *is_v4)
{
	*is_v6 = *is_v4 = false;
	if (bracketed) {
		char tmp[64];
		ENSURE(n > 0 && n < sizeof tmp, AIM_ERR_DECODE, "url: bad IPv6 literal");
		memcpy(tmp, s, n);
		tmp[n] = 0;
		/* zone identifiers (%25...) and IPvFuture are refused: inet_pton
		 * accepts neither */
		struct in6_addr a;
		ENSURE(inet_pton(AF_INET6, tmp, &a) == 1, AIM_ERR_DECODE, "url: bad IPv6 literal");
		char norm[INET6_ADDRSTRLEN];
		ENSURE(inet_ntop(AF_INET6, &a, norm, sizeof norm) != NULL, AIM_ERR_DECODE,
		       "url: bad IPv6 literal");
		*is_v6 = true;
		return aim_buf_append_str(out, norm);
	}
	/* a single trailing dot names the same host (A16) */
	if (n > 0 && s[n - 1] == '.')
		n--;
	ENSURE(n > 0 && n <= 253, AIM_ERR_DECODE, "url: empty or overlong host");
	size_t start = 0;
	const char *last = s;
	size_t last_len = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			char ch = s[i];
			ENSURE((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
				       ch == '-' || ch == '_',
			       AIM_ERR_DECODE, "url: bad character in host");
			continue;
		}
		size_t len = i - start;
		ENSURE(len >= 1 && len <= 63, AIM_ERR_DECODE, "url: empty or overlong host label");
		last = s + start;
		last_len = len;
		start = i + 1;
	}
	if (numeric_label(last, last_len)) {
		/* WHATWG: a host whose last label is a number is an IPv4 address;
		 * only the canonical form is accepted, so that one address has
		 * one spelling */
		ENSURE(canonical_ipv4(s, n), AIM_ERR_DECODE,
		       "url: IPv4 address in a non-canonical form");
		*is_v4 = true;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		TRY(aim_buf_append_byte(out, (uint8_t)ch));
	}
	return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	ENSURE(n >= 1 && n <= 5 && all_digits(s, n), AIM_ERR_DECODE, "url: bad port");
	unsigned v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	ENSURE(v >= 1 && v <= 65535, AIM_ERR_DECODE, "url: port out of range");
	*port = (uint16_t)v;
	return 0;
}

/* authority = host [ ":" port ], without userinfo. */
static int authority_parse(const char *s, size_t n, struct aim_buf *host, uint16_t *port,
			   bool *is_v6, bool *is_v4)
{
	*port = 0;
	ENSURE(memchr(s, '@', n) == NULL, AIM_ERR_DECODE, "url: userinfo is not accepted");
	const char *h;
	size_t hlen;
	size_t rest;
	bool br = false;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		ENSURE(close != NULL, AIM_ERR_DECODE, "url: unterminated IPv6 literal");
		h = s + 1;
		hlen = (size_t)(close - h);
		rest = (size_t)(close + 1 - s);
		br = true;
	} else {
		const char *colon = memchr(s, ':', n);
		h = s;
		hlen = colon ? (size_t)(colon - s) : n;
		rest = hlen;
	}
	if (rest < n) {
		ENSURE(s[rest] == ':', AIM_ERR_DECODE, "url: junk after host");
		TRY(parse_port(s + rest + 1, n - rest - 1, port));
	}
	return host_normalize(h, hlen, br, host, is_v6, is_v4);
}

int aim_host_parse(const char *authority, struct aim_buf *host_out, uint16_t *port)
{
	ENSURE(authority != NULL, AIM_ERR_DECODE, "host: missing");
	size_t n = strlen(authority);
	ENSURE(n > 0 && n <= 300, AIM_ERR_DECODE, "host: empty or overlong");
	bool v6, v4;
	return authority_parse(authority, n, host_out, port, &v6, &v4);
}

/* ---- URLs --------------------------------------------------------------- */

/* RFC 3986 pchar minus pct-encoded, plus '/' (and '?' in a query). */
static bool is_path_char(int ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch))
		return true;
	return ch > 0 && strchr("-._~!$&'()*+,;=:@/", ch) != NULL;
}

static int check_component(const char *s, size_t n, bool query, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			ENSURE(i + 2 < n, AIM_ERR_DECODE,
			       "url: truncated percent escape in %s", what);
			ENSURE(is_hex(s[i + 1]) && is_hex(s[i + 2]), AIM_ERR_DECODE,
			       "url: bad percent escape in %s", what);
			i += 2;
			continue;
		}
		ENSURE(is_path_char(ch) || (query && ch == '?'), AIM_ERR_DECODE,
		       "url: bad character 0x%02x in %s", ch, what);
	}
	return 0;
}

void aim_url_free(struct aim_url *u)
{
	free(u->host);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof *u);
}

int aim_url_parse(const char *s, struct aim_url *u)
{
	memset(u, 0, sizeof *u);
	ENSURE(s != NULL, AIM_ERR_DECODE, "url: missing");
	size_t n = strlen(s);
	ENSURE(n > 0 && n <= AIM_URL_MAX, AIM_ERR_DECODE, "url: empty or overlong");
	size_t slen;
	if (strncasecmp(s, "https://", 8) == 0) {
		strcpy(u->scheme, "https");
		u->port = 443;
		slen = 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		strcpy(u->scheme, "http");
		u->port = 80;
		slen = 7;
	} else {
		const char *colon = strchr(s, ':');
		bool scheme_like = colon && colon != s;
		return aim_fail(scheme_like ? AIM_ERR_UNSUPPORTED : AIM_ERR_DECODE,
				"url: only http and https URLs are accepted");
	}
	const char *a = s + slen;
	size_t alen = strcspn(a, "/?#");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		ENSURE(ch > 0x20 && ch < 0x7f && ch != '\\', AIM_ERR_DECODE,
		       "url: whitespace, control, backslash or non-ASCII character");
	}
	struct aim_buf host;
	aim_buf_init(&host, 512);
	uint16_t port = 0;
	if (authority_parse(a, alen, &host, &port, &u->host_ipv6, &u->host_ipv4) != 0) {
		aim_buf_free(&host);
		return -1;
	}
	u->host = (char *)aim_buf_steal(&host, NULL);
	if (port) {
		u->port = port;
		u->port_explicit = true;
	}
	const char *p = a + alen;
	const char *end = s + n;
	const char *hash = strchr(p, '#');
	if (hash) {
		if (check_component(hash + 1, (size_t)(end - hash - 1), true, "fragment") != 0)
			goto fail;
		end = hash;
	}
	const char *q = memchr(p, '?', (size_t)(end - p));
	const char *pend = q ? q : end;
	if (check_component(p, (size_t)(pend - p), false, "path") != 0)
		goto fail;
	if (pend == p)
		u->path = aim_xstrdup("/");
	else
		u->path = aim_xstrndup(p, (size_t)(pend - p));
	if (q) {
		if (check_component(q + 1, (size_t)(end - q - 1), true, "query") != 0)
			goto fail;
		u->query = aim_xstrndup(q + 1, (size_t)(end - q - 1));
	}
	return 0;
fail:
	aim_url_free(u);
	return -1;
}

static bool default_port(const struct aim_url *u)
{
	return (strcmp(u->scheme, "https") == 0 && u->port == 443) ||
	       (strcmp(u->scheme, "http") == 0 && u->port == 80);
}

int aim_url_authority(const struct aim_url *u, struct aim_buf *out)
{
	if (u->host_ipv6)
		TRY(aim_buf_printf(out, "[%s]", u->host));
	else
		TRY(aim_buf_append_str(out, u->host));
	if (!default_port(u))
		TRY(aim_buf_printf(out, ":%u", (unsigned)u->port));
	return 0;
}

int aim_url_origin(const struct aim_url *u, struct aim_buf *out)
{
	TRY(aim_buf_printf(out, "%s://", u->scheme));
	return aim_url_authority(u, out);
}

int aim_url_target(const struct aim_url *u, struct aim_buf *out)
{
	TRY(aim_buf_append_str(out, u->path));
	if (u->query)
		TRY(aim_buf_printf(out, "?%s", u->query));
	return 0;
}

int aim_url_format(const struct aim_url *u, struct aim_buf *out)
{
	TRY(aim_url_origin(u, out));
	return aim_url_target(u, out);
}

bool aim_url_same_origin(const struct aim_url *a, const struct aim_url *b)
{
	return a->host && b->host && strcmp(a->scheme, b->scheme) == 0 &&
	       strcmp(a->host, b->host) == 0 && a->port == b->port;
}

bool aim_url_same_host(const char *a, const char *b)
{
	struct aim_url ua = { 0 }, ub = { 0 };
	bool same = false;
	if (aim_url_parse(a, &ua) == 0 && aim_url_parse(b, &ub) == 0)
		same = strcmp(ua.host, ub.host) == 0;
	aim_url_free(&ua);
	aim_url_free(&ub);
	return same;
}

/* Normalised form of a URL, or NULL if it does not parse. */
static char *url_normal(const char *s)
{
	struct aim_url u = { 0 };
	struct aim_buf b;
	aim_buf_init(&b, AIM_URL_MAX + 16);
	char *out = NULL;
	if (aim_url_parse(s, &u) == 0 && aim_url_format(&u, &b) == 0)
		out = (char *)aim_buf_steal(&b, NULL);
	aim_url_free(&u);
	aim_buf_free(&b);
	return out;
}

bool aim_url_equal(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	char *x = url_normal(a), *y = url_normal(b);
	bool eq = x && y && !strcmp(x, y);
	free(x);
	free(y);
	return eq;
}

bool aim_url_origin_equal(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	struct aim_url x = { 0 }, y = { 0 };
	bool eq = aim_url_parse(a, &x) == 0 && aim_url_parse(b, &y) == 0 &&
		  aim_url_same_origin(&x, &y);
	aim_url_free(&x);
	aim_url_free(&y);
	return eq;
}

bool aim_url_valid(const char *s)
{
	struct aim_url u = { 0 };
	bool ok = s && aim_url_parse(s, &u) == 0;
	aim_url_free(&u);
	return ok;
}
