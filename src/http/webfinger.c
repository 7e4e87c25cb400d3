/*
 * WebFinger client parts: acct: URIs, the lookup URL, JRD parsing.
 */
#include "http/webfinger.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "base/url.h"

#define WF_AS_PROFILE "https://www.w3.org/ns/activitystreams"

void http_wf_acct_free(struct wf_acct *a)
{
	if (!a)
		return;
	free(a->user);
	free(a->host);
	free(a->authority);
	memset(a, 0, sizeof *a);
}

bool http_wf_is_acct(const char *s)
{
	return s && strncasecmp(s, "acct:", 5) == 0;
}

static bool is_user_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '~' || ch == '-';
}

int http_wf_acct_parse(const char *s, struct wf_acct *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(s != NULL, AIM_ERR_DECODE, "acct: missing");
	size_t n = strlen(s);
	ENSURE(n <= 5 + WF_USER_MAX + 1 + 300, AIM_ERR_DECODE, "acct: overlong");
	/* RFC 7565: acctURI = "acct" ":" userpart "@" host */
	ENSURE(http_wf_is_acct(s), AIM_ERR_DECODE, "acct: not an acct: URI");
	const char *rest = s + 5;
	const char *at = strchr(rest, '@');
	ENSURE(at != NULL, AIM_ERR_DECODE, "acct: no '@'");
	ENSURE(strchr(at + 1, '@') == NULL, AIM_ERR_DECODE, "acct: more than one '@'");
	size_t ulen = (size_t)(at - rest);
	ENSURE(ulen > 0 && ulen <= WF_USER_MAX, AIM_ERR_DECODE, "acct: empty or overlong user");
	for (size_t i = 0; i < ulen; i++)
		ENSURE(is_user_char((unsigned char)rest[i]), AIM_ERR_DECODE,
		       "acct: bad character 0x%02x in user", (unsigned char)rest[i]);
	const char *hp = at + 1;
	ENSURE(*hp != '\0', AIM_ERR_DECODE, "acct: empty host");
	/* Only an authority: the URL parse below would accept a path or query. */
	ENSURE(strcspn(hp, "/?#\\ ") == strlen(hp), AIM_ERR_DECODE,
	       "acct: host part is not a bare authority");
	char *url = aim_xasprintf("https://%s/", hp);
	struct aim_url u = { 0 };
	struct aim_buf auth;
	aim_buf_init(&auth, 400);
	int rc = 0;
	if (aim_url_parse(url, &u) != 0) {
		rc = aim_fail(AIM_ERR_DECODE, "acct: bad host: %s", aim_errmsg());
		goto out;
	}
	TRY_GOTO(aim_url_authority(&u, &auth), out);
	out->user = aim_xstrndup(rest, ulen);
	out->host = aim_xstrdup(u.host);
	out->port = u.port;
	out->authority = (char *)aim_buf_steal(&auth, NULL);
out:
	free(url);
	aim_url_free(&u);
	aim_buf_free(&auth);
	if (rc != 0)
		http_wf_acct_free(out);
	return rc;
}

int http_wf_acct_format(const struct wf_acct *a, struct aim_buf *out)
{
	return aim_buf_printf(out, "acct:%s@%s", a->user, a->authority);
}

bool http_wf_acct_equal(const struct wf_acct *a, const struct wf_acct *b)
{
	return a->user && b->user && !strcmp(a->user, b->user) && a->host && b->host &&
	       !strcmp(a->host, b->host) && a->port == b->port;
}

bool http_wf_acct_at(const struct wf_acct *a, const char *authority)
{
	if (!a->host || !authority)
		return false;
	char *s = aim_xasprintf("acct:x@%s", authority);
	struct wf_acct b;
	bool eq = http_wf_acct_parse(s, &b) == 0 && !strcmp(a->host, b.host) && a->port == b.port;
	if (!eq)
		aim_errclear();
	http_wf_acct_free(&b);
	free(s);
	return eq;
}

static bool is_unreserved(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int http_wf_lookup_url(const struct wf_acct *a, struct aim_buf *out)
{
	struct aim_buf res;
	aim_buf_init(&res, 512);
	int rc = 0;
	TRY_GOTO(http_wf_acct_format(a, &res), out);
	TRY_GOTO(aim_buf_printf(out, "https://%s/.well-known/webfinger?resource=", a->authority),
		 out);
	for (size_t i = 0; i < res.len; i++) {
		int ch = res.data[i];
		if (is_unreserved(ch))
			TRY_GOTO(aim_buf_append_byte(out, (uint8_t)ch), out);
		else
			TRY_GOTO(aim_buf_printf(out, "%%%02X", (unsigned)ch), out);
	}
out:
	aim_buf_free(&res);
	return rc;
}

/* ---- JRD ------------------------------------------------------------------- */

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Whether the parameter list ps (after the first ';') has a profile naming
 * ActivityStreams (the value may be quoted and a space-separated list). */
static bool has_as_profile(const char *ps)
{
	while (*ps) {
		ps = skip_ws(ps);
		size_t n = strcspn(ps, ";");
		if (n > 8 && !strncasecmp(ps, "profile=", 8)) {
			const char *v = ps + 8;
			size_t vn = n - 8;
			while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
				vn--;
			if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
				v++;
				vn -= 2;
			}
			size_t plen = strlen(WF_AS_PROFILE);
			for (size_t i = 0; i + plen <= vn; i++) {
				bool start = i == 0 || v[i - 1] == ' ';
				bool end = i + plen == vn || v[i + plen] == ' ';
				if (start && end && !strncmp(v + i, WF_AS_PROFILE, plen))
					return true;
			}
		}
		ps += n;
		if (*ps == ';')
			ps++;
	}
	return false;
}

bool http_wf_is_as_type(const char *type)
{
	if (!type)
		return false;
	const char *t = skip_ws(type);
	size_t n = strcspn(t, "; \t");
	const char *after = skip_ws(t + n);
	if (n == 25 && !strncasecmp(t, "application/activity+json", n))
		return *after == '\0' || *after == ';';
	if (n == 19 && !strncasecmp(t, "application/ld+json", n))
		return *after == ';' && has_as_profile(after + 1);
	return false;
}

void http_wf_jrd_free(struct wf_jrd *j)
{
	if (!j)
		return;
	free(j->subject);
	free(j->self);
	memset(j, 0, sizeof *j);
}

static bool is_http_href(const char *s)
{
	struct aim_url u = { 0 };
	bool ok = aim_url_parse(s, &u) == 0;
	aim_url_free(&u);
	return ok;
}

int http_wf_jrd_parse(const uint8_t *p, size_t n, struct wf_jrd *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(n <= WF_JRD_MAX, AIM_ERR_LIMIT, "jrd: %zu bytes, at most %d", n, WF_JRD_MAX);
	json_t *doc = NULL;
	TRY(ap_json_parse_object(p, n, &doc));
	int rc = 0;
	const json_t *subj = json_object_get(doc, "subject");
	ENSURE_GOTO(subj == NULL || json_is_string(subj), out, AIM_ERR_INVALID,
		    "jrd: subject is not a string");
	if (subj)
		out->subject = aim_xstrdup(json_string_value(subj));
	const json_t *links = json_object_get(doc, "links");
	if (!links)
		goto out;
	ENSURE_GOTO(json_is_array(links), out, AIM_ERR_INVALID, "jrd: links is not an array");
	size_t i;
	const json_t *l;
	json_array_foreach(links, i, l)
	{
		if (i >= WF_LINKS_MAX)
			break;
		if (!json_is_object(l))
			continue;
		const char *rel = json_string_value(json_object_get(l, "rel"));
		const char *type = json_string_value(json_object_get(l, "type"));
		const char *href = json_string_value(json_object_get(l, "href"));
		if (!rel || strcmp(rel, "self") != 0 || !http_wf_is_as_type(type) || !href)
			continue;
		if (!is_http_href(href))
			continue;
		out->self = aim_xstrdup(href);
		break;
	}
out:
	json_decref(doc);
	if (rc != 0)
		http_wf_jrd_free(out);
	return rc;
}
