/*
 * KeyPackages of this device: generation with the x509 credential, the
 * private parts kept by KeyPackageRef, upload in batches, the stock on the
 * server and the top-up policy; and claims of other users' KeyPackages,
 * each validated before it is used.
 *
 * Durable before published: the private part of every KeyPackage is in the
 * store (one transaction per batch) before the batch is sent, so that a
 * KeyPackage the server may hand out is always one this device can join
 * with. A batch the server refuses (all-or-nothing) is deleted again; one
 * whose answer never came is kept, since the server may hold it.
 */
#include "client/core_int.h"

#include <stdlib.h>
#include <string.h>

#define KP_PREFIX "kp/"

/* MLSMessage framing of a KeyPackage (RFC 9420 section 6): version mls10,
 * wire_format mls_key_package, then the KeyPackage. */
static int kp_message(const struct mls_key_package *kp, struct aim_buf *out)
{
	static const uint8_t hdr[4] = { 0, MLS_VERSION_10, 0, MLS_WIRE_KEY_PACKAGE };
	TRY(aim_buf_append(out, hdr, sizeof hdr));
	return mls_key_package_encode(out, kp);
}

struct fresh {
	char key[8 + 2 * AIM_MAX_HASH + 1];
	json_t *content;  /* base64 MLSMessage */
};

static void fresh_free(struct fresh *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(f[i].content);
	free(f);
}

/* One KeyPackage: generated, its entry put (inside the caller's
 * transaction). */
static int make_one(struct client *c, const struct mls_credential *cred, bool last_resort,
		    struct fresh *f)
{
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	/* a KeyPackage outliving its certificate would be refused by every
	 * peer after the certificate's notAfter: the lifetime stops there */
	int64_t now = client_core_now(c);
	int64_t end = now + (int64_t)MLS_KP_DEFAULT_LIFETIME;
	if (c->not_after > 0 && c->not_after < end)
		end = c->not_after;
	if (end <= now)
		return aim_fail(AIM_ERR_STATE, "the device's certificate has expired: renew it");
	struct mls_key_package_params p = {
		.cipher_suite = c->suite,
		.credential = cred,
		.signature_priv = aim_buf_bytes(&c->sig_sk),
		.not_before = (uint64_t)(now - (int64_t)MLS_KP_DEFAULT_BACKDATE),
		.not_after = (uint64_t)end,
		.last_resort = last_resort,
	};
	struct aim_buf msg, pe, hex;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	aim_buf_init(&pe, 4096);
	aim_buf_init(&hex, 2 * AIM_MAX_HASH + 1);
	json_t *entry = NULL;
	uint8_t ref[AIM_MAX_HASH];
	size_t ref_len = 0;
	int rc = -1;
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	TRY_GOTO(mls_key_package_create(&p, &kp, &priv), out);
	TRY_GOTO(kp_message(&kp, &msg), out);
	TRY_GOTO(mls_key_package_make_ref(&kp, ref, &ref_len), out);
	TRY_GOTO(mls_key_package_priv_encode(&pe, &priv), out);
	TRY_GOTO(aim_hex_encode(&hex, ref, ref_len), out);
	snprintf(f->key, sizeof f->key, KP_PREFIX "%s", (const char *)hex.data);
	f->content = client_core_b64(aim_buf_bytes(&msg));
	entry = json_object();
	json_object_set(entry, "message", f->content);
	json_object_set_new(entry, "private", client_core_b64(aim_buf_bytes(&pe)));
	json_object_set_new(entry, "lastResort", json_boolean(last_resort));
	json_object_set_new(entry, "uploaded", json_false());
	json_object_set_new(entry, "created", json_integer(client_core_now(c)));
	rc = client_core_kv_put_json(c, f->key, entry, true);
	json_t *pv = json_object_get(entry, "private");
	if (json_is_string(pv))
		aim_wipe((void *)json_string_value(pv), json_string_length(pv));
out:
	json_decref(entry);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	aim_buf_free(&msg);
	aim_buf_free_secret(&pe);
	aim_buf_free(&hex);
	return rc;
}

/* Sets "uploaded" on the entries of a batch the server accepted, or
 * deletes the entries of one it refused; one transaction. */
static int settle(struct client *c, struct fresh *f, size_t n, bool accepted)
{
	TRY(c->io.kv_begin(c->io.kv_ctx));
	for (size_t i = 0; i < n; i++) {
		if (!accepted) {
			if (c->io.kv_del(c->io.kv_ctx, f[i].key) != 0)
				goto fail;
			continue;
		}
		json_t *e = NULL;
		if (client_core_kv_get_json(c, f[i].key, &e) != 0)
			goto fail;
		json_object_set_new(e, "uploaded", json_true());
		int rc = client_core_kv_put_json(c, f[i].key, e, true);
		json_t *pv = json_object_get(e, "private");
		if (json_is_string(pv))
			aim_wipe((void *)json_string_value(pv), json_string_length(pv));
		json_decref(e);
		if (rc != 0)
			goto fail;
	}
	return c->io.kv_commit(c->io.kv_ctx);
fail:
	c->io.kv_rollback(c->io.kv_ctx);
	return -1;
}

static int credential_of(struct client *c, struct mls_credential *cred)
{
	memset(cred, 0, sizeof *cred);
	cred->type = MLS_CREDENTIAL_X509;
	cred->certs = aim_xcalloc(2, sizeof *cred->certs);
	cred->n_certs = 2;
	if (mls_bytes_set(&cred->certs[0], c->cert.data, c->cert.len) != 0 ||
	    mls_bytes_set(&cred->certs[1], c->ca.data, c->ca.len) != 0) {
		mls_credential_free(cred);
		return -1;
	}
	return 0;
}

/* Generates, stores and uploads one batch of n (+ a last-resort one). */
static int publish_batch(struct client *c, const struct mls_credential *cred, size_t n,
			 bool last_resort, size_t *accepted)
{
	size_t total = n + (last_resort ? 1 : 0);
	struct fresh *f = aim_xcalloc(total ? total : 1, sizeof *f);
	json_t *body = NULL, *resp = NULL;
	int rc = -1;
	TRY_GOTO(c->io.kv_begin(c->io.kv_ctx), out);
	for (size_t i = 0; i < total; i++) {
		if (make_one(c, cred, last_resort && i == n, &f[i]) != 0) {
			c->io.kv_rollback(c->io.kv_ctx);
			goto out;
		}
	}
	TRY_GOTO(c->io.kv_commit(c->io.kv_ctx), out);

	body = json_object();
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append(arr, f[i].content);
	json_object_set_new(body, "keyPackages", arr);
	if (last_resort)
		json_object_set(body, "lastResort", f[n].content);
	char *path = aim_xasprintf("/users/%s/keyPackages", c->user);
	rc = client_core_call(c, "POST", path, body, &resp);
	free(path);
	if (rc != 0) {
		/* refused (a status came): the server holds none of them */
		if (c->server_status != 0) {
			enum aim_err e = aim_errcode();
			char *m = aim_xstrdup(aim_errmsg());
			if (settle(c, f, total, false) != 0)
				aim_log(AIM_LOG_WARN, "client", "refused KeyPackages not dropped: %s",
					aim_errmsg());
			aim_fail(e, "%s", m);
			free(m);
		}
		goto out;
	}
	json_t *acc = json_object_get(resp, "accepted");
	if (accepted)
		*accepted += json_is_integer(acc) ? (size_t)json_integer_value(acc) : total;
	rc = settle(c, f, total, true);
out:
	json_decref(body);
	json_decref(resp);
	fresh_free(f, total);
	return rc;
}

int client_publish(struct client *c, size_t n, bool last_resort, size_t *accepted)
{
	if (accepted)
		*accepted = 0;
	ENSURE(c->cert.len > 0, AIM_ERR_STATE, "register the device first");
	ENSURE(n <= 100000, AIM_ERR_LIMIT, "too many KeyPackages at once");
	struct mls_credential cred;
	TRY(credential_of(c, &cred));
	int rc = 0;
	size_t done = 0;
	do {
		size_t k = n - done > CLIENT_PUBLISH_BATCH ? CLIENT_PUBLISH_BATCH : n - done;
		bool lr = last_resort && done == 0;
		if (k == 0 && !lr)
			break;
		rc = publish_batch(c, &cred, k, lr, accepted);
		done += k;
	} while (rc == 0 && done < n);
	mls_credential_free(&cred);
	return rc;
}

/* ---- Stock and top-up --------------------------------------------------------- */

static int count_kp(void *arg, const char *key, struct aim_bytes value)
{
	(void)key;
	(void)value;
	(*(size_t *)arg)++;
	return 0;
}

int client_stock(struct client *c, struct client_stock *out)
{
	memset(out, 0, sizeof *out);
	json_t *resp = NULL;
	char *path = aim_xasprintf("/users/%s/keyPackages/stock", c->user);
	int rc = client_core_call(c, "GET", path, NULL, &resp);
	free(path);
	TRY(rc);
	json_t *devs = json_object_get(resp, "devices");
	size_t i;
	json_t *d;
	bool found = false;
	json_array_foreach(devs, i, d) {
		const char *id = json_string_value(json_object_get(d, "device"));
		if (id && strcmp(id, c->device) == 0) {
			out->available = json_integer_value(json_object_get(d, "available"));
			out->last_resort = json_is_true(json_object_get(d, "lastResort"));
			found = true;
		}
	}
	json_decref(resp);
	(void)found; /* a device with nothing uploaded yet may be absent: 0 */
	return c->io.kv_list(c->io.kv_ctx, KP_PREFIX, count_kp, &out->stored);
}

int client_topup(struct client *c, int64_t threshold, int64_t target, size_t *published)
{
	if (published)
		*published = 0;
	ENSURE(threshold >= 0 && target >= threshold && target <= 1000, AIM_ERR_INVALID,
	       "topup: need 0 <= threshold <= target <= 1000");
	struct client_stock s;
	TRY(client_stock(c, &s));
	size_t n = s.available < threshold ? (size_t)(target - s.available) : 0;
	if (n == 0 && s.last_resort)
		return 0;
	size_t acc = 0;
	int rc = client_publish(c, n, !s.last_resort, &acc);
	if (published)
		*published = acc;
	return rc;
}

/* ---- Claims ---------------------------------------------------------------------- */

void client_claim_results_free(struct client_claim_result *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < r[i].n_kps; k++) {
			aim_buf_free(&r[i].kps[k].message);
			mls_key_package_free(&r[i].kps[k].kp);
		}
		free(r[i].kps);
	}
	free(r);
}

/* RFC 9420 section 10.1 ("Clients MUST verify ... before using a KeyPackage")
 * with the credential bound to the handle it was claimed for. */
static void check_claimed(struct client *c, const char *handle, json_t *item,
			  struct client_claimed *k)
{
	aim_buf_init(&k->message, MLS_MAX_MESSAGE);
	const char *dev = json_string_value(json_object_get(item, "device"));
	snprintf(k->device, sizeof k->device, "%s", dev ? dev : "");
	k->suite = (uint16_t)json_integer_value(json_object_get(item, "cipherSuite"));
	k->last_resort = json_is_true(json_object_get(item, "lastResort"));
	if (client_core_unb64(json_object_get(item, "content"), &k->message) != 0 ||
	    client_core_parse_kp(aim_buf_bytes(&k->message), &k->kp) != 0) {
		snprintf(k->error, sizeof k->error, "undecodable KeyPackage: %s", aim_errmsg());
		return;
	}
	if (k->kp.cipher_suite != c->suite || (k->suite && k->suite != k->kp.cipher_suite)) {
		snprintf(k->error, sizeof k->error, "KeyPackage in suite %u, asked for %u",
			 k->kp.cipher_suite, c->suite);
		return;
	}
	struct client_hook h;
	client_hook_init(&h, c, handle);
	if (mls_key_package_validate_standalone(&k->kp, &h.mls, (uint64_t)client_core_now(c)) !=
	    0) {
		k->verdict = h.last;
		snprintf(k->error, sizeof k->error, "%s", aim_errmsg());
		return;
	}
	k->verdict = h.last;
	k->valid = k->verdict.check != CLIENT_CHECK_NONE;
	if (!k->valid)
		snprintf(k->error, sizeof k->error, "credential not checked");
}

static void remember_actor(struct client *c, const char *handle, const char *actor)
{
	char *key = aim_xasprintf("actor/%s", handle);
	if (c->io.kv_put(c->io.kv_ctx, key, AIM_BYTES(actor, strlen(actor))) != 0)
		aim_errclear();
	free(key);
}

int client_claim(struct client *c, const char *const *handles, size_t n_handles,
		 struct client_claim_result **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	ENSURE(n_handles > 0 && n_handles <= 1000, AIM_ERR_INVALID, "claim: 1..1000 handles");
	json_t *body = json_object(), *hs = json_array(), *resp = NULL;
	for (size_t i = 0; i < n_handles; i++)
		json_array_append_new(hs, json_string(handles[i]));
	json_object_set_new(body, "handles", hs);
	json_t *suites = json_array();
	json_array_append_new(suites, json_integer(c->suite));
	json_object_set_new(body, "cipherSuites", suites);
	char *path = aim_xasprintf("/users/%s/claim", c->user);
	client_core_progress(c, "claiming", 0, n_handles);
	int rc = client_core_call(c, "POST", path, body, &resp);
	free(path);
	json_decref(body);
	TRY(rc);
	json_t *results = json_object_get(resp, "results");
	if (!json_is_array(results)) {
		json_decref(resp);
		return aim_fail(AIM_ERR_REMOTE, "claim answer without results");
	}
	size_t n = json_array_size(results);
	struct client_claim_result *r = aim_xcalloc(n ? n : 1, sizeof *r);
	for (size_t i = 0; i < n; i++) {
		json_t *it = json_array_get(results, i);
		const char *h = json_string_value(json_object_get(it, "handle"));
		const char *actor = json_string_value(json_object_get(it, "actor"));
		const char *err = json_string_value(json_object_get(it, "error"));
		snprintf(r[i].handle, sizeof r[i].handle, "%s", h ? h : "");
		snprintf(r[i].actor, sizeof r[i].actor, "%s", actor ? actor : "");
		const char *det = json_string_value(json_object_get(it, "detail"));
		snprintf(r[i].error, sizeof r[i].error, "%s", err ? err : "");
		snprintf(r[i].detail, sizeof r[i].detail, "%s", det ? det : "");
		if (h && actor && actor[0])
			remember_actor(c, h, actor);
		json_t *kps = json_object_get(it, "keyPackages");
		size_t m = json_is_array(kps) ? json_array_size(kps) : 0;
		if (m > 1000)
			m = 1000;
		r[i].kps = aim_xcalloc(m ? m : 1, sizeof *r[i].kps);
		r[i].n_kps = m;
		for (size_t k = 0; k < m; k++)
			check_claimed(c, r[i].handle, json_array_get(kps, k), &r[i].kps[k]);
		client_core_progress(c, "verifying", i + 1, n);
	}
	json_decref(resp);
	aim_errclear();
	*out = r;
	*n_out = n;
	return 0;
}
