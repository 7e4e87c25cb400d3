/*
 * Body digests: the RFC 3230 `Digest` header that cavage signatures cover
 * and the RFC 9530 `Content-Digest` field RFC 9421 signatures cover. Only
 * SHA-256 is produced and accepted (threats.md A6).
 */
#include "http/sig.h"

#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_sig_digest_header(struct aim_buf *out, struct aim_bytes body)
{
	uint8_t h[32];
	TRY(aim_sha256(body, h));
	TRY(aim_buf_append_str(out, "SHA-256="));
	return aim_b64_encode(out, h, sizeof h);
}

int http_sig_content_digest_header(struct aim_buf *out, struct aim_bytes body)
{
	uint8_t h[32];
	TRY(aim_sha256(body, h));
	TRY(aim_buf_append_str(out, "sha-256=:"));
	TRY(aim_b64_encode(out, h, sizeof h));
	return aim_buf_append_byte(out, ':');
}

/* Decodes strict base64 of exactly 32 bytes and compares with the body hash. */
static int check_b64_hash(const char *b64, size_t n, const uint8_t want[32])
{
	struct aim_buf got;
	aim_buf_init(&got, 64);
	if (aim_b64_decode(&got, b64, n) != 0) {
		aim_buf_free(&got);
		return aim_fail(AIM_ERR_VERIFY, "digest: value is not base64");
	}
	bool ok = got.len == 32;
	bool eq = ok && aim_ct_equal(got.data, got.len, want, 32);
	aim_buf_free(&got);
	ENSURE(ok, AIM_ERR_VERIFY, "digest: SHA-256 value is not 32 bytes");
	ENSURE(eq, AIM_ERR_VERIFY, "digest: body does not match its digest");
	return 0;
}

int http_sig_digest_check(const char *value, const uint8_t body_sha256[32])
{
	ENSURE(value != NULL, AIM_ERR_VERIFY, "digest: missing");
	size_t n = strlen(value);
	ENSURE(n <= 1024, AIM_ERR_VERIFY, "digest: overlong");
	/* RFC 3230: Digest = instance-digest *("," instance-digest); we accept
	 * exactly one, and only SHA-256 (A6). */
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	while (n && (*value == ' ' || *value == '\t')) {
		value++;
		n--;
	}
	ENSURE(memchr(value, ',', n) == NULL, AIM_ERR_VERIFY,
	       "digest: more than one digest is not accepted");
	ENSURE(n > 8 && strncasecmp(value, "SHA-256=", 8) == 0, AIM_ERR_VERIFY,
	       "digest: only SHA-256 is accepted");
	return check_b64_hash(value + 8, n - 8, body_sha256);
}

int http_sig_content_digest_check(const char *value, const uint8_t body_sha256[32])
{
	ENSURE(value != NULL, AIM_ERR_VERIFY, "content-digest: missing");
	size_t n = strlen(value);
	ENSURE(n <= 4096, AIM_ERR_VERIFY, "content-digest: overlong");
	struct sfv_dict *d = aim_xmalloc(sizeof *d);
	int rc = 0;
	if (http_sfv_parse_dict(value, n, d) != 0) {
		char why[256];
		snprintf(why, sizeof why, "%s", aim_errmsg());
		rc = aim_fail(AIM_ERR_VERIFY, "content-digest: malformed (%s)", why);
		goto out;
	}
	/* RFC 9530 section 2: the value is a Dictionary of algorithm keys to
	 * Byte Sequences. We require sha-256. */
	const struct sfv_member *m = http_sfv_dict_get(d, "sha-256");
	ENSURE_GOTO(m != NULL, out, AIM_ERR_VERIFY, "content-digest: no sha-256 member");
	ENSURE_GOTO(!m->inner && d->items[m->item_first].v.type == SFV_BYTES, out,
		    AIM_ERR_VERIFY, "content-digest: sha-256 is not a byte sequence");
	const struct sfv_bare *v = &d->items[m->item_first].v;
	rc = check_b64_hash(v->p, v->len, body_sha256);
out:
	free(d);
	return rc;
}
