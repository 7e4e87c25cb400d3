/*
 * Inbox processing: what an activity from another server changes here.
 *
 * Runs after the gate (s2s_gate.c). Checks the shape (B28), ties the
 * activity to the key's owner (A14), applies the origin rules of threats.md B
 * (B23, B24, B30), finds the local recipients, and hands the activity with
 * every change it causes to the store in one durable transaction. The
 * answer is 202 only after that commit; a commit that fails with an I/O
 * error answers 503 and stops every later acknowledgement (SIGTERM and a
 * restart are needed), so nothing is ever acknowledged that is not on disk.
 */
#include "server/internal.h"
#include "server/s2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "base/url.h"
#include "crypto/crypto.h"
#include "server/delivery.h"

#define MAX_RECIPIENTS 1024

/* ---- Helpers ------------------------------------------------------------------- */

static void refuse(struct http_response *r, int status, const char *code, const char *why,
		   const char *remote, const char *actor)
{
	aim_log(AIM_LOG_INFO, "inbox", "remote=%s actor=%s refused %d: %s", remote,
		actor ? actor : "-", status, why);
	http_resp_error(r, status, code, why);
}

/* Maps a recorded failure of processing to a refusal. */
static void refuse_failure(struct app *a, struct http_response *r, const char *remote,
			   const char *actor)
{
	enum aim_err e = aim_errcode();
	const char *msg = aim_errmsg();
	switch (e) {
	case AIM_ERR_INVALID:
	case AIM_ERR_DECODE:
	case AIM_ERR_UNSUPPORTED:
	case AIM_ERR_LIMIT:
	case AIM_ERR_EXISTS:
		refuse(r, 400, "bad_request", msg, remote, actor);
		break;
	case AIM_ERR_DENIED:
		refuse(r, 403, "forbidden", msg, remote, actor);
		break;
	case AIM_ERR_AUTH:
	case AIM_ERR_VERIFY:
		refuse(r, 401, "unauthorized", msg, remote, actor);
		http_resp_header(r, "WWW-Authenticate", "Signature");
		break;
	case AIM_ERR_NOTFOUND:
		refuse(r, 404, "not_found", msg, remote, actor);
		break;
	case AIM_ERR_BUSY:
		refuse(r, 503, "busy", "storage busy, try again", remote, actor);
		http_resp_header(r, "Retry-After", "5");
		break;
	default:
		/* Durable before acknowledged: an I/O error on commit stops all
		 * acknowledgements rather than risk a false success. */
		atomic_store(&a->fin->stopped, true);
		aim_log(AIM_LOG_ERROR, "inbox", "commit failed (%s: %s): inbox acknowledgements "
			"stopped until restart", aim_errname(e), msg);
		http_resp_error(r, 503, "unavailable", "storage failure: not accepting deliveries");
		http_resp_header(r, "Retry-After", "600");
		break;
	}
}

static char *norm(const char *s)
{
	struct aim_url u = { 0 };
	struct aim_buf b;
	aim_buf_init(&b, AIM_URL_MAX + 16);
	char *out = NULL;
	if (s && aim_url_parse(s, &u) == 0 && aim_url_format(&u, &b) == 0)
		out = (char *)aim_buf_steal(&b, NULL);
	aim_url_free(&u);
	aim_buf_free(&b);
	return out;
}

static bool http_url(const char *s)
{
	struct aim_url u = { 0 };
	bool ok = s && strlen(s) <= 2048 && aim_url_parse(s, &u) == 0;
	aim_url_free(&u);
	return ok;
}

/* The local user an IRI names (BASE/users/NAME), or 0. */
static int64_t local_user(struct app *a, const char *iri)
{
	char *n = norm(iri);
	char *b = norm(a->base);
	int64_t id = 0;
	if (n && b) {
		size_t bl = strlen(b);
		while (bl && b[bl - 1] == '/')
			bl--;
		if (!strncmp(n, b, bl) && !strncmp(n + bl, "/users/", 7)) {
			const char *name = n + bl + 7;
			struct store_user u = { 0 };
			if (aimd_valid_name(name) && store_user_get(a->st, name, &u) == 0)
				id = u.id;
			store_user_clear(&u);
		}
	}
	free(n);
	free(b);
	return id;
}

static bool is_local(struct app *a, const char *iri)
{
	return fetch_same_origin(iri, a->base);
}

static char *local_actor_url(struct app *a, int64_t user)
{
	struct store_user u = { 0 };
	if (store_user_get_id(a->st, user, &u) != 0)
		return NULL;
	char *s = aim_xasprintf("%s/users/%s", a->base, u.name);
	store_user_clear(&u);
	return s;
}

struct rcpt {
	int64_t ids[MAX_RECIPIENTS];
	size_t n;
	bool followers;              /* the actor's followers (or Public) addressed */
	bool is_public;
};

static void rcpt_add(struct rcpt *rc, int64_t id)
{
	if (id <= 0)
		return;
	for (size_t i = 0; i < rc->n; i++)
		if (rc->ids[i] == id)
			return;
	if (rc->n < MAX_RECIPIENTS)
		rc->ids[rc->n++] = id;
}

static void scan_field(struct app *a, const json_t *v, const char *followers, struct rcpt *rc,
		       size_t *budget)
{
	if (json_is_array(v)) {
		size_t i;
		const json_t *x;
		json_array_foreach(v, i, x)
			scan_field(a, x, followers, rc, budget);
		return;
	}
	const char *iri = ap_id_of(v);
	if (!iri || *budget == 0)
		return;
	(*budget)--;
	if (ap_is_public(iri)) {
		rc->is_public = true;
		rc->followers = true;
	} else if (followers && fetch_same_url(iri, followers)) {
		rc->followers = true;
	} else if (is_local(a, iri)) {
		rcpt_add(rc, local_user(a, iri));
	}
}

/* The local recipients of act (and of its embedded object). */
static void recipients(struct app *a, const json_t *act, const char *actor, struct rcpt *rc)
{
	static const char *const fields[] = { "to", "cc", "bto", "bcc", "audience" };
	memset(rc, 0, sizeof *rc);
	struct remote_actor ra = { 0 };
	/* Usually cached by the key lookup just before. */
	if (remote_actor_get(a, actor, false, &ra) != 0)
		aim_errclear(); /* no followers collection known: direct addressing only */
	size_t budget = AP_MAX_ADDRESSEES;
	const json_t *obj = json_object_get(act, "object");
	for (size_t f = 0; f < AIM_ARRAY_LEN(fields); f++) {
		scan_field(a, json_object_get(act, fields[f]), ra.followers, rc, &budget);
		if (json_is_object(obj))
			scan_field(a, json_object_get(obj, fields[f]), ra.followers, rc, &budget);
	}
	if (rc->followers) {
		int64_t ids[MAX_RECIPIENTS];
		size_t n = 0;
		if (store_following_users(a->st, actor, ids, MAX_RECIPIENTS, &n) == 0)
			for (size_t i = 0; i < n; i++)
				rcpt_add(rc, ids[i]);
	}
	remote_actor_clear(&ra);
}

/* Drops recipients who block actor; true if some were dropped. */
static bool drop_blocking(struct app *a, struct rcpt *rc, const char *actor)
{
	bool dropped = false;
	for (size_t i = 0; i < rc->n;) {
		bool b = false;
		if (store_blocked(a->st, rc->ids[i], actor, &b) == 0 && b) {
			rc->ids[i] = rc->ids[--rc->n];
			dropped = true;
		} else {
			i++;
		}
	}
	return dropped;
}

static void uuid4(char out[37])
{
	uint8_t b[16];
	if (aim_random(b, sizeof b) != 0)
		abort(); /* no randomness: nothing safe to do */
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---- Processing ------------------------------------------------------------------- */

struct job {
	struct app *a;
	const struct http_request *q;
	struct http_response *r;
	int64_t inbox_user;          /* the personal inbox's user, 0 for the shared inbox */
	json_t *act;
	const char *id, *type, *actor;
	struct store_inbound in;
	struct store_fx fx[4];
	struct rcpt rc;
	/* owned scratch */
	char *obj_json;
	char *act_json;
	char *tomb;
	/* the automatic Accept */
	struct store_new_activity reply;
	struct store_outgoing out;
	struct store_new_delivery dlv;
	char *reply_id, *reply_json, *reply_host, *user_url;
	int64_t reply_aud;
	bool ignore_notfound;        /* an effect on an unknown object is no error */
};

static void job_free(struct job *j)
{
	free(j->obj_json);
	free(j->act_json);
	free(j->tomb);
	free(j->reply_id);
	free(j->reply_json);
	free(j->reply_host);
	free(j->user_url);
}

static int do_follow(struct job *j)
{
	struct app *a = j->a;
	const char *obj = ap_id_of(json_object_get(j->act, "object"));
	ENSURE(obj, AIM_ERR_INVALID, "Follow without an object");
	int64_t user = local_user(a, obj);
	ENSURE(user > 0, AIM_ERR_NOTFOUND, "Follow of someone who is not a user here");
	ENSURE(!j->inbox_user || j->inbox_user == user, AIM_ERR_INVALID,
	       "Follow of another user posted to this inbox");
	bool blocked = false;
	TRY(store_blocked(a->st, user, j->actor, &blocked));
	ENSURE(!blocked, AIM_ERR_DENIED, "blocked");
	struct remote_actor ra = { 0 };
	TRY(remote_actor_get(a, j->actor, false, &ra));
	bool manual = false;
	if (store_manual_approval_get(a->st, user, &manual) != 0) {
		remote_actor_clear(&ra);
		return -1;
	}
	j->fx[0] = (struct store_fx){
		.kind = STORE_FX_FOLLOWER_PUT,
		.user = user,
		.actor = j->actor,
		.inbox = ra.inbox,
		.shared_inbox = ra.shared_inbox,
		.follow_id = j->id,
		.state = manual ? STORE_FOLLOW_PENDING : STORE_FOLLOW_ACCEPTED,
	};
	j->in.fx = j->fx;
	j->in.n_fx = 1;
	/* The Follow shows in the followed user's inbox (a request to
	 * approve, or a notice). */
	j->rc.n = 0;
	rcpt_add(&j->rc, user);
	int rc = 0;
	if (!manual) {
		/* Auto-Accept: stored as the user's activity, delivered to the
		 * follower's own inbox in the same transaction. */
		char u[37];
		uuid4(u);
		j->user_url = local_actor_url(a, user);
		j->reply_id = aim_xasprintf("%s/activities/%s", a->base, u);
		json_t *fo = json_pack("{s:s, s:s, s:s, s:s}", "id", j->id, "type", "Follow", "actor",
				       j->actor, "object", obj);
		json_t *acc = json_pack("{s:s, s:s, s:s, s:s, s:o, s:[s]}", "@context", AP_CTX_AS, "id",
					j->reply_id, "type", "Accept", "actor",
					j->user_url ? j->user_url : obj, "object", fo, "to",
					j->actor);
		j->reply_json = ap_json_dump(acc);
		json_decref(acc);
		struct aim_url iu = { 0 };
		if (aim_url_parse(ra.inbox, &iu) == 0)
			j->reply_host = aim_xstrdup(iu.host);
		aim_url_free(&iu);
		j->dlv = (struct store_new_delivery){
			.inbox = ra.inbox,
			.actor = j->actor,
			.host = j->reply_host ? j->reply_host : "",
			.personal = true,
		};
		j->out = (struct store_outgoing){
			.activity_id = j->reply_id,
			.signer = user,
			.body = j->reply_json,
			.v = &j->dlv,
			.n = 1,
			.now_ms = aim_now_ms(),
		};
		j->reply_aud = user;
		j->reply = (struct store_new_activity){
			.id = j->reply_id,
			.json = j->reply_json,
			.author = user,
			.is_public = false,
			.published = aim_now(),
			.outgoing = &j->out,
		};
		j->in.reply = &j->reply;
	}
	/* ra's strings are used by the transaction: commit before freeing. */
	j->act_json = ap_json_dump(j->act);
	j->in.id = j->id;
	j->in.actor = j->actor;
	j->in.json = j->act_json;
	j->in.audience = j->rc.ids;
	j->in.n_audience = j->rc.n;
	j->in.inbox = j->rc.ids;
	j->in.n_inbox = j->rc.n;
	j->in.published = aim_now();
	bool dup = false;
	size_t added = 0;
	rc = store_inbound_commit(a->st, &j->in, &dup, &added);
	remote_actor_clear(&ra);
	j->in.n_fx = 0;
	j->in.reply = NULL;
	j->in.id = NULL; /* done */
	if (rc == 0 && added)
		sse_wake_notify(&a->wake);
	if (rc == 0 && !manual && !dup)
		delivery_kick(a->dlv); /* the Accept goes out now */
	if (rc == 0)
		aim_log(AIM_LOG_INFO, "inbox", "Follow %s -> user %lld %s%s", j->actor,
			(long long)user, manual ? "pending approval" : "accepted",
			dup ? " (duplicate)" : "");
	return rc;
}

/* Accept / Reject of one of our Follows (B30: only by the followed actor). */
static int do_answer(struct job *j, bool accept)
{
	struct app *a = j->a;
	const json_t *o = json_object_get(j->act, "object");
	const char *fid = ap_id_of(o);
	ENSURE(fid, AIM_ERR_INVALID, "%s without an object", j->type);
	ENSURE(is_local(a, fid), AIM_ERR_DENIED, "%s about an object of another server", j->type);
	int64_t author = 0;
	char *actor = NULL, *json = NULL;
	if (store_activity_lookup(a->st, fid, &author, &actor, &json) != 0) {
		/* Not a Follow of ours: nothing to do. */
		j->ignore_notfound = true;
		return 0;
	}
	json_t *f = ap_json_load_stored(json);
	const char *ft = f ? str_of(f, "type") : NULL;
	const char *fo = f ? ap_id_of(json_object_get(f, "object")) : NULL;
	int rc = 0;
	if (actor || !ft || strcmp(ft, "Follow") != 0 || !fo || !fetch_same_url(fo, j->actor)) {
		rc = aim_fail(AIM_ERR_DENIED, "%s of something that is not a Follow of %s", j->type,
			      j->actor);
	} else {
		j->fx[0] = (struct store_fx){
			.kind = accept ? STORE_FX_FOLLOWING_ACCEPT : STORE_FX_FOLLOWING_DEL,
			.user = accept ? 0 : author,
			.actor = j->actor,
			.follow_id = fid,
		};
		j->in.fx = j->fx;
		j->in.n_fx = 1;
		j->rc.n = 0;
		rcpt_add(&j->rc, author);
	}
	json_decref(f);
	free(actor);
	free(json);
	return rc;
}

static int do_undo(struct job *j)
{
	struct app *a = j->a;
	const json_t *o = json_object_get(j->act, "object");
	const char *oid = ap_id_of(o);
	ENSURE(oid && http_url(oid), AIM_ERR_INVALID, "Undo without an object id");
	/* B30: only what the actor itself did can be undone. */
	ENSURE(fetch_same_origin(oid, j->actor), AIM_ERR_DENIED,
	       "Undo of an object of another server");
	const char *ot = json_is_object(o) ? str_of(o, "type") : NULL;
	if (json_is_object(o)) {
		const char *oa = ap_id_of(json_object_get(o, "actor"));
		ENSURE(!oa || fetch_same_url(oa, j->actor), AIM_ERR_DENIED,
		       "Undo of another actor's activity");
	}
	char *actor = NULL, *json = NULL;
	if (store_activity_lookup(j->a->st, oid, NULL, &actor, &json) == 0) {
		bool mine = actor && fetch_same_url(actor, j->actor);
		json_t *s = mine ? ap_json_load_stored(json) : NULL;
		if (s && str_of(s, "type") && !ot)
			ot = NULL;
		bool follow = s && str_of(s, "type") && !strcmp(str_of(s, "type"), "Follow");
		json_decref(s);
		free(actor);
		free(json);
		ENSURE(mine, AIM_ERR_DENIED, "Undo of another actor's activity");
		if (follow)
			ot = "Follow";
	}
	if (ot && !strcmp(ot, "Follow")) {
		j->fx[0] = (struct store_fx){
			.kind = STORE_FX_FOLLOWER_DEL,
			.user = 0,
			.actor = j->actor,
			.follow_id = oid,
		};
		j->in.fx = j->fx;
		j->in.n_fx = 1;
		/* An embedded Follow whose id we never saw: by its object. */
		if (json_is_object(o)) {
			const char *fo = ap_id_of(json_object_get(o, "object"));
			int64_t u = fo ? local_user(a, fo) : 0;
			if (u > 0) {
				j->fx[1] = (struct store_fx){
					.kind = STORE_FX_FOLLOWER_DEL,
					.user = u,
					.actor = j->actor,
				};
				j->in.n_fx = 2;
			}
		}
	}
	j->rc.n = 0;
	return 0;
}

/* B23: an object is trusted only from its own origin, attributed to the actor. */
static int check_object_origin(struct job *j, const json_t *obj)
{
	const char *oid = str_of(obj, "id");
	ENSURE(oid && http_url(oid), AIM_ERR_INVALID, "object without an http(s) id");
	ENSURE(fetch_same_origin(oid, j->actor), AIM_ERR_DENIED,
	       "object %s is not on the actor's server", oid);
	const json_t *at = json_object_get(obj, "attributedTo");
	if (at) {
		const char *aid = ap_id_of(at);
		if (json_is_array(at) && json_array_size(at) == 1)
			aid = ap_id_of(json_array_get(at, 0));
		ENSURE(aid && fetch_same_url(aid, j->actor), AIM_ERR_DENIED,
		       "object attributed to someone else than the actor");
	}
	return 0;
}

static int do_create(struct job *j)
{
	json_t *obj = json_object_get(j->act, "object");
	if (json_is_string(obj)) {
		/* Only a reference: fetch it from its origin (B23). */
		const char *oid = json_string_value(obj);
		ENSURE(http_url(oid) && fetch_same_origin(oid, j->actor), AIM_ERR_DENIED,
		       "Create of an object on another server");
		json_t *doc = NULL;
		TRY(fetch_ap_document(j->a, oid, &doc));
		json_object_set_new(j->act, "object", doc);
		obj = doc;
	}
	ENSURE(json_is_object(obj), AIM_ERR_INVALID, "Create without an object");
	TRY(check_object_origin(j, obj));
	j->obj_json = ap_json_dump(obj);
	j->in.object_id = str_of(obj, "id");
	j->in.object_json = j->obj_json;
	return 0;
}

static int do_update_delete(struct job *j, bool del)
{
	struct app *a = j->a;
	const json_t *obj = json_object_get(j->act, "object");
	const char *oid = ap_id_of(obj);
	ENSURE(oid && http_url(oid), AIM_ERR_INVALID, "%s without an object id", j->type);
	j->rc.n = j->rc.n; /* Updates and Deletes show where they are addressed */
	if (fetch_same_url(oid, j->actor)) {
		/* The actor itself: refetch later, or forget it with its content. */
		remote_actor_forget(a, j->actor);
		if (del) {
			j->fx[0] = (struct store_fx){ .kind = STORE_FX_ACTOR_PURGE, .actor = j->actor };
			j->in.fx = j->fx;
			j->in.n_fx = 1;
			j->rc.n = 0;
		}
		return 0;
	}
	/* B24: only the owner updates or deletes an object, and an actor only
	 * itself. */
	ENSURE(fetch_same_origin(oid, j->actor), AIM_ERR_DENIED,
	       "%s of an object of another server", j->type);
	const char *ot = json_is_object(obj) ? str_of(obj, "type") : NULL;
	bool actorish = ot && (!strcmp(ot, "Person") || !strcmp(ot, "Service") ||
			       !strcmp(ot, "Group") || !strcmp(ot, "Application") ||
			       !strcmp(ot, "Organization"));
	ENSURE(!actorish && !remote_actor_known(a, oid), AIM_ERR_DENIED,
	       "%s of another actor", j->type);
	if (del) {
		char ts[21];
		aim_time_rfc3339(aim_now(), ts);
		json_t *t = json_pack("{s:s, s:s, s:s}", "id", oid, "type", "Tombstone", "deleted", ts);
		j->tomb = ap_json_dump(t);
		json_decref(t);
	} else {
		ENSURE(json_is_object(obj), AIM_ERR_INVALID, "Update without the object");
		TRY(check_object_origin(j, obj));
		j->tomb = ap_json_dump(obj);
	}
	j->fx[0] = (struct store_fx){
		.kind = del ? STORE_FX_OBJECT_DELETE : STORE_FX_OBJECT_UPDATE,
		.actor = j->actor,
		.object_id = oid,
		.json = j->tomb,
	};
	j->in.fx = j->fx;
	j->in.n_fx = 1;
	j->ignore_notfound = true;
	return 0;
}

static int do_block(struct job *j)
{
	const char *obj = ap_id_of(json_object_get(j->act, "object"));
	ENSURE(obj, AIM_ERR_INVALID, "Block without an object");
	int64_t user = local_user(j->a, obj);
	if (user > 0) {
		/* Blocked by a remote actor: the follows between them end. */
		j->fx[0] = (struct store_fx){ .kind = STORE_FX_FOLLOWER_DEL, .user = user,
					      .actor = j->actor };
		j->fx[1] = (struct store_fx){ .kind = STORE_FX_FOLLOWING_DEL, .user = user,
					      .actor = j->actor };
		j->in.fx = j->fx;
		j->in.n_fx = 2;
	}
	/* A Block is not shown to the blocked user. */
	j->rc.n = 0;
	return 0;
}

static void process(struct job *j)
{
	struct app *a = j->a;
	const char *remote = j->q->remote;
	int rc = 0;
	recipients(a, j->act, j->actor, &j->rc);
	if (j->inbox_user) {
		/* A personal inbox: its owner receives it. */
		bool b = false;
		if (store_blocked(a->st, j->inbox_user, j->actor, &b) == 0 && b) {
			refuse(j->r, 403, "forbidden", "this user blocks the actor", remote, j->actor);
			return;
		}
		rcpt_add(&j->rc, j->inbox_user);
	}
	size_t before = j->rc.n;
	if (drop_blocking(a, &j->rc, j->actor) && j->rc.n == 0 && before > 0) {
		refuse(j->r, 403, "forbidden", "every recipient blocks the actor", remote, j->actor);
		return;
	}
	const char *t = j->type;
	if (!strcmp(t, "Follow")) {
		rc = do_follow(j);
		if (rc == 0) {
			http_resp_set(j->r, 202, "application/json", "{}", 2);
			return;
		}
		refuse_failure(a, j->r, remote, j->actor);
		return;
	} else if (!strcmp(t, "Accept") || !strcmp(t, "Reject")) {
		rc = do_answer(j, t[0] == 'A');
	} else if (!strcmp(t, "Undo")) {
		rc = do_undo(j);
	} else if (!strcmp(t, "Create")) {
		rc = do_create(j);
	} else if (!strcmp(t, "Update") || !strcmp(t, "Delete")) {
		rc = do_update_delete(j, t[0] == 'D');
	} else if (!strcmp(t, "Block")) {
		rc = do_block(j);
	}
	if (rc != 0) {
		refuse_failure(a, j->r, remote, j->actor);
		return;
	}
	j->act_json = ap_json_dump(j->act);
	j->in.id = j->id;
	j->in.actor = j->actor;
	j->in.json = j->act_json;
	j->in.is_public = j->rc.is_public;
	j->in.audience = j->rc.ids;
	j->in.n_audience = j->rc.n;
	j->in.inbox = j->rc.ids;
	j->in.n_inbox = j->rc.n;
	j->in.published = aim_now();
	bool dup = false;
	size_t added = 0;
	rc = store_inbound_commit(a->st, &j->in, &dup, &added);
	if (rc != 0 && j->ignore_notfound && aim_errcode() == AIM_ERR_NOTFOUND) {
		/* The object is unknown here: keep the activity, change nothing. */
		j->in.n_fx = 0;
		rc = store_inbound_commit(a->st, &j->in, &dup, &added);
	}
	if (rc != 0) {
		refuse_failure(a, j->r, remote, j->actor);
		return;
	}
	if (added)
		sse_wake_notify(&a->wake);
	aim_log(AIM_LOG_DEBUG, "inbox", "%s %s from %s: %zu inbox rows%s", t, j->id, j->actor,
		added, dup ? " (duplicate)" : "");
	http_resp_set(j->r, 202, "application/json", "{}", 2);
}

void s2s_inbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		    const char *user)
{
	struct fed_in *f = a->fin;
	if (!f || atomic_load(&f->stopped)) {
		http_resp_error(r, 503, "unavailable", "storage failure: not accepting deliveries");
		http_resp_header(r, "Retry-After", "600");
		return;
	}
	struct sig_fields fl;
	sig_fields_init(&fl);
	char host[256];
	struct s2s_auth au = { 0 };
	struct job j = { .a = a, .q = q, .r = r };
	if (s2s_host_admit(a, q, r, &fl, host, sizeof host) != 0) {
		aim_log(AIM_LOG_INFO, "inbox", "remote=%s refused 429: %s", q->remote,
			"per-host limit");
		sig_fields_free(&fl);
		return;
	}
	/* ONE gate for every S2S POST (B33): nothing is parsed or stored
	 * before the signature is verified. */
	if (s2s_gate_verify(a, q, &fl, host, &au) != 0) {
		refuse(r, 401, "unauthorized", aim_errmsg(), q->remote, NULL);
		http_resp_header(r, "WWW-Authenticate", "Signature");
		goto out;
	}
	if (user) {
		struct store_user u = { 0 };
		if (store_user_get(a->st, user, &u) != 0) {
			refuse(r, 404, "not_found", "no such user", q->remote, au.actor);
			goto out;
		}
		j.inbox_user = u.id;
		store_user_clear(&u);
		if (j.inbox_user == a->instance_id)
			j.inbox_user = 0;
	}
	if (ap_json_parse_object(q->body, q->body_len, &j.act) != 0) {
		refuse(r, 400, "bad_request", aim_errmsg(), q->remote, au.actor);
		goto out;
	}
	/* B28: id, type and actor are required; the id is an http(s) URL. */
	j.id = str_of(j.act, "id");
	j.type = str_of(j.act, "type");
	j.actor = ap_id_of(json_object_get(j.act, "actor"));
	if (!j.id || !http_url(j.id) || !j.type || !*j.type || !j.actor) {
		refuse(r, 400, "bad_request", "activity needs an http(s) id, a type and an actor",
		       q->remote, au.actor);
		goto out;
	}
	/* A14: the key's owner is the activity's actor (compared after a URL
	 * parse, A16). */
	if (!fetch_same_url(j.actor, au.actor)) {
		refuse(r, 401, "unauthorized", "the signing key does not belong to the activity's actor",
		       q->remote, au.actor);
		http_resp_header(r, "WWW-Authenticate", "Signature");
		goto out;
	}
	j.actor = au.actor;
	if (!fetch_same_origin(j.id, j.actor)) {
		refuse(r, 403, "forbidden", "activity id is not on the actor's server", q->remote,
		       j.actor);
		goto out;
	}
	process(&j);
out:
	json_decref(j.act);
	job_free(&j);
	s2s_auth_clear(&au);
	s2s_host_release(a, host);
	sig_fields_free(&fl);
}

/* ---- The followers collection ---------------------------------------------------- */

struct flist {
	json_t *items;
};

static int flist_cb(void *ctx, const struct store_follower *f)
{
	struct flist *l = ctx;
	json_array_append_new(l->items, json_string(f->actor));
	return 0;
}

#define FOLLOWERS_PAGE 50

void s2s_followers(struct app *a, const struct http_request *q, struct http_response *r,
		   int64_t user, const char *coll_id)
{
	int64_t total = 0;
	if (store_followers_count(a->st, user, STORE_FOLLOW_ACCEPTED, &total) != 0) {
		http_resp_error(r, 500, "internal", "internal error");
		return;
	}
	const char *page = http_req_query(q, "page");
	json_t *j;
	if (!page) {
		char *first = aim_xasprintf("%s?page=1", coll_id);
		j = ap_collection(coll_id, total, first);
		free(first);
	} else {
		int64_t n = 0;
		if (aim_parse_int(page, 1, 1000000, &n) != 0) {
			http_resp_error(r, 400, "bad_request", "page is a positive integer");
			return;
		}
		struct flist l = { json_array() };
		if (store_followers_list(a->st, user, STORE_FOLLOW_ACCEPTED, (n - 1) * FOLLOWERS_PAGE,
					 FOLLOWERS_PAGE, flist_cb, &l) != 0) {
			json_decref(l.items);
			http_resp_error(r, 500, "internal", "internal error");
			return;
		}
		char *self = aim_xasprintf("%s?page=%lld", coll_id, (long long)n);
		char *next = n * FOLLOWERS_PAGE < total
				     ? aim_xasprintf("%s?page=%lld", coll_id, (long long)n + 1)
				     : NULL;
		char *prev = n > 1 ? aim_xasprintf("%s?page=%lld", coll_id, (long long)n - 1) : NULL;
		j = ap_collection_page(self, coll_id, l.items, next, prev);
		free(self);
		free(next);
		free(prev);
	}
	char *s = ap_json_dump(j);
	json_decref(j);
	http_resp_set(r, 200, AP_MEDIA_TYPE, s, strlen(s));
	free(s);
}

/* ---- Effects of a local user's own outbox activities --------------------------- */

int s2s_outbox_effects(struct app *a, int64_t user, const json_t *act)
{
	const char *t = str_of(act, "type");
	const char *aid = str_of(act, "id");
	const json_t *o = json_object_get(act, "object");
	const char *oid = ap_id_of(o);
	if (!t || !aid || !oid)
		return 0;
	struct store_fx fx[2];
	size_t n = 0;
	char *tomb = NULL;
	char *fjson = NULL, *factor = NULL;
	if (!strcmp(t, "Follow") && !is_local(a, oid)) {
		fx[n++] = (struct store_fx){ .kind = STORE_FX_FOLLOWING_PUT, .user = user,
					     .actor = oid, .follow_id = aid,
					     .state = STORE_FOLLOW_PENDING };
	} else if (!strcmp(t, "Block") && !is_local(a, oid)) {
		fx[n++] = (struct store_fx){ .kind = STORE_FX_BLOCK_PUT, .user = user, .actor = oid };
		fx[n++] = (struct store_fx){ .kind = STORE_FX_FOLLOWER_DEL, .user = user,
					     .actor = oid };
	} else if (!strcmp(t, "Accept") || !strcmp(t, "Reject") || !strcmp(t, "Undo")) {
		/* About a Follow: received (Accept/Reject) or sent (Undo). */
		int64_t author = 0;
		if (store_activity_lookup(a->st, oid, &author, &factor, &fjson) != 0)
			return 0;
		json_t *f = ap_json_load_stored(fjson);
		const char *ft = f ? str_of(f, "type") : NULL;
		const char *fo = f ? ap_id_of(json_object_get(f, "object")) : NULL;
		if (ft && t[0] != 'U' && !strcmp(ft, "Follow") && factor) {
			if (!strcmp(t, "Accept"))
				fx[n++] = (struct store_fx){ .kind = STORE_FX_FOLLOWER_ACCEPT,
							     .user = user, .follow_id = oid };
			else
				fx[n++] = (struct store_fx){ .kind = STORE_FX_FOLLOWER_DEL, .user = user,
							     .actor = factor, .follow_id = oid };
		} else if (ft && t[0] == 'U' && author == user && !factor && fo) {
			if (!strcmp(ft, "Follow"))
				fx[n++] = (struct store_fx){ .kind = STORE_FX_FOLLOWING_DEL,
							     .user = user, .actor = fo,
							     .follow_id = oid };
			else if (!strcmp(ft, "Block"))
				fx[n++] = (struct store_fx){ .kind = STORE_FX_BLOCK_DEL, .user = user,
							     .actor = fo };
		}
		if (n && fx[0].actor == fo) {
			/* fo points into f: keep a copy past its release. */
			char *c = aim_xstrdup(fo);
			free(factor);
			factor = c;
			fx[0].actor = factor;
		}
		json_decref(f);
	} else if (!strcmp(t, "Delete") && is_local(a, oid)) {
		char ts[21];
		aim_time_rfc3339(aim_now(), ts);
		json_t *tj = json_pack("{s:s, s:s, s:s}", "id", oid, "type", "Tombstone", "deleted", ts);
		tomb = ap_json_dump(tj);
		json_decref(tj);
		fx[n++] = (struct store_fx){ .kind = STORE_FX_OBJECT_DELETE, .user = user,
					     .object_id = oid, .json = tomb };
	}
	int rc = 0;
	if (n) {
		struct store_inbound in = { .fx = fx, .n_fx = n };
		rc = store_inbound_commit(a->st, &in, NULL, NULL);
		if (rc != 0 && (aim_errcode() == AIM_ERR_NOTFOUND || aim_errcode() == AIM_ERR_DENIED))
			rc = 0; /* nothing of this user's to change */
	}
	free(tomb);
	free(fjson);
	free(factor);
	return rc;
}
