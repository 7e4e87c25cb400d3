/* Cipher suites (RFC 9420 section 17.1) and algorithm sizes. */
#include "crypto/crypto.h"

size_t aim_hash_len(enum aim_hash_alg h)
{
	switch (h) {
	case AIM_HASH_SHA256: return 32;
	case AIM_HASH_SHA384: return 48;
	case AIM_HASH_SHA512: return 64;
	}
	return 0;
}

size_t aim_aead_key_len(enum aim_aead_alg a)
{
	switch (a) {
	case AIM_AEAD_AES128GCM: return 16;
	case AIM_AEAD_AES256GCM: return 32;
	case AIM_AEAD_CHACHA20POLY1305: return 32;
	}
	return 0;
}

size_t aim_kem_pk_len(enum aim_kem_alg k)
{
	switch (k) {
	case AIM_KEM_P256: return 65;
	case AIM_KEM_P384: return 97;
	case AIM_KEM_P521: return 133;
	case AIM_KEM_X25519: return 32;
	case AIM_KEM_X448: return 56;
	}
	return 0;
}

size_t aim_kem_sk_len(enum aim_kem_alg k)
{
	switch (k) {
	case AIM_KEM_P256: return 32;
	case AIM_KEM_P384: return 48;
	case AIM_KEM_P521: return 66;
	case AIM_KEM_X25519: return 32;
	case AIM_KEM_X448: return 56;
	}
	return 0;
}

size_t aim_kem_secret_len(enum aim_kem_alg k)
{
	switch (k) {
	case AIM_KEM_P256: return 32;
	case AIM_KEM_P384: return 48;
	case AIM_KEM_P521: return 64;
	case AIM_KEM_X25519: return 32;
	case AIM_KEM_X448: return 64;
	}
	return 0;
}

size_t aim_sig_pk_len(enum aim_sig_alg s)
{
	switch (s) {
	case AIM_SIG_ECDSA_P256_SHA256: return 65;
	case AIM_SIG_ECDSA_P384_SHA384: return 97;
	case AIM_SIG_ECDSA_P521_SHA512: return 133;
	case AIM_SIG_ED25519: return 32;
	case AIM_SIG_ED448: return 57;
	}
	return 0;
}

size_t aim_sig_sk_len(enum aim_sig_alg s)
{
	switch (s) {
	case AIM_SIG_ECDSA_P256_SHA256: return 32;
	case AIM_SIG_ECDSA_P384_SHA384: return 48;
	case AIM_SIG_ECDSA_P521_SHA512: return 66;
	case AIM_SIG_ED25519: return 32;
	case AIM_SIG_ED448: return 57;
	}
	return 0;
}

#define SUITE(i, n, h, nh_, a, nk_, k, nsec, npk, nsk, s, spk, ssk)             \
	{ .id = (i), .name = (n), .hash = (h), .aead = (a), .kem = (k), .sig = (s), \
	  .nh = (nh_), .nk = (nk_), .nn = AIM_AEAD_NONCE, .nt = AIM_AEAD_TAG,         \
	  .kem_nsecret = (nsec), .kem_nenc = (npk), .kem_npk = (npk),               \
	  .kem_nsk = (nsk), .sig_npk = (spk), .sig_nsk = (ssk) }

static const struct aim_suite suites[] = {
	SUITE(1, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", AIM_HASH_SHA256, 32,
	      AIM_AEAD_AES128GCM, 16, AIM_KEM_X25519, 32, 32, 32, AIM_SIG_ED25519, 32, 32),
	SUITE(2, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", AIM_HASH_SHA256, 32,
	      AIM_AEAD_AES128GCM, 16, AIM_KEM_P256, 32, 65, 32, AIM_SIG_ECDSA_P256_SHA256,
	      65, 32),
	SUITE(3, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", AIM_HASH_SHA256, 32,
	      AIM_AEAD_CHACHA20POLY1305, 32, AIM_KEM_X25519, 32, 32, 32, AIM_SIG_ED25519, 32,
	      32),
	SUITE(4, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", AIM_HASH_SHA512, 64,
	      AIM_AEAD_AES256GCM, 32, AIM_KEM_X448, 64, 56, 56, AIM_SIG_ED448, 57, 57),
	SUITE(5, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", AIM_HASH_SHA512, 64,
	      AIM_AEAD_AES256GCM, 32, AIM_KEM_P521, 64, 133, 66, AIM_SIG_ECDSA_P521_SHA512,
	      133, 66),
	SUITE(6, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", AIM_HASH_SHA512, 64,
	      AIM_AEAD_CHACHA20POLY1305, 32, AIM_KEM_X448, 64, 56, 56, AIM_SIG_ED448, 57, 57),
	SUITE(7, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", AIM_HASH_SHA384, 48,
	      AIM_AEAD_AES256GCM, 32, AIM_KEM_P384, 48, 97, 48, AIM_SIG_ECDSA_P384_SHA384,
	      97, 48),
};

bool aim_suite_is_grease(uint16_t id)
{
	/* RFC 9420 section 13.5: GREASE values are of the form 0x?A?A with the
	 * same nibble in both bytes: 0x0A0A, 0x1A1A, ..., 0xEAEA. */
	uint8_t hi = (uint8_t)(id >> 8), lo = (uint8_t)id;
	return hi == lo && (lo & 0x0f) == 0x0a && lo != 0xfa;
}

const struct aim_suite *aim_suite_get(uint16_t id)
{
	if (aim_suite_is_grease(id)) {
		aim_fail(AIM_ERR_UNSUPPORTED, "GREASE cipher suite 0x%04x", id);
		return NULL;
	}
	for (size_t i = 0; i < AIM_ARRAY_LEN(suites); i++)
		if (suites[i].id == id)
			return &suites[i];
	aim_fail(AIM_ERR_UNSUPPORTED, "unsupported cipher suite 0x%04x", id);
	return NULL;
}
