/*
 * bench_inbox: signed Create(Note) activities posted concurrently to one
 * aimd inbox by many remote actors whose keys aimd has already cached, then
 * the same load against Fedify's inbox (tests/interop/fedify-server.mjs) in
 * the same run when node and the npm packages are there.
 *
 * The remote actors' documents come from a small HTTP server in this
 * process (the project's http server); every request is signed with the
 * project's signer (cavage rsa-sha256 over (request-target) host date
 * digest, what both servers accept) before the timed phase, each with a
 * unique activity id. A warm-up request per actor lets each server fetch
 * and cache the keys first. The load generator is libcurl multi with a
 * fixed number of requests in flight.
 *
 * Then aimd again over TLS (a self-signed certificate; the load generator
 * keeps its connections alive: the connections it opened are printed).
 *
 * Prints per server: accepted/s, p50/p99 latency, peak RSS (VmHWM), the
 * connections opened, the CPU used by the server and by this process (the
 * load generator) over the timed run, and the ratio aimd/Fedify; plus
 * nproc. BENCH_INBOX_TLS=0 skips the TLS run; BENCH_INBOX_PERF=DIR records a
 * perf profile (-g) of each server during its timed run in DIR. Environment: BENCH_INBOX_N (requests,
 * default 2000), BENCH_INBOX_CONC (in flight, 32), BENCH_INBOX_ACTORS (50),
 * AIM_SOURCE_DIR (to find tests/interop; default: two levels above the
 * program's directory), BENCH_INBOX_FEDIFY=0 to skip Fedify.
 * BENCH_INBOX_STORE=postgresql://... keeps the (plain HTTP) aimd's store in
 * PostgreSQL (aimd init --store; an empty database or schema), and with it
 * BENCH_INBOX_PROCS=2 serves the domain from two processes on that database
 * (the second from a copy of the data directory), the requests alternating
 * between them (its CPU column counts the first process only).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "http/server.h"
#include "http/sig.h"

#define MAX_ACTORS 1000
#define MAX_N 200000

static char actor_base[128];   /* http://127.0.0.1:PORT of the actor server */
static const char *load_ca;    /* CA file for an https target (NULL: plain HTTP) */
static long load_connects;     /* connections the last load opened */
static char *rsa_pub_json;     /* the public PEM as a JSON string (quoted) */
static char *second_inbox;     /* BENCH_INBOX_PROCS=2: every other request goes there */

static void die(const char *what)
{
	fprintf(stderr, "bench_inbox: %s: %s\n", what, aim_errmsg());
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

/* ---- The remote actors' server ------------------------------------------ */

static void actor_handler(void *app, const struct http_request *q, struct http_response *r)
{
	(void)app;
	const char *p = q->path;
	if (strncmp(p, "/users/", 7) != 0 || strchr(p + 7, '/') || !p[7] || strlen(p) > 64) {
		http_resp_error(r, 404, "not_found", "no such actor");
		return;
	}
	const char *name = p + 7;
	char *doc = aim_xasprintf(
		"{\"@context\":[\"https://www.w3.org/ns/activitystreams\","
		"\"https://w3id.org/security/v1\"],"
		"\"id\":\"%s/users/%s\",\"type\":\"Person\",\"preferredUsername\":\"%s\","
		"\"inbox\":\"%s/users/%s/inbox\",\"outbox\":\"%s/users/%s/outbox\","
		"\"followers\":\"%s/users/%s/followers\","
		"\"publicKey\":{\"id\":\"%s/users/%s#main-key\",\"owner\":\"%s/users/%s\","
		"\"publicKeyPem\":%s}}",
		actor_base, name, name, actor_base, name, actor_base, name, actor_base, name,
		actor_base, name, actor_base, name, rsa_pub_json);
	http_resp_set(r, 200, "application/activity+json", doc, strlen(doc));
	free(doc);
}

static char *json_string(const char *s)
{
	struct aim_buf b;
	aim_buf_init(&b, 1 << 20);
	if (aim_buf_append_byte(&b, '"'))
		die("json");
	for (; *s; s++) {
		int rc = *s == '\n' ? aim_buf_append_str(&b, "\\n")
				    : aim_buf_append_byte(&b, (uint8_t)*s);
		if (rc)
			die("json");
	}
	if (aim_buf_append_byte(&b, '"') || aim_buf_append_byte(&b, 0))
		die("json");
	char *out = strdup((const char *)b.data);
	aim_buf_free(&b);
	return out;
}

/* ---- Child processes -------------------------------------------------------- */

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &l) != 0) {
		perror("bench_inbox: free port");
		exit(1);
	}
	close(s);
	return ntohs(a.sin_port);
}

/* Runs argv; stdout to *out_fd if given (a pipe), else /dev/null. */
static pid_t spawn(char *const argv[], int *out_fd, const char *cwd)
{
	int p[2] = { -1, -1 };
	if (out_fd && pipe(p) != 0) {
		perror("bench_inbox: pipe");
		exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench_inbox: fork");
		exit(1);
	}
	if (pid == 0) {
		int dn = open("/dev/null", O_RDWR);
		dup2(out_fd ? p[1] : dn, 1);
		if (!getenv("BENCH_INBOX_VERBOSE"))
			dup2(dn, 2);
		if (cwd && chdir(cwd) != 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (out_fd) {
		close(p[1]);
		*out_fd = p[0];
	}
	return pid;
}

static int run_wait(char *const argv[])
{
	pid_t pid = spawn(argv, NULL, NULL);
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
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

/* CPU seconds (user + system) a process used so far. */
static double cpu_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kib = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM:", 6))
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

static int wait_http_ca(const char *url, const char *ca, int timeout_s);

/* GETs url until it answers (any status) or timeout_s passes. */
static int wait_http(const char *url, int timeout_s)
{
	return wait_http_ca(url, NULL, timeout_s);
}

static int wait_http_ca(const char *url, const char *ca, int timeout_s)
{
	double end = now_ms() + timeout_s * 1000.0;
	while (now_ms() < end) {
		CURL *e = curl_easy_init();
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
		if (ca)
			curl_easy_setopt(e, CURLOPT_CAINFO, ca);
		CURLcode c = curl_easy_perform(e);
		curl_easy_cleanup(e);
		if (c == CURLE_OK)
			return 0;
		usleep(100000);
	}
	return -1;
}

/* ---- Requests ---------------------------------------------------------------- */

struct req {
	char *url;
	char *body;
	size_t body_len;
	struct curl_slist *hdrs;
	double start;
	long status;
};

static void req_free(struct req *r)
{
	free(r->url);
	free(r->body);
	curl_slist_free_all(r->hdrs);
	memset(r, 0, sizeof *r);
}

static void make_req(struct req *r, const char *inbox, const char *target_actor, int actor,
		     long seq, const char *run, const struct aim_pkey *key)
{
	char id[256];
	snprintf(id, sizeof id, "%s/users/a%d", actor_base, actor);
	r->body = aim_xasprintf(
		"{\"@context\":\"https://www.w3.org/ns/activitystreams\","
		"\"id\":\"%s/activities/%s-%ld\",\"type\":\"Create\",\"actor\":\"%s\","
		"\"to\":[\"%s\"],\"object\":{\"id\":\"%s/notes/%s-%ld\",\"type\":\"Note\","
		"\"attributedTo\":\"%s\",\"to\":[\"%s\"],\"content\":\"bench note %ld\"}}",
		id, run, seq, id, target_actor, id, run, seq, id, target_actor, seq);
	r->body_len = strlen(r->body);
	r->url = strdup(inbox);
	char kid[300];
	snprintf(kid, sizeof kid, "%s#main-key", id);
	struct sig_signer s = { SIG_CAVAGE, kid, key };
	struct sig_fields f;
	http_sig_fields_init(&f);
	if (http_sig_sign_request(&s, "POST", inbox, true, AIM_BYTES(r->body, r->body_len), aim_now(),
			     &f) != 0)
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
	long n, accepted;
	double secs, p50, p99, rate;
};

/* Sends reqs[0..n) with conc in flight; fills latencies of 2xx answers. */
static void run_load(struct req *reqs, long n, long conc, struct result *res)
{
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, conc);
	load_connects = 0;
	double *lat = calloc((size_t)n, sizeof *lat);
	long next = 0, done = 0, ok = 0, running = 0;
	double t0 = now_ms();
	while (done < n) {
		while (running < conc && next < n) {
			struct req *r = &reqs[next++];
			CURL *e = curl_easy_init();
			curl_easy_setopt(e, CURLOPT_URL, r->url);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
			curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
			curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
			curl_easy_setopt(e, CURLOPT_PRIVATE, r);
			if (load_ca)
				curl_easy_setopt(e, CURLOPT_CAINFO, load_ca);
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
			long nc = 0;
			if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nc) == CURLE_OK)
				load_connects += nc;
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
	double secs = (now_ms() - t0) / 1000.0;
	qsort(lat, (size_t)ok, sizeof *lat, cmp_double);
	res->n = n;
	res->accepted = ok;
	res->secs = secs;
	res->rate = ok / secs;
	res->p50 = ok ? lat[(ok - 1) / 2] : 0;
	res->p99 = ok ? lat[(long)((ok - 1) * 0.99)] : 0;
	free(lat);
	curl_multi_cleanup(m);
}

/* Warm-up (one request per actor: keys fetched and cached), then the timed
 * load. Returns 0 when every warm-up request was accepted. */
static int bench_target(const char *name, const char *inbox, const char *target_actor,
			pid_t pid, long n, long conc, int actors, const struct aim_pkey *key,
			struct result *res, long *rss)
{
	struct req *warm = calloc((size_t)actors, sizeof *warm);
	for (int i = 0; i < actors; i++)
		make_req(&warm[i], second_inbox && (i & 1) ? second_inbox : inbox, target_actor, i, i,
			 "warm", key);
	struct result wr;
	run_load(warm, actors, conc < actors ? conc : actors, &wr);
	long bad = 0, first = 0;
	for (int i = 0; i < actors; i++) {
		if (warm[i].status < 200 || warm[i].status >= 300) {
			if (!bad)
				first = warm[i].status;
			bad++;
		}
		req_free(&warm[i]);
	}
	free(warm);
	if (bad) {
		fprintf(stderr, "bench_inbox: %s: %ld of %d warm-up requests refused (first %ld)\n",
			name, bad, actors, first);
		return -1;
	}
	struct req *reqs = calloc((size_t)n, sizeof *reqs);
	for (long i = 0; i < n; i++)
		make_req(&reqs[i], second_inbox && (i & 1) ? second_inbox : inbox, target_actor,
			 (int)(i % actors), i, "load", key);
	/* BENCH_INBOX_PERF=DIR: perf record -g of the server during the load,
	 * into DIR/perf-NAME.data (perf report -i it) */
	const char *pd = getenv("BENCH_INBOX_PERF");
	pid_t perf = -1;
	if (pd && *pd) {
		char out[PATH_MAX], ps[32];
		snprintf(out, sizeof out, "%s/perf-%s.data", pd, name);
		snprintf(ps, sizeof ps, "%d", (int)pid);
		char *pargs[] = { "perf", "record", "-g", "-o", out, "-p", ps, NULL };
		perf = spawn(pargs, NULL, NULL);
		usleep(500000);
	}
	double c0 = cpu_of(pid), l0 = self_cpu();
	run_load(reqs, n, conc, res);
	double ccpu = cpu_of(pid) - c0, lcpu = self_cpu() - l0;
	if (perf > 0) {
		int st;
		kill(perf, SIGINT);
		waitpid(perf, &st, 0);
	}
	for (long i = 0; i < n; i++)
		req_free(&reqs[i]);
	free(reqs);
	*rss = peak_rss_kib(pid);
	printf("inbox %-9s requests=%ld in_flight=%ld actors=%d accepted=%ld accepted/s=%.0f "
	       "p50=%.2fms p99=%.2fms peak_rss=%.1fMiB connections=%ld\n",
	       name, res->n, conc, actors, res->accepted, res->rate, res->p50, res->p99,
	       *rss / 1024.0, load_connects);
	printf("inbox %-9s cpu over the run: server %.2fs (%.0f%% of one core), load generator "
	       "%.2fs (%.0f%%), nproc=%ld\n",
	       name, ccpu, res->secs > 0 ? 100 * ccpu / res->secs : 0, lcpu,
	       res->secs > 0 ? 100 * lcpu / res->secs : 0, sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	return 0;
}

static char *self_dir(void)
{
	char buf[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (l <= 0)
		return strdup(".");
	buf[l] = 0;
	char *s = strrchr(buf, '/');
	if (s)
		*s = 0;
	return strdup(buf);
}

int main(void)
{
	long n = env_long("BENCH_INBOX_N", 2000, 10, MAX_N);
	long conc = env_long("BENCH_INBOX_CONC", 32, 1, 1000);
	int actors = (int)env_long("BENCH_INBOX_ACTORS", 50, 1, MAX_ACTORS);
	signal(SIGPIPE, SIG_IGN);
	aim_log_set_level(AIM_LOG_WARN); /* no access log line per key fetch */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("bench_inbox: nproc=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));

	struct aim_pkey *key = NULL;
	if (aim_pkey_generate(AIM_KEY_RSA, &key) != 0)
		die("RSA key");
	struct aim_buf pem;
	aim_buf_init(&pem, 1 << 16);
	if (aim_pkey_public_pem(key, &pem) != 0 || aim_buf_append_byte(&pem, 0) != 0)
		die("public PEM");
	rsa_pub_json = json_string((const char *)pem.data);
	aim_buf_free(&pem);

	struct http_server_config hc = { .listen = "127.0.0.1:0", .max_connections = 2000 };
	struct http_server *hs = NULL;
	if (http_server_start(&hc, actor_handler, NULL, &hs) != 0)
		die("actor server");
	snprintf(actor_base, sizeof actor_base, "%s", http_server_url(hs));

	char *bindir = self_dir();
	char tmpl[] = "/tmp/bench-inbox-XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("bench_inbox: mkdtemp");
		return 1;
	}
	char *data = aim_xasprintf("%s/data", tmpl);
	char *aimd = aim_xasprintf("%s/aimd", bindir);
	int port = free_port();
	char *url = aim_xasprintf("http://127.0.0.1:%d", port);
	char *listen = aim_xasprintf("127.0.0.1:%d", port);
	int status = 0;
	const char *store = getenv("BENCH_INBOX_STORE");
	long procs = store && *store ? env_long("BENCH_INBOX_PROCS", 1, 1, 2) : 1;
	printf("bench_inbox: store=%s processes=%ld\n", store && *store ? "postgresql" : "sqlite",
	       procs);
	{
		char *init[] = { aimd, "init", "--data", data, "--domain", "bench.test", "--url", url,
				 store && *store ? "--store" : NULL, (char *)store, NULL };
		char *add[] = { aimd, "user", "add", "--data", data, "bob", NULL };
		if (run_wait(init) != 0 || run_wait(add) != 0) {
			fprintf(stderr, "bench_inbox: aimd init / user add failed (%s)\n", aimd);
			return 1;
		}
	}
	pid_t apid2 = -1;
	if (procs == 2) {
		char *data2 = aim_xasprintf("%s/data2", tmpl);
		int port2 = free_port();
		char *url2 = aim_xasprintf("http://127.0.0.1:%d", port2);
		char *listen2 = aim_xasprintf("127.0.0.1:%d", port2);
		char *cp[] = { "cp", "-a", data, data2, NULL };
		char *serve2[] = { aimd, "serve", "--data", data2, "--listen", listen2,
				   "--allow-private-addresses", "--inbox-host-rate", "1000000",
				   "--inbox-host-concurrency", "100000", "--log-level", "warn", NULL };
		char *probe2 = aim_xasprintf("%s/.well-known/nodeinfo", url2);
		if (run_wait(cp) != 0 || (apid2 = spawn(serve2, NULL, NULL)) < 0 ||
		    wait_http(probe2, 30) != 0) {
			fprintf(stderr, "bench_inbox: the second aimd did not start\n");
			return 1;
		}
		second_inbox = aim_xasprintf("%s/users/bob/inbox", url2);
	}
	char *serve[] = { aimd, "serve", "--data", data, "--listen", listen,
			  "--allow-private-addresses", "--inbox-host-rate", "1000000",
			  "--inbox-host-concurrency", "100000", "--log-level", "warn", NULL };
	pid_t apid = spawn(serve, NULL, NULL);
	char *probe = aim_xasprintf("%s/.well-known/nodeinfo", url);
	struct result ar = { 0 }, fr = { 0 };
	long arss = 0, frss = 0;
	bool have_aim = false, have_fedify = false;
	if (wait_http(probe, 30) != 0) {
		fprintf(stderr, "bench_inbox: aimd did not start\n");
		status = 1;
	} else {
		char *inbox = aim_xasprintf("%s/users/bob/inbox", url);
		char *bob = aim_xasprintf("%s/users/bob", url);
		have_aim = bench_target("aimd", inbox, bob, apid, n, conc, actors, key, &ar,
					&arss) == 0;
		if (!have_aim)
			status = 1;
		free(inbox);
		free(bob);
	}
	stop_child(apid);
	if (apid2 > 0)
		stop_child(apid2);

	/* aimd again, over TLS (a self-signed certificate for 127.0.0.1): the
	 * load generator keeps its connections alive, as above */
	const char *te = getenv("BENCH_INBOX_TLS");
	if (te && !strcmp(te, "0")) {
		printf("inbox aimd-tls: skipped (BENCH_INBOX_TLS=0)\n");
	} else {
		char *tdata = aim_xasprintf("%s/data-tls", tmpl);
		char *cert = aim_xasprintf("%s/tls.crt", tmpl);
		char *tkey = aim_xasprintf("%s/tls.key", tmpl);
		int tport = free_port();
		char *turl = aim_xasprintf("https://127.0.0.1:%d", tport);
		char *tlisten = aim_xasprintf("127.0.0.1:%d", tport);
		char *mk[] = { "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
			       tkey, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
			       "-addext", "subjectAltName=IP:127.0.0.1", NULL };
		char *tinit[] = { aimd, "init", "--data", tdata, "--domain", "bench.test", "--url",
				  turl, NULL };
		char *tadd[] = { aimd, "user", "add", "--data", tdata, "bob", NULL };
		if (run_wait(mk) != 0 || run_wait(tinit) != 0 || run_wait(tadd) != 0) {
			fprintf(stderr, "bench_inbox: TLS set-up failed\n");
			status = 1;
		} else {
			char *tserve[] = { aimd, "serve", "--data", tdata, "--listen", tlisten,
					   "--tls-cert", cert, "--tls-key", tkey,
					   "--allow-private-addresses", "--inbox-host-rate", "1000000",
					   "--inbox-host-concurrency", "100000", "--log-level", "warn",
					   NULL };
			pid_t tpid = spawn(tserve, NULL, NULL);
			char *tprobe = aim_xasprintf("%s/.well-known/nodeinfo", turl);
			load_ca = cert;
			struct result tr = { 0 };
			long trss = 0;
			if (wait_http_ca(tprobe, cert, 30) != 0) {
				fprintf(stderr, "bench_inbox: aimd (TLS) did not start\n");
				status = 1;
			} else {
				char *tin = aim_xasprintf("%s/users/bob/inbox", turl);
				char *tbob = aim_xasprintf("%s/users/bob", turl);
				if (bench_target("aimd-tls", tin, tbob, tpid, n, conc, actors, key, &tr,
						 &trss) != 0)
					status = 1;
				free(tin);
				free(tbob);
			}
			load_ca = NULL;
			stop_child(tpid);
			free(tprobe);
		}
		free(tdata);
		free(cert);
		free(tkey);
		free(turl);
		free(tlisten);
	}

	/* Fedify, same load */
	const char *src = getenv("AIM_SOURCE_DIR");
	char *srcdir = src ? strdup(src) : aim_xasprintf("%s/../..", bindir);
	char *interop = aim_xasprintf("%s/tests/interop", srcdir);
	char *mjs = aim_xasprintf("%s/fedify-server.mjs", interop);
	char *mods = aim_xasprintf("%s/node_modules/@fedify/fedify", interop);
	struct stat sb;
	const char *fe = getenv("BENCH_INBOX_FEDIFY");
	if (fe && !strcmp(fe, "0")) {
		printf("inbox fedify: skipped (BENCH_INBOX_FEDIFY=0)\n");
	} else if (stat(mjs, &sb) != 0 || stat(mods, &sb) != 0) {
		printf("inbox fedify: skipped (no %s or npm packages; run scripts/test-setup.sh)\n",
		       mjs);
	} else {
		char *fargs[] = { "node", mjs, "--port", "0", "--users", "bob", "--first-knock",
				  "cavage", "--strict", "1", NULL };
		int fd = -1;
		pid_t fpid = spawn(fargs, &fd, interop);
		char line[4096];
		size_t got = 0;
		while (got < sizeof line - 1) {
			ssize_t k = read(fd, line + got, 1);
			if (k <= 0 || line[got] == '\n')
				break;
			got++;
		}
		line[got] = 0;
		const char *pp = strstr(line, "\"port\":");
		if (!pp) {
			printf("inbox fedify: did not start (%s)\n", line);
			status = 1;
		} else {
			int fport = atoi(pp + 7);
			char *fin = aim_xasprintf("http://127.0.0.1:%d/users/bob/inbox", fport);
			char *fbob = aim_xasprintf("http://127.0.0.1:%d/users/bob", fport);
			have_fedify = bench_target("fedify", fin, fbob, fpid, n, conc, actors, key,
						   &fr, &frss) == 0;
			if (!have_fedify)
				status = 1;
			free(fin);
			free(fbob);
		}
		stop_child(fpid);
		close(fd);
	}
	if (have_aim && have_fedify && fr.rate > 0)
		printf("inbox ratio aimd/fedify: accepted/s %.2fx, p50 %.2fx, p99 %.2fx, "
		       "peak RSS %.2fx\n",
		       ar.rate / fr.rate, fr.p50 > 0 ? ar.p50 / fr.p50 : 0,
		       fr.p99 > 0 ? ar.p99 / fr.p99 : 0, frss > 0 ? (double)arss / frss : 0);

	http_server_stop(hs, 1000);
	char *rm[] = { "rm", "-rf", tmpl, NULL };
	if (run_wait(rm) != 0)
		fprintf(stderr, "bench_inbox: could not remove %s\n", tmpl);
	aim_pkey_free(key);
	free(rsa_pub_json);
	free(bindir);
	free(data);
	free(aimd);
	free(url);
	free(listen);
	free(probe);
	free(srcdir);
	free(interop);
	free(mjs);
	free(mods);
	curl_global_cleanup();
	return status;
}
