/*
 * The HTTP edge of aimd, shared by the route table (route_table.c) and the
 * handlers by concern: route_discovery.c (WebFinger, host-meta, NodeInfo),
 * route_actors.c (actors, collections, activities and objects by id) and
 * route_outbox.c (the client API's outbox POST). Results become statuses
 * here, through the one table of status.h, and nowhere below (DESIGN.md §2).
 */
#ifndef AIM_SERVER_ROUTES_H
#define AIM_SERVER_ROUTES_H

#include <jansson.h>

#include "http/route.h"
#include "server/internal.h"
#include "server/status.h"

#define ROUTE_JRD "application/jrd+json"
#define ROUTE_AS_TYPE "application/activity+json"

/* A handler: caps holds the pattern's captures (a user name, an id); a
 * route of the instance actor (/actor/...) has none. */
typedef void (*aimd_route_fn)(struct app *a, const struct http_request *q, struct http_response *r,
			 const struct http_route_caps *caps);

/* ---- Helpers (routes.c) ---- */

/* Sets status, content type and the serialised j (its reference is taken). */
void aimd_route_json(struct http_response *r, int status, const char *ctype, json_t *j);
/* The recorded failure (aim_errcode) as the client API's answer, through
 * the one table (status.h). */
void aimd_route_failure(struct http_response *r);
/* Whether the Accept header admits the JSON aimd serves; else 406 set. */
bool aimd_route_negotiate(const struct http_request *q, struct http_response *r);
bool aimd_route_accepts_event_stream(const struct http_request *q);
/* The media type of a header value, lower-cased, without parameters. */
void aimd_route_media_type(const char *v, char *out, size_t n);
bool aimd_route_json_media(const char *t);
/* Who is asking: 0 anonymous (no Authorization header, when not required),
 * a user id, or -1 refused (401 or 429 set; 503 when the store cannot
 * answer: a storage failure is never a 401). */
int64_t aimd_route_auth(struct app *a, const struct http_request *q, struct http_response *r,
		   bool required);
/* The client API's per-address rate; false with 429 set. */
bool aimd_route_rate_ok(struct app *a, const struct http_request *q, struct http_response *r);
/* BASE/users/NAME, or BASE/actor for the instance row. */
char *aimd_route_user_url(struct app *a, const char *name);
/* The user a route names (no capture: the instance actor); false with 404
 * (or the failure) set. Clear u either way. */
bool aimd_route_user(struct app *a, const struct http_route_caps *caps, struct store_user *u,
		struct http_response *r);
/* A fresh random UUID (version 4), as text. */
void aimd_route_uuid4(char out[37]);

/* ---- Handlers ---- */

/* route_discovery.c */
void aimd_route_webfinger(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps);
void aimd_route_host_meta(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps);
void aimd_route_host_meta_json(struct app *a, const struct http_request *q, struct http_response *r,
			  const struct http_route_caps *caps);
void aimd_route_nodeinfo_links(struct app *a, const struct http_request *q, struct http_response *r,
			  const struct http_route_caps *caps);
void aimd_route_nodeinfo(struct app *a, const struct http_request *q, struct http_response *r,
		    const struct http_route_caps *caps);

/* route_actors.c */
void aimd_route_actor(struct app *a, const struct http_request *q, struct http_response *r,
		 const struct http_route_caps *caps);
void aimd_route_inbox_get(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps);
void aimd_route_inbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct http_route_caps *caps);
void aimd_route_shared_inbox(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps);
void aimd_route_outbox_get(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct http_route_caps *caps);
void aimd_route_followers(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps);
void aimd_route_following(struct app *a, const struct http_request *q, struct http_response *r,
		     const struct http_route_caps *caps);
void aimd_route_key_packages(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps);
void aimd_route_activity(struct app *a, const struct http_request *q, struct http_response *r,
		    const struct http_route_caps *caps);
void aimd_route_object(struct app *a, const struct http_request *q, struct http_response *r,
		  const struct http_route_caps *caps);

/* route_identity.c: devices, the CA document, aim's context, the proxy */
void aimd_route_device_register(struct app *a, const struct http_request *q,
				struct http_response *r, const struct http_route_caps *caps);
void aimd_route_device_renew(struct app *a, const struct http_request *q, struct http_response *r,
			     const struct http_route_caps *caps);
void aimd_route_device_delete(struct app *a, const struct http_request *q, struct http_response *r,
			      const struct http_route_caps *caps);
void aimd_route_device_list(struct app *a, const struct http_request *q, struct http_response *r,
			    const struct http_route_caps *caps);
void aimd_route_ca_document(struct app *a, const struct http_request *q, struct http_response *r,
			    const struct http_route_caps *caps);
void aimd_route_context(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps);
void aimd_route_proxy(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct http_route_caps *caps);

/* route_outbox.c */
void aimd_route_outbox_post(struct app *a, const struct http_request *q, struct http_response *r,
		       const struct http_route_caps *caps);

#endif
