/* ap/inbound: the rules for an activity from another server (see inbound.h). */
#include "ap/inbound.h"

#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "base/url.h"

#define IRI_MAX 2048 /* longest id accepted (B28) */

/* ---- IRIs, compared only after the strict URL parse (A16) ------------------ */

struct core {
	const struct ap_inbound_env *env;
	const json_t *act;
	const struct ap_inbound_facts *facts;
	struct ap_inbound_plan *p;
	const char *id, *type;
	char *base;                  /* env->base normalised, without a trailing '/' */
};

/* The canonical form of an http(s) URL (malloc'd), or NULL. */
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

static bool iri_ok(const char *s)
{
	return s && strlen(s) <= IRI_MAX && aim_url_valid(s);
}

static bool is_local(const struct core *c, const char *iri)
{
	return aim_url_origin_equal(iri, c->env->base);
}

/* NAME when iri is BASE/users/NAME (after normalisation), else NULL;
 * malloc'd. Whether NAME is a user is a question for the shell. */
static char *local_name(const struct core *c, const char *iri)
{
	if (!c->base || !iri)
		return NULL;
	char *n = norm(iri);
	char *name = NULL;
	size_t bl = strlen(c->base);
	if (n && !strncmp(n, c->base, bl) && !strncmp(n + bl, "/users/", 7) && n[bl + 7])
		name = aim_xstrdup(n + bl + 7);
	free(n);
	return name;
}

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---- Facts ---------------------------------------------------------------- */

static const struct ap_local_user *user_named(const struct core *c, const char *name)
{
	if (!name || !c->facts->users.answered)
		return NULL;
	for (size_t i = 0; i < c->facts->users.n; i++) {
		const struct ap_local_user *u = &c->facts->users.v[i];
		if (u->name && !strcmp(u->name, name))
			return u;
	}
	return NULL;
}

/* The local user BASE/users/NAME names, or NULL. */
static const struct ap_local_user *user_of(const struct core *c, const char *iri)
{
	char *name = local_name(c, iri);
	const struct ap_local_user *u = user_named(c, name);
	free(name);
	return u;
}

static void ask_user(struct core *c, const char *name)
{
	struct ap_inbound_ask *a = &c->p->ask;
	if (!name)
		return;
	for (size_t i = 0; i < a->n_users; i++)
		if (!strcmp(a->users[i], name))
			return;
	a->users = aim_xrealloc(a->users, (a->n_users + 1) * sizeof *a->users);
	a->users[a->n_users++] = aim_xstrdup(name);
}

static void ask_user_of(struct core *c, const char *iri)
{
	char *name = local_name(c, iri);
	ask_user(c, name);
	free(name);
}

bool ap_inbound_asks(const struct ap_inbound_plan *p)
{
	const struct ap_inbound_ask *a = &p->ask;
	return a->actor || a->n_users || a->followers || a->stored || a->is_actor || a->fetch;
}

/* ---- Recipients ------------------------------------------------------------- */

struct scan {
	struct core *c;
	const char *followers;       /* the actor's followers collection, or NULL */
	size_t budget;               /* IRIs still to look at (B26) */
	bool asking;                 /* collect names instead of resolving them */
	bool is_public, followers_addressed;
};

static void rcpt_add(struct ap_inbound_plan *p, int64_t id)
{
	if (id <= 0)
		return;
	for (size_t i = 0; i < p->n_recipients; i++)
		if (p->recipients[i] == id)
			return;
	if (p->n_recipients < AP_INBOUND_MAX_RECIPIENTS)
		p->recipients[p->n_recipients++] = id;
}

static void scan_field(struct scan *s, const json_t *v)
{
	if (json_is_array(v)) {
		size_t i;
		const json_t *x;
		json_array_foreach(v, i, x)
			scan_field(s, x);
		return;
	}
	const char *iri = ap_id_of(v);
	if (!iri || s->budget == 0)
		return;
	s->budget--;
	if (ap_is_public(iri)) {
		s->is_public = true;
		s->followers_addressed = true;
	} else if (s->followers && aim_url_equal(iri, s->followers)) {
		s->followers_addressed = true;
	} else if (is_local(s->c, iri)) {
		if (s->asking) {
			ask_user_of(s->c, iri);
		} else {
			const struct ap_local_user *u = user_of(s->c, iri);
			if (u)
				rcpt_add(s->c->p, u->id);
		}
	}
}

/* to, cc, bto, bcc, audience of the activity and of its embedded object. */
static void scan(struct scan *s)
{
	static const char *const fields[] = { "to", "cc", "bto", "bcc", "audience" };
	const json_t *obj = json_object_get(s->c->act, "object");
	s->budget = AP_MAX_ADDRESSEES;
	s->followers = s->c->facts->actor.err == AIM_ERR_NONE ? s->c->facts->actor.followers : NULL;
	for (size_t f = 0; f < AIM_ARRAY_LEN(fields); f++) {
		scan_field(s, json_object_get(s->c->act, fields[f]));
		if (json_is_object(obj))
			scan_field(s, json_object_get(obj, fields[f]));
	}
}

/* The names any rule below may look up: asked for all at once. */
static void ask_names(struct core *c)
{
	struct scan s = { .c = c, .asking = true };
	scan(&s);
	ask_user(c, c->env->inbox_user);
	const json_t *o = json_object_get(c->act, "object");
	if (!strcmp(c->type, "Follow") || !strcmp(c->type, "Block"))
		ask_user_of(c, ap_id_of(o));
	else if (!strcmp(c->type, "Undo") && json_is_object(o))
		ask_user_of(c, ap_id_of(json_object_get(o, "object")));
	c->p->ask.followers = s.followers_addressed && !c->facts->followers.answered;
	if (c->facts->users.answered) {
		/* Asked for before (the same names): answered. */
		for (size_t i = 0; i < c->p->ask.n_users; i++)
			free(c->p->ask.users[i]);
		free(c->p->ask.users);
		c->p->ask.users = NULL;
		c->p->ask.n_users = 0;
	}
}

/* The recipients, with the blocking rules. */
static int recipients(struct core *c)
{
	struct ap_inbound_plan *p = c->p;
	struct scan s = { .c = c };
	scan(&s);
	p->is_public = s.is_public;
	if (s.followers_addressed)
		for (size_t i = 0; i < c->facts->followers.n; i++)
			rcpt_add(p, c->facts->followers.v[i].id);
	if (c->env->inbox_user) {
		/* A personal inbox: its owner receives it. */
		const struct ap_local_user *u = user_named(c, c->env->inbox_user);
		ENSURE(u, AIM_ERR_NOTFOUND, "no such user");
		ENSURE(!u->blocks_actor, AIM_ERR_DENIED, "this user blocks the actor");
		rcpt_add(p, u->id);
	}
	/* Recipients who block the actor do not get it. */
	size_t before = p->n_recipients;
	for (size_t i = 0; i < p->n_recipients;) {
		bool blocks = false;
		for (size_t k = 0; k < c->facts->users.n; k++)
			if (c->facts->users.v[k].id == p->recipients[i])
				blocks = blocks || c->facts->users.v[k].blocks_actor;
		for (size_t k = 0; k < c->facts->followers.n; k++)
			if (c->facts->followers.v[k].id == p->recipients[i])
				blocks = blocks || c->facts->followers.v[k].blocks_actor;
		if (blocks)
			p->recipients[i] = p->recipients[--p->n_recipients];
		else
			i++;
	}
	ENSURE(p->n_recipients > 0 || before == 0, AIM_ERR_DENIED,
	       "every recipient blocks the actor");
	return 0;
}

static void only_recipient(struct ap_inbound_plan *p, int64_t id)
{
	p->n_recipients = 0;
	rcpt_add(p, id);
}

static struct ap_effect *fx_add(struct ap_inbound_plan *p, enum ap_effect_kind k)
{
	struct ap_effect *f = &p->fx[p->n_fx++];
	*f = (struct ap_effect){ .kind = k };
	return f;
}

/* ---- Per type ---------------------------------------------------------------- */

static int do_follow(struct core *c)
{
	const char *actor = c->env->actor;
	const char *obj = ap_id_of(json_object_get(c->act, "object"));
	ENSURE(obj, AIM_ERR_INVALID, "Follow without an object");
	const struct ap_local_user *u = user_of(c, obj);
	ENSURE(u, AIM_ERR_NOTFOUND, "Follow of someone who is not a user here");
	const struct ap_local_user *in = user_named(c, c->env->inbox_user);
	ENSURE(!c->env->inbox_user || (in && in->id == u->id), AIM_ERR_INVALID,
	       "Follow of another user posted to this inbox");
	ENSURE(!u->blocks_actor, AIM_ERR_DENIED, "blocked");
	/* Where the Accept and the followers' posts go. */
	const struct ap_inbound_facts *f = c->facts;
	if (f->actor.err != AIM_ERR_NONE)
		return aim_fail(f->actor.err, "%s", f->actor.errmsg ? f->actor.errmsg : "no actor");
	ENSURE(f->actor.inbox, AIM_ERR_INVALID, "the actor has no inbox");
	struct ap_effect *e = fx_add(c->p, AP_FX_FOLLOWER_PUT);
	e->user = u->id;
	e->actor = actor;
	e->inbox = f->actor.inbox;
	e->shared_inbox = f->actor.shared_inbox;
	e->follow_id = c->id;
	e->accepted = !u->manual_approval;
	/* The Follow shows in the followed user's inbox (a request to approve,
	 * or a notice), and to nobody else. */
	only_recipient(c->p, u->id);
	c->p->is_public = false;
	if (!u->manual_approval) {
		/* Automatic Accept: the user's activity, delivered to the
		 * follower's own inbox in the same transaction. */
		char *url = aim_xasprintf("%s/users/%s", c->env->base, u->name);
		json_t *acc = ap_accept_follow(c->env->reply_id, url, c->id, actor, obj);
		c->p->reply = ap_json_dump(acc);
		json_decref(acc);
		free(url);
		c->p->reply_id = c->env->reply_id;
		c->p->reply_author = u->id;
		c->p->reply_inbox = f->actor.inbox;
	}
	return 0;
}

/* Accept / Reject of one of our Follows: only by the actor it followed (B30). */
static int do_answer(struct core *c, bool accept)
{
	const char *fid = ap_id_of(json_object_get(c->act, "object"));
	ENSURE(fid, AIM_ERR_INVALID, "%s without an object", c->type);
	ENSURE(is_local(c, fid), AIM_ERR_DENIED, "%s about an object of another server", c->type);
	if (!c->facts->stored.answered) {
		c->p->ask.stored = aim_xstrdup(fid);
		return 0;
	}
	if (!c->facts->stored.found)
		return 0; /* not a Follow of ours: nothing to do */
	json_t *f = ap_json_load_stored(c->facts->stored.json);
	const char *ft = f ? str_of(f, "type") : NULL;
	const char *fo = f ? ap_id_of(json_object_get(f, "object")) : NULL;
	bool ours = !c->facts->stored.actor && ft && !strcmp(ft, "Follow") && fo &&
		    aim_url_equal(fo, c->env->actor);
	json_decref(f);
	ENSURE(ours, AIM_ERR_DENIED, "%s of something that is not a Follow of %s", c->type,
	       c->env->actor);
	struct ap_effect *e = fx_add(c->p, accept ? AP_FX_FOLLOWING_ACCEPT : AP_FX_FOLLOWING_DEL);
	e->user = accept ? 0 : c->facts->stored.author;
	e->actor = c->env->actor;
	e->follow_id = fid;
	only_recipient(c->p, c->facts->stored.author);
	return 0;
}

static int do_undo(struct core *c)
{
	const char *actor = c->env->actor;
	const json_t *o = json_object_get(c->act, "object");
	const char *oid = ap_id_of(o);
	ENSURE(oid && iri_ok(oid), AIM_ERR_INVALID, "Undo without an object id");
	/* B30: only what the actor itself did can be undone. */
	ENSURE(aim_url_origin_equal(oid, actor), AIM_ERR_DENIED,
	       "Undo of an object of another server");
	const char *ot = json_is_object(o) ? str_of(o, "type") : NULL;
	if (json_is_object(o)) {
		const char *oa = ap_id_of(json_object_get(o, "actor"));
		ENSURE(!oa || aim_url_equal(oa, actor), AIM_ERR_DENIED,
		       "Undo of another actor's activity");
	}
	if (!c->facts->stored.answered) {
		c->p->ask.stored = aim_xstrdup(oid);
		return 0;
	}
	if (c->facts->stored.found) {
		ENSURE(c->facts->stored.actor && aim_url_equal(c->facts->stored.actor, actor),
		       AIM_ERR_DENIED, "Undo of another actor's activity");
		json_t *s = ap_json_load_stored(c->facts->stored.json);
		const char *st = s ? str_of(s, "type") : NULL;
		if (st && !strcmp(st, "Follow"))
			ot = "Follow";
		json_decref(s);
	}
	if (ot && !strcmp(ot, "Follow")) {
		struct ap_effect *e = fx_add(c->p, AP_FX_FOLLOWER_DEL);
		e->actor = actor;
		e->follow_id = oid;
		/* An embedded Follow whose id we never saw: by its object. */
		const struct ap_local_user *u =
			json_is_object(o) ? user_of(c, ap_id_of(json_object_get(o, "object"))) : NULL;
		if (u) {
			e = fx_add(c->p, AP_FX_FOLLOWER_DEL);
			e->user = u->id;
			e->actor = actor;
		}
	}
	c->p->n_recipients = 0;
	return 0;
}

/* B23: an object is trusted only from its own origin, attributed to the actor. */
static int check_object_origin(const struct core *c, const json_t *obj)
{
	const char *oid = str_of(obj, "id");
	ENSURE(oid && iri_ok(oid), AIM_ERR_INVALID, "object without an http(s) id");
	ENSURE(aim_url_origin_equal(oid, c->env->actor), AIM_ERR_DENIED,
	       "object %s is not on the actor's server", oid);
	const json_t *at = json_object_get(obj, "attributedTo");
	if (at) {
		const char *aid = ap_id_of(at);
		if (json_is_array(at) && json_array_size(at) == 1)
			aid = ap_id_of(json_array_get(at, 0));
		ENSURE(aid && aim_url_equal(aid, c->env->actor), AIM_ERR_DENIED,
		       "object attributed to someone else than the actor");
	}
	return 0;
}

static int do_create(struct core *c, json_t *stored)
{
	const json_t *obj = json_object_get(c->act, "object");
	if (json_is_string(obj)) {
		/* Only a reference: fetched from its origin (B23), and embedded. */
		const char *oid = json_string_value(obj);
		ENSURE(iri_ok(oid) && aim_url_origin_equal(oid, c->env->actor), AIM_ERR_DENIED,
		       "Create of an object on another server");
		if (!c->facts->fetch.answered) {
			c->p->ask.fetch = aim_xstrdup(oid);
			return 0;
		}
		if (!c->facts->fetch.doc)
			return aim_fail(c->facts->fetch.err, "%s",
					c->facts->fetch.errmsg ? c->facts->fetch.errmsg
							       : "the object could not be fetched");
		obj = c->facts->fetch.doc;
		json_object_set(stored, "object", (json_t *)obj);
	}
	ENSURE(json_is_object(obj), AIM_ERR_INVALID, "Create without an object");
	TRY(check_object_origin(c, obj));
	c->p->object_id = str_of(obj, "id");
	c->p->object_json = ap_json_dump(obj);
	return 0;
}

static bool actor_type(const char *t)
{
	static const char *const types[] = { "Person", "Service", "Group", "Application",
					     "Organization" };
	for (size_t i = 0; t && i < AIM_ARRAY_LEN(types); i++)
		if (!strcmp(t, types[i]))
			return true;
	return false;
}

static int do_update_delete(struct core *c, json_t *stored, bool del)
{
	const char *actor = c->env->actor;
	const json_t *obj = json_object_get(c->act, "object");
	const char *oid = ap_id_of(obj);
	ENSURE(oid && iri_ok(oid), AIM_ERR_INVALID, "%s without an object id", c->type);
	if (aim_url_equal(oid, actor)) {
		/* The actor itself: refetch it later, or forget it with its content. */
		fx_add(c->p, AP_FX_ACTOR_FORGET)->actor = actor;
		if (del) {
			fx_add(c->p, AP_FX_ACTOR_PURGE)->actor = actor;
			c->p->n_recipients = 0;
		}
		return 0;
	}
	/* B24: only the owner updates or deletes an object, and an actor only
	 * itself. */
	ENSURE(aim_url_origin_equal(oid, actor), AIM_ERR_DENIED, "%s of an object of another server",
	       c->type);
	const char *ot = json_is_object(obj) ? str_of(obj, "type") : NULL;
	ENSURE(!actor_type(ot), AIM_ERR_DENIED, "%s of another actor", c->type);
	if (!c->facts->is_actor.answered) {
		c->p->ask.is_actor = aim_xstrdup(oid);
		return 0;
	}
	ENSURE(!c->facts->is_actor.yes, AIM_ERR_DENIED, "%s of another actor", c->type);
	struct ap_effect *e = fx_add(c->p, del ? AP_FX_OBJECT_DELETE : AP_FX_OBJECT_UPDATE);
	e->actor = actor;
	e->object_id = oid;
	if (del) {
		/* The content goes from everywhere it is kept here: the object
		 * row, the Create and Updates that carried it, and this Delete
		 * (an embedded object is stored as the Tombstone). */
		json_t *t = ap_tombstone(oid, c->env->now);
		e->json = ap_json_dump(t);
		struct ap_effect *pu = fx_add(c->p, AP_FX_OBJECT_PURGE);
		pu->actor = actor;
		pu->object_id = oid;
		pu->json = ap_json_dump(t);
		if (json_is_object(obj))
			json_object_set(stored, "object", t);
		json_decref(t);
	} else {
		ENSURE(json_is_object(obj), AIM_ERR_INVALID, "Update without the object");
		TRY(check_object_origin(c, obj));
		e->json = ap_json_dump(obj);
	}
	c->p->lenient = true;
	return 0;
}

static int do_block(struct core *c)
{
	const char *obj = ap_id_of(json_object_get(c->act, "object"));
	ENSURE(obj, AIM_ERR_INVALID, "Block without an object");
	const struct ap_local_user *u = user_of(c, obj);
	if (u) {
		/* Blocked by a remote actor: the follows between them end. */
		struct ap_effect *e = fx_add(c->p, AP_FX_FOLLOWER_DEL);
		e->user = u->id;
		e->actor = c->env->actor;
		e = fx_add(c->p, AP_FX_FOLLOWING_DEL);
		e->user = u->id;
		e->actor = c->env->actor;
	}
	/* A Block is not shown to the blocked user. */
	c->p->n_recipients = 0;
	return 0;
}

/* ---- The decision --------------------------------------------------------------- */

/* Shape (B28), key owner (A14), origin of the id. */
static int check_shape(struct core *c)
{
	c->id = str_of(c->act, "id");
	c->type = str_of(c->act, "type");
	const char *actor = ap_id_of(json_object_get(c->act, "actor"));
	ENSURE(c->id && iri_ok(c->id) && c->type && *c->type && actor, AIM_ERR_INVALID,
	       "activity needs an http(s) id, a type and an actor");
	/* A14: the key's owner is the activity's actor (compared after a URL
	 * parse, A16). */
	ENSURE(aim_url_equal(actor, c->env->actor), AIM_ERR_AUTH,
	       "the signing key does not belong to the activity's actor");
	ENSURE(aim_url_origin_equal(c->id, c->env->actor), AIM_ERR_DENIED,
	       "activity id is not on the actor's server");
	return 0;
}

static int decide(struct core *c)
{
	TRY(check_shape(c));
	/* The actor's document first: its followers collection is addressing. */
	if (!c->facts->actor.answered) {
		c->p->ask.actor = true;
		return 0;
	}
	ask_names(c);
	if (ap_inbound_asks(c->p))
		return 0;
	struct ap_inbound_plan *p = c->p;
	p->recipients = aim_xcalloc(AP_INBOUND_MAX_RECIPIENTS, sizeof *p->recipients);
	TRY(recipients(c));
	json_t *stored = json_copy((json_t *)c->act);
	const char *t = c->type;
	int rc = 0;
	if (!strcmp(t, "Follow"))
		rc = do_follow(c);
	else if (!strcmp(t, "Accept") || !strcmp(t, "Reject"))
		rc = do_answer(c, t[0] == 'A');
	else if (!strcmp(t, "Undo"))
		rc = do_undo(c);
	else if (!strcmp(t, "Create"))
		rc = do_create(c, stored);
	else if (!strcmp(t, "Update") || !strcmp(t, "Delete"))
		rc = do_update_delete(c, stored, t[0] == 'D');
	else if (!strcmp(t, "Block"))
		rc = do_block(c);
	if (rc == 0 && !ap_inbound_asks(p)) {
		p->id = c->id;
		p->json = ap_json_dump(stored);
	}
	json_decref(stored);
	return rc;
}

int ap_inbound_decide(const struct ap_inbound_env *env, const json_t *activity,
		      const struct ap_inbound_facts *facts, struct ap_inbound_plan *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(env && env->base && env->actor && facts && json_is_object(activity),
	       AIM_ERR_INVALID, "inbound decision without its inputs");
	struct core c = { .env = env, .act = activity, .facts = facts, .p = out };
	c.base = norm(env->base);
	if (c.base) {
		size_t bl = strlen(c.base);
		while (bl && c.base[bl - 1] == '/')
			c.base[--bl] = '\0';
	}
	int rc = decide(&c);
	free(c.base);
	if (rc != 0) {
		/* Keep the reason across the cleanup. */
		enum aim_err e = aim_errcode();
		char *why = aim_xstrdup(aim_errmsg());
		ap_inbound_plan_clear(out);
		aim_fail(e, "%s", why);
		free(why);
		return -1;
	}
	return 0;
}

void ap_inbound_plan_clear(struct ap_inbound_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ask.n_users; i++)
		free(p->ask.users[i]);
	free(p->ask.users);
	free(p->ask.stored);
	free(p->ask.is_actor);
	free(p->ask.fetch);
	free(p->json);
	free(p->object_json);
	free(p->recipients);
	for (size_t i = 0; i < p->n_fx; i++)
		free(p->fx[i].json);
	free(p->reply);
	memset(p, 0, sizeof *p);
}

const char *ap_effect_name(enum ap_effect_kind k)
{
	switch (k) {
	case AP_FX_FOLLOWER_PUT:
		return "follower_put";
	case AP_FX_FOLLOWER_DEL:
		return "follower_del";
	case AP_FX_FOLLOWING_ACCEPT:
		return "following_accept";
	case AP_FX_FOLLOWING_DEL:
		return "following_del";
	case AP_FX_OBJECT_UPDATE:
		return "object_update";
	case AP_FX_OBJECT_DELETE:
		return "object_delete";
	case AP_FX_OBJECT_PURGE:
		return "object_purge";
	case AP_FX_ACTOR_PURGE:
		return "actor_purge";
	case AP_FX_ACTOR_FORGET:
		return "actor_forget";
	}
	return "?";
}

/* ---- Documents ----------------------------------------------------------------- */

json_t *ap_accept_follow(const char *id, const char *actor, const char *follow_id,
			 const char *follower, const char *followed)
{
	json_t *fo = json_pack("{s:s, s:s, s:s, s:s}", "id", follow_id, "type", "Follow", "actor",
			       follower, "object", followed);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:[s]}", "@context", AP_CTX_AS, "id", id,
			 "type", "Accept", "actor", actor, "object", fo, "to", follower);
}

json_t *ap_tombstone(const char *id, int64_t deleted)
{
	char ts[21];
	aim_time_rfc3339(deleted, ts);
	return json_pack("{s:s, s:s, s:s}", "id", id, "type", "Tombstone", "deleted", ts);
}
