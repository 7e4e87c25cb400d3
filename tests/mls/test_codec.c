/* Unit tests of the MLS codec (src/mls/codec.h): byte-exact round trips over
 * every structure in the official vectors, each refusal the decoders promise,
 * truncation at every prefix, ceilings, TBS encodings, ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "mls/codec.h"
#include "mls/tls.h"

/* ---- Helpers ------------------------------------------------------------------ */

/* Hex with spaces allowed, into a fresh buffer. */
static struct aim_buf hexbuf(const char *s)
{
	struct aim_buf b, clean;
	aim_buf_init(&clean, 1 << 20);
	for (; *s; s++)
		if (*s != ' ')
			assert_int_equal(aim_buf_append_byte(&clean, (uint8_t)*s), 0);
	aim_buf_init(&b, 16u << 20);
	assert_int_equal(aim_buf_reserve(&b, 1), 0);
	assert_int_equal(aim_hex_decode(&b, (const char *)clean.data, clean.len), 0);
	aim_buf_free(&clean);
	return b;
}

/* Copies to an exactly sized heap block so ASan sees any overread. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

/* A parse/encode/free triple for table-driven tests. */
struct kind {
	const char *name;
	size_t size;
	int (*parse)(const uint8_t *, size_t, void *);
	int (*encode)(struct aim_buf *, const void *);
	void (*free)(void *);
};

#define KIND(n)                                                                       \
	static int n##_parse_v(const uint8_t *p, size_t len, void *x)                \
	{                                                                             \
		return mls_##n##_parse(p, len, x);                                    \
	}                                                                             \
	static int n##_encode_v(struct aim_buf *w, const void *x)                     \
	{                                                                             \
		return mls_##n##_encode(w, x);                                        \
	}                                                                             \
	static void n##_free_v(void *x)                                               \
	{                                                                             \
		mls_##n##_free(x);                                                    \
	}                                                                             \
	static const struct kind kind_##n = { #n, sizeof(struct mls_##n), n##_parse_v, \
					      n##_encode_v, n##_free_v };

KIND(message)
KIND(ratchet_tree)
KIND(group_secrets)
KIND(add)
KIND(update)
KIND(remove)
KIND(pre_shared_key)
KIND(reinit)
KIND(external_init)
KIND(group_context_extensions)
KIND(commit)
KIND(proposal)
KIND(update_path)
KIND(authenticated_content)
KIND(capabilities)
KIND(credential)
KIND(leaf_node)
KIND(key_package)
KIND(group_context)
KIND(group_info)
KIND(welcome)
KIND(sender_data)
KIND(framed_content)
KIND(public_message)
KIND(private_message)
KIND(extension_list)
KIND(parent_node)
KIND(node)
KIND(lifetime)
KIND(sender)
KIND(hpke_ciphertext)
KIND(update_path_node)
KIND(path_secret)
KIND(pre_shared_key_id)
KIND(proposal_or_ref)
KIND(encrypted_group_secrets)
KIND(extension)

/* Parses, re-encodes, compares; returns 0 if the bytes come back identical. */
static int roundtrip(const struct kind *k, const uint8_t *p, size_t n)
{
	void *x = calloc(1, k->size);
	struct aim_buf out;
	assert_non_null(x);
	int rc = k->parse(p, n, x);
	if (rc == 0) {
		aim_buf_init(&out, MLS_MAX_MESSAGE);
		rc = k->encode(&out, x);
		if (rc == 0 && !(out.len == n && memcmp(out.data, p, n) == 0)) {
			fprintf(stderr, "%s: re-encoding differs (%zu vs %zu bytes)\n", k->name,
				out.len, n);
			rc = -1;
		}
		aim_buf_free(&out);
		k->free(x);
	}
	free(x);
	return rc;
}

/* Parse must fail with `code`. */
static void expect_refused(const struct kind *k, const struct aim_buf *in, enum aim_err code)
{
	void *x = calloc(1, k->size);
	assert_non_null(x);
	uint8_t *p = exact_copy(in->data, in->len);
	aim_errclear();
	int rc = k->parse(p, in->len, x);
	if (rc == 0 || aim_errcode() != code)
		fprintf(stderr, "%s: rc %d, error %s (%s), want %s\n", k->name, rc,
			aim_errname(aim_errcode()), aim_errmsg(), aim_errname(code));
	assert_int_equal(rc, -1);
	assert_int_equal(aim_errcode(), code);
	/* a failed decode leaves nothing allocated and a zeroed struct */
	uint8_t *z = calloc(1, k->size);
	assert_memory_equal(x, z, k->size);
	free(z);
	free(p);
	free(x);
}

static void expect_roundtrip_hex(const struct kind *k, const char *hex)
{
	struct aim_buf b = hexbuf(hex);
	uint8_t *p = exact_copy(b.data, b.len);
	if (roundtrip(k, p, b.len) != 0)
		fprintf(stderr, "%s: %s (%s)\n", k->name, hex, aim_errmsg());
	assert_int_equal(roundtrip(k, p, b.len), 0);
	free(p);
	aim_buf_free(&b);
}

static void expect_refused_hex(const struct kind *k, const char *hex, enum aim_err code)
{
	struct aim_buf b = hexbuf(hex);
	expect_refused(k, &b, code);
	aim_buf_free(&b);
}

static json_t *load_vectors(const char *file)
{
	const char *dir = getenv("AIM_MLS_VECTORS");
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/vectors/mls",
		 file);
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	if (!root)
		fprintf(stderr, "%s: %s\n", path, err.text);
	assert_non_null(root);
	assert_true(json_is_array(root));
	return root;
}

/* Round trips the hex string obj[key] as kind k (skips JSON null). */
static unsigned rt_field(const struct kind *k, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	assert_non_null(v);
	if (json_is_null(v))
		return 0;
	assert_true(json_is_string(v));
	struct aim_buf b;
	aim_buf_init(&b, 16u << 20);
	assert_int_equal(aim_buf_reserve(&b, 1), 0);
	assert_int_equal(aim_hex_decode(&b, json_string_value(v), json_string_length(v)), 0);
	uint8_t *p = exact_copy(b.data, b.len);
	int rc = roundtrip(k, p, b.len);
	if (rc != 0)
		fprintf(stderr, "%s as %s: %s\n", key, k->name, aim_errmsg());
	assert_int_equal(rc, 0);
	free(p);
	aim_buf_free(&b);
	return 1;
}

/* ---- Round trips over the official vectors ------------------------------------------- */

static void test_vectors_messages(void **state)
{
	static const struct {
		const char *field;
		const struct kind *k;
	} f[] = {
		{ "mls_welcome", &kind_message },
		{ "mls_group_info", &kind_message },
		{ "mls_key_package", &kind_message },
		{ "ratchet_tree", &kind_ratchet_tree },
		{ "group_secrets", &kind_group_secrets },
		{ "add_proposal", &kind_add },
		{ "update_proposal", &kind_update },
		{ "remove_proposal", &kind_remove },
		{ "pre_shared_key_proposal", &kind_pre_shared_key },
		{ "re_init_proposal", &kind_reinit },
		{ "external_init_proposal", &kind_external_init },
		{ "group_context_extensions_proposal", &kind_group_context_extensions },
		{ "commit", &kind_commit },
		{ "public_message_application", &kind_message },
		{ "public_message_proposal", &kind_message },
		{ "public_message_commit", &kind_message },
		{ "private_message", &kind_message },
	};
	json_t *root = load_vectors("messages.json");
	size_t i;
	json_t *t;
	unsigned n = 0;
	json_array_foreach(root, i, t)
		for (size_t j = 0; j < AIM_ARRAY_LEN(f); j++)
			n += rt_field(f[j].k, t, f[j].field);
	assert_int_equal(n, json_array_size(root) * AIM_ARRAY_LEN(f));
	assert_true(n >= 300 * 17);
	json_decref(root);
}

/* Every serialized structure in the other vector files round-trips too. */
static void test_vectors_other_files(void **state)
{
	unsigned n = 0;
	size_t i, j;
	json_t *t, *e, *v;

	json_t *root = load_vectors("welcome.json");
	json_array_foreach(root, i, t) {
		n += rt_field(&kind_message, t, "key_package");
		n += rt_field(&kind_message, t, "welcome");
	}
	json_decref(root);

	root = load_vectors("tree-validation.json");
	json_array_foreach(root, i, t)
		n += rt_field(&kind_ratchet_tree, t, "tree");
	json_decref(root);

	root = load_vectors("treekem.json");
	json_array_foreach(root, i, t) {
		n += rt_field(&kind_ratchet_tree, t, "ratchet_tree");
		json_array_foreach(json_object_get(t, "update_paths"), j, e)
			n += rt_field(&kind_update_path, e, "update_path");
	}
	json_decref(root);

	root = load_vectors("tree-operations.json");
	json_array_foreach(root, i, t) {
		n += rt_field(&kind_ratchet_tree, t, "tree_before");
		n += rt_field(&kind_ratchet_tree, t, "tree_after");
		n += rt_field(&kind_proposal, t, "proposal");
	}
	json_decref(root);

	root = load_vectors("transcript-hashes.json");
	json_array_foreach(root, i, t)
		n += rt_field(&kind_authenticated_content, t, "authenticated_content");
	json_decref(root);

	root = load_vectors("message-protection.json");
	json_array_foreach(root, i, t) {
		n += rt_field(&kind_proposal, t, "proposal");
		n += rt_field(&kind_commit, t, "commit");
		static const char *m[] = { "proposal_pub", "proposal_priv", "commit_pub",
					   "commit_priv", "application_priv" };
		for (size_t k = 0; k < AIM_ARRAY_LEN(m); k++)
			n += rt_field(&kind_message, t, m[k]);
	}
	json_decref(root);

	static const char *passive[] = { "passive-client-welcome.json",
					 "passive-client-handling-commit.json",
					 "passive-client-random.json" };
	for (size_t f = 0; f < AIM_ARRAY_LEN(passive); f++) {
		root = load_vectors(passive[f]);
		json_array_foreach(root, i, t) {
			n += rt_field(&kind_message, t, "key_package");
			n += rt_field(&kind_message, t, "welcome");
			n += rt_field(&kind_ratchet_tree, t, "ratchet_tree");
			json_array_foreach(json_object_get(t, "epochs"), j, e) {
				n += rt_field(&kind_message, e, "commit");
				size_t k;
				json_array_foreach(json_object_get(e, "proposals"), k, v) {
					json_t *wrap = json_pack("{sO}", "p", v);
					n += rt_field(&kind_message, wrap, "p");
					json_decref(wrap);
				}
			}
		}
		json_decref(root);
	}
	fprintf(stderr, "round-tripped %u structures from 9 vector files\n", n);
	assert_true(n > 1000);
}

/* ---- Hand-made messages ------------------------------------------------------------- */

/* MLSMessage(PublicMessage) from member 2: application "xy". */
#define PUB_HEAD "0001 0001 0167 0000000000000001"
#define PUB_APP PUB_HEAD " 01 00000002 00 01 027879 0173 016d"

static void test_public_message_shapes(void **state)
{
	expect_roundtrip_hex(&kind_message, PUB_APP);
	/* external sender: no membership_tag */
	expect_roundtrip_hex(&kind_message, PUB_HEAD " 02 00000002 00 01 027879 0173");
	expect_refused_hex(&kind_message, PUB_HEAD " 02 00000002 00 01 027879 0173 016d",
			   AIM_ERR_DECODE);
	/* new_member_proposal with a remove proposal, new_member_commit with
	 * an empty commit (signature + confirmation tag) */
	expect_roundtrip_hex(&kind_message, PUB_HEAD " 03 00 02 0003 00000001 0173");
	expect_roundtrip_hex(&kind_message, PUB_HEAD " 04 00 03 00 00 0173 0163");
	/* member commit: confirmation_tag then membership_tag */
	expect_roundtrip_hex(&kind_message, PUB_HEAD " 01 00000000 00 03 00 00 0173 0163 016d");
	/* a commit by reference plus an inline proposal, with a path */
	expect_roundtrip_hex(&kind_commit, "0b 02 02 aabb 01 0003 00000007 00");

	struct mls_message m;
	struct aim_buf b = hexbuf(PUB_APP);
	assert_int_equal(mls_message_parse(b.data, b.len, &m), 0);
	assert_int_equal(m.wire_format, MLS_WIRE_PUBLIC_MESSAGE);
	assert_int_equal(m.public_message.content.sender.type, MLS_SENDER_MEMBER);
	assert_int_equal(m.public_message.content.sender.index, 2);
	assert_int_equal(m.public_message.content.epoch, 1);
	assert_int_equal(m.public_message.content.application_data.len, 2);
	assert_memory_equal(m.public_message.content.application_data.p, "xy", 2);
	assert_int_equal(m.public_message.membership_tag.len, 1);
	mls_message_free(&m);
	aim_buf_free(&b);
}

static void test_refusals_enums(void **state)
{
	/* wire_format */
	expect_refused_hex(&kind_message, "0001 0006 00", AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_message, "0001 0000 00", AIM_ERR_UNSUPPORTED);
	/* version */
	expect_refused_hex(&kind_message, "0002 0001 0167 0000000000000001 01 00000002 00 01 027879 0173 016d",
			   AIM_ERR_UNSUPPORTED);
	/* content_type 4 and 0 */
	expect_refused_hex(&kind_message, PUB_HEAD " 01 00000002 00 04 027879 0173 016d",
			   AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_message, PUB_HEAD " 01 00000002 00 00 027879 0173 016d",
			   AIM_ERR_UNSUPPORTED);
	/* sender_type 5 and 0 */
	expect_refused_hex(&kind_message, PUB_HEAD " 05 00000002 00 01 027879 0173 016d",
			   AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_sender, "00", AIM_ERR_UNSUPPORTED);
	/* proposal types: unknown, GREASE, reserved */
	expect_refused_hex(&kind_proposal, "0008 00000001", AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_proposal, "0a0a 00000001", AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_proposal, "0000 00000001", AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_message, PUB_HEAD " 01 00000002 00 02 0a0a 00000001 0173 016d",
			   AIM_ERR_UNSUPPORTED);
	/* ProposalOrRef type */
	expect_refused_hex(&kind_commit, "02 03 00 00", AIM_ERR_UNSUPPORTED);
	/* PSK type and resumption usage */
	expect_roundtrip_hex(&kind_pre_shared_key, "01 0169 016e");
	expect_roundtrip_hex(&kind_pre_shared_key, "02 03 0167 0000000000000009 016e");
	expect_refused_hex(&kind_pre_shared_key, "03 0169 016e", AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_pre_shared_key, "02 00 0167 0000000000000009 016e",
			   AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_pre_shared_key, "02 04 0167 0000000000000009 016e",
			   AIM_ERR_UNSUPPORTED);
	/* PrivateMessage content type */
	expect_roundtrip_hex(&kind_message, "0001 0002 0167 0000000000000001 01 00 0161 0162");
	expect_refused_hex(&kind_message, "0001 0002 0167 0000000000000001 05 00 0161 0162",
			   AIM_ERR_UNSUPPORTED);
	/* AuthenticatedContent wire format */
	expect_refused_hex(&kind_authenticated_content,
			   "0009 0167 0000000000000001 01 00000002 00 01 027879 0173",
			   AIM_ERR_UNSUPPORTED);
}

static void test_refusals_tls(void **state)
{
	/* non-minimal varint (2 bytes for 1) in group_id */
	expect_refused_hex(&kind_message, "0001 0001 400167 0000000000000001 01 00000002 00 01 027879 0173 016d",
			   AIM_ERR_DECODE);
	/* non-minimal 4-byte varint */
	expect_refused_hex(&kind_extension, "0001 80000001 aa", AIM_ERR_DECODE);
	/* two-bit prefix 11 */
	expect_refused_hex(&kind_extension, "0001 c0000000 00000001 aa", AIM_ERR_DECODE);
	/* optional presence byte 2 (commit path, group secrets path secret) */
	expect_refused_hex(&kind_commit, "00 02", AIM_ERR_DECODE);
	expect_refused_hex(&kind_group_secrets, "0161 02 00", AIM_ERR_DECODE);
	expect_roundtrip_hex(&kind_group_secrets, "0161 01 0170 00");
	expect_roundtrip_hex(&kind_group_secrets, "0161 00 00");
	/* vector length past the end */
	expect_refused_hex(&kind_extension, "0001 05 aa", AIM_ERR_DECODE);
	/* uint16 / uint32 lists of a length that is not a multiple */
	expect_refused_hex(&kind_capabilities, "03 000100 00 00 00 00", AIM_ERR_DECODE);
	expect_refused_hex(&kind_parent_node, "0165 00 03 000001", AIM_ERR_DECODE);
	/* trailing bytes at top level */
	expect_refused_hex(&kind_message, PUB_APP " 00", AIM_ERR_DECODE);
	expect_refused_hex(&kind_remove, "00000001 00", AIM_ERR_DECODE);
	/* empty input */
	expect_refused_hex(&kind_message, "", AIM_ERR_DECODE);
}

/* A minimal LeafNode (key_package source) and its parts. */
#define LEAF_KP "0165 0173 0001 0169 0000000000 01 0000000000000000 ffffffffffffffff 00 0178"
#define LEAF_UPDATE "0165 0173 0001 0169 0000000000 02 00 0178"
#define LEAF_COMMIT "0165 0173 0001 0169 0000000000 03 0168 00 0178"
#define PARENT "0165 00 04 00000000"

static struct aim_buf tree_of(const char *const *nodes, size_t n)
{
	struct aim_buf body, out;
	aim_buf_init(&body, 16u << 20);
	for (size_t i = 0; i < n; i++) {
		struct aim_buf nb = hexbuf(nodes[i]);
		assert_int_equal(aim_buf_append(&body, nb.data, nb.len), 0);
		aim_buf_free(&nb);
	}
	aim_buf_init(&out, 16u << 20);
	assert_int_equal(mls_tls_write_vec(&out, body.data, body.len), 0);
	aim_buf_free(&body);
	return out;
}

static void test_leaf_and_tree(void **state)
{
	expect_roundtrip_hex(&kind_leaf_node, LEAF_KP);
	expect_roundtrip_hex(&kind_leaf_node, LEAF_UPDATE);
	expect_roundtrip_hex(&kind_leaf_node, LEAF_COMMIT);
	/* leaf_node_source 4 and 0 */
	expect_refused_hex(&kind_leaf_node, "0165 0173 0001 0169 0000000000 04 00 0178",
			   AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_leaf_node, "0165 0173 0001 0169 0000000000 00 00 0178",
			   AIM_ERR_UNSUPPORTED);
	/* node_type */
	expect_refused_hex(&kind_node, "03 " PARENT, AIM_ERR_UNSUPPORTED);
	expect_refused_hex(&kind_node, "00", AIM_ERR_UNSUPPORTED);
	expect_roundtrip_hex(&kind_node, "02 " PARENT);

	static const char *const ok3[] = { "01 01 " LEAF_KP, "01 02 " PARENT, "01 01 " LEAF_UPDATE };
	static const char *const blank_mid[] = { "01 01 " LEAF_KP, "00", "00", "00",
						 "01 01 " LEAF_COMMIT };
	static const char *const blank_last[] = { "01 01 " LEAF_KP, "00" };
	static const char *const leaf_odd[] = { "01 01 " LEAF_KP, "01 01 " LEAF_KP };
	static const char *const parent_even[] = { "01 02 " PARENT };
	static const char *const bad_opt[] = { "02 01 " LEAF_KP };
	static const char *const bad_type[] = { "01 01 " LEAF_KP, "01 07 " PARENT };
	struct {
		const char *const *nodes;
		size_t n;
		enum aim_err want; /* NONE: must round-trip */
	} cases[] = {
		{ ok3, 3, AIM_ERR_NONE },
		{ blank_mid, 5, AIM_ERR_NONE },
		{ blank_last, 2, AIM_ERR_DECODE },
		{ leaf_odd, 2, AIM_ERR_DECODE },
		{ parent_even, 1, AIM_ERR_DECODE },
		{ bad_opt, 1, AIM_ERR_DECODE },
		{ bad_type, 2, AIM_ERR_UNSUPPORTED },
		{ NULL, 0, AIM_ERR_DECODE }, /* empty tree */
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(cases); i++) {
		struct aim_buf t = tree_of(cases[i].nodes, cases[i].n);
		if (cases[i].want == AIM_ERR_NONE) {
			uint8_t *p = exact_copy(t.data, t.len);
			assert_int_equal(roundtrip(&kind_ratchet_tree, p, t.len), 0);
			free(p);
		} else {
			expect_refused(&kind_ratchet_tree, &t, cases[i].want);
		}
		aim_buf_free(&t);
	}

	/* the decoded tree: blank entries are MLS_NODE_BLANK */
	struct aim_buf t = tree_of(blank_mid, 5);
	struct mls_ratchet_tree tree;
	assert_int_equal(mls_ratchet_tree_parse(t.data, t.len, &tree), 0);
	assert_int_equal(tree.n, 5);
	assert_int_equal(tree.nodes[0].type, MLS_NODE_LEAF);
	assert_int_equal(tree.nodes[1].type, MLS_NODE_BLANK);
	assert_int_equal(tree.nodes[4].leaf.source, MLS_LEAF_SOURCE_COMMIT);
	assert_int_equal(tree.nodes[4].leaf.parent_hash.len, 1);
	/* encoding refuses what decoding refuses */
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	mls_node_free(&tree.nodes[4]);
	assert_int_equal(mls_ratchet_tree_encode(&w, &tree), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	aim_buf_free(&w);
	mls_ratchet_tree_free(&tree);
	aim_buf_free(&t);
}

static void test_credentials_and_grease(void **state)
{
	/* basic, x509 chain of two, empty chain, an unknown type as opaque<V> */
	expect_roundtrip_hex(&kind_credential, "0001 03616263");
	expect_roundtrip_hex(&kind_credential, "0002 07 02aabb 03ccddee");
	expect_roundtrip_hex(&kind_credential, "0002 00");
	expect_roundtrip_hex(&kind_credential, "f001 02abcd");
	expect_refused_hex(&kind_credential, "0002 03 03aabb", AIM_ERR_DECODE);

	struct mls_credential c;
	struct aim_buf b = hexbuf("0002 07 02aabb 03ccddee");
	assert_int_equal(mls_credential_parse(b.data, b.len, &c), 0);
	assert_int_equal(c.n_certs, 2);
	assert_int_equal(c.certs[1].len, 3);
	assert_int_equal(c.certs[1].p[2], 0xee);
	mls_credential_free(&c);
	aim_buf_free(&b);

	/* GREASE values anywhere in capabilities and extensions are kept */
	const char *caps = "02 0001 04 0001 0a0a 04 0a0a 0002 02 eaea 04 0001 7a7a";
	expect_roundtrip_hex(&kind_capabilities, caps);
	struct mls_capabilities cap;
	b = hexbuf(caps);
	assert_int_equal(mls_capabilities_parse(b.data, b.len, &cap), 0);
	assert_int_equal(cap.cipher_suites.n, 2);
	assert_true(mls_is_grease(cap.cipher_suites.v[1]));
	assert_false(mls_is_grease(cap.cipher_suites.v[0]));
	assert_true(mls_is_grease(cap.proposals.v[0]));
	mls_capabilities_free(&cap);
	aim_buf_free(&b);
	assert_false(mls_is_grease(0xfafa));
	assert_false(mls_is_grease(0x0a1a));
	assert_true(mls_is_grease(0x0a0a));
	expect_roundtrip_hex(&kind_extension_list, "09 1a1a 03010203 0002 00");
}

static void test_private_content_and_sender_data(void **state)
{
	struct mls_private_message_content c;
	struct aim_buf b = hexbuf("02 6869 0173 000000");
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, b.data, b.len);
	assert_int_equal(mls_private_message_content_decode(&r, MLS_CONTENT_APPLICATION, &c), 0);
	assert_int_equal(mls_tls_remaining(&r), 0);
	assert_int_equal(c.padding, 3);
	assert_int_equal(c.application_data.len, 2);
	struct aim_buf out;
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	assert_int_equal(mls_private_message_content_encode(&out, &c), 0);
	assert_memory_equal(out.data, b.data, b.len);
	assert_int_equal(out.len, b.len);
	aim_buf_free(&out);
	mls_private_message_content_free(&c);
	aim_buf_free(&b);

	/* "A receiver MUST verify that there are no non-zero bytes in the
	 * padding field" */
	b = hexbuf("02 6869 0173 000100");
	mls_tls_reader_init(&r, b.data, b.len);
	assert_int_equal(mls_private_message_content_decode(&r, MLS_CONTENT_APPLICATION, &c), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DECODE);
	aim_buf_free(&b);

	/* commit: signature and confirmation tag, no padding */
	b = hexbuf("00 00 0173 0163");
	mls_tls_reader_init(&r, b.data, b.len);
	assert_int_equal(mls_private_message_content_decode(&r, MLS_CONTENT_COMMIT, &c), 0);
	assert_int_equal(c.auth.confirmation_tag.len, 1);
	mls_private_message_content_free(&c);
	mls_tls_reader_init(&r, b.data, b.len);
	assert_int_equal(mls_private_message_content_decode(&r, 9, &c), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	aim_buf_free(&b);

	expect_roundtrip_hex(&kind_sender_data, "00000001 00000002 aabbccdd");
	expect_refused_hex(&kind_sender_data, "00000001 00000002 aabbcc", AIM_ERR_DECODE);

	/* the two AADs */
	struct mls_message m;
	b = hexbuf("0001 0002 0167 0000000000000001 02 0161 0162 0163");
	assert_int_equal(mls_message_parse(b.data, b.len, &m), 0);
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	assert_int_equal(mls_sender_data_aad_encode(&out, &m.private_message), 0);
	struct aim_buf want = hexbuf("0167 0000000000000001 02");
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	aim_buf_free(&want);
	aim_buf_reset(&out);
	assert_int_equal(mls_private_content_aad_encode(&out, &m.private_message), 0);
	want = hexbuf("0167 0000000000000001 02 0161");
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	aim_buf_free(&want);
	aim_buf_free(&out);
	mls_message_free(&m);
	aim_buf_free(&b);
}

/* ---- Truncation ------------------------------------------------------------------------ */

/* Every strict prefix of every structure of messages.json[0] (and of a
 * few other vectors) fails cleanly; ASan checks nothing is read past it. */
static void test_truncation(void **state)
{
	json_t *root = load_vectors("messages.json");
	json_t *t = json_array_get(root, 0);
	static const struct {
		const char *field;
		const struct kind *k;
	} f[] = {
		{ "mls_welcome", &kind_message },
		{ "mls_group_info", &kind_message },
		{ "mls_key_package", &kind_message },
		{ "ratchet_tree", &kind_ratchet_tree },
		{ "group_secrets", &kind_group_secrets },
		{ "add_proposal", &kind_add },
		{ "update_proposal", &kind_update },
		{ "pre_shared_key_proposal", &kind_pre_shared_key },
		{ "re_init_proposal", &kind_reinit },
		{ "commit", &kind_commit },
		{ "public_message_application", &kind_message },
		{ "public_message_proposal", &kind_message },
		{ "public_message_commit", &kind_message },
		{ "private_message", &kind_message },
	};
	size_t prefixes = 0;
	for (size_t j = 0; j < AIM_ARRAY_LEN(f); j++) {
		json_t *v = json_object_get(t, f[j].field);
		struct aim_buf b = hexbuf(json_string_value(v));
		for (size_t n = 0; n < b.len; n++) {
			struct aim_buf pre;
			aim_buf_init(&pre, 16u << 20);
			assert_int_equal(aim_buf_append(&pre, b.data, n), 0);
			expect_refused(f[j].k, &pre, AIM_ERR_DECODE);
			aim_buf_free(&pre);
			prefixes++;
		}
		/* and one byte too many */
		assert_int_equal(aim_buf_append_byte(&b, 0), 0);
		expect_refused(f[j].k, &b, AIM_ERR_DECODE);
		aim_buf_free(&b);
	}
	fprintf(stderr, "%zu truncated prefixes refused\n", prefixes);
	assert_true(prefixes > 2000);
	json_decref(root);
}

/* ---- Ceilings -------------------------------------------------------------------------- */

static void test_limits(void **state)
{
	/* a whole input above MLS_MAX_MESSAGE */
	uint8_t *big = calloc(1, MLS_MAX_MESSAGE + 1);
	struct mls_message m;
	assert_non_null(big);
	assert_int_equal(mls_message_parse(big, MLS_MAX_MESSAGE + 1, &m), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	free(big);

	/* a ratchet tree of MLS_MAX_NODES + 1 blank entries */
	struct aim_buf body, t;
	aim_buf_init(&body, 16u << 20);
	for (size_t i = 0; i < MLS_MAX_NODES + 1; i++)
		assert_int_equal(aim_buf_append_byte(&body, 0), 0);
	aim_buf_init(&t, 16u << 20);
	assert_int_equal(mls_tls_write_vec(&t, body.data, body.len), 0);
	expect_refused(&kind_ratchet_tree, &t, AIM_ERR_LIMIT);
	aim_buf_free(&t);
	aim_buf_free(&body);

	/* capabilities with MLS_MAX_LIST + 1 versions */
	aim_buf_init(&body, 16u << 20);
	for (size_t i = 0; i < MLS_MAX_LIST + 1; i++)
		assert_int_equal(mls_tls_write_u16(&body, 1), 0);
	aim_buf_init(&t, 16u << 20);
	assert_int_equal(mls_tls_write_vec(&t, body.data, body.len), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mls_tls_write_u8(&t, 0), 0);
	expect_refused(&kind_capabilities, &t, AIM_ERR_LIMIT);
	aim_buf_free(&t);
	aim_buf_free(&body);

	/* an extension list of MLS_MAX_LIST + 1 empty extensions */
	aim_buf_init(&body, 16u << 20);
	for (size_t i = 0; i < MLS_MAX_LIST + 1; i++) {
		assert_int_equal(mls_tls_write_u16(&body, 7), 0);
		assert_int_equal(mls_tls_write_u8(&body, 0), 0);
	}
	aim_buf_init(&t, 16u << 20);
	assert_int_equal(mls_tls_write_vec(&t, body.data, body.len), 0);
	expect_refused(&kind_extension_list, &t, AIM_ERR_LIMIT);
	aim_buf_free(&t);
	aim_buf_free(&body);

	/* a commit of MLS_MAX_PROPOSALS references decodes, one more does not */
	for (size_t extra = 0; extra < 2; extra++) {
		aim_buf_init(&body, 16u << 20);
		for (size_t i = 0; i < MLS_MAX_PROPOSALS + extra; i++) {
			assert_int_equal(mls_tls_write_u8(&body, MLS_POR_REFERENCE), 0);
			assert_int_equal(mls_tls_write_u8(&body, 0), 0);
		}
		aim_buf_init(&t, 16u << 20);
		assert_int_equal(mls_tls_write_vec(&t, body.data, body.len), 0);
		assert_int_equal(mls_tls_write_u8(&t, 0), 0);
		if (extra) {
			expect_refused(&kind_commit, &t, AIM_ERR_LIMIT);
		} else {
			uint8_t *p = exact_copy(t.data, t.len);
			assert_int_equal(roundtrip(&kind_commit, p, t.len), 0);
			free(p);
		}
		aim_buf_free(&t);
		aim_buf_free(&body);
	}

	/* an update path longer than any tree of MLS_MAX_LEAVES can need */
	aim_buf_init(&body, 16u << 20);
	for (size_t i = 0; i < 33; i++) {
		struct aim_buf n = hexbuf("0165 00");
		assert_int_equal(aim_buf_append(&body, n.data, n.len), 0);
		aim_buf_free(&n);
	}
	t = hexbuf(LEAF_COMMIT);
	assert_int_equal(mls_tls_write_vec(&t, body.data, body.len), 0);
	expect_refused(&kind_update_path, &t, AIM_ERR_LIMIT);
	aim_buf_free(&t);
	aim_buf_free(&body);

	/* the encoder's buffer ceiling is honoured */
	struct aim_buf src = hexbuf(PUB_APP), w;
	assert_int_equal(mls_message_parse(src.data, src.len, &m), 0);
	aim_buf_init(&w, 8);
	assert_int_equal(mls_message_encode(&w, &m), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_LIMIT);
	aim_buf_free(&w);
	mls_message_free(&m);
	aim_buf_free(&src);
}

/* ---- Encoders, TBS, ownership ----------------------------------------------------------- */

static void test_encoder_refusals_and_free(void **state)
{
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	struct mls_message m = { 0 };
	assert_int_equal(mls_message_encode(&w, &m), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	m.version = MLS_VERSION_10;
	m.wire_format = 6;
	assert_int_equal(mls_message_encode(&w, &m), -1);
	struct mls_proposal p = { 0 };
	assert_int_equal(mls_proposal_encode(&w, &p), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	struct mls_framed_content fc = { 0 };
	fc.content_type = MLS_CONTENT_APPLICATION;
	assert_int_equal(mls_framed_content_encode(&w, &fc), -1); /* sender type 0 */
	struct mls_leaf_node leaf = { 0 };
	assert_int_equal(mls_leaf_node_encode(&w, &leaf), -1);
	struct mls_extension e = { 7, { NULL, 3 } };
	assert_int_equal(mls_extension_encode(&w, &e), -1);
	aim_buf_free(&w);

	/* every _free accepts a zeroed struct and NULL */
	const struct kind *all[] = {
		&kind_message, &kind_ratchet_tree, &kind_group_secrets, &kind_add, &kind_update,
		&kind_remove, &kind_pre_shared_key, &kind_reinit, &kind_external_init,
		&kind_group_context_extensions, &kind_commit, &kind_proposal, &kind_update_path,
		&kind_authenticated_content, &kind_capabilities, &kind_credential,
		&kind_leaf_node, &kind_key_package, &kind_group_context, &kind_group_info,
		&kind_welcome, &kind_sender_data, &kind_framed_content, &kind_public_message,
		&kind_private_message, &kind_extension_list, &kind_parent_node, &kind_node,
		&kind_lifetime, &kind_sender, &kind_hpke_ciphertext, &kind_update_path_node,
		&kind_path_secret, &kind_pre_shared_key_id, &kind_proposal_or_ref,
		&kind_encrypted_group_secrets, &kind_extension,
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(all); i++) {
		void *x = calloc(1, all[i]->size);
		all[i]->free(x);
		all[i]->free(x);
		all[i]->free(NULL);
		free(x);
	}
	struct mls_framed_content_auth_data ad = { 0 };
	mls_framed_content_auth_data_free(&ad);
	mls_framed_content_auth_data_free(NULL);
	struct mls_private_message_content pc = { 0 };
	mls_private_message_content_free(&pc);
	mls_private_message_content_free(NULL);
	struct mls_bytes bb = { 0 };
	mls_bytes_free(&bb);
	mls_bytes_free_secret(&bb);
}

/* Decoded structures own their bytes: they outlive the input and can be
 * changed and re-encoded. */
static void test_ownership_and_edit(void **state)
{
	json_t *root = load_vectors("messages.json");
	const char *hex = json_string_value(json_object_get(json_array_get(root, 0),
							    "mls_key_package"));
	struct aim_buf b = hexbuf(hex);
	uint8_t *p = exact_copy(b.data, b.len);
	struct mls_message m;
	assert_int_equal(mls_message_parse(p, b.len, &m), 0);
	memset(p, 0xee, b.len);
	free(p);
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	assert_int_equal(mls_message_encode(&w, &m), 0);
	assert_int_equal(w.len, b.len);
	assert_memory_equal(w.data, b.data, b.len);

	/* change the identity, re-encode, decode again */
	struct mls_credential *c = &m.key_package.leaf_node.credential;
	assert_int_equal(mls_bytes_set(&c->identity, "alice@example.org", 17), 0);
	c->type = MLS_CREDENTIAL_BASIC;
	aim_buf_reset(&w);
	assert_int_equal(mls_message_encode(&w, &m), 0);
	struct mls_message m2;
	assert_int_equal(mls_message_parse(w.data, w.len, &m2), 0);
	assert_int_equal(m2.key_package.leaf_node.credential.identity.len, 17);
	assert_memory_equal(m2.key_package.leaf_node.credential.identity.p, "alice@example.org", 17);

	/* deep copies are independent */
	struct mls_key_package kp;
	assert_int_equal(mls_key_package_copy(&kp, &m2.key_package), 0);
	mls_message_free(&m2);
	assert_int_equal(kp.leaf_node.credential.identity.len, 17);
	struct mls_leaf_node ln;
	assert_int_equal(mls_leaf_node_copy(&ln, &kp.leaf_node), 0);
	assert_true(mls_bytes_equal(&ln.signature_key, &kp.leaf_node.signature_key));
	mls_leaf_node_free(&ln);
	struct mls_extension_list el;
	assert_int_equal(mls_extension_list_copy(&el, &kp.extensions), 0);
	assert_int_equal(el.n, kp.extensions.n);
	mls_extension_list_free(&el);
	mls_key_package_free(&kp);

	struct mls_group_context gc, zero = { 0 };
	assert_int_equal(mls_group_context_copy(&gc, &zero), 0);
	assert_int_equal(gc.group_id.len, 0);
	mls_group_context_free(&gc);

	aim_buf_free(&w);
	mls_message_free(&m);
	aim_buf_free(&b);
	json_decref(root);
}

/* Strips the trailing opaque<V> (a signature) from an encoding. */
static size_t len_without_last_vec(const struct aim_buf *b, size_t vec_len)
{
	size_t hdr = vec_len < 64 ? 1 : vec_len < 16384 ? 2 : 4;
	return b->len - vec_len - hdr;
}

static void test_tbs(void **state)
{
	json_t *root = load_vectors("messages.json");
	json_t *t = json_array_get(root, 0);
	struct aim_buf b, w;
	struct mls_message m;
	aim_buf_init(&w, MLS_MAX_MESSAGE);

	/* KeyPackageTBS = KeyPackage without the signature */
	b = hexbuf(json_string_value(json_object_get(t, "mls_key_package")));
	assert_int_equal(mls_message_parse(b.data, b.len, &m), 0);
	assert_int_equal(mls_key_package_encode_tbs(&w, &m.key_package), 0);
	assert_int_equal(w.len, len_without_last_vec(&b, m.key_package.signature.len) - 4);
	assert_memory_equal(w.data, b.data + 4, w.len);

	/* LeafNodeTBS of a key_package leaf = leaf without its signature;
	 * for update / commit, group_id<V> and leaf_index follow */
	aim_buf_reset(&w);
	struct mls_leaf_node *leaf = &m.key_package.leaf_node;
	struct aim_buf lb;
	aim_buf_init(&lb, MLS_MAX_MESSAGE);
	assert_int_equal(mls_leaf_node_encode(&lb, leaf), 0);
	assert_int_equal(mls_leaf_node_encode_tbs(&w, leaf, AIM_BYTES("g", 1), 5), 0);
	assert_int_equal(w.len, len_without_last_vec(&lb, leaf->signature.len));
	assert_memory_equal(w.data, lb.data, w.len);
	aim_buf_free(&lb);
	mls_message_free(&m);
	aim_buf_free(&b);

	b = hexbuf(LEAF_COMMIT);
	struct mls_leaf_node cl;
	assert_int_equal(mls_leaf_node_parse(b.data, b.len, &cl), 0);
	aim_buf_reset(&w);
	assert_int_equal(mls_leaf_node_encode_tbs(&w, &cl, AIM_BYTES("g", 1), 5), 0);
	struct aim_buf want = hexbuf("0165 0173 0001 0169 0000000000 03 0168 00 0167 00000005");
	assert_int_equal(w.len, want.len);
	assert_memory_equal(w.data, want.data, want.len);
	aim_buf_free(&want);
	mls_leaf_node_free(&cl);
	aim_buf_free(&b);

	/* GroupInfoTBS = GroupInfo without the signature */
	aim_buf_reset(&w);
	b = hexbuf(json_string_value(json_object_get(t, "mls_group_info")));
	assert_int_equal(mls_message_parse(b.data, b.len, &m), 0);
	assert_int_equal(mls_group_info_encode_tbs(&w, &m.group_info), 0);
	assert_int_equal(w.len, len_without_last_vec(&b, m.group_info.signature.len) - 4);
	assert_memory_equal(w.data, b.data + 4, w.len);
	struct mls_group_context ctx;
	assert_int_equal(mls_group_context_copy(&ctx, &m.group_info.group_context), 0);
	mls_message_free(&m);
	aim_buf_free(&b);

	/* FramedContentTBS: version, wire format, content, then the group
	 * context for a member sender; required */
	b = hexbuf(PUB_APP);
	assert_int_equal(mls_message_parse(b.data, b.len, &m), 0);
	aim_buf_reset(&w);
	assert_int_equal(mls_framed_content_encode_tbs(&w, MLS_WIRE_PUBLIC_MESSAGE,
						       &m.public_message.content, NULL),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	aim_buf_reset(&w);
	assert_int_equal(mls_framed_content_encode_tbs(&w, MLS_WIRE_PUBLIC_MESSAGE,
						       &m.public_message.content, &ctx),
			 0);
	struct aim_buf cb;
	aim_buf_init(&cb, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_context_encode(&cb, &ctx), 0);
	size_t content_len = b.len - 4 - 4; /* minus header, signature, tag */
	assert_int_equal(w.len, 4 + content_len + cb.len);
	assert_memory_equal(w.data, b.data, 4 + content_len);
	assert_memory_equal(w.data + 4 + content_len, cb.data, cb.len);
	/* AuthenticatedContentTBM = FramedContentTBS || auth */
	struct aim_buf tbm;
	aim_buf_init(&tbm, MLS_MAX_MESSAGE);
	assert_int_equal(mls_authenticated_content_encode_tbm(&tbm, MLS_WIRE_PUBLIC_MESSAGE,
							      &m.public_message.content,
							      &m.public_message.auth, &ctx),
			 0);
	assert_int_equal(tbm.len, w.len + 2);
	assert_memory_equal(tbm.data, w.data, w.len);
	assert_memory_equal(tbm.data + w.len, "\x01s", 2);
	aim_buf_free(&tbm);
	aim_buf_free(&cb);
	/* an external sender's TBS has no context */
	m.public_message.content.sender.type = MLS_SENDER_EXTERNAL;
	aim_buf_reset(&w);
	assert_int_equal(mls_framed_content_encode_tbs(&w, MLS_WIRE_PUBLIC_MESSAGE,
						       &m.public_message.content, NULL),
			 0);
	assert_int_equal(w.len, 4 + content_len);
	mls_message_free(&m);
	aim_buf_free(&b);
	mls_group_context_free(&ctx);
	json_decref(root);

	/* ConfirmedTranscriptHashInput = AuthenticatedContent without the
	 * confirmation tag; InterimTranscriptHashInput = the tag as opaque<V> */
	root = load_vectors("transcript-hashes.json");
	size_t i;
	json_array_foreach(root, i, t) {
		struct mls_authenticated_content ac;
		b = hexbuf(json_string_value(json_object_get(t, "authenticated_content")));
		assert_int_equal(mls_authenticated_content_parse(b.data, b.len, &ac), 0);
		assert_int_equal(ac.content.content_type, MLS_CONTENT_COMMIT);
		aim_buf_reset(&w);
		assert_int_equal(mls_confirmed_transcript_hash_input_encode(
					 &w, ac.wire_format, &ac.content,
					 mls_bytes_view(&ac.auth.signature)),
				 0);
		assert_int_equal(w.len, len_without_last_vec(&b, ac.auth.confirmation_tag.len));
		assert_memory_equal(w.data, b.data, w.len);
		aim_buf_reset(&w);
		assert_int_equal(mls_interim_transcript_hash_input_encode(
					 &w, mls_bytes_view(&ac.auth.confirmation_tag)),
				 0);
		assert_int_equal(w.len, b.len - len_without_last_vec(&b, ac.auth.confirmation_tag.len));
		assert_memory_equal(w.data, b.data + b.len - w.len, w.len);
		mls_authenticated_content_free(&ac);
		aim_buf_free(&b);
	}
	json_decref(root);
	aim_buf_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_messages),
		cmocka_unit_test(test_vectors_other_files),
		cmocka_unit_test(test_public_message_shapes),
		cmocka_unit_test(test_refusals_enums),
		cmocka_unit_test(test_refusals_tls),
		cmocka_unit_test(test_leaf_and_tree),
		cmocka_unit_test(test_credentials_and_grease),
		cmocka_unit_test(test_private_content_and_sender_data),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_encoder_refusals_and_free),
		cmocka_unit_test(test_ownership_and_edit),
		cmocka_unit_test(test_tbs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
