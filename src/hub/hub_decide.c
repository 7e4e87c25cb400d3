/*
 * The hub's decision on one input (hub.h, "Deciding"): the MLS library
 * checks the message against the public group (mls_public_group_process,
 * mls.h), and the rules here sit above it: who may do what, that a Commit
 * does what its activity says, that pending self-removals are committed,
 * the window of application messages, and the sequence numbers.
 *
 * Texts enforced here (quoted at the lines that enforce them):
 *   AIM   draft-barnes-mimi-aim, "Membership and Metadata Management",
 *         "Message Delivery"
 *   9420  RFC 9420 (MLS)
 *   #11   the issue that specifies channels (docs: README, threats.md C)
 */
#include "hub/hub_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One decision under way. g is the state being changed: the caller's
 * (hub_apply: every change waits until everything passed) or a scratch copy
 * (hub_decide) whose public group may be processed in place. */
struct run {
	struct hub_group *g;
	const struct hub_input *in;
	struct hub_decision *d;
	uint64_t now;
	bool scratch;
	struct mls_message m;
	bool have_m;
};

static void refuse_fill(struct hub_decision *d)
{
	d->accepted = false;
	d->err = aim_errcode() ? aim_errcode() : AIM_ERR_INTERNAL;
	snprintf(d->reason, sizeof d->reason, "%s", aim_errmsg());
}

static void list_push(char ***v, size_t *n, const char *s)
{
	*v = aim_xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = aim_xstrdup(s);
}

static bool in_list(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool u32_in(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* The objects of an activity: 1..HUB_MAX_OBJECTS distinct actor URLs. */
static int check_objects(const struct hub_input *in, size_t min, size_t max)
{
	ENSURE(in->n_objects >= min && in->n_objects <= max, AIM_ERR_INVALID,
	       "%zu objects where %zu..%zu are expected", in->n_objects, min, max);
	for (size_t i = 0; i < in->n_objects; i++) {
		ENSURE(hub_grp_string_ok(in->objects[i], HUB_MAX_URL), AIM_ERR_INVALID,
		       "object %zu is no actor URL", i);
		ENSURE(!in_list(in->objects, i, in->objects[i]), AIM_ERR_INVALID,
		       "object %s named twice", in->objects[i]);
	}
	return 0;
}

/* ---- The MLS message -------------------------------------------------------------- */

/* Parses in->mls; a handshake must be a PublicMessage of this group for
 * the current epoch with content `want` (proposal or commit). */
static int parse_handshake(struct run *r, uint8_t want)
{
	const struct hub_group *g = r->g;
	TRY(mls_message_parse(r->in->mls.p, r->in->mls.len, &r->m));
	r->have_m = true;
	ENSURE(r->m.version == MLS_VERSION_10, AIM_ERR_UNSUPPORTED, "MLS version %u",
	       r->m.version);
	/* AIM "Membership and Metadata Management": "The Commit message must
	 * be sent as a PublicMessage so that the server can update its
	 * representation of the group's ratchet tree based on the content of
	 * the Commit." (#11: "a private Commit is refused"; the same holds for
	 * the proposals the hub must see to check the next Commit.) */
	ENSURE(r->m.wire_format != MLS_WIRE_PRIVATE_MESSAGE, AIM_ERR_UNSUPPORTED,
	       "a %s must be a PublicMessage: the hub cannot follow a PrivateMessage",
	       want == MLS_CONTENT_COMMIT ? "Commit" : "Proposal");
	/* threats.md C46: a well-formed message of the wrong wire format */
	ENSURE(r->m.wire_format == MLS_WIRE_PUBLIC_MESSAGE, AIM_ERR_INVALID,
	       "MLSMessage of wire format %u where a PublicMessage is expected",
	       r->m.wire_format);
	const struct mls_framed_content *c = &r->m.public_message.content;
	/* threats.md C39, 9420 section 6: "Applications MUST use
	 * PrivateMessage to encrypt application messages" */
	ENSURE(c->content_type != MLS_CONTENT_APPLICATION, AIM_ERR_INVALID,
	       "application data as a PublicMessage");
	ENSURE(c->content_type == want, AIM_ERR_INVALID, "a %s where a %s is expected",
	       c->content_type == MLS_CONTENT_COMMIT ? "Commit" : "Proposal",
	       want == MLS_CONTENT_COMMIT ? "Commit" : "Proposal");
	/* threats.md C37 */
	struct aim_bytes gid = hub_group_id(g);
	ENSURE(c->group_id.len == gid.len && memcmp(c->group_id.p, gid.p, gid.len) == 0,
	       AIM_ERR_INVALID, "message for another group");
	/* threats.md C34; AIM "Membership and Metadata Management": "Before
	 * accepting an Add or Remove activity for a channel, the server must
	 * verify that the attached Commit corresponds to the current MLS epoch
	 * for the channel, and reject the activity if this is not the case." */
	r->d->message_epoch = c->epoch;
	ENSURE(c->epoch == hub_group_epoch(g), AIM_ERR_CONFLICT,
	       "%s for epoch %llu, the group is at epoch %llu",
	       want == MLS_CONTENT_COMMIT ? "Commit" : "Proposal", (unsigned long long)c->epoch,
	       (unsigned long long)hub_group_epoch(g));
	return 0;
}

/* The member leaf that signed: in the tree, non-blank, a device of the
 * activity's actor (threats.md C38). The activity's actor was verified by
 * the shell; a device of anyone else signing it is another's message. */
static int check_member_sender(struct run *r, uint32_t leaf)
{
	const struct mls_tree *t = mls_public_group_tree(r->g->pg);
	ENSURE(leaf < mls_tree_n_leaves(t), AIM_ERR_DENIED,
	       "sender leaf %u outside the tree of %u leaves", leaf, mls_tree_n_leaves(t));
	ENSURE(mls_tree_leaf(t, leaf), AIM_ERR_DENIED, "sender leaf %u is blank", leaf);
	char acct[HUB_MAX_ACCT + 1];
	TRY(hub_grp_leaf_acct(t, leaf, acct));
	long m = hub_grp_find_acct(r->g, acct);
	ENSURE(m >= 0 && strcmp(r->g->members[m].actor, r->in->actor) == 0, AIM_ERR_DENIED,
	       "signed by leaf %u, a device of %s, not of %s", leaf,
	       m >= 0 ? r->g->members[m].actor : acct, r->in->actor);
	return 0;
}

/* The actor's member index for every leaf of the tree (-1: blank). */
static int leaf_owners(const struct hub_group *g, const struct mls_tree *t, long **out,
		       uint32_t *n_out)
{
	uint32_t n = mls_tree_n_leaves(t);
	long *v = aim_xcalloc(n ? n : 1, sizeof *v);
	char acct[HUB_MAX_ACCT + 1];
	for (uint32_t l = 0; l < n; l++) {
		v[l] = -1;
		if (!mls_tree_leaf(t, l))
			continue;
		if (hub_grp_leaf_acct(t, l, acct) != 0) {
			free(v);
			return -1;
		}
		v[l] = hub_grp_find_acct(g, acct);
		if (v[l] < 0) {
			free(v);
			return aim_fail(AIM_ERR_INTERNAL, "leaf %u (%s) is no member's device", l, acct);
		}
	}
	*out = v;
	*n_out = n;
	return 0;
}

/* Runs the message through the MLS library on the public group the
 * decision works on: g's own when scratch, else a copy (*pg, owned). */
static int mls_process(struct run *r, struct mls_public_group **pg, struct mls_public_result *res)
{
	*pg = NULL;
	if (r->scratch) {
		*pg = r->g->pg;
	} else {
		TRY(hub_grp_copy_public(r->g->pg, pg));
	}
	struct hub_hook_arg ha = { r->in->hook };
	struct mls_credential_hook hook = { hub_grp_hook, &ha };
	mls_public_group_set_hook(*pg, &hook);
	mls_public_group_set_now(*pg, r->now);
	/* threats.md C38-C43: sender, signature, confirmation tag, proposal
	 * list, KeyPackages and LeafNodes, UpdatePath and tree hashes */
	int rc = mls_public_group_process(*pg, &r->m.public_message, res);
	mls_public_group_set_hook(*pg, NULL);
	mls_public_group_set_now(*pg, 0);
	if (rc != 0 && !r->scratch) {
		mls_public_group_free(*pg);
		*pg = NULL;
	}
	return rc;
}

static void adopt_public(struct run *r, struct mls_public_group *pg)
{
	if (pg != r->g->pg) {
		mls_public_group_free(r->g->pg);
		r->g->pg = pg;
	}
}

static void drop_public(struct run *r, struct mls_public_group *pg)
{
	if (pg && pg != r->g->pg)
		mls_public_group_free(pg);
}

/* ---- Commits -------------------------------------------------------------------------- */

/* The Welcome of an Add: "An Add activity must also include an MLS Welcome
 * message allowing the new member to initialize their MLS state" (AIM), and
 * it must be for exactly the KeyPackages the Commit adds, so that a
 * Welcome never reaches anyone the accepted Commit did not add. */
static int check_welcome(struct run *r, const struct mls_commit *commit, size_t n_added)
{
	struct aim_bytes w = r->in->welcome;
	ENSURE(w.len, AIM_ERR_INVALID, "an Add without a Welcome");
	struct mls_message m;
	TRY(mls_message_parse(w.p, w.len, &m));
	int rc = 0;
	uint8_t(*refs)[AIM_MAX_HASH] = NULL;
	size_t n_refs = 0, ref_len = 0;
	bool *seen = NULL;
	/* threats.md C46 */
	ENSURE_GOTO(m.wire_format == MLS_WIRE_WELCOME, out, AIM_ERR_INVALID,
		    "MLSMessage of wire format %u where a Welcome is expected", m.wire_format);
	ENSURE_GOTO(m.welcome.cipher_suite == hub_group_cipher_suite(r->g), out, AIM_ERR_INVALID,
		    "Welcome of suite %u for a group of suite %u", m.welcome.cipher_suite,
		    hub_group_cipher_suite(r->g));
	refs = aim_xcalloc(commit->n_proposals + 1, sizeof *refs);
	for (size_t i = 0; i < commit->n_proposals; i++) {
		const struct mls_proposal_or_ref *p = &commit->proposals[i];
		if (p->type != MLS_POR_PROPOSAL || p->proposal.type != MLS_PROPOSAL_ADD)
			continue;
		TRY_GOTO(mls_key_package_make_ref(&p->proposal.add.key_package, refs[n_refs],
						  &ref_len),
			 out);
		n_refs++;
	}
	/* Adds by reference would need the Add proposals the hub never
	 * accepts on their own (HUB_PROPOSAL takes self-removals only). */
	ENSURE_GOTO(n_refs == n_added, out, AIM_ERR_INVALID,
		    "the Commit adds %zu members, %zu of them by value", n_added, n_refs);
	ENSURE_GOTO(m.welcome.n_secrets == n_refs, out, AIM_ERR_INVALID,
		    "Welcome for %zu joiners, the Commit adds %zu", m.welcome.n_secrets, n_refs);
	seen = aim_xcalloc(n_refs + 1, sizeof *seen);
	for (size_t s = 0; s < m.welcome.n_secrets; s++) {
		const struct mls_bytes *nm = &m.welcome.secrets[s].new_member;
		bool found = false;
		for (size_t k = 0; k < n_refs && !found; k++)
			if (!seen[k] && nm->len == ref_len && memcmp(nm->p, refs[k], ref_len) == 0)
				found = seen[k] = true;
		ENSURE_GOTO(found, out, AIM_ERR_INVALID,
			    "Welcome secret %zu is for a KeyPackage the Commit does not add", s);
	}
out:
	free(seen);
	free(refs);
	mls_message_free(&m);
	return rc;
}

/* The committer's GroupInfo of the new epoch (optional): kept for external
 * joins when it matches the new state. */
static int take_group_info(struct run *r, struct mls_public_group *pg)
{
	struct aim_bytes b = r->in->group_info;
	if (!b.len)
		return 0;
	struct mls_message m;
	TRY(mls_message_parse(b.p, b.len, &m));
	int rc = 0;
	ENSURE_GOTO(m.wire_format == MLS_WIRE_GROUP_INFO, out, AIM_ERR_INVALID,
		    "MLSMessage of wire format %u where a GroupInfo is expected", m.wire_format);
	rc = mls_public_group_set_group_info(pg, &m.group_info);
	if (rc != 0)
		rc = aim_fail(aim_errcode() == AIM_ERR_CONFLICT ? AIM_ERR_INVALID : aim_errcode(),
			      "the GroupInfo does not match the new epoch: %s", aim_errmsg());
out:
	mls_message_free(&m);
	return rc;
}

static bool extensions_equal(const struct mls_extension_list *a, const struct mls_extension_list *b)
{
	struct aim_buf x, y;
	aim_buf_init(&x, MLS_MAX_MESSAGE);
	aim_buf_init(&y, MLS_MAX_MESSAGE);
	bool eq = mls_extension_list_encode(&x, a) == 0 && mls_extension_list_encode(&y, b) == 0 &&
		  x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
	aim_buf_free(&x);
	aim_buf_free(&y);
	return eq;
}

/* What a Commit did, in actors. */
struct effects {
	/* the members table after the Commit (indices: old members first,
	 * then new ones) */
	struct hub_member *members;
	size_t n_members;
	size_t n_old;
	size_t *devices; /* per member, devices in the new tree */
};

static void effects_free(struct effects *e)
{
	for (size_t i = e->n_old; i < e->n_members; i++) {
		free((char *)e->members[i].actor);
		free((char *)e->members[i].acct);
	}
	free(e->members);
	free(e->devices);
	memset(e, 0, sizeof *e);
}

static long eff_find_acct(const struct effects *e, const char *acct)
{
	for (size_t i = 0; i < e->n_members; i++)
		if (strcmp(e->members[i].acct, acct) == 0)
			return (long)i;
	return -1;
}

static long eff_find_actor(const struct effects *e, const char *actor)
{
	for (size_t i = 0; i < e->n_members; i++)
		if (strcmp(e->members[i].actor, actor) == 0)
			return (long)i;
	return -1;
}

/* A joiner's acct: URI -> its actor: a member's own new device, or an actor
 * the shell resolved for this Add. */
static int resolve_joiner(struct run *r, struct effects *e, const char *acct, long *idx)
{
	long m = eff_find_acct(e, acct);
	if (m >= 0) {
		*idx = m;
		return 0;
	}
	const struct hub_members *rs = r->in->resolved;
	for (size_t i = 0; rs && i < rs->n; i++) {
		if (!rs->v[i].acct || strcmp(rs->v[i].acct, acct) != 0)
			continue;
		const char *actor = rs->v[i].actor;
		ENSURE(hub_grp_string_ok(actor, HUB_MAX_URL), AIM_ERR_INVALID,
		       "resolved actor of %s is no URL", acct);
		/* one actor, one acct: URI */
		ENSURE(eff_find_actor(e, actor) < 0, AIM_ERR_INVALID,
		       "%s is a member under another acct: URI than %s", actor, acct);
		e->members = aim_xrealloc(e->members, (e->n_members + 1) * sizeof *e->members);
		e->devices = aim_xrealloc(e->devices, (e->n_members + 1) * sizeof *e->devices);
		e->members[e->n_members].actor = aim_xstrdup(actor);
		e->members[e->n_members].acct = aim_xstrdup(acct);
		e->devices[e->n_members] = 0;
		*idx = (long)e->n_members++;
		return 0;
	}
	return aim_fail(AIM_ERR_INVALID, "the Commit adds a device of %s, an actor the activity does not name",
			acct);
}

static int commit_effects(struct run *r, const long *old_owner, uint32_t n_old_leaves,
			  const struct mls_public_group *pg, const struct mls_public_result *res,
			  struct effects *e)
{
	const struct hub_input *in = r->in;
	const struct hub_group *g = r->g;
	const struct mls_framed_content *c = &r->m.public_message.content;
	bool external = c->sender.type == MLS_SENDER_NEW_MEMBER_COMMIT;
	e->n_old = e->n_members = g->n_members;
	e->members = aim_xcalloc(g->n_members + 1, sizeof *e->members);
	memcpy(e->members, g->members, g->n_members * sizeof *e->members);
	e->devices = aim_xcalloc(g->n_members + 1, sizeof *e->devices);
	/* "If the Commit included a ReInit proposal, the client MUST NOT use
	 * the group to send messages anymore" (9420 section 12.4.2): a channel
	 * lives on; a ReInit is not for the hub to order. */
	ENSURE(!res->reinit, AIM_ERR_UNSUPPORTED, "a ReInit Commit: the channel would end");

	/* Removed devices: of the actors the activity names (Remove), of the
	 * actor itself (its other devices, a resync), or proposed for removal
	 * this epoch (self-removals). */
	for (size_t i = 0; i < res->n_removed; i++) {
		uint32_t l = res->removed[i];
		ENSURE(l < n_old_leaves && old_owner[l] >= 0, AIM_ERR_INTERNAL,
		       "removed leaf %u unknown", l);
		const char *actor = g->members[old_owner[l]].actor;
		bool pending = false;
		for (size_t k = 0; k < g->n_pending; k++)
			pending = pending || g->pending[k].leaf == l;
		if (pending)
			continue;
		if (in->kind == HUB_REMOVE && in_list(in->objects, in->n_objects, actor))
			continue;
		if (in->kind == HUB_COMMIT && strcmp(actor, in->actor) == 0)
			continue;
		return aim_fail(AIM_ERR_INVALID,
				"the Commit removes a device of %s, which the activity does not name",
				actor);
	}
	/* #11: "Leaving: a member's self-remove proposal, which the next
	 * committer must include; the hub refuses commits that leave a
	 * pending self-removal out." (9420 section 12.4: "The sender of a
	 * Commit SHOULD include all proposals that it has received during the
	 * current epoch that are valid according to the rules for their
	 * proposal types and according to application policy"; here the
	 * application's policy makes it a MUST.) */
	for (size_t k = 0; k < g->n_pending; k++)
		ENSURE(u32_in(res->removed, res->n_removed, g->pending[k].leaf), AIM_ERR_INVALID,
		       "the Commit leaves out the pending removal of leaf %u (%s leaving)",
		       g->pending[k].leaf, g->members[old_owner[g->pending[k].leaf]].actor);

	/* Added devices. */
	const struct mls_tree *nt = mls_public_group_tree(pg);
	char acct[HUB_MAX_ACCT + 1];
	if (in->kind != HUB_ADD && !external)
		ENSURE(res->n_added == 0, AIM_ERR_INVALID,
		       "a Commit that adds devices goes in an Add activity naming their actors");
	if (external) {
		/* A member's new device joining by external commit (#11 "Other
		 * commits"): its one new leaf is a device of the actor. */
		ENSURE(res->n_added == 0 || (res->n_added == 1 && res->added[0] == res->committer),
		       AIM_ERR_INVALID, "an external commit adds %zu devices", res->n_added);
		TRY(hub_grp_leaf_acct(nt, res->committer, acct));
		long m = eff_find_acct(e, acct);
		ENSURE(m >= 0 && strcmp(e->members[m].actor, in->actor) == 0, AIM_ERR_DENIED,
		       "an external commit by %s for a device of %s", in->actor, acct);
	}
	bool *named = aim_xcalloc(in->n_objects + 1, sizeof *named);
	int rc = 0;
	for (size_t i = 0; in->kind == HUB_ADD && i < res->n_added; i++) {
		TRY_GOTO(hub_grp_leaf_acct(nt, res->added[i], acct), out);
		long m = -1;
		TRY_GOTO(resolve_joiner(r, e, acct, &m), out);
		/* AIM: "Members of the channel add and remove other members by
		 * using Add and Remove activities to propose modifications to
		 * the followers collection": the Commit must add the devices of
		 * the actors the Add names, and no one else's. */
		size_t k = 0;
		while (k < in->n_objects && strcmp(in->objects[k], e->members[m].actor) != 0)
			k++;
		ENSURE_GOTO(k < in->n_objects, out, AIM_ERR_INVALID,
			    "the Commit adds a device of %s, which the activity does not name",
			    e->members[m].actor);
		named[k] = true;
	}
	for (size_t k = 0; in->kind == HUB_ADD && k < in->n_objects; k++)
		ENSURE_GOTO(named[k], out, AIM_ERR_INVALID,
			    "the activity names %s but the Commit adds no device of it",
			    in->objects[k]);

	/* Devices per member in the new tree. */
	for (uint32_t l = 0; l < mls_tree_n_leaves(nt); l++) {
		if (!mls_tree_leaf(nt, l))
			continue;
		TRY_GOTO(hub_grp_leaf_acct(nt, l, acct), out);
		long m = eff_find_acct(e, acct);
		ENSURE_GOTO(m >= 0, out, AIM_ERR_INVALID, "leaf %u (%s) is no member's device", l,
			    acct);
		e->devices[m]++;
	}
	/* A removed actor leaves with all its devices: the followers
	 * collection and the tree name the same actors. */
	for (size_t k = 0; in->kind == HUB_REMOVE && k < in->n_objects; k++) {
		long m = eff_find_actor(e, in->objects[k]);
		ENSURE_GOTO(m >= 0 && e->devices[m] == 0, out, AIM_ERR_INVALID,
			    "the Commit leaves %zu devices of %s, whom the activity removes",
			    m >= 0 ? e->devices[m] : 0, in->objects[k]);
	}
	for (size_t i = 0; g->policy.fixed_members && i < e->n_old; i++)
		ENSURE_GOTO(e->devices[i] > 0, out, AIM_ERR_DENIED,
			    "the participants of this group are fixed: %s cannot leave",
			    e->members[i].actor);
	long o = eff_find_actor(e, g->owner);
	ENSURE_GOTO(o >= 0 && e->devices[o] > 0, out, AIM_ERR_DENIED,
		    "the Commit removes the owner's last device: ownership is transferred first");
out:
	free(named);
	return rc;
}

/* Applies the effects to the state and the decision. */
static void commit_adopt(struct run *r, struct effects *e)
{
	struct hub_group *g = r->g;
	struct hub_decision *d = r->d;
	for (size_t i = e->n_old; i < e->n_members; i++)
		list_push(&d->added, &d->n_added, e->members[i].actor);
	for (size_t i = 0; i < e->n_old; i++)
		if (e->devices[i] == 0)
			list_push(&d->removed, &d->n_removed, e->members[i].actor);
	/* the old members' strings stay g's; drop the ones without devices */
	for (size_t i = e->n_old; i-- > 0;)
		if (e->devices[i] == 0) {
			hub_grp_drop_admin(g, g->members[i].actor);
			hub_grp_drop_member(g, i);
		}
	for (size_t i = e->n_old; i < e->n_members; i++)
		hub_grp_add_member(g, e->members[i].actor, e->members[i].acct);
	free(g->pending);
	g->pending = NULL;
	g->n_pending = 0;
}

static int decide_commit(struct run *r)
{
	const struct hub_input *in = r->in;
	struct hub_group *g = r->g;
	ENSURE(hub_group_is_member(g, in->actor), AIM_ERR_DENIED, "%s is not a member",
	       in->actor);
	if (in->kind == HUB_ADD || in->kind == HUB_REMOVE) {
		/* #11: "The hub checks that the actor may change membership
		 * (per channel: owner only, admins, or any member)" */
		ENSURE(hub_group_may_manage(g, in->actor), AIM_ERR_DENIED,
		       "%s may not change the membership (policy: %s)", in->actor,
		       hub_membership_name(g->policy.membership));
		TRY(check_objects(in, 1, HUB_MAX_OBJECTS));
	} else {
		TRY(check_objects(in, 0, 0));
	}
	/* #11 "Group DMs (fixed participants, not reified)": a participant
	 * may add its own new device, nobody adds or removes participants. */
	ENSURE(!g->policy.fixed_members || in->kind != HUB_REMOVE, AIM_ERR_DENIED,
	       "the participants of this group are fixed: no Remove");
	for (size_t k = 0; g->policy.fixed_members && in->kind == HUB_ADD && k < in->n_objects; k++)
		ENSURE(hub_group_is_member(g, in->objects[k]), AIM_ERR_DENIED,
		       "the participants of this group are fixed: %s cannot be added",
		       in->objects[k]);
	for (size_t k = 0; in->kind == HUB_REMOVE && k < in->n_objects; k++) {
		ENSURE(hub_group_is_member(g, in->objects[k]), AIM_ERR_INVALID,
		       "%s is not a member", in->objects[k]);
		ENSURE(strcmp(in->objects[k], g->owner) != 0, AIM_ERR_DENIED,
		       "the owner cannot be removed");
	}
	if (in->kind != HUB_ADD)
		ENSURE(in->welcome.len == 0, AIM_ERR_INVALID,
		       "a Welcome with a Commit that adds no member");
	TRY(parse_handshake(r, MLS_CONTENT_COMMIT));
	const struct mls_framed_content *c = &r->m.public_message.content;
	if (c->sender.type == MLS_SENDER_MEMBER) {
		TRY(check_member_sender(r, c->sender.index));
	} else {
		ENSURE(c->sender.type == MLS_SENDER_NEW_MEMBER_COMMIT && in->kind == HUB_COMMIT,
		       AIM_ERR_INVALID, "a Commit from sender type %u in a%s activity",
		       c->sender.type, in->kind == HUB_ADD ? "n Add" : in->kind == HUB_REMOVE ? " Remove" : "");
	}
	long *old_owner = NULL;
	uint32_t n_old = 0;
	TRY(leaf_owners(g, mls_public_group_tree(g->pg), &old_owner, &n_old));
	struct mls_extension_list old_ext = { 0 };
	int rc = 0;
	struct mls_public_group *pg = NULL;
	struct mls_public_result res;
	struct effects e = { 0 };
	memset(&res, 0, sizeof res);
	TRY_GOTO(mls_extension_list_copy(&old_ext, &mls_public_group_context(g->pg)->extensions),
		 out);
	TRY_GOTO(mls_process(r, &pg, &res), out);
	TRY_GOTO(commit_effects(r, old_owner, n_old, pg, &res, &e), out);
	/* #11: GroupContextExtensions go "through the same gate" as
	 * membership: only an actor the policy allows changes them. */
	if (!extensions_equal(&old_ext, &mls_public_group_context(pg)->extensions))
		ENSURE_GOTO(hub_group_may_manage(g, in->actor), out, AIM_ERR_DENIED,
			    "%s may not change the group's extensions (policy: %s)", in->actor,
			    hub_membership_name(g->policy.membership));
	if (in->kind == HUB_ADD) {
		TRY_GOTO(check_welcome(r, &c->commit, res.n_added), out);
		r->d->route_welcome = true;
	}
	TRY_GOTO(take_group_info(r, pg), out);
	/* Everything passed: adopt. */
	r->d->committer = res.committer;
	commit_adopt(r, &e);
	adopt_public(r, pg);
	pg = NULL;
out:
	/* (scratch: a refused decision's state is discarded whole) */
	drop_public(r, pg);
	effects_free(&e);
	mls_public_result_free(&res);
	mls_extension_list_free(&old_ext);
	free(old_owner);
	return rc;
}

/* ---- Proposals (leaving) ------------------------------------------------------------------ */

static int decide_proposal(struct run *r)
{
	const struct hub_input *in = r->in;
	struct hub_group *g = r->g;
	ENSURE(hub_group_is_member(g, in->actor), AIM_ERR_DENIED, "%s is not a member",
	       in->actor);
	TRY(check_objects(in, 0, 0));
	ENSURE(in->welcome.len == 0, AIM_ERR_INVALID, "a Welcome with a Proposal");
	TRY(parse_handshake(r, MLS_CONTENT_PROPOSAL));
	const struct mls_framed_content *c = &r->m.public_message.content;
	ENSURE(c->sender.type == MLS_SENDER_MEMBER, AIM_ERR_INVALID,
	       "a Proposal from sender type %u", c->sender.type);
	TRY(check_member_sender(r, c->sender.index));
	/* #11: "Leaving: a member's self-remove proposal". The hub takes no
	 * other proposal on its own: Adds go in an Add activity with their
	 * Commit, Updates as Commits. */
	ENSURE(c->proposal.type == MLS_PROPOSAL_REMOVE, AIM_ERR_INVALID,
	       "a Proposal of type %u: the hub takes only Removes of one's own devices",
	       c->proposal.type);
	uint32_t leaf = c->proposal.remove.removed;
	const struct mls_tree *t = mls_public_group_tree(g->pg);
	ENSURE(leaf < mls_tree_n_leaves(t) && mls_tree_leaf(t, leaf), AIM_ERR_INVALID,
	       "Remove of leaf %u, which is not a member", leaf);
	long *owner_of = NULL;
	uint32_t n = 0;
	TRY(leaf_owners(g, t, &owner_of, &n));
	int rc = 0;
	struct mls_public_group *pg = NULL;
	struct mls_public_result res;
	memset(&res, 0, sizeof res);
	long me = hub_grp_find_actor(g, in->actor);
	ENSURE_GOTO(owner_of[leaf] == me, out, AIM_ERR_DENIED,
		    "%s proposes to remove leaf %u, a device of %s", in->actor, leaf,
		    g->members[owner_of[leaf]].actor);
	for (size_t k = 0; k < g->n_pending; k++)
		ENSURE_GOTO(g->pending[k].leaf != leaf, out, AIM_ERR_EXISTS,
			    "the removal of leaf %u is already proposed", leaf);
	if (strcmp(in->actor, g->owner) == 0 || g->policy.fixed_members) {
		/* the owner's last device may not go before ownership does, nor
		 * a participant's of a group DM */
		size_t left = 0;
		for (uint32_t l = 0; l < n; l++)
			if (owner_of[l] == me && l != leaf) {
				bool pend = false;
				for (size_t k = 0; k < g->n_pending; k++)
					pend = pend || g->pending[k].leaf == l;
				left += !pend;
			}
		ENSURE_GOTO(left > 0, out, AIM_ERR_DENIED,
			    g->policy.fixed_members
				    ? "the participants of this group are fixed: the last device cannot leave"
				    : "the owner's last device cannot leave: ownership is transferred first");
	}
	TRY_GOTO(mls_process(r, &pg, &res), out);
	g->pending = aim_xrealloc(g->pending, (g->n_pending + 1) * sizeof *g->pending);
	struct hub_pending *p = &g->pending[g->n_pending++];
	memset(p, 0, sizeof *p);
	p->leaf = leaf;
	p->ref_len = mls_public_group_suite(pg)->nh;
	memcpy(p->ref, res.proposal_ref, p->ref_len);
	r->d->committer = c->sender.index;
	adopt_public(r, pg);
	pg = NULL;
out:
	drop_public(r, pg);
	mls_public_result_free(&res);
	free(owner_of);
	return rc;
}

/* ---- Application messages ------------------------------------------------------------------- */

static int decide_message(struct run *r)
{
	const struct hub_input *in = r->in;
	const struct hub_group *g = r->g;
	TRY(check_objects(in, 0, 0));
	ENSURE(in->welcome.len == 0 && in->group_info.len == 0, AIM_ERR_INVALID,
	       "a Welcome or GroupInfo with an application message");
	TRY(mls_message_parse(in->mls.p, in->mls.len, &r->m));
	r->have_m = true;
	ENSURE(r->m.version == MLS_VERSION_10, AIM_ERR_UNSUPPORTED, "MLS version %u",
	       r->m.version);
	/* threats.md C39, 9420 section 6: "Applications MUST use
	 * PrivateMessage to encrypt application messages" */
	if (r->m.wire_format == MLS_WIRE_PUBLIC_MESSAGE &&
	    r->m.public_message.content.content_type == MLS_CONTENT_APPLICATION)
		return aim_fail(AIM_ERR_INVALID, "application data as a PublicMessage");
	/* threats.md C46; AIM "Message Delivery": "The message content itself
	 * is an MLS PrivateMessage encapsulating the actual content" */
	ENSURE(r->m.wire_format == MLS_WIRE_PRIVATE_MESSAGE, AIM_ERR_INVALID,
	       "MLSMessage of wire format %u where a PrivateMessage is expected",
	       r->m.wire_format);
	const struct mls_private_message *pm = &r->m.private_message;
	/* threats.md C37 */
	struct aim_bytes gid = hub_group_id(g);
	ENSURE(pm->group_id.len == gid.len && memcmp(pm->group_id.p, gid.p, gid.len) == 0,
	       AIM_ERR_INVALID, "message for another group");
	/* The hub cannot read an encrypted handshake (AIM: the Commit "must be
	 * sent as a PublicMessage"). */
	ENSURE(pm->content_type == MLS_CONTENT_APPLICATION, AIM_ERR_UNSUPPORTED,
	       "a PrivateMessage of content type %u: handshakes must be PublicMessages",
	       pm->content_type);
	uint64_t cur = hub_group_epoch(g);
	r->d->message_epoch = pm->epoch;
	/* threats.md C35: no application message for a future epoch (its
	 * Commit was never accepted here). */
	ENSURE(pm->epoch <= cur, AIM_ERR_CONFLICT,
	       "application message for epoch %llu, the group is at epoch %llu",
	       (unsigned long long)pm->epoch, (unsigned long long)cur);
	/* 9420 section 14 ("A client might keep the secret tree for a short
	 * time to decrypt late messages in the previous epoch"): a message of
	 * a recent epoch still passes, within the policy's window. */
	ENSURE(cur - pm->epoch <= g->policy.message_epochs, AIM_ERR_CONFLICT,
	       "application message for epoch %llu, older than the %u epochs before %llu the hub "
	       "accepts",
	       (unsigned long long)pm->epoch, g->policy.message_epochs, (unsigned long long)cur);
	/* threats.md C39: "an application message from a non-member": the
	 * sender leaf is encrypted, so membership is by the verified actor
	 * (members refuse a sender that is not in their tree). */
	ENSURE(hub_group_is_member(g, in->actor), AIM_ERR_DENIED, "%s is not a member",
	       in->actor);
	return 0;
}

/* ---- Metadata, ownership, settings ------------------------------------------------------------ */

static int no_mls(const struct hub_input *in)
{
	ENSURE(in->mls.len == 0 && in->welcome.len == 0 && in->group_info.len == 0,
	       AIM_ERR_INVALID, "MLS messages with a %s", hub_kind_name(in->kind));
	return 0;
}

static int decide_metadata(struct run *r)
{
	TRY(no_mls(r->in));
	TRY(check_objects(r->in, 0, 0));
	/* AIM: "Other channel metadata (e.g., the name of the channel) can be
	 * updated by sending an Update activity to the channel Actor's inbox";
	 * #11: "by an allowed member" */
	ENSURE(hub_group_may_manage(r->g, r->in->actor), AIM_ERR_DENIED,
	       "%s may not change the channel's metadata (policy: %s)", r->in->actor,
	       hub_membership_name(r->g->policy.membership));
	return 0;
}

static int decide_transfer(struct run *r)
{
	struct hub_group *g = r->g;
	const struct hub_input *in = r->in;
	TRY(no_mls(in));
	/* AIM "MIMI Requirements": ownership "Single-owner, transferable <--
	 * target this model" */
	ENSURE(strcmp(in->actor, g->owner) == 0, AIM_ERR_DENIED,
	       "%s is not the owner: only the owner transfers ownership", in->actor);
	TRY(check_objects(in, 1, 1));
	ENSURE(hub_group_is_member(g, in->objects[0]), AIM_ERR_INVALID,
	       "the new owner %s is not a member", in->objects[0]);
	ENSURE(strcmp(in->objects[0], g->owner) != 0, AIM_ERR_INVALID, "%s owns it already",
	       in->objects[0]);
	free(g->owner);
	g->owner = aim_xstrdup(in->objects[0]);
	return 0;
}

static int decide_settings(struct run *r)
{
	struct hub_group *g = r->g;
	const struct hub_input *in = r->in;
	TRY(no_mls(in));
	ENSURE(strcmp(in->actor, g->owner) == 0, AIM_ERR_DENIED,
	       "%s is not the owner: only the owner sets policy and admins", in->actor);
	ENSURE(in->policy, AIM_ERR_INVALID, "no policy");
	ENSURE(in->policy->membership >= HUB_MEMBERSHIP_OWNER &&
		       in->policy->membership <= HUB_MEMBERSHIP_MEMBERS,
	       AIM_ERR_INVALID, "membership policy %d", (int)in->policy->membership);
	TRY(check_objects(in, 0, HUB_MAX_ADMINS));
	for (size_t i = 0; i < in->n_objects; i++)
		ENSURE(hub_group_is_member(g, in->objects[i]), AIM_ERR_INVALID,
		       "admin %s is not a member", in->objects[i]);
	/* a group DM stays one, a channel a channel */
	bool fixed = g->policy.fixed_members;
	g->policy = *in->policy;
	g->policy.fixed_members = fixed;
	for (size_t i = 0; i < g->n_admins; i++)
		free(g->admins[i]);
	free(g->admins);
	g->admins = NULL;
	g->n_admins = 0;
	for (size_t i = 0; i < in->n_objects; i++)
		list_push(&g->admins, &g->n_admins, in->objects[i]);
	return 0;
}

/* ---- The entry points --------------------------------------------------------------------- */

static int run_decide(struct run *r)
{
	const struct hub_input *in = r->in;
	ENSURE(hub_grp_string_ok(in->actor, HUB_MAX_URL), AIM_ERR_INVALID,
	       "no valid actor");
	switch (in->kind) {
	case HUB_ADD:
	case HUB_REMOVE:
	case HUB_COMMIT:
		return decide_commit(r);
	case HUB_PROPOSAL:
		return decide_proposal(r);
	case HUB_MESSAGE:
		return decide_message(r);
	case HUB_METADATA:
		return decide_metadata(r);
	case HUB_TRANSFER:
		return decide_transfer(r);
	case HUB_SETTINGS:
		return decide_settings(r);
	case HUB_CREATE:
		break;
	}
	return aim_fail(AIM_ERR_INVALID, "input kind %d", (int)in->kind);
}

static int apply(struct hub_group *g, const struct hub_input *in, uint64_t now,
		 struct hub_decision *d, bool scratch)
{
	hub_decision_init(d);
	d->kind = in->kind;
	d->current_epoch = hub_group_epoch(g);
	struct run r = { .g = g, .in = in, .d = d, .now = now, .scratch = scratch };
	aim_errclear();
	int rc = run_decide(&r);
	if (r.have_m)
		mls_message_free(&r.m);
	if (rc != 0) {
		refuse_fill(d);
		char **a = d->added, **b = d->removed;
		size_t na = d->n_added, nb = d->n_removed;
		for (size_t i = 0; i < na; i++)
			free(a[i]);
		for (size_t i = 0; i < nb; i++)
			free(b[i]);
		free(a);
		free(b);
		d->added = d->removed = NULL;
		d->n_added = d->n_removed = 0;
		d->route_welcome = false;
		d->committer = MLS_NO_LEAF;
		return aim_fail(d->err, "%s", d->reason);
	}
	d->accepted = true;
	d->err = AIM_ERR_NONE;
	d->seq = g->next_seq++;
	d->current_epoch = hub_group_epoch(g);
	return 0;
}

int hub_apply(struct hub_group *g, const struct hub_input *in, uint64_t now,
	      struct hub_decision *d)
{
	return apply(g, in, now, d, false);
}

int hub_decide(const struct hub_group *g, const struct hub_input *in, uint64_t now,
	       struct hub_group **next, struct hub_decision *d)
{
	*next = NULL;
	struct hub_group *c;
	if (hub_group_copy(g, &c) != 0) {
		hub_decision_init(d);
		d->kind = in->kind;
		d->current_epoch = hub_group_epoch(g);
		refuse_fill(d);
		return -1;
	}
	if (apply(c, in, now, d, true) != 0) {
		hub_group_free(c);
		return -1;
	}
	*next = c;
	return 0;
}
