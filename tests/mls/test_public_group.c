/* Unit tests of the public group (what the hub runs) and of the proposal
 * core under it: a group is driven by members whose Commits are built here
 * with the codec, the ratchet tree functions and TreeKEM (not with
 * proposals.c), and the public group must follow it to the same
 * GroupContext and interim transcript hash, epoch after epoch. Then one
 * test per refusal of threats.md section C that the library is
 * responsible for (34, 35, 37-43), each leaving the state untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "mls/framing.h"
#include "mls/labeled.h"
#include "mls/mls.h"
#include "mls/proposals.h"
#include "mls/schedule.h"
#include "mls/tls.h"
#include "mls/tree.h"

static const char gid_str[] = "public group test";
#define GID AIM_BYTES(gid_str, sizeof gid_str - 1)
#define MAXM 8

/* ---- The driver: members and their view of the group ------------------- */

struct member {
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	struct mls_tree_priv tpriv;
	uint32_t leaf;
	bool in;
};

struct tg {
	const struct aim_suite *cs;
	struct mls_group_context ctx;
	struct mls_tree tree;
	uint8_t interim[AIM_MAX_HASH];
	uint8_t tag[AIM_MAX_HASH]; /* confirmation tag of the last commit */
	struct member m[MAXM];
	struct mls_public_group *pg;
	/* an external sender */
	struct aim_buf ext_sk, ext_pk;
};

static void member_new(struct tg *g, size_t i)
{
	struct member *m = &g->m[i];
	char name[16];
	snprintf(name, sizeof name, "member%zu", i);
	struct mls_credential cred = { .type = MLS_CREDENTIAL_BASIC };
	assert_int_equal(mls_bytes_set(&cred.identity, name, strlen(name)), 0);
	struct mls_key_package_params p = { .cipher_suite = g->cs->id, .credential = &cred };
	assert_int_equal(mls_key_package_create(&p, &m->kp, &m->priv), 0);
	mls_credential_free(&cred);
	mls_tree_priv_init(&m->tpriv, g->cs, 0);
}

/* The member now sits at leaf: its private tree state starts with its
 * leaf key. */
static void member_placed(struct tg *g, size_t i, uint32_t leaf)
{
	struct member *m = &g->m[i];
	mls_tree_priv_free(&m->tpriv);
	mls_tree_priv_init(&m->tpriv, g->cs, leaf);
	assert_int_equal(mls_tree_priv_set(&m->tpriv, mls_tm_leaf_to_node(leaf),
					   mls_bytes_view(&m->priv.encryption_priv)),
			 0);
	m->leaf = leaf;
	m->in = true;
}

static struct aim_bytes sig_sk(const struct tg *g, size_t i)
{
	return mls_bytes_view(&g->m[i].priv.signature_priv);
}

static void random_bytes(uint8_t *p, size_t n)
{
	assert_int_equal(aim_random(p, n), 0);
}

/* A GroupInfo of the driver's current state signed by member i. */
static void make_group_info(const struct tg *g, size_t i, bool with_tree,
			    struct mls_group_info *gi)
{
	memset(gi, 0, sizeof *gi);
	assert_int_equal(mls_group_context_copy(&gi->group_context, &g->ctx), 0);
	if (with_tree) {
		struct aim_buf t;
		aim_buf_init(&t, MLS_MAX_MESSAGE);
		assert_int_equal(mls_tree_encode(&t, &g->tree), 0);
		gi->extensions.v = calloc(1, sizeof *gi->extensions.v);
		gi->extensions.n = 1;
		gi->extensions.v[0].type = MLS_EXT_RATCHET_TREE;
		assert_int_equal(mls_bytes_set(&gi->extensions.v[0].data, t.data, t.len), 0);
		aim_buf_free(&t);
	}
	assert_int_equal(mls_bytes_set(&gi->confirmation_tag, g->tag, g->cs->nh), 0);
	gi->signer = g->m[i].leaf;
	assert_int_equal(mls_group_info_sign(g->cs, gi, sig_sk(g, i)), 0);
}

/* The GroupContext and interim hash of the public group equal the
 * driver's. */
static void assert_in_sync(const struct tg *g)
{
	struct aim_buf a, b;
	aim_buf_init(&a, MLS_MAX_MESSAGE);
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_context_encode(&a, &g->ctx), 0);
	assert_int_equal(mls_public_group_export_context(g->pg, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	struct aim_bytes ih = mls_public_group_interim(g->pg);
	assert_int_equal(ih.len, g->cs->nh);
	assert_memory_equal(ih.p, g->interim, g->cs->nh);
	aim_buf_reset(&a);
	aim_buf_reset(&b);
	assert_int_equal(mls_tree_encode(&a, &g->tree), 0);
	assert_int_equal(mls_public_group_export_tree(g->pg, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	aim_buf_free(&a);
	aim_buf_free(&b);
}

/* Member 0 creates the group; the public group starts from its GroupInfo
 * with the tree out of band. */
static void tg_new(struct tg *g, uint16_t suite)
{
	memset(g, 0, sizeof *g);
	g->cs = aim_suite_get(suite);
	assert_non_null(g->cs);
	for (size_t i = 0; i < MAXM; i++)
		member_new(g, i);
	assert_int_equal(mls_tree_create(&g->tree, g->cs, &g->m[0].kp.leaf_node), 0);
	member_placed(g, 0, 0);
	g->ctx.version = MLS_VERSION_10;
	g->ctx.cipher_suite = suite;
	assert_int_equal(mls_bytes_set(&g->ctx.group_id, GID.p, GID.len), 0);
	uint8_t th[AIM_MAX_HASH];
	assert_int_equal(mls_tree_hash(&g->tree, th), 0);
	assert_int_equal(mls_bytes_set(&g->ctx.tree_hash, th, g->cs->nh), 0);
	random_bytes(g->tag, g->cs->nh);
	assert_int_equal(mls_transcript_interim(g->cs, AIM_BYTES(NULL, 0),
						AIM_BYTES(g->tag, g->cs->nh), g->interim),
			 0);
	struct mls_group_info gi;
	make_group_info(g, 0, false, &gi);
	struct aim_buf t;
	aim_buf_init(&t, MLS_MAX_MESSAGE);
	assert_int_equal(mls_tree_encode(&t, &g->tree), 0);
	assert_int_equal(mls_public_group_create(&gi, aim_buf_bytes(&t), NULL, 0, &g->pg), 0);
	aim_buf_free(&t);
	mls_group_info_free(&gi);
	aim_buf_init(&g->ext_sk, 256);
	aim_buf_init(&g->ext_pk, 256);
	assert_int_equal(aim_sig_keygen(g->cs->sig, &g->ext_sk, &g->ext_pk), 0);
	assert_int_equal(mls_public_group_epoch(g->pg), 0);
	assert_in_sync(g);
}

static void tg_free(struct tg *g)
{
	mls_group_context_free(&g->ctx);
	mls_tree_free(&g->tree);
	for (size_t i = 0; i < MAXM; i++) {
		mls_key_package_free(&g->m[i].kp);
		mls_key_package_priv_free(&g->m[i].priv);
		mls_tree_priv_free(&g->m[i].tpriv);
	}
	mls_public_group_free(g->pg);
	aim_buf_free_secret(&g->ext_sk);
	aim_buf_free(&g->ext_pk);
}

/* ---- Building handshake messages ------------------------------------------ */

/* One proposal of a commit: by value, or by reference to a proposal sent
 * by `sender` (a member leaf) earlier in the epoch. */
struct tprop {
	const struct mls_proposal *p;
	uint32_t sender;
	const uint8_t *ref;
};

/* A commit and the state it leads to, computed by the committer. */
struct tcommit {
	struct mls_public_message pm;
	struct mls_tree tree;
	struct mls_group_context ctx;
	uint8_t interim[AIM_MAX_HASH];
	uint8_t tag[AIM_MAX_HASH];
	uint32_t committer;
	size_t who;
	uint32_t added[MAXM];
	size_t n_added;
};

static void tcommit_free(struct tcommit *c)
{
	mls_public_message_free(&c->pm);
	mls_tree_free(&c->tree);
	mls_group_context_free(&c->ctx);
}

/* Signs pm's content again (after a test changed it) as member / joiner
 * who. */
static void resign(const struct tg *g, size_t who, struct mls_public_message *pm)
{
	assert_int_equal(mls_content_sign(g->cs, MLS_WIRE_PUBLIC_MESSAGE, &pm->content, &g->ctx,
					  sig_sk(g, who), &pm->auth),
			 0);
}

/* Member `who` (or, when external, the joiner `who`) commits props.
 * lenient: the list may be invalid; the committer's own application of it
 * is best effort (the public group must refuse it anyway). */
static void make_commit(struct tg *g, size_t who, bool external, const struct tprop *props,
			size_t n, bool with_path, bool lenient, struct tcommit *c)
{
	const struct aim_suite *cs = g->cs;
	memset(c, 0, sizeof *c);
	c->who = who;
	assert_int_equal(mls_tree_copy(&c->tree, &g->tree), 0);
	assert_int_equal(mls_group_context_copy(&c->ctx, &g->ctx), 0);
	/* the committer's application: GCE, Update, Remove, Add */
	for (size_t i = 0; i < n; i++)
		if (props[i].p->type == MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS) {
			mls_extension_list_free(&c->ctx.extensions);
			assert_int_equal(mls_extension_list_copy(&c->ctx.extensions,
						&props[i].p->group_context_extensions.extensions),
					 0);
		}
	static const uint16_t order[] = { MLS_PROPOSAL_UPDATE, MLS_PROPOSAL_REMOVE, MLS_PROPOSAL_ADD };
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < n; i++) {
			if (props[i].p->type != order[k])
				continue;
			uint32_t added = 0;
			int rc = mls_tree_apply_proposal(&c->tree, props[i].p, props[i].sender, &added);
			if (!lenient)
				assert_int_equal(rc, 0);
			aim_errclear();
			if (rc == 0 && order[k] == MLS_PROPOSAL_ADD && c->n_added < MAXM)
				c->added[c->n_added++] = added;
		}
	struct mls_framed_content fc = { 0 };
	assert_int_equal(mls_bytes_set(&fc.group_id, GID.p, GID.len), 0);
	fc.epoch = g->ctx.epoch;
	fc.content_type = MLS_CONTENT_COMMIT;
	if (external) {
		fc.sender.type = MLS_SENDER_NEW_MEMBER_COMMIT;
		uint32_t leaf;
		assert_int_equal(mls_tree_add_leaf(&c->tree, &g->m[who].kp.leaf_node, &leaf), 0);
		member_placed(g, who, leaf);
		g->m[who].in = false; /* not yet */
		c->committer = leaf;
	} else {
		fc.sender.type = MLS_SENDER_MEMBER;
		fc.sender.index = g->m[who].leaf;
		c->committer = g->m[who].leaf;
	}
	struct mls_commit *cm = &fc.commit;
	cm->n_proposals = n;
	cm->proposals = n ? calloc(n, sizeof *cm->proposals) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (props[i].ref) {
			cm->proposals[i].type = MLS_POR_REFERENCE;
			assert_int_equal(mls_bytes_set(&cm->proposals[i].reference, props[i].ref, cs->nh),
					 0);
		} else {
			cm->proposals[i].type = MLS_POR_PROPOSAL;
			assert_int_equal(mls_proposal_copy(&cm->proposals[i].proposal, props[i].p), 0);
		}
	}
	struct aim_buf prov;
	aim_buf_init(&prov, MLS_MAX_MESSAGE);
	uint8_t th[AIM_MAX_HASH];
	if (with_path) {
		struct mls_treekem_secrets sec;
		int rc = mls_treekem_create(&c->tree, &g->m[who].tpriv, c->committer, GID,
					    sig_sk(g, who), NULL, &cm->path, &sec);
		if (rc != 0 && lenient) {
			/* e.g. the committer removed itself: a path over the
			 * old tree, so that only the list is wrong */
			mls_tree_free(&c->tree);
			assert_int_equal(mls_tree_copy(&c->tree, &g->tree), 0);
			rc = mls_treekem_create(&c->tree, &g->m[who].tpriv, c->committer, GID,
						sig_sk(g, who), NULL, &cm->path, &sec);
		}
		assert_int_equal(rc, 0);
		cm->has_path = true;
		c->ctx.epoch++;
		assert_int_equal(mls_tree_hash(&c->tree, th), 0);
		assert_int_equal(mls_bytes_set(&c->ctx.tree_hash, th, cs->nh), 0);
		assert_int_equal(mls_group_context_encode(&prov, &c->ctx), 0);
		assert_int_equal(mls_treekem_encrypt(&c->tree, c->committer, &sec,
						     aim_buf_bytes(&prov), c->added, c->n_added,
						     &cm->path),
				 0);
		mls_treekem_secrets_wipe(&sec);
	} else {
		c->ctx.epoch++;
		assert_int_equal(mls_tree_hash(&c->tree, th), 0);
		assert_int_equal(mls_bytes_set(&c->ctx.tree_hash, th, cs->nh), 0);
	}
	aim_buf_free(&prov);
	/* sign with the old context; transcript; a confirmation tag (its
	 * value is a member matter: random here) */
	struct mls_framed_content_auth_data auth = { 0 };
	assert_int_equal(mls_content_sign(cs, MLS_WIRE_PUBLIC_MESSAGE, &fc, &g->ctx, sig_sk(g, who),
					  &auth),
			 0);
	random_bytes(c->tag, cs->nh);
	assert_int_equal(mls_bytes_set(&auth.confirmation_tag, c->tag, cs->nh), 0);
	uint8_t confirmed[AIM_MAX_HASH];
	assert_int_equal(mls_transcript_confirmed(cs, AIM_BYTES(g->interim, cs->nh),
						  MLS_WIRE_PUBLIC_MESSAGE, &fc,
						  mls_bytes_view(&auth.signature), confirmed),
			 0);
	assert_int_equal(mls_transcript_interim(cs, AIM_BYTES(confirmed, cs->nh),
						AIM_BYTES(c->tag, cs->nh), c->interim),
			 0);
	assert_int_equal(mls_bytes_set(&c->ctx.confirmed_transcript_hash, confirmed, cs->nh), 0);
	uint8_t mk[AIM_MAX_HASH];
	random_bytes(mk, cs->nh);
	assert_int_equal(mls_public_message_protect(cs, &fc, &auth, &g->ctx, AIM_BYTES(mk, cs->nh),
						    &c->pm),
			 0);
	mls_framed_content_free(&fc);
	mls_framed_content_auth_data_free(&auth);
}

/* The commit was accepted: the driver moves to its state. */
static void adopt(struct tg *g, struct tcommit *c, const struct tprop *props, size_t n)
{
	mls_tree_free(&g->tree);
	g->tree = c->tree;
	mls_tree_init(&c->tree, g->cs);
	mls_group_context_free(&g->ctx);
	g->ctx = c->ctx;
	memset(&c->ctx, 0, sizeof c->ctx);
	memcpy(g->interim, c->interim, sizeof g->interim);
	memcpy(g->tag, c->tag, sizeof g->tag);
	/* who is where now */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (props[i].p->type == MLS_PROPOSAL_REMOVE) {
			for (size_t j = 0; j < MAXM; j++)
				if (g->m[j].in && g->m[j].leaf == props[i].p->remove.removed)
					g->m[j].in = false;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (props[i].p->type != MLS_PROPOSAL_ADD)
			continue;
		for (size_t j = 0; j < MAXM; j++)
			if (mls_bytes_equal(&g->m[j].kp.leaf_node.signature_key,
					    &props[i].p->add.key_package.leaf_node.signature_key))
				member_placed(g, j, c->added[k]);
		k++;
	}
	g->m[c->who].in = true;
	g->m[c->who].leaf = c->committer;
	for (size_t j = 0; j < MAXM; j++)
		if (g->m[j].in)
			mls_tree_priv_prune(&g->m[j].tpriv, &g->tree);
	tcommit_free(c);
}

/* The public group accepts the commit and ends where the committer did. */
static void commit_ok(struct tg *g, size_t who, const struct tprop *props, size_t n,
		      bool with_path)
{
	struct tcommit c;
	make_commit(g, who, false, props, n, with_path, false, &c);
	struct mls_public_result res;
	uint64_t e = mls_public_group_epoch(g->pg);
	int rc = mls_public_group_process(g->pg, &c.pm, &res);
	if (rc != 0)
		fprintf(stderr, "refused: %s: %s\n", aim_errname(aim_errcode()), aim_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(res.epoch, e + 1);
	assert_int_equal(res.content_type, MLS_CONTENT_COMMIT);
	assert_int_equal(res.committer, g->m[who].leaf);
	assert_int_equal(res.n_added, c.n_added);
	for (size_t i = 0; i < c.n_added; i++)
		assert_int_equal(res.added[i], c.added[i]);
	mls_public_result_free(&res);
	adopt(g, &c, props, n);
	assert_in_sync(g);
}

/* The public group refuses pm with code and keeps its state. */
static void expect_refused(struct tg *g, const struct mls_public_message *pm, enum aim_err code)
{
	struct aim_buf before, after;
	aim_buf_init(&before, MLS_MAX_PUBLIC_STATE);
	aim_buf_init(&after, MLS_MAX_PUBLIC_STATE);
	assert_int_equal(mls_public_group_encode(g->pg, &before), 0);
	aim_errclear();
	struct mls_public_result res;
	assert_int_equal(mls_public_group_process(g->pg, pm, &res), -1);
	if (aim_errcode() != code)
		fprintf(stderr, "expected %s, got %s: %s\n", aim_errname(code),
			aim_errname(aim_errcode()), aim_errmsg());
	if (getenv("AIM_TEST_VERBOSE"))
		fprintf(stderr, "  refused: %s: %s\n", aim_errname(aim_errcode()), aim_errmsg());
	assert_int_equal(aim_errcode(), code);
	assert_int_equal(mls_public_group_encode(g->pg, &after), 0);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	assert_in_sync(g);
	aim_buf_free(&before);
	aim_buf_free(&after);
}

static void commit_refused(struct tg *g, size_t who, const struct tprop *props, size_t n,
			   bool with_path, enum aim_err code)
{
	struct tcommit c;
	make_commit(g, who, false, props, n, with_path, true, &c);
	expect_refused(g, &c.pm, code);
	/* the committer's private state may have moved: restore its leaf key */
	member_placed(g, who, g->m[who].leaf);
	tcommit_free(&c);
}

/* A proposal sent as a PublicMessage by a member leaf or an external
 * sender; ref receives its ProposalRef as the sender computes it. */
static void make_proposal(const struct tg *g, struct mls_sender sender, struct aim_bytes sk,
			  const struct mls_proposal *p, struct mls_public_message *pm,
			  uint8_t ref[AIM_MAX_HASH])
{
	const struct aim_suite *cs = g->cs;
	struct mls_framed_content fc = { 0 };
	assert_int_equal(mls_bytes_set(&fc.group_id, GID.p, GID.len), 0);
	fc.epoch = g->ctx.epoch;
	fc.sender = sender;
	fc.content_type = MLS_CONTENT_PROPOSAL;
	assert_int_equal(mls_proposal_copy(&fc.proposal, p), 0);
	struct mls_authenticated_content ac = { .wire_format = MLS_WIRE_PUBLIC_MESSAGE };
	assert_int_equal(mls_content_sign(cs, MLS_WIRE_PUBLIC_MESSAGE, &fc, &g->ctx, sk, &ac.auth),
			 0);
	uint8_t mk[AIM_MAX_HASH];
	random_bytes(mk, cs->nh);
	assert_int_equal(mls_public_message_protect(cs, &fc, &ac.auth, &g->ctx,
						    AIM_BYTES(mk, cs->nh), pm),
			 0);
	ac.content = fc;
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	assert_int_equal(mls_authenticated_content_encode(&b, &ac), 0);
	assert_int_equal(mls_proposal_ref(cs, aim_buf_bytes(&b), ref), 0);
	aim_buf_free(&b);
	mls_authenticated_content_free(&ac);
}

static struct mls_sender member(const struct tg *g, size_t i)
{
	struct mls_sender s = { .type = MLS_SENDER_MEMBER, .index = g->m[i].leaf };
	return s;
}

static void add_of(const struct tg *g, size_t i, struct mls_proposal *p)
{
	memset(p, 0, sizeof *p);
	p->type = MLS_PROPOSAL_ADD;
	assert_int_equal(mls_key_package_copy(&p->add.key_package, &g->m[i].kp), 0);
}

static void remove_of(const struct tg *g, size_t i, struct mls_proposal *p)
{
	memset(p, 0, sizeof *p);
	p->type = MLS_PROPOSAL_REMOVE;
	p->remove.removed = g->m[i].leaf;
}

static void psk_of(const struct tg *g, const char *id, struct mls_proposal *p)
{
	memset(p, 0, sizeof *p);
	p->type = MLS_PROPOSAL_PSK;
	p->psk.psk.psktype = MLS_PSK_EXTERNAL;
	assert_int_equal(mls_bytes_set(&p->psk.psk.psk_id, id, strlen(id)), 0);
	uint8_t nonce[AIM_MAX_HASH];
	random_bytes(nonce, g->cs->nh);
	assert_int_equal(mls_bytes_set(&p->psk.psk.psk_nonce, nonce, g->cs->nh), 0);
}

/* Member i's Update: a fresh encryption key in an update-source leaf. */
static void update_of(struct tg *g, size_t i, struct mls_proposal *p)
{
	const struct aim_suite *cs = g->cs;
	memset(p, 0, sizeof *p);
	p->type = MLS_PROPOSAL_UPDATE;
	struct mls_leaf_node *ln = &p->update.leaf_node;
	assert_int_equal(mls_leaf_node_copy(ln, mls_tree_leaf(&g->tree, g->m[i].leaf)), 0);
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	assert_int_equal(aim_kem_keygen(cs->kem, &sk, &pk), 0);
	assert_int_equal(mls_bytes_set(&ln->encryption_key, pk.data, pk.len), 0);
	ln->source = MLS_LEAF_SOURCE_UPDATE;
	memset(&ln->lifetime, 0, sizeof ln->lifetime);
	mls_bytes_free(&ln->parent_hash);
	assert_int_equal(mls_leaf_node_sign(cs, ln, GID, g->m[i].leaf, sig_sk(g, i)), 0);
	/* the member's private key follows */
	mls_bytes_free_secret(&g->m[i].priv.encryption_priv);
	assert_int_equal(mls_bytes_set(&g->m[i].priv.encryption_priv, sk.data, sk.len), 0);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
}

static void gce_of(struct mls_proposal *p, const struct mls_extension_list *ext)
{
	memset(p, 0, sizeof *p);
	p->type = MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
	assert_int_equal(mls_extension_list_copy(&p->group_context_extensions.extensions, ext), 0);
}

/* A group of n members (0 adds the others: two by value without a path,
 * the rest with a path). */
static void tg_grow(struct tg *g, size_t n)
{
	for (size_t i = 1; i < n; i += 2) {
		struct mls_proposal p[2];
		struct tprop tp[2];
		size_t k = 0;
		for (size_t j = i; j < n && j < i + 2; j++, k++) {
			add_of(g, j, &p[k]);
			tp[k] = (struct tprop){ .p = &p[k] };
		}
		commit_ok(g, 0, tp, k, i != 1);
		for (size_t j = 0; j < k; j++)
			mls_proposal_free(&p[j]);
	}
}

/* ---- Following a group ------------------------------------------------------ */

static void follow(uint16_t suite)
{
	struct tg g;
	tg_new(&g, suite);
	tg_grow(&g, 5);
	assert_int_equal(mls_public_group_epoch(g.pg), 2);
	assert_int_equal(mls_public_group_member_count(g.pg), 5);

	/* an empty commit with a path by member 2 */
	commit_ok(&g, 2, NULL, 0, true);

	/* member 3 proposes an Update; member 1 commits it by reference */
	struct mls_proposal up;
	update_of(&g, 3, &up);
	struct mls_public_message pm;
	uint8_t ref[AIM_MAX_HASH];
	make_proposal(&g, member(&g, 3), sig_sk(&g, 3), &up, &pm, ref);
	struct mls_public_result res;
	assert_int_equal(mls_public_group_process(g.pg, &pm, &res), 0);
	assert_int_equal(res.content_type, MLS_CONTENT_PROPOSAL);
	assert_int_equal(res.epoch, 3);
	assert_memory_equal(res.proposal_ref, ref, g.cs->nh);
	mls_public_result_free(&res);
	/* the same proposal twice is refused */
	aim_errclear();
	assert_int_equal(mls_public_group_process(g.pg, &pm, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	mls_public_message_free(&pm);
	/* the state survives serialisation with its cache */
	struct aim_buf st;
	aim_buf_init(&st, MLS_MAX_PUBLIC_STATE);
	assert_int_equal(mls_public_group_encode(g.pg, &st), 0);
	mls_public_group_free(g.pg);
	assert_int_equal(mls_public_group_parse(st.data, st.len, NULL, 0, &g.pg), 0);
	aim_buf_free(&st);
	struct tprop tp = { .p = &up, .sender = g.m[3].leaf, .ref = ref };
	commit_ok(&g, 1, &tp, 1, true);
	mls_proposal_free(&up);

	/* member 0 removes member 4 (by value, with a path) */
	struct mls_proposal rm;
	remove_of(&g, 4, &rm);
	tp = (struct tprop){ .p = &rm };
	commit_ok(&g, 0, &tp, 1, true);
	mls_proposal_free(&rm);
	assert_int_equal(mls_public_group_member_count(g.pg), 4);

	/* a PSK without a path, then an Add without a path into the hole */
	struct mls_proposal psk;
	psk_of(&g, "external psk", &psk);
	tp = (struct tprop){ .p = &psk };
	commit_ok(&g, 2, &tp, 1, false);
	mls_proposal_free(&psk);
	struct mls_proposal add;
	add_of(&g, 5, &add);
	tp = (struct tprop){ .p = &add };
	commit_ok(&g, 3, &tp, 1, false);
	mls_proposal_free(&add);
	assert_true(g.m[5].in);
	assert_int_equal(g.m[5].leaf, 4);

	/* a GroupContextExtensions adding application_id */
	struct mls_extension_list ext = { 0 };
	ext.v = calloc(1, sizeof *ext.v);
	ext.n = 1;
	ext.v[0].type = MLS_EXT_APPLICATION_ID;
	assert_int_equal(mls_bytes_set(&ext.v[0].data, "aim", 3), 0);
	struct mls_proposal gce;
	gce_of(&gce, &ext);
	tp = (struct tprop){ .p = &gce };
	commit_ok(&g, 5, &tp, 1, true);
	mls_proposal_free(&gce);
	mls_extension_list_free(&ext);
	assert_non_null(mls_extension_find(&mls_public_group_context(g.pg)->extensions,
					   MLS_EXT_APPLICATION_ID));
	assert_int_equal(mls_public_group_epoch(g.pg), 8);
	tg_free(&g);
}

static void test_follow_suite1(void **state)
{
	(void)state;
	follow(1);
}

static void test_follow_suite2(void **state)
{
	(void)state;
	follow(2);
}

static void test_follow_suite3(void **state)
{
	(void)state;
	follow(3);
}

/* ---- GroupInfo ------------------------------------------------------------------ */

static void test_group_info(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	/* the creator's GroupInfo is known */
	assert_int_equal(mls_public_group_group_info(g.pg, &w), 0);
	tg_grow(&g, 3);
	/* after a commit it is not, until a member sends one */
	aim_buf_reset(&w);
	assert_int_equal(mls_public_group_group_info(g.pg, &w), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	struct mls_group_info gi;
	make_group_info(&g, 1, true, &gi);
	assert_int_equal(mls_public_group_set_group_info(g.pg, &gi), 0);
	aim_buf_reset(&w);
	assert_int_equal(mls_public_group_group_info(g.pg, &w), 0);
	struct mls_group_info back;
	assert_int_equal(mls_group_info_parse(w.data, w.len, &back), 0);
	assert_int_equal(back.signer, g.m[1].leaf);
	/* a new device can start a public group from it (tree inside) */
	struct mls_public_group *pg2;
	assert_int_equal(mls_public_group_create(&back, AIM_BYTES(NULL, 0), NULL, 0, &pg2), 0);
	assert_int_equal(mls_public_group_epoch(pg2), mls_public_group_epoch(g.pg));
	mls_public_group_free(pg2);
	mls_group_info_free(&back);

	/* a GroupInfo whose confirmation tag is not the last commit's */
	struct mls_group_info bad;
	make_group_info(&g, 1, false, &bad);
	bad.confirmation_tag.p[0] ^= 1;
	assert_int_equal(mls_group_info_sign(g.cs, &bad, sig_sk(&g, 1)), 0);
	assert_int_equal(mls_public_group_set_group_info(g.pg, &bad), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_group_info_free(&bad);
	/* signed with a key that is not the signer's */
	make_group_info(&g, 1, false, &bad);
	assert_int_equal(mls_group_info_sign(g.cs, &bad, sig_sk(&g, 2)), 0);
	assert_int_equal(mls_public_group_set_group_info(g.pg, &bad), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_group_info_free(&bad);
	/* for another epoch */
	make_group_info(&g, 1, false, &bad);
	bad.group_context.epoch--;
	assert_int_equal(mls_group_info_sign(g.cs, &bad, sig_sk(&g, 1)), 0);
	assert_int_equal(mls_public_group_set_group_info(g.pg, &bad), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	mls_group_info_free(&bad);

	/* Creation refusals: bad signature, wrong tree hash, no tree, a
	 * member the application refuses. */
	gi.signature.p[3] ^= 1;
	assert_int_equal(mls_public_group_create(&gi, AIM_BYTES(NULL, 0), NULL, 0, &pg2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	gi.signature.p[3] ^= 1;
	gi.group_context.tree_hash.p[0] ^= 1;
	assert_int_equal(mls_group_info_sign(g.cs, &gi, sig_sk(&g, 1)), 0);
	assert_int_equal(mls_public_group_create(&gi, AIM_BYTES(NULL, 0), NULL, 0, &pg2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_group_info_free(&gi);
	make_group_info(&g, 1, false, &gi);
	assert_int_equal(mls_public_group_create(&gi, AIM_BYTES(NULL, 0), NULL, 0, &pg2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	mls_group_info_free(&gi);
	aim_buf_free(&w);
	tg_free(&g);
}

static int refuse_member2(void *arg, enum mls_credential_role role,
			  const struct mls_credential *cred, struct aim_bytes key)
{
	(void)arg;
	(void)key;
	assert_int_equal(role, MLS_CRED_MEMBER);
	if (cred->identity.len == 7 && memcmp(cred->identity.p, "member2", 7) == 0)
		return aim_fail(AIM_ERR_DENIED, "member2 is not trusted");
	return 0;
}

static void test_create_hook(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 3);
	struct mls_group_info gi;
	make_group_info(&g, 0, true, &gi);
	struct mls_credential_hook hook = { .fn = refuse_member2 };
	struct mls_public_group *pg2;
	assert_int_equal(mls_public_group_create(&gi, AIM_BYTES(NULL, 0), &hook, 0, &pg2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	/* The same as an MLSMessage; a KeyPackage where a GroupInfo is
	 * expected is refused. */
	struct mls_message msg = { .version = MLS_VERSION_10, .wire_format = MLS_WIRE_GROUP_INFO };
	msg.group_info = gi;
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	assert_int_equal(mls_message_encode(&w, &msg), 0);
	assert_int_equal(mls_public_group_create_from_message(aim_buf_bytes(&w), AIM_BYTES(NULL, 0),
							      NULL, 0, &pg2),
			 0);
	mls_public_group_free(pg2);
	mls_group_info_free(&gi);
	aim_buf_reset(&w);
	struct mls_message kpm = { .version = MLS_VERSION_10, .wire_format = MLS_WIRE_KEY_PACKAGE };
	kpm.key_package = g.m[6].kp;
	assert_int_equal(mls_message_encode(&w, &kpm), 0);
	assert_int_equal(mls_public_group_create_from_message(aim_buf_bytes(&w), AIM_BYTES(NULL, 0),
							      NULL, 0, &pg2),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	/* threats.md C46: and it is no PublicMessage either */
	assert_int_equal(mls_public_group_process_message(g.pg, aim_buf_bytes(&w), NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	aim_buf_free(&w);
	tg_free(&g);
}

/* ---- threats.md C34, C35, C37: epoch and group ------------------------------------- */

static void test_refuse_epoch_and_group(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 3);
	/* a commit built for the current epoch, then the group moves on */
	struct tcommit stale;
	make_commit(&g, 1, false, NULL, 0, true, false, &stale);
	member_placed(&g, 1, g.m[1].leaf);
	commit_ok(&g, 2, NULL, 0, true);
	/* C34: stale epoch -> CONFLICT, current epoch readable */
	expect_refused(&g, &stale.pm, AIM_ERR_CONFLICT);
	assert_int_equal(mls_public_group_epoch(g.pg), 2);
	/* and from the future */
	stale.pm.content.epoch = 7;
	resign(&g, 1, &stale.pm);
	expect_refused(&g, &stale.pm, AIM_ERR_CONFLICT);
	/* C37: another group */
	stale.pm.content.epoch = mls_public_group_epoch(g.pg);
	assert_int_equal(mls_bytes_set(&stale.pm.content.group_id, "other", 5), 0);
	resign(&g, 1, &stale.pm);
	expect_refused(&g, &stale.pm, AIM_ERR_INVALID);
	tcommit_free(&stale);

	/* C35: PrivateMessages for another epoch or group */
	struct mls_private_message pm = { .epoch = 2, .content_type = MLS_CONTENT_APPLICATION };
	assert_int_equal(mls_bytes_set(&pm.group_id, GID.p, GID.len), 0);
	assert_int_equal(mls_public_group_check_private(g.pg, &pm), 0);
	pm.epoch = 3;
	assert_int_equal(mls_public_group_check_private(g.pg, &pm), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	pm.epoch = 1;
	assert_int_equal(mls_public_group_check_private(g.pg, &pm), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	pm.epoch = 2;
	assert_int_equal(mls_bytes_set(&pm.group_id, "other", 5), 0);
	assert_int_equal(mls_public_group_check_private(g.pg, &pm), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	mls_private_message_free(&pm);

	/* the group still works */
	commit_ok(&g, 0, NULL, 0, true);
	tg_free(&g);
}

/* ---- C38, C39, C40: sender, content type, signature, tags --------------------- */

static void test_refuse_sender(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 4);
	/* member 3 leaves */
	struct mls_proposal rm;
	remove_of(&g, 3, &rm);
	struct tprop tp = { .p = &rm };
	uint32_t gone = g.m[3].leaf;
	commit_ok(&g, 0, &tp, 1, true);
	mls_proposal_free(&rm);

	struct tcommit c;
	make_commit(&g, 1, false, NULL, 0, true, false, &c);
	member_placed(&g, 1, g.m[1].leaf);
	/* C38: a leaf index outside the tree */
	c.pm.content.sender.index = 1000;
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_NOTFOUND);
	/* a blank leaf (the removed member, signing with its old key) */
	c.pm.content.sender.index = gone;
	resign(&g, 3, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_NOTFOUND);
	/* another member's leaf with the committer's signature */
	c.pm.content.sender.index = g.m[2].leaf;
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	/* an external sender of a commit, and without external_senders */
	c.pm.content.sender.type = MLS_SENDER_EXTERNAL;
	c.pm.content.sender.index = 0;
	expect_refused(&g, &c.pm, AIM_ERR_INVALID);
	tcommit_free(&c);

	/* external proposal while the group has no external_senders */
	struct mls_proposal add;
	add_of(&g, 6, &add);
	struct mls_public_message pm;
	uint8_t ref[AIM_MAX_HASH];
	struct mls_sender ext = { .type = MLS_SENDER_EXTERNAL, .index = 0 };
	make_proposal(&g, ext, aim_buf_bytes(&g.ext_sk), &add, &pm, ref);
	expect_refused(&g, &pm, AIM_ERR_NOTFOUND);
	mls_public_message_free(&pm);
	mls_proposal_free(&add);
	tg_free(&g);
}

static void test_refuse_content_and_tags(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 3);
	struct tcommit c;
	make_commit(&g, 1, false, NULL, 0, true, false, &c);
	member_placed(&g, 1, g.m[1].leaf);

	/* C40: no confirmation tag; a truncated one; a bad signature; content
	 * changed after signing */
	struct mls_bytes tag = c.pm.auth.confirmation_tag;
	memset(&c.pm.auth.confirmation_tag, 0, sizeof tag);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	c.pm.auth.confirmation_tag = tag;
	c.pm.auth.confirmation_tag.len--;
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	c.pm.auth.confirmation_tag.len++;
	c.pm.auth.signature.p[c.pm.auth.signature.len / 2] ^= 1;
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	c.pm.auth.signature.p[c.pm.auth.signature.len / 2] ^= 1;
	c.pm.content.authenticated_data.p = (uint8_t *)strdup("x");
	c.pm.content.authenticated_data.len = 1;
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	mls_bytes_free(&c.pm.content.authenticated_data);
	/* signed by someone else entirely */
	resign(&g, 2, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	/* a membership tag is not checkable here: a wrong one passes (the
	 * members refuse it) */
	resign(&g, 1, &c.pm);
	c.pm.membership_tag.p[0] ^= 1;
	struct mls_public_result res;
	assert_int_equal(mls_public_group_process(g.pg, &c.pm, &res), 0);
	mls_public_result_free(&res);
	adopt(&g, &c, NULL, 0);
	assert_in_sync(&g);

	/* C39: application data as a PublicMessage */
	struct mls_public_message pm = { 0 };
	assert_int_equal(mls_bytes_set(&pm.content.group_id, GID.p, GID.len), 0);
	pm.content.epoch = g.ctx.epoch;
	pm.content.sender = member(&g, 2);
	pm.content.content_type = MLS_CONTENT_APPLICATION;
	assert_int_equal(mls_bytes_set(&pm.content.application_data, "hello", 5), 0);
	resign(&g, 2, &pm);
	assert_int_equal(mls_bytes_set(&pm.membership_tag, g.tag, g.cs->nh), 0);
	expect_refused(&g, &pm, AIM_ERR_INVALID);
	mls_public_message_free(&pm);
	tg_free(&g);
}

/* ---- C41: proposal lists --------------------------------------------------------- */

static void test_refuse_proposal_lists(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 4);
	struct mls_proposal p[3];
	struct tprop tp[3];

	/* the committer removes itself */
	remove_of(&g, 1, &p[0]);
	tp[0] = (struct tprop){ .p = &p[0] };
	commit_refused(&g, 1, tp, 1, true, AIM_ERR_INVALID);
	mls_proposal_free(&p[0]);

	/* two changes to one leaf: member 3's Update (by reference) and a
	 * Remove of member 3; and two Removes of one leaf */
	update_of(&g, 3, &p[0]);
	struct mls_public_message pm;
	uint8_t ref[AIM_MAX_HASH];
	make_proposal(&g, member(&g, 3), sig_sk(&g, 3), &p[0], &pm, ref);
	assert_int_equal(mls_public_group_process(g.pg, &pm, NULL), 0);
	mls_public_message_free(&pm);
	remove_of(&g, 3, &p[1]);
	tp[0] = (struct tprop){ .p = &p[0], .sender = g.m[3].leaf, .ref = ref };
	tp[1] = (struct tprop){ .p = &p[1] };
	commit_refused(&g, 1, tp, 2, true, AIM_ERR_INVALID);
	tp[0] = (struct tprop){ .p = &p[1] };
	commit_refused(&g, 1, tp, 2, true, AIM_ERR_INVALID);
	/* an Update by the committer itself (by value) */
	tp[0] = (struct tprop){ .p = &p[0], .sender = g.m[3].leaf };
	commit_refused(&g, 3, tp, 1, true, AIM_ERR_INVALID);
	mls_proposal_free(&p[0]);
	mls_proposal_free(&p[1]);

	/* an Add of an existing member: a KeyPackage with member 2's
	 * signature key */
	struct mls_credential cred = { .type = MLS_CREDENTIAL_BASIC };
	assert_int_equal(mls_bytes_set(&cred.identity, "member2", 7), 0);
	struct mls_key_package_params kpp = {
		.cipher_suite = 1,
		.credential = &cred,
		.signature_priv = sig_sk(&g, 2),
	};
	struct mls_key_package_priv kpriv;
	memset(&p[0], 0, sizeof p[0]);
	p[0].type = MLS_PROPOSAL_ADD;
	assert_int_equal(mls_key_package_create(&kpp, &p[0].add.key_package, &kpriv), 0);
	tp[0] = (struct tprop){ .p = &p[0] };
	commit_refused(&g, 0, tp, 1, false, AIM_ERR_EXISTS);
	/* ... which is fine when member 2 is removed in the same commit */
	remove_of(&g, 2, &p[1]);
	tp[1] = (struct tprop){ .p = &p[1] };
	commit_ok(&g, 0, tp, 2, true);
	mls_key_package_priv_free(&kpriv);
	mls_credential_free(&cred);
	mls_proposal_free(&p[0]);
	mls_proposal_free(&p[1]);

	/* two Adds of one client */
	add_of(&g, 6, &p[0]);
	add_of(&g, 6, &p[1]);
	tp[0] = (struct tprop){ .p = &p[0] };
	tp[1] = (struct tprop){ .p = &p[1] };
	commit_refused(&g, 0, tp, 2, false, AIM_ERR_INVALID);
	mls_proposal_free(&p[1]);

	/* ReInit with anything else; ReInit alone is fine */
	memset(&p[1], 0, sizeof p[1]);
	p[1].type = MLS_PROPOSAL_REINIT;
	assert_int_equal(mls_bytes_set(&p[1].reinit.group_id, "new group", 9), 0);
	p[1].reinit.version = MLS_VERSION_10;
	p[1].reinit.cipher_suite = 3;
	tp[1] = (struct tprop){ .p = &p[1] };
	commit_refused(&g, 0, tp, 2, false, AIM_ERR_INVALID);
	mls_proposal_free(&p[0]);

	/* ExternalInit in a member's commit */
	memset(&p[0], 0, sizeof p[0]);
	p[0].type = MLS_PROPOSAL_EXTERNAL_INIT;
	uint8_t kem[AIM_MAX_KEM_PK];
	random_bytes(kem, g.cs->kem_nenc);
	assert_int_equal(mls_bytes_set(&p[0].external_init.kem_output, kem, g.cs->kem_nenc), 0);
	tp[0] = (struct tprop){ .p = &p[0] };
	commit_refused(&g, 0, tp, 1, true, AIM_ERR_INVALID);
	mls_proposal_free(&p[0]);

	/* the same PSK twice; a PSK nonce of the wrong size; a resumption PSK
	 * of usage reinit */
	psk_of(&g, "psk", &p[0]);
	assert_int_equal(mls_proposal_copy(&p[2], &p[0]), 0);
	tp[0] = (struct tprop){ .p = &p[0] };
	tp[2] = (struct tprop){ .p = &p[2] };
	struct tprop two[2] = { tp[0], tp[2] };
	commit_refused(&g, 0, two, 2, false, AIM_ERR_INVALID);
	p[0].psk.psk.psk_nonce.len--;
	commit_refused(&g, 0, tp, 1, false, AIM_ERR_INVALID);
	p[0].psk.psk.psk_nonce.len++;
	mls_bytes_free(&p[0].psk.psk.psk_id);
	p[0].psk.psk.psktype = MLS_PSK_RESUMPTION;
	p[0].psk.psk.usage = MLS_RESUMPTION_REINIT;
	assert_int_equal(mls_bytes_set(&p[0].psk.psk.psk_group_id, GID.p, GID.len), 0);
	commit_refused(&g, 0, tp, 1, false, AIM_ERR_INVALID);
	mls_proposal_free(&p[0]);
	mls_proposal_free(&p[2]);

	/* ReInit alone goes through and is reported */
	struct tcommit c;
	tp[0] = (struct tprop){ .p = &p[1] };
	make_commit(&g, 0, false, tp, 1, false, false, &c);
	struct mls_public_result res;
	assert_int_equal(mls_public_group_process(g.pg, &c.pm, &res), 0);
	assert_true(res.reinit);
	mls_public_result_free(&res);
	adopt(&g, &c, tp, 1);
	assert_in_sync(&g);
	mls_proposal_free(&p[1]);

	/* a path is required for a Remove; an empty commit needs one too */
	remove_of(&g, 1, &p[0]);
	tp[0] = (struct tprop){ .p = &p[0] };
	commit_refused(&g, 0, tp, 1, false, AIM_ERR_INVALID);
	commit_refused(&g, 0, NULL, 0, false, AIM_ERR_INVALID);
	mls_proposal_free(&p[0]);

	/* two GCEs; a GCE with an extension no member supports */
	struct mls_extension_list ext = { 0 };
	ext.v = calloc(1, sizeof *ext.v);
	ext.n = 1;
	ext.v[0].type = MLS_EXT_APPLICATION_ID;
	gce_of(&p[0], &ext);
	gce_of(&p[1], &ext);
	tp[0] = (struct tprop){ .p = &p[0] };
	tp[1] = (struct tprop){ .p = &p[1] };
	commit_refused(&g, 0, tp, 2, true, AIM_ERR_INVALID);
	mls_proposal_free(&p[0]);
	mls_proposal_free(&p[1]);
	ext.v[0].type = 0xff00;
	gce_of(&p[0], &ext);
	commit_refused(&g, 0, tp, 1, true, AIM_ERR_UNSUPPORTED);
	mls_proposal_free(&p[0]);
	/* required_capabilities that a member lacks */
	struct mls_required_capabilities rc = { 0 };
	rc.extension_types.v = calloc(1, sizeof(uint16_t));
	rc.extension_types.v[0] = 0xff00;
	rc.extension_types.n = 1;
	struct aim_buf w;
	aim_buf_init(&w, 1024);
	assert_int_equal(mls_required_capabilities_encode(&w, &rc), 0);
	ext.v[0].type = MLS_EXT_REQUIRED_CAPABILITIES;
	assert_int_equal(mls_bytes_set(&ext.v[0].data, w.data, w.len), 0);
	gce_of(&p[0], &ext);
	commit_refused(&g, 0, tp, 1, true, AIM_ERR_UNSUPPORTED);
	mls_proposal_free(&p[0]);
	aim_buf_free(&w);
	mls_required_capabilities_free(&rc);
	mls_extension_list_free(&ext);

	/* a reference to a proposal nobody sent */
	remove_of(&g, 1, &p[0]);
	random_bytes(ref, g.cs->nh);
	tp[0] = (struct tprop){ .p = &p[0], .ref = ref };
	commit_refused(&g, 0, tp, 1, true, AIM_ERR_NOTFOUND);
	/* a Remove of a blank leaf */
	p[0].remove.removed = 1000;
	tp[0] = (struct tprop){ .p = &p[0] };
	commit_refused(&g, 0, tp, 1, true, AIM_ERR_NOTFOUND);
	mls_proposal_free(&p[0]);

	/* after all that the group still follows */
	commit_ok(&g, 1, NULL, 0, true);
	tg_free(&g);
}

/* ---- C42: KeyPackages and LeafNodes inside commits ------------------------------ */

static int refuse_joiner6(void *arg, enum mls_credential_role role,
			  const struct mls_credential *cred, struct aim_bytes key)
{
	(void)arg;
	(void)key;
	if (role == MLS_CRED_JOINER && cred->identity.len == 7 &&
	    memcmp(cred->identity.p, "member6", 7) == 0)
		return aim_fail(AIM_ERR_DENIED, "member6 may not join");
	return 0;
}

static void test_refuse_bad_key_packages(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 3);
	struct mls_proposal p;
	struct tprop tp = { .p = &p };
	const struct aim_suite *cs = g.cs;
	struct aim_bytes sk6 = sig_sk(&g, 6);

	/* bad KeyPackage signature */
	add_of(&g, 6, &p);
	p.add.key_package.signature.p[1] ^= 1;
	commit_refused(&g, 0, &tp, 1, false, AIM_ERR_VERIFY);
	mls_proposal_free(&p);
	/* encryption_key == init_key */
	add_of(&g, 6, &p);
	assert_int_equal(mls_bytes_copy(&p.add.key_package.init_key,
					&p.add.key_package.leaf_node.encryption_key),
			 0);
	assert_int_equal(mls_key_package_sign(&p.add.key_package, &g.m[6].priv), 0);
	commit_refused(&g, 0, &tp, 1, false, AIM_ERR_INVALID);
	mls_proposal_free(&p);
	/* another suite */
	add_of(&g, 6, &p);
	p.add.key_package.cipher_suite = 2;
	commit_refused(&g, 0, &tp, 1, false, AIM_ERR_UNSUPPORTED);
	mls_proposal_free(&p);
	/* a wrong leaf source */
	add_of(&g, 6, &p);
	p.add.key_package.leaf_node.source = MLS_LEAF_SOURCE_COMMIT;
	assert_int_equal(mls_bytes_set(&p.add.key_package.leaf_node.parent_hash, "", 0), 0);
	assert_int_equal(mls_leaf_node_sign(cs, &p.add.key_package.leaf_node, GID, 0, sk6), 0);
	assert_int_equal(mls_key_package_sign(&p.add.key_package, &g.m[6].priv), 0);
	commit_refused(&g, 0, &tp, 1, false, AIM_ERR_INVALID);
	mls_proposal_free(&p);
	/* expired, with the public group checking lifetimes */
	add_of(&g, 6, &p);
	p.add.key_package.leaf_node.lifetime.not_after = 1000;
	assert_int_equal(mls_leaf_node_sign(cs, &p.add.key_package.leaf_node, AIM_BYTES(NULL, 0), 0,
					    sk6),
			 0);
	assert_int_equal(mls_key_package_sign(&p.add.key_package, &g.m[6].priv), 0);
	mls_public_group_set_now(g.pg, (uint64_t)aim_now());
	commit_refused(&g, 0, &tp, 1, false, AIM_ERR_GONE);
	mls_public_group_set_now(g.pg, 0);
	mls_proposal_free(&p);
	/* a credential the application refuses for joiners */
	add_of(&g, 6, &p);
	struct mls_credential_hook hook = { .fn = refuse_joiner6 };
	mls_public_group_set_hook(g.pg, &hook);
	commit_refused(&g, 0, &tp, 1, false, AIM_ERR_DENIED);
	mls_public_group_set_hook(g.pg, NULL);
	mls_proposal_free(&p);

	/* an Update whose leaf keeps the old encryption key / has a commit
	 * source, sent as a proposal */
	update_of(&g, 1, &p);
	assert_int_equal(mls_bytes_copy(&p.update.leaf_node.encryption_key,
					&mls_tree_leaf(&g.tree, g.m[1].leaf)->encryption_key),
			 0);
	assert_int_equal(mls_leaf_node_sign(cs, &p.update.leaf_node, GID, g.m[1].leaf,
					    sig_sk(&g, 1)),
			 0);
	struct mls_public_message pm;
	uint8_t ref[AIM_MAX_HASH];
	make_proposal(&g, member(&g, 1), sig_sk(&g, 1), &p, &pm, ref);
	expect_refused(&g, &pm, AIM_ERR_INVALID);
	mls_public_message_free(&pm);
	mls_proposal_free(&p);
	/* an Update signed for another leaf */
	update_of(&g, 1, &p);
	assert_int_equal(mls_leaf_node_sign(cs, &p.update.leaf_node, GID, g.m[2].leaf,
					    sig_sk(&g, 1)),
			 0);
	make_proposal(&g, member(&g, 1), sig_sk(&g, 1), &p, &pm, ref);
	expect_refused(&g, &pm, AIM_ERR_VERIFY);
	mls_public_message_free(&pm);
	mls_proposal_free(&p);
	tg_free(&g);
}

/* ---- C43: UpdatePaths -------------------------------------------------------------- */

static void test_refuse_update_paths(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 5);
	const struct aim_suite *cs = g.cs;
	struct tcommit c;
	make_commit(&g, 1, false, NULL, 0, true, false, &c);
	member_placed(&g, 1, g.m[1].leaf);
	struct mls_update_path *path = &c.pm.content.commit.path;
	assert_true(path->n_nodes >= 2);

	/* a path node reusing a key already in the tree (another leaf's) */
	struct mls_bytes saved = path->nodes[0].encryption_key;
	memset(&path->nodes[0].encryption_key, 0, sizeof saved);
	assert_int_equal(mls_bytes_copy(&path->nodes[0].encryption_key,
					&mls_tree_leaf(&g.tree, g.m[3].leaf)->encryption_key),
			 0);
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	/* a fresh key that breaks the parent-hash chain */
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	assert_int_equal(aim_kem_keygen(cs->kem, &sk, &pk), 0);
	assert_int_equal(mls_bytes_set(&path->nodes[0].encryption_key, pk.data, pk.len), 0);
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	mls_bytes_free(&path->nodes[0].encryption_key);
	path->nodes[0].encryption_key = saved;
	/* the new leaf reusing another member's encryption key (leaf signed
	 * again so that only the reuse is wrong) */
	struct mls_bytes lsaved = path->leaf_node.encryption_key;
	memset(&path->leaf_node.encryption_key, 0, sizeof lsaved);
	assert_int_equal(mls_bytes_copy(&path->leaf_node.encryption_key,
					&mls_tree_leaf(&g.tree, g.m[2].leaf)->encryption_key),
			 0);
	assert_int_equal(mls_leaf_node_sign(cs, &path->leaf_node, GID, g.m[1].leaf, sig_sk(&g, 1)),
			 0);
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_EXISTS);
	/* ... or its own old key */
	mls_bytes_free(&path->leaf_node.encryption_key);
	assert_int_equal(mls_bytes_copy(&path->leaf_node.encryption_key,
					&mls_tree_leaf(&g.tree, g.m[1].leaf)->encryption_key),
			 0);
	assert_int_equal(mls_leaf_node_sign(cs, &path->leaf_node, GID, g.m[1].leaf, sig_sk(&g, 1)),
			 0);
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	mls_bytes_free(&path->leaf_node.encryption_key);
	path->leaf_node.encryption_key = lsaved;
	/* a leaf source other than commit */
	path->leaf_node.source = MLS_LEAF_SOURCE_UPDATE;
	assert_int_equal(mls_leaf_node_sign(cs, &path->leaf_node, GID, g.m[1].leaf, sig_sk(&g, 1)),
			 0);
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_INVALID);
	path->leaf_node.source = MLS_LEAF_SOURCE_COMMIT;
	/* a bad leaf signature */
	assert_int_equal(mls_leaf_node_sign(cs, &path->leaf_node, GID, g.m[2].leaf, sig_sk(&g, 1)),
			 0);
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	/* a path one node short */
	assert_int_equal(mls_leaf_node_sign(cs, &path->leaf_node, GID, g.m[1].leaf, sig_sk(&g, 1)),
			 0);
	path->n_nodes--;
	resign(&g, 1, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	path->n_nodes++;
	/* restored, it goes through */
	resign(&g, 1, &c.pm);
	assert_int_equal(mls_public_group_process(g.pg, &c.pm, NULL), 0);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	tcommit_free(&c);
	tg_free(&g);
}

/* A received tree with trailing blanks or a bad parent hash is refused at
 * creation. */
static void test_refuse_bad_trees(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 5);
	struct mls_group_info gi;
	make_group_info(&g, 0, false, &gi);
	struct mls_public_group *pg2;
	struct aim_buf t;
	aim_buf_init(&t, MLS_MAX_MESSAGE);
	assert_int_equal(mls_tree_encode(&t, &g.tree), 0);
	assert_int_equal(mls_public_group_create(&gi, aim_buf_bytes(&t), NULL, 0, &pg2), 0);
	mls_public_group_free(pg2);

	/* a parent node's key changed: parent hashes and tree hash break */
	struct mls_tree bad;
	assert_int_equal(mls_tree_copy(&bad, &g.tree), 0);
	uint32_t x = 1;
	while (mls_tree_is_blank(&bad, x))
		x += 2;
	assert_int_equal(mls_tree_touch(&bad, x), 0); /* its own copy to change */
	bad.nodes[x].parent.encryption_key.p[1] ^= 1;
	aim_buf_reset(&t);
	assert_int_equal(mls_tree_encode(&t, &bad), 0);
	assert_int_equal(mls_public_group_create(&gi, aim_buf_bytes(&t), NULL, 0, &pg2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_tree_free(&bad);

	/* trailing blank nodes: the encoding with two blank entries added */
	aim_buf_reset(&t);
	assert_int_equal(mls_tree_encode(&t, &g.tree), 0);
	struct mls_ratchet_tree rt;
	assert_int_equal(mls_ratchet_tree_parse(t.data, t.len, &rt), 0);
	rt.nodes = realloc(rt.nodes, (rt.n + 2) * sizeof *rt.nodes);
	memset(&rt.nodes[rt.n], 0, 2 * sizeof *rt.nodes);
	rt.n += 2;
	/* the codec will not even encode it: build the bytes by hand */
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	size_t mark = mls_tls_vec_begin(&w);
	for (size_t i = 0; i < rt.n; i++) {
		if (rt.nodes[i].type == MLS_NODE_BLANK) {
			assert_int_equal(mls_tls_write_u8(&w, 0), 0);
		} else {
			assert_int_equal(mls_tls_write_u8(&w, 1), 0);
			assert_int_equal(mls_node_encode(&w, &rt.nodes[i]), 0);
		}
	}
	assert_int_equal(mls_tls_vec_end(&w, mark), 0);
	mls_ratchet_tree_free(&rt);
	assert_int_equal(mls_public_group_create(&gi, aim_buf_bytes(&w), NULL, 0, &pg2), -1);
	aim_buf_free(&w);
	aim_buf_free(&t);
	mls_group_info_free(&gi);
	tg_free(&g);
}

/* ---- External proposals and external commits ----------------------------------- */

static void test_external_senders(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 3);
	/* GCE adding an external sender */
	struct mls_external_senders es = { 0 };
	es.v = calloc(1, sizeof *es.v);
	es.n = 1;
	assert_int_equal(mls_bytes_set(&es.v[0].signature_key, g.ext_pk.data, g.ext_pk.len), 0);
	es.v[0].credential.type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&es.v[0].credential.identity, "hub", 3), 0);
	struct aim_buf w;
	aim_buf_init(&w, 4096);
	assert_int_equal(mls_external_senders_encode(&w, &es), 0);
	mls_external_senders_free(&es);
	struct mls_extension_list ext = { 0 };
	ext.v = calloc(1, sizeof *ext.v);
	ext.n = 1;
	ext.v[0].type = MLS_EXT_EXTERNAL_SENDERS;
	assert_int_equal(mls_bytes_set(&ext.v[0].data, w.data, w.len), 0);
	aim_buf_free(&w);
	struct mls_proposal gce;
	gce_of(&gce, &ext);
	mls_extension_list_free(&ext);
	struct tprop tp = { .p = &gce };
	commit_ok(&g, 0, &tp, 1, true);
	mls_proposal_free(&gce);

	/* the external sender proposes to remove member 1 and to add member
	 * 6; member 2 commits both by reference */
	struct mls_sender ext0 = { .type = MLS_SENDER_EXTERNAL, .index = 0 };
	struct mls_proposal rm, add;
	remove_of(&g, 1, &rm);
	add_of(&g, 6, &add);
	struct mls_public_message pm;
	uint8_t r1[AIM_MAX_HASH], r2[AIM_MAX_HASH], r_rm[AIM_MAX_HASH];
	make_proposal(&g, ext0, aim_buf_bytes(&g.ext_sk), &rm, &pm, r_rm);
	assert_int_equal(mls_public_group_process(g.pg, &pm, NULL), 0);
	mls_public_message_free(&pm);
	make_proposal(&g, ext0, aim_buf_bytes(&g.ext_sk), &add, &pm, r2);
	assert_int_equal(mls_public_group_process(g.pg, &pm, NULL), 0);
	mls_public_message_free(&pm);
	/* an external sender index out of range; signed by a stranger; an
	 * Update from an external sender */
	struct mls_sender ext1 = { .type = MLS_SENDER_EXTERNAL, .index = 1 };
	make_proposal(&g, ext1, aim_buf_bytes(&g.ext_sk), &rm, &pm, r1);
	expect_refused(&g, &pm, AIM_ERR_NOTFOUND);
	mls_public_message_free(&pm);
	make_proposal(&g, ext0, sig_sk(&g, 2), &rm, &pm, r1);
	expect_refused(&g, &pm, AIM_ERR_VERIFY);
	mls_public_message_free(&pm);
	struct mls_proposal up;
	update_of(&g, 2, &up);
	struct mls_proposal_ctx pc = {
		.cs = g.cs,
		.ctx = mls_public_group_context(g.pg),
		.tree = mls_public_group_tree(g.pg),
	};
	assert_int_equal(mls_proposal_validate(&pc, &up, ext0), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(mls_proposal_validate(&pc, &up, member(&g, 2)), 0);
	mls_proposal_free(&up);

	struct tprop two[2] = {
		{ .p = &rm, .ref = r_rm },
		{ .p = &add, .ref = r2 },
	};
	commit_ok(&g, 0, two, 2, true);
	assert_false(g.m[1].in);
	assert_true(g.m[6].in);

	/* a new member proposes to add itself */
	struct mls_proposal add7;
	add_of(&g, 7, &add7);
	struct mls_sender nm = { .type = MLS_SENDER_NEW_MEMBER_PROPOSAL };
	make_proposal(&g, nm, sig_sk(&g, 7), &add7, &pm, r1);
	assert_int_equal(mls_public_group_process(g.pg, &pm, NULL), 0);
	mls_public_message_free(&pm);
	tp = (struct tprop){ .p = &add7, .ref = r1 };
	commit_ok(&g, 6, &tp, 1, false);
	mls_proposal_free(&add7);
	mls_proposal_free(&rm);
	mls_proposal_free(&add);
	assert_int_equal(mls_public_group_member_count(g.pg), 4);
	tg_free(&g);
}

static void external_init_of(const struct tg *g, struct mls_proposal *p)
{
	memset(p, 0, sizeof *p);
	p->type = MLS_PROPOSAL_EXTERNAL_INIT;
	/* the public group cannot check the KEM output beyond its size */
	struct aim_buf sk, pk, enc;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	aim_buf_init(&enc, 256);
	assert_int_equal(aim_kem_keygen(g->cs->kem, &sk, &pk), 0);
	uint8_t init[AIM_MAX_HASH];
	assert_int_equal(mls_external_init_encap(g->cs, aim_buf_bytes(&pk), &enc, init), 0);
	assert_int_equal(mls_bytes_set(&p->external_init.kem_output, enc.data, enc.len), 0);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_free(&enc);
}

static void external_commit(uint16_t suite)
{
	struct tg g;
	tg_new(&g, suite);
	tg_grow(&g, 4);
	/* member 1 leaves: the joiner takes the hole */
	struct mls_proposal rm;
	remove_of(&g, 1, &rm);
	struct tprop tp = { .p = &rm };
	commit_ok(&g, 0, &tp, 1, true);
	mls_proposal_free(&rm);

	struct mls_proposal ei;
	external_init_of(&g, &ei);
	struct tprop one = { .p = &ei };
	struct tcommit c;
	make_commit(&g, 6, true, &one, 1, true, false, &c);
	struct mls_public_result res;
	int rc = mls_public_group_process(g.pg, &c.pm, &res);
	if (rc)
		fprintf(stderr, "%s\n", aim_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(res.committer, 1);
	assert_int_equal(res.sender.type, MLS_SENDER_NEW_MEMBER_COMMIT);
	mls_public_result_free(&res);
	adopt(&g, &c, &one, 1);
	assert_in_sync(&g);
	assert_int_equal(mls_public_group_member_count(g.pg), 4);

	/* member 7 joins and removes member 2 in one external commit (the
	 * resync form: the application decides whether the identities
	 * match, through the hook) */
	struct mls_proposal ei2, rm2;
	external_init_of(&g, &ei2);
	remove_of(&g, 2, &rm2);
	struct tprop two[2] = { { .p = &ei2 }, { .p = &rm2 } };
	make_commit(&g, 7, true, two, 2, true, false, &c);
	assert_int_equal(mls_public_group_process(g.pg, &c.pm, NULL), 0);
	adopt(&g, &c, two, 2);
	assert_in_sync(&g);
	mls_proposal_free(&rm2);
	mls_proposal_free(&ei2);
	mls_proposal_free(&ei);
	tg_free(&g);
}

static void test_external_commit_suite1(void **state)
{
	(void)state;
	external_commit(1);
}

static void test_external_commit_suite3(void **state)
{
	(void)state;
	external_commit(3);
}

static void test_refuse_external_commits(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 3);
	struct mls_proposal ei, ei2, add, psk;
	external_init_of(&g, &ei);
	external_init_of(&g, &ei2);
	add_of(&g, 5, &add);
	psk_of(&g, "p", &psk);
	struct tcommit c;
	/* no ExternalInit */
	struct tprop l1[1] = { { .p = &psk } };
	make_commit(&g, 6, true, l1, 1, true, true, &c);
	expect_refused(&g, &c.pm, AIM_ERR_INVALID);
	tcommit_free(&c);
	/* two ExternalInits */
	struct tprop l2[2] = { { .p = &ei }, { .p = &ei2 } };
	make_commit(&g, 6, true, l2, 2, true, true, &c);
	expect_refused(&g, &c.pm, AIM_ERR_INVALID);
	tcommit_free(&c);
	/* an Add in it */
	struct tprop l3[2] = { { .p = &ei }, { .p = &add } };
	make_commit(&g, 6, true, l3, 2, true, true, &c);
	expect_refused(&g, &c.pm, AIM_ERR_INVALID);
	tcommit_free(&c);
	/* a proposal by reference (a cached PSK) */
	struct mls_public_message pm;
	uint8_t ref[AIM_MAX_HASH];
	make_proposal(&g, member(&g, 1), sig_sk(&g, 1), &psk, &pm, ref);
	assert_int_equal(mls_public_group_process(g.pg, &pm, NULL), 0);
	mls_public_message_free(&pm);
	struct tprop l4[2] = { { .p = &ei }, { .p = &psk, .ref = ref } };
	make_commit(&g, 6, true, l4, 2, true, true, &c);
	expect_refused(&g, &c.pm, AIM_ERR_INVALID);
	tcommit_free(&c);
	/* without a path */
	struct tprop l5[1] = { { .p = &ei } };
	make_commit(&g, 6, true, l5, 1, false, true, &c);
	expect_refused(&g, &c.pm, AIM_ERR_INVALID);
	tcommit_free(&c);
	/* signed by someone else than the path's leaf */
	make_commit(&g, 6, true, l5, 1, true, true, &c);
	resign(&g, 5, &c.pm);
	expect_refused(&g, &c.pm, AIM_ERR_VERIFY);
	/* valid after all */
	resign(&g, 6, &c.pm);
	assert_int_equal(mls_public_group_process(g.pg, &c.pm, NULL), 0);
	tcommit_free(&c);
	mls_proposal_free(&ei);
	mls_proposal_free(&ei2);
	mls_proposal_free(&add);
	mls_proposal_free(&psk);
	tg_free(&g);
}

/* ---- Persistence --------------------------------------------------------------------- */

static void test_state_roundtrip(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 2);
	tg_grow(&g, 4);
	struct aim_buf a, b;
	aim_buf_init(&a, MLS_MAX_PUBLIC_STATE);
	aim_buf_init(&b, MLS_MAX_PUBLIC_STATE);
	assert_int_equal(mls_public_group_encode(g.pg, &a), 0);
	struct mls_public_group *pg2;
	assert_int_equal(mls_public_group_parse(a.data, a.len, NULL, 0, &pg2), 0);
	assert_int_equal(mls_public_group_encode(pg2, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	mls_public_group_free(pg2);
	/* every truncation is refused cleanly */
	for (size_t n = 0; n < a.len; n += (n < 64 ? 1 : 97)) {
		assert_int_equal(mls_public_group_parse(a.data, n, NULL, 0, &pg2), -1);
		assert_null(pg2);
	}
	/* a tree that does not match the stored tree hash */
	struct mls_group_context ctx;
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, a.data + 1, a.len - 1);
	assert_int_equal(mls_group_context_decode(&r, &ctx), 0);
	ctx.tree_hash.p[0] ^= 1;
	aim_buf_reset(&b);
	assert_int_equal(mls_tls_write_u8(&b, 1), 0);
	assert_int_equal(mls_group_context_encode(&b, &ctx), 0);
	assert_int_equal(aim_buf_append(&b, a.data + 1 + r.off, a.len - 1 - r.off), 0);
	assert_int_equal(mls_public_group_parse(b.data, b.len, NULL, 0, &pg2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	mls_group_context_free(&ctx);
	/* unknown state version */
	a.data[0] = 9;
	assert_int_equal(mls_public_group_parse(a.data, a.len, NULL, 0, &pg2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	aim_buf_free(&a);
	aim_buf_free(&b);
	tg_free(&g);
}

/* ---- C45: malformed encodings ------------------------------------------------------ */

static void expect_bytes_refused(struct tg *g, const uint8_t *p, size_t n)
{
	aim_errclear();
	assert_int_equal(mls_public_group_process_message(g->pg, AIM_BYTES(p, n), NULL), -1);
	assert_int_not_equal(aim_errcode(), AIM_ERR_NONE);
	assert_int_equal(mls_public_group_epoch(g->pg), g->ctx.epoch);
}

static void test_refuse_malformed(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 3);
	struct mls_proposal add;
	add_of(&g, 6, &add);
	struct tprop tp = { .p = &add };
	struct tcommit c;
	make_commit(&g, 1, false, &tp, 1, false, false, &c);
	member_placed(&g, 1, g.m[1].leaf);
	struct mls_message m = { .version = MLS_VERSION_10, .wire_format = MLS_WIRE_PUBLIC_MESSAGE };
	m.public_message = c.pm;
	struct aim_buf w, x;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	aim_buf_init(&x, MLS_MAX_MESSAGE);
	assert_int_equal(mls_message_encode(&w, &m), 0);
	/* every truncation */
	for (size_t n = 0; n < w.len; n++)
		expect_bytes_refused(&g, w.data, n);
	/* a trailing byte */
	assert_int_equal(aim_buf_append(&x, w.data, w.len), 0);
	assert_int_equal(aim_buf_append_byte(&x, 0), 0);
	expect_bytes_refused(&g, x.data, x.len);
	/* the group_id length (a 1-byte varint at offset 4) as a non-minimal
	 * 2-byte varint, and with the invalid prefix 11 */
	assert_int_equal(w.data[4], GID.len);
	aim_buf_reset(&x);
	assert_int_equal(aim_buf_append(&x, w.data, 4), 0);
	assert_int_equal(aim_buf_append_byte(&x, 0x40), 0);
	assert_int_equal(aim_buf_append(&x, w.data + 4, w.len - 4), 0);
	expect_bytes_refused(&g, x.data, x.len);
	x.data[4] = 0xc0;
	expect_bytes_refused(&g, x.data, x.len);
	/* a length past the end */
	aim_buf_reset(&x);
	assert_int_equal(aim_buf_append(&x, w.data, w.len), 0);
	x.data[4] = 0x3f;
	expect_bytes_refused(&g, x.data, x.len);
	/* the commit's optional path: presence byte 2 instead of 0. It sits
	 * right after the proposals vector: find it by re-encoding the commit
	 * without it. */
	struct aim_buf cb;
	aim_buf_init(&cb, MLS_MAX_MESSAGE);
	assert_int_equal(mls_commit_encode(&cb, &c.pm.content.commit), 0);
	assert_int_equal(cb.data[cb.len - 1], 0);
	size_t at = 0;
	for (size_t i = 0; i + cb.len <= w.len; i++)
		if (memcmp(w.data + i, cb.data, cb.len) == 0)
			at = i + cb.len - 1;
	assert_true(at > 0);
	aim_buf_reset(&x);
	assert_int_equal(aim_buf_append(&x, w.data, w.len), 0);
	x.data[at] = 2;
	expect_bytes_refused(&g, x.data, x.len);
	/* unchanged, it is accepted */
	assert_int_equal(mls_public_group_process_message(g.pg, aim_buf_bytes(&w), NULL), 0);
	aim_buf_free(&cb);
	aim_buf_free(&w);
	aim_buf_free(&x);
	tcommit_free(&c);
	mls_proposal_free(&add);
	tg_free(&g);
}

/* Random byte changes to a valid commit, signed again by the committer so
 * that the checks after the signature see them: every outcome is a clean
 * refusal (state untouched) or an acceptance, never a crash or a leak
 * (run under the sanitizers). */
static void test_mutations(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 5);
	struct mls_proposal p[2];
	add_of(&g, 6, &p[0]);
	remove_of(&g, 3, &p[1]);
	struct tprop tp[2] = { { .p = &p[0] }, { .p = &p[1] } };
	struct tcommit c;
	make_commit(&g, 1, false, tp, 2, true, false, &c);
	member_placed(&g, 1, g.m[1].leaf);
	struct aim_buf w, st, st2, x;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	aim_buf_init(&st, MLS_MAX_PUBLIC_STATE);
	aim_buf_init(&st2, MLS_MAX_PUBLIC_STATE);
	aim_buf_init(&x, MLS_MAX_MESSAGE);
	assert_int_equal(mls_public_message_encode(&w, &c.pm), 0);
	assert_int_equal(mls_public_group_encode(g.pg, &st), 0);
	uint32_t seed = 12345;
	size_t accepted = 0, decoded = 0;
	for (int it = 0; it < 400; it++) {
		aim_buf_reset(&x);
		assert_int_equal(aim_buf_append(&x, w.data, w.len), 0);
		int flips = 1 + it % 3;
		for (int k = 0; k < flips; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % x.len;
			seed = seed * 1103515245u + 12345u;
			x.data[at] ^= (uint8_t)(1u << ((seed >> 16) % 8));
		}
		struct mls_public_message pm;
		if (mls_public_message_parse(x.data, x.len, &pm) != 0)
			continue;
		decoded++;
		if (pm.content.content_type == MLS_CONTENT_COMMIT &&
		    pm.content.sender.type == MLS_SENDER_MEMBER)
			resign(&g, 1, &pm);
		struct mls_public_group *pg;
		assert_int_equal(mls_public_group_parse(st.data, st.len, NULL, 0, &pg), 0);
		struct mls_public_result res;
		if (mls_public_group_process(pg, &pm, &res) == 0) {
			accepted++;
			mls_public_result_free(&res);
		} else {
			aim_buf_reset(&st2);
			assert_int_equal(mls_public_group_encode(pg, &st2), 0);
			assert_int_equal(st.len, st2.len);
			assert_memory_equal(st.data, st2.data, st.len);
		}
		mls_public_group_free(pg);
		mls_public_message_free(&pm);
	}
	assert_true(decoded > 100);
	/* changes in the confirmation tag or membership tag pass publicly */
	assert_true(accepted > 0);
	aim_buf_free(&w);
	aim_buf_free(&st);
	aim_buf_free(&st2);
	aim_buf_free(&x);
	tcommit_free(&c);
	mls_proposal_free(&p[0]);
	mls_proposal_free(&p[1]);
	tg_free(&g);
}

/* ---- The committer's selection and the cache -------------------------------------- */

static void cache_put(const struct tg *g, struct mls_proposal_cache *c, struct mls_sender sender,
		      struct aim_bytes sk, const struct mls_proposal *p)
{
	struct mls_authenticated_content ac = { .wire_format = MLS_WIRE_PUBLIC_MESSAGE };
	assert_int_equal(mls_bytes_set(&ac.content.group_id, GID.p, GID.len), 0);
	ac.content.epoch = g->ctx.epoch;
	ac.content.sender = sender;
	ac.content.content_type = MLS_CONTENT_PROPOSAL;
	assert_int_equal(mls_proposal_copy(&ac.content.proposal, p), 0);
	assert_int_equal(mls_content_sign(g->cs, MLS_WIRE_PUBLIC_MESSAGE, &ac.content, &g->ctx, sk,
					  &ac.auth),
			 0);
	uint8_t ref[AIM_MAX_HASH];
	assert_int_equal(mls_proposal_cache_add(c, &ac, ref), 0);
	assert_non_null(mls_proposal_cache_find(c, AIM_BYTES(ref, g->cs->nh)));
	mls_authenticated_content_free(&ac);
}

static void test_select(void **state)
{
	(void)state;
	struct tg g;
	tg_new(&g, 1);
	tg_grow(&g, 5);
	struct mls_proposal_cache cache;
	mls_proposal_cache_init(&cache, g.cs);
	struct mls_proposal p[10];
	update_of(&g, 3, &p[0]);     /* loses to the Remove of 3 */
	remove_of(&g, 3, &p[1]);
	update_of(&g, 2, &p[2]);     /* loses to the later Update of 2 */
	update_of(&g, 2, &p[3]);
	add_of(&g, 6, &p[4]);
	add_of(&g, 6, &p[5]);        /* the same client twice */
	psk_of(&g, "a", &p[6]);
	memset(&p[7], 0, sizeof p[7]); /* ReInit: others are pending */
	p[7].type = MLS_PROPOSAL_REINIT;
	p[7].reinit.version = MLS_VERSION_10;
	p[7].reinit.cipher_suite = 1;
	update_of(&g, 1, &p[8]);     /* the committer's own Update */
	remove_of(&g, 1, &p[9]);     /* the committer's removal */
	size_t from[10] = { 3, 0, 2, 2, 4, 0, 4, 4, 1, 4 };
	for (size_t i = 0; i < 10; i++)
		cache_put(&g, &cache, member(&g, from[i]), sig_sk(&g, from[i]), &p[i]);
	struct mls_proposal_ctx pc = {
		.cs = g.cs,
		.ctx = mls_public_group_context(g.pg),
		.tree = mls_public_group_tree(g.pg),
	};
	struct mls_proposal_list l;
	assert_int_equal(mls_proposals_select(&pc, &cache, g.m[1].leaf, &l), 0);
	assert_int_equal(l.n, 4);
	assert_ptr_equal(l.v[0].proposal, &cache.v[1].proposal);
	assert_ptr_equal(l.v[1].proposal, &cache.v[3].proposal);
	assert_int_equal(l.v[2].proposal->type, MLS_PROPOSAL_ADD);
	assert_ptr_equal(l.v[3].proposal, &cache.v[6].proposal);
	struct mls_sender me = member(&g, 1);
	assert_int_equal(mls_proposals_validate(&pc, &l, me, true), 0);
	assert_true(mls_proposals_path_required(&l));
	mls_proposal_list_free(&l);

	/* the cache survives encoding; a duplicate is refused */
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	assert_int_equal(mls_proposal_cache_encode(&w, &cache), 0);
	struct mls_proposal_cache c2;
	mls_proposal_cache_init(&c2, g.cs);
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, w.data, w.len);
	assert_int_equal(mls_proposal_cache_decode(&r, &c2), 0);
	assert_int_equal(c2.n, 10);
	assert_memory_equal(c2.v[9].ref, cache.v[9].ref, g.cs->nh);
	mls_proposal_cache_free(&c2);
	cache_put(&g, &c2, member(&g, 0), sig_sk(&g, 0), &p[6]);
	struct mls_authenticated_content ac = { .wire_format = MLS_WIRE_PUBLIC_MESSAGE };
	assert_int_equal(mls_bytes_set(&ac.content.group_id, GID.p, GID.len), 0);
	ac.content.epoch = g.ctx.epoch;
	ac.content.sender = member(&g, 0);
	ac.content.content_type = MLS_CONTENT_PROPOSAL;
	assert_int_equal(mls_proposal_copy(&ac.content.proposal, &p[6]), 0);
	assert_int_equal(mls_content_sign(g.cs, MLS_WIRE_PUBLIC_MESSAGE, &ac.content, &g.ctx,
					  sig_sk(&g, 0), &ac.auth),
			 0);
	/* Ed25519 is deterministic: the same content gives the same ref */
	assert_int_equal(mls_proposal_cache_add(&c2, &ac, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	mls_authenticated_content_free(&ac);
	mls_proposal_cache_free(&c2);
	/* only a ReInit pending: it is selected alone */
	mls_proposal_cache_clear(&cache);
	cache_put(&g, &cache, member(&g, 4), sig_sk(&g, 4), &p[7]);
	assert_int_equal(mls_proposals_select(&pc, &cache, g.m[1].leaf, &l), 0);
	assert_int_equal(l.n, 1);
	assert_false(mls_proposals_path_required(&l));
	mls_proposal_list_free(&l);
	aim_buf_free(&w);
	mls_proposal_cache_free(&cache);
	for (size_t i = 0; i < 10; i++)
		mls_proposal_free(&p[i]);
	tg_free(&g);
}

/* ---- Following member groups ---------------------------------------------------- */

struct mg {
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	struct mls_group *g;
};

static void mg_new(struct mg *m, uint16_t suite, const char *name)
{
	memset(m, 0, sizeof *m);
	struct mls_credential cred = { .type = MLS_CREDENTIAL_BASIC };
	assert_int_equal(mls_bytes_set(&cred.identity, name, strlen(name)), 0);
	struct mls_key_package_params p = { .cipher_suite = suite, .credential = &cred };
	assert_int_equal(mls_key_package_create(&p, &m->kp, &m->priv), 0);
	mls_credential_free(&cred);
}

static void mg_free(struct mg *m)
{
	mls_key_package_free(&m->kp);
	mls_key_package_priv_free(&m->priv);
	mls_group_free(m->g);
}

/* The public group and the member agree on context and tree. */
static void same_as_member(const struct mls_public_group *pg, const struct mls_group *g)
{
	struct aim_buf a, b;
	aim_buf_init(&a, MLS_MAX_MESSAGE);
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_context_encode(&a, mls_group_context(g)), 0);
	assert_int_equal(mls_public_group_export_context(pg, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	aim_buf_reset(&a);
	aim_buf_reset(&b);
	assert_int_equal(mls_group_export_tree(g, &a), 0);
	assert_int_equal(mls_public_group_export_tree(pg, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	aim_buf_free(&a);
	aim_buf_free(&b);
}

/* The hub's step: process the commit, record the committer's GroupInfo. */
static void hub_accepts(struct mls_public_group *pg, const struct mls_commit_result *r)
{
	struct mls_public_result res;
	int rc = mls_public_group_process_message(pg, aim_buf_bytes(&r->commit), &res);
	if (rc)
		fprintf(stderr, "hub refused: %s\n", aim_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(res.epoch, r->epoch);
	mls_public_result_free(&res);
	struct mls_message m;
	assert_int_equal(mls_message_parse(r->group_info.data, r->group_info.len, &m), 0);
	assert_int_equal(m.wire_format, MLS_WIRE_GROUP_INFO);
	assert_int_equal(mls_public_group_set_group_info(pg, &m.group_info), 0);
	mls_message_free(&m);
}

static void member_processes(struct mls_group *g, const struct aim_buf *msg)
{
	struct mls_group_event ev;
	int rc = mls_group_process(g, aim_buf_bytes(msg), &ev);
	if (rc)
		fprintf(stderr, "member refused: %s\n", aim_errmsg());
	assert_int_equal(rc, 0);
	mls_group_event_free(&ev);
}

static size_t g_nh(const struct mls_group *g)
{
	return mls_group_suite(g)->nh;
}

static void follow_members(uint16_t suite)
{
	struct mg a, b, c, d;
	mg_new(&a, suite, "alice");
	mg_new(&b, suite, "bob");
	mg_new(&c, suite, "carol");
	mg_new(&d, suite, "dave");
	struct mls_group_config cfg = { 0 };
	assert_int_equal(mls_group_create(&cfg, GID, &a.kp, &a.priv, NULL, &a.g), 0);
	struct aim_buf w, tree;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_group_info(a.g, true, true, &w), 0);
	struct mls_public_group *pg;
	assert_int_equal(mls_public_group_create_from_message(aim_buf_bytes(&w), AIM_BYTES(NULL, 0),
							      NULL, 0, &pg),
			 0);
	same_as_member(pg, a.g);

	/* alice adds bob and carol; the hub follows; they join with the tree
	 * the hub hands out */
	struct mls_key_package adds[2];
	adds[0] = b.kp;
	adds[1] = c.kp;
	struct mls_commit_params cp = { .adds = adds, .n_adds = 2 };
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(a.g, &cp, &r), 0);
	hub_accepts(pg, &r);
	assert_int_equal(mls_group_merge_pending(a.g), 0);
	same_as_member(pg, a.g);
	assert_int_equal(mls_public_group_export_tree(pg, &tree), 0);
	assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&r.welcome), aim_buf_bytes(&tree), &b.kp,
					&b.priv, &b.g),
			 0);
	assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&r.welcome), aim_buf_bytes(&tree), &c.kp,
					&c.priv, &c.g),
			 0);
	mls_commit_result_free(&r);

	/* bob commits a full path; a stale copy of an older commit is
	 * refused afterwards */
	struct mls_commit_params full = { .force_path = true };
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(b.g, &full, &r), 0);
	struct mls_commit_result r2;
	mls_commit_result_init(&r2);
	assert_int_equal(mls_group_commit(c.g, &full, &r2), 0); /* races bob */
	hub_accepts(pg, &r);
	assert_int_equal(mls_group_merge_pending(b.g), 0);
	member_processes(a.g, &r.commit);
	member_processes(c.g, &r.commit); /* drops carol's pending commit */
	same_as_member(pg, b.g);
	uint64_t e = mls_public_group_epoch(pg);
	aim_errclear();
	assert_int_equal(mls_public_group_process_message(pg, aim_buf_bytes(&r2.commit), NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(mls_public_group_epoch(pg), e);
	mls_commit_result_free(&r);
	mls_commit_result_free(&r2);

	/* carol removes bob */
	uint32_t bob_leaf = mls_group_own_leaf(b.g);
	struct mls_commit_params rm = { .removes = &bob_leaf, .n_removes = 1 };
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(c.g, &rm, &r), 0);
	hub_accepts(pg, &r);
	assert_int_equal(mls_group_merge_pending(c.g), 0);
	member_processes(a.g, &r.commit);
	same_as_member(pg, a.g);
	assert_int_equal(mls_public_group_member_count(pg), 2);
	mls_commit_result_free(&r);

	/* dave joins by external commit from what the hub holds */
	aim_buf_reset(&w);
	assert_int_equal(mls_public_group_group_info(pg, &w), 0);
	struct mls_message gm = { .version = MLS_VERSION_10, .wire_format = MLS_WIRE_GROUP_INFO };
	assert_int_equal(mls_group_info_parse(w.data, w.len, &gm.group_info), 0);
	aim_buf_reset(&w);
	assert_int_equal(mls_message_encode(&w, &gm), 0);
	mls_message_free(&gm);
	aim_buf_reset(&tree);
	assert_int_equal(mls_public_group_export_tree(pg, &tree), 0);
	struct aim_buf ext;
	aim_buf_init(&ext, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_join_external(&cfg, aim_buf_bytes(&w), aim_buf_bytes(&tree), &d.kp,
						 &d.priv, MLS_NO_LEAF, NULL, 0, &ext, &d.g),
			 0);
	struct mls_public_result res;
	assert_int_equal(mls_public_group_process_message(pg, aim_buf_bytes(&ext), &res), 0);
	assert_int_equal(res.sender.type, MLS_SENDER_NEW_MEMBER_COMMIT);
	mls_public_result_free(&res);
	member_processes(a.g, &ext);
	member_processes(c.g, &ext);
	same_as_member(pg, d.g);
	same_as_member(pg, a.g);
	same_as_member(pg, c.g);
	assert_int_equal(mls_public_group_member_count(pg), 3);
	aim_buf_free(&ext);

	/* carol's full commit as PublicMessage: everyone follows */
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(c.g, &full, &r), 0);
	hub_accepts(pg, &r);
	assert_int_equal(mls_group_merge_pending(c.g), 0);
	member_processes(a.g, &r.commit);
	member_processes(d.g, &r.commit);
	same_as_member(pg, d.g);
	assert_int_equal(mls_group_epoch_authenticator(a.g).len, g_nh(a.g));
	assert_memory_equal(mls_group_epoch_authenticator(a.g).p,
			    mls_group_epoch_authenticator(d.g).p, g_nh(a.g));
	mls_commit_result_free(&r);

	/* a PrivateMessage commit cannot be followed: the hub sees only its
	 * epoch */
	struct mls_commit_params priv = { .force_path = true, .wire_format = 2 };
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(d.g, &priv, &r), 0);
	aim_errclear();
	assert_int_equal(mls_public_group_process_message(pg, aim_buf_bytes(&r.commit), NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	struct mls_message pmm;
	assert_int_equal(mls_message_parse(r.commit.data, r.commit.len, &pmm), 0);
	assert_int_equal(mls_public_group_check_private(pg, &pmm.private_message), 0);
	mls_message_free(&pmm);
	mls_group_discard_pending(d.g);
	mls_commit_result_free(&r);

	aim_buf_free(&w);
	aim_buf_free(&tree);
	mls_public_group_free(pg);
	mg_free(&a);
	mg_free(&b);
	mg_free(&c);
	mg_free(&d);
}

static void test_follow_members_suite1(void **state)
{
	(void)state;
	follow_members(1);
}

static void test_follow_members_suite2(void **state)
{
	(void)state;
	follow_members(2);
}

static void test_follow_members_suite3(void **state)
{
	(void)state;
	follow_members(3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follow_suite1),
		cmocka_unit_test(test_follow_suite2),
		cmocka_unit_test(test_follow_suite3),
		cmocka_unit_test(test_group_info),
		cmocka_unit_test(test_create_hook),
		cmocka_unit_test(test_refuse_epoch_and_group),
		cmocka_unit_test(test_refuse_sender),
		cmocka_unit_test(test_refuse_content_and_tags),
		cmocka_unit_test(test_refuse_proposal_lists),
		cmocka_unit_test(test_refuse_bad_key_packages),
		cmocka_unit_test(test_refuse_update_paths),
		cmocka_unit_test(test_refuse_bad_trees),
		cmocka_unit_test(test_external_senders),
		cmocka_unit_test(test_external_commit_suite1),
		cmocka_unit_test(test_external_commit_suite3),
		cmocka_unit_test(test_refuse_external_commits),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_refuse_malformed),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_follow_members_suite1),
		cmocka_unit_test(test_follow_members_suite2),
		cmocka_unit_test(test_follow_members_suite3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
