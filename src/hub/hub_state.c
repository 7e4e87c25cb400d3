/*
 * The hub state's own encoding (hub.h, "Persistence"), big-endian:
 *
 *   u8   version (1)
 *   u8   membership policy        u32 message_epochs   u8 flags (1: fixed members)
 *   u64  next sequence number
 *   str  owner
 *   u32  n admins,  str each
 *   u32  n members, (str actor, str acct) each
 *   u32  n pending, (u32 leaf, u8 ref_len, ref) each
 *   u32  length, public group (mls_public_group_encode)
 *
 * where str is u32 length then the bytes (no NUL). Nothing may follow.
 */
#include "hub/hub_int.h"

#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1

static int put_u32(struct aim_buf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return aim_buf_append(w, b, 4);
}

static int put_u64(struct aim_buf *w, uint64_t v)
{
	TRY(put_u32(w, (uint32_t)(v >> 32)));
	return put_u32(w, (uint32_t)v);
}

static int put_str(struct aim_buf *w, const char *s)
{
	size_t n = strlen(s);
	TRY(put_u32(w, (uint32_t)n));
	return aim_buf_append(w, s, n);
}

int hub_group_encode(const struct hub_group *g, struct aim_buf *w)
{
	TRY(aim_buf_append_byte(w, STATE_VERSION));
	TRY(aim_buf_append_byte(w, (uint8_t)g->policy.membership));
	TRY(put_u32(w, g->policy.message_epochs));
	TRY(aim_buf_append_byte(w, g->policy.fixed_members ? 1 : 0));
	TRY(put_u64(w, g->next_seq));
	TRY(put_str(w, g->owner));
	TRY(put_u32(w, (uint32_t)g->n_admins));
	for (size_t i = 0; i < g->n_admins; i++)
		TRY(put_str(w, g->admins[i]));
	TRY(put_u32(w, (uint32_t)g->n_members));
	for (size_t i = 0; i < g->n_members; i++) {
		TRY(put_str(w, g->members[i].actor));
		TRY(put_str(w, g->members[i].acct));
	}
	TRY(put_u32(w, (uint32_t)g->n_pending));
	for (size_t i = 0; i < g->n_pending; i++) {
		TRY(put_u32(w, g->pending[i].leaf));
		TRY(aim_buf_append_byte(w, (uint8_t)g->pending[i].ref_len));
		TRY(aim_buf_append(w, g->pending[i].ref, g->pending[i].ref_len));
	}
	struct aim_buf pg;
	aim_buf_init(&pg, MLS_MAX_PUBLIC_STATE);
	int rc = mls_public_group_encode(g->pg, &pg);
	if (rc == 0)
		rc = put_u32(w, (uint32_t)pg.len);
	if (rc == 0)
		rc = aim_buf_append(w, pg.data, pg.len);
	aim_buf_free(&pg);
	return rc;
}

/* ---- Parsing ------------------------------------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t len;
};

static int get(struct rd *r, void *out, size_t n)
{
	ENSURE(r->len >= n, AIM_ERR_DECODE, "hub state truncated");
	memcpy(out, r->p, n);
	r->p += n;
	r->len -= n;
	return 0;
}

static int get_u32(struct rd *r, uint32_t *v)
{
	uint8_t b[4];
	TRY(get(r, b, 4));
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int get_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;
	TRY(get_u32(r, &hi));
	TRY(get_u32(r, &lo));
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A string of 1..max printable bytes (owned copy). */
static int get_str(struct rd *r, size_t max, char **out)
{
	uint32_t n;
	TRY(get_u32(r, &n));
	ENSURE(n >= 1 && n <= max, AIM_ERR_DECODE, "hub state: string of %u bytes", n);
	ENSURE(r->len >= n, AIM_ERR_DECODE, "hub state truncated");
	char *s = aim_xstrndup((const char *)r->p, n);
	if (strlen(s) != n || !hub_grp_string_ok(s, max)) {
		free(s);
		return aim_fail(AIM_ERR_DECODE, "hub state: string with unprintable bytes");
	}
	r->p += n;
	r->len -= n;
	*out = s;
	return 0;
}

static int parse_into(struct rd *r, struct hub_group *g)
{
	uint8_t version = 0, membership = 0;
	TRY(get(r, &version, 1));
	ENSURE(version == STATE_VERSION, AIM_ERR_UNSUPPORTED, "hub state version %u", version);
	TRY(get(r, &membership, 1));
	g->policy.membership = (enum hub_membership)membership;
	TRY(get_u32(r, &g->policy.message_epochs));
	uint8_t flags = 0;
	TRY(get(r, &flags, 1));
	ENSURE(flags <= 1, AIM_ERR_DECODE, "hub state: flags 0x%02x", flags);
	g->policy.fixed_members = flags == 1;
	TRY(get_u64(r, &g->next_seq));
	ENSURE(g->next_seq >= 1, AIM_ERR_DECODE, "hub state: sequence number 0");
	TRY(get_str(r, HUB_MAX_URL, &g->owner));
	uint32_t n;
	TRY(get_u32(r, &n));
	ENSURE(n <= HUB_MAX_ADMINS, AIM_ERR_DECODE, "hub state: %u admins", n);
	g->admins = aim_xcalloc(n + 1, sizeof *g->admins);
	for (uint32_t i = 0; i < n; i++) {
		TRY(get_str(r, HUB_MAX_URL, &g->admins[i]));
		g->n_admins++;
	}
	TRY(get_u32(r, &n));
	ENSURE(n >= 1 && n <= HUB_MAX_MEMBERS && n <= r->len / 10, AIM_ERR_DECODE,
	       "hub state: %u members", n);
	g->members = aim_xcalloc(n, sizeof *g->members);
	for (uint32_t i = 0; i < n; i++) {
		char *actor, *acct;
		TRY(get_str(r, HUB_MAX_URL, &actor));
		if (get_str(r, HUB_MAX_ACCT, &acct) != 0) {
			free(actor);
			return -1;
		}
		g->members[i].actor = actor;
		g->members[i].acct = acct;
		g->n_members++;
	}
	TRY(get_u32(r, &n));
	ENSURE(n <= HUB_MAX_MEMBERS && n <= r->len / 5, AIM_ERR_DECODE,
	       "hub state: %u pending removals", n);
	g->pending = aim_xcalloc(n + 1, sizeof *g->pending);
	for (uint32_t i = 0; i < n; i++) {
		struct hub_pending *p = &g->pending[i];
		uint8_t rl = 0;
		TRY(get_u32(r, &p->leaf));
		TRY(get(r, &rl, 1));
		ENSURE(rl >= 1 && rl <= AIM_MAX_HASH, AIM_ERR_DECODE, "hub state: ref of %u bytes",
		       rl);
		TRY(get(r, p->ref, rl));
		p->ref_len = rl;
		g->n_pending++;
	}
	uint32_t pl;
	TRY(get_u32(r, &pl));
	ENSURE(pl == r->len, AIM_ERR_DECODE, "hub state: public group of %u bytes, %zu left", pl,
	       r->len);
	TRY(mls_public_group_parse(r->p, pl, NULL, 0, &g->pg));
	for (size_t i = 0; i < g->n_pending; i++)
		ENSURE(g->pending[i].ref_len == mls_public_group_suite(g->pg)->nh, AIM_ERR_DECODE,
		       "hub state: ref of %zu bytes", g->pending[i].ref_len);
	return hub_grp_check(g);
}

int hub_group_parse(struct aim_bytes b, struct hub_group **out)
{
	*out = NULL;
	ENSURE(b.len <= HUB_MAX_STATE, AIM_ERR_LIMIT, "hub state of %zu bytes", b.len);
	struct rd r = { b.p, b.len };
	struct hub_group *g = hub_grp_new();
	if (parse_into(&r, g) != 0) {
		hub_group_free(g);
		return -1;
	}
	*out = g;
	return 0;
}
