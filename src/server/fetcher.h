/*
 * The signed fetcher: GET of an ActivityPub document (an actor, a key, an
 * object, a collection) signed by the instance actor (signer.h), with the
 * checks every fetched document passes before anyone uses it:
 *
 *   - the answer is 200 (404 is AIM_ERR_NOTFOUND, 410 AIM_ERR_GONE, any
 *     other status AIM_ERR_REMOTE);
 *   - its content type is application/activity+json, or application/ld+json
 *     with the ActivityStreams profile (threats.md B21, AIM_ERR_UNSUPPORTED);
 *   - it is a JSON object within the ap input limits (ap_json_parse_object);
 *   - its id is the URL fetched, or -- after redirects -- the final URL when
 *     that is on the same origin as the first (B22, AIM_ERR_DENIED).
 *
 * Uses signer.c (and through it the guarded client) and src/ap; used by
 * remote_actor.c and s2s_inbox.c. Knows nothing of struct app or the
 * caches (see the unit graph in signer.h).
 */
#ifndef AIM_SERVER_FETCHER_H
#define AIM_SERVER_FETCHER_H

#include <jansson.h>

#include "base/base.h"
#include "server/signer.h"

/* *out is a new reference. */
int aimd_fetch_ap(const struct aimd_signer *s, const char *url, json_t **out) AIM_WARN_UNUSED;

/* The same signed GET for a plain JSON document that is no ActivityStreams
 * object (a domain's CA document, /.well-known/aim-ca): the status mapped
 * as above, content type application/json (else AIM_ERR_UNSUPPORTED), a
 * JSON object within the ap input limits; no id check (the caller checks
 * what names the document's origin). *out is a new reference. */
int aimd_fetch_json(const struct aimd_signer *s, const char *url, json_t **out) AIM_WARN_UNUSED;

#endif
