/* Crypto throughput per MLS cipher suite: operations per second for DH
 * (keygen + derive), signing, verifying, HPKE seal/open of 32 bytes, AEAD
 * seal of 1 KiB and hashing 1 KiB; plus RSA-2048 and Ed25519 for HTTP
 * signatures. Each measurement runs for about BENCH_MS milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"

#define BENCH_MS 250.0

static double clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* CPU time of this (single-threaded) process: rates per CPU second stay
 * meaningful when other processes share the machine. */
static double cpu_ms(void)
{
	return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_crypto: %s failed: %s\n", what, aim_errmsg());
	exit(1);
}

/* Runs op until BENCH_MS of wall time have passed; result is operations
 * per CPU second. */
#define MEASURE(result, what, body)                                                     \
	do {                                                                            \
		long n_ = 0;                                                            \
		double t0_ = now_ms(), c0_ = cpu_ms(), c_;                              \
		do {                                                                    \
			if ((body) != 0)                                                \
				die(what);                                              \
			n_++;                                                           \
		} while (now_ms() - t0_ < BENCH_MS);                                    \
		c_ = cpu_ms() - c0_;                                                    \
		(result) = (double)n_ * 1e3 / (c_ > 0 ? c_ : 1e-3);                     \
		wall_total += now_ms() - t0_;                                           \
		cpu_total += c_;                                                        \
	} while (0)

static double wall_total, cpu_total;

static int dh_op(const struct aim_suite *s, struct aim_bytes peer)
{
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 0);
	aim_buf_init(&pk, 0);
	uint8_t z[AIM_MAX_DH];
	size_t zl;
	int rc = aim_kem_keygen(s->kem, &sk, &pk);
	if (rc == 0)
		rc = aim_dh(s->kem, aim_buf_bytes(&sk), peer, z, &zl);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	return rc;
}

static int sign_op(const struct aim_suite *s, struct aim_bytes sk, struct aim_bytes msg,
		   struct aim_buf *sig)
{
	aim_buf_reset(sig);
	return aim_sig_sign(s->sig, sk, msg, sig);
}

static int hpke_seal_op(const struct aim_suite *s, struct aim_bytes pk, struct aim_bytes pt,
			struct aim_buf *enc, struct aim_buf *ct)
{
	aim_buf_reset(enc);
	aim_buf_reset(ct);
	return aim_hpke_seal(s, pk, AIM_BYTES_STR("info"), AIM_BYTES(NULL, 0), pt, enc, ct);
}

static int hpke_open_op(const struct aim_suite *s, struct aim_bytes sk, struct aim_bytes enc,
			struct aim_bytes ct, struct aim_buf *pt)
{
	aim_buf_reset(pt);
	return aim_hpke_open(s, sk, enc, AIM_BYTES_STR("info"), AIM_BYTES(NULL, 0), ct, pt);
}

static int aead_op(const struct aim_suite *s, const uint8_t *key, struct aim_bytes pt,
		   struct aim_buf *out)
{
	static const uint8_t nonce[AIM_AEAD_NONCE];
	aim_buf_reset(out);
	return aim_aead_seal(s->aead, AIM_BYTES(key, s->nk), AIM_BYTES(nonce, sizeof(nonce)),
			     AIM_BYTES(NULL, 0), pt, out);
}

static void bench_suite(const struct aim_suite *s)
{
	static uint8_t kib[1024], msg32[32];
	uint8_t key[AIM_MAX_AEAD_KEY] = { 7 }, h[AIM_MAX_HASH];
	struct aim_buf ksk, kpk, ssk, spk, sig, enc, ct, pt, out;
	aim_buf_init(&ksk, 0);
	aim_buf_init(&kpk, 0);
	aim_buf_init(&ssk, 0);
	aim_buf_init(&spk, 0);
	aim_buf_init(&sig, 0);
	aim_buf_init(&enc, 0);
	aim_buf_init(&ct, 0);
	aim_buf_init(&pt, 0);
	aim_buf_init(&out, 0);
	if (aim_kem_keygen(s->kem, &ksk, &kpk) != 0 || aim_sig_keygen(s->sig, &ssk, &spk) != 0)
		die("keygen");
	struct aim_bytes msg = AIM_BYTES(kib, 256);
	double r_dh, r_sign, r_verify, r_seal, r_open, r_aead, r_hash;
	MEASURE(r_dh, "dh", dh_op(s, aim_buf_bytes(&kpk)));
	MEASURE(r_sign, "sign", sign_op(s, aim_buf_bytes(&ssk), msg, &sig));
	MEASURE(r_verify, "verify",
		aim_sig_verify(s->sig, aim_buf_bytes(&spk), msg, aim_buf_bytes(&sig)));
	MEASURE(r_seal, "hpke seal",
		hpke_seal_op(s, aim_buf_bytes(&kpk), AIM_BYTES(msg32, 32), &enc, &ct));
	MEASURE(r_open, "hpke open",
		hpke_open_op(s, aim_buf_bytes(&ksk), aim_buf_bytes(&enc), aim_buf_bytes(&ct), &pt));
	MEASURE(r_aead, "aead", aead_op(s, key, AIM_BYTES(kib, 1024), &out));
	MEASURE(r_hash, "hash", aim_hash(s->hash, AIM_BYTES(kib, 1024), h));
	printf("%u %-52s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f\n", s->id, s->name, r_dh,
	       r_sign, r_verify, r_seal, r_open, r_aead, r_hash);
	aim_buf_free_secret(&ksk);
	aim_buf_free(&kpk);
	aim_buf_free_secret(&ssk);
	aim_buf_free(&spk);
	aim_buf_free(&sig);
	aim_buf_free(&enc);
	aim_buf_free(&ct);
	aim_buf_free(&pt);
	aim_buf_free(&out);
}

static int pkey_sign_op(const struct aim_pkey *k, struct aim_bytes msg, struct aim_buf *sig)
{
	aim_buf_reset(sig);
	return aim_pkey_sign(k, msg, sig);
}

static void bench_http(enum aim_key_type t, const char *name)
{
	static const char msg[] = "(request-target): post /users/alice/inbox\n"
				  "host: example.org\ndate: Thu, 26 Nov 2026 14:57:13 GMT\n"
				  "digest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
	struct aim_pkey *k;
	if (aim_pkey_generate(t, &k) != 0)
		die("pkey generate");
	struct aim_buf sig;
	aim_buf_init(&sig, 0);
	struct aim_bytes m = AIM_BYTES(msg, sizeof(msg) - 1);
	double r_sign, r_verify;
	MEASURE(r_sign, "pkey sign", pkey_sign_op(k, m, &sig));
	MEASURE(r_verify, "pkey verify", aim_pkey_verify(k, m, aim_buf_bytes(&sig)));
	printf("  %-54s %9.0f %9.0f\n", name, r_sign, r_verify);
	aim_buf_free(&sig);
	aim_pkey_free(k);
}

int main(void)
{
	printf("bench_crypto: operations per CPU second (single thread, ~%.0f ms wall per cell)\n",
	       BENCH_MS);
	printf("%-54s %9s %9s %9s %9s %9s %9s %9s\n", "suite", "dh", "sign", "verify",
	       "hpke-seal", "hpke-open", "aead-1k", "hash-1k");
	for (uint16_t id = 1; id <= 7; id++) {
		const struct aim_suite *s = aim_suite_get(id);
		if (!s)
			die("suite");
		bench_suite(s);
	}
	printf("HTTP signature keys%36s %9s %9s\n", "", "sign", "verify");
	bench_http(AIM_KEY_RSA, "RSA-2048 PKCS#1 v1.5 SHA-256");
	bench_http(AIM_KEY_ED25519, "Ed25519");
	printf("CPU share while measuring: %.0f%% (below 100%% means the machine was busy)\n",
	       wall_total > 0 ? 100.0 * cpu_total / wall_total : 0.0);
	return 0;
}
