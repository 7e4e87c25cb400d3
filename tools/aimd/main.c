/* aimd: command-line front end. Usage errors exit 2, failures 1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "http/server.h"
#include "server/server.h"

/* Each command's help: `aimd COMMAND --help` prints its text, `aimd --help`
 * prints them all. */
static const char help_init[] =
	"aimd init --data DIR --domain DOMAIN [--url BASE_URL] [--ca-key TYPE]\n"
	"          [--log-level LEVEL]\n"
	"    Create a data directory: the database (aim.db), the instance actor's\n"
	"    keys and the domain's certificate authority (CA). Refuses a directory\n"
	"    that is already initialised.\n"
	"    --data DIR          the data directory (created with mode 0700)\n"
	"    --domain DOMAIN     the domain of the handles, acct:NAME@DOMAIN\n"
	"    --url BASE_URL      where object ids start (default https://DOMAIN); give\n"
	"                        the port when it is not 443, e.g. https://a.test:8441\n"
	"    --ca-key TYPE       the CA's key: ed25519 (default) or p256; the key is in\n"
	"                        DIR/ca/ca-N.key (mode 0600), never in the database\n"
	"    --store URI         keep the store in PostgreSQL (postgresql://USER@HOST/DB,\n"
	"                        \"?pool_size=N\": connections per process) instead of\n"
	"                        DIR/aim.db; DIR/store (0600) remembers it. Another\n"
	"                        process of the domain serves from a copy of DIR\n";

static const char help_migrate[] =
	"aimd migrate --data DIR\n"
	"    Apply the pending schema migrations of DIR's database, one line per\n"
	"    migration applied (aimd serve also applies them when it starts). A\n"
	"    database newer than this aimd is refused and left as it is. Stop aimd\n"
	"    serve first.\n";

static const char help_doctor[] =
	"aimd doctor --data DIR [--tls-cert FILE --tls-key FILE]\n"
	"    Check a data directory and say what is wrong, one line per check\n"
	"    (ok: ...) or per problem (problem: ...): the database answers and is\n"
	"    migrated, its integrity, the configuration (domain, base URL), the key\n"
	"    files and their modes (0600, folders 0700), the clock (after the build\n"
	"    day, in step with the monotonic clock, not behind the database), and\n"
	"    with --tls-cert/--tls-key the TLS files (the key matches, valid now,\n"
	"    naming the host). Changes nothing; works while aimd serve runs. Exit\n"
	"    status 0 when all is well, 1 when there is a problem.\n";

static const char help_export[] =
	"aimd export --data DIR FILE|OUTDIR|-\n"
	"    Write the domain's whole data (users, tokens, keys, devices, KeyPackages,\n"
	"    activities, inboxes, followers, follows, deliveries, channels and their\n"
	"    hub state, the CA's keys) as JSON lines, format aim-export version 1, to\n"
	"    a new FILE (mode 0600: it holds every private key), OUTDIR/aim-export.jsonl,\n"
	"    or stdout. Works while aimd serve runs.\n"
	"aimd import --data NEWDIR [--store postgresql://...] FILE|INDIR|-\n"
	"    Make the data directory NEWDIR (not initialised yet) from an export, in\n"
	"    SQLite (NEWDIR/aim.db) or with --store in a PostgreSQL database that\n"
	"    holds no domain yet (as aimd init --store): the same actors, keys,\n"
	"    collections and channels.\n"
	"    Export and import need the same schema version (aimd migrate first).\n";

static const char help_ca[] =
	"aimd ca rotate --data DIR [--ca-key TYPE]\n"
	"    Make a new CA for the domain (ed25519 or p256, default ed25519): it issues\n"
	"    the device certificates from then on; the earlier CA certificates stay\n"
	"    published at /.well-known/aim-ca, so the leaves they issued stay valid\n"
	"    until they expire. Works while aimd serve runs. Prints the CA's id.\n";

static const char help_serve[] =
	"aimd serve --data DIR [OPTIONS]\n"
	"    Serve until SIGINT/SIGTERM. Refuses to start (exit 1, one line) when the\n"
	"    address is taken or another aimd serve holds DIR.\n"
	"    --data DIR                  the data directory (aimd init)\n"
	"    --role http|deliver|both    serve HTTP only, deliver only, or both (the\n"
	"                                default); processes sharing a PostgreSQL store\n"
	"                                split the work\n"
	"    --listen ADDR:PORT          where to serve (default 127.0.0.1:8080; IPv6\n"
	"                                as [::1]:PORT)\n"
	"    --tls-cert FILE --tls-key FILE\n"
	"                                serve HTTPS with this PEM certificate and key\n"
	"    --max-body BYTES            largest request body (default 1048576; 413)\n"
	"    --rate-limit N              client API requests per second per IP (50)\n"
	"    --rate-burst N              their burst (300); past them 429\n"
	"    --auth-fail-limit N         bad tokens per minute per IP before 429 (50)\n"
	"    --anon-read-rate BYTES      reads without a token (pages, documents) per\n"
	"                                second per IP (4194304, burst 8x); past it 429\n"
	"    --inbox-host-rate N         inbox deliveries per second per remote host\n"
	"                                (300, burst 10x); past it 429\n"
	"    --inbox-host-concurrency N  concurrent inbox deliveries per remote host (64)\n"
	"    --cert-days N               validity of the device certificates the CA\n"
	"                                issues, in days (30; 1..3650)\n"
	"    --claim-host-rate N         KeyPackage claims per minute per claiming host\n"
	"                                (60); past it 429\n"
	"    --claim-user-rate N         KeyPackage claims per minute per target user\n"
	"                                (30); past it 429\n"
	"    --max-connections N         connections in total (1000; a few more are\n"
	"                                answered 503); the file descriptor limit is\n"
	"                                raised to fit, or aimd refuses to start\n"
	"    --max-connections-per-ip N  connections per address (128); past it 429\n"
	"    --header-timeout S          a request's headers complete within S s (10)\n"
	"    --body-timeout S            a request's body completes within S s (60);\n"
	"                                past either 408 and closed\n"
	"    --http-workers N            request handler threads (32)\n"
	"    --streams-per-user N        event streams per user (16); past it 429\n"
	"  Outbound federation (fetches and deliveries):\n"
	"    --connect-to HOST:PORT:ADDR:PORT\n"
	"                                repeatable, curl's syntax: requests for\n"
	"                                HOST:PORT go to ADDR:PORT (an empty HOST or\n"
	"                                PORT matches any)\n"
	"    --ca-file FILE              trust this CA bundle (PEM), not the system's\n"
	"    --allow-private-addresses   permit loopback and private addresses (refused\n"
	"                                otherwise)\n"
	"    --hub-basic-credentials     TESTS ONLY: the channels' hub takes basic MLS\n"
	"                                credentials unchecked (x509 only otherwise)\n"
	"  Deliveries:\n"
	"    --retry-base-ms N           first retry within N ms (30000), doubling with\n"
	"                                jitter\n"
	"    --retry-max-ms N            at most N ms between attempts (43200000 = 12 h)\n"
	"    --retry-expire-s N          given up after N s (259200 = 72 h)\n"
	"    --delivery-workers N        delivery threads (4)\n"
	"    --delivery-per-host N       concurrent POSTs per host (2)\n"
	"    --breaker-threshold N       failures in a row before a host is left alone (5)\n"
	"    --breaker-cooldown-ms N     for N ms (60000), then probed once\n"
	"    --log-level LEVEL           debug, info, warn or error (info)\n"
	"  Operations:\n"
	"    --skip-integrity-check      start without checking the database (the check\n"
	"                                reads every page: very large databases)\n"
	"    --metrics-listen ADDR:PORT  serve /metrics (Prometheus text format) on a\n"
	"                                listener of its own\n"
	"    --metrics-token TOKEN       serve /metrics on the main listener to requests\n"
	"                                with Authorization: Bearer TOKEN (asked on the\n"
	"                                metrics listener too); neither: no /metrics\n";

static const char help_deliveries[] =
	"aimd deliveries --data DIR\n"
	"    Print every outbound delivery as one JSON object per line (id, activity,\n"
	"    inbox, actor, host, state pending|delivered|failed|expired, attempts,\n"
	"    last_status, last_error, created_ms, next_ms, updated_ms).\n";

#define USER_SUBCOMMANDS "add, token, set, list, tokens, revoke, delete"
static const char help_user[] =
	"aimd user add --data DIR NAME\n"
	"    Create a local user (1-64 of a-z 0-9 _ . -, starting with a letter or\n"
	"    digit) with fresh keys; print a bearer token for it on the last line.\n"
	"aimd user token --data DIR NAME\n"
	"    Print a new bearer token for an existing user.\n"
	"aimd user set --data DIR NAME manual-approval on|off\n"
	"    Approve followers by hand (off: Follows are accepted at once). A pending\n"
	"    Follow is approved by POSTing Accept{object: the Follow} (or Reject) to\n"
	"    the user's outbox.\n"
	"aimd user set --data DIR NAME claims everyone|followed|nobody\n"
	"    Who may claim the user's KeyPackages: anyone (the default), only actors\n"
	"    she follows, or nobody (a refused claim is 403 and logged).\n"
	"aimd user list --data DIR\n"
	"    One line per user: NAME, how many tokens it holds, when it was made,\n"
	"    manual-approval if on; a deleted user as NAME deleted TIME.\n"
	"aimd user tokens --data DIR NAME\n"
	"    One line per token of NAME: its ID, NAME, when it was made. A token is\n"
	"    shown only once, when it is made; its ID is the first 12 hex digits of\n"
	"    its SHA-256 (printf %s TOKEN | sha256sum tells which one you hold).\n"
	"aimd user revoke --data DIR NAME ID|all\n"
	"    Revoke NAME's token whose ID starts with ID (6 hex digits at least), or\n"
	"    all its tokens; requests with it get 401 at once.\n"
	"aimd user delete --data DIR NAME --yes\n"
	"    Delete NAME for good: its account, tokens, keys, follows, inbox and\n"
	"    posts; its actor answers 410 Gone and the name is never given out again.\n"
	"    Refused without --yes.\n";

static const struct {
	const char *name, *text;
} helps[] = {
	{ "init", help_init },
	{ "serve", help_serve },
	{ "user", help_user },
	{ "deliveries", help_deliveries },
	{ "ca", help_ca },
	{ "migrate", help_migrate },
	{ "doctor", help_doctor },
	{ "export", help_export },
	{ "import", help_export },
};

static void print_help(FILE *f)
{
	fputs("usage: aimd COMMAND [OPTIONS]   (aimd COMMAND --help: that command's options)\n\n",
	      f);
	for (size_t i = 0; i < AIM_ARRAY_LEN(helps); i++) {
		fputs(helps[i].text, f);
		fputc('\n', f);
	}
	fputs("aimd --version | --help\n"
	      "    Usage errors exit with status 2 and one line on stderr; other\n"
	      "    failures with status 1.\n",
	      f);
}

/* `aimd CMD ... --help` (or -h) anywhere after the command: CMD's help. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int command_help(const char *cmd)
{
	for (size_t i = 0; i < AIM_ARRAY_LEN(helps); i++)
		if (!strcmp(helps[i].name, cmd)) {
			printf("usage:\n%s", helps[i].text);
			return 0;
		}
	return -1;
}

AIM_PRINTF(1, 2) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "aimd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see aimd --help)\n");
	return 2;
}

struct opts {
	const char *data, *domain, *url, *listen, *cert, *key, *log_level;
	const char *rate, *burst, *authfail, *maxbody;
	const char *inrate, *inconc; /* inbox limits per remote host */
	const char *ca_key, *cert_days; /* the domain's CA */
	/* outbound deliveries */
	const char *rbase, *rmax, *rexpire, *dworkers, *dperhost, *bthresh, *bcool;
	const char *claimhost, *claimuser;
	const char *metrics_listen, *metrics_token; /* serve: /metrics */
	const char *anonrate; /* anonymous reads */
	const char *store, *role; /* init --store URI, serve --role (issue 15) */
	const char *maxconn, *perip, *hdrto, *bodyto, *hworkers, *spu; /* the HTTP edge */
	const char *pos[2];
	int npos;
	/* outbound federation client */
	const char *ca_file;
	const char *connect_to[64];
	size_t n_connect_to;
	bool allow_private;
	bool hub_basic;
	bool skip_integrity; /* serve --skip-integrity-check */
};

/* Options of one command: names allowed for it in `allowed` (space-separated). */
static int parse(int argc, char **argv, int start, const char *allowed, struct opts *o)
{
	static const struct { const char *name; size_t off; } tab[] = {
		{ "data", offsetof(struct opts, data) },
		{ "domain", offsetof(struct opts, domain) },
		{ "url", offsetof(struct opts, url) },
		{ "listen", offsetof(struct opts, listen) },
		{ "tls-cert", offsetof(struct opts, cert) },
		{ "tls-key", offsetof(struct opts, key) },
		{ "log-level", offsetof(struct opts, log_level) },
		{ "rate-limit", offsetof(struct opts, rate) },
		{ "rate-burst", offsetof(struct opts, burst) },
		{ "auth-fail-limit", offsetof(struct opts, authfail) },
		{ "max-body", offsetof(struct opts, maxbody) },
		{ "inbox-host-rate", offsetof(struct opts, inrate) },
		{ "inbox-host-concurrency", offsetof(struct opts, inconc) },
		{ "retry-base-ms", offsetof(struct opts, rbase) },
		{ "retry-max-ms", offsetof(struct opts, rmax) },
		{ "retry-expire-s", offsetof(struct opts, rexpire) },
		{ "delivery-workers", offsetof(struct opts, dworkers) },
		{ "delivery-per-host", offsetof(struct opts, dperhost) },
		{ "breaker-threshold", offsetof(struct opts, bthresh) },
		{ "breaker-cooldown-ms", offsetof(struct opts, bcool) },
		{ "ca-key", offsetof(struct opts, ca_key) },
		{ "cert-days", offsetof(struct opts, cert_days) },
		{ "claim-host-rate", offsetof(struct opts, claimhost) },
		{ "claim-user-rate", offsetof(struct opts, claimuser) },
		{ "metrics-listen", offsetof(struct opts, metrics_listen) },
		{ "metrics-token", offsetof(struct opts, metrics_token) },
		{ "anon-read-rate", offsetof(struct opts, anonrate) },
		{ "store", offsetof(struct opts, store) },
		{ "role", offsetof(struct opts, role) },
		{ "max-connections", offsetof(struct opts, maxconn) },
		{ "max-connections-per-ip", offsetof(struct opts, perip) },
		{ "header-timeout", offsetof(struct opts, hdrto) },
		{ "body-timeout", offsetof(struct opts, bodyto) },
		{ "http-workers", offsetof(struct opts, hworkers) },
		{ "streams-per-user", offsetof(struct opts, spu) },
	};
	for (int i = start; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || !a[2]) {
			if (o->npos >= 2)
				return usage_error("unexpected argument %s", a);
			o->pos[o->npos++] = a;
			continue;
		}
		char name[64];
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl >= sizeof name)
			return usage_error("unknown option %s", a);
		memcpy(name, a + 2, nl);
		name[nl] = 0;
		if (!strcmp(name, "skip-integrity-check") && strstr(allowed, name)) {
			if (eq)
				return usage_error("%s takes no value", a);
			o->skip_integrity = true;
			continue;
		}
		bool fed = !strcmp(name, "connect-to") || !strcmp(name, "ca-file") ||
			   !strcmp(name, "allow-private-addresses") ||
			   !strcmp(name, "hub-basic-credentials");
		if (fed && strstr(allowed, "allow-private-addresses")) {
			if (!strcmp(name, "hub-basic-credentials")) {
				if (eq)
					return usage_error("%s takes no value", a);
				o->hub_basic = true;
				continue;
			}
			/* outbound federation client options */
			if (!strcmp(name, "allow-private-addresses")) {
				if (eq)
					return usage_error("%s takes no value", a);
				o->allow_private = true;
				continue;
			}
			const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val || !*val)
				return usage_error("option --%s needs a value", name);
			if (!strcmp(name, "ca-file")) {
				o->ca_file = val;
			} else {
				if (o->n_connect_to >= AIM_ARRAY_LEN(o->connect_to))
					return usage_error("%s", "too many --connect-to options");
				o->connect_to[o->n_connect_to++] = val;
			}
			continue;
		}
		size_t k;
		for (k = 0; k < AIM_ARRAY_LEN(tab); k++)
			if (!strcmp(tab[k].name, name))
				break;
		char pat[70];
		snprintf(pat, sizeof pat, " %s ", name);
		char allow[1024];
		snprintf(allow, sizeof allow, " %s ", allowed);
		if (k == AIM_ARRAY_LEN(tab) || !strstr(allow, pat))
			return usage_error("unknown option %s", a);
		const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val || !*val)
			return usage_error("option --%s needs a value", name);
		*(const char **)((char *)o + tab[k].off) = val;
	}
	return 0;
}

static int fail(void)
{
	fprintf(stderr, "aimd: %s\n", aim_errmsg());
	return aim_errcode() == AIM_ERR_INVALID ? 2 : 1;
}

static int uint_opt(const char *v, const char *name, int64_t max, int64_t *out)
{
	if (!v) {
		*out = 0;
		return 0;
	}
	if (aim_parse_int(v, 1, max, out) != 0)
		return usage_error("bad value for %s", name);
	return 0;
}

/* The start every command with no positional argument shares: its options
 * parsed, no positional argument, --data given ("CMD needs --data DIR"). */
static int parse_command(const char *cmd, int argc, char **argv, const char *allowed,
			 struct opts *o)
{
	int rc = parse(argc, argv, 2, allowed, o);
	if (rc)
		return rc;
	if (o->npos)
		return usage_error("unexpected argument %s", o->pos[0]);
	if (!o->data)
		return usage_error("%s needs --data DIR", cmd);
	return 0;
}

static int cmd_init(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = parse_command("init", argc, argv, "data domain url ca-key log-level store", &o);
	if (rc)
		return rc;
	if (!o.domain)
		return usage_error("%s", "init needs --domain DOMAIN");
	if (o.ca_key && strcmp(o.ca_key, "ed25519") != 0 && strcmp(o.ca_key, "p256") != 0)
		return usage_error("bad --ca-key %s (ed25519 or p256)", o.ca_key);
	if (o.store && !aim_str_has_prefix(o.store, "postgresql://") &&
	    !aim_str_has_prefix(o.store, "postgres://"))
		return usage_error("bad --store %s (want postgresql://...)", o.store);
	struct aimd_init_opts io = { o.data, o.domain, o.url, o.ca_key, o.store };
	if (aimd_init(&io) != 0)
		return fail();
	printf("initialised %s for %s\n", o.data, o.domain);
	return 0;
}

/* HOST:PORT:ADDR:PORT with an optional [IPv6] ADDR; HOST and PORT may be empty. */
static bool connect_to_ok(const char *v)
{
	if (strlen(v) > 300)
		return false;
	const char *c1 = strchr(v, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return false;
	const char *addr = c2 + 1;
	const char *end = addr[0] == '[' ? strchr(addr, ']') : addr;
	const char *c3 = end ? strchr(end, ':') : NULL;
	if (!c3 || c3 == addr || !c3[1])
		return false;
	int64_t port;
	if (c2 > c1 + 1) {
		char p[8];
		size_t pl = (size_t)(c2 - c1 - 1);
		if (pl >= sizeof p)
			return false;
		memcpy(p, c1 + 1, pl);
		p[pl] = 0;
		if (aim_parse_int(p, 1, 65535, &port) != 0)
			return false;
	}
	return aim_parse_int(c3 + 1, 1, 65535, &port) == 0;
}

static int cmd_serve(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = parse(argc, argv, 2,
		       "data listen tls-cert tls-key log-level rate-limit rate-burst auth-fail-limit max-body"
		       " connect-to ca-file allow-private-addresses inbox-host-rate inbox-host-concurrency"
		       " retry-base-ms retry-max-ms retry-expire-s delivery-workers delivery-per-host"
		       " breaker-threshold breaker-cooldown-ms cert-days claim-host-rate claim-user-rate"
		       " skip-integrity-check metrics-listen metrics-token"
		       " anon-read-rate role"
		       " max-connections max-connections-per-ip header-timeout body-timeout http-workers"
		       " streams-per-user",
		       &o);
	if (rc)
		return rc;
	if (o.npos)
		return usage_error("unexpected argument %s", o.pos[0]);
	if (!o.data)
		return usage_error("%s", "serve needs --data DIR");
	if (!o.cert != !o.key)
		return usage_error("%s", "--tls-cert and --tls-key go together");
	int role = AIMD_ROLE_BOTH;
	if (o.role && !strcmp(o.role, "http"))
		role = AIMD_ROLE_HTTP;
	else if (o.role && !strcmp(o.role, "deliver"))
		role = AIMD_ROLE_DELIVER;
	else if (o.role && strcmp(o.role, "both") != 0)
		return usage_error("bad --role %s (http, deliver or both)", o.role);
	int64_t rate, burst, authfail, maxbody;
	if ((rc = uint_opt(o.rate, "--rate-limit", 1000000, &rate)) ||
	    (rc = uint_opt(o.burst, "--rate-burst", 1000000, &burst)) ||
	    (rc = uint_opt(o.authfail, "--auth-fail-limit", 1000000, &authfail)) ||
	    (rc = uint_opt(o.maxbody, "--max-body", (int64_t)1 << 30, &maxbody)))
		return rc;
	int64_t inrate, inconc; /* inbox limits per remote host */
	if ((rc = uint_opt(o.inrate, "--inbox-host-rate", 1000000, &inrate)) ||
	    (rc = uint_opt(o.inconc, "--inbox-host-concurrency", 100000, &inconc)))
		return rc;
	int64_t cert_days;
	if ((rc = uint_opt(o.cert_days, "--cert-days", 3650, &cert_days)))
		return rc;
	int64_t rbase, rmax, rexpire, dworkers, dperhost, bthresh, bcool; /* outbound deliveries */
	if ((rc = uint_opt(o.rbase, "--retry-base-ms", 86400000, &rbase)) ||
	    (rc = uint_opt(o.rmax, "--retry-max-ms", 7 * 86400000LL, &rmax)) ||
	    (rc = uint_opt(o.rexpire, "--retry-expire-s", 365 * 86400LL, &rexpire)) ||
	    (rc = uint_opt(o.dworkers, "--delivery-workers", 64, &dworkers)) ||
	    (rc = uint_opt(o.dperhost, "--delivery-per-host", 64, &dperhost)) ||
	    (rc = uint_opt(o.bthresh, "--breaker-threshold", 1000000, &bthresh)) ||
	    (rc = uint_opt(o.bcool, "--breaker-cooldown-ms", 86400000, &bcool)))
		return rc;
	int64_t claimhost, claimuser; /* the KeyPackage directory */
	if ((rc = uint_opt(o.claimhost, "--claim-host-rate", 1000000, &claimhost)) ||
	    (rc = uint_opt(o.claimuser, "--claim-user-rate", 1000000, &claimuser)))
		return rc;
	int64_t anonrate; /* anonymous reads, bytes a second */
	if ((rc = uint_opt(o.anonrate, "--anon-read-rate", (int64_t)1 << 40, &anonrate)))
		return rc;
	int64_t maxconn, perip, hdrto, bodyto, hworkers, spu; /* the HTTP edge */
	if ((rc = uint_opt(o.maxconn, "--max-connections", 1000000, &maxconn)) ||
	    (rc = uint_opt(o.perip, "--max-connections-per-ip", 1000000, &perip)) ||
	    (rc = uint_opt(o.hdrto, "--header-timeout", 3600, &hdrto)) ||
	    (rc = uint_opt(o.bodyto, "--body-timeout", 86400, &bodyto)) ||
	    (rc = uint_opt(o.hworkers, "--http-workers", 1024, &hworkers)) ||
	    (rc = uint_opt(o.spu, "--streams-per-user", 100000, &spu)))
		return rc;
	if (o.listen) {
		struct sockaddr_storage ss;
		size_t len;
		if (http_parse_listen(o.listen, &ss, &len) != 0)
			return usage_error("bad --listen value %s", o.listen);
	}
	if (o.metrics_listen) {
		struct sockaddr_storage ss;
		size_t len;
		if (http_parse_listen(o.metrics_listen, &ss, &len) != 0)
			return usage_error("bad --metrics-listen value %s", o.metrics_listen);
	}
	if (o.metrics_token && (strlen(o.metrics_token) < 16 || strlen(o.metrics_token) > 256))
		return usage_error("%s", "--metrics-token needs 16 to 256 characters");
	for (size_t i = 0; i < o.n_connect_to; i++)
		if (!connect_to_ok(o.connect_to[i]))
			return usage_error("bad --connect-to value %s (want HOST:PORT:ADDR:PORT)",
					   o.connect_to[i]);
	struct stat sb;
	if (stat(o.data, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "aimd: %s is not a data directory (run aimd init)\n", o.data);
		return 1;
	}
	struct aimd_serve_opts so = {
		.data_dir = o.data,
		.role = role,
		.listen = o.listen,
		.tls_cert = o.cert,
		.tls_key = o.key,
		.rate_per_s = (unsigned)rate,
		.rate_burst = (unsigned)burst,
		.auth_fail_limit = (unsigned)authfail,
		.max_body = (size_t)maxbody,
		.connect_to = o.connect_to,
		.n_connect_to = o.n_connect_to,
		.ca_file = o.ca_file,
		.allow_private = o.allow_private,
		.hub_basic_credentials = o.hub_basic,
		.inbox_host_rate = (unsigned)inrate,
		.inbox_host_concurrency = (unsigned)inconc,
		.retry_base_ms = rbase,
		.retry_max_ms = rmax,
		.retry_expire_s = rexpire,
		.delivery_workers = (unsigned)dworkers,
		.delivery_per_host = (unsigned)dperhost,
		.breaker_threshold = (unsigned)bthresh,
		.breaker_cooldown_ms = bcool,
		.cert_days = (int)cert_days,
		.claim_host_rate = (unsigned)claimhost,
		.claim_user_rate = (unsigned)claimuser,
		.skip_integrity_check = o.skip_integrity,
		.metrics_listen = o.metrics_listen,
		.metrics_token = o.metrics_token,
		.anon_read_rate = (size_t)anonrate,
		.max_connections = (unsigned)maxconn,
		.max_per_ip = (unsigned)perip,
		.header_timeout_s = (unsigned)hdrto,
		.body_timeout_s = (unsigned)bodyto,
		.http_workers = (unsigned)hworkers,
		.streams_per_user = (unsigned)spu,
	};
	if (aimd_serve(&so) != 0)
		return fail();
	return 0;
}

/* aimd user set --data DIR NAME KEY VALUE (per-user federation settings) */
static int cmd_user_set(int argc, char **argv)
{
	if (argc < 6)
		return usage_error("%s", "user set needs --data DIR NAME manual-approval on|off"
				   " or NAME claims everyone|followed|nobody");
	const char *key = argv[argc - 2], *val = argv[argc - 1];
	struct opts o = { 0 };
	int rc = parse(argc - 2, argv, 3, "data log-level", &o);
	if (rc)
		return rc;
	if (!o.data)
		return usage_error("%s", "user set needs --data DIR");
	if (o.npos != 1 || !aimd_valid_name(o.pos[0]))
		return usage_error("%s", "user set needs exactly one valid NAME");
	if (strcmp(key, "manual-approval") != 0 && strcmp(key, "claims") != 0)
		return usage_error("unknown setting %s (known: manual-approval, claims)", key);
	if (!strcmp(key, "manual-approval") && strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
		return usage_error("%s", "manual-approval takes on or off");
	if (!strcmp(key, "claims") && strcmp(val, "everyone") != 0 && strcmp(val, "followed") != 0 &&
	    strcmp(val, "nobody") != 0)
		return usage_error("%s", "claims takes everyone, followed or nobody");
	if (aimd_user_set(o.data, o.pos[0], key, val) != 0)
		return fail();
	printf("%s: %s %s\n", o.pos[0], key, val);
	return 0;
}

/* aimd user list --data DIR */
static int cmd_user_list(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = parse(argc, argv, 3, "data log-level", &o);
	if (rc)
		return rc;
	if (o.npos)
		return usage_error("unexpected argument %s", o.pos[0]);
	if (!o.data)
		return usage_error("%s", "user list needs --data DIR");
	return aimd_user_list(o.data) != 0 ? fail() : 0;
}

/* aimd user revoke --data DIR NAME ID|all */
static int cmd_user_revoke(const struct opts *o)
{
	if (o->npos != 2)
		return usage_error("%s", "user revoke needs NAME and a token ID (aimd user tokens) "
				   "or all");
	size_t n = 0;
	if (aimd_user_revoke(o->data, o->pos[0], o->pos[1], &n) != 0)
		return fail();
	printf("revoked %zu token%s of %s\n", n, n == 1 ? "" : "s", o->pos[0]);
	return 0;
}

/* aimd user delete --data DIR NAME --yes */
static int cmd_user_delete(const struct opts *o, bool yes)
{
	if (!yes)
		return usage_error("user delete removes %s's account, tokens, keys and posts for "
				   "good: add --yes to do it",
				   o->pos[0]);
	if (aimd_user_delete(o->data, o->pos[0]) != 0)
		return fail();
	printf("deleted user %s: its actor answers 410 Gone\n", o->pos[0]);
	return 0;
}

static int cmd_user(int argc, char **argv)
{
	if (argc < 3 || argv[2][0] == '-')
		return usage_error("%s", "user needs a subcommand: " USER_SUBCOMMANDS);
	const char *sub = argv[2];
	if (!strcmp(sub, "set"))
		return cmd_user_set(argc, argv);
	if (!strcmp(sub, "list"))
		return cmd_user_list(argc, argv);
	if (strcmp(sub, "add") != 0 && strcmp(sub, "token") != 0 && strcmp(sub, "tokens") != 0 &&
	    strcmp(sub, "revoke") != 0 && strcmp(sub, "delete") != 0)
		return usage_error("unknown user subcommand %s (known: " USER_SUBCOMMANDS ")", sub);
	/* --yes (delete only) is a flag without a value: taken out before parse */
	bool yes = false;
	char *args[256];
	int n = 0;
	if (argc > (int)AIM_ARRAY_LEN(args))
		return usage_error("%s", "too many arguments");
	for (int i = 0; i < argc; i++) {
		if (i >= 3 && !strcmp(argv[i], "--yes") && !strcmp(sub, "delete")) {
			yes = true;
			continue;
		}
		args[n++] = argv[i];
	}
	struct opts o = { 0 };
	int rc = parse(n, args, 3, "data log-level", &o);
	if (rc)
		return rc;
	if (!o.data)
		return usage_error("user %s needs --data DIR", sub);
	if (o.npos < 1)
		return usage_error("user %s needs a NAME", sub);
	if (!aimd_valid_name(o.pos[0]))
		return usage_error("bad user name %s (1-64 of a-z 0-9 _ . -, starting with a letter "
				   "or digit)",
				   o.pos[0]);
	if (!strcmp(sub, "revoke"))
		return cmd_user_revoke(&o);
	if (o.npos != 1)
		return usage_error("user %s needs exactly one NAME", sub);
	if (!strcmp(sub, "delete"))
		return cmd_user_delete(&o, yes);
	if (!strcmp(sub, "tokens"))
		return aimd_user_tokens(o.data, o.pos[0]) != 0 ? fail() : 0;
	char *token = NULL;
	if (!strcmp(sub, "add")) {
		if (aimd_user_add(o.data, o.pos[0], &token) != 0)
			return fail();
		printf("created user %s\n", o.pos[0]);
	} else if (aimd_user_token(o.data, o.pos[0], &token) != 0) {
		return fail();
	}
	printf("%s\n", token);
	aim_free_secret(token, strlen(token));
	return 0;
}

/* aimd deliveries --data DIR: the outbound delivery queue */
static int cmd_deliveries(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = parse_command("deliveries", argc, argv, "data log-level", &o);
	if (rc)
		return rc;
	if (aimd_deliveries(o.data) != 0)
		return fail();
	return 0;
}

/* aimd ca rotate --data DIR [--ca-key TYPE]: a new CA for the domain */
static int cmd_ca(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[2], "rotate") != 0)
		return usage_error("%s", "ca needs a subcommand: rotate");
	struct opts o = { 0 };
	int rc = parse(argc, argv, 3, "data ca-key log-level", &o);
	if (rc)
		return rc;
	if (o.npos)
		return usage_error("unexpected argument %s", o.pos[0]);
	if (!o.data)
		return usage_error("%s", "ca rotate needs --data DIR");
	if (o.ca_key && strcmp(o.ca_key, "ed25519") != 0 && strcmp(o.ca_key, "p256") != 0)
		return usage_error("bad --ca-key %s (ed25519 or p256)", o.ca_key);
	int64_t id = 0;
	if (aimd_ca_rotate(o.data, o.ca_key, &id) != 0)
		return fail();
	printf("new CA %lld issues from now on; the earlier ones stay published\n", (long long)id);
	return 0;
}

/* aimd migrate --data DIR: the pending schema migrations */
static int cmd_migrate(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = parse_command("migrate", argc, argv, "data log-level", &o);
	if (rc)
		return rc;
	return aimd_migrate(o.data) != 0 ? fail() : 0;
}

/* aimd doctor --data DIR [--tls-cert FILE --tls-key FILE] */
static int cmd_doctor(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc = parse_command("doctor", argc, argv, "data tls-cert tls-key log-level", &o);
	if (rc)
		return rc;
	if (!o.cert != !o.key)
		return usage_error("%s", "--tls-cert and --tls-key go together");
	struct aimd_doctor_opts d = { o.data, o.cert, o.key };
	int problems = 0;
	if (aimd_doctor(&d, &problems) != 0)
		return fail();
	return problems ? 1 : 0;
}

/* aimd export --data DIR TARGET, aimd import --data NEWDIR SOURCE */
static int cmd_export_import(int argc, char **argv, bool import)
{
	struct opts o = { 0 };
	int rc = parse(argc, argv, 2, import ? "data store log-level" : "data log-level", &o);
	if (rc)
		return rc;
	if (!o.data)
		return usage_error("%s needs --data DIR", argv[1]);
	if (o.store && !aim_str_has_prefix(o.store, "postgresql://") &&
	    !aim_str_has_prefix(o.store, "postgres://"))
		return usage_error("bad --store %s (want postgresql://...)", o.store);
	if (o.npos != 1)
		return usage_error("%s needs one %s", argv[1],
				   import ? "FILE or DIR to read" : "FILE or DIR to write");
	int64_t rows = 0;
	if (import) {
		if (aimd_import(o.data, o.store, o.pos[0], &rows) != 0)
			return fail();
		printf("imported %lld rows into %s\n", (long long)rows, o.data);
	} else if (aimd_export(o.data, o.pos[0], &rows) != 0) {
		return fail();
	}
	return 0;
}

static int set_log_level(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		if (!strcmp(argv[i], "--log-level") && i + 1 < argc)
			v = argv[i + 1];
		else if (!strncmp(argv[i], "--log-level=", 12))
			v = argv[i] + 12;
		if (!v)
			continue;
		if (!strcmp(v, "debug"))
			aim_log_set_level(AIM_LOG_DEBUG);
		else if (!strcmp(v, "warn"))
			aim_log_set_level(AIM_LOG_WARN);
		else if (!strcmp(v, "error"))
			aim_log_set_level(AIM_LOG_ERROR);
		else if (!strcmp(v, "info"))
			aim_log_set_level(AIM_LOG_INFO);
		else
			return usage_error("bad value for --log-level: %s", v);
	}
	return 0;
}

int main(int argc, char **argv)
{
	umask(077); /* the database holds private keys */
	if (argc < 2)
		return usage_error("%s", "missing command");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		if (argc > 2 && command_help(argv[2]) == 0)
			return 0;
		print_help(stdout);
		return 0;
	}
	if (wants_help(argc, argv) && command_help(cmd) == 0)
		return 0;
	if (!strcmp(cmd, "--version")) {
		printf("aimd %s\n", AIMD_VERSION);
		return 0;
	}
	int rc = set_log_level(argc, argv);
	if (rc)
		return rc;
	if (!strcmp(cmd, "init"))
		return cmd_init(argc, argv);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc, argv);
	if (!strcmp(cmd, "user"))
		return cmd_user(argc, argv);
	if (!strcmp(cmd, "deliveries"))
		return cmd_deliveries(argc, argv);
	if (!strcmp(cmd, "ca"))
		return cmd_ca(argc, argv);
	if (!strcmp(cmd, "migrate"))
		return cmd_migrate(argc, argv);
	if (!strcmp(cmd, "doctor"))
		return cmd_doctor(argc, argv);
	if (!strcmp(cmd, "export") || !strcmp(cmd, "import"))
		return cmd_export_import(argc, argv, !strcmp(cmd, "import"));
	if (!strncmp(cmd, "-", 1))
		return usage_error("unknown option %s", cmd);
	return usage_error("unknown command %s", cmd);
}
