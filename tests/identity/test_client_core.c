/* Unit tests of the client library's core (src/client) over a fake
 * client_io: an in-memory key-value store with transactions, a fixed clock,
 * and a fake home server that answers the contract's routes (devices,
 * KeyPackage upload and stock, claims, the proxy) from CAs made here for
 * a.test, b.test and c.test. No socket, no file: what the web build will
 * also run. */
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

/* ---- In-memory store ---------------------------------------------------------- */

#define KV_MAX 512
struct kv_entry {
	char *key;
	struct aim_buf val;
};
struct mem_kv {
	struct kv_entry e[KV_MAX], saved[KV_MAX];
	size_t n, n_saved;
	bool in_tx;
	int fail_commit;
};

static struct kv_entry *kv_find(struct mem_kv *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->e[i].key, key) == 0)
			return &m->e[i];
	return NULL;
}

static int m_get(void *ctx, const char *key, struct aim_buf *v)
{
	struct kv_entry *e = kv_find(ctx, key);
	if (!e)
		return aim_fail(AIM_ERR_NOTFOUND, "no %s", key);
	return aim_buf_append(v, e->val.data, e->val.len);
}

static int m_put(void *ctx, const char *key, struct aim_bytes v)
{
	struct mem_kv *m = ctx;
	struct kv_entry *e = kv_find(m, key);
	if (!e) {
		assert_true(m->n < KV_MAX);
		e = &m->e[m->n++];
		e->key = aim_xstrdup(key);
		aim_buf_init(&e->val, CLIENT_MAX_VALUE);
	}
	aim_buf_reset(&e->val);
	return aim_buf_append(&e->val, v.p, v.len);
}

static int m_del(void *ctx, const char *key)
{
	struct mem_kv *m = ctx;
	struct kv_entry *e = kv_find(m, key);
	if (e) {
		free(e->key);
		aim_buf_free(&e->val);
		*e = m->e[--m->n];
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct kv_entry *)a)->key, ((const struct kv_entry *)b)->key);
}

static int m_list(void *ctx, const char *prefix, client_kv_fn fn, void *arg)
{
	struct mem_kv *m = ctx;
	qsort(m->e, m->n, sizeof m->e[0], cmp_entry);
	for (size_t i = 0; i < m->n; i++)
		if (aim_str_has_prefix(m->e[i].key, prefix)) {
			int rc = fn(arg, m->e[i].key, aim_buf_bytes(&m->e[i].val));
			if (rc)
				return rc;
		}
	return 0;
}

static void copy_entries(struct kv_entry *dst, size_t *nd, const struct kv_entry *src, size_t ns)
{
	for (size_t i = 0; i < ns; i++) {
		dst[i].key = aim_xstrdup(src[i].key);
		aim_buf_init(&dst[i].val, CLIENT_MAX_VALUE);
		assert_int_equal(aim_buf_append(&dst[i].val, src[i].val.data, src[i].val.len), 0);
	}
	*nd = ns;
}

static void free_entries(struct kv_entry *e, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free(e[i].key);
		aim_buf_free(&e[i].val);
	}
	*n = 0;
}

static int m_begin(void *ctx)
{
	struct mem_kv *m = ctx;
	assert_false(m->in_tx);
	copy_entries(m->saved, &m->n_saved, m->e, m->n);
	m->in_tx = true;
	return 0;
}

static void m_rollback(void *ctx)
{
	struct mem_kv *m = ctx;
	if (!m->in_tx)
		return;
	free_entries(m->e, &m->n);
	copy_entries(m->e, &m->n, m->saved, m->n_saved);
	free_entries(m->saved, &m->n_saved);
	m->in_tx = false;
}

static int m_commit(void *ctx)
{
	struct mem_kv *m = ctx;
	assert_true(m->in_tx);
	if (m->fail_commit) {
		m->fail_commit--;
		m_rollback(m);
		return aim_fail(AIM_ERR_STORAGE, "commit failed (test)");
	}
	free_entries(m->saved, &m->n_saved);
	m->in_tx = false;
	return 0;
}

static size_t count_prefix(struct mem_kv *m, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += aim_str_has_prefix(m->e[i].key, prefix);
	return n;
}

/* ---- Fake home server (a.test) and the world behind its proxy ---------------- */

struct dom {
	const char *name;
	struct aim_pkey *key;
	struct aim_buf cert;
};

struct fake {
	struct dom a, b, c;
	int64_t now;
	/* devices */
	bool issue_other_key;
	/* KeyPackages uploaded by our device */
	size_t uploaded, uploads;
	bool got_last_resort;
	const char *refuse_upload; /* error code to answer with */
	int64_t stock;
	bool stock_lr;
	/* claims: what b.test hands out for bob */
	json_t *claim_kps;
	/* basic listing of bob */
	json_t *listing;
	size_t proxy_fetches, ca_fetches;
	bool proxy_down;
};

static struct fake F;
static struct mem_kv KV;

static void dom_init(struct dom *d, const char *name)
{
	d->name = name;
	aim_buf_init(&d->cert, AIM_X509_MAX);
	assert_int_equal(aim_x509_ca_create(AIM_KEY_ED25519, name, NOW - 10 * DAY, NOW + 365 * DAY,
					    &d->key, &d->cert),
			 0);
}

static void dom_free(struct dom *d)
{
	aim_pkey_free(d->key);
	aim_buf_free(&d->cert);
}

static char *b64s(struct aim_bytes b)
{
	struct aim_buf s;
	aim_buf_init(&s, (size_t)8 << 20);
	assert_int_equal(aim_b64_encode(&s, b.p, b.len), 0);
	char *r = aim_xstrdup(s.len ? (const char *)s.data : "");
	aim_buf_free(&s);
	return r;
}

static void unb64s(const char *s, struct aim_buf *out)
{
	assert_int_equal(aim_b64_decode(out, s, strlen(s)), 0);
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

static json_t *err_body(const char *code)
{
	return json_pack("{s:s, s:s}", "error", code, "message", "refused by the fake");
}

static json_t *ca_doc(struct dom *d)
{
	char *c = b64s(aim_buf_bytes(&d->cert));
	json_t *j = json_pack("{s:s, s:[s]}", "domain", d->name, "certificates", c);
	free(c);
	return j;
}

/* Issues a leaf for pk under d's CA for san. */
static void issue(struct dom *d, enum aim_sig_alg alg, struct aim_bytes pk, const char *san,
		  struct aim_buf *leaf)
{
	assert_int_equal(aim_x509_issue(d->key, aim_buf_bytes(&d->cert), alg, pk, san,
					NOW - DAY, NOW + 30 * DAY, leaf),
			 0);
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

static void proxy(const char *url, struct client_http_response *r)
{
	F.proxy_fetches++;
	if (F.proxy_down) {
		answer(r, 502, err_body("remote_failed"));
		return;
	}
	if (strcmp(url, "https://b.test/.well-known/aim-ca") == 0) {
		F.ca_fetches++;
		answer(r, 200, ca_doc(&F.b));
	} else if (strcmp(url, "https://c.test/.well-known/aim-ca") == 0) {
		F.ca_fetches++;
		answer(r, 200, ca_doc(&F.c));
	} else if (strcmp(url, "https://b.test/users/bob") == 0) {
		answer(r, 200, json_pack("{s:s, s:s, s:s}", "id", "https://b.test/users/bob", "type",
					 "Person", "keyPackages", "https://b.test/users/bob/keyPackages"));
	} else if (strcmp(url, "https://b.test/users/bob/keyPackages") == 0) {
		answer(r, 200, json_pack("{s:s, s:s, s:O}", "id", url, "type", "OrderedCollection",
					 "orderedItems", F.listing ? F.listing : json_array()));
	} else if (aim_str_has_prefix(url, "https://b.test/.well-known/webfinger?resource=")) {
		answer(r, 200, json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "subject", "acct:bob@b.test",
					 "links", "rel", "self", "type", "application/activity+json",
					 "href", "https://b.test/users/bob"));
	} else {
		answer(r, 404, err_body("not_found"));
	}
}

static int fake_http(void *ctx, const struct client_http_request *q,
		     struct client_http_response *r)
{
	(void)ctx;
	const char *base = "https://a.test";
	assert_true(aim_str_has_prefix(q->url, base)); /* only ever the home server */
	const char *path = q->url + strlen(base);
	json_t *body = q->body.len ? json_loadb((const char *)q->body.p, q->body.len, 0, NULL) : NULL;
	if (strcmp(path, "/proxy") == 0) {
		assert_string_equal(q->content_type, "application/x-www-form-urlencoded");
		assert_string_equal(q->bearer, "tok");
		char form[4096], url[4096];
		snprintf(form, sizeof form, "%.*s", (int)q->body.len, (const char *)q->body.p);
		assert_true(aim_str_has_prefix(form, "id="));
		url_decode(form + 3, url, sizeof url);
		proxy(url, r);
	} else if (strcmp(path, "/.well-known/aim-ca") == 0) {
		answer(r, 200, ca_doc(&F.a));
	} else if (strcmp(path, "/users/alice/devices") == 0 && strcmp(q->method, "POST") == 0) {
		struct aim_buf csr, pk, leaf;
		aim_buf_init(&csr, AIM_X509_MAX);
		aim_buf_init(&pk, 256);
		aim_buf_init(&leaf, AIM_X509_MAX);
		unb64s(json_string_value(json_object_get(body, "csr")), &csr);
		enum aim_sig_alg alg;
		assert_int_equal(aim_x509_csr_verify(aim_buf_bytes(&csr), &alg, &pk), 0);
		if (F.issue_other_key) {
			struct aim_buf sk2;
			aim_buf_init(&sk2, 256);
			aim_buf_reset(&pk);
			assert_int_equal(aim_sig_keygen(alg, &sk2, &pk), 0);
			aim_buf_free_secret(&sk2);
		}
		issue(&F.a, alg, aim_buf_bytes(&pk), "acct:alice@a.test", &leaf);
		char *lc = b64s(aim_buf_bytes(&leaf)), *cc = b64s(aim_buf_bytes(&F.a.cert));
		answer(r, 201, json_pack("{s:O, s:s, s:[s], s:s}", "device",
					 json_object_get(body, "device"), "certificate", lc, "chain", cc,
					 "notAfter", "2026-01-31T00:00:00Z"));
		free(lc);
		free(cc);
		aim_buf_free(&csr);
		aim_buf_free(&pk);
		aim_buf_free(&leaf);
	} else if (strcmp(path, "/users/alice/keyPackages") == 0) {
		F.uploads++;
		if (F.refuse_upload) {
			answer(r, 400, err_body(F.refuse_upload));
		} else {
			json_t *kps = json_object_get(body, "keyPackages");
			size_t n = json_array_size(kps);
			/* the fake validates what it gets as the server would */
			for (size_t i = 0; i < n; i++) {
				struct aim_buf raw;
				aim_buf_init(&raw, MLS_MAX_MESSAGE);
				unb64s(json_string_value(json_array_get(kps, i)), &raw);
				struct mls_message m;
				assert_int_equal(mls_message_parse(raw.data, raw.len, &m), 0);
				assert_int_equal(m.wire_format, MLS_WIRE_KEY_PACKAGE);
				assert_int_equal(m.key_package.leaf_node.credential.type,
						 MLS_CREDENTIAL_X509);
				assert_int_equal(m.key_package.leaf_node.credential.n_certs, 2);
				assert_false(mls_key_package_is_last_resort(&m.key_package));
				mls_message_free(&m);
				aim_buf_free(&raw);
			}
			F.uploaded += n;
			if (json_object_get(body, "lastResort")) {
				F.got_last_resort = true;
				F.uploaded++;
			}
			answer(r, 201, json_pack("{s:I}", "accepted",
						 (json_int_t)(n + !!json_object_get(body, "lastResort"))));
		}
	} else if (strcmp(path, "/users/alice/keyPackages/stock") == 0) {
		answer(r, 200, json_pack("{s:[{s:s, s:I, s:b}]}", "devices", "device", "phone",
					 "available", (json_int_t)F.stock, "lastResort", F.stock_lr));
	} else if (strcmp(path, "/users/alice/claim") == 0) {
		json_t *h = json_array_get(json_object_get(body, "handles"), 0);
		answer(r, 200, json_pack("{s:[{s:O, s:s, s:O}]}", "results", "handle", h, "actor",
					 "https://b.test/users/bob", "keyPackages",
					 F.claim_kps ? F.claim_kps : json_array()));
	} else {
		answer(r, 404, err_body("not_found"));
	}
	json_decref(body);
	return 0;
}

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return F.now;
}

static struct client_io fake_io(void)
{
	struct client_io io = {
		.http = fake_http,
		.kv_get = m_get,
		.kv_put = m_put,
		.kv_del = m_del,
		.kv_list = m_list,
		.kv_begin = m_begin,
		.kv_commit = m_commit,
		.kv_rollback = m_rollback,
		.kv_ctx = &KV,
		.now = fake_now,
	};
	return io;
}

static int setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof F);
	memset(&KV, 0, sizeof KV);
	F.now = NOW;
	dom_init(&F.a, "a.test");
	dom_init(&F.b, "b.test");
	dom_init(&F.c, "c.test");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dom_free(&F.a);
	dom_free(&F.b);
	dom_free(&F.c);
	json_decref(F.claim_kps);
	json_decref(F.listing);
	free_entries(KV.e, &KV.n);
	free_entries(KV.saved, &KV.n_saved);
	return 0;
}

static struct client *new_client(bool reg)
{
	struct client_io io = fake_io();
	struct client_config cfg = { .server = "https://a.test/", .user = "alice", .token = "tok",
				     .device = "phone" };
	struct client *c = NULL;
	assert_int_equal(client_create(&io, &cfg, &c), 0);
	if (reg)
		assert_int_equal(client_register(c), 0);
	return c;
}

/* A KeyPackage of "bob" (fresh key) whose x509 credential dom issued for san;
 * returned as a base64 MLSMessage. */
static char *peer_kp(struct dom *d, const char *san, bool basic, struct aim_buf *sigpk)
{
	const struct aim_suite *cs = aim_suite_get(1);
	struct aim_buf sk, pk, leaf, msg;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	aim_buf_init(&leaf, AIM_X509_MAX);
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	assert_int_equal(aim_sig_keygen(cs->sig, &sk, &pk), 0);
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	if (basic) {
		cred.type = MLS_CREDENTIAL_BASIC;
		assert_int_equal(mls_bytes_set(&cred.identity, san, strlen(san)), 0);
	} else {
		issue(d, cs->sig, aim_buf_bytes(&pk), san, &leaf);
		cred.type = MLS_CREDENTIAL_X509;
		cred.certs = aim_xcalloc(2, sizeof *cred.certs);
		cred.n_certs = 2;
		assert_int_equal(mls_bytes_set(&cred.certs[0], leaf.data, leaf.len), 0);
		assert_int_equal(mls_bytes_set(&cred.certs[1], d->cert.data, d->cert.len), 0);
	}
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	struct mls_key_package_params p = { .cipher_suite = 1, .credential = &cred,
					    .signature_priv = aim_buf_bytes(&sk),
					    .not_before = (uint64_t)(NOW - DAY),
					    .not_after = (uint64_t)(NOW + 30 * DAY) };
	assert_int_equal(mls_key_package_create(&p, &kp, &priv), 0);
	static const uint8_t hdr[4] = { 0, 1, 0, MLS_WIRE_KEY_PACKAGE };
	assert_int_equal(aim_buf_append(&msg, hdr, 4), 0);
	assert_int_equal(mls_key_package_encode(&msg, &kp), 0);
	char *r = b64s(aim_buf_bytes(&msg));
	if (sigpk)
		assert_int_equal(aim_buf_append(sigpk, pk.data, pk.len), 0);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	mls_credential_free(&cred);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_buf_free(&leaf);
	aim_buf_free(&msg);
	return r;
}

static void kp_of(const char *b64, struct mls_key_package *kp)
{
	struct aim_buf raw;
	aim_buf_init(&raw, MLS_MAX_MESSAGE);
	unb64s(b64, &raw);
	struct mls_message m;
	assert_int_equal(mls_message_parse(raw.data, raw.len, &m), 0);
	*kp = m.key_package;
	memset(&m.key_package, 0, sizeof m.key_package);
	mls_message_free(&m);
	aim_buf_free(&raw);
}

/* ---- Tests ------------------------------------------------------------------------- */

static void test_register(void **state)
{
	(void)state;
	struct client *c = new_client(false);
	assert_string_equal(client_acct(c), "");
	assert_int_equal(client_register(c), 0);
	assert_string_equal(client_acct(c), "acct:alice@a.test");
	assert_true(client_certificate(c).len > 0);
	assert_int_equal(client_cert_not_after(c), NOW + 30 * DAY);
	/* a second device cannot be made in the same store */
	struct client_io io = fake_io();
	struct client_config cfg = { .server = "https://a.test", .user = "alice", .token = "tok",
				     .device = "other" };
	struct client *c2 = NULL;
	assert_int_equal(client_create(&io, &cfg, &c2), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_EXISTS);
	/* the state survives a reopen, private key included */
	struct aim_buf pk;
	aim_buf_init(&pk, 256);
	assert_int_equal(aim_buf_append(&pk, client_signature_key(c).p, client_signature_key(c).len), 0);
	client_free(c);
	assert_int_equal(client_open(&io, &c), 0);
	assert_string_equal(client_acct(c), "acct:alice@a.test");
	assert_string_equal(client_device_id(c), "phone");
	assert_memory_equal(client_signature_key(c).p, pk.data, pk.len);
	struct aim_buf dev;
	aim_buf_init(&dev, CLIENT_MAX_VALUE);
	assert_int_equal(m_get(&KV, "device", &dev), 0);
	assert_non_null(strstr((const char *)dev.data, "signaturePrivateKey"));
	aim_buf_free(&dev);
	aim_buf_free(&pk);
	client_free(c);
}

static void test_register_refuses_other_key(void **state)
{
	(void)state;
	struct client *c = new_client(false);
	F.issue_other_key = true;
	assert_int_equal(client_register(c), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_REMOTE);
	assert_non_null(strstr(aim_errmsg(), "another key"));
	assert_int_equal(client_certificate(c).len, 0);
	/* and publishing needs a credential */
	assert_int_equal(client_publish(c, 1, false, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STATE);
	client_free(c);
}

static void test_publish_and_topup(void **state)
{
	(void)state;
	struct client *c = new_client(true);
	size_t acc = 0;
	assert_int_equal(client_publish(c, 3, true, &acc), 0);
	assert_int_equal(acc, 4);
	assert_int_equal(F.uploaded, 4);
	assert_true(F.got_last_resort);
	assert_int_equal(count_prefix(&KV, "kp/"), 4);
	/* each entry holds its private part and says it was uploaded */
	for (size_t i = 0; i < KV.n; i++)
		if (aim_str_has_prefix(KV.e[i].key, "kp/")) {
			assert_non_null(strstr((const char *)KV.e[i].val.data, "\"uploaded\":true"));
			assert_non_null(strstr((const char *)KV.e[i].val.data, "\"private\""));
		}
	/* more than one batch */
	F.uploads = 0;
	assert_int_equal(client_publish(c, CLIENT_PUBLISH_BATCH + 5, false, &acc), 0);
	assert_int_equal(F.uploads, 2);
	assert_int_equal(acc, CLIENT_PUBLISH_BATCH + 5);

	/* top-up: above the threshold nothing happens */
	F.stock = 5;
	F.stock_lr = true;
	F.uploads = 0;
	size_t pub = 99;
	assert_int_equal(client_topup(c, 3, 10, &pub), 0);
	assert_int_equal(pub, 0);
	assert_int_equal(F.uploads, 0);
	/* below it: up to the target, and a last-resort one when missing */
	F.stock = 1;
	F.stock_lr = false;
	F.got_last_resort = false;
	assert_int_equal(client_topup(c, 3, 10, &pub), 0);
	assert_int_equal(pub, 10);
	assert_true(F.got_last_resort);
	struct client_stock s;
	assert_int_equal(client_stock(c, &s), 0);
	assert_int_equal(s.available, 1);
	assert_int_equal(s.stored, 4 + CLIENT_PUBLISH_BATCH + 5 + 10);
	client_free(c);
}

static void test_publish_refused_leaves_nothing(void **state)
{
	(void)state;
	struct client *c = new_client(true);
	F.refuse_upload = "bad_keypackage";
	assert_int_equal(client_publish(c, 2, true, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_INVALID);
	assert_string_equal(client_server_error(c), "bad_keypackage");
	assert_int_equal(client_server_status(c), 400);
	assert_int_equal(count_prefix(&KV, "kp/"), 0);
	/* a store that cannot commit: nothing is uploaded */
	F.refuse_upload = NULL;
	F.uploads = 0;
	KV.fail_commit = 1;
	assert_int_equal(client_publish(c, 2, false, NULL), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_STORAGE);
	assert_int_equal(F.uploads, 0);
	assert_int_equal(count_prefix(&KV, "kp/"), 0);
	client_free(c);
}

static void test_verify_x509(void **state)
{
	(void)state;
	struct client *c = new_client(true);
	struct mls_key_package kp;
	char *good = peer_kp(&F.b, "acct:bob@b.test", false, NULL);
	kp_of(good, &kp);
	struct client_verdict v;
	const struct mls_credential *cred = &kp.leaf_node.credential;
	struct aim_bytes key = mls_bytes_view(&kp.leaf_node.signature_key);
	assert_int_equal(client_verify_credential(c, cred, "acct:bob@b.test", key, &v), 0);
	assert_int_equal(v.check, CLIENT_CHECK_X509);
	assert_string_equal(v.acct, "acct:bob@b.test");
	assert_int_equal(F.ca_fetches, 1);
	/* without an expected acct: the SAN's, and the CA comes from the cache */
	assert_int_equal(client_verify_credential(c, cred, NULL, key, &v), 0);
	assert_string_equal(v.acct, "acct:bob@b.test");
	assert_int_equal(F.ca_fetches, 1);
	/* for another handle */
	assert_int_equal(client_verify_credential(c, cred, "acct:bea@b.test", key, &v), -1);
	assert_int_equal(v.check, CLIENT_CHECK_NONE);
	assert_non_null(strstr(v.reason, "speaks for acct:bob@b.test"));
	/* another key than the leaf's */
	struct aim_bytes other = AIM_BYTES(client_signature_key(c).p, client_signature_key(c).len);
	assert_int_equal(client_verify_credential(c, cred, "acct:bob@b.test", other, &v), -1);
	assert_non_null(strstr(v.reason, "not the leaf node's signature key"));
	mls_key_package_free(&kp);
	free(good);

	/* c.test's CA issued for acct:bob@b.test: not b.test's CA */
	char *forged = peer_kp(&F.c, "acct:bob@b.test", false, NULL);
	kp_of(forged, &kp);
	cred = &kp.leaf_node.credential;
	key = mls_bytes_view(&kp.leaf_node.signature_key);
	F.now += CLIENT_CA_REFETCH_MIN + 1;
	assert_int_equal(client_verify_credential(c, cred, "acct:bob@b.test", key, &v), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_VERIFY);
	assert_int_equal(v.check, CLIENT_CHECK_NONE);
	assert_non_null(strstr(v.reason, "not certified by the CA of b.test"));
	/* the refusal refetched b.test's CA once (a rotation would show there) */
	assert_int_equal(F.ca_fetches, 2);
	/* the same through the MLS library's hook */
	struct client_hook h;
	client_hook_init(&h, c, "acct:bob@b.test");
	assert_int_equal(mls_key_package_validate_standalone(&kp, &h.mls, (uint64_t)F.now), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	assert_int_equal(h.refused, 1);
	mls_key_package_free(&kp);
	free(forged);

	/* TTL: an old cache entry is fetched again; a proxy that fails refuses */
	F.now += CLIENT_CA_TTL_DEFAULT + 1;
	F.proxy_down = true;
	good = peer_kp(&F.b, "acct:bob@b.test", false, NULL);
	kp_of(good, &kp);
	assert_int_equal(client_verify_credential(c, &kp.leaf_node.credential, NULL,
						  mls_bytes_view(&kp.leaf_node.signature_key), &v),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_REMOTE);
	F.proxy_down = false;
	assert_int_equal(client_verify_credential(c, &kp.leaf_node.credential, NULL,
						  mls_bytes_view(&kp.leaf_node.signature_key), &v),
			 0);
	assert_int_equal(F.ca_fetches, 3);
	/* a domain without a CA document (404 through the proxy): REMOTE */
	assert_int_equal(client_verify_credential(c, &kp.leaf_node.credential, "acct:bob@d.test",
						  mls_bytes_view(&kp.leaf_node.signature_key), &v),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_REMOTE);
	assert_non_null(strstr(v.reason, "no CA of d.test"));
	mls_key_package_free(&kp);
	free(good);
	client_free(c);
}

static void test_verify_basic_listing(void **state)
{
	(void)state;
	struct client *c = new_client(true);
	struct mls_key_package kp;
	char *listed = peer_kp(NULL, "acct:bob@b.test", true, NULL);
	char *unlisted = peer_kp(NULL, "acct:bob@b.test", true, NULL);
	F.listing = json_pack("[{s:s, s:s, s:s, s:s}]", "type", "KeyPackage", "mediaType",
			      "message/mls", "encoding", "base64", "content", listed);
	struct client_verdict v;
	kp_of(listed, &kp);
	assert_int_equal(client_verify_credential(c, &kp.leaf_node.credential, "acct:bob@b.test",
						  mls_bytes_view(&kp.leaf_node.signature_key), &v),
			 0);
	assert_int_equal(v.check, CLIENT_CHECK_KEYPACKAGE_LIST);
	assert_string_equal(client_check_name(v.check), "keypackage-listing");
	/* another handle than the identity names */
	assert_int_equal(client_verify_credential(c, &kp.leaf_node.credential, "acct:bea@b.test",
						  mls_bytes_view(&kp.leaf_node.signature_key), &v),
			 -1);
	mls_key_package_free(&kp);
	kp_of(unlisted, &kp);
	assert_int_equal(client_verify_credential(c, &kp.leaf_node.credential, "acct:bob@b.test",
						  mls_bytes_view(&kp.leaf_node.signature_key), &v),
			 -1);
	assert_int_equal(v.check, CLIENT_CHECK_NONE);
	assert_non_null(strstr(v.reason, "lists no KeyPackage"));
	mls_key_package_free(&kp);
	free(listed);
	free(unlisted);
	client_free(c);
}

static void test_claim_validates(void **state)
{
	(void)state;
	struct client *c = new_client(true);
	char *k1 = peer_kp(&F.b, "acct:bob@b.test", false, NULL);
	char *k2 = peer_kp(&F.b, "acct:bob@b.test", false, NULL);
	char *k3 = peer_kp(&F.c, "acct:bob@b.test", false, NULL);
	F.claim_kps = json_pack("[{s:s,s:i,s:s,s:b},{s:s,s:i,s:s,s:b},{s:s,s:i,s:s,s:b}]",
				"device", "d1", "cipherSuite", 1, "content", k1, "lastResort", 0,
				"device", "d2", "cipherSuite", 1, "content", k2, "lastResort", 1,
				"device", "d3", "cipherSuite", 1, "content", k3, "lastResort", 0);
	const char *handles[] = { "acct:bob@b.test" };
	struct client_claim_result *r = NULL;
	size_t n = 0;
	assert_int_equal(client_claim(c, handles, 1, &r, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].handle, "acct:bob@b.test");
	assert_string_equal(r[0].actor, "https://b.test/users/bob");
	assert_int_equal(r[0].n_kps, 3);
	assert_true(r[0].kps[0].valid);
	assert_int_equal(r[0].kps[0].verdict.check, CLIENT_CHECK_X509);
	assert_true(r[0].kps[1].valid);
	assert_true(r[0].kps[1].last_resort);
	assert_false(r[0].kps[2].valid);
	assert_int_equal(r[0].kps[2].verdict.check, CLIENT_CHECK_NONE);
	assert_non_null(strstr(r[0].kps[2].error, "not certified by the CA of b.test"));
	client_claim_results_free(r, n);
	/* the actor is remembered for the basic check */
	struct aim_buf a;
	aim_buf_init(&a, 4096);
	assert_int_equal(m_get(&KV, "actor/acct:bob@b.test", &a), 0);
	aim_buf_free(&a);
	free(k1);
	free(k2);
	free(k3);
	client_free(c);
}

static void test_hook_in_a_group(void **state)
{
	(void)state;
	struct client *c = new_client(true);
	/* our own group, with our own x509 KeyPackage */
	const struct aim_suite *cs = aim_suite_get(1);
	(void)cs;
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	cred.type = MLS_CREDENTIAL_X509;
	cred.certs = aim_xcalloc(2, sizeof *cred.certs);
	cred.n_certs = 2;
	struct aim_buf dev;
	aim_buf_init(&dev, CLIENT_MAX_VALUE);
	assert_int_equal(mls_bytes_set(&cred.certs[0], client_certificate(c).p,
				       client_certificate(c).len), 0);
	assert_int_equal(mls_bytes_set(&cred.certs[1], F.a.cert.data, F.a.cert.len), 0);
	aim_buf_free(&dev);
	struct client_hook h;
	client_hook_init(&h, c, NULL);
	struct mls_group_config cfg = { .hook = &h.mls, .now = (uint64_t)NOW };
	struct mls_key_package own;
	struct mls_key_package_priv own_priv;
	json_t *dj = NULL;
	struct aim_buf raw;
	aim_buf_init(&raw, CLIENT_MAX_VALUE);
	assert_int_equal(m_get(&KV, "device", &raw), 0);
	dj = json_loadb((const char *)raw.data, raw.len, 0, NULL);
	struct aim_buf sk;
	aim_buf_init(&sk, 256);
	unb64s(json_string_value(json_object_get(dj, "signaturePrivateKey")), &sk);
	struct mls_key_package_params p = { .cipher_suite = 1, .credential = &cred,
					    .signature_priv = aim_buf_bytes(&sk),
					    .not_before = (uint64_t)(NOW - DAY),
					    .not_after = (uint64_t)(NOW + 30 * DAY) };
	assert_int_equal(mls_key_package_create(&p, &own, &own_priv), 0);
	struct mls_group *g = NULL;
	assert_int_equal(mls_group_create(&cfg, AIM_BYTES(NULL, 0), &own, &own_priv, NULL, &g), 0);
	/* adding bob: his credential goes through the hook as a joiner */
	char *bob = peer_kp(&F.b, "acct:bob@b.test", false, NULL);
	struct mls_key_package bkp;
	kp_of(bob, &bkp);
	struct mls_commit_params cp = { .adds = &bkp, .n_adds = 1 };
	struct mls_commit_result res;
	mls_commit_result_init(&res);
	size_t before = h.accepted;
	assert_int_equal(mls_group_commit(g, &cp, &res), 0);
	assert_true(h.accepted > before);
	assert_int_equal(h.last.check, CLIENT_CHECK_X509);
	assert_string_equal(h.last.acct, "acct:bob@b.test");
	mls_commit_result_free(&res);
	mls_group_discard_pending(g);
	/* a joiner whose certificate c.test issued for acct:bob@b.test is refused */
	char *forged = peer_kp(&F.c, "acct:bob@b.test", false, NULL);
	struct mls_key_package fkp;
	kp_of(forged, &fkp);
	struct mls_commit_params cp2 = { .adds = &fkp, .n_adds = 1 };
	mls_commit_result_init(&res);
	assert_int_equal(mls_group_commit(g, &cp2, &res), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	assert_int_equal(h.last.check, CLIENT_CHECK_NONE);
	mls_commit_result_free(&res);
	mls_group_free(g);
	mls_key_package_free(&own);
	mls_key_package_priv_free(&own_priv);
	mls_key_package_free(&bkp);
	mls_key_package_free(&fkp);
	mls_credential_free(&cred);
	aim_buf_free_secret(&sk);
	aim_buf_free_secret(&raw);
	json_decref(dj);
	free(bob);
	free(forged);
	client_free(c);
}

static void test_acct_rules(void **state)
{
	(void)state;
	struct client *c = new_client(true);
	struct client_verdict v;
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	cred.type = 0x0F0F; /* unknown type */
	uint8_t key[32] = { 1 };
	assert_int_equal(client_verify_credential(c, &cred, "acct:bob@b.test", AIM_BYTES(key, 32),
						  &v),
			 -1);
	assert_int_equal(aim_errcode(), AIM_ERR_UNSUPPORTED);
	cred.type = MLS_CREDENTIAL_X509;
	assert_int_equal(client_verify_credential(c, &cred, "acct:bob@b.test", AIM_BYTES(key, 32),
						  &v),
			 -1);
	cred.type = MLS_CREDENTIAL_BASIC;
	assert_int_equal(mls_bytes_set(&cred.identity, "bob", 3), 0);
	assert_int_equal(client_verify_credential(c, &cred, NULL, AIM_BYTES(key, 32), &v), -1);
	assert_non_null(strstr(v.reason, "not an acct: URI"));
	mls_credential_free(&cred);
	client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_refuses_other_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_and_topup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_refused_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_x509, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_basic_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_validates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_in_a_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acct_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
