/*
 * Actors and what hangs off them: the actor document, the inbox (GET: the
 * owner's collection or an SSE stream; POST: the signature gate), the
 * outbox, followers, following and keyPackages collections, and stored
 * activities and objects by id.
 */
#include "server/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "server/ca.h"  /* identity: the CA document, the proxy, aim's context */
#include "server/s2s.h" /* federation, inbound side */

#define PAGE_SIZE 20

static void actor_doc(struct app *a, const struct store_user *u, struct http_response *r)
{
	bool inst = !strcmp(u->name, STORE_INSTANCE_NAME);
	char *id = aimd_route_user_url(a, u->name);
	char *shared = aim_xasprintf("%s/inbox", a->base);
	struct ap_actor_info info = {
		.id = id,
		.type = inst ? "Application" : "Person",
		.preferred_username = inst ? a->domain : u->name,
		.shared_inbox = shared,
		.rsa_public_pem = u->rsa_public_pem,
		.ed25519_public = u->ed25519_public,
	};
	json_t *j = NULL;
	if (ap_actor_build(&info, &j) != 0) {
		aimd_route_failure(r);
	} else {
		/* Identity (issue 10): aim's context, the domain's CA document, and
		 * for users the proxy their clients fetch other servers through. */
		json_array_append_new(json_object_get(j, "@context"),
				      json_sprintf("%s%s", a->base, AIMD_CONTEXT_PATH));
		json_object_set_new(j, "certificateAuthority",
				    json_sprintf("%s%s", a->base, AIMD_CA_PATH));
		if (!inst)
			json_object_set_new(json_object_get(j, "endpoints"), "proxyUrl",
					    json_sprintf("%s%s", a->base, AIMD_PROXY_PATH));
		aimd_route_json(r, 200, ROUTE_AS_TYPE, j);
	}
	free(id);
	free(shared);
}

/* ---- Anonymous reads ------------------------------------------------------------------- */

/* Reads without a bearer token (anyone, and other servers' fetches) are
 * paid for in bytes per IP (aimd serve --anon-read-rate): served while the
 * address is not in debt, then debited with what they returned. false: a
 * 429 with Retry-After is set. */
static bool anon_read_ok(struct app *a, const struct http_request *q, struct http_response *r,
			 int64_t viewer)
{
	if (viewer != 0 || !a->anon_lim)
		return true;
	unsigned wait = aimd_limiter_debit(a->anon_lim, q->remote, 0);
	if (!wait)
		return true;
	char s[16];
	snprintf(s, sizeof s, "%u", wait);
	aim_log(AIM_LOG_INFO, "limit", "remote=%s anonymous reads over the byte rate", q->remote);
	http_resp_error(r, 429, "rate_limited", "too many bytes read anonymously from this address");
	http_resp_header(r, "Retry-After", s);
	return false;
}

static void anon_read_paid(struct app *a, const struct http_request *q, int64_t viewer,
			   size_t bytes)
{
	if (viewer == 0 && a->anon_lim)
		(void)aimd_limiter_debit(a->anon_lim, q->remote, bytes);
}

/* ---- Collections ---------------------------------------------------------------------- */

/* Every collection pages the same way (README "What aimd serves"): the
 * collection itself without parameters (totalItems and the first page),
 * a page with ?page=true (any value of page: the first page, as Mastodon
 * does), older items with &max_id=N, newer ones with &min_id=N. */
enum coll { C_OUTBOX, C_INBOX, C_FOLLOWERS, C_FOLLOWING, C_KEYPACKAGES };

static int coll_count(struct app *a, enum coll kind, int64_t owner, int64_t viewer, int64_t *n)
{
	switch (kind) {
	case C_OUTBOX:
		return store_outbox_count(a->st, owner, viewer, n);
	case C_INBOX:
		return store_inbox_count(a->st, owner, n);
	case C_FOLLOWERS:
		return store_followers_count(a->st, owner, STORE_FOLLOW_ACCEPTED, n);
	case C_FOLLOWING:
		return store_following_count(a->st, owner, n);
	case C_KEYPACKAGES:
		return store_keypackage_count(a->st, owner, viewer, n);
	}
	return aim_fail(AIM_ERR_INTERNAL, "unknown collection");
}

static int coll_page(struct app *a, enum coll kind, int64_t owner, int64_t viewer,
		     const struct store_range *rg, struct store_page *p)
{
	switch (kind) {
	case C_OUTBOX:
		return store_outbox_page(a->st, owner, viewer, rg, p);
	case C_INBOX:
		return store_inbox_page(a->st, owner, rg, p);
	case C_FOLLOWERS:
		return store_followers_page(a->st, owner, rg, p);
	case C_FOLLOWING:
		return store_following_page(a->st, owner, rg, p);
	case C_KEYPACKAGES:
		return store_keypackage_page(a->st, owner, viewer, rg, p);
	}
	return aim_fail(AIM_ERR_INTERNAL, "unknown collection");
}

/* Parses ?page=true&max_id=N / min_id=N. Returns 1 for a page, 0 for the
 * collection itself, -1 for a bad cursor (response set). */
static int page_args(const struct http_request *q, struct store_range *rg,
		     struct http_response *r)
{
	memset(rg, 0, sizeof *rg);
	rg->limit = PAGE_SIZE;
	/* Items count and bytes too: 20 notes of 1 MiB are one item a page,
	 * not 20 MiB (issue 16, amplification). */
	rg->max_bytes = AIMD_PAGE_BYTES;
	const char *page = http_req_query(q, "page");
	const char *mx = http_req_query(q, "max_id"), *mn = http_req_query(q, "min_id");
	if (!page && !mx && !mn)
		return 0;
	if ((mx && aim_parse_int(mx, 1, INT64_MAX, &rg->max_id) != 0) ||
	    (mn && aim_parse_int(mn, 0, INT64_MAX, &rg->min_id) != 0)) {
		http_resp_error(r, 400, "bad_request", "max_id and min_id are positive integers");
		return -1;
	}
	if (mx && mn) {
		http_resp_error(r, 400, "bad_request", "give max_id or min_id, not both");
		return -1;
	}
	return 1;
}

static void collection(struct app *a, const struct http_request *q, struct http_response *r,
		       const struct store_user *owner, const char *which, enum coll kind,
		       int64_t viewer)
{
	char *base = aimd_route_user_url(a, owner->name);
	char *id = aim_xasprintf("%s/%s", base, which);
	free(base);
	struct store_range rg;
	int isp = page_args(q, &rg, r);
	if (isp < 0)
		goto out;
	if (isp == 0) {
		int64_t total = 0;
		if (coll_count(a, kind, owner->id, viewer, &total) != 0) {
			aimd_route_failure(r);
			goto out;
		}
		char *first = aim_xasprintf("%s?page=true", id);
		aimd_route_json(r, 200, ROUTE_AS_TYPE, ap_collection(id, total, first));
		free(first);
		goto out;
	}
	if (!anon_read_ok(a, q, r, viewer))
		goto out;
	struct store_page p = { 0 };
	if (coll_page(a, kind, owner->id, viewer, &rg, &p) != 0) {
		aimd_route_failure(r);
		goto out;
	}
	size_t bytes = 0;
	for (size_t i = 0; i < p.n; i++)
		bytes += strlen(p.items[i].json);
	anon_read_paid(a, q, viewer, bytes);
	json_t *items = json_array();
	for (size_t i = 0; i < p.n; i++) {
		if (kind == C_FOLLOWERS || kind == C_FOLLOWING) {
			/* Actors, by id. */
			json_array_append_new(items, json_string(p.items[i].json));
			continue;
		}
		json_t *j = ap_json_load_stored(p.items[i].json);
		if (!j)
			continue;
		/* bto and bcc are for the author's eyes only. */
		if (p.items[i].author == viewer)
			json_array_append_new(items, j);
		else {
			json_array_append_new(items, ap_strip_hidden(j));
			json_decref(j);
		}
	}
	char *self = rg.max_id   ? aim_xasprintf("%s?page=true&max_id=%lld", id, (long long)rg.max_id)
		     : rg.min_id ? aim_xasprintf("%s?page=true&min_id=%lld", id, (long long)rg.min_id)
				 : aim_xasprintf("%s?page=true", id);
	char *next = p.n && p.has_older ? aim_xasprintf("%s?page=true&max_id=%lld", id,
							(long long)p.items[p.n - 1].cursor)
					: NULL;
	/* prev is there whenever the page has items: following it later also
	 * picks up what was added since (polling for new items). */
	char *prev = p.n ? aim_xasprintf("%s?page=true&min_id=%lld", id,
							(long long)p.items[0].cursor)
					: NULL;
	aimd_route_json(r, 200, ROUTE_AS_TYPE, ap_collection_page(self, id, items, next, prev));
	free(self);
	free(next);
	free(prev);
	store_page_clear(&p);
out:
	free(id);
}

/* ---- Activities and objects by id ------------------------------------------------------------ */

/* The Tombstone of the object an activity embeds (a Create of a deleted
 * object), or NULL when it has none or it is not deleted. */
static json_t *embedded_tombstone(struct app *a, const json_t *act, int64_t viewer)
{
	const json_t *obj = json_object_get(act, "object");
	const char *oid = json_is_object(obj) ? ap_id_of(obj) : NULL;
	struct store_item it = { 0 };
	if (!oid || store_object_get(a->st, oid, viewer, &it) != 0) {
		aim_errclear();
		return NULL;
	}
	json_t *o = ap_json_load_stored(it.json);
	store_item_clear(&it);
	const char *t = json_string_value(json_object_get(o, "type"));
	if (t && !strcmp(t, "Tombstone"))
		return o;
	json_decref(o);
	return NULL;
}

static void get_by_id(struct app *a, const struct http_request *q, struct http_response *r,
		      bool object)
{
	if (!aimd_route_negotiate(q, r))
		return;
	int64_t viewer = aimd_route_auth(a, q, r, false);
	if (viewer < 0)
		return;
	if (!anon_read_ok(a, q, r, viewer))
		return;
	char *id = aim_xasprintf("%s%s", a->base, q->path + strlen(a->base_path));
	struct store_item it = { 0 };
	int rc = object ? store_object_get(a->st, id, viewer, &it)
			: store_activity_get(a->st, id, viewer, &it);
	free(id);
	if (rc != 0) {
		aimd_route_failure(r);
		return;
	}
	anon_read_paid(a, q, viewer, strlen(it.json));
	json_t *j = ap_json_load_stored(it.json);
	if (!j) {
		store_item_clear(&it);
		aim_fail(AIM_ERR_INTERNAL, "stored document does not parse");
		aimd_route_failure(r);
		return;
	}
	/* A deleted object leaves a Tombstone and answers 410. */
	const char *jt = json_string_value(json_object_get(j, "type"));
	if (object && jt && !strcmp(jt, "Tombstone")) {
		store_item_clear(&it);
		aimd_route_json(r, 410, ROUTE_AS_TYPE, j);
		return;
	}
	/* The activity that created it goes with it: a Tombstone in its place,
	 * without the content, for everyone (the author too). */
	json_t *tomb = object ? NULL : embedded_tombstone(a, j, viewer);
	if (tomb) {
		json_t *deleted = json_object_get(tomb, "deleted");
		json_t *t = json_pack("{s:O, s:s, s:s, s:O?}", "id", json_object_get(j, "id"),
				      "type", "Tombstone", "formerType", jt ? jt : "Create",
				      "deleted", deleted);
		json_decref(tomb);
		json_decref(j);
		store_item_clear(&it);
		aimd_route_json(r, 410, ROUTE_AS_TYPE, t);
		return;
	}
	if (it.author != viewer) {
		json_t *s = ap_strip_hidden(j);
		json_decref(j);
		j = s;
	}
	store_item_clear(&it);
	aimd_route_json(r, 200, ROUTE_AS_TYPE, j);
}

/* ---- Handlers ---------------------------------------------------------------------------- */

void aimd_route_actor(struct app *a, const struct http_request *q, struct http_response *r,
		 const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (aimd_route_user(a, caps, &u, r) && aimd_route_negotiate(q, r))
		actor_doc(a, &u, r);
	store_user_clear(&u);
}

void aimd_route_inbox_get(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (!aimd_route_user(a, caps, &u, r))
		goto out;
	bool sse = aimd_route_accepts_event_stream(q);
	if (!sse && !aimd_route_negotiate(q, r))
		goto out;
	if (!aimd_route_rate_ok(a, q, r))
		goto out;
	int64_t viewer = aimd_route_auth(a, q, r, true);
	if (viewer < 0)
		goto out;
	if (viewer != u.id) {
		http_resp_error(r, 403, "forbidden", "an inbox is readable by its owner only");
		goto out;
	}
	if (sse) {
		const char *lei = http_req_header(q, "Last-Event-ID");
		int64_t last = -1;
		if (lei && aim_parse_int(lei, 0, INT64_MAX, &last) != 0) {
			http_resp_error(r, 400, "bad_request", "Last-Event-ID is not an event id");
			goto out;
		}
		if (aimd_sse_start(a, u.id, last, r) != 0)
			aimd_route_failure(r);
	} else {
		collection(a, q, r, &u, "inbox", C_INBOX, viewer);
	}
out:
	store_user_clear(&u);
}

void aimd_route_inbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (aimd_route_user(a, caps, &u, r))
		aimd_s2s_inbox_post(a, q, r, u.name); /* through the signature gate */
	store_user_clear(&u);
}

void aimd_route_shared_inbox(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps)
{
	(void)caps;
	aimd_s2s_inbox_post(a, q, r, NULL); /* through the signature gate */
}

void aimd_route_outbox_get(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (aimd_route_user(a, caps, &u, r) && aimd_route_negotiate(q, r)) {
		int64_t viewer = aimd_route_auth(a, q, r, false);
		if (viewer >= 0)
			collection(a, q, r, &u, "outbox", C_OUTBOX, viewer);
	}
	store_user_clear(&u);
}

void aimd_route_followers(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (aimd_route_user(a, caps, &u, r) && aimd_route_negotiate(q, r))
		collection(a, q, r, &u, "followers", C_FOLLOWERS, 0);
	store_user_clear(&u);
}

void aimd_route_following(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (aimd_route_user(a, caps, &u, r) && aimd_route_negotiate(q, r))
		collection(a, q, r, &u, "following", C_FOLLOWING, 0);
	store_user_clear(&u);
}

void aimd_route_key_packages(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (aimd_route_user(a, caps, &u, r) && aimd_route_negotiate(q, r)) {
		int64_t viewer = aimd_route_auth(a, q, r, false);
		if (viewer >= 0)
			collection(a, q, r, &u, "keyPackages", C_KEYPACKAGES, viewer);
	}
	store_user_clear(&u);
}

void aimd_route_activity(struct app *a, const struct http_request *q, struct http_response *r,
		    const struct http_route_caps *caps)
{
	(void)caps;
	get_by_id(a, q, r, false);
}

void aimd_route_object(struct app *a, const struct http_request *q, struct http_response *r,
		  const struct http_route_caps *caps)
{
	(void)caps;
	get_by_id(a, q, r, true);
}
