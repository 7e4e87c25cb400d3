/* The instance signer (signer.h). */
#include "server/signer.h"

#include <stdlib.h>

#include "crypto/crypto.h"

struct aimd_signer {
	char *key_id;
	struct aim_pkey *key;
	struct client_opts client;
};

int aimd_signer_new(const char *key_id, const char *private_pem, size_t pem_len,
		    const struct client_opts *client, struct aimd_signer **out)
{
	*out = NULL;
	ENSURE(key_id && private_pem && client, AIM_ERR_INVALID, "signer: incomplete");
	struct aim_pkey *key = NULL;
	TRY(aim_pkey_from_private_pem(private_pem, pem_len, &key));
	if (aim_pkey_type(key) != AIM_KEY_RSA) {
		aim_pkey_free(key);
		return aim_fail(AIM_ERR_UNSUPPORTED, "signer: the instance key is not RSA");
	}
	struct aimd_signer *s = aim_xcalloc(1, sizeof *s);
	s->key_id = aim_xstrdup(key_id);
	s->key = key;
	s->client = *client;
	*out = s;
	return 0;
}

void aimd_signer_free(struct aimd_signer *s)
{
	if (!s)
		return;
	free(s->key_id);
	aim_pkey_free(s->key);
	free(s);
}

const char *aimd_signer_key_id(const struct aimd_signer *s)
{
	return s->key_id;
}

const struct client_opts *aimd_signer_client(const struct aimd_signer *s)
{
	return &s->client;
}

int aimd_signer_fetch(const struct aimd_signer *s, const struct client_request *req,
		      struct client_response *out)
{
	/* Mastodon verifies cavage rsa-sha256; so does the rest of the
	 * fediverse (DESIGN.md section 1). */
	struct sig_signer sg = { SIG_CAVAGE, s->key_id, s->key };
	struct client_request r = *req;
	r.signer = &sg;
	return http_client_fetch(&s->client, &r, out);
}
