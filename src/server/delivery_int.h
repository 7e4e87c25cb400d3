/* Internals of the delivery workers (delivery_queue.c, delivery_send.c). */
#ifndef AIM_SERVER_DELIVERY_INT_H
#define AIM_SERVER_DELIVERY_INT_H

#include <stdatomic.h>

#include "server/delivery.h"

struct aim_pkey;

/* A local user's signing keys, loaded once per worker pool. */
struct dlv_signer {
	int64_t user;
	struct aim_pkey *rsa, *ed;
	char *rsa_id, *ed_id;        /* ACTOR#main-key, ACTOR#ed25519-key */
};
int aimd_dlv_signer_load(struct app *a, int64_t user, struct dlv_signer **out) AIM_WARN_UNUSED;
void aimd_dlv_signer_free(struct dlv_signer *s);

struct dlv_answer {
	long status;
	char *retry_after;           /* owned; NULL if absent */
};

/* POSTs body to inbox signed with scheme (DLV_SCHEME_*). 0 with the answer
 * (any status), or -1: the request failed (err as client.h), or *stop was
 * set (AIM_ERR_STATE: the attempt was abandoned). */
int aimd_dlv_post(struct app *a, const struct delivery_config *c, const struct dlv_signer *s,
	     int scheme, const char *inbox, const char *body, atomic_bool *stop,
	     struct dlv_answer *ans) AIM_WARN_UNUSED;

#endif
