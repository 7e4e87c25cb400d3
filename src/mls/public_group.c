/*
 * The public group (see mls.h): follows an MLS group from its
 * GroupInfo, ratchet tree and PublicMessage handshakes, without secrets.
 */
#include "mls/mls.h"

#include <stdlib.h>
#include <string.h>

#include "mls/framing.h"
#include "mls/proposals.h"
#include "mls/schedule.h"
#include "mls/tls.h"
#include "mls/tree.h"

struct mls_public_group {
	const struct aim_suite *cs;
	struct mls_group_context ctx;
	struct mls_tree tree;
	uint8_t interim[AIM_MAX_HASH];
	struct mls_proposal_cache cache;
	bool has_gi;
	struct mls_group_info gi; /* signed GroupInfo of the current epoch */
	struct mls_credential_hook hook;
	uint64_t now;
};

#define STATE_VERSION 1

/* ---- Helpers ------------------------------------------------------------- */

static struct mls_public_group *pg_new(void)
{
	struct mls_public_group *g = aim_xcalloc(1, sizeof *g);
	return g;
}

void mls_public_group_free(struct mls_public_group *g)
{
	if (!g)
		return;
	mls_group_context_free(&g->ctx);
	mls_tree_free(&g->tree);
	mls_proposal_cache_free(&g->cache);
	mls_group_info_free(&g->gi);
	aim_wipe(g, sizeof *g);
	free(g);
}

static int group_info_copy(struct mls_group_info *dst, const struct mls_group_info *src)
{
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_MESSAGE);
	int rc = mls_group_info_encode(&b, src);
	if (rc == 0)
		rc = mls_group_info_parse(b.data, b.len, dst);
	else
		memset(dst, 0, sizeof *dst);
	aim_buf_free(&b);
	return rc;
}

static bool contexts_equal(const struct mls_group_context *a, const struct mls_group_context *b)
{
	struct aim_buf x, y;
	aim_buf_init(&x, MLS_MAX_MESSAGE);
	aim_buf_init(&y, MLS_MAX_MESSAGE);
	bool eq = mls_group_context_encode(&x, a) == 0 && mls_group_context_encode(&y, b) == 0 &&
		  x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	aim_buf_free(&x);
	aim_buf_free(&y);
	return eq;
}

/* Every leaf of the tree as a member: the hook, the group's required
 * capabilities, lifetimes (when now is set), extensions in capabilities;
 * signatures and key uniqueness were checked by mls_tree_validate(). Then
 * every credential type in use must be supported by every leaf (linear:
 * the set of types in use against each leaf's list). */
static int check_members(const struct mls_public_group *g)
{
	uint16_t in_use[8];
	size_t n_in_use = 0;
	for (uint32_t l = 0; l < g->tree.n_leaves; l++) {
		const struct mls_leaf_node *ln = mls_tree_leaf(&g->tree, l);
		if (!ln)
			continue;
		struct mls_leaf_check chk = {
			.cs = g->cs,
			.group_id = mls_bytes_view(&g->ctx.group_id),
			.leaf_index = l,
			.role = MLS_CRED_MEMBER,
			.hook = &g->hook,
			.now = g->now,
			.group_extensions = &g->ctx.extensions,
			.signature_checked = true,
		};
		TRY(mls_leaf_node_validate(ln, &chk));
		bool seen = false;
		for (size_t i = 0; i < n_in_use; i++)
			seen = seen || in_use[i] == ln->credential.type;
		if (!seen) {
			ENSURE(n_in_use < AIM_ARRAY_LEN(in_use), AIM_ERR_UNSUPPORTED,
			       "too many credential types in one group");
			in_use[n_in_use++] = ln->credential.type;
		}
	}
	/* "Verify that the credential type is supported by all members of the
	 * group, as specified by the capabilities field of each member's
	 * LeafNode" */
	for (uint32_t l = 0; l < g->tree.n_leaves; l++) {
		const struct mls_leaf_node *ln = mls_tree_leaf(&g->tree, l);
		if (!ln)
			continue;
		for (size_t i = 0; i < n_in_use; i++)
			ENSURE(mls_u16_list_has(&ln->capabilities.credentials, in_use[i]),
			       AIM_ERR_UNSUPPORTED, "leaf %u does not support credential type %u", l,
			       in_use[i]);
	}
	const struct mls_extension *e =
		mls_extension_find(&g->ctx.extensions, MLS_EXT_EXTERNAL_SENDERS);
	if (e) {
		struct mls_external_senders es;
		TRY(mls_external_senders_parse(e->data.p, e->data.len, &es));
		int rc = 0;
		for (size_t i = 0; i < es.n && rc == 0; i++)
			rc = mls_credential_check(&g->hook, MLS_CRED_EXTERNAL_SENDER,
						  &es.v[i].credential,
						  mls_bytes_view(&es.v[i].signature_key));
		mls_external_senders_free(&es);
		TRY(rc);
	}
	return 0;
}

/* The GroupInfo: signed by a member of the tree, its confirmation tag
 * consistent with the interim hash (when given). */
static int check_group_info(const struct mls_public_group *g, const struct mls_group_info *gi)
{
	const struct mls_leaf_node *signer = mls_tree_leaf(&g->tree, gi->signer);
	ENSURE(signer, AIM_ERR_NOTFOUND, "GroupInfo signer %u is not a member", gi->signer);
	/* "Verify the signature on the GroupInfo object. The signature input
	 * comprises all of the fields in the GroupInfo object except the
	 * signature field. The public key is taken from the LeafNode of the
	 * ratchet tree with leaf index signer." */
	if (mls_group_info_verify(g->cs, gi, mls_bytes_view(&signer->signature_key)) != 0)
		return aim_fail(AIM_ERR_VERIFY, "GroupInfo signature does not verify");
	ENSURE(gi->confirmation_tag.len == g->cs->nh, AIM_ERR_VERIFY,
	       "GroupInfo confirmation tag of %zu bytes", gi->confirmation_tag.len);
	return 0;
}

/* ---- Creation ------------------------------------------------------------- */

int mls_public_group_create(const struct mls_group_info *gi, struct aim_bytes tree_bytes,
			    const struct mls_credential_hook *hook, uint64_t now,
			    struct mls_public_group **out)
{
	*out = NULL;
	const struct mls_group_context *gc = &gi->group_context;
	ENSURE(gc->version == MLS_VERSION_10, AIM_ERR_UNSUPPORTED, "group version %u",
	       gc->version);
	const struct aim_suite *cs = aim_suite_get(gc->cipher_suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "group suite %u", gc->cipher_suite);
	/* The confirmed transcript hash is empty at epoch 0 ("Confirmed
	 * transcript hash: The zero-length octet string"). */
	ENSURE(gc->tree_hash.len == cs->nh &&
		       (gc->confirmed_transcript_hash.len == cs->nh ||
			(gc->epoch == 0 && gc->confirmed_transcript_hash.len == 0)),
	       AIM_ERR_INVALID, "GroupContext hashes of the wrong length");
	if (!tree_bytes.len) {
		const struct mls_extension *e = mls_extension_find(&gi->extensions,
								   MLS_EXT_RATCHET_TREE);
		ENSURE(e, AIM_ERR_NOTFOUND, "no ratchet tree given nor in the GroupInfo");
		tree_bytes = mls_bytes_view(&e->data);
	}
	struct mls_public_group *g = pg_new();
	int rc = 0;
	g->cs = cs;
	if (hook)
		g->hook = *hook;
	g->now = now;
	mls_tree_init(&g->tree, cs);
	mls_proposal_cache_init(&g->cache, cs);
	TRY_GOTO(mls_group_context_copy(&g->ctx, gc), fail);
	TRY_GOTO(mls_tree_parse(&g->tree, cs, tree_bytes.p, tree_bytes.len), fail);
	/* "Verify the integrity of the ratchet tree": tree hash, parent hashes,
	 * leaf signatures, unique keys. */
	TRY_GOTO(mls_tree_validate(&g->tree, mls_bytes_view(&gc->group_id),
				   mls_bytes_view(&gc->tree_hash)),
		 fail);
	TRY_GOTO(check_members(g), fail);
	TRY_GOTO(check_group_info(g, gi), fail);
	/* interim_transcript_hash = Hash(confirmed_transcript_hash ||
	 * InterimTranscriptHashInput(confirmation_tag)) */
	TRY_GOTO(mls_transcript_interim(cs, mls_bytes_view(&gc->confirmed_transcript_hash),
					mls_bytes_view(&gi->confirmation_tag), g->interim),
		 fail);
	TRY_GOTO(group_info_copy(&g->gi, gi), fail);
	g->has_gi = true;
	*out = g;
	return 0;
fail:
	mls_public_group_free(g);
	return rc;
}

int mls_public_group_create_from_message(struct aim_bytes group_info_msg,
					 struct aim_bytes tree_bytes,
					 const struct mls_credential_hook *hook, uint64_t now,
					 struct mls_public_group **out)
{
	*out = NULL;
	struct mls_message m;
	TRY(mls_message_parse(group_info_msg.p, group_info_msg.len, &m));
	int rc = 0;
	ENSURE_GOTO(m.wire_format == MLS_WIRE_GROUP_INFO, out, AIM_ERR_INVALID,
		    "MLSMessage of wire format %u where a GroupInfo is expected", m.wire_format);
	rc = mls_public_group_create(&m.group_info, tree_bytes, hook, now, out);
out:
	mls_message_free(&m);
	return rc;
}

void mls_public_group_set_hook(struct mls_public_group *g, const struct mls_credential_hook *hook)
{
	if (hook)
		g->hook = *hook;
	else
		memset(&g->hook, 0, sizeof g->hook);
}

void mls_public_group_set_now(struct mls_public_group *g, uint64_t now)
{
	g->now = now;
}

/* ---- Reading ----------------------------------------------------------------- */

const struct aim_suite *mls_public_group_suite(const struct mls_public_group *g)
{
	return g->cs;
}

uint64_t mls_public_group_epoch(const struct mls_public_group *g)
{
	return g->ctx.epoch;
}

struct aim_bytes mls_public_group_id(const struct mls_public_group *g)
{
	return mls_bytes_view(&g->ctx.group_id);
}

const struct mls_group_context *mls_public_group_context(const struct mls_public_group *g)
{
	return &g->ctx;
}

const struct mls_tree *mls_public_group_tree(const struct mls_public_group *g)
{
	return &g->tree;
}

struct aim_bytes mls_public_group_interim(const struct mls_public_group *g)
{
	return AIM_BYTES(g->interim, g->cs->nh);
}

uint32_t mls_public_group_member_count(const struct mls_public_group *g)
{
	return mls_tree_member_count(&g->tree);
}

/* ---- Processing ------------------------------------------------------------------ */

void mls_public_result_free(struct mls_public_result *r)
{
	if (!r)
		return;
	free(r->added);
	free(r->removed);
	memset(r, 0, sizeof *r);
}

/* The signature key of the sender of c ("Recipients of an MLSMessage MUST
 * verify the signature with the key depending on the sender_type"). es
 * receives the parsed external senders (freed by the caller). */
static int sender_key(const struct mls_public_group *g, const struct mls_framed_content *c,
		      struct mls_external_senders *es, struct aim_bytes *key)
{
	const struct mls_sender *s = &c->sender;
	switch (s->type) {
	case MLS_SENDER_MEMBER: {
		ENSURE(s->index < g->tree.n_leaves, AIM_ERR_NOTFOUND,
		       "sender leaf %u outside the tree of %u leaves", s->index, g->tree.n_leaves);
		const struct mls_leaf_node *ln = mls_tree_leaf(&g->tree, s->index);
		ENSURE(ln, AIM_ERR_NOTFOUND, "sender leaf %u is blank", s->index);
		*key = mls_bytes_view(&ln->signature_key);
		return 0;
	}
	case MLS_SENDER_EXTERNAL: {
		/* "external: The signature key contained in the
		 * ExternalSender object at index sender_index" */
		const struct mls_extension *e =
			mls_extension_find(&g->ctx.extensions, MLS_EXT_EXTERNAL_SENDERS);
		ENSURE(e, AIM_ERR_NOTFOUND, "external sender but no external_senders extension");
		TRY(mls_external_senders_parse(e->data.p, e->data.len, es));
		ENSURE(s->index < es->n, AIM_ERR_NOTFOUND, "external sender %u of %zu", s->index,
		       es->n);
		*key = mls_bytes_view(&es->v[s->index].signature_key);
		return 0;
	}
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
		/* "new_member_proposal: The signature key in the LeafNode in the
		 * KeyPackage embedded in an Add proposal" */
		*key = mls_bytes_view(&c->proposal.add.key_package.leaf_node.signature_key);
		return 0;
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		/* "new_member_commit: The signature key in the LeafNode in the
		 * Commit's path" */
		ENSURE(c->commit.has_path, AIM_ERR_INVALID, "external commit without a path");
		*key = mls_bytes_view(&c->commit.path.leaf_node.signature_key);
		return 0;
	default:
		return aim_fail(AIM_ERR_INVALID, "sender type %u", s->type);
	}
}

static void fill_ctx(const struct mls_public_group *g, struct mls_proposal_ctx *pc)
{
	pc->cs = g->cs;
	pc->ctx = &g->ctx;
	pc->tree = &g->tree;
	pc->hook = &g->hook;
	pc->now = g->now;
}

static uint32_t *dup_u32(const uint32_t *v, size_t n)
{
	if (!n)
		return NULL;
	uint32_t *r = aim_xcalloc(n, sizeof *r);
	memcpy(r, v, n * sizeof *r);
	return r;
}

static int process_commit(struct mls_public_group *g, const struct mls_authenticated_content *ac,
			  struct mls_public_result *res)
{
	struct mls_proposal_ctx pc;
	fill_ctx(g, &pc);
	struct mls_staged_commit st;
	TRY(mls_commit_stage(&pc, &g->cache, AIM_BYTES(g->interim, g->cs->nh), ac, &st));
	/* Adopt: nothing above changed g. */
	if (res) {
		res->added = dup_u32(st.applied.added, st.applied.n_added);
		res->n_added = st.applied.n_added;
		res->removed = dup_u32(st.applied.removed, st.applied.n_removed);
		res->n_removed = st.applied.n_removed;
		res->committer = st.committer;
		res->reinit = st.applied.reinit != NULL;
	}
	mls_tree_free(&g->tree);
	g->tree = st.tree;
	mls_tree_init(&st.tree, g->cs);
	mls_group_context_free(&g->ctx);
	g->ctx = st.ctx;
	memset(&st.ctx, 0, sizeof st.ctx);
	memcpy(g->interim, st.interim, sizeof g->interim);
	mls_staged_commit_free(&st);
	mls_proposal_cache_clear(&g->cache);
	mls_group_info_free(&g->gi);
	g->has_gi = false;
	return 0;
}

int mls_public_group_process(struct mls_public_group *g, const struct mls_public_message *pm,
			     struct mls_public_result *res)
{
	if (res)
		memset(res, 0, sizeof *res);
	const struct mls_framed_content *c = &pm->content;
	/* threats.md C37: wrong group_id */
	ENSURE(mls_bytes_equal(&c->group_id, &g->ctx.group_id), AIM_ERR_INVALID,
	       "message for another group");
	/* threats.md C34: "Verify that the epoch field of the enclosing
	 * FramedContent is equal to the epoch field of the current
	 * GroupContext object." */
	ENSURE(c->epoch == g->ctx.epoch, AIM_ERR_CONFLICT,
	       "message for epoch %llu, group is at epoch %llu", (unsigned long long)c->epoch,
	       (unsigned long long)g->ctx.epoch);
	/* threats.md C39: "Applications MUST use PrivateMessage to encrypt
	 * application messages" */
	ENSURE(c->content_type == MLS_CONTENT_PROPOSAL || c->content_type == MLS_CONTENT_COMMIT,
	       AIM_ERR_INVALID, "content type %u in a PublicMessage", c->content_type);
	/* threats.md C38: sender type fits the content, leaf in range, non-blank */
	TRY(mls_framing_check_sender(c));
	/* threats.md C40: a commit carries a confirmation tag of Nh bytes */
	TRY(mls_framing_check_auth(g->cs, c->content_type, &pm->auth));
	struct mls_external_senders es = { 0 };
	struct aim_bytes key;
	int rc = 0;
	TRY_GOTO(sender_key(g, c, &es, &key), out);
	/* "Recipients of an MLSMessage MUST verify the signature". The
	 * membership_tag cannot be checked here (it needs the membership_key
	 * of the epoch; see mls.h). */
	if (mls_content_verify(g->cs, MLS_WIRE_PUBLIC_MESSAGE, c, &g->ctx, key, &pm->auth) != 0) {
		rc = aim_fail(AIM_ERR_VERIFY, "signature over the framed content does not verify");
		goto out;
	}
	/* A borrowing view: pm outlives this call's use of ac. */
	struct mls_authenticated_content ac = {
		.wire_format = MLS_WIRE_PUBLIC_MESSAGE,
		.content = *c,
		.auth = pm->auth,
	};
	if (res) {
		res->content_type = c->content_type;
		res->sender = c->sender;
	}
	if (c->content_type == MLS_CONTENT_PROPOSAL) {
		struct mls_proposal_ctx pc;
		fill_ctx(g, &pc);
		TRY_GOTO(mls_proposal_validate(&pc, &c->proposal, c->sender), out);
		uint8_t ref[AIM_MAX_HASH];
		TRY_GOTO(mls_proposal_cache_add(&g->cache, &ac, ref), out);
		if (res)
			memcpy(res->proposal_ref, ref, g->cs->nh);
	} else {
		TRY_GOTO(process_commit(g, &ac, res), out);
	}
	if (res)
		res->epoch = g->ctx.epoch;
out:
	mls_external_senders_free(&es);
	if (rc != 0 && res)
		mls_public_result_free(res);
	return rc;
}

int mls_public_group_process_message(struct mls_public_group *g, struct aim_bytes msg,
				     struct mls_public_result *res)
{
	if (res)
		memset(res, 0, sizeof *res);
	struct mls_message m;
	TRY(mls_message_parse(msg.p, msg.len, &m));
	int rc = 0;
	ENSURE_GOTO(m.version == MLS_VERSION_10, out, AIM_ERR_UNSUPPORTED, "MLS version %u",
		    m.version);
	/* threats.md C46: a well-formed message of the wrong wire format */
	ENSURE_GOTO(m.wire_format == MLS_WIRE_PUBLIC_MESSAGE, out, AIM_ERR_INVALID,
		    "MLSMessage of wire format %u where a PublicMessage is expected",
		    m.wire_format);
	rc = mls_public_group_process(g, &m.public_message, res);
out:
	mls_message_free(&m);
	return rc;
}

int mls_public_group_check_private(const struct mls_public_group *g,
				   const struct mls_private_message *pm)
{
	ENSURE(mls_bytes_equal(&pm->group_id, &g->ctx.group_id), AIM_ERR_INVALID,
	       "message for another group");
	/* threats.md C35: a message for another epoch (future or past) */
	ENSURE(pm->epoch == g->ctx.epoch, AIM_ERR_CONFLICT,
	       "message for epoch %llu, group is at epoch %llu", (unsigned long long)pm->epoch,
	       (unsigned long long)g->ctx.epoch);
	ENSURE(pm->content_type >= MLS_CONTENT_APPLICATION &&
		       pm->content_type <= MLS_CONTENT_COMMIT,
	       AIM_ERR_INVALID, "content type %u", pm->content_type);
	return 0;
}

/* ---- GroupInfo and tree ------------------------------------------------------------ */

int mls_public_group_set_group_info(struct mls_public_group *g, const struct mls_group_info *gi)
{
	ENSURE(contexts_equal(&gi->group_context, &g->ctx), AIM_ERR_CONFLICT,
	       "GroupInfo for another group state (epoch %llu, group at %llu)",
	       (unsigned long long)gi->group_context.epoch, (unsigned long long)g->ctx.epoch);
	TRY(check_group_info(g, gi));
	/* Its confirmation tag must be the one of the Commit that made the
	 * epoch: the interim hash it gives must equal ours. */
	uint8_t interim[AIM_MAX_HASH];
	TRY(mls_transcript_interim(g->cs, mls_bytes_view(&g->ctx.confirmed_transcript_hash),
				   mls_bytes_view(&gi->confirmation_tag), interim));
	ENSURE(aim_ct_equal(interim, g->cs->nh, g->interim, g->cs->nh), AIM_ERR_VERIFY,
	       "GroupInfo confirmation tag does not match the last Commit");
	const struct mls_extension *e = mls_extension_find(&gi->extensions, MLS_EXT_RATCHET_TREE);
	if (e) {
		/* A tree inside must be ours. */
		struct aim_buf t;
		aim_buf_init(&t, MLS_MAX_MESSAGE);
		int rc = mls_tree_encode(&t, &g->tree);
		bool same = rc == 0 && t.len == e->data.len && memcmp(t.data, e->data.p, t.len) == 0;
		aim_buf_free(&t);
		TRY(rc);
		ENSURE(same, AIM_ERR_CONFLICT, "GroupInfo carries another ratchet tree");
	}
	struct mls_group_info copy;
	TRY(group_info_copy(&copy, gi));
	mls_group_info_free(&g->gi);
	g->gi = copy;
	g->has_gi = true;
	return 0;
}

int mls_public_group_group_info(const struct mls_public_group *g, struct aim_buf *w)
{
	ENSURE(g->has_gi, AIM_ERR_NOTFOUND, "no GroupInfo recorded for epoch %llu",
	       (unsigned long long)g->ctx.epoch);
	return mls_group_info_encode(w, &g->gi);
}

int mls_public_group_export_tree(const struct mls_public_group *g, struct aim_buf *w)
{
	return mls_tree_encode(w, &g->tree);
}

int mls_public_group_export_context(const struct mls_public_group *g, struct aim_buf *w)
{
	return mls_group_context_encode(w, &g->ctx);
}

/* ---- Persistence ---------------------------------------------------------------------- */

int mls_public_group_encode(const struct mls_public_group *g, struct aim_buf *w)
{
	TRY(mls_tls_write_u8(w, STATE_VERSION));
	TRY(mls_group_context_encode(w, &g->ctx));
	size_t mark = mls_tls_vec_begin(w);
	TRY(mls_tree_encode(w, &g->tree));
	TRY(mls_tls_vec_end(w, mark));
	TRY(mls_tls_write_vec(w, g->interim, g->cs->nh));
	TRY(mls_proposal_cache_encode(w, &g->cache));
	TRY(mls_tls_write_u8(w, g->has_gi ? 1 : 0));
	if (g->has_gi)
		TRY(mls_group_info_encode(w, &g->gi));
	return 0;
}

int mls_public_group_parse(const uint8_t *p, size_t len, const struct mls_credential_hook *hook,
			   uint64_t now, struct mls_public_group **out)
{
	*out = NULL;
	ENSURE(len <= MLS_MAX_PUBLIC_STATE, AIM_ERR_LIMIT, "public group state of %zu bytes", len);
	struct mls_tls_reader r;
	mls_tls_reader_init(&r, p, len);
	uint8_t version;
	TRY(mls_tls_read_u8(&r, &version));
	ENSURE(version == STATE_VERSION, AIM_ERR_UNSUPPORTED, "public group state version %u",
	       version);
	struct mls_public_group *g = pg_new();
	int rc = 0;
	if (hook)
		g->hook = *hook;
	g->now = now;
	TRY_GOTO(mls_group_context_decode(&r, &g->ctx), fail);
	g->cs = aim_suite_get(g->ctx.cipher_suite);
	ENSURE_GOTO(g->cs, fail, AIM_ERR_UNSUPPORTED, "suite %u", g->ctx.cipher_suite);
	mls_tree_init(&g->tree, g->cs);
	mls_proposal_cache_init(&g->cache, g->cs);
	struct aim_bytes tb, ih;
	TRY_GOTO(mls_tls_read_vec(&r, &tb), fail);
	TRY_GOTO(mls_tree_parse(&g->tree, g->cs, tb.p, tb.len), fail);
	TRY_GOTO(mls_tls_read_vec(&r, &ih), fail);
	ENSURE_GOTO(ih.len == g->cs->nh, fail, AIM_ERR_DECODE, "interim hash of %zu bytes",
		    ih.len);
	memcpy(g->interim, ih.p, ih.len);
	TRY_GOTO(mls_proposal_cache_decode(&r, &g->cache), fail);
	bool has_gi;
	TRY_GOTO(mls_tls_read_optional(&r, &has_gi), fail);
	if (has_gi) {
		TRY_GOTO(mls_group_info_decode(&r, &g->gi), fail);
		g->has_gi = true;
	}
	TRY_GOTO(mls_tls_reader_done(&r), fail);
	/* The state is our own; still, the tree must be the one the
	 * GroupContext names. */
	uint8_t th[AIM_MAX_HASH];
	TRY_GOTO(mls_tree_hash(&g->tree, th), fail);
	ENSURE_GOTO(aim_ct_equal(th, g->cs->nh, g->ctx.tree_hash.p, g->ctx.tree_hash.len), fail,
		    AIM_ERR_VERIFY, "stored tree does not match the stored tree hash");
	*out = g;
	return 0;
fail:
	mls_public_group_free(g);
	return rc;
}
