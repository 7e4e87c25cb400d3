/*
 * draft-cavage-http-signatures-12: parsing the Signature header and
 * building the signing string (sections 2.1 - 2.3).
 */
#include "http/sig.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_sig_cavage_params_free(struct sig_cavage_params *p)
{
	free(p->key_id);
	free(p->algorithm);
	free(p->headers);
	aim_buf_free(&p->signature);
	memset(p, 0, sizeof *p);
	aim_buf_init(&p->signature, 1024);
}

static bool is_name_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_' || ch == '.';
}

static int parse_int_text(const char *s, size_t n, bool allow_fraction, int64_t *out)
{
	/* digits, and for expires an optional ".digits" (section 2.1.5) */
	size_t i = 0;
	int64_t v = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		ENSURE(i < 15, AIM_ERR_DECODE, "signature: timestamp too long");
		v = v * 10 + (s[i] - '0');
		i++;
	}
	ENSURE(i > 0, AIM_ERR_DECODE, "signature: timestamp is not an integer");
	if (i < n && allow_fraction && s[i] == '.') {
		size_t j = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		ENSURE(i > j && i - j <= 9, AIM_ERR_DECODE, "signature: bad fraction");
	}
	ENSURE(i == n, AIM_ERR_DECODE, "signature: timestamp is not an integer");
	*out = v;
	return 0;
}

static int set_string(char **dst, const char *name, const char *v, size_t n)
{
	/* draft 2.2: "If any of the parameters listed above are erroneously
	 * duplicated in the associated header field, then the the signature
	 * MUST NOT be processed." */
	ENSURE(*dst == NULL, AIM_ERR_DECODE, "signature: duplicate %s parameter", name);
	*dst = aim_xstrndup(v, n);
	return 0;
}

static int parse_one(struct sig_cavage_params *out, const char *name, size_t nlen,
		     const char *v, size_t vlen, bool quoted, bool *seen_sig)
{
#define NAME_IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
	if (NAME_IS("keyId")) {
		ENSURE(quoted, AIM_ERR_DECODE, "signature: keyId must be a quoted string");
		ENSURE(vlen > 0 && vlen <= SIG_MAX_KEYID, AIM_ERR_DECODE,
		       "signature: empty or overlong keyId");
		return set_string(&out->key_id, "keyId", v, vlen);
	}
	if (NAME_IS("algorithm")) {
		ENSURE(quoted, AIM_ERR_DECODE, "signature: algorithm must be a quoted string");
		return set_string(&out->algorithm, "algorithm", v, vlen);
	}
	if (NAME_IS("headers")) {
		ENSURE(quoted, AIM_ERR_DECODE, "signature: headers must be a quoted string");
		/* 2.1.6: "A zero-length `headers` parameter value MUST NOT be used" */
		ENSURE(vlen > 0, AIM_ERR_DECODE, "signature: empty headers parameter");
		return set_string(&out->headers, "headers", v, vlen);
	}
	if (NAME_IS("signature")) {
		ENSURE(quoted, AIM_ERR_DECODE, "signature: signature must be a quoted string");
		ENSURE(!*seen_sig, AIM_ERR_DECODE, "signature: duplicate signature parameter");
		*seen_sig = true;
		ENSURE(vlen > 0, AIM_ERR_DECODE, "signature: empty signature");
		if (aim_b64_decode(&out->signature, v, vlen) != 0)
			return aim_fail(AIM_ERR_DECODE, "signature: signature is not base64");
		return 0;
	}
	if (NAME_IS("created")) {
		ENSURE(!out->has_created, AIM_ERR_DECODE, "signature: duplicate created parameter");
		ENSURE(!quoted, AIM_ERR_DECODE, "signature: created must be an integer");
		TRY(parse_int_text(v, vlen, false, &out->created));
		out->has_created = true;
		return 0;
	}
	if (NAME_IS("expires")) {
		ENSURE(!out->has_expires, AIM_ERR_DECODE, "signature: duplicate expires parameter");
		ENSURE(!quoted, AIM_ERR_DECODE, "signature: expires must be an integer");
		TRY(parse_int_text(v, vlen, true, &out->expires));
		out->has_expires = true;
		return 0;
	}
#undef NAME_IS
	/* 2.2: "Any parameter that is not recognized as a parameter, or is not
	 * well-formed, MUST be ignored." (it was well-formed to get here) */
	return 0;
}

int http_sig_cavage_parse(const char *value, struct sig_cavage_params *out)
{
	memset(out, 0, sizeof *out);
	aim_buf_init(&out->signature, 1024);
	ENSURE(value != NULL, AIM_ERR_DECODE, "signature: missing");
	size_t n = strlen(value);
	ENSURE(n > 0 && n <= SIG_MAX_HEADER, AIM_ERR_DECODE, "signature: empty or overlong header");
	size_t i = 0;
	bool seen_sig = false;
	int rc = 0;
	for (;;) {
		while (i < n && (value[i] == ' ' || value[i] == '\t'))
			i++;
		size_t ns = i;
		while (i < n && is_name_char((unsigned char)value[i]))
			i++;
		size_t nlen = i - ns;
		ENSURE_GOTO(nlen > 0 && i < n && value[i] == '=', fail, AIM_ERR_DECODE,
			    "signature: junk at offset %zu", ns);
		i++;
		const char *v;
		size_t vlen;
		bool quoted = false;
		if (i < n && value[i] == '"') {
			quoted = true;
			size_t vs = ++i;
			while (i < n && value[i] != '"') {
				unsigned char ch = (unsigned char)value[i];
				/* no quoted-pairs: no parameter value needs them */
				ENSURE_GOTO(ch >= 0x20 && ch < 0x7f && ch != '\\', fail, AIM_ERR_DECODE,
					    "signature: bad character in quoted string");
				i++;
			}
			ENSURE_GOTO(i < n, fail, AIM_ERR_DECODE, "signature: unterminated quote");
			v = value + vs;
			vlen = i - vs;
			i++;
		} else {
			size_t vs = i;
			while (i < n && is_name_char((unsigned char)value[i]))
				i++;
			v = value + vs;
			vlen = i - vs;
			ENSURE_GOTO(vlen > 0, fail, AIM_ERR_DECODE, "signature: empty parameter value");
		}
		TRY_GOTO(parse_one(out, value + ns, nlen, v, vlen, quoted, &seen_sig), fail);
		while (i < n && (value[i] == ' ' || value[i] == '\t'))
			i++;
		if (i == n)
			break;
		ENSURE_GOTO(value[i] == ',', fail, AIM_ERR_DECODE, "signature: junk at offset %zu", i);
		i++;
	}
	/* 2.1.1 keyId and 2.1.2 signature are REQUIRED */
	ENSURE_GOTO(out->key_id != NULL, fail, AIM_ERR_DECODE, "signature: no keyId");
	ENSURE_GOTO(seen_sig, fail, AIM_ERR_DECODE, "signature: no signature");
	return 0;
fail:
	http_sig_cavage_params_free(out);
	return rc;
}

int http_sig_field_value(const struct sig_request *req, const char *name, struct aim_buf *out)
{
	bool found = false;
	for (size_t i = 0; i < req->n_fields; i++) {
		if (strcasecmp(req->fields[i].name, name) != 0)
			continue;
		const char *v = req->fields[i].value ? req->fields[i].value : "";
		size_t n = strlen(v);
		ENSURE(n <= SIG_MAX_FIELD, AIM_ERR_DECODE, "signature: header %s overlong", name);
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		while (n && (*v == ' ' || *v == '\t')) {
			v++;
			n--;
		}
		for (size_t k = 0; k < n; k++) {
			unsigned char ch = (unsigned char)v[k];
			ENSURE((ch >= 0x20 && ch < 0x7f) || ch == '\t', AIM_ERR_DECODE,
			       "signature: header %s has a control or non-ASCII character", name);
		}
		if (found)
			TRY(aim_buf_append_str(out, ", "));
		TRY(aim_buf_append(out, v, n));
		found = true;
	}
	ENSURE(found, AIM_ERR_AUTH, "signature: covered header %s is missing", name);
	return aim_buf_reserve(out, 0);
}

int http_sig_cavage_signing_string(const struct sig_request *req, const struct sig_cavage_params *p,
			      struct aim_buf *out)
{
	ENSURE(p->headers != NULL, AIM_ERR_AUTH, "signature: no headers parameter");
	const char *h = p->headers;
	bool first = true;
	size_t count = 0;
	while (*h) {
		const char *end = strchr(h, ' ');
		size_t len = end ? (size_t)(end - h) : strlen(h);
		ENSURE(len > 0 && len < 128, AIM_ERR_DECODE, "signature: bad headers list");
		ENSURE(++count <= SIG_MAX_COMPONENTS, AIM_ERR_LIMIT,
		       "signature: too many headers");
		char name[128];
		for (size_t i = 0; i < len; i++) {
			char ch = h[i];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			name[i] = ch;
		}
		name[len] = 0;
		if (!first)
			TRY(aim_buf_append_byte(out, '\n'));
		first = false;
		if (strcmp(name, "(request-target)") == 0) {
			/* 2.3 step 1: lowercased :method, a space, and :path */
			TRY(aim_buf_append_str(out, "(request-target): "));
			for (const char *m = req->method; *m; m++) {
				char ch = *m;
				if (ch >= 'A' && ch <= 'Z')
					ch = (char)(ch - 'A' + 'a');
				TRY(aim_buf_append_byte(out, (uint8_t)ch));
			}
			TRY(aim_buf_printf(out, " %s", req->target));
		} else if (strcmp(name, "(created)") == 0) {
			/* 2.3 step 2: "If the `created` Signature Parameter is not
			 * specified, or is not an integer, an implementation MUST
			 * produce an error." */
			ENSURE(p->has_created, AIM_ERR_DECODE, "signature: (created) without created");
			TRY(aim_buf_printf(out, "(created): %lld", (long long)p->created));
		} else if (strcmp(name, "(expires)") == 0) {
			ENSURE(p->has_expires, AIM_ERR_DECODE, "signature: (expires) without expires");
			TRY(aim_buf_printf(out, "(expires): %lld", (long long)p->expires));
		} else if (name[0] == '(') {
			return aim_fail(AIM_ERR_DECODE, "signature: unknown pseudo-header %s", name);
		} else {
			for (size_t i = 0; i < len; i++) {
				unsigned char ch = (unsigned char)name[i];
				ENSURE(ch > 0x20 && ch < 0x7f && ch != ':', AIM_ERR_DECODE,
				       "signature: bad header name in headers list");
			}
			TRY(aim_buf_printf(out, "%s: ", name));
			if (strcmp(name, "host") == 0 && req->authority) {
				TRY(aim_buf_append_str(out, req->authority));
			} else {
				/* 2.3 step 4.4: a header that "cannot be matched with a
				 * provided header in the message" MUST produce an error */
				TRY(http_sig_field_value(req, name, out));
			}
		}
		if (!end)
			break;
		h = end + 1;
		ENSURE(*h, AIM_ERR_DECODE, "signature: trailing space in headers list");
	}
	ENSURE(count > 0, AIM_ERR_DECODE, "signature: empty headers list");
	ENSURE(out->len <= SIG_MAX_BASE, AIM_ERR_LIMIT, "signature: signing string too long");
	return 0;
}
