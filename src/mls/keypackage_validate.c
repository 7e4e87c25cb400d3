/* MLS LeafNode and KeyPackage validation (RFC 9420 sections 7.3, 10.1),
 * RequiredCapabilities (11.1) and ExternalSenders (12.1.8.1). */
#include "mls/mls.h"

#include <stdlib.h>
#include <string.h>

#include "mls/codec_int.h"
#include "mls/labeled.h"
#include "mls/tree.h"

/* ---- Small codecs --------------------------------------------------------- */

static int read_u16s(struct mls_tls_reader *r, struct mls_u16_list *l)
{
	struct aim_bytes v;
	l->v = NULL;
	l->n = 0;
	TRY(mls_tls_read_vec(r, &v));
	ENSURE(v.len % 2 == 0, AIM_ERR_DECODE, "uint16 vector of odd length %zu", v.len);
	ENSURE(v.len / 2 <= MLS_MAX_LIST, AIM_ERR_LIMIT, "uint16 vector too long");
	if (!v.len)
		return 0;
	l->n = v.len / 2;
	l->v = aim_xcalloc(l->n, sizeof *l->v);
	for (size_t i = 0; i < l->n; i++)
		l->v[i] = (uint16_t)(v.p[2 * i] << 8 | v.p[2 * i + 1]);
	return 0;
}

static int write_u16s(struct aim_buf *w, const struct mls_u16_list *l)
{
	size_t mark = mls_tls_vec_begin(w);
	for (size_t i = 0; i < l->n; i++)
		TRY(mls_tls_write_u16(w, l->v[i]));
	return mls_tls_vec_end(w, mark);
}

static void free_u16s(struct mls_u16_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int mls_required_capabilities_parse(const uint8_t *p, size_t len,
				    struct mls_required_capabilities *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(len <= MLS_MAX_MESSAGE, AIM_ERR_LIMIT, "required_capabilities of %zu bytes", len);
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, p, len);
	if (read_u16s(&r, &out->extension_types) != 0 || read_u16s(&r, &out->proposal_types) != 0 ||
	    read_u16s(&r, &out->credential_types) != 0 || mls_tls_reader_done(&r) != 0) {
		mls_required_capabilities_free(out);
		return -1;
	}
	return 0;
}

int mls_required_capabilities_encode(struct aim_buf *w,
				     const struct mls_required_capabilities *rc)
{
	TRY(write_u16s(w, &rc->extension_types));
	TRY(write_u16s(w, &rc->proposal_types));
	return write_u16s(w, &rc->credential_types);
}

void mls_required_capabilities_free(struct mls_required_capabilities *rc)
{
	if (!rc)
		return;
	free_u16s(&rc->extension_types);
	free_u16s(&rc->proposal_types);
	free_u16s(&rc->credential_types);
}

bool mls_capabilities_meet(const struct mls_capabilities *caps,
			   const struct mls_required_capabilities *rc)
{
	/* "The 'default' proposal and extension types defined in this document
	 * are assumed to be implemented by all clients ... Note that this is
	 * not true for credential types." */
	for (size_t i = 0; i < rc->extension_types.n; i++) {
		uint16_t t = rc->extension_types.v[i];
		if (!mls_is_default_extension(t) && !mls_u16_list_has(&caps->extensions, t))
			return false;
	}
	for (size_t i = 0; i < rc->proposal_types.n; i++) {
		uint16_t t = rc->proposal_types.v[i];
		if (!mls_is_default_proposal(t) && !mls_u16_list_has(&caps->proposals, t))
			return false;
	}
	for (size_t i = 0; i < rc->credential_types.n; i++)
		if (!mls_u16_list_has(&caps->credentials, rc->credential_types.v[i]))
			return false;
	return true;
}

static int external_sender_decode(struct mls_tls_reader *r, void *x)
{
	struct mls_external_sender *es = x;
	memset(es, 0, sizeof *es);
	if (mls_read_bytes(r, &es->signature_key) != 0 ||
	    mls_credential_decode(r, &es->credential) != 0) {
		mls_bytes_free(&es->signature_key);
		return -1;
	}
	return 0;
}

static int external_sender_encode(struct aim_buf *w, const void *x)
{
	const struct mls_external_sender *es = x;
	TRY(mls_write_bytes(w, &es->signature_key));
	return mls_credential_encode(w, &es->credential);
}

static void external_sender_free(void *x)
{
	struct mls_external_sender *es = x;
	mls_bytes_free(&es->signature_key);
	mls_credential_free(&es->credential);
}

int mls_external_senders_parse(const uint8_t *p, size_t len, struct mls_external_senders *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(len <= MLS_MAX_MESSAGE, AIM_ERR_LIMIT, "external_senders of %zu bytes", len);
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, p, len);
	void *arr;
	TRY(mls_read_struct_vec(&r, sizeof(struct mls_external_sender), MLS_MAX_LIST,
				external_sender_decode, external_sender_free, &arr, &out->n));
	out->v = arr;
	if (mls_tls_reader_done(&r) != 0) {
		mls_external_senders_free(out);
		return -1;
	}
	return 0;
}

int mls_external_senders_encode(struct aim_buf *w, const struct mls_external_senders *es)
{
	return mls_write_struct_vec(w, es->v, sizeof(struct mls_external_sender), es->n,
				    external_sender_encode);
}

void mls_external_senders_free(struct mls_external_senders *es)
{
	if (!es)
		return;
	mls_free_struct_vec(es->v, sizeof(struct mls_external_sender), es->n,
			    external_sender_free);
	es->v = NULL;
	es->n = 0;
}

/* ---- LeafNode validation (section 7.3) ------------------------------------ */

static bool skipped(const struct mls_leaf_check *chk, uint32_t leaf)
{
	for (size_t i = 0; i < chk->n_skip; i++)
		if (chk->skip[i] == leaf)
			return true;
	return false;
}

static int check_required(const struct mls_leaf_node *leaf,
			  const struct mls_extension_list *group_ext)
{
	if (!group_ext)
		return 0;
	const struct mls_extension *e = mls_extension_find(group_ext, MLS_EXT_REQUIRED_CAPABILITIES);
	if (!e)
		return 0;
	struct mls_required_capabilities rc;
	TRY(mls_required_capabilities_parse(e->data.p, e->data.len, &rc));
	bool ok = mls_capabilities_meet(&leaf->capabilities, &rc);
	mls_required_capabilities_free(&rc);
	/* "If the GroupContext has a required_capabilities extension, then the
	 * required extensions, proposals, and credential types MUST be listed
	 * in the LeafNode's capabilities field." */
	ENSURE(ok, AIM_ERR_UNSUPPORTED, "leaf lacks a capability the group requires");
	return 0;
}

static int check_against_tree(const struct mls_leaf_node *leaf, const struct mls_leaf_check *chk)
{
	const struct mls_tree *t = chk->tree;
	if (!t)
		return 0;
	for (uint32_t l = 0; l < t->n_leaves; l++) {
		const struct mls_leaf_node *o = mls_tree_leaf(t, l);
		if (!o || skipped(chk, l))
			continue;
		/* "Verify that the credential type is supported by all members
		 * of the group ... and that the capabilities field of this
		 * LeafNode indicates support for all the credential types
		 * currently in use by other members." */
		ENSURE(mls_u16_list_has(&o->capabilities.credentials, leaf->credential.type),
		       AIM_ERR_UNSUPPORTED, "credential type %u not supported by leaf %u",
		       leaf->credential.type, l);
		ENSURE(mls_u16_list_has(&leaf->capabilities.credentials, o->credential.type),
		       AIM_ERR_UNSUPPORTED, "leaf does not support credential type %u of leaf %u",
		       o->credential.type, l);
		/* "Verify that the following fields are unique among the members
		 * of the group: signature_key, encryption_key" */
		ENSURE(!mls_bytes_equal(&o->signature_key, &leaf->signature_key), AIM_ERR_EXISTS,
		       "signature key already used by leaf %u", l);
	}
	/* Encryption keys: unique across every node but the skipped leaves
	 * (an Update's "different public key than the encryption_key in the
	 * leaf node being replaced" is checked by the proposal code). */
	uint32_t w = mls_tree_width(t);
	for (uint32_t x = 0; x < w; x++) {
		if (mls_tm_is_leaf(x) && skipped(chk, mls_tm_node_to_leaf(x)))
			continue;
		const struct mls_bytes *k = mls_tree_node_key(t, x);
		ENSURE(!k || !mls_bytes_equal(k, &leaf->encryption_key), AIM_ERR_EXISTS,
		       "encryption key already used by node %u", x);
	}
	return 0;
}

int mls_leaf_node_validate(const struct mls_leaf_node *leaf, const struct mls_leaf_check *chk)
{
	const struct aim_suite *cs = chk->cs;
	ENSURE(cs, AIM_ERR_INVALID, "leaf check without a suite");
	ENSURE(leaf->encryption_key.len == cs->kem_npk, AIM_ERR_INVALID,
	       "leaf encryption key of %zu bytes", leaf->encryption_key.len);
	ENSURE(leaf->signature_key.len == cs->sig_npk, AIM_ERR_INVALID,
	       "leaf signature key of %zu bytes", leaf->signature_key.len);
	/* "Verify the leaf_node_source field" */
	ENSURE(!chk->source || leaf->source == chk->source, AIM_ERR_INVALID,
	       "leaf_node_source %u where %u is expected", leaf->source, chk->source);
	ENSURE(mls_supports_credential(leaf->credential.type), AIM_ERR_UNSUPPORTED,
	       "credential type %u", leaf->credential.type);
	/* "Verify that the credential in the LeafNode is valid" */
	TRY(mls_credential_check(chk->hook, chk->role, &leaf->credential,
				 mls_bytes_view(&leaf->signature_key)));
	/* "Verify that the signature on the LeafNode is valid using
	 * signature_key." */
	if (!chk->signature_checked &&
	    mls_leaf_node_verify_signature(cs, leaf, chk->group_id, chk->leaf_index) != 0)
		return aim_fail(AIM_ERR_VERIFY, "LeafNode signature does not verify");
	TRY(check_required(leaf, chk->group_extensions));
	/* "it is RECOMMENDED that the client verifies that the current time is
	 * within the range of the lifetime field" */
	if (chk->now && leaf->source == MLS_LEAF_SOURCE_KEY_PACKAGE)
		ENSURE(leaf->lifetime.not_before <= chk->now && chk->now <= leaf->lifetime.not_after,
		       AIM_ERR_GONE, "leaf lifetime %llu..%llu does not cover now (%llu)",
		       (unsigned long long)leaf->lifetime.not_before,
		       (unsigned long long)leaf->lifetime.not_after, (unsigned long long)chk->now);
	/* "Verify that the extensions in the LeafNode are supported by checking
	 * that the ID for each extension in the extensions field is listed in
	 * the capabilities.extensions field of the LeafNode." (default types
	 * need not be listed, section 7.2) */
	for (size_t i = 0; i < leaf->extensions.n; i++) {
		uint16_t t = leaf->extensions.v[i].type;
		ENSURE(mls_is_default_extension(t) ||
			       mls_u16_list_has(&leaf->capabilities.extensions, t),
		       AIM_ERR_UNSUPPORTED, "leaf extension %u not in its capabilities", t);
	}
	return check_against_tree(leaf, chk);
}

/* ---- KeyPackage validation (section 10.1) ---------------------------------- */

int mls_key_package_validate(const struct mls_key_package *kp, const struct mls_leaf_check *chk)
{
	const struct aim_suite *cs = chk->cs;
	ENSURE(cs, AIM_ERR_INVALID, "KeyPackage check without a suite");
	/* "Verify that the cipher suite and protocol version of the KeyPackage
	 * match those in the GroupContext." */
	ENSURE(kp->version == MLS_VERSION_10, AIM_ERR_UNSUPPORTED, "KeyPackage version %u",
	       kp->version);
	ENSURE(kp->cipher_suite == cs->id, AIM_ERR_UNSUPPORTED,
	       "KeyPackage of suite %u for a group of suite %u", kp->cipher_suite, cs->id);
	ENSURE(kp->init_key.len == cs->kem_npk, AIM_ERR_INVALID, "init_key of %zu bytes",
	       kp->init_key.len);
	/* "Verify that the value of leaf_node.encryption_key is different from
	 * the value of the init_key field." */
	ENSURE(!mls_bytes_equal(&kp->init_key, &kp->leaf_node.encryption_key), AIM_ERR_INVALID,
	       "KeyPackage encryption_key equals init_key");
	ENSURE(kp->leaf_node.signature_key.len == cs->sig_npk, AIM_ERR_INVALID,
	       "leaf signature key of %zu bytes", kp->leaf_node.signature_key.len);
	/* "Verify that the signature on the KeyPackage is valid using the
	 * public key in leaf_node.credential." */
	struct aim_buf tbs;
	aim_buf_init(&tbs, MLS_MAX_SIGNED);
	int rc = mls_key_package_encode_tbs(&tbs, kp);
	if (rc == 0 && mls_verify_with_label(cs, mls_bytes_view(&kp->leaf_node.signature_key),
					     "KeyPackageTBS", aim_buf_bytes(&tbs),
					     mls_bytes_view(&kp->signature)) != 0)
		rc = aim_fail(AIM_ERR_VERIFY, "KeyPackage signature does not verify");
	aim_buf_free(&tbs);
	TRY(rc);
	/* "Verify that the leaf_node of the KeyPackage is valid for a
	 * KeyPackage according to Section 7.3." */
	struct mls_leaf_check lc = *chk;
	lc.source = MLS_LEAF_SOURCE_KEY_PACKAGE;
	lc.role = MLS_CRED_JOINER;
	lc.group_id = AIM_BYTES(NULL, 0);
	lc.leaf_index = 0;
	lc.signature_checked = false;
	TRY(mls_leaf_node_validate(&kp->leaf_node, &lc));
	/* The init key must not be a key of the group either. */
	if (chk->tree) {
		uint32_t w = mls_tree_width(chk->tree);
		for (uint32_t x = 0; x < w; x++) {
			const struct mls_bytes *k = mls_tree_node_key(chk->tree, x);
			ENSURE(!k || !mls_bytes_equal(k, &kp->init_key), AIM_ERR_EXISTS,
			       "init_key already used by node %u", x);
		}
	}
	return 0;
}

int mls_key_package_validate_standalone(const struct mls_key_package *kp,
					const struct mls_credential_hook *hook, uint64_t now)
{
	ENSURE(mls_supports_suite(kp->cipher_suite), AIM_ERR_UNSUPPORTED,
	       "KeyPackage suite %u", kp->cipher_suite);
	const struct aim_suite *cs = aim_suite_get(kp->cipher_suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "KeyPackage suite %u", kp->cipher_suite);
	struct mls_leaf_check chk = {
		.cs = cs,
		.hook = hook,
		.now = now,
	};
	return mls_key_package_validate(kp, &chk);
}
