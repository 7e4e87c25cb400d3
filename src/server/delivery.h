/*
 * Federation, outbound side: audience expansion, the delivery queue's
 * workers, the per-host policy (bounded concurrency, circuit breaker,
 * remembered signature scheme) and the retry policy.
 *
 * Flow of an outbound activity:
 *   outbox POST -> aimd_address_expand(): to, cc, bto, bcc, audience of the
 *   activity and its object; the author's followers collection becomes its
 *   followers; as:Public adds nothing; local users and the sender never get
 *   a delivery; remote actors become queue rows that name the actor (the
 *   worker resolves its inbox, collapsing to the shared inbox unless the
 *   actor was only in bto/bcc); the body is the activity without bto/bcc
 *   -> stored with the activity in ONE store transaction
 *   (store_new_activity.outgoing) -> aimd_delivery_kick().
 *
 * Workers (threads started by aimd serve) claim due rows in batches (one
 * store transaction claims up to `batch` rows), resolve actors (remote actor
 * cache), sign each POST once per attempt (draft-cavage rsa-sha256 unless
 * the host is known to verify RFC 9421: see "Signature scheme per host"
 * below) and run the batch's POSTs concurrently on the worker's own
 * long-lived client multi, whose connections are kept alive between
 * deliveries (HTTP/2 where the TLS peer offers it). As attempts end their
 * outcomes are recorded together (one transaction for all that ended), and
 * the freed slots are claimed again at once: a slow host holds only the
 * slots of its own rows, at most `per_host` across every worker, and never
 * stalls deliveries to other hosts. Exactly one outcome per attempt:
 *   2xx                                -> delivered
 *   404, 410, other 4xx except 401, 408, 429, refused address, bad URL
 *                                      -> failed permanently
 *   anything else (connection refused, timeout, 5xx, 401, 408, 429)
 *                                      -> retried with exponential backoff
 *      and jitter (Retry-After honoured), expired once the retry period is
 *      over.
 * A host with `breaker_threshold` consecutive retryable failures is not
 * tried for `breaker_cooldown_ms` (its pending rows are pushed back in the
 * store, without using up attempts), then one probe goes out; success
 * closes the circuit, failure opens it again.
 *
 * Rows live in the store, so a kill -9 loses nothing: pending rows are
 * picked up again at start (an attempt cut short is simply repeated; the
 * receiver deduplicates by activity id). Workers claim rows under a lease
 * (store.h), so several processes may share one queue; a row that was in
 * flight in a killed process is claimable again when its lease runs out.
 */
#ifndef AIM_SERVER_DELIVERY_H
#define AIM_SERVER_DELIVERY_H

#include <jansson.h>

#include "base/base.h"
#include "store/store.h"

struct app;

/* ---- Configuration ------------------------------------------------------- */

struct delivery_config {
	int64_t retry_base_ms;       /* first retry after at most this (30 s) */
	int64_t retry_max_ms;        /* longest gap between attempts (12 h) */
	int64_t retry_expire_ms;     /* give up after this since enqueueing (72 h) */
	unsigned workers;            /* worker threads (4) */
	unsigned per_host;           /* concurrent POSTs per host (2) */
	unsigned batch;              /* rows a worker claims at once and has in flight (16) */
	unsigned breaker_threshold;  /* consecutive failures that open a circuit (5) */
	int64_t breaker_cooldown_ms; /* how long an open circuit stays open (60 s) */
	long timeout_ms;             /* one attempt, connect + transfer (20 s) */
};

void aimd_delivery_config_default(struct delivery_config *c);
struct aimd_serve_opts;
/* The defaults overridden by the serve options that are set. */
int aimd_delivery_config_from_serve(const struct aimd_serve_opts *o,
			       struct delivery_config *c) AIM_WARN_UNUSED;

/* ---- Retry policy (pure, for tests) ---------------------------------------- */

enum delivery_verdict {
	DLV_DONE = 0,    /* delivered */
	DLV_PERMANENT,   /* failed permanently: do not retry */
	DLV_RETRY,       /* try again later */
};

/* What an HTTP status means for a delivery. */
enum delivery_verdict aimd_delivery_classify_status(long status);
/* What a failed request (no HTTP status) means: a refused address or a bad
 * URL is permanent; connection, TLS and timeouts are retried. */
enum delivery_verdict aimd_delivery_classify_error(enum aim_err e);
/* Delay before the next attempt after `attempts` failed ones (>= 1):
 * base * 2^(attempts-1), capped at retry_max_ms, with jitter (a random
 * value in [delay/2, delay] from rnd). */
int64_t aimd_delivery_backoff_ms(const struct delivery_config *c, int attempts, uint64_t rnd);
/* A Retry-After value (delay-seconds or HTTP-date) as milliseconds from
 * now_ms; -1 when absent or malformed. */
int64_t aimd_delivery_retry_after_ms(const char *value, int64_t now_ms);
/* The row update after an attempt of d ended with verdict v at now_ms.
 * retry_after_ms < 0: none given. status 0: no HTTP answer. */
void aimd_delivery_outcome(const struct delivery_config *c, const struct store_delivery *d,
		      int64_t now_ms, enum delivery_verdict v, long status, int64_t retry_after_ms,
		      uint64_t rnd, const char *error, struct store_delivery_update *u);

/* ---- Audience expansion ------------------------------------------------------ */

struct address_out {
	struct store_new_delivery *v; /* owned, with their strings */
	size_t n;
	char *body;                   /* owned: the JSON to POST (no bto/bcc) */
};
void aimd_address_out_clear(struct address_out *o);

/* Expands the addressing of an activity the local user `author` (actor IRI
 * author_iri) posted into delivery rows (see the top of this file). */
int aimd_address_expand(struct app *a, int64_t author, const char *author_iri,
		   const json_t *activity, struct address_out *out) AIM_WARN_UNUSED;

/* The inbox and shared inbox (NULL if none) of a remote actor, from the
 * remote actor cache or fetched, and whether the actor advertises RFC 9421
 * (FEP-844e; rfc9421 may be NULL). Errors as aimd_remote_actor_get. */
int aimd_resolve_remote_inbox(struct app *a, const char *actor, char **inbox,
			      char **shared_inbox, bool *rfc9421) AIM_WARN_UNUSED;

/* ---- Workers ----------------------------------------------------------------- */

struct delivery;

/* Starts the worker threads. */
int aimd_delivery_start(struct app *a, const struct delivery_config *c,
		   struct delivery **out) AIM_WARN_UNUSED;
/* Wakes the workers (new rows were enqueued). NULL is fine. */
void aimd_delivery_kick(struct delivery *d);
/* Stops the workers (attempts in flight are abandoned and stay pending),
 * joins them and frees everything. NULL is fine. */
void aimd_delivery_stop(struct delivery *d);

/* ---- Signature scheme per host -------------------------------------------------
 *
 * What a host verifies is never learned from its answers to us: a 2xx
 * proves nothing (snac2 and the Misskey family answer 202 at once and check
 * the signature later, in a queue, dropping what does not verify). So a
 * delivery is signed with draft-cavage rsa-sha256, which the whole
 * fediverse verifies, unless the host is known to verify RFC 9421:
 *   - it has itself signed a request to us with RFC 9421 (the inbox gate,
 *     s2s_gate.c, records it), or
 *   - one of its actors advertises it (FEP-844e `implements`, on the actor
 *     or on its `generator`), seen when a delivery resolves that actor.
 * Such a host gets RFC 9421 (Ed25519); if it still refuses that with a 401
 * or a 400, the attempt is repeated at once with cavage, and the host gets
 * cavage from then on (nothing promotes it again).
 *
 * The remembered values (store_host_scheme_*): */
#define DLV_SCHEME_UNKNOWN 0     /* nothing known: cavage */
#define DLV_SCHEME_CAVAGE 1      /* refused our RFC 9421: cavage for good */
#define DLV_SCHEME_LEGACY_2XX 2  /* an older aimd's guess from a 2xx: as unknown */
#define DLV_SCHEME_RFC9421 3     /* known to verify RFC 9421 */

/* The scheme to sign with (DLV_SCHEME_CAVAGE or DLV_SCHEME_RFC9421) for
 * what is remembered of a host. Pure. */
int aimd_delivery_sign_scheme(int remembered);
/* What to remember of a host seen to verify RFC 9421: DLV_SCHEME_RFC9421,
 * unless it refused our RFC 9421 before (that stays). Pure. */
int aimd_delivery_scheme_learn_rfc9421(int remembered);
/* Records that the host of url (an actor id, a key id or an inbox) verifies
 * RFC 9421, per aimd_delivery_scheme_learn_rfc9421 (delivery_scheme.c). A
 * failure is logged only. */
void aimd_delivery_host_verifies_rfc9421(struct app *a, const char *url);

#endif
