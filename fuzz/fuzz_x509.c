/* libFuzzer target: the X.509 parsing paths a server and a client run on
 * bytes from elsewhere (src/crypto crypto.h "X.509"): the CSR a device
 * sends (aim_x509_csr_verify), a peer's leaf certificate against a domain's
 * CA certificates (aim_x509_verify) and PEM text (aim_pem_to_der). The
 * first input byte picks the path, the rest is the input:
 *
 *   0  CSR (DER)
 *   1  leaf (DER) against two fixed anchors, as it is
 *   2  leaf (DER) parsed, re-signed with the fixed CA key, then verified:
 *      mutations of the signed part still reach every check after the
 *      signature (validity, keyUsage, basicConstraints, SAN, key type)
 *   3  anchor (DER) parsed and re-signed with the fixed CA key, as the one
 *      trust anchor of a fixed good leaf (the CA document comes from
 *      another domain too)
 *   4  PEM "CERTIFICATE", then its DER as in 1
 *   5  PEM "CERTIFICATE REQUEST", then its DER as in 0
 *
 * Nothing may crash or leak; an accepted leaf must satisfy what
 * aim_x509_verify promises, a refusal must leave its output zeroed.
 * The fixed CA key is derived from CA_SEED; tests/identity/test_x509.c
 * holds the same bytes and writes the seeds (fuzz/seeds/fuzz_x509) with
 *   AIM_X509_SEEDS=fuzz/seeds/fuzz_x509 build/bin/identity_test_x509
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/crypto.h"

#define NOW INT64_C(1767225600) /* 2026-01-01T00:00:00Z, as in test_x509.c */
#define CA_CN "fuzz CA"
#define FAR INT64_C(253402300799)

static const char CA_SEED[32] = "aim fuzz_x509 fixed CA key #1..";
static const char OTHER_SEED[32] = "aim fuzz_x509 other CA key #2..";

static EVP_PKEY *ca_evp;
static struct aim_buf anchor_buf[2], good_leaf;
static struct aim_bytes anchors[2];

static struct aim_pkey *fixed_key(const char seed[32], EVP_PKEY **evp)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
						   (const unsigned char *)seed, 32);
	BIO *bio = BIO_new(BIO_s_mem());
	if (!k || !bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	char *pem = NULL;
	long n = BIO_get_mem_data(bio, &pem);
	struct aim_pkey *out = NULL;
	if (aim_pkey_from_private_pem(pem, (size_t)n, &out) != 0)
		abort();
	BIO_free(bio);
	if (evp)
		*evp = k;
	else
		EVP_PKEY_free(k);
	return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	struct aim_pkey *ca = fixed_key(CA_SEED, &ca_evp);
	struct aim_pkey *other = fixed_key(OTHER_SEED, NULL);
	aim_buf_init(&anchor_buf[0], 0);
	aim_buf_init(&anchor_buf[1], 0);
	aim_buf_init(&good_leaf, 0);
	/* anchor 0: a same-named CA with another key; anchor 1: the fixed CA */
	if (aim_x509_ca_cert(other, CA_CN, 0, FAR, &anchor_buf[0]) != 0 ||
	    aim_x509_ca_cert(ca, CA_CN, 0, FAR, &anchor_buf[1]) != 0)
		abort();
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 0);
	aim_buf_init(&pk, 0);
	if (aim_sig_keygen(AIM_SIG_ED25519, &sk, &pk) != 0 ||
	    aim_x509_issue(ca, aim_buf_bytes(&anchor_buf[1]), AIM_SIG_ED25519, aim_buf_bytes(&pk),
			   "acct:alice@a.test", 0, FAR, &good_leaf) != 0)
		abort();
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	anchors[0] = aim_buf_bytes(&anchor_buf[0]);
	anchors[1] = aim_buf_bytes(&anchor_buf[1]);
	aim_pkey_free(ca);
	aim_pkey_free(other);
	return 0;
}

static void check_csr(struct aim_bytes in)
{
	enum aim_sig_alg alg = 0;
	struct aim_buf pk;
	aim_buf_init(&pk, 0);
	if (aim_x509_csr_verify(in, &alg, &pk) == 0) {
		if (pk.len == 0 || pk.len != aim_sig_pk_len(alg))
			abort();
	} else if (pk.len != 0) {
		abort(); /* a refusal appends nothing */
	}
	aim_buf_free(&pk);
}

static void check_leaf(struct aim_bytes leaf, const struct aim_bytes *a, size_t n)
{
	struct aim_x509_leaf out, zero;
	memset(&zero, 0, sizeof(zero));
	if (aim_x509_verify(leaf, a, n, NOW, &out) != 0) {
		if (memcmp(&out, &zero, sizeof(out)) != 0)
			abort();
		return;
	}
	size_t ulen = strnlen(out.san_uri, sizeof(out.san_uri));
	if (out.pk_len == 0 || out.pk_len != aim_sig_pk_len(out.alg) || ulen == 0 ||
	    ulen >= sizeof(out.san_uri) || !strchr(out.san_uri, ':') ||
	    out.not_before > NOW || out.not_after < NOW || out.serial_len == 0 ||
	    out.serial_len > sizeof(out.serial) || out.anchor >= n)
		abort();
}

/* d2i of the whole input, re-signed with the fixed CA key; NULL if the
 * input is not one certificate or OpenSSL cannot sign what it parsed. */
static X509 *resigned(struct aim_bytes in, struct aim_buf *der)
{
	if (in.len == 0 || in.len > AIM_X509_MAX)
		return NULL;
	const unsigned char *p = in.p;
	X509 *x = d2i_X509(NULL, &p, (long)in.len);
	if (!x || p != in.p + in.len || X509_sign(x, ca_evp, NULL) <= 0) {
		X509_free(x);
		return NULL;
	}
	unsigned char *enc = NULL;
	int n = i2d_X509(x, &enc);
	aim_buf_init(der, AIM_X509_MAX);
	if (n <= 0 || aim_buf_append(der, enc, (size_t)n) != 0) {
		OPENSSL_free(enc);
		X509_free(x);
		return NULL;
	}
	OPENSSL_free(enc);
	return x;
}

static void pem_path(struct aim_bytes in, const char *label, bool csr)
{
	struct aim_buf der;
	aim_buf_init(&der, 0);
	if (aim_pem_to_der((const char *)in.p, in.len, label, &der) == 0) {
		if (der.len == 0 || der.len > AIM_X509_MAX)
			abort();
		/* DER -> PEM -> DER is the identity */
		struct aim_buf pem, back;
		aim_buf_init(&pem, 0);
		aim_buf_init(&back, 0);
		if (aim_der_to_pem(aim_buf_bytes(&der), label, &pem) != 0 ||
		    aim_pem_to_der((const char *)pem.data, pem.len, label, &back) != 0 ||
		    back.len != der.len || memcmp(back.data, der.data, der.len) != 0)
			abort();
		aim_buf_free(&pem);
		aim_buf_free(&back);
		if (csr)
			check_csr(aim_buf_bytes(&der));
		else
			check_leaf(aim_buf_bytes(&der), anchors, 2);
	} else if (der.len != 0) {
		abort();
	}
	aim_buf_free(&der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct aim_bytes in = AIM_BYTES(data + 1, size - 1);
	struct aim_buf der;
	X509 *x;
	switch (data[0] % 6) {
	case 0:
		check_csr(in);
		break;
	case 1:
		check_leaf(in, anchors, 2);
		break;
	case 2:
		if ((x = resigned(in, &der)) != NULL) {
			check_leaf(aim_buf_bytes(&der), anchors, 2);
			/* the other anchor alone never accepts it */
			struct aim_x509_leaf out;
			if (aim_x509_verify(aim_buf_bytes(&der), anchors, 1, NOW, &out) == 0)
				abort();
			X509_free(x);
			aim_buf_free(&der);
		}
		break;
	case 3:
		if ((x = resigned(in, &der)) != NULL) {
			struct aim_bytes a = aim_buf_bytes(&der);
			check_leaf(aim_buf_bytes(&good_leaf), &a, 1);
			X509_free(x);
			aim_buf_free(&der);
		}
		break;
	case 4:
		pem_path(in, "CERTIFICATE", false);
		break;
	case 5:
		pem_path(in, "CERTIFICATE REQUEST", true);
		break;
	}
	aim_errclear();
	return 0;
}
