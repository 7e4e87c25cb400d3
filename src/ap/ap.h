/*
 * ap: ActivityStreams 2.0 / ActivityPub documents on jansson, without I/O.
 *
 * This layer turns bytes into checked JSON (bounded depth and array sizes),
 * builds the documents aimd serves (actors, collections and their pages),
 * and validates what a local client posts to its outbox: it wraps a bare
 * object in a Create, assigns server ids, `published`, `actor` and
 * `attributedTo`, refuses an activity on behalf of someone else, and
 * extracts the addressing (to, cc, bto, bcc, audience) so the server can
 * find local recipients. bto and bcc are removed before anyone but the
 * author sees an activity (ap_strip_hidden).
 *
 * Results follow base.h. Shape errors are AIM_ERR_INVALID (or
 * AIM_ERR_DECODE for bytes that are not JSON, AIM_ERR_LIMIT for documents
 * over a limit); an activity whose actor is not the poster is
 * AIM_ERR_DENIED. json_t results are new references owned by the caller
 * unless a comment says "borrowed".
 */
#ifndef AIM_AP_H
#define AIM_AP_H

#include <jansson.h>

#include "base/base.h"

#define AP_MAX_DEPTH 32        /* nesting of arrays and objects */
#define AP_MAX_ARRAY 1000      /* entries of any one array (to, cc, tag, ...) */
#define AP_MAX_ADDRESSEES 5000 /* all addressing fields together */
#define AP_MAX_KEYS 1000       /* members of any one object */
#define AP_MAX_VALUES 100000   /* values in one document, all levels together */

#define AP_PUBLIC "https://www.w3.org/ns/activitystreams#Public"
#define AP_CTX_AS "https://www.w3.org/ns/activitystreams"
#define AP_CTX_SEC "https://w3id.org/security/v1"
#define AP_CTX_MULTIKEY "https://w3id.org/security/multikey/v1"
#define AP_CTX_MLS "https://purl.archive.org/socialweb/mls"
#define AP_MEDIA_TYPE "application/activity+json"

/* ---- JSON input --------------------------------------------------------- */

/* 0 when the text nests arrays/objects at most max_depth deep (strings and
 * escapes are skipped correctly); AIM_ERR_LIMIT otherwise. Runs before the
 * parser so a deep document never reaches a recursive parser. */
int ap_json_depth_check(const uint8_t *p, size_t n, size_t max_depth) AIM_WARN_UNUSED;
/* The shape of a document before it is parsed: how deep it nests, how many
 * entries an array and how many members an object holds, how many values
 * it has in all. 0 fields mean "no bound". */
struct ap_json_limits {
	size_t max_depth, max_array, max_keys, max_values;
};
/* 0 when the text keeps inside lim (strings skipped as above); otherwise
 * AIM_ERR_LIMIT naming the bound. It counts separators, so it can only
 * over-count a malformed text, which the parser refuses anyway; a document
 * with 200,000 keys is refused here, before a hash table is built for it. */
int ap_json_shape_check(const uint8_t *p, size_t n, const struct ap_json_limits *lim)
	AIM_WARN_UNUSED;
/* Parses an object document of n bytes: a shape pre-scan (AP_MAX_DEPTH,
 * AP_MAX_ARRAY entries per array, AP_MAX_KEYS members per object,
 * AP_MAX_VALUES values), strict JSON (no duplicate keys). AIM_ERR_LIMIT past
 * a bound, AIM_ERR_DECODE for malformed JSON, AIM_ERR_INVALID when the top
 * level is not an object. */
int ap_json_parse_object(const uint8_t *p, size_t n, json_t **out) AIM_WARN_UNUSED;
/* Parses a document this server stored itself (already checked on the way
 * in, so no input limits beyond the parser's); NULL if it does not parse. */
json_t *ap_json_load_stored(const char *text);
/* Serialises compactly; the caller frees the string. */
char *ap_json_dump(const json_t *j);

/* ---- Vocabulary ----------------------------------------------------------- */

/* The three spellings of the public collection. */
bool ap_is_public(const char *iri);
/* Whether type names an activity (Create, Follow, ...) rather than an object. */
bool ap_is_activity_type(const char *type);
/* The string id of a value that is an IRI string or an object with "id";
 * NULL otherwise. Borrowed. */
const char *ap_id_of(const json_t *v);

/* ---- Documents ------------------------------------------------------------ */

struct ap_actor_info {
	const char *id;              /* BASE/users/NAME or BASE/actor */
	const char *type;            /* "Person" or "Application" */
	const char *preferred_username;
	const char *shared_inbox;    /* BASE/inbox */
	const char *rsa_public_pem;
	const uint8_t *ed25519_public; /* 32 bytes */
};
/* The actor document with inbox, outbox, followers, following,
 * keyPackages (id + "/" + name), publicKey and the FEP-521a Multikey. */
int ap_actor_build(const struct ap_actor_info *a, json_t **out) AIM_WARN_UNUSED;

/* A remote actor document, parsed (actor_parse.c). What aimd needs of a
 * peer's actor: where to deliver, its followers collection, its name for
 * the WebFinger reverse check, and its public keys. Key material is
 * returned as found (PEM text, or the 32 raw bytes of an FEP-521a Ed25519
 * Multikey); turning it into a key, and refusing weak ones, is the
 * caller's (crypto). Every string is an owned copy. */
#define AP_ACTOR_MAX_KEYS 4     /* keys kept per actor (more are ignored) */
#define AP_ACTOR_MAX_URL 2048   /* longest id, inbox, key id accepted */

enum ap_key_form {
	AP_KEY_PEM = 1,              /* publicKeyPem: SubjectPublicKeyInfo PEM (RSA, ...) */
	AP_KEY_ED25519,              /* publicKeyMultibase: multicodec ed25519-pub */
};

struct ap_actor_key {
	char *id;                    /* the key's id: same origin as the actor */
	enum ap_key_form form;
	char *pem;                   /* AP_KEY_PEM */
	uint8_t ed25519[32];         /* AP_KEY_ED25519 */
};

struct ap_remote_actor {
	char *id;
	char *type;                  /* as given: Person, Group, Service, Application, ... */
	char *inbox;
	char *shared_inbox;          /* endpoints.sharedInbox, NULL if none or not http(s) */
	char *followers;             /* NULL if none or not http(s) */
	char *preferred_username;    /* NULL if none or longer than 256 bytes */
	struct ap_actor_key keys[AP_ACTOR_MAX_KEYS];
	size_t n_keys;
	/* FEP-844e: the actor (or its generator) lists RFC 9421 in implements */
	bool implements_rfc9421;
};
void ap_remote_actor_clear(struct ap_remote_actor *a);

/* Parses an actor document. expect_id: the URL it was fetched from, or NULL
 * when the fetcher has already checked the id (docs/threats.md B22). Requires a
 * string id that is an http(s) URL (and equals expect_id after
 * normalisation: AIM_ERR_DENIED otherwise), a string type and an http(s)
 * inbox (AIM_ERR_INVALID otherwise). Keys are taken from publicKey and
 * assertionMethod (an object or an array of them); a key is kept only when
 * it has an id on the actor's origin and an owner (or controller) that is
 * the actor itself (A15), and a PEM of at most 16 KiB or a Multikey whose
 * multibase decodes to 0xed 0x01 and 32 bytes; other keys are skipped, not
 * fatal. An actor without a usable key still parses (n_keys == 0).
 * implements_rfc9421: FEP-844e capability discovery, read from the actor's
 * own `implements` or its `generator`'s (an object or an array of them).
 * On failure *out is left empty. */
int ap_actor_parse(const json_t *doc, const char *expect_id,
		   struct ap_remote_actor *out) AIM_WARN_UNUSED;
/* The key of that id (exact string), or NULL. Borrowed from a. */
const struct ap_actor_key *ap_actor_key_find(const struct ap_remote_actor *a, const char *key_id);

/* An OrderedCollection: {id, type, totalItems, first}. */
json_t *ap_collection(const char *id, int64_t total, const char *first);
/* An OrderedCollectionPage; items is stolen; next and prev may be NULL. */
json_t *ap_collection_page(const char *id, const char *part_of, json_t *items, const char *next,
			   const char *prev);

/* ---- Client-to-server outbox ---------------------------------------------- */

struct ap_outbox_in {
	const char *actor;           /* the poster's actor id */
	const char *activity_id;     /* id to assign to the activity */
	const char *object_id;       /* id to assign to a created object */
	int64_t now;                 /* published time */
};

struct ap_outbox_out {
	json_t *activity;            /* owned: the activity as it will be stored */
	json_t *object;              /* borrowed from activity: the created object, or NULL */
	bool is_public;
	/* Every IRI in to/cc/bto/bcc/audience of the activity and its object,
	 * without duplicates, borrowed from activity. */
	const char **addressees;
	size_t n_addressees;
};
void ap_outbox_out_clear(struct ap_outbox_out *o);

/* Checks a posted document and turns it into the activity to store. in is
 * borrowed and not modified. */
int ap_outbox_prepare(const struct ap_outbox_in *in, const json_t *posted,
		      struct ap_outbox_out *out) AIM_WARN_UNUSED;

/* A copy of an activity (or object) without bto and bcc, at the top level
 * and in an embedded object: what anyone but the author may see. */
json_t *ap_strip_hidden(const json_t *doc);

#endif
