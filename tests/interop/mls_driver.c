/*
 * mls_driver: aim's MLS library (src/mls) scripted over JSON lines, the
 * counterpart of tsmls-driver.mjs, so that a scenario runner can pass raw
 * MLSMessage bytes between aim and ts-mls (tests/interop/test_mls_interop.py).
 *
 * One request object per stdin line -> exactly one response object per
 * stdout line, in order. Bytes are lowercase hex strings. Requests are
 * {"id": ANY, "cmd": NAME, ...}; answers {"id", "ok": true, ...} or
 * {"id", "ok": false, "error": "text", "code": "<aim_errname>"}. A failed
 * command leaves the state as it was (the library promises the same for
 * every failed call).
 *
 * A client is one identity (basic credential, one signature key) in one
 * suite; it may be in several groups (named by group id hex, "group"; by
 * default its only group). The credential hook accepts every credential
 * except basic identities starting with "mallory" and counts calls per role.
 * Public groups (the hub's view) are named by "name".
 *
 * Commands (arguments -> results; every member command that changes the
 * state also returns the status, see status_json()):
 *   hello                                   -> driver
 *   create_client  suite, identity|identity_hex, x509 [cert hex...], name,
 *                  lifetime{not_before, not_after}, last_resort
 *                  -> client, signature_public_key,
 *                  key_package, key_package_raw, key_package_ref
 *   key_package    client, lifetime?, last_resort? -> key_package...
 *   csr            client, cn? -> csr (over the client's signature key)
 *   set_credential client, x509 [cert hex...] -> key_package... (new credential)
 *   x509_issue     client, ca_key_pem, ca_cert, san -> cert (any CA's leaf)
 *   verify_key_package key_package (MLSMessage or bare), now? -> valid,
 *                  error?, code?, suite, ref, identity
 *   reencode       message | key_package_raw | ratchet_tree (+suite) -> bytes, same
 *   create_group   client, group_id?
 *   join           client, welcome, ratchet_tree?
 *   join_external  client, group_info, ratchet_tree?, resync_leaf?, psk?
 *                  -> commit
 *   commit         client, group?, add[], remove[], psk[], resumption[],
 *                  extensions?, path, public, tree_in_welcome,
 *                  include_pending (default true), pending
 *                  -> commit, welcome?, group_info, ratchet_tree?
 *   merge_pending / discard_pending  client, group?
 *   propose        client, group?, one of add|remove|psk|update|resumption|
 *                  extensions|reinit{group_id, suite}, public -> proposal
 *   process        client, group? (default: the message's), message
 *                  -> kind, plaintext?, text?, added, removed, removed_self,
 *                  own_commit
 *   send           client, group?, plaintext|plaintext_hex, authenticated_data?
 *   group_info     client, group?, external_pub (default true),
 *                  ratchet_tree_extension (default true) -> group_info, ratchet_tree
 *   status / ratchet_tree / export(label, context, length) / reload / leave
 *   psk_register   psk_id, psk
 *   hook_counts    -> counts of credential hook calls per role
 *   public_create  name, group_info, ratchet_tree?
 *   public_process name, message -> content_type, sender, committer, added,
 *                  removed + public status
 *   public_status / public_reload / public_tree / public_drop  name
 *   public_set_group_info name, group_info ; public_group_info name -> group_info
 *   quit
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "mls/mls.h"

#define MAX_LINE ((size_t)48 << 20)
#define MAX_CLIENTS 8192
#define MAX_GROUPS 16      /* per client */
#define MAX_KEY_PACKAGES 64 /* unused ones per client */
#define MAX_PSKS 64
#define MAX_PUBLIC 256
#define MAX_LIST 1024      /* elements of a request list */
#define MAX_EXPORT 1024

/* ---- State --------------------------------------------------------------- */

struct kp_entry {
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	uint8_t ref[AIM_MAX_HASH];
	size_t ref_len;
};

struct client {
	char *name;
	const struct aim_suite *cs;
	struct mls_credential cred;
	struct mls_bytes sig_priv;
	struct mls_bytes sig_pub;
	struct kp_entry *kps[MAX_KEY_PACKAGES];
	size_t n_kps;
	struct mls_group *groups[MAX_GROUPS];
	size_t n_groups;
};

struct psk_entry {
	struct mls_bytes id;
	struct mls_bytes value;
};

struct pub_entry {
	char *name;
	struct mls_public_group *g;
};

static struct client *clients[MAX_CLIENTS];
static size_t n_clients;
static struct psk_entry psks[MAX_PSKS];
static size_t n_psks;
static struct pub_entry pubs[MAX_PUBLIC];
static size_t n_pubs;
static unsigned long hook_calls[6];

/* ---- The credential hook and PSK lookup ------------------------------------ */

static int hook_fn(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		   struct aim_bytes signature_key)
{
	(void)arg;
	(void)signature_key;
	if ((unsigned)role < AIM_ARRAY_LEN(hook_calls))
		hook_calls[role]++;
	if (cred->type == MLS_CREDENTIAL_BASIC && cred->identity.len >= 7 &&
	    memcmp(cred->identity.p, "mallory", 7) == 0)
		return aim_fail(AIM_ERR_DENIED, "driver hook: mallory is not trusted");
	return 0;
}

static const struct mls_credential_hook hook = { .fn = hook_fn, .arg = NULL };

static int psk_lookup(void *arg, struct aim_bytes psk_id, struct aim_buf *out)
{
	(void)arg;
	for (size_t i = 0; i < n_psks; i++) {
		if (aim_ct_equal(psks[i].id.p, psks[i].id.len, psk_id.p, psk_id.len))
			return aim_buf_append(out, psks[i].value.p, psks[i].value.len);
	}
	return aim_fail(AIM_ERR_NOTFOUND, "driver: unknown external PSK");
}

static void group_config(struct mls_group_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->hook = &hook;
	cfg->psk_lookup = psk_lookup;
	cfg->psk_arg = NULL;
	cfg->now = 0;
}

/* ---- JSON helpers -------------------------------------------------------------- */

static void set_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
	struct aim_buf b;
	aim_buf_init(&b, 2 * n + 16 + MAX_LINE);
	if (aim_hex_encode(&b, p, n) != 0 || aim_buf_append_byte(&b, 0) != 0) {
		aim_buf_free(&b);
		json_object_set_new(o, key, json_null());
		return;
	}
	json_object_set_new(o, key, json_string((const char *)b.data));
	aim_buf_free(&b);
}

static void set_hex_buf(json_t *o, const char *key, const struct aim_buf *b)
{
	set_hex(o, key, b->data, b->len);
}

/* Appends the bytes of the hex string at key to out (initialised by the
 * caller). Missing: AIM_ERR_INVALID when required, else nothing appended. */
static int get_hex(json_t *req, const char *key, bool required, struct aim_buf *out)
{
	json_t *v = json_object_get(req, key);
	if (!v || json_is_null(v)) {
		ENSURE(!required, AIM_ERR_INVALID, "missing %s", key);
		return 0;
	}
	ENSURE(json_is_string(v), AIM_ERR_INVALID, "%s: expected a hex string", key);
	if (aim_hex_decode(out, json_string_value(v), json_string_length(v)) != 0)
		return aim_fail(AIM_ERR_INVALID, "%s: bad hex", key);
	return 0;
}

/* Appends key_hex (hex) or key (UTF-8 text) to out; dflt when neither
 * (NULL: required). */
static int get_text_or_hex(json_t *req, const char *key, const char *dflt, struct aim_buf *out)
{
	char hk[64];
	snprintf(hk, sizeof hk, "%s_hex", key);
	json_t *h = json_object_get(req, hk);
	if (h) {
		ENSURE(json_is_string(h), AIM_ERR_INVALID, "%s: expected hex", hk);
		if (aim_hex_decode(out, json_string_value(h), json_string_length(h)) != 0)
			return aim_fail(AIM_ERR_INVALID, "%s: bad hex", hk);
		return 0;
	}
	json_t *t = json_object_get(req, key);
	if (t) {
		ENSURE(json_is_string(t), AIM_ERR_INVALID, "%s: expected a string", key);
		return aim_buf_append(out, json_string_value(t), json_string_length(t));
	}
	ENSURE(dflt, AIM_ERR_INVALID, "missing %s or %s", key, hk);
	return aim_buf_append_str(out, dflt);
}

static bool get_bool(json_t *req, const char *key, bool dflt)
{
	json_t *v = json_object_get(req, key);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int get_int(json_t *req, const char *key, int64_t min, int64_t max, int64_t dflt,
		   int64_t *out)
{
	json_t *v = json_object_get(req, key);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	ENSURE(json_is_integer(v), AIM_ERR_INVALID, "%s: expected an integer", key);
	int64_t x = json_integer_value(v);
	ENSURE(x >= min && x <= max, AIM_ERR_INVALID, "%s: out of range", key);
	*out = x;
	return 0;
}

/* A list at key (missing: empty); at most MAX_LIST elements. */
static int get_list(json_t *req, const char *key, json_t **out, size_t *n)
{
	json_t *v = json_object_get(req, key);
	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	ENSURE(json_is_array(v), AIM_ERR_INVALID, "%s: expected a list", key);
	ENSURE(json_array_size(v) <= MAX_LIST, AIM_ERR_LIMIT, "%s: too long", key);
	*out = v;
	*n = json_array_size(v);
	return 0;
}

static const char *get_str(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- Lookups ----------------------------------------------------------------- */

static struct client *find_client(json_t *req)
{
	const char *name = get_str(req, "client");
	if (!name) {
		aim_fail(AIM_ERR_INVALID, "missing client");
		return NULL;
	}
	for (size_t i = 0; i < n_clients; i++)
		if (strcmp(clients[i]->name, name) == 0)
			return clients[i];
	aim_fail(AIM_ERR_NOTFOUND, "unknown client %s", name);
	return NULL;
}

static int group_index_by_id(const struct client *c, struct aim_bytes gid)
{
	for (size_t i = 0; i < c->n_groups; i++) {
		struct aim_bytes x = mls_group_id(c->groups[i]);
		if (x.len == gid.len && memcmp(x.p, gid.p, x.len) == 0)
			return (int)i;
	}
	return -1;
}

/* The group named by "group" or the client's only group; its slot index. */
static int find_group(struct client *c, json_t *req, struct aim_bytes msg_gid)
{
	struct aim_buf gid;
	aim_buf_init(&gid, MAX_LINE);
	if (get_hex(req, "group", false, &gid) != 0) {
		aim_buf_free(&gid);
		return -1;
	}
	struct aim_bytes want = gid.len ? aim_buf_bytes(&gid) : msg_gid;
	int idx;
	if (want.len) {
		idx = group_index_by_id(c, want);
		if (idx < 0)
			aim_fail(AIM_ERR_NOTFOUND, "client %s is not in that group", c->name);
	} else if (c->n_groups == 1) {
		idx = 0;
	} else {
		idx = -1;
		aim_fail(AIM_ERR_INVALID, "client %s is in %zu groups: give group", c->name,
			 c->n_groups);
	}
	aim_buf_free(&gid);
	return idx;
}

static struct pub_entry *find_pub(json_t *req)
{
	const char *name = get_str(req, "name");
	if (!name) {
		aim_fail(AIM_ERR_INVALID, "missing name");
		return NULL;
	}
	for (size_t i = 0; i < n_pubs; i++)
		if (strcmp(pubs[i].name, name) == 0)
			return &pubs[i];
	aim_fail(AIM_ERR_NOTFOUND, "unknown public group %s", name);
	return NULL;
}

/* ---- Encoding helpers -------------------------------------------------------------- */

static int mls_message_header(struct aim_buf *w, uint16_t wire_format)
{
	uint8_t h[4] = { 0, MLS_VERSION_10, (uint8_t)(wire_format >> 8), (uint8_t)wire_format };
	return aim_buf_append(w, h, sizeof h);
}

/* A KeyPackage from an MLSMessage (wire format key_package) or bare. */
static int parse_key_package_either(struct aim_bytes b, struct mls_key_package *kp)
{
	if (b.len >= 4 && b.p[0] == 0 && b.p[1] == MLS_VERSION_10 && b.p[2] == 0 &&
	    b.p[3] == MLS_WIRE_KEY_PACKAGE) {
		struct mls_message m;
		memset(&m, 0, sizeof m);
		if (mls_message_parse(b.p, b.len, &m) == 0) {
			*kp = m.key_package;
			memset(&m.key_package, 0, sizeof m.key_package);
			mls_message_free(&m);
			return 0;
		}
	}
	return mls_key_package_parse(b.p, b.len, kp);
}

/* identity / identity_hex (basic), credential_type (others) and credential:
 * "basic:IDHEX" or "x509:CERTHEX,CERTHEX..." as tsmls-driver.mjs gives it. */
static void set_identity(json_t *o, const struct mls_credential *cred)
{
	struct aim_buf sum;
	aim_buf_init(&sum, MLS_MAX_MESSAGE * 2 + 64);
	int rc = 0;
	if (cred->type == MLS_CREDENTIAL_BASIC) {
		json_object_set_new(o, "identity",
				    json_stringn((const char *)cred->identity.p,
							 cred->identity.len));
		set_hex(o, "identity_hex", cred->identity.p, cred->identity.len);
		rc = aim_buf_append_str(&sum, "basic:");
		if (rc == 0)
			rc = aim_hex_encode(&sum, cred->identity.p, cred->identity.len);
	} else if (cred->type == MLS_CREDENTIAL_X509) {
		json_object_set_new(o, "credential_type", json_string("x509"));
		rc = aim_buf_append_str(&sum, "x509:");
		for (size_t i = 0; rc == 0 && i < cred->n_certs; i++) {
			if (i)
				rc = aim_buf_append_byte(&sum, ',');
			if (rc == 0)
				rc = aim_hex_encode(&sum, cred->certs[i].p, cred->certs[i].len);
		}
	} else {
		json_object_set_new(o, "credential_type", json_integer(cred->type));
		rc = aim_buf_printf(&sum, "%u", cred->type);
	}
	if (rc == 0 && aim_buf_append_byte(&sum, 0) == 0)
		json_object_set_new(o, "credential", json_string((const char *)sum.data));
	aim_buf_free(&sum);
}

static json_t *members_json(const struct mls_tree *t)
{
	json_t *a = json_array();
	for (uint32_t i = 0; i < mls_tree_n_leaves(t); i++) {
		const struct mls_leaf_node *leaf = mls_tree_leaf(t, i);
		if (!leaf)
			continue;
		json_t *m = json_object();
		json_object_set_new(m, "leaf", json_integer(i));
		set_identity(m, &leaf->credential);
		json_array_append_new(a, m);
	}
	return a;
}

static json_t *leaves_json(const uint32_t *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static void status_json(json_t *o, const struct mls_group *g)
{
	const struct mls_group_context *ctx = mls_group_context(g);
	struct aim_bytes gid = mls_group_id(g);
	struct aim_bytes ea = mls_group_epoch_authenticator(g);
	set_hex(o, "group", gid.p, gid.len);
	json_object_set_new(o, "epoch", json_integer((json_int_t)mls_group_epoch(g)));
	set_hex(o, "epoch_authenticator", ea.p, ea.len);
	json_object_set_new(o, "leaf_index", json_integer(mls_group_own_leaf(g)));
	json_object_set_new(o, "active", json_boolean(mls_group_active(g)));
	set_hex(o, "tree_hash", ctx->tree_hash.p, ctx->tree_hash.len);
	set_hex(o, "confirmed_transcript_hash", ctx->confirmed_transcript_hash.p,
		ctx->confirmed_transcript_hash.len);
	json_object_set_new(o, "suite", json_integer(ctx->cipher_suite));
	json_object_set_new(o, "member_count", json_integer(mls_group_member_count(g)));
	json_object_set_new(o, "members", members_json(mls_group_tree(g)));
	json_object_set_new(o, "pending_commit", json_boolean(mls_group_has_pending(g)));
}

static void public_status_json(json_t *o, const struct mls_public_group *g)
{
	const struct mls_group_context *ctx = mls_public_group_context(g);
	struct aim_bytes gid = mls_public_group_id(g);
	struct aim_bytes interim = mls_public_group_interim(g);
	set_hex(o, "group", gid.p, gid.len);
	json_object_set_new(o, "epoch", json_integer((json_int_t)mls_public_group_epoch(g)));
	set_hex(o, "tree_hash", ctx->tree_hash.p, ctx->tree_hash.len);
	set_hex(o, "confirmed_transcript_hash", ctx->confirmed_transcript_hash.p,
		ctx->confirmed_transcript_hash.len);
	set_hex(o, "interim_transcript_hash", interim.p, interim.len);
	json_object_set_new(o, "member_count", json_integer(mls_public_group_member_count(g)));
	json_object_set_new(o, "members", members_json(mls_public_group_tree(g)));
}

/* ---- Key packages ------------------------------------------------------------------ */

static void kp_entry_free(struct kp_entry *e)
{
	if (!e)
		return;
	mls_key_package_free(&e->kp);
	mls_key_package_priv_free(&e->priv);
	free(e);
}

/* A fresh KeyPackage of c (its signature key; the first call makes it). */
static int new_key_package(struct client *c, json_t *req, struct kp_entry **out)
{
	int64_t nb = 0, na = 0;
	json_t *lt = json_object_get(req, "lifetime");
	if (lt) {
		ENSURE(json_is_object(lt), AIM_ERR_INVALID, "lifetime: expected an object");
		TRY(get_int(lt, "not_before", 0, INT64_MAX, 0, &nb));
		TRY(get_int(lt, "not_after", 0, INT64_MAX, 0, &na));
	}
	struct mls_key_package_params p = {
		.cipher_suite = c->cs->id,
		.credential = &c->cred,
		.signature_priv = mls_bytes_view(&c->sig_priv),
		.not_before = (uint64_t)nb,
		.not_after = (uint64_t)na,
		.last_resort = get_bool(req, "last_resort", false),
	};
	struct kp_entry *e = aim_xcalloc(1, sizeof *e);
	if (mls_key_package_create(&p, &e->kp, &e->priv) != 0 ||
	    mls_key_package_make_ref(&e->kp, e->ref, &e->ref_len) != 0) {
		kp_entry_free(e);
		return -1;
	}
	if (!c->sig_priv.len &&
	    (mls_bytes_copy(&c->sig_priv, &e->priv.signature_priv) != 0 ||
	     mls_bytes_copy(&c->sig_pub, &e->kp.leaf_node.signature_key) != 0)) {
		kp_entry_free(e);
		return -1;
	}
	*out = e;
	return 0;
}

/* Answers {key_package, key_package_raw, key_package_ref} and keeps e. */
static int keep_key_package(struct client *c, struct kp_entry *e, json_t *res)
{
	if (c->n_kps == MAX_KEY_PACKAGES) {
		kp_entry_free(e);
		return aim_fail(AIM_ERR_LIMIT, "client %s holds too many KeyPackages", c->name);
	}
	struct aim_buf raw, msg;
	aim_buf_init(&raw, MLS_MAX_MESSAGE);
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	if (mls_key_package_encode(&raw, &e->kp) != 0 ||
	    mls_message_header(&msg, MLS_WIRE_KEY_PACKAGE) != 0 ||
	    aim_buf_append(&msg, raw.data, raw.len) != 0) {
		aim_buf_free(&raw);
		aim_buf_free(&msg);
		kp_entry_free(e);
		return -1;
	}
	set_hex_buf(res, "key_package", &msg);
	set_hex_buf(res, "key_package_raw", &raw);
	set_hex(res, "key_package_ref", e->ref, e->ref_len);
	aim_buf_free(&raw);
	aim_buf_free(&msg);
	c->kps[c->n_kps++] = e;
	return 0;
}

static void drop_key_package(struct client *c, size_t i)
{
	kp_entry_free(c->kps[i]);
	c->kps[i] = c->kps[--c->n_kps];
}

/* ---- Groups ------------------------------------------------------------------ */

static int add_group(struct client *c, struct mls_group *g)
{
	struct aim_bytes gid = mls_group_id(g);
	int idx = group_index_by_id(c, gid);
	if (idx >= 0) {
		/* a re-join (external resync): the new state replaces the old */
		mls_group_free(c->groups[idx]);
		c->groups[idx] = g;
		return 0;
	}
	if (c->n_groups == MAX_GROUPS) {
		mls_group_free(g);
		return aim_fail(AIM_ERR_LIMIT, "client %s is in too many groups", c->name);
	}
	c->groups[c->n_groups++] = g;
	return 0;
}

static void drop_group(struct client *c, size_t i)
{
	mls_group_free(c->groups[i]);
	c->groups[i] = c->groups[--c->n_groups];
}

static void client_free(struct client *c)
{
	free(c->name);
	mls_credential_free(&c->cred);
	mls_bytes_free_secret(&c->sig_priv);
	mls_bytes_free(&c->sig_pub);
	for (size_t i = 0; i < c->n_kps; i++)
		kp_entry_free(c->kps[i]);
	for (size_t i = 0; i < c->n_groups; i++)
		mls_group_free(c->groups[i]);
	free(c);
}

/* ---- Commands: clients and KeyPackages ----------------------------------------- */

static int cmd_hello(json_t *req, json_t *res)
{
	(void)req;
	json_object_set_new(res, "driver", json_string("aim-mls-driver"));
	json_object_set_new(res, "bytes", json_string("hex"));
	return 0;
}

/* x509: [cert hex, ...] makes cred an x509 credential (certificates are
 * carried opaquely; the hook decides about them). */
static int set_x509(json_t *req, struct mls_credential *cred)
{
	json_t *l;
	size_t n;
	TRY(get_list(req, "x509", &l, &n));
	if (!l)
		return 0;
	ENSURE(n > 0, AIM_ERR_INVALID, "x509: expected certificates");
	cred->type = MLS_CREDENTIAL_X509;
	cred->certs = aim_xcalloc(n, sizeof *cred->certs);
	cred->n_certs = n;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(l, i);
		struct aim_buf b;
		ENSURE(json_is_string(v), AIM_ERR_INVALID, "x509[%zu]: expected hex", i);
		aim_buf_init(&b, MLS_MAX_MESSAGE);
		int rc = aim_hex_decode(&b, json_string_value(v), json_string_length(v));
		if (rc == 0)
			rc = mls_bytes_set(&cred->certs[i], b.data, b.len);
		aim_buf_free(&b);
		ENSURE(rc == 0, AIM_ERR_INVALID, "x509[%zu]: bad hex", i);
	}
	return 0;
}

static int cmd_create_client(json_t *req, json_t *res)
{
	int64_t suite;
	TRY(get_int(req, "suite", 1, 0xffff, 1, &suite));
	const struct aim_suite *cs = aim_suite_get((uint16_t)suite);
	ENSURE(cs, AIM_ERR_UNSUPPORTED, "suite %lld unknown", (long long)suite);
	ENSURE(n_clients < MAX_CLIENTS, AIM_ERR_LIMIT, "too many clients");
	char autoname[32];
	snprintf(autoname, sizeof autoname, "c%zu", n_clients + 1);
	const char *name = get_str(req, "name");
	if (!name)
		name = autoname;
	for (size_t i = 0; i < n_clients; i++)
		ENSURE(strcmp(clients[i]->name, name) != 0, AIM_ERR_EXISTS, "client %s exists", name);

	struct client *c = aim_xcalloc(1, sizeof *c);
	c->name = aim_xstrdup(name);
	c->cs = cs;
	c->cred.type = MLS_CREDENTIAL_BASIC;
	struct aim_buf id;
	struct kp_entry *e = NULL;
	aim_buf_init(&id, MAX_LINE);
	int rc = set_x509(req, &c->cred);
	if (rc == 0 && c->cred.type == MLS_CREDENTIAL_BASIC) {
		rc = get_text_or_hex(req, "identity", name, &id);
		if (rc == 0)
			rc = mls_bytes_set(&c->cred.identity, id.data, id.len);
	}
	if (rc == 0)
		rc = new_key_package(c, req, &e);
	aim_buf_free(&id);
	if (rc != 0) {
		client_free(c);
		return -1;
	}
	clients[n_clients++] = c;
	json_object_set_new(res, "client", json_string(c->name));
	set_hex(res, "signature_public_key", e->kp.leaf_node.signature_key.p,
		e->kp.leaf_node.signature_key.len);
	return keep_key_package(c, e, res);
}

/* csr: client, cn? -> csr (DER hex): a PKCS#10 request over the client's
 * signature key, signed by it (a device registration, POST
 * /users/NAME/devices). */
static int cmd_csr(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	ENSURE(c->sig_priv.len && c->sig_pub.len, AIM_ERR_STATE, "client %s has no signature key",
	       c->name);
	const char *cn = get_str(req, "cn");
	struct aim_buf csr;
	aim_buf_init(&csr, AIM_X509_MAX);
	const struct mls_bytes *pk = &c->sig_pub;
	int rc = aim_x509_csr_create(c->cs->sig, mls_bytes_view(&c->sig_priv),
				     AIM_BYTES(pk->p, pk->len), cn ? cn : c->name, &csr);
	if (rc == 0)
		set_hex_buf(res, "csr", &csr);
	aim_buf_free(&csr);
	return rc;
}

/* set_credential: client, x509 [cert hex...] -> the credential of the
 * KeyPackages and groups the client makes from now on (same signature
 * key), and a fresh KeyPackage with it (as key_package). */
static int cmd_set_credential(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	if (set_x509(req, &cred) != 0 || cred.type != MLS_CREDENTIAL_X509) {
		mls_credential_free(&cred);
		return aim_fail(AIM_ERR_INVALID, "set_credential: x509 expected");
	}
	mls_credential_free(&c->cred);
	c->cred = cred;
	struct kp_entry *e;
	TRY(new_key_package(c, req, &e));
	return keep_key_package(c, e, res);
}

/* x509_issue: ca_key_pem, ca_cert (hex), client, san -> cert (hex): a leaf
 * for the client's signature key issued by any CA key (a forged or
 * foreign credential). */
static int cmd_x509_issue(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	const char *pem = get_str(req, "ca_key_pem");
	const char *san = get_str(req, "san");
	ENSURE(pem && san && c->sig_pub.len, AIM_ERR_INVALID, "x509_issue: ca_key_pem, san, client");
	struct aim_buf ca, cert;
	aim_buf_init(&ca, AIM_X509_MAX);
	aim_buf_init(&cert, AIM_X509_MAX);
	struct aim_pkey *k = NULL;
	int rc = 0;
	TRY_GOTO(get_hex(req, "ca_cert", true, &ca), out);
	TRY_GOTO(aim_pkey_from_private_pem(pem, strlen(pem), &k), out);
	const struct mls_bytes *pk = &c->sig_pub;
	int64_t now = aim_now();
	TRY_GOTO(aim_x509_issue(k, aim_buf_bytes(&ca), c->cs->sig, AIM_BYTES(pk->p, pk->len), san,
				now - 300, now + 86400, &cert), out);
	set_hex_buf(res, "cert", &cert);
out:
	aim_pkey_free(k);
	aim_buf_free(&ca);
	aim_buf_free(&cert);
	return rc;
}

static int cmd_key_package(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	struct kp_entry *e;
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	TRY(new_key_package(c, req, &e));
	return keep_key_package(c, e, res);
}

static int cmd_verify_key_package(json_t *req, json_t *res)
{
	struct aim_buf b;
	struct mls_key_package kp;
	int64_t now;
	memset(&kp, 0, sizeof kp);
	int rc = 0;
	aim_buf_init(&b, MAX_LINE);
	TRY_GOTO(get_hex(req, "key_package", true, &b), out);
	TRY_GOTO(get_int(req, "now", 0, INT64_MAX, aim_now(), &now), out);
	TRY_GOTO(parse_key_package_either(aim_buf_bytes(&b), &kp), out);
	json_object_set_new(res, "suite", json_integer(kp.cipher_suite));
	set_identity(res, &kp.leaf_node.credential);
	if (mls_key_package_validate_standalone(&kp, &hook, (uint64_t)now) == 0) {
		uint8_t ref[AIM_MAX_HASH];
		size_t ref_len;
		TRY_GOTO(mls_key_package_make_ref(&kp, ref, &ref_len), out);
		json_object_set_new(res, "valid", json_true());
		set_hex(res, "ref", ref, ref_len);
		json_object_set_new(res, "last_resort",
				    json_boolean(mls_key_package_is_last_resort(&kp)));
	} else {
		json_object_set_new(res, "valid", json_false());
		json_object_set_new(res, "code", json_string(aim_errname(aim_errcode())));
		json_object_set_new(res, "error", json_string(aim_errmsg()));
	}
out:
	mls_key_package_free(&kp);
	aim_buf_free(&b);
	return rc;
}

/* Decodes and re-encodes bytes made elsewhere (codec agreement check). */
static int cmd_reencode(json_t *req, json_t *res)
{
	struct aim_buf in, out;
	int rc = 0;
	aim_buf_init(&in, MAX_LINE);
	aim_buf_init(&out, MLS_MAX_MESSAGE + 16);
	if (json_object_get(req, "message")) {
		struct mls_message m;
		TRY_GOTO(get_hex(req, "message", true, &in), done);
		TRY_GOTO(mls_message_parse(in.data, in.len, &m), done);
		rc = mls_message_encode(&out, &m);
		mls_message_free(&m);
	} else if (json_object_get(req, "key_package_raw")) {
		struct mls_key_package kp;
		TRY_GOTO(get_hex(req, "key_package_raw", true, &in), done);
		TRY_GOTO(mls_key_package_parse(in.data, in.len, &kp), done);
		rc = mls_key_package_encode(&out, &kp);
		mls_key_package_free(&kp);
	} else {
		struct mls_ratchet_tree rt;
		TRY_GOTO(get_hex(req, "ratchet_tree", true, &in), done);
		TRY_GOTO(mls_ratchet_tree_parse(in.data, in.len, &rt), done);
		rc = mls_ratchet_tree_encode(&out, &rt);
		mls_ratchet_tree_free(&rt);
	}
	if (rc == 0) {
		set_hex_buf(res, "bytes", &out);
		json_object_set_new(res, "same", json_boolean(out.len == in.len &&
							      memcmp(out.data, in.data, in.len) == 0));
	}
done:
	aim_buf_free(&in);
	aim_buf_free(&out);
	return rc;
}

static int cmd_psk_register(json_t *req, json_t *res)
{
	(void)res;
	struct aim_buf id, val;
	int rc = 0;
	aim_buf_init(&id, MAX_LINE);
	aim_buf_init(&val, MAX_LINE);
	TRY_GOTO(get_hex(req, "psk_id", true, &id), out);
	TRY_GOTO(get_hex(req, "psk", true, &val), out);
	for (size_t i = 0; i < n_psks; i++) {
		if (psks[i].id.len == id.len && memcmp(psks[i].id.p, id.data, id.len) == 0) {
			rc = mls_bytes_set(&psks[i].value, val.data, val.len);
			goto out;
		}
	}
	ENSURE_GOTO(n_psks < MAX_PSKS, out, AIM_ERR_LIMIT, "too many PSKs");
	memset(&psks[n_psks], 0, sizeof psks[n_psks]);
	TRY_GOTO(mls_bytes_set(&psks[n_psks].id, id.data, id.len), out);
	TRY_GOTO(mls_bytes_set(&psks[n_psks].value, val.data, val.len), out);
	n_psks++;
out:
	aim_buf_free(&id);
	aim_buf_free_secret(&val);
	return rc;
}

static int cmd_hook_counts(json_t *req, json_t *res)
{
	(void)req;
	static const char *names[] = { "", "member", "joiner", "update", "committer",
				       "external_sender" };
	for (size_t i = 1; i < AIM_ARRAY_LEN(names); i++)
		json_object_set_new(res, names[i], json_integer((json_int_t)hook_calls[i]));
	return 0;
}

/* ---- Commands: creating and joining ---------------------------------------------- */

static int cmd_create_group(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf gid;
	struct kp_entry *e = NULL;
	struct mls_group *g = NULL;
	struct mls_group_config cfg;
	int rc = 0;
	group_config(&cfg);
	aim_buf_init(&gid, MAX_LINE);
	TRY_GOTO(get_hex(req, "group_id", false, &gid), out);
	ENSURE_GOTO(!gid.len || group_index_by_id(c, aim_buf_bytes(&gid)) < 0, out,
		    AIM_ERR_EXISTS, "group id in use by this client");
	TRY_GOTO(new_key_package(c, req, &e), out);
	TRY_GOTO(mls_group_create(&cfg, aim_buf_bytes(&gid), &e->kp, &e->priv, NULL, &g), out);
	TRY_GOTO(add_group(c, g), out);
	status_json(res, g);
out:
	kp_entry_free(e);
	aim_buf_free(&gid);
	return rc;
}

static int cmd_join(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf w, tree;
	struct mls_message m;
	struct mls_group *g = NULL;
	struct mls_group_config cfg;
	int rc = 0;
	size_t i, k = SIZE_MAX;
	memset(&m, 0, sizeof m);
	group_config(&cfg);
	aim_buf_init(&w, MAX_LINE);
	aim_buf_init(&tree, MAX_LINE);
	TRY_GOTO(get_hex(req, "welcome", true, &w), out);
	TRY_GOTO(get_hex(req, "ratchet_tree", false, &tree), out);
	TRY_GOTO(mls_message_parse(w.data, w.len, &m), out);
	ENSURE_GOTO(m.wire_format == MLS_WIRE_WELCOME, out, AIM_ERR_INVALID, "not a Welcome");
	for (i = 0; i < m.welcome.n_secrets && k == SIZE_MAX; i++) {
		const struct mls_bytes *ref = &m.welcome.secrets[i].new_member;
		for (size_t j = 0; j < c->n_kps; j++) {
			if (ref->len == c->kps[j]->ref_len &&
			    memcmp(ref->p, c->kps[j]->ref, ref->len) == 0) {
				k = j;
				break;
			}
		}
	}
	ENSURE_GOTO(k != SIZE_MAX, out, AIM_ERR_NOTFOUND,
		    "welcome: no entry for a KeyPackage of client %s", c->name);
	TRY_GOTO(mls_group_join(&cfg, aim_buf_bytes(&w), aim_buf_bytes(&tree), &c->kps[k]->kp,
				&c->kps[k]->priv, &g), out);
	if (!mls_key_package_is_last_resort(&c->kps[k]->kp))
		drop_key_package(c, k);
	TRY_GOTO(add_group(c, g), out);
	status_json(res, g);
out:
	mls_message_free(&m);
	aim_buf_free(&w);
	aim_buf_free(&tree);
	return rc;
}

/* Reads a list of psk id hex strings into ids (aim_bufs, n_out entries). */
static int get_psk_ids(json_t *req, const char *key, struct aim_buf **bufs, struct aim_bytes **ids,
		       size_t *n_out)
{
	json_t *l;
	size_t n;
	*bufs = NULL;
	*ids = NULL;
	*n_out = 0;
	TRY(get_list(req, key, &l, &n));
	if (!n)
		return 0;
	*bufs = aim_xcalloc(n, sizeof **bufs);
	*ids = aim_xcalloc(n, sizeof **ids);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(l, i);
		aim_buf_init(&(*bufs)[i], 4096);
		*n_out = i + 1;
		ENSURE(json_is_string(v), AIM_ERR_INVALID, "%s[%zu]: expected hex", key, i);
		if (aim_hex_decode(&(*bufs)[i], json_string_value(v), json_string_length(v)) != 0)
			return aim_fail(AIM_ERR_INVALID, "%s[%zu]: bad hex", key, i);
		(*ids)[i] = aim_buf_bytes(&(*bufs)[i]);
	}
	return 0;
}

static void free_psk_ids(struct aim_buf *bufs, struct aim_bytes *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aim_buf_free(&bufs[i]);
	free(bufs);
	free(ids);
}

static int cmd_join_external(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf gi, tree, commit;
	struct aim_buf *pb = NULL;
	struct aim_bytes *ids = NULL;
	size_t n_ids = 0;
	struct kp_entry *e = NULL;
	struct mls_group *g = NULL;
	struct mls_group_config cfg;
	int64_t resync;
	int rc = 0;
	group_config(&cfg);
	aim_buf_init(&gi, MAX_LINE);
	aim_buf_init(&tree, MAX_LINE);
	aim_buf_init(&commit, MLS_MAX_MESSAGE);
	TRY_GOTO(get_hex(req, "group_info", true, &gi), out);
	TRY_GOTO(get_hex(req, "ratchet_tree", false, &tree), out);
	TRY_GOTO(get_int(req, "resync_leaf", 0, UINT32_MAX, MLS_NO_LEAF, &resync), out);
	TRY_GOTO(get_psk_ids(req, "psk", &pb, &ids, &n_ids), out);
	TRY_GOTO(new_key_package(c, req, &e), out);
	TRY_GOTO(mls_group_join_external(&cfg, aim_buf_bytes(&gi), aim_buf_bytes(&tree), &e->kp,
					 &e->priv, (uint32_t)resync, ids, n_ids, &commit, &g),
		 out);
	TRY_GOTO(add_group(c, g), out);
	set_hex_buf(res, "commit", &commit);
	status_json(res, g);
out:
	free_psk_ids(pb, ids, n_ids);
	kp_entry_free(e);
	aim_buf_free(&gi);
	aim_buf_free(&tree);
	aim_buf_free(&commit);
	return rc;
}

/* ---- Commands: proposals and commits ---------------------------------------------- */

static int get_key_packages(json_t *req, struct mls_key_package **kps, size_t *n_out)
{
	json_t *l;
	size_t n;
	*kps = NULL;
	*n_out = 0;
	TRY(get_list(req, "add", &l, &n));
	if (!n)
		return 0;
	*kps = aim_xcalloc(n, sizeof **kps);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(l, i);
		struct aim_buf b;
		ENSURE(json_is_string(v), AIM_ERR_INVALID, "add[%zu]: expected hex", i);
		aim_buf_init(&b, MLS_MAX_MESSAGE);
		if (aim_hex_decode(&b, json_string_value(v), json_string_length(v)) != 0) {
			aim_buf_free(&b);
			return aim_fail(AIM_ERR_INVALID, "add[%zu]: bad hex", i);
		}
		int rc = parse_key_package_either(aim_buf_bytes(&b), &(*kps)[i]);
		aim_buf_free(&b);
		TRY(rc);
		*n_out = i + 1;
	}
	return 0;
}

static void free_key_packages(struct mls_key_package *kps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mls_key_package_free(&kps[i]);
	free(kps);
}

static int get_u64_list(json_t *req, const char *key, uint64_t max, uint64_t **out, size_t *n_out)
{
	json_t *l;
	size_t n;
	*out = NULL;
	*n_out = 0;
	TRY(get_list(req, key, &l, &n));
	if (!n)
		return 0;
	*out = aim_xcalloc(n, sizeof **out);
	*n_out = n;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(l, i);
		ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
			       (uint64_t)json_integer_value(v) <= max,
		       AIM_ERR_INVALID, "%s[%zu]: expected a number", key, i);
		(*out)[i] = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static int get_removes(json_t *req, uint32_t **out, size_t *n_out)
{
	uint64_t *v;
	size_t n;
	*out = NULL;
	*n_out = 0;
	int rc = get_u64_list(req, "remove", UINT32_MAX - 1, &v, &n);
	if (rc == 0 && n) {
		*out = aim_xcalloc(n, sizeof **out);
		for (size_t i = 0; i < n; i++)
			(*out)[i] = (uint32_t)v[i];
		*n_out = n;
	}
	free(v);
	return rc;
}

/* extensions: [{type, data (hex)}] */
static int get_extensions(json_t *req, struct mls_extension_list *ext, bool *given)
{
	json_t *l;
	size_t n;
	memset(ext, 0, sizeof *ext);
	*given = json_object_get(req, "extensions") != NULL;
	TRY(get_list(req, "extensions", &l, &n));
	if (!n)
		return 0;
	ext->v = aim_xcalloc(n, sizeof *ext->v);
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(l, i);
		int64_t type;
		struct aim_buf d;
		ENSURE(json_is_object(x), AIM_ERR_INVALID, "extensions[%zu]", i);
		TRY(get_int(x, "type", 0, 0xffff, -1, &type));
		ENSURE(type >= 0, AIM_ERR_INVALID, "extensions[%zu]: missing type", i);
		ext->n = i + 1;
		ext->v[i].type = (uint16_t)type;
		aim_buf_init(&d, MAX_LINE);
		if (get_hex(x, "data", false, &d) != 0 ||
		    mls_bytes_set(&ext->v[i].data, d.data, d.len) != 0) {
			aim_buf_free(&d);
			return -1;
		}
		aim_buf_free(&d);
	}
	return 0;
}

static int member_group(json_t *req, struct client **cp, struct mls_group **gp)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	int idx = find_group(c, req, AIM_BYTES(NULL, 0));
	TRY(idx < 0 ? -1 : 0);
	*cp = c;
	*gp = c->groups[idx];
	return 0;
}

static int cmd_commit(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	struct mls_key_package *kps = NULL;
	size_t n_kps = 0, n_rem = 0, n_ids = 0, n_res = 0;
	uint32_t *rem = NULL;
	uint64_t *resumption = NULL;
	struct aim_buf *pb = NULL;
	struct aim_bytes *ids = NULL;
	struct mls_extension_list ext;
	bool has_ext = false;
	struct mls_commit_result cr;
	int rc = 0;
	memset(&ext, 0, sizeof ext);
	mls_commit_result_init(&cr);
	TRY_GOTO(get_key_packages(req, &kps, &n_kps), out);
	TRY_GOTO(get_removes(req, &rem, &n_rem), out);
	TRY_GOTO(get_psk_ids(req, "psk", &pb, &ids, &n_ids), out);
	TRY_GOTO(get_u64_list(req, "resumption", UINT64_MAX >> 1, &resumption, &n_res), out);
	TRY_GOTO(get_extensions(req, &ext, &has_ext), out);
	struct mls_commit_params p = {
		.adds = kps,
		.n_adds = n_kps,
		.removes = rem,
		.n_removes = n_rem,
		.psk_ids = ids,
		.n_psk_ids = n_ids,
		.resumption_epochs = resumption,
		.n_resumption_epochs = n_res,
		.extensions = has_ext ? &ext : NULL,
		.include_pending = get_bool(req, "include_pending", true),
		.force_path = get_bool(req, "path", false),
		.wire_format = get_bool(req, "public", false) ? 1 : 2,
		.tree_in_welcome = get_bool(req, "tree_in_welcome", false),
	};
	TRY_GOTO(mls_group_commit(g, &p, &cr), out);
	set_hex_buf(res, "commit", &cr.commit);
	if (cr.welcome.len)
		set_hex_buf(res, "welcome", &cr.welcome);
	set_hex_buf(res, "group_info", &cr.group_info);
	json_object_set_new(res, "new_epoch", json_integer((json_int_t)cr.epoch));
	if (!get_bool(req, "pending", false)) {
		TRY_GOTO(mls_group_merge_pending(g), out);
		struct aim_buf tree;
		aim_buf_init(&tree, MLS_MAX_MESSAGE);
		if (mls_group_active(g)) {
			rc = mls_group_export_tree(g, &tree);
			if (rc == 0)
				set_hex_buf(res, "ratchet_tree", &tree);
		}
		aim_buf_free(&tree);
	}
	status_json(res, g);
out:
	mls_commit_result_free(&cr);
	free_key_packages(kps, n_kps);
	free(rem);
	free(resumption);
	free_psk_ids(pb, ids, n_ids);
	mls_extension_list_free(&ext);
	return rc;
}

static int cmd_merge_pending(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	TRY(mls_group_merge_pending(g));
	status_json(res, g);
	return 0;
}

static int cmd_discard_pending(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	ENSURE(mls_group_has_pending(g), AIM_ERR_STATE, "no pending commit");
	mls_group_discard_pending(g);
	status_json(res, g);
	return 0;
}

static int cmd_propose(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	struct mls_key_package *kps = NULL;
	size_t n_kps = 0, n_rem = 0, n_ids = 0, n_res = 0;
	uint32_t *rem = NULL;
	uint64_t *resumption = NULL;
	struct aim_buf *pb = NULL;
	struct aim_bytes *ids = NULL;
	struct aim_buf out;
	struct mls_extension_list ext;
	bool has_ext = false;
	bool update = get_bool(req, "update", false);
	json_t *reinit = json_object_get(req, "reinit");
	struct aim_buf new_gid;
	int64_t new_suite = 0;
	int rc = 0;
	memset(&ext, 0, sizeof ext);
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	aim_buf_init(&new_gid, MAX_LINE);
	if (reinit) {
		/* reinit: {group_id (hex), suite} */
		ENSURE_GOTO(json_is_object(reinit), done, AIM_ERR_INVALID, "reinit: expected an object");
		TRY_GOTO(get_hex(reinit, "group_id", true, &new_gid), done);
		TRY_GOTO(get_int(reinit, "suite", 1, 0xffff, c->cs->id, &new_suite), done);
	}
	TRY_GOTO(get_key_packages(req, &kps, &n_kps), done);
	TRY_GOTO(get_removes(req, &rem, &n_rem), done);
	TRY_GOTO(get_psk_ids(req, "psk", &pb, &ids, &n_ids), done);
	TRY_GOTO(get_u64_list(req, "resumption", UINT64_MAX >> 1, &resumption, &n_res), done);
	TRY_GOTO(get_extensions(req, &ext, &has_ext), done);
	ENSURE_GOTO(n_kps + n_rem + n_ids + n_res + (update ? 1 : 0) + (has_ext ? 1 : 0) +
			    (reinit ? 1 : 0) == 1,
		    done, AIM_ERR_INVALID,
		    "propose: exactly one of add/remove/psk/resumption/update/extensions/reinit");
	/* the wire format of a standalone proposal comes from the config */
	struct mls_group_config cfg;
	group_config(&cfg);
	cfg.encrypt_handshake = !get_bool(req, "public", false);
	mls_group_set_config(g, &cfg);
	if (n_kps)
		rc = mls_group_propose_add(g, &kps[0], &out);
	else if (n_rem)
		rc = mls_group_propose_remove(g, rem[0], &out);
	else if (n_ids)
		rc = mls_group_propose_external_psk(g, ids[0], &out);
	else if (n_res)
		rc = mls_group_propose_resumption_psk(g, resumption[0], &out);
	else if (has_ext)
		rc = mls_group_propose_group_context_extensions(g, &ext, &out);
	else if (reinit)
		rc = mls_group_propose_reinit(g, aim_buf_bytes(&new_gid), (uint16_t)new_suite, NULL,
					      &out);
	else
		rc = mls_group_propose_update(g, NULL, &out);
	group_config(&cfg);
	mls_group_set_config(g, &cfg);
	if (rc == 0)
		set_hex_buf(res, "proposal", &out);
done:
	aim_buf_free(&out);
	aim_buf_free(&new_gid);
	free_key_packages(kps, n_kps);
	free(rem);
	free(resumption);
	free_psk_ids(pb, ids, n_ids);
	mls_extension_list_free(&ext);
	return rc;
}

/* ---- Commands: processing and messages ------------------------------------------- */

/* The group id of an encoded Public or PrivateMessage (empty otherwise). */
static void message_group_id(const struct mls_message *m, struct aim_bytes *gid)
{
	*gid = AIM_BYTES(NULL, 0);
	if (m->wire_format == MLS_WIRE_PUBLIC_MESSAGE)
		*gid = mls_bytes_view(&m->public_message.content.group_id);
	else if (m->wire_format == MLS_WIRE_PRIVATE_MESSAGE)
		*gid = mls_bytes_view(&m->private_message.group_id);
}

static int cmd_process(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf msg;
	struct mls_message m;
	struct mls_group_event ev;
	struct aim_bytes gid;
	int rc = 0, idx;
	bool have_ev = false;
	memset(&m, 0, sizeof m);
	aim_buf_init(&msg, MAX_LINE);
	TRY_GOTO(get_hex(req, "message", true, &msg), out);
	TRY_GOTO(mls_message_parse(msg.data, msg.len, &m), out);
	message_group_id(&m, &gid);
	idx = find_group(c, req, gid);
	TRY_GOTO(idx < 0 ? -1 : 0, out);
	struct mls_group *g = c->groups[idx];
	rc = mls_group_process(g, aim_buf_bytes(&msg), &ev);
	if (rc != 0)
		goto out;
	have_ev = true;
	json_object_set_new(res, "wireformat", json_integer(m.wire_format));
	json_object_set_new(res, "sender_type", json_integer(ev.sender.type));
	json_object_set_new(res, "sender", json_integer(ev.sender.index));
	switch (ev.type) {
	case MLS_EVENT_APPLICATION:
		json_object_set_new(res, "kind", json_string("application"));
		set_hex_buf(res, "plaintext", &ev.data);
		json_object_set_new(res, "text", json_stringn((const char *)ev.data.data,
								      ev.data.len));
		set_hex_buf(res, "authenticated_data", &ev.aad);
		break;
	case MLS_EVENT_PROPOSAL:
		json_object_set_new(res, "kind", json_string("proposal"));
		json_object_set_new(res, "proposal_type", json_integer(ev.proposal_type));
		set_hex(res, "proposal_ref", ev.proposal_ref, mls_group_suite(g)->nh);
		break;
	case MLS_EVENT_COMMIT:
		json_object_set_new(res, "kind", json_string("commit"));
		json_object_set_new(res, "added", leaves_json(ev.added, ev.n_added));
		json_object_set_new(res, "removed", leaves_json(ev.removed, ev.n_removed));
		json_object_set_new(res, "removed_self", json_boolean(ev.removed_self));
		json_object_set_new(res, "reinit", json_boolean(ev.reinit));
		json_object_set_new(res, "own_commit", json_boolean(ev.own_commit));
		break;
	default:
		json_object_set_new(res, "kind", json_string("unknown"));
		break;
	}
	status_json(res, g);
out:
	if (have_ev)
		mls_group_event_free(&ev);
	mls_message_free(&m);
	aim_buf_free(&msg);
	return rc;
}

static int cmd_send(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	struct aim_buf pt, aad, out;
	int rc = 0;
	aim_buf_init(&out, MLS_MAX_MESSAGE);
	aim_buf_init(&pt, MAX_LINE);
	aim_buf_init(&aad, MAX_LINE);
	TRY_GOTO(get_text_or_hex(req, "plaintext", NULL, &pt), done);
	TRY_GOTO(get_hex(req, "authenticated_data", false, &aad), done);
	TRY_GOTO(mls_group_encrypt(g, aim_buf_bytes(&aad), aim_buf_bytes(&pt), &out), done);
	set_hex_buf(res, "message", &out);
	json_object_set_new(res, "epoch", json_integer((json_int_t)mls_group_epoch(g)));
done:
	aim_buf_free_secret(&pt);
	aim_buf_free(&aad);
	aim_buf_free(&out);
	return rc;
}

static int cmd_group_info(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	struct aim_buf gi, tree;
	int rc = 0;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	TRY_GOTO(mls_group_group_info(g, get_bool(req, "external_pub", true),
				      get_bool(req, "ratchet_tree_extension", true), &gi),
		 done);
	TRY_GOTO(mls_group_export_tree(g, &tree), done);
	set_hex_buf(res, "group_info", &gi);
	set_hex_buf(res, "ratchet_tree", &tree);
	json_object_set_new(res, "epoch", json_integer((json_int_t)mls_group_epoch(g)));
done:
	aim_buf_free(&gi);
	aim_buf_free(&tree);
	return rc;
}

static int cmd_status(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	status_json(res, g);
	return 0;
}

static int cmd_ratchet_tree(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	struct aim_buf tree;
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	int rc = mls_group_export_tree(g, &tree);
	if (rc == 0)
		set_hex_buf(res, "ratchet_tree", &tree);
	aim_buf_free(&tree);
	return rc;
}

static int cmd_export(json_t *req, json_t *res)
{
	struct client *c;
	struct mls_group *g;
	TRY(member_group(req, &c, &g));
	const char *label = get_str(req, "label");
	ENSURE(label, AIM_ERR_INVALID, "label: expected a string");
	int64_t len;
	TRY(get_int(req, "length", 0, MAX_EXPORT, 32, &len));
	struct aim_buf ctx;
	uint8_t out[MAX_EXPORT];
	int rc = 0;
	aim_buf_init(&ctx, MAX_LINE);
	TRY_GOTO(get_hex(req, "context", false, &ctx), done);
	TRY_GOTO(mls_group_export_secret(g, AIM_BYTES_STR(label), aim_buf_bytes(&ctx), out,
					 (size_t)len),
		 done);
	set_hex(res, "secret", out, (size_t)len);
	json_object_set_new(res, "epoch", json_integer((json_int_t)mls_group_epoch(g)));
done:
	aim_wipe(out, sizeof out);
	aim_buf_free(&ctx);
	return rc;
}

/* Serialises the state, frees it and restores it from the bytes. */
static int cmd_reload(json_t *req, json_t *res)
{
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	int idx = find_group(c, req, AIM_BYTES(NULL, 0));
	TRY(idx < 0 ? -1 : 0);
	struct aim_buf st;
	struct mls_group *g = NULL;
	struct mls_group_config cfg;
	int rc = 0;
	group_config(&cfg);
	aim_buf_init(&st, MLS_MAX_GROUP_STATE);
	TRY_GOTO(mls_group_encode(c->groups[idx], &st), done);
	TRY_GOTO(mls_group_parse(&cfg, st.data, st.len, &g), done);
	json_object_set_new(res, "state_bytes", json_integer((json_int_t)st.len));
	mls_group_free(c->groups[idx]);
	c->groups[idx] = g;
	status_json(res, g);
done:
	aim_buf_free_secret(&st);
	return rc;
}

static int cmd_leave(json_t *req, json_t *res)
{
	(void)res;
	struct client *c = find_client(req);
	ENSURE(c, aim_errcode(), "%s", aim_errmsg());
	int idx = find_group(c, req, AIM_BYTES(NULL, 0));
	TRY(idx < 0 ? -1 : 0);
	drop_group(c, (size_t)idx);
	return 0;
}

/* ---- Commands: the public group ------------------------------------------------- */

static int cmd_public_create(json_t *req, json_t *res)
{
	const char *name = get_str(req, "name");
	ENSURE(name, AIM_ERR_INVALID, "missing name");
	for (size_t i = 0; i < n_pubs; i++)
		ENSURE(strcmp(pubs[i].name, name) != 0, AIM_ERR_EXISTS, "public group %s exists",
		       name);
	ENSURE(n_pubs < MAX_PUBLIC, AIM_ERR_LIMIT, "too many public groups");
	struct aim_buf gi, tree;
	struct mls_public_group *g = NULL;
	int rc = 0;
	aim_buf_init(&gi, MAX_LINE);
	aim_buf_init(&tree, MAX_LINE);
	TRY_GOTO(get_hex(req, "group_info", true, &gi), done);
	TRY_GOTO(get_hex(req, "ratchet_tree", false, &tree), done);
	TRY_GOTO(mls_public_group_create_from_message(aim_buf_bytes(&gi), aim_buf_bytes(&tree),
						      &hook, (uint64_t)aim_now(), &g),
		 done);
	pubs[n_pubs].name = aim_xstrdup(name);
	pubs[n_pubs].g = g;
	n_pubs++;
	public_status_json(res, g);
done:
	aim_buf_free(&gi);
	aim_buf_free(&tree);
	return rc;
}

static int cmd_public_process(json_t *req, json_t *res)
{
	struct pub_entry *p = find_pub(req);
	ENSURE(p, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf msg;
	struct mls_public_result r;
	int rc = 0;
	memset(&r, 0, sizeof r);
	aim_buf_init(&msg, MAX_LINE);
	TRY_GOTO(get_hex(req, "message", true, &msg), done);
	if (msg.len >= 4 && msg.data[3] == MLS_WIRE_PRIVATE_MESSAGE && msg.data[2] == 0) {
		/* what a hub checks of a PrivateMessage: group id and epoch */
		struct mls_message m;
		TRY_GOTO(mls_message_parse(msg.data, msg.len, &m), done);
		rc = mls_public_group_check_private(p->g, &m.private_message);
		mls_message_free(&m);
		if (rc == 0) {
			json_object_set_new(res, "private_ok", json_true());
			public_status_json(res, p->g);
		}
		goto done;
	}
	TRY_GOTO(mls_public_group_process_message(p->g, aim_buf_bytes(&msg), &r), done);
	json_object_set_new(res, "content_type", json_integer(r.content_type));
	json_object_set_new(res, "kind", json_string(r.content_type == MLS_CONTENT_COMMIT ?
						     "commit" : "proposal"));
	json_object_set_new(res, "sender_type", json_integer(r.sender.type));
	json_object_set_new(res, "sender", json_integer(r.sender.index));
	if (r.content_type == MLS_CONTENT_COMMIT) {
		json_object_set_new(res, "committer", json_integer(r.committer));
		json_object_set_new(res, "added", leaves_json(r.added, r.n_added));
		json_object_set_new(res, "removed", leaves_json(r.removed, r.n_removed));
		json_object_set_new(res, "reinit", json_boolean(r.reinit));
	} else {
		set_hex(res, "proposal_ref", r.proposal_ref, mls_public_group_suite(p->g)->nh);
	}
	public_status_json(res, p->g);
done:
	mls_public_result_free(&r);
	aim_buf_free(&msg);
	return rc;
}

static int cmd_public_status(json_t *req, json_t *res)
{
	struct pub_entry *p = find_pub(req);
	ENSURE(p, aim_errcode(), "%s", aim_errmsg());
	public_status_json(res, p->g);
	return 0;
}

static int cmd_public_tree(json_t *req, json_t *res)
{
	struct pub_entry *p = find_pub(req);
	ENSURE(p, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf tree;
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	int rc = mls_public_group_export_tree(p->g, &tree);
	if (rc == 0)
		set_hex_buf(res, "ratchet_tree", &tree);
	aim_buf_free(&tree);
	return rc;
}

static int cmd_public_set_group_info(json_t *req, json_t *res)
{
	(void)res;
	struct pub_entry *p = find_pub(req);
	ENSURE(p, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf b;
	struct mls_message m;
	int rc = 0;
	memset(&m, 0, sizeof m);
	aim_buf_init(&b, MAX_LINE);
	TRY_GOTO(get_hex(req, "group_info", true, &b), done);
	TRY_GOTO(mls_message_parse(b.data, b.len, &m), done);
	ENSURE_GOTO(m.wire_format == MLS_WIRE_GROUP_INFO, done, AIM_ERR_INVALID,
		    "not a GroupInfo");
	rc = mls_public_group_set_group_info(p->g, &m.group_info);
done:
	mls_message_free(&m);
	aim_buf_free(&b);
	return rc;
}

static int cmd_public_group_info(json_t *req, json_t *res)
{
	struct pub_entry *p = find_pub(req);
	ENSURE(p, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf w;
	int rc = 0;
	aim_buf_init(&w, MLS_MAX_MESSAGE + 4);
	TRY_GOTO(mls_message_header(&w, MLS_WIRE_GROUP_INFO), done);
	TRY_GOTO(mls_public_group_group_info(p->g, &w), done);
	set_hex_buf(res, "group_info", &w);
done:
	aim_buf_free(&w);
	return rc;
}

/* Serialises the public state and restores it. */
static int cmd_public_reload(json_t *req, json_t *res)
{
	struct pub_entry *p = find_pub(req);
	ENSURE(p, aim_errcode(), "%s", aim_errmsg());
	struct aim_buf st;
	struct mls_public_group *g = NULL;
	int rc = 0;
	aim_buf_init(&st, MLS_MAX_PUBLIC_STATE);
	TRY_GOTO(mls_public_group_encode(p->g, &st), done);
	TRY_GOTO(mls_public_group_parse(st.data, st.len, &hook, (uint64_t)aim_now(), &g), done);
	json_object_set_new(res, "state_bytes", json_integer((json_int_t)st.len));
	mls_public_group_free(p->g);
	p->g = g;
	public_status_json(res, g);
done:
	aim_buf_free(&st);
	return rc;
}

static int cmd_public_drop(json_t *req, json_t *res)
{
	(void)res;
	struct pub_entry *p = find_pub(req);
	ENSURE(p, aim_errcode(), "%s", aim_errmsg());
	free(p->name);
	mls_public_group_free(p->g);
	*p = pubs[--n_pubs];
	return 0;
}

static int cmd_quit(json_t *req, json_t *res)
{
	(void)req;
	(void)res;
	return 0;
}

/* ---- Main loop ---------------------------------------------------------------- */

struct command {
	const char *name;
	int (*fn)(json_t *req, json_t *res);
};

static const struct command commands[] = {
	{ "hello", cmd_hello },
	{ "create_client", cmd_create_client },
	{ "key_package", cmd_key_package },
	{ "csr", cmd_csr },
	{ "set_credential", cmd_set_credential },
	{ "x509_issue", cmd_x509_issue },
	{ "verify_key_package", cmd_verify_key_package },
	{ "reencode", cmd_reencode },
	{ "psk_register", cmd_psk_register },
	{ "hook_counts", cmd_hook_counts },
	{ "create_group", cmd_create_group },
	{ "join", cmd_join },
	{ "join_external", cmd_join_external },
	{ "commit", cmd_commit },
	{ "merge_pending", cmd_merge_pending },
	{ "discard_pending", cmd_discard_pending },
	{ "propose", cmd_propose },
	{ "process", cmd_process },
	{ "send", cmd_send },
	{ "group_info", cmd_group_info },
	{ "status", cmd_status },
	{ "ratchet_tree", cmd_ratchet_tree },
	{ "export", cmd_export },
	{ "reload", cmd_reload },
	{ "leave", cmd_leave },
	{ "public_create", cmd_public_create },
	{ "public_process", cmd_public_process },
	{ "public_status", cmd_public_status },
	{ "public_tree", cmd_public_tree },
	{ "public_set_group_info", cmd_public_set_group_info },
	{ "public_group_info", cmd_public_group_info },
	{ "public_reload", cmd_public_reload },
	{ "public_drop", cmd_public_drop },
	{ "quit", cmd_quit },
};

/* Handles one line; returns the response and sets *quit. */
static json_t *handle(const char *line, size_t len, bool *quit)
{
	json_error_t jerr;
	json_t *res = json_object();
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req || !json_is_object(req)) {
		json_object_set_new(res, "ok", json_false());
		json_object_set_new(res, "error", json_string(req ? "request must be an object" :
							      "bad JSON"));
		json_decref(req);
		return res;
	}
	json_t *id = json_object_get(req, "id");
	if (id)
		json_object_set(res, "id", id);
	const char *cmd = get_str(req, "cmd");
	const struct command *found = NULL;
	for (size_t i = 0; cmd && i < AIM_ARRAY_LEN(commands); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			found = &commands[i];
	aim_errclear();
	if (!found) {
		json_object_set_new(res, "ok", json_false());
		json_object_set_new(res, "error", json_string("unknown cmd"));
	} else if (found->fn(req, res) == 0) {
		json_object_set_new(res, "ok", json_true());
		*quit = found->fn == cmd_quit;
	} else {
		/* a failed command answers only the error */
		json_object_clear(res);
		if (id)
			json_object_set(res, "id", id);
		json_object_set_new(res, "ok", json_false());
		json_object_set_new(res, "code", json_string(aim_errname(aim_errcode())));
		json_object_set_new(res, "error", json_string(aim_errmsg()));
	}
	json_decref(req);
	return res;
}

static void cleanup(void)
{
	for (size_t i = 0; i < n_clients; i++)
		client_free(clients[i]);
	n_clients = 0;
	for (size_t i = 0; i < n_psks; i++) {
		mls_bytes_free(&psks[i].id);
		mls_bytes_free_secret(&psks[i].value);
	}
	n_psks = 0;
	for (size_t i = 0; i < n_pubs; i++) {
		free(pubs[i].name);
		mls_public_group_free(pubs[i].g);
	}
	n_pubs = 0;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool quit = false;
	while (!quit && (n = getline(&line, &cap, stdin)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0)
			continue;
		json_t *res;
		if ((size_t)n > MAX_LINE) {
			res = json_pack("{s:b,s:s}", "ok", 0, "error", "line too long");
		} else {
			res = handle(line, (size_t)n, &quit);
		}
		char *out = json_dumps(res, JSON_COMPACT);
		json_decref(res);
		if (!out) {
			fputs("{\"ok\":false,\"error\":\"cannot encode the answer\"}\n", stdout);
		} else {
			fputs(out, stdout);
			fputc('\n', stdout);
			free(out);
		}
		fflush(stdout);
	}
	free(line);
	cleanup();
	return 0;
}
