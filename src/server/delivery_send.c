/*
 * One delivery attempt on the wire: the signer's keys, the signed POST
 * through the shared guarded client, abandoned promptly at shutdown.
 */
#include "server/internal.h"
#include "server/delivery_int.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

void aimd_dlv_signer_free(struct dlv_signer *s)
{
	if (!s)
		return;
	aim_pkey_free(s->rsa);
	aim_pkey_free(s->ed);
	free(s->rsa_id);
	free(s->ed_id);
	free(s);
}

int aimd_dlv_signer_load(struct app *a, int64_t user, struct dlv_signer **out)
{
	struct store_user u = { 0 };
	char *rsa_pem = NULL, *ed_pem = NULL;
	int rc = 0;
	struct dlv_signer *s = aim_xcalloc(1, sizeof *s);
	s->user = user;
	TRY_GOTO(store_user_get_id(a->st, user, &u), out);
	TRY_GOTO(store_user_private_keys(a->st, user, &rsa_pem, &ed_pem), out);
	TRY_GOTO(aim_pkey_from_private_pem(rsa_pem, strlen(rsa_pem), &s->rsa), out);
	TRY_GOTO(aim_pkey_from_private_pem(ed_pem, strlen(ed_pem), &s->ed), out);
	size_t cpl = strlen(STORE_CHANNEL_PREFIX), dpl = strlen(STORE_DM_PREFIX);
	char *actor = !strcmp(u.name, STORE_INSTANCE_NAME)
			      ? aim_xasprintf("%s/actor", a->base)
		      : !strncmp(u.name, STORE_CHANNEL_PREFIX, cpl) /* a channel (channels.h) */
			      ? aim_xasprintf("%s/channels/%s", a->base, u.name + cpl)
		      : !strncmp(u.name, STORE_DM_PREFIX, dpl)
			      ? aim_xasprintf("%s/dms/%s", a->base, u.name + dpl)
			      : aim_xasprintf("%s/users/%s", a->base, u.name);
	s->rsa_id = aim_xasprintf("%s#main-key", actor);
	s->ed_id = aim_xasprintf("%s#ed25519-key", actor);
	free(actor);
out:
	if (rsa_pem)
		aim_free_secret(rsa_pem, strlen(rsa_pem));
	if (ed_pem)
		aim_free_secret(ed_pem, strlen(ed_pem));
	store_user_clear(&u);
	if (rc != 0) {
		aimd_dlv_signer_free(s);
		s = NULL;
	}
	*out = s;
	return rc;
}

int aimd_dlv_post_start(struct app *a, const struct delivery_config *c, struct client_multi *m,
			const struct dlv_signer *s, int scheme, const char *inbox, const char *body,
			client_done_fn done, void *ctx)
{
	struct client_opts o = a->client;
	o.timeout_ms = c->timeout_ms;
	if (o.connect_timeout_ms > c->timeout_ms)
		o.connect_timeout_ms = c->timeout_ms;
	/* (the answer's body is not needed, but a transfer cut at the cap has
	 * no status and would be retried: keep the client's 1 MiB) */
	struct sig_signer sg = {
		.scheme = scheme == DLV_SCHEME_CAVAGE ? SIG_CAVAGE : SIG_RFC9421,
		.key_id = scheme == DLV_SCHEME_CAVAGE ? s->rsa_id : s->ed_id,
		.key = scheme == DLV_SCHEME_CAVAGE ? s->rsa : s->ed,
	};
	const struct sig_field hdrs[] = {
		{ "Content-Type", "application/activity+json" },
		{ "Accept", "application/activity+json, application/ld+json" },
	};
	struct client_request req = {
		.method = "POST",
		.url = inbox,
		.headers = hdrs,
		.n_headers = AIM_ARRAY_LEN(hdrs),
		.has_body = true,
		.body = AIM_BYTES_STR(body),
		.signer = &sg,
	};
	/* signed once here, for this attempt (client.c signs each hop: a
	 * redirect within the origin is signed again for its own URL) */
	return http_client_multi_add(m, &o, &req, done, ctx);
}
