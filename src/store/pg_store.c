/*
 * The PostgreSQL back end of the store: opening, closing and the ops
 * table (pg_int.h tells how the files share the work, and how store.h's
 * contract is kept across processes).
 *
 * The location is a libpq connection URI, postgresql://USER@HOST:PORT/DB,
 * optionally with "pool_size=N" among its query parameters (how many
 * connections this process opens at most; default STORE_PG_POOL_DEFAULT,
 * or the environment's AIM_PG_POOL). Opening connects once, runs the
 * pending migrations and keeps that connection in the pool.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

void store_pg_pool_close(struct pg *s);
static const struct store_ops pg_ops;

static void pg_close(struct store *st)
{
	struct pg *s = PG(st);
	store_pg_pool_close(s);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->conninfo);
	free(s);
	free(st);
}

/* Removes "pool_size=N" from the URI's query (libpq would refuse it). */
static char *strip_pool(const char *location, size_t *pool)
{
	char *c = aim_xstrdup(location);
	char *q = strchr(c, '?');
	if (!q)
		return c;
	char *p = q + 1;
	while (*p) {
		char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (!strncmp(p, "pool_size=", 10)) {
			long n = strtol(p + 10, NULL, 10);
			if (n > 0)
				*pool = (size_t)n;
			memmove(p, amp ? amp + 1 : p + len, strlen(amp ? amp + 1 : p + len) + 1);
			continue;
		}
		p += len + (amp ? 1 : 0);
	}
	size_t l = strlen(c);
	while (l > 0 && (c[l - 1] == '?' || c[l - 1] == '&'))
		c[--l] = 0;
	return c;
}

int store_open_postgres(const char *location, struct store **out)
{
	return store_open_postgres_ex(location, 0, out);
}

/* ---- Operations: migrations, integrity ------------------------------------ */

static int pg_schema_latest(struct store *st, int *version)
{
	(void)st;
	*version = store_sqlite_latest_version();
	return 0;
}

static int pg_migrate(struct store *st, store_migrated_fn fn, void *ctx)
{
	struct pgc *db = store_pg_conn(PG(st));
	if (!db)
		return -1;
	int rc = store_pg_migrate(db, fn, ctx);
	store_pg_conn_put(PG(st), db);
	return rc;
}

/* PostgreSQL checks its own pages (and their checksums, where the cluster
 * has them) as it reads them; what is checked here is that the server
 * answers and that every table of the schema is there and readable. */
static int pg_integrity_check(struct store *st, char **problem)
{
	*problem = NULL;
	int64_t missing = 0;
	TRY(store_pg_read_int(st, "integrity check",
			      "SELECT COUNT(*) FROM (VALUES ('meta'), ('users'), ('tokens'),"
			      " ('activities'), ('objects'), ('audience'), ('inbox'), ('outgoing'),"
			      " ('deliveries'), ('delivery_hosts'), ('followers'), ('following'),"
			      " ('blocks'), ('versioned'), ('ca_certs'), ('devices'), ('keypackages'),"
			      " ('channels'), ('channel_members'), ('channel_outbox'),"
			      " ('channel_joined'), ('channel_recv'), ('channel_held')) t(name)"
			      " WHERE to_regclass(quote_ident(t.name)) IS NULL;",
			      NOARGS, &missing, NULL));
	if (missing > 0) {
		char msg[96];
		snprintf(msg, sizeof msg, "%lld tables of the schema are missing", (long long)missing);
		*problem = aim_xstrdup(msg);
	}
	return 0;
}

static int state_row(void *ctx, struct pg_row *q)
{
	struct store_stats *o = ctx;
	int64_t state = pg_col_int(q, 0);
	if (state >= 0 && state < (int64_t)AIM_ARRAY_LEN(o->deliveries))
		o->deliveries[state] = pg_col_int(q, 1);
	return 0;
}

static int kp_row(void *ctx, struct pg_row *q)
{
	struct store_stats *o = ctx;
	o->keypackages_available = pg_col_int(q, 0);
	o->keypackages_last_resort = pg_col_int(q, 1);
	return 0;
}

/* One snapshot, so the counts agree with each other. */
static int pg_stats(struct store *st, int64_t now, struct store_stats *out)
{
	struct pgc *db = store_pg_conn(PG(st));
	if (!db)
		return -1;
	bool found = false;
	int rc = store_pg_script(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
				 "stats begin");
	if (rc == 0)
		rc = store_pg_rows(db, "stats deliveries",
				   "SELECT state, COUNT(*) FROM deliveries GROUP BY state;", NOARGS,
				   state_row, out);
	if (rc == 0)
		rc = store_pg_int(db, "stats oldest",
				  "SELECT COALESCE(MIN(created), 0) FROM deliveries WHERE state = 0;",
				  NOARGS, &out->oldest_pending_ms, &found);
	if (rc == 0)
		rc = store_pg_row(db, "stats keypackages",
				  "SELECT COALESCE(SUM(CASE WHEN last_resort = 0 AND consumed_at IS NULL"
				  " AND not_after > ?1 THEN 1 ELSE 0 END), 0),"
				  " COALESCE(SUM(CASE WHEN last_resort = 1 THEN 1 ELSE 0 END), 0)"
				  " FROM keypackages;",
				  ARGS(A_INT(now)), kp_row, out, &found);
	PQclear(PQexec(db->c, "COMMIT;"));
	store_pg_conn_put(PG(st), db);
	return rc;
}

int store_open_postgres_ex(const char *location, unsigned flags, struct store **out)
{
	struct pg *s = aim_xcalloc(1, sizeof *s);
	struct store *st = aim_xcalloc(1, sizeof *st);
	st->ops = &pg_ops;
	st->impl = s;
	s->max = STORE_PG_POOL_DEFAULT;
	const char *env = getenv("AIM_PG_POOL");
	if (env && atoi(env) > 0)
		s->max = (size_t)atoi(env);
	s->conninfo = strip_pool(location, &s->max);
	if (s->max > STORE_PG_POOL_MAX)
		s->max = STORE_PG_POOL_MAX;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	struct pgc *db = store_pg_conn(s);
	if (!db)
		goto fail;
	int64_t key = 0;
	if ((!(flags & STORE_OPEN_NO_MIGRATE) && store_pg_migrate(db, NULL, NULL) != 0) ||
	    store_pg_int(db, "lock key",
			 "SELECT hashtext(current_database() || '/' || current_schema());", NOARGS,
			 &key, NULL) != 0) {
		store_pg_conn_put(s, db);
		goto fail;
	}
	s->lock_key = key;
	store_pg_conn_put(s, db);
	*out = st;
	return 0;
fail:
	pg_close(st);
	return -1;
}

static const struct store_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	/* pg_schema.c */
	.meta_get = store_pg_meta_get,
	.meta_set = store_pg_meta_set,
	.schema_version = store_pg_schema_version,
	/* pg_state.c */
	.state_get = store_pg_state_get,
	.state_cas = store_pg_state_cas,
	/* pg_users.c */
	.user_add = store_pg_user_add,
	.user_get = store_pg_user_get,
	.user_get_id = store_pg_user_get_id,
	.user_count = store_pg_user_count,
	.user_private_keys = store_pg_user_private_keys,
	.token_add = store_pg_token_add,
	.token_find = store_pg_token_find,
	.manual_approval_get = store_pg_manual_approval_get,
	.manual_approval_set = store_pg_manual_approval_set,
	.user_list = store_pg_user_list,
	.user_gone = store_pg_user_gone,
	.token_list = store_pg_token_list,
	.token_revoke = store_pg_token_revoke,
	.user_delete = store_pg_user_delete,
	/* pg_activities.c */
	.activity_add = store_pg_activity_add,
	.activity_get = store_pg_activity_get,
	.object_get = store_pg_object_get,
	.outbox_page = store_pg_outbox_page,
	.outbox_count = store_pg_outbox_count,
	.inbox_page = store_pg_inbox_page,
	.inbox_count = store_pg_inbox_count,
	.activity_lookup = store_pg_activity_lookup,
	.followers_page = store_pg_followers_page,
	.following_page = store_pg_following_page,
	.following_count = store_pg_following_count,
	/* pg_keypackages.c */
	.keypackage_page = store_pg_keypackage_page,
	.keypackage_count = store_pg_keypackage_count,
	.keypackage_add = store_pg_keypackage_add,
	.keypackage_stock = store_pg_keypackage_stock,
	.keypackage_claim = store_pg_keypackage_claim,
	.keypackage_withdraw_device = store_pg_keypackage_withdraw_device,
	.claims_policy_get = store_pg_claims_policy_get,
	.claims_policy_set = store_pg_claims_policy_set,
	.channel_apply = store_pg_channel_apply,
	.channel_get = store_pg_channel_get,
	.channel_members = store_pg_channel_members,
	.channel_outbox_page = store_pg_channel_outbox_page,
	.channel_join = store_pg_channel_join,
	.channel_joined = store_pg_channel_joined,
	.channel_last_seq = store_pg_channel_last_seq,
	.channel_moved = store_pg_channel_moved,
	.channel_receive = store_pg_channel_receive,
	/* pg_deliveries.c */
	.delivery_enqueue = store_pg_delivery_enqueue,
	.delivery_claim = store_pg_delivery_claim,
	.delivery_claim_batch = store_pg_delivery_claim_batch,
	.delivery_renew = store_pg_delivery_renew,
	.delivery_release = store_pg_delivery_release,
	.delivery_earliest = store_pg_delivery_earliest,
	.delivery_finish = store_pg_delivery_finish,
	.delivery_resolve = store_pg_delivery_resolve,
	.delivery_defer_host = store_pg_delivery_defer_host,
	.delivery_expire_overdue = store_pg_delivery_expire_overdue,
	.host_failure = store_pg_host_failure,
	.delivery_list = store_pg_delivery_list,
	.host_scheme_get = store_pg_host_scheme_get,
	.host_scheme_set = store_pg_host_scheme_set,
	/* pg_inbound.c */
	.inbound_commit = store_pg_inbound_commit,
	.inbound_commit_batch = store_pg_inbound_commit_batch,
	.followers_list = store_pg_followers_list,
	.followers_count = store_pg_followers_count,
	.following_state = store_pg_following_state,
	.blocked = store_pg_blocked,
	.following_users = store_pg_following_users,
	/* pg_identity.c */
	.ca_cert_add = store_pg_ca_cert_add,
	.ca_cert_list = store_pg_ca_cert_list,
	.device_put = store_pg_device_put,
	.device_get = store_pg_device_get,
	.device_by_key = store_pg_device_by_key,
	.device_list = store_pg_device_list,
	.device_revoke = store_pg_device_revoke,
	/* operations */
	.schema_latest = pg_schema_latest,
	.migrate = pg_migrate,
	.integrity_check = pg_integrity_check,
	.stats = pg_stats,
	/* pg_export.c */
	.export_rows = store_pg_export_rows,
	.import_rows = store_pg_import_rows,
	/* pg_events.c */
	.events_listen = store_pg_events_listen,
	.events_unlisten = store_pg_events_unlisten,
};
