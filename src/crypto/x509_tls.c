/*
 * A server's TLS certificate and key, as aimd doctor checks them: does the
 * key belong to the certificate, is the certificate valid now, does it name
 * the host clients connect to. Bytes in, a report out; reading the files is
 * the caller's.
 */
#include "crypto/crypto_int.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int unix_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_DECODE, "malformed validity time");
	}
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int pem_len_ok(struct aim_bytes b)
{
	ENSURE(b.len > 0 && b.len <= 1024 * 1024 && b.len <= (size_t)INT32_MAX, AIM_ERR_LIMIT,
	       "a PEM file of %zu bytes (1 byte to 1 MiB)", b.len);
	return 0;
}

/* An encrypted key is refused, never prompted for on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return 0;
}

static EVP_PKEY *no_password_key(BIO *bio)
{
	return PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
}

int aim_tls_files_check(struct aim_bytes cert_pem, struct aim_bytes key_pem, const char *host,
			struct aim_tls_files *out)
{
	memset(out, 0, sizeof *out);
	TRY(pem_len_ok(cert_pem));
	TRY(pem_len_ok(key_pem));
	int rc = 0;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	BIO *b = BIO_new_mem_buf(cert_pem.p, (int)cert_pem.len);
	if (!b)
		return aim_crypto_fail("BIO_new_mem_buf");
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!x) {
		ERR_clear_error();
		return aim_fail(AIM_ERR_DECODE, "no PEM certificate in it");
	}
	b = BIO_new_mem_buf(key_pem.p, (int)key_pem.len);
	if (!b) {
		rc = aim_crypto_fail("BIO_new_mem_buf");
		goto out;
	}
	k = no_password_key(b);
	BIO_free(b);
	if (!k) {
		ERR_clear_error();
		rc = aim_fail(AIM_ERR_DECODE, "no unencrypted PEM private key in it");
		goto out;
	}
	TRY_GOTO(unix_time(X509_get0_notBefore(x), &out->not_before), out);
	TRY_GOTO(unix_time(X509_get0_notAfter(x), &out->not_after), out);
	/* The certificate's public key and the private key are one pair. */
	out->key_matches = X509_check_private_key(x, k) == 1;
	ERR_clear_error();
	/* RFC 6125 6.4: DNS-IDs (subjectAltName dNSName), a wildcard only as
	 * the whole leftmost label; the CN-ID only when there is no DNS-ID
	 * (OpenSSL's default, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT off). */
	if (host && *host)
		out->names_host = X509_check_host(x, host, strlen(host),
						  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
	ERR_clear_error();
	X509_NAME_oneline(X509_get_subject_name(x), out->subject, (int)sizeof out->subject);
out:
	EVP_PKEY_free(k);
	X509_free(x);
	return rc;
}
