/*
 * The SQLite back end, operations: explicit migrations (aimd migrate) and
 * the integrity check (aimd serve at start-up, aimd doctor).
 *
 * The integrity check is SQLite's `PRAGMA quick_check`: every page of every
 * b-tree is read and its structure checked (cell order, free space, page
 * links, NOT NULL), without the index-to-table cross check of the full
 * integrity_check, so it is linear in the file's size. A page overwritten
 * with anything else fails it.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define PROBLEM_MAX 512

int store_sq_schema_latest(struct store *st, int *version)
{
	(void)st;
	*version = store_sqlite_latest_version();
	return 0;
}

int store_sq_migrate_all(struct store *st, store_migrated_fn fn, void *ctx)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->wlock);
	int rc = store_sq_migrate(s->w, fn, ctx);
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

struct problems {
	char text[PROBLEM_MAX];
	size_t len;
	int lines;
	bool ok;
};

/* quick_check answers one row "ok", or one row per problem found. */
static int check_row(void *ctx, sqlite3_stmt *q)
{
	struct problems *p = ctx;
	const char *line = (const char *)sqlite3_column_text(q, 0);
	if (!line)
		return 0;
	if (!strcmp(line, "ok") && p->lines == 0) {
		p->ok = true;
		return 0;
	}
	p->ok = false;
	if (p->len + 8 < sizeof p->text) {
		int n = snprintf(p->text + p->len, sizeof p->text - p->len, "%s%s",
				 p->lines ? "; " : "", line);
		if (n > 0)
			p->len = strlen(p->text);
	}
	p->lines++;
	return 0;
}

int store_sq_integrity_check(struct store *st, char **problem)
{
	*problem = NULL;
	struct sq *s = SQ(st);
	struct problems p = { .ok = false };
	/* On the writer: a reader could run while a commit is half in the WAL;
	 * under wlock nothing of this process writes meanwhile. */
	pthread_mutex_lock(&s->wlock);
	int rc = store_sq_rows(s->w, "integrity check", "PRAGMA quick_check(20);", NOARGS,
			       check_row, &p);
	int ext = sqlite3_extended_errcode(s->w);
	char why[256];
	snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->w));
	pthread_mutex_unlock(&s->wlock);
	if (rc != 0) {
		/* A file too damaged to be read at all is what the check is for:
		 * a finding, not a failure to check. */
		if ((ext & 0xff) == SQLITE_CORRUPT || (ext & 0xff) == SQLITE_NOTADB) {
			*problem = aim_xstrdup(why);
			return 0;
		}
		return -1;
	}
	if (!p.ok)
		*problem = aim_xstrdup(p.lines ? p.text : "quick_check gave no answer");
	return 0;
}

/* ---- Counts for /metrics --------------------------------------------------------------- */

static int state_row(void *ctx, sqlite3_stmt *q)
{
	struct store_stats *o = ctx;
	int64_t state = sqlite3_column_int64(q, 0);
	if (state >= 0 && state < (int64_t)AIM_ARRAY_LEN(o->deliveries))
		o->deliveries[state] = sqlite3_column_int64(q, 1);
	return 0;
}

static int kp_row(void *ctx, sqlite3_stmt *q)
{
	struct store_stats *o = ctx;
	o->keypackages_available = sqlite3_column_int64(q, 0);
	o->keypackages_last_resort = sqlite3_column_int64(q, 1);
	return 0;
}

/* One read transaction, so the counts agree with each other. */
static int stats_read(sqlite3 *db, int64_t now, struct store_stats *out)
{
	TRY(store_sq_rows(db, "stats deliveries",
			  "SELECT state, COUNT(*) FROM deliveries GROUP BY state;", NOARGS, state_row,
			  out));
	bool found = false;
	TRY(store_sq_int(db, "stats oldest",
			 "SELECT COALESCE(MIN(created), 0) FROM deliveries WHERE state = 0;", NOARGS,
			 &out->oldest_pending_ms, &found));
	return store_sq_row(db, "stats keypackages",
			    "SELECT COALESCE(SUM(last_resort = 0 AND consumed_at IS NULL"
			    " AND not_after > ?1), 0), COALESCE(SUM(last_resort = 1), 0)"
			    " FROM keypackages;",
			    ARGS(A_INT(now)), kp_row, out, &found);
}

int store_sq_stats(struct store *st, int64_t now, struct store_stats *out)
{
	sqlite3 *db = store_sq_reader(SQ(st));
	if (!db)
		return -1;
	int rc = store_sq_script(db, "BEGIN;", "stats begin");
	if (rc == 0) {
		rc = stats_read(db, now, out);
		sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL);
	}
	store_sq_reader_put(SQ(st), db);
	return rc;
}
