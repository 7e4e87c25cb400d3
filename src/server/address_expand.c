/*
 * Audience expansion of an outbound activity into delivery rows (see
 * delivery.h). No network: remote actors become rows naming the actor and
 * the workers resolve their inboxes.
 */
#include "server/internal.h"
#include "server/delivery.h"

#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "base/url.h"

static const char *const visible_fields[] = { "to", "cc", "audience" };
static const char *const hidden_fields[] = { "bto", "bcc" };

void aimd_address_out_clear(struct address_out *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		free((char *)o->v[i].actor);
		free((char *)o->v[i].inbox);
		free((char *)o->v[i].host);
	}
	free(o->v);
	free(o->body);
	memset(o, 0, sizeof *o);
}

/* Adds every IRI of field to set with value `hidden` unless already there
 * as visible (a visible mention wins: then a shared inbox is fine). */
static void add_field(json_t *set, const json_t *doc, const char *field, bool hidden)
{
	const json_t *v = json_object_get(doc, field);
	size_t n = json_is_array(v) ? json_array_size(v) : (v ? 1 : 0);
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		const char *iri = ap_id_of(e);
		if (!iri)
			continue;
		json_t *prev = json_object_get(set, iri);
		if (prev && (json_is_false(prev) || hidden))
			continue;
		json_object_set_new(set, iri, json_boolean(hidden));
	}
}

static void add_iri(json_t *set, const char *iri)
{
	if (iri && !json_is_false(json_object_get(set, iri)))
		json_object_set_new(set, iri, json_false());
}

/* The activity an Undo / Accept / Reject names by id, from the store (an
 * Undo only of the author's own); NULL if unknown. */
static json_t *stored_activity(struct app *a, const char *id, int64_t author, bool own)
{
	int64_t by = 0;
	char *json = NULL;
	if (!id || store_activity_lookup(a->st, id, &by, NULL, &json) != 0)
		return NULL;
	json_t *j = (!own || by == author) ? ap_json_load_stored(json) : NULL;
	free(json);
	return j;
}

/* Activities whose target is their object's actor even when unaddressed
 * (Follow, Block; Undo of one, Accept / Reject of a Follow): the target
 * must hear of it. The object may be embedded or named by id. */
static void add_targets(struct app *a, int64_t author, json_t *set, const json_t *act)
{
	const char *type = json_string_value(json_object_get(act, "type"));
	const json_t *obj = json_object_get(act, "object");
	if (!type)
		return;
	if (!strcmp(type, "Follow") || !strcmp(type, "Block")) {
		add_iri(set, ap_id_of(obj));
		return;
	}
	bool undo = !strcmp(type, "Undo");
	if (!undo && strcmp(type, "Accept") != 0 && strcmp(type, "Reject") != 0)
		return;
	json_t *found = json_is_string(obj) ? stored_activity(a, json_string_value(obj), author, undo)
					    : NULL;
	const json_t *o = found ? found : obj;
	if (json_is_object(o)) {
		const char *ot = json_string_value(json_object_get(o, "type"));
		if (undo && ot && (!strcmp(ot, "Follow") || !strcmp(ot, "Block")))
			add_iri(set, ap_id_of(json_object_get(o, "object")));
		else if (!undo && ot && !strcmp(ot, "Follow"))
			add_iri(set, ap_id_of(json_object_get(o, "actor")));
	}
	json_decref(found);
}

static char *host_of(const char *iri)
{
	struct aim_url u = { 0 };
	char *h = NULL;
	if (aim_url_parse(iri, &u) == 0) {
		struct aim_buf b;
		aim_buf_init(&b, 512);
		if (aim_url_authority(&u, &b) == 0)
			h = (char *)aim_buf_steal(&b, NULL);
		aim_buf_free(&b);
	}
	aim_url_free(&u);
	return h;
}

static void push(struct address_out *o, size_t *cap, const char *actor, const char *host,
		 bool personal)
{
	if (o->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		o->v = aim_xrealloc(o->v, *cap * sizeof *o->v);
	}
	o->v[o->n++] = (struct store_new_delivery){
		.actor = aim_xstrdup(actor),
		.host = aim_xstrdup(host),
		.personal = personal,
	};
}

struct fol_ctx {
	struct app *a;
	const char *author_iri;
	struct address_out *out;
	size_t *cap;
	size_t seen;
};

static int follower_cb(void *ctx, const struct store_follower *f)
{
	struct fol_ctx *c = ctx;
	c->seen++;
	/* the shared inbox when there is one: one POST per server */
	const char *inbox = f->shared_inbox && *f->shared_inbox ? f->shared_inbox : f->inbox;
	size_t bl = strlen(c->a->base);
	if (!inbox || !strcmp(f->actor, c->author_iri) ||
	    (!strncmp(f->actor, c->a->base, bl) && f->actor[bl] == '/'))
		return 0;
	char *h = host_of(inbox);
	if (!h)
		return 0;
	push(c->out, c->cap, f->actor, h, false);
	c->out->v[c->out->n - 1].inbox = aim_xstrdup(inbox);
	free(h);
	return 0;
}

/* The author's accepted followers, each with the inbox to deliver to. */
static int add_followers(struct app *a, int64_t author, const char *author_iri,
			 struct address_out *out, size_t *cap)
{
	struct fol_ctx c = { a, author_iri, out, cap, 0 };
	for (int64_t off = 0;; off += 1000) {
		c.seen = 0;
		TRY(store_followers_list(a->st, author, STORE_FOLLOW_ACCEPTED, off, 1000, follower_cb,
					 &c));
		if (c.seen < 1000)
			return 0;
	}
}

int aimd_address_expand(struct app *a, int64_t author, const char *author_iri,
		   const json_t *activity, struct address_out *out)
{
	memset(out, 0, sizeof *out);
	int rc = 0;
	json_t *set = json_object();
	const json_t *docs[2] = { activity, json_object_get(activity, "object") };
	for (int d = 0; d < 2; d++) {
		if (!json_is_object(docs[d]))
			continue;
		for (size_t i = 0; i < AIM_ARRAY_LEN(visible_fields); i++)
			add_field(set, docs[d], visible_fields[i], false);
		for (size_t i = 0; i < AIM_ARRAY_LEN(hidden_fields); i++)
			add_field(set, docs[d], hidden_fields[i], true);
	}
	add_targets(a, author, set, activity);

	char *followers = aim_xasprintf("%s/followers", author_iri);
	size_t bl = strlen(a->base), cap = 0;
	const char *iri;
	json_t *hid;
	/* ActivityPub 7.1: "Servers MUST de-duplicate the final recipient
	 * list" (the set here, one store row per inbox) and "MUST also exclude
	 * actors from the list which are the same as the actor of the Activity
	 * being notified about." */
	json_object_foreach(set, iri, hid) {
		if (ap_is_public(iri) || !strcmp(iri, author_iri))
			continue;
		if (!strcmp(iri, followers)) {
			TRY_GOTO(add_followers(a, author, author_iri, out, &cap), done);
			continue;
		}
		/* Local users read it from their inbox rows; other local IRIs
		 * (someone else's collections, objects) deliver nothing. */
		if (!strncmp(iri, a->base, bl) && (iri[bl] == '/' || !iri[bl]))
			continue;
		char *h = host_of(iri);
		if (!h) {
			aim_log(AIM_LOG_INFO, "deliver", "not delivering to %.200s: not an http(s) URL",
				iri);
			continue;
		}
		push(out, &cap, iri, h, json_is_true(hid));
		free(h);
	}
	/* ActivityPub 6: the server "MUST remove the bto and/or bcc properties,
	 * if they exist, from the ActivityStreams object before delivery". */
	json_t *body = ap_strip_hidden(activity);
	out->body = ap_json_dump(body);
	json_decref(body);
done:
	free(followers);
	json_decref(set);
	if (rc != 0)
		aimd_address_out_clear(out);
	return rc;
}
