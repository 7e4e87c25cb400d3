/*
 * The client API (ActivityPub C2S): a local user's outbox POST. The posted
 * document's acct: handles are resolved (WebFinger), ap_outbox_prepare
 * turns it into the activity to store, and one store transaction keeps the
 * activity, its local recipients' inbox rows and the deliveries to remote
 * ones (aimd_address_expand); then the effects of follows, blocks, approvals
 * and deletes. A local user named as a recipient (or followed) must exist:
 * 400 unknown_recipient otherwise. A follow between two local users works
 * like one with a remote actor (local_follow_plan, local_follow_apply).
 */
#include "server/channels.h"
#include "server/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "ap/inbound.h"
#include "http/webfinger.h"
#include "server/delivery.h"
#include "server/keypackages.h"
#include "server/s2s.h" /* federation, inbound side */

/* ---- Local users as recipients and as ends of a follow ---------------------------------- */

struct ids {
	int64_t *v;
	size_t n, cap;
};

static void ids_add(struct ids *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == id)
			return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = aim_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = id;
}

/* The local user an actor IRI (BASE/users/NAME) names. 1: found (u set);
 * 0: not an actor IRI of this server (a collection, another server);
 * -1: such an IRI, but no such user (AIM_ERR_NOTFOUND) or the store failed. */
static int local_user_of(struct app *a, const char *iri, struct store_user *u)
{
	size_t bl = strlen(a->base);
	if (!iri || strncmp(iri, a->base, bl) != 0 || strncmp(iri + bl, "/users/", 7) != 0)
		return 0;
	const char *name = iri + bl + 7;
	if (!*name || strpbrk(name, "/?#"))
		return 0;
	if (!aimd_valid_name(name))
		return aim_fail(AIM_ERR_NOTFOUND, "no user %.64s here", name);
	if (store_user_get(a->st, name, u) != 0) {
		if (aim_errcode() == AIM_ERR_NOTFOUND)
			aim_fail(AIM_ERR_NOTFOUND, "no user %.64s here", name);
		return -1;
	}
	return 1;
}

/* 400 unknown_recipient for a local user who does not exist, else the
 * store's failure. */
static void local_user_failure(struct http_response *r)
{
	if (aim_errcode() == AIM_ERR_NOTFOUND)
		http_resp_error(r, 400, "unknown_recipient", aim_errmsg());
	else
		aimd_route_failure(r);
}

/*
 * A follow between two users of this server works like one with a remote
 * actor (s2s_inbox.c, the same store effects): the Follow shows in the
 * followed user's inbox, she gets a follower row and the follower a
 * following row, and unless she approves followers by hand an Accept from
 * her comes back to the follower's inbox at once. With manual approval the
 * follow stays pending until she posts an Accept (or a Reject) of it; an
 * Undo by the follower ends it at both ends.
 */
enum lf_kind { LF_NONE, LF_FOLLOW, LF_ACCEPT, LF_REJECT, LF_UNDO };

struct local_follow {
	enum lf_kind kind;
	int64_t follower, followed;  /* local user ids */
	char *follower_url, *followed_url, *follow_id;
	bool manual;                 /* LF_FOLLOW: the followed user approves by hand */
};

static void local_follow_clear(struct local_follow *lf)
{
	free(lf->follower_url);
	free(lf->followed_url);
	free(lf->follow_id);
	memset(lf, 0, sizeof *lf);
}

/* What act (the owner's, as it will be stored) means for a local follow;
 * -1 with the response set when it must be refused. */
static int local_follow_plan(struct app *a, const struct store_user *owner, const char *me,
			     const json_t *act, struct local_follow *lf, struct http_response *r)
{
	memset(lf, 0, sizeof *lf);
	const char *t = json_string_value(json_object_get(act, "type"));
	const char *oid = ap_id_of(json_object_get(act, "object"));
	if (!t || !oid)
		return 0;
	struct store_user u = { 0 };
	if (!strcmp(t, "Follow")) {
		int found = local_user_of(a, oid, &u);
		if (found < 0) {
			local_user_failure(r);
			return -1;
		}
		if (found == 0)
			return 0;
		bool blocked = false, manual = false;
		int rc = -1;
		if (u.id == owner->id)
			http_resp_error(r, 400, "bad_request", "a user does not follow herself");
		else if (store_blocked(a->st, u.id, me, &blocked) != 0 ||
			 store_manual_approval_get(a->st, u.id, &manual) != 0)
			aimd_route_failure(r);
		else if (blocked)
			http_resp_error(r, 403, "forbidden", "this user blocks you");
		else
			rc = 0;
		if (rc == 0)
			*lf = (struct local_follow){
				.kind = LF_FOLLOW,
				.follower = owner->id,
				.followed = u.id,
				.follower_url = aim_xstrdup(me),
				.followed_url = aim_xstrdup(oid),
				.follow_id =
					aim_xstrdup(json_string_value(json_object_get(act, "id"))),
				.manual = manual,
			};
		store_user_clear(&u);
		return rc;
	}
	bool undo = !strcmp(t, "Undo");
	if (!undo && strcmp(t, "Accept") != 0 && strcmp(t, "Reject") != 0)
		return 0;
	/* About a stored Follow between two local users. */
	int64_t author = 0;
	char *factor = NULL, *fjson = NULL;
	if (store_activity_lookup(a->st, oid, &author, &factor, &fjson) != 0) {
		aim_errclear();
		return 0;
	}
	json_t *f = factor ? NULL : ap_json_load_stored(fjson);
	const char *ft = json_string_value(json_object_get(f, "type"));
	const char *fo = ap_id_of(json_object_get(f, "object"));
	struct store_user fu = { 0 };
	if (ft && !strcmp(ft, "Follow") && fo) {
		if (undo && author == owner->id && local_user_of(a, fo, &u) == 1) {
			*lf = (struct local_follow){
				.kind = LF_UNDO,
				.follower = owner->id,
				.followed = u.id,
				.follower_url = aim_xstrdup(me),
				.followed_url = aim_xstrdup(fo),
				.follow_id = aim_xstrdup(oid),
			};
		} else if (!undo && !strcmp(fo, me) && author != owner->id &&
			   store_user_get_id(a->st, author, &fu) == 0) {
			*lf = (struct local_follow){
				.kind = t[0] == 'A' ? LF_ACCEPT : LF_REJECT,
				.follower = author,
				.followed = owner->id,
				.follower_url = aimd_route_user_url(a, fu.name),
				.followed_url = aim_xstrdup(me),
				.follow_id = aim_xstrdup(oid),
			};
		}
	}
	aim_errclear();
	store_user_clear(&u);
	store_user_clear(&fu);
	json_decref(f);
	free(factor);
	free(fjson);
	return 0;
}

/* The store effects of a local follow (after the activity is stored), with
 * the automatic Accept. */
static int local_follow_apply(struct app *a, const struct local_follow *lf)
{
	if (lf->kind == LF_NONE)
		return 0;
	int state = lf->manual ? STORE_FOLLOW_PENDING : STORE_FOLLOW_ACCEPTED;
	char *inbox = aim_xasprintf("%s/inbox", lf->follower_url);
	char *shared = aim_xasprintf("%s/inbox", a->base);
	char *reply_id = NULL, *reply_json = NULL;
	struct store_fx fx[2];
	struct store_new_activity reply;
	struct store_inbound in = { .fx = fx, .n_fx = 2 };
	switch (lf->kind) {
	case LF_FOLLOW:
		fx[0] = (struct store_fx){ .kind = STORE_FX_FOLLOWER_PUT, .user = lf->followed,
					   .actor = lf->follower_url, .inbox = inbox,
					   .shared_inbox = shared, .follow_id = lf->follow_id,
					   .state = state };
		fx[1] = (struct store_fx){ .kind = STORE_FX_FOLLOWING_PUT, .user = lf->follower,
					   .actor = lf->followed_url, .follow_id = lf->follow_id,
					   .state = state };
		if (!lf->manual) {
			char u[37];
			aimd_route_uuid4(u);
			reply_id = aim_xasprintf("%s/activities/%s", a->base, u);
			/* The same Accept the inbound core builds for a remote Follow. */
			json_t *acc = ap_accept_follow(reply_id, lf->followed_url, lf->follow_id,
						       lf->follower_url, lf->followed_url);
			reply_json = ap_json_dump(acc);
			json_decref(acc);
			reply = (struct store_new_activity){
				.id = reply_id,
				.json = reply_json,
				.author = lf->followed,
				.audience = &lf->follower,
				.n_audience = 1,
				.inbox = &lf->follower,
				.n_inbox = 1,
				.published = aim_now(),
			};
			in.reply = &reply;
		}
		break;
	case LF_ACCEPT:
		fx[0] = (struct store_fx){ .kind = STORE_FX_FOLLOWER_ACCEPT, .user = lf->followed,
					   .follow_id = lf->follow_id };
		fx[1] = (struct store_fx){ .kind = STORE_FX_FOLLOWING_ACCEPT,
					   .actor = lf->followed_url, .follow_id = lf->follow_id };
		break;
	default: /* LF_REJECT, LF_UNDO: the follow ends at both ends */
		fx[0] = (struct store_fx){ .kind = STORE_FX_FOLLOWER_DEL, .user = lf->followed,
					   .actor = lf->follower_url, .follow_id = lf->follow_id };
		fx[1] = (struct store_fx){ .kind = STORE_FX_FOLLOWING_DEL, .user = lf->follower,
					   .actor = lf->followed_url, .follow_id = lf->follow_id };
		break;
	}
	int rc = store_inbound_commit(a->st, &in, NULL, NULL);
	if (rc != 0 && lf->kind == LF_ACCEPT && aim_errcode() == AIM_ERR_NOTFOUND)
		rc = 0; /* nothing pending (already accepted): nothing to change */
	if (rc == 0)
		aim_log(AIM_LOG_INFO, "outbox", "local follow %s: user %lld -> user %lld%s",
			lf->follow_id, (long long)lf->follower, (long long)lf->followed,
			lf->kind == LF_FOLLOW ? (lf->manual ? " pending approval" : " accepted")
			: lf->kind == LF_ACCEPT ? " approved"
						: " ended");
	free(inbox);
	free(shared);
	free(reply_id);
	free(reply_json);
	return rc;
}

struct fol_ctx {
	struct app *a;
	struct ids *out;
	size_t seen;
};

static int local_follower_cb(void *ctx, const struct store_follower *f)
{
	struct fol_ctx *c = ctx;
	c->seen++;
	struct store_user u = { 0 };
	if (local_user_of(c->a, f->actor, &u) == 1)
		ids_add(c->out, u.id);
	aim_errclear();
	store_user_clear(&u);
	return 0;
}

/*
 * The local users whose inbox receives the owner's activity: the local
 * actors it addresses (400 unknown_recipient for one that does not exist),
 * the owner's local followers when it goes to her followers or to the
 * public (as a remote actor's posts reach the local users who follow it),
 * and the other end of a local follow.
 */
static int local_recipients(struct app *a, const struct store_user *owner, const char *me,
			    const struct ap_outbox_out *o, const struct local_follow *lf,
			    struct ids *out, struct http_response *r)
{
	char *followers = aim_xasprintf("%s/followers", me);
	bool to_followers = false;
	int rc = 0;
	for (size_t i = 0; i < o->n_addressees && rc == 0; i++) {
		const char *iri = o->addressees[i];
		struct store_user u = { 0 };
		if (ap_is_public(iri) || !strcmp(iri, followers))
			to_followers = true;
		int found = local_user_of(a, iri, &u);
		if (found < 0) {
			local_user_failure(r);
			rc = -1;
		} else if (found > 0) {
			ids_add(out, u.id);
		}
		store_user_clear(&u);
	}
	free(followers);
	if (rc == 0 && to_followers) {
		struct fol_ctx c = { a, out, 0 };
		for (int64_t off = 0; rc == 0; off += 1000) {
			c.seen = 0;
			rc = store_followers_list(a->st, owner->id, STORE_FOLLOW_ACCEPTED, off,
						  1000, local_follower_cb, &c);
			if (rc != 0)
				aimd_route_failure(r);
			if (c.seen < 1000)
				break;
		}
	}
	if (lf->kind == LF_FOLLOW || lf->kind == LF_UNDO)
		ids_add(out, lf->followed);
	else if (lf->kind == LF_ACCEPT || lf->kind == LF_REJECT)
		ids_add(out, lf->follower);
	return rc;
}

/* ---- acct: handles in an outbox POST (WebFinger, s2s.h aimd_webfinger_resolve) ---- */

#define OUTBOX_MAX_HANDLES 16 /* handles resolved per POST (each is fetches) */

/* Replaces the acct: string *slot by the actor WebFinger binds it to.
 * -1 with the response set: 400 (malformed, unknown or unbound handle,
 * address refused), 502 (remote unreachable), 504 (timed out). */
static int resolve_slot(struct app *a, json_t *parent, const char *key, size_t idx,
			const char *acct, unsigned *count, struct http_response *r)
{
	if (++*count > OUTBOX_MAX_HANDLES) {
		http_resp_error(r, 400, "too_complex", "too many acct: handles in one activity");
		return -1;
	}
	char *id = NULL;
	if (aimd_webfinger_resolve(a, acct, &id) != 0) {
		/* The table's answer (status.h), except that whatever is the
		 * handle's fault (a 4xx: malformed, unknown, unbound, refused
		 * address, no such host) is one code. */
		enum aim_err e = aim_errcode();
		struct status_answer ans = aimd_status_of(e, STATUS_CLIENT);
		char *msg = aim_xasprintf("%.300s: %s", acct, aim_errmsg());
		if (ans.status < 500)
			http_resp_error(r, 400, "unresolvable_handle", msg);
		else if (ans.fixed_detail)
			aimd_route_failure(r);
		else
			aimd_status_send(r, e, STATUS_CLIENT, msg);
		free(msg);
		return -1;
	}
	if (key)
		json_object_set_new(parent, key, json_string(id));
	else
		json_array_set_new(parent, idx, json_string(id));
	free(id);
	return 0;
}

/* The addressing fields of o: acct: entries replaced by actor ids. */
static int resolve_addressing(struct app *a, json_t *o, unsigned *count, struct http_response *r)
{
	static const char *const fields[] = { "to", "cc", "bto", "bcc", "audience" };
	for (size_t f = 0; f < AIM_ARRAY_LEN(fields); f++) {
		json_t *v = json_object_get(o, fields[f]);
		if (json_is_string(v) && http_wf_is_acct(json_string_value(v))) {
			char *acct = aim_xstrdup(json_string_value(v));
			int rc = resolve_slot(a, o, fields[f], 0, acct, count, r);
			free(acct);
			if (rc != 0)
				return -1;
		} else if (json_is_array(v)) {
			for (size_t i = 0; i < json_array_size(v); i++) {
				const char *s = json_string_value(json_array_get(v, i));
				if (!s || !http_wf_is_acct(s))
					continue;
				char *acct = aim_xstrdup(s);
				int rc = resolve_slot(a, v, NULL, i, acct, count, r);
				free(acct);
				if (rc != 0)
					return -1;
			}
		}
	}
	return 0;
}

/* An outbox document's handles: its addressing, an embedded object's, and
 * a Follow's object. Plain actor URLs are left alone. */
static int resolve_handles(struct app *a, json_t *doc, struct http_response *r)
{
	unsigned count = 0;
	TRY(resolve_addressing(a, doc, &count, r));
	json_t *obj = json_object_get(doc, "object");
	if (json_is_object(obj))
		TRY(resolve_addressing(a, obj, &count, r));
	const char *type = json_string_value(json_object_get(doc, "type"));
	if (type && !strcmp(type, "Follow") && json_is_string(obj) &&
	    http_wf_is_acct(json_string_value(obj))) {
		char *acct = aim_xstrdup(json_string_value(obj));
		int rc = resolve_slot(a, doc, "object", 0, acct, &count, r);
		free(acct);
		TRY(rc);
	}
	return 0;
}

static void outbox_post(struct app *a, const struct http_request *q, struct http_response *r,
			const struct store_user *owner)
{
	if (!aimd_route_rate_ok(a, q, r))
		return;
	int64_t user = aimd_route_auth(a, q, r, true);
	if (user < 0)
		return;
	if (user != owner->id) {
		http_resp_error(r, 403, "forbidden", "this outbox belongs to another user");
		return;
	}
	const char *ct = http_req_header(q, "Content-Type");
	char t[128] = "";
	if (ct)
		aimd_route_media_type(ct, t, sizeof t);
	if (!aimd_route_json_media(t)) {
		http_resp_error(r, 415, "unsupported_media_type",
				"post application/activity+json or application/ld+json");
		return;
	}
	const char *ce = http_req_header(q, "Content-Encoding");
	if (ce && *ce && strcasecmp(ce, "identity") != 0) {
		http_resp_error(r, 415, "unsupported_media_type",
				"content encodings are not accepted; post the JSON as is");
		return;
	}
	json_t *doc = NULL;
	if (ap_json_parse_object(q->body, q->body_len, &doc) != 0) {
		aimd_route_failure(r);
		return;
	}
	/* A KeyPackage goes to the directory, never to anyone's inbox. */
	if (aimd_kp_is_upload(doc)) {
		aimd_route_kp_outbox(a, q, r, owner, doc);
		json_decref(doc);
		return;
	}
	if (resolve_handles(a, doc, r) != 0) {
		json_decref(doc);
		return;
	}
	/* A channel's creation, or a change or message for a channel hosted here. */
	if (aimd_chan_outbox(a, q, r, owner, doc)) {
		json_decref(doc);
		return;
	}
	char aid[37], oid[37];
	aimd_route_uuid4(aid);
	aimd_route_uuid4(oid);
	char *actor = aimd_route_user_url(a, owner->name);
	char *act_id = aim_xasprintf("%s/activities/%s", a->base, aid);
	char *obj_id = aim_xasprintf("%s/objects/%s", a->base, oid);
	struct ap_outbox_in in = { actor, act_id, obj_id, aim_now() };
	struct ap_outbox_out out = { 0 };
	struct ids rcpt = { 0 };
	struct local_follow lf = { 0 };
	char *txt = NULL, *otxt = NULL;
	struct address_out ad = { 0 }; /* its remote deliveries */
	struct store_outgoing og = { 0 };
	if (ap_outbox_prepare(&in, doc, &out) != 0) {
		aimd_route_failure(r);
		goto done;
	}
	/* Local users: the follow it starts, answers or ends, and who receives it. */
	if (local_follow_plan(a, owner, actor, out.activity, &lf, r) != 0 ||
	    local_recipients(a, owner, actor, &out, &lf, &rcpt, r) != 0)
		goto done;
	/* Outbound federation: remote recipients, enqueued in the same transaction. */
	if (aimd_address_expand(a, owner->id, actor, out.activity, &ad) != 0) {
		aimd_route_failure(r);
		goto done;
	}
	og = (struct store_outgoing){ .activity_id = act_id, .signer = owner->id, .body = ad.body,
				      .v = ad.v, .n = ad.n };
	txt = ap_json_dump(out.activity);
	otxt = out.object ? ap_json_dump(out.object) : NULL;
	struct store_new_activity na = {
		.id = act_id,
		.object_id = out.object ? obj_id : NULL,
		.json = txt,
		.object_json = otxt,
		.author = owner->id,
		.is_public = out.is_public,
		.audience = rcpt.v,
		.n_audience = rcpt.n,
		.inbox = rcpt.v,
		.n_inbox = rcpt.n,
		.published = in.now,
		.outgoing = ad.n ? &og : NULL,
	};
	int64_t seq;
	/* Under aimd serve, group-committed with the inbox's and the other
	 * posts' writes (inbox_batch.h): answered after its batch is durable. */
	struct store_inbound unit = { .reply = &na };
	if ((a->fin ? aimd_batch_commit(&a->fin->batch, a->st, &unit, NULL, NULL)
		    : store_activity_add(a->st, &na, &seq)) != 0) {
		aimd_route_failure(r);
		goto done;
	}
	/* A local follow's effects (and automatic Accept), as for a remote one. */
	if (local_follow_apply(a, &lf) != 0)
		aim_log(AIM_LOG_ERROR, "outbox", "local follow of %s: %s", act_id, aim_errmsg());
	if (lf.kind == LF_FOLLOW)
		aimd_sse_wake_notify(&a->wake);
	else if (rcpt.n) /* the streams of the users whose inbox grew */
		aimd_sse_wake_users(&a->wake, rcpt.v, rcpt.n);
	/* Federation: follows, blocks, approvals and tombstones it causes. */
	if (aimd_s2s_outbox_effects(a, owner->id, out.activity) != 0)
		aim_log(AIM_LOG_ERROR, "outbox", "effects of %s: %s", act_id, aim_errmsg());
	if (ad.n)
		aimd_delivery_kick(a->dlv);
	/* ActivityPub 6: "Servers MUST return a 201 Created HTTP code, and ...
	 * MUST include the new id in the Location header." */
	http_resp_set(r, 201, ROUTE_AS_TYPE, txt, strlen(txt));
	http_resp_header(r, "Location", act_id);
done:
	aimd_address_out_clear(&ad);
	free(txt);
	free(otxt);
	free(rcpt.v);
	local_follow_clear(&lf);
	ap_outbox_out_clear(&out);
	json_decref(doc);
	free(actor);
	free(act_id);
	free(obj_id);
}

void aimd_route_outbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		       const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (!aimd_route_user(a, caps, &u, r))
		goto out;
	if (u.id == a->instance_id)
		http_resp_error(r, 403, "forbidden", "the instance actor does not post");
	else
		outbox_post(a, q, r, &u);
out:
	store_user_clear(&u);
}
