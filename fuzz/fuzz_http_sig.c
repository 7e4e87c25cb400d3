/* libFuzzer target: the HTTP-signature parsers and verifier (src/http/sig.h).
 *
 * The input is split on NUL bytes into: a cavage Signature value, an RFC 9421
 * Signature-Input value, a Signature value, a URL, a Host value, and a body.
 * Each parser runs on its piece; then http_sig_verify runs over a request carrying
 * those header fields, with a key lookup that always returns one fixed
 * Ed25519 key. Nothing may crash, leak or read out of bounds, and a random
 * input must never verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/url.h"
#include "crypto/crypto.h"
#include "http/sig.h"

static struct aim_pkey *key;

static int lookup(void *ctx, const char *key_id, struct sig_key *out)
{
	(void)ctx;
	(void)key_id;
	out->pkey = key;
	out->owner = "https://a.test/users/alice";
	out->handle = NULL;
	return 0;
}

static char *piece(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *s = *p;
	const uint8_t *z = memchr(s, 0, (size_t)(end - s));
	size_t n = z ? (size_t)(z - s) : (size_t)(end - s);
	*p = z ? z + 1 : end;
	char *c = malloc(n + 1);
	memcpy(c, s, n);
	c[n] = 0;
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!key && aim_pkey_generate(AIM_KEY_ED25519, &key) != 0)
		abort();
	const uint8_t *p = data, *end = data + size;
	char *cav = piece(&p, end), *input = piece(&p, end), *sig = piece(&p, end);
	char *url = piece(&p, end), *host = piece(&p, end);
	struct aim_bytes body = AIM_BYTES(p, (size_t)(end - p));

	struct sig_cavage_params cp;
	if (http_sig_cavage_parse(cav, &cp) == 0)
		http_sig_cavage_params_free(&cp);
	struct sfv_dict d;
	(void)http_sfv_parse_dict(input, strlen(input), &d);
	struct aim_url u;
	(void)aim_url_parse(url, &u);
	aim_url_free(&u);
	struct aim_buf hb;
	aim_buf_init(&hb, 4096);
	uint16_t port;
	(void)aim_host_parse(host, &hb, &port);
	aim_buf_free(&hb);

	char date[30];
	aim_time_http(1700000000, date);
	struct sig_field fields[] = {
		{ "host", host[0] ? host : "a.test" }, { "date", date },
		{ "signature", sig[0] ? sig : cav },   { "signature-input", input },
		{ "digest", "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
		{ "content-digest", cav },
	};
	struct sig_request req = {
		.method = "POST",
		.target = "/users/alice/inbox",
		.authority = "a.test",
		.scheme = "https",
		.fields = fields,
		.n_fields = input[0] ? AIM_ARRAY_LEN(fields) : 3,
		.has_body = true,
		.body = body,
	};
	struct sig_verified v;
	memset(&v, 0, sizeof v);
	if (http_sig_verify(&req, 1700000000, NULL, lookup, NULL, NULL, &v) == 0) {
		/* A random input carrying a valid Ed25519 signature of a fresh key
		 * would be a forgery. */
		fprintf(stderr, "fuzz input verified\n");
		abort();
	}
	http_sig_verified_free(&v);
	free(cav);
	free(input);
	free(sig);
	free(url);
	free(host);
	return 0;
}
