/*
 * Registration: the device proves possession of its MLS signature key with
 * a PKCS#10 CSR (RFC 2986) signed by that key, and receives from its home
 * server's CA an X.509 leaf whose one SAN URI is acct:user@domain.
 *
 * What comes back is checked before it is kept: a server that answers with
 * a certificate for another key, another user, or one that does not chain
 * to the CA it sent, is a broken server, and a KeyPackage with such a
 * credential would be refused by every peer.
 */
#include "client/core_int.h"

#include <stdlib.h>
#include <string.h>

/* Checks an issued leaf against the chain it came with and our key, and
 * keeps it (not yet saved). */
static int accept_leaf(struct client *c, json_t *resp, struct aim_bytes pk)
{
	struct aim_buf cert, ca;
	aim_buf_init(&cert, AIM_X509_MAX);
	aim_buf_init(&ca, AIM_X509_MAX);
	int rc = -1;
	json_t *chain = json_object_get(resp, "chain");
	ENSURE_GOTO(json_is_array(chain) && json_array_size(chain) >= 1, out, AIM_ERR_REMOTE,
		    "registration answer without a chain");
	ENSURE_GOTO(client_core_unb64(json_object_get(resp, "certificate"), &cert) == 0, out,
		    AIM_ERR_REMOTE, "registration answer: certificate: %s", aim_errmsg());
	ENSURE_GOTO(client_core_unb64(json_array_get(chain, 0), &ca) == 0, out, AIM_ERR_REMOTE,
		    "registration answer: chain: %s", aim_errmsg());
	struct aim_bytes anchor = aim_buf_bytes(&ca);
	struct aim_x509_leaf leaf;
	ENSURE_GOTO(aim_x509_verify(aim_buf_bytes(&cert), &anchor, 1, client_core_now(c),
				    &leaf) == 0,
		    out, AIM_ERR_REMOTE, "the issued certificate does not verify: %s",
		    aim_errmsg());
	ENSURE_GOTO(aim_ct_equal(leaf.pk, leaf.pk_len, pk.p, pk.len) && leaf.alg == c->cs->sig,
		    out, AIM_ERR_REMOTE, "the issued certificate is for another key");
	char user[CLIENT_ACCT_MAX], auth[CLIENT_ACCT_MAX], host[CLIENT_ACCT_MAX];
	ENSURE_GOTO(client_core_acct_split(leaf.san_uri, user, sizeof user, auth, sizeof auth,
					   host, sizeof host) == 0 &&
			    strcmp(user, c->user) == 0,
		    out, AIM_ERR_REMOTE, "the issued certificate speaks for %s, not for %s",
		    leaf.san_uri, c->user);
	aim_buf_reset(&c->cert);
	aim_buf_reset(&c->ca);
	TRY_GOTO(aim_buf_append(&c->cert, cert.data, cert.len), out);
	TRY_GOTO(aim_buf_append(&c->ca, ca.data, ca.len), out);
	c->not_after = leaf.not_after;
	snprintf(c->acct, sizeof c->acct, "%s", leaf.san_uri);
	rc = 0;
out:
	aim_buf_free(&cert);
	aim_buf_free(&ca);
	return rc;
}

static int csr_body(struct client *c, struct aim_bytes sk, struct aim_bytes pk, bool with_id,
		    json_t **out)
{
	struct aim_buf csr;
	aim_buf_init(&csr, AIM_X509_MAX);
	if (aim_x509_csr_create(c->cs->sig, sk, pk, c->device, &csr) != 0) {
		aim_buf_free(&csr);
		return -1;
	}
	json_t *o = json_object();
	if (with_id)
		json_object_set_new(o, "device", json_string(c->device));
	json_object_set_new(o, "csr", client_core_b64(aim_buf_bytes(&csr)));
	aim_buf_free(&csr);
	*out = o;
	return 0;
}

int client_register(struct client *c)
{
	json_t *body = NULL, *resp = NULL;
	TRY(csr_body(c, aim_buf_bytes(&c->sig_sk), aim_buf_bytes(&c->sig_pk), true, &body));
	char *path = aim_xasprintf("/users/%s/devices", c->user);
	int rc = client_core_call(c, "POST", path, body, &resp);
	free(path);
	json_decref(body);
	if (rc == 0)
		rc = accept_leaf(c, resp, aim_buf_bytes(&c->sig_pk));
	if (rc == 0)
		rc = client_core_save_device(c);
	json_decref(resp);
	return rc;
}

int client_renew(struct client *c, bool new_key)
{
	ENSURE(c->cert.len > 0, AIM_ERR_STATE, "not registered yet");
	struct aim_buf sk, pk;
	aim_buf_init(&sk, AIM_MAX_SIG_SK + 16);
	aim_buf_init(&pk, AIM_MAX_SIG_PK + 16);
	json_t *body = NULL, *resp = NULL;
	int rc = -1;
	if (new_key) {
		TRY_GOTO(aim_sig_keygen(c->cs->sig, &sk, &pk), out);
	} else {
		TRY_GOTO(aim_buf_append(&sk, c->sig_sk.data, c->sig_sk.len), out);
		TRY_GOTO(aim_buf_append(&pk, c->sig_pk.data, c->sig_pk.len), out);
	}
	TRY_GOTO(csr_body(c, aim_buf_bytes(&sk), aim_buf_bytes(&pk), false, &body), out);
	char *path = aim_xasprintf("/users/%s/devices/%s/renew", c->user, c->device);
	rc = client_core_call(c, "POST", path, body, &resp);
	free(path);
	TRY_GOTO(rc, out);
	TRY_GOTO(accept_leaf(c, resp, aim_buf_bytes(&pk)), out);
	aim_buf_reset(&c->sig_sk);
	aim_buf_reset(&c->sig_pk);
	TRY_GOTO(aim_buf_append(&c->sig_sk, sk.data, sk.len), out);
	TRY_GOTO(aim_buf_append(&c->sig_pk, pk.data, pk.len), out);
	rc = client_core_save_device(c);
out:
	json_decref(body);
	json_decref(resp);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	return rc;
}
