/*
 * aimd: a store several processes share (issue 15).
 *
 * Where a data directory's store is: DIR/store, when it exists, holds the
 * store's location (a postgresql:// URI: `aimd init --store`), else the
 * store is the SQLite file DIR/aim.db. Every other file of the data
 * directory (the CA's keys) stays in it; a second process of the same
 * domain gets a copy of the directory (its own lock file) and serves from
 * the shared database.
 *
 * Events between the processes: when the store has them (PostgreSQL), a
 * listener wakes this process's event streams when any process added inbox
 * rows, and its delivery workers when any process enqueued deliveries
 * (store.h, "Events between processes"). SQLite has none: one process
 * serves a data directory, and it wakes its own streams and workers.
 */
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/delivery.h"

char *aimd_store_location(const char *dir)
{
	char *file = aim_xasprintf("%s/%s", dir, AIMD_STORE_FILE);
	FILE *f = fopen(file, "r");
	free(file);
	if (!f)
		return aim_xasprintf("%s/%s", dir, AIMD_DB_FILE);
	char line[1024] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = 0;
	fclose(f);
	line[strcspn(line, "\r\n")] = 0;
	return aim_xstrdup(line);
}

bool aimd_data_initialised(const char *dir)
{
	struct stat sb;
	char *a = aim_xasprintf("%s/%s", dir, AIMD_STORE_FILE);
	char *b = aim_xasprintf("%s/%s", dir, AIMD_DB_FILE);
	bool yes = stat(a, &sb) == 0 || stat(b, &sb) == 0;
	free(a);
	free(b);
	return yes;
}

int aimd_store_location_write(const char *dir, const char *location)
{
	ENSURE(aim_str_has_prefix(location, "postgresql://") ||
		       aim_str_has_prefix(location, "postgres://"),
	       AIM_ERR_INVALID, "--store takes a postgresql:// URI");
	ENSURE(!strchr(location, '\n'), AIM_ERR_INVALID, "bad --store");
	char *file = aim_xasprintf("%s/%s", dir, AIMD_STORE_FILE);
	/* 0600: the URI may carry a password */
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = aim_fail(errno == EEXIST ? AIM_ERR_EXISTS : AIM_ERR_STORAGE,
				  "cannot create %s: %s", file, strerror(errno));
		free(file);
		return rc;
	}
	size_t n = strlen(location);
	bool ok = write(fd, location, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
		  fsync(fd) == 0;
	close(fd);
	if (!ok) {
		unlink(file);
		int rc = aim_fail(AIM_ERR_STORAGE, "cannot write %s", file);
		free(file);
		return rc;
	}
	free(file);
	return 0;
}

static void on_event(void *ctx, enum store_event ev)
{
	struct app *a = ctx;
	if (ev == STORE_EVENT_INBOX)
		aimd_sse_wake_notify(&a->wake);
	else if (ev == STORE_EVENT_DELIVERY)
		aimd_delivery_kick(a->dlv);
}

void aimd_events_start(struct app *a)
{
	if (a->events)
		return;
	if (store_events_listen(a->st, on_event, a, &a->events) != 0) {
		a->events = NULL;
		if (aim_errcode() != AIM_ERR_UNSUPPORTED)
			aim_log(AIM_LOG_WARN, "aimd", "no events from other processes: %s",
				aim_errmsg());
	}
}

void aimd_events_stop(struct app *a)
{
	store_events_unlisten(a->st, a->events);
	a->events = NULL;
}
