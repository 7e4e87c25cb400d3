/* Unit tests of KeyPackage generation and validation (RFC 9420 sections
 * 7.3, 10.1; threats.md C42), the credential hook and the small extension
 * codecs. Every bad KeyPackage is built with the library itself and
 * re-signed, so that only the rule under test fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "mls/labeled.h"
#include "mls/mls.h"
#include "mls/tree.h"

/* ---- Helpers ---------------------------------------------------------- */

struct kp {
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
};

static void basic_cred(struct mls_credential *c, const char *name)
{
	memset(c, 0, sizeof *c);
	c->type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&c->identity, name, strlen(name)), 0);
}

static void kp_new(struct kp *k, uint16_t suite, const char *name)
{
	struct mls_credential cred;
	basic_cred(&cred, name);
	struct mls_key_package_params p = {
		.cipher_suite = suite,
		.credential = &cred,
	};
	assert_int_equal(mls_key_package_create(&p, &k->kp, &k->priv), 0);
	mls_credential_free(&cred);
}

static void kp_free(struct kp *k)
{
	mls_key_package_free(&k->kp);
	mls_key_package_priv_free(&k->priv);
}

/* Re-signs the leaf node (as a key_package leaf) and the KeyPackage. */
static void kp_resign(struct kp *k)
{
	const struct aim_suite *cs = aim_suite_get(k->priv.cipher_suite);
	assert_non_null(cs);
	assert_int_equal(mls_leaf_node_sign(cs, &k->kp.leaf_node, AIM_BYTES(NULL, 0), 0,
					    mls_bytes_view(&k->priv.signature_priv)),
			 0);
	assert_int_equal(mls_key_package_sign(&k->kp, &k->priv), 0);
}

static struct mls_leaf_check check_for(const struct aim_suite *cs)
{
	struct mls_leaf_check chk = { .cs = cs, .now = (uint64_t)aim_now() };
	return chk;
}

static void expect_kp_refused(const struct kp *k, const struct mls_leaf_check *chk,
			      enum aim_err code)
{
	aim_errclear();
	assert_int_equal(mls_key_package_validate(&k->kp, chk), -1);
	if (aim_errcode() != code)
		fprintf(stderr, "expected %s, got %s: %s\n", aim_errname(code),
			aim_errname(aim_errcode()), aim_errmsg());
	assert_int_equal(aim_errcode(), code);
}

/* ---- Generation ---------------------------------------------------------- */

static void roundtrip_suite(uint16_t suite)
{
	const struct aim_suite *cs = aim_suite_get(suite);
	struct kp k;
	kp_new(&k, suite, "alice");
	struct mls_leaf_check chk = check_for(cs);
	assert_int_equal(mls_key_package_validate(&k.kp, &chk), 0);
	assert_int_equal(mls_key_package_validate_standalone(&k.kp, NULL, (uint64_t)aim_now()), 0);
	assert_int_equal(mls_key_package_priv_check(&k.kp, &k.priv), 0);
	assert_false(mls_key_package_is_last_resort(&k.kp));
	assert_int_equal(k.kp.leaf_node.source, MLS_LEAF_SOURCE_KEY_PACKAGE);
	assert_true(mls_u16_list_has(&k.kp.leaf_node.capabilities.cipher_suites, suite));
	assert_true(mls_u16_list_has(&k.kp.leaf_node.capabilities.credentials,
				     MLS_CREDENTIAL_X509));

	/* Over the wire and back, byte for byte; the ref is Nh bytes and
	 * stable. */
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	assert_int_equal(mls_key_package_encode(&w, &k.kp), 0);
	struct mls_key_package back;
	assert_int_equal(mls_key_package_parse(w.data, w.len, &back), 0);
	assert_int_equal(mls_key_package_validate(&back, &chk), 0);
	uint8_t r1[AIM_MAX_HASH], r2[AIM_MAX_HASH], r3[AIM_MAX_HASH];
	size_t n1, n2;
	assert_int_equal(mls_key_package_make_ref(&k.kp, r1, &n1), 0);
	assert_int_equal(mls_key_package_make_ref(&back, r2, &n2), 0);
	assert_int_equal(n1, cs->nh);
	assert_memory_equal(r1, r2, n1);
	assert_int_equal(mls_key_package_ref(cs, aim_buf_bytes(&w), r3), 0);
	assert_memory_equal(r1, r3, n1);
	mls_key_package_free(&back);

	/* The private part too. */
	aim_buf_reset(&w);
	assert_int_equal(mls_key_package_priv_encode(&w, &k.priv), 0);
	struct mls_key_package_priv pb;
	assert_int_equal(mls_key_package_priv_parse(w.data, w.len, &pb), 0);
	assert_int_equal(mls_key_package_priv_check(&k.kp, &pb), 0);
	mls_key_package_priv_free(&pb);
	/* Truncated or padded: refused. */
	assert_int_equal(mls_key_package_priv_parse(w.data, w.len - 1, &pb), -1);
	assert_int_equal(aim_buf_append_byte(&w, 0), 0);
	assert_int_equal(mls_key_package_priv_parse(w.data, w.len, &pb), -1);
	aim_buf_free_secret(&w);
	kp_free(&k);
}

static void test_create_suite1(void **state)
{
	(void)state;
	roundtrip_suite(1);
}

static void test_create_suite2(void **state)
{
	(void)state;
	roundtrip_suite(2);
}

static void test_create_suite3(void **state)
{
	(void)state;
	roundtrip_suite(3);
}

static void test_create_other_suites(void **state)
{
	(void)state;
	for (uint16_t s = 4; s <= 7; s++)
		roundtrip_suite(s);
}

static void test_create_params(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_credential cred;
	basic_cred(&cred, "bob");
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	assert_int_equal(aim_sig_keygen(cs->sig, &sk, &pk), 0);
	struct mls_extension_list kpext = { 0 };
	struct mls_key_package_params p = {
		.cipher_suite = 1,
		.credential = &cred,
		.signature_priv = aim_buf_bytes(&sk),
		.not_before = 1000,
		.not_after = 2000,
		.extensions = &kpext,
		.last_resort = true,
	};
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	assert_int_equal(mls_key_package_create(&p, &kp, &priv), 0);
	assert_true(mls_key_package_is_last_resort(&kp));
	assert_true(aim_ct_equal(kp.leaf_node.signature_key.p, kp.leaf_node.signature_key.len,
				 pk.data, pk.len));
	assert_int_equal(kp.leaf_node.lifetime.not_before, 1000);
	assert_int_equal(kp.leaf_node.lifetime.not_after, 2000);
	assert_int_equal(mls_key_package_validate_standalone(&kp, NULL, 1500), 0);
	/* threats.md C42: expired / not yet valid */
	assert_int_equal(mls_key_package_validate_standalone(&kp, NULL, 2001), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_GONE);
	assert_int_equal(mls_key_package_validate_standalone(&kp, NULL, 999), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_GONE);
	/* 0 means "not checked" */
	assert_int_equal(mls_key_package_validate_standalone(&kp, NULL, 0), 0);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);

	/* A leaf extension missing from the capabilities is refused at
	 * creation; a wrong-size signature key too; an unknown suite too. */
	struct mls_extension_list lext = { 0 };
	lext.v = calloc(1, sizeof *lext.v);
	lext.n = 1;
	lext.v[0].type = 0xff01;
	p.leaf_extensions = &lext;
	assert_int_equal(mls_key_package_create(&p, &kp, &priv), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	p.leaf_extensions = NULL;
	p.signature_priv = AIM_BYTES(sk.data, sk.len - 1);
	assert_int_equal(mls_key_package_create(&p, &kp, &priv), -1);
	p.signature_priv = aim_buf_bytes(&sk);
	p.cipher_suite = 0x0a0a;
	assert_int_equal(mls_key_package_create(&p, &kp, &priv), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	mls_extension_list_free(&lext);
	mls_credential_free(&cred);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
}

/* ---- Refusals (threats.md C42) ------------------------------------------------- */

static void test_refuse_signature(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_leaf_check chk = check_for(cs);
	struct kp k;
	kp_new(&k, 1, "alice");
	/* a flipped bit in the KeyPackage signature */
	k.kp.signature.p[5] ^= 1;
	expect_kp_refused(&k, &chk, AIM_ERR_VERIFY);
	k.kp.signature.p[5] ^= 1;
	/* a changed field that the signature covers */
	k.kp.init_key.p[3] ^= 1;
	expect_kp_refused(&k, &chk, AIM_ERR_VERIFY);
	k.kp.init_key.p[3] ^= 1;
	assert_int_equal(mls_key_package_validate(&k.kp, &chk), 0);
	/* a bad LeafNode signature under a good KeyPackage signature */
	k.kp.leaf_node.signature.p[2] ^= 1;
	assert_int_equal(mls_key_package_sign(&k.kp, &k.priv), 0);
	expect_kp_refused(&k, &chk, AIM_ERR_VERIFY);
	/* signed by another key */
	struct kp o;
	kp_new(&o, 1, "mallory");
	kp_resign(&k);
	assert_int_equal(mls_key_package_sign(&k.kp, &o.priv), 0);
	expect_kp_refused(&k, &chk, AIM_ERR_VERIFY);
	kp_free(&o);
	kp_free(&k);
}

static void test_refuse_version_suite(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_leaf_check chk = check_for(cs);
	struct kp k;
	kp_new(&k, 1, "alice");
	k.kp.version = 2;
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_UNSUPPORTED);
	k.kp.version = MLS_VERSION_10;
	kp_resign(&k);
	assert_int_equal(mls_key_package_validate(&k.kp, &chk), 0);
	/* a KeyPackage of suite 1 for a group of suite 3 */
	struct mls_leaf_check chk3 = check_for(aim_suite_get(3));
	expect_kp_refused(&k, &chk3, AIM_ERR_UNSUPPORTED);
	/* a GREASE / unknown suite at upload */
	k.kp.cipher_suite = 0x1a1a;
	assert_int_equal(mls_key_package_validate_standalone(&k.kp, NULL, 0), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	kp_free(&k);
}

static void test_refuse_init_key(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_leaf_check chk = check_for(cs);
	struct kp k;
	kp_new(&k, 1, "alice");
	/* "Verify that the value of leaf_node.encryption_key is different from
	 * the value of the init_key field." */
	assert_int_equal(mls_bytes_copy(&k.kp.init_key, &k.kp.leaf_node.encryption_key), 0);
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_INVALID);
	/* an init key of the wrong size */
	assert_int_equal(mls_bytes_set(&k.kp.init_key, "short", 5), 0);
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_INVALID);
	kp_free(&k);
}

static void test_refuse_leaf_source(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_leaf_check chk = check_for(cs);
	struct kp k;
	kp_new(&k, 1, "alice");
	/* an update-source leaf, validly signed for a group, in a KeyPackage */
	k.kp.leaf_node.source = MLS_LEAF_SOURCE_UPDATE;
	assert_int_equal(mls_leaf_node_sign(cs, &k.kp.leaf_node, AIM_BYTES("g", 1), 0,
					    mls_bytes_view(&k.priv.signature_priv)),
			 0);
	assert_int_equal(mls_key_package_sign(&k.kp, &k.priv), 0);
	expect_kp_refused(&k, &chk, AIM_ERR_INVALID);
	/* and directly: a key_package leaf where a commit leaf is expected */
	struct kp j;
	kp_new(&j, 1, "bob");
	struct mls_leaf_check lc = check_for(cs);
	lc.source = MLS_LEAF_SOURCE_COMMIT;
	assert_int_equal(mls_leaf_node_validate(&j.kp.leaf_node, &lc), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	kp_free(&j);
	kp_free(&k);
}

static void test_refuse_lifetime(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_leaf_check chk = check_for(cs);
	struct kp k;
	kp_new(&k, 1, "alice");
	k.kp.leaf_node.lifetime.not_after = chk.now - 10;
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_GONE);
	k.kp.leaf_node.lifetime.not_after = chk.now + 1000;
	k.kp.leaf_node.lifetime.not_before = chk.now + 500;
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_GONE);
	chk.now = 0;
	assert_int_equal(mls_key_package_validate(&k.kp, &chk), 0);
	kp_free(&k);
}

static void test_refuse_credential(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_leaf_check chk = check_for(cs);
	struct kp k;
	kp_new(&k, 1, "alice");
	/* a credential type the library does not carry */
	k.kp.leaf_node.credential.type = 0x00f0;
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_UNSUPPORTED);
	kp_free(&k);
}

static int hook_calls;
static enum mls_credential_role hook_role;

static int refuse_mallory(void *arg, enum mls_credential_role role,
			  const struct mls_credential *cred, struct aim_bytes sig_key)
{
	(void)arg;
	hook_calls++;
	hook_role = role;
	assert_int_equal(sig_key.len, 32);
	if (cred->identity.len == 7 && memcmp(cred->identity.p, "mallory", 7) == 0)
		return -1; /* no reason given: reported as DENIED */
	if (cred->identity.len == 3 && memcmp(cred->identity.p, "eve", 3) == 0)
		return aim_fail(AIM_ERR_AUTH, "eve has no certificate");
	return 0;
}

static void test_credential_hook(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct mls_credential_hook hook = { .fn = refuse_mallory };
	struct mls_leaf_check chk = check_for(cs);
	chk.hook = &hook;
	struct kp a, m, e;
	kp_new(&a, 1, "alice");
	kp_new(&m, 1, "mallory");
	kp_new(&e, 1, "eve");
	hook_calls = 0;
	assert_int_equal(mls_key_package_validate(&a.kp, &chk), 0);
	assert_int_equal(hook_calls, 1);
	assert_int_equal(hook_role, MLS_CRED_JOINER);
	expect_kp_refused(&m, &chk, AIM_ERR_DENIED);
	expect_kp_refused(&e, &chk, AIM_ERR_AUTH);
	assert_int_equal(mls_key_package_validate_standalone(&m.kp, &hook, 0), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	/* No hook: everything accepted (tests and vectors only). */
	assert_int_equal(mls_key_package_validate_standalone(&m.kp, NULL, 0), 0);
	kp_free(&a);
	kp_free(&m);
	kp_free(&e);
}

/* A one-member tree of alice, and KeyPackages that clash with it. */
static void test_refuse_duplicate_keys(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct kp a, b;
	kp_new(&a, 1, "alice");
	kp_new(&b, 1, "bob");
	struct mls_tree t;
	assert_int_equal(mls_tree_create(&t, cs, &a.kp.leaf_node), 0);
	struct mls_leaf_check chk = check_for(cs);
	chk.tree = &t;
	assert_int_equal(mls_key_package_validate(&b.kp, &chk), 0);

	/* bob reuses alice's signature key (and so her signing key) */
	struct kp c;
	struct mls_credential cred;
	basic_cred(&cred, "carol");
	struct mls_key_package_params p = {
		.cipher_suite = 1,
		.credential = &cred,
		.signature_priv = mls_bytes_view(&a.priv.signature_priv),
	};
	assert_int_equal(mls_key_package_create(&p, &c.kp, &c.priv), 0);
	expect_kp_refused(&c, &chk, AIM_ERR_EXISTS);
	/* ... unless alice's leaf is being removed in the same commit */
	uint32_t skip = 0;
	chk.skip = &skip;
	chk.n_skip = 1;
	assert_int_equal(mls_key_package_validate(&c.kp, &chk), 0);
	chk.skip = NULL;
	chk.n_skip = 0;
	kp_free(&c);

	/* bob's encryption key is alice's */
	assert_int_equal(mls_bytes_copy(&b.kp.leaf_node.encryption_key,
					&a.kp.leaf_node.encryption_key),
			 0);
	kp_resign(&b);
	expect_kp_refused(&b, &chk, AIM_ERR_EXISTS);
	/* bob's init key is a key of the tree */
	kp_free(&b);
	kp_new(&b, 1, "bob");
	assert_int_equal(mls_bytes_copy(&b.kp.init_key, &a.kp.leaf_node.encryption_key), 0);
	kp_resign(&b);
	expect_kp_refused(&b, &chk, AIM_ERR_EXISTS);

	mls_credential_free(&cred);
	mls_tree_free(&t);
	kp_free(&a);
	kp_free(&b);
}

static void set_list(struct mls_u16_list *l, const uint16_t *v, size_t n)
{
	free(l->v);
	l->v = n ? calloc(n, sizeof *v) : NULL;
	if (n)
		memcpy(l->v, v, n * sizeof *v);
	l->n = n;
}

static void test_refuse_capabilities(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct kp a, b;
	kp_new(&a, 1, "alice");
	kp_new(&b, 1, "bob");

	/* The group requires extension 0xff00 and proposal 0xff01. */
	struct mls_required_capabilities rc = { 0 };
	uint16_t ext = 0xff00, prop = 0xff01, cred = MLS_CREDENTIAL_BASIC;
	set_list(&rc.extension_types, &ext, 1);
	set_list(&rc.proposal_types, &prop, 1);
	set_list(&rc.credential_types, &cred, 1);
	struct aim_buf w;
	aim_buf_init(&w, 4096);
	assert_int_equal(mls_required_capabilities_encode(&w, &rc), 0);
	struct mls_required_capabilities back;
	assert_int_equal(mls_required_capabilities_parse(w.data, w.len, &back), 0);
	assert_int_equal(back.extension_types.n, 1);
	assert_int_equal(back.extension_types.v[0], 0xff00);
	assert_int_equal(back.proposal_types.v[0], 0xff01);
	mls_required_capabilities_free(&back);
	assert_int_equal(mls_required_capabilities_parse(w.data, w.len - 1, &back), -1);

	struct mls_extension_list gext = { 0 };
	gext.v = calloc(1, sizeof *gext.v);
	gext.n = 1;
	gext.v[0].type = MLS_EXT_REQUIRED_CAPABILITIES;
	assert_int_equal(mls_bytes_set(&gext.v[0].data, w.data, w.len), 0);
	struct mls_leaf_check chk = check_for(cs);
	chk.group_extensions = &gext;
	expect_kp_refused(&b, &chk, AIM_ERR_UNSUPPORTED);
	/* with both listed it passes */
	uint16_t exts[] = { MLS_EXT_LAST_RESORT, 0xff00 };
	set_list(&b.kp.leaf_node.capabilities.extensions, exts, 2);
	set_list(&b.kp.leaf_node.capabilities.proposals, &prop, 1);
	kp_resign(&b);
	assert_int_equal(mls_key_package_validate(&b.kp, &chk), 0);
	/* default types need not be listed; credentials must be */
	assert_true(mls_capabilities_meet(&b.kp.leaf_node.capabilities, &rc));
	uint16_t x509 = MLS_CREDENTIAL_X509;
	set_list(&rc.credential_types, &x509, 1);
	set_list(&b.kp.leaf_node.capabilities.credentials, &cred, 1);
	assert_false(mls_capabilities_meet(&b.kp.leaf_node.capabilities, &rc));

	/* A LeafNode extension its own capabilities do not list. */
	chk.group_extensions = NULL;
	b.kp.leaf_node.extensions.v = calloc(1, sizeof *b.kp.leaf_node.extensions.v);
	b.kp.leaf_node.extensions.n = 1;
	b.kp.leaf_node.extensions.v[0].type = 0xff02;
	kp_resign(&b);
	expect_kp_refused(&b, &chk, AIM_ERR_UNSUPPORTED);
	mls_extension_list_free(&b.kp.leaf_node.extensions);

	/* Credential types across the group: alice supports only basic; bob
	 * arrives with x509. */
	set_list(&a.kp.leaf_node.capabilities.credentials, &cred, 1);
	kp_resign(&a);
	struct mls_tree t;
	assert_int_equal(mls_tree_create(&t, cs, &a.kp.leaf_node), 0);
	chk.tree = &t;
	set_list(&b.kp.leaf_node.capabilities.credentials, &cred, 1);
	kp_resign(&b);
	assert_int_equal(mls_key_package_validate(&b.kp, &chk), 0);
	mls_credential_free(&b.kp.leaf_node.credential);
	b.kp.leaf_node.credential.type = MLS_CREDENTIAL_X509;
	b.kp.leaf_node.credential.certs = calloc(1, sizeof(struct mls_bytes));
	b.kp.leaf_node.credential.n_certs = 1;
	assert_int_equal(mls_bytes_set(&b.kp.leaf_node.credential.certs[0], "DER", 3), 0);
	uint16_t both[] = { MLS_CREDENTIAL_BASIC, MLS_CREDENTIAL_X509 };
	set_list(&b.kp.leaf_node.capabilities.credentials, both, 2);
	kp_resign(&b);
	expect_kp_refused(&b, &chk, AIM_ERR_UNSUPPORTED);
	/* and the other way: bob (basic) does not support alice's type */
	assert_int_equal(mls_key_package_validate_standalone(&b.kp, NULL, 0), 0);

	mls_tree_free(&t);
	mls_extension_list_free(&gext);
	mls_required_capabilities_free(&rc);
	aim_buf_free(&w);
	kp_free(&a);
	kp_free(&b);
}

static void test_priv_mismatch(void **state)
{
	(void)state;
	struct kp a, b;
	kp_new(&a, 1, "alice");
	kp_new(&b, 1, "bob");
	assert_int_equal(mls_key_package_priv_check(&a.kp, &b.priv), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	struct mls_key_package_priv p;
	assert_int_equal(mls_key_package_priv_copy(&p, &a.priv), 0);
	mls_bytes_free_secret(&p.signature_priv);
	assert_int_equal(mls_bytes_copy(&p.signature_priv, &b.priv.signature_priv), 0);
	assert_int_equal(mls_key_package_priv_check(&a.kp, &p), -1);
	p.cipher_suite = 2;
	assert_int_equal(mls_key_package_priv_check(&a.kp, &p), -1);
	/* a private part with a key of the wrong length */
	struct aim_buf w;
	aim_buf_init(&w, 4096);
	p.cipher_suite = 1;
	assert_int_equal(mls_bytes_set(&p.init_priv, "x", 1), 0);
	assert_int_equal(mls_key_package_priv_encode(&w, &p), 0);
	struct mls_key_package_priv q;
	assert_int_equal(mls_key_package_priv_parse(w.data, w.len, &q), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
	aim_buf_free_secret(&w);
	mls_key_package_priv_free(&p);
	kp_free(&a);
	kp_free(&b);
}

static void test_external_senders_codec(void **state)
{
	(void)state;
	struct mls_external_senders es = { 0 };
	es.v = calloc(2, sizeof *es.v);
	es.n = 2;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(mls_bytes_set(&es.v[i].signature_key, "0123456789abcdef0123456789abcdef",
					       32),
				 0);
		basic_cred(&es.v[i].credential, i ? "hub" : "bot");
	}
	struct aim_buf w;
	aim_buf_init(&w, 4096);
	assert_int_equal(mls_external_senders_encode(&w, &es), 0);
	struct mls_external_senders back;
	assert_int_equal(mls_external_senders_parse(w.data, w.len, &back), 0);
	assert_int_equal(back.n, 2);
	assert_int_equal(back.v[1].credential.identity.len, 3);
	assert_memory_equal(back.v[1].credential.identity.p, "hub", 3);
	mls_external_senders_free(&back);
	/* truncated / trailing bytes */
	assert_int_equal(mls_external_senders_parse(w.data, w.len - 1, &back), -1);
	assert_int_equal(aim_buf_append_byte(&w, 0), 0);
	assert_int_equal(mls_external_senders_parse(w.data, w.len, &back), -1);
	aim_buf_free(&w);
	mls_external_senders_free(&es);
}

static int x509_hook_calls;

static int want_x509(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		     struct aim_bytes sig_key)
{
	(void)arg;
	(void)role;
	(void)sig_key;
	x509_hook_calls++;
	if (cred->type != MLS_CREDENTIAL_X509 || cred->n_certs != 2)
		return aim_fail(AIM_ERR_DENIED, "x509 chain of two expected");
	if (cred->certs[0].len != 4 || memcmp(cred->certs[0].p, "leaf", 4) != 0)
		return aim_fail(AIM_ERR_DENIED, "wrong leaf certificate");
	return 0;
}

/* An x509 credential is carried as given and reaches the hook; GREASE
 * values in capabilities and extensions (as ts-mls sends them) are
 * accepted. */
static void test_x509_and_grease(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(3);
	struct mls_credential cred = { .type = MLS_CREDENTIAL_X509 };
	cred.certs = calloc(2, sizeof *cred.certs);
	cred.n_certs = 2;
	assert_int_equal(mls_bytes_set(&cred.certs[0], "leaf", 4), 0);
	assert_int_equal(mls_bytes_set(&cred.certs[1], "ca", 2), 0);
	struct mls_capabilities caps = { 0 };
	assert_int_equal(mls_capabilities_default(&caps), 0);
	uint16_t ext[] = { MLS_EXT_LAST_RESORT, 0x3a3a };
	uint16_t suites[] = { 1, 2, 3, 0x4a4a };
	uint16_t props[] = { 0x5a5a };
	uint16_t creds[] = { MLS_CREDENTIAL_BASIC, MLS_CREDENTIAL_X509, 0x6a6a };
	set_list(&caps.extensions, ext, 2);
	set_list(&caps.cipher_suites, suites, 4);
	set_list(&caps.proposals, props, 1);
	set_list(&caps.credentials, creds, 3);
	struct mls_extension_list lext = { 0 }, kext = { 0 };
	lext.v = calloc(1, sizeof *lext.v);
	lext.n = 1;
	lext.v[0].type = 0x3a3a;
	kext.v = calloc(1, sizeof *kext.v);
	kext.n = 1;
	kext.v[0].type = 0x7a7a;
	assert_int_equal(mls_bytes_set(&kext.v[0].data, "g", 1), 0);
	struct mls_key_package_params p = {
		.cipher_suite = 3,
		.credential = &cred,
		.capabilities = &caps,
		.leaf_extensions = &lext,
		.extensions = &kext,
	};
	struct kp k;
	assert_int_equal(mls_key_package_create(&p, &k.kp, &k.priv), 0);
	assert_int_equal(k.kp.leaf_node.credential.n_certs, 2);
	struct mls_credential_hook hook = { .fn = want_x509 };
	struct mls_leaf_check chk = check_for(cs);
	chk.hook = &hook;
	x509_hook_calls = 0;
	assert_int_equal(mls_key_package_validate(&k.kp, &chk), 0);
	assert_int_equal(x509_hook_calls, 1);
	/* over the wire, the same */
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	assert_int_equal(mls_key_package_encode(&w, &k.kp), 0);
	struct mls_key_package back;
	assert_int_equal(mls_key_package_parse(w.data, w.len, &back), 0);
	assert_int_equal(mls_key_package_validate(&back, &chk), 0);
	/* a changed certificate: the signature no longer covers it */
	back.leaf_node.credential.certs[1].p[0] ^= 1;
	aim_errclear();
	assert_int_equal(mls_key_package_validate(&back, &chk), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_key_package_free(&back);
	/* a chain the application does not like */
	mls_bytes_free(&k.kp.leaf_node.credential.certs[0]);
	assert_int_equal(mls_bytes_set(&k.kp.leaf_node.credential.certs[0], "evil", 4), 0);
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_DENIED);
	/* the GREASE leaf extension must stay listed */
	set_list(&k.kp.leaf_node.capabilities.extensions, ext, 1);
	chk.hook = NULL;
	kp_resign(&k);
	expect_kp_refused(&k, &chk, AIM_ERR_UNSUPPORTED);
	aim_buf_free(&w);
	kp_free(&k);
	mls_extension_list_free(&lext);
	mls_extension_list_free(&kext);
	mls_capabilities_free(&caps);
	mls_credential_free(&cred);
}

static void test_supported(void **state)
{
	(void)state;
	for (uint16_t s = 1; s <= 7; s++)
		assert_true(mls_supports_suite(s));
	assert_false(mls_supports_suite(0));
	assert_false(mls_supports_suite(8));
	assert_false(mls_supports_suite(0x0a0a));
	assert_true(mls_supports_extension(MLS_EXT_LAST_RESORT));
	assert_false(mls_supports_extension(0x0a0a));
	assert_true(mls_supports_proposal(MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS));
	assert_false(mls_supports_proposal(8));
	assert_true(mls_supports_credential(MLS_CREDENTIAL_X509));
	assert_false(mls_supports_credential(3));
	struct mls_capabilities caps = { 0 };
	assert_int_equal(mls_capabilities_default(&caps), 0);
	assert_int_equal(caps.cipher_suites.n, 7);
	assert_false(mls_u16_list_has(&caps.extensions, MLS_EXT_RATCHET_TREE));
	mls_capabilities_free(&caps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_suite1),
		cmocka_unit_test(test_create_suite2),
		cmocka_unit_test(test_create_suite3),
		cmocka_unit_test(test_create_other_suites),
		cmocka_unit_test(test_create_params),
		cmocka_unit_test(test_refuse_signature),
		cmocka_unit_test(test_refuse_version_suite),
		cmocka_unit_test(test_refuse_init_key),
		cmocka_unit_test(test_refuse_leaf_source),
		cmocka_unit_test(test_refuse_lifetime),
		cmocka_unit_test(test_refuse_credential),
		cmocka_unit_test(test_credential_hook),
		cmocka_unit_test(test_refuse_duplicate_keys),
		cmocka_unit_test(test_refuse_capabilities),
		cmocka_unit_test(test_priv_mismatch),
		cmocka_unit_test(test_external_senders_codec),
		cmocka_unit_test(test_x509_and_grease),
		cmocka_unit_test(test_supported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
