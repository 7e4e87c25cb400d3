/*
 * Internals of the group part of the client core (core_group.c,
 * core_channel.c, core_channel_sync.c): one group as loaded from the store,
 * its MLS state and the credential hook it runs with.
 */
#ifndef AIM_CLIENT_CORE_GROUP_INT_H
#define AIM_CLIENT_CORE_GROUP_INT_H

#include "client/core_int.h"

#define GROUP_PREFIX "group/"
#define CONV_PREFIX "conv/"
#define MSG_PREFIX "msg/"

struct grp {
	char hex[2 * 255 + 1];        /* the group id in hex: its store key */
	json_t *rec;                  /* the record (state excluded while loaded) */
	struct mls_group *g;
	struct client_hook hook;      /* borrowed by cfg, which g borrows */
	struct mls_group_config cfg;
};

/* A fresh grp (no MLS state yet) with its hook and config. */
struct grp *client_grp_new(struct client *c);
void client_grp_free(struct grp *gr);
/* Loads "group/HEX" (NOTFOUND if absent). */
int client_grp_load(struct client *c, const char *hex, struct grp **out) AIM_WARN_UNUSED;
/* The group of a conversation (channel URL, DM id). */
int client_grp_by_conv(struct client *c, const char *conv, struct grp **out) AIM_WARN_UNUSED;
/* Writes the record with the MLS state (and "conv/URL" when new). */
int client_grp_save(struct client *c, struct grp *gr) AIM_WARN_UNUSED;
/* Sets gr->hex from the MLS group's id. */
int client_grp_set_id(struct grp *gr) AIM_WARN_UNUSED;

/* Our x509 credential [leaf, CA] (free with mls_credential_free). */
int client_grp_credential(struct client *c, struct mls_credential *cred) AIM_WARN_UNUSED;
/* A KeyPackage of ours for this group (not published). */
int client_grp_own_kp(struct client *c, struct mls_key_package *kp,
		      struct mls_key_package_priv *priv) AIM_WARN_UNUSED;

/* The acct: URI the credential of leaf i speaks for ("" if not told). */
void client_grp_leaf_acct(struct client *c, struct grp *gr, uint32_t leaf, char *acct, size_t n);
/* The leaves of acct in the tree (array owned by the caller). */
int client_grp_leaves_of(struct client *c, struct grp *gr, const char *acct, uint32_t **leaves,
			 size_t *n) AIM_WARN_UNUSED;

/* Appends a history entry: what it shows (type, text) and, for a
 * message, its content id and raw content (docs/content.md; NULL: none),
 * from which a timeline (client_content_apply) can be built. */
int client_grp_history_add(struct client *c, struct grp *gr, const char *sender, const char *type,
			   const char *text, uint64_t epoch, uint64_t seq, const char *id,
			   const char *content) AIM_WARN_UNUSED;

/* The MLS object of the wire ({"type", "mediaType", "encoding", "content"}). */
json_t *client_grp_mls_object(const char *type, struct aim_bytes msg);
/* Decodes an MLS object (or a bare base64 string) into out. */
int client_grp_mls_bytes(const json_t *o, struct aim_buf *out) AIM_WARN_UNUSED;


/* Writes the "dmset/..." index of a DM from its tree's members. */
int client_grp_dm_index(struct client *c, struct grp *gr) AIM_WARN_UNUSED;

/* Checks every leaf's credential again and keeps the verdicts in the
 * record ("trust"); a member already there that comes with a new key or
 * certificate (or a device no check vouches for) gets a "trust" history
 * entry when warn (core_trust.c). The first call is the baseline. */
int client_trust_refresh(struct client *c, struct grp *gr, bool warn, uint64_t seq)
	AIM_WARN_UNUSED;

/* Leaving (core_leave.c): whether this device commits the pending
 * self-removals of a group now (it made the channel, a removal was
 * proposed this epoch, no commit of ours pending, not leaving itself);
 * and doing so (a refusal is left for the next sync). */
bool client_leave_should_commit(const struct client *c, const json_t *rec, bool active,
				bool has_pending);
int client_leave_commit_pending(struct client *c, struct grp *gr) AIM_WARN_UNUSED;

/* Joining by external commit (core_rejoin.c): notes a conversation of the
 * account this device has no group for (from an inbox item), and a group
 * whose handshake could not be applied (rejoined by client_join_conversations). */
int client_rejoin_note_unjoined(struct client *c, const char *conv, const char *kind)
	AIM_WARN_UNUSED;
int client_rejoin_note_behind(struct client *c, struct grp *gr, const char *why) AIM_WARN_UNUSED;
/* A handshake of epoch `epoch` in the hub's order (refused: a Reject of
 * it came instead) while our external commit into that epoch awaits the
 * hub: ours coming back confirms the join; another one first, or ours
 * refused, marks the group behind (joined again, no leaf to remove). */
int client_rejoin_check_commit(struct client *c, struct grp *gr, struct aim_bytes msg,
			       uint64_t epoch, bool refused) AIM_WARN_UNUSED;

/* Following a channel's Move (core_move.c): the old actor's document
 * (through the proxy) must say movedTo the new one (claimed, when not
 * NULL); then the record's "conversation" becomes it, the old one goes to
 * "movedFrom" (its "conv/URL" kept), a history entry "moved" tells the
 * person. *moved false: the old host names no move (nothing changed). */
int client_move_follow(struct client *c, struct grp *gr, const char *claimed, bool *moved)
	AIM_WARN_UNUSED;
/* A Move of the inbox (actor the new channel, object the old one). */
int client_move_apply(struct client *c, const json_t *act) AIM_WARN_UNUSED;

#endif
