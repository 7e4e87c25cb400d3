/*
 * metrics: what aimd serve counts, and /metrics, its page in the Prometheus
 * text exposition format (version 0.0.4: "# HELP", "# TYPE", then one
 * `name{label="value",...} number` line per series).
 *
 * Counters are process-wide atomics, bumped by one-line calls where things
 * happen: the route table (every request: its route pattern, method and
 * status), the signature gate (each refusal, by reason), the channels' hub
 * (each change accepted or refused, by kind). Gauges that live in the store
 * (deliveries by state, the queue's depth and the age of its oldest job,
 * the KeyPackage stock) are read from it when the page is rendered
 * (store_stats), so they hold across processes sharing one database.
 *
 * The page is private to the operator: aimd serves it only with
 * --metrics-listen ADDR (a listener of its own, nothing else on it) or
 * --metrics-token TOKEN (on the main listener, with `Authorization: Bearer
 * TOKEN`, compared in constant time); without either, /metrics is 404 like
 * any unknown path.
 *
 * Label values are bounded: routes are the table's patterns (an unmatched
 * path counts as "(unmatched)", never its text), methods a fixed list (any
 * other is "OTHER"), statuses 100..599.
 */
#ifndef AIM_SERVER_METRICS_H
#define AIM_SERVER_METRICS_H

#include "base/base.h"
#include "store/store.h"

#define AIMD_METRICS_PATH "/metrics"
#define AIMD_METRICS_UNMATCHED "(unmatched)"

/* One answered request. route: a string that lives as long as the process
 * (a route table pattern), compared by address; NULL: unmatched. */
void aimd_metrics_request(const char *method, const char *route, int status);

/* Why the signature gate refused a signed request. */
enum aimd_sig_failure {
	AIMD_SIG_MISSING = 0,        /* no signature at all */
	AIMD_SIG_MALFORMED,          /* headers that do not parse */
	AIMD_SIG_POLICY,             /* parsed, but outside its window or not covering what it must */
	AIMD_SIG_KEY_UNAVAILABLE,    /* its key could not be had (no such actor or key) */
	AIMD_SIG_KEY_SERVER_FAILED,  /* the key's server failed or timed out */
	AIMD_SIG_BAD_SIGNATURE,      /* the key does not verify it */
	AIMD_SIG_REPLAY,             /* seen before inside its window */
	AIMD_SIG_FAILURE_N
};
void aimd_metrics_sig_failure(enum aimd_sig_failure why);

/* A change the channels' hub decided (kind: "add", "remove", "commit",
 * "message", "metadata"; anything else counts as "other"). */
void aimd_metrics_hub(const char *kind, bool accepted);

/* The page (appended to out), with the store's gauges read at now_ms. */
int aimd_metrics_render(struct store *st, int64_t now_ms, struct aim_buf *out) AIM_WARN_UNUSED;

#endif
