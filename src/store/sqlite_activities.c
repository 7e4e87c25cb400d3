/*
 * The SQLite back end: activities with their embedded objects, who may see
 * them, the inbox rows of local recipients, and the outbox and inbox pages.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

int store_sq_insert_pairs(sqlite3 *db, const char *sql, int64_t seq, const int64_t *ids, size_t n,
			  const char *what, size_t *added)
{
	for (size_t i = 0; i < n; i++) {
		struct sq_done d;
		TRY(store_sq_exec(db, what, sql, ARGS(A_INT(seq), A_INT(ids[i])), &d));
		if (added)
			*added += (size_t)d.changes;
	}
	return 0;
}

int store_sq_activity_add_tx(sqlite3 *db, const struct store_new_activity *a, int64_t *seq)
{
	struct sq_done d;
	TRY(store_sq_exec(db, "activity add",
			  "INSERT INTO activities(id, author, public, json, published)"
			  " VALUES (?1, ?2, ?3, ?4, ?5);",
			  ARGS(A_TEXT(a->id), A_INT(a->author), A_BOOL(a->is_public),
			       A_TEXT(a->json), A_INT(a->published)),
			  &d));
	int64_t s = d.rowid;
	if (a->object_id)
		TRY(store_sq_exec(db, "object add",
				  "INSERT INTO objects(id, activity_seq, json) VALUES (?1, ?2, ?3);",
				  ARGS(A_TEXT(a->object_id), A_INT(s), A_TEXT(a->object_json)),
				  NULL));
	TRY(store_sq_insert_pairs(
		db, "INSERT OR IGNORE INTO audience(activity_seq, user_id) VALUES (?1, ?2);", s,
		a->audience, a->n_audience, "audience add", NULL));
	TRY(store_sq_insert_pairs(db,
				  "INSERT OR IGNORE INTO inbox(activity_seq, user_id) VALUES (?1, ?2);",
				  s, a->inbox, a->n_inbox, "inbox add", NULL));
	/* Federation (outbound): its deliveries commit with it. */
	if (a->outgoing)
		TRY(store_sq_enqueue_tx(db, a->outgoing));
	*seq = s;
	return 0;
}

struct activity_add_ctx {
	const struct store_new_activity *a;
	int64_t *seq;
};

static int activity_add_fn(sqlite3 *db, void *ctx)
{
	struct activity_add_ctx *c = ctx;
	return store_sq_activity_add_tx(db, c->a, c->seq);
}

int store_sq_activity_add(struct store *st, const struct store_new_activity *a, int64_t *seq)
{
	int64_t dummy;
	struct activity_add_ctx c = { a, seq ? seq : &dummy };
	return store_sq_write_tx(st, activity_add_fn, &c);
}

/* Who may see activity `a` (an alias in the query): its author, anyone when it
 * is public, and the local users in its audience. ?V is the viewer. */
#define VISIBLE(a, V)                                                                      \
	"(" a ".author = " V " OR " a ".public = 1 OR EXISTS (SELECT 1 FROM audience au"   \
	" WHERE au.activity_seq = " a ".seq AND au.user_id = " V "))"

/* A (cursor, author, public, json) row. */
static void item_fill(sqlite3_stmt *q, struct store_item *it)
{
	it->cursor = sqlite3_column_int64(q, 0);
	it->author = sqlite3_column_int64(q, 1);
	it->is_public = sqlite3_column_int(q, 2) != 0;
	it->json = sq_col_str(q, 3);
}

static int item_row(void *ctx, sqlite3_stmt *q)
{
	item_fill(q, ctx);
	return 0;
}

static int get_item(struct store *st, const char *sql, const char *id, int64_t viewer,
		    struct store_item *out)
{
	bool found = false;
	TRY(store_sq_read_row(st, "get", sql, ARGS(A_TEXT(id), A_INT(viewer)), item_row, out,
			      &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such item");
	return 0;
}

int store_sq_activity_get(struct store *st, const char *id, int64_t viewer,
			  struct store_item *out)
{
	return get_item(st,
			"SELECT a.seq, a.author, a.public, a.json FROM activities a"
			" WHERE a.id = ?1 AND " VISIBLE("a", "?2") ";",
			id, viewer, out);
}

int store_sq_object_get(struct store *st, const char *id, int64_t viewer, struct store_item *out)
{
	return get_item(st,
			"SELECT a.seq, a.author, a.public, o.json FROM objects o"
			" JOIN activities a ON a.seq = o.activity_seq"
			" WHERE o.id = ?1 AND " VISIBLE("a", "?2") ";",
			id, viewer, out);
}

#define PAGE_FULL 1

struct page_ctx {
	struct store_page *out;
	size_t limit;
	size_t max_bytes, bytes; /* the range's budget (0: none), the texts so far */
	bool full;
};

static int page_row(void *ctx, sqlite3_stmt *q)
{
	struct page_ctx *p = ctx;
	if (p->full || p->out->n >= p->limit)
		return 0;
	/* The size is read before the text is copied: a row past the budget
	 * costs nothing. */
	size_t len = (size_t)sqlite3_column_bytes(q, 3);
	if (p->max_bytes && p->out->n > 0 && p->bytes + len > p->max_bytes) {
		p->full = true;
		return PAGE_FULL; /* stops the statement; not a failure */
	}
	p->bytes += len;
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
int store_sq_page_query(struct store *st, const char *select, const char *from, const char *cur,
			int64_t owner, int64_t viewer, const struct store_range *r,
			struct store_page *out)
{
	struct sq *s = SQ(st);
	memset(out, 0, sizeof *out);
	sqlite3 *db = store_sq_reader(s);
	if (!db)
		return -1;
	int rc = store_sq_script(db, "BEGIN;", "begin read");
	char sql[1024];
	bool asc = r->min_id > 0;
	int64_t maxb = r->max_id > 0 ? r->max_id : INT64_MAX;
	int64_t minb = r->min_id > 0 ? r->min_id : 0;
	if (rc == 0) {
		snprintf(sql, sizeof sql, "SELECT %s %s AND %s < ?3 AND %s > ?4 ORDER BY %s %s LIMIT ?5;",
			 select, from, cur, cur, cur, asc ? "ASC" : "DESC");
		out->items = aim_xcalloc(r->limit, sizeof *out->items);
		struct page_ctx p = { out, r->limit, r->max_bytes, 0, false };
		rc = store_sq_rows(db, "page", sql,
				   ARGS(A_INT(owner), A_INT(viewer), A_INT(maxb), A_INT(minb),
					A_INT((int64_t)r->limit)),
				   page_row, &p);
		if (rc == PAGE_FULL && p.full)
			rc = 0;
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
			rc = store_sq_int(db, "page bounds", sql,
					  ARGS(A_INT(owner), A_INT(viewer), A_INT(bound)), &e, NULL);
			if (side == 0)
				out->has_older = e != 0;
			else
				out->has_newer = e != 0;
		}
	}
	sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL);
	store_sq_reader_put(s, db);
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

int store_sq_outbox_page(struct store *st, int64_t owner, int64_t viewer,
			 const struct store_range *r, struct store_page *out)
{
	return store_sq_page_query(st, "a.seq, a.author, a.public, a.json", OUTBOX_FROM, "a.seq", owner,
			  viewer, r, out);
}

int store_sq_outbox_count(struct store *st, int64_t owner, int64_t viewer, int64_t *n)
{
	return store_sq_read_int(st, "count", "SELECT COUNT(*)" OUTBOX_FROM ";",
				 ARGS(A_INT(owner), A_INT(viewer)), n, NULL);
}

int store_sq_inbox_page(struct store *st, int64_t user, const struct store_range *r,
			struct store_page *out)
{
	return store_sq_page_query(st, "i.seq, a.author, a.public, a.json", INBOX_FROM, "i.seq", user, 0, r,
			  out);
}

int store_sq_inbox_count(struct store *st, int64_t user, int64_t *n)
{
	return store_sq_read_int(st, "count", "SELECT COUNT(*)" INBOX_FROM ";",
				 ARGS(A_INT(user), A_INT(0)), n, NULL);
}

/* Actor collections: (cursor, 0, 1, actor id) rows; ?2 is unused. */
#define FOLLOWERS_FROM " FROM followers f WHERE f.user_id = ?1 AND f.state = 1 AND ?2 = ?2"
#define FOLLOWING_FROM " FROM following g WHERE g.user_id = ?1 AND g.state = 1 AND ?2 = ?2"

int store_sq_followers_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out)
{
	return store_sq_page_query(st, "f.seq, 0, 1, f.actor", FOLLOWERS_FROM, "f.seq", user, 0, r, out);
}

int store_sq_following_page(struct store *st, int64_t user, const struct store_range *r,
			    struct store_page *out)
{
	return store_sq_page_query(st, "g.rowid, 0, 1, g.actor", FOLLOWING_FROM, "g.rowid", user, 0, r,
			  out);
}

int store_sq_following_count(struct store *st, int64_t user, int64_t *n)
{
	return store_sq_read_int(st, "count", "SELECT COUNT(*)" FOLLOWING_FROM ";",
				 ARGS(A_INT(user), A_INT(0)), n, NULL);
}

struct lookup_ctx {
	int64_t *author;
	char **actor, **json;
};

static int lookup_row(void *ctx, sqlite3_stmt *q)
{
	struct lookup_ctx *l = ctx;
	if (l->author)
		*l->author = sqlite3_column_int64(q, 0);
	if (l->actor)
		*l->actor = sq_col_str_null(q, 1);
	if (l->json)
		*l->json = sq_col_str(q, 2);
	return 0;
}

int store_sq_activity_lookup(struct store *st, const char *id, int64_t *author, char **actor,
			     char **json)
{
	struct lookup_ctx l = { author, actor, json };
	bool found = false;
	TRY(store_sq_read_row(st, "activity lookup",
			      "SELECT author, actor, json FROM activities WHERE id = ?1;",
			      ARGS(A_TEXT(id)), lookup_row, &l, &found));
	ENSURE(found, AIM_ERR_NOTFOUND, "no such activity");
	return 0;
}
