/*
 * bench_identity: the identity work of one aimd (issue 10):
 *
 *   - CSR issuance: device registrations (POST /users/NAME/devices with a
 *     PKCS#10 CSR over a fresh Ed25519 MLS key) per second: the proof of
 *     possession is checked and a leaf is issued and stored for each;
 *   - claims: signed server-to-server KeyPackage claims (POST
 *     /users/NAME/keyPackages/claim, cavage rsa-sha256 by a claiming
 *     server's instance actor whose key aimd has cached) per second, each
 *     handing out and consuming one KeyPackage of the target's device in
 *     one store transaction.
 *
 * Before the timed phases (untimed): aimd init, a user, its CSRs and
 * KeyPackages (x509 credential with the leaf aimd issued), the upload of
 * the KeyPackages in batches of 100, and one warm-up claim (aimd fetches
 * the claimer's key). The claiming server is a small HTTP server in this
 * process serving its actor document. Load: libcurl multi, a fixed number
 * of requests in flight; the rate limits are lifted by flags.
 *
 * Prints requests, answers 2xx, per second, p50/p99, and nproc.
 * Environment: BENCH_ID_CLAIMS (default 1000, at most 1000: one device's
 * KeyPackages), BENCH_ID_CSRS (500), BENCH_ID_CONC (16 in flight).
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "http/server.h"
#include "http/sig.h"
#include "mls/mls.h"

static char actor_base[128];   /* http://127.0.0.1:PORT of the claiming server */
static char *rsa_pub_json;     /* its instance actor's public PEM, as a JSON string */

static void die(const char *what)
{
	fprintf(stderr, "bench_identity: %s: %s\n", what, aim_errmsg());
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	int64_t x;
	if (!v || aim_parse_int(v, min, max, &x) != 0)
		return def;
	return (long)x;
}

/* ---- The claiming server: its instance actor --------------------------------- */

static void actor_handler(void *app, const struct http_request *q, struct http_response *r)
{
	(void)app;
	if (strcmp(q->path, "/actor") != 0) {
		http_resp_error(r, 404, "not_found", "no such actor");
		return;
	}
	char *doc = aim_xasprintf(
		"{\"@context\":[\"https://www.w3.org/ns/activitystreams\","
		"\"https://w3id.org/security/v1\"],\"id\":\"%s/actor\",\"type\":\"Application\","
		"\"preferredUsername\":\"claimer\",\"inbox\":\"%s/actor/inbox\","
		"\"publicKey\":{\"id\":\"%s/actor#main-key\",\"owner\":\"%s/actor\","
		"\"publicKeyPem\":%s}}",
		actor_base, actor_base, actor_base, actor_base, rsa_pub_json);
	http_resp_set(r, 200, "application/activity+json", doc, strlen(doc));
	free(doc);
}

/* ---- Child processes ------------------------------------------------------------ */

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &l) != 0) {
		perror("bench_identity: free port");
		exit(1);
	}
	close(s);
	return ntohs(a.sin_port);
}

/* Runs argv, its stdout into out (NULL: /dev/null); returns its exit status. */
static int run_capture(char *const argv[], char *out, size_t n)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int dn = open("/dev/null", O_RDWR);
		dup2(p[1], 1);
		dup2(dn, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t k;
	while (out && got + 1 < n && (k = read(p[0], out + got, n - 1 - got)) > 0)
		got += (size_t)k;
	if (out)
		out[got] = 0;
	close(p[0]);
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int dn = open("/dev/null", O_RDWR);
		dup2(dn, 1);
		if (!getenv("BENCH_ID_VERBOSE"))
			dup2(dn, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop_child(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* ---- HTTP ------------------------------------------------------------------------ */

struct req {
	char *url;
	char *body;
	struct curl_slist *hdrs;
	struct aim_buf resp;
	double start;
	long status;
};

static void req_free(struct req *r)
{
	free(r->url);
	free(r->body);
	curl_slist_free_all(r->hdrs);
	aim_buf_free(&r->resp);
	memset(r, 0, sizeof *r);
}

static size_t collect(char *p, size_t sz, size_t n, void *u)
{
	struct aim_buf *b = u;
	if (aim_buf_append(b, p, sz * n) != 0)
		return 0;
	return sz * n;
}

static void req_json(struct req *r, const char *url, const char *token, char *body)
{
	memset(r, 0, sizeof *r);
	r->url = strdup(url);
	r->body = body;
	aim_buf_init(&r->resp, 8 << 20);
	r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	r->hdrs = curl_slist_append(r->hdrs, "Expect:");
	if (token) {
		char *h = aim_xasprintf("Authorization: Bearer %s", token);
		r->hdrs = curl_slist_append(r->hdrs, h);
		free(h);
	}
}

static void req_signed(struct req *r, const char *url, char *body, const struct aim_pkey *key)
{
	memset(r, 0, sizeof *r);
	r->url = strdup(url);
	r->body = body;
	aim_buf_init(&r->resp, 8 << 20);
	char kid[200];
	snprintf(kid, sizeof kid, "%s/actor#main-key", actor_base);
	struct sig_signer s = { SIG_CAVAGE, kid, key };
	struct sig_fields f;
	http_sig_fields_init(&f);
	if (http_sig_sign_request(&s, "POST", url, true, AIM_BYTES_STR(body), aim_now(), &f) != 0)
		die("sign");
	r->hdrs = curl_slist_append(NULL, "Content-Type: application/activity+json");
	r->hdrs = curl_slist_append(r->hdrs, "Expect:");
	for (size_t i = 0; i < f.n; i++) {
		char *h = aim_xasprintf("%s: %s", f.v[i].name, f.v[i].value);
		r->hdrs = curl_slist_append(r->hdrs, h);
		free(h);
	}
	http_sig_fields_free(&f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	long n, ok;
	double secs, rate, p50, p99;
};

static void run_load(struct req *reqs, long n, long conc, struct result *res)
{
	CURLM *m = curl_multi_init();
	double *lat = calloc((size_t)n + 1, sizeof *lat);
	long next = 0, done = 0, ok = 0, running = 0;
	double t0 = now_ms();
	while (done < n) {
		while (running < conc && next < n) {
			struct req *r = &reqs[next++];
			CURL *e = curl_easy_init();
			curl_easy_setopt(e, CURLOPT_URL, r->url);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
			curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
			curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->resp);
			curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
			curl_easy_setopt(e, CURLOPT_PRIVATE, r);
			r->start = now_ms();
			curl_multi_add_handle(m, e);
			running++;
		}
		int still;
		curl_multi_perform(m, &still);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURL *e = msg->easy_handle;
			struct req *r;
			curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
			if (msg->data.result == CURLE_OK && r->status >= 200 && r->status < 300)
				lat[ok++] = now_ms() - r->start;
			curl_multi_remove_handle(m, e);
			curl_easy_cleanup(e);
			running--;
			done++;
		}
		if (done < n)
			curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	res->n = n;
	res->ok = ok;
	res->secs = (now_ms() - t0) / 1000.0;
	res->rate = ok / res->secs;
	qsort(lat, (size_t)ok, sizeof *lat, cmp_double);
	res->p50 = ok ? lat[(ok - 1) / 2] : 0;
	res->p99 = ok ? lat[(long)((ok - 1) * 0.99)] : 0;
	free(lat);
	curl_multi_cleanup(m);
}

static void one(struct req *r)
{
	struct result res;
	run_load(r, 1, 1, &res);
}

/* ---- Devices and KeyPackages ------------------------------------------------------- */

static char *b64(const uint8_t *p, size_t n)
{
	struct aim_buf b;
	aim_buf_init(&b, 16 << 20);
	if (aim_b64_encode(&b, p, n) != 0)
		die("base64");
	return (char *)aim_buf_steal(&b, NULL);
}

/* A fresh Ed25519 MLS key and the base64 CSR over it. */
static char *make_csr(struct aim_buf *sk, struct aim_buf *pk)
{
	struct aim_buf csr;
	aim_buf_init(sk, 128);
	aim_buf_init(pk, 128);
	aim_buf_init(&csr, AIM_X509_MAX);
	if (aim_sig_keygen(AIM_SIG_ED25519, sk, pk) != 0 ||
	    aim_x509_csr_create(AIM_SIG_ED25519, aim_buf_bytes(sk), aim_buf_bytes(pk), "bench",
				&csr) != 0)
		die("CSR");
	char *s = b64(csr.data, csr.len);
	aim_buf_free(&csr);
	return s;
}

static int decode_b64_json(const json_t *v, struct mls_bytes *out)
{
	struct aim_buf b;
	aim_buf_init(&b, AIM_X509_MAX);
	int rc = json_is_string(v) ? aim_b64_decode(&b, json_string_value(v), json_string_length(v))
				   : -1;
	if (rc == 0)
		rc = mls_bytes_set(out, b.data, b.len);
	aim_buf_free(&b);
	return rc;
}

/* KeyPackages of suite 1 signed by sk, credential the registration answer. */
static char **make_kps(const char *answer, const struct aim_buf *sk, long n, char **lr)
{
	json_error_t je;
	json_t *j = json_loads(answer, 0, &je);
	const json_t *chain = json_object_get(j, "chain");
	if (!j || !json_is_array(chain))
		die("registration answer");
	struct mls_credential cred = { .type = MLS_CREDENTIAL_X509 };
	cred.n_certs = 1 + json_array_size(chain);
	cred.certs = aim_xcalloc(cred.n_certs, sizeof *cred.certs);
	if (decode_b64_json(json_object_get(j, "certificate"), &cred.certs[0]) != 0)
		die("certificate");
	for (size_t i = 0; i < json_array_size(chain); i++)
		if (decode_b64_json(json_array_get(chain, i), &cred.certs[i + 1]) != 0)
			die("chain");
	json_decref(j);
	char **v = aim_xcalloc((size_t)n, sizeof *v);
	for (long i = 0; i <= n; i++) {
		struct mls_key_package_params p = {
			.cipher_suite = 1,
			.credential = &cred,
			.signature_priv = aim_buf_bytes(sk),
			.last_resort = i == n,
		};
		struct mls_key_package kp = { 0 };
		struct mls_key_package_priv priv = { 0 };
		struct mls_message m = { .version = MLS_VERSION_10, .wire_format = MLS_WIRE_KEY_PACKAGE };
		struct aim_buf out;
		aim_buf_init(&out, MLS_MAX_MESSAGE);
		if (mls_key_package_create(&p, &kp, &priv) != 0)
			die("KeyPackage");
		m.key_package = kp;
		if (mls_message_encode(&out, &m) != 0)
			die("MLSMessage");
		if (i < n)
			v[i] = b64(out.data, out.len);
		else
			*lr = b64(out.data, out.len);
		aim_buf_free(&out);
		mls_message_free(&m);
		mls_key_package_priv_free(&priv);
	}
	mls_credential_free(&cred);
	return v;
}

static void print_result(const char *what, long conc, const struct result *r)
{
	printf("identity %-16s requests=%ld in_flight=%ld ok=%ld per_s=%.0f p50=%.2fms "
	       "p99=%.2fms\n",
	       what, r->n, conc, r->ok, r->rate, r->p50, r->p99);
	fflush(stdout);
}

int main(void)
{
	long n_claims = env_long("BENCH_ID_CLAIMS", 1000, 1, 1000);
	long n_csrs = env_long("BENCH_ID_CSRS", 500, 1, 100000);
	long conc = env_long("BENCH_ID_CONC", 16, 1, 1000);
	signal(SIGPIPE, SIG_IGN);
	aim_log_set_level(AIM_LOG_WARN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("bench_identity: nproc=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));

	struct aim_pkey *key = NULL;
	struct aim_buf pem;
	aim_buf_init(&pem, 1 << 16);
	if (aim_pkey_generate(AIM_KEY_RSA, &key) != 0 || aim_pkey_public_pem(key, &pem) != 0 ||
	    aim_buf_append_byte(&pem, 0) != 0)
		die("RSA key");
	json_t *js = json_string((const char *)pem.data);
	rsa_pub_json = json_dumps(js, JSON_ENCODE_ANY);
	json_decref(js);
	aim_buf_free(&pem);
	struct http_server_config hc = { .listen = "127.0.0.1:0", .max_connections = 2000 };
	struct http_server *hs = NULL;
	if (http_server_start(&hc, actor_handler, NULL, &hs) != 0)
		die("claimer server");
	snprintf(actor_base, sizeof actor_base, "%s", http_server_url(hs));

	char bindir[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", bindir, sizeof bindir - 1);
	bindir[l > 0 ? l : 0] = 0;
	char *slash = strrchr(bindir, '/');
	if (slash)
		*slash = 0;
	char tmpl[] = "/tmp/bench-identity-XXXXXX";
	if (!mkdtemp(tmpl))
		die("mkdtemp");
	char *data = aim_xasprintf("%s/data", tmpl);
	char *aimd = aim_xasprintf("%s/aimd", bindir);
	int port = free_port();
	char *url = aim_xasprintf("http://127.0.0.1:%d", port);
	char *listen = aim_xasprintf("127.0.0.1:%d", port);
	char out[4096];
	char *init[] = { aimd, "init", "--data", data, "--domain", "bench.test", "--url", url, NULL };
	char *add[] = { aimd, "user", "add", "--data", data, "bob", NULL };
	if (run_capture(init, NULL, 0) != 0 || run_capture(add, out, sizeof out) != 0)
		die("aimd init / user add");
	char *nl = strrchr(out, '\n');
	while (nl && nl > out && (nl[0] == '\n' || nl[0] == 0))
		*nl-- = 0;
	char *token = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
	char *serve[] = { aimd, "serve", "--data", data, "--listen", listen,
			  "--allow-private-addresses", "--inbox-host-rate", "1000000",
			  "--inbox-host-concurrency", "100000", "--rate-limit", "1000000",
			  "--rate-burst", "1000000", "--claim-host-rate", "1000000",
			  "--claim-user-rate", "1000000", "--log-level", "warn", NULL };
	pid_t apid = spawn(serve);
	char *devices = aim_xasprintf("%s/users/bob/devices", url);
	for (int i = 0; i < 300; i++) {
		struct req probe;
		req_json(&probe, devices, token, strdup("{}"));
		one(&probe);
		long st = probe.status;
		req_free(&probe);
		if (st)
			break;
		usleep(100000);
	}

	/* CSR issuance: one registration per fresh device */
	struct req *regs = aim_xcalloc((size_t)n_csrs + 1, sizeof *regs);
	struct aim_buf sk = { 0 }, pk = { 0 };
	for (long i = 0; i <= n_csrs; i++) {
		struct aim_buf s2, p2;
		char *csr = make_csr(&s2, &p2);
		req_json(&regs[i], devices, token,
			 aim_xasprintf("{\"device\":\"d%ld\",\"csr\":\"%s\"}", i, csr));
		free(csr);
		if (i == n_csrs) {
			sk = s2;
			pk = p2;
		} else {
			aim_buf_free_secret(&s2);
			aim_buf_free(&p2);
		}
	}
	struct result rr;
	run_load(regs, n_csrs, conc, &rr);
	print_result("csr_issuance", conc, &rr);
	/* the claims' device: registered untimed */
	one(&regs[n_csrs]);
	if (regs[n_csrs].status != 201)
		die("registration of the claims' device");
	if (aim_buf_append_byte(&regs[n_csrs].resp, 0) != 0)
		die("answer");
	char *lr = NULL;
	char **kps = make_kps((const char *)regs[n_csrs].resp.data, &sk, n_claims, &lr);
	for (long i = 0; i <= n_csrs; i++)
		req_free(&regs[i]);
	free(regs);

	/* upload, 100 at a time */
	char *kpurl = aim_xasprintf("%s/users/bob/keyPackages", url);
	for (long i = 0; i < n_claims; i += 100) {
		json_t *arr = json_array();
		for (long k = i; k < n_claims && k < i + 100; k++)
			json_array_append_new(arr, json_string(kps[k]));
		json_t *body = json_pack("{s:o}", "keyPackages", arr);
		if (i == 0)
			json_object_set_new(body, "lastResort", json_string(lr));
		struct req up;
		req_json(&up, kpurl, token, json_dumps(body, 0));
		json_decref(body);
		one(&up);
		if (up.status != 201)
			die("KeyPackage upload");
		req_free(&up);
	}

	/* claims: signed S2S POSTs, one warm-up (the key fetched), then n */
	char *claim = aim_xasprintf("%s/users/bob/keyPackages/claim", url);
	struct req *cl = aim_xcalloc((size_t)n_claims + 1, sizeof *cl);
	for (long i = 0; i <= n_claims; i++)
		req_signed(&cl[i], claim,
			   aim_xasprintf("{\"id\":\"%s/claims/%ld\",\"type\":\"aim:KeyPackageClaim\","
					 "\"actor\":\"%s/users/c\",\"cipherSuites\":[1]}",
					 actor_base, i, actor_base),
			   key);
	one(&cl[n_claims]);
	if (cl[n_claims].status != 200)
		die("warm-up claim");
	struct result cr;
	run_load(cl, n_claims, conc, &cr);
	print_result("claims", conc, &cr);
	long lrs = 0;
	for (long i = 0; i < n_claims; i++) {
		if (aim_buf_append_byte(&cl[i].resp, 0) != 0)
			continue;
		if (cl[i].resp.data && strstr((const char *)cl[i].resp.data, "\"lastResort\":true"))
			lrs++;
	}
	printf("identity claims: %ld answered with the last-resort KeyPackage (the warm-up took "
	       "one: expected 1)\n", lrs);
	for (long i = 0; i <= n_claims; i++)
		req_free(&cl[i]);
	free(cl);

	stop_child(apid);
	http_server_stop(hs, 1000);
	char *rm[] = { "rm", "-rf", tmpl, NULL };
	run_capture(rm, NULL, 0);
	for (long i = 0; i < n_claims; i++)
		free(kps[i]);
	free(kps);
	free(lr);
	aim_buf_free_secret(&sk);
	aim_buf_free(&pk);
	aim_pkey_free(key);
	free(rsa_pub_json);
	free(claim);
	free(kpurl);
	free(devices);
	free(data);
	free(aimd);
	free(url);
	free(listen);
	curl_global_cleanup();
	return 0;
}
