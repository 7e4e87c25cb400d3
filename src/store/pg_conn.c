/*
 * The PostgreSQL back end: the connection pool, the statement helper and
 * transactions (pg_int.h tells the rules).
 *
 * The pool holds at most `max` connections (the configuration sizes it);
 * a caller waits for a free one. A connection that failed (the server went
 * away, a network error) is closed when it comes back, and the next caller
 * opens a new one; while the database cannot be reached, connecting is
 * retried with a backoff (100 ms doubling to 5 s) and calls in between fail
 * at once with AIM_ERR_STORAGE, so the server answers 503 and acknowledges
 * nothing it could not store.
 *
 * Each connection prepares a statement the first time it runs it and keeps
 * it (PG_STMT_SLOTS, keyed by the SQL text). Every session runs with
 * synchronous_commit = on (a COMMIT that returns is on the server's disk)
 * and lock_timeout = 10 s (a lock not had by then is AIM_ERR_BUSY, like
 * SQLite's busy timeout).
 */
#include "store/pg_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- Failures ------------------------------------------------------------- */

int store_pg_fail(struct pgc *db, PGresult *res, const char *what, int *ext)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg)
		msg = db && db->c ? PQerrorMessage(db->c) : "no connection";
	if (ext)
		*ext = 0;
	aim_log(AIM_LOG_DEBUG, "store", "pg: %s: %s %s", what, state ? state : "-", msg);
	if (db && (!db->c || PQstatus(db->c) != CONNECTION_OK))
		db->broken = true;
	if (!state || (db && db->broken))
		return aim_fail(AIM_ERR_STORAGE, "%s: %s", what, msg);
	if (!strcmp(state, "23505")) {
		if (ext)
			*ext = PG_EXT_UNIQUE;
		return aim_fail(AIM_ERR_EXISTS, "%s: already exists", what);
	}
	if (!strcmp(state, "23503")) {
		if (ext)
			*ext = PG_EXT_FK;
		return aim_fail(AIM_ERR_CONFLICT, "%s: %s", what, msg);
	}
	/* serialization failure, deadlock, lock not available, cancelled */
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
	    !strcmp(state, "57014"))
		return aim_fail(AIM_ERR_BUSY, "%s: database busy (%s)", what, msg);
	if (!strcmp(state, "53200"))
		return aim_fail(AIM_ERR_NOMEM, "%s: %s", what, msg);
	/* integrity (23), data (22), syntax or access (42): a statement this
	 * code built wrong */
	if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2) || !strncmp(state, "42", 2))
		return aim_fail(AIM_ERR_INTERNAL, "%s: %s (%s)", what, msg, state);
	/* connection (08), resources (53), operator intervention (57), system
	 * (58), internal (XX): the database failed, nothing was done */
	return aim_fail(AIM_ERR_STORAGE, "%s: %s (%s)", what, msg, state);
}

int store_pg_script(struct pgc *db, const char *sql, const char *what)
{
	PGresult *res = PQexec(db->c, sql);
	ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = 0;
	if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK)
		rc = store_pg_fail(db, res, what, NULL);
	PQclear(res);
	return rc;
}

/* ---- From SQLite's dialect ------------------------------------------------------ */

/* Tables whose key the database generates, and that key. */
static const struct {
	const char *table, *key;
} gen_keys[] = {
	{ "users", "id" },     { "activities", "seq" }, { "inbox", "seq" },
	{ "outgoing", "id" },  { "deliveries", "id" },  { "followers", "seq" },
	{ "ca_certs", "id" },  { "keypackages", "id" },
};

static bool word_at(const char *s, const char *w)
{
	return strncasecmp(s, w, strlen(w)) == 0;
}

/* The statement in PostgreSQL's dialect (see pg_int.h); *nparams = the
 * highest ?N, *returns_key = a RETURNING was appended. */
struct sbuf {
	char *data;
	size_t len;
};

static void sb_puts(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

static void sb_putc(struct sbuf *b, char c)
{
	b->data[b->len++] = c;
	b->data[b->len] = 0;
}

static char *translate(const char *sql, int *nparams, bool *returns_key)
{
	/* room for every x'' growing to '\x'::bytea and the suffixes */
	struct sbuf b = { aim_xmalloc(strlen(sql) * 4 + 96), 0 };
	b.data[0] = 0;
	const char *p = sql;
	while (isspace((unsigned char)*p))
		p++;
	bool ignore = false, insert = word_at(p, "INSERT ");
	const char *key = NULL;
	if (word_at(p, "INSERT OR IGNORE INTO ")) {
		ignore = true;
		sb_puts(&b, "INSERT INTO ");
		p += strlen("INSERT OR IGNORE INTO ");
	}
	if (insert) {
		const char *t = p;
		if (word_at(t, "INSERT INTO "))
			t += strlen("INSERT INTO ");
		for (size_t i = 0; i < AIM_ARRAY_LEN(gen_keys); i++) {
			size_t n = strlen(gen_keys[i].table);
			if (!strncmp(t, gen_keys[i].table, n) && (t[n] == '(' || t[n] == ' '))
				key = gen_keys[i].key;
		}
		if (strcasestr(sql, "RETURNING"))
			key = NULL;
	}
	int maxp = 0;
	bool quoted = false;
	for (; *p; p++) {
		if (!quoted && (*p == 'x' || *p == 'X') && p[1] == '\'' && p[2] == '\'' &&
		    (p == sql || !isalnum((unsigned char)p[-1]))) {
			sb_puts(&b, "'\\x'::bytea");
			p += 2;
			continue;
		}
		if (*p == '\'')
			quoted = !quoted;
		if (!quoted && *p == '?' && isdigit((unsigned char)p[1])) {
			int n = atoi(p + 1);
			if (n > maxp)
				maxp = n;
			sb_putc(&b, '$');
			continue;
		}
		sb_putc(&b, *p);
	}
	/* no trailing ';' (a prepared statement is one statement) */
	while (b.len > 0 && (b.data[b.len - 1] == ';' || isspace((unsigned char)b.data[b.len - 1])))
		b.data[--b.len] = 0;
	if (ignore)
		sb_puts(&b, " ON CONFLICT DO NOTHING");
	if (key) {
		sb_puts(&b, " RETURNING ");
		sb_puts(&b, key);
	}
	*nparams = maxp;
	*returns_key = key != NULL;
	return b.data;
}

/* ---- Prepared statements ------------------------------------------------------- */

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603u;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211u;
	}
	return h;
}

static void slot_clear(struct pg_stmt *sl)
{
	free(sl->sqlite_sql);
	memset(sl, 0, sizeof *sl);
}

/* The prepared statement for sql on db, prepared now if it is not yet. */
static int get_stmt(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		    struct pg_stmt **out)
{
	uint64_t h = fnv(sql);
	struct pg_stmt *sl = &db->slot[h % PG_STMT_SLOTS];
	if (sl->sqlite_sql && sl->hash == h && !strcmp(sl->sqlite_sql, sql)) {
		*out = sl;
		return 0;
	}
	if (sl->sqlite_sql) {
		char dealloc[48];
		snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", sl->name);
		PQclear(PQexec(db->c, dealloc));
		slot_clear(sl);
	}
	int np = 0;
	bool rk = false;
	char *pgsql = translate(sql, &np, &rk);
	if (np != (int)a.n) {
		free(pgsql);
		return aim_fail(AIM_ERR_INTERNAL, "%s: %zu arguments for %d parameters", what, a.n,
				np);
	}
	Oid types[64] = { 0 };
	ENSURE(a.n <= AIM_ARRAY_LEN(types), AIM_ERR_INTERNAL, "%s: too many parameters", what);
	for (size_t i = 0; i < a.n; i++)
		types[i] = a.v[i].kind == PG_INT ? 20 /* int8 */
			 : a.v[i].kind == PG_BLOB ? 17 /* bytea */
						   : 25; /* text */
	char name[16];
	snprintf(name, sizeof name, "s%u", db->next_name++);
	PGresult *res = PQprepare(db->c, name, pgsql, (int)a.n, types);
	int rc = 0;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = store_pg_fail(db, res, what, NULL);
	PQclear(res);
	if (rc != 0) {
		aim_log(AIM_LOG_DEBUG, "store", "pg prepare failed: %s", pgsql);
		free(pgsql);
		return rc;
	}
	free(pgsql);
	sl->hash = h;
	sl->sqlite_sql = aim_xstrdup(sql);
	snprintf(sl->name, sizeof sl->name, "%s", name);
	sl->nparams = np;
	sl->returns_key = rk;
	*out = sl;
	return 0;
}

/* Runs sql with a; *res the result (PQclear it) on success. */
static int run(struct pgc *db, const char *what, const char *sql, struct pg_args a,
	       PGresult **res, struct pg_stmt **stmt, int *ext)
{
	*res = NULL;
	if (ext)
		*ext = 0;
	if (db->broken)
		return aim_fail(AIM_ERR_STORAGE, "%s: the database connection failed", what);
	struct pg_stmt *sl = NULL;
	TRY(get_stmt(db, what, sql, a, &sl));
	const char *values[64];
	int lengths[64], formats[64];
	char nums[64][24];
	for (size_t i = 0; i < a.n; i++) {
		const struct pg_arg *v = &a.v[i];
		lengths[i] = 0;
		formats[i] = 0;
		switch (v->kind) {
		case PG_INT:
			snprintf(nums[i], sizeof nums[i], "%lld", (long long)v->i);
			values[i] = nums[i];
			break;
		case PG_TEXT:
			values[i] = v->s;
			break;
		case PG_BLOB:
			values[i] = v->p ? (const char *)v->p : "";
			lengths[i] = v->n;
			formats[i] = 1;
			break;
		default:
			return aim_fail(AIM_ERR_INTERNAL, "%s: bad argument", what);
		}
	}
	PGresult *r = PQexecPrepared(db->c, sl->name, (int)a.n, values, lengths, formats, 0);
	ExecStatusType t = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
		int rc = store_pg_fail(db, r, what, ext);
		PQclear(r);
		return rc;
	}
	*res = r;
	*stmt = sl;
	return 0;
}

int store_pg_exec(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		  struct pg_done *done)
{
	struct pg_done d = { 0 };
	PGresult *res;
	struct pg_stmt *sl = NULL;
	int rc = run(db, what, sql, a, &res, &sl, &d.ext);
	if (rc == 0) {
		const char *n = PQcmdTuples(res);
		d.changes = n && *n ? atoi(n) : 0;
		if (sl->returns_key && PQntuples(res) > 0)
			d.rowid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	if (done)
		*done = d;
	return rc;
}

/* ---- Rows ------------------------------------------------------------------------- */

static void row_reset(struct pg_row *q)
{
	for (int i = 0; i < PG_ROW_COLS; i++) {
		if (q->decoded[i])
			free(q->blob[i]);
		q->blob[i] = NULL;
		q->blen[i] = 0;
		q->decoded[i] = false;
	}
}

bool store_pg_col_isnull(struct pg_row *q, int i)
{
	return i >= PQnfields(q->r) || PQgetisnull(q->r, q->row, i);
}

int64_t store_pg_col_int(struct pg_row *q, int i)
{
	if (pg_col_isnull(q, i))
		return 0;
	const char *v = PQgetvalue(q->r, q->row, i);
	if (!strcmp(v, "t"))
		return 1;
	if (!strcmp(v, "f"))
		return 0;
	return strtoll(v, NULL, 10);
}

const unsigned char *store_pg_col_text(struct pg_row *q, int i)
{
	if (pg_col_isnull(q, i))
		return NULL;
	return (const unsigned char *)PQgetvalue(q->r, q->row, i);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes column i: bytea in hex output ("\x..."), anything else as its text. */
static void decode(struct pg_row *q, int i)
{
	if (i < 0 || i >= PG_ROW_COLS || q->decoded[i])
		return;
	q->decoded[i] = true;
	if (pg_col_isnull(q, i))
		return;
	const char *v = PQgetvalue(q->r, q->row, i);
	size_t n = (size_t)PQgetlength(q->r, q->row, i);
	if (PQftype(q->r, i) == 17 && n >= 2 && v[0] == '\\' && v[1] == 'x') {
		size_t len = (n - 2) / 2;
		uint8_t *out = aim_xmalloc(len ? len : 1);
		for (size_t k = 0; k < len; k++)
			out[k] = (uint8_t)(hexval(v[2 + 2 * k]) << 4 | hexval(v[3 + 2 * k]));
		q->blob[i] = out;
		q->blen[i] = len;
		return;
	}
	q->blob[i] = aim_xmalloc(n ? n : 1);
	memcpy(q->blob[i], v, n);
	q->blen[i] = n;
}

const void *store_pg_col_blob(struct pg_row *q, int i)
{
	decode(q, i);
	return i < PG_ROW_COLS ? q->blob[i] : NULL;
}

int store_pg_col_bytes(struct pg_row *q, int i)
{
	if (i >= PG_ROW_COLS)
		return 0;
	if (PQftype(q->r, i) != 17) {
		/* text: its length, as sqlite3_column_bytes */
		return pg_col_isnull(q, i) ? 0 : PQgetlength(q->r, q->row, i);
	}
	decode(q, i);
	return (int)q->blen[i];
}

/* Calls fn for rows [0, max) of res (max 0: all); *n = rows seen. */
static int each_row(PGresult *res, pg_row_fn fn, void *ctx, int max, int *n)
{
	int rows = PQntuples(res);
	if (max > 0 && rows > max)
		rows = max;
	*n = rows;
	struct pg_row q = { .r = res };
	int rc = 0;
	for (int i = 0; i < rows && fn && rc == 0; i++) {
		q.row = i;
		rc = fn(ctx, &q);
		row_reset(&q);
	}
	return rc;
}

int store_pg_rows(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		  pg_row_fn fn, void *ctx)
{
	PGresult *res;
	struct pg_stmt *sl = NULL;
	TRY(run(db, what, sql, a, &res, &sl, NULL));
	int n;
	int rc = each_row(res, fn, ctx, 0, &n);
	PQclear(res);
	return rc;
}

int store_pg_row(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		 pg_row_fn fn, void *ctx, bool *found)
{
	PGresult *res;
	struct pg_stmt *sl = NULL;
	TRY(run(db, what, sql, a, &res, &sl, NULL));
	int n;
	int rc = each_row(res, fn, ctx, 1, &n);
	PQclear(res);
	if (rc != 0)
		return rc;
	if (found)
		*found = n > 0;
	else if (n == 0)
		return aim_fail(AIM_ERR_NOTFOUND, "no such row");
	return 0;
}

static int int_row(void *ctx, struct pg_row *q)
{
	*(int64_t *)ctx = pg_col_int(q, 0);
	return 0;
}

int store_pg_int(struct pgc *db, const char *what, const char *sql, struct pg_args a,
		 int64_t *out, bool *found)
{
	return store_pg_row(db, what, sql, a, int_row, out, found);
}

/* ---- The pool ------------------------------------------------------------------------ */

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void conn_close(struct pgc *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < PG_STMT_SLOTS; i++)
		slot_clear(&db->slot[i]);
	if (db->c)
		PQfinish(db->c);
	free(db);
}

static int conn_open(struct pg *s, struct pgc **out)
{
	struct pgc *db = aim_xcalloc(1, sizeof *db);
	db->c = PQconnectdb(s->conninfo);
	if (!db->c || PQstatus(db->c) != CONNECTION_OK) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s", db->c ? PQerrorMessage(db->c) : "out of memory");
		size_t l = strlen(msg);
		while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
			msg[--l] = 0;
		conn_close(db);
		return aim_fail(AIM_ERR_STORAGE, "cannot connect to PostgreSQL: %s", msg);
	}
	PQsetNoticeProcessor(db->c, quiet, NULL);
	if (store_pg_script(db,
			    "SET synchronous_commit = on; SET lock_timeout = '10s';"
			    " SET client_min_messages = warning;",
			    "session settings") != 0) {
		conn_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

struct pgc *store_pg_conn(struct pg *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->nidle == 0 && s->open >= s->max)
		pthread_cond_wait(&s->cond, &s->lock);
	if (s->nidle > 0) {
		struct pgc *db = s->idle[--s->nidle];
		pthread_mutex_unlock(&s->lock);
		return db;
	}
	int64_t now = aim_now_ms();
	if (now < s->retry_at_ms) {
		pthread_mutex_unlock(&s->lock);
		aim_fail(AIM_ERR_STORAGE, "PostgreSQL is unreachable (retrying in %lld ms)",
			 (long long)(s->retry_at_ms - now));
		return NULL;
	}
	s->open++;
	pthread_mutex_unlock(&s->lock);
	struct pgc *db = NULL;
	int rc = conn_open(s, &db);
	pthread_mutex_lock(&s->lock);
	if (rc != 0) {
		s->open--;
		s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 100;
		if (s->backoff_ms > 5000)
			s->backoff_ms = 5000;
		s->retry_at_ms = aim_now_ms() + s->backoff_ms;
		pthread_cond_signal(&s->cond);
		db = NULL;
	} else {
		s->backoff_ms = 0;
		s->retry_at_ms = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc != 0)
		aim_log(AIM_LOG_WARN, "store", "%s", aim_errmsg());
	return db;
}

void store_pg_conn_put(struct pg *s, struct pgc *db)
{
	if (!db)
		return;
	bool drop = db->broken || PQstatus(db->c) != CONNECTION_OK ||
		    PQtransactionStatus(db->c) != PQTRANS_IDLE;
	pthread_mutex_lock(&s->lock);
	if (drop || s->nidle >= STORE_PG_POOL_MAX) {
		s->open--;
	} else {
		s->idle[s->nidle++] = db;
		db = NULL;
	}
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (db) {
		aim_log(AIM_LOG_WARN, "store", "a PostgreSQL connection failed; it is replaced");
		conn_close(db);
	}
}

void store_pg_pool_close(struct pg *s)
{
	for (size_t i = 0; i < s->nidle; i++)
		conn_close(s->idle[i]);
	s->nidle = 0;
}

/* ---- Reads ------------------------------------------------------------------------ */

/* Runs one statement on a pooled connection and hands back its result: a
 * connection found dead before anything ran is replaced once. */
static int read_result(struct store *st, const char *what, const char *sql, struct pg_args a,
		       PGresult **res)
{
	for (int attempt = 0;; attempt++) {
		struct pgc *db = store_pg_conn(PG(st));
		if (!db)
			return -1;
		struct pg_stmt *sl = NULL;
		int rc = run(db, what, sql, a, res, &sl, NULL);
		bool broken = db->broken;
		store_pg_conn_put(PG(st), db);
		if (rc == 0 || !broken || attempt > 0)
			return rc;
	}
}

int store_pg_read_rows(struct store *st, const char *what, const char *sql, struct pg_args a,
		       pg_row_fn fn, void *ctx)
{
	PGresult *res;
	TRY(read_result(st, what, sql, a, &res));
	int n;
	int rc = each_row(res, fn, ctx, 0, &n);
	PQclear(res);
	return rc;
}

int store_pg_read_row(struct store *st, const char *what, const char *sql, struct pg_args a,
		      pg_row_fn fn, void *ctx, bool *found)
{
	PGresult *res;
	TRY(read_result(st, what, sql, a, &res));
	int n;
	int rc = each_row(res, fn, ctx, 1, &n);
	PQclear(res);
	if (rc != 0)
		return rc;
	if (found)
		*found = n > 0;
	else if (n == 0)
		return aim_fail(AIM_ERR_NOTFOUND, "no such row");
	return 0;
}

int store_pg_read_int(struct store *st, const char *what, const char *sql, struct pg_args a,
		      int64_t *out, bool *found)
{
	return store_pg_read_row(st, what, sql, a, int_row, out, found);
}

/* ---- Writes and transactions ------------------------------------------------------ */

int store_pg_write(struct store *st, const char *what, const char *sql, struct pg_args a,
		   struct pg_done *done)
{
	struct pgc *db = store_pg_conn(PG(st));
	if (!db) {
		if (done)
			memset(done, 0, sizeof *done);
		return -1;
	}
	int rc = store_pg_exec(db, what, sql, a, done);
	store_pg_conn_put(PG(st), db);
	return rc;
}

int store_pg_write_int(struct store *st, const char *what, const char *sql, struct pg_args a,
		       int64_t *out, bool *found)
{
	struct pgc *db = store_pg_conn(PG(st));
	if (!db)
		return -1;
	int rc = store_pg_int(db, what, sql, a, out, found);
	store_pg_conn_put(PG(st), db);
	return rc;
}

static int tx(struct store *st, int (*fn)(struct pgc *db, void *ctx), void *ctx, bool locked)
{
	struct pg *s = PG(st);
	char begin[96];
	if (locked)
		snprintf(begin, sizeof begin, "BEGIN; SELECT pg_advisory_xact_lock(%lld);",
			 (long long)s->lock_key);
	else
		snprintf(begin, sizeof begin, "BEGIN;");
	for (int attempt = 0;; attempt++) {
		struct pgc *db = store_pg_conn(s);
		if (!db)
			return -1;
		int rc = store_pg_script(db, begin, "begin");
		if (rc != 0) {
			/* nothing ran: a dead connection is replaced once */
			bool again = db->broken && attempt == 0;
			store_pg_conn_put(s, db);
			if (again)
				continue;
			return rc;
		}
		rc = fn(db, ctx);
		if (rc == 0) {
			PGresult *res = PQexec(db->c, "COMMIT;");
			if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
				rc = store_pg_fail(db, res, "commit", NULL);
			else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
				rc = aim_fail(AIM_ERR_INTERNAL, "commit: the transaction had failed");
			PQclear(res);
		}
		if (rc != 0) {
			enum aim_err code = aim_errcode();
			char msg[256];
			snprintf(msg, sizeof msg, "%s", aim_errmsg());
			if (!db->broken)
				PQclear(PQexec(db->c, "ROLLBACK;"));
			aim_fail(code, "%s", msg);
		}
		store_pg_conn_put(s, db);
		return rc;
	}
}

int store_pg_write_tx(struct store *st, int (*fn)(struct pgc *db, void *ctx), void *ctx)
{
	return tx(st, fn, ctx, true);
}

int store_pg_write_tx_free(struct store *st, int (*fn)(struct pgc *db, void *ctx), void *ctx)
{
	return tx(st, fn, ctx, false);
}
