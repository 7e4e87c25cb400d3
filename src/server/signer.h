/*
 * The instance signer: the instance actor's (BASE/actor) key id and RSA
 * private key, and the one outbound client configuration of aimd serve
 * (--connect-to, --ca-file, --allow-private-addresses). Every request aimd
 * makes on its own behalf -- fetches of remote actors, keys and objects
 * ("authorized fetch") -- goes out through aimd_signer_fetch: the guarded
 * client (http/client.h: SSRF guard, redirects, caps), every hop signed
 * with draft-cavage rsa-sha256 over (request-target) host date (DESIGN.md
 * section 1).
 *
 * The units of federation and who uses whom (a line is "calls"; nothing
 * calls back up, so there is no loop among the files of src/server):
 *
 *     s2s_inbox.c (inbox POST)     route_*.c (outbox POST, signed GETs)
 *          |            \              /          |
 *          |           s2s_gate.c (the gate: limits, http_sig_parse/check/verify_key)
 *          |                 |                    |
 *          +-------> remote_actor.c (actor and key cache, WebFinger client)
 *                            |
 *                       fetcher.c (signed GET of an ActivityPub document:
 *                            |     content type, id checks)
 *                       signer.c (this unit: key, client options)
 *                            |
 *                 http/client.h, http/sig.h (below src/server)
 *
 * Neither this unit nor fetcher.c knows struct app: they see only the
 * narrow context here. s2s_gate.c opens the signer (aimd_fed_in_open) and holds
 * it in struct fed_in.
 */
#ifndef AIM_SERVER_SIGNER_H
#define AIM_SERVER_SIGNER_H

#include "base/base.h"
#include "http/client.h"

struct aimd_signer;

/* key_id: the instance actor's key URL (BASE/actor#main-key); private_pem:
 * its RSA private key; client: copied, its strings stay borrowed (they must
 * outlive the signer). */
int aimd_signer_new(const char *key_id, const char *private_pem, size_t pem_len,
		    const struct client_opts *client, struct aimd_signer **out) AIM_WARN_UNUSED;
void aimd_signer_free(struct aimd_signer *s);

const char *aimd_signer_key_id(const struct aimd_signer *s);
/* The client options every outbound request uses (also unsigned ones, such
 * as WebFinger). Borrowed. */
const struct client_opts *aimd_signer_client(const struct aimd_signer *s);

/* req through the guarded client, every hop signed by the instance actor
 * (req->signer is ignored). Errors as http_client_fetch. */
int aimd_signer_fetch(const struct aimd_signer *s, const struct client_request *req,
		      struct client_response *out) AIM_WARN_UNUSED;

#endif
