/*
 * The device's MLS groups in the store: one record per group
 * ("group/GIDHEX", JSON; its "state" the serialised mls_group, a secret),
 * the conversation index ("conv/URL"), the history ("msg/GIDHEX/N"), our
 * credential and KeyPackage for groups we create, the members' acct: URIs
 * (from their credentials, through the identity part's check), and the wire
 * form of MLS objects (SWICG: {"type", "mediaType": "message/mls",
 * "encoding": "base64", "content"}).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/core_group_int.h"

struct grp *client_grp_new(struct client *c)
{
	struct grp *gr = aim_xcalloc(1, sizeof *gr);
	client_hook_init(&gr->hook, c, NULL);
	gr->cfg.hook = &gr->hook.mls;
	gr->cfg.now = (uint64_t)client_core_now(c);
	gr->cfg.ratchet_tree_extension = true; /* Welcomes and GroupInfos carry the tree */
	gr->cfg.encrypt_handshake = false;      /* the hub follows PublicMessage commits */
	gr->rec = json_object();
	return gr;
}

void client_grp_free(struct grp *gr)
{
	if (!gr)
		return;
	mls_group_free(gr->g);
	json_decref(gr->rec);
	free(gr);
}

int client_grp_set_id(struct grp *gr)
{
	struct aim_bytes id = mls_group_id(gr->g);
	ENSURE(id.len > 0 && id.len <= 255, AIM_ERR_INVALID, "group id of %zu bytes", id.len);
	struct aim_buf h;
	aim_buf_init(&h, sizeof gr->hex);
	TRY(aim_hex_encode(&h, id.p, id.len));
	snprintf(gr->hex, sizeof gr->hex, "%.*s", (int)h.len, (const char *)h.data);
	aim_buf_free(&h);
	return 0;
}

int client_grp_load(struct client *c, const char *hex, struct grp **out)
{
	*out = NULL;
	char *key = aim_xasprintf(GROUP_PREFIX "%s", hex);
	json_t *rec = NULL;
	int rc = client_core_kv_get_json(c, key, &rec);
	free(key);
	if (rc != 0)
		return -1;
	struct grp *gr = client_grp_new(c);
	json_decref(gr->rec);
	gr->rec = rec;
	snprintf(gr->hex, sizeof gr->hex, "%s", hex);
	struct aim_buf st;
	aim_buf_init(&st, MLS_MAX_GROUP_STATE);
	rc = client_core_unb64(json_object_get(rec, "state"), &st);
	if (rc == 0)
		rc = mls_group_parse(&gr->cfg, st.data, st.len, &gr->g);
	aim_buf_free_secret(&st);
	json_t *sv = json_object_get(rec, "state");
	if (json_is_string(sv))
		aim_wipe((void *)json_string_value(sv), json_string_length(sv));
	json_object_del(rec, "state");
	if (rc != 0) {
		client_grp_free(gr);
		return aim_fail(AIM_ERR_STORAGE, "group %s: %s", hex, aim_errmsg());
	}
	*out = gr;
	return 0;
}

int client_grp_by_conv(struct client *c, const char *conv, struct grp **out)
{
	*out = NULL;
	char *key = aim_xasprintf(CONV_PREFIX "%s", conv);
	json_t *j = NULL;
	int rc = client_core_kv_get_json(c, key, &j);
	free(key);
	if (rc != 0) {
		if (aim_errcode() == AIM_ERR_NOTFOUND)
			return aim_fail(AIM_ERR_NOTFOUND, "no conversation %s here", conv);
		return -1;
	}
	const char *hex = json_string_value(json_object_get(j, "group"));
	rc = hex ? client_grp_load(c, hex, out)
		 : aim_fail(AIM_ERR_STORAGE, "conversation %s without its group", conv);
	json_decref(j);
	return rc;
}

int client_grp_save(struct client *c, struct grp *gr)
{
	struct aim_buf st;
	aim_buf_init(&st, MLS_MAX_GROUP_STATE);
	TRY(mls_group_encode(gr->g, &st));
	json_t *rec = json_deep_copy(gr->rec);
	json_object_set_new(rec, "state", client_core_b64(aim_buf_bytes(&st)));
	aim_buf_free_secret(&st);
	json_object_set_new(rec, "epoch", json_integer((json_int_t)mls_group_epoch(gr->g)));
	char *key = aim_xasprintf(GROUP_PREFIX "%s", gr->hex);
	int rc = client_core_kv_put_json(c, key, rec, true);
	free(key);
	json_t *sv = json_object_get(rec, "state");
	if (json_is_string(sv))
		aim_wipe((void *)json_string_value(sv), json_string_length(sv));
	json_decref(rec);
	const char *conv = json_string_value(json_object_get(gr->rec, "conversation"));
	if (rc == 0 && conv) {
		json_t *ix = json_pack("{s:s}", "group", gr->hex);
		key = aim_xasprintf(CONV_PREFIX "%s", conv);
		rc = client_core_kv_put_json(c, key, ix, false);
		free(key);
		json_decref(ix);
	}
	return rc;
}

int client_grp_credential(struct client *c, struct mls_credential *cred)
{
	memset(cred, 0, sizeof *cred);
	ENSURE(c->cert.len > 0, AIM_ERR_STATE, "this device is not registered yet");
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

int client_grp_own_kp(struct client *c, struct mls_key_package *kp,
		      struct mls_key_package_priv *priv)
{
	struct mls_credential cred;
	TRY(client_grp_credential(c, &cred));
	int64_t now = client_core_now(c);
	int64_t end = now + (int64_t)MLS_KP_DEFAULT_LIFETIME;
	if (c->not_after > 0 && c->not_after < end)
		end = c->not_after;
	struct mls_key_package_params p = {
		.cipher_suite = c->suite,
		.credential = &cred,
		.signature_priv = aim_buf_bytes(&c->sig_sk),
		.not_before = (uint64_t)(now - (int64_t)MLS_KP_DEFAULT_BACKDATE),
		.not_after = (uint64_t)end,
	};
	int rc = mls_key_package_create(&p, kp, priv);
	mls_credential_free(&cred);
	return rc;
}

void client_grp_leaf_acct(struct client *c, struct grp *gr, uint32_t leaf, char *acct, size_t n)
{
	acct[0] = 0;
	const struct mls_leaf_node *ln = mls_tree_leaf(mls_group_tree(gr->g), leaf);
	if (!ln)
		return;
	struct client_verdict v;
	if (client_verify_credential(c, &ln->credential, NULL,
				     AIM_BYTES(ln->signature_key.p, ln->signature_key.len),
				     &v) == 0)
		snprintf(acct, n, "%s", v.acct);
	else
		aim_errclear();
}

int client_grp_leaves_of(struct client *c, struct grp *gr, const char *acct, uint32_t **leaves,
			 size_t *n)
{
	*leaves = NULL;
	*n = 0;
	uint32_t nl = mls_tree_n_leaves(mls_group_tree(gr->g));
	uint32_t *v = aim_xcalloc(nl ? nl : 1, sizeof *v);
	for (uint32_t i = 0; i < nl; i++) {
		char a[CLIENT_ACCT_MAX];
		client_grp_leaf_acct(c, gr, i, a, sizeof a);
		if (a[0] && client_core_acct_equal(a, acct))
			v[(*n)++] = i;
	}
	*leaves = v;
	return 0;
}

int client_grp_history_add(struct client *c, struct grp *gr, const char *sender, const char *type,
			   const char *text, uint64_t epoch, uint64_t seq, const char *id,
			   const char *content)
{
	json_int_t n = json_integer_value(json_object_get(gr->rec, "history")) + 1;
	json_t *e = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "sender", sender ? sender : "",
			      "type", type, "text", text ? text : "", "epoch", (json_int_t)epoch,
			      "seq", (json_int_t)seq, "id", id ? id : "", "content",
			      content ? content : "");
	ENSURE(e != NULL, AIM_ERR_INVALID, "history entry is not UTF-8");
	char *key = aim_xasprintf(MSG_PREFIX "%s/%012lld", gr->hex, (long long)n);
	/* the plaintext: a secret of this device */
	int rc = client_core_kv_put_json(c, key, e, true);
	free(key);
	json_decref(e);
	if (rc == 0)
		json_object_set_new(gr->rec, "history", json_integer(n));
	return rc;
}

json_t *client_grp_mls_object(const char *type, struct aim_bytes msg)
{
	return json_pack("{s:s, s:s, s:s, s:o}", "type", type, "mediaType", "message/mls",
			 "encoding", "base64", "content", client_core_b64(msg));
}

int client_grp_mls_bytes(const json_t *o, struct aim_buf *out)
{
	if (json_is_string(o))
		return client_core_unb64(o, out);
	ENSURE(json_is_object(o), AIM_ERR_DECODE, "no MLS object");
	const char *mt = json_string_value(json_object_get(o, "mediaType"));
	ENSURE(!mt || strcmp(mt, "message/mls") == 0, AIM_ERR_DECODE, "mediaType %s", mt);
	return client_core_unb64(json_object_get(o, "content"), out);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "dmset/..." of a DM we joined: the accts of its tree's leaves. */
int client_grp_dm_index(struct client *c, struct grp *gr)
{
	uint32_t nl = mls_tree_n_leaves(mls_group_tree(gr->g));
	char **v = aim_xcalloc(nl ? nl : 1, sizeof *v);
	size_t n = 0;
	for (uint32_t i = 0; i < nl; i++) {
		char a[CLIENT_ACCT_MAX];
		client_grp_leaf_acct(c, gr, i, a, sizeof a);
		if (a[0])
			v[n++] = aim_xstrdup(a);
	}
	qsort(v, n, sizeof *v, cmp_str);
	struct aim_buf key;
	aim_buf_init(&key, 1 << 20);
	int rc = aim_buf_append_str(&key, "dmset/");
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!i || !client_core_acct_equal(v[i], v[i - 1]))
			rc = aim_buf_printf(&key, "%s%s", i ? "," : "", v[i]);
	if (rc == 0)
		rc = aim_buf_append_byte(&key, 0);
	const char *conv = json_string_value(json_object_get(gr->rec, "conversation"));
	if (rc == 0 && conv) {
		json_t *j = json_pack("{s:s}", "conversation", conv);
		rc = client_core_kv_put_json(c, (const char *)key.data, j, false);
		json_decref(j);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	aim_buf_free(&key);
	return rc;
}
