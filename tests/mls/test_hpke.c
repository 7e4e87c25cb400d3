/* HPKE (RFC 9180) base mode: known answers from RFC 9180 Appendix A.1.1 and
 * A.3.1, plus round trips and refusals for all seven MLS cipher suites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto.h"

/* Decodes hex into a fresh buffer (caller frees). */
static struct aim_buf hex(const char *s)
{
	struct aim_buf b;
	aim_buf_init(&b, 0);
	assert_int_equal(aim_hex_decode(&b, s, strlen(s)), 0);
	return b;
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
	struct aim_buf w = hex(want);
	assert_int_equal(n, w.len);
	assert_memory_equal(p, w.data, n);
	aim_buf_free(&w);
}

struct enc_vec {
	uint64_t seq;
	const char *aad, *ct;
};

struct exp_vec {
	const char *ctx, *value;
};

struct hpke_vec {
	uint16_t suite;
	const char *info, *ikmE, *pkEm, *skEm, *ikmR, *pkRm, *skRm, *enc, *shared_secret;
	const char *key, *base_nonce, *exporter_secret, *pt;
	struct enc_vec encs[6];
	struct exp_vec exps[3];
};

/* RFC 9180 A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, Base.
 * This is MLS suite 1's HPKE. */
static const struct hpke_vec a11 = {
	.suite = 1,
	.info = "4f6465206f6e2061204772656369616e2055726e",
	.ikmE = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
	.pkEm = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
	.skEm = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
	.ikmR = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
	.pkRm = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
	.skRm = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
	.enc = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
	.shared_secret = "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc",
	.key = "4531685d41d65f03dc48f6b8302c05b0",
	.base_nonce = "56d890e5accaaf011cff4b7d",
	.exporter_secret = "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
	.pt = "4265617574792069732074727574682c20747275746820626561757479",
	.encs = {
		{ 0, "436f756e742d30",
		  "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a9"
		  "6d8770ac83d07bea87e13c512a" },
		{ 1, "436f756e742d31",
		  "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab25"
		  "1c03d0c22a56b8ca42c2063b84" },
		{ 2, "436f756e742d32",
		  "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb7251649158"
		  "8d96a19ad4a683518973dcc180" },
		{ 4, "436f756e742d34",
		  "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a"
		  "09fc0012bc69fccaa251c0246d" },
		{ 255, "436f756e742d323535",
		  "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505b"
		  "f106deefec4a49ac38d71c9e0a" },
		{ 256, "436f756e742d323536",
		  "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3"
		  "fbeda97d2e0e1aba483a2df9f2" },
	},
	.exps = {
		{ "", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee" },
		{ "00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5" },
		{ "54657374436f6e74657874",
		  "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931" },
	},
};

/* RFC 9180 A.3.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, Base.
 * This is MLS suite 2's HPKE. */
static const struct hpke_vec a31 = {
	.suite = 2,
	.info = "4f6465206f6e2061204772656369616e2055726e",
	.ikmE = "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e",
	.pkEm = "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b32"
		"5ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
	.skEm = "4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb",
	.ikmR = "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550",
	.pkRm = "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f70"
		"6a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
	.skRm = "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
	.enc = "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325"
	       "ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
	.shared_secret = "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8",
	.key = "868c066ef58aae6dc589b6cfdd18f97e",
	.base_nonce = "4e0bc5018beba4bf004cca59",
	.exporter_secret = "14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f",
	.pt = "4265617574792069732074727574682c20747275746820626561757479",
	.encs = {
		{ 0, "436f756e742d30",
		  "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f"
		  "9076ac232e3ab2523f39513434" },
		{ 1, "436f756e742d31",
		  "fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06"
		  "646e0329cbdf3c3cd655b28e82" },
		{ 2, "436f756e742d32",
		  "895cabfac50ce6c6eb02ffe6c048bf53b7f7be9a91fc559402cbc5b8dcaeb52b"
		  "2ccc93e466c28fb55fed7a7fec" },
		{ 4, "436f756e742d34",
		  "8787491ee8df99bc99a246c4b3216d3d57ab5076e18fa27133f520703bc70ec9"
		  "99dd36ce042e44f0c3169a6a8f" },
		{ 255, "436f756e742d323535",
		  "2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848a"
		  "a53c538c30a4dac71d619ee2cd" },
		{ 256, "436f756e742d323536",
		  "10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f"
		  "367f8ffe5e41cd3e9962a6afb2" },
	},
	.exps = {
		{ "", "5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d" },
		{ "00", "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796" },
		{ "54657374436f6e74657874",
		  "d8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a" },
	},
};

static void check_derive(const struct aim_suite *s, const char *ikm, const char *sk_hex,
			 const char *pk_hex)
{
	struct aim_buf in = hex(ikm), sk, pk;
	aim_buf_init(&sk, 0);
	aim_buf_init(&pk, 0);
	assert_int_equal(aim_kem_derive_keypair(s->kem, aim_buf_bytes(&in), &sk, &pk), 0);
	assert_hex(sk.data, sk.len, sk_hex);
	assert_hex(pk.data, pk.len, pk_hex);
	aim_buf_free(&in);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
}

static void run_vector(const struct hpke_vec *v)
{
	const struct aim_suite *s = aim_suite_get(v->suite);
	assert_non_null(s);
	check_derive(s, v->ikmE, v->skEm, v->pkEm);
	check_derive(s, v->ikmR, v->skRm, v->pkRm);

	struct aim_buf info = hex(v->info), pkR = hex(v->pkRm), skR = hex(v->skRm);
	struct aim_buf skE = hex(v->skEm), pt = hex(v->pt), enc;
	aim_buf_init(&enc, 0);

	/* Encap with the fixed ephemeral key, Decap with the recipient key. */
	uint8_t ss[AIM_MAX_HASH], ss2[AIM_MAX_HASH];
	assert_int_equal(aim_hpke_encap_det(s, aim_buf_bytes(&pkR), aim_buf_bytes(&skE), &enc, ss),
			 0);
	assert_hex(enc.data, enc.len, v->enc);
	assert_hex(ss, s->kem_nsecret, v->shared_secret);
	assert_int_equal(aim_hpke_decap(s, aim_buf_bytes(&enc), aim_buf_bytes(&skR), ss2), 0);
	assert_memory_equal(ss, ss2, s->kem_nsecret);
	aim_buf_reset(&enc);

	/* Key schedule on both sides. */
	struct aim_hpke_ctx cs, cr;
	assert_int_equal(aim_hpke_setup_s_det(s, aim_buf_bytes(&pkR), aim_buf_bytes(&info),
					      aim_buf_bytes(&skE), &enc, &cs),
			 0);
	assert_hex(enc.data, enc.len, v->enc);
	assert_hex(cs.key, s->nk, v->key);
	assert_hex(cs.base_nonce, s->nn, v->base_nonce);
	assert_hex(cs.exporter_secret, s->nh, v->exporter_secret);
	assert_int_equal(aim_hpke_setup_r(s, aim_buf_bytes(&enc), aim_buf_bytes(&skR),
					  aim_buf_bytes(&info), &cr),
			 0);
	assert_memory_equal(cr.key, cs.key, s->nk);

	/* The listed encryptions, at their sequence numbers. */
	for (size_t i = 0; i < AIM_ARRAY_LEN(v->encs); i++) {
		struct aim_buf aad = hex(v->encs[i].aad), ct, back;
		aim_buf_init(&ct, 0);
		aim_buf_init(&back, 0);
		cs.seq = cr.seq = v->encs[i].seq;
		assert_int_equal(aim_hpke_ctx_seal(&cs, aim_buf_bytes(&aad), aim_buf_bytes(&pt),
						   &ct),
				 0);
		assert_hex(ct.data, ct.len, v->encs[i].ct);
		assert_int_equal(cs.seq, v->encs[i].seq + 1);
		assert_int_equal(aim_hpke_ctx_open(&cr, aim_buf_bytes(&aad), aim_buf_bytes(&ct),
						   &back),
				 0);
		assert_int_equal(back.len, pt.len);
		assert_memory_equal(back.data, pt.data, pt.len);
		/* The same ciphertext at the next sequence number must not open. */
		aim_buf_reset(&back);
		assert_int_equal(aim_hpke_ctx_open(&cr, aim_buf_bytes(&aad), aim_buf_bytes(&ct),
						   &back),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		assert_int_equal(back.len, 0);
		aim_buf_free(&aad);
		aim_buf_free(&ct);
		aim_buf_free(&back);
	}

	/* Exporter. */
	for (size_t i = 0; i < AIM_ARRAY_LEN(v->exps); i++) {
		struct aim_buf ec = hex(v->exps[i].ctx);
		uint8_t out[32];
		assert_int_equal(aim_hpke_ctx_export(&cs, aim_buf_bytes(&ec), out, 32), 0);
		assert_hex(out, 32, v->exps[i].value);
		assert_int_equal(aim_hpke_ctx_export(&cr, aim_buf_bytes(&ec), out, 32), 0);
		assert_hex(out, 32, v->exps[i].value);
		aim_buf_free(&ec);
	}

	/* Single-shot seal with the fixed ephemeral equals sequence 0. */
	struct aim_buf enc2, ct, aad0 = hex(v->encs[0].aad), back;
	aim_buf_init(&enc2, 0);
	aim_buf_init(&ct, 0);
	aim_buf_init(&back, 0);
	assert_int_equal(aim_hpke_seal_det(s, aim_buf_bytes(&pkR), aim_buf_bytes(&info),
					   aim_buf_bytes(&aad0), aim_buf_bytes(&pt),
					   aim_buf_bytes(&skE), &enc2, &ct),
			 0);
	assert_hex(enc2.data, enc2.len, v->enc);
	assert_hex(ct.data, ct.len, v->encs[0].ct);
	assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&skR), aim_buf_bytes(&enc2),
				       aim_buf_bytes(&info), aim_buf_bytes(&aad0),
				       aim_buf_bytes(&ct), &back),
			 0);
	assert_int_equal(back.len, pt.len);

	aim_hpke_ctx_wipe(&cs);
	aim_hpke_ctx_wipe(&cr);
	aim_buf_free(&enc2);
	aim_buf_free(&ct);
	aim_buf_free(&aad0);
	aim_buf_free(&back);
	aim_buf_free(&info);
	aim_buf_free(&pkR);
	aim_buf_free_secret(&skR);
	aim_buf_free_secret(&skE);
	aim_buf_free(&pt);
	aim_buf_free(&enc);
}

static void test_rfc9180_a11(void **state)
{
	run_vector(&a11);
}

static void test_rfc9180_a31(void **state)
{
	run_vector(&a31);
}

/* Seal/open round trip in every suite, and the ways an open must fail. */
static void test_round_trip_all_suites(void **state)
{
	static const char msg[] = "thirty-two bytes of plaintext!!";
	for (uint16_t id = 1; id <= 7; id++) {
		const struct aim_suite *s = aim_suite_get(id);
		assert_non_null(s);
		struct aim_buf sk, pk, enc, ct, pt;
		aim_buf_init(&sk, 0);
		aim_buf_init(&pk, 0);
		aim_buf_init(&enc, 0);
		aim_buf_init(&ct, 0);
		aim_buf_init(&pt, 0);
		assert_int_equal(aim_kem_keygen(s->kem, &sk, &pk), 0);
		assert_int_equal(sk.len, s->kem_nsk);
		assert_int_equal(pk.len, s->kem_npk);
		struct aim_bytes info = AIM_BYTES_STR("info"), aad = AIM_BYTES_STR("aad");
		struct aim_bytes m = AIM_BYTES(msg, 32);
		assert_int_equal(aim_hpke_seal(s, aim_buf_bytes(&pk), info, aad, m, &enc, &ct), 0);
		assert_int_equal(enc.len, s->kem_nenc);
		assert_int_equal(ct.len, 32 + s->nt);
		assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&sk), aim_buf_bytes(&enc), info, aad,
					       aim_buf_bytes(&ct), &pt),
				 0);
		assert_int_equal(pt.len, 32);
		assert_memory_equal(pt.data, msg, 32);
		aim_buf_reset(&pt);

		/* Tampered ciphertext. */
		ct.data[3] ^= 0x01;
		assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&sk), aim_buf_bytes(&enc), info, aad,
					       aim_buf_bytes(&ct), &pt),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		assert_int_equal(pt.len, 0);
		ct.data[3] ^= 0x01;
		/* Wrong info, wrong aad. */
		assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&sk), aim_buf_bytes(&enc),
					       AIM_BYTES_STR("other"), aad, aim_buf_bytes(&ct), &pt),
				 -1);
		assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&sk), aim_buf_bytes(&enc), info,
					       AIM_BYTES_STR("AAD"), aim_buf_bytes(&ct), &pt),
				 -1);
		/* Truncated ciphertext and truncated enc. */
		assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&sk), aim_buf_bytes(&enc), info, aad,
					       AIM_BYTES(ct.data, 10), &pt),
				 -1);
		assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&sk), AIM_BYTES(enc.data, enc.len - 1),
					       info, aad, aim_buf_bytes(&ct), &pt),
				 -1);
		/* Another recipient key. */
		struct aim_buf sk2, pk2;
		aim_buf_init(&sk2, 0);
		aim_buf_init(&pk2, 0);
		assert_int_equal(aim_kem_keygen(s->kem, &sk2, &pk2), 0);
		assert_int_equal(aim_hpke_open(s, aim_buf_bytes(&sk2), aim_buf_bytes(&enc), info,
					       aad, aim_buf_bytes(&ct), &pt),
				 -1);
		assert_int_equal(pt.len, 0);

		/* DeriveKeyPair is deterministic and yields a working key pair. */
		struct aim_buf dsk, dpk, dsk2, dpk2;
		aim_buf_init(&dsk, 0);
		aim_buf_init(&dpk, 0);
		aim_buf_init(&dsk2, 0);
		aim_buf_init(&dpk2, 0);
		assert_int_equal(aim_kem_derive_keypair(s->kem, AIM_BYTES(msg, 32), &dsk, &dpk), 0);
		assert_int_equal(aim_kem_derive_keypair(s->kem, AIM_BYTES(msg, 32), &dsk2, &dpk2), 0);
		assert_int_equal(dsk.len, s->kem_nsk);
		assert_memory_equal(dsk.data, dsk2.data, dsk.len);
		assert_memory_equal(dpk.data, dpk2.data, dpk.len);
		aim_buf_reset(&dpk2);
		assert_int_equal(aim_kem_public(s->kem, aim_buf_bytes(&dsk), &dpk2), 0);
		assert_memory_equal(dpk.data, dpk2.data, dpk.len);

		aim_buf_free_secret(&dsk);
		aim_buf_free(&dpk);
		aim_buf_free_secret(&dsk2);
		aim_buf_free(&dpk2);
		aim_buf_free_secret(&sk2);
		aim_buf_free(&pk2);
		aim_buf_free_secret(&sk);
		aim_buf_free(&pk);
		aim_buf_free(&enc);
		aim_buf_free(&ct);
		aim_buf_free(&pt);
	}
}

/* Bad recipient keys are refused before any encryption happens. */
static void test_bad_public_keys(void **state)
{
	const struct aim_suite *s = aim_suite_get(2);
	struct aim_buf enc, ct;
	aim_buf_init(&enc, 0);
	aim_buf_init(&ct, 0);
	/* A P-256 "point" that is not on the curve: the RFC's pkRm with the
	 * last byte changed. */
	struct aim_buf bad = hex(a31.pkRm);
	bad.data[64] ^= 0x01;
	assert_int_equal(aim_hpke_seal(s, aim_buf_bytes(&bad), AIM_BYTES_STR(""),
				       AIM_BYTES_STR(""), AIM_BYTES_STR("x"), &enc, &ct),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	/* Compressed form is not what MLS sends. */
	bad.data[64] ^= 0x01;
	bad.data[0] = 0x02;
	assert_int_equal(aim_hpke_seal(s, AIM_BYTES(bad.data, 33), AIM_BYTES_STR(""),
				       AIM_BYTES_STR(""), AIM_BYTES_STR("x"), &enc, &ct),
			 -1);
	/* Wrong length. */
	assert_int_equal(aim_hpke_seal(s, AIM_BYTES(bad.data, 64), AIM_BYTES_STR(""),
				       AIM_BYTES_STR(""), AIM_BYTES_STR("x"), &enc, &ct),
			 -1);
	assert_int_equal(enc.len, 0);
	assert_int_equal(ct.len, 0);
	aim_buf_free(&bad);

	/* X25519 low-order point (all zero) gives an all-zero DH: refused. */
	const struct aim_suite *s1 = aim_suite_get(1);
	uint8_t zero[32] = { 0 };
	assert_int_equal(aim_hpke_seal(s1, AIM_BYTES(zero, 32), AIM_BYTES_STR(""),
				       AIM_BYTES_STR(""), AIM_BYTES_STR("x"), &enc, &ct),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	/* And an all-zero X448 key likewise. */
	const struct aim_suite *s4 = aim_suite_get(4);
	uint8_t zero56[56] = { 0 };
	assert_int_equal(aim_hpke_seal(s4, AIM_BYTES(zero56, 56), AIM_BYTES_STR(""),
				       AIM_BYTES_STR(""), AIM_BYTES_STR("x"), &enc, &ct),
			 -1);
	aim_buf_free(&enc);
	aim_buf_free(&ct);
}

/* A P-256 private key of zero or >= the group order is refused. */
static void test_bad_private_keys(void **state)
{
	struct aim_buf pk;
	aim_buf_init(&pk, 0);
	uint8_t zero[32] = { 0 };
	assert_int_equal(aim_kem_public(AIM_KEM_P256, AIM_BYTES(zero, 32), &pk), -1);
	struct aim_buf order =
		hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
	assert_int_equal(aim_kem_public(AIM_KEM_P256, aim_buf_bytes(&order), &pk), -1);
	order.data[31] -= 1; /* order - 1 is valid */
	assert_int_equal(aim_kem_public(AIM_KEM_P256, aim_buf_bytes(&order), &pk), 0);
	assert_int_equal(pk.len, 65);
	aim_buf_free(&order);
	aim_buf_free(&pk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc9180_a11),
		cmocka_unit_test(test_rfc9180_a31),
		cmocka_unit_test(test_round_trip_all_suites),
		cmocka_unit_test(test_bad_public_keys),
		cmocka_unit_test(test_bad_private_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
