/* Unit tests of the crypto layer's X.509 credentials (crypto.h "X.509"):
 * CSRs over every MLS signature scheme, the CA, issuance, verification and
 * each of its refusals, PEM armour. Certificates with a wrong property are
 * made here with OpenSSL directly, signed by the CA's own key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"

#define NOW INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define DAY INT64_C(86400)

static const enum aim_sig_alg all_algs[] = {
	AIM_SIG_ED25519,
	AIM_SIG_ED448,
	AIM_SIG_ECDSA_P256_SHA256,
	AIM_SIG_ECDSA_P384_SHA384,
	AIM_SIG_ECDSA_P521_SHA512,
};

/* ---- Helpers --------------------------------------------------------------- */

struct keypair {
	enum aim_sig_alg alg;
	struct aim_buf sk, pk;
};

static void keypair_new(enum aim_sig_alg alg, struct keypair *kp)
{
	kp->alg = alg;
	aim_buf_init(&kp->sk, 0);
	aim_buf_init(&kp->pk, 0);
	assert_int_equal(aim_sig_keygen(alg, &kp->sk, &kp->pk), 0);
}

static void keypair_free(struct keypair *kp)
{
	aim_buf_free_secret(&kp->sk);
	aim_buf_free(&kp->pk);
}

struct ca {
	struct aim_pkey *key;
	struct aim_buf cert;
};

static void ca_new(enum aim_key_type t, const char *cn, int64_t nb, int64_t na, struct ca *ca)
{
	aim_buf_init(&ca->cert, 0);
	assert_int_equal(aim_x509_ca_create(t, cn, nb, na, &ca->key, &ca->cert), 0);
	assert_non_null(ca->key);
}

static void ca_free(struct ca *ca)
{
	aim_pkey_free(ca->key);
	aim_buf_free(&ca->cert);
}

static void issue(const struct ca *ca, const struct keypair *kp, const char *uri, int64_t nb,
		  int64_t na, struct aim_buf *cert)
{
	aim_buf_init(cert, 0);
	assert_int_equal(aim_x509_issue(ca->key, aim_buf_bytes(&ca->cert), kp->alg,
					aim_buf_bytes(&kp->pk), uri, nb, na, cert),
			 0);
}

static int verify1(struct aim_bytes leaf, const struct ca *ca, int64_t now,
		   struct aim_x509_leaf *out)
{
	struct aim_bytes a = aim_buf_bytes(&ca->cert);
	return aim_x509_verify(leaf, &a, 1, now, out);
}

static void expect_fail(int rc, enum aim_err code, const char *msg_part)
{
	assert_int_equal(rc, -1);
	if (aim_errcode() != code || (msg_part && !strstr(aim_errmsg(), msg_part)))
		fail_msg("want %s \"%s\", got %s \"%s\"", aim_errname(code),
			 msg_part ? msg_part : "", aim_errname(aim_errcode()), aim_errmsg());
}

/* The CA's private key as an EVP_PKEY (through its PKCS#8 PEM). */
static EVP_PKEY *evp_of(const struct aim_pkey *k)
{
	struct aim_buf pem;
	aim_buf_init(&pem, 0);
	assert_int_equal(aim_pkey_private_pem(k, &pem), 0);
	BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	EVP_PKEY *e = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	aim_buf_free_secret(&pem);
	assert_non_null(e);
	return e;
}

static X509 *x509_of(struct aim_bytes der)
{
	const unsigned char *p = der.p;
	X509 *x = d2i_X509(NULL, &p, (long)der.len);
	assert_non_null(x);
	return x;
}

static void der_of(X509 *x, struct aim_buf *out)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	assert_true(n > 0);
	aim_buf_init(out, 0);
	assert_int_equal(aim_buf_append(out, p, (size_t)n), 0);
	OPENSSL_free(p);
}

/* A certificate made by hand, for the properties aim_x509_issue never
 * gives. NULL strings leave the extension out. */
struct craft {
	const char *san;      /* OpenSSL syntax, e.g. "critical,URI:acct:a@a.test" */
	const char *ku;       /* e.g. "critical,digitalSignature" */
	const char *bc;       /* e.g. "critical,CA:FALSE" */
	const char *extra;    /* one more extension: "OID=critical,DER:..." style, nid below */
	int extra_nid;
	int64_t nb, na;
	long version;         /* 2 = v3 */
	const EVP_MD *md;     /* signing digest for an ECDSA CA (NULL: SHA-256 / pure EdDSA) */
	EVP_PKEY *subject;    /* NULL: a fresh Ed25519 key */
	const char *subject_cn; /* NULL: empty subject */
	bool self;            /* issuer = subject, signed by `signer` (an anchor) */
};

static const struct craft good_leaf = {
	.san = "critical,URI:acct:alice@a.test",
	.ku = "critical,digitalSignature",
	.bc = "critical,CA:FALSE",
	.nb = NOW - DAY,
	.na = NOW + DAY,
	.version = 2,
};

static void add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *v)
{
	if (!v)
		return;
	X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, v);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* Signed by signer; issuer = issuer_cert's subject (or its own subject
 * when c->self). */
static void craft_cert(const struct craft *c, EVP_PKEY *signer, X509 *issuer_cert,
		       struct aim_buf *out)
{
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, c->version), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME *subj = X509_NAME_new();
	if (c->subject_cn)
		assert_int_equal(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
							    (const unsigned char *)c->subject_cn,
							    -1, -1, 0),
				 1);
	assert_int_equal(X509_set_subject_name(x, subj), 1);
	assert_int_equal(X509_set_issuer_name(x, c->self ? subj : X509_get_subject_name(issuer_cert)),
			 1);
	X509_NAME_free(subj);
	EVP_PKEY *k = c->subject ? c->subject : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	if (!c->subject)
		EVP_PKEY_free(k);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)c->nb));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)c->na));
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, c->self ? x : issuer_cert, x, NULL, NULL, 0);
	add_conf_ext(x, &ctx, NID_subject_alt_name, c->san);
	add_conf_ext(x, &ctx, NID_key_usage, c->ku);
	add_conf_ext(x, &ctx, NID_basic_constraints, c->bc);
	if (c->self)
		add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (c->extra)
		add_conf_ext(x, &ctx, c->extra_nid, c->extra);
	const EVP_MD *md = c->md;
	if (!md && EVP_PKEY_get_base_id(signer) == EVP_PKEY_EC)
		md = EVP_sha256();
	assert_true(X509_sign(x, signer, md) > 0);
	der_of(x, out);
	X509_free(x);
}

/* A leaf crafted under ca. */
static void craft_leaf(const struct craft *c, const struct ca *ca, struct aim_buf *out)
{
	EVP_PKEY *k = evp_of(ca->key);
	X509 *cx = x509_of(aim_buf_bytes(&ca->cert));
	craft_cert(c, k, cx, out);
	X509_free(cx);
	EVP_PKEY_free(k);
}

/* ---- CSR --------------------------------------------------------------------- */

static void test_csr_every_scheme(void **state)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(all_algs); i++) {
		struct keypair kp;
		keypair_new(all_algs[i], &kp);
		struct aim_buf csr, pk;
		aim_buf_init(&csr, 0);
		aim_buf_init(&pk, 0);
		assert_int_equal(aim_x509_csr_create(kp.alg, aim_buf_bytes(&kp.sk),
						     aim_buf_bytes(&kp.pk), "phone", &csr),
				 0);
		assert_true(csr.len > 0 && csr.len <= AIM_X509_MAX);
		enum aim_sig_alg alg = 0;
		assert_int_equal(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), 0);
		assert_int_equal(alg, kp.alg);
		assert_int_equal(pk.len, kp.pk.len);
		assert_memory_equal(pk.data, kp.pk.data, pk.len);
		aim_buf_free(&csr);
		aim_buf_free(&pk);
		keypair_free(&kp);
	}
}

/* Truncated, trailing byte, oversized, empty. */
static void test_csr_framing(void **state)
{
	struct keypair kp;
	keypair_new(AIM_SIG_ED25519, &kp);
	struct aim_buf csr, pk;
	aim_buf_init(&csr, AIM_X509_MAX + 2);
	aim_buf_init(&pk, 0);
	assert_int_equal(aim_x509_csr_create(kp.alg, aim_buf_bytes(&kp.sk), aim_buf_bytes(&kp.pk),
					     "phone", &csr),
			 0);
	enum aim_sig_alg alg;
	for (size_t cut = 1; cut < csr.len; cut += 7)
		expect_fail(aim_x509_csr_verify(AIM_BYTES(csr.data, csr.len - cut), &alg, &pk),
			    AIM_ERR_DECODE, NULL);
	assert_int_equal(aim_buf_append_byte(&csr, 0), 0);
	expect_fail(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), AIM_ERR_DECODE,
		    "after the CSR");
	expect_fail(aim_x509_csr_verify(AIM_BYTES(csr.data, 0), &alg, &pk), AIM_ERR_DECODE, NULL);
	uint8_t *big = calloc(1, AIM_X509_MAX + 1);
	memcpy(big, csr.data, csr.len);
	expect_fail(aim_x509_csr_verify(AIM_BYTES(big, AIM_X509_MAX + 1), &alg, &pk),
		    AIM_ERR_LIMIT, NULL);
	free(big);
	assert_int_equal(pk.len, 0);
	aim_buf_free(&csr);
	aim_buf_free(&pk);
	keypair_free(&kp);
}

/* A CSR made by OpenSSL with any key and digest. */
static void make_csr(EVP_PKEY *k, const EVP_MD *md, struct aim_buf *out)
{
	X509_REQ *req = X509_REQ_new();
	assert_non_null(req);
	assert_int_equal(X509_REQ_set_version(req, 0), 1);
	X509_NAME *n = X509_REQ_get_subject_name(req);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						    (const unsigned char *)"phone", -1, -1, 0),
			 1);
	assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
	assert_true(X509_REQ_sign(req, k, md) > 0);
	unsigned char *p = NULL;
	int len = i2d_X509_REQ(req, &p);
	assert_true(len > 0);
	aim_buf_init(out, 0);
	assert_int_equal(aim_buf_append(out, p, (size_t)len), 0);
	OPENSSL_free(p);
	X509_REQ_free(req);
}

static void csr_of(const struct keypair *kp, struct aim_buf *csr)
{
	aim_buf_init(csr, 0);
	assert_int_equal(aim_x509_csr_create(kp->alg, aim_buf_bytes(&kp->sk),
					     aim_buf_bytes(&kp->pk), "phone", csr),
			 0);
}

/* A flipped byte in the signature, or in the signed part: VERIFY. */
static void test_csr_bad_signature(void **state)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(all_algs); i++) {
		struct keypair kp;
		keypair_new(all_algs[i], &kp);
		struct aim_buf csr, pk;
		csr_of(&kp, &csr);
		aim_buf_init(&pk, 0);
		enum aim_sig_alg alg;
		csr.data[csr.len - 1] ^= 0x01;
		expect_fail(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), AIM_ERR_VERIFY,
			    "does not verify");
		csr.data[csr.len - 1] ^= 0x01;
		/* the "e" of "phone" in the subject */
		uint8_t *cn = memmem(csr.data, csr.len, "phone", 5);
		assert_non_null(cn);
		cn[4] = 'E';
		expect_fail(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), AIM_ERR_VERIFY,
			    "does not verify");
		cn[4] = 'e';
		assert_int_equal(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), 0);
		aim_buf_free(&csr);
		aim_buf_free(&pk);
		keypair_free(&kp);
	}
}

/* RSA, another curve, or an MLS key signed otherwise than MLS signs with it:
 * UNSUPPORTED. */
static void test_csr_unsupported(void **state)
{
	struct aim_buf csr, pk;
	aim_buf_init(&pk, 0);
	enum aim_sig_alg alg;
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	make_csr(rsa, EVP_sha256(), &csr);
	expect_fail(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), AIM_ERR_UNSUPPORTED,
		    "RSA");
	aim_buf_free(&csr);
	EVP_PKEY_free(rsa);

	EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	make_csr(k1, EVP_sha256(), &csr);
	expect_fail(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), AIM_ERR_UNSUPPORTED,
		    "secp256k1");
	aim_buf_free(&csr);
	EVP_PKEY_free(k1);

	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	make_csr(p256, EVP_sha256(), &csr); /* as MLS signs: accepted */
	assert_int_equal(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), 0);
	assert_int_equal(alg, AIM_SIG_ECDSA_P256_SHA256);
	assert_int_equal(pk.len, 65);
	aim_buf_free(&csr);
	aim_buf_reset(&pk);
	make_csr(p256, EVP_sha384(), &csr);
	expect_fail(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), AIM_ERR_UNSUPPORTED,
		    "signed with");
	aim_buf_free(&csr);
	make_csr(p256, EVP_sha1(), &csr);
	expect_fail(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), AIM_ERR_UNSUPPORTED,
		    "signed with");
	aim_buf_free(&csr);
	EVP_PKEY_free(p256);
	assert_int_equal(pk.len, 0);
	aim_buf_free(&pk);
}

static void test_csr_create_refusals(void **state)
{
	struct keypair a, b;
	keypair_new(AIM_SIG_ECDSA_P256_SHA256, &a);
	keypair_new(AIM_SIG_ECDSA_P256_SHA256, &b);
	struct aim_buf csr;
	aim_buf_init(&csr, 0);
	/* a public key that is not the private key's */
	expect_fail(aim_x509_csr_create(a.alg, aim_buf_bytes(&a.sk), aim_buf_bytes(&b.pk),
					"phone", &csr),
		    AIM_ERR_INVALID, "not the private key's");
	expect_fail(aim_x509_csr_create(a.alg, aim_buf_bytes(&a.sk), aim_buf_bytes(&a.pk), "",
					&csr),
		    AIM_ERR_INVALID, "common name");
	char long_cn[66];
	memset(long_cn, 'x', 65);
	long_cn[65] = '\0';
	expect_fail(aim_x509_csr_create(a.alg, aim_buf_bytes(&a.sk), aim_buf_bytes(&a.pk),
					long_cn, &csr),
		    AIM_ERR_INVALID, "common name");
	long_cn[64] = '\0';
	assert_int_equal(aim_x509_csr_create(a.alg, aim_buf_bytes(&a.sk), aim_buf_bytes(&a.pk),
					     long_cn, &csr),
			 0);
	aim_buf_reset(&csr);
	expect_fail(aim_x509_csr_create((enum aim_sig_alg)0x0401, aim_buf_bytes(&a.sk),
					aim_buf_bytes(&a.pk), "phone", &csr),
		    AIM_ERR_UNSUPPORTED, NULL);
	expect_fail(aim_x509_csr_create(AIM_SIG_ED25519, aim_buf_bytes(&a.sk),
					aim_buf_bytes(&a.pk), "phone", &csr),
		    AIM_ERR_INVALID, NULL);
	assert_int_equal(csr.len, 0);
	aim_buf_free(&csr);
	keypair_free(&a);
	keypair_free(&b);
}

/* ---- CA, issue, verify ------------------------------------------------------ */

static void test_issue_verify_every_scheme(void **state)
{
	static const enum aim_key_type cas[] = { AIM_KEY_ED25519, AIM_KEY_P256 };
	for (size_t c = 0; c < AIM_ARRAY_LEN(cas); c++) {
		struct ca ca;
		ca_new(cas[c], "a.test CA", NOW - DAY, NOW + 365 * DAY, &ca);
		assert_int_equal(aim_pkey_type(ca.key), cas[c]);
		assert_true(aim_pkey_has_private(ca.key));
		for (size_t i = 0; i < AIM_ARRAY_LEN(all_algs); i++) {
			struct keypair kp;
			keypair_new(all_algs[i], &kp);
			struct aim_buf cert;
			issue(&ca, &kp, "acct:alice@a.test", NOW - 60, NOW + 30 * DAY, &cert);
			struct aim_x509_leaf leaf;
			assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW, &leaf), 0);
			assert_int_equal(leaf.alg, kp.alg);
			assert_int_equal(leaf.pk_len, kp.pk.len);
			assert_memory_equal(leaf.pk, kp.pk.data, kp.pk.len);
			assert_string_equal(leaf.san_uri, "acct:alice@a.test");
			assert_int_equal(leaf.not_before, NOW - 60);
			assert_int_equal(leaf.not_after, NOW + 30 * DAY);
			assert_int_equal(leaf.serial_len, 16);
			assert_int_equal(leaf.anchor, 0);
			aim_buf_free(&cert);
			keypair_free(&kp);
		}
		ca_free(&ca);
	}
}

static void ed_leaf(const struct ca *ca, const char *uri, int64_t nb, int64_t na,
		    struct aim_buf *cert)
{
	struct keypair kp;
	keypair_new(AIM_SIG_ED25519, &kp);
	issue(ca, &kp, uri, nb, na, cert);
	keypair_free(&kp);
}

static void test_verify_framing(void **state)
{
	struct ca ca;
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - DAY, NOW + DAY, &ca);
	struct aim_buf cert;
	ed_leaf(&ca, "acct:alice@a.test", NOW - 60, NOW + 60, &cert);
	struct aim_x509_leaf out;
	for (size_t cut = 1; cut < cert.len; cut += 5) {
		expect_fail(verify1(AIM_BYTES(cert.data, cert.len - cut), &ca, NOW, &out),
			    AIM_ERR_DECODE, "leaf");
		assert_int_equal(out.pk_len, 0);
		assert_int_equal(out.san_uri[0], '\0');
	}
	/* trailing bytes, on the leaf and on an anchor */
	uint8_t *big = calloc(1, AIM_X509_MAX + 1);
	memcpy(big, cert.data, cert.len);
	expect_fail(verify1(AIM_BYTES(big, cert.len + 1), &ca, NOW, &out), AIM_ERR_DECODE,
		    "after the certificate");
	expect_fail(verify1(AIM_BYTES(big, AIM_X509_MAX + 1), &ca, NOW, &out), AIM_ERR_LIMIT,
		    NULL);
	expect_fail(verify1(AIM_BYTES(big, 0), &ca, NOW, &out), AIM_ERR_DECODE, NULL);
	struct aim_bytes anchors[2] = { aim_buf_bytes(&ca.cert), AIM_BYTES(big, 0) };
	memcpy(big, ca.cert.data, ca.cert.len);
	anchors[1] = AIM_BYTES(big, ca.cert.len + 1);
	expect_fail(aim_x509_verify(aim_buf_bytes(&cert), anchors, 2, NOW, &out), AIM_ERR_DECODE,
		    "CA certificate");
	anchors[1] = AIM_BYTES(big, ca.cert.len - 1);
	expect_fail(aim_x509_verify(aim_buf_bytes(&cert), anchors, 2, NOW, &out), AIM_ERR_DECODE,
		    "CA certificate");
	anchors[1] = AIM_BYTES(big, AIM_X509_MAX + 1);
	expect_fail(aim_x509_verify(aim_buf_bytes(&cert), anchors, 2, NOW, &out), AIM_ERR_LIMIT,
		    "CA certificate");
	expect_fail(aim_x509_verify(aim_buf_bytes(&cert), anchors, 0, NOW, &out), AIM_ERR_INVALID,
		    NULL);
	free(big);
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW, &out), 0);
	aim_buf_free(&cert);
	ca_free(&ca);
}

/* A leaf from another CA, even one with the same name, is refused; so is a
 * leaf whose signature or signed part was changed. */
static void test_verify_other_ca(void **state)
{
	struct ca a, twin, c;
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - DAY, NOW + DAY, &a);
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - DAY, NOW + DAY, &twin);
	ca_new(AIM_KEY_P256, "c.test CA", NOW - DAY, NOW + DAY, &c);
	struct aim_buf by_twin, by_c, by_a;
	ed_leaf(&twin, "acct:bob@a.test", NOW - 60, NOW + 60, &by_twin);
	ed_leaf(&c, "acct:bob@a.test", NOW - 60, NOW + 60, &by_c);
	ed_leaf(&a, "acct:bob@a.test", NOW - 60, NOW + 60, &by_a);
	struct aim_x509_leaf out;
	expect_fail(verify1(aim_buf_bytes(&by_twin), &a, NOW, &out), AIM_ERR_VERIFY,
		    "not signed by");
	expect_fail(verify1(aim_buf_bytes(&by_c), &a, NOW, &out), AIM_ERR_VERIFY, "not signed by");
	assert_int_equal(verify1(aim_buf_bytes(&by_c), &c, NOW, &out), 0);
	by_a.data[by_a.len - 1] ^= 0x80;
	expect_fail(verify1(aim_buf_bytes(&by_a), &a, NOW, &out), AIM_ERR_VERIFY, "not signed by");
	by_a.data[by_a.len - 1] ^= 0x80;
	uint8_t *u = memmem(by_a.data, by_a.len, "acct:bob", 8);
	assert_non_null(u);
	u[5] = 'r'; /* acct:rob@a.test */
	expect_fail(verify1(aim_buf_bytes(&by_a), &a, NOW, &out), AIM_ERR_VERIFY, "not signed by");
	u[5] = 'b';
	assert_int_equal(verify1(aim_buf_bytes(&by_a), &a, NOW, &out), 0);
	aim_buf_free(&by_twin);
	aim_buf_free(&by_c);
	aim_buf_free(&by_a);
	ca_free(&a);
	ca_free(&twin);
	ca_free(&c);
}

/* Validity of the leaf and of the CA, both ends inclusive. */
static void test_verify_times(void **state)
{
	struct ca ca;
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - 10 * DAY, NOW + 10 * DAY, &ca);
	struct aim_buf cert;
	ed_leaf(&ca, "acct:alice@a.test", NOW - DAY, NOW + DAY, &cert);
	struct aim_x509_leaf out;
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW - DAY, &out), 0);
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW + DAY, &out), 0);
	expect_fail(verify1(aim_buf_bytes(&cert), &ca, NOW - DAY - 1, &out), AIM_ERR_VERIFY,
		    "leaf: not valid before");
	expect_fail(verify1(aim_buf_bytes(&cert), &ca, NOW + DAY + 1, &out), AIM_ERR_VERIFY,
		    "leaf: expired");
	aim_buf_free(&cert);
	/* A leaf that outlives its CA is refused once the CA expired, and one
	 * issued before the CA's validity until then. */
	ed_leaf(&ca, "acct:alice@a.test", NOW - 20 * DAY, NOW + 20 * DAY, &cert);
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW, &out), 0);
	expect_fail(verify1(aim_buf_bytes(&cert), &ca, NOW + 10 * DAY + 1, &out), AIM_ERR_VERIFY,
		    "CA certificate: expired");
	expect_fail(verify1(aim_buf_bytes(&cert), &ca, NOW - 10 * DAY - 1, &out), AIM_ERR_VERIFY,
		    "CA certificate: not valid before");
	aim_buf_free(&cert);
	ca_free(&ca);
	/* Dates from 2050 on are GeneralizedTime (RFC 5280 4.1.2.5). */
	int64_t y2060 = INT64_C(2840140800);
	ca_new(AIM_KEY_P256, "a.test CA", NOW, y2060, &ca);
	ed_leaf(&ca, "acct:alice@a.test", NOW, y2060 - 1, &cert);
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, y2060 - 1, &out), 0);
	assert_int_equal(out.not_after, y2060 - 1);
	expect_fail(verify1(aim_buf_bytes(&cert), &ca, y2060, &out), AIM_ERR_VERIFY, "expired");
	aim_buf_free(&cert);
	ca_free(&ca);
}

/* The crafter's good leaf passes; then one property at a time. */
static void test_verify_crafted(void **state)
{
	struct ca ca;
	ca_new(AIM_KEY_P256, "a.test CA", NOW - 10 * DAY, NOW + 10 * DAY, &ca);
	struct aim_x509_leaf out;
	struct aim_buf cert;
	craft_leaf(&good_leaf, &ca, &cert);
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW, &out), 0);
	assert_string_equal(out.san_uri, "acct:alice@a.test");
	assert_int_equal(out.alg, AIM_SIG_ED25519);
	assert_int_equal(out.serial_len, 2); /* 4242 */
	assert_int_equal(out.serial[0], 0x10);
	assert_int_equal(out.serial[1], 0x92);
	aim_buf_free(&cert);

	static const struct {
		const char *what;
		struct craft c;
		enum aim_err code;
		const char *msg;
	} cases[] = {
		{ "no keyUsage", { .ku = NULL }, AIM_ERR_VERIFY, "no keyUsage" },
		{ "keyEncipherment only", { .ku = "critical,keyEncipherment" }, AIM_ERR_VERIFY,
		  "without digitalSignature" },
		{ "keyCertSign too", { .ku = "critical,digitalSignature,keyCertSign" },
		  AIM_ERR_VERIFY, "keyCertSign" },
		{ "a CA", { .bc = "critical,CA:TRUE" }, AIM_ERR_VERIFY, "a CA certificate" },
		{ "two SAN URIs", { .san = "URI:acct:alice@a.test,URI:acct:eve@a.test" },
		  AIM_ERR_VERIFY, "2 subjectAltName entries" },
		{ "a URI and a DNS name", { .san = "URI:acct:alice@a.test,DNS:a.test" },
		  AIM_ERR_VERIFY, "2 subjectAltName entries" },
		{ "an email", { .san = "email:alice@a.test" }, AIM_ERR_VERIFY, "not a URI" },
		{ "no SAN", { .san = NULL, .subject_cn = "acct:alice@a.test" }, AIM_ERR_VERIFY,
		  "no subjectAltName" },
		{ "a relative URI", { .san = "URI:alice" }, AIM_ERR_VERIFY, "absolute URI" },
		{ "version 1", { .version = 0 }, AIM_ERR_VERIFY, "version 3" },
		{ "version 2", { .version = 1 }, AIM_ERR_VERIFY, "version 3" },
		{ "SHA-1", { .md = NULL /* set below */ }, AIM_ERR_VERIFY, "not accepted" },
		{ "unknown critical extension", { .extra = "critical,DER:05:00" }, AIM_ERR_VERIFY,
		  "unknown critical extension" },
		{ "two keyUsage", { .extra = "critical,digitalSignature", .extra_nid = NID_key_usage },
		  AIM_ERR_DECODE, "repeated" },
	};
	int test_nid = OBJ_create("1.3.6.1.4.1.55555.1.1", "aimTestExt", "aim test extension");
	for (size_t i = 0; i < AIM_ARRAY_LEN(cases); i++) {
		struct craft c = good_leaf;
		const struct craft *d = &cases[i].c;
		if (strcmp(cases[i].what, "no keyUsage") == 0 || d->ku)
			c.ku = d->ku;
		if (d->bc)
			c.bc = d->bc;
		if (d->san || d->subject_cn)
			c.san = d->san;
		c.subject_cn = d->subject_cn;
		if (strncmp(cases[i].what, "version", 7) == 0)
			c.version = d->version;
		if (strcmp(cases[i].what, "SHA-1") == 0)
			c.md = EVP_sha1();
		c.extra = d->extra;
		c.extra_nid = d->extra_nid ? d->extra_nid : test_nid;
		craft_leaf(&c, &ca, &cert);
		int rc = verify1(aim_buf_bytes(&cert), &ca, NOW, &out);
		if (rc != -1 || aim_errcode() != cases[i].code || !strstr(aim_errmsg(), cases[i].msg))
			fail_msg("%s: want %s \"%s\", got %d %s \"%s\"", cases[i].what,
				 aim_errname(cases[i].code), cases[i].msg, rc,
				 aim_errname(aim_errcode()), aim_errmsg());
		assert_int_equal(out.pk_len, 0);
		aim_buf_free(&cert);
	}
	ca_free(&ca);
}

/* The leaf's key: every MLS scheme is read back in MLS format; RSA and other
 * curves are refused. */
static void test_verify_leaf_keys(void **state)
{
	struct ca ca;
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - DAY, NOW + DAY, &ca);
	struct aim_x509_leaf out;
	struct aim_buf cert;
	struct craft c = good_leaf;
	c.subject = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	craft_leaf(&c, &ca, &cert);
	expect_fail(verify1(aim_buf_bytes(&cert), &ca, NOW, &out), AIM_ERR_VERIFY, "RSA");
	aim_buf_free(&cert);
	EVP_PKEY_free(c.subject);
	c.subject = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	craft_leaf(&c, &ca, &cert);
	expect_fail(verify1(aim_buf_bytes(&cert), &ca, NOW, &out), AIM_ERR_VERIFY, "secp256k1");
	aim_buf_free(&cert);
	EVP_PKEY_free(c.subject);
	/* A P-384 key encoded compressed comes back as the uncompressed point. */
	c.subject = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_int_equal(EVP_PKEY_set_utf8_string_param(c.subject, "point-format", "compressed"),
			 1);
	craft_leaf(&c, &ca, &cert);
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW, &out), 0);
	assert_int_equal(out.alg, AIM_SIG_ECDSA_P384_SHA384);
	assert_int_equal(out.pk_len, 97);
	assert_int_equal(out.pk[0], 0x04);
	unsigned char pub[97];
	size_t plen = 0;
	assert_int_equal(EVP_PKEY_set_utf8_string_param(c.subject, "point-format", "uncompressed"),
			 1);
	assert_int_equal(EVP_PKEY_get_octet_string_param(c.subject, "encoded-pub-key", pub,
							 sizeof(pub), &plen),
			 1);
	assert_int_equal(plen, 97);
	assert_memory_equal(pub, out.pk, 97);
	aim_buf_free(&cert);
	EVP_PKEY_free(c.subject);
	ca_free(&ca);
}

/* An anchor must be a CA: basicConstraints cA, keyCertSign when keyUsage
 * is there. */
static void test_verify_anchor_not_ca(void **state)
{
	static const struct {
		const char *bc, *ku, *msg;
	} cases[] = {
		{ "critical,CA:FALSE", "critical,keyCertSign", "cA is false" },
		{ NULL, "critical,keyCertSign", "no basicConstraints" },
		{ "critical,CA:TRUE", "critical,digitalSignature", "without keyCertSign" },
		{ "critical,CA:TRUE", NULL, NULL }, /* no keyUsage: allowed */
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(cases); i++) {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		struct craft ac = { .bc = cases[i].bc, .ku = cases[i].ku, .nb = NOW - DAY,
				    .na = NOW + DAY, .version = 2, .subject = k,
				    .subject_cn = "fake CA", .self = true };
		struct aim_buf anchor, leaf;
		craft_cert(&ac, k, NULL, &anchor);
		X509 *ax = x509_of(aim_buf_bytes(&anchor));
		craft_cert(&good_leaf, k, ax, &leaf);
		struct aim_bytes a = aim_buf_bytes(&anchor);
		struct aim_x509_leaf out;
		int rc = aim_x509_verify(aim_buf_bytes(&leaf), &a, 1, NOW, &out);
		if (cases[i].msg)
			expect_fail(rc, AIM_ERR_VERIFY, cases[i].msg);
		else
			assert_int_equal(rc, 0);
		X509_free(ax);
		EVP_PKEY_free(k);
		aim_buf_free(&anchor);
		aim_buf_free(&leaf);
	}
}

/* Rotation: the domain publishes the new and the old CA; a leaf of either
 * verifies and says which one signed it; once the old CA expired only
 * leaves of the new one do. */
static void test_verify_rotation(void **state)
{
	struct ca old, cur;
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - 100 * DAY, NOW + 5 * DAY, &old);
	ca_new(AIM_KEY_P256, "a.test CA", NOW - DAY, NOW + 100 * DAY, &cur);
	struct aim_buf by_old, by_cur;
	ed_leaf(&old, "acct:alice@a.test", NOW - DAY, NOW + 30 * DAY, &by_old);
	ed_leaf(&cur, "acct:alice@a.test", NOW - DAY, NOW + 30 * DAY, &by_cur);
	struct aim_bytes anchors[2] = { aim_buf_bytes(&cur.cert), aim_buf_bytes(&old.cert) };
	struct aim_x509_leaf out;
	assert_int_equal(aim_x509_verify(aim_buf_bytes(&by_old), anchors, 2, NOW, &out), 0);
	assert_int_equal(out.anchor, 1);
	assert_int_equal(aim_x509_verify(aim_buf_bytes(&by_cur), anchors, 2, NOW, &out), 0);
	assert_int_equal(out.anchor, 0);
	int64_t later = NOW + 6 * DAY;
	assert_int_equal(aim_x509_verify(aim_buf_bytes(&by_cur), anchors, 2, later, &out), 0);
	assert_int_equal(out.anchor, 0);
	expect_fail(aim_x509_verify(aim_buf_bytes(&by_old), anchors, 2, later, &out),
		    AIM_ERR_VERIFY, "CA certificate: expired");
	/* only the new one published: the old leaf is refused */
	expect_fail(aim_x509_verify(aim_buf_bytes(&by_old), anchors, 1, NOW, &out),
		    AIM_ERR_VERIFY, "not signed by");
	aim_buf_free(&by_old);
	aim_buf_free(&by_cur);
	ca_free(&old);
	ca_free(&cur);
}

/* A renewed CA certificate over the same key still verifies the leaves the
 * old one issued; the CA key survives its PEM round trip (as h-ca stores
 * it). */
static void test_ca_key_pem_and_renewal(void **state)
{
	static const enum aim_key_type types[] = { AIM_KEY_ED25519, AIM_KEY_P256 };
	for (size_t t = 0; t < AIM_ARRAY_LEN(types); t++) {
		struct ca ca;
		ca_new(types[t], "a.test CA", NOW - DAY, NOW + DAY, &ca);
		struct aim_buf pem;
		aim_buf_init(&pem, 0);
		assert_int_equal(aim_pkey_private_pem(ca.key, &pem), 0);
		struct aim_pkey *loaded;
		assert_int_equal(aim_pkey_from_private_pem((char *)pem.data, pem.len, &loaded), 0);
		aim_buf_free_secret(&pem);
		assert_int_equal(aim_pkey_type(loaded), types[t]);
		assert_true(aim_pkey_has_private(loaded));
		struct keypair kp;
		keypair_new(AIM_SIG_ECDSA_P521_SHA512, &kp);
		struct aim_buf cert;
		aim_buf_init(&cert, 0);
		assert_int_equal(aim_x509_issue(loaded, aim_buf_bytes(&ca.cert), kp.alg,
						aim_buf_bytes(&kp.pk), "acct:alice@a.test", NOW,
						NOW + DAY, &cert),
				 0);
		struct aim_buf renewed;
		aim_buf_init(&renewed, 0);
		assert_int_equal(aim_x509_ca_cert(loaded, "a.test CA", NOW, NOW + 100 * DAY,
						  &renewed),
				 0);
		struct aim_bytes a = aim_buf_bytes(&renewed);
		struct aim_x509_leaf out;
		assert_int_equal(aim_x509_verify(aim_buf_bytes(&cert), &a, 1, NOW + DAY, &out), 0);
		assert_int_equal(out.alg, AIM_SIG_ECDSA_P521_SHA512);
		assert_memory_equal(out.pk, kp.pk.data, kp.pk.len);
		/* the public half alone cannot issue */
		struct aim_buf pub;
		aim_buf_init(&pub, 0);
		assert_int_equal(aim_pkey_public_pem(loaded, &pub), 0);
		struct aim_pkey *public_only;
		assert_int_equal(aim_pkey_from_public_pem((char *)pub.data, pub.len, &public_only),
				 0);
		aim_buf_reset(&cert);
		expect_fail(aim_x509_issue(public_only, aim_buf_bytes(&ca.cert), kp.alg,
					   aim_buf_bytes(&kp.pk), "acct:alice@a.test", NOW,
					   NOW + DAY, &cert),
			    AIM_ERR_INVALID, "no private part");
		aim_pkey_free(public_only);
		aim_buf_free(&pub);
		aim_buf_free(&renewed);
		aim_buf_free(&cert);
		keypair_free(&kp);
		aim_pkey_free(loaded);
		ca_free(&ca);
	}
}

static void test_issue_refusals(void **state)
{
	struct ca ca, other;
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - DAY, NOW + DAY, &ca);
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - DAY, NOW + DAY, &other);
	struct keypair kp;
	keypair_new(AIM_SIG_ED25519, &kp);
	struct aim_buf cert;
	aim_buf_init(&cert, 0);
	struct aim_bytes pk = aim_buf_bytes(&kp.pk);
	expect_fail(aim_x509_issue(other.key, aim_buf_bytes(&ca.cert), kp.alg, pk,
				   "acct:alice@a.test", NOW, NOW + DAY, &cert),
		    AIM_ERR_INVALID, "not the CA certificate's key");
	static const char *const bad_uris[] = { "", "alice", ":alice", "acct:", "acct:a b@a.test",
						"1acct:alice@a.test", "acct:al\x01ice",
						"acct:\xc3\xa9@a.test" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(bad_uris); i++)
		expect_fail(aim_x509_issue(ca.key, aim_buf_bytes(&ca.cert), kp.alg, pk, bad_uris[i],
					   NOW, NOW + DAY, &cert),
			    AIM_ERR_INVALID, "SAN URI");
	expect_fail(aim_x509_issue(ca.key, aim_buf_bytes(&ca.cert), kp.alg, pk, NULL, NOW,
				   NOW + DAY, &cert),
		    AIM_ERR_INVALID, "SAN URI");
	char long_uri[AIM_X509_URI_MAX + 2];
	memcpy(long_uri, "acct:", 5);
	memset(long_uri + 5, 'a', sizeof(long_uri) - 6);
	long_uri[sizeof(long_uri) - 1] = '\0';
	expect_fail(aim_x509_issue(ca.key, aim_buf_bytes(&ca.cert), kp.alg, pk, long_uri, NOW,
				   NOW + DAY, &cert),
		    AIM_ERR_INVALID, "SAN URI");
	expect_fail(aim_x509_issue(ca.key, aim_buf_bytes(&ca.cert), kp.alg, pk,
				   "acct:alice@a.test", NOW + DAY, NOW, &cert),
		    AIM_ERR_INVALID, "validity");
	expect_fail(aim_x509_issue(ca.key, AIM_BYTES(ca.cert.data, ca.cert.len - 1), kp.alg, pk,
				   "acct:alice@a.test", NOW, NOW + DAY, &cert),
		    AIM_ERR_DECODE, NULL);
	expect_fail(aim_x509_issue(ca.key, aim_buf_bytes(&ca.cert), AIM_SIG_ECDSA_P256_SHA256, pk,
				   "acct:alice@a.test", NOW, NOW + DAY, &cert),
		    AIM_ERR_INVALID, NULL);
	expect_fail(aim_x509_issue(ca.key, aim_buf_bytes(&ca.cert), (enum aim_sig_alg)0x0804, pk,
				   "acct:alice@a.test", NOW, NOW + DAY, &cert),
		    AIM_ERR_UNSUPPORTED, NULL);
	struct aim_pkey *rsa;
	assert_int_equal(aim_pkey_generate(AIM_KEY_RSA, &rsa), 0);
	expect_fail(aim_x509_issue(rsa, aim_buf_bytes(&ca.cert), kp.alg, pk, "acct:alice@a.test",
				   NOW, NOW + DAY, &cert),
		    AIM_ERR_UNSUPPORTED, NULL);
	expect_fail(aim_x509_ca_cert(rsa, "x", NOW, NOW + DAY, &cert), AIM_ERR_UNSUPPORTED, NULL);
	aim_pkey_free(rsa);
	struct aim_pkey *k = (struct aim_pkey *)1;
	expect_fail(aim_x509_ca_create(AIM_KEY_RSA, "x", NOW, NOW + DAY, &k, &cert),
		    AIM_ERR_UNSUPPORTED, NULL);
	assert_null(k);
	expect_fail(aim_x509_ca_create(AIM_KEY_ED25519, "", NOW, NOW + DAY, &k, &cert),
		    AIM_ERR_INVALID, NULL);
	expect_fail(aim_x509_ca_create(AIM_KEY_ED25519, "x", -1, NOW + DAY, &k, &cert),
		    AIM_ERR_INVALID, NULL);
	assert_int_equal(cert.len, 0);
	/* A comma or other punctuation is kept as it is: the URI never passes
	 * through a configuration parser. */
	assert_int_equal(aim_x509_issue(ca.key, aim_buf_bytes(&ca.cert), kp.alg, pk,
					"acct:a,URI:acct:eve@a.test", NOW, NOW + DAY, &cert),
			 0);
	struct aim_x509_leaf out;
	assert_int_equal(verify1(aim_buf_bytes(&cert), &ca, NOW, &out), 0);
	assert_string_equal(out.san_uri, "acct:a,URI:acct:eve@a.test");
	aim_buf_free(&cert);
	keypair_free(&kp);
	ca_free(&ca);
	ca_free(&other);
}

/* ---- PEM ---------------------------------------------------------------------- */

static void test_pem_round_trip(void **state)
{
	struct ca ca;
	ca_new(AIM_KEY_ED25519, "a.test CA", NOW - DAY, NOW + DAY, &ca);
	struct aim_buf pem, der;
	aim_buf_init(&pem, 0);
	aim_buf_init(&der, 0);
	assert_int_equal(aim_der_to_pem(aim_buf_bytes(&ca.cert), "CERTIFICATE", &pem), 0);
	assert_true(strncmp((char *)pem.data, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
	assert_int_equal(aim_pem_to_der((char *)pem.data, pem.len, "CERTIFICATE", &der), 0);
	assert_int_equal(der.len, ca.cert.len);
	assert_memory_equal(der.data, ca.cert.data, der.len);
	/* OpenSSL reads what we write. */
	BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(x);
	X509_free(x);
	BIO_free(bio);
	aim_buf_free(&pem);
	aim_buf_free(&der);
	ca_free(&ca);
}

static void test_pem_refusals(void **state)
{
	struct keypair kp;
	keypair_new(AIM_SIG_ED448, &kp);
	struct aim_buf csr, pem, der;
	csr_of(&kp, &csr);
	aim_buf_init(&pem, 0);
	aim_buf_init(&der, 0);
	assert_int_equal(aim_der_to_pem(aim_buf_bytes(&csr), "CERTIFICATE REQUEST", &pem), 0);
	const char *t = (const char *)pem.data;
	/* as a CERTIFICATE it is not there */
	expect_fail(aim_pem_to_der(t, pem.len, "CERTIFICATE", &der), AIM_ERR_DECODE,
		    "BEGIN CERTIFICATE-----");
	expect_fail(aim_pem_to_der(t, pem.len, "PRIVATE KEY", &der), AIM_ERR_INVALID, "label");
	expect_fail(aim_der_to_pem(aim_buf_bytes(&csr), "RSA PRIVATE KEY", &der), AIM_ERR_INVALID,
		    "label");
	/* text around it, CRLF lines */
	struct aim_buf crlf;
	aim_buf_init(&crlf, 0);
	assert_int_equal(aim_buf_append_str(&crlf, "Subject: phone\r\n"), 0);
	for (size_t i = 0; i < pem.len; i++) {
		if (t[i] == '\n')
			assert_int_equal(aim_buf_append_byte(&crlf, '\r'), 0);
		assert_int_equal(aim_buf_append_byte(&crlf, (uint8_t)t[i]), 0);
	}
	assert_int_equal(aim_buf_append_str(&crlf, "trailing words\r\n"), 0);
	assert_int_equal(aim_pem_to_der((char *)crlf.data, crlf.len, "CERTIFICATE REQUEST", &der),
			 0);
	assert_int_equal(der.len, csr.len);
	assert_memory_equal(der.data, csr.data, csr.len);
	enum aim_sig_alg alg;
	struct aim_buf pk;
	aim_buf_init(&pk, 0);
	assert_int_equal(aim_x509_csr_verify(aim_buf_bytes(&der), &alg, &pk), 0);
	assert_int_equal(alg, AIM_SIG_ED448);
	aim_buf_free(&pk);
	aim_buf_free(&crlf);
	aim_buf_reset(&der);
	/* the BEGIN line must start a line */
	char *mid = aim_xasprintf("x%s", t);
	expect_fail(aim_pem_to_der(mid, strlen(mid), "CERTIFICATE REQUEST", &der), AIM_ERR_DECODE,
		    "BEGIN");
	free(mid);
	/* no END line */
	char *noend = aim_xstrndup(t, (size_t)(strstr(t, "-----END") - t));
	expect_fail(aim_pem_to_der(noend, strlen(noend), "CERTIFICATE REQUEST", &der),
		    AIM_ERR_DECODE, "END");
	free(noend);
	/* a character outside base64 */
	char *bad = aim_xstrdup(t);
	bad[strlen("-----BEGIN CERTIFICATE REQUEST-----\n") + 3] = '*';
	expect_fail(aim_pem_to_der(bad, strlen(bad), "CERTIFICATE REQUEST", &der), AIM_ERR_DECODE,
		    "base64");
	free(bad);
	const char *empty = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
	expect_fail(aim_pem_to_der(empty, strlen(empty), "CERTIFICATE", &der), AIM_ERR_DECODE,
		    "empty");
	/* too long a text; too much DER inside a text that fits */
	char *huge = calloc(1, AIM_X509_PEM_MAX + 2);
	memset(huge, ' ', AIM_X509_PEM_MAX + 1);
	expect_fail(aim_pem_to_der(huge, AIM_X509_PEM_MAX + 1, "CERTIFICATE", &der), AIM_ERR_LIMIT,
		    NULL);
	size_t n = 0;
	n += (size_t)sprintf(huge, "-----BEGIN CERTIFICATE-----\n");
	for (size_t i = 0; i < (AIM_X509_MAX + 3) / 3 * 4; i++)
		huge[n++] = 'A';
	n += (size_t)sprintf(huge + n, "\n-----END CERTIFICATE-----\n");
	assert_true(n <= AIM_X509_PEM_MAX);
	expect_fail(aim_pem_to_der(huge, n, "CERTIFICATE", &der), AIM_ERR_LIMIT, "DER");
	uint8_t *zeros = calloc(1, AIM_X509_MAX + 1);
	expect_fail(aim_der_to_pem(AIM_BYTES(zeros, AIM_X509_MAX + 1), "CERTIFICATE", &pem),
		    AIM_ERR_LIMIT, NULL);
	free(zeros);
	free(huge);
	assert_int_equal(der.len, 0);
	aim_buf_free(&pem);
	aim_buf_free(&der);
	aim_buf_free(&csr);
	keypair_free(&kp);
}

/* ---- Fuzz seeds ------------------------------------------------------------- */

/* The fixed CA of fuzz/fuzz_x509.c (the same bytes and name). */
static const char FUZZ_CA_SEED[32] = "aim fuzz_x509 fixed CA key #1..";
#define FUZZ_CA_CN "fuzz CA"
#define FUZZ_FAR INT64_C(253402300799)

struct seeds {
	const char *dir; /* NULL: check only */
	size_t n;
};

static void seed_put(struct seeds *sd, uint8_t mode, struct aim_bytes b)
{
	struct aim_buf data;
	aim_buf_init(&data, 0);
	assert_int_equal(aim_buf_append_byte(&data, mode), 0);
	assert_int_equal(aim_buf_append(&data, b.p, b.len), 0);
	sd->n++;
	if (sd->dir) {
		uint8_t h[32];
		assert_int_equal(aim_sha256(aim_buf_bytes(&data), h), 0);
		struct aim_buf name;
		aim_buf_init(&name, 0);
		assert_int_equal(aim_buf_printf(&name, "%s/", sd->dir), 0);
		assert_int_equal(aim_hex_encode(&name, h, 8), 0);
		FILE *f = fopen((char *)name.data, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(data.data, 1, data.len, f), data.len);
		assert_int_equal(fclose(f), 0);
		aim_buf_free(&name);
	}
	aim_buf_free(&data);
}

/* Seeds of every path of fuzz_x509 (the first byte picks it); written to
 * $AIM_X509_SEEDS when set, else only checked: the leaves of the fixed CA
 * verify (path 1 gets past the signature), the crafted ones do not. */
static void test_fuzz_seeds(void **state)
{
	struct seeds sd = { getenv("AIM_X509_SEEDS"), 0 };
	if (sd.dir)
		mkdir(sd.dir, 0755);
	EVP_PKEY *ca_evp = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
							(const unsigned char *)FUZZ_CA_SEED, 32);
	assert_non_null(ca_evp);
	BIO *bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, ca_evp, NULL, NULL, 0, NULL, NULL), 1);
	char *kp_pem = NULL;
	long kp_len = BIO_get_mem_data(bio, &kp_pem);
	struct ca fixed;
	assert_int_equal(aim_pkey_from_private_pem(kp_pem, (size_t)kp_len, &fixed.key), 0);
	BIO_free(bio);
	aim_buf_init(&fixed.cert, 0);
	assert_int_equal(aim_x509_ca_cert(fixed.key, FUZZ_CA_CN, 0, FUZZ_FAR, &fixed.cert), 0);
	X509 *fixed_x = x509_of(aim_buf_bytes(&fixed.cert));
	struct aim_x509_leaf out;

	for (size_t i = 0; i < AIM_ARRAY_LEN(all_algs); i++) {
		struct keypair kp;
		keypair_new(all_algs[i], &kp);
		struct aim_buf csr, cert, pem;
		csr_of(&kp, &csr);
		seed_put(&sd, 0, aim_buf_bytes(&csr));
		issue(&fixed, &kp, "acct:alice@a.test", NOW - DAY, NOW + 30 * DAY, &cert);
		assert_int_equal(verify1(aim_buf_bytes(&cert), &fixed, NOW, &out), 0);
		seed_put(&sd, 1, aim_buf_bytes(&cert));
		if (i == 0) {
			aim_buf_init(&pem, 0);
			assert_int_equal(aim_der_to_pem(aim_buf_bytes(&cert), "CERTIFICATE", &pem),
					 0);
			seed_put(&sd, 4, aim_buf_bytes(&pem));
			aim_buf_reset(&pem);
			assert_int_equal(aim_der_to_pem(aim_buf_bytes(&csr), "CERTIFICATE REQUEST",
							&pem),
					 0);
			seed_put(&sd, 5, aim_buf_bytes(&pem));
			aim_buf_free(&pem);
		}
		aim_buf_free(&csr);
		aim_buf_free(&cert);
		keypair_free(&kp);
	}
	struct aim_buf der;
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	make_csr(rsa, EVP_sha256(), &der);
	seed_put(&sd, 0, aim_buf_bytes(&der));
	aim_buf_free(&der);
	EVP_PKEY_free(rsa);

	/* refused leaves of the fixed CA: paths 1 and 2 */
	struct craft bad[4];
	for (size_t i = 0; i < 4; i++)
		bad[i] = good_leaf;
	bad[0].ku = NULL;
	bad[1].bc = "critical,CA:TRUE";
	bad[2].san = "URI:acct:alice@a.test,URI:acct:eve@a.test";
	bad[3].na = NOW - 1;
	for (size_t i = 0; i < 4; i++) {
		craft_cert(&bad[i], ca_evp, fixed_x, &der);
		expect_fail(verify1(aim_buf_bytes(&der), &fixed, NOW, &out), AIM_ERR_VERIFY, "leaf");
		seed_put(&sd, 1, aim_buf_bytes(&der));
		seed_put(&sd, 2, aim_buf_bytes(&der));
		aim_buf_free(&der);
	}
	craft_cert(&good_leaf, ca_evp, fixed_x, &der);
	assert_int_equal(verify1(aim_buf_bytes(&der), &fixed, NOW, &out), 0);
	seed_put(&sd, 2, aim_buf_bytes(&der));
	aim_buf_free(&der);
	/* anchors: path 3 */
	seed_put(&sd, 3, aim_buf_bytes(&fixed.cert));
	struct craft not_ca = { .bc = "critical,CA:FALSE", .ku = "critical,keyCertSign",
				.nb = 0, .na = FUZZ_FAR, .version = 2, .subject = ca_evp,
				.subject_cn = FUZZ_CA_CN, .self = true };
	craft_cert(&not_ca, ca_evp, NULL, &der);
	seed_put(&sd, 3, aim_buf_bytes(&der));
	aim_buf_free(&der);
	assert_int_equal(sd.n, 24);

	X509_free(fixed_x);
	EVP_PKEY_free(ca_evp);
	ca_free(&fixed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr_every_scheme),
		cmocka_unit_test(test_csr_framing),
		cmocka_unit_test(test_csr_bad_signature),
		cmocka_unit_test(test_csr_unsupported),
		cmocka_unit_test(test_csr_create_refusals),
		cmocka_unit_test(test_issue_verify_every_scheme),
		cmocka_unit_test(test_verify_framing),
		cmocka_unit_test(test_verify_other_ca),
		cmocka_unit_test(test_verify_times),
		cmocka_unit_test(test_verify_crafted),
		cmocka_unit_test(test_verify_leaf_keys),
		cmocka_unit_test(test_verify_anchor_not_ca),
		cmocka_unit_test(test_verify_rotation),
		cmocka_unit_test(test_ca_key_pem_and_renewal),
		cmocka_unit_test(test_issue_refusals),
		cmocka_unit_test(test_pem_round_trip),
		cmocka_unit_test(test_pem_refusals),
		cmocka_unit_test(test_fuzz_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
