/*
 * Leaving a conversation and rotating keys (client.h, "Leaving and
 * rotating"): a self-remove proposal for the hub, the commit of the
 * pending removals by the channel owner's device, and a path-only Update
 * commit for post-compromise security.
 *
 * Issue 11 "Leaving": "a member's self-remove proposal, which the next
 * committer must include; the hub refuses commits that leave a pending
 * self-removal out" (hub.h HUB_PROPOSAL, HUB_COMMIT). RFC 9420 section
 * 12.1.3: "A Remove proposal requests that the member with the leaf index
 * removed be removed from the group"; section 12.4: "The sender of a
 * Commit SHOULD include all proposals that it has received during the
 * current epoch that are valid". A member cannot commit its own removal
 * (section 12.2: "the Commit MUST NOT include ... a Remove proposal that
 * removes the committer"), so another member commits it: the device that
 * made the channel, on the sync that applied the proposal.
 *
 * Both commits go to the hub as a Create of a PublicMessage addressed to
 * the conversation (README "Channels and group DMs": "other commits and
 * self-remove proposals as a Create of a PublicMessage addressed to the
 * channel"), with the GroupInfo of the new epoch. The Commit stays pending
 * until the hub's Announce of it comes back in sequence order; a refusal
 * drops it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/core_group_int.h"

static int post_handshake(struct client *c, const char *conv, struct aim_bytes msg,
			  struct aim_bytes group_info, uint64_t epoch)
{
	json_t *act = json_pack("{s:s, s:[s], s:o, s:I}", "type", "Create", "to", conv, "object",
				client_grp_mls_object("PublicMessage", msg), "aim:epoch",
				(json_int_t)epoch);
	if (group_info.len)
		json_object_set_new(act, "aim:groupInfo",
				    client_grp_mls_object("GroupInfo", group_info));
	char *path = aim_xasprintf("/users/%s/outbox", c->user);
	int rc = client_core_call(c, "POST", path, act, NULL);
	free(path);
	json_decref(act);
	return rc;
}

/* A commit of ours (Update path and / or the pending proposals) to the hub;
 * pending until its Announce comes back. */
static int commit_to_hub(struct client *c, struct grp *gr, bool force_path)
{
	const char *conv = json_string_value(json_object_get(gr->rec, "conversation"));
	ENSURE(conv, AIM_ERR_STATE, "group without a conversation");
	if (mls_group_has_pending(gr->g))
		mls_group_discard_pending(gr->g); /* a change of ours the hub never took */
	struct mls_commit_result res;
	mls_commit_result_init(&res);
	struct mls_commit_params p = {
		.include_pending = true, /* pending self-removals must ride along */
		.force_path = force_path,
		.wire_format = 1,
	};
	int rc = mls_group_commit(gr->g, &p, &res);
	if (rc != 0)
		goto out;
	/* the pending commit is durable before it can be accepted */
	json_object_set_new(gr->rec, "pendingSince", json_integer(client_core_now(c)));
	TRY_GOTO(client_grp_save(c, gr), out);
	rc = post_handshake(c, conv, aim_buf_bytes(&res.commit), aim_buf_bytes(&res.group_info),
			    mls_group_epoch(gr->g));
	if (rc != 0) {
		int e = c->server_status == 409 ? AIM_ERR_CONFLICT : aim_errcode();
		char *why = aim_xstrdup(aim_errmsg());
		mls_group_discard_pending(gr->g);
		json_object_del(gr->rec, "pendingSince");
		if (client_grp_save(c, gr) != 0)
			aim_errclear();
		aim_fail(e, "%s", why);
		free(why);
	}
out:
	mls_commit_result_free(&res);
	return rc;
}

int client_leave(struct client *c, const char *conversation)
{
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, conversation, &gr));
	struct aim_buf msg;
	aim_buf_init(&msg, MLS_MAX_MESSAGE);
	int rc = -1;
	ENSURE_GOTO(mls_group_active(gr->g), out, AIM_ERR_STATE, "we are no longer in %s",
		    conversation);
	ENSURE_GOTO(!json_is_true(json_object_get(gr->rec, "left")), out, AIM_ERR_STATE,
		    "this device left %s already", conversation);
	if (mls_group_has_pending(gr->g))
		mls_group_discard_pending(gr->g);
	TRY_GOTO(mls_group_propose_remove(gr->g, mls_group_own_leaf(gr->g), &msg), out);
	/* the ratchet of our own messages moved: durable before it leaves */
	TRY_GOTO(client_grp_save(c, gr), out);
	TRY_GOTO(post_handshake(c, conversation, aim_buf_bytes(&msg), AIM_BYTES(NULL, 0),
				mls_group_epoch(gr->g)),
		 out);
	json_object_set_new(gr->rec, "left", json_true());
	json_object_set_new(gr->rec, "leftEpoch", json_integer((json_int_t)mls_group_epoch(gr->g)));
	rc = client_grp_history_add(c, gr, c->acct, "left", "this device left the conversation",
				    mls_group_epoch(gr->g), 0, NULL, NULL);
	if (rc == 0)
		rc = client_grp_save(c, gr);
out:
	aim_buf_free(&msg);
	client_grp_free(gr);
	return rc;
}

int client_rotate(struct client *c, const char *conversation)
{
	struct grp *gr = NULL;
	TRY(client_grp_by_conv(c, conversation, &gr));
	int rc = -1;
	ENSURE_GOTO(mls_group_active(gr->g), out, AIM_ERR_STATE, "we are no longer in %s",
		    conversation);
	ENSURE_GOTO(!json_is_true(json_object_get(gr->rec, "left")), out, AIM_ERR_STATE,
		    "this device left %s", conversation);
	/* a commit of ours the hub may have taken (a member's removal, just
	 * made by our sync) is applied first, not replaced */
	json_int_t since = json_integer_value(json_object_get(gr->rec, "pendingSince"));
	ENSURE_GOTO(!mls_group_has_pending(gr->g) || client_core_now(c) - since > 30, out,
		    AIM_ERR_BUSY, "a commit of this device in %s is still pending: sync first",
		    conversation);
	rc = commit_to_hub(c, gr, true);
	if (rc != 0 && aim_errcode() == AIM_ERR_CONFLICT) {
		/* another commit won the epoch: apply it, then ours on the new one */
		client_grp_free(gr);
		gr = NULL;
		struct client_sync_stats st;
		TRY_GOTO(client_sync(c, &st), out);
		TRY_GOTO(client_grp_by_conv(c, conversation, &gr), out);
		rc = commit_to_hub(c, gr, true);
	}
out:
	client_grp_free(gr);
	return rc;
}

bool client_leave_should_commit(const struct client *c, const json_t *rec, bool active,
				bool has_pending)
{
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	return active && !has_pending && json_is_true(json_object_get(rec, "removalProposed")) &&
	       !json_is_true(json_object_get(rec, "left")) && owner && c->acct[0] &&
	       client_core_acct_equal(owner, c->acct);
}

int client_leave_commit_pending(struct client *c, struct grp *gr)
{
	if (!client_leave_should_commit(c, gr->rec, mls_group_active(gr->g),
					mls_group_has_pending(gr->g)))
		return 0;
	int rc = commit_to_hub(c, gr, false);
	if (rc != 0) {
		/* another member committed first, or the hub refused: the next
		 * sync applies what won (and tries again if still needed) */
		aim_errclear();
		rc = 0;
	}
	return rc;
}
