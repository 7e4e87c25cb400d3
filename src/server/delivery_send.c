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

struct post_result {
	bool done;
	int rc;
	enum aim_err err;
	char msg[256];
	long status;
	char *retry_after;
};

static void post_done(void *ctx, int rc, enum aim_err err, const char *msg,
		      struct client_response *resp)
{
	struct post_result *r = ctx;
	r->done = true;
	r->rc = rc;
	r->err = err;
	snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
	if (rc == 0) {
		r->status = resp->status;
		const char *ra = http_sig_fields_get(resp->headers.v, resp->headers.n, "Retry-After");
		r->retry_after = ra ? aim_xstrdup(ra) : NULL;
		http_client_response_free(resp);
	}
}

int aimd_dlv_post(struct app *a, const struct delivery_config *c, const struct dlv_signer *s,
	     int scheme, const char *inbox, const char *body, atomic_bool *stop,
	     struct dlv_answer *ans)
{
	memset(ans, 0, sizeof *ans);
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
	struct post_result r = { 0 };
	struct client_multi *m = http_client_multi_new();
	if (http_client_multi_add(m, &o, &req, post_done, &r) != 0) {
		http_client_multi_free(m);
		return -1;
	}
	while (!r.done && !atomic_load(stop))
		http_client_multi_run(m, 100);
	http_client_multi_free(m);
	if (!r.done)
		return aim_fail(AIM_ERR_STATE, "stopping");
	if (r.rc != 0) {
		free(r.retry_after);
		return aim_fail(r.err, "%s", r.msg);
	}
	ans->status = r.status;
	ans->retry_after = r.retry_after;
	return 0;
}
