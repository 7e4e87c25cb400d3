/*
 * What the files of the aim command share (main.c: options, the home, the
 * identity commands, dispatch; channels.c: conversations).
 */
#ifndef AIM_TOOL_AIM_H
#define AIM_TOOL_AIM_H

#include <signal.h>
#include <stdbool.h>

#include <jansson.h>

#include "base/base.h"
#include "client/client.h"

#define MAX_LIST 300

/* ---- Options ------------------------------------------------------------------ */

struct opts {
	const char *home;
	bool json, help;
	const char *ca_file;
	const char *connect_to[32];
	size_t n_connect_to;
	/* command options */
	const char *user, *token, *device, *to;
	long keys, threshold, target, interval_ms, count;
	bool claim, raw, remove, poll, stdin_lines;
	/* positional arguments */
	const char *pos[MAX_LIST + 2];
	size_t n_pos;
};

extern struct client *cl;           /* the device, once open_device() succeeded */
extern volatile sig_atomic_t stop;  /* SIGINT / SIGTERM seen */

/* Opens the device of o->home (store and HTTP). */
int open_device(const struct opts *o);
/* The library's last error as one line on stderr; returns 1. */
int failed(const char *what);
/* A usage error as one line on stderr; returns 2. */
int usage_error(const char *fmt, ...) AIM_PRINTF(1, 2);
void one_line(const char *prefix, const char *msg);
/* Prints o as one compact line and frees it. */
void print_json(json_t *o);
/* RFC 3339 of t, "-" for 0. */
void when(int64_t t, char out[21]);

/* A conversation named on the command line (URL, number, unique end). */
int resolve(const char *arg, char *out, size_t len);

int cmd_channel(struct opts *o);
int cmd_members(struct opts *o);
int cmd_leave(struct opts *o);
int cmd_rotate(struct opts *o);
int cmd_join(struct opts *o);
/* Prints what client_join_conversations() did (stderr: as notices);
 * non-zero when a join failed. */
int report_joins(const struct opts *o, const struct client_join_result *r, size_t n,
		 bool to_stderr);
int cmd_invite(struct opts *o);
int cmd_remove(struct opts *o);
int cmd_send(struct opts *o);
int cmd_conversations(struct opts *o);
int cmd_history(struct opts *o);
int cmd_listen(struct opts *o);
int cmd_chat(struct opts *o);
int cmd_reply(struct opts *o);
int cmd_react(struct opts *o);
int cmd_edit(struct opts *o);
int cmd_delete(struct opts *o);

#endif
