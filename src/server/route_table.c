/*
 * The HTTP routes of aimd: the one table below says what the server
 * answers (aimd_app_handle, the HTTP server's handler). The handlers live by
 * concern in route_discovery.c, route_actors.c and route_outbox.c, and the
 * helpers they share in routes.c (routes.h). The table is a file of its
 * own so that no two files call each other: the table calls the handlers,
 * the handlers call the helpers, the helpers call neither.
 *
 * Routing looks at the request path only (after the base URL's own path),
 * never at the Host header. A path that matches a pattern with another
 * method is 405 with Allow; no pattern: 404. Every refusal is JSON
 * {"error", "detail"}.
 */
#include "server/routes.h"

#include <string.h>

#include "server/channels.h"
#include "server/keypackages.h"
#include "server/metrics.h"
#include "server/s2s.h" /* federation, inbound side: the gate of signed GETs */

/* ---- The API ----------------------------------------------------------------------------- */

struct route {
	const char *method; /* "GET" answers HEAD too */
	const char *pattern;
	aimd_route_fn fn;
};

static const struct route routes[] = {
	/* Discovery */
	{ "GET", "/.well-known/webfinger", aimd_route_webfinger },
	{ "GET", "/.well-known/host-meta", aimd_route_host_meta },
	{ "GET", "/.well-known/host-meta.json", aimd_route_host_meta_json },
	{ "GET", "/.well-known/nodeinfo", aimd_route_nodeinfo_links },
	{ "GET", "/nodeinfo/2.1", aimd_route_nodeinfo },
	/* Identity: the domain's CA, aim's JSON-LD context, the clients' proxy */
	{ "GET", "/.well-known/aim-ca", aimd_route_ca_document },
	{ "GET", "/ns", aimd_route_context },
	{ "POST", "/proxy", aimd_route_proxy },
	/* Server to server: the shared inbox */
	{ "POST", "/inbox", aimd_route_shared_inbox },
	/* Local users */
	{ "GET", "/users/{name}", aimd_route_actor },
	{ "GET", "/users/{name}/inbox", aimd_route_inbox_get },
	{ "POST", "/users/{name}/inbox", aimd_route_inbox_post },
	{ "GET", "/users/{name}/outbox", aimd_route_outbox_get },
	{ "POST", "/users/{name}/outbox", aimd_route_outbox_post },
	{ "GET", "/users/{name}/followers", aimd_route_followers },
	{ "GET", "/users/{name}/following", aimd_route_following },
	{ "GET", "/users/{name}/keyPackages", aimd_route_key_packages },
	/* Devices (client API) */
	{ "GET", "/users/{name}/devices", aimd_route_device_list },
	{ "POST", "/users/{name}/devices", aimd_route_device_register },
	{ "POST", "/users/{name}/devices/{device}/renew", aimd_route_device_renew },
	{ "DELETE", "/users/{name}/devices/{device}", aimd_route_device_delete },
	/* The KeyPackage directory (keypackages.h) */
	{ "POST", "/users/{name}/keyPackages", aimd_route_kp_batch },
	{ "GET", "/users/{name}/keyPackages/stock", aimd_route_kp_stock },
	{ "POST", "/users/{name}/keyPackages/claim", aimd_route_kp_claim_s2s },
	{ "POST", "/users/{name}/claim", aimd_route_kp_claim_client },
	{ "GET", "/users/{name}/settings", aimd_route_kp_settings },
	{ "POST", "/users/{name}/settings", aimd_route_kp_settings },
	/* The instance actor: the same handlers without a name */
	{ "GET", "/actor", aimd_route_actor },
	{ "GET", "/actor/inbox", aimd_route_inbox_get },
	{ "POST", "/actor/inbox", aimd_route_inbox_post },
	{ "GET", "/actor/outbox", aimd_route_outbox_get },
	{ "POST", "/actor/outbox", aimd_route_outbox_post },
	{ "GET", "/actor/followers", aimd_route_followers },
	{ "GET", "/actor/following", aimd_route_following },
	{ "GET", "/actor/keyPackages", aimd_route_key_packages },
	/* Channels and the hubs of group DMs (channels.h) */
	{ "GET", "/channels/{id}", aimd_route_channel },
	{ "POST", "/channels/{id}/inbox", aimd_route_channel_inbox },
	{ "GET", "/channels/{id}/outbox", aimd_route_channel_outbox },
	{ "GET", "/channels/{id}/followers", aimd_route_channel_followers },
	{ "GET", "/channels/{id}/groupInfo", aimd_route_channel_group_info },
	{ "GET", "/dms/{id}", aimd_route_channel },
	{ "POST", "/dms/{id}/inbox", aimd_route_channel_inbox },
	{ "GET", "/dms/{id}/outbox", aimd_route_channel_outbox },
	{ "GET", "/dms/{id}/followers", aimd_route_channel_followers },
	{ "GET", "/dms/{id}/groupInfo", aimd_route_channel_group_info },
	/* Stored documents */
	{ "GET", "/activities/{id}", aimd_route_activity },
	{ "GET", "/objects/{id}", aimd_route_object },
};

/* *route = the pattern that answered (NULL: none did). */
static void app_handle(struct app *a, const struct http_request *q, struct http_response *r,
		       const char **route)
{
	size_t bpl = strlen(a->base_path);
	if (bpl && strncmp(q->path, a->base_path, bpl) != 0) {
		http_resp_error(r, 404, "not_found", "no such resource");
		return;
	}
	/* Operations: /metrics, only with --metrics-token (metrics.h). */
	if (a->metrics_token && !strcmp(q->path + bpl, AIMD_METRICS_PATH)) {
		*route = AIMD_METRICS_PATH;
		aimd_metrics_serve(a, q, r);
		return;
	}
	bool get = http_route_method_ok("GET", q->method);
	/* Federation: a GET carrying an HTTP signature passes the gate. */
	if (get && aimd_s2s_check_signed_get(a, q, r) != 0)
		return;
	const char *p = q->path + bpl;
	char allow[64] = "";
	struct http_route_caps caps;
	for (size_t i = 0; i < AIM_ARRAY_LEN(routes); i++) {
		if (!http_route_match(routes[i].pattern, p, &caps))
			continue;
		if (http_route_method_ok(routes[i].method, q->method)) {
			*route = routes[i].pattern;
			routes[i].fn(a, q, r, &caps);
			return;
		}
		http_route_allow_add(allow, sizeof allow, routes[i].method);
	}
	if (*allow) {
		http_resp_error(r, 405, "method_not_allowed", "method not allowed here");
		http_resp_header(r, "Allow", allow);
		return;
	}
	http_resp_error(r, 404, "not_found", "no such resource");
}

void aimd_app_handle(void *ap, const struct http_request *q, struct http_response *r)
{
	const char *route = NULL;
	app_handle(ap, q, r, &route);
	aimd_metrics_request(q->method, route, r->status);
}
