/* libFuzzer target: the hub's decision (src/hub/hub.h) on an arbitrary MLS
 * message against a fixed state: a channel of alice (owner), bob and carol
 * at epoch 1, made once per process with the MLS library, and five good
 * messages for it (alice's Update commit, her Add of dave with its Welcome,
 * her Remove of bob, bob's self-remove proposal, carol's application
 * message). The input:
 *
 *   byte 0   the input kind (HUB_ADD .. HUB_SETTINGS, modulo)
 *   byte 1   the mode: even: the rest of the input is the MLS message as
 *            it is; odd: the good message of that kind with the rest of
 *            the input laid over it as (u16 offset, u8 xor) triples, so
 *            that mutations reach the checks after parsing
 *   byte 2   which actor sends it (alice, bob, carol, dave, eve)
 *
 * Nothing may crash or leak; an accepted decision must come with a new state
 * that encodes and parses back to the same bytes, the sequence number the
 * state had, and the epoch advanced by at most one; a refusal must name its
 * code and reason and leave the state as it was (its encoding unchanged).
 * Seeds: fuzz/seeds/fuzz_hub (one per kind and mode).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "mls/mls.h"

enum { ALICE, BOB, CAROL, DAVE, EVE, N };

static const char *const ACTORS[N] = { "https://a.test/users/alice", "https://b.test/users/bob",
				       "https://c.test/users/carol", "https://b.test/users/dave",
				       "https://e.test/users/eve" };
static const char *const ACCTS[N] = { "acct:alice@a.test", "acct:bob@b.test",
				      "acct:carol@c.test", "acct:dave@b.test", "acct:eve@e.test" };

static struct {
	struct mls_key_package kp[N];
	struct mls_key_package_priv priv[N];
	struct mls_group *g[N];
	struct hub_group *hub;
	struct aim_buf state;
	struct aim_buf update, add, add_welcome, remove, proposal, message;
	bool ready;
} W;

static const struct mls_group_config cfg = { .now = 0 };

static void die(const char *what)
{
	fprintf(stderr, "fuzz_hub setup: %s: %s\n", what, aim_errmsg());
	abort();
}

static void setup(void)
{
	for (int i = 0; i < N; i++) {
		struct mls_credential cred = { .type = MLS_CREDENTIAL_BASIC };
		if (mls_bytes_set(&cred.identity, ACCTS[i], strlen(ACCTS[i])) != 0)
			die("credential");
		struct mls_key_package_params p = { .cipher_suite = 1, .credential = &cred };
		if (mls_key_package_create(&p, &W.kp[i], &W.priv[i]) != 0)
			die("kp");
		mls_credential_free(&cred);
	}
	if (mls_group_create(&cfg, AIM_BYTES(NULL, 0), &W.kp[ALICE], &W.priv[ALICE], NULL,
			     &W.g[ALICE]) != 0)
		die("create");
	struct mls_key_package first[2] = { W.kp[BOB], W.kp[CAROL] };
	struct mls_commit_params cp = { .adds = first, .n_adds = 2, .tree_in_welcome = true,
					.wire_format = 1 };
	struct mls_commit_result r;
	mls_commit_result_init(&r);
	if (mls_group_commit(W.g[ALICE], &cp, &r) != 0 || mls_group_merge_pending(W.g[ALICE]) != 0)
		die("commit adds");
	for (int i = BOB; i <= CAROL; i++)
		if (mls_group_join(&cfg, aim_buf_bytes(&r.welcome), AIM_BYTES(NULL, 0), &W.kp[i],
				   &W.priv[i], &W.g[i]) != 0)
			die("join");
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	if (mls_group_group_info(W.g[ALICE], true, true, &gi) != 0)
		die("group info");
	struct hub_member mv[3];
	for (int i = 0; i < 3; i++)
		mv[i] = (struct hub_member){ ACTORS[i], ACCTS[i] };
	struct hub_members ms = { mv, 3 };
	struct hub_create c = { .group_info = aim_buf_bytes(&gi), .welcome = aim_buf_bytes(&r.welcome),
				.owner = ACTORS[ALICE], .members = &ms };
	struct hub_decision d;
	if (hub_group_create(&c, (uint64_t)aim_now(), &W.hub, &d) != 0)
		die("hub create");
	hub_decision_free(&d);
	aim_buf_free(&gi);
	mls_commit_result_free(&r);

	struct aim_buf *bufs[] = { &W.state, &W.update, &W.add, &W.add_welcome, &W.remove,
				   &W.proposal, &W.message };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		aim_buf_init(bufs[i], HUB_MAX_STATE);
	if (hub_group_encode(W.hub, &W.state) != 0)
		die("encode");
	/* the good messages, each built for epoch 1 and then forgotten by its
	 * sender */
	struct mls_commit_params up = { .force_path = true, .wire_format = 1 };
	mls_commit_result_init(&r);
	if (mls_group_commit(W.g[ALICE], &up, &r) != 0 || aim_buf_append(&W.update, r.commit.data, r.commit.len) != 0)
		die("update");
	mls_group_discard_pending(W.g[ALICE]);
	mls_commit_result_free(&r);
	struct mls_commit_params add = { .adds = &W.kp[DAVE], .n_adds = 1, .wire_format = 1 };
	mls_commit_result_init(&r);
	if (mls_group_commit(W.g[ALICE], &add, &r) != 0 ||
	    aim_buf_append(&W.add, r.commit.data, r.commit.len) != 0 ||
	    aim_buf_append(&W.add_welcome, r.welcome.data, r.welcome.len) != 0)
		die("add");
	mls_group_discard_pending(W.g[ALICE]);
	mls_commit_result_free(&r);
	uint32_t bob = mls_group_own_leaf(W.g[BOB]);
	struct mls_commit_params rm = { .removes = &bob, .n_removes = 1, .wire_format = 1 };
	mls_commit_result_init(&r);
	if (mls_group_commit(W.g[ALICE], &rm, &r) != 0 ||
	    aim_buf_append(&W.remove, r.commit.data, r.commit.len) != 0)
		die("remove");
	mls_group_discard_pending(W.g[ALICE]);
	mls_commit_result_free(&r);
	if (mls_group_propose_remove(W.g[BOB], bob, &W.proposal) != 0)
		die("proposal");
	if (mls_group_encrypt(W.g[CAROL], AIM_BYTES(NULL, 0), AIM_BYTES("hello", 5), &W.message) != 0)
		die("message");
	W.ready = true;
}

static const struct aim_buf *good_of(enum hub_kind k)
{
	switch (k) {
	case HUB_ADD:
		return &W.add;
	case HUB_REMOVE:
		return &W.remove;
	case HUB_COMMIT:
		return &W.update;
	case HUB_PROPOSAL:
		return &W.proposal;
	case HUB_MESSAGE:
		return &W.message;
	default:
		return NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!W.ready)
		setup();
	if (size < 3)
		return 0;
	enum hub_kind kind = (enum hub_kind)(HUB_ADD + data[0] % (HUB_SETTINGS - HUB_ADD + 1));
	bool overlay = data[1] & 1;
	int who = data[2] % N;
	data += 3;
	size -= 3;
	uint8_t *msg = NULL;
	size_t len = 0;
	const struct aim_buf *good = good_of(kind);
	if (overlay && good) {
		len = good->len;
		msg = malloc(len ? len : 1);
		memcpy(msg, good->data, len);
		for (size_t i = 0; i + 3 <= size && len; i += 3) {
			size_t off = ((size_t)data[i] << 8 | data[i + 1]) % len;
			msg[off] ^= data[i + 2];
		}
	} else {
		len = size;
		msg = malloc(len ? len : 1);
		if (len)
			memcpy(msg, data, len);
	}
	const char *objs[2] = { ACTORS[DAVE], ACTORS[BOB] };
	struct hub_member rv[1] = { { ACTORS[DAVE], ACCTS[DAVE] } };
	struct hub_members rs = { rv, 1 };
	struct hub_policy pol = { .membership = HUB_MEMBERSHIP_MEMBERS, .message_epochs = 1 };
	struct hub_input in = { .kind = kind, .actor = ACTORS[who], .mls = AIM_BYTES(msg, len) };
	switch (kind) {
	case HUB_ADD:
		in.objects = objs;
		in.n_objects = 1;
		in.resolved = &rs;
		in.welcome = aim_buf_bytes(&W.add_welcome);
		break;
	case HUB_REMOVE:
		in.objects = objs + 1;
		in.n_objects = 1;
		break;
	case HUB_TRANSFER:
		in.objects = objs + 1;
		in.n_objects = 1;
		in.mls = AIM_BYTES(NULL, 0);
		break;
	case HUB_SETTINGS:
		in.policy = &pol;
		in.mls = AIM_BYTES(NULL, 0);
		break;
	case HUB_METADATA:
		in.mls = AIM_BYTES(NULL, 0);
		break;
	default:
		break;
	}
	struct hub_group *next = NULL;
	struct hub_decision d;
	uint64_t seq = hub_group_next_seq(W.hub), epoch = hub_group_epoch(W.hub);
	int rc = hub_decide(W.hub, &in, (uint64_t)aim_now(), &next, &d);
	if (rc == 0) {
		if (!next || !d.accepted || d.err != AIM_ERR_NONE || d.seq != seq ||
		    hub_group_next_seq(next) != seq + 1 || hub_group_epoch(next) < epoch ||
		    hub_group_epoch(next) > epoch + 1 || d.current_epoch != hub_group_epoch(next))
			abort();
		struct aim_buf a, b;
		aim_buf_init(&a, HUB_MAX_STATE);
		aim_buf_init(&b, HUB_MAX_STATE);
		struct hub_group *p = NULL;
		if (hub_group_encode(next, &a) != 0 || hub_group_parse(aim_buf_bytes(&a), &p) != 0 ||
		    hub_group_encode(p, &b) != 0 || a.len != b.len ||
		    memcmp(a.data, b.data, a.len) != 0)
			abort();
		hub_group_free(p);
		aim_buf_free(&a);
		aim_buf_free(&b);
		hub_group_free(next);
	} else {
		if (next || d.accepted || d.err == AIM_ERR_NONE || !d.reason[0] || d.seq != 0 ||
		    d.n_added || d.n_removed || d.route_welcome || d.current_epoch != epoch)
			abort();
	}
	hub_decision_free(&d);
	/* the fixed state never changes */
	struct aim_buf now_state;
	aim_buf_init(&now_state, HUB_MAX_STATE);
	if (hub_group_encode(W.hub, &now_state) != 0 || now_state.len != W.state.len ||
	    memcmp(now_state.data, W.state.data, now_state.len) != 0)
		abort();
	aim_buf_free(&now_state);
	free(msg);
	return 0;
}
