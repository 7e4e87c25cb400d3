/*
 * http/sig: HTTP message signatures, body digests and structured fields --
 * the protocol cores of server-to-server authentication, without I/O.
 *
 * Two signature schemes are spoken:
 *
 * - draft-cavage-http-signatures-12 (what Mastodon and most of the fediverse
 *   send): a `Signature` (or `Authorization: Signature ...`) header of
 *   auth-params keyId, algorithm, headers, signature, created, expires; the
 *   signing string is built from the listed headers and pseudo-headers
 *   `(request-target)`, `(created)`, `(expires)`. Bodies carry
 *   `Digest: SHA-256=<base64>`.
 * - RFC 9421 HTTP Message Signatures: `Signature-Input` and `Signature`
 *   dictionaries (RFC 8941 structured fields); the signature base is built
 *   from derived components (`@method`, `@target-uri`, ...) and fields, then
 *   `"@signature-params"`. Bodies carry `Content-Digest: sha-256=:<b64>:`
 *   (RFC 9530).
 *
 * The verifier takes a description of the received request (struct
 * sig_request: every string borrowed), the current time and a key-lookup
 * callback (the server fetches and caches keys; this module only asks). It
 * enforces the application requirements of threats.md A1-A13 and A16:
 * required covered components, the body digest, the time window, the
 * algorithm chosen from the key type (never from the header), strict
 * parsing. On success it returns the verified keyId and the key's owner and
 * a stable replay key; on failure -1 with AIM_ERR_AUTH (no or insufficient
 * signature, stale or future), AIM_ERR_VERIFY (bad signature or digest) or
 * AIM_ERR_DECODE (malformed header); the server maps all three to 401.
 *
 * The replay cache (struct sig_replay) is a small thread-safe bounded set
 * the server can use; the verifier itself keeps no state.
 *
 * URLs are parsed with base/url.h; header fields are http/fields.h
 * (included here: struct sig_request carries them).
 */
#ifndef AIM_HTTP_SIG_H
#define AIM_HTTP_SIG_H

#include "base/base.h"
#include "http/fields.h"

struct aim_pkey;

/* ---- Limits ------------------------------------------------------------- */

#define SIG_MAX_HEADER 8192     /* longest Signature / Signature-Input value */
#define SIG_MAX_FIELD 8192      /* longest value of one covered field */
#define SIG_MAX_COMPONENTS 32   /* covered components / cavage headers */
#define SIG_MAX_BASE 65536      /* longest signing string / signature base */
#define SIG_MAX_KEYID 2048      /* longest keyId */

/* ---- Digests (RFC 3230 Digest, RFC 9530 Content-Digest) ------------------ */

/* Appends "SHA-256=<base64>" (the cavage-era Digest header value). */
int http_sig_digest_header(struct aim_buf *out, struct aim_bytes body) AIM_WARN_UNUSED;
/* Appends "sha-256=:<base64>:" (RFC 9530 Content-Digest value). */
int http_sig_content_digest_header(struct aim_buf *out, struct aim_bytes body) AIM_WARN_UNUSED;
/* Checks a Digest header value against the body's SHA-256: the value must
 * hold exactly one SHA-256 entry ("SHA-256=" case-insensitive, strict
 * base64 of 32 bytes); anything else fails (A6). */
int http_sig_digest_check(const char *value, const uint8_t body_sha256[32]) AIM_WARN_UNUSED;
/* The same for Content-Digest (a structured-field dictionary; the sha-256
 * member must be present, a byte sequence of 32 bytes, and match). Members
 * for other algorithms are ignored only if sha-256 is present. */
int http_sig_content_digest_check(const char *value, const uint8_t body_sha256[32]) AIM_WARN_UNUSED;

/* ---- Structured fields (RFC 8941), the subset signatures need ------------ */

/* Parsing never allocates: results point into the caller's string. */

enum sfv_type {
	SFV_INTEGER = 1,
	SFV_DECIMAL,
	SFV_STRING, /* p/len: the raw text between the quotes (escapes kept) */
	SFV_TOKEN,
	SFV_BYTES,  /* p/len: the base64 text between the colons */
	SFV_BOOLEAN,
};

struct sfv_bare {
	enum sfv_type type;
	const char *p;
	size_t len;
	int64_t i; /* integer value, or 0/1 for a boolean */
};

struct sfv_param {
	const char *key;
	size_t key_len;
	struct sfv_bare v;
};

struct sfv_item {
	struct sfv_bare v;
	uint16_t param_first, n_params;
};

struct sfv_member {
	const char *key;
	size_t key_len;
	bool inner;           /* an inner list; else a single item */
	uint16_t item_first;  /* the item(s) in dict->items */
	uint16_t n_items;
	uint16_t param_first; /* inner list parameters (for an item: its own) */
	uint16_t n_params;
};

#define SFV_MAX_MEMBERS 16
#define SFV_MAX_ITEMS 64
#define SFV_MAX_PARAMS 64

struct sfv_dict {
	struct sfv_member m[SFV_MAX_MEMBERS];
	size_t n;
	struct sfv_item items[SFV_MAX_ITEMS];
	size_t n_items;
	struct sfv_param params[SFV_MAX_PARAMS];
	size_t n_params;
};

/* Parses a Dictionary (RFC 8941 section 4.2.2). Stricter than the RFC in
 * one way: a duplicated dictionary key or parameter key is refused rather
 * than overwritten. AIM_ERR_DECODE on any syntax error, AIM_ERR_LIMIT past
 * the SFV_MAX_* counts. */
int http_sfv_parse_dict(const char *s, size_t n, struct sfv_dict *d) AIM_WARN_UNUSED;
const struct sfv_member *http_sfv_dict_get(const struct sfv_dict *d, const char *key);
/* The parameter of that key among d->params[first .. first+n), or NULL. */
const struct sfv_bare *http_sfv_param_get(const struct sfv_dict *d, uint16_t first, uint16_t n,
				     const char *key);
/* Appends the unescaped value of an SFV_STRING. */
int http_sfv_string_value(struct aim_buf *out, const struct sfv_bare *v) AIM_WARN_UNUSED;
/* Strict serialisation (section 4.1) of an inner-list member with its
 * parameters, as `@signature-params` needs. Decimals are refused. */
int http_sfv_serialize_inner_list(struct aim_buf *out, const struct sfv_dict *d,
			     const struct sfv_member *m) AIM_WARN_UNUSED;
/* Appends an sf-string with quotes and escapes; refuses non-printable. */
int http_sfv_serialize_string(struct aim_buf *out, const char *s) AIM_WARN_UNUSED;

/* ---- Requests ----------------------------------------------------------- */

/* The received (or to-be-sent) request. All borrowed. */
struct sig_request {
	const char *method;    /* "POST", as received (case-sensitive) */
	const char *target;    /* path[?query] as on the request line */
	const char *authority; /* the Host header / :authority */
	const char *scheme;    /* "https" (the server knows, behind its proxy) */
	const struct sig_field *fields;
	size_t n_fields;
	/* The body. has_body: the request carries content (POST/PUT/PATCH, or
	 * any request with bytes). Give the body itself, or its SHA-256 in
	 * body_sha256 (then body is ignored). */
	bool has_body;
	struct aim_bytes body;
	const uint8_t *body_sha256;
};

/* Appends the combined value of a request header: every instance, trimmed
 * of OWS, joined by ", " (cavage 2.3, RFC 9421 2.1). AIM_ERR_AUTH if absent,
 * AIM_ERR_DECODE if a value has control or non-ASCII characters. */
int http_sig_field_value(const struct sig_request *req, const char *name,
		    struct aim_buf *out) AIM_WARN_UNUSED;

enum sig_scheme {
	SIG_CAVAGE = 1, /* draft-cavage-http-signatures-12 */
	SIG_RFC9421,    /* RFC 9421 */
};

/* ---- Verifying ---------------------------------------------------------- */

/* What the key-lookup callback returns: the public key and the URL of the
 * actor that owns it, both borrowed until release (if set) is called. */
struct sig_key {
	const struct aim_pkey *pkey;
	const char *owner;
	void *handle; /* for the callback's own use (e.g. a cache reference) */
};

/* Looks up keyId. 0 with *out filled, or -1 with a reason (see
 * http_sig_verify() for which codes pass through). */
typedef int (*sig_key_lookup_fn)(void *ctx, const char *key_id, struct sig_key *out);
typedef void (*sig_key_release_fn)(void *ctx, struct sig_key *key);

struct sig_policy {
	int64_t max_age;  /* seconds a signature stays valid after created/Date (300) */
	int64_t skew;     /* clock skew allowed either way (3600) */
	/* Which schemes to accept (both by default). */
	bool no_cavage;
	bool no_rfc9421;
	/* RFC 9421: the label to verify; NULL = the single signature present
	 * (more than one without a label is refused). */
	const char *label;
	/* cavage: refuse signatures whose (request-target) omits the query
	 * (Fedify and older Mastodon sign the path only; accepted by default,
	 * as Mastodon does, and reported in sig_verified.query_covered). */
	bool strict_query;
};

/* Fills the defaults above. */
void http_sig_policy_default(struct sig_policy *p);

struct sig_verified {
	enum sig_scheme scheme;
	char *key_id;  /* owned */
	char *owner;   /* owned: the key owner's actor URL */
	int64_t created; /* created parameter, or the Date header */
	int64_t expires; /* 0 when absent */
	/* SHA-256(keyId || 0x00 || signature bytes): a stable replay key. */
	uint8_t replay_key[32];
	/* How long the replay key must be remembered (absolute time). */
	int64_t replay_until;
	/* The request had a query and the signature covers it. */
	bool query_covered;
};

void http_sig_verified_free(struct sig_verified *v);

/* Verifies the request's signature: RFC 9421 if Signature-Input is
 * present, else cavage (Signature, then Authorization: Signature). The
 * steps below, with the key looked up through lookup in between.
 * Refusals are AIM_ERR_AUTH, AIM_ERR_VERIFY or AIM_ERR_DECODE (a 401 at the
 * edge). A failed key lookup passes AIM_ERR_TIMEOUT, AIM_ERR_REMOTE,
 * AIM_ERR_NOTFOUND, AIM_ERR_LIMIT and AIM_ERR_DENIED through (the server may
 * want to answer 401 and remember the failure, A20); anything else from the
 * lookup becomes AIM_ERR_AUTH. No key is looked up for a request that fails
 * a check that needs no key (parse, coverage, time, digest). */
int http_sig_verify(const struct sig_request *req, int64_t now, const struct sig_policy *policy,
	       sig_key_lookup_fn lookup, sig_key_release_fn release, void *ctx,
	       struct sig_verified *out) AIM_WARN_UNUSED;

/* ---- Verifying in steps ----------------------------------------------------
 *
 * What http_sig_verify() does, for a caller that looks keys up itself (the
 * server's gate: it learns the keyId first, applies its per-host limits,
 * gathers the covered fields, and asks its key cache once):
 *
 *   http_sig_parse      the signature header(s) alone: Signature-Input and
 *                  Signature (RFC 9421) or Signature / Authorization:
 *                  Signature (cavage), with every check that needs nothing
 *                  else (A1-A4, A9, A10, A12, A13). Gives the keyId, the
 *                  scheme and the names of the header fields it covers.
 *                  Of req it reads only those fields and whether the
 *                  request has a body.
 *   http_sig_check      the request with the covered fields: time window (A7,
 *                  A8), body digest (A5, A6), the signing string / base.
 *   http_sig_verify_key the key: its type must fit the algorithm (A10), and the
 *                  signature must verify. May be called again with another
 *                  key (a refetched one after a rotation).
 *
 * Every refusal is AIM_ERR_AUTH, AIM_ERR_VERIFY or AIM_ERR_DECODE, as for
 * http_sig_verify(). A parsed signature is owned by the caller. */
struct sig_parsed;

int http_sig_parse(const struct sig_request *req, const struct sig_policy *policy,
	      struct sig_parsed **out) AIM_WARN_UNUSED;
void http_sig_parsed_free(struct sig_parsed *p);
const char *http_sig_parsed_key_id(const struct sig_parsed *p);
enum sig_scheme http_sig_parsed_scheme(const struct sig_parsed *p);
/* The header fields the signature covers (lower-case names, without the
 * derived components and pseudo-headers): i < n. */
size_t http_sig_parsed_n_fields(const struct sig_parsed *p);
const char *http_sig_parsed_field(const struct sig_parsed *p, size_t i);
/* req must be the request parsed, now with the covered fields. */
int http_sig_check(struct sig_parsed *p, const struct sig_request *req, int64_t now) AIM_WARN_UNUSED;
/* key: as a lookup returns it (borrowed). On success *out is filled. */
int http_sig_verify_key(const struct sig_parsed *p, const struct sig_key *key,
		   struct sig_verified *out) AIM_WARN_UNUSED;

/* ---- Parsed headers (exposed for tests and fuzzing) ---------------------- */

struct sig_cavage_params {
	char *key_id;    /* owned copies of the quoted strings */
	char *algorithm; /* NULL if absent */
	char *headers;   /* NULL if absent */
	struct aim_buf signature; /* decoded bytes */
	int64_t created, expires;
	bool has_created, has_expires;
};

/* Parses a cavage Signature value (or the part after "Signature " of an
 * Authorization header): comma-separated name="quoted" / created=digits
 * pairs; duplicates, unterminated quotes, junk, bad base64 and missing
 * keyId/signature fail with AIM_ERR_DECODE. Unknown well-formed parameters
 * are ignored (draft section 2.2). Free with http_sig_cavage_params_free(). */
int http_sig_cavage_parse(const char *value, struct sig_cavage_params *out) AIM_WARN_UNUSED;
void http_sig_cavage_params_free(struct sig_cavage_params *p);
/* Appends the signing string for the headers list of p (section 2.3). */
int http_sig_cavage_signing_string(const struct sig_request *req, const struct sig_cavage_params *p,
			      struct aim_buf *out) AIM_WARN_UNUSED;

/* Appends the RFC 9421 signature base for member m of a parsed
 * Signature-Input dictionary (section 2.5). */
int http_sig_rfc9421_base(const struct sig_request *req, const struct sfv_dict *d,
		     const struct sfv_member *m, struct aim_buf *out) AIM_WARN_UNUSED;

/* ---- Signing ------------------------------------------------------------ */

/* Who signs: the key (with its private half) and its keyId URL. */
struct sig_signer {
	enum sig_scheme scheme;
	const char *key_id;
	const struct aim_pkey *key;
};

/* Signs an outgoing request to url. Appends to out the header fields to
 * send with it: Host, Date, Digest (cavage) or Content-Digest (RFC 9421)
 * when has_body, and Signature (+ Signature-Input). Cavage signs
 * `(request-target) host date digest` (without digest for a bodiless
 * request), algorithm rsa-sha256 for RSA keys and hs2019 otherwise; RFC 9421
 * signs ("@method" "@target-uri" "content-digest") with created, keyid and
 * alg (ed25519 / rsa-v1_5-sha256) under label "sig1". */
int http_sig_sign_request(const struct sig_signer *s, const char *method, const char *url,
		     bool has_body, struct aim_bytes body, int64_t now,
		     struct sig_fields *out) AIM_WARN_UNUSED;

/* ---- Replay cache --------------------------------------------------------- */

/* A bounded, thread-safe set of replay keys with expiry. */
struct sig_replay;

/* capacity: at most that many live entries. */
struct sig_replay *http_sig_replay_new(size_t capacity);
void http_sig_replay_free(struct sig_replay *r);
/* Records key until `until`. 0 if it was not present (first use); -1 with
 * AIM_ERR_AUTH if it is still recorded (a replay); -1 with AIM_ERR_LIMIT if
 * the cache is full of unexpired entries (fail closed). */
int http_sig_replay_check(struct sig_replay *r, const uint8_t key[32], int64_t until,
		     int64_t now) AIM_WARN_UNUSED;
size_t http_sig_replay_count(struct sig_replay *r);
/* The table's slots now (40 bytes each): it grows with the live keys. */
size_t http_sig_replay_slots(struct sig_replay *r);

#endif
