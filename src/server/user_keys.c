/*
 * The keys of a new actor row: every actor aimd serves (a user, the instance
 * actor, a channel or a group DM's hub) signs with an RSA-2048 key
 * (cavage, for Mastodon-style peers) and an Ed25519 key (RFC 9421, FEP-521a).
 * A leaf: it calls only the crypto layer and the store.
 */
#include "server/internal.h"

#include "crypto/crypto.h"

/* Fresh RSA-2048 and Ed25519 keys for an actor's user row (a user, the
 * instance actor, a channel); the private keys are wiped after the insert. */
int aimd_user_add_with_keys(struct store *st, const char *name, int64_t *id)
{
	int rc = 0;
	struct aim_pkey *rsa = NULL, *ed = NULL;
	struct aim_buf rpub, rpriv, epriv, eraw;
	aim_buf_init(&rpub, 16384);
	aim_buf_init(&rpriv, 16384);
	aim_buf_init(&epriv, 16384);
	aim_buf_init(&eraw, 64);
	TRY_GOTO(aim_pkey_generate(AIM_KEY_RSA, &rsa), out);
	TRY_GOTO(aim_pkey_generate(AIM_KEY_ED25519, &ed), out);
	TRY_GOTO(aim_pkey_public_pem(rsa, &rpub), out);
	TRY_GOTO(aim_pkey_private_pem(rsa, &rpriv), out);
	TRY_GOTO(aim_pkey_private_pem(ed, &epriv), out);
	TRY_GOTO(aim_pkey_raw_public(ed, &eraw), out);
	ENSURE_GOTO(eraw.len == 32, out, AIM_ERR_INTERNAL, "Ed25519 public key is not 32 bytes");
	struct store_new_user u = {
		.name = name,
		.rsa_public_pem = (const char *)rpub.data,
		.rsa_private_pem = (const char *)rpriv.data,
		.ed25519_public = eraw.data,
		.ed25519_private_pem = (const char *)epriv.data,
	};
	TRY_GOTO(store_user_add(st, &u, id), out);
out:
	aim_pkey_free(rsa);
	aim_pkey_free(ed);
	aim_buf_free(&rpub);
	aim_buf_free_secret(&rpriv);
	aim_buf_free_secret(&epriv);
	aim_buf_free(&eraw);
	return rc;
}
