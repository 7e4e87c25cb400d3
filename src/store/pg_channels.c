/*
 * The PostgreSQL back end: channels and group DMs (store.h, "Channels and group
 * DMs"). A hub change is one write transaction: the compare-and-set of the
 * hub state (the versioned table, kind "hub", key the channel id), the
 * channel row, the members, the outbox row and the activities with their
 * deliveries. The cas is a conditional write of the hub's versioned row
 * (store_pg_cas_tx), whose row lock holds until the commit: of two changes
 * read from one version exactly one commits, in any number of processes.
 */
#include "store/pg_int.h"

#include <string.h>

/* ---- Hub side ------------------------------------------------------------------ */

struct apply_ctx {
	const struct store_channel_change *c;
};

static int apply_fn(struct pgc *db, void *ctx)
{
	const struct store_channel_change *c = ((struct apply_ctx *)ctx)->c;
	int64_t now = aim_now();
	/* The compare-and-set: the version the caller read must still be there
	 * (the hub row stays locked until this transaction ends). */
	if (c->keep_state) {
		/* an application message: the version read must still be there,
		 * the row locked as the cas would, nothing written */
		int64_t cur = 0;
		bool found = false;
		TRY(store_pg_int(db, "channel cas",
				 "SELECT version FROM versioned WHERE kind = 'hub' AND key = ?1"
				 " FOR UPDATE;",
				 ARGS(A_TEXT(c->channel)), &cur, &found));
		ENSURE(found && cur == c->expected, AIM_ERR_CONFLICT,
		       "channel %s: hub state version %lld, not %lld as read", c->channel,
		       (long long)(found ? cur : 0), (long long)c->expected);
	} else {
		TRY(store_pg_cas_tx(db, "hub", c->channel, c->expected, c->state, c->state_len));
	}
	/* The sequence (store.h, store_channel_last_seq): the outbox's last row
	 * is the authority; the hub row's lock orders the changes of one
	 * channel, so this read sees every earlier one. */
	if (c->seq) {
		int64_t last = 0;
		TRY(store_pg_int(db, "channel seq",
				 "SELECT COALESCE(MAX(seq), 0) FROM channel_outbox WHERE channel = ?1;",
				 ARGS(A_TEXT(c->channel)), &last, NULL));
		ENSURE(last < c->seq, AIM_ERR_CONFLICT,
		       "channel %s: sequence %lld taken (last %lld)", c->channel,
		       (long long)c->seq, (long long)last);
	}
	if (c->create) {
		const struct store_channel *n = c->create;
		TRY(store_pg_exec(db, "channel add",
				  "INSERT INTO channels(id, kind, actor_user, owner, name, policy, created)"
				  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7);",
				  ARGS(A_TEXT(c->channel), A_INT(n->kind), A_INT(n->actor_user),
				       A_INT(n->owner), A_TEXT(n->name ? n->name : ""),
				       A_TEXT(n->policy ? n->policy : "owner"), A_INT(now)),
				  NULL));
	}
	if (c->name)
		TRY(store_pg_exec(db, "channel rename", "UPDATE channels SET name = ?2 WHERE id = ?1;",
				  ARGS(A_TEXT(c->channel), A_TEXT(c->name)), NULL));
	for (size_t i = 0; i < c->n_remove; i++)
		TRY(store_pg_exec(db, "channel member del",
				  "DELETE FROM channel_members WHERE channel = ?1 AND actor = ?2;",
				  ARGS(A_TEXT(c->channel), A_TEXT(c->remove[i])), NULL));
	for (size_t i = 0; i < c->n_add; i++) {
		const struct store_channel_member *m = &c->add[i];
		TRY(store_pg_exec(db, "channel member add",
				  "INSERT INTO channel_members(channel, actor, inbox, shared_inbox,"
				  " local_user, created) VALUES (?1, ?2, ?3, ?4, CAST(?5 AS BIGINT), ?6)"
				  " ON CONFLICT(channel, actor) DO UPDATE SET inbox = excluded.inbox,"
				  " shared_inbox = excluded.shared_inbox,"
				  " local_user = excluded.local_user;",
				  ARGS(A_TEXT(c->channel), A_TEXT(m->actor), A_TEXT(m->inbox),
				       A_TEXT(m->shared_inbox),
				       m->local_user ? A_INT(m->local_user) : A_TEXT(NULL), A_INT(now)),
				  NULL));
	}
	if (c->seq)
		TRY(store_pg_exec(db, "channel outbox add",
				  "INSERT INTO channel_outbox(channel, seq, activity_id, json, created)"
				  " VALUES (?1, ?2, ?3, ?4, ?5);",
				  ARGS(A_TEXT(c->channel), A_INT(c->seq), A_TEXT(c->announce_id),
				       A_TEXT(c->announce_json), A_INT(now)),
				  NULL));
	for (size_t i = 0; i < c->n_acts; i++) {
		int64_t s;
		TRY(store_pg_activity_add_tx(db, &c->acts[i], &s));
	}
	return 0;
}

struct moved_ctx {
	const char *from, *to;
};

static int moved_fn(struct pgc *db, void *ctx)
{
	const struct moved_ctx *m = ctx;
	TRY(store_pg_exec(db, "channel moved",
			  "INSERT INTO channel_joined(channel, user_id, created)"
			  " SELECT CAST(?2 AS TEXT), user_id, created FROM channel_joined"
			  " WHERE channel = ?1 ON CONFLICT DO NOTHING;",
			  ARGS(A_TEXT(m->from), A_TEXT(m->to)), NULL));
	TRY(store_pg_exec(db, "channel moved", "DELETE FROM channel_joined WHERE channel = ?1;",
			  ARGS(A_TEXT(m->from)), NULL));
	int64_t n = 0;
	TRY(store_pg_int(db, "channel moved",
			 "SELECT COUNT(*) FROM channel_joined WHERE channel = ?1;",
			 ARGS(A_TEXT(m->to)), &n, NULL));
	ENSURE(n > 0, AIM_ERR_NOTFOUND, "no local member of %s", m->from);
	TRY(store_pg_exec(db, "channel moved",
			  "INSERT INTO channel_recv(channel, last_seq)"
			  " SELECT CAST(?2 AS TEXT), last_seq FROM channel_recv WHERE channel = ?1"
			  " ON CONFLICT(channel) DO UPDATE SET"
			  " last_seq = GREATEST(channel_recv.last_seq, excluded.last_seq);",
			  ARGS(A_TEXT(m->from), A_TEXT(m->to)), NULL));
	TRY(store_pg_exec(db, "channel moved", "DELETE FROM channel_recv WHERE channel = ?1;",
			  ARGS(A_TEXT(m->from)), NULL));
	TRY(store_pg_exec(db, "channel moved",
			  "INSERT INTO channel_held(channel, seq, activity_id, json, published)"
			  " SELECT CAST(?2 AS TEXT), seq, activity_id, json, published FROM channel_held"
			  " WHERE channel = ?1 ON CONFLICT DO NOTHING;",
			  ARGS(A_TEXT(m->from), A_TEXT(m->to)), NULL));
	TRY(store_pg_exec(db, "channel moved", "DELETE FROM channel_held WHERE channel = ?1;",
			  ARGS(A_TEXT(m->from)), NULL));
	return 0;
}

int store_pg_channel_moved(struct store *st, const char *from, const char *to)
{
	struct moved_ctx m = { from, to };
	return store_pg_write_tx(st, moved_fn, &m);
}

int store_pg_channel_last_seq(struct store *st, const char *id, int64_t *seq)
{
	return store_pg_read_int(st, "channel seq",
				 "SELECT COALESCE(MAX(seq), 0) FROM channel_outbox WHERE channel = ?1;",
				 ARGS(A_TEXT(id)), seq, NULL);
}

int store_pg_channel_apply(struct store *st, const struct store_channel_change *c)
{
	struct apply_ctx x = { c };
	/* race-free on its own (the cas's row lock): channels commit in parallel */
	return store_pg_write_tx_free(st, apply_fn, &x);
}

static int channel_row(void *ctx, struct pg_row *q)
{
	struct store_channel *c = ctx;
	c->id = pg_col_str(q, 0);
	c->kind = pg_col_int(q, 1);
	c->actor_user = pg_col_int(q, 2);
	c->owner = pg_col_int(q, 3);
	c->name = pg_col_str(q, 4);
	c->policy = pg_col_str(q, 5);
	c->created = pg_col_int(q, 6);
	return 0;
}

int store_pg_channel_get(struct store *st, const char *id, struct store_channel *out)
{
	bool found = false;
	TRY(store_pg_read_row(st, "channel get",
			      "SELECT id, kind, actor_user, owner, name, policy, created"
			      " FROM channels WHERE id = ?1;",
			      ARGS(A_TEXT(id)), channel_row, out, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no channel %s", id);
	return 0;
}

struct members_ctx {
	store_channel_member_fn fn;
	void *ctx;
};

static int member_row(void *ctx, struct pg_row *q)
{
	struct members_ctx *m = ctx;
	struct store_channel_member v = {
		.actor = (const char *)pg_col_text(q, 0),
		.inbox = (const char *)pg_col_text(q, 1),
		.shared_inbox = (const char *)pg_col_text(q, 2),
		.local_user = pg_col_int(q, 3),
	};
	return m->fn(m->ctx, &v);
}

int store_pg_channel_members(struct store *st, const char *id, store_channel_member_fn fn,
			     void *ctx)
{
	struct members_ctx m = { fn, ctx };
	return store_pg_read_rows(st, "channel members",
				  "SELECT actor, inbox, shared_inbox, local_user FROM channel_members"
				  " WHERE channel = ?1 ORDER BY created, actor;",
				  ARGS(A_TEXT(id)), member_row, &m);
}

struct page_ctx {
	struct store_page *p;
	size_t cap;
	size_t limit;
};

static int page_row(void *ctx, struct pg_row *q)
{
	struct page_ctx *c = ctx;
	if (c->p->n == c->limit) {
		c->p->has_older = true; /* one row past the page */
		return 0;
	}
	if (c->p->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->p->items = aim_xrealloc(c->p->items, c->cap * sizeof *c->p->items);
	}
	struct store_item *it = &c->p->items[c->p->n++];
	memset(it, 0, sizeof *it);
	it->cursor = pg_col_int(q, 0);
	it->is_public = false;
	it->json = pg_col_str(q, 1);
	return 0;
}

int store_pg_channel_outbox_page(struct store *st, const char *id, int64_t after,
				 const struct store_range *r, struct store_page *out)
{
	struct page_ctx c = { out, 0, r->limit };
	if (after > 0) {
		/* oldest first after `after`: a receiver catching up */
		TRY(store_pg_read_rows(st, "channel outbox",
				       "SELECT seq, json FROM channel_outbox WHERE channel = ?1"
				       " AND seq > ?2 ORDER BY seq LIMIT ?3;",
				       ARGS(A_TEXT(id), A_INT(after), A_INT((int64_t)r->limit + 1)),
				       page_row, &c));
		/* (has_older means: more after this page) */
		out->has_newer = out->has_older;
		out->has_older = true;
		return 0;
	}
	int64_t maxid = r->max_id > 0 ? r->max_id : INT64_MAX;
	TRY(store_pg_read_rows(st, "channel outbox",
			       "SELECT seq, json FROM channel_outbox WHERE channel = ?1"
			       " AND seq < ?2 AND seq > ?3 ORDER BY seq DESC LIMIT ?4;",
			       ARGS(A_TEXT(id), A_INT(maxid), A_INT(r->min_id),
				    A_INT((int64_t)r->limit + 1)),
			       page_row, &c));
	if (out->n) {
		int64_t n = 0;
		TRY(store_pg_read_int(st, "channel outbox",
				      "SELECT COUNT(*) FROM channel_outbox WHERE channel = ?1"
				      " AND seq > ?2;",
				      ARGS(A_TEXT(id), A_INT(out->items[0].cursor)), &n, NULL));
		out->has_newer = n > 0;
	}
	return 0;
}

/* ---- Member side ------------------------------------------------------------------ */

int store_pg_channel_join(struct store *st, const char *channel, int64_t user, bool member)
{
	if (member)
		return store_pg_write(st, "channel join",
				      "INSERT OR IGNORE INTO channel_joined(channel, user_id, created)"
				      " VALUES (?1, ?2, ?3);",
				      ARGS(A_TEXT(channel), A_INT(user), A_INT(aim_now())), NULL);
	return store_pg_write(st, "channel leave",
			      "DELETE FROM channel_joined WHERE channel = ?1 AND user_id = ?2;",
			      ARGS(A_TEXT(channel), A_INT(user)), NULL);
}

struct ids_ctx {
	int64_t *v;
	size_t n, cap;
};

static int id_row(void *ctx, struct pg_row *q)
{
	struct ids_ctx *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->v = aim_xrealloc(c->v, c->cap * sizeof *c->v);
	}
	c->v[c->n++] = pg_col_int(q, 0);
	return 0;
}

#define JOINED_SQL "SELECT user_id FROM channel_joined WHERE channel = ?1 ORDER BY user_id;"

int store_pg_channel_joined(struct store *st, const char *channel, int64_t **users, size_t *n)
{
	struct ids_ctx c = { 0 };
	if (store_pg_read_rows(st, "channel joined", JOINED_SQL, ARGS(A_TEXT(channel)), id_row,
			       &c) != 0) {
		free(c.v);
		return -1;
	}
	*users = c.v;
	*n = c.n;
	return 0;
}

struct recv_ctx {
	const struct store_channel_recv *m;
	size_t *delivered;
};

/* One Announce into the members' inboxes, as a remote activity. */
static int recv_put(struct pgc *db, const char *channel, const char *id, const char *json,
		    int64_t published, const struct ids_ctx *users, size_t *delivered)
{
	struct pg_done d;
	TRY(store_pg_exec(db, "channel receive",
			  "INSERT OR IGNORE INTO activities(id, author, public, json, published, actor)"
			  " VALUES (?1, (SELECT id FROM users WHERE name = '" STORE_REMOTE_NAME "'),"
			  " 0, ?2, ?3, ?4);",
			  ARGS(A_TEXT(id), A_TEXT(json), A_INT(published), A_TEXT(channel)), &d));
	if (!d.changes)
		return 0; /* the same id seen already */
	TRY(store_pg_insert_pairs(
		db, "INSERT OR IGNORE INTO audience(activity_seq, user_id) VALUES (?1, ?2);",
		d.rowid, users->v, users->n, "channel receive", NULL));
	TRY(store_pg_insert_pairs(db,
				  "INSERT OR IGNORE INTO inbox(activity_seq, user_id) VALUES (?1, ?2);",
				  d.rowid, users->v, users->n, "channel receive", delivered));
	/* the streams of every process wake at the commit */
	return store_pg_notify(db, "aim_inbox");
}

struct held {
	int64_t seq;
	char *id, *json;
	int64_t published;
	bool found;
};

static int held_row(void *ctx, struct pg_row *q)
{
	struct held *h = ctx;
	h->seq = pg_col_int(q, 0);
	h->id = pg_col_str(q, 1);
	h->json = pg_col_str(q, 2);
	h->published = pg_col_int(q, 3);
	h->found = true;
	return 0;
}

static int recv_fn(struct pgc *db, void *ctx)
{
	struct recv_ctx *x = ctx;
	const struct store_channel_recv *m = x->m;
	struct ids_ctx users = { 0 };
	int rc = 0;
	TRY_GOTO(store_pg_rows(db, "channel receive", JOINED_SQL, ARGS(A_TEXT(m->channel)), id_row,
			       &users),
		 out);
	ENSURE_GOTO(users.n > 0, out, AIM_ERR_DENIED, "no local member of %s", m->channel);
	int64_t last = 0;
	bool found = false;
	TRY_GOTO(store_pg_int(db, "channel receive",
			      "SELECT last_seq FROM channel_recv WHERE channel = ?1;",
			      ARGS(A_TEXT(m->channel)), &last, &found),
		 out);
	if (!found) {
		/* The first Announce after the Welcome: delivery starts there. */
		last = m->seq - 1;
	}
	if (m->seq <= last)
		goto out; /* a duplicate */
	if (m->seq > last + 1) {
		/* early: held until the ones before it came (the receiver pages
		 * the channel's outbox for the gap) */
		TRY_GOTO(store_pg_exec(db, "channel hold",
				       "INSERT OR IGNORE INTO channel_held(channel, seq, activity_id,"
				       " json, published) VALUES (?1, ?2, ?3, ?4, ?5);",
				       ARGS(A_TEXT(m->channel), A_INT(m->seq), A_TEXT(m->id),
					    A_TEXT(m->json), A_INT(m->published)),
				       NULL),
			 out);
		if (!found)
			TRY_GOTO(store_pg_exec(db, "channel receive",
					       "INSERT INTO channel_recv(channel, last_seq)"
					       " VALUES (?1, ?2);",
					       ARGS(A_TEXT(m->channel), A_INT(last)), NULL),
				 out);
		if (m->held_after)
			*m->held_after = last;
		goto out;
	}
	TRY_GOTO(recv_put(db, m->channel, m->id, m->json, m->published, &users, x->delivered), out);
	last = m->seq;
	for (;;) {
		struct held h = { 0 };
		rc = store_pg_row(db, "channel held",
				  "SELECT seq, activity_id, json, published FROM channel_held"
				  " WHERE channel = ?1 AND seq = ?2;",
				  ARGS(A_TEXT(m->channel), A_INT(last + 1)), held_row, &h, &h.found);
		if (rc == 0 && h.found) {
			rc = recv_put(db, m->channel, h.id, h.json, h.published, &users,
				      x->delivered);
			if (rc == 0)
				rc = store_pg_exec(db, "channel held",
						   "DELETE FROM channel_held WHERE channel = ?1"
						   " AND seq = ?2;",
						   ARGS(A_TEXT(m->channel), A_INT(h.seq)), NULL);
			last = h.seq;
		}
		free(h.id);
		free(h.json);
		if (rc != 0)
			goto out;
		if (!h.found)
			break;
	}
	rc = store_pg_exec(db, "channel receive",
			   "INSERT INTO channel_recv(channel, last_seq) VALUES (?1, ?2)"
			   " ON CONFLICT(channel) DO UPDATE SET last_seq = excluded.last_seq;",
			   ARGS(A_TEXT(m->channel), A_INT(last)), NULL);
out:
	free(users.v);
	return rc;
}

int store_pg_channel_receive(struct store *st, const struct store_channel_recv *m,
			     size_t *delivered)
{
	*delivered = 0;
	struct recv_ctx x = { m, delivered };
	return store_pg_write_tx(st, recv_fn, &x);
}
