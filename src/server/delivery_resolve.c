/* Remote inboxes for the delivery workers, from the remote actor cache
 * (remote_actor.c: fetched with a signed GET, content type and id checked,
 * failures negatively cached). */
#include "server/internal.h"
#include "server/delivery.h"
#include "server/s2s.h"

#include <stdlib.h>
#include <string.h>

int aimd_resolve_remote_inbox(struct app *a, const char *actor, char **inbox,
			      char **shared_inbox, bool *rfc9421)
{
	struct remote_actor ra = { 0 };
	*inbox = NULL;
	*shared_inbox = NULL;
	if (rfc9421)
		*rfc9421 = false;
	TRY(aimd_remote_actor_get(a, actor, false, &ra));
	if (rfc9421)
		*rfc9421 = ra.implements_rfc9421;
	if (!ra.inbox || !*ra.inbox) {
		aimd_remote_actor_clear(&ra);
		return aim_fail(AIM_ERR_NOTFOUND, "%.200s has no inbox", actor);
	}
	*inbox = ra.inbox;
	ra.inbox = NULL;
	if (ra.shared_inbox && *ra.shared_inbox) {
		*shared_inbox = ra.shared_inbox;
		ra.shared_inbox = NULL;
	}
	aimd_remote_actor_clear(&ra);
	return 0;
}
