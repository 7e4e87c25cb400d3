/* http server on libmicrohttpd: limits, TLS, streaming, access log. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESP_MAX ((size_t)64 << 20)
#define DRAIN_MAX ((uint64_t)16 << 20)
#define TLS_FILE_MAX ((size_t)1 << 20)

/* Per TCP connection (MHD's socket context): its address, what it is
 * doing and until when (the sweeper enforces the deadlines). */
enum conn_phase { PH_HEADERS, PH_BODY, PH_BUSY };

struct conn {
	struct conn *prev, *next;    /* s->conns, under s->cmu */
	struct MHD_Connection *c;
	int fd;
	char ip[INET6_ADDRSTRLEN];
	enum conn_phase phase;
	int64_t deadline_ms;         /* 0: none */
	bool over_total, over_ip;    /* accepted into the reserve: refused at once */
	bool cut;                    /* the sweeper timed it out */
};

/* Connections per address, a chained table under s->cmu. */
#define IP_BUCKETS 1024
struct ip_count {
	struct ip_count *next;
	char ip[INET6_ADDRSTRLEN];
	unsigned n;
};

struct req_ctx;

struct http_server {
	struct MHD_Daemon *d;        /* NULL until http_server_run */
	http_handler_fn fn;
	void *app;
	struct http_server_config cfg; /* strings borrowed from the caller */
	int fd;                      /* the bound socket; MHD owns it once running */
	bool v6;
	bool tls;
	size_t max_body;
	unsigned max_conn, per_ip, reserve, ip_reserve;
	int64_t header_ms, body_ms, idle_ms;
	char *cert, *key;
	char url[96];
	atomic_int active;
	atomic_bool stopping;
	/* Connections (for the caps and the sweeper) */
	pthread_mutex_t cmu;
	struct conn *conns;
	unsigned nconn;
	struct ip_count *ips[IP_BUCKETS];
	pthread_t sweeper;
	bool sweeper_on;
	pthread_cond_t sweep_cv;
	/* Streams (to end them all at shutdown), under smu */
	pthread_mutex_t smu;
	struct http_stream *streams;
	uint64_t stream_ids;
	/* MHD does not watch a suspended connection: a parked stream's socket
	 * is watched here for the client's close (or anything it sends), which
	 * resumes the stream so that MHD sees it end. */
	int park_ep;
	pthread_t parker;
	atomic_bool parker_on;
	/* The worker pool: handlers run here, never in the event loop */
	pthread_mutex_t jmu;
	pthread_cond_t jcv;
	struct req_ctx *jobs_head, *jobs_tail;
	bool jobs_stop;
	unsigned nworkers;
	pthread_t *workers;
	atomic_int busy;             /* jobs queued or running */
};

/* Per request; freed when both the request completed and a stream (if any)
 * was released. */
struct req_ctx {
	struct http_server *s;
	struct MHD_Connection *conn;
	struct conn *cn;             /* the connection's record, NULL if none */
	atomic_int refs;
	bool started;                /* the access handler has seen it */
	char method[16];
	char *path;
	char *target;                /* request target as sent (path?query), not decoded */
	char remote[INET6_ADDRSTRLEN + 8];
	struct aim_buf body;
	bool too_large;
	uint64_t drained;
	bool responded;
	int status;
	atomic_ullong bytes;
	int64_t start_ms;
	/* Handed to a worker: queued, then done (resp filled) */
	enum { JOB_NONE, JOB_QUEUED, JOB_DONE } job;
	struct req_ctx *job_next;
	struct http_response resp;
};

static void ctx_unref(struct req_ctx *x)
{
	if (atomic_fetch_sub(&x->refs, 1) != 1)
		return;
	aim_buf_free(&x->body);
	free(x->path);
	free(x->target);
	free(x);
}

/* ---- Request accessors ----------------------------------------------------- */

const char *http_req_target(const struct http_request *r)
{
	return r->target;
}

const char *http_req_header(const struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_request *r, const char *name)
{
	struct MHD_Connection *c = r->conn;
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	if (v)
		return v;
	/* A bare key ("?page") has a NULL value: tell it apart from absence. */
	return MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), NULL,
					     NULL) == MHD_YES
		       ? ""
		       : NULL;
}

struct qall {
	const char *name;
	const char **out;
	size_t max, n;
};

static enum MHD_Result qall_it(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct qall *q = cls;
	if (key && !strcmp(key, q->name)) {
		if (q->n < q->max)
			q->out[q->n] = value ? value : "";
		q->n++;
	}
	return MHD_YES;
}

size_t http_req_query_all(const struct http_request *r, const char *name, const char **out,
			  size_t max)
{
	struct qall q = { name, out, max, 0 };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, qall_it, &q);
	return q.n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- Responses -------------------------------------------------------------- */

void http_resp_header(struct http_response *r, const char *name, const char *value)
{
	if (r->nheaders >= HTTP_MAX_RESP_HEADERS)
		return;
	r->headers[r->nheaders].name = aim_xstrdup(name);
	r->headers[r->nheaders].value = aim_xstrdup(value);
	r->nheaders++;
}

void http_resp_set(struct http_response *r, int status, const char *content_type,
		   const void *body, size_t len)
{
	r->status = status;
	free(r->content_type);
	r->content_type = aim_xstrdup(content_type);
	aim_buf_free(&r->body);
	aim_buf_init(&r->body, RESP_MAX);
	if (len && aim_buf_append(&r->body, body, len) != 0) {
		r->status = 500;
		aim_buf_init(&r->body, RESP_MAX);
	}
}

void http_resp_error(struct http_response *r, int status, const char *code, const char *detail)
{
	struct aim_buf b;
	aim_buf_init(&b, 16384);
	/* Minimal JSON string escaping; details are short ASCII messages. */
	const char *parts[2] = { code, detail ? detail : "" };
	bool ok = aim_buf_append_str(&b, "{\"error\":\"") == 0;
	for (int p = 0; p < 2 && ok; p++) {
		for (const unsigned char *c = (const unsigned char *)parts[p]; *c && ok; c++) {
			if (*c == '"' || *c == '\\')
				ok = aim_buf_printf(&b, "\\%c", *c) == 0;
			else if (*c < 0x20)
				ok = aim_buf_printf(&b, "\\u%04x", *c) == 0;
			else
				ok = aim_buf_append_byte(&b, *c) == 0;
		}
		if (ok)
			ok = aim_buf_append_str(&b, p == 0 ? "\",\"detail\":\"" : "\"}") == 0;
	}
	if (!ok) {
		aim_buf_init(&b, 0);
		ok = aim_buf_append_str(&b, "{\"error\":\"error\",\"detail\":\"\"}") == 0;
	}
	http_resp_set(r, status, "application/json", b.data, b.len);
	aim_buf_free(&b);
}

static void resp_free(struct http_response *r)
{
	free(r->content_type);
	aim_buf_free(&r->body);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	if (r->stream_free)
		r->stream_free(r->stream_cls);
}

/* ---- Streaming ------------------------------------------------------------------ */

/* A streamed response. It never blocks the event loop: when the
 * application's callback has nothing (0), the connection is suspended, and
 * http_stream_wake() resumes it. The handle is reference-counted so that
 * a waker holding it while the stream ends touches only freed-safe state. */
struct http_stream {
	struct http_stream *prev, *next; /* s->streams, under s->smu */
	http_stream_fn fn;
	void (*free_fn)(void *cls);
	void *cls;
	struct req_ctx *x;
	pthread_mutex_t mu;
	bool suspended;              /* by stream_read, until a wake resumes it */
	bool pending;                /* woken while not suspended: call fn again */
	bool dead;                   /* released: wakes do nothing */
	atomic_int refs;
	uint64_t id;                 /* the key of its s->park_ep registration */
	atomic_bool peer_gone;       /* the client closed (or sent): end it */
	int fd;                      /* the connection's socket, -1 if unknown */
	bool in_ep;                  /* registered in s->park_ep */
};

void http_stream_ref(struct http_stream *h)
{
	atomic_fetch_add(&h->refs, 1);
}

void http_stream_unref(struct http_stream *h)
{
	if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&h->mu);
	free(h);
}

void http_stream_wake(struct http_stream *h)
{
	pthread_mutex_lock(&h->mu);
	/* A suspended connection is not processed by MHD, so it cannot be
	 * closed under us: resuming it here is safe. */
	if (!h->dead && h->suspended) {
		h->suspended = false;
		MHD_resume_connection(h->x->conn);
	} else if (!h->dead) {
		h->pending = true;
	}
	pthread_mutex_unlock(&h->mu);
}

/* Arms the watch on a stream's socket (one shot), caller holds st->mu. */
static void park_watch(struct http_stream *st)
{
	struct http_server *s = st->x->s;
	if (s->park_ep < 0 || st->fd < 0) {
		aim_log(AIM_LOG_DEBUG, "http", "stream not watched: ep %d fd %d", s->park_ep, st->fd);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
				  .data.u64 = st->id };
	if (epoll_ctl(s->park_ep, st->in_ep ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, st->fd, &ev) == 0)
		st->in_ep = true;
	else
		aim_log(AIM_LOG_DEBUG, "http", "cannot watch stream fd %d: %s", st->fd, strerror(errno));
}

/* One pass over the streams per batch of events (not one per event): many
 * clients closing at once cost a pass per 256 of them. */
static void *parker_main(void *arg)
{
	struct http_server *s = arg;
	struct epoll_event evs[256];
	struct http_stream *hits[256];
	while (s->parker_on) {
		int n = epoll_wait(s->park_ep, evs, 256, 500);
		if (n <= 0)
			continue;
		int nhit = 0;
		pthread_mutex_lock(&s->smu);
		for (struct http_stream *st = s->streams; st && nhit < n; st = st->next)
			for (int i = 0; i < n; i++)
				if (st->id == evs[i].data.u64) {
					http_stream_ref(st);
					hits[nhit++] = st;
					break;
				}
		pthread_mutex_unlock(&s->smu);
		for (int i = 0; i < nhit; i++) {
			/* An event stream's client sends nothing after its
			 * request: its socket readable means it closed (or
			 * misbehaves), and the stream ends. */
			atomic_store(&hits[i]->peer_gone, true);
			http_stream_wake(hits[i]);
			http_stream_unref(hits[i]);
		}
	}
	return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *st = cls;
	if (atomic_load(&st->peer_gone))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (atomic_load(&st->x->s->stopping))
		return MHD_CONTENT_READER_END_OF_STREAM;
	ssize_t n = st->fn(st->cls, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n > 0) {
		atomic_fetch_add(&st->x->bytes, (unsigned long long)n);
		return n;
	}
	/* Nothing now: park the connection until a wake (MHD allows a content
	 * reader to suspend its connection). */
	pthread_mutex_lock(&st->mu);
	if (st->pending) {
		st->pending = false; /* woken meanwhile: MHD calls again */
	} else {
		st->suspended = true;
		park_watch(st);
		MHD_suspend_connection(st->x->conn);
	}
	pthread_mutex_unlock(&st->mu);
	return 0;
}

static void stream_release(void *cls)
{
	struct http_stream *st = cls;
	struct http_server *s = st->x->s;
	pthread_mutex_lock(&st->mu);
	st->dead = true;
	if (st->in_ep)
		(void)epoll_ctl(s->park_ep, EPOLL_CTL_DEL, st->fd, NULL);
	st->in_ep = false;
	pthread_mutex_unlock(&st->mu);
	pthread_mutex_lock(&s->smu);
	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	pthread_mutex_unlock(&s->smu);
	if (st->free_fn)
		st->free_fn(st->cls);
	ctx_unref(st->x);
	http_stream_unref(st);
}

/* ---- The request path --------------------------------------------------------------- */

static enum MHD_Result queue(struct req_ctx *x, struct http_response *r)
{
	struct MHD_Response *mr;
	if (r->status == 0) {
		resp_free(r);
		memset(r, 0, sizeof *r);
		http_resp_error(r, 500, "internal", "no response");
	}
	if (r->stream) {
		struct http_stream *st = aim_xcalloc(1, sizeof *st);
		pthread_mutex_init(&st->mu, NULL);
		atomic_init(&st->refs, 1);
		st->fn = r->stream;
		st->free_fn = r->stream_free;
		st->cls = r->stream_cls;
		st->x = x;
		atomic_fetch_add(&x->refs, 1);
		r->stream_free = NULL; /* now owned by the stream */
		struct http_server *s = x->s;
		st->fd = x->cn ? x->cn->fd : -1;
		pthread_mutex_lock(&s->smu);
		st->id = ++s->stream_ids;
		st->next = s->streams;
		if (s->streams)
			s->streams->prev = st;
		s->streams = st;
		pthread_mutex_unlock(&s->smu);
		if (r->stream_bind)
			r->stream_bind(st->cls, st);
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st,
						       stream_release);
		if (!mr) {
			stream_release(st);
			resp_free(r);
			return MHD_NO;
		}
	} else {
		size_t len = 0;
		uint8_t *body = aim_buf_steal(&r->body, &len);
		mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (!mr) {
			free(body);
			resp_free(r);
			return MHD_NO;
		}
		atomic_fetch_add(&x->bytes, (unsigned long long)len);
	}
	if (r->content_type)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	for (size_t i = 0; i < r->nheaders; i++)
		MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
	x->status = r->status;
	x->responded = true;
	enum MHD_Result ok = MHD_queue_response(x->conn, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	resp_free(r);
	return ok;
}

/* Percent-decoding of the path and query arguments, except %00: a NUL
 * would cut a C string short and make "/users/alice%00" look like alice. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *str)
{
	char *w = str;
	for (const char *r = str; *r; r++) {
		int hi, lo;
		if (*r == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return (size_t)(w - str);
}

static void remote_text(struct MHD_Connection *c, char *out, size_t n)
{
	snprintf(out, n, "-");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)n);
}

#define TARGET_MAX 8192

static struct req_ctx *ctx_new(struct http_server *s, struct MHD_Connection *c, const char *uri)
{
	struct req_ctx *x = aim_xcalloc(1, sizeof *x);
	atomic_init(&x->refs, 1);
	x->s = s;
	x->conn = c;
	x->start_ms = aim_mono_ms();
	x->target = aim_xstrndup(uri ? uri : "/", TARGET_MAX);
	remote_text(c, x->remote, sizeof x->remote);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	x->cn = ci ? ci->socket_context : NULL;
	atomic_fetch_add(&s->active, 1);
	return x;
}

/* ---- Connections: caps, reserve, deadlines -------------------------------------------------
 * MHD closes a connection past its own limits without a word. So its limits
 * are set above ours, by a reserve: a connection past our total cap or its
 * address's cap is accepted into the reserve, read up to its headers, and
 * answered 503 or 429 with Retry-After, then closed. Only past the reserve
 * does the accept policy close silently. */

static uint32_t ip_hash(const char *ip)
{
	uint32_t h = 2166136261u;
	for (; *ip; ip++)
		h = (h ^ (uint8_t)*ip) * 16777619u;
	return h % IP_BUCKETS;
}

/* The count of ip (caller holds cmu); created at 0 when create. */
static struct ip_count *ip_find(struct http_server *s, const char *ip, bool create)
{
	struct ip_count **pp = &s->ips[ip_hash(ip)];
	for (struct ip_count *e = *pp; e; e = e->next)
		if (!strcmp(e->ip, ip))
			return e;
	if (!create)
		return NULL;
	struct ip_count *e = aim_xcalloc(1, sizeof *e);
	snprintf(e->ip, sizeof e->ip, "%s", ip);
	e->next = *pp;
	*pp = e;
	return e;
}

static void ip_drop(struct http_server *s, const char *ip)
{
	struct ip_count **pp = &s->ips[ip_hash(ip)];
	for (struct ip_count *e = *pp; e; pp = &e->next, e = e->next)
		if (!strcmp(e->ip, ip)) {
			if (--e->n == 0) {
				*pp = e->next;
				free(e);
			}
			return;
		}
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
	snprintf(out, n, "-");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)n);
}

/* Only past the reserve: closed at once, silently (MHD allows nothing else). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *s = cls;
	char ip[INET6_ADDRSTRLEN];
	addr_text(addr, ip, sizeof ip);
	pthread_mutex_lock(&s->cmu);
	struct ip_count *e = ip_find(s, ip, false);
	bool ok = s->nconn < s->max_conn + s->reserve &&
		  (!s->per_ip || !e || e->n < s->per_ip + s->ip_reserve);
	pthread_mutex_unlock(&s->cmu);
	if (!ok)
		aim_log(AIM_LOG_WARN, "http", "remote=%s closed at accept: past the reserve", ip);
	return ok ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn *cn = aim_xcalloc(1, sizeof *cn);
		cn->c = c;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cn->fd = ci ? ci->connect_fd : -1;
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		addr_text(ci ? ci->client_addr : NULL, cn->ip, sizeof cn->ip);
		cn->phase = PH_HEADERS;
		cn->deadline_ms = aim_mono_ms() + s->header_ms;
		pthread_mutex_lock(&s->cmu);
		struct ip_count *e = ip_find(s, cn->ip, true);
		e->n++;
		s->nconn++;
		cn->over_total = s->nconn > s->max_conn;
		cn->over_ip = s->per_ip && e->n > s->per_ip;
		cn->next = s->conns;
		if (s->conns)
			s->conns->prev = cn;
		s->conns = cn;
		pthread_mutex_unlock(&s->cmu);
		*socket_context = cn;
		return;
	}
	struct conn *cn = *socket_context;
	if (!cn)
		return;
	*socket_context = NULL;
	pthread_mutex_lock(&s->cmu);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		s->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	s->nconn--;
	ip_drop(s, cn->ip);
	pthread_mutex_unlock(&s->cmu);
	free(cn);
}

static void conn_phase(struct http_server *s, struct conn *cn, enum conn_phase ph,
		       int64_t deadline_ms)
{
	if (!cn)
		return;
	pthread_mutex_lock(&s->cmu);
	cn->phase = ph;
	cn->deadline_ms = deadline_ms;
	pthread_mutex_unlock(&s->cmu);
}

/* A response written straight to a plain-HTTP socket, for the moments MHD
 * gives no way to answer (a deadline passed while it reads); the
 * connection is closed after it. Over TLS nothing can be written beside
 * MHD's session: the connection is only closed. */
static void send_canned(struct http_server *s, int fd, int status, const char *reason,
			const char *code, const char *detail)
{
	if (s->tls || fd < 0)
		return;
	char body[256], msg[512];
	int bl = snprintf(body, sizeof body, "{\"error\":\"%s\",\"detail\":\"%s\"}", code,
			  detail);
	int n = snprintf(msg, sizeof msg,
			 "HTTP/1.1 %d %s\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			 status, reason, bl, body);
	if (n > 0 && (size_t)n < sizeof msg)
		(void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The sweeper: a connection past its deadline (headers not complete, a
 * body not complete) gets a 408 and is shut down; MHD sees the end of the
 * stream and closes it. The deadline is for the whole of the headers or
 * the body, not for inactivity: a sender dripping a byte a second is cut
 * off like a silent one. Under cmu, so MHD cannot close (and reuse) the
 * descriptor meanwhile (it reports the close to on_connection first). */
static void *sweeper_main(void *arg)
{
	struct http_server *s = arg;
	pthread_mutex_lock(&s->cmu);
	while (s->sweeper_on) {
		int64_t now = aim_mono_ms();
		for (struct conn *cn = s->conns; cn; cn = cn->next) {
			if (!cn->deadline_ms || now < cn->deadline_ms || cn->cut || cn->fd < 0)
				continue;
			cn->cut = true;
			bool body = cn->phase == PH_BODY;
			aim_log(AIM_LOG_INFO, "http", "remote=%s %s not complete in time: 408, closed",
				cn->ip, body ? "request body" : "request headers");
			send_canned(s, cn->fd, 408, "Request Timeout", "timeout",
				    body ? "request body not complete in time"
					 : "request headers not complete in time");
			shutdown(cn->fd, SHUT_RDWR);
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->sweep_cv, &s->cmu, &until);
	}
	pthread_mutex_unlock(&s->cmu);
	return NULL;
}

/* ---- The worker pool ------------------------------------------------------------------------
 * The event loop threads only read and write sockets; each complete request
 * is handed, connection suspended, to a worker that runs the handler (which
 * may block on the database or on a remote fetch), then resumes the
 * connection, whose next turn in the loop queues the response. */

static void run_handler(struct http_server *s, struct req_ctx *x)
{
	struct http_request req = {
		.method = x->method,
		.path = x->path,
		.target = x->target,
		.remote = x->remote,
		.body = x->body.data ? x->body.data : (const uint8_t *)"",
		.body_len = x->body.len,
		.conn = x->conn,
	};
	aim_buf_init(&x->resp.body, RESP_MAX);
	aim_errclear();
	s->fn(s->app, &req, &x->resp);
}

static void *worker_main(void *arg)
{
	struct http_server *s = arg;
	pthread_mutex_lock(&s->jmu);
	for (;;) {
		while (!s->jobs_head && !s->jobs_stop)
			pthread_cond_wait(&s->jcv, &s->jmu);
		struct req_ctx *x = s->jobs_head;
		if (!x)
			break; /* stopping, nothing left */
		s->jobs_head = x->job_next;
		if (!s->jobs_head)
			s->jobs_tail = NULL;
		pthread_mutex_unlock(&s->jmu);
		run_handler(s, x);
		x->job = JOB_DONE;
		atomic_fetch_sub(&s->busy, 1);
		MHD_resume_connection(x->conn);
		pthread_mutex_lock(&s->jmu);
	}
	pthread_mutex_unlock(&s->jmu);
	return NULL;
}

static void job_submit(struct http_server *s, struct req_ctx *x)
{
	x->job = JOB_QUEUED;
	x->job_next = NULL;
	atomic_fetch_add(&s->busy, 1);
	MHD_suspend_connection(x->conn);
	pthread_mutex_lock(&s->jmu);
	if (s->jobs_tail)
		s->jobs_tail->job_next = x;
	else
		s->jobs_head = x;
	s->jobs_tail = x;
	pthread_cond_signal(&s->jcv);
	pthread_mutex_unlock(&s->jmu);
}

/* Called once the request line is parsed, before decoding: keeps the raw
 * target (HTTP signatures sign it as sent) and starts the clock. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	return ctx_new(cls, c, uri);
}

/* ---- Message framing (request smuggling) -----------------------------------------------
 * libmicrohttpd 0.9.75 takes the first of several Content-Length fields,
 * serves a request carrying both Content-Length and Transfer-Encoding and
 * keeps the connection, and reads an unknown transfer coding until the peer
 * closes. Every header field is visible before the body is read: the
 * request's framing is decided here, once, and a request whose length is
 * ambiguous is refused before any of its body is taken as a new request. */

struct framing {
	unsigned n_cl;               /* Content-Length fields */
	const char *cl;              /* the first one */
	bool cl_differ;              /* two of them disagree */
	unsigned n_te;               /* Transfer-Encoding fields */
	unsigned codings;            /* transfer codings listed, all fields */
	unsigned chunked;            /* how many of them are "chunked" */
	bool chunked_last;           /* the last one listed is "chunked" */
	bool expect_continue;
};

static void framing_codings(struct framing *f, const char *v)
{
	const char *p = v;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - start);
		bool is_chunked = n == 7 && !strncasecmp(start, "chunked", 7);
		while (*p && *p != ',') /* parameters of the coding */
			p++;
		f->codings++;
		f->chunked += is_chunked;
		f->chunked_last = is_chunked;
	}
}

static enum MHD_Result framing_it(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct framing *f = cls;
	if (!key)
		return MHD_YES;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		if (f->n_cl++ == 0)
			f->cl = value ? value : "";
		else if (strcmp(f->cl, value ? value : ""))
			f->cl_differ = true;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		f->n_te++;
		framing_codings(f, value ? value : "");
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_EXPECT) && value &&
		   !strcasecmp(value, "100-continue")) {
		f->expect_continue = true;
	}
	return MHD_YES;
}

/* 0 when the request's framing is unambiguous; else the status to answer
 * (the connection is closed after it) and the reason. */
static int framing_check(struct MHD_Connection *c, const char *version, struct framing *f,
			 const char **why)
{
	memset(f, 0, sizeof *f);
	MHD_get_connection_values(c, MHD_HEADER_KIND, framing_it, f);
	/* RFC 9112 6.3 (5): "If a message is received without
	 * Transfer-Encoding and with an invalid Content-Length header field,
	 * then the message framing is invalid and the recipient MUST treat it
	 * as an unrecoverable error ... the server MUST respond with a 400
	 * (Bad Request) status code and then close the connection."
	 * Two fields with different values are such an invalid field (RFC
	 * 9110 8.6 allows only a list of identical values). */
	if (f->cl_differ) {
		*why = "conflicting Content-Length fields";
		return 400;
	}
	if (f->n_te == 0)
		return 0;
	/* RFC 9112 6.1: "A server or client that receives an HTTP/1.0 message
	 * containing a Transfer-Encoding header field MUST treat the message
	 * as if the framing is faulty, even if a Content-Length is present,
	 * and close the connection after processing the message." */
	if (version && !strcmp(version, MHD_HTTP_VERSION_1_0)) {
		*why = "Transfer-Encoding in an HTTP/1.0 request";
		return 400;
	}
	/* RFC 9112 6.1: "A server MAY reject a request that contains both
	 * Content-Length and Transfer-Encoding or process such a request in
	 * accordance with the Transfer-Encoding alone. Regardless, the server
	 * MUST close the connection after responding to such a request": it
	 * is the shape of a smuggling attempt, refused. */
	if (f->n_cl) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	/* RFC 9112 6.3 (4): "If a Transfer-Encoding header field is present in
	 * a request and the chunked transfer coding is not the final
	 * encoding, the message body length cannot be determined reliably;
	 * the server MUST respond with the 400 (Bad Request) status code and
	 * then close the connection." RFC 9112 7: "A sender MUST NOT apply
	 * the chunked transfer coding more than once to a message body." */
	if (!f->chunked_last || f->chunked > 1) {
		*why = "the final transfer coding is not chunked";
		return 400;
	}
	/* RFC 9112 6.1: "A server that receives a request message with a
	 * transfer coding it does not understand SHOULD respond with 501 (Not
	 * Implemented)." Only chunked is understood here. */
	if (f->codings > 1) {
		*why = "a transfer coding other than chunked";
		return 501;
	}
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http_server *s = cls;
	struct req_ctx *x = *con_cls;
	if (!x)
		*con_cls = x = ctx_new(s, c, url);
	if (!x->started) {
		x->started = true;
		/* The headers are in: the body (if any) has its own deadline. */
		conn_phase(s, x->cn, PH_BODY, aim_mono_ms() + s->body_ms);
		snprintf(x->method, sizeof x->method, "%s", method);
		x->path = aim_xstrdup(url ? url : "/");
		/* An encoded slash is data, not a separator: route such a path
		 * undecoded, so that "/users/alice%2Foutbox" names no route
		 * instead of alice's outbox. */
		if (x->target) {
			size_t plen = strcspn(x->target, "?");
			for (size_t i = 0; i + 2 < plen; i++) {
				if (x->target[i] == '%' && x->target[i + 1] == '2' &&
				    (x->target[i + 2] == 'f' || x->target[i + 2] == 'F')) {
					free(x->path);
					x->path = aim_xstrndup(x->target, plen);
					break;
				}
			}
		}
		aim_buf_init(&x->body, s->max_body);
		/* Accepted into the reserve: answered, so that a client past a
		 * cap learns it (and when to retry) instead of seeing a reset. */
		if (x->cn && (x->cn->over_ip || x->cn->over_total)) {
			bool ip = x->cn->over_ip;
			aim_log(AIM_LOG_INFO, "http", "remote=%s refused: %s", x->remote,
				ip ? "too many connections from this address"
				   : "too many connections");
			struct http_response r = { 0 };
			http_resp_error(&r, ip ? 429 : 503, ip ? "rate_limited" : "busy",
					ip ? "too many connections from this address"
					   : "too many connections, retry shortly");
			http_resp_header(&r, "Retry-After", ip ? "5" : "1");
			http_resp_header(&r, MHD_HTTP_HEADER_CONNECTION, "close");
			return queue(x, &r);
		}
		struct framing f;
		const char *why = NULL;
		int bad = framing_check(c, version, &f, &why);
		if (bad) {
			aim_log(AIM_LOG_INFO, "http", "remote=%s refused: %s", x->remote, why);
			struct http_response r = { 0 };
			http_resp_error(&r, bad, bad == 501 ? "not_implemented" : "bad_framing", why);
			http_resp_header(&r, MHD_HTTP_HEADER_CONNECTION, "close");
			return queue(x, &r);
		}
		/* Refuse a declared oversize body before reading any of it. */
		int64_t n;
		if (f.cl && aim_parse_int(f.cl, 0, INT64_MAX, &n) == 0 &&
		    (uint64_t)n > s->max_body) {
			/* A moderately oversized body is read and dropped so that the
			 * client, still sending, gets to read the 413; a huge one is
			 * refused at once and the connection closed. RFC 9110 10.1.1:
			 * "A server that receives a 100-continue expectation in an
			 * HTTP/1.1 request ... MAY omit sending a 100 (Continue)
			 * response if it has already received some or all of the
			 * content ... or if the framing indicates that there is no
			 * content", and may answer with a final status at once: a
			 * client that waits for 100 Continue gets the 413 instead
			 * and sends nothing. */
			if ((uint64_t)n <= DRAIN_MAX && !f.expect_continue) {
				x->too_large = true;
				return MHD_YES;
			}
			struct http_response r = { 0 };
			char d[96];
			snprintf(d, sizeof d, "request body larger than %zu bytes", s->max_body);
			http_resp_error(&r, 413, "too_large", d);
			http_resp_header(&r, MHD_HTTP_HEADER_CONNECTION, "close");
			return queue(x, &r);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* A body that trickles in for longer than its deadline is cut off
		 * (the idle timeout alone would let a slow drip hold the
		 * connection for ever); the sweeper does the same when nothing
		 * arrives at all. */
		if (x->cn && x->cn->deadline_ms && aim_mono_ms() > x->cn->deadline_ms) {
			aim_log(AIM_LOG_INFO, "http", "remote=%s request body not complete in time: 408",
				x->remote);
			x->status = 408;
			x->responded = true;
			send_canned(s, x->cn->fd, 408, "Request Timeout", "timeout",
				    "request body not complete in time");
			return MHD_NO;
		}
		if (x->too_large) {
			x->drained += *upload_size;
			if (x->drained > DRAIN_MAX) {
				/* MHD cannot queue a response in the middle of a
				 * body: the 413 is written here, then the
				 * connection closed. */
				char d[96];
				snprintf(d, sizeof d, "request body larger than %zu bytes", s->max_body);
				x->status = 413;
				x->responded = true;
				send_canned(s, x->cn ? x->cn->fd : -1, 413, "Content Too Large",
					    "too_large", d);
				*upload_size = 0;
				return MHD_NO;
			}
		}
		if (!x->too_large && !x->responded &&
		    aim_buf_append(&x->body, upload, *upload_size) != 0)
			x->too_large = true; /* the buffer freed itself; discard the rest */
		*upload_size = 0;
		return MHD_YES;
	}
	if (x->responded)
		return MHD_YES;
	if (x->job == JOB_QUEUED)
		return MHD_YES; /* resumed early: the worker is not done */
	if (x->job == JOB_DONE) {
		x->job = JOB_NONE;
		return queue(x, &x->resp);
	}
	conn_phase(s, x->cn, PH_BUSY, 0);
	if (x->too_large) {
		struct http_response r = { 0 };
		char d[96];
		snprintf(d, sizeof d, "request body larger than %zu bytes", s->max_body);
		http_resp_error(&r, 413, "too_large", d);
		return queue(x, &r);
	}
	job_submit(s, x);
	return MHD_YES;
}

/* The path as one log token: controls, spaces, quotes and non-ASCII become %XX. */
static void log_escape(const char *in, char *out, size_t n)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < n; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '%')
			o += (size_t)snprintf(out + o, n - o, "%%%02X", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct req_ctx *x = *con_cls;
	if (!x)
		return;
	*con_cls = NULL;
	char path[512];
	log_escape(x->started ? x->path : x->target, path, sizeof path);
	aim_log(AIM_LOG_INFO, "access",
		"method=%s path=%s status=%d bytes=%llu duration_ms=%lld remote=%s%s",
		x->started ? x->method : "-", path,
		x->responded ? x->status : 0, (unsigned long long)atomic_load(&x->bytes),
		(long long)(aim_mono_ms() - x->start_ms), x->remote,
		toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
	/* Kept alive: idle until MHD's timeout, then the next request's
	 * headers have their deadline. */
	conn_phase(s, x->cn, PH_HEADERS, aim_mono_ms() + s->idle_ms + s->header_ms);
	atomic_fetch_sub(&s->active, 1);
	ctx_unref(x);
}

/* libmicrohttpd's own complaints (bad requests it refuses itself, TLS
 * handshake failures, resource limits) go to the common log. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	aim_log(AIM_LOG_WARN, "mhd", "%s", msg);
}

/* ---- Start and stop ------------------------------------------------------------------ */

int http_parse_listen(const char *listen, void *ssv, size_t *sslen)
{
	struct sockaddr_storage *ss = ssv;
	memset(ss, 0, sizeof *ss);
	ENSURE(listen && *listen, AIM_ERR_INVALID, "empty listen address");
	char host[128];
	const char *colon;
	if (listen[0] == '[') {
		const char *end = strchr(listen, ']');
		ENSURE(end && end[1] == ':' && (size_t)(end - listen - 1) < sizeof host,
		       AIM_ERR_INVALID, "bad listen address %s (want [ADDR]:PORT)", listen);
		memcpy(host, listen + 1, (size_t)(end - listen - 1));
		host[end - listen - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(listen, ':');
		ENSURE(colon && (size_t)(colon - listen) < sizeof host && colon != listen,
		       AIM_ERR_INVALID, "bad listen address %s (want ADDR:PORT)", listen);
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = 0;
	}
	int64_t port;
	ENSURE(aim_parse_int(colon + 1, 0, 65535, &port) == 0, AIM_ERR_INVALID,
	       "bad port in listen address %s", listen);
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*sslen = sizeof *v4;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof *v6;
	} else {
		return aim_fail(AIM_ERR_INVALID, "listen address %s is not an IP address", host);
	}
	return 0;
}

static int read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	ENSURE(f, AIM_ERR_STORAGE, "cannot open %s: %s", path, strerror(errno));
	struct aim_buf b;
	aim_buf_init(&b, TLS_FILE_MAX);
	char chunk[4096];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (aim_buf_append(&b, chunk, n) != 0) {
			rc = -1;
			break;
		}
	bool err = ferror(f);
	fclose(f);
	if (rc != 0)
		return aim_fail(AIM_ERR_LIMIT, "%s is too large", path);
	if (err) {
		aim_buf_free(&b);
		return aim_fail(AIM_ERR_STORAGE, "cannot read %s", path);
	}
	*out = (char *)aim_buf_steal(&b, NULL);
	return 0;
}

static void server_free(struct http_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < IP_BUCKETS; i++)
		while (s->ips[i]) {
			struct ip_count *e = s->ips[i];
			s->ips[i] = e->next;
			free(e);
		}
	free(s->workers);
	pthread_mutex_destroy(&s->cmu);
	pthread_mutex_destroy(&s->smu);
	pthread_mutex_destroy(&s->jmu);
	pthread_cond_destroy(&s->jcv);
	pthread_cond_destroy(&s->sweep_cv);
	if (s->key)
		aim_free_secret(s->key, strlen(s->key));
	free(s->cert);
	free(s);
}

/* A non-blocking listening socket on ss, set up as libmicrohttpd would set up
 * its own (SO_REUSEADDR; IPv6 only on an IPv6 address). */
static int bind_listen(const char *where, const struct sockaddr_storage *ss, size_t sslen,
		       int *out)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ENSURE(fd >= 0, AIM_ERR_STATE, "cannot listen on %s: %s", where, strerror(errno));
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		int e = errno;
		close(fd);
		return aim_fail(AIM_ERR_STATE, "cannot listen on %s: %s", where, strerror(e));
	}
	*out = fd;
	return 0;
}

int http_server_open(const struct http_server_config *cfg, http_handler_fn fn, void *app,
		     struct http_server **out)
{
	*out = NULL;
	struct sockaddr_storage ss;
	size_t sslen;
	TRY(http_parse_listen(cfg->listen, &ss, &sslen));
	ENSURE(!cfg->tls_cert_file == !cfg->tls_key_file, AIM_ERR_INVALID,
	       "--tls-cert and --tls-key go together");
	bool tls = cfg->tls_cert_file != NULL;
	ENSURE(!tls || MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES, AIM_ERR_UNSUPPORTED,
	       "libmicrohttpd was built without TLS");
	struct http_server *s = aim_xcalloc(1, sizeof *s);
	s->fn = fn;
	s->app = app;
	s->cfg = *cfg;
	s->fd = -1;
	s->v6 = ss.ss_family == AF_INET6;
	s->max_body = cfg->max_body ? cfg->max_body : AIM_BUF_DEFAULT_MAX;
	s->tls = tls;
	s->max_conn = cfg->max_connections ? cfg->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
	s->per_ip = cfg->max_per_ip;
	s->reserve = http_conn_reserve(s->max_conn);
	s->ip_reserve = 8;
	s->header_ms = (int64_t)(cfg->header_timeout_s ? cfg->header_timeout_s
						       : HTTP_DEFAULT_HEADER_TIMEOUT) * 1000;
	s->body_ms = (int64_t)(cfg->body_timeout_s ? cfg->body_timeout_s
						   : HTTP_DEFAULT_BODY_TIMEOUT) * 1000;
	s->idle_ms = (int64_t)(cfg->timeout_s ? cfg->timeout_s : HTTP_DEFAULT_IDLE_TIMEOUT) * 1000;
	atomic_init(&s->active, 0);
	atomic_init(&s->busy, 0);
	atomic_init(&s->stopping, false);
	pthread_mutex_init(&s->cmu, NULL);
	pthread_mutex_init(&s->smu, NULL);
	pthread_mutex_init(&s->jmu, NULL);
	pthread_cond_init(&s->jcv, NULL);
	s->park_ep = -1;
	pthread_condattr_t at;
	pthread_condattr_init(&at);
	pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
	pthread_cond_init(&s->sweep_cv, &at);
	pthread_condattr_destroy(&at);
	if (tls && (read_file(cfg->tls_cert_file, &s->cert) != 0 ||
		    read_file(cfg->tls_key_file, &s->key) != 0)) {
		server_free(s);
		return -1;
	}
	if (bind_listen(cfg->listen, &ss, sslen, &s->fd) != 0) {
		server_free(s);
		return -1;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	int port = 0;
	if (getsockname(s->fd, (struct sockaddr *)&bound, &blen) == 0)
		port = ntohs(bound.ss_family == AF_INET6
				     ? ((struct sockaddr_in6 *)&bound)->sin6_port
				     : ((struct sockaddr_in *)&bound)->sin_port);
	char addr[INET6_ADDRSTRLEN] = "";
	if (s->v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
	snprintf(s->url, sizeof s->url, "%s://%s%s%s:%d", tls ? "https" : "http",
		 s->v6 ? "[" : "", addr, s->v6 ? "]" : "", port);
	*out = s;
	return 0;
}

unsigned http_conn_reserve(unsigned max_connections)
{
	unsigned r = max_connections / 32;
	return r < 16 ? 16 : r;
}

static void stop_workers(struct http_server *s)
{
	pthread_mutex_lock(&s->jmu);
	s->jobs_stop = true;
	pthread_cond_broadcast(&s->jcv);
	pthread_mutex_unlock(&s->jmu);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	s->nworkers = 0;
	if (s->parker_on) {
		s->parker_on = false; /* seen within its 500 ms wait */
		pthread_join(s->parker, NULL);
	}
	if (s->park_ep >= 0)
		close(s->park_ep);
	s->park_ep = -1;
	if (s->sweeper_on) {
		pthread_mutex_lock(&s->cmu);
		s->sweeper_on = false;
		pthread_cond_signal(&s->sweep_cv);
		pthread_mutex_unlock(&s->cmu);
		pthread_join(s->sweeper, NULL);
	}
}

int http_server_run(struct http_server *s)
{
	ENSURE(s && !s->d && s->fd >= 0, AIM_ERR_STATE, "http server is not open");
	const struct http_server_config *cfg = &s->cfg;
	/* An event loop (epoll) on a few threads; connections cost memory, not
	 * threads, and a stream waiting for data is a suspended connection. */
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	if (s->v6)
		flags |= MHD_USE_IPv6;
	bool tls = s->cert != NULL;
	if (tls)
		flags |= MHD_USE_TLS;
	unsigned nworkers = cfg->workers ? cfg->workers : HTTP_DEFAULT_WORKERS;
	unsigned nloop = cfg->loop_threads ? cfg->loop_threads : HTTP_DEFAULT_LOOP_THREADS;
	s->workers = aim_xcalloc(nworkers, sizeof *s->workers);
	for (unsigned i = 0; i < nworkers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
			break;
		s->nworkers++;
	}
	/* on before the thread looks at it */
	s->sweeper_on = true;
	if (pthread_create(&s->sweeper, NULL, sweeper_main, s) != 0)
		s->sweeper_on = false;
	s->park_ep = epoll_create1(EPOLL_CLOEXEC);
	s->parker_on = s->park_ep >= 0;
	if (s->parker_on && pthread_create(&s->parker, NULL, parker_main, s) != 0)
		s->parker_on = false;
	if (s->nworkers == 0 || !s->sweeper_on) {
		stop_workers(s);
		return aim_fail(AIM_ERR_STATE, "cannot start the HTTP worker threads");
	}
	/* MHD's own caps sit above ours by the reserve (see on_accept); its
	 * per-address cap is ours, counted in on_connection. */
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
		{ MHD_OPTION_LISTEN_SOCKET, s->fd, NULL },
		/* one loop thread: MHD's own, no pool (it warns at a pool of 1) */
		{ nloop > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_NOTIFY_COMPLETED,
		  nloop > 1 ? (intptr_t)nloop : (intptr_t)on_completed, s },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		  (intptr_t)(cfg->header_memory ? cfg->header_memory : 64 * 1024), NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)(s->idle_ms / 1000), NULL },
		/* MHD divides its limit among the loop threads, which may not
		 * share the connections evenly: each may take them all, and
		 * on_accept holds the total. */
		{ MHD_OPTION_CONNECTION_LIMIT,
		  (intptr_t)((s->max_conn + s->reserve + nloop) * nloop), NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s },
		{ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL },
		{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s },
		{ tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->cert },
		{ tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->d = MHD_start_daemon(flags, 0, on_accept, s, on_request, s, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
	if (!s->d) {
		stop_workers(s);
		return aim_fail(AIM_ERR_STATE, "cannot serve on %s (bad TLS files?)", cfg->listen);
	}
	aim_log(AIM_LOG_INFO, "http",
		"event loop: %u threads, %u workers; connections: %u (+%u reserve), %u per address; "
		"timeouts: headers %llds, body %llds, idle %llds",
		nloop, s->nworkers, s->max_conn, s->reserve, s->per_ip,
		(long long)(s->header_ms / 1000), (long long)(s->body_ms / 1000),
		(long long)(s->idle_ms / 1000));
	return 0;
}

int http_server_start(const struct http_server_config *cfg, http_handler_fn fn, void *app,
		      struct http_server **out)
{
	TRY(http_server_open(cfg, fn, app, out));
	if (http_server_run(*out) != 0) {
		http_server_stop(*out, 0);
		*out = NULL;
		return -1;
	}
	return 0;
}

const char *http_server_url(const struct http_server *s)
{
	return s->url;
}

void http_server_stop(struct http_server *s, int grace_ms)
{
	if (!s)
		return;
	if (!s->d) { /* opened, never run: the socket is still ours */
		if (s->fd >= 0)
			close(s->fd);
		server_free(s);
		return;
	}
	MHD_socket fd = MHD_quiesce_daemon(s->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	int64_t until = aim_mono_ms() + grace_ms;
	while (atomic_load(&s->active) > 0 && aim_mono_ms() < until)
		usleep(20 * 1000);
	if (atomic_load(&s->active) > 0)
		aim_log(AIM_LOG_WARN, "http", "closing %d unfinished requests",
			atomic_load(&s->active));
	/* MHD refuses to stop with a suspended connection: streams still
	 * parked are resumed to their end, and requests in a worker are
	 * waited for (the workers finish what they hold). */
	atomic_store(&s->stopping, true);
	for (;;) {
		pthread_mutex_lock(&s->smu);
		struct http_stream *parked = NULL;
		for (struct http_stream *st = s->streams; st && !parked; st = st->next) {
			pthread_mutex_lock(&st->mu);
			if (st->suspended && !st->dead) {
				parked = st;
				http_stream_ref(st);
			}
			pthread_mutex_unlock(&st->mu);
		}
		pthread_mutex_unlock(&s->smu);
		if (!parked)
			break;
		http_stream_wake(parked);
		http_stream_unref(parked);
	}
	while (atomic_load(&s->busy) > 0)
		usleep(10 * 1000);
	usleep(50 * 1000); /* let the loop take the last resumptions */
	MHD_stop_daemon(s->d);
	stop_workers(s);
	server_free(s);
}
