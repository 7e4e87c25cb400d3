/*
 * Operations: serving /metrics (the page itself is metrics.c).
 *
 * On the main listener /metrics exists only with --metrics-token: a GET
 * (or HEAD) with `Authorization: Bearer TOKEN` gets the page, a wrong or
 * missing token 401. With --metrics-listen ADDR aimd opens a second
 * listener that answers /metrics and nothing else (404); it asks for the
 * token too when one is set. Requests to the metrics listener are not
 * counted among the requests it shows.
 */
#include "server/internal.h"

#include <string.h>
#include <strings.h>

#include "http/route.h"
#include "server/metrics.h"
#include "server/status.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_PAGE_MAX (4 * 1024 * 1024)

static bool token_ok(const struct app *a, const struct http_request *q)
{
	if (!a->metrics_token)
		return true;
	const char *h = http_req_header(q, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	const char *t = h + 7;
	while (*t == ' ')
		t++;
	return aim_ct_equal(t, strlen(t), a->metrics_token, strlen(a->metrics_token));
}

void aimd_metrics_serve(struct app *a, const struct http_request *q, struct http_response *r)
{
	if (!http_route_method_ok("GET", q->method)) {
		http_resp_error(r, 405, "method_not_allowed", "method not allowed here");
		http_resp_header(r, "Allow", "GET, HEAD");
		return;
	}
	if (!token_ok(a, q)) {
		aim_log(AIM_LOG_INFO, "metrics", "remote=%s refused: bad or missing token", q->remote);
		http_resp_error(r, 401, "unauthorized", "the metrics token is required");
		http_resp_header(r, "WWW-Authenticate", "Bearer");
		return;
	}
	struct aim_buf page;
	aim_buf_init(&page, METRICS_PAGE_MAX);
	if (aimd_metrics_render(a->st, aim_now_ms(), &page) != 0) {
		aim_buf_free(&page);
		aimd_status_send_failure(r, STATUS_CLIENT);
		return;
	}
	http_resp_set(r, 200, METRICS_TYPE, aim_buf_bytes(&page).p, aim_buf_bytes(&page).len);
	http_resp_header(r, "Cache-Control", "no-store");
	aim_buf_free(&page);
}

void aimd_metrics_handle(void *app, const struct http_request *q, struct http_response *r)
{
	struct app *a = app;
	if (strcmp(q->path, AIMD_METRICS_PATH) != 0) {
		http_resp_error(r, 404, "not_found", "this listener serves " AIMD_METRICS_PATH
			       " only");
		return;
	}
	aimd_metrics_serve(a, q, r);
}
