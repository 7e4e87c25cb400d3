/*
 * Federation, inbound side: the signature gate of the S2S inboxes, the
 * remote actor and key cache, signed fetches by the instance actor, and
 * inbox processing (Follow, Accept, Reject, Undo, Create, Update, Delete,
 * Block).
 *
 * Flow of an inbox POST (s2s_inbox_post):
 *   per-host rate and concurrency limit (429 + Retry-After, A20, B32)
 *   -> the one signature gate (s2s_gate_verify: both schemes, digest, time
 *      window, replay cache, key fetched through the cache, key owner ==
 *      activity actor after a URL parse; every failure 401, A1-A14)
 *   -> shape and origin checks (threats.md B)
 *   -> one durable store transaction (store_inbound_commit)
 *   -> 202, or 503 and no further acknowledgements if the commit failed with
 *      an I/O error.
 *
 * Remote documents are fetched with GETs signed by the instance actor
 * (authorized fetch) through the shared client (struct app.client), so the
 * SSRF guard applies; their content type and id are checked (B21, B22).
 * Remote actors are cached in memory for RA_TTL seconds; a failed fetch is
 * remembered for RA_NEG_TTL seconds, or RA_NEG_TTL_TRANSIENT for a failure
 * that may pass (negative cache, A20).
 */
#ifndef AIM_SERVER_S2S_H
#define AIM_SERVER_S2S_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/base.h"
#include "http/server.h"
#include "http/sig.h"

struct app;
struct aim_pkey;

#define RA_TTL 3600             /* seconds a fetched actor stays cached */
#define RA_NEG_TTL 300          /* seconds a refusal (404, 410, bad key) is remembered */
#define RA_NEG_TTL_TRANSIENT 10 /* seconds a connection/TLS/5xx failure is remembered */
#define RA_MAX 4096             /* cached actors (and failures) at most */
#define RA_REFETCH_MIN 1        /* seconds between refetches of one actor */
#define RA_MAX_KEYS 4           /* keys kept per actor */

/* A remote actor as cached: owned copies. */
struct remote_actor {
	char *id;
	char *inbox;
	char *shared_inbox;          /* NULL if none */
	char *followers;             /* NULL if none */
	char *type;
	char *preferred_username;    /* NULL if none */
};
void remote_actor_clear(struct remote_actor *ra);

/* ---- Internals shared by s2s_*.c, remote_*.c and fetch_*.c ------------------ */

struct ra_cache;
struct ra_cache *ra_cache_new(void);
void ra_cache_free(struct ra_cache *c);

#define S2S_INFLIGHT_SLOTS 256

/* The inbound state hung off struct app (fin). */
struct fed_in {
	struct ra_cache *cache;      /* remote actors and keys */
	struct sig_replay *replay;   /* signatures seen inside their window (A7) */
	struct limiter *host_lim;    /* per-host request rate and key failures (A20) */
	pthread_mutex_t mu;          /* guards inflight */
	struct {
		char host[64];
		unsigned n;
	} inflight[S2S_INFLIGHT_SLOTS];
	unsigned max_inflight;       /* concurrent deliveries per host (B32) */
	struct aim_pkey *inst_key;   /* the instance actor's RSA key (signed GETs) */
	char *inst_key_id;
	atomic_bool stopped;         /* a commit failed: no more acknowledgements */
};

/* sig_verify's key lookup over the cache; ctx is a struct ra_lookup. */
struct ra_lookup {
	struct app *app;
	bool fresh;                  /* refetch the actor document */
	bool from_cache;             /* out: the key came from the cache */
	bool fetch_failed;           /* out: a fetch was made and failed */
};
int remote_key_lookup(void *ctx, const char *key_id, struct sig_key *out);
void remote_key_release(void *ctx, struct sig_key *key);

/* host_rate / host_concurrency: the per-host inbox limits (0: defaults). */
int fed_in_open(struct app *a, unsigned host_rate, unsigned host_concurrency) AIM_WARN_UNUSED;
void fed_in_free(struct app *a);

/* The actor at url, from the cache or fetched (signed GET). AIM_ERR_NOTFOUND
 * / AIM_ERR_DENIED / AIM_ERR_REMOTE / ... when it cannot be had (and then the
 * failure is cached for RA_NEG_TTL). fresh: skip the cache. */
int remote_actor_get(struct app *a, const char *url, bool fresh,
		     struct remote_actor *out) AIM_WARN_UNUSED;
/* Whether url is an actor in the cache (no fetch). */
bool remote_actor_known(struct app *a, const char *url);
/* Drops url from the cache (positive and negative). */
void remote_actor_forget(struct app *a, const char *url);

/* The instance actor's signing key (RSA) and its keyId; borrowed from fin. */
struct fed_in_keys {
	const char *key_id;
	const struct aim_pkey *key;
};
int fed_in_instance_signer(struct app *a, struct fed_in_keys *out) AIM_WARN_UNUSED;

/* Whether two URLs are the same after a strict parse and normalisation. */
bool fetch_same_url(const char *a, const char *b);
/* Whether two URLs have the same scheme, host and port (after a parse). */
bool fetch_same_origin(const char *a, const char *b);

/* GET url signed by the instance actor, expecting an ActivityStreams
 * document (content type checked, B21) whose id is the URL fetched (after
 * redirects, B22). *out is a new reference. */
int fetch_ap_document(struct app *a, const char *url, json_t **out) AIM_WARN_UNUSED;

/* The gate. s2s_host_admit: collects the covered fields into fl and the
 * keyId's host into host (empty if none), then applies the per-host rate,
 * key-failure and concurrency limits (429 set in r, -1). A host admitted
 * must be released with s2s_host_release. s2s_gate_verify: the signature
 * (both schemes, A1-A13), the replay cache, and out->actor = the key's owner;
 * AIM_ERR_AUTH on any failure. */
struct s2s_auth {
	char *actor;                 /* the verified key's owner */
	char *key_id;
	enum sig_scheme scheme;
};
void s2s_auth_clear(struct s2s_auth *au);
int s2s_host_admit(struct app *a, const struct http_request *q, struct http_response *r,
		   struct sig_fields *fl, char *host, size_t hostn) AIM_WARN_UNUSED;
void s2s_host_release(struct app *a, const char *host);
int s2s_gate_verify(struct app *a, const struct http_request *q, const struct sig_fields *fl,
		    const char *host, struct s2s_auth *out) AIM_WARN_UNUSED;

/* WebFinger client (DESIGN.md: "The reverse check (actor -> WebFinger ->
 * same actor) is made before a handle is trusted"). Resolves an
 * "acct:user@host[:port]" handle: unsigned GET of the host's WebFinger
 * through the shared guarded client (JRD or JSON only), subject must be the
 * handle asked for, the ActivityPub self link is fetched as an actor
 * (remote actor cache), then the reverse check: preferredUsername@host of
 * the actor id must WebFinger to the same actor id. An actor on another
 * host than the handle's is bound only when that host's WebFinger names
 * the handle asked for as its subject (split domains). Results are cached
 * (RA_TTL; failures RA_NEG_TTL, or RA_NEG_TTL_TRANSIENT for a remote failure).
 * *actor_id is malloc'd. Errors: AIM_ERR_DECODE (malformed handle),
 * AIM_ERR_DENIED (refused address, or the handle is not bound),
 * AIM_ERR_NOTFOUND (no such account or no ActivityPub link), AIM_ERR_REMOTE /
 * AIM_ERR_TIMEOUT (the remote could not be reached). */
int webfinger_resolve(struct app *a, const char *acct, char **actor_id) AIM_WARN_UNUSED;

/* Whether the request carries an HTTP signature (either scheme). */
bool s2s_has_signature(const struct http_request *q);
/* A GET that carries a signature passes the same gate (A11: it must cover
 * host); 0 to go on (also when unsigned), -1 with a 401/429 set in r. */
int s2s_check_signed_get(struct app *a, const struct http_request *q,
			 struct http_response *r) AIM_WARN_UNUSED;

/* The inbox POST routes: user NULL for the shared inbox /inbox. */
void s2s_inbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		    const char *user);
/* Side effects of a local user's own outbox activity (Accept/Reject of a
 * pending Follow, Block, Undo(Block)), after it was stored. */
int s2s_outbox_effects(struct app *a, int64_t user, const json_t *activity) AIM_WARN_UNUSED;

/* The followers collection of a local user. */
void s2s_followers(struct app *a, const struct http_request *q, struct http_response *r,
		   int64_t user, const char *coll_id);

#endif
