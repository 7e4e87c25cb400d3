/*
 * The KeyPackage directory of aimd (issue 10, "KeyPackage directory").
 *
 * A local user's devices upload KeyPackages over the client API; another
 * server claims one KeyPackage per device of a user with a signed
 * server-to-server request; a local client asks its own server to claim for
 * it. This unit is the policy between the routes (route_keypackages.c: the
 * HTTP edge, statuses) and the store (store.h "The KeyPackage directory"):
 *
 * Upload (aimd_kp_check, aimd_kp_upload):
 *   base64 MLSMessage -> wire format mls_key_package -> RFC 9420 section
 *   10.1 validation by the MLS library (mls_key_package_validate_standalone:
 *   version, suite, KeyPackage and LeafNode signatures, encryption_key !=
 *   init_key, lifetime now) whose credential hook is the domain's check: an
 *   x509 credential whose leaf certificate chains to this domain's CA, names
 *   acct:user@domain, and belongs to a registered, unrevoked device of the
 *   user (aimd_ca_check_leaf, ca.h), and whose key is the LeafNode's
 *   signature key -> KeyPackageRef, last_resort (the extension, or marked
 *   by the uploader) -> one store transaction for the whole batch.
 *
 * Claim (aimd_kp_claim), for a claimer (an actor URL) on a host:
 *   per claiming host limit -> per target user limit (429 + Retry-After)
 *   -> the target's consent (everyone, followed = actors she follows with an
 *   accepted Follow, nobody; a refusal is logged) -> the store's claim: one
 *   KeyPackage per device in an accepted suite, consumed atomically, the
 *   device's last-resort one when none is left (marked lastResort).
 *
 * Remote claim (aimd_kp_claim_remote): the target actor's document
 * (signed GET) names its keyPackages collection; the claim is a POST to
 * that collection's /claim, signed by the instance actor, answered by the
 * peer's one S2S gate.
 *
 * Results follow base.h. AIM_ERR_LIMIT with *retry_after set: rate limited;
 * AIM_ERR_DENIED: consent refused; upload refusals carry the reason in the
 * message (the codes of mls.h, AIM_ERR_EXISTS for a duplicate,
 * AIM_ERR_LIMIT for too many).
 */
#ifndef AIM_SERVER_KEYPACKAGES_H
#define AIM_SERVER_KEYPACKAGES_H

#include <jansson.h>

#include "base/base.h"
#include "http/route.h"
#include "http/server.h"
#include "store/store.h"

struct app;

#define AIMD_KP_BATCH_MAX 100       /* KeyPackages in one upload */
#define AIMD_KP_DEVICE_MAX 1000     /* consumable KeyPackages stored per device */
#define AIMD_KP_SUITES_MAX 16       /* cipher suites a claim may name */
#define AIMD_KP_HANDLES_MAX 32      /* handles in one client claim */
#define AIMD_KP_HOST_PER_MIN 60     /* default: claims per minute per claiming host */
#define AIMD_KP_USER_PER_MIN 30     /* default: claims per minute per target user */
/* The JSON-LD term of a claim and of the lastResort mark (our context, /ns). */
#define AIMD_KP_CLAIM_TYPE "aim:KeyPackageClaim"

struct aimd_kp_config {
	unsigned host_per_min;       /* 0: AIMD_KP_HOST_PER_MIN */
	unsigned user_per_min;       /* 0: AIMD_KP_USER_PER_MIN */
};

/* The directory's state (rate limiters) hung off struct app (kp). */
int aimd_kp_open(struct app *a, const struct aimd_kp_config *c) AIM_WARN_UNUSED;
void aimd_kp_free(struct app *a);

/* ---- Upload ---- */

/* One checked KeyPackage, ready for the store (owned; aimd_kp_item_clear). */
struct aimd_kp_item {
	struct aim_buf data;         /* the MLSMessage */
	uint8_t ref[64];
	size_t ref_len;
	uint16_t suite;
	bool last_resort;
	char device[STORE_DEVICE_MAX + 1];
	int64_t not_after;
	char *json;                  /* the KeyPackage object the collection serves */
};
void aimd_kp_item_clear(struct aimd_kp_item *it);

/* Checks one uploaded KeyPackage of owner (b64: base64 of the MLSMessage).
 * mark_last_resort: the uploader says it is its last-resort one (it must
 * then carry the last_resort extension or be accepted as such). */
int aimd_kp_check(struct app *a, const struct store_user *owner, const char *b64,
		  bool mark_last_resort, struct aimd_kp_item *out) AIM_WARN_UNUSED;
/* Checks and stores a batch (1..AIMD_KP_BATCH_MAX, plus at most one
 * last-resort one; lr_b64 NULL for none): all or nothing. *failed = the
 * index of the refused one (n for the last-resort one), -1 if none. */
int aimd_kp_upload(struct app *a, const struct store_user *owner, const char *const *b64,
		   size_t n, const char *lr_b64, long *failed) AIM_WARN_UNUSED;

/* ---- Claims ---- */

/* The claim of target's KeyPackages by claimer (an actor URL) from
 * claimer_host. *result = {"keyPackages": [...]} (new reference). */
int aimd_kp_claim(struct app *a, const struct store_user *target, const char *claimer,
		  const char *claimer_host, const uint16_t *suites, size_t n_suites,
		  json_t **result, unsigned *retry_after) AIM_WARN_UNUSED;
/* The claim of a remote actor's KeyPackages for local user `me` (its actor
 * URL): *result = the peer's {"keyPackages": [...]} after a shape check.
 * AIM_ERR_DENIED (403 claims_refused), AIM_ERR_LIMIT (429, *retry_after),
 * AIM_ERR_NOTFOUND, AIM_ERR_REMOTE / AIM_ERR_TIMEOUT. */
int aimd_kp_claim_remote(struct app *a, const char *me, const char *actor,
			 const uint16_t *suites, size_t n_suites, json_t **result,
			 unsigned *retry_after) AIM_WARN_UNUSED;
/* Reads a claim's cipherSuites (1..AIMD_KP_SUITES_MAX integers 1..65535). */
int aimd_kp_suites(const json_t *arr, uint16_t *out, size_t *n) AIM_WARN_UNUSED;

/* The names of the consent settings, and back. */
const char *aimd_kp_policy_name(int policy);
int aimd_kp_policy_parse(const char *name, int *policy) AIM_WARN_UNUSED;

/* ---- Routes (route_keypackages.c) ---- */

/* Whether an outbox document is a KeyPackage upload (a Create of a
 * KeyPackage object, or a bare KeyPackage object). */
bool aimd_kp_is_upload(const json_t *doc);
/* The outbox POST of such a document by owner (already authenticated). */
void aimd_route_kp_outbox(struct app *a, const struct http_request *q, struct http_response *r,
			  const struct store_user *owner, const json_t *doc);
void aimd_route_kp_batch(struct app *a, const struct http_request *q, struct http_response *r,
			 const struct http_route_caps *caps);
void aimd_route_kp_stock(struct app *a, const struct http_request *q, struct http_response *r,
			 const struct http_route_caps *caps);
void aimd_route_kp_claim_s2s(struct app *a, const struct http_request *q,
			     struct http_response *r, const struct http_route_caps *caps);
void aimd_route_kp_claim_client(struct app *a, const struct http_request *q,
				struct http_response *r, const struct http_route_caps *caps);
void aimd_route_kp_settings(struct app *a, const struct http_request *q, struct http_response *r,
			    const struct http_route_caps *caps);

#endif
