/*
 * client_driver: the client library (src/client) scripted over JSON lines,
 * for the identity tests (test_client_device.py,
 * test_identity_federation.py). One device per driver process, its state
 * in HOME/client.db (the SQLite shell), HTTP through libcurl.
 *
 * One request object per stdin line -> one answer object per stdout line.
 * Requests {"cmd": NAME, ...}; answers {"ok": true, ...} or {"ok": false,
 * "error": text, "code": aim_errname, "server_error": code, "status": n}.
 * Bytes are standard base64.
 *
 *   init     home, server, user, token, device, suite?, ca_file?,
 *            connect_to[]? -> a new device (the store must be empty)
 *   open     home, ca_file?, connect_to[]? -> the device of that home
 *   info     -> device, user, server, acct, suite, signature_key,
 *            certificate, notAfter
 *   register / renew(new_key) -> acct, notAfter, certificate
 *   publish  n, last_resort -> accepted
 *   stock    -> available, lastResort, stored
 *   topup    threshold, target -> published
 *   claim    handles[] -> results[{handle, actor, error, keyPackages[{device,
 *            suite, lastResort, valid, check, acct, reason, error, content}]}]
 *   verify   acct?, and key_package (base64 MLSMessage: its leaf's
 *            credential and signature key) or x509[] + signature_key, or
 *            basic + signature_key -> accepted, check, acct, reason, code
 *   forge    ca_key_file (PKCS#8 PEM of some CA key), ca_cert (base64 DER),
 *            san, days? -> key_package: a KeyPackage of a fresh key whose
 *            x509 credential [leaf, ca_cert] that CA issued for san (for
 *            the refusal tests: a CA key of another domain)
 *   basic_key_package identity, last_resort -> key_package, signature_key
 *            (a KeyPackage with a basic credential, signed by this device's
 *            key)
 *   ca_ttl   seconds
 *   dump     -> entries {key: value as text}
 *   channel_create, channel_add, channel_remove, send, dm_send, sync,
 *            messages, group, conversations: tests/channels/driver_channels.c
 *   quit
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/base.h"
#include "client/client.h"
#include "crypto/crypto.h"
#include "mls/mls.h"

#define MAX_LINE ((size_t)16 << 20)

/* The commands of tests/channels/driver_channels.c (linked in). */
int driver_channels_run(struct client *c, const char *cmd, json_t *req, json_t *res,
			bool *handled);

static struct client_io io;
static bool io_open;
static struct client *cl;

static json_t *fail_json(void)
{
	json_t *o = json_object();
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", json_string(aim_errmsg()));
	json_object_set_new(o, "code", json_string(aim_errname(aim_errcode())));
	if (cl) {
		json_object_set_new(o, "server_error", json_string(client_server_error(cl)));
		json_object_set_new(o, "status", json_integer(client_server_status(cl)));
	}
	return o;
}

static json_t *b64(struct aim_bytes b)
{
	struct aim_buf s;
	aim_buf_init(&s, (size_t)16 << 20);
	if (aim_b64_encode(&s, b.p, b.len) != 0)
		return json_null();
	json_t *j = json_string(s.len ? (const char *)s.data : "");
	aim_buf_free(&s);
	return j;
}

static int unb64(json_t *req, const char *k, struct aim_buf *out)
{
	const char *s = json_string_value(json_object_get(req, k));
	ENSURE(s, AIM_ERR_INVALID, "%s: base64 string required", k);
	return aim_b64_decode(out, s, strlen(s));
}

static int open_shell(json_t *req)
{
	const char *home = json_string_value(json_object_get(req, "home"));
	ENSURE(home, AIM_ERR_INVALID, "home required");
	ENSURE(!io_open, AIM_ERR_STATE, "already open");
	if (mkdir(home, 0700) != 0 && errno != EEXIST)
		return aim_fail(AIM_ERR_STORAGE, "mkdir %s: %s", home, strerror(errno));
	char *path = aim_xasprintf("%s/client.db", home);
	memset(&io, 0, sizeof io);
	int rc = client_sqlite_open(path, &io);
	free(path);
	TRY(rc);
	const char *cts[32];
	json_t *ct = json_object_get(req, "connect_to");
	size_t n = 0, i;
	json_t *v;
	json_array_foreach(ct, i, v) {
		if (n < 32 && json_is_string(v))
			cts[n++] = json_string_value(v);
	}
	struct client_curl_opts o = {
		.ca_file = json_string_value(json_object_get(req, "ca_file")),
		.connect_to = cts,
		.n_connect_to = n,
	};
	if (client_curl_open(&o, &io) != 0) {
		client_sqlite_close(&io);
		return -1;
	}
	io_open = true;
	return 0;
}

static int cmd_init(json_t *req, json_t *res)
{
	TRY(open_shell(req));
	struct client_config cfg = {
		.server = json_string_value(json_object_get(req, "server")),
		.user = json_string_value(json_object_get(req, "user")),
		.token = json_string_value(json_object_get(req, "token")),
		.device = json_string_value(json_object_get(req, "device")),
		.suite = (uint16_t)json_integer_value(json_object_get(req, "suite")),
	};
	return client_create(&io, &cfg, &cl);
}

static int cmd_open(json_t *req, json_t *res)
{
	TRY(open_shell(req));
	return client_open(&io, &cl);
}

static void put_info(json_t *res)
{
	json_object_set_new(res, "device", json_string(client_device_id(cl)));
	json_object_set_new(res, "user", json_string(client_user(cl)));
	json_object_set_new(res, "server", json_string(client_server(cl)));
	json_object_set_new(res, "acct", json_string(client_acct(cl)));
	json_object_set_new(res, "suite", json_integer(client_suite(cl)));
	json_object_set_new(res, "signature_key", b64(client_signature_key(cl)));
	json_object_set_new(res, "certificate", b64(client_certificate(cl)));
	json_object_set_new(res, "notAfter", json_integer(client_cert_not_after(cl)));
}

static void put_verdict(json_t *o, const struct client_verdict *v)
{
	json_object_set_new(o, "check", json_string(client_check_name(v->check)));
	json_object_set_new(o, "acct", json_string(v->acct));
	json_object_set_new(o, "reason", json_string(v->reason));
}

static int cmd_claim(json_t *req, json_t *res)
{
	json_t *hs = json_object_get(req, "handles");
	ENSURE(json_is_array(hs) && json_array_size(hs) > 0 && json_array_size(hs) <= 64,
	       AIM_ERR_INVALID, "handles: 1..64 strings");
	const char *handles[64];
	size_t n = 0, i;
	json_t *v;
	json_array_foreach(hs, i, v) handles[n++] = json_string_value(v) ? json_string_value(v) : "";
	struct client_claim_result *r = NULL;
	size_t nr = 0;
	TRY(client_claim(cl, handles, n, &r, &nr));
	json_t *arr = json_array();
	for (i = 0; i < nr; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "handle", json_string(r[i].handle));
		json_object_set_new(o, "actor", json_string(r[i].actor));
		json_object_set_new(o, "error", json_string(r[i].error));
		json_object_set_new(o, "detail", json_string(r[i].detail));
		json_t *kps = json_array();
		for (size_t k = 0; k < r[i].n_kps; k++) {
			struct client_claimed *c = &r[i].kps[k];
			json_t *e = json_object();
			json_object_set_new(e, "device", json_string(c->device));
			json_object_set_new(e, "suite", json_integer(c->suite));
			json_object_set_new(e, "lastResort", json_boolean(c->last_resort));
			json_object_set_new(e, "valid", json_boolean(c->valid));
			json_object_set_new(e, "error", json_string(c->error));
			put_verdict(e, &c->verdict);
			json_object_set_new(e, "content", b64(aim_buf_bytes(&c->message)));
			json_array_append_new(kps, e);
		}
		json_object_set_new(o, "keyPackages", kps);
		json_array_append_new(arr, o);
	}
	json_object_set_new(res, "results", arr);
	client_claim_results_free(r, nr);
	return 0;
}

static int parse_kp_msg(struct aim_bytes b, struct mls_key_package *kp)
{
	struct mls_message m;
	memset(&m, 0, sizeof m);
	TRY(mls_message_parse(b.p, b.len, &m));
	if (m.wire_format != MLS_WIRE_KEY_PACKAGE) {
		mls_message_free(&m);
		return aim_fail(AIM_ERR_DECODE, "not a KeyPackage message");
	}
	*kp = m.key_package;
	memset(&m.key_package, 0, sizeof m.key_package);
	mls_message_free(&m);
	return 0;
}

static int cmd_verify(json_t *req, json_t *res)
{
	const char *acct = json_string_value(json_object_get(req, "acct"));
	struct mls_key_package kp;
	struct mls_credential cred;
	struct aim_buf raw, key;
	memset(&kp, 0, sizeof kp);
	memset(&cred, 0, sizeof cred);
	aim_buf_init(&raw, MLS_MAX_MESSAGE);
	aim_buf_init(&key, 1024);
	const struct mls_credential *use = NULL;
	struct aim_bytes sigkey = { 0 };
	int rc = -1;
	if (json_object_get(req, "key_package")) {
		TRY_GOTO(unb64(req, "key_package", &raw), out);
		TRY_GOTO(parse_kp_msg(aim_buf_bytes(&raw), &kp), out);
		use = &kp.leaf_node.credential;
		sigkey = mls_bytes_view(&kp.leaf_node.signature_key);
	} else {
		TRY_GOTO(unb64(req, "signature_key", &key), out);
		sigkey = aim_buf_bytes(&key);
		json_t *x = json_object_get(req, "x509");
		const char *basic = json_string_value(json_object_get(req, "basic"));
		if (json_is_array(x)) {
			cred.type = MLS_CREDENTIAL_X509;
			cred.n_certs = json_array_size(x);
			cred.certs = aim_xcalloc(cred.n_certs ? cred.n_certs : 1, sizeof *cred.certs);
			for (size_t i = 0; i < cred.n_certs; i++) {
				aim_buf_reset(&raw);
				const char *s = json_string_value(json_array_get(x, i));
				ENSURE_GOTO(s, out, AIM_ERR_INVALID, "x509: base64 strings");
				TRY_GOTO(aim_b64_decode(&raw, s, strlen(s)), out);
				TRY_GOTO(mls_bytes_set(&cred.certs[i], raw.data, raw.len), out);
			}
		} else if (basic) {
			cred.type = MLS_CREDENTIAL_BASIC;
			TRY_GOTO(mls_bytes_set(&cred.identity, basic, strlen(basic)), out);
		} else {
			rc = aim_fail(AIM_ERR_INVALID, "verify: key_package, x509 or basic");
			goto out;
		}
		use = &cred;
	}
	struct client_verdict v;
	int vr = client_verify_credential(cl, use, acct, sigkey, &v);
	json_object_set_new(res, "accepted", json_boolean(vr == 0));
	json_object_set_new(res, "code", json_string(vr == 0 ? "" : aim_errname(aim_errcode())));
	put_verdict(res, &v);
	/* the same through the MLS library's hook (what every group uses) */
	if (json_object_get(req, "key_package")) {
		struct client_hook h;
		client_hook_init(&h, cl, acct);
		int hr = mls_key_package_validate_standalone(&kp, &h.mls, (uint64_t)aim_now());
		json_object_set_new(res, "hook_accepted", json_boolean(hr == 0));
		json_object_set_new(res, "hook_check", json_string(client_check_name(h.last.check)));
	}
	aim_errclear();
	rc = 0;
out:
	mls_key_package_free(&kp);
	mls_credential_free(&cred);
	aim_buf_free(&raw);
	aim_buf_free(&key);
	return rc;
}

static int kp_out(json_t *res, const struct mls_key_package *kp)
{
	struct aim_buf m;
	aim_buf_init(&m, MLS_MAX_MESSAGE);
	static const uint8_t hdr[4] = { 0, MLS_VERSION_10, 0, MLS_WIRE_KEY_PACKAGE };
	int rc = aim_buf_append(&m, hdr, 4);
	if (rc == 0)
		rc = mls_key_package_encode(&m, kp);
	if (rc == 0)
		json_object_set_new(res, "key_package", b64(aim_buf_bytes(&m)));
	aim_buf_free(&m);
	return rc;
}

static int cmd_forge(json_t *req, json_t *res)
{
	const char *keyfile = json_string_value(json_object_get(req, "ca_key_file"));
	const char *san = json_string_value(json_object_get(req, "san"));
	ENSURE(keyfile && san, AIM_ERR_INVALID, "forge: ca_key_file, ca_cert, san");
	FILE *f = fopen(keyfile, "rb");
	ENSURE(f, AIM_ERR_STORAGE, "%s: %s", keyfile, strerror(errno));
	char pem[AIM_MAX_PEM];
	size_t pl = fread(pem, 1, sizeof pem - 1, f);
	fclose(f);
	pem[pl] = 0;
	struct aim_pkey *ca = NULL;
	struct aim_buf cacert, leaf, sk, pk;
	aim_buf_init(&cacert, AIM_X509_MAX);
	aim_buf_init(&leaf, AIM_X509_MAX);
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	int rc = -1;
	const struct aim_suite *cs = aim_suite_get(client_suite(cl));
	int64_t now = aim_now();
	int64_t days = json_integer_value(json_object_get(req, "days"));
	TRY_GOTO(aim_pkey_from_private_pem(pem, pl, &ca), out);
	TRY_GOTO(unb64(req, "ca_cert", &cacert), out);
	TRY_GOTO(aim_sig_keygen(cs->sig, &sk, &pk), out);
	TRY_GOTO(aim_x509_issue(ca, aim_buf_bytes(&cacert), cs->sig, aim_buf_bytes(&pk), san,
				now - 3600, now + (days ? days : 30) * 86400, &leaf),
		 out);
	cred.type = MLS_CREDENTIAL_X509;
	cred.certs = aim_xcalloc(2, sizeof *cred.certs);
	cred.n_certs = 2;
	TRY_GOTO(mls_bytes_set(&cred.certs[0], leaf.data, leaf.len), out);
	TRY_GOTO(mls_bytes_set(&cred.certs[1], cacert.data, cacert.len), out);
	struct mls_key_package_params p = {
		.cipher_suite = client_suite(cl),
		.credential = &cred,
		.signature_priv = aim_buf_bytes(&sk),
	};
	TRY_GOTO(mls_key_package_create(&p, &kp, &priv), out);
	TRY_GOTO(kp_out(res, &kp), out);
	json_object_set_new(res, "certificate", b64(aim_buf_bytes(&leaf)));
	rc = 0;
out:
	aim_wipe(pem, sizeof pem);
	aim_pkey_free(ca);
	aim_buf_free(&cacert);
	aim_buf_free(&leaf);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	mls_credential_free(&cred);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	return rc;
}

static int cmd_basic_kp(json_t *req, json_t *res)
{
	const char *id = json_string_value(json_object_get(req, "identity"));
	ENSURE(id, AIM_ERR_INVALID, "identity required");
	const struct aim_suite *cs = aim_suite_get(client_suite(cl));
	struct aim_buf sk, pk;
	aim_buf_init(&sk, 256);
	aim_buf_init(&pk, 256);
	struct mls_credential cred;
	memset(&cred, 0, sizeof cred);
	struct mls_key_package kp;
	struct mls_key_package_priv priv;
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	int rc = -1;
	TRY_GOTO(aim_sig_keygen(cs->sig, &sk, &pk), out);
	cred.type = MLS_CREDENTIAL_BASIC;
	TRY_GOTO(mls_bytes_set(&cred.identity, id, strlen(id)), out);
	struct mls_key_package_params p = {
		.cipher_suite = client_suite(cl),
		.credential = &cred,
		.signature_priv = aim_buf_bytes(&sk),
		.last_resort = json_is_true(json_object_get(req, "last_resort")),
	};
	TRY_GOTO(mls_key_package_create(&p, &kp, &priv), out);
	TRY_GOTO(kp_out(res, &kp), out);
	json_object_set_new(res, "signature_key", b64(aim_buf_bytes(&pk)));
	rc = 0;
out:
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	mls_credential_free(&cred);
	mls_key_package_free(&kp);
	mls_key_package_priv_free(&priv);
	return rc;
}

static int dump_one(void *arg, const char *key, struct aim_bytes value)
{
	json_t *o = arg;
	json_object_set_new(o, key, json_stringn((const char *)value.p, value.len));
	return 0;
}

static int run(const char *cmd, json_t *req, json_t *res)
{
	if (strcmp(cmd, "init") == 0)
		return cmd_init(req, res);
	if (strcmp(cmd, "open") == 0)
		return cmd_open(req, res);
	ENSURE(cl, AIM_ERR_STATE, "init or open first");
	if (strcmp(cmd, "info") == 0) {
		put_info(res);
		return 0;
	}
	if (strcmp(cmd, "register") == 0 || strcmp(cmd, "renew") == 0) {
		TRY(strcmp(cmd, "register") == 0
			    ? client_register(cl)
			    : client_renew(cl, json_is_true(json_object_get(req, "new_key"))));
		put_info(res);
		return 0;
	}
	if (strcmp(cmd, "publish") == 0) {
		size_t acc = 0;
		int64_t n = json_integer_value(json_object_get(req, "n"));
		ENSURE(n >= 0, AIM_ERR_INVALID, "n >= 0");
		TRY(client_publish(cl, (size_t)n, json_is_true(json_object_get(req, "last_resort")),
				   &acc));
		json_object_set_new(res, "accepted", json_integer((json_int_t)acc));
		return 0;
	}
	if (strcmp(cmd, "stock") == 0) {
		struct client_stock s;
		TRY(client_stock(cl, &s));
		json_object_set_new(res, "available", json_integer(s.available));
		json_object_set_new(res, "lastResort", json_boolean(s.last_resort));
		json_object_set_new(res, "stored", json_integer((json_int_t)s.stored));
		return 0;
	}
	if (strcmp(cmd, "topup") == 0) {
		size_t pub = 0;
		TRY(client_topup(cl, json_integer_value(json_object_get(req, "threshold")),
				 json_integer_value(json_object_get(req, "target")), &pub));
		json_object_set_new(res, "published", json_integer((json_int_t)pub));
		return 0;
	}
	if (strcmp(cmd, "claim") == 0)
		return cmd_claim(req, res);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(req, res);
	if (strcmp(cmd, "forge") == 0)
		return cmd_forge(req, res);
	if (strcmp(cmd, "basic_key_package") == 0)
		return cmd_basic_kp(req, res);
	if (strcmp(cmd, "ca_ttl") == 0) {
		client_set_ca_ttl(cl, json_integer_value(json_object_get(req, "seconds")));
		return 0;
	}
	if (strcmp(cmd, "dump") == 0) {
		json_t *e = json_object();
		json_object_set_new(res, "entries", e);
		return client_dump(cl, dump_one, e);
	}
	/* channels and DMs: tests/channels/driver_channels.c */
	bool handled = false;
	int rc = driver_channels_run(cl, cmd, req, res, &handled);
	if (handled)
		return rc;
	return aim_fail(AIM_ERR_INVALID, "unknown command %s", cmd);
}

int main(void)
{
	char *line = malloc(MAX_LINE);
	if (!line)
		return 1;
	while (fgets(line, (int)MAX_LINE, stdin)) {
		json_error_t e;
		json_t *req = json_loads(line, 0, &e), *res;
		const char *cmd = json_string_value(json_object_get(req, "cmd"));
		if (!cmd) {
			aim_fail(AIM_ERR_INVALID, "bad request: %s", req ? "no cmd" : e.text);
			res = fail_json();
		} else if (strcmp(cmd, "quit") == 0) {
			json_decref(req);
			break;
		} else {
			aim_errclear();
			res = json_object();
			if (run(cmd, req, res) == 0) {
				json_object_set_new(res, "ok", json_true());
			} else {
				json_decref(res);
				res = fail_json();
			}
		}
		char *out = json_dumps(res, JSON_COMPACT);
		printf("%s\n", out);
		fflush(stdout);
		free(out);
		json_decref(res);
		json_decref(req);
	}
	free(line);
	client_free(cl);
	if (io_open) {
		client_curl_close(&io);
		client_sqlite_close(&io);
	}
	return 0;
}
