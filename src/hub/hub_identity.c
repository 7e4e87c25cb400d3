/*
 * Who a leaf is (hub.h, "Identities"): the acct: URI of an MLS credential.
 * An x509 credential names it in the one subjectAltName URI of its first
 * certificate (the leaf; aimd's CA issues exactly one, src/crypto x509.c);
 * a basic credential carries it as its identity bytes. Trust in the
 * certificate is the shell's credential hook's business: this file only
 * reads the name, with a small DER walk that never reads out of bounds.
 */
#include "hub/hub.h"

#include <string.h>

/* One DER TLV: tag (low-tag-number form only), definite length. */
struct der {
	const uint8_t *p;
	size_t len;
};

static int der_next(struct der *in, uint8_t *tag, struct der *val)
{
	ENSURE(in->len >= 2, AIM_ERR_DECODE, "certificate: truncated TLV");
	uint8_t t = in->p[0];
	ENSURE((t & 0x1f) != 0x1f, AIM_ERR_DECODE, "certificate: high tag number");
	size_t i = 1, n = in->p[i++];
	if (n & 0x80) {
		size_t k = n & 0x7f;
		/* X.690 10.1: definite form, minimal; at most 4 length bytes
		 * here (a certificate is far below 4 GiB). */
		ENSURE(k >= 1 && k <= 4, AIM_ERR_DECODE, "certificate: length of %zu bytes", k);
		ENSURE(in->len - i >= k, AIM_ERR_DECODE, "certificate: truncated length");
		n = 0;
		for (size_t j = 0; j < k; j++)
			n = (n << 8) | in->p[i++];
		ENSURE(n >= 0x80 && (k == 1 || (n >> (8 * (k - 1))) != 0), AIM_ERR_DECODE,
		       "certificate: non-minimal length");
	}
	ENSURE(n <= in->len - i, AIM_ERR_DECODE, "certificate: length past the end");
	*tag = t;
	val->p = in->p + i;
	val->len = n;
	in->p += i + n;
	in->len -= i + n;
	return 0;
}

static int der_expect(struct der *in, uint8_t tag, struct der *val)
{
	uint8_t t;
	TRY(der_next(in, &t, val));
	ENSURE(t == tag, AIM_ERR_DECODE, "certificate: tag 0x%02x where 0x%02x is expected", t,
	       tag);
	return 0;
}

/* id-ce-subjectAltName, 2.5.29.17 (RFC 5280 section 4.2.1.6) */
static const uint8_t OID_SAN[] = { 0x55, 0x1d, 0x11 };

/* The extensions of a TBSCertificate: its fields up to [3]. */
static int tbs_extensions(struct der tbs, struct der *exts)
{
	uint8_t t;
	struct der v;
	/* version [0] EXPLICIT, serialNumber, signature, issuer, validity,
	 * subject, subjectPublicKeyInfo, issuerUniqueID [1], subjectUniqueID
	 * [2], extensions [3] EXPLICIT */
	while (tbs.len) {
		TRY(der_next(&tbs, &t, &v));
		if (t == 0xa3) {
			struct der inner = v;
			TRY(der_expect(&inner, 0x30, exts));
			ENSURE(inner.len == 0, AIM_ERR_DECODE, "certificate: bytes after extensions");
			return 0;
		}
	}
	return aim_fail(AIM_ERR_NOTFOUND, "certificate without extensions");
}

static int san_uri(struct aim_bytes cert, char *out, size_t cap)
{
	struct der all = { cert.p, cert.len }, c, tbs, exts;
	TRY(der_expect(&all, 0x30, &c));
	ENSURE(all.len == 0, AIM_ERR_DECODE, "certificate: trailing bytes");
	TRY(der_expect(&c, 0x30, &tbs));
	TRY(tbs_extensions(tbs, &exts));
	while (exts.len) {
		struct der ext, oid, v;
		uint8_t t;
		TRY(der_expect(&exts, 0x30, &ext));
		TRY(der_expect(&ext, 0x06, &oid));
		if (oid.len != sizeof OID_SAN || memcmp(oid.p, OID_SAN, sizeof OID_SAN) != 0)
			continue;
		TRY(der_next(&ext, &t, &v));
		if (t == 0x01) /* critical BOOLEAN */
			TRY(der_next(&ext, &t, &v));
		ENSURE(t == 0x04, AIM_ERR_DECODE, "certificate: subjectAltName value is no OCTET STRING");
		struct der names_outer = v, names, name;
		TRY(der_expect(&names_outer, 0x30, &names));
		/* As aim_x509_verify demands of our leaves: "exactly one
		 * subjectAltName entry and it a URI" ([6] IMPLICIT IA5String). */
		TRY(der_expect(&names, 0x86, &name));
		ENSURE(names.len == 0 && names_outer.len == 0, AIM_ERR_INVALID,
		       "certificate: more than one subjectAltName entry");
		ENSURE(name.len >= 1 && name.len < cap, AIM_ERR_LIMIT,
		       "certificate: subjectAltName URI of %zu bytes", name.len);
		memcpy(out, name.p, name.len);
		out[name.len] = 0;
		return 0;
	}
	return aim_fail(AIM_ERR_NOTFOUND, "certificate without a subjectAltName");
}

/* An acct: URI (RFC 7565): "acct:" userpart "@" host, printable ASCII. */
static int check_acct(const char *s, size_t n)
{
	ENSURE(n > 5 && strncmp(s, "acct:", 5) == 0, AIM_ERR_INVALID,
	       "credential identity is not an acct: URI");
	const char *at = memchr(s + 5, '@', n - 5);
	ENSURE(at && at > s + 5 && at < s + n - 1, AIM_ERR_INVALID,
	       "credential identity is not acct:user@host");
	for (size_t i = 0; i < n; i++)
		ENSURE(s[i] > 0x20 && s[i] < 0x7f, AIM_ERR_INVALID,
		       "credential identity with a byte 0x%02x", (unsigned char)s[i]);
	return 0;
}

int hub_credential_acct(const struct mls_credential *cred, char out[HUB_MAX_ACCT + 1])
{
	out[0] = 0;
	switch (cred->type) {
	case MLS_CREDENTIAL_BASIC:
		ENSURE(cred->identity.len >= 1 && cred->identity.len <= HUB_MAX_ACCT, AIM_ERR_LIMIT,
		       "basic credential identity of %zu bytes", cred->identity.len);
		memcpy(out, cred->identity.p, cred->identity.len);
		out[cred->identity.len] = 0;
		break;
	case MLS_CREDENTIAL_X509:
		ENSURE(cred->n_certs >= 1, AIM_ERR_INVALID, "x509 credential without certificates");
		if (san_uri(mls_bytes_view(&cred->certs[0]), out, HUB_MAX_ACCT + 1) != 0) {
			out[0] = 0;
			return -1;
		}
		break;
	default:
		return aim_fail(AIM_ERR_UNSUPPORTED, "credential type %u", cred->type);
	}
	/* check_acct refuses a NUL inside (0x00 is not printable), so a basic
	 * identity cannot smuggle a shorter name than its bytes say */
	size_t n = cred->type == MLS_CREDENTIAL_BASIC ? cred->identity.len : strlen(out);
	if (check_acct(out, n) != 0) {
		out[0] = 0;
		return -1;
	}
	return 0;
}
