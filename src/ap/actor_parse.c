/*
 * Remote actor documents: the pure parse (ap.h ap_actor_parse). The remote
 * actor cache of aimd (src/server/remote_actor.c) fetches the document,
 * calls this, and turns the key material into keys.
 */
#include "ap/ap.h"

#include <stdlib.h>
#include <string.h>

#include "base/url.h"

#define PEM_MAX 16384
#define MULTIBASE_MAX 256
#define NAME_MAX_LEN 256

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool http_url(const char *s)
{
	return s && strlen(s) <= AP_ACTOR_MAX_URL && aim_url_valid(s);
}

void ap_remote_actor_clear(struct ap_remote_actor *a)
{
	if (!a)
		return;
	free(a->id);
	free(a->type);
	free(a->inbox);
	free(a->shared_inbox);
	free(a->followers);
	free(a->preferred_username);
	for (size_t i = 0; i < a->n_keys; i++) {
		free(a->keys[i].id);
		free(a->keys[i].pem);
	}
	memset(a, 0, sizeof *a);
}

/* FEP-521a: "publicKeyMultibase ... the multicodec prefix ed25519-pub
 * (0xed01) followed by the 32 bytes of the key, encoded in base58btc". */
static bool multikey_ed25519(const char *mb, uint8_t out[32])
{
	if (strlen(mb) >= MULTIBASE_MAX)
		return false;
	struct aim_buf raw;
	aim_buf_init(&raw, MULTIBASE_MAX);
	bool ok = aim_multibase_decode(&raw, mb, strlen(mb)) == 0 && raw.len == 34 &&
		  raw.data[0] == 0xed && raw.data[1] == 0x01;
	if (ok)
		memcpy(out, raw.data + 2, 32);
	aim_buf_free(&raw);
	return ok;
}

/* Adds one key if it is well formed and owned by the actor (docs/threats.md A15:
 * the owner/controller is the actor itself, the key on its origin). */
static void add_key(struct ap_remote_actor *a, const json_t *k)
{
	if (!json_is_object(k) || a->n_keys >= AP_ACTOR_MAX_KEYS)
		return;
	const char *id = str_of(k, "id");
	const char *owner = str_of(k, "owner");
	if (!owner)
		owner = str_of(k, "controller");
	if (!id || !owner || !aim_url_equal(owner, a->id) || !http_url(id) ||
	    !aim_url_origin_equal(id, a->id))
		return;
	struct ap_actor_key *key = &a->keys[a->n_keys];
	const char *pem = str_of(k, "publicKeyPem");
	const char *mb = str_of(k, "publicKeyMultibase");
	if (pem && strlen(pem) < PEM_MAX) {
		key->form = AP_KEY_PEM;
		key->pem = aim_xstrdup(pem);
	} else if (mb && multikey_ed25519(mb, key->ed25519)) {
		key->form = AP_KEY_ED25519;
	} else {
		return;
	}
	key->id = aim_xstrdup(id);
	a->n_keys++;
}

static void add_keys(struct ap_remote_actor *a, const json_t *v)
{
	if (json_is_array(v)) {
		size_t i;
		const json_t *k;
		json_array_foreach(v, i, k)
			add_key(a, k);
	} else {
		add_key(a, v);
	}
}

/* FEP-844e: "An application can advertise its capabilities using the
 * implements property ... an array of Link objects, each containing ...
 * href (REQUIRED): the unique identifier of the capability"; the registry
 * names RFC 9421 https://datatracker.ietf.org/doc/html/rfc9421 (a fragment
 * narrows it, as #name-eddsa-using-curve-edwards25 does). A bare string is
 * read as an href too. */
#define IMPLEMENTS_MAX 64 /* entries looked at */

static bool names_rfc9421(const char *href)
{
	static const char *const ids[] = { "https://datatracker.ietf.org/doc/html/rfc9421",
					   "https://www.rfc-editor.org/rfc/rfc9421" };
	for (size_t i = 0; href && i < AIM_ARRAY_LEN(ids); i++) {
		size_t n = strlen(ids[i]);
		if (!strncmp(href, ids[i], n) &&
		    (href[n] == 0 || href[n] == '#' || !strcmp(href + n, ".html")))
			return true;
	}
	return false;
}

static bool implements_rfc9421(const json_t *impl)
{
	if (!json_is_array(impl))
		return false;
	size_t i;
	const json_t *l;
	json_array_foreach(impl, i, l) {
		if (i >= IMPLEMENTS_MAX)
			break;
		if (names_rfc9421(json_is_object(l) ? str_of(l, "href") : json_string_value(l)))
			return true;
	}
	return false;
}

/* "An Application object can be linked to an actor using the generator
 * property"; an Application actor may carry implements itself. */
static bool advertises_rfc9421(const json_t *doc)
{
	if (implements_rfc9421(json_object_get(doc, "implements")))
		return true;
	const json_t *g = json_object_get(doc, "generator");
	if (json_is_object(g))
		return implements_rfc9421(json_object_get(g, "implements"));
	size_t i;
	const json_t *x;
	json_array_foreach(g, i, x) {
		if (i >= IMPLEMENTS_MAX)
			break;
		if (json_is_object(x) && implements_rfc9421(json_object_get(x, "implements")))
			return true;
	}
	return false;
}

int ap_actor_parse(const json_t *doc, const char *expect_id, struct ap_remote_actor *out)
{
	memset(out, 0, sizeof *out);
	ENSURE(json_is_object(doc), AIM_ERR_INVALID, "actor document is not an object");
	const char *id = str_of(doc, "id");
	const char *type = str_of(doc, "type");
	const char *inbox = str_of(doc, "inbox");
	ENSURE(id && type && inbox, AIM_ERR_INVALID, "actor document without id, type or inbox");
	ENSURE(http_url(id), AIM_ERR_INVALID, "actor id is not an http(s) URL");
	/* B22: the document is the one asked for. */
	ENSURE(!expect_id || aim_url_equal(id, expect_id), AIM_ERR_DENIED,
	       "actor document id %s is not %s", id, expect_id);
	/* ActivityPub 4.1: "inbox: A reference to an [ActivityStreams]
	 * OrderedCollection" -- one we can POST to. */
	ENSURE(http_url(inbox), AIM_ERR_INVALID, "actor inbox is not an http(s) URL");
	const json_t *ep = json_object_get(doc, "endpoints");
	const char *shared = json_is_object(ep) ? str_of(ep, "sharedInbox") : NULL;
	const char *followers = str_of(doc, "followers");
	const char *pu = str_of(doc, "preferredUsername");
	out->id = aim_xstrdup(id);
	out->type = aim_xstrdup(type);
	out->inbox = aim_xstrdup(inbox);
	out->shared_inbox = http_url(shared) ? aim_xstrdup(shared) : NULL;
	out->followers = http_url(followers) ? aim_xstrdup(followers) : NULL;
	out->preferred_username = pu && strlen(pu) <= NAME_MAX_LEN ? aim_xstrdup(pu) : NULL;
	add_keys(out, json_object_get(doc, "publicKey"));
	add_keys(out, json_object_get(doc, "assertionMethod"));
	out->implements_rfc9421 = advertises_rfc9421(doc);
	return 0;
}

const struct ap_actor_key *ap_actor_key_find(const struct ap_remote_actor *a, const char *key_id)
{
	for (size_t i = 0; key_id && i < a->n_keys; i++)
		if (!strcmp(a->keys[i].id, key_id))
			return &a->keys[i];
	return NULL;
}
