/* Unit tests of the crypto layer: known answers for hash, HMAC, HKDF and the
 * AEADs, signatures in every MLS scheme, HTTP-signature keys (RSA, Ed25519,
 * PEM), and cipher suite lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto.h"

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

/* ---- Suites -------------------------------------------------------------- */

static void test_suites(void **state)
{
	for (uint16_t id = 1; id <= 7; id++) {
		const struct aim_suite *s = aim_suite_get(id);
		assert_non_null(s);
		assert_int_equal(s->id, id);
		assert_int_equal(s->nh, aim_hash_len(s->hash));
		assert_int_equal(s->nk, aim_aead_key_len(s->aead));
		assert_int_equal(s->nn, 12);
		assert_int_equal(s->kem_npk, aim_kem_pk_len(s->kem));
		assert_int_equal(s->kem_nsk, aim_kem_sk_len(s->kem));
		assert_int_equal(s->kem_nsecret, aim_kem_secret_len(s->kem));
		assert_int_equal(s->sig_npk, aim_sig_pk_len(s->sig));
	}
	const struct aim_suite *s5 = aim_suite_get(5);
	assert_string_equal(s5->name, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521");
	assert_int_equal(s5->kem_npk, 133);
	assert_int_equal(s5->sig, AIM_SIG_ECDSA_P521_SHA512);
	assert_int_equal(aim_suite_get(3)->aead, AIM_AEAD_CHACHA20POLY1305);
	assert_int_equal(aim_suite_get(7)->hash, AIM_HASH_SHA384);
}

static void test_suite_refusal(void **state)
{
	/* Every GREASE value 0x0A0A .. 0xEAEA is recognised and refused. */
	int grease = 0;
	for (uint32_t id = 0; id <= 0xffff; id++)
		if (aim_suite_is_grease((uint16_t)id))
			grease++;
	assert_int_equal(grease, 15);
	for (unsigned n = 0; n < 15; n++) {
		uint16_t g = (uint16_t)(((n << 4) | 0x0a) * 0x0101);
		assert_true(aim_suite_is_grease(g));
		assert_null(aim_suite_get(g));
		assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	}
	assert_false(aim_suite_is_grease(0x0001));
	assert_false(aim_suite_is_grease(0xfafa));
	static const uint16_t unknown[] = { 0, 8, 0x0100, 0xf000, 0xffff };
	for (size_t i = 0; i < AIM_ARRAY_LEN(unknown); i++) {
		aim_errclear();
		assert_null(aim_suite_get(unknown[i]));
		assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	}
}

/* ---- Hash, HMAC, HKDF --------------------------------------------------- */

static void test_hash(void **state)
{
	uint8_t out[AIM_MAX_HASH];
	assert_int_equal(aim_hash(AIM_HASH_SHA256, AIM_BYTES_STR("abc"), out), 0);
	assert_hex(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(aim_hash(AIM_HASH_SHA512, AIM_BYTES_STR("abc"), out), 0);
	assert_hex(out, 64,
		   "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
		   "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	assert_int_equal(aim_hash(AIM_HASH_SHA256, AIM_BYTES(NULL, 0), out), 0);
	assert_hex(out, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	uint8_t s256[32];
	assert_int_equal(aim_sha256(AIM_BYTES_STR("abc"), s256), 0);
	assert_hex(s256, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(aim_hash((enum aim_hash_alg)9, AIM_BYTES_STR("abc"), out), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
}

static void test_hmac_rfc4231(void **state)
{
	/* RFC 4231 test case 2. */
	struct aim_bytes key = AIM_BYTES_STR("Jefe");
	struct aim_bytes data = AIM_BYTES_STR("what do ya want for nothing?");
	uint8_t out[AIM_MAX_HASH];
	assert_int_equal(aim_mac(AIM_HASH_SHA256, key, data, out), 0);
	assert_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	assert_int_equal(aim_mac(AIM_HASH_SHA512, key, data, out), 0);
	assert_hex(out, 64,
		   "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
		   "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
	assert_int_equal(aim_mac_verify(AIM_HASH_SHA512, key, data, AIM_BYTES(out, 64)), 0);
	out[63] ^= 1;
	assert_int_equal(aim_mac_verify(AIM_HASH_SHA512, key, data, AIM_BYTES(out, 64)), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	/* A truncated tag is not accepted either. */
	out[63] ^= 1;
	assert_int_equal(aim_mac_verify(AIM_HASH_SHA512, key, data, AIM_BYTES(out, 32)), -1);
}

static void test_hkdf_rfc5869(void **state)
{
	/* RFC 5869 test case 1. */
	uint8_t ikm[22], salt[13], info[10];
	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	uint8_t prk[AIM_MAX_HASH], okm[42];
	assert_int_equal(aim_hkdf_extract(AIM_HASH_SHA256, AIM_BYTES(salt, 13),
					  AIM_BYTES(ikm, 22), prk),
			 0);
	assert_hex(prk, 32, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
	assert_int_equal(aim_hkdf_expand(AIM_HASH_SHA256, AIM_BYTES(prk, 32), AIM_BYTES(info, 10),
					 okm, 42),
			 0);
	assert_hex(okm, 42,
		   "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		   "34007208d5b887185865");
	/* Extract is HMAC(salt, ikm); an empty salt means Nh zero bytes. */
	uint8_t mac[AIM_MAX_HASH], zeros[32] = { 0 };
	assert_int_equal(aim_hkdf_extract(AIM_HASH_SHA256, AIM_BYTES(NULL, 0),
					  AIM_BYTES(ikm, 22), prk),
			 0);
	assert_int_equal(aim_mac(AIM_HASH_SHA256, AIM_BYTES(zeros, 32), AIM_BYTES(ikm, 22), mac),
			 0);
	assert_memory_equal(prk, mac, 32);
	/* Empty ikm is allowed (MLS extracts from zero-length secrets). */
	assert_int_equal(aim_hkdf_extract(AIM_HASH_SHA384, AIM_BYTES(salt, 13), AIM_BYTES(NULL, 0),
					  prk),
			 0);
	assert_int_equal(aim_mac(AIM_HASH_SHA384, AIM_BYTES(salt, 13), AIM_BYTES(NULL, 0), mac), 0);
	assert_memory_equal(prk, mac, 48);
	/* Length limits. */
	uint8_t big[255 * 32 + 1];
	assert_int_equal(aim_hkdf_expand(AIM_HASH_SHA256, AIM_BYTES(prk, 32), AIM_BYTES(NULL, 0),
					 big, sizeof(big)),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(aim_hkdf_expand(AIM_HASH_SHA256, AIM_BYTES(prk, 32), AIM_BYTES(NULL, 0),
					 big, 255 * 32),
			 0);
	assert_int_equal(aim_hkdf_expand(AIM_HASH_SHA256, AIM_BYTES(prk, 16), AIM_BYTES(NULL, 0),
					 big, 16),
			 -1);
}

/* HKDF-Expand computed by hand from HMAC (RFC 5869 section 2.3), two blocks. */
static void expand_by_hand(const uint8_t *prk, const uint8_t *info, size_t info_len,
			   uint8_t out[64])
{
	struct aim_buf in;
	aim_buf_init(&in, 0);
	assert_int_equal(aim_buf_append(&in, info, info_len), 0);
	assert_int_equal(aim_buf_append_byte(&in, 1), 0);
	assert_int_equal(aim_mac(AIM_HASH_SHA256, AIM_BYTES(prk, 32), aim_buf_bytes(&in), out), 0);
	aim_buf_reset(&in);
	assert_int_equal(aim_buf_append(&in, out, 32), 0);
	assert_int_equal(aim_buf_append(&in, info, info_len), 0);
	assert_int_equal(aim_buf_append_byte(&in, 2), 0);
	uint8_t t2[AIM_MAX_HASH];
	assert_int_equal(aim_mac(AIM_HASH_SHA256, AIM_BYTES(prk, 32), aim_buf_bytes(&in), t2), 0);
	memcpy(out + 32, t2, 32);
	aim_buf_free(&in);
}

/* MLS passes a whole GroupContext as ExpandWithLabel context: long infos
 * (which OpenSSL 3.0's HKDF refuses) must give the RFC 5869 result. */
static void test_hkdf_long_info(void **state)
{
	static const size_t sizes[] = { 0, 100, 2048, 2049, 40000, 300000 };
	static uint8_t info[300000];
	for (size_t i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(i * 7 + 3);
	uint8_t prk[32];
	for (int i = 0; i < 32; i++)
		prk[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < AIM_ARRAY_LEN(sizes); i++) {
		uint8_t want[64], got[40];
		expand_by_hand(prk, info, sizes[i], want);
		assert_int_equal(aim_hkdf_expand(AIM_HASH_SHA256, AIM_BYTES(prk, 32),
						 AIM_BYTES(info, sizes[i]), got, 40),
				 0);
		assert_memory_equal(got, want, 40);
	}
}

/* ---- AEAD --------------------------------------------------------------- */

static void aead_kat(enum aim_aead_alg a, const char *key, const char *nonce, const char *aad,
		     const char *pt, const char *ct)
{
	struct aim_buf k = hex(key), n = hex(nonce), ad = hex(aad), p = hex(pt), out, back;
	aim_buf_init(&out, 0);
	aim_buf_init(&back, 0);
	assert_int_equal(aim_aead_seal(a, aim_buf_bytes(&k), aim_buf_bytes(&n), aim_buf_bytes(&ad),
				       aim_buf_bytes(&p), &out),
			 0);
	assert_hex(out.data, out.len, ct);
	assert_int_equal(aim_aead_open(a, aim_buf_bytes(&k), aim_buf_bytes(&n), aim_buf_bytes(&ad),
				       aim_buf_bytes(&out), &back),
			 0);
	assert_int_equal(back.len, p.len);
	assert_memory_equal(back.data, p.data, p.len);

	/* Tampering anywhere (ciphertext, tag, aad, nonce) fails and appends
	 * nothing. */
	static const char prefix[] = "keep";
	aim_buf_reset(&back);
	assert_int_equal(aim_buf_append(&back, prefix, 4), 0);
	for (size_t pos = 0; pos < out.len; pos += out.len / 5 + 1) {
		out.data[pos] ^= 0x80;
		assert_int_equal(aim_aead_open(a, aim_buf_bytes(&k), aim_buf_bytes(&n),
					       aim_buf_bytes(&ad), aim_buf_bytes(&out), &back),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		assert_int_equal(back.len, 4);
		out.data[pos] ^= 0x80;
	}
	out.data[out.len - 1] ^= 1; /* last tag byte */
	assert_int_equal(aim_aead_open(a, aim_buf_bytes(&k), aim_buf_bytes(&n), aim_buf_bytes(&ad),
				       aim_buf_bytes(&out), &back),
			 -1);
	out.data[out.len - 1] ^= 1;
	assert_int_equal(aim_aead_open(a, aim_buf_bytes(&k), aim_buf_bytes(&n),
				       AIM_BYTES_STR("other aad"), aim_buf_bytes(&out), &back),
			 -1);
	n.data[0] ^= 1;
	assert_int_equal(aim_aead_open(a, aim_buf_bytes(&k), aim_buf_bytes(&n), aim_buf_bytes(&ad),
				       aim_buf_bytes(&out), &back),
			 -1);
	n.data[0] ^= 1;
	assert_int_equal(aim_aead_open(a, aim_buf_bytes(&k), aim_buf_bytes(&n), aim_buf_bytes(&ad),
				       AIM_BYTES(out.data, 15), &back),
			 -1);
	assert_int_equal(back.len, 4);
	assert_memory_equal(back.data, prefix, 4);
	/* Wrong key and nonce sizes are refused. */
	assert_int_equal(aim_aead_seal(a, AIM_BYTES(k.data, k.len - 1), aim_buf_bytes(&n),
				       aim_buf_bytes(&ad), aim_buf_bytes(&p), &out),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(aim_aead_seal(a, aim_buf_bytes(&k), AIM_BYTES(n.data, 8),
				       aim_buf_bytes(&ad), aim_buf_bytes(&p), &out),
			 -1);
	aim_buf_free(&k);
	aim_buf_free(&n);
	aim_buf_free(&ad);
	aim_buf_free(&p);
	aim_buf_free(&out);
	aim_buf_free(&back);
}

static void test_aes_gcm(void **state)
{
	/* The GCM specification (McGrew-Viega) test case 4. */
	aead_kat(AIM_AEAD_AES128GCM, "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
		 "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		 "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		 "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
		 "5bc94fbc3221a5db94fae95ae7121a47");
	/* AES-256-GCM round trip with an empty plaintext (tag only). */
	uint8_t key[32] = { 1 }, nonce[12] = { 2 };
	struct aim_buf ct, pt;
	aim_buf_init(&ct, 0);
	aim_buf_init(&pt, 0);
	assert_int_equal(aim_aead_seal(AIM_AEAD_AES256GCM, AIM_BYTES(key, 32), AIM_BYTES(nonce, 12),
				       AIM_BYTES_STR("aad"), AIM_BYTES(NULL, 0), &ct),
			 0);
	assert_int_equal(ct.len, 16);
	assert_int_equal(aim_aead_open(AIM_AEAD_AES256GCM, AIM_BYTES(key, 32), AIM_BYTES(nonce, 12),
				       AIM_BYTES_STR("aad"), aim_buf_bytes(&ct), &pt),
			 0);
	assert_int_equal(pt.len, 0);
	aim_buf_free(&ct);
	aim_buf_free(&pt);
}

static void test_chacha20_poly1305(void **state)
{
	/* RFC 8439 section 2.8.2. */
	aead_kat(AIM_AEAD_CHACHA20POLY1305,
		 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		 "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
		 "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
		 "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
		 "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
		 "637265656e20776f756c642062652069742e",
		 "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
		 "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
		 "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
		 "3ff4def08e4b7a9de576d26586cec64b6116"
		 "1ae10b594f09e26a7e902ecbd0600691");
}

/* ---- Signatures on raw keys ---------------------------------------------- */

static void test_sig_all_schemes(void **state)
{
	static const enum aim_sig_alg algs[] = {
		AIM_SIG_ED25519, AIM_SIG_ED448, AIM_SIG_ECDSA_P256_SHA256,
		AIM_SIG_ECDSA_P384_SHA384, AIM_SIG_ECDSA_P521_SHA512,
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(algs); i++) {
		enum aim_sig_alg a = algs[i];
		struct aim_buf sk, pk, pk2, sig;
		aim_buf_init(&sk, 0);
		aim_buf_init(&pk, 0);
		aim_buf_init(&pk2, 0);
		aim_buf_init(&sig, 0);
		assert_int_equal(aim_sig_keygen(a, &sk, &pk), 0);
		assert_int_equal(sk.len, aim_sig_sk_len(a));
		assert_int_equal(pk.len, aim_sig_pk_len(a));
		assert_int_equal(aim_sig_public(a, aim_buf_bytes(&sk), &pk2), 0);
		assert_int_equal(pk2.len, pk.len);
		assert_memory_equal(pk2.data, pk.data, pk.len);

		struct aim_bytes msg = AIM_BYTES_STR("a message to sign");
		assert_int_equal(aim_sig_sign(a, aim_buf_bytes(&sk), msg, &sig), 0);
		assert_true(sig.len > 0 && sig.len <= AIM_MAX_SIG);
		assert_int_equal(aim_sig_verify(a, aim_buf_bytes(&pk), msg, aim_buf_bytes(&sig)), 0);
		/* Tampered message, tampered signature, truncated signature. */
		assert_int_equal(aim_sig_verify(a, aim_buf_bytes(&pk), AIM_BYTES_STR("a message to sigN"),
						aim_buf_bytes(&sig)),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		sig.data[sig.len / 2] ^= 0x10;
		assert_int_equal(aim_sig_verify(a, aim_buf_bytes(&pk), msg, aim_buf_bytes(&sig)), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		sig.data[sig.len / 2] ^= 0x10;
		assert_int_equal(aim_sig_verify(a, aim_buf_bytes(&pk), msg,
						AIM_BYTES(sig.data, sig.len - 1)),
				 -1);
		assert_int_equal(aim_sig_verify(a, aim_buf_bytes(&pk), msg, AIM_BYTES(NULL, 0)), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
		/* Another key does not verify it. */
		struct aim_buf sk2, pk3;
		aim_buf_init(&sk2, 0);
		aim_buf_init(&pk3, 0);
		assert_int_equal(aim_sig_keygen(a, &sk2, &pk3), 0);
		assert_int_equal(aim_sig_verify(a, aim_buf_bytes(&pk3), msg, aim_buf_bytes(&sig)), -1);
		/* A public key of the wrong length is refused as invalid. */
		assert_int_equal(aim_sig_verify(a, AIM_BYTES(pk.data, pk.len - 1), msg,
						aim_buf_bytes(&sig)),
				 -1);
		assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
		aim_buf_free_secret(&sk);
		aim_buf_free_secret(&sk2);
		aim_buf_free(&pk);
		aim_buf_free(&pk2);
		aim_buf_free(&pk3);
		aim_buf_free(&sig);
	}
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 0);
	aim_buf_init(&pk, 0);
	assert_int_equal(aim_sig_keygen((enum aim_sig_alg)0x0401, &sk, &pk), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
}

static void test_ed25519_rfc8032(void **state)
{
	/* RFC 8032 section 7.1, TEST 1 (empty message). */
	struct aim_buf sk = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
	struct aim_buf pk, sig;
	aim_buf_init(&pk, 0);
	aim_buf_init(&sig, 0);
	assert_int_equal(aim_sig_public(AIM_SIG_ED25519, aim_buf_bytes(&sk), &pk), 0);
	assert_hex(pk.data, pk.len, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
	assert_int_equal(aim_sig_sign(AIM_SIG_ED25519, aim_buf_bytes(&sk), AIM_BYTES(NULL, 0), &sig),
			 0);
	assert_hex(sig.data, sig.len,
		   "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
		   "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
	assert_int_equal(aim_sig_verify(AIM_SIG_ED25519, aim_buf_bytes(&pk), AIM_BYTES(NULL, 0),
					aim_buf_bytes(&sig)),
			 0);
	assert_int_equal(aim_sig_verify(AIM_SIG_ED25519, aim_buf_bytes(&pk), AIM_BYTES("x", 1),
					aim_buf_bytes(&sig)),
			 -1);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_free(&sig);
}

static void test_ecdsa_p256_rfc6979(void **state)
{
	/* RFC 6979 A.2.5: P-256, SHA-256, message "sample". The raw scalar
	 * gives the listed public point, and the listed (DER-encoded)
	 * signature verifies. */
	struct aim_buf sk = hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
	struct aim_buf sig = hex("3046022100efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea8"
				 "4eaf3716022100f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064d"
				 "c4ab2f843acda8");
	struct aim_buf pk;
	aim_buf_init(&pk, 0);
	assert_int_equal(aim_sig_public(AIM_SIG_ECDSA_P256_SHA256, aim_buf_bytes(&sk), &pk), 0);
	assert_hex(pk.data, pk.len,
		   "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
		   "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
	assert_int_equal(aim_sig_verify(AIM_SIG_ECDSA_P256_SHA256, aim_buf_bytes(&pk),
					AIM_BYTES_STR("sample"), aim_buf_bytes(&sig)),
			 0);
	assert_int_equal(aim_sig_verify(AIM_SIG_ECDSA_P256_SHA256, aim_buf_bytes(&pk),
					AIM_BYTES_STR("test"), aim_buf_bytes(&sig)),
			 -1);
	/* The same signature is not valid under another curve's hash. */
	aim_buf_free_secret(&sk);
	aim_buf_free(&sig);
	aim_buf_free(&pk);
}

static void test_dh(void **state)
{
	static const enum aim_kem_alg kems[] = { AIM_KEM_X25519, AIM_KEM_X448, AIM_KEM_P256,
						 AIM_KEM_P384, AIM_KEM_P521 };
	static const size_t ndh[] = { 32, 56, 32, 48, 66 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(kems); i++) {
		struct aim_buf a_sk, a_pk, b_sk, b_pk;
		aim_buf_init(&a_sk, 0);
		aim_buf_init(&a_pk, 0);
		aim_buf_init(&b_sk, 0);
		aim_buf_init(&b_pk, 0);
		assert_int_equal(aim_kem_keygen(kems[i], &a_sk, &a_pk), 0);
		assert_int_equal(aim_kem_keygen(kems[i], &b_sk, &b_pk), 0);
		uint8_t z1[AIM_MAX_DH], z2[AIM_MAX_DH];
		size_t l1, l2;
		assert_int_equal(aim_dh(kems[i], aim_buf_bytes(&a_sk), aim_buf_bytes(&b_pk), z1, &l1), 0);
		assert_int_equal(aim_dh(kems[i], aim_buf_bytes(&b_sk), aim_buf_bytes(&a_pk), z2, &l2), 0);
		assert_int_equal(l1, ndh[i]);
		assert_int_equal(l2, ndh[i]);
		assert_memory_equal(z1, z2, l1);
		aim_buf_free_secret(&a_sk);
		aim_buf_free_secret(&b_sk);
		aim_buf_free(&a_pk);
		aim_buf_free(&b_pk);
	}
	/* RFC 7748 section 6.1: X25519 of Alice's private key and Bob's public
	 * key. */
	struct aim_buf ska = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	struct aim_buf pkb = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	uint8_t z[AIM_MAX_DH];
	size_t zl;
	assert_int_equal(aim_dh(AIM_KEM_X25519, aim_buf_bytes(&ska), aim_buf_bytes(&pkb), z, &zl), 0);
	assert_hex(z, zl, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	aim_buf_free_secret(&ska);
	aim_buf_free(&pkb);
}

static void test_random(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };
	assert_int_equal(aim_random(a, sizeof(a)), 0);
	assert_int_equal(aim_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(aim_random(a, 0), 0);
}

/* ---- HTTP-signature keys ------------------------------------------------ */

static void pkey_round_trip(enum aim_key_type t)
{
	struct aim_pkey *k = NULL, *pub = NULL, *priv = NULL;
	assert_int_equal(aim_pkey_generate(t, &k), 0);
	assert_int_equal(aim_pkey_type(k), t);
	assert_true(aim_pkey_has_private(k));

	struct aim_buf pem, spem, sig;
	aim_buf_init(&pem, AIM_MAX_PEM);
	aim_buf_init(&spem, AIM_MAX_PEM);
	aim_buf_init(&sig, 0);
	assert_int_equal(aim_pkey_public_pem(k, &pem), 0);
	assert_true(aim_str_has_prefix((char *)pem.data, "-----BEGIN PUBLIC KEY-----"));
	assert_int_equal(aim_pkey_private_pem(k, &spem), 0);
	assert_true(aim_str_has_prefix((char *)spem.data, "-----BEGIN PRIVATE KEY-----"));

	assert_int_equal(aim_pkey_from_public_pem((char *)pem.data, pem.len, &pub), 0);
	assert_int_equal(aim_pkey_type(pub), t);
	assert_false(aim_pkey_has_private(pub));
	assert_true(aim_pkey_public_equal(k, pub));
	assert_int_equal(aim_pkey_from_private_pem((char *)spem.data, spem.len, &priv), 0);
	assert_true(aim_pkey_has_private(priv));
	assert_true(aim_pkey_public_equal(priv, pub));
	if (t == AIM_KEY_RSA)
		assert_int_equal(aim_pkey_bits(pub), 2048);

	/* Sign with the re-imported private key, verify with the public one. */
	struct aim_bytes msg = AIM_BYTES_STR("(request-target): post /inbox\nhost: example.org");
	assert_int_equal(aim_pkey_sign(priv, msg, &sig), 0);
	assert_int_equal(sig.len, t == AIM_KEY_RSA ? 256 : 64);
	assert_int_equal(aim_pkey_verify(pub, msg, aim_buf_bytes(&sig)), 0);
	assert_int_equal(aim_pkey_verify(pub, AIM_BYTES_STR("(request-target): post /inbox\n"),
					 aim_buf_bytes(&sig)),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	sig.data[7] ^= 1;
	assert_int_equal(aim_pkey_verify(pub, msg, aim_buf_bytes(&sig)), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	/* A public key cannot sign; another key does not verify. */
	struct aim_buf sig2;
	aim_buf_init(&sig2, 0);
	assert_int_equal(aim_pkey_sign(pub, msg, &sig2), -1);
	aim_buf_free(&sig2);
	struct aim_pkey *other = NULL;
	assert_int_equal(aim_pkey_generate(t, &other), 0);
	assert_false(aim_pkey_public_equal(other, pub));
	sig.data[7] ^= 1;
	assert_int_equal(aim_pkey_verify(other, msg, aim_buf_bytes(&sig)), -1);

	aim_pkey_free(other);
	aim_pkey_free(k);
	aim_pkey_free(pub);
	aim_pkey_free(priv);
	aim_buf_free(&pem);
	aim_buf_free_secret(&spem);
	aim_buf_free(&sig);
}

static void test_rsa(void **state)
{
	pkey_round_trip(AIM_KEY_RSA);
}

static void test_ed25519_pkey(void **state)
{
	pkey_round_trip(AIM_KEY_ED25519);
	/* Raw export / import (FEP-521a Multikey) matches the RFC 8032 key. */
	static const char pem_pub[] = "-----BEGIN PUBLIC KEY-----\n"
				      "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
				      "-----END PUBLIC KEY-----\n";
	struct aim_pkey *k = NULL, *k2 = NULL;
	assert_int_equal(aim_pkey_from_public_pem(pem_pub, strlen(pem_pub), &k), 0);
	assert_int_equal(aim_pkey_type(k), AIM_KEY_ED25519);
	struct aim_buf raw;
	aim_buf_init(&raw, 0);
	assert_int_equal(aim_pkey_raw_public(k, &raw), 0);
	assert_hex(raw.data, raw.len,
		   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
	assert_int_equal(aim_pkey_from_raw_public(AIM_KEY_ED25519, aim_buf_bytes(&raw), &k2), 0);
	assert_true(aim_pkey_public_equal(k, k2));
	/* The RFC 8032 test 1 signature verifies through the parsed key. */
	struct aim_buf sig = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
				 "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
	assert_int_equal(aim_pkey_verify(k2, AIM_BYTES(NULL, 0), aim_buf_bytes(&sig)), 0);
	aim_pkey_free(k2);
	assert_int_equal(aim_pkey_from_raw_public(AIM_KEY_ED25519, AIM_BYTES(raw.data, 31), &k2),
			 -1);
	assert_null(k2);
	aim_pkey_free(k);
	aim_buf_free(&raw);
	aim_buf_free(&sig);
}

static void test_pem_refusals(void **state)
{
	struct aim_pkey *k = NULL;
	static const char junk[] = "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n";
	assert_int_equal(aim_pkey_from_public_pem(junk, strlen(junk), &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
	assert_null(k);
	assert_int_equal(aim_pkey_from_public_pem("", 0, &k), -1);
	assert_int_equal(aim_pkey_from_public_pem(junk, AIM_MAX_PEM + 1, &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	/* A 1024-bit RSA key is refused. */
	static const char rsa1024[] =
		"-----BEGIN PUBLIC KEY-----\n"
		"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC7oBDn7sxfH2vMhRLadRQyzKgX\n"
		"gO8SwqP3WKlLxSCb9kPZ0YQ9pUzOoOhRaTKTSGD4DJhSx0vmo1J6nyfqGwwT9d1S\n"
		"q9chA2Q8cVbIJLX7ucjufbRWYQ641cGvj4Sw8x/8i2taeEU9Zj0ltPzbd2gqcCMu\n"
		"QAT0uyB/DQ7lr+Y/GwIDAQAB\n"
		"-----END PUBLIC KEY-----\n";
	assert_int_equal(aim_pkey_from_public_pem(rsa1024, strlen(rsa1024), &k), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	/* A P-256 key parses (as the type an X.509 CA key has) but cannot
	 * verify HTTP signatures. */
	static const char p256[] =
		"-----BEGIN PUBLIC KEY-----\n"
		"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7\n"
		"Yfps5mliLmDyn7Z5A/4QCLi8maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==\n"
		"-----END PUBLIC KEY-----\n";
	assert_int_equal(aim_pkey_from_public_pem(p256, strlen(p256), &k), 0);
	assert_int_equal(aim_pkey_type(k), AIM_KEY_P256);
	assert_int_equal(aim_pkey_verify(k, AIM_BYTES_STR("x"), AIM_BYTES_STR("sig")), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	aim_pkey_free(k);
	/* An encrypted private key is refused without prompting. */
	static const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
				  "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhFakeSaltAgIIADAM\n"
				  "-----END ENCRYPTED PRIVATE KEY-----\n";
	assert_int_equal(aim_pkey_from_private_pem(enc, strlen(enc), &k), -1);
	assert_null(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suites),
		cmocka_unit_test(test_suite_refusal),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_hkdf_long_info),
		cmocka_unit_test(test_aes_gcm),
		cmocka_unit_test(test_chacha20_poly1305),
		cmocka_unit_test(test_sig_all_schemes),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ecdsa_p256_rfc6979),
		cmocka_unit_test(test_dh),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_ed25519_pkey),
		cmocka_unit_test(test_pem_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
