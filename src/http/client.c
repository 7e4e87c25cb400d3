/*
 * The guarded outbound HTTP client on libcurl's multi interface. See
 * client.h for the rules; the short version: we resolve, check and pin
 * every hop ourselves, follow redirects ourselves, and cap everything.
 */
#include "http/client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/url.h"

#define CLIENT_MAX_RESP_HEADERS 200

void http_client_opts_default(struct client_opts *o)
{
	memset(o, 0, sizeof *o);
	o->connect_timeout_ms = 5000;
	o->timeout_ms = 20000;
	o->max_body = AIM_BUF_DEFAULT_MAX;
	o->max_header_bytes = 64 * 1024;
	o->max_redirects = 5;
	o->user_agent = "aim/0.1";
}

void http_client_response_free(struct client_response *r)
{
	free(r->content_type);
	free(r->final_url);
	free(r->remote_ip);
	aim_buf_free(&r->body);
	http_sig_fields_free(&r->headers);
	memset(r, 0, sizeof *r);
}

/* ---- Transfers -------------------------------------------------------------- */

#define MAX_ADDRS 16
#define MAX_PINNED 8

struct xfer {
	struct client_multi *m;
	struct xfer *next;
	CURL *easy;
	struct curl_slist *hdrs;
	struct curl_slist *connect_to;
	char errbuf[CURL_ERROR_SIZE];

	/* owned copies of the options and the request */
	struct client_opts o;
	char **ct;
	char *ua, *ca;
	char *method;
	char *url; /* the current hop */
	struct sig_fields extra;
	uint8_t *body;
	size_t body_len;
	bool has_body;
	bool has_signer;
	struct sig_signer signer;
	char *signer_key_id;
	struct aim_url origin0;

	int redirects;
	int64_t deadline; /* monotonic ms */

	/* the current hop */
	struct sockaddr_storage allowed[MAX_PINNED]; /* checked addresses, with port */
	size_t n_allowed;
	struct curl_slist *resolve;
	struct aim_buf resp_body;
	struct sig_fields resp_hdrs;
	size_t hdr_bytes;
	enum aim_err abort_err;
	char abort_msg[200];

	client_done_fn done;
	void *ctx;
};

struct client_multi {
	CURLM *multi;
	struct xfer *list;
	int finished;         /* transfers ended during this run */
	atomic_bool woken;    /* http_client_multi_wakeup was called */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void xfer_abort(struct xfer *x, enum aim_err e, const char *fmt, ...) AIM_PRINTF(3, 4);

static void xfer_abort(struct xfer *x, enum aim_err e, const char *fmt, ...)
{
	if (x->abort_err)
		return;
	x->abort_err = e;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->abort_msg, sizeof x->abort_msg, fmt, ap);
	va_end(ap);
}

static void hop_reset(struct xfer *x)
{
	if (x->easy) {
		curl_multi_remove_handle(x->m->multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_slist_free_all(x->hdrs);
	curl_slist_free_all(x->connect_to);
	x->hdrs = x->connect_to = NULL;
	aim_buf_free(&x->resp_body);
	aim_buf_init(&x->resp_body, x->o.max_body);
	http_sig_fields_free(&x->resp_hdrs);
	x->hdr_bytes = 0;
	x->abort_err = AIM_ERR_NONE;
	x->abort_msg[0] = 0;
	x->errbuf[0] = 0;
	curl_slist_free_all(x->resolve);
	x->resolve = NULL;
	x->n_allowed = 0;
}

static void xfer_free(struct xfer *x)
{
	hop_reset(x);
	aim_buf_free(&x->resp_body);
	for (size_t i = 0; i < x->o.n_connect_to; i++)
		free(x->ct[i]);
	free(x->ct);
	free(x->ua);
	free(x->ca);
	free(x->method);
	free(x->url);
	http_sig_fields_free(&x->extra);
	free(x->body);
	free(x->signer_key_id);
	aim_url_free(&x->origin0);
	free(x);
}

/* ---- curl callbacks ---------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (x->resp_body.len + len > x->o.max_body) {
		xfer_abort(x, AIM_ERR_LIMIT, "response body larger than %zu bytes", x->o.max_body);
		return 0; /* aborts the transfer */
	}
	if (aim_buf_append(&x->resp_body, p, len) != 0) {
		xfer_abort(x, AIM_ERR_LIMIT, "response body larger than %zu bytes", x->o.max_body);
		return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* a new response (after 1xx): keep only the last one's headers */
		http_sig_fields_free(&x->resp_hdrs);
		x->hdr_bytes = len;
		return len;
	}
	x->hdr_bytes += len;
	if (x->hdr_bytes > x->o.max_header_bytes || x->resp_hdrs.n >= CLIENT_MAX_RESP_HEADERS) {
		xfer_abort(x, AIM_ERR_LIMIT, "response headers over the limit");
		return 0;
	}
	size_t l = len;
	while (l && (p[l - 1] == '\r' || p[l - 1] == '\n'))
		l--;
	const char *colon = memchr(p, ':', l);
	if (l == 0 || !colon || colon == p || p[0] == ' ' || p[0] == '\t')
		return len; /* the blank end line, or an obsolete folded line: ignored */
	size_t nlen = (size_t)(colon - p);
	const char *v = colon + 1;
	size_t vlen = l - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	char *name = aim_xstrndup(p, nlen);
	char *value = aim_xstrndup(v, vlen);
	http_sig_fields_add(&x->resp_hdrs, name, value);
	free(name);
	free(value);
	return len;
}

static bool same_sockaddr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		struct sockaddr_in x, y;
		memcpy(&x, a, sizeof x);
		memcpy(&y, b, sizeof y);
		return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		struct sockaddr_in6 x, y;
		memcpy(&x, a, sizeof x);
		memcpy(&y, b, sizeof y);
		return x.sin6_port == y.sin6_port &&
		       memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
	}
	return false;
}

/* A19: the connection goes to the address that was checked, whatever curl
 * resolved or was told. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = ud;
	if (purpose != CURLSOCKTYPE_IPCXN) {
		xfer_abort(x, AIM_ERR_DENIED, "unexpected socket purpose");
		return CURL_SOCKET_BAD;
	}
	bool pinned = false;
	for (size_t i = 0; i < x->n_allowed && !pinned; i++)
		pinned = same_sockaddr(&a->addr, &x->allowed[i]);
	if (!pinned) {
		xfer_abort(x, AIM_ERR_DENIED, "connection to an address other than the checked one");
		return CURL_SOCKET_BAD;
	}
	enum ssrf_class c = http_ssrf_classify(&a->addr);
	if (!http_ssrf_allowed(c, x->o.allow_private, x->o.allow_loopback)) {
		xfer_abort(x, AIM_ERR_DENIED, "refusing %s address", http_ssrf_class_name(c));
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- Hops ----------------------------------------------------------------- */

/* Splits "HOST:PORT:ADDR:PORT" (IPv6 parts in brackets) into four parts. */
static int connect_to_split(const char *e, char parts[4][300])
{
	const char *p = e;
	for (int i = 0; i < 4; i++) {
		size_t n = 0;
		if (*p == '[') {
			const char *close = strchr(p, ']');
			ENSURE(close, AIM_ERR_INVALID, "connect_to: unterminated bracket in %s", e);
			n = (size_t)(close - p) + 1;
		} else {
			n = strcspn(p, ":");
		}
		ENSURE(n < 300, AIM_ERR_INVALID, "connect_to: part too long in %s", e);
		memcpy(parts[i], p, n);
		parts[i][n] = 0;
		p += n;
		if (i < 3) {
			ENSURE(*p == ':', AIM_ERR_INVALID, "connect_to: %s is not HOST:PORT:ADDR:PORT", e);
			p++;
		}
	}
	ENSURE(*p == 0, AIM_ERR_INVALID, "connect_to: junk after %s", e);
	return 0;
}

static int port_part(const char *s, uint16_t *port)
{
	*port = 0;
	if (!*s)
		return 0;
	int64_t v;
	if (aim_parse_int(s, 1, 65535, &v) != 0)
		return aim_fail(AIM_ERR_INVALID, "connect_to: bad port %s", s);
	*port = (uint16_t)v;
	return 0;
}

/* Where to connect for host:port: the first matching connect_to entry's
 * ADDR:PORT, else host:port itself. addr receives the name or address
 * (without brackets). */
static int connect_target(const struct xfer *x, const struct aim_url *u, char *addr,
			  size_t addrsz, uint16_t *port)
{
	snprintf(addr, addrsz, "%s", u->host);
	*port = u->port;
	for (size_t i = 0; i < x->o.n_connect_to; i++) {
		char parts[4][300];
		TRY(connect_to_split(x->ct[i], parts));
		uint16_t p1, p2;
		TRY(port_part(parts[1], &p1));
		TRY(port_part(parts[3], &p2));
		if (parts[0][0]) {
			struct aim_buf h;
			aim_buf_init(&h, 512);
			uint16_t dummy;
			if (aim_host_parse(parts[0], &h, &dummy) != 0) {
				aim_buf_free(&h);
				return aim_fail(AIM_ERR_INVALID, "connect_to: bad host in %s", x->ct[i]);
			}
			bool match = strcmp((const char *)h.data, u->host) == 0;
			aim_buf_free(&h);
			if (!match)
				continue;
		}
		if (p1 && p1 != u->port)
			continue;
		if (parts[2][0]) {
			char *a = parts[2];
			size_t n = strlen(a);
			if (a[0] == '[' && n >= 2 && a[n - 1] == ']') {
				a[n - 1] = 0;
				a++;
				n -= 2;
			}
			ENSURE(n < addrsz, AIM_ERR_INVALID, "connect_to: address too long");
			for (size_t k = 0; k <= n; k++)
				addr[k] = (a[k] >= 'A' && a[k] <= 'Z') ? (char)(a[k] - 'A' + 'a') : a[k];
		}
		if (p2)
			*port = p2;
		return 0;
	}
	return 0;
}

static int resolve_system(const char *name, struct sockaddr_storage *addrs, size_t max,
			  size_t *n)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	int gai = getaddrinfo(name, NULL, &hints, &res);
	/* A name that does not exist is told apart from a resolver that failed:
	 * a handle on such a host is the user's mistake (400), while a
	 * delivery to it is still retried (DNS can come back). */
	ENSURE(gai == 0, gai == EAI_NONAME || gai == EAI_NODATA ? AIM_ERR_NOHOST : AIM_ERR_REMOTE,
	       "cannot resolve %s: %s", name, gai_strerror(gai));
	*n = 0;
	for (struct addrinfo *ai = res; ai && *n < max; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof addrs[0])
			continue;
		memset(&addrs[*n], 0, sizeof addrs[0]);
		memcpy(&addrs[*n], ai->ai_addr, ai->ai_addrlen);
		(*n)++;
	}
	freeaddrinfo(res);
	return 0;
}

/* A17: resolve here, keep the first address the guard allows. */
static int resolve_guarded(struct xfer *x, const char *name, uint16_t port)
{
	struct sockaddr_storage addrs[MAX_ADDRS];
	size_t naddr = 0;
	struct in6_addr a6;
	struct in_addr a4;
	if (inet_pton(AF_INET, name, &a4) == 1) {
		struct sockaddr_in *s = (struct sockaddr_in *)&addrs[0];
		memset(&addrs[0], 0, sizeof addrs[0]);
		s->sin_family = AF_INET;
		s->sin_addr = a4;
		naddr = 1;
	} else if (inet_pton(AF_INET6, name, &a6) == 1) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&addrs[0];
		memset(&addrs[0], 0, sizeof addrs[0]);
		s->sin6_family = AF_INET6;
		s->sin6_addr = a6;
		naddr = 1;
	} else if (x->o.resolve) {
		TRY(x->o.resolve(x->o.resolve_ctx, name, addrs, MAX_ADDRS, &naddr));
		ENSURE(naddr <= MAX_ADDRS, AIM_ERR_INTERNAL, "resolver returned too many addresses");
	} else {
		TRY(resolve_system(name, addrs, MAX_ADDRS, &naddr));
	}
	enum ssrf_class first = SSRF_PUBLIC;
	bool found = false, any = false;
	for (size_t i = 0; i < naddr; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i];
		if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
			continue;
		enum ssrf_class c = http_ssrf_classify(sa);
		if (!any)
			first = c;
		any = true;
		if (!http_ssrf_allowed(c, x->o.allow_private, x->o.allow_loopback))
			continue;
		if (x->n_allowed == MAX_PINNED)
			break;
		struct sockaddr_storage *p = &x->allowed[x->n_allowed++];
		*p = addrs[i];
		if (sa->sa_family == AF_INET)
			((struct sockaddr_in *)p)->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)p)->sin6_port = htons(port);
		found = true;
	}
	ENSURE(any, AIM_ERR_REMOTE, "no address for %s", name);
	ENSURE(found, AIM_ERR_DENIED, "refusing to connect to %s: %s address", name,
	       http_ssrf_class_name(first));
	return 0;
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	char *line = value[0] ? aim_xasprintf("%s: %s", name, value) : aim_xasprintf("%s;", name);
	struct curl_slist *n = curl_slist_append(*l, line);
	free(line);
	ENSURE(n != NULL, AIM_ERR_NOMEM, "out of memory");
	*l = n;
	return 0;
}

static bool is_hop_header(const char *name)
{
	return strcasecmp(name, "host") == 0 || strcasecmp(name, "date") == 0 ||
	       strcasecmp(name, "digest") == 0 || strcasecmp(name, "content-digest") == 0 ||
	       strcasecmp(name, "signature") == 0 || strcasecmp(name, "signature-input") == 0;
}

static int hop_start(struct xfer *x)
{
	hop_reset(x);
	int64_t left = x->deadline - aim_mono_ms();
	ENSURE(left > 0, AIM_ERR_TIMEOUT, "fetch timed out");

	struct aim_url u;
	if (aim_url_parse(x->url, &u) != 0) {
		/* A18: file:, data:, gopher: ... are never fetched */
		if (aim_errcode() == AIM_ERR_UNSUPPORTED)
			return aim_fail(AIM_ERR_DENIED, "refusing non-HTTP(S) URL");
		return -1;
	}
	int rc = 0;
	struct aim_buf norm;
	aim_buf_init(&norm, AIM_URL_MAX + 64);
	char addr[300];
	uint16_t cport;
	TRY_GOTO(aim_url_format(&u, &norm), out);
	TRY_GOTO(connect_target(x, &u, addr, sizeof addr, &cport), out);
	TRY_GOTO(resolve_guarded(x, addr, cport), out);

	/* Pin (A19): curl learns the checked addresses of the connect name
	 * through CURLOPT_RESOLVE (so it neither asks DNS nor sees other
	 * addresses, and can still fall back from one to the next), and a
	 * mapped name through CURLOPT_CONNECT_TO. The open-socket hook refuses
	 * anything else, e.g. if another transfer of the same multi re-pinned
	 * the name meanwhile. */
	struct in6_addr lit6;
	struct in_addr lit4;
	bool lit_v6 = inet_pton(AF_INET6, addr, &lit6) == 1;
	bool literal = lit_v6 || inet_pton(AF_INET, addr, &lit4) == 1;
	if (!literal) {
		struct aim_buf rl;
		aim_buf_init(&rl, 4096);
		rc = aim_buf_printf(&rl, "%s:%u:", addr, (unsigned)cport);
		for (size_t i = 0; i < x->n_allowed && rc == 0; i++) {
			char ip[INET6_ADDRSTRLEN];
			const struct sockaddr_storage *p = &x->allowed[i];
			if (p->ss_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)p)->sin_addr, ip,
					  sizeof ip);
			else
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)p)->sin6_addr, ip,
					  sizeof ip);
			rc = aim_buf_printf(&rl, "%s%s%s%s", i ? "," : "",
					    p->ss_family == AF_INET6 ? "[" : "", ip,
					    p->ss_family == AF_INET6 ? "]" : "");
		}
		if (rc == 0) {
			x->resolve = curl_slist_append(NULL, (const char *)rl.data);
			if (!x->resolve)
				rc = aim_fail(AIM_ERR_NOMEM, "out of memory");
		}
		aim_buf_free(&rl);
		if (rc)
			goto out;
	}
	if (strcmp(addr, u.host) != 0 || cport != u.port) {
		char *ct = aim_xasprintf("%s%s%s:%u:%s%s%s:%u", u.host_ipv6 ? "[" : "", u.host,
					 u.host_ipv6 ? "]" : "", (unsigned)u.port,
					 lit_v6 ? "[" : "", addr, lit_v6 ? "]" : "", (unsigned)cport);
		x->connect_to = curl_slist_append(NULL, ct);
		free(ct);
		ENSURE_GOTO(x->connect_to != NULL, out, AIM_ERR_NOMEM, "out of memory");
	}

	/* headers: the caller's (minus credentials once we left the first
	 * origin), then a fresh signature for this hop's URL */
	bool cross = !aim_url_same_origin(&u, &x->origin0);
	for (size_t i = 0; i < x->extra.n; i++) {
		const char *name = x->extra.v[i].name;
		if (cross && (strcasecmp(name, "authorization") == 0 ||
			      strcasecmp(name, "cookie") == 0))
			continue;
		if (x->has_signer && is_hop_header(name))
			continue;
		TRY_GOTO(add_header(&x->hdrs, name, x->extra.v[i].value), out);
	}
	if (x->has_signer) {
		struct sig_fields sf;
		http_sig_fields_init(&sf);
		if (http_sig_sign_request(&x->signer, x->method, (const char *)norm.data, x->has_body,
				     AIM_BYTES(x->body, x->body_len), aim_now(), &sf) != 0) {
			http_sig_fields_free(&sf);
			rc = -1;
			goto out;
		}
		for (size_t i = 0; i < sf.n && rc == 0; i++)
			rc = add_header(&x->hdrs, sf.v[i].name, sf.v[i].value);
		http_sig_fields_free(&sf);
		if (rc)
			goto out;
	}
	/* "Expect:" with nothing after the colon tells curl to leave the header
	 * out (no 100-continue round trip). "Expect;" would send an empty
	 * Expect header, which Node answers with 417. */
	{
		struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");
		ENSURE_GOTO(n != NULL, out, AIM_ERR_NOMEM, "out of memory");
		x->hdrs = n;
	}

	x->easy = curl_easy_init();
	ENSURE_GOTO(x->easy != NULL, out, AIM_ERR_NOMEM, "curl_easy_init failed");
	{
		CURL *e = x->easy;
		CURLcode c = CURLE_OK;
#define OPT(o, v) \
	if (c == CURLE_OK) \
		c = curl_easy_setopt(e, o, v)
		OPT(CURLOPT_URL, (const char *)norm.data);
		OPT(CURLOPT_PRIVATE, x);
		OPT(CURLOPT_ERRORBUFFER, x->errbuf);
		OPT(CURLOPT_NOSIGNAL, 1L);
		OPT(CURLOPT_PROTOCOLS_STR, "http,https");
		OPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		OPT(CURLOPT_FOLLOWLOCATION, 0L);
		OPT(CURLOPT_PROXY, "");
		OPT(CURLOPT_NOPROXY, "*");
		if (x->connect_to)
			OPT(CURLOPT_CONNECT_TO, x->connect_to);
		if (x->resolve)
			OPT(CURLOPT_RESOLVE, x->resolve);
		OPT(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
		OPT(CURLOPT_OPENSOCKETDATA, x);
		OPT(CURLOPT_CONNECTTIMEOUT_MS,
		    x->o.connect_timeout_ms < left ? x->o.connect_timeout_ms : (long)left);
		OPT(CURLOPT_TIMEOUT_MS, (long)left);
		OPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->o.max_body);
		OPT(CURLOPT_WRITEFUNCTION, on_body);
		OPT(CURLOPT_WRITEDATA, x);
		OPT(CURLOPT_HEADERFUNCTION, on_header);
		OPT(CURLOPT_HEADERDATA, x);
		OPT(CURLOPT_HTTPHEADER, x->hdrs);
		OPT(CURLOPT_PATH_AS_IS, 1L);
		OPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		OPT(CURLOPT_PIPEWAIT, 1L);
		OPT(CURLOPT_SSL_VERIFYPEER, 1L);
		OPT(CURLOPT_SSL_VERIFYHOST, 2L);
		if (x->ca)
			OPT(CURLOPT_CAINFO, x->ca);
		if (x->ua)
			OPT(CURLOPT_USERAGENT, x->ua);
		if (strcmp(x->method, "GET") == 0) {
			OPT(CURLOPT_HTTPGET, 1L);
		} else if (strcmp(x->method, "HEAD") == 0) {
			OPT(CURLOPT_NOBODY, 1L);
		} else {
			if (strcmp(x->method, "POST") != 0)
				OPT(CURLOPT_CUSTOMREQUEST, x->method);
			OPT(CURLOPT_POST, 1L);
			OPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
			OPT(CURLOPT_POSTFIELDS, x->body ? (const char *)x->body : "");
		}
#undef OPT
		ENSURE_GOTO(c == CURLE_OK, out, AIM_ERR_INTERNAL, "curl option refused: %s",
			    curl_easy_strerror(c));
	}
	ENSURE_GOTO(curl_multi_add_handle(x->m->multi, x->easy) == CURLM_OK, out,
		    AIM_ERR_INTERNAL, "curl_multi_add_handle failed");
out:
	aim_buf_free(&norm);
	aim_url_free(&u);
	return rc;
}

/* ---- Completion ------------------------------------------------------------ */

static void xfer_unlink(struct xfer *x)
{
	struct xfer **pp = &x->m->list;
	while (*pp && *pp != x)
		pp = &(*pp)->next;
	if (*pp)
		*pp = x->next;
}

static void finish_fail(struct xfer *x)
{
	enum aim_err e = aim_errcode();
	char msg[300];
	snprintf(msg, sizeof msg, "%s", aim_errmsg());
	xfer_unlink(x);
	client_done_fn done = x->done;
	void *ctx = x->ctx;
	xfer_free(x);
	struct client_response empty;
	memset(&empty, 0, sizeof empty);
	aim_fail(e, "%s", msg);
	done(ctx, -1, e, msg, &empty);
}

static void finish_ok(struct xfer *x, long status)
{
	struct client_response r;
	memset(&r, 0, sizeof r);
	r.status = status;
	char *ct = NULL;
	if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		r.content_type = aim_xstrdup(ct);
	r.final_url = x->url;
	x->url = NULL;
	char *ip = NULL;
	if (curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
		r.remote_ip = aim_xstrdup(ip);
	r.redirects = x->redirects;
	r.body = x->resp_body;
	aim_buf_init(&x->resp_body, 1);
	r.headers = x->resp_hdrs;
	http_sig_fields_init(&x->resp_hdrs);
	xfer_unlink(x);
	client_done_fn done = x->done;
	void *ctx = x->ctx;
	xfer_free(x);
	done(ctx, 0, AIM_ERR_NONE, NULL, &r);
}

static bool is_scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '-' || c == '.';
}

/* The next hop's URL: Location resolved against the current URL. */
static int redirect_target(const struct xfer *x, const char *loc, char **out)
{
	/* A Location that is not a URL is the peer's bad answer (AIM_ERR_REMOTE). */
	size_t n = strlen(loc);
	ENSURE(n > 0 && n <= AIM_URL_MAX, AIM_ERR_REMOTE, "redirect: empty or overlong Location");
	for (size_t i = 0; i < n; i++)
		ENSURE((unsigned char)loc[i] > 0x20 && (unsigned char)loc[i] < 0x7f, AIM_ERR_REMOTE,
		       "redirect: bad character in Location");
	/* A18: an absolute Location with another scheme is refused outright */
	size_t i = 0;
	while (i < n && is_scheme_char(loc[i]))
		i++;
	if (i > 0 && i < n && loc[i] == ':' &&
	    ((loc[0] >= 'a' && loc[0] <= 'z') || (loc[0] >= 'A' && loc[0] <= 'Z'))) {
		bool http = (i == 4 && strncasecmp(loc, "http", 4) == 0) ||
			    (i == 5 && strncasecmp(loc, "https", 5) == 0);
		ENSURE(http, AIM_ERR_DENIED, "redirect to a non-HTTP(S) URL refused");
	}
	CURLU *h = curl_url();
	ENSURE(h != NULL, AIM_ERR_NOMEM, "out of memory");
	char *full = NULL;
	int rc = 0;
	if (curl_url_set(h, CURLUPART_URL, x->url, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_URL, loc, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_URL, &full, 0) != CURLUE_OK)
		rc = aim_fail(AIM_ERR_REMOTE, "redirect: Location does not resolve");
	else
		*out = aim_xstrdup(full);
	curl_free(full);
	curl_url_cleanup(h);
	return rc;
}

static void on_done(struct xfer *x, CURLcode res)
{
	if (res != CURLE_OK) {
		if (x->abort_err)
			aim_fail(x->abort_err, "%s", x->abort_msg);
		else if (res == CURLE_OPERATION_TIMEDOUT)
			aim_fail(AIM_ERR_TIMEOUT, "fetch timed out");
		else if (res == CURLE_FILESIZE_EXCEEDED)
			aim_fail(AIM_ERR_LIMIT, "response body larger than %zu bytes", x->o.max_body);
		else if (res == CURLE_UNSUPPORTED_PROTOCOL)
			aim_fail(AIM_ERR_DENIED, "protocol refused");
		else
			aim_fail(AIM_ERR_REMOTE, "fetch failed: %s%s%s", curl_easy_strerror(res),
				 x->errbuf[0] ? ": " : "", x->errbuf);
		finish_fail(x);
		return;
	}
	long status = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	const char *loc = http_sig_fields_get(x->resp_hdrs.v, x->resp_hdrs.n, "location");
	bool redirect = (status == 301 || status == 302 || status == 303 || status == 307 ||
			 status == 308) &&
			loc != NULL;
	if (!redirect || x->o.max_redirects <= 0) {
		finish_ok(x, status);
		return;
	}
	/* A18: "more than 5 redirects; a redirect loop" -> not followed */
	if (x->redirects >= x->o.max_redirects) {
		aim_fail(AIM_ERR_LIMIT, "more than %d redirects", x->o.max_redirects);
		finish_fail(x);
		return;
	}
	char *next = NULL;
	if (redirect_target(x, loc, &next) != 0) {
		finish_fail(x);
		return;
	}
	/* RFC 9110 15.4: 303 turns into GET; so do 301/302 after a POST, as
	 * browsers and curl do; 307/308 keep method and body */
	if (status == 303 ? strcmp(x->method, "HEAD") != 0
			  : ((status == 301 || status == 302) && strcmp(x->method, "POST") == 0)) {
		free(x->method);
		x->method = aim_xstrdup("GET");
		free(x->body);
		x->body = NULL;
		x->body_len = 0;
		x->has_body = false;
	}
	/* A POST (PUT, ...) that keeps its method and body is only re-sent to
	 * the origin it was meant for: a remote must not be able to bounce a
	 * signed delivery to a third server. */
	if (strcmp(x->method, "GET") != 0 && strcmp(x->method, "HEAD") != 0) {
		struct aim_url nu;
		bool same = aim_url_parse(next, &nu) == 0 && aim_url_same_origin(&nu, &x->origin0);
		aim_url_free(&nu);
		if (!same) {
			free(next);
			aim_fail(AIM_ERR_DENIED, "refusing to follow a %ld for %s to another origin",
				 status, x->method);
			finish_fail(x);
			return;
		}
	}
	free(x->url);
	x->url = next;
	x->redirects++;
	if (hop_start(x) != 0)
		finish_fail(x);
}

/* ---- Multi ---------------------------------------------------------------- */

struct client_multi *http_client_multi_new(void)
{
	pthread_once(&curl_once, curl_init_once);
	struct client_multi *m = aim_xcalloc(1, sizeof *m);
	m->multi = curl_multi_init();
	if (!m->multi) {
		free(m);
		aim_fail(AIM_ERR_NOMEM, "curl_multi_init failed");
		return NULL;
	}
	curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, 64L);
	curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return m;
}

void http_client_multi_wakeup(struct client_multi *m)
{
	if (m) {
		atomic_store(&m->woken, true);
		curl_multi_wakeup(m->multi);
	}
}

void http_client_multi_free(struct client_multi *m)
{
	if (!m)
		return;
	while (m->list) {
		struct xfer *x = m->list;
		m->list = x->next;
		xfer_free(x);
	}
	curl_multi_cleanup(m->multi);
	free(m);
}

static bool header_text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

int http_client_multi_add(struct client_multi *m, const struct client_opts *o,
		     const struct client_request *req, client_done_fn done, void *ctx)
{
	ENSURE(m && req && req->url && done, AIM_ERR_INVALID, "client: incomplete request");
	struct client_opts def;
	if (!o) {
		http_client_opts_default(&def);
		o = &def;
	}
	const char *method = req->method ? req->method : "GET";
	ENSURE(strlen(method) > 0 && strlen(method) < 16, AIM_ERR_INVALID, "client: bad method");
	for (const char *c = method; *c; c++)
		ENSURE(*c >= 'A' && *c <= 'Z', AIM_ERR_INVALID, "client: bad method");
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *nm = req->headers[i].name;
		ENSURE(nm && *nm && req->headers[i].value && header_text_ok(nm) &&
			       header_text_ok(req->headers[i].value) && !strchr(nm, ':') &&
			       !strchr(nm, ' '),
		       AIM_ERR_INVALID, "client: bad request header");
	}
	for (size_t i = 0; i < o->n_connect_to; i++) {
		char parts[4][300];
		TRY(connect_to_split(o->connect_to[i], parts));
	}

	struct xfer *x = aim_xcalloc(1, sizeof *x);
	x->m = m;
	x->o = *o;
	x->o.connect_to = NULL;
	x->ct = aim_xcalloc(o->n_connect_to ? o->n_connect_to : 1, sizeof *x->ct);
	for (size_t i = 0; i < o->n_connect_to; i++)
		x->ct[i] = aim_xstrdup(o->connect_to[i]);
	x->ua = o->user_agent ? aim_xstrdup(o->user_agent) : NULL;
	x->ca = o->ca_file ? aim_xstrdup(o->ca_file) : NULL;
	x->o.user_agent = x->ua;
	x->o.ca_file = x->ca;
	if (x->o.max_body == 0)
		x->o.max_body = AIM_BUF_DEFAULT_MAX;
	if (x->o.max_header_bytes == 0)
		x->o.max_header_bytes = 64 * 1024;
	if (x->o.timeout_ms <= 0)
		x->o.timeout_ms = 20000;
	if (x->o.connect_timeout_ms <= 0)
		x->o.connect_timeout_ms = x->o.timeout_ms;
	x->method = aim_xstrdup(method);
	x->url = aim_xstrdup(req->url);
	http_sig_fields_init(&x->extra);
	for (size_t i = 0; i < req->n_headers; i++)
		http_sig_fields_add(&x->extra, req->headers[i].name, req->headers[i].value);
	x->has_body = req->has_body;
	if (req->body.len) {
		x->body = aim_xmalloc(req->body.len);
		memcpy(x->body, req->body.p, req->body.len);
		x->body_len = req->body.len;
	}
	if (req->signer) {
		x->has_signer = true;
		x->signer = *req->signer;
		x->signer_key_id = aim_xstrdup(req->signer->key_id ? req->signer->key_id : "");
		x->signer.key_id = x->signer_key_id;
	}
	aim_buf_init(&x->resp_body, x->o.max_body);
	http_sig_fields_init(&x->resp_hdrs);
	x->deadline = aim_mono_ms() + x->o.timeout_ms;
	x->done = done;
	x->ctx = ctx;
	if (aim_url_parse(x->url, &x->origin0) != 0 || hop_start(x) != 0) {
		enum aim_err e = aim_errcode();
		char msg[300];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		if (e == AIM_ERR_UNSUPPORTED)
			e = AIM_ERR_DENIED;
		xfer_free(x);
		return aim_fail(e, "%s", msg);
	}
	x->next = m->list;
	m->list = x;
	return 0;
}

static void drain(struct client_multi *m)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		struct xfer *x = (struct xfer *)priv;
		CURLcode res = msg->data.result;
		if (x) {
			m->finished++;
			on_done(x, res);
		}
	}
}

static int count(const struct client_multi *m)
{
	int n = 0;
	for (const struct xfer *x = m->list; x; x = x->next)
		n++;
	return n;
}

int http_client_multi_run(struct client_multi *m, int wait_ms)
{
	int64_t until = aim_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	m->finished = 0;
	for (;;) {
		int running = 0;
		curl_multi_perform(m->multi, &running);
		drain(m);
		if (!m->list)
			return 0;
		int64_t left = until - aim_mono_ms();
		/* (a redirect's next hop counts as finished too: harmless) */
		if (left <= 0 || m->finished > 0 || atomic_exchange(&m->woken, false))
			return count(m);
		int numfds = 0;
		curl_multi_poll(m->multi, NULL, 0, (int)(left < 100 ? left : 100), &numfds);
	}
}

/* ---- Blocking wrapper ------------------------------------------------------ */

struct fetch_result {
	bool done;
	int rc;
	enum aim_err err;
	char msg[300];
	struct client_response *out;
};

static void fetch_done(void *ctx, int rc, enum aim_err err, const char *msg,
		       struct client_response *resp)
{
	struct fetch_result *r = ctx;
	r->done = true;
	r->rc = rc;
	r->err = err;
	snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
	*r->out = *resp;
}

int http_client_fetch(const struct client_opts *o, const struct client_request *req,
		 struct client_response *out)
{
	memset(out, 0, sizeof *out);
	struct client_multi *m = http_client_multi_new();
	if (!m)
		return -1;
	struct fetch_result r = { .out = out };
	if (http_client_multi_add(m, o, req, fetch_done, &r) != 0) {
		http_client_multi_free(m);
		return -1;
	}
	while (!r.done)
		http_client_multi_run(m, 1000);
	http_client_multi_free(m);
	if (r.rc != 0)
		return aim_fail(r.err, "%s", r.msg);
	return 0;
}
