/* Internals of the delivery workers (delivery_queue.c, delivery_send.c). */
#ifndef AIM_SERVER_DELIVERY_INT_H
#define AIM_SERVER_DELIVERY_INT_H

#include <stdatomic.h>

#include "server/delivery.h"
#include "http/client.h"

struct aim_pkey;

/* A local user's signing keys, loaded once per worker pool. */
struct dlv_signer {
	int64_t user;
	struct aim_pkey *rsa, *ed;
	char *rsa_id, *ed_id;        /* ACTOR#main-key, ACTOR#ed25519-key */
};
int aimd_dlv_signer_load(struct app *a, int64_t user, struct dlv_signer **out) AIM_WARN_UNUSED;
void aimd_dlv_signer_free(struct dlv_signer *s);

/* Starts a POST of body to inbox signed with scheme (DLV_SCHEME_*) on the
 * worker's long-lived multi m (its connections are kept: keep-alive, HTTP/2
 * where offered); done(ctx, ...) is called from http_client_multi_run(m)
 * with the answer (any status) or the failure (err as client.h). The
 * signer's keys are borrowed until then. -1 if it cannot start. */
int aimd_dlv_post_start(struct app *a, const struct delivery_config *c, struct client_multi *m,
			const struct dlv_signer *s, int scheme, const char *inbox, const char *body,
			client_done_fn done, void *ctx) AIM_WARN_UNUSED;

#endif
