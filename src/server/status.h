/*
 * The one table from results to HTTP answers.
 *
 * Below the HTTP edge a failure is an enum aim_err code and a message
 * (base.h). Here, and only here, a code becomes an answer: the status, the
 * JSON `error` code of the body {"error", "detail"}, a Retry-After when
 * trying again later may succeed, and the WWW-Authenticate challenge of a
 * 401. The answer depends on who asked (the surface):
 *
 *   STATUS_CLIENT  the client API (bearer tokens) and public GETs;
 *   STATUS_S2S     another server posting to an inbox (HTTP signatures).
 *
 * The two differ where the other side reads statuses differently: a bad
 * signature is 401 to a server but a bad signature inside a client's
 * document is a 400; a server is never told 410 about an inbox (some take
 * it as "this whole server is gone"); a name already taken is a 409 to a
 * client and a 400 to a server (which does not retry it).
 *
 * The classes (base.h): the caller's input (400), who (401, 403), what
 * (404, 409, 410), our disk (AIM_ERR_STORAGE: 503, never a 4xx, never a
 * 401), a lock (AIM_ERR_BUSY: 503, soon), a peer we asked (AIM_ERR_REMOTE
 * 502, AIM_ERR_TIMEOUT 504), and our own bugs (500). For storage, memory
 * and internal failures the detail is a fixed text and the message only
 * goes to the log: it may name files or state.
 *
 * What an answer does beyond the status (the inbox's "stop acknowledging"
 * after a failed commit, the bad-token counter) stays with the caller.
 */
#ifndef AIM_SERVER_STATUS_H
#define AIM_SERVER_STATUS_H

#include "base/base.h"
#include "http/server.h"

enum status_surface {
	STATUS_CLIENT,
	STATUS_S2S,
};

struct status_answer {
	int status;                  /* HTTP status */
	const char *error;           /* the JSON error code */
	unsigned retry_after;        /* seconds for Retry-After; 0: none */
	const char *challenge;       /* WWW-Authenticate value, or NULL */
	const char *fixed_detail;    /* the detail to send instead of the message, or NULL */
};

/* The answer for code on surface (an unknown code answers like
 * AIM_ERR_INTERNAL). */
struct status_answer aimd_status_of(enum aim_err code, enum status_surface surface);

/* Sets r to the refusal for code: status, {"error", "detail"} with detail
 * (a public text; NULL: the fixed text or ""), Retry-After and
 * WWW-Authenticate. Returns the status. */
int aimd_status_send(struct http_response *r, enum aim_err code, enum status_surface surface,
		const char *detail);

/* aimd_status_send for the failure this thread recorded last (aim_errcode),
 * with its message (aim_errmsg) as the detail, or, where the answer has a
 * fixed detail, with that text and the message logged. */
int aimd_status_send_failure(struct http_response *r, enum status_surface surface);

#endif
