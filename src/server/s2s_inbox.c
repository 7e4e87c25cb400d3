/*
 * Inbox processing, the shell around the inbound core (src/ap/inbound.h).
 *
 * Runs after the gate (s2s_gate.c): parses the body, then asks the core
 * what the activity does, answering its questions (the actor's document
 * from the remote actor cache, local users, blocks, stored activities, an
 * object fetched from its origin) until it decides; then turns the plan's
 * effects into store effects and hands the activity with all of them to
 * the store in one durable transaction, shared with the requests that
 * arrive meanwhile (group commit, inbox_batch.h). The answer is 202 only
 * after that commit; a commit that fails with a storage error (AIM_ERR_STORAGE)
 * answers 503 and stops every later acknowledgement (SIGTERM and a restart
 * are needed), so nothing is ever acknowledged that is not on disk. Any
 * other failure (a peer that fails while its object or actor is fetched, a
 * lock, the activity itself) refuses that request only, with the answer of
 * the status table (status.h).
 */
#include "server/channels.h"
#include "server/internal.h"
#include "server/s2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "ap/inbound.h"
#include "base/url.h"
#include "crypto/crypto.h"
#include "server/delivery.h"
#include "server/status.h"

/* ---- Helpers ------------------------------------------------------------------- */

static void refuse(struct http_response *r, int status, const char *code, const char *why,
		   const char *remote, const char *actor)
{
	aim_log(AIM_LOG_INFO, "inbox", "remote=%s actor=%s refused %d: %s", remote,
		actor ? actor : "-", status, why);
	http_resp_error(r, status, code, why);
}

/* The recorded failure as this request's refusal (status.h: the table). */
static void refuse_failure(struct http_response *r, const char *remote, const char *actor)
{
	char msg[300];
	snprintf(msg, sizeof msg, "%s", aim_errmsg());
	int st = aimd_status_send_failure(r, STATUS_S2S);
	aim_log(AIM_LOG_INFO, "inbox", "remote=%s actor=%s refused %d: %s", remote,
		actor ? actor : "-", st, msg);
}

/* After a failed store_inbound_commit. Durable before acknowledged: a
 * storage failure on commit stops every later acknowledgement (until a
 * restart) rather than risk a false success. Only that: a failure of
 * anything else (a peer, a lock, the activity) refuses this request alone. */
static void refuse_commit(struct app *a, struct http_response *r, const char *remote,
			  const char *actor)
{
	if (aim_errcode() != AIM_ERR_STORAGE) {
		refuse_failure(r, remote, actor);
		return;
	}
	atomic_store(&a->fin->stopped, true);
	aim_log(AIM_LOG_ERROR, "inbox", "commit failed (%s): inbox acknowledgements stopped "
		"until restart", aim_errmsg());
	aimd_status_send(r, AIM_ERR_STORAGE, STATUS_S2S,
			 "storage failure: not accepting deliveries");
}

static bool is_local(struct app *a, const char *iri)
{
	return fetch_same_origin(iri, a->base);
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

/* ---- Answering the core's questions ---------------------------------------------- */

/* What the shell looked up for the core (src/ap/inbound.h); owned. */
struct answers {
	struct ap_inbound_facts f;
	struct remote_actor ra;
	char *actor_errmsg;
	struct ap_local_user *users;
	char **names;
	size_t n_users;
	struct ap_local_user *followers;
	char *stored_actor, *stored_json;
	json_t *fetched;
	char *fetch_errmsg;
};

static void answers_free(struct answers *x)
{
	aimd_remote_actor_clear(&x->ra);
	free(x->actor_errmsg);
	for (size_t i = 0; i < x->n_users; i++)
		free(x->names[i]);
	free(x->names);
	free(x->users);
	free(x->followers);
	free(x->stored_actor);
	free(x->stored_json);
	json_decref(x->fetched);
	free(x->fetch_errmsg);
}

static int user_facts(struct app *a, const char *actor, struct ap_local_user *u)
{
	TRY(store_blocked(a->st, u->id, actor, &u->blocks_actor));
	return store_manual_approval_get(a->st, u->id, &u->manual_approval);
}

static int answer_users(struct app *a, const struct ap_inbound_ask *q, const char *actor,
			struct answers *x)
{
	x->users = aim_xcalloc(q->n_users, sizeof *x->users);
	x->names = aim_xcalloc(q->n_users, sizeof *x->names);
	for (size_t i = 0; i < q->n_users; i++) {
		struct store_user su = { 0 };
		if (!aimd_valid_name(q->users[i]))
			continue;
		if (store_user_get(a->st, q->users[i], &su) != 0) {
			if (aim_errcode() != AIM_ERR_NOTFOUND)
				return -1;
			continue;
		}
		struct ap_local_user *u = &x->users[x->n_users];
		x->names[x->n_users] = aim_xstrdup(su.name);
		*u = (struct ap_local_user){ .id = su.id, .name = x->names[x->n_users] };
		x->n_users++;
		store_user_clear(&su);
		TRY(user_facts(a, actor, u));
	}
	x->f.users.answered = true;
	x->f.users.v = x->users;
	x->f.users.n = x->n_users;
	return 0;
}

static int answer_followers(struct app *a, const char *actor, struct answers *x)
{
	int64_t ids[AP_INBOUND_MAX_RECIPIENTS];
	size_t n = 0;
	TRY(store_following_users(a->st, actor, ids, AP_INBOUND_MAX_RECIPIENTS, &n));
	x->followers = aim_xcalloc(n ? n : 1, sizeof *x->followers);
	for (size_t i = 0; i < n; i++) {
		x->followers[i].id = ids[i];
		TRY(user_facts(a, actor, &x->followers[i]));
	}
	x->f.followers.answered = true;
	x->f.followers.v = x->followers;
	x->f.followers.n = n;
	return 0;
}

/* Looks up what the plan asks for. -1 only when a local lookup failed: a
 * remote document that cannot be had is a fact for the core. */
static int answer(struct app *a, const struct ap_inbound_ask *q, const char *actor,
		  struct answers *x)
{
	struct ap_inbound_facts *f = &x->f;
	if (q->actor) {
		/* Usually cached by the key lookup just before. */
		f->actor.answered = true;
		if (aimd_remote_actor_get(a, actor, false, &x->ra) == 0) {
			f->actor.inbox = x->ra.inbox;
			f->actor.shared_inbox = x->ra.shared_inbox;
			f->actor.followers = x->ra.followers;
		} else {
			f->actor.err = aim_errcode();
			f->actor.errmsg = x->actor_errmsg = aim_xstrdup(aim_errmsg());
			aim_errclear();
		}
	}
	if (q->n_users && !f->users.answered)
		TRY(answer_users(a, q, actor, x));
	if (q->followers && !f->followers.answered)
		TRY(answer_followers(a, actor, x));
	if (q->stored) {
		int64_t author = 0;
		if (store_activity_lookup(a->st, q->stored, &author, &x->stored_actor,
					  &x->stored_json) == 0) {
			f->stored.found = true;
			f->stored.author = author;
			f->stored.actor = x->stored_actor;
			f->stored.json = x->stored_json;
		} else if (aim_errcode() != AIM_ERR_NOTFOUND) {
			return -1;
		}
		f->stored.answered = true;
	}
	if (q->is_actor) {
		f->is_actor.answered = true;
		f->is_actor.yes = aimd_remote_actor_known(a, q->is_actor);
	}
	if (q->fetch) {
		f->fetch.answered = true;
		if (aimd_fetch_ap(a->fin->signer, q->fetch, &x->fetched) == 0) {
			f->fetch.doc = x->fetched;
		} else {
			f->fetch.err = aim_errcode();
			f->fetch.errmsg = x->fetch_errmsg = aim_xstrdup(aim_errmsg());
			aim_errclear();
		}
	}
	return 0;
}

/* ---- Carrying out a plan ---------------------------------------------------------- */

static const enum store_fx_kind fx_kinds[] = {
	[AP_FX_FOLLOWER_PUT] = STORE_FX_FOLLOWER_PUT,
	[AP_FX_FOLLOWER_DEL] = STORE_FX_FOLLOWER_DEL,
	[AP_FX_FOLLOWING_ACCEPT] = STORE_FX_FOLLOWING_ACCEPT,
	[AP_FX_FOLLOWING_DEL] = STORE_FX_FOLLOWING_DEL,
	[AP_FX_OBJECT_UPDATE] = STORE_FX_OBJECT_UPDATE,
	[AP_FX_OBJECT_DELETE] = STORE_FX_OBJECT_DELETE,
	[AP_FX_OBJECT_PURGE] = STORE_FX_OBJECT_PURGE,
	[AP_FX_ACTOR_PURGE] = STORE_FX_ACTOR_PURGE,
};

/* The store transaction of a decided plan, group-committed with the other
 * requests' (inbox_batch.h); *dup and *added as store_inbound_commit. */
static int commit(struct app *a, const struct ap_inbound_plan *p, const char *actor, bool *dup,
		  size_t *added)
{
	struct store_fx fx[AP_INBOUND_MAX_FX];
	size_t n = 0;
	for (size_t i = 0; i < p->n_fx; i++) {
		const struct ap_effect *e = &p->fx[i];
		if (e->kind == AP_FX_ACTOR_FORGET) {
			aimd_remote_actor_forget(a, e->actor); /* refetched when next needed */
			continue;
		}
		fx[n++] = (struct store_fx){
			.kind = fx_kinds[e->kind],
			.user = e->user,
			.actor = e->actor,
			.inbox = e->inbox,
			.shared_inbox = e->shared_inbox,
			.follow_id = e->follow_id,
			.object_id = e->object_id,
			.json = e->json,
			.state = e->accepted ? STORE_FOLLOW_ACCEPTED : STORE_FOLLOW_PENDING,
		};
	}
	int64_t now = aim_now();
	struct store_inbound in = {
		.id = p->id,
		.actor = actor,
		.json = p->json,
		.object_id = p->object_id,
		.object_json = p->object_json,
		.is_public = p->is_public,
		.audience = p->recipients,
		.n_audience = p->n_recipients,
		.inbox = p->recipients,
		.n_inbox = p->n_recipients,
		.published = now,
		.fx = fx,
		.n_fx = n,
	};
	/* The automatic Accept, with its delivery to the follower. */
	struct store_new_delivery dlv = { 0 };
	struct store_outgoing out = { 0 };
	struct store_new_activity reply = { 0 };
	char *host = NULL;
	if (p->reply) {
		struct aim_url iu = { 0 };
		if (aim_url_parse(p->reply_inbox, &iu) == 0)
			host = aim_xstrdup(iu.host);
		aim_url_free(&iu);
		dlv = (struct store_new_delivery){
			.inbox = p->reply_inbox,
			.actor = actor,
			.host = host ? host : "",
			.personal = true,
		};
		out = (struct store_outgoing){
			.activity_id = p->reply_id,
			.signer = p->reply_author,
			.body = p->reply,
			.v = &dlv,
			.n = 1,
			.now_ms = aim_now_ms(),
		};
		reply = (struct store_new_activity){
			.id = p->reply_id,
			.json = p->reply,
			.author = p->reply_author,
			.published = now,
			.outgoing = &out,
		};
		in.reply = &reply;
	}
	int rc = aimd_batch_commit(&a->fin->batch, a->st, &in, dup, added);
	if (rc != 0 && p->lenient && aim_errcode() == AIM_ERR_NOTFOUND) {
		/* The object is unknown here: keep the activity and the effects
		 * that need no object row. */
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (fx[i].kind != STORE_FX_OBJECT_UPDATE && fx[i].kind != STORE_FX_OBJECT_DELETE)
				fx[k++] = fx[i];
		in.n_fx = k;
		rc = aimd_batch_commit(&a->fin->batch, a->st, &in, dup, added);
	}
	free(host);
	return rc;
}

/* Asks the core until it decides, answering its questions; then commits. */
static void process(struct app *a, const struct http_request *q, struct http_response *r,
		    const char *inbox_user, const json_t *act, const char *actor)
{
	char u[37];
	uuid4(u);
	char *reply_id = aim_xasprintf("%s/activities/%s", a->base, u);
	struct ap_inbound_env env = {
		.base = a->base,
		.actor = actor,
		.inbox_user = inbox_user,
		.reply_id = reply_id,
		.now = aim_now(),
	};
	struct answers x = { 0 };
	struct ap_inbound_plan p = { 0 };
	int rc = 0;
	for (int round = 0; rc == 0; round++) {
		rc = ap_inbound_decide(&env, act, &x.f, &p);
		if (rc != 0 || !ap_inbound_asks(&p))
			break;
		if (round == AP_INBOUND_MAX_ROUNDS)
			rc = aim_fail(AIM_ERR_INTERNAL, "the inbound core asks without end");
		else
			rc = answer(a, &p.ask, actor, &x);
		ap_inbound_plan_clear(&p);
	}
	if (rc != 0) {
		/* the activity, a peer (its object, its actor) or a lookup:
		 * this request only */
		refuse_failure(r, q->remote, actor);
		goto out;
	}
	bool dup = false;
	size_t added = 0;
	if (commit(a, &p, actor, &dup, &added) != 0) {
		refuse_commit(a, r, q->remote, actor);
		goto out;
	}
	if (added) /* the streams of the users whose inbox grew */
		aimd_sse_wake_users(&a->wake, p.recipients, p.n_recipients);
	if (p.reply && !dup)
		aimd_delivery_kick(a->dlv); /* the Accept goes out now */
	if (p.n_fx && p.fx[0].kind == AP_FX_FOLLOWER_PUT)
		aim_log(AIM_LOG_INFO, "inbox", "Follow %s -> user %lld %s%s", actor,
			(long long)p.fx[0].user, p.fx[0].accepted ? "accepted" : "pending approval",
			dup ? " (duplicate)" : "");
	aim_log(AIM_LOG_DEBUG, "inbox", "%s %s from %s: %zu inbox rows%s", str_of(act, "type"),
		p.id, actor, added, dup ? " (duplicate)" : "");
	http_resp_set(r, 202, "application/json", "{}", 2);
out:
	ap_inbound_plan_clear(&p);
	answers_free(&x);
	free(reply_id);
}

void aimd_s2s_inbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		    const char *user)
{
	struct fed_in *f = a->fin;
	if (!f || atomic_load(&f->stopped)) {
		aimd_status_send(r, AIM_ERR_STORAGE, STATUS_S2S,
				 "storage failure: not accepting deliveries");
		return;
	}
	struct sig_fields fl;
	http_sig_fields_init(&fl);
	char host[256];
	struct s2s_auth au = { 0 };
	json_t *act = NULL;
	if (aimd_s2s_host_admit(a, q, r, &fl, host, sizeof host) != 0) {
		aim_log(AIM_LOG_INFO, "inbox", "remote=%s refused 429: %s", q->remote,
			"per-host limit");
		http_sig_fields_free(&fl);
		return;
	}
	/* ONE gate for every S2S POST (B33): nothing is parsed or stored
	 * before the signature is verified. */
	if (aimd_s2s_gate_verify(a, q, &fl, host, &au) != 0) {
		refuse_failure(r, q->remote, NULL); /* 401; 502/504 when the key could not be had */
		goto out;
	}
	if (user) {
		struct store_user u = { 0 };
		if (store_user_get(a->st, user, &u) != 0) {
			if (aim_errcode() == AIM_ERR_NOTFOUND)
				refuse(r, 404, "not_found", "no such user", q->remote, au.actor);
			else
				refuse_failure(r, q->remote, au.actor);
			goto out;
		}
		if (u.id == a->instance_id)
			user = NULL; /* the instance actor's inbox is a shared one */
		store_user_clear(&u);
	}
	if (ap_json_parse_object(q->body, q->body_len, &act) != 0) {
		refuse(r, 400, "bad_request", aim_errmsg(), q->remote, au.actor);
		goto out;
	}
	/* Channels (channels.h): an Announce or a Welcome by a channel. */
	if (!aimd_chan_inbound(a, q, r, act, au.actor))
		process(a, q, r, user, act, au.actor);
out:
	json_decref(act);
	aimd_s2s_auth_clear(&au);
	aimd_s2s_host_release(a, host);
	http_sig_fields_free(&fl);
}

/* ---- Effects of a local user's own outbox activities --------------------------- */

int aimd_s2s_outbox_effects(struct app *a, int64_t user, const json_t *act)
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
		json_t *tj = ap_tombstone(oid, aim_now());
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
