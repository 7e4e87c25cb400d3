/* server internals shared by app.c, routes.c, sse.c and limit.c. */
#ifndef AIM_SERVER_INTERNAL_H
#define AIM_SERVER_INTERNAL_H

#include <pthread.h>

#include "http/client.h"
#include "http/server.h"
#include "server/server.h"
#include "store/store.h"

/* The registry of Server-Sent Event streams by user, and their wake-ups
 * (sse.c). Not the MLS hub: that name belongs to the ordering of MLS groups
 * (DESIGN.md section 2). */
#define AIMD_SSE_BUCKETS 1024
#define AIMD_SSE_PER_USER 16         /* event streams per user; past it 429 */
struct sse;
struct sse_wake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	struct sse *buckets[AIMD_SSE_BUCKETS];
	size_t nstreams;
	unsigned per_user;
	pthread_t ka;                /* the keepalive thread, from the first stream */
	bool ka_on;
};
void aimd_sse_wake_init(struct sse_wake *w);
void aimd_sse_wake_destroy(struct sse_wake *w);
/* Wakes every stream (something grew, the caller does not know whose). */
void aimd_sse_wake_notify(struct sse_wake *w);
/* Wakes the streams of these users only (their inboxes grew). */
void aimd_sse_wake_users(struct sse_wake *w, const int64_t *users, size_t n);
/* Ends every stream for good (aimd stops). */
void aimd_sse_wake_stop(struct sse_wake *w);

/* Per-IP token buckets for the client API and a bad-token counter. */
struct limiter;
struct limiter *aimd_limiter_new(unsigned rate_per_s, unsigned burst, unsigned auth_fail_limit);
/* A bucket of per_min requests per minute (burst per_min) per key. */
struct limiter *aimd_limiter_new_per_min(unsigned per_min);
void aimd_limiter_free(struct limiter *l);
/* 0 when the request may go on; else the seconds to wait (for Retry-After). */
unsigned aimd_limiter_take(struct limiter *l, const char *ip);
/* Whether the IP is blocked for bad tokens; seconds to wait, or 0. */
unsigned aimd_limiter_auth_blocked(struct limiter *l, const char *ip);
void aimd_limiter_auth_failed(struct limiter *l, const char *ip);
/* A bucket of bytes: per_s a second, at most burst (0: per_s) per key. A
 * read is served while the key is not in debt and then debited with what it
 * cost (it may go into debt: one page past the bucket is still served). */
struct limiter *aimd_limiter_new_bytes(size_t per_s, size_t burst);
/* 0 and cost debited when the key is not in debt; else the seconds until it
 * is out of debt (for Retry-After), nothing debited. Cost 0 only checks. */
unsigned aimd_limiter_debit(struct limiter *l, const char *ip, size_t cost);
/* Raises the soft RLIMIT_NOFILE to need (logged); AIM_ERR_LIMIT with a
 * message when the hard limit is lower. *soft = the limit in force. */
int aimd_fd_budget(unsigned need, unsigned *soft);

struct app {
	struct store *st;
	char *domain;
	char *base;                  /* base URL without a trailing slash */
	const char *base_path;       /* its path part ("" for none), inside base */
	int64_t instance_id;
	struct sse_wake wake;
	struct limiter *lim;
	/* Anonymous reads (no bearer token: the public, and other servers'
	 * fetches) of collection pages and documents, in bytes per IP. */
	struct limiter *anon_lim;
	/* ---- Federation, inbound side ----
	 * The one outbound HTTP client configuration (aimd serve --connect-to,
	 * --ca-file, --allow-private-addresses), shared by remote fetches and
	 * by deliveries. Strings borrowed from the serve options. */
	struct client_opts client;
	struct fed_in *fin;          /* inbound state (s2s_*.c, remote_*.c) */
	/* ---- Federation, outbound side: the delivery workers
	 * (delivery_*.c, see delivery.h); NULL outside aimd serve. */
	struct delivery *dlv;
	/* ---- Identity: the domain's CA (ca.c) */
	const char *data_dir;        /* borrowed from the serve options: DATA/ca holds the keys */
	int cert_days;               /* validity of the device certificates issued */
	/* The KeyPackage directory's limits (keypackages.h); NULL outside
	 * aimd serve. */
	struct aimd_kp *kp;
	/* TESTS ONLY (aimd serve --hub-basic-credentials): basic credentials
	 * pass the hub's credential check (hub_trust.h). */
	bool hub_basic;
	/* Operations: /metrics on the main listener with this bearer token
	 * (--metrics-token; NULL: not there). Borrowed from the serve options. */
	const char *metrics_token;
	/* Events from the other processes sharing the store (store_shared.c) */
	struct store_listener *events;
};

/* A new actor row (user, instance actor, channel) with fresh keys (user_keys.c). */
int aimd_user_add_with_keys(struct store *st, const char *name, int64_t *id);

void aimd_app_handle(void *app, const struct http_request *req, struct http_response *resp);
/* The SSE response for user's inbox, resuming after last_seq (< 0: from now). */
int aimd_sse_start(struct app *a, int64_t user, int64_t last_seq, struct http_response *resp);

/* ---- Operations (app.c, ops_*.c) ---- */
/* Opens DIR's store (flags STORE_OPEN_*; ops_open.c); a failure names the store. */
int aimd_open_data(const char *dir, unsigned flags, struct store **st);
/* Takes DIR's lock as aimd serve does (AIM_ERR_BUSY: a serve holds it);
 * close *fd_out to drop it. */
int aimd_lock_data(const char *dir, int *fd_out);
/* DIR's store for messages (owned): DIR/aim.db, or the PostgreSQL URI
 * without its password and parameters (ops_open.c). */
char *aimd_store_display(const char *dir);
/* What aimd init accepts as --domain and as --url (app.c). */
bool aimd_valid_domain(const char *d);
bool aimd_valid_base_url(const char *u);
/* /metrics (ops_metrics.c): the page, after the token when one is set;
 * aimd_metrics_handle is the handler of the --metrics-listen listener. */
void aimd_metrics_serve(struct app *a, const struct http_request *q, struct http_response *r);
void aimd_metrics_handle(void *app, const struct http_request *q, struct http_response *r);
/* The store's integrity check; a damaged database fails with
 * AIM_ERR_STORAGE and a message naming DIR's database file (ops_integrity.c). */
int aimd_integrity_check(const char *dir, struct store *st);

/* ---- A store several processes share (store_shared.c) ---- */
/* DIR's store location (owned): DIR/store's URI, else DIR/aim.db. */
char *aimd_store_location(const char *dir);
/* Whether DIR holds a store (DIR/store or DIR/aim.db). */
bool aimd_data_initialised(const char *dir);
/* Writes DIR/store (mode 0600); AIM_ERR_EXISTS if there is one. */
int aimd_store_location_write(const char *dir, const char *location);
/* Events from every process sharing the store: streams and workers wake
 * (nothing when the store has none). Start after the workers, stop before. */
void aimd_events_start(struct app *a);
void aimd_events_stop(struct app *a);

#endif
