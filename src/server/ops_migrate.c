/*
 * Operations: `aimd migrate` and the database integrity check.
 *
 * aimd serve applies pending migrations itself when it opens the store;
 * `aimd migrate` does it on its own, with the server stopped, and says
 * which: one line per migration applied ("applied migration N"), or that
 * the schema is up to date. A database whose schema is newer than this
 * aimd (a newer aimd ran on it) is never touched: this build cannot know
 * what the newer schema means.
 *
 * The integrity check is ops_integrity.c.
 */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct migrated {
	int from, n;
};

static void print_migrated(void *ctx, int version)
{
	struct migrated *m = ctx;
	m->n++;
	printf("applied migration %d (schema version %d -> %d)\n", version, version - 1, version);
	fflush(stdout);
}

int aimd_migrate(const char *data_dir)
{
	int lock_fd = -1, rc = 0;
	TRY(aimd_lock_data(data_dir, &lock_fd));
	struct store *st = NULL;
	char *name = NULL;
	TRY_GOTO(aimd_open_data(data_dir, STORE_OPEN_NO_MIGRATE, &st), out);
	name = aimd_store_display(data_dir);
	int latest = 0, current = 0;
	TRY_GOTO(store_schema_latest(st, &latest), out);
	/* A database before its first migration has no version table yet. */
	if (store_schema_version(st, &current) != 0)
		current = 0;
	ENSURE_GOTO(current <= latest, out, AIM_ERR_UNSUPPORTED,
		    "%s has schema version %d, newer than this aimd %s knows (%d): "
		    "run a newer aimd; nothing was changed",
		    name, current, AIMD_VERSION, latest);
	if (current == latest) {
		printf("%s: schema version %d is the latest; nothing to migrate\n", name, current);
		goto out;
	}
	struct migrated m = { current, 0 };
	if (store_migrate(st, print_migrated, &m) != 0) {
		enum aim_err code = aim_errcode();
		char msg[512];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		rc = aim_fail(code, "%s: %s (%d migration%s applied before)", name, msg, m.n,
			      m.n == 1 ? "" : "s");
		goto out;
	}
	printf("%s: migrated from schema version %d to %d (%d migration%s)\n", name, current,
	       latest, m.n, m.n == 1 ? "" : "s");
out:
	free(name);
	store_close(st);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}
