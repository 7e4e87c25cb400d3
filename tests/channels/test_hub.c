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
	struct hub_policy pol = { .membership = policy, .message_epochs = 1 };
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
