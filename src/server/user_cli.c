/*
 * aimd user list | tokens | revoke | delete: the administration of local
 * users and their bearer tokens from the command line. Works while aimd
 * serve runs (the store is shared; every request looks the token and the
 * user up again, so a revoked token or a deleted user takes effect at once).
 *
 * A token is shown only once, when it is made. Afterwards it is named by
 * its id: the first AIMD_TOKEN_ID_LEN hex digits of its SHA-256, which is
 * all the store keeps (`printf %s TOKEN | sha256sum` tells which id a token
 * in hand has).
 */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int open_store(const char *dir, struct store **st)
{
	*st = NULL;
	ENSURE(dir && *dir, AIM_ERR_INVALID, "--data is required");
	return aimd_open_data(dir, 0, st); /* DIR/aim.db or DIR/store's database */
}

/* The live user NAME, or a clear reason: no such user / deleted. */
static int find_user(struct store *st, const char *name, struct store_user *u)
{
	ENSURE(aimd_valid_name(name), AIM_ERR_INVALID,
	       "bad user name %s (1-64 of a-z 0-9 _ . -, starting with a letter or digit)", name);
	if (store_user_get(st, name, u) == 0)
		return 0;
	if (aim_errcode() != AIM_ERR_NOTFOUND)
		return -1;
	bool gone = false;
	TRY(store_user_gone(st, name, &gone));
	if (gone)
		return aim_fail(AIM_ERR_GONE, "user %s was deleted", name);
	return aim_fail(AIM_ERR_NOTFOUND, "no such user %s", name);
}

static void token_id(const uint8_t hash[32], char out[AIMD_TOKEN_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < AIMD_TOKEN_ID_LEN / 2; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[AIMD_TOKEN_ID_LEN] = 0;
}

static int print_user(void *ctx, const struct store_user_info *u)
{
	(void)ctx;
	char created[21], deleted[21];
	aim_time_rfc3339(u->created, created);
	if (u->deleted) {
		aim_time_rfc3339(u->deleted, deleted);
		printf("%s\tdeleted %s\n", u->name, deleted);
	} else {
		printf("%s\ttokens %lld\tcreated %s%s\n", u->name, (long long)u->tokens, created,
		       u->manual_approval ? "\tmanual-approval" : "");
	}
	return 0;
}

int aimd_user_list(const char *data_dir)
{
	struct store *st;
	TRY(open_store(data_dir, &st));
	int rc = store_user_list(st, print_user, NULL);
	store_close(st);
	fflush(stdout);
	return rc;
}

static int print_token(void *ctx, const struct store_token_info *t)
{
	const char *name = ctx;
	char id[AIMD_TOKEN_ID_LEN + 1], created[21];
	token_id(t->hash, id);
	aim_time_rfc3339(t->created, created);
	printf("%s\t%s\tcreated %s\n", id, name, created);
	return 0;
}

int aimd_user_tokens(const char *data_dir, const char *name)
{
	struct store *st;
	TRY(open_store(data_dir, &st));
	int rc = 0;
	struct store_user u = { 0 };
	TRY_GOTO(find_user(st, name, &u), out);
	TRY_GOTO(store_token_list(st, u.id, print_token, (void *)name), out);
out:
	store_user_clear(&u);
	store_close(st);
	fflush(stdout);
	return rc;
}

struct match {
	const char *prefix;          /* lower-case hex, or NULL: every token */
	uint8_t hash[64][32];
	size_t n, total;
};

static int match_token(void *ctx, const struct store_token_info *t)
{
	struct match *m = ctx;
	char id[AIMD_TOKEN_ID_LEN + 1];
	token_id(t->hash, id);
	if (m->prefix && strncmp(id, m->prefix, strlen(m->prefix)) != 0)
		return 0;
	m->total++;
	if (m->n < AIM_ARRAY_LEN(m->hash))
		memcpy(m->hash[m->n++], t->hash, 32);
	return 0;
}

static bool valid_token_id(const char *s)
{
	size_t n = strlen(s);
	if (n < AIMD_TOKEN_ID_MIN || n > AIMD_TOKEN_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int aimd_user_revoke(const char *data_dir, const char *name, const char *id, size_t *revoked)
{
	*revoked = 0;
	bool all = !strcmp(id, "all");
	ENSURE(all || valid_token_id(id), AIM_ERR_INVALID,
	       "bad token id %s (%d to %d hex digits as aimd user tokens shows them, or all)", id,
	       AIMD_TOKEN_ID_MIN, AIMD_TOKEN_ID_LEN);
	struct store *st;
	TRY(open_store(data_dir, &st));
	int rc = 0;
	struct store_user u = { 0 };
	struct match *m = aim_xcalloc(1, sizeof *m);
	m->prefix = all ? NULL : id;
	TRY_GOTO(find_user(st, name, &u), out);
	for (;;) {
		m->n = m->total = 0;
		TRY_GOTO(store_token_list(st, u.id, match_token, m), out);
		if (!all) {
			ENSURE_GOTO(m->total > 0, out, AIM_ERR_NOTFOUND, "%s has no token %s", name, id);
			ENSURE_GOTO(m->total == 1, out, AIM_ERR_INVALID,
				    "%zu tokens of %s start with %s: give more digits", m->total, name,
				    id);
		}
		for (size_t i = 0; i < m->n; i++) {
			/* one revoked meanwhile by someone else is fine */
			if (store_token_revoke(st, m->hash[i]) != 0) {
				if (aim_errcode() != AIM_ERR_NOTFOUND) {
					rc = -1;
					goto out;
				}
				continue;
			}
			++*revoked;
		}
		if (!all || m->total <= m->n)
			break; /* done, or a batch is left: list again */
	}
out:
	free(m);
	store_user_clear(&u);
	store_close(st);
	return rc;
}

int aimd_user_delete(const char *data_dir, const char *name)
{
	struct store *st;
	TRY(open_store(data_dir, &st));
	int rc = 0;
	struct store_user u = { 0 };
	TRY_GOTO(find_user(st, name, &u), out);
	ENSURE_GOTO(strcmp(name, STORE_INSTANCE_NAME) != 0, out, AIM_ERR_INVALID,
		    "the instance actor is not a user");
	TRY_GOTO(store_user_delete(st, u.id), out);
out:
	store_user_clear(&u);
	store_close(st);
	return rc;
}
