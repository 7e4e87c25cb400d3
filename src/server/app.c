/* aimd: the data directory, users and tokens, and the serve loop. */
#include "server/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "server/s2s.h" /* federation, inbound side */
#include "server/delivery.h"
#include "server/keypackages.h"
#include "server/ca.h"

bool aimd_valid_domain(const char *d)
{
	size_t n = strlen(d);
	if (n < 1 || n > 253 || d[0] == '.' || d[0] == '-' || d[0] == ':')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':'))
			return false;
	}
	return true;
}

bool aimd_valid_base_url(const char *u)
{
	const char *rest;
	if (aim_str_has_prefix(u, "https://"))
		rest = u + 8;
	else if (aim_str_has_prefix(u, "http://"))
		rest = u + 7;
	else
		return false;
	if (!*rest || *rest == '/' || strlen(u) > 200)
		return false;
	for (const char *p = rest; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' ||
		    *p == '#' || *p == '@' || *p == '"' || *p == '\\')
			return false;
	return true;
}

static char *db_path(const char *dir)
{
	return aimd_store_location(dir); /* DIR/aim.db, or DIR/store's URI */
}

static int open_data(const char *dir, struct store **st)
{
	return aimd_open_data(dir, 0, st);
}

int aimd_init(const struct aimd_init_opts *o)
{
	ENSURE(o->data_dir && *o->data_dir, AIM_ERR_INVALID, "--data is required");
	ENSURE(o->domain && aimd_valid_domain(o->domain), AIM_ERR_INVALID, "bad --domain %s",
	       o->domain ? o->domain : "(missing)");
	char *base = o->base_url ? aim_xstrdup(o->base_url) : aim_xasprintf("https://%s", o->domain);
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		base[--bl] = 0;
	if (!aimd_valid_base_url(base)) {
		free(base);
		return aim_fail(AIM_ERR_INVALID, "bad --url (want http(s)://HOST[:PORT][/PATH])");
	}
	int rc = 0;
	struct store *st = NULL;
	char *path = db_path(o->data_dir);
	struct stat sb;
	if (mkdir(o->data_dir, 0700) != 0 && errno != EEXIST) {
		rc = aim_fail(AIM_ERR_STORAGE, "cannot create %s: %s", o->data_dir, strerror(errno));
		goto out;
	}
	ENSURE_GOTO(!aimd_data_initialised(o->data_dir), out, AIM_ERR_EXISTS,
		    "%s is already initialised", o->data_dir);
	(void)sb;
	if (o->store) {
		/* a shared database (PostgreSQL) holds the store */
		TRY_GOTO(aimd_store_location_write(o->data_dir, o->store), out);
		free(path);
		path = aim_xstrdup(o->store);
	}
	TRY_GOTO(store_open(path, &st), out);
	if (o->store) {
		char *dom = NULL;
		bool taken = store_meta_get(st, "domain", &dom) == 0;
		free(dom);
		ENSURE_GOTO(!taken, out, AIM_ERR_EXISTS,
			    "the database of --store already serves a domain (for another "
			    "process of it, copy the first data directory)");
	}
	TRY_GOTO(store_meta_set(st, "domain", o->domain), out);
	TRY_GOTO(store_meta_set(st, "base_url", base), out);
	TRY_GOTO(aimd_user_add_with_keys(st, STORE_INSTANCE_NAME, NULL), out);
	enum aimd_ca_key ct = AIMD_CA_ED25519;
	TRY_GOTO(aimd_ca_key_parse(o->ca_key ? o->ca_key : "ed25519", &ct), out);
	TRY_GOTO(aimd_ca_create(o->data_dir, st, ct), out);
out:
	store_close(st);
	free(path);
	free(base);
	return rc;
}

/* A new token for user: 32 random bytes as base64url; only its SHA-256 is kept. */
static int issue_token(struct store *st, int64_t user, char **token)
{
	uint8_t raw[32], hash[32];
	struct aim_buf t;
	aim_buf_init(&t, 128);
	TRY(aim_random(raw, sizeof raw));
	int rc = aim_b64url_encode(&t, raw, sizeof raw);
	aim_wipe(raw, sizeof raw);
	TRY(rc);
	if (aim_sha256(aim_buf_bytes(&t), hash) != 0 || store_token_add(st, user, hash) != 0) {
		aim_buf_free_secret(&t);
		return -1;
	}
	*token = (char *)aim_buf_steal(&t, NULL);
	return 0;
}

int aimd_user_add(const char *data_dir, const char *name, char **token)
{
	ENSURE(aimd_valid_name(name), AIM_ERR_INVALID,
	       "bad user name (1-64 of a-z 0-9 _ . -, starting with a letter or digit)");
	struct store *st;
	TRY(open_data(data_dir, &st));
	int rc = 0;
	int64_t id;
	bool gone = false;
	TRY_GOTO(store_user_gone(st, name, &gone), out);
	ENSURE_GOTO(!gone, out, AIM_ERR_EXISTS,
		    "user %s was deleted; a name is never given out again", name);
	TRY_GOTO(aimd_user_add_with_keys(st, name, &id), out);
	TRY_GOTO(issue_token(st, id, token), out);
out:
	store_close(st);
	return rc;
}

int aimd_user_token(const char *data_dir, const char *name, char **token)
{
	ENSURE(aimd_valid_name(name), AIM_ERR_INVALID, "bad user name");
	struct store *st;
	TRY(open_data(data_dir, &st));
	int rc = 0;
	struct store_user u = { 0 };
	TRY_GOTO(store_user_get(st, name, &u), out);
	TRY_GOTO(issue_token(st, u.id, token), out);
out:
	store_user_clear(&u);
	store_close(st);
	return rc;
}

int aimd_user_set(const char *data_dir, const char *name, const char *key, const char *value)
{
	ENSURE(aimd_valid_name(name), AIM_ERR_INVALID, "bad user name");
	bool claims = !strcmp(key, "claims");
	ENSURE(claims || !strcmp(key, "manual-approval"), AIM_ERR_INVALID, "unknown setting %s",
	       key);
	int policy = 0;
	if (claims)
		TRY(aimd_kp_policy_parse(value, &policy));
	else
		ENSURE(!strcmp(value, "on") || !strcmp(value, "off"), AIM_ERR_INVALID,
		       "manual-approval takes on or off");
	struct store *st;
	TRY(open_data(data_dir, &st));
	int rc = 0;
	struct store_user u = { 0 };
	TRY_GOTO(store_user_get(st, name, &u), out);
	if (claims)
		TRY_GOTO(store_claims_policy_set(st, u.id, policy), out);
	else
		TRY_GOTO(store_manual_approval_set(st, u.id, !strcmp(value, "on")), out);
out:
	store_user_clear(&u);
	store_close(st);
	return rc;
}

static void app_free(struct app *a)
{
	aimd_events_stop(a); /* no event wakes the workers any more */
	aimd_delivery_stop(a->dlv); /* delivery workers first, while the store is open */
	a->dlv = NULL;
	aimd_fed_in_free(a); /* inbound federation state after the workers, which use its actor cache */
	aimd_kp_free(a);
	aimd_limiter_free(a->lim);
	aimd_limiter_free(a->anon_lim);
	aimd_sse_wake_destroy(&a->wake);
	store_close(a->st);
	free(a->domain);
	free(a->base);
}

static int app_open(struct app *a, const struct aimd_serve_opts *o)
{
	memset(a, 0, sizeof *a);
	aimd_sse_wake_init(&a->wake);
	a->lim = aimd_limiter_new(o->rate_per_s, o->rate_burst, o->auth_fail_limit);
	size_t anon = o->anon_read_rate ? o->anon_read_rate : AIMD_ANON_READ_RATE;
	a->anon_lim = aimd_limiter_new_bytes(anon, anon * 8);
	TRY(open_data(o->data_dir, &a->st));
	/* A damaged database (pages overwritten) is refused before it is used
	 * (issue 16), unless --skip-integrity-check. */
	if (!o->skip_integrity_check)
		TRY(aimd_integrity_check(o->data_dir, a->st));
	TRY(store_meta_get(a->st, "domain", &a->domain));
	/* Identity: a data directory from before the CA existed gets one now. */
	a->data_dir = o->data_dir;
	a->hub_basic = o->hub_basic_credentials;
	a->metrics_token = o->metrics_token;
	a->cert_days = o->cert_days > 0 ? o->cert_days : AIMD_CERT_DAYS_DEFAULT;
	bool ca_created = false;
	TRY(aimd_ca_ensure(o->data_dir, a->st, &ca_created));
	if (ca_created)
		aim_log(AIM_LOG_INFO, "aimd", "this data directory had no CA: made one (ed25519)");
	TRY(store_meta_get(a->st, "base_url", &a->base));
	const char *p = strstr(a->base, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	a->base_path = p ? p : "";
	struct store_user inst = { 0 };
	TRY(store_user_get(a->st, STORE_INSTANCE_NAME, &inst));
	a->instance_id = inst.id;
	store_user_clear(&inst);
	/* Federation: the outbound client every fetch and delivery uses.
	 * Without --allow-private-addresses loopback and private addresses are
	 * refused (threats.md A17). */
	http_client_opts_default(&a->client);
	a->client.connect_to = o->connect_to;
	a->client.n_connect_to = o->n_connect_to;
	a->client.ca_file = o->ca_file;
	a->client.allow_private = o->allow_private;
	a->client.allow_loopback = o->allow_private;
	/* Inbound federation: signature gate, actor cache, signed fetches */
	TRY(aimd_fed_in_open(a, o->inbox_host_rate, o->inbox_host_concurrency));
	/* The KeyPackage directory's claim limits */
	struct aimd_kp_config kc = { o->claim_host_rate, o->claim_user_rate };
	TRY(aimd_kp_open(a, &kc));
	return 0;
}

/* One `aimd serve` per data directory: an exclusive flock on DIR/aimd.lock,
 * held until the process ends (the kernel drops it if the process dies). */
int aimd_lock_data(const char *dir, int *fd_out)
{
	*fd_out = -1;
	int have_db = aimd_data_initialised(dir);
	ENSURE(have_db, AIM_ERR_NOTFOUND, "%s is not an initialised data directory (run aimd init)",
	       dir);
	char *path = aim_xasprintf("%s/%s", dir, AIMD_LOCK_FILE);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = aim_fail(AIM_ERR_STORAGE, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		int rc = e == EWOULDBLOCK
				 ? aim_fail(AIM_ERR_BUSY, "data directory %s is in use by another aimd "
					    "serve (it holds %s)", dir, path)
				 : aim_fail(AIM_ERR_STORAGE, "cannot lock %s: %s", path, strerror(e));
		free(path);
		return rc;
	}
	free(path);
	*fd_out = fd;
	return 0;
}

/* The order matters: everything that can refuse to start (the data
 * directory's lock, the listening address, the TLS files) is done before
 * anything with an effect (delivery workers, the queue); requests are served
 * only once the workers run. At shutdown: streams, requests in flight, then
 * the workers, and only then "stopped". */
int aimd_serve(const struct aimd_serve_opts *o)
{
	ENSURE(o->data_dir && *o->data_dir, AIM_ERR_INVALID, "--data is required");
	struct app a;
	memset(&a, 0, sizeof a);
	struct http_server *srv = NULL;
	struct http_server *msrv = NULL; /* --metrics-listen (ops_metrics.c) */
	int rc = 0, lock_fd = -1;
	bool opened = false;
	/* Signals are taken by sigwait() in this thread only: block them before
	 * any thread starts so every thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Past a file size limit a write fails (EFBIG) and the commit is
	 * refused cleanly (503, acknowledgements stop) instead of the process
	 * dying mid-transaction. */
	signal(SIGXFSZ, SIG_IGN);
	TRY(aimd_lock_data(o->data_dir, &lock_fd));
	struct http_server_config cfg = {
		.listen = o->listen ? o->listen : "127.0.0.1:8080",
		.tls_cert_file = o->tls_cert,
		.tls_key_file = o->tls_key,
		.max_body = o->max_body,
		/* One address cannot hold every connection. */
		.max_per_ip = o->max_per_ip ? o->max_per_ip : 128,
		.max_connections = o->max_connections,
		.header_timeout_s = o->header_timeout_s,
		.body_timeout_s = o->body_timeout_s,
		.workers = o->http_workers,
	};
	/* Descriptors for every connection (and the reserve), the database's
	 * connections (a file, its WAL and shared memory each), outbound
	 * requests and a margin: the soft limit is raised to that, or aimd
	 * refuses to start rather than fail requests later. */
	unsigned maxc = cfg.max_connections ? cfg.max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
	unsigned fd_need = maxc + http_conn_reserve(maxc) + 3 * 16 +
			   4 * (o->delivery_workers ? o->delivery_workers : 4) + 64 + 128 +
			   (o->metrics_listen ? 64 + http_conn_reserve(64) : 0);
	unsigned fd_soft = 0;
	TRY_GOTO(aimd_fd_budget(fd_need, &fd_soft), out);
	/* Bound and listening, serving nothing yet. */
	if (o->role != AIMD_ROLE_DELIVER) /* --role deliver: no HTTP */
		TRY_GOTO(http_server_open(&cfg, aimd_app_handle, &a, &srv), out);
	struct http_server_config mcfg = { .listen = o->metrics_listen, .max_body = 4096,
					   .max_per_ip = 16, .max_connections = 64,
					   .workers = 2, .loop_threads = 1 };
	if (o->metrics_listen)
		TRY_GOTO(http_server_open(&mcfg, aimd_metrics_handle, &a, &msrv), out);
	struct delivery_config dc;
	TRY_GOTO(aimd_delivery_config_from_serve(o, &dc), out);
	opened = true;
	TRY_GOTO(app_open(&a, o), out);
	if (o->streams_per_user)
		a.wake.per_user = o->streams_per_user;
	/* Outbound federation: delivery workers, resuming what is pending. */
	if (o->role != AIMD_ROLE_HTTP)
		TRY_GOTO(aimd_delivery_start(&a, &dc, &a.dlv), out);
	aimd_events_start(&a); /* other processes' commits wake streams and workers */
	/* The metrics listener first: once the main one answers, its line is
	 * printed already. */
	if (msrv) {
		TRY_GOTO(http_server_run(msrv), out);
		printf("aimd: metrics on %s/metrics\n", http_server_url(msrv));
		fflush(stdout);
	}
	if (srv)
		TRY_GOTO(http_server_run(srv), out);
	if (srv)
		printf("aimd: listening on %s\n", http_server_url(srv));
	else
		printf("aimd: delivering (--role deliver: no HTTP)\n");
	fflush(stdout);
	aim_log(AIM_LOG_INFO, "aimd", "serving %s for domain %s", a.base, a.domain);
	int sig = 0;
	while (sigwait(&set, &sig) != 0)
		;
	aim_log(AIM_LOG_INFO, "aimd", "signal %d: shutting down", sig);
	/* Streams end first, then requests in flight get a moment to finish. */
	aimd_events_stop(&a);
	aimd_sse_wake_stop(&a.wake);
	http_server_stop(srv, 5000);
	srv = NULL;
	http_server_stop(msrv, 1000);
	msrv = NULL;
	/* Then the workers: an attempt in flight is abandoned and recorded. */
	aimd_delivery_stop(a.dlv);
	a.dlv = NULL;
	aim_log(AIM_LOG_INFO, "aimd", "delivery workers stopped");
	aim_log(AIM_LOG_INFO, "aimd", "stopped");
out:
	http_server_stop(srv, 0); /* only when start-up failed half way */
	http_server_stop(msrv, 0);
	if (opened)
		app_free(&a);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}
