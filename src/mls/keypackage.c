/* MLS KeyPackages: the credential hook, what the library supports, and
 * KeyPackage generation with its private part (RFC 9420 sections 7.2, 10). */
#include "mls/mls.h"

#include <stdlib.h>
#include <string.h>

#include "mls/codec_int.h"
#include "mls/labeled.h"
#include "mls/tree.h"

/* ---- The credential hook ------------------------------------------------ */

int mls_credential_check(const struct mls_credential_hook *hook, enum mls_credential_role role,
			 const struct mls_credential *cred, struct aim_bytes signature_key)
{
	if (!hook || !hook->fn)
		return 0;
	aim_errclear();
	if (hook->fn(hook->arg, role, cred, signature_key) == 0)
		return 0;
	if (aim_errcode() == AIM_ERR_NONE)
		return aim_fail(AIM_ERR_DENIED, "credential refused by the application");
	return -1;
}

/* ---- What the library supports -------------------------------------------- */

bool mls_supports_suite(uint16_t suite)
{
	return suite >= 1 && suite <= 7;
}

bool mls_is_default_extension(uint16_t type)
{
	return type >= MLS_EXT_APPLICATION_ID && type <= MLS_EXT_EXTERNAL_SENDERS;
}

bool mls_is_default_proposal(uint16_t type)
{
	return type >= MLS_PROPOSAL_ADD && type <= MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
}

bool mls_supports_extension(uint16_t type)
{
	return mls_is_default_extension(type) || type == MLS_EXT_LAST_RESORT;
}

bool mls_supports_proposal(uint16_t type)
{
	return mls_is_default_proposal(type);
}

bool mls_supports_credential(uint16_t type)
{
	return type == MLS_CREDENTIAL_BASIC || type == MLS_CREDENTIAL_X509;
}

bool mls_u16_list_has(const struct mls_u16_list *l, uint16_t v)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == v)
			return true;
	return false;
}

static void u16_list_set(struct mls_u16_list *l, const uint16_t *v, size_t n)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
	if (!n)
		return;
	l->v = aim_xcalloc(n, sizeof *l->v);
	memcpy(l->v, v, n * sizeof *v);
	l->n = n;
}

int mls_capabilities_default(struct mls_capabilities *caps)
{
	static const uint16_t versions[] = { MLS_VERSION_10 };
	static const uint16_t suites[] = { 1, 2, 3, 4, 5, 6, 7 };
	static const uint16_t exts[] = { MLS_EXT_LAST_RESORT };
	static const uint16_t creds[] = { MLS_CREDENTIAL_BASIC, MLS_CREDENTIAL_X509 };
	mls_capabilities_free(caps);
	memset(caps, 0, sizeof *caps);
	u16_list_set(&caps->versions, versions, AIM_ARRAY_LEN(versions));
	u16_list_set(&caps->cipher_suites, suites, AIM_ARRAY_LEN(suites));
	u16_list_set(&caps->extensions, exts, AIM_ARRAY_LEN(exts));
	u16_list_set(&caps->credentials, creds, AIM_ARRAY_LEN(creds));
	return 0;
}

/* ---- The private part -------------------------------------------------------- */

void mls_key_package_priv_free(struct mls_key_package_priv *p)
{
	if (!p)
		return;
	mls_bytes_free_secret(&p->init_priv);
	mls_bytes_free_secret(&p->encryption_priv);
	mls_bytes_free_secret(&p->signature_priv);
	memset(p, 0, sizeof *p);
}

int mls_key_package_priv_copy(struct mls_key_package_priv *dst,
			      const struct mls_key_package_priv *src)
{
	memset(dst, 0, sizeof *dst);
	dst->cipher_suite = src->cipher_suite;
	if (mls_bytes_copy(&dst->init_priv, &src->init_priv) != 0 ||
	    mls_bytes_copy(&dst->encryption_priv, &src->encryption_priv) != 0 ||
	    mls_bytes_copy(&dst->signature_priv, &src->signature_priv) != 0) {
		mls_key_package_priv_free(dst);
		return -1;
	}
	return 0;
}

int mls_key_package_priv_encode(struct aim_buf *w, const struct mls_key_package_priv *p)
{
	TRY(mls_tls_write_u16(w, p->cipher_suite));
	TRY(mls_write_bytes(w, &p->init_priv));
	TRY(mls_write_bytes(w, &p->encryption_priv));
	return mls_write_bytes(w, &p->signature_priv);
}

int mls_key_package_priv_parse(const uint8_t *p, size_t len, struct mls_key_package_priv *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(len <= 4096, AIM_ERR_LIMIT, "KeyPackage private part of %zu bytes", len);
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, p, len);
	int rc = 0;
	TRY_GOTO(mls_tls_read_u16(&r, &out->cipher_suite), fail);
	TRY_GOTO(mls_read_bytes(&r, &out->init_priv), fail);
	TRY_GOTO(mls_read_bytes(&r, &out->encryption_priv), fail);
	TRY_GOTO(mls_read_bytes(&r, &out->signature_priv), fail);
	TRY_GOTO(mls_tls_reader_done(&r), fail);
	const struct aim_suite *cs = aim_suite_get(out->cipher_suite);
	ENSURE_GOTO(cs, fail, AIM_ERR_UNSUPPORTED, "KeyPackage private part: suite %u",
		    out->cipher_suite);
	ENSURE_GOTO(out->init_priv.len == cs->kem_nsk && out->encryption_priv.len == cs->kem_nsk &&
			    out->signature_priv.len == cs->sig_nsk,
		    fail, AIM_ERR_DECODE, "KeyPackage private part: key of the wrong length");
	return 0;
fail:
	mls_key_package_priv_free(out);
	return rc;
}

/* ---- Generation ------------------------------------------------------------ */

int mls_key_package_sign(struct mls_key_package *kp, const struct mls_key_package_priv *priv)
{
	const struct aim_suite *cs = aim_suite_get(kp->cipher_suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "KeyPackage suite %u", kp->cipher_suite);
	struct aim_buf tbs, sig;
	aim_buf_init(&tbs, MLS_MAX_SIGNED);
	aim_buf_init(&sig, AIM_MAX_SIG + 16);
	int rc = 0;
	TRY_GOTO(mls_key_package_encode_tbs(&tbs, kp), out);
	/* "signature: The signature of KeyPackageTBS ... using
	 * SignWithLabel(., "KeyPackageTBS", KeyPackageTBS)" */
	TRY_GOTO(mls_sign_with_label(cs, mls_bytes_view(&priv->signature_priv), "KeyPackageTBS",
				     aim_buf_bytes(&tbs), &sig),
		 out);
	TRY_GOTO(mls_bytes_set(&kp->signature, sig.data, sig.len), out);
out:
	aim_buf_free(&tbs);
	aim_buf_free(&sig);
	return rc;
}

static int add_extension(struct mls_extension_list *l, uint16_t type, const void *p, size_t n)
{
	l->v = aim_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	memset(&l->v[l->n], 0, sizeof l->v[l->n]);
	l->v[l->n].type = type;
	TRY(mls_bytes_set(&l->v[l->n].data, p, n));
	l->n++;
	return 0;
}

static int set_from_buf(struct mls_bytes *b, const struct aim_buf *buf)
{
	return mls_bytes_set(b, buf->data, buf->len);
}

int mls_key_package_create(const struct mls_key_package_params *params,
			   struct mls_key_package *kp, struct mls_key_package_priv *priv)
{
	memset(kp, 0, sizeof *kp);
	memset(priv, 0, sizeof *priv);
	const struct aim_suite *cs = aim_suite_get(params->cipher_suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "KeyPackage suite %u", params->cipher_suite);
	ENSURE(params->credential, AIM_ERR_INVALID, "KeyPackage without a credential");
	ENSURE(mls_supports_credential(params->credential->type), AIM_ERR_UNSUPPORTED,
	       "credential type %u", params->credential->type);
	int rc = 0;
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	struct mls_leaf_node *ln = &kp->leaf_node;

	kp->version = MLS_VERSION_10;
	kp->cipher_suite = cs->id;
	priv->cipher_suite = cs->id;

	/* init key */
	TRY_GOTO(aim_kem_keygen(cs->kem, &sk, &pk), fail);
	TRY_GOTO(set_from_buf(&priv->init_priv, &sk), fail);
	TRY_GOTO(set_from_buf(&kp->init_key, &pk), fail);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	/* leaf encryption key: "The value for init_key MUST be a public key
	 * that is distinct from the encryption_key field" (fresh pairs). */
	TRY_GOTO(aim_kem_keygen(cs->kem, &sk, &pk), fail);
	TRY_GOTO(set_from_buf(&priv->encryption_priv, &sk), fail);
	TRY_GOTO(set_from_buf(&ln->encryption_key, &pk), fail);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	/* signature key */
	if (params->signature_priv.len) {
		ENSURE_GOTO(params->signature_priv.len == cs->sig_nsk, fail, AIM_ERR_INVALID,
			    "signature key of %zu bytes for suite %u", params->signature_priv.len,
			    cs->id);
		TRY_GOTO(aim_buf_append(&sk, params->signature_priv.p, params->signature_priv.len),
			 fail);
		TRY_GOTO(aim_sig_public(cs->sig, params->signature_priv, &pk), fail);
	} else {
		TRY_GOTO(aim_sig_keygen(cs->sig, &sk, &pk), fail);
	}
	TRY_GOTO(set_from_buf(&priv->signature_priv, &sk), fail);
	TRY_GOTO(set_from_buf(&ln->signature_key, &pk), fail);

	/* credential (deep copy through the codec) */
	{
		struct aim_buf cb;
		aim_buf_init(&cb, MLS_MAX_MESSAGE);
		int crc = mls_credential_encode(&cb, params->credential);
		if (crc == 0)
			crc = mls_credential_parse(cb.data, cb.len, &ln->credential);
		aim_buf_free(&cb);
		TRY_GOTO(crc, fail);
	}

	if (params->capabilities) {
		struct aim_buf cb;
		aim_buf_init(&cb, MLS_MAX_MESSAGE);
		int crc = mls_capabilities_encode(&cb, params->capabilities);
		if (crc == 0)
			crc = mls_capabilities_parse(cb.data, cb.len, &ln->capabilities);
		aim_buf_free(&cb);
		TRY_GOTO(crc, fail);
	} else {
		TRY_GOTO(mls_capabilities_default(&ln->capabilities), fail);
	}
	ENSURE_GOTO(mls_u16_list_has(&ln->capabilities.cipher_suites, cs->id), fail,
		    AIM_ERR_INVALID, "capabilities do not list the KeyPackage's suite %u", cs->id);
	ENSURE_GOTO(mls_u16_list_has(&ln->capabilities.credentials, params->credential->type),
		    fail, AIM_ERR_INVALID, "capabilities do not list the credential type %u",
		    params->credential->type);

	ln->source = MLS_LEAF_SOURCE_KEY_PACKAGE;
	if (params->not_before == 0 && params->not_after == 0) {
		uint64_t now = (uint64_t)aim_now();
		ln->lifetime.not_before = now - MLS_KP_DEFAULT_BACKDATE;
		ln->lifetime.not_after = now + MLS_KP_DEFAULT_LIFETIME;
	} else {
		ENSURE_GOTO(params->not_before <= params->not_after, fail, AIM_ERR_INVALID,
			    "lifetime ends before it begins");
		ln->lifetime.not_before = params->not_before;
		ln->lifetime.not_after = params->not_after;
	}
	if (params->leaf_extensions) {
		TRY_GOTO(mls_extension_list_copy(&ln->extensions, params->leaf_extensions), fail);
		for (size_t i = 0; i < ln->extensions.n; i++) {
			uint16_t t = ln->extensions.v[i].type;
			ENSURE_GOTO(mls_u16_list_has(&ln->capabilities.extensions, t), fail,
				    AIM_ERR_INVALID,
				    "leaf extension %u not listed in the capabilities", t);
		}
	}
	TRY_GOTO(mls_leaf_node_sign(cs, ln, AIM_BYTES(NULL, 0), 0,
				    mls_bytes_view(&priv->signature_priv)),
		 fail);

	if (params->extensions)
		TRY_GOTO(mls_extension_list_copy(&kp->extensions, params->extensions), fail);
	if (params->last_resort && !mls_key_package_is_last_resort(kp))
		TRY_GOTO(add_extension(&kp->extensions, MLS_EXT_LAST_RESORT, NULL, 0), fail);
	TRY_GOTO(mls_key_package_sign(kp, priv), fail);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	return 0;
fail:
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	mls_key_package_free(kp);
	mls_key_package_priv_free(priv);
	return rc;
}

int mls_key_package_make_ref(const struct mls_key_package *kp, uint8_t out[AIM_MAX_HASH],
			     size_t *out_len)
{
	const struct aim_suite *cs = aim_suite_get(kp->cipher_suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "KeyPackage suite %u", kp->cipher_suite);
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = mls_key_package_encode(&b, kp);
	if (rc == 0)
		rc = mls_key_package_ref(cs, aim_buf_bytes(&b), out);
	aim_buf_free(&b);
	if (rc == 0 && out_len)
		*out_len = cs->nh;
	return rc;
}

bool mls_key_package_is_last_resort(const struct mls_key_package *kp)
{
	return mls_extension_find(&kp->extensions, MLS_EXT_LAST_RESORT) != NULL;
}

static int check_pub(struct aim_bytes got, const struct mls_bytes *want, const char *what)
{
	ENSURE(aim_ct_equal(got.p, got.len, want->p, want->len), AIM_ERR_VERIFY,
	       "the private %s key does not match the KeyPackage", what);
	return 0;
}

int mls_key_package_priv_check(const struct mls_key_package *kp,
			       const struct mls_key_package_priv *priv)
{
	ENSURE(kp->cipher_suite == priv->cipher_suite, AIM_ERR_VERIFY,
	       "private part of suite %u for a KeyPackage of suite %u", priv->cipher_suite,
	       kp->cipher_suite);
	const struct aim_suite *cs = aim_suite_get(kp->cipher_suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "KeyPackage suite %u", kp->cipher_suite);
	struct aim_buf a, b, c;
	aim_buf_init(&a, 256);
	aim_buf_init(&b, 256);
	aim_buf_init(&c, 256);
	int rc = 0;
	TRY_GOTO(aim_kem_public(cs->kem, mls_bytes_view(&priv->init_priv), &a), out);
	TRY_GOTO(aim_kem_public(cs->kem, mls_bytes_view(&priv->encryption_priv), &b), out);
	TRY_GOTO(aim_sig_public(cs->sig, mls_bytes_view(&priv->signature_priv), &c), out);
	TRY_GOTO(check_pub(aim_buf_bytes(&a), &kp->init_key, "init"), out);
	TRY_GOTO(check_pub(aim_buf_bytes(&b), &kp->leaf_node.encryption_key, "encryption"), out);
	TRY_GOTO(check_pub(aim_buf_bytes(&c), &kp->leaf_node.signature_key, "signature"), out);
out:
	aim_buf_free(&a);
	aim_buf_free(&b);
	aim_buf_free(&c);
	return rc;
}
