/*
 * The guarded outbound client against a local libmicrohttpd server on
 * 127.0.0.1 (random port): the SSRF guard (and that a refused fetch opens no
 * connection), connect_to, redirects (count, schemes, private targets,
 * mapped names), the body cap, timeouts, per-hop signing and concurrency.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <cmocka.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "http/client.h"
#include "http/sig.h"

#define BIG_LEN (2u * 1024 * 1024)

static struct MHD_Daemon *daemon_, *tls_daemon;
static unsigned port_, tls_port;
static char tmpdir[256];
static char *tls_key, *tls_cert;
static atomic_int connections;
static char *big_body;
static struct aim_pkey *rsa_key, *ed_key;

/* ---- The test server ---------------------------------------------------------- */

struct upload {
	struct aim_buf body;
};

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&connections, 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;
	if (u) {
		aim_buf_free(&u->body);
		free(u);
		*con_cls = NULL;
	}
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const char *body, const char *hname, const char *hvalue)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (hname)
		MHD_add_response_header(r, hname, hvalue);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static ssize_t chunked_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	if (pos >= BIG_LEN)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = BIG_LEN - (size_t)pos < max ? BIG_LEN - (size_t)pos : max;
	memset(buf, 'c', n);
	return (ssize_t)n;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	http_sig_fields_add(cls, key, value ? value : "");
	return MHD_YES;
}

static int key_lookup(void *ctx, const char *key_id, struct sig_key *out)
{
	if (strcmp(key_id, "https://a.example/u/a#rsa") == 0)
		out->pkey = rsa_key;
	else if (strcmp(key_id, "https://a.example/u/a#ed") == 0)
		out->pkey = ed_key;
	else
		return aim_fail(AIM_ERR_NOTFOUND, "unknown key");
	out->owner = "https://a.example/u/a";
	return 0;
}

/* Verifies the request's HTTP signature as a receiving server would. */
static enum MHD_Result echo_verify(struct MHD_Connection *c, const char *url, const char *method,
				   struct upload *u)
{
	struct sig_fields f;
	http_sig_fields_init(&f);
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &f);
	struct sig_request req = {
		.method = method,
		.target = url,
		.authority = http_sig_fields_get(f.v, f.n, "host"),
		.scheme = "http",
		.fields = f.v,
		.n_fields = f.n,
		.has_body = strcmp(method, "GET") != 0,
		.body = aim_buf_bytes(&u->body),
	};
	struct sig_verified v;
	enum MHD_Result ret;
	if (http_sig_verify(&req, aim_now(), NULL, key_lookup, NULL, NULL, &v) == 0) {
		char *msg = aim_xasprintf("verified %s %s %zu", v.key_id, method, u->body.len);
		ret = reply(c, 200, "text/plain", msg, NULL, NULL);
		free(msg);
		http_sig_verified_free(&v);
	} else {
		ret = reply(c, 401, "text/plain", aim_errmsg(), NULL, NULL);
	}
	http_sig_fields_free(&f);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_size, void **con_cls)
{
	struct upload *u = *con_cls;
	if (!u) {
		u = calloc(1, sizeof *u);
		aim_buf_init(&u->body, 1 << 20);
		*con_cls = u;
		return MHD_YES;
	}
	if (*upload_size) {
		if (aim_buf_append(&u->body, upload_data, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	char loc[256];
	if (strcmp(url, "/ok") == 0)
		return reply(c, 200, "text/plain; charset=utf-8", "hello", "Retry-After", "7");
	if (strncmp(url, "/redir/", 7) == 0) {
		int n = atoi(url + 7);
		if (n <= 0)
			return reply(c, 200, "text/plain", "done", NULL, NULL);
		snprintf(loc, sizeof loc, "/redir/%d", n - 1);
		return reply(c, 302, NULL, "", "Location", loc);
	}
	if (strcmp(url, "/loop") == 0)
		return reply(c, 302, NULL, "", "Location", "/loop");
	if (strcmp(url, "/file") == 0)
		return reply(c, 302, NULL, "", "Location", "file:///etc/passwd");
	if (strcmp(url, "/gopher") == 0)
		return reply(c, 301, NULL, "", "Location", "gopher://a.example/");
	if (strcmp(url, "/to-private") == 0) {
		snprintf(loc, sizeof loc, "http://10.1.2.3:%u/ok", port_);
		return reply(c, 302, NULL, "", "Location", loc);
	}
	if (strcmp(url, "/to-metadata") == 0)
		return reply(c, 302, NULL, "", "Location", "http://169.254.169.254/latest/meta-data/");
	if (strcmp(url, "/to-mapped") == 0)
		return reply(c, 302, NULL, "", "Location", "http://internal.example/ok");
	if (strcmp(url, "/to-public") == 0)
		return reply(c, 302, NULL, "", "Location", "http://public.example/ok");
	if (strcmp(url, "/to-echo") == 0)
		return reply(c, 307, NULL, "", "Location", "/echo");
	if (strcmp(url, "/cross-echo") == 0) {
		snprintf(loc, sizeof loc, "http://public.example:%u/echo", port_);
		return reply(c, 307, NULL, "", "Location", loc);
	}
	if (strcmp(url, "/big") == 0) {
		struct MHD_Response *r = MHD_create_response_from_buffer(BIG_LEN, big_body,
									 MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/big-chunked") == 0) {
		struct MHD_Response *r = MHD_create_response_from_callback(
			MHD_SIZE_UNKNOWN, 32 * 1024, chunked_reader, NULL, NULL);
		enum MHD_Result ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/slow") == 0) {
		const char *ms = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ms");
		usleep((useconds_t)(ms ? atoi(ms) : 1500) * 1000);
		return reply(c, 200, "text/plain", "slow", NULL, NULL);
	}
	if (strcmp(url, "/echo") == 0)
		return echo_verify(c, url, method, u);
	if (strcmp(url, "/many-headers") == 0) {
		struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"ok",
									 MHD_RESPMEM_PERSISTENT);
		char name[32], value[1100];
		memset(value, 'v', 1000);
		value[1000] = 0;
		for (int i = 0; i < 100; i++) {
			snprintf(name, sizeof name, "X-Filler-%d", i);
			MHD_add_response_header(r, name, value);
		}
		enum MHD_Result ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	return reply(c, 404, "text/plain", "not found", NULL, NULL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* A self-signed certificate for public.example, made with the openssl
 * command (installed by scripts/deps.sh), and an HTTPS daemon using it. */
static int setup_tls(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/aim-client-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	char *cmd = aim_xasprintf(
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-keyout %s/key.pem -out %s/cert.pem -days 2 -subj /CN=public.example "
		"-addext subjectAltName=DNS:public.example >/dev/null 2>&1",
		tmpdir, tmpdir);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0)
		return -1;
	char *kp = aim_xasprintf("%s/key.pem", tmpdir);
	char *cp = aim_xasprintf("%s/cert.pem", tmpdir);
	tls_key = slurp(kp);
	tls_cert = slurp(cp);
	free(kp);
	free(cp);
	if (!tls_key || !tls_cert)
		return -1;
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tls_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
					      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS,
				      0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sin,
				      MHD_OPTION_HTTPS_MEM_KEY, tls_key, MHD_OPTION_HTTPS_MEM_CERT,
				      tls_cert, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				      MHD_OPTION_END);
	if (!tls_daemon)
		return -1;
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(tls_daemon, MHD_DAEMON_INFO_BIND_PORT);
	tls_port = info ? info->port : 0;
	return tls_port ? 0 : -1;
}

static int setup(void **state)
{
	big_body = malloc(BIG_LEN);
	memset(big_body, 'b', BIG_LEN);
	if (aim_pkey_generate(AIM_KEY_RSA, &rsa_key) != 0 ||
	    aim_pkey_generate(AIM_KEY_ED25519, &ed_key) != 0)
		return -1;
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				   0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sin,
				   MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
				   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(1 << 20), MHD_OPTION_END);
	if (!daemon_)
		return -1;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	port_ = info ? info->port : 0;
	if (!port_)
		return -1;
	return setup_tls();
}

static int teardown(void **state)
{
	MHD_stop_daemon(daemon_);
	if (tls_daemon)
		MHD_stop_daemon(tls_daemon);
	char *cmd = aim_xasprintf("rm -rf '%s'", tmpdir);
	if (tmpdir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(cmd);
	free(tls_key);
	free(tls_cert);
	free(big_body);
	aim_pkey_free(rsa_key);
	aim_pkey_free(ed_key);
	return 0;
}

/* ---- Helpers ---------------------------------------------------------------- */

static char *url_of(const char *host, const char *path)
{
	return aim_xasprintf("http://%s:%u%s", host, port_, path);
}

static int fetch(const struct client_opts *o, const char *method, const char *url,
		 struct client_response *r)
{
	struct client_request req = { .method = method, .url = url };
	aim_errclear();
	return http_client_fetch(o, &req, r);
}

static void expect_fail(const struct client_opts *o, const char *url, enum aim_err code)
{
	struct client_response r;
	int rc = fetch(o, "GET", url, &r);
	if (rc == 0 || aim_errcode() != code)
		print_error("%s: rc=%d status=%ld %s: %s\n", url, rc, r.status,
			    aim_errname(aim_errcode()), aim_errmsg());
	assert_int_equal(rc, -1);
	assert_int_equal(aim_errcode(), code);
	assert_null(r.body.data);
	http_client_response_free(&r);
}

/* ---- Tests ------------------------------------------------------------------ */

static void test_loopback_refused(void **state)
{
	struct client_opts o;
	http_client_opts_default(&o);
	int before = atomic_load(&connections);
	char *u = url_of("127.0.0.1", "/ok");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	u = url_of("localhost", "/ok");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	u = url_of("[::1]", "/ok");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	expect_fail(&o, "http://169.254.169.254/latest/meta-data/", AIM_ERR_DENIED);
	expect_fail(&o, "http://10.0.0.1/", AIM_ERR_DENIED);
	expect_fail(&o, "http://0.0.0.0/", AIM_ERR_DENIED);
	/* no connection reached the server */
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&connections), before);
}

static void test_loopback_allowed(void **state)
{
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	struct client_response r;
	char *u = url_of("127.0.0.1", "/ok");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 5);
	assert_memory_equal(r.body.data, "hello", 5);
	assert_string_equal(r.content_type, "text/plain; charset=utf-8");
	assert_string_equal(http_sig_fields_get(r.headers.v, r.headers.n, "retry-after"), "7");
	assert_string_equal(r.final_url, u);
	assert_string_equal(r.remote_ip, "127.0.0.1");
	assert_int_equal(r.redirects, 0);
	http_client_response_free(&r);
	/* allow_private admits it too; a 404 is a response, not a failure */
	o.allow_loopback = false;
	o.allow_private = true;
	free(u);
	u = url_of("localhost", "/nope");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 404);
	http_client_response_free(&r);
	free(u);
}

static int no_names(void *ctx, const char *name, struct sockaddr_storage *out, size_t max,
		    size_t *n)
{
	*n = 0;
	return aim_fail(AIM_ERR_REMOTE, "cannot resolve %s", name);
}

static void test_connect_to(void **state)
{
	char *map = aim_xasprintf("public.example:80:127.0.0.1:%u", port_);
	const char *ct[] = { map };
	struct client_opts o;
	http_client_opts_default(&o);
	o.connect_to = ct;
	o.n_connect_to = 1;
	/* the mapped address is still guarded */
	int before = atomic_load(&connections);
	expect_fail(&o, "http://public.example/ok", AIM_ERR_DENIED);
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&connections), before);
	/* allowed once loopback is */
	o.allow_loopback = true;
	struct client_response r;
	assert_int_equal(fetch(&o, "GET", "http://public.example/ok", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.final_url, "http://public.example/ok");
	assert_string_equal(r.remote_ip, "127.0.0.1");
	http_client_response_free(&r);
	/* a port that does not match the entry is not mapped: the name goes to
	 * the resolver (here one that knows no names, so no DNS is needed) */
	o.resolve = no_names;
	expect_fail(&o, "http://public.example:81/ok", AIM_ERR_REMOTE);
	o.resolve = NULL;
	/* wildcard host */
	free(map);
	map = aim_xasprintf("::127.0.0.1:%u", port_);
	ct[0] = map;
	assert_int_equal(fetch(&o, "GET", "http://anything.example/ok", &r), 0);
	assert_int_equal(r.status, 200);
	http_client_response_free(&r);
	/* malformed entries are refused up front */
	ct[0] = "nonsense";
	expect_fail(&o, "http://public.example/ok", AIM_ERR_INVALID);
	free(map);
}

static void test_redirects(void **state)
{
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	struct client_response r;
	char *u = url_of("127.0.0.1", "/redir/5");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.redirects, 5);
	assert_memory_equal(r.body.data, "done", 4);
	char *want = url_of("127.0.0.1", "/redir/0");
	assert_string_equal(r.final_url, want);
	free(want);
	http_client_response_free(&r);
	free(u);
	/* six is one too many */
	u = url_of("127.0.0.1", "/redir/6");
	expect_fail(&o, u, AIM_ERR_LIMIT);
	free(u);
	u = url_of("127.0.0.1", "/loop");
	expect_fail(&o, u, AIM_ERR_LIMIT);
	/* max_redirects 0: the 302 itself is the answer */
	o.max_redirects = 0;
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 302);
	assert_string_equal(http_sig_fields_get(r.headers.v, r.headers.n, "Location"), "/loop");
	http_client_response_free(&r);
	free(u);
}

static void test_redirect_schemes(void **state)
{
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_private = true;
	char *u = url_of("127.0.0.1", "/file");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	u = url_of("127.0.0.1", "/gopher");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	expect_fail(&o, "file:///etc/passwd", AIM_ERR_DENIED);
	expect_fail(&o, "ftp://127.0.0.1/", AIM_ERR_DENIED);
	expect_fail(&o, "http://user@127.0.0.1/", AIM_ERR_DECODE);
}

static void test_redirect_private(void **state)
{
	/* loopback is allowed (the test server), nothing else non-public */
	char *map1 = aim_xasprintf("internal.example:80:192.168.7.7:%u", port_);
	char *map2 = aim_xasprintf("public.example:80:127.0.0.1:%u", port_);
	const char *ct[] = { map1, map2 };
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	o.connect_to = ct;
	o.n_connect_to = 2;
	char *u = url_of("127.0.0.1", "/to-private");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	u = url_of("127.0.0.1", "/to-metadata");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	/* a public-looking name mapped to a private address: the guard checks
	 * the mapped address on the redirect hop; only the first hop connected */
	int before = atomic_load(&connections);
	u = url_of("127.0.0.1", "/to-mapped");
	expect_fail(&o, u, AIM_ERR_DENIED);
	free(u);
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&connections), before + 1);
	/* the same name mapped to loopback is followed */
	struct client_response r;
	u = url_of("127.0.0.1", "/to-public");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.final_url, "http://public.example/ok");
	assert_int_equal(r.redirects, 1);
	http_client_response_free(&r);
	free(u);
	free(map1);
	free(map2);
}

static void test_body_cap(void **state)
{
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	char *u = url_of("127.0.0.1", "/big");
	expect_fail(&o, u, AIM_ERR_LIMIT);
	char *uc = url_of("127.0.0.1", "/big-chunked");
	expect_fail(&o, uc, AIM_ERR_LIMIT);
	struct client_response r;
	o.max_body = 4 * 1024 * 1024;
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.body.len, BIG_LEN);
	http_client_response_free(&r);
	assert_int_equal(fetch(&o, "GET", uc, &r), 0);
	assert_int_equal(r.body.len, BIG_LEN);
	assert_int_equal(r.body.data[BIG_LEN - 1], 'c');
	http_client_response_free(&r);
	free(u);
	free(uc);
	/* response headers are capped too (100 KB of them here) */
	o.max_body = 0;
	u = url_of("127.0.0.1", "/many-headers");
	expect_fail(&o, u, AIM_ERR_LIMIT);
	o.max_header_bytes = 200 * 1024;
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_true(r.headers.n >= 100);
	assert_int_equal(strlen(http_sig_fields_get(r.headers.v, r.headers.n, "x-filler-99")), 1000);
	http_client_response_free(&r);
	free(u);
	o.max_header_bytes = 0;
	o.max_body = 4;
	u = url_of("127.0.0.1", "/ok");
	expect_fail(&o, u, AIM_ERR_LIMIT);
	o.max_body = 5;
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	http_client_response_free(&r);
	free(u);
}

static void test_timeout(void **state)
{
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	o.timeout_ms = 300;
	char *u = url_of("127.0.0.1", "/slow?ms=1500");
	int64_t t0 = aim_mono_ms();
	expect_fail(&o, u, AIM_ERR_TIMEOUT);
	int64_t took = aim_mono_ms() - t0;
	assert_true(took >= 250);
	assert_true(took < 1400);
	free(u);
}

static void test_connection_refused(void **state)
{
	/* a port nobody listens on (bind, read the port, close) */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
	socklen_t len = sizeof sin;
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	char *u = aim_xasprintf("http://127.0.0.1:%u/", ntohs(sin.sin_port));
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	expect_fail(&o, u, AIM_ERR_REMOTE);
	free(u);
	o.resolve = no_names;
	expect_fail(&o, "http://no-such-host.invalid/", AIM_ERR_REMOTE);
}

static void signed_post(const char *path, enum sig_scheme scheme, const struct aim_pkey *key,
			const char *key_id)
{
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	struct sig_signer s = { .scheme = scheme, .key_id = key_id, .key = key };
	struct sig_field h[] = { { "Content-Type", "application/activity+json" } };
	const char *body = "{\"type\":\"Follow\"}";
	char *u = url_of("127.0.0.1", path);
	struct client_request req = {
		.method = "POST", .url = u, .headers = h, .n_headers = 1,
		.has_body = true, .body = AIM_BYTES_STR(body), .signer = &s,
	};
	struct client_response r;
	assert_int_equal(http_client_fetch(&o, &req, &r), 0);
	if (r.status != 200)
		print_error("%.*s\n", (int)r.body.len, (char *)r.body.data);
	assert_int_equal(r.status, 200);
	char *want = aim_xasprintf("verified %s POST %zu", key_id, strlen(body));
	assert_int_equal(r.body.len, strlen(want));
	assert_memory_equal(r.body.data, want, r.body.len);
	free(want);
	http_client_response_free(&r);
	free(u);
}

static void test_signed_requests(void **state)
{
	signed_post("/echo", SIG_CAVAGE, rsa_key, "https://a.example/u/a#rsa");
	signed_post("/echo", SIG_RFC9421, ed_key, "https://a.example/u/a#ed");
	signed_post("/echo", SIG_RFC9421, rsa_key, "https://a.example/u/a#rsa");
	/* through a 307: re-signed for the new target, body kept */
	signed_post("/to-echo", SIG_CAVAGE, rsa_key, "https://a.example/u/a#rsa");
	signed_post("/to-echo", SIG_RFC9421, ed_key, "https://a.example/u/a#ed");
	/* a 307 to another origin is not followed with the POST */
	{
		char *map = aim_xasprintf("public.example:%u:127.0.0.1:%u", port_, port_);
		const char *ct[] = { map };
		struct client_opts o2;
		http_client_opts_default(&o2);
		o2.allow_loopback = true;
		o2.connect_to = ct;
		o2.n_connect_to = 1;
		struct sig_signer s = { .scheme = SIG_CAVAGE, .key_id = "https://a.example/u/a#rsa",
					.key = rsa_key };
		char *cu = url_of("127.0.0.1", "/cross-echo");
		struct client_request req = { .method = "POST", .url = cu, .has_body = true,
					      .body = AIM_BYTES_STR("{}"), .signer = &s };
		struct client_response r2;
		assert_int_equal(http_client_fetch(&o2, &req, &r2), -1);
		assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
		/* a GET follows it (signed again for the new host: verified) */
		req.method = "GET";
		req.has_body = false;
		req.body = AIM_BYTES(NULL, 0);
		assert_int_equal(http_client_fetch(&o2, &req, &r2), 0);
		assert_int_equal(r2.status, 200);
		assert_int_equal(r2.redirects, 1);
		assert_memory_equal(r2.body.data, "verified https://a.example/u/a#rsa GET 0", 40);
		http_client_response_free(&r2);
		free(cu);
		free(map);
	}
	/* unsigned: the server's verifier refuses it */
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	struct client_response r;
	char *u = url_of("127.0.0.1", "/echo");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 401);
	http_client_response_free(&r);
	free(u);
}

/* HTTPS: the certificate is checked for the URL's name while the
 * connection goes to the pinned (mapped) address. */
static void test_https_ca_file(void **state)
{
	char *ca = aim_xasprintf("%s/cert.pem", tmpdir);
	char *m1 = aim_xasprintf("public.example:443:127.0.0.1:%u", tls_port);
	char *m2 = aim_xasprintf("other.example:443:127.0.0.1:%u", tls_port);
	const char *ct[] = { m1, m2 };
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	o.connect_to = ct;
	o.n_connect_to = 2;
	o.ca_file = ca;
	struct client_response r;
	assert_int_equal(fetch(&o, "GET", "https://public.example/ok", &r), 0);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body.data, "hello", 5);
	assert_string_equal(r.final_url, "https://public.example/ok");
	http_client_response_free(&r);
	/* the certificate does not name other.example */
	expect_fail(&o, "https://other.example/ok", AIM_ERR_REMOTE);
	/* without the private CA the certificate is not trusted */
	o.ca_file = NULL;
	expect_fail(&o, "https://public.example/ok", AIM_ERR_REMOTE);
	/* and the guard still applies to HTTPS */
	o.ca_file = ca;
	o.allow_loopback = false;
	expect_fail(&o, "https://public.example/ok", AIM_ERR_DENIED);
	free(ca);
	free(m1);
	free(m2);
}

/* A19: names are resolved once, by the guard, and curl connects to the
 * address that was checked (it never resolves the name itself: the names
 * here exist in no DNS). */
struct resolver {
	int calls;
	const char *addrs[4];
};

static int test_resolve(void *ctx, const char *name, struct sockaddr_storage *out, size_t max,
			size_t *n)
{
	struct resolver *r = ctx;
	r->calls++;
	*n = 0;
	for (size_t i = 0; i < 4 && r->addrs[i] && *n < max; i++) {
		memset(&out[*n], 0, sizeof out[0]);
		if (strchr(r->addrs[i], ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[*n];
			s6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, r->addrs[i], &s6->sin6_addr);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&out[*n];
			s4->sin_family = AF_INET;
			inet_pton(AF_INET, r->addrs[i], &s4->sin_addr);
		}
		(*n)++;
	}
	if (*n == 0)
		return aim_fail(AIM_ERR_REMOTE, "no such name");
	return 0;
}

static void test_resolver_pinning(void **state)
{
	struct resolver res = { 0, { "10.9.9.9", "169.254.169.254", "127.0.0.1", NULL } };
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	o.resolve = test_resolve;
	o.resolve_ctx = &res;
	struct client_response r;
	char *u = url_of("rebind.example", "/ok");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 200);
	/* the non-public candidates were skipped, the allowed one pinned */
	assert_string_equal(r.remote_ip, "127.0.0.1");
	assert_int_equal(res.calls, 1);
	http_client_response_free(&r);
	/* every hop is resolved and checked again (three hops, three
	 * resolutions); once the name maps only to the metadata address,
	 * nothing is fetched */
	res.calls = 0;
	res.addrs[0] = "127.0.0.1";
	res.addrs[1] = NULL;
	free(u);
	u = url_of("rebind.example", "/redir/2");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(res.calls, 3);
	http_client_response_free(&r);
	res.calls = 0;
	res.addrs[0] = "169.254.169.254";
	int before = atomic_load(&connections);
	expect_fail(&o, u, AIM_ERR_DENIED);
	assert_int_equal(res.calls, 1);
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&connections), before);
	/* all checked addresses are pinned, so curl can fall back from one
	 * that refuses the connection (nothing listens on 127.0.0.2) */
	res.calls = 0;
	res.addrs[0] = "127.0.0.2";
	res.addrs[1] = "10.1.1.1";
	res.addrs[2] = "127.0.0.1";
	free(u);
	u = url_of("rebind.example", "/ok");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.remote_ip, "127.0.0.1");
	assert_int_equal(res.calls, 1);
	http_client_response_free(&r);
	/* numeric hosts never reach the resolver */
	res.calls = 0;
	free(u);
	u = url_of("127.0.0.1", "/ok");
	assert_int_equal(fetch(&o, "GET", u, &r), 0);
	assert_int_equal(res.calls, 0);
	http_client_response_free(&r);
	free(u);
}

struct multi_state {
	int done, ok;
};

static void multi_done(void *ctx, int rc, enum aim_err err, const char *msg,
		       struct client_response *resp)
{
	struct multi_state *s = ctx;
	s->done++;
	if (rc == 0 && resp->status == 200)
		s->ok++;
	http_client_response_free(resp);
}

static void test_multi_concurrent(void **state)
{
	struct client_opts o;
	http_client_opts_default(&o);
	o.allow_loopback = true;
	struct client_multi *m = http_client_multi_new();
	assert_non_null(m);
	struct multi_state s = { 0 };
	char *u = url_of("127.0.0.1", "/slow?ms=400");
	int64_t t0 = aim_mono_ms();
	for (int i = 0; i < 6; i++) {
		struct client_request req = { .url = u };
		assert_int_equal(http_client_multi_add(m, &o, &req, multi_done, &s), 0);
	}
	/* a refused one fails at add, without a callback */
	struct client_opts strict;
	http_client_opts_default(&strict);
	struct client_request bad = { .url = u };
	assert_int_equal(http_client_multi_add(m, &strict, &bad, multi_done, &s), -1);
	assert_int_equal(aim_errcode(), AIM_ERR_DENIED);
	while (http_client_multi_run(m, 100) > 0 && aim_mono_ms() - t0 < 5000)
		;
	int64_t took = aim_mono_ms() - t0;
	assert_int_equal(s.done, 6);
	assert_int_equal(s.ok, 6);
	/* six 400 ms requests in parallel, not in series */
	assert_true(took < 2000);
	/* freeing a multi with transfers in flight aborts them cleanly */
	s.done = 0;
	char *slow = url_of("127.0.0.1", "/slow?ms=1000");
	for (int i = 0; i < 2; i++) {
		struct client_request req = { .url = slow };
		assert_int_equal(http_client_multi_add(m, &o, &req, multi_done, &s), 0);
	}
	assert_int_equal(http_client_multi_run(m, 50), 2);
	assert_int_equal(s.done, 0);
	free(slow);
	http_client_multi_free(m);
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_refused),
		cmocka_unit_test(test_loopback_allowed),
		cmocka_unit_test(test_connect_to),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_redirect_schemes),
		cmocka_unit_test(test_redirect_private),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_signed_requests),
		cmocka_unit_test(test_multi_concurrent),
		cmocka_unit_test(test_https_ca_file),
		cmocka_unit_test(test_resolver_pinning),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
