/*
 * aim: the command-line client, on the client library (src/client). One
 * home directory is one device of one user: HOME/aim.db, the library's
 * SQLite store (mode 0600: it holds the private keys), in a directory of
 * mode 0700. Every command opens the store, does its work through the
 * library and prints the result as text or, with --json, as one JSON
 * object (listen and chat: one per line). Errors are one line on stderr:
 * exit status 1 for a failure, 2 for a usage error.
 *
 * How the device reaches its server (--ca-file, --connect-to) is given at
 * login and kept in the store ("cli/transport"); later commands may give
 * them again to override.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base.h"
#include "client/client.h"

#define TRANSPORT_KEY "cli/transport"

#include "aim.h"

static struct client_io io;
static bool io_sqlite, io_curl;
struct client *cl;
volatile sig_atomic_t stop;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

/* One line: newlines of a message become spaces. */
void one_line(const char *prefix, const char *msg)
{
	fprintf(stderr, "aim: %s", prefix);
	for (const char *p = msg; *p; p++)
		fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
	fputc('\n', stderr);
}

int usage_error(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	one_line("", buf);
	return 2;
}

/* The library's last error as the command's one line; exit status 1. */
int failed(const char *what)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s: %s", what, aim_errmsg()[0] ? aim_errmsg() : "failed");
	one_line("", buf);
	return 1;
}

void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s ? s : "{}");
	fflush(stdout);
	free(s);
	json_decref(o);
}

static bool parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

/* Parses argv (after the command name). Known options: the common ones and
 * those named in `allowed` (a space-separated list). */
static int parse_opts(int argc, char **argv, const char *allowed, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++) {
				if (o->n_pos >= AIM_ARRAY_LEN(o->pos))
					return usage_error("too many arguments");
				o->pos[o->n_pos++] = argv[i];
			}
			break;
		}
		if (a[0] != '-' || a[1] == 0) {
			if (o->n_pos >= AIM_ARRAY_LEN(o->pos))
				return usage_error("too many arguments");
			o->pos[o->n_pos++] = a;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			o->help = true;
			continue;
		}
		if (strcmp(a, "--raw") == 0 && strstr(allowed, "--raw")) {
			o->raw = true;
			continue;
		}
		if (strcmp(a, "--remove") == 0 && strstr(allowed, "--remove")) {
			o->remove = true;
			continue;
		}
		if (strcmp(a, "--poll") == 0 && strstr(allowed, "--poll")) {
			o->poll = true;
			continue;
		}
		if (strcmp(a, "--stdin") == 0 && strstr(allowed, "--stdin")) {
			o->stdin_lines = true;
			continue;
		}
		/* options with a value */
		char name[64];
		snprintf(name, sizeof name, "%s", a);
		const char *val = NULL;
		char *eq = strchr(name, '=');
		if (eq) {
			*eq = 0;
			val = a + (eq - name) + 1;
		}
		bool common = strcmp(name, "--home") == 0 || strcmp(name, "--ca-file") == 0 ||
			      strcmp(name, "--connect-to") == 0;
		char needle[80];
		snprintf(needle, sizeof needle, "%s ", name);
		char hay[256];
		snprintf(hay, sizeof hay, "%s ", allowed);
		if (!common && !strstr(hay, needle))
			return usage_error("unknown option %s (see --help)", name);
		if (!val) {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", name);
			val = argv[++i];
		}
		if (strcmp(name, "--home") == 0)
			o->home = val;
		else if (strcmp(name, "--ca-file") == 0)
			o->ca_file = val;
		else if (strcmp(name, "--connect-to") == 0) {
			if (o->n_connect_to >= AIM_ARRAY_LEN(o->connect_to))
				return usage_error("too many --connect-to");
			o->connect_to[o->n_connect_to++] = val;
		} else if (strcmp(name, "--user") == 0)
			o->user = val;
		else if (strcmp(name, "--token") == 0)
			o->token = val;
		else if (strcmp(name, "--device") == 0)
			o->device = val;
		else if (strcmp(name, "--to") == 0)
			o->to = val;
		else {
			long *dst = strcmp(name, "--keys") == 0	       ? &o->keys
				    : strcmp(name, "--threshold") == 0 ? &o->threshold
				    : strcmp(name, "--target") == 0    ? &o->target
				    : strcmp(name, "--interval") == 0  ? &o->interval_ms
								       : &o->count;
			if (!parse_long(val, dst))
				return usage_error("%s: not a number: %s", name, val);
		}
	}
	return 0;
}

/* ---- Home and store -------------------------------------------------------------- */

static char *default_home(void)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	if (xdg && xdg[0] == '/')
		return aim_xasprintf("%s/aim", xdg);
	const char *h = getenv("HOME");
	if (!h || !h[0])
		return NULL;
	return aim_xasprintf("%s/.local/share/aim", h);
}

/* mkdir -p; the last component (the home itself) 0700. */
static int make_home(const char *home)
{
	char *p = aim_xstrdup(home);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return aim_fail(AIM_ERR_STORAGE, "cannot create %s: %s", home, strerror(e));
		}
		*s = '/';
	}
	free(p);
	if (mkdir(home, 0700) != 0 && errno != EEXIST)
		return aim_fail(AIM_ERR_STORAGE, "cannot create %s: %s", home, strerror(errno));
	struct stat st;
	ENSURE(stat(home, &st) == 0 && S_ISDIR(st.st_mode), AIM_ERR_STORAGE,
	       "%s is not a directory", home);
	return 0;
}

static char *db_path(const char *home)
{
	return aim_xasprintf("%s/aim.db", home);
}

static int open_store(const struct opts *o, bool create)
{
	char *path = db_path(o->home);
	if (!create && access(path, F_OK) != 0) {
		free(path);
		return aim_fail(AIM_ERR_NOTFOUND, "no device in %s (run aim login first)", o->home);
	}
	TRY(make_home(o->home));
	memset(&io, 0, sizeof io);
	int rc = client_sqlite_open(path, &io);
	free(path);
	TRY(rc);
	io_sqlite = true;
	return 0;
}

/* The transport options: those given, else those kept at login. */
static int open_http(const struct opts *o)
{
	const char *cts[32];
	size_t n = 0;
	const char *ca = o->ca_file;
	json_t *kept = NULL;
	struct aim_buf v;
	aim_buf_init(&v, 65536);
	if (io.kv_get(io.kv_ctx, TRANSPORT_KEY, &v) == 0)
		kept = json_loadb((const char *)v.data, v.len, 0, NULL);
	aim_errclear();
	aim_buf_free(&v);
	if (!ca && kept)
		ca = json_string_value(json_object_get(kept, "caFile"));
	if (o->n_connect_to) {
		for (size_t i = 0; i < o->n_connect_to; i++)
			cts[n++] = o->connect_to[i];
	} else if (kept) {
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(kept, "connectTo"), i, x)
			if (n < 32 && json_is_string(x))
				cts[n++] = json_string_value(x);
	}
	struct client_curl_opts co = { .ca_file = ca, .connect_to = cts, .n_connect_to = n };
	if (getenv("AIM_HTTP_TIMEOUT_MS"))
		co.timeout_ms = atol(getenv("AIM_HTTP_TIMEOUT_MS"));
	int rc = client_curl_open(&co, &io);
	json_decref(kept);
	TRY(rc);
	io_curl = true;
	return 0;
}

static int save_transport(const struct opts *o)
{
	json_t *t = json_object();
	if (o->ca_file) {
		char *abs = realpath(o->ca_file, NULL);
		json_object_set_new(t, "caFile", json_string(abs ? abs : o->ca_file));
		free(abs);
	}
	json_t *ct = json_array();
	for (size_t i = 0; i < o->n_connect_to; i++)
		json_array_append_new(ct, json_string(o->connect_to[i]));
	json_object_set_new(t, "connectTo", ct);
	char *s = json_dumps(t, JSON_COMPACT);
	json_decref(t);
	int rc = io.kv_put(io.kv_ctx, TRANSPORT_KEY, AIM_BYTES(s, strlen(s)));
	free(s);
	return rc;
}

/* Progress of a long operation on stderr (never on stdout, so --json
 * output stays one object): shown for 10 or more items, or when stderr is
 * a terminal; "verifying" every tenth of the way. */
#define PROGRESS_MIN 10
static void on_progress(void *arg, const char *stage, size_t done, size_t total)
{
	(void)arg;
	if (strcmp(stage, "joining") == 0) {
		/* tests only: hold an external join between the GroupInfo and
		 * the commit's POST, so that another commit can win the epoch */
		const char *d = getenv("AIM_TEST_JOIN_DELAY_MS");
		if (d && *d) {
			fprintf(stderr, "aim: holding the external commit %s ms (tests)\n", d);
			fflush(stderr);
			poll(NULL, 0, atoi(d));
		}
		return;
	}
	static size_t big; /* the size of the operation, from its claim */
	if (strcmp(stage, "claiming") == 0)
		big = total;
	if (big < PROGRESS_MIN && !isatty(2))
		return;
	if (strcmp(stage, "verifying") == 0) {
		if (done != total && (done * 10 / (total ? total : 1)) ==
					     ((done - 1) * 10 / (total ? total : 1)))
			return;
		fprintf(stderr, "aim: verified the KeyPackages of %zu/%zu handles\n", done, total);
	} else if (strcmp(stage, "claiming") == 0) {
		fprintf(stderr, "aim: claiming KeyPackages of %zu handles\n", total);
	} else if (strcmp(stage, "committing") == 0) {
		fprintf(stderr, "aim: committing %zu devices\n", total);
	} else if (strcmp(stage, "sending") == 0) {
		fprintf(stderr, "aim: sending the commit to the hub\n");
	} else {
		fprintf(stderr, "aim: %s %zu/%zu\n", stage, done, total);
	}
	fflush(stderr);
}

/* Opens the device of the home (store + HTTP). */
int open_device(const struct opts *o)
{
	TRY(open_store(o, false));
	TRY(open_http(o));
	TRY(client_open(&io, &cl));
	client_set_progress(cl, on_progress, NULL);
	return 0;
}

static void close_all(void)
{
	client_free(cl);
	cl = NULL;
	if (io_curl)
		client_curl_close(&io);
	if (io_sqlite)
		client_sqlite_close(&io);
	io_curl = io_sqlite = false;
}

void when(int64_t t, char out[21])
{
	if (t > 0)
		aim_time_rfc3339(t, out);
	else
		snprintf(out, 21, "-");
}

/* ---- Identity commands ------------------------------------------------------------- */

static int cmd_login(struct opts *o)
{
	if (o->n_pos != 1)
		return usage_error("login: SERVER_URL required (see aim login --help)");
	if (!o->user || !o->token)
		return usage_error("login: --user NAME and --token TOKEN required");
	const char *server = o->pos[0];
	if (!aim_str_has_prefix(server, "https://") && !aim_str_has_prefix(server, "http://"))
		return usage_error("login: SERVER_URL must start with https:// or http://");
	char devbuf[CLIENT_DEVICE_MAX + 1];
	if (!o->device) {
		char host[64] = "";
		gethostname(host, sizeof host - 1);
		size_t k = 0;
		for (size_t i = 0; host[i] && k < 24; i++) {
			char ch = host[i];
			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')
				devbuf[k++] = ch;
		}
		devbuf[k] = 0;
		char id[CLIENT_CONTENT_ID_MAX + 1];
		if (client_content_new_id(id) != 0)
			return failed("login");
		snprintf(devbuf + k, sizeof devbuf - k, "%s%.8s", k ? "-" : "aim-", id);
		o->device = devbuf;
	}
	long keys = o->keys ? o->keys : 20;
	if (keys > 1000)
		return usage_error("login: --keys at most 1000");
	char *path = db_path(o->home);
	bool existed = access(path, F_OK) == 0;
	int rc = 1;
	if (open_store(o, true) != 0) {
		rc = failed("login");
		goto out;
	}
	if (open_http(o) != 0) {
		rc = failed("login");
		goto out;
	}
	struct client *probe = NULL;
	if (client_open(&io, &probe) == 0) {
		char buf[1024];
		snprintf(buf, sizeof buf,
			 "login: %s already holds device %s of %s%s%s (use another --home)", o->home,
			 client_device_id(probe), client_user(probe), client_acct(probe)[0] ? " " : "",
			 client_acct(probe));
		client_free(probe);
		one_line("", buf);
		goto out;
	}
	if (aim_errcode() != AIM_ERR_NOTFOUND) {
		rc = failed("login");
		goto out;
	}
	aim_errclear();
	if (save_transport(o) != 0) {
		rc = failed("login");
		goto out;
	}
	struct client_config cfg = {
		.server = server, .user = o->user, .token = o->token, .device = o->device,
	};
	size_t published = 0;
	if (client_create(&io, &cfg, &cl) != 0) {
		rc = failed("login");
		goto out;
	}
	if (client_register(cl) != 0) {
		rc = failed("login: registering the device");
		goto out;
	}
	if (client_publish(cl, (size_t)keys, true, &published) != 0) {
		rc = failed("login: publishing KeyPackages");
		goto out;
	}
	char na[21];
	when(client_cert_not_after(cl), na);
	if (o->json) {
		print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "acct", client_acct(cl),
				     "device", client_device_id(cl), "server", client_server(cl),
				     "user", client_user(cl), "notAfter", na,
				     "published", (json_int_t)published));
	} else {
		printf("logged in as %s, device %s\n", client_acct(cl), client_device_id(cl));
		printf("certificate valid until %s\n", na);
		printf("published %zu KeyPackages (one last-resort)\n", published);
	}
	rc = 0;
out:
	if (rc != 0 && !existed) {
		/* nothing half-made stays behind: the next login starts afresh */
		close_all();
		unlink(path);
		char *w = aim_xasprintf("%s-wal", path), *s = aim_xasprintf("%s-shm", path);
		unlink(w);
		unlink(s);
		free(w);
		free(s);
	}
	free(path);
	return rc;
}

static int cmd_whoami(struct opts *o)
{
	if (o->n_pos)
		return usage_error("whoami takes no arguments");
	if (open_device(o) != 0)
		return failed("whoami");
	int64_t na = client_cert_not_after(cl), now = aim_now();
	char nas[21];
	when(na, nas);
	const char *state = !client_acct(cl)[0] ? "unregistered" : na <= now ? "expired" : "valid";
	if (o->json) {
		print_json(json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:s}", "acct",
				     client_acct(cl), "device", client_device_id(cl), "user",
				     client_user(cl), "server", client_server(cl), "suite",
				     (int)client_suite(cl), "certificate", state, "notAfter", nas,
				     "secondsLeft", (json_int_t)(na > now ? na - now : 0), "home",
				     o->home));
		return 0;
	}
	printf("acct         %s\n", client_acct(cl)[0] ? client_acct(cl) : "(not registered)");
	printf("device       %s\n", client_device_id(cl));
	printf("server       %s\n", client_server(cl));
	printf("suite        %u\n", (unsigned)client_suite(cl));
	if (na > now)
		printf("certificate  valid until %s (%lld days left)\n", nas,
		       (long long)((na - now) / 86400));
	else
		printf("certificate  %s%s%s\n", state, na ? " since " : "", na ? nas : "");
	printf("home         %s\n", o->home);
	return 0;
}

static int cmd_devices(struct opts *o)
{
	if (o->n_pos)
		return usage_error("devices takes no arguments");
	if (open_device(o) != 0)
		return failed("devices");
	char *url = aim_xasprintf("%s/users/%s/devices", client_server(cl), client_user(cl));
	struct aim_buf body;
	aim_buf_init(&body, CLIENT_MAX_RESPONSE);
	int rc = client_proxy_get(cl, url, "application/json", &body);
	free(url);
	if (rc != 0) {
		aim_buf_free(&body);
		return failed("devices");
	}
	json_t *doc = json_loadb((const char *)body.data, body.len, 0, NULL);
	aim_buf_free(&body);
	json_t *list = json_object_get(doc, "devices");
	if (!json_is_array(list)) {
		json_decref(doc);
		aim_fail(AIM_ERR_REMOTE, "the server's answer has no device list");
		return failed("devices");
	}
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d)
		json_object_set_new(d, "this", json_boolean(strcmp(json_string_value(json_object_get(d, "device")) ?: "",
								     client_device_id(cl)) == 0));
	if (o->json) {
		print_json(json_pack("{s:s, s:O}", "acct", client_acct(cl), "devices", list));
		json_decref(doc);
		return 0;
	}
	printf("%-24s %-8s %-21s %s\n", "DEVICE", "STATE", "CERTIFICATE UNTIL", "KEYPACKAGES");
	json_array_foreach(list, i, d) {
		printf("%-24s %-8s %-21s %lld%s\n", json_string_value(json_object_get(d, "device")) ?: "?",
		       json_is_true(json_object_get(d, "revoked")) ? "revoked" : "active",
		       json_string_value(json_object_get(d, "notAfter")) ?: "-",
		       (long long)json_integer_value(json_object_get(d, "keyPackages")),
		       json_is_true(json_object_get(d, "this")) ? "  (this device)" : "");
	}
	json_decref(doc);
	return 0;
}

static int print_stock(struct opts *o, const struct client_stock *s, long published, bool topup)
{
	if (o->json) {
		json_t *j = json_pack("{s:I, s:b, s:I}", "available", (json_int_t)s->available,
				      "lastResort", s->last_resort, "stored", (json_int_t)s->stored);
		if (topup)
			json_object_set_new(j, "published", json_integer(published));
		print_json(j);
		return 0;
	}
	if (topup)
		printf("published %ld KeyPackages\n", published);
	printf("available    %lld on the server\n", (long long)s->available);
	printf("last resort  %s\n", s->last_resort ? "yes" : "none");
	printf("stored       %zu private parts on this device\n", s->stored);
	return 0;
}

static int cmd_stock(struct opts *o)
{
	if (o->n_pos)
		return usage_error("stock takes no arguments");
	struct client_stock s;
	if (open_device(o) != 0 || client_stock(cl, &s) != 0)
		return failed("stock");
	return print_stock(o, &s, 0, false);
}

static int cmd_keys(struct opts *o)
{
	if (o->n_pos != 1 || strcmp(o->pos[0], "topup") != 0)
		return usage_error("keys: the subcommand is topup (see aim keys --help)");
	long threshold = o->threshold ? o->threshold : 10, target = o->target ? o->target : 20;
	if (target < threshold || target > 1000)
		return usage_error("keys topup: --target must be >= --threshold and <= 1000");
	size_t pub = 0;
	struct client_stock s;
	if (open_device(o) != 0 || client_topup(cl, threshold, target, &pub) != 0 ||
	    client_stock(cl, &s) != 0)
		return failed("keys topup");
	return print_stock(o, &s, (long)pub, true);
}

static int cmd_verify(struct opts *o)
{
	if (o->n_pos < 1)
		return usage_error("verify: HANDLE required");
	const char *handles[MAX_LIST];
	char *owned[MAX_LIST];
	size_t n = 0;
	for (size_t i = 0; i < o->n_pos && n < MAX_LIST; i++) {
		const char *h = o->pos[i];
		owned[n] = aim_str_has_prefix(h, "acct:") ? aim_xstrdup(h) : aim_xasprintf("acct:%s", h);
		handles[n] = owned[n];
		n++;
	}
	struct client_claim_result *r = NULL;
	size_t nr = 0;
	int rc = 0;
	if (open_device(o) != 0 || client_claim(cl, handles, n, &r, &nr) != 0) {
		rc = failed("verify");
		goto out;
	}
	json_t *arr = json_array();
	bool all_ok = true;
	for (size_t i = 0; i < nr; i++) {
		json_t *devs = json_array();
		if (!o->json)
			printf("%s%s%s\n", r[i].handle, r[i].actor[0] ? "  " : "", r[i].actor);
		if (r[i].error[0]) {
			all_ok = false;
			if (!o->json)
				printf("  refused by the server: %s%s%s\n", r[i].error,
				       r[i].detail[0] ? ": " : "", r[i].detail);
		} else if (r[i].n_kps == 0) {
			all_ok = false;
			if (!o->json)
				printf("  no KeyPackage (no device)\n");
		}
		for (size_t k = 0; k < r[i].n_kps; k++) {
			struct client_claimed *c = &r[i].kps[k];
			char na[21];
			when(c->verdict.not_after, na);
			if (!c->valid)
				all_ok = false;
			json_array_append_new(
				devs, json_pack("{s:s, s:b, s:s, s:s, s:s, s:b, s:s}", "device", c->device,
						"valid", c->valid, "check",
						client_check_name(c->verdict.check), "acct",
						c->verdict.acct, "reason",
						c->valid ? c->verdict.reason : c->error, "lastResort",
						c->last_resort, "notAfter", na));
			if (o->json)
				continue;
			if (!c->valid)
				printf("  device %s: REFUSED: %s\n", c->device, c->error);
			else if (c->verdict.check == CLIENT_CHECK_X509)
				printf("  device %s: vouched for by x509 (%s), certificate until %s%s\n",
				       c->device, c->verdict.reason, na,
				       c->last_resort ? ", last-resort KeyPackage" : "");
			else
				printf("  device %s: vouched for by %s (%s)%s\n", c->device,
				       client_check_name(c->verdict.check), c->verdict.reason,
				       c->last_resort ? ", last-resort KeyPackage" : "");
		}
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:o}", "handle", r[i].handle,
						     "actor", r[i].actor, "error", r[i].error, "detail",
						     r[i].detail, "devices", devs));
	}
	if (o->json)
		print_json(json_pack("{s:o, s:b}", "results", arr, "ok", all_ok));
	else
		json_decref(arr);
	rc = all_ok ? 0 : 1;
	if (!all_ok)
		one_line("", "verify: not every device of every handle was vouched for");
out:
	client_claim_results_free(r, nr);
	for (size_t i = 0; i < n; i++)
		free(owned[i]);
	return rc;
}

/* ---- Dispatch ---------------------------------------------------------------------- */

struct command {
	const char *name;
	int (*run)(struct opts *);
	const char *options; /* the command's own options */
	const char *usage;
	const char *help;
};

static const struct command commands[] = {
	{ "login", cmd_login, "--user --token --device --keys",
	  "login SERVER_URL --user NAME --token TOKEN [--device ID] [--keys N]\n"
	  "          [--ca-file FILE] [--connect-to HOST:PORT:ADDR:PORT]...",
	  "Makes this home a new device of NAME on the server at SERVER_URL (its BASE URL):\n"
	  "a fresh signature key, its X.509 certificate from the server's CA (a CSR), and N\n"
	  "KeyPackages (default 20) plus a last-resort one. --device names the device (1-64 of\n"
	  "A-Z a-z 0-9 _ -; default: the host name and a random suffix). --ca-file (a PEM bundle\n"
	  "to trust) and --connect-to (curl's mapping, repeatable) are kept for later commands.\n"
	  "A home holds one device: a second login there is refused." },
	{ "whoami", cmd_whoami, "", "whoami",
	  "Prints this device's acct: URI, device id, server, cipher suite and certificate\n"
	  "validity (from the local state; no network). Also: aim identity." },
	{ "identity", cmd_whoami, "", "identity", "The same as whoami." },
	{ "devices", cmd_devices, "", "devices",
	  "Lists the devices of this account as the server knows them: id, active or revoked,\n"
	  "certificate end, KeyPackages left; marks this one." },
	{ "stock", cmd_stock, "", "stock",
	  "Prints this device's KeyPackage stock: how many the server has left to hand out,\n"
	  "whether it holds a last-resort one, and how many private parts are kept here." },
	{ "keys", cmd_keys, "--threshold --target", "keys topup [--threshold N] [--target N]",
	  "Publishes KeyPackages up to --target (default 20) when fewer than --threshold\n"
	  "(default 10) are left on the server, and a last-resort one if it has none." },
	{ "verify", cmd_verify, "", "verify HANDLE...",
	  "Claims one KeyPackage of each device of each handle (acct:user@domain, or\n"
	  "user@domain) through the home server and checks it: prints, per device, which check\n"
	  "vouched for it (x509: the domain's CA certified the key; keypackage-listing: the\n"
	  "actor lists it) or why it was refused. A claim consumes one KeyPackage per device.\n"
	  "Exit status 1 unless every device was vouched for." },
	{ "channel", cmd_channel, "", "channel create NAME [HANDLE...]",
	  "Creates a channel NAME on the home server with this account as its owner and the\n"
	  "handles (acct:user@domain or user@domain, commas or spaces) as its first members:\n"
	  "their KeyPackages are claimed, an MLS group made and its first Commit and Welcome\n"
	  "sent. Prints the channel's URL." },
	{ "invite", cmd_invite, "", "invite CHANNEL HANDLE...",
	  "Adds the handles' devices to the channel (an MLS Commit of Adds and a Welcome).\n"
	  "CHANNEL: its URL, its number in aim conversations, or the unique end of its URL." },
	{ "remove", cmd_remove, "", "remove CHANNEL HANDLE...",
	  "Removes every device of the handles from the channel (an MLS Commit of Removes)." },
	{ "send", cmd_send, "--to --stdin",
	  "send CONVERSATION TEXT... | send --to HANDLE[,HANDLE] TEXT... | send --stdin CONVERSATION",
	  "Sends TEXT (the arguments joined by spaces; - reads it from stdin) as a text message\n"
	  "of the content format (docs/content.md) to a conversation, or with --to to the DM\n"
	  "of exactly those handles and this account (made on first use). --stdin: one message\n"
	  "per line of stdin, all from this one process." },
	{ "conversations", cmd_conversations, "", "conversations",
	  "Lists this device's conversations (channels and DMs): number, kind, URL or DM id,\n"
	  "MLS epoch, members. The number names the conversation in other commands." },
	{ "members", cmd_members, "", "members CONVERSATION",
	  "Lists each device of each member of the conversation with the check that vouched\n"
	  "for its credential: x509 (the domain's CA certified its key) or keypackage-listing\n"
	  "(its actor lists the KeyPackage), and a fingerprint of its signature key. A member\n"
	  "whose credential changed since this device first saw it (a new key or certificate,\n"
	  "or a new device) is marked; listen, chat and history warn of it when it happens." },
	{ "leave", cmd_leave, "", "leave CONVERSATION",
	  "Leaves the conversation: a self-remove proposal to its hub, which the next commit\n"
	  "must include (the device that made the channel commits it on its next sync). This\n"
	  "device sends no more there at once; the commit ends the group for it." },
	{ "join", cmd_join, "", "join",
	  "Joins this device into every conversation of the account it is not in yet, found\n"
	  "in the inbox the server keeps: by external commit with the hub's GroupInfo, or, where\n"
	  "the hub gives none or refuses, it says so and waits for a Welcome from another device\n"
	  "(aim invite CONVERSATION OWN-HANDLE there). A conversation in which this device fell\n"
	  "too far behind (a handshake it cannot apply) is rejoined by external commit, its old\n"
	  "leaf removed in the same commit (listen does this by itself and says so)." },
	{ "rotate", cmd_rotate, "", "rotate CONVERSATION",
	  "Rotates this device's keys in the conversation: an MLS Update commit with a path\n"
	  "(post-compromise security) through the hub; waits until the hub's Announce of it\n"
	  "came back and prints the new epoch." },
	{ "history", cmd_history, "--count --raw", "history CONVERSATION [--count N] [--raw]",
	  "Prints the conversation as this device has it, oldest first (the last N with\n"
	  "--count): each message with the start of its id, sender and text, after the content\n"
	  "format's rules (edits and deletes only from the original sender, reactions beside\n"
	  "it, unknown types shown as such). --raw: every message as received. Run aim listen\n"
	  "(or chat) to fetch new ones." },
	{ "reply", cmd_reply, "", "reply CONVERSATION MESSAGE_ID TEXT...",
	  "Sends TEXT as a reply to the message (its id, or the unique start of it, as\n"
	  "aim history shows)." },
	{ "react", cmd_react, "--remove", "react CONVERSATION MESSAGE_ID REACTION [--remove]",
	  "Sends a reaction (1-64 bytes, e.g. an emoji) to the message; --remove takes one's\n"
	  "own back." },
	{ "edit", cmd_edit, "", "edit CONVERSATION MESSAGE_ID TEXT...",
	  "Replaces the text of one's own message (others ignore an edit of another's)." },
	{ "delete", cmd_delete, "", "delete CONVERSATION MESSAGE_ID",
	  "Deletes one's own message for every member (others ignore a delete of another's)." },
	{ "listen", cmd_listen, "--interval --count --poll",
	  "listen [CONVERSATION] [--interval MS] [--count N] [--poll]",
	  "Follows the home server's inbox: catches up from where this device stopped, then\n"
	  "follows the inbox's event stream (SSE), applies the MLS handshakes in order, and\n"
	  "prints every new decrypted message as it arrives (of every conversation, or of one)\n"
	  "until Ctrl-C, or until N messages were printed. The inbox position is kept in the\n"
	  "home: nothing applied is fetched again. A broken stream is caught up and reopened\n"
	  "after MS ms (default 300); --poll pages the inbox every MS ms instead of streaming." },
	{ "chat", cmd_chat, "--interval", "chat CONVERSATION [--interval MS]",
	  "Interactive: shows the conversation's last messages and new ones as they arrive,\n"
	  "and sends each line typed. /quit or Ctrl-D ends." },
};

static void print_help(void)
{
	printf("aim: the aim messaging client (one device per home directory)\n\n"
	       "usage: aim [--home DIR] COMMAND [ARGS] [--json] [--help]\n\n"
	       "commands:\n");
	for (size_t i = 0; i < AIM_ARRAY_LEN(commands); i++)
		printf("  aim %s\n", commands[i].usage);
	printf("\noptions of every command:\n"
	       "  --home DIR          the device's home (default ~/.local/share/aim; the state\n"
	       "                      file DIR/aim.db is mode 0600, DIR 0700)\n"
	       "  --json              machine-readable output (one JSON object; listen, chat:\n"
	       "                      one per line)\n"
	       "  --ca-file FILE      trust this PEM CA bundle for the server (kept at login)\n"
	       "  --connect-to H:P:A:P  reach H:P at A:P (repeatable; kept at login)\n"
	       "  --help              the command's help\n\n"
	       "Errors are one line on stderr; exit status 1 on failure, 2 on a usage error.\n"
	       "aim COMMAND --help tells more of each.\n");
}

int main(int argc, char **argv)
{
	struct opts o;
	memset(&o, 0, sizeof o);
	int i = 1;
	/* options before the command */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_help();
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			o.json = true;
		} else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			o.home = argv[++i];
		} else if (aim_str_has_prefix(argv[i], "--home=")) {
			o.home = argv[i] + 7;
		} else {
			return usage_error("unknown option %s (see aim --help)", argv[i]);
		}
	}
	if (i >= argc)
		return usage_error("no command (see aim --help)");
	const char *name = argv[i++];
	if (strcmp(name, "help") == 0) {
		print_help();
		return 0;
	}
	const struct command *cmd = NULL;
	for (size_t k = 0; k < AIM_ARRAY_LEN(commands); k++)
		if (strcmp(commands[k].name, name) == 0)
			cmd = &commands[k];
	if (!cmd)
		return usage_error("unknown command %s (see aim --help)", name);
	int rc = parse_opts(argc - i, argv + i, cmd->options, &o);
	if (rc != 0)
		return rc;
	if (o.help) {
		printf("usage: aim [--home DIR] %s [--json]\n\n%s\n", cmd->usage, cmd->help);
		return 0;
	}
	char *home = NULL;
	if (!o.home) {
		home = default_home();
		if (!home)
			return usage_error("no --home and no HOME in the environment");
		o.home = home;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rc = cmd->run(&o);
	close_all();
	free(home);
	return rc;
}
