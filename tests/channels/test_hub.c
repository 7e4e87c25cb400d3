/* Unit tests of the hub core (src/hub/hub.h), byte for byte: real MLS
 * groups are driven by member devices (mls_group_*, handshakes as
 * PublicMessage), the hub decides on what they send, and the devices move on
 * only with what the hub accepted. Every acceptance and every refusal the
 * hub makes (threats.md C34-C41, C46, and its own rules) has a test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hub/hub.h"
/* forging: re-signing a changed FramedContent as a real member */
#include "mls/framing.h"
#include "mls/mls.h"

/* KeyPackages live from an hour ago to 90 days ahead of the wall clock */
#define NOW ((uint64_t)aim_now())
#define SUITE 1

/* ---- Devices ------------------------------------------------------------------ */

struct dev {
	const char *actor;
	const char *acct;
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	struct mls_group *g;
};

static const struct mls_group_config cfg = { .now = 0 };

enum { ALICE, BOB, CAROL, DAVE, EVE, ALICE2, BOB2, NDEV };

static const char *const ACTORS[NDEV] = {
	"https://a.test/users/alice", "https://b.test/users/bob", "https://c.test/users/carol",
	"https://b.test/users/dave", "https://e.test/users/eve", "https://a.test/users/alice",
	"https://b.test/users/bob",
};
static const char *const ACCTS[NDEV] = {
	"acct:alice@a.test", "acct:bob@b.test", "acct:carol@c.test", "acct:dave@b.test",
	"acct:eve@e.test", "acct:alice@a.test", "acct:bob@b.test",
};

static struct dev D[NDEV];
/* the next channel() is a group DM (fixed participants) */
static bool dm_next;

static void dev_kp(struct dev *d, uint16_t suite)
{
	mls_key_package_free(&d->kp);
	mls_key_package_priv_free(&d->priv);
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	cred.type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&cred.identity, d->acct, strlen(d->acct)), 0);
	struct mls_key_package_params p = { .cipher_suite = suite, .credential = &cred };
	assert_int_equal(mls_key_package_create(&p, &d->kp, &d->priv), 0);
	mls_credential_free(&cred);
}

static int setup(void **state)
{
	(void)state;
	memset(D, 0, sizeof D);
	dm_next = false;
	for (int i = 0; i < NDEV; i++) {
		D[i].actor = ACTORS[i];
		D[i].acct = ACCTS[i];
		dev_kp(&D[i], SUITE);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NDEV; i++) {
		mls_group_free(D[i].g);
		mls_key_package_free(&D[i].kp);
		mls_key_package_priv_free(&D[i].priv);
	}
	memset(D, 0, sizeof D);
	return 0;
}

/* ---- Driving the group ------------------------------------------------------------ */

/* committer commits Adds of the joiners' KeyPackages (PublicMessage, tree
 * in the Welcome). */
static void commit_adds(int committer, const int *joiners, size_t n, struct mls_commit_result *r)
{
	struct mls_key_package kps[NDEV];
	for (size_t i = 0; i < n; i++)
		kps[i] = D[joiners[i]].kp;
	struct mls_commit_params p = { .adds = kps, .n_adds = n, .tree_in_welcome = true,
				       .wire_format = 1 };
	mls_commit_result_init(r);
	int rc = mls_group_commit(D[committer].g, &p, r);
	if (rc)
		fprintf(stderr, "commit: %s\n", aim_errmsg());
	assert_int_equal(rc, 0);
}

static uint32_t leaf_of(int who)
{
	return mls_group_own_leaf(D[who].g);
}

static void commit_removes(int committer, const int *gone, size_t n, struct mls_commit_result *r)
{
	uint32_t leaves[NDEV];
	for (size_t i = 0; i < n; i++)
		leaves[i] = leaf_of(gone[i]);
	struct mls_commit_params p = { .removes = leaves, .n_removes = n, .wire_format = 1 };
	mls_commit_result_init(r);
	assert_int_equal(mls_group_commit(D[committer].g, &p, r), 0);
}

static void commit_update(int committer, bool include_pending, struct mls_commit_result *r)
{
	struct mls_commit_params p = { .force_path = true, .include_pending = include_pending,
				       .wire_format = 1 };
	mls_commit_result_init(r);
	assert_int_equal(mls_group_commit(D[committer].g, &p, r), 0);
}

/* After the hub accepted r from committer: it merges, the others in `others`
 * process, joiners join. */
static void accepted(int committer, const struct mls_commit_result *r, const int *others,
		     size_t n_others, const int *joiners, size_t n_joiners)
{
	assert_int_equal(mls_group_merge_pending(D[committer].g), 0);
	for (size_t i = 0; i < n_others; i++) {
		struct mls_group_event ev;
		int rc = mls_group_process(D[others[i]].g, aim_buf_bytes(&r->commit), &ev);
		if (rc)
			fprintf(stderr, "%s: %s\n", D[others[i]].acct, aim_errmsg());
		assert_int_equal(rc, 0);
		mls_group_event_free(&ev);
	}
	for (size_t i = 0; i < n_joiners; i++) {
		struct dev *j = &D[joiners[i]];
		mls_group_free(j->g);
		j->g = NULL;
		assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&r->welcome), AIM_BYTES(NULL, 0),
						&j->kp, &j->priv, &j->g),
				 0);
	}
}

static void members_of(const int *who, size_t n, struct hub_member *v, struct hub_members *ms)
{
	for (size_t i = 0; i < n; i++) {
		v[i].actor = D[who[i]].actor;
		v[i].acct = D[who[i]].acct;
	}
	ms->v = v;
	ms->n = n;
}

/* alice makes the group and adds the devices in `first`; the hub is
 * created from her GroupInfo of epoch 1. */
static struct hub_group *channel(const int *first, size_t n, enum hub_membership policy)
{
	struct dev *a = &D[ALICE];
	assert_int_equal(mls_group_create(&cfg, AIM_BYTES(NULL, 0), &a->kp, &a->priv, NULL, &a->g),
			 0);
	struct mls_commit_result r;
	commit_adds(ALICE, first, n, &r);
	accepted(ALICE, &r, NULL, 0, first, n);
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_group_info(a->g, true, true, &gi), 0);
	int who[NDEV + 1] = { ALICE };
	size_t nw = 1;
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t k = 0; k < nw; k++)
			dup = dup || strcmp(D[who[k]].actor, D[first[i]].actor) == 0;
		if (!dup)
			who[nw++] = first[i];
	}
	struct hub_member mv[NDEV + 1];
	struct hub_members ms;
	members_of(who, nw, mv, &ms);
	struct hub_policy pol = { .membership = policy, .message_epochs = 1, .fixed_members = dm_next };
	struct hub_create c = { .group_info = aim_buf_bytes(&gi),
				.welcome = aim_buf_bytes(&r.welcome),
				.owner = a->actor,
				.members = &ms,
				.policy = &pol };
	struct hub_group *g = NULL;
	struct hub_decision d;
	int rc = hub_group_create(&c, NOW, &g, &d);
	if (rc)
		fprintf(stderr, "create: %s\n", d.reason);
	assert_int_equal(rc, 0);
	assert_true(d.accepted);
	assert_int_equal(d.kind, HUB_CREATE);
	assert_int_equal(d.n_added, nw);
	assert_true(d.route_welcome);
	assert_int_equal(d.seq, 0);
	assert_int_equal(d.current_epoch, 1);
	hub_decision_free(&d);
	aim_buf_free(&gi);
	mls_commit_result_free(&r);
	assert_int_equal(hub_group_next_seq(g), 1);
	assert_int_equal(hub_group_epoch(g), 1);
	return g;
}

/* The hub decides in on *g; accepted: *g becomes the new state. */
static int decide(struct hub_group **g, const struct hub_input *in, struct hub_decision *d)
{
	struct hub_group *next = NULL;
	int rc = hub_decide(*g, in, NOW, &next, d);
	if (rc == 0) {
		assert_non_null(next);
		assert_true(d->accepted);
		assert_int_equal(d->err, AIM_ERR_NONE);
		hub_group_free(*g);
		*g = next;
	} else {
		assert_null(next);
		assert_false(d->accepted);
		assert_int_not_equal(d->err, AIM_ERR_NONE);
		assert_int_equal(aim_errcode(), d->err);
	}
	return rc;
}

static void expect_refused(struct hub_group **g, const struct hub_input *in, enum aim_err err,
			   const char *reason_part)
{
	struct hub_decision d;
	uint64_t epoch = hub_group_epoch(*g), seq = hub_group_next_seq(*g);
	int rc = decide(g, in, &d);
	if (rc == 0 || d.err != err || (reason_part && !strstr(d.reason, reason_part)))
		fprintf(stderr, "expected %s (%s), got %s: %s\n", aim_errname(err),
			reason_part ? reason_part : "", aim_errname(d.err), d.reason);
	assert_int_equal(rc, -1);
	assert_int_equal(d.err, err);
	if (reason_part)
		assert_non_null(strstr(d.reason, reason_part));
	assert_int_equal(d.current_epoch, epoch);
	assert_int_equal(d.n_added, 0);
	assert_int_equal(d.n_removed, 0);
	assert_false(d.route_welcome);
	assert_int_equal(d.seq, 0);
	assert_int_equal(hub_group_epoch(*g), epoch);
	assert_int_equal(hub_group_next_seq(*g), seq);
	hub_decision_free(&d);
}

static void expect_accepted(struct hub_group **g, const struct hub_input *in,
			    struct hub_decision *d)
{
	uint64_t seq = hub_group_next_seq(*g);
	int rc = decide(g, in, d);
	if (rc)
		fprintf(stderr, "refused: %s\n", d->reason);
	assert_int_equal(rc, 0);
	/* sequence numbers: one per accepted activity, no gaps */
	assert_int_equal(d->seq, seq);
	assert_int_equal(hub_group_next_seq(*g), seq + 1);
}

static struct hub_input input(enum hub_kind kind, int actor, struct aim_bytes mls)
{
	struct hub_input in = { .kind = kind, .actor = D[actor].actor, .mls = mls };
	return in;
}

static bool has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void encrypt(int who, const char *text, struct aim_buf *out)
{
	aim_buf_init(out, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_encrypt(D[who].g, AIM_BYTES(NULL, 0), AIM_BYTES_STR(text), out),
			 0);
}

/* ---- Creation ------------------------------------------------------------------------ */

static void test_create(void **state)
{
	(void)state;
	int first[] = { BOB, CAROL };
	struct hub_group *g = channel(first, 2, HUB_MEMBERSHIP_OWNER);
	assert_int_equal(hub_group_member_count(g), 3);
	assert_true(hub_group_is_member(g, D[BOB].actor));
	assert_false(hub_group_is_member(g, D[EVE].actor));
	assert_string_equal(hub_group_owner(g), D[ALICE].actor);
	assert_true(hub_group_may_manage(g, D[ALICE].actor));
	assert_false(hub_group_may_manage(g, D[BOB].actor));
	struct aim_bytes gid = mls_group_id(D[ALICE].g);
	assert_int_equal(hub_group_id(g).len, gid.len);
	assert_memory_equal(hub_group_id(g).p, gid.p, gid.len);
	assert_int_equal(hub_group_cipher_suite(g), SUITE);
	/* the hub serves the GroupInfo and tree it was given */
	struct aim_buf gi, t, t2;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	aim_buf_init(&t, MLS_MAX_MESSAGE);
	aim_buf_init(&t2, MLS_MAX_MESSAGE);
	assert_int_equal(hub_group_group_info(g, &gi), 0);
	struct mls_message m;
	assert_int_equal(mls_message_parse(gi.data, gi.len, &m), 0);
	assert_int_equal(m.wire_format, MLS_WIRE_GROUP_INFO);
	assert_int_equal(m.group_info.group_context.epoch, 1);
	mls_message_free(&m);
	assert_int_equal(hub_group_export_tree(g, &t), 0);
	assert_int_equal(mls_group_export_tree(D[ALICE].g, &t2), 0);
	assert_int_equal(t.len, t2.len);
	assert_memory_equal(t.data, t2.data, t.len);
	aim_buf_free(&gi);
	aim_buf_free(&t);
	aim_buf_free(&t2);
	hub_group_free(g);
}

/* ---- Add ------------------------------------------------------------------------------- */

static void test_add(void **state)
{
	(void)state;
	int first[] = { BOB };
	struct hub_group *g = channel(first, 1, HUB_MEMBERSHIP_OWNER);
	int j[] = { CAROL, DAVE };
	struct mls_commit_result r;
	commit_adds(ALICE, j, 2, &r);
	struct hub_member rv[2];
	struct hub_members rs;
	members_of(j, 2, rv, &rs);
	const char *objs[] = { D[CAROL].actor, D[DAVE].actor };
	struct hub_input in = input(HUB_ADD, ALICE, aim_buf_bytes(&r.commit));
	in.objects = objs;
	in.n_objects = 2;
	in.welcome = aim_buf_bytes(&r.welcome);
	in.resolved = &rs;
	in.group_info = aim_buf_bytes(&r.group_info);
	struct hub_decision d;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.kind, HUB_ADD);
	assert_int_equal(d.seq, 1);
	assert_int_equal(d.current_epoch, 2);
	assert_int_equal(d.message_epoch, 1);
	assert_true(d.route_welcome);
	assert_int_equal(d.n_added, 2);
	assert_true(has(d.added, d.n_added, D[CAROL].actor));
	assert_true(has(d.added, d.n_added, D[DAVE].actor));
	assert_int_equal(d.n_removed, 0);
	hub_decision_free(&d);
	assert_int_equal(hub_group_member_count(g), 4);
	int others[] = { BOB };
	accepted(ALICE, &r, others, 1, j, 2);
	mls_commit_result_free(&r);
	/* the hub's GroupInfo is the committer's of epoch 2 */
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	assert_int_equal(hub_group_group_info(g, &gi), 0);
	struct mls_message m;
	assert_int_equal(mls_message_parse(gi.data, gi.len, &m), 0);
	assert_int_equal(m.group_info.group_context.epoch, 2);
	mls_message_free(&m);
	aim_buf_free(&gi);
	/* and the hub follows: a message of epoch 2 from dave */
	struct aim_buf ct;
	encrypt(DAVE, "hello", &ct);
	in = input(HUB_MESSAGE, DAVE, aim_buf_bytes(&ct));
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.seq, 2);
	assert_int_equal(d.message_epoch, 2);
	hub_decision_free(&d);
	aim_buf_free(&ct);
	hub_group_free(g);
}

/* ---- Remove ---------------------------------------------------------------------------------- */

static void test_remove(void **state)
{
	(void)state;
	int first[] = { BOB, CAROL, DAVE };
	struct hub_group *g = channel(first, 3, HUB_MEMBERSHIP_OWNER);
	int gone[] = { CAROL };
	struct mls_commit_result r;
	commit_removes(ALICE, gone, 1, &r);
	const char *objs[] = { D[CAROL].actor };
	struct hub_input in = input(HUB_REMOVE, ALICE, aim_buf_bytes(&r.commit));
	in.objects = objs;
	in.n_objects = 1;
	struct hub_decision d;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.kind, HUB_REMOVE);
	assert_int_equal(d.current_epoch, 2);
	assert_false(d.route_welcome);
	assert_int_equal(d.n_added, 0);
	assert_int_equal(d.n_removed, 1);
	assert_string_equal(d.removed[0], D[CAROL].actor);
	hub_decision_free(&d);
	assert_false(hub_group_is_member(g, D[CAROL].actor));
	assert_int_equal(hub_group_member_count(g), 3);
	int others[] = { BOB, DAVE, CAROL };
	accepted(ALICE, &r, others, 3, NULL, 0);
	assert_false(mls_group_active(D[CAROL].g));
	mls_commit_result_free(&r);
	/* carol's later messages are refused: she is no member */
	struct aim_buf ct;
	encrypt(BOB, "after", &ct);
	in = input(HUB_MESSAGE, CAROL, aim_buf_bytes(&ct));
	expect_refused(&g, &in, AIM_ERR_DENIED, "not a member");
	aim_buf_free(&ct);
	hub_group_free(g);
}

/* ---- Messages -------------------------------------------------------------------------- */

static void test_messages(void **state)
{
	(void)state;
	int first[] = { BOB, CAROL };
	struct hub_group *g = channel(first, 2, HUB_MEMBERSHIP_OWNER);
	struct hub_decision d;
	struct aim_buf m1;
	encrypt(BOB, "one", &m1);
	struct hub_input in = input(HUB_MESSAGE, BOB, aim_buf_bytes(&m1));
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.kind, HUB_MESSAGE);
	assert_int_equal(d.seq, 1);
	assert_int_equal(d.n_added + d.n_removed, 0);
	assert_false(d.route_welcome);
	hub_decision_free(&d);

	/* C39: from an actor that is not a member */
	in.actor = D[EVE].actor;
	expect_refused(&g, &in, AIM_ERR_DENIED, "not a member");

	/* the same bytes from a member again: the hub does not deduplicate
	 * (the shell does, by activity id) */
	in.actor = D[CAROL].actor;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.seq, 2);
	hub_decision_free(&d);
	aim_buf_free(&m1);
	hub_group_free(g);
}

/* ---- The race (threats.md C36) -------------------------------------------------------------- */

static void test_race(void **state)
{
	(void)state;
	int first[] = { BOB, CAROL };
	struct hub_group *g = channel(first, 2, HUB_MEMBERSHIP_MEMBERS);
	/* bob and carol both commit for epoch 1 */
	struct mls_commit_result rb, rc;
	commit_update(BOB, false, &rb);
	commit_update(CAROL, false, &rc);
	struct hub_input ib = input(HUB_COMMIT, BOB, aim_buf_bytes(&rb.commit));
	struct hub_input ic = input(HUB_COMMIT, CAROL, aim_buf_bytes(&rc.commit));
	struct hub_decision d;
	expect_accepted(&g, &ib, &d);
	assert_int_equal(d.current_epoch, 2);
	assert_int_equal(d.seq, 1);
	hub_decision_free(&d);
	/* the loser: stale, with the current epoch */
	expect_refused(&g, &ic, AIM_ERR_CONFLICT, "epoch 1");
	struct hub_decision d2;
	assert_int_equal(decide(&g, &ic, &d2), -1);
	assert_int_equal(d2.current_epoch, 2);
	assert_int_equal(d2.message_epoch, 1);
	hub_decision_free(&d2);
	int others[] = { ALICE, CAROL };
	/* carol's pending commit is discarded when bob's arrives */
	accepted(BOB, &rb, others, 2, NULL, 0);
	assert_false(mls_group_has_pending(D[CAROL].g));
	mls_commit_result_free(&rc);
	/* rebuilt on the new epoch, it wins */
	commit_update(CAROL, false, &rc);
	ic = input(HUB_COMMIT, CAROL, aim_buf_bytes(&rc.commit));
	expect_accepted(&g, &ic, &d);
	assert_int_equal(d.current_epoch, 3);
	assert_int_equal(d.seq, 2);
	hub_decision_free(&d);
	int others2[] = { ALICE, BOB };
	accepted(CAROL, &rc, others2, 2, NULL, 0);
	assert_int_equal(mls_group_epoch(D[ALICE].g), 3);
	mls_commit_result_free(&rb);
	mls_commit_result_free(&rc);
	hub_group_free(g);
}


/* ---- Forging (a real member's signature over changed content) ---------------------------- */

typedef void (*mutate_fn)(struct mls_message *m, void *arg);

/* Parses msg, lets f change it, re-signs it as `signer` (unless signer < 0)
 * against the hub's current GroupContext, encodes into out. */
static void forge(const struct hub_group *g, struct aim_bytes msg, mutate_fn f, void *arg,
		  int signer, struct aim_buf *out)
{
	struct mls_message m;
	assert_int_equal(mls_message_parse(msg.p, msg.len, &m), 0);
	f(&m, arg);
	if (signer >= 0) {
		const struct mls_public_group *pg = hub_group_public(g);
		assert_int_equal(mls_content_sign(mls_public_group_suite(pg), MLS_WIRE_PUBLIC_MESSAGE,
						  &m.public_message.content,
						  mls_public_group_context(pg),
						  mls_bytes_view(&D[signer].priv.signature_priv),
						  &m.public_message.auth),
				 0);
	}
	aim_buf_init(out, MLS_MAX_MESSAGE);
	assert_int_equal(mls_message_encode(out, &m), 0);
	mls_message_free(&m);
}

static void mut_sender(struct mls_message *m, void *arg)
{
	m->public_message.content.sender.index = *(uint32_t *)arg;
}
static void mut_epoch(struct mls_message *m, void *arg)
{
	m->public_message.content.epoch += *(int *)arg;
}
static void mut_group(struct mls_message *m, void *arg)
{
	(void)arg;
	m->public_message.content.group_id.p[0] ^= 1;
}
static void mut_sig(struct mls_message *m, void *arg)
{
	(void)arg;
	m->public_message.auth.signature.p[3] ^= 0x40;
}
static void mut_tag_len(struct mls_message *m, void *arg)
{
	m->public_message.auth.confirmation_tag.len = *(size_t *)arg;
}
static void mut_app(struct mls_message *m, void *arg)
{
	(void)arg;
	struct mls_framed_content *c = &m->public_message.content;
	mls_commit_free(&c->commit);
	c->content_type = MLS_CONTENT_APPLICATION;
	assert_int_equal(mls_bytes_set(&c->application_data, "hi", 2), 0);
	mls_bytes_free(&m->public_message.auth.confirmation_tag);
}
/* appends a proposal by value to a commit */
static void mut_add_proposal(struct mls_message *m, void *arg)
{
	const struct mls_proposal *p = arg;
	struct mls_commit *c = &m->public_message.content.commit;
	c->proposals = realloc(c->proposals, (c->n_proposals + 1) * sizeof *c->proposals);
	struct mls_proposal_or_ref *r = &c->proposals[c->n_proposals++];
	memset(r, 0, sizeof *r);
	r->type = MLS_POR_PROPOSAL;
	assert_int_equal(mls_proposal_copy(&r->proposal, p), 0);
}
static void mut_kp_sig(struct mls_message *m, void *arg)
{
	(void)arg;
	struct mls_commit *c = &m->public_message.content.commit;
	for (size_t i = 0; i < c->n_proposals; i++)
		if (c->proposals[i].proposal.type == MLS_PROPOSAL_ADD)
			c->proposals[i].proposal.add.key_package.signature.p[0] ^= 1;
}
static void mut_path_key(struct mls_message *m, void *arg)
{
	(void)arg;
	struct mls_commit *c = &m->public_message.content.commit;
	assert_true(c->has_path && c->path.n_nodes > 0);
	c->path.nodes[0].encryption_key.p[1] ^= 1;
}

/* A channel of alice, bob, carol at epoch 1 (policy: owner). */
static struct hub_group *abc(void)
{
	int first[] = { BOB, CAROL };
	return channel(first, 2, HUB_MEMBERSHIP_OWNER);
}

/* ---- Refusals of commits: threats.md C34, C37, C38, C40, C46 --------------------------------- */

static void test_refuse_commit_framing(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	struct mls_commit_result r;
	commit_update(ALICE, false, &r);
	struct aim_buf f;
	struct hub_input in;

	/* C34: a Commit for the next epoch (and the previous): 409 material */
	int plus = 1;
	forge(g, aim_buf_bytes(&r.commit), mut_epoch, &plus, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_CONFLICT, "the group is at epoch 1");
	aim_buf_free(&f);
	int minus = -1;
	forge(g, aim_buf_bytes(&r.commit), mut_epoch, &minus, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_CONFLICT, "Commit for epoch 0");
	aim_buf_free(&f);

	/* C37: another group */
	forge(g, aim_buf_bytes(&r.commit), mut_group, NULL, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_INVALID, "another group");
	aim_buf_free(&f);

	/* C38: sender leaf out of range, blank, another actor's device */
	uint32_t far = 77;
	forge(g, aim_buf_bytes(&r.commit), mut_sender, &far, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_DENIED, "outside the tree");
	aim_buf_free(&f);
	uint32_t blank = 3; /* a tree of 3 devices has 4 leaf slots */
	forge(g, aim_buf_bytes(&r.commit), mut_sender, &blank, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_DENIED, "blank");
	aim_buf_free(&f);
	in = input(HUB_COMMIT, BOB, aim_buf_bytes(&r.commit));
	expect_refused(&g, &in, AIM_ERR_DENIED, "a device of https://a.test/users/alice");
	/* a non-member's activity */
	in = input(HUB_COMMIT, EVE, aim_buf_bytes(&r.commit));
	expect_refused(&g, &in, AIM_ERR_DENIED, "not a member");

	/* C40: bad signature; confirmation tag missing or truncated */
	forge(g, aim_buf_bytes(&r.commit), mut_sig, NULL, -1, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_VERIFY, "signature");
	aim_buf_free(&f);
	size_t lens[] = { 0, 31, 1 };
	for (size_t i = 0; i < AIM_ARRAY_LEN(lens); i++) {
		forge(g, aim_buf_bytes(&r.commit), mut_tag_len, &lens[i], -1, &f);
		in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
		struct hub_decision d;
		assert_int_equal(decide(&g, &in, &d), -1);
		assert_true(d.err == AIM_ERR_VERIFY || d.err == AIM_ERR_INVALID);
		hub_decision_free(&d);
		aim_buf_free(&f);
	}

	/* C39: application data as a PublicMessage, as a Commit or a message */
	forge(g, aim_buf_bytes(&r.commit), mut_app, NULL, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_INVALID, "application data as a PublicMessage");
	in = input(HUB_MESSAGE, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_INVALID, "application data as a PublicMessage");
	aim_buf_free(&f);

	/* C46: the wrong wire format; a Welcome or GroupInfo where a Commit
	 * goes */
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&r.group_info));
	expect_refused(&g, &in, AIM_ERR_INVALID, "wire format 4");
	struct aim_buf kp;
	aim_buf_init(&kp, MLS_MAX_MESSAGE);
	struct mls_message km = { .version = MLS_VERSION_10, .wire_format = MLS_WIRE_KEY_PACKAGE };
	km.key_package = D[DAVE].kp;
	assert_int_equal(mls_message_encode(&kp, &km), 0);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&kp));
	expect_refused(&g, &in, AIM_ERR_INVALID, "wire format 5");
	in = input(HUB_MESSAGE, ALICE, aim_buf_bytes(&kp));
	expect_refused(&g, &in, AIM_ERR_INVALID, "where a PrivateMessage is expected");
	aim_buf_free(&kp);
	/* a message where a Commit goes */
	struct aim_buf ct;
	encrypt(BOB, "x", &ct);
	in = input(HUB_COMMIT, BOB, aim_buf_bytes(&ct));
	expect_refused(&g, &in, AIM_ERR_UNSUPPORTED, "PublicMessage");
	aim_buf_free(&ct);
	/* C45: truncated bytes */
	in = input(HUB_COMMIT, ALICE, AIM_BYTES(r.commit.data, r.commit.len - 1));
	expect_refused(&g, &in, AIM_ERR_DECODE, NULL);

	/* the good one still passes, after all of this */
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&r.commit));
	struct hub_decision d;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.seq, 1);
	hub_decision_free(&d);
	mls_commit_result_free(&r);
	hub_group_free(g);
}

/* A private Commit is refused: the hub cannot follow it (AIM draft). */
static void test_refuse_private_commit(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	struct mls_commit_params p = { .force_path = true, .wire_format = 2 };
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(D[ALICE].g, &p, &r), 0);
	struct hub_input in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&r.commit));
	expect_refused(&g, &in, AIM_ERR_UNSUPPORTED, "must be a PublicMessage");
	in.kind = HUB_REMOVE;
	const char *objs[] = { D[BOB].actor };
	in.objects = objs;
	in.n_objects = 1;
	expect_refused(&g, &in, AIM_ERR_UNSUPPORTED, "must be a PublicMessage");
	/* and a private message of content type commit is no message either */
	in = input(HUB_MESSAGE, ALICE, aim_buf_bytes(&r.commit));
	expect_refused(&g, &in, AIM_ERR_UNSUPPORTED, "handshakes must be PublicMessages");
	mls_commit_result_free(&r);
	hub_group_free(g);
}

/* ---- C41 proposal lists, C42 KeyPackages, C43 UpdatePath (the library's, through the hub) --- */

static void test_refuse_commit_contents(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	struct mls_commit_result r;
	commit_update(ALICE, false, &r);
	struct aim_buf f;
	struct hub_input in;
	struct hub_decision d;

	/* C41: the committer removes itself */
	struct mls_proposal rm = { .type = MLS_PROPOSAL_REMOVE };
	rm.remove.removed = leaf_of(ALICE);
	forge(g, aim_buf_bytes(&r.commit), mut_add_proposal, &rm, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	assert_int_equal(decide(&g, &in, &d), -1);
	assert_int_equal(d.err, AIM_ERR_INVALID);
	assert_int_equal(d.current_epoch, 1);
	hub_decision_free(&d);
	aim_buf_free(&f);
	/* C41: an ExternalInit in a member's Commit */
	struct mls_proposal ei = { .type = MLS_PROPOSAL_EXTERNAL_INIT };
	assert_int_equal(mls_bytes_set(&ei.external_init.kem_output, "0123456789abcdef0123456789abcdef",
				       32), 0);
	forge(g, aim_buf_bytes(&r.commit), mut_add_proposal, &ei, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	expect_refused(&g, &in, AIM_ERR_INVALID, NULL);
	mls_proposal_free(&ei);
	aim_buf_free(&f);
	/* C43: an UpdatePath whose node key was changed (parent hashes break) */
	forge(g, aim_buf_bytes(&r.commit), mut_path_key, NULL, ALICE, &f);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&f));
	assert_int_equal(decide(&g, &in, &d), -1);
	assert_true(d.err == AIM_ERR_VERIFY || d.err == AIM_ERR_INVALID);
	hub_decision_free(&d);
	aim_buf_free(&f);
	mls_group_discard_pending(D[ALICE].g);
	mls_commit_result_free(&r);

	/* C41: two Removes of one leaf; C41: an Add of an existing member's
	 * KeyPackage (its keys are in the tree) */
	int gone[] = { BOB };
	commit_removes(ALICE, gone, 1, &r);
	rm.remove.removed = leaf_of(BOB);
	forge(g, aim_buf_bytes(&r.commit), mut_add_proposal, &rm, ALICE, &f);
	in = input(HUB_REMOVE, ALICE, aim_buf_bytes(&f));
	const char *objs[] = { D[BOB].actor };
	in.objects = objs;
	in.n_objects = 1;
	expect_refused(&g, &in, AIM_ERR_INVALID, NULL);
	aim_buf_free(&f);
	mls_group_discard_pending(D[ALICE].g);
	mls_commit_result_free(&r);
	int j[] = { DAVE };
	commit_adds(ALICE, j, 1, &r);
	struct mls_proposal add = { .type = MLS_PROPOSAL_ADD };
	add.add.key_package = D[BOB].kp;
	forge(g, aim_buf_bytes(&r.commit), mut_add_proposal, &add, ALICE, &f);
	const char *objs2[] = { D[DAVE].actor, D[BOB].actor };
	struct hub_member rv[1] = { { D[DAVE].actor, D[DAVE].acct } };
	struct hub_members rs = { rv, 1 };
	in = input(HUB_ADD, ALICE, aim_buf_bytes(&f));
	in.objects = objs2;
	in.n_objects = 2;
	in.resolved = &rs;
	in.welcome = aim_buf_bytes(&r.welcome);
	assert_int_equal(decide(&g, &in, &d), -1);
	assert_true(d.err == AIM_ERR_EXISTS || d.err == AIM_ERR_INVALID);
	hub_decision_free(&d);
	aim_buf_free(&f);
	/* C42: the added KeyPackage's signature broken */
	forge(g, aim_buf_bytes(&r.commit), mut_kp_sig, NULL, ALICE, &f);
	in = input(HUB_ADD, ALICE, aim_buf_bytes(&f));
	in.objects = objs2;
	in.n_objects = 1;
	in.resolved = &rs;
	in.welcome = aim_buf_bytes(&r.welcome);
	expect_refused(&g, &in, AIM_ERR_VERIFY, NULL);
	aim_buf_free(&f);
	mls_group_discard_pending(D[ALICE].g);
	mls_commit_result_free(&r);

	/* C42: a joiner whose credential names no acct: URI (the hub's hook) */
	struct dev odd = { .actor = "https://b.test/users/odd", .acct = "odd@b.test" };
	dev_kp(&odd, SUITE);
	struct mls_key_package_params kp_params;
	(void)kp_params;
	struct mls_commit_params cp = { .adds = &odd.kp, .n_adds = 1, .wire_format = 1 };
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(D[ALICE].g, &cp, &r), 0);
	struct hub_member orv[1] = { { odd.actor, odd.acct } };
	struct hub_members ors = { orv, 1 };
	const char *oobj[] = { odd.actor };
	in = input(HUB_ADD, ALICE, aim_buf_bytes(&r.commit));
	in.objects = oobj;
	in.n_objects = 1;
	in.resolved = &ors;
	in.welcome = aim_buf_bytes(&r.welcome);
	expect_refused(&g, &in, AIM_ERR_DENIED, "acct:");
	mls_group_discard_pending(D[ALICE].g);
	mls_commit_result_free(&r);
	mls_key_package_free(&odd.kp);
	mls_key_package_priv_free(&odd.priv);
	hub_group_free(g);
}

/* ---- The hub's own rules on Add / Remove ------------------------------------------------------------ */

static void test_refuse_membership(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	struct hub_decision d;
	int j[] = { DAVE };
	struct mls_commit_result r;
	struct hub_member rv[2] = { { D[DAVE].actor, D[DAVE].acct }, { D[EVE].actor, D[EVE].acct } };
	struct hub_members rs = { rv, 2 };

	/* policy owner: bob may not add */
	commit_adds(BOB, j, 1, &r);
	const char *od[] = { D[DAVE].actor };
	struct hub_input in = input(HUB_ADD, BOB, aim_buf_bytes(&r.commit));
	in.objects = od;
	in.n_objects = 1;
	in.resolved = &rs;
	in.welcome = aim_buf_bytes(&r.welcome);
	expect_refused(&g, &in, AIM_ERR_DENIED, "may not change the membership");
	mls_group_discard_pending(D[BOB].g);
	mls_commit_result_free(&r);

	/* alice's Add of dave, named as eve: other actors than named */
	commit_adds(ALICE, j, 1, &r);
	const char *oe[] = { D[EVE].actor };
	in = input(HUB_ADD, ALICE, aim_buf_bytes(&r.commit));
	in.objects = oe;
	in.n_objects = 1;
	in.resolved = &rs;
	in.welcome = aim_buf_bytes(&r.welcome);
	expect_refused(&g, &in, AIM_ERR_INVALID, "does not name");
	/* named dave and eve, adds only dave */
	const char *ode[] = { D[DAVE].actor, D[EVE].actor };
	in.objects = ode;
	in.n_objects = 2;
	expect_refused(&g, &in, AIM_ERR_INVALID, "names https://e.test/users/eve but the Commit adds no device");
	/* the joiner's actor not resolved */
	in.objects = od;
	in.n_objects = 1;
	in.resolved = NULL;
	expect_refused(&g, &in, AIM_ERR_INVALID, "does not name");
	in.resolved = &rs;
	/* no Welcome; a Welcome of another Commit; a GroupInfo as Welcome */
	in.welcome = AIM_BYTES(NULL, 0);
	expect_refused(&g, &in, AIM_ERR_INVALID, "without a Welcome");
	in.welcome = aim_buf_bytes(&r.group_info);
	expect_refused(&g, &in, AIM_ERR_INVALID, "where a Welcome is expected");
	struct mls_commit_result r2;
	int j2[] = { EVE };
	mls_group_discard_pending(D[ALICE].g);
	commit_adds(ALICE, j2, 1, &r2);
	in.welcome = aim_buf_bytes(&r2.welcome);
	expect_refused(&g, &in, AIM_ERR_INVALID, "does not add");
	mls_commit_result_free(&r2);
	/* a GroupInfo that is not the new epoch's */
	in.welcome = aim_buf_bytes(&r.welcome);
	struct aim_buf old_gi;
	aim_buf_init(&old_gi, MLS_MAX_MESSAGE);
	assert_int_equal(hub_group_group_info(g, &old_gi), 0);
	in.group_info = aim_buf_bytes(&old_gi);
	expect_refused(&g, &in, AIM_ERR_INVALID, "GroupInfo");
	aim_buf_free(&old_gi);
	in.group_info = AIM_BYTES(NULL, 0);
	/* an Add's Commit in a Commit activity */
	struct hub_input ic = input(HUB_COMMIT, ALICE, aim_buf_bytes(&r.commit));
	ic.welcome = aim_buf_bytes(&r.welcome);
	expect_refused(&g, &ic, AIM_ERR_INVALID, "adds no member");
	ic.welcome = AIM_BYTES(NULL, 0);
	expect_refused(&g, &ic, AIM_ERR_INVALID, "goes in an Add activity");
	mls_group_discard_pending(D[ALICE].g);
	mls_commit_result_free(&r);

	/* Remove: bob's removal named as carol; the owner */
	int gone[] = { BOB };
	commit_removes(ALICE, gone, 1, &r);
	const char *oc[] = { D[CAROL].actor };
	in = input(HUB_REMOVE, ALICE, aim_buf_bytes(&r.commit));
	in.objects = oc;
	in.n_objects = 1;
	expect_refused(&g, &in, AIM_ERR_INVALID, "removes a device of https://b.test/users/bob");
	const char *oa[] = { D[ALICE].actor };
	in.objects = oa;
	expect_refused(&g, &in, AIM_ERR_DENIED, "owner cannot be removed");
	const char *ox[] = { D[EVE].actor };
	in.objects = ox;
	expect_refused(&g, &in, AIM_ERR_INVALID, "is not a member");
	/* bob named twice */
	const char *obb[] = { D[BOB].actor, D[BOB].actor };
	in.objects = obb;
	in.n_objects = 2;
	expect_refused(&g, &in, AIM_ERR_INVALID, "named twice");
	/* and right */
	in.objects = obb;
	in.n_objects = 1;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.n_removed, 1);
	hub_decision_free(&d);
	mls_commit_result_free(&r);
	hub_group_free(g);
}

/* A removed actor leaves with all its devices. */
static void test_remove_all_devices(void **state)
{
	(void)state;
	int first[] = { BOB, BOB2, CAROL };
	struct hub_group *g = channel(first, 3, HUB_MEMBERSHIP_OWNER);
	assert_int_equal(hub_group_member_count(g), 3);
	struct mls_commit_result r;
	int gone1[] = { BOB };
	commit_removes(ALICE, gone1, 1, &r);
	const char *ob[] = { D[BOB].actor };
	struct hub_input in = input(HUB_REMOVE, ALICE, aim_buf_bytes(&r.commit));
	in.objects = ob;
	in.n_objects = 1;
	expect_refused(&g, &in, AIM_ERR_INVALID, "leaves 1 devices of https://b.test/users/bob");
	mls_group_discard_pending(D[ALICE].g);
	mls_commit_result_free(&r);
	int gone2[] = { BOB, BOB2 };
	commit_removes(ALICE, gone2, 2, &r);
	in = input(HUB_REMOVE, ALICE, aim_buf_bytes(&r.commit));
	in.objects = ob;
	in.n_objects = 1;
	struct hub_decision d;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.n_removed, 1);
	assert_string_equal(d.removed[0], D[BOB].actor);
	hub_decision_free(&d);
	mls_commit_result_free(&r);
	hub_group_free(g);
}

/* ---- Leaving: self-remove proposals ------------------------------------------------------------------- */

static void test_self_remove(void **state)
{
	(void)state;
	int first[] = { BOB, CAROL };
	struct hub_group *g = channel(first, 2, HUB_MEMBERSHIP_MEMBERS);
	struct hub_decision d;
	struct aim_buf prop;
	aim_buf_init(&prop, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_remove(D[BOB].g, leaf_of(BOB), &prop), 0);
	/* carol cannot send bob's proposal; bob cannot remove carol this way */
	struct hub_input in = input(HUB_PROPOSAL, CAROL, aim_buf_bytes(&prop));
	expect_refused(&g, &in, AIM_ERR_DENIED, "signed by leaf");
	struct aim_buf other;
	aim_buf_init(&other, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_remove(D[BOB].g, leaf_of(CAROL), &other), 0);
	in = input(HUB_PROPOSAL, BOB, aim_buf_bytes(&other));
	expect_refused(&g, &in, AIM_ERR_DENIED, "a device of https://c.test/users/carol");
	aim_buf_free(&other);
	/* a proposal of another type */
	aim_buf_init(&other, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_update(D[CAROL].g, NULL, &other), 0);
	in = input(HUB_PROPOSAL, CAROL, aim_buf_bytes(&other));
	expect_refused(&g, &in, AIM_ERR_INVALID, "only Removes");
	aim_buf_free(&other);
	/* the owner's last device */
	aim_buf_init(&other, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_remove(D[ALICE].g, leaf_of(ALICE), &other), 0);
	in = input(HUB_PROPOSAL, ALICE, aim_buf_bytes(&other));
	expect_refused(&g, &in, AIM_ERR_DENIED, "ownership is transferred first");
	aim_buf_free(&other);
	/* a Commit where a Proposal goes */
	struct mls_commit_result up;
	commit_update(CAROL, false, &up);
	in = input(HUB_PROPOSAL, CAROL, aim_buf_bytes(&up.commit));
	expect_refused(&g, &in, AIM_ERR_INVALID, "a Commit where a Proposal is expected");
	mls_group_discard_pending(D[CAROL].g);
	mls_commit_result_free(&up);

	/* bob leaves */
	in = input(HUB_PROPOSAL, BOB, aim_buf_bytes(&prop));
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.kind, HUB_PROPOSAL);
	assert_int_equal(d.seq, 1);
	assert_int_equal(d.n_removed, 0);
	hub_decision_free(&d);
	assert_int_equal(hub_group_pending_count(g), 1);
	assert_int_equal(hub_group_pending_leaf(g, 0), leaf_of(BOB));
	/* twice */
	expect_refused(&g, &in, AIM_ERR_EXISTS, "already proposed");
	/* the state with a pending removal survives encode / parse */
	struct aim_buf st;
	aim_buf_init(&st, HUB_MAX_STATE);
	assert_int_equal(hub_group_encode(g, &st), 0);
	struct hub_group *p = NULL;
	assert_int_equal(hub_group_parse(aim_buf_bytes(&st), &p), 0);
	assert_int_equal(hub_group_pending_count(p), 1);
	hub_group_free(g);
	g = p;
	aim_buf_free(&st);
	/* the members see it */
	int ms[] = { ALICE, CAROL };
	for (size_t i = 0; i < 2; i++) {
		struct mls_group_event ev;
		assert_int_equal(mls_group_process(D[ms[i]].g, aim_buf_bytes(&prop), &ev), 0);
		mls_group_event_free(&ev);
	}
	/* a Commit that leaves it out is refused */
	struct mls_commit_result r;
	commit_update(CAROL, false, &r);
	in = input(HUB_COMMIT, CAROL, aim_buf_bytes(&r.commit));
	expect_refused(&g, &in, AIM_ERR_INVALID, "leaves out the pending removal");
	mls_group_discard_pending(D[CAROL].g);
	mls_commit_result_free(&r);
	/* one that includes it: bob is gone */
	commit_update(CAROL, true, &r);
	in = input(HUB_COMMIT, CAROL, aim_buf_bytes(&r.commit));
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.seq, 2);
	assert_int_equal(d.n_removed, 1);
	assert_string_equal(d.removed[0], D[BOB].actor);
	hub_decision_free(&d);
	assert_false(hub_group_is_member(g, D[BOB].actor));
	assert_int_equal(hub_group_pending_count(g), 0);
	int others[] = { ALICE, BOB };
	accepted(CAROL, &r, others, 2, NULL, 0);
	assert_false(mls_group_active(D[BOB].g));
	mls_commit_result_free(&r);
	aim_buf_free(&prop);
	hub_group_free(g);
}

/* ---- Other commits: external join of a member's new device ------------------------------------------------ */

static void test_external_join(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	struct aim_buf gi, tree, commit;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	aim_buf_init(&commit, MLS_MAX_MESSAGE);
	assert_int_equal(hub_group_group_info(g, &gi), 0);
	assert_int_equal(hub_group_export_tree(g, &tree), 0);
	/* eve is no member: her device cannot join that way */
	struct mls_group *eg = NULL;
	assert_int_equal(mls_group_join_external(&cfg, aim_buf_bytes(&gi), aim_buf_bytes(&tree),
						 &D[EVE].kp, &D[EVE].priv, MLS_NO_LEAF, NULL, 0,
						 &commit, &eg),
			 0);
	struct hub_input in = input(HUB_COMMIT, EVE, aim_buf_bytes(&commit));
	expect_refused(&g, &in, AIM_ERR_DENIED, "not a member");
	/* nor by saying it is alice's */
	in.actor = D[ALICE].actor;
	expect_refused(&g, &in, AIM_ERR_DENIED, "external commit by");
	mls_group_free(eg);
	aim_buf_reset(&commit);
	/* alice's second device */
	assert_int_equal(mls_group_join_external(&cfg, aim_buf_bytes(&gi), aim_buf_bytes(&tree),
						 &D[ALICE2].kp, &D[ALICE2].priv, MLS_NO_LEAF, NULL,
						 0, &commit, &D[ALICE2].g),
			 0);
	in = input(HUB_COMMIT, ALICE2, aim_buf_bytes(&commit));
	struct hub_decision d;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.n_added + d.n_removed, 0);
	assert_int_equal(d.current_epoch, 2);
	hub_decision_free(&d);
	assert_int_equal(hub_group_member_count(g), 3);
	assert_int_equal(mls_public_group_member_count(hub_group_public(g)), 4);
	/* the other devices follow, and the new device talks */
	int ms[] = { ALICE, BOB, CAROL };
	for (size_t i = 0; i < 3; i++) {
		struct mls_group_event ev;
		assert_int_equal(mls_group_process(D[ms[i]].g, aim_buf_bytes(&commit), &ev), 0);
		mls_group_event_free(&ev);
	}
	struct aim_buf ct;
	encrypt(ALICE2, "from my phone", &ct);
	in = input(HUB_MESSAGE, ALICE2, aim_buf_bytes(&ct));
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	aim_buf_free(&ct);
	/* no GroupInfo for epoch 2 yet: none came with the commit */
	aim_buf_reset(&gi);
	assert_int_equal(hub_group_group_info(g, &gi), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	aim_buf_free(&gi);
	aim_buf_free(&tree);
	aim_buf_free(&commit);
	hub_group_free(g);
}

/* ---- Application messages: threats.md C35, C37, C39, C46, the window ---------------------------------- */

static void test_refuse_messages(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	struct hub_decision d;
	struct hub_input in;
	/* an epoch-1 message kept for later */
	struct aim_buf old;
	encrypt(BOB, "epoch one", &old);
	/* C35: alice merges an Update the hub never saw: her epoch-2 message
	 * is for a future epoch */
	struct mls_commit_result r;
	commit_update(CAROL, false, &r);
	struct mls_group *ahead = NULL;
	{
		struct aim_buf st;
		aim_buf_init(&st, MLS_MAX_GROUP_STATE);
		assert_int_equal(mls_group_encode(D[CAROL].g, &st), 0);
		assert_int_equal(mls_group_parse(&cfg, st.data, st.len, &ahead), 0);
		aim_buf_free_secret(&st);
	}
	assert_int_equal(mls_group_merge_pending(ahead), 0);
	struct aim_buf fut;
	aim_buf_init(&fut, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_encrypt(ahead, AIM_BYTES(NULL, 0), AIM_BYTES("soon", 4), &fut), 0);
	mls_group_free(ahead);
	in = input(HUB_MESSAGE, CAROL, aim_buf_bytes(&fut));
	expect_refused(&g, &in, AIM_ERR_CONFLICT, "epoch 2, the group is at epoch 1");
	/* the hub accepts the Update: epoch 2; the kept epoch-1 message is in
	 * the window (current and one before) */
	in = input(HUB_COMMIT, CAROL, aim_buf_bytes(&r.commit));
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	int others[] = { ALICE, BOB };
	accepted(CAROL, &r, others, 2, NULL, 0);
	mls_commit_result_free(&r);
	in = input(HUB_MESSAGE, BOB, aim_buf_bytes(&old));
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.message_epoch, 1);
	hub_decision_free(&d);
	in = input(HUB_MESSAGE, CAROL, aim_buf_bytes(&fut));
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	/* one more epoch: epoch 1 is out of the window */
	commit_update(ALICE, false, &r);
	in = input(HUB_COMMIT, ALICE, aim_buf_bytes(&r.commit));
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	int others2[] = { BOB, CAROL };
	accepted(ALICE, &r, others2, 2, NULL, 0);
	mls_commit_result_free(&r);
	in = input(HUB_MESSAGE, BOB, aim_buf_bytes(&old));
	expect_refused(&g, &in, AIM_ERR_CONFLICT, "older than the 1 epochs");
	/* C37: a message of another group */
	struct dev *x = &D[EVE];
	assert_int_equal(mls_group_create(&cfg, AIM_BYTES(NULL, 0), &x->kp, &x->priv, NULL, &x->g),
			 0);
	struct aim_buf og;
	encrypt(EVE, "elsewhere", &og);
	in = input(HUB_MESSAGE, BOB, aim_buf_bytes(&og));
	expect_refused(&g, &in, AIM_ERR_INVALID, "another group");
	aim_buf_free(&og);
	/* C46: a Welcome where a message goes; an empty body */
	struct aim_buf w;
	aim_buf_init(&w, 16);
	static const uint8_t welcome_head[] = { 0, 1, 0, 3, 0, 1, 0, 0 };
	assert_int_equal(aim_buf_append(&w, welcome_head, sizeof welcome_head), 0);
	in = input(HUB_MESSAGE, BOB, aim_buf_bytes(&w));
	expect_refused(&g, &in, AIM_ERR_INVALID, "wire format 3");
	aim_buf_free(&w);
	in = input(HUB_MESSAGE, BOB, AIM_BYTES(NULL, 0));
	expect_refused(&g, &in, AIM_ERR_DECODE, NULL);
	/* seq: four accepted so far (two commits, two messages) */
	assert_int_equal(hub_group_next_seq(g), 5);
	aim_buf_free(&old);
	aim_buf_free(&fut);
	hub_group_free(g);
}

/* ---- Metadata, ownership, settings ---------------------------------------------------------------------- */

static void test_metadata_ownership(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	struct hub_decision d;
	struct hub_input in = input(HUB_METADATA, BOB, AIM_BYTES(NULL, 0));
	expect_refused(&g, &in, AIM_ERR_DENIED, "may not change the channel's metadata");
	in.actor = D[ALICE].actor;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.seq, 1);
	hub_decision_free(&d);
	/* settings: owner only; admins must be members */
	const char *admins[] = { D[BOB].actor };
	struct hub_policy pol = { .membership = HUB_MEMBERSHIP_ADMINS, .message_epochs = 2 };
	in = input(HUB_SETTINGS, BOB, AIM_BYTES(NULL, 0));
	in.objects = admins;
	in.n_objects = 1;
	in.policy = &pol;
	expect_refused(&g, &in, AIM_ERR_DENIED, "only the owner");
	const char *bad[] = { D[EVE].actor };
	in.actor = D[ALICE].actor;
	in.objects = bad;
	expect_refused(&g, &in, AIM_ERR_INVALID, "is not a member");
	in.objects = admins;
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	assert_true(hub_group_is_admin(g, D[BOB].actor));
	assert_true(hub_group_may_manage(g, D[BOB].actor));
	assert_false(hub_group_may_manage(g, D[CAROL].actor));
	assert_int_equal(hub_group_policy(g)->message_epochs, 2);
	in = input(HUB_METADATA, BOB, AIM_BYTES(NULL, 0));
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	/* transfer: owner only, to a member */
	const char *to_carol[] = { D[CAROL].actor };
	in = input(HUB_TRANSFER, BOB, AIM_BYTES(NULL, 0));
	in.objects = to_carol;
	in.n_objects = 1;
	expect_refused(&g, &in, AIM_ERR_DENIED, "not the owner");
	in.actor = D[ALICE].actor;
	in.objects = bad;
	expect_refused(&g, &in, AIM_ERR_INVALID, "not a member");
	in.objects = to_carol;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.seq, 4);
	hub_decision_free(&d);
	assert_string_equal(hub_group_owner(g), D[CAROL].actor);
	/* the state round-trips */
	struct aim_buf st;
	aim_buf_init(&st, HUB_MAX_STATE);
	assert_int_equal(hub_group_encode(g, &st), 0);
	struct hub_group *p = NULL;
	assert_int_equal(hub_group_parse(aim_buf_bytes(&st), &p), 0);
	assert_string_equal(hub_group_owner(p), D[CAROL].actor);
	assert_int_equal(hub_group_admin_count(p), 1);
	assert_string_equal(hub_group_admin(p, 0), D[BOB].actor);
	assert_int_equal(hub_group_next_seq(p), 5);
	hub_group_free(p);
	aim_buf_free(&st);
	/* MLS bytes with a metadata change are refused */
	in = input(HUB_METADATA, CAROL, AIM_BYTES("x", 1));
	expect_refused(&g, &in, AIM_ERR_INVALID, "MLS messages");
	hub_group_free(g);
}

/* ---- Creation refusals ------------------------------------------------------------------------------------- */

static void test_refuse_create(void **state)
{
	(void)state;
	struct dev *a = &D[ALICE];
	assert_int_equal(mls_group_create(&cfg, AIM_BYTES(NULL, 0), &a->kp, &a->priv, NULL, &a->g),
			 0);
	int first[] = { BOB };
	struct mls_commit_result r;
	commit_adds(ALICE, first, 1, &r);
	assert_int_equal(mls_group_merge_pending(a->g), 0);
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_group_info(a->g, true, true, &gi), 0);
	struct hub_member mv[3] = { { D[ALICE].actor, D[ALICE].acct }, { D[BOB].actor, D[BOB].acct },
				    { D[CAROL].actor, D[CAROL].acct } };
	struct hub_members ms = { mv, 1 };
	struct hub_create c = { .group_info = aim_buf_bytes(&gi), .welcome = aim_buf_bytes(&r.welcome),
				.owner = a->actor, .members = &ms };
	struct hub_group *g = NULL;
	struct hub_decision d;
	/* bob's device is in the tree but he is not named */
	assert_int_equal(hub_group_create(&c, NOW, &g, &d), -1);
	assert_null(g);
	assert_int_equal(d.err, AIM_ERR_INVALID);
	assert_non_null(strstr(d.reason, "acct:bob@b.test"));
	hub_decision_free(&d);
	/* carol is named but has no device */
	ms.n = 3;
	assert_int_equal(hub_group_create(&c, NOW, &g, &d), -1);
	assert_non_null(strstr(d.reason, "carol"));
	hub_decision_free(&d);
	ms.n = 2;
	/* the owner not a member */
	c.owner = D[EVE].actor;
	assert_int_equal(hub_group_create(&c, NOW, &g, &d), -1);
	assert_non_null(strstr(d.reason, "owner"));
	hub_decision_free(&d);
	c.owner = a->actor;
	/* C46: a Welcome where the GroupInfo goes, a GroupInfo where the
	 * Welcome goes */
	c.group_info = aim_buf_bytes(&r.welcome);
	assert_int_equal(hub_group_create(&c, NOW, &g, &d), -1);
	assert_int_equal(d.err, AIM_ERR_INVALID);
	hub_decision_free(&d);
	c.group_info = aim_buf_bytes(&gi);
	c.welcome = aim_buf_bytes(&gi);
	assert_int_equal(hub_group_create(&c, NOW, &g, &d), -1);
	assert_non_null(strstr(d.reason, "where a Welcome is expected"));
	hub_decision_free(&d);
	c.welcome = aim_buf_bytes(&r.welcome);
	/* a GroupInfo with a broken signature */
	gi.data[gi.len - 5] ^= 1;
	assert_int_equal(hub_group_create(&c, NOW, &g, &d), -1);
	assert_int_equal(d.err, AIM_ERR_VERIFY);
	hub_decision_free(&d);
	gi.data[gi.len - 5] ^= 1;
	assert_int_equal(hub_group_create(&c, NOW, &g, &d), 0);
	hub_decision_free(&d);
	hub_group_free(g);
	aim_buf_free(&gi);
	mls_commit_result_free(&r);
}

/* ---- Identities: the acct: URI of a credential ----------------------------------------------------------- */

static void test_credential_acct(void **state)
{
	(void)state;
	char out[HUB_MAX_ACCT + 1];
	struct mls_credential c = { .type = MLS_CREDENTIAL_BASIC };
	assert_int_equal(mls_bytes_set(&c.identity, "acct:bob@b.test", 15), 0);
	assert_int_equal(hub_credential_acct(&c, out), 0);
	assert_string_equal(out, "acct:bob@b.test");
	static const char *const bad[] = { "bob@b.test", "acct:bob", "acct:@b.test", "acct:bob@",
					   "acct:b b@b.test", "mailto:bob@b.test" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(bad); i++) {
		assert_int_equal(mls_bytes_set(&c.identity, bad[i], strlen(bad[i])), 0);
		assert_int_equal(hub_credential_acct(&c, out), -1);
		assert_string_equal(out, "");
	}
	assert_int_equal(mls_bytes_set(&c.identity, "acct:bob@b.test\0x", 17), 0);
	assert_int_equal(hub_credential_acct(&c, out), -1);
	mls_credential_free(&c);

	/* x509: the one SAN URI of a leaf our CA issues */
	struct aim_pkey *ca = NULL;
	struct aim_buf ca_cert, leaf, sk, pk;
	aim_buf_init(&ca_cert, AIM_X509_MAX);
	aim_buf_init(&leaf, AIM_X509_MAX);
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	int64_t now = aim_now();
	assert_int_equal(aim_x509_ca_create(AIM_KEY_ED25519, "b.test CA", now - 10, now + 86400,
					    &ca, &ca_cert),
			 0);
	assert_int_equal(aim_sig_keygen(AIM_SIG_ED25519, &sk, &pk), 0);
	assert_int_equal(aim_x509_issue(ca, aim_buf_bytes(&ca_cert), AIM_SIG_ED25519,
					aim_buf_bytes(&pk), "acct:bob@b.test", now - 10, now + 3600,
					&leaf),
			 0);
	struct mls_credential x = { .type = MLS_CREDENTIAL_X509 };
	x.certs = calloc(2, sizeof *x.certs);
	x.n_certs = 2;
	assert_int_equal(mls_bytes_set(&x.certs[0], leaf.data, leaf.len), 0);
	assert_int_equal(mls_bytes_set(&x.certs[1], ca_cert.data, ca_cert.len), 0);
	assert_int_equal(hub_credential_acct(&x, out), 0);
	assert_string_equal(out, "acct:bob@b.test");
	/* the CA certificate has no SAN; every truncation of the leaf is
	 * refused without reading past it */
	struct mls_credential y = { .type = MLS_CREDENTIAL_X509, .certs = &x.certs[1], .n_certs = 1 };
	assert_int_equal(hub_credential_acct(&y, out), -1);
	for (size_t n = 0; n < leaf.len; n++) {
		struct mls_bytes cut = { leaf.data, n };
		struct mls_credential z = { .type = MLS_CREDENTIAL_X509, .certs = &cut, .n_certs = 1 };
		assert_int_equal(hub_credential_acct(&z, out), -1);
	}
	struct mls_credential none = { .type = MLS_CREDENTIAL_X509 };
	assert_int_equal(hub_credential_acct(&none, out), -1);
	struct mls_credential other = { .type = 7 };
	assert_int_equal(hub_credential_acct(&other, out), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	mls_credential_free(&x);
	aim_pkey_free(ca);
	aim_buf_free(&ca_cert);
	aim_buf_free(&leaf);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
}

/* ---- A credential hook of the shell is obeyed ------------------------------------------------------------- */

static int refuse_dave(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		       struct aim_bytes key)
{
	(void)arg;
	(void)role;
	(void)key;
	if (cred->identity.len == 16 && memcmp(cred->identity.p, "acct:dave@b.test", 16) == 0)
		return aim_fail(AIM_ERR_DENIED, "dave's CA is not trusted");
	return 0;
}

static void test_shell_hook(void **state)
{
	(void)state;
	struct hub_group *g = abc();
	int j[] = { DAVE };
	struct mls_commit_result r;
	commit_adds(ALICE, j, 1, &r);
	struct hub_member rv[1] = { { D[DAVE].actor, D[DAVE].acct } };
	struct hub_members rs = { rv, 1 };
	const char *od[] = { D[DAVE].actor };
	struct mls_credential_hook hook = { refuse_dave, NULL };
	struct hub_input in = input(HUB_ADD, ALICE, aim_buf_bytes(&r.commit));
	in.objects = od;
	in.n_objects = 1;
	in.resolved = &rs;
	in.welcome = aim_buf_bytes(&r.welcome);
	in.hook = &hook;
	expect_refused(&g, &in, AIM_ERR_DENIED, "not trusted");
	in.hook = NULL;
	/* hub_apply: in place */
	struct hub_decision d;
	assert_int_equal(hub_apply(g, &in, NOW, &d), 0);
	assert_int_equal(d.seq, 1);
	assert_int_equal(hub_group_epoch(g), 2);
	assert_true(hub_group_is_member(g, D[DAVE].actor));
	hub_decision_free(&d);
	/* a refusal in place leaves it as it was */
	assert_int_equal(hub_apply(g, &in, NOW, &d), -1);
	assert_int_equal(d.err, AIM_ERR_CONFLICT);
	assert_int_equal(d.current_epoch, 2);
	assert_int_equal(hub_group_next_seq(g), 2);
	hub_decision_free(&d);
	mls_commit_result_free(&r);
	hub_group_free(g);
}

/* ---- Group DMs: fixed participants ------------------------------------------------------------------------- */

static void test_group_dm(void **state)
{
	(void)state;
	dm_next = true;
	int first[] = { BOB, CAROL };
	struct hub_group *g = channel(first, 2, HUB_MEMBERSHIP_MEMBERS);
	assert_true(hub_group_policy(g)->fixed_members);
	struct hub_decision d;
	/* nobody new */
	int j[] = { DAVE };
	struct mls_commit_result r;
	commit_adds(BOB, j, 1, &r);
	struct hub_member rv[1] = { { D[DAVE].actor, D[DAVE].acct } };
	struct hub_members rs = { rv, 1 };
	const char *od[] = { D[DAVE].actor };
	struct hub_input in = input(HUB_ADD, BOB, aim_buf_bytes(&r.commit));
	in.objects = od;
	in.n_objects = 1;
	in.resolved = &rs;
	in.welcome = aim_buf_bytes(&r.welcome);
	expect_refused(&g, &in, AIM_ERR_DENIED, "fixed");
	mls_group_discard_pending(D[BOB].g);
	mls_commit_result_free(&r);
	/* no Remove */
	int gone[] = { CAROL };
	commit_removes(BOB, gone, 1, &r);
	const char *oc[] = { D[CAROL].actor };
	in = input(HUB_REMOVE, BOB, aim_buf_bytes(&r.commit));
	in.objects = oc;
	in.n_objects = 1;
	expect_refused(&g, &in, AIM_ERR_DENIED, "no Remove");
	mls_group_discard_pending(D[BOB].g);
	mls_commit_result_free(&r);
	/* bob adds his second device, naming himself */
	int j2[] = { BOB2 };
	commit_adds(BOB, j2, 1, &r);
	const char *ob[] = { D[BOB].actor };
	in = input(HUB_ADD, BOB, aim_buf_bytes(&r.commit));
	in.objects = ob;
	in.n_objects = 1;
	in.welcome = aim_buf_bytes(&r.welcome);
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.n_added + d.n_removed, 0);
	assert_true(d.route_welcome);
	hub_decision_free(&d);
	int others[] = { ALICE, CAROL };
	accepted(BOB, &r, others, 2, j2, 1);
	mls_commit_result_free(&r);
	assert_int_equal(mls_public_group_member_count(hub_group_public(g)), 4);
	/* carol's only device cannot leave; bob's second one can */
	struct aim_buf p;
	aim_buf_init(&p, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_remove(D[CAROL].g, leaf_of(CAROL), &p), 0);
	in = input(HUB_PROPOSAL, CAROL, aim_buf_bytes(&p));
	expect_refused(&g, &in, AIM_ERR_DENIED, "fixed");
	aim_buf_reset(&p);
	assert_int_equal(mls_group_propose_remove(D[BOB2].g, leaf_of(BOB2), &p), 0);
	in = input(HUB_PROPOSAL, BOB2, aim_buf_bytes(&p));
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	aim_buf_free(&p);
	/* settings keep it a group DM */
	struct hub_policy pol = { .membership = HUB_MEMBERSHIP_MEMBERS, .message_epochs = 1 };
	in = input(HUB_SETTINGS, ALICE, AIM_BYTES(NULL, 0));
	in.policy = &pol;
	expect_accepted(&g, &in, &d);
	hub_decision_free(&d);
	assert_true(hub_group_policy(g)->fixed_members);
	/* and the flag survives encode / parse */
	struct aim_buf st;
	aim_buf_init(&st, HUB_MAX_STATE);
	assert_int_equal(hub_group_encode(g, &st), 0);
	struct hub_group *q = NULL;
	assert_int_equal(hub_group_parse(aim_buf_bytes(&st), &q), 0);
	assert_true(hub_group_policy(q)->fixed_members);
	assert_int_equal(hub_group_pending_count(q), 1);
	hub_group_free(q);
	aim_buf_free(&st);
	hub_group_free(g);
}

/* ---- x509 credentials, as aimd's CA issues them, through the whole hub ------------------------------------ */

static void x509_kp(struct aim_pkey *ca, struct aim_buf *ca_cert, struct dev *d)
{
	mls_key_package_free(&d->kp);
	mls_key_package_priv_free(&d->priv);
	struct aim_buf sk, pk, leaf;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	aim_buf_init(&leaf, AIM_X509_MAX);
	int64_t now = aim_now();
	assert_int_equal(aim_sig_keygen(AIM_SIG_ED25519, &sk, &pk), 0);
	assert_int_equal(aim_x509_issue(ca, aim_buf_bytes(ca_cert), AIM_SIG_ED25519,
					aim_buf_bytes(&pk), d->acct, now - 60, now + 86400, &leaf),
			 0);
	struct mls_credential cred = { .type = MLS_CREDENTIAL_X509 };
	cred.certs = calloc(2, sizeof *cred.certs);
	cred.n_certs = 2;
	assert_int_equal(mls_bytes_set(&cred.certs[0], leaf.data, leaf.len), 0);
	assert_int_equal(mls_bytes_set(&cred.certs[1], ca_cert->data, ca_cert->len), 0);
	struct mls_key_package_params p = { .cipher_suite = SUITE, .credential = &cred,
					    .signature_priv = aim_buf_bytes(&sk) };
	assert_int_equal(mls_key_package_create(&p, &d->kp, &d->priv), 0);
	mls_credential_free(&cred);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_free(&leaf);
}

static void test_x509_channel(void **state)
{
	(void)state;
	struct aim_pkey *ca = NULL;
	struct aim_buf ca_cert;
	aim_buf_init(&ca_cert, AIM_X509_MAX);
	int64_t now = aim_now();
	assert_int_equal(aim_x509_ca_create(AIM_KEY_ED25519, "test CA", now - 60, now + 86400, &ca,
					    &ca_cert),
			 0);
	int who[] = { ALICE, BOB, CAROL };
	for (size_t i = 0; i < 3; i++)
		x509_kp(ca, &ca_cert, &D[who[i]]);
	int first[] = { BOB };
	struct hub_group *g = channel(first, 1, HUB_MEMBERSHIP_OWNER);
	assert_int_equal(hub_group_member_count(g), 2);
	int j[] = { CAROL };
	struct mls_commit_result r;
	commit_adds(ALICE, j, 1, &r);
	struct hub_member rv[1] = { { D[CAROL].actor, D[CAROL].acct } };
	struct hub_members rs = { rv, 1 };
	const char *oc[] = { D[CAROL].actor };
	struct hub_input in = input(HUB_ADD, ALICE, aim_buf_bytes(&r.commit));
	in.objects = oc;
	in.n_objects = 1;
	in.resolved = &rs;
	in.welcome = aim_buf_bytes(&r.welcome);
	struct hub_decision d;
	expect_accepted(&g, &in, &d);
	assert_int_equal(d.n_added, 1);
	assert_string_equal(d.added[0], D[CAROL].actor);
	hub_decision_free(&d);
	mls_commit_result_free(&r);
	aim_pkey_free(ca);
	aim_buf_free(&ca_cert);
	hub_group_free(g);
}

/* ---- Persistence -------------------------------------------------------------------------- */

static void test_encode_parse(void **state)
{
	(void)state;
	int first[] = { BOB, CAROL };
	struct hub_group *g = channel(first, 2, HUB_MEMBERSHIP_ADMINS);
	struct aim_buf a, b;
	aim_buf_init(&a, HUB_MAX_STATE);
	aim_buf_init(&b, HUB_MAX_STATE);
	assert_int_equal(hub_group_encode(g, &a), 0);
	struct hub_group *p = NULL;
	assert_int_equal(hub_group_parse(aim_buf_bytes(&a), &p), 0);
	assert_int_equal(hub_group_encode(p, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(hub_group_epoch(p), 1);
	assert_int_equal(hub_group_next_seq(p), 1);
	assert_int_equal(hub_group_member_count(p), 3);
	assert_int_equal(hub_group_policy(p)->membership, HUB_MEMBERSHIP_ADMINS);
	/* every truncation is refused */
	for (size_t n = 0; n < a.len; n += 1 + n / 16) {
		struct hub_group *x = NULL;
		assert_int_equal(hub_group_parse(AIM_BYTES(a.data, n), &x), -1);
		assert_null(x);
	}
	hub_group_free(p);
	aim_buf_free(&a);
	aim_buf_free(&b);
	hub_group_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encode_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_commit_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_private_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_commit_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_membership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_all_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_ownership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credential_acct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shell_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_dm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_x509_channel, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
