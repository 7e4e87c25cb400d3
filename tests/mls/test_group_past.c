/* Unit tests of the past-epoch window (src/mls/group_past.c): an
 * application message sent in epoch N that arrives after the Commit to
 * N+1 is decrypted with epoch N's keys (also from a member the Commit
 * removed, also after the state went through encode / parse); its replay
 * is refused; a handshake message of a past epoch is refused as before
 * (AIM_ERR_CONFLICT, no key used); an epoch older than the window, or one
 * forgotten with mls_group_forget_past(), is refused (AIM_ERR_CONFLICT).
 * Handshakes as PublicMessage and as PrivateMessage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mls/mls.h"
#include "mls/tree.h"

struct member {
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	struct mls_group *g;
};

static void member_init(struct member *m, const char *name)
{
	memset(m, 0, sizeof *m);
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	cred.type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&cred.identity, name, strlen(name)), 0);
	struct mls_key_package_params p = { .cipher_suite = 1, .credential = &cred };
	assert_int_equal(mls_key_package_create(&p, &m->kp, &m->priv), 0);
	mls_credential_free(&cred);
}

static void member_free(struct member *m)
{
	mls_group_free(m->g);
	mls_key_package_free(&m->kp);
	mls_key_package_priv_free(&m->priv);
}

static void encrypt(struct member *m, const char *text, struct aim_buf *out)
{
	aim_buf_init(out, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_encrypt(m->g, AIM_BYTES(NULL, 0), AIM_BYTES_STR(text), out), 0);
}

/* m reads msg as text sent in epoch `epoch` by leaf `sender`. */
static void reads(struct member *m, const struct aim_buf *msg, const char *text, uint64_t epoch,
		  uint32_t sender)
{
	struct mls_group_event ev;
	int rc = mls_group_process(m->g, aim_buf_bytes(msg), &ev);
	if (rc)
		fprintf(stderr, "%s\n", aim_errmsg());
	assert_int_equal(rc, 0);
	assert_int_equal(ev.type, MLS_EVENT_APPLICATION);
	assert_int_equal(ev.epoch, epoch);
	assert_int_equal(ev.past_epoch, epoch < mls_group_epoch(m->g));
	assert_int_equal(ev.sender.index, sender);
	assert_int_equal(ev.data.len, strlen(text));
	assert_memory_equal(ev.data.data, text, strlen(text));
	mls_group_event_free(&ev);
}

static void refused(struct member *m, const struct aim_buf *msg, int code)
{
	assert_int_not_equal(mls_group_process(m->g, aim_buf_bytes(msg), NULL), 0);
	assert_int_equal(aim_errcode(), code);
	aim_errclear();
}

/* ms[c] commits p; every other member of ms processes it. */
static void commit(struct member **ms, size_t n, size_t c, const struct mls_commit_params *p,
		   struct aim_buf *welcome)
{
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	assert_int_equal(mls_group_commit(ms[c]->g, p, &r), 0);
	assert_int_equal(mls_group_merge_pending(ms[c]->g), 0);
	for (size_t i = 0; i < n; i++) {
		if (i == c)
			continue;
		struct mls_group_event ev;
		int rc = mls_group_process(ms[i]->g, aim_buf_bytes(&r.commit), &ev);
		if (rc)
			fprintf(stderr, "commit: %s\n", aim_errmsg());
		assert_int_equal(rc, 0);
		assert_int_equal(ev.type, MLS_EVENT_COMMIT);
		mls_group_event_free(&ev);
	}
	if (welcome)
		assert_int_equal(aim_buf_append(welcome, r.welcome.data, r.welcome.len), 0);
	mls_commit_result_free(&r);
}

/* bob's state through encode and parse */
static void restore(struct member *m, const struct mls_group_config *cfg)
{
	struct aim_buf st;
	aim_buf_init(&st, MLS_MAX_GROUP_STATE);
	assert_int_equal(mls_group_encode(m->g, &st), 0);
	mls_group_free(m->g);
	assert_int_equal(mls_group_parse(cfg, st.data, st.len, &m->g), 0);
	aim_buf_free_secret(&st);
}

static void window(const struct mls_group_config *cfg)
{
	struct member a, b, c;
	member_init(&a, "alice");
	member_init(&b, "bob");
	member_init(&c, "carol");
	assert_int_equal(mls_group_create(cfg, AIM_BYTES(NULL, 0), &a.kp, &a.priv, NULL, &a.g), 0);
	struct mls_key_package adds[] = { b.kp, c.kp };
	struct mls_commit_params add = { .adds = adds, .n_adds = 2 };
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	struct member *ms[] = { &a, &b, &c };
	commit(ms, 1, 0, &add, &w);
	assert_int_equal(mls_group_join(cfg, aim_buf_bytes(&w), AIM_BYTES(NULL, 0), &b.kp, &b.priv,
					&b.g),
			 0);
	assert_int_equal(mls_group_join(cfg, aim_buf_bytes(&w), AIM_BYTES(NULL, 0), &c.kp, &c.priv,
					&c.g),
			 0);
	aim_buf_free(&w);
	uint64_t e0 = mls_group_epoch(a.g);
	uint32_t la = mls_group_own_leaf(a.g), lc = mls_group_own_leaf(c.g);

	/* a message of epoch e0 overtaken by the Commit to e0 + 1 */
	struct aim_buf m0, m0b, m0c;
	encrypt(&a, "before the commit", &m0);
	encrypt(&a, "also before", &m0b);
	encrypt(&c, "carol before her removal", &m0c);
	struct mls_commit_params up = { .force_path = true };
	commit(ms, 3, 0, &up, NULL);
	assert_int_equal(mls_group_epoch(b.g), e0 + 1);
	uint64_t past[MLS_GROUP_PAST_EPOCHS];
	assert_int_equal(mls_group_past_epochs(b.g, past, MLS_GROUP_PAST_EPOCHS), 1);
	assert_int_equal(past[0], e0);
	/* out of order within the past epoch too */
	reads(&b, &m0b, "also before", e0, la);
	reads(&b, &m0, "before the commit", e0, la);
	/* the replay: the generation is consumed */
	refused(&b, &m0, AIM_ERR_STATE);
	/* a tampered one is refused and burns nothing */
	m0c.data[m0c.len - 3] ^= 1;
	assert_int_not_equal(mls_group_process(b.g, aim_buf_bytes(&m0c), NULL), 0);
	aim_errclear();
	m0c.data[m0c.len - 3] ^= 1;

	/* carol is removed at e0 + 2: her message of e0 is still hers, with
	 * her leaf of e0; and it survives encode / parse */
	struct mls_commit_params rm = { .removes = &lc, .n_removes = 1 };
	struct member *ab[] = { &a, &b };
	commit(ab, 2, 1, &rm, NULL);
	restore(&b, cfg);
	assert_int_equal(mls_group_past_epochs(b.g, past, MLS_GROUP_PAST_EPOCHS), 2);
	reads(&b, &m0c, "carol before her removal", e0, lc);
	/* her key of e0 is known; her leaf is blank now */
	struct aim_bytes k;
	assert_int_equal(mls_group_past_signature_key(b.g, e0, lc, &k), 0);
	assert_int_equal(k.len, c.kp.leaf_node.signature_key.len);
	assert_memory_equal(k.p, c.kp.leaf_node.signature_key.p, k.len);
	assert_null(mls_tree_leaf(mls_group_tree(b.g), lc));
	assert_int_not_equal(mls_group_past_signature_key(b.g, e0 + 1, 7, &k), 0);
	/* what b consumed before the snapshot stays consumed */
	refused(&b, &m0b, AIM_ERR_STATE);

	/* a handshake of a past epoch: a proposal made at e0 + 2 arrives at
	 * e0 + 3 */
	struct aim_buf prop;
	aim_buf_init(&prop, MLS_MAX_MESSAGE);
	assert_int_equal(mls_group_propose_update(a.g, NULL, &prop), 0);
	struct aim_buf m2;
	encrypt(&a, "at e0 + 2", &m2);
	commit(ab, 2, 1, &up, NULL);
	refused(&b, &prop, AIM_ERR_CONFLICT);
	reads(&b, &m2, "at e0 + 2", e0 + 2, la);

	/* the window: at e0 + 3 the kept epochs are e0 .. e0 + 2; one more
	 * Commit wipes e0 */
	assert_int_equal(mls_group_past_epochs(b.g, past, MLS_GROUP_PAST_EPOCHS), 3);
	assert_int_equal(past[0], e0);
	assert_int_equal(past[2], e0 + 2);
	struct aim_buf m3, m3b;
	encrypt(&a, "at e0 + 3", &m3);
	encrypt(&a, "at e0 + 3, late", &m3b);
	commit(ab, 2, 0, &up, NULL);
	assert_int_equal(mls_group_past_epochs(b.g, past, MLS_GROUP_PAST_EPOCHS), 3);
	assert_int_equal(past[0], e0 + 1);
	reads(&b, &m3, "at e0 + 3", e0 + 3, la);
	/* forgetting on demand */
	mls_group_forget_past(b.g);
	assert_int_equal(mls_group_past_epochs(b.g, past, MLS_GROUP_PAST_EPOCHS), 0);
	refused(&b, &m3b, AIM_ERR_CONFLICT);
	/* the current epoch works as before */
	struct aim_buf now;
	encrypt(&a, "now", &now);
	reads(&b, &now, "now", e0 + 4, la);

	aim_buf_free(&m0);
	aim_buf_free(&m0b);
	aim_buf_free(&m0c);
	aim_buf_free(&prop);
	aim_buf_free(&m2);
	aim_buf_free(&m3);
	aim_buf_free(&m3b);
	aim_buf_free(&now);
	member_free(&a);
	member_free(&b);
	member_free(&c);
}

static void test_window_public(void **state)
{
	(void)state;
	struct mls_group_config cfg = { .ratchet_tree_extension = true };
	window(&cfg);
}

static void test_window_private(void **state)
{
	(void)state;
	struct mls_group_config cfg = { .encrypt_handshake = true, .padding_block = 32,
					 .ratchet_tree_extension = true };
	window(&cfg);
}

/* An epoch falling out of the window: its message is refused as stale. */
static void test_too_old(void **state)
{
	(void)state;
	struct mls_group_config cfg = { .ratchet_tree_extension = true };
	struct member a, b;
	member_init(&a, "alice");
	member_init(&b, "bob");
	assert_int_equal(mls_group_create(&cfg, AIM_BYTES(NULL, 0), &a.kp, &a.priv, NULL, &a.g), 0);
	struct mls_commit_params add = { .adds = &b.kp, .n_adds = 1 };
	struct aim_buf w;
	aim_buf_init(&w, MLS_MAX_MESSAGE);
	struct member *ms[] = { &a, &b };
	commit(ms, 1, 0, &add, &w);
	assert_int_equal(mls_group_join(&cfg, aim_buf_bytes(&w), AIM_BYTES(NULL, 0), &b.kp, &b.priv,
					&b.g),
			 0);
	aim_buf_free(&w);
	struct aim_buf m[MLS_GROUP_PAST_EPOCHS + 1];
	struct mls_commit_params up = { .force_path = true };
	uint64_t e0 = mls_group_epoch(a.g);
	for (size_t i = 0; i <= MLS_GROUP_PAST_EPOCHS; i++) {
		encrypt(&a, "late", &m[i]);
		commit(ms, 2, i % 2, &up, NULL);
	}
	/* at e0 + 4: e0 is gone, e0 + 1 .. e0 + 3 are kept */
	refused(&b, &m[0], AIM_ERR_CONFLICT);
	for (size_t i = 1; i <= MLS_GROUP_PAST_EPOCHS; i++)
		reads(&b, &m[i], "late", e0 + i, mls_group_own_leaf(a.g));
	for (size_t i = 0; i <= MLS_GROUP_PAST_EPOCHS; i++)
		aim_buf_free(&m[i]);
	member_free(&a);
	member_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_public),
		cmocka_unit_test(test_window_private),
		cmocka_unit_test(test_too_old),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
