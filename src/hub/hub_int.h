/* Internals shared by the files of src/hub (not for other callers). */
#ifndef AIM_HUB_INT_H
#define AIM_HUB_INT_H

#include "hub/hub.h"

struct hub_pending {
	uint32_t leaf;
	uint8_t ref[AIM_MAX_HASH];
	size_t ref_len;
};

struct hub_group {
	struct mls_public_group *pg;
	struct hub_policy policy;
	char *owner;
	char **admins;
	size_t n_admins;
	/* strings owned (cast away from the public const view) */
	struct hub_member *members;
	size_t n_members;
	struct hub_pending *pending;
	size_t n_pending;
	uint64_t next_seq;
};

struct hub_group *hub_grp_new(void);
/* Member index of actor / acct, or -1. */
long hub_grp_find_actor(const struct hub_group *g, const char *actor);
long hub_grp_find_acct(const struct hub_group *g, const char *acct);
void hub_grp_add_member(struct hub_group *g, const char *actor, const char *acct);
void hub_grp_drop_member(struct hub_group *g, size_t i);
void hub_grp_drop_admin(struct hub_group *g, const char *actor);
/* The acct: URI of leaf l of tree t (AIM_ERR_NOTFOUND when blank). */
int hub_grp_leaf_acct(const struct mls_tree *t, uint32_t l, char out[HUB_MAX_ACCT + 1]);
/* The members' consistency with the tree (hub_group_parse, create). */
int hub_grp_check(const struct hub_group *g);
/* A valid string in the state / an input: 1..max bytes, printable. */
bool hub_grp_string_ok(const char *s, size_t max);
/* The public group with the hub's credential hook (see hub_decide.c) for
 * the duration of one call. */
struct hub_hook_arg {
	const struct mls_credential_hook *shell;
};
int hub_grp_hook(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		 struct aim_bytes signature_key);
/* Copies the public group (encode + parse). */
int hub_grp_copy_public(const struct mls_public_group *pg, struct mls_public_group **out);

#endif
