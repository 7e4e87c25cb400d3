/*
 * Channels and group DMs, server side (issue 11; the contract between the
 * hub core, this shell and the client: the channels contract).
 *
 * A channel is a Group actor at BASE/channels/ID hosted on its owner's
 * server; a group DM's hub is BASE/dms/ID (the same machinery, not shown to
 * users as an actor of its own). Its keys live in a reserved user row
 * ("~ch-ID", "~dm-ID": not valid user names), so the delivery queue signs
 * its Announces with the channel's own key.
 *
 * Flow of a change (creation, Add, Remove, another commit, a message),
 * from a local member's outbox or a remote member's server (the channel's
 * inbox, through the one S2S gate, B33):
 *   read the channel, its members and its hub state (with its version)
 *   -> decide (the hub's rules: policy, membership by actor, epoch, the
 *      Commit against the public group, wire formats)
 *   -> ONE store transaction (store_channel_apply): compare-and-set of the
 *      hub state from the version read, the followers change, the outbox
 *      row with its sequence, the Announce with one delivery per shared
 *      inbox, and for an Add the Welcome (so the Welcome of a refused
 *      commit is never enqueued)
 *   -> a conflict (another request won the version): read again and decide
 *      again, which usually refuses the stale commit: 409 {"error":
 *      "stale_epoch", "aim:currentEpoch": N}, and to a remote server also a
 *      Reject by the channel naming the current epoch.
 *
 * Member side: an Announce whose actor is a channel is accepted only when
 * signed with that channel's key (the gate: key owner == actor) and when a
 * local user is a member (a row recorded when a Welcome from the channel
 * reached her); it enters the members' inboxes in sequence order.
 *
 * Move (docs/channels.md): the owner's server takes a channel over once no
 * member is left on the hosting domain; the old host answers the owner's
 * signed Move with the hub state and says movedTo from then on (410 to every
 * change); the new host's Move tells the members' servers, which follow it.
 */
#ifndef AIM_SERVER_CHANNELS_H
#define AIM_SERVER_CHANNELS_H

#include <jansson.h>

#include "server/routes.h"

#define AIMD_CHANNELS_PATH "/channels/"
#define AIMD_DMS_PATH "/dms/"

/* Handlers (the route table). */
void aimd_route_channel(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps);
void aimd_route_channel_followers(struct app *a, const struct http_request *q,
				  struct http_response *r, const struct http_route_caps *caps);
void aimd_route_channel_outbox(struct app *a, const struct http_request *q,
			       struct http_response *r, const struct http_route_caps *caps);
void aimd_route_channel_group_info(struct app *a, const struct http_request *q,
				   struct http_response *r, const struct http_route_caps *caps);
void aimd_route_channel_inbox(struct app *a, const struct http_request *q,
			      struct http_response *r, const struct http_route_caps *caps);
/* A local user's outbox POST: true when it is a channel's (creation, or a
 * change or message addressed to a channel hosted here), answered in r. */
bool aimd_chan_outbox(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct store_user *owner, const json_t *doc);
/* The S2S inbox: true when act is a channel's (an Announce or a Welcome by
 * a channel), answered in r. actor: the verified key's owner. */
bool aimd_chan_inbound(struct app *a, const struct http_request *q, struct http_response *r,
		       const json_t *act, const char *actor);

#endif
