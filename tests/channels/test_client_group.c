/* Unit tests of the client core's groups (src/client core_group*.c,
 * core_channel*.c) over a fake client_io: an in-memory store per device, a
 * fixed clock, and one fake home server a.test for every user (token =
 * user name) that issues credentials, keeps KeyPackages, answers claims and
 * plays the hub of channels and DMs: a channel's Create, Add / Remove
 * (409 on a stale epoch), messages fanned out as Announces with
 * aim:sequence into the members' inboxes and the channel's outbox (?after=
 * through the proxy). The tests then reorder, duplicate and drop inbox
 * items to check the ordering: buffering until the commit, duplicates
 * dropped, gaps filled from the outbox. Plus the pure rule
 * client_seq_decide(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "base/base.h"
#include "client/client.h"
#include "crypto/crypto.h"
#include "mls/mls.h"

#define NOW INT64_C(1767225600)
#define DAY INT64_C(86400)
#define BASE "https://a.test"
#define CHAN BASE "/channels/1"

/* ---- In-memory store (a JSON object per device) ------------------------------------ */

struct kv {
	json_t *m, *saved;
};

static int k_get(void *ctx, const char *key, struct aim_buf *v)
{
	struct kv *k = ctx;
	json_t *e = json_object_get(k->m, key);
	if (!e)
		return aim_fail(AIM_ERR_NOTFOUND, "no %s", key);
	return aim_buf_append(v, json_string_value(e), json_string_length(e));
}
static int k_put(void *ctx, const char *key, struct aim_bytes v)
{
	struct kv *k = ctx;
	json_object_set_new(k->m, key, json_stringn((const char *)v.p, v.len));
	return 0;
}
static int k_del(void *ctx, const char *key)
{
	struct kv *k = ctx;
	json_object_del(k->m, key);
	return 0;
}
static int cmpk(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}
static int k_list(void *ctx, const char *prefix, client_kv_fn fn, void *arg)
{
	struct kv *k = ctx;
	size_t n = json_object_size(k->m), i = 0;
	const char **keys = calloc(n + 1, sizeof *keys);
	const char *key;
	json_t *v;
	json_object_foreach(k->m, key, v)
		keys[i++] = key;
	qsort(keys, n, sizeof *keys, cmpk);
	int rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		if (aim_str_has_prefix(keys[i], prefix)) {
			json_t *e = json_object_get(k->m, keys[i]);
			rc = fn(arg, keys[i], AIM_BYTES(json_string_value(e), json_string_length(e)));
		}
	free(keys);
	return rc;
}
static int k_begin(void *ctx)
{
	struct kv *k = ctx;
	k->saved = json_deep_copy(k->m);
	return 0;
}
static int k_commit(void *ctx)
{
	struct kv *k = ctx;
	json_decref(k->saved);
	k->saved = NULL;
	return 0;
}
static void k_rollback(void *ctx)
{
	struct kv *k = ctx;
	if (k->saved) {
		json_decref(k->m);
		k->m = k->saved;
		k->saved = NULL;
	}
}

/* ---- The fake server ------------------------------------------------------------------ */

#define USERS 5
static const char *NAMES[USERS] = { "alice", "bob", "carol", "dave", "erin" };

/* One group the fake hub orders: a channel or a DM. */
struct hub {
	char url[64];
	json_t *outbox;         /* its Announces */
	bool member[USERS];
	uint64_t seq, epoch;
};
#define HUBS 4

struct fake {
	struct aim_pkey *ca_key;
	struct aim_buf ca;
	json_t *kps[USERS];     /* uploaded KeyPackages (base64) */
	json_t *inbox[USERS];   /* activities, oldest first */
	struct hub hub[HUBS];
	size_t n_hubs, n_dms;
	int refuse_next;        /* answer 409 to the next change */
	bool deliver_to_removed; /* keep fanning out to removed members */
	size_t proxy_outbox;    /* outbox pages served */
	int n_act;
};
static struct fake F;

static int uidx(const char *name)
{
	for (int i = 0; i < USERS; i++)
		if (strcmp(NAMES[i], name) == 0)
			return i;
	return -1;
}

/* "https://a.test/users/bob" or "acct:bob@a.test" -> index */
static int uidx_of(const char *s)
{
	char n[64];
	if (aim_str_has_prefix(s, BASE "/users/"))
		snprintf(n, sizeof n, "%s", s + strlen(BASE "/users/"));
	else if (sscanf(s, "acct:%63[^@]", n) != 1)
		return -1;
	return uidx(n);
}

/* The hub of a URL (the channel, its followers, its outbox). */
static struct hub *hub_of(const char *url)
{
	for (size_t i = 0; url && i < F.n_hubs; i++)
		if (aim_str_has_prefix(url, F.hub[i].url))
			return &F.hub[i];
	return NULL;
}

static char *b64s(struct aim_bytes b)
{
	struct aim_buf s;
	aim_buf_init(&s, (size_t)8 << 20);
	assert_int_equal(aim_b64_encode(&s, b.p, b.len), 0);
	char *r = strndup(s.len ? (const char *)s.data : "", s.len);
	aim_buf_free(&s);
	return r;
}

static void answer(struct client_http_response *r, long st, json_t *body)
{
	r->status = st;
	if (body) {
		char *t = json_dumps(body, JSON_COMPACT);
		assert_int_equal(aim_buf_append_str(&r->body, t), 0);
		free(t);
		json_decref(body);
	}
	snprintf(r->content_type, sizeof r->content_type, "application/json");
}

static json_t *err(const char *code)
{
	return json_pack("{s:s, s:s}", "error", code, "message", "fake");
}

static void url_decode(const char *s, char *out, size_t n)
{
	size_t k = 0;
	for (; *s && k + 1 < n; s++) {
		if (*s == '%' && s[1] && s[2]) {
			char hx[3] = { s[1], s[2], 0 };
			out[k++] = (char)strtol(hx, NULL, 16);
			s += 2;
		} else {
			out[k++] = *s == '+' ? ' ' : *s;
		}
	}
	out[k] = 0;
}

static uint64_t commit_epoch(const json_t *o)
{
	struct aim_buf raw;
	aim_buf_init(&raw, MLS_MAX_MESSAGE);
	const char *c = json_string_value(json_object_get(o, "content"));
	assert_non_null(c);
	assert_int_equal(aim_b64_decode(&raw, c, strlen(c)), 0);
	struct mls_message m;
	assert_int_equal(mls_message_parse(raw.data, raw.len, &m), 0);
	assert_int_equal(m.wire_format, MLS_WIRE_PUBLIC_MESSAGE); /* commits are public */
	uint64_t e = m.public_message.content.epoch;
	mls_message_free(&m);
	aim_buf_free(&raw);
	return e;
}

static void fan_out(struct hub *h, json_t *act)
{
	char id[64];
	snprintf(id, sizeof id, BASE "/activities/%d", ++F.n_act);
	json_object_set_new(act, "id", json_string(id));
	json_t *ann = json_pack("{s:s, s:s, s:O, s:I}", "type", "Announce", "actor", h->url,
				"object", act, "aim:sequence", (json_int_t)++h->seq);
	char aid[64];
	snprintf(aid, sizeof aid, BASE "/activities/%d", ++F.n_act);
	json_object_set_new(ann, "id", json_string(aid));
	json_array_append(h->outbox, ann);
	for (int i = 0; i < USERS; i++)
		if (h->member[i])
			json_array_append(F.inbox[i], ann);
	json_decref(ann);
	json_decref(act); /* taken */
}

static void welcome_to(struct hub *h, const json_t *actors, const json_t *welcome)
{
	size_t i;
	json_t *a;
	json_array_foreach(actors, i, a) {
		int u = uidx_of(json_string_value(a));
		assert_true(u >= 0);
		h->member[u] = true;
		json_t *w = json_pack("{s:s, s:s, s:O, s:s}", "type", "Create", "actor", h->url,
				      "object", welcome, "aim:channel", h->url);
		json_array_append_new(F.inbox[u], w);
	}
}

static void outbox_post(int u, json_t *act, struct client_http_response *r)
{
	const char *type = json_string_value(json_object_get(act, "type"));
	/* an Add or Remove names one actor by its IRI or several in an array
	 * (AS2 allows both; the client sends one IRI alone): the fake hub
	 * reads an array */
	if ((!strcmp(type, "Add") || !strcmp(type, "Remove")) &&
	    json_is_string(json_object_get(act, "object")))
		json_object_set_new(act, "object", json_pack("[O]", json_object_get(act, "object")));
	json_t *obj = json_object_get(act, "object");
	char me[128];
	snprintf(me, sizeof me, BASE "/users/%s", NAMES[u]);
	json_object_set_new(act, "actor", json_string(me));
	bool group = json_is_object(obj) &&
		     strcmp(json_string_value(json_object_get(obj, "type")), "Group") == 0;
	if (strcmp(type, "Create") == 0 && json_object_get(act, "aim:groupInfo") &&
	    json_object_get(act, "aim:welcome")) {
		/* a channel's Create, or a DM's (no Group, participants in "to");
		 * the hub learns epoch 1 from the GroupInfo */
		assert_true(F.n_hubs < HUBS);
		struct hub *h = &F.hub[F.n_hubs++];
		if (group)
			snprintf(h->url, sizeof h->url, CHAN);
		else
			snprintf(h->url, sizeof h->url, BASE "/dms/%zu", ++F.n_dms);
		h->outbox = json_array();
		h->epoch = 1;
		h->member[u] = true;
		welcome_to(h, json_object_get(act, group ? "aim:members" : "to"),
			   json_object_get(act, "aim:welcome"));
		answer(r, 201, json_pack("{s:s, s:s, s:i}", "id", h->url, "type",
					 group ? "Group" : "aim:GroupDM", "aim:epoch", 1));
		return;
	}
	if (strcmp(type, "Add") == 0 || strcmp(type, "Remove") == 0) {
		struct hub *h = hub_of(json_string_value(json_object_get(act, "target")));
		assert_non_null(h);
		char fl[128];
		snprintf(fl, sizeof fl, "%s/followers", h->url);
		assert_string_equal(json_string_value(json_object_get(act, "target")), fl);
		uint64_t e = commit_epoch(json_object_get(act, "instrument"));
		if (F.refuse_next || e != h->epoch) {
			F.refuse_next = F.refuse_next ? F.refuse_next - 1 : 0;
			answer(r, 409, json_pack("{s:s, s:I}", "error", "stale_epoch",
						 "aim:currentEpoch", (json_int_t)h->epoch));
			return;
		}
		h->epoch++;
		json_t *cp = json_deep_copy(act);
		json_t *w = json_object_get(cp, "aim:welcome");
		if (strcmp(type, "Remove") == 0) {
			fan_out(h, json_incref(cp));
			size_t i;
			json_t *a;
			json_array_foreach(json_object_get(act, "object"), i, a)
				if (!F.deliver_to_removed)
					h->member[uidx_of(json_string_value(a))] = false;
		} else {
			json_incref(w);
			json_object_del(cp, "aim:welcome");
			/* the Welcome, then the Announce to every member, the new
			 * ones included (as the server does) */
			welcome_to(h, json_object_get(act, "object"), w);
			fan_out(h, json_incref(cp));
			json_decref(w);
		}
		json_decref(cp);
		answer(r, 201, json_pack("{s:s}", "type", type));
		return;
	}
	if (strcmp(type, "Create") == 0) {
		struct hub *h =
			hub_of(json_string_value(json_array_get(json_object_get(act, "to"), 0)));
		assert_non_null(h);
		assert_true(h->member[u]);
		fan_out(h, json_deep_copy(act));
		answer(r, 201, json_pack("{s:s}", "type", "Create"));
		return;
	}
	fail_msg("unexpected outbox post %s", type);
}

/* The inbox, one page per call: newest first, prev = after the newest. */
static void inbox_get(int u, const char *query, struct client_http_response *r)
{
	long after = -1;
	const char *mn = strstr(query, "min_id=");
	if (mn)
		after = atol(mn + 7);
	json_t *items = json_array();
	size_t n = json_array_size(F.inbox[u]);
	size_t from = after < 0 ? 0 : (size_t)after;
	for (size_t i = n; i-- > from;)
		json_array_append(items, json_array_get(F.inbox[u], i));
	json_t *page = json_pack("{s:s, s:o}", "type", "OrderedCollectionPage", "orderedItems",
				 items);
	if (n > from) {
		char p[128];
		snprintf(p, sizeof p, BASE "/users/%s/inbox?page=true&min_id=%zu", NAMES[u], n);
		json_object_set_new(page, "prev", json_string(p));
	}
	answer(r, 200, page);
}

static void proxy(const char *url, struct client_http_response *r)
{
	struct hub *h = hub_of(url);
	char pre[128];
	if (h)
		snprintf(pre, sizeof pre, "%s/outbox?after=", h->url);
	if (h && aim_str_has_prefix(url, pre)) {
		F.proxy_outbox++;
		uint64_t after = strtoull(url + strlen(pre), NULL, 10);
		json_t *items = json_array();
		size_t i;
		json_t *a;
		json_array_foreach(h->outbox, i, a)
			if ((uint64_t)json_integer_value(json_object_get(a, "aim:sequence")) > after)
				json_array_append(items, a);
		answer(r, 200, json_pack("{s:s, s:o}", "type", "OrderedCollectionPage",
					 "orderedItems", items));
		return;
	}
	answer(r, 404, err("not_found"));
}

static json_t *ca_doc(void)
{
	char *c = b64s(aim_buf_bytes(&F.ca));
	json_t *j = json_pack("{s:s, s:[s]}", "domain", "a.test", "certificates", c);
	free(c);
	return j;
}

static int fake_http(void *ctx, const struct client_http_request *q,
		     struct client_http_response *r)
{
	(void)ctx;
	assert_true(aim_str_has_prefix(q->url, BASE));
	const char *path = q->url + strlen(BASE);
	json_t *body = q->body.len && q->content_type &&
				       strcmp(q->content_type, "application/json") == 0
			       ? json_loadb((const char *)q->body.p, q->body.len, 0, NULL)
			       : NULL;
	int u = q->bearer ? uidx(q->bearer) : -1;
	char user[64] = "", rest[256] = "";
	sscanf(path, "/users/%63[^/?]%255s", user, rest);
	if (strcmp(path, "/.well-known/aim-ca") == 0) {
		answer(r, 200, ca_doc());
	} else if (hub_of(q->url)) {
		proxy(q->url, r); /* a URL of the home server: fetched directly */
	} else if (strcmp(path, "/proxy") == 0) {
		char form[4096], url[4096];
		snprintf(form, sizeof form, "%.*s", (int)q->body.len, (const char *)q->body.p);
		url_decode(form + 3, url, sizeof url);
		proxy(url, r);
	} else if (u >= 0 && strcmp(user, NAMES[u]) == 0 && strcmp(rest, "/devices") == 0) {
		struct aim_buf csr, pk, leaf;
		aim_buf_init(&csr, AIM_X509_MAX);
		aim_buf_init(&pk, 256);
		aim_buf_init(&leaf, AIM_X509_MAX);
		const char *cs = json_string_value(json_object_get(body, "csr"));
		assert_int_equal(aim_b64_decode(&csr, cs, strlen(cs)), 0);
		enum aim_sig_alg alg;
		assert_int_equal(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), 0);
		char san[128];
		snprintf(san, sizeof san, "acct:%s@a.test", NAMES[u]);
		assert_int_equal(aim_x509_issue(F.ca_key, aim_buf_bytes(&F.ca), alg,
						aim_buf_bytes(&pk), san, NOW - DAY, NOW + 30 * DAY,
						&leaf),
				 0);
		char *lc = b64s(aim_buf_bytes(&leaf)), *cc = b64s(aim_buf_bytes(&F.ca));
		answer(r, 201, json_pack("{s:O, s:s, s:[s], s:s}", "device",
					 json_object_get(body, "device"), "certificate", lc, "chain",
					 cc, "notAfter", "2026-01-31T00:00:00Z"));
		free(lc);
		free(cc);
		aim_buf_free(&csr);
		aim_buf_free(&pk);
		aim_buf_free(&leaf);
	} else if (u >= 0 && strcmp(rest, "/keyPackages") == 0) {
		size_t i;
		json_t *k;
		json_array_foreach(json_object_get(body, "keyPackages"), i, k)
			json_array_append(F.kps[u], k);
		answer(r, 201, json_pack("{s:I}", "accepted",
					 (json_int_t)json_array_size(json_object_get(body,
										     "keyPackages"))));
	} else if (u >= 0 && strcmp(rest, "/claim") == 0) {
		json_t *results = json_array();
		size_t i;
		json_t *h;
		json_array_foreach(json_object_get(body, "handles"), i, h) {
			int t = uidx_of(json_string_value(h));
			if (t < 0 || json_array_size(F.kps[t]) == 0) {
				json_array_append_new(results, json_pack("{s:O, s:s}", "handle", h,
									 "error", "no_keypackage"));
				continue;
			}
			char actor[128];
			snprintf(actor, sizeof actor, BASE "/users/%s", NAMES[t]);
			json_t *kp = json_incref(json_array_get(F.kps[t], 0));
			json_array_remove(F.kps[t], 0); /* consumed */
			json_array_append_new(results,
					      json_pack("{s:O, s:s, s:[{s:s, s:i, s:o, s:b}]}",
							"handle", h, "actor", actor, "keyPackages",
							"device", "d1", "cipherSuite", 1, "content", kp,
							"lastResort", 0));
		}
		answer(r, 200, json_pack("{s:o}", "results", results));
	} else if (u >= 0 && strcmp(rest, "/outbox") == 0) {
		outbox_post(u, body, r);
	} else if (u >= 0 && aim_str_has_prefix(rest, "/inbox")) {
		inbox_get(u, rest, r);
	} else {
		answer(r, 404, err("not_found"));
	}
	json_decref(body);
	return 0;
}

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return NOW;
}

/* ---- Devices ------------------------------------------------------------------------- */

struct dev {
	struct kv kv;
	struct client *c;
	char acct[64];
};
static struct dev D[USERS];

static struct client *dev(int u)
{
	if (D[u].c)
		return D[u].c;
	D[u].kv.m = json_object();
	struct client_io io = {
		.http = fake_http, .kv_get = k_get, .kv_put = k_put, .kv_del = k_del,
		.kv_list = k_list, .kv_begin = k_begin, .kv_commit = k_commit,
		.kv_rollback = k_rollback, .kv_ctx = &D[u].kv, .now = fake_now,
	};
	struct client_config cfg = { .server = BASE, .user = NAMES[u], .token = NAMES[u],
				     .device = "d1" };
	assert_int_equal(client_create(&io, &cfg, &D[u].c), 0);
	assert_int_equal(client_register(D[u].c), 0);
	assert_int_equal(client_publish(D[u].c, 3, false, NULL), 0);
	snprintf(D[u].acct, sizeof D[u].acct, "acct:%s@a.test", NAMES[u]);
	return D[u].c;
}

static int setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof F);
	memset(D, 0, sizeof D);
	aim_buf_init(&F.ca, AIM_X509_MAX);
	assert_int_equal(aim_x509_ca_create(AIM_KEY_ED25519, "a.test", NOW - 10 * DAY,
					    NOW + 365 * DAY, &F.ca_key, &F.ca),
			 0);
	for (int i = 0; i < USERS; i++) {
		F.kps[i] = json_array();
		F.inbox[i] = json_array();
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < USERS; i++) {
		json_decref(F.kps[i]);
		json_decref(F.inbox[i]);
		client_free(D[i].c);
		json_decref(D[i].kv.m);
	}
	for (size_t i = 0; i < F.n_hubs; i++)
		json_decref(F.hub[i].outbox);
	aim_pkey_free(F.ca_key);
	aim_buf_free(&F.ca);
	return 0;
}

/* Sync and return the stats. */
static struct client_sync_stats sync_dev(int u)
{
	struct client_sync_stats st;
	if (client_sync(dev(u), &st) != 0)
		fail_msg("sync of %s: %s", NAMES[u], aim_errmsg());
	return st;
}

/* The texts of a conversation's history, "sender:text|..." */
static char *history(int u, const char *conv)
{
	struct client_message *m = NULL;
	size_t n = 0;
	if (client_messages(dev(u), conv, &m, &n) != 0)
		fail_msg("history of %s: %s", NAMES[u], aim_errmsg());
	struct aim_buf b;
	aim_buf_init(&b, 1 << 20);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(aim_buf_printf(&b, "%s%s:%s", i ? "|" : "",
						strncmp(m[i].sender, "acct:", 5) == 0
							? m[i].sender + 5
							: m[i].sender,
						m[i].type[0] && strcmp(m[i].type, "text") ? m[i].type
											   : m[i].text),
				 0);
	assert_int_equal(aim_buf_append_byte(&b, 0), 0);
	char *r = strdup((const char *)b.data);
	aim_buf_free(&b);
	client_messages_free(m, n);
	return r;
}

#define ASSERT_HISTORY(u, conv, want)                          \
	do {                                                   \
		char *h_ = history((u), (conv));               \
		assert_string_equal(h_, (want));               \
		free(h_);                                      \
	} while (0)

static void make_channel(const char *const *handles, size_t n)
{
	char url[256];
	if (client_channel_create(dev(0), "general", handles, n, url, sizeof url) != 0)
		fail_msg("create: %s", aim_errmsg());
	assert_string_equal(url, CHAN);
}

static void say(int u, const char *text)
{
	if (client_send(dev(u), CHAN, text) != 0)
		fail_msg("send by %s: %s", NAMES[u], aim_errmsg());
}

static uint64_t epoch_of(int u)
{
	struct client_group_info gi;
	assert_int_equal(client_group_info(dev(u), CHAN, &gi), 0);
	return gi.epoch;
}

/* ---- Tests ------------------------------------------------------------------------------- */

static void test_seq_decide(void **state)
{
	(void)state;
	struct client_seq_item m = { .seq = 5, .epoch = 2 };
	assert_int_equal(client_seq_decide(4, true, 2, &m), CLIENT_SEQ_APPLY);
	assert_int_equal(client_seq_decide(5, true, 2, &m), CLIENT_SEQ_DUPLICATE);
	assert_int_equal(client_seq_decide(9, true, 2, &m), CLIENT_SEQ_DUPLICATE);
	assert_int_equal(client_seq_decide(3, true, 2, &m), CLIENT_SEQ_GAP);
	assert_int_equal(client_seq_decide(4, true, 1, &m), CLIENT_SEQ_WAIT);
	assert_int_equal(client_seq_decide(4, true, 3, &m), CLIENT_SEQ_STALE);
	/* no base yet (just joined): no gap can be told */
	assert_int_equal(client_seq_decide(0, false, 2, &m), CLIENT_SEQ_APPLY);
	/* unsequenced (a DM's direct message): only the epoch counts */
	struct client_seq_item d = { .seq = 0, .epoch = 4 };
	assert_int_equal(client_seq_decide(7, true, 4, &d), CLIENT_SEQ_APPLY);
	assert_int_equal(client_seq_decide(7, true, 3, &d), CLIENT_SEQ_WAIT);
	assert_string_equal(client_seq_name(CLIENT_SEQ_GAP), "gap");
}

static void test_channel_exchange(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test", "acct:carol@a.test" };
	dev(1);
	dev(2);
	make_channel(h, 2);
	struct client_sync_stats st = sync_dev(1);
	assert_int_equal(st.joined, 1);
	assert_int_equal(sync_dev(2).joined, 1);
	assert_int_equal(epoch_of(1), 1);
	say(0, "hello");
	say(1, "hi alice");
	say(2, "hi all");
	for (int u = 0; u < 3; u++)
		sync_dev(u);
	for (int u = 0; u < 3; u++)
		ASSERT_HISTORY(u, CHAN, "alice@a.test:hello|bob@a.test:hi alice|carol@a.test:hi all");
	/* every device on the same epoch authenticator */
	struct client_group_info a, b;
	assert_int_equal(client_group_info(dev(0), CHAN, &a), 0);
	assert_int_equal(client_group_info(dev(1), CHAN, &b), 0);
	assert_int_equal(a.authenticator_len, b.authenticator_len);
	assert_memory_equal(a.authenticator, b.authenticator, a.authenticator_len);
	assert_int_equal(a.members, 3);
	/* a second sync finds nothing new */
	st = sync_dev(1);
	assert_int_equal(st.items, 0);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:hello|bob@a.test:hi alice|carol@a.test:hi all");
}

/* A message that arrives before the commit of its epoch waits for it. */
static void test_message_waits_for_commit(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test" };
	dev(1);
	dev(2);
	make_channel(h, 1);
	sync_dev(1);
	const char *c[] = { "acct:carol@a.test" };
	assert_int_equal(client_channel_add(dev(0), CHAN, c, 1), 0);
	sync_dev(0); /* alice applies her own commit: epoch 2 */
	assert_int_equal(epoch_of(0), 2);
	say(0, "welcome carol");
	/* bob's inbox: [commit, message]; he gets the message first, and the
	 * commit is nowhere yet (also not in the outbox) */
	/* bob's inbox: [Welcome (read), commit, message] */
	json_t *commit = json_incref(json_array_get(F.inbox[1], 1));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(commit, "object"), "type")),
			    "Add");
	json_array_remove(F.inbox[1], 1);
	json_t *saved = F.hub[0].outbox;
	F.hub[0].outbox = json_array();
	struct client_sync_stats st = sync_dev(1);
	assert_int_equal(st.buffered, 1); /* waiting */
	ASSERT_HISTORY(1, CHAN, "");
	assert_int_equal(epoch_of(1), 1);
	/* then the commit comes */
	json_decref(F.hub[0].outbox);
	F.hub[0].outbox = saved;
	json_array_append_new(F.inbox[1], commit);
	st = sync_dev(1);
	assert_int_equal(st.buffered, 0);
	assert_int_equal(epoch_of(1), 2);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:welcome carol");
	/* carol joined at epoch 2 and reads it too */
	sync_dev(2);
	ASSERT_HISTORY(2, CHAN, "alice@a.test:welcome carol");
}

/* Reordered in one page: the commit after the message. */
static void test_reordered_in_one_sync(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test" };
	dev(1);
	dev(2);
	make_channel(h, 1);
	sync_dev(1);
	const char *c[] = { "acct:carol@a.test" };
	assert_int_equal(client_channel_add(dev(0), CHAN, c, 1), 0);
	sync_dev(0);
	say(0, "one");
	say(0, "two");
	/* bob's inbox [Welcome (read), commit, one, two] -> [Welcome, two, one, commit] */
	json_t *in = F.inbox[1];
	assert_int_equal(json_array_size(in), 4);
	json_t *rev = json_array();
	json_array_append(rev, json_array_get(in, 0));
	for (size_t i = json_array_size(in); i-- > 1;)
		json_array_append(rev, json_array_get(in, i));
	json_decref(in);
	F.inbox[1] = rev;
	F.proxy_outbox = 0;
	sync_dev(1);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:one|alice@a.test:two");
	assert_int_equal(epoch_of(1), 2);
	/* all of it came in one sync: no gap, the outbox was not asked */
	assert_int_equal(F.proxy_outbox, 0);
}

/* A message that comes before the Welcome of its group in the same sync. */
static void test_message_before_welcome(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test" };
	dev(1);
	make_channel(h, 1);
	say(0, "early");
	json_t *in = F.inbox[1];
	assert_int_equal(json_array_size(in), 2);
	json_t *w = json_incref(json_array_get(in, 0));
	json_array_remove(in, 0);
	json_array_append_new(in, w);
	struct client_sync_stats st = sync_dev(1);
	assert_int_equal(st.joined, 1);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:early");
}

static void test_duplicates_dropped(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test" };
	dev(1);
	make_channel(h, 1);
	sync_dev(1);
	say(0, "once");
	/* delivered twice (a retry), and the Welcome twice */
	json_array_append(F.inbox[1], json_array_get(F.inbox[1], 1));
	json_array_append(F.inbox[1], json_array_get(F.inbox[1], 0));
	struct client_sync_stats st = sync_dev(1);
	assert_true(st.duplicates >= 1);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:once");
	/* and a third copy at a later sync */
	json_array_append(F.inbox[1], json_array_get(F.inbox[1], 1));
	st = sync_dev(1);
	assert_int_equal(st.duplicates, 1);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:once");
	/* alice's own message came back to her: not shown twice */
	sync_dev(0);
	ASSERT_HISTORY(0, CHAN, "alice@a.test:once");
}

/* A gap: the missing Announces come from the channel's outbox. */
static void test_gap_filled_from_outbox(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test" };
	dev(1);
	make_channel(h, 1);
	sync_dev(1);
	say(0, "m1");
	say(0, "m2");
	say(0, "m3");
	/* bob's server lost m1 and m2 */
	json_array_remove(F.inbox[1], 1);
	json_array_remove(F.inbox[1], 1);
	F.proxy_outbox = 0;
	struct client_sync_stats st = sync_dev(1);
	assert_int_equal(st.gaps_filled, 1);
	assert_int_equal(F.proxy_outbox, 1);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:m1|alice@a.test:m2|alice@a.test:m3");
	/* no gap: the outbox is not asked */
	say(0, "m4");
	F.proxy_outbox = 0;
	sync_dev(1);
	assert_int_equal(F.proxy_outbox, 0);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:m1|alice@a.test:m2|alice@a.test:m3|alice@a.test:m4");
}

static void test_remove_cannot_decrypt(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test", "acct:carol@a.test" };
	dev(1);
	dev(2);
	make_channel(h, 2);
	sync_dev(1);
	sync_dev(2);
	say(0, "before");
	const char *c[] = { "acct:carol@a.test" };
	F.deliver_to_removed = true; /* her server still gets them: she cannot read them */
	assert_int_equal(client_channel_remove(dev(0), CHAN, c, 1), 0);
	sync_dev(0);
	say(0, "after");
	sync_dev(1);
	sync_dev(2);
	ASSERT_HISTORY(1, CHAN, "alice@a.test:before|alice@a.test:after");
	struct client_group_info gi;
	assert_int_equal(client_group_info(dev(2), CHAN, &gi), 0);
	assert_false(gi.active);
	char *hc = history(2, CHAN);
	assert_non_null(strstr(hc, "alice@a.test:before"));
	assert_null(strstr(hc, "after"));
	free(hc);
	assert_int_equal(client_send(dev(2), CHAN, "still here?"), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
}

/* 409: another commit won the epoch; the loser syncs and retries once. */
static void test_conflict_retried(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test" };
	dev(1);
	dev(2);
	dev(3);
	make_channel(h, 1);
	sync_dev(1);
	/* bob adds carol (wins epoch 1 -> 2) while alice has not synced */
	const char *c[] = { "acct:carol@a.test" };
	assert_int_equal(client_channel_add(dev(1), CHAN, c, 1), 0);
	const char *d[] = { "acct:dave@a.test" };
	if (client_channel_add(dev(0), CHAN, d, 1) != 0)
		fail_msg("add after 409: %s", aim_errmsg());
	assert_int_equal(F.hub[0].epoch, 3);
	for (int u = 0; u < 4; u++)
		sync_dev(u);
	for (int u = 0; u < 4; u++)
		assert_int_equal(epoch_of(u), 3);
	say(3, "dave here");
	for (int u = 0; u < 4; u++)
		sync_dev(u);
	for (int u = 0; u < 4; u++)
		ASSERT_HISTORY(u, CHAN, "dave@a.test:dave here");
	/* a refusal that persists is reported, the state unchanged */
	F.refuse_next = 2;
	const char *e[] = { "acct:erin@a.test" };
	dev(4);
	assert_int_equal(client_channel_add(dev(0), CHAN, e, 1), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_CONFLICT);
	assert_int_equal(epoch_of(0), 3);
	say(0, "still fine");
	sync_dev(1);
	ASSERT_HISTORY(1, CHAN, "dave@a.test:dave here|alice@a.test:still fine");
}

static void test_dm(void **state)
{
	(void)state;
	dev(1);
	dev(2);
	const char *h[] = { "acct:carol@a.test", "acct:bob@a.test" };
	char conv[256], conv2[256];
	assert_int_equal(client_dm_send(dev(0), h, 2, "dm one", conv, sizeof conv), 0);
	assert_true(aim_str_has_prefix(conv, BASE "/dms/"));
	sync_dev(1);
	sync_dev(2);
	ASSERT_HISTORY(1, conv, "alice@a.test:dm one");
	ASSERT_HISTORY(2, conv, "alice@a.test:dm one");
	/* the same set (in another order, with alice) is the same DM */
	const char *h2[] = { "acct:alice@a.test", "acct:carol@a.test" };
	assert_int_equal(client_dm_send(dev(1), h2, 2, "dm two", conv2, sizeof conv2), 0);
	assert_string_equal(conv, conv2);
	sync_dev(0);
	sync_dev(2);
	ASSERT_HISTORY(0, conv, "alice@a.test:dm one|bob@a.test:dm two");
	ASSERT_HISTORY(2, conv, "alice@a.test:dm one|bob@a.test:dm two");
	/* a 1:1 DM is another conversation */
	const char *one[] = { "acct:bob@a.test" };
	assert_int_equal(client_dm_send(dev(0), one, 1, "just us", conv2, sizeof conv2), 0);
	assert_string_not_equal(conv, conv2);
	sync_dev(1);
	ASSERT_HISTORY(1, conv2, "alice@a.test:just us");
	struct client_group_info *all = NULL;
	size_t n = 0;
	assert_int_equal(client_conversations(dev(1), &all, &n), 0);
	assert_int_equal(n, 2);
	free(all);
}

/* Content of another type is shown as such, never fatal. */
static void test_unknown_type(void **state)
{
	(void)state;
	const char *h[] = { "acct:bob@a.test" };
	dev(1);
	make_channel(h, 1);
	sync_dev(1);
	say(0, "text first");
	assert_int_equal(client_send_content(dev(0), CHAN,
					     "{\"type\": \"poll\", \"id\": \"p1\", \"q\": \"?\"}"),
			 0);
	assert_int_equal(client_send_content(dev(0), CHAN,
					     "{\"type\": \"reaction\", \"id\": \"r1\", "
					     "\"target\": \"p1\", \"reaction\": \"+1\"}"),
			 0);
	/* not content at all, and a known type without its fields */
	assert_int_equal(client_send_content(dev(0), CHAN, "[1]"), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_int_equal(client_send_content(dev(0), CHAN, "{\"type\": \"reaction\"}"), -1);
	say(0, "text after");
	struct client_sync_stats st = sync_dev(1);
	assert_int_equal(st.failed, 0);
	ASSERT_HISTORY(1, CHAN,
		       "alice@a.test:text first|alice@a.test:poll|alice@a.test:reaction|"
		       "alice@a.test:text after");
	struct client_message *m = NULL;
	size_t n = 0;
	assert_int_equal(client_messages(dev(1), CHAN, &m, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(m[1].text, "unknown type poll");
	assert_string_equal(m[2].text, "+1");
	/* the raw content is kept for a timeline: ids and targets */
	assert_string_equal(m[1].id, "p1");
	assert_non_null(strstr(m[2].content, "\"target\": \"p1\""));
	assert_int_equal(strlen(m[0].id), 32);
	client_messages_free(m, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_decide),
		cmocka_unit_test_setup_teardown(test_channel_exchange, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_waits_for_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reordered_in_one_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_before_welcome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gap_filled_from_outbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_cannot_decrypt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_type, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
