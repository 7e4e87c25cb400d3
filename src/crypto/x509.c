/* X.509 credentials: PKCS#10 CSRs over MLS signature keys, a domain's CA,
 * the leaves it issues, their verification against the domain's CA
 * certificates, and PEM armour. RFC 5280 (certificates), RFC 2986 (CSRs),
 * RFC 8410 (Ed25519/Ed448 in X.509), RFC 5758 (ECDSA algorithm ids),
 * RFC 7468 (PEM). Verification is by hand: every rule it enforces is quoted
 * above the line that does it. */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* 9999-12-31T23:59:59Z, RFC 5280 section 4.1.2.5's "no well-defined
 * expiration date"; nothing later can be encoded. */
#define TIME_MAX INT64_C(253402300799)
#define SERIAL_LEN 16

/* ---- Keys ------------------------------------------------------------------ */

/* What X.509 says about each MLS signature scheme: the OpenSSL group name
 * of its curve, and the one signature algorithm a certificate or CSR over
 * that key may carry (RFC 8410 section 3: Ed25519/Ed448 are used pure, with
 * no parameters; RFC 5758 section 3.2: ecdsa-with-SHA256/384/512). */
struct scheme {
	enum aim_sig_alg alg;
	enum aim_curve curve;
	int evp_type;
	const char *group; /* P-curves */
	int sig_nid;       /* the signature algorithm of a CSR signed by this key */
	size_t field;      /* P-curves: bytes of a coordinate */
};

static const struct scheme schemes[] = {
	{ AIM_SIG_ED25519, AIM_CURVE_ED25519, EVP_PKEY_ED25519, NULL, NID_ED25519, 0 },
	{ AIM_SIG_ED448, AIM_CURVE_ED448, EVP_PKEY_ED448, NULL, NID_ED448, 0 },
	{ AIM_SIG_ECDSA_P256_SHA256, AIM_CURVE_P256, EVP_PKEY_EC, "prime256v1",
	  NID_ecdsa_with_SHA256, 32 },
	{ AIM_SIG_ECDSA_P384_SHA384, AIM_CURVE_P384, EVP_PKEY_EC, "secp384r1",
	  NID_ecdsa_with_SHA384, 48 },
	{ AIM_SIG_ECDSA_P521_SHA512, AIM_CURVE_P521, EVP_PKEY_EC, "secp521r1",
	  NID_ecdsa_with_SHA512, 66 },
};

static const struct scheme *scheme_of_alg(enum aim_sig_alg alg)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(schemes); i++)
		if (schemes[i].alg == alg)
			return &schemes[i];
	aim_fail(AIM_ERR_UNSUPPORTED, "signature scheme 0x%04x has no X.509 form", (unsigned)alg);
	return NULL;
}

/* The scheme of a parsed public key, or NULL (AIM_ERR_UNSUPPORTED) for
 * RSA, DSA, other curves, explicit curve parameters. */
static const struct scheme *scheme_of_key(EVP_PKEY *k)
{
	int id = EVP_PKEY_get_base_id(k);
	char group[32] = "";
	if (id == EVP_PKEY_EC) {
		size_t glen = 0;
		if (EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1)
			group[0] = '\0';
		ERR_clear_error();
	}
	for (size_t i = 0; i < AIM_ARRAY_LEN(schemes); i++) {
		const struct scheme *s = &schemes[i];
		if (s->evp_type == id && (!s->group || strcmp(s->group, group) == 0))
			return s;
	}
	const char *name = EVP_PKEY_get0_type_name(k);
	aim_fail(AIM_ERR_UNSUPPORTED, "%s%s%s key refused (Ed25519, Ed448, P-256/384/521 only)",
		 name ? name : "unknown", group[0] ? " " : "", group);
	return NULL;
}

/* The raw MLS public key of a parsed key: Ed25519/Ed448 raw bytes; a
 * P-curve key as the uncompressed point 0x04 || X || Y whatever form the
 * encoding used, then checked to be on the curve by the raw import. */
static int raw_public(EVP_PKEY *k, const struct scheme **sch, uint8_t pk[AIM_MAX_SIG_PK],
		      size_t *pk_len)
{
	const struct scheme *s = scheme_of_key(k);
	if (!s)
		return -1;
	size_t want = aim_curve_pk_len(s->curve);
	if (s->evp_type != EVP_PKEY_EC) {
		size_t len = AIM_MAX_SIG_PK;
		if (EVP_PKEY_get_raw_public_key(k, pk, &len) != 1 || len != want) {
			ERR_clear_error();
			return aim_fail(AIM_ERR_DECODE, "cannot read the %s public key",
					EVP_PKEY_get0_type_name(k));
		}
	} else {
		BIGNUM *x = NULL, *y = NULL;
		bool ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
			  EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
			  BN_bn2binpad(x, pk + 1, (int)s->field) == (int)s->field &&
			  BN_bn2binpad(y, pk + 1 + s->field, (int)s->field) == (int)s->field;
		BN_free(x);
		BN_free(y);
		ERR_clear_error();
		ENSURE(ok, AIM_ERR_DECODE, "cannot read the EC public point");
		pk[0] = 0x04;
	}
	EVP_PKEY *check = NULL;
	if (aim_curve_pkey_public(s->curve, AIM_BYTES(pk, want), &check) != 0)
		return aim_fail(AIM_ERR_DECODE, "the public key is not a point on %s", s->group);
	EVP_PKEY_free(check);
	*pk_len = want;
	*sch = s;
	return 0;
}

/* The digest X509_sign / X509_REQ_sign take for a signing key: NULL for
 * EdDSA (RFC 8410 section 6: "PureEdDSA"), the curve's hash for ECDSA. */
static int signing_md(EVP_PKEY *k, const EVP_MD **md)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		*md = NULL;
		return 0;
	case EVP_PKEY_EC: {
		int bits = EVP_PKEY_get_bits(k);
		*md = aim_md(bits <= 256 ? AIM_HASH_SHA256
				  : bits <= 384 ? AIM_HASH_SHA384 : AIM_HASH_SHA512);
		return 0;
	}
	default:
		return aim_fail(AIM_ERR_UNSUPPORTED, "a CA key must be Ed25519 or P-256");
	}
}

/* ---- Encoding helpers ---------------------------------------------------- */

/* RFC 5280 section 4.1.2.5: "CAs conforming to this profile MUST always
 * encode certificate validity dates through the year 2049 as UTCTime;
 * certificate validity dates in 2050 or later MUST be encoded as
 * GeneralizedTime." ASN1_TIME_set picks the form by exactly that rule. */
static int set_time(ASN1_TIME *t, int64_t v)
{
	if (!ASN1_TIME_set(t, (time_t)v))
		return aim_crypto_fail("ASN1_TIME_set");
	return 0;
}

static int check_validity(int64_t not_before, int64_t not_after)
{
	ENSURE(not_before >= 0 && not_after <= TIME_MAX && not_before <= not_after,
	       AIM_ERR_INVALID, "validity [%lld, %lld] refused", (long long)not_before,
	       (long long)not_after);
	return 0;
}

/* Unix seconds of an ASN1_TIME (UTCTime or GeneralizedTime, as parsed). */
static int get_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_DECODE, "malformed validity time");
	}
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* RFC 5280 section 4.1.2.2: "The serial number MUST be a positive integer
 * assigned by the CA to each certificate. It MUST be unique for each
 * certificate issued by a given CA". 16 random bytes (the top bit cleared,
 * so positive, and one bit set, so never zero) keep it unique without state. */
static int set_serial(X509 *x)
{
	uint8_t raw[SERIAL_LEN];
	TRY(aim_random(raw, sizeof(raw)));
	raw[0] = (uint8_t)((raw[0] & 0x7f) | 0x40);
	int rc = 0;
	BIGNUM *bn = BN_bin2bn(raw, (int)sizeof(raw), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		rc = aim_crypto_fail("serial number");
	BN_free(bn);
	return rc;
}

static int check_cn(const char *cn)
{
	ENSURE(cn, AIM_ERR_INVALID, "no common name");
	size_t n = strlen(cn);
	ENSURE(n >= 1 && n <= AIM_X509_CN_MAX, AIM_ERR_INVALID,
	       "common name of %zu bytes (1..%d)", n, AIM_X509_CN_MAX);
	for (size_t i = 0; i < n; i++)
		ENSURE((unsigned char)cn[i] >= 0x20 && cn[i] != 0x7f, AIM_ERR_INVALID,
		       "control character in the common name");
	return 0;
}

/* A name CN=<cn> (UTF8String; OpenSSL checks the UTF-8). */
static int name_cn(const char *cn, X509_NAME **out)
{
	*out = X509_NAME_new();
	if (!*out)
		return aim_crypto_fail("X509_NAME_new");
	if (!X509_NAME_add_entry_by_NID(*out, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0)) {
		X509_NAME_free(*out);
		*out = NULL;
		ERR_clear_error();
		return aim_fail(AIM_ERR_INVALID, "common name is not valid UTF-8");
	}
	return 0;
}

/* Adds an extension given in OpenSSL's configuration syntax (only ever
 * constant strings here: nothing from a request goes through this parser). */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int rc = 0;
	if (!ext || !X509_add_ext(x, ext, -1))
		rc = aim_crypto_fail(OBJ_nid2sn(nid));
	X509_EXTENSION_free(ext);
	return rc;
}

static int append_der_x509(X509 *x, struct aim_buf *out)
{
	int n = i2d_X509(x, NULL);
	if (n <= 0)
		return aim_crypto_fail("i2d_X509");
	uint8_t *dst = aim_buf_slot(out, (size_t)n);
	if (!dst)
		return -1;
	uint8_t *p = dst;
	if (i2d_X509(x, &p) != n)
		return aim_crypto_fail("i2d_X509");
	aim_buf_commit(out, (size_t)n);
	return 0;
}

/* Parses exactly one DER certificate: the size cap comes first, and bytes
 * after the certificate are refused (d2i would silently stop there). */
static int parse_cert(struct aim_bytes der, const char *what, X509 **out)
{
	*out = NULL;
	ENSURE(der.p && der.len > 0, AIM_ERR_DECODE, "%s: empty", what);
	ENSURE(der.len <= AIM_X509_MAX, AIM_ERR_LIMIT, "%s: %zu bytes (at most %d)", what,
	       der.len, AIM_X509_MAX);
	const unsigned char *p = der.p;
	X509 *x = d2i_X509(NULL, &p, (long)der.len);
	if (!x) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_DECODE, "%s: not a DER certificate", what);
	}
	if (p != der.p + der.len) {
		X509_free(x);
		return aim_fail(AIM_ERR_DECODE, "%s: %zu bytes after the certificate", what,
				(size_t)(der.p + der.len - p));
	}
	*out = x;
	return 0;
}

/* ---- CSR ----------------------------------------------------------------- */

int aim_x509_csr_create(enum aim_sig_alg alg, struct aim_bytes sk, struct aim_bytes pk,
			const char *cn, struct aim_buf *csr)
{
	const struct scheme *s = scheme_of_alg(alg);
	if (!s)
		return -1;
	TRY(check_cn(cn));
	/* The public key the CSR carries must be the one that signs it, or the
	 * proof of possession proves nothing. */
	struct aim_buf derived;
	aim_buf_init(&derived, AIM_MAX_SIG_PK);
	TRY(aim_curve_public(s->curve, sk, &derived));
	bool same = derived.len == pk.len && memcmp(derived.data, pk.p, pk.len) == 0;
	aim_buf_free(&derived);
	ENSURE(same, AIM_ERR_INVALID, "the public key is not the private key's");

	int rc = -1;
	EVP_PKEY *priv = NULL, *pub = NULL;
	X509_NAME *name = NULL;
	X509_REQ *req = NULL;
	TRY_GOTO(aim_curve_pkey_private(s->curve, sk, &priv), out);
	TRY_GOTO(aim_curve_pkey_public(s->curve, pk, &pub), out);
	TRY_GOTO(name_cn(cn, &name), out);
	const EVP_MD *md = NULL;
	(void)aim_sig_curve(alg, &md);
	req = X509_REQ_new();
	/* RFC 2986 section 4.1: "version is the version number, for
	 * compatibility with future revisions of this document. It shall be 0
	 * for this version of the standard." */
	if (!req || !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, pub) || X509_REQ_sign(req, priv, md) <= 0) {
		rc = aim_crypto_fail("CSR");
		goto out;
	}
	int n = i2d_X509_REQ(req, NULL);
	if (n <= 0) {
		rc = aim_crypto_fail("i2d_X509_REQ");
		goto out;
	}
	uint8_t *dst = aim_buf_slot(csr, (size_t)n);
	if (!dst)
		goto out;
	uint8_t *p = dst;
	if (i2d_X509_REQ(req, &p) != n) {
		rc = aim_crypto_fail("i2d_X509_REQ");
		goto out;
	}
	aim_buf_commit(csr, (size_t)n);
	rc = 0;
out:
	X509_REQ_free(req);
	X509_NAME_free(name);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
	return rc;
}

/* A key X509_REQ_get0_pubkey could not decode: UNSUPPORTED for an
 * algorithm we do not take, DECODE for a broken key of one we do. */
static int undecodable_key(X509_PUBKEY *xpk)
{
	ASN1_OBJECT *oid = NULL;
	if (xpk && X509_PUBKEY_get0_param(&oid, NULL, NULL, NULL, xpk) == 1 && oid) {
		int nid = OBJ_obj2nid(oid);
		if (nid != NID_ED25519 && nid != NID_ED448 && nid != NID_X9_62_id_ecPublicKey) {
			ERR_clear_error();
			char txt[80];
			OBJ_obj2txt(txt, sizeof(txt), oid, 0);
			return aim_fail(AIM_ERR_UNSUPPORTED, "%s key refused", txt);
		}
	}
	ERR_clear_error();
	return aim_fail(AIM_ERR_DECODE, "the CSR's public key does not decode");
}

int aim_x509_csr_verify(struct aim_bytes csr, enum aim_sig_alg *alg, struct aim_buf *pk)
{
	ENSURE(csr.p && csr.len > 0, AIM_ERR_DECODE, "empty CSR");
	ENSURE(csr.len <= AIM_X509_MAX, AIM_ERR_LIMIT, "CSR of %zu bytes (at most %d)", csr.len,
	       AIM_X509_MAX);
	const unsigned char *p = csr.p;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)csr.len);
	if (!req) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_DECODE, "not a DER PKCS#10 request");
	}
	int rc = -1;
	ENSURE_GOTO(p == csr.p + csr.len, out, AIM_ERR_DECODE, "%zu bytes after the CSR",
		    (size_t)(csr.p + csr.len - p));
	/* RFC 2986 section 4.1: version "shall be 0 for this version". */
	ENSURE_GOTO(X509_REQ_get_version(req) == 0, out, AIM_ERR_DECODE, "CSR version %ld",
		    X509_REQ_get_version(req));
	EVP_PKEY *key = X509_REQ_get0_pubkey(req);
	if (!key) {
		rc = undecodable_key(X509_REQ_get_X509_PUBKEY(req));
		goto out;
	}
	const struct scheme *s;
	uint8_t raw[AIM_MAX_SIG_PK];
	size_t raw_len;
	TRY_GOTO(raw_public(key, &s, raw, &raw_len), out);
	/* The signature algorithm must be the key's own MLS scheme (RFC 8410
	 * section 3 for EdDSA; ECDSA with the curve's hash as MLS signs), so
	 * that the proof of possession is made as MLS will use the key. */
	int sig_nid = X509_REQ_get_signature_nid(req);
	ENSURE_GOTO(sig_nid == s->sig_nid, out, AIM_ERR_UNSUPPORTED,
		    "CSR signed with %s, want %s", OBJ_nid2sn(sig_nid), OBJ_nid2sn(s->sig_nid));
	/* RFC 2986 section 3: "The signature process consists of two steps
	 * ... the value of the signature ... is signed with the subject's
	 * private key" -- the proof of possession. */
	if (X509_REQ_verify(req, key) != 1) {
		ERR_clear_error();
		rc = aim_fail(AIM_ERR_VERIFY, "the CSR's signature does not verify");
		goto out;
	}
	TRY_GOTO(aim_buf_append(pk, raw, raw_len), out);
	*alg = s->alg;
	rc = 0;
out:
	X509_REQ_free(req);
	return rc;
}

/* ---- CA and issuance ------------------------------------------------------- */

static int ca_key_ok(const struct aim_pkey *key)
{
	ENSURE(key, AIM_ERR_INVALID, "no CA key");
	enum aim_key_type t = aim_pkey_type(key);
	ENSURE(t == AIM_KEY_ED25519 || t == AIM_KEY_P256, AIM_ERR_UNSUPPORTED,
	       "a CA key must be Ed25519 or P-256");
	ENSURE(aim_pkey_has_private(key), AIM_ERR_INVALID, "the CA key has no private part");
	return 0;
}

int aim_x509_ca_cert(const struct aim_pkey *key, const char *cn, int64_t not_before,
		     int64_t not_after, struct aim_buf *cert)
{
	TRY(ca_key_ok(key));
	TRY(check_cn(cn));
	TRY(check_validity(not_before, not_after));
	EVP_PKEY *k = aim_pkey_evp(key);
	const EVP_MD *md;
	TRY(signing_md(k, &md));
	int rc = -1;
	X509_NAME *name = NULL;
	X509 *x = X509_new();
	ENSURE_GOTO(x, out, AIM_ERR_NOMEM, "X509_new");
	TRY_GOTO(name_cn(cn, &name), out);
	/* RFC 5280 section 4.1.2.1: "When extensions are used, as required by
	 * this profile, version MUST be 3 (value is 2)." */
	if (!X509_set_version(x, 2) || !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, k)) {
		rc = aim_crypto_fail("CA certificate");
		goto out;
	}
	TRY_GOTO(set_serial(x), out);
	TRY_GOTO(set_time(X509_getm_notBefore(x), not_before), out);
	TRY_GOTO(set_time(X509_getm_notAfter(x), not_after), out);
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	/* RFC 5280 section 4.2.1.9: "Conforming CAs MUST include this
	 * extension in all CA certificates that contain public keys used to
	 * validate digital signatures on certificates and MUST mark the
	 * extension as critical in such certificates." */
	TRY_GOTO(add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE"), out);
	/* RFC 5280 section 4.2.1.3: "Conforming CAs MUST include this
	 * extension in certificates that contain public keys that are used to
	 * validate digital signatures on other public key certificates or
	 * CRLs. When present, conforming CAs SHOULD mark this extension as
	 * critical." */
	TRY_GOTO(add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"), out);
	/* RFC 5280 section 4.2.1.2: "this extension MUST appear in all
	 * conforming CA certificates, that is, all certificates including the
	 * basic constraints extension where the value of cA is TRUE." */
	TRY_GOTO(add_ext(x, &ctx, NID_subject_key_identifier, "hash"), out);
	if (X509_sign(x, k, md) <= 0) {
		rc = aim_crypto_fail("X509_sign");
		goto out;
	}
	rc = append_der_x509(x, cert);
out:
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

int aim_x509_ca_create(enum aim_key_type t, const char *cn, int64_t not_before,
		       int64_t not_after, struct aim_pkey **key, struct aim_buf *cert)
{
	*key = NULL;
	ENSURE(t == AIM_KEY_ED25519 || t == AIM_KEY_P256, AIM_ERR_UNSUPPORTED,
	       "a CA key must be Ed25519 or P-256");
	TRY(check_cn(cn));
	TRY(check_validity(not_before, not_after));
	struct aim_pkey *k;
	TRY(aim_pkey_generate(t, &k));
	if (aim_x509_ca_cert(k, cn, not_before, not_after, cert) != 0) {
		aim_pkey_free(k);
		return -1;
	}
	*key = k;
	return 0;
}

/* RFC 5280 section 4.2.1.6: a URI "MUST NOT be a relative URI, and it MUST
 * follow the URI syntax and encoding rules specified in [RFC3986]. The
 * name MUST include both a scheme ... and a scheme-specific-part." Here:
 * printable ASCII without spaces (an IA5String), a scheme of letters,
 * digits, '+', '-', '.' starting with a letter, then ':' and a non-empty
 * rest. */
static bool uri_ok(const char *u, size_t n)
{
	if (n == 0 || n > AIM_X509_URI_MAX)
		return false;
	size_t colon = 0;
	while (colon < n && u[colon] != ':')
		colon++;
	if (colon == 0 || colon + 1 >= n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (i < colon && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				   (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' ||
					      c == '.'))))
			return false;
	}
	return true;
}

/* subjectAltName with the one URI, built as a structure (a URI never goes
 * through OpenSSL's configuration parser, where a comma would split it). */
static int add_san_uri(X509 *x, const char *uri)
{
	int rc = -1;
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	if (!gens || !gn || !ia5 || !ASN1_STRING_set(ia5, uri, (int)strlen(uri))) {
		rc = aim_crypto_fail("subjectAltName");
		goto out;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		rc = aim_crypto_fail("subjectAltName");
		goto out;
	}
	gn = NULL;
	/* RFC 5280 section 4.1.2.6: "If the subject field contains an empty
	 * sequence, then the issuing CA MUST include a subjectAltName
	 * extension that is marked as critical." */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 1, X509V3_ADD_DEFAULT) != 1) {
		rc = aim_crypto_fail("subjectAltName");
		goto out;
	}
	rc = 0;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return rc;
}

int aim_x509_issue(const struct aim_pkey *ca_key, struct aim_bytes ca_cert,
		   enum aim_sig_alg alg, struct aim_bytes pk, const char *san_uri,
		   int64_t not_before, int64_t not_after, struct aim_buf *cert)
{
	TRY(ca_key_ok(ca_key));
	const struct scheme *s = scheme_of_alg(alg);
	if (!s)
		return -1;
	ENSURE(san_uri && uri_ok(san_uri, strlen(san_uri)), AIM_ERR_INVALID,
	       "the SAN URI is not an absolute URI of at most %d printable bytes",
	       AIM_X509_URI_MAX);
	TRY(check_validity(not_before, not_after));
	EVP_PKEY *k = aim_pkey_evp(ca_key);
	const EVP_MD *md;
	TRY(signing_md(k, &md));
	int rc = -1;
	EVP_PKEY *subject_key = NULL;
	X509 *x = NULL, *ca = NULL;
	X509_NAME *empty = NULL;
	TRY_GOTO(parse_cert(ca_cert, "CA certificate", &ca), out);
	EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
	ERR_clear_error();
	ENSURE_GOTO(ca_pub && EVP_PKEY_eq(ca_pub, k) == 1, out, AIM_ERR_INVALID,
		    "the CA key is not the CA certificate's key");
	TRY_GOTO(aim_curve_pkey_public(s->curve, pk, &subject_key), out);
	x = X509_new();
	empty = X509_NAME_new();
	ENSURE_GOTO(x && empty, out, AIM_ERR_NOMEM, "X509_new");
	/* RFC 5280 section 4.1.2.4: "The issuer field MUST contain a
	 * non-empty distinguished name"; it is the CA's subject, byte for
	 * byte, so that name chaining (section 6.1.3 (a)(4)) matches. */
	if (!X509_set_version(x, 2) || !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    !X509_set_subject_name(x, empty) || !X509_set_pubkey(x, subject_key)) {
		rc = aim_crypto_fail("leaf certificate");
		goto out;
	}
	TRY_GOTO(set_serial(x), out);
	TRY_GOTO(set_time(X509_getm_notBefore(x), not_before), out);
	TRY_GOTO(set_time(X509_getm_notAfter(x), not_after), out);
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	/* The only name: the SAN URI (acct:user@domain); nothing from a CSR. */
	TRY_GOTO(add_san_uri(x, san_uri), out);
	/* RFC 5280 section 4.2.1.3: digitalSignature "when the subject public
	 * key is used for verifying digital signatures, other than signatures
	 * on certificates (bit 5) and CRLs (bit 6)" -- MLS signatures, and
	 * nothing else. */
	TRY_GOTO(add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature"), out);
	/* RFC 5280 section 4.2.1.9: "This extension MAY appear as a critical
	 * or non-critical extension in end entity certificates." cA FALSE. */
	TRY_GOTO(add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"), out);
	/* RFC 5280 section 4.2.1.1: "The keyIdentifier field of the
	 * authorityKeyIdentifier extension MUST be included in all
	 * certificates generated by conforming CAs to facilitate certification
	 * path construction" (the CA's subject key identifier); 4.2.1.2: for
	 * end entity certificates the subject key identifier "SHOULD be
	 * included". */
	TRY_GOTO(add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"), out);
	TRY_GOTO(add_ext(x, &ctx, NID_subject_key_identifier, "hash"), out);
	if (X509_sign(x, k, md) <= 0) {
		rc = aim_crypto_fail("X509_sign");
		goto out;
	}
	rc = append_der_x509(x, cert);
out:
	X509_NAME_free(empty);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(subject_key);
	return rc;
}

/* ---- Verification ------------------------------------------------------------ */

/* The signature algorithms a leaf or CA certificate may be signed with:
 * those of the CA keys aim makes and of the MLS schemes. */
static bool sig_alg_ok(int nid)
{
	return nid == NID_ED25519 || nid == NID_ED448 || nid == NID_ecdsa_with_SHA256 ||
	       nid == NID_ecdsa_with_SHA384 || nid == NID_ecdsa_with_SHA512;
}

/* Structural checks common to the leaf and the anchors: the cached
 * extension flags of a certificate OpenSSL could not make sense of, the
 * two signature algorithm fields, a v3 certificate. */
static int cert_shape(X509 *x, const char *what, uint32_t *flags)
{
	*flags = X509_get_extension_flags(x);
	/* RFC 5280 section 4.2: "A certificate MUST NOT include more than one
	 * instance of a particular extension." OpenSSL marks that, and an
	 * extension it cannot decode, as EXFLAG_INVALID. */
	ENSURE(!(*flags & EXFLAG_INVALID), AIM_ERR_DECODE,
	       "%s: an extension is malformed or repeated", what);
	/* RFC 5280 section 4.1.1.2: signatureAlgorithm "MUST contain the same
	 * algorithm identifier as the signature field in the sequence
	 * tbsCertificate". */
	const X509_ALGOR *outer = NULL;
	X509_get0_signature(NULL, &outer, x);
	ENSURE(outer && X509_ALGOR_cmp(outer, X509_get0_tbs_sigalg(x)) == 0, AIM_ERR_VERIFY,
	       "%s: the two signature algorithm fields differ", what);
	int nid = X509_get_signature_nid(x);
	ENSURE(sig_alg_ok(nid), AIM_ERR_VERIFY, "%s: signature algorithm %s not accepted", what,
	       OBJ_nid2sn(nid));
	ENSURE(X509_get_version(x) == 2, AIM_ERR_VERIFY, "%s: not a version 3 certificate",
	       what);
	/* RFC 5280 section 4.2: "A certificate-using system MUST reject the
	 * certificate if it encounters a critical extension it does not
	 * recognize or a critical extension that contains information that it
	 * cannot process." */
	ENSURE(!(*flags & EXFLAG_CRITICAL), AIM_ERR_VERIFY,
	       "%s: an unknown critical extension", what);
	return 0;
}

/* RFC 5280 section 6.1.3 (a)(2): "The certificate validity period
 * includes the current time." Both ends are inclusive (4.1.2.5: "the
 * period of time from notBefore through notAfter, inclusive"). */
static int within(const X509 *x, const char *what, int64_t now, int64_t *nb, int64_t *na)
{
	TRY(get_time(X509_get0_notBefore(x), nb));
	TRY(get_time(X509_get0_notAfter(x), na));
	ENSURE(now >= *nb, AIM_ERR_VERIFY, "%s: not valid before %lld", what, (long long)*nb);
	ENSURE(now <= *na, AIM_ERR_VERIFY, "%s: expired at %lld", what, (long long)*na);
	return 0;
}

/* The anchor that signed the leaf, checked as a CA. */
static int check_anchor(X509 *ca, int64_t now)
{
	uint32_t flags;
	TRY(cert_shape(ca, "CA certificate", &flags));
	int64_t nb, na;
	TRY(within(ca, "CA certificate", now, &nb, &na));
	/* RFC 5280 section 6.1.4 (k): "verify that the certificate is a CA
	 * certificate (as specified in a basicConstraints extension with the
	 * cA field set to TRUE)". */
	ENSURE(flags & EXFLAG_BCONS, AIM_ERR_VERIFY, "CA certificate: no basicConstraints");
	ENSURE(flags & EXFLAG_CA, AIM_ERR_VERIFY, "CA certificate: basicConstraints cA is false");
	/* RFC 5280 section 6.1.4 (n): "If a key usage extension is present,
	 * verify that the keyCertSign bit is set." */
	ENSURE(!(flags & EXFLAG_KUSAGE) || (X509_get_key_usage(ca) & KU_KEY_CERT_SIGN),
	       AIM_ERR_VERIFY, "CA certificate: keyUsage without keyCertSign");
	return 0;
}

/* The one SAN URI: exactly one subjectAltName entry, and it a URI. */
static int leaf_san(X509 *x, char out[AIM_X509_URI_MAX + 1])
{
	int crit = 0;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		ERR_clear_error();
		/* crit -1: absent; -2: more than one (already EXFLAG_INVALID);
		 * otherwise present but undecodable. */
		ENSURE(crit != -1, AIM_ERR_VERIFY, "leaf: no subjectAltName");
		return aim_fail(AIM_ERR_DECODE, "leaf: malformed subjectAltName");
	}
	int rc = -1;
	int n = sk_GENERAL_NAME_num(gens);
	/* The credential speaks for one acct: URI (the AIM draft: the
	 * domain's authentication service binds the key to acct:user@domain);
	 * a certificate with more names would speak for more. */
	ENSURE_GOTO(n == 1, out, AIM_ERR_VERIFY, "leaf: %d subjectAltName entries, want one URI",
		    n);
	const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, 0);
	int type = -1;
	const ASN1_IA5STRING *uri = GENERAL_NAME_get0_value(gn, &type);
	ENSURE_GOTO(type == GEN_URI && uri, out, AIM_ERR_VERIFY,
		    "leaf: the subjectAltName is not a URI");
	const char *u = (const char *)ASN1_STRING_get0_data(uri);
	size_t len = (size_t)ASN1_STRING_length(uri);
	ENSURE_GOTO(u && uri_ok(u, len), out, AIM_ERR_VERIFY,
		    "leaf: the SAN URI is not an absolute URI of at most %d printable bytes",
		    AIM_X509_URI_MAX);
	memcpy(out, u, len);
	out[len] = '\0';
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/* RFC 5280 section 4.1.2.2: "Certificate users MUST be able to handle
 * serialNumber values up to 20 octets. Conforming CAs MUST NOT use
 * serialNumber values longer than 20 octets." and "MUST be a positive
 * integer". */
static int leaf_serial(X509 *x, struct aim_x509_leaf *out)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	ENSURE(sn && ASN1_STRING_type(sn) == V_ASN1_INTEGER, AIM_ERR_VERIFY,
	       "leaf: the serial number is not positive");
	size_t len = (size_t)ASN1_STRING_length(sn);
	const uint8_t *p = ASN1_STRING_get0_data(sn);
	while (len > 0 && p[0] == 0)
		p++, len--;
	ENSURE(len > 0, AIM_ERR_VERIFY, "leaf: the serial number is zero");
	ENSURE(len <= sizeof(out->serial), AIM_ERR_VERIFY, "leaf: serial number of %zu bytes",
	       len);
	memcpy(out->serial, p, len);
	out->serial_len = len;
	return 0;
}

static int verify_leaf(X509 *leaf, X509 *const *cas, size_t n, int64_t now,
		       struct aim_x509_leaf *out)
{
	uint32_t flags;
	TRY(cert_shape(leaf, "leaf", &flags));
	/* RFC 5280 section 6.1.3 (a)(1): "The signature on the certificate can
	 * be verified using working_public_key_algorithm, the
	 * working_public_key, and the working_public_key_parameters" -- the
	 * key of a trust anchor (section 6.1.1 (d)), since aim's chains have
	 * no intermediates -- and (a)(4): "The certificate issuer name is the
	 * working_issuer_name." Anchors are tried in order; the first whose
	 * name and key match signed it. */
	size_t signer = n;
	for (size_t i = 0; i < n && signer == n; i++) {
		if (X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(cas[i])) != 0)
			continue;
		EVP_PKEY *k = X509_get0_pubkey(cas[i]);
		if (k && X509_verify(leaf, k) == 1)
			signer = i;
		ERR_clear_error();
	}
	ENSURE(signer < n, AIM_ERR_VERIFY, "leaf: not signed by any of the %zu CA certificates",
	       n);
	TRY(check_anchor(cas[signer], now));
	TRY(within(leaf, "leaf", now, &out->not_before, &out->not_after));
	/* RFC 5280 section 4.2.1.3: digitalSignature is the bit for "verifying
	 * digital signatures, other than signatures on certificates" -- the
	 * MLS signatures the leaf exists for. Without the extension the key's
	 * use is unconstrained: refused, aim's CA always states it. */
	ENSURE(flags & EXFLAG_KUSAGE, AIM_ERR_VERIFY, "leaf: no keyUsage");
	uint32_t ku = X509_get_key_usage(leaf);
	ENSURE(ku & KU_DIGITAL_SIGNATURE, AIM_ERR_VERIFY, "leaf: keyUsage without digitalSignature");
	/* RFC 5280 section 4.2.1.3: "If the keyCertSign bit is asserted, then
	 * the cA bit in the basic constraints extension ... MUST also be
	 * asserted"; section 4.2.1.9: "the cA boolean indicates whether the
	 * certified public key may be used to verify certificate signatures"
	 * -- a credential is an end entity, never a CA. */
	ENSURE(!(flags & EXFLAG_CA), AIM_ERR_VERIFY, "leaf: a CA certificate");
	ENSURE(!(ku & KU_KEY_CERT_SIGN), AIM_ERR_VERIFY, "leaf: keyUsage keyCertSign");
	TRY(leaf_san(leaf, out->san_uri));
	TRY(leaf_serial(leaf, out));
	EVP_PKEY *key = X509_get0_pubkey(leaf);
	ENSURE(key, AIM_ERR_VERIFY, "leaf: unsupported or malformed public key");
	const struct scheme *s;
	if (raw_public(key, &s, out->pk, &out->pk_len) != 0) {
		char why[160];
		snprintf(why, sizeof(why), "%s", aim_errmsg());
		return aim_fail(AIM_ERR_VERIFY, "leaf: %s", why);
	}
	out->alg = s->alg;
	out->anchor = signer;
	return 0;
}

int aim_x509_verify(struct aim_bytes leaf, const struct aim_bytes *anchors, size_t n_anchors,
		    int64_t now, struct aim_x509_leaf *out)
{
	memset(out, 0, sizeof(*out));
	ENSURE(n_anchors > 0 && anchors, AIM_ERR_INVALID, "no trust anchors");
	ENSURE(n_anchors <= 64, AIM_ERR_LIMIT, "%zu trust anchors (at most 64)", n_anchors);
	X509 *cas[64] = { 0 };
	X509 *x = NULL;
	int rc = -1;
	TRY_GOTO(parse_cert(leaf, "leaf", &x), out);
	for (size_t i = 0; i < n_anchors; i++)
		TRY_GOTO(parse_cert(anchors[i], "CA certificate", &cas[i]), out);
	rc = verify_leaf(x, cas, n_anchors, now, out);
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_anchors; i++)
		X509_free(cas[i]);
	X509_free(x);
	return rc;
}

/* ---- PEM (RFC 7468) ------------------------------------------------------------ */

static int check_label(const char *label)
{
	ENSURE(label && (strcmp(label, "CERTIFICATE") == 0 ||
			 strcmp(label, "CERTIFICATE REQUEST") == 0),
	       AIM_ERR_INVALID, "PEM label must be CERTIFICATE or CERTIFICATE REQUEST");
	return 0;
}

/* The first occurrence of needle (nlen bytes) in hay[0..hlen), or NULL. */
static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen > hlen)
		return NULL;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

int aim_pem_to_der(const char *pem, size_t len, const char *label, struct aim_buf *der)
{
	TRY(check_label(label));
	ENSURE(pem, AIM_ERR_INVALID, "no PEM");
	ENSURE(len <= AIM_X509_PEM_MAX, AIM_ERR_LIMIT, "PEM of %zu bytes (at most %d)", len,
	       AIM_X509_PEM_MAX);
	char begin[48], end[48];
	int bl = snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	int el = snprintf(end, sizeof(end), "-----END %s-----", label);
	/* RFC 7468 section 2: "Data before the encapsulation boundaries are
	 * permitted, and parsers MUST NOT malfunction when processing such
	 * data." The pre-boundary must start a line. */
	const char *b = pem;
	size_t rest = len;
	for (;;) {
		b = find(b, rest, begin, (size_t)bl);
		ENSURE(b, AIM_ERR_DECODE, "no %s line", begin);
		if (b == pem || b[-1] == '\n')
			break;
		b += bl;
		rest = len - (size_t)(b - pem);
	}
	const char *body = b + bl;
	size_t body_max = len - (size_t)(body - pem);
	const char *e = find(body, body_max, end, (size_t)el);
	ENSURE(e, AIM_ERR_DECODE, "no %s line", end);
	/* RFC 7468 section 3: the base64 text with line breaks and white
	 * space between lines ("eolWSP"); the base64 itself is strict. */
	struct aim_buf b64;
	aim_buf_init(&b64, AIM_X509_PEM_MAX);
	int rc = 0;
	for (const char *p = body; p < e && rc == 0; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		rc = aim_buf_append_byte(&b64, c);
	}
	if (rc != 0)
		return -1;
	struct aim_buf raw;
	aim_buf_init(&raw, AIM_X509_MAX);
	ENSURE_GOTO(b64.len > 0, out, AIM_ERR_DECODE, "empty PEM body");
	if (aim_b64_decode(&raw, (const char *)b64.data, b64.len) != 0) {
		if (aim_errcode() == AIM_ERR_LIMIT)
			aim_fail(AIM_ERR_LIMIT, "PEM body over %d bytes of DER", AIM_X509_MAX);
		else
			aim_fail(AIM_ERR_DECODE, "PEM body is not base64");
		rc = -1;
		goto out;
	}
	rc = aim_buf_append(der, raw.data, raw.len);
out:
	aim_buf_free(&raw);
	aim_buf_free(&b64);
	return rc;
}

int aim_der_to_pem(struct aim_bytes der, const char *label, struct aim_buf *pem)
{
	TRY(check_label(label));
	ENSURE(der.p && der.len > 0, AIM_ERR_INVALID, "no DER");
	ENSURE(der.len <= AIM_X509_MAX, AIM_ERR_LIMIT, "DER of %zu bytes (at most %d)", der.len,
	       AIM_X509_MAX);
	struct aim_buf b64;
	aim_buf_init(&b64, AIM_X509_PEM_MAX);
	TRY(aim_b64_encode(&b64, der.p, der.len));
	int rc = 0;
	TRY_GOTO(aim_buf_printf(pem, "-----BEGIN %s-----\n", label), out);
	/* RFC 7468 section 2: "Generators MUST wrap the base64-encoded lines
	 * so that each line consists of exactly 64 characters except for the
	 * final line". */
	for (size_t i = 0; i < b64.len; i += 64) {
		size_t n = b64.len - i < 64 ? b64.len - i : 64;
		TRY_GOTO(aim_buf_append(pem, b64.data + i, n), out);
		TRY_GOTO(aim_buf_append_byte(pem, '\n'), out);
	}
	TRY_GOTO(aim_buf_printf(pem, "-----END %s-----\n", label), out);
out:
	aim_buf_free(&b64);
	return rc;
}
