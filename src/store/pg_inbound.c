/*
 * The PostgreSQL back end: federation, inbound. One durable transaction per
 * received activity (store_inbound_commit): the activity with its object,
 * audience and inbox rows, the effects it causes in order, and the local
 * reply it causes. Beside it, the tables those effects change: remote
 * followers of local users, local users' follows of remote actors, blocks.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

/* The activities a remote actor (?2) or, for a NULL actor, a local user (?1) owns. */
#define OWNED_SEQS                                                                         \
	"(SELECT seq FROM activities WHERE (?2 IS NOT NULL AND actor = ?2)"                 \
	" OR (?2 IS NULL AND actor IS NULL AND author = ?1))"

/* An activity row whose JSON embeds the object ?3 (by its id). */
#define EMBEDS "aim_object_id(json) = ?3"

struct purge_ctx {
	int64_t *seq;
	char **json;
	size_t n;
};

static int purge_row(void *ctx, struct pg_row *q)
{
	struct purge_ctx *p = ctx;
	p->seq = aim_xrealloc(p->seq, (p->n + 1) * sizeof *p->seq);
	p->json = aim_xrealloc(p->json, (p->n + 1) * sizeof *p->json);
	p->seq[p->n] = pg_col_int(q, 0);
	p->json[p->n++] = pg_col_str(q, 1);
	return 0;
}

/* The owner's activities embedding the object carry its Tombstone instead
 * (SQLite's json_set(json, '$.object', json(?4)), written compact in the
 * activity's own key order as SQLite writes it). */
static int purge_object(struct pgc *db, const struct store_fx *f)
{
	struct purge_ctx p = { 0 };
	int rc = store_pg_rows(db, "object purge",
			       "SELECT seq, json FROM activities WHERE seq IN " OWNED_SEQS
			       " AND " EMBEDS " ORDER BY seq;",
			       ARGS(A_INT(f->user), A_TEXT(f->actor), A_TEXT(f->object_id)), purge_row,
			       &p);
	json_t *tomb = rc == 0 ? json_loads(f->json, 0, NULL) : NULL;
	if (rc == 0 && !tomb)
		rc = aim_fail(AIM_ERR_INVALID, "object purge: the Tombstone is not JSON");
	for (size_t i = 0; i < p.n && rc == 0; i++) {
		json_t *a = json_loads(p.json[i], 0, NULL);
		char *out = NULL;
		if (a && json_is_object(a) && json_object_set(a, "object", tomb) == 0)
			out = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(a);
		if (!out) {
			rc = aim_fail(AIM_ERR_NOMEM, "object purge: cannot rewrite activity");
			break;
		}
		rc = store_pg_exec(db, "object purge", "UPDATE activities SET json = ?2 WHERE seq = ?1;",
				   ARGS(A_INT(p.seq[i]), A_TEXT(out)), NULL);
		free(out);
	}
	json_decref(tomb);
	for (size_t i = 0; i < p.n; i++)
		free(p.json[i]);
	free(p.json);
	free(p.seq);
	return rc;
}

static int apply_fx(struct pgc *db, const struct store_fx *f)
{
	const char *what = "federation update";
	struct pg_done d;
	int64_t now = aim_now();
	switch (f->kind) {
	case STORE_FX_FOLLOWER_PUT:
		ENSURE(f->user > 0 && f->actor && f->inbox && f->follow_id, AIM_ERR_INVALID,
		       "incomplete follower");
		return store_pg_exec(
			db, what,
			"INSERT INTO followers(user_id, actor, inbox, shared_inbox, follow_id,"
			" state, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
			" ON CONFLICT(user_id, actor) DO UPDATE SET inbox = excluded.inbox,"
			" shared_inbox = excluded.shared_inbox, follow_id = excluded.follow_id,"
			" state = GREATEST(followers.state, excluded.state);",
			ARGS(A_INT(f->user), A_TEXT(f->actor), A_TEXT(f->inbox),
			     A_TEXT(f->shared_inbox), A_TEXT(f->follow_id),
			     A_BOOL(f->state == STORE_FOLLOW_ACCEPTED), A_INT(now)),
			NULL);
	case STORE_FX_FOLLOWER_ACCEPT:
		TRY(store_pg_exec(db, what,
				  "UPDATE followers SET state = 1 WHERE user_id = ?1 AND follow_id = ?2;",
				  ARGS(A_INT(f->user), A_TEXT(f->follow_id)), &d));
		ENSURE(d.changes > 0, AIM_ERR_NOTFOUND, "no such Follow of this user");
		return 0;
	case STORE_FX_FOLLOWER_DEL:
		return store_pg_exec(db, what,
				     "DELETE FROM followers WHERE actor = ?2 AND (?1 = 0 OR user_id = ?1)"
				     " AND (?3 IS NULL OR follow_id = ?3);",
				     ARGS(A_INT(f->user), A_TEXT(f->actor), A_TEXT(f->follow_id)),
				     NULL);
	case STORE_FX_FOLLOWING_PUT:
		ENSURE(f->user > 0 && f->actor && f->follow_id, AIM_ERR_INVALID,
		       "incomplete follow");
		return store_pg_exec(
			db, what,
			"INSERT INTO following(user_id, actor, follow_id, state, created)"
			" VALUES (?1, ?2, ?3, ?4, ?5)"
			" ON CONFLICT(user_id, actor) DO UPDATE SET follow_id = excluded.follow_id,"
			" state = excluded.state;",
			ARGS(A_INT(f->user), A_TEXT(f->actor), A_TEXT(f->follow_id),
			     A_BOOL(f->state == STORE_FOLLOW_ACCEPTED), A_INT(now)),
			NULL);
	case STORE_FX_FOLLOWING_ACCEPT:
		return store_pg_exec(db, what,
				     "UPDATE following SET state = 1 WHERE actor = ?1 AND follow_id = ?2;",
				     ARGS(A_TEXT(f->actor), A_TEXT(f->follow_id)), NULL);
	case STORE_FX_FOLLOWING_DEL:
		return store_pg_exec(db, what,
				     "DELETE FROM following WHERE actor = ?2 AND (?1 = 0 OR user_id = ?1)"
				     " AND (?3 IS NULL OR follow_id = ?3);",
				     ARGS(A_INT(f->user), A_TEXT(f->actor), A_TEXT(f->follow_id)),
				     NULL);
	case STORE_FX_OBJECT_UPDATE:
	case STORE_FX_OBJECT_DELETE: {
		bool del = f->kind == STORE_FX_OBJECT_DELETE;
		ENSURE(f->object_id && f->json, AIM_ERR_INVALID, "incomplete object change");
		TRY(store_pg_exec(
			db, what,
			del ? "UPDATE objects SET json = ?4, deleted = 1 WHERE id = ?3 AND deleted = 0"
			      " AND activity_seq IN " OWNED_SEQS ";"
			    : "UPDATE objects SET json = ?4 WHERE id = ?3 AND deleted = 0"
			      " AND activity_seq IN " OWNED_SEQS ";",
			ARGS(A_INT(f->user), A_TEXT(f->actor), A_TEXT(f->object_id), A_TEXT(f->json)),
			&d));
		if (d.changes == 0) {
			bool ex = false;
			TRY(store_pg_row(db, "object exists", "SELECT 1 FROM objects WHERE id = ?1;",
					 ARGS(A_TEXT(f->object_id)), NULL, NULL, &ex));
			ENSURE(!ex, AIM_ERR_DENIED, "the object belongs to someone else or is deleted");
			return aim_fail(AIM_ERR_NOTFOUND, "no such object");
		}
		if (del)
			TRY(store_pg_exec(db, what,
					  "DELETE FROM inbox WHERE activity_seq ="
					  " (SELECT activity_seq FROM objects WHERE id = ?1);",
					  ARGS(A_TEXT(f->object_id)), NULL));
		return 0;
	}
	case STORE_FX_ACTOR_PURGE: {
		static const char *const purge[] = {
			"DELETE FROM followers WHERE actor = ?1;",
			"DELETE FROM following WHERE actor = ?1;",
			"DELETE FROM inbox WHERE activity_seq IN (SELECT seq FROM activities WHERE actor = ?1);",
			"DELETE FROM audience WHERE activity_seq IN (SELECT seq FROM activities WHERE actor = ?1);",
			"DELETE FROM objects WHERE activity_seq IN (SELECT seq FROM activities WHERE actor = ?1);",
			"DELETE FROM activities WHERE actor = ?1;",
		};
		ENSURE(f->actor, AIM_ERR_INVALID, "purge needs an actor");
		for (size_t i = 0; i < AIM_ARRAY_LEN(purge); i++)
			TRY(store_pg_exec(db, what, purge[i], ARGS(A_TEXT(f->actor)), NULL));
		return 0;
	}
	case STORE_FX_BLOCK_PUT:
		return store_pg_exec(
			db, what, "INSERT OR IGNORE INTO blocks(user_id, actor, created) VALUES (?1, ?2, ?3);",
			ARGS(A_INT(f->user), A_TEXT(f->actor), A_INT(now)), NULL);
	case STORE_FX_BLOCK_DEL:
		return store_pg_exec(db, what, "DELETE FROM blocks WHERE user_id = ?1 AND actor = ?2;",
				     ARGS(A_INT(f->user), A_TEXT(f->actor)), NULL);
	case STORE_FX_OBJECT_PURGE:
		ENSURE(f->object_id && f->json, AIM_ERR_INVALID, "incomplete object purge");
		/* The owner's activities whose embedded object is this one leave
		 * the inboxes, and keep only the Tombstone. */
		TRY(store_pg_exec(db, what,
				  "DELETE FROM inbox WHERE activity_seq IN " OWNED_SEQS
				  " AND activity_seq IN (SELECT seq FROM activities WHERE " EMBEDS ");",
				  ARGS(A_INT(f->user), A_TEXT(f->actor), A_TEXT(f->object_id)), NULL));
		return purge_object(db, f);
	}
	return aim_fail(AIM_ERR_INVALID, "unknown effect");
}

struct inbound_ctx {
	const struct store_inbound *in;
	bool dup;
	size_t added;
};

/* The audience and inbox rows of activity seq (inbox rows counted in added). */
static int add_rows(struct pgc *db, int64_t seq, struct inbound_ctx *x)
{
	const struct store_inbound *in = x->in;
	TRY(store_pg_insert_pairs(
		db, "INSERT OR IGNORE INTO audience(activity_seq, user_id) VALUES (?1, ?2);", seq,
		in->audience, in->n_audience, "audience add", NULL));
	size_t before = x->added;
	TRY(store_pg_insert_pairs(
		db, "INSERT OR IGNORE INTO inbox(activity_seq, user_id) VALUES (?1, ?2);", seq,
		in->inbox, in->n_inbox, "inbox add", &x->added));
	/* the streams of every process wake at the commit */
	return x->added > before ? store_pg_notify(db, "aim_inbox") : 0;
}

struct existing {
	int64_t seq;
	bool same;                   /* stored for the same actor */
	const char *actor;
};

static int existing_row(void *ctx, struct pg_row *q)
{
	struct existing *e = ctx;
	e->seq = pg_col_int(q, 0);
	const unsigned char *actor = pg_col_text(q, 1);
	e->same = actor && !strcmp((const char *)actor, e->actor);
	return 0;
}

static int inbound_fn(struct pgc *db, void *ctx)
{
	struct inbound_ctx *x = ctx;
	const struct store_inbound *in = x->in;
	if (in->id) {
		struct existing e = { 0, false, in->actor };
		bool found = false;
		TRY(store_pg_row(db, "activity lookup", "SELECT seq, actor FROM activities WHERE id = ?1;",
				 ARGS(A_TEXT(in->id)), existing_row, &e, &found));
		if (found) {
			ENSURE(e.same, AIM_ERR_DENIED, "activity id %s is taken", in->id);
			x->dup = true;
			return add_rows(db, e.seq, x);
		}
	}
	for (size_t i = 0; i < in->n_fx; i++)
		TRY(apply_fx(db, &in->fx[i]));
	if (in->reply) {
		int64_t rs;
		TRY(store_pg_activity_add_tx(db, in->reply, &rs));
	}
	if (!in->id)
		return 0;
	struct pg_done d;
	TRY(store_pg_exec(db, "remote activity add",
			  "INSERT INTO activities(id, author, public, json, published, actor)"
			  " VALUES (?1, (SELECT id FROM users WHERE name = '" STORE_REMOTE_NAME "'),"
			  " ?2, ?3, ?4, ?5);",
			  ARGS(A_TEXT(in->id), A_BOOL(in->is_public), A_TEXT(in->json),
			       A_INT(in->published), A_TEXT(in->actor)),
			  &d));
	int64_t seq = d.rowid;
	if (in->object_id)
		/* An object id already stored keeps its first owner. */
		TRY(store_pg_exec(db, "remote object add",
				  "INSERT OR IGNORE INTO objects(id, activity_seq, json)"
				  " VALUES (?1, ?2, ?3);",
				  ARGS(A_TEXT(in->object_id), A_INT(seq), A_TEXT(in->object_json)),
				  NULL));
	return add_rows(db, seq, x);
}

int store_pg_inbound_commit(struct store *st, const struct store_inbound *in, bool *dup,
			    size_t *added)
{
	struct inbound_ctx x = { in, false, 0 };
	int rc = store_pg_write_tx(st, inbound_fn, &x);
	*dup = x.dup;
	*added = rc == 0 ? x.added : 0;
	return rc;
}

struct batch_ctx {
	struct store_inbound_unit *u;
	size_t n;
};

/* The failures that end the whole transaction: the database failed, not
 * the activity. */
static bool batch_fatal(enum aim_err e)
{
	return e == AIM_ERR_STORAGE || e == AIM_ERR_BUSY || e == AIM_ERR_NOMEM;
}

/* Each unit under its own SAVEPOINT: one that fails on its own is rolled
 * back to it, and the next unit sees the database as if it had never been. */
static int batch_fn(struct pgc *db, void *ctx)
{
	struct batch_ctx *b = ctx;
	for (size_t i = 0; i < b->n; i++) {
		struct store_inbound_unit *u = &b->u[i];
		if (u->rc != 0)
			continue;
		TRY(store_pg_exec(db, "savepoint", "SAVEPOINT unit;", NOARGS, NULL));
		struct inbound_ctx x = { u->in, false, 0 };
		if (inbound_fn(db, &x) == 0) {
			TRY(store_pg_exec(db, "release", "RELEASE unit;", NOARGS, NULL));
			u->dup = x.dup;
			u->added = x.added;
			continue;
		}
		enum aim_err e = aim_errcode();
		if (batch_fatal(e))
			return -1;
		u->rc = -1;
		u->err = e;
		snprintf(u->msg, sizeof u->msg, "%s", aim_errmsg());
		TRY(store_pg_exec(db, "rollback to", "ROLLBACK TO unit;", NOARGS, NULL));
		TRY(store_pg_exec(db, "release", "RELEASE unit;", NOARGS, NULL));
	}
	return 0;
}

int store_pg_inbound_commit_batch(struct store *st, struct store_inbound_unit *u, size_t n)
{
	struct batch_ctx b = { u, n };
	if (store_pg_write_tx(st, batch_fn, &b) == 0)
		return 0;
	enum aim_err e = aim_errcode();
	char msg[256];
	snprintf(msg, sizeof msg, "%s", aim_errmsg());
	for (size_t i = 0; i < n; i++) {
		u[i].rc = -1;
		u[i].err = e;
		u[i].dup = false;
		u[i].added = 0;
		snprintf(u[i].msg, sizeof u[i].msg, "%s", msg);
	}
	return aim_fail(e, "%s", msg);
}

/* ---- Followers, follows, blocks ------------------------------------------- */

struct follower_ctx {
	store_follower_fn fn;
	void *ctx;
};

static int follower_row(void *ctx, struct pg_row *q)
{
	struct follower_ctx *c = ctx;
	struct store_follower f = {
		.actor = pg_col_str(q, 0),
		.inbox = pg_col_str(q, 1),
		.shared_inbox = pg_col_str_null(q, 2),
		.follow_id = pg_col_str(q, 3),
		.state = pg_col_int(q, 4),
		.created = pg_col_int(q, 5),
	};
	int rc = c->fn(c->ctx, &f);
	store_follower_clear(&f);
	return rc;
}

int store_pg_followers_list(struct store *st, int64_t user, int state, int64_t offset,
			    size_t limit, store_follower_fn fn, void *ctx)
{
	struct follower_ctx c = { fn, ctx };
	return store_pg_read_rows(
		st, "followers",
		"SELECT actor, inbox, shared_inbox, follow_id, state, created FROM followers"
		" WHERE user_id = ?1 AND state = ?2 ORDER BY seq LIMIT ?3 OFFSET ?4;",
		ARGS(A_INT(user), A_INT(state), A_INT((int64_t)limit), A_INT(offset)), follower_row,
		&c);
}

int store_pg_followers_count(struct store *st, int64_t user, int state, int64_t *n)
{
	return store_pg_read_int(st, "count",
				 "SELECT COUNT(*) FROM followers WHERE user_id = ?1 AND state = ?2;",
				 ARGS(A_INT(user), A_INT(state)), n, NULL);
}

int store_pg_following_state(struct store *st, int64_t user, const char *actor, int *state)
{
	int64_t v;
	TRY(store_pg_read_int(st, "query",
			      "SELECT state FROM following WHERE user_id = ?1 AND actor = ?2;",
			      ARGS(A_INT(user), A_TEXT(actor)), &v, NULL));
	*state = (int)v;
	return 0;
}

int store_pg_blocked(struct store *st, int64_t user, const char *actor, bool *out)
{
	int64_t v;
	TRY(store_pg_read_int(st, "query",
			      "SELECT EXISTS (SELECT 1 FROM blocks WHERE user_id = ?1 AND actor = ?2);",
			      ARGS(A_INT(user), A_TEXT(actor)), &v, NULL));
	*out = v != 0;
	return 0;
}

struct ids_ctx {
	int64_t *ids;
	size_t *n;
};

static int id_row(void *ctx, struct pg_row *q)
{
	struct ids_ctx *c = ctx;
	c->ids[(*c->n)++] = pg_col_int(q, 0);
	return 0;
}

int store_pg_following_users(struct store *st, const char *actor, int64_t *ids, size_t max,
			     size_t *n)
{
	struct ids_ctx c = { ids, n };
	return store_pg_read_rows(st, "following users",
				  "SELECT user_id FROM following WHERE actor = ?1 AND state = 1"
				  " ORDER BY user_id LIMIT ?2;",
				  ARGS(A_TEXT(actor), A_INT((int64_t)max)), id_row, &c);
}
