/*
 * kp_tool: a device for the KeyPackage tests (tests/identity), without the
 * client library. Its state is a folder of files (HOME):
 *
 *   kp_tool init HOME [SUITE]        a fresh MLS signature key of the suite's
 *                                    scheme (default suite 1); prints the CSR
 *                                    over it (base64 DER) to register with
 *   kp_tool cert HOME LEAF [CA...]   keeps the certificate chain the server
 *                                    answered (base64 DER each)
 *   kp_tool foreign HOME SAN         a leaf for our key from a CA of its own
 *                                    (not the domain's) naming SAN
 *   kp_tool kp HOME N [FLAG...]      prints N KeyPackages (base64
 *                                    MLSMessages, one per line) with the x509
 *                                    credential [leaf, CA...]
 *   kp_tool info BASE64              {"suite", "ref" (hex), "lastResort"}
 *
 * FLAGs make bad ones (threats.md C42): last-resort, bad-sig, version=N,
 * suite=N (claimed, not resigned), same-keys (encryption_key == init_key,
 * both signatures redone), expired, basic (a basic credential), foreign
 * (the foreign leaf), other-key (signed by a fresh key, our certificate).
 * Exit status 0, or 1 with a line on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/mls.h"

static char *path_of(const char *home, const char *name)
{
	return aim_xasprintf("%s/%s", home, name);
}

static int write_file(const char *home, const char *name, const uint8_t *p, size_t n)
{
	char *path = path_of(home, name);
	FILE *f = fopen(path, "wb");
	free(path);
	ENSURE(f, AIM_ERR_STORAGE, "cannot write %s", name);
	size_t w = fwrite(p, 1, n, f);
	int c = fclose(f);
	ENSURE(w == n && c == 0, AIM_ERR_STORAGE, "cannot write %s", name);
	return 0;
}

static int read_file(const char *home, const char *name, struct aim_buf *out)
{
	char *path = path_of(home, name);
	FILE *f = fopen(path, "rb");
	free(path);
	ENSURE(f, AIM_ERR_NOTFOUND, "no %s in home", name);
	uint8_t buf[4096];
	size_t n;
	int rc = 0;
	while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0)
		rc = aim_buf_append(out, buf, n);
	fclose(f);
	return rc;
}

static int print_b64(const uint8_t *p, size_t n)
{
	struct aim_buf b;
	aim_buf_init(&b, 16 << 20);
	int rc = aim_b64_encode(&b, p, n);
	if (rc == 0)
		printf("%s\n", (const char *)b.data);
	aim_buf_free(&b);
	return rc;
}

static int b64_arg(const char *s, struct aim_buf *out)
{
	aim_buf_init(out, 16 << 20);
	return aim_b64_decode(out, s, strlen(s));
}

struct device {
	uint16_t suite;
	const struct aim_suite *cs;
	struct aim_buf sk, pk;
};

static void device_free(struct device *d)
{
	aim_buf_free_secret(&d->sk);
	aim_buf_free(&d->pk);
}

static int device_load(const char *home, struct device *d)
{
	memset(d, 0, sizeof *d);
	aim_buf_init(&d->sk, 256);
	aim_buf_init(&d->pk, 256);
	struct aim_buf s;
	aim_buf_init(&s, 64);
	int rc = read_file(home, "suite", &s);
	int64_t v = 1;
	if (rc == 0)
		rc = aim_parse_int((const char *)s.data, 1, 0xffff, &v);
	aim_buf_free(&s);
	TRY(rc);
	d->suite = (uint16_t)v;
	d->cs = aim_suite_get(d->suite);
	ENSURE(d->cs, AIM_ERR_UNSUPPORTED, "suite %u", d->suite);
	TRY(read_file(home, "sig.sk", &d->sk));
	TRY(read_file(home, "sig.pk", &d->pk));
	return 0;
}

static int cmd_init(const char *home, const char *suite_s)
{
	int64_t suite = 1;
	if (suite_s)
		TRY(aim_parse_int(suite_s, 1, 0xffff, &suite));
	const struct aim_suite *cs = aim_suite_get((uint16_t)suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "suite %lld", (long long)suite);
	struct aim_buf sk, pk, csr;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	aim_buf_init(&csr, AIM_X509_MAX);
	char s[16];
	snprintf(s, sizeof s, "%lld", (long long)suite);
	int rc = 0;
	TRY_GOTO(aim_sig_keygen(cs->sig, &sk, &pk), out);
	TRY_GOTO(write_file(home, "suite", (const uint8_t *)s, strlen(s)), out);
	TRY_GOTO(write_file(home, "sig.sk", sk.data, sk.len), out);
	TRY_GOTO(write_file(home, "sig.pk", pk.data, pk.len), out);
	TRY_GOTO(aim_x509_csr_create(cs->sig, aim_buf_bytes(&sk), aim_buf_bytes(&pk), "device",
				     &csr),
		 out);
	TRY_GOTO(print_b64(csr.data, csr.len), out);
out:
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_free(&csr);
	return rc;
}

static int cmd_cert(const char *home, int n, char **certs)
{
	ENSURE(n >= 1 && n <= 8, AIM_ERR_INVALID, "cert HOME LEAF [CA...]");
	for (int i = 0; i < n; i++) {
		struct aim_buf b;
		int rc = b64_arg(certs[i], &b);
		char name[32];
		snprintf(name, sizeof name, "cert-%d.der", i);
		if (rc == 0)
			rc = write_file(home, name, b.data, b.len);
		aim_buf_free(&b);
		TRY(rc);
	}
	char c[8];
	snprintf(c, sizeof c, "%d", n);
	return write_file(home, "certs", (const uint8_t *)c, strlen(c));
}

static int cmd_foreign(const char *home, const char *san)
{
	struct device d;
	TRY(device_load(home, &d));
	struct aim_pkey *ca = NULL;
	struct aim_buf cert, leaf;
	aim_buf_init(&cert, AIM_X509_MAX);
	aim_buf_init(&leaf, AIM_X509_MAX);
	int64_t now = aim_now();
	int rc = 0;
	TRY_GOTO(aim_x509_ca_create(AIM_KEY_ED25519, "not the domain's CA", now - 3600,
				    now + 86400 * 30, &ca, &cert),
		 out);
	TRY_GOTO(aim_x509_issue(ca, aim_buf_bytes(&cert), d.cs->sig, aim_buf_bytes(&d.pk), san,
				now - 300, now + 86400 * 30, &leaf),
		 out);
	TRY_GOTO(write_file(home, "foreign.der", leaf.data, leaf.len), out);
	TRY_GOTO(write_file(home, "foreign-ca.der", cert.data, cert.len), out);
out:
	aim_pkey_free(ca);
	aim_buf_free(&cert);
	aim_buf_free(&leaf);
	device_free(&d);
	return rc;
}

/* SignWithLabel (RFC 9420 section 5.1.2) by hand: the library's own is
 * internal. SignContent = opaque label<V> ("MLS 1.0 " + label), opaque
 * content<V>. */
static int put_varint_bytes(struct aim_buf *w, const uint8_t *p, size_t n)
{
	uint8_t h[4];
	size_t hl;
	if (n < 64) {
		h[0] = (uint8_t)n;
		hl = 1;
	} else if (n < 16384) {
		h[0] = (uint8_t)(0x40 | (n >> 8));
		h[1] = (uint8_t)n;
		hl = 2;
	} else {
		h[0] = (uint8_t)(0x80 | (n >> 24));
		h[1] = (uint8_t)(n >> 16);
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	}
	TRY(aim_buf_append(w, h, hl));
	return aim_buf_append(w, p, n);
}

static int sign_label(const struct device *d, struct aim_bytes sk, const char *label,
		      const struct aim_buf *tbs, struct mls_bytes *out)
{
	struct aim_buf c, sig;
	aim_buf_init(&c, MLS_MAX_MESSAGE);
	aim_buf_init(&sig, AIM_MAX_SIG + 16);
	char *l = aim_xasprintf("MLS 1.0 %s", label);
	int rc = 0;
	TRY_GOTO(put_varint_bytes(&c, (const uint8_t *)l, strlen(l)), out);
	TRY_GOTO(put_varint_bytes(&c, tbs->data, tbs->len), out);
	TRY_GOTO(aim_sig_sign(d->cs->sig, sk, aim_buf_bytes(&c), &sig), out);
	TRY_GOTO(mls_bytes_set(out, sig.data, sig.len), out);
out:
	free(l);
	aim_buf_free(&c);
	aim_buf_free(&sig);
	return rc;
}

static int load_chain(const char *home, bool foreign, struct mls_credential *cred)
{
	struct aim_buf n;
	aim_buf_init(&n, 16);
	TRY(read_file(home, "certs", &n));
	int64_t count = 0;
	int rc = aim_parse_int((const char *)n.data, 1, 8, &count);
	aim_buf_free(&n);
	TRY(rc);
	cred->type = MLS_CREDENTIAL_X509;
	cred->certs = aim_xcalloc((size_t)count, sizeof *cred->certs);
	cred->n_certs = (size_t)count;
	for (int64_t i = 0; i < count; i++) {
		char name[32];
		snprintf(name, sizeof name, "cert-%lld.der", (long long)i);
		if (i == 0 && foreign)
			snprintf(name, sizeof name, "foreign.der");
		if (i == 1 && foreign)
			snprintf(name, sizeof name, "foreign-ca.der");
		struct aim_buf b;
		aim_buf_init(&b, AIM_X509_MAX);
		rc = read_file(home, name, &b);
		if (rc == 0)
			rc = mls_bytes_set(&cred->certs[i], b.data, b.len);
		aim_buf_free(&b);
		TRY(rc);
	}
	return 0;
}

struct flags {
	bool last_resort, bad_sig, same_keys, expired, basic, foreign, other_key;
	int64_t version, suite;
};

static int one_kp(const char *home, const struct device *d, const struct flags *f)
{
	struct mls_credential cred = { 0 };
	struct mls_key_package kp = { 0 };
	struct mls_key_package_priv priv = { 0 };
	struct mls_message m = { 0 };
	struct aim_buf out, tbs;
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	aim_buf_init(&tbs, MLS_MAX_MESSAGE);
	int rc = 0;
	if (f->basic) {
		cred.type = MLS_CREDENTIAL_BASIC;
		TRY_GOTO(mls_bytes_set(&cred.identity, "device", 6), out);
	} else {
		TRY_GOTO(load_chain(home, f->foreign, &cred), out);
	}
	int64_t now = aim_now();
	struct mls_key_package_params p = {
		.cipher_suite = d->suite,
		.credential = &cred,
		.signature_priv = f->other_key ? AIM_BYTES(NULL, 0) : aim_buf_bytes(&d->sk),
		.not_before = f->expired ? (uint64_t)(now - 7200) : 0,
		.not_after = f->expired ? (uint64_t)(now - 3600) : 0,
		.last_resort = f->last_resort,
	};
	TRY_GOTO(mls_key_package_create(&p, &kp, &priv), out);
	struct aim_bytes sk = mls_bytes_view(&priv.signature_priv);
	if (f->same_keys) {
		/* encryption_key := init_key, with valid signatures, so that
		 * only that rule refuses it. */
		TRY_GOTO(mls_bytes_copy(&kp.leaf_node.encryption_key, &kp.init_key), out);
		TRY_GOTO(mls_leaf_node_encode_tbs(&tbs, &kp.leaf_node, AIM_BYTES(NULL, 0), 0), out);
		TRY_GOTO(sign_label(d, sk, "LeafNodeTBS", &tbs, &kp.leaf_node.signature), out);
		TRY_GOTO(mls_key_package_sign(&kp, &priv), out);
	}
	if (f->version) {
		kp.version = (uint16_t)f->version;
		TRY_GOTO(mls_key_package_sign(&kp, &priv), out);
	}
	if (f->suite)
		kp.cipher_suite = (uint16_t)f->suite;
	if (f->bad_sig && kp.signature.len)
		kp.signature.p[kp.signature.len / 2] ^= 0x01;
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_KEY_PACKAGE;
	m.key_package = kp;
	memset(&kp, 0, sizeof kp);
	TRY_GOTO(mls_message_encode(&out, &m), out);
	TRY_GOTO(print_b64(out.data, out.len), out);
out:
	mls_message_free(&m);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	mls_credential_free(&cred);
	aim_buf_free(&out);
	aim_buf_free(&tbs);
	return rc;
}

static int cmd_kp(const char *home, const char *n_s, int nf, char **fl)
{
	int64_t n;
	TRY(aim_parse_int(n_s, 1, 10000, &n));
	struct flags f = { 0 };
	for (int i = 0; i < nf; i++) {
		const char *a = fl[i];
		if (!strcmp(a, "last-resort"))
			f.last_resort = true;
		else if (!strcmp(a, "bad-sig"))
			f.bad_sig = true;
		else if (!strcmp(a, "same-keys"))
			f.same_keys = true;
		else if (!strcmp(a, "expired"))
			f.expired = true;
		else if (!strcmp(a, "basic"))
			f.basic = true;
		else if (!strcmp(a, "foreign"))
			f.foreign = true;
		else if (!strcmp(a, "other-key"))
			f.other_key = true;
		else if (!strncmp(a, "version=", 8))
			TRY(aim_parse_int(a + 8, 0, 0xffff, &f.version));
		else if (!strncmp(a, "suite=", 6))
			TRY(aim_parse_int(a + 6, 0, 0xffff, &f.suite));
		else
			return aim_fail(AIM_ERR_INVALID, "unknown flag %s", a);
	}
	struct device d;
	TRY(device_load(home, &d));
	int rc = 0;
	for (int64_t i = 0; i < n && rc == 0; i++)
		rc = one_kp(home, &d, &f);
	device_free(&d);
	return rc;
}

static int cmd_info(const char *b64)
{
	struct aim_buf b;
	struct mls_message m = { 0 };
	int rc = b64_arg(b64, &b);
	if (rc == 0)
		rc = mls_message_parse(b.data, b.len, &m);
	uint8_t ref[AIM_MAX_HASH];
	size_t rl = 0;
	if (rc == 0)
		rc = mls_key_package_make_ref(&m.key_package, ref, &rl);
	if (rc == 0) {
		printf("{\"suite\": %u, \"ref\": \"", m.key_package.cipher_suite);
		for (size_t i = 0; i < rl; i++)
			printf("%02x", ref[i]);
		printf("\", \"lastResort\": %s}\n",
		       mls_key_package_is_last_resort(&m.key_package) ? "true" : "false");
	}
	mls_message_free(&m);
	aim_buf_free(&b);
	return rc;
}

int main(int argc, char **argv)
{
	int rc;
	const char *cmd = argc > 1 ? argv[1] : "";
	if (!strcmp(cmd, "init") && argc >= 3)
		rc = cmd_init(argv[2], argc > 3 ? argv[3] : NULL);
	else if (!strcmp(cmd, "cert") && argc >= 4)
		rc = cmd_cert(argv[2], argc - 3, argv + 3);
	else if (!strcmp(cmd, "foreign") && argc == 4)
		rc = cmd_foreign(argv[2], argv[3]);
	else if (!strcmp(cmd, "kp") && argc >= 4)
		rc = cmd_kp(argv[2], argv[3], argc - 4, argv + 4);
	else if (!strcmp(cmd, "info") && argc == 3)
		rc = cmd_info(argv[2]);
	else {
		fprintf(stderr, "usage: kp_tool init|cert|foreign|kp|info ... (see the source)\n");
		return 2;
	}
	if (rc != 0) {
		fprintf(stderr, "kp_tool: %s: %s\n", aim_errname(aim_errcode()), aim_errmsg());
		return 1;
	}
	return 0;
}
