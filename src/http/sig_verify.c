/*
 * The signature verifier (both schemes) and the request signer.
 *
 * Verification runs in steps (sig.h): http_sig_parse reads the signature
 * header(s) alone and checks what they must say (coverage, algorithm,
 * parameters), which gives the keyId and the covered fields; http_sig_check
 * takes the request and does what needs no key (time window, body digest,
 * the signing string or signature base); only then is a key looked up, and
 * http_sig_verify_key checks the algorithm against the key type and the
 * signature itself. So junk never causes a key fetch. http_sig_verify runs the
 * three with a lookup callback in between.
 */
#include "http/sig.h"

#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/url.h"

void http_sig_policy_default(struct sig_policy *p)
{
	memset(p, 0, sizeof *p);
	p->max_age = 300;
	p->skew = 3600;
}

void http_sig_verified_free(struct sig_verified *v)
{
	free(v->key_id);
	free(v->owner);
	memset(v, 0, sizeof *v);
}

/* Fails with code and "prefix: <the current error message>" (the message is
 * copied first: aim_fail writes the buffer aim_errmsg() points to). */
static int refail(enum aim_err code, const char *prefix)
{
	char why[256];
	snprintf(why, sizeof why, "%s", aim_errmsg());
	return aim_fail(code, "%s: %s", prefix, why);
}

/* ---- Shared checks -------------------------------------------------------- */

static int check_time(const struct sig_policy *pol, int64_t now, int64_t created,
		      const char *what)
{
	/* threats.md A8, cavage 2.1.4: "A signature with a `created` timestamp
	 * value that is in the future MUST NOT be processed." (beyond skew) */
	ENSURE(created <= now + pol->skew, AIM_ERR_AUTH, "signature: %s is in the future", what);
	/* A7: older than max_age (plus skew) is a replay or a stale request */
	ENSURE(created >= now - pol->max_age - pol->skew, AIM_ERR_AUTH,
	       "signature: %s is too old", what);
	return 0;
}

static int check_expires(int64_t now, int64_t expires)
{
	/* cavage 2.1.5: "A signature with an `expires` timestamp value that is
	 * in the past MUST NOT be processed." RFC 9421 3.2 step 8 likewise. */
	ENSURE(expires >= now, AIM_ERR_AUTH, "signature: expired");
	return 0;
}

static bool method_has_body(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static bool request_has_body(const struct sig_request *req)
{
	return req->has_body || req->body.len > 0 || req->body_sha256 ||
	       method_has_body(req->method);
}

static int body_hash(const struct sig_request *req, uint8_t out[32])
{
	if (req->body_sha256) {
		memcpy(out, req->body_sha256, 32);
		return 0;
	}
	return aim_sha256(req->body, out);
}

/* The only field value allowed; two instances of a digest header would be
 * joined and then fail the single-digest rule. */
static int digest_field(const struct sig_request *req, const char *name, struct aim_buf *v)
{
	if (http_sig_field_value(req, name, v) != 0)
		return aim_fail(AIM_ERR_AUTH, "signature: %s header missing or malformed", name);
	return 0;
}

static void fill_out(struct sig_verified *out, enum sig_scheme scheme, const char *key_id,
		     const struct sig_key *key, struct aim_bytes sig, int64_t created,
		     int64_t expires, const struct sig_policy *pol)
{
	out->scheme = scheme;
	out->key_id = aim_xstrdup(key_id);
	out->owner = aim_xstrdup(key->owner);
	out->created = created;
	out->expires = expires;
	out->replay_until = created + pol->max_age + pol->skew;
	struct aim_buf rk;
	aim_buf_init(&rk, SIG_MAX_KEYID + AIM_MAX_RSA_SIG + 8);
	if (aim_buf_append(&rk, key_id, strlen(key_id) + 1) != 0 ||
	    aim_buf_append(&rk, sig.p, sig.len) != 0 ||
	    aim_sha256(aim_buf_bytes(&rk), out->replay_key) != 0)
		memset(out->replay_key, 0xff, sizeof out->replay_key); /* cannot happen */
	aim_buf_free(&rk);
}

/* ---- The parsed signature (both steps) ---------------------------------------- */

struct sig_parsed {
	enum sig_scheme scheme;
	struct sig_policy pol;
	bool has_body;
	char *key_id;
	char *names[SIG_MAX_COMPONENTS]; /* covered header fields, lower-case */
	size_t n_names;
	char alg[32];                    /* "" when absent */
	struct aim_buf sig;              /* the signature's bytes */
	/* cavage */
	struct sig_cavage_params cp;
	bool have_cp;
	bool signs_date, signs_created, signs_digest;
	/* RFC 9421: the joined Signature-Input text, which `in` points into */
	struct aim_buf input;
	struct sfv_dict *in;
	const struct sfv_member *mi;
	int64_t p_created, p_expires;
	bool has_expires;
	/* After http_sig_check. */
	bool checked;
	int64_t created;                 /* when it was signed (bounds the replay window) */
	struct aim_buf base;
	struct aim_buf base_path_only;   /* cavage with a query: the path-only form */
	bool has_path_only;
	bool query_covered;
};

void http_sig_parsed_free(struct sig_parsed *p)
{
	if (!p)
		return;
	free(p->key_id);
	for (size_t i = 0; i < p->n_names; i++)
		free(p->names[i]);
	aim_buf_free(&p->sig);
	if (p->have_cp)
		http_sig_cavage_params_free(&p->cp);
	aim_buf_free(&p->input);
	free(p->in);
	aim_buf_free(&p->base);
	aim_buf_free(&p->base_path_only);
	free(p);
}

const char *http_sig_parsed_key_id(const struct sig_parsed *p)
{
	return p->key_id;
}

enum sig_scheme http_sig_parsed_scheme(const struct sig_parsed *p)
{
	return p->scheme;
}

size_t http_sig_parsed_n_fields(const struct sig_parsed *p)
{
	return p->n_names;
}

const char *http_sig_parsed_field(const struct sig_parsed *p, size_t i)
{
	return i < p->n_names ? p->names[i] : NULL;
}

/* Records a covered header field name (lower-cased, once). */
static void add_name(struct sig_parsed *p, const char *name, size_t n)
{
	if (p->n_names == SIG_MAX_COMPONENTS)
		return;
	char *s = aim_xstrndup(name, n);
	for (char *c = s; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	for (size_t i = 0; i < p->n_names; i++)
		if (!strcmp(p->names[i], s)) {
			free(s);
			return;
		}
	p->names[p->n_names++] = s;
}

/* The contract of every step: a refusal is AUTH, VERIFY or DECODE (all 401
 * at the edge); unsupported parameters, over-long input and the like are
 * malformed input, never a 4xx/5xx of another kind. */
static int as_refusal(void)
{
	enum aim_err e = aim_errcode();
	if (e != AIM_ERR_AUTH && e != AIM_ERR_VERIFY && e != AIM_ERR_DECODE &&
	    e != AIM_ERR_NOMEM && e != AIM_ERR_INTERNAL) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		return aim_fail(AIM_ERR_DECODE, "%s", msg);
	}
	return -1;
}

/* ---- cavage ----------------------------------------------------------------- */

static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && strncasecmp(p, name, n) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static int list_check_dups(const char *list)
{
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *q = end ? end + 1 : p + len;
		while (end && *q) {
			const char *e2 = strchr(q, ' ');
			size_t l2 = e2 ? (size_t)(e2 - q) : strlen(q);
			ENSURE(!(l2 == len && strncasecmp(p, q, len) == 0), AIM_ERR_DECODE,
			       "signature: header listed twice");
			if (!e2)
				break;
			q = e2 + 1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

/* Finds the cavage Signature value: the Signature header, or the params of
 * `Authorization: Signature ...`. */
static int cavage_header(const struct sig_request *req, const char **value)
{
	const char *found = NULL;
	for (size_t i = 0; i < req->n_fields; i++) {
		if (strcasecmp(req->fields[i].name, "signature") != 0)
			continue;
		ENSURE(found == NULL, AIM_ERR_DECODE, "signature: more than one Signature header");
		found = req->fields[i].value;
	}
	if (!found) {
		for (size_t i = 0; i < req->n_fields; i++) {
			if (strcasecmp(req->fields[i].name, "authorization") != 0)
				continue;
			const char *v = req->fields[i].value;
			if (v && strncasecmp(v, "Signature ", 10) == 0) {
				ENSURE(found == NULL, AIM_ERR_DECODE,
				       "signature: more than one Authorization: Signature header");
				found = v + 10;
				while (*found == ' ')
					found++;
			}
		}
	}
	/* threats.md A1 */
	ENSURE(found != NULL, AIM_ERR_AUTH, "signature: request is not signed");
	*value = found;
	return 0;
}

/* Step 1, cavage: the Signature header alone (and whether there is a body). */
static int parse_cavage(const struct sig_request *req, struct sig_parsed *p)
{
	const char *hv = NULL;
	TRY(cavage_header(req, &hv));
	TRY(http_sig_cavage_parse(hv, &p->cp));
	p->have_cp = true;
	const char *h = p->cp.headers;
	/* A2: without a headers list only (created) (or date) would be signed */
	ENSURE(h != NULL, AIM_ERR_AUTH, "signature: no headers parameter (request-target not covered)");
	TRY(list_check_dups(h));
	ENSURE(list_has(h, "(request-target)"), AIM_ERR_AUTH,
	       "signature: (request-target) not covered");
	/* A11: a signed request that does not cover host can be redirected */
	ENSURE(list_has(h, "host"), AIM_ERR_AUTH, "signature: host not covered");
	p->signs_date = list_has(h, "date");
	p->signs_created = list_has(h, "(created)");
	/* A3 */
	ENSURE(p->signs_date || p->signs_created, AIM_ERR_AUTH,
	       "signature: neither date nor (created) covered");
	p->signs_digest = list_has(h, "digest");
	/* A4 */
	ENSURE(!p->has_body || p->signs_digest, AIM_ERR_AUTH,
	       "signature: digest not covered on a request with a body");

	/* A10: hmac, rsa-sha1, ecdsa and unknown algorithms are refused here;
	 * the rest is matched against the key type in step 2. */
	const char *alg = p->cp.algorithm;
	if (alg) {
		ENSURE(strcmp(alg, "hs2019") == 0 || strcmp(alg, "rsa-sha256") == 0 ||
			       strcmp(alg, "ed25519") == 0,
		       AIM_ERR_AUTH, "signature: algorithm %s refused", alg);
		/* A9, draft 2.3 step 2/3: "If the header field name is `(created)`
		 * and the `algorithm` parameter starts with `rsa`, `hmac`, or
		 * `ecdsa` an implementation MUST produce an error." */
		ENSURE(!(strncmp(alg, "rsa", 3) == 0 &&
			 (p->signs_created || list_has(h, "(expires)"))),
		       AIM_ERR_AUTH, "signature: (created)/(expires) with algorithm %s", alg);
		snprintf(p->alg, sizeof p->alg, "%s", alg);
	}
	ENSURE(!p->signs_created || p->cp.has_created, AIM_ERR_DECODE,
	       "signature: (created) without created");
	for (const char *t = h; *t;) {
		size_t n = strcspn(t, " ");
		if (n > 0 && t[0] != '(')
			add_name(p, t, n);
		t += n;
		while (*t == ' ')
			t++;
	}
	p->key_id = aim_xstrdup(p->cp.key_id);
	TRY(aim_buf_append(&p->sig, p->cp.signature.data, p->cp.signature.len));
	return 0;
}

/* Step 2a, cavage: time window, digest, signing string. */
static int check_cavage(struct sig_parsed *p, const struct sig_request *req, int64_t now)
{
	const struct sig_policy *pol = &p->pol;
	int rc = 0;
	struct aim_buf tmp;
	aim_buf_init(&tmp, SIG_MAX_FIELD * 2);
	/* Time window (A7, A8) on every signed timestamp; the earliest one
	 * bounds how long the replay key must be kept. An unsigned created
	 * parameter is ignored: anyone could have changed it. */
	int64_t created = 0;
	if (p->signs_created) {
		TRY_GOTO(check_time(pol, now, p->cp.created, "created"), out);
		created = p->cp.created;
	}
	if (p->signs_date) {
		TRY_GOTO(http_sig_field_value(req, "date", &tmp), out);
		int64_t date;
		ENSURE_GOTO(aim_time_parse_http((const char *)tmp.data, &date) == 0, out,
			    AIM_ERR_AUTH, "signature: Date header is not an HTTP date");
		TRY_GOTO(check_time(pol, now, date, "Date"), out);
		if (!p->signs_created || date < created)
			created = date;
	}
	if (p->cp.has_expires)
		TRY_GOTO(check_expires(now, p->cp.expires), out);

	/* A5, A6: the covered digest must match the body */
	if (p->signs_digest) {
		uint8_t h[32];
		TRY_GOTO(body_hash(req, h), out);
		aim_buf_reset(&tmp);
		TRY_GOTO(digest_field(req, "digest", &tmp), out);
		TRY_GOTO(http_sig_digest_check((const char *)tmp.data, h), out);
	}
	TRY_GOTO(http_sig_cavage_signing_string(req, &p->cp, &p->base), out);
	p->created = created;
	p->query_covered = strchr(req->target, '?') != NULL;
	/* Mastodon before 4.x and Fedify sign (request-target) with the path
	 * only; like Mastodon, accept that form too (step 2 tries it when the
	 * full form does not verify, and says so in the result). */
	if (p->query_covered && !pol->strict_query) {
		struct sig_request path_only = *req;
		char *path = aim_xstrndup(req->target, strcspn(req->target, "?"));
		path_only.target = path;
		p->has_path_only = http_sig_cavage_signing_string(&path_only, &p->cp,
							     &p->base_path_only) == 0;
		free(path);
		if (!p->has_path_only)
			aim_errclear();
	}
out:
	aim_buf_free(&tmp);
	return rc;
}

/* ---- RFC 9421 ---------------------------------------------------------- */

static bool components_have(const struct sfv_dict *d, const struct sfv_member *m,
			    const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < m->n_items; i++) {
		const struct sfv_bare *v = &d->items[m->item_first + i].v;
		if (v->type == SFV_STRING && v->len == n && memcmp(v->p, name, n) == 0 &&
		    d->items[m->item_first + i].n_params == 0)
			return true;
	}
	return false;
}

static int joined_field(const struct sig_request *req, const char *name, struct aim_buf *out,
			bool *present)
{
	*present = false;
	for (size_t i = 0; i < req->n_fields; i++)
		if (strcasecmp(req->fields[i].name, name) == 0)
			*present = true;
	if (!*present)
		return 0;
	return http_sig_field_value(req, name, out);
}

/* Step 1, RFC 9421: the Signature-Input and Signature fields alone. */
static int parse_rfc9421(const struct sig_request *req, struct sig_parsed *p)
{
	const struct sig_policy *pol = &p->pol;
	int rc = 0;
	struct sfv_dict *sg = aim_xmalloc(sizeof *sg);
	struct aim_buf tsg, keyid, str;
	aim_buf_init(&tsg, SIG_MAX_HEADER);
	aim_buf_init(&keyid, SIG_MAX_KEYID + 1);
	aim_buf_init(&str, 256);
	p->in = aim_xmalloc(sizeof *p->in);
	bool present;

	if (joined_field(req, "signature-input", &p->input, &present) != 0 ||
	    joined_field(req, "signature", &tsg, &present) != 0) {
		rc = refail(AIM_ERR_DECODE, "signature: malformed signature fields");
		goto out;
	}
	/* A1 */
	ENSURE_GOTO(present, out, AIM_ERR_AUTH, "signature: Signature-Input without Signature");
	struct sfv_dict *in = p->in;
	if (http_sfv_parse_dict((const char *)p->input.data, p->input.len, in) != 0 ||
	    http_sfv_parse_dict((const char *)tsg.data, tsg.len, sg) != 0) {
		rc = refail(AIM_ERR_DECODE, "signature");
		goto out;
	}
	const struct sfv_member *mi;
	if (pol->label) {
		mi = http_sfv_dict_get(in, pol->label);
		ENSURE_GOTO(mi != NULL, out, AIM_ERR_AUTH, "signature: no signature labelled %s",
			    pol->label);
	} else {
		ENSURE_GOTO(in->n == 1, out, AIM_ERR_AUTH,
			    "signature: %zu signatures and no label chosen", in->n);
		mi = &in->m[0];
	}
	p->mi = mi;
	char label[64];
	ENSURE_GOTO(mi->key_len < sizeof label, out, AIM_ERR_DECODE, "signature: label too long");
	memcpy(label, mi->key, mi->key_len);
	label[mi->key_len] = 0;
	const struct sfv_member *ms = http_sfv_dict_get(sg, label);
	ENSURE_GOTO(ms != NULL, out, AIM_ERR_DECODE, "signature: no Signature for label %s", label);
	ENSURE_GOTO(!ms->inner && sg->items[ms->item_first].v.type == SFV_BYTES, out,
		    AIM_ERR_DECODE, "signature: Signature member is not a byte sequence");
	const struct sfv_bare *sb = &sg->items[ms->item_first].v;
	ENSURE_GOTO(sb->len > 0 && aim_b64_decode(&p->sig, sb->p, sb->len) == 0, out,
		    AIM_ERR_DECODE, "signature: Signature is not base64");
	ENSURE_GOTO(mi->inner, out, AIM_ERR_DECODE,
		    "signature: Signature-Input member is not an inner list");
	for (size_t i = 0; i < mi->n_items; i++) {
		const struct sfv_item *it = &in->items[mi->item_first + i];
		ENSURE_GOTO(it->v.type == SFV_STRING, out, AIM_ERR_DECODE,
			    "signature: component identifier is not a string");
		ENSURE_GOTO(it->n_params == 0, out, AIM_ERR_DECODE,
			    "signature: component parameters are not supported");
		if (it->v.len > 0 && it->v.p[0] != '@')
			add_name(p, it->v.p, it->v.len);
	}

	/* Parameters (section 2.3). */
	const struct sfv_bare *p_created = http_sfv_param_get(in, mi->param_first, mi->n_params, "created");
	const struct sfv_bare *p_expires = http_sfv_param_get(in, mi->param_first, mi->n_params, "expires");
	const struct sfv_bare *p_keyid = http_sfv_param_get(in, mi->param_first, mi->n_params, "keyid");
	const struct sfv_bare *p_alg = http_sfv_param_get(in, mi->param_first, mi->n_params, "alg");
	const struct sfv_bare *p_nonce = http_sfv_param_get(in, mi->param_first, mi->n_params, "nonce");
	const struct sfv_bare *p_tag = http_sfv_param_get(in, mi->param_first, mi->n_params, "tag");
	/* A13: created is required here (the RFC only RECOMMENDS it) */
	ENSURE_GOTO(p_created != NULL, out, AIM_ERR_AUTH, "signature: no created parameter");
	ENSURE_GOTO(p_created->type == SFV_INTEGER, out, AIM_ERR_DECODE,
		    "signature: created is not an integer");
	ENSURE_GOTO(!p_expires || p_expires->type == SFV_INTEGER, out, AIM_ERR_DECODE,
		    "signature: expires is not an integer");
	ENSURE_GOTO(p_keyid != NULL, out, AIM_ERR_AUTH, "signature: no keyid parameter");
	ENSURE_GOTO(p_keyid->type == SFV_STRING && (!p_alg || p_alg->type == SFV_STRING) &&
			    (!p_nonce || p_nonce->type == SFV_STRING) &&
			    (!p_tag || p_tag->type == SFV_STRING),
		    out, AIM_ERR_DECODE, "signature: keyid, alg, nonce and tag must be strings");
	TRY_GOTO(http_sfv_string_value(&keyid, p_keyid), out);
	ENSURE_GOTO(keyid.len > 0 && strlen((const char *)keyid.data) == keyid.len, out,
		    AIM_ERR_DECODE, "signature: empty keyid");
	if (p_alg) {
		TRY_GOTO(http_sfv_string_value(&str, p_alg), out);
		/* A10: only the two algorithms we can verify; the key decides */
		ENSURE_GOTO(strcmp((const char *)str.data, "ed25519") == 0 ||
				    strcmp((const char *)str.data, "rsa-v1_5-sha256") == 0,
			    out, AIM_ERR_AUTH, "signature: alg %s refused", (const char *)str.data);
		snprintf(p->alg, sizeof p->alg, "%s", (const char *)str.data);
	}

	/* Required components (A13, A4, A11). */
	ENSURE_GOTO(components_have(in, mi, "@method"), out, AIM_ERR_AUTH,
		    "signature: @method not covered");
	ENSURE_GOTO(components_have(in, mi, "@target-uri") ||
			    (components_have(in, mi, "@authority") &&
			     components_have(in, mi, "@path")),
		    out, AIM_ERR_AUTH, "signature: @target-uri (or @authority and @path) not covered");
	ENSURE_GOTO(!p->has_body || components_have(in, mi, "content-digest"), out, AIM_ERR_AUTH,
		    "signature: content-digest not covered on a request with a body");
	p->p_created = p_created->i;
	p->has_expires = p_expires != NULL;
	p->p_expires = p_expires ? p_expires->i : 0;
	p->key_id = aim_xstrdup((const char *)keyid.data);
out:
	free(sg);
	aim_buf_free(&tsg);
	aim_buf_free(&keyid);
	aim_buf_free(&str);
	return rc;
}

/* Step 2a, RFC 9421: time window, digest, signature base. */
static int check_rfc9421(struct sig_parsed *p, const struct sig_request *req, int64_t now)
{
	/* Time window (A7, A8). */
	TRY(check_time(&p->pol, now, p->p_created, "created"));
	if (p->has_expires)
		TRY(check_expires(now, p->p_expires));
	/* A5, A6 */
	if (components_have(p->in, p->mi, "content-digest")) {
		uint8_t h[32];
		TRY(body_hash(req, h));
		struct aim_buf v;
		aim_buf_init(&v, SIG_MAX_FIELD * 2);
		int rc = digest_field(req, "content-digest", &v);
		if (rc == 0)
			rc = http_sig_content_digest_check((const char *)v.data, h);
		aim_buf_free(&v);
		TRY(rc);
	}
	TRY(http_sig_rfc9421_base(req, p->in, p->mi, &p->base));
	p->created = p->p_created;
	p->query_covered = strchr(req->target, '?') != NULL &&
			   (components_have(p->in, p->mi, "@target-uri") ||
			    components_have(p->in, p->mi, "@query") ||
			    components_have(p->in, p->mi, "@request-target"));
	return 0;
}

/* ---- The steps ------------------------------------------------------------ */

int http_sig_parse(const struct sig_request *req, const struct sig_policy *policy,
	      struct sig_parsed **out)
{
	*out = NULL;
	ENSURE(req && req->method && req->target, AIM_ERR_INVALID,
	       "signature: incomplete request description");
	struct sig_parsed *p = aim_xcalloc(1, sizeof *p);
	if (policy)
		p->pol = *policy;
	else
		http_sig_policy_default(&p->pol);
	aim_buf_init(&p->sig, AIM_MAX_RSA_SIG);
	aim_buf_init(&p->input, SIG_MAX_HEADER);
	aim_buf_init(&p->base, SIG_MAX_BASE + SIG_MAX_FIELD);
	aim_buf_init(&p->base_path_only, SIG_MAX_BASE + SIG_MAX_FIELD);
	p->has_body = request_has_body(req);
	int rc;
	if (http_sig_fields_get(req->fields, req->n_fields, "signature-input") != NULL) {
		p->scheme = SIG_RFC9421;
		rc = p->pol.no_rfc9421 ? aim_fail(AIM_ERR_AUTH, "signature: RFC 9421 not accepted")
				       : parse_rfc9421(req, p);
	} else {
		p->scheme = SIG_CAVAGE;
		rc = p->pol.no_cavage
			     ? aim_fail(AIM_ERR_AUTH, "signature: cavage signatures not accepted")
			     : parse_cavage(req, p);
	}
	if (rc != 0) {
		http_sig_parsed_free(p);
		return as_refusal();
	}
	*out = p;
	return 0;
}

int http_sig_check(struct sig_parsed *p, const struct sig_request *req, int64_t now)
{
	ENSURE(req && req->method && req->target, AIM_ERR_INVALID,
	       "signature: incomplete request description");
	ENSURE(request_has_body(req) == p->has_body, AIM_ERR_INVALID,
	       "signature: not the request that was parsed");
	aim_buf_reset(&p->base);
	aim_buf_reset(&p->base_path_only);
	p->checked = p->has_path_only = false;
	int rc = p->scheme == SIG_RFC9421 ? check_rfc9421(p, req, now) : check_cavage(p, req, now);
	if (rc != 0)
		return as_refusal();
	p->checked = true;
	return 0;
}

static int verify_with_key(const struct sig_parsed *p, const struct sig_key *key,
			   struct sig_verified *out)
{
	ENSURE(p->checked, AIM_ERR_INTERNAL, "signature: http_sig_check did not pass");
	ENSURE(key && key->pkey != NULL && key->owner != NULL, AIM_ERR_AUTH,
	       "signature: key lookup returned no key");
	enum aim_key_type kt = aim_pkey_type(key->pkey);
	ENSURE(kt == AIM_KEY_RSA || kt == AIM_KEY_ED25519, AIM_ERR_AUTH,
	       "signature: key type not usable");
	bool query_covered = p->query_covered;
	if (p->scheme == SIG_CAVAGE) {
		/* draft 2.1.3: "If `algorithm` is provided and differs from the
		 * key metadata identified by the `keyId` ... an implementation
		 * MUST produce an error." (A10) */
		if (p->alg[0] && strcmp(p->alg, "hs2019") != 0) {
			bool fits = (kt == AIM_KEY_RSA && strcmp(p->alg, "rsa-sha256") == 0) ||
				    (kt == AIM_KEY_ED25519 && strcmp(p->alg, "ed25519") == 0);
			ENSURE(fits, AIM_ERR_AUTH, "signature: algorithm %s does not fit the key type",
			       p->alg);
		}
		if (aim_pkey_verify(key->pkey, aim_buf_bytes(&p->base), aim_buf_bytes(&p->sig)) != 0) {
			bool retried = p->has_path_only &&
				       aim_pkey_verify(key->pkey, aim_buf_bytes(&p->base_path_only),
						       aim_buf_bytes(&p->sig)) == 0;
			ENSURE(retried, AIM_ERR_VERIFY, "signature: cavage signature does not verify");
			query_covered = false;
		}
	} else {
		/* RFC 9421 3.2 step 6: the algorithm is determined by the key; an
		 * alg that does not fit it fails (section 7.3.6, A10) */
		if (p->alg[0]) {
			bool fits = (kt == AIM_KEY_RSA && strcmp(p->alg, "rsa-v1_5-sha256") == 0) ||
				    (kt == AIM_KEY_ED25519 && strcmp(p->alg, "ed25519") == 0);
			ENSURE(fits, AIM_ERR_AUTH, "signature: alg %s does not fit the key", p->alg);
		}
		if (aim_pkey_verify(key->pkey, aim_buf_bytes(&p->base), aim_buf_bytes(&p->sig)) != 0)
			return refail(AIM_ERR_VERIFY, "signature: RFC 9421 signature does not verify");
	}
	fill_out(out, p->scheme, p->key_id, key, aim_buf_bytes(&p->sig), p->created,
		 p->scheme == SIG_CAVAGE ? (p->cp.has_expires ? p->cp.expires : 0) : p->p_expires,
		 &p->pol);
	out->query_covered = query_covered;
	return 0;
}

int http_sig_verify_key(const struct sig_parsed *p, const struct sig_key *key, struct sig_verified *out)
{
	memset(out, 0, sizeof *out);
	if (verify_with_key(p, key, out) != 0) {
		http_sig_verified_free(out);
		return as_refusal();
	}
	return 0;
}

int http_sig_verify(const struct sig_request *req, int64_t now, const struct sig_policy *policy,
	       sig_key_lookup_fn lookup, sig_key_release_fn release, void *ctx,
	       struct sig_verified *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(req && req->method && req->target && lookup, AIM_ERR_INVALID,
	       "signature: incomplete request description");
	struct sig_parsed *p;
	TRY(http_sig_parse(req, policy, &p));
	int rc = http_sig_check(p, req, now);
	if (rc == 0) {
		struct sig_key key = { 0 };
		if (lookup(ctx, p->key_id, &key) != 0) {
			/* The lookup's reasons pass through (the server may want
			 * to remember the failure, A20); anything else is AUTH. */
			enum aim_err e = aim_errcode();
			if (e != AIM_ERR_TIMEOUT && e != AIM_ERR_REMOTE && e != AIM_ERR_NOTFOUND &&
			    e != AIM_ERR_LIMIT && e != AIM_ERR_DENIED)
				e = AIM_ERR_AUTH;
			rc = refail(e, "signature: key unavailable");
		} else {
			rc = http_sig_verify_key(p, &key, out);
			if (release)
				release(ctx, &key);
		}
	}
	http_sig_parsed_free(p);
	return rc;
}

/* ---- Signing ---------------------------------------------------------------- */

static int sign_b64(const struct aim_pkey *k, struct aim_bytes msg, struct aim_buf *b64)
{
	struct aim_buf sig;
	aim_buf_init(&sig, AIM_MAX_RSA_SIG);
	int rc = aim_pkey_sign(k, msg, &sig);
	if (rc == 0)
		rc = aim_b64_encode(b64, sig.data, sig.len);
	aim_buf_free(&sig);
	return rc;
}

int http_sig_sign_request(const struct sig_signer *s, const char *method, const char *url,
		     bool has_body, struct aim_bytes body, int64_t now, struct sig_fields *out)
{
	ENSURE(s && s->key && s->key_id && method && url, AIM_ERR_INVALID,
	       "sign: incomplete signer or request");
	ENSURE(aim_pkey_has_private(s->key), AIM_ERR_INVALID, "sign: key has no private half");
	enum aim_key_type kt = aim_pkey_type(s->key);
	ENSURE(kt == AIM_KEY_RSA || kt == AIM_KEY_ED25519, AIM_ERR_UNSUPPORTED,
	       "sign: key type not usable");
	for (const char *c = s->key_id; *c; c++)
		ENSURE(*c >= 0x21 && *c < 0x7f && *c != '"' && *c != '\\', AIM_ERR_INVALID,
		       "sign: keyId must be printable ASCII without quotes");
	struct aim_url u;
	TRY(aim_url_parse(url, &u));
	int rc = 0;
	struct aim_buf authority, target, date, digest, hdr, base;
	aim_buf_init(&authority, 512);
	aim_buf_init(&target, AIM_URL_MAX);
	aim_buf_init(&date, 64);
	aim_buf_init(&digest, 128);
	aim_buf_init(&hdr, SIG_MAX_HEADER);
	aim_buf_init(&base, SIG_MAX_BASE);
	struct sfv_dict *d = NULL;
	char dbuf[30];
	aim_time_http(now, dbuf);
	TRY_GOTO(aim_url_authority(&u, &authority), out);
	TRY_GOTO(aim_url_target(&u, &target), out);

	/* The fields the request will carry, so that the signing code below
	 * reads exactly what is sent. */
	struct sig_field f[4];
	size_t nf = 0;
	f[nf++] = (struct sig_field){ "host", (const char *)authority.data };
	f[nf++] = (struct sig_field){ "date", dbuf };
	if (has_body) {
		if (s->scheme == SIG_RFC9421)
			TRY_GOTO(http_sig_content_digest_header(&digest, body), out);
		else
			TRY_GOTO(http_sig_digest_header(&digest, body), out);
		f[nf++] = (struct sig_field){ s->scheme == SIG_RFC9421 ? "content-digest" : "digest",
					      (const char *)digest.data };
	}
	struct sig_request req = {
		.method = method,
		.target = (const char *)target.data,
		.authority = (const char *)authority.data,
		.scheme = u.scheme,
		.fields = f,
		.n_fields = nf,
		.has_body = has_body,
		.body = body,
	};

	if (s->scheme == SIG_RFC9421) {
		TRY_GOTO(aim_buf_append_str(&hdr, "sig1=(\"@method\" \"@target-uri\""), out);
		if (has_body)
			TRY_GOTO(aim_buf_append_str(&hdr, " \"content-digest\""), out);
		TRY_GOTO(aim_buf_printf(&hdr, ");created=%lld;keyid=", (long long)now), out);
		TRY_GOTO(http_sfv_serialize_string(&hdr, s->key_id), out);
		TRY_GOTO(aim_buf_printf(&hdr, ";alg=\"%s\"",
					kt == AIM_KEY_RSA ? "rsa-v1_5-sha256" : "ed25519"),
			 out);
		d = aim_xmalloc(sizeof *d);
		TRY_GOTO(http_sfv_parse_dict((const char *)hdr.data, hdr.len, d), out);
		TRY_GOTO(http_sig_rfc9421_base(&req, d, &d->m[0], &base), out);
		struct aim_buf sv;
		aim_buf_init(&sv, 2048);
		TRY_GOTO(aim_buf_append_str(&sv, "sig1=:"), out);
		if (sign_b64(s->key, aim_buf_bytes(&base), &sv) != 0 ||
		    aim_buf_append_byte(&sv, ':') != 0) {
			aim_buf_free(&sv);
			rc = -1;
			goto out;
		}
		for (size_t i = 0; i < nf; i++)
			http_sig_fields_add(out, i == 0 ? "Host" : i == 1 ? "Date" : "Content-Digest",
				       f[i].value);
		http_sig_fields_add(out, "Signature-Input", (const char *)hdr.data);
		http_sig_fields_add(out, "Signature", (const char *)sv.data);
		aim_buf_free(&sv);
	} else {
		/* What Mastodon sends: (request-target) host date [digest] */
		struct sig_cavage_params p;
		memset(&p, 0, sizeof p);
		p.headers = has_body ? (char *)"(request-target) host date digest"
				     : (char *)"(request-target) host date";
		TRY_GOTO(http_sig_cavage_signing_string(&req, &p, &base), out);
		TRY_GOTO(aim_buf_printf(&hdr, "keyId=\"%s\",algorithm=\"%s\",headers=\"%s\",signature=\"",
					s->key_id, kt == AIM_KEY_RSA ? "rsa-sha256" : "hs2019",
					p.headers),
			 out);
		TRY_GOTO(sign_b64(s->key, aim_buf_bytes(&base), &hdr), out);
		TRY_GOTO(aim_buf_append_byte(&hdr, '"'), out);
		for (size_t i = 0; i < nf; i++)
			http_sig_fields_add(out, i == 0 ? "Host" : i == 1 ? "Date" : "Digest", f[i].value);
		http_sig_fields_add(out, "Signature", (const char *)hdr.data);
	}
out:
	free(d);
	aim_url_free(&u);
	aim_buf_free(&authority);
	aim_buf_free(&target);
	aim_buf_free(&date);
	aim_buf_free(&digest);
	aim_buf_free(&hdr);
	aim_buf_free(&base);
	return rc;
}
