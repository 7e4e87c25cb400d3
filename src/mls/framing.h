/*
 * MLS message protection (RFC 9420 section 6): turning an
 * AuthenticatedContent into a PublicMessage or PrivateMessage and back.
 *
 * - Signing (framing_sign.c): SignWithLabel(., "FramedContentTBS",
 *   FramedContentTBS) over the wire format, the content and, for member and
 *   new_member_commit senders, the GroupContext.
 * - PublicMessage (framing_public.c): signature plus, for member senders,
 *   the membership_tag = MAC(membership_key, AuthenticatedContentTBM).
 *   Application data is never sent in a PublicMessage.
 * - PrivateMessage (framing_private.c): the PrivateMessageContent (content,
 *   auth, zero padding) sealed with the sender's ratchet key and a nonce
 *   XORed with a fresh 4-byte reuse_guard; SenderData sealed with keys
 *   derived from sender_data_secret and a sample of the ciphertext.
 *
 * What unprotect checks: the content types a sender type may send (external:
 * proposals of the types allowed for external senders; new_member_proposal:
 * Add; new_member_commit: commit), group_id and epoch against the GroupContext
 * (AIM_ERR_CONFLICT for another epoch, AIM_ERR_INVALID for another group),
 * the membership tag and AEAD tags (AIM_ERR_VERIFY, compared in constant time
 * after a length check), all-zero padding, the leaf of a PrivateMessage
 * sender (through the caller's lookup, which refuses blank leaves), the
 * signature (AIM_ERR_VERIFY), and for commits that a confirmation tag of Nh
 * bytes is present. The confirmation tag's VALUE depends on the next epoch's
 * key schedule and is left to the caller (mls_confirmation_tag_verify()).
 *
 * A commit is protected in two steps because its confirmation tag covers
 * its own signature: mls_content_sign(), then transcript hash and key
 * schedule, then the tag into auth, then *_protect().
 *
 * Outputs are owned by the caller (free with the codec's *_free()).
 */
#ifndef AIM_MLS_FRAMING_H
#define AIM_MLS_FRAMING_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/codec.h"
#include "mls/schedule.h"

/* Largest padding a sender may ask for. */
#define MLS_MAX_PADDING ((size_t)1 << 16)

/* ---- Content authentication (section 6.1) ------------------------------ */

/* Signs content for wire_format (PUBLIC or PRIVATE) and stores the
 * signature in auth->signature (replacing it). ctx is required for member
 * and new_member_commit senders. */
int mls_content_sign(const struct aim_suite *cs, uint16_t wire_format,
		     const struct mls_framed_content *content, const struct mls_group_context *ctx,
		     struct aim_bytes sig_priv, struct mls_framed_content_auth_data *auth)
	AIM_WARN_UNUSED;
/* "Recipients of an MLSMessage MUST verify the signature with the key
 * depending on the sender_type of the sender". */
int mls_content_verify(const struct aim_suite *cs, uint16_t wire_format,
		       const struct mls_framed_content *content,
		       const struct mls_group_context *ctx, struct aim_bytes sig_pub,
		       const struct mls_framed_content_auth_data *auth) AIM_WARN_UNUSED;

/* ---- PublicMessage (section 6.2) ---------------------------------------- */

/* membership_tag = MAC(membership_key, AuthenticatedContentTBM); Nh bytes. */
int mls_membership_tag(const struct aim_suite *cs, struct aim_bytes membership_key,
		       const struct mls_framed_content *content,
		       const struct mls_framed_content_auth_data *auth,
		       const struct mls_group_context *ctx, uint8_t out[AIM_MAX_HASH])
	AIM_WARN_UNUSED;

/* Builds a PublicMessage from signed content (copied): adds the membership
 * tag for member senders (membership_key then required). Refuses
 * application content, content of another group or epoch, and a commit
 * without a confirmation tag. */
int mls_public_message_protect(const struct aim_suite *cs,
			       const struct mls_framed_content *content,
			       const struct mls_framed_content_auth_data *auth,
			       const struct mls_group_context *ctx,
			       struct aim_bytes membership_key, struct mls_public_message *out)
	AIM_WARN_UNUSED;

/* Checks a PublicMessage (see the list above) with the sender's signature
 * key sig_pub (the caller resolves it from the sender) and, for member
 * senders, membership_key. On success and if out is not NULL, fills out
 * with a copy as an AuthenticatedContent (wire format public). */
int mls_public_message_unprotect(const struct aim_suite *cs,
				 const struct mls_public_message *pm,
				 const struct mls_group_context *ctx,
				 struct aim_bytes membership_key, struct aim_bytes sig_pub,
				 struct mls_authenticated_content *out) AIM_WARN_UNUSED;

/* ---- PrivateMessage (section 6.3) --------------------------------------- */

/* Seals signed content (sender must be a member) with the next key of the
 * sender's handshake (proposal, commit) or application ratchet in st, and
 * `padding` zero bytes (at most MLS_MAX_PADDING). */
int mls_private_message_protect(const struct aim_suite *cs, struct mls_secret_tree *st,
				struct aim_bytes sender_data_secret,
				const struct mls_framed_content *content,
				const struct mls_framed_content_auth_data *auth, size_t padding,
				struct mls_private_message *out) AIM_WARN_UNUSED;

/* The padding that brings a PrivateMessageContent of content_len bytes to a
 * multiple of block (0 for block <= 1), capped at MLS_MAX_PADDING. */
size_t mls_padding_for(size_t content_len, size_t block);

/* mls_private_message_protect() with the padding that makes the encoded
 * PrivateMessageContent a multiple of block bytes (block <= 1: none), so
 * the ciphertext is that plus the AEAD tag. */
int mls_private_message_protect_aligned(const struct aim_suite *cs, struct mls_secret_tree *st,
					struct aim_bytes sender_data_secret,
					const struct mls_framed_content *content,
					const struct mls_framed_content_auth_data *auth,
					size_t block, struct mls_private_message *out)
	AIM_WARN_UNUSED;

/* Resolves the signature key of a member: fails (e.g. AIM_ERR_NOTFOUND) for
 * a leaf outside the tree or a blank leaf. *sig_pub must stay valid until
 * unprotect returns. */
typedef int (*mls_member_key_fn)(void *arg, uint32_t leaf_index, struct aim_bytes *sig_pub);

/* Opens a PrivateMessage: sender data, then content with the ratchet key
 * of (leaf, generation) from st, consumed only once the AEAD tag verified;
 * then padding, signature (key from lookup) and confirmation tag presence.
 * On success fills out (wire format private, sender = member leaf). */
int mls_private_message_unprotect(const struct aim_suite *cs, struct mls_secret_tree *st,
				  struct aim_bytes sender_data_secret,
				  const struct mls_private_message *pm,
				  const struct mls_group_context *ctx, mls_member_key_fn lookup,
				  void *lookup_arg, struct mls_authenticated_content *out)
	AIM_WARN_UNUSED;

/* ---- Internals shared by the framing_*.c files --------------------------- */

/* Deep copies (dst is overwritten; zeroed on failure). */
int mls_framing_copy_content(struct mls_framed_content *dst,
			     const struct mls_framed_content *src) AIM_WARN_UNUSED;
int mls_framing_copy_auth(struct mls_framed_content_auth_data *dst,
			  const struct mls_framed_content_auth_data *src) AIM_WARN_UNUSED;
/* group_id and epoch of content against ctx. */
int mls_framing_check_context(const struct mls_framed_content *content,
			      const struct mls_group_context *ctx) AIM_WARN_UNUSED;
/* The content types each sender type may send (section 6.1). */
int mls_framing_check_sender(const struct mls_framed_content *c) AIM_WARN_UNUSED;
/* A signature present; a confirmation tag of Nh bytes iff a commit. */
int mls_framing_check_auth(const struct aim_suite *cs, uint8_t content_type,
			   const struct mls_framed_content_auth_data *auth) AIM_WARN_UNUSED;

#endif
