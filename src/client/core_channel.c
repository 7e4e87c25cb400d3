/*
 * Channels and group DMs, the calls that change a group (client.h,
 * "Channels and group DMs"): create, add, remove, send, DM; the history.
 * The inbound side is core_channel_sync.c.
 *
 * Issue 11 "Creation": "the creator's device makes the MLS group, claims
 * KeyPackages for the first members, and posts the channel's Create
 * carrying the Welcome". "Add / Remove": "an Add or Remove whose target is
 * the channel's followers carries the Commit as a PublicMessage (and for
 * Add, the Welcome) ... A commit for another epoch gets 409 with the
 * current epoch". Our Commit stays pending (mls_group_commit) until the
 * hub's Announce of it comes back in sequence order, so that every message
 * the hub ordered before it is still decrypted in its epoch; the Create's
 * first commit has no hub yet and is merged on the 201.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/core_group_int.h"

static char *self_actor(struct client *c)
{
	return aim_xasprintf("%s/users/%s", c->server, c->user);
}

static int post_outbox(struct client *c, json_t *act, json_t **resp)
{
	char *path = aim_xasprintf("/users/%s/outbox", c->user);
	int rc = client_core_call(c, "POST", path, act, resp);
	free(path);
	return rc;
}

/* KeyPackages of the handles, one per device (shallow copies into
 * claimed's storage), with their actors. */
struct adds {
	struct client_claim_result *res;
	size_t n_res;
	struct mls_key_package *kps; /* shallow: owned by res */
	size_t n;
	json_t *actors;              /* array of actor URLs */
	json_t *members;             /* acct -> actor */
};

static void adds_free(struct adds *a)
{
	client_claim_results_free(a->res, a->n_res);
	free(a->kps);
	json_decref(a->actors);
	json_decref(a->members);
	memset(a, 0, sizeof *a);
}

static int claim_adds(struct client *c, const char *const *handles, size_t n, struct adds *a)
{
	memset(a, 0, sizeof *a);
	a->actors = json_array();
	a->members = json_object();
	ENSURE(n <= CLIENT_MAX_MEMBERS, AIM_ERR_LIMIT, "at most %d members at once",
	       CLIENT_MAX_MEMBERS);
	if (n == 0)
		return 0;
	TRY(client_claim(c, handles, n, &a->res, &a->n_res));
	size_t total = 0;
	for (size_t i = 0; i < a->n_res; i++)
		total += a->res[i].n_kps;
	a->kps = aim_xcalloc(total ? total : 1, sizeof *a->kps);
	for (size_t i = 0; i < a->n_res; i++) {
		struct client_claim_result *r = &a->res[i];
		ENSURE(!r->error[0], AIM_ERR_NOTFOUND, "%s: %s %s", r->handle, r->error, r->detail);
		size_t got = 0;
		for (size_t k = 0; k < r->n_kps; k++)
			if (r->kps[k].valid) {
				a->kps[a->n++] = r->kps[k].kp;
				got++;
			}
		ENSURE(got > 0, AIM_ERR_NOTFOUND, "%s: no valid KeyPackage (%s)", r->handle,
		       r->n_kps ? r->kps[0].error : "none claimed");
		ENSURE(r->actor[0], AIM_ERR_REMOTE, "%s: the server named no actor", r->handle);
		json_array_append_new(a->actors, json_string(r->actor));
		json_object_set_new(a->members, r->handle, json_string(r->actor));
	}
	return 0;
}

static void merge_members(json_t *rec, json_t *members)
{
	json_t *m = json_object_get(rec, "members");
	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(rec, "members", m);
	}
	json_object_update(m, members);
}

/* A fresh one-member group of ours. */
static int new_group(struct client *c, struct grp *gr)
{
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	int rc = client_grp_own_kp(c, &kp, &priv);
	if (rc == 0)
		rc = mls_group_create(&gr->cfg, AIM_BYTES(NULL, 0), &kp, &priv, NULL, &gr->g);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	if (rc == 0)
		rc = client_grp_set_id(gr);
	return rc;
}

/* Commits the Adds (epoch 0 -> 1) and merges at once: the first commit of
 * a new group, which the hub learns from the GroupInfo. */
static int first_commit(struct grp *gr, struct adds *a, struct mls_commit_result *res,
			struct aim_buf *gi)
{
	struct mls_commit_params p = {
		.adds = a->kps, .n_adds = a->n, .wire_format = 1, .tree_in_welcome = true,
	};
	TRY(mls_group_commit(gr->g, &p, res));
	TRY(mls_group_merge_pending(gr->g));
	return mls_group_group_info(gr->g, true, true, gi);
}

/* The channel's URL in the server's answer to the Create: the created
 * Group's (or DM's) own JSON ({"id", "type": "Group" | "aim:GroupDM"}),
 * else a Create's object.id, else aim:channel (the Location header is not
 * seen by the core). */
static const char *created_url(json_t *resp)
{
	const char *t = json_string_value(json_object_get(resp, "type"));
	if (t && (!strcmp(t, "Group") || !strcmp(t, "Service") || !strcmp(t, "aim:GroupDM")))
		return json_string_value(json_object_get(resp, "id"));
	json_t *o = json_object_get(resp, "object");
	const char *u = json_is_object(o) ? json_string_value(json_object_get(o, "id"))
					  : json_string_value(o);
	if (!u)
		u = json_string_value(json_object_get(resp, "aim:channel"));
	return u;
}

int client_channel_create(struct client *c, const char *name, const char *const *handles,
			  size_t n, char *url, size_t url_len)
{
	if (url_len)
		url[0] = 0;
	struct grp *gr = client_grp_new(c);
	struct adds a;
	struct mls_commit_result res;
	mls_commit_result_init(&res);
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	json_t *resp = NULL;
	int rc = -1;
	memset(&a, 0, sizeof a);
	TRY_GOTO(claim_adds(c, handles, n, &a), out);
	TRY_GOTO(new_group(c, gr), out);
	client_core_progress(c, "committing", 0, a.n);
	TRY_GOTO(first_commit(gr, &a, &res, &gi), out);
	client_core_progress(c, "sending", 0, 1);
	json_t *act = json_pack("{s:s, s:{s:s, s:s, s:{s:s}}, s:O, s:o, s:o}", "type", "Create",
				"object", "type", "Group", "name", name ? name : "", "aim:policy",
				"membership", "owner", "aim:members", a.actors, "aim:groupInfo",
				client_grp_mls_object("GroupInfo", aim_buf_bytes(&gi)), "instrument",
				client_grp_mls_object("PublicMessage", aim_buf_bytes(&res.commit)));
	ENSURE_GOTO(act != NULL, out, AIM_ERR_INVALID, "channel name is not UTF-8");
	if (res.welcome.len)
		json_object_set_new(act, "aim:welcome",
				    client_grp_mls_object("Welcome", aim_buf_bytes(&res.welcome)));
	rc = post_outbox(c, act, &resp);
	json_decref(act);
	if (rc != 0)
		goto out;
	const char *u = created_url(resp);
	ENSURE_GOTO(u && *u, out, AIM_ERR_REMOTE, "the server's answer names no channel");
	json_object_set_new(gr->rec, "kind", json_string("channel"));
	json_object_set_new(gr->rec, "conversation", json_string(u));
	json_object_set_new(gr->rec, "name", json_string(name ? name : ""));
	json_object_set_new(gr->rec, "owner", json_string(c->acct));
	/* the channel is new: its first fanned-out activity is sequence 1 */
	json_object_set_new(gr->rec, "seq", json_integer(0));
	json_object_set_new(gr->rec, "base", json_true());
	merge_members(gr->rec, a.members);
	rc = client_trust_refresh(c, gr, false, 0); /* the baseline */
	if (rc == 0)
		rc = client_grp_save(c, gr);
	if (rc == 0 && url_len)
		snprintf(url, url_len, "%s", u);
out:
	json_decref(resp);
	adds_free(&a);
	mls_commit_result_free(&res);
	aim_buf_free(&gi);
	client_grp_free(gr);
	return rc;
}

/* ---- Add / Remove ---------------------------------------------------------------- */

static int change(struct client *c, const char *channel, bool add, const char *const *handles,
		  size_t n, struct adds *a, json_t *objects)
{
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, channel, &gr));
	uint32_t *rm = NULL;
	size_t n_rm = 0;
	struct mls_commit_result res;
	mls_commit_result_init(&res);
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	json_t *act = NULL;
	int rc = -1;
	ENSURE_GOTO(mls_group_active(gr->g), out, AIM_ERR_STATE, "we are no longer in %s",
		    channel);
	if (mls_group_has_pending(gr->g))
		mls_group_discard_pending(gr->g); /* a change of ours the hub never took */
	if (add) {
		/* a member already in the group is invited again for its new
		 * devices: the KeyPackages of devices in the tree are left out */
		const struct mls_tree *t = mls_group_tree(gr->g);
		size_t keep = 0;
		for (size_t k = 0; k < a->n; k++) {
			const struct mls_bytes *sk = &a->kps[k].leaf_node.signature_key;
			bool in_tree = false;
			for (uint32_t l = 0; l < mls_tree_n_leaves(t) && !in_tree; l++) {
				const struct mls_leaf_node *ln = mls_tree_leaf(t, l);
				in_tree = ln && ln->signature_key.len == sk->len &&
					  memcmp(ln->signature_key.p, sk->p, sk->len) == 0;
			}
			if (!in_tree)
				a->kps[keep++] = a->kps[k];
		}
		a->n = keep;
		ENSURE_GOTO(a->n > 0, out, AIM_ERR_EXISTS,
			    "every device of the handles is in %s already", channel);
	}
	if (!add) {
		for (size_t i = 0; i < n; i++) {
			uint32_t *l = NULL;
			size_t nl = 0;
			TRY_GOTO(client_grp_leaves_of(c, gr, handles[i], &l, &nl), out);
			if (nl == 0) {
				free(l);
				rc = aim_fail(AIM_ERR_NOTFOUND, "%s is not in %s", handles[i], channel);
				goto out;
			}
			rm = realloc(rm, (n_rm + nl) * sizeof *rm);
			memcpy(rm + n_rm, l, nl * sizeof *l);
			n_rm += nl;
			free(l);
		}
	}
	struct mls_commit_params p = {
		.adds = add ? a->kps : NULL, .n_adds = add ? a->n : 0,
		.removes = rm, .n_removes = n_rm,
		.include_pending = true, /* pending self-removals must ride along */
		.wire_format = 1, .tree_in_welcome = true,
	};
	client_core_progress(c, "committing", 0, add ? a->n : n_rm);
	TRY_GOTO(mls_group_commit(gr->g, &p, &res), out);
	client_core_progress(c, "sending", 0, 1);
	char *me = self_actor(c);
	char *followers = aim_xasprintf("%s/followers", channel);
	act = json_pack("{s:s, s:s, s:[s], s:O, s:s, s:o, s:o}", "type", add ? "Add" : "Remove",
			"actor", me, "to", channel, "object", objects, "target", followers,
			"instrument", client_grp_mls_object("PublicMessage", aim_buf_bytes(&res.commit)),
			"aim:epoch", json_integer((json_int_t)mls_group_epoch(gr->g)));
	free(me);
	free(followers);
	/* one member: its IRI (a remote hub's outbox path takes no array of one) */
	if (json_array_size(objects) == 1)
		json_object_set(act, "object", json_array_get(objects, 0));
	if (res.welcome.len)
		json_object_set_new(act, "aim:welcome",
				    client_grp_mls_object("Welcome", aim_buf_bytes(&res.welcome)));
	if (res.group_info.len)
		json_object_set_new(act, "aim:groupInfo",
				    client_grp_mls_object("GroupInfo", aim_buf_bytes(&res.group_info)));
	/* the pending commit is durable before it can be accepted */
	json_object_set_new(gr->rec, "pendingSince", json_integer(client_core_now(c)));
	TRY_GOTO(client_grp_save(c, gr), out);
	rc = post_outbox(c, act, NULL);
	if (rc != 0) {
		/* a 409 from the hub is the stale epoch (the contract's
		 * "stale_epoch" with aim:currentEpoch): AIM_ERR_CONFLICT */
		int e = c->server_status == 409 ? AIM_ERR_CONFLICT : aim_errcode();
		char *why = aim_xstrdup(aim_errmsg());
		mls_group_discard_pending(gr->g);
		json_object_del(gr->rec, "pendingSince");
		if (client_grp_save(c, gr) != 0)
			aim_errclear();
		aim_fail(e, "%s", why);
		free(why);
		goto out;
	}
	if (add)
		merge_members(gr->rec, a->members);
	else {
		json_t *m = json_object_get(gr->rec, "members");
		for (size_t i = 0; i < n; i++)
			json_object_del(m, handles[i]);
	}
	rc = client_grp_save(c, gr);
out:
	free(rm);
	json_decref(act);
	mls_commit_result_free(&res);
	aim_buf_free(&gi);
	client_grp_free(gr);
	return rc;
}

/* The actor of a member: as we recorded it, else as the identity part
 * learnt it ("actor/ACCT"). */
static int actor_of(struct client *c, const char *channel, const char *acct, json_t *objects)
{
	struct grp *gr = NULL;
	if (client_grp_by_conv(c, channel, &gr) == 0) {
		const char *u = json_string_value(
			json_object_get(json_object_get(gr->rec, "members"), acct));
		if (u) {
			json_array_append_new(objects, json_string(u));
			client_grp_free(gr);
			return 0;
		}
		client_grp_free(gr);
	}
	aim_errclear();
	struct aim_buf v;
	aim_buf_init(&v, 2048);
	char *key = aim_xasprintf("actor/%s", acct);
	int rc = c->io.kv_get(c->io.kv_ctx, key, &v);
	free(key);
	if (rc == 0)
		json_array_append_new(objects, json_stringn((const char *)v.data, v.len));
	aim_buf_free(&v);
	if (rc != 0)
		return aim_fail(AIM_ERR_NOTFOUND, "the actor of %s is not known here", acct);
	return 0;
}

static int change_retry(struct client *c, const char *channel, bool add,
			const char *const *handles, size_t n)
{
	struct adds a;
	memset(&a, 0, sizeof a);
	json_t *objects = NULL;
	int rc = -1;
	if (add) {
		TRY_GOTO(claim_adds(c, handles, n, &a), out);
		objects = json_incref(a.actors);
	} else {
		objects = json_array();
		for (size_t i = 0; i < n; i++)
			TRY_GOTO(actor_of(c, channel, handles[i], objects), out);
	}
	rc = change(c, channel, add, handles, n, &a, objects);
	if (rc != 0 && aim_errcode() == AIM_ERR_CONFLICT) {
		/* "the loser gets 409, retries on the new epoch and succeeds" */
		struct client_sync_stats st;
		TRY_GOTO(client_sync(c, &st), out);
		rc = change(c, channel, add, handles, n, &a, objects);
	}
out:
	json_decref(objects);
	adds_free(&a);
	return rc;
}

int client_channel_add(struct client *c, const char *channel, const char *const *handles,
		       size_t n)
{
	ENSURE(n > 0, AIM_ERR_INVALID, "add: no handle");
	return change_retry(c, channel, true, handles, n);
}

int client_channel_remove(struct client *c, const char *channel, const char *const *handles,
			  size_t n)
{
	ENSURE(n > 0, AIM_ERR_INVALID, "remove: no handle");
	return change_retry(c, channel, false, handles, n);
}

/* ---- Messages ---------------------------------------------------------------------- */

/* Our messages by the SHA-256 of their MLSMessage, with their content:
 * it enters the history when the hub's Announce of it comes back, so that
 * the history follows the hub's order ("" once shown). */
static void remember_sent(json_t *rec, struct aim_bytes msg, const char *text)
{
	uint8_t h[32];
	if (aim_sha256(msg, h) != 0) {
		aim_errclear();
		return;
	}
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	json_t *s = json_object_get(rec, "sent");
	if (!json_is_object(s)) {
		s = json_object();
		json_object_set_new(rec, "sent", s);
	}
	json_object_set_new(s, hex, json_string(text));
	while (json_object_size(s) > CLIENT_SEEN_MAX) {
		/* the oldest go first: keys carry no order, drop any one that was
		 * shown already */
		const char *k;
		json_t *v;
		const char *drop = NULL;
		json_object_foreach(s, k, v)
			if (!drop || !*json_string_value(v))
				drop = k;
		json_object_del(s, drop);
	}
}

/* Encrypts the content (JSON text) in gr, keeps the state and history,
 * posts act + object. text: what the history shows for it. */
static int send_in(struct client *c, struct grp *gr, const char *content_json, const char *text,
		   json_t *act)
{
	char *pt = aim_xstrdup(content_json);
	struct aim_buf msg;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	int rc = mls_group_encrypt(gr->g, AIM_BYTES(NULL, 0), AIM_BYTES(pt, strlen(pt)), &msg);
	aim_wipe(pt, strlen(pt));
	free(pt);
	if (rc != 0)
		goto out;
	(void)text;
	remember_sent(gr->rec, aim_buf_bytes(&msg), content_json);
	/* the ratchet moved: durable before the message leaves (no key reuse) */
	TRY_GOTO(client_grp_save(c, gr), out);
	json_object_set_new(act, "object",
			    client_grp_mls_object("PrivateMessage", aim_buf_bytes(&msg)));
	rc = post_outbox(c, act, NULL);
out:
	aim_buf_free(&msg);
	return rc;
}

/* The content's JSON text (docs/content.md): a text message with a fresh
 * id, or the caller's content checked by the decoder (unknown types pass).
 * shown: its text, for the caller's information. */
static int content_of(const char *text, bool raw, char **json, char **shown)
{
	*json = *shown = NULL;
	struct client_content m;
	memset(&m, 0, sizeof m);
	struct aim_buf b;
	aim_buf_init(&b, CLIENT_CONTENT_TEXT_MAX + 4096);
	int rc;
	if (!raw) {
		m.type = CLIENT_CONTENT_TEXT;
		m.text = (char *)text;
		rc = client_content_new_id(m.id);
		if (rc == 0)
			rc = client_content_encode(&m, &b);
		m.text = NULL;
	} else {
		rc = client_content_decode(AIM_BYTES(text, strlen(text)), &m);
		if (rc != 0)
			rc = aim_fail(AIM_ERR_INVALID, "content: %s", aim_errmsg());
		else
			rc = aim_buf_append_str(&b, text);
	}
	if (rc == 0) {
		*json = aim_xasprintf("%.*s", (int)b.len, (const char *)b.data);
		*shown = aim_xstrdup(raw ? (m.text ? m.text : "") : text);
	}
	client_content_free(&m);
	aim_buf_free(&b);
	return rc;
}

static int send_conv(struct client *c, const char *conversation, const char *text, bool raw);

int client_send(struct client *c, const char *conversation, const char *text)
{
	return send_conv(c, conversation, text, false);
}

int client_send_content(struct client *c, const char *conversation, const char *content_json)
{
	return send_conv(c, conversation, content_json, true);
}

/* A channel's old host answered 410 (docs/channels.md: it decides nothing
 * once moved): its actor's movedTo followed (core_move.c), the same
 * message posted once more to the new actor. */
static int send_moved(struct client *c, struct grp *gr, json_t *act)
{
	char why[512];
	snprintf(why, sizeof why, "%s", aim_errmsg());
	bool moved = false;
	if (strcmp(json_string_value(json_object_get(gr->rec, "kind")) ?: "", "channel") != 0 ||
	    client_move_follow(c, gr, NULL, &moved) != 0 || !moved)
		return aim_fail(AIM_ERR_GONE, "%s", why);
	json_object_set_new(act, "to", json_pack("[s]", json_string_value(json_object_get(
							       gr->rec, "conversation"))));
	return post_outbox(c, act, NULL);
}

static int send_conv(struct client *c, const char *conversation, const char *text, bool raw)
{
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, conversation, &gr));
	int rc = -1;
	json_t *act = NULL;
	ENSURE_GOTO(mls_group_active(gr->g), out, AIM_ERR_STATE, "we are no longer in %s",
		    conversation);
	ENSURE_GOTO(!json_is_true(json_object_get(gr->rec, "left")), out, AIM_ERR_STATE,
		    "this device left %s", conversation);
	/* to the hub (a channel, or the DM's hub at its creator's server),
	 * which fans it out to the members in its order */
	/* a channel hosted elsewhere: its actor may say movedTo (our server
	 * takes the message for federation whatever the old host would
	 * answer, so no 410 comes back): followed before sending */
	const char *cv = json_string_value(json_object_get(gr->rec, "conversation"));
	if (cv && !strcmp(json_string_value(json_object_get(gr->rec, "kind")) ?: "", "channel") &&
	    !(aim_str_has_prefix(cv, c->server) && cv[strlen(c->server)] == '/')) {
		bool moved = false;
		if (client_move_follow(c, gr, NULL, &moved) != 0) {
			if (aim_errcode() == AIM_ERR_STORAGE)
				goto out;
			aim_errclear(); /* not known now: sent as before */
		}
	}
	/* the actor it goes to now (a channel that moved: core_move.c) */
	const char *to = json_object_get(gr->rec, "movedFrom")
				 ? json_string_value(json_object_get(gr->rec, "conversation"))
				 : NULL;
	act = json_pack("{s:s, s:[s]}", "type", "Create", "to", to ? to : conversation);
	char *cj = NULL, *shown = NULL;
	rc = content_of(text, raw, &cj, &shown);
	if (rc == 0)
		rc = send_in(c, gr, cj, shown, act);
	if (rc != 0 && aim_errcode() == AIM_ERR_GONE)
		rc = send_moved(c, gr, act);
	free(cj);
	free(shown);
out:
	json_decref(act);
	client_grp_free(gr);
	return rc;
}

/* ---- Group DMs ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int client_dm_send(struct client *c, const char *const *handles, size_t n, const char *text,
		   char *conv, size_t conv_len)
{
	if (conv_len)
		conv[0] = 0;
	ENSURE(n > 0 && n < CLIENT_MAX_MEMBERS, AIM_ERR_INVALID, "a DM needs 1..%d handles",
	       CLIENT_MAX_MEMBERS - 1);
	ENSURE(c->acct[0], AIM_ERR_STATE, "this device is not registered yet");
	/* the set of participants, us included, sorted and without repeats */
	const char **set = aim_xcalloc(n + 1, sizeof *set);
	size_t ns = 0;
	set[ns++] = c->acct;
	for (size_t i = 0; i < n; i++)
		set[ns++] = handles[i];
	qsort(set, ns, sizeof *set, cmp_str);
	struct aim_buf key;
	aim_buf_init(&key, 1 << 20);
	const char **others = aim_xcalloc(n + 1, sizeof *others);
	size_t no = 0;
	int rc = aim_buf_append_str(&key, "dmset/");
	for (size_t i = 0; i < ns && rc == 0; i++) {
		if (i && client_core_acct_equal(set[i], set[i - 1]))
			continue;
		rc = aim_buf_printf(&key, "%s%s", i ? "," : "", set[i]);
		if (!client_core_acct_equal(set[i], c->acct))
			others[no++] = set[i];
	}
	rc = rc == 0 ? aim_buf_append_byte(&key, 0) : rc;
	json_t *ix = NULL, *act = NULL, *resp = NULL;
	struct grp *gr = NULL;
	struct adds a;
	memset(&a, 0, sizeof a);
	struct mls_commit_result res;
	mls_commit_result_init(&res);
	struct aim_buf gi;
	aim_buf_init(&gi, MLS_MAX_MESSAGE);
	if (rc != 0)
		goto out;
	ENSURE_GOTO(no > 0, out, AIM_ERR_INVALID, "a DM with ourselves only");
	if (client_core_kv_get_json(c, (const char *)key.data, &ix) == 0) {
		const char *cv = json_string_value(json_object_get(ix, "conversation"));
		ENSURE_GOTO(cv, out, AIM_ERR_STORAGE, "DM index without its conversation");
		rc = client_send(c, cv, text);
		if (rc == 0 && conv_len)
			snprintf(conv, conv_len, "%s", cv);
		goto out;
	}
	ENSURE_GOTO(aim_errcode() == AIM_ERR_NOTFOUND, out, aim_errcode(), "%s", aim_errmsg());
	aim_errclear();
	/* first use: the DM's group, linked to our server as its hub */
	gr = client_grp_new(c);
	TRY_GOTO(claim_adds(c, others, no, &a), out);
	TRY_GOTO(new_group(c, gr), out);
	TRY_GOTO(first_commit(gr, &a, &res, &gi), out);
	/* the DM's Create (no Group object; its participants in "to"): its
	 * hub, the creator's server, answers with the DM's URL */
	act = json_pack("{s:s, s:O, s:O, s:o, s:o}", "type", "Create", "to", a.actors,
			"aim:members", a.actors, "aim:groupInfo",
			client_grp_mls_object("GroupInfo", aim_buf_bytes(&gi)), "aim:welcome",
			client_grp_mls_object("Welcome", aim_buf_bytes(&res.welcome)));
	TRY_GOTO(post_outbox(c, act, &resp), out);
	const char *hub = created_url(resp);
	ENSURE_GOTO(hub && *hub, out, AIM_ERR_REMOTE, "the server's answer names no DM");
	char *me = self_actor(c);
	json_object_set_new(a.members, c->acct, json_string(me));
	free(me);
	json_object_set_new(gr->rec, "kind", json_string("dm"));
	json_object_set_new(gr->rec, "conversation", json_string(hub));
	json_object_set_new(gr->rec, "seq", json_integer(0));
	json_object_set_new(gr->rec, "base", json_true());
	merge_members(gr->rec, a.members);
	TRY_GOTO(client_trust_refresh(c, gr, false, 0), out); /* the baseline */
	TRY_GOTO(client_grp_save(c, gr), out);
	json_t *v = json_pack("{s:s}", "conversation", hub);
	rc = client_core_kv_put_json(c, (const char *)key.data, v, false);
	json_decref(v);
	if (rc == 0)
		rc = client_send(c, hub, text);
	if (rc == 0 && conv_len)
		snprintf(conv, conv_len, "%s", hub);
out:
	json_decref(ix);
	json_decref(act);
	json_decref(resp);
	adds_free(&a);
	mls_commit_result_free(&res);
	aim_buf_free(&gi);
	aim_buf_free(&key);
	client_grp_free(gr);
	free(set);
	free(others);
	return rc;
}

/* ---- History and conversations ------------------------------------------------------- */

struct hist {
	struct client_message *v;
	size_t n, cap;
};

static int hist_fn(void *arg, const char *key, struct aim_bytes value)
{
	(void)key;
	struct hist *h = arg;
	json_t *e = json_loadb((const char *)value.p, value.len, 0, NULL);
	if (!e)
		return 0;
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 16;
		h->v = realloc(h->v, h->cap * sizeof *h->v);
	}
	struct client_message *m = &h->v[h->n++];
	memset(m, 0, sizeof *m);
	snprintf(m->sender, sizeof m->sender, "%s",
		 json_string_value(json_object_get(e, "sender")) ?: "");
	snprintf(m->type, sizeof m->type, "%s", json_string_value(json_object_get(e, "type")) ?: "");
	m->text = aim_xstrdup(json_string_value(json_object_get(e, "text")) ?: "");
	m->epoch = (uint64_t)json_integer_value(json_object_get(e, "epoch"));
	m->seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
	snprintf(m->id, sizeof m->id, "%s", json_string_value(json_object_get(e, "id")) ?: "");
	m->content = aim_xstrdup(json_string_value(json_object_get(e, "content")) ?: "");
	json_decref(e);
	return 0;
}

int client_messages(struct client *c, const char *conversation, struct client_message **out,
		    size_t *n)
{
	*out = NULL;
	*n = 0;
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, conversation, &gr));
	char *prefix = aim_xasprintf(MSG_PREFIX "%s/", gr->hex);
	struct hist h = { 0 };
	int rc = c->io.kv_list(c->io.kv_ctx, prefix, hist_fn, &h);
	free(prefix);
	client_grp_free(gr);
	if (rc != 0) {
		client_messages_free(h.v, h.n);
		return -1;
	}
	*out = h.v;
	*n = h.n;
	return 0;
}

int client_messages_after(struct client *c, const char *conversation, size_t after,
			  struct client_message **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, conversation, &gr));
	size_t total = (size_t)json_integer_value(json_object_get(gr->rec, "history"));
	struct hist h = { 0 };
	struct aim_buf v;
	aim_buf_init(&v, CLIENT_MAX_VALUE);
	int rc = 0;
	for (size_t k = after + 1; rc == 0 && k <= total; k++) {
		char *key = aim_xasprintf(MSG_PREFIX "%s/%012lld", gr->hex, (long long)k);
		aim_buf_reset(&v);
		rc = c->io.kv_get(c->io.kv_ctx, key, &v);
		if (rc == 0)
			rc = hist_fn(&h, key, aim_buf_bytes(&v));
		free(key);
	}
	aim_buf_free_secret(&v);
	client_grp_free(gr);
	if (rc != 0) {
		client_messages_free(h.v, h.n);
		return -1;
	}
	*out = h.v;
	*n = h.n;
	return 0;
}

void client_messages_free(struct client_message *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i].text) {
			aim_wipe(m[i].text, strlen(m[i].text));
			free(m[i].text);
		}
		if (m[i].content) {
			aim_wipe(m[i].content, strlen(m[i].content));
			free(m[i].content);
		}
	}
	free(m);
}

static void fill_info(struct grp *gr, struct client_group_info *gi)
{
	memset(gi, 0, sizeof *gi);
	snprintf(gi->kind, sizeof gi->kind, "%s",
		 json_string_value(json_object_get(gr->rec, "kind")) ?: "");
	snprintf(gi->conversation, sizeof gi->conversation, "%s",
		 json_string_value(json_object_get(gr->rec, "conversation")) ?: "");
	gi->epoch = mls_group_epoch(gr->g);
	gi->seq = (uint64_t)json_integer_value(json_object_get(gr->rec, "seq"));
	gi->members = mls_group_member_count(gr->g);
	gi->active = mls_group_active(gr->g) && !json_is_true(json_object_get(gr->rec, "left"));
	struct aim_bytes au = mls_group_epoch_authenticator(gr->g);
	if (au.len <= sizeof gi->authenticator) {
		memcpy(gi->authenticator, au.p, au.len);
		gi->authenticator_len = au.len;
	}
}

int client_group_info(struct client *c, const char *conversation, struct client_group_info *gi)
{
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, conversation, &gr));
	fill_info(gr, gi);
	client_grp_free(gr);
	return 0;
}

struct convs {
	struct client *c;
	struct client_group_info *v;
	size_t n;
};

static int conv_fn(void *arg, const char *key, struct aim_bytes value)
{
	(void)value;
	struct convs *cv = arg;
	struct grp *gr = NULL;
	if (client_grp_load(cv->c, key + strlen(GROUP_PREFIX), &gr) != 0) {
		aim_errclear();
		return 0;
	}
	cv->v = realloc(cv->v, (cv->n + 1) * sizeof *cv->v);
	fill_info(gr, &cv->v[cv->n++]);
	client_grp_free(gr);
	return 0;
}

int client_conversations(struct client *c, struct client_group_info **out, size_t *n)
{
	struct convs cv = { c, NULL, 0 };
	int rc = c->io.kv_list(c->io.kv_ctx, GROUP_PREFIX, conv_fn, &cv);
	*out = cv.v;
	*n = cv.n;
	return rc;
}

