/* ap: JSON input limits, vocabulary, documents and the C2S outbox rules. */
#include "ap/ap.h"

#include <stdlib.h>
#include <string.h>

/* ---- JSON input --------------------------------------------------------- */

int ap_json_depth_check(const uint8_t *p, size_t n, size_t max_depth)
{
	struct ap_json_limits lim = { .max_depth = max_depth };
	return ap_json_shape_check(p, n, &lim);
}

int ap_json_shape_check(const uint8_t *p, size_t n, const struct ap_json_limits *lim)
{
	/* One level per open container: whether it is an object, and how many
	 * separators it has seen (entries = commas + 1). Entries are counted on
	 * the first LEVELS levels (AP_MAX_DEPTH is 32); deeper ones only for
	 * depth and values. */
	enum { LEVELS = 64 };
	bool is_obj[LEVELS];
	size_t commas[LEVELS];
	size_t depth = 0, values = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			depth++;
			ENSURE(!lim->max_depth || depth <= lim->max_depth, AIM_ERR_LIMIT,
			       "JSON nested deeper than %zu levels", lim->max_depth);
			if (depth < LEVELS) {
				is_obj[depth] = c == '{';
				commas[depth] = 0;
			}
			values++;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		} else if (c == ',') {
			values++;
			if (depth == 0 || depth >= LEVELS)
				continue;
			size_t entries = ++commas[depth] + 1;
			if (is_obj[depth])
				ENSURE(!lim->max_keys || entries <= lim->max_keys, AIM_ERR_LIMIT,
				       "object of more than %zu members", lim->max_keys);
			else
				ENSURE(!lim->max_array || entries <= lim->max_array, AIM_ERR_LIMIT,
				       "array of more than %zu entries", lim->max_array);
		}
		ENSURE(!lim->max_values || values <= lim->max_values, AIM_ERR_LIMIT,
		       "JSON document of more than %zu values", lim->max_values);
	}
	return 0;
}

static int check_arrays(const json_t *j)
{
	if (json_is_array(j)) {
		ENSURE(json_array_size(j) <= AP_MAX_ARRAY, AIM_ERR_LIMIT,
		       "array of %zu entries (at most %d)", json_array_size(j), AP_MAX_ARRAY);
		size_t i;
		const json_t *v;
		json_array_foreach(j, i, v)
			TRY(check_arrays(v));
	} else if (json_is_object(j)) {
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)j, k, v)
			TRY(check_arrays(v));
	}
	return 0;
}

int ap_json_parse_object(const uint8_t *p, size_t n, json_t **out)
{
	static const struct ap_json_limits lim = { AP_MAX_DEPTH, AP_MAX_ARRAY, AP_MAX_KEYS,
						   AP_MAX_VALUES };
	TRY(ap_json_shape_check(p, n, &lim));
	json_error_t err;
	json_t *j = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	ENSURE(j, AIM_ERR_DECODE, "malformed JSON at line %d column %d: %s", err.line,
	       err.column, err.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return aim_fail(AIM_ERR_INVALID, "the document must be a JSON object");
	}
	if (check_arrays(j) != 0) {
		json_decref(j);
		return -1;
	}
	*out = j;
	return 0;
}

json_t *ap_json_load_stored(const char *text)
{
	return json_loads(text, JSON_DECODE_ANY, NULL);
}

char *ap_json_dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		abort(); /* only fails on allocation */
	return s;
}

/* ---- Vocabulary ----------------------------------------------------------- */

bool ap_is_public(const char *iri)
{
	return iri && (!strcmp(iri, AP_PUBLIC) || !strcmp(iri, "as:Public") ||
		       !strcmp(iri, "Public"));
}

bool ap_is_activity_type(const char *type)
{
	static const char *const types[] = {
		"Accept", "Add", "Announce", "Arrive", "Block", "Create", "Delete", "Dislike",
		"Flag", "Follow", "Ignore", "Invite", "Join", "Leave", "Like", "Listen", "Move",
		"Offer", "Read", "Reject", "Remove", "TentativeAccept", "TentativeReject",
		"Travel", "Undo", "Update", "View",
	};
	for (size_t i = 0; i < AIM_ARRAY_LEN(types); i++)
		if (!strcmp(type, types[i]))
			return true;
	return false;
}

const char *ap_id_of(const json_t *v)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_object(v)) {
		const json_t *id = json_object_get(v, "id");
		if (json_is_string(id))
			return json_string_value(id);
	}
	return NULL;
}

/* ---- Documents ------------------------------------------------------------ */

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, json_string(v));
}

static void set_cat(json_t *o, const char *k, const char *a, const char *b)
{
	char *s = aim_xasprintf("%s%s", a, b);
	json_object_set_new(o, k, json_string(s));
	free(s);
}

int ap_actor_build(const struct ap_actor_info *a, json_t **out)
{
	uint8_t mc[34] = { 0xed, 0x01 }; /* multicodec ed25519-pub */
	memcpy(mc + 2, a->ed25519_public, 32);
	struct aim_buf mb;
	aim_buf_init(&mb, 128);
	TRY(aim_multibase_encode(&mb, mc, sizeof mc));

	json_t *o = json_object();
	json_object_set_new(o, "@context",
			    json_pack("[ssss]", AP_CTX_AS, AP_CTX_SEC, AP_CTX_MULTIKEY, AP_CTX_MLS));
	set_str(o, "id", a->id);
	set_str(o, "type", a->type);
	set_str(o, "preferredUsername", a->preferred_username);
	set_cat(o, "inbox", a->id, "/inbox");
	set_cat(o, "outbox", a->id, "/outbox");
	set_cat(o, "followers", a->id, "/followers");
	set_cat(o, "following", a->id, "/following");
	set_cat(o, "keyPackages", a->id, "/keyPackages");
	json_object_set_new(o, "endpoints", json_pack("{ss}", "sharedInbox", a->shared_inbox));
	json_t *pk = json_object();
	set_cat(pk, "id", a->id, "#main-key");
	set_str(pk, "owner", a->id);
	set_str(pk, "publicKeyPem", a->rsa_public_pem);
	json_object_set_new(o, "publicKey", pk);
	json_t *mk = json_object();
	set_cat(mk, "id", a->id, "#ed25519-key");
	set_str(mk, "type", "Multikey");
	set_str(mk, "controller", a->id);
	set_str(mk, "publicKeyMultibase", (const char *)mb.data);
	json_object_set_new(o, "assertionMethod", json_pack("[o]", mk));
	aim_buf_free(&mb);
	*out = o;
	return 0;
}

json_t *ap_collection(const char *id, int64_t total, const char *first)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:s}", "@context", AP_CTX_AS, "id", id, "type",
			 "OrderedCollection", "totalItems", (json_int_t)total, "first", first);
}

json_t *ap_collection_page(const char *id, const char *part_of, json_t *items, const char *next,
			   const char *prev)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:o}", "@context", AP_CTX_AS, "id", id, "type",
			      "OrderedCollectionPage", "partOf", part_of, "orderedItems", items);
	if (next)
		set_str(p, "next", next);
	if (prev)
		set_str(p, "prev", prev);
	return p;
}

/* ---- Client-to-server outbox ---------------------------------------------- */

static const char *const addr_fields[] = { "to", "cc", "bto", "bcc", "audience" };

/* Addressing is an IRI or an array of IRIs. */
static int check_addressing(const json_t *doc, const char *what)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(addr_fields); i++) {
		const json_t *v = json_object_get(doc, addr_fields[i]);
		if (!v || json_is_string(v))
			continue;
		ENSURE(json_is_array(v), AIM_ERR_INVALID, "%s.%s must be an IRI or an array of IRIs",
		       what, addr_fields[i]);
		size_t k;
		const json_t *e;
		json_array_foreach(v, k, e)
			ENSURE(json_is_string(e), AIM_ERR_INVALID, "%s.%s[%zu] must be an IRI string",
			       what, addr_fields[i], k);
	}
	return 0;
}

/* Types of the common text properties; wrong types are refused, not coerced. */
static int check_object_fields(const json_t *doc, const char *what)
{
	static const char *const strs[] = { "content", "summary", "name", "mediaType", "url",
					    "inReplyTo" };
	const json_t *t = json_object_get(doc, "type");
	ENSURE(t, AIM_ERR_INVALID, "%s has no type", what);
	ENSURE(json_is_string(t) && json_string_length(t) >= 1 && json_string_length(t) <= 64,
	       AIM_ERR_INVALID, "%s.type must be a non-empty string", what);
	for (size_t i = 0; i < AIM_ARRAY_LEN(strs); i++) {
		const json_t *v = json_object_get(doc, strs[i]);
		ENSURE(!v || json_is_string(v) || json_is_null(v) ||
			       (i >= 4 && json_is_object(v) && ap_id_of(v)),
		       AIM_ERR_INVALID, "%s.%s has the wrong type", what, strs[i]);
	}
	const json_t *ctx = json_object_get(doc, "@context");
	ENSURE(!ctx || json_is_string(ctx) || json_is_array(ctx) || json_is_object(ctx),
	       AIM_ERR_INVALID, "%s.@context has the wrong type", what);
	return check_addressing(doc, what);
}

/* The one who acts or writes must be the poster. */
static int check_owner(const json_t *doc, const char *key, const char *actor)
{
	const json_t *v = json_object_get(doc, key);
	if (!v)
		return 0;
	const char *id = ap_id_of(v);
	ENSURE(id, AIM_ERR_INVALID, "%s must be an actor IRI", key);
	ENSURE(!strcmp(id, actor), AIM_ERR_DENIED, "%s %s is not the poster", key, id);
	return 0;
}

/* dst[key] = dst[key] ∪ src[key], as an array (absent when both are empty). */
static void merge_field(json_t *dst, const json_t *src, const char *key)
{
	const json_t *a = json_object_get(dst, key), *b = json_object_get(src, key);
	if (!b)
		return;
	json_t *u = json_array(), *seen = json_object();
	const json_t *parts[2] = { a, b };
	for (int p = 0; p < 2; p++) {
		const json_t *v = parts[p];
		if (!v)
			continue;
		if (json_is_string(v)) {
			if (!json_object_get(seen, json_string_value(v))) {
				json_object_set_new(seen, json_string_value(v), json_true());
				json_array_append_new(u, json_string(json_string_value(v)));
			}
			continue;
		}
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e) {
			if (!json_object_get(seen, json_string_value(e))) {
				json_object_set_new(seen, json_string_value(e), json_true());
				json_array_append_new(u, json_string(json_string_value(e)));
			}
		}
	}
	json_decref(seen);
	json_object_set_new(dst, key, u);
}

static int collect(json_t *set, const json_t *doc)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(addr_fields); i++) {
		const json_t *v = json_object_get(doc, addr_fields[i]);
		if (json_is_string(v)) {
			json_object_set_new(set, json_string_value(v), json_true());
			continue;
		}
		size_t k;
		const json_t *e;
		json_array_foreach(v, k, e)
			json_object_set_new(set, json_string_value(e), json_true());
	}
	ENSURE(json_object_size(set) <= AP_MAX_ADDRESSEES, AIM_ERR_LIMIT,
	       "more than %d addressees", AP_MAX_ADDRESSEES);
	return 0;
}

void ap_outbox_out_clear(struct ap_outbox_out *o)
{
	if (!o)
		return;
	json_decref(o->activity);
	free(o->addressees);
	memset(o, 0, sizeof *o);
}

int ap_outbox_prepare(const struct ap_outbox_in *in, const json_t *posted,
		      struct ap_outbox_out *out)
{
	int rc = 0;
	json_t *act = NULL, *obj = NULL, *set = NULL;
	char when[21];
	memset(out, 0, sizeof *out);
	ENSURE(json_is_object(posted), AIM_ERR_INVALID, "the document must be a JSON object");
	TRY(check_object_fields(posted, "activity"));
	const char *type = json_string_value(json_object_get(posted, "type"));
	aim_time_rfc3339(in->now, when);

	if (ap_is_activity_type(type)) {
		TRY(check_owner(posted, "actor", in->actor));
		act = json_deep_copy(posted);
		if (!strcmp(type, "Create")) {
			obj = json_object_get(act, "object");
			ENSURE_GOTO(json_is_object(obj), done, AIM_ERR_INVALID,
				    "Create needs an embedded object");
			TRY_GOTO(check_object_fields(obj, "object"), done);
			ENSURE_GOTO(!ap_is_activity_type(json_string_value(json_object_get(obj, "type"))),
				    done, AIM_ERR_INVALID, "Create of an activity");
			TRY_GOTO(check_owner(obj, "attributedTo", in->actor), done);
			/* ActivityPub 6.2: keep the Create and its object addressed alike. */
			for (size_t i = 0; i < AIM_ARRAY_LEN(addr_fields); i++) {
				merge_field(act, obj, addr_fields[i]);
				merge_field(obj, act, addr_fields[i]);
			}
		} else {
			const json_t *o = json_object_get(act, "object");
			ENSURE_GOTO(!o || ap_id_of(o), done, AIM_ERR_INVALID,
				    "object must be an IRI or an object with an id");
		}
	} else {
		TRY(check_owner(posted, "attributedTo", in->actor));
		/* ActivityPub 6.2.1: "The server then MUST attach this object as the
		 * object of a Create Activity." */
		obj = json_deep_copy(posted);
		json_object_del(obj, "@context");
		act = json_object();
		/* ActivityPub 6.2.1: "any to, bto, cc, bcc, and audience properties
		 * specified on the object MUST be copied over to the new Create
		 * activity by the server." */
		for (size_t i = 0; i < AIM_ARRAY_LEN(addr_fields); i++) {
			json_t *v = json_object_get(obj, addr_fields[i]);
			if (v)
				json_object_set_new(act, addr_fields[i], json_deep_copy(v));
		}
		set_str(act, "type", "Create");
		json_object_set_new(act, "object", obj); /* act owns obj; obj stays valid */
	}
	if (!json_object_get(act, "@context"))
		json_object_set_new(act, "@context", json_string(AP_CTX_AS));
	/* ActivityPub 6: "If an Activity is submitted with a value in the id
	 * property, servers MUST ignore this and generate a new id". The actor
	 * and the publication time are the server's too. */
	set_str(act, "id", in->activity_id);
	set_str(act, "actor", in->actor);
	set_str(act, "published", when);
	if (obj) {
		set_str(obj, "id", in->object_id);
		set_str(obj, "attributedTo", in->actor);
		set_str(obj, "published", when);
	}

	set = json_object();
	TRY_GOTO(collect(set, act), done);
	if (obj)
		TRY_GOTO(collect(set, obj), done);
	/* The list points into the activity's own arrays, so it lives as long
	 * as out->activity does. */
	out->addressees = aim_xcalloc(json_object_size(set) + 1, sizeof *out->addressees);
	size_t n = 0;
	const json_t *docs[2] = { act, obj };
	json_t *seen = json_object();
	for (int d = 0; d < 2; d++) {
		if (!docs[d])
			continue;
		for (size_t i = 0; i < AIM_ARRAY_LEN(addr_fields); i++) {
			const json_t *f = json_object_get(docs[d], addr_fields[i]);
			const json_t *one[1] = { f };
			size_t cnt = json_is_array(f) ? json_array_size(f) : (f ? 1 : 0);
			for (size_t e = 0; e < cnt; e++) {
				const json_t *s = json_is_array(f) ? json_array_get(f, e) : one[0];
				const char *iri = json_string_value(s);
				if (json_object_get(seen, iri))
					continue;
				json_object_set_new(seen, iri, json_true());
				out->addressees[n++] = iri;
				if (ap_is_public(iri))
					out->is_public = true;
			}
		}
	}
	json_decref(seen);
	out->n_addressees = n;
	out->activity = act;
	out->object = obj;
	act = NULL;
done:
	json_decref(set);
	json_decref(act);
	if (rc != 0)
		ap_outbox_out_clear(out);
	return rc;
}

/* ActivityPub 6.8: bto and bcc "are only intended to be known/seen by the
 * original author"; 6: the server "MUST remove the bto and/or bcc
 * properties ... before delivery". */
json_t *ap_strip_hidden(const json_t *doc)
{
	json_t *c = json_deep_copy(doc);
	json_object_del(c, "bto");
	json_object_del(c, "bcc");
	json_t *o = json_object_get(c, "object");
	if (json_is_object(o)) {
		json_object_del(o, "bto");
		json_object_del(o, "bcc");
	}
	return c;
}
