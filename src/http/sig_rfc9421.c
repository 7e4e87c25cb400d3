/*
 * RFC 9421 HTTP Message Signatures: the signature base (section 2.5) over
 * derived components (section 2.2) and HTTP fields (section 2.1).
 */
#include "http/sig.h"

#include <stdio.h>
#include <string.h>

#include "base/url.h"

/* Appends the normalised scheme://authority/target of the request, and
 * fills u (caller frees). */
static int request_url(const struct sig_request *req, struct aim_url *u)
{
	ENSURE(req->scheme && req->authority && req->target, AIM_ERR_INVALID,
	       "signature: request lacks scheme, authority or target");
	ENSURE(req->target[0] == '/', AIM_ERR_DECODE, "signature: request target is not a path");
	/* A16: the authority must be an authority, nothing more */
	struct aim_buf h;
	aim_buf_init(&h, 512);
	uint16_t port;
	int hrc = aim_host_parse(req->authority, &h, &port);
	aim_buf_free(&h);
	char why[256];
	if (hrc != 0) {
		snprintf(why, sizeof why, "%s", aim_errmsg());
		return aim_fail(AIM_ERR_DECODE, "signature: bad authority: %s", why);
	}
	struct aim_buf s;
	aim_buf_init(&s, AIM_URL_MAX + 16);
	int rc = aim_buf_printf(&s, "%s://%s%s", req->scheme, req->authority, req->target);
	if (rc == 0)
		rc = aim_url_parse((const char *)s.data, u);
	aim_buf_free(&s);
	if (rc != 0) {
		snprintf(why, sizeof why, "%s", aim_errmsg());
		return aim_fail(AIM_ERR_DECODE, "signature: request URL does not parse: %s", why);
	}
	return 0;
}

static int derived(const struct sig_request *req, const char *name, struct aim_buf *out)
{
	if (strcmp(name, "@method") == 0) {
		/* 2.2.1: "The method name is case-sensitive" (not normalised) */
		return aim_buf_append_str(out, req->method);
	}
	if (strcmp(name, "@request-target") == 0)
		return aim_buf_append_str(out, req->target);
	struct aim_url u;
	TRY(request_url(req, &u));
	int rc;
	if (strcmp(name, "@target-uri") == 0)
		rc = aim_url_format(&u, out);
	else if (strcmp(name, "@authority") == 0)
		/* 2.2.3: normalised per HTTP 4.2.3 (lower-case host, no default port) */
		rc = aim_url_authority(&u, out);
	else if (strcmp(name, "@scheme") == 0)
		rc = aim_buf_append_str(out, u.scheme);
	else if (strcmp(name, "@path") == 0)
		rc = aim_buf_append_str(out, u.path);
	else if (strcmp(name, "@query") == 0)
		/* 2.2.7: "?" followed by the query; an absent query gives "?" */
		rc = aim_buf_printf(out, "?%s", u.query ? u.query : "");
	else
		rc = aim_fail(AIM_ERR_UNSUPPORTED, "signature: derived component %s not supported",
			      name);
	aim_url_free(&u);
	return rc;
}

int http_sig_rfc9421_base(const struct sig_request *req, const struct sfv_dict *d,
		     const struct sfv_member *m, struct aim_buf *out)
{
	ENSURE(m->inner, AIM_ERR_DECODE, "signature: Signature-Input member is not an inner list");
	ENSURE(m->n_items <= SIG_MAX_COMPONENTS, AIM_ERR_LIMIT, "signature: too many components");
	struct aim_buf name;
	aim_buf_init(&name, 256);
	int rc = 0;
	for (size_t i = 0; i < m->n_items; i++) {
		const struct sfv_item *it = &d->items[m->item_first + i];
		ENSURE_GOTO(it->v.type == SFV_STRING, out, AIM_ERR_DECODE,
			    "signature: component identifier is not a string");
		/* 2.5 step 2.4: "If the component identifier has a parameter that is
		 * not understood, produce an error." We understand none. */
		ENSURE_GOTO(it->n_params == 0, out, AIM_ERR_UNSUPPORTED,
			    "signature: component parameters are not supported");
		/* 2.5 step 2.0: "If the component identifier (including its
		 * parameters) has already been added to the signature base,
		 * produce an error." */
		for (size_t j = 0; j < i; j++) {
			const struct sfv_item *o = &d->items[m->item_first + j];
			ENSURE_GOTO(!(o->v.len == it->v.len && memcmp(o->v.p, it->v.p, it->v.len) == 0),
				    out, AIM_ERR_DECODE, "signature: duplicate component");
		}
		aim_buf_reset(&name);
		TRY_GOTO(http_sfv_string_value(&name, &it->v), out);
		const char *nm = (const char *)name.data;
		/* section 2.3: "@signature-params" MUST NOT be enumerated */
		ENSURE_GOTO(strcmp(nm, "@signature-params") != 0, out, AIM_ERR_DECODE,
			    "signature: @signature-params listed as a component");
		TRY_GOTO(aim_buf_append_byte(out, '"'), out);
		TRY_GOTO(aim_buf_append(out, it->v.p, it->v.len), out);
		TRY_GOTO(aim_buf_append_str(out, "\": "), out);
		if (nm[0] == '@') {
			TRY_GOTO(derived(req, nm, out), out);
		} else {
			/* 2.1: "The component name for an HTTP field is the
			 * lowercased form of its field name" */
			for (const char *c = nm; *c; c++)
				ENSURE_GOTO(!(*c >= 'A' && *c <= 'Z') && *c != ':' && *c > 0x20, out,
					    AIM_ERR_DECODE, "signature: bad field component name");
			ENSURE_GOTO(nm[0] != 0, out, AIM_ERR_DECODE, "signature: empty component");
			TRY_GOTO(http_sig_field_value(req, nm, out), out);
		}
		TRY_GOTO(aim_buf_append_byte(out, '\n'), out);
	}
	TRY_GOTO(aim_buf_append_str(out, "\"@signature-params\": "), out);
	TRY_GOTO(http_sfv_serialize_inner_list(out, d, m), out);
	/* 2.5 step 4: "Produce an error if the output string contains any
	 * non-ASCII characters." */
	for (size_t i = 0; i < out->len; i++)
		ENSURE_GOTO(out->data[i] < 0x80, out, AIM_ERR_DECODE,
			    "signature: non-ASCII signature base");
	ENSURE_GOTO(out->len <= SIG_MAX_BASE, out, AIM_ERR_LIMIT, "signature: base too long");
out:
	aim_buf_free(&name);
	return rc;
}
