/*
 * Operations: `aimd doctor`, what an operator runs when something is off
 * (or before a start). Each check prints one line, "ok: CHECK: what was
 * found", or one line per problem, "problem: CHECK: what is wrong and
 * where"; the command exits 0 when there is no problem, 1 otherwise. It
 * changes nothing (the database is opened without migrating) and works
 * while aimd serve runs.
 *
 * The checks, in order:
 *   database   the store opens and answers; its schema version against
 *              this build's (a pending migration: run aimd migrate; a newer
 *              schema: a newer aimd ran on it)
 *   integrity  the store's own check (SQLite: quick_check), as aimd serve
 *              runs it at start-up
 *   config     the settings aimd init wrote: the domain and the base URL,
 *              present and valid
 *   keys       the data directory and the database (it holds the users'
 *              private keys) and the CA folder closed to others (0700 /
 *              0600), every CA certificate's key file present, mode 0600
 *              and a readable private key, the instance actor's keys
 *              readable
 *   clock      nothing outside is reachable to compare with, so: the wall
 *              clock is after the day this aimd was built, it advances with
 *              the monotonic clock (no step in a short sample), and it is
 *              not behind the newest time written in the database (users,
 *              CA certificates)
 *   tls        with --tls-cert and --tls-key: both readable, the key 0600,
 *              the key belongs to the certificate, the certificate valid now
 *              (and how long it still is) and naming the host clients
 *              connect to (the base URL's host when it is https, else the
 *              domain)
 */
#include "server/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/url.h"
#include "crypto/crypto.h"
#include "server/ca.h"

#define FILE_MAX (1024 * 1024)
/* A clock ahead of the newest record by less is fine (several processes, skew). */
#define CLOCK_BEHIND_SLACK_S 300
/* The wall clock may drift from the monotonic one by this much in a sample. */
#define CLOCK_SAMPLE_MS 100
#define CLOCK_AGREE_MS 50
#define TLS_RENEW_DAYS 14

struct doctor {
	const char *dir;
	char *name;                  /* the store, for messages (aimd_store_display) */
	int problems;
	int checks;
};

/* One line, whatever the text holds (a library's message may span lines). */
AIM_PRINTF(3, 4) static void line(struct doctor *d, bool ok, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	size_t o = 0;
	for (size_t i = 0; text[i]; i++) {
		char c = text[i] == '\n' || text[i] == '\t' || text[i] == '\r' ? ' ' : text[i];
		if (c == ' ' && o > 0 && text[o - 1] == ' ')
			continue;
		text[o++] = c;
	}
	text[o] = 0;
	printf("%s%s\n", ok ? "ok: " : "problem: ", text);
	if (!ok)
		d->problems++;
}

/* Mode bits others than the owner hold (group, other). */
static bool open_to_others(mode_t m)
{
	return (m & 077) != 0;
}

/* Reads a whole small file (owned, NUL-terminated); -1 with a reason. */
static int read_file(const char *path, char **out, size_t *len, struct stat *sb)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ENSURE(fd >= 0, AIM_ERR_STORAGE, "cannot open it: %s", strerror(errno));
	if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode) || sb->st_size > FILE_MAX) {
		close(fd);
		return aim_fail(AIM_ERR_STORAGE, "not a regular file of at most 1 MiB");
	}
	size_t n = (size_t)sb->st_size, off = 0;
	char *p = aim_xmalloc(n + 1);
	while (off < n) {
		ssize_t r = read(fd, p + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	p[off] = 0;
	if (off != n) {
		aim_free_secret(p, n + 1);
		return aim_fail(AIM_ERR_STORAGE, "cannot read it");
	}
	*out = p;
	*len = n;
	return 0;
}

/* ---- database, integrity, config ------------------------------------------ */

static void check_database(struct doctor *d, struct store *st)
{
	d->checks++;
	int latest = 0, v = 0;
	if (store_schema_latest(st, &latest) != 0 || store_schema_version(st, &v) != 0) {
		line(d, false, "database: %s does not answer: %s", d->name, aim_errmsg());
		return;
	}
	if (v < latest)
		line(d, false,
		     "database: %s has schema version %d, this aimd's is %d: run aimd migrate "
		     "(aimd serve also migrates at start)",
		     d->name, v, latest);
	else if (v > latest)
		line(d, false,
		     "database: %s has schema version %d, newer than this aimd knows (%d): run a "
		     "newer aimd",
		     d->name, v, latest);
	else
		line(d, true, "database: %s (%s) answers, schema version %d (the latest)", d->name,
		     st->ops->name, v);
}

static void check_integrity(struct doctor *d, struct store *st)
{
	d->checks++;
	if (aimd_integrity_check(d->dir, st) != 0)
		line(d, false, "integrity: %s", aim_errmsg());
	else
		line(d, true, "integrity: %s: the integrity check found no damage", d->name);
}

/* The domain and the base URL; *domain and *base (owned) when present. */
static void check_config(struct doctor *d, struct store *st, char **domain, char **base)
{
	d->checks++;
	int before = d->problems;
	if (store_meta_get(st, "domain", domain) != 0)
		line(d, false, "config: no domain in %s (%s): not made by aimd init?", d->name,
		     aim_errmsg());
	else if (!aimd_valid_domain(*domain))
		line(d, false, "config: the domain \"%s\" is not a valid domain", *domain);
	if (store_meta_get(st, "base_url", base) != 0)
		line(d, false, "config: no base URL in %s (%s)", d->name, aim_errmsg());
	else if (!aimd_valid_base_url(*base))
		line(d, false, "config: the base URL \"%s\" is not an http(s) URL", *base);
	if (d->problems == before)
		line(d, true, "config: domain %s, base URL %s", *domain, *base);
}

/* ---- keys ------------------------------------------------------------------ */

struct ca_ids {
	int64_t id[64];
	size_t n;
};

static int ca_row(void *ctx, const struct store_ca_cert *c)
{
	struct ca_ids *ids = ctx;
	if (ids->n < AIM_ARRAY_LEN(ids->id))
		ids->id[ids->n++] = c->id;
	return 0;
}

/* A file that must be closed to others, if it exists (required: it must). */
static bool check_private_file(struct doctor *d, const char *path, bool required,
			       const char *why)
{
	struct stat sb;
	if (lstat(path, &sb) != 0) {
		if (required || errno != ENOENT) {
			line(d, false, "keys: %s: %s", path, strerror(errno));
			return false;
		}
		return true;
	}
	if (open_to_others(sb.st_mode)) {
		line(d, false, "keys: %s has mode %04o, want %s (%s)", path,
		     (unsigned)(sb.st_mode & 07777), S_ISDIR(sb.st_mode) ? "0700" : "0600", why);
		return false;
	}
	return true;
}

/* Any other file of the data directory (the lock, a store location that
 * may carry a password, what an operator left there) is closed to others
 * too. */
static void check_other_files(struct doctor *d)
{
	DIR *dh = opendir(d->dir);
	if (!dh)
		return; /* the directory itself was checked */
	struct dirent *e;
	while ((e = readdir(dh))) {
		if (e->d_name[0] == '.' || !strncmp(e->d_name, AIMD_DB_FILE, strlen(AIMD_DB_FILE)) ||
		    !strcmp(e->d_name, AIMD_CA_DIR))
			continue;
		char *p = aim_xasprintf("%s/%s", d->dir, e->d_name);
		check_private_file(d, p, false, "the data directory is the operator's only");
		free(p);
	}
	closedir(dh);
}

static void check_pem_key(struct doctor *d, const char *path)
{
	char *pem = NULL;
	size_t n = 0;
	struct stat sb;
	if (read_file(path, &pem, &n, &sb) != 0) {
		line(d, false, "keys: %s: %s", path, aim_errmsg());
		return;
	}
	struct aim_pkey *k = NULL;
	if (aim_pkey_from_private_pem(pem, n, &k) != 0)
		line(d, false, "keys: %s is not a readable private key (%s)", path, aim_errmsg());
	aim_pkey_free(k);
	aim_free_secret(pem, n + 1);
}

static void check_keys(struct doctor *d, struct store *st)
{
	d->checks++;
	int before = d->problems;
	char *p = aim_xasprintf("%s", d->dir);
	check_private_file(d, p, true, "it holds the database and the CA keys");
	free(p);
	static const char *const db_files[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < AIM_ARRAY_LEN(db_files); i++) {
		p = aim_xasprintf("%s/%s%s", d->dir, AIMD_DB_FILE, db_files[i]);
		check_private_file(d, p, false, "the database holds the users' private keys");
		free(p);
	}
	check_other_files(d);
	struct ca_ids ids = { .n = 0 };
	if (store_ca_cert_list(st, ca_row, &ids) != 0) {
		line(d, false, "keys: cannot list the CA certificates: %s", aim_errmsg());
	} else if (ids.n == 0) {
		line(d, false, "keys: the domain has no CA (aimd serve makes one at start)");
	} else {
		p = aim_xasprintf("%s/%s", d->dir, AIMD_CA_DIR);
		check_private_file(d, p, true, "it holds the CA keys");
		free(p);
		for (size_t i = 0; i < ids.n; i++) {
			p = aim_xasprintf("%s/%s/ca-%lld.key", d->dir, AIMD_CA_DIR,
					  (long long)ids.id[i]);
			if (check_private_file(d, p, true, "the CA's private key; aimd refuses it"))
				check_pem_key(d, p);
			free(p);
		}
	}
	/* The instance actor signs every fetch: its keys must load. */
	struct store_user u = { 0 };
	char *rsa = NULL, *ed = NULL;
	if (store_user_get(st, STORE_INSTANCE_NAME, &u) != 0 ||
	    store_user_private_keys(st, u.id, &rsa, &ed) != 0) {
		line(d, false, "keys: the instance actor's keys cannot be read: %s", aim_errmsg());
	} else {
		struct aim_pkey *k1 = NULL, *k2 = NULL;
		if (aim_pkey_from_private_pem(rsa, strlen(rsa), &k1) != 0 ||
		    aim_pkey_from_private_pem(ed, strlen(ed), &k2) != 0)
			line(d, false, "keys: the instance actor's keys in %s do not load: %s",
			     d->name, aim_errmsg());
		aim_pkey_free(k1);
		aim_pkey_free(k2);
	}
	if (rsa)
		aim_free_secret(rsa, strlen(rsa));
	if (ed)
		aim_free_secret(ed, strlen(ed));
	store_user_clear(&u);
	if (d->problems == before)
		line(d, true,
		     "keys: %s (0700) and its files (0600), %s/%s with %zu CA key%s (0600, "
		     "readable); the instance actor's keys load",
		     d->dir, d->dir, AIMD_CA_DIR, ids.n, ids.n == 1 ? "" : "s");
}

/* ---- clock ------------------------------------------------------------------ */

/* The day this file was compiled (00:00 UTC), from __DATE__ "Mmm dd yyyy". */
static int64_t build_day(void)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *s = __DATE__;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *m = strstr(months, (char[4]){ s[0], s[1], s[2], 0 });
	if (!m)
		return 0;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_mday = atoi(s + 4);
	tm.tm_year = atoi(s + 7) - 1900;
	return (int64_t)timegm(&tm);
}

static int64_t ms_of(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct newest {
	int64_t t;
};

static int newest_user(void *ctx, const struct store_user_info *u)
{
	struct newest *n = ctx;
	if (u->created > n->t)
		n->t = u->created;
	if (u->deleted > n->t)
		n->t = u->deleted;
	return 0;
}

static int newest_ca(void *ctx, const struct store_ca_cert *c)
{
	struct newest *n = ctx;
	if (c->created > n->t)
		n->t = c->created;
	return 0;
}

static void check_clock(struct doctor *d, struct store *st)
{
	d->checks++;
	int before = d->problems;
	char now_s[21], t_s[21];
	int64_t rt0 = ms_of(CLOCK_REALTIME), mo0 = ms_of(CLOCK_MONOTONIC);
	struct timespec nap = { 0, CLOCK_SAMPLE_MS * 1000000L };
	while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
		;
	int64_t rt1 = ms_of(CLOCK_REALTIME), mo1 = ms_of(CLOCK_MONOTONIC);
	int64_t now = rt1 / 1000;
	aim_time_rfc3339(now, now_s);
	int64_t built = build_day();
	if (built > 0 && now < built) {
		aim_time_rfc3339(built, t_s);
		line(d, false, "clock: the wall clock says %s, before this aimd was built (%s)",
		     now_s, t_s);
	}
	int64_t skew = (rt1 - rt0) - (mo1 - mo0);
	if (skew > CLOCK_AGREE_MS || skew < -CLOCK_AGREE_MS)
		line(d, false,
		     "clock: the wall clock moved %lld ms while the monotonic clock moved %lld ms "
		     "(it is being stepped)",
		     (long long)(rt1 - rt0), (long long)(mo1 - mo0));
	struct newest n = { 0 };
	if (store_user_list(st, newest_user, &n) == 0 && store_ca_cert_list(st, newest_ca, &n) == 0 &&
	    n.t > now + CLOCK_BEHIND_SLACK_S) {
		aim_time_rfc3339(n.t, t_s);
		line(d, false,
		     "clock: the wall clock says %s, behind the newest time written in the "
		     "database (%s): it went back",
		     now_s, t_s);
	}
	if (d->problems == before) {
		aim_time_rfc3339(built, t_s);
		line(d, true,
		     "clock: %s; after the build day (%.10s), advancing with the monotonic clock "
		     "(%lld ms in %lld ms), not behind the database's newest record",
		     now_s, t_s, (long long)(rt1 - rt0), (long long)(mo1 - mo0));
	}
}

/* ---- tls ------------------------------------------------------------------- */

/* The host clients connect to: the base URL's host when it is https (and
 * not an address), else the domain without a port. Owned. */
static char *tls_host(const char *domain, const char *base)
{
	struct aim_url u;
	memset(&u, 0, sizeof u);
	char *h = NULL;
	if (base && aim_url_parse(base, &u) == 0 && !strcmp(u.scheme, "https") && u.host &&
	    !strchr(u.host, ':') && strspn(u.host, "0123456789.") != strlen(u.host))
		h = aim_xstrdup(u.host);
	aim_url_free(&u);
	if (!h && domain) {
		h = aim_xstrdup(domain);
		char *c = strchr(h, ':');
		if (c)
			*c = 0;
	}
	return h;
}

static void check_tls(struct doctor *d, const char *cert, const char *key, const char *domain,
		      const char *base)
{
	d->checks++;
	if (!cert && !key) {
		printf("skipped: tls: no --tls-cert and --tls-key given\n");
		return;
	}
	int before = d->problems;
	char *cp = NULL, *kp = NULL;
	size_t cn = 0, kn = 0;
	struct stat sb;
	if (read_file(cert, &cp, &cn, &sb) != 0)
		line(d, false, "tls: the certificate %s: %s", cert, aim_errmsg());
	if (read_file(key, &kp, &kn, &sb) != 0)
		line(d, false, "tls: the key %s: %s", key, aim_errmsg());
	else if (open_to_others(sb.st_mode))
		line(d, false, "tls: the key %s has mode %04o, want 0600", key,
		     (unsigned)(sb.st_mode & 07777));
	char *host = tls_host(domain, base);
	struct aim_tls_files f;
	memset(&f, 0, sizeof f);
	if (cp && kp) {
		if (aim_tls_files_check((struct aim_bytes){ (const uint8_t *)cp, cn },
					(struct aim_bytes){ (const uint8_t *)kp, kn }, host,
					&f) != 0) {
			line(d, false, "tls: %s / %s: %s", cert, key, aim_errmsg());
		} else {
			int64_t now = aim_now();
			char t[21];
			if (!f.key_matches)
				line(d, false, "tls: the key %s is not the key of the certificate %s",
				     key, cert);
			if (now < f.not_before) {
				aim_time_rfc3339(f.not_before, t);
				line(d, false, "tls: the certificate %s is not valid before %s", cert, t);
			}
			if (now > f.not_after) {
				aim_time_rfc3339(f.not_after, t);
				line(d, false, "tls: the certificate %s expired at %s", cert, t);
			}
			if (host && !f.names_host)
				line(d, false, "tls: the certificate %s (%s) does not name %s", cert,
				     f.subject, host);
			if (d->problems == before) {
				aim_time_rfc3339(f.not_after, t);
				int64_t days = (f.not_after - now) / 86400;
				line(d, true,
				     "tls: %s names %s, valid until %s (%lld days%s), the key %s "
				     "matches it",
				     cert, host ? host : "(no host)", t, (long long)days,
				     days < TLS_RENEW_DAYS ? ": renew it soon" : "", key);
			}
		}
	}
	free(host);
	free(cp);
	if (kp)
		aim_free_secret(kp, kn + 1);
}

int aimd_doctor(const struct aimd_doctor_opts *o, int *problems)
{
	*problems = 0;
	ENSURE(o->data_dir && *o->data_dir, AIM_ERR_INVALID, "--data is required");
	struct doctor d = { .dir = o->data_dir };
	struct stat sb;
	struct store *st = NULL;
	if (stat(o->data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		line(&d, false, "config: %s is not a directory (aimd init makes it)", o->data_dir);
	} else if (!aimd_data_initialised(o->data_dir)) {
		line(&d, false, "database: %s holds no %s and no %s (aimd init makes them)",
		     o->data_dir, AIMD_DB_FILE, AIMD_STORE_FILE);
	} else if (aimd_open_data(o->data_dir, STORE_OPEN_NO_MIGRATE, &st) != 0) {
		line(&d, false, "database: %s", aim_errmsg());
		st = NULL;
	}
	d.name = aimd_store_display(o->data_dir);
	char *domain = NULL, *base = NULL;
	if (st) {
		check_database(&d, st);
		check_integrity(&d, st);
		check_config(&d, st, &domain, &base);
		check_keys(&d, st);
		check_clock(&d, st);
	}
	check_tls(&d, o->tls_cert, o->tls_key, domain, base);
	store_close(st);
	free(domain);
	free(base);
	free(d.name);
	*problems = d.problems;
	fflush(stdout);
	return 0;
}
