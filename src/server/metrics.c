/* metrics: the counters and the Prometheus page (metrics.h). */
#include "server/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* (route, method) series; the table has some 60 routes, most with one method. */
#define SERIES_MAX 192
#define STATUS_MIN 100
#define STATUS_MAX 599

static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
				       "OPTIONS", "OTHER" };
#define N_METHODS AIM_ARRAY_LEN(methods)

/* One (route, method): its counts by status. */
struct series {
	const char *route;
	_Atomic uint64_t by_status[STATUS_MAX - STATUS_MIN + 1];
};

static struct series routes[SERIES_MAX];
static _Atomic size_t n_routes;  /* published slots */
static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t route_method[SERIES_MAX]; /* the method index of each slot */
static _Atomic uint64_t dropped; /* requests past SERIES_MAX series */

static const char *const sig_reasons[AIMD_SIG_FAILURE_N] = {
	[AIMD_SIG_MISSING] = "missing",
	[AIMD_SIG_MALFORMED] = "malformed",
	[AIMD_SIG_POLICY] = "policy",
	[AIMD_SIG_KEY_UNAVAILABLE] = "key_unavailable",
	[AIMD_SIG_KEY_SERVER_FAILED] = "key_server_failed",
	[AIMD_SIG_BAD_SIGNATURE] = "bad_signature",
	[AIMD_SIG_REPLAY] = "replay",
};
static _Atomic uint64_t sig_failures[AIMD_SIG_FAILURE_N];

static const char *const hub_kinds[] = { "add", "remove", "commit", "message", "metadata",
					 "other" };
static _Atomic uint64_t hub_changes[AIM_ARRAY_LEN(hub_kinds)][2]; /* [kind][accepted] */

static size_t method_index(const char *m)
{
	for (size_t i = 0; m && i + 1 < N_METHODS; i++)
		if (!strcmp(methods[i], m))
			return i;
	return N_METHODS - 1;
}

/* The slot of (route, method): found without a lock among the published
 * ones, added under add_lock. NULL when the table is full. */
static struct series *series_of(const char *route, size_t mi)
{
	size_t n = atomic_load_explicit(&n_routes, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (routes[i].route == route && route_method[i] == mi)
			return &routes[i];
	pthread_mutex_lock(&add_lock);
	struct series *s = NULL;
	n = atomic_load_explicit(&n_routes, memory_order_relaxed);
	for (size_t i = 0; i < n && !s; i++)
		if (routes[i].route == route && route_method[i] == mi)
			s = &routes[i];
	if (!s && n < AIM_ARRAY_LEN(routes)) {
		s = &routes[n];
		s->route = route;
		route_method[n] = mi;
		atomic_store_explicit(&n_routes, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&add_lock);
	return s;
}

void aimd_metrics_request(const char *method, const char *route, int status)
{
	if (status < STATUS_MIN || status > STATUS_MAX)
		return;
	struct series *s = series_of(route ? route : AIMD_METRICS_UNMATCHED, method_index(method));
	if (!s) {
		atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&s->by_status[status - STATUS_MIN], 1, memory_order_relaxed);
}

void aimd_metrics_sig_failure(enum aimd_sig_failure why)
{
	if ((unsigned)why < AIMD_SIG_FAILURE_N)
		atomic_fetch_add_explicit(&sig_failures[why], 1, memory_order_relaxed);
}

void aimd_metrics_hub(const char *kind, bool accepted)
{
	size_t k = AIM_ARRAY_LEN(hub_kinds) - 1;
	for (size_t i = 0; kind && i + 1 < AIM_ARRAY_LEN(hub_kinds); i++)
		if (!strcmp(hub_kinds[i], kind))
			k = i;
	atomic_fetch_add_explicit(&hub_changes[k][accepted ? 1 : 0], 1, memory_order_relaxed);
}

/* A label value as the exposition format quotes it: \\, \" and \n escaped. */
static int label(struct aim_buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			TRY(aim_buf_append_byte(out, '\\'));
		if (*v == '\n') {
			TRY(aim_buf_append_str(out, "\\n"));
			continue;
		}
		TRY(aim_buf_append_byte(out, (uint8_t)*v));
	}
	return 0;
}

static int head(struct aim_buf *out, const char *name, const char *type, const char *help)
{
	return aim_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_requests(struct aim_buf *out)
{
	TRY(head(out, "aim_http_requests_total", "counter",
		 "HTTP requests answered, by route pattern, method and status."));
	size_t n = atomic_load_explicit(&n_routes, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		for (int st = STATUS_MIN; st <= STATUS_MAX; st++) {
			uint64_t v = atomic_load_explicit(&routes[i].by_status[st - STATUS_MIN],
							  memory_order_relaxed);
			if (!v)
				continue;
			TRY(aim_buf_append_str(out, "aim_http_requests_total{route=\""));
			TRY(label(out, routes[i].route));
			TRY(aim_buf_printf(out, "\",method=\"%s\",status=\"%d\"} %llu\n",
					   methods[route_method[i]], st, (unsigned long long)v));
		}
	TRY(head(out, "aim_http_requests_unlabelled_total", "counter",
		 "HTTP requests not counted by route (the series table was full)."));
	return aim_buf_printf(out, "aim_http_requests_unlabelled_total %llu\n",
			      (unsigned long long)atomic_load(&dropped));
}

static int render_counters(struct aim_buf *out)
{
	TRY(head(out, "aim_signature_failures_total", "counter",
		 "Signed requests the HTTP signature gate refused, by reason."));
	for (size_t i = 0; i < AIMD_SIG_FAILURE_N; i++)
		TRY(aim_buf_printf(out, "aim_signature_failures_total{reason=\"%s\"} %llu\n",
				   sig_reasons[i],
				   (unsigned long long)atomic_load(&sig_failures[i])));
	TRY(head(out, "aim_hub_changes_total", "counter",
		 "Changes to hosted channels the hub decided (commits, adds, removes, messages, "
		 "metadata), accepted or refused."));
	for (size_t k = 0; k < AIM_ARRAY_LEN(hub_kinds); k++)
		for (int acc = 1; acc >= 0; acc--)
			TRY(aim_buf_printf(out,
					   "aim_hub_changes_total{kind=\"%s\",outcome=\"%s\"} %llu\n",
					   hub_kinds[k], acc ? "accepted" : "refused",
					   (unsigned long long)atomic_load(&hub_changes[k][acc])));
	return 0;
}

static int render_store(struct store *st, int64_t now_ms, struct aim_buf *out)
{
	struct store_stats s;
	if (store_stats(st, now_ms / 1000, &s) != 0) {
		/* The counters above are still worth a page; the store's gauges
		 * say they could not be read. */
		TRY(head(out, "aim_store_up", "gauge", "Whether the store answered this scrape."));
		return aim_buf_printf(out, "aim_store_up 0\n");
	}
	TRY(head(out, "aim_store_up", "gauge", "Whether the store answered this scrape."));
	TRY(aim_buf_printf(out, "aim_store_up 1\n"));
	TRY(head(out, "aim_deliveries", "gauge", "Outbound delivery rows, by state."));
	for (int i = 0; i < (int)AIM_ARRAY_LEN(s.deliveries); i++)
		TRY(aim_buf_printf(out, "aim_deliveries{state=\"%s\"} %lld\n",
				   store_delivery_state_name(i), (long long)s.deliveries[i]));
	TRY(head(out, "aim_delivery_queue_depth", "gauge",
		 "Deliveries waiting (pending: not yet delivered, failed or expired)."));
	TRY(aim_buf_printf(out, "aim_delivery_queue_depth %lld\n",
			   (long long)s.deliveries[STORE_DLV_PENDING]));
	TRY(head(out, "aim_delivery_queue_oldest_age_seconds", "gauge",
		 "Age of the oldest pending delivery (0 when none is pending)."));
	int64_t age = s.oldest_pending_ms ? now_ms - s.oldest_pending_ms : 0;
	TRY(aim_buf_printf(out, "aim_delivery_queue_oldest_age_seconds %.3f\n",
			   age > 0 ? (double)age / 1000.0 : 0.0));
	TRY(head(out, "aim_keypackages_available", "gauge",
		 "KeyPackages of local devices a claim can still hand out (not last-resort, not "
		 "expired)."));
	TRY(aim_buf_printf(out, "aim_keypackages_available %lld\n",
			   (long long)s.keypackages_available));
	TRY(head(out, "aim_keypackages_last_resort", "gauge",
		 "Last-resort KeyPackages of local devices."));
	return aim_buf_printf(out, "aim_keypackages_last_resort %lld\n",
			      (long long)s.keypackages_last_resort);
}

int aimd_metrics_render(struct store *st, int64_t now_ms, struct aim_buf *out)
{
	TRY(render_requests(out));
	TRY(render_counters(out));
	return render_store(st, now_ms, out);
}
