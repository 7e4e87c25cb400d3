/*
 * Following a channel's Move (issue 11 point 6, docs/channels.md "Moving a
 * channel"): the new host makes a Group actor (alsoKnownAs the old one) and
 * sends a Move by it, object the old actor, to every member's inbox; the old
 * actor's document says movedTo the new one and its host answers every
 * change 410 with a Tombstone naming movedTo. The device's conversation is
 * the same MLS group: only the actor it addresses changes. The group record
 * keeps "conversation" = the actor sent to now and "movedFrom" = the actors
 * it had before; "conv/URL" of every one of them still names the group, so
 * that the person may go on naming the channel by its old URL.
 *
 * A claim is believed only from the old host itself: the old actor's
 * document, fetched through the home server's proxy now, must say movedTo
 * the new actor (a Move by anyone else, or a movedTo that names another
 * actor, changes nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/core_group_int.h"

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The movedTo of the actor's document ("" if it names none). */
static int moved_to(struct client *c, const char *actor, char *out, size_t n)
{
	out[0] = 0;
	struct aim_buf body;
	aim_buf_init(&body, CLIENT_MAX_RESPONSE);
	int rc = client_proxy_get(c, actor, "application/activity+json", &body);
	json_t *doc = rc == 0 ? json_loadb((const char *)body.data, body.len, 0, NULL) : NULL;
	aim_buf_free(&body);
	if (rc != 0)
		return -1;
	ENSURE(json_is_object(doc), AIM_ERR_REMOTE, "the actor %s is not a JSON object", actor);
	const char *mt = str(doc, "movedTo");
	if (mt && (aim_str_has_prefix(mt, "https://") || aim_str_has_prefix(mt, "http://")))
		snprintf(out, n, "%s", mt);
	json_decref(doc);
	return 0;
}

int client_move_follow(struct client *c, struct grp *gr, const char *claimed, bool *moved)
{
	*moved = false;
	const char *cur = str(gr->rec, "conversation");
	ENSURE(cur && !strcmp(str(gr->rec, "kind") ?: "", "channel"), AIM_ERR_STATE,
	       "not a channel");
	char to[1024];
	TRY(moved_to(c, cur, to, sizeof to));
	if (!to[0] || !strcmp(to, cur) || (claimed && strcmp(claimed, to) != 0))
		return 0; /* the old host says no such thing */
	json_t *from = json_object_get(gr->rec, "movedFrom");
	if (!json_is_array(from)) {
		from = json_array();
		json_object_set_new(gr->rec, "movedFrom", from);
	}
	json_array_append_new(from, json_string(cur));
	char *line = aim_xasprintf("channel moved to %s", to);
	json_object_set_new(gr->rec, "conversation", json_string(to));
	int rc = client_grp_history_add(c, gr, "", "moved", line, mls_group_epoch(gr->g), 0, NULL,
					NULL);
	free(line);
	if (rc == 0)
		rc = client_grp_save(c, gr); /* "conv/NEW" written; "conv/OLD" kept */
	if (rc == 0)
		*moved = true;
	return rc;
}

int client_move_apply(struct client *c, const json_t *act)
{
	const char *actor = str(act, "actor"), *old = str(act, "object");
	if (!actor || !old || !strcmp(actor, old))
		return 0;
	struct grp *gr = NULL;
	if (client_grp_by_conv(c, old, &gr) != 0) {
		aim_errclear(); /* not a conversation of this device */
		return 0;
	}
	int rc = 0;
	bool moved = false;
	/* only a Move of the actor we send to now (a repeated Move, or one of
	 * an actor already left behind, changes nothing) */
	if (!strcmp(str(gr->rec, "conversation") ?: "", old) &&
	    !strcmp(str(gr->rec, "kind") ?: "", "channel")) {
		rc = client_move_follow(c, gr, actor, &moved);
		if (rc != 0 && aim_errcode() != AIM_ERR_STORAGE) {
			/* the old host unreachable now: the next 410 follows it */
			aim_errclear();
			rc = 0;
		}
	}
	client_grp_free(gr);
	return rc;
}
