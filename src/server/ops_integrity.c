/*
 * Operations: the database integrity check (issue 16: a database with
 * overwritten pages started without a word and answered 500 on what it
 * could not read). It runs when aimd serve starts, before the database is
 * used (app.c; --skip-integrity-check skips it), and in aimd doctor; the
 * message names the file. A file of its own: app.c calls it, and it calls
 * nothing of the server (no loop between the files, check-file-loops).
 */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>

int aimd_integrity_check(const char *dir, struct store *st)
{
	char *problem = NULL;
	if (store_integrity_check(st, &problem) != 0) {
		enum aim_err code = aim_errcode();
		char msg[512];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		char *name = aimd_store_display(dir);
		int rc = aim_fail(code, "%s: the integrity check could not run: %s", name, msg);
		free(name);
		return rc;
	}
	if (!problem)
		return 0;
	char *name = aimd_store_display(dir);
	int rc = aim_fail(AIM_ERR_STORAGE,
			  "%s is damaged (integrity check: %s); restore it from a backup "
			  "(--skip-integrity-check starts anyway)",
			  name, problem);
	free(name);
	free(problem);
	return rc;
}
