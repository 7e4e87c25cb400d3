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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr_every_scheme),
		cmocka_unit_test(test_csr_framing),
		cmocka_unit_test(test_issue_verify_every_scheme),
		cmocka_unit_test(test_pem_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
