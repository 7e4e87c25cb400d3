/*
 * The one table from aim_err codes to HTTP answers (see status.h).
 */
#include "server/status.h"

#include <stdio.h>

/* Retry-After, seconds. */
#define RA_BUSY 5      /* a lock held by another writer */
#define RA_NOMEM 5
#define RA_PEER 30     /* a peer the client API asked failed (WebFinger, fetches) */
#define RA_PEER_S2S 60 /* the sender's own server failed us (its object, its key) */
#define RA_NOHOST 300  /* the sender's host did not resolve */
#define RA_STORAGE 30
#define RA_STORAGE_S2S 600 /* servers retry for days: no need to hurry them */

#define INTERNAL_ANSWER { 500, "internal", 0, NULL, "internal error" }

struct row {
	struct status_answer client, s2s;
};

static const struct row table[] = {
	/* never recorded on purpose: a failure path that forgot aim_fail */
	[AIM_ERR_NONE] = { INTERNAL_ANSWER, INTERNAL_ANSWER },
	[AIM_ERR_NOMEM] = { { 503, "out_of_memory", RA_NOMEM, NULL, "out of memory" },
			    { 503, "out_of_memory", RA_NOMEM, NULL, "out of memory" } },
	/* the request itself is at fault */
	[AIM_ERR_INVALID] = { { 400, "bad_request", 0, NULL, NULL },
			      { 400, "bad_request", 0, NULL, NULL } },
	[AIM_ERR_DECODE] = { { 400, "bad_request", 0, NULL, NULL },
			     { 400, "bad_request", 0, NULL, NULL } },
	[AIM_ERR_LIMIT] = { { 400, "too_complex", 0, NULL, NULL },
			    { 400, "bad_request", 0, NULL, NULL } },
	[AIM_ERR_UNSUPPORTED] = { { 400, "bad_request", 0, NULL, NULL },
				  { 400, "bad_request", 0, NULL, NULL } },
	/* a signature, MAC or hash: the sender's credential (RFC 9110 11.6.1:
	 * a 401 "MUST send a WWW-Authenticate header field"), or bad bytes
	 * inside a client's document */
	[AIM_ERR_VERIFY] = { { 400, "bad_request", 0, NULL, NULL },
			     { 401, "unauthorized", 0, "Signature", NULL } },
	[AIM_ERR_AUTH] = { { 401, "unauthorized", 0, "Bearer", NULL },
			   { 401, "unauthorized", 0, "Signature", NULL } },
	[AIM_ERR_DENIED] = { { 403, "forbidden", 0, NULL, NULL },
			     { 403, "forbidden", 0, NULL, NULL } },
	[AIM_ERR_NOTFOUND] = { { 404, "not_found", 0, NULL, NULL },
			       { 404, "not_found", 0, NULL, NULL } },
	/* a server is not asked to retry what will never pass */
	[AIM_ERR_EXISTS] = { { 409, "conflict", 0, NULL, NULL },
			     { 400, "bad_request", 0, NULL, NULL } },
	[AIM_ERR_CONFLICT] = { { 409, "conflict", 0, NULL, NULL },
			       { 409, "conflict", 0, NULL, NULL } },
	/* to a server an inbox is never 410: what is gone is what it named */
	[AIM_ERR_GONE] = { { 410, "gone", 0, NULL, NULL },
			   { 400, "gone", 0, NULL, NULL } },
	[AIM_ERR_STATE] = { { 409, "wrong_state", 0, NULL, NULL },
			    { 409, "wrong_state", 0, NULL, NULL } },
	/* our disk or database: never the caller's fault, never a 4xx */
	[AIM_ERR_STORAGE] = { { 503, "storage_failure", RA_STORAGE, NULL, "storage failure" },
			      { 503, "storage_failure", RA_STORAGE_S2S, NULL, "storage failure" } },
	[AIM_ERR_BUSY] = { { 503, "busy", RA_BUSY, NULL, "storage busy, try again" },
			   { 503, "busy", RA_BUSY, NULL, "storage busy, try again" } },
	/* a peer we asked on the caller's behalf */
	[AIM_ERR_REMOTE] = { { 502, "bad_gateway", RA_PEER, NULL, NULL },
			     { 502, "bad_gateway", RA_PEER_S2S, NULL, NULL } },
	[AIM_ERR_TIMEOUT] = { { 504, "gateway_timeout", RA_PEER, NULL, NULL },
			      { 504, "gateway_timeout", RA_PEER_S2S, NULL, NULL } },
	/* a client named a host that does not exist: its mistake; a server's
	 * own host not resolving here is a passing DNS failure */
	[AIM_ERR_NOHOST] = { { 400, "unknown_host", 0, NULL, NULL },
			     { 502, "bad_gateway", RA_NOHOST, NULL, NULL } },
	/* our bugs and our crypto library */
	[AIM_ERR_CRYPTO] = { INTERNAL_ANSWER, INTERNAL_ANSWER },
	[AIM_ERR_INTERNAL] = { INTERNAL_ANSWER, INTERNAL_ANSWER },
};

struct status_answer aimd_status_of(enum aim_err code, enum status_surface surface)
{
	static const struct status_answer internal = INTERNAL_ANSWER;
	if ((size_t)code >= AIM_ARRAY_LEN(table) || table[code].client.status == 0)
		return internal;
	return surface == STATUS_S2S ? table[code].s2s : table[code].client;
}

int aimd_status_send(struct http_response *r, enum aim_err code, enum status_surface surface,
		const char *detail)
{
	struct status_answer a = aimd_status_of(code, surface);
	http_resp_error(r, a.status, a.error, detail ? detail : a.fixed_detail ? a.fixed_detail : "");
	if (a.retry_after) {
		char s[16];
		snprintf(s, sizeof s, "%u", a.retry_after);
		http_resp_header(r, "Retry-After", s);
	}
	if (a.challenge)
		http_resp_header(r, "WWW-Authenticate", a.challenge);
	return a.status;
}

int aimd_status_send_failure(struct http_response *r, enum status_surface surface)
{
	enum aim_err code = aim_errcode();
	struct status_answer a = aimd_status_of(code, surface);
	char msg[512]; /* aim_fail, even inside the answer's buffers, writes aim_errmsg()'s */
	snprintf(msg, sizeof msg, "%s", aim_errmsg());
	if (!a.fixed_detail)
		return aimd_status_send(r, code, surface, msg);
	aim_log(code == AIM_ERR_BUSY ? AIM_LOG_INFO : AIM_LOG_ERROR, "aimd", "%d %s (%s): %s",
		a.status, a.error, aim_errname(code), msg);
	return aimd_status_send(r, code, surface, NULL);
}
