/*
 * The client API (ActivityPub C2S): a local user's outbox POST. The posted
 * document's acct: handles are resolved (WebFinger), ap_outbox_prepare
 * turns it into the activity to store, and one store transaction keeps the
 * activity, its local recipients' inbox rows and the deliveries to remote
 * ones (address_expand); then the effects of follows, blocks, approvals
 * and deletes.
 */
#include "server/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ap/ap.h"
#include "http/webfinger.h"
#include "server/delivery.h"
#include "server/s2s.h" /* federation, inbound side */

/* Local users named in the addressing: their ids, without duplicates. */
static size_t local_recipients(struct app *a, const struct ap_outbox_out *o, int64_t *ids,
			       size_t max)
{
	size_t n = 0, bl = strlen(a->base);
	for (size_t i = 0; i < o->n_addressees && n < max; i++) {
		const char *iri = o->addressees[i];
		if (strncmp(iri, a->base, bl) != 0 || strncmp(iri + bl, "/users/", 7) != 0)
			continue;
		const char *name = iri + bl + 7;
		struct store_user u = { 0 };
		if (!aimd_valid_name(name) || store_user_get(a->st, name, &u) != 0)
			continue;
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= ids[k] == u.id;
		if (!dup)
			ids[n++] = u.id;
		store_user_clear(&u);
	}
	return n;
}

/* ---- acct: handles in an outbox POST (WebFinger, s2s.h webfinger_resolve) ---- */

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
	if (webfinger_resolve(a, acct, &id) != 0) {
		enum aim_err e = aim_errcode();
		char *msg = aim_xasprintf("%.300s: %s", acct, aim_errmsg());
		if (e == AIM_ERR_TIMEOUT)
			http_resp_error(r, 504, "gateway_timeout", msg);
		else if (e == AIM_ERR_REMOTE || e == AIM_ERR_NOMEM)
			http_resp_error(r, 502, "bad_gateway", msg);
		else
			http_resp_error(r, 400, "unresolvable_handle", msg);
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
		if (json_is_string(v) && wf_is_acct(json_string_value(v))) {
			char *acct = aim_xstrdup(json_string_value(v));
			int rc = resolve_slot(a, o, fields[f], 0, acct, count, r);
			free(acct);
			if (rc != 0)
				return -1;
		} else if (json_is_array(v)) {
			for (size_t i = 0; i < json_array_size(v); i++) {
				const char *s = json_string_value(json_array_get(v, i));
				if (!s || !wf_is_acct(s))
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
	    wf_is_acct(json_string_value(obj))) {
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
	if (!route_rate_ok(a, q, r))
		return;
	int64_t user = route_auth(a, q, r, true);
	if (user < 0)
		return;
	if (user != owner->id) {
		http_resp_error(r, 403, "forbidden", "this outbox belongs to another user");
		return;
	}
	const char *ct = http_req_header(q, "Content-Type");
	char t[128] = "";
	if (ct)
		route_media_type(ct, t, sizeof t);
	if (!route_json_media(t)) {
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
		route_failure(r);
		return;
	}
	if (resolve_handles(a, doc, r) != 0) {
		json_decref(doc);
		return;
	}
	char aid[37], oid[37];
	route_uuid4(aid);
	route_uuid4(oid);
	char *actor = route_user_url(a, owner->name);
	char *act_id = aim_xasprintf("%s/activities/%s", a->base, aid);
	char *obj_id = aim_xasprintf("%s/objects/%s", a->base, oid);
	struct ap_outbox_in in = { actor, act_id, obj_id, aim_now() };
	struct ap_outbox_out out = { 0 };
	int64_t *rcpt = NULL;
	char *txt = NULL, *otxt = NULL;
	struct address_out ad = { 0 }; /* its remote deliveries */
	struct store_outgoing og = { 0 };
	if (ap_outbox_prepare(&in, doc, &out) != 0) {
		route_failure(r);
		goto done;
	}
	/* Outbound federation: remote recipients, enqueued in the same transaction. */
	if (address_expand(a, owner->id, actor, out.activity, &ad) != 0) {
		route_failure(r);
		goto done;
	}
	og = (struct store_outgoing){ .activity_id = act_id, .signer = owner->id, .body = ad.body,
				      .v = ad.v, .n = ad.n };
	rcpt = aim_xcalloc(out.n_addressees + 1, sizeof *rcpt);
	size_t nr = local_recipients(a, &out, rcpt, out.n_addressees);
	txt = ap_json_dump(out.activity);
	otxt = out.object ? ap_json_dump(out.object) : NULL;
	struct store_new_activity na = {
		.id = act_id,
		.object_id = out.object ? obj_id : NULL,
		.json = txt,
		.object_json = otxt,
		.author = owner->id,
		.is_public = out.is_public,
		.audience = rcpt,
		.n_audience = nr,
		.inbox = rcpt,
		.n_inbox = nr,
		.published = in.now,
		.outgoing = ad.n ? &og : NULL,
	};
	int64_t seq;
	if (store_activity_add(a->st, &na, &seq) != 0) {
		route_failure(r);
		goto done;
	}
	if (nr)
		sse_wake_notify(&a->wake);
	/* Federation: follows, blocks, approvals and tombstones it causes. */
	if (s2s_outbox_effects(a, owner->id, out.activity) != 0)
		aim_log(AIM_LOG_ERROR, "outbox", "effects of %s: %s", act_id, aim_errmsg());
	if (ad.n)
		delivery_kick(a->dlv);
	/* ActivityPub 6: "Servers MUST return a 201 Created HTTP code, and ...
	 * MUST include the new id in the Location header." */
	http_resp_set(r, 201, ROUTE_AS_TYPE, txt, strlen(txt));
	http_resp_header(r, "Location", act_id);
done:
	address_out_clear(&ad);
	free(txt);
	free(otxt);
	free(rcpt);
	ap_outbox_out_clear(&out);
	json_decref(doc);
	free(actor);
	free(act_id);
	free(obj_id);
}

void route_outbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		       const struct http_route_caps *caps)
{
	struct store_user u = { 0 };
	if (!route_user(a, caps, &u, r))
		goto out;
	if (u.id == a->instance_id)
		http_resp_error(r, 403, "forbidden", "the instance actor does not post");
	else
		outbox_post(a, q, r, &u);
out:
	store_user_clear(&u);
}
