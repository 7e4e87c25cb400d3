/*
 * MLS labeled operations (RFC 9420 sections 5.1 - 5.3 and 8).
 *
 * Every key derivation, signature, public-key encryption and hash reference
 * in MLS is domain-separated by a label. This header is the one place where
 * the "MLS 1.0 " prefix and the label structs are built:
 *
 *   KDFLabel      { uint16 length; opaque label<V>; opaque context<V>; }
 *   SignContent   { opaque label<V>; opaque content<V>; }
 *   EncryptContext{ opaque label<V>; opaque context<V>; }
 *   RefHashInput  { opaque label<V>; opaque value<V>; }
 *
 * For ExpandWithLabel, DeriveSecret, DeriveTreeSecret, SignWithLabel and
 * EncryptWithLabel the caller passes the short label (e.g. "joiner") and
 * "MLS 1.0 " is prepended here. RefHash takes the full label as given (the
 * callers use "MLS 1.0 KeyPackage Reference" / "MLS 1.0 Proposal Reference",
 * through the two helpers below).
 *
 * Conventions: 0 / -1 with an aim_err recorded (base.h). Fixed-size outputs
 * go to caller arrays (AIM_MAX_HASH for Nh-sized values); variable-size
 * outputs are APPENDED to caller-initialised aim_bufs. Inputs are borrowed.
 * Labels are NUL-terminated C strings of at most MLS_MAX_LABEL bytes;
 * KDF and HPKE contexts are bounded by AIM_MAX_HPKE_INFO, signed contents
 * by MLS_MAX_SIGNED. Derived secrets
 * are written only on success (a failed derivation leaves the output wiped).
 */
#ifndef AIM_MLS_LABELED_H
#define AIM_MLS_LABELED_H

#include "base/base.h"
#include "crypto/crypto.h"

/* Longest label accepted (without the "MLS 1.0 " prefix). */
#define MLS_MAX_LABEL 255
/* Longest content signed / verified / hashed by reference (a GroupInfo with
 * a ratchet tree can be large). EncryptWithLabel contexts are bounded by the
 * HPKE info limit of crypto.h (AIM_MAX_HPKE_INFO, less the label). */
#define MLS_MAX_SIGNED ((size_t)8 << 20)

/* ---- Key derivation (section 8) ---------------------------------------- */

/* ExpandWithLabel(secret, label, context, out_len) =
 *     KDF.Expand(secret, KDFLabel, out_len); out_len in 1..65535 (and at
 * most 255 * Nh). */
int mls_expand_with_label(const struct aim_suite *cs, struct aim_bytes secret,
			  const char *label, struct aim_bytes context, uint8_t *out,
			  size_t out_len) AIM_WARN_UNUSED;

/* The same with a label given as bytes (it may hold any octet, e.g. an
 * application's exporter label); at most MLS_MAX_LABEL bytes. */
int mls_expand_with_label_raw(const struct aim_suite *cs, struct aim_bytes secret,
			      struct aim_bytes label, struct aim_bytes context, uint8_t *out,
			      size_t out_len) AIM_WARN_UNUSED;

/* DeriveSecret(secret, label) = ExpandWithLabel(secret, label, "", Nh);
 * out receives cs->nh bytes. */
int mls_derive_secret(const struct aim_suite *cs, struct aim_bytes secret, const char *label,
		      uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;

/* DeriveTreeSecret(secret, label, generation, out_len) =
 *     ExpandWithLabel(secret, label, uint32 generation (big endian), out_len)
 * (section 9.1). */
int mls_derive_tree_secret(const struct aim_suite *cs, struct aim_bytes secret,
			   const char *label, uint32_t generation, uint8_t *out,
			   size_t out_len) AIM_WARN_UNUSED;

/* ---- Hash references (section 5.2) ------------------------------------- */

/* RefHash(label, value) = Hash(RefHashInput); label used verbatim; out
 * receives cs->nh bytes. */
int mls_ref_hash(const struct aim_suite *cs, const char *label, struct aim_bytes value,
		 uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;
/* KeyPackageRef of an encoded KeyPackage (the KeyPackage struct, not the
 * MLSMessage around it). */
int mls_key_package_ref(const struct aim_suite *cs, struct aim_bytes key_package,
			uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;
/* ProposalRef of an encoded AuthenticatedContent carrying a Proposal. */
int mls_proposal_ref(const struct aim_suite *cs, struct aim_bytes authenticated_content,
		     uint8_t out[AIM_MAX_HASH]) AIM_WARN_UNUSED;

/* ---- Signatures (section 5.1.2) ---------------------------------------- */

/* SignWithLabel(sk, label, content): appends the signature over SignContent
 * to sig. sk is the raw private key of cs->sig. */
int mls_sign_with_label(const struct aim_suite *cs, struct aim_bytes sk, const char *label,
			struct aim_bytes content, struct aim_buf *sig) AIM_WARN_UNUSED;
/* VerifyWithLabel(pk, label, content, sig): 0 if valid, -1 with
 * AIM_ERR_VERIFY if not. */
int mls_verify_with_label(const struct aim_suite *cs, struct aim_bytes pk, const char *label,
			  struct aim_bytes content, struct aim_bytes sig) AIM_WARN_UNUSED;

/* ---- Public-key encryption (section 5.1.3) ----------------------------- */

/* EncryptWithLabel(pk, label, context, pt) = SealBase(pk, EncryptContext,
 * "", pt): appends the KEM output to kem_output and the ciphertext to ct. */
int mls_encrypt_with_label(const struct aim_suite *cs, struct aim_bytes pk, const char *label,
			   struct aim_bytes context, struct aim_bytes pt,
			   struct aim_buf *kem_output, struct aim_buf *ct) AIM_WARN_UNUSED;
/* DecryptWithLabel(sk, label, context, kem_output, ct) = OpenBase(...):
 * appends the plaintext to pt; -1 with AIM_ERR_VERIFY on a bad tag. */
int mls_decrypt_with_label(const struct aim_suite *cs, struct aim_bytes sk, const char *label,
			   struct aim_bytes context, struct aim_bytes kem_output,
			   struct aim_bytes ct, struct aim_buf *pt) AIM_WARN_UNUSED;

/* ---- Helper for callers that build labeled structs themselves ---------- */

/* Appends opaque label<V> with "MLS 1.0 " + label to w. */
int mls_write_label(struct aim_buf *w, const char *label) AIM_WARN_UNUSED;
int mls_write_label_raw(struct aim_buf *w, struct aim_bytes label) AIM_WARN_UNUSED;

#endif
