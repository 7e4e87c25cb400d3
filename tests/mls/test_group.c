/* Unit tests of the member group state machine (src/mls/mls.h): create,
 * add by Welcome (tree in the Welcome and out of band), application
 * messages both ways, Update / Remove / PSK / GroupContextExtensions commits
 * as PublicMessage and PrivateMessage, proposals by reference, external
 * commit, agreement on epoch authenticator and exporter after every epoch,
 * persistence, and the refusals: stale epoch, other group, tampered
 * commit (state untouched), replay, credential hook, invalid commits, and
 * the threats.md section C refusals a member makes on hand-forged messages
 * (signed by a real member, with a valid membership tag). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* the forging helpers read the epoch's membership key */
#include "mls/framing.h"
#include "mls/group_int.h"
#include "mls/mls.h"

#define MAXM 6

struct member {
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	struct mls_group *g;
	char name[16];
};

static const uint8_t PSK_ID[] = "psk-one";
static const uint8_t PSK_VAL[] = "0123456789abcdef0123456789abcdef";

static int psk_lookup(void *arg, struct aim_bytes id, struct aim_buf *out)
{
	(void)arg;
	if (id.len == sizeof PSK_ID - 1 && memcmp(id.p, PSK_ID, id.len) == 0)
		return aim_buf_append(out, PSK_VAL, sizeof PSK_VAL - 1);
	return aim_fail(AIM_ERR_NOTFOUND, "no such PSK");
}

/* Refuses credentials whose identity starts with "evil". */
static int hook_fn(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		   struct aim_bytes key)
{
	(void)role;
	(void)key;
	int *calls = arg;
	(*calls)++;
	if (cred->identity.len >= 4 && memcmp(cred->identity.p, "evil", 4) == 0)
		return aim_fail(AIM_ERR_DENIED, "evil");
	return 0;
}

static int hook_calls;
static struct mls_credential_hook hook = { hook_fn, &hook_calls };

static struct mls_group_config cfg_public = {
	.hook = &hook, .psk_lookup = psk_lookup, .now = 0,
};
static struct mls_group_config cfg_private = {
	.hook = &hook, .psk_lookup = psk_lookup, .encrypt_handshake = true, .padding_block = 32,
};

static void member_init(struct member *m, uint16_t suite, const char *name)
{
	memset(m, 0, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	cred.type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&cred.identity, name, strlen(name)), 0);
	struct mls_key_package_params p = { .cipher_suite = suite, .credential = &cred };
	assert_int_equal(mls_key_package_create(&p, &m->kp, &m->priv), 0);
	mls_credential_free(&cred);
}

static void member_free(struct member *m)
{
	mls_group_free(m->g);
	mls_key_package_free(&m->kp);
	mls_key_package_priv_free(&m->priv);
	memset(m, 0, sizeof *m);
}

static void process_ok(struct member *m, const struct aim_buf *msg)
{
	struct mls_group_event ev;
	int rc = mls_group_process(m->g, aim_buf_bytes(msg), &ev);
	if (rc)
		fprintf(stderr, "%s: %s\n", m->name, aim_errmsg());
	assert_int_equal(rc, 0);
	mls_group_event_free(&ev);
}

/* Every active member agrees on epoch, epoch authenticator and an
 * exporter value. */
static void agree(struct member **ms, size_t n)
{
	uint8_t e0[32], e1[32];
	struct aim_bytes a0 = mls_group_epoch_authenticator(ms[0]->g);
	assert_int_equal(mls_group_export_secret(ms[0]->g, AIM_BYTES("test", 4),
						 AIM_BYTES("ctx", 3), e0, sizeof e0),
			 0);
	for (size_t i = 1; i < n; i++) {
		assert_int_equal(mls_group_epoch(ms[i]->g), mls_group_epoch(ms[0]->g));
		struct aim_bytes a = mls_group_epoch_authenticator(ms[i]->g);
		assert_true(aim_ct_equal(a.p, a.len, a0.p, a0.len));
		assert_int_equal(mls_group_export_secret(ms[i]->g, AIM_BYTES("test", 4),
							 AIM_BYTES("ctx", 3), e1, sizeof e1),
				 0);
		assert_memory_equal(e0, e1, sizeof e0);
		assert_int_equal(mls_group_member_count(ms[i]->g), mls_group_member_count(ms[0]->g));
	}
}

/* Sends one message from ms[from] and checks every other member reads it. */
static void talk(struct member **ms, size_t n, size_t from)
{
	struct aim_buf ct;
	aim_buf_init(&ct, MLS_MAX_MESSAGE);
	char text[64];
	snprintf(text, sizeof text, "hello from %s", ms[from]->name);
	assert_int_equal(mls_group_encrypt(ms[from]->g, AIM_BYTES("ad", 2), AIM_BYTES_STR(text),
					   &ct),
			 0);
	for (size_t i = 0; i < n; i++) {
		struct mls_group_event ev;
		if (i == from) {
			/* our own message relayed back: recognised, no change */
			assert_int_equal(mls_group_process(ms[i]->g, aim_buf_bytes(&ct), &ev), 0);
			assert_true(ev.own_message);
			mls_group_event_free(&ev);
			continue;
		}
		assert_int_equal(mls_group_process(ms[i]->g, aim_buf_bytes(&ct), &ev), 0);
		assert_int_equal(ev.type, MLS_EVENT_APPLICATION);
		assert_int_equal(ev.data.len, strlen(text));
		assert_memory_equal(ev.data.data, text, strlen(text));
		assert_int_equal(ev.aad.len, 2);
		assert_int_equal(ev.sender.index, mls_group_own_leaf(ms[from]->g));
		mls_group_event_free(&ev);
		/* a replay is refused */
		assert_int_not_equal(mls_group_process(ms[i]->g, aim_buf_bytes(&ct), NULL), 0);
	}
	aim_buf_free(&ct);
}

/* ms[c] commits with params; the others process; joiners join. */
static void commit_all(struct member **ms, size_t n, size_t c, const struct mls_commit_params *p,
		       struct member **joiners, size_t n_join, bool tree_oob)
{
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	int rc = mls_group_commit(ms[c]->g, p, &r);
	if (rc)
		fprintf(stderr, "commit by %s: %s\n", ms[c]->name, aim_errmsg());
	assert_int_equal(rc, 0);
	assert_true(mls_group_has_pending(ms[c]->g));
	for (size_t i = 0; i < n; i++)
		if (i != c)
			process_ok(ms[i], &r.commit);
	/* the committer sees its own Commit come back */
	struct mls_group_event ev;
	rc = mls_group_process(ms[c]->g, aim_buf_bytes(&r.commit), &ev);
	if (rc)
		fprintf(stderr, "own commit of %s: %s\n", ms[c]->name, aim_errmsg());
	assert_int_equal(rc, 0);
	assert_true(ev.own_commit);
	mls_group_event_free(&ev);
	assert_false(mls_group_has_pending(ms[c]->g));
	assert_int_equal(mls_group_epoch(ms[c]->g), r.epoch);
	struct aim_buf tree;
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_export_tree(ms[c]->g, &tree), 0);
	for (size_t j = 0; j < n_join; j++) {
		assert_true(r.welcome.len > 0);
		rc = mls_group_join(&cfg_public, aim_buf_bytes(&r.welcome),
				    tree_oob ? aim_buf_bytes(&tree) : AIM_BYTES(NULL, 0),
				    &joiners[j]->kp, &joiners[j]->priv, &joiners[j]->g);
		if (rc)
			fprintf(stderr, "join of %s: %s\n", joiners[j]->name, aim_errmsg());
		assert_int_equal(rc, 0);
	}
	aim_buf_free(&tree);
	mls_commit_result_free(&r);
}

static void lifecycle(uint16_t suite, const struct mls_group_config *cfg)
{
	struct member a, b, c, d;
	member_init(&a, suite, "alice");
	member_init(&b, suite, "bob");
	member_init(&c, suite, "carol");
	member_init(&d, suite, "dave");
	assert_int_equal(mls_group_create(cfg, AIM_BYTES(NULL, 0), &a.kp, &a.priv, NULL, &a.g), 0);
	assert_int_equal(mls_group_epoch(a.g), 0);
	struct member *ms[MAXM] = { &a, &b, &c, &d };

	/* alice adds bob: tree out of band */
	struct mls_commit_params p = { .adds = &b.kp, .n_adds = 1 };
	struct member *j1[] = { &b };
	commit_all(ms, 1, 0, &p, j1, 1, true);
	mls_group_set_config(b.g, cfg);
	agree(ms, 2);
	talk(ms, 2, 0);
	talk(ms, 2, 1);

	/* bob commits a full-path update (public), then alice a private one */
	struct mls_commit_params up = { .force_path = true, .wire_format = 1 };
	commit_all(ms, 2, 1, &up, NULL, 0, false);
	agree(ms, 2);
	up.wire_format = 2;
	commit_all(ms, 2, 0, &up, NULL, 0, false);
	agree(ms, 2);

	/* bob adds carol, tree in the Welcome, with a PSK */
	struct aim_bytes psk = AIM_BYTES(PSK_ID, sizeof PSK_ID - 1);
	struct mls_commit_params pc = { .adds = &c.kp, .n_adds = 1, .tree_in_welcome = true,
					.psk_ids = &psk, .n_psk_ids = 1 };
	struct member *j2[] = { &c };
	commit_all(ms, 2, 1, &pc, j2, 1, false);
	mls_group_set_config(c.g, cfg);
	agree(ms, 3);
	talk(ms, 3, 2);

	/* carol proposes an update, bob a remove of alice... no: alice
	 * proposes a resumption PSK; carol commits them by reference */
	struct aim_buf prop;
	aim_buf_init(&prop, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_update(b.g, NULL, &prop), 0);
	process_ok(&b, &prop); /* our own, relayed back */
	process_ok(&a, &prop);
	process_ok(&c, &prop);
	aim_buf_reset(&prop);
	assert_int_equal(mls_group_propose_resumption_psk(a.g, mls_group_epoch(a.g), &prop),
			 0);
	process_ok(&b, &prop);
	process_ok(&c, &prop);
	aim_buf_free(&prop);
	struct mls_commit_params pr = { .include_pending = true };
	commit_all(ms, 3, 2, &pr, NULL, 0, false);
	agree(ms, 3);
	talk(ms, 3, 1);

	/* dave joins by external commit from carol's GroupInfo */
	struct aim_buf gi, tree, ext;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	aim_buf_init(&ext, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_group_info(c.g, true, false, &gi), 0);
	assert_int_equal(mls_group_export_tree(c.g, &tree), 0);
	int rc = mls_group_join_external(cfg, aim_buf_bytes(&gi), aim_buf_bytes(&tree), &d.kp,
					 &d.priv, MLS_NO_LEAF, NULL, 0, &ext, &d.g);
	if (rc)
		fprintf(stderr, "external join: %s\n", aim_errmsg());
	assert_int_equal(rc, 0);
	process_ok(&a, &ext);
	process_ok(&b, &ext);
	process_ok(&c, &ext);
	agree(ms, 4);
	talk(ms, 4, 3);
	aim_buf_free(&gi);
	aim_buf_free(&tree);
	aim_buf_free(&ext);

	/* alice removes bob (private or public as cfg says) */
	uint32_t bob_leaf = mls_group_own_leaf(b.g);
	struct mls_commit_params rm = { .removes = &bob_leaf, .n_removes = 1 };
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(a.g, &rm, &r), 0);
	struct mls_group_event ev;
	assert_int_equal(mls_group_process(b.g, aim_buf_bytes(&r.commit), &ev), 0);
	assert_true(ev.removed_self);
	assert_false(mls_group_active(b.g));
	mls_group_event_free(&ev);
	process_ok(&c, &r.commit);
	process_ok(&d, &r.commit);
	assert_int_equal(mls_group_merge_pending(a.g), 0);
	mls_commit_result_free(&r);
	struct member *rest[] = { &a, &c, &d };
	agree(rest, 3);
	talk(rest, 3, 0);
	assert_int_equal(mls_group_member_count(a.g), 3);

	member_free(&a);
	member_free(&b);
	member_free(&c);
	member_free(&d);
}

static void test_lifecycle_public(void **state)
{
	(void)state;
	for (uint16_t s = 1; s <= 3; s++)
		lifecycle(s, &cfg_public);
}

static void test_lifecycle_private(void **state)
{
	(void)state;
	for (uint16_t s = 1; s <= 3; s++)
		lifecycle(s, &cfg_private);
}

/* Two members at epoch 1. */
static void pair(struct member *a, struct member *b, uint16_t suite)
{
	member_init(a, suite, "alice");
	member_init(b, suite, "bob");
	assert_int_equal(
		mls_group_create(&cfg_public, AIM_BYTES(NULL, 0), &a->kp, &a->priv, NULL, &a->g), 0);
	struct member *ms[] = { a, b };
	struct mls_commit_params p = { .adds = &b->kp, .n_adds = 1 };
	struct member *j[] = { b };
	commit_all(ms, 1, 0, &p, j, 1, true);
}

static void test_refusals(void **state)
{
	(void)state;
	struct member a, b;
	pair(&a, &b, 1);
	struct aim_buf st0;
	aim_buf_init(&st0, MLS_MAX_GROUP_STATE);

	/* a commit of epoch 1, kept as stale for later */
	struct mls_commit_params up = { .force_path = true };
	struct mls_commit_result r1;
	mls_commit_result_init(&r1);
	assert_int_equal(mls_group_commit(a.g, &up, &r1), 0);
	/* a second pending commit is refused */
	struct mls_commit_result r2;
	mls_commit_result_init(&r2);
	assert_int_not_equal(mls_group_commit(a.g, &up, &r2), 0);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);

	/* tampered commit: every 97th byte flipped in turn, each refused and
	 * bob's state untouched */
	assert_int_equal(mls_group_encode(b.g, &st0), 0);
	for (size_t i = 0; i < r1.commit.len; i += 97) {
		struct aim_buf t;
		aim_buf_init(&t, MLS_MAX_MESSAGE);
		assert_int_equal(aim_buf_append(&t, r1.commit.data, r1.commit.len), 0);
		t.data[i] ^= 0x01;
		assert_int_not_equal(mls_group_process(b.g, aim_buf_bytes(&t), NULL), 0);
		aim_buf_free(&t);
	}
	/* truncated */
	assert_int_not_equal(mls_group_process(b.g, AIM_BYTES(r1.commit.data, r1.commit.len - 1),
					       NULL),
			     0);
	struct aim_buf st1;
	aim_buf_init(&st1, MLS_MAX_GROUP_STATE);
	assert_int_equal(mls_group_encode(b.g, &st1), 0);
	assert_int_equal(st0.len, st1.len);
	assert_memory_equal(st0.data, st1.data, st0.len);
	aim_buf_free_secret(&st1);
	aim_buf_free_secret(&st0);

	/* the genuine one goes through; replaying it is a stale epoch */
	process_ok(&b, &r1.commit);
	assert_int_equal(mls_group_merge_pending(a.g), 0);
	assert_int_not_equal(mls_group_process(b.g, aim_buf_bytes(&r1.commit), NULL), 0);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	struct member *ms[] = { &a, &b };
	agree(ms, 2);

	/* an application message of an epoch older than the past-epoch
	 * window is refused (test_group_past: the window itself) */
	struct aim_buf ct;
	aim_buf_init(&ct, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_encrypt(a.g, AIM_BYTES(NULL, 0), AIM_BYTES("x", 1), &ct), 0);
	for (unsigned i = 0; i <= MLS_GROUP_PAST_EPOCHS; i++) {
		mls_commit_result_free(&r1);
		mls_commit_result_init(&r1);
		assert_int_equal(mls_group_commit(a.g, &up, &r1), 0);
		assert_int_equal(mls_group_merge_pending(a.g), 0);
		process_ok(&b, &r1.commit);
	}
	assert_int_not_equal(mls_group_process(b.g, aim_buf_bytes(&ct), NULL), 0);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	aim_buf_free(&ct);

	/* a message of another group: a third member's group */
	struct member x;
	member_init(&x, 1, "xavier");
	assert_int_equal(mls_group_create(&cfg_public, AIM_BYTES("other", 5), &x.kp, &x.priv, NULL,
					  &x.g),
			 0);
	aim_buf_init(&ct, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_encrypt(x.g, AIM_BYTES(NULL, 0), AIM_BYTES("x", 1), &ct), 0);
	assert_int_not_equal(mls_group_process(b.g, aim_buf_bytes(&ct), NULL), 0);
	aim_buf_free(&ct);

	/* a commit by bob for the same epoch as a's pending one: a's pending
	 * commit is discarded when bob's arrives first */
	mls_commit_result_free(&r1);
	mls_commit_result_init(&r1);
	mls_commit_result_free(&r2);
	mls_commit_result_init(&r2);
	assert_int_equal(mls_group_commit(a.g, &up, &r1), 0);
	assert_int_equal(mls_group_commit(b.g, &up, &r2), 0);
	process_ok(&a, &r2.commit);
	assert_false(mls_group_has_pending(a.g));
	assert_int_equal(mls_group_merge_pending(b.g), 0);
	agree(ms, 2);
	/* the loser's commit is now stale for bob */
	assert_int_not_equal(mls_group_process(b.g, aim_buf_bytes(&r1.commit), NULL), 0);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);

	/* invalid commits refused at creation: removing ourselves, adding a
	 * current member, an unknown PSK */
	uint32_t self = mls_group_own_leaf(a.g);
	struct mls_commit_params bad = { .removes = &self, .n_removes = 1 };
	mls_commit_result_free(&r1);
	mls_commit_result_init(&r1);
	assert_int_not_equal(mls_group_commit(a.g, &bad, &r1), 0);
	struct mls_commit_params bad2 = { .adds = &b.kp, .n_adds = 1 };
	assert_int_not_equal(mls_group_commit(a.g, &bad2, &r1), 0);
	struct aim_bytes nope = AIM_BYTES("nope", 4);
	struct mls_commit_params bad3 = { .psk_ids = &nope, .n_psk_ids = 1 };
	assert_int_not_equal(mls_group_commit(a.g, &bad3, &r1), 0);
	assert_false(mls_group_has_pending(a.g));

	/* the credential hook refuses an evil joiner: bob refuses alice's
	 * commit adding one, and the state stays */
	struct member e;
	member_init(&e, 1, "evil eve");
	struct mls_commit_params add_e = { .adds = &e.kp, .n_adds = 1 };
	mls_commit_result_free(&r1);
	mls_commit_result_init(&r1);
	/* alice's own hook refuses it already */
	assert_int_not_equal(mls_group_commit(a.g, &add_e, &r1), 0);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	mls_group_set_config(a.g, &(struct mls_group_config){ .psk_lookup = psk_lookup });
	assert_int_equal(mls_group_commit(a.g, &add_e, &r1), 0);
	uint64_t ep = mls_group_epoch(b.g);
	assert_int_not_equal(mls_group_process(b.g, aim_buf_bytes(&r1.commit), NULL), 0);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	assert_int_equal(mls_group_epoch(b.g), ep);
	/* joining a group whose tree holds an evil member is refused too */
	struct mls_group *eg = NULL;
	assert_int_equal(mls_group_merge_pending(a.g), 0);
	assert_int_not_equal(mls_group_join(&cfg_public, aim_buf_bytes(&r1.welcome),
					    AIM_BYTES(NULL, 0), &e.kp, &e.priv, &eg),
			     0); /* no tree: NOTFOUND */
	struct aim_buf tree;
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_export_tree(a.g, &tree), 0);
	/* eve's own hook refuses eve (identity evil) */
	assert_int_not_equal(mls_group_join(&cfg_public, aim_buf_bytes(&r1.welcome),
					    aim_buf_bytes(&tree), &e.kp, &e.priv, &eg),
			     0);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	/* without a hook it joins */
	assert_int_equal(mls_group_join(&(struct mls_group_config){ 0 }, aim_buf_bytes(&r1.welcome),
					aim_buf_bytes(&tree), &e.kp, &e.priv, &eg),
			 0);
	/* a commit of ours that is not pending is refused */
	mls_group_free(eg);
	aim_buf_free(&tree);

	mls_commit_result_free(&r1);
	mls_commit_result_free(&r2);
	member_free(&a);
	member_free(&b);
	member_free(&e);
	member_free(&x);
}

static void test_persistence(void **state)
{
	(void)state;
	struct member a, b;
	pair(&a, &b, 2);
	struct member *ms[] = { &a, &b };
	talk(ms, 2, 0);
	talk(ms, 2, 0);
	/* restore alice: she must not reuse a generation, bob reads her */
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_GROUP_STATE);
	assert_int_equal(mls_group_encode(a.g, &w), 0);
	struct mls_group *g2;
	assert_int_equal(mls_group_parse(&cfg_public, w.data, w.len, &g2), 0);
	mls_group_free(a.g);
	a.g = g2;
	talk(ms, 2, 0);
	talk(ms, 2, 1);
	agree(ms, 2);
	/* a pending commit survives a restore and merges when it comes back */
	struct mls_commit_params up = { .force_path = true };
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(a.g, &up, &r), 0);
	aim_buf_free_secret(&w);
	aim_buf_init(&w, MLS_MAX_GROUP_STATE);
	assert_int_equal(mls_group_encode(a.g, &w), 0);
	assert_int_equal(mls_group_parse(&cfg_public, w.data, w.len, &g2), 0);
	mls_group_free(a.g);
	a.g = g2;
	assert_true(mls_group_has_pending(a.g));
	process_ok(&b, &r.commit);
	process_ok(&a, &r.commit);
	agree(ms, 2);
	talk(ms, 2, 1);
	/* truncated or altered states are refused */
	for (size_t cut = 0; cut < w.len; cut += w.len / 7 + 1)
		assert_int_not_equal(mls_group_parse(&cfg_public, w.data, cut, &g2), 0);
	w.data[0] = 9;
	assert_int_not_equal(mls_group_parse(&cfg_public, w.data, w.len, &g2), 0);
	aim_buf_free_secret(&w);
	mls_commit_result_free(&r);
	member_free(&a);
	member_free(&b);
}

static void test_group_info_and_proposals(void **state)
{
	(void)state;
	struct member a, b, c;
	pair(&a, &b, 3);
	member_init(&c, 3, "carol");
	struct member *ms[] = { &a, &b, &c };
	/* bob proposes adding carol; alice commits it by reference */
	struct aim_buf prop;
	aim_buf_init(&prop, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_add(b.g, &c.kp, &prop), 0);
	struct mls_group_event ev;
	assert_int_equal(mls_group_process(a.g, aim_buf_bytes(&prop), &ev), 0);
	assert_int_equal(ev.type, MLS_EVENT_PROPOSAL);
	assert_int_equal(ev.proposal_type, MLS_PROPOSAL_ADD);
	mls_group_event_free(&ev);
	/* a second copy of the same proposal is refused (same ref) */
	assert_int_not_equal(mls_group_process(a.g, aim_buf_bytes(&prop), NULL), 0);
	struct mls_commit_params p = { .include_pending = true, .tree_in_welcome = true };
	struct member *j[] = { &c };
	commit_all(ms, 2, 0, &p, j, 1, false);
	agree(ms, 3);
	/* GroupContextExtensions by value */
	struct mls_extension_list ext;
	memset(&ext, 0, sizeof ext);
	ext.v = aim_xcalloc(1, sizeof *ext.v);
	ext.n = 1;
	ext.v[0].type = MLS_EXT_APPLICATION_ID;
	assert_int_equal(mls_bytes_set(&ext.v[0].data, "app", 3), 0);
	struct mls_commit_params pg = { .extensions = &ext };
	commit_all(ms, 3, 2, &pg, NULL, 0, false);
	agree(ms, 3);
	assert_non_null(mls_extension_find(&mls_group_context(a.g)->extensions,
					   MLS_EXT_APPLICATION_ID));
	mls_extension_list_free(&ext);
	/* remove proposal by carol, committed by bob */
	aim_buf_reset(&prop);
	assert_int_equal(mls_group_propose_remove(c.g, mls_group_own_leaf(a.g), &prop), 0);
	/* the very same proposal again is refused, nothing appended */
	size_t plen = prop.len;
	assert_int_not_equal(mls_group_propose_remove(c.g, mls_group_own_leaf(a.g), &prop), 0);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	assert_int_equal(prop.len, plen);
	process_ok(&b, &prop);
	process_ok(&a, &prop);
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	struct mls_commit_params pr = { .include_pending = true };
	assert_int_equal(mls_group_commit(b.g, &pr, &r), 0);
	assert_int_equal(mls_group_process(a.g, aim_buf_bytes(&r.commit), &ev), 0);
	assert_true(ev.removed_self);
	mls_group_event_free(&ev);
	process_ok(&c, &r.commit);
	assert_int_equal(mls_group_merge_pending(b.g), 0);
	struct member *rest[] = { &b, &c };
	agree(rest, 2);
	/* the GroupInfo carries external_pub and, when asked, the tree */
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_group_info(b.g, true, true, &gi), 0);
	struct mls_message m;
	assert_int_equal(mls_message_parse(gi.data, gi.len, &m), 0);
	assert_int_equal(m.wire_format, MLS_WIRE_GROUP_INFO);
	assert_non_null(mls_extension_find(&m.group_info.extensions, MLS_EXT_EXTERNAL_PUB));
	assert_non_null(mls_extension_find(&m.group_info.extensions, MLS_EXT_RATCHET_TREE));
	mls_message_free(&m);
	/* external rejoin with the tree from the GroupInfo */
	struct member d;
	member_init(&d, 3, "dave");
	struct aim_buf ext_commit;
	aim_buf_init(&ext_commit, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_join_external(&cfg_public, aim_buf_bytes(&gi), AIM_BYTES(NULL, 0),
						 &d.kp, &d.priv, MLS_NO_LEAF, NULL, 0, &ext_commit,
						 &d.g),
			 0);
	process_ok(&b, &ext_commit);
	process_ok(&c, &ext_commit);
	struct member *three[] = { &b, &c, &d };
	agree(three, 3);
	talk(three, 3, 2);
	/* carol resyncs: a new external commit removing her old leaf */
	struct member c2;
	member_init(&c2, 3, "carol");
	aim_buf_reset(&gi);
	aim_buf_reset(&ext_commit);
	assert_int_equal(mls_group_group_info(d.g, true, true, &gi), 0);
	assert_int_equal(mls_group_join_external(&cfg_public, aim_buf_bytes(&gi), AIM_BYTES(NULL, 0),
						 &c2.kp, &c2.priv, mls_group_own_leaf(c.g), NULL, 0,
						 &ext_commit, &c2.g),
			 0);
	process_ok(&b, &ext_commit);
	process_ok(&d, &ext_commit);
	assert_int_equal(mls_group_process(c.g, aim_buf_bytes(&ext_commit), &ev), 0);
	assert_true(ev.removed_self);
	mls_group_event_free(&ev);
	struct member *again[] = { &b, &c2, &d };
	agree(again, 3);
	talk(again, 3, 1);
	member_free(&c2);

	/* out-of-order delivery inside the window; a replay is refused */
	struct aim_buf cts[5];
	for (int i = 0; i < 5; i++) {
		aim_buf_init(&cts[i], MLS_MAX_MESSAGE);
		assert_int_equal(mls_group_encrypt(b.g, AIM_BYTES(NULL, 0), AIM_BYTES(&i, sizeof i),
						   &cts[i]),
				 0);
	}
	for (int i = 4; i >= 0; i--) {
		assert_int_equal(mls_group_process(d.g, aim_buf_bytes(&cts[i]), &ev), 0);
		assert_int_equal(ev.data.len, sizeof i);
		assert_memory_equal(ev.data.data, &i, sizeof i);
		mls_group_event_free(&ev);
	}
	assert_int_not_equal(mls_group_process(d.g, aim_buf_bytes(&cts[2]), NULL), 0);
	for (int i = 0; i < 5; i++)
		aim_buf_free(&cts[i]);
	aim_buf_free(&ext_commit);
	aim_buf_free(&gi);
	aim_buf_free(&prop);
	mls_commit_result_free(&r);
	member_free(&a);
	member_free(&b);
	member_free(&c);
	member_free(&d);
}

/* ---- Forged messages (threats.md section C) ------------------------------ */

enum forge_flags {
	FORGE_BAD_SIG = 1,    /* flip a bit of the signature (after signing) */
	FORGE_BAD_MTAG = 2,   /* flip a bit of the membership tag */
	FORGE_NO_MTAG = 4,    /* no membership tag at all */
};

/* A PublicMessage from member m with content fc (group, epoch and sender
 * filled in here unless already set), signed with m's key, a
 * confirmation tag of tag_len random bytes for commits, and a correct
 * membership tag, unless flags say otherwise. Takes over fc. */
static void forge(struct member *m, struct mls_framed_content *fc, size_t tag_len, int flags,
		  struct aim_buf *out)
{
	struct mls_group *g = m->g;
	const struct aim_suite *cs = g->cs;
	struct mls_message msg;
	memset(&msg, 0, sizeof msg);
	msg.version = MLS_VERSION_10;
	msg.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	struct mls_public_message *pm = &msg.public_message;
	if (!fc->group_id.len)
		assert_int_equal(mls_bytes_copy(&fc->group_id, &g->ctx.group_id), 0);
	if (!fc->epoch)
		fc->epoch = g->ctx.epoch;
	if (!fc->sender.type) {
		fc->sender.type = MLS_SENDER_MEMBER;
		fc->sender.index = g->own_leaf;
	}
	pm->content = *fc;
	memset(fc, 0, sizeof *fc);
	assert_int_equal(mls_content_sign(cs, MLS_WIRE_PUBLIC_MESSAGE, &pm->content, &g->ctx,
					  mls_bytes_view(&g->sig_priv), &pm->auth),
			 0);
	if (flags & FORGE_BAD_SIG)
		pm->auth.signature.p[3] ^= 0x40;
	if (pm->content.content_type == MLS_CONTENT_COMMIT && tag_len) {
		uint8_t tag[AIM_MAX_HASH * 2];
		assert_int_equal(aim_random(tag, sizeof tag), 0);
		assert_int_equal(mls_bytes_set(&pm->auth.confirmation_tag, tag, tag_len), 0);
	}
	if (!(flags & FORGE_NO_MTAG)) {
		uint8_t mt[AIM_MAX_HASH];
		assert_int_equal(mls_membership_tag(cs, AIM_BYTES(g->sec.membership_key, cs->nh),
						    &pm->content, &pm->auth, &g->ctx, mt),
				 0);
		if (flags & FORGE_BAD_MTAG)
			mt[0] ^= 1;
		assert_int_equal(mls_bytes_set(&pm->membership_tag, mt, cs->nh), 0);
	}
	int rc = mls_message_encode(out, &msg);
	mls_message_free(&msg);
	/* some forgeries (no membership tag for a member) do not encode: the
	 * codec refuses them already */
	if (rc)
		aim_buf_reset(out);
}

/* Process msg at m: must fail with code (0: any) and leave m's state
 * byte for byte as it was. */
static void refused(struct member *m, const struct aim_buf *msg, enum aim_err code,
		    const char *what)
{
	struct aim_buf before, after;
	aim_buf_init(&before, MLS_MAX_GROUP_STATE);
	aim_buf_init(&after, MLS_MAX_GROUP_STATE);
	assert_int_equal(mls_group_encode(m->g, &before), 0);
	int rc = mls_group_process(m->g, aim_buf_bytes(msg), NULL);
	if (rc == 0 || (code && aim_errcode() != code))
		fprintf(stderr, "%s: rc %d, %s (%s)\n", what, rc, aim_errname(aim_errcode()),
			aim_errmsg());
	assert_int_not_equal(rc, 0);
	if (code)
		assert_int_equal(aim_errcode(), code);
	assert_int_equal(mls_group_encode(m->g, &after), 0);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	aim_buf_free_secret(&before);
	aim_buf_free_secret(&after);
}

static struct mls_proposal_or_ref *add_por(struct mls_commit *c)
{
	c->proposals = aim_xrealloc(c->proposals, (c->n_proposals + 1) * sizeof *c->proposals);
	struct mls_proposal_or_ref *r = &c->proposals[c->n_proposals++];
	memset(r, 0, sizeof *r);
	r->type = MLS_POR_PROPOSAL;
	return r;
}

static void commit_content(struct mls_framed_content *fc)
{
	memset(fc, 0, sizeof *fc);
	fc->content_type = MLS_CONTENT_COMMIT;
}

/* A path that is never looked at: the proposal list is refused first. */
static void dummy_path(struct mls_framed_content *fc, const struct member *m)
{
	fc->commit.has_path = true;
	assert_int_equal(mls_leaf_node_copy(&fc->commit.path.leaf_node,
					    mls_tree_leaf(&m->g->tree, m->g->own_leaf)),
			 0);
}

static void test_attacks(void **state)
{
	(void)state;
	struct member a, b, c, d;
	pair(&a, &b, 1);
	member_init(&c, 1, "carol");
	member_init(&d, 1, "dave");
	struct member *ms[] = { &a, &b, &c };
	struct mls_commit_params p = { .adds = &c.kp, .n_adds = 1 };
	struct member *j[] = { &c };
	commit_all(ms, 2, 0, &p, j, 1, true);
	uint32_t bob = mls_group_own_leaf(b.g), carol = mls_group_own_leaf(c.g);
	struct aim_buf msg;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	struct mls_framed_content fc;
	struct mls_proposal_or_ref *r;

	/* C41: committer removes itself */
	commit_content(&fc);
	r = add_por(&fc.commit);
	r->proposal.type = MLS_PROPOSAL_REMOVE;
	r->proposal.remove.removed = bob;
	dummy_path(&fc, &b);
	forge(&b, &fc, a.g->cs->nh, 0, &msg);
	refused(&a, &msg, AIM_ERR_INVALID, "self-remove");
	/* C41: two changes to one leaf */
	aim_buf_reset(&msg);
	commit_content(&fc);
	for (int i = 0; i < 2; i++) {
		r = add_por(&fc.commit);
		r->proposal.type = MLS_PROPOSAL_REMOVE;
		r->proposal.remove.removed = carol;
	}
	dummy_path(&fc, &b);
	forge(&b, &fc, a.g->cs->nh, 0, &msg);
	refused(&a, &msg, AIM_ERR_INVALID, "two removes");
	/* C41: an Add of an existing member (carol's KeyPackage again) */
	aim_buf_reset(&msg);
	commit_content(&fc);
	r = add_por(&fc.commit);
	r->proposal.type = MLS_PROPOSAL_ADD;
	assert_int_equal(mls_key_package_copy(&r->proposal.add.key_package, &c.kp), 0);
	forge(&b, &fc, a.g->cs->nh, 0, &msg);
	refused(&a, &msg, 0, "add of a member");
	/* C41: ReInit with anything else */
	aim_buf_reset(&msg);
	commit_content(&fc);
	r = add_por(&fc.commit);
	r->proposal.type = MLS_PROPOSAL_REINIT;
	r->proposal.reinit.version = MLS_VERSION_10;
	r->proposal.reinit.cipher_suite = 1;
	assert_int_equal(mls_bytes_set(&r->proposal.reinit.group_id, "new", 3), 0);
	r = add_por(&fc.commit);
	r->proposal.type = MLS_PROPOSAL_ADD;
	assert_int_equal(mls_key_package_copy(&r->proposal.add.key_package, &d.kp), 0);
	forge(&b, &fc, a.g->cs->nh, 0, &msg);
	refused(&a, &msg, AIM_ERR_INVALID, "reinit with add");
	/* C41: ExternalInit in a member's Commit */
	aim_buf_reset(&msg);
	commit_content(&fc);
	r = add_por(&fc.commit);
	r->proposal.type = MLS_PROPOSAL_EXTERNAL_INIT;
	assert_int_equal(mls_bytes_set(&r->proposal.external_init.kem_output, "kem", 3), 0);
	forge(&b, &fc, a.g->cs->nh, 0, &msg);
	refused(&a, &msg, AIM_ERR_INVALID, "external init by member");
	/* C41: a Commit by reference to an unknown proposal */
	aim_buf_reset(&msg);
	commit_content(&fc);
	r = add_por(&fc.commit);
	r->type = MLS_POR_REFERENCE;
	assert_int_equal(mls_bytes_set(&r->reference, "0123456789abcdef0123456789abcdef", 32), 0);
	forge(&b, &fc, a.g->cs->nh, 0, &msg);
	refused(&a, &msg, AIM_ERR_NOTFOUND, "unknown reference");

	/* C40: a valid list (Add of dave, no path needed) with a confirmation
	 * tag of the right length but the wrong value, a truncated one, none,
	 * a bad signature, a bad or missing membership tag */
	const int variants[][2] = { { 32, 0 }, { 16, 0 }, { 31, 0 }, { 0, 0 },
				    { 32, FORGE_BAD_SIG }, { 32, FORGE_BAD_MTAG },
				    { 32, FORGE_NO_MTAG } };
	for (size_t v = 0; v < AIM_ARRAY_LEN(variants); v++) {
		aim_buf_reset(&msg);
		commit_content(&fc);
		r = add_por(&fc.commit);
		r->proposal.type = MLS_PROPOSAL_ADD;
		assert_int_equal(mls_key_package_copy(&r->proposal.add.key_package, &d.kp), 0);
		forge(&b, &fc, (size_t)variants[v][0], variants[v][1], &msg);
		if (msg.len)
			refused(&a, &msg, 0, "bad tags");
	}

	/* C38: sender leaf out of range, and blank */
	aim_buf_reset(&msg);
	memset(&fc, 0, sizeof fc);
	fc.content_type = MLS_CONTENT_PROPOSAL;
	fc.proposal.type = MLS_PROPOSAL_REMOVE;
	fc.proposal.remove.removed = carol;
	fc.sender.type = MLS_SENDER_MEMBER;
	fc.sender.index = 9;
	forge(&b, &fc, 0, 0, &msg);
	refused(&a, &msg, 0, "sender out of range");
	aim_buf_reset(&msg);
	memset(&fc, 0, sizeof fc);
	fc.content_type = MLS_CONTENT_PROPOSAL;
	fc.proposal.type = MLS_PROPOSAL_REMOVE;
	fc.proposal.remove.removed = carol;
	fc.sender.type = MLS_SENDER_MEMBER;
	fc.sender.index = 3; /* inside the 4-leaf tree, blank */
	forge(&b, &fc, 0, 0, &msg);
	refused(&a, &msg, 0, "blank sender");
	/* C38: another member's index with bob's signature */
	aim_buf_reset(&msg);
	memset(&fc, 0, sizeof fc);
	fc.content_type = MLS_CONTENT_PROPOSAL;
	fc.proposal.type = MLS_PROPOSAL_REMOVE;
	fc.proposal.remove.removed = bob;
	fc.sender.type = MLS_SENDER_MEMBER;
	fc.sender.index = carol;
	forge(&b, &fc, 0, 0, &msg);
	refused(&a, &msg, AIM_ERR_VERIFY, "impersonation");
	/* an external sender when the group has none */
	aim_buf_reset(&msg);
	memset(&fc, 0, sizeof fc);
	fc.content_type = MLS_CONTENT_PROPOSAL;
	fc.proposal.type = MLS_PROPOSAL_REMOVE;
	fc.proposal.remove.removed = bob;
	fc.sender.type = MLS_SENDER_EXTERNAL;
	fc.sender.index = 0;
	forge(&b, &fc, 0, FORGE_NO_MTAG, &msg);
	refused(&a, &msg, 0, "external sender");

	/* C37: another group id; C34: another epoch */
	aim_buf_reset(&msg);
	memset(&fc, 0, sizeof fc);
	fc.content_type = MLS_CONTENT_PROPOSAL;
	fc.proposal.type = MLS_PROPOSAL_REMOVE;
	fc.proposal.remove.removed = carol;
	assert_int_equal(mls_bytes_set(&fc.group_id, "elsewhere", 9), 0);
	forge(&b, &fc, 0, 0, &msg);
	refused(&a, &msg, AIM_ERR_INVALID, "foreign group");
	aim_buf_reset(&msg);
	memset(&fc, 0, sizeof fc);
	fc.content_type = MLS_CONTENT_PROPOSAL;
	fc.proposal.type = MLS_PROPOSAL_REMOVE;
	fc.proposal.remove.removed = carol;
	fc.epoch = mls_group_epoch(b.g) + 1;
	forge(&b, &fc, 0, 0, &msg);
	refused(&a, &msg, AIM_ERR_CONFLICT, "future epoch");

	/* C39: application data as a PublicMessage */
	aim_buf_reset(&msg);
	memset(&fc, 0, sizeof fc);
	fc.content_type = MLS_CONTENT_APPLICATION;
	assert_int_equal(mls_bytes_set(&fc.application_data, "hi", 2), 0);
	forge(&b, &fc, 0, 0, &msg);
	refused(&a, &msg, AIM_ERR_INVALID, "public application data");

	/* C35: an application message for a future epoch (a genuine one with
	 * its epoch changed) */
	struct aim_buf ct;
	aim_buf_init(&ct, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_encrypt(b.g, AIM_BYTES(NULL, 0), AIM_BYTES("x", 1), &ct), 0);
	struct mls_message m;
	assert_int_equal(mls_message_parse(ct.data, ct.len, &m), 0);
	m.private_message.epoch++;
	aim_buf_reset(&msg);
	assert_int_equal(mls_message_encode(&msg, &m), 0);
	mls_message_free(&m);
	refused(&a, &msg, AIM_ERR_CONFLICT, "future application message");
	/* C46: a message of the wrong wire format for a group (a KeyPackage) */
	aim_buf_reset(&msg);
	struct mls_message kpm;
	memset(&kpm, 0, sizeof kpm);
	kpm.version = MLS_VERSION_10;
	kpm.wire_format = MLS_WIRE_KEY_PACKAGE;
	kpm.key_package = d.kp;
	assert_int_equal(mls_message_encode(&msg, &kpm), 0);
	refused(&a, &msg, AIM_ERR_INVALID, "key package to a group");
	/* the genuine message still reads after all that */
	process_ok(&a, &ct);
	aim_buf_free(&ct);

	/* a Welcome for someone else: dave cannot join from carol's Welcome */
	aim_buf_free(&msg);
	agree(ms, 3);
	member_free(&a);
	member_free(&b);
	member_free(&c);
	member_free(&d);
}

/* An external sender (external_senders extension) proposes a Remove; a
 * member commits it by reference. Then a ReInit by reference ends the
 * group. */
static void test_external_sender_and_reinit(void **state)
{
	(void)state;
	const struct aim_suite *cs = aim_suite_get(1);
	struct aim_buf esk, epk, body;
	aim_buf_init(&esk, 1024);
	aim_buf_init(&epk, 1024);
	aim_buf_init(&body, 4096);
	assert_int_equal(aim_sig_keygen(cs->sig, &esk, &epk), 0);
	struct mls_external_senders es;
	memset(&es, 0, sizeof es);
	es.v = aim_xcalloc(1, sizeof *es.v);
	es.n = 1;
	assert_int_equal(mls_bytes_set(&es.v[0].signature_key, epk.data, epk.len), 0);
	es.v[0].credential.type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&es.v[0].credential.identity, "hub", 3), 0);
	assert_int_equal(mls_external_senders_encode(&body, &es), 0);
	mls_external_senders_free(&es);
	struct mls_extension_list ext;
	memset(&ext, 0, sizeof ext);
	ext.v = aim_xcalloc(1, sizeof *ext.v);
	ext.n = 1;
	ext.v[0].type = MLS_EXT_EXTERNAL_SENDERS;
	assert_int_equal(mls_bytes_set(&ext.v[0].data, body.data, body.len), 0);

	struct member a, b, c;
	member_init(&a, 1, "alice");
	member_init(&b, 1, "bob");
	member_init(&c, 1, "carol");
	assert_int_equal(mls_group_create(&cfg_public, AIM_BYTES(NULL, 0), &a.kp, &a.priv, &ext,
					  &a.g),
			 0);
	mls_extension_list_free(&ext);
	struct member *ms[] = { &a, &b, &c };
	struct mls_key_package adds[2];
	memcpy(&adds[0], &b.kp, sizeof adds[0]);
	memcpy(&adds[1], &c.kp, sizeof adds[1]);
	struct mls_commit_params p = { .adds = adds, .n_adds = 2 };
	struct member *j[] = { &b, &c };
	commit_all(ms, 1, 0, &p, j, 2, true);
	agree(ms, 3);

	/* the external sender removes carol */
	struct mls_message m;
	memset(&m, 0, sizeof m);
	m.version = MLS_VERSION_10;
	m.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	struct mls_framed_content *fc = &m.public_message.content;
	assert_int_equal(mls_bytes_copy(&fc->group_id, &a.g->ctx.group_id), 0);
	fc->epoch = mls_group_epoch(a.g);
	fc->sender.type = MLS_SENDER_EXTERNAL;
	fc->sender.index = 0;
	fc->content_type = MLS_CONTENT_PROPOSAL;
	fc->proposal.type = MLS_PROPOSAL_REMOVE;
	fc->proposal.remove.removed = mls_group_own_leaf(c.g);
	assert_int_equal(mls_content_sign(cs, MLS_WIRE_PUBLIC_MESSAGE, fc, &a.g->ctx,
					  aim_buf_bytes(&esk), &m.public_message.auth),
			 0);
	struct aim_buf msg;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	assert_int_equal(mls_message_encode(&msg, &m), 0);
	/* an index past the list is refused */
	fc->sender.index = 1;
	struct aim_buf bad;
	aim_buf_init(&bad, MLS_MAX_MESSAGE);
	assert_int_equal(mls_message_encode(&bad, &m), 0);
	refused(&b, &bad, AIM_ERR_INVALID, "external sender index");
	aim_buf_free(&bad);
	mls_message_free(&m);
	int before = hook_calls;
	process_ok(&a, &msg);
	assert_true(hook_calls > before);
	process_ok(&b, &msg);
	process_ok(&c, &msg);
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	struct mls_commit_params pr = { .include_pending = true };
	assert_int_equal(mls_group_commit(b.g, &pr, &r), 0);
	struct mls_group_event ev;
	assert_int_equal(mls_group_process(c.g, aim_buf_bytes(&r.commit), &ev), 0);
	assert_true(ev.removed_self);
	mls_group_event_free(&ev);
	process_ok(&a, &r.commit);
	process_ok(&b, &r.commit);
	mls_commit_result_free(&r);
	agree(ms, 2);
	assert_int_equal(mls_group_member_count(a.g), 2);

	/* ReInit by reference */
	aim_buf_reset(&msg);
	assert_int_equal(mls_group_propose_reinit(a.g, AIM_BYTES("next", 4), 1, NULL, &msg), 0);
	process_ok(&b, &msg);
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(b.g, &pr, &r), 0);
	assert_int_equal(mls_group_process(a.g, aim_buf_bytes(&r.commit), &ev), 0);
	assert_true(ev.reinit);
	mls_group_event_free(&ev);
	process_ok(&b, &r.commit);
	agree(ms, 2);
	mls_commit_result_free(&r);
	aim_buf_free(&msg);
	aim_buf_free_secret(&esk);
	aim_buf_free(&epk);
	aim_buf_free(&body);
	member_free(&a);
	member_free(&b);
	member_free(&c);
}

/* A random walk: 8 clients, 60 epochs of random proposals (by reference,
 * public and private), commits with and without path, Adds, Removes,
 * external joins, persistence round trips; after every epoch all members
 * agree and read a message. Deterministic (fixed seed). */
#define SOAK_N 8

static struct member soak[SOAK_N];
static int soak_gen[SOAK_N];

static void soak_fresh(int i)
{
	mls_key_package_free(&soak[i].kp);
	mls_key_package_priv_free(&soak[i].priv);
	char name[16];
	snprintf(name, sizeof name, "s%d-%d", i, soak_gen[i]++);
	struct mls_group *g = soak[i].g;
	member_init(&soak[i], 1, name);
	soak[i].g = g;
}

static void test_random_walk(void **state)
{
	(void)state;
	srand(7);
	struct mls_group_config cfg = { .hook = &hook, .now = UINT64_MAX };
	memset(soak, 0, sizeof soak);
	for (int i = 0; i < SOAK_N; i++)
		soak_fresh(i);
	assert_int_equal(mls_group_create(&cfg, AIM_BYTES(NULL, 0), &soak[0].kp, &soak[0].priv,
					  NULL, &soak[0].g),
			 0);
	for (int step = 0; step < 60; step++) {
		int in[SOAK_N], out[SOAK_N], nin = 0, nout = 0;
		for (int i = 0; i < SOAK_N; i++) {
			if (soak[i].g)
				in[nin++] = i;
			else
				out[nout++] = i;
		}
		int c = in[rand() % nin];
		if (nout && rand() % 6 == 0) {
			/* external join from c's GroupInfo, tree inside or not */
			int t = out[rand() % nout];
			bool wt = rand() % 2;
			struct aim_buf gi, ec, tree;
			aim_buf_init(&gi, MLS_MAX_MESSAGE);
			aim_buf_init(&ec, MLS_MAX_MESSAGE);
			aim_buf_init(&tree, MLS_MAX_MESSAGE);
			assert_int_equal(mls_group_group_info(soak[c].g, true, wt, &gi), 0);
			assert_int_equal(mls_group_export_tree(soak[c].g, &tree), 0);
			assert_int_equal(mls_group_join_external(&cfg, aim_buf_bytes(&gi),
								 wt ? AIM_BYTES(NULL, 0)
								    : aim_buf_bytes(&tree),
								 &soak[t].kp, &soak[t].priv, MLS_NO_LEAF,
								 NULL, 0, &ec, &soak[t].g),
					 0);
			for (int j = 0; j < nin; j++)
				process_ok(&soak[in[j]], &ec);
			aim_buf_free(&gi);
			aim_buf_free(&ec);
			aim_buf_free(&tree);
			continue;
		}
		/* a few proposals, relayed to every member (the sender too) */
		for (int k = rand() % 3; k > 0; k--) {
			int s = in[rand() % nin], r = rand() % 3, rc = 1;
			struct aim_buf pm;
			aim_buf_init(&pm, MLS_MAX_MESSAGE);
			cfg.encrypt_handshake = rand() % 2;
			mls_group_set_config(soak[s].g, &cfg);
			if (r == 0) {
				rc = mls_group_propose_update(soak[s].g, NULL, &pm);
			} else if (r == 1 && nin > 2) {
				int t = in[rand() % nin];
				if (t != s)
					rc = mls_group_propose_remove(
						soak[s].g, mls_group_own_leaf(soak[t].g), &pm);
			} else if (r == 2 && nout) {
				rc = mls_group_propose_add(soak[s].g, &soak[out[rand() % nout]].kp,
							   &pm);
			}
			/* skipped, or the very same proposal again (EXISTS) */
			if (rc == 0)
				for (int j = 0; j < nin; j++)
					process_ok(&soak[in[j]], &pm);
			else if (rc < 0)
				assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
			aim_buf_free(&pm);
		}
		struct mls_key_package adds[1];
		uint32_t rem[1];
		struct mls_commit_params p = {
			.include_pending = rand() % 4 != 0,
			.force_path = rand() % 2,
			.wire_format = 1 + rand() % 2,
			.tree_in_welcome = rand() % 2,
			.adds = adds,
			.removes = rem,
		};
		if (nout && rand() % 2)
			adds[p.n_adds++] = soak[out[rand() % nout]].kp;
		if (nin > 3 && rand() % 3 == 0) {
			int t = in[rand() % nin];
			if (t != c)
				rem[p.n_removes++] = mls_group_own_leaf(soak[t].g);
		}
		struct mls_commit_result cr;
		mls_commit_result_init(&cr);
		if (mls_group_commit(soak[c].g, &p, &cr) != 0) {
			/* e.g. a by-value Add / Remove clashing with a cached one */
			struct mls_commit_params plain = { .force_path = true };
			assert_int_equal(mls_group_commit(soak[c].g, &plain, &cr), 0);
		}
		bool tree_inside = p.tree_in_welcome;
		for (int j = 0; j < nin; j++) {
			struct mls_group_event ev;
			int o = in[j];
			assert_int_equal(mls_group_process(soak[o].g, aim_buf_bytes(&cr.commit), &ev),
					 0);
			if (ev.removed_self) {
				mls_group_free(soak[o].g);
				soak[o].g = NULL;
				soak_fresh(o);
			}
			mls_group_event_free(&ev);
		}
		if (cr.welcome.len) {
			struct aim_buf tree;
			aim_buf_init(&tree, MLS_MAX_MESSAGE);
			assert_int_equal(mls_group_export_tree(soak[c].g, &tree), 0);
			int joined = 0;
			for (int j = 0; j < nout; j++) {
				struct mls_group *g = NULL;
				int o = out[j];
				if (mls_group_join(&cfg, aim_buf_bytes(&cr.welcome),
						   tree_inside ? AIM_BYTES(NULL, 0) : aim_buf_bytes(&tree),
						   &soak[o].kp, &soak[o].priv, &g) == 0) {
					soak[o].g = g;
					joined++;
				} else {
					/* not in this Welcome */
					assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
				}
			}
			assert_true(joined > 0);
			aim_buf_free(&tree);
		}
		mls_commit_result_free(&cr);
		struct member *ms[SOAK_N];
		size_t n = 0;
		for (int i = 0; i < SOAK_N; i++)
			if (soak[i].g)
				ms[n++] = &soak[i];
		agree(ms, n);
		talk(ms, n, (size_t)rand() % n);
		if (rand() % 4 == 0) {
			struct aim_buf w;
			struct mls_group *g;
			aim_buf_init(&w, MLS_MAX_GROUP_STATE);
			assert_int_equal(mls_group_encode(ms[0]->g, &w), 0);
			assert_int_equal(mls_group_parse(&cfg, w.data, w.len, &g), 0);
			mls_group_free(ms[0]->g);
			ms[0]->g = g;
			aim_buf_free_secret(&w);
		}
	}
	/* every step was one epoch */
	int live = 0;
	for (int i = 0; i < SOAK_N; i++) {
		if (soak[i].g) {
			assert_int_equal(mls_group_epoch(soak[i].g), 60);
			live++;
		}
	}
	assert_true(live >= 2);
	for (int i = 0; i < SOAK_N; i++)
		member_free(&soak[i]);
}

/* A Welcome naming a resumption PSK of an epoch before the joiner's time:
 * the joiner gets it through cfg->resumption_lookup (here from another
 * member's mls_group_resumption_psk()), and cannot join without it. A
 * ReInit by value ends the group; the successor group (suite 3) is created
 * as the ReInit says and joined with the reinit PSK; then a branch. */
static struct mls_group *resumption_source;

static int resumption_lookup(void *arg, struct aim_bytes group_id, uint64_t epoch,
			     struct aim_buf *out)
{
	(void)arg;
	struct aim_bytes gid = mls_group_id(resumption_source);
	if (!aim_ct_equal(gid.p, gid.len, group_id.p, group_id.len))
		return aim_fail(AIM_ERR_NOTFOUND, "unknown group");
	return mls_group_resumption_psk(resumption_source, epoch, out);
}

static void test_resumption_and_reinit(void **state)
{
	(void)state;
	struct member a, b, c;
	pair(&a, &b, 2);
	member_init(&c, 2, "carol");
	struct member *ms[] = { &a, &b, &c };
	struct mls_commit_params up = { .force_path = true };
	commit_all(ms, 2, 1, &up, NULL, 0, false);
	uint64_t old = mls_group_epoch(a.g) - 1;
	struct aim_buf v;
	aim_buf_init(&v, 1024);
	assert_int_equal(mls_group_resumption_psk(b.g, old, &v), 0);
	assert_int_equal(v.len, mls_group_suite(b.g)->nh);
	assert_int_not_equal(mls_group_resumption_psk(b.g, old + 100, &v), 0);
	aim_buf_free_secret(&v);

	struct mls_commit_params p = { .adds = &c.kp, .n_adds = 1, .resumption_epochs = &old,
				       .n_resumption_epochs = 1 };
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(a.g, &p, &r), 0);
	process_ok(&b, &r.commit);
	process_ok(&a, &r.commit);
	struct aim_buf tree;
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_export_tree(a.g, &tree), 0);
	/* without the lookup: the PSK is unknown */
	assert_int_not_equal(mls_group_join(&cfg_public, aim_buf_bytes(&r.welcome),
					    aim_buf_bytes(&tree), &c.kp, &c.priv, &c.g),
			     0);
	assert_int_equal(aim_errcode(), AIM_ERR_NOTFOUND);
	struct mls_group_config cfg = cfg_public;
	cfg.resumption_lookup = resumption_lookup;
	resumption_source = b.g;
	assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&r.welcome), aim_buf_bytes(&tree),
					&c.kp, &c.priv, &c.g),
			 0);
	agree(ms, 3);
	talk(ms, 3, 2);
	aim_buf_free(&tree);
	mls_commit_result_free(&r);

	/* ReInit by value, alone */
	struct mls_reinit ri;
	memset(&ri, 0, sizeof ri);
	ri.version = MLS_VERSION_10;
	ri.cipher_suite = 3;
	assert_int_equal(mls_bytes_set(&ri.group_id, "reborn", 6), 0);
	struct mls_commit_params pr = { .reinit = &ri };
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(c.g, &pr, &r), 0);
	struct mls_group_event ev;
	assert_int_equal(mls_group_process(a.g, aim_buf_bytes(&r.commit), &ev), 0);
	assert_true(ev.reinit);
	mls_group_event_free(&ev);
	process_ok(&b, &r.commit);
	process_ok(&c, &r.commit);
	agree(ms, 3);
	/* a ReInit with anything else is refused */
	mls_commit_result_free(&r);
	mls_commit_result_init(&r);
	struct mls_commit_params bad = { .reinit = &ri, .force_path = true,
					 .removes = &(uint32_t){ 1 }, .n_removes = 1 };
	assert_int_not_equal(mls_group_commit(a.g, &bad, &r), 0);

	/* alice recreates the group as the ReInit says (suite 3, "reborn");
	 * bob and carol join with their old group's resumption PSK */
	struct member a3, b3, c3;
	member_init(&a3, 3, "alice");
	member_init(&b3, 3, "bob");
	member_init(&c3, 3, "carol");
	struct mls_key_package kps[2];
	kps[0] = b3.kp;
	kps[1] = c3.kp;
	mls_commit_result_free(&r);
	mls_commit_result_init(&r);
	/* not matching the ReInit: refused */
	assert_int_not_equal(mls_group_create_successor(&cfg_public, a.g, true,
							AIM_BYTES("other", 5), &a3.kp, &a3.priv,
							NULL, kps, 2, &r, &a3.g),
			     0);
	assert_int_equal(mls_group_create_successor(&cfg_public, a.g, true,
						    AIM_BYTES("reborn", 6), &a3.kp, &a3.priv, NULL,
						    kps, 2, &r, &a3.g),
			 0);
	assert_int_equal(mls_group_epoch(a3.g), 1);
	struct aim_buf t3;
	aim_buf_init(&t3, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_export_tree(a3.g, &t3), 0);
	resumption_source = b.g;
	assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&r.welcome), aim_buf_bytes(&t3), &b3.kp,
					&b3.priv, &b3.g),
			 0);
	resumption_source = c.g;
	assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&r.welcome), aim_buf_bytes(&t3), &c3.kp,
					&c3.priv, &c3.g),
			 0);
	/* without the old group's PSK no one gets in */
	struct mls_group *nope = NULL;
	assert_int_not_equal(mls_group_join(&cfg_public, aim_buf_bytes(&r.welcome),
					    aim_buf_bytes(&t3), &c3.kp, &c3.priv, &nope),
			     0);
	struct member *ms3[] = { &a3, &b3, &c3 };
	agree(ms3, 3);
	talk(ms3, 3, 1);

	/* a branch of the new group with bob only */
	struct member a4, b4;
	member_init(&a4, 3, "alice");
	member_init(&b4, 3, "bob");
	mls_commit_result_free(&r);
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_create_successor(&cfg_public, a3.g, false, AIM_BYTES(NULL, 0),
						    &a4.kp, &a4.priv, NULL, &b4.kp, 1, &r, &a4.g),
			 0);
	aim_buf_reset(&t3);
	assert_int_equal(mls_group_export_tree(a4.g, &t3), 0);
	resumption_source = b3.g;
	assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&r.welcome), aim_buf_bytes(&t3), &b4.kp,
					&b4.priv, &b4.g),
			 0);
	struct member *ms4[] = { &a4, &b4 };
	agree(ms4, 2);
	talk(ms4, 2, 0);
	aim_buf_free(&t3);
	mls_reinit_free(&ri);
	mls_commit_result_free(&r);
	member_free(&a);
	member_free(&b);
	member_free(&c);
	member_free(&a3);
	member_free(&b3);
	member_free(&c3);
	member_free(&a4);
	member_free(&b4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle_public),
		cmocka_unit_test(test_lifecycle_private),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_group_info_and_proposals),
		cmocka_unit_test(test_attacks),
		cmocka_unit_test(test_external_sender_and_reinit),
		cmocka_unit_test(test_random_walk),
		cmocka_unit_test(test_resumption_and_reinit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
