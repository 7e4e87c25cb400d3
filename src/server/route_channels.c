/*
 * Channels and group DMs, server side: the channel actor and its
 * collections, creation and changes through the client API, the channel's
 * inbox (through the one S2S gate), fan-out, and the member side (channels.h
 * tells the flow).
 *
 * The hub core (src/hub/hub.h) decides; this file resolves what it cannot
 * (actor URL <-> acct: URI, inboxes), keeps its state under (kind "hub",
 * key the channel id: hub_group_encode) and applies its decisions.
 */
#include "server/metrics.h"
#include "server/channels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ap/ap.h"
#include "crypto/crypto.h"
#include "hub/hub.h"
#include "mls/mls.h"
#include "server/ca.h"
#include "server/delivery.h"
#include "server/hub_trust.h"
#include "server/s2s.h"

#define MAX_MEMBERS 4096
#define MLSCTX_URL "https://purl.archive.org/socialweb/mls"
#define CAS_RETRIES 8

/* One decision at a time per channel in this process. The store's
 * compare-and-set on the hub state is what makes an accepted change unique
 * (across processes too); this lock only keeps the requests of one process
 * from racing each other into it, which under load made concurrent messages
 * lose the race CAS_RETRIES times and be refused. Striped by a hash of the
 * channel id. A decision that must first fetch a remote domain's CA
 * document (hub_trust.h) holds its channel's stripe for that fetch. */
#define CHAN_LOCKS 64
static pthread_mutex_t chan_locks[CHAN_LOCKS];
static pthread_once_t chan_locks_once = PTHREAD_ONCE_INIT;

static void chan_locks_init(void)
{
	for (size_t i = 0; i < CHAN_LOCKS; i++)
		pthread_mutex_init(&chan_locks[i], NULL);
}

static pthread_mutex_t *chan_lock(const char *id)
{
	pthread_once(&chan_locks_once, chan_locks_init);
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &chan_locks[h % CHAN_LOCKS];
}

/* ---- The channel as read ------------------------------------------------------------ */

struct mem {
	char *actor, *inbox, *shared;
	int64_t local;
	char *acct;                  /* resolved members only */
};

struct chan {
	struct store_channel row;
	char *url;                   /* BASE/channels/ID or BASE/dms/ID */
	char *followers;
	int64_t version;             /* hub state version read */
	struct hub_group *g;
	struct mem *m;
	size_t n;
};

static void mem_clear(struct mem *m)
{
	free(m->actor);
	free(m->inbox);
	free(m->shared);
	free(m->acct);
	memset(m, 0, sizeof *m);
}

static void chan_clear(struct chan *c)
{
	store_channel_clear(&c->row);
	free(c->url);
	free(c->followers);
	hub_group_free(c->g);
	for (size_t i = 0; i < c->n; i++)
		mem_clear(&c->m[i]);
	free(c->m);
	memset(c, 0, sizeof *c);
}

static int member_cb(void *ctx, const struct store_channel_member *m)
{
	struct chan *c = ctx;
	ENSURE(c->n < MAX_MEMBERS, AIM_ERR_LIMIT, "too many members");
	c->m = aim_xrealloc(c->m, (c->n + 1) * sizeof *c->m);
	c->m[c->n++] = (struct mem){ aim_xstrdup(m->actor),
				     m->inbox ? aim_xstrdup(m->inbox) : NULL,
				     m->shared_inbox ? aim_xstrdup(m->shared_inbox) : NULL,
				     m->local_user, NULL };
	return 0;
}

static char *chan_url(struct app *a, int kind, const char *id)
{
	return aim_xasprintf("%s%s%s", a->base, kind == STORE_CHANNEL_DM ? "/dms/" : "/channels/",
			     id);
}

static int state_encode(const struct hub_group *g, struct aim_buf *w)
{
	return hub_group_encode(g, w);
}

/* The channel id, its kind, members and hub state (with the version). */
static int chan_load(struct app *a, const char *id, struct chan *c)
{
	memset(c, 0, sizeof *c);
	TRY(store_channel_get(a->st, id, &c->row));
	c->url = chan_url(a, c->row.kind, id);
	c->followers = aim_xasprintf("%s/followers", c->url);
	uint8_t *v = NULL;
	size_t n = 0;
	TRY(store_state_get(a->st, "hub", id, &c->version, &v, &n));
	int rc = hub_group_parse(AIM_BYTES(v, n), &c->g);
	free(v);
	TRY(rc);
	/* messages are not stored back into the state: the outbox has the
	 * last sequence (hub_group_seq_after) */
	int64_t last = 0;
	TRY(store_channel_last_seq(a->st, id, &last));
	hub_group_seq_after(c->g, (uint64_t)last);
	return store_channel_members(a->st, id, member_cb, c);
}

/* The id of a channel URL of ours (BASE/channels/ID[/...] or BASE/dms/ID). */
static bool chan_id_of(struct app *a, const char *url, char *id, size_t n)
{
	if (!url)
		return false;
	size_t bl = strlen(a->base);
	if (strncmp(url, a->base, bl) != 0)
		return false;
	const char *p = url + bl;
	if (!strncmp(p, AIMD_CHANNELS_PATH, strlen(AIMD_CHANNELS_PATH)))
		p += strlen(AIMD_CHANNELS_PATH);
	else if (!strncmp(p, AIMD_DMS_PATH, strlen(AIMD_DMS_PATH)))
		p += strlen(AIMD_DMS_PATH);
	else
		return false;
	size_t l = strcspn(p, "/?#");
	if (!l || l >= n)
		return false;
	memcpy(id, p, l);
	id[l] = 0;
	return true;
}

/* ---- Members ------------------------------------------------------------------------ */

/* A member by actor URL: a local user (her row), or a remote actor's inboxes. */
static int resolve_member(struct app *a, const char *actor, struct mem *m)
{
	memset(m, 0, sizeof *m);
	char *users = aim_xasprintf("%s/users/", a->base);
	size_t ul = strlen(users);
	int rc = 0;
	if (!strncmp(actor, users, ul)) {
		struct store_user u = { 0 };
		const char *name = actor + ul;
		ENSURE_GOTO(aimd_valid_name(name), out, AIM_ERR_NOTFOUND, "no such user %s", actor);
		TRY_GOTO(store_user_get(a->st, name, &u), out);
		m->local = u.id;
		store_user_clear(&u);
		m->acct = aim_xasprintf("acct:%s@%s", name, a->domain);
	} else {
		ENSURE_GOTO(strncmp(actor, a->base, strlen(a->base)) != 0, out, AIM_ERR_INVALID,
			    "%s is not a user", actor);
		TRY_GOTO(aimd_resolve_remote_inbox(a, actor, &m->inbox, &m->shared, NULL), out);
		/* the acct: URI its devices' credentials name: preferredUsername
		 * at the actor's host */
		struct remote_actor ra = { 0 };
		struct aim_url u;
		TRY_GOTO(aimd_remote_actor_get(a, actor, false, &ra), out);
		if (ra.preferred_username && aim_url_parse(actor, &u) == 0) {
			m->acct = aim_xasprintf("acct:%s@%s", ra.preferred_username, u.host);
			aim_url_free(&u);
		}
		aimd_remote_actor_clear(&ra);
		if (!m->acct) {
			free(m->inbox);
			free(m->shared);
			m->inbox = m->shared = NULL;
		}
		ENSURE_GOTO(m->acct, out, AIM_ERR_INVALID, "%s has no preferredUsername", actor);
	}
	m->actor = aim_xstrdup(actor);
out:
	free(users);
	return rc;
}

/* ---- MLS objects on the wire ---------------------------------------------------------- */

/* The bytes of an MLS object ({"type", "mediaType", "encoding", "content"}),
 * or of a bare base64 string. */
static int mls_bytes_of(const json_t *v, struct aim_buf *out)
{
	const char *s = NULL;
	if (json_is_string(v))
		s = json_string_value(v);
	else if (json_is_object(v))
		s = json_string_value(json_object_get(v, "content"));
	ENSURE(s && *s, AIM_ERR_INVALID, "no MLS message");
	return aim_b64_decode(out, s, strlen(s));
}

static json_t *mls_object(const char *type, const uint8_t *p, size_t n)
{
	struct aim_buf b;
	aim_buf_init(&b, n * 4 / 3 + 16);
	if (aim_b64_encode(&b, p, n) != 0) {
		aim_buf_free(&b);
		return NULL;
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s%}", "type", type, "mediaType", "message/mls",
			      "encoding", "base64", "content", (const char *)b.data, b.len);
	aim_buf_free(&b);
	return o;
}

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---- Applying a decision -------------------------------------------------------------- */

struct plan {
	/* the new state */
	struct aim_buf state;
	/* followers change */
	struct mem *add;
	size_t n_add;
	char **remove;
	size_t n_remove;
	/* the fan-out: the activity to announce (NULL: none) */
	json_t *announce_of;
	/* the Welcome to route (NULL: none) and to whom */
	json_t *welcome;
	/* members already there whose new devices the Add welcomes */
	char **welcome_again;
	size_t n_welcome_again;
	uint64_t seq;                /* the fan-out's sequence (0: none) */
	bool keep_state;             /* an application message: state not rewritten */
	char *name;                  /* a rename */
	uint64_t epoch;              /* the epoch after it */
};

static void plan_clear(struct plan *p)
{
	aim_buf_free(&p->state);
	for (size_t i = 0; i < p->n_add; i++)
		mem_clear(&p->add[i]);
	free(p->add);
	for (size_t i = 0; i < p->n_remove; i++)
		free(p->remove[i]);
	free(p->remove);
	for (size_t i = 0; i < p->n_welcome_again; i++)
		free(p->welcome_again[i]);
	free(p->welcome_again);
	json_decref(p->announce_of);
	json_decref(p->welcome);
	free(p->name);
	memset(p, 0, sizeof *p);
}

struct dl {
	struct store_new_delivery *v;
	size_t n;
	int64_t *local;
	size_t n_local;
};

static void dl_clear(struct dl *d)
{
	free(d->v);
	free(d->local);
}

static void dl_add(struct dl *d, const struct mem *m, bool personal)
{
	if (m->local) {
		for (size_t i = 0; i < d->n_local; i++)
			if (d->local[i] == m->local)
				return;
		d->local = aim_xrealloc(d->local, (d->n_local + 1) * sizeof *d->local);
		d->local[d->n_local++] = m->local;
		return;
	}
	const char *inbox = !personal && m->shared ? m->shared : m->inbox;
	if (!inbox)
		return;
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].inbox, inbox))
			return; /* one delivery per shared inbox */
	struct aim_url u;
	const char *host = "";
	char hb[256] = "";
	if (aim_url_parse(inbox, &u) == 0) {
		snprintf(hb, sizeof hb, "%s", u.host);
		aim_url_free(&u);
		host = hb;
	}
	d->v = aim_xrealloc(d->v, (d->n + 1) * sizeof *d->v);
	d->v[d->n++] = (struct store_new_delivery){ .inbox = inbox, .actor = m->actor,
						    .host = aim_xstrdup(host),
						    .personal = personal };
}

static void dl_free_hosts(struct dl *d)
{
	for (size_t i = 0; i < d->n; i++)
		free((char *)d->v[i].host);
}

static char *new_id(struct app *a)
{
	char u[37];
	aimd_route_uuid4(u);
	return aim_xasprintf("%s/activities/%s", a->base, u);
}

/*
 * Commits the plan for channel c in one transaction (the cas from
 * c->version). The Announce goes to every member after the change plus the
 * removed ones (they learn of their removal; nothing after it); the Welcome
 * to the new members only, once per shared inbox like the Announce (its
 * "to" names every member welcomed: the receiving server routes it to each
 * of its users named). *seq_out: the sequence given.
 */
static int plan_commit(struct app *a, const struct chan *c, const struct plan *p,
		       const struct store_channel *create, int64_t *seq_out)
{
	int rc = 0;
	int64_t now = aim_now();
	char *ann_id = NULL, *ann_txt = NULL, *wel_id = NULL, *wel_txt = NULL;
	struct dl ad = { 0 }, wd = { 0 };
	struct store_outgoing og[2];
	struct store_new_activity acts[2];
	size_t n_acts = 0;
	struct store_channel_member *add = aim_xcalloc(p->n_add + 1, sizeof *add);
	for (size_t i = 0; i < p->n_add; i++)
		add[i] = (struct store_channel_member){ p->add[i].actor, p->add[i].inbox,
							p->add[i].shared, p->add[i].local };
	int64_t seq = 0;
	if (p->announce_of) {
		seq = (int64_t)p->seq;
		ann_id = aim_xasprintf("%s/announces/%lld", c->url, (long long)seq);
		json_t *ann = json_pack("{s:[s,s], s:s, s:s, s:s, s:O, s:I, s:[s]}", "@context",
					"https://www.w3.org/ns/activitystreams",
					"https://purl.archive.org/socialweb/mls", "id", ann_id,
					"type", "Announce", "actor", c->url, "object",
					p->announce_of, "aim:sequence", (json_int_t)seq, "to",
					c->followers);
		if (p->n_remove) {
			/* who stopped being a member (their servers drop them) */
			json_t *rmv = json_array();
			for (size_t i = 0; i < p->n_remove; i++)
				json_array_append_new(rmv, json_string(p->remove[i]));
			json_object_set_new(ann, "aim:removed", rmv);
		}
		ann_txt = ap_json_dump(ann);
		json_decref(ann);
		for (size_t i = 0; i < c->n; i++) {
			bool removed = false;
			for (size_t j = 0; j < p->n_remove; j++)
				removed |= aim_url_equal(p->remove[j], c->m[i].actor);
			(void)removed; /* a removed member hears of her removal */
			dl_add(&ad, &c->m[i], false);
		}
		for (size_t i = 0; i < p->n_add; i++)
			dl_add(&ad, &p->add[i], false);
		og[n_acts] = (struct store_outgoing){ .activity_id = ann_id,
						      .signer = c->row.actor_user,
						      .body = ann_txt, .v = ad.v, .n = ad.n,
						      .now_ms = aim_now_ms() };
		acts[n_acts] = (struct store_new_activity){
			.id = ann_id, .json = ann_txt, .author = c->row.actor_user,
			.audience = ad.local, .n_audience = ad.n_local, .inbox = ad.local,
			.n_inbox = ad.n_local, .published = now,
			.outgoing = ad.n ? &og[n_acts] : NULL,
		};
		n_acts++;
	}
	if (p->welcome) {
		wel_id = new_id(a);
		json_t *to = json_array();
		for (size_t i = 0; i < p->n_add; i++) {
			if (p->add[i].local == c->row.owner && create)
				continue; /* the creator made the group */
			json_array_append_new(to, json_string(p->add[i].actor));
			dl_add(&wd, &p->add[i], false);
		}
		for (size_t k = 0; k < p->n_welcome_again; k++)
			for (size_t i = 0; i < c->n; i++)
				if (aim_url_equal(c->m[i].actor, p->welcome_again[k])) {
					json_array_append_new(to, json_string(c->m[i].actor));
					dl_add(&wd, &c->m[i], false);
					break;
				}
		json_t *w = json_pack("{s:[s,s], s:s, s:s, s:s, s:o, s:O, s:s}", "@context",
				      "https://www.w3.org/ns/activitystreams",
				      "https://purl.archive.org/socialweb/mls", "id", wel_id, "type",
				      "Create", "actor", c->url, "to", to, "object", p->welcome,
				      "aim:channel", c->url);
		wel_txt = ap_json_dump(w);
		json_decref(w);
		og[n_acts] = (struct store_outgoing){ .activity_id = wel_id,
						      .signer = c->row.actor_user,
						      .body = wel_txt, .v = wd.v, .n = wd.n,
						      .now_ms = aim_now_ms() };
		acts[n_acts] = (struct store_new_activity){
			.id = wel_id, .json = wel_txt, .author = c->row.actor_user,
			.audience = wd.local, .n_audience = wd.n_local, .inbox = wd.local,
			.n_inbox = wd.n_local, .published = now,
			.outgoing = wd.n ? &og[n_acts] : NULL,
		};
		n_acts++;
	}
	struct store_channel_change ch = {
		.channel = c->row.id,
		.create = create,
		.expected = c->version,
		.state = p->state.data,
		.state_len = p->state.len,
		.add = add,
		.n_add = p->n_add,
		.remove = (const char *const *)p->remove,
		.n_remove = p->n_remove,
		.seq = seq,
		.announce_id = ann_id,
		.announce_json = ann_txt,
		.acts = acts,
		.n_acts = n_acts,
		.name = p->name,
		.keep_state = p->keep_state,
	};
	rc = store_channel_apply(a->st, &ch);
	if (rc == 0) {
		if (ad.n_local || wd.n_local)
			aimd_sse_wake_notify(&a->wake);
		if (ad.n || wd.n)
			aimd_delivery_kick(a->dlv);
		if (seq_out)
			*seq_out = seq;
	}
	dl_free_hosts(&ad);
	dl_free_hosts(&wd);
	dl_clear(&ad);
	dl_clear(&wd);
	free(add);
	free(ann_id);
	free(ann_txt);
	free(wel_id);
	free(wel_txt);
	return rc;
}

/* ---- The hub's rules ------------------------------------------------------------------- */

enum ch_kind { CK_ADD, CK_REMOVE, CK_COMMIT, CK_MESSAGE, CK_META, CK_MOVE };

/* The actors an Add / Remove names (object: a URL or a list of URLs). */
static size_t named_actors(const json_t *act, const char **v, size_t max)
{
	const json_t *o = json_object_get(act, "object");
	size_t n = 0;
	if (json_is_string(o)) {
		v[n++] = json_string_value(o);
	} else if (json_is_array(o)) {
		size_t i;
		const json_t *e;
		json_array_foreach(o, i, e) {
			const char *s = json_is_string(e) ? json_string_value(e)
				       : str_of(e, "id");
			if (s && n < max)
				v[n++] = s;
		}
	} else if (json_is_object(o) && str_of(o, "id")) {
		v[n++] = str_of(o, "id");
	}
	return n;
}

/* A Commit or a Proposal, from the MLS message's content type. */
static enum hub_kind handshake_kind(struct aim_bytes b)
{
	struct mls_message m = { 0 };
	enum hub_kind k = HUB_COMMIT;
	if (mls_message_parse(b.p, b.len, &m) != 0)
		return k;
	if (m.wire_format == MLS_WIRE_PUBLIC_MESSAGE &&
	    m.public_message.content.content_type == 2 /* proposal */)
		k = HUB_PROPOSAL;
	mls_message_free(&m);
	return k;
}

/* The bytes of an optional MLS field (empty when absent). */
static int opt_bytes(const json_t *act, const char *k1, const char *k2, struct aim_buf *b)
{
	const json_t *v = json_object_get(act, k1);
	if (!v && k2)
		v = json_object_get(act, k2);
	return v ? mls_bytes_of(v, b) : 0;
}

/*
 * Asks the hub core about act (kind k) by actor on channel c; fills the
 * plan when accepted. A refusal records the hub's code and reason
 * (aim_fail) and *cur_epoch the group's current epoch.
 */
static int decide(struct app *a, struct chan *c, enum ch_kind k, const json_t *act,
		  const char *actor, struct plan *p, uint64_t *cur_epoch, bool *cred_refused)
{
	*cred_refused = false;
	memset(p, 0, sizeof *p);
	aim_buf_init(&p->state, HUB_MAX_STATE);
	struct aim_buf mb, wb, gb;
	aim_buf_init(&mb, STORE_STATE_VALUE_MAX);
	aim_buf_init(&wb, STORE_STATE_VALUE_MAX);
	aim_buf_init(&gb, STORE_STATE_VALUE_MAX);
	struct hub_decision d;
	hub_decision_init(&d);
	struct hub_group *next = NULL;
	struct mem *res = NULL;
	struct hub_member *hm = NULL;
	size_t nres = 0;
	int rc = 0;
	*cur_epoch = hub_group_epoch(c->g);
	const char *names[HUB_MAX_OBJECTS];
	size_t nn = 0;
	struct hub_input in = { .actor = actor };
	const char *new_owner[1];
	struct hub_policy pol;
	if (k == CK_META) {
		/* Update of the channel: its name (metadata), its attributedTo
		 * (the owner hands the channel to another member), or its
		 * settings (aim:policy, aim:admins: the owner's; what is left
		 * out stays as it is) */
		const json_t *o = json_object_get(act, "object");
		const char *to = str_of(o, "attributedTo");
		const json_t *po = json_object_get(o, "aim:policy");
		const json_t *ad = json_object_get(o, "aim:admins");
		if (to && strcmp(to, hub_group_owner(c->g)) != 0) {
			in.kind = HUB_TRANSFER;
			new_owner[0] = to;
			in.objects = new_owner;
			in.n_objects = 1;
		} else if (po || ad) {
			in.kind = HUB_SETTINGS;
			pol = *hub_group_policy(c->g);
			if (po) {
				ENSURE_GOTO(json_is_object(po), out, AIM_ERR_INVALID,
					    "aim:policy is an object");
				const char *ms = str_of(po, "membership");
				if (ms)
					TRY_GOTO(hub_membership_parse(ms, &pol.membership), out);
				const json_t *me = json_object_get(po, "messageEpochs");
				if (me) {
					ENSURE_GOTO(json_is_integer(me) && json_integer_value(me) >= 0 &&
							    json_integer_value(me) <= 1000,
						    out, AIM_ERR_INVALID,
						    "aim:policy messageEpochs: 0 to 1000");
					pol.message_epochs = (uint32_t)json_integer_value(me);
				}
			}
			in.policy = &pol;
			if (ad) {
				ENSURE_GOTO(json_is_array(ad) && json_array_size(ad) <= HUB_MAX_ADMINS,
					    out, AIM_ERR_INVALID,
					    "aim:admins: a list of at most %u actors", HUB_MAX_ADMINS);
				for (size_t i = 0; i < json_array_size(ad); i++) {
					const char *s = json_string_value(json_array_get(ad, i));
					ENSURE_GOTO(s, out, AIM_ERR_INVALID, "an admin is an actor URL");
					names[nn++] = s;
				}
			} else {
				for (size_t i = 0; i < hub_group_admin_count(c->g); i++)
					names[nn++] = hub_group_admin(c->g, i);
			}
			in.objects = names;
			in.n_objects = nn;
		} else {
			in.kind = HUB_METADATA;
		}
	} else if (k == CK_MESSAGE) {
		in.kind = HUB_MESSAGE;
		TRY_GOTO(mls_bytes_of(json_object_get(act, "object"), &mb), out);
	} else {
		const json_t *cm = json_object_get(act, "instrument");
		if (!cm)
			cm = json_object_get(act, "commit");
		if (!cm && k == CK_COMMIT)
			cm = json_object_get(act, "object");
		TRY_GOTO(mls_bytes_of(cm, &mb), out);
		in.kind = k == CK_ADD ? HUB_ADD : k == CK_REMOVE ? HUB_REMOVE
								: handshake_kind(AIM_BYTES(mb.data, mb.len));
		TRY_GOTO(opt_bytes(act, "aim:groupInfo", NULL, &gb), out);
	}
	in.mls = AIM_BYTES(mb.len ? mb.data : NULL, mb.len);
	in.group_info = AIM_BYTES(gb.data, gb.len);
	if (k == CK_ADD || k == CK_REMOVE) {
		nn = named_actors(act, names, HUB_MAX_OBJECTS);
		in.objects = names;
		in.n_objects = nn;
	}
	struct hub_members resolved = { 0 };
	if (k == CK_ADD) {
		TRY_GOTO(opt_bytes(act, "aim:welcome", "welcome", &wb), out);
		in.welcome = AIM_BYTES(wb.data, wb.len);
		/* what the core cannot do: the acct: URI of each actor added */
		res = aim_xcalloc(nn + 1, sizeof *res);
		hm = aim_xcalloc(nn + 1, sizeof *hm);
		for (size_t i = 0; i < nn; i++) {
			if (hub_group_is_member(c->g, names[i]))
				continue; /* the core says what is wrong with it */
			TRY_GOTO(resolve_member(a, names[i], &res[nres]), out);
			hm[nres] = (struct hub_member){ res[nres].actor, res[nres].acct };
			nres++;
		}
		resolved = (struct hub_members){ hm, nres };
		in.resolved = &resolved;
	}
	/* every credential through the domains' CAs (hub_trust.h: the CA
	 * documents fetched before the decision that needs them) */
	struct aimd_hub_trust trust;
	aimd_hub_trust_init(&trust, a);
	in.hook = &trust.hook;
	int drc;
	if (in.kind == HUB_MESSAGE) {
		/* An application message changes nothing of the group but the
		 * sequence (and checks no credential): decided on the state as
		 * read, in place, without the copy hub_decide makes, and not
		 * written back (keep_state: the outbox row carries the
		 * sequence; the version read is still checked). */
		drc = hub_apply(c->g, &in, aim_now(), &d);
	} else {
		drc = hub_decide(c->g, &in, aim_now(), &next, &d);
		if (drc == 0 && aimd_hub_trust_settle(&trust)) {
			hub_group_free(next);
			next = NULL;
			hub_decision_free(&d);
			hub_decision_init(&d);
			drc = hub_decide(c->g, &in, aim_now(), &next, &d);
		}
	}
	bool trust_refused = trust.refused;
	char trust_reason[sizeof trust.reason];
	snprintf(trust_reason, sizeof trust_reason, "%s", trust.reason);
	aimd_hub_trust_clear(&trust);
	if (drc != 0) {
		*cur_epoch = d.current_epoch;
		if (trust_refused) {
			*cred_refused = true;
			rc = aim_fail(AIM_ERR_DENIED, "%s", trust_reason);
		} else {
			/* The MLS library's codes for the contents of a Commit
			 * (threats.md C41, C42: a reference to an unknown
			 * proposal, keys already in the tree, an expired
			 * KeyPackage) are a bad request at this edge, never the
			 * table's 404 / 409 / 410 of a missing resource, a
			 * conflict or a gone one (409 is for a stale epoch). */
			enum aim_err e = d.err ? d.err : AIM_ERR_INVALID;
			if (e == AIM_ERR_NOTFOUND || e == AIM_ERR_EXISTS || e == AIM_ERR_GONE)
				e = AIM_ERR_INVALID;
			rc = aim_fail(e, "%s", d.reason);
		}
		goto out;
	}
	*cur_epoch = d.current_epoch;
	if (in.kind == HUB_METADATA && str_of(json_object_get(act, "object"), "name"))
		p->name = aim_xstrdup(str_of(json_object_get(act, "object"), "name"));
	if (next)
		TRY_GOTO(state_encode(next, &p->state), out);
	else
		p->keep_state = true;
	p->seq = d.seq;
	p->epoch = d.current_epoch;
	/* followers: the core's effects */
	p->add = aim_xcalloc(d.n_added + 1, sizeof *p->add);
	for (size_t i = 0; i < d.n_added; i++) {
		for (size_t j = 0; j < nres; j++)
			if (res[j].actor && aim_url_equal(res[j].actor, d.added[i])) {
				p->add[p->n_add++] = res[j];
				memset(&res[j], 0, sizeof res[j]);
				break;
			}
	}
	p->remove = aim_xcalloc(d.n_removed + 1, sizeof *p->remove);
	for (size_t i = 0; i < d.n_removed; i++)
		p->remove[p->n_remove++] = aim_xstrdup(d.removed[i]);
	if (d.route_welcome && wb.len) {
		p->welcome = mls_object("Welcome", wb.data, wb.len);
		/* an Add naming a member already there welcomes its new devices */
		p->welcome_again = aim_xcalloc(nn + 1, sizeof *p->welcome_again);
		for (size_t i = 0; i < nn; i++)
			if (hub_group_is_member(c->g, names[i]))
				p->welcome_again[p->n_welcome_again++] = aim_xstrdup(names[i]);
	}
	if (d.seq) {
		p->announce_of = json_deep_copy(act);
		json_object_del(p->announce_of, "aim:welcome");
		json_object_del(p->announce_of, "welcome");
	}
out:
	for (size_t i = 0; i < nres; i++)
		mem_clear(&res[i]);
	free(res);
	free(hm);
	hub_group_free(next);
	hub_decision_free(&d);
	aim_buf_free(&mb);
	aim_buf_free(&wb);
	aim_buf_free(&gb);
	if (rc != 0)
		plan_clear(p);
	return rc;
}

/* ---- Answers -------------------------------------------------------------------------- */

static void send_refusal(struct app *a, struct http_response *r, uint64_t cur,
			 enum status_surface surf)
{
	enum aim_err e = aim_errcode();
	if (e == AIM_ERR_CONFLICT) {
		json_t *j = json_pack("{s:s, s:s, s:I}", "error", "stale_epoch", "detail",
				      aim_errmsg(), "aim:currentEpoch", (json_int_t)cur);
		aimd_route_json(r, 409, "application/json", j);
		return;
	}
	if (e == AIM_ERR_VERIFY) {
		/* an MLS signature or tag (C40), not the request's HTTP
		 * signature: never the table's 401 of a server's credential */
		http_resp_error(r, 400, "bad_mls_signature", aim_errmsg());
		return;
	}
	(void)a;
	aimd_status_send_failure(r, surf);
}

/* To a remote server whose commit was stale: a Reject by the channel naming
 * the current epoch, to the committer's inbox. */
static void send_reject(struct app *a, const struct chan *c, const json_t *act,
			const char *actor, uint64_t cur)
{
	struct mem m;
	if (resolve_member(a, actor, &m) != 0 || m.local) {
		if (m.actor)
			mem_clear(&m);
		return;
	}
	char *id = new_id(a);
	json_t *j = json_pack("{s:[s,s], s:s, s:s, s:s, s:O, s:[s], s:I}", "@context",
			      "https://www.w3.org/ns/activitystreams",
			      "https://purl.archive.org/socialweb/mls", "id", id, "type", "Reject",
			      "actor", c->url, "object", act, "to", actor, "aim:currentEpoch",
			      (json_int_t)cur);
	char *txt = ap_json_dump(j);
	json_decref(j);
	struct dl d = { 0 };
	dl_add(&d, &m, true);
	struct store_outgoing og = { .activity_id = id, .signer = c->row.actor_user, .body = txt,
				     .v = d.v, .n = d.n, .now_ms = aim_now_ms() };
	struct store_new_activity na = { .id = id, .json = txt, .author = c->row.actor_user,
					 .published = aim_now(), .outgoing = d.n ? &og : NULL };
	int64_t seq;
	if (store_activity_add(a->st, &na, &seq) != 0)
		aim_log(AIM_LOG_ERROR, "channel", "Reject to %s: %s", actor, aim_errmsg());
	else
		aimd_delivery_kick(a->dlv);
	dl_free_hosts(&d);
	dl_clear(&d);
	free(txt);
	free(id);
	mem_clear(&m);
}

/* ---- Move: the channel to its owner's server ------------------------------------------ */

/*
 * The single-owner-transferable model (docs/channels.md, "Moving a
 * channel"): a channel lives on one server, its owner's when it was made;
 * ownership passes to another member by an Update (HUB_TRANSFER); when no
 * member is left on the hosting domain, the owner's server may take the
 * channel over. The old host records the move (state kind "hub-moved", key
 * the channel id, value the new actor URL) and hands over the hub state;
 * from then on it decides nothing (410 with a Tombstone naming movedTo) and
 * its actor says movedTo. The new host keeps the old actor URL (kind
 * "hub-from", key its id) and shows it as alsoKnownAs.
 */
static char *state_str(struct app *a, const char *kind, const char *id, int64_t *version)
{
	int64_t v = 0;
	uint8_t *val = NULL;
	size_t n = 0;
	if (version)
		*version = 0;
	if (store_state_get(a->st, kind, id, &v, &val, &n) != 0 || !val) {
		free(val);
		return NULL;
	}
	if (version)
		*version = v;
	char *s = aim_xmalloc(n + 1);
	memcpy(s, val, n);
	s[n] = 0;
	free(val);
	return s;
}

static char *moved_to(struct app *a, const char *id)
{
	return state_str(a, "hub-moved", id, NULL);
}

static void send_gone(struct http_response *r, const char *to)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "@context",
			      "https://www.w3.org/ns/activitystreams", "type", "Tombstone", "formerType",
			      "Group", "movedTo", to, "error", "gone");
	aimd_route_json(r, 410, ROUTE_AS_TYPE, j);
}

/*
 * At the old host: the owner's Move of channel id to target (a URL on the
 * owner's own origin, where its server will host the channel). Refused
 * unless actor is the owner, and while a member on this domain remains
 * (409 members_remain). Accepted: the move is recorded, the hub state's
 * version moved (a decision read before it loses its compare-and-set and,
 * reading again, finds the channel moved), and the answer is the hub state
 * (hub_group_encode, the next sequence number in it) for the new host. A
 * repeated Move to the same origin (the new host failed half-way) answers
 * again and records the new target.
 */
static void move_out(struct app *a, struct http_response *r, const char *id, const json_t *act,
		     const char *actor, enum status_surface surf)
{
	const char *target = ap_id_of(json_object_get(act, "target"));
	pthread_mutex_t *mu = chan_lock(id);
	pthread_mutex_lock(mu);
	struct chan c;
	struct aim_buf st, b64;
	aim_buf_init(&st, HUB_MAX_STATE);
	aim_buf_init(&b64, HUB_MAX_STATE / 3 * 4 + 16);
	int64_t mv = 0;
	char *prev = NULL;
	for (int attempt = 0;; attempt++) {
		if (chan_load(a, id, &c) != 0) {
			aimd_status_send_failure(r, surf);
			goto out;
		}
		free(prev);
		prev = state_str(a, "hub-moved", id, &mv);
		/* AIM "MIMI Requirements": ownership "Single-owner, transferable":
		 * only the owner moves it */
		if (strcmp(actor, hub_group_owner(c.g)) != 0) {
			http_resp_error(r, 403, "forbidden", "only the channel's owner moves it");
			goto out;
		}
		if (!target || strncmp(target, "https://", 8) != 0 ||
		    !aim_url_origin_equal(target, actor) || chan_id_of(a, target, (char[64]){ 0 }, 64)) {
			http_resp_error(r, 400, "bad_request",
					"a channel moves to its owner's server: target on the owner's origin");
			goto out;
		}
		if (prev && !aim_url_origin_equal(prev, target)) {
			send_gone(r, prev);
			goto out;
		}
		/* issue 11: "Move of the channel to another server when no member
		 * is left on the hosting domain" */
		for (size_t i = 0; i < c.n; i++)
			if (c.m[i].local) {
				json_t *j = json_pack("{s:s, s:s}", "error", "members_remain", "detail",
						      "a member remains on the hosting server");
				aimd_route_json(r, 409, "application/json", j);
				goto out;
			}
		if (!prev || strcmp(prev, target) != 0) {
			if (store_state_cas(a->st, "hub-moved", id, mv, (const uint8_t *)target,
					    strlen(target), NULL) != 0)
				goto retry;
		}
		st.len = 0;
		if (hub_group_encode(c.g, &st) != 0) {
			aimd_status_send_failure(r, surf);
			goto out;
		}
		struct store_channel_change ch = { .channel = id, .expected = c.version,
						   .state = st.data, .state_len = st.len };
		if (store_channel_apply(a->st, &ch) != 0)
			goto retry;
		break;
retry:
		if (aim_errcode() != AIM_ERR_CONFLICT || attempt >= CAS_RETRIES) {
			aimd_status_send_failure(r, surf);
			goto out;
		}
		chan_clear(&c);
	}
	if (aim_b64_encode(&b64, st.data, st.len) != 0) {
		aimd_status_send_failure(r, surf);
		goto out;
	}
	json_t *j = json_pack("{s:[s,s], s:s, s:s, s:s, s:s, s:s%, s:I, s:I}", "@context",
			      "https://www.w3.org/ns/activitystreams", MLSCTX_URL, "type",
			      "aim:HubState", "aim:channel", c.url, "movedTo", target, "name",
			      c.row.name ? c.row.name : "", "aim:state", (const char *)b64.data,
			      b64.len, "aim:nextSequence", (json_int_t)hub_group_next_seq(c.g),
			      "aim:epoch", (json_int_t)hub_group_epoch(c.g));
	aim_log(AIM_LOG_INFO, "channel", "%s moved to %s by its owner %s (epoch %llu, next sequence "
		"%llu)", c.url, target, actor, (unsigned long long)hub_group_epoch(c.g),
		(unsigned long long)hub_group_next_seq(c.g));
	aimd_route_json(r, 200, "application/json", j);
out:
	pthread_mutex_unlock(mu);
	free(prev);
	aim_buf_free(&st);
	aim_buf_free(&b64);
	chan_clear(&c);
}

/* Decides and applies act on channel id, re-reading after a lost race. */
static void change(struct app *a, struct http_response *r, const char *id, enum ch_kind k,
		   const json_t *act, const char *actor, bool remote)
{
	enum status_surface surf = remote ? STATUS_S2S : STATUS_CLIENT;
	if (k == CK_MOVE) {
		move_out(a, r, id, act, actor, surf);
		return;
	}
	char *gone = moved_to(a, id);
	if (gone) {
		/* moved away: nothing is decided here any more */
		send_gone(r, gone);
		free(gone);
		return;
	}
	pthread_mutex_t *mu = chan_lock(id);
	for (int attempt = 0;; attempt++) {
		struct chan c;
		struct plan p;
		pthread_mutex_lock(mu);
		if (chan_load(a, id, &c) != 0) {
			pthread_mutex_unlock(mu);
			aimd_status_send_failure(r, surf);
			chan_clear(&c);
			return;
		}
		uint64_t cur = 0;
		bool cred_refused = false;
		int rc = decide(a, &c, k, act, actor, &p, &cur, &cred_refused);
		int64_t seq = 0;
		bool lost_race = false;
		if (rc == 0) {
			rc = plan_commit(a, &c, &p, NULL, &seq);
			/* the store's compare-and-set (or the sequence) was taken by
			 * another change: never the hub's own refusal */
			lost_race = rc != 0 && aim_errcode() == AIM_ERR_CONFLICT;
		}
		pthread_mutex_unlock(mu);
		if (lost_race && attempt < CAS_RETRIES) {
			/* another process won: read again and decide again */
			plan_clear(&p);
			chan_clear(&c);
			continue;
		}
		static const char *const kind_names[] = { [CK_ADD] = "add", [CK_REMOVE] = "remove",
							  [CK_COMMIT] = "commit", [CK_MESSAGE] = "message",
							  [CK_META] = "metadata" };
		aimd_metrics_hub(kind_names[k], rc == 0);
		if (lost_race)
			/* never a stale epoch: the epoch may not have moved at all */
			aim_fail(AIM_ERR_BUSY, "channel busy: lost the race for its state %d times, "
				 "try again", attempt + 1);
		if (rc != 0) {
			aim_log(AIM_LOG_INFO, "channel", "%s from %s refused: %s", c.url, actor,
				aim_errmsg());
			bool stale = aim_errcode() == AIM_ERR_CONFLICT;
			char msgbuf[256];
			snprintf(msgbuf, sizeof msgbuf, "%s", aim_errmsg());
			if ((stale || cred_refused) && remote)
				send_reject(a, &c, act, actor, cur);
			aim_fail(stale ? AIM_ERR_CONFLICT : aim_errcode(), "%s", msgbuf);
			send_refusal(a, r, cur, surf);
		} else {
			json_t *j = json_pack("{s:s, s:I, s:I}", "channel", c.url, "aim:sequence",
					      (json_int_t)seq, "aim:epoch", (json_int_t)p.epoch);
			aimd_route_json(r, remote ? 202 : 201, "application/json", j);
			http_resp_header(r, "Location", c.url);
		}
		plan_clear(&p);
		chan_clear(&c);
		return;
	}
}

/* ---- Creation ------------------------------------------------------------------------- */

/* The owner's Create of a Group (or, kind DM, the first message of a group
 * DM carrying aim:groupInfo). */
static void create_channel(struct app *a, struct http_response *r, const struct store_user *owner,
			   const json_t *doc, int kind)
{
	const json_t *obj = json_object_get(doc, "object");
	const json_t *members = json_object_get(doc, kind == STORE_CHANNEL_DM ? "to"
									    : "aim:members");
	const json_t *gi = json_object_get(doc, "aim:groupInfo");
	const json_t *w = json_object_get(doc, "aim:welcome");
	if (!w)
		w = json_object_get(doc, "mimi:welcome");
	const char *policy = str_of(json_object_get(obj, "aim:policy"), "membership");
	if (!policy)
		policy = "owner";
	if (strcmp(policy, "owner") && strcmp(policy, "admins") && strcmp(policy, "members")) {
		http_resp_error(r, 400, "bad_request", "aim:policy membership: owner, admins or members");
		return;
	}
	if (!json_is_array(members) || !gi || !w) {
		http_resp_error(r, 400, "bad_request",
				"a channel's Create carries aim:members, aim:groupInfo, aim:welcome");
		return;
	}
	char uid[37];
	aimd_route_uuid4(uid);
	struct chan c = { 0 };
	struct plan p = { 0 };
	struct aim_buf gb;
	aim_buf_init(&gb, STORE_STATE_VALUE_MAX);
	aim_buf_init(&p.state, STORE_STATE_VALUE_MAX);
	char *owner_url = aimd_route_user_url(a, owner->name);
	char *rowname = aim_xasprintf("%s%s", kind == STORE_CHANNEL_DM ? STORE_DM_PREFIX
								     : STORE_CHANNEL_PREFIX, uid);
	int rc = 0;
	struct hub_member *hm = NULL;
	struct hub_decision d;
	hub_decision_init(&d);
	struct aim_buf wbytes;
	aim_buf_init(&wbytes, STORE_STATE_VALUE_MAX);
	TRY_GOTO(mls_bytes_of(gi, &gb), fail);
	TRY_GOTO(mls_bytes_of(w, &wbytes), fail);
	enum hub_membership hmem;
	TRY_GOTO(hub_membership_parse(policy, &hmem), fail);
	/* followers = owner + named members */
	size_t nm = json_array_size(members);
	ENSURE_GOTO(nm <= MAX_MEMBERS, fail, AIM_ERR_LIMIT, "too many members");
	p.add = aim_xcalloc(nm + 1, sizeof *p.add);
	TRY_GOTO(resolve_member(a, owner_url, &p.add[p.n_add]), fail);
	p.n_add++;
	for (size_t i = 0; i < nm; i++) {
		const char *m = json_string_value(json_array_get(members, i));
		ENSURE_GOTO(m, fail, AIM_ERR_INVALID, "a member is an actor URL");
		bool dup = false;
		for (size_t j = 0; j < p.n_add; j++)
			dup |= aim_url_equal(p.add[j].actor, m);
		if (dup)
			continue;
		TRY_GOTO(resolve_member(a, m, &p.add[p.n_add]), fail);
		p.n_add++;
	}
	/* the hub core: the tree's devices are exactly the members' */
	hm = aim_xcalloc(p.n_add, sizeof *hm);
	for (size_t i = 0; i < p.n_add; i++)
		hm[i] = (struct hub_member){ p.add[i].actor, p.add[i].acct };
	struct hub_members hms = { hm, p.n_add };
	struct hub_policy pol;
	hub_policy_default(&pol);
	pol.membership = hmem;
	/* admins from the start (aim:admins of the Group: members) */
	const json_t *adm = json_object_get(obj, "aim:admins");
	const char *admins[HUB_MAX_ADMINS];
	size_t n_admins = 0;
	ENSURE_GOTO(!adm || (json_is_array(adm) && json_array_size(adm) <= HUB_MAX_ADMINS), fail,
		    AIM_ERR_INVALID, "aim:admins: a list of at most %u actors", HUB_MAX_ADMINS);
	for (size_t i = 0; adm && i < json_array_size(adm); i++) {
		admins[n_admins] = json_string_value(json_array_get(adm, i));
		ENSURE_GOTO(admins[n_admins], fail, AIM_ERR_INVALID, "an admin is an actor URL");
		n_admins++;
	}
	struct hub_create hc = {
		.group_info = AIM_BYTES(gb.data, gb.len),
		.welcome = AIM_BYTES(wbytes.data, wbytes.len),
		.owner = owner_url,
		.members = &hms,
		.admins = admins,
		.n_admins = n_admins,
		.policy = &pol,
	};
	/* every leaf of the tree through the domains' CAs (hub_trust.h) */
	struct aimd_hub_trust trust;
	aimd_hub_trust_init(&trust, a);
	hc.hook = &trust.hook;
	int crc = hub_group_create(&hc, aim_now(), &c.g, &d);
	if (crc == 0 && aimd_hub_trust_settle(&trust)) {
		hub_group_free(c.g);
		c.g = NULL;
		hub_decision_free(&d);
		hub_decision_init(&d);
		crc = hub_group_create(&hc, aim_now(), &c.g, &d);
	}
	if (crc != 0) {
		if (trust.refused)
			aim_fail(AIM_ERR_DENIED, "%s", trust.reason);
		else
			aim_fail(d.err ? d.err : AIM_ERR_INVALID, "%s", d.reason);
		aimd_hub_trust_clear(&trust);
		goto fail;
	}
	aimd_hub_trust_clear(&trust);
	if (d.route_welcome)
		p.welcome = mls_object("Welcome", wbytes.data, wbytes.len);
	int64_t actor_user = 0;
	TRY_GOTO(aimd_user_add_with_keys(a->st, rowname, &actor_user), fail);
	struct store_channel row = {
		.id = uid,
		.kind = kind,
		.actor_user = actor_user,
		.owner = owner->id,
		.name = (char *)(str_of(obj, "name") ? str_of(obj, "name") : ""),
		.policy = (char *)policy,
	};
	c.row = (struct store_channel){ .id = aim_xstrdup(uid), .kind = kind,
					.actor_user = actor_user, .owner = owner->id,
					.name = aim_xstrdup(row.name),
					.policy = aim_xstrdup(policy) };
	c.url = chan_url(a, kind, uid);
	c.followers = aim_xasprintf("%s/followers", c.url);
	c.version = 0;
	TRY_GOTO(state_encode(c.g, &p.state), fail);
	TRY_GOTO(plan_commit(a, &c, &p, &row, NULL), fail);
	aim_log(AIM_LOG_INFO, "channel", "%s created by %s with %zu members", c.url, owner_url,
		p.n_add);
	json_t *j = json_pack("{s:s, s:s, s:I}", "id", c.url, "type",
			      kind == STORE_CHANNEL_DM ? "aim:GroupDM" : "Group", "aim:epoch",
			      (json_int_t)hub_group_epoch(c.g));
	if (kind == STORE_CHANNEL_DM)
		json_object_set_new(j, "aim:hub", json_string(c.url));
	aimd_route_json(r, 201, ROUTE_AS_TYPE, j);
	http_resp_header(r, "Location", c.url);
	goto out;
fail:
	(void)rc;
	aim_log(AIM_LOG_INFO, "channel", "creation by %s refused: %s", owner_url, aim_errmsg());
	aimd_route_failure(r);
out:
	free(hm);
	hub_decision_free(&d);
	aim_buf_free(&wbytes);
	aim_buf_free(&gb);
	plan_clear(&p);
	chan_clear(&c);
	free(owner_url);
	free(rowname);
}

/* ---- Routing of activities ----------------------------------------------------------- */

static bool is_group_type(const char *t)
{
	return t && (!strcmp(t, "Group") || !strcmp(t, "Service"));
}

/* Which channel of ours act is for and what kind of change; false if none. */
static bool classify(struct app *a, const json_t *act, char *id, size_t n, enum ch_kind *k)
{
	const char *type = str_of(act, "type");
	if (!type)
		return false;
	if (!strcmp(type, "Add") || !strcmp(type, "Remove")) {
		*k = !strcmp(type, "Add") ? CK_ADD : CK_REMOVE;
		return chan_id_of(a, str_of(act, "target"), id, n);
	}
	if (!strcmp(type, "Move")) {
		*k = CK_MOVE;
		return chan_id_of(a, ap_id_of(json_object_get(act, "object")), id, n);
	}
	const json_t *to = json_object_get(act, "to");
	bool ours = false;
	if (json_is_string(to))
		ours = chan_id_of(a, json_string_value(to), id, n);
	else if (json_is_array(to)) {
		size_t i;
		const json_t *e;
		json_array_foreach(to, i, e) {
			if (chan_id_of(a, json_string_value(e), id, n)) {
				ours = true;
				break;
			}
		}
	}
	if (!ours)
		return false;
	if (!strcmp(type, "Create")) {
		const char *ot = str_of(json_object_get(act, "object"), "type");
		*k = ot && !strcmp(ot, "PublicMessage") ? CK_COMMIT : CK_MESSAGE;
		return true;
	}
	if (!strcmp(type, "Update")) {
		const json_t *o = json_object_get(act, "object");
		const char *oid = json_is_string(o) ? json_string_value(o) : str_of(o, "id");
		char oidc[64];
		*k = is_group_type(str_of(o, "type")) ||
				     (oid && chan_id_of(a, oid, oidc, sizeof oidc) && !strcmp(oidc, id))
			     ? CK_META
			     : CK_COMMIT;
		return true;
	}
	return false;
}

/*
 * At the new host: a local user's Move of a remote channel `old` that she
 * owns (her outbox: {"type": "Move", "object": OLD}). This server makes the
 * new actor BASE/channels/NEW, asks the old host with a POST signed by the
 * user's key (Move, object OLD, target NEW: move_out() there), takes the hub
 * state it answers (hub_group_parse checks it; the owner must be the user),
 * creates the channel with the same members, policy, MLS state and next
 * sequence number, and tells the remote members' servers with a Move by
 * the new actor (once per shared inbox), which they check against the old
 * actor's movedTo. Local members stop being members of the old actor.
 */
static void move_in(struct app *a, struct http_response *r, const struct store_user *owner,
		    const char *old)
{
	char *me = aimd_route_user_url(a, owner->name);
	char uid[37];
	aimd_route_uuid4(uid);
	char *rowname = aim_xasprintf("%s%s", STORE_CHANNEL_PREFIX, uid);
	struct remote_actor ra = { 0 };
	struct aimd_signer *sg = NULL;
	struct client_response resp = { 0 };
	bool have_resp = false;
	json_t *ans = NULL;
	char *rsa = NULL, *ed = NULL, *key_id = NULL, *body = NULL, *mv_id = NULL;
	char *mv_txt = NULL;
	struct chan c = { 0 };
	struct plan p = { 0 };
	struct aim_buf sb;
	aim_buf_init(&sb, HUB_MAX_STATE);
	struct dl d = { 0 };
	int rc = 0;
	c.url = chan_url(a, STORE_CHANNEL, uid);
	c.followers = aim_xasprintf("%s/followers", c.url);
	/* moved here already (kind "hub-in", key the old actor URL: our id):
	 * once; a Move that failed half-way left no channel and may be made
	 * again */
	int64_t inv = 0;
	char *here = state_str(a, "hub-in", old, &inv);
	if (here) {
		struct store_channel ex = { 0 };
		bool exists = store_channel_get(a->st, here, &ex) == 0;
		store_channel_clear(&ex);
		if (exists) {
			json_t *e = json_pack("{s:s, s:s}", "error", "already_moved", "detail",
					      "the channel was moved here already");
			json_object_set_new(e, "id", json_sprintf("%s%s%s", a->base,
								  AIMD_CHANNELS_PATH, here));
			aimd_route_json(r, 409, "application/json", e);
			free(here);
			goto done;
		}
		free(here);
	}
	if (!a->fin || aimd_remote_actor_get(a, old, true, &ra) != 0 || !is_group_type(ra.type) ||
	    !ra.inbox) {
		http_resp_error(r, 400, "bad_request", "the Move's object is no channel we can reach");
		goto done;
	}
	/* the request to the old host, signed by the owner's own key */
	json_t *mv = json_pack("{s:[s,s], s:s, s:s, s:s, s:s, s:s}", "@context",
			       "https://www.w3.org/ns/activitystreams", MLSCTX_URL, "id", "", "type",
			       "Move", "actor", me, "object", old, "target", c.url);
	char *aid = new_id(a);
	json_object_set_new(mv, "id", json_string(aid));
	free(aid);
	body = ap_json_dump(mv);
	json_decref(mv);
	key_id = aim_xasprintf("%s#main-key", me);
	TRY_GOTO(store_user_private_keys(a->st, owner->id, &rsa, &ed), fail);
	TRY_GOTO(aimd_signer_new(key_id, rsa, strlen(rsa), &a->client, &sg), fail);
	struct sig_field hdr[] = { { "Content-Type", "application/activity+json" },
				   { "Accept", "application/activity+json, application/json" } };
	struct client_request req = { .method = "POST", .url = ra.inbox, .headers = hdr,
				      .n_headers = 2, .has_body = true,
				      .body = AIM_BYTES((const uint8_t *)body, strlen(body)) };
	TRY_GOTO(aimd_signer_fetch(sg, &req, &resp), fail);
	have_resp = true;
	if (resp.status != 200) {
		/* the old host's refusal (403 not the owner, 409 a member remains
		 * there, 410 moved elsewhere), as it said it */
		long st = resp.status >= 400 && resp.status < 500 ? resp.status : 502;
		json_t *e = NULL;
		if (ap_json_parse_object(resp.body.data, resp.body.len, &e) != 0)
			e = json_pack("{s:s}", "error", "remote_failure");
		json_object_set_new(e, "aim:oldHostStatus", json_integer(resp.status));
		aim_log(AIM_LOG_INFO, "channel", "Move of %s refused by its host: %ld", old,
			resp.status);
		aimd_route_json(r, (int)st, "application/json", e);
		goto done;
	}
	TRY_GOTO(ap_json_parse_object(resp.body.data, resp.body.len, &ans), fail);
	const char *b = str_of(ans, "aim:state");
	ENSURE_GOTO(b && str_of(ans, "movedTo") && !strcmp(str_of(ans, "movedTo"), c.url), fail,
		    AIM_ERR_REMOTE, "the old host answered no hub state for %s", c.url);
	TRY_GOTO(aim_b64_decode(&sb, b, strlen(b)), fail);
	TRY_GOTO(hub_group_parse(AIM_BYTES(sb.data, sb.len), &c.g), fail);
	ENSURE_GOTO(!strcmp(hub_group_owner(c.g), me), fail, AIM_ERR_REMOTE,
		    "the hub state's owner is %s, not %s", hub_group_owner(c.g), me);
	/* the members as they were: their inboxes from here */
	size_t nm = hub_group_member_count(c.g);
	ENSURE_GOTO(nm <= MAX_MEMBERS, fail, AIM_ERR_LIMIT, "too many members");
	p.add = aim_xcalloc(nm + 1, sizeof *p.add);
	for (size_t i = 0; i < nm; i++) {
		TRY_GOTO(resolve_member(a, hub_group_member(c.g, i)->actor, &p.add[p.n_add]), fail);
		p.n_add++;
	}
	aim_buf_init(&p.state, HUB_MAX_STATE);
	TRY_GOTO(hub_group_encode(c.g, &p.state), fail);
	int64_t actor_user = 0;
	TRY_GOTO(aimd_user_add_with_keys(a->st, rowname, &actor_user), fail);
	const char *name = str_of(ans, "name") ? str_of(ans, "name") : "";
	const char *pol = hub_membership_name(hub_group_policy(c.g)->membership);
	struct store_channel row = { .id = uid, .kind = STORE_CHANNEL, .actor_user = actor_user,
				     .owner = owner->id, .name = (char *)name, .policy = (char *)pol };
	c.row = (struct store_channel){ .id = aim_xstrdup(uid), .kind = STORE_CHANNEL,
					.actor_user = actor_user, .owner = owner->id,
					.name = aim_xstrdup(name), .policy = aim_xstrdup(pol) };
	TRY_GOTO(store_state_cas(a->st, "hub-in", old, inv, (const uint8_t *)uid, strlen(uid), NULL),
		 fail);
	TRY_GOTO(store_state_cas(a->st, "hub-from", uid, 0, (const uint8_t *)old, strlen(old), NULL),
		 fail);
	TRY_GOTO(plan_commit(a, &c, &p, &row, NULL), fail);
	/* our users are members of the channel here now, not of the old actor */
	for (size_t i = 0; i < p.n_add; i++)
		if (p.add[i].local && store_channel_join(a->st, old, p.add[i].local, false) != 0)
			aim_log(AIM_LOG_ERROR, "channel", "leave %s: %s", old, aim_errmsg());
	/* the members' servers follow: a Move by the new actor */
	mv_id = new_id(a);
	json_t *m2 = json_pack("{s:[s,s], s:s, s:s, s:s, s:s, s:s, s:[s], s:I}", "@context",
			       "https://www.w3.org/ns/activitystreams", MLSCTX_URL, "id", mv_id,
			       "type", "Move", "actor", c.url, "object", old, "target", c.url, "to",
			       c.followers, "aim:nextSequence",
			       (json_int_t)hub_group_next_seq(c.g));
	mv_txt = ap_json_dump(m2);
	json_decref(m2);
	for (size_t i = 0; i < p.n_add; i++)
		if (!p.add[i].local)
			dl_add(&d, &p.add[i], false);
	struct store_outgoing og = { .activity_id = mv_id, .signer = actor_user, .body = mv_txt,
				     .v = d.v, .n = d.n, .now_ms = aim_now_ms() };
	struct store_new_activity na = { .id = mv_id, .json = mv_txt, .author = actor_user,
					 .published = aim_now(), .outgoing = d.n ? &og : NULL };
	int64_t s;
	TRY_GOTO(store_activity_add(a->st, &na, &s), fail);
	if (d.n)
		aimd_delivery_kick(a->dlv);
	aim_log(AIM_LOG_INFO, "channel", "%s moved here as %s (%zu members, epoch %llu)", old, c.url,
		p.n_add, (unsigned long long)hub_group_epoch(c.g));
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", c.url, "type", "Group",
			      "aim:movedFrom", old, "aim:epoch", (json_int_t)hub_group_epoch(c.g),
			      "aim:nextSequence", (json_int_t)hub_group_next_seq(c.g));
	aimd_route_json(r, 201, ROUTE_AS_TYPE, j);
	http_resp_header(r, "Location", c.url);
	goto done;
fail:
	(void)rc;
	aim_log(AIM_LOG_INFO, "channel", "Move of %s by %s failed: %s", old, me, aim_errmsg());
	if (aim_errcode() == AIM_ERR_REMOTE || aim_errcode() == AIM_ERR_TIMEOUT)
		aimd_status_send_failure(r, STATUS_CLIENT);
	else
		aimd_route_failure(r);
done:
	dl_free_hosts(&d);
	dl_clear(&d);
	if (have_resp)
		http_client_response_free(&resp);
	aimd_signer_free(sg);
	if (rsa)
		aim_free_secret(rsa, strlen(rsa));
	if (ed)
		aim_free_secret(ed, strlen(ed));
	aimd_remote_actor_clear(&ra);
	json_decref(ans);
	aim_buf_free(&sb);
	plan_clear(&p);
	chan_clear(&c);
	free(key_id);
	free(body);
	free(mv_id);
	free(mv_txt);
	free(rowname);
	free(me);
}

bool aimd_chan_outbox(struct app *a, const struct http_request *q, struct http_response *r,
		      const struct store_user *owner, const json_t *doc)
{
	(void)q;
	const char *type = str_of(doc, "type");
	const json_t *obj = json_object_get(doc, "object");
	if (type && !strcmp(type, "Create") && is_group_type(str_of(obj, "type"))) {
		create_channel(a, r, owner, doc, STORE_CHANNEL);
		return true;
	}
	if (is_group_type(type)) {
		/* a bare Group: wrapped as its Create */
		json_t *w = json_pack("{s:s, s:O}", "type", "Create", "object", doc);
		const char *keys[] = { "aim:members", "aim:groupInfo", "aim:welcome" };
		for (size_t i = 0; i < AIM_ARRAY_LEN(keys); i++)
			if (json_object_get(doc, keys[i]))
				json_object_set(w, keys[i], json_object_get(doc, keys[i]));
		create_channel(a, r, owner, w, STORE_CHANNEL);
		json_decref(w);
		return true;
	}
	if (type && !strcmp(type, "Create") && json_object_get(doc, "aim:groupInfo") &&
	    json_object_get(doc, "aim:welcome") && !json_object_get(doc, "aim:hub")) {
		create_channel(a, r, owner, doc, STORE_CHANNEL_DM);
		return true;
	}
	if (type && !strcmp(type, "Move")) {
		/* a Move of a remote channel: this server takes it over */
		const char *old = ap_id_of(obj);
		char oid[64];
		if (old && !chan_id_of(a, old, oid, sizeof oid) &&
		    strncmp(old, a->base, strlen(a->base)) != 0) {
			/* only a Group's: any other Move is an activity as before */
			struct remote_actor ra = { 0 };
			bool group = a->fin && aimd_remote_actor_get(a, old, false, &ra) == 0 &&
				     is_group_type(ra.type);
			aimd_remote_actor_clear(&ra);
			if (group) {
				move_in(a, r, owner, old);
				return true;
			}
		}
	}
	char id[64];
	enum ch_kind k;
	if (!classify(a, doc, id, sizeof id, &k))
		return false;
	char *actor = aimd_route_user_url(a, owner->name);
	json_t *act = json_deep_copy(doc);
	json_object_set_new(act, "actor", json_string(actor));
	if (!json_object_get(act, "id")) {
		char *aid = new_id(a);
		json_object_set_new(act, "id", json_string(aid));
		free(aid);
	}
	change(a, r, id, k, act, actor, false);
	json_decref(act);
	free(actor);
	return true;
}

/* ---- The channel's inbox ------------------------------------------------------------ */

void aimd_route_channel_inbox(struct app *a, const struct http_request *q,
			      struct http_response *r, const struct http_route_caps *caps)
{
	struct sig_fields fl;
	http_sig_fields_init(&fl);
	char host[256];
	struct s2s_auth au = { 0 };
	json_t *act = NULL;
	if (aimd_s2s_host_admit(a, q, r, &fl, host, sizeof host) != 0) {
		http_sig_fields_free(&fl);
		return;
	}
	/* The one gate (B33): nothing is parsed before the signature verifies. */
	if (aimd_s2s_gate_verify(a, q, &fl, host, &au) != 0) {
		aimd_status_send_failure(r, STATUS_S2S);
		goto out;
	}
	if (ap_json_parse_object(q->body, q->body_len, &act) != 0) {
		http_resp_error(r, 400, "bad_request", aim_errmsg());
		goto out;
	}
	const char *actor = str_of(act, "actor");
	if (!actor || !aim_url_equal(actor, au.actor)) {
		http_resp_error(r, 401, "unauthorized", "the key's owner is not the actor");
		goto out;
	}
	char id[64];
	enum ch_kind k;
	if (!classify(a, act, id, sizeof id, &k) || strcmp(id, caps->v[0]) != 0) {
		http_resp_error(r, 400, "bad_request",
				"not an Add, Remove, commit or message for this channel");
		goto out;
	}
	change(a, r, id, k, act, actor, true);
out:
	json_decref(act);
	aimd_s2s_auth_clear(&au);
	aimd_s2s_host_release(a, host);
	http_sig_fields_free(&fl);
}

/* ---- Member side --------------------------------------------------------------------- */

/* Local users named in a list field, each once (*out owned by the caller,
 * NULL when none): every one, however many a channel has on this server. */
static size_t local_users_in(struct app *a, const json_t *v, int64_t **out)
{
	size_t n = 0;
	*out = NULL;
	char *users = aim_xasprintf("%s/users/", a->base);
	size_t ul = strlen(users);
	json_t *arr = json_is_array(v) ? json_incref((json_t *)v) : json_pack("[O]", v);
	size_t i;
	const json_t *e;
	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(e);
		if (!s || strncmp(s, users, ul) || !aimd_valid_name(s + ul))
			continue;
		struct store_user u = { 0 };
		if (store_user_get(a->st, s + ul, &u) == 0) {
			size_t k = 0;
			while (k < n && (*out)[k] != u.id)
				k++;
			if (k == n) {
				*out = aim_xrealloc(*out, (n + 1) * sizeof **out);
				(*out)[n++] = u.id;
			}
		}
		store_user_clear(&u);
	}
	json_decref(arr);
	free(users);
	return n;
}

/* A gap before a held Announce: the channel's outbox after the last
 * sequence delivered, fetched from the channel (a signed GET), each of its
 * Announces taken as if delivered. Returns the inbox rows added. */
static size_t catch_up(struct app *a, const char *channel, int64_t after)
{
	size_t total = 0;
	for (int page = 0; page < 20; page++) {
		char *url = aim_xasprintf("%s/outbox?after=%lld", channel, (long long)after);
		json_t *doc = NULL;
		int rc = a->fin ? aimd_fetch_ap(a->fin->signer, url, &doc)
				: aim_fail(AIM_ERR_STATE, "no federation");
		free(url);
		if (rc != 0) {
			aim_log(AIM_LOG_INFO, "channel", "catching up with %s after %lld: %s", channel,
				(long long)after, aim_errmsg());
			return total;
		}
		const json_t *items = json_object_get(doc, "orderedItems");
		size_t i, n = 0;
		const json_t *it;
		json_array_foreach(items, i, it) {
			json_int_t seq = json_integer_value(json_object_get(it, "aim:sequence"));
			const char *id = str_of(it, "id");
			if (!id || seq <= after || !str_of(it, "actor") ||
			    !aim_url_equal(str_of(it, "actor"), channel) ||
			    !aim_url_origin_equal(id, channel))
				continue;
			char *txt = ap_json_dump(it);
			struct store_channel_recv m = { channel, seq, id, txt, aim_now(), NULL };
			size_t d = 0;
			if (store_channel_receive(a->st, &m, &d) == 0)
				total += d;
			free(txt);
			after = seq;
			n++;
		}
		bool more = json_object_get(doc, "next") != NULL;
		json_decref(doc);
		if (!n || !more)
			break;
	}
	return total;
}

/*
 * A channel's Reject of a local member's change (a stale commit: issue 11,
 * "a commit for another epoch gets 409 with the current epoch (to a remote
 * server, also a Reject naming it)"). Our user's server posted it for her
 * and took the 409 itself; the Reject is how she learns why her commit
 * failed and which epoch the channel is at. Taken only from a Group actor
 * (signed with its key: the gate), about an activity of one of our users
 * who is a member of that channel; it enters her inbox alone.
 */
static void chan_reject_received(struct app *a, struct http_response *r, const json_t *act,
				 const char *actor)
{
	const char *act_actor = str_of(act, "actor");
	if (!act_actor || !aim_url_equal(act_actor, actor)) {
		http_resp_error(r, 401, "unauthorized", "the key's owner is not the actor");
		return;
	}
	const json_t *obj = json_object_get(act, "object");
	const char *committer = json_is_object(obj) ? str_of(obj, "actor") : NULL;
	int64_t *users = NULL;
	size_t n = committer ? local_users_in(a, json_object_get(obj, "actor"), &users) : 0;
	if (n != 1) {
		free(users);
		http_resp_error(r, 403, "forbidden", "a channel's Reject names a change of a local user");
		return;
	}
	struct remote_actor ra = { 0 };
	if (aimd_remote_actor_get(a, actor, false, &ra) != 0) {
		free(users);
		aimd_status_send_failure(r, STATUS_S2S);
		return;
	}
	bool group = is_group_type(ra.type);
	aimd_remote_actor_clear(&ra);
	int64_t *joined = NULL;
	size_t nj = 0;
	bool member = false;
	if (group && store_channel_joined(a->st, actor, &joined, &nj) != 0) {
		free(users);
		aimd_status_send_failure(r, STATUS_S2S);
		return;
	}
	for (size_t i = 0; i < nj; i++)
		member |= joined[i] == users[0];
	free(joined);
	if (!group || !member) {
		free(users);
		http_resp_error(r, 403, "forbidden",
				group ? "the committer is not a member of this channel"
				      : "a Reject naming an epoch comes from a channel (a Group)");
		return;
	}
	char *txt = ap_json_dump(act);
	struct store_inbound in = { .id = str_of(act, "id"), .actor = actor, .json = txt,
				    .audience = users, .n_audience = 1, .inbox = users,
				    .n_inbox = 1, .published = aim_now() };
	bool dup = false;
	size_t added = 0;
	int rc = store_inbound_commit(a->st, &in, &dup, &added);
	free(txt);
	free(users);
	if (rc != 0) {
		aimd_status_send_failure(r, STATUS_S2S);
		return;
	}
	if (added)
		aimd_sse_wake_notify(&a->wake);
	aim_log(AIM_LOG_INFO, "channel", "Reject from %s (current epoch %lld) for a local member",
		actor, (long long)json_integer_value(json_object_get(act, "aim:currentEpoch")));
	http_resp_set(r, 202, "application/json", "{}", 2);
}

/*
 * A channel that moved (docs/channels.md, "Moving a channel"): a Move by
 * the new actor, object the old one, target itself, signed by the new
 * actor's key (the gate). Taken when a local user is a member of the old
 * actor and the old actor's document, fetched now, says movedTo the new
 * one (a Move cannot be made by the new host alone); the memberships, the
 * last sequence received and any held Announce then belong to the new
 * actor (store_channel_moved), so its Announces continue the sequence. The
 * Move enters the members' inboxes (their clients follow it). False when
 * no local user is a member of the old actor (not a channel's Move).
 */
static bool chan_move_received(struct app *a, struct http_response *r, const json_t *act,
			       const char *actor)
{
	const char *old = ap_id_of(json_object_get(act, "object"));
	const char *act_actor = str_of(act, "actor");
	int64_t *users = NULL;
	size_t n = 0;
	json_t *doc = NULL;
	if (store_channel_joined(a->st, old, &users, &n) != 0) {
		aimd_status_send_failure(r, STATUS_S2S);
		return true;
	}
	if (!n)
		return false;
	if (!act_actor || !aim_url_equal(act_actor, actor)) {
		http_resp_error(r, 401, "unauthorized", "the key's owner is not the actor");
		goto out;
	}
	if (!aim_url_equal(str_of(act, "target"), actor)) {
		http_resp_error(r, 400, "bad_request", "a channel's Move is made by its new actor");
		goto out;
	}
	/* the old actor must say so itself */
	if (!a->fin || aimd_fetch_ap(a->fin->signer, old, &doc) != 0) {
		aim_log(AIM_LOG_INFO, "channel", "Move %s -> %s: the old actor: %s", old, actor,
			aim_errmsg());
		aimd_status_send_failure(r, STATUS_S2S);
		goto out;
	}
	const char *mt = str_of(doc, "movedTo");
	if (!mt || !aim_url_equal(mt, actor)) {
		http_resp_error(r, 403, "forbidden", "the old channel does not name this actor movedTo");
		goto out;
	}
	struct remote_actor ra = { 0 };
	if (aimd_remote_actor_get(a, actor, false, &ra) != 0) {
		aimd_status_send_failure(r, STATUS_S2S);
		goto out;
	}
	bool group = is_group_type(ra.type);
	aimd_remote_actor_clear(&ra);
	if (!group) {
		http_resp_error(r, 403, "forbidden", "a channel moves to a Group actor");
		goto out;
	}
	if (store_channel_moved(a->st, old, actor) != 0) {
		aimd_status_send_failure(r, STATUS_S2S);
		goto out;
	}
	char *txt = ap_json_dump(act);
	struct store_inbound in = { .id = str_of(act, "id"), .actor = actor, .json = txt,
				    .audience = users, .n_audience = n, .inbox = users,
				    .n_inbox = n, .published = aim_now() };
	bool dup = false;
	size_t added = 0;
	int rc = store_inbound_commit(a->st, &in, &dup, &added);
	free(txt);
	if (rc != 0) {
		aimd_status_send_failure(r, STATUS_S2S);
		goto out;
	}
	if (added)
		aimd_sse_wake_notify(&a->wake);
	aim_log(AIM_LOG_INFO, "channel", "%s moved to %s: %zu local members follow", old, actor, n);
	http_resp_set(r, 202, "application/json", "{}", 2);
out:
	json_decref(doc);
	free(users);
	return true;
}

bool aimd_chan_inbound(struct app *a, const struct http_request *q, struct http_response *r,
		       const json_t *act, const char *actor)
{
	(void)q;
	const char *type = str_of(act, "type");
	const json_t *obj = json_object_get(act, "object");
	if (!type)
		return false;
	const char *act_actor = str_of(act, "actor");
	/* A member's change or message for a channel hosted here, delivered to
	 * the shared inbox (the channel actor names it): as at its own inbox. */
	char cid[64];
	enum ch_kind k;
	if (classify(a, act, cid, sizeof cid, &k)) {
		if (!act_actor || !aim_url_equal(act_actor, actor))
			http_resp_error(r, 401, "unauthorized", "the key's owner is not the actor");
		else
			change(a, r, cid, k, act, actor, true);
		return true;
	}
	if (!strcmp(type, "Reject") && json_object_get(act, "aim:currentEpoch")) {
		chan_reject_received(a, r, act, actor);
		return true;
	}
	if (!strcmp(type, "Move") && ap_id_of(obj) && str_of(act, "target"))
		return chan_move_received(a, r, act, actor);
	if (!strcmp(type, "Create") && str_of(obj, "type") && !strcmp(str_of(obj, "type"), "Welcome")) {
		/* A Welcome by a channel: the members it names join. */
		if (!act_actor || !aim_url_equal(act_actor, actor)) {
			http_resp_error(r, 401, "unauthorized", "the key's owner is not the actor");
			return true;
		}
		/* only a channel or a DM's hub welcomes (a Group actor) */
		struct remote_actor ra = { 0 };
		if (aimd_remote_actor_get(a, actor, false, &ra) != 0) {
			aimd_status_send_failure(r, STATUS_S2S);
			return true;
		}
		bool group = is_group_type(ra.type);
		aimd_remote_actor_clear(&ra);
		if (!group) {
			http_resp_error(r, 403, "forbidden", "a Welcome comes from a channel (a Group)");
			return true;
		}
		int64_t *users;
		size_t n = local_users_in(a, json_object_get(act, "to"), &users);
		if (!n) {
			http_resp_error(r, 403, "forbidden", "no local user is welcomed");
			return true;
		}
		for (size_t i = 0; i < n; i++)
			if (store_channel_join(a->st, actor, users[i], true) != 0) {
				free(users);
				aimd_status_send_failure(r, STATUS_S2S);
				return true;
			}
		char *txt = ap_json_dump(act);
		struct store_inbound in = { .id = str_of(act, "id"), .actor = actor, .json = txt,
					    .audience = users, .n_audience = n, .inbox = users,
					    .n_inbox = n, .published = aim_now() };
		bool dup = false;
		size_t added = 0;
		int rc = store_inbound_commit(a->st, &in, &dup, &added);
		free(txt);
		free(users);
		if (rc != 0) {
			aimd_status_send_failure(r, STATUS_S2S);
			return true;
		}
		if (added)
			aimd_sse_wake_notify(&a->wake);
		aim_log(AIM_LOG_INFO, "channel", "Welcome from %s for %zu local users", actor, n);
		http_resp_set(r, 202, "application/json", "{}", 2);
		return true;
	}
	if (strcmp(type, "Announce") != 0 || !json_object_get(act, "aim:sequence"))
		return false;
	/* An Announce of a channel: signed by the channel's key, for our members. */
	if (!act_actor || !aim_url_equal(act_actor, actor)) {
		http_resp_error(r, 401, "unauthorized", "the key's owner is not the actor");
		return true;
	}
	json_int_t seq = json_integer_value(json_object_get(act, "aim:sequence"));
	const char *id = str_of(act, "id");
	if (seq < 1 || !id) {
		http_resp_error(r, 400, "bad_request", "an Announce of a channel has id and sequence");
		return true;
	}
	char *txt = ap_json_dump(act);
	int64_t held_after = -1;
	struct store_channel_recv m = { actor, seq, id, txt, aim_now(), &held_after };
	size_t delivered = 0;
	int rc = store_channel_receive(a->st, &m, &delivered);
	free(txt);
	if (rc == 0 && held_after >= 0)
		delivered += catch_up(a, actor, held_after);
	if (rc != 0) {
		if (aim_errcode() == AIM_ERR_DENIED)
			http_resp_error(r, 403, "forbidden", "no local user is a member of this channel");
		else
			aimd_status_send_failure(r, STATUS_S2S);
		aim_log(AIM_LOG_INFO, "channel", "Announce %s from %s refused: %s", id, actor,
			aim_errmsg());
		return true;
	}
	/* Local users the hub names as removed: they are members no more. */
	if (json_object_get(act, "aim:removed")) {
		int64_t *gone;
		size_t n = local_users_in(a, json_object_get(act, "aim:removed"), &gone);
		for (size_t i = 0; i < n; i++)
			if (store_channel_join(a->st, actor, gone[i], false) != 0)
				aim_log(AIM_LOG_ERROR, "channel", "leave %s: %s", actor, aim_errmsg());
		free(gone);
	}
	if (delivered)
		aimd_sse_wake_notify(&a->wake);
	http_resp_set(r, 202, "application/json", "{}", 2);
	return true;
}

/* ---- The actor and its collections ------------------------------------------------------- */

static bool load_route(struct app *a, const struct http_route_caps *caps, struct chan *c,
		       struct http_response *r)
{
	if (chan_load(a, caps->v[0], c) != 0) {
		if (aim_errcode() == AIM_ERR_NOTFOUND)
			http_resp_error(r, 404, "not_found", "no such channel");
		else
			aimd_route_failure(r);
		chan_clear(c);
		return false;
	}
	return true;
}

void aimd_route_channel(struct app *a, const struct http_request *q, struct http_response *r,
			const struct http_route_caps *caps)
{
	if (!aimd_route_negotiate(q, r))
		return;
	struct chan c;
	if (!load_route(a, caps, &c, r))
		return;
	struct store_user u = { 0 }, ou = { 0 };
	char *shared = aim_xasprintf("%s/inbox", a->base);
	json_t *j = NULL;
	if (store_user_get_id(a->st, c.row.actor_user, &u) != 0 ||
	    store_user_get_id(a->st, c.row.owner, &ou) != 0) {
		aimd_route_failure(r);
		goto out;
	}
	struct ap_actor_info info = {
		.id = c.url,
		.type = "Group",
		.preferred_username = c.row.name[0] ? c.row.name : c.row.id,
		.shared_inbox = shared,
		.rsa_public_pem = u.rsa_public_pem,
		.ed25519_public = u.ed25519_public,
	};
	if (ap_actor_build(&info, &j) != 0) {
		aimd_route_failure(r);
		goto out;
	}
	json_array_append_new(json_object_get(j, "@context"),
			      json_string("https://purl.archive.org/socialweb/mls"));
	json_array_append_new(json_object_get(j, "@context"),
			      json_sprintf("%s%s", a->base, AIMD_CONTEXT_PATH));
	json_object_del(j, "following");
	json_object_del(j, "keyPackages");
	json_object_set_new(j, "name", json_string(c.row.name));
	{
		json_object_set_new(j, "attributedTo", json_string(hub_group_owner(c.g)));
	}
	struct aim_bytes gid = hub_group_id(c.g);
	struct aim_buf b;
	aim_buf_init(&b, 128);
	if (aim_b64_encode(&b, gid.p, gid.len) == 0)
		json_object_set_new(j, "aim:groupId", json_stringn((const char *)b.data, b.len));
	aim_buf_free(&b);
	json_object_set_new(j, "aim:cipherSuite",
			    json_integer((json_int_t)hub_group_cipher_suite(c.g)));
	json_object_set_new(j, "aim:epoch", json_integer((json_int_t)hub_group_epoch(c.g)));
	json_object_set_new(j, "aim:policy",
			    json_pack("{s:s, s:I}", "membership",
				      hub_membership_name(hub_group_policy(c.g)->membership),
				      "messageEpochs",
				      (json_int_t)hub_group_policy(c.g)->message_epochs));
	json_t *admins = json_array();
	for (size_t i = 0; i < hub_group_admin_count(c.g); i++)
		json_array_append_new(admins, json_string(hub_group_admin(c.g, i)));
	json_object_set_new(j, "aim:admins", admins);
	json_object_set_new(j, "aim:groupInfo", json_sprintf("%s/groupInfo", c.url));
	/* Move (docs/channels.md): the old actor names the new one, the new
	 * one the old */
	char *mto = moved_to(a, c.row.id);
	if (mto)
		json_object_set_new(j, "movedTo", json_string(mto));
	free(mto);
	char *mfrom = state_str(a, "hub-from", c.row.id, NULL);
	if (mfrom)
		json_object_set_new(j, "alsoKnownAs", json_pack("[s]", mfrom));
	free(mfrom);
	aimd_route_json(r, 200, ROUTE_AS_TYPE, j);
out:
	free(shared);
	store_user_clear(&u);
	store_user_clear(&ou);
	chan_clear(&c);
}

void aimd_route_channel_followers(struct app *a, const struct http_request *q,
				  struct http_response *r, const struct http_route_caps *caps)
{
	if (!aimd_route_negotiate(q, r))
		return;
	struct chan c;
	if (!load_route(a, caps, &c, r))
		return;
	json_t *items = json_array();
	for (size_t i = 0; i < c.n; i++)
		json_array_append_new(items, json_string(c.m[i].actor));
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:o}", "@context",
			      "https://www.w3.org/ns/activitystreams", "id", c.followers, "type",
			      "OrderedCollection", "totalItems", (json_int_t)c.n, "orderedItems",
			      items);
	aimd_route_json(r, 200, ROUTE_AS_TYPE, j);
	chan_clear(&c);
}

/* The verified signer of a signed GET (the route table's gate checked the
 * signature before the route; it keeps no result, so it is checked again
 * here: a GET has no replay check and the key is in the cache). *owner
 * owned; -1 with the answer set. */
static int signed_get_owner(struct app *a, const struct http_request *q, struct http_response *r,
			    char **owner)
{
	*owner = NULL;
	if (!a->fin) {
		http_resp_error(r, 403, "forbidden", "no federation");
		return -1;
	}
	struct sig_fields fl;
	http_sig_fields_init(&fl);
	char host[256];
	if (aimd_s2s_host_admit(a, q, r, &fl, host, sizeof host) != 0) {
		http_sig_fields_free(&fl);
		return -1;
	}
	struct s2s_auth au = { 0 };
	int rc = aimd_s2s_gate_verify(a, q, &fl, host, &au);
	if (rc != 0)
		aimd_status_send_failure(r, STATUS_S2S);
	else
		*owner = aim_xstrdup(au.actor);
	aimd_s2s_auth_clear(&au);
	aimd_s2s_host_release(a, host);
	http_sig_fields_free(&fl);
	return rc;
}

/* Whether the request may read what tells who is a member (the ratchet
 * tree) or what they sent (the outbox): a local member (bearer) or the
 * server of a member (a signed GET by any actor of the origin of a remote
 * member: its instance actor pages the outbox to fill a gap). Any other
 * verified server is refused 403, as an unsigned request. False with the
 * answer set. */
static bool members_only(struct app *a, const struct http_request *q, struct http_response *r,
			 const struct chan *c, const char *what)
{
	if (aimd_s2s_has_signature(q)) {
		char *owner = NULL;
		if (signed_get_owner(a, q, r, &owner) != 0)
			return false;
		bool ok = false;
		for (size_t i = 0; i < c->n && !ok; i++)
			ok = !c->m[i].local && aim_url_origin_equal(c->m[i].actor, owner);
		if (!ok)
			aim_log(AIM_LOG_INFO, "channel", "%s of %s refused to %s: no member there",
				what, c->url, owner);
		free(owner);
		if (ok)
			return true;
		http_resp_error(r, 403, "forbidden", what);
		return false;
	}
	if (http_req_header(q, "Authorization")) {
		int64_t user = aimd_route_auth(a, q, r, true);
		if (user < 0)
			return false;
		for (size_t i = 0; i < c->n; i++)
			if (c->m[i].local == user)
				return true;
	}
	http_resp_error(r, 403, "forbidden", what);
	return false;
}

void aimd_route_channel_outbox(struct app *a, const struct http_request *q,
			       struct http_response *r, const struct http_route_caps *caps)
{
	if (!aimd_route_negotiate(q, r))
		return;
	struct chan c;
	if (!load_route(a, caps, &c, r))
		return;
	if (!members_only(a, q, r, &c, "the outbox is for members and their servers")) {
		chan_clear(&c);
		return;
	}
	const char *after = http_req_query(q, "after");
	const char *max_id = http_req_query(q, "max_id");
	const char *min_id = http_req_query(q, "min_id");
	struct store_range rg = { .limit = 50 };
	int64_t af = after ? strtoll(after, NULL, 10) : 0;
	if (max_id)
		rg.max_id = strtoll(max_id, NULL, 10);
	if (min_id)
		rg.min_id = strtoll(min_id, NULL, 10);
	if (after && af <= 0)
		af = 0;
	struct store_page pg;
	char *oid = aim_xasprintf("%s/outbox", c.url);
	if (store_channel_outbox_page(a->st, c.row.id, af, &rg, &pg) != 0) {
		aimd_route_failure(r);
		goto out;
	}
	json_t *items = json_array();
	int64_t last = af;
	for (size_t i = 0; i < pg.n; i++) {
		json_t *it = NULL;
		if (ap_json_parse_object((const uint8_t *)pg.items[i].json,
					 strlen(pg.items[i].json), &it) == 0)
			json_array_append_new(items, it);
		last = pg.items[i].cursor;
	}
	char *pid = after ? aim_xasprintf("%s?after=%s", oid, after) : aim_xstrdup(oid);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "@context",
			      "https://www.w3.org/ns/activitystreams", "id", pid, "type",
			      "OrderedCollectionPage", "partOf", oid, "aim:lastSequence",
			      (json_int_t)(hub_group_next_seq(c.g) - 1), "orderedItems", items);
	if (after && pg.has_newer)
		json_object_set_new(j, "next", json_sprintf("%s?after=%lld", oid, (long long)last));
	else if (!after && pg.has_older && pg.n)
		json_object_set_new(j, "next",
				    json_sprintf("%s?max_id=%lld", oid,
						 (long long)pg.items[pg.n - 1].cursor));
	aimd_route_json(r, 200, ROUTE_AS_TYPE, j);
	free(pid);
	store_page_clear(&pg);
out:
	free(oid);
	chan_clear(&c);
}

void aimd_route_channel_group_info(struct app *a, const struct http_request *q,
				   struct http_response *r, const struct http_route_caps *caps)
{
	struct chan c;
	if (!load_route(a, caps, &c, r))
		return;
	if (!members_only(a, q, r, &c, "the GroupInfo is for members and their servers"))
		goto out;
	struct aim_buf w;
	aim_buf_init(&w, STORE_STATE_VALUE_MAX);
	struct aim_buf t;
	aim_buf_init(&t, STORE_STATE_VALUE_MAX);
	if (hub_group_group_info(c.g, &w) != 0 || hub_group_export_tree(c.g, &t) != 0) {
		if (aim_errcode() == AIM_ERR_NOTFOUND)
			http_resp_error(r, 404, "not_found", "no GroupInfo for the current epoch");
		else
			aimd_route_failure(r);
	} else {
		json_t *j = mls_object("GroupInfo", w.data, w.len);
		struct aim_buf tb;
		aim_buf_init(&tb, t.len * 4 / 3 + 16);
		if (j && aim_b64_encode(&tb, t.data, t.len) == 0)
			json_object_set_new(j, "aim:ratchetTree",
					    json_stringn((const char *)tb.data, tb.len));
		aim_buf_free(&tb);
		json_object_set_new(j, "aim:epoch",
				    json_integer((json_int_t)hub_group_epoch(c.g)));
		aimd_route_json(r, 200, ROUTE_AS_TYPE, j);
	}
	aim_buf_free(&w);
	aim_buf_free(&t);
out:
	chan_clear(&c);
}
