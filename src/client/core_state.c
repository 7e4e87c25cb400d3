/*
 * The device's state: creating a device in an empty store, loading it, the
 * "device" entry (config, signature key pair, certificate and chain), and
 * the small helpers the other core files share (JSON in the store, base64
 * in JSON, acct: URIs, KeyPackages out of MLSMessages).
 */
#include "client/core_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEVICE_KEY "device"
#define DEVICE_JSON_MAX ((size_t)256 << 10)

int64_t client_core_now(struct client *c)
{
	return c->io.now ? c->io.now(c->io.clock_ctx) : aim_now();
}

/* ---- Bytes in JSON ---------------------------------------------------------- */

json_t *client_core_b64(struct aim_bytes b)
{
	struct aim_buf s;
	aim_buf_init(&s, CLIENT_MAX_VALUE);
	if (aim_b64_encode(&s, b.p, b.len) != 0 || aim_buf_append_byte(&s, 0) != 0) {
		aim_buf_free(&s);
		return NULL;
	}
	json_t *j = json_string((const char *)s.data);
	aim_buf_free_secret(&s);
	return j;
}

int client_core_unb64(const json_t *s, struct aim_buf *out)
{
	ENSURE(json_is_string(s), AIM_ERR_DECODE, "expected a base64 string");
	return aim_b64_decode(out, json_string_value(s), json_string_length(s));
}

/* ---- The store ------------------------------------------------------------------ */

int client_core_kv_get_json(struct client *c, const char *key, json_t **out)
{
	struct aim_buf v;
	aim_buf_init(&v, CLIENT_MAX_VALUE);
	if (c->io.kv_get(c->io.kv_ctx, key, &v) != 0) {
		aim_buf_free_secret(&v);
		return -1;
	}
	json_error_t e;
	*out = json_loadb((const char *)v.data, v.len, JSON_REJECT_DUPLICATES, &e);
	aim_buf_free_secret(&v);
	ENSURE(*out != NULL, AIM_ERR_STORAGE, "store entry %s is not JSON: %s", key, e.text);
	return 0;
}

int client_core_kv_put_json(struct client *c, const char *key, const json_t *v, bool secret)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	ENSURE(s != NULL, AIM_ERR_NOMEM, "cannot encode %s", key);
	size_t n = strlen(s);
	int rc = c->io.kv_put(c->io.kv_ctx, key, AIM_BYTES(s, n));
	if (secret)
		aim_wipe(s, n);
	free(s);
	return rc;
}

static json_t *device_json(const struct client *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "server", json_string(c->server));
	json_object_set_new(o, "user", json_string(c->user));
	json_object_set_new(o, "token", json_string(c->token));
	json_object_set_new(o, "device", json_string(c->device));
	json_object_set_new(o, "suite", json_integer(c->suite));
	json_object_set_new(o, "acct", json_string(c->acct));
	json_object_set_new(o, "signatureKey", client_core_b64(aim_buf_bytes(&c->sig_pk)));
	json_object_set_new(o, "signaturePrivateKey", client_core_b64(aim_buf_bytes(&c->sig_sk)));
	if (c->cert.len) {
		json_object_set_new(o, "certificate", client_core_b64(aim_buf_bytes(&c->cert)));
		json_object_set_new(o, "ca", client_core_b64(aim_buf_bytes(&c->ca)));
		json_object_set_new(o, "notAfter", json_integer(c->not_after));
	}
	return o;
}

int client_core_save_device(struct client *c)
{
	json_t *o = device_json(c);
	ENSURE(o != NULL, AIM_ERR_NOMEM, "device state");
	int rc = client_core_kv_put_json(c, DEVICE_KEY, o, true);
	/* the private key's base64 lives in o: jansson frees without wiping,
	 * so overwrite the string first */
	json_t *sk = json_object_get(o, "signaturePrivateKey");
	if (json_is_string(sk))
		aim_wipe((void *)json_string_value(sk), json_string_length(sk));
	json_decref(o);
	return rc;
}

static bool device_id_ok(const char *d)
{
	size_t n = strlen(d);
	if (n < 1 || n > CLIENT_DEVICE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)d[i]) && d[i] != '-' && d[i] != '_')
			return false;
	return true;
}

static struct client *client_alloc(const struct client_io *io)
{
	struct client *c = aim_xcalloc(1, sizeof *c);
	c->io = *io;
	aim_buf_init(&c->sig_sk, AIM_MAX_SIG_SK + 16);
	aim_buf_init(&c->sig_pk, AIM_MAX_SIG_PK + 16);
	aim_buf_init(&c->cert, AIM_X509_MAX);
	aim_buf_init(&c->ca, AIM_X509_MAX);
	c->ca_ttl = CLIENT_CA_TTL_DEFAULT;
	return c;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	aim_buf_free_secret(&c->sig_sk);
	aim_buf_free(&c->sig_pk);
	aim_buf_free(&c->cert);
	aim_buf_free(&c->ca);
	free(c->server);
	if (c->token)
		aim_free_secret(c->token, strlen(c->token));
	free(c->user);
	free(c);
}

static bool io_complete(const struct client_io *io)
{
	return io && io->http && io->kv_get && io->kv_put && io->kv_del && io->kv_list &&
	       io->kv_begin && io->kv_commit && io->kv_rollback;
}

int client_create(const struct client_io *io, const struct client_config *cfg,
		  struct client **out)
{
	*out = NULL;
	ENSURE(io_complete(io), AIM_ERR_INVALID, "incomplete client_io");
	ENSURE(cfg && cfg->server && cfg->user && cfg->token && cfg->device, AIM_ERR_INVALID,
	       "server, user, token and device are required");
	ENSURE(aim_str_has_prefix(cfg->server, "https://") ||
		       aim_str_has_prefix(cfg->server, "http://"),
	       AIM_ERR_INVALID, "server must be an http(s) URL");
	ENSURE(device_id_ok(cfg->device), AIM_ERR_INVALID,
	       "device id: 1-64 of [A-Za-z0-9_-]");
	ENSURE(cfg->user[0] && !strpbrk(cfg->user, "/?#@ "), AIM_ERR_INVALID, "bad user name");
	uint16_t suite = cfg->suite ? cfg->suite : CLIENT_DEFAULT_SUITE;
	const struct aim_suite *cs = aim_suite_get(suite);
	ENSURE(cs && mls_supports_suite(suite), AIM_ERR_UNSUPPORTED, "cipher suite %u", suite);

	struct aim_buf probe;
	aim_buf_init(&probe, CLIENT_MAX_VALUE);
	int have = io->kv_get(io->kv_ctx, DEVICE_KEY, &probe);
	aim_buf_free_secret(&probe);
	if (have == 0)
		return aim_fail(AIM_ERR_EXISTS, "this store already holds a device");
	if (aim_errcode() != AIM_ERR_NOTFOUND)
		return -1;

	struct client *c = client_alloc(io);
	size_t sl = strlen(cfg->server);
	while (sl > 0 && cfg->server[sl - 1] == '/')
		sl--;
	c->server = aim_xstrndup(cfg->server, sl);
	c->user = aim_xstrdup(cfg->user);
	c->token = aim_xstrdup(cfg->token);
	snprintf(c->device, sizeof c->device, "%s", cfg->device);
	c->suite = suite;
	c->cs = cs;
	if (aim_sig_keygen(cs->sig, &c->sig_sk, &c->sig_pk) != 0 ||
	    client_core_save_device(c) != 0) {
		client_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

static int get_str(json_t *o, const char *k, char **out)
{
	const char *s = json_string_value(json_object_get(o, k));
	ENSURE(s != NULL, AIM_ERR_STORAGE, "device entry without %s", k);
	*out = aim_xstrdup(s);
	return 0;
}

static int load_device(struct client *c, json_t *o)
{
	char *dev = NULL, *acct = NULL;
	TRY(get_str(o, "server", &c->server));
	TRY(get_str(o, "user", &c->user));
	TRY(get_str(o, "token", &c->token));
	TRY(get_str(o, "device", &dev));
	snprintf(c->device, sizeof c->device, "%s", dev);
	free(dev);
	TRY(get_str(o, "acct", &acct));
	snprintf(c->acct, sizeof c->acct, "%s", acct);
	free(acct);
	c->suite = (uint16_t)json_integer_value(json_object_get(o, "suite"));
	c->cs = aim_suite_get(c->suite);
	ENSURE(c->cs != NULL, AIM_ERR_STORAGE, "device entry with unknown suite");
	TRY(client_core_unb64(json_object_get(o, "signatureKey"), &c->sig_pk));
	TRY(client_core_unb64(json_object_get(o, "signaturePrivateKey"), &c->sig_sk));
	ENSURE(c->sig_pk.len == aim_sig_pk_len(c->cs->sig) &&
		       c->sig_sk.len == aim_sig_sk_len(c->cs->sig),
	       AIM_ERR_STORAGE, "device entry with a key of the wrong length");
	json_t *cert = json_object_get(o, "certificate");
	if (cert) {
		TRY(client_core_unb64(cert, &c->cert));
		TRY(client_core_unb64(json_object_get(o, "ca"), &c->ca));
		c->not_after = json_integer_value(json_object_get(o, "notAfter"));
	}
	return 0;
}

int client_open(const struct client_io *io, struct client **out)
{
	*out = NULL;
	ENSURE(io_complete(io), AIM_ERR_INVALID, "incomplete client_io");
	struct client *c = client_alloc(io);
	json_t *o = NULL;
	if (client_core_kv_get_json(c, DEVICE_KEY, &o) != 0) {
		client_free(c);
		return -1;
	}
	int rc = load_device(c, o);
	json_t *sk = json_object_get(o, "signaturePrivateKey");
	if (json_is_string(sk))
		aim_wipe((void *)json_string_value(sk), json_string_length(sk));
	json_decref(o);
	if (rc != 0) {
		client_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

/* ---- Views ----------------------------------------------------------------------- */

const char *client_device_id(const struct client *c) { return c->device; }
const char *client_user(const struct client *c) { return c->user; }
const char *client_server(const struct client *c) { return c->server; }
const char *client_acct(const struct client *c) { return c->acct; }
uint16_t client_suite(const struct client *c) { return c->suite; }
struct aim_bytes client_signature_key(const struct client *c) { return aim_buf_bytes(&c->sig_pk); }
struct aim_bytes client_certificate(const struct client *c) { return aim_buf_bytes(&c->cert); }
int64_t client_cert_not_after(const struct client *c) { return c->not_after; }
const char *client_server_error(const struct client *c) { return c->server_error; }
long client_server_status(const struct client *c) { return c->server_status; }

void client_set_ca_ttl(struct client *c, int64_t seconds)
{
	c->ca_ttl = seconds < 0 ? 0 : seconds;
}

int client_dump(struct client *c, client_kv_fn fn, void *arg)
{
	return c->io.kv_list(c->io.kv_ctx, "", fn, arg);
}

/* ---- acct: URIs ----------------------------------------------------------------------- */

int client_core_acct_split(const char *acct, char *user, size_t ulen, char *authority,
			   size_t alen, char *host, size_t hlen)
{
	ENSURE(acct && strncasecmp(acct, "acct:", 5) == 0, AIM_ERR_DECODE,
	       "not an acct: URI");
	const char *u = acct + 5;
	const char *at = strchr(u, '@');
	ENSURE(at && at > u && !strchr(at + 1, '@') && at[1], AIM_ERR_DECODE,
	       "acct: URI without user@domain");
	size_t un = (size_t)(at - u), an = strlen(at + 1);
	ENSURE(un < ulen && an < alen && an < hlen, AIM_ERR_LIMIT, "acct: URI too long");
	for (size_t i = 0; i < un; i++)
		ENSURE(u[i] > 0x20 && u[i] < 0x7f && !strchr("/?#:", u[i]), AIM_ERR_DECODE,
		       "bad character in the acct: user part");
	memcpy(user, u, un);
	user[un] = 0;
	for (size_t i = 0; i < an; i++) {
		char ch = (char)tolower((unsigned char)at[1 + i]);
		ENSURE(isalnum((unsigned char)ch) || strchr(".-_:[]", ch), AIM_ERR_DECODE,
		       "bad character in the acct: domain");
		authority[i] = ch;
	}
	authority[an] = 0;
	/* host = authority without :port (IPv6 literals keep their brackets) */
	const char *colon = authority[0] == '[' ? strchr(authority, ']') : authority;
	colon = colon ? strrchr(colon, ':') : NULL;
	size_t hn = colon ? (size_t)(colon - authority) : an;
	memcpy(host, authority, hn);
	host[hn] = 0;
	ENSURE(hn > 0, AIM_ERR_DECODE, "acct: URI without a domain");
	return 0;
}

bool client_core_acct_equal(const char *a, const char *b)
{
	char ua[CLIENT_ACCT_MAX], aa[CLIENT_ACCT_MAX], ha[CLIENT_ACCT_MAX];
	char ub[CLIENT_ACCT_MAX], ab[CLIENT_ACCT_MAX], hb[CLIENT_ACCT_MAX];
	if (client_core_acct_split(a, ua, sizeof ua, aa, sizeof aa, ha, sizeof ha) != 0 ||
	    client_core_acct_split(b, ub, sizeof ub, ab, sizeof ab, hb, sizeof hb) != 0) {
		aim_errclear();
		return false;
	}
	return strcmp(ua, ub) == 0 && strcmp(aa, ab) == 0;
}

/* ---- KeyPackages ------------------------------------------------------------------------- */

int client_core_parse_kp(struct aim_bytes msg, struct mls_key_package *kp)
{
	struct mls_message m;
	memset(&m, 0, sizeof m);
	memset(kp, 0, sizeof *kp);
	if (mls_message_parse(msg.p, msg.len, &m) == 0) {
		if (m.wire_format != MLS_WIRE_KEY_PACKAGE) {
			mls_message_free(&m);
			return aim_fail(AIM_ERR_DECODE, "MLSMessage is not a KeyPackage");
		}
		*kp = m.key_package;
		memset(&m.key_package, 0, sizeof m.key_package);
		mls_message_free(&m);
		return 0;
	}
	/* a bare KeyPackage (some peers publish it without the MLSMessage) */
	return mls_key_package_parse(msg.p, msg.len, kp);
}

void client_set_progress(struct client *c, client_progress_fn fn, void *arg)
{
	c->progress = fn;
	c->progress_arg = arg;
}

void client_core_progress(struct client *c, const char *stage, size_t done, size_t total)
{
	if (c->progress)
		c->progress(c->progress_arg, stage, done, total);
}
