/*
 * The hub's credential check (issue 11 with issue 10's credentials): every
 * credential the hub meets -- the creation's tree, each Add's KeyPackages,
 * Update and UpdatePath leaves, external joiners -- must be an x509
 * credential its acct: URI's domain stands behind, as the clients check it
 * (src/client/core_verify.c):
 *
 *   - a local acct (this server's domain): aimd_ca_check_leaf -- our CA, the
 *     one SAN that acct: URI, the key of a registered, unrevoked device of
 *     that user -- and that key is the leaf node's signature key;
 *   - a remote acct: the leaf chains to one of the CA certificates that
 *     domain publishes at https://DOMAIN/.well-known/aim-ca (JSON {"domain",
 *     "certificates": [base64 DER...]}, fetched signed through the guarded
 *     client, kept AIMD_HUB_CA_TTL seconds, a failure AIMD_HUB_CA_NEG_TTL),
 *     aim_x509_verify, SAN = the acct: URI, certified key = the leaf node's
 *     signature key;
 *   - a basic credential is refused (this server issues x509 only), unless
 *     the serve option --hub-basic-credentials (tests only) is given.
 *
 * The hub core has no I/O, so the CA documents are fetched BEFORE it
 * decides. The shell does not decode the commit itself; it decides in up to
 * two passes:
 *   aimd_hub_trust_init (collecting) -> hub_decide with t.hook: a remote
 *   domain whose CA document is not cached is noted (t.n_missing) and its
 *   credential provisionally passed -> aimd_hub_trust_settle(): nothing
 *   missing: the decision stands; else the missing documents are fetched
 *   (cached, also when failing) and the shell decides again with the
 *   collecting off, every credential now checked against what was fetched.
 * A refusal in the first pass stands either way (a stricter check could
 * only refuse too). With the documents cached, one pass.
 *
 * A refusal is AIM_ERR_DENIED ("credential of ACCT refused: WHY"); t.refused
 * says the hook refused, t.reason why.
 */
#ifndef AIM_SERVER_HUB_TRUST_H
#define AIM_SERVER_HUB_TRUST_H

#include "mls/mls.h"

struct app;

#define AIMD_HUB_CA_TTL 3600
#define AIMD_HUB_CA_NEG_TTL 60

struct aimd_hub_trust {
	struct app *a;
	bool collecting;
	char **missing;               /* remote domains without a cached document */
	size_t n_missing;
	bool refused;
	char reason[400];
	struct mls_credential_hook hook; /* pass &t.hook as the hub's hook */
};

void aimd_hub_trust_init(struct aimd_hub_trust *t, struct app *a);
/* After a first pass: false when nothing was missing (the decision
 * stands); true after fetching the missing documents, the collecting off:
 * decide again. */
bool aimd_hub_trust_settle(struct aimd_hub_trust *t);
void aimd_hub_trust_clear(struct aimd_hub_trust *t);

#endif
