/*
 * The hub state of a group (hub.h): creation from the creator's GroupInfo,
 * the members table, reading, copying, and the decision struct.
 */
#include "hub/hub_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Small things ------------------------------------------------------------ */

void hub_policy_default(struct hub_policy *p)
{
	p->membership = HUB_MEMBERSHIP_OWNER;
	p->message_epochs = HUB_DEFAULT_MESSAGE_EPOCHS;
	p->fixed_members = false;
}

const char *hub_membership_name(enum hub_membership m)
{
	switch (m) {
	case HUB_MEMBERSHIP_OWNER:
		return "owner";
	case HUB_MEMBERSHIP_ADMINS:
		return "admins";
	case HUB_MEMBERSHIP_MEMBERS:
		return "members";
	}
	return "unknown";
}

int hub_membership_parse(const char *s, enum hub_membership *out)
{
	static const enum hub_membership all[] = { HUB_MEMBERSHIP_OWNER, HUB_MEMBERSHIP_ADMINS,
						   HUB_MEMBERSHIP_MEMBERS };
	for (size_t i = 0; s && i < AIM_ARRAY_LEN(all); i++)
		if (strcmp(s, hub_membership_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return aim_fail(AIM_ERR_INVALID, "membership policy %s", s ? s : "(none)");
}

const char *hub_kind_name(enum hub_kind k)
{
	switch (k) {
	case HUB_CREATE:
		return "create";
	case HUB_ADD:
		return "add";
	case HUB_REMOVE:
		return "remove";
	case HUB_COMMIT:
		return "commit";
	case HUB_MESSAGE:
		return "message";
	case HUB_PROPOSAL:
		return "proposal";
	case HUB_METADATA:
		return "metadata";
	case HUB_TRANSFER:
		return "transfer";
	case HUB_SETTINGS:
		return "settings";
	}
	return "unknown";
}

void hub_decision_init(struct hub_decision *d)
{
	memset(d, 0, sizeof *d);
	d->committer = MLS_NO_LEAF;
}

void hub_decision_free(struct hub_decision *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_added; i++)
		free(d->added[i]);
	for (size_t i = 0; i < d->n_removed; i++)
		free(d->removed[i]);
	free(d->added);
	free(d->removed);
	hub_decision_init(d);
}

bool hub_grp_string_ok(const char *s, size_t max)
{
	if (!s)
		return false;
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* ---- The members table ---------------------------------------------------------- */

struct hub_group *hub_grp_new(void)
{
	struct hub_group *g = aim_xcalloc(1, sizeof *g);
	hub_policy_default(&g->policy);
	g->next_seq = 1;
	return g;
}

void hub_group_free(struct hub_group *g)
{
	if (!g)
		return;
	mls_public_group_free(g->pg);
	free(g->owner);
	for (size_t i = 0; i < g->n_admins; i++)
		free(g->admins[i]);
	free(g->admins);
	for (size_t i = 0; i < g->n_members; i++) {
		free((char *)g->members[i].actor);
		free((char *)g->members[i].acct);
	}
	free(g->members);
	free(g->pending);
	free(g);
}

long hub_grp_find_actor(const struct hub_group *g, const char *actor)
{
	for (size_t i = 0; actor && i < g->n_members; i++)
		if (strcmp(g->members[i].actor, actor) == 0)
			return (long)i;
	return -1;
}

long hub_grp_find_acct(const struct hub_group *g, const char *acct)
{
	for (size_t i = 0; acct && i < g->n_members; i++)
		if (strcmp(g->members[i].acct, acct) == 0)
			return (long)i;
	return -1;
}

void hub_grp_add_member(struct hub_group *g, const char *actor, const char *acct)
{
	g->members = aim_xrealloc(g->members, (g->n_members + 1) * sizeof *g->members);
	g->members[g->n_members].actor = aim_xstrdup(actor);
	g->members[g->n_members].acct = aim_xstrdup(acct);
	g->n_members++;
}

void hub_grp_drop_member(struct hub_group *g, size_t i)
{
	free((char *)g->members[i].actor);
	free((char *)g->members[i].acct);
	memmove(&g->members[i], &g->members[i + 1], (g->n_members - i - 1) * sizeof *g->members);
	g->n_members--;
}

void hub_grp_drop_admin(struct hub_group *g, const char *actor)
{
	for (size_t i = 0; i < g->n_admins; i++)
		if (strcmp(g->admins[i], actor) == 0) {
			free(g->admins[i]);
			memmove(&g->admins[i], &g->admins[i + 1],
				(g->n_admins - i - 1) * sizeof *g->admins);
			g->n_admins--;
			return;
		}
}

int hub_grp_leaf_acct(const struct mls_tree *t, uint32_t l, char out[HUB_MAX_ACCT + 1])
{
	const struct mls_leaf_node *ln = mls_tree_leaf(t, l);
	ENSURE(ln, AIM_ERR_NOTFOUND, "leaf %u is blank", l);
	return hub_credential_acct(&ln->credential, out);
}

int hub_grp_check(const struct hub_group *g)
{
	const struct mls_tree *t = mls_public_group_tree(g->pg);
	uint32_t n = mls_tree_n_leaves(t);
	size_t *devices = aim_xcalloc(g->n_members + 1, sizeof *devices);
	int rc = 0;
	char acct[HUB_MAX_ACCT + 1];
	for (uint32_t l = 0; l < n; l++) {
		if (!mls_tree_leaf(t, l))
			continue;
		TRY_GOTO(hub_grp_leaf_acct(t, l, acct), out);
		long m = hub_grp_find_acct(g, acct);
		ENSURE_GOTO(m >= 0, out, AIM_ERR_INVALID, "leaf %u (%s) is no member's device", l,
			    acct);
		devices[m]++;
	}
	for (size_t i = 0; i < g->n_members; i++) {
		ENSURE_GOTO(devices[i] > 0, out, AIM_ERR_INVALID, "member %s has no device in the tree",
			    g->members[i].actor);
		for (size_t j = 0; j < i; j++)
			ENSURE_GOTO(strcmp(g->members[i].actor, g->members[j].actor) != 0 &&
					    strcmp(g->members[i].acct, g->members[j].acct) != 0,
				    out, AIM_ERR_INVALID, "member %s listed twice", g->members[i].actor);
	}
	ENSURE_GOTO(hub_grp_find_actor(g, g->owner) >= 0, out, AIM_ERR_INVALID,
		    "the owner %s is not a member", g->owner);
	for (size_t i = 0; i < g->n_admins; i++) {
		ENSURE_GOTO(hub_grp_find_actor(g, g->admins[i]) >= 0, out, AIM_ERR_INVALID,
			    "admin %s is not a member", g->admins[i]);
		for (size_t j = 0; j < i; j++)
			ENSURE_GOTO(strcmp(g->admins[i], g->admins[j]) != 0, out, AIM_ERR_INVALID,
				    "admin %s listed twice", g->admins[i]);
	}
	for (size_t i = 0; i < g->n_pending; i++)
		ENSURE_GOTO(mls_tree_leaf(t, g->pending[i].leaf), out, AIM_ERR_INVALID,
			    "pending removal of blank leaf %u", g->pending[i].leaf);
	ENSURE_GOTO(g->policy.membership >= HUB_MEMBERSHIP_OWNER &&
			    g->policy.membership <= HUB_MEMBERSHIP_MEMBERS,
		    out, AIM_ERR_INVALID, "membership policy %d", (int)g->policy.membership);
out:
	free(devices);
	return rc;
}

/* ---- The hub's credential hook ------------------------------------------------------- */

/* Every credential the MLS library meets in this group (members of a
 * received tree, joiners of an Add, new leaves of Updates and paths) must
 * name an acct: URI: that is how the hub knows whose device a leaf is (the
 * members table maps it to an actor). Then the shell decides whether it
 * trusts the credential (its CA for that domain, the device registered). */
int hub_grp_hook(void *arg, enum mls_credential_role role, const struct mls_credential *cred,
		 struct aim_bytes signature_key)
{
	const struct hub_hook_arg *a = arg;
	char acct[HUB_MAX_ACCT + 1];
	if (role != MLS_CRED_EXTERNAL_SENDER && hub_credential_acct(cred, acct) != 0)
		return aim_fail(AIM_ERR_DENIED, "credential: %s", aim_errmsg());
	if (a && a->shell && a->shell->fn)
		return mls_credential_check(a->shell, role, cred, signature_key);
	return 0;
}

int hub_grp_copy_public(const struct mls_public_group *pg, struct mls_public_group **out)
{
	*out = NULL;
	struct aim_buf b;
	aim_buf_init(&b, MLS_MAX_PUBLIC_STATE);
	int rc = mls_public_group_encode(pg, &b);
	if (rc == 0)
		rc = mls_public_group_parse(b.data, b.len, NULL, 0, out);
	aim_buf_free(&b);
	return rc;
}

/* ---- Creation ------------------------------------------------------------------------ */

static void refuse_fill(struct hub_decision *d)
{
	d->accepted = false;
	d->err = aim_errcode() ? aim_errcode() : AIM_ERR_INTERNAL;
	snprintf(d->reason, sizeof d->reason, "%s", aim_errmsg());
}

static void list_push(char ***v, size_t *n, const char *s)
{
	*v = aim_xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = aim_xstrdup(s);
}

static int create_checks(const struct hub_create *c, struct hub_group *g, uint64_t now)
{
	ENSURE(hub_grp_string_ok(c->owner, HUB_MAX_URL), AIM_ERR_INVALID, "no valid owner");
	ENSURE(c->members && c->members->n >= 1 && c->members->n <= HUB_MAX_MEMBERS,
	       AIM_ERR_INVALID, "members: %zu", c->members ? c->members->n : 0);
	ENSURE(c->n_admins <= HUB_MAX_ADMINS, AIM_ERR_LIMIT, "%zu admins", c->n_admins);
	if (c->policy) {
		ENSURE(c->policy->membership >= HUB_MEMBERSHIP_OWNER &&
			       c->policy->membership <= HUB_MEMBERSHIP_MEMBERS,
		       AIM_ERR_INVALID, "membership policy %d", (int)c->policy->membership);
		g->policy = *c->policy;
	}
	for (size_t i = 0; i < c->members->n; i++) {
		const struct hub_member *m = &c->members->v[i];
		ENSURE(hub_grp_string_ok(m->actor, HUB_MAX_URL) &&
			       hub_grp_string_ok(m->acct, HUB_MAX_ACCT),
		       AIM_ERR_INVALID, "member %zu: no valid actor and acct: URI", i);
		hub_grp_add_member(g, m->actor, m->acct);
	}
	g->owner = aim_xstrdup(c->owner);
	for (size_t i = 0; i < c->n_admins; i++) {
		ENSURE(hub_grp_string_ok(c->admins[i], HUB_MAX_URL), AIM_ERR_INVALID, "admin %zu",
		       i);
		list_push(&g->admins, &g->n_admins, c->admins[i]);
	}
	struct hub_hook_arg ha = { c->hook };
	struct mls_credential_hook hook = { hub_grp_hook, &ha };
	TRY(mls_public_group_create_from_message(c->group_info, c->tree, &hook, now, &g->pg));
	mls_public_group_set_hook(g->pg, NULL);
	/* The tree's devices are exactly the members' (the Create names them),
	 * owner and admins among them. */
	TRY(hub_grp_check(g));
	if (c->welcome.len) {
		struct mls_message m;
		TRY(mls_message_parse(c->welcome.p, c->welcome.len, &m));
		int rc = 0;
		/* threats.md C46 */
		ENSURE_GOTO(m.wire_format == MLS_WIRE_WELCOME, wout, AIM_ERR_INVALID,
			    "MLSMessage of wire format %u where a Welcome is expected",
			    m.wire_format);
		ENSURE_GOTO(m.welcome.cipher_suite == hub_group_cipher_suite(g), wout,
			    AIM_ERR_INVALID, "Welcome of suite %u for a group of suite %u",
			    m.welcome.cipher_suite, hub_group_cipher_suite(g));
		ENSURE_GOTO(m.welcome.n_secrets >= 1 &&
				    m.welcome.n_secrets < mls_public_group_member_count(g->pg),
			    wout, AIM_ERR_INVALID, "Welcome for %zu joiners in a group of %u devices",
			    m.welcome.n_secrets, mls_public_group_member_count(g->pg));
	wout:
		mls_message_free(&m);
		TRY(rc);
	}
	return 0;
}

int hub_group_create(const struct hub_create *c, uint64_t now, struct hub_group **out,
		     struct hub_decision *d)
{
	*out = NULL;
	hub_decision_init(d);
	d->kind = HUB_CREATE;
	struct hub_group *g = hub_grp_new();
	if (create_checks(c, g, now) != 0) {
		refuse_fill(d);
		if (g->pg)
			d->current_epoch = mls_public_group_epoch(g->pg);
		hub_group_free(g);
		return aim_fail(d->err, "%s", d->reason);
	}
	d->accepted = true;
	d->current_epoch = d->message_epoch = mls_public_group_epoch(g->pg);
	for (size_t i = 0; i < g->n_members; i++)
		list_push(&d->added, &d->n_added, g->members[i].actor);
	d->route_welcome = c->welcome.len > 0;
	*out = g;
	return 0;
}

int hub_group_copy(const struct hub_group *g, struct hub_group **out)
{
	*out = NULL;
	struct hub_group *c = hub_grp_new();
	if (hub_grp_copy_public(g->pg, &c->pg) != 0) {
		hub_group_free(c);
		return -1;
	}
	c->policy = g->policy;
	c->owner = aim_xstrdup(g->owner);
	for (size_t i = 0; i < g->n_admins; i++)
		list_push(&c->admins, &c->n_admins, g->admins[i]);
	for (size_t i = 0; i < g->n_members; i++)
		hub_grp_add_member(c, g->members[i].actor, g->members[i].acct);
	if (g->n_pending) {
		c->pending = aim_xcalloc(g->n_pending, sizeof *c->pending);
		memcpy(c->pending, g->pending, g->n_pending * sizeof *c->pending);
	}
	c->n_pending = g->n_pending;
	c->next_seq = g->next_seq;
	*out = c;
	return 0;
}

/* ---- Reading ---------------------------------------------------------------------------- */

uint64_t hub_group_epoch(const struct hub_group *g)
{
	return mls_public_group_epoch(g->pg);
}

uint64_t hub_group_next_seq(const struct hub_group *g)
{
	return g->next_seq;
}

void hub_group_seq_after(struct hub_group *g, uint64_t last)
{
	if (last >= g->next_seq)
		g->next_seq = last + 1;
}

struct aim_bytes hub_group_id(const struct hub_group *g)
{
	return mls_public_group_id(g->pg);
}

uint16_t hub_group_cipher_suite(const struct hub_group *g)
{
	return mls_public_group_suite(g->pg)->id;
}

const char *hub_group_owner(const struct hub_group *g)
{
	return g->owner;
}

const struct hub_policy *hub_group_policy(const struct hub_group *g)
{
	return &g->policy;
}

size_t hub_group_member_count(const struct hub_group *g)
{
	return g->n_members;
}

const struct hub_member *hub_group_member(const struct hub_group *g, size_t i)
{
	return i < g->n_members ? &g->members[i] : NULL;
}

bool hub_group_is_member(const struct hub_group *g, const char *actor)
{
	return hub_grp_find_actor(g, actor) >= 0;
}

bool hub_group_is_admin(const struct hub_group *g, const char *actor)
{
	for (size_t i = 0; actor && i < g->n_admins; i++)
		if (strcmp(g->admins[i], actor) == 0)
			return true;
	return false;
}

size_t hub_group_admin_count(const struct hub_group *g)
{
	return g->n_admins;
}

const char *hub_group_admin(const struct hub_group *g, size_t i)
{
	return i < g->n_admins ? g->admins[i] : NULL;
}

bool hub_group_may_manage(const struct hub_group *g, const char *actor)
{
	if (!hub_group_is_member(g, actor))
		return false;
	switch (g->policy.membership) {
	case HUB_MEMBERSHIP_OWNER:
		return strcmp(actor, g->owner) == 0;
	case HUB_MEMBERSHIP_ADMINS:
		return strcmp(actor, g->owner) == 0 || hub_group_is_admin(g, actor);
	case HUB_MEMBERSHIP_MEMBERS:
		return true;
	}
	return false;
}

size_t hub_group_pending_count(const struct hub_group *g)
{
	return g->n_pending;
}

uint32_t hub_group_pending_leaf(const struct hub_group *g, size_t i)
{
	return i < g->n_pending ? g->pending[i].leaf : MLS_NO_LEAF;
}

const struct mls_public_group *hub_group_public(const struct hub_group *g)
{
	return g->pg;
}

int hub_group_group_info(const struct hub_group *g, struct aim_buf *w)
{
	/* MLSMessage: ProtocolVersion version = mls10; WireFormat wire_format
	 * = mls_group_info (0x0004); GroupInfo group_info. */
	static const uint8_t head[4] = { 0x00, MLS_VERSION_10, 0x00, MLS_WIRE_GROUP_INFO };
	size_t mark = w->len;
	TRY(aim_buf_append(w, head, sizeof head));
	if (mls_public_group_group_info(g->pg, w) != 0) {
		/* (a buffer that hit its ceiling was freed: nothing to undo) */
		if (w->data) {
			w->len = mark;
			w->data[mark] = 0;
		}
		return -1;
	}
	return 0;
}

int hub_group_export_tree(const struct hub_group *g, struct aim_buf *w)
{
	return mls_public_group_export_tree(g->pg, w);
}
