/*
 * crypto: every cryptographic operation of aim, on OpenSSL 3.0 EVP.
 *
 * Two users, two styles:
 *
 * - MLS (RFC 9420) works on raw byte strings. A cipher suite (section 17.1,
 *   suites 1..7) is looked up with aim_suite_get(); it names a hash, an AEAD,
 *   an HPKE KEM and a signature scheme, and carries their sizes. The
 *   primitives (hash, HMAC, HKDF-Extract / HKDF-Expand, AEAD, signatures,
 *   DH) take the algorithm and raw keys in the formats MLS puts on the wire:
 *   Ed25519/Ed448/X25519/X448 keys are the raw 32/57/32/56 bytes; P-curve
 *   public keys are uncompressed SEC1 points (0x04 || X || Y), private keys
 *   the big-endian scalar of the curve's size (32/48/66). ECDSA signatures
 *   are DER, over the message hashed with the curve's hash (SHA-256 for
 *   P-256, SHA-384 for P-384, SHA-512 for P-521). HPKE (RFC 9180) base mode
 *   is implemented here, since Debian's OpenSSL 3.0 has no HPKE API.
 * - HTTP signatures and storage work on parsed keys: struct aim_pkey is an
 *   opaque owned wrapper of an EVP_PKEY (RSA, Ed25519, ...), imported from
 *   and exported to PEM (public: SPKI; private: PKCS#8). aim_pkey_sign() and
 *   aim_pkey_verify() choose the algorithm from the key type, never from a
 *   header: RSA -> RSASSA-PKCS1-v1_5 with SHA-256, Ed25519 -> Ed25519.
 *   A P-256 key (AIM_KEY_P256) is kept for the X.509 CA; it does not sign
 *   HTTP messages.
 * - Credentials (X.509, RFC 5280; a domain's authentication service):
 *   PKCS#10 CSRs over an MLS signature key (proof of possession), a
 *   domain's self-signed CA, the leaf it issues for an MLS key with the one
 *   SAN URI acct:user@domain, and the verification of such a leaf against
 *   one or more CA certificates (rotation), all in DER, on the raw MLS key
 *   formats above. Inputs are capped (AIM_X509_MAX) before they are parsed
 *   and must be exactly one DER object (no trailing bytes). Verification
 *   checks each rule by hand (no X509_STORE, no system trust, no
 *   intermediates) and names the rule that failed in the message.
 *
 * Conventions (see base.h): functions return 0 or -1 with a recorded
 * aim_err. Fixed-size outputs go into caller arrays sized by the AIM_MAX_*
 * constants below (the function writes exactly the algorithm's length);
 * variable-size outputs are APPENDED to a caller-initialised struct aim_buf
 * (which must be freed by the caller, with aim_buf_free_secret() when it
 * holds key material; a buffer that would pass its maximum fails with
 * AIM_ERR_LIMIT and is freed, as in base). Inputs are borrowed views.
 * Every verify / open / decap is AIM_WARN_UNUSED; a bad signature or tag
 * fails with AIM_ERR_VERIFY, and an open that fails appends nothing (the
 * partial plaintext is wiped). Internal copies of private keys and derived
 * secrets are wiped before return. Unknown or GREASE suites, unknown
 * algorithms and keys of the wrong type or length fail with
 * AIM_ERR_UNSUPPORTED or AIM_ERR_INVALID; a library failure is
 * AIM_ERR_CRYPTO. All functions are thread-safe (no shared mutable state).
 */
#ifndef AIM_CRYPTO_H
#define AIM_CRYPTO_H

#include "base/base.h"

/* ---- Sizes ------------------------------------------------------------- */

#define AIM_MAX_HASH 64        /* SHA-512 */
#define AIM_MAX_AEAD_KEY 32    /* AES-256-GCM, ChaCha20-Poly1305 */
#define AIM_AEAD_NONCE 12      /* all three AEADs */
#define AIM_AEAD_TAG 16        /* all three AEADs */
#define AIM_MAX_KEM_PK 133     /* P-521 uncompressed point */
#define AIM_MAX_KEM_SK 66      /* P-521 scalar */
#define AIM_MAX_DH 66          /* P-521 x coordinate */
#define AIM_MAX_SIG_PK 133     /* P-521 uncompressed point */
#define AIM_MAX_SIG_SK 66      /* P-521 scalar */
#define AIM_MAX_SIG 139        /* DER ECDSA P-521 (Ed448: 114) */
#define AIM_MAX_RSA_SIG 1024   /* RSA up to 8192 bits */
#define AIM_MAX_PEM (16 * 1024) /* refuse longer PEM input */
#define AIM_MAX_HPKE_INFO ((size_t)1 << 20) /* refuse longer HPKE info / KDF input */

/* ---- Algorithms (enum values are the IANA code points) ------------------ */

enum aim_hash_alg { /* also the HPKE KDF id of HKDF with that hash */
	AIM_HASH_SHA256 = 0x0001,
	AIM_HASH_SHA384 = 0x0002,
	AIM_HASH_SHA512 = 0x0003,
};

enum aim_aead_alg { /* HPKE AEAD ids */
	AIM_AEAD_AES128GCM = 0x0001,
	AIM_AEAD_AES256GCM = 0x0002,
	AIM_AEAD_CHACHA20POLY1305 = 0x0003,
};

enum aim_kem_alg { /* HPKE KEM ids (DHKEM) */
	AIM_KEM_P256 = 0x0010,   /* DHKEM(P-256, HKDF-SHA256) */
	AIM_KEM_P384 = 0x0011,   /* DHKEM(P-384, HKDF-SHA384) */
	AIM_KEM_P521 = 0x0012,   /* DHKEM(P-521, HKDF-SHA512) */
	AIM_KEM_X25519 = 0x0020, /* DHKEM(X25519, HKDF-SHA256) */
	AIM_KEM_X448 = 0x0021,   /* DHKEM(X448, HKDF-SHA512) */
};

enum aim_sig_alg { /* TLS SignatureScheme values, as MLS uses them */
	AIM_SIG_ECDSA_P256_SHA256 = 0x0403,
	AIM_SIG_ECDSA_P384_SHA384 = 0x0503,
	AIM_SIG_ECDSA_P521_SHA512 = 0x0603,
	AIM_SIG_ED25519 = 0x0807,
	AIM_SIG_ED448 = 0x0808,
};

/* Lengths; 0 for an unknown algorithm. */
size_t aim_hash_len(enum aim_hash_alg h);        /* Nh: 32 / 48 / 64 */
size_t aim_aead_key_len(enum aim_aead_alg a);    /* Nk: 16 / 32 / 32 */
size_t aim_kem_pk_len(enum aim_kem_alg k);       /* Npk = Nenc */
size_t aim_kem_sk_len(enum aim_kem_alg k);       /* Nsk */
size_t aim_kem_secret_len(enum aim_kem_alg k);   /* Nsecret = Nh of the KEM hash */
size_t aim_sig_pk_len(enum aim_sig_alg s);       /* raw public key length */
size_t aim_sig_sk_len(enum aim_sig_alg s);       /* raw private key length */

/* ---- Cipher suites (RFC 9420 section 17.1) ------------------------------ */

struct aim_suite {
	uint16_t id;            /* 1..7 */
	const char *name;       /* e.g. "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" */
	enum aim_hash_alg hash; /* hash, MAC, KDF (HKDF with this hash) */
	enum aim_aead_alg aead;
	enum aim_kem_alg kem;
	enum aim_sig_alg sig;
	size_t nh;              /* hash / KDF output length */
	size_t nk;              /* AEAD key length */
	size_t nn;              /* AEAD nonce length (12) */
	size_t nt;              /* AEAD tag length (16) */
	size_t kem_nsecret;     /* KEM shared secret length */
	size_t kem_nenc;        /* encapsulated key length */
	size_t kem_npk;         /* KEM public key length */
	size_t kem_nsk;         /* KEM private key length */
	size_t sig_npk;         /* raw signature public key length */
	size_t sig_nsk;         /* raw signature private key length */
};

/* The suite with that id, or NULL (AIM_ERR_UNSUPPORTED recorded) for an
 * unknown id, 0 (reserved) or a GREASE value. Returns a static constant. */
const struct aim_suite *aim_suite_get(uint16_t id);
/* True for the RFC 9420 section 13.5 GREASE values 0x0A0A, 0x1A1A, ... 0xEAEA. */
bool aim_suite_is_grease(uint16_t id);

/* ---- Random ------------------------------------------------------------ */

/* n bytes from the OpenSSL CSPRNG. */
int aim_random(void *out, size_t n) AIM_WARN_UNUSED;

/* ---- Hash, MAC, KDF ---------------------------------------------------- */

/* out receives aim_hash_len(h) bytes. */
int aim_hash(enum aim_hash_alg h, struct aim_bytes in, uint8_t out[AIM_MAX_HASH]);
/* SHA-256 convenience (HTTP digests, token hashing). */
int aim_sha256(struct aim_bytes in, uint8_t out[32]);
/* HMAC with hash h; out receives aim_hash_len(h) bytes. */
int aim_mac(enum aim_hash_alg h, struct aim_bytes key, struct aim_bytes data,
	    uint8_t out[AIM_MAX_HASH]);
/* HMAC verify: recomputes and compares in constant time (length first). */
int aim_mac_verify(enum aim_hash_alg h, struct aim_bytes key, struct aim_bytes data,
		   struct aim_bytes tag) AIM_WARN_UNUSED;
/* HKDF-Extract (RFC 5869): prk receives aim_hash_len(h) bytes. An empty salt
 * means Nh zero bytes, as the RFC says. */
int aim_hkdf_extract(enum aim_hash_alg h, struct aim_bytes salt, struct aim_bytes ikm,
		     uint8_t prk[AIM_MAX_HASH]);
/* HKDF-Expand: out_len bytes, 1 <= out_len <= 255 * Nh; prk must be at least
 * Nh bytes; info up to AIM_MAX_HPKE_INFO bytes (longer than OpenSSL 3.0's
 * HKDF accepts: long infos are expanded with HMAC directly). */
int aim_hkdf_expand(enum aim_hash_alg h, struct aim_bytes prk, struct aim_bytes info,
		    uint8_t *out, size_t out_len);

/* ---- AEAD -------------------------------------------------------------- */

/* Appends ciphertext || 16-byte tag to out. key must be aim_aead_key_len(a)
 * bytes and nonce AIM_AEAD_NONCE bytes. */
int aim_aead_seal(enum aim_aead_alg a, struct aim_bytes key, struct aim_bytes nonce,
		  struct aim_bytes aad, struct aim_bytes pt, struct aim_buf *out);
/* Opens ciphertext || tag and appends the plaintext to out; on a bad tag
 * fails with AIM_ERR_VERIFY and out is left as it was (nothing appended,
 * the partial plaintext wiped). */
int aim_aead_open(enum aim_aead_alg a, struct aim_bytes key, struct aim_bytes nonce,
		  struct aim_bytes aad, struct aim_bytes ct, struct aim_buf *out) AIM_WARN_UNUSED;

/* ---- Signatures on raw keys (MLS) -------------------------------------- */

/* Appends a fresh raw private key to sk and its public key to pk. */
int aim_sig_keygen(enum aim_sig_alg s, struct aim_buf *sk, struct aim_buf *pk);
/* Appends the raw public key of a raw private key. */
int aim_sig_public(enum aim_sig_alg s, struct aim_bytes sk, struct aim_buf *pk);
/* Appends the signature of msg (Ed25519/Ed448: pure EdDSA; ECDSA: DER over
 * the curve's hash of msg). */
int aim_sig_sign(enum aim_sig_alg s, struct aim_bytes sk, struct aim_bytes msg,
		 struct aim_buf *sig);
/* 0 if sig is a valid signature of msg under the raw public key pk; -1 with
 * AIM_ERR_VERIFY if not (also for a malformed signature), AIM_ERR_INVALID
 * for a malformed public key. */
int aim_sig_verify(enum aim_sig_alg s, struct aim_bytes pk, struct aim_bytes msg,
		   struct aim_bytes sig) AIM_WARN_UNUSED;

/* ---- DH and KEM keys on raw bytes --------------------------------------- */

/* Appends a fresh raw private key (Nsk) to sk and public key (Npk) to pk. */
int aim_kem_keygen(enum aim_kem_alg k, struct aim_buf *sk, struct aim_buf *pk);
/* Appends the public key of private key sk. */
int aim_kem_public(enum aim_kem_alg k, struct aim_bytes sk, struct aim_buf *pk);
/* RFC 9180 section 7.1.3 DeriveKeyPair(ikm): deterministic; X25519/X448
 * directly, P-curves by rejection sampling. Appends sk and pk. */
int aim_kem_derive_keypair(enum aim_kem_alg k, struct aim_bytes ikm,
			   struct aim_buf *sk, struct aim_buf *pk);
/* Raw Diffie-Hellman: out receives Ndh bytes (32 X25519, 56 X448, the
 * x coordinate for P-curves: 32/48/66); *out_len is set. Fails with
 * AIM_ERR_INVALID for a public key not on the curve or an all-zero X25519/X448
 * result. */
int aim_dh(enum aim_kem_alg k, struct aim_bytes sk, struct aim_bytes pk,
	   uint8_t out[AIM_MAX_DH], size_t *out_len) AIM_WARN_UNUSED;
/* aim_dh() that also appends the public key of sk to own_pk: for X25519 /
 * X448 the key is loaded once (loading computes the public key), so this
 * costs one scalar multiplication less than aim_dh() + aim_kem_public(). */
int aim_dh_own_public(enum aim_kem_alg k, struct aim_bytes sk, struct aim_bytes pk,
		      uint8_t out[AIM_MAX_DH], size_t *out_len, struct aim_buf *own_pk)
	AIM_WARN_UNUSED;
/* A fresh private key only (no public key computed): appends it to sk. */
int aim_kem_random_private(enum aim_kem_alg k, struct aim_buf *sk) AIM_WARN_UNUSED;

/* ---- HPKE (RFC 9180) base mode ----------------------------------------- */

/* The suite's kem, hash (as KDF) and aead are used. */

/* DHKEM Encap(pkR): appends enc (Nenc bytes) and writes shared_secret
 * (kem_nsecret bytes). */
int aim_hpke_encap(const struct aim_suite *s, struct aim_bytes pkR, struct aim_buf *enc,
		   uint8_t shared_secret[AIM_MAX_HASH]);
/* Deterministic Encap with the ephemeral private key skE (for known answers). */
int aim_hpke_encap_det(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes skE,
		       struct aim_buf *enc, uint8_t shared_secret[AIM_MAX_HASH]);
/* DHKEM Decap(enc, skR). */
int aim_hpke_decap(const struct aim_suite *s, struct aim_bytes enc, struct aim_bytes skR,
		   uint8_t shared_secret[AIM_MAX_HASH]) AIM_WARN_UNUSED;

/* A base-mode context (section 5.1). Plain data so tests can read key and
 * base_nonce; wipe it with aim_hpke_ctx_wipe() when done. */
struct aim_hpke_ctx {
	const struct aim_suite *suite;
	uint8_t key[AIM_MAX_AEAD_KEY];
	uint8_t base_nonce[AIM_AEAD_NONCE];
	uint8_t exporter_secret[AIM_MAX_HASH];
	uint64_t seq;
};

/* SetupBaseS(pkR, info): appends enc, fills ctx. */
int aim_hpke_setup_s(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes info,
		     struct aim_buf *enc, struct aim_hpke_ctx *ctx);
/* SetupBaseS with a fixed ephemeral private key skE. */
int aim_hpke_setup_s_det(const struct aim_suite *s, struct aim_bytes pkR,
			 struct aim_bytes info, struct aim_bytes skE, struct aim_buf *enc,
			 struct aim_hpke_ctx *ctx);
/* SetupBaseR(enc, skR, info). */
int aim_hpke_setup_r(const struct aim_suite *s, struct aim_bytes enc, struct aim_bytes skR,
		     struct aim_bytes info, struct aim_hpke_ctx *ctx) AIM_WARN_UNUSED;
/* ContextS.Seal / ContextR.Open with nonce base_nonce XOR seq; seq advances
 * on success. Output appended to out; open fails with AIM_ERR_VERIFY and
 * appends nothing on a bad tag. */
int aim_hpke_ctx_seal(struct aim_hpke_ctx *ctx, struct aim_bytes aad, struct aim_bytes pt,
		      struct aim_buf *out);
int aim_hpke_ctx_open(struct aim_hpke_ctx *ctx, struct aim_bytes aad, struct aim_bytes ct,
		      struct aim_buf *out) AIM_WARN_UNUSED;
/* Context.Export(exporter_context, L): out_len bytes, <= 255 * Nh. */
int aim_hpke_ctx_export(const struct aim_hpke_ctx *ctx, struct aim_bytes exporter_context,
			uint8_t *out, size_t out_len);
void aim_hpke_ctx_wipe(struct aim_hpke_ctx *ctx);

/* Single-shot SealBase(pkR, info, aad, pt): appends enc to enc and
 * ciphertext || tag to ct. */
int aim_hpke_seal(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes info,
		  struct aim_bytes aad, struct aim_bytes pt, struct aim_buf *enc,
		  struct aim_buf *ct);
/* SealBase with a fixed ephemeral private key skE. */
int aim_hpke_seal_det(const struct aim_suite *s, struct aim_bytes pkR, struct aim_bytes info,
		      struct aim_bytes aad, struct aim_bytes pt, struct aim_bytes skE,
		      struct aim_buf *enc, struct aim_buf *ct);
/* OpenBase(enc, skR, info, aad, ct): appends the plaintext to pt. */
int aim_hpke_open(const struct aim_suite *s, struct aim_bytes skR, struct aim_bytes enc,
		  struct aim_bytes info, struct aim_bytes aad, struct aim_bytes ct,
		  struct aim_buf *pt) AIM_WARN_UNUSED;

/* ---- Parsed keys (HTTP signatures, storage) ----------------------------- */

enum aim_key_type {
	AIM_KEY_OTHER = 0, /* parsed but not usable here (DSA, other curves, ...) */
	AIM_KEY_RSA,
	AIM_KEY_ED25519,
	AIM_KEY_P256,      /* ECDSA P-256: X.509 CA keys only (no HTTP signatures) */
};

/* Opaque: owns an EVP_PKEY. Free with aim_pkey_free() (NULL is fine). */
struct aim_pkey;

void aim_pkey_free(struct aim_pkey *k);
enum aim_key_type aim_pkey_type(const struct aim_pkey *k);
bool aim_pkey_has_private(const struct aim_pkey *k);
/* RSA modulus size in bits (0 for other types). */
unsigned aim_pkey_bits(const struct aim_pkey *k);
/* True if both hold the same public key. */
bool aim_pkey_public_equal(const struct aim_pkey *a, const struct aim_pkey *b);

/* New key pair: AIM_KEY_RSA (2048 bits), AIM_KEY_ED25519 or AIM_KEY_P256.
 * *out is a new key owned by the caller. */
int aim_pkey_generate(enum aim_key_type t, struct aim_pkey **out);

/* Import a public key from SPKI PEM ("-----BEGIN PUBLIC KEY-----"), len <=
 * AIM_MAX_PEM. RSA keys below 2048 or above 8192 bits are refused with
 * AIM_ERR_UNSUPPORTED. Other key types import as AIM_KEY_OTHER. */
int aim_pkey_from_public_pem(const char *pem, size_t len, struct aim_pkey **out);
/* Import a private key from PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
int aim_pkey_from_private_pem(const char *pem, size_t len, struct aim_pkey **out);
/* A public key from raw bytes; only AIM_KEY_ED25519 (32 bytes). */
int aim_pkey_from_raw_public(enum aim_key_type t, struct aim_bytes raw, struct aim_pkey **out);

/* Export: appends SPKI PEM / PKCS#8 PEM (text, NUL-terminated by aim_buf). */
int aim_pkey_public_pem(const struct aim_pkey *k, struct aim_buf *out);
/* Private PEM is key material: free out with aim_buf_free_secret(). */
int aim_pkey_private_pem(const struct aim_pkey *k, struct aim_buf *out);
/* Appends the raw public key; only Ed25519 (32 bytes, for FEP-521a Multikey). */
int aim_pkey_raw_public(const struct aim_pkey *k, struct aim_buf *out);

/* Appends a signature of msg chosen by the key type: RSA -> RSASSA-PKCS1-v1_5
 * with SHA-256; Ed25519 -> Ed25519. Other types (P-256 too): AIM_ERR_UNSUPPORTED. */
int aim_pkey_sign(const struct aim_pkey *k, struct aim_bytes msg, struct aim_buf *sig);
/* Verifies with the algorithm the key type dictates (as for sign); -1 with
 * AIM_ERR_VERIFY on a bad signature, AIM_ERR_UNSUPPORTED for other types. */
int aim_pkey_verify(const struct aim_pkey *k, struct aim_bytes msg,
		    struct aim_bytes sig) AIM_WARN_UNUSED;

/* ---- X.509 credentials (RFC 5280, RFC 2986) ------------------------------ */

/*
 * The flow: a device makes a CSR over its MLS signature key
 * (aim_x509_csr_create); its server checks the proof of possession and
 * learns the key (aim_x509_csr_verify), then issues a leaf for it under the
 * domain's CA (aim_x509_issue; the CA made once by aim_x509_ca_create). A
 * peer checks a leaf against the CA certificates the domain publishes
 * (aim_x509_verify) and compares the certified key with the MLS leaf node's
 * signature key and the SAN URI with the acct: URI it expects. Everything
 * is DER; aim_pem_to_der / aim_der_to_pem convert for files and humans.
 * Supported MLS keys: Ed25519, Ed448, ECDSA P-256/384/521 (raw formats as
 * above); a P-curve key signs with the curve's hash, Ed25519/Ed448 pure.
 * Anything else (RSA, other curves) is AIM_ERR_UNSUPPORTED.
 */

#define AIM_X509_MAX (16 * 1024)      /* refuse a longer DER certificate or CSR */
#define AIM_X509_PEM_MAX (32 * 1024)  /* refuse a longer PEM text */
#define AIM_X509_CN_MAX 64            /* ub-common-name (RFC 5280 appendix A) */
#define AIM_X509_URI_MAX 511          /* longest SAN URI (leaf.san_uri holds it) */

/* CSR (PKCS#10, DER) over an MLS signature key, signed by it (proof of
 * possession). The subject is CN=<cn> (1..64 bytes of UTF-8); no extensions.
 * Appends DER to csr. pk must be sk's public key (AIM_ERR_INVALID if not). */
int aim_x509_csr_create(enum aim_sig_alg alg, struct aim_bytes sk, struct aim_bytes pk,
			const char *cn, struct aim_buf *csr);
/* Parses a DER CSR (<= AIM_X509_MAX), verifies its self-signature; gives the
 * key's MLS signature scheme and appends the raw public key in MLS format to
 * pk. Nothing else of the CSR (subject, attributes, requested extensions) is
 * used. DECODE malformed (trailing bytes too), VERIFY bad signature,
 * UNSUPPORTED key type (RSA, ...) or a signature algorithm that is not the
 * key's own (ECDSA with another hash), LIMIT too large. */
int aim_x509_csr_verify(struct aim_bytes csr, enum aim_sig_alg *alg,
			struct aim_buf *pk) AIM_WARN_UNUSED;

/* A CA: a new key of type AIM_KEY_ED25519 or AIM_KEY_P256 (*key, owned by
 * the caller) and its self-signed certificate (appended to cert): CN=<cn>,
 * basicConstraints CA:TRUE critical, keyUsage keyCertSign|cRLSign critical,
 * subject key identifier, serial of 16 random bytes, validity [not_before,
 * not_after] (Unix seconds, inclusive). */
int aim_x509_ca_create(enum aim_key_type t, const char *cn, int64_t not_before,
		       int64_t not_after, struct aim_pkey **key, struct aim_buf *cert);
/* The same certificate for an existing CA key (borrowed; Ed25519 or P-256):
 * a renewed CA certificate keeps the key, so leaves it issued still verify. */
int aim_x509_ca_cert(const struct aim_pkey *key, const char *cn, int64_t not_before,
		     int64_t not_after, struct aim_buf *cert);
/* A leaf for an MLS signature key, signed by ca_key (which must be the key
 * of ca_cert, else AIM_ERR_INVALID): version 3, serial of 16 random bytes,
 * issuer = ca_cert's subject, an empty subject, the only name the SAN URI
 * <san_uri> (e.g. "acct:alice@a.test"; 1..511 printable ASCII bytes with a
 * scheme; the SAN is critical since the subject is empty), keyUsage
 * digitalSignature critical, basicConstraints CA:FALSE critical, authority
 * and subject key identifiers, validity [not_before, not_after]. Appends DER. */
int aim_x509_issue(const struct aim_pkey *ca_key, struct aim_bytes ca_cert,
		   enum aim_sig_alg alg, struct aim_bytes pk, const char *san_uri,
		   int64_t not_before, int64_t not_after, struct aim_buf *cert);

struct aim_x509_leaf {
	enum aim_sig_alg alg;        /* the certified key, MLS format */
	uint8_t pk[AIM_MAX_SIG_PK];
	size_t pk_len;
	char san_uri[AIM_X509_URI_MAX + 1]; /* the one SAN URI, NUL-terminated */
	int64_t not_before, not_after;      /* Unix seconds */
	uint8_t serial[20];                 /* big-endian magnitude */
	size_t serial_len;
	size_t anchor;                      /* index of the anchor that signed it */
};

/* Verifies a leaf (DER) against trust anchors (DER CA certificates, e.g. a
 * domain's current and previous CA) at time now: signed by one anchor
 * (directly; no intermediates) whose subject is the leaf's issuer, that
 * anchor a CA (basicConstraints cA, keyCertSign) within its validity; the
 * leaf version 3, within its validity, keyUsage present with
 * digitalSignature (and without keyCertSign), not a CA, no unknown critical
 * extension, exactly one subjectAltName entry and it a URI, a supported key
 * type. Fills out (zeroed on failure). VERIFY on any failure (the message
 * says which check), DECODE malformed leaf or anchor, LIMIT too large,
 * INVALID no anchors. */
int aim_x509_verify(struct aim_bytes leaf, const struct aim_bytes *anchors, size_t n_anchors,
		    int64_t now, struct aim_x509_leaf *out) AIM_WARN_UNUSED;

/* PEM <-> DER (RFC 7468) for the labels "CERTIFICATE" and "CERTIFICATE
 * REQUEST" (others: AIM_ERR_INVALID). pem_to_der takes the first block with
 * that label (text around it is ignored), strict base64 inside, at most
 * AIM_X509_PEM_MAX of text and AIM_X509_MAX of DER; appends the DER. The DER
 * itself is not parsed. der_to_pem appends 64-column text ending in "\n". */
int aim_pem_to_der(const char *pem, size_t len, const char *label, struct aim_buf *der);
int aim_der_to_pem(struct aim_bytes der, const char *label, struct aim_buf *pem);

/* ---- A server's TLS certificate and key (x509_tls.c) ---------------------- */

/* What aimd doctor checks of the PEM files given to --tls-cert / --tls-key:
 * the first certificate of cert_pem (the server's own; a chain may follow),
 * whether key_pem's private key is that certificate's key, its validity,
 * and whether it names host (RFC 6125: a DNS subjectAltName, a wildcard in
 * the leftmost label; the subject CN only when the certificate has no DNS
 * name). DECODE when a file holds no certificate or no unencrypted private
 * key. */
struct aim_tls_files {
	int64_t not_before, not_after;    /* Unix seconds */
	bool key_matches;
	bool names_host;
	char subject[256];                /* one line, for messages */
};
int aim_tls_files_check(struct aim_bytes cert_pem, struct aim_bytes key_pem, const char *host,
			struct aim_tls_files *out) AIM_WARN_UNUSED;

#endif
