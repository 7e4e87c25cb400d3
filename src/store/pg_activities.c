/*
 * The PostgreSQL back end: activities with their embedded objects, who may see
 * them, the inbox rows of local recipients, and the outbox and inbox pages.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

int store_pg_insert_pairs(struct pgc *db, const char *sql, int64_t seq, const int64_t *ids, size_t n,
			  const char *what, size_t *added)
{
	for (size_t i = 0; i < n; i++) {
		struct pg_done d;
		TRY(store_pg_exec(db, what, sql, ARGS(A_INT(seq), A_INT(ids[i])), &d));
		if (added)
			*added += (size_t)d.changes;
	}
	return 0;
}

int store_pg_activity_add_tx(struct pgc *db, const struct store_new_activity *a, int64_t *seq)
{
	struct pg_done d;
	TRY(store_pg_exec(db, "activity add",
			  "INSERT INTO activities(id, author, public, json, published)"
			  " VALUES (?1, ?2, ?3, ?4, ?5);",
			  ARGS(A_TEXT(a->id), A_INT(a->author), A_BOOL(a->is_public),
			       A_TEXT(a->json), A_INT(a->published)),
			  &d));
	int64_t s = d.rowid;
	if (a->object_id)
		TRY(store_pg_exec(db, "object add",
				  "INSERT INTO objects(id, activity_seq, json) VALUES (?1, ?2, ?3);",
				  ARGS(A_TEXT(a->object_id), A_INT(s), A_TEXT(a->object_json)),
				  NULL));
	TRY(store_pg_insert_pairs(
		db, "INSERT OR IGNORE INTO audience(activity_seq, user_id) VALUES (?1, ?2);", s,
		a->audience, a->n_audience, "audience add", NULL));
	TRY(store_pg_insert_pairs(db,
				  "INSERT OR IGNORE INTO inbox(activity_seq, user_id) VALUES (?1, ?2);",
				  s, a->inbox, a->n_inbox, "inbox add", NULL));
	/* Federation (outbound): its deliveries commit with it. */
	if (a->outgoing)
		TRY(store_pg_enqueue_tx(db, a->outgoing));
	/* the streams of every process wake at the commit */
	if (a->n_inbox > 0)
		TRY(store_pg_notify(db, "aim_inbox"));
	*seq = s;
	return 0;
}

struct activity_add_ctx {
	const struct store_new_activity *a;
	int64_t *seq;
};

static int activity_add_fn(struct pgc *db, void *ctx)
{
	struct activity_add_ctx *c = ctx;
	return store_pg_activity_add_tx(db, c->a, c->seq);
}

int store_pg_activity_add(struct store *st, const struct store_new_activity *a, int64_t *seq)
{
	int64_t dummy;
	struct activity_add_ctx c = { a, seq ? seq : &dummy };
	return store_pg_write_tx(st, activity_add_fn, &c);
}

/* Who may see activity `a` (an alias in the query): its author, anyone when it
 * is public, and the local users in its audience. ?V is the viewer. */
#define VISIBLE(a, V)                                                                      \
	"(" a ".author = " V " OR " a ".public = 1 OR EXISTS (SELECT 1 FROM audience au"   \
	" WHERE au.activity_seq = " a ".seq AND au.user_id = " V "))"

/* A (cursor, author, public, json) row. */
static void item_fill(struct pg_row *q, struct store_item *it)
{
	it->cursor = pg_col_int(q, 0);
	it->author = pg_col_int(q, 1);
	it->is_public = pg_col_int(q, 2) != 0;
	it->json = pg_col_str(q, 3);
}

static int item_row(void *ctx, struct pg_row *q)
{
	item_fill(q, ctx);
	return 0;
}

static int get_item(struct store *st, const char *sql, const char *id, int64_t viewer,
		    struct store_item *out)
{
	bool found = false;
	TRY(store_pg_read_row(st, "get", sql, ARGS(A_TEXT(id), A_INT(viewer)), item_row, out,
			      &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such item");
	return 0;
}

int store_pg_activity_get(struct store *st, const char *id, int64_t viewer,
			  struct store_item *out)
{
	return get_item(st,
			"SELECT a.seq, a.author, a.public, a.json FROM activities a"
			" WHERE a.id = ?1 AND " VISIBLE("a", "?2") ";",
			id, viewer, out);
}

int store_pg_object_get(struct store *st, const char *id, int64_t viewer, struct store_item *out)
{
	return get_item(st,
			"SELECT a.seq, a.author, a.public, o.json FROM objects o"
			" JOIN activities a ON a.seq = o.activity_seq"
			" WHERE o.id = ?1 AND " VISIBLE("a", "?2") ";",
			id, viewer, out);
}

struct page_ctx {
	struct store_page *out;
	size_t limit;
};

static int page_row(void *ctx, struct pg_row *q)
{
	struct page_ctx *p = ctx;
	if (p->out->n < p->limit)
		item_fill(q, &p->out->items[p->out->n++]);
	return 0;
}

/*
 * A page query. `from` is the FROM/WHERE part selecting (cursor, author,
 * public, json) rows with ?1 = collection owner and ?2 = viewer, and it must
 * leave room for "AND cursor-bound". Reads the page and whether items exist
 * beyond each end, all on one connection inside one read transaction so the
 * three answers agree.
 */
int store_pg_page_query(struct store *st, const char *select, const char *from, const char *cur,
			int64_t owner, int64_t viewer, const struct store_range *r,
			struct store_page *out)
{
	struct pg *s = PG(st);
	memset(out, 0, sizeof *out);
	struct pgc *db = store_pg_conn(s);
	if (!db)
		return -1;
	/* one snapshot for the page and both bounds */
	int rc = store_pg_script(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;", "begin read");
	char sql[1024];
	bool asc = r->min_id > 0;
	int64_t maxb = r->max_id > 0 ? r->max_id : INT64_MAX;
	int64_t minb = r->min_id > 0 ? r->min_id : 0;
	if (rc == 0) {
		snprintf(sql, sizeof sql, "SELECT %s %s AND %s < ?3 AND %s > ?4 ORDER BY %s %s LIMIT ?5;",
			 select, from, cur, cur, cur, asc ? "ASC" : "DESC");
		out->items = aim_xcalloc(r->limit, sizeof *out->items);
		struct page_ctx p = { out, r->limit };
		rc = store_pg_rows(db, "page", sql,
				   ARGS(A_INT(owner), A_INT(viewer), A_INT(maxb), A_INT(minb),
					A_INT((int64_t)r->limit)),
				   page_row, &p);
	}
	if (rc == 0 && asc) {
		/* Newest first, always. */
		for (size_t i = 0; i < out->n / 2; i++) {
			struct store_item t = out->items[i];
			out->items[i] = out->items[out->n - 1 - i];
			out->items[out->n - 1 - i] = t;
		}
	}
	if (rc == 0 && out->n > 0) {
		for (int side = 0; side < 2 && rc == 0; side++) {
			snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 %s AND %s %s ?3);", from, cur,
				 side == 0 ? "<" : ">");
			int64_t bound = side == 0 ? out->items[out->n - 1].cursor : out->items[0].cursor;
			int64_t e = 0;
			rc = store_pg_int(db, "page bounds", sql,
					  ARGS(A_INT(owner), A_INT(viewer), A_INT(bound)), &e, NULL);
			if (side == 0)
				out->has_older = e != 0;
			else
				out->has_newer = e != 0;
		}
	}
	PQclear(PQexec(db->c, "COMMIT;"));
	store_pg_conn_put(s, db);
	if (rc != 0)
		store_page_clear(out);
	return rc;
}

/* A Create whose object was deleted leaves the outbox with its content. */
#define OUTBOX_FROM                                                                        \
	" FROM activities a WHERE a.author = ?1 AND " VISIBLE("a", "?2")                  \
	" AND NOT EXISTS (SELECT 1 FROM objects od WHERE od.activity_seq = a.seq"           \
	" AND od.deleted = 1)"
#define INBOX_FROM                                                                         \
	" FROM inbox i JOIN activities a ON a.seq = i.activity_seq WHERE i.user_id = ?1"   \
	" AND ?2 = ?2"

int store_pg_outbox_page(struct store *st, int64_t owner, int64_t viewer,
			 const struct store_range *r, struct store_page *out)
{
	return store_pg_page_query(st, "a.seq, a.author, a.public, a.json", OUTBOX_FROM, "a.seq", owner,
			  viewer, r, out);
}

int store_pg_outbox_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n)
{
	return store_pg_read_int(st, "count", "SELECT COUNT(*)" OUTBOX_FROM ";",
				 ARGS(A_INT(owner), A_INT(viewer)), n, NULL);
}

int store_pg_inbox_page(struct store *st, int64_t user, const struct store_range *r,
			struct store_page *out)
{
	return store_pg_page_query(st, "i.seq, a.author, a.public, a.json", INBOX_FROM, "i.seq", user, 0, r,
			  out);
}

int store_pg_inbox_count(struct store *st, int64_t user, int64_t *n)
{
	return store_pg_read_int(st, "count", "SELECT COUNT(*)" INBOX_FROM ";",
				 ARGS(A_INT(user), A_INT(0)), n, NULL);
}

/* Actor collections: (cursor, 0, 1, actor id) rows; ?2 is unused. */
#define FOLLOWERS_FROM " FROM followers f WHERE f.user_id = ?1 AND f.state = 1 AND ?2 = ?2"
#define FOLLOWING_FROM " FROM following g WHERE g.user_id = ?1 AND g.state = 1 AND ?2 = ?2"

int store_pg_followers_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out)
{
	return store_pg_page_query(st, "f.seq, 0, 1, f.actor", FOLLOWERS_FROM, "f.seq", user, 0, r, out);
}

int store_pg_following_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out)
{
	return store_pg_page_query(st, "g.rowid, 0, 1, g.actor", FOLLOWING_FROM, "g.rowid", user, 0, r,
			  out);
}

int store_pg_following_count(struct store *st, int64_t user, int64_t *n)
{
	return store_pg_read_int(st, "count", "SELECT COUNT(*)" FOLLOWING_FROM ";",
				 ARGS(A_INT(user), A_INT(0)), n, NULL);
}

struct lookup_ctx {
	int64_t *author;
	char **actor, **json;
};

static int lookup_row(void *ctx, struct pg_row *q)
{
	struct lookup_ctx *l = ctx;
	if (l->author)
		*l->author = pg_col_int(q, 0);
	if (l->actor)
		*l->actor = pg_col_str_null(q, 1);
	if (l->json)
		*l->json = pg_col_str(q, 2);
	return 0;
}

int store_pg_activity_lookup(struct store *st, const char *id, int64_t *author, char **actor,
			     char **json)
{
	struct lookup_ctx l = { author, actor, json };
	bool found = false;
	TRY(store_pg_read_row(st, "activity lookup",
			      "SELECT author, actor, json FROM activities WHERE id = ?1;",
			      ARGS(A_TEXT(id)), lookup_row, &l, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such activity");
	return 0;
}
