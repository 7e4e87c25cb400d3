/*
 * The ordering of a group's inbound items (issue 12 point 3, "correct under
 * reordering and absence"), as one pure decision: no state, no I/O. The
 * caller (core_channel_sync.c) keeps the group's last applied sequence and
 * epoch, buffers what is not applied now, and asks again after each item it
 * applied.
 *
 * Issue 11 point 4: "each with a per-channel sequence number ... a receiver
 * that sees a gap pages the channel's outbox from the last sequence it
 * has." The hub gives one sequence to every fanned-out activity, handshake
 * or message, in the order it accepted them; applying in sequence order is
 * therefore applying each commit before the messages of its epoch.
 * Issue 12 point 3: "a message that arrives before the commit of its epoch
 * waits for it; duplicates are dropped".
 */
#include "client/client.h"

enum client_seq_verdict client_seq_decide(uint64_t applied, bool have_base, uint64_t group_epoch,
					  const struct client_seq_item *it)
{
	if (it->seq != 0 && have_base) {
		/* already applied (a second delivery, a page fetched twice) */
		if (it->seq <= applied)
			return CLIENT_SEQ_DUPLICATE;
		/* "a receiver that sees a gap pages the channel's outbox" */
		if (it->seq > applied + 1)
			return CLIENT_SEQ_GAP;
	}
	/* "a message that arrives before the commit of its epoch waits" */
	if (it->epoch > group_epoch)
		return CLIENT_SEQ_WAIT;
	/* A handshake of an epoch behind ours is one we already passed (our
	 * own commit coming back, the commit that added us); a message of such
	 * an epoch is one we cannot decrypt any more. */
	if (it->epoch < group_epoch)
		return CLIENT_SEQ_STALE;
	return CLIENT_SEQ_APPLY;
}

const char *client_seq_name(enum client_seq_verdict v)
{
	switch (v) {
	case CLIENT_SEQ_APPLY:
		return "apply";
	case CLIENT_SEQ_DUPLICATE:
		return "duplicate";
	case CLIENT_SEQ_GAP:
		return "gap";
	case CLIENT_SEQ_WAIT:
		return "wait";
	case CLIENT_SEQ_STALE:
		return "stale";
	}
	return "?";
}
