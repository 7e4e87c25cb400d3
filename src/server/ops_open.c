/*
 * Operations: opening a data directory's store, and naming it in messages.
 * A file of its own, calling only store_shared.c (where the store is) and
 * the store: app.c, ca.c and every command open through it, and no loop
 * runs back (check-file-loops).
 */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *aimd_store_display(const char *dir)
{
	char *loc = aimd_store_location(dir);
	const char *rest = strstr(loc, "://");
	if (!rest)
		return loc; /* DIR/aim.db */
	/* scheme://[user[:password]@]host[:port][/db][?params]: no password,
	 * no parameters (they may hold one) */
	rest += 3;
	size_t auth = strcspn(rest, "/?");
	const char *at = memchr(rest, '@', auth);
	const char *colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
	size_t user = at ? (size_t)((colon ? colon : at) - rest) : 0;
	const char *host = at ? at + 1 : rest;
	char *out = aim_xasprintf("%.*s%.*s%s%.*s", (int)(rest - loc), loc, (int)user, rest,
				  at ? "@" : "", (int)strcspn(host, "?"), host);
	free(loc);
	return out;
}

/* (internal.h) A failure names the store without its password. */
int aimd_open_data(const char *dir, unsigned flags, struct store **st)
{
	if (!aimd_data_initialised(dir))
		return aim_fail(AIM_ERR_NOTFOUND, "%s is not an initialised data directory "
				"(run aimd init)", dir);
	char *path = aimd_store_location(dir); /* DIR/aim.db, or DIR/store's URI */
	int rc = store_open_ex(path, flags, st);
	if (rc != 0) {
		enum aim_err code = aim_errcode();
		char msg[512];
		snprintf(msg, sizeof msg, "%s", aim_errmsg());
		char *name = aimd_store_display(dir); /* no password in a message */
		aim_fail(code, "%s: %s", name, msg);
		free(name);
	}
	free(path);
	return rc;
}
