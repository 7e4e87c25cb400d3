/*
 * The MLS wire structures of RFC 9420, as C structs, with decoders and
 * encoders in the TLS presentation language (tls.h, internal).
 *
 * Ownership: every decoded structure OWNS its memory (byte strings and
 * arrays are copies), so it outlives the input, can be changed and
 * re-encoded. Each `mls_X_free()` releases everything the struct holds and
 * leaves it zeroed; it accepts a zeroed struct (and NULL). A zeroed struct is
 * the empty value to fill in by hand before encoding.
 *
 * For every structure X:
 *   int  mls_X_decode(struct mls_tls_reader *r, struct mls_X *out);
 *        Reads one X at the reader's cursor. On failure `out` is freed
 *        (zeroed) and the reason recorded (AIM_ERR_DECODE for malformed
 *        input, AIM_ERR_UNSUPPORTED for a value outside the set RFC 9420
 *        fixes, AIM_ERR_LIMIT for a ceiling below).
 *   int  mls_X_parse(const uint8_t *p, size_t len, struct mls_X *out);
 *        Decodes a whole buffer: refuses trailing bytes and inputs larger
 *        than MLS_MAX_MESSAGE.
 *   int  mls_X_encode(struct aim_buf *w, const struct mls_X *in);
 *        Appends the exact encoding; refuses values the decoder would
 *        refuse (AIM_ERR_INVALID), so encode(decode(x)) == x byte for byte.
 *   void mls_X_free(struct mls_X *x);
 *
 * A few structures need context that lives outside them on the wire (the
 * content type of FramedContentAuthData and PrivateMessageContent); their
 * decoders take it as an argument and have no _parse.
 *
 * Signing / MAC / transcript inputs (the "TBS" encodings) are built by the
 * mls_*_encode_tbs() helpers and friends at the end of this header.
 *
 * Unknown code points: decoders refuse unknown wire formats, content types,
 * sender types, node types, leaf node sources, PSK types, resumption usages,
 * ProposalOrRef types and proposal types (a Proposal body has no length, so
 * an unknown one cannot be skipped; GREASE values MUST NOT appear there).
 * Extension types, cipher suites and the values inside Capabilities lists
 * are kept as they are (GREASE included): callers decide what they support.
 * A credential of unknown type is kept as an opaque<V> body (the convention
 * of other implementations; RFC 9420 defines no body for it).
 */
#ifndef AIM_MLS_CODEC_H
#define AIM_MLS_CODEC_H

#include "base/base.h"

/* The decoders read at a cursor of the TLS codec (mls/tls.h, internal). */
struct mls_tls_reader;

/* ---- Ceilings ---------------------------------------------------------- */

#define MLS_MAX_MESSAGE ((size_t)4 << 20)   /* a whole encoded structure */
#define MLS_MAX_LEAVES 65536u               /* members of a group */
#define MLS_MAX_NODES (2 * MLS_MAX_LEAVES - 1)
#define MLS_MAX_LIST 65536u                 /* elements of any other vector */
#define MLS_MAX_PROPOSALS 8192u             /* ProposalOrRef entries in a Commit */
/* Worst-case memory of one decode: a tree of MLS_MAX_NODES blank entries
 * takes about 37 MB (280 bytes per struct mls_node), a Commit of
 * MLS_MAX_PROPOSALS references about 6 MB; everything else is smaller. */

/* ---- Code points --------------------------------------------------------- */

#define MLS_VERSION_10 1

enum mls_wire_format {
	MLS_WIRE_PUBLIC_MESSAGE = 1,
	MLS_WIRE_PRIVATE_MESSAGE = 2,
	MLS_WIRE_WELCOME = 3,
	MLS_WIRE_GROUP_INFO = 4,
	MLS_WIRE_KEY_PACKAGE = 5,
};

enum mls_content_type {
	MLS_CONTENT_APPLICATION = 1,
	MLS_CONTENT_PROPOSAL = 2,
	MLS_CONTENT_COMMIT = 3,
};

enum mls_sender_type {
	MLS_SENDER_MEMBER = 1,
	MLS_SENDER_EXTERNAL = 2,
	MLS_SENDER_NEW_MEMBER_PROPOSAL = 3,
	MLS_SENDER_NEW_MEMBER_COMMIT = 4,
};

enum mls_proposal_type {
	MLS_PROPOSAL_ADD = 1,
	MLS_PROPOSAL_UPDATE = 2,
	MLS_PROPOSAL_REMOVE = 3,
	MLS_PROPOSAL_PSK = 4,
	MLS_PROPOSAL_REINIT = 5,
	MLS_PROPOSAL_EXTERNAL_INIT = 6,
	MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS = 7,
};

enum mls_proposal_or_ref_type {
	MLS_POR_PROPOSAL = 1,
	MLS_POR_REFERENCE = 2,
};

enum mls_credential_type {
	MLS_CREDENTIAL_BASIC = 1,
	MLS_CREDENTIAL_X509 = 2,
};

enum mls_extension_type {
	MLS_EXT_APPLICATION_ID = 1,
	MLS_EXT_RATCHET_TREE = 2,
	MLS_EXT_REQUIRED_CAPABILITIES = 3,
	MLS_EXT_EXTERNAL_PUB = 4,
	MLS_EXT_EXTERNAL_SENDERS = 5,
};

enum mls_leaf_node_source {
	MLS_LEAF_SOURCE_KEY_PACKAGE = 1,
	MLS_LEAF_SOURCE_UPDATE = 2,
	MLS_LEAF_SOURCE_COMMIT = 3,
};

enum mls_node_type {
	MLS_NODE_BLANK = 0, /* not a wire value: an absent optional<Node> */
	MLS_NODE_LEAF = 1,
	MLS_NODE_PARENT = 2,
};

enum mls_psk_type {
	MLS_PSK_EXTERNAL = 1,
	MLS_PSK_RESUMPTION = 2,
};

enum mls_resumption_usage {
	MLS_RESUMPTION_APPLICATION = 1,
	MLS_RESUMPTION_REINIT = 2,
	MLS_RESUMPTION_BRANCH = 3,
};

/* True for the GREASE values 0x0A0A, 0x1A1A, ..., 0xEAEA (section 13.5). */
static inline bool mls_is_grease(uint16_t v)
{
	return (v >> 8) == (v & 0xff) && (v & 0x0f) == 0x0a && v != 0xfafa;
}

/* ---- Owned bytes ---------------------------------------------------------- */

/* An owned byte string (opaque<V>); p == NULL when len == 0 is allowed. */
struct mls_bytes {
	uint8_t *p;
	size_t len;
};

/* Replaces *b by a copy of p[0..len). */
int mls_bytes_set(struct mls_bytes *b, const void *p, size_t len) AIM_WARN_UNUSED;
int mls_bytes_copy(struct mls_bytes *dst, const struct mls_bytes *src) AIM_WARN_UNUSED;
void mls_bytes_free(struct mls_bytes *b);
/* Wipes before freeing (secrets). */
void mls_bytes_free_secret(struct mls_bytes *b);
static inline struct aim_bytes mls_bytes_view(const struct mls_bytes *b)
{
	return AIM_BYTES(b->p, b->len);
}
bool mls_bytes_equal(const struct mls_bytes *a, const struct mls_bytes *b);

/* uint16 list (capabilities) and uint32 list (unmerged leaves). */
struct mls_u16_list {
	uint16_t *v;
	size_t n;
};
struct mls_u32_list {
	uint32_t *v;
	size_t n;
};

/* Declares decode / parse / encode / free for struct mls_NAME. */
#define MLS_CODEC_DECLARE(name)                                                  \
	int mls_##name##_decode(struct mls_tls_reader *r, struct mls_##name *out) \
		AIM_WARN_UNUSED;                                                 \
	int mls_##name##_parse(const uint8_t *p, size_t len, struct mls_##name *out) \
		AIM_WARN_UNUSED;                                                 \
	int mls_##name##_encode(struct aim_buf *w, const struct mls_##name *in)  \
		AIM_WARN_UNUSED;                                                 \
	void mls_##name##_free(struct mls_##name *x)

/* ---- Extensions, credentials, capabilities (sections 5.3, 7.2, 13) ------ */

struct mls_extension {
	uint16_t type;
	struct mls_bytes data;
};
MLS_CODEC_DECLARE(extension);

/* Extension extensions<V> */
struct mls_extension_list {
	struct mls_extension *v;
	size_t n;
};
MLS_CODEC_DECLARE(extension_list);
/* The first extension of that type, or NULL. */
const struct mls_extension *mls_extension_find(const struct mls_extension_list *l,
					       uint16_t type);

struct mls_credential {
	uint16_t type;
	/* basic: identity; unknown types: the opaque<V> body */
	struct mls_bytes identity;
	/* x509: Certificate certificates<V> (each opaque cert_data<V>) */
	struct mls_bytes *certs;
	size_t n_certs;
};
MLS_CODEC_DECLARE(credential);

struct mls_capabilities {
	struct mls_u16_list versions;
	struct mls_u16_list cipher_suites;
	struct mls_u16_list extensions;
	struct mls_u16_list proposals;
	struct mls_u16_list credentials;
};
MLS_CODEC_DECLARE(capabilities);

struct mls_lifetime {
	uint64_t not_before;
	uint64_t not_after;
};
MLS_CODEC_DECLARE(lifetime);

/* ---- LeafNode and KeyPackage (sections 7.2, 10) -------------------------- */

struct mls_leaf_node {
	struct mls_bytes encryption_key; /* HPKEPublicKey */
	struct mls_bytes signature_key;  /* SignaturePublicKey */
	struct mls_credential credential;
	struct mls_capabilities capabilities;
	uint8_t source;                  /* enum mls_leaf_node_source */
	struct mls_lifetime lifetime;    /* source == key_package */
	struct mls_bytes parent_hash;    /* source == commit */
	struct mls_extension_list extensions;
	struct mls_bytes signature;
};
MLS_CODEC_DECLARE(leaf_node);

struct mls_key_package {
	uint16_t version;
	uint16_t cipher_suite;
	struct mls_bytes init_key;
	struct mls_leaf_node leaf_node;
	struct mls_extension_list extensions;
	struct mls_bytes signature;
};
MLS_CODEC_DECLARE(key_package);

/* ---- Ratchet tree (sections 7.1, 12.4.3.3) ------------------------------- */

struct mls_parent_node {
	struct mls_bytes encryption_key;
	struct mls_bytes parent_hash;
	struct mls_u32_list unmerged_leaves;
};
MLS_CODEC_DECLARE(parent_node);

/* optional<Node>: type MLS_NODE_BLANK is the absent value (encoded as the
 * presence byte 0); the other member is unused and zeroed. */
struct mls_node {
	uint8_t type; /* enum mls_node_type */
	struct mls_leaf_node leaf;
	struct mls_parent_node parent;
};
/* Node (not optional): refuses a blank node. */
MLS_CODEC_DECLARE(node);

/* optional<Node> ratchet_tree<V> (section 12.4.3.3), as sent: n entries, not
 * extended to a full tree. Decode refuses more than MLS_MAX_NODES entries
 * (AIM_ERR_LIMIT), an empty tree, a blank last entry ("The receiver MUST
 * check that the last node in ratchet_tree is non-blank"), and a leaf at an
 * odd or a parent at an even position. Encode refuses the same. */
struct mls_ratchet_tree {
	struct mls_node *nodes;
	size_t n;
};
MLS_CODEC_DECLARE(ratchet_tree);

/* ---- TreeKEM (section 7.6) ---------------------------------------------- */

struct mls_hpke_ciphertext {
	struct mls_bytes kem_output;
	struct mls_bytes ciphertext;
};
MLS_CODEC_DECLARE(hpke_ciphertext);

struct mls_update_path_node {
	struct mls_bytes encryption_key;
	struct mls_hpke_ciphertext *encrypted_path_secret;
	size_t n_encrypted_path_secret;
};
MLS_CODEC_DECLARE(update_path_node);

struct mls_update_path {
	struct mls_leaf_node leaf_node;
	struct mls_update_path_node *nodes;
	size_t n_nodes;
};
MLS_CODEC_DECLARE(update_path);

/* struct { opaque path_secret<V>; } PathSecret -- secret: freed with wipe. */
struct mls_path_secret {
	struct mls_bytes path_secret;
};
MLS_CODEC_DECLARE(path_secret);

/* ---- Proposals (section 12.1) ------------------------------------------ */

struct mls_pre_shared_key_id {
	uint8_t psktype;                /* enum mls_psk_type */
	struct mls_bytes psk_id;        /* external */
	uint8_t usage;                  /* resumption: enum mls_resumption_usage */
	struct mls_bytes psk_group_id;  /* resumption */
	uint64_t psk_epoch;             /* resumption */
	struct mls_bytes psk_nonce;
};
MLS_CODEC_DECLARE(pre_shared_key_id);

struct mls_add {
	struct mls_key_package key_package;
};
MLS_CODEC_DECLARE(add);

struct mls_update {
	struct mls_leaf_node leaf_node;
};
MLS_CODEC_DECLARE(update);

struct mls_remove {
	uint32_t removed;
};
MLS_CODEC_DECLARE(remove);

struct mls_pre_shared_key {
	struct mls_pre_shared_key_id psk;
};
MLS_CODEC_DECLARE(pre_shared_key);

struct mls_reinit {
	struct mls_bytes group_id;
	uint16_t version;
	uint16_t cipher_suite;
	struct mls_extension_list extensions;
};
MLS_CODEC_DECLARE(reinit);

struct mls_external_init {
	struct mls_bytes kem_output;
};
MLS_CODEC_DECLARE(external_init);

struct mls_group_context_extensions {
	struct mls_extension_list extensions;
};
MLS_CODEC_DECLARE(group_context_extensions);

/* Only the member selected by `type` is encoded; the others stay zeroed. */
struct mls_proposal {
	uint16_t type; /* enum mls_proposal_type */
	struct mls_add add;
	struct mls_update update;
	struct mls_remove remove;
	struct mls_pre_shared_key psk;
	struct mls_reinit reinit;
	struct mls_external_init external_init;
	struct mls_group_context_extensions group_context_extensions;
};
MLS_CODEC_DECLARE(proposal);

struct mls_proposal_or_ref {
	uint8_t type; /* enum mls_proposal_or_ref_type */
	struct mls_proposal proposal;
	struct mls_bytes reference; /* ProposalRef = opaque HashReference<V> */
};
MLS_CODEC_DECLARE(proposal_or_ref);

/* ---- Commit (section 12.4) ---------------------------------------------- */

struct mls_commit {
	struct mls_proposal_or_ref *proposals;
	size_t n_proposals;
	bool has_path;
	struct mls_update_path path;
};
MLS_CODEC_DECLARE(commit);

/* ---- Group context, GroupInfo, Welcome (sections 8.1, 12.4.3) ----------- */

struct mls_group_context {
	uint16_t version;
	uint16_t cipher_suite;
	struct mls_bytes group_id;
	uint64_t epoch;
	struct mls_bytes tree_hash;
	struct mls_bytes confirmed_transcript_hash;
	struct mls_extension_list extensions;
};
MLS_CODEC_DECLARE(group_context);

struct mls_group_info {
	struct mls_group_context group_context;
	struct mls_extension_list extensions;
	struct mls_bytes confirmation_tag;
	uint32_t signer;
	struct mls_bytes signature;
};
MLS_CODEC_DECLARE(group_info);

/* Secrets: freed with wipe. */
struct mls_group_secrets {
	struct mls_bytes joiner_secret;
	bool has_path_secret;
	struct mls_path_secret path_secret;
	struct mls_pre_shared_key_id *psks;
	size_t n_psks;
};
MLS_CODEC_DECLARE(group_secrets);

struct mls_encrypted_group_secrets {
	struct mls_bytes new_member; /* KeyPackageRef */
	struct mls_hpke_ciphertext encrypted_group_secrets;
};
MLS_CODEC_DECLARE(encrypted_group_secrets);

struct mls_welcome {
	uint16_t cipher_suite;
	struct mls_encrypted_group_secrets *secrets;
	size_t n_secrets;
	struct mls_bytes encrypted_group_info;
};
MLS_CODEC_DECLARE(welcome);

/* ---- Framing (section 6) ------------------------------------------------- */

struct mls_sender {
	uint8_t type;   /* enum mls_sender_type */
	uint32_t index; /* member: leaf_index; external: sender_index */
};
MLS_CODEC_DECLARE(sender);

struct mls_framed_content {
	struct mls_bytes group_id;
	uint64_t epoch;
	struct mls_sender sender;
	struct mls_bytes authenticated_data;
	uint8_t content_type; /* enum mls_content_type */
	struct mls_bytes application_data; /* application */
	struct mls_proposal proposal;       /* proposal */
	struct mls_commit commit;           /* commit */
};
MLS_CODEC_DECLARE(framed_content);

/* FramedContentAuthData: confirmation_tag is present iff content_type is
 * commit, so its decoder and encoder take the content type. */
struct mls_framed_content_auth_data {
	struct mls_bytes signature;
	struct mls_bytes confirmation_tag; /* commit only */
};
int mls_framed_content_auth_data_decode(struct mls_tls_reader *r, uint8_t content_type,
					struct mls_framed_content_auth_data *out) AIM_WARN_UNUSED;
int mls_framed_content_auth_data_encode(struct aim_buf *w, uint8_t content_type,
					const struct mls_framed_content_auth_data *in)
	AIM_WARN_UNUSED;
void mls_framed_content_auth_data_free(struct mls_framed_content_auth_data *x);

/* membership_tag is present iff the sender is a member. */
struct mls_public_message {
	struct mls_framed_content content;
	struct mls_framed_content_auth_data auth;
	struct mls_bytes membership_tag; /* member senders only */
};
MLS_CODEC_DECLARE(public_message);

struct mls_private_message {
	struct mls_bytes group_id;
	uint64_t epoch;
	uint8_t content_type;
	struct mls_bytes authenticated_data;
	struct mls_bytes encrypted_sender_data;
	struct mls_bytes ciphertext;
};
MLS_CODEC_DECLARE(private_message);

/* The plaintext of PrivateMessage.ciphertext (section 6.3.1). Decoding
 * takes the content type from the PrivateMessage, and refuses non-zero
 * padding ("A receiver MUST verify that there are no non-zero bytes in the
 * padding field"); it consumes the reader to its end. Encoding appends
 * `padding` zero bytes. Secret contents: freed with wipe. */
struct mls_private_message_content {
	uint8_t content_type;
	struct mls_bytes application_data;
	struct mls_proposal proposal;
	struct mls_commit commit;
	struct mls_framed_content_auth_data auth;
	size_t padding; /* number of zero bytes */
};
int mls_private_message_content_decode(struct mls_tls_reader *r, uint8_t content_type,
				       struct mls_private_message_content *out) AIM_WARN_UNUSED;
int mls_private_message_content_encode(struct aim_buf *w,
				       const struct mls_private_message_content *in)
	AIM_WARN_UNUSED;
void mls_private_message_content_free(struct mls_private_message_content *x);

/* struct { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; } */
struct mls_sender_data {
	uint32_t leaf_index;
	uint32_t generation;
	uint8_t reuse_guard[4];
};
MLS_CODEC_DECLARE(sender_data);

/* PrivateContentAAD: group_id, epoch, content_type, authenticated_data. */
int mls_private_content_aad_encode(struct aim_buf *w, const struct mls_private_message *m)
	AIM_WARN_UNUSED;
/* SenderDataAAD: group_id, epoch, content_type. */
int mls_sender_data_aad_encode(struct aim_buf *w, const struct mls_private_message *m)
	AIM_WARN_UNUSED;

/* AuthenticatedContent (section 6.1): wire_format, content, auth. */
struct mls_authenticated_content {
	uint16_t wire_format;
	struct mls_framed_content content;
	struct mls_framed_content_auth_data auth;
};
MLS_CODEC_DECLARE(authenticated_content);

/* ---- MLSMessage (section 6) ---------------------------------------------- */

/* Only the member selected by wire_format is used. */
struct mls_message {
	uint16_t version;     /* MLS_VERSION_10 */
	uint16_t wire_format; /* enum mls_wire_format */
	struct mls_public_message public_message;
	struct mls_private_message private_message;
	struct mls_welcome welcome;
	struct mls_group_info group_info;
	struct mls_key_package key_package;
};
MLS_CODEC_DECLARE(message);

/* ---- To-be-signed / MAC / transcript inputs ------------------------------ */

/* LeafNodeTBS (section 7.2): the leaf node without its signature, then for
 * source update / commit the group_id<V> and uint32 leaf_index (ignored for
 * key_package). */
int mls_leaf_node_encode_tbs(struct aim_buf *w, const struct mls_leaf_node *leaf,
			     struct aim_bytes group_id, uint32_t leaf_index) AIM_WARN_UNUSED;
/* KeyPackageTBS (section 10): the key package without its signature. */
int mls_key_package_encode_tbs(struct aim_buf *w, const struct mls_key_package *kp)
	AIM_WARN_UNUSED;
/* GroupInfoTBS (section 12.4.3): the group info without its signature. */
int mls_group_info_encode_tbs(struct aim_buf *w, const struct mls_group_info *gi)
	AIM_WARN_UNUSED;
/* FramedContentTBS (section 6.1): version mls10, wire_format, content, and
 * for member / new_member_commit senders the GroupContext `ctx` (required
 * then: AIM_ERR_INVALID when NULL; ignored for other senders). */
int mls_framed_content_encode_tbs(struct aim_buf *w, uint16_t wire_format,
				  const struct mls_framed_content *content,
				  const struct mls_group_context *ctx) AIM_WARN_UNUSED;
/* AuthenticatedContentTBM (section 6.2): FramedContentTBS then auth; the
 * input of the membership_tag MAC. */
int mls_authenticated_content_encode_tbm(struct aim_buf *w, uint16_t wire_format,
					 const struct mls_framed_content *content,
					 const struct mls_framed_content_auth_data *auth,
					 const struct mls_group_context *ctx) AIM_WARN_UNUSED;
/* ConfirmedTranscriptHashInput (section 8.2): wire_format, content (a
 * commit), signature<V>. */
int mls_confirmed_transcript_hash_input_encode(struct aim_buf *w, uint16_t wire_format,
					       const struct mls_framed_content *content,
					       struct aim_bytes signature) AIM_WARN_UNUSED;
/* InterimTranscriptHashInput (section 8.2): confirmation_tag<V>. */
int mls_interim_transcript_hash_input_encode(struct aim_buf *w,
					     struct aim_bytes confirmation_tag) AIM_WARN_UNUSED;

/* ---- Deep copies (through encode + decode) ------------------------------- */

int mls_leaf_node_copy(struct mls_leaf_node *dst, const struct mls_leaf_node *src)
	AIM_WARN_UNUSED;
int mls_key_package_copy(struct mls_key_package *dst, const struct mls_key_package *src)
	AIM_WARN_UNUSED;
int mls_group_context_copy(struct mls_group_context *dst, const struct mls_group_context *src)
	AIM_WARN_UNUSED;
int mls_extension_list_copy(struct mls_extension_list *dst,
			    const struct mls_extension_list *src) AIM_WARN_UNUSED;
int mls_proposal_copy(struct mls_proposal *dst, const struct mls_proposal *src)
	AIM_WARN_UNUSED;
int mls_ratchet_tree_copy(struct mls_ratchet_tree *dst, const struct mls_ratchet_tree *src)
	AIM_WARN_UNUSED;

#endif
