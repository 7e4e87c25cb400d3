/*
 * Joining the conversations of the account that this device is not in
 * (client.h, "Joining by external commit"): a new device of an account
 * that has conversations, and a device that fell too far behind in one.
 *
 * Finding them: the server keeps the account's inbox, which every device
 * of it pages (client_sync). An item of a conversation this device has no
 * group for (a channel's Announce, a Welcome for another device of ours)
 * names the conversation: it is noted under "unjoined/URL". A group whose
 * handshake could not be applied (a Commit this device cannot process: a
 * state restored from an old backup, keys it no longer has) is marked
 * "behind" in its record and noted under "behind/HEX".
 *
 * Joining: RFC 9420 section 12.4.3.2: "External Commits are a mechanism
 * for new members (external parties that want to become members of the
 * group) to add themselves to a group, without requiring that an existing
 * member has to come online to issue a Commit that references an Add
 * Proposal." The GroupInfo (with external_pub and the ratchet tree) is the
 * hub's, GET CONVERSATION/groupInfo (through the home server's proxy for
 * another domain's channel); our new leaf is a fresh KeyPackage's LeafNode
 * with our x509 credential; the Commit goes to the hub like any other
 * (a Create of a PublicMessage addressed to the conversation, with the
 * GroupInfo of the new epoch), and the hub takes it only for a device of
 * an actor who is a member (issue 11 point 5; hub.h HUB_COMMIT). A device
 * that fell behind rejoins the same way with its old leaf removed in the
 * same Commit (section 12.4.3.2: "If a Remove proposal is present, ...
 * the removed leaf ... MUST [be] the same ... as the joiner": a resync),
 * keeping its history. When the hub gives no GroupInfo or refuses the
 * external join, the device says so and waits for a Welcome from another
 * device of the account (`aim invite CONVERSATION OWN-HANDLE` there adds
 * the devices a conversation lacks), which client_sync joins as any
 * Welcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/core_group_int.h"

#define UNJOINED_PREFIX "unjoined/"
#define BEHIND_PREFIX "behind/"

int client_rejoin_note_unjoined(struct client *c, const char *conv, const char *kind)
{
	if (!conv || !*conv)
		return 0;
	char *key = aim_xasprintf(CONV_PREFIX "%s", conv);
	json_t *j = NULL;
	int rc = client_core_kv_get_json(c, key, &j);
	free(key);
	json_decref(j);
	if (rc == 0)
		return 0; /* ours already */
	aim_errclear();
	key = aim_xasprintf(UNJOINED_PREFIX "%s", conv);
	rc = client_core_kv_get_json(c, key, &j);
	if (rc == 0) {
		json_decref(j);
		free(key);
		return 0;
	}
	aim_errclear();
	j = json_pack("{s:s, s:s}", "conversation", conv, "kind", kind);
	rc = client_core_kv_put_json(c, key, j, false);
	json_decref(j);
	free(key);
	return rc;
}

int client_rejoin_check_commit(struct client *c, struct grp *gr, struct aim_bytes msg,
			       uint64_t epoch, bool refused)
{
	const char *mine = json_string_value(json_object_get(gr->rec, "externalCommit"));
	if (!mine ||
	    (uint64_t)json_integer_value(json_object_get(gr->rec, "externalEpoch")) != epoch)
		return 0;
	uint8_t h[32];
	TRY(aim_sha256(msg, h));
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	bool ours = strcmp(hex, mine) == 0;
	if (ours && !refused) {
		/* the hub took it: the state we hold is the group's */
		json_object_del(gr->rec, "externalCommit");
		json_object_del(gr->rec, "externalEpoch");
		return 0;
	}
	if (!ours && refused)
		return 0;
	if (!ours) {
		/* only a Commit takes the epoch (a proposal may come first) */
		struct mls_message m;
		memset(&m, 0, sizeof m);
		if (mls_message_parse(msg.p, msg.len, &m) != 0) {
			aim_errclear();
			return 0;
		}
		uint8_t ct = m.wire_format == MLS_WIRE_PUBLIC_MESSAGE ? m.public_message.content.content_type
			     : m.wire_format == MLS_WIRE_PRIVATE_MESSAGE ? m.private_message.content_type
									  : 0;
		mls_message_free(&m);
		if (ct != MLS_CONTENT_COMMIT)
			return 0;
	}
	/* refused, or another Commit was first in that epoch: the hub never
	 * took our state; join again, with no old leaf of ours to remove */
	json_object_del(gr->rec, "externalCommit");
	json_object_del(gr->rec, "externalEpoch");
	json_object_set_new(gr->rec, "resync", json_false());
	return client_rejoin_note_behind(
		c, gr,
		refused ? "the hub refused this device's external commit"
			: "another commit won the epoch of this device's external commit");
}

int client_rejoin_note_behind(struct client *c, struct grp *gr, const char *why)
{
	if (json_is_true(json_object_get(gr->rec, "behind")))
		return 0;
	json_object_set_new(gr->rec, "behind", json_true());
	json_object_set_new(gr->rec, "behindWhy", json_string(why));
	char *key = aim_xasprintf(BEHIND_PREFIX "%s", gr->hex);
	json_t *j = json_pack("{s:s}", "group", gr->hex);
	int rc = client_core_kv_put_json(c, key, j, false);
	json_decref(j);
	free(key);
	return rc;
}

/* GET of a document at the conversation's server: ours directly, another
 * domain's through the proxy. */
static int get_doc(struct client *c, const char *url, json_t **out)
{
	*out = NULL;
	size_t sl = strlen(c->server);
	if (strncmp(url, c->server, sl) == 0 && url[sl] == '/')
		return client_core_call(c, "GET", url, NULL, out);
	struct aim_buf body;
	aim_buf_init(&body, CLIENT_MAX_RESPONSE);
	int rc = client_proxy_get(c, url, "application/activity+json", &body);
	if (rc == 0) {
		*out = json_loadb((const char *)body.data, body.len, 0, NULL);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = aim_fail(AIM_ERR_REMOTE, "%s: not a JSON object", url);
		}
	}
	aim_buf_free(&body);
	return rc;
}

/* External commit into conv; old: the group we fell behind in (its leaf
 * removed in the same Commit, its record kept), or NULL for a new one. */
static int external_join(struct client *c, const char *conv, const char *kind, struct grp *old,
			 uint64_t *epoch)
{
	char *url = aim_xasprintf("%s/groupInfo", conv);
	json_t *doc = NULL;
	int rc = get_doc(c, url, &doc);
	free(url);
	if (rc != 0)
		return -1;
	struct aim_buf gi, tree, commit, ngi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	aim_buf_init(&tree, MLS_MAX_MESSAGE);
	aim_buf_init(&commit, MLS_MAX_MESSAGE);
	aim_buf_init(&ngi, MLS_MAX_MESSAGE);
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	struct grp *gr = old ? old : client_grp_new(c);
	struct mls_group *ng = NULL;
	TRY_GOTO(client_grp_mls_bytes(doc, &gi), out);
	if (json_is_string(json_object_get(doc, "aim:ratchetTree")))
		TRY_GOTO(client_core_unb64(json_object_get(doc, "aim:ratchetTree"), &tree), out);
	TRY_GOTO(client_grp_own_kp(c, &kp, &priv), out);
	/* our old leaf goes in the same Commit, unless the group never took
	 * the state we hold (our earlier external commit lost) */
	uint32_t resync = old && old->g && !json_is_false(json_object_get(old->rec, "resync"))
				  ? mls_group_own_leaf(old->g)
				  : MLS_NO_LEAF;
	TRY_GOTO(mls_group_join_external(&gr->cfg, aim_buf_bytes(&gi), aim_buf_bytes(&tree), &kp,
					 &priv, resync, NULL, 0, &commit, &ng),
		 out);
	if (old) {
		struct aim_bytes a = mls_group_id(ng), b = mls_group_id(old->g);
		ENSURE_GOTO(a.len == b.len && memcmp(a.p, b.p, a.len) == 0, out, AIM_ERR_INVALID,
			    "the GroupInfo of %s is of another group", conv);
	}
	TRY_GOTO(mls_group_group_info(ng, true, true, &ngi), out);
	client_core_progress(c, "joining", 0, 1);
	json_t *act = json_pack("{s:s, s:[s], s:o, s:I, s:o}", "type", "Create", "to", conv,
				"object", client_grp_mls_object("PublicMessage", aim_buf_bytes(&commit)),
				"aim:epoch", (json_int_t)(mls_group_epoch(ng) - 1), "aim:groupInfo",
				client_grp_mls_object("GroupInfo", aim_buf_bytes(&ngi)));
	char *path = aim_xasprintf("/users/%s/outbox", c->user);
	rc = client_core_call(c, "POST", path, act, NULL);
	free(path);
	json_decref(act);
	if (rc != 0)
		goto out;
	/* the hub took it: this is our state now */
	mls_group_free(gr->g);
	gr->g = ng;
	ng = NULL;
	*epoch = mls_group_epoch(gr->g);
	if (!old) {
		TRY_GOTO(client_grp_set_id(gr), out);
		json_object_set_new(gr->rec, "kind", json_string(kind));
		json_object_set_new(gr->rec, "conversation", json_string(conv));
		json_object_set_new(gr->rec, "members", json_object());
	}
	/* the sequence starts at our Commit's Announce, the next one we get */
	json_object_set_new(gr->rec, "seq", json_integer(0));
	json_object_set_new(gr->rec, "base", json_false());
	json_object_set_new(gr->rec, "buffer", json_array());
	json_object_del(gr->rec, "behind");
	json_object_del(gr->rec, "behindWhy");
	json_object_del(gr->rec, "resync");
	json_object_del(gr->rec, "pendingSince");
	/* taken by the hub only once its Announce comes back first in its
	 * epoch (client_rejoin_check_commit) */
	uint8_t h[32];
	TRY_GOTO(aim_sha256(aim_buf_bytes(&commit), h), out);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	json_object_set_new(gr->rec, "externalCommit", json_string(hex));
	json_object_set_new(gr->rec, "externalEpoch", json_integer((json_int_t)(*epoch - 1)));
	TRY_GOTO(client_trust_refresh(c, gr, old != NULL, 0), out);
	char *d = old ? aim_xasprintf("this device rejoined by external commit at epoch %llu",
				      (unsigned long long)*epoch)
		      : aim_xasprintf("this device joined by external commit at epoch %llu",
				      (unsigned long long)*epoch);
	rc = client_grp_history_add(c, gr, c->acct, old ? "rejoined" : "joined", d, *epoch, 0, NULL,
				    NULL);
	free(d);
	if (rc == 0)
		rc = client_grp_save(c, gr);
	if (rc == 0 && strcmp(kind, "dm") == 0)
		rc = client_grp_dm_index(c, gr);
out:
	mls_group_free(ng);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	aim_buf_free(&gi);
	aim_buf_free(&tree);
	aim_buf_free(&commit);
	aim_buf_free(&ngi);
	json_decref(doc);
	if (!old)
		client_grp_free(gr);
	return rc;
}

struct keys {
	char **v;
	size_t n;
};

static int key_fn(void *arg, const char *key, struct aim_bytes value)
{
	(void)value;
	struct keys *k = arg;
	k->v = aim_xrealloc(k->v, (k->n + 1) * sizeof *k->v);
	k->v[k->n++] = aim_xstrdup(key);
	return 0;
}

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

static struct client_join_result *add_result(struct client_join_result **out, size_t *n,
					     const char *conv)
{
	*out = aim_xrealloc(*out, (*n + 1) * sizeof **out);
	struct client_join_result *r = &(*out)[(*n)++];
	memset(r, 0, sizeof *r);
	snprintf(r->conversation, sizeof r->conversation, "%s", conv);
	return r;
}

int client_join_conversations(struct client *c, bool behind_only,
			      struct client_join_result **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct keys k = { 0 };
	int rc = 0;
	/* devices that fell behind: a resync by external commit */
	TRY_GOTO(c->io.kv_list(c->io.kv_ctx, BEHIND_PREFIX, key_fn, &k), out);
	for (size_t i = 0; i < k.n; i++) {
		struct grp *gr = NULL;
		if (client_grp_load(c, k.v[i] + strlen(BEHIND_PREFIX), &gr) != 0) {
			aim_errclear();
			if (c->io.kv_del(c->io.kv_ctx, k.v[i]) != 0)
				aim_errclear();
			continue;
		}
		const char *conv = json_string_value(json_object_get(gr->rec, "conversation"));
		const char *kind = json_string_value(json_object_get(gr->rec, "kind"));
		struct client_join_result *r = add_result(out, n, conv ? conv : "");
		snprintf(r->how, sizeof r->how, "rejoin");
		snprintf(r->why, sizeof r->why, "%s",
			 json_string_value(json_object_get(gr->rec, "behindWhy")) ?: "fell behind");
		if (conv && kind && json_is_true(json_object_get(gr->rec, "behind")) &&
		    external_join(c, conv, kind, gr, &r->epoch) == 0) {
			r->joined = true;
			if (c->io.kv_del(c->io.kv_ctx, k.v[i]) != 0)
				aim_errclear();
		} else {
			snprintf(r->error, sizeof r->error, "%s", aim_errmsg());
			aim_errclear();
		}
		client_grp_free(gr);
	}
	keys_free(&k);
	memset(&k, 0, sizeof k);
	if (behind_only)
		goto out;
	/* conversations of the account this device is not in */
	TRY_GOTO(c->io.kv_list(c->io.kv_ctx, UNJOINED_PREFIX, key_fn, &k), out);
	int64_t now = client_core_now(c);
	for (size_t i = 0; i < k.n; i++) {
		json_t *e = NULL;
		if (client_core_kv_get_json(c, k.v[i], &e) != 0) {
			aim_errclear();
			continue;
		}
		const char *conv = json_string_value(json_object_get(e, "conversation"));
		const char *kind = json_string_value(json_object_get(e, "kind")) ?: "channel";
		struct grp *have = NULL;
		if (!conv || client_grp_by_conv(c, conv, &have) == 0) {
			/* joined meanwhile (a Welcome came) */
			client_grp_free(have);
			if (c->io.kv_del(c->io.kv_ctx, k.v[i]) != 0)
				aim_errclear();
			json_decref(e);
			continue;
		}
		aim_errclear();
		struct client_join_result *r = add_result(out, n, conv);
		if (external_join(c, conv, kind, NULL, &r->epoch) == 0) {
			snprintf(r->how, sizeof r->how, "external");
			r->joined = true;
			if (c->io.kv_del(c->io.kv_ctx, k.v[i]) != 0)
				aim_errclear();
		} else {
			/* no GroupInfo, or the hub refuses external joins: a
			 * Welcome from another device of ours is the way */
			snprintf(r->how, sizeof r->how, "welcome");
			snprintf(r->error, sizeof r->error, "%s", aim_errmsg());
			aim_errclear();
			json_object_set_new(e, "triedAt", json_integer(now));
			json_object_set_new(e, "refused", json_string(r->error));
			if (client_core_kv_put_json(c, k.v[i], e, false) != 0)
				aim_errclear();
		}
		json_decref(e);
	}
out:
	keys_free(&k);
	return rc;
}
