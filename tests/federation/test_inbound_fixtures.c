/*
 * The inbound cases as data: every JSON file in tests/fixtures/inbound is one
 * activity, the local world it arrives in (users, the actor's document,
 * stored activities, what fetches return) and the plan the core must make
 * (refused with an error code, or accepted with exactly these recipients,
 * effects, stored JSON and reply). This runner drives src/ap/inbound.h the
 * way the shell does: it parses the body with ap_json_parse_object, calls
 * ap_inbound_decide, answers every question from the fixture's world, and
 * compares the decision. The format is in tests/fixtures/inbound/README.md.
 *
 * Fixtures are found by listing the directory ($AIM_SOURCE_DIR, set by
 * CTest), so adding a file adds a case. Prints one TAP line per case.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "ap/inbound.h"

#define MIN_CASES 40
#define REMOTE_ROW 999 /* the store's row for remote authors */

#define DEFAULT_BASE "https://b.test"
#define DEFAULT_ACTOR "https://r.test/users/mallory"
#define DEFAULT_NOW 1700000000
#define REPLY_ID DEFAULT_BASE "/activities/reply-1"

/* ---- One case ------------------------------------------------------------------ */

struct world {
	json_t *fx;                  /* the fixture */
	json_t *wd;                  /* its "world" (borrowed) */
	const char *actor;
	/* answers, kept until the case ends */
	struct ap_local_user users[64];
	char *names[64];
	size_t n_users;
	struct ap_local_user followers[64];
	size_t n_followers;
	char *stored_json;
	/* what was asked, over all rounds */
	json_t *asked;               /* array of question names */
	json_t *fetched;             /* array of URLs */
	char why[1024];
};

static int fail(struct world *w, const char *fmt, ...) AIM_PRINTF(2, 3);
static int fail(struct world *w, const char *fmt, ...)
{
	if (!w->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->why, sizeof w->why, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static enum aim_err err_named(const char *name)
{
	for (int e = AIM_ERR_NONE; e <= AIM_ERR_INTERNAL; e++)
		if (name && !strcmp(aim_errname((enum aim_err)e), name))
			return (enum aim_err)e;
	return AIM_ERR_INTERNAL;
}

/* The local user id of a name in world.users: 1, 2, ... in file order. */
static int64_t user_id(const struct world *w, const char *name)
{
	json_t *users = json_object_get(w->wd, "users");
	int64_t id = 1;
	const char *k;
	json_t *v;
	json_object_foreach(users, k, v) {
		if (!strcmp(k, name))
			return id;
		id++;
	}
	return 0;
}

static const char *user_name(const struct world *w, int64_t id)
{
	json_t *users = json_object_get(w->wd, "users");
	int64_t i = 1;
	const char *k;
	json_t *v;
	json_object_foreach(users, k, v) {
		if (i++ == id)
			return k;
	}
	return id == REMOTE_ROW ? "(remote)" : "(unknown)";
}

static void local_user(const struct world *w, const char *name, struct ap_local_user *u)
{
	json_t *d = json_object_get(json_object_get(w->wd, "users"), name);
	*u = (struct ap_local_user){
		.id = user_id(w, name),
		.manual_approval = json_is_true(json_object_get(d, "manual")),
		.blocks_actor = json_is_true(json_object_get(d, "blocks")),
	};
}

static void asked(struct world *w, const char *q)
{
	json_array_append_new(w->asked, json_string(q));
}

static bool was_asked(const struct world *w, const char *q)
{
	size_t i;
	json_t *v;
	json_array_foreach(w->asked, i, v)
		if (!strcmp(json_string_value(v), q))
			return true;
	return false;
}

/* Answers the plan's questions from the world, as the shell would. */
static int answer(struct world *w, const struct ap_inbound_ask *q, struct ap_inbound_facts *f)
{
	const char *names[] = { "actor", "users", "followers", "stored", "is_actor", "fetch" };
	bool on[] = { q->actor, q->n_users > 0, q->followers, q->stored, q->is_actor, q->fetch };
	for (size_t i = 0; i < AIM_ARRAY_LEN(names); i++) {
		if (!on[i])
			continue;
		if (was_asked(w, names[i]))
			return fail(w, "asked for %s twice", names[i]);
		asked(w, names[i]);
	}
	if (q->actor) {
		json_t *a = json_object_get(w->wd, "actor");
		f->actor.answered = true;
		if (json_object_get(a, "error")) {
			f->actor.err = err_named(json_string_value(json_object_get(a, "error")));
			f->actor.errmsg = "the actor's document could not be had";
		} else if (a) {
			f->actor.inbox = json_string_value(json_object_get(a, "inbox"));
			f->actor.shared_inbox = json_string_value(json_object_get(a, "sharedInbox"));
			f->actor.followers = json_string_value(json_object_get(a, "followers"));
		} else {
			/* Default: the actor's document as aimpeer serves it. */
			static char inbox[512], followers[512];
			snprintf(inbox, sizeof inbox, "%s/inbox", w->actor);
			snprintf(followers, sizeof followers, "%s/followers", w->actor);
			f->actor.inbox = inbox;
			f->actor.shared_inbox = "https://r.test/inbox";
			f->actor.followers = followers;
		}
	}
	if (q->n_users) {
		json_t *users = json_object_get(w->wd, "users");
		for (size_t i = 0; i < q->n_users && w->n_users < AIM_ARRAY_LEN(w->users); i++) {
			if (!json_object_get(users, q->users[i]))
				continue;
			struct ap_local_user *u = &w->users[w->n_users];
			local_user(w, q->users[i], u);
			w->names[w->n_users] = aim_xstrdup(q->users[i]);
			u->name = w->names[w->n_users++];
		}
		f->users.answered = true;
		f->users.v = w->users;
		f->users.n = w->n_users;
	}
	if (q->followers) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(w->wd, "following_actor"), i, v) {
			if (w->n_followers < AIM_ARRAY_LEN(w->followers))
				local_user(w, json_string_value(v), &w->followers[w->n_followers++]);
		}
		f->followers.answered = true;
		f->followers.v = w->followers;
		f->followers.n = w->n_followers;
	}
	if (q->stored) {
		json_t *s = json_object_get(json_object_get(w->wd, "stored"), q->stored);
		f->stored.answered = true;
		if (s) {
			const char *author = json_string_value(json_object_get(s, "author"));
			f->stored.found = true;
			f->stored.author = author ? user_id(w, author) : REMOTE_ROW;
			f->stored.actor = json_string_value(json_object_get(s, "actor"));
			w->stored_json = ap_json_dump(json_object_get(s, "json"));
			f->stored.json = w->stored_json;
		}
	}
	if (q->is_actor) {
		size_t i;
		json_t *v;
		f->is_actor.answered = true;
		json_array_foreach(json_object_get(w->wd, "known_actors"), i, v)
			if (!strcmp(json_string_value(v), q->is_actor))
				f->is_actor.yes = true;
	}
	if (q->fetch) {
		json_t *d = json_object_get(json_object_get(w->wd, "fetch"), q->fetch);
		json_array_append_new(w->fetched, json_string(q->fetch));
		f->fetch.answered = true;
		if (!d || json_object_get(d, "error")) {
			f->fetch.err = d ? err_named(json_string_value(json_object_get(d, "error")))
					 : AIM_ERR_NOTFOUND;
			f->fetch.errmsg = "fetch failed";
		} else {
			f->fetch.doc = d;
		}
	}
	return 0;
}

/* ---- Expectations ---------------------------------------------------------------- */

/* Replaces {"$repeat": TEXT, "count": N} inside arrays by N strings: TEXT
 * with its "%d" replaced by 0 .. N-1. */
static void expand(json_t *j)
{
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v)
			expand(v);
	} else if (json_is_array(j)) {
		json_t *out = json_array();
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			const char *fmt = json_string_value(json_object_get(v, "$repeat"));
			if (fmt) {
				json_int_t n = json_integer_value(json_object_get(v, "count"));
				for (json_int_t k = 0; k < n; k++) {
					const char *at = strstr(fmt, "%d");
					char *s = at ? aim_xasprintf("%.*s%lld%s", (int)(at - fmt), fmt,
								     (long long)k, at + 2)
						     : aim_xstrdup(fmt);
					json_array_append_new(out, json_string(s));
					free(s);
				}
			} else {
				expand(v);
				json_array_append(out, v);
			}
		}
		json_array_clear(j);
		json_array_extend(j, out);
		json_decref(out);
	}
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int check_json(struct world *w, const char *what, const char *got, const json_t *want)
{
	json_t *g = got ? json_loads(got, 0, NULL) : NULL;
	bool ok = (!g && (!want || json_is_null(want))) || (g && want && json_equal(g, want));
	if (!ok) {
		char *ws = want ? json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		char *gs = g ? json_dumps(g, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		fail(w, "%s: got %.300s, want %.300s", what, gs ? gs : "null", ws ? ws : "null");
		free(ws);
		free(gs);
	}
	json_decref(g);
	return ok ? 0 : -1;
}

static int check_effects(struct world *w, const struct ap_inbound_plan *p, const json_t *want)
{
	size_t n = json_array_size(want);
	if (p->n_fx != n) {
		char got[256] = "";
		for (size_t i = 0; i < p->n_fx; i++) {
			strncat(got, ap_effect_name(p->fx[i].kind), sizeof got - strlen(got) - 2);
			strncat(got, " ", sizeof got - strlen(got) - 1);
		}
		return fail(w, "%zu effects (%s), want %zu", p->n_fx, got, n);
	}
	for (size_t i = 0; i < n; i++) {
		const struct ap_effect *e = &p->fx[i];
		const json_t *x = json_array_get(want, i);
		const char *kind = json_string_value(json_object_get(x, "kind"));
		if (!str_eq(kind, ap_effect_name(e->kind)))
			return fail(w, "effect %zu is %s, want %s", i, ap_effect_name(e->kind), kind);
		const char *uname = json_string_value(json_object_get(x, "user"));
		int64_t uid = uname ? user_id(w, uname) : 0;
		if (e->user != uid)
			return fail(w, "effect %zu (%s): user %s, want %s", i, kind,
				    e->user ? user_name(w, e->user) : "any", uname ? uname : "any");
		static const char *const keys[] = { "actor", "inbox", "shared_inbox", "follow_id",
						    "object_id" };
		const char *vals[] = { e->actor, e->inbox, e->shared_inbox, e->follow_id,
				       e->object_id };
		for (size_t k = 0; k < AIM_ARRAY_LEN(keys); k++) {
			const char *wv = json_string_value(json_object_get(x, keys[k]));
			if (!str_eq(vals[k], wv))
				return fail(w, "effect %zu (%s): %s is %s, want %s", i, kind, keys[k],
					    vals[k] ? vals[k] : "null", wv ? wv : "null");
		}
		if (e->accepted != json_is_true(json_object_get(x, "accepted")))
			return fail(w, "effect %zu (%s): accepted is %d", i, kind, e->accepted);
		char what[64];
		snprintf(what, sizeof what, "effect %zu (%s) json", i, kind);
		TRY(check_json(w, what, e->json, json_object_get(x, "json")));
	}
	return 0;
}

static int check_recipients(struct world *w, const struct ap_inbound_plan *p, const json_t *want)
{
	size_t n = json_array_size(want);
	bool ok = p->n_recipients == n;
	for (size_t i = 0; ok && i < n; i++) {
		int64_t id = user_id(w, json_string_value(json_array_get(want, i)));
		bool found = false;
		for (size_t k = 0; k < p->n_recipients; k++)
			found = found || p->recipients[k] == id;
		ok = found;
	}
	if (!ok) {
		char got[512] = "";
		for (size_t k = 0; k < p->n_recipients; k++) {
			strncat(got, user_name(w, p->recipients[k]), sizeof got - strlen(got) - 2);
			strncat(got, " ", sizeof got - strlen(got) - 1);
		}
		return fail(w, "recipients: got [%s], want %zu", got, n);
	}
	return 0;
}

static int check_accepted(struct world *w, const struct ap_inbound_plan *p, const json_t *act,
			  const json_t *ex)
{
	TRY(check_recipients(w, p, json_object_get(ex, "recipients")));
	if (p->is_public != json_is_true(json_object_get(ex, "public")))
		return fail(w, "public is %d", p->is_public);
	TRY(check_effects(w, p, json_object_get(ex, "effects")));
	if (p->lenient != json_is_true(json_object_get(ex, "lenient")))
		return fail(w, "lenient is %d", p->lenient);
	/* What is stored: the activity as received unless the case says. */
	const json_t *stored = json_object_get(ex, "stored");
	TRY(check_json(w, "stored activity", p->json, stored ? stored : act));
	if (!str_eq(p->id, json_string_value(json_object_get(act, "id"))))
		return fail(w, "stored id %s", p->id ? p->id : "null");
	const char *oid = json_string_value(json_object_get(ex, "object_id"));
	if (!str_eq(p->object_id, oid))
		return fail(w, "object_id %s, want %s", p->object_id ? p->object_id : "null",
			    oid ? oid : "null");
	if (oid) {
		/* The object row is the object of the stored activity. */
		json_t *s = json_loads(p->json, 0, NULL);
		int rc = check_json(w, "object", p->object_json, json_object_get(s, "object"));
		json_decref(s);
		TRY(rc);
	} else if (p->object_json) {
		return fail(w, "an object row without an object id");
	}
	TRY(check_json(w, "reply", p->reply, json_object_get(ex, "reply")));
	if (p->reply) {
		const char *ib = json_string_value(json_object_get(ex, "reply_inbox"));
		if (!str_eq(p->reply_inbox, ib) || !str_eq(p->reply_id, REPLY_ID))
			return fail(w, "reply to %s, want %s", p->reply_inbox ? p->reply_inbox : "null",
				    ib ? ib : "null");
		const char *ra = json_string_value(json_object_get(ex, "reply_author"));
		if (!ra || p->reply_author != user_id(w, ra))
			return fail(w, "reply by %s", user_name(w, p->reply_author));
	}
	return 0;
}

/* ---- Running a case ---------------------------------------------------------------- */

static int run_case(struct world *w)
{
	json_t *fx = w->fx;
	json_t *ex = json_object_get(fx, "expect");
	const char *outcome = json_string_value(json_object_get(ex, "outcome"));
	if (!outcome || (strcmp(outcome, "accepted") && strcmp(outcome, "refused")))
		return fail(w, "expect.outcome is accepted or refused");
	w->wd = json_object_get(fx, "world");
	w->actor = json_string_value(json_object_get(fx, "actor"));
	if (!w->actor)
		w->actor = DEFAULT_ACTOR;
	/* The body, as bytes: the case's raw "body", or its "activity" serialised. */
	char *body = NULL;
	if (json_is_string(json_object_get(fx, "body"))) {
		body = aim_xstrdup(json_string_value(json_object_get(fx, "body")));
	} else {
		json_t *a = json_deep_copy(json_object_get(fx, "activity"));
		expand(a);
		body = json_dumps(a, JSON_COMPACT);
		json_decref(a);
	}
	if (!body)
		return fail(w, "no activity and no body");
	json_t *act = NULL;
	struct ap_inbound_facts f = { 0 };
	struct ap_inbound_plan p = { 0 };
	const char *inbox = json_string_value(json_object_get(fx, "inbox"));
	const char *base = json_string_value(json_object_get(fx, "base"));
	struct ap_inbound_env env = {
		.base = base ? base : DEFAULT_BASE,
		.actor = w->actor,
		.inbox_user = inbox,
		.reply_id = REPLY_ID,
		.now = DEFAULT_NOW,
	};
	int rc = ap_json_parse_object((const uint8_t *)body, strlen(body), &act);
	int rounds = 0;
	while (rc == 0) {
		rc = ap_inbound_decide(&env, act, &f, &p);
		if (rc != 0 || !ap_inbound_asks(&p))
			break;
		if (++rounds > AP_INBOUND_MAX_ROUNDS) {
			rc = fail(w, "more than %d rounds", AP_INBOUND_MAX_ROUNDS);
			goto out;
		}
		if (answer(w, &p.ask, &f) != 0)
			goto out;
		ap_inbound_plan_clear(&p);
	}
	/* A refusal names its code; nothing was fetched unless the case says. */
	const json_t *want_fetched = json_object_get(ex, "fetched");
	if (want_fetched || rc != 0) {
		json_t *none = json_array();
		if (!json_equal(w->fetched, want_fetched ? want_fetched : none)) {
			char *g = json_dumps(w->fetched, JSON_COMPACT);
			fail(w, "fetched %s", g);
			free(g);
		}
		json_decref(none);
		if (w->why[0])
			goto out;
	}
	if (json_object_get(ex, "asked")) {
		const json_t *want = json_object_get(ex, "asked");
		size_t i;
		json_t *v;
		bool same = json_array_size(want) == json_array_size(w->asked);
		json_array_foreach(want, i, v)
			same = same && was_asked(w, json_string_value(v));
		if (!same) {
			char *g = json_dumps(w->asked, JSON_COMPACT);
			fail(w, "asked %s", g);
			free(g);
			goto out;
		}
	}
	if (rc != 0) {
		const char *want = json_string_value(json_object_get(ex, "error"));
		const char *msg = json_string_value(json_object_get(ex, "message"));
		if (!strcmp(outcome, "accepted"))
			fail(w, "refused (%s: %s)", aim_errname(aim_errcode()), aim_errmsg());
		else if (!want || aim_errcode() != err_named(want))
			fail(w, "refused with %s (%s), want %s", aim_errname(aim_errcode()),
			     aim_errmsg(), want ? want : "(no expect.error)");
		else if (msg && !strstr(aim_errmsg(), msg))
			fail(w, "refused with \"%s\", want it to contain \"%s\"", aim_errmsg(), msg);
	} else if (!strcmp(outcome, "refused")) {
		fail(w, "accepted, want refused with %s",
		     json_string_value(json_object_get(ex, "error")));
	} else {
		check_accepted(w, &p, act, ex);
	}
out:
	ap_inbound_plan_clear(&p);
	json_decref(act);
	free(body);
	return w->why[0] ? -1 : 0;
}

static void world_clear(struct world *w)
{
	for (size_t i = 0; i < w->n_users; i++)
		free(w->names[i]);
	free(w->stored_json);
	json_decref(w->asked);
	json_decref(w->fetched);
	json_decref(w->fx);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	const char *src = getenv("AIM_SOURCE_DIR");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/tests/fixtures/inbound", src ? src : ".");
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "cannot list %s (AIM_SOURCE_DIR=%s)\n", dir, src ? src : "unset");
		return 1;
	}
	char **files = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 5 && !strcmp(de->d_name + l - 5, ".json")) {
			files = aim_xrealloc(files, (n + 1) * sizeof *files);
			files[n++] = aim_xstrdup(de->d_name);
		}
	}
	closedir(d);
	qsort(files, n, sizeof *files, by_name);
	printf("1..%zu\n", n);
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		struct world w = { .asked = json_array(), .fetched = json_array() };
		json_error_t je;
		w.fx = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (!w.fx)
			fail(&w, "%s line %d: %s", path, je.line, je.text);
		else
			run_case(&w);
		const char *name = json_string_value(json_object_get(w.fx, "case"));
		if (w.why[0]) {
			failed++;
			printf("not ok %zu - %s: %s\n#   %s\n", i + 1, files[i], name ? name : "", w.why);
		} else {
			printf("ok %zu - %s: %s\n", i + 1, files[i], name ? name : "");
		}
		world_clear(&w);
		free(files[i]);
	}
	free(files);
	if (n < MIN_CASES) {
		printf("# only %zu cases in %s (at least %d)\n", n, dir, MIN_CASES);
		return 1;
	}
	printf("# %zu cases, %zu failed\n", n, failed);
	return failed ? 1 : 0;
}
