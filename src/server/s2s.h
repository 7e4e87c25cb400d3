/*
 * Federation, inbound side: the signature gate of the S2S inboxes
 * (s2s_gate.c), the remote actor and key cache with the WebFinger client
 * (remote_actor.c), and inbox processing (s2s_inbox.c: Follow, Accept,
 * Reject, Undo, Create, Update, Delete, Block). Signed fetches by the
 * instance actor are units of their own below these (signer.h, fetcher.h;
 * the graph of who calls whom is in signer.h).
 *
 * Flow of an inbox POST (aimd_s2s_inbox_post):
 *   per-host rate and concurrency limit (429 + Retry-After, A20, B32)
 *   -> the one signature gate (aimd_s2s_gate_verify: http_sig_parse learns the keyId,
 *      http_sig_check the time window and digest, then the key is asked of the
 *      cache once -- refetched once if it fails to verify and was cached,
 *      a rotation -- and http_sig_verify_key; the replay cache; key owner ==
 *      activity actor after a URL parse; every failure 401, A1-A14, except
 *      a key whose actor's server failed or timed out: 502/504, retry later)
 *   -> shape and origin checks (threats.md B)
 *   -> one durable store transaction (store_inbound_commit)
 *   -> 202, or 503 and no further acknowledgements if the commit failed with
 *      a storage error (AIM_ERR_STORAGE). Every other failure refuses that
 *      request only (status.h).
 *
 * Remote documents are fetched with GETs signed by the instance actor
 * (authorized fetch, fetcher.h) through the shared guarded client, so the
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
#include "base/url.h"
#include "http/sig.h"
#include "server/fetcher.h"
#include "server/inbox_batch.h"

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
	bool implements_rfc9421;     /* advertises RFC 9421 (FEP-844e) */
};
void aimd_remote_actor_clear(struct remote_actor *ra);

/* ---- Internals shared by s2s_*.c, remote_*.c and fetch_*.c ------------------ */

struct ra_cache;
/* The cache fetches through signer (borrowed: it outlives the cache). */
struct ra_cache *aimd_ra_cache_new(const struct aimd_signer *signer);
void aimd_ra_cache_free(struct ra_cache *c);

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
	struct aimd_signer *signer;  /* the instance actor: signed GETs (signer.h) */
	atomic_bool stopped;         /* a commit failed: no more acknowledgements */
	struct inbox_batcher batch;  /* group commit of the inbox (inbox_batch.h) */
};

/* The gate's key lookup over the cache: the key keyId names, from its
 * actor's document (cached, or fetched). A document without that key, or
 * whose id is not the keyId's document, gives no key (A15). out->pkey and
 * out->owner stay valid until aimd_remote_key_put. Errors: AIM_ERR_DENIED,
 * AIM_ERR_NOTFOUND, AIM_ERR_GONE, AIM_ERR_REMOTE, AIM_ERR_TIMEOUT... */
struct ra_lookup {
	struct ra_cache *cache;
	bool fresh;                  /* refetch the actor document */
	bool from_cache;             /* out: the key came from the cache */
	bool fetch_failed;           /* out: a fetch was made and failed */
};
int aimd_remote_key_get(struct ra_lookup *l, const char *key_id, struct sig_key *out) AIM_WARN_UNUSED;
void aimd_remote_key_put(struct ra_lookup *l, struct sig_key *key);

/* host_rate / host_concurrency: the per-host inbox limits (0: defaults). */
int aimd_fed_in_open(struct app *a, unsigned host_rate, unsigned host_concurrency) AIM_WARN_UNUSED;
void aimd_fed_in_free(struct app *a);

/* The actor at url, from the cache or fetched (signed GET). AIM_ERR_NOTFOUND
 * / AIM_ERR_DENIED / AIM_ERR_REMOTE / ... when it cannot be had (and then the
 * failure is cached for RA_NEG_TTL). fresh: skip the cache. */
int aimd_remote_actor_get(struct app *a, const char *url, bool fresh,
		     struct remote_actor *out) AIM_WARN_UNUSED;
/* Whether url is an actor in the cache (no fetch). */
bool aimd_remote_actor_known(struct app *a, const char *url);
/* Drops url from the cache (positive and negative). */
void aimd_remote_actor_forget(struct app *a, const char *url);

/* Whether two URLs are the same after a strict parse and normalisation
 * (base/url.h aim_url_equal, under the name the inbox code uses). */
static inline bool fetch_same_url(const char *a, const char *b)
{
	return aim_url_equal(a, b);
}
/* Whether two URLs have the same scheme, host and port (after a parse). */
static inline bool fetch_same_origin(const char *a, const char *b)
{
	return aim_url_origin_equal(a, b);
}

/* The gate. aimd_s2s_host_admit: collects the covered fields into fl and the
 * keyId's host into host (empty if none), then applies the per-host rate,
 * key-failure and concurrency limits (429 set in r, -1). A host admitted
 * must be released with aimd_s2s_host_release. aimd_s2s_gate_verify: the signature
 * (both schemes, A1-A13), the replay cache, and out->actor = the key's owner;
 * AIM_ERR_AUTH on any failure but a key whose server failed or timed out
 * (AIM_ERR_REMOTE, AIM_ERR_TIMEOUT: kept, the sender may retry). */
struct s2s_auth {
	char *actor;                 /* the verified key's owner */
	char *key_id;
	enum sig_scheme scheme;
};
void aimd_s2s_auth_clear(struct s2s_auth *au);
int aimd_s2s_host_admit(struct app *a, const struct http_request *q, struct http_response *r,
		   struct sig_fields *fl, char *host, size_t hostn) AIM_WARN_UNUSED;
void aimd_s2s_host_release(struct app *a, const char *host);
int aimd_s2s_gate_verify(struct app *a, const struct http_request *q, const struct sig_fields *fl,
		    const char *host, struct s2s_auth *out) AIM_WARN_UNUSED;

/* WebFinger client (DESIGN.md: "The reverse check (actor -> WebFinger ->
 * same actor) is made before a handle is trusted"). Resolves an
 * "acct:user@host[:port]" handle: unsigned GET of the host's WebFinger
 * through the shared guarded client (JRD or JSON only), subject must be the
 * handle asked for, the ActivityPub self link is fetched as an actor
 * (remote actor cache), then the reverse check: preferredUsername@host of
 * the actor id must WebFinger to the same actor id. An actor on another
 * host than the handle's is bound only when that host's WebFinger names
 * the handle asked for as its subject (split domains). A handle on this
 * server's own domain (the configured domain, or BASE's authority when BASE
 * has a port) is resolved from the store, without any request: its user's
 * actor, or AIM_ERR_NOTFOUND. Results of remote handles are cached
 * (RA_TTL; failures RA_NEG_TTL, or RA_NEG_TTL_TRANSIENT for a remote failure).
 * *actor_id is malloc'd. Errors: AIM_ERR_DECODE (malformed handle),
 * AIM_ERR_DENIED (refused address, or the handle is not bound),
 * AIM_ERR_NOTFOUND (no such account or no ActivityPub link), AIM_ERR_REMOTE /
 * AIM_ERR_TIMEOUT (the remote could not be reached). */
int aimd_webfinger_resolve(struct app *a, const char *acct, char **actor_id) AIM_WARN_UNUSED;

/* Whether the request carries an HTTP signature (either scheme). */
bool aimd_s2s_has_signature(const struct http_request *q);
/* A GET that carries a signature passes the same gate (A11: it must cover
 * host); 0 to go on (also when unsigned), -1 with a 401/429 set in r. */
int aimd_s2s_check_signed_get(struct app *a, const struct http_request *q,
			 struct http_response *r) AIM_WARN_UNUSED;

/* The inbox POST routes: user NULL for the shared inbox /inbox. */
void aimd_s2s_inbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		    const char *user);
/* Side effects of a local user's own outbox activity (Accept/Reject of a
 * pending Follow, Block, Undo(Block)), after it was stored. */
int aimd_s2s_outbox_effects(struct app *a, int64_t user, const json_t *activity) AIM_WARN_UNUSED;

#endif
